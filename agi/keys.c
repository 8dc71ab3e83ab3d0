/*
 * keys: callers' public keys.  Fetch on demand from the key server (one
 * round per node however many sessions wait, at most max_fetches in
 * flight, 404s remembered for negative_ttl, a node refetched at most
 * every min_refetch_s), validate (one PEM RSA 1024-bit public key each),
 * and install the node's key set (keyset.c; named in the users file by
 * users.c).
 *
 * A round (keyround.c) GETs the current key and the other keys its
 * answer lists, then reconciles the held set.
 *
 * Stale keys: a fallback call from a node whose keys are held, or a key
 * hint (the caller's IAXVAR(keynext)) naming a key not held, refetches at
 * once with Cache-Control: no-cache, at most once per node per
 * stale_refetch_s, whatever min_refetch_s and unknown_fetches say.  While
 * the reload that loads the node's last installed change is pending, a
 * fallback call proves nothing (a burst of first calls goes on falling
 * back until Asterisk has the key they taught).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "agi/config.h"
#include "agi/iaxkeyd.h"
#include "lib/astconf.h"
#include "lib/http.h"
#include "lib/xmalloc.h"

struct keywaiter {
	TAILQ_ENTRY(keywaiter)	 entry;
	struct keyfetch		*kf;
	keys_cb			 cb;
	void			*arg;
};

static struct {
	struct http		*http;
	TAILQ_HEAD(, keynode)	 nodes;
	TAILQ_HEAD(, keyfetch)	 queue;
	int			 inflight;
	int			 nnodes;
	struct keys_stats	 stats;
} ks;

static const char *const key_outcome_names[KEY_MAX] = {
	"NEW", "UPDATED", "UNCHANGED", "PENDING", "NOT_FOUND", "FAILED",
	"RATE_LIMITED"
};

static const char sql_get[] =
    "SELECT fingerprint, installed FROM keys WHERE node = ?";
static const char sql_status[] =
    "INSERT INTO keys (node, name, source, fetched, status) VALUES"
    " (?1, ?2, ?3, ?4, ?5) ON CONFLICT(node) DO UPDATE SET fetched = ?4,"
    " status = ?5";
static const char sql_fetched[] =
    "SELECT fetched FROM keys WHERE node = ? AND installed";
static const char sql_callers[] =
    "INSERT INTO callers (node, first_seen, last_seen, count, address,"
    " last_result) VALUES (?1, ?2, ?2, 1, ?3, ?4) ON CONFLICT(node) DO"
    " UPDATE SET last_seen = ?2, count = count + 1, address ="
    " coalesce(?3, address), last_result = ?4";
static const char sql_caller_result[] =
    "UPDATE callers SET last_result = ? WHERE node = ?";

static struct keynode	*keys_node(const char *, int);
static void		 keys_node_evict(const struct keynode *);
static void		 keys_node_drop(const char *);
static void		 keys_refused(const char *, const char *, const char *);
static int		 keys_stale_ok(struct keynode *, uint64_t);
static void		 keys_start(struct keyfetch *);
static void		 keys_next(void);
static void		 keys_deliver(struct keyfetch *, struct key_result *);
static void		 keys_set_status(const char *, const char *,
			    const char *);

/* Name of an outcome (IAXKEY_KEY). */
const char *
key_outcome_name(enum key_outcome o)
{
	if (o >= KEY_MAX)
		return ("FAILED");
	return (key_outcome_names[o]);
}

/*
 * 1 for a node name: [A-Za-z0-9][A-Za-z0-9._-]{0,63}, and with the prefix
 * <= 79 (slot 0's name; slot 1 and 2 names start with '_' after it).
 */
int
keys_node_ok(const char *node)
{
	size_t	n = strlen(node);

	return (n >= 1 && n <= KEYS_NODE_MAX && astconf_name_ok(node) &&
	    ((node[0] >= 'a' && node[0] <= 'z') ||
	    (node[0] >= 'A' && node[0] <= 'Z') ||
	    (node[0] >= '0' && node[0] <= '9')) &&
	    n + strlen(conf_str(ikd->conf, "inbound:key_prefix")) <=
	    ASTCONF_NAME_MAX);
}

/* The key name of a node's slot 0 (its per-node section's name). */
void
keys_name(const char *node, char *buf, size_t size)
{
	if (keyset_name(node, 0, buf, size) == -1 && size > 0)
		buf[0] = '\0';
}

/* Set up. */
int
keys_init(char **cause)
{
	char		*path;
	int		 existed;
	uint64_t	 writes;

	TAILQ_INIT(&ks.nodes);
	TAILQ_INIT(&ks.queue);
	ks.http = http_new(ikd->base, 64);
	if (ks.http == NULL) {
		xasprintf(cause, "cannot set up libcurl");
		return (-1);
	}
	reload_add_flush(users_flush);
	/* The store is the truth: render once; reload if that changed it. */
	xasprintf(&path, "%s/%s", conf_str(ikd->conf, "asterisk:config_dir"),
	    conf_str(ikd->conf, "inbound:users_file"));
	existed = access(path, F_OK) == 0;
	free(path);
	users_dirty();
	writes = users_writes();
	if (users_flush(cause) == -1)
		return (-1);
	if (users_writes() != writes && existed)
		reload_need(RELOAD_CHAN_IAX2);
	return (0);
}

/* Free everything; waiters are dropped without callbacks. */
void
keys_free(void)
{
	struct keynode	*kn;
	struct keyfetch	*kf;
	struct keywaiter *w;

	while ((kn = TAILQ_FIRST(&ks.nodes)) != NULL) {
		TAILQ_REMOVE(&ks.nodes, kn, entry);
		if ((kf = kn->fetch) != NULL) {
			while ((w = TAILQ_FIRST(&kf->waiters)) != NULL) {
				TAILQ_REMOVE(&kf->waiters, w, entry);
				free(w);
			}
			keyround_free(kf);
		}
		free(kn);
	}
	if (ks.http != NULL)
		http_free(ks.http);
	memset(&ks, 0, sizeof ks);
}

/* The process's HTTP client (shared with sync). */
struct http *
keys_http(void)
{
	return (ks.http);
}

/* Counters for the console. */
const struct keys_stats *
keys_stats(void)
{
	ks.stats.inflight = ks.inflight;
	return (&ks.stats);
}

/* The transient state of a node, created when asked. */
static struct keynode *
keys_node(const char *node, int create)
{
	struct keynode	*kn;

	TAILQ_FOREACH(kn, &ks.nodes, entry) {
		if (strcmp(kn->node, node) == 0) {
			/* Most recently used last: eviction starts at the head. */
			TAILQ_REMOVE(&ks.nodes, kn, entry);
			TAILQ_INSERT_TAIL(&ks.nodes, kn, entry);
			return (kn);
		}
	}
	if (!create)
		return (NULL);
	kn = xcalloc(1, sizeof *kn);
	strlcpy_(kn->node, node, sizeof kn->node);
	TAILQ_INSERT_TAIL(&ks.nodes, kn, entry);
	if (++ks.nnodes > conf_int(ikd->conf, "inbound:max_unknown"))
		keys_node_evict(kn);
	return (kn);
}

/*
 * Past max_unknown nodes, drop the least recently used one, other than
 * keep, that has no fetch running: it only holds rate-limit and 404
 * timestamps.
 */
static void
keys_node_evict(const struct keynode *keep)
{
	struct keynode	*kn;

	TAILQ_FOREACH(kn, &ks.nodes, entry) {
		if (kn != keep && kn->fetch == NULL) {
			TAILQ_REMOVE(&ks.nodes, kn, entry);
			ks.nnodes--;
			free(kn);
			return;
		}
	}
}

/* Forget the transient state of node (forget key): no rate limit left. */
static void
keys_node_drop(const char *node)
{
	struct keynode	*kn;

	if ((kn = keys_node(node, 0)) == NULL)
		return;
	kn->last_attempt = kn->last_404 = 0;
	if (kn->fetch == NULL) {
		TAILQ_REMOVE(&ks.nodes, kn, entry);
		ks.nnodes--;
		free(kn);
	}
}

/*
 * 1 when the store has node's key installed (its fingerprint in fpr unless
 * fpr is NULL), or 0.
 */
int
keys_installed(const char *node, char *fpr, size_t size)
{
	sqlite3_stmt	*st;
	int		 installed = 0;

	if (fpr != NULL)
		fpr[0] = '\0';
	if ((st = store_stmt(ikd->store, sql_get)) == NULL)
		return (0);
	sqlite3_bind_text(st, 1, node, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW) {
		installed = sqlite3_column_int(st, 1);
		if (installed && fpr != NULL &&
		    sqlite3_column_text(st, 0) != NULL)
			strlcpy_(fpr, (const char *)sqlite3_column_text(st, 0),
			    size);
	}
	sqlite3_reset(st);
	return (installed);
}

/* Log a name refused before any fetch. */
static void
keys_refused(const char *node, const char *source, const char *why)
{
	struct logline	l;

	lf_begin(&l, LOG_L_WARN, "key_refused");
	lf_str(&l, "node", node);
	lf_str(&l, "source", source);
	lf_str(&l, "reason", why);
	lf_emit(&l);
}

/*
 * 1 when a stale or hint refetch of kn may run now (and note it): none
 * ran within the window, and Asterisk has loaded the node's last change.
 */
static int
keys_stale_ok(struct keynode *kn, uint64_t t)
{
	uint64_t	win = (uint64_t)conf_int(ikd->conf,
			    "inbound:stale_refetch_s") * 1000;

	if (win == 0 || (kn->last_stale != 0 && t - kn->last_stale < win) ||
	    (kn->gen != 0 && !reload_covered(kn->gen)))
		return (0);
	kn->last_stale = t;
	return (1);
}

/*
 * Fetch the keys of node for source ("inbound", "sync", "refresh",
 * "console", "hint").  Returns 1 with *now filled when the outcome is
 * known at once (negative cache, rate limit, configuration), or 0 with
 * *wp set: cb runs later (never from inside this call) unless
 * keys_cancel(*wp).  With cb NULL the fetch runs in the background and 0
 * is returned.  An inbound call from a node whose keys are held came by
 * the fallback: its keys are stale (source "stale", see above).
 */
int
keys_fetch(const char *node, const char *source, int force, keys_cb cb,
    void *arg, struct key_result *now, struct keywaiter **wp)
{
	static char		 fpr[KEYSET_FPR_MAX + 1];
	struct keynode		*kn;
	struct keyfetch		*kf;
	struct keywaiter	*w;
	uint64_t		 t = now_ms();
	const char		*why;
	int			 installed, stale, nocache = 0;

	memset(now, 0, sizeof *now);
	if (wp != NULL)
		*wp = NULL;
	installed = keys_installed(node, fpr, sizeof fpr);
	if ((why = names_reserved(node, installed)) != NULL) {
		keys_refused(node, source, why);
		now->outcome = KEY_FAILED;
		now->reason = why;
		return (1);
	}
	kn = keys_node(node, 1);
	stale = installed && (strcmp(source, "inbound") == 0 ||
	    strcmp(source, "hint") == 0);
	if ((kf = kn->fetch) == NULL) {
		if (!force && kn->last_404 != 0 && t - kn->last_404 <
		    (uint64_t)conf_int(ikd->conf, "inbound:negative_ttl") *
		    1000) {
			now->outcome = KEY_NOT_FOUND;
			now->reason = "not on the key server (cached)";
			ks.stats.negative++;
			return (1);
		}
		if (stale && keys_stale_ok(kn, t)) {
			force = nocache = 1;
			if (strcmp(source, "inbound") == 0)
				source = "stale";
		}
		if (!force && kn->last_attempt != 0 && t - kn->last_attempt <
		    (uint64_t)conf_int(ikd->conf, "inbound:min_refetch_s") *
		    1000) {
			/* An installed key fetched that recently is current. */
			now->outcome = installed ? KEY_UNCHANGED :
			    KEY_RATE_LIMITED;
			now->fingerprint = installed ? fpr : NULL;
			now->reason = installed ? NULL : "fetched too recently";
			now->gen = kn->gen;
			ks.stats.rate_limited++;
			return (1);
		}
		if (!force && !installed && strcmp(source, "inbound") == 0 &&
		    !callers_budget_take()) {
			now->outcome = KEY_RATE_LIMITED;
			now->reason = "key fetches for unknown callers: "
			    "unknown_fetches a minute spent";
			ks.stats.rate_limited++;
			return (1);
		}
		if (!ksget_configured()) {
			now->outcome = KEY_FAILED;
			now->reason = "[keyserver] url is not set";
			return (1);
		}
		kf = xcalloc(1, sizeof *kf);
		kf->kn = kn;
		kf->source = source;
		kf->nocache = nocache;
		TAILQ_INIT(&kf->waiters);
		kn->fetch = kf;
		kn->last_attempt = t;
		TAILQ_INSERT_TAIL(&ks.queue, kf, qentry);
		keys_next();
	}
	if (cb == NULL)
		return (0);
	w = xcalloc(1, sizeof *w);
	w->kf = kf;
	w->cb = cb;
	w->arg = arg;
	TAILQ_INSERT_TAIL(&kf->waiters, w, entry);
	*wp = w;
	return (0);
}

/*
 * The caller's key hint (its IAXVAR(keynext), untrusted): when node's keys
 * are held and the hint names a well-formed fingerprint not among them,
 * refetch in the background (it never installs anything by itself).
 */
void
keys_hint(const char *node, const char *hint)
{
	struct keyset		 set;
	struct key_result	 r;
	char			*cause = NULL;
	int			 held;

	if (hint == NULL || !keyset_fpr_ok(hint, strlen(hint)) ||
	    !keys_installed(node, NULL, 0))
		return;
	if (keyset_load(node, &set, &cause) == -1) {
		log_warnx("key hint of %s: %s", node, cause);
		free(cause);
		return;
	}
	held = keyset_find(&set, hint) != -1;
	keyset_clear(&set);
	if (!held)
		keys_fetch(node, "hint", 0, NULL, NULL, &r, NULL);
}

/* Stop waiting (the fetch itself goes on). */
void
keys_cancel(struct keywaiter *w)
{
	if (w == NULL)
		return;
	TAILQ_REMOVE(&w->kf->waiters, w, entry);
	free(w);
}

/* Start queued fetches while fewer than max_fetches run. */
static void
keys_next(void)
{
	struct keyfetch	*kf;

	while (ks.inflight < conf_int(ikd->conf, "keyserver:max_fetches") &&
	    (kf = TAILQ_FIRST(&ks.queue)) != NULL) {
		TAILQ_REMOVE(&ks.queue, kf, qentry);
		keys_start(kf);
	}
}

/*
 * Request options for the key server from [keyserver]; hdr (two slots)
 * holds the optional API key header.
 */
void
keys_http_opts(struct http_opts *o, const char **hdr)
{
	memset(o, 0, sizeof *o);
	o->timeout_ms = conf_int(ikd->conf, "keyserver:timeout_ms");
	o->connect_timeout_ms = o->timeout_ms;
	o->max_body = conf_int(ikd->conf, "keyserver:max_body");
	o->ca_file = conf_str(ikd->conf, "keyserver:ca_file");
	o->allow_http = conf_bool(ikd->conf, "keyserver:allow_http");
	hdr[0] = hdr[1] = NULL;
	if (*conf_str(ikd->conf, "keyserver:api_key_header") != '\0') {
		hdr[0] = conf_str(ikd->conf, "keyserver:api_key_header");
		o->headers = hdr;
	}
}

/* Start a round: GET the current key. */
static void
keys_start(struct keyfetch *kf)
{
	ks.inflight++;
	ks.stats.requests++;
	keyround_start(kf);
}

/* A round ended (keyround.c): deliver, start the next. */
void
keys_round_done(struct keyfetch *kf, struct key_result *r)
{
	ks.inflight--;
	ks.stats.installed += kf->installed;
	keys_deliver(kf, r);
	keys_next();
}

/* Log, record and hand the result to every waiter, then free the round. */
static void
keys_deliver(struct keyfetch *kf, struct key_result *r)
{
	struct keywaiter	*w;
	struct logline		 l;
	struct keyset		 set;
	char			 name[ASTCONF_NAME_MAX + 1], *cause = NULL;
	int			 n = 0, held = -1;

	TAILQ_FOREACH(w, &kf->waiters, entry)
		n++;
	kf->kn->fetch = NULL;
	if (r->outcome == KEY_FAILED)
		ks.stats.failed++;
	else
		ks.stats.ok++;
	keys_name(kf->kn->node, name, sizeof name);
	if (r->outcome != KEY_NEW && r->outcome != KEY_UPDATED &&
	    r->outcome != KEY_UNCHANGED)
		keys_set_status(kf->kn->node, name, key_outcome_name(r->outcome));
	if (keyset_load(kf->kn->node, &set, &cause) == 0) {
		held = keyset_count(&set);
		keyset_clear(&set);
	}
	free(cause);
	lf_begin(&l, r->outcome == KEY_FAILED ? LOG_L_WARN : LOG_L_INFO,
	    "key_fetch");
	lf_str(&l, "node", kf->kn->node);
	lf_str(&l, "source", kf->source);
	lf_str(&l, "url", kf->url);
	lf_str(&l, "result", key_outcome_name(r->outcome));
	lf_str(&l, "fingerprint", r->fingerprint);
	if (held >= 0)
		lf_int(&l, "keys", held);
	lf_int(&l, "waiters", n);
	lf_int(&l, "ms", now_ms() - kf->t0);
	lf_str(&l, "reason", r->reason);
	lf_emit(&l);
	while ((w = TAILQ_FIRST(&kf->waiters)) != NULL) {
		TAILQ_REMOVE(&kf->waiters, w, entry);
		w->cb(w->arg, r);
		free(w);
	}
	keyround_free(kf);
}

/* Record a fetch outcome that installed nothing. */
static void
keys_set_status(const char *node, const char *name, const char *status)
{
	sqlite3_stmt	*st;

	if ((st = store_stmt(ikd->store, sql_status)) == NULL)
		return;
	sqlite3_bind_text(st, 1, node, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, "keyserver", -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, time(NULL));
	sqlite3_bind_text(st, 5, status, -1, SQLITE_STATIC);
	store_done(ikd->store, st);
	callers_prune();
}

/* RSA call: refresh the key in the background when older than max_age. */
void
keys_refresh_if_old(const char *node)
{
	sqlite3_stmt		*st;
	long long		 max_age = conf_int(ikd->conf, "inbound:max_age");
	long long		 fetched = -1;
	struct key_result	 r;

	if (max_age == 0 || (st = store_stmt(ikd->store, sql_fetched)) == NULL)
		return;
	sqlite3_bind_text(st, 1, node, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW)
		fetched = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	if (fetched >= 0 && time(NULL) - fetched > max_age)
		keys_fetch(node, "refresh", 0, NULL, NULL, &r, NULL);
}

/*
 * Record a fallback call from node (address may be NULL), with the
 * outcome so far.
 */
void
keys_record_caller(const char *node, const char *address,
    const char *result)
{
	sqlite3_stmt	*st;

	if ((st = store_stmt(ikd->store, sql_callers)) == NULL)
		return;
	sqlite3_bind_text(st, 1, node, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, time(NULL));
	if (address != NULL)
		sqlite3_bind_text(st, 3, address, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, result, -1, SQLITE_STATIC);
	store_done(ikd->store, st);
	callers_prune();
}

/* Update the last result of a caller. */
void
keys_caller_result(const char *node, const char *result)
{
	sqlite3_stmt	*st;

	if ((st = store_stmt(ikd->store, sql_caller_result)) == NULL)
		return;
	sqlite3_bind_text(st, 1, result, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, node, -1, SQLITE_STATIC);
	store_done(ikd->store, st);
}

/* Remove a node's keys, files and inkeys entries; 1 done, 0 unknown, -1. */
int
keys_forget(const char *node, char **cause)
{
	int	rc;

	if (names_own(node)) {
		xasprintf(cause, "%s is this node's own name", node);
		return (-1);
	}
	keys_node_drop(node);
	if ((rc = keyset_forget(node, cause)) == 1)
		reload_need(RELOAD_CHAN_IAX2 | RELOAD_RES_CRYPTO);
	return (rc);

}
