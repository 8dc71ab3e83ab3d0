/*
 * admin: the telnet console (docs/console.md).
 *
 * One command per line (LF, CRLF or CR ends it, 4 KiB at most); telnet
 * IAC sequences are consumed before a byte counts as text; words split on
 * blanks, "double quotes" group (both in lib/console.c).  Every reply is zero or more data lines
 * and one final line, "OK" or "ERR <reason>"; no data line starts with
 * "OK" or "ERR".  Input is taken one line at a time: while a reply is
 * deferred (fetch, a slowed-down auth failure) or the output holds more
 * than a bounded amount, the rest waits in the input buffer, whose size
 * is capped by the read watermark.
 *
 *   accept ── refused (not loopback, too many, HTTP) ──► flush ──► gone
 *      │
 *      ▼
 *    open ── line ──► command ── reply ──► open
 *      │                 └── fetch / auth delay / watch ──► busy ──► open
 *      └── quit, EOF with nothing pending, idle timeout ──► flush ──► gone
 *
 * Closing writes what is queued, shuts the write side and reads (and
 * drops) until EOF or a short linger, so the last line is not lost to a
 * reset.  Clients are freed on a later loop turn, never under a callback.
 *
 * The console owns the log hook: it is installed while a client watches
 * (log_enabled() then says yes to every level) and while "reload config"
 * captures the lines it causes.
 *
 * Session statistics (per-script outcomes and latency histograms) live
 * here too; session.c reports every session end.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <fnmatch.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <openssl/crypto.h>

#include "agi/config.h"
#include "agi/iaxkeyd.h"
#include "lib/addr.h"
#include "lib/astconf.h"
#include "lib/console.h"
#include "lib/rsakey.h"
#include "lib/xmalloc.h"

#define ADMIN_ARGS_MAX		16
#define ADMIN_BACKLOG		16
#define ADMIN_READ_HIGH		(16 * 1024)	/* input kept, at most */
#define ADMIN_OUT_LOW		(64 * 1024)	/* write cb below this */
#define ADMIN_OUT_MAX		(256 * 1024)	/* then commands wait */
#define ADMIN_WATCH_MAX		(256 * 1024)	/* watch: drop past */
#define ADMIN_ROWS_MAX		1000	/* rows shown by a listing */
#define ADMIN_GLOB_MAX		80
#define ADMIN_LINGER_MS		2000
#define ADMIN_CAPTURE_MAX	(16 * 1024)
#define ADMIN_CALLERS_DEF	20
#define ADMIN_CALLERS_MAX	1000

#define ADMIN_AUTH_FREE		3	/* failures answered at once */
#define ADMIN_AUTH_MAX		5	/* this one disconnects */
#define ADMIN_AUTH_DELAY_MAX	30	/* seconds */
#define ADMIN_AUTH_FORGET_S	900	/* a count expires */
#define ADMIN_AUTH_HOSTS	256

#define ADMIN_SCRIPTS		8	/* per-script statistics */
#define ADMIN_STATUSES		16	/* statuses per script */
#define ADMIN_NAME_LEN		32

#define U(x)	((unsigned long long)(x))	/* for %llu */

enum admin_state { A_OPEN, A_FLUSH, A_CLOSED };
enum admin_busy { B_NONE, B_FETCH, B_DELAY, B_WATCH, B_KEYOP };

struct admin_client {
	TAILQ_ENTRY(admin_client) entry;
	uint64_t		 id;
	enum admin_state	 state;
	enum admin_busy		 busy;
	int			 counted;	/* against max_clients */
	int			 authed;
	int			 loopback;
	int			 eof;		/* no more input */
	struct bufferevent	*bev;
	struct event		*timer;	/* auth delay, linger */
	struct event		*resume;	/* run queued input */
	char			 addr[ADDR_STR_MAX];
	char			 host[INET6_ADDRSTRLEN];
	uint64_t		 t_open;
	unsigned		 commands;

	/* Line assembly (lib/console.c). */
	struct console_in	 rd;

	/* fetch */
	struct keywaiter	*waiter;
	char			 node[KEYS_NODE_MAX + 1];
	uint64_t		 t_fetch;

	/* key upload, key rotate */
	struct keyop		*keyop;

	/* A slowed-down auth failure. */
	int			 failures;

	/* watch */
	enum log_level		 watch_level;
	uint64_t		 dropped;
};
TAILQ_HEAD(admin_clients, admin_client);

struct admin_host {
	char		host[INET6_ADDRSTRLEN];
	int		failures;
	time_t		last;
};

struct admin_cmd {
	const char	*name;		/* one or two words */
	int		 minargs, maxargs;
	int		 flags;
	void		(*run)(struct admin_client *, int, char **);
	const char	*usage;
	const char	*help;
};
#define AC_NOAUTH	0x01	/* allowed before auth */
#define AC_AUDIT	0x02	/* changes state: logged at info */

struct admin_script {
	char		 name[ADMIN_NAME_LEN];
	uint64_t	 count, sum_ms, max_ms;
	uint64_t	*buckets;	/* ADMIN_BUCKETS, not cumulative */
	int		 nstatus;
	struct {
		char		name[ADMIN_NAME_LEN];
		uint64_t	n;
	}		 status[ADMIN_STATUSES];
};

/* Latency bucket upper bounds in ms; one more bucket holds the rest. */
static const unsigned admin_bounds[] = {
	1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000,
	60000
};
#define ADMIN_NBOUNDS	(sizeof admin_bounds / sizeof admin_bounds[0])
#define ADMIN_BUCKETS	(ADMIN_NBOUNDS + 1)

static struct {
	struct event_base	*base;
	struct evconnlistener	*listener;
	char			 addrstr[ADDR_STR_MAX];	/* bound */
	char			*listen;	/* configured; "": none */
	char			*password;
	int			 max_clients;
	int			 idle_ms;
	struct admin_clients	 clients;
	int			 nclients;	/* counted */
	int			 nwatchers;
	uint64_t		 next_id;
	struct admin_host	 hosts[ADMIN_AUTH_HOSTS];
	struct evbuffer		*capture;	/* reload config */
	int			 in_hook;
	int			 up;

	uint64_t		 accepted, refused, auth_failures;
	uint64_t		 watch_dropped, commands;
} adm;

/* Session statistics: kept whether or not the console runs. */
static struct admin_script	admin_scripts[ADMIN_SCRIPTS];
static uint64_t		admin_buckets[ADMIN_SCRIPTS][ADMIN_BUCKETS];
static int			admin_nscripts;

static const char sql_peers[] =
    "SELECT name, host, port, user, uses, last_used FROM peers"
    " ORDER BY name";
static const char sql_peer[] =
    "SELECT name, host, port, user, length(secret) > 0, created,"
    " last_used, uses, gen FROM peers WHERE name = ?";
static const char sql_keys[] =
    "SELECT node, bits, status, installed, fetched, fingerprint FROM keys"
    " ORDER BY node";
static const char sql_key[] =
    "SELECT node, name, fingerprint, bits, source, fetched, changed,"
    " status, installed FROM keys WHERE node = ?";
static const char sql_callers[] =
    "SELECT node, address, count, last_seen, last_result, first_seen"
    " FROM callers ORDER BY last_seen DESC, node LIMIT ?";

static int	admin_listen(const char *, char **);
static void	admin_accept_cb(struct evconnlistener *, evutil_socket_t,
		    struct sockaddr *, int, void *);
static void	admin_error_cb(struct evconnlistener *, void *);
static int	admin_loopback(const struct sockaddr *);
static void	admin_refuse(struct admin_client *, const char *,
		    const char *);
static void	admin_read_cb(struct bufferevent *, void *);
static void	admin_write_cb(struct bufferevent *, void *);
static void	admin_event_cb(struct bufferevent *, short, void *);
static void	admin_timer_cb(int, short, void *);
static void	admin_resume_cb(int, short, void *);
static void	admin_input(struct admin_client *);
static int	admin_blocked(struct admin_client *);
static void	admin_line(struct admin_client *, char *);
static const struct admin_cmd *admin_find(int, char **, int *);
static void	admin_close(struct admin_client *, const char *, int);
static void	admin_flushed(struct admin_client *);
static void	admin_destroy(struct admin_client *);
static void	admin_free_cb(int, short, void *);
static void	admin_hook(enum log_level, const char *, size_t, void *);
static void	admin_hook_update(void);
static void	admin_printf(struct admin_client *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));
static void	admin_ok(struct admin_client *);
static void	admin_err(struct admin_client *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));
static void	admin_audit(struct admin_client *, const char *,
		    const char *, const char *);
static const char *admin_esc(char *, size_t, const char *);
static const char *admin_time(char *, size_t, sqlite3_int64);
static const char *admin_col(sqlite3_stmt *, int);
static int	admin_glob_ok(const char *);
static void	admin_reload_note(struct admin_client *, uint64_t);
static struct admin_host *admin_host(const char *, int);
static int	admin_password_ok(const char *);
static void	admin_watch_stop(struct admin_client *);
static void	admin_timeouts(struct admin_client *);
static void	admin_fetch_cb(void *, const struct key_result *);
static void	admin_fetch_report(struct admin_client *,
		    const struct key_result *);
static uint64_t	admin_percentile(const struct admin_script *, unsigned);
static struct admin_script *admin_script(const char *);

static void	cmd_help(struct admin_client *, int, char **);
static void	cmd_auth(struct admin_client *, int, char **);
static void	cmd_quit(struct admin_client *, int, char **);
static void	cmd_status(struct admin_client *, int, char **);
static void	cmd_sessions(struct admin_client *, int, char **);
static void	cmd_peers(struct admin_client *, int, char **);
static void	cmd_peer(struct admin_client *, int, char **);
static void	cmd_forget_peer(struct admin_client *, int, char **);
static void	cmd_keys(struct admin_client *, int, char **);
static void	cmd_key(struct admin_client *, int, char **);
static void	cmd_key_generate(struct admin_client *, int, char **);
static void	cmd_key_upload(struct admin_client *, int, char **);
static void	cmd_key_rotate(struct admin_client *, int, char **);
static void	cmd_key_show(struct admin_client *, int, char **);
static void	admin_keyop_cb(void *, const struct keyops_result *);
static void	admin_show_line(void *, const char *);
static void	admin_keyop_start(struct admin_client *, int);
static void	cmd_fetch(struct admin_client *, int, char **);
static void	cmd_forget_key(struct admin_client *, int, char **);
static void	cmd_callers(struct admin_client *, int, char **);
static void	cmd_sync(struct admin_client *, int, char **);
static void	cmd_reload_config(struct admin_client *, int, char **);
static void	cmd_reload_asterisk(struct admin_client *, int, char **);
static void	cmd_log_level(struct admin_client *, int, char **);
static void	cmd_stats(struct admin_client *, int, char **);
static void	cmd_stats_prometheus(struct admin_client *, int, char **);
static void	cmd_watch(struct admin_client *, int, char **);

static const struct admin_cmd admin_cmds[] = {
	{ "help", 0, 2, AC_NOAUTH, cmd_help, "help [command]",
	  "List the commands, or explain one." },
	{ "auth", 1, 1, AC_NOAUTH, cmd_auth, "auth <password>",
	  "Log in when [admin] password is set. Failures from one address "
	  "are answered ever more slowly after 3, and the 5th disconnects." },
	{ "quit", 0, 0, AC_NOAUTH, cmd_quit, "quit",
	  "Close the connection." },
	{ "status", 0, 0, 0, cmd_status, "status",
	  "Version, uptime, configuration file, listeners, sessions, "
	  "outcomes, reloads, key fetches, log level." },
	{ "sessions", 0, 0, 0, cmd_sessions, "sessions",
	  "Active AGI sessions: id, script, state, age, channel, uniqueid." },
	{ "peers", 0, 1, 0, cmd_peers, "peers [glob]",
	  "Outbound peers in the state store, by name (shell glob)." },
	{ "peer", 1, 1, 0, cmd_peer, "peer <name>",
	  "One outbound peer; the secret is never shown." },
	{ "forget peer", 1, 1, AC_AUDIT, cmd_forget_peer,
	  "forget peer <name>",
	  "Remove a peer from the state store and the peers file; chan_iax2 "
	  "is reloaded (coalesced)." },
	{ "keys", 0, 1, 0, cmd_keys, "keys [glob]",
	  "Callers' keys in the state store, by node (shell glob)." },
	{ "key generate", 0, 0, AC_AUDIT, cmd_key_generate, "key generate",
	  "Create this node's key pair in key_dir, as iaxkeyd -k; an "
	  "existing key is never overwritten." },
	{ "key upload", 0, 0, AC_AUDIT, cmd_key_upload, "key upload",
	  "Publish this node's public key on the key server (with "
	  "[keyserver] enroll_token for the first time) and report the "
	  "outcome when it is known." },
	{ "key rotate", 0, 0, AC_AUDIT, cmd_key_rotate, "key rotate",
	  "Make a new key pair, upload it signed by the new and the current "
	  "key, and swap the files and reload res_crypto only when the key "
	  "server confirms it; otherwise the old pair stays." },
	{ "key show", 0, 0, 0, cmd_key_show, "key show",
	  "This node's own key: name, fingerprint, bits, file modes, last "
	  "upload." },
	{ "key", 1, 1, 0, cmd_key, "key <node>",
	  "One node's key: fingerprint, bits, source, fetched, changed, "
	  "status (nodes named generate, upload, rotate or show: see "
	  "keys)." },
	{ "fetch", 1, 1, AC_AUDIT, cmd_fetch, "fetch <node>",
	  "Fetch a node's key from the key server now and report the "
	  "outcome when it is known." },
	{ "forget key", 1, 1, AC_AUDIT, cmd_forget_key, "forget key <node>",
	  "Remove a node's key: state store, .pub file, inkeys; res_crypto "
	  "and chan_iax2 are reloaded (coalesced)." },
	{ "callers", 0, 1, 0, cmd_callers, "callers [N]",
	  "The N (default 20, at most 1000) most recent inbound fallback "
	  "callers." },
	{ "sync", 0, 0, AC_AUDIT, cmd_sync, "sync",
	  "Start a periodic-sync round now." },
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

/* ------------------------------------------------------------------ */
/* Listener and configuration                                          */

/* Bind the console listener on addr; 0 or -1 with *cause. */
static int
admin_listen(const char *addr, char **cause)
{
	struct sockaddr_storage	 ss, bound;
	socklen_t		 sl, boundlen = sizeof bound;
	struct evconnlistener	*l;
	struct logline		 line;
	char			 buf[ADDR_STR_MAX], *why = NULL;
	int			 fd = -1, one = 1;

	if (conf_parse_addr(addr, &ss, &sl, &why) == -1) {
		xasprintf(cause, "admin:listen: %s", why);
		free(why);
		return (-1);
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0);
	if (fd == -1)
		goto fail;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) == -1 ||
	    bind(fd, (struct sockaddr *)&ss, sl) == -1 ||
	    listen(fd, ADMIN_BACKLOG) == -1 ||
	    getsockname(fd, (struct sockaddr *)&bound, &boundlen) == -1)
		goto fail;
	l = evconnlistener_new(adm.base, admin_accept_cb, NULL,
	    LEV_OPT_CLOSE_ON_FREE, -1, fd);
	if (l == NULL)
		goto fail;
	evconnlistener_set_error_cb(l, admin_error_cb);
	if (adm.listener != NULL)
		evconnlistener_free(adm.listener);
	adm.listener = l;
	addr_format((struct sockaddr *)&bound, boundlen, adm.addrstr,
	    sizeof adm.addrstr);
	lf_begin(&line, LOG_L_INFO, "listen");
	lf_str(&line, "what", "admin");
	lf_str(&line, "addr", adm.addrstr);
	lf_emit(&line);
	return (0);
fail:
	xasprintf(cause, "listen %s: %s", addr_format((struct sockaddr *)&ss,
	    sl, buf, sizeof buf), strerror(errno));
	if (fd != -1)
		close(fd);
	return (-1);
}

/*
 * Start the console.  A listener that cannot be bound is logged as an
 * error and the daemon goes on without a console (the AGI service
 * matters more); SIGHUP tries again.  Returns 0.
 */
int
admin_init(struct event_base *base, const struct conf *conf, char **cause)
{
	adm.base = base;
	TAILQ_INIT(&adm.clients);
	adm.listen = xstrdup("");
	adm.password = xstrdup("");
	adm.up = 1;
	admin_apply(conf);
	return (0);
}

/*
 * Apply a configuration: limits and password at once (a changed password
 * logs every client out; without one, clients that are not on loopback
 * are closed); a new listen address is bound before the old listener
 * closes, and when that fails the old one stays.
 */
void
admin_apply(const struct conf *conf)
{
	struct admin_client	*c, *next;
	struct logline		 l;
	const char		*listen, *pw;
	char			*cause = NULL;

	if (!adm.up)
		return;
	adm.max_clients = conf_int(conf, "admin:max_clients");
	if (adm.idle_ms != conf_int(conf, "admin:idle_timeout_ms")) {
		adm.idle_ms = conf_int(conf, "admin:idle_timeout_ms");
		TAILQ_FOREACH(c, &adm.clients, entry)
			admin_timeouts(c);
	}
	pw = conf_str(conf, "admin:password");
	if (strcmp(pw, adm.password) != 0) {
		free(adm.password);
		adm.password = xstrdup(pw);
		TAILQ_FOREACH_SAFE(c, &adm.clients, entry, next) {
			if (c->state != A_OPEN)
				continue;
			c->authed = 0;
			if (*pw == '\0' && !c->loopback) {
				admin_printf(c, "# no password any more: "
				    "loopback clients only");
				admin_err(c, "console restricted to loopback "
				    "without a password");
				admin_close(c, "password removed", 1);
			}
		}
	}
	listen = conf_str(conf, "admin:listen");
	if (strcmp(listen, adm.listen) == 0 && (*listen == '\0' ||
	    adm.listener != NULL))
		return;
	if (*listen == '\0') {
		if (adm.listener != NULL)
			evconnlistener_free(adm.listener);
		adm.listener = NULL;
		adm.addrstr[0] = '\0';
		log_info("admin console off");
	} else if (admin_listen(listen, &cause) == -1) {
		lf_begin(&l, LOG_L_ERROR, "listen_failed");
		lf_str(&l, "what", "admin");
		lf_str(&l, "addr", listen);
		lf_str(&l, "reason", cause);
		lf_str(&l, "action", adm.listener != NULL ?
		    "old listener kept" : "no console");
		lf_emit(&l);
		free(cause);
		return;
	}
	free(adm.listen);
	adm.listen = xstrdup(listen);
}

/* Close every client and the listener (shutdown; before keys_free). */
void
admin_free(void)
{
	struct admin_client	*c;

	if (!adm.up) {
		keyops_free();
		return;
	}
	while ((c = TAILQ_FIRST(&adm.clients)) != NULL) {
		if (c->state == A_OPEN)
			admin_close(c, "shutdown", 0);
		else
			admin_destroy(c);
		TAILQ_REMOVE(&adm.clients, c, entry);
		free(c);
	}
	keyops_free();		/* after the clients stopped waiting */
	if (adm.listener != NULL)
		evconnlistener_free(adm.listener);
	if (adm.capture != NULL)
		evbuffer_free(adm.capture);
	adm.capture = NULL;
	adm.nwatchers = 0;
	admin_hook_update();
	free(adm.listen);
	free(adm.password);
	memset(&adm, 0, sizeof adm);
}

/* The console's bound address, or "" when it is off. */
const char *
admin_addr(void)
{
	return (adm.addrstr);
}

/* 1 for 127.0.0.0/8, ::1 and ::ffff:127.0.0.0/104. */
static int
admin_loopback(const struct sockaddr *sa)
{
	const struct sockaddr_in	*sin;
	const struct sockaddr_in6	*sin6;

	switch (sa->sa_family) {
	case AF_INET:
		sin = (const struct sockaddr_in *)sa;
		return ((ntohl(sin->sin_addr.s_addr) >> 24) == 127);
	case AF_INET6:
		sin6 = (const struct sockaddr_in6 *)sa;
		if (IN6_IS_ADDR_LOOPBACK(&sin6->sin6_addr))
			return (1);
		return (IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr) &&
		    sin6->sin6_addr.s6_addr[12] == 127);
	}
	return (0);
}

/* A connection: refuse it or start reading commands. */
static void
admin_accept_cb(struct evconnlistener *listener, evutil_socket_t fd,
    struct sockaddr *sa, int salen, void *arg)
{
	struct admin_client	*c;
	struct logline		 l;

	c = xcalloc(1, sizeof *c);
	console_in_init(&c->rd);
	c->id = ++adm.next_id;
	c->t_open = now_ms();
	c->loopback = admin_loopback(sa);
	addr_format(sa, salen, c->addr, sizeof c->addr);
	if (sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &((struct sockaddr_in *)sa)->sin_addr,
		    c->host, sizeof c->host);
	else if (sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((struct sockaddr_in6 *)sa)->sin6_addr,
		    c->host, sizeof c->host);
	c->bev = bufferevent_socket_new(adm.base, fd, BEV_OPT_CLOSE_ON_FREE);
	c->timer = evtimer_new(adm.base, admin_timer_cb, c);
	c->resume = event_new(adm.base, -1, 0, admin_resume_cb, c);
	if (c->bev == NULL || c->timer == NULL || c->resume == NULL)
		fatalx("admin: out of event resources");
	bufferevent_setcb(c->bev, admin_read_cb, admin_write_cb,
	    admin_event_cb, c);
	bufferevent_setwatermark(c->bev, EV_READ, 0, ADMIN_READ_HIGH);
	bufferevent_setwatermark(c->bev, EV_WRITE, ADMIN_OUT_LOW, 0);
	bufferevent_enable(c->bev, EV_READ);
	TAILQ_INSERT_TAIL(&adm.clients, c, entry);
	c->state = A_OPEN;
	adm.accepted++;

	if (*adm.password == '\0' && !c->loopback) {
		admin_refuse(c, "not_loopback", "console restricted to "
		    "loopback without a password");
		return;
	}
	if (adm.nclients >= adm.max_clients) {
		admin_refuse(c, "max_clients", "too many clients");
		return;
	}
	c->counted = 1;
	adm.nclients++;
	admin_timeouts(c);
	lf_begin(&l, LOG_L_INFO, "admin_open");
	lf_int(&l, "client", c->id);
	lf_str(&l, "addr", c->addr);
	lf_int(&l, "clients", adm.nclients);
	lf_emit(&l);
}

/* accept() failed (out of descriptors): say so; libevent goes on. */
static void
admin_error_cb(struct evconnlistener *listener, void *arg)
{
	log_warnx("admin accept: %s", strerror(EVUTIL_SOCKET_ERROR()));
}

/* Log a refusal, send one ERR line (reply may be NULL) and close. */
static void
admin_refuse(struct admin_client *c, const char *why, const char *reply)
{
	struct logline	l;

	adm.refused++;
	lf_begin(&l, LOG_L_WARN, "admin_refused");
	lf_int(&l, "client", c->id);
	lf_str(&l, "addr", c->addr);
	lf_str(&l, "reason", why);
	lf_emit(&l);
	if (reply != NULL)
		admin_err(c, "%s", reply);
	admin_close(c, NULL, 1);
}

/* ------------------------------------------------------------------ */
/* Client I/O                                                          */

/* Bytes arrived. */
static void
admin_read_cb(struct bufferevent *bev, void *arg)
{
	struct admin_client	*c = arg;
	struct evbuffer		*in = bufferevent_get_input(bev);

	if (c->state != A_OPEN) {
		evbuffer_drain(in, evbuffer_get_length(in));
		return;
	}
	admin_input(c);
}

/* The output drained below the low watermark (or completely). */
static void
admin_write_cb(struct bufferevent *bev, void *arg)
{
	struct admin_client	*c = arg;
	struct evbuffer		*out = bufferevent_get_output(bev);

	if (c->state == A_FLUSH) {
		if (evbuffer_get_length(out) == 0)
			admin_flushed(c);
		return;
	}
	if (c->state != A_OPEN)
		return;
	if (c->busy == B_WATCH && c->dropped > 0) {
		evbuffer_add_printf(out, "# dropped %llu lines\n",
		    (unsigned long long)c->dropped);
		c->dropped = 0;
	}
	if (c->busy == B_NONE && evbuffer_get_length(bufferevent_get_input(
	    bev)) > 0)
		event_active(c->resume, 0, 0);
}

/* EOF, error or timeout. */
static void
admin_event_cb(struct bufferevent *bev, short events, void *arg)
{
	struct admin_client	*c = arg;
	char			 buf[128];

	if (c->state == A_FLUSH) {
		/* After the client's EOF, what we write still goes out. */
		if ((events & BEV_EVENT_EOF) && evbuffer_get_length(
		    bufferevent_get_output(bev)) > 0) {
			c->eof = 1;
			return;
		}
		admin_destroy(c);
		return;
	}
	if (c->state != A_OPEN)
		return;
	if (events & BEV_EVENT_EOF) {
		/* End of input: what is queued runs, then we close. */
		c->eof = 1;
		admin_input(c);
		return;
	}
	if (events & BEV_EVENT_TIMEOUT) {
		if (events & BEV_EVENT_READING) {
			admin_err(c, "idle timeout");
			admin_close(c, "idle timeout", 1);
		} else
			admin_close(c, "write timeout", 0);
		return;
	}
	snprintf(buf, sizeof buf, "socket error: %s",
	    strerror(EVUTIL_SOCKET_ERROR()));
	admin_close(c, buf, 0);
}

/* The linger ended, or a slowed-down auth failure is due. */
static void
admin_timer_cb(int fd, short events, void *arg)
{
	struct admin_client	*c = arg;

	if (c->state == A_FLUSH) {
		admin_destroy(c);
		return;
	}
	if (c->state != A_OPEN || c->busy != B_DELAY)
		return;
	c->busy = B_NONE;
	admin_timeouts(c);
	admin_err(c, "authentication failed");
	if (c->failures >= ADMIN_AUTH_MAX) {
		admin_close(c, "authentication failures", 1);
		return;
	}
	admin_input(c);
}

/* A deferred reply was written: go on with the queued input. */
static void
admin_resume_cb(int fd, short events, void *arg)
{
	struct admin_client	*c = arg;

	if (c->state == A_OPEN)
		admin_input(c);
}

/* 1 while queued input must wait. */
static int
admin_blocked(struct admin_client *c)
{
	if (c->state != A_OPEN || c->busy == B_FETCH || c->busy == B_DELAY ||
	    c->busy == B_KEYOP)
		return (1);
	return (c->busy == B_NONE && evbuffer_get_length(
	    bufferevent_get_output(c->bev)) > ADMIN_OUT_MAX);
}

/*
 * Take bytes from the input while nothing blocks: telnet commands are
 * consumed, text is gathered into lines, and each line runs at once.
 * At EOF with nothing left to wait for, close.
 */
static void
admin_input(struct admin_client *c)
{
	struct evbuffer	*in = bufferevent_get_input(c->bev);
	unsigned char	*p;
	size_t		 n, used;
	enum console_rc	 rc;

	while (!admin_blocked(c)) {
		if ((n = evbuffer_get_contiguous_space(in)) == 0)
			break;
		p = evbuffer_pullup(in, n);
		rc = console_feed(&c->rd, p, n, &used);
		evbuffer_drain(in, used);
		if (rc == CONSOLE_TOOLONG) {
			admin_err(c, "line too long");
			admin_close(c, "line too long", 1);
			return;
		}
		if (rc == CONSOLE_LINE)
			admin_line(c, c->rd.line);
	}
	/* At EOF an unterminated last line counts as a line. */
	if (c->eof && !admin_blocked(c) && c->busy == B_NONE &&
	    evbuffer_get_length(in) == 0 && console_flush(&c->rd))
		admin_line(c, c->rd.line);
	if (c->state == A_OPEN && c->eof && (c->busy == B_NONE ||
	    c->busy == B_WATCH) && evbuffer_get_length(in) == 0) {
		if (c->busy == B_WATCH)
			admin_watch_stop(c);
		admin_close(c, "closed by client", 1);
	}
}

/*
 * Close: log (reason NULL: a refused client, already logged), cancel
 * what runs for the client and, with flush, write what is queued first
 * (bounded by the idle timeout for writes).
 */
static void
admin_close(struct admin_client *c, const char *reason, int flush)
{
	struct timeval	tv = { adm.idle_ms / 1000,
			    (adm.idle_ms % 1000) * 1000 };
	struct logline	l;

	if (c->state != A_OPEN)
		return;
	if (reason != NULL) {
		lf_begin(&l, LOG_L_INFO, "admin_close");
		lf_int(&l, "client", c->id);
		lf_str(&l, "addr", c->addr);
		lf_int(&l, "commands", c->commands);
		lf_int(&l, "ms", now_ms() - c->t_open);
		lf_str(&l, "reason", reason);
		lf_emit(&l);
	}
	if (c->busy == B_WATCH)
		admin_watch_stop(c);
	if (c->waiter != NULL)
		keys_cancel(c->waiter);
	c->waiter = NULL;
	keyops_cancel(c->keyop);	/* it runs to its end anyway */
	c->keyop = NULL;
	c->busy = B_NONE;
	if (c->counted)
		adm.nclients--;
	c->counted = 0;
	evtimer_del(c->timer);
	event_del(c->resume);
	if (!flush) {
		admin_destroy(c);
		return;
	}
	c->state = A_FLUSH;
	bufferevent_set_timeouts(c->bev, NULL, &tv);
	bufferevent_setwatermark(c->bev, EV_READ, 0, 0);
	bufferevent_setwatermark(c->bev, EV_WRITE, 0, 0);
	/* Read (and drop) until EOF, so that closing sends no reset. */
	bufferevent_enable(c->bev, c->eof ? EV_WRITE : EV_READ | EV_WRITE);
	if (evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
		admin_flushed(c);
}

/* Everything is written: shut our side, then wait briefly for EOF. */
static void
admin_flushed(struct admin_client *c)
{
	struct timeval	tv = { ADMIN_LINGER_MS / 1000,
			    (ADMIN_LINGER_MS % 1000) * 1000 };

	shutdown(bufferevent_getfd(c->bev), SHUT_WR);
	if (c->eof) {
		admin_destroy(c);
		return;
	}
	if (!evtimer_pending(c->timer, NULL))
		evtimer_add(c->timer, &tv);
}

/* Free the socket now and the client on a later loop turn. */
static void
admin_destroy(struct admin_client *c)
{
	if (c->state == A_CLOSED)
		return;
	c->state = A_CLOSED;
	bufferevent_free(c->bev);
	c->bev = NULL;
	event_free(c->timer);
	c->timer = NULL;
	event_free(c->resume);
	c->resume = NULL;
	if (adm.base != NULL && event_base_once(adm.base, -1, EV_TIMEOUT,
	    admin_free_cb, c, NULL) == -1)
		fatalx("admin: event_base_once failed");
}

/* The deferred free. */
static void
admin_free_cb(int fd, short events, void *arg)
{
	struct admin_client	*c = arg;

	TAILQ_REMOVE(&adm.clients, c, entry);
	free(c);
}

/* ------------------------------------------------------------------ */
/* Replies                                                             */

/* One data line; a line that would read as a final one is indented. */
static void
admin_printf(struct admin_client *c, const char *fmt, ...)
{
	struct evbuffer	*out;
	char		 buf[CONSOLE_LINE_MAX];
	va_list		 ap;
	int		 n;
	char		*p;

	if (c->state != A_OPEN)
		return;
	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	for (p = buf; *p != '\0'; p++) {
		if (*p == '\n' || *p == '\r')
			*p = ' ';
	}
	out = bufferevent_get_output(c->bev);
	if (strncmp(buf, "OK", 2) == 0 || strncmp(buf, "ERR", 3) == 0)
		evbuffer_add(out, " ", 1);
	evbuffer_add(out, buf, strlen(buf));
	evbuffer_add(out, "\n", 1);
}

/* The final line of a successful reply. */
static void
admin_ok(struct admin_client *c)
{
	if (c->state == A_OPEN)
		evbuffer_add(bufferevent_get_output(c->bev), "OK\n", 3);
}

/* The final line of a failed reply. */
static void
admin_err(struct admin_client *c, const char *fmt, ...)
{
	char	buf[512];
	va_list	ap;
	char	*p;

	if (c->state != A_OPEN)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	for (p = buf; *p != '\0'; p++) {
		if (*p == '\n' || *p == '\r')
			*p = ' ';
	}
	evbuffer_add_printf(bufferevent_get_output(c->bev), "ERR %s\n", buf);
}

/* Log a command that changes state (arg may be NULL). */
static void
admin_audit(struct admin_client *c, const char *cmd, const char *arg,
    const char *result)
{
	struct logline	l;

	lf_begin(&l, LOG_L_INFO, "admin_command");
	lf_int(&l, "client", c->id);
	lf_str(&l, "addr", c->addr);
	lf_str(&l, "cmd", cmd);
	lf_str(&l, "arg", arg);
	lf_str(&l, "result", result);
	lf_emit(&l);
}

/* A value made safe to print: escaped (and quoted) as in the log. */
static const char *
admin_esc(char *buf, size_t size, const char *s)
{
	if (s == NULL || *s == '\0')
		strlcpy_(buf, "-", size);
	else
		log_escape(buf, size, s, strlen(s));
	return (buf);
}

/* A Unix time as ISO 8601 UTC, or "never". */
static const char *
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
static const char *
admin_col(sqlite3_stmt *st, int i)
{
	const unsigned char	*s = sqlite3_column_text(st, i);

	return (s == NULL ? "" : (const char *)s);
}

/* 1 for a glob of name characters and * ? [ ] ! ^, of sane length. */
static int
admin_glob_ok(const char *g)
{
	size_t	n = strlen(g);

	return (n >= 1 && n <= ADMIN_GLOB_MAX &&
	    strspn(g, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	    "0123456789._-*?[]!^") == n);
}

/* Say when a change of generation gen reaches Asterisk. */
static void
admin_reload_note(struct admin_client *c, uint64_t gen)
{
	switch (conf_enum(ikd->conf, "asterisk:reload")) {
	case CFG_RELOAD_AGI:
		if (gen != 0 && reload_covered(gen))
			admin_printf(c, "  reload     done");
		else
			admin_printf(c, "  reload     pending: reload = agi "
			    "runs it with the next call");
		break;
	case CFG_RELOAD_NONE:
		admin_printf(c, "  reload     none (reload = none)");
		break;
	default:
		admin_printf(c, "  reload     requested (reload = %s); see "
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

/* One complete line. */
static void
admin_line(struct admin_client *c, char *line)
{
	const struct admin_cmd	*cmd;
	char			*argv[ADMIN_ARGS_MAX], what[64];
	const char		*cause = NULL;
	size_t			 i;
	int			 argc, words, first;

	if (console_is_http(line)) {
		admin_refuse(c, "http", NULL);
		return;
	}
	if (c->busy == B_WATCH) {
		admin_watch_stop(c);
		admin_ok(c);
		return;
	}
	if ((argc = console_split(line, argv, ADMIN_ARGS_MAX, &cause)) == -1) {
		admin_err(c, "%s", cause);
		return;
	}
	if (argc == 0)
		return;			/* an empty line gets no reply */
	c->commands++;
	adm.commands++;
	if ((cmd = admin_find(argc, argv, &words)) == NULL) {
		first = 0;
		for (i = 0; i < ADMIN_NCMDS; i++) {
			const char *sp = strchr(admin_cmds[i].name, ' ');

			if (sp != NULL && strlen(argv[0]) ==
			    (size_t)(sp - admin_cmds[i].name) &&
			    strncasecmp(argv[0], admin_cmds[i].name,
			    sp - admin_cmds[i].name) == 0) {
				if (first++ == 0)
					admin_printf(c, "  usage:");
				admin_printf(c, "    %s", admin_cmds[i].usage);
			}
		}
		if (first > 0) {
			admin_err(c, "incomplete command");
			return;
		}
		admin_err(c, "unknown command %s; try help", admin_esc(what,
		    sizeof what, argv[0]));
		return;
	}
	if (*adm.password != '\0' && !c->authed &&
	    !(cmd->flags & AC_NOAUTH)) {
		admin_err(c, "authentication required");
		return;
	}
	argc -= words;
	if (argc < cmd->minargs || argc > cmd->maxargs) {
		admin_err(c, "usage: %s", cmd->usage);
		return;
	}
	if (!(cmd->flags & AC_AUDIT) && log_enabled(LOG_L_DEBUG)) {
		struct logline l;

		lf_begin(&l, LOG_L_DEBUG, "admin_command");
		lf_int(&l, "client", c->id);
		lf_str(&l, "cmd", cmd->name);
		lf_emit(&l);
	}
	cmd->run(c, argc, argv + words);
}

/* ------------------------------------------------------------------ */
/* Commands                                                            */

/* help [command] */
static void
cmd_help(struct admin_client *c, int argc, char **argv)
{
	const struct admin_cmd	*cmd;
	char			 what[64];
	size_t			 i, n;
	int			 found = 0;

	if (argc == 0) {
		admin_printf(c, "  Commands (help <command> for more):");
		for (i = 0; i < ADMIN_NCMDS; i++) {
			if (*adm.password != '\0' && (admin_cmds[i].flags &
			    AC_NOAUTH))
				admin_printf(c, "    %-36s (before auth too)",
				    admin_cmds[i].usage);
			else
				admin_printf(c, "    %s", admin_cmds[i].usage);
		}
		admin_printf(c, "  Every reply ends with a line OK or "
		    "ERR <reason>.");
		admin_ok(c);
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
		admin_printf(c, "  %s", cmd->usage);
		admin_printf(c, "    %s", cmd->help);
		found++;
	}
	if (found == 0) {
		admin_err(c, "no such command %s", admin_esc(what,
		    sizeof what, argv[0]));
		return;
	}
	admin_ok(c);
}

/* Constant-time comparison with the configured password. */
static int
admin_password_ok(const char *given)
{
	char	a[65], b[65];

	/* Equal-length digests: the time depends on neither length. */
	rsakey_sha256_hex(given, strlen(given), a);
	rsakey_sha256_hex(adm.password, strlen(adm.password), b);
	return (CRYPTO_memcmp(a, b, 64) == 0);
}

/* The failure record of an address; create evicts the oldest. */
static struct admin_host *
admin_host(const char *host, int create)
{
	struct admin_host	*h, *old = NULL;
	time_t			 now = time(NULL);
	size_t			 i;

	for (i = 0; i < ADMIN_AUTH_HOSTS; i++) {
		h = &adm.hosts[i];
		if (h->host[0] != '\0' && now - h->last > ADMIN_AUTH_FORGET_S)
			memset(h, 0, sizeof *h);
		if (h->host[0] != '\0' && strcmp(h->host, host) == 0)
			return (h);
		if (old == NULL || h->host[0] == '\0' || (old->host[0] !=
		    '\0' && h->last < old->last))
			old = h;
	}
	if (!create)
		return (NULL);
	memset(old, 0, sizeof *old);
	strlcpy_(old->host, host, sizeof old->host);
	return (old);
}

/* auth <password> */
static void
cmd_auth(struct admin_client *c, int argc, char **argv)
{
	struct admin_host	*h;
	struct logline		 l;
	struct timeval		 tv;
	int			 delay;

	if (*adm.password == '\0') {
		admin_printf(c, "  no password is configured");
		admin_ok(c);
		return;
	}
	if (admin_password_ok(argv[0])) {
		c->authed = 1;
		if ((h = admin_host(c->host, 0)) != NULL)
			memset(h, 0, sizeof *h);
		lf_begin(&l, LOG_L_INFO, "admin_auth");
		lf_str(&l, "result", "ok");
		lf_str(&l, "addr", c->addr);
		lf_int(&l, "client", c->id);
		lf_emit(&l);
		admin_ok(c);
		return;
	}
	c->authed = 0;
	h = admin_host(c->host, 1);
	h->failures++;
	h->last = time(NULL);
	c->failures = h->failures;
	adm.auth_failures++;
	lf_begin(&l, LOG_L_WARN, "admin_auth");
	lf_str(&l, "result", "fail");
	lf_str(&l, "addr", c->addr);
	lf_int(&l, "client", c->id);
	lf_int(&l, "failures", h->failures);
	lf_emit(&l);
	if (h->failures <= ADMIN_AUTH_FREE) {
		admin_err(c, "authentication failed");
		return;
	}
	delay = h->failures - ADMIN_AUTH_FREE;
	if (delay > ADMIN_AUTH_DELAY_MAX)
		delay = ADMIN_AUTH_DELAY_MAX;
	tv.tv_sec = delay;
	tv.tv_usec = 0;
	c->busy = B_DELAY;
	admin_timeouts(c);
	evtimer_add(c->timer, &tv);
}

/* quit */
static void
cmd_quit(struct admin_client *c, int argc, char **argv)
{
	admin_ok(c);
	admin_close(c, "quit", 1);
}

/* status */
static void
cmd_status(struct admin_client *c, int argc, char **argv)
{
	const struct reload_stats	*rs = reload_stats();
	const struct keys_stats		*ks = keys_stats();
	const struct admin_script	*sc;
	struct evbuffer			*b;
	char				 t[32], *line;
	long long			 up;
	const char			*addr;
	int				 i, j, open;

	up = (long long)time(NULL) - (long long)ikd->started.tv_sec;
	if (up < 0)
		up = 0;
	admin_printf(c, "  version      %s", IAXKEYD_VERSION);
	admin_printf(c, "  started      %s", admin_time(t, sizeof t,
	    ikd->started.tv_sec));
	admin_printf(c, "  uptime       %lldd %02lld:%02lld:%02lld (%lld s)",
	    up / 86400, up / 3600 % 24, up / 60 % 60, up % 60, up);
	admin_printf(c, "  config       %s", ikd->conf_path);
	addr = server_addr(&open);
	admin_printf(c, "  agi listen   %s%s", addr,
	    open ? "" : " (closed: max_sessions reached)");
	admin_printf(c, "  admin listen %s", adm.addrstr[0] != '\0' ?
	    adm.addrstr : "none");
	admin_printf(c, "  sessions     active %d, total %llu",
	    server_active(), (unsigned long long)server_stats()->accepted);
	for (i = 0; i < admin_nscripts; i++) {
		sc = &admin_scripts[i];
		if (strcmp(sc->name, "outbound") != 0 &&
		    strcmp(sc->name, "inbound") != 0)
			continue;
		b = evbuffer_new();
		for (j = 0; j < sc->nstatus; j++)
			evbuffer_add_printf(b, "%s%s %llu", j > 0 ? ", " : "",
			    sc->status[j].name,
			    (unsigned long long)sc->status[j].n);
		evbuffer_add(b, "", 1);
		line = (char *)evbuffer_pullup(b, -1);
		admin_printf(c, "  %-12s %s", sc->name, line);
		evbuffer_free(b);
	}
	admin_printf(c, "  reloads      %llu (ok %llu, failed %llu, refused "
	    "%llu), last %s in %d ms, backend %s",
	    (unsigned long long)(rs->ok + rs->failed),
	    (unsigned long long)rs->ok, (unsigned long long)rs->failed,
	    (unsigned long long)rs->refused, rs->ok + rs->failed == 0 ?
	    "none" : rs->last_ok ? "ok" : "failed", rs->last_ms,
	    conf_str(ikd->conf, "asterisk:reload"));
	admin_printf(c, "  outbound as  mode %s, RSA leg user %s",
	    conf_str(ikd->conf, "outbound:mode"),
	    conf_str(ikd->conf, "outbound:rsa_user"));
	if (conf_enum(ikd->conf, "inbound:inkeys") == CFG_INKEYS_SHARED)
		admin_printf(c, "  inkeys       shared, on user %s",
		    conf_str(ikd->conf, "inbound:user"));
	else
		admin_printf(c, "  inkeys       per-node, sections from %s; "
		    "first contact on the MD5 user (%s)",
		    conf_str(ikd->conf, "inbound:template"),
		    conf_str(ikd->conf, "inbound:user"));
	admin_printf(c, "  key fetches  in flight %d, ok %llu, failed %llu",
	    ks->inflight, (unsigned long long)ks->ok,
	    (unsigned long long)ks->failed);
	admin_printf(c, "  log level    %s", log_level_name(log_get_level()));
	admin_printf(c, "  console      clients %d, watching %d",
	    adm.nclients, adm.nwatchers);
	admin_ok(c);
}

/* sessions */
static void
cmd_sessions(struct admin_client *c, int argc, char **argv)
{
	struct session	*s;
	uint64_t	 now = now_ms(), age;
	char		 ch[256], uid[128], sc[96];
	int		 n = 0;

	admin_printf(c, "  %-12s %-10s %-8s %9s  %-32s %s", "ID", "SCRIPT",
	    "STATE", "AGE", "CHANNEL", "UNIQUEID");
	TAILQ_FOREACH(s, server_sessions(), entry) {
		if (n++ >= ADMIN_ROWS_MAX)
			continue;
		age = now - s->t_start;
		admin_printf(c, "  %012llx %-10s %-8s %5llu.%03us  %-32s %s",
		    (unsigned long long)s->id, admin_esc(sc, sizeof sc,
		    s->script), session_state_name(s->state),
		    (unsigned long long)(age / 1000), (unsigned)(age % 1000),
		    admin_esc(ch, sizeof ch, agi_env_get(&s->env,
		    "agi_channel")), admin_esc(uid, sizeof uid,
		    agi_env_get(&s->env, "agi_uniqueid")));
	}
	if (n > ADMIN_ROWS_MAX)
		admin_printf(c, "  (%d more not shown)", n - ADMIN_ROWS_MAX);
	admin_printf(c, "  (%d session%s, %d active)", n, n == 1 ? "" : "s",
	    server_active());
	admin_ok(c);
}

/* Check a listing's glob and get its statement; NULL after an ERR. */
static sqlite3_stmt *
admin_list_start(struct admin_client *c, const char *glob, const char *sql)
{
	sqlite3_stmt	*st;

	if (glob != NULL && !admin_glob_ok(glob)) {
		admin_err(c, "bad glob: name characters and * ? [ ] ! only, "
		    "at most %d", ADMIN_GLOB_MAX);
		return (NULL);
	}
	if ((st = store_stmt(ikd->store, sql)) == NULL)
		admin_err(c, "state store: %s", store_errmsg(ikd->store));
	return (st);
}

/* peers [glob] */
static void
cmd_peers(struct admin_client *c, int argc, char **argv)
{
	sqlite3_stmt	*st;
	const char	*glob = argc > 0 ? argv[0] : NULL;
	char		 host[96], user[96], t[32];
	int		 rc, n = 0;

	if ((st = admin_list_start(c, glob, sql_peers)) == NULL)
		return;
	admin_printf(c, "  %-40s %-24s %5s %-16s %6s  %s", "NAME", "HOST",
	    "PORT", "USER", "USES", "LAST_USED");
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (glob != NULL && fnmatch(glob, admin_col(st, 0), 0) != 0)
			continue;
		if (n++ >= ADMIN_ROWS_MAX)
			break;
		admin_printf(c, "  %-40s %-24s %5d %-16s %6lld  %s",
		    admin_col(st, 0), admin_esc(host, sizeof host,
		    admin_col(st, 1)), sqlite3_column_int(st, 2),
		    admin_esc(user, sizeof user, admin_col(st, 3)),
		    (long long)sqlite3_column_int64(st, 4), admin_time(t,
		    sizeof t, sqlite3_column_int64(st, 5)));
	}
	sqlite3_reset(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		admin_err(c, "state store: %s", store_errmsg(ikd->store));
		return;
	}
	if (n > ADMIN_ROWS_MAX)
		admin_printf(c, "  (more than %d; narrow the glob)",
		    ADMIN_ROWS_MAX);
	else
		admin_printf(c, "  (%d peer%s)", n, n == 1 ? "" : "s");
	admin_ok(c);
}

/* peer <name> */
static void
cmd_peer(struct admin_client *c, int argc, char **argv)
{
	sqlite3_stmt	*st;
	char		 b[96], t[32];
	int		 rc;
	uint64_t	 gen;

	if (!astconf_name_ok(argv[0])) {
		admin_err(c, "bad name: [A-Za-z0-9._-], at most %d",
		    ASTCONF_NAME_MAX);
		return;
	}
	if ((st = store_stmt(ikd->store, sql_peer)) == NULL) {
		admin_err(c, "state store: %s", store_errmsg(ikd->store));
		return;
	}
	sqlite3_bind_text(st, 1, argv[0], -1, SQLITE_STATIC);
	if ((rc = sqlite3_step(st)) != SQLITE_ROW) {
		sqlite3_reset(st);
		if (rc == SQLITE_DONE)
			admin_err(c, "no such peer");
		else
			admin_err(c, "state store: %s",
			    store_errmsg(ikd->store));
		return;
	}
	admin_printf(c, "  name       %s", admin_col(st, 0));
	admin_printf(c, "  host       %s", admin_esc(b, sizeof b,
	    admin_col(st, 1)));
	admin_printf(c, "  port       %d", sqlite3_column_int(st, 2));
	admin_printf(c, "  user       %s", admin_esc(b, sizeof b,
	    admin_col(st, 3)));
	admin_printf(c, "  secret     %s", sqlite3_column_int(st, 4) ?
	    "(set)" : "(unset)");
	admin_printf(c, "  created    %s", admin_time(t, sizeof t,
	    sqlite3_column_int64(st, 5)));
	admin_printf(c, "  last used  %s", admin_time(t, sizeof t,
	    sqlite3_column_int64(st, 6)));
	admin_printf(c, "  uses       %lld",
	    (long long)sqlite3_column_int64(st, 7));
	gen = (uint64_t)sqlite3_column_int64(st, 8);
	admin_printf(c, "  loaded     %s", reload_covered(gen) ? "yes" :
	    "no: waiting for a reload");
	admin_printf(c, "  dial       IAX2/%s/<exten>", admin_col(st, 0));
	sqlite3_reset(st);
	admin_ok(c);
}

/* What "forget peer" and "forget key" differ in. */
struct admin_forget {
	const char	*cmd;		/* "forget peer" */
	const char	*what;		/* "peer" */
	const char	*stores;	/* where it is removed from */
	const char	*file;		/* the rendered file's name */
	const char	*filekey;	/* its configuration key */
	int		(*forget)(const char *, char **);
	int		(*flush)(char **);
};

/*
 * Remove one entry from the state store (and its files), then write the
 * rendered file at once so it follows the store; the reload stays
 * coalesced.  The name was validated by the caller.
 */
static void
admin_forget(struct admin_client *c, const struct admin_forget *f,
    const char *name)
{
	char	*cause = NULL;
	int	 rc;

	if ((rc = f->forget(name, &cause)) <= 0) {
		admin_audit(c, f->cmd, name, rc == 0 ? "unknown" : "error");
		if (rc == 0)
			admin_err(c, "no such %s", f->what);
		else
			admin_err(c, "%s", cause);
		free(cause);
		return;
	}
	admin_audit(c, f->cmd, name, "ok");
	admin_printf(c, "  removed    %s (%s)", name, f->stores);
	if (f->flush(&cause) == -1) {
		admin_err(c, "%s not written: %s", f->file, cause);
		free(cause);
		return;
	}
	admin_printf(c, "  %-10s %s", f->file, conf_str(ikd->conf, f->filekey));
	admin_reload_note(c, 0);
	admin_ok(c);
}

/* forget peer <name> */
static void
cmd_forget_peer(struct admin_client *c, int argc, char **argv)
{
	static const struct admin_forget f = {
		"forget peer", "peer", "state store", "peers file",
		"outbound:peers_file", peers_forget, peers_flush
	};

	if (!astconf_name_ok(argv[0])) {
		admin_err(c, "bad name: [A-Za-z0-9._-], at most %d",
		    ASTCONF_NAME_MAX);
		return;
	}
	admin_forget(c, &f, argv[0]);
}

/* keys [glob] */
static void
cmd_keys(struct admin_client *c, int argc, char **argv)
{
	sqlite3_stmt	*st;
	const char	*glob = argc > 0 ? argv[0] : NULL;
	char		 t[32], fpr[96], status[48];
	int		 rc, n = 0;

	if ((st = admin_list_start(c, glob, sql_keys)) == NULL)
		return;
	admin_printf(c, "  %-24s %4s %-12s %-9s %-20s  %s", "NODE", "BITS",
	    "STATUS", "INSTALLED", "FETCHED", "FINGERPRINT");
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (glob != NULL && fnmatch(glob, admin_col(st, 0), 0) != 0)
			continue;
		if (n++ >= ADMIN_ROWS_MAX)
			break;
		admin_printf(c, "  %-24s %4d %-12s %-9s %-20s  %s",
		    admin_col(st, 0), sqlite3_column_int(st, 1),
		    admin_esc(status, sizeof status, admin_col(st, 2)),
		    sqlite3_column_int(st, 3) ? "yes" : "no",
		    admin_time(t, sizeof t, sqlite3_column_int64(st, 4)),
		    admin_esc(fpr, sizeof fpr, admin_col(st, 5)));
	}
	sqlite3_reset(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		admin_err(c, "state store: %s", store_errmsg(ikd->store));
		return;
	}
	if (n > ADMIN_ROWS_MAX)
		admin_printf(c, "  (more than %d; narrow the glob)",
		    ADMIN_ROWS_MAX);
	else
		admin_printf(c, "  (%d key%s)", n, n == 1 ? "" : "s");
	admin_ok(c);
}

/* key <node> */
static void
cmd_key(struct admin_client *c, int argc, char **argv)
{
	sqlite3_stmt	*st;
	char		 b[128], t[32], *path;
	int		 rc, installed;

	if (!keys_node_ok(argv[0])) {
		admin_err(c, "bad node name: [A-Za-z0-9._-], at most %d",
		    KEYS_NODE_MAX);
		return;
	}
	if ((st = store_stmt(ikd->store, sql_key)) == NULL) {
		admin_err(c, "state store: %s", store_errmsg(ikd->store));
		return;
	}
	sqlite3_bind_text(st, 1, argv[0], -1, SQLITE_STATIC);
	if ((rc = sqlite3_step(st)) != SQLITE_ROW) {
		sqlite3_reset(st);
		if (rc == SQLITE_DONE)
			admin_err(c, "no such key");
		else
			admin_err(c, "state store: %s",
			    store_errmsg(ikd->store));
		return;
	}
	installed = sqlite3_column_int(st, 8);
	admin_printf(c, "  node        %s", admin_col(st, 0));
	admin_printf(c, "  name        %s", admin_esc(b, sizeof b,
	    admin_col(st, 1)));
	admin_printf(c, "  fingerprint %s", admin_esc(b, sizeof b,
	    admin_col(st, 2)));
	admin_printf(c, "  bits        %d", sqlite3_column_int(st, 3));
	admin_printf(c, "  source      %s", admin_esc(b, sizeof b,
	    admin_col(st, 4)));
	admin_printf(c, "  fetched     %s", admin_time(t, sizeof t,
	    sqlite3_column_int64(st, 5)));
	admin_printf(c, "  changed     %s", admin_time(t, sizeof t,
	    sqlite3_column_int64(st, 6)));
	admin_printf(c, "  status      %s", admin_esc(b, sizeof b,
	    admin_col(st, 7)));
	admin_printf(c, "  installed   %s", installed ? "yes" : "no");
	if (installed) {
		xasprintf(&path, "%s/%s.pub", conf_str(ikd->conf,
		    "asterisk:key_dir"), admin_col(st, 1));
		admin_printf(c, "  file        %s%s", path, access(path, F_OK)
		    == 0 ? "" : " (missing)");
		free(path);
	}
	sqlite3_reset(st);
	admin_ok(c);
}

/* key generate */
static void
cmd_key_generate(struct admin_client *c, int argc, char **argv)
{
	char	*key = NULL, *pub = NULL, *cause = NULL, fpr[72];

	if (keyops_generate(&key, &pub, fpr, sizeof fpr, &cause) == -1) {
		admin_audit(c, "key generate", NULL, "error");
		admin_err(c, "%s", cause);
	} else {
		admin_audit(c, "key generate", NULL, "ok");
		admin_printf(c, "  key         %s", key);
		admin_printf(c, "  pub         %s", pub);
		admin_printf(c, "  fingerprint %s", fpr);
		admin_printf(c, "  next        key upload");
		admin_ok(c);
	}
	free(cause);
	free(key);
	free(pub);
}

/* key upload, key rotate: the reply waits for the key server. */
static void
admin_keyop_start(struct admin_client *c, int rotate)
{
	const char	*what = rotate ? "key rotate" : "key upload";
	char		*cause = NULL;

	if (keyops_upload(rotate, admin_keyop_cb, c, &c->keyop,
	    &cause) == -1) {
		admin_audit(c, what, NULL, "error");
		admin_err(c, "%s", cause);
		free(cause);
		return;
	}
	admin_audit(c, what, NULL, "started");
	c->busy = B_KEYOP;
	admin_timeouts(c);
}

/* key upload */
static void
cmd_key_upload(struct admin_client *c, int argc, char **argv)
{
	admin_keyop_start(c, 0);
}

/* key rotate */
static void
cmd_key_rotate(struct admin_client *c, int argc, char **argv)
{
	admin_keyop_start(c, 1);
}

/* The upload or rotation a client waits for has ended. */
static void
admin_keyop_cb(void *arg, const struct keyops_result *r)
{
	struct admin_client	*c = arg;

	c->keyop = NULL;
	c->busy = B_NONE;
	if (c->state != A_OPEN)
		return;
	admin_timeouts(c);
	admin_printf(c, "  result      %s", r->ok ? "ok" : "failed");
	if (r->status != 0)
		admin_printf(c, "  http        %ld", r->status);
	if (r->old_fingerprint != NULL)
		admin_printf(c, "  old         %s%s", r->old_fingerprint,
		    r->ok ? " (replaced)" : " (still in use)");
	admin_printf(c, "  fingerprint %s%s", r->fingerprint, r->ok ?
	    " (confirmed by the key server)" : "");
	if (r->kept_new)
		admin_printf(c, "  new files   kept: the key server may have "
		    "the new key (see key show)");
	admin_printf(c, "  ms          %llu", (unsigned long long)r->ms);
	if (r->gen != 0) {
		admin_printf(c, "  modules     res_crypto");
		admin_reload_note(c, r->gen);
	}
	if (r->ok)
		admin_ok(c);
	else
		admin_err(c, "%s failed: %s", r->what, r->reason);
	event_active(c->resume, 0, 0);
}

/* One line of key show. */
static void
admin_show_line(void *arg, const char *line)
{
	admin_printf(arg, "%s", line);
}

/* key show */
static void
cmd_key_show(struct admin_client *c, int argc, char **argv)
{
	char	*cause = NULL;

	if (keyops_show(admin_show_line, c, &cause) == -1) {
		admin_err(c, "%s", cause);
		free(cause);
		return;
	}
	admin_ok(c);
}

/* fetch <node>: the reply waits for the outcome. */
static void
cmd_fetch(struct admin_client *c, int argc, char **argv)
{
	struct key_result	r;

	if (!keys_node_ok(argv[0])) {
		admin_err(c, "bad node name: [A-Za-z0-9._-], at most %d",
		    KEYS_NODE_MAX);
		return;
	}
	admin_audit(c, "fetch", argv[0], "started");
	strlcpy_(c->node, argv[0], sizeof c->node);
	c->t_fetch = now_ms();
	if (keys_fetch(c->node, "console", 1, admin_fetch_cb, c, &r,
	    &c->waiter) == 1) {
		admin_fetch_report(c, &r);
		return;
	}
	c->busy = B_FETCH;
	admin_timeouts(c);
}

/* The fetch a client waits for has ended. */
static void
admin_fetch_cb(void *arg, const struct key_result *r)
{
	struct admin_client	*c = arg;

	c->waiter = NULL;		/* keys.c frees it */
	c->busy = B_NONE;
	if (c->state != A_OPEN)
		return;
	admin_timeouts(c);
	admin_fetch_report(c, r);
	event_active(c->resume, 0, 0);
}

/* Write the outcome of a fetch. */
static void
admin_fetch_report(struct admin_client *c, const struct key_result *r)
{
	char	b[512], *cause = NULL;
	int	ok = r->outcome == KEY_NEW || r->outcome == KEY_UPDATED ||
		    r->outcome == KEY_UNCHANGED;

	admin_printf(c, "  node        %s", c->node);
	admin_printf(c, "  result      %s", key_outcome_name(r->outcome));
	if (r->fingerprint != NULL)
		admin_printf(c, "  fingerprint %s", r->fingerprint);
	if (r->reason != NULL)
		admin_printf(c, "  reason      %s", admin_esc(b, sizeof b,
		    r->reason));
	admin_printf(c, "  ms          %llu",
	    (unsigned long long)(now_ms() - c->t_fetch));
	if (r->outcome == KEY_NEW || r->outcome == KEY_UPDATED) {
		/* The users file follows the store now, as for forget. */
		if (keys_flush(&cause) == -1) {
			admin_err(c, "users file not written: %s", cause);
			free(cause);
			return;
		}
		admin_reload_note(c, r->gen);
	}
	if (ok)
		admin_ok(c);
	else
		admin_err(c, "fetch %s", key_outcome_name(r->outcome));
}

/* forget key <node> */
static void
cmd_forget_key(struct admin_client *c, int argc, char **argv)
{
	static const struct admin_forget f = {
		"forget key", "key", "state store, key file", "users file",
		"inbound:users_file", keys_forget, keys_flush
	};

	if (!keys_node_ok(argv[0])) {
		admin_err(c, "bad node name: [A-Za-z0-9._-], at most %d",
		    KEYS_NODE_MAX);
		return;
	}
	admin_forget(c, &f, argv[0]);
}

/* callers [N] */
static void
cmd_callers(struct admin_client *c, int argc, char **argv)
{
	sqlite3_stmt	*st;
	long long	 n = ADMIN_CALLERS_DEF;
	const char	*err;
	char		 a[80], t[32], res[48];
	int		 rc, rows = 0;

	if (argc > 0 && strtonum_(argv[0], 1, ADMIN_CALLERS_MAX, &n,
	    &err) == -1) {
		admin_err(c, "N must be 1 to %d", ADMIN_CALLERS_MAX);
		return;
	}
	if ((st = store_stmt(ikd->store, sql_callers)) == NULL) {
		admin_err(c, "state store: %s", store_errmsg(ikd->store));
		return;
	}
	sqlite3_bind_int64(st, 1, n);
	admin_printf(c, "  %-24s %-40s %6s %-20s  %s", "NODE", "ADDRESS",
	    "COUNT", "LAST_SEEN", "LAST_RESULT");
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		rows++;
		admin_printf(c, "  %-24s %-40s %6lld %-20s  %s",
		    admin_col(st, 0), admin_esc(a, sizeof a,
		    admin_col(st, 1)), (long long)sqlite3_column_int64(st, 2),
		    admin_time(t, sizeof t, sqlite3_column_int64(st, 3)),
		    admin_esc(res, sizeof res, admin_col(st, 4)));
	}
	sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		admin_err(c, "state store: %s", store_errmsg(ikd->store));
		return;
	}
	admin_printf(c, "  (%d caller%s)", rows, rows == 1 ? "" : "s");
	admin_ok(c);
}

/* sync */
static void
cmd_sync(struct admin_client *c, int argc, char **argv)
{
	char	*cause = NULL;

	if (sync_run(&cause) == -1) {
		admin_audit(c, "sync", NULL, "error");
		admin_err(c, "%s", cause);
		free(cause);
		return;
	}
	admin_audit(c, "sync", NULL, "started");
	admin_printf(c, "  sync round started; its outcome is logged as "
	    "event=sync");
	admin_ok(c);
}

/* reload config: the lines the reload logs are part of the reply. */
static void
cmd_reload_config(struct admin_client *c, int argc, char **argv)
{
	struct evbuffer	*cap;
	size_t		 n;
	int		 rc;

	admin_audit(c, "reload config", NULL, "started");
	cap = adm.capture = evbuffer_new();
	admin_hook_update();
	rc = iaxkeyd_reload_config();
	adm.capture = NULL;
	admin_hook_update();
	/* The new configuration may have closed this client. */
	if (c->state == A_OPEN) {
		n = evbuffer_get_length(cap);
		evbuffer_add_buffer(bufferevent_get_output(c->bev), cap);
		if (rc == 0)
			admin_ok(c);
		else
			admin_err(c, "configuration not reloaded; the old one "
			    "stays%s", n == 0 ? "" : " (see above)");
	}
	evbuffer_free(cap);
}

/* reload asterisk */
static void
cmd_reload_asterisk(struct admin_client *c, int argc, char **argv)
{
	uint64_t	gen;

	gen = reload_need(RELOAD_CHAN_IAX2 | RELOAD_RES_CRYPTO);
	admin_audit(c, "reload asterisk", NULL, "requested");
	admin_printf(c, "  modules    chan_iax2, res_crypto");
	admin_reload_note(c, gen);
	admin_ok(c);
}

/* log level [level] */
static void
cmd_log_level(struct admin_client *c, int argc, char **argv)
{
	enum log_level	level, old = log_get_level();

	if (argc == 0) {
		admin_printf(c, "  log level  %s", log_level_name(old));
		admin_ok(c);
		return;
	}
	if (log_level_parse(argv[0], &level) == -1) {
		admin_err(c, "level must be debug, info, warn or error");
		return;
	}
	log_set_level(level);
	admin_audit(c, "log level", log_level_name(level), "ok");
	admin_printf(c, "  log level  %s (was %s)", log_level_name(level),
	    log_level_name(old));
	admin_ok(c);
}

/* stats */
static void
cmd_stats(struct admin_client *c, int argc, char **argv)
{
	const struct server_stats	*ss = server_stats();
	const struct reload_stats	*rs = reload_stats();
	const struct keys_stats		*ks = keys_stats();
	const struct sync_stats		*sy = sync_stats();
	const struct admin_script	*sc;
	int				 i, j;

	admin_printf(c, "  sessions_accepted %llu", U(ss->accepted));
	admin_printf(c, "  sessions_ended %llu", U(ss->ended));
	admin_printf(c, "  sessions_active %d", server_active());
	admin_printf(c, "  protocol_errors %llu", U(ss->protocol_errors));
	admin_printf(c, "  timeouts %llu", U(ss->timeouts));
	admin_printf(c, "  listener_paused %llu", U(ss->paused));
	admin_printf(c, "  reloads_ok %llu", U(rs->ok));
	admin_printf(c, "  reloads_failed %llu", U(rs->failed));
	admin_printf(c, "  reloads_refused %llu", U(rs->refused));
	admin_printf(c, "  reload_write_failures %llu",
	    U(rs->write_failures));
	admin_printf(c, "  reload_last_ms %d", rs->last_ms);
	admin_printf(c, "  key_requests %llu", U(ks->requests));
	admin_printf(c, "  key_fetches_ok %llu", U(ks->ok));
	admin_printf(c, "  key_fetches_failed %llu", U(ks->failed));
	admin_printf(c, "  key_fetches_inflight %d", ks->inflight);
	admin_printf(c, "  keys_installed %llu", U(ks->installed));
	admin_printf(c, "  key_negative_hits %llu", U(ks->negative));
	admin_printf(c, "  key_rate_limited %llu", U(ks->rate_limited));
	admin_printf(c, "  sync_rounds %llu", U(sy->rounds));
	admin_printf(c, "  sync_failed %llu", U(sy->failed));
	admin_printf(c, "  sync_fetched %llu", U(sy->fetched));
	admin_printf(c, "  sync_removed %llu", U(sy->removed));
	admin_printf(c, "  peers_file_writes %llu", U(peers_writes()));
	admin_printf(c, "  admin_clients %d", adm.nclients);
	admin_printf(c, "  admin_refused %llu", U(adm.refused));
	admin_printf(c, "  admin_auth_failures %llu", U(adm.auth_failures));
	admin_printf(c, "  admin_watchers %d", adm.nwatchers);
	admin_printf(c, "  admin_watch_dropped %llu", U(adm.watch_dropped));
	for (i = 0; i < admin_nscripts; i++) {
		sc = &admin_scripts[i];
		for (j = 0; j < sc->nstatus; j++)
			admin_printf(c, "  session_status script=%s status=%s "
			    "count=%llu", sc->name, sc->status[j].name,
			    U(sc->status[j].n));
	}
	for (i = 0; i < admin_nscripts; i++) {
		sc = &admin_scripts[i];
		admin_printf(c, "  session_ms script=%s count=%llu p50=%llu "
		    "p90=%llu p99=%llu max=%llu", sc->name, U(sc->count),
		    U(admin_percentile(sc, 50)), U(admin_percentile(sc, 90)),
		    U(admin_percentile(sc, 99)), U(sc->max_ms));
	}
	admin_ok(c);
}

/* stats prometheus */
static void
cmd_stats_prometheus(struct admin_client *c, int argc, char **argv)
{
	const struct server_stats	*ss = server_stats();
	const struct reload_stats	*rs = reload_stats();
	const struct keys_stats		*ks = keys_stats();
	const struct sync_stats		*sy = sync_stats();
	const struct admin_script	*sc;
	uint64_t			 cum;
	long long			 up;
	int				 i, j;
	size_t				 b;

#define P(...)	admin_printf(c, __VA_ARGS__)
#define META(name, type, help) do {					\
	P("# HELP iaxkeyd_" name " " help);				\
	P("# TYPE iaxkeyd_" name " " type);				\
} while (0)
	up = (long long)time(NULL) - (long long)ikd->started.tv_sec;
	META("build_info", "gauge", "Version of the running daemon.");
	P("iaxkeyd_build_info{version=\"%s\"} 1", IAXKEYD_VERSION);
	META("uptime_seconds", "gauge", "Seconds since the daemon started.");
	P("iaxkeyd_uptime_seconds %lld", up < 0 ? 0 : up);
	META("sessions_active", "gauge", "AGI sessions counted against "
	    "max_sessions.");
	P("iaxkeyd_sessions_active %d", server_active());
	META("sessions_accepted_total", "counter", "AGI connections "
	    "accepted.");
	P("iaxkeyd_sessions_accepted_total %llu", U(ss->accepted));
	META("sessions_total", "counter", "AGI sessions ended, by script "
	    "and status.");
	for (i = 0; i < admin_nscripts; i++) {
		sc = &admin_scripts[i];
		for (j = 0; j < sc->nstatus; j++)
			P("iaxkeyd_sessions_total{script=\"%s\","
			    "status=\"%s\"} %llu", sc->name,
			    sc->status[j].name, U(sc->status[j].n));
	}
	META("session_duration_seconds", "histogram", "AGI session "
	    "duration, by script.");
	for (i = 0; i < admin_nscripts; i++) {
		sc = &admin_scripts[i];
		cum = 0;
		for (b = 0; b < ADMIN_NBOUNDS; b++) {
			cum += sc->buckets[b];
			P("iaxkeyd_session_duration_seconds_bucket{"
			    "script=\"%s\",le=\"%u.%03u\"} %llu", sc->name,
			    admin_bounds[b] / 1000, admin_bounds[b] % 1000,
			    U(cum));
		}
		P("iaxkeyd_session_duration_seconds_bucket{script=\"%s\","
		    "le=\"+Inf\"} %llu", sc->name, U(sc->count));
		P("iaxkeyd_session_duration_seconds_sum{script=\"%s\"} "
		    "%llu.%03llu", sc->name, U(sc->sum_ms / 1000),
		    U(sc->sum_ms % 1000));
		P("iaxkeyd_session_duration_seconds_count{script=\"%s\"} "
		    "%llu", sc->name, U(sc->count));
	}
	META("protocol_errors_total", "counter", "AGI protocol errors.");
	P("iaxkeyd_protocol_errors_total %llu", U(ss->protocol_errors));
	META("session_timeouts_total", "counter", "AGI sessions ended by a "
	    "deadline.");
	P("iaxkeyd_session_timeouts_total %llu", U(ss->timeouts));
	META("listener_paused_total", "counter", "Times the AGI listener "
	    "closed at max_sessions.");
	P("iaxkeyd_listener_paused_total %llu", U(ss->paused));
	META("reloads_total", "counter", "Module reloads, by result.");
	P("iaxkeyd_reloads_total{result=\"ok\"} %llu", U(rs->ok));
	P("iaxkeyd_reloads_total{result=\"failed\"} %llu", U(rs->failed));
	META("reloads_refused_total", "counter", "Reload attempts refused "
	    "by Asterisk and retried.");
	P("iaxkeyd_reloads_refused_total %llu", U(rs->refused));
	META("reload_write_failures_total", "counter", "Generated files "
	    "that could not be written.");
	P("iaxkeyd_reload_write_failures_total %llu", U(rs->write_failures));
	META("reload_last_duration_seconds", "gauge", "Duration of the last "
	    "reload.");
	P("iaxkeyd_reload_last_duration_seconds %d.%03d", rs->last_ms / 1000,
	    rs->last_ms % 1000);
	META("reload_last_success", "gauge", "1 when the last reload "
	    "succeeded.");
	P("iaxkeyd_reload_last_success %d", rs->last_ok ? 1 : 0);
	META("key_requests_total", "counter", "Key server requests.");
	P("iaxkeyd_key_requests_total %llu", U(ks->requests));
	META("key_fetches_total", "counter", "Key fetches ended, by result.");
	P("iaxkeyd_key_fetches_total{result=\"ok\"} %llu", U(ks->ok));
	P("iaxkeyd_key_fetches_total{result=\"failed\"} %llu", U(ks->failed));
	META("key_fetches_inflight", "gauge", "Key server requests "
	    "running.");
	P("iaxkeyd_key_fetches_inflight %d", ks->inflight);
	META("keys_installed_total", "counter", "Keys installed or "
	    "updated.");
	P("iaxkeyd_keys_installed_total %llu", U(ks->installed));
	META("key_negative_hits_total", "counter", "Fetches answered from "
	    "the 404 cache.");
	P("iaxkeyd_key_negative_hits_total %llu", U(ks->negative));
	META("key_rate_limited_total", "counter", "Fetches refused by the "
	    "per-node rate limit.");
	P("iaxkeyd_key_rate_limited_total %llu", U(ks->rate_limited));
	META("sync_rounds_total", "counter", "Periodic sync rounds.");
	P("iaxkeyd_sync_rounds_total %llu", U(sy->rounds));
	META("sync_failures_total", "counter", "Periodic sync rounds that "
	    "failed.");
	P("iaxkeyd_sync_failures_total %llu", U(sy->failed));
	META("sync_fetched_total", "counter", "Keys fetched by sync.");
	P("iaxkeyd_sync_fetched_total %llu", U(sy->fetched));
	META("sync_removed_total", "counter", "Keys removed by sync.");
	P("iaxkeyd_sync_removed_total %llu", U(sy->removed));
	META("peers_file_writes_total", "counter", "Writes of the peers "
	    "file.");
	P("iaxkeyd_peers_file_writes_total %llu", U(peers_writes()));
	META("admin_clients", "gauge", "Console clients connected.");
	P("iaxkeyd_admin_clients %d", adm.nclients);
	META("admin_auth_failures_total", "counter", "Failed console "
	    "logins.");
	P("iaxkeyd_admin_auth_failures_total %llu", U(adm.auth_failures));
	META("admin_watch_dropped_lines_total", "counter", "Log lines "
	    "dropped for slow console watchers.");
	P("iaxkeyd_admin_watch_dropped_lines_total %llu",
	    U(adm.watch_dropped));
#undef META
#undef P
	admin_ok(c);
}

/* watch [level] */
static void
cmd_watch(struct admin_client *c, int argc, char **argv)
{
	enum log_level	level = LOG_L_INFO;

	if (argc > 0 && log_level_parse(argv[0], &level) == -1) {
		admin_err(c, "level must be debug, info, warn or error");
		return;
	}
	admin_printf(c, "# watching level=%s; send a line to stop",
	    log_level_name(level));
	c->busy = B_WATCH;
	c->watch_level = level;
	c->dropped = 0;
	adm.nwatchers++;
	admin_hook_update();
	admin_timeouts(c);
}

/* Stop watching. */
static void
admin_watch_stop(struct admin_client *c)
{
	if (c->busy != B_WATCH)
		return;
	c->busy = B_NONE;
	adm.nwatchers--;
	admin_hook_update();
	if (c->dropped > 0 && c->state == A_OPEN)
		evbuffer_add_printf(bufferevent_get_output(c->bev),
		    "# dropped %llu lines\n", (unsigned long long)c->dropped);
	c->dropped = 0;
	admin_timeouts(c);
}

/*
 * Arm the idle timeout while the client is expected to talk (not while it
 * waits for a deferred reply or watches); output that makes no progress
 * for as long always ends the connection.
 */
static void
admin_timeouts(struct admin_client *c)
{
	struct timeval	tv;

	if (c->state != A_OPEN || !c->counted)
		return;
	tv.tv_sec = adm.idle_ms / 1000;
	tv.tv_usec = (adm.idle_ms % 1000) * 1000;
	bufferevent_set_timeouts(c->bev, c->busy == B_NONE ? &tv : NULL, &tv);
}

/* ------------------------------------------------------------------ */
/* The log hook                                                        */

/* Install the hook while somebody needs it. */
static void
admin_hook_update(void)
{
	if (adm.nwatchers > 0 || adm.capture != NULL)
		log_set_hook(admin_hook, NULL);
	else
		log_set_hook(NULL, NULL);
}

/*
 * Every log line: to the capture buffer, and to each watcher whose level
 * it reaches unless its output is over the cap (then it is counted).
 * Writing to a bufferevent runs no callback here.
 */
static void
admin_hook(enum log_level level, const char *line, size_t len, void *arg)
{
	struct admin_client	*c;
	struct evbuffer		*out;

	if (adm.in_hook)
		return;
	adm.in_hook = 1;
	if (adm.capture != NULL && level >= log_get_level() &&
	    evbuffer_get_length(adm.capture) < ADMIN_CAPTURE_MAX) {
		evbuffer_add(adm.capture, "  ", 2);
		evbuffer_add(adm.capture, line, len);
		evbuffer_add(adm.capture, "\n", 1);
	}
	TAILQ_FOREACH(c, &adm.clients, entry) {
		if (c->state != A_OPEN || c->busy != B_WATCH ||
		    level < c->watch_level)
			continue;
		out = bufferevent_get_output(c->bev);
		if (evbuffer_get_length(out) >= ADMIN_WATCH_MAX) {
			c->dropped++;
			adm.watch_dropped++;
			continue;
		}
		if (c->dropped > 0) {
			evbuffer_add_printf(out, "# dropped %llu lines\n",
			    (unsigned long long)c->dropped);
			c->dropped = 0;
		}
		evbuffer_add(out, line, len);
		evbuffer_add(out, "\n", 1);
	}
	adm.in_hook = 0;
}

/* ------------------------------------------------------------------ */
/* Session statistics                                                  */

/* The statistics of a script, created when there is room. */
static struct admin_script *
admin_script(const char *name)
{
	struct admin_script	*sc;
	int			 i;

	for (i = 0; i < admin_nscripts; i++) {
		if (strcmp(admin_scripts[i].name, name) == 0)
			return (&admin_scripts[i]);
	}
	if (admin_nscripts == ADMIN_SCRIPTS)
		return (&admin_scripts[ADMIN_SCRIPTS - 1]);	/* shared */
	sc = &admin_scripts[admin_nscripts];
	sc->buckets = admin_buckets[admin_nscripts];
	admin_nscripts++;
	strlcpy_(sc->name, admin_nscripts == ADMIN_SCRIPTS ? "other" : name,
	    sizeof sc->name);
	return (sc);
}

/*
 * A session ended (session.c): script is a route name or NULL, status a
 * handler's status or NULL.
 */
void
admin_session_end(const char *script, const char *status, uint64_t ms)
{
	struct admin_script	*sc;
	size_t			 b;
	int			 i;

	sc = admin_script(script != NULL ? script : "unknown");
	if (status == NULL)
		status = "none";
	sc->count++;
	sc->sum_ms += ms;
	if (ms > sc->max_ms)
		sc->max_ms = ms;
	for (b = 0; b < ADMIN_NBOUNDS && ms > admin_bounds[b]; b++)
		;
	sc->buckets[b]++;
	for (i = 0; i < sc->nstatus; i++) {
		if (strcmp(sc->status[i].name, status) == 0)
			break;
	}
	if (i == sc->nstatus) {
		if (sc->nstatus == ADMIN_STATUSES)
			i = ADMIN_STATUSES - 1;		/* shared */
		else {
			sc->nstatus++;
			strlcpy_(sc->status[i].name, i == ADMIN_STATUSES - 1 ?
			    "other" : status, sizeof sc->status[i].name);
		}
	}
	sc->status[i].n++;
}

/*
 * The pct-th percentile in ms, interpolated inside its bucket (as
 * Prometheus' histogram_quantile does); the last bucket ends at the max.
 */
static uint64_t
admin_percentile(const struct admin_script *sc, unsigned pct)
{
	uint64_t	rank, cum = 0, lo, hi;
	size_t		b;

	if (sc->count == 0)
		return (0);
	rank = (sc->count * pct + 99) / 100;
	if (rank == 0)
		rank = 1;
	for (b = 0; b < ADMIN_BUCKETS; b++) {
		if (cum + sc->buckets[b] >= rank)
			break;
		cum += sc->buckets[b];
	}
	if (b == ADMIN_BUCKETS)
		return (sc->max_ms);
	lo = b == 0 ? 0 : admin_bounds[b - 1];
	hi = b < ADMIN_NBOUNDS ? admin_bounds[b] : sc->max_ms;
	if (hi > sc->max_ms)
		hi = sc->max_ms;
	if (hi < lo)
		return (hi);
	return (lo + (hi - lo) * (rank - cum) / sc->buckets[b]);
}
