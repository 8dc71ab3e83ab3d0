/*
 * http-stub: a key server for tests, over HTTP or HTTPS (libevent's
 * evhttp, with libevent_openssl bufferevents for TLS).
 *
 * COMMAND LINE
 *	http-stub [-v] [-c cert.pem -k key.pem] [-H 'Name: value']
 *	    [-l requests.log] [-p port] -d dir
 *
 *	-c, -k	serve HTTPS with this certificate (chain) and key, both PEM;
 *		without them, plain HTTP
 *	-d dir	the key directory
 *	-H line	require this request header (name case-insensitive, value
 *		exact): requests without it get 401
 *	-l file	append "<method> <path>" per request (path without the
 *		query), one write(2) per line, before anything else is done;
 *		a request with a Cache-Control header adds a second line
 *		"# cache-control=<value> <path>"
 *	-p port	listen on 127.0.0.1:port (default 0: ephemeral)
 *	-v	log each request on stderr
 *
 * Once listening it prints "port=N" and a newline on stdout and flushes.
 * SIGTERM and SIGINT end it with status 0 after freeing everything;
 * usage errors exit 2, local errors 1.
 *
 * REQUESTS (GET and HEAD; other methods get 405)
 *	/v1/keys/<node>	DIR/<node>.pub: 200, Content-Type text/plain,
 *			ETag "<hex>" (with the quotes; hex: lowercase
 *			SHA-256 of the body); 304 (with the ETag, no body)
 *			when If-None-Match lists that ETag (or "*", W/
 *			prefixes ignored); 404 when there is no such file;
 *			400 when <node> is not [A-Za-z0-9._-]{1,64}
 *			The answer names the node's other keys, when
 *			DIR/next/<node>.pub or DIR/previous/<node>.pub exist:
 *			"X-Iaxkey-Next: sha256:<hex>", "X-Iaxkey-Previous:
 *			sha256:<hex>" (fingerprints as in the index);
 *			then each line "Name: value" of DIR/<node>.headers,
 *			when it exists, as one more header (a header the
 *			answer has already is sent twice)
 *	/v1/keys/<node>/next, /v1/keys/<node>/previous
 *			DIR/next/<node>.pub, DIR/previous/<node>.pub, as the
 *			current key (their .behave files beside them)
 *	/v1/keys	the index: for each DIR/<node>.pub with a valid node
 *			name, sorted by name (strcmp), one line
 *			"<node> sha256:<hex>[ next=sha256:<hex>]
 *			[ previous=sha256:<hex>]\n", where <hex> is the key's
 *			fingerprint as lib/rsakey computes it (SHA-256 of the
 *			DER SubjectPublicKeyInfo) when the file passes
 *			rsakey_pub_validate, and otherwise the SHA-256 of the
 *			file's bytes; then DIR/.index.extra as it is, when
 *			it exists.  ETag and If-None-Match as above.
 *	anything else	404
 *
 * MISBEHAVIOUR: DIR/<node>.behave (DIR/.index.behave for the index), read
 * at each request, holds one directive on its first line:
 *	status N	reply N (200..599) with the body "status N\n"
 *	delay MS	wait MS milliseconds (a timer), then serve normally
 *	reset		close the connection after reading the request, with
 *			SO_LINGER 0: a RST and no response
 *	garbage [N]	200 with N (default 512) random bytes
 *	redirect URL	302 with Location: URL
 *	huge N		200 with N bytes ("x"), Content-Length announced
 *	chunked N	200 with N bytes ("x"), chunked, no Content-Length
 *	endless		200, chunked, headers and one chunk ("endless\n"), then
 *			nothing more until the client goes away
 *	hang		read the request and never answer
 *	partial N [reset]
 *			200 announcing the whole key file (Content-Length),
 *			then only its first N bytes (or N "x" with no key),
 *			then the connection closes: a FIN, or with "reset" a
 *			RST (SO_LINGER 0)
 * An unknown directive gets 500 "bad behave file".  N is at most 256 MiB.
 */
#include <sys/types.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>

#include "lib/rsakey.h"
#include "lib/xmalloc.h"

#define NODE_MAX	64
#define PATH_NODE_MAX	(NODE_MAX + 16)	/* "previous/<node>" */
#define FILE_MAX	(1024 * 1024)	/* a .pub file we serve */
#define BEHAVE_MAX	4096
#define BODY_N_MAX	(256 * 1024 * 1024)
#define CHUNK		65536
#define INDEX_BEHAVE	".index"
#define INDEX_EXTRA	".index.extra"

enum job_kind { JOB_DELAY, JOB_RESET, JOB_ENDLESS, JOB_HANG };

/* A request we hold: answered later, or never. */
struct job {
	TAILQ_ENTRY(job)	 entry;
	enum job_kind		 kind;
	struct evhttp_request	*req;
	struct evhttp_connection *evcon;
	struct event		*timer;
	char			 node[PATH_NODE_MAX + 1]; /* "" for the index */
};

struct entry {
	char	name[NODE_MAX + 1];
	char	fpr[72];
	char	next[72];
	char	previous[72];
};

static void	 usage(void) __attribute__((noreturn));
static void	 die(const char *, ...)
		    __attribute__((format(printf, 1, 2), noreturn));
static void	 note(const char *, ...)
		    __attribute__((format(printf, 1, 2)));
static int	 node_valid(const char *);
static long long num(const char *, long long, long long);
static const char *method_name(enum evhttp_cmd_type);
static char	*slurp(const char *, size_t, size_t *, int *);
static void	 reqlog(const char *, const char *);
static void	 reply(struct evhttp_request *, int, const char *,
		    const void *, size_t, const char *);
static void	 reply_text(struct evhttp_request *, int, const char *);
static int	 etag_match(struct evhttp_request *, const char *);
static void	 serve(struct evhttp_request *, const char *);
static void	 serve_key(struct evhttp_request *, const char *);
static void	 serve_index(struct evhttp_request *);
static int	 key_fpr(const char *, char *, size_t);
static void	 others(struct evhttp_request *, const char *);
static void	 extra_headers(struct evhttp_request *, const char *);
static int	 entry_cmp(const void *, const void *);
static void	 behave(struct evhttp_request *, const char *);
static int	 partial(struct evhttp_request *, const char *, char *);
static void	 send_n(struct evhttp_request *, long long, int);
static struct job *job_new(struct evhttp_request *, enum job_kind,
		    const char *);
static void	 job_free(struct job *);
static void	 job_timer(evutil_socket_t, short, void *);
static void	 conn_closed(struct evhttp_connection *, void *);
static void	 handle(struct evhttp_request *, void *);
static struct bufferevent *bevcb(struct event_base *, void *);
static void	 on_signal(evutil_socket_t, short, void *);

static struct event_base	*base;
static SSL_CTX			*ssl_ctx;
static const char		*dir;
static int			 log_fd = -1;
static int			 verbose;
static char			*need_name;	/* -H */
static const char		*need_value;
static TAILQ_HEAD(, job)	 jobs = TAILQ_HEAD_INITIALIZER(jobs);

/* Print usage and exit 2. */
static void
usage(void)
{
	fprintf(stderr, "usage: http-stub [-v] [-c cert.pem -k key.pem] "
	    "[-H 'Name: value'] [-l requests.log] [-p port] -d dir\n");
	exit(2);
}

/* Print an error and exit 1. */
static void
die(const char *fmt, ...)
{
	va_list	ap;

	fprintf(stderr, "http-stub: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	exit(1);
}

/* Log a line on stderr with -v. */
static void
note(const char *fmt, ...)
{
	va_list	ap;

	if (!verbose)
		return;
	fprintf(stderr, "http-stub: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
}

/* 1 if s is a node name: [A-Za-z0-9._-]{1,64}. */
static int
node_valid(const char *s)
{
	size_t	len = strlen(s);

	return (len >= 1 && len <= NODE_MAX &&
	    strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	    "0123456789._-") == len);
}

/* Parse a number in [min, max]; -1 when it is not one. */
static long long
num(const char *s, long long min, long long max)
{
	long long	 v;
	const char	*errstr;

	if (s == NULL || strtonum_(s, min, max, &v, &errstr) == -1)
		return (-1);
	return (v);
}

/* The name of an evhttp method. */
static const char *
method_name(enum evhttp_cmd_type cmd)
{
	switch (cmd) {
	case EVHTTP_REQ_GET:
		return ("GET");
	case EVHTTP_REQ_POST:
		return ("POST");
	case EVHTTP_REQ_HEAD:
		return ("HEAD");
	case EVHTTP_REQ_PUT:
		return ("PUT");
	case EVHTTP_REQ_DELETE:
		return ("DELETE");
	case EVHTTP_REQ_OPTIONS:
		return ("OPTIONS");
	case EVHTTP_REQ_TRACE:
		return ("TRACE");
	case EVHTTP_REQ_CONNECT:
		return ("CONNECT");
	case EVHTTP_REQ_PATCH:
		return ("PATCH");
	}
	return ("UNKNOWN");
}

/*
 * Read at most max bytes of a regular file (caller frees; NUL added).
 * NULL with *err: ENOENT when missing, EFBIG when larger.
 */
static char *
slurp(const char *path, size_t max, size_t *lenp, int *err)
{
	struct stat	 st;
	char		*buf;
	size_t		 len = 0;
	ssize_t		 n;
	int		 fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) == -1) {
		*err = errno == ELOOP ? ENOENT : errno;
		return (NULL);
	}
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
		close(fd);
		*err = ENOENT;
		return (NULL);
	}
	buf = xmalloc(max + 2);
	while (len <= max) {
		n = read(fd, buf + len, max + 1 - len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += n;
	}
	close(fd);
	if (len > max) {
		free(buf);
		*err = EFBIG;
		return (NULL);
	}
	buf[len] = '\0';
	*lenp = len;
	return (buf);
}

/* Append "<method> <path>" to the requests log. */
static void
reqlog(const char *method, const char *path)
{
	char	*line;
	int	 len;

	note("%s %s", method, path);
	if (log_fd == -1)
		return;
	len = xasprintf(&line, "%s %s\n", method, path);
	if (write(log_fd, line, len) != len)
		note("requests log: %s", strerror(errno));
	free(line);
}

/* Send a complete reply; etag (without quotes) may be NULL. */
static void
reply(struct evhttp_request *req, int code, const char *ctype,
    const void *body, size_t len, const char *etag)
{
	struct evkeyvalq	*h = evhttp_request_get_output_headers(req);
	struct evbuffer		*buf;
	char			*tag;

	if (ctype != NULL)
		evhttp_add_header(h, "Content-Type", ctype);
	if (etag != NULL) {
		xasprintf(&tag, "\"%s\"", etag);
		evhttp_add_header(h, "ETag", tag);
		free(tag);
	}
	if ((buf = evbuffer_new()) == NULL)
		die("evbuffer_new");
	if (len > 0)
		evbuffer_add(buf, body, len);
	evhttp_send_reply(req, code, NULL, buf);
	evbuffer_free(buf);
}

/* Send a short text reply. */
static void
reply_text(struct evhttp_request *req, int code, const char *text)
{
	reply(req, code, "text/plain", text, strlen(text), NULL);
}

/* 1 if the request's If-None-Match lists etag (hex, no quotes) or "*". */
static int
etag_match(struct evhttp_request *req, const char *etag)
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
		if (*p == '"' && (size_t)(end - p) >= elen + 2 &&
		    strncmp(p + 1, etag, elen) == 0 && p[elen + 1] == '"')
			return (1);
	}
	return (0);
}

/* Serve a node's key, or the index when node is "". */
static void
serve(struct evhttp_request *req, const char *node)
{
	if (*node == '\0')
		serve_index(req);
	else
		serve_key(req, node);
}

/* Serve DIR/<node>.pub with its ETag. */
static void
serve_key(struct evhttp_request *req, const char *node)
{
	char	*path, *buf, hex[65];
	size_t	 len;
	int	 err;

	xasprintf(&path, "%s/%s.pub", dir, node);
	buf = slurp(path, FILE_MAX, &len, &err);
	free(path);
	if (buf == NULL) {
		if (err == ENOENT)
			reply_text(req, 404, "not found\n");
		else
			reply_text(req, 500, "cannot read key\n");
		return;
	}
	rsakey_sha256_hex(buf, len, hex);
	if (strchr(node, '/') == NULL) {
		others(req, node);
		extra_headers(req, node);
	}
	if (etag_match(req, hex))
		reply(req, 304, NULL, NULL, 0, hex);
	else
		reply(req, 200, "text/plain", buf, len, hex);
	free(buf);
}

/*
 * The fingerprint of the key file path into fpr, as the index shows it;
 * 0, or -1 when there is no such file.
 */
static int
key_fpr(const char *path, char *fpr, size_t size)
{
	struct rsakey_info	 info;
	char			*buf, *cause = NULL, hex[65];
	size_t			 len;
	int			 err;

	if ((buf = slurp(path, FILE_MAX, &len, &err)) == NULL)
		return (-1);
	if (rsakey_pub_validate(buf, len, RSAKEY_PEM_MAX, &info, &cause) == 0)
		strlcpy_(fpr, info.fingerprint, size);
	else {
		rsakey_sha256_hex(buf, len, hex);
		snprintf(fpr, size, "%s%s", RSAKEY_FPR_PREFIX, hex);
	}
	free(cause);
	free(buf);
	return (0);
}

/* Name node's next and previous keys in the answer's headers. */
static void
others(struct evhttp_request *req, const char *node)
{
	static const char *const slot[] = { "next", "previous" };
	static const char *const hdr[] = { "X-Iaxkey-Next",
	    "X-Iaxkey-Previous" };
	char	*path, fpr[72];
	int	 i;

	for (i = 0; i < 2; i++) {
		xasprintf(&path, "%s/%s/%s.pub", dir, slot[i], node);
		if (key_fpr(path, fpr, sizeof fpr) == 0)
			evhttp_add_header(evhttp_request_get_output_headers(
			    req), hdr[i], fpr);
		free(path);
	}
}

/* Add the header lines of DIR/<node>.headers ("Name: value") as they are. */
static void
extra_headers(struct evhttp_request *req, const char *node)
{
	char	*path, *buf, *line, *next, *colon;
	size_t	 len;
	int	 err;

	xasprintf(&path, "%s/%s.headers", dir, node);
	buf = slurp(path, FILE_MAX, &len, &err);
	free(path);
	if (buf == NULL)
		return;
	for (line = buf; line != NULL && *line != '\0'; line = next) {
		if ((next = strchr(line, '\n')) != NULL)
			*next++ = '\0';
		if ((colon = strchr(line, ':')) == NULL)
			continue;
		*colon++ = '\0';
		colon += strspn(colon, " ");
		if (evhttp_add_header(evhttp_request_get_output_headers(req),
		    line, colon) == -1)
			note("%s.headers: header %s refused", node, line);
	}
	free(buf);
}

/* Order index entries by name. */
static int
entry_cmp(const void *a, const void *b)
{
	return (strcmp(((const struct entry *)a)->name,
	    ((const struct entry *)b)->name));
}

/* Serve the index of DIR/<node>.pub. */
static void
serve_index(struct evhttp_request *req)
{
	struct entry		*v = NULL;
	struct evbuffer		*out;
	struct dirent		*de;
	DIR			*d;
	char			*path, *body, hex[65];
	size_t			 n = 0, i, len, nlen;
	int			 err;

	if ((d = opendir(dir)) == NULL) {
		reply_text(req, 500, "cannot read directory\n");
		return;
	}
	while ((de = readdir(d)) != NULL) {
		nlen = strlen(de->d_name);
		if (nlen <= 4 || nlen - 4 > NODE_MAX ||
		    strcmp(de->d_name + nlen - 4, ".pub") != 0)
			continue;
		v = xreallocarray(v, n + 1, sizeof *v);
		memcpy(v[n].name, de->d_name, nlen - 4);
		v[n].name[nlen - 4] = '\0';
		if (!node_valid(v[n].name))
			continue;
		xasprintf(&path, "%s/%s", dir, de->d_name);
		err = key_fpr(path, v[n].fpr, sizeof v[n].fpr);
		free(path);
		if (err == -1)
			continue;
		xasprintf(&path, "%s/next/%s", dir, de->d_name);
		if (key_fpr(path, v[n].next, sizeof v[n].next) == -1)
			v[n].next[0] = '\0';
		free(path);
		xasprintf(&path, "%s/previous/%s", dir, de->d_name);
		if (key_fpr(path, v[n].previous, sizeof v[n].previous) == -1)
			v[n].previous[0] = '\0';
		free(path);
		n++;
	}
	closedir(d);
	if (n > 0)
		qsort(v, n, sizeof *v, entry_cmp);
	if ((out = evbuffer_new()) == NULL)
		die("evbuffer_new");
	for (i = 0; i < n; i++)
		evbuffer_add_printf(out, "%s %s%s%s%s%s\n", v[i].name,
		    v[i].fpr, v[i].next[0] != '\0' ? " next=" : "", v[i].next,
		    v[i].previous[0] != '\0' ? " previous=" : "",
		    v[i].previous);
	free(v);
	xasprintf(&path, "%s/%s", dir, INDEX_EXTRA);
	if ((body = slurp(path, FILE_MAX, &len, &err)) != NULL) {
		evbuffer_add(out, body, len);
		free(body);
	}
	free(path);
	len = evbuffer_get_length(out);
	body = (char *)evbuffer_pullup(out, -1);
	rsakey_sha256_hex(body != NULL ? body : "", len, hex);
	if (etag_match(req, hex))
		reply(req, 304, NULL, NULL, 0, hex);
	else
		reply(req, 200, "text/plain", body, len, hex);
	evbuffer_free(out);
}

/* Send n bytes of 'x', announced (Content-Length) or chunked. */
static void
send_n(struct evhttp_request *req, long long n, int chunked)
{
	struct evkeyvalq	*h = evhttp_request_get_output_headers(req);
	struct evbuffer		*buf;
	char			*chunk, len[32];
	long long		 left;
	size_t			 k;

	if ((buf = evbuffer_new()) == NULL)
		die("evbuffer_new");
	chunk = xmalloc(CHUNK);
	memset(chunk, 'x', CHUNK);
	evhttp_add_header(h, "Content-Type", "application/octet-stream");
	if (!chunked) {
		snprintf(len, sizeof len, "%lld", n);
		evhttp_add_header(h, "Content-Length", len);
	}
	evhttp_send_reply_start(req, 200, NULL);
	for (left = n; left > 0; left -= k) {
		k = left > CHUNK ? CHUNK : (size_t)left;
		evbuffer_add(buf, chunk, k);
		evhttp_send_reply_chunk(req, buf);
	}
	evhttp_send_reply_end(req);
	evbuffer_free(buf);
	free(chunk);
}

/* Apply DIR/<node>.behave if there is one, else serve normally. */
static void
behave(struct evhttp_request *req, const char *node)
{
	struct evkeyvalq	*h;
	struct evbuffer		*buf;
	struct job		*job;
	struct timeval		 tv;
	char			*path, *text, *arg, *nl;
	unsigned char		*rnd;
	size_t			 len;
	long long		 n;
	int			 err, fd;
	struct linger		 lg = { 1, 0 };

	xasprintf(&path, "%s/%s.behave", dir, *node != '\0' ? node :
	    INDEX_BEHAVE);
	text = slurp(path, BEHAVE_MAX, &len, &err);
	free(path);
	if (text == NULL) {
		if (err == ENOENT)
			serve(req, node);
		else
			reply_text(req, 500, "bad behave file\n");
		return;
	}
	if ((nl = strpbrk(text, "\r\n")) != NULL)
		*nl = '\0';
	if ((arg = strchr(text, ' ')) != NULL)
		*arg++ = '\0';
	note("behave %s: %s %s", *node != '\0' ? node : "(index)", text,
	    arg != NULL ? arg : "");

	if (strcmp(text, "status") == 0 && (n = num(arg, 200, 599)) != -1) {
		free(text);
		xasprintf(&text, "status %lld\n", n);
		reply_text(req, (int)n, text);
	} else if (strcmp(text, "delay") == 0 &&
	    (n = num(arg, 0, 3600000)) != -1) {
		job = job_new(req, JOB_DELAY, node);
		tv.tv_sec = n / 1000;
		tv.tv_usec = (n % 1000) * 1000;
		evtimer_add(job->timer, &tv);
	} else if (strcmp(text, "reset") == 0 && arg == NULL) {
		fd = bufferevent_getfd(evhttp_connection_get_bufferevent(
		    evhttp_request_get_connection(req)));
		if (fd != -1 && setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg,
		    sizeof lg) == -1)
			note("SO_LINGER: %s", strerror(errno));
		/* evhttp must not free the connection under its callback. */
		job = job_new(req, JOB_RESET, node);
		tv.tv_sec = tv.tv_usec = 0;
		evtimer_add(job->timer, &tv);
	} else if (strcmp(text, "garbage") == 0) {
		n = arg == NULL ? 512 : num(arg, 0, BODY_N_MAX);
		if (n == -1) {
			reply_text(req, 500, "bad behave file\n");
			free(text);
			return;
		}
		rnd = xmalloc(n + 1);
		if (RAND_bytes(rnd, (int)n + 1) != 1)
			die("RAND_bytes failed");
		reply(req, 200, "application/octet-stream", rnd, n, NULL);
		free(rnd);
	} else if (strcmp(text, "redirect") == 0 && arg != NULL &&
	    *arg != '\0') {
		h = evhttp_request_get_output_headers(req);
		evhttp_add_header(h, "Location", arg);
		reply_text(req, 302, "redirect\n");
	} else if (strcmp(text, "huge") == 0 &&
	    (n = num(arg, 0, BODY_N_MAX)) != -1)
		send_n(req, n, 0);
	else if (strcmp(text, "chunked") == 0 &&
	    (n = num(arg, 0, BODY_N_MAX)) != -1)
		send_n(req, n, 1);
	else if (strcmp(text, "endless") == 0 && arg == NULL) {
		job_new(req, JOB_ENDLESS, node);
		h = evhttp_request_get_output_headers(req);
		evhttp_add_header(h, "Content-Type", "text/plain");
		evhttp_send_reply_start(req, 200, NULL);
		if ((buf = evbuffer_new()) == NULL)
			die("evbuffer_new");
		evbuffer_add(buf, "endless\n", 8);
		evhttp_send_reply_chunk(req, buf);
		evbuffer_free(buf);
	} else if (strcmp(text, "hang") == 0 && arg == NULL)
		job_new(req, JOB_HANG, node);
	else if (strcmp(text, "partial") == 0 && arg != NULL) {
		if (partial(req, node, arg) == -1)
			reply_text(req, 500, "bad behave file\n");
	} else
		reply_text(req, 500, "bad behave file\n");
	free(text);
}

/*
 * "partial N [reset]": write the head and N bytes of the body straight to
 * the socket (evhttp has sent nothing yet), then close it from a timer, as
 * "reset" does.  Returns -1 for a bad argument (nothing sent).
 */
static int
partial(struct evhttp_request *req, const char *node, char *arg)
{
	struct linger	 lg = { 1, 0 };
	struct timeval	 tv = { 0, 0 };
	struct job	*job;
	char		*path, *key, *head, *sp;
	size_t		 klen, off;
	long long	 n;
	ssize_t		 w;
	int		 fd, err, len, rst = 0;

	if ((sp = strchr(arg, ' ')) != NULL) {
		*sp++ = '\0';
		if (strcmp(sp, "reset") != 0)
			return (-1);
		rst = 1;
	}
	if ((n = num(arg, 0, FILE_MAX)) == -1)
		return (-1);
	fd = bufferevent_getfd(evhttp_connection_get_bufferevent(
	    evhttp_request_get_connection(req)));
	if (fd == -1)
		return (-1);
	xasprintf(&path, "%s/%s.pub", dir, node);
	if ((key = slurp(path, FILE_MAX, &klen, &err)) == NULL) {
		klen = n * 2 + 1;
		key = xmalloc(klen);
		memset(key, 'x', klen);
	}
	free(path);
	if ((size_t)n > klen)
		n = klen;
	len = xasprintf(&head, "HTTP/1.1 200 OK\r\nContent-Type: text/plain"
	    "\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n", klen);
	head = xrealloc(head, len + n);
	memcpy(head + len, key, n);
	free(key);
	for (off = 0; off < (size_t)len + n; off += w) {
		w = write(fd, head + off, len + n - off);
		if (w == -1 && errno == EINTR) {
			w = 0;
			continue;
		}
		if (w <= 0) {
			note("partial: write: %s", strerror(errno));
			break;
		}
	}
	free(head);
	if (rst && setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg,
	    sizeof lg) == -1)
		note("SO_LINGER: %s", strerror(errno));
	job = job_new(req, JOB_RESET, node);
	evtimer_add(job->timer, &tv);
	return (0);
}

/* Hold a request; we learn when its connection closes. */
static struct job *
job_new(struct evhttp_request *req, enum job_kind kind, const char *node)
{
	struct job	*job;

	job = xcalloc(1, sizeof *job);
	job->kind = kind;
	job->req = req;
	job->evcon = evhttp_request_get_connection(req);
	strlcpy_(job->node, node, sizeof job->node);
	if (kind == JOB_DELAY || kind == JOB_RESET) {
		if ((job->timer = evtimer_new(base, job_timer, job)) == NULL)
			die("evtimer_new");
	}
	evhttp_connection_set_closecb(job->evcon, conn_closed, NULL);
	TAILQ_INSERT_TAIL(&jobs, job, entry);
	return (job);
}

/* Forget a job (not its request). */
static void
job_free(struct job *job)
{
	TAILQ_REMOVE(&jobs, job, entry);
	if (job->timer != NULL)
		event_free(job->timer);
	free(job);
}

/* A held request's timer: serve it (delay) or reset its connection. */
static void
job_timer(evutil_socket_t fd, short events, void *arg)
{
	struct job			*job = arg;
	struct evhttp_request		*req = job->req;
	struct evhttp_connection	*evcon = job->evcon;
	enum job_kind			 kind = job->kind;
	char				 node[PATH_NODE_MAX + 1];
	int				 sfd, nfd;

	strlcpy_(node, job->node, sizeof node);
	job_free(job);
	if (kind == JOB_DELAY) {
		serve(req, node);	/* frees req if its client is gone */
		return;
	}
	/*
	 * Close the socket ourselves (SO_LINGER 0: a RST), leaving /dev/null
	 * in its place, so evhttp's shutdown(SHUT_WR) sends no FIN first.
	 */
	sfd = bufferevent_getfd(evhttp_connection_get_bufferevent(evcon));
	if (sfd != -1 && (nfd = open("/dev/null", O_RDWR | O_CLOEXEC)) != -1) {
		if (dup2(nfd, sfd) == -1)
			note("dup2: %s", strerror(errno));
		close(nfd);
	}
	evhttp_connection_free(evcon);	/* frees req too */
}

/* A connection closes: drop its jobs, freeing requests evhttp let go. */
static void
conn_closed(struct evhttp_connection *evcon, void *arg)
{
	struct job	*job, *next;

	for (job = TAILQ_FIRST(&jobs); job != NULL; job = next) {
		next = TAILQ_NEXT(job, entry);
		if (job->evcon != evcon)
			continue;
		/* On EOF evhttp detaches a request the user still holds. */
		note("connection closed: dropping a held request (%s)",
		    *job->node != '\0' ? job->node : "index");
		if (evhttp_request_get_connection(job->req) == NULL)
			evhttp_request_free(job->req);
		job_free(job);
	}
}

/* Every request. */
static void
handle(struct evhttp_request *req, void *arg)
{
	const struct evhttp_uri	*uri = evhttp_request_get_evhttp_uri(req);
	enum evhttp_cmd_type	 cmd = evhttp_request_get_command(req);
	const char		*path, *v;

	path = uri != NULL ? evhttp_uri_get_path(uri) : NULL;
	if (path == NULL)
		path = "";
	reqlog(method_name(cmd), path);
	v = evhttp_find_header(evhttp_request_get_input_headers(req),
	    "Cache-Control");
	if (v != NULL && log_fd != -1) {
		char	*line;
		int	 len;

		len = xasprintf(&line, "# cache-control=%s %s\n", v, path);
		if (write(log_fd, line, len) != len)
			note("requests log: %s", strerror(errno));
		free(line);
	}

	if (need_name != NULL) {
		v = evhttp_find_header(evhttp_request_get_input_headers(req),
		    need_name);
		if (v == NULL || strcmp(v, need_value) != 0) {
			reply_text(req, 401, "unauthorized\n");
			return;
		}
	}
	if (cmd != EVHTTP_REQ_GET && cmd != EVHTTP_REQ_HEAD) {
		reply_text(req, 405, "method not allowed\n");
		return;
	}
	if (strcmp(path, "/v1/keys") == 0)
		behave(req, "");
	else if (strncmp(path, "/v1/keys/", 9) == 0) {
		char	node[NODE_MAX + 1], slot[PATH_NODE_MAX + 1];
		size_t	n = strcspn(path + 9, "/");

		snprintf(node, sizeof node, "%.*s", (int)n, path + 9);
		if (n > NODE_MAX || !node_valid(node))
			reply_text(req, 400, "bad node name\n");
		else if (path[9 + n] == '\0')
			behave(req, node);
		else if (strcmp(path + 9 + n, "/next") == 0 ||
		    strcmp(path + 9 + n, "/previous") == 0) {
			snprintf(slot, sizeof slot, "%s/%s", path + 10 + n,
			    node);
			behave(req, slot);
		} else
			reply_text(req, 404, "not found\n");
	} else
		reply_text(req, 404, "not found\n");
}

/* A TLS bufferevent for each new connection. */
static struct bufferevent *
bevcb(struct event_base *b, void *arg)
{
	struct bufferevent	*bev;
	SSL			*ssl;

	if ((ssl = SSL_new(ssl_ctx)) == NULL)
		die("SSL_new failed");
	bev = bufferevent_openssl_socket_new(b, -1, ssl,
	    BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
	if (bev == NULL)
		die("bufferevent_openssl_socket_new failed");
	bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	return (bev);
}

/* SIGTERM, SIGINT: leave the loop. */
static void
on_signal(evutil_socket_t sig, short events, void *arg)
{
	event_base_loopbreak(base);
}

int
main(int argc, char **argv)
{
	struct evhttp			*http;
	struct evhttp_bound_socket	*bound;
	struct event			*sigterm, *sigint;
	struct sockaddr_in		 sin;
	socklen_t			 slen = sizeof sin;
	struct job			*job;
	const char			*cert = NULL, *key = NULL;
	const char			*logpath = NULL;
	char				*p;
	long long			 port = 0;
	int				 ch;

	while ((ch = getopt(argc, argv, "c:d:H:k:l:p:v")) != -1) {
		switch (ch) {
		case 'c':
			cert = optarg;
			break;
		case 'd':
			dir = optarg;
			break;
		case 'H':
			free(need_name);
			need_name = xstrdup(optarg);
			if ((p = strchr(need_name, ':')) == NULL ||
			    p == need_name)
				usage();
			*p++ = '\0';
			while (*p == ' ' || *p == '\t')
				p++;
			need_value = p;
			break;
		case 'k':
			key = optarg;
			break;
		case 'l':
			logpath = optarg;
			break;
		case 'p':
			if ((port = num(optarg, 0, 65535)) == -1)
				usage();
			break;
		case 'v':
			verbose = 1;
			break;
		default:
			usage();
		}
	}
	if (argc != optind || dir == NULL || (cert == NULL) != (key == NULL))
		usage();
	signal(SIGPIPE, SIG_IGN);

	if (logpath != NULL && (log_fd = open(logpath,
	    O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644)) == -1)
		die("%s: %s", logpath, strerror(errno));
	if (cert != NULL) {
		if ((ssl_ctx = SSL_CTX_new(TLS_server_method())) == NULL ||
		    !SSL_CTX_set_min_proto_version(ssl_ctx, TLS1_2_VERSION) ||
		    SSL_CTX_use_certificate_chain_file(ssl_ctx, cert) != 1 ||
		    SSL_CTX_use_PrivateKey_file(ssl_ctx, key,
		    SSL_FILETYPE_PEM) != 1 ||
		    SSL_CTX_check_private_key(ssl_ctx) != 1)
			die("TLS setup with %s and %s failed: %s", cert, key,
			    ERR_reason_error_string(ERR_get_error()));
	}
	if ((base = event_base_new()) == NULL)
		die("event_base_new");
	if ((http = evhttp_new(base)) == NULL)
		die("evhttp_new");
	evhttp_set_max_headers_size(http, 16384);
	evhttp_set_max_body_size(http, 1024 * 1024);
	evhttp_set_allowed_methods(http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD |
	    EVHTTP_REQ_POST | EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |
	    EVHTTP_REQ_PATCH | EVHTTP_REQ_OPTIONS);
	evhttp_set_gencb(http, handle, NULL);
	if (ssl_ctx != NULL)
		evhttp_set_bevcb(http, bevcb, NULL);
	if ((bound = evhttp_bind_socket_with_handle(http, "127.0.0.1",
	    (ev_uint16_t)port)) == NULL)
		die("cannot listen on 127.0.0.1:%lld", port);
	if (getsockname(evhttp_bound_socket_get_fd(bound),
	    (struct sockaddr *)&sin, &slen) == -1)
		die("getsockname: %s", strerror(errno));
	sigterm = evsignal_new(base, SIGTERM, on_signal, NULL);
	sigint = evsignal_new(base, SIGINT, on_signal, NULL);
	if (sigterm == NULL || sigint == NULL ||
	    evsignal_add(sigterm, NULL) == -1 ||
	    evsignal_add(sigint, NULL) == -1)
		die("signal events");
	printf("port=%d\n", ntohs(sin.sin_port));
	fflush(stdout);

	event_base_dispatch(base);

	note("exiting");
	while ((job = TAILQ_FIRST(&jobs)) != NULL) {
		if (evhttp_request_get_connection(job->req) == NULL)
			evhttp_request_free(job->req);
		job_free(job);
	}
	evhttp_free(http);
	event_free(sigterm);
	event_free(sigint);
	event_base_free(base);
	SSL_CTX_free(ssl_ctx);
	free(need_name);
	if (log_fd != -1)
		close(log_fd);
	return (0);
}
