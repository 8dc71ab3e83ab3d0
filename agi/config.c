/* config: iaxkeyd's configuration spec table and value checks. */
#include <sys/types.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "lib/conf.h"
#include "lib/log.h"
#include "lib/metrics.h"
#include "lib/xmalloc.h"
#include "agi/config.h"

#define CFG_ECHO_MAX	40	/* longest piece of a value in a message */

static int	cfg_fail(char **, const char *, ...)
		    __attribute__((format(printf, 2, 3)));
static int	cfg_namechar(int);
static int	cfg_check_options(const char *, char **);
static int	cfg_check_list(const char *, char **);
static int	cfg_check_fallback(const char *, char **);
static int	cfg_check_key_url(const char *, char **);
static int	cfg_check_header(const char *, char **);
static int	cfg_check_rsa_user(const char *, char **);
static int	cfg_check_command(const char *, char **);
static int	cfg_check_relfile(const char *, char **);
static int	cfg_check_host(const char *, char **);
static int	cfg_check_account(const char *, char **);

static const char *const cfg_reload_choices[] = {
	[CFG_RELOAD_AGI] = "agi",
	[CFG_RELOAD_AMI] = "ami",
	[CFG_RELOAD_COMMAND] = "command",
	[CFG_RELOAD_NONE] = "none",
	[CFG_RELOAD_MAX] = NULL
};
static const char *const cfg_mode_choices[] = {
	[CFG_MODE_CONFIG] = "config",
	[CFG_MODE_DIALSTRING] = "dialstring",
	[CFG_MODE_MAX] = NULL
};
static const char *const cfg_inkeys_choices[] = {
	[CFG_INKEYS_SHARED] = "shared",
	[CFG_INKEYS_PER_NODE] = "per-node",
	[CFG_INKEYS_MAX] = NULL
};
static const char *const cfg_key_change_choices[] = {
	[CFG_KEY_CHANGE_ACCEPT] = "accept",
	[CFG_KEY_CHANGE_REJECT] = "reject",
	[CFG_KEY_CHANGE_MAX] = NULL
};
static const char *const cfg_level_choices[] = {
	[LOG_L_DEBUG] = "debug",
	[LOG_L_INFO] = "info",
	[LOG_L_WARN] = "warn",
	[LOG_L_ERROR] = "error",
	[LOG_L_MAX] = NULL
};

/* Options iaxkeyd writes into every peer itself. */
static const char *const cfg_managed[] = {
	"type", "host", "port", "username", "secret", "dbsecret", "outkey",
	"inkeys", "auth", "encryption", "forceencryption", NULL
};

#define S	CONF_SECRET
#define E	CONF_EMPTY

const struct conf_spec iaxkeyd_conf_spec[] = {
	/* [agi] */
	{ "agi:listen", CONF_ADDR, .def = "127.0.0.1:4573",
	  .help = "FastAGI listener. FastAGI is plaintext: bind where "
	  "Asterisk runs." },
	{ "agi:max_sessions", CONF_INT, 1, 100000, "4096",
	  .help = "Sessions at once; at the limit the listener closes and "
	  "AGI() fails fast." },
	{ "agi:env_timeout_ms", CONF_INT, 100, 60000, "5000",
	  .help = "Deadline for Asterisk's environment block, in "
	  "milliseconds." },
	{ "agi:command_timeout_ms", CONF_INT, 100, 3600000, "10000",
	  .help = "Deadline for the reply to one AGI command, in "
	  "milliseconds." },
	{ "agi:session_timeout_ms", CONF_INT, 1000, 86400000, "60000",
	  .help = "Deadline for a whole AGI session, in milliseconds." },
	{ "agi:drain_timeout_ms", CONF_INT, 0, 600000, "10000",
	  .help = "On SIGTERM, time running sessions get to finish, in "
	  "milliseconds." },

	/* [admin] */
	{ "admin:listen", CONF_ADDR, .def = "127.0.0.1:4574", .flags = E,
	  .help = "Telnet console listener; empty: no console." },
	{ "admin:password", CONF_STR, .def = "", .flags = S | E,
	  .help = "Console password; empty: no password, loopback clients "
	  "only." },
	{ "admin:max_clients", CONF_INT, 1, 1000, "16",
	  .help = "Console clients at once, logged in or not." },
	{ "admin:idle_timeout_ms", CONF_INT, 1000, 86400000, "600000",
	  .help = "Close a console client silent for this long, in "
	  "milliseconds." },
	{ "admin:auth_timeout_s", CONF_INT, 1, 3600, "30",
	  .help = "Close a client that has not logged in this long after "
	  "connecting, in s." },
	{ "admin:auth_max_clients", CONF_INT, 1, 1000, "4",
	  .help = "Clients not logged in at once; a new one pushes out the "
	  "oldest." },
	{ "admin:auth_delay_ms", CONF_INT, 1, 600000, "1000",
	  .help = "Failed login n > 3 from an address: no check for (n - 3) "
	  "x this ms." },

	/* [metrics] */
	METRICS_CONF_SPEC,

	/* [asterisk] */
	{ "asterisk:config_dir", CONF_PATH, .def = "/etc/asterisk",
	  .help = "Asterisk's config directory; peers_file and users_file "
	  "go here." },
	{ "asterisk:key_dir", CONF_PATH, .def = "/var/lib/asterisk/keys",
	  .help = "Asterisk's key directory (astkeydir plus /keys)." },
	{ "asterisk:reload", CONF_ENUM, .def = "agi",
	  .choices = cfg_reload_choices,
	  .help = "Module reload backend; agi runs EXEC Reload on a waiting "
	  "call." },
	{ "asterisk:reload_command", CONF_STR,
	  .def = "asterisk -rx \"module reload {modules}\"",
	  .check = cfg_check_command,
	  .help = "For reload = command; run without a shell, {modules} is "
	  "replaced." },
	{ "asterisk:reload_retries", CONF_INT, 0, 100, "5",
	  .help = "Retries of a reload refused because another one is "
	  "running." },
	{ "asterisk:reload_backoff_ms", CONF_INT, 10, 60000, "200",
	  .help = "Delay before the first reload retry, doubling after each, "
	  "in ms." },
	{ "asterisk:ami_host", CONF_STR, .def = "127.0.0.1",
	  .check = cfg_check_host,
	  .help = "Asterisk Manager host for reload = ami." },
	{ "asterisk:ami_port", CONF_INT, 1, 65535, "5038",
	  .help = "Asterisk Manager port." },
	{ "asterisk:ami_user", CONF_NAME, .def = "", .flags = E,
	  .help = "Asterisk Manager user (a manager.conf section)." },
	{ "asterisk:ami_secret", CONF_STR, .def = "", .flags = S | E,
	  .help = "Asterisk Manager secret." },

	/* [node] */
	{ "node:name", CONF_NAME, .max = 64, .def = "", .flags = E,
	  .help = "This node's name: <key_dir>/<name>.key and its key server "
	  "entry." },
	{ "node:rotate_grace", CONF_INT, 0, 31536000, "172800",
	  .help = "Seconds a planned key rotation waits to switch and to "
	  "retire." },

	/* [outbound] */
	{ "outbound:mode", CONF_ENUM, .def = "config",
	  .choices = cfg_mode_choices,
	  .help = "config: write peers and reload; dialstring: "
	  "user:secret:[key]@host." },
	{ "outbound:rsa_user", CONF_STR, .def = "{user}",
	  .check = cfg_check_rsa_user,
	  .help = "RSA leg's IAX2 user: {user} (the dial string's) and "
	  "{node} expand." },
	{ "outbound:peers_file", CONF_PATH, .def = "iaxkeyd-peers.conf",
	  .check = cfg_check_relfile,
	  .help = "Peer file in config_dir, owned by iaxkeyd; #include it "
	  "from iax.conf." },
	{ "outbound:peer_ttl", CONF_INT, 0, 315360000, "2592000",
	  .help = "Drop a peer unused for this many seconds; 0: never." },
	{ "outbound:max_peers", CONF_INT, 1, 1000000, "10000",
	  .help = "Most peers kept; the least recently used go first." },
	{ "outbound:peer_options", CONF_STR, .def = "", .flags = E,
	  .check = cfg_check_options,
	  .help = "Extra peer options, space-separated: requirecalltoken=yes "
	  "qualify=no" },

	/* [inbound] */
	{ "inbound:users_file", CONF_PATH, .def = "iaxkeyd-users.conf",
	  .check = cfg_check_relfile,
	  .help = "User file in config_dir, owned by iaxkeyd; #include it "
	  "from iax.conf." },
	{ "inbound:inkeys", CONF_ENUM, .def = "shared",
	  .choices = cfg_inkeys_choices,
	  .help = "shared: one inkeys list on [user]; per-node: a user per "
	  "caller." },
	{ "inbound:user", CONF_NAME, .def = "iaxkeyd",
	  .help = "iax.conf user that gets the shared inkeys list (define it "
	  "first)." },
	{ "inbound:template", CONF_NAME, .def = "iaxkeyd-template",
	  .help = "iax.conf template of the per-node user sections." },
	{ "inbound:key_prefix", CONF_NAME, .max = 15, .def = "", .flags = E,
	  .help = "Prefix of installed key names: <key_prefix><node>.pub." },
	{ "inbound:fallback_context", CONF_STR, .def = "", .flags = E,
	  .check = cfg_check_fallback,
	  .help = "Where fallback calls continue: context[,exten[,priority]]; "
	  "empty: stay." },
	{ "inbound:wait_ms", CONF_INT, 0, 60000, "2000",
	  .help = "Longest a call waits for fetch, install and reload, in "
	  "milliseconds." },
	{ "inbound:max_age", CONF_INT, 0, 31536000, "86400",
	  .help = "Refresh an RSA caller's key older than this, in seconds; "
	  "0: never." },
	{ "inbound:negative_ttl", CONF_INT, 0, 86400, "300",
	  .help = "Remember a key server 404 for this many seconds." },
	{ "inbound:min_refetch_s", CONF_INT, 0, 86400, "60",
	  .help = "Fetch one node's key at most once per this many seconds." },
	{ "inbound:stale_refetch_s", CONF_INT, 0, 3600, "10",
	  .help = "Stale keys: refetch a node at most once per this many "
	  "seconds; 0: never." },
	{ "inbound:rsa_contexts", CONF_STR, .def = "", .flags = E,
	  .check = cfg_check_list,
	  .help = "Contexts of RSA calls, comma-separated, for an empty "
	  "auth_method." },
	{ "inbound:md5_contexts", CONF_STR, .def = "", .flags = E,
	  .check = cfg_check_list,
	  .help = "Contexts of MD5 calls, comma-separated, for an empty "
	  "auth_method." },
	{ "inbound:on_key_change", CONF_ENUM, .def = "accept",
	  .choices = cfg_key_change_choices,
	  .help = "When a node's key differs from the installed one: install "
	  "or keep." },

	{ "inbound:max_unknown", CONF_INT, 1, 1000000, "1000",
	  .help = "Most callers without an installed key kept; oldest go "
	  "first." },
	{ "inbound:unknown_ttl", CONF_INT, 0, 315360000, "604800",
	  .help = "Forget callers without an installed key after this many "
	  "seconds; 0: never." },
	{ "inbound:unknown_fetches", CONF_INT, 1, 100000, "30",
	  .help = "Key fetches a minute for calls from nodes without an "
	  "installed key." },

	/* [keyserver] */
	{ "keyserver:url", CONF_URLS, .def = "", .flags = E,
	  .check = cfg_check_key_url,
	  .help = "Key URLs tried in order; {node} replaced: "
	  "https://k1.example/v1/keys/{node}" },
	{ "keyserver:index_url", CONF_URLS, .def = "", .flags = E,
	  .help = "Index URLs for sync; empty: each url without its "
	  "\"/{node}\"." },
	{ "keyserver:sync_interval", CONF_INT, 0, 604800, "0",
	  .help = "Periodic sync every this many seconds; 0: on demand only." },
	{ "keyserver:sync_jitter_s", CONF_INT, 0, 3600, "60",
	  .help = "Random delay added to each sync round, up to this many "
	  "seconds." },
	{ "keyserver:sync_remove", CONF_BOOL, .def = "no",
	  .help = "Remove installed keys that are missing from the index." },
	{ "keyserver:timeout_ms", CONF_INT, 100, 300000, "8000",
	  .help = "Deadline for one key server request, in milliseconds." },
	{ "keyserver:ca_file", CONF_PATH, .def = "", .flags = E,
	  .help = "CA certificates for HTTPS; empty: the system's." },
	{ "keyserver:allow_http", CONF_BOOL, .def = "no",
	  .help = "Allow plain http:// key server URLs (for tests)." },
	{ "keyserver:max_fetches", CONF_INT, 1, 1000, "16",
	  .help = "Key server requests in flight at once." },
	{ "keyserver:max_body", CONF_INT, 1024, 268435456, "1048576",
	  .help = "Largest response body accepted, in bytes (the index is "
	  "the largest)." },
	{ "keyserver:api_key_header", CONF_STR, .def = "", .flags = S | E,
	  .check = cfg_check_header,
	  .help = "Header sent with every request, \"Name: value\"." },
	{ "keyserver:upload_url", CONF_URL, .def = "", .flags = E,
	  .help = "Where key upload sends this node's key; empty: from url." },
	{ "keyserver:enroll_token", CONF_STR, .def = "", .flags = S | E,
	  .help = "Enrolment token for this node's first key upload." },

	/* [log] */
	{ "log:file", CONF_PATH, .def = "", .flags = E,
	  .help = "Ops log file, reopened on SIGUSR1; empty: none." },
	{ "log:level", CONF_ENUM, .def = "info",
	  .choices = cfg_level_choices,
	  .help = "Lowest level logged." },
	{ "log:syslog", CONF_BOOL, .def = "yes",
	  .help = "Send the ops log to syslog too." },

	/* [state] */
	{ "state:db", CONF_PATH, .def = "/var/lib/iaxkeyd/iaxkeyd.db",
	  .help = "SQLite state store: peers, keys, callers." },

	/* [daemon] */
	{ "daemon:user", CONF_STR, .def = "asterisk", .flags = E,
	  .check = cfg_check_account,
	  .help = "Started as root, become this user after binding." },
	{ "daemon:group", CONF_STR, .def = "asterisk", .flags = E,
	  .check = cfg_check_account,
	  .help = "Primary group then: may write Asterisk's files." },
	{ "daemon:allow_root", CONF_BOOL, .def = "no",
	  .help = "Allow running as root (development and tests only)." },
	{ "daemon:pid_file", CONF_PATH, .def = "", .flags = E,
	  .help = "Write the process id here; empty: none." },

	{ .key = NULL }
};

#undef S
#undef E

_Static_assert(sizeof cfg_reload_choices / sizeof *cfg_reload_choices ==
    CFG_RELOAD_MAX + 1, "reload choices");
_Static_assert(sizeof cfg_level_choices / sizeof *cfg_level_choices ==
    LOG_L_MAX + 1, "level choices");

/* Set *cause from a format and fail. */
static int
cfg_fail(char **cause, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	xvasprintf(cause, fmt, ap);
	va_end(ap);
	return (-1);
}

/* 1 for a character of names: letters, digits, '.', '_', '-'. */
static int
cfg_namechar(int ch)
{
	return (isalnum((u_char)ch) || ch == '.' || ch == '_' || ch == '-');
}

/* Check peer_options: space-separated name=value. */
static int
cfg_check_options(const char *s, char **cause)
{
	const char *const	*mp;
	const char		*p = s, *name, *eq, *q;
	int			 len;

	for (;;) {
		while (*p == ' ')
			p++;
		if (*p == '\0')
			return (0);
		name = p;
		while (*p != '\0' && *p != ' ')
			p++;
		len = p - name;
		if ((eq = memchr(name, '=', len)) == NULL || eq == name ||
		    eq + 1 == p)
			return (cfg_fail(cause, "option \"%.*s\" is not "
			    "name=value", len > CFG_ECHO_MAX ? CFG_ECHO_MAX :
			    len, name));
		for (q = name; q < eq; q++) {
			if (!islower((u_char)*q) && !isdigit((u_char)*q) &&
			    *q != '_')
				return (cfg_fail(cause, "option \"%.*s\": bad "
				    "name", (int)(eq - name) > CFG_ECHO_MAX ?
				    CFG_ECHO_MAX : (int)(eq - name), name));
		}
		for (q = eq + 1; q < p; q++) {
			if ((u_char)*q >= 0x7f || strchr(";#[]\"\\", *q) !=
			    NULL)
				return (cfg_fail(cause, "option \"%.*s\": "
				    "value holds one of ; # [ ] \" \\",
				    (int)(eq - name) > CFG_ECHO_MAX ?
				    CFG_ECHO_MAX : (int)(eq - name), name));
		}
		for (mp = cfg_managed; *mp != NULL; mp++) {
			if (strlen(*mp) == (size_t)(eq - name) &&
			    strncmp(*mp, name, eq - name) == 0)
				return (cfg_fail(cause, "option \"%s\" is set "
				    "by iaxkeyd", *mp));
		}
	}
}

/* Check a comma-separated list of context names. */
static int
cfg_check_list(const char *s, char **cause)
{
	const char	*p, *start;

	for (p = start = s;; p++) {
		if (*p == ',' || *p == '\0') {
			if (p == start)
				return (cfg_fail(cause, "empty context name "
				    "in list"));
			if (p - start > CONF_NAME_MAX)
				return (cfg_fail(cause, "context name longer "
				    "than %d characters", CONF_NAME_MAX));
			if (*p == '\0')
				return (0);
			start = p + 1;
		} else if (!cfg_namechar(*p))
			return (cfg_fail(cause, "contexts are names "
			    "([A-Za-z0-9._-]) separated by ',', no spaces"));
	}
}

/* Check fallback_context: context[,exten[,priority]]. */
static int
cfg_check_fallback(const char *s, char **cause)
{
	const char	*p, *start;
	int		 part = 0;

	for (p = start = s;; p++) {
		if (*p == ',' || *p == '\0') {
			if (p == start || p - start > CONF_NAME_MAX)
				return (cfg_fail(cause, "%s is empty or too "
				    "long", part == 0 ? "context" : part == 1 ?
				    "extension" : "priority"));
			if (*p == '\0')
				return (0);
			if (++part > 2)
				return (cfg_fail(cause, "not context[,exten"
				    "[,priority]]"));
			start = p + 1;
			continue;
		}
		if (cfg_namechar(*p) || (part == 1 && strchr("+*#", *p) !=
		    NULL))
			continue;
		return (cfg_fail(cause, "bad character in %s of "
		    "context[,exten[,priority]]", part == 0 ? "context" :
		    part == 1 ? "extension" : "priority"));
	}
}

/* Check that every key URL template has its {node}. */
static int
cfg_check_key_url(const char *s, char **cause)
{
	const char	*p;
	size_t		 len;
	int		 i;

	for (i = 0; conf_list_at(s, i, &p, &len) == 0; i++) {
		if (memmem(p, len, "{node}", 6) == NULL)
			return (cfg_fail(cause, "URL %d without {node}, the "
			    "place of the node name", i + 1));
	}
	return (0);
}

/* Check an HTTP header "Name: value" without showing it. */
static int
cfg_check_header(const char *s, char **cause)
{
	const char	*p;

	for (p = s; isalnum((u_char)*p) || *p == '-' || *p == '_'; p++)
		;
	if (p == s || *p != ':')
		return (cfg_fail(cause, "not an HTTP header \"Name: value\""));
	for (p++; *p == ' '; p++)
		;
	if (*p == '\0')
		return (cfg_fail(cause, "HTTP header without a value"));
	return (0);
}

/* Check the RSA leg's user template: name characters, {user}, {node}. */
static int
cfg_check_rsa_user(const char *s, char **cause)
{
	const char	*p;
	size_t		 len = 0;

	for (p = s; *p != '\0'; len++) {
		if (strncmp(p, "{user}", 6) == 0 ||
		    strncmp(p, "{node}", 6) == 0)
			p += 6;
		else if (cfg_namechar(*p))
			p++;
		else
			return (cfg_fail(cause, "only letters, digits, '.', "
			    "'_', '-', {user} and {node}"));
	}
	if (len == 0 || len > 64)
		return (cfg_fail(cause, "empty or too long"));
	return (0);
}

/* Check that the reload command's double quotes pair up. */
static int
cfg_check_command(const char *s, char **cause)
{
	const char	*p;
	int		 quotes = 0;

	for (p = s; *p != '\0'; p++)
		quotes += *p == '"';
	if (quotes % 2 != 0)
		return (cfg_fail(cause, "unbalanced double quote"));
	return (0);
}

/* Check a file name relative to config_dir: no "/" start, no "..". */
static int
cfg_check_relfile(const char *s, char **cause)
{
	const char	*p;

	if (*s == '/' || s[strlen(s) - 1] == '/')
		return (cfg_fail(cause, "must be a file name relative to "
		    "config_dir"));
	for (p = s; *p != '\0'; p++) {
		if (!cfg_namechar(*p) && *p != '/')
			return (cfg_fail(cause, "file names hold only "
			    "letters, digits, '.', '_', '-' and '/'"));
	}
	for (p = s; p != NULL; p = strchr(p, '/')) {
		if (*p == '/')
			p++;
		if (strncmp(p, "..", 2) == 0 && (p[2] == '/' || p[2] == '\0'))
			return (cfg_fail(cause, "\"..\" is not allowed"));
	}
	return (0);
}

/* Check a host: a DNS name, a numeric IPv4 or IPv6 address. */
static int
cfg_check_host(const char *s, char **cause)
{
	struct in6_addr	 in6;
	const char	*p;

	if (strchr(s, ':') != NULL) {
		if (inet_pton(AF_INET6, s, &in6) != 1)
			return (cfg_fail(cause, "not a numeric IPv6 address"));
		return (0);
	}
	if (strlen(s) > 253)
		return (cfg_fail(cause, "host name too long"));
	for (p = s; *p != '\0'; p++) {
		if (!isalnum((u_char)*p) && *p != '.' && *p != '-')
			return (cfg_fail(cause, "not a host name or address"));
	}
	return (0);
}

/* Check a user or group name. */
static int
cfg_check_account(const char *s, char **cause)
{
	const char	*p;

	if (strlen(s) > 32 || *s == '-')
		return (cfg_fail(cause, "not a user or group name"));
	for (p = s; *p != '\0'; p++) {
		if (!cfg_namechar(*p))
			return (cfg_fail(cause, "not a user or group name"));
	}
	return (0);
}

/*
 * Checks across keys, of what can be known before the daemon starts
 * (iaxkeyd -n, start, SIGHUP): 0, or -1 with *cause.
 */
int
config_check(const struct conf *conf, char **cause)
{
	static const char *const urls[] = {
		"keyserver:url", "keyserver:index_url", "keyserver:upload_url"
	};
	struct in6_addr	 in6;
	const char	*host, *p;
	size_t		 i, len;
	int		 n;

	for (i = 0; i < sizeof urls / sizeof urls[0]; i++) {
		for (n = 0; conf_list_at(conf_str(conf, urls[i]), n, &p,
		    &len) == 0; n++) {
			if (strncasecmp(p, "http://", 7) == 0 &&
			    !conf_bool(conf, "keyserver:allow_http"))
				return (cfg_fail(cause, "%s: %s: URL %d: plain "
				    "http:// needs keyserver:allow_http = yes",
				    conf_file(conf), urls[i], n + 1));
		}
	}
	host = conf_str(conf, "asterisk:ami_host");
	if (conf_enum(conf, "asterisk:reload") == CFG_RELOAD_AMI &&
	    strcmp(host, "localhost") != 0 &&
	    inet_pton(AF_INET, host, &in6) != 1 &&
	    inet_pton(AF_INET6, host, &in6) != 1)
		return (cfg_fail(cause, "%s: asterisk:ami_host: must be a "
		    "numeric IPv4/IPv6 address or localhost for reload = ami",
		    conf_file(conf)));
	return (0);
}
