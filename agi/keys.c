/*
 * keys: callers' public keys.  Fetch on demand from the key server (one
 * request per node however many sessions wait, at most max_fetches in
 * flight, 404s remembered for negative_ttl, a node refetched at most
 * every min_refetch_s), validate (one PEM RSA 1024-bit public key),
 * compare fingerprints, install atomically as <key_dir>/<prefix><node>.pub
 * and name it in the users file (#included from iax.conf):
 *
 *   shared     [<user>](+) with one "inkeys=a:b:c" line, never longer
 *              than 8190 characters (Asterisk skips longer lines)
 *   per-node   [<prefix><node>](<template>) with inkeys=<prefix><node>
 *
 * The state store's keys table is the source of truth; the users file is
 * rendered from it right before a reload (flush hook).
 */
#include <sys/stat.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "agi/config.h"
#include "agi/iaxkeyd.h"
#include "lib/afile.h"
#include "lib/astconf.h"
#include "lib/http.h"
#include "lib/rsakey.h"
#include "lib/xmalloc.h"

#define KEYS_USERS_MAX		(16 * 1024 * 1024)
#define KEYS_INKEYS_PREFIX	7	/* "inkeys=" */

struct keywaiter {
	TAILQ_ENTRY(keywaiter)	 entry;
	struct keyfetch		*kf;
	keys_cb			 cb;
	void			*arg;
};

struct keyfetch {
	TAILQ_ENTRY(keyfetch)	 qentry;	/* queued past max_fetches */
	struct keynode		*kn;
	struct ksget		*req;
	const char		*source;
	char			*url;		/* redacted, for logs */
	uint64_t		 t0;
	TAILQ_HEAD(, keywaiter)	 waiters;
};

struct keynode {
	TAILQ_ENTRY(keynode)	 entry;
	char			 node[KEYS_NODE_MAX + 1];
	uint64_t		 last_attempt;	/* ms, monotonic */
	uint64_t		 last_404;
	uint64_t		 gen;		/* last install's generation */
	struct keyfetch		*fetch;
};

static struct {
	struct http		*http;
	TAILQ_HEAD(, keynode)	 nodes;
	TAILQ_HEAD(, keyfetch)	 queue;
	int			 inflight;
	int			 nnodes;
	int			 dirty;		/* users file */
	uint64_t		 writes;
	struct keys_stats	 stats;
} ks;

static const char *const key_outcome_names[KEY_MAX] = {
	"NEW", "UPDATED", "UNCHANGED", "PENDING", "NOT_FOUND", "FAILED",
	"RATE_LIMITED"
};

static const char sql_get[] =
    "SELECT fingerprint, installed FROM keys WHERE node = ?";
static const char sql_put[] =
    "INSERT INTO keys (node, name, fingerprint, bits, source, fetched,"
    " changed, status, installed, pem) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6,"
    " ?7, 1, ?8) ON CONFLICT(node) DO UPDATE SET name = ?2,"
    " fingerprint = ?3, bits = ?4, source = ?5, fetched = ?6,"
    " changed = CASE WHEN fingerprint IS ?3 AND installed THEN changed"
    " ELSE ?6 END, status = ?7, installed = 1, pem = ?8";
static const char sql_status[] =
    "INSERT INTO keys (node, name, source, fetched, status) VALUES"
    " (?1, ?2, ?3, ?4, ?5) ON CONFLICT(node) DO UPDATE SET fetched = ?4,"
    " status = ?5";
static const char sql_names[] =
    "SELECT name FROM keys WHERE installed ORDER BY node";
static const char sql_fetched[] =
    "SELECT fetched FROM keys WHERE node = ? AND installed";
static const char sql_forget[] = "DELETE FROM keys WHERE node = ?";
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
static void		 keys_start(struct keyfetch *);
static void		 keys_next(void);
static void		 keys_done_cb(void *, const struct http_resp *,
			    const char *);
static void		 keys_fetch_free(struct keyfetch *);
static void		 keys_deliver(struct keyfetch *, struct key_result *);
static void		 keys_install(struct keyfetch *, const char *, size_t,
			    struct key_result *);
static void		 keys_set_status(const char *, const char *,
			    const char *);
static int		 keys_inkeys_len(size_t *, char **);
static int		 keys_render(struct astconf *, char **);

/* Name of an outcome (IAXKEY_KEY). */
const char *
key_outcome_name(enum key_outcome o)
{
	if (o >= KEY_MAX)
		return ("FAILED");
	return (key_outcome_names[o]);
}

/* 1 for a node name: [A-Za-z0-9._-]{1,64}, and with the prefix <= 79. */
int
keys_node_ok(const char *node)
{
	size_t	n = strlen(node);

	return (n >= 1 && n <= KEYS_NODE_MAX && astconf_name_ok(node) &&
	    n + strlen(conf_str(ikd->conf, "inbound:key_prefix")) <=
	    ASTCONF_NAME_MAX);
}

/* The key (and inkeys) name of a node. */
void
keys_name(const char *node, char *buf, size_t size)
{
	snprintf(buf, size, "%s%s", conf_str(ikd->conf, "inbound:key_prefix"),
	    node);
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
	reload_add_flush(keys_flush);
	/* The store is the truth: render once; reload if that changed it. */
	xasprintf(&path, "%s/%s", conf_str(ikd->conf, "asterisk:config_dir"),
	    conf_str(ikd->conf, "inbound:users_file"));
	existed = access(path, F_OK) == 0;
	free(path);
	ks.dirty = 1;
	writes = ks.writes;
	if (keys_flush(cause) == -1)
		return (-1);
	if (ks.writes != writes && existed)
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
			keys_fetch_free(kf);
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
 * Fetch the key of node for source ("inbound", "sync", "refresh",
 * "console").  Returns 1 with *now filled when the outcome is known at
 * once (negative cache, rate limit, configuration), or 0 with *wp set:
 * cb runs later (never from inside this call) unless keys_cancel(*wp).
 * With cb NULL the fetch runs in the background and 0 is returned.
 */
int
keys_fetch(const char *node, const char *source, int force, keys_cb cb,
    void *arg, struct key_result *now, struct keywaiter **wp)
{
	static char		 fpr[72];
	struct keynode		*kn;
	struct keyfetch		*kf;
	struct keywaiter	*w;
	uint64_t		 t = now_ms();
	const char		*why;
	int			 installed;

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
	if ((kf = kn->fetch) == NULL) {
		if (!force && kn->last_404 != 0 && t - kn->last_404 <
		    (uint64_t)conf_int(ikd->conf, "inbound:negative_ttl") *
		    1000) {
			now->outcome = KEY_NOT_FOUND;
			now->reason = "not on the key server (cached)";
			ks.stats.negative++;
			return (1);
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

/* Send one request. */
static void
keys_start(struct keyfetch *kf)
{
	struct http_opts	 o;
	const char		*hdr[2];

	keys_http_opts(&o, hdr);
	kf->t0 = now_ms();
	ks.inflight++;
	ks.stats.requests++;
	kf->req = ksget_key(ks.http, kf->kn->node, NULL, &o, keys_done_cb, kf);
}

/* Free a fetch and what it holds (its waiters must be gone). */
static void
keys_fetch_free(struct keyfetch *kf)
{
	ksget_cancel(kf->req);
	free(kf->url);
	free(kf);
}

/* A response (or a transport failure). */
static void
keys_done_cb(void *arg, const struct http_resp *resp, const char *url)
{
	struct keyfetch		*kf = arg;
	struct key_result	 r;
	char			 reason[256];

	kf->req = NULL;
	kf->url = xstrdup(url);
	ks.inflight--;
	memset(&r, 0, sizeof r);
	if (resp->error != NULL) {
		snprintf(reason, sizeof reason, "key server: %s", resp->error);
		kf->kn->last_attempt = 0;
		r.outcome = KEY_FAILED;
		r.reason = reason;
	} else if (resp->status == 404) {
		kf->kn->last_404 = now_ms();
		r.outcome = KEY_NOT_FOUND;
		r.reason = "not on the key server";
	} else if (resp->status != 200) {
		snprintf(reason, sizeof reason, "key server: HTTP %ld",
		    resp->status);
		kf->kn->last_attempt = 0;
		r.outcome = KEY_FAILED;
		r.reason = reason;
	} else {
		kf->kn->last_404 = 0;
		keys_install(kf, resp->body, resp->len, &r);
	}
	keys_deliver(kf, &r);
	keys_next();
}

/* Log, record and hand the result to every waiter, then free the fetch. */
static void
keys_deliver(struct keyfetch *kf, struct key_result *r)
{
	struct keywaiter	*w;
	struct logline		 l;
	char			 name[ASTCONF_NAME_MAX + 1];
	int			 n = 0;

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
	lf_begin(&l, r->outcome == KEY_FAILED ? LOG_L_WARN : LOG_L_INFO,
	    "key_fetch");
	lf_str(&l, "node", kf->kn->node);
	lf_str(&l, "source", kf->source);
	lf_str(&l, "url", kf->url);
	lf_str(&l, "result", key_outcome_name(r->outcome));
	lf_str(&l, "fingerprint", r->fingerprint);
	lf_int(&l, "waiters", n);
	lf_int(&l, "ms", now_ms() - kf->t0);
	lf_str(&l, "reason", r->reason);
	lf_emit(&l);
	while ((w = TAILQ_FIRST(&kf->waiters)) != NULL) {
		TAILQ_REMOVE(&kf->waiters, w, entry);
		w->cb(w->arg, r);
		free(w);
	}
	kf->req = NULL;
	keys_fetch_free(kf);
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

/* Length of the shared inkeys line's names part; 0 or -1. */
static int
keys_inkeys_len(size_t *len, char **cause)
{
	sqlite3_stmt	*st;
	int		 rc, n = 0;

	*len = 0;
	if ((st = store_stmt(ikd->store, sql_names)) == NULL)
		goto fail;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		*len += sqlite3_column_bytes(st, 0) + (n++ > 0);
	}
	sqlite3_reset(st);
	if (rc == SQLITE_DONE)
		return (0);
fail:
	xasprintf(cause, "state store: %s", store_errmsg(ikd->store));
	return (-1);
}

/* Validate a fetched key and install it when it is new or changed. */
static void
keys_install(struct keyfetch *kf, const char *body, size_t len,
    struct key_result *r)
{
	static char		 fpr[72], reason[512];
	struct rsakey_info	 info;
	struct logline		 l;
	sqlite3_stmt		*st;
	char			 name[ASTCONF_NAME_MAX + 1], *path = NULL;
	char			*cause = NULL, old[72] = "";
	const char		*node = kf->kn->node, *why;
	size_t			 inlen;
	int			 installed = 0, rc, mods;
	struct stat		 sb;

	r->outcome = KEY_FAILED;
	r->reason = reason;
	if (rsakey_pub_validate(body, len, conf_int(ikd->conf,
	    "keyserver:max_body"), &info, &cause) == -1) {
		snprintf(reason, sizeof reason, "bad key: %s", cause);
		free(cause);
		return;
	}
	strlcpy_(fpr, info.fingerprint, sizeof fpr);
	r->fingerprint = fpr;
	keys_name(node, name, sizeof name);
	xasprintf(&path, "%s/%s.pub", conf_str(ikd->conf, "asterisk:key_dir"),
	    name);

	if ((st = store_stmt(ikd->store, sql_get)) == NULL)
		goto store;
	sqlite3_bind_text(st, 1, node, -1, SQLITE_STATIC);
	if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (sqlite3_column_text(st, 0) != NULL)
			strlcpy_(old, (const char *)sqlite3_column_text(st, 0),
			    sizeof old);
		installed = sqlite3_column_int(st, 1);
	}
	sqlite3_reset(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		goto store;
	if ((why = names_reserved(node, installed)) != NULL) {
		snprintf(reason, sizeof reason, "%s", why);
		free(path);
		return;
	}

	if (installed && strcmp(old, fpr) == 0 && stat(path, &sb) == 0) {
		r->outcome = KEY_UNCHANGED;
		r->reason = NULL;
		r->gen = kf->kn->gen;
		free(path);
		return;
	}
	if (installed && strcmp(old, fpr) != 0) {
		int reject = conf_enum(ikd->conf, "inbound:on_key_change") ==
		    CFG_KEY_CHANGE_REJECT;

		lf_begin(&l, LOG_L_WARN, "key_changed");
		lf_str(&l, "node", node);
		lf_str(&l, "old", old);
		lf_str(&l, "new", fpr);
		lf_str(&l, "action", reject ? "rejected" : "accepted");
		lf_emit(&l);
		if (reject) {
			snprintf(reason, sizeof reason, "key changed (%s); "
			    "on_key_change = reject", fpr);
			free(path);
			return;
		}
	}
	if (!installed && conf_enum(ikd->conf, "inbound:inkeys") ==
	    CFG_INKEYS_SHARED) {
		if (keys_inkeys_len(&inlen, &cause) == -1) {
			snprintf(reason, sizeof reason, "%s", cause);
			free(cause);
			free(path);
			return;
		}
		if (KEYS_INKEYS_PREFIX + inlen + (inlen > 0) + strlen(name) >
		    ASTCONF_LINE_MAX) {
			snprintf(reason, sizeof reason, "inkeys line would "
			    "exceed %d characters; use inkeys = per-node",
			    ASTCONF_LINE_MAX);
			log_warnx("key of %s not installed: %s", node, reason);
			free(path);
			return;
		}
	}
	/*
	 * The row first, in a transaction that holds the write lock: a
	 * locked or failing store leaves the key file untouched, and a file
	 * that cannot be written leaves the row as it was.
	 */
	if (store_begin(ikd->store, &cause) == -1) {
		snprintf(reason, sizeof reason, "state store: %s", cause);
		free(cause);
		free(path);
		return;
	}
	if ((st = store_stmt(ikd->store, sql_put)) == NULL)
		goto rollback;
	sqlite3_bind_text(st, 1, node, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, fpr, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 4, info.bits);
	sqlite3_bind_text(st, 5, kf->source, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 6, time(NULL));
	sqlite3_bind_text(st, 7, installed ? "UPDATED" : "NEW", -1,
	    SQLITE_STATIC);
	sqlite3_bind_text(st, 8, body, len, SQLITE_STATIC);
	if (store_done(ikd->store, st) == -1)
		goto rollback;
	if (afile_write(path, body, len, 0644, &cause) == -1) {
		store_rollback(ikd->store);
		snprintf(reason, sizeof reason, "%s", cause);
		free(cause);
		free(path);
		return;
	}
	if (store_commit(ikd->store, &cause) == -1) {
		/* The file is in place; the next fetch records it. */
		store_rollback(ikd->store);
		snprintf(reason, sizeof reason, "state store: %s", cause);
		log_warnx("key of %s written to %s but not recorded: %s",
		    node, path, cause);
		free(cause);
		free(path);
		return;
	}
	free(path);
	mods = RELOAD_RES_CRYPTO;
	if (!installed) {
		mods |= RELOAD_CHAN_IAX2;
		ks.dirty = 1;
	}
	r->gen = kf->kn->gen = reload_need(mods);
	r->outcome = installed ? KEY_UPDATED : KEY_NEW;
	r->reason = NULL;
	ks.stats.installed++;
	lf_begin(&l, LOG_L_INFO, "key_installed");
	lf_str(&l, "node", node);
	lf_str(&l, "name", name);
	lf_str(&l, "fingerprint", fpr);
	lf_str(&l, "result", key_outcome_name(r->outcome));
	lf_emit(&l);
	return;
rollback:
	snprintf(reason, sizeof reason, "state store: %s",
	    store_errmsg(ikd->store));
	store_rollback(ikd->store);
	free(path);
	return;
store:
	snprintf(reason, sizeof reason, "state store: %s",
	    store_errmsg(ikd->store));
	free(path);
}

/* Render the users file from the store. */
static int
keys_render(struct astconf *ac, char **cause)
{
	sqlite3_stmt	*st;
	char		*line = NULL;
	size_t		 len = 0, n;
	int		 rc, shared;

	shared = conf_enum(ikd->conf, "inbound:inkeys") == CFG_INKEYS_SHARED;
	astconf_comment(ac, "Generated by iaxkeyd from its state store. "
	    "Every change made here is overwritten.");
	astconf_comment(ac, shared ? "#include it from iax.conf after the "
	    "user section it extends." : "#include it from iax.conf after "
	    "the template it uses.");
	if ((st = store_stmt(ikd->store, sql_names)) == NULL) {
		xasprintf(cause, "state store: %s", store_errmsg(ikd->store));
		return (-1);
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *name = (const char *)sqlite3_column_text(st, 0);

		if (!shared) {
			astconf_blank(ac);
			astconf_section(ac, name, conf_str(ikd->conf,
			    "inbound:template"));
			astconf_kv(ac, "inkeys", name);
			continue;
		}
		n = strlen(name);
		line = xrealloc(line, len + n + 2);
		if (len > 0)
			line[len++] = ':';
		memcpy(line + len, name, n);
		len += n;
		line[len] = '\0';
	}
	sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		free(line);
		xasprintf(cause, "state store: %s", store_errmsg(ikd->store));
		return (-1);
	}
	if (shared && len > 0) {
		astconf_blank(ac);
		astconf_section(ac, conf_str(ikd->conf, "inbound:user"), "+");
		astconf_kv(ac, "inkeys", line);
	}
	free(line);
	return (0);
}

/*
 * The configuration changed how the users file looks ([inbound] inkeys,
 * user, template, users_file): render it again at once (a failure leaves
 * it dirty for the next reload's flush) and have chan_iax2 reload.
 */
void
keys_rerender(void)
{
	char	*cause = NULL;

	ks.dirty = 1;
	/* Now, not at the next reload: the operator reloads Asterisk next. */
	if (keys_flush(&cause) == -1) {
		log_warnx("users file: %s", cause);
		free(cause);
	}
	reload_need(RELOAD_CHAN_IAX2);
}

/* Write the users file when the store changed (the reload flush hook). */
int
keys_flush(char **cause)
{
	struct astconf	 ac;
	char		*path;
	int		 changed, rc = -1;

	if (!ks.dirty)
		return (0);
	xasprintf(&path, "%s/%s", conf_str(ikd->conf, "asterisk:config_dir"),
	    conf_str(ikd->conf, "inbound:users_file"));
	astconf_init(&ac, KEYS_USERS_MAX);
	if (keys_render(&ac, cause) == 0 && astconf_done(&ac, cause) == 0 &&
	    afile_write_if_changed(path, ac.buf, ac.len, 0640, &changed,
	    cause) == 0) {
		ks.dirty = 0;
		ks.writes += changed;
		rc = 0;
	}
	astconf_clear(&ac);
	free(path);
	return (rc);
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

/* Remove a node's key, file and inkeys entry; 1 done, 0 unknown, -1. */
int
keys_forget(const char *node, char **cause)
{
	sqlite3_stmt	*st;
	char		 name[ASTCONF_NAME_MAX + 1], *path;

	if (names_own(node)) {
		xasprintf(cause, "%s is this node's own name", node);
		return (-1);
	}
	keys_node_drop(node);
	if ((st = store_stmt(ikd->store, sql_forget)) == NULL)
		goto fail;
	sqlite3_bind_text(st, 1, node, -1, SQLITE_STATIC);
	if (store_done(ikd->store, st) == -1)
		goto fail;
	if (sqlite3_changes(sqlite3_db_handle(st)) == 0)
		return (0);
	keys_name(node, name, sizeof name);
	xasprintf(&path, "%s/%s.pub", conf_str(ikd->conf, "asterisk:key_dir"),
	    name);
	if (afile_remove(path, cause) == -1) {
		free(path);
		return (-1);
	}
	free(path);
	ks.dirty = 1;
	reload_need(RELOAD_CHAN_IAX2 | RELOAD_RES_CRYPTO);
	return (1);
fail:
	xasprintf(cause, "state store: %s", store_errmsg(ikd->store));
	return (-1);
}
