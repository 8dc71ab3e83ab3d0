/* agiproto: pure FastAGI parsing and formatting, no I/O. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lib/agiproto.h"
#include "lib/xmalloc.h"

static int	agi_env_key_ok(const char *, size_t);
static void	agi_env_resize(struct agi_env *, size_t);
static int	agi_hexval(int);
static int	agi_mset_name_ok(const char *);

/* Start an empty environment. */
void
agi_env_init(struct agi_env *env)
{
	memset(env, 0, sizeof *env);
}

/* Free the environment's storage and reset it. */
void
agi_env_clear(struct agi_env *env)
{
	free(env->buf);
	free(env->vars);
	free(env->args);
	agi_env_init(env);
}

/* Move the text to a buffer of nsize bytes and rebase every pointer. */
static void
agi_env_resize(struct agi_env *env, size_t nsize)
{
	char	*old = env->buf;
	int	 i;

	env->buf = xrealloc(env->buf, nsize);
	env->size = nsize;
	if (old == NULL || old == env->buf)
		return;
	for (i = 0; i < env->nvars; i++) {
		env->vars[i].key = env->buf + (env->vars[i].key - old);
		env->vars[i].value = env->buf + (env->vars[i].value - old);
	}
	for (i = 1; i <= env->nargs; i++)
		env->args[i] = env->buf + (env->args[i] - old);
}

/* 1 when key is "agi_" followed by [a-z0-9_]. */
static int
agi_env_key_ok(const char *key, size_t n)
{
	size_t	i;

	if (n <= 4 || n > 64 || strncmp(key, "agi_", 4) != 0)
		return (0);
	for (i = 4; i < n; i++) {
		if (!islower((unsigned char)key[i]) &&
		    !isdigit((unsigned char)key[i]) && key[i] != '_')
			return (0);
	}
	return (1);
}

/* Add one "key: value" line; see agiproto.h. */
int
agi_env_add(struct agi_env *env, const char *line, size_t len,
    const char **cause)
{
	const char	*sep;
	size_t		 klen, vlen, need;
	char		*key, *value;
	int		 i;
	long long	 argn;
	const char	*errstr;
	char		 num[8];

	if (env->nvars == AGI_ENV_LINES_MAX) {
		*cause = "environment has too many lines";
		return (-1);
	}
	if ((sep = memchr(line, ':', len)) == NULL || sep + 1 == line + len ||
	    sep[1] != ' ') {
		*cause = "malformed environment line";
		return (-1);
	}
	klen = sep - line;
	vlen = len - klen - 2;
	if (!agi_env_key_ok(line, klen)) {
		*cause = "bad environment key";
		return (-1);
	}
	need = klen + 1 + vlen + 1;
	if (env->used + need > AGI_ENV_BYTES_MAX) {
		*cause = "environment too large";
		return (-1);
	}
	/* Keys are short: compare before storing. */
	for (i = 0; i < env->nvars; i++) {
		if (strlen(env->vars[i].key) == klen &&
		    memcmp(env->vars[i].key, line, klen) == 0) {
			*cause = "duplicate environment key";
			return (-2);
		}
	}
	if (env->used + need > env->size) {
		size_t nsize = env->size == 0 ? 1024 : env->size;

		while (env->used + need > nsize)
			nsize *= 2;
		agi_env_resize(env, nsize);
	}
	if (env->nvars == env->capvars) {
		env->capvars = env->capvars == 0 ? 32 : env->capvars * 2;
		if (env->capvars > AGI_ENV_LINES_MAX)
			env->capvars = AGI_ENV_LINES_MAX;
		env->vars = xreallocarray(env->vars, env->capvars,
		    sizeof *env->vars);
	}
	key = env->buf + env->used;
	memcpy(key, line, klen);
	key[klen] = '\0';
	value = key + klen + 1;
	memcpy(value, sep + 2, vlen);
	value[vlen] = '\0';

	if (klen > 8 && strncmp(key, "agi_arg_", 8) == 0) {
		if (klen - 8 >= sizeof num) {
			*cause = "bad argument number";
			return (-2);
		}
		memcpy(num, key + 8, klen - 8);
		num[klen - 8] = '\0';
		if (strtonum_(num, 1, AGI_ARGS_MAX, &argn, &errstr) == -1 ||
		    num[0] == '0') {
			*cause = "bad argument number";
			return (-2);
		}
		if (argn != env->nargs + 1) {
			*cause = "argument out of order";
			return (-2);
		}
		if (env->nargs + 1 >= env->capargs) {
			env->capargs = env->capargs == 0 ? 8 :
			    env->capargs * 2;
			env->args = xreallocarray(env->args, env->capargs,
			    sizeof *env->args);
		}
		env->args[++env->nargs] = value;
	}
	env->vars[env->nvars].key = key;
	env->vars[env->nvars].value = value;
	env->nvars++;
	env->used += need;
	return (0);
}

/* Check the finished block. */
int
agi_env_finish(struct agi_env *env, const char **cause)
{
	if (env->nvars == 0) {
		*cause = "empty environment";
		return (-1);
	}
	if (agi_env_get(env, "agi_request") == NULL) {
		*cause = "environment without agi_request";
		return (-1);
	}
	if (env->used < env->size)
		agi_env_resize(env, env->used);
	if (env->nvars < env->capvars) {
		env->vars = xreallocarray(env->vars, env->nvars,
		    sizeof *env->vars);
		env->capvars = env->nvars;
	}
	return (0);
}

/* Value of key, or NULL. */
const char *
agi_env_get(const struct agi_env *env, const char *key)
{
	int	i;

	for (i = 0; i < env->nvars; i++) {
		if (strcmp(env->vars[i].key, key) == 0)
			return (env->vars[i].value);
	}
	return (NULL);
}

/* Argument n (1-based), or NULL. */
const char *
agi_env_arg(const struct agi_env *env, int n)
{
	if (n < 1 || n > env->nargs)
		return (NULL);
	return (env->args[n]);
}

/* Split the script into route path and raw query. */
int
agi_script_split(const char *script, char *path, size_t size,
    const char **query)
{
	const char	*q;
	size_t		 n;

	if ((q = strchr(script, '?')) == NULL) {
		n = strlen(script);
		*query = "";
	} else {
		n = q - script;
		*query = q + 1;
	}
	while (n > 0 && script[n - 1] == '/')
		n--;
	if (n >= size)
		return (-1);
	memcpy(path, script, n);
	path[n] = '\0';
	return (0);
}

/* Value of one hex digit, or -1. */
static int
agi_hexval(int c)
{
	if (c >= '0' && c <= '9')
		return (c - '0');
	if (c >= 'a' && c <= 'f')
		return (c - 'a' + 10);
	if (c >= 'A' && c <= 'F')
		return (c - 'A' + 10);
	return (-1);
}

/* Find and URL-decode one query parameter. */
int
agi_query_get(const char *query, const char *name, char *buf, size_t size)
{
	const char	*p = query, *end, *eq;
	size_t		 nlen = strlen(name), o;
	int		 hi, lo, c;

	while (*p != '\0') {
		end = strchr(p, '&');
		if (end == NULL)
			end = p + strlen(p);
		eq = memchr(p, '=', end - p);
		if ((eq != NULL && (size_t)(eq - p) == nlen &&
		    memcmp(p, name, nlen) == 0) ||
		    (eq == NULL && (size_t)(end - p) == nlen &&
		    memcmp(p, name, nlen) == 0)) {
			o = 0;
			for (p = eq == NULL ? end : eq + 1; p < end; p++) {
				c = (unsigned char)*p;
				if (c == '+')
					c = ' ';
				else if (c == '%') {
					if (end - p < 3 ||
					    (hi = agi_hexval(p[1])) == -1 ||
					    (lo = agi_hexval(p[2])) == -1)
						return (-1);
					c = hi << 4 | lo;
					p += 2;
				}
				if (c == '\0' || c == '\r' || c == '\n' ||
				    o + 1 >= size)
					return (-1);
				buf[o++] = c;
			}
			buf[o] = '\0';
			return (1);
		}
		p = *end == '\0' ? end : end + 1;
	}
	return (0);
}

/* Command characters Asterisk reads for this release (§1.8, §5). */
size_t
agi_version_line_max(const char *version)
{
	static const struct { long major, minor; } first[] = {
		{ 20, 16 }, { 21, 11 }, { 22, 6 }, { 23, 0 }
	};
	const char	*p = version;
	char		*end;
	long		 major, minor;
	size_t		 i;

	if (version == NULL || !isdigit((unsigned char)*p))
		return (AGI_LINE_MAX_OLD);
	major = strtol(p, &end, 10);
	if (*end != '.' || !isdigit((unsigned char)end[1]))
		return (AGI_LINE_MAX_OLD);
	minor = strtol(end + 1, &end, 10);
	if (*end != '.' && *end != '\0' && *end != '-')
		return (AGI_LINE_MAX_OLD);
	if (major > 23 && major < 1000)
		return (AGI_LINE_MAX_NEW);
	for (i = 0; i < sizeof first / sizeof first[0]; i++) {
		if (major == first[i].major)
			return (minor >= first[i].minor ? AGI_LINE_MAX_NEW :
			    AGI_LINE_MAX_OLD);
	}
	return (AGI_LINE_MAX_OLD);
}

/* Parse a final reply line; see agiproto.h. */
int
agi_reply_parse(char *line, struct agi_reply *r)
{
	char	*p, *end, *open, *close;
	long	 v;

	memset(r, 0, sizeof *r);
	if (!isdigit((unsigned char)line[0]) ||
	    !isdigit((unsigned char)line[1]) ||
	    !isdigit((unsigned char)line[2]) ||
	    (line[3] != ' ' && line[3] != '\0'))
		return (-1);
	r->code = (line[0] - '0') * 100 + (line[1] - '0') * 10 +
	    (line[2] - '0');
	p = line[3] == '\0' ? line + 3 : line + 4;
	r->rest = p;
	if (strncmp(p, "result=", 7) != 0)
		return (0);
	p += 7;
	v = strtol(p, &end, 10);
	if (end == p || (*end != '\0' && *end != ' '))
		return (0);
	r->has_result = 1;
	r->result = v;
	p = end;
	while (*p == ' ')
		p++;
	r->rest = p;
	/* Data is not escaped: it runs to the last ')' of the line. */
	if (*p == '(' && (close = strrchr(p, ')')) != NULL) {
		open = p;
		r->data = open + 1;
		r->datalen = close - open - 1;
		*close = '\0';
		p = close + 1;
		while (*p == ' ')
			p++;
		r->rest = p;
	}
	return (0);
}

/* Quote a value for the tokenizer; see agiproto.h. */
int
agi_quote(char *dst, size_t size, const char *value)
{
	size_t	o = 0;

	if (size < 3)
		return (-1);
	dst[o++] = '"';
	for (; *value != '\0'; value++) {
		if (*value == '\r' || *value == '\n')
			return (-1);
		if (*value == '"' || *value == '\\') {
			if (o + 1 >= size)
				return (-1);
			dst[o++] = '\\';
		}
		if (o + 1 >= size)
			return (-1);
		dst[o++] = *value;
	}
	if (o + 2 > size)
		return (-1);
	dst[o++] = '"';
	dst[o] = '\0';
	return ((int)o);
}

/* 1 when the command may run on a dead channel. */
int
agi_cmd_dead_safe(const char *cmd)
{
	static const char *const safe[] = {
		"ASYNCAGI BREAK", "DATABASE DEL", "DATABASE DELTREE",
		"DATABASE GET", "DATABASE PUT", "EXEC", "GET FULL VARIABLE",
		"GET VARIABLE", "NOOP", "SET VARIABLE", "SPEECH DESTROY",
		"SPEECH UNLOAD GRAMMAR", "VERBOSE", NULL
	};
	const char	*const *s;
	size_t		 n;

	for (s = safe; *s != NULL; s++) {
		n = strlen(*s);
		if (strncasecmp(cmd, *s, n) == 0 &&
		    (cmd[n] == ' ' || cmd[n] == '\0'))
			return (1);
	}
	return (0);
}

/*
 * 1 when name can stand in MSet data unescaped: [A-Z0-9_]+, or a dialplan
 * function with one lower-case argument, FUNC(arg) as in IAXVAR(node).
 */
static int
agi_mset_name_ok(const char *name)
{
	const char	*p;

	for (p = name; isupper((unsigned char)*p) || isdigit(
	    (unsigned char)*p) || *p == '_'; p++)
		;
	if (p == name)
		return (0);
	if (*p == '\0')
		return (1);
	if (*p++ != '(' || !islower((unsigned char)*p))
		return (0);
	while (islower((unsigned char)*p) || isdigit((unsigned char)*p) ||
	    *p == '_')
		p++;
	return (p[0] == ')' && p[1] == '\0');
}

/* Build MSet() data; see agiproto.h. */
int
agi_mset_data(char *dst, size_t size, int n, const char *const *names,
    const char *const *values)
{
	size_t		 o = 0;
	const char	*p;
	int		 i;

	for (i = 0; i < n; i++) {
		if (!agi_mset_name_ok(names[i]))
			return (-1);
		if (o + strlen(names[i]) + 3 > size)
			return (-1);
		if (i > 0)
			dst[o++] = ',';
		memcpy(dst + o, names[i], strlen(names[i]));
		o += strlen(names[i]);
		dst[o++] = '=';
		for (p = values[i]; *p != '\0'; p++) {
			if (*p == '$' || *p == '\r' || *p == '\n')
				return (-1);
			if (strchr("\\\",()[]", *p) != NULL) {
				if (o + 2 >= size)
					return (-1);
				dst[o++] = '\\';
			}
			if (o + 1 >= size)
				return (-1);
			dst[o++] = *p;
		}
	}
	dst[o] = '\0';
	return ((int)o);
}
