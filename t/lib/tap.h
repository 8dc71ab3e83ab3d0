/* tap: a small TAP producer for the C tests (plan, ok, is_int, is_str). */
#ifndef TAP_H
#define TAP_H

#include <stddef.h>

void	plan(int);
void	plan_no_plan(void);
int	ok_(int, const char *, int, const char *, ...)
	    __attribute__((format(printf, 4, 5)));
int	is_int_(long long, long long, const char *, int, const char *, ...)
	    __attribute__((format(printf, 5, 6)));
int	is_str_(const char *, const char *, const char *, int, const char *, ...)
	    __attribute__((format(printf, 5, 6)));
int	is_mem_(const void *, size_t, const void *, size_t, const char *, int,
	    const char *, ...) __attribute__((format(printf, 7, 8)));
void	diag(const char *, ...) __attribute__((format(printf, 1, 2)));
void	skip(int, const char *, ...) __attribute__((format(printf, 2, 3)));
int	exit_status(void);
/* Dump a TAP "Bail out!" and exit. */
void	bail(const char *, ...) __attribute__((format(printf, 1, 2), noreturn));

#define ok(c, ...)		ok_(!!(c), __FILE__, __LINE__, __VA_ARGS__)
#define ok1(c)			ok_(!!(c), __FILE__, __LINE__, "%s", #c)
#define is_int(g, e, ...)	is_int_((g), (e), __FILE__, __LINE__, __VA_ARGS__)
#define is_str(g, e, ...)	is_str_((g), (e), __FILE__, __LINE__, __VA_ARGS__)
#define is_mem(g, gl, e, el, ...) \
	is_mem_((g), (gl), (e), (el), __FILE__, __LINE__, __VA_ARGS__)

#endif
