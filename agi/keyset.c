/*
 * keyset: a node's key set, the keys the key server publishes for it
 * (current, next, previous), each installed in a slot of its own:
 *
 *   slot 0   <key_dir>/<prefix><node>.pub       name <prefix><node>
 *   slot 1   <key_dir>/<prefix>_1_<node>.pub    name <prefix>_1_<node>
 *   slot 2   <key_dir>/<prefix>_2_<node>.pub    name <prefix>_2_<node>
 *
 * A node name starts with a letter or a digit, so a name that starts with
 * '_' right after the prefix is a slot 1 or 2 name: names never collide.
 * A key keeps its slot while it stays in the set (no renames: a promotion
 * changes no file and no inkeys entry).  A name longer than 79 characters
 * cannot exist in Asterisk, and the shared inkeys line stays within 8190:
 * a key that would need such a name, or a new name that does not fit on
 * the line, is not installed (a current key takes slot 0 instead).
 *
 * The keyslots table is the truth; the keys table keeps one row per node
 * (its current key, status and times).  keyset_apply changes both in one
 * transaction and the files with it: the rows first, then the new files,
 * then the dropped files' removal, then the commit (every file put back
 * when a step fails).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agi/config.h"
#include "agi/iaxkeyd.h"
#include "lib/afile.h"
#include "lib/astconf.h"
#include "lib/xmalloc.h"

#define KEYSET_INKEYS_PREFIX	7	/* "inkeys=" */

static const char *const key_role_names[KEY_ROLE_MAX] = {
	"current", "next", "previous"
};

static const char sql_slots[] =
    "SELECT slot, fingerprint, role, bits, pem FROM keyslots WHERE node = ?";
static const char sql_slot_put[] =
    "INSERT OR REPLACE INTO keyslots (node, slot, name, fingerprint, role,"
    " bits, installed, pem) VALUES (?, ?, ?, ?, ?, ?, ?, ?)";
static const char sql_slot_role[] =
    "UPDATE keyslots SET role = ? WHERE node = ? AND slot = ?";
static const char sql_slot_del[] =
    "DELETE FROM keyslots WHERE node = ? AND slot = ?";
static const char sql_slots_forget[] = "DELETE FROM keyslots WHERE node = ?";
static const char sql_put[] =
    "INSERT INTO keys (node, name, fingerprint, bits, source, fetched,"
    " changed, status, installed, pem) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6,"
    " ?7, 1, ?8) ON CONFLICT(node) DO UPDATE SET name = ?2,"
    " fingerprint = ?3, bits = ?4, source = ?5, fetched = ?6,"
    " changed = CASE WHEN fingerprint IS ?3 AND installed THEN changed"
    " ELSE ?6 END, status = ?7, installed = 1, pem = ?8";
static const char sql_forget[] = "DELETE FROM keys WHERE node = ?";

/* What keyset_apply decided for one slot. */
struct keyplan {
	int		 keep;		/* held, stays */
	int		 drop;		/* held, leaves */
	int		 add;		/* a published key comes in */
	int		 repair;	/* kept, its file is missing */
	enum key_role	 role;		/* after */
	const struct keypub *pub;	/* add */
	int		 written;	/* file written or removed */
};

static int	keyset_path(const char *, int, char **);
static size_t	keyset_names_len(const char *, const struct keyplan *);
static size_t	keyset_held_len(const char *, const struct keyset *);
static int	keyset_room(const char *, const struct keyset *, size_t *,
		    char **);
static int	keyset_plan(const char *, const struct keyset *,
		    const struct keypub *, int, size_t, struct keyplan *,
		    char *, size_t, struct keyset_change *);
static int	keyset_rows(const char *, const char *,
		    const struct keypub *, const struct keyplan *,
		    const char *);
static void	keyset_restore(const char *, const struct keyset *,
		    struct keyplan *);
static void	keyset_log(const char *, const char *, int, enum key_role,
		    const char *, const char *, const char *);

/* Name of a role (ops log, console). */
const char *
key_role_name(enum key_role r)
{
	if (r >= KEY_ROLE_MAX)
		return ("unknown");
	return (key_role_names[r]);
}

/* The key name of node's slot into buf; 0, or -1 when it would exceed 79. */
int
keyset_name(const char *node, int slot, char *buf, size_t size)
{
	const char	*prefix = conf_str(ikd->conf, "inbound:key_prefix");
	int		 n;

	if (slot == 0)
		n = snprintf(buf, size, "%s%s", prefix, node);
	else
		n = snprintf(buf, size, "%s_%d_%s", prefix, slot, node);
	return (n < 0 || (size_t)n >= size || n > ASTCONF_NAME_MAX ? -1 : 0);
}

/* The .pub path of node's slot (caller frees); 0, or -1 (name too long). */
static int
keyset_path(const char *node, int slot, char **path)
{
	char	name[ASTCONF_NAME_MAX + 1];

	*path = NULL;
	if (keyset_name(node, slot, name, sizeof name) == -1)
		return (-1);
	xasprintf(path, "%s/%s.pub", conf_str(ikd->conf, "asterisk:key_dir"),
	    name);
	return (0);
}

/* 1 for "sha256:" and 64 lower-case hex digits, len bytes long. */
int
keyset_fpr_ok(const char *s, size_t len)
{
	size_t	i;

	if (len != KEYSET_FPR_MAX || strncmp(s, "sha256:", 7) != 0)
		return (0);
	for (i = 7; i < len; i++) {
		if (!((s[i] >= '0' && s[i] <= '9') ||
		    (s[i] >= 'a' && s[i] <= 'f')))
			return (0);
	}
	return (1);
}

/* Free what a loaded set holds. */
void
keyset_clear(struct keyset *ks)
{
	int	i;

	for (i = 0; i < KEYSET_SLOTS; i++)
		free(ks->slot[i].pem);
	memset(ks, 0, sizeof *ks);
}

/* The held set of node from the store; 0, or -1 with *cause. */
int
keyset_load(const char *node, struct keyset *ks, char **cause)
{
	sqlite3_stmt	*st;
	const char	*role, *fpr, *pem;
	int		 rc, slot, r;

	memset(ks, 0, sizeof *ks);
	if ((st = store_stmt(ikd->store, sql_slots)) == NULL)
		goto fail;
	sqlite3_bind_text(st, 1, node, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		slot = sqlite3_column_int(st, 0);
		fpr = (const char *)sqlite3_column_text(st, 1);
		role = (const char *)sqlite3_column_text(st, 2);
		pem = (const char *)sqlite3_column_text(st, 4);
		if (slot < 0 || slot >= KEYSET_SLOTS || fpr == NULL ||
		    role == NULL || pem == NULL)
			continue;
		for (r = 0; r < KEY_ROLE_MAX; r++) {
			if (strcmp(role, key_role_names[r]) == 0)
				break;
		}
		ks->slot[slot].used = 1;
		ks->slot[slot].role = r < KEY_ROLE_MAX ? r : KEY_ROLE_PREVIOUS;
		strlcpy_(ks->slot[slot].fingerprint, fpr,
		    sizeof ks->slot[slot].fingerprint);
		ks->slot[slot].bits = sqlite3_column_int(st, 3);
		ks->slot[slot].pem = xstrdup(pem);
	}
	sqlite3_reset(st);
	if (rc == SQLITE_DONE)
		return (0);
	keyset_clear(ks);
fail:
	xasprintf(cause, "state store: %s", store_errmsg(ikd->store));
	return (-1);
}

/* The slot holding fingerprint fpr, or -1. */
int
keyset_find(const struct keyset *ks, const char *fpr)
{
	int	i;

	for (i = 0; i < KEYSET_SLOTS; i++) {
		if (ks->slot[i].used &&
		    strcmp(ks->slot[i].fingerprint, fpr) == 0)
			return (i);
	}
	return (-1);
}

/*
 * 1 when node's held set is exactly "cur next prev" (fingerprints, "-"
 * for none), each key in its role.
 */
int
keyset_matches(const char *node, const char *listed)
{
	struct keyset	 ks;
	char		*cause = NULL, fpr[KEYSET_FPR_MAX + 1];
	const char	*p = listed;
	size_t		 n;
	int		 r, s, want = 0, same = 1;

	if (keyset_load(node, &ks, &cause) == -1) {
		free(cause);
		return (0);
	}
	for (r = 0; r < KEY_ROLE_MAX && same; r++) {
		n = strcspn(p, " ");
		snprintf(fpr, sizeof fpr, "%.*s", (int)n, p);
		p += n + (p[n] == ' ');
		if (strcmp(fpr, "-") == 0)
			continue;
		want++;
		s = keyset_find(&ks, fpr);
		same = s != -1 && ks.slot[s].role == (enum key_role)r;
	}
	same = same && want == keyset_count(&ks);
	keyset_clear(&ks);
	return (same);
}

/* Keys held. */
int
keyset_count(const struct keyset *ks)
{
	int	i, n = 0;

	for (i = 0; i < KEYSET_SLOTS; i++)
		n += ks->slot[i].used;
	return (n);
}

/* Log a key that got in (event=key_installed) or left (key_dropped). */
static void
keyset_log(const char *event, const char *node, int slot, enum key_role role,
    const char *fpr, const char *result, const char *reason)
{
	struct logline	l;
	char		name[ASTCONF_NAME_MAX + 1];

	if (keyset_name(node, slot, name, sizeof name) == -1)
		name[0] = '\0';
	lf_begin(&l, LOG_L_INFO, event);
	lf_str(&l, "node", node);
	lf_str(&l, "name", name);
	lf_int(&l, "slot", slot);
	lf_str(&l, "role", key_role_name(role));
	lf_str(&l, "fingerprint", fpr);
	lf_str(&l, "result", result);
	lf_str(&l, "reason", reason);
	lf_emit(&l);
}

/* Characters node's names take on the shared inkeys line after plan. */
static size_t
keyset_names_len(const char *node, const struct keyplan *plan)
{
	char	name[ASTCONF_NAME_MAX + 1];
	size_t	len = 0;
	int	s;

	for (s = 0; s < KEYSET_SLOTS; s++) {
		if ((plan[s].keep || plan[s].add) &&
		    keyset_name(node, s, name, sizeof name) == 0)
			len += strlen(name) + 1;	/* and its ':' */
	}
	return (len);
}

/* Characters node's names take on the shared inkeys line now. */
static size_t
keyset_held_len(const char *node, const struct keyset *ks)
{
	struct keyplan	held[KEYSET_SLOTS];
	int		s;

	memset(held, 0, sizeof held);
	for (s = 0; s < KEYSET_SLOTS; s++)
		held[s].keep = ks->slot[s].used;
	return (keyset_names_len(node, held));
}

/*
 * Room for node's names (each with its ':') on the shared inkeys line,
 * the other nodes' names as they are: SIZE_MAX with per-node sections.
 * 0, or -1 with *cause.
 */
static int
keyset_room(const char *node, const struct keyset *ks, size_t *room,
    char **cause)
{
	size_t	inlen, all, mine, max;

	*room = SIZE_MAX;
	if (conf_enum(ikd->conf, "inbound:inkeys") != CFG_INKEYS_SHARED)
		return (0);
	if (users_inkeys_len(&inlen, cause) == -1)
		return (-1);
	/* "inkeys=a:b:c" is 7 + (each name and a ':') - 1 long. */
	all = inlen + (inlen > 0);
	mine = keyset_held_len(node, ks);
	max = ASTCONF_LINE_MAX - KEYSET_INKEYS_PREFIX + 1;
	all -= mine < all ? mine : all;
	*room = all < max ? max - all : 0;
	return (0);
}

/*
 * Decide, slot by slot, what the published set pub does to the held set
 * ks: keys still published keep their slot (and take their new role),
 * keys no longer published leave (only when complete: every GET of the
 * round succeeded), fetched keys take a free slot, current first.  A slot
 * is usable when its name fits in 79 characters, no file someone else put
 * there has it, and node's names still fit in room (the shared inkeys
 * line).  A current key with no usable slot takes slot 0 from the
 * non-current key there; any other key with none is refused, logged once
 * (warned remembers it).  1 when a key was refused for the line, else 0.
 */
static int
keyset_plan(const char *node, const struct keyset *ks,
    const struct keypub *pub, int complete, size_t room,
    struct keyplan *plan, char *warned, size_t wsize,
    struct keyset_change *chg)
{
	static const enum key_role order[KEY_ROLE_MAX] = {
		KEY_ROLE_CURRENT, KEY_ROLE_NEXT, KEY_ROLE_PREVIOUS
	};
	char		 name[ASTCONF_NAME_MAX + 1];
	struct logline	 l;
	size_t		 had, len;
	int		 i, r, s, full, line = 0;

	memset(plan, 0, KEYSET_SLOTS * sizeof *plan);
	for (s = 0; s < KEYSET_SLOTS; s++) {
		if (!ks->slot[s].used)
			continue;
		plan[s].role = ks->slot[s].role;
		for (r = 0; r < KEY_ROLE_MAX; r++) {
			if (pub[r].listed && strcmp(
			    pub[r].fingerprint, ks->slot[s].fingerprint) == 0)
				break;
		}
		if (r < KEY_ROLE_MAX) {
			plan[s].keep = 1;
			plan[s].repair = keyset_name(node, s, name,
			    sizeof name) == 0 && !names_file_taken(name);
			chg->roles += plan[s].role != (enum key_role)r;
			plan[s].role = r;
		} else if (complete)
			plan[s].drop = 1;
		else
			plan[s].keep = 1;
	}
	/* A change that does not make node's names longer always fits. */
	had = keyset_held_len(node, ks);
	for (i = 0; i < KEY_ROLE_MAX; i++) {
		r = order[i];
		if (!pub[r].fetched ||
		    keyset_find(ks, pub[r].fingerprint) != -1)
			continue;
		full = 0;
		for (s = 0; s < KEYSET_SLOTS; s++) {
			if (plan[s].keep || plan[s].add ||
			    keyset_name(node, s, name, sizeof name) == -1)
				continue;
			/* A free slot whose file someone else put there. */
			if (!ks->slot[s].used && names_file_taken(name))
				continue;
			len = keyset_names_len(node, plan) + strlen(name) + 1;
			if (len <= room || len <= had)
				break;
			full = 1;
		}
		/* No slot fits: the current key takes slot 0 (same name). */
		if (s == KEYSET_SLOTS && r == KEY_ROLE_CURRENT && complete &&
		    plan[0].keep && plan[0].role != KEY_ROLE_CURRENT) {
			plan[0].keep = 0;
			plan[0].drop = 1;
			s = 0;
		}
		if (s == KEYSET_SLOTS) {
			chg->refused++;
			line |= full;
			if (strcmp(warned, pub[r].fingerprint) == 0)
				continue;
			strlcpy_(warned, pub[r].fingerprint, wsize);
			lf_begin(&l, LOG_L_WARN, "key_refused");
			lf_str(&l, "node", node);
			lf_str(&l, "role", key_role_name(r));
			lf_str(&l, "fingerprint", pub[r].fingerprint);
			if (full)
				lf_fmt(&l, "reason", "inkeys line would exceed "
				    "%d characters", ASTCONF_LINE_MAX);
			else
				lf_fmt(&l, "reason", "no free slot whose name "
				    "fits in %d characters", ASTCONF_NAME_MAX);
			lf_emit(&l);
			continue;
		}
		plan[s].add = 1;
		plan[s].role = r;
		plan[s].pub = &pub[r];
	}
	for (s = 0; s < KEYSET_SLOTS; s++) {
		chg->had += ks->slot[s].used;
		chg->added += plan[s].add;
		chg->dropped += plan[s].drop;
		chg->held += plan[s].keep || plan[s].add;
		chg->repaired += plan[s].repair;
		/* A new name, or a name gone: inkeys changes. */
		if (plan[s].repair)
			chg->mods |= RELOAD_RES_CRYPTO;
		if (plan[s].add)
			chg->mods |= RELOAD_RES_CRYPTO |
			    (ks->slot[s].used ? 0 : RELOAD_CHAN_IAX2);
		else if (plan[s].drop)
			chg->mods |= RELOAD_RES_CRYPTO | RELOAD_CHAN_IAX2;
	}
	return (line);
}

/* The rows of the plan, inside the caller's transaction; 0 or -1. */
static int
keyset_rows(const char *node, const char *source, const struct keypub *pub,
    const struct keyplan *plan, const char *status)
{
	sqlite3_stmt	*st;
	char		 name[ASTCONF_NAME_MAX + 1];
	int		 s;

	for (s = 0; s < KEYSET_SLOTS; s++) {
		if (plan[s].add) {
			if ((st = store_stmt(ikd->store, sql_slot_put)) ==
			    NULL)
				return (-1);
			keyset_name(node, s, name, sizeof name);
			sqlite3_bind_text(st, 1, node, -1, SQLITE_STATIC);
			sqlite3_bind_int(st, 2, s);
			sqlite3_bind_text(st, 3, name, -1, SQLITE_STATIC);
			sqlite3_bind_text(st, 4, plan[s].pub->fingerprint, -1,
			    SQLITE_STATIC);
			sqlite3_bind_text(st, 5, key_role_name(plan[s].role),
			    -1, SQLITE_STATIC);
			sqlite3_bind_int(st, 6, plan[s].pub->bits);
			sqlite3_bind_int64(st, 7, time(NULL));
			sqlite3_bind_text(st, 8, plan[s].pub->pem,
			    plan[s].pub->len, SQLITE_STATIC);
		} else if (plan[s].drop) {
			if ((st = store_stmt(ikd->store, sql_slot_del)) ==
			    NULL)
				return (-1);
			sqlite3_bind_text(st, 1, node, -1, SQLITE_STATIC);
			sqlite3_bind_int(st, 2, s);
		} else if (plan[s].keep) {
			if ((st = store_stmt(ikd->store, sql_slot_role)) ==
			    NULL)
				return (-1);
			sqlite3_bind_text(st, 1, key_role_name(plan[s].role),
			    -1, SQLITE_STATIC);
			sqlite3_bind_text(st, 2, node, -1, SQLITE_STATIC);
			sqlite3_bind_int(st, 3, s);
		} else
			continue;
		if (store_done(ikd->store, st) == -1)
			return (-1);
	}
	if (!pub[KEY_ROLE_CURRENT].listed)
		return (0);
	if ((st = store_stmt(ikd->store, sql_put)) == NULL)
		return (-1);
	keyset_name(node, 0, name, sizeof name);
	sqlite3_bind_text(st, 1, node, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, pub[KEY_ROLE_CURRENT].fingerprint, -1,
	    SQLITE_STATIC);
	sqlite3_bind_int(st, 4, pub[KEY_ROLE_CURRENT].bits);
	sqlite3_bind_text(st, 5, source, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 6, time(NULL));
	sqlite3_bind_text(st, 7, status, -1, SQLITE_STATIC);
	if (pub[KEY_ROLE_CURRENT].fetched)
		sqlite3_bind_text(st, 8, pub[KEY_ROLE_CURRENT].pem,
		    pub[KEY_ROLE_CURRENT].len, SQLITE_STATIC);
	return (store_done(ikd->store, st));
}

/* Put back the files of slots written or removed before a failure. */
static void
keyset_restore(const char *node, const struct keyset *ks,
    struct keyplan *plan)
{
	char	*path, *cause = NULL;
	int	 s, rc;

	for (s = 0; s < KEYSET_SLOTS; s++) {
		if (!plan[s].written || keyset_path(node, s, &path) == -1)
			continue;
		if (ks->slot[s].used)
			rc = afile_write(path, ks->slot[s].pem,
			    strlen(ks->slot[s].pem), 0644, &cause);
		else
			rc = afile_remove(path, &cause);
		if (rc == -1) {
			log_warnx("key file %s not restored: %s", path,
			    cause);
			free(cause);
			cause = NULL;
		}
		free(path);
	}
}

/*
 * Make node's held set follow the published set pub (one entry per role;
 * complete: every GET of the round succeeded, else nothing is dropped),
 * in one transaction.  chg says what changed (mods: the reloads due).
 * 0, or -1 with *cause when nothing changed.
 */
int
keyset_apply(const char *node, const char *source, const struct keypub *pub,
    int complete, char *warned, size_t wsize, struct keyset_change *chg,
    char **cause)
{
	struct keyset	 ks;
	struct keyplan	 plan[KEYSET_SLOTS];
	size_t		 room;
	char		*path, *err = NULL;
	int		 s, line;

	memset(chg, 0, sizeof *chg);
	if (keyset_load(node, &ks, cause) == -1)
		return (-1);
	if (keyset_room(node, &ks, &room, &err) == -1)
		goto fail;
	line = keyset_plan(node, &ks, pub, complete, room, plan, warned,
	    wsize, chg);
	if (chg->held == 0 && line) {
		xasprintf(&err, "inkeys line would exceed %d characters; use "
		    "inkeys = per-node", ASTCONF_LINE_MAX);
		goto fail;
	}
	if (chg->held == 0) {
		xasprintf(&err, "no slot for the key of %s", node);
		goto fail;
	}
	/*
	 * The rows first, in a transaction that holds the write lock: a
	 * locked or failing store leaves the key files untouched, and a file
	 * that cannot be written leaves the rows as they were.
	 */
	if (store_begin(ikd->store, NULL) == -1) {
		xasprintf(&err, "state store: %s", store_errmsg(ikd->store));
		goto fail;
	}
	if (keyset_rows(node, source, pub, plan, chg->had == 0 ? "NEW" :
	    chg->added + chg->dropped + chg->roles + chg->repaired > 0 ?
	    "UPDATED" :
	    "UNCHANGED") == -1) {
		xasprintf(&err, "state store: %s", store_errmsg(ikd->store));
		goto files;
	}
	for (s = 0; s < KEYSET_SLOTS; s++) {
		if (!plan[s].add && !plan[s].repair)
			continue;
		keyset_path(node, s, &path);
		if (afile_write(path, plan[s].add ? plan[s].pub->pem :
		    ks.slot[s].pem, plan[s].add ? plan[s].pub->len :
		    strlen(ks.slot[s].pem), 0644, &err) == -1) {
			free(path);
			goto files;
		}
		plan[s].written = 1;
		free(path);
	}
	/*
	 * The dropped files before the commit: a file left behind without
	 * its row would look like someone else's and block the slot, while
	 * a row left without its file (a crash here) is dropped again, or
	 * repaired, by the next round.
	 */
	for (s = 0; s < KEYSET_SLOTS; s++) {
		if (!plan[s].drop || plan[s].add ||
		    keyset_path(node, s, &path) == -1)
			continue;
		if (afile_remove(path, &err) == -1) {
			free(path);
			goto files;
		}
		plan[s].written = 1;
		free(path);
	}
	if (store_commit(ikd->store, NULL) == -1) {
		xasprintf(&err, "state store: %s", store_errmsg(ikd->store));
		goto files;
	}
	for (s = 0; s < KEYSET_SLOTS; s++) {
		if (plan[s].drop)
			keyset_log("key_dropped", node, s, ks.slot[s].role,
			    ks.slot[s].fingerprint, NULL,
			    "no longer published");
		if (plan[s].add || plan[s].repair)
			keyset_log("key_installed", node, s, plan[s].role,
			    plan[s].add ? plan[s].pub->fingerprint :
			    ks.slot[s].fingerprint, chg->had == 0 ? "NEW" :
			    "UPDATED", plan[s].add ? NULL : "file was missing");
	}
	if (chg->mods & RELOAD_CHAN_IAX2)
		users_dirty();
	keyset_clear(&ks);
	return (0);
files:
	store_rollback(ikd->store);
	keyset_restore(node, &ks, plan);
fail:
	*cause = err;
	keyset_clear(&ks);
	return (-1);
}

/* Remove every key of node: rows and files; 1 done, 0 unknown, -1. */
int
keyset_forget(const char *node, char **cause)
{
	sqlite3_stmt	*st;
	struct keyset	 ks;
	char		*path, *err = NULL;
	int		 s, known, rc = 1;

	if (keyset_load(node, &ks, cause) == -1)
		return (-1);
	if (store_begin(ikd->store, NULL) == -1)
		goto rollback;
	if ((st = store_stmt(ikd->store, sql_forget)) == NULL)
		goto rollback;
	sqlite3_bind_text(st, 1, node, -1, SQLITE_STATIC);
	if (store_done(ikd->store, st) == -1)
		goto rollback;
	known = sqlite3_changes(sqlite3_db_handle(st)) > 0;
	if ((st = store_stmt(ikd->store, sql_slots_forget)) == NULL)
		goto rollback;
	sqlite3_bind_text(st, 1, node, -1, SQLITE_STATIC);
	if (store_done(ikd->store, st) == -1)
		goto rollback;
	if (store_commit(ikd->store, NULL) == -1)
		goto rollback;
	if (!known && keyset_count(&ks) == 0) {
		keyset_clear(&ks);
		return (0);
	}
	for (s = 0; s < KEYSET_SLOTS; s++) {
		if (!ks.slot[s].used || keyset_path(node, s, &path) == -1)
			continue;
		if (rc == 1 && afile_remove(path, cause) == -1)
			rc = -1;
		free(path);
	}
	users_dirty();
	keyset_clear(&ks);
	return (rc);
rollback:
	xasprintf(&err, "state store: %s", store_errmsg(ikd->store));
	store_rollback(ikd->store);
	*cause = err;
	keyset_clear(&ks);
	return (-1);
}
