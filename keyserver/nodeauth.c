/*
 * nodeauth: what authorises a node's signed requests besides its key,
 * kept on disk beside the keys:
 *
 *   <dir>/tokens/<node>	the hex SHA-256 of its enrolment token (0600,
 *			in a 0700 directory); the token itself is never
 *			stored or logged
 *   <dir>/seen/<node>	the timestamp of its last accepted signed request
 *			and the nonces used at that second, so that no
 *			request can be replayed, not even after a restart
 */
#include <sys/stat.h>
#include <sys/types.h>

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "lib/afile.h"
#include "lib/log.h"
#include "lib/rsakey.h"
#include "lib/xmalloc.h"
#include "keyserver/ks.h"

#define NODEAUTH_SEEN_MAX	16	/* signed requests of a node a second */
#define NODEAUTH_SEEN_LEN	(21 + NODEAUTH_SEEN_MAX * (KS_NONCE_MAX + 1) + 2)

static struct {
	char	*tokdir;
	char	*seendir;
} na;

static int	nodeauth_seen_parse(const char *, long long *, char **);

/*
 * Create dir (0755), dir/tokens and, when seendir is not NULL, dir/seen
 * (both 0700) when missing; the paths in *tokdir and *seendir (caller
 * frees).  0 or -1 with *cause.
 */
static int
nodeauth_mkdirs(const char *dir, char **tokdir, char **seendir,
    char **cause)
{
	*tokdir = NULL;
	if (seendir != NULL)
		*seendir = NULL;
	if (mkdir(dir, 0755) == -1 && errno != EEXIST) {
		xasprintf(cause, "store:dir: %s: %s", dir, strerror(errno));
		return (-1);
	}
	xasprintf(tokdir, "%s/tokens", dir);
	if (mkdir(*tokdir, 0700) == -1 && errno != EEXIST) {
		xasprintf(cause, "%s: %s", *tokdir, strerror(errno));
		goto fail;
	}
	if (seendir == NULL)
		return (0);
	xasprintf(seendir, "%s/seen", dir);
	if (mkdir(*seendir, 0700) == -1 && errno != EEXIST) {
		xasprintf(cause, "%s: %s", *seendir, strerror(errno));
		free(*seendir);
		*seendir = NULL;
		goto fail;
	}
	return (0);
fail:
	free(*tokdir);
	*tokdir = NULL;
	return (-1);
}

/* Open: the directories under the store's dir.  0 or -1 with *cause. */
int
nodeauth_init(const char *dir, char **cause)
{
	return (nodeauth_mkdirs(dir, &na.tokdir, &na.seendir, cause));
}

/* Release. */
void
nodeauth_free(void)
{
	free(na.tokdir);
	free(na.seendir);
	memset(&na, 0, sizeof na);
}

/* The path of a node's token hash file (caller frees). */
static char *
nodeauth_token_path(const char *node)
{
	char	*p;

	xasprintf(&p, "%s/%s", na.tokdir, node);
	return (p);
}

/*
 * "token add": make a random token for node, store its SHA-256 (hex) in
 * <dir>/tokens/<node> (replacing an older one) and return the token in
 * *token (hex, caller frees).  Works without a running server.  0 or -1.
 */
int
nodeauth_token_add(const struct conf *conf, const char *node, char **token,
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
	if (nodeauth_mkdirs(conf_str(conf, "store:dir"), &tokdir, NULL,
	    cause) == -1)
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
nodeauth_token_check(const char *node, const char *token, const char **why)
{
	char	*path, *buf = NULL, *err = NULL, hash[65];
	size_t	 len;
	int	 rc, ok;

	path = nodeauth_token_path(node);
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
nodeauth_token_consume(const char *node, char **cause)
{
	char	*path;
	int	 rc;

	path = nodeauth_token_path(node);
	rc = afile_remove(path, cause);
	free(path);
	return (rc);
}

/*
 * Check a seen file's text: "<ts> <nonce> ...\n" with 1 to NODEAUTH_SEEN_MAX
 * well-formed nonces and nothing after.  0 with *ts and *end (at the
 * newline), or -1.
 */
static int
nodeauth_seen_parse(const char *buf, long long *ts, char **end)
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
		if ((size_t)(sp - p) >= sizeof nonce || ++count > NODEAUTH_SEEN_MAX)
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
 * NODEAUTH_SEEN_REPLAY, or NODEAUTH_SEEN_BUSY (NODEAUTH_SEEN_MAX requests at that
 * second already), with *why (static); -1 with *cause.
 */
int
nodeauth_seen(const char *node, long long ts, const char *nonce,
    const char **why, char **cause)
{
	char		*path, *buf = NULL, *end = NULL, line[NODEAUTH_SEEN_LEN];
	char		 pat[KS_NONCE_MAX + 2];
	const char	*p;
	long long	 last = 0;
	size_t		 len;
	int		 rc, n;

	xasprintf(&path, "%s/%s", na.seendir, node);
	rc = afile_read(path, NODEAUTH_SEEN_LEN, &buf, &len, cause);
	if (rc == -1)
		goto out;
	if (rc == 0 && (strlen(buf) != len ||
	    nodeauth_seen_parse(buf, &last, &end) == -1)) {
		xasprintf(cause, "%s: not a \"<ts> <nonce>...\" line", path);
		rc = -1;
		goto out;
	}
	if (rc == 0 && ts < last) {
		*why = "timestamp older than the last accepted request of "
		    "this node";
		rc = NODEAUTH_SEEN_REPLAY;
		goto out;
	}
	if (rc == 0 && ts == last) {
		n = snprintf(pat, sizeof pat, " %s", nonce);
		for (p = buf; (p = strstr(p, pat)) != NULL; p += n) {
			if (p[n] == ' ' || p[n] == '\n') {
				*why = "nonce already used";
				rc = NODEAUTH_SEEN_REPLAY;
				goto out;
			}
		}
		n = snprintf(line, sizeof line, "%.*s%s\n", (int)(end - buf),
		    buf, pat);
	} else
		n = snprintf(line, sizeof line, "%lld %s\n", ts, nonce);
	if (n < 0 || (size_t)n >= sizeof line ||
	    nodeauth_seen_parse(line, &last, &end) == -1) {
		*why = "too many signed requests in one second, retry";
		rc = NODEAUTH_SEEN_BUSY;
		goto out;
	}
	rc = afile_write(path, line, (size_t)n, 0600, cause);
out:
	free(buf);
	free(path);
	return (rc);
}
