/* store: the SQLite state store. */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/log.h"
#include "lib/store.h"
#include "lib/xmalloc.h"

#define STORE_STMTS	64
#define STORE_VERSION	2
#define STORE_VERSION_S	"2"

struct store_stmt {
	const char	*sql;		/* static text: cached by address */
	sqlite3_stmt	*stmt;
};

struct store {
	sqlite3			*db;
	struct store_stmt	 stmts[STORE_STMTS];
	int			 nstmts;
};

static const char store_schema[] =
	"CREATE TABLE IF NOT EXISTS peers ("
	" name TEXT PRIMARY KEY, host TEXT NOT NULL, port INTEGER NOT NULL,"
	" user TEXT NOT NULL, secret TEXT NOT NULL, created INTEGER NOT NULL,"
	" last_used INTEGER NOT NULL, uses INTEGER NOT NULL DEFAULT 0,"
	" gen INTEGER NOT NULL DEFAULT 0);"
	"CREATE INDEX IF NOT EXISTS peers_last_used ON peers(last_used);"
	"CREATE TABLE IF NOT EXISTS keys ("
	" node TEXT PRIMARY KEY, name TEXT NOT NULL, fingerprint TEXT,"
	" bits INTEGER, source TEXT, fetched INTEGER, changed INTEGER,"
	" status TEXT, installed INTEGER NOT NULL DEFAULT 0, pem TEXT);"
	"CREATE TABLE IF NOT EXISTS callers ("
	" node TEXT PRIMARY KEY, first_seen INTEGER NOT NULL,"
	" last_seen INTEGER NOT NULL, count INTEGER NOT NULL DEFAULT 0,"
	" address TEXT, last_result TEXT);"
	"CREATE INDEX IF NOT EXISTS callers_last_seen ON callers(last_seen);"
	"CREATE TABLE IF NOT EXISTS keyslots ("
	" node TEXT NOT NULL, slot INTEGER NOT NULL, name TEXT NOT NULL,"
	" fingerprint TEXT NOT NULL, role TEXT NOT NULL, bits INTEGER,"
	" installed INTEGER NOT NULL, pem TEXT NOT NULL,"
	" PRIMARY KEY (node, slot));";

/*
 * Version 1 held one key per node, in keys: it becomes that node's slot
 * 0, its current key.  Runs in the transaction that creates keyslots.
 */
static const char store_migrate_2[] =
	"INSERT OR IGNORE INTO keyslots (node, slot, name, fingerprint, role,"
	" bits, installed, pem) SELECT node, 0, name, fingerprint, 'current',"
	" bits, coalesce(changed, fetched, 0), pem FROM keys WHERE installed"
	" AND fingerprint IS NOT NULL AND pem IS NOT NULL;";

/*
 * The node's own planned key rotation (agi/rotate.c): at most one row,
 * id 1.  Kept apart from store_schema so that it reads as its own change.
 */
static const char store_schema_rotation[] =
	"CREATE TABLE IF NOT EXISTS rotation ("
	" id INTEGER PRIMARY KEY CHECK (id = 1), step TEXT NOT NULL,"
	" old_fpr TEXT NOT NULL, next_fpr TEXT NOT NULL,"
	" t_step INTEGER NOT NULL, attempts INTEGER NOT NULL DEFAULT 0);";

/*
 * The database holds secrets: make it and its -wal and -shm files 0600
 * whatever the umask.  SQLite gives the -wal and -shm files it creates the
 * mode of the database file, so creating that one 0600 first is enough
 * for new files; files left by an older version are narrowed.
 */
static int
store_private(const char *path, char **cause)
{
	static const char *const sfx[] = { "", "-wal", "-shm", "-journal" };
	char	 p[4096];
	size_t	 i;
	int	 fd;

	for (i = 0; i < sizeof sfx / sizeof sfx[0]; i++) {
		if ((size_t)snprintf(p, sizeof p, "%s%s", path, sfx[i]) >=
		    sizeof p) {
			xasprintf(cause, "%s: path too long", path);
			return (-1);
		}
		fd = open(p, O_RDWR | O_CLOEXEC | O_NOFOLLOW |
		    (i == 0 ? O_CREAT : 0), 0600);
		if (fd == -1 && (i > 0 && errno == ENOENT))
			continue;
		if (fd == -1 || fchmod(fd, 0600) == -1) {
			xasprintf(cause, "%s: %s", p, strerror(errno));
			if (fd != -1)
				close(fd);
			return (-1);
		}
		close(fd);
	}
	return (0);
}

/* Open the database and make sure the schema is there. */
struct store *
store_open(const char *path, char **cause)
{
	struct store	*st;
	int		 rc, version = -1;
	sqlite3_stmt	*stmt;

	if (store_private(path, cause) == -1)
		return (NULL);
	st = xcalloc(1, sizeof *st);
	rc = sqlite3_open_v2(path, &st->db, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		xasprintf(cause, "%s: %s", path, st->db != NULL ?
		    sqlite3_errmsg(st->db) : sqlite3_errstr(rc));
		goto fail;
	}
	sqlite3_extended_result_codes(st->db, 1);
	sqlite3_busy_timeout(st->db, 0);
	if (sqlite3_prepare_v2(st->db, "PRAGMA user_version", -1, &stmt,
	    NULL) != SQLITE_OK) {
		xasprintf(cause, "%s: %s", path, sqlite3_errmsg(st->db));
		goto fail;
	}
	if (sqlite3_step(stmt) == SQLITE_ROW)
		version = sqlite3_column_int(stmt, 0);
	sqlite3_finalize(stmt);
	if (version == -1) {
		xasprintf(cause, "%s: %s", path, sqlite3_errmsg(st->db));
		goto fail;
	}
	if (version > STORE_VERSION) {
		xasprintf(cause, "%s: schema version %d is newer than this "
		    "iaxkeyd (%d)", path, version, STORE_VERSION);
		goto fail;
	}
	if (store_exec(st, "PRAGMA journal_mode=WAL", NULL) == -1 ||
	    store_exec(st, "PRAGMA synchronous=NORMAL", NULL) == -1 ||
	    store_begin(st, NULL) == -1 ||
	    store_exec(st, store_schema, NULL) == -1 ||
	    store_exec(st, store_schema_rotation, NULL) == -1 ||
	    (version < 2 && store_exec(st, store_migrate_2, NULL) == -1) ||
	    store_exec(st, "PRAGMA user_version=" STORE_VERSION_S, NULL) ==
	    -1 || store_commit(st, NULL) == -1) {
		xasprintf(cause, "%s: %s", path, sqlite3_errmsg(st->db));
		store_rollback(st);
		goto fail;
	}
	if (version >= 1 && version < STORE_VERSION)
		log_info("state store %s: schema version %d upgraded to %d",
		    path, version, STORE_VERSION);
	return (st);
fail:
	store_close(st);
	return (NULL);
}

/* Finalize every statement and close. */
void
store_close(struct store *st)
{
	int	i;

	if (st == NULL)
		return;
	for (i = 0; i < st->nstmts; i++)
		sqlite3_finalize(st->stmts[i].stmt);
	sqlite3_close(st->db);
	free(st);
}

/* A cached statement for sql (static text), reset and unbound. */
sqlite3_stmt *
store_stmt(struct store *st, const char *sql)
{
	sqlite3_stmt	*stmt;
	int		 i;

	for (i = 0; i < st->nstmts; i++) {
		if (st->stmts[i].sql == sql) {
			stmt = st->stmts[i].stmt;
			sqlite3_reset(stmt);
			sqlite3_clear_bindings(stmt);
			return (stmt);
		}
	}
	if (sqlite3_prepare_v3(st->db, sql, -1, SQLITE_PREPARE_PERSISTENT,
	    &stmt, NULL) != SQLITE_OK) {
		log_warnx("state store: prepare: %s", sqlite3_errmsg(st->db));
		return (NULL);
	}
	if (st->nstmts == STORE_STMTS)
		fatalx("store: statement cache full");
	st->stmts[st->nstmts].sql = sql;
	st->stmts[st->nstmts].stmt = stmt;
	st->nstmts++;
	return (stmt);
}

/* Run SQL that returns no rows. */
int
store_exec(struct store *st, const char *sql, char **cause)
{
	char	*err = NULL;

	if (sqlite3_exec(st->db, sql, NULL, NULL, &err) != SQLITE_OK) {
		if (cause != NULL)
			xasprintf(cause, "%s", err != NULL ? err :
			    sqlite3_errmsg(st->db));
		sqlite3_free(err);
		return (-1);
	}
	return (0);
}

/* Start a write transaction (fails at once when the file is locked). */
int
store_begin(struct store *st, char **cause)
{
	return (store_exec(st, "BEGIN IMMEDIATE", cause));
}

/* Commit. */
int
store_commit(struct store *st, char **cause)
{
	return (store_exec(st, "COMMIT", cause));
}

/* Roll back, ignoring errors (there may be no transaction). */
void
store_rollback(struct store *st)
{
	sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
}

/* The connection's last error. */
const char *
store_errmsg(struct store *st)
{
	return (sqlite3_errmsg(st->db));
}

/* Step a statement expected to return no row. */
int
store_done(struct store *st, sqlite3_stmt *stmt)
{
	int	rc = sqlite3_step(stmt);

	sqlite3_reset(stmt);
	if (rc != SQLITE_DONE) {
		log_warnx("state store: %s", sqlite3_errmsg(st->db));
		return (-1);
	}
	return (0);
}
