/* dialstr: outbound destinations, parsed and validated strictly. */
#include <arpa/inet.h>

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "lib/dialstr.h"
#include "lib/xmalloc.h"

static int	dial_set_host(struct dialdest *, const char *, size_t,
		    const char **);
static int	dial_set_port(struct dialdest *, const char *, size_t,
		    const char **);
static int	dial_set_chars(char *, size_t, const char *, size_t,
		    const char *, const char **);
static int	dial_set_secret(struct dialdest *, const char *, size_t,
		    const char **);
static int	dial_alnum(int);

#define DIAL_NAME_EXTRA		"._-"
#define DIAL_EXTEN_EXTRA	"._+*#-"

/* Empty destination. */
void
dialdest_init(struct dialdest *d)
{
	memset(d, 0, sizeof *d);
}

/* 1 for [A-Za-z0-9]. */
static int
dial_alnum(int c)
{
	return ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9'));
}

/* Host: DNS name, IPv4, or [IPv6]. */
static int
dial_set_host(struct dialdest *d, const char *s, size_t n, const char **why)
{
	char		buf[DIAL_HOST_MAX + 3];
	struct in6_addr	a6;
	size_t		i, label = 0;

	if (n == 0) {
		*why = "empty";
		return (-1);
	}
	if (s[0] == '[') {
		if (n < 4 || s[n - 1] != ']' || n - 2 >= INET6_ADDRSTRLEN) {
			*why = "not a bracketed IPv6 address";
			return (-1);
		}
		memcpy(buf, s + 1, n - 2);
		buf[n - 2] = '\0';
		if (inet_pton(AF_INET6, buf, &a6) != 1) {
			*why = "not a valid IPv6 address";
			return (-1);
		}
		memcpy(d->host, s, n);
		d->host[n] = '\0';
		d->v6 = 1;
		return (0);
	}
	if (n > DIAL_HOST_MAX) {
		*why = "longer than 253 characters";
		return (-1);
	}
	for (i = 0; i < n; i++) {
		if (s[i] == '.') {
			if (label == 0) {
				*why = "empty DNS label";
				return (-1);
			}
			label = 0;
			continue;
		}
		if (!dial_alnum((unsigned char)s[i]) && s[i] != '-') {
			*why = "not a DNS name, IPv4 or [IPv6] address";
			return (-1);
		}
		if (++label > 63 || (label == 1 && s[i] == '-') ||
		    (s[i] == '-' && (i + 1 == n || s[i + 1] == '.'))) {
			*why = "bad DNS label";
			return (-1);
		}
	}
	if (label == 0) {
		*why = "empty DNS label";
		return (-1);
	}
	memcpy(d->host, s, n);
	d->host[n] = '\0';
	d->v6 = 0;
	return (0);
}

/* Port 1-65535. */
static int
dial_set_port(struct dialdest *d, const char *s, size_t n, const char **why)
{
	int	v = 0;
	size_t	i;

	if (n == 0 || n > 5) {
		*why = "not a number from 1 to 65535";
		return (-1);
	}
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9') {
			*why = "not a number from 1 to 65535";
			return (-1);
		}
		v = v * 10 + (s[i] - '0');
	}
	if (v < 1 || v > 65535) {
		*why = "not a number from 1 to 65535";
		return (-1);
	}
	d->port = v;
	return (0);
}

/* A field from [A-Za-z0-9] plus extra characters, 1 to size-1 long. */
static int
dial_set_chars(char *dst, size_t size, const char *s, size_t n,
    const char *extra, const char **why)
{
	size_t	i;

	if (n == 0) {
		*why = "empty";
		return (-1);
	}
	if (n >= size) {
		*why = "too long";
		return (-1);
	}
	for (i = 0; i < n; i++) {
		if (!dial_alnum((unsigned char)s[i]) &&
		    strchr(extra, s[i]) == NULL) {
			*why = "invalid character";
			return (-1);
		}
	}
	memcpy(dst, s, n);
	dst[n] = '\0';
	return (0);
}

/* Secret: printable ASCII without the dial-string and config specials. */
static int
dial_set_secret(struct dialdest *d, const char *s, size_t n, const char **why)
{
	size_t	i;

	if (n == 0) {
		*why = "empty";
		return (-1);
	}
	if (n > DIAL_SECRET_MAX) {
		*why = "too long";
		return (-1);
	}
	for (i = 0; i < n; i++) {
		unsigned char c = s[i];
		if (c <= ' ' || c > '~' || strchr(";:@/[]\"\\#", c) != NULL) {
			*why = "invalid character";
			return (-1);
		}
	}
	memcpy(d->secret, s, n);
	d->secret[n] = '\0';
	return (0);
}

/* Parse "IAX2/user:secret@host[:port]/exten[@context]". */
int
dialstr_parse(const char *s, struct dialdest *d, const char **field,
    const char **why)
{
	const char	*p, *colon, *at, *slash, *hend, *ctx;

	*field = "dialstring";
	if (strncasecmp(s, "IAX2/", 5) != 0) {
		*why = "does not start with IAX2/";
		return (-1);
	}
	p = s + 5;
	/* The secret holds no '/' or '@': the first of each delimit. */
	if ((slash = strchr(p, '/')) == NULL ||
	    (at = memchr(p, '@', slash - p)) == NULL) {
		*why = "not IAX2/user:secret@host[:port]/exten[@context]";
		return (-1);
	}
	colon = memchr(p, ':', at - p);
	if (colon == NULL) {
		*field = "secret";
		*why = "missing (user:secret@host)";
		return (-1);
	}
	*field = "user";
	if (dial_set_chars(d->user, sizeof d->user, p, colon - p,
	    DIAL_NAME_EXTRA, why) == -1)
		return (-1);
	*field = "secret";
	if (dial_set_secret(d, colon + 1, at - colon - 1, why) == -1)
		return (-1);
	p = at + 1;
	hend = slash;
	if (*p == '[') {
		const char *rb = memchr(p, ']', slash - p);
		if (rb == NULL) {
			*field = "host";
			*why = "not a bracketed IPv6 address";
			return (-1);
		}
		hend = rb + 1;
	} else if ((colon = memchr(p, ':', slash - p)) != NULL)
		hend = colon;
	*field = "host";
	if (dial_set_host(d, p, hend - p, why) == -1)
		return (-1);
	*field = "port";
	if (hend < slash) {
		if (*hend != ':') {
			*field = "host";
			*why = "junk after the address";
			return (-1);
		}
		if (dial_set_port(d, hend + 1, slash - hend - 1, why) == -1)
			return (-1);
	}
	p = slash + 1;
	ctx = strchr(p, '@');
	*field = "exten";
	if (dial_set_chars(d->exten, sizeof d->exten, p, ctx == NULL ?
	    strlen(p) : (size_t)(ctx - p), DIAL_EXTEN_EXTRA, why) == -1)
		return (-1);
	if (ctx != NULL) {
		*field = "context";
		if (dial_set_chars(d->context, sizeof d->context, ctx + 1,
		    strlen(ctx + 1), DIAL_NAME_EXTRA, why) == -1)
			return (-1);
	}
	return (0);
}

/* Set one named argument. */
int
dialdest_arg(struct dialdest *d, const char *arg, const char **field,
    const char **why)
{
	const char	*eq = strchr(arg, '=');
	const char	*v;
	size_t		 klen, vlen;

	*field = "argument";
	if (eq == NULL) {
		*why = "not name=value";
		return (-1);
	}
	klen = eq - arg;
	v = eq + 1;
	vlen = strlen(v);
#define KEY(k)	(klen == sizeof(k) - 1 && strncmp(arg, k, klen) == 0)
	if (KEY("host")) {
		*field = "host";
		return (dial_set_host(d, v, vlen, why));
	}
	if (KEY("port")) {
		*field = "port";
		return (dial_set_port(d, v, vlen, why));
	}
	if (KEY("user")) {
		*field = "user";
		return (dial_set_chars(d->user, sizeof d->user, v, vlen,
		    DIAL_NAME_EXTRA, why));
	}
	if (KEY("secret")) {
		*field = "secret";
		return (dial_set_secret(d, v, vlen, why));
	}
	if (KEY("exten")) {
		*field = "exten";
		return (dial_set_chars(d->exten, sizeof d->exten, v, vlen,
		    DIAL_EXTEN_EXTRA, why));
	}
	if (KEY("context")) {
		*field = "context";
		return (dial_set_chars(d->context, sizeof d->context, v, vlen,
		    DIAL_NAME_EXTRA, why));
	}
#undef KEY
	*why = "unknown name (host, port, user, secret, exten, context)";
	return (-1);
}

/* Required fields present; the port defaults to 4569. */
int
dialdest_complete(struct dialdest *d, const char **field, const char **why)
{
	*why = "missing";
	if (d->host[0] == '\0')
		*field = "host";
	else if (d->user[0] == '\0')
		*field = "user";
	else if (d->secret[0] == '\0')
		*field = "secret";
	else if (d->exten[0] == '\0')
		*field = "exten";
	else {
		if (d->port == 0)
			d->port = DIAL_PORT_DEFAULT;
		return (0);
	}
	return (-1);
}

/* The host without IPv6 brackets. */
void
dialdest_host_plain(const struct dialdest *d, char *buf, size_t size)
{
	if (d->v6)
		snprintf(buf, size, "%.*s", (int)strlen(d->host) - 2,
		    d->host + 1);
	else
		snprintf(buf, size, "%s", d->host);
}

/* "/exten[@context]". */
#define DIAL_TAIL(d) (d)->exten, (d)->context[0] != '\0' ? "@" : "", \
	(d)->context

/* The MD5+AES fallback. */
void
dialdest_md5(const struct dialdest *d, char *buf, size_t size)
{
	snprintf(buf, size, "IAX2/%s:%s@%s:%d/%s%s%s", d->user, d->secret,
	    d->host, d->port, DIAL_TAIL(d));
}

/* RSA+AES with the key inline (dialstring mode). */
void
dialdest_rsa_inline(const struct dialdest *d, const char *key, char *buf,
    size_t size)
{
	snprintf(buf, size, "IAX2/%s:%s:[%s]@%s:%d/%s%s%s", d->user,
	    d->secret, key, d->host, d->port, DIAL_TAIL(d));
}

/* RSA+AES through a configured peer. */
void
dialdest_peer(const struct dialdest *d, const char *peer, char *buf,
    size_t size)
{
	snprintf(buf, size, "IAX2/%s/%s%s%s", peer, DIAL_TAIL(d));
}
