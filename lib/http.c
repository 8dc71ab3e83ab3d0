/*
 * http: libcurl's multi interface inside the caller's libevent loop (see
 * http.h for the contract).
 *
 * Re-entrancy: user callbacks run only from http_drain, after
 * curl_multi_socket_action has returned, and from a request's own
 * deadline timer, so they never run inside libcurl.  Every entry from the
 * loop holds h->busy; http_free from a callback cancels the requests and
 * marks the client dying, and the last http_leave frees it.  A request
 * is unlinked and its easy handle removed before its callback runs.
 */
#include <sys/queue.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>
#include <event2/event.h>

#include "lib/http.h"
#include "lib/log.h"
#include "lib/xmalloc.h"

#define HTTP_ERROR_MAX	128		/* our own error texts */

struct http_sock {
	LIST_ENTRY(http_sock)	 entry;
	struct http		*h;
	curl_socket_t		 fd;
	struct event		*ev;
};

struct http_req {
	TAILQ_ENTRY(http_req)	 entry;
	struct http		*h;
	CURL			*easy;
	struct curl_slist	*hdrs;
	http_cb			 cb;
	void			*arg;
	unsigned long long	 id;
	uint64_t		 t_start;
	long			 timeout_ms;
	struct event		*deadline;
	int			 delivering;	/* its callback runs */

	size_t			 max_body;
	int			 toobig;
	char			*body;
	size_t			 len;
	size_t			 size;		/* allocated, <= max_body + 1 */

	int			 has_etag;
	char			 etag[HTTP_ETAG_MAX + 1];
	int			 ncap;
	char			 capname[HTTP_CAPTURE_MAX]
				    [HTTP_CAPTURE_NAME_MAX + 1];
	int			 capstate[HTTP_CAPTURE_MAX]; /* 0 absent, 1
							seen, -1 refused */
	char			 capval[HTTP_CAPTURE_MAX]
				    [HTTP_CAPTURE_VALUE_MAX + 1];
	char			 errbuf[CURL_ERROR_SIZE];
	char			 error[HTTP_ERROR_MAX];
};

struct http {
	struct event_base	*base;
	CURLM			*multi;
	struct event		*timer;
	TAILQ_HEAD(, http_req)	 reqs;
	LIST_HEAD(, http_sock)	 socks;
	int			 ninflight;
	int			 busy;		/* entries from the loop */
	int			 dying;		/* http_free called */
	unsigned long long	 next_id;
};

static const char *const http_methods[] = {
	"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", NULL
};

static uint64_t	 http_now_ms(void);
static void	 http_version_log(void);
static int	 http_sock_cb(CURL *, curl_socket_t, int, void *, void *);
static void	 http_sock_free(struct http_sock *);
static void	 http_sock_event(evutil_socket_t, short, void *);
static int	 http_timer_cb(CURLM *, long, void *);
static void	 http_timer_event(evutil_socket_t, short, void *);
static void	 http_enter(struct http *);
static void	 http_leave(struct http *);
static void	 http_destroy(struct http *);
static void	 http_drain(struct http *);
static void	 http_deadline_event(evutil_socket_t, short, void *);
static void	 http_done(struct http_req *, CURLcode, const char *);
static void	 http_req_free(struct http_req *);
static size_t	 http_write_cb(char *, size_t, size_t, void *);
static size_t	 http_header_cb(char *, size_t, size_t, void *);
static int	 http_clean(const char *, size_t);
static int	 http_check(const char *, const struct http_opts *,
		    const char **, char **);
static CURLcode	 http_setopts(struct http_req *, const char *,
		    const struct http_opts *, const char *, const char **);

/* Milliseconds on the monotonic clock. */
static uint64_t
http_now_ms(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000);
}

/* Log libcurl's version once per process; warn without async DNS. */
static void
http_version_log(void)
{
	static int		 done;
	curl_version_info_data	*v;
	struct logline		 ll;

	if (done)
		return;
	done = 1;
	v = curl_version_info(CURLVERSION_NOW);
	lf_begin(&ll, LOG_L_INFO, "http_init");
	lf_str(&ll, "curl", v->version);
	lf_str(&ll, "ssl", v->ssl_version != NULL ? v->ssl_version : "none");
	lf_str(&ll, "asynchdns",
	    (v->features & CURL_VERSION_ASYNCHDNS) ? "yes" : "no");
	lf_emit(&ll);
	if (!(v->features & CURL_VERSION_ASYNCHDNS))
		log_warnx("libcurl %s resolves names synchronously: a slow "
		    "DNS lookup blocks the event loop", v->version);
	if (v->ssl_version == NULL)
		log_warnx("libcurl %s has no TLS support", v->version);
}

/* Create a client on base. */
struct http *
http_new(struct event_base *base, int max_total_connections)
{
	struct http	*h;
	CURLMcode	 mc;

	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		log_warnx("http: curl_global_init failed");
		return (NULL);
	}
	http_version_log();
	h = xcalloc(1, sizeof *h);
	h->base = base;
	TAILQ_INIT(&h->reqs);
	LIST_INIT(&h->socks);
	if ((h->timer = evtimer_new(base, http_timer_event, h)) == NULL) {
		log_warnx("http: evtimer_new failed");
		goto fail;
	}
	if ((h->multi = curl_multi_init()) == NULL) {
		log_warnx("http: curl_multi_init failed");
		goto fail;
	}
	if (max_total_connections < 0)
		max_total_connections = 0;
	if ((mc = curl_multi_setopt(h->multi, CURLMOPT_SOCKETFUNCTION,
	    http_sock_cb)) != CURLM_OK ||
	    (mc = curl_multi_setopt(h->multi, CURLMOPT_SOCKETDATA,
	    h)) != CURLM_OK ||
	    (mc = curl_multi_setopt(h->multi, CURLMOPT_TIMERFUNCTION,
	    http_timer_cb)) != CURLM_OK ||
	    (mc = curl_multi_setopt(h->multi, CURLMOPT_TIMERDATA,
	    h)) != CURLM_OK ||
	    (mc = curl_multi_setopt(h->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS,
	    (long)max_total_connections)) != CURLM_OK) {
		log_warnx("http: curl_multi_setopt: %s",
		    curl_multi_strerror(mc));
		goto fail;
	}
	return (h);
fail:
	http_destroy(h);
	return (NULL);
}

/* Free the client: cancel everything, no callback runs. */
void
http_free(struct http *h)
{
	struct http_req	*req;

	if (h == NULL || h->dying)
		return;
	h->dying = 1;
	while ((req = TAILQ_FIRST(&h->reqs)) != NULL)
		http_req_free(req);
	if (h->busy == 0)
		http_destroy(h);
}

/* Release the client's resources; no request is left. */
static void
http_destroy(struct http *h)
{
	struct http_sock	*s;

	/*
	 * Drop our events before libcurl closes the sockets, and keep it
	 * from calling back into a half-freed client.
	 */
	while ((s = LIST_FIRST(&h->socks)) != NULL)
		http_sock_free(s);
	if (h->multi != NULL) {
		curl_multi_setopt(h->multi, CURLMOPT_SOCKETFUNCTION, NULL);
		curl_multi_setopt(h->multi, CURLMOPT_TIMERFUNCTION, NULL);
		curl_multi_cleanup(h->multi);
	}
	if (h->timer != NULL)
		event_free(h->timer);
	free(h);
	curl_global_cleanup();
}

/* An entry from the loop begins. */
static void
http_enter(struct http *h)
{
	h->busy++;
}

/* An entry from the loop ends; the last one frees a dying client. */
static void
http_leave(struct http *h)
{
	if (--h->busy == 0 && h->dying)
		http_destroy(h);
}

/* libcurl's socket callback: watch fd for what it asks, or stop. */
static int
http_sock_cb(CURL *easy, curl_socket_t fd, int what, void *arg, void *sockp)
{
	struct http		*h = arg;
	struct http_sock	*s = sockp;
	short			 events = EV_PERSIST;

	if (what == CURL_POLL_REMOVE) {
		if (s != NULL)
			http_sock_free(s);	/* libcurl forgets sockp */
		return (0);
	}
	if (s == NULL) {
		s = xcalloc(1, sizeof *s);
		s->h = h;
		s->fd = fd;
		LIST_INSERT_HEAD(&h->socks, s, entry);
		curl_multi_assign(h->multi, fd, s);
	}
	if (what & CURL_POLL_IN)
		events |= EV_READ;
	if (what & CURL_POLL_OUT)
		events |= EV_WRITE;
	if (s->ev != NULL)
		event_free(s->ev);
	s->ev = event_new(h->base, fd, events, http_sock_event, s);
	if (s->ev == NULL || event_add(s->ev, NULL) == -1) {
		log_warnx("http: cannot watch socket %d", (int)fd);
		return (-1);	/* the transfer ends by its timeout */
	}
	return (0);
}

/* Stop watching a socket and forget it. */
static void
http_sock_free(struct http_sock *s)
{
	LIST_REMOVE(s, entry);
	if (s->ev != NULL)
		event_free(s->ev);
	free(s);
}

/* A watched socket is ready: let libcurl act, then drain. */
static void
http_sock_event(evutil_socket_t fd, short events, void *arg)
{
	struct http_sock	*s = arg;
	struct http		*h = s->h;	/* s may go inside curl */
	int			 action = 0, running;

	if (events & EV_READ)
		action |= CURL_CSELECT_IN;
	if (events & EV_WRITE)
		action |= CURL_CSELECT_OUT;
	http_enter(h);
	curl_multi_socket_action(h->multi, fd, action, &running);
	http_drain(h);
	http_leave(h);
}

/* libcurl's timer callback: only (re)arm or stop our timer. */
static int
http_timer_cb(CURLM *m, long ms, void *arg)
{
	struct http	*h = arg;
	struct timeval	 tv;

	if (ms < 0)
		return (evtimer_del(h->timer));
	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	return (evtimer_add(h->timer, &tv));	/* 0 ms: next loop turn */
}

/* Our timer fired: tell libcurl, then drain. */
static void
http_timer_event(evutil_socket_t fd, short events, void *arg)
{
	struct http	*h = arg;
	int		 running;

	http_enter(h);
	curl_multi_socket_action(h->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	http_drain(h);
	http_leave(h);
}

/* Deliver every finished transfer; the only place completions happen. */
static void
http_drain(struct http *h)
{
	CURLMsg		*msg;
	CURLcode	 result;
	char		*priv;
	int		 left;

	while (!h->dying &&
	    (msg = curl_multi_info_read(h->multi, &left)) != NULL) {
		if (msg->msg != CURLMSG_DONE)
			continue;
		result = msg->data.result;	/* gone after the removal */
		priv = NULL;
		if (curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE,
		    &priv) != CURLE_OK || priv == NULL) {
			log_warnx("http: finished transfer without request");
			curl_multi_remove_handle(h->multi, msg->easy_handle);
			continue;
		}
		http_done((struct http_req *)(void *)priv, result, NULL);
	}
}

/*
 * A request outlived its timeout: libcurl (7.88) does not time out a
 * transfer while it waits for a connection under
 * CURLMOPT_MAX_TOTAL_CONNECTIONS, so each request also has a deadline of
 * its own, a little after libcurl's, which fails it from the loop.
 */
static void
http_deadline_event(evutil_socket_t fd, short events, void *arg)
{
	struct http_req	*req = arg;
	struct http	*h = req->h;

	snprintf(req->error, sizeof req->error,
	    "timed out after %ld ms (request deadline)",
	    (long)(http_now_ms() - req->t_start));
	http_enter(h);
	http_done(req, CURLE_OPERATION_TIMEDOUT, req->error);
	http_leave(h);
}

/*
 * A transfer finished (error: our own text, or NULL): build the response,
 * run the callback, free the request.
 */
static void
http_done(struct http_req *req, CURLcode result, const char *error)
{
	struct http		*h = req->h;
	struct http_resp	 resp;
	struct logline		 ll;
	long			 status = 0;
	size_t			 n;
	int			 i;

	curl_easy_getinfo(req->easy, CURLINFO_RESPONSE_CODE, &status);
	curl_multi_remove_handle(h->multi, req->easy);
	curl_easy_cleanup(req->easy);
	req->easy = NULL;
	TAILQ_REMOVE(&h->reqs, req, entry);
	h->ninflight--;

	memset(&resp, 0, sizeof resp);
	resp.status = status;
	resp.body = req->body != NULL ? req->body : "";
	resp.len = req->len;
	resp.etag = req->has_etag ? req->etag : NULL;
	for (i = 0; i < req->ncap; i++) {
		resp.captured[i] = req->capstate[i] == 1 ? req->capval[i] :
		    NULL;
		if (req->capstate[i] == -1)
			resp.captured_bad |= 1U << i;
	}
	resp.result = (int)result;
	resp.ms = (long)(http_now_ms() - req->t_start);
	if (error != NULL)
		resp.error = error;
	else if (result != CURLE_OK) {
		if (req->toobig || result == CURLE_FILESIZE_EXCEEDED) {
			snprintf(req->error, sizeof req->error,
			    "body larger than %zu bytes", req->max_body);
			resp.error = req->error;
		} else if (req->errbuf[0] != '\0') {
			n = strlen(req->errbuf);
			while (n > 0 && (req->errbuf[n - 1] == '\n' ||
			    req->errbuf[n - 1] == '\r'))
				req->errbuf[--n] = '\0';
			resp.error = req->errbuf;
		} else
			resp.error = curl_easy_strerror(result);
	}

	if (log_enabled(LOG_L_DEBUG)) {
		lf_begin(&ll, LOG_L_DEBUG, "http_done");
		lf_int(&ll, "req", (long long)req->id);
		lf_int(&ll, "status", status);
		lf_int(&ll, "bytes", (long long)req->len);
		lf_int(&ll, "ms", resp.ms);
		lf_int(&ll, "result", resp.result);
		if (resp.error != NULL)
			lf_str(&ll, "error", resp.error);
		lf_emit(&ll);
	}

	req->delivering = 1;
	req->cb(req->arg, &resp);
	http_req_free(req);
}

/* Free a request, taking it out of libcurl and the client if needed. */
static void
http_req_free(struct http_req *req)
{
	struct http	*h = req->h;

	if (req->easy != NULL) {
		curl_multi_remove_handle(h->multi, req->easy);
		curl_easy_cleanup(req->easy);
		TAILQ_REMOVE(&h->reqs, req, entry);
		h->ninflight--;
	}
	if (req->deadline != NULL)
		event_free(req->deadline);
	curl_slist_free_all(req->hdrs);
	free(req->body);
	free(req);
}

/* Body bytes arrived: append them, or fail the transfer past the cap. */
static size_t
http_write_cb(char *ptr, size_t size, size_t nmemb, void *arg)
{
	struct http_req	*req = arg;
	size_t		 n = size * nmemb, want;

	if (size != 1 || n > req->max_body - req->len) {
		req->toobig = 1;
		return (CURL_WRITEFUNC_ERROR);
	}
	if (req->len + n + 1 > req->size) {
		want = req->size == 0 ? 1024 : req->size;
		while (want < req->len + n + 1)
			want *= 2;
		if (want > req->max_body + 1)
			want = req->max_body + 1;
		req->body = xrealloc(req->body, want);
		req->size = want;
	}
	memcpy(req->body + req->len, ptr, n);
	req->len += n;
	req->body[req->len] = '\0';
	return (n);
}

/* A header line arrived: remember the final response's ETag and the
   headers to capture. */
static size_t
http_header_cb(char *buf, size_t size, size_t nitems, void *arg)
{
	struct http_req	*req = arg;
	size_t		 n = size * nitems, len, nl;
	const char	*p, *end, *colon;
	int		 i;

	if (n >= 5 && strncmp(buf, "HTTP/", 5) == 0) {
		/* A new (maybe final) response. */
		req->has_etag = 0;
		memset(req->capstate, 0, sizeof req->capstate);
		return (n);
	}
	if ((colon = memchr(buf, ':', n)) == NULL)
		return (n);
	nl = colon - buf;
	p = colon + 1;
	end = buf + n;
	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	while (end > p && (end[-1] == '\r' || end[-1] == '\n' ||
	    end[-1] == ' ' || end[-1] == '\t'))
		end--;
	len = end - p;
	if (nl == 4 && strncasecmp(buf, "ETag", 4) == 0) {
		/* A bad one is ignored, not an error. */
		req->has_etag = len > 0 && len <= HTTP_ETAG_MAX &&
		    http_clean(p, len);
		if (req->has_etag) {
			memcpy(req->etag, p, len);
			req->etag[len] = '\0';
		}
	}
	for (i = 0; i < req->ncap; i++) {
		if (strlen(req->capname[i]) != nl ||
		    strncasecmp(buf, req->capname[i], nl) != 0)
			continue;
		/* Once only: a repeated header is not trusted. */
		if (req->capstate[i] != 0 || len == 0 ||
		    len > HTTP_CAPTURE_VALUE_MAX || !http_clean(p, len)) {
			req->capstate[i] = -1;
			continue;
		}
		memcpy(req->capval[i], p, len);
		req->capval[i][len] = '\0';
		req->capstate[i] = 1;
	}
	return (n);
}

/* 1 if len bytes are printable ASCII or tabs (no CR, LF, NUL). */
static int
http_clean(const char *s, size_t len)
{
	size_t	i;

	for (i = 0; i < len; i++) {
		if (s[i] == '\t')
			continue;
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] >= 0x7f)
			return (0);
	}
	return (1);
}

/* Check a request's URL and options; 0, or -1 with *cause. */
static int
http_check(const char *url, const struct http_opts *o, const char **method,
    char **cause)
{
	const char *const	*hp;
	const char		*p;
	size_t			 len, i;
	int			 n;

	if (url == NULL || (len = strlen(url)) == 0) {
		*cause = xstrdup("empty URL");
		return (-1);
	}
	if (len > HTTP_URL_MAX) {
		xasprintf(cause, "URL longer than %d bytes", HTTP_URL_MAX);
		return (-1);
	}
	for (i = 0; i < len; i++) {
		if ((unsigned char)url[i] <= 0x20 ||
		    (unsigned char)url[i] >= 0x7f) {
			*cause = xstrdup("URL has spaces, control or "
			    "non-ASCII characters");
			return (-1);
		}
	}
	if (strncasecmp(url, "https://", 8) != 0 &&
	    (!o->allow_http || strncasecmp(url, "http://", 7) != 0)) {
		*cause = xstrdup(o->allow_http ?
		    "URL scheme is neither https nor http" :
		    "URL scheme is not https (plain http not allowed)");
		return (-1);
	}

	*method = o->method != NULL ? o->method : "GET";
	for (i = 0; http_methods[i] != NULL; i++) {
		if (strcmp(*method, http_methods[i]) == 0)
			break;
	}
	if (http_methods[i] == NULL) {
		*cause = xstrdup("unknown HTTP method");
		return (-1);
	}
	if (o->body_len > 0 && o->body == NULL) {
		*cause = xstrdup("body length without a body");
		return (-1);
	}
	if (o->body_len > 0 && (strcmp(*method, "GET") == 0 ||
	    strcmp(*method, "HEAD") == 0)) {
		xasprintf(cause, "%s with a body", *method);
		return (-1);
	}
	if (o->timeout_ms < 0 || o->connect_timeout_ms < 0 ||
	    o->timeout_ms > HTTP_TIMEOUT_LIMIT ||
	    o->connect_timeout_ms > HTTP_TIMEOUT_LIMIT) {
		xasprintf(cause, "timeout not within 0..%d ms",
		    HTTP_TIMEOUT_LIMIT);
		return (-1);
	}
	if (o->max_body > HTTP_BODY_LIMIT) {
		xasprintf(cause, "max_body above %d bytes", HTTP_BODY_LIMIT);
		return (-1);
	}
	if (o->content_type != NULL && (*o->content_type == '\0' ||
	    strlen(o->content_type) > HTTP_HEADER_MAX ||
	    !http_clean(o->content_type, strlen(o->content_type)))) {
		*cause = xstrdup("bad Content-Type");
		return (-1);
	}
	if (o->if_none_match != NULL && (*o->if_none_match == '\0' ||
	    strlen(o->if_none_match) > HTTP_ETAG_MAX ||
	    !http_clean(o->if_none_match, strlen(o->if_none_match)))) {
		*cause = xstrdup("bad If-None-Match value");
		return (-1);
	}
	for (n = 0, hp = o->headers; hp != NULL && *hp != NULL; hp++, n++) {
		len = strlen(*hp);
		p = strchr(*hp, ':');
		if (n == HTTP_HEADERS_MAX) {
			xasprintf(cause, "more than %d extra headers",
			    HTTP_HEADERS_MAX);
			return (-1);
		}
		/* Not the value: it may be a secret. */
		if (len > HTTP_HEADER_MAX || p == NULL || p == *hp ||
		    strcspn(*hp, " \t:") != (size_t)(p - *hp) ||
		    !http_clean(*hp, len)) {
			xasprintf(cause, "bad extra header %d", n + 1);
			return (-1);
		}
	}
	for (n = 0, hp = o->capture; hp != NULL && *hp != NULL; hp++, n++) {
		len = strlen(*hp);
		if (n == HTTP_CAPTURE_MAX || len == 0 ||
		    len > HTTP_CAPTURE_NAME_MAX ||
		    strcspn(*hp, " \t:") != len || !http_clean(*hp, len)) {
			xasprintf(cause, "bad header to capture %d", n + 1);
			return (-1);
		}
	}
	return (0);
}

/* Set every option of a request's easy handle; *what names a failure. */
static CURLcode
http_setopts(struct http_req *req, const char *url,
    const struct http_opts *o, const char *method, const char **what)
{
	CURL			*e = req->easy;
	CURLcode		 rc;
	const char		*protos;
	const char *const	*hp;
	struct curl_slist	*l;
	char			*line;
	long			 timeout, ctimeout;

#define HTTP_SET(opt, val) do {						\
	if ((rc = curl_easy_setopt(e, opt, val)) != CURLE_OK) {		\
		*what = #opt;						\
		return (rc);						\
	}								\
} while (0)
#define HTTP_HDR(s) do {						\
	if ((l = curl_slist_append(req->hdrs, s)) == NULL) {		\
		*what = "curl_slist_append";				\
		return (CURLE_OUT_OF_MEMORY);				\
	}								\
	req->hdrs = l;							\
} while (0)

	timeout = req->timeout_ms;
	ctimeout = o->connect_timeout_ms > 0 ? o->connect_timeout_ms :
	    HTTP_CONNECT_TIMEOUT_MS;
	protos = o->allow_http ? "http,https" : "https";

	HTTP_SET(CURLOPT_URL, url);
	HTTP_SET(CURLOPT_PROTOCOLS_STR, protos);
	HTTP_SET(CURLOPT_REDIR_PROTOCOLS_STR, protos);
	HTTP_SET(CURLOPT_FOLLOWLOCATION, 0L);
	HTTP_SET(CURLOPT_NOSIGNAL, 1L);
	HTTP_SET(CURLOPT_QUICK_EXIT, 1L);	/* never join a DNS thread */
	HTTP_SET(CURLOPT_TIMEOUT_MS, timeout);
	HTTP_SET(CURLOPT_CONNECTTIMEOUT_MS, ctimeout);
	HTTP_SET(CURLOPT_PRIVATE, (void *)req);
	HTTP_SET(CURLOPT_ERRORBUFFER, req->errbuf);
	HTTP_SET(CURLOPT_WRITEFUNCTION, http_write_cb);
	HTTP_SET(CURLOPT_WRITEDATA, (void *)req);
	HTTP_SET(CURLOPT_HEADERFUNCTION, http_header_cb);
	HTTP_SET(CURLOPT_HEADERDATA, (void *)req);
	HTTP_SET(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)req->max_body);
	HTTP_SET(CURLOPT_SSL_VERIFYPEER, 1L);
	HTTP_SET(CURLOPT_SSL_VERIFYHOST, 2L);
	HTTP_SET(CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
	if (o->ca_file != NULL && *o->ca_file != '\0') {
		HTTP_SET(CURLOPT_CAINFO, o->ca_file);
		HTTP_SET(CURLOPT_CAPATH, (char *)NULL);	/* only this file */
	}
	HTTP_SET(CURLOPT_PROXY, "");		/* ignore *_proxy variables */
	HTTP_SET(CURLOPT_USERAGENT, "iaxkeyd");

	if (strcmp(method, "HEAD") == 0)
		HTTP_SET(CURLOPT_NOBODY, 1L);
	else if (strcmp(method, "GET") != 0)
		HTTP_SET(CURLOPT_CUSTOMREQUEST, method);
	if (o->body_len > 0 || strcmp(method, "POST") == 0 ||
	    strcmp(method, "PUT") == 0 || strcmp(method, "PATCH") == 0) {
		HTTP_SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)o->body_len);
		HTTP_SET(CURLOPT_COPYPOSTFIELDS,
		    o->body_len > 0 ? (const char *)o->body : "");
		xasprintf(&line, "Content-Type: %s", o->content_type != NULL ?
		    o->content_type : "application/octet-stream");
		l = curl_slist_append(req->hdrs, line);
		free(line);
		if (l == NULL) {
			*what = "curl_slist_append";
			return (CURLE_OUT_OF_MEMORY);
		}
		req->hdrs = l;
		HTTP_HDR("Expect:");	/* no 100-continue round trip */
	}
	if (o->if_none_match != NULL) {
		xasprintf(&line, "If-None-Match: %s", o->if_none_match);
		l = curl_slist_append(req->hdrs, line);
		free(line);
		if (l == NULL) {
			*what = "curl_slist_append";
			return (CURLE_OUT_OF_MEMORY);
		}
		req->hdrs = l;
	}
	for (hp = o->headers; hp != NULL && *hp != NULL; hp++)
		HTTP_HDR(*hp);
	if (req->hdrs != NULL)
		HTTP_SET(CURLOPT_HTTPHEADER, req->hdrs);
	return (CURLE_OK);
#undef HTTP_SET
#undef HTTP_HDR
}

/* Start a request; its callback runs later, from the loop. */
struct http_req *
http_request(struct http *h, const char *url, const struct http_opts *opts,
    http_cb cb, void *arg, char **cause)
{
	static const struct http_opts	 defaults;
	struct http_req			*req;
	struct logline			 ll;
	struct timeval			 tv;
	const char			*method = "GET", *what = "";
	char				*redacted;
	const char *const		*hp;
	CURLcode			 rc;
	CURLMcode			 mc;

	if (opts == NULL)
		opts = &defaults;
	if (h == NULL || h->dying) {
		*cause = xstrdup("http client is shutting down");
		return (NULL);
	}
	if (cb == NULL) {
		*cause = xstrdup("no callback");
		return (NULL);
	}
	if (http_check(url, opts, &method, cause) == -1)
		return (NULL);

	req = xcalloc(1, sizeof *req);
	req->h = h;
	req->cb = cb;
	req->arg = arg;
	req->max_body = opts->max_body > 0 ? opts->max_body :
	    HTTP_BODY_DEFAULT;
	req->timeout_ms = opts->timeout_ms > 0 ? opts->timeout_ms :
	    HTTP_TIMEOUT_MS;
	for (hp = opts->capture; hp != NULL && *hp != NULL; hp++)
		strlcpy_(req->capname[req->ncap++], *hp,
		    sizeof req->capname[0]);
	if ((req->easy = curl_easy_init()) == NULL) {
		*cause = xstrdup("curl_easy_init failed");
		free(req);
		return (NULL);
	}
	if ((rc = http_setopts(req, url, opts, method, &what)) != CURLE_OK) {
		xasprintf(cause, "%s: %s", what, curl_easy_strerror(rc));
		goto fail;
	}
	tv.tv_sec = (req->timeout_ms + HTTP_GRACE_MS) / 1000;
	tv.tv_usec = ((req->timeout_ms + HTTP_GRACE_MS) % 1000) * 1000;
	if ((req->deadline = evtimer_new(h->base, http_deadline_event,
	    req)) == NULL || evtimer_add(req->deadline, &tv) == -1) {
		*cause = xstrdup("cannot arm the request's timer");
		goto fail;
	}
	/* Arms our timer (0 ms): nothing is delivered before the loop runs. */
	if ((mc = curl_multi_add_handle(h->multi, req->easy)) != CURLM_OK) {
		xasprintf(cause, "curl_multi_add_handle: %s",
		    curl_multi_strerror(mc));
		goto fail;
	}
	req->id = ++h->next_id;
	req->t_start = http_now_ms();
	TAILQ_INSERT_TAIL(&h->reqs, req, entry);
	h->ninflight++;

	if (log_enabled(LOG_L_DEBUG)) {
		redacted = http_redact(url);
		lf_begin(&ll, LOG_L_DEBUG, "http_start");
		lf_int(&ll, "req", (long long)req->id);
		lf_str(&ll, "method", method);
		lf_str(&ll, "url", redacted);
		lf_emit(&ll);
		free(redacted);
	}
	return (req);
fail:
	if (req->deadline != NULL)
		event_free(req->deadline);
	curl_easy_cleanup(req->easy);
	curl_slist_free_all(req->hdrs);
	free(req);
	return (NULL);
}

/* Cancel a request; its callback will not run. */
void
http_cancel(struct http_req *req)
{
	if (req == NULL || req->delivering)
		return;
	http_req_free(req);
}

/* Number of requests in flight. */
int
http_inflight(const struct http *h)
{
	return (h != NULL ? h->ninflight : 0);
}

/* A copy of url safe for logs: no userinfo, no query values. */
char *
http_redact(const char *url)
{
	const char	*p, *auth, *end, *at, *q, *frag;
	char		*out, *o;
	size_t		 len, nparams = 1;

	if (url == NULL)
		return (xstrdup(""));
	len = strlen(url);
	frag = strchr(url, '#');
	if (frag == NULL)
		frag = url + len;
	for (p = url; p < frag; p++) {
		if (*p == '&')
			nparams++;
	}
	/* Each parameter grows by at most "=xxx". */
	out = o = xmalloc(len + nparams * 4 + 1);

	/* Scheme and authority, without userinfo. */
	auth = url;
	if ((p = strstr(url, "://")) != NULL && p > url &&
	    strspn(url, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	    "0123456789+.-") == (size_t)(p - url))
		auth = p + 3;
	end = auth + strcspn(auth, "/?#");
	memcpy(o, url, auth - url);
	o += auth - url;
	at = NULL;
	for (p = auth; p < end; p++) {
		if (*p == '@')
			at = p;
	}
	if (at != NULL)
		auth = at + 1;
	memcpy(o, auth, end - auth);
	o += end - auth;

	/* Path, then the query with values replaced. */
	q = end + strcspn(end, "?#");
	memcpy(o, end, q - end);
	o += q - end;
	if (*q == '?') {
		*o++ = '?';
		p = q + 1;
		while (p < frag) {
			end = p;
			while (end < frag && *end != '&')
				end++;
			if (end > p) {
				q = memchr(p, '=', end - p);
				if (q != NULL) {
					memcpy(o, p, q - p);
					o += q - p;
					memcpy(o, "=xxx", 4);
					o += 4;
				} else {
					memcpy(o, "xxx", 3);
					o += 3;
				}
			}
			if (end < frag)
				*o++ = '&';
			p = end + 1;
		}
	}
	*o = '\0';
	return (out);
}

/* Percent-encode s but for RFC 3986 unreserved characters. */
char *
http_escape(const char *s)
{
	static const char	 hex[] = "0123456789ABCDEF";
	const unsigned char	*p;
	char			*out, *o;
	size_t			 len;

	len = strlen(s);
	out = o = xreallocarray(NULL, len + 1, 3);
	for (p = (const unsigned char *)s; *p != '\0'; p++) {
		if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
		    (*p >= '0' && *p <= '9') || *p == '-' || *p == '.' ||
		    *p == '_' || *p == '~')
			*o++ = *p;
		else {
			*o++ = '%';
			*o++ = hex[*p >> 4];
			*o++ = hex[*p & 0xf];
		}
	}
	*o = '\0';
	return (out);
}
