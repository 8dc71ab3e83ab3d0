/*
 * console: the admin console's input side, no I/O.
 *
 * Line assembly from raw telnet bytes (RFC 854): IAC commands, option
 * negotiation and subnegotiation are consumed before a byte counts as
 * text; IAC IAC (a literal 0xff) is dropped too; LF, CRLF or CR ends a
 * line; the NUL of telnet's CR NUL is dropped.  Then the split into words: blanks
 * separate, "double quotes" group.
 */
#ifndef CONSOLE_H
#define CONSOLE_H

#include <stddef.h>

#define CONSOLE_LINE_MAX	4096	/* a command line, no EOL */

enum console_rc {
	CONSOLE_MORE,		/* every byte consumed, no line yet */
	CONSOLE_LINE,		/* a complete line in line[] */
	CONSOLE_TOOLONG		/* the line exceeds CONSOLE_LINE_MAX */
};

struct console_in {
	int	tn;			/* telnet parser state */
	int	cr;			/* last text byte was CR */
	size_t	len;
	char	line[CONSOLE_LINE_MAX + 1];
};

void	console_in_init(struct console_in *);
/*
 * Consume bytes from buf (n bytes) up to the end of the first line;
 * *used says how many were consumed.  CONSOLE_LINE leaves the line,
 * NUL-terminated, in ci->line until the next call.
 */
enum console_rc console_feed(struct console_in *, const unsigned char *,
	    size_t, size_t *);
/*
 * At EOF: 1 when an unterminated last line is pending (now in ci->line,
 * NUL-terminated), else 0.
 */
int	console_flush(struct console_in *);
/*
 * Split line in place into at most max words: blanks separate, a word
 * that starts with '"' runs to the next unescaped '"' (\" and \\ are
 * escapes there) and must be followed by a blank or the end.  Returns the
 * count, or -1 with *cause (static).
 */
int	console_split(char *, char **, int, const char **);
/* 1 when a line looks like an HTTP request or header, not a command. */
int	console_is_http(const char *);

#endif
