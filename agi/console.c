/*
 * console: the admin console's transport (docs/console.md): listener,
 * clients, login, framing, timeouts, replies and the watch stream.  The
 * commands are in admin.c, which gets each complete line.
 *
 * One command per line (LF, CRLF or CR ends it, 4 KiB at most); telnet
 * IAC sequences are consumed before a byte counts as text (both in
 * lib/cmdline.c).  Every reply is zero or more data lines and one final
 * line, "OK" or "ERR <reason>"; no data line starts with "OK" or "ERR".
 * Input is taken one line at a time: while a reply is deferred (a
 * command waiting, a slowed-down auth failure) or the output holds more
 * than a bounded amount, the rest waits in the input buffer, whose size
 * is capped by the read watermark.
 *
 *   accept ── refused (not loopback, too many, HTTP) ──► flush ──► gone
 *      │
 *      ▼
 *    open ── line ──► command ── reply ──► open
 *      │                 └── wait / auth delay / watch ──► busy ──► open
 *      ├── not logged in by the deadline, pushed out ──► flush ──► gone
 *      └── quit, EOF with nothing pending, idle timeout ──► flush ──► gone
 *
 * Login (with [admin] password): a client that has not logged in counts
 * against auth_max_clients (past it, a newcomer pushes out the oldest
 * such client of the address holding most of them) and must log in
 * within auth_timeout_s of connecting, whatever it sends meanwhile.
 * Failed logins are counted per source address (an IPv6 /64) in a
 * bounded, expiring table (lib/authlock.c): after 3, the address is
 * locked for (n - 3) x auth_delay_ms (30 x at most); an auth during the
 * lock, from any connection, is refused without being checked.  The client whose
 * failure started the lock gets its ERR when the lock ends, and its
 * queued input waits until then.
 *
 * Closing writes what is queued, shuts the write side and reads (and
 * drops) until EOF or a short linger, so the last line is not lost to a
 * reset.  Clients are freed on a later loop turn, never under a callback.
 *
 * The console owns the log hook: it is installed while a client watches
 * (log_enabled() then says yes to every level) and while a capture
 * ("reload config") collects the lines it causes.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <openssl/crypto.h>

#include "agi/iaxkeyd.h"
#include "lib/addr.h"
#include "lib/authlock.h"
#include "lib/cmdline.h"
#include "lib/rsakey.h"
#include "lib/xmalloc.h"

#define CONSOLE_BACKLOG		16
#define CONSOLE_READ_HIGH	(16 * 1024)	/* input kept, at most */
#define CONSOLE_OUT_LOW		(64 * 1024)	/* write cb below */
#define CONSOLE_OUT_MAX		(256 * 1024)	/* commands wait */
#define CONSOLE_WATCH_MAX	(256 * 1024)	/* watch: drop past */
#define CONSOLE_LINGER_MS	2000
#define CONSOLE_CAPTURE_MAX	(16 * 1024)
#define CONSOLE_ERR_MAX		512

#define CONSOLE_AUTH_MAX	5	/* this failure disconnects */

enum console_state { C_OPEN, C_FLUSH, C_CLOSED };
enum console_busy { B_NONE, B_WAIT, B_DELAY, B_WATCH };

struct console_client {
	TAILQ_ENTRY(console_client) entry;
	uint64_t		 id;
	enum console_state	 state;
	enum console_busy	 busy;
	int			 counted;	/* against max_clients */
	int			 authed;
	int			 loopback;
	int			 eof;		/* no more input */
	struct bufferevent	*bev;
	struct event		*timer;	/* auth delay, linger */
	struct event		*resume;	/* run queued input */
	struct event		*deadline;	/* log in before */
	char			 addr[ADDR_STR_MAX];
	char			 host[AUTHLOCK_KEY_MAX]; /* failures key */
	uint64_t		 t_open;
	unsigned		 commands;

	/* Line assembly (lib/cmdline.c). */
	struct cmdline		 rd;

	/* A command waiting for its outcome (console_wait). */
	void			(*cancel)(void *);
	void			*cancel_arg;

	/* A slowed-down auth failure. */
	int			 failures;

	/* watch */
	enum log_level		 watch_level;
	uint64_t		 dropped;
};
TAILQ_HEAD(console_clients, console_client);

static struct {
	struct event_base	*base;
	struct evconnlistener	*listener;
	char			 addrstr[ADDR_STR_MAX];	/* bound */
	char			*listen;	/* configured; "": none */
	char			*password;
	int			 max_clients;
	int			 idle_ms;
	int			 auth_timeout_s;
	int			 auth_max_clients;
	struct console_clients	 clients;
	uint64_t		 next_id;
	struct authlock		*lock;		/* failed logins */
	struct evbuffer		*capture;	/* reload config */
	int			 in_hook;
	int			 up;
	struct console_stats	 stats;
} cons;

static int	console_listen(const char *, char **);
static void	console_accept_cb(struct evconnlistener *, evutil_socket_t,
		    struct sockaddr *, int, void *);
static void	console_error_cb(struct evconnlistener *, void *);
static int	console_loopback(const struct sockaddr *);
static void	console_refuse(struct console_client *, const char *,
		    const char *);
static void	console_read_cb(struct bufferevent *, void *);
static void	console_write_cb(struct bufferevent *, void *);
static void	console_event_cb(struct bufferevent *, short, void *);
static void	console_timer_cb(int, short, void *);
static void	console_resume_cb(int, short, void *);
static void	console_input(struct console_client *);
static int	console_blocked(struct console_client *);
static void	console_line(struct console_client *, char *);
static void	console_end(struct console_client *, const char *, int);
static void	console_flushed(struct console_client *);
static void	console_destroy(struct console_client *);
static void	console_free_cb(int, short, void *);
static void	console_hook(enum log_level, const char *, size_t, void *);
static void	console_hook_update(void);
static void	console_watch_stop(struct console_client *);
static void	console_timeouts(struct console_client *);
static int	console_password_ok(const char *);
static int	console_pending(const struct console_client *);
static void	console_pending_start(struct console_client *);
static void	console_make_room(void);
static void	console_deadline_cb(int, short, void *);

/* ------------------------------------------------------------------ */
/* Listener and configuration                                          */

/* Bind the console listener on addr; 0 or -1 with *cause. */
static int
console_listen(const char *addr, char **cause)
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
	    listen(fd, CONSOLE_BACKLOG) == -1 ||
	    getsockname(fd, (struct sockaddr *)&bound, &boundlen) == -1)
		goto fail;
	l = evconnlistener_new(cons.base, console_accept_cb, NULL,
	    LEV_OPT_CLOSE_ON_FREE, -1, fd);
	if (l == NULL)
		goto fail;
	evconnlistener_set_error_cb(l, console_error_cb);
	if (cons.listener != NULL)
		evconnlistener_free(cons.listener);
	cons.listener = l;
	addr_format((struct sockaddr *)&bound, boundlen, cons.addrstr,
	    sizeof cons.addrstr);
	lf_begin(&line, LOG_L_INFO, "listen");
	lf_str(&line, "what", "admin");
	lf_str(&line, "addr", cons.addrstr);
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
console_init(struct event_base *base, const struct conf *conf, char **cause)
{
	cons.base = base;
	TAILQ_INIT(&cons.clients);
	cons.listen = xstrdup("");
	cons.password = xstrdup("");
	cons.lock = authlock_new(conf_int(conf, "admin:auth_delay_ms"));
	cons.up = 1;
	console_apply(conf);
	return (0);
}

/*
 * Apply a configuration: limits and password at once (a changed password
 * logs every client out, and its login deadline starts; without one,
 * clients that are not on loopback are closed); a new listen address is
 * bound before the old listener closes, and when that fails the old one
 * stays.
 */
void
console_apply(const struct conf *conf)
{
	struct console_client	*c, *next;
	struct logline		 l;
	const char		*listen, *pw;
	char			*cause = NULL;

	if (!cons.up)
		return;
	cons.max_clients = conf_int(conf, "admin:max_clients");
	cons.auth_timeout_s = conf_int(conf, "admin:auth_timeout_s");
	cons.auth_max_clients = conf_int(conf, "admin:auth_max_clients");
	authlock_set_delay(cons.lock, conf_int(conf, "admin:auth_delay_ms"));
	if (cons.idle_ms != conf_int(conf, "admin:idle_timeout_ms")) {
		cons.idle_ms = conf_int(conf, "admin:idle_timeout_ms");
		TAILQ_FOREACH(c, &cons.clients, entry)
			console_timeouts(c);
	}
	pw = conf_str(conf, "admin:password");
	if (strcmp(pw, cons.password) != 0) {
		free(cons.password);
		cons.password = xstrdup(pw);
		TAILQ_FOREACH_SAFE(c, &cons.clients, entry, next) {
			if (c->state != C_OPEN)
				continue;
			c->authed = 0;
			if (*pw != '\0') {
				console_pending_start(c);
				continue;
			}
			evtimer_del(c->deadline);
			if (!c->loopback) {
				console_printf(c, "# no password any more: "
				    "loopback clients only");
				console_err(c, "console restricted to loopback "
				    "without a password");
				console_end(c, "password removed", 1);
			}
		}
	}
	listen = conf_str(conf, "admin:listen");
	if (strcmp(listen, cons.listen) == 0 && (*listen == '\0' ||
	    cons.listener != NULL))
		return;
	if (*listen == '\0') {
		if (cons.listener != NULL)
			evconnlistener_free(cons.listener);
		cons.listener = NULL;
		cons.addrstr[0] = '\0';
		log_info("admin console off");
	} else if (console_listen(listen, &cause) == -1) {
		lf_begin(&l, LOG_L_ERROR, "listen_failed");
		lf_str(&l, "what", "admin");
		lf_str(&l, "addr", listen);
		lf_str(&l, "reason", cause);
		lf_str(&l, "action", cons.listener != NULL ?
		    "old listener kept" : "no console");
		lf_emit(&l);
		free(cause);
		return;
	}
	free(cons.listen);
	cons.listen = xstrdup(listen);
}

/* Close every client and the listener (shutdown; before keyops_free). */
void
console_free(void)
{
	struct console_client	*c;

	if (!cons.up)
		return;
	while ((c = TAILQ_FIRST(&cons.clients)) != NULL) {
		if (c->state == C_OPEN)
			console_end(c, "shutdown", 0);
		else
			console_destroy(c);
		TAILQ_REMOVE(&cons.clients, c, entry);
		free(c);
	}
	if (cons.listener != NULL)
		evconnlistener_free(cons.listener);
	if (cons.capture != NULL)
		evbuffer_free(cons.capture);
	cons.capture = NULL;
	cons.stats.watchers = 0;
	console_hook_update();
	free(cons.listen);
	free(cons.password);
	authlock_free(cons.lock);
	memset(&cons, 0, sizeof cons);
}

/* The console's bound address, or "" when it is off. */
const char *
console_addr(void)
{
	return (cons.addrstr);
}

/* The console's counters (stats.c presents them). */
const struct console_stats *
console_stats(void)
{
	return (&cons.stats);
}

/* 1 when [admin] password is set. */
int
console_password_set(void)
{
	return (cons.password != NULL && *cons.password != '\0');
}

/* 1 when the client may run every command. */
int
console_authed(const struct console_client *c)
{
	return (!console_password_set() || c->authed);
}

/* The client's number, as client= in the log. */
uint64_t
console_id(const struct console_client *c)
{
	return (c->id);
}

/* The client's address and port, as addr= in the log. */
const char *
console_peer(const struct console_client *c)
{
	return (c->addr);
}

/* 1 for 127.0.0.0/8, ::1 and ::ffff:127.0.0.0/104. */
static int
console_loopback(const struct sockaddr *sa)
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
console_accept_cb(struct evconnlistener *listener, evutil_socket_t fd,
    struct sockaddr *sa, int salen, void *arg)
{
	struct console_client	*c;
	struct logline		 l;

	c = xcalloc(1, sizeof *c);
	cmdline_init(&c->rd);
	c->id = ++cons.next_id;
	c->t_open = now_ms();
	c->loopback = console_loopback(sa);
	addr_format(sa, salen, c->addr, sizeof c->addr);
	authlock_key(sa, c->host, sizeof c->host);
	c->bev = bufferevent_socket_new(cons.base, fd, BEV_OPT_CLOSE_ON_FREE);
	c->timer = evtimer_new(cons.base, console_timer_cb, c);
	c->resume = event_new(cons.base, -1, 0, console_resume_cb, c);
	c->deadline = evtimer_new(cons.base, console_deadline_cb, c);
	if (c->bev == NULL || c->timer == NULL || c->resume == NULL ||
	    c->deadline == NULL)
		fatalx("console: out of event resources");
	bufferevent_setcb(c->bev, console_read_cb, console_write_cb,
	    console_event_cb, c);
	bufferevent_setwatermark(c->bev, EV_READ, 0, CONSOLE_READ_HIGH);
	bufferevent_setwatermark(c->bev, EV_WRITE, CONSOLE_OUT_LOW, 0);
	bufferevent_enable(c->bev, EV_READ);
	TAILQ_INSERT_TAIL(&cons.clients, c, entry);
	c->state = C_OPEN;

	if (*cons.password == '\0' && !c->loopback) {
		console_refuse(c, "not_loopback", "console restricted to "
		    "loopback without a password");
		return;
	}
	if (cons.stats.clients >= cons.max_clients) {
		console_refuse(c, "max_clients", "too many clients");
		return;
	}
	if (console_password_set())
		console_make_room();
	c->counted = 1;
	cons.stats.clients++;
	if (console_password_set())
		console_pending_start(c);
	console_timeouts(c);
	lf_begin(&l, LOG_L_INFO, "admin_open");
	lf_int(&l, "client", c->id);
	lf_str(&l, "addr", c->addr);
	lf_int(&l, "clients", cons.stats.clients);
	lf_emit(&l);
}

/* accept() failed (out of descriptors): say so; libevent goes on. */
static void
console_error_cb(struct evconnlistener *listener, void *arg)
{
	log_warnx("admin accept: %s", strerror(EVUTIL_SOCKET_ERROR()));
}

/* Log a refusal, send one ERR line (reply may be NULL) and close. */
static void
console_refuse(struct console_client *c, const char *why, const char *reply)
{
	struct logline	l;

	cons.stats.refused++;
	lf_begin(&l, LOG_L_WARN, "admin_refused");
	lf_int(&l, "client", c->id);
	lf_str(&l, "addr", c->addr);
	lf_str(&l, "reason", why);
	lf_emit(&l);
	if (reply != NULL)
		console_err(c, "%s", reply);
	console_end(c, NULL, 1);
}

/* ------------------------------------------------------------------ */
/* Client I/O                                                          */

/* Bytes arrived. */
static void
console_read_cb(struct bufferevent *bev, void *arg)
{
	struct console_client	*c = arg;
	struct evbuffer		*in = bufferevent_get_input(bev);

	if (c->state != C_OPEN) {
		evbuffer_drain(in, evbuffer_get_length(in));
		return;
	}
	console_input(c);
}

/* The output drained below the low watermark (or completely). */
static void
console_write_cb(struct bufferevent *bev, void *arg)
{
	struct console_client	*c = arg;
	struct evbuffer		*out = bufferevent_get_output(bev);

	if (c->state == C_FLUSH) {
		if (evbuffer_get_length(out) == 0)
			console_flushed(c);
		return;
	}
	if (c->state != C_OPEN)
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
console_event_cb(struct bufferevent *bev, short events, void *arg)
{
	struct console_client	*c = arg;
	char			 buf[128];

	if (c->state == C_FLUSH) {
		/* After the client's EOF, what we write still goes out. */
		if ((events & BEV_EVENT_EOF) && evbuffer_get_length(
		    bufferevent_get_output(bev)) > 0) {
			c->eof = 1;
			return;
		}
		console_destroy(c);
		return;
	}
	if (c->state != C_OPEN)
		return;
	if (events & BEV_EVENT_EOF) {
		/* End of input: what is queued runs, then we close. */
		c->eof = 1;
		console_input(c);
		return;
	}
	if (events & BEV_EVENT_TIMEOUT) {
		if (events & BEV_EVENT_READING) {
			console_err(c, "idle timeout");
			console_end(c, "idle timeout", 1);
		} else
			console_end(c, "write timeout", 0);
		return;
	}
	snprintf(buf, sizeof buf, "socket error: %s",
	    strerror(EVUTIL_SOCKET_ERROR()));
	console_end(c, buf, 0);
}

/* The linger ended, or a slowed-down auth failure is due. */
static void
console_timer_cb(int fd, short events, void *arg)
{
	struct console_client	*c = arg;

	if (c->state == C_FLUSH) {
		console_destroy(c);
		return;
	}
	if (c->state != C_OPEN || c->busy != B_DELAY)
		return;
	c->busy = B_NONE;
	/* The lock this failure started ends now (unless another began). */
	authlock_release(cons.lock, c->host, c->failures, now_ms());
	console_timeouts(c);
	console_err(c, "authentication failed");
	if (c->failures >= CONSOLE_AUTH_MAX) {
		console_end(c, "authentication failures", 1);
		return;
	}
	console_input(c);
}

/* A deferred reply was written: go on with the queued input. */
static void
console_resume_cb(int fd, short events, void *arg)
{
	struct console_client	*c = arg;

	if (c->state == C_OPEN)
		console_input(c);
}

/* 1 while queued input must wait. */
static int
console_blocked(struct console_client *c)
{
	if (c->state != C_OPEN || c->busy == B_WAIT || c->busy == B_DELAY)
		return (1);
	return (c->busy == B_NONE && evbuffer_get_length(
	    bufferevent_get_output(c->bev)) > CONSOLE_OUT_MAX);
}

/*
 * Take bytes from the input while nothing blocks: telnet commands are
 * consumed, text is gathered into lines, and each line runs at once.
 * At EOF with nothing left to wait for, close.
 */
static void
console_input(struct console_client *c)
{
	struct evbuffer	*in = bufferevent_get_input(c->bev);
	unsigned char	*p;
	size_t		 n, used;
	enum cmdline_rc	 rc;

	while (!console_blocked(c)) {
		if ((n = evbuffer_get_contiguous_space(in)) == 0)
			break;
		p = evbuffer_pullup(in, n);
		rc = cmdline_feed(&c->rd, p, n, &used);
		evbuffer_drain(in, used);
		if (rc == CMDLINE_TOOLONG) {
			console_err(c, "line too long");
			console_end(c, "line too long", 1);
			return;
		}
		if (rc == CMDLINE_LINE)
			console_line(c, c->rd.line);
	}
	/* At EOF an unterminated last line counts as a line. */
	if (c->eof && !console_blocked(c) && c->busy == B_NONE &&
	    evbuffer_get_length(in) == 0 && cmdline_flush(&c->rd))
		console_line(c, c->rd.line);
	if (c->state == C_OPEN && c->eof && (c->busy == B_NONE ||
	    c->busy == B_WATCH) && evbuffer_get_length(in) == 0) {
		if (c->busy == B_WATCH)
			console_watch_stop(c);
		console_end(c, "closed by client", 1);
	}
}

/*
 * One complete line: an HTTP client is refused, a line ends a watch,
 * anything else goes to the commands.
 */
static void
console_line(struct console_client *c, char *line)
{
	if (cmdline_is_http(line)) {
		console_refuse(c, "http", NULL);
		return;
	}
	if (c->busy == B_WATCH) {
		console_watch_stop(c);
		console_ok(c);
		return;
	}
	if (admin_line(c, line))
		c->commands++;
}

/* quit: close after what is queued. */
void
console_close(struct console_client *c, const char *reason)
{
	console_end(c, reason, 1);
}

/*
 * Close: log (reason NULL: a refused client, already logged), cancel
 * what runs for the client and, with flush, write what is queued first
 * (bounded by the idle timeout for writes).
 */
static void
console_end(struct console_client *c, const char *reason, int flush)
{
	struct timeval	tv = { cons.idle_ms / 1000,
			    (cons.idle_ms % 1000) * 1000 };
	struct logline	l;

	if (c->state != C_OPEN)
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
		console_watch_stop(c);
	if (c->busy == B_WAIT && c->cancel != NULL)
		c->cancel(c->cancel_arg);
	c->cancel = NULL;
	c->cancel_arg = NULL;
	c->busy = B_NONE;
	if (c->counted)
		cons.stats.clients--;
	c->counted = 0;
	evtimer_del(c->timer);
	evtimer_del(c->deadline);
	event_del(c->resume);
	if (!flush) {
		console_destroy(c);
		return;
	}
	c->state = C_FLUSH;
	bufferevent_set_timeouts(c->bev, NULL, &tv);
	bufferevent_setwatermark(c->bev, EV_READ, 0, 0);
	bufferevent_setwatermark(c->bev, EV_WRITE, 0, 0);
	/* Read (and drop) until EOF, so that closing sends no reset. */
	bufferevent_enable(c->bev, c->eof ? EV_WRITE : EV_READ | EV_WRITE);
	if (evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
		console_flushed(c);
}

/* Everything is written: shut our side, then wait briefly for EOF. */
static void
console_flushed(struct console_client *c)
{
	struct timeval	tv = { CONSOLE_LINGER_MS / 1000,
			    (CONSOLE_LINGER_MS % 1000) * 1000 };

	shutdown(bufferevent_getfd(c->bev), SHUT_WR);
	if (c->eof) {
		console_destroy(c);
		return;
	}
	if (!evtimer_pending(c->timer, NULL))
		evtimer_add(c->timer, &tv);
}

/* Free the socket now and the client on a later loop turn. */
static void
console_destroy(struct console_client *c)
{
	if (c->state == C_CLOSED)
		return;
	c->state = C_CLOSED;
	bufferevent_free(c->bev);
	c->bev = NULL;
	event_free(c->timer);
	c->timer = NULL;
	event_free(c->resume);
	c->resume = NULL;
	event_free(c->deadline);
	c->deadline = NULL;
	if (cons.base != NULL && event_base_once(cons.base, -1, EV_TIMEOUT,
	    console_free_cb, c, NULL) == -1)
		fatalx("console: event_base_once failed");
}

/* The deferred free. */
static void
console_free_cb(int fd, short events, void *arg)
{
	struct console_client	*c = arg;

	TAILQ_REMOVE(&cons.clients, c, entry);
	free(c);
}

/*
 * The reply waits for an outcome: input waits too, the idle timeout
 * stops, and if the client goes first cancel(arg) runs (it must prevent
 * the outcome's callback).  console_done() ends the wait.
 */
void
console_wait(struct console_client *c, void (*cancel)(void *), void *arg)
{
	c->busy = B_WAIT;
	c->cancel = cancel;
	c->cancel_arg = arg;
	console_timeouts(c);
}

/* The deferred reply is written: go on with the queued input. */
void
console_done(struct console_client *c)
{
	if (c->busy != B_WAIT)
		return;
	c->busy = B_NONE;
	c->cancel = NULL;
	c->cancel_arg = NULL;
	if (c->state != C_OPEN)
		return;
	console_timeouts(c);
	event_active(c->resume, 0, 0);
}

/*
 * Arm the idle timeout while the client is expected to talk (not while it
 * waits for a deferred reply or watches); output that makes no progress
 * for as long always ends the connection.
 */
static void
console_timeouts(struct console_client *c)
{
	struct timeval	tv;

	if (c->state != C_OPEN || !c->counted)
		return;
	tv.tv_sec = cons.idle_ms / 1000;
	tv.tv_usec = (cons.idle_ms % 1000) * 1000;
	bufferevent_set_timeouts(c->bev, c->busy == B_NONE ? &tv : NULL, &tv);
}

/* ------------------------------------------------------------------ */
/* Replies                                                             */

/* One data line; a line that would read as a final one is indented. */
void
console_printf(struct console_client *c, const char *fmt, ...)
{
	struct evbuffer	*out;
	char		 buf[CMDLINE_MAX];
	va_list		 ap;
	int		 n;
	char		*p;

	if (c->state != C_OPEN)
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
void
console_ok(struct console_client *c)
{
	if (c->state == C_OPEN)
		evbuffer_add(bufferevent_get_output(c->bev), "OK\n", 3);
}

/* The final line of a failed reply. */
void
console_err(struct console_client *c, const char *fmt, ...)
{
	char	buf[CONSOLE_ERR_MAX];
	va_list	ap;
	char	*p;

	if (c->state != C_OPEN)
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

/*
 * Collect the log lines written until console_capture_end (at the
 * configured level, capped) in the returned buffer; caller frees.
 */
struct evbuffer *
console_capture_begin(void)
{
	cons.capture = evbuffer_new();
	console_hook_update();
	return (cons.capture);
}

/* Stop collecting. */
void
console_capture_end(void)
{
	cons.capture = NULL;
	console_hook_update();
}

/* Move the lines of buf (a capture) into the client's reply. */
void
console_add(struct console_client *c, struct evbuffer *buf)
{
	if (c->state == C_OPEN)
		evbuffer_add_buffer(bufferevent_get_output(c->bev), buf);
}

/* ------------------------------------------------------------------ */
/* Login                                                               */

/* Constant-time comparison with the configured password. */
static int
console_password_ok(const char *given)
{
	char	a[65], b[65];

	/* Equal-length digests: the time depends on neither length. */
	rsakey_sha256_hex(given, strlen(given), a);
	rsakey_sha256_hex(cons.password, strlen(cons.password), b);
	return (CRYPTO_memcmp(a, b, 64) == 0);
}

/* 1 for a client that has yet to log in. */
static int
console_pending(const struct console_client *c)
{
	return (c->state == C_OPEN && c->counted && !c->authed &&
	    console_password_set());
}

/* The client has auth_timeout_s from now to log in. */
static void
console_pending_start(struct console_client *c)
{
	struct timeval	tv = { cons.auth_timeout_s, 0 };

	evtimer_add(c->deadline, &tv);
}

/* The login deadline passed. */
static void
console_deadline_cb(int fd, short events, void *arg)
{
	struct console_client	*c = arg;

	if (!console_pending(c))
		return;
	cons.stats.auth_timeouts++;
	console_err(c, "authentication timeout");
	console_end(c, "authentication timeout", 1);
}

/*
 * Before a new client counts: while auth_max_clients clients wait to log
 * in, push out the oldest of the address that holds most of them, so
 * that a newcomer (the operator) always gets in and an address that
 * holds many waiting clients loses them first.
 */
static void
console_make_room(void)
{
	struct console_client	*c, *o, *victim;
	int			 n, most, pending;

	for (;;) {
		victim = NULL;
		most = pending = 0;
		TAILQ_FOREACH(c, &cons.clients, entry) {
			if (!console_pending(c))
				continue;
			pending++;
			n = 0;
			TAILQ_FOREACH(o, &cons.clients, entry) {
				if (console_pending(o) &&
				    strcmp(o->host, c->host) == 0)
					n++;
			}
			if (n > most) {	/* the list is oldest first */
				most = n;
				victim = c;
			}
		}
		if (pending < cons.auth_max_clients || victim == NULL)
			return;
		cons.stats.evicted++;
		console_err(victim, "too many clients waiting to log in");
		console_end(victim, "pushed out before login", 1);
	}
}

/*
 * auth <password> (a password is set): refused unchecked while the
 * address is locked; otherwise checked, and a failure counted.
 */
void
console_auth(struct console_client *c, const char *password)
{
	struct logline		 l;
	struct timeval		 tv;
	uint64_t		 now = now_ms(), wait;

	if ((wait = authlock_wait(cons.lock, c->host, now)) > 0) {
		if (c->authed)
			console_pending_start(c);
		c->authed = 0;
		cons.stats.auth_refused++;
		lf_begin(&l, LOG_L_WARN, "admin_auth");
		lf_str(&l, "result", "refused");
		lf_str(&l, "addr", c->addr);
		lf_int(&l, "client", c->id);
		lf_int(&l, "retry_ms", wait);
		lf_emit(&l);
		console_err(c, "too many failed logins; try again in %llu s",
		    (unsigned long long)(wait + 999) / 1000);
		return;
	}
	if (console_password_ok(password)) {
		c->authed = 1;
		evtimer_del(c->deadline);
		authlock_success(cons.lock, c->host, now);
		lf_begin(&l, LOG_L_INFO, "admin_auth");
		lf_str(&l, "result", "ok");
		lf_str(&l, "addr", c->addr);
		lf_int(&l, "client", c->id);
		lf_emit(&l);
		console_ok(c);
		return;
	}
	if (c->authed)
		console_pending_start(c);
	c->authed = 0;
	c->failures = authlock_fail(cons.lock, c->host, now, &wait);
	cons.stats.auth_failures++;
	lf_begin(&l, LOG_L_WARN, "admin_auth");
	lf_str(&l, "result", "fail");
	lf_str(&l, "addr", c->addr);
	lf_int(&l, "client", c->id);
	lf_int(&l, "failures", c->failures);
	lf_emit(&l);
	if (wait == 0) {
		console_err(c, "authentication failed");
		return;
	}
	tv.tv_sec = wait / 1000;
	tv.tv_usec = (wait % 1000) * 1000;
	c->busy = B_DELAY;
	console_timeouts(c);
	evtimer_add(c->timer, &tv);
}

/* ------------------------------------------------------------------ */
/* watch and the log hook                                              */

/* watch: stream the log at level and above until a line comes. */
void
console_watch(struct console_client *c, enum log_level level)
{
	console_printf(c, "# watching level=%s; send a line to stop",
	    log_level_name(level));
	c->busy = B_WATCH;
	c->watch_level = level;
	c->dropped = 0;
	cons.stats.watchers++;
	console_hook_update();
	console_timeouts(c);
}

/* Stop watching. */
static void
console_watch_stop(struct console_client *c)
{
	if (c->busy != B_WATCH)
		return;
	c->busy = B_NONE;
	cons.stats.watchers--;
	console_hook_update();
	if (c->dropped > 0 && c->state == C_OPEN)
		evbuffer_add_printf(bufferevent_get_output(c->bev),
		    "# dropped %llu lines\n", (unsigned long long)c->dropped);
	c->dropped = 0;
	console_timeouts(c);
}

/* Install the hook while somebody needs it. */
static void
console_hook_update(void)
{
	if (cons.stats.watchers > 0 || cons.capture != NULL)
		log_set_hook(console_hook, NULL);
	else
		log_set_hook(NULL, NULL);
}

/*
 * Every log line: to the capture buffer, and to each watcher whose level
 * it reaches unless its output is over the cap (then it is counted).
 * Writing to a bufferevent runs no callback here.
 */
static void
console_hook(enum log_level level, const char *line, size_t len, void *arg)
{
	struct console_client	*c;
	struct evbuffer		*out;

	if (cons.in_hook)
		return;
	cons.in_hook = 1;
	if (cons.capture != NULL && level >= log_get_level() &&
	    evbuffer_get_length(cons.capture) < CONSOLE_CAPTURE_MAX) {
		evbuffer_add(cons.capture, "  ", 2);
		evbuffer_add(cons.capture, line, len);
		evbuffer_add(cons.capture, "\n", 1);
	}
	TAILQ_FOREACH(c, &cons.clients, entry) {
		if (c->state != C_OPEN || c->busy != B_WATCH ||
		    level < c->watch_level)
			continue;
		out = bufferevent_get_output(c->bev);
		if (evbuffer_get_length(out) >= CONSOLE_WATCH_MAX) {
			c->dropped++;
			cons.stats.watch_dropped++;
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
	cons.in_hook = 0;
}
