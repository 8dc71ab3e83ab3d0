/*
 * api: the HTTP side.  evhttp on the shared event base; with [tls] cert
 * and key every connection is a libevent_openssl bufferevent.
 *
 * Connection limit: libevent 2.1 has no evhttp_set_max_connections, so
 * the bufferevent callback counts each new connection and, on the next
 * loop pass, finds its evhttp_connection (the bufferevent's callback
 * argument) and hooks its close callback, which counts it out.  At
 * max_connections the listener is disabled (new connections wait in the
 * kernel backlog) until one closes.
 *
 *   GET    /v1/keys		index: "<node> sha256:<hex>" lines
 *   GET    /v1/keys/<node>	PEM, ETag "sha256:<hex>", 304, 404
 *   PUT    /v1/keys/<node>	register or replace (proof of possession)
 *   DELETE /v1/keys/<node>	revoke (current key or operator token)
 *
 * Signed requests carry X-Iaxkey-Timestamp, X-Iaxkey-Nonce and
 * X-Iaxkey-Signature over "<METHOD>\n<node>\n<ts>\n<nonce>\n<sha256 hex
 * of the body>"; tokens and signatures are never logged.
 */
#include <sys/socket.h>
#include <sys/types.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "lib/addr.h"
#include "lib/log.h"
#include "lib/rsakey.h"
#include "lib/xmalloc.h"
#include "keyserver/ks.h"

#define API_PREFIX	"/v1/keys"
#define API_SIG_MAX	1024	/* longest base64 signature header */
#define API_TS_MAX	(1LL << 40)

/* A checked signed request. */
struct api_sig {
	long long	 ts;
	const char	*nonce;
	const char	*sig;
	char		*canon;		/* the canonical string */
};

static struct {
	struct event_base		*base;
	struct evhttp			*http;
	struct evhttp_bound_socket	*bound;
	SSL_CTX				*ssl;
	int				 active, max, paused;
	long long			 max_body, skew;
	char				 addrstr[ADDR_STR_MAX];
} api;

static SSL_CTX	*api_ssl_new(const char *, const char *, char **);
static int	 api_listen(const struct conf *, char **);
static struct bufferevent *api_bevcb(struct event_base *, void *);
static void	 api_conn_adopt(evutil_socket_t, short, void *);
static void	 api_conn_closed(struct evhttp_connection *, void *);
static void	 api_conn_gone(void);
static void	 api_handle(struct evhttp_request *, void *);
static void	 api_reply(struct evhttp_request *, int, const char *,
		    const char *, size_t, const char *);
static void	 api_text(struct evhttp_request *, int, const char *);
static int	 api_etag_match(struct evhttp_request *, const char *);
static void	 api_get(struct evhttp_request *, const char *);
static void	 api_index(struct evhttp_request *);
static void	 api_put(struct evhttp_request *, const char *,
		    const char *);
static void	 api_delete(struct evhttp_request *, const char *,
		    const char *);
static int	 api_sig_parse(struct evhttp_request *, const char *,
		    const char *, const void *, size_t, struct api_sig *,
		    const char **);
static int	 api_sig_nonce(struct api_sig *, int *, const char **);
static void	 api_log(struct evhttp_request *, const char *, const char *,
		    int, const char *, const char *);
static const char *api_method(struct evhttp_request *);

/* An SSL_CTX for the server certificate; NULL with *cause. */
static SSL_CTX *
api_ssl_new(const char *cert, const char *key, char **cause)
{
	SSL_CTX		*ctx;
	unsigned long	 e;

	if ((ctx = SSL_CTX_new(TLS_server_method())) == NULL ||
	    !SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) ||
	    SSL_CTX_use_certificate_chain_file(ctx, cert) != 1 ||
	    SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1) {
		e = ERR_peek_last_error();
		xasprintf(cause, "tls: cannot use %s and %s: %s", cert, key,
		    e != 0 ? ERR_reason_error_string(e) : "unknown error");
		ERR_clear_error();
		SSL_CTX_free(ctx);
		return (NULL);
	}
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION);
	return (ctx);
}

/*
 * Check [tls]: cert and key both set (then usable) or both empty.  Used
 * by -n and at startup.  0 or -1 with *cause.
 */
int
api_tls_check(const struct conf *conf, char **cause)
{
	const char	*cert = conf_str(conf, "tls:cert");
	const char	*key = conf_str(conf, "tls:key");
	SSL_CTX		*ctx;

	if ((*cert == '\0') != (*key == '\0')) {
		xasprintf(cause, "%s: tls: cert and key go together",
		    conf_file(conf));
		return (-1);
	}
	if (*cert == '\0')
		return (0);
	if ((ctx = api_ssl_new(cert, key, cause)) == NULL)
		return (-1);
	SSL_CTX_free(ctx);
	return (0);
}

/* Bind [http] listen and hand the socket to evhttp; 0 or -1. */
static int
api_listen(const struct conf *conf, char **cause)
{
	struct sockaddr_storage	ss;
	socklen_t		sl;
	int			fd, on = 1;

	if (conf_addr(conf, "http:listen", &ss, &sl) == -1) {
		xasprintf(cause, "http:listen: bad address");
		return (-1);
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0);
	/*
	 * TCP_NODELAY is inherited by accepted sockets (Linux): without it a
	 * TLS reply in two records waits for the delayed ACK (40 ms).
	 */
	if (fd == -1 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on,
	    sizeof on) == -1 || setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on,
	    sizeof on) == -1 || bind(fd, (struct sockaddr *)&ss, sl) == -1 ||
	    listen(fd, 1024) == -1) {
		xasprintf(cause, "http:listen: %s: %s",
		    conf_str(conf, "http:listen"), strerror(errno));
		if (fd != -1)
			close(fd);
		return (-1);
	}
	sl = sizeof ss;
	if (getsockname(fd, (struct sockaddr *)&ss, &sl) == -1) {
		xasprintf(cause, "getsockname: %s", strerror(errno));
		close(fd);
		return (-1);
	}
	addr_format((struct sockaddr *)&ss, sl, api.addrstr,
	    sizeof api.addrstr);
	if ((api.bound = evhttp_accept_socket_with_handle(api.http,
	    fd)) == NULL) {
		xasprintf(cause, "http:listen: evhttp refused the socket");
		close(fd);
		return (-1);
	}
	return (0);
}

/* Set up evhttp, TLS and the listener; 0 or -1 with *cause. */
int
api_init(struct event_base *base, const struct conf *conf, char **cause)
{
	const char	*cert = conf_str(conf, "tls:cert");
	const char	*key = conf_str(conf, "tls:key");
	struct logline	 l;

	api.base = base;
	api.max = conf_int(conf, "http:max_connections");
	api.max_body = conf_int(conf, "http:max_body");
	api.skew = conf_int(conf, "http:clock_skew_s");
	if (api_tls_check(conf, cause) == -1)
		return (-1);
	if (*cert != '\0' && (api.ssl = api_ssl_new(cert, key,
	    cause)) == NULL)
		return (-1);
	if ((api.http = evhttp_new(base)) == NULL) {
		xasprintf(cause, "evhttp_new failed");
		return (-1);
	}
	evhttp_set_max_body_size(api.http, api.max_body);
	evhttp_set_max_headers_size(api.http,
	    conf_int(conf, "http:max_headers"));
	evhttp_set_timeout(api.http, conf_int(conf, "http:timeout_s"));
	evhttp_set_allowed_methods(api.http, EVHTTP_REQ_GET |
	    EVHTTP_REQ_HEAD | EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE);
	evhttp_set_flags(api.http, EVHTTP_SERVER_LINGERING_CLOSE);
	evhttp_set_default_content_type(api.http, "text/plain");
	evhttp_set_gencb(api.http, api_handle, NULL);
	evhttp_set_bevcb(api.http, api_bevcb, NULL);
	if (api_listen(conf, cause) == -1)
		return (-1);
	lf_begin(&l, LOG_L_INFO, "listen");
	lf_str(&l, "what", api.ssl != NULL ? "https" : "http");
	lf_str(&l, "addr", api.addrstr);
	lf_emit(&l);
	return (0);
}

/* Close every connection and the listener. */
void
api_free(void)
{
	/* evhttp_free closes the listener before the connections. */
	api.bound = NULL;
	if (api.http != NULL)
		evhttp_free(api.http);
	api.http = NULL;
	SSL_CTX_free(api.ssl);
	api.ssl = NULL;
}

/* The bound address, "a.b.c.d:port" (for tests: port 0 picks one). */
const char *
api_addr(void)
{
	return (api.addrstr);
}

/* Connections open now. */
int
api_active(void)
{
	return (api.active);
}

/* evhttp wants a bufferevent for a new connection: count it. */
static struct bufferevent *
api_bevcb(struct event_base *base, void *arg)
{
	static const struct timeval	 now = { 0, 0 };
	struct bufferevent		*bev;
	SSL				*ssl;

	if (api.ssl != NULL) {
		if ((ssl = SSL_new(api.ssl)) == NULL)
			fatalx("SSL_new failed");
		bev = bufferevent_openssl_socket_new(base, -1, ssl,
		    BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
		if (bev != NULL)
			bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	} else
		bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
	if (bev == NULL)
		fatalx("cannot make a bufferevent");
	bufferevent_incref(bev);
	if (event_base_once(base, -1, EV_TIMEOUT, api_conn_adopt, bev,
	    &now) == -1) {
		bufferevent_decref(bev);
		return (bev);
	}
	if (++api.active >= api.max && !api.paused) {
		evconnlistener_disable(evhttp_bound_socket_get_listener(
		    api.bound));
		api.paused = 1;
		log_warnx("max_connections (%d) reached, listener paused",
		    api.max);
	}
	return (bev);
}

/*
 * One loop pass after a connection arrived: evhttp has made its
 * connection object, the callback argument of the bufferevent; hook its
 * close callback.  When evhttp has already freed it (callbacks cleared),
 * count it out here.
 */
static void
api_conn_adopt(evutil_socket_t fd, short what, void *arg)
{
	struct bufferevent	*bev = arg;
	bufferevent_event_cb	 eventcb = NULL;
	void			*cbarg = NULL;

	bufferevent_getcb(bev, NULL, NULL, &eventcb, &cbarg);
	if (eventcb != NULL && cbarg != NULL)
		evhttp_connection_set_closecb(cbarg, api_conn_closed, NULL);
	else
		api_conn_gone();
	bufferevent_decref(bev);
}

/* evhttp closes a connection. */
static void
api_conn_closed(struct evhttp_connection *evcon, void *arg)
{
	api_conn_gone();
}

/* A connection is gone: count it out, resume the listener if paused. */
static void
api_conn_gone(void)
{
	api.active--;
	if (api.paused && api.active < api.max && api.bound != NULL) {
		evconnlistener_enable(evhttp_bound_socket_get_listener(
		    api.bound));
		api.paused = 0;
		log_info("listener resumed");
	}
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

/* Answer a refused change with its reason, and log it. */
static void
api_refuse(struct evhttp_request *req, const char *addr, const char *node,
    int code, const char *why, const char *fpr)
{
	api_text(req, code, why);
	api_log(req, addr, node, code, why, fpr[0] != '\0' ? fpr : NULL);
}

/* Log one request's outcome (GETs at debug level). */
static void
api_log(struct evhttp_request *req, const char *addr, const char *node,
    int status, const char *reason, const char *fpr)
{
	struct logline		l;
	enum evhttp_cmd_type	cmd = evhttp_request_get_command(req);
	enum log_level		lvl = LOG_L_INFO;

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
		if ((size_t)(end - p) >= elen && strncmp(p, etag, elen) == 0)
			return (1);
	}
	return (0);
}

/* Every request: rate limit, route. */
static void
api_handle(struct evhttp_request *req, void *arg)
{
	struct evhttp_connection	*evcon;
	const struct evhttp_uri		*uri;
	const char			*path, *node, *why;
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
		api_text(req, 429, "too many requests");
		api_log(req, host, NULL, 429, "rate limit", NULL);
		return;
	}
	uri = evhttp_request_get_evhttp_uri(req);
	path = uri != NULL ? evhttp_uri_get_path(uri) : NULL;
	if (path == NULL) {
		api_text(req, 400, "bad request target");
		return;
	}
	if (strcmp(path, API_PREFIX) == 0 ||
	    strcmp(path, API_PREFIX "/") == 0) {
		if (cmd != EVHTTP_REQ_GET && cmd != EVHTTP_REQ_HEAD) {
			evhttp_add_header(evhttp_request_get_output_headers(
			    req), "Allow", "GET, HEAD");
			api_text(req, 405, "method not allowed");
			return;
		}
		api_index(req);
		return;
	}
	if (strncmp(path, API_PREFIX "/", sizeof API_PREFIX) != 0) {
		api_text(req, 404, "not found");
		return;
	}
	node = path + sizeof API_PREFIX;
	if (!ks_node_valid(node, &why)) {
		api_text(req, 400, why);
		api_log(req, host, NULL, 400, why, NULL);
		return;
	}
	switch (cmd) {
	case EVHTTP_REQ_GET:
	case EVHTTP_REQ_HEAD:
		api_get(req, node);
		break;
	case EVHTTP_REQ_PUT:
		api_put(req, node, host);
		break;
	case EVHTTP_REQ_DELETE:
		api_delete(req, node, host);
		break;
	default:
		api_text(req, 405, "method not allowed");
		break;
	}
}

/* GET /v1/keys/<node>: no disk I/O. */
static void
api_get(struct evhttp_request *req, const char *node)
{
	const struct ks_key	*k;

	if ((k = keys_get(node)) == NULL) {
		api_text(req, 404, "unknown node");
		if (log_enabled(LOG_L_DEBUG))
			api_log(req, "-", node, 404, "unknown node", NULL);
		return;
	}
	if (api_etag_match(req, k->etag)) {
		api_reply(req, 304, NULL, NULL, 0, k->etag);
		return;
	}
	api_reply(req, 200, "application/x-pem-file", k->pem, k->len,
	    k->etag);
}

/* GET /v1/keys: the index. */
static void
api_index(struct evhttp_request *req)
{
	const char	*text;
	size_t		 len;

	text = keys_index(&len);
	api_reply(req, 200, "text/plain", text, len, NULL);
}

/*
 * Read and check the signature headers of a request on node with body
 * (len bytes): present, well formed, timestamp within the skew.  Fills s
 * (s->canon: caller frees).  Returns 0, or the HTTP status to answer with
 * *why (static).
 */
static int
api_sig_parse(struct evhttp_request *req, const char *method,
    const char *node, const void *body, size_t len, struct api_sig *s,
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
	xasprintf(&s->canon, "%s\n%s\n%lld\n%s\n%s", method, node, s->ts,
	    s->nonce, hex);
	return (0);
}

/*
 * Record the nonce of a request whose signature verified.  0, or -1 with
 * *code and *why (static) for a replay or a full cache.
 */
static int
api_sig_nonce(struct api_sig *s, int *code, const char **why)
{
	if (guard_nonce_seen(s->nonce, time(NULL), why)) {
		*code = strcmp(*why, "nonce already used") == 0 ? 409 : 503;
		return (-1);
	}
	return (0);
}

/* PUT /v1/keys/<node>: register or replace a key. */
static void
api_put(struct evhttp_request *req, const char *node, const char *addr)
{
	struct evkeyvalq	*h = evhttp_request_get_input_headers(req);
	struct evbuffer		*in;
	const struct ks_key	*cur;
	struct rsakey_info	 info;
	struct api_sig		 s;
	const char		*why = NULL, *token, *cursig, *action, *auth;
	const char		*body;
	char			*cause = NULL, fpr[80];
	size_t			 len;
	int			 code;

	in = evhttp_request_get_input_buffer(req);
	len = evbuffer_get_length(in);
	memset(&s, 0, sizeof s);
	fpr[0] = '\0';
	if ((long long)len > api.max_body) {
		code = 413;
		why = "body too large";
		goto fail;
	}
	if (len == 0) {
		code = 400;
		why = "empty body: expected a PEM public key";
		goto fail;
	}
	body = (const char *)evbuffer_pullup(in, -1);
	if ((code = api_sig_parse(req, "PUT", node, body, len, &s,
	    &why)) != 0)
		goto fail;
	if (rsakey_pub_validate(body, len, api.max_body, &info,
	    &cause) == -1) {
		code = 400;
		goto fail;
	}
	strlcpy_(fpr, info.fingerprint, sizeof fpr);
	if (rsakey_verify(body, len, s.canon, strlen(s.canon), s.sig,
	    &cause) == -1) {
		free(cause);
		cause = NULL;
		code = 401;
		why = "signature does not verify with the uploaded key";
		goto fail;
	}
	if (api_sig_nonce(&s, &code, &why) == -1)
		goto fail;
	if ((cur = keys_get(node)) != NULL) {
		cursig = evhttp_find_header(h, "X-Iaxkey-Current-Signature");
		if (cursig == NULL) {
			code = 403;
			why = "replacing a key needs "
			    "X-Iaxkey-Current-Signature";
			goto fail;
		}
		if (strlen(cursig) > API_SIG_MAX ||
		    rsakey_verify(cur->pem, cur->len, s.canon,
		    strlen(s.canon), cursig, &cause) == -1) {
			free(cause);
			cause = NULL;
			code = 403;
			why = "not signed by the currently registered key";
			goto fail;
		}
		if (strcmp(cur->fpr, info.fingerprint) == 0) {
			evbuffer_add_printf(evhttp_request_get_output_buffer(
			    req), "%s unchanged\n", cur->fpr);
			api_reply(req, 200, "text/plain", NULL, 0, cur->etag);
			api_log(req, addr, node, 200, "unchanged", fpr);
			free(s.canon);
			return;
		}
		action = "replace";
		auth = "key+current";
		code = 200;
	} else {
		token = evhttp_find_header(h, "X-Iaxkey-Token");
		if (token == NULL) {
			code = 403;
			why = "first registration needs X-Iaxkey-Token";
			goto fail;
		}
		if (strlen(token) > KS_TOKEN_MAX ||
		    !keys_token_check(node, token, &why)) {
			if (why == NULL)
				why = "bad enrolment token";
			code = 403;
			goto fail;
		}
		action = "register";
		auth = "key+token";
		code = 201;
	}
	if (keys_put(node, body, len, &info, action, auth, addr,
	    &cause) == -1) {
		log_warnx("store %s: %s", node, cause);
		free(cause);
		cause = NULL;
		code = 500;
		why = "storage error";
		goto fail;
	}
	if (code == 201 && keys_token_consume(node, &cause) == -1) {
		log_warnx("token of %s not removed: %s", node, cause);
		free(cause);
		cause = NULL;
	}
	cur = keys_get(node);
	evbuffer_add_printf(evhttp_request_get_output_buffer(req), "%s\n",
	    cur->fpr);
	api_reply(req, code, "text/plain", NULL, 0, cur->etag);
	api_log(req, addr, node, code, action, fpr);
	free(s.canon);
	return;

fail:
	api_refuse(req, addr, node, code, cause != NULL ? cause : why, fpr);
	free(cause);
	free(s.canon);
}

/* DELETE /v1/keys/<node>: revoke, by the current key or a token. */
static void
api_delete(struct evhttp_request *req, const char *node, const char *addr)
{
	struct evkeyvalq	*h = evhttp_request_get_input_headers(req);
	struct evbuffer		*in;
	const struct ks_key	*cur;
	struct api_sig		 s;
	const char		*why = NULL, *token, *auth, *body;
	char			*cause = NULL, fpr[80];
	size_t			 len;
	int			 code;

	in = evhttp_request_get_input_buffer(req);
	len = evbuffer_get_length(in);
	memset(&s, 0, sizeof s);
	fpr[0] = '\0';
	if ((cur = keys_get(node)) == NULL) {
		code = 404;
		why = "unknown node";
		goto fail;
	}
	strlcpy_(fpr, cur->fpr, sizeof fpr);
	body = len > 0 ? (const char *)evbuffer_pullup(in, -1) : "";
	if ((token = evhttp_find_header(h, "X-Iaxkey-Token")) != NULL) {
		if (strlen(token) > KS_TOKEN_MAX ||
		    !keys_token_check(node, token, &why)) {
			if (why == NULL)
				why = "bad token";
			code = 403;
			goto fail;
		}
		auth = "token";
	} else {
		if ((code = api_sig_parse(req, "DELETE", node, body, len, &s,
		    &why)) != 0)
			goto fail;
		if (rsakey_verify(cur->pem, cur->len, s.canon,
		    strlen(s.canon), s.sig, &cause) == -1) {
			free(cause);
			cause = NULL;
			code = 401;
			why = "not signed by the currently registered key";
			goto fail;
		}
		if (api_sig_nonce(&s, &code, &why) == -1)
			goto fail;
		auth = "key";
	}
	if (keys_delete(node, auth, addr, &cause) == -1) {
		log_warnx("revoke %s: %s", node, cause);
		free(cause);
		cause = NULL;
		code = 500;
		why = "storage error";
		goto fail;
	}
	if (token != NULL && keys_token_consume(node, &cause) == -1) {
		log_warnx("token of %s not removed: %s", node, cause);
		free(cause);
		cause = NULL;
	}
	evbuffer_add_printf(evhttp_request_get_output_buffer(req),
	    "revoked %s\n", fpr);
	api_reply(req, 200, "text/plain", NULL, 0, NULL);
	api_log(req, addr, node, 200, "revoke", fpr);
	free(s.canon);
	return;

fail:
	api_refuse(req, addr, node, code, cause != NULL ? cause : why, fpr);
	free(cause);
	free(s.canon);
}
