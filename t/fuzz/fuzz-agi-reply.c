/*
 * fuzz-agi-reply: what Asterisk answers to a command, read the way
 * agi/session.c reads it (line_next() with the reply limit; HANGUP,
 * "100 " progress and "520-" usage lines; agi_reply_parse() on the final
 * line), and the quoting helpers that send values back (agi_quote,
 * agi_mset_data, agi_cmd_dead_safe) on the same untrusted text.
 */
#include <string.h>

#include "lib/agiproto.h"
#include "lib/line.h"
#include "lib/xmalloc.h"
#include "t/fuzz/fuzz.h"

static void	reply_check(char *, size_t);
static void	quote_check(const char *);
static int	ast_parse_args(const char *, char *, size_t);
static int	ast_mset_split(const char *, char *, size_t);

/*
 * Asterisk's AGI tokenizer (asterisk.md 1.4) as far as one token goes:
 * blanks separate, '"' toggles quoting, '\' makes the next character
 * literal.  Writes the first token to out; returns the token count.
 */
static int
ast_parse_args(const char *s, char *out, size_t size)
{
	size_t	o = 0;
	int	n = 0, quoted = 0, in = 0;

	for (; *s != '\0'; s++) {
		if (!quoted && (*s == ' ' || *s == '\t')) {
			in = 0;
			continue;
		}
		if (!in) {
			in = 1;
			n++;
		}
		if (*s == '"') {
			quoted = !quoted;
			continue;
		}
		if (*s == '\\' && s[1] != '\0')
			s++;
		if (n == 1 && o + 1 < size)
			out[o++] = *s;
	}
	out[o] = '\0';
	return (n);
}

/*
 * MSet's data as Asterisk splits it (agiproto.h): ',' outside quotes,
 * parentheses and brackets separates, '"' is dropped and '\\' makes the
 * next character literal.  Writes the second pair's value (after its
 * first '=') to out; returns the number of pairs.
 */
static int
ast_mset_split(const char *s, char *out, size_t size)
{
	size_t	o = 0;
	int	n = 1, depth = 0, quoted = 0, eq = 0, lit;

	for (; *s != '\0'; s++) {
		lit = 0;
		if (*s == '\\' && s[1] != '\0') {
			s++;
			lit = 1;
		} else if (*s == '"') {
			quoted = !quoted;
			continue;
		} else if (!quoted && (*s == '(' || *s == '['))
			depth++;
		else if (!quoted && (*s == ')' || *s == ']') && depth > 0)
			depth--;
		else if (!quoted && depth == 0 && *s == ',') {
			n++;
			eq = 0;
			continue;
		}
		if (n != 2)
			continue;
		if (!eq) {
			if (*s == '=' && !lit)
				eq = 1;
			continue;
		}
		if (o + 1 < size)
			out[o++] = *s;
	}
	out[o] = '\0';
	return (n);
}

/* Parse one final line and check the result stays inside it. */
static void
reply_check(char *line, size_t len)
{
	struct agi_reply	 r;
	char			*end = line + len;

	if (agi_reply_parse(line, &r) == -1)
		return;
	FUZZ_CHECK(r.code >= 0 && r.code <= 999);
	FUZZ_CHECK(r.rest != NULL && r.rest >= line && r.rest <= end);
	if (r.data != NULL)
		FUZZ_CHECK(r.has_result && r.data > line &&
		    r.data + r.datalen <= end);
}

/*
 * Quote the line as a value: it is refused, or Asterisk reads it back as
 * one token equal to the line (as an MSet value: the same value).
 */
static void
quote_check(const char *line)
{
	static const char *const names[] = { "IAXKEY_STATUS", "IAXKEY_REASON" };
	const char	*values[2];
	char		 q[AGI_LINE_MAX_NEW + 1], data[AGI_LINE_MAX_NEW + 1];
	char		 back[AGI_LINE_MAX_NEW + 1];
	int		 n;

	n = agi_quote(q, sizeof q, line);
	if (n != -1) {
		FUZZ_CHECK(n >= 2 && (size_t)n == strlen(q));
		FUZZ_CHECK(q[0] == '"' && q[n - 1] == '"');
		FUZZ_CHECK(ast_parse_args(q, back, sizeof back) == 1);
		FUZZ_CHECK(strcmp(back, line) == 0);
	}
	values[0] = "OK";
	values[1] = line;
	n = agi_mset_data(data, sizeof data, 2, names, values);
	if (n != -1) {
		FUZZ_CHECK((size_t)n == strlen(data));
		FUZZ_CHECK(strchr(data, '$') == NULL &&
		    strpbrk(data, "\r\n") == NULL);
		FUZZ_CHECK(ast_mset_split(data, back, sizeof back) == 2);
		FUZZ_CHECK(strcmp(back, line) == 0);
		if (agi_quote(q, sizeof q, data) != -1) {
			FUZZ_CHECK(ast_parse_args(q, back, sizeof back) == 1);
			FUZZ_CHECK(strcmp(back, data) == 0);
		}
	}
	agi_cmd_dead_safe(line);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char	*cause;
	char		*buf, *line;
	size_t		 off = 0, len, used;
	int		 usage = 0;

	buf = xmalloc(size + 1);
	memcpy(buf, data, size);
	while (line_next(buf + off, size - off, AGI_REPLY_LINE_MAX, &len,
	    &used, &cause) == 1) {
		line = buf + off;
		off += used;
		FUZZ_CHECK(strlen(line) == len);
		quote_check(line);
		if (strcmp(line, "HANGUP") == 0)
			continue;
		if (usage) {
			if (strncmp(line, "520 ", 4) == 0) {
				usage = 0;
				reply_check(line, len);
			}
			continue;
		}
		if (strncmp(line, "100 ", 4) == 0)
			continue;
		if (strncmp(line, "520-", 4) == 0) {
			usage = 1;
			continue;
		}
		reply_check(line, len);
	}
	free(buf);
	return (0);
}
