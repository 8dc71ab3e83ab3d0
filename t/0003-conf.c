/*
 * 0003-conf: lib/conf.c against iaxkeyd's spec table (agi/config.c is
 * included, so the committed etc/iaxkeyd.conf is compared with the table
 * it is generated from).  Runs from the repository root.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "t/lib/tap.h"
#include "agi/config.c"
#include "keyserver/config.c"

#define SAMPLE		"etc/iaxkeyd.conf"
#define KS_SAMPLE	"etc/iaxkey-server.conf"
#define LOCAL		"etc/iaxkeyd.local.conf"
#define SECRET_MARK	"TOPSECRET"
#define MAX_TMP		128

static char	*tmp_paths[MAX_TMP];
static int	 tmp_count;
static char	*messages;	/* every error message, for the secret test */

static char	*tmp_write(const void *, size_t);
static char	*tmp_str(const char *);
static void	 tmp_clean(void);
static char	*file_read(const char *, size_t *);
static char	*show(const struct conf *);
static char	*sample(const struct conf_spec *, size_t *);
static char	*uncomment(const char *);
static void	 note(const char *);
static void	 fails(const char *, const char *, const char *);
static void	 fails_len(const char *, size_t, const char *, const char *);
static const struct conf_spec *spec_find(const char *);
static char	*choices(const struct conf_spec *);
static void	 test_defaults(void);
static void	 test_fixed_keys(void);
static void	 test_valid(void);
static void	 test_errors(void);
static void	 test_checks(void);
static void	 test_secrets(void);
static void	 test_addr(void);
static void	 test_sample(void);
static void	 test_sample_quoting(void);
static void	 test_local(void);
static void	 test_url_list(void);
static void	 test_fatal(void);

static const struct conf_spec quote_spec[] = {
	{ "s:semi", CONF_STR, .def = "a;b", .help = "Has a semicolon." },
	{ "s:edge", CONF_STR, .def = " x y " },
	{ "s:hash", CONF_PATH, .def = "#x" },
	{ "s:empty", CONF_STR, .def = "", .flags = CONF_EMPTY },
	{ "t:n", CONF_INT, .min = 0, .max = 9, .def = "7" },
	{ NULL }
};

/* Write data to a new temp file; the path stays valid until exit. */
static char *
tmp_write(const void *data, size_t len)
{
	char	*path = xstrdup("/tmp/iaxkeyd-t0003.XXXXXX");
	int	 fd;

	if ((fd = mkstemp(path)) == -1)
		bail("mkstemp failed");
	if (write(fd, data, len) != (ssize_t)len || close(fd) == -1)
		bail("cannot write %s", path);
	if (tmp_count == MAX_TMP)
		bail("too many temp files");
	tmp_paths[tmp_count++] = path;
	return (path);
}

/* Write a string to a new temp file. */
static char *
tmp_str(const char *s)
{
	return (tmp_write(s, strlen(s)));
}

/* Remove the temp files. */
static void
tmp_clean(void)
{
	int	i;

	for (i = 0; i < tmp_count; i++) {
		unlink(tmp_paths[i]);
		free(tmp_paths[i]);
	}
	tmp_count = 0;
}

/* Read a whole file, NUL-terminated; NULL when it cannot be read. */
static char *
file_read(const char *path, size_t *lenp)
{
	FILE	*f;
	char	*buf = NULL;
	size_t	 len = 0, n;
	char	 chunk[4096];

	if ((f = fopen(path, "r")) == NULL)
		return (NULL);
	while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
		buf = xrealloc(buf, len + n + 1);
		memcpy(buf + len, chunk, n);
		len += n;
	}
	fclose(f);
	if (buf == NULL)
		buf = xstrdup("");
	buf[len] = '\0';
	*lenp = len;
	return (buf);
}

/* conf_show output as a string; caller frees. */
static char *
show(const struct conf *c)
{
	char	*buf = NULL;
	size_t	 len = 0;
	FILE	*f;

	if ((f = open_memstream(&buf, &len)) == NULL)
		bail("open_memstream");
	conf_show(c, f);
	fclose(f);
	return (buf);
}

/* conf_sample output as a string; caller frees. */
static char *
sample(const struct conf_spec *spec, size_t *lenp)
{
	char	*buf = NULL;
	size_t	 len = 0;
	FILE	*f;

	if ((f = open_memstream(&buf, &len)) == NULL)
		bail("open_memstream");
	conf_sample(spec, f);
	fclose(f);
	*lenp = len;
	return (buf);
}

/* The sample with every ";key = value" line uncommented; caller frees. */
static char *
uncomment(const char *s)
{
	char		*out = xmalloc(strlen(s) + 1), *o = out;
	const char	*p;
	int		 bol = 1;

	for (p = s; *p != '\0'; p++) {
		if (bol && p[0] == ';' && p[1] >= 'a' && p[1] <= 'z')
			p++;
		bol = *p == '\n';
		*o++ = *p;
	}
	*o = '\0';
	return (out);
}

/* Remember an error message for the secret test. */
static void
note(const char *msg)
{
	char	*t;

	if (msg == NULL)
		return;
	xasprintf(&t, "%s%s\n", messages != NULL ? messages : "", msg);
	free(messages);
	messages = t;
}

/* A file of len bytes must be refused with "<path>: want". */
static void
fails_len(const char *text, size_t len, const char *want, const char *what)
{
	struct conf	*c;
	char		*path, *cause = NULL, *exp;

	path = tmp_write(text, len);
	c = conf_load(path, iaxkeyd_conf_spec, &cause);
	ok(c == NULL, "%s: refused", what);
	xasprintf(&exp, "%s: %s", path, want);
	is_str(cause, exp, "%s: message", what);
	note(cause);
	conf_free(c);
	free(cause);
	free(exp);
}

/* A file holding text must be refused with "<path>: want". */
static void
fails(const char *text, const char *want, const char *what)
{
	fails_len(text, strlen(text), want, what);
}

/* The spec entry of key, or NULL. */
static const struct conf_spec *
spec_find(const char *key)
{
	const struct conf_spec	*sp;

	for (sp = iaxkeyd_conf_spec; sp->key != NULL; sp++) {
		if (strcmp(sp->key, key) == 0)
			return (sp);
	}
	return (NULL);
}

/* The choices of an enum key as "a, b, c"; caller frees. */
static char *
choices(const struct conf_spec *sp)
{
	const char *const	*cp;
	char			*s = xstrdup(""), *t;

	for (cp = sp->choices; cp != NULL && *cp != NULL; cp++) {
		xasprintf(&t, "%s%s%s", s, *s != '\0' ? ", " : "", *cp);
		free(s);
		s = t;
	}
	return (s);
}

/* Defaults come from the table alone. */
static void
test_defaults(void)
{
	struct conf		*c;
	struct sockaddr_storage	 ss;
	struct sockaddr_in	*sin = (struct sockaddr_in *)&ss;
	socklen_t		 sslen = 0;
	char			*s;

	c = conf_defaults(iaxkeyd_conf_spec);
	ok(c != NULL, "defaults: built");
	ok(conf_file(c) == NULL, "defaults: no file");
	is_str(conf_str(c, "agi:listen"), "127.0.0.1:4573", "agi:listen");
	is_int(conf_int(c, "agi:max_sessions"), 4096, "agi:max_sessions");
	is_str(conf_str(c, "admin:listen"), "127.0.0.1:4574", "admin:listen");
	is_str(conf_str(c, "admin:password"), "", "admin:password empty");
	is_str(conf_str(c, "asterisk:config_dir"), "/etc/asterisk",
	    "asterisk:config_dir");
	is_str(conf_str(c, "asterisk:key_dir"), "/var/lib/asterisk/keys",
	    "asterisk:key_dir");
	is_int(conf_enum(c, "asterisk:reload"), CFG_RELOAD_AGI,
	    "asterisk:reload = agi");
	is_str(conf_str(c, "asterisk:reload"), "agi", "reload as string");
	is_int(conf_enum(c, "outbound:mode"), CFG_MODE_CONFIG, "mode config");
	is_str(conf_str(c, "outbound:peers_file"), "iaxkeyd-peers.conf",
	    "outbound:peers_file");
	is_str(conf_str(c, "inbound:users_file"), "iaxkeyd-users.conf",
	    "inbound:users_file");
	is_int(conf_enum(c, "inbound:inkeys"), CFG_INKEYS_SHARED,
	    "inkeys shared");
	is_int(conf_int(c, "inbound:wait_ms"), 2000, "inbound:wait_ms");
	is_int(conf_enum(c, "inbound:on_key_change"), CFG_KEY_CHANGE_ACCEPT,
	    "on_key_change accept");
	is_int(conf_int(c, "inbound:max_unknown"), 1000, "max_unknown 1000");
	is_int(conf_int(c, "inbound:unknown_fetches"), 30,
	    "unknown_fetches 30");
	is_int(conf_enum(c, "log:level"), LOG_L_INFO, "log:level info");
	ok(conf_bool(c, "log:syslog") == 1, "log:syslog yes");
	ok(conf_bool(c, "keyserver:allow_http") == 0, "allow_http no");
	is_int(conf_int(c, "agi:drain_timeout_ms"), 10000, "drain 10 s");
	ok(conf_addr(c, "agi:listen", &ss, &sslen) == 0, "agi:listen parses");
	ok(ss.ss_family == AF_INET && ntohs(sin->sin_port) == 4573 &&
	    sin->sin_addr.s_addr == htonl(INADDR_LOOPBACK) &&
	    sslen == sizeof *sin, "agi:listen is 127.0.0.1:4573");
	s = show(c);
	ok(strstr(s, "admin:password = (unset)\n") != NULL,
	    "show: unset secret");
	ok(strstr(s, "agi:listen = 127.0.0.1:4573\n") != NULL,
	    "show: agi:listen");
	ok(strstr(s, "\nkeyserver:url =\n") != NULL, "show: empty value");
	free(s);
	conf_free(c);
}

/* The names issue 2 fixes, and those added for the other issues. */
static void
test_fixed_keys(void)
{
	static const char *const keys[] = {
		"agi:listen", "agi:max_sessions", "agi:env_timeout_ms",
		"agi:command_timeout_ms", "agi:session_timeout_ms",
		"admin:listen", "admin:password", "asterisk:config_dir",
		"asterisk:key_dir", "asterisk:reload",
		"asterisk:reload_command", "asterisk:ami_host",
		"asterisk:ami_port", "asterisk:ami_user",
		"asterisk:ami_secret", "node:name", "outbound:mode",
		"outbound:rsa_user",
		"outbound:peers_file", "inbound:users_file", "inbound:inkeys",
		"inbound:user", "inbound:template", "inbound:key_prefix",
		"inbound:fallback_context", "inbound:wait_ms",
		"inbound:max_age", "inbound:negative_ttl", "keyserver:url",
		"keyserver:index_url", "keyserver:sync_interval",
		"keyserver:timeout_ms", "keyserver:ca_file", "log:file",
		"log:level", "log:syslog", "state:db",
		/* added */
		"agi:drain_timeout_ms", "admin:max_clients",
		"admin:idle_timeout_ms", "admin:auth_timeout_s",
		"admin:auth_max_clients", "admin:auth_delay_ms",
		"metrics:listen", "metrics:allow",
		"outbound:peer_ttl",
		"outbound:max_peers", "outbound:peer_options",
		"inbound:rsa_contexts", "inbound:md5_contexts",
		"inbound:min_refetch_s", "inbound:stale_refetch_s",
		"inbound:on_key_change",
		"keyserver:allow_http", "keyserver:max_fetches",
		"keyserver:max_body", "keyserver:api_key_header",
		"keyserver:upload_url", "keyserver:enroll_token",
		"keyserver:sync_remove", "keyserver:sync_jitter_s",
		"asterisk:reload_retries", "asterisk:reload_backoff_ms",
		"daemon:user", "daemon:group", "daemon:allow_root",
		"daemon:pid_file",
		"inbound:max_unknown", "inbound:unknown_ttl",
		"inbound:unknown_fetches", "node:rotate_grace", NULL
	};
	static const char *const secrets[] = {
		"admin:password", "asterisk:ami_secret",
		"keyserver:api_key_header", "keyserver:enroll_token", NULL
	};
	const struct conf_spec	*sp;
	const char *const	*kp;
	int			 missing = 0, n = 0;
	char			*list;

	for (kp = keys; *kp != NULL; kp++) {
		if (spec_find(*kp) == NULL) {
			diag("missing key %s", *kp);
			missing++;
		}
	}
	is_int(missing, 0, "every fixed and added key is in the table");
	for (kp = secrets; *kp != NULL; kp++) {
		sp = spec_find(*kp);
		ok(sp != NULL && (sp->flags & CONF_SECRET), "%s is secret",
		    *kp);
	}
	for (sp = iaxkeyd_conf_spec; sp->key != NULL; sp++)
		n++;
	for (kp = keys; *kp != NULL; kp++)
		n--;
	is_int(n, 0, "no key outside the list above");

	sp = spec_find("agi:max_sessions");
	ok(sp->min == 1 && sp->max == 100000, "max_sessions 1..100000");
	list = choices(spec_find("asterisk:reload"));
	is_str(list, "agi, ami, command, none", "reload choices");
	free(list);
	list = choices(spec_find("outbound:mode"));
	is_str(list, "config, dialstring", "mode choices");
	free(list);
	list = choices(spec_find("inbound:inkeys"));
	is_str(list, "shared, per-node", "inkeys choices");
	free(list);
	list = choices(spec_find("inbound:on_key_change"));
	is_str(list, "accept, reject", "on_key_change choices");
	free(list);
	list = choices(spec_find("log:level"));
	is_str(list, "debug, info, warn, error", "level choices");
	free(list);
	is_str(log_level_name(LOG_L_WARN), cfg_level_choices[LOG_L_WARN],
	    "level choices match log_level_name");
}

/* A valid file: values, canonical forms, defaults for the rest. */
static void
test_valid(void)
{
	struct conf		*c, *d;
	struct sockaddr_storage	 ss;
	struct sockaddr_in6	*sin6 = (struct sockaddr_in6 *)&ss;
	socklen_t		 sslen = 0;
	char			*path, *cause = NULL;

	path = tmp_str(
	    "; a comment\n"
	    "# another\n"
	    "\n"
	    "[AGI]\n"
	    "Listen = [0:0::1]:0   ; ephemeral\n"
	    "max_sessions = 0100\n"
	    "[admin]\n"
	    "listen =\n"
	    "password = \"pa;ss#word\"\n"
	    "[asterisk]\n"
	    "reload = AMI\n"
	    "ami_port = 5039\n"
	    "ami_user = iaxkeyd\n"
	    "[log]\n"
	    "syslog = Off\n"
	    "level = debug\n"
	    "[keyserver]\n"
	    "url = https://keys.example.net/v1/keys/{node}?x=1\n"
	    "sync_remove = 1\n"
	    "[outbound]\n"
	    "peer_options = requirecalltoken=yes allow=ulaw,alaw\n"
	    "rsa_user = {user}-rsa\n"
	    "[inbound]\n"
	    "inkeys = per-node\n"
	    "fallback_context = iaxkeyd-fallback,s,1\n"
	    "rsa_contexts = from-a-rsa,from-b-rsa\n"
	    "[node]\n"
	    "name = node\\\n"
	    "A\n");
	c = conf_load(path, iaxkeyd_conf_spec, &cause);
	ok(c != NULL, "valid file loads");
	if (c == NULL) {
		diag("cause: %s", cause);
		free(cause);
		return;
	}
	ok(cause == NULL, "no cause on success");
	is_str(conf_file(c), path, "conf_file");
	is_str(conf_str(c, "agi:listen"), "[::1]:0", "v6 address canonical");
	ok(conf_addr(c, "agi:listen", &ss, &sslen) == 0 &&
	    ss.ss_family == AF_INET6 && sin6->sin6_port == 0 &&
	    IN6_IS_ADDR_LOOPBACK(&sin6->sin6_addr) && sslen == sizeof *sin6,
	    "agi:listen is [::1]:0");
	is_int(conf_int(c, "agi:max_sessions"), 100, "leading zero decimal");
	is_str(conf_str(c, "agi:max_sessions"), "100", "int canonical");
	ok(conf_addr(c, "admin:listen", &ss, &sslen) == -1,
	    "empty admin:listen: no address");
	is_str(conf_str(c, "admin:password"), "pa;ss#word", "quoted value");
	is_int(conf_enum(c, "asterisk:reload"), CFG_RELOAD_AMI, "enum case");
	is_str(conf_str(c, "asterisk:reload"), "ami", "enum canonical");
	is_int(conf_int(c, "asterisk:ami_port"), 5039, "ami_port");
	ok(conf_bool(c, "log:syslog") == 0, "Off is false");
	is_str(conf_str(c, "log:syslog"), "no", "bool canonical");
	ok(conf_bool(c, "keyserver:sync_remove") == 1, "1 is true");
	is_int(conf_enum(c, "log:level"), LOG_L_DEBUG, "level debug");
	is_int(conf_enum(c, "inbound:inkeys"), CFG_INKEYS_PER_NODE,
	    "inkeys per-node");
	is_str(conf_str(c, "outbound:peer_options"),
	    "requirecalltoken=yes allow=ulaw,alaw", "peer_options");
	is_str(conf_str(c, "outbound:rsa_user"), "{user}-rsa", "rsa_user");
	is_str(conf_str(c, "node:name"), "nodeA", "continued line");
	is_int(conf_int(c, "inbound:wait_ms"), 2000, "unset: default");

	d = conf_defaults(iaxkeyd_conf_spec);
	ok(conf_changed(c, d, "agi:listen"), "changed: agi:listen");
	ok(conf_changed(c, d, "admin:password"), "changed: secret");
	ok(!conf_changed(c, d, "inbound:wait_ms"), "unchanged: wait_ms");
	ok(!conf_changed(c, c, "agi:listen"), "unchanged: same conf");
	conf_free(d);
	conf_free(c);

	path = tmp_str("[log]\nsyslog = yes\n"
	    "[agi]\nlisten = 127.0.0.1:04573\n");
	c = conf_load(path, iaxkeyd_conf_spec, &cause);
	d = conf_defaults(iaxkeyd_conf_spec);
	ok(c != NULL && !conf_changed(c, d, "agi:listen") &&
	    !conf_changed(c, d, "log:syslog"),
	    "same values in other spellings are unchanged");
	conf_free(c);
	conf_free(d);
	free(cause);
}

/* Every class of error, with the exact message. */
static void
test_errors(void)
{
	struct conf	*c;
	char		 big[1200], *huge, *cause = NULL, *exp;
	const char	*nofile = "/tmp/iaxkeyd-t0003-missing/none.conf";

	fails("[bogus]\nx = 1\n", "[bogus]: unknown section",
	    "unknown section");
	fails("[agi]\n[a:b]\n", "[a:b]: unknown section", "section with ':'");
	fails("[agi]\nlisten_port = 1\n", "agi:listen_port: unknown key",
	    "unknown key");
	fails("[agi]\nx\001y = 1\n", "agi:x?y: unknown key",
	    "unknown key shown printable");
	fails("x = 1\n[agi]\n", "x: key outside any section",
	    "key outside a section");
	fails("[agi]\nmax_sessions = 12abc\n",
	    "agi:max_sessions: not an integer: \"12abc\"", "bad integer");
	fails("[agi]\nmax_sessions = 0x10\n",
	    "agi:max_sessions: not an integer: \"0x10\"", "hex integer");
	fails("[agi]\nmax_sessions = 0\n",
	    "agi:max_sessions: out of range (1..100000): \"0\"", "too small");
	fails("[agi]\nmax_sessions = 100001\n",
	    "agi:max_sessions: out of range (1..100000): \"100001\"",
	    "too large");
	fails("[agi]\nmax_sessions = -99999999999999999999\n",
	    "agi:max_sessions: out of range (1..100000): "
	    "\"-99999999999999999999\"", "overflow");
	fails("[log]\nsyslog = maybe\n", "log:syslog: not a boolean "
	    "(yes/no, true/false, on/off, 1/0): \"maybe\"", "bad boolean");
	fails("[asterisk]\nreload = sometimes\n", "asterisk:reload: must be "
	    "one of agi, ami, command, none: \"sometimes\"", "bad enum");
	fails("[asterisk]\nreload = \377x\n", "asterisk:reload: must be "
	    "one of agi, ami, command, none: \"?x\"", "non-ASCII shown as ?");
	fails("[inbound]\ninkeys = pernode\n", "inbound:inkeys: must be one "
	    "of shared, per-node: \"pernode\"", "bad enum inkeys");
	fails("[agi]\nlisten = 127.0.0.1:65536\n", "agi:listen: port out of "
	    "range (0..65535): \"127.0.0.1:65536\"", "port 65536");
	fails("[agi]\nlisten = 127.0.0.1\n",
	    "agi:listen: missing port: \"127.0.0.1\"", "missing port");
	fails("[agi]\nlisten = 127.0.0.1:\n",
	    "agi:listen: missing port: \"127.0.0.1:\"", "empty port");
	fails("[agi]\nlisten = localhost:4573\n", "agi:listen: not a numeric "
	    "IPv4 address: \"localhost:4573\"", "host name");
	fails("[agi]\nlisten = ::1:4573\n", "agi:listen: IPv6 address needs "
	    "brackets ([v6]:port): \"::1:4573\"", "v6 without brackets");
	fails("[agi]\nlisten = [::1]\n", "agi:listen: missing port: "
	    "\"[::1]\"", "v6 missing port");
	fails("[agi]\nlisten = [::1:4573\n", "agi:listen: missing ']' after "
	    "IPv6 address: \"[::1:4573\"", "v6 missing ]");
	fails("[agi]\nlisten = 1.2.3.4:http\n", "agi:listen: port is not a "
	    "number: \"1.2.3.4:http\"", "port name");
	fails("[agi]\nlisten =\n", "agi:listen: empty value not allowed",
	    "empty value");
	fails("[node]\nname = a\rb\n", "node:name: control character in "
	    "value", "CR in a value");
	fails("[node]\nname = a\tb\n", "node:name: control character in "
	    "value", "tab in a value");
	fails("[log]\nfile = a\033[2Jb\n", "log:file: control character in "
	    "value", "escape in a value");
	fails("[node]\nname = ../etc\n", "node:name: name must start with a "
	    "letter or digit: \"../etc\"", "name with ..");
	fails("[node]\nname = a/b\n", "node:name: name may only hold "
	    "letters, digits, '.', '_' and '-': \"a/b\"", "name with /");
	memset(big, 'n', 65);
	big[65] = '\0';
	xasprintf(&exp, "[node]\nname = %s\n", big);
	xasprintf(&huge, "node:name: name longer than 64 characters: "
	    "\"%.64s...\"", big);
	fails(exp, huge, "name of 65 characters");
	free(exp);
	free(huge);
	fails("[keyserver]\nurl = ftp://keys/{node}\n", "keyserver:url: URL 1: "
	    "not an http:// or https:// URL", "ftp URL");
	fails("[keyserver]\nurl = https:///{node}\n", "keyserver:url: URL 1: "
	    "URL without a host", "URL without host");
	fails("[keyserver]\nindex_url = https://a<b/\n", "keyserver:index_url: "
	    "URL 1: URL with a space or a character that needs %-encoding",
	    "URL with a character to encode");
	fails("[keyserver]\nindex_url = https://a/ b/\n", "keyserver:index_url: "
	    "URL 2: not an http:// or https:// URL", "second URL not a URL");
	fails("[keyserver]\nurl = https://a/{node} https://b/{node} "
	    "https://c/{node} https://d/{node} https://e/{node} "
	    "https://f/{node} https://g/{node} https://h/{node} "
	    "https://i/{node}\n", "keyserver:url: more than 8 URLs",
	    "nine URLs");

	fails("[agi]\nlisten 127.0.0.1:1\n", "line 2: syntax error",
	    "syntax error");
	fails("[agi]\nlisten = 127.0.0.1:1\n[admin]\n[Agi]\n"
	    "LISTEN = 127.0.0.1:2\n", "agi:listen: set twice (lines 2 and 5)",
	    "key set twice");
	fails_len("[agi]\nlisten = 1\0\n", 17, "line 2: NUL byte", "NUL byte");
	fails("[agi]\n[ ]\n", "line 2: empty section name", "empty section");
	memset(big, 'a', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	memcpy(big, "[agi]\nx = ", 10);
	fails(big, "line 2: input line too long", "line too long");
	huge = xmalloc(CONF_FILE_MAX + 2);
	memset(huge, '\n', CONF_FILE_MAX + 1);
	fails_len(huge, CONF_FILE_MAX + 1, "larger than 262144 bytes",
	    "file too large");
	free(huge);

	c = conf_load(nofile, iaxkeyd_conf_spec, &cause);
	ok(c == NULL, "missing file: refused");
	xasprintf(&exp, "%s: No such file or directory", nofile);
	is_str(cause, exp, "missing file: message");
	free(exp);
	free(cause);
	c = conf_load("/tmp", iaxkeyd_conf_spec, &cause);
	ok(c == NULL, "directory: refused");
	is_str(cause, "/tmp: Is a directory", "directory: message");
	free(cause);
}

/* The checks of agi/config.c. */
static void
test_checks(void)
{
	fails("[outbound]\npeer_options = auth=md5\n", "outbound:peer_options: "
	    "option \"auth\" is set by iaxkeyd", "peer option auth");
	fails("[outbound]\npeer_options = trunk=yes secret=x\n",
	    "outbound:peer_options: option \"secret\" is set by iaxkeyd",
	    "peer option secret");
	fails("[outbound]\nrsa_user = {user}:x\n", "outbound:rsa_user: only "
	    "letters, digits, '.', '_', '-', {user} and {node}",
	    "rsa_user with ':'");
	fails("[outbound]\nrsa_user = {host}\n", "outbound:rsa_user: only "
	    "letters, digits, '.', '_', '-', {user} and {node}",
	    "rsa_user with an unknown placeholder");
	fails("[outbound]\nrsa_user = {node}-"
	    "01234567890123456789012345678901234567890123456789012345678901234\n",
	    "outbound:rsa_user: empty or too long", "rsa_user too long");
	fails("[outbound]\npeer_options = trunk\n", "outbound:peer_options: "
	    "option \"trunk\" is not name=value", "peer option without =");
	fails("[outbound]\npeer_options = Trunk=yes\n", "outbound:"
	    "peer_options: option \"Trunk\": bad name", "peer option name");
	fails("[outbound]\npeer_options = \"a=[x]\"\n", "outbound:"
	    "peer_options: option \"a\": value holds one of ; # [ ] \" \\",
	    "peer option value");
	fails("[inbound]\nrsa_contexts = a, b\n", "inbound:rsa_contexts: "
	    "contexts are names ([A-Za-z0-9._-]) separated by ',', no "
	    "spaces", "context list with a space");
	fails("[inbound]\nmd5_contexts = a,,b\n", "inbound:md5_contexts: "
	    "empty context name in list", "context list with a hole");
	fails("[inbound]\nfallback_context = a,b,c,d\n",
	    "inbound:fallback_context: not context[,exten[,priority]]",
	    "fallback with four parts");
	fails("[inbound]\nfallback_context = a,,1\n",
	    "inbound:fallback_context: extension is empty or too long",
	    "fallback with empty exten");
	fails("[inbound]\nfallback_context = a b\n",
	    "inbound:fallback_context: bad character in context of "
	    "context[,exten[,priority]]", "fallback with a space");
	fails("[keyserver]\nurl = https://k.example/v1/keys/\n",
	    "keyserver:url: URL 1 without {node}, the place of the node name",
	    "url without {node}");
	fails("[keyserver]\nurl = https://a/{node} https://k.example/v1/\n",
	    "keyserver:url: URL 2 without {node}, the place of the node name",
	    "second url without {node}");
	fails("[outbound]\npeers_file = ../iax.conf\n", "outbound:peers_file: "
	    "\"..\" is not allowed", "peers_file with ..");
	fails("[inbound]\nusers_file = /etc/x.conf\n", "inbound:users_file: "
	    "must be a file name relative to config_dir", "absolute file");
	fails("[inbound]\nusers_file = a/../../x.conf\n", "inbound:users_file: "
	    "\"..\" is not allowed", "inner ..");
	fails("[asterisk]\nreload_command = a \"b\n", "asterisk:"
	    "reload_command: unbalanced double quote", "reload_command");
	fails("[asterisk]\nami_host = a/b\n", "asterisk:ami_host: not a host "
	    "name or address", "ami_host");
	fails("[daemon]\nuser = -x\n", "daemon:user: not a user or group "
	    "name", "daemon user");
	fails("[inbound]\nkey_prefix = abcdefghijklmnop\n", "inbound:"
	    "key_prefix: name longer than 15 characters: "
	    "\"abcdefghijklmnop\"", "key_prefix too long");
}

/* Secret values never reach a message or conf_show. */
static void
test_secrets(void)
{
	struct conf	*c;
	char		*path, *cause = NULL, *s;

	path = tmp_str("[admin]\npassword = " SECRET_MARK "1\n"
	    "[keyserver]\napi_key_header = X-Api-Key: " SECRET_MARK "2\n"
	    "enroll_token = " SECRET_MARK "3\n"
	    "[asterisk]\nami_secret = " SECRET_MARK "4\n");
	c = conf_load(path, iaxkeyd_conf_spec, &cause);
	ok(c != NULL, "secrets: loads");
	if (c == NULL) {
		diag("cause: %s", cause);
		free(cause);
		return;
	}
	is_str(conf_str(c, "admin:password"), SECRET_MARK "1",
	    "secret readable by the program");
	s = show(c);
	ok(strstr(s, SECRET_MARK) == NULL, "show: no secret value");
	ok(strstr(s, "admin:password = (set)\n") != NULL &&
	    strstr(s, "asterisk:ami_secret = (set)\n") != NULL &&
	    strstr(s, "keyserver:api_key_header = (set)\n") != NULL &&
	    strstr(s, "keyserver:enroll_token = (set)\n") != NULL,
	    "show: secrets as (set)");
	free(s);
	conf_free(c);

	fails("[admin]\npassword = " SECRET_MARK "\001\n",
	    "admin:password: control character in value", "secret with ^A");
	fails("[keyserver]\napi_key_header = " SECRET_MARK "\n",
	    "keyserver:api_key_header: not an HTTP header \"Name: value\"",
	    "malformed secret header");
	fails("[keyserver]\napi_key_header = X: \n",
	    "keyserver:api_key_header: HTTP header without a value",
	    "secret header without value");
	fails("[admin]\npassword " SECRET_MARK "\n", "line 2: syntax error",
	    "syntax error on a secret line");
	fails("[admin]\npassword = " SECRET_MARK "\npassword = " SECRET_MARK
	    "\n", "admin:password: set twice (lines 2 and 3)",
	    "secret set twice");
	fails("[admin]\npasswd = " SECRET_MARK "\n",
	    "admin:passwd: unknown key", "misspelt secret key");
	ok(messages != NULL && strstr(messages, SECRET_MARK) == NULL,
	    "no error message so far holds a secret value");
}

/* conf_parse_addr on its own. */
static void
test_addr(void)
{
	struct sockaddr_storage	 ss;
	struct sockaddr_in	*sin = (struct sockaddr_in *)&ss;
	struct sockaddr_in6	*sin6 = (struct sockaddr_in6 *)&ss;
	struct in6_addr		 want6;
	socklen_t		 sslen;
	char			*cause = NULL;

	ok(conf_parse_addr("192.0.2.1:4573", &ss, &sslen, &cause) == 0 &&
	    ss.ss_family == AF_INET && ntohs(sin->sin_port) == 4573 &&
	    sin->sin_addr.s_addr == inet_addr("192.0.2.1") &&
	    sslen == sizeof *sin, "v4 with port");
	inet_pton(AF_INET6, "2001:db8::1", &want6);
	ok(conf_parse_addr("[2001:db8::1]:0", &ss, &sslen, &cause) == 0 &&
	    ss.ss_family == AF_INET6 && sin6->sin6_port == 0 &&
	    memcmp(&sin6->sin6_addr, &want6, sizeof want6) == 0 &&
	    sslen == sizeof *sin6, "[v6] with port 0");
	ok(conf_parse_addr("0.0.0.0:0", &ss, &sslen, NULL) == 0 &&
	    ss.ss_family == AF_INET && sin->sin_port == 0, "any, port 0");
	ok(conf_parse_addr("[::ffff:1.2.3.4]:65535", NULL, NULL, NULL) == 0,
	    "validate only, mapped v4, port 65535");
	ok(conf_parse_addr("1.2.3.4:-1", NULL, NULL, &cause) == -1,
	    "negative port refused");
	is_str(cause, "port is not a number", "negative port reason");
	free(cause);
	ok(conf_parse_addr(":80", NULL, NULL, &cause) == -1, "no host");
	is_str(cause, "missing address", "no host reason");
	free(cause);
	ok(conf_parse_addr("[]:80", NULL, NULL, &cause) == -1, "empty []");
	is_str(cause, "missing address", "empty [] reason");
	free(cause);
	ok(conf_parse_addr("1.2.3:80", NULL, NULL, &cause) == -1,
	    "short v4 refused");
	is_str(cause, "not a numeric IPv4 address", "short v4 reason");
	free(cause);
	ok(conf_parse_addr("[::1]x", NULL, NULL, &cause) == -1,
	    "junk after ]");
	is_str(cause, "expected ':' after ']'", "junk after ] reason");
	free(cause);
	ok(conf_parse_addr("[1.2.3.4]:80", NULL, NULL, &cause) == -1,
	    "v4 in brackets refused");
	is_str(cause, "not a numeric IPv6 address", "v4 in brackets reason");
	free(cause);
	ok(conf_parse_addr("1.2.3.4:99999999999999999999", NULL, NULL,
	    &cause) == -1, "huge port refused");
	is_str(cause, "port out of range (0..65535)", "huge port reason");
	free(cause);
	ok(conf_parse_addr("", NULL, NULL, NULL) == -1, "empty refused");
}

/* The key server's committed sample is what its table generates. */
static void
test_ks_sample(void)
{
	struct conf	*c;
	char		*gen, *file, *cause = NULL;
	size_t		 glen, flen = 0;

	gen = sample(iaxkey_server_conf_spec, &glen);
	file = file_read(KS_SAMPLE, &flen);
	if (!ok(file != NULL && glen == flen && memcmp(gen, file, glen) == 0,
	    "%s is conf_sample() output", KS_SAMPLE))
		diag("regenerate: make t/helper/conf-sample && "
		    "t/helper/conf-sample iaxkey-server > %s", KS_SAMPLE);
	c = conf_load(KS_SAMPLE, iaxkey_server_conf_spec, &cause);
	ok(c != NULL, "%s loads (%s)", KS_SAMPLE, cause != NULL ? cause :
	    "ok");
	free(cause);
	conf_free(c);
	free(gen);
	free(file);
}

/* The committed sample is what the table generates, and it loads. */
static void
test_sample(void)
{
	struct conf	*c, *d;
	char		*gen, *file, *un, *path, *cause = NULL, *s1, *s2;
	const char	*p, *nl;
	size_t		 glen, flen = 0, i;
	int		 longest = 0, line;

	gen = sample(iaxkeyd_conf_spec, &glen);
	file = file_read(SAMPLE, &flen);
	ok(file != NULL, "%s readable (run from the repository root)", SAMPLE);
	if (file == NULL)
		file = xstrdup("");
	for (i = 0, line = 1; i < glen && i < flen && gen[i] == file[i]; i++)
		line += gen[i] == '\n';
	if (!ok(glen == flen && i == glen, "%s is conf_sample() output",
	    SAMPLE))
		diag("first difference at line %d; regenerate: make "
		    "t/helper/conf-sample && t/helper/conf-sample > %s", line,
		    SAMPLE);
	for (p = gen; *p != '\0'; p = nl + 1) {
		if ((nl = strchr(p, '\n')) == NULL)
			break;
		if (nl - p > longest)
			longest = nl - p;
	}
	ok(longest <= 79, "sample lines fit 79 columns (longest %d)", longest);
	ok(glen > 0 && gen[glen - 1] == '\n', "sample ends with a newline");

	d = conf_defaults(iaxkeyd_conf_spec);
	s1 = show(d);
	c = conf_load(SAMPLE, iaxkeyd_conf_spec, &cause);
	ok(c != NULL, "sample loads (%s)", cause != NULL ? cause : "ok");
	free(cause);
	cause = NULL;
	s2 = c != NULL ? show(c) : xstrdup("");
	is_str(s2, s1, "sample as is gives the defaults");
	free(s2);
	conf_free(c);

	un = uncomment(gen);
	ok(strstr(un, "\nlisten = 127.0.0.1:4573\n") != NULL,
	    "uncommented sample sets keys");
	path = tmp_str(un);
	c = conf_load(path, iaxkeyd_conf_spec, &cause);
	ok(c != NULL, "uncommented sample loads (%s)",
	    cause != NULL ? cause : "ok");
	free(cause);
	s2 = c != NULL ? show(c) : xstrdup("");
	is_str(s2, s1, "uncommented sample gives the defaults");
	free(s2);
	conf_free(c);
	conf_free(d);
	free(s1);
	free(un);
	free(gen);
	free(file);
}

/* conf_sample quotes defaults that iniparser would otherwise cut. */
static void
test_sample_quoting(void)
{
	struct conf	*c;
	char		*gen, *un, *path, *cause = NULL;
	size_t		 glen;
	const char	*want =
	    "; Every setting with its default, commented out: remove the ';' "
	    "in front\n"
	    "; of a key to change it.  A value runs to the end of its line; "
	    "';' or '#'\n"
	    "; starts a comment, so quote a value that holds one (\"a;b\").\n"
	    "\n"
	    "[s]\n"
	    "; Has a semicolon.\n"
	    ";semi = \"a;b\"\n"
	    "\n"
	    ";edge = \" x y \"\n"
	    "\n"
	    ";hash = \"#x\"\n"
	    "\n"
	    ";empty =\n"
	    "\n"
	    "[t]\n"
	    "; integer 0..9\n"
	    ";n = 7\n";

	gen = sample(quote_spec, &glen);
	is_str(gen, want, "sample of a small table, quoting");
	un = uncomment(gen);
	path = tmp_str(un);
	c = conf_load(path, quote_spec, &cause);
	ok(c != NULL, "quoted sample loads");
	if (c != NULL) {
		is_str(conf_str(c, "s:semi"), "a;b", "quoted ';' kept");
		is_str(conf_str(c, "s:edge"), " x y ", "quoted spaces kept");
		is_str(conf_str(c, "s:hash"), "#x", "quoted '#' kept");
		is_int(conf_int(c, "t:n"), 7, "int set");
	} else
		skip(4, "no conf");
	free(cause);
	conf_free(c);
	free(un);
	free(gen);
}

/* The configuration of make run loads. */
static void
test_local(void)
{
	struct conf	*c;
	char		*cause = NULL;

	c = conf_load(LOCAL, iaxkeyd_conf_spec, &cause);
	ok(c != NULL, "%s loads (%s)", LOCAL, cause != NULL ? cause : "ok");
	free(cause);
	if (c == NULL) {
		skip(8, "no conf");
		return;
	}
	is_str(conf_str(c, "agi:listen"), "127.0.0.1:4573", "local agi");
	is_str(conf_str(c, "admin:listen"), "127.0.0.1:4574", "local admin");
	is_int(conf_enum(c, "asterisk:reload"), CFG_RELOAD_NONE,
	    "local reload");
	is_str(conf_str(c, "asterisk:config_dir"), "run/asterisk",
	    "local config_dir");
	is_str(conf_str(c, "asterisk:key_dir"), "run/keys", "local key_dir");
	is_str(conf_str(c, "state:db"), "run/iaxkeyd.db", "local db");
	is_str(conf_str(c, "node:name"), "local", "local node name");
	ok(conf_bool(c, "keyserver:allow_http") &&
	    strncmp(conf_str(c, "keyserver:url"), "http://127.0.0.1", 16) == 0,
	    "local key server on localhost over http");
	conf_free(c);
}

/* A URL list: stored with single spaces, read entry by entry. */
static void
test_url_list(void)
{
	struct conf	*c;
	const char	*p;
	char		*path, *cause = NULL;
	size_t		 len;

	path = tmp_str("[keyserver]\n"
	    "url =  https://a.example/v1/keys/{node}   http://b:8/k/{node}?t=1\n");
	c = conf_load(path, iaxkeyd_conf_spec, &cause);
	ok(c != NULL, "two URLs load (%s)", cause != NULL ? cause : "ok");
	free(cause);
	if (c == NULL) {
		skip(6, "no conf");
		return;
	}
	is_str(conf_str(c, "keyserver:url"), "https://a.example/v1/keys/{node} "
	    "http://b:8/k/{node}?t=1", "stored separated by one space");
	ok(conf_list_at(conf_str(c, "keyserver:url"), 0, &p, &len) == 0 &&
	    len == 32 && strncmp(p, "https://a.example/v1/keys/{node}", len) ==
	    0, "entry 0");
	ok(conf_list_at(conf_str(c, "keyserver:url"), 1, &p, &len) == 0 &&
	    len == 23 && strncmp(p, "http://b:8/k/{node}?t=1", len) == 0,
	    "entry 1");
	ok(conf_list_at(conf_str(c, "keyserver:url"), 2, &p, &len) == -1,
	    "no entry 2");
	ok(conf_list_at("", 0, &p, &len) == -1, "no entry in an empty list");
	ok(config_check(c, &cause) == -1 && cause != NULL &&
	    strstr(cause, "keyserver:url: URL 2: plain http:// needs "
	    "keyserver:allow_http = yes") != NULL, "http:// entry 2 refused "
	    "without allow_http (%s)", cause != NULL ? cause : "accepted");
	free(cause);
	conf_free(c);
}

/* An unknown key or a wrong type in a lookup is fatal. */
static void
test_fatal(void)
{
	static const char *const what[] = {
		"unknown key", "int of a string", "bool of an int",
		"addr of a string"
	};
	struct conf		*c;
	struct sockaddr_storage	 ss;
	socklen_t		 sslen;
	pid_t			 pid;
	int			 i, status, fd;

	for (i = 0; i < 4; i++) {
		fflush(stdout);
		if ((pid = fork()) == -1)
			bail("fork");
		if (pid == 0) {
			/* fatalx exits: keep tap's atexit plan quiet. */
			if ((fd = open("/dev/null", O_WRONLY)) != -1) {
				dup2(fd, STDOUT_FILENO);
				dup2(fd, STDERR_FILENO);
			}
			c = conf_defaults(iaxkeyd_conf_spec);
			switch (i) {
			case 0:
				conf_str(c, "agi:nonexistent");
				break;
			case 1:
				conf_int(c, "node:name");
				break;
			case 2:
				conf_bool(c, "agi:max_sessions");
				break;
			default:
				conf_addr(c, "state:db", &ss, &sslen);
				break;
			}
			conf_free(c);
			_exit(0);
		}
		if (waitpid(pid, &status, 0) == -1)
			bail("waitpid");
		ok(WIFEXITED(status) && WEXITSTATUS(status) != 0,
		    "fatal: %s", what[i]);
	}
}

/* Run every test. */
int
main(void)
{
	plan_no_plan();
	test_defaults();
	test_fixed_keys();
	test_valid();
	test_errors();
	test_checks();
	test_secrets();
	test_addr();
	test_sample();
	test_ks_sample();
	test_sample_quoting();
	test_local();
	test_url_list();
	test_fatal();
	tmp_clean();
	free(messages);
	return (exit_status());
}
