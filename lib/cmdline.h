/*
 * cmdline: the admin console's input side, no I/O.
 *
 * Line assembly from raw telnet bytes (RFC 854): IAC commands, option
 * negotiation and subnegotiation are consumed before a byte counts as
 * text; IAC IAC (a literal 0xff) is dropped too; LF, CRLF or CR ends a
 * line; the NUL of telnet's CR NUL is dropped.  Then the split into words: blanks
 * separate, "double quotes" group.
 */
#ifndef CMDLINE_H
#define CMDLINE_H

#include <stddef.h>

#define CMDLINE_MAX	4096	/* a command line, no EOL */

enum cmdline_rc {
	CMDLINE_MORE,		/* every byte consumed, no line yet */
	CMDLINE_LINE,		/* a complete line in line[] */
	CMDLINE_TOOLONG		/* the line exceeds CMDLINE_MAX */
};

struct cmdline {
	int	tn;			/* telnet parser state */
	int	cr;			/* last text byte was CR */
	size_t	len;
	char	line[CMDLINE_MAX + 1];
};

void	cmdline_init(struct cmdline *);
/*
 * Consume bytes from buf (n bytes) up to the end of the first line;
 * *used says how many were consumed.  CMDLINE_LINE leaves the line,
 * NUL-terminated, in ci->line until the next call.
 */
enum cmdline_rc cmdline_feed(struct cmdline *, const unsigned char *,
	    size_t, size_t *);
/*
 * At EOF: 1 when an unterminated last line is pending (now in ci->line,
 * NUL-terminated), else 0.
 */
int	cmdline_flush(struct cmdline *);
/*
 * Split line in place into at most max words: blanks separate, a word
 * that starts with '"' runs to the next unescaped '"' (\" and \\ are
 * escapes there) and must be followed by a blank or the end.  Returns the
 * count, or -1 with *cause (static).
 */
int	cmdline_split(char *, char **, int, const char **);
/* 1 when a line looks like an HTTP request or header, not a command. */
int	cmdline_is_http(const char *);

#endif
