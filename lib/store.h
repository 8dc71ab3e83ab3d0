/*
 * store: the SQLite state store, the source of truth for every file
 * iaxkeyd renders (peers, keys, callers).
 *
 * One connection, WAL journal, synchronous=NORMAL (a commit is durable at
 * the next checkpoint; a crash loses at most the last commits, never the
 * database), busy timeout 0: a database locked by another process is an
 * error reported at once, never a wait inside the event loop.  Statements
 * are prepared once and cached.
 */
#ifndef STORE_H
#define STORE_H

#include <sqlite3.h>

struct store;

/* Open (creating it and its schema when absent); NULL with *cause. */
struct store	*store_open(const char *, char **);
void		 store_close(struct store *);
/* A cached prepared statement, reset and unbound; NULL on error. */
sqlite3_stmt	*store_stmt(struct store *, const char *);
/* Run SQL without results; 0 or -1 with *cause (may be NULL). */
int		 store_exec(struct store *, const char *, char **);
int		 store_begin(struct store *, char **);
int		 store_commit(struct store *, char **);
void		 store_rollback(struct store *);
/* The last error message of the connection. */
const char	*store_errmsg(struct store *);
/* Step a statement that returns no row; 0 or -1 (error logged). */
int		 store_done(struct store *, sqlite3_stmt *);

#endif
