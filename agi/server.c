/*
 * server: the FastAGI listener, accept, the session table, limits and the
 * SIGTERM drain.
 *
 * Overload: at max_sessions the listening socket is closed, so Asterisk's
 * connect is refused at once and AGI() returns FAILURE without waiting
 * (a connection left in the kernel's backlog would only be served late).
 * The socket is reopened on the same address once the active count falls
 * to 90% of the limit.  A connection is never accepted and then closed.
 *
 * Descriptors: the soft RLIMIT_NOFILE is raised (up to the hard limit) to
 * max_sessions plus a reserve for everything else the daemon opens; when
 * the hard limit is lower, the limit in force is what fits, so the
 * listener closes before accept() could fail with EMFILE and leave calls
 * waiting in the kernel's backlog.
 */
#include <sys/resource.h>
#include <sys/socket.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/listener.h>

#include "agi/iaxkeyd.h"
#include "lib/addr.h"
#include "lib/xmalloc.h"

#define SERVER_BACKLOG		1024
#define SERVER_BACKOFF_MS	100	/* after EMFILE and friends */
#define SERVER_REOPEN_MS	1000	/* after a failed reopen */
#define SERVER_FD_RESERVE	96	/* key server (64), log, store, ... */

static struct {
	struct event_base	*base;
	struct evconnlistener	*listener;	/* NULL while paused */
	struct sockaddr_storage	 addr;		/* bound address (real port) */
	socklen_t		 addrlen;
	char			 addrstr[ADDR_STR_MAX];
	struct event		*retry;		/* backoff / reopen timer */
	int			 paused;	/* closed at max_sessions */
	int			 accept_failing; /* warned; until an accept */
	int			 draining;
	void			(*drained)(void);
	struct event		*drain_timer;
	struct server_limits	 lim;
	struct server_stats	 stats;
	struct session_list	 sessions;
	int			 active;
} srv;

static int	server_listen(const struct sockaddr *, socklen_t,
		    struct evconnlistener **, struct sockaddr_storage *,
		    socklen_t *, char **);
static void	server_accept_cb(struct evconnlistener *, evutil_socket_t,
		    struct sockaddr *, int, void *);
static void	server_error_cb(struct evconnlistener *, void *);
static void	server_retry_cb(int, short, void *);
static void	server_pause(void);
static void	server_resume(void);
static void	server_limits_load(const struct conf *, struct server_limits *);
static int	server_fd_limit(int, int);
static void	server_drain_cb(int, short, void *);
static void	server_check_drained(void);

/* Open a listening socket on sa and wrap it; 0 or -1 with *cause. */
static int
server_listen(const struct sockaddr *sa, socklen_t salen,
    struct evconnlistener **out, struct sockaddr_storage *bound,
    socklen_t *boundlen, char **cause)
{
	struct evconnlistener	*l;
	int			 fd, one = 1;
	char			 buf[ADDR_STR_MAX];

	fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0);
	if (fd == -1)
		goto fail;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) == -1 ||
	    bind(fd, sa, salen) == -1 || listen(fd, SERVER_BACKLOG) == -1)
		goto fail;
	*boundlen = sizeof *bound;
	if (getsockname(fd, (struct sockaddr *)bound, boundlen) == -1)
		goto fail;
	l = evconnlistener_new(srv.base, server_accept_cb, NULL,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, -1, fd);
	if (l == NULL)
		goto fail;
	evconnlistener_set_error_cb(l, server_error_cb);
	*out = l;
	return (0);
fail:
	xasprintf(cause, "listen %s: %s", addr_format(sa, salen, buf,
	    sizeof buf), strerror(errno));
	if (fd != -1)
		close(fd);
	return (-1);
}

/*
 * The sessions that fit in the descriptor limit next to a reserve, after
 * raising the soft limit towards want sessions; logs fd_limit when fewer
 * than want fit.
 */
static int
server_fd_limit(int want, int reserve)
{
	struct rlimit	rl;
	rlim_t		need = (rlim_t)want + (rlim_t)reserve;
	int		fit;
	struct logline	l;

	if (getrlimit(RLIMIT_NOFILE, &rl) == -1)
		return (want);
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < need) {
		rl.rlim_cur = rl.rlim_max == RLIM_INFINITY ||
		    rl.rlim_max > need ? need : rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) == -1)
			getrlimit(RLIMIT_NOFILE, &rl);
	}
	if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur >= need)
		return (want);
	fit = rl.rlim_cur > (rlim_t)reserve + 1 ?
	    (int)(rl.rlim_cur - reserve) : 1;
	lf_begin(&l, LOG_L_WARN, "fd_limit");
	lf_str(&l, "what", "agi");
	lf_int(&l, "nofile", (long long)rl.rlim_cur);
	lf_int(&l, "reserve", reserve);
	lf_int(&l, "max_sessions", want);
	lf_int(&l, "effective", fit);
	lf_emit(&l);
	return (fit);
}

/* Read the limits from a configuration. */
static void
server_limits_load(const struct conf *conf, struct server_limits *lim)
{
	lim->max_sessions = server_fd_limit(conf_int(conf, "agi:max_sessions"),
	    SERVER_FD_RESERVE + conf_int(conf, "admin:max_clients"));
	lim->env_timeout_ms = conf_int(conf, "agi:env_timeout_ms");
	lim->command_timeout_ms = conf_int(conf, "agi:command_timeout_ms");
	lim->session_timeout_ms = conf_int(conf, "agi:session_timeout_ms");
	lim->drain_timeout_ms = conf_int(conf, "agi:drain_timeout_ms");
}

/*
 * The bound AGI address (the real port when the configuration says 0);
 * *open is 0 while the listener is closed at max_sessions.
 */
const char *
server_addr(int *open)
{
	*open = srv.listener != NULL;
	return (srv.addrstr);
}

/* Bind the AGI listener; 0 or -1 with *cause. */
int
server_init(struct event_base *base, const struct conf *conf, char **cause)
{
	struct sockaddr_storage	ss;
	socklen_t		sl;
	struct logline		l;

	srv.base = base;
	TAILQ_INIT(&srv.sessions);
	server_limits_load(conf, &srv.lim);
	if (conf_addr(conf, "agi:listen", &ss, &sl) == -1) {
		xasprintf(cause, "agi:listen: bad address");
		return (-1);
	}
	if (server_listen((struct sockaddr *)&ss, sl, &srv.listener,
	    &srv.addr, &srv.addrlen, cause) == -1)
		return (-1);
	srv.retry = evtimer_new(base, server_retry_cb, NULL);
	srv.drain_timer = evtimer_new(base, server_drain_cb, NULL);
	addr_format((struct sockaddr *)&srv.addr, srv.addrlen, srv.addrstr,
	    sizeof srv.addrstr);
	lf_begin(&l, LOG_L_INFO, "listen");
	lf_str(&l, "what", "agi");
	lf_str(&l, "addr", srv.addrstr);
	lf_emit(&l);
	return (0);
}

/*
 * Apply a new configuration: limits at once; a new listen address is
 * bound before the old one is closed, and on failure the old one stays.
 */
int
server_apply(const struct conf *conf, char **cause)
{
	struct sockaddr_storage	 ss, bound;
	socklen_t		 sl, boundlen;
	struct evconnlistener	*l = NULL;
	struct logline		 line;

	if (conf_changed(ikd->conf, conf, "agi:listen")) {
		if (conf_addr(conf, "agi:listen", &ss, &sl) == -1) {
			xasprintf(cause, "agi:listen: bad address");
			return (-1);
		}
		if (server_listen((struct sockaddr *)&ss, sl, &l, &bound,
		    &boundlen, cause) == -1)
			return (-1);
		if (srv.listener != NULL)
			evconnlistener_free(srv.listener);
		srv.listener = l;
		srv.addr = bound;
		srv.addrlen = boundlen;
		addr_format((struct sockaddr *)&srv.addr, srv.addrlen,
		    srv.addrstr, sizeof srv.addrstr);
		srv.paused = 0;
		lf_begin(&line, LOG_L_INFO, "listen");
		lf_str(&line, "what", "agi");
		lf_str(&line, "addr", srv.addrstr);
		lf_emit(&line);
	}
	server_limits_load(conf, &srv.lim);
	if (srv.active >= srv.lim.max_sessions)
		server_pause();
	else
		server_resume();
	return (0);
}

/* A connection arrived. */
static void
server_accept_cb(struct evconnlistener *l, evutil_socket_t fd,
    struct sockaddr *sa, int salen, void *arg)
{
	struct session	*s;

	srv.accept_failing = 0;
	s = session_new(fd, sa, salen);
	server_session_add(s);
}

/* accept() failed: out of descriptors and the like.  Back off briefly. */
static void
server_error_cb(struct evconnlistener *l, void *arg)
{
	struct timeval	tv = { 0, SERVER_BACKOFF_MS * 1000 };
	int		err = EVUTIL_SOCKET_ERROR();

	/* Once per run of failures: they repeat every backoff. */
	if (!srv.accept_failing)
		log_warnx("accept: %s", strerror(err));
	srv.accept_failing = 1;
	if (err == EMFILE || err == ENFILE || err == ENOBUFS ||
	    err == ENOMEM) {
		evconnlistener_disable(l);
		evtimer_add(srv.retry, &tv);
	}
}

/* Backoff over: accept again, or retry reopening the socket. */
static void
server_retry_cb(int fd, short events, void *arg)
{
	if (srv.draining)
		return;
	if (srv.listener != NULL)
		evconnlistener_enable(srv.listener);
	else if (!srv.paused)
		server_resume();
}

/* Close the listening socket: the limit is reached. */
static void
server_pause(void)
{
	struct logline	l;

	if (srv.listener == NULL || srv.draining)
		return;
	evconnlistener_free(srv.listener);
	srv.listener = NULL;
	srv.paused = 1;
	srv.stats.paused++;
	lf_begin(&l, LOG_L_WARN, "refused");
	lf_str(&l, "what", "agi");
	lf_str(&l, "addr", srv.addrstr);
	lf_str(&l, "reason", "max_sessions");
	lf_int(&l, "active", srv.active);
	lf_int(&l, "max", srv.lim.max_sessions);
	lf_emit(&l);
}

/* Reopen the listening socket on the address it had. */
static void
server_resume(void)
{
	struct timeval		 tv = { SERVER_REOPEN_MS / 1000, 0 };
	struct sockaddr_storage	 ss = srv.addr;
	char			*cause;
	struct logline		 l;

	if (srv.listener != NULL || srv.draining)
		return;
	if (server_listen((struct sockaddr *)&ss, srv.addrlen, &srv.listener,
	    &srv.addr, &srv.addrlen, &cause) == -1) {
		log_warnx("%s (retrying)", cause);
		free(cause);
		srv.paused = 0;
		evtimer_add(srv.retry, &tv);
		return;
	}
	srv.paused = 0;
	lf_begin(&l, LOG_L_INFO, "listen");
	lf_str(&l, "what", "agi");
	lf_str(&l, "addr", srv.addrstr);
	lf_str(&l, "resumed", "yes");
	lf_int(&l, "active", srv.active);
	lf_emit(&l);
}

/* Track a new session; close the listener at the limit. */
void
server_session_add(struct session *s)
{
	TAILQ_INSERT_TAIL(&srv.sessions, s, entry);
	srv.stats.accepted++;
	if (++srv.active >= srv.lim.max_sessions)
		server_pause();
}

/* A session finished its work (it may linger briefly). */
void
server_session_done(struct session *s)
{
	if (s->flags & SESSION_DONE)
		return;
	s->flags |= SESSION_DONE;
	srv.active--;
	if (srv.paused && srv.active <= srv.lim.max_sessions -
	    (srv.lim.max_sessions + 9) / 10)
		server_resume();
	if (srv.draining)
		server_check_drained();
}

/* A session is gone for good. */
void
server_session_remove(struct session *s)
{
	TAILQ_REMOVE(&srv.sessions, s, entry);
}

/* Stop accepting; call done once every session has ended or the drain
 * deadline has passed (then the rest are closed). */
void
server_drain(void (*done)(void))
{
	struct timeval	tv;

	srv.draining = 1;
	srv.drained = done;
	if (srv.listener != NULL)
		evconnlistener_free(srv.listener);
	srv.listener = NULL;
	evtimer_del(srv.retry);
	tv.tv_sec = srv.lim.drain_timeout_ms / 1000;
	tv.tv_usec = (srv.lim.drain_timeout_ms % 1000) * 1000;
	evtimer_add(srv.drain_timer, &tv);
	server_check_drained();
}

/* The drain deadline passed: close what is left. */
static void
server_drain_cb(int fd, short events, void *arg)
{
	struct session	*s, *next;

	TAILQ_FOREACH_SAFE(s, &srv.sessions, entry, next) {
		if (s->state != S_CLOSING)
			session_close(s, "shutdown");
	}
	server_check_drained();
}

/* Call the drain callback once no session is active. */
static void
server_check_drained(void)
{
	void	(*done)(void) = srv.drained;

	if (!srv.draining || srv.active > 0 || done == NULL)
		return;
	srv.drained = NULL;
	evtimer_del(srv.drain_timer);
	done();
}

/* Close every session and listener, free everything. */
void
server_free(void)
{
	struct session	*s, *next;

	TAILQ_FOREACH_SAFE(s, &srv.sessions, entry, next)
		session_close(s, "shutdown");
	if (srv.listener != NULL)
		evconnlistener_free(srv.listener);
	srv.listener = NULL;
	if (srv.retry != NULL)
		event_free(srv.retry);
	if (srv.drain_timer != NULL)
		event_free(srv.drain_timer);
	srv.retry = srv.drain_timer = NULL;
}

/* Sessions counted against max_sessions. */
int
server_active(void)
{
	return (srv.active);
}

/* The limits in force. */
const struct server_limits *
server_limits(void)
{
	return (&srv.lim);
}

/* Counters. */
struct server_stats *
server_stats(void)
{
	return (&srv.stats);
}

/* Every session, lingering ones included. */
struct session_list *
server_sessions(void)
{
	return (&srv.sessions);
}
