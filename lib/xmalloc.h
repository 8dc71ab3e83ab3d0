/*
 * xmalloc: allocators that exit on out-of-memory, and small string
 * helpers glibc lacks.
 */
#ifndef XMALLOC_H
#define XMALLOC_H

#include <stddef.h>
#include <stdarg.h>

void	*xmalloc(size_t);
void	*xcalloc(size_t, size_t);
void	*xrealloc(void *, size_t);
void	*xreallocarray(void *, size_t, size_t);
char	*xstrdup(const char *);
char	*xstrndup(const char *, size_t);
int	 xasprintf(char **, const char *, ...) __attribute__((format(printf, 2, 3)));
int	 xvasprintf(char **, const char *, va_list) __attribute__((format(printf, 2, 0)));
/* Copy with truncation, always terminated; returns strlen(src). */
size_t	 strlcpy_(char *, const char *, size_t);
/* Parse a decimal integer in [min, max]; 0 or -1 (errstr set). */
int	 strtonum_(const char *, long long, long long, long long *,
	    const char **);

#endif
