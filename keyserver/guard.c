/*
 * guard: the replay cache and the per-address rate limit.
 *
 * Nonces: a ring in arrival order plus a hash chain per bucket.  A nonce
 * is kept for 2 x clock_skew_s (a request older than clock_skew_s is
 * refused on its timestamp anyway); when the ring is full of younger
 * nonces, new signed requests are refused rather than forgetting one.
 *
 * Nonces are recorded only for authorised requests (api.c calls
 * guard_nonce_seen last), so nobody else can fill the ring or burn a
 * nonce.
 *
 * Rate: a token bucket per source address (rate_per_min, rate_burst) in
 * a bounded hash table; full buckets are dropped when the table is full.
 *
 * Connections: open connections per source address (max_per_addr) in a
 * hash table; an entry lives while its address has a connection, so the
 * table holds at most max_connections entries.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/xmalloc.h"
#include "keyserver/ks.h"

#define GUARD_NONE	UINT32_MAX
#define GUARD_ADDR_MAX	64
#define GUARD_RATE_MAX	65536		/* addresses tracked */
#define GUARD_CONN_HASH	4096		/* buckets of the connection table */

struct nonce {
	char		s[KS_NONCE_MAX + 1];
	time_t		t;
	uint32_t	next;		/* hash chain */
};

struct connaddr {
	char		 addr[GUARD_ADDR_MAX];
	int		 n;		/* open connections */
	struct connaddr	*next;
};

struct bucket {
	char		 addr[GUARD_ADDR_MAX];
	double		 tokens;
	double		 last;		/* monotonic seconds */
	struct bucket	*next;
};

static struct {
	struct nonce	 *ring;
	uint32_t	  cap, head, count;
	uint32_t	 *hash;
	uint32_t	  hmask;
	time_t		  keep;
	struct bucket	**rate;
	uint32_t	  rmask, rcount;
	double		  per_s, burst;
	struct connaddr	**conns;
	int		  per_addr;
} guard;

static uint32_t	guard_hash(const char *);
static void	guard_expire(time_t);
static void	guard_unlink(uint32_t);
static double	guard_now(void);
static void	guard_rate_sweep(double);
static struct connaddr **guard_conn_find(const char *);

/* FNV-1a of a string. */
static uint32_t
guard_hash(const char *s)
{
	uint32_t	h = 2166136261u;

	while (*s != '\0') {
		h ^= (unsigned char)*s++;
		h *= 16777619u;
	}
	return (h);
}

/* Set up both tables from the configuration; 0. */
int
guard_init(const struct conf *conf)
{
	uint32_t	n;

	guard.cap = conf_int(conf, "http:max_nonces");
	guard.ring = xcalloc(guard.cap, sizeof *guard.ring);
	for (n = 1; n < guard.cap * 2; n <<= 1)
		;
	guard.hash = xreallocarray(NULL, n, sizeof *guard.hash);
	memset(guard.hash, 0xff, (size_t)n * sizeof *guard.hash);
	guard.hmask = n - 1;
	guard.keep = 2 * conf_int(conf, "http:clock_skew_s");
	guard.per_s = conf_int(conf, "http:rate_per_min") / 60.0;
	guard.burst = conf_int(conf, "http:rate_burst");
	guard.rate = xcalloc(GUARD_RATE_MAX, sizeof *guard.rate);
	guard.rmask = GUARD_RATE_MAX - 1;
	guard.conns = xcalloc(GUARD_CONN_HASH, sizeof *guard.conns);
	guard.per_addr = conf_int(conf, "http:max_per_addr");
	return (0);
}

/* Release both tables. */
void
guard_free(void)
{
	struct bucket	*b, *next;
	struct connaddr	*c, *cnext;
	uint32_t	 i;

	for (i = 0; guard.rate != NULL && i <= guard.rmask; i++) {
		for (b = guard.rate[i]; b != NULL; b = next) {
			next = b->next;
			free(b);
		}
	}
	for (i = 0; guard.conns != NULL && i < GUARD_CONN_HASH; i++) {
		for (c = guard.conns[i]; c != NULL; c = cnext) {
			cnext = c->next;
			free(c);
		}
	}
	free(guard.conns);
	free(guard.rate);
	free(guard.ring);
	free(guard.hash);
	memset(&guard, 0, sizeof guard);
}

/* Nonces in the replay cache now; *cap: its size. */
size_t
guard_nonces(size_t *cap)
{
	*cap = guard.cap;
	return (guard.count);
}

/* 1 if s is a well-formed nonce: 16-64 of [A-Za-z0-9_-]. */
int
guard_nonce_valid(const char *s)
{
	size_t	n = strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "abcdefghijklmnopqrstuvwxyz0123456789_-");

	return (s[n] == '\0' && n >= KS_NONCE_MIN && n <= KS_NONCE_MAX);
}

/* Take ring slot i out of its hash chain. */
static void
guard_unlink(uint32_t i)
{
	uint32_t	*p = &guard.hash[guard_hash(guard.ring[i].s) &
			    guard.hmask];

	while (*p != GUARD_NONE) {
		if (*p == i) {
			*p = guard.ring[i].next;
			return;
		}
		p = &guard.ring[*p].next;
	}
}

/* Forget nonces older than the keep time. */
static void
guard_expire(time_t now)
{
	while (guard.count > 0 &&
	    guard.ring[guard.head].t + guard.keep < now) {
		guard_unlink(guard.head);
		guard.head = (guard.head + 1) % guard.cap;
		guard.count--;
	}
}

/*
 * Record a nonce (well-formed) seen at now.  0 when it is new; 1 when it
 * was seen before or cannot be remembered, with *why (static).
 */
int
guard_nonce_seen(const char *s, time_t now, const char **why)
{
	uint32_t	h, i;

	guard_expire(now);
	h = guard_hash(s) & guard.hmask;
	for (i = guard.hash[h]; i != GUARD_NONE; i = guard.ring[i].next) {
		if (strcmp(guard.ring[i].s, s) == 0) {
			*why = "nonce already used";
			return (1);
		}
	}
	if (guard.count == guard.cap) {
		*why = "replay cache full, retry later";
		return (1);
	}
	i = (guard.head + guard.count) % guard.cap;
	strlcpy_(guard.ring[i].s, s, sizeof guard.ring[i].s);
	guard.ring[i].t = now;
	guard.ring[i].next = guard.hash[h];
	guard.hash[h] = i;
	guard.count++;
	return (0);
}

/* Monotonic seconds (coarse clock: this runs on every request). */
static double
guard_now(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (ts.tv_sec + ts.tv_nsec / 1e9);
}

/* Drop the buckets that are full again: they carry no state. */
static void
guard_rate_sweep(double now)
{
	struct bucket	**p, *b;
	uint32_t	  i;

	for (i = 0; i <= guard.rmask; i++) {
		p = &guard.rate[i];
		while ((b = *p) != NULL) {
			if (b->tokens + (now - b->last) * guard.per_s >=
			    guard.burst) {
				*p = b->next;
				free(b);
				guard.rcount--;
			} else
				p = &b->next;
		}
	}
}

/*
 * Take one token from addr's bucket.  1 when the request may go on, 0
 * when addr is over its rate (or the table is full of busy addresses).
 */
int
guard_rate(const char *addr)
{
	struct bucket	*b;
	uint32_t	 h;
	double		 now;

	if (guard.per_s <= 0)
		return (1);
	now = guard_now();
	h = guard_hash(addr) & guard.rmask;
	for (b = guard.rate[h]; b != NULL; b = b->next)
		if (strcmp(b->addr, addr) == 0)
			break;
	if (b == NULL) {
		if (guard.rcount >= GUARD_RATE_MAX)
			guard_rate_sweep(now);
		if (guard.rcount >= GUARD_RATE_MAX)
			return (0);
		b = xcalloc(1, sizeof *b);
		strlcpy_(b->addr, addr, sizeof b->addr);
		b->tokens = guard.burst;
		b->last = now;
		b->next = guard.rate[h];
		guard.rate[h] = b;
		guard.rcount++;
	}
	b->tokens += (now - b->last) * guard.per_s;
	if (b->tokens > guard.burst)
		b->tokens = guard.burst;
	b->last = now;
	if (b->tokens < 1)
		return (0);
	b->tokens -= 1;
	return (1);
}

/* The connection table slot of addr: where its entry is or would go. */
static struct connaddr **
guard_conn_find(const char *addr)
{
	struct connaddr	**p;

	p = &guard.conns[guard_hash(addr) % GUARD_CONN_HASH];
	while (*p != NULL && strcmp((*p)->addr, addr) != 0)
		p = &(*p)->next;
	return (p);
}

/*
 * A connection from addr opens.  1 when it is counted, 0 when addr has
 * max_per_addr connections already (nothing is counted then).
 */
int
guard_conn_open(const char *addr)
{
	struct connaddr	**p = guard_conn_find(addr);

	if (*p == NULL) {
		*p = xcalloc(1, sizeof **p);
		strlcpy_((*p)->addr, addr, sizeof (*p)->addr);
	}
	if ((*p)->n >= guard.per_addr)
		return (0);
	(*p)->n++;
	return (1);
}

/* A counted connection from addr closed. */
void
guard_conn_close(const char *addr)
{
	struct connaddr	**p = guard_conn_find(addr), *c = *p;

	if (c == NULL)
		return;
	if (--c->n <= 0) {
		*p = c->next;
		free(c);
	}
}
