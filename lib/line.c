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

/* Find the next line in a flat buffer; see line.h. */
int
line_next(char *buf, size_t len, size_t max, size_t *linelen, size_t *used,
    const char **cause)
{
	char	*nl;

	nl = memchr(buf, '\n', len < max + 1 ? len : max + 1);
	if (nl == NULL) {
		if (len > max) {
			*cause = "line too long";
			return (-1);
		}
		return (0);
	}
	if (memchr(buf, '\0', nl - buf) != NULL) {
		*cause = "NUL byte in line";
		return (-1);
	}
	*nl = '\0';
	*linelen = nl - buf;
	*used = *linelen + 1;
	return (1);
}
