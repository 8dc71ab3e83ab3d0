/*
 * astconf: the only code that renders Asterisk configuration text.
 *
 * Everything is validated before it is appended, never escaped: section
 * names are [A-Za-z0-9._-]{1,79} (res_crypto and chan_iax2 keep 80-byte
 * names), keys are [a-z0-9_]{1,32}, values are printable ASCII without
 * ';' (comment), '[' (section), CR or LF, and do not start with '#'
 * (#include, #exec) or a space.  A line never exceeds ASTCONF_LINE_MAX
 * characters, since Asterisk silently skips longer ones (asterisk.md §4).
 * The first failure sticks: render everything, then check astconf_done().
 */
#ifndef ASTCONF_H
#define ASTCONF_H

#include <stddef.h>

#define ASTCONF_NAME_MAX	79
#define ASTCONF_LINE_MAX	8190

struct astconf {
	char	*buf;
	size_t	 len, size, max;
	char	*cause;		/* first error, or NULL */
};

void	 astconf_init(struct astconf *, size_t);
void	 astconf_clear(struct astconf *);
/* "; text" (printable ASCII). */
void	 astconf_comment(struct astconf *, const char *);
/* "[name]" or "[name](suffix)" with suffix "+", "!" or a name. */
void	 astconf_section(struct astconf *, const char *, const char *);
/* "key=value". */
void	 astconf_kv(struct astconf *, const char *, const char *);
/* An empty line. */
void	 astconf_blank(struct astconf *);
/* 0 with the text in buf/len, or -1 with *cause (caller frees). */
int	 astconf_done(struct astconf *, char **);

int	 astconf_name_ok(const char *);
int	 astconf_value_ok(const char *);

#endif
