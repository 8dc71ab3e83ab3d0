/*
 * fuzz-admin-line: bytes from a telnet client to the admin console, cut
 * into lines the way agi/admin.c does (console_feed: telnet IAC
 * commands, option negotiation and subnegotiation, CR, LF, CRLF, CR NUL,
 * the 4 KiB cap), each line checked for an HTTP client and split into
 * words (console_split, 16 words at most).
 */
#include <string.h>

#include "lib/console.h"
#include "t/fuzz/fuzz.h"

#define FUZZ_ARGS_MAX	16	/* ADMIN_ARGS_MAX */

static void	line_use(char *);

/* What admin_line() does with a line before it looks up a command. */
static void
line_use(char *line)
{
	char		*argv[FUZZ_ARGS_MAX], *end;
	const char	*cause = NULL;
	size_t		 len = strlen(line);
	int		 argc, i;

	FUZZ_CHECK(len <= CONSOLE_LINE_MAX);
	FUZZ_CHECK(strpbrk(line, "\r\n\377") == NULL);
	if (console_is_http(line))
		return;
	end = line + len;
	argc = console_split(line, argv, FUZZ_ARGS_MAX, &cause);
	if (argc == -1) {
		FUZZ_CHECK(cause != NULL);
		return;
	}
	FUZZ_CHECK(argc >= 0 && argc <= FUZZ_ARGS_MAX);
	for (i = 0; i < argc; i++) {
		FUZZ_CHECK(argv[i] >= line && argv[i] <= end);
		FUZZ_CHECK(argv[i] + strlen(argv[i]) <= end);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct console_in	 ci;
	size_t				 off = 0, used;
	enum console_rc			 rc;

	console_in_init(&ci);
	while (off < size) {
		rc = console_feed(&ci, data + off, size - off, &used);
		FUZZ_CHECK(used >= 1 && used <= size - off);
		off += used;
		if (rc == CONSOLE_TOOLONG)
			return (0);	/* the console replies and closes */
		if (rc == CONSOLE_LINE)
			line_use(ci.line);
		else
			FUZZ_CHECK(off == size);
	}
	if (console_flush(&ci))
		line_use(ci.line);
	return (0);
}
