/*
 * sync: the periodic key sync (the draft's other approach).  Every
 * sync_interval seconds (plus up to sync_jitter_s of random delay, so a
 * network of nodes does not fetch in step) fetch the key server's index,
 * one line per node:
 *
 *   <node> sha256:<64 hex>        (a bare 64-hex fingerprint is accepted)
 *
 * with If-None-Match on the previous ETag, then fetch only the keys whose
 * fingerprint differs from the installed one.  Installs go through keys.c
 * and share its reloads.  With sync_remove, keys the index no longer lists
 * are removed.  A malformed line is skipped and counted, never trusted.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "agi/config.h"
#include "agi/iaxkeyd.h"
#include "lib/http.h"
#include "lib/xmalloc.h"

#define SYNC_LINE_MAX	256

static struct {
	struct http	*http;
	struct event	*timer;
	struct ksget	*req;
	char		*url;		/* redacted URL that served the round */
	char		 etag[128];
	uint64_t	 t0;
	struct sync_stats stats;
} sy;

static const char sql_installed[] =
    "SELECT node FROM keys WHERE installed";

static void	sync_timer_cb(int, short, void *);
static void	sync_schedule(void);
static void	sync_answer_cb(void *, const struct http_resp *,
		    const char *);
static void	sync_done_cb(void *, const struct http_resp *, const char *);
static int	sync_parse(const char *, size_t, char ***, int *);
static void	sync_log(const char *, int, int, int, int, const char *);

/* Arm the next round. */
static void
sync_schedule(void)
{
	long long	ivl = conf_int(ikd->conf, "keyserver:sync_interval");
	long long	jit = conf_int(ikd->conf, "keyserver:sync_jitter_s");
	struct timeval	tv;

	if (ivl == 0) {
		evtimer_del(sy.timer);
		return;
	}
	tv.tv_sec = ivl + (jit > 0 ? arc4random_uniform(jit + 1) : 0);
	tv.tv_usec = 0;
	evtimer_add(sy.timer, &tv);
}

/* Set up; the first round comes after one interval. */
int
sync_init(struct http *http, char **cause)
{
	sy.http = http;
	sy.timer = evtimer_new(ikd->base, sync_timer_cb, NULL);
	sync_schedule();
	return (0);
}

/* The configuration changed: rearm. */
void
sync_apply(void)
{
	if (sy.timer != NULL && sy.req == NULL)
		sync_schedule();
}

/* Free. */
void
sync_free(void)
{
	ksget_cancel(sy.req);
	free(sy.url);
	if (sy.timer != NULL)
		event_free(sy.timer);
	memset(&sy, 0, sizeof sy);
}

/* Counters for the console. */
const struct sync_stats *
sync_stats(void)
{
	return (&sy.stats);
}

/* Start a round now; 0, or -1 with *cause (one already runs, no URL). */
int
sync_run(char **cause)
{
	struct http_opts	 o;
	const char		*hdr[2];

	if (sy.req != NULL) {
		xasprintf(cause, "a sync round is already running");
		return (-1);
	}
	free(sy.url);
	sy.url = NULL;
	if (!ksget_configured() &&
	    *conf_str(ikd->conf, "keyserver:index_url") == '\0') {
		xasprintf(cause, "[keyserver] url and index_url are not set");
		return (-1);
	}
	keys_http_opts(&o, hdr);
	o.if_none_match = sy.etag[0] != '\0' ? sy.etag : NULL;
	sy.t0 = now_ms();
	sy.req = ksget_index(sy.http, &o, sync_answer_cb, NULL);
	return (0);
}

/* The index request ended: note the URL that served for sync_log. */
static void
sync_answer_cb(void *arg, const struct http_resp *resp, const char *url)
{
	free(sy.url);
	sy.url = xstrdup(url);
	sync_done_cb(arg, resp, url);
}

/* Timer: run a round, then rearm. */
static void
sync_timer_cb(int fd, short events, void *arg)
{
	char	*cause = NULL;

	if (sync_run(&cause) == -1) {
		sync_log("error", 0, 0, 0, 0, cause);
		free(cause);
		sync_schedule();
	}
}

/* Log one event=sync line. */
static void
sync_log(const char *result, int listed, int fetched, int removed,
    int bad, const char *reason)
{
	struct logline	l;

	lf_begin(&l, strcmp(result, "error") == 0 ? LOG_L_WARN : LOG_L_INFO,
	    "sync");
	lf_str(&l, "result", result);
	lf_int(&l, "listed", listed);
	lf_int(&l, "fetch", fetched);
	lf_int(&l, "removed", removed);
	lf_int(&l, "bad_lines", bad);
	lf_int(&l, "ms", now_ms() - sy.t0);
	lf_str(&l, "url", sy.url);
	lf_str(&l, "reason", reason);
	lf_emit(&l);
}

/*
 * One field of an index line after the node: the current fingerprint
 * (cur NULL), or "next=" / "previous=" into set; unknown name=value
 * fields are ignored.  0, or -1 when malformed.
 */
static int
sync_field(const char *f, char set[KEY_ROLE_MAX][KEYSET_FPR_MAX + 1])
{
	const char	*eq;
	char		 fpr[KEYSET_FPR_MAX + 1];
	int		 r;

	if (set[KEY_ROLE_CURRENT][0] == '\0') {
		snprintf(fpr, sizeof fpr, "%s%s", strlen(f) == 64 ?
		    "sha256:" : "", f);
		r = KEY_ROLE_CURRENT;
	} else {
		if ((eq = strchr(f, '=')) == NULL || eq == f)
			return (-1);
		for (r = KEY_ROLE_NEXT; r < KEY_ROLE_MAX; r++) {
			if (strlen(key_role_name(r)) == (size_t)(eq - f) &&
			    strncmp(f, key_role_name(r), eq - f) == 0)
				break;
		}
		if (r == KEY_ROLE_MAX)
			return (0);
		strlcpy_(fpr, eq + 1, sizeof fpr);
		f = eq + 1;
	}
	if (strlen(f) > KEYSET_FPR_MAX || !keyset_fpr_ok(fpr, strlen(fpr)) ||
	    set[r][0] != '\0')
		return (-1);
	strlcpy_(set[r], fpr, sizeof set[r]);
	return (0);
}

/*
 * Parse the index into "node cur next prev" strings ("-" for no key;
 * caller frees each and the array).  Returns the number of malformed
 * lines.
 */
static int
sync_parse(const char *body, size_t len, char ***out, int *n)
{
	const char	*p = body, *end = body + len, *nl;
	char		 line[SYNC_LINE_MAX + 1], *f, *sp;
	char		 set[KEY_ROLE_MAX][KEYSET_FPR_MAX + 1];
	size_t		 l;
	int		 bad = 0, cap = 0, ok, r;

	*out = NULL;
	*n = 0;
	for (; p < end; p = nl + 1) {
		if ((nl = memchr(p, '\n', end - p)) == NULL)
			nl = end;
		l = nl - p;
		if (l > 0 && p[l - 1] == '\r')
			l--;
		if (l == 0)
			continue;
		if (l > SYNC_LINE_MAX) {
			bad++;
			continue;
		}
		memcpy(line, p, l);
		line[l] = '\0';
		memset(set, 0, sizeof set);
		if ((sp = strchr(line, ' ')) == NULL) {
			bad++;
			continue;
		}
		*sp++ = '\0';
		ok = keys_node_ok(line);
		for (f = sp; ok && f != NULL; f = sp) {
			if ((sp = strchr(f, ' ')) != NULL)
				*sp++ = '\0';
			ok = *f != '\0' && sync_field(f, set) == 0;
		}
		for (r = 0; ok && r < KEY_ROLE_MAX; r++)
			ok = r == 0 ? set[0][0] != '\0' : set[r][0] == '\0' ||
			    (strcmp(set[r], set[0]) != 0 && (r == 1 ||
			    strcmp(set[r], set[1]) != 0));
		if (!ok) {
			bad++;
			continue;
		}
		if (*n == cap) {
			cap = cap == 0 ? 64 : cap * 2;
			*out = xreallocarray(*out, cap, sizeof **out);
		}
		xasprintf(&(*out)[(*n)++], "%s %s %s %s", line, set[0],
		    set[1][0] != '\0' ? set[1] : "-",
		    set[2][0] != '\0' ? set[2] : "-");
	}
	return (bad);
}

/* The index arrived. */
static void
sync_done_cb(void *arg, const struct http_resp *resp, const char *url)
{
	char			**list, *sp, *cause = NULL;
	int			 n, i, j, bad, fetched = 0, removed = 0, found;
	sqlite3_stmt		*st;
	struct key_result	 r;
	char			**gone = NULL;
	int			 ngone = 0;

	sy.req = NULL;
	sy.stats.rounds++;
	sync_schedule();
	if (resp->error != NULL || (resp->status != 200 &&
	    resp->status != 304)) {
		sy.stats.failed++;
		if (resp->error != NULL)
			xasprintf(&cause, "%s", resp->error);
		else
			xasprintf(&cause, "HTTP %ld", resp->status);
		sync_log("error", 0, 0, 0, 0, cause);
		free(cause);
		return;
	}
	if (resp->status == 304) {
		sync_log("unchanged", 0, 0, 0, 0, NULL);
		return;
	}
	if (resp->etag != NULL)
		strlcpy_(sy.etag, resp->etag, sizeof sy.etag);
	bad = sync_parse(resp->body, resp->len, &list, &n);
	for (i = 0; i < n; i++) {
		sp = strchr(list[i], ' ');
		*sp++ = '\0';
		if (!keyset_matches(list[i], sp)) {
			keys_fetch(list[i], "sync", 1, NULL, NULL, &r, NULL);
			fetched++;
		}
	}
	if (conf_bool(ikd->conf, "keyserver:sync_remove") &&
	    (st = store_stmt(ikd->store, sql_installed)) != NULL) {
		while (sqlite3_step(st) == SQLITE_ROW) {
			const char *node = (const char *)
			    sqlite3_column_text(st, 0);

			for (j = 0, found = 0; j < n && !found; j++)
				found = strcmp(list[j], node) == 0;
			if (!found) {
				gone = xreallocarray(gone, ngone + 1,
				    sizeof *gone);
				gone[ngone++] = xstrdup(node);
			}
		}
		sqlite3_reset(st);
		for (j = 0; j < ngone; j++) {
			if (keys_forget(gone[j], &cause) == 1)
				removed++;
			else if (cause != NULL) {
				log_warnx("sync: %s", cause);
				free(cause);
				cause = NULL;
			}
			free(gone[j]);
		}
		free(gone);
	}
	sy.stats.fetched += fetched;
	sy.stats.removed += removed;
	sync_log("ok", n, fetched, removed, bad, NULL);
	for (i = 0; i < n; i++)
		free(list[i]);
	free(list);
}
