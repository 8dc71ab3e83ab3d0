/*
 * Unit tests for lib/authlock.c: the console's login lock per address.
 * The clock is the test's: every time is a number passed in.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <stdio.h>
#include <string.h>

#include "lib/authlock.h"
#include "t/lib/tap.h"

#define DELAY	1000	/* auth_delay_ms */
#define T0	5000000	/* any start: the clock is ours */

/* The key of a textual address. */
static const char *
key_of(const char *addr, char *buf, size_t size)
{
	struct sockaddr_storage	 ss;
	struct sockaddr_in	*sin = (struct sockaddr_in *)&ss;
	struct sockaddr_in6	*sin6 = (struct sockaddr_in6 *)&ss;

	memset(&ss, 0, sizeof ss);
	if (inet_pton(AF_INET, addr, &sin->sin_addr) == 1)
		ss.ss_family = AF_INET;
	else if (inet_pton(AF_INET6, addr, &sin6->sin6_addr) == 1)
		ss.ss_family = AF_INET6;
	else
		ss.ss_family = AF_UNIX;
	authlock_key((struct sockaddr *)&ss, buf, size);
	return (buf);
}

static void
test_keys(void)
{
	char	b[AUTHLOCK_KEY_MAX];

	is_str(key_of("192.0.2.7", b, sizeof b), "192.0.2.7", "IPv4");
	is_str(key_of("::ffff:192.0.2.7", b, sizeof b), "192.0.2.7",
	    "IPv4 mapped into IPv6 counts as IPv4");
	is_str(key_of("2001:db8:1:2:3:4:5:6", b, sizeof b), "2001:db8:1:2::/64",
	    "IPv6: its /64");
	is_str(key_of("2001:db8:1:2:ffff::1", b, sizeof b), "2001:db8:1:2::/64",
	    "another address of the same /64: the same key");
	is_str(key_of("unix", b, sizeof b), "?", "another family: ?");
}

static void
test_lock(void)
{
	struct authlock	*al = authlock_new(DELAY);
	uint64_t	 wait = 99;
	int		 i, n = 0;

	is_int(authlock_wait(al, "a", T0), 0, "no record: no wait");
	for (i = 1; i <= AUTHLOCK_FREE; i++) {
		n = authlock_fail(al, "a", T0, &wait);
		ok(n == i && wait == 0, "failure %d answered at once", i);
	}
	is_int(authlock_wait(al, "a", T0), 0, "3 failures: not locked");
	n = authlock_fail(al, "a", T0 + 10, &wait);
	ok(n == 4 && wait == DELAY, "failure 4 locks for 1 x delay (%llu)",
	    (unsigned long long)wait);
	is_int(authlock_wait(al, "a", T0 + 10 + 400), DELAY - 400,
	    "the wait shrinks with time");
	is_int(authlock_wait(al, "b", T0 + 10), 0, "another address: free");
	is_int(authlock_wait(al, "a", T0 + 10 + DELAY), 0,
	    "the lock ends after 1 x delay");
	n = authlock_fail(al, "a", T0 + 2 * DELAY, &wait);
	ok(n == 5 && wait == 2 * DELAY, "failure 5 locks for 2 x delay");
	authlock_release(al, "a", 4, T0 + 2 * DELAY + 1);
	ok(authlock_wait(al, "a", T0 + 2 * DELAY + 1) > 0,
	    "releasing an older failure keeps the newer lock");
	authlock_release(al, "a", 5, T0 + 2 * DELAY + 1);
	is_int(authlock_wait(al, "a", T0 + 2 * DELAY + 1), 0,
	    "releasing the failure that locked ends the lock at once");
	for (i = 0; i < 100; i++)
		n = authlock_fail(al, "a", T0 + 3 * DELAY, &wait);
	is_int(wait, AUTHLOCK_DELAY_MAX * DELAY, "the lock is capped at %d x "
	    "delay", AUTHLOCK_DELAY_MAX);
	authlock_set_delay(al, 10);
	is_int(authlock_wait(al, "a", T0 + 3 * DELAY), AUTHLOCK_DELAY_MAX * 10,
	    "a new delay applies to the lock in force");
	authlock_success(al, "a", T0 + 3 * DELAY);
	is_int(authlock_wait(al, "a", T0 + 3 * DELAY), 0, "a success clears");
	n = authlock_fail(al, "a", T0 + 3 * DELAY, &wait);
	ok(n == 1 && wait == 0, "and counting starts over");
	authlock_free(al);
}

static void
test_expiry(void)
{
	struct authlock	*al = authlock_new(DELAY);
	uint64_t	 wait, t;
	int		 i, n = 0;

	for (i = 0; i < 5; i++)
		n = authlock_fail(al, "a", T0, &wait);
	t = T0 + AUTHLOCK_FORGET_MS;
	is_int(authlock_fail(al, "a", t, &wait), 6,
	    "a record is kept for %d ms after its last failure",
	    AUTHLOCK_FORGET_MS);
	is_int(authlock_fail(al, "a", t + AUTHLOCK_FORGET_MS + 1, &wait), 1,
	    "then forgotten: counting starts over");
	(void)n;
	authlock_free(al);
}

static void
test_overflow(void)
{
	struct authlock	*al = authlock_new(DELAY);
	char		 key[32];
	uint64_t	 wait;
	int		 i, n = 0;

	for (i = 0; i < AUTHLOCK_HOSTS; i++) {
		snprintf(key, sizeof key, "10.0.%d.%d", i / 256, i % 256);
		authlock_fail(al, key, T0, &wait);
	}
	for (i = 0; i < AUTHLOCK_FREE + 1; i++) {
		snprintf(key, sizeof key, "192.0.2.%d", i);
		n = authlock_fail(al, key, T0, &wait);
	}
	ok(n == AUTHLOCK_FREE + 1 && wait == DELAY, "table full: new addresses "
	    "share one record, so more addresses buy no more guesses");
	is_int(authlock_wait(al, "198.51.100.1", T0), DELAY,
	    "and any other new address waits with them");
	is_int(authlock_wait(al, "10.0.0.1", T0), 0,
	    "an address with its own record does not");
	authlock_success(al, "198.51.100.1", T0);
	is_int(authlock_wait(al, "198.51.100.2", T0), DELAY,
	    "a success from the shared record does not clear it");
	is_int(authlock_fail(al, "10.0.0.1", T0 + AUTHLOCK_FORGET_MS + 1,
	    &wait), 1, "once the records expire, slots are free again");
	authlock_fail(al, "203.0.113.9", T0 + AUTHLOCK_FORGET_MS + 1, &wait);
	is_int(authlock_wait(al, "198.51.100.2", T0 + AUTHLOCK_FORGET_MS + 1),
	    0, "and a new address gets its own record");
	authlock_free(al);
}

int
main(void)
{
	plan_no_plan();
	test_keys();
	test_lock();
	test_expiry();
	test_overflow();
	return (exit_status());
}
