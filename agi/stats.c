/*
 * stats: the daemon's counters and the per-script session statistics
 * (outcomes and latency histograms), as lines of text.
 *
 * session.c reports every session end; the counters of the other modules
 * are read where they live (server_stats(), reload_stats(), ...).  The
 * console only presents what stats_emit() writes: "stats" shows the text
 * format, "stats prometheus" the Prometheus text exposition (version
 * 0.0.4), which any other presenter (an HTTP endpoint) can serve as is.
 * Statistics are kept whether or not the console runs.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "agi/iaxkeyd.h"
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

static struct stats_script	stats_scripts[STATS_SCRIPTS];
static int			stats_nscripts;

static struct stats_script *stats_script(const char *);
static uint64_t	stats_percentile(const struct stats_script *, unsigned);
static void	stats_line(const struct stats_sink *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));
static void	stats_text(const struct stats_sink *);
static void	stats_prometheus(const struct stats_sink *);

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
	const struct server_stats	*ss = server_stats();
	const struct reload_stats	*rs = reload_stats();
	const struct keys_stats		*ks = keys_stats();
	const struct sync_stats		*sy = sync_stats();
	const struct console_stats	*cs = console_stats();
	const struct stats_script	*sc;
	int				 i, j;

	stats_line(sk, "sessions_accepted %llu", U(ss->accepted));
	stats_line(sk, "sessions_ended %llu", U(ss->ended));
	stats_line(sk, "sessions_active %d", server_active());
	stats_line(sk, "protocol_errors %llu", U(ss->protocol_errors));
	stats_line(sk, "timeouts %llu", U(ss->timeouts));
	stats_line(sk, "listener_paused %llu", U(ss->paused));
	stats_line(sk, "reloads_ok %llu", U(rs->ok));
	stats_line(sk, "reloads_failed %llu", U(rs->failed));
	stats_line(sk, "reloads_refused %llu", U(rs->refused));
	stats_line(sk, "reload_write_failures %llu", U(rs->write_failures));
	stats_line(sk, "reload_last_ms %d", rs->last_ms);
	stats_line(sk, "key_requests %llu", U(ks->requests));
	stats_line(sk, "key_fetches_ok %llu", U(ks->ok));
	stats_line(sk, "key_fetches_failed %llu", U(ks->failed));
	stats_line(sk, "key_fetches_inflight %d", ks->inflight);
	stats_line(sk, "keys_installed %llu", U(ks->installed));
	stats_line(sk, "key_negative_hits %llu", U(ks->negative));
	stats_line(sk, "key_rate_limited %llu", U(ks->rate_limited));
	stats_line(sk, "sync_rounds %llu", U(sy->rounds));
	stats_line(sk, "sync_failed %llu", U(sy->failed));
	stats_line(sk, "sync_fetched %llu", U(sy->fetched));
	stats_line(sk, "sync_removed %llu", U(sy->removed));
	stats_line(sk, "peers_file_writes %llu", U(peers_writes()));
	stats_line(sk, "admin_clients %d", cs->clients);
	stats_line(sk, "admin_refused %llu", U(cs->refused));
	stats_line(sk, "admin_auth_failures %llu", U(cs->auth_failures));
	stats_line(sk, "admin_watchers %d", cs->watchers);
	stats_line(sk, "admin_watch_dropped %llu", U(cs->watch_dropped));
	stats_line(sk, "admin_auth_refused %llu", U(cs->auth_refused));
	stats_line(sk, "admin_auth_timeouts %llu", U(cs->auth_timeouts));
	stats_line(sk, "admin_unauth_evicted %llu", U(cs->evicted));
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

/* The Prometheus text exposition. */
static void
stats_prometheus(const struct stats_sink *sk)
{
	const struct server_stats	*ss = server_stats();
	const struct reload_stats	*rs = reload_stats();
	const struct keys_stats		*ks = keys_stats();
	const struct sync_stats		*sy = sync_stats();
	const struct console_stats	*cs = console_stats();
	const struct stats_script	*sc;
	uint64_t			 cum;
	long long			 up;
	int				 i, j;
	size_t				 b;

#define P(...)	stats_line(sk, __VA_ARGS__)
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
	for (i = 0; i < stats_nscripts; i++) {
		sc = &stats_scripts[i];
		for (j = 0; j < sc->nstatus; j++)
			P("iaxkeyd_sessions_total{script=\"%s\","
			    "status=\"%s\"} %llu", sc->name,
			    sc->status[j].name, U(sc->status[j].n));
	}
	META("session_duration_seconds", "histogram", "AGI session "
	    "duration, by script.");
	for (i = 0; i < stats_nscripts; i++) {
		sc = &stats_scripts[i];
		cum = 0;
		for (b = 0; b < STATS_NBOUNDS; b++) {
			cum += sc->buckets[b];
			P("iaxkeyd_session_duration_seconds_bucket{"
			    "script=\"%s\",le=\"%u.%03u\"} %llu", sc->name,
			    stats_bounds[b] / 1000, stats_bounds[b] % 1000,
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
	P("iaxkeyd_admin_clients %d", cs->clients);
	META("admin_auth_failures_total", "counter", "Failed console "
	    "logins.");
	P("iaxkeyd_admin_auth_failures_total %llu", U(cs->auth_failures));
	META("admin_watch_dropped_lines_total", "counter", "Log lines "
	    "dropped for slow console watchers.");
	P("iaxkeyd_admin_watch_dropped_lines_total %llu",
	    U(cs->watch_dropped));
	META("admin_auth_refused_total", "counter", "Console logins "
	    "refused unchecked while the address was locked.");
	P("iaxkeyd_admin_auth_refused_total %llu", U(cs->auth_refused));
	META("admin_auth_timeouts_total", "counter", "Console clients "
	    "closed for not logging in in time.");
	P("iaxkeyd_admin_auth_timeouts_total %llu", U(cs->auth_timeouts));
	META("admin_unauth_evicted_total", "counter", "Console clients "
	    "pushed out before logging in.");
	P("iaxkeyd_admin_unauth_evicted_total %llu", U(cs->evicted));
#undef META
#undef P
}
