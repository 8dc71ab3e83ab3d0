/*
 * keys: the key table.  Every key lives in memory (a sorted array, so a
 * GET does no disk I/O and the index comes out sorted) and in
 * <dir>/<node>.pub, written with afile_write.  Each change appends one
 * logfmt line to the audit log (O_APPEND, fsync).  Enrolment tokens are
 * kept as the hex SHA-256 of the token in <dir>/tokens/<node>.  The last
 * accepted signed request of each node (timestamp and the nonces used at
 * it) is kept in <dir>/seen/<node>, so that no request can be replayed,
 * not even after a restart.
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
#define KEYS_SEEN_MAX	16	/* signed requests of a node in one second */
#define KEYS_SEEN_LEN	(21 + KEYS_SEEN_MAX * (KS_NONCE_MAX + 1) + 2)

static struct {
	char		 *dir;
	char		 *tokdir;
	char		 *seendir;
	char		 *audit_path;
	int		  audit_fd;
	struct ks_key	**v;		/* sorted by node */
	size_t		  n, cap;
	char		 *index;	/* "<node> <fpr>\n" lines */
	size_t		  index_len;
} keys = { .audit_fd = -1 };

static int	keys_find(const char *, size_t *);
static void	keys_index_build(void);
static int	keys_load(char **);
static int	keys_mkdirs(const char *, char **, char **);
static int	keys_audit(const char *, const char *, const char *,
		    const char *, const char *, const char *, char **);
static char	*keys_path(const char *);
static char	*keys_token_path(const char *);
static int	 keys_seen_parse(const char *, long long *, char **);
static void	keys_entry_free(struct ks_key *);
static void	keys_insert(size_t, struct ks_key *);

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

/* Rebuild the cached index text. */
static void
keys_index_build(void)
{
	size_t	i, len = 0, off = 0;
	int	n;

	for (i = 0; i < keys.n; i++)
		len += strlen(keys.v[i]->node) + strlen(keys.v[i]->fpr) + 2;
	free(keys.index);
	keys.index = xmalloc(len + 1);
	keys.index[0] = '\0';
	for (i = 0; i < keys.n; i++) {
		n = snprintf(keys.index + off, len + 1 - off, "%s %s\n",
		    keys.v[i]->node, keys.v[i]->fpr);
		off += n;
	}
	keys.index_len = off;
}

/* The path of a node's key file (caller frees). */
static char *
keys_path(const char *node)
{
	char	*p;

	xasprintf(&p, "%s/%s%s", keys.dir, node, KEYS_SUFFIX);
	return (p);
}

/* The path of a node's token hash file (caller frees). */
static char *
keys_token_path(const char *node)
{
	char	*p;

	xasprintf(&p, "%s/%s", keys.tokdir, node);
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

/* Free one entry. */
static void
keys_entry_free(struct ks_key *k)
{
	if (k == NULL)
		return;
	free(k->pem);
	free(k);
}

/* Create dir (0755) and dir/tokens (0700) when missing; 0 or -1. */
static int
keys_mkdirs(const char *dir, char **tokdir, char **cause)
{
	if (mkdir(dir, 0755) == -1 && errno != EEXIST) {
		xasprintf(cause, "store:dir: %s: %s", dir, strerror(errno));
		return (-1);
	}
	xasprintf(tokdir, "%s/tokens", dir);
	if (mkdir(*tokdir, 0700) == -1 && errno != EEXIST) {
		xasprintf(cause, "%s: %s", *tokdir, strerror(errno));
		free(*tokdir);
		*tokdir = NULL;
		return (-1);
	}
	return (0);
}

/* Read every <node>.pub of the directory into memory. */
static int
keys_load(char **cause)
{
	DIR			*d;
	struct dirent		*de;
	struct ks_key		*k;
	struct rsakey_info	 info;
	const char		*why;
	char			*path, *pem, *err = NULL;
	char			 node[KS_NODE_MAX + 1];
	size_t			 len, nl, at;
	int			 rc;

	if ((d = opendir(keys.dir)) == NULL) {
		xasprintf(cause, "%s: %s", keys.dir, strerror(errno));
		return (-1);
	}
	while ((de = readdir(d)) != NULL) {
		nl = strlen(de->d_name);
		if (de->d_name[0] == '.' || nl <= strlen(KEYS_SUFFIX) ||
		    strcmp(de->d_name + nl - strlen(KEYS_SUFFIX),
		    KEYS_SUFFIX) != 0)
			continue;
		nl -= strlen(KEYS_SUFFIX);
		if (nl > KS_NODE_MAX)
			continue;
		memcpy(node, de->d_name, nl);
		node[nl] = '\0';
		if (!ks_node_valid(node, &why) || keys_find(node, &at))
			continue;
		path = keys_path(node);
		rc = afile_read(path, RSAKEY_PEM_MAX, &pem, &len, &err);
		if (rc == 0 && rsakey_pub_validate(pem, len, RSAKEY_PEM_MAX,
		    &info, &err) == -1)
			rc = -1;
		if (rc != 0) {
			log_warnx("skipping %s: %s", path,
			    err != NULL ? err : "vanished");
			free(err);
			err = NULL;
			free(pem);
			free(path);
			continue;
		}
		free(path);
		k = xcalloc(1, sizeof *k);
		strlcpy_(k->node, node, sizeof k->node);
		k->pem = pem;
		k->len = len;
		strlcpy_(k->fpr, info.fingerprint, sizeof k->fpr);
		snprintf(k->etag, sizeof k->etag, "\"%s\"", k->fpr);
		keys_insert(at, k);
	}
	closedir(d);
	return (0);
}

/* Open the store: directories, audit log, every key.  0 or -1. */
int
keys_init(const struct conf *conf, char **cause)
{
	const char	*audit = conf_str(conf, "store:audit_log");

	keys.dir = xstrdup(conf_str(conf, "store:dir"));
	if (keys_mkdirs(keys.dir, &keys.tokdir, cause) == -1)
		return (-1);
	xasprintf(&keys.seendir, "%s/seen", keys.dir);
	if (mkdir(keys.seendir, 0700) == -1 && errno != EEXIST) {
		xasprintf(cause, "%s: %s", keys.seendir, strerror(errno));
		return (-1);
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
	keys_index_build();
	return (0);
}

/* Release everything. */
void
keys_free(void)
{
	size_t	i;

	for (i = 0; i < keys.n; i++)
		keys_entry_free(keys.v[i]);
	free(keys.v);
	free(keys.index);
	free(keys.dir);
	free(keys.tokdir);
	free(keys.seendir);
	free(keys.audit_path);
	if (keys.audit_fd != -1)
		close(keys.audit_fd);
	memset(&keys, 0, sizeof keys);
	keys.audit_fd = -1;
}

/* The key of a node, or NULL. */
const struct ks_key *
keys_get(const char *node)
{
	size_t	at;

	return (keys_find(node, &at) ? keys.v[at] : NULL);
}

/* Number of keys. */
size_t
keys_count(void)
{
	return (keys.n);
}

/* The index text and its length (borrowed until the next change). */
const char *
keys_index(size_t *len)
{
	*len = keys.index_len;
	return (keys.index);
}

/*
 * Append one audit line and fsync it.  Values are validated tokens
 * (node names, fingerprints, numeric addresses), so no quoting is needed;
 * an empty value is written as "-".  0 or -1 with *cause.
 */
static int
keys_audit(const char *node, const char *action, const char *auth,
    const char *old, const char *new, const char *addr, char **cause)
{
	struct timespec	ts;
	struct tm	tm;
	char		buf[512], when[32];
	int		n;
	ssize_t		w;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);
	n = snprintf(buf, sizeof buf, "ts=%s.%03ldZ node=%s action=%s "
	    "auth=%s old=%s new=%s addr=%s\n", when, ts.tv_nsec / 1000000,
	    node, action, auth, *old != '\0' ? old : "-",
	    *new != '\0' ? new : "-",
	    *addr != '\0' ? addr : "-");
	if (n < 0 || (size_t)n >= sizeof buf) {
		xasprintf(cause, "audit line too long");
		return (-1);
	}
	do
		w = write(keys.audit_fd, buf, n);
	while (w == -1 && errno == EINTR);
	if (w != n) {
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

/*
 * Register or replace node's key (pem, validated, len bytes, info from
 * rsakey_pub_validate): write the file, append the audit line (the file
 * is restored when that fails), update memory.  action is "register" or
 * "replace", auth how it was authorised, addr the source address.  0 or
 * -1 with *cause.
 */
int
keys_put(const char *node, const char *pem, size_t len,
    const struct rsakey_info *info, const char *action, const char *auth,
    const char *addr, char **cause)
{
	struct ks_key	*k, *old = NULL;
	char		*path, *err = NULL;
	size_t		 at;
	int		 found;

	found = keys_find(node, &at);
	if (found)
		old = keys.v[at];
	path = keys_path(node);
	if (afile_write(path, pem, len, 0644, cause) == -1) {
		free(path);
		return (-1);
	}
	if (keys_audit(node, action, auth, old != NULL ? old->fpr : "",
	    info->fingerprint, addr, cause) == -1) {
		if (old != NULL)
			afile_write(path, old->pem, old->len, 0644, &err);
		else
			afile_remove(path, &err);
		if (err != NULL) {
			log_warnx("cannot restore %s: %s", path, err);
			free(err);
		}
		free(path);
		return (-1);
	}
	free(path);
	k = xcalloc(1, sizeof *k);
	strlcpy_(k->node, node, sizeof k->node);
	k->pem = xstrndup(pem, len);
	k->len = len;
	strlcpy_(k->fpr, info->fingerprint, sizeof k->fpr);
	snprintf(k->etag, sizeof k->etag, "\"%s\"", k->fpr);
	if (found) {
		keys.v[at] = k;
		keys_entry_free(old);
	} else {
		keys_insert(at, k);
	}
	keys_index_build();
	return (0);
}

/*
 * Revoke node's key: remove the file, append the audit line (auth says
 * how it was authorised), drop it from memory.  0 or -1 with *cause.
 */
int
keys_delete(const char *node, const char *auth, const char *addr,
    char **cause)
{
	struct ks_key	*k;
	char		*path, *err = NULL;
	size_t		 at;

	if (!keys_find(node, &at)) {
		xasprintf(cause, "unknown node");
		return (-1);
	}
	k = keys.v[at];
	path = keys_path(node);
	if (afile_remove(path, cause) == -1) {
		free(path);
		return (-1);
	}
	if (keys_audit(node, "revoke", auth, k->fpr, "", addr, cause) == -1) {
		if (afile_write(path, k->pem, k->len, 0644, &err) == -1) {
			log_warnx("cannot restore %s: %s", path, err);
			free(err);
		}
		free(path);
		return (-1);
	}
	free(path);
	memmove(keys.v + at, keys.v + at + 1,
	    (keys.n - at - 1) * sizeof *keys.v);
	keys.n--;
	keys_entry_free(k);
	keys_index_build();
	return (0);
}

/*
 * "token add": make a random token for node, store its SHA-256 (hex) in
 * <dir>/tokens/<node> (replacing an older one) and return the token in
 * *token (hex, caller frees).  Works without a running server.  0 or -1.
 */
int
keys_token_add(const struct conf *conf, const char *node, char **token,
    char **cause)
{
	unsigned char	 raw[KS_TOKEN_BYTES];
	char		 hex[KS_TOKEN_BYTES * 2 + 1], hash[65], line[66];
	char		*tokdir = NULL, *path;
	const char	*why;
	size_t		 i;
	int		 rc;

	if (!ks_node_valid(node, &why)) {
		xasprintf(cause, "%s", why);
		return (-1);
	}
	if (keys_mkdirs(conf_str(conf, "store:dir"), &tokdir, cause) == -1)
		return (-1);
	if (RAND_bytes(raw, sizeof raw) != 1) {
		xasprintf(cause, "RAND_bytes failed");
		free(tokdir);
		return (-1);
	}
	for (i = 0; i < sizeof raw; i++)
		snprintf(hex + 2 * i, 3, "%02x", raw[i]);
	OPENSSL_cleanse(raw, sizeof raw);
	rsakey_sha256_hex(hex, strlen(hex), hash);
	snprintf(line, sizeof line, "%s\n", hash);
	xasprintf(&path, "%s/%s", tokdir, node);
	rc = afile_write(path, line, strlen(line), 0600, cause);
	free(path);
	free(tokdir);
	if (rc == -1) {
		OPENSSL_cleanse(hex, sizeof hex);
		return (-1);
	}
	*token = xstrdup(hex);
	OPENSSL_cleanse(hex, sizeof hex);
	return (0);
}

/*
 * Check token against node's stored hash in constant time.  1 when it
 * matches, 0 with *why (static) when not.  The token is never logged.
 */
int
keys_token_check(const char *node, const char *token, const char **why)
{
	char	*path, *buf = NULL, *err = NULL, hash[65];
	size_t	 len;
	int	 rc, ok;

	path = keys_token_path(node);
	rc = afile_read(path, 256, &buf, &len, &err);
	free(path);
	if (rc != 0) {
		if (rc == -1) {
			log_warnx("token of %s: %s", node, err);
			free(err);
		}
		free(buf);
		*why = "no enrolment token for this node";
		return (0);
	}
	rsakey_sha256_hex(token, strlen(token), hash);
	ok = len >= 64 && CRYPTO_memcmp(buf, hash, 64) == 0;
	OPENSSL_cleanse(hash, sizeof hash);
	free(buf);
	if (!ok)
		*why = "bad enrolment token";
	return (ok);
}

/* Remove node's token (it is used up); 0 or -1 with *cause. */
int
keys_token_consume(const char *node, char **cause)
{
	char	*path;
	int	 rc;

	path = keys_token_path(node);
	rc = afile_remove(path, cause);
	free(path);
	return (rc);
}

/*
 * Check a seen file's text: "<ts> <nonce> ...\n" with 1 to KEYS_SEEN_MAX
 * well-formed nonces and nothing after.  0 with *ts and *end (at the
 * newline), or -1.
 */
static int
keys_seen_parse(const char *buf, long long *ts, char **end)
{
	const char	*errstr, *p, *sp;
	char		 num[24], nonce[KS_NONCE_MAX + 1];
	size_t		 n;
	int		 count = 0;

	n = strspn(buf, "0123456789");
	if (n == 0 || n >= sizeof num || buf[n] != ' ')
		return (-1);
	memcpy(num, buf, n);
	num[n] = '\0';
	if (strtonum_(num, 0, LLONG_MAX, ts, &errstr) == -1)
		return (-1);
	for (p = buf + n; *p == ' '; p = sp) {
		p++;
		sp = p + strcspn(p, " \n");
		if ((size_t)(sp - p) >= sizeof nonce || ++count > KEYS_SEEN_MAX)
			return (-1);
		memcpy(nonce, p, sp - p);
		nonce[sp - p] = '\0';
		if (!guard_nonce_valid(nonce))
			return (-1);
	}
	if (count == 0 || p[0] != '\n' || p[1] != '\0')
		return (-1);
	*end = (char *)p;
	return (0);
}

/*
 * Accept a signed request of node (timestamp ts, nonce) once: it must be
 * newer than the last accepted one, or as old with a nonce not used at
 * that second.  Records it in <dir>/seen/<node> (afile_write: durable)
 * before the caller acts on the request.  Returns 0 when recorded;
 * KEYS_SEEN_REPLAY, or KEYS_SEEN_BUSY (KEYS_SEEN_MAX requests at that
 * second already), with *why (static); -1 with *cause.
 */
int
keys_seen(const char *node, long long ts, const char *nonce,
    const char **why, char **cause)
{
	char		*path, *buf = NULL, *end = NULL, line[KEYS_SEEN_LEN];
	char		 pat[KS_NONCE_MAX + 2];
	const char	*p;
	long long	 last = 0;
	size_t		 len;
	int		 rc, n;

	xasprintf(&path, "%s/%s", keys.seendir, node);
	rc = afile_read(path, KEYS_SEEN_LEN, &buf, &len, cause);
	if (rc == -1)
		goto out;
	if (rc == 0 && (strlen(buf) != len ||
	    keys_seen_parse(buf, &last, &end) == -1)) {
		xasprintf(cause, "%s: not a \"<ts> <nonce>...\" line", path);
		rc = -1;
		goto out;
	}
	if (rc == 0 && ts < last) {
		*why = "timestamp older than the last accepted request of "
		    "this node";
		rc = KEYS_SEEN_REPLAY;
		goto out;
	}
	if (rc == 0 && ts == last) {
		n = snprintf(pat, sizeof pat, " %s", nonce);
		for (p = buf; (p = strstr(p, pat)) != NULL; p += n) {
			if (p[n] == ' ' || p[n] == '\n') {
				*why = "nonce already used";
				rc = KEYS_SEEN_REPLAY;
				goto out;
			}
		}
		n = snprintf(line, sizeof line, "%.*s%s\n", (int)(end - buf),
		    buf, pat);
	} else
		n = snprintf(line, sizeof line, "%lld %s\n", ts, nonce);
	if (n < 0 || (size_t)n >= sizeof line ||
	    keys_seen_parse(line, &last, &end) == -1) {
		*why = "too many signed requests in one second, retry";
		rc = KEYS_SEEN_BUSY;
		goto out;
	}
	rc = afile_write(path, line, (size_t)n, 0600, cause);
out:
	free(buf);
	free(path);
	return (rc);
}
