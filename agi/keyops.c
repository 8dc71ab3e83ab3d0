/*
 * keyops: the node's own key pair, <key_dir>/<name>.key and <name>.pub,
 * for the console's "key generate", "key upload", "key rotate" and "key
 * show" (docs/console.md).
 *
 * Upload (what iaxkey-server checks): PUT <upload_url> ({node} replaced),
 * body the .pub file, headers X-Iaxkey-Timestamp, X-Iaxkey-Nonce and
 * X-Iaxkey-Signature (the uploaded key's signature of "PUT\n<node>\n<ts>\n
 * <nonce>\n<sha256 hex of body>"), X-Iaxkey-Current-Signature (the same
 * string signed by the key in use; for an upload that is the uploaded key
 * itself, so uploading a registered key again is answered "unchanged")
 * and, for "key upload" when [keyserver] enroll_token is set,
 * X-Iaxkey-Token.  Success is 200 or 201 with the key's fingerprint in
 * the body.  Neither the token nor a signature is ever logged or shown.
 *
 * Rotation:
 *
 *   generate .key.new + .pub.new ── PUT (new key + current key) ──┐
 *   ┌─────────────────────────────────────────────────────────────┘
 *   ├─ 200/201 with the new fingerprint ──► rename .key.new over .key,
 *   │    then .pub.new over .pub, fsync the directory, reload res_crypto
 *   ├─ an HTTP refusal, or no connection ──► remove the .new files
 *   └─ outcome unknown (timeout or reset after sending, 2xx without the
 *        fingerprint, shutdown) ──► keep the .new files: the key server
 *        may hold the new key, whose private half must not be lost
 *   In every case but the first the old pair stays in use.
 *
 * The private key is renamed first: between the two renames .key is the
 * new key (which the server now publishes, so outbound calls verify) and
 * only our .pub, which nothing signs with, lags.  The other order would
 * sign calls with a key the server no longer has.  A crash in between
 * leaves .pub.new alone, matching .key: the next upload or rotate
 * finishes the rename.  Leftover .key.new files block "key rotate" until
 * the operator has compared them with the server (docs/console.md).
 *
 * Key generation (RSA 1024, some ms) and the small file writes run on
 * the loop, as every other write of ours does; the request is async.
 */
#include <sys/types.h>
#include <sys/random.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "agi/iaxkeyd.h"
#include "lib/afile.h"
#include "lib/http.h"
#include "lib/rsakey.h"
#include "lib/xmalloc.h"

#define KEYOPS_NONCE_BYTES	16	/* 32 hex digits */
#define KEYOPS_REASON_MAX	200	/* of a server's reason */

struct keyop {
	int		 rotate;
	struct http_req	*req;
	keyops_cb	 cb;
	void		*arg;
	char		*key, *pub, *key_new, *pub_new;
	char		 node[KEYS_NODE_MAX + 1];
	char		 fpr[72];	/* uploaded */
	char		 old_fpr[72];	/* rotate: in use */
	uint64_t	 t0;
};

/* One operation at a time, and what the last upload did. */
static struct {
	struct keyop	*op;
	struct {
		time_t	 t;		/* 0: none since start */
		char	 what[8];
		int	 ok;
		long	 status;
		char	 reason[1024];
		char	 fingerprint[72];
	} last;
} ko;

static int	keyops_paths(char **, char **, char **, char **, char **);
static int	keyops_finish_swap(const char *, const char *, const char *,
		    char **);
static int	keyops_start(struct keyop *, const char *, const char *,
		    char **);
static void	keyops_done_cb(void *, const struct http_resp *);
static int	keyops_sent(const struct http_resp *);
static void	keyops_end(struct keyop *, struct keyops_result *);
static void	keyops_op_free(struct keyop *);
static char	*keyops_url(const char *, const char *, char **);
static void	keyops_mode(char *, size_t, const char *);
static int	keyops_sync_dir(const char *);

/*
 * The paths of the own pair (and of the .new pair), from [node] name and
 * [asterisk] key_dir (caller frees all four).  0, or -1 with *cause.
 */
static int
keyops_paths(char **key, char **pub, char **key_new, char **pub_new,
    char **cause)
{
	const char	*name = conf_str(ikd->conf, "node:name");
	const char	*dir = conf_str(ikd->conf, "asterisk:key_dir");

	if (*name == '\0') {
		*cause = xstrdup("[node] name is not set");
		return (-1);
	}
	xasprintf(key, "%s/%s.key", dir, name);
	xasprintf(pub, "%s/%s.pub", dir, name);
	if (key_new != NULL)
		xasprintf(key_new, "%s/%s.key.new", dir, name);
	if (pub_new != NULL)
		xasprintf(pub_new, "%s/%s.pub.new", dir, name);
	return (0);
}

/*
 * The path <key_dir>/<name><ext> of a file of the own pair (caller
 * frees), or NULL with *cause when [node] name is not set.
 */
char *
keyops_file(const char *ext, char **cause)
{
	const char	*name = conf_str(ikd->conf, "node:name");
	char		*path;

	if (*name == '\0') {
		*cause = xstrdup("[node] name is not set");
		return (NULL);
	}
	xasprintf(&path, "%s/%s%s", conf_str(ikd->conf, "asterisk:key_dir"),
	    name, ext);
	return (path);
}

/* 1 while a key upload or a "key rotate now" runs. */
int
keyops_busy(void)
{
	return (ko.op != NULL);
}

/*
 * Create the own pair as iaxkeyd -k does (never overwriting): *key and
 * *pub get the paths (caller frees), fpr the fingerprint.  0 or -1 with
 * *cause.
 */
int
keyops_generate(char **key, char **pub, char *fpr, size_t size,
    char **cause)
{
	struct rsakey_info	info;

	*key = *pub = NULL;
	if (keyops_paths(key, pub, NULL, NULL, cause) == -1)
		return (-1);
	if (rsakey_generate(*key, *pub, cause) == -1 ||
	    rsakey_priv_check(*key, &info, cause) == -1)
		return (-1);
	strlcpy_(fpr, info.fingerprint, size);
	log_info("own key generated: %s (%s)", *key, info.fingerprint);
	return (0);
}

/*
 * A crash between the two renames of a rotation left pub_new whose key
 * matches key: rename it over pub.  0 when there was nothing to do or it
 * is done, -1 with *cause.
 */
static int
keyops_finish_swap(const char *key, const char *pub, const char *pub_new,
    char **cause)
{
	struct rsakey_info	 ki, pi;
	struct stat		 st;
	char			*pem = NULL, *why = NULL;
	size_t			 len;
	int			 rc = -1;

	if (lstat(pub_new, &st) == -1)
		return (0);
	if (rsakey_priv_check(key, &ki, cause) == -1)
		return (-1);
	if (afile_read(pub_new, RSAKEY_PEM_MAX, &pem, &len, cause) != 0 ||
	    rsakey_pub_validate(pem, len, RSAKEY_PEM_MAX, &pi, &why) == -1 ||
	    strcmp(ki.fingerprint, pi.fingerprint) != 0) {
		if (*cause == NULL)
			xasprintf(cause, "%s is left over from a rotation and "
			    "does not match %s%s%s", pub_new, key,
			    why != NULL ? ": " : "", why != NULL ? why : "");
		goto out;
	}
	if (rename(pub_new, pub) == -1) {
		xasprintf(cause, "rename %s: %s", pub_new, strerror(errno));
		goto out;
	}
	log_warnx("own key: finished an interrupted rotation (%s)",
	    ki.fingerprint);
	rc = 0;
out:
	free(why);
	free(pem);
	return (rc);
}

/*
 * Start "key upload" (rotate 0) or "key rotate" (rotate 1).  Returns 0
 * with *opp set: cb(arg, result) runs later from the loop unless
 * keyops_cancel(*opp); or -1 with *cause when nothing was started (the
 * key pair is then as it was).
 */
int
keyops_upload(int rotate, keyops_cb cb, void *arg, struct keyop **opp,
    char **cause)
{
	struct keyop		*op;
	struct rsakey_info	 info;
	struct stat		 st;
	const char		*sign_with;

	*opp = NULL;
	if (ko.op != NULL) {
		*cause = xstrdup("a key upload or rotation is already running");
		return (-1);
	}
	op = xcalloc(1, sizeof *op);
	op->rotate = rotate;
	op->cb = cb;
	op->arg = arg;
	op->t0 = now_ms();
	if (keyops_paths(&op->key, &op->pub, &op->key_new, &op->pub_new,
	    cause) == -1)
		goto fail;
	strlcpy_(op->node, conf_str(ikd->conf, "node:name"), sizeof op->node);
	if (!keys_node_ok(op->node)) {
		xasprintf(cause, "[node] name %s cannot be a key server node "
		    "name", op->node);
		goto fail;
	}
	if (keyops_finish_swap(op->key, op->pub, op->pub_new, cause) == -1)
		goto fail;
	if (rsakey_priv_check(op->key, &info, cause) == -1)
		goto fail;
	strlcpy_(op->old_fpr, info.fingerprint, sizeof op->old_fpr);
	strlcpy_(op->fpr, info.fingerprint, sizeof op->fpr);
	sign_with = op->key;
	if (rotate) {
		if (lstat(op->key_new, &st) == 0) {
			xasprintf(cause, "%s is left over from an interrupted "
			    "rotation: compare it with the key server (see "
			    "key show) before removing it", op->key_new);
			goto fail;
		}
		if (rsakey_generate(op->key_new, op->pub_new, cause) == -1) {
			free(op->pub_new);	/* not ours to remove */
			op->pub_new = NULL;
			goto fail;
		}
		if (rsakey_priv_check(op->key_new, &info, cause) == -1)
			goto fail_new;
		strlcpy_(op->fpr, info.fingerprint, sizeof op->fpr);
		sign_with = op->key_new;
	}
	if (keyops_start(op, sign_with, rotate ? op->pub_new : op->pub,
	    cause) == -1) {
		if (rotate)
			goto fail_new;
		goto fail;
	}
	ko.op = op;
	*opp = op;
	return (0);
fail_new:
	afile_remove(op->key_new, NULL);
	afile_remove(op->pub_new, NULL);
fail:
	keyops_op_free(op);
	return (-1);
}

/*
 * Sign and send the PUT of the public key file pub, signed by the key
 * file sign_with and (as X-Iaxkey-Current-Signature) by op->key.  0 or
 * -1 with *cause.
 */
static int
keyops_start(struct keyop *op, const char *sign_with, const char *pub,
    char **cause)
{
	struct keyops_sreq	sr;

	memset(&sr, 0, sizeof sr);
	sr.method = "PUT";
	sr.pub = pub;
	sr.fpr = op->fpr;
	sr.sign = sign_with;
	sr.cur = op->key;
	sr.token = !op->rotate;
	op->req = keyops_send(&sr, keyops_done_cb, op, cause);
	return (op->req != NULL ? 0 : -1);
}

/*
 * Send the signed request sr to the key server (upload_url, {node}
 * replaced by the node and, with sr->sub, "/<sub>"); cb(arg, resp) runs
 * later from the loop.  The request, or NULL with *cause.
 */
struct http_req *
keyops_send(const struct keyops_sreq *sr, http_cb cb, void *arg,
    char **cause)
{
	struct http_opts	 o;
	struct rsakey_info	 info;
	struct http_req		*req = NULL;
	const char		*hdr[2], *h[8], *node, *token;
	unsigned char		 rnd[KEYOPS_NONCE_BYTES];
	char			 nonce[2 * KEYOPS_NONCE_BYTES + 1], hex[65];
	char			*pem = NULL, *canon = NULL, *sig = NULL;
	char			*cursig = NULL, *url = NULL, *why = NULL;
	char			*hts = NULL, *hnonce = NULL, *hsig = NULL;
	char			*hcur = NULL, *htok = NULL, *res = NULL;
	long long		 ts;
	size_t			 len = 0, i;
	int			 n = 0;

	node = conf_str(ikd->conf, "node:name");
	if (!keys_node_ok(node)) {
		xasprintf(cause, "[node] name %s cannot be a key server node "
		    "name", node);
		goto out;
	}
	if (sr->pub != NULL) {
		if (afile_read(sr->pub, RSAKEY_PEM_MAX, &pem, &len,
		    cause) != 0) {
			if (*cause == NULL)
				xasprintf(cause, "%s: %s", sr->pub,
				    strerror(errno));
			goto out;
		}
		if (rsakey_pub_validate(pem, len, RSAKEY_PEM_MAX, &info,
		    &why) == -1) {
			xasprintf(cause, "%s: %s", sr->pub, why);
			goto out;
		}
		if (strcmp(info.fingerprint, sr->fpr) != 0) {
			xasprintf(cause, "%s does not match its private key",
			    sr->pub);
			goto out;
		}
	}
	if (getrandom(rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd) {
		xasprintf(cause, "getrandom: %s", strerror(errno));
		goto out;
	}
	for (i = 0; i < sizeof rnd; i++)
		snprintf(nonce + 2 * i, 3, "%02x", rnd[i]);
	rsakey_sha256_hex(pem != NULL ? pem : "", len, hex);
	ts = (long long)time(NULL);
	if (sr->sub != NULL)
		xasprintf(&res, "%s/%s", node, sr->sub);
	else
		res = xstrdup(node);
	xasprintf(&canon, "%s\n%s\n%lld\n%s\n%s", sr->method, res, ts,
	    nonce, hex);
	if (rsakey_sign(sr->sign, canon, strlen(canon), &sig, cause) == -1 ||
	    (sr->cur != NULL && rsakey_sign(sr->cur, canon, strlen(canon),
	    &cursig, cause) == -1))
		goto out;
	if ((why = keyops_url(node, sr->sub, &url)) != NULL) {
		*cause = why;
		why = NULL;
		goto out;
	}
	if (keys_http() == NULL) {
		*cause = xstrdup("no HTTP client");
		goto out;
	}
	keys_http_opts(&o, hdr);
	if (hdr[0] != NULL)
		h[n++] = hdr[0];
	xasprintf(&hts, "X-Iaxkey-Timestamp: %lld", ts);
	xasprintf(&hnonce, "X-Iaxkey-Nonce: %s", nonce);
	xasprintf(&hsig, "X-Iaxkey-Signature: %s", sig);
	h[n++] = hts;
	h[n++] = hnonce;
	h[n++] = hsig;
	if (cursig != NULL) {
		xasprintf(&hcur, "X-Iaxkey-Current-Signature: %s", cursig);
		h[n++] = hcur;
	}
	token = conf_str(ikd->conf, "keyserver:enroll_token");
	if (sr->token && *token != '\0') {
		xasprintf(&htok, "X-Iaxkey-Token: %s", token);
		h[n++] = htok;
	}
	h[n] = NULL;
	o.method = sr->method;
	if (pem != NULL) {
		o.body = pem;
		o.body_len = len;
		o.content_type = "text/plain";
	}
	o.headers = h;
	req = http_request(keys_http(), url, &o, cb, arg, cause);
out:
	free(why);
	free(pem);
	free(res);
	free(canon);
	free(sig);
	free(cursig);
	free(url);
	free(hts);
	free(hnonce);
	free(hsig);
	free(hcur);
	if (htok != NULL)
		explicit_bzero(htok, strlen(htok));
	free(htok);
	return (req);
}

/*
 * The upload URL for node and, unless sub is NULL, "<node>/<sub>"
 * (caller frees), or NULL with the reason (caller frees).
 */
static char *
keyops_url(const char *node, const char *sub, char **url)
{
	const char	*tpl = conf_str(ikd->conf, "keyserver:upload_url");
	const char	*at;
	char		*esc, *why, *first = NULL;
	size_t		 len;

	/* Without upload_url: the first of the url list. */
	if (*tpl == '\0' && conf_list_at(conf_str(ikd->conf,
	    "keyserver:url"), 0, &at, &len) == 0)
		tpl = first = xstrndup(at, len);
	if (*tpl == '\0') {
		xasprintf(&why, "[keyserver] url is not set");
		return (why);
	}
	if ((at = strstr(tpl, "{node}")) == NULL) {
		if (sub != NULL) {
			xasprintf(&why, "[keyserver] upload_url has no {node} "
			    "for the %s key", sub);
			free(first);
			return (why);
		}
		*url = xstrdup(tpl);
		free(first);
		return (NULL);
	}
	esc = http_escape(node);
	xasprintf(url, "%.*s%s%s%s%s", (int)(at - tpl), tpl, esc,
	    sub != NULL ? "/" : "", sub != NULL ? sub : "", at + 6);
	free(esc);
	free(first);
	return (NULL);
}

/*
 * 1 when a failed transfer may have reached the key server (so it may
 * have stored the key); 0 when it cannot have been sent.
 */
static int
keyops_sent(const struct http_resp *resp)
{
	switch (resp->result) {
	case CURLE_UNSUPPORTED_PROTOCOL:
	case CURLE_URL_MALFORMAT:
	case CURLE_COULDNT_RESOLVE_PROXY:
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_CONNECT:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_PEER_FAILED_VERIFICATION:
		return (0);
	default:
		return (resp->status != 0 || resp->result != 0);
	}
}

/* fsync the directory of path; 0 or -1. */
static int
keyops_sync_dir(const char *path)
{
	char	*dir, *slash;
	int	 fd, rc;

	dir = xstrdup(path);
	if ((slash = strrchr(dir, '/')) == NULL)
		strlcpy_(dir, ".", 2);
	else if (slash == dir)
		slash[1] = '\0';
	else
		*slash = '\0';
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	free(dir);
	if (fd == -1)
		return (-1);
	rc = fsync(fd);
	close(fd);
	return (rc);
}

/*
 * Put the pair <name>.key<ext> and <name>.pub<ext> in use: rename the
 * private key over <name>.key first (see the top), then the public key,
 * fsync the directory and ask for a res_crypto reload (*gen).  0, or -1
 * with *cause and *moved: 1 when the private key was renamed (*gen is
 * then set too), 0 when nothing changed.
 */
int
keyops_install(const char *ext, int *moved, uint64_t *gen, char **cause)
{
	char	*key, *pub, *key_from = NULL, *pub_from = NULL;
	int	 rc = -1;

	*moved = 0;
	*gen = 0;
	if (keyops_paths(&key, &pub, NULL, NULL, cause) == -1)
		return (-1);
	xasprintf(&key_from, "%s%s", key, ext);
	xasprintf(&pub_from, "%s%s", pub, ext);
	if (rename(key_from, key) == -1) {
		xasprintf(cause, "rename %s: %s", key_from, strerror(errno));
		goto out;
	}
	*moved = 1;
	*gen = reload_need(RELOAD_RES_CRYPTO);
	if (rename(pub_from, pub) == -1) {
		xasprintf(cause, "rename %s: %s", pub_from, strerror(errno));
		goto out;
	}
	if (keyops_sync_dir(key) == -1)
		log_warn("own key: fsync of %s's directory", key);
	rc = 0;
out:
	free(key);
	free(pub);
	free(key_from);
	free(pub_from);
	return (rc);
}

/*
 * Why a request to the key server failed, for logs and the console: the
 * transfer's error, or the status and the first line of the body
 * (escaped, capped).
 */
void
keyops_reason(char *buf, size_t size, const struct http_resp *resp)
{
	char	esc[KEYOPS_REASON_MAX * 4 + 8];
	size_t	n;

	if (resp->result != 0) {
		snprintf(buf, size, "key server: %s", resp->error);
		return;
	}
	n = strcspn(resp->body, "\r\n");
	if (n > KEYOPS_REASON_MAX)
		n = KEYOPS_REASON_MAX;
	if (n == 0)
		strlcpy_(esc, "(no reason given)", sizeof esc);
	else
		log_escape(esc, sizeof esc, resp->body, n);
	snprintf(buf, size, "key server: HTTP %ld: %s", resp->status, esc);
}

/* The key server answered (or the transfer failed): finish the operation. */
static void
keyops_done_cb(void *arg, const struct http_resp *resp)
{
	struct keyop		*op = arg;
	struct keyops_result	 r;
	char			 reason[1024], *cause = NULL;
	int			 moved;

	op->req = NULL;
	memset(&r, 0, sizeof r);
	r.what = op->rotate ? "rotate" : "upload";
	r.status = resp->status;
	r.fingerprint = op->fpr;
	r.old_fingerprint = op->rotate ? op->old_fpr : NULL;
	if (resp->result != 0) {
		keyops_reason(reason, sizeof reason, resp);
		r.kept_new = op->rotate && keyops_sent(resp);
	} else if (resp->status == 200 || resp->status == 201) {
		if (strstr(resp->body, op->fpr) != NULL)
			r.ok = 1;
		else {
			snprintf(reason, sizeof reason, "key server answered "
			    "%ld without the fingerprint %s", resp->status,
			    op->fpr);
			r.kept_new = op->rotate;
		}
	} else
		keyops_reason(reason, sizeof reason, resp);
	if (r.ok && op->rotate &&
	    keyops_install(".new", &moved, &r.gen, &cause) == -1) {
		if (moved)
			snprintf(reason, sizeof reason, "new key in place but "
			    "%s (key upload finishes it)", cause);
		else
			snprintf(reason, sizeof reason, "the key server has "
			    "the new key but %s; move the .new files into "
			    "place by hand", cause);
		free(cause);
		r.ok = 0;
		r.kept_new = 1;
	}
	if (!r.ok && op->rotate && !r.kept_new) {
		afile_remove(op->key_new, NULL);
		afile_remove(op->pub_new, NULL);
	}
	if (!r.ok)
		r.reason = reason;
	keyops_end(op, &r);
}

/* Record, log and deliver the result of op, then free it. */
static void
keyops_end(struct keyop *op, struct keyops_result *r)
{
	struct logline	l;

	r->ms = now_ms() - op->t0;
	ko.last.t = time(NULL);
	strlcpy_(ko.last.what, r->what, sizeof ko.last.what);
	ko.last.ok = r->ok;
	ko.last.status = r->status;
	strlcpy_(ko.last.reason, r->reason != NULL ? r->reason : "",
	    sizeof ko.last.reason);
	strlcpy_(ko.last.fingerprint, r->fingerprint,
	    sizeof ko.last.fingerprint);
	lf_begin(&l, r->ok ? LOG_L_INFO : LOG_L_WARN, "key_upload");
	lf_str(&l, "node", op->node);
	lf_str(&l, "op", r->what);
	lf_str(&l, "result", r->ok ? "ok" : "failed");
	lf_int(&l, "status", r->status);
	lf_str(&l, "fingerprint", r->fingerprint);
	if (r->old_fingerprint != NULL)
		lf_str(&l, "old", r->old_fingerprint);
	if (r->kept_new)
		lf_str(&l, "new_files", "kept");
	lf_int(&l, "ms", r->ms);
	if (r->reason != NULL)
		lf_str(&l, "reason", r->reason);
	lf_emit(&l);
	ko.op = NULL;
	if (op->rotate)
		rotate_replaced(r->ok);
	if (op->cb != NULL)
		op->cb(op->arg, r);
	keyops_op_free(op);
}

/* Free an operation (its request must be gone). */
static void
keyops_op_free(struct keyop *op)
{
	free(op->key);
	free(op->pub);
	free(op->key_new);
	free(op->pub_new);
	free(op);
}

/* Nobody waits for op any more; it still runs to its end. */
void
keyops_cancel(struct keyop *op)
{
	if (op == NULL)
		return;
	op->cb = NULL;
	op->arg = NULL;
}

/* A file's permission bits as "0600", or why there are none. */
static void
keyops_mode(char *buf, size_t size, const char *path)
{
	struct stat	st;

	if (stat(path, &st) == -1)
		snprintf(buf, size, "%s", errno == ENOENT ? "missing" :
		    strerror(errno));
	else
		snprintf(buf, size, "mode %04o", (unsigned)(st.st_mode &
		    07777));
}

/*
 * The state of the own pair and of the last upload, one line at a time
 * through out(arg, line).  0, or -1 with *cause when [node] name is not
 * set.
 */
int
keyops_show(void (*out)(void *, const char *), void *arg, char **cause)
{
	struct rsakey_info	 ki, pi;
	struct tm		 tm;
	char			*key, *pub, *key_new, *pub_new, *why = NULL;
	char			*pem = NULL, line[2048], m[64], t[32], nf[72];
	size_t			 len;
	int			 kok, pok = 0;

	if (keyops_paths(&key, &pub, &key_new, &pub_new, cause) == -1)
		return (-1);
	snprintf(line, sizeof line, "  name        %s",
	    conf_str(ikd->conf, "node:name"));
	out(arg, line);
	keyops_mode(m, sizeof m, key);
	snprintf(line, sizeof line, "  key         %s (%s)", key, m);
	out(arg, line);
	keyops_mode(m, sizeof m, pub);
	snprintf(line, sizeof line, "  pub         %s (%s)", pub, m);
	out(arg, line);
	if ((kok = rsakey_priv_check(key, &ki, &why) == 0)) {
		snprintf(line, sizeof line, "  fingerprint %s", ki.fingerprint);
		out(arg, line);
		snprintf(line, sizeof line, "  bits        %d", ki.bits);
	} else
		snprintf(line, sizeof line, "  problem     %s", why);
	out(arg, line);
	free(why);
	why = NULL;
	if (afile_read(pub, RSAKEY_PEM_MAX, &pem, &len, &why) == 0 &&
	    rsakey_pub_validate(pem, len, RSAKEY_PEM_MAX, &pi, &why) == 0)
		pok = 1;
	if (!pok && why != NULL) {
		snprintf(line, sizeof line, "  problem     %s: %s", pub, why);
		out(arg, line);
	} else if (pok && kok && strcmp(pi.fingerprint, ki.fingerprint) != 0) {
		snprintf(line, sizeof line, "  problem     %s does not match "
		    "the private key (it is %s)", pub, pi.fingerprint);
		out(arg, line);
	}
	free(why);
	free(pem);
	if (access(key_new, F_OK) == 0 || access(pub_new, F_OK) == 0) {
		snprintf(line, sizeof line, "  leftover    %s.new files from "
		    "an interrupted rotation", key);
		out(arg, line);
	}
	if (ko.op != NULL)
		snprintf(line, sizeof line, "  upload      running (%s)",
		    ko.op->rotate ? "rotate" : "upload");
	else if (ko.last.t == 0)
		snprintf(line, sizeof line, "  upload      none since start");
	else {
		if (gmtime_r(&ko.last.t, &tm) == NULL ||
		    strftime(t, sizeof t, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
			strlcpy_(t, "?", sizeof t);
		snprintf(line, sizeof line, "  upload      %s %s %s status %ld "
		    "%s%s%s", t, ko.last.what, ko.last.ok ? "ok" : "failed",
		    ko.last.status, ko.last.fingerprint,
		    ko.last.ok ? "" : ": ", ko.last.reason);
	}
	out(arg, line);
	if (keyops_next_fingerprint(nf, sizeof nf)) {
		snprintf(line, sizeof line, "  next        %s (staged; calls "
		    "announce it)", nf);
		out(arg, line);
	}
	rotate_show(out, arg);
	free(key);
	free(pub);
	free(key_new);
	free(pub_new);
	return (0);
}

/*
 * The fingerprint of the next key while one is staged at the key server
 * and not yet in use (callers tell callees about it): 1 with fpr filled,
 * else 0.
 */
int
keyops_next_fingerprint(char *fpr, size_t size)
{
	return (rotate_next_fingerprint(fpr, size));
}

/*
 * Shutdown (before the HTTP client goes): cancel a running operation.
 * A rotation's .new files stay, as its outcome is unknown.
 */
void
keyops_free(void)
{
	struct keyop	*op = ko.op;

	if (op == NULL)
		return;
	http_cancel(op->req);
	if (op->rotate)
		log_warnx("own key: rotation interrupted by shutdown; %s and "
		    "%s kept", op->key_new, op->pub_new);
	keyops_op_free(op);
	ko.op = NULL;
}
