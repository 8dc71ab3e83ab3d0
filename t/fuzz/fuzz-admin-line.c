/*
 * fuzz-admin-line: bytes from a telnet client to the admin console, cut
 * into lines the way agi/console.c does (cmdline_feed: telnet IAC
 * commands, option negotiation and subnegotiation, CR, LF, CRLF, CR NUL,
 * the 4 KiB cap), each line checked for an HTTP client and split into
 * words (cmdline_split, 16 words at most).
 */
#include <string.h>

#include "lib/cmdline.h"
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

	FUZZ_CHECK(len <= CMDLINE_MAX);
	FUZZ_CHECK(strpbrk(line, "\r\n\377") == NULL);
	if (cmdline_is_http(line))
		return;
	end = line + len;
	argc = cmdline_split(line, argv, FUZZ_ARGS_MAX, &cause);
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
	static struct cmdline	 ci;
	size_t				 off = 0, used;
	enum cmdline_rc			 rc;

	cmdline_init(&ci);
	while (off < size) {
		rc = cmdline_feed(&ci, data + off, size - off, &used);
		FUZZ_CHECK(used >= 1 && used <= size - off);
		off += used;
		if (rc == CMDLINE_TOOLONG)
			return (0);	/* the console replies and closes */
		if (rc == CMDLINE_LINE)
			line_use(ci.line);
		else
			FUZZ_CHECK(off == size);
	}
	if (cmdline_flush(&ci))
		line_use(ci.line);
	return (0);
}
