/*
 * stats: the key server's counters, served as Prometheus text by the
 * /metrics endpoint ([metrics] listen, lib/metrics.c).
 *
 * api.c counts every answered request (route and status), uploads and
 * connections; the gauges (keys, replay cache, open connections) are
 * read where they live when a page is built.  Every label takes a value
 * from a fixed set, and every series is written even when it is 0, so a
 * rate() sees the first event.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "lib/log.h"
#include "lib/metrics.h"
#include "keyserver/ks.h"

#define STATS_LINE_MAX	256
#define STATS_CLASSES	4	/* 2xx 3xx 4xx 5xx */

static const char *const stats_route_names[] = {
	[STATS_ROUTE_INDEX] = "index",
	[STATS_ROUTE_KEY_GET] = "key_get",
	[STATS_ROUTE_KEY_PUT] = "key_put",
	[STATS_ROUTE_KEY_DELETE] = "key_delete",
	[STATS_ROUTE_NEXT_GET] = "next_get",
	[STATS_ROUTE_NEXT_PUT] = "next_put",
	[STATS_ROUTE_NEXT_DELETE] = "next_delete",
	[STATS_ROUTE_PREVIOUS_GET] = "previous_get",
	[STATS_ROUTE_PREVIOUS_DELETE] = "previous_delete",
	[STATS_ROUTE_OTHER] = "other",
};
_Static_assert(sizeof stats_route_names / sizeof *stats_route_names ==
    STATS_ROUTE_MAX, "route names");

static const char *const stats_upload_names[] = {
	[STATS_UPLOAD_REGISTERED] = "registered",
	[STATS_UPLOAD_REPLACED] = "replaced",
	[STATS_UPLOAD_PROMOTED] = "promoted",
	[STATS_UPLOAD_STAGED] = "staged",
	[STATS_UPLOAD_UNCHANGED] = "unchanged",
	[STATS_UPLOAD_REFUSED] = "refused",
};
_Static_assert(sizeof stats_upload_names / sizeof *stats_upload_names ==
    STATS_UPLOAD_MAX, "upload names");

static const char *const stats_closed_names[] = {
	[STATS_CLOSED_PER_ADDR] = "per_addr_limit",
	[STATS_CLOSED_DEADLINE] = "deadline",
};
_Static_assert(sizeof stats_closed_names / sizeof *stats_closed_names ==
    STATS_CLOSED_MAX, "closed names");

/* Refused requests: the reason label of each status. */
static const struct {
	int		 status;
	const char	*reason;
} stats_reasons[] = {
	{ 400, "bad_request" },
	{ 401, "unauthenticated" },
	{ 403, "forbidden" },
	{ 404, "not_found" },
	{ 405, "method_not_allowed" },
	{ 409, "replay" },
	{ 413, "too_large" },
	{ 429, "rate_limited" },
	{ 500, "storage_error" },
	{ 503, "busy" },
	{ 0, "other" },		/* any other status >= 400 */
};
#define STATS_REASONS	(sizeof stats_reasons / sizeof stats_reasons[0])

static struct {
	unsigned long long	 requests[STATS_ROUTE_MAX][STATS_CLASSES];
	unsigned long long	 rejected[STATS_REASONS];
	unsigned long long	 uploads[STATS_UPLOAD_MAX];
	unsigned long long	 accepted;
	unsigned long long	 closed[STATS_CLOSED_MAX];
	time_t			 started;
	struct metrics		*endpoint;
} st;

static void	stats_line(metrics_out, void *, const char *, ...)
		    __attribute__((format(printf, 3, 4)));
static void	stats_meta(metrics_out, void *, const char *, const char *,
		    const char *);
static void	stats_page(metrics_out, void *, void *);

/* A request on route was answered with status. */
void
stats_request(enum stats_route route, int status)
{
	size_t	i;
	int	class = status / 100 - 2;

	if (class < 0)
		class = 0;
	if (class >= STATS_CLASSES)
		class = STATS_CLASSES - 1;
	st.requests[route][class]++;
	if (status < 400)
		return;
	for (i = 0; i < STATS_REASONS - 1; i++) {
		if (stats_reasons[i].status == status)
			break;
	}
	st.rejected[i]++;
}

/* A PUT ended so. */
void
stats_upload(enum stats_upload result)
{
	st.uploads[result]++;
}

/* A connection was accepted. */
void
stats_conn_accepted(void)
{
	st.accepted++;
}

/* A connection was closed by the server for a reason. */
void
stats_conn_closed(enum stats_closed why)
{
	st.closed[why]++;
}

/* Format one line and hand it to out. */
static void
stats_line(metrics_out out, void *arg, const char *fmt, ...)
{
	char	buf[STATS_LINE_MAX];
	va_list	ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	out(arg, buf);
}

/* The HELP and TYPE lines of a family. */
static void
stats_meta(metrics_out out, void *arg, const char *name, const char *type,
    const char *help)
{
	stats_line(out, arg, "# HELP iaxkey_server_%s %s", name, help);
	stats_line(out, arg, "# TYPE iaxkey_server_%s %s", name, type);
}

/* A page of the /metrics endpoint. */
static void
stats_page(metrics_out out, void *arg, void *unused)
{
	size_t	 r, c, cap, n;

	stats_meta(out, arg, "build_info", "gauge", "Version of the running "
	    "server.");
	stats_line(out, arg, "iaxkey_server_build_info{version=\"%s\"} 1",
	    KS_VERSION);
	stats_meta(out, arg, "start_time_seconds", "gauge", "Start time of "
	    "the server, in seconds since the epoch.");
	stats_line(out, arg, "iaxkey_server_start_time_seconds %lld",
	    (long long)st.started);
	stats_meta(out, arg, "http_requests_total", "counter", "Requests "
	    "answered, by route and status class.");
	for (r = 0; r < STATS_ROUTE_MAX; r++) {
		for (c = 0; c < STATS_CLASSES; c++)
			stats_line(out, arg, "iaxkey_server_http_requests_total"
			    "{route=\"%s\",code=\"%zuxx\"} %llu",
			    stats_route_names[r], c + 2, st.requests[r][c]);
	}
	stats_meta(out, arg, "rejections_total", "counter", "Requests "
	    "refused (status >= 400), by reason.");
	for (r = 0; r < STATS_REASONS; r++)
		stats_line(out, arg, "iaxkey_server_rejections_total{reason="
		    "\"%s\"} %llu", stats_reasons[r].reason, st.rejected[r]);
	stats_meta(out, arg, "uploads_total", "counter", "Key uploads (PUT), "
	    "by result.");
	for (r = 0; r < STATS_UPLOAD_MAX; r++)
		stats_line(out, arg, "iaxkey_server_uploads_total{result="
		    "\"%s\"} %llu", stats_upload_names[r], st.uploads[r]);
	stats_meta(out, arg, "keys", "gauge", "Keys in the store.");
	stats_line(out, arg, "iaxkey_server_keys %zu", keys_count());
	n = guard_nonces(&cap);
	stats_meta(out, arg, "replay_nonces", "gauge", "Nonces in the replay "
	    "cache.");
	stats_line(out, arg, "iaxkey_server_replay_nonces %zu", n);
	stats_meta(out, arg, "replay_nonces_capacity", "gauge", "Size of the "
	    "replay cache (http max_nonces); full: 503.");
	stats_line(out, arg, "iaxkey_server_replay_nonces_capacity %zu", cap);
	stats_meta(out, arg, "connections", "gauge", "Connections open.");
	stats_line(out, arg, "iaxkey_server_connections %d", conn_active());
	stats_meta(out, arg, "connections_accepted_total", "counter",
	    "Connections accepted.");
	stats_line(out, arg, "iaxkey_server_connections_accepted_total %llu",
	    st.accepted);
	stats_meta(out, arg, "connections_closed_total", "counter",
	    "Connections closed by the server, by reason.");
	for (r = 0; r < STATS_CLOSED_MAX; r++)
		stats_line(out, arg, "iaxkey_server_connections_closed_total{"
		    "reason=\"%s\"} %llu", stats_closed_names[r], st.closed[r]);
	stats_meta(out, arg, "listener_paused", "gauge", "1 while "
	    "max_connections holds the listener closed.");
	stats_line(out, arg, "iaxkey_server_listener_paused %d", conn_paused());
}

/* Start the /metrics endpoint after [metrics]; 0 or -1 with *cause. */
int
stats_serve(struct event_base *base, const struct conf *conf, char **cause)
{
	st.started = time(NULL);
	st.endpoint = metrics_new(base, "iaxkey_server", stats_page, NULL);
	return (metrics_apply(st.endpoint, conf_str(conf, "metrics:listen"),
	    conf_str(conf, "metrics:allow"), cause));
}

/* Close the /metrics endpoint. */
void
stats_serve_stop(void)
{
	metrics_free(st.endpoint);
	st.endpoint = NULL;
}
