/*
 * names: node names a caller may not take.  A caller names itself in the
 * dialplan (inbound,<node>,MD5) or through the key server's index, and
 * iaxkeyd turns that name into <key_dir>/<prefix><node>.pub and, with
 * inkeys = per-node, into an iax.conf section.  Refused:
 *
 *   - this node's own name ([node] name): its own key pair;
 *   - a key file in key_dir that iaxkeyd did not install (no installed
 *     row in the store): an operator's key, or a private key's pair.  The
 *     files of a node's slots 1 and 2 (<prefix>_1_<node>.pub, ...) are
 *     iaxkeyd's while the store holds that slot; a free slot whose file
 *     exists is not used (keyset.c);
 *   - per-node: a section name Asterisk or the operator already uses:
 *     "general", [inbound] user and template, and every section of
 *     iax.conf and the files it #includes (not iaxkeyd's own files).
 *
 * iax.conf is a local file: it is read when its size or modification time
 * changed since the last read (one stat per check), capped in size, in
 * includes and in sections, so a check never blocks the loop for long.
 */
#include <sys/stat.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "agi/config.h"
#include "agi/iaxkeyd.h"
#include "lib/afile.h"
#include "lib/astconf.h"
#include "lib/xmalloc.h"

#define NAMES_FILE_MAX		(1024 * 1024)	/* per file read */
#define NAMES_FILES_MAX		16		/* iax.conf and includes */
#define NAMES_SECTIONS_MAX	100000
#define NAMES_IAX_CONF		"iax.conf"

static struct {
	char		**sections;
	int		  n;
	int		  files;
	dev_t		  dev;
	ino_t		  ino;
	off_t		  size;
	struct timespec	  mtime;
	int		  loaded;
} nm;

static void	names_clear(void);
static void	names_load(void);
static void	names_read(const char *);
static void	names_add(const char *, size_t);
static int	names_section(const char *);
static int	names_ours(const char *);

/* Forget the sections read. */
static void
names_clear(void)
{
	int	i;

	for (i = 0; i < nm.n; i++)
		free(nm.sections[i]);
	free(nm.sections);
	nm.sections = NULL;
	nm.n = nm.files = 0;
}

/* Free everything (shutdown). */
void
names_free(void)
{
	names_clear();
	memset(&nm, 0, sizeof nm);
}

/* Remember one section name. */
static void
names_add(const char *name, size_t len)
{
	if (nm.n == NAMES_SECTIONS_MAX)
		return;
	if (nm.n % 64 == 0)
		nm.sections = xreallocarray(nm.sections, nm.n + 64,
		    sizeof *nm.sections);
	nm.sections[nm.n++] = xstrndup(name, len);
}

/* 1 when path (as written in an #include) is one of iaxkeyd's files. */
static int
names_ours(const char *path)
{
	const char	*dir = conf_str(ikd->conf, "asterisk:config_dir");
	const char	*own[2];
	size_t		 dl = strlen(dir);
	int		 i;

	own[0] = conf_str(ikd->conf, "inbound:users_file");
	own[1] = conf_str(ikd->conf, "outbound:peers_file");
	if (strncmp(path, dir, dl) == 0 && path[dl] == '/')
		path += dl + 1;
	for (i = 0; i < 2; i++) {
		if (strcmp(path, own[i]) == 0)
			return (1);
	}
	return (0);
}

/*
 * Read the sections of one configuration file and follow its #include
 * and #tryinclude lines (relative names are under config_dir).
 */
static void
names_read(const char *path)
{
	char		*buf = NULL, *cause = NULL, *line, *next, *end, *inc;
	const char	*p;
	size_t		 len, n;

	if (nm.files++ >= NAMES_FILES_MAX)
		return;
	if (afile_read(path, NAMES_FILE_MAX, &buf, &len, &cause) != 0) {
		if (cause != NULL)
			log_warnx("reserved names: %s", cause);
		free(cause);
		return;
	}
	for (line = buf; line != NULL && line < buf + len; line = next) {
		if ((next = memchr(line, '\n', buf + len - line)) != NULL)
			*next++ = '\0';
		for (p = line; *p == ' ' || *p == '\t'; p++)
			;
		if (*p == '[') {
			if ((end = strchr(p, ']')) != NULL && end > p + 1)
				names_add(p + 1, end - p - 1);
			continue;
		}
		if (strncmp(p, "#include", 8) != 0 &&
		    strncmp(p, "#tryinclude", 11) != 0)
			continue;
		for (p += p[1] == 'i' ? 8 : 11; *p == ' ' || *p == '\t' ||
		    *p == '"' || *p == '<'; p++)
			;
		if ((n = strcspn(p, "\"> \t\r;")) == 0)
			continue;
		if (*p == '/')
			inc = xstrndup(p, n);
		else
			xasprintf(&inc, "%s/%.*s", conf_str(ikd->conf,
			    "asterisk:config_dir"), (int)n, p);
		if (!names_ours(inc))
			names_read(inc);
		free(inc);
	}
	free(buf);
}

/* Read iax.conf again when it changed. */
static void
names_load(void)
{
	struct stat	 sb;
	char		*path;

	xasprintf(&path, "%s/%s", conf_str(ikd->conf, "asterisk:config_dir"),
	    NAMES_IAX_CONF);
	if (stat(path, &sb) == -1)
		memset(&sb, 0, sizeof sb);
	if (nm.loaded && sb.st_dev == nm.dev && sb.st_ino == nm.ino &&
	    sb.st_size == nm.size && sb.st_mtim.tv_sec == nm.mtime.tv_sec &&
	    sb.st_mtim.tv_nsec == nm.mtime.tv_nsec) {
		free(path);
		return;
	}
	names_clear();
	if (sb.st_ino != 0)
		names_read(path);
	nm.dev = sb.st_dev;
	nm.ino = sb.st_ino;
	nm.size = sb.st_size;
	nm.mtime = sb.st_mtim;
	nm.loaded = 1;
	free(path);
}

/* 1 when name is a section Asterisk or the operator already uses. */
static int
names_section(const char *name)
{
	int	i;

	if (strcasecmp(name, "general") == 0 ||
	    strcasecmp(name, conf_str(ikd->conf, "inbound:user")) == 0 ||
	    strcasecmp(name, conf_str(ikd->conf, "inbound:template")) == 0)
		return (1);
	names_load();
	for (i = 0; i < nm.n; i++) {
		if (strcasecmp(name, nm.sections[i]) == 0)
			return (1);
	}
	return (0);
}

/* 1 when node, or its key name, is this node's own name. */
int
names_own(const char *node)
{
	const char	*own = conf_str(ikd->conf, "node:name");
	char		 name[ASTCONF_NAME_MAX + 1];

	keys_name(node, name, sizeof name);
	return (*own != '\0' && (strcmp(node, own) == 0 ||
	    strcmp(name, own) == 0));
}

/*
 * Why node may not have its key installed, or NULL when it may; installed
 * says whether iaxkeyd installed its key already (the store's row).
 */
const char *
names_reserved(const char *node, int installed)
{
	char	name[ASTCONF_NAME_MAX + 1];

	keys_name(node, name, sizeof name);
	if (names_own(node))
		return ("reserved name: this node's own name");
	if (!installed && names_file_taken(name))
		return ("reserved name: a key in key_dir that iaxkeyd did not "
		    "install");
	if (conf_enum(ikd->conf, "inbound:inkeys") == CFG_INKEYS_PER_NODE &&
	    names_section(name))
		return ("reserved name: a section iax.conf already uses");
	return (NULL);
}

/* 1 when key_dir holds a public or private key file named name. */
int
names_file_taken(const char *name)
{
	const char	*dir = conf_str(ikd->conf, "asterisk:key_dir");
	char		*path;
	struct stat	 sb;
	int		 taken;

	xasprintf(&path, "%s/%s.pub", dir, name);
	taken = lstat(path, &sb) == 0;
	free(path);
	xasprintf(&path, "%s/%s.key", dir, name);
	taken = taken || lstat(path, &sb) == 0;
	free(path);
	return (taken);
}
