/*
 * agiproto: pure FastAGI parsing and formatting, no I/O.
 *
 * The environment block (asterisk.md §1.2), replies (§1.5), command
 * quoting for Asterisk's tokenizer (§1.4), the command line limit by
 * release (§1.8), the script path and its query (§1.3).
 */
#ifndef AGIPROTO_H
#define AGIPROTO_H

#include <stddef.h>

#define AGI_ENV_LINE_MAX	8192	/* one env line, without '\n' */
#define AGI_ENV_BYTES_MAX	65536	/* the whole block */
#define AGI_ENV_LINES_MAX	160	/* 22 keys + 128 args + slack */
#define AGI_ARGS_MAX		127
#define AGI_LINE_MAX_NEW	8190	/* command chars, 20.16/21.11/22.6/23.0+ */
#define AGI_LINE_MAX_OLD	2046	/* command chars, every earlier release */
#define AGI_REPLY_LINE_MAX	8192	/* one reply line from Asterisk */

struct agi_env_var {
	const char	*key;
	const char	*value;
};

/*
 * Sized to what Asterisk sent: a session that waits holds only its own
 * block (about 0.6 KiB for the usual 22 keys), since thousands may wait.
 */
struct agi_env {
	char			*buf;		/* keys and values, NUL-separated */
	size_t			 used, size;
	struct agi_env_var	*vars;
	int			 nvars, capvars;
	const char		**args;		/* [1..nargs] */
	int			 nargs, capargs;
};

void		 agi_env_init(struct agi_env *);
void		 agi_env_clear(struct agi_env *);
/*
 * Add one line ("key: value", without '\n').  Returns 0; -1 with a
 * static *cause when the line is not an environment line at all
 * (malformed, bad key, too many lines or bytes: not Asterisk speaking);
 * -2 when it is one but the block is invalid (duplicate key, argument
 * out of order): the line is not stored, and the block must be rejected
 * once it ends.
 */
int		 agi_env_add(struct agi_env *, const char *, size_t,
		    const char **);
/*
 * Check the finished block (at least agi_request) and trim its storage;
 * 0 or -1 with *cause.
 */
int		 agi_env_finish(struct agi_env *, const char **);
/* Value of key, or NULL. */
const char	*agi_env_get(const struct agi_env *, const char *);
/* Argument n (1-based), or NULL. */
const char	*agi_env_arg(const struct agi_env *, int);

/*
 * Split agi_network_script into a route path (before '?', without
 * trailing '/') written to path (size bytes) and the raw query (after
 * '?', or "").  Returns 0, or -1 when the path is longer than size-1.
 */
int		 agi_script_split(const char *, char *, size_t, const char **);
/*
 * Find name in a query string ("a=1&b=%20x"), URL-decode its value into
 * buf.  Returns 1 found, 0 absent, -1 on a bad escape, a decoded NUL,
 * CR or LF, or a value longer than size-1.
 */
int		 agi_query_get(const char *, const char *, char *, size_t);

/* Command line limit (characters without '\n') for an agi_version. */
size_t		 agi_version_line_max(const char *);

struct agi_reply {
	int		 code;		/* 200, 510, 511, 520, ... */
	int		 has_result;
	long		 result;
	const char	*data;		/* inside "(...)", or NULL */
	size_t		 datalen;
	const char	*rest;		/* text after result and data */
};

/*
 * Parse a final reply line (the 520 closing line included).  Points into
 * line, which it modifies.  Returns 0, or -1 when the line is not a reply.
 */
int		 agi_reply_parse(char *, struct agi_reply *);

/*
 * Quote value for Asterisk's tokenizer: "..." with '"' and '\' escaped.
 * Returns the length written to dst (terminated), or -1 when the value
 * holds CR, LF or NUL (never sendable) or dst is too small.
 */
int		 agi_quote(char *, size_t, const char *);
/*
 * The data of MSet(name1=value1,name2=value2,...): Asterisk splits it on
 * ',' outside quotes, parentheses and brackets, dropping '"' and '\'
 * (which makes the next character literal), then each pair at its first
 * '=' (main/pbx_variables.c, main/app.c).  Every '\', '"', ',', '(', ')',
 * '[' and ']' in a value is escaped with '\'.  Returns the length, or -1
 * when a value holds '$' (AGIEXECFULL would expand it), CR, LF or NUL,
 * a name is not [A-Z0-9_]+ or FUNC(arg) (IAXVAR(node)), or dst is too
 * small.  The result still needs
 * agi_quote() to travel as one EXEC argument.
 */
int		 agi_mset_data(char *, size_t, int, const char *const *,
		    const char *const *);
/* 1 when a command may run on a dead channel (asterisk.md §1.6). */
int		 agi_cmd_dead_safe(const char *);

#endif
