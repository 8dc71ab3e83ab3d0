/*
 * api: the /v1/keys API (conn.c hands every request to api_handle).
 *
 *   GET    /v1/keys			index: "<node> sha256:<hex>[ next=
 *					sha256:<hex>][ previous=sha256:<hex>]"
 *   GET    /v1/keys/<node>		current PEM, X-Iaxkey-Next and
 *					X-Iaxkey-Previous headers
 *   GET    /v1/keys/<node>/next	staged next PEM, or 404
 *   GET    /v1/keys/<node>/previous	previous PEM, or 404
 *   PUT    /v1/keys/<node>		register, promote the next key, or
 *					replace (proof of possession; a
 *					replace may be signed by the next key)
 *   PUT    /v1/keys/<node>/next	stage (rotate.c)
 *   DELETE /v1/keys/<node>[/next|/previous]
 *					revoke, unstage, retire (rotate.c)
 *
 * Every GET and HEAD answer of a key route (404s too) and of the index
 * carries Cache-Control (public, max-age), ETag and Last-Modified, and
 * If-None-Match or If-Modified-Since give a 304 with the same headers;
 * nothing depends on a request header, so no Vary.  Every other answer
 * carries Cache-Control: no-store.
 *
 * Signed requests carry X-Iaxkey-Timestamp, X-Iaxkey-Nonce and
 * X-Iaxkey-Signature over "<METHOD>\n<resource>\n<ts>\n<nonce>\n<sha256
 * hex of the body>", where the resource is "<node>", "<node>/next" or
 * "<node>/previous"; tokens and signatures are never logged.
 */
#include <sys/types.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "lib/log.h"
#include "lib/rsakey.h"
#include "lib/xmalloc.h"
#include "keyserver/ks.h"

#define API_PREFIX	"/v1/keys"
#define API_SIG_MAX	1024	/* longest base64 signature header */
#define API_TS_MAX	(1LL << 40)
#define API_404_AGE	10	/* longest max-age of a 404 */
#define API_DATE_FMT	"%a, %d %b %Y %H:%M:%S GMT"
#define API_DATE_MAX	40
#define API_CC_MAX	48

static struct {
	long long	max_body, skew;
	int		max_age;
} api;

static void	api_handle_key(struct evhttp_request *, const char *,
		    const char *);
static void	api_reply(struct evhttp_request *, int, const char *,
		    const char *, size_t, const char *);
static void	api_text(struct evhttp_request *, int, const char *);
static int	api_etag_match(struct evhttp_request *, const char *);
static int	api_fresh(struct evhttp_request *, const char *, time_t);
static void	api_cacheable(struct evhttp_request *, int, const char *,
		    time_t);
static void	api_get(struct evhttp_request *, const char *, enum ks_slot,
		    const char *);
static void	api_index(struct evhttp_request *, const char *);
static void	api_put(struct evhttp_request *, const char *,
		    const char *);
static void	api_log(struct evhttp_request *, const char *, const char *,
		    int, const char *, const char *);
static const char *api_method(struct evhttp_request *);
static enum stats_route api_route(struct evhttp_request *);

/* Take the API's settings from the configuration. */
void
api_init(const struct conf *conf)
{
	api.max_body = conf_int(conf, "http:max_body");
	api.skew = conf_int(conf, "http:clock_skew_s");
	api.max_age = conf_int(conf, "http:cache_max_age");
}

/* The method name for logs. */
static const char *
api_method(struct evhttp_request *req)
{
	switch (evhttp_request_get_command(req)) {
	case EVHTTP_REQ_GET:
		return ("GET");
	case EVHTTP_REQ_HEAD:
		return ("HEAD");
	case EVHTTP_REQ_PUT:
		return ("PUT");
	case EVHTTP_REQ_DELETE:
		return ("DELETE");
	default:
		return ("OTHER");
	}
}

/*
 * Answer a refused request with its reason (no-store), and log it.  The
 * 404s of the key routes are not refusals: api_get answers them.
 */
void
api_refuse(struct evhttp_request *req, const char *addr, const char *node,
    int code, const char *why, const char *fpr)
{
	evhttp_add_header(evhttp_request_get_output_headers(req),
	    "Cache-Control", "no-store");
	api_text(req, code, why);
	api_log(req, addr, node, code, why, fpr[0] != '\0' ? fpr : NULL);
}

/*
 * Answer a change (its text already in the output buffer) with code, an
 * optional ETag and no-store, and log it with reason and fpr.
 */
void
api_done(struct evhttp_request *req, const char *addr, const char *node,
    int code, const char *reason, const char *fpr, const char *etag)
{
	evhttp_add_header(evhttp_request_get_output_headers(req),
	    "Cache-Control", "no-store");
	api_reply(req, code, "text/plain", NULL, 0, etag);
	api_log(req, addr, node, code, reason, fpr);
}

/* Start answering a change request on node from addr. */
void
api_op_init(struct api_op *op, struct evhttp_request *req, const char *node,
    const char *addr)
{
	memset(op, 0, sizeof *op);
	op->req = req;
	op->node = node;
	op->addr = addr;
	op->code = 400;
}

/*
 * A PUT succeeded with op->code: answer "<fpr>\n" ("<fpr> unchanged\n"
 * for STATS_UPLOAD_UNCHANGED) with etag, log reason, count result.
 */
void
api_op_upload(struct api_op *op, const char *reason, const char *etag,
    enum stats_upload result)
{
	evbuffer_add_printf(evhttp_request_get_output_buffer(op->req),
	    "%s%s\n", op->fpr, result == STATS_UPLOAD_UNCHANGED ?
	    " unchanged" : "");
	api_done(op->req, op->addr, op->node, op->code, reason, op->fpr,
	    etag);
	stats_upload(result);
	free(op->s.canon);
	op->s.canon = NULL;
}

/*
 * A change request failed: refuse it with op->code and its reason, count
 * a refused upload if upload, release what op holds.
 */
void
api_op_fail(struct api_op *op, int upload)
{
	api_refuse(op->req, op->addr, op->node, op->code,
	    op->cause != NULL ? op->cause : op->why, op->fpr);
	if (upload)
		stats_upload(STATS_UPLOAD_REFUSED);
	free(op->cause);
	op->cause = NULL;
	free(op->s.canon);
	op->s.canon = NULL;
}

/* A storage failure of a change on node: logged, 500 "storage error". */
void
api_store_failed(const char *node, const char *what, char **cause,
    int *code, const char **why)
{
	log_warnx("%s %s: %s", what, node, *cause);
	free(*cause);
	*cause = NULL;
	*code = 500;
	*why = "storage error";
}

/* The route of a request, a label of the request counters. */
static enum stats_route
api_route(struct evhttp_request *req)
{
	static const enum stats_route	 routes[KS_SLOT_MAX][3] = {
		[KS_CURRENT] = { STATS_ROUTE_KEY_GET, STATS_ROUTE_KEY_PUT,
		    STATS_ROUTE_KEY_DELETE },
		[KS_NEXT] = { STATS_ROUTE_NEXT_GET, STATS_ROUTE_NEXT_PUT,
		    STATS_ROUTE_NEXT_DELETE },
		[KS_PREVIOUS] = { STATS_ROUTE_PREVIOUS_GET, STATS_ROUTE_OTHER,
		    STATS_ROUTE_PREVIOUS_DELETE },
	};
	const struct evhttp_uri	*uri = evhttp_request_get_evhttp_uri(req);
	const char		*path, *sub;
	enum ks_slot		 slot = KS_CURRENT;
	enum evhttp_cmd_type	 cmd = evhttp_request_get_command(req);
	int			 get;

	get = cmd == EVHTTP_REQ_GET || cmd == EVHTTP_REQ_HEAD;
	path = uri != NULL ? evhttp_uri_get_path(uri) : NULL;
	if (path == NULL)
		return (STATS_ROUTE_OTHER);
	if (strcmp(path, API_PREFIX) == 0 || strcmp(path, API_PREFIX "/") == 0)
		return (get ? STATS_ROUTE_INDEX : STATS_ROUTE_OTHER);
	if (strncmp(path, API_PREFIX "/", sizeof API_PREFIX) != 0)
		return (STATS_ROUTE_OTHER);
	if ((sub = strchr(path + sizeof API_PREFIX, '/')) != NULL) {
		if (strcmp(sub + 1, ks_slot_name(KS_NEXT)) == 0)
			slot = KS_NEXT;
		else if (strcmp(sub + 1, ks_slot_name(KS_PREVIOUS)) == 0)
			slot = KS_PREVIOUS;
		else
			return (STATS_ROUTE_OTHER);
	}
	if (get)
		return (routes[slot][0]);
	if (cmd == EVHTTP_REQ_PUT)
		return (routes[slot][1]);
	if (cmd == EVHTTP_REQ_DELETE)
		return (routes[slot][2]);
	return (STATS_ROUTE_OTHER);
}

/* Count and log one request's outcome (GETs at debug level). */
static void
api_log(struct evhttp_request *req, const char *addr, const char *node,
    int status, const char *reason, const char *fpr)
{
	struct logline		l;
	enum evhttp_cmd_type	cmd = evhttp_request_get_command(req);
	enum log_level		lvl = LOG_L_INFO;

	stats_request(api_route(req), status);
	if ((cmd == EVHTTP_REQ_GET || cmd == EVHTTP_REQ_HEAD) &&
	    status < 500 && status != 429)
		lvl = LOG_L_DEBUG;
	else if (status >= 500)
		lvl = LOG_L_ERROR;
	else if (status >= 400)
		lvl = LOG_L_WARN;
	if (!log_enabled(lvl))
		return;
	lf_begin(&l, lvl, "request");
	lf_str(&l, "method", api_method(req));
	lf_str(&l, "node", node);
	lf_int(&l, "status", status);
	lf_str(&l, "addr", addr);
	lf_str(&l, "fpr", fpr);
	lf_str(&l, "reason", reason);
	lf_emit(&l);
}

/* Send a reply with an optional body, content type and ETag. */
static void
api_reply(struct evhttp_request *req, int code, const char *ctype,
    const char *body, size_t len, const char *etag)
{
	struct evkeyvalq	*h = evhttp_request_get_output_headers(req);

	if (ctype != NULL)
		evhttp_add_header(h, "Content-Type", ctype);
	if (etag != NULL)
		evhttp_add_header(h, "ETag", etag);
	if (len > 0)
		evbuffer_add(evhttp_request_get_output_buffer(req), body, len);
	evhttp_send_reply(req, code, NULL, NULL);
}

/* Send a short text reply: the reason and a newline. */
static void
api_text(struct evhttp_request *req, int code, const char *text)
{
	struct evbuffer	*out = evhttp_request_get_output_buffer(req);

	evhttp_add_header(evhttp_request_get_output_headers(req),
	    "Content-Type", "text/plain");
	evbuffer_add_printf(out, "%s\n", text);
	evhttp_send_reply(req, code, NULL, NULL);
}

/* 1 if If-None-Match lists etag (quoted) or "*". */
static int
api_etag_match(struct evhttp_request *req, const char *etag)
{
	const char	*v, *p, *end;
	size_t		 elen = strlen(etag);

	v = evhttp_find_header(evhttp_request_get_input_headers(req),
	    "If-None-Match");
	if (v == NULL)
		return (0);
	for (p = v; *p != '\0'; p = *end == ',' ? end + 1 : end) {
		while (*p == ' ' || *p == '\t')
			p++;
		end = p + strcspn(p, ",");
		if (strncmp(p, "W/", 2) == 0)
			p += 2;
		if (*p == '*')
			return (1);
		if ((size_t)(end - p) >= elen && strncmp(p, etag, elen) == 0 &&
		    strspn(p + elen, " \t") == (size_t)(end - p) - elen)
			return (1);
	}
	return (0);
}

/*
 * 1 when the client's copy is current: If-None-Match lists etag, or,
 * without If-None-Match, If-Modified-Since (an IMF-fixdate) is not
 * before modified.
 */
static int
api_fresh(struct evhttp_request *req, const char *etag, time_t modified)
{
	struct evkeyvalq	*h = evhttp_request_get_input_headers(req);
	const char		*v, *end;
	struct tm		 tm;

	if (evhttp_find_header(h, "If-None-Match") != NULL)
		return (api_etag_match(req, etag));
	if ((v = evhttp_find_header(h, "If-Modified-Since")) == NULL)
		return (0);
	memset(&tm, 0, sizeof tm);
	if ((end = strptime(v, API_DATE_FMT, &tm)) == NULL || *end != '\0')
		return (0);
	return (modified <= timegm(&tm));
}

/*
 * The cache headers of a GET answer: Cache-Control (public, max-age:
 * [http] cache_max_age, at most API_404_AGE for a 404), ETag and
 * Last-Modified.
 */
static void
api_cacheable(struct evhttp_request *req, int code, const char *etag,
    time_t modified)
{
	struct evkeyvalq	*h = evhttp_request_get_output_headers(req);
	struct tm		 tm;
	char			 cc[API_CC_MAX], date[API_DATE_MAX];
	int			 age = api.max_age;

	if (code == 404 && age > API_404_AGE)
		age = API_404_AGE;
	snprintf(cc, sizeof cc, "public, max-age=%d", age);
	evhttp_add_header(h, "Cache-Control", cc);
	evhttp_add_header(h, "ETag", etag);
	gmtime_r(&modified, &tm);
	if (strftime(date, sizeof date, API_DATE_FMT, &tm) > 0)
		evhttp_add_header(h, "Last-Modified", date);
}

/* Every request: rate limit, route. */
void
api_handle(struct evhttp_request *req, void *arg)
{
	struct evhttp_connection	*evcon;
	const struct evhttp_uri		*uri;
	const char			*path;
	char				*host = NULL;
	ev_uint16_t			 port = 0;
	enum evhttp_cmd_type		 cmd;

	cmd = evhttp_request_get_command(req);
	evcon = evhttp_request_get_connection(req);
	evhttp_connection_get_peer(evcon, &host, &port);
	if (host == NULL)
		host = (char *)"unknown";
	if (!guard_rate(host)) {
		evhttp_add_header(evhttp_request_get_output_headers(req),
		    "Retry-After", "1");
		api_refuse(req, host, NULL, 429, "too many requests", "");
		return;
	}
	uri = evhttp_request_get_evhttp_uri(req);
	path = uri != NULL ? evhttp_uri_get_path(uri) : NULL;
	if (path == NULL) {
		api_refuse(req, host, NULL, 400, "bad request target", "");
		return;
	}
	if (strcmp(path, API_PREFIX) == 0 ||
	    strcmp(path, API_PREFIX "/") == 0) {
		if (cmd != EVHTTP_REQ_GET && cmd != EVHTTP_REQ_HEAD) {
			evhttp_add_header(evhttp_request_get_output_headers(
			    req), "Allow", "GET, HEAD");
			api_refuse(req, host, NULL, 405, "method not allowed",
			    "");
			return;
		}
		api_index(req, host);
		return;
	}
	if (strncmp(path, API_PREFIX "/", sizeof API_PREFIX) != 0) {
		api_refuse(req, host, NULL, 404, "not found", "");
		return;
	}
	api_handle_key(req, path + sizeof API_PREFIX, host);
}

/* A request on /v1/keys/<rest>: the node, the slot, the method. */
static void
api_handle_key(struct evhttp_request *req, const char *rest,
    const char *addr)
{
	static const char *const	 allow[KS_SLOT_MAX] = {
		[KS_CURRENT] = "GET, HEAD, PUT, DELETE",
		[KS_NEXT] = "GET, HEAD, PUT, DELETE",
		[KS_PREVIOUS] = "GET, HEAD, DELETE",
	};
	const char			*why;
	char				 node[KS_NODE_MAX + 1];
	size_t				 nl = strcspn(rest, "/");
	enum ks_slot			 slot = KS_CURRENT;

	if (nl > KS_NODE_MAX) {
		api_refuse(req, addr, NULL, 400,
		    "node name longer than 64 characters", "");
		return;
	}
	memcpy(node, rest, nl);
	node[nl] = '\0';
	if (!ks_node_valid(node, &why)) {
		api_refuse(req, addr, NULL, 400, why, "");
		return;
	}
	if (rest[nl] == '/') {
		if (strcmp(rest + nl + 1, ks_slot_name(KS_NEXT)) == 0)
			slot = KS_NEXT;
		else if (strcmp(rest + nl + 1,
		    ks_slot_name(KS_PREVIOUS)) == 0)
			slot = KS_PREVIOUS;
		else {
			api_refuse(req, addr, node, 404, "not found", "");
			return;
		}
	}
	switch (evhttp_request_get_command(req)) {
	case EVHTTP_REQ_GET:
	case EVHTTP_REQ_HEAD:
		api_get(req, node, slot, addr);
		return;
	case EVHTTP_REQ_PUT:
		if (slot == KS_CURRENT) {
			api_put(req, node, addr);
			return;
		}
		if (slot == KS_NEXT) {
			rotate_put_next(req, node, addr);
			return;
		}
		break;
	case EVHTTP_REQ_DELETE:
		rotate_delete(req, node, slot, addr);
		return;
	default:
		break;
	}
	evhttp_add_header(evhttp_request_get_output_headers(req), "Allow",
	    allow[slot]);
	api_refuse(req, addr, node, 405, "method not allowed", "");
}

/*
 * GET /v1/keys/<node>[/next|/previous] from addr: no disk I/O.  The
 * current key's answer names the next and previous keys in headers; a
 * missing node or key is a 404 that caches may keep briefly.
 */
static void
api_get(struct evhttp_request *req, const char *node, enum ks_slot slot,
    const char *addr)
{
	static const char *const	 none[KS_SLOT_MAX] = {
		[KS_CURRENT] = "unknown node",
		[KS_NEXT] = "no next key",
		[KS_PREVIOUS] = "no previous key",
	};
	struct evkeyvalq		*h;
	const struct ks_key		*k;
	const struct ks_pem		*p;
	const char			*etag, *why;
	char				 tag[KS_ETAG_MAX];
	time_t				 modified;
	size_t				 len;
	int				 code;

	h = evhttp_request_get_output_headers(req);
	k = keys_get(node);
	p = k != NULL ? k->slot[slot] : NULL;
	if (k == NULL) {
		keys_index(&len, &etag, &modified);
		etag = "\"unknown\"";
		why = none[KS_CURRENT];
	} else if (p == NULL) {
		etag = "\"none\"";
		modified = k->changed[slot];
		why = none[slot];
	} else if (slot == KS_CURRENT) {
		etag = k->etag;
		modified = k->modified;
		why = "key";
	} else {
		snprintf(tag, sizeof tag, "\"%s\"", p->fpr);
		etag = tag;
		modified = k->changed[slot];
		why = ks_slot_name(slot);
	}
	code = p != NULL ? 200 : 404;
	api_cacheable(req, code, etag, modified);
	if (p != NULL && slot == KS_CURRENT && k->slot[KS_NEXT] != NULL)
		evhttp_add_header(h, "X-Iaxkey-Next", k->slot[KS_NEXT]->fpr);
	if (p != NULL && slot == KS_CURRENT && k->slot[KS_PREVIOUS] != NULL)
		evhttp_add_header(h, "X-Iaxkey-Previous",
		    k->slot[KS_PREVIOUS]->fpr);
	if (api_fresh(req, etag, modified)) {
		api_reply(req, 304, NULL, NULL, 0, NULL);
		api_log(req, addr, node, 304, "not modified",
		    p != NULL ? p->fpr : NULL);
		return;
	}
	if (p == NULL) {
		api_text(req, 404, why);
		api_log(req, addr, node, 404, why, NULL);
		return;
	}
	api_reply(req, 200, "application/x-pem-file", p->pem, p->len, NULL);
	api_log(req, addr, node, 200, why, p->fpr);
}

/* GET /v1/keys from addr: the index. */
static void
api_index(struct evhttp_request *req, const char *addr)
{
	const char	*text, *etag;
	time_t		 modified;
	size_t		 len;

	text = keys_index(&len, &etag, &modified);
	api_cacheable(req, 200, etag, modified);
	if (api_fresh(req, etag, modified)) {
		api_reply(req, 304, NULL, NULL, 0, NULL);
		api_log(req, addr, NULL, 304, "not modified", NULL);
		return;
	}
	api_reply(req, 200, "text/plain", text, len, NULL);
	api_log(req, addr, NULL, 200, "index", NULL);
}

/*
 * The body of a signed request, "" when empty; NULL with *code 413 and
 * *why when larger than max_body.
 */
const char *
api_body(struct evhttp_request *req, size_t *len, int *code,
    const char **why)
{
	struct evbuffer	*in = evhttp_request_get_input_buffer(req);

	*len = evbuffer_get_length(in);
	if ((long long)*len > api.max_body) {
		*code = 413;
		*why = "body too large";
		return (NULL);
	}
	return (*len > 0 ? (const char *)evbuffer_pullup(in, -1) : "");
}

/*
 * Read and check the signature headers of a request on resource with
 * body (len bytes): present, well formed, timestamp within the skew.
 * Fills s (s->canon: caller frees).  Returns 0, or the HTTP status to
 * answer with *why (static).
 */
int
api_sig_parse(struct evhttp_request *req, const char *method,
    const char *resource, const void *body, size_t len, struct api_sig *s,
    const char **why)
{
	struct evkeyvalq	*h = evhttp_request_get_input_headers(req);
	const char		*ts, *errstr;
	char			 hex[65];
	long long		 now;

	memset(s, 0, sizeof *s);
	ts = evhttp_find_header(h, "X-Iaxkey-Timestamp");
	s->nonce = evhttp_find_header(h, "X-Iaxkey-Nonce");
	s->sig = evhttp_find_header(h, "X-Iaxkey-Signature");
	if (ts == NULL || s->nonce == NULL || s->sig == NULL) {
		*why = "missing X-Iaxkey-Timestamp, X-Iaxkey-Nonce or "
		    "X-Iaxkey-Signature";
		return (401);
	}
	if (strspn(ts, "0123456789") != strlen(ts) ||
	    strtonum_(ts, 0, API_TS_MAX, &s->ts, &errstr) == -1) {
		*why = "bad X-Iaxkey-Timestamp (unix seconds)";
		return (400);
	}
	if (!guard_nonce_valid(s->nonce)) {
		*why = "bad X-Iaxkey-Nonce (16-64 of A-Z a-z 0-9 _ -)";
		return (400);
	}
	if (*s->sig == '\0' || strlen(s->sig) > API_SIG_MAX) {
		*why = "bad X-Iaxkey-Signature";
		return (400);
	}
	now = time(NULL);
	if (s->ts < now - api.skew || s->ts > now + api.skew) {
		*why = "timestamp outside the allowed clock skew";
		return (401);
	}
	rsakey_sha256_hex(body, len, hex);
	xasprintf(&s->canon, "%s\n%s\n%lld\n%s\n%s", method, resource, s->ts,
	    s->nonce, hex);
	return (0);
}

/*
 * 1 if sig (a header's value, maybe NULL) signs s's string by the key
 * pem (len bytes).
 */
int
api_sig_verify(const char *pem, size_t len, const struct api_sig *s,
    const char *sig)
{
	char	*cause = NULL;

	if (sig == NULL || strlen(sig) > API_SIG_MAX)
		return (0);
	if (rsakey_verify(pem, len, s->canon, strlen(s->canon), sig,
	    &cause) == -1) {
		free(cause);
		return (0);
	}
	return (1);
}

/*
 * Accept the nonce and timestamp of a signed request on node once it is
 * authorised (so nobody else can fill the replay cache or burn a nonce):
 * not in the replay cache, and newer than the node's last accepted
 * request on any of its routes (nodeauth_seen, kept in the store: no replay
 * after a restart either).  0, or -1 with *code and *why (static).
 */
int
api_sig_accept(const char *node, struct api_sig *s, int *code,
    const char **why)
{
	char	*cause = NULL;
	int	 rc;

	if (guard_nonce_seen(s->nonce, time(NULL), why)) {
		*code = strcmp(*why, "nonce already used") == 0 ? 409 : 503;
		return (-1);
	}
	if ((rc = nodeauth_seen(node, s->ts, s->nonce, why, &cause)) == 0)
		return (0);
	if (rc == -1) {
		log_warnx("replay state of %s: %s", node, cause);
		free(cause);
		*code = 500;
		*why = "storage error";
	} else
		*code = rc == NODEAUTH_SEEN_BUSY ? 503 : 409;
	return (-1);
}

/*
 * Check an enrolment or operator token of op's node (never logged): 0,
 * or -1 with op->code 403 and the reason.
 */
int
api_op_token(struct api_op *op, const char *token)
{
	op->why = "bad enrolment token";
	if (strlen(token) <= KS_TOKEN_MAX &&
	    nodeauth_token_check(op->node, token, &op->why))
		return (0);
	op->code = 403;
	return (-1);
}

/*
 * Read the uploaded key of a PUT on resource: the body (a PEM public key,
 * validated), the signature headers, the signature by that key.  Fills u
 * (u->fpr is op->fpr) and op->s.  0, or -1 with op->code and the reason.
 */
int
api_op_key(struct api_op *op, const char *resource, struct ks_upload *u)
{
	struct rsakey_info	info;

	if ((u->pem = api_body(op->req, &u->len, &op->code,
	    &op->why)) == NULL)
		return (-1);
	if (u->len == 0) {
		op->code = 400;
		op->why = "empty body: expected a PEM public key";
		return (-1);
	}
	if ((op->code = api_sig_parse(op->req, "PUT", resource, u->pem,
	    u->len, &op->s, &op->why)) != 0)
		return (-1);
	if (rsakey_pub_validate(u->pem, u->len, api.max_body, &info,
	    &op->cause) == -1) {
		op->code = 400;
		return (-1);
	}
	strlcpy_(op->fpr, info.fingerprint, sizeof op->fpr);
	u->fpr = op->fpr;
	if (!api_sig_verify(u->pem, u->len, &op->s, op->s.sig)) {
		op->code = 401;
		op->why = "signature does not verify with the uploaded key";
		return (-1);
	}
	return (0);
}

/*
 * The key that signs cursig (X-Iaxkey-Current-Signature) of op's PUT of
 * the key op->fpr on k's node, as the audit's auth label, or NULL:
 * - the current key, always;
 * - the previous key when the body is the current key (a promotion
 *   resent after it succeeded);
 * - the staged next key when the body is neither the current nor the
 *   next key (a replace): the current key authorised the next key's
 *   holder when it was staged, and a node that switched to it before its
 *   promotion landed (or whose promotion's answer was lost) holds no
 *   other key to sign an emergency replace with.
 */
static const char *
api_put_signer(const struct ks_key *k, const struct api_op *op,
    const char *cursig)
{
	const struct ks_pem	*cur = k->slot[KS_CURRENT];
	const struct ks_pem	*next = k->slot[KS_NEXT];
	const struct ks_pem	*prev = k->slot[KS_PREVIOUS];

	if (api_sig_verify(cur->pem, cur->len, &op->s, cursig))
		return ("key+current");
	if (strcmp(cur->fpr, op->fpr) == 0)
		return (prev != NULL && api_sig_verify(prev->pem, prev->len,
		    &op->s, cursig) ? "key+previous" : NULL);
	if (next != NULL && strcmp(next->fpr, op->fpr) != 0 &&
	    api_sig_verify(next->pem, next->len, &op->s, cursig))
		return ("key+next");
	return (NULL);
}

/*
 * PUT /v1/keys/<node>: register (a token), or, signed by the current
 * key too, promote the staged next key (the body is that key), answer
 * unchanged (the body is the current key: a promotion resent), or
 * replace (any other key: the next and previous keys are dropped; the
 * staged next key may sign it instead of the current one).
 */
static void
api_put(struct evhttp_request *req, const char *node, const char *addr)
{
	struct evkeyvalq	*h = evhttp_request_get_input_headers(req);
	const struct ks_key	*cur;
	struct ks_upload	 u;
	struct api_op		 op;
	const char		*token, *cursig, *action, *auth = "key+token";
	enum stats_upload	 result;
	int			 rc;

	api_op_init(&op, req, node, addr);
	if (api_op_key(&op, node, &u) == -1)
		goto fail;
	if ((cur = keys_get(node)) != NULL) {
		cursig = evhttp_find_header(h, "X-Iaxkey-Current-Signature");
		if (cursig == NULL) {
			op.code = 403;
			op.why = "replacing a key needs "
			    "X-Iaxkey-Current-Signature";
			goto fail;
		}
		if ((auth = api_put_signer(cur, &op, cursig)) == NULL) {
			op.code = 403;
			op.why = "not signed by the currently registered key";
			goto fail;
		}
		op.code = 200;
	} else {
		token = evhttp_find_header(h, "X-Iaxkey-Token");
		if (token == NULL) {
			op.code = 403;
			op.why = "first registration needs X-Iaxkey-Token";
			goto fail;
		}
		if (api_op_token(&op, token) == -1)
			goto fail;
		op.code = 201;
	}
	if (api_sig_accept(node, &op.s, &op.code, &op.why) == -1)
		goto fail;
	if (cur != NULL && strcmp(cur->slot[KS_CURRENT]->fpr, op.fpr) == 0) {
		api_op_upload(&op, "unchanged", cur->etag,
		    STATS_UPLOAD_UNCHANGED);
		return;
	}
	if (cur == NULL) {
		action = "register";
		result = STATS_UPLOAD_REGISTERED;
		rc = keys_register(node, &u, auth, addr, &op.cause);
	} else if (cur->slot[KS_NEXT] != NULL &&
	    strcmp(cur->slot[KS_NEXT]->fpr, op.fpr) == 0) {
		action = "promote";
		result = STATS_UPLOAD_PROMOTED;
		rc = keys_promote(node, auth, addr, &op.cause);
	} else {
		action = "replace";
		result = STATS_UPLOAD_REPLACED;
		rc = keys_replace(node, &u, auth, addr, &op.cause);
	}
	if (rc == -1) {
		api_store_failed(node, action, &op.cause, &op.code, &op.why);
		goto fail;
	}
	if (op.code == 201 && nodeauth_token_consume(node, &op.cause) == -1) {
		log_warnx("token of %s not removed: %s", node, op.cause);
		free(op.cause);
		op.cause = NULL;
	}
	api_op_upload(&op, action, keys_get(node)->etag, result);
	return;

fail:
	api_op_fail(&op, 1);
}
