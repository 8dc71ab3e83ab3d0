/*
 * metrics: a Prometheus scrape endpoint.  GET /metrics answers with the
 * text exposition format 0.0.4, served by evhttp on the daemon's event
 * base; the daemon supplies the lines, this module serves them.
 *
 * Per scrape the fill callback writes every line of the page through
 * out(outarg, line) (no newline); the module then appends its own
 * families, <prefix>_metrics_scrapes_total and
 * <prefix>_metrics_refused_total.  Building a page is a walk over
 * counters in memory: nothing waits, the loop is never blocked.
 *
 * Access: a peer outside the allow list gets 403 and is counted.  The
 * list is CIDR prefixes separated by spaces or commas ("127.0.0.1/8
 * ::1"); an address alone is one host; empty means loopback only
 * (127.0.0.0/8 and ::1).  IPv4-mapped IPv6 peers match as IPv4.
 *
 * Bounds: METRICS_MAX_CONNS connections of allowed peers at once (beyond,
 * the listener pauses and new ones wait in the backlog), and
 * METRICS_MAX_REFUSING of peers outside the list (beyond, closed at once), METRICS_MAX_HEADERS bytes of
 * request headers, no request body, METRICS_TIMEOUT_S idle timeout, a
 * page of at most METRICS_PAGE_MAX bytes (beyond: 500, logged).
 */
#ifndef METRICS_H
#define METRICS_H

#define METRICS_ALLOW_MAX	32	/* prefixes in an allow list */
#define METRICS_MAX_CONNS	16
#define METRICS_MAX_REFUSING	4	/* open 403s; more are dropped */
#define METRICS_MAX_HEADERS	8192
#define METRICS_TIMEOUT_S	10
#define METRICS_PAGE_MAX	(1024 * 1024)
#define METRICS_CONTENT_TYPE	"text/plain; version=0.0.4; charset=utf-8"

struct event_base;
struct metrics;

typedef void	(*metrics_out)(void *, const char *);
typedef void	(*metrics_fill)(metrics_out, void *, void *);

/* Check an allow list (a conf_spec check): 0, or -1 with *cause. */
int		 metrics_allow_check(const char *, char **);

/* The [metrics] rows of a daemon's conf_spec table (lib/conf.h). */
#define METRICS_CONF_SPEC						\
	{ "metrics:listen", CONF_ADDR, .def = "", .flags = CONF_EMPTY,	\
	  .help = "GET /metrics (Prometheus) listener; empty: none." },	\
	{ "metrics:allow", CONF_STR, .def = "", .flags = CONF_EMPTY,	\
	  .check = metrics_allow_check,					\
	  .help = "Peers allowed to scrape, CIDR list; empty: loopback "	\
	  "only." }

/* An endpoint that listens nowhere yet; prefix names its own families. */
struct metrics	*metrics_new(struct event_base *, const char *, metrics_fill,
		    void *);
/*
 * Listen on addr ("" for nowhere) with allow list allow.  A new address
 * is bound before the old listener closes; when binding fails, 0 is not
 * returned, *cause says why (caller frees) and the old listener stays.
 * The allow list applies at once either way.  Logs event=listen
 * what=metrics addr=... when bound.
 */
int		 metrics_apply(struct metrics *, const char *, const char *,
		    char **);
/* The bound address "a.b.c.d:port", or "" when not listening. */
const char	*metrics_addr(const struct metrics *);
/* Close every connection and the listener; NULL is allowed. */
void		 metrics_free(struct metrics *);

#endif
