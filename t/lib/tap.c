/* tap: a small TAP producer for the C tests. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "t/lib/tap.h"

static int	tap_planned = -1;
static int	tap_run;
static int	tap_failed;

static void	tap_vline(int, const char *, va_list)
		    __attribute__((format(printf, 2, 0)));
static void	tap_atexit(void);

/* Print the trailing plan when the test did not declare one. */
static void
tap_atexit(void)
{
	if (tap_planned == -1)
		printf("1..%d\n", tap_run);
	else if (tap_planned != tap_run)
		printf("# planned %d tests but ran %d\n", tap_planned, tap_run);
	fflush(stdout);
}

/* Declare the number of tests. */
void
plan(int n)
{
	tap_planned = n;
	printf("1..%d\n", n);
	fflush(stdout);
	atexit(tap_atexit);
}

/* Declare that the plan comes at the end. */
void
plan_no_plan(void)
{
	tap_planned = -1;
	atexit(tap_atexit);
}

/* Print one "ok"/"not ok" line. */
static void
tap_vline(int pass, const char *fmt, va_list ap)
{
	tap_run++;
	if (!pass)
		tap_failed++;
	printf("%sok %d - ", pass ? "" : "not ", tap_run);
	vprintf(fmt, ap);
	printf("\n");
	fflush(stdout);
}

/* Record one test result. */
int
ok_(int pass, const char *file, int line, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	tap_vline(pass, fmt, ap);
	va_end(ap);
	if (!pass)
		diag("  failed at %s:%d", file, line);
	return (pass);
}

/* Compare two integers. */
int
is_int_(long long got, long long want, const char *file, int line,
    const char *fmt, ...)
{
	va_list	ap;
	int	pass = got == want;

	va_start(ap, fmt);
	tap_vline(pass, fmt, ap);
	va_end(ap);
	if (!pass)
		diag("  at %s:%d: got %lld, want %lld", file, line, got, want);
	return (pass);
}

/* Compare two strings; NULL only equals NULL. */
int
is_str_(const char *got, const char *want, const char *file, int line,
    const char *fmt, ...)
{
	va_list	ap;
	int	pass;

	pass = (got == NULL || want == NULL) ? got == want :
	    strcmp(got, want) == 0;
	va_start(ap, fmt);
	tap_vline(pass, fmt, ap);
	va_end(ap);
	if (!pass)
		diag("  at %s:%d: got \"%s\", want \"%s\"", file, line,
		    got ? got : "(null)", want ? want : "(null)");
	return (pass);
}

/* Compare two byte ranges. */
int
is_mem_(const void *got, size_t glen, const void *want, size_t wlen,
    const char *file, int line, const char *fmt, ...)
{
	va_list	ap;
	int	pass = glen == wlen && memcmp(got, want, glen) == 0;

	va_start(ap, fmt);
	tap_vline(pass, fmt, ap);
	va_end(ap);
	if (!pass)
		diag("  at %s:%d: got %zu bytes \"%.*s\", want %zu bytes \"%.*s\"",
		    file, line, glen, (int)glen, (const char *)got, wlen,
		    (int)wlen, (const char *)want);
	return (pass);
}

/* Print a diagnostic line. */
void
diag(const char *fmt, ...)
{
	va_list	ap;

	fflush(stdout);
	fprintf(stderr, "# ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
}

/* Skip n tests with a reason. */
void
skip(int n, const char *fmt, ...)
{
	va_list	ap;
	char	why[256];

	va_start(ap, fmt);
	vsnprintf(why, sizeof why, fmt, ap);
	va_end(ap);
	while (n-- > 0) {
		tap_run++;
		printf("ok %d # skip %s\n", tap_run, why);
	}
	fflush(stdout);
}

/* Stop the whole test. */
void
bail(const char *fmt, ...)
{
	va_list	ap;

	printf("Bail out! ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	exit(255);
}

/* The process exit status: 0 when all passed and the plan held. */
int
exit_status(void)
{
	if (tap_failed > 0)
		return (tap_failed > 254 ? 254 : tap_failed);
	if (tap_planned != -1 && tap_planned != tap_run)
		return (255);
	return (0);
}
