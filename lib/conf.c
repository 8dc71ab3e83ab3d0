/* conf: ini configuration through one spec table. */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <iniparser/iniparser.h>

#include "lib/addr.h"
#include "lib/conf.h"
#include "lib/log.h"
#include "lib/xmalloc.h"

#define CONF_ECHO_MAX	64	/* longest value quoted in a message */
#define CONF_NAME_SHOW	80	/* longest key or section name shown */
#define CONF_ERRBUF	512	/* first iniparser message kept */

/* One value of a loaded configuration. */
struct conf_val {
	const struct conf_spec	*spec;
	char			*str;	/* canonical form; NULL until set */
	long long		 num;	/* CONF_INT, CONF_BOOL, CONF_ENUM */
	struct sockaddr_storage	 ss;	/* CONF_ADDR */
	socklen_t		 sslen;	/* 0 when the address is empty */
};

struct conf {
	char			*file;		/* NULL for defaults */
	const struct conf_spec	*spec;
	size_t			 n;
	struct conf_val		*vals;		/* spec order */
	struct conf_val		**index;	/* sorted by key */
};

/* A key line seen by the duplicate scan. */
struct conf_seen {
	char	*name;
	int	 line;
};

/* State of the scan: current section and the keys seen so far. */
struct conf_scan {
	char			*section;
	struct conf_seen	*seen;
	size_t			 n, size;
};

static const char *const conf_true[] = { "yes", "true", "on", "1", NULL };
static const char *const conf_false[] = { "no", "false", "off", "0", NULL };

/* The first message iniparser reported during the current load. */
static char	conf_errbuf[CONF_ERRBUF];

static void		 conf_spec_check(const struct conf_spec *);
static int		 conf_index_cmp(const void *, const void *);
static int		 conf_key_cmp(const void *, const void *);
static struct conf	*conf_new(const struct conf_spec *, const char *);
static struct conf_val	*conf_find(const struct conf *, const char *);
static struct conf_val	*conf_get(const struct conf *, const char *,
			    enum conf_type);
static void		 conf_fill(struct conf *);
static char		*conf_choices(const struct conf_spec *);
static const char	*conf_check_url(const char *);
static char		*conf_canon_urls(const char *, const char **, char *,
			    size_t);
static const char	*conf_check_name(const struct conf_spec *,
			    const char *);
static int		 conf_set(struct conf_val *, const char *, char **);
static int		 conf_section_known(const struct conf_spec *,
			    const char *);
static char		*conf_safe(const char *, size_t);
static int		 conf_read(const char *, char **);
static int		 conf_scan(const char *, const char *, size_t,
			    char **);
static int		 conf_scan_line(struct conf_scan *, char *, int);
static int		 conf_seen_cmp(const void *, const void *);
static int		 conf_errback(const char *, ...)
			    __attribute__((format(printf, 1, 2)));
static char		*conf_ini_error(const char *);
static int		 conf_dict(struct conf *, dictionary *, char **);
static void		 conf_sample_type(const struct conf_spec *, FILE *);
static void		 conf_sample_value(const char *, const char *, FILE *);

/* Abort on a malformed spec entry: these are programming errors. */
static void
conf_spec_check(const struct conf_spec *spec)
{
	const struct conf_spec	*sp, *sq;
	const char		*p, *colon;
	size_t			 slen;

	for (sp = spec; sp->key != NULL; sp++) {
		colon = strchr(sp->key, ':');
		if (colon == NULL || colon == sp->key || colon[1] == '\0' ||
		    strchr(colon + 1, ':') != NULL)
			fatalx("conf: spec %s: not section:key", sp->key);
		for (p = sp->key; *p != '\0'; p++) {
			if (*p != ':' && *p != '_' && !islower((u_char)*p) &&
			    !isdigit((u_char)*p))
				fatalx("conf: spec %s: bad character", sp->key);
		}
		if (sp->type >= CONF_TYPE_MAX)
			fatalx("conf: spec %s: bad type", sp->key);
		if (sp->type == CONF_ENUM &&
		    (sp->choices == NULL || sp->choices[0] == NULL))
			fatalx("conf: spec %s: no choices", sp->key);
		if (sp->type == CONF_INT && sp->min > sp->max)
			fatalx("conf: spec %s: min > max", sp->key);
		if ((sp->flags & CONF_EMPTY) && (sp->type == CONF_INT ||
		    sp->type == CONF_BOOL || sp->type == CONF_ENUM))
			fatalx("conf: spec %s: CONF_EMPTY on a typed key",
			    sp->key);

		/* A section's keys are contiguous (one header each). */
		slen = colon - sp->key + 1;
		if (sp == spec || strncmp(sp[-1].key, sp->key, slen) == 0)
			continue;
		for (sq = spec; sq < sp - 1; sq++) {
			if (strncmp(sq->key, sp->key, slen) == 0)
				fatalx("conf: spec %s: section split", sp->key);
		}
	}
}

/* Order index entries by key. */
static int
conf_index_cmp(const void *a, const void *b)
{
	const struct conf_val	*va = *(struct conf_val *const *)a;
	const struct conf_val	*vb = *(struct conf_val *const *)b;

	return (strcmp(va->spec->key, vb->spec->key));
}

/* Compare a key with an index entry (bsearch). */
static int
conf_key_cmp(const void *key, const void *elem)
{
	const struct conf_val	*v = *(struct conf_val *const *)elem;

	return (strcmp(key, v->spec->key));
}

/* Allocate an empty configuration for spec. */
static struct conf *
conf_new(const struct conf_spec *spec, const char *file)
{
	struct conf	*c;
	size_t		 i;

	conf_spec_check(spec);
	c = xcalloc(1, sizeof *c);
	c->spec = spec;
	c->file = file != NULL ? xstrdup(file) : NULL;
	while (spec[c->n].key != NULL)
		c->n++;
	c->vals = xcalloc(c->n, sizeof *c->vals);
	c->index = xcalloc(c->n, sizeof *c->index);
	for (i = 0; i < c->n; i++) {
		c->vals[i].spec = &spec[i];
		c->index[i] = &c->vals[i];
	}
	qsort(c->index, c->n, sizeof *c->index, conf_index_cmp);
	for (i = 1; i < c->n; i++) {
		if (strcmp(c->index[i - 1]->spec->key,
		    c->index[i]->spec->key) == 0)
			fatalx("conf: spec %s: duplicate key",
			    c->index[i]->spec->key);
	}
	return (c);
}

/* Find the value of key, or NULL. */
static struct conf_val *
conf_find(const struct conf *c, const char *key)
{
	struct conf_val	**vp;

	vp = bsearch(key, c->index, c->n, sizeof *c->index, conf_key_cmp);
	return (vp != NULL ? *vp : NULL);
}

/* Find key of the given type (CONF_TYPE_MAX: any); fatal when absent. */
static struct conf_val *
conf_get(const struct conf *c, const char *key, enum conf_type type)
{
	struct conf_val	*v;

	if ((v = conf_find(c, key)) == NULL)
		fatalx("conf: unknown key %s", key);
	if (type != CONF_TYPE_MAX && v->spec->type != type)
		fatalx("conf: %s: wrong type", key);
	return (v);
}

/* Give every unset key its default; a bad default is fatal. */
static void
conf_fill(struct conf *c)
{
	struct conf_val	*v;
	char		*why;
	size_t		 i;

	for (i = 0; i < c->n; i++) {
		v = &c->vals[i];
		if (v->str != NULL)
			continue;
		if (conf_set(v, v->spec->def != NULL ? v->spec->def : "",
		    &why) == -1)
			fatalx("conf: spec %s: bad default: %s", v->spec->key,
			    why);
	}
}

/* The choices of an enum as "a, b, c"; caller frees. */
static char *
conf_choices(const struct conf_spec *sp)
{
	const char *const	*cp;
	char			*s, *t;

	s = xstrdup(sp->choices[0]);
	for (cp = sp->choices + 1; *cp != NULL; cp++) {
		xasprintf(&t, "%s, %s", s, *cp);
		free(s);
		s = t;
	}
	return (s);
}

/* Why s is not an acceptable http(s) URL, or NULL. */
static const char *
conf_check_url(const char *s)
{
	const char	*p;

	if (strncmp(s, "https://", 8) == 0)
		p = s + 8;
	else if (strncmp(s, "http://", 7) == 0)
		p = s + 7;
	else
		return ("not an http:// or https:// URL");
	if (*p == '\0' || *p == '/' || *p == '?' || *p == '#')
		return ("URL without a host");
	for (p = s; *p != '\0'; p++) {
		if ((u_char)*p <= ' ' || (u_char)*p >= 0x7f ||
		    strchr("\"<>\\^`|", *p) != NULL)
			return ("URL with a space or a character that needs "
			    "%-encoding");
	}
	return (NULL);
}

/*
 * The canonical form of a CONF_URLS value (entries separated by one
 * space; caller frees), or NULL with *reason (in buf when it names the
 * entry; never the value: a URL may hold credentials).
 */
static char *
conf_canon_urls(const char *raw, const char **reason, char *buf,
    size_t size)
{
	const char	*p = raw, *start, *why;
	char		*canon, *one;
	size_t		 len = 0;
	int		 n = 0;

	canon = xcalloc(1, strlen(raw) + 1);
	for (;;) {
		while (*p == ' ')
			p++;
		if (*p == '\0')
			break;
		for (start = p; *p != '\0' && *p != ' '; p++)
			;
		if (++n > CONF_URLS_MAX) {
			snprintf(buf, size, "more than %d URLs", CONF_URLS_MAX);
			*reason = buf;
			free(canon);
			return (NULL);
		}
		one = xstrndup(start, p - start);
		why = conf_check_url(one);
		free(one);
		if (why != NULL) {
			snprintf(buf, size, "URL %d: %s", n, why);
			*reason = buf;
			free(canon);
			return (NULL);
		}
		if (len > 0)
			canon[len++] = ' ';
		memcpy(canon + len, start, p - start);
		len += p - start;
	}
	return (canon);
}

/* Entry i of a list stored separated by single spaces. */
int
conf_list_at(const char *s, int i, const char **p, size_t *len)
{
	const char	*sp;

	if (*s == '\0' || i < 0)
		return (-1);
	for (; i > 0; i--) {
		if ((sp = strchr(s, ' ')) == NULL)
			return (-1);
		s = sp + 1;
	}
	*p = s;
	*len = strcspn(s, " ");
	return (0);
}

/* Why s is not an acceptable CONF_NAME value, or NULL. */
static const char *
conf_check_name(const struct conf_spec *sp, const char *s)
{
	static char	 why[64];
	long long	 max = sp->max > 0 ? sp->max : CONF_NAME_MAX;
	const char	*p;

	if (!isalnum((u_char)*s))
		return ("name must start with a letter or digit");
	for (p = s; *p != '\0'; p++) {
		if (!isalnum((u_char)*p) && strchr("._-", *p) == NULL)
			return ("name may only hold letters, digits, "
			    "'.', '_' and '-'");
	}
	if ((long long)(p - s) > max) {
		snprintf(why, sizeof why, "name longer than %lld characters",
		    max);
		return (why);
	}
	return (NULL);
}

/*
 * Validate raw for v's spec and store its canonical form.  On error
 * *why is the reason (caller frees), with the value quoted at the end
 * only for types whose values are safe to show and never for secrets.
 */
static int
conf_set(struct conf_val *v, const char *raw, char **why)
{
	const struct conf_spec	*sp = v->spec;
	const char *const	*cp;
	const char		*p, *errstr, *reason = NULL;
	char			 rbuf[128], abuf[ADDR_STR_MAX];
	char			*canon = NULL, *alloc = NULL, *shown;
	long long		 num = 0;
	struct sockaddr_storage	 ss;
	socklen_t		 sslen = 0;
	int			 echo = 0;

	*why = NULL;
	memset(&ss, 0, sizeof ss);
	for (p = raw; *p != '\0'; p++) {
		if ((u_char)*p < 0x20 || (u_char)*p == 0x7f) {
			*why = xstrdup("control character in value");
			return (-1);
		}
	}
	if (*raw == '\0') {
		if (!(sp->flags & CONF_EMPTY)) {
			*why = xstrdup("empty value not allowed");
			return (-1);
		}
		canon = xstrdup("");
		goto done;
	}

	switch (sp->type) {
	case CONF_INT:
		echo = 1;
		if (strtonum_(raw, sp->min, sp->max, &num, &errstr) == 0)
			xasprintf(&canon, "%lld", num);
		else if (strcmp(errstr, "not a number") == 0)
			reason = "not an integer";
		else {
			snprintf(rbuf, sizeof rbuf, "out of range (%lld..%lld)",
			    sp->min, sp->max);
			reason = rbuf;
		}
		break;
	case CONF_BOOL:
		echo = 1;
		for (cp = conf_true; canon == NULL && *cp != NULL; cp++) {
			if (strcasecmp(raw, *cp) == 0) {
				num = 1;
				canon = xstrdup("yes");
			}
		}
		for (cp = conf_false; canon == NULL && *cp != NULL; cp++) {
			if (strcasecmp(raw, *cp) == 0)
				canon = xstrdup("no");
		}
		if (canon == NULL)
			reason = "not a boolean (yes/no, true/false, on/off, "
			    "1/0)";
		break;
	case CONF_ENUM:
		echo = 1;
		for (cp = sp->choices; *cp != NULL; cp++) {
			if (strcasecmp(raw, *cp) == 0) {
				num = cp - sp->choices;
				canon = xstrdup(*cp);
				break;
			}
		}
		if (canon == NULL) {
			char	*list = conf_choices(sp);

			xasprintf(&alloc, "must be one of %s", list);
			free(list);
			reason = alloc;
		}
		break;
	case CONF_ADDR:
		echo = 1;
		if (conf_parse_addr(raw, &ss, &sslen, &alloc) == 0)
			canon = xstrdup(addr_format((struct sockaddr *)&ss,
			    sslen, abuf, sizeof abuf));
		reason = alloc;
		break;
	case CONF_NAME:
		echo = 1;
		if ((reason = conf_check_name(sp, raw)) == NULL)
			canon = xstrdup(raw);
		break;
	case CONF_URL:
		if ((reason = conf_check_url(raw)) == NULL)
			canon = xstrdup(raw);
		break;
	case CONF_URLS:
		canon = conf_canon_urls(raw, &reason, rbuf, sizeof rbuf);
		break;
	case CONF_STR:
	case CONF_PATH:
	default:
		canon = xstrdup(raw);
		break;
	}

	if (canon == NULL) {
		if (echo && !(sp->flags & CONF_SECRET)) {
			shown = conf_safe(raw, CONF_ECHO_MAX);
			xasprintf(why, "%s: \"%s%s\"", reason, shown,
			    strlen(raw) > CONF_ECHO_MAX ? "..." : "");
			free(shown);
		} else
			*why = xstrdup(reason);
		free(alloc);
		return (-1);
	}
	free(alloc);
	if (sp->check != NULL && sp->check(canon, why) == -1) {
		if (*why == NULL)
			*why = xstrdup("invalid value");
		free(canon);
		return (-1);
	}

done:
	free(v->str);
	v->str = canon;
	v->num = num;
	v->ss = ss;
	v->sslen = sslen;
	return (0);
}

/* 1 when some key of spec lives in section name. */
static int
conf_section_known(const struct conf_spec *spec, const char *name)
{
	size_t	len = strlen(name);

	for (; spec->key != NULL; spec++) {
		if (strncmp(spec->key, name, len) == 0 &&
		    spec->key[len] == ':')
			return (1);
	}
	return (0);
}

/* A printable copy of at most max bytes of s, for messages; caller frees. */
static char *
conf_safe(const char *s, size_t max)
{
	char	*t, *p;

	t = xstrndup(s, max);
	for (p = t; *p != '\0'; p++) {
		if ((u_char)*p < 0x20 || (u_char)*p >= 0x7f)
			*p = '?';
	}
	return (t);
}

/*
 * Read path whole and check what iniparser does not: a regular file,
 * size, NUL bytes, empty section names and duplicate keys.
 */
static int
conf_read(const char *path, char **cause)
{
	struct stat	 st;
	char		*buf = NULL;
	size_t		 len = 0, size = 0;
	ssize_t		 n;
	int		 fd, rv = -1;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY)) == -1) {
		xasprintf(cause, "%s: %s", path, strerror(errno));
		return (-1);
	}
	if (fstat(fd, &st) == -1) {
		xasprintf(cause, "%s: %s", path, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		xasprintf(cause, "%s: %s", path, S_ISDIR(st.st_mode) ?
		    strerror(EISDIR) : "not a regular file");
		goto out;
	}
	for (;;) {
		if (len == size) {
			if (size > CONF_FILE_MAX) {
				xasprintf(cause, "%s: larger than %d bytes",
				    path, CONF_FILE_MAX);
				goto out;
			}
			size = size == 0 ? 8192 : size * 2;
			buf = xrealloc(buf, size);
		}
		n = read(fd, buf + len, size - len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			xasprintf(cause, "%s: %s", path, strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		len += n;
	}
	if (len > CONF_FILE_MAX) {
		xasprintf(cause, "%s: larger than %d bytes", path,
		    CONF_FILE_MAX);
		goto out;
	}
	rv = conf_scan(path, buf, len, cause);
out:
	free(buf);
	close(fd);
	return (rv);
}

/* Order seen keys by name, then line. */
static int
conf_seen_cmp(const void *a, const void *b)
{
	const struct conf_seen	*sa = a, *sb = b;
	int			 d;

	if ((d = strcmp(sa->name, sb->name)) != 0)
		return (d);
	return ((sa->line > sb->line) - (sa->line < sb->line));
}

/*
 * Scan the file's logical lines as iniparser 4.1 splits them (a trailing
 * backslash joins the next line) for NUL bytes, empty section names and
 * keys set twice, which iniparser would silently accept.
 */
static int
conf_scan(const char *path, const char *buf, size_t len, char **cause)
{
	struct conf_scan	 sc;
	struct conf_seen	*seen;
	const char		*p = buf, *end = buf + len, *nl, *z;
	char			*acc, *name;
	size_t			 alen = 0, llen, i, dup = 0;
	int			 line = 0, first = 0, rv = -1;

	if ((z = memchr(buf, '\0', len)) != NULL) {
		for (p = buf, line = 1; p < z; p++)
			line += *p == '\n';
		xasprintf(cause, "%s: line %d: NUL byte", path, line);
		return (-1);
	}
	memset(&sc, 0, sizeof sc);
	sc.section = xstrdup("");
	acc = xmalloc(len + 1);
	while (p < end) {
		nl = memchr(p, '\n', end - p);
		llen = nl != NULL ? (size_t)(nl - p) : (size_t)(end - p);
		if (alen == 0)
			first = line + 1;
		line++;
		memcpy(acc + alen, p, llen);
		alen += llen;
		p += llen + (nl != NULL);
		while (alen > 0 && isspace((u_char)acc[alen - 1]))
			alen--;
		if (alen > 0 && acc[alen - 1] == '\\' && p < end) {
			alen--;
			continue;
		}
		acc[alen] = '\0';
		alen = 0;
		if (conf_scan_line(&sc, acc, first) == -1) {
			xasprintf(cause, "%s: line %d: empty section name",
			    path, first);
			goto out;
		}
	}

	seen = sc.seen;
	if (sc.n > 1)
		qsort(seen, sc.n, sizeof *seen, conf_seen_cmp);
	for (i = 1; i < sc.n; i++) {
		if (strcmp(seen[i - 1].name, seen[i].name) != 0)
			continue;
		if (dup == 0 || seen[i].line < seen[dup].line)
			dup = i;
		while (i + 1 < sc.n &&
		    strcmp(seen[i].name, seen[i + 1].name) == 0)
			i++;
	}
	if (dup != 0) {
		name = conf_safe(seen[dup].name, CONF_NAME_SHOW);
		xasprintf(cause, "%s: %s: set twice (lines %d and %d)", path,
		    name, seen[dup - 1].line, seen[dup].line);
		free(name);
		goto out;
	}
	rv = 0;
out:
	for (i = 0; i < sc.n; i++)
		free(sc.seen[i].name);
	free(sc.seen);
	free(sc.section);
	free(acc);
	return (rv);
}

/* Note a section header or a key from one logical line; -1: "[]". */
static int
conf_scan_line(struct conf_scan *sc, char *s, int line)
{
	struct conf_seen	*sn;
	char			*e, *eq, *p;

	while (isspace((u_char)*s))
		s++;
	if (*s == '\0' || *s == ';' || *s == '#')
		return (0);
	if (*s == '[' && s[strlen(s) - 1] == ']') {
		s++;
		e = strchr(s, ']');
		while (s < e && isspace((u_char)*s))
			s++;
		while (e > s && isspace((u_char)e[-1]))
			e--;
		if (e == s)
			return (-1);
		free(sc->section);
		sc->section = xstrndup(s, e - s);
		for (p = sc->section; *p != '\0'; p++)
			*p = tolower((u_char)*p);
		return (0);
	}
	if ((eq = strchr(s, '=')) == NULL || *sc->section == '\0')
		return (0);
	while (eq > s && isspace((u_char)eq[-1]))
		eq--;
	if (eq == s)
		return (0);
	if (sc->n == sc->size) {
		sc->size = sc->size == 0 ? 32 : sc->size * 2;
		sc->seen = xreallocarray(sc->seen, sc->size, sizeof *sc->seen);
	}
	sn = &sc->seen[sc->n++];
	xasprintf(&sn->name, "%s:%.*s", sc->section, (int)(eq - s), s);
	for (p = sn->name; *p != '\0'; p++)
		*p = tolower((u_char)*p);
	sn->line = line;
	return (0);
}

/* Keep iniparser's first message instead of printing it to stderr. */
static int
conf_errback(const char *fmt, ...)
{
	va_list	ap;

	if (conf_errbuf[0] != '\0')
		return (0);
	va_start(ap, fmt);
	vsnprintf(conf_errbuf, sizeof conf_errbuf, fmt, ap);
	va_end(ap);
	return (0);
}

/*
 * Turn iniparser's message into "<file>: line N: reason".  Only its first
 * line is used: the second repeats the offending line, which may hold a
 * secret.
 */
static char *
conf_ini_error(const char *path)
{
	char	*msg = conf_errbuf, *nl, *lp, *in, *end, *cause;
	long	 line;

	if (*msg == '\0') {
		xasprintf(&cause, "%s: cannot parse", path);
		return (cause);
	}
	if ((nl = strchr(msg, '\n')) != NULL)
		*nl = '\0';
	if (strncmp(msg, "iniparser: ", 11) == 0)
		msg += 11;
	lp = strrchr(msg, '(');
	in = strstr(msg, " in ");
	if (lp != NULL && in != NULL && in < lp &&
	    isdigit((u_char)lp[1])) {
		errno = 0;
		line = strtol(lp + 1, &end, 10);
		if (errno == 0 && *end == ')') {
			xasprintf(&cause, "%s: line %ld: %.*s", path, line,
			    (int)(in - msg), msg);
			return (cause);
		}
	}
	if (in != NULL)
		*in = '\0';
	xasprintf(&cause, "%s: %s", path, msg);
	return (cause);
}

/* Check the parsed dictionary against the spec, in file order. */
static int
conf_dict(struct conf *c, dictionary *d, char **cause)
{
	struct conf_val	*v;
	const char	*k;
	char		*why, *name;
	ssize_t		 i;

	for (i = 0; i < d->size; i++) {
		if ((k = d->key[i]) == NULL)
			continue;
		if (d->val[i] == NULL) {
			if (strchr(k, ':') == NULL &&
			    conf_section_known(c->spec, k))
				continue;
			name = conf_safe(k, CONF_NAME_SHOW);
			xasprintf(cause, "%s: [%s]: unknown section", c->file,
			    name);
			free(name);
			return (-1);
		}
		if (*k == ':') {
			name = conf_safe(k + 1, CONF_NAME_SHOW);
			xasprintf(cause, "%s: %s: key outside any section",
			    c->file, name);
			free(name);
			return (-1);
		}
		if ((v = conf_find(c, k)) == NULL) {
			name = conf_safe(k, CONF_NAME_SHOW);
			xasprintf(cause, "%s: %s: unknown key", c->file, name);
			free(name);
			return (-1);
		}
		if (conf_set(v, d->val[i], &why) == -1) {
			xasprintf(cause, "%s: %s: %s", c->file, k, why);
			free(why);
			return (-1);
		}
	}
	return (0);
}

/* Load and validate path against spec. */
struct conf *
conf_load(const char *path, const struct conf_spec *spec, char **cause)
{
	struct conf	*c;
	dictionary	*d;

	*cause = NULL;
	c = conf_new(spec, path);
	if (conf_read(path, cause) == -1) {
		conf_free(c);
		return (NULL);
	}
	conf_errbuf[0] = '\0';
	iniparser_set_error_callback(conf_errback);
	d = iniparser_load(path);
	iniparser_set_error_callback(NULL);
	if (d == NULL) {
		*cause = conf_ini_error(path);
		conf_free(c);
		return (NULL);
	}
	if (conf_dict(c, d, cause) == -1) {
		iniparser_freedict(d);
		conf_free(c);
		return (NULL);
	}
	iniparser_freedict(d);
	conf_fill(c);
	return (c);
}

/* A configuration holding only the defaults of spec. */
struct conf *
conf_defaults(const struct conf_spec *spec)
{
	struct conf	*c;

	c = conf_new(spec, NULL);
	conf_fill(c);
	return (c);
}

/* Free a configuration. */
void
conf_free(struct conf *c)
{
	size_t	i;

	if (c == NULL)
		return;
	for (i = 0; i < c->n; i++)
		free(c->vals[i].str);
	free(c->vals);
	free(c->index);
	free(c->file);
	free(c);
}

/* The file the configuration came from, or NULL. */
const char *
conf_file(const struct conf *c)
{
	return (c->file);
}

/* The canonical string value of key. */
const char *
conf_str(const struct conf *c, const char *key)
{
	return (conf_get(c, key, CONF_TYPE_MAX)->str);
}

/* The value of integer key. */
long long
conf_int(const struct conf *c, const char *key)
{
	return (conf_get(c, key, CONF_INT)->num);
}

/* The value of boolean key: 1 or 0. */
int
conf_bool(const struct conf *c, const char *key)
{
	return (conf_get(c, key, CONF_BOOL)->num != 0);
}

/* The index of enum key's value in its choices. */
int
conf_enum(const struct conf *c, const char *key)
{
	return ((int)conf_get(c, key, CONF_ENUM)->num);
}

/* Copy address key into ss; -1 when it is empty. */
int
conf_addr(const struct conf *c, const char *key, struct sockaddr_storage *ss,
    socklen_t *sslen)
{
	struct conf_val	*v = conf_get(c, key, CONF_ADDR);

	if (v->sslen == 0)
		return (-1);
	memcpy(ss, &v->ss, sizeof *ss);
	*sslen = v->sslen;
	return (0);
}

/* 1 when key's value differs between a and b. */
int
conf_changed(const struct conf *a, const struct conf *b, const char *key)
{
	return (strcmp(conf_get(a, key, CONF_TYPE_MAX)->str,
	    conf_get(b, key, CONF_TYPE_MAX)->str) != 0);
}

/* Parse a numeric "a.b.c.d:port" or "[v6]:port". */
int
conf_parse_addr(const char *s, struct sockaddr_storage *ss,
    socklen_t *sslen, char **cause)
{
	struct sockaddr_storage	 tmp;
	struct sockaddr_in	*sin;
	struct sockaddr_in6	*sin6;
	char			 host[INET6_ADDRSTRLEN];
	const char		*h, *end, *port, *p, *errstr, *reason;
	long long		 pnum;
	size_t			 hlen;
	int			 family;

	if (*s == '[') {
		family = AF_INET6;
		h = s + 1;
		if ((end = strchr(h, ']')) == NULL) {
			reason = "missing ']' after IPv6 address";
			goto fail;
		}
		port = end + 1;
		if (*port != ':' && *port != '\0') {
			reason = "expected ':' after ']'";
			goto fail;
		}
	} else {
		family = AF_INET;
		h = s;
		if ((end = strrchr(s, ':')) == NULL)
			end = s + strlen(s);
		else if (memchr(s, ':', end - s) != NULL) {
			reason = "IPv6 address needs brackets ([v6]:port)";
			goto fail;
		}
		port = end;
	}
	hlen = end - h;
	if (hlen == 0) {
		reason = "missing address";
		goto fail;
	}
	if (*port == '\0' || port[1] == '\0') {
		reason = "missing port";
		goto fail;
	}
	port++;

	memset(&tmp, 0, sizeof tmp);
	sin = (struct sockaddr_in *)&tmp;
	sin6 = (struct sockaddr_in6 *)&tmp;
	reason = family == AF_INET ? "not a numeric IPv4 address" :
	    "not a numeric IPv6 address";
	if (hlen >= sizeof host)
		goto fail;
	memcpy(host, h, hlen);
	host[hlen] = '\0';
	if (inet_pton(family, host, family == AF_INET ?
	    (void *)&sin->sin_addr : (void *)&sin6->sin6_addr) != 1)
		goto fail;
	for (p = port; *p != '\0'; p++) {
		if (!isdigit((u_char)*p)) {
			reason = "port is not a number";
			goto fail;
		}
	}
	if (strtonum_(port, 0, 65535, &pnum, &errstr) == -1) {
		reason = "port out of range (0..65535)";
		goto fail;
	}
	if (family == AF_INET) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons((in_port_t)pnum);
	} else {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((in_port_t)pnum);
	}
	if (ss != NULL)
		memcpy(ss, &tmp, sizeof *ss);
	if (sslen != NULL)
		*sslen = family == AF_INET ? sizeof(struct sockaddr_in) :
		    sizeof(struct sockaddr_in6);
	return (0);
fail:
	if (cause != NULL)
		*cause = xstrdup(reason);
	return (-1);
}

/* Write the line describing sp's type and range, if it has one. */
static void
conf_sample_type(const struct conf_spec *sp, FILE *f)
{
	char	*list;

	switch (sp->type) {
	case CONF_INT:
		fprintf(f, "; integer %lld..%lld\n", sp->min, sp->max);
		break;
	case CONF_BOOL:
		fprintf(f, "; yes or no\n");
		break;
	case CONF_ENUM:
		list = conf_choices(sp);
		fprintf(f, "; one of: %s\n", list);
		free(list);
		break;
	case CONF_ADDR:
		fprintf(f, "; a.b.c.d:port or [v6]:port (port 0: any free "
		    "port)\n");
		break;
	case CONF_NAME:
		fprintf(f, "; letters, digits, '.', '_', '-'; at most %lld "
		    "characters\n", sp->max > 0 ? sp->max : CONF_NAME_MAX);
		break;
	case CONF_URL:
		fprintf(f, "; an https:// (or http://) URL\n");
		break;
	case CONF_URLS:
		fprintf(f, "; https:// (or http://) URLs separated by spaces, "
		    "at most %d\n", CONF_URLS_MAX);
		break;
	default:
		break;
	}
	if (sp->flags & CONF_SECRET)
		fprintf(f, "; secret: never shown or logged\n");
}

/* Write ";name = value", quoting a value iniparser would otherwise cut. */
static void
conf_sample_value(const char *name, const char *def, FILE *f)
{
	size_t	len;

	if (def == NULL || *def == '\0') {
		fprintf(f, ";%s =\n", name);
		return;
	}
	len = strlen(def);
	if (strpbrk(def, ";#") == NULL && *def != '"' && *def != '\'' &&
	    !isspace((u_char)def[0]) && !isspace((u_char)def[len - 1]) &&
	    def[len - 1] != '\\') {
		fprintf(f, ";%s = %s\n", name, def);
		return;
	}
	if (strchr(def, '"') != NULL)
		fatalx("conf: default of %s cannot be written", name);
	fprintf(f, ";%s = \"%s\"\n", name, def);
}

/* Write the documented sample file for spec. */
void
conf_sample(const struct conf_spec *spec, FILE *f)
{
	const struct conf_spec	*sp;
	const char		*colon;
	size_t			 slen;

	conf_spec_check(spec);
	fprintf(f, "; Every setting with its default, commented out: remove "
	    "the ';' in front\n; of a key to change it.  A value runs to the "
	    "end of its line; ';' or '#'\n; starts a comment, so quote a value "
	    "that holds one (\"a;b\").\n");
	for (sp = spec; sp->key != NULL; sp++) {
		colon = strchr(sp->key, ':');
		slen = colon - sp->key;
		if (sp == spec || strncmp(sp[-1].key, sp->key, slen + 1) != 0)
			fprintf(f, "\n[%.*s]\n", (int)slen, sp->key);
		else
			fprintf(f, "\n");
		if (sp->help != NULL)
			fprintf(f, "; %s\n", sp->help);
		conf_sample_type(sp, f);
		conf_sample_value(colon + 1, sp->def, f);
	}
}

/* Write every value as "section:key = value", hiding secrets. */
void
conf_show(const struct conf *c, FILE *f)
{
	const struct conf_val	*v;
	size_t			 i;

	for (i = 0; i < c->n; i++) {
		v = &c->vals[i];
		if (v->spec->flags & CONF_SECRET)
			fprintf(f, "%s = %s\n", v->spec->key,
			    *v->str != '\0' ? "(set)" : "(unset)");
		else if (*v->str == '\0')
			fprintf(f, "%s =\n", v->spec->key);
		else
			fprintf(f, "%s = %s\n", v->spec->key, v->str);
	}
}
