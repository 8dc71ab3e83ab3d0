/*
 * keys: the key table.  Every key lives in memory (a sorted array, so a
 * GET does no disk I/O and the index comes out sorted) and in a file
 * written with afile_write: per node the current key <dir>/<node>.pub, a
 * staged next key <dir>/next/<node>.pub and the previous key kept after
 * a promotion <dir>/previous/<node>.pub.  Each change appends its logfmt
 * lines to the audit log (one write, O_APPEND, fsync).  Enrolment tokens
 * and the replay record are nodeauth.c's.
 *
 * A change writes its files one by one, in an order chosen so that a
 * crash between two of them leaves a state the loader accepts: at load a
 * next or previous key without a current key, or equal to it (or a next
 * equal to the previous), is removed with a warning.
 */
#include <sys/stat.h>
#include <sys/types.h>

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "lib/afile.h"
#include "lib/log.h"
#include "lib/rsakey.h"
#include "lib/xmalloc.h"
#include "keyserver/ks.h"

#define KEYS_SUFFIX	".pub"
#define KEYS_AUDIT_MAX	2048	/* the audit lines of one change */
#define KEYS_TAG_HEX	16	/* hex digits of a next/previous in an ETag */

/* The audit lines of one change, written at once. */
struct keys_audit {
	char	buf[KEYS_AUDIT_MAX];
	size_t	len;
	int	overflow;
};

static struct {
	char		 *dir;
	char		 *slotdir[KS_SLOT_MAX];	/* NULL for KS_CURRENT */
	char		 *audit_path;
	int		  audit_fd;
	struct ks_key	**v;		/* sorted by node */
	size_t		  n, cap;
	char		 *index;	/* one line per node */
	size_t		  index_len;
	char		  index_etag[KS_ETAG_MAX];
	time_t		  modified;	/* the last change of any node */
} keys = { .audit_fd = -1 };

static int	keys_find(const char *, size_t *);
static void	keys_index_build(void);
static void	keys_etag_build(struct ks_key *);
static int	keys_load(char **);
static int	keys_load_slot(enum ks_slot, char **);
static int	keys_current_exists(const char *);
static struct ks_pem *keys_read(const char *, time_t *);
static int	keys_node_name(const char *, char *);
static void	keys_audit_add(struct keys_audit *, const char *,
		    const char *, const char *, const char *, const char *,
		    const char *);
static int	keys_audit_write(const struct keys_audit *, char **);
static char	*keys_path(const char *, enum ks_slot);
static struct ks_pem *keys_pem_new(const struct ks_upload *);
static void	keys_pem_free(struct ks_pem *);
static void	keys_entry_free(struct ks_key *);
static void	keys_insert(size_t, struct ks_key *);
static int	keys_file(const char *, enum ks_slot, const struct ks_pem *,
		    char **);
static int	keys_commit(const char *, struct ks_pem *const *,
		    const enum ks_slot *, size_t, const struct keys_audit *,
		    char **);
static int	keys_same(const struct ks_pem *, const char *);

/* The name of a slot (audit lines, logs, routes). */
const char *
ks_slot_name(enum ks_slot s)
{
	static const char *const names[] = {
		[KS_CURRENT] = "current",
		[KS_NEXT] = "next",
		[KS_PREVIOUS] = "previous",
	};

	return (s < KS_SLOT_MAX ? names[s] : "unknown");
}

/*
 * Check a node name: 1 to KS_NODE_MAX of [A-Za-z0-9._-], starting with a
 * letter or digit.  1 or 0 with *why (static).
 */
int
ks_node_valid(const char *s, const char **why)
{
	size_t	i;

	if (*s == '\0') {
		*why = "empty node name";
		return (0);
	}
	for (i = 0; s[i] != '\0'; i++) {
		if (i >= KS_NODE_MAX) {
			*why = "node name longer than 64 characters";
			return (0);
		}
		if (!isascii((unsigned char)s[i]) ||
		    (!isalnum((unsigned char)s[i]) && s[i] != '.' &&
		    s[i] != '_' && s[i] != '-')) {
			*why = "node name may only hold A-Z a-z 0-9 . _ -";
			return (0);
		}
	}
	if (!isalnum((unsigned char)s[0])) {
		*why = "node name must start with a letter or a digit";
		return (0);
	}
	return (1);
}

/* Binary search; 1 with *at = position, or 0 with *at = insertion point. */
static int
keys_find(const char *node, size_t *at)
{
	size_t	lo = 0, hi = keys.n, mid;
	int	c;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		c = strcmp(node, keys.v[mid]->node);
		if (c == 0) {
			*at = mid;
			return (1);
		}
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	*at = lo;
	return (0);
}

/*
 * Rebuild the cached index text, "<node> <fpr>[ next=<fpr>][ previous=
 * <fpr>]" lines, and its ETag (the SHA-256 of the text).
 */
static void
keys_index_build(void)
{
	const struct ks_key	*k;
	size_t			 i, len = 0, off = 0;
	char			 hex[65];
	int			 n;

	for (i = 0; i < keys.n; i++)
		len += strlen(keys.v[i]->node) + 2 + 3 * (KS_FPR_MAX + 10);
	free(keys.index);
	keys.index = xmalloc(len + 1);
	keys.index[0] = '\0';
	for (i = 0; i < keys.n; i++) {
		k = keys.v[i];
		n = snprintf(keys.index + off, len + 1 - off, "%s %s%s%s%s%s\n",
		    k->node, k->slot[KS_CURRENT]->fpr,
		    k->slot[KS_NEXT] != NULL ? " next=" : "",
		    k->slot[KS_NEXT] != NULL ? k->slot[KS_NEXT]->fpr : "",
		    k->slot[KS_PREVIOUS] != NULL ? " previous=" : "",
		    k->slot[KS_PREVIOUS] != NULL ?
		    k->slot[KS_PREVIOUS]->fpr : "");
		off += n;
	}
	keys.index_len = off;
	rsakey_sha256_hex(keys.index, off, hex);
	snprintf(keys.index_etag, sizeof keys.index_etag, "\"sha256:%s\"",
	    hex);
}

/*
 * The ETag and Last-Modified of a node's current-key answer:
 * "sha256:<cur>" alone, or "sha256:<cur>+<next>+<previous>" with the
 * first KEYS_TAG_HEX hex digits of each ("-" for none), so that it
 * changes with the X-Iaxkey-Next and X-Iaxkey-Previous headers.
 */
static void
keys_etag_build(struct ks_key *k)
{
	const char	*tag[KS_SLOT_MAX];
	enum ks_slot	 s;
	size_t		 skip = strlen("sha256:");

	k->modified = 0;
	for (s = 0; s < KS_SLOT_MAX; s++) {
		if (k->changed[s] > k->modified)
			k->modified = k->changed[s];
		tag[s] = k->slot[s] != NULL ? k->slot[s]->fpr + skip : "-";
	}
	if (k->slot[KS_NEXT] == NULL && k->slot[KS_PREVIOUS] == NULL) {
		snprintf(k->etag, sizeof k->etag, "\"%s\"",
		    k->slot[KS_CURRENT]->fpr);
		return;
	}
	snprintf(k->etag, sizeof k->etag, "\"%s+%.*s+%.*s\"",
	    k->slot[KS_CURRENT]->fpr, KEYS_TAG_HEX, tag[KS_NEXT],
	    KEYS_TAG_HEX, tag[KS_PREVIOUS]);
}

/* The path of a node's key file in slot s (caller frees). */
static char *
keys_path(const char *node, enum ks_slot s)
{
	char	*p;

	xasprintf(&p, "%s/%s%s", s == KS_CURRENT ? keys.dir :
	    keys.slotdir[s], node, KEYS_SUFFIX);
	return (p);
}

/* Insert k at index at of the sorted array. */
static void
keys_insert(size_t at, struct ks_key *k)
{
	if (keys.n == keys.cap) {
		keys.cap = keys.cap == 0 ? 64 : keys.cap * 2;
		keys.v = xreallocarray(keys.v, keys.cap, sizeof *keys.v);
	}
	memmove(keys.v + at + 1, keys.v + at, (keys.n - at) * sizeof *keys.v);
	keys.v[at] = k;
	keys.n++;
}

/* A key made from an upload. */
static struct ks_pem *
keys_pem_new(const struct ks_upload *u)
{
	struct ks_pem	*p;

	p = xcalloc(1, sizeof *p);
	p->pem = xstrndup(u->pem, u->len);
	p->len = u->len;
	strlcpy_(p->fpr, u->fpr, sizeof p->fpr);
	return (p);
}

/* Free one key. */
static void
keys_pem_free(struct ks_pem *p)
{
	if (p == NULL)
		return;
	free(p->pem);
	free(p);
}

/* Free one entry and its keys. */
static void
keys_entry_free(struct ks_key *k)
{
	enum ks_slot	s;

	if (k == NULL)
		return;
	for (s = 0; s < KS_SLOT_MAX; s++)
		keys_pem_free(k->slot[s]);
	free(k);
}

/* 1 if key p (or none) has the fingerprint fpr. */
static int
keys_same(const struct ks_pem *p, const char *fpr)
{
	return (p != NULL && strcmp(p->fpr, fpr) == 0);
}

/*
 * The node name of a directory entry "<node>.pub" into node (KS_NODE_MAX
 * + 1 bytes); 1, or 0 when the entry is not a key file.
 */
static int
keys_node_name(const char *name, char *node)
{
	const char	*why;
	size_t		 nl = strlen(name), sl = strlen(KEYS_SUFFIX);

	if (name[0] == '.' || nl <= sl || strcmp(name + nl - sl,
	    KEYS_SUFFIX) != 0 || nl - sl > KS_NODE_MAX)
		return (0);
	memcpy(node, name, nl - sl);
	node[nl - sl] = '\0';
	return (ks_node_valid(node, &why));
}

/*
 * Read and validate one key file; its mtime in *mtime.  NULL (warned)
 * when it is unreadable, vanished or not a valid key.
 */
static struct ks_pem *
keys_read(const char *path, time_t *mtime)
{
	struct ks_pem		*p;
	struct rsakey_info	 info;
	struct stat		 sb;
	char			*pem = NULL, *err = NULL;
	size_t			 len;
	int			 rc;

	rc = afile_read(path, RSAKEY_PEM_MAX, &pem, &len, &err);
	if (rc == 0 && rsakey_pub_validate(pem, len, RSAKEY_PEM_MAX,
	    &info, &err) == -1)
		rc = -1;
	if (rc != 0) {
		log_warnx("skipping %s: %s", path,
		    err != NULL ? err : "vanished");
		free(err);
		free(pem);
		return (NULL);
	}
	p = xcalloc(1, sizeof *p);
	p->pem = pem;
	p->len = len;
	strlcpy_(p->fpr, info.fingerprint, sizeof p->fpr);
	*mtime = stat(path, &sb) == 0 ? sb.st_mtime : time(NULL);
	return (p);
}

/* Read every <node>.pub of the directory into memory. */
static int
keys_load(char **cause)
{
	DIR		*d;
	struct dirent	*de;
	struct ks_key	*k;
	struct ks_pem	*p;
	char		*path, node[KS_NODE_MAX + 1];
	time_t		 mtime;
	size_t		 at;

	if ((d = opendir(keys.dir)) == NULL) {
		xasprintf(cause, "%s: %s", keys.dir, strerror(errno));
		return (-1);
	}
	while ((de = readdir(d)) != NULL) {
		if (!keys_node_name(de->d_name, node) || keys_find(node, &at))
			continue;
		path = keys_path(node, KS_CURRENT);
		p = keys_read(path, &mtime);
		free(path);
		if (p == NULL)
			continue;
		k = xcalloc(1, sizeof *k);
		strlcpy_(k->node, node, sizeof k->node);
		k->slot[KS_CURRENT] = p;
		k->changed[KS_CURRENT] = mtime;
		keys_insert(at, k);
	}
	closedir(d);
	return (0);
}

/*
 * 1 when node's current key file is there (whether or not it loaded), so
 * that a key of another slot is not what a cut-short change left.
 */
static int
keys_current_exists(const char *node)
{
	struct stat	 sb;
	char		*path;
	int		 rc;

	path = keys_path(node, KS_CURRENT);
	rc = lstat(path, &sb) == 0 || errno != ENOENT;
	free(path);
	return (rc);
}

/*
 * Read the keys of slot s (next or previous).  A key without a current
 * key file, or equal to the current (or, for a next, to the previous) key is
 * what a crash between the file writes of a change leaves: removed with
 * a warning.  Then each node's time of change of the slot: its file's
 * mtime, or for a node without one the directory's (a removal leaves no
 * other trace).
 */
static int
keys_load_slot(enum ks_slot s, char **cause)
{
	DIR		*d;
	struct dirent	*de;
	struct ks_key	*k;
	struct ks_pem	*p;
	struct stat	 sb;
	char		*path, *err = NULL, node[KS_NODE_MAX + 1];
	const char	*why;
	time_t		 mtime;
	size_t		 at, i;

	if ((d = opendir(keys.slotdir[s])) == NULL) {
		xasprintf(cause, "%s: %s", keys.slotdir[s], strerror(errno));
		return (-1);
	}
	while ((de = readdir(d)) != NULL) {
		if (!keys_node_name(de->d_name, node))
			continue;
		path = keys_path(node, s);
		k = keys_find(node, &at) ? keys.v[at] : NULL;
		p = k != NULL ? keys_read(path, &mtime) : NULL;
		why = NULL;
		if (k == NULL && keys_current_exists(node)) {
			/* Unreadable or refused now: nothing to undo. */
			log_warnx("keeping %s: the current key of %s did not "
			    "load", path, node);
			free(path);
			continue;
		}
		if (k == NULL)
			why = "no current key";
		else if (p != NULL && keys_same(k->slot[KS_CURRENT], p->fpr))
			why = "same as the current key";
		else if (p != NULL && keys_same(k->slot[KS_PREVIOUS], p->fpr))
			why = "same as the previous key";
		if (why != NULL) {
			log_warnx("removing %s: %s (a change was cut short)",
			    path, why);
			if (afile_remove(path, &err) == -1) {
				log_warnx("%s", err);
				free(err);
				err = NULL;
			}
		} else if (p != NULL) {
			k->slot[s] = p;
			k->changed[s] = mtime;
			p = NULL;
		}
		keys_pem_free(p);
		free(path);
	}
	closedir(d);
	mtime = stat(keys.slotdir[s], &sb) == 0 ? sb.st_mtime : time(NULL);
	if (mtime > keys.modified)
		keys.modified = mtime;
	for (i = 0; i < keys.n; i++) {
		k = keys.v[i];
		if (k->slot[s] == NULL)
			k->changed[s] = mtime > k->changed[KS_CURRENT] ?
			    mtime : k->changed[KS_CURRENT];
	}
	return (0);
}

/* Open the store: directories, audit log, every key.  0 or -1. */
int
keys_init(const struct conf *conf, char **cause)
{
	const char	*audit = conf_str(conf, "store:audit_log");
	struct stat	 sb;
	enum ks_slot	 s;
	size_t		 i;

	keys.dir = xstrdup(conf_str(conf, "store:dir"));
	if (nodeauth_init(keys.dir, cause) == -1)
		return (-1);
	for (s = KS_NEXT; s < KS_SLOT_MAX; s++) {
		xasprintf(&keys.slotdir[s], "%s/%s", keys.dir,
		    ks_slot_name(s));
		if (mkdir(keys.slotdir[s], 0755) == -1 && errno != EEXIST) {
			xasprintf(cause, "%s: %s", keys.slotdir[s],
			    strerror(errno));
			return (-1);
		}
	}
	if (*audit != '\0')
		keys.audit_path = xstrdup(audit);
	else
		xasprintf(&keys.audit_path, "%s/audit.log", keys.dir);
	keys.audit_fd = open(keys.audit_path,
	    O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	if (keys.audit_fd == -1) {
		xasprintf(cause, "audit log %s: %s", keys.audit_path,
		    strerror(errno));
		return (-1);
	}
	if (keys_load(cause) == -1)
		return (-1);
	/* The previous keys first: a next equal to one is dropped. */
	if (keys_load_slot(KS_PREVIOUS, cause) == -1 ||
	    keys_load_slot(KS_NEXT, cause) == -1)
		return (-1);
	if (stat(keys.dir, &sb) == 0 && sb.st_mtime > keys.modified)
		keys.modified = sb.st_mtime;
	for (i = 0; i < keys.n; i++)
		keys_etag_build(keys.v[i]);
	keys_index_build();
	return (0);
}

/* Release everything. */
void
keys_free(void)
{
	enum ks_slot	s;
	size_t		i;

	for (i = 0; i < keys.n; i++)
		keys_entry_free(keys.v[i]);
	for (s = 0; s < KS_SLOT_MAX; s++)
		free(keys.slotdir[s]);
	free(keys.v);
	free(keys.index);
	free(keys.dir);
	nodeauth_free();
	free(keys.audit_path);
	if (keys.audit_fd != -1)
		close(keys.audit_fd);
	memset(&keys, 0, sizeof keys);
	keys.audit_fd = -1;
}

/* The node's keys, or NULL. */
const struct ks_key *
keys_get(const char *node)
{
	size_t	at;

	return (keys_find(node, &at) ? keys.v[at] : NULL);
}

/* Number of nodes. */
size_t
keys_count(void)
{
	return (keys.n);
}

/*
 * The index text and its length, ETag and Last-Modified (the last change
 * of any node: also that of every unknown node's answer).  Borrowed
 * until the next change.
 */
const char *
keys_index(size_t *len, const char **etag, time_t *modified)
{
	*len = keys.index_len;
	*etag = keys.index_etag;
	*modified = keys.modified;
	return (keys.index);
}

/*
 * Add one audit line to a.  Values are validated tokens (node names,
 * fingerprints, numeric addresses), so no quoting is needed; an empty
 * value is written as "-".
 */
static void
keys_audit_add(struct keys_audit *a, const char *node, const char *action,
    const char *auth, const char *old, const char *new, const char *addr)
{
	struct timespec	ts;
	struct tm	tm;
	char		when[32];
	int		n;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);
	n = snprintf(a->buf + a->len, sizeof a->buf - a->len,
	    "ts=%s.%03ldZ node=%s action=%s auth=%s old=%s new=%s addr=%s\n",
	    when, ts.tv_nsec / 1000000, node, action, auth,
	    *old != '\0' ? old : "-", *new != '\0' ? new : "-",
	    *addr != '\0' ? addr : "-");
	if (n < 0 || (size_t)n >= sizeof a->buf - a->len)
		a->overflow = 1;
	else
		a->len += n;
}

/* Append the lines of a and fsync them.  0 or -1 with *cause. */
static int
keys_audit_write(const struct keys_audit *a, char **cause)
{
	ssize_t	w;

	if (a->overflow) {
		xasprintf(cause, "audit lines too long");
		return (-1);
	}
	do
		w = write(keys.audit_fd, a->buf, a->len);
	while (w == -1 && errno == EINTR);
	if (w != (ssize_t)a->len) {
		xasprintf(cause, "audit log %s: %s", keys.audit_path,
		    w == -1 ? strerror(errno) : "short write");
		return (-1);
	}
	if (fsync(keys.audit_fd) == -1) {
		xasprintf(cause, "audit log %s: fsync: %s", keys.audit_path,
		    strerror(errno));
		return (-1);
	}
	return (0);
}

/* Write node's slot s file with key p, or remove it (p NULL).  0 or -1. */
static int
keys_file(const char *node, enum ks_slot s, const struct ks_pem *p,
    char **cause)
{
	char	*path;
	int	 rc;

	path = keys_path(node, s);
	if (p != NULL)
		rc = afile_write(path, p->pem, p->len, 0644, cause);
	else
		rc = afile_remove(path, cause);
	free(path);
	return (rc);
}

/*
 * Move node to the state want (per slot a key or NULL; NULL in
 * KS_CURRENT removes the node).  A key of want is one of the node's keys
 * (it may change slot) or a new one (keys_pem_new), which this function
 * owns from now on.  The files of the nslots slots in order are written
 * (or removed) in that order, then the audit lines; if any of it fails
 * the files written are restored in the reverse order and nothing
 * changes in memory.  0 or -1 with *cause.
 */
static int
keys_commit(const char *node, struct ks_pem *const *want,
    const enum ks_slot *order, size_t nslots, const struct keys_audit *a,
    char **cause)
{
	struct ks_key	*k;
	struct ks_pem	*old[KS_SLOT_MAX] = { NULL };
	char		*err = NULL;
	time_t		 now = time(NULL);
	size_t		 at, done, i;
	enum ks_slot	 s, t;
	int		 found, keep;

	found = keys_find(node, &at);
	k = found ? keys.v[at] : NULL;
	for (s = 0; s < KS_SLOT_MAX; s++)
		old[s] = k != NULL ? k->slot[s] : NULL;
	for (done = 0; done < nslots; done++) {
		if (keys_file(node, order[done], want[order[done]],
		    cause) == -1)
			break;
	}
	if (done == nslots && keys_audit_write(a, cause) == 0) {
		if (k == NULL) {
			k = xcalloc(1, sizeof *k);
			strlcpy_(k->node, node, sizeof k->node);
			keys_insert(at, k);
		}
		for (s = 0; s < KS_SLOT_MAX; s++) {
			for (t = 0, keep = 0; t < KS_SLOT_MAX; t++)
				keep |= old[s] == want[t];
			if (!keep)
				keys_pem_free(old[s]);
			if (k->slot[s] != want[s] || !found)
				k->changed[s] = now;
			k->slot[s] = want[s];
		}
		if (want[KS_CURRENT] == NULL) {
			memmove(keys.v + at, keys.v + at + 1,
			    (keys.n - at - 1) * sizeof *keys.v);
			keys.n--;
			free(k);
		} else
			keys_etag_build(k);
		keys.modified = now;
		keys_index_build();
		return (0);
	}
	for (i = done; i-- > 0; ) {
		if (keys_file(node, order[i], old[order[i]], &err) == -1) {
			log_warnx("cannot restore %s of %s: %s",
			    ks_slot_name(order[i]), node, err);
			free(err);
			err = NULL;
		}
	}
	for (s = 0; s < KS_SLOT_MAX; s++) {
		for (t = 0, keep = 0; t < KS_SLOT_MAX; t++)
			keep |= want[s] == old[t];
		if (!keep)
			keys_pem_free(want[s]);
	}
	return (-1);
}

/*
 * First registration of node's key (u, validated): action=register.  0 or
 * -1 with *cause.
 */
int
keys_register(const char *node, const struct ks_upload *u, const char *auth,
    const char *addr, char **cause)
{
	static const enum ks_slot	 order[] = { KS_CURRENT };
	struct ks_pem			*want[KS_SLOT_MAX] = { NULL };
	struct keys_audit		 a = { .len = 0 };

	want[KS_CURRENT] = keys_pem_new(u);
	keys_audit_add(&a, node, "register", auth, "", u->fpr, addr);
	return (keys_commit(node, want, order, 1, &a, cause));
}

/*
 * Emergency replacement of node's current key by u: a staged next and a
 * kept previous key are dropped first (removing a key is never unsafe),
 * then the new key written.  action=replace, then action=revoke for each
 * key dropped (not for a previous key that becomes the current one).
 */
int
keys_replace(const char *node, const struct ks_upload *u, const char *auth,
    const char *addr, char **cause)
{
	static const enum ks_slot	 order[] = {
		KS_NEXT, KS_PREVIOUS, KS_CURRENT
	};
	const struct ks_key		*k;
	struct ks_pem			*want[KS_SLOT_MAX] = { NULL };
	struct keys_audit		 a = { .len = 0 };
	enum ks_slot			 s;

	if ((k = keys_get(node)) == NULL) {
		xasprintf(cause, "unknown node");
		return (-1);
	}
	want[KS_CURRENT] = keys_pem_new(u);
	keys_audit_add(&a, node, "replace", auth, k->slot[KS_CURRENT]->fpr,
	    u->fpr, addr);
	for (s = KS_NEXT; s < KS_SLOT_MAX; s++) {
		if (k->slot[s] != NULL && !keys_same(k->slot[s], u->fpr))
			keys_audit_add(&a, node, "revoke", auth,
			    k->slot[s]->fpr, "", addr);
	}
	return (keys_commit(node, want, order, 3, &a, cause));
}

/*
 * Promote node's staged next key: previous := current, current := next,
 * next := none (a previous key kept before is dropped: action=revoke).
 * The previous file first (a crash leaves it equal to the current key:
 * dropped at load), then the current (a crash leaves the next equal to
 * it: dropped at load, the promotion done), then the next removed.
 */
int
keys_promote(const char *node, const char *auth, const char *addr,
    char **cause)
{
	static const enum ks_slot	 order[] = {
		KS_PREVIOUS, KS_CURRENT, KS_NEXT
	};
	const struct ks_key		*k;
	struct ks_pem			*want[KS_SLOT_MAX] = { NULL };
	struct keys_audit		 a = { .len = 0 };

	if ((k = keys_get(node)) == NULL || k->slot[KS_NEXT] == NULL) {
		xasprintf(cause, "no next key");
		return (-1);
	}
	want[KS_PREVIOUS] = k->slot[KS_CURRENT];
	want[KS_CURRENT] = k->slot[KS_NEXT];
	keys_audit_add(&a, node, "promote", auth, k->slot[KS_CURRENT]->fpr,
	    k->slot[KS_NEXT]->fpr, addr);
	if (k->slot[KS_PREVIOUS] != NULL)
		keys_audit_add(&a, node, "revoke", auth,
		    k->slot[KS_PREVIOUS]->fpr, "", addr);
	return (keys_commit(node, want, order, 3, &a, cause));
}

/*
 * Stage u as node's next key (replacing a staged one): action=stage,
 * old= the next key replaced.  The caller checked that u differs from
 * the current and previous keys.
 */
int
keys_stage(const char *node, const struct ks_upload *u, const char *auth,
    const char *addr, char **cause)
{
	static const enum ks_slot	 order[] = { KS_NEXT };
	const struct ks_key		*k;
	struct ks_pem			*want[KS_SLOT_MAX];
	struct keys_audit		 a = { .len = 0 };

	if ((k = keys_get(node)) == NULL) {
		xasprintf(cause, "unknown node");
		return (-1);
	}
	memcpy(want, k->slot, sizeof want);
	want[KS_NEXT] = keys_pem_new(u);
	keys_audit_add(&a, node, "stage", auth, k->slot[KS_NEXT] != NULL ?
	    k->slot[KS_NEXT]->fpr : "", u->fpr, addr);
	return (keys_commit(node, want, order, 1, &a, cause));
}

/*
 * Drop node's key in slot s (next: action=unstage; previous:
 * action=retire).  0 or -1 with *cause.
 */
int
keys_drop(const char *node, enum ks_slot s, const char *auth,
    const char *addr, char **cause)
{
	const struct ks_key	*k;
	struct ks_pem		*want[KS_SLOT_MAX];
	struct keys_audit	 a = { .len = 0 };

	if (s == KS_CURRENT || (k = keys_get(node)) == NULL ||
	    k->slot[s] == NULL) {
		xasprintf(cause, "no %s key", ks_slot_name(s));
		return (-1);
	}
	memcpy(want, k->slot, sizeof want);
	want[s] = NULL;
	keys_audit_add(&a, node, s == KS_NEXT ? "unstage" : "retire", auth,
	    k->slot[s]->fpr, "", addr);
	return (keys_commit(node, want, &s, 1, &a, cause));
}

/*
 * Revoke node: its current key first (the revocation holds from the
 * first file removed; a next or previous left by a crash is dropped at
 * load), then the next and previous keys, one action=revoke line each.
 */
int
keys_delete(const char *node, const char *auth, const char *addr,
    char **cause)
{
	static const enum ks_slot	 order[] = {
		KS_CURRENT, KS_NEXT, KS_PREVIOUS
	};
	const struct ks_key		*k;
	struct ks_pem			*want[KS_SLOT_MAX] = { NULL };
	struct keys_audit		 a = { .len = 0 };
	size_t				 i;

	if ((k = keys_get(node)) == NULL) {
		xasprintf(cause, "unknown node");
		return (-1);
	}
	for (i = 0; i < KS_SLOT_MAX; i++) {
		if (k->slot[order[i]] != NULL)
			keys_audit_add(&a, node, "revoke", auth,
			    k->slot[order[i]]->fpr, "", addr);
	}
	return (keys_commit(node, want, order, 3, &a, cause));
}
