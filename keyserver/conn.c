/*
 * conn: the key server's HTTP transport.  evhttp on the shared event
 * base; with [tls] cert and key every connection is a libevent_openssl
 * bufferevent.  Requests go to api_handle (api.c).
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
 */
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/listener.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "lib/addr.h"
#include "lib/log.h"
#include "lib/xmalloc.h"
#include "keyserver/ks.h"

#define CONN_TLS12_CIPHERS "ECDHE+AESGCM:ECDHE+CHACHA20"

/* What a connection is waiting for; each phase has its own deadline. */
enum conn_phase {
	CONN_HANDSHAKE,		/* the TLS handshake */
	CONN_HEADERS,		/* the request line and headers */
	CONN_BODY,		/* the body, after the headers */
	CONN_REPLY,		/* our reply to be written */
	CONN_PHASE_MAX
};

/* One client connection, from the bufferevent callback to its close. */
struct conn_client {
	struct bufferevent		*bev;
	struct evhttp_connection	*evcon;	/* once adopted */
	struct evbuffer_cb_entry	*incb, *outcb;
	struct event			*deadline;
	enum conn_phase			 phase;
	int				 eol;	/* a header line just ended */
	int				 counted; /* holds an address slot */
	char				 addr[ADDR_STR_MAX];
	TAILQ_ENTRY(conn_client)	 entry;	/* in conn.pending */
};

static struct {
	struct event_base		*base;
	struct evhttp			*http;
	struct evhttp_bound_socket	*bound;
	SSL_CTX				*ssl;
	int				 active, max, paused;
	int				 limit[CONN_PHASE_MAX];	/* seconds */
	TAILQ_HEAD(, conn_client)	 pending;	/* not adopted yet */
	char				 addrstr[ADDR_STR_MAX];
} conn;

static SSL_CTX	*conn_ssl_new(const char *, const char *, char **);
static int	 conn_listen(const struct conf *, char **);
static struct bufferevent *conn_bevcb(struct event_base *, void *);
static void	 conn_adopt(evutil_socket_t, short, void *);
static void	 conn_closed(struct evhttp_connection *, void *);
static void	 conn_gone(void);
static void	 conn_forget(struct conn_client *);
static void	 conn_enter(struct conn_client *, enum conn_phase);
static const char *conn_phase_name(enum conn_phase);
static void	 conn_input(struct evbuffer *,
		    const struct evbuffer_cb_info *, void *);
static void	 conn_output(struct evbuffer *,
		    const struct evbuffer_cb_info *, void *);
static void	 conn_deadline(evutil_socket_t, short, void *);
static void	 conn_ssl_info(const SSL *, int, int);

/* An SSL_CTX for the server certificate; NULL with *cause. */
static SSL_CTX *
conn_ssl_new(const char *cert, const char *key, char **cause)
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
	if (!SSL_CTX_set_cipher_list(ctx, CONN_TLS12_CIPHERS)) {
		xasprintf(cause, "tls: cipher list refused");
		ERR_clear_error();
		SSL_CTX_free(ctx);
		return (NULL);
	}
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION |
	    SSL_OP_CIPHER_SERVER_PREFERENCE);
	SSL_CTX_set_info_callback(ctx, conn_ssl_info);
	return (ctx);
}

/*
 * Check [tls]: cert and key both set (then usable) or both empty.  Used
 * by -n and at startup.  0 or -1 with *cause.
 */
int
conn_tls_check(const struct conf *conf, char **cause)
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
	if ((ctx = conn_ssl_new(cert, key, cause)) == NULL)
		return (-1);
	SSL_CTX_free(ctx);
	return (0);
}

/* Bind [http] listen and hand the socket to evhttp; 0 or -1. */
static int
conn_listen(const struct conf *conf, char **cause)
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
	addr_format((struct sockaddr *)&ss, sl, conn.addrstr,
	    sizeof conn.addrstr);
	if ((conn.bound = evhttp_accept_socket_with_handle(conn.http,
	    fd)) == NULL) {
		xasprintf(cause, "http:listen: evhttp refused the socket");
		close(fd);
		return (-1);
	}
	return (0);
}

/* Set up evhttp, TLS and the listener; 0 or -1 with *cause. */
int
conn_init(struct event_base *base, const struct conf *conf, char **cause)
{
	const char	*cert = conf_str(conf, "tls:cert");
	const char	*key = conf_str(conf, "tls:key");
	struct logline	 l;

	conn.base = base;
	conn.max = conf_int(conf, "http:max_connections");
	conn.limit[CONN_HANDSHAKE] = conf_int(conf, "tls:handshake_timeout_s");
	conn.limit[CONN_HEADERS] = conf_int(conf, "http:header_timeout_s");
	conn.limit[CONN_BODY] = conf_int(conf, "http:body_timeout_s");
	conn.limit[CONN_REPLY] = conf_int(conf, "http:header_timeout_s");
	TAILQ_INIT(&conn.pending);
	if (conn_tls_check(conf, cause) == -1)
		return (-1);
	if (*cert != '\0' && (conn.ssl = conn_ssl_new(cert, key,
	    cause)) == NULL)
		return (-1);
	if ((conn.http = evhttp_new(base)) == NULL) {
		xasprintf(cause, "evhttp_new failed");
		return (-1);
	}
	evhttp_set_max_body_size(conn.http,
	    conf_int(conf, "http:max_body"));
	evhttp_set_max_headers_size(conn.http,
	    conf_int(conf, "http:max_headers"));
	evhttp_set_timeout(conn.http, conf_int(conf, "http:timeout_s"));
	evhttp_set_allowed_methods(conn.http, EVHTTP_REQ_GET |
	    EVHTTP_REQ_HEAD | EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE);
	evhttp_set_flags(conn.http, EVHTTP_SERVER_LINGERING_CLOSE);
	evhttp_set_default_content_type(conn.http, "text/plain");
	evhttp_set_gencb(conn.http, api_handle, NULL);
	evhttp_set_bevcb(conn.http, conn_bevcb, NULL);
	if (conn_listen(conf, cause) == -1)
		return (-1);
	lf_begin(&l, LOG_L_INFO, "listen");
	lf_str(&l, "what", conn.ssl != NULL ? "https" : "http");
	lf_str(&l, "addr", conn.addrstr);
	lf_emit(&l);
	return (0);
}

/* Close every connection and the listener. */
void
conn_free(void)
{
	struct conn_client		*c;
	struct bufferevent	*bev;

	/* evhttp_free closes the listener before the connections. */
	conn.bound = NULL;
	if (conn.http != NULL)
		evhttp_free(conn.http);
	conn.http = NULL;
	/* Connections not adopted yet: evhttp has let go of them. */
	while ((c = TAILQ_FIRST(&conn.pending)) != NULL) {
		bev = c->bev;
		conn_forget(c);
		bufferevent_decref(bev);
	}
	SSL_CTX_free(conn.ssl);
	conn.ssl = NULL;
}

/* The bound address, "a.b.c.d:port" (for tests: port 0 picks one). */
const char *
conn_addr(void)
{
	return (conn.addrstr);
}

/* Connections open now. */
int
conn_active(void)
{
	return (conn.active);
}

/* 1 while max_connections holds the listener closed. */
int
conn_paused(void)
{
	return (conn.paused);
}

/*
 * evhttp wants a bufferevent for a new connection: count it, start its
 * first deadline, watch its buffers.
 */
static struct bufferevent *
conn_bevcb(struct event_base *base, void *arg)
{
	static const struct timeval	 now = { 0, 0 };
	struct bufferevent		*bev;
	struct conn_client			*c;
	SSL				*ssl = NULL;

	if (conn.ssl != NULL) {
		if ((ssl = SSL_new(conn.ssl)) == NULL)
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
	if ((c->deadline = evtimer_new(base, conn_deadline, c)) == NULL ||
	    (c->incb = evbuffer_add_cb(bufferevent_get_input(bev),
	    conn_input, c)) == NULL ||
	    (c->outcb = evbuffer_add_cb(bufferevent_get_output(bev),
	    conn_output, c)) == NULL)
		fatalx("cannot watch a new connection");
	strlcpy_(c->addr, "-", sizeof c->addr);
	if (ssl != NULL)
		SSL_set_app_data(ssl, c);
	conn_enter(c, ssl != NULL ? CONN_HANDSHAKE : CONN_HEADERS);
	TAILQ_INSERT_TAIL(&conn.pending, c, entry);
	bufferevent_incref(bev);
	stats_conn_accepted();
	if (event_base_once(base, -1, EV_TIMEOUT, conn_adopt, c,
	    &now) == -1)
		fatalx("event_base_once failed");
	if (++conn.active >= conn.max && !conn.paused) {
		evconnlistener_disable(evhttp_bound_socket_get_listener(
		    conn.bound));
		conn.paused = 1;
		log_warnx("max_connections (%d) reached, listener paused",
		    conn.max);
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
conn_adopt(evutil_socket_t fd, short what, void *arg)
{
	struct conn_client		*c = arg;
	struct bufferevent	*bev = c->bev;
	bufferevent_event_cb	 eventcb = NULL;
	struct logline		 l;
	void			*cbarg = NULL;
	char			*host = NULL;
	ev_uint16_t		 port = 0;

	bufferevent_getcb(bev, NULL, NULL, &eventcb, &cbarg);
	if (eventcb == NULL || cbarg == NULL) {
		conn_forget(c);
		conn_gone();
		bufferevent_decref(bev);
		return;
	}
	TAILQ_REMOVE(&conn.pending, c, entry);
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
		conn_forget(c);
		conn_gone();
	} else {
		c->counted = 1;
		evhttp_connection_set_closecb(c->evcon, conn_closed, c);
	}
	bufferevent_decref(bev);
}

/* evhttp closes a connection. */
static void
conn_closed(struct evhttp_connection *evcon, void *arg)
{
	conn_forget(arg);
	conn_gone();
}

/*
 * Forget a connection: its deadline, its buffer callbacks (the
 * bufferevent is still there: evhttp frees it after the close callback,
 * or our reference holds it) and its address slot.
 */
static void
conn_forget(struct conn_client *c)
{
	SSL	*ssl;

	if (c->evcon == NULL)
		TAILQ_REMOVE(&conn.pending, c, entry);
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
conn_phase_name(enum conn_phase p)
{
	static const char *const names[] = {
		[CONN_HANDSHAKE] = "handshake",
		[CONN_HEADERS] = "headers",
		[CONN_BODY] = "body",
		[CONN_REPLY] = "reply",
	};

	return (p < CONN_PHASE_MAX ? names[p] : "unknown");
}

/* Enter a phase: its deadline starts now. */
static void
conn_enter(struct conn_client *c, enum conn_phase p)
{
	struct timeval	tv = { conn.limit[p], 0 };

	c->phase = p;
	c->eol = 0;
	evtimer_add(c->deadline, &tv);
}

/*
 * Bytes arrived (plain text, after TLS): while in the headers, look for
 * the empty line that ends them ("\n\n" or "\n\r\n").
 */
static void
conn_input(struct evbuffer *buf, const struct evbuffer_cb_info *info,
    void *arg)
{
	struct conn_client		*c = arg;
	struct evbuffer_ptr	 at;
	struct evbuffer_iovec	 v[8];
	const unsigned char	*p;
	size_t			 left = info->n_added, i, len;
	int			 n, k;

	if (c->phase != CONN_HEADERS || left == 0)
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
						conn_enter(c, CONN_BODY);
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
conn_output(struct evbuffer *buf, const struct evbuffer_cb_info *info,
    void *arg)
{
	struct conn_client	*c = arg;

	if (info->n_added > 0 && (c->phase == CONN_HEADERS ||
	    c->phase == CONN_BODY))
		conn_enter(c, CONN_REPLY);
	else if (info->n_deleted > 0 && c->phase == CONN_REPLY &&
	    evbuffer_get_length(buf) == 0)
		conn_enter(c, CONN_HEADERS);
}

/* A phase took too long: close the connection, however busy it is. */
static void
conn_deadline(evutil_socket_t fd, short what, void *arg)
{
	struct conn_client	*c = arg;
	struct logline	 l;

	lf_begin(&l, LOG_L_DEBUG, "conn_timeout");
	lf_str(&l, "addr", c->addr);
	lf_str(&l, "phase", conn_phase_name(c->phase));
	lf_int(&l, "limit_s", conn.limit[c->phase]);
	lf_emit(&l);
	if (c->evcon == NULL) {
		/* Not adopted yet (cannot happen: that is one loop pass). */
		conn_enter(c, c->phase);
		return;
	}
	stats_conn_closed(STATS_CLOSED_DEADLINE);
	evhttp_connection_free(c->evcon);	/* calls conn_closed */
}

/* OpenSSL's state callback: a finished handshake ends its deadline. */
static void
conn_ssl_info(const SSL *ssl, int where, int ret)
{
	struct conn_client	*c;

	if ((where & SSL_CB_HANDSHAKE_DONE) == 0)
		return;
	c = SSL_get_app_data(ssl);
	if (c != NULL && c->phase == CONN_HANDSHAKE)
		conn_enter(c, CONN_HEADERS);
}

/* A connection is gone: count it out, resume the listener if paused. */
static void
conn_gone(void)
{
	conn.active--;
	if (conn.paused && conn.active < conn.max && conn.bound != NULL) {
		evconnlistener_enable(evhttp_bound_socket_get_listener(
		    conn.bound));
		conn.paused = 0;
		log_info("listener resumed");
	}
}

/* The method name for logs. */
