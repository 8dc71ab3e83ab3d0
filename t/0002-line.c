/* Unit tests for lib/line.c: bounded line extraction from an evbuffer. */
#include <string.h>

#include <event2/buffer.h>

#include "lib/line.h"
#include "t/lib/tap.h"

int
main(void)
{
	struct evbuffer	*b = evbuffer_new();
	char		 buf[16];
	const char	*cause = NULL;
	size_t		 len;

	plan_no_plan();
	is_int(line_get(b, buf, 10, &len, &cause), 0, "empty buffer");
	evbuffer_add(b, "abc", 3);
	is_int(line_get(b, buf, 10, &len, &cause), 0, "partial line waits");
	evbuffer_add(b, "\ndef\n\n", 6);
	is_int(line_get(b, buf, 10, &len, &cause), 1, "line 1");
	is_str(buf, "abc", "line 1 text");
	is_int(len, 3, "line 1 length");
	is_int(line_get(b, buf, 10, &len, &cause), 1, "line 2");
	is_str(buf, "def", "line 2 text");
	is_int(line_get(b, buf, 10, &len, &cause), 1, "empty line");
	is_int(len, 0, "empty line length");
	is_int(evbuffer_get_length(b), 0, "all drained");

	evbuffer_add(b, "0123456789\n", 11);
	is_int(line_get(b, buf, 10, &len, &cause), 1, "exactly max");
	evbuffer_add(b, "0123456789A\n", 12);
	is_int(line_get(b, buf, 10, &len, &cause), -1, "max + 1");
	is_str(cause, "line too long", "cause");
	is_int(evbuffer_get_length(b), 12, "nothing drained on error");
	evbuffer_drain(b, 12);
	evbuffer_add(b, "0123456789A", 11);
	is_int(line_get(b, buf, 10, &len, &cause), -1,
	    "too long before any newline");
	evbuffer_drain(b, 11);
	evbuffer_add(b, "a\0b\n", 4);
	is_int(line_get(b, buf, 10, &len, &cause), -1, "NUL byte");
	is_str(cause, "NUL byte in line", "NUL cause");
	evbuffer_drain(b, 4);
	evbuffer_add(b, "x\r\n", 3);
	is_int(line_get(b, buf, 10, &len, &cause), 1, "CR kept");
	is_mem(buf, len, "x\r", 2, "CR is part of the line");
	evbuffer_free(b);
	return (exit_status());
}
