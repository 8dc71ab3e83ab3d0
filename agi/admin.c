/*
 * admin: the console's commands (docs/console.md): the command table,
 * dispatch and the commands about the daemon itself.  The views of the
 * state store (peers, keys, callers, fetch, forget) are admin_store.c,
 * the node's own key admin_key.c.  The transport (listener, clients,
 * login, framing, timeouts, watch) is console.c, which hands over each
 * line; the counters that "stats" presents are stats.c.
 */
#include <sys/types.h>

#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>

#include "agi/config.h"
#include "agi/iaxkeyd.h"
#include "lib/astconf.h"
#include "lib/cmdline.h"
#include "lib/xmalloc.h"

#define ADMIN_ARGS_MAX		16
#define ADMIN_ROWS_MAX		1000	/* rows shown by a listing */

struct admin_cmd {
	const char	*name;		/* one or two words */
	int		 minargs, maxargs;
	int		 flags;
	void		(*run)(struct console_client *, int, char **);
	const char	*usage;
	const char	*help;
};
#define AC_NOAUTH	0x01	/* allowed before auth */
#define AC_AUDIT	0x02	/* changes state: logged at info */


static const struct admin_cmd *admin_find(int, char **, int *);
static void	admin_outcomes(void *, const char *, const char *);
static void	admin_stats_line(void *, const char *);
static void	admin_stats_raw(void *, const char *);

static void	cmd_help(struct console_client *, int, char **);
static void	cmd_auth(struct console_client *, int, char **);
static void	cmd_quit(struct console_client *, int, char **);
static void	cmd_status(struct console_client *, int, char **);
static void	cmd_sessions(struct console_client *, int, char **);
static void	cmd_sync(struct console_client *, int, char **);
static void	cmd_keyserver(struct console_client *, int, char **);
static void	cmd_reload_config(struct console_client *, int, char **);
static void	cmd_reload_asterisk(struct console_client *, int, char **);
static void	cmd_log_level(struct console_client *, int, char **);
static void	cmd_stats(struct console_client *, int, char **);
static void	cmd_stats_prometheus(struct console_client *, int, char **);
static void	cmd_watch(struct console_client *, int, char **);

static const struct admin_cmd admin_cmds[] = {
	{ "help", 0, 2, AC_NOAUTH, cmd_help, "help [command]",
	  "List the commands, or explain one." },
	{ "auth", 1, 1, AC_NOAUTH, cmd_auth, "auth <password>",
	  "Log in when [admin] password is set. After 3 failures from one "
	  "address, no login from it is checked for a while that grows "
	  "with each failure; the 5th failure disconnects." },
	{ "quit", 0, 0, AC_NOAUTH, cmd_quit, "quit",
	  "Close the connection." },
	{ "status", 0, 0, 0, cmd_status, "status",
	  "Version, uptime, configuration file, listeners, sessions, "
	  "outcomes, reloads, key fetches, log level." },
	{ "sessions", 0, 0, 0, cmd_sessions, "sessions",
	  "Active AGI sessions: id, script, state, age, channel, uniqueid." },
	{ "peers", 0, 1, 0, admin_peers, "peers [glob]",
	  "Outbound peers in the state store, by name (shell glob)." },
	{ "peer", 1, 1, 0, admin_peer, "peer <name>",
	  "One outbound peer; the secret is never shown." },
	{ "forget peer", 1, 1, AC_AUDIT, admin_forget_peer,
	  "forget peer <name>",
	  "Remove a peer from the state store and the peers file; chan_iax2 "
	  "is reloaded (coalesced)." },
	{ "keys", 0, 1, 0, admin_keys, "keys [glob]",
	  "Callers' keys in the state store, by node (shell glob)." },
	{ "key generate", 0, 0, AC_AUDIT, admin_key_generate, "key generate",
	  "Create this node's key pair in key_dir, as iaxkeyd -k; an "
	  "existing key is never overwritten." },
	{ "key upload", 0, 0, AC_AUDIT, admin_key_upload, "key upload",
	  "Publish this node's public key on the key server (with "
	  "[keyserver] enroll_token for the first time) and report the "
	  "outcome when it is known." },
	{ "key rotate", 0, 1, AC_AUDIT, admin_key_rotate,
	  "key rotate [now|cancel]",
	  "Without an argument, a planned rotation: stage a new key at the "
	  "key server, switch to it after rotate_grace, promote it, retire "
	  "the old one after another rotate_grace (key show tells the "
	  "step). now: replace the key at once (a compromised key), ending "
	  "a planned rotation. cancel: end a planned rotation before its "
	  "switch." },
	{ "key show", 0, 0, 0, admin_key_show, "key show",
	  "This node's own key: name, fingerprint, bits, file modes, last "
	  "upload." },
	{ "key", 1, 1, 0, admin_node_key, "key <node>",
	  "One node's key: fingerprint, bits, source, fetched, changed, "
	  "status (nodes named generate, upload, rotate or show: see "
	  "keys)." },
	{ "fetch", 1, 1, AC_AUDIT, admin_fetch, "fetch <node>",
	  "Fetch a node's key from the key server now and report the "
	  "outcome when it is known." },
	{ "forget key", 1, 1, AC_AUDIT, admin_forget_key, "forget key <node>",
	  "Remove a node's key: state store, .pub file, inkeys; res_crypto "
	  "and chan_iax2 are reloaded (coalesced)." },
	{ "callers", 0, 1, 0, admin_callers, "callers [N]",
	  "The N (default 20, at most 1000) most recent inbound fallback "
	  "callers." },
	{ "sync", 0, 0, AC_AUDIT, cmd_sync, "sync",
	  "Start a periodic-sync round now." },
	{ "keyserver", 0, 0, 0, cmd_keyserver, "keyserver",
	  "Each key server URL (key and index lists, in the order tried): "
	  "ok or backoff until when, answers served, failures, last error." },
	{ "reload config", 0, 0, AC_AUDIT, cmd_reload_config,
	  "reload config",
	  "Load the configuration file again (as SIGHUP); the old one stays "
	  "when the new one is invalid." },
	{ "reload asterisk", 0, 0, AC_AUDIT, cmd_reload_asterisk,
	  "reload asterisk",
	  "Reload chan_iax2 and res_crypto through the configured backend "
	  "(agi: with the next call)." },
	{ "log level", 0, 1, AC_AUDIT, cmd_log_level,
	  "log level [debug|info|warn|error]",
	  "Show or set the lowest level logged (until the next reload)." },
	{ "stats prometheus", 0, 0, 0, cmd_stats_prometheus,
	  "stats prometheus",
	  "The counters in Prometheus text exposition format." },
	{ "stats", 0, 0, 0, cmd_stats, "stats",
	  "Counters, session outcomes and latency percentiles per script." },
	{ "watch", 0, 1, 0, cmd_watch, "watch [debug|info|warn|error]",
	  "Stream the operations log (default level info) until a line is "
	  "sent. A reader that falls behind loses lines; their number is "
	  "reported as \"# dropped N lines\"." },
};
#define ADMIN_NCMDS	(sizeof admin_cmds / sizeof admin_cmds[0])

/* Log a command that changes state (arg may be NULL). */
void
admin_audit(struct console_client *c, const char *cmd, const char *arg,
    const char *result)
{
	struct logline	l;

	lf_begin(&l, LOG_L_INFO, "admin_command");
	lf_int(&l, "client", console_id(c));
	lf_str(&l, "addr", console_peer(c));
	lf_str(&l, "cmd", cmd);
	lf_str(&l, "arg", arg);
	lf_str(&l, "result", result);
	lf_emit(&l);
}

/* A value made safe to print: escaped (and quoted) as in the log. */
const char *
admin_esc(char *buf, size_t size, const char *s)
{
	if (s == NULL || *s == '\0')
		strlcpy_(buf, "-", size);
	else
		log_escape(buf, size, s, strlen(s));
	return (buf);
}

/* A Unix time as ISO 8601 UTC, or "never". */
const char *
admin_time(char *buf, size_t size, sqlite3_int64 t)
{
	struct tm	tm;
	time_t		tt = (time_t)t;

	if (t <= 0 || gmtime_r(&tt, &tm) == NULL ||
	    strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		strlcpy_(buf, "never", size);
	return (buf);
}

/* A text column, "" for NULL. */
const char *
admin_col(sqlite3_stmt *st, int i)
{
	const unsigned char	*s = sqlite3_column_text(st, i);

	return (s == NULL ? "" : (const char *)s);
}

/* 1 for a glob of name characters and * ? [ ] ! ^, of sane length. */
int
admin_glob_ok(const char *g)
{
	size_t	n = strlen(g);

	return (n >= 1 && n <= ADMIN_GLOB_MAX &&
	    strspn(g, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	    "0123456789._-*?[]!^") == n);
}

/* Say when a change of generation gen reaches Asterisk. */
void
admin_reload_note(struct console_client *c, uint64_t gen)
{
	switch (conf_enum(ikd->conf, "asterisk:reload")) {
	case CFG_RELOAD_AGI:
		if (gen != 0 && reload_covered(gen))
			console_printf(c, "  reload     done");
		else
			console_printf(c, "  reload     pending: reload = agi "
			    "runs it with the next call");
		break;
	case CFG_RELOAD_NONE:
		console_printf(c, "  reload     none (reload = none)");
		break;
	default:
		console_printf(c, "  reload     requested (reload = %s); see "
		    "event=reload", conf_str(ikd->conf, "asterisk:reload"));
		break;
	}
}

/* ------------------------------------------------------------------ */
/* Commands: parsing and dispatch                                      */

/* The command named by the first words; *words says how many. */
static const struct admin_cmd *
admin_find(int argc, char **argv, int *words)
{
	const struct admin_cmd	*cmd;
	const char		*sp;
	size_t			 i, n;

	for (i = 0; i < ADMIN_NCMDS; i++) {
		cmd = &admin_cmds[i];
		if ((sp = strchr(cmd->name, ' ')) == NULL) {
			if (strcasecmp(argv[0], cmd->name) == 0) {
				*words = 1;
				return (cmd);
			}
			continue;
		}
		n = sp - cmd->name;
		if (argc >= 2 && strlen(argv[0]) == n &&
		    strncasecmp(argv[0], cmd->name, n) == 0 &&
		    strcasecmp(argv[1], sp + 1) == 0) {
			*words = 2;
			return (cmd);
		}
	}
	return (NULL);
}

/*
 * One line from a client (console.c): split it, find the command, check
 * login and arguments, run it.  Returns 1 when the line was a command
 * (counted per client), 0 for a blank or unsplittable line.
 */
int
admin_line(struct console_client *c, char *line)
{
	const struct admin_cmd	*cmd;
	char			*argv[ADMIN_ARGS_MAX], what[64];
	const char		*cause = NULL;
	size_t			 i;
	int			 argc, words, first;

	if ((argc = cmdline_split(line, argv, ADMIN_ARGS_MAX, &cause)) == -1) {
		console_err(c, "%s", cause);
		return (0);
	}
	if (argc == 0)
		return (0);		/* an empty line gets no reply */
	if ((cmd = admin_find(argc, argv, &words)) == NULL) {
		first = 0;
		for (i = 0; i < ADMIN_NCMDS; i++) {
			const char *sp = strchr(admin_cmds[i].name, ' ');

			if (sp != NULL && strlen(argv[0]) ==
			    (size_t)(sp - admin_cmds[i].name) &&
			    strncasecmp(argv[0], admin_cmds[i].name,
			    sp - admin_cmds[i].name) == 0) {
				if (first++ == 0)
					console_printf(c, "  usage:");
				console_printf(c, "    %s", admin_cmds[i].usage);
			}
		}
		if (first > 0)
			console_err(c, "incomplete command");
		else
			console_err(c, "unknown command %s; try help",
			    admin_esc(what, sizeof what, argv[0]));
		return (1);
	}
	if (!console_authed(c) && !(cmd->flags & AC_NOAUTH)) {
		console_err(c, "authentication required");
		return (1);
	}
	argc -= words;
	if (argc < cmd->minargs || argc > cmd->maxargs) {
		console_err(c, "usage: %s", cmd->usage);
		return (1);
	}
	if (!(cmd->flags & AC_AUDIT) && log_enabled(LOG_L_DEBUG)) {
		struct logline l;

		lf_begin(&l, LOG_L_DEBUG, "admin_command");
		lf_int(&l, "client", console_id(c));
		lf_str(&l, "cmd", cmd->name);
		lf_emit(&l);
	}
	cmd->run(c, argc, argv + words);
	return (1);
}

/* ------------------------------------------------------------------ */
/* Commands                                                            */

/* help [command] */
static void
cmd_help(struct console_client *c, int argc, char **argv)
{
	const struct admin_cmd	*cmd;
	char			 what[64];
	size_t			 i, n;
	int			 found = 0;

	if (argc == 0) {
		console_printf(c, "  Commands (help <command> for more):");
		for (i = 0; i < ADMIN_NCMDS; i++) {
			if (console_password_set() && (admin_cmds[i].flags &
			    AC_NOAUTH))
				console_printf(c, "    %-36s (before auth too)",
				    admin_cmds[i].usage);
			else
				console_printf(c, "    %s", admin_cmds[i].usage);
		}
		console_printf(c, "  Every reply ends with a line OK or "
		    "ERR <reason>.");
		console_ok(c);
		return;
	}
	for (i = 0; i < ADMIN_NCMDS; i++) {
		cmd = &admin_cmds[i];
		n = strlen(argv[0]);
		if (strncasecmp(cmd->name, argv[0], n) != 0 ||
		    (cmd->name[n] != '\0' && cmd->name[n] != ' '))
			continue;
		if (argc == 2 && (cmd->name[n] != ' ' ||
		    strcasecmp(cmd->name + n + 1, argv[1]) != 0))
			continue;
		console_printf(c, "  %s", cmd->usage);
		console_printf(c, "    %s", cmd->help);
		found++;
	}
	if (found == 0) {
		console_err(c, "no such command %s", admin_esc(what,
		    sizeof what, argv[0]));
		return;
	}
	console_ok(c);
}

/* auth <password> */
static void
cmd_auth(struct console_client *c, int argc, char **argv)
{
	if (!console_password_set()) {
		console_printf(c, "  no password is configured");
		console_ok(c);
		return;
	}
	console_auth(c, argv[0]);
}

/* quit */
static void
cmd_quit(struct console_client *c, int argc, char **argv)
{
	console_ok(c);
	console_close(c, "quit");
}

/* status */
static void
cmd_status(struct console_client *c, int argc, char **argv)
{
	const struct reload_stats	*rs = reload_stats();
	const struct keys_stats		*ks = keys_stats();
	const struct console_stats	*cs = console_stats();
	char				 t[32];
	long long			 up;
	const char			*addr;
	int				 open;

	up = (long long)time(NULL) - (long long)ikd->started.tv_sec;
	if (up < 0)
		up = 0;
	console_printf(c, "  version      %s", IAXKEYD_VERSION);
	console_printf(c, "  started      %s", admin_time(t, sizeof t,
	    ikd->started.tv_sec));
	console_printf(c, "  uptime       %lldd %02lld:%02lld:%02lld (%lld s)",
	    up / 86400, up / 3600 % 24, up / 60 % 60, up % 60, up);
	console_printf(c, "  config       %s", ikd->conf_path);
	addr = server_addr(&open);
	console_printf(c, "  agi listen   %s%s", addr,
	    open ? "" : " (closed: max_sessions reached)");
	console_printf(c, "  admin listen %s", *console_addr() != '\0' ?
	    console_addr() : "none");
	console_printf(c, "  metrics      %s", *stats_serve_addr() != '\0' ?
	    stats_serve_addr() : "none");
	console_printf(c, "  sessions     active %d, total %llu",
	    server_active(), (unsigned long long)server_stats()->accepted);
	stats_outcomes(admin_outcomes, c);
	console_printf(c, "  reloads      %llu (ok %llu, failed %llu, refused "
	    "%llu), last %s in %d ms, backend %s",
	    (unsigned long long)(rs->ok + rs->failed),
	    (unsigned long long)rs->ok, (unsigned long long)rs->failed,
	    (unsigned long long)rs->refused, rs->ok + rs->failed == 0 ?
	    "none" : rs->last_ok ? "ok" : "failed", rs->last_ms,
	    conf_str(ikd->conf, "asterisk:reload"));
	console_printf(c, "  outbound as  mode %s, RSA leg user %s",
	    conf_str(ikd->conf, "outbound:mode"),
	    conf_str(ikd->conf, "outbound:rsa_user"));
	if (conf_enum(ikd->conf, "inbound:inkeys") == CFG_INKEYS_SHARED)
		console_printf(c, "  inkeys       shared, on user %s",
		    conf_str(ikd->conf, "inbound:user"));
	else
		console_printf(c, "  inkeys       per-node, sections from %s; "
		    "first contact on the MD5 user (%s)",
		    conf_str(ikd->conf, "inbound:template"),
		    conf_str(ikd->conf, "inbound:user"));
	console_printf(c, "  key fetches  in flight %d, ok %llu, failed %llu",
	    ks->inflight, (unsigned long long)ks->ok,
	    (unsigned long long)ks->failed);
	console_printf(c, "  log level    %s", log_level_name(log_get_level()));
	console_printf(c, "  console      clients %d, watching %d",
	    cs->clients, cs->watchers);
	console_ok(c);
}

/* status: the outcomes of the outbound and inbound scripts. */
static void
admin_outcomes(void *arg, const char *script, const char *outcomes)
{
	if (strcmp(script, "outbound") == 0 || strcmp(script, "inbound") == 0)
		console_printf(arg, "  %-12s %s", script, outcomes);
}

/* sessions */
static void
cmd_sessions(struct console_client *c, int argc, char **argv)
{
	struct session	*s;
	uint64_t	 now = now_ms(), age;
	char		 ch[256], uid[128], sc[96];
	int		 n = 0;

	console_printf(c, "  %-12s %-10s %-8s %9s  %-32s %s", "ID", "SCRIPT",
	    "STATE", "AGE", "CHANNEL", "UNIQUEID");
	TAILQ_FOREACH(s, server_sessions(), entry) {
		if (n++ >= ADMIN_ROWS_MAX)
			continue;
		age = now - s->t_start;
		console_printf(c, "  %012llx %-10s %-8s %5llu.%03us  %-32s %s",
		    (unsigned long long)s->id, admin_esc(sc, sizeof sc,
		    s->script), session_state_name(s->state),
		    (unsigned long long)(age / 1000), (unsigned)(age % 1000),
		    admin_esc(ch, sizeof ch, agi_env_get(&s->env,
		    "agi_channel")), admin_esc(uid, sizeof uid,
		    agi_env_get(&s->env, "agi_uniqueid")));
	}
	if (n > ADMIN_ROWS_MAX)
		console_printf(c, "  (%d more not shown)", n - ADMIN_ROWS_MAX);
	console_printf(c, "  (%d session%s, %d active)", n, n == 1 ? "" : "s",
	    server_active());
	console_ok(c);
}

/* sync */
static void
cmd_sync(struct console_client *c, int argc, char **argv)
{
	char	*cause = NULL;

	if (sync_run(&cause) == -1) {
		admin_audit(c, "sync", NULL, "error");
		console_err(c, "%s", cause);
		free(cause);
		return;
	}
	admin_audit(c, "sync", NULL, "started");
	console_printf(c, "  sync round started; its outcome is logged as "
	    "event=sync");
	console_ok(c);
}

/* keyserver: one URL. */
static void
admin_ksurl(void *arg, const struct ksget_state *st)
{
	struct console_client	*c = arg;
	char			 t[32], e[KSGET_ERROR_MAX * 4 + 3];
	char			 u[512];

	console_printf(c, "  %-5s %d  %s", st->list, st->pos,
	    admin_esc(u, sizeof u, st->url));
	console_printf(c, "           %s%s, answers %llu, failures %llu, "
	    "last error %s", st->until != 0 ? "backoff until " : "ok",
	    st->until != 0 ? admin_time(t, sizeof t, st->until) : "",
	    (unsigned long long)st->ok, (unsigned long long)st->failed,
	    admin_esc(e, sizeof e, st->error));
}

/* keyserver */
static void
cmd_keyserver(struct console_client *c, int argc, char **argv)
{
	if (!ksget_configured() &&
	    *conf_str(ikd->conf, "keyserver:index_url") == '\0')
		console_printf(c, "  no key server URL ([keyserver] url)");
	ksget_each(admin_ksurl, c);
	console_ok(c);
}

/* reload config: the lines the reload logs are part of the reply. */
static void
cmd_reload_config(struct console_client *c, int argc, char **argv)
{
	struct evbuffer	*cap;
	size_t		 n;
	int		 rc;

	admin_audit(c, "reload config", NULL, "started");
	cap = console_capture_begin();
	rc = iaxkeyd_reload_config();
	console_capture_end();
	/* The new configuration may have closed this client: no output. */
	n = evbuffer_get_length(cap);
	console_add(c, cap);
	if (rc == 0)
		console_ok(c);
	else
		console_err(c, "configuration not reloaded; the old one "
		    "stays%s", n == 0 ? "" : " (see above)");
	evbuffer_free(cap);
}

/* reload asterisk */
static void
cmd_reload_asterisk(struct console_client *c, int argc, char **argv)
{
	uint64_t	gen;

	gen = reload_need(RELOAD_CHAN_IAX2 | RELOAD_RES_CRYPTO);
	admin_audit(c, "reload asterisk", NULL, "requested");
	console_printf(c, "  modules    chan_iax2, res_crypto");
	admin_reload_note(c, gen);
	console_ok(c);
}

/* log level [level] */
static void
cmd_log_level(struct console_client *c, int argc, char **argv)
{
	enum log_level	level, old = log_get_level();

	if (argc == 0) {
		console_printf(c, "  log level  %s", log_level_name(old));
		console_ok(c);
		return;
	}
	if (log_level_parse(argv[0], &level) == -1) {
		console_err(c, "level must be debug, info, warn or error");
		return;
	}
	log_set_level(level);
	admin_audit(c, "log level", log_level_name(level), "ok");
	console_printf(c, "  log level  %s (was %s)", log_level_name(level),
	    log_level_name(old));
	console_ok(c);
}

/* One line of the stats text format, indented as a data line. */
static void
admin_stats_line(void *arg, const char *line)
{
	console_printf(arg, "  %s", line);
}

/* One line of the Prometheus exposition, as it is. */
static void
admin_stats_raw(void *arg, const char *line)
{
	console_printf(arg, "%s", line);
}

/* stats */
static void
cmd_stats(struct console_client *c, int argc, char **argv)
{
	stats_emit(STATS_TEXT, admin_stats_line, c);
	console_ok(c);
}

/* stats prometheus */
static void
cmd_stats_prometheus(struct console_client *c, int argc, char **argv)
{
	stats_emit(STATS_PROMETHEUS, admin_stats_raw, c);
	console_ok(c);
}

/* watch [level] */
static void
cmd_watch(struct console_client *c, int argc, char **argv)
{
	enum log_level	level = LOG_L_INFO;

	if (argc > 0 && log_level_parse(argv[0], &level) == -1) {
		console_err(c, "level must be debug, info, warn or error");
		return;
	}
	console_watch(c, level);
}
