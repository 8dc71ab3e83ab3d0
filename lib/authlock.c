/* authlock: failed logins per source address (see authlock.h). */
#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/authlock.h"
#include "lib/xmalloc.h"

/* Failed logins from one address; key "" is a free slot. */
struct authlock_host {
	char		key[AUTHLOCK_KEY_MAX];
	int		failures;
	int		released;	/* its lock ended with its answer */
	uint64_t	last;		/* the last failure */
};

struct authlock {
	int			delay_ms;
	struct authlock_host	hosts[AUTHLOCK_HOSTS];
	struct authlock_host	overflow;	/* shared when full */
};

static uint64_t	authlock_left(const struct authlock *,
		    const struct authlock_host *, uint64_t);
static struct authlock_host *authlock_host(struct authlock *, const char *,
		    int, uint64_t);

/* A table. */
struct authlock *
authlock_new(int delay_ms)
{
	struct authlock	*al;

	al = xcalloc(1, sizeof *al);
	al->delay_ms = delay_ms;
	strlcpy_(al->overflow.key, "*", sizeof al->overflow.key);
	return (al);
}

/* Free a table; NULL is allowed. */
void
authlock_free(struct authlock *al)
{
	free(al);
}

/* Change the delay unit. */
void
authlock_set_delay(struct authlock *al, int delay_ms)
{
	al->delay_ms = delay_ms;
}

/*
 * The key failed logins are counted under: the IPv4 address (also when
 * mapped into IPv6), or the /64 of an IPv6 address, which one host may
 * well hold whole.
 */
void
authlock_key(const struct sockaddr *sa, char *buf, size_t size)
{
	struct in6_addr	a;
	char		tmp[INET6_ADDRSTRLEN];

	strlcpy_(buf, "?", size);
	if (sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr,
		    buf, size);
	if (sa->sa_family != AF_INET6)
		return;
	a = ((const struct sockaddr_in6 *)sa)->sin6_addr;
	if (IN6_IS_ADDR_V4MAPPED(&a)) {
		inet_ntop(AF_INET, &a.s6_addr[12], buf, size);
		return;
	}
	memset(&a.s6_addr[8], 0, 8);
	if (inet_ntop(AF_INET6, &a, tmp, sizeof tmp) != NULL)
		snprintf(buf, size, "%s/64", tmp);
}

/*
 * The milliseconds record h must still wait, or 0: failure n > FREE
 * locks it for (n - FREE) x delay_ms after that failure, until released.
 */
static uint64_t
authlock_left(const struct authlock *al, const struct authlock_host *h,
    uint64_t now)
{
	uint64_t	n, until;

	if (h == NULL || h->released || h->failures <= AUTHLOCK_FREE)
		return (0);
	n = h->failures - AUTHLOCK_FREE;
	if (n > AUTHLOCK_DELAY_MAX)
		n = AUTHLOCK_DELAY_MAX;
	until = h->last + n * (uint64_t)al->delay_ms;
	return (now < until ? until - now : 0);
}

/*
 * The record of key, expiring old ones on the way: NULL when it has none
 * (unless create), the overflow record when the table is full.
 */
static struct authlock_host *
authlock_host(struct authlock *al, const char *key, int create, uint64_t now)
{
	struct authlock_host	*h, *slot = NULL;
	size_t			 i;

	for (i = 0; i <= AUTHLOCK_HOSTS; i++) {
		h = i < AUTHLOCK_HOSTS ? &al->hosts[i] : &al->overflow;
		if (h->failures > 0 && now - h->last > AUTHLOCK_FORGET_MS &&
		    authlock_left(al, h, now) == 0) {
			h->failures = 0;
			h->released = 0;
			if (h != &al->overflow)
				h->key[0] = '\0';
		}
		if (i == AUTHLOCK_HOSTS)
			break;
		if (h->key[0] != '\0' && strcmp(h->key, key) == 0)
			return (h);
		if (slot == NULL && h->key[0] == '\0')
			slot = h;
	}
	if (slot == NULL)
		return (&al->overflow);
	if (!create)
		return (NULL);
	memset(slot, 0, sizeof *slot);
	strlcpy_(slot->key, key, sizeof slot->key);
	return (slot);
}

/* The wait before a login of key is checked. */
uint64_t
authlock_wait(struct authlock *al, const char *key, uint64_t now)
{
	return (authlock_left(al, authlock_host(al, key, 0, now), now));
}

/* Count a failure of key: its number, and the lock it starts. */
int
authlock_fail(struct authlock *al, const char *key, uint64_t now,
    uint64_t *wait)
{
	struct authlock_host	*h = authlock_host(al, key, 1, now);

	h->failures++;
	h->last = now;
	h->released = 0;
	*wait = authlock_left(al, h, now);
	return (h->failures);
}

/* The answer of failure n went out: the lock it started ends. */
void
authlock_release(struct authlock *al, const char *key, int n, uint64_t now)
{
	struct authlock_host	*h = authlock_host(al, key, 0, now);

	if (h != NULL && h->failures == n)
		h->released = 1;
}

/* A success: the address starts over (the shared overflow does not). */
void
authlock_success(struct authlock *al, const char *key, uint64_t now)
{
	struct authlock_host	*h = authlock_host(al, key, 0, now);

	if (h != NULL && h != &al->overflow)
		memset(h, 0, sizeof *h);
}
