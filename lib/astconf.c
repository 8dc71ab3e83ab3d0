/* astconf: the only code that renders Asterisk configuration text. */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "lib/astconf.h"
#include "lib/xmalloc.h"

static void	astconf_fail(struct astconf *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));
static void	astconf_add(struct astconf *, const char *, size_t);
static int	astconf_key_ok(const char *);

/* Start an empty text of at most max bytes. */
void
astconf_init(struct astconf *ac, size_t max)
{
	memset(ac, 0, sizeof *ac);
	ac->max = max;
}

/* Free the text and any error. */
void
astconf_clear(struct astconf *ac)
{
	free(ac->buf);
	free(ac->cause);
	memset(ac, 0, sizeof *ac);
}

/* Record the first failure. */
static void
astconf_fail(struct astconf *ac, const char *fmt, ...)
{
	va_list	ap;

	if (ac->cause != NULL)
		return;
	va_start(ap, fmt);
	xvasprintf(&ac->cause, fmt, ap);
	va_end(ap);
}

/* Append bytes, within the cap. */
static void
astconf_add(struct astconf *ac, const char *s, size_t n)
{
	size_t	nsize;

	if (ac->cause != NULL)
		return;
	if (ac->len + n > ac->max) {
		astconf_fail(ac, "configuration larger than %zu bytes",
		    ac->max);
		return;
	}
	if (ac->len + n + 1 > ac->size) {
		nsize = ac->size == 0 ? 4096 : ac->size;
		while (nsize < ac->len + n + 1)
			nsize *= 2;
		ac->buf = xrealloc(ac->buf, nsize);
		ac->size = nsize;
	}
	memcpy(ac->buf + ac->len, s, n);
	ac->len += n;
	ac->buf[ac->len] = '\0';
}

/* 1 for a valid section or key-file name. */
int
astconf_name_ok(const char *name)
{
	size_t	n = strlen(name), i;

	if (n == 0 || n > ASTCONF_NAME_MAX)
		return (0);
	for (i = 0; i < n; i++) {
		char c = name[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
			return (0);
	}
	return (1);
}

/* 1 for a valid option name. */
static int
astconf_key_ok(const char *key)
{
	size_t	n = strlen(key), i;

	if (n == 0 || n > 32)
		return (0);
	for (i = 0; i < n; i++) {
		char c = key[i];
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    c == '_'))
			return (0);
	}
	return (1);
}

/* 1 for a value that cannot change the structure of the file. */
int
astconf_value_ok(const char *v)
{
	const unsigned char	*p = (const unsigned char *)v;

	if (*p == '#' || *p == ' ')
		return (0);
	for (; *p != '\0'; p++) {
		if (*p < 0x20 || *p > 0x7e || *p == ';' || *p == '[')
			return (0);
	}
	return (1);
}

/* "; text". */
void
astconf_comment(struct astconf *ac, const char *text)
{
	const unsigned char	*p;

	for (p = (const unsigned char *)text; *p != '\0'; p++) {
		if (*p < 0x20 || *p > 0x7e) {
			astconf_fail(ac, "comment not renderable");
			return;
		}
	}
	astconf_add(ac, "; ", 2);
	astconf_add(ac, text, strlen(text));
	astconf_add(ac, "\n", 1);
}

/* "[name]" or "[name](suffix)". */
void
astconf_section(struct astconf *ac, const char *name, const char *suffix)
{
	if (!astconf_name_ok(name)) {
		astconf_fail(ac, "bad section name");
		return;
	}
	if (suffix != NULL && strcmp(suffix, "+") != 0 &&
	    strcmp(suffix, "!") != 0 && !astconf_name_ok(suffix)) {
		astconf_fail(ac, "bad section suffix for [%s]", name);
		return;
	}
	astconf_add(ac, "[", 1);
	astconf_add(ac, name, strlen(name));
	astconf_add(ac, "]", 1);
	if (suffix != NULL) {
		astconf_add(ac, "(", 1);
		astconf_add(ac, suffix, strlen(suffix));
		astconf_add(ac, ")", 1);
	}
	astconf_add(ac, "\n", 1);
}

/* "key=value" on one line. */
void
astconf_kv(struct astconf *ac, const char *key, const char *value)
{
	size_t	klen = strlen(key), vlen = strlen(value);

	if (!astconf_key_ok(key)) {
		astconf_fail(ac, "bad option name");
		return;
	}
	if (!astconf_value_ok(value)) {
		/* Never echo the value: it may be a secret. */
		astconf_fail(ac, "value of %s not renderable", key);
		return;
	}
	if (klen + 1 + vlen > ASTCONF_LINE_MAX) {
		astconf_fail(ac, "%s line longer than %d characters", key,
		    ASTCONF_LINE_MAX);
		return;
	}
	astconf_add(ac, key, klen);
	astconf_add(ac, "=", 1);
	astconf_add(ac, value, vlen);
	astconf_add(ac, "\n", 1);
}

/* An empty line. */
void
astconf_blank(struct astconf *ac)
{
	astconf_add(ac, "\n", 1);
}

/* Finish: 0, or -1 with the first failure. */
int
astconf_done(struct astconf *ac, char **cause)
{
	if (ac->cause != NULL) {
		*cause = ac->cause;
		ac->cause = NULL;
		return (-1);
	}
	if (ac->buf == NULL)
		astconf_add(ac, "", 0);
	return (0);
}
