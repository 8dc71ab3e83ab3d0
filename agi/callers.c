/*
 * callers: the state kept about callers whose key is not installed.  Any
 * caller can name itself anything, so what it leaves behind is bounded
 * and expires:
 *
 *   - callers and keys rows of nodes without an installed key: at most
 *     [inbound] max_unknown of each (the least recently seen go first),
 *     none older than unknown_ttl seconds;
 *   - key fetches for such nodes on behalf of calls: at most
 *     unknown_fetches a minute (a token bucket), so a caller inventing
 *     names cannot spend the key server's per-address budget that
 *     installed nodes, sync and the console need.
 *
 * The in-memory per-node state of keys.c is bounded by the same
 * max_unknown (keys_node evicts idle entries).
 */
#include <stdlib.h>
#include <time.h>

#include "agi/config.h"
#include "agi/iaxkeyd.h"

static struct {
	double		tokens;
	uint64_t	last;		/* ms, monotonic */
	int		primed;
} cb;

static const char sql_prune_callers[] =
    "DELETE FROM callers WHERE node NOT IN (SELECT node FROM keys WHERE"
    " installed) AND (last_seen < ?1 OR node IN (SELECT node FROM callers"
    " WHERE node NOT IN (SELECT node FROM keys WHERE installed) ORDER BY"
    " last_seen DESC, rowid DESC LIMIT -1 OFFSET ?2))";
static const char sql_prune_keys[] =
    "DELETE FROM keys WHERE NOT installed AND (coalesce(fetched, 0) < ?1"
    " OR node IN (SELECT node FROM keys WHERE NOT installed ORDER BY"
    " fetched DESC, rowid DESC LIMIT -1 OFFSET ?2))";

/* Drop unknown callers past max_unknown or older than unknown_ttl. */
void
callers_prune(void)
{
	static const char *const sql[] = { sql_prune_callers, sql_prune_keys };
	long long	 ttl = conf_int(ikd->conf, "inbound:unknown_ttl");
	long long	 max = conf_int(ikd->conf, "inbound:max_unknown");
	sqlite3_stmt	*st;
	size_t		 i;

	for (i = 0; i < sizeof sql / sizeof sql[0]; i++) {
		if ((st = store_stmt(ikd->store, sql[i])) == NULL)
			return;
		sqlite3_bind_int64(st, 1, ttl == 0 ? 0 : time(NULL) - ttl);
		sqlite3_bind_int64(st, 2, max);
		store_done(ikd->store, st);
	}
}

/*
 * Take one fetch from the budget for unknown nodes: 1 when the fetch may
 * go, 0 when the minute's budget is spent.
 */
int
callers_budget_take(void)
{
	double		 cap = conf_int(ikd->conf, "inbound:unknown_fetches");
	uint64_t	 t = now_ms();

	if (!cb.primed) {
		cb.tokens = cap;
		cb.primed = 1;
	} else
		cb.tokens += (double)(t - cb.last) * cap / 60000.0;
	cb.last = t;
	if (cb.tokens > cap)
		cb.tokens = cap;
	if (cb.tokens < 1.0)
		return (0);
	cb.tokens -= 1.0;
	return (1);
}
