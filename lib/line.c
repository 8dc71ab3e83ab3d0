/* line: take one '\n'-terminated line out of an evbuffer, bounded. */
#include <string.h>

#include <event2/buffer.h>

#include "lib/line.h"

/* Copy and drain the next line; see line.h for the contract. */
int
line_get(struct evbuffer *in, char *buf, size_t max, size_t *len,
    const char **cause)
{
	struct evbuffer_ptr	 p;
	size_t			 avail, n;

	avail = evbuffer_get_length(in);
	if (avail == 0)
		return (0);
	p = evbuffer_search_eol(in, NULL, NULL, EVBUFFER_EOL_LF);
	if (p.pos == -1) {
		if (avail > max) {
			*cause = "line too long";
			return (-1);
		}
		return (0);
	}
	n = (size_t)p.pos;
	if (n > max) {
		*cause = "line too long";
		return (-1);
	}
	evbuffer_copyout(in, buf, n);
	if (memchr(buf, '\0', n) != NULL) {
		*cause = "NUL byte in line";
		return (-1);
	}
	buf[n] = '\0';
	evbuffer_drain(in, n + 1);
	*len = n;
	return (1);
}
