/* cmdline: the admin console's input side (line assembly, words). */
#include <string.h>
#include <strings.h>

#include "lib/cmdline.h"

/* Telnet (RFC 854). */
#define TN_IAC		255
#define TN_DONT		254
#define TN_WILL		251
#define TN_SB		250
#define TN_SE		240

enum cmdline_tn { TN_DATA, TN_CMD, TN_OPT, TN_SUB, TN_SUB_IAC };

/* Start with an empty line and the telnet parser in data mode. */
void
cmdline_init(struct cmdline *ci)
{
	ci->tn = TN_DATA;
	ci->cr = 0;
	ci->len = 0;
	ci->line[0] = '\0';
}

/* Consume bytes up to the end of a line; see cmdline.h. */
enum cmdline_rc
cmdline_feed(struct cmdline *ci, const unsigned char *buf, size_t n,
    size_t *used)
{
	size_t		i;
	unsigned char	ch;

	for (i = 0; i < n; i++) {
		ch = buf[i];
		switch (ci->tn) {
		case TN_DATA:
			break;
		case TN_CMD:
			if (ch == TN_IAC) {
				ci->tn = TN_DATA;
				continue;	/* literal 0xff: dropped */
			}
			if (ch >= TN_WILL && ch <= TN_DONT)
				ci->tn = TN_OPT;
			else if (ch == TN_SB)
				ci->tn = TN_SUB;
			else
				ci->tn = TN_DATA;
			continue;
		case TN_OPT:
			ci->tn = TN_DATA;
			continue;
		case TN_SUB:
			if (ch == TN_IAC)
				ci->tn = TN_SUB_IAC;
			continue;
		case TN_SUB_IAC:
			ci->tn = ch == TN_SE ? TN_DATA : TN_SUB;
			continue;
		}
		if (ch == TN_IAC) {
			ci->tn = TN_CMD;
			continue;
		}
		if (ch == '\n' && ci->cr) {	/* CRLF */
			ci->cr = 0;
			continue;
		}
		ci->cr = ch == '\r';
		if (ch == '\0')
			continue;		/* telnet's CR NUL */
		if (ch == '\r' || ch == '\n') {
			ci->line[ci->len] = '\0';
			ci->len = 0;
			*used = i + 1;
			return (CMDLINE_LINE);
		}
		if (ci->len == CMDLINE_MAX) {
			*used = i + 1;
			return (CMDLINE_TOOLONG);
		}
		ci->line[ci->len++] = ch;
	}
	*used = n;
	return (CMDLINE_MORE);
}

/* The unterminated last line at EOF; see cmdline.h. */
int
cmdline_flush(struct cmdline *ci)
{
	if (ci->len == 0)
		return (0);
	ci->line[ci->len] = '\0';
	ci->len = 0;
	return (1);
}

/* Split a line into words in place; see cmdline.h. */
int
cmdline_split(char *line, char **argv, int max, const char **cause)
{
	char	*r = line, *w;
	int	 argc = 0;

	for (;;) {
		while (*r == ' ' || *r == '\t')
			r++;
		if (*r == '\0')
			return (argc);
		if (argc == max) {
			*cause = "too many words";
			return (-1);
		}
		argv[argc++] = w = r;
		if (*r != '"') {
			while (*r != '\0' && *r != ' ' && *r != '\t')
				r++;
			if (*r != '\0')
				*r++ = '\0';
			continue;
		}
		for (r++;; r++) {
			if (*r == '\0') {
				*cause = "unbalanced quotes";
				return (-1);
			}
			if (*r == '\\' && (r[1] == '"' || r[1] == '\\')) {
				*w++ = *++r;
				continue;
			}
			if (*r == '"')
				break;
			*w++ = *r;
		}
		r++;
		if (*r != '\0' && *r != ' ' && *r != '\t') {
			*cause = "closing quote must be followed by a space";
			return (-1);
		}
		*w = '\0';
		if (*r != '\0')
			r++;
	}
}

/* An HTTP client talking to the console (redis refuses these too). */
int
cmdline_is_http(const char *line)
{
	static const char *const http[] = {
		"GET ", "POST ", "HEAD ", "PUT ", "Host:"
	};
	size_t	i;

	for (i = 0; i < sizeof http / sizeof http[0]; i++) {
		if (strncasecmp(line, http[i], strlen(http[i])) == 0)
			return (1);
	}
	return (0);
}
