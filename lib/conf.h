/*
 * conf: ini configuration through one spec table.
 *
 * A spec table names every key ("section:key"), its type, range, default
 * and flags.  conf_load() reads a file with iniparser, rejects unknown
 * sections and keys, validates every value against the table and fills
 * in defaults; the result is immutable.  The same table produces the
 * documented sample file (conf_sample) and the values shown to operators
 * (conf_show, which hides CONF_SECRET values).
 *
 * Values are stored in canonical form: integers in decimal, booleans as
 * "yes"/"no", enums as the choice string, addresses as "a.b.c.d:port" or
 * "[v6]:port".  conf_str() returns that form for every type.
 */
#ifndef CONF_H
#define CONF_H

#include <sys/socket.h>
#include <stdio.h>

enum conf_type {
	CONF_STR,	/* any single-line string */
	CONF_INT,	/* integer within [min, max] */
	CONF_BOOL,	/* yes/no, true/false, on/off, 1/0 */
	CONF_ADDR,	/* a.b.c.d:port, [v6]:port; port may be 0 */
	CONF_ENUM,	/* one of choices[] */
	CONF_PATH,	/* file system path (may be empty when allowed) */
	CONF_URL,	/* http:// or https:// URL (may be empty) */
	CONF_NAME,	/* [A-Za-z0-9._-], first alnum, at most max (0: 79) */
	CONF_URLS,	/* 1..CONF_URLS_MAX CONF_URL values, space-separated;
			   stored separated by one space */
	CONF_TYPE_MAX
};

#define CONF_SECRET	0x01	/* never printed: logs, conf_show, errors */
#define CONF_EMPTY	0x02	/* an empty value is allowed */

#define CONF_FILE_MAX	(256 * 1024)	/* larger files are refused */
#define CONF_NAME_MAX	79		/* res_crypto's key name limit */
#define CONF_URLS_MAX	8		/* URLs in a CONF_URLS value */

struct conf_spec {
	const char		 *key;		/* "section:key", lower case */
	enum conf_type		  type;
	long long		  min, max;	/* CONF_INT; CONF_NAME: max */
	const char		 *def;		/* default, as in a file */
	int			  flags;
	const char *const	 *choices;	/* CONF_ENUM, NULL-terminated */
	const char		 *help;		/* one line for conf_sample */
	/*
	 * Optional extra check of a non-empty value that passed the type
	 * check: 0, or -1 with *cause (the reason only; it must not repeat
	 * the value of a CONF_SECRET key).
	 */
	int			(*check)(const char *, char **);
};

struct conf;

/*
 * Load and validate path.  NULL with *cause (caller frees) in one of the
 * forms "<file>: <section:key>: <reason>", "<file>: [section]: unknown
 * section", "<file>: line N: <reason>" or "<file>: <reason>".
 */
struct conf	*conf_load(const char *, const struct conf_spec *, char **);
/* Defaults only (no file); an invalid default is fatal. */
struct conf	*conf_defaults(const struct conf_spec *);
void		 conf_free(struct conf *);
/* The file loaded, or NULL for conf_defaults(). */
const char	*conf_file(const struct conf *);

/* Lookups; an unknown key or a wrong type is a programming error (fatalx). */
const char	*conf_str(const struct conf *, const char *);
long long	 conf_int(const struct conf *, const char *);
int		 conf_bool(const struct conf *, const char *);
/* Index of the value in choices[]. */
int		 conf_enum(const struct conf *, const char *);
/* Parsed CONF_ADDR value; -1 when it is empty (CONF_EMPTY: disabled). */
int		 conf_addr(const struct conf *, const char *,
		    struct sockaddr_storage *, socklen_t *);
/* 1 when the value differs between the two configurations. */
int		 conf_changed(const struct conf *, const struct conf *,
		    const char *);

/*
 * Parse "a.b.c.d:port" / "[v6]:port" (numeric hosts only, port 0-65535);
 * 0, or -1 with *cause (the reason, caller frees) when cause is not NULL.
 * ss and sslen may be NULL to validate only.
 */
int		 conf_parse_addr(const char *, struct sockaddr_storage *,
		    socklen_t *, char **);
/*
 * Entry i (from 0) of a list stored separated by single spaces (a
 * CONF_URLS value): 0 with *p and *len, or -1 when there is no such entry.
 */
int		 conf_list_at(const char *, int, const char **, size_t *);
/* Write the documented sample file for spec to f. */
void		 conf_sample(const struct conf_spec *, FILE *);
/* Write "section:key = value" lines, secrets as "(set)"/"(unset)". */
void		 conf_show(const struct conf *, FILE *);

#endif
