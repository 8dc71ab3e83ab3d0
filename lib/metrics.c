/*
 * metrics: the Prometheus scrape endpoint (see metrics.h).
 *
 * Connection count: libevent 2.1 has no evhttp_set_max_connections, so
 * the bufferevent callback counts a new connection and, one loop pass
 * later, finds its evhttp_connection (the bufferevent's callback
 * argument) and hooks its close callback, which counts it out.  At
 * METRICS_MAX_CONNS the listener is disabled until one closes.
 */
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/listener.h>

#include "lib/addr.h"
#include "lib/conf.h"
#include "lib/log.h"
#include "lib/metrics.h"
#include "lib/xmalloc.h"

#define METRICS_PATH		"/metrics"
#define METRICS_BACKLOG		64
#define METRICS_PREFIX_MAX	32
#define METRICS_LINE_MAX	256
#define METRICS_NET_MAX		(INET6_ADDRSTRLEN + 5)	/* "addr/128" */

/* One prefix of the allow list; host bits are ignored. */
struct metrics_net {
	int		family;		/* AF_INET or AF_INET6 */
	unsigned char	addr[16];
	int		bits;
};

struct metrics_allow {
	struct metrics_net	net[METRICS_ALLOW_MAX];
	int			n;
};

/* A connection from evhttp's bufferevent callback to its close. */
struct metrics_conn {
	struct metrics			*m;
	struct bufferevent		*bev;
	int				 refused;	/* peer not allowed */
	TAILQ_ENTRY(metrics_conn)	 entry;	/* in m->pending */
};

struct metrics {
	struct event_base		*base;
	struct evhttp			*http;
	struct evhttp_bound_socket	*bound;
	char				 prefix[METRICS_PREFIX_MAX];
	metrics_fill			 fill;
	void				*arg;
	struct metrics_allow		 allow;
	char				*listen;	/* as configured */
	char				 addrstr[ADDR_STR_MAX];
	int				 conns, paused;
	int				 refusing;	/* refused, open */
	unsigned long long		 scrapes, refused;
	TAILQ_HEAD(, metrics_conn)	 pending;	/* not adopted yet */
};

/* The page being built for one scrape. */
struct metrics_page {
	struct evbuffer	*buf;
	int		 full;
};

static int	metrics_fail(char **, const char *, ...)
		    __attribute__((format(printf, 2, 3)));
static int	metrics_allow_parse(const char *, struct metrics_allow *,
		    char **);
static int	metrics_net_parse(const char *, struct metrics_net *,
		    char **);
static int	metrics_net_match(const struct metrics_net *,
		    const unsigned char *);
static int	metrics_allowed(const struct metrics_allow *,
		    const struct sockaddr *);
static int	metrics_listen(struct metrics *, const char *, char **);
static void	metrics_unbind(struct metrics *);
static struct bufferevent *metrics_bevcb(struct event_base *, void *);
static void	metrics_adopt(evutil_socket_t, short, void *);
static void	metrics_closed(struct evhttp_connection *, void *);
static void	metrics_gone(struct metrics_conn *);
static void	metrics_uncount(struct metrics *);
static void	metrics_handle(struct evhttp_request *, void *);
static void	metrics_text(struct evhttp_request *, int, const char *);
static void	metrics_page_line(void *, const char *);
static void	metrics_own(const struct metrics *, struct metrics_page *);

/* Set *cause from a format and fail. */
static int
metrics_fail(char **cause, const char *fmt, ...)
{
	va_list	ap;

	if (cause == NULL)
		return (-1);
	va_start(ap, fmt);
	xvasprintf(cause, fmt, ap);
	va_end(ap);
	return (-1);
}

/* Parse "addr" or "addr/bits" into nt; 0 or -1 with *cause. */
static int
metrics_net_parse(const char *s, struct metrics_net *nt, char **cause)
{
	char		 buf[METRICS_NET_MAX], *slash;
	const char	*errstr;
	long long	 bits;
	int		 max;

	if (strlcpy_(buf, s, sizeof buf) >= sizeof buf)
		return (metrics_fail(cause, "\"%.40s...\" is too long", s));
	if ((slash = strchr(buf, '/')) != NULL)
		*slash++ = '\0';
	memset(nt, 0, sizeof *nt);
	if (inet_pton(AF_INET, buf, nt->addr) == 1) {
		nt->family = AF_INET;
		max = 32;
	} else if (inet_pton(AF_INET6, buf, nt->addr) == 1) {
		nt->family = AF_INET6;
		max = 128;
	} else
		return (metrics_fail(cause, "\"%s\" is not a numeric IPv4 or "
		    "IPv6 address", buf));
	nt->bits = max;
	if (slash == NULL)
		return (0);
	if (*slash == '\0' || strspn(slash, "0123456789") != strlen(slash) ||
	    strtonum_(slash, 0, max, &bits, &errstr) == -1)
		return (metrics_fail(cause, "\"%s/%s\": the prefix length "
		    "must be 0-%d", buf, slash, max));
	nt->bits = bits;
	return (0);
}

/* Parse an allow list into al (empty: loopback); 0 or -1 with *cause. */
static int
metrics_allow_parse(const char *s, struct metrics_allow *al, char **cause)
{
	char	tok[METRICS_NET_MAX + 1];
	size_t	len;

	memset(al, 0, sizeof *al);
	for (;;) {
		s += strspn(s, " \t,");
		if (*s == '\0')
			break;
		len = strcspn(s, " \t,");
		if (al->n == METRICS_ALLOW_MAX)
			return (metrics_fail(cause, "more than %d prefixes",
			    METRICS_ALLOW_MAX));
		if (len >= sizeof tok)
			return (metrics_fail(cause, "\"%.40s...\" is too "
			    "long", s));
		memcpy(tok, s, len);
		tok[len] = '\0';
		if (metrics_net_parse(tok, &al->net[al->n], cause) == -1)
			return (-1);
		al->n++;
		s += len;
	}
	if (al->n == 0) {
		if (metrics_net_parse("127.0.0.0/8", &al->net[0], NULL) == -1 ||
		    metrics_net_parse("::1", &al->net[1], NULL) == -1)
			fatalx("metrics: loopback prefixes");
		al->n = 2;
	}
	return (0);
}

/* Check an allow list (a conf_spec check): 0, or -1 with *cause. */
int
metrics_allow_check(const char *s, char **cause)
{
	struct metrics_allow	al;

	return (metrics_allow_parse(s, &al, cause));
}

/* 1 when address a (of nt's family) lies inside prefix nt. */
static int
metrics_net_match(const struct metrics_net *nt, const unsigned char *a)
{
	int		full = nt->bits / 8, rest = nt->bits % 8;
	unsigned char	mask;

	if (memcmp(nt->addr, a, full) != 0)
		return (0);
	if (rest == 0)
		return (1);
	mask = (0xff << (8 - rest)) & 0xff;
	return (((nt->addr[full] ^ a[full]) & mask) == 0);
}

/* 1 when the peer sa is inside one prefix of al. */
static int
metrics_allowed(const struct metrics_allow *al, const struct sockaddr *sa)
{
	const struct sockaddr_in	*sin;
	const struct sockaddr_in6	*sin6;
	const unsigned char		*a;
	int				 family, i;

	if (sa->sa_family == AF_INET) {
		sin = (const struct sockaddr_in *)sa;
		family = AF_INET;
		a = (const unsigned char *)&sin->sin_addr;
	} else if (sa->sa_family == AF_INET6) {
		sin6 = (const struct sockaddr_in6 *)sa;
		family = AF_INET6;
		a = sin6->sin6_addr.s6_addr;
		if (IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr)) {
			family = AF_INET;
			a += 12;
		}
	} else
		return (0);
	for (i = 0; i < al->n; i++) {
		if (al->net[i].family == family &&
		    metrics_net_match(&al->net[i], a))
			return (1);
	}
	return (0);
}

/* An endpoint that listens nowhere yet. */
struct metrics *
metrics_new(struct event_base *base, const char *prefix, metrics_fill fill,
    void *arg)
{
	struct metrics	*m;

	m = xcalloc(1, sizeof *m);
	m->base = base;
	strlcpy_(m->prefix, prefix, sizeof m->prefix);
	m->fill = fill;
	m->arg = arg;
	m->listen = xstrdup("");
	TAILQ_INIT(&m->pending);
	if (metrics_allow_parse("", &m->allow, NULL) == -1)
		fatalx("metrics: default allow list");
	if ((m->http = evhttp_new(base)) == NULL)
		fatalx("metrics: evhttp_new failed");
	evhttp_set_max_headers_size(m->http, METRICS_MAX_HEADERS);
	evhttp_set_max_body_size(m->http, 0);
	evhttp_set_timeout(m->http, METRICS_TIMEOUT_S);
	evhttp_set_allowed_methods(m->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD);
	evhttp_set_default_content_type(m->http, "text/plain");
	evhttp_set_gencb(m->http, metrics_handle, m);
	evhttp_set_bevcb(m->http, metrics_bevcb, m);
	return (m);
}

/* Bind addr and hand the socket to evhttp; 0 or -1 with *cause. */
static int
metrics_listen(struct metrics *m, const char *addr, char **cause)
{
	struct evhttp_bound_socket	*bound;
	struct sockaddr_storage		 ss;
	socklen_t			 sl;
	struct logline			 l;
	char				*why = NULL;
	int				 fd, one = 1;

	if (conf_parse_addr(addr, &ss, &sl, &why) == -1) {
		xasprintf(cause, "%s", why);
		free(why);
		return (-1);
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0);
	if (fd == -1 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one,
	    sizeof one) == -1 || bind(fd, (struct sockaddr *)&ss, sl) == -1 ||
	    listen(fd, METRICS_BACKLOG) == -1 ||
	    (sl = sizeof ss, getsockname(fd, (struct sockaddr *)&ss,
	    &sl)) == -1) {
		xasprintf(cause, "listen %s: %s", addr, strerror(errno));
		if (fd != -1)
			close(fd);
		return (-1);
	}
	if ((bound = evhttp_accept_socket_with_handle(m->http, fd)) == NULL) {
		xasprintf(cause, "listen %s: evhttp refused the socket", addr);
		close(fd);
		return (-1);
	}
	metrics_unbind(m);
	m->bound = bound;
	if (m->paused)
		evconnlistener_disable(evhttp_bound_socket_get_listener(bound));
	addr_format((struct sockaddr *)&ss, sl, m->addrstr,
	    sizeof m->addrstr);
	lf_begin(&l, LOG_L_INFO, "listen");
	lf_str(&l, "what", "metrics");
	lf_str(&l, "addr", m->addrstr);
	lf_emit(&l);
	return (0);
}

/* Close the listener (connections stay until they end). */
static void
metrics_unbind(struct metrics *m)
{
	if (m->bound != NULL)
		evhttp_del_accept_socket(m->http, m->bound);
	m->bound = NULL;
	m->addrstr[0] = '\0';
}

/* Listen on addr with allow list allow (see metrics.h). */
int
metrics_apply(struct metrics *m, const char *listen, const char *allow,
    char **cause)
{
	struct metrics_allow	al;

	if (metrics_allow_parse(allow, &al, cause) == -1)
		return (-1);
	m->allow = al;
	if (strcmp(listen, m->listen) == 0 && (*listen == '\0' ||
	    m->bound != NULL))
		return (0);
	if (*listen == '\0') {
		if (m->bound != NULL)
			log_info("metrics endpoint off");
		metrics_unbind(m);
	} else if (metrics_listen(m, listen, cause) == -1)
		return (-1);
	free(m->listen);
	m->listen = xstrdup(listen);
	return (0);
}

/* The bound address, or "". */
const char *
metrics_addr(const struct metrics *m)
{
	return (m->addrstr);
}

/* Close every connection and the listener, free m. */
void
metrics_free(struct metrics *m)
{
	struct metrics_conn	*c;
	struct bufferevent	*bev;

	if (m == NULL)
		return;
	/* evhttp_free closes the listener before the connections. */
	m->bound = NULL;
	evhttp_free(m->http);
	/* Connections not adopted yet: evhttp has let go of them. */
	while ((c = TAILQ_FIRST(&m->pending)) != NULL) {
		bev = c->bev;
		TAILQ_REMOVE(&m->pending, c, entry);
		free(c);
		bufferevent_decref(bev);
	}
	free(m->listen);
	free(m);
}

/* evhttp wants a bufferevent for a new connection: count it. */
static struct bufferevent *
metrics_bevcb(struct event_base *base, void *arg)
{
	static const struct timeval	 now = { 0, 0 };
	struct metrics			*m = arg;
	struct metrics_conn		*c;
	struct bufferevent		*bev;

	if ((bev = bufferevent_socket_new(base, -1,
	    BEV_OPT_CLOSE_ON_FREE)) == NULL)
		fatalx("metrics: cannot make a bufferevent");
	c = xcalloc(1, sizeof *c);
	c->m = m;
	c->bev = bev;
	bufferevent_incref(bev);
	TAILQ_INSERT_TAIL(&m->pending, c, entry);
	if (event_base_once(base, -1, EV_TIMEOUT, metrics_adopt, c,
	    &now) == -1)
		fatalx("metrics: event_base_once failed");
	if (++m->conns >= METRICS_MAX_CONNS && !m->paused) {
		m->paused = 1;
		if (m->bound != NULL)
			evconnlistener_disable(
			    evhttp_bound_socket_get_listener(m->bound));
		log_warnx("metrics: %d connections, listener paused",
		    m->conns);
	}
	return (bev);
}

/*
 * One loop pass after a connection arrived: hook the close callback of
 * its evhttp_connection, or count it out when evhttp has freed it
 * already (callbacks cleared).
 */
static void
metrics_adopt(evutil_socket_t fd, short what, void *arg)
{
	struct metrics_conn	*c = arg;
	struct bufferevent	*bev = c->bev;
	bufferevent_event_cb	 eventcb = NULL;
	void			*cbarg = NULL;
	const struct sockaddr	*sa;

	TAILQ_REMOVE(&c->m->pending, c, entry);
	bufferevent_getcb(bev, NULL, NULL, &eventcb, &cbarg);
	if (eventcb == NULL || cbarg == NULL) {
		metrics_gone(c);
		bufferevent_decref(bev);
		return;
	}
	evhttp_connection_set_closecb(cbarg, metrics_closed, c);
	sa = evhttp_connection_get_addr(cbarg);
	if (sa == NULL || !metrics_allowed(&c->m->allow, sa)) {
		/*
		 * A peer outside the allow list holds none of the slots of
		 * the allowed ones (it would pause the listener for them):
		 * a few get their 403, the rest are dropped at once.
		 */
		metrics_uncount(c->m);
		c->refused = 1;
		if (++c->m->refusing > METRICS_MAX_REFUSING) {
			c->m->refused++;
			evhttp_connection_free(cbarg);	/* metrics_closed */
		}
	}
	bufferevent_decref(bev);
}

/* evhttp closes an adopted connection. */
static void
metrics_closed(struct evhttp_connection *evcon, void *arg)
{
	metrics_gone(arg);
}

/* A connection is gone: count it out (resuming the listener), free it. */
static void
metrics_gone(struct metrics_conn *c)
{
	if (c->refused)
		c->m->refusing--;
	else
		metrics_uncount(c->m);
	free(c);
}

/* One allowed connection fewer: resume the listener below the cap. */
static void
metrics_uncount(struct metrics *m)
{
	if (--m->conns < METRICS_MAX_CONNS && m->paused) {
		m->paused = 0;
		if (m->bound != NULL)
			evconnlistener_enable(
			    evhttp_bound_socket_get_listener(m->bound));
	}
}

/* A short text reply. */
static void
metrics_text(struct evhttp_request *req, int code, const char *text)
{
	evbuffer_add_printf(evhttp_request_get_output_buffer(req), "%s\n",
	    text);
	evhttp_send_reply(req, code, NULL, NULL);
}

/* Append one line to the page, unless it is full. */
static void
metrics_page_line(void *arg, const char *line)
{
	struct metrics_page	*pg = arg;
	size_t			 len = strlen(line);

	if (pg->full || evbuffer_get_length(pg->buf) + len + 1 >
	    METRICS_PAGE_MAX) {
		pg->full = 1;
		return;
	}
	evbuffer_add(pg->buf, line, len);
	evbuffer_add(pg->buf, "\n", 1);
}

/* The endpoint's own families. */
static void
metrics_own(const struct metrics *m, struct metrics_page *pg)
{
	const struct {
		const char		*name, *help;
		unsigned long long	 v;
	}	 own[] = {
		{ "scrapes", "Pages served by the /metrics endpoint.",
		  m->scrapes },
		{ "refused", "Requests refused with 403: peer not in "
		  "[metrics] allow.", m->refused },
	};
	char	 line[METRICS_LINE_MAX];
	size_t	 i;

	for (i = 0; i < sizeof own / sizeof own[0]; i++) {
		snprintf(line, sizeof line, "# HELP %s_metrics_%s_total %s",
		    m->prefix, own[i].name, own[i].help);
		metrics_page_line(pg, line);
		snprintf(line, sizeof line, "# TYPE %s_metrics_%s_total "
		    "counter", m->prefix, own[i].name);
		metrics_page_line(pg, line);
		snprintf(line, sizeof line, "%s_metrics_%s_total %llu",
		    m->prefix, own[i].name, own[i].v);
		metrics_page_line(pg, line);
	}
}

/* Every request: allow list, path, then the page. */
static void
metrics_handle(struct evhttp_request *req, void *arg)
{
	struct metrics			*m = arg;
	struct evhttp_connection	*evcon;
	const struct sockaddr		*sa = NULL;
	const struct evhttp_uri		*uri;
	const char			*path = NULL;
	struct metrics_page		 pg;
	struct logline			 l;
	char				 host[ADDR_STR_MAX];

	/* Counters of this instant: no cache may keep them. */
	evhttp_add_header(evhttp_request_get_output_headers(req),
	    "Cache-Control", "no-store");
	if ((evcon = evhttp_request_get_connection(req)) != NULL)
		sa = evhttp_connection_get_addr(evcon);
	if (sa == NULL || !metrics_allowed(&m->allow, sa)) {
		m->refused++;
		if (log_enabled(LOG_L_DEBUG)) {
			lf_begin(&l, LOG_L_DEBUG, "metrics_refused");
			lf_str(&l, "addr", sa == NULL ? "unknown" :
			    addr_format(sa, sizeof (struct sockaddr_storage),
			    host, sizeof host));
			lf_emit(&l);
		}
		metrics_text(req, 403, "forbidden");
		return;
	}
	if ((uri = evhttp_request_get_evhttp_uri(req)) != NULL)
		path = evhttp_uri_get_path(uri);
	if (path == NULL || strcmp(path, METRICS_PATH) != 0) {
		metrics_text(req, 404, "not found: try GET " METRICS_PATH);
		return;
	}
	m->scrapes++;
	pg.buf = evhttp_request_get_output_buffer(req);
	pg.full = 0;
	m->fill(metrics_page_line, &pg, m->arg);
	metrics_own(m, &pg);
	if (pg.full) {
		evbuffer_drain(pg.buf, evbuffer_get_length(pg.buf));
		log_warnx("metrics: page larger than %d bytes",
		    METRICS_PAGE_MAX);
		metrics_text(req, 500, "page too large");
		return;
	}
	evhttp_add_header(evhttp_request_get_output_headers(req),
	    "Content-Type", METRICS_CONTENT_TYPE);
	evhttp_send_reply(req, 200, "OK", NULL);
}
