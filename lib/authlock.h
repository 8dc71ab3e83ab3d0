/*
 * authlock: failed logins per source address, in a bounded, expiring
 * table (the admin console's login lock, docs/console.md).
 *
 * An address is an IPv4 address (also when mapped into IPv6) or the /64
 * of an IPv6 address (authlock_key).  Its failure n > AUTHLOCK_FREE locks
 * it for (n - AUTHLOCK_FREE) x delay_ms from that failure (at most
 * AUTHLOCK_DELAY_MAX x delay_ms), or until the caller releases the lock
 * that failure started (its held answer went out), whichever is first.
 * A login during the lock is refused without a check (authlock_wait).
 *
 * A record expires AUTHLOCK_FORGET_MS after its last failure once no
 * lock holds, and a success clears it.  When every one of the
 * AUTHLOCK_HOSTS slots holds a live record, the addresses without one
 * share one overflow record: more addresses do not buy more guesses.
 *
 * Times are milliseconds on the caller's monotonic clock, passed in, so
 * the arithmetic is tested without waiting (t/0010-authlock.c).
 */
#ifndef AUTHLOCK_H
#define AUTHLOCK_H

#include <sys/socket.h>
#include <netinet/in.h>
#include <stdint.h>

#define AUTHLOCK_FREE		3		/* failures answered at once */
#define AUTHLOCK_DELAY_MAX	30		/* x delay_ms */
#define AUTHLOCK_FORGET_MS	(900 * 1000)	/* a record expires */
#define AUTHLOCK_HOSTS		256		/* addresses with a record */
#define AUTHLOCK_KEY_MAX	(INET6_ADDRSTRLEN + 4)	/* "/64" */

struct authlock;

/* A table whose failures lock for multiples of delay_ms. */
struct authlock	*authlock_new(int);
void		 authlock_free(struct authlock *);
/* Change delay_ms (a configuration reload); records stay. */
void		 authlock_set_delay(struct authlock *, int);

/* The address key of sa into buf (AUTHLOCK_KEY_MAX bytes); "?" if none. */
void		 authlock_key(const struct sockaddr *, char *, size_t);

/* Milliseconds key must still wait before a login is checked; 0: none. */
uint64_t	 authlock_wait(struct authlock *, const char *, uint64_t);
/*
 * Count a failed login of key at now: its failure count (the failure's
 * number, for authlock_release), and in *wait the lock it starts (0:
 * none, answer at once).
 */
int		 authlock_fail(struct authlock *, const char *, uint64_t,
		    uint64_t *);
/* The answer of failure n of key went out: its lock ends, unless newer. */
void		 authlock_release(struct authlock *, const char *, int,
		    uint64_t);
/* A login of key succeeded: forget its failures. */
void		 authlock_success(struct authlock *, const char *, uint64_t);

#endif
