/*
 * line: take one '\n'-terminated line out of an evbuffer, bounded.
 */
#ifndef LINE_H
#define LINE_H

#include <stddef.h>

struct evbuffer;

/*
 * Copy the next line (without its '\n') into buf (size > max) and drain
 * it.  Returns 1 with *len set, 0 when no complete line is buffered yet
 * (and fewer than max bytes are waiting), or -1 with *cause when the line
 * is longer than max bytes or holds a NUL byte (a protocol error: nothing
 * is drained).
 */
int	line_get(struct evbuffer *, char *, size_t, size_t *, const char **);
/*
 * The same on a flat buffer of len bytes: returns 1 with the line at buf
 * (*linelen bytes, its '\n' replaced by a NUL) and *used bytes consumed,
 * 0 when more bytes are needed, -1 with *cause as line_get.
 */
int	line_next(char *, size_t, size_t, size_t *, size_t *, const char **);

#endif
