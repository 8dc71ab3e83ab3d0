/*
 * peers: outbound peers in the state store, rendered into the peers file
 * (<config_dir>/<peers_file>, #included from iax.conf).
 *
 * A peer is named after its destination: "<host>_<port>_<user>" when that
 * is a valid name of at most 79 characters (hosts hold no '_', so the
 * name is unambiguous), else "x<32 hex of SHA-256(host|port|user)>_<port>"
 * (IPv6 addresses, long names).  Each row carries the generation of its
 * last change (runtime only): the peer is usable once a reload has
 * covered it.  The file is written only right before a reload (the flush
 * hook), so a burst of new destinations costs one write.
 */
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
#include "lib/rsakey.h"
#include "lib/xmalloc.h"

#define PEERS_FILE_MAX		(64 * 1024 * 1024)
#define PEERS_EXPIRE_EVERY_S	60
#define PEERS_TOUCH_MAX		256	/* uses kept in memory ... */
#define PEERS_TOUCH_MS		1000	/* ... at most this long */

/* Uses of known peers, written to the store in one transaction. */
struct peers_touch {
	char		name[ASTCONF_NAME_MAX + 1];
	unsigned	uses;
	time_t		last;
};

static struct {
	int		 dirty;
	char		*path;
	struct event	*expire;
	uint64_t	 writes;
	struct peers_touch touch[PEERS_TOUCH_MAX];
	int		 ntouch;
	struct event	*touch_ev;
} pr;

static const char sql_get[] =
    "SELECT host, port, user, secret, gen FROM peers WHERE name = ?";
static const char sql_touch[] =
    "UPDATE peers SET last_used = max(last_used, ?), uses = uses + ?"
    " WHERE name = ?";
static const char sql_put[] =
    "INSERT OR REPLACE INTO peers (name, host, port, user, secret, created,"
    " last_used, uses, gen) VALUES (?, ?, ?, ?, ?, coalesce((SELECT created"
    " FROM peers WHERE name = ?1), ?6), ?6, coalesce((SELECT uses FROM peers"
    " WHERE name = ?1), 0) + 1, ?7)";
static const char sql_count[] = "SELECT count(*) FROM peers";
static const char sql_evict[] =
    "DELETE FROM peers WHERE name IN (SELECT name FROM peers"
    " ORDER BY last_used LIMIT ?)";
static const char sql_all[] =
    "SELECT name, host, port, user, secret FROM peers ORDER BY name";
static const char sql_expire[] = "DELETE FROM peers WHERE last_used < ?";
static const char sql_forget[] = "DELETE FROM peers WHERE name = ?";

static void	peers_expire_cb(int, short, void *);
static void	peers_touch(const char *, time_t);
static void	peers_touch_cb(int, short, void *);
static int	peers_render(struct astconf *, char **);
static void	peers_changed(void);

/* Name the peer of a destination. */
void
peers_name(const struct dialdest *d, char *buf, size_t size)
{
	char	key[DIAL_HOST_MAX + DIAL_USER_MAX + 16], hex[65];

	snprintf(buf, size, "%s_%d_%s", d->host, d->port, d->user);
	if (!d->v6 && astconf_name_ok(buf))
		return;
	snprintf(key, sizeof key, "%s|%d|%s", d->host, d->port, d->user);
	rsakey_sha256_hex(key, strlen(key), hex);
	snprintf(buf, size, "x%.32s_%d", hex, d->port);
}

/* Open: render the file from the store; reload when it differed. */
int
peers_init(char **cause)
{
	struct timeval	tv = { PEERS_EXPIRE_EVERY_S, 0 };
	uint64_t	writes;
	int		existed;

	free(pr.path);
	xasprintf(&pr.path, "%s/%s", conf_str(ikd->conf,
	    "asterisk:config_dir"), conf_str(ikd->conf, "outbound:peers_file"));
	if (store_exec(ikd->store, "UPDATE peers SET gen = 0", cause) == -1)
		return (-1);
	if (pr.expire == NULL) {
		pr.touch_ev = evtimer_new(ikd->base, peers_touch_cb, NULL);
		pr.expire = event_new(ikd->base, -1, EV_PERSIST,
		    peers_expire_cb, NULL);
		evtimer_add(pr.expire, &tv);
		reload_add_flush(peers_flush);
	}
	/*
	 * In every mode: iax.conf #includes the file, and Asterisk refuses
	 * the whole iax.conf when an #include names a missing file.  A crash
	 * between the store and the file: the flush fixes it.
	 */
	writes = pr.writes;
	existed = access(pr.path, F_OK) == 0;
	pr.dirty = 1;
	if (peers_flush(cause) == -1)
		return (-1);
	/* A new empty file holds nothing Asterisk must load. */
	if (pr.writes != writes && existed)
		reload_need(RELOAD_CHAN_IAX2);
	return (0);
}

/* Free. */
void
peers_free(void)
{
	peers_touch_flush();
	if (pr.touch_ev != NULL)
		event_free(pr.touch_ev);
	if (pr.expire != NULL)
		event_free(pr.expire);
	free(pr.path);
	memset(&pr, 0, sizeof pr);
}

/* The file's content changed in the store: write and reload later. */
static void
peers_changed(void)
{
	pr.dirty = 1;
}

/*
 * Make sure dest has a peer.  On return *gen is the generation a reload
 * must cover before the peer can be dialled, *changed says whether the
 * store changed.  Returns 0, or -1 with *cause (store error).
 */
int
peers_ensure(const struct dialdest *d, const char *name, uint64_t *gen,
    int *changed, char **cause)
{
	sqlite3_stmt	*st;
	sqlite3_int64	 now = time(NULL);
	int		 found = 0, same = 0, rc, n;

	*changed = 0;
	if ((st = store_stmt(ikd->store, sql_get)) == NULL)
		goto fail;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		found = 1;
		same = strcmp((const char *)sqlite3_column_text(st, 0),
		    d->host) == 0 && sqlite3_column_int(st, 1) == d->port &&
		    strcmp((const char *)sqlite3_column_text(st, 2),
		    d->user) == 0 && strcmp((const char *)
		    sqlite3_column_text(st, 3), d->secret) == 0;
		*gen = sqlite3_column_int64(st, 4);
	} else if (rc != SQLITE_DONE)
		goto fail;
	sqlite3_reset(st);

	if (same) {
		peers_touch(name, now);
		return (0);
	}
	/* One transaction: a locked store fails here, before any change. */
	if (store_begin(ikd->store, NULL) == -1) {
		st = NULL;
		goto fail;
	}
	if (!found) {
		/* Make room: the least recently used go first. */
		if ((st = store_stmt(ikd->store, sql_count)) == NULL ||
		    sqlite3_step(st) != SQLITE_ROW)
			goto rollback;
		n = sqlite3_column_int(st, 0) -
		    (int)conf_int(ikd->conf, "outbound:max_peers") + 1;
		sqlite3_reset(st);
		if (n > 0) {
			if ((st = store_stmt(ikd->store, sql_evict)) == NULL)
				goto rollback;
			sqlite3_bind_int(st, 1, n);
			if (store_done(ikd->store, st) == -1)
				goto rollback;
		}
	}
	*gen = reload_need(RELOAD_CHAN_IAX2);
	if ((st = store_stmt(ikd->store, sql_put)) == NULL)
		goto rollback;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, d->host, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 3, d->port);
	sqlite3_bind_text(st, 4, d->user, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, d->secret, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 6, now);
	sqlite3_bind_int64(st, 7, (sqlite3_int64)*gen);
	if (store_done(ikd->store, st) == -1)
		goto rollback;
	if (store_commit(ikd->store, NULL) == -1) {
		st = NULL;
		goto rollback;
	}
	*changed = 1;
	peers_changed();
	return (0);
rollback:
	xasprintf(cause, "state store: %s", store_errmsg(ikd->store));
	if (st != NULL)
		sqlite3_reset(st);
	store_rollback(ikd->store);
	return (-1);
fail:
	xasprintf(cause, "state store: %s", store_errmsg(ikd->store));
	if (st != NULL)
		sqlite3_reset(st);
	return (-1);
}

/* Count a use of a known peer; the store learns it within a second. */
static void
peers_touch(const char *name, time_t now)
{
	struct timeval	tv = { 0, PEERS_TOUCH_MS * 1000 };
	int		i;

	for (i = 0; i < pr.ntouch; i++) {
		if (strcmp(pr.touch[i].name, name) == 0)
			break;
	}
	if (i == pr.ntouch) {
		if (pr.ntouch == PEERS_TOUCH_MAX) {
			peers_touch_flush();
			i = 0;
		}
		strlcpy_(pr.touch[i].name, name, sizeof pr.touch[i].name);
		pr.touch[i].uses = 0;
		pr.ntouch = i + 1;
	}
	pr.touch[i].uses++;
	pr.touch[i].last = now;
	if (!evtimer_pending(pr.touch_ev, NULL))
		evtimer_add(pr.touch_ev, &tv);
}

/* The touch timer. */
static void
peers_touch_cb(int fd, short events, void *arg)
{
	peers_touch_flush();
}

/* Write the counted uses in one transaction. */
void
peers_touch_flush(void)
{
	sqlite3_stmt	*st;
	char		*cause = NULL;
	int		 i;

	if (pr.ntouch == 0)
		return;
	if (store_begin(ikd->store, &cause) == -1) {
		log_warnx("state store: %s (peer uses not recorded)", cause);
		free(cause);
		pr.ntouch = 0;
		return;
	}
	for (i = 0; i < pr.ntouch; i++) {
		if ((st = store_stmt(ikd->store, sql_touch)) == NULL)
			break;
		sqlite3_bind_int64(st, 1, pr.touch[i].last);
		sqlite3_bind_int(st, 2, pr.touch[i].uses);
		sqlite3_bind_text(st, 3, pr.touch[i].name, -1, SQLITE_STATIC);
		if (store_done(ikd->store, st) == -1)
			break;
	}
	if (store_commit(ikd->store, &cause) == -1) {
		log_warnx("state store: %s", cause);
		free(cause);
		store_rollback(ikd->store);
	}
	pr.ntouch = 0;
}

/* Render every peer. */
static int
peers_render(struct astconf *ac, char **cause)
{
	sqlite3_stmt	*st;
	const char	*opts, *p, *sp, *eq;
	char		 host[DIAL_HOST_MAX + 3], opt[256], *val;
	size_t		 n;
	int		 rc;

	astconf_comment(ac, "Generated by iaxkeyd from its state store. "
	    "Every change made here is overwritten.");
	astconf_comment(ac, "#include this file once from iax.conf.");
	if ((st = store_stmt(ikd->store, sql_all)) == NULL) {
		xasprintf(cause, "state store: %s", store_errmsg(ikd->store));
		return (-1);
	}
	opts = conf_str(ikd->conf, "outbound:peer_options");
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *h = (const char *)sqlite3_column_text(st, 1);

		/* host= takes an IPv6 address without brackets. */
		if (h[0] == '[')
			snprintf(host, sizeof host, "%.*s", (int)strlen(h) - 2,
			    h + 1);
		else
			snprintf(host, sizeof host, "%s", h);
		astconf_blank(ac);
		astconf_section(ac, (const char *)sqlite3_column_text(st, 0),
		    NULL);
		astconf_kv(ac, "type", "peer");
		astconf_kv(ac, "host", host);
		astconf_kv(ac, "port", (const char *)
		    sqlite3_column_text(st, 2));
		astconf_kv(ac, "username", (const char *)
		    sqlite3_column_text(st, 3));
		astconf_kv(ac, "secret", (const char *)
		    sqlite3_column_text(st, 4));
		astconf_kv(ac, "outkey", conf_str(ikd->conf, "node:name"));
		astconf_kv(ac, "auth", "rsa");
		astconf_kv(ac, "encryption", "aes128");
		astconf_kv(ac, "forceencryption", "yes");
		/* Validated at load: space-separated name=value. */
		for (p = opts; *p != '\0'; p = sp) {
			while (*p == ' ')
				p++;
			if (*p == '\0')
				break;
			if ((sp = strchr(p, ' ')) == NULL)
				sp = p + strlen(p);
			n = sp - p;
			if (n >= sizeof opt)
				n = sizeof opt - 1;
			memcpy(opt, p, n);
			opt[n] = '\0';
			if ((eq = strchr(opt, '=')) == NULL)
				continue;
			val = opt + (eq - opt);
			*val++ = '\0';
			astconf_kv(ac, opt, val);
		}
	}
	sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		xasprintf(cause, "state store: %s", store_errmsg(ikd->store));
		return (-1);
	}
	return (0);
}

/* Write the file when the store changed (the reload flush hook). */
int
peers_flush(char **cause)
{
	struct astconf	ac;
	int		changed;

	if (!pr.dirty)
		return (0);
	astconf_init(&ac, PEERS_FILE_MAX);
	if (peers_render(&ac, cause) == -1 || astconf_done(&ac, cause) == -1 ||
	    afile_write_if_changed(pr.path, ac.buf, ac.len, 0640, &changed,
	    cause) == -1) {
		astconf_clear(&ac);
		return (-1);
	}
	astconf_clear(&ac);
	pr.dirty = 0;
	if (changed)
		pr.writes++;
	return (0);
}

/* Drop peers unused for peer_ttl. */
static void
peers_expire_cb(int fd, short events, void *arg)
{
	sqlite3_stmt	*st;
	long long	 ttl = conf_int(ikd->conf, "outbound:peer_ttl");
	int		 n;

	if (ttl == 0)
		return;
	peers_touch_flush();
	if ((st = store_stmt(ikd->store, sql_expire)) == NULL)
		return;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)time(NULL) - ttl);
	if (store_done(ikd->store, st) == -1)
		return;
	if ((n = sqlite3_changes(sqlite3_db_handle(st))) > 0) {
		log_info("%d peers unused for %lld s dropped", n, ttl);
		peers_changed();
		reload_need(RELOAD_CHAN_IAX2);
	}
}

/* Remove one peer (console); 1 removed, 0 unknown, -1 error. */
int
peers_forget(const char *name, char **cause)
{
	sqlite3_stmt	*st;

	if ((st = store_stmt(ikd->store, sql_forget)) == NULL) {
		xasprintf(cause, "state store: %s", store_errmsg(ikd->store));
		return (-1);
	}
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	if (store_done(ikd->store, st) == -1) {
		xasprintf(cause, "state store: %s", store_errmsg(ikd->store));
		return (-1);
	}
	if (sqlite3_changes(sqlite3_db_handle(st)) == 0)
		return (0);
	peers_changed();
	reload_need(RELOAD_CHAN_IAX2);
	return (1);
}

/* Files written so far. */
uint64_t
peers_writes(void)
{
	return (pr.writes);
}
