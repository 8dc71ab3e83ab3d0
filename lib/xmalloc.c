/* xmalloc: allocators that exit on out-of-memory, small string helpers. */
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/log.h"
#include "lib/xmalloc.h"

/* Allocate size bytes or exit. */
void *
xmalloc(size_t size)
{
	void	*p;

	if (size == 0)
		size = 1;
	if ((p = malloc(size)) == NULL)
		fatalx("out of memory (%zu bytes)", size);
	return (p);
}

/* Allocate a zeroed array or exit. */
void *
xcalloc(size_t n, size_t size)
{
	void	*p;

	if (n == 0 || size == 0)
		n = size = 1;
	if ((p = calloc(n, size)) == NULL)
		fatalx("out of memory (%zu x %zu bytes)", n, size);
	return (p);
}

/* Resize or exit. */
void *
xrealloc(void *p, size_t size)
{
	return (xreallocarray(p, 1, size));
}

/* Resize an array with overflow check, or exit. */
void *
xreallocarray(void *p, size_t n, size_t size)
{
	void	*q;

	if (size != 0 && n > SIZE_MAX / size)
		fatalx("array too large (%zu x %zu)", n, size);
	if (n * size == 0)
		n = size = 1;
	if ((q = realloc(p, n * size)) == NULL)
		fatalx("out of memory (%zu x %zu bytes)", n, size);
	return (q);
}

/* Duplicate a string or exit. */
char *
xstrdup(const char *s)
{
	return (xstrndup(s, strlen(s)));
}

/* Duplicate at most n bytes of s, terminated, or exit. */
char *
xstrndup(const char *s, size_t n)
{
	char	*p;
	size_t	 len;

	len = strnlen(s, n);
	p = xmalloc(len + 1);
	memcpy(p, s, len);
	p[len] = '\0';
	return (p);
}

/* Allocating printf, or exit. */
int
xasprintf(char **ret, const char *fmt, ...)
{
	va_list	ap;
	int	n;

	va_start(ap, fmt);
	n = xvasprintf(ret, fmt, ap);
	va_end(ap);
	return (n);
}

/* Allocating vprintf, or exit. */
int
xvasprintf(char **ret, const char *fmt, va_list ap)
{
	int	n;

	if ((n = vasprintf(ret, fmt, ap)) == -1)
		fatalx("out of memory (vasprintf)");
	return (n);
}

/* Copy src into dst of size dsize, always terminated; returns strlen(src). */
size_t
strlcpy_(char *dst, const char *src, size_t dsize)
{
	size_t	len = strlen(src);

	if (dsize != 0) {
		size_t n = len < dsize - 1 ? len : dsize - 1;
		memcpy(dst, src, n);
		dst[n] = '\0';
	}
	return (len);
}

/* Parse a whole decimal string into [min, max]. */
int
strtonum_(const char *s, long long min, long long max, long long *out,
    const char **errstr)
{
	char		*end;
	long long	 v;

	*errstr = NULL;
	if (*s == '\0' || (*s != '-' && (*s < '0' || *s > '9'))) {
		*errstr = "not a number";
		return (-1);
	}
	errno = 0;
	v = strtoll(s, &end, 10);
	if (*end != '\0') {
		*errstr = "not a number";
		return (-1);
	}
	if (errno == ERANGE || v < min) {
		*errstr = v < 0 || (errno == ERANGE && v == LLONG_MIN) ?
		    "too small" : "too large";
		if (errno == ERANGE && v == LLONG_MAX)
			*errstr = "too large";
		return (-1);
	}
	if (v > max) {
		*errstr = "too large";
		return (-1);
	}
	*out = v;
	return (0);
}
