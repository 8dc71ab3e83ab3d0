/*
 * stats: the daemon's counters and the per-script session statistics
 * (outcomes and latency histograms), as lines of text.
 *
 * session.c reports every session end; the counters of the other modules
 * are read where they live (server_stats(), reload_stats(), ...).  The
 * console only presents what stats_emit() writes: "stats" shows the text
 * format, "stats prometheus" the Prometheus text exposition (version
 * 0.0.4), which the /metrics endpoint ([metrics] listen, lib/metrics.c,
 * started by stats_serve) serves as is: both read one snapshot per page,
 * so they present the same numbers.  Statistics are kept whether or not
 * the console or the endpoint runs.
 */
#include <stdarg.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "agi/iaxkeyd.h"
#include "lib/metrics.h"
#include "lib/xmalloc.h"

#define STATS_SCRIPTS		8	/* per-script statistics */
#define STATS_STATUSES		16	/* statuses per script */
#define STATS_NAME_LEN		32
#define STATS_LINE_MAX		512

#define U(x)	((unsigned long long)(x))	/* for %llu */

/* Latency bucket upper bounds in ms; one more bucket holds the rest. */
static const unsigned stats_bounds[] = {
	1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000,
	60000
};
#define STATS_NBOUNDS	(sizeof stats_bounds / sizeof stats_bounds[0])
#define STATS_BUCKETS	(STATS_NBOUNDS + 1)

struct stats_script {
	char		 name[STATS_NAME_LEN];
	uint64_t	 count, sum_ms, max_ms;
	uint64_t	 buckets[STATS_BUCKETS];	/* not cumulative */
	int		 nstatus;
	struct {
		char		name[STATS_NAME_LEN];
		uint64_t	n;
	}		 status[STATS_STATUSES];
};

/* The destination of stats_emit's lines. */
struct stats_sink {
	stats_out	 out;
	void		*arg;
};

/* The daemon's counters, read at once by stats_snapshot(). */
enum stats_value {
	SV_SESSIONS_ACCEPTED, SV_SESSIONS_ENDED, SV_SESSIONS_ACTIVE,
	SV_PROTOCOL_ERRORS, SV_TIMEOUTS, SV_LISTENER_PAUSED,
	SV_RELOADS_OK, SV_RELOADS_FAILED, SV_RELOADS_REFUSED,
	SV_RELOAD_WRITE_FAILURES, SV_RELOAD_LAST_MS, SV_RELOAD_LAST_OK,
	SV_KEY_REQUESTS, SV_KEY_FETCHES_OK, SV_KEY_FETCHES_FAILED,
	SV_KEY_FETCHES_INFLIGHT, SV_KEYS_INSTALLED, SV_KEY_NEGATIVE_HITS,
	SV_KEY_RATE_LIMITED,
	SV_SYNC_ROUNDS, SV_SYNC_FAILED, SV_SYNC_FETCHED, SV_SYNC_REMOVED,
	SV_PEERS_FILE_WRITES,
	SV_ADMIN_CLIENTS, SV_ADMIN_REFUSED, SV_ADMIN_AUTH_FAILURES,
	SV_ADMIN_WATCHERS, SV_ADMIN_WATCH_DROPPED, SV_ADMIN_AUTH_REFUSED,
	SV_ADMIN_AUTH_TIMEOUTS, SV_ADMIN_UNAUTH_EVICTED,
	SV_MAX
};

/* The text format: "name value", in this order. */
static const struct {
	const char		*name;
	enum stats_value	 v;
} stats_text_rows[] = {
	{ "sessions_accepted", SV_SESSIONS_ACCEPTED },
	{ "sessions_ended", SV_SESSIONS_ENDED },
	{ "sessions_active", SV_SESSIONS_ACTIVE },
	{ "protocol_errors", SV_PROTOCOL_ERRORS },
	{ "timeouts", SV_TIMEOUTS },
	{ "listener_paused", SV_LISTENER_PAUSED },
	{ "reloads_ok", SV_RELOADS_OK },
	{ "reloads_failed", SV_RELOADS_FAILED },
	{ "reloads_refused", SV_RELOADS_REFUSED },
	{ "reload_write_failures", SV_RELOAD_WRITE_FAILURES },
	{ "reload_last_ms", SV_RELOAD_LAST_MS },
	{ "key_requests", SV_KEY_REQUESTS },
	{ "key_fetches_ok", SV_KEY_FETCHES_OK },
	{ "key_fetches_failed", SV_KEY_FETCHES_FAILED },
	{ "key_fetches_inflight", SV_KEY_FETCHES_INFLIGHT },
	{ "keys_installed", SV_KEYS_INSTALLED },
	{ "key_negative_hits", SV_KEY_NEGATIVE_HITS },
	{ "key_rate_limited", SV_KEY_RATE_LIMITED },
	{ "sync_rounds", SV_SYNC_ROUNDS },
	{ "sync_failed", SV_SYNC_FAILED },
	{ "sync_fetched", SV_SYNC_FETCHED },
	{ "sync_removed", SV_SYNC_REMOVED },
	{ "peers_file_writes", SV_PEERS_FILE_WRITES },
	{ "admin_clients", SV_ADMIN_CLIENTS },
	{ "admin_refused", SV_ADMIN_REFUSED },
	{ "admin_auth_failures", SV_ADMIN_AUTH_FAILURES },
	{ "admin_watchers", SV_ADMIN_WATCHERS },
	{ "admin_watch_dropped", SV_ADMIN_WATCH_DROPPED },
	{ "admin_auth_refused", SV_ADMIN_AUTH_REFUSED },
	{ "admin_auth_timeouts", SV_ADMIN_AUTH_TIMEOUTS },
	{ "admin_unauth_evicted", SV_ADMIN_UNAUTH_EVICTED },
};

/*
 * One series of the Prometheus exposition: iaxkeyd_<name>{<labels>}.  A
 * row with a type starts a family (HELP and TYPE lines); one without adds
 * a series to the family above.  ms: the value is in ms, shown in
 * seconds.
 */
struct stats_prom {
	const char		*name;
	const char		*labels;
	const char		*type;
	const char		*help;
	enum stats_value	 v;
	int			 ms;
};
#define C	"counter"
#define G	"gauge"

/* Before the per-script families. */
static const struct stats_prom stats_prom_head[] = {
	{ "sessions_active", NULL, G, "AGI sessions counted against "
	  "max_sessions.", SV_SESSIONS_ACTIVE, 0 },
	{ "sessions_accepted_total", NULL, C, "AGI connections accepted.",
	  SV_SESSIONS_ACCEPTED, 0 },
};

/* After them. */
static const struct stats_prom stats_prom_tail[] = {
	{ "protocol_errors_total", NULL, C, "AGI protocol errors.",
	  SV_PROTOCOL_ERRORS, 0 },
	{ "session_timeouts_total", NULL, C, "AGI sessions ended by a "
	  "deadline.", SV_TIMEOUTS, 0 },
	{ "listener_paused_total", NULL, C, "Times the AGI listener closed "
	  "at max_sessions.", SV_LISTENER_PAUSED, 0 },
	{ "reloads_total", "result=\"ok\"", C, "Module reloads, by result.",
	  SV_RELOADS_OK, 0 },
	{ "reloads_total", "result=\"failed\"", NULL, NULL,
	  SV_RELOADS_FAILED, 0 },
	{ "reloads_refused_total", NULL, C, "Reload attempts refused by "
	  "Asterisk and retried.", SV_RELOADS_REFUSED, 0 },
	{ "reload_write_failures_total", NULL, C, "Generated files that "
	  "could not be written.", SV_RELOAD_WRITE_FAILURES, 0 },
	{ "reload_last_duration_seconds", NULL, G, "Duration of the last "
	  "reload.", SV_RELOAD_LAST_MS, 1 },
	{ "reload_last_success", NULL, G, "1 when the last reload "
	  "succeeded.", SV_RELOAD_LAST_OK, 0 },
	{ "key_requests_total", NULL, C, "Key server requests.",
	  SV_KEY_REQUESTS, 0 },
	{ "key_fetches_total", "result=\"ok\"", C, "Key fetches ended, by "
	  "result.", SV_KEY_FETCHES_OK, 0 },
	{ "key_fetches_total", "result=\"failed\"", NULL, NULL,
	  SV_KEY_FETCHES_FAILED, 0 },
	{ "key_fetches_inflight", NULL, G, "Key server requests running.",
	  SV_KEY_FETCHES_INFLIGHT, 0 },
	{ "keys_installed_total", NULL, C, "Keys installed or updated.",
	  SV_KEYS_INSTALLED, 0 },
	{ "key_negative_hits_total", NULL, C, "Fetches answered from the "
	  "404 cache.", SV_KEY_NEGATIVE_HITS, 0 },
	{ "key_rate_limited_total", NULL, C, "Fetches refused by the "
	  "per-node rate limit.", SV_KEY_RATE_LIMITED, 0 },
	{ "sync_rounds_total", NULL, C, "Periodic sync rounds.",
	  SV_SYNC_ROUNDS, 0 },
	{ "sync_failures_total", NULL, C, "Periodic sync rounds that "
	  "failed.", SV_SYNC_FAILED, 0 },
	{ "sync_fetched_total", NULL, C, "Keys fetched by sync.",
	  SV_SYNC_FETCHED, 0 },
	{ "sync_removed_total", NULL, C, "Keys removed by sync.",
	  SV_SYNC_REMOVED, 0 },
	{ "peers_file_writes_total", NULL, C, "Writes of the peers file.",
	  SV_PEERS_FILE_WRITES, 0 },
	{ "admin_clients", NULL, G, "Console clients connected.",
	  SV_ADMIN_CLIENTS, 0 },
	{ "admin_auth_failures_total", NULL, C, "Failed console logins.",
	  SV_ADMIN_AUTH_FAILURES, 0 },
	{ "admin_watch_dropped_lines_total", NULL, C, "Log lines dropped "
	  "for slow console watchers.", SV_ADMIN_WATCH_DROPPED, 0 },
	{ "admin_auth_refused_total", NULL, C, "Console logins refused "
	  "unchecked while the address was locked.", SV_ADMIN_AUTH_REFUSED,
	  0 },
	{ "admin_auth_timeouts_total", NULL, C, "Console clients closed for "
	  "not logging in in time.", SV_ADMIN_AUTH_TIMEOUTS, 0 },
	{ "admin_unauth_evicted_total", NULL, C, "Console clients pushed "
	  "out before logging in.", SV_ADMIN_UNAUTH_EVICTED, 0 },
};
#undef C
#undef G

static struct stats_script	stats_scripts[STATS_SCRIPTS];
static int			stats_nscripts;
static struct metrics		*stats_endpoint;	/* /metrics */

static struct stats_script *stats_script(const char *);
static uint64_t	stats_percentile(const struct stats_script *, unsigned);
static void	stats_line(const struct stats_sink *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));
static void	stats_snapshot(long long *);
static void	stats_text(const struct stats_sink *);
static void	stats_prom_meta(const struct stats_sink *, const char *,
		    const char *, const char *);
static void	stats_prom_rows(const struct stats_sink *,
		    const struct stats_prom *, size_t, const long long *);
static void	stats_prom_scripts(const struct stats_sink *);
static void	stats_prometheus(const struct stats_sink *);
static void	stats_prom_ksurl(void *, const struct ksget_state *);
static void	stats_page(metrics_out, void *, void *);

/* The statistics of a script, created when there is room. */
static struct stats_script *
stats_script(const char *name)
{
	struct stats_script	*sc;
	int			 i;

	for (i = 0; i < stats_nscripts; i++) {
		if (strcmp(stats_scripts[i].name, name) == 0)
			return (&stats_scripts[i]);
	}
	if (stats_nscripts == STATS_SCRIPTS)
		return (&stats_scripts[STATS_SCRIPTS - 1]);	/* shared */
	sc = &stats_scripts[stats_nscripts++];
	strlcpy_(sc->name, stats_nscripts == STATS_SCRIPTS ? "other" : name,
	    sizeof sc->name);
	return (sc);
}

/*
 * A session ended (session.c): script is a route name or NULL, status a
 * handler's status or NULL.
 */
void
stats_session_end(const char *script, const char *status, uint64_t ms)
{
	struct stats_script	*sc;
	size_t			 b;
	int			 i;

	sc = stats_script(script != NULL ? script : "unknown");
	if (status == NULL)
		status = "none";
	sc->count++;
	sc->sum_ms += ms;
	if (ms > sc->max_ms)
		sc->max_ms = ms;
	for (b = 0; b < STATS_NBOUNDS && ms > stats_bounds[b]; b++)
		;
	sc->buckets[b]++;
	for (i = 0; i < sc->nstatus; i++) {
		if (strcmp(sc->status[i].name, status) == 0)
			break;
	}
	if (i == sc->nstatus) {
		if (sc->nstatus == STATS_STATUSES)
			i = STATS_STATUSES - 1;		/* shared */
		else {
			sc->nstatus++;
			strlcpy_(sc->status[i].name, i == STATS_STATUSES - 1 ?
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
stats_percentile(const struct stats_script *sc, unsigned pct)
{
	uint64_t	rank, cum = 0, lo, hi;
	size_t		b;

	if (sc->count == 0)
		return (0);
	rank = (sc->count * pct + 99) / 100;
	if (rank == 0)
		rank = 1;
	for (b = 0; b < STATS_BUCKETS; b++) {
		if (cum + sc->buckets[b] >= rank)
			break;
		cum += sc->buckets[b];
	}
	if (b == STATS_BUCKETS)
		return (sc->max_ms);
	lo = b == 0 ? 0 : stats_bounds[b - 1];
	hi = b < STATS_NBOUNDS ? stats_bounds[b] : sc->max_ms;
	if (hi > sc->max_ms)
		hi = sc->max_ms;
	if (hi < lo)
		return (hi);
	return (lo + (hi - lo) * (rank - cum) / sc->buckets[b]);
}

/*
 * For each script in the order first seen: fn(arg, script, outcomes),
 * outcomes as "OK 812, RELOAD_FAILED 2".
 */
void
stats_outcomes(void (*fn)(void *, const char *, const char *), void *arg)
{
	const struct stats_script	*sc;
	char				 buf[STATS_STATUSES *
					    (STATS_NAME_LEN + 24)];
	size_t				 len;
	int				 i, j;

	for (i = 0; i < stats_nscripts; i++) {
		sc = &stats_scripts[i];
		buf[0] = '\0';
		for (j = 0, len = 0; j < sc->nstatus && len < sizeof buf;
		    j++)
			len += snprintf(buf + len, sizeof buf - len,
			    "%s%s %llu", j > 0 ? ", " : "",
			    sc->status[j].name, U(sc->status[j].n));
		fn(arg, sc->name, buf);
	}
}

/* Read every counter once, into v[SV_MAX]. */
static void
stats_snapshot(long long *v)
{
	const struct server_stats	*ss = server_stats();
	const struct reload_stats	*rs = reload_stats();
	const struct keys_stats		*ks = keys_stats();
	const struct sync_stats		*sy = sync_stats();
	const struct console_stats	*cs = console_stats();

	v[SV_SESSIONS_ACCEPTED] = ss->accepted;
	v[SV_SESSIONS_ENDED] = ss->ended;
	v[SV_SESSIONS_ACTIVE] = server_active();
	v[SV_PROTOCOL_ERRORS] = ss->protocol_errors;
	v[SV_TIMEOUTS] = ss->timeouts;
	v[SV_LISTENER_PAUSED] = ss->paused;
	v[SV_RELOADS_OK] = rs->ok;
	v[SV_RELOADS_FAILED] = rs->failed;
	v[SV_RELOADS_REFUSED] = rs->refused;
	v[SV_RELOAD_WRITE_FAILURES] = rs->write_failures;
	v[SV_RELOAD_LAST_MS] = rs->last_ms;
	v[SV_RELOAD_LAST_OK] = rs->last_ok ? 1 : 0;
	v[SV_KEY_REQUESTS] = ks->requests;
	v[SV_KEY_FETCHES_OK] = ks->ok;
	v[SV_KEY_FETCHES_FAILED] = ks->failed;
	v[SV_KEY_FETCHES_INFLIGHT] = ks->inflight;
	v[SV_KEYS_INSTALLED] = ks->installed;
	v[SV_KEY_NEGATIVE_HITS] = ks->negative;
	v[SV_KEY_RATE_LIMITED] = ks->rate_limited;
	v[SV_SYNC_ROUNDS] = sy->rounds;
	v[SV_SYNC_FAILED] = sy->failed;
	v[SV_SYNC_FETCHED] = sy->fetched;
	v[SV_SYNC_REMOVED] = sy->removed;
	v[SV_PEERS_FILE_WRITES] = peers_writes();
	v[SV_ADMIN_CLIENTS] = cs->clients;
	v[SV_ADMIN_REFUSED] = cs->refused;
	v[SV_ADMIN_AUTH_FAILURES] = cs->auth_failures;
	v[SV_ADMIN_WATCHERS] = cs->watchers;
	v[SV_ADMIN_WATCH_DROPPED] = cs->watch_dropped;
	v[SV_ADMIN_AUTH_REFUSED] = cs->auth_refused;
	v[SV_ADMIN_AUTH_TIMEOUTS] = cs->auth_timeouts;
	v[SV_ADMIN_UNAUTH_EVICTED] = cs->evicted;
}

/* Format one line and hand it to the sink. */
static void
stats_line(const struct stats_sink *sk, const char *fmt, ...)
{
	char	buf[STATS_LINE_MAX];
	va_list	ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	sk->out(sk->arg, buf);
}

/* Write every line of the statistics in a format to out(arg, line). */
void
stats_emit(enum stats_format fmt, stats_out out, void *arg)
{
	struct stats_sink	sk = { out, arg };

	if (fmt == STATS_PROMETHEUS)
		stats_prometheus(&sk);
	else
		stats_text(&sk);
}

/* "name value" lines, then session outcomes and latency per script. */
static void
stats_text(const struct stats_sink *sk)
{
	const struct stats_script	*sc;
	long long			 v[SV_MAX];
	size_t				 k;
	int				 i, j;

	stats_snapshot(v);
	for (k = 0; k < sizeof stats_text_rows / sizeof stats_text_rows[0];
	    k++)
		stats_line(sk, "%s %lld", stats_text_rows[k].name,
		    v[stats_text_rows[k].v]);
	for (i = 0; i < stats_nscripts; i++) {
		sc = &stats_scripts[i];
		for (j = 0; j < sc->nstatus; j++)
			stats_line(sk, "session_status script=%s status=%s "
			    "count=%llu", sc->name, sc->status[j].name,
			    U(sc->status[j].n));
	}
	for (i = 0; i < stats_nscripts; i++) {
		sc = &stats_scripts[i];
		stats_line(sk, "session_ms script=%s count=%llu p50=%llu "
		    "p90=%llu p99=%llu max=%llu", sc->name, U(sc->count),
		    U(stats_percentile(sc, 50)), U(stats_percentile(sc, 90)),
		    U(stats_percentile(sc, 99)), U(sc->max_ms));
	}
}

/* The HELP and TYPE lines of a metric family. */
static void
stats_prom_meta(const struct stats_sink *sk, const char *name,
    const char *type, const char *help)
{
	stats_line(sk, "# HELP iaxkeyd_%s %s", name, help);
	stats_line(sk, "# TYPE iaxkeyd_%s %s", name, type);
}

/* Rows of the Prometheus table, with the values of snapshot v. */
static void
stats_prom_rows(const struct stats_sink *sk, const struct stats_prom *rows,
    size_t n, const long long *v)
{
	const struct stats_prom	*r;
	size_t			 k;

	for (k = 0; k < n; k++) {
		r = &rows[k];
		if (r->type != NULL)
			stats_prom_meta(sk, r->name, r->type, r->help);
		if (r->ms)
			stats_line(sk, "iaxkeyd_%s%s%s%s %lld.%03lld", r->name,
			    r->labels != NULL ? "{" : "", r->labels != NULL ?
			    r->labels : "", r->labels != NULL ? "}" : "",
			    v[r->v] / 1000, v[r->v] % 1000);
		else
			stats_line(sk, "iaxkeyd_%s%s%s%s %lld", r->name,
			    r->labels != NULL ? "{" : "", r->labels != NULL ?
			    r->labels : "", r->labels != NULL ? "}" : "",
			    v[r->v]);
	}
}

/* Sessions by script and status, and their duration histograms. */
static void
stats_prom_scripts(const struct stats_sink *sk)
{
	const struct stats_script	*sc;
	uint64_t			 cum;
	int				 i, j;
	size_t				 b;

	stats_prom_meta(sk, "sessions_total", "counter", "AGI sessions "
	    "ended, by script and status.");
	for (i = 0; i < stats_nscripts; i++) {
		sc = &stats_scripts[i];
		for (j = 0; j < sc->nstatus; j++)
			stats_line(sk, "iaxkeyd_sessions_total{script=\"%s\","
			    "status=\"%s\"} %llu", sc->name,
			    sc->status[j].name, U(sc->status[j].n));
	}
	stats_prom_meta(sk, "session_duration_seconds", "histogram", "AGI "
	    "session duration, by script.");
	for (i = 0; i < stats_nscripts; i++) {
		sc = &stats_scripts[i];
		cum = 0;
		for (b = 0; b < STATS_NBOUNDS; b++) {
			cum += sc->buckets[b];
			stats_line(sk, "iaxkeyd_session_duration_seconds_"
			    "bucket{script=\"%s\",le=\"%u.%03u\"} %llu",
			    sc->name, stats_bounds[b] / 1000,
			    stats_bounds[b] % 1000, U(cum));
		}
		stats_line(sk, "iaxkeyd_session_duration_seconds_bucket{"
		    "script=\"%s\",le=\"+Inf\"} %llu", sc->name,
		    U(sc->count));
		stats_line(sk, "iaxkeyd_session_duration_seconds_sum{"
		    "script=\"%s\"} %llu.%03llu", sc->name,
		    U(sc->sum_ms / 1000), U(sc->sum_ms % 1000));
		stats_line(sk, "iaxkeyd_session_duration_seconds_count{"
		    "script=\"%s\"} %llu", sc->name, U(sc->count));
	}
}

/* The Prometheus text exposition. */
static void
stats_prometheus(const struct stats_sink *sk)
{
	long long	v[SV_MAX], up;

	stats_snapshot(v);
	up = (long long)time(NULL) - (long long)ikd->started.tv_sec;
	stats_prom_meta(sk, "build_info", "gauge", "Version of the running "
	    "daemon.");
	stats_line(sk, "iaxkeyd_build_info{version=\"%s\"} 1",
	    IAXKEYD_VERSION);
	stats_prom_meta(sk, "uptime_seconds", "gauge", "Seconds since the "
	    "daemon started.");
	stats_line(sk, "iaxkeyd_uptime_seconds %lld", up < 0 ? 0 : up);
	stats_prom_meta(sk, "start_time_seconds", "gauge", "Start time of "
	    "the daemon, in seconds since the epoch.");
	stats_line(sk, "iaxkeyd_start_time_seconds %lld",
	    (long long)ikd->started.tv_sec);
	stats_prom_rows(sk, stats_prom_head, sizeof stats_prom_head /
	    sizeof stats_prom_head[0], v);
	stats_prom_scripts(sk);
	stats_prom_rows(sk, stats_prom_tail, sizeof stats_prom_tail /
	    sizeof stats_prom_tail[0], v);
	stats_prom_meta(sk, "keyserver_requests_total", "counter", "Key "
	    "server requests by URL list, position in it (never the URL) and "
	    "result.");
	ksget_each(stats_prom_ksurl, (void *)sk);
}

/* The requests of one key server URL. */
static void
stats_prom_ksurl(void *arg, const struct ksget_state *st)
{
	const struct stats_sink	*sk = arg;

	stats_line(sk, "iaxkeyd_keyserver_requests_total{list=\"%s\","
	    "url=\"%d\",result=\"ok\"} %llu", st->list, st->pos, U(st->ok));
	stats_line(sk, "iaxkeyd_keyserver_requests_total{list=\"%s\","
	    "url=\"%d\",result=\"failed\"} %llu", st->list, st->pos,
	    U(st->failed));
}

/* A page of the /metrics endpoint: the Prometheus exposition. */
static void
stats_page(metrics_out out, void *outarg, void *arg)
{
	stats_emit(STATS_PROMETHEUS, out, outarg);
}

/*
 * Start, move or stop the /metrics endpoint after [metrics] (startup and
 * SIGHUP).  A listener that cannot be bound is logged as an error and
 * the old one, if any, stays; the next SIGHUP tries again.
 */
void
stats_serve(struct event_base *base, const struct conf *conf)
{
	struct logline	 l;
	const char	*listen = conf_str(conf, "metrics:listen");
	char		*cause = NULL;

	if (stats_endpoint == NULL)
		stats_endpoint = metrics_new(base, "iaxkeyd", stats_page,
		    NULL);
	if (metrics_apply(stats_endpoint, listen, conf_str(conf,
	    "metrics:allow"), &cause) == 0)
		return;
	lf_begin(&l, LOG_L_ERROR, "listen_failed");
	lf_str(&l, "what", "metrics");
	lf_str(&l, "addr", listen);
	lf_str(&l, "reason", cause);
	lf_str(&l, "action", *metrics_addr(stats_endpoint) != '\0' ?
	    "old listener kept" : "no metrics endpoint");
	lf_emit(&l);
	free(cause);
}

/* The bound address of the /metrics endpoint, or "". */
const char *
stats_serve_addr(void)
{
	return (stats_endpoint != NULL ? metrics_addr(stats_endpoint) : "");
}

/* Close the /metrics endpoint (shutdown). */
void
stats_serve_stop(void)
{
	metrics_free(stats_endpoint);
	stats_endpoint = NULL;
}
