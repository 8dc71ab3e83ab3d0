/*
 * admin_store: the console's views of the state store and their changes
 * (docs/console.md): peers, peer, forget peer, keys, key, fetch, forget
 * key, callers.  The command table and the other commands are admin.c.
 */
#include <sys/types.h>

#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>

#include "agi/config.h"
#include "agi/iaxkeyd.h"
#include "lib/astconf.h"
#include "lib/xmalloc.h"

#define ADMIN_ROWS_MAX		1000	/* rows shown by a listing */
#define ADMIN_CALLERS_DEF	20
#define ADMIN_CALLERS_MAX	1000

/* A command whose reply waits: a key fetch. */
struct admin_wait {
	struct console_client	*c;
	struct keywaiter	*waiter;
	char			 node[KEYS_NODE_MAX + 1];
	uint64_t		 t0;
};

static const char sql_peers[] =
    "SELECT name, host, port, user, uses, last_used FROM peers"
    " ORDER BY name";
static const char sql_peer[] =
    "SELECT name, host, port, user, length(secret) > 0, created,"
    " last_used, uses, gen FROM peers WHERE name = ?";
static const char sql_keys[] =
    "SELECT k.node, coalesce(s.bits, k.bits), k.status, k.installed,"
    " k.fetched, coalesce(s.fingerprint, k.fingerprint), s.role, s.name"
    " FROM keys k LEFT JOIN keyslots s ON s.node = k.node"
    " ORDER BY k.node, s.slot";
static const char sql_key_slots[] =
    "SELECT slot, name, role, fingerprint FROM keyslots WHERE node = ?"
    " ORDER BY slot";
static const char sql_key[] =
    "SELECT node, name, fingerprint, bits, source, fetched, changed,"
    " status, installed FROM keys WHERE node = ?";
static const char sql_callers[] =
    "SELECT node, address, count, last_seen, last_result, first_seen"
    " FROM callers ORDER BY last_seen DESC, node LIMIT ?";

static void	admin_wait_cancel(void *);
static void	admin_fetch_cb(void *, const struct key_result *);
static void	admin_fetch_report(struct console_client *, const char *,
		    uint64_t, const struct key_result *);

/* Check a listing's glob and get its statement; NULL after an ERR. */
static sqlite3_stmt *
admin_list_start(struct console_client *c, const char *glob, const char *sql)
{
	sqlite3_stmt	*st;

	if (glob != NULL && !admin_glob_ok(glob)) {
		console_err(c, "bad glob: name characters and * ? [ ] ! only, "
		    "at most %d", ADMIN_GLOB_MAX);
		return (NULL);
	}
	if ((st = store_stmt(ikd->store, sql)) == NULL)
		console_err(c, "state store: %s", store_errmsg(ikd->store));
	return (st);
}

/* peers [glob] */
void
admin_peers(struct console_client *c, int argc, char **argv)
{
	sqlite3_stmt	*st;
	const char	*glob = argc > 0 ? argv[0] : NULL;
	char		 host[96], user[96], t[32];
	int		 rc, n = 0;

	if ((st = admin_list_start(c, glob, sql_peers)) == NULL)
		return;
	console_printf(c, "  %-40s %-24s %5s %-16s %6s  %s", "NAME", "HOST",
	    "PORT", "USER", "USES", "LAST_USED");
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (glob != NULL && fnmatch(glob, admin_col(st, 0), 0) != 0)
			continue;
		if (n++ >= ADMIN_ROWS_MAX)
			break;
		console_printf(c, "  %-40s %-24s %5d %-16s %6lld  %s",
		    admin_col(st, 0), admin_esc(host, sizeof host,
		    admin_col(st, 1)), sqlite3_column_int(st, 2),
		    admin_esc(user, sizeof user, admin_col(st, 3)),
		    (long long)sqlite3_column_int64(st, 4), admin_time(t,
		    sizeof t, sqlite3_column_int64(st, 5)));
	}
	sqlite3_reset(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		console_err(c, "state store: %s", store_errmsg(ikd->store));
		return;
	}
	if (n > ADMIN_ROWS_MAX)
		console_printf(c, "  (more than %d; narrow the glob)",
		    ADMIN_ROWS_MAX);
	else
		console_printf(c, "  (%d peer%s)", n, n == 1 ? "" : "s");
	console_ok(c);
}

/* peer <name> */
void
admin_peer(struct console_client *c, int argc, char **argv)
{
	sqlite3_stmt	*st;
	char		 b[96], t[32];
	int		 rc;
	uint64_t	 gen;

	if (!astconf_name_ok(argv[0])) {
		console_err(c, "bad name: [A-Za-z0-9._-], at most %d",
		    ASTCONF_NAME_MAX);
		return;
	}
	if ((st = store_stmt(ikd->store, sql_peer)) == NULL) {
		console_err(c, "state store: %s", store_errmsg(ikd->store));
		return;
	}
	sqlite3_bind_text(st, 1, argv[0], -1, SQLITE_STATIC);
	if ((rc = sqlite3_step(st)) != SQLITE_ROW) {
		sqlite3_reset(st);
		if (rc == SQLITE_DONE)
			console_err(c, "no such peer");
		else
			console_err(c, "state store: %s",
			    store_errmsg(ikd->store));
		return;
	}
	console_printf(c, "  name       %s", admin_col(st, 0));
	console_printf(c, "  host       %s", admin_esc(b, sizeof b,
	    admin_col(st, 1)));
	console_printf(c, "  port       %d", sqlite3_column_int(st, 2));
	console_printf(c, "  user       %s", admin_esc(b, sizeof b,
	    admin_col(st, 3)));
	console_printf(c, "  secret     %s", sqlite3_column_int(st, 4) ?
	    "(set)" : "(unset)");
	console_printf(c, "  created    %s", admin_time(t, sizeof t,
	    sqlite3_column_int64(st, 5)));
	console_printf(c, "  last used  %s", admin_time(t, sizeof t,
	    sqlite3_column_int64(st, 6)));
	console_printf(c, "  uses       %lld",
	    (long long)sqlite3_column_int64(st, 7));
	gen = (uint64_t)sqlite3_column_int64(st, 8);
	console_printf(c, "  loaded     %s", reload_covered(gen) ? "yes" :
	    "no: waiting for a reload");
	console_printf(c, "  dial       IAX2/%s/<exten>", admin_col(st, 0));
	sqlite3_reset(st);
	console_ok(c);
}

/* What "forget peer" and "forget key" differ in. */
struct admin_forget {
	const char	*cmd;		/* "forget peer" */
	const char	*what;		/* "peer" */
	const char	*stores;	/* where it is removed from */
	const char	*file;		/* the rendered file's name */
	const char	*filekey;	/* its configuration key */
	int		(*forget)(const char *, char **);
	int		(*flush)(char **);
};

/*
 * Remove one entry from the state store (and its files), then write the
 * rendered file at once so it follows the store; the reload stays
 * coalesced.  The name was validated by the caller.
 */
static void
admin_forget(struct console_client *c, const struct admin_forget *f,
    const char *name)
{
	char	*cause = NULL;
	int	 rc;

	if ((rc = f->forget(name, &cause)) <= 0) {
		admin_audit(c, f->cmd, name, rc == 0 ? "unknown" : "error");
		if (rc == 0)
			console_err(c, "no such %s", f->what);
		else
			console_err(c, "%s", cause);
		free(cause);
		return;
	}
	admin_audit(c, f->cmd, name, "ok");
	console_printf(c, "  removed    %s (%s)", name, f->stores);
	if (f->flush(&cause) == -1) {
		console_err(c, "%s not written: %s", f->file, cause);
		free(cause);
		return;
	}
	console_printf(c, "  %-10s %s", f->file, conf_str(ikd->conf, f->filekey));
	admin_reload_note(c, 0);
	console_ok(c);
}

/* forget peer <name> */
void
admin_forget_peer(struct console_client *c, int argc, char **argv)
{
	static const struct admin_forget f = {
		"forget peer", "peer", "state store", "peers file",
		"outbound:peers_file", peers_forget, peers_flush
	};

	if (!astconf_name_ok(argv[0])) {
		console_err(c, "bad name: [A-Za-z0-9._-], at most %d",
		    ASTCONF_NAME_MAX);
		return;
	}
	admin_forget(c, &f, argv[0]);
}

/* keys [glob] */
void
admin_keys(struct console_client *c, int argc, char **argv)
{
	sqlite3_stmt	*st;
	const char	*glob = argc > 0 ? argv[0] : NULL;
	char		 t[32], fpr[96], status[48], name[96];
	int		 rc, n = 0;

	if ((st = admin_list_start(c, glob, sql_keys)) == NULL)
		return;
	console_printf(c, "  %-24s %4s %-12s %-9s %-20s  %-8s %-24s %s",
	    "NODE", "BITS", "STATUS", "INSTALLED", "FETCHED", "ROLE", "NAME",
	    "FINGERPRINT");
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (glob != NULL && fnmatch(glob, admin_col(st, 0), 0) != 0)
			continue;
		if (n++ >= ADMIN_ROWS_MAX)
			break;
		console_printf(c, "  %-24s %4d %-12s %-9s %-20s  %-8s %-24s %s",
		    admin_col(st, 0), sqlite3_column_int(st, 1),
		    admin_esc(status, sizeof status, admin_col(st, 2)),
		    sqlite3_column_int(st, 3) ? "yes" : "no",
		    admin_time(t, sizeof t, sqlite3_column_int64(st, 4)),
		    admin_col(st, 6), admin_esc(name, sizeof name,
		    admin_col(st, 7)), admin_esc(fpr, sizeof fpr,
		    admin_col(st, 5)));
	}
	sqlite3_reset(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		console_err(c, "state store: %s", store_errmsg(ikd->store));
		return;
	}
	if (n > ADMIN_ROWS_MAX)
		console_printf(c, "  (more than %d; narrow the glob)",
		    ADMIN_ROWS_MAX);
	else
		console_printf(c, "  (%d key%s)", n, n == 1 ? "" : "s");
	console_ok(c);
}

/* key <node> */
void
admin_node_key(struct console_client *c, int argc, char **argv)
{
	sqlite3_stmt	*st;
	char		 b[128], t[32], *path;
	int		 rc, installed;

	if (!keys_node_ok(argv[0])) {
		console_err(c, "bad node name: [A-Za-z0-9._-], at most %d",
		    KEYS_NODE_MAX);
		return;
	}
	if ((st = store_stmt(ikd->store, sql_key)) == NULL) {
		console_err(c, "state store: %s", store_errmsg(ikd->store));
		return;
	}
	sqlite3_bind_text(st, 1, argv[0], -1, SQLITE_STATIC);
	if ((rc = sqlite3_step(st)) != SQLITE_ROW) {
		sqlite3_reset(st);
		if (rc == SQLITE_DONE)
			console_err(c, "no such key");
		else
			console_err(c, "state store: %s",
			    store_errmsg(ikd->store));
		return;
	}
	installed = sqlite3_column_int(st, 8);
	console_printf(c, "  node        %s", admin_col(st, 0));
	console_printf(c, "  name        %s", admin_esc(b, sizeof b,
	    admin_col(st, 1)));
	console_printf(c, "  fingerprint %s", admin_esc(b, sizeof b,
	    admin_col(st, 2)));
	console_printf(c, "  bits        %d", sqlite3_column_int(st, 3));
	console_printf(c, "  source      %s", admin_esc(b, sizeof b,
	    admin_col(st, 4)));
	console_printf(c, "  fetched     %s", admin_time(t, sizeof t,
	    sqlite3_column_int64(st, 5)));
	console_printf(c, "  changed     %s", admin_time(t, sizeof t,
	    sqlite3_column_int64(st, 6)));
	console_printf(c, "  status      %s", admin_esc(b, sizeof b,
	    admin_col(st, 7)));
	console_printf(c, "  installed   %s", installed ? "yes" : "no");
	sqlite3_reset(st);
	/* Every held key: slot, role, name, fingerprint, then its file. */
	if ((st = store_stmt(ikd->store, sql_key_slots)) == NULL) {
		console_err(c, "state store: %s", store_errmsg(ikd->store));
		return;
	}
	sqlite3_bind_text(st, 1, argv[0], -1, SQLITE_STATIC);
	while (sqlite3_step(st) == SQLITE_ROW) {
		console_printf(c, "  key         %d %-8s %s %s",
		    sqlite3_column_int(st, 0), admin_col(st, 2),
		    admin_esc(b, sizeof b, admin_col(st, 1)), admin_col(st, 3));
		xasprintf(&path, "%s/%s.pub", conf_str(ikd->conf,
		    "asterisk:key_dir"), admin_col(st, 1));
		console_printf(c, "  file        %s%s", path, access(path, F_OK)
		    == 0 ? "" : " (missing)");
		free(path);
	}
	sqlite3_reset(st);
	console_ok(c);
}

/* The client went before the outcome: no callback will come. */
static void
admin_wait_cancel(void *arg)
{
	struct admin_wait	*w = arg;

	if (w->waiter != NULL)
		keys_cancel(w->waiter);
	free(w);
}

/* fetch <node>: the reply waits for the outcome. */
void
admin_fetch(struct console_client *c, int argc, char **argv)
{
	struct key_result	 r;
	struct admin_wait	*w;

	if (!keys_node_ok(argv[0])) {
		console_err(c, "bad node name: [A-Za-z0-9._-], at most %d",
		    KEYS_NODE_MAX);
		return;
	}
	admin_audit(c, "fetch", argv[0], "started");
	w = xcalloc(1, sizeof *w);
	w->c = c;
	strlcpy_(w->node, argv[0], sizeof w->node);
	w->t0 = now_ms();
	if (keys_fetch(w->node, "console", 1, admin_fetch_cb, w, &r,
	    &w->waiter) == 1) {
		admin_fetch_report(c, w->node, w->t0, &r);
		free(w);
		return;
	}
	console_wait(c, admin_wait_cancel, w);
}

/* The fetch a client waits for has ended. */
static void
admin_fetch_cb(void *arg, const struct key_result *r)
{
	struct admin_wait	*w = arg;

	/* keys.c frees the waiter. */
	admin_fetch_report(w->c, w->node, w->t0, r);
	console_done(w->c);
	free(w);
}

/* Write the outcome of a fetch of node started at t0. */
static void
admin_fetch_report(struct console_client *c, const char *node, uint64_t t0,
    const struct key_result *r)
{
	char	b[512], *cause = NULL;
	int	ok = r->outcome == KEY_NEW || r->outcome == KEY_UPDATED ||
		    r->outcome == KEY_UNCHANGED;

	console_printf(c, "  node        %s", node);
	console_printf(c, "  result      %s", key_outcome_name(r->outcome));
	if (r->fingerprint != NULL)
		console_printf(c, "  fingerprint %s", r->fingerprint);
	if (r->reason != NULL)
		console_printf(c, "  reason      %s", admin_esc(b, sizeof b,
		    r->reason));
	console_printf(c, "  ms          %llu",
	    (unsigned long long)(now_ms() - t0));
	if (r->outcome == KEY_NEW || r->outcome == KEY_UPDATED) {
		/* The users file follows the store now, as for forget. */
		if (users_flush(&cause) == -1) {
			console_err(c, "users file not written: %s", cause);
			free(cause);
			return;
		}
		admin_reload_note(c, r->gen);
	}
	if (ok)
		console_ok(c);
	else
		console_err(c, "fetch %s", key_outcome_name(r->outcome));
}

/* forget key <node> */
void
admin_forget_key(struct console_client *c, int argc, char **argv)
{
	static const struct admin_forget f = {
		"forget key", "key", "state store, key file", "users file",
		"inbound:users_file", keys_forget, users_flush
	};

	if (!keys_node_ok(argv[0])) {
		console_err(c, "bad node name: [A-Za-z0-9._-], at most %d",
		    KEYS_NODE_MAX);
		return;
	}
	admin_forget(c, &f, argv[0]);
}

/* callers [N] */
void
admin_callers(struct console_client *c, int argc, char **argv)
{
	sqlite3_stmt	*st;
	long long	 n = ADMIN_CALLERS_DEF;
	const char	*err;
	char		 a[80], t[32], res[48];
	int		 rc, rows = 0;

	if (argc > 0 && strtonum_(argv[0], 1, ADMIN_CALLERS_MAX, &n,
	    &err) == -1) {
		console_err(c, "N must be 1 to %d", ADMIN_CALLERS_MAX);
		return;
	}
	if ((st = store_stmt(ikd->store, sql_callers)) == NULL) {
		console_err(c, "state store: %s", store_errmsg(ikd->store));
		return;
	}
	sqlite3_bind_int64(st, 1, n);
	console_printf(c, "  %-24s %-40s %6s %-20s  %s", "NODE", "ADDRESS",
	    "COUNT", "LAST_SEEN", "LAST_RESULT");
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		rows++;
		console_printf(c, "  %-24s %-40s %6lld %-20s  %s",
		    admin_col(st, 0), admin_esc(a, sizeof a,
		    admin_col(st, 1)), (long long)sqlite3_column_int64(st, 2),
		    admin_time(t, sizeof t, sqlite3_column_int64(st, 3)),
		    admin_esc(res, sizeof res, admin_col(st, 4)));
	}
	sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		console_err(c, "state store: %s", store_errmsg(ikd->store));
		return;
	}
	console_printf(c, "  (%d caller%s)", rows, rows == 1 ? "" : "s");
	console_ok(c);
}
