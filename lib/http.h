/*
 * http: an asynchronous HTTP(S) client, libcurl's multi interface driven
 * by the caller's libevent loop (curl's multi-event.c/hiperfifo pattern).
 *
 * One CURLM per struct http.  libcurl tells us which sockets to watch
 * (an EV_PERSIST event each) and when to wake it (one evtimer, which the
 * timer callback only re-arms).  Those events call
 * curl_multi_socket_action and then drain finished transfers; only the
 * drain delivers libcurl's completions.  A request's own deadline timer
 * (see below) is the one other way a callback runs.
 *
 * Contract:
 *  - The callback runs exactly once per request unless the request is
 *    cancelled (http_cancel, http_free), always from the event loop and
 *    never from inside http_request.  The response and everything it
 *    points to is borrowed: valid only during the callback.  The request
 *    handle is gone once its callback has started.
 *  - A callback may call http_request, http_cancel on other requests and
 *    http_free.  http_cancel on the request whose callback is running is
 *    a no-op.
 *  - A transfer succeeded when result is 0 (error is then NULL): status is
 *    the HTTP status, whatever it is.  Redirects are never followed: a
 *    3xx comes back as its status.  Otherwise error says why (libcurl's
 *    text, or "body larger than N bytes"), and status is that of a
 *    partial response or 0.
 *  - Every request has a total and a connect timeout (defaults below)
 *    and ends at most timeout_ms + HTTP_GRACE_MS after http_request, also
 *    while it waits for a connection under max_total_connections:
 *    libcurl 7.88 does not time those out, so each request has a deadline
 *    timer of its own, which fails it with CURLE_OPERATION_TIMEDOUT.
 *  - Each request has a body cap, TLS verification of peer and host name
 *    (always on; TLS 1.2 at least), only https unless allow_http, no
 *    redirects, no proxy from the environment, no cookies, no content
 *    decoding, and "Expect:" off for bodies.
 *  - Nothing secret is logged: URLs go through http_redact, extra headers
 *    (an API key) never appear in a log line.  Events are at debug level:
 *    event=http_start and event=http_done.
 *
 * Name resolution: Debian's libcurl uses its threaded resolver (feature
 * CURL_VERSION_ASYNCHDNS): getaddrinfo runs in a helper thread per lookup
 * and the loop never waits for it.  Each handle sets CURLOPT_QUICK_EXIT,
 * so a request that times out or is cancelled while its lookup hangs
 * detaches the thread instead of joining it (libcurl otherwise blocks in
 * curl_multi_remove_handle until getaddrinfo returns, curl#2975/#8515);
 * such a thread frees its own data when getaddrinfo returns.  A libcurl
 * without ASYNCHDNS resolves synchronously, blocking the loop for as long
 * as a lookup takes (without a timeout, as CURLOPT_NOSIGNAL is set):
 * http_new logs a warning then; use IP literals or /etc/hosts names.
 */
#ifndef HTTP_H
#define HTTP_H

#include <stddef.h>

struct event_base;
struct http;
struct http_req;

#define HTTP_URL_MAX		4096	/* longer URLs are refused */
#define HTTP_GRACE_MS		100	/* our deadline after libcurl's */
#define HTTP_TIMEOUT_MS		10000	/* timeout_ms 0 */
#define HTTP_TIMEOUT_LIMIT	3600000	/* timeouts at most (1 h) */
#define HTTP_CONNECT_TIMEOUT_MS	8000	/* connect_timeout_ms 0 */
#define HTTP_BODY_DEFAULT	(1024 * 1024)		/* max_body 0 */
#define HTTP_BODY_LIMIT		(64 * 1024 * 1024)	/* max_body at most */
#define HTTP_ETAG_MAX		256	/* a longer ETag is ignored */
#define HTTP_HEADER_MAX		1024	/* one extra header line */
#define HTTP_HEADERS_MAX	16	/* extra header lines */
#define HTTP_CAPTURE_MAX	4	/* response headers captured */
#define HTTP_CAPTURE_NAME_MAX	64	/* a captured header's name */
#define HTTP_CAPTURE_VALUE_MAX	256	/* a longer value is ignored */

struct http_resp {
	long		 status;	/* HTTP status; 0 when none */
	const char	*body;		/* NUL-terminated; "" when none */
	size_t		 len;		/* body bytes, without the NUL */
	const char	*etag;		/* as sent, quotes kept; NULL if none */
	/* Values of the headers opts->capture named, in that order: the
	   final response's, trimmed; NULL when absent, repeated, empty, too
	   long or not printable.  Bit i of captured_bad is set when
	   captured[i] is NULL although the header was there (refused). */
	const char	*captured[HTTP_CAPTURE_MAX];
	unsigned int	 captured_bad;
	int		 result;	/* CURLcode: 0 when it worked */
	const char	*error;		/* NULL iff result is 0 */
	long		 ms;		/* from http_request to completion */
};

typedef void (*http_cb)(void *, const struct http_resp *);

struct http_opts {
	const char		 *method;	/* NULL: GET; "HEAD", "POST",
						   "PUT", "DELETE", "PATCH" */
	const void		 *body;		/* copied */
	size_t			  body_len;
	const char		 *content_type;	/* default for a body:
						   application/octet-stream */
	long			  timeout_ms;	/* 0: HTTP_TIMEOUT_MS */
	long			  connect_timeout_ms; /* 0: HTTP_CONNECT_... */
	size_t			  max_body;	/* 0: HTTP_BODY_DEFAULT */
	const char		 *ca_file;	/* NULL or "": system CAs; else
						   only this file's CAs */
	int			  allow_http;	/* else https only */
	const char		 *if_none_match; /* adds If-None-Match */
	const char *const	 *headers;	/* "Name: value", NULL-ended;
						   never logged */
	const char *const	 *capture;	/* response header names to
						   capture, NULL-ended */
};

/*
 * A client on base; max_total_connections caps open connections
 * (CURLMOPT_MAX_TOTAL_CONNECTIONS, 0: no cap; requests beyond it wait
 * inside libcurl).  NULL (logged) when libcurl cannot be set up.
 */
struct http	*http_new(struct event_base *, int);

/* Cancel every request (no callback runs) and free the client. */
void		 http_free(struct http *);

/*
 * Start a request for url with opts (NULL: all defaults); cb(arg, resp)
 * runs once, later, from the loop.  Refused at once (NULL and *cause,
 * caller frees) for a bad or over-long URL, a scheme other than https
 * (or http with allow_http), a bad method, header, If-None-Match,
 * Content-Type or limit, or a client being freed.
 */
struct http_req	*http_request(struct http *, const char *,
		    const struct http_opts *, http_cb, void *, char **);

/* Cancel a request: its callback will not run.  NULL is ignored. */
void		 http_cancel(struct http_req *);

/* Requests started and neither finished nor cancelled. */
int		 http_inflight(const struct http *);

/*
 * A copy of url for logs (caller frees): userinfo removed, every query
 * value replaced by "xxx" (a parameter without '=' becomes "xxx"), the
 * fragment dropped.
 */
char		*http_redact(const char *);

/* Percent-encode all but RFC 3986 unreserved characters (caller frees). */
char		*http_escape(const char *);

#endif
