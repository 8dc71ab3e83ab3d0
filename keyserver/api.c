/*
 * api: the HTTP side.  evhttp on the shared event base; with [tls] cert
 * and key every connection is a libevent_openssl bufferevent.
 *
 * Connection limit: libevent 2.1 has no evhttp_set_max_connections, so
 * the bufferevent callback counts each new connection and, on the next
 * loop pass, finds its evhttp_connection (the bufferevent's callback
 * argument) and hooks its close callback, which counts it out.  At
 * max_connections the listener is disabled (new connections wait in the
 * kernel backlog) until one closes.  On that pass a connection from an
 * address that has max_per_addr open already is closed.
 *
 * Deadlines: evhttp's timeout restarts on every read, so a client sending
 * one byte now and then would hold its connection for ever.  Each
 * connection has one absolute deadline per phase: the TLS handshake
 * (until OpenSSL's handshake-done callback), the request headers (until
 * the empty line, found by an evbuffer callback on the bufferevent's
 * input), the body (until our reply is queued, seen by a callback on its
 * output) and the reply (until it is written: then the next request's
 * headers are due).  At the deadline the connection is closed.
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
#include <sys/queue.h>
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
#define API_TLS12_CIPHERS "ECDHE+AESGCM:ECDHE+CHACHA20"

/* What a connection is waiting for; each phase has its own deadline. */
enum api_phase {
	API_HANDSHAKE,		/* the TLS handshake */
	API_HEADERS,		/* the request line and headers */
	API_BODY,		/* the body, after the headers */
	API_REPLY,		/* our reply to be written */
	API_PHASE_MAX
};

/* One client connection, from the bufferevent callback to its close. */
struct api_conn {
	struct bufferevent		*bev;
	struct evhttp_connection	*evcon;	/* once adopted */
	struct evbuffer_cb_entry	*incb, *outcb;
	struct event			*deadline;
	enum api_phase			 phase;
	int				 eol;	/* a header line just ended */
	int				 counted; /* holds an address slot */
	char				 addr[ADDR_STR_MAX];
	TAILQ_ENTRY(api_conn)		 entry;	/* in api.pending */
};

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
	int				 limit[API_PHASE_MAX];	/* seconds */
	TAILQ_HEAD(, api_conn)		 pending;	/* not adopted yet */
	char				 addrstr[ADDR_STR_MAX];
} api;

static SSL_CTX	*api_ssl_new(const char *, const char *, char **);
static int	 api_listen(const struct conf *, char **);
static struct bufferevent *api_bevcb(struct event_base *, void *);
static void	 api_conn_adopt(evutil_socket_t, short, void *);
static void	 api_conn_closed(struct evhttp_connection *, void *);
static void	 api_conn_gone(void);
static void	 api_conn_free(struct api_conn *);
static void	 api_conn_enter(struct api_conn *, enum api_phase);
static const char *api_phase_name(enum api_phase);
static void	 api_conn_input(struct evbuffer *,
		    const struct evbuffer_cb_info *, void *);
static void	 api_conn_output(struct evbuffer *,
		    const struct evbuffer_cb_info *, void *);
static void	 api_conn_deadline(evutil_socket_t, short, void *);
static void	 api_ssl_info(const SSL *, int, int);
static void	 api_handle(struct evhttp_request *, void *);
static void	 api_reply(struct evhttp_request *, int, const char *,
		    const char *, size_t, const char *);
static void	 api_text(struct evhttp_request *, int, const char *);
static int	 api_etag_match(struct evhttp_request *, const char *);
static void	 api_get(struct evhttp_request *, const char *, const char *);
static void	 api_index(struct evhttp_request *, const char *);
static void	 api_put(struct evhttp_request *, const char *,
		    const char *);
static void	 api_delete(struct evhttp_request *, const char *,
		    const char *);
static int	 api_sig_parse(struct evhttp_request *, const char *,
		    const char *, const void *, size_t, struct api_sig *,
		    const char **);
static int	 api_sig_accept(const char *, struct api_sig *, int *,
		    const char **);
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
	/*
	 * TLS 1.2: ECDHE with AEAD only (forward secrecy, no CBC); the TLS
	 * 1.3 suites all are.
	 */
	if (!SSL_CTX_set_cipher_list(ctx, API_TLS12_CIPHERS)) {
		xasprintf(cause, "tls: cipher list refused");
		ERR_clear_error();
		SSL_CTX_free(ctx);
		return (NULL);
	}
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION |
	    SSL_OP_CIPHER_SERVER_PREFERENCE);
	SSL_CTX_set_info_callback(ctx, api_ssl_info);
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
	api.limit[API_HANDSHAKE] = conf_int(conf, "tls:handshake_timeout_s");
	api.limit[API_HEADERS] = conf_int(conf, "http:header_timeout_s");
	api.limit[API_BODY] = conf_int(conf, "http:body_timeout_s");
	api.limit[API_REPLY] = conf_int(conf, "http:header_timeout_s");
	TAILQ_INIT(&api.pending);
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
	struct api_conn		*c;
	struct bufferevent	*bev;

	/* evhttp_free closes the listener before the connections. */
	api.bound = NULL;
	if (api.http != NULL)
		evhttp_free(api.http);
	api.http = NULL;
	/* Connections not adopted yet: evhttp has let go of them. */
	while ((c = TAILQ_FIRST(&api.pending)) != NULL) {
		bev = c->bev;
		api_conn_free(c);
		bufferevent_decref(bev);
	}
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

/* 1 while max_connections holds the listener closed. */
int
api_paused(void)
{
	return (api.paused);
}

/*
 * evhttp wants a bufferevent for a new connection: count it, start its
 * first deadline, watch its buffers.
 */
static struct bufferevent *
api_bevcb(struct event_base *base, void *arg)
{
	static const struct timeval	 now = { 0, 0 };
	struct bufferevent		*bev;
	struct api_conn			*c;
	SSL				*ssl = NULL;

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
	c = xcalloc(1, sizeof *c);
	c->bev = bev;
	if ((c->deadline = evtimer_new(base, api_conn_deadline, c)) == NULL ||
	    (c->incb = evbuffer_add_cb(bufferevent_get_input(bev),
	    api_conn_input, c)) == NULL ||
	    (c->outcb = evbuffer_add_cb(bufferevent_get_output(bev),
	    api_conn_output, c)) == NULL)
		fatalx("cannot watch a new connection");
	strlcpy_(c->addr, "-", sizeof c->addr);
	if (ssl != NULL)
		SSL_set_app_data(ssl, c);
	api_conn_enter(c, ssl != NULL ? API_HANDSHAKE : API_HEADERS);
	TAILQ_INSERT_TAIL(&api.pending, c, entry);
	bufferevent_incref(bev);
	stats_conn_accepted();
	if (event_base_once(base, -1, EV_TIMEOUT, api_conn_adopt, c,
	    &now) == -1)
		fatalx("event_base_once failed");
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
 * connection object, the callback argument of the bufferevent.  Close it
 * when its address is at max_per_addr, else hook its close callback.
 * When evhttp has already freed it (callbacks cleared), count it out.
 */
static void
api_conn_adopt(evutil_socket_t fd, short what, void *arg)
{
	struct api_conn		*c = arg;
	struct bufferevent	*bev = c->bev;
	bufferevent_event_cb	 eventcb = NULL;
	struct logline		 l;
	void			*cbarg = NULL;
	char			*host = NULL;
	ev_uint16_t		 port = 0;

	bufferevent_getcb(bev, NULL, NULL, &eventcb, &cbarg);
	if (eventcb == NULL || cbarg == NULL) {
		api_conn_free(c);
		api_conn_gone();
		bufferevent_decref(bev);
		return;
	}
	TAILQ_REMOVE(&api.pending, c, entry);
	c->evcon = cbarg;
	evhttp_connection_get_peer(c->evcon, &host, &port);
	strlcpy_(c->addr, host != NULL ? host : "unknown", sizeof c->addr);
	if (!guard_conn_open(c->addr)) {
		lf_begin(&l, LOG_L_DEBUG, "conn_refused");
		lf_str(&l, "addr", c->addr);
		lf_str(&l, "reason", "max_per_addr");
		lf_emit(&l);
		stats_conn_closed(STATS_CLOSED_PER_ADDR);
		evhttp_connection_free(c->evcon);
		api_conn_free(c);
		api_conn_gone();
	} else {
		c->counted = 1;
		evhttp_connection_set_closecb(c->evcon, api_conn_closed, c);
	}
	bufferevent_decref(bev);
}

/* evhttp closes a connection. */
static void
api_conn_closed(struct evhttp_connection *evcon, void *arg)
{
	api_conn_free(arg);
	api_conn_gone();
}

/*
 * Forget a connection: its deadline, its buffer callbacks (the
 * bufferevent is still there: evhttp frees it after the close callback,
 * or our reference holds it) and its address slot.
 */
static void
api_conn_free(struct api_conn *c)
{
	SSL	*ssl;

	if (c->evcon == NULL)
		TAILQ_REMOVE(&api.pending, c, entry);
	if ((ssl = bufferevent_openssl_get_ssl(c->bev)) != NULL)
		SSL_set_app_data(ssl, NULL);
	evbuffer_remove_cb_entry(bufferevent_get_input(c->bev), c->incb);
	evbuffer_remove_cb_entry(bufferevent_get_output(c->bev), c->outcb);
	event_free(c->deadline);
	if (c->counted)
		guard_conn_close(c->addr);
	free(c);
}

/* The name of a phase for logs. */
static const char *
api_phase_name(enum api_phase p)
{
	static const char *const names[] = {
		[API_HANDSHAKE] = "handshake",
		[API_HEADERS] = "headers",
		[API_BODY] = "body",
		[API_REPLY] = "reply",
	};

	return (p < API_PHASE_MAX ? names[p] : "unknown");
}

/* Enter a phase: its deadline starts now. */
static void
api_conn_enter(struct api_conn *c, enum api_phase p)
{
	struct timeval	tv = { api.limit[p], 0 };

	c->phase = p;
	c->eol = 0;
	evtimer_add(c->deadline, &tv);
}

/*
 * Bytes arrived (plain text, after TLS): while in the headers, look for
 * the empty line that ends them ("\n\n" or "\n\r\n").
 */
static void
api_conn_input(struct evbuffer *buf, const struct evbuffer_cb_info *info,
    void *arg)
{
	struct api_conn		*c = arg;
	struct evbuffer_ptr	 at;
	struct evbuffer_iovec	 v[8];
	const unsigned char	*p;
	size_t			 left = info->n_added, i, len;
	int			 n, k;

	if (c->phase != API_HEADERS || left == 0)
		return;
	/* The new bytes are the last ones (unless some were read already). */
	if (left > evbuffer_get_length(buf))
		left = evbuffer_get_length(buf);
	if (evbuffer_ptr_set(buf, &at, evbuffer_get_length(buf) - left,
	    EVBUFFER_PTR_SET) == -1)
		return;
	while (left > 0) {
		n = evbuffer_peek(buf, left, &at, v, 8);
		for (k = 0; k < n && k < 8 && left > 0; k++) {
			p = v[k].iov_base;
			len = v[k].iov_len < left ? v[k].iov_len : left;
			for (i = 0; i < len; i++) {
				if (p[i] == '\n') {
					if (c->eol) {
						api_conn_enter(c, API_BODY);
						return;
					}
					c->eol = 1;
				} else if (p[i] != '\r')
					c->eol = 0;
			}
			left -= len;
			evbuffer_ptr_set(buf, &at, len, EVBUFFER_PTR_ADD);
		}
		if (n <= 0)
			break;
	}
}

/*
 * Our side writes: a reply queued ends the request (its deadline); the
 * reply written starts the wait for the next request's headers.
 */
static void
api_conn_output(struct evbuffer *buf, const struct evbuffer_cb_info *info,
    void *arg)
{
	struct api_conn	*c = arg;

	if (info->n_added > 0 && (c->phase == API_HEADERS ||
	    c->phase == API_BODY))
		api_conn_enter(c, API_REPLY);
	else if (info->n_deleted > 0 && c->phase == API_REPLY &&
	    evbuffer_get_length(buf) == 0)
		api_conn_enter(c, API_HEADERS);
}

/* A phase took too long: close the connection, however busy it is. */
static void
api_conn_deadline(evutil_socket_t fd, short what, void *arg)
{
	struct api_conn	*c = arg;
	struct logline	 l;

	lf_begin(&l, LOG_L_DEBUG, "conn_timeout");
	lf_str(&l, "addr", c->addr);
	lf_str(&l, "phase", api_phase_name(c->phase));
	lf_int(&l, "limit_s", api.limit[c->phase]);
	lf_emit(&l);
	if (c->evcon == NULL) {
		/* Not adopted yet (cannot happen: that is one loop pass). */
		api_conn_enter(c, c->phase);
		return;
	}
	stats_conn_closed(STATS_CLOSED_DEADLINE);
	evhttp_connection_free(c->evcon);	/* calls api_conn_closed */
}

/* OpenSSL's state callback: a finished handshake ends its deadline. */
static void
api_ssl_info(const SSL *ssl, int where, int ret)
{
	struct api_conn	*c;

	if ((where & SSL_CB_HANDSHAKE_DONE) == 0)
		return;
	c = SSL_get_app_data(ssl);
	if (c != NULL && c->phase == API_HANDSHAKE)
		api_conn_enter(c, API_HEADERS);
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

/* The route of a request, a label of the request counters. */
static enum stats_route
api_route(struct evhttp_request *req)
{
	const struct evhttp_uri	*uri = evhttp_request_get_evhttp_uri(req);
	const char		*path;

	path = uri != NULL ? evhttp_uri_get_path(uri) : NULL;
	if (path == NULL)
		return (STATS_ROUTE_OTHER);
	if (strcmp(path, API_PREFIX) == 0 || strcmp(path, API_PREFIX "/") == 0)
		return (evhttp_request_get_command(req) == EVHTTP_REQ_GET ||
		    evhttp_request_get_command(req) == EVHTTP_REQ_HEAD ?
		    STATS_ROUTE_INDEX : STATS_ROUTE_OTHER);
	if (strncmp(path, API_PREFIX "/", sizeof API_PREFIX) != 0)
		return (STATS_ROUTE_OTHER);
	switch (evhttp_request_get_command(req)) {
	case EVHTTP_REQ_GET:
	case EVHTTP_REQ_HEAD:
		return (STATS_ROUTE_KEY_GET);
	case EVHTTP_REQ_PUT:
		return (STATS_ROUTE_KEY_PUT);
	case EVHTTP_REQ_DELETE:
		return (STATS_ROUTE_KEY_DELETE);
	default:
		return (STATS_ROUTE_OTHER);
	}
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
	node = path + sizeof API_PREFIX;
	if (!ks_node_valid(node, &why)) {
		api_refuse(req, host, NULL, 400, why, "");
		return;
	}
	switch (cmd) {
	case EVHTTP_REQ_GET:
	case EVHTTP_REQ_HEAD:
		api_get(req, node, host);
		break;
	case EVHTTP_REQ_PUT:
		api_put(req, node, host);
		break;
	case EVHTTP_REQ_DELETE:
		api_delete(req, node, host);
		break;
	default:
		api_refuse(req, host, node, 405, "method not allowed", "");
		break;
	}
}

/* GET /v1/keys/<node> from addr: no disk I/O. */
static void
api_get(struct evhttp_request *req, const char *node, const char *addr)
{
	const struct ks_key	*k;

	if ((k = keys_get(node)) == NULL) {
		api_refuse(req, addr, node, 404, "unknown node", "");
		return;
	}
	if (api_etag_match(req, k->etag)) {
		api_reply(req, 304, NULL, NULL, 0, k->etag);
		api_log(req, addr, node, 304, "not modified", k->fpr);
		return;
	}
	api_reply(req, 200, "application/x-pem-file", k->pem, k->len,
	    k->etag);
	api_log(req, addr, node, 200, "key", k->fpr);
}

/* GET /v1/keys from addr: the index. */
static void
api_index(struct evhttp_request *req, const char *addr)
{
	const char	*text;
	size_t		 len;

	text = keys_index(&len);
	api_reply(req, 200, "text/plain", text, len, NULL);
	api_log(req, addr, NULL, 200, "index", NULL);
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
 * Accept the nonce and timestamp of a signed request on node once it is
 * authorised (so nobody else can fill the replay cache or burn a nonce):
 * not in the replay cache, and newer than the node's last accepted
 * request (keys_seen, kept in the store: no replay after a restart
 * either).  0, or -1 with *code and *why (static).
 */
static int
api_sig_accept(const char *node, struct api_sig *s, int *code,
    const char **why)
{
	char	*cause = NULL;
	int	 rc;

	if (guard_nonce_seen(s->nonce, time(NULL), why)) {
		*code = strcmp(*why, "nonce already used") == 0 ? 409 : 503;
		return (-1);
	}
	if ((rc = keys_seen(node, s->ts, s->nonce, why, &cause)) == 0)
		return (0);
	if (rc == -1) {
		log_warnx("replay state of %s: %s", node, cause);
		free(cause);
		*code = 500;
		*why = "storage error";
	} else
		*code = rc == KEYS_SEEN_BUSY ? 503 : 409;
	return (-1);
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
	if (api_sig_accept(node, &s, &code, &why) == -1)
		goto fail;
	if (cur != NULL && strcmp(cur->fpr, info.fingerprint) == 0) {
		evbuffer_add_printf(evhttp_request_get_output_buffer(req),
		    "%s unchanged\n", cur->fpr);
		api_reply(req, 200, "text/plain", NULL, 0, cur->etag);
		api_log(req, addr, node, 200, "unchanged", fpr);
		stats_upload(STATS_UPLOAD_UNCHANGED);
		free(s.canon);
		return;
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
	stats_upload(code == 201 ? STATS_UPLOAD_REGISTERED :
	    STATS_UPLOAD_REPLACED);
	free(s.canon);
	return;

fail:
	api_refuse(req, addr, node, code, cause != NULL ? cause : why, fpr);
	stats_upload(STATS_UPLOAD_REFUSED);
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
		if (api_sig_accept(node, &s, &code, &why) == -1)
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
