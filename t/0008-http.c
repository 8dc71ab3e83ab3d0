/*
 * lib/http against t/helper/http-stub, over HTTPS with a CA made here by
 * the openssl command and over plain HTTP: bodies and ETags, certificate
 * checks (no CA file, a wrong CA, a host name the certificate lacks),
 * schemes, statuses, conditional requests, redirects not followed, body
 * caps (announced and chunked), timeouts (delay, endless, hang), resets,
 * 50 concurrent requests, cancels (also from callbacks), http_free with
 * requests in flight (also from a callback), argument checks, and that no
 * secret (a query value, an API key header) reaches a log line; then
 * http_redact and http_escape.
 *
 * The stubs are started with fork/execv and their ports read from a pipe;
 * the loop runs until the callbacks say so, bounded by a guard timer.
 * TEST_VERBOSE=1 shows the log lines, the stubs' and openssl's stderr.
 */
#include <sys/types.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <netdb.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <event2/event.h>

#include "lib/http.h"
#include "lib/log.h"
#include "lib/rsakey.h"
#include "lib/xmalloc.h"
#include "t/lib/tap.h"

#define STUB		"t/helper/http-stub"
#define GUARD_MS	20000
#define SECRET_Q	"Qs3cret-PLUGH"		/* a query value */
#define SECRET_H	"Hs3cret-XYZZY"		/* an API key header value */
#define API_HEADER	"X-Api-Key: " SECRET_H

struct stub {
	pid_t	pid;
	int	port;
	int	out;			/* read end of its stdout */
	char	url[64];		/* "https://127.0.0.1:N" */
};

struct res {
	int		 calls;
	long		 status;
	int		 result;
	char		*body;
	size_t		 len;
	char		 etag[HTTP_ETAG_MAX + 1];
	int		 has_etag;
	char		 cap[HTTP_CAPTURE_MAX][HTTP_CAPTURE_VALUE_MAX + 1];
	int		 has_cap[HTTP_CAPTURE_MAX];
	unsigned int	 cap_bad;
	char		 error[CURL_ERROR_SIZE + 64];
	int		 has_error;
	long		 ms;
	struct http_req	*self;		/* http_cancel it in the callback */
	struct http_req	*cancel;	/* http_cancel it in the callback */
	struct http	*free_me;	/* http_free it in the callback */
	struct http	*again;		/* start another request on it */
	struct res	*again_res;
	const char	*again_url;
	int		 again_refused;
};

static struct event_base	*base;
static struct event		*guard, *stopper;
static int			 t_pending, guard_hit, in_run, in_request;
static int			 bad_context, leaks, nlines, verbose;
static int			 fetched;	/* the last fetch() */
static char			 tdir[64];
static char			 ca[PATH_MAX], other_ca[PATH_MAX];
static struct stub		 s_tls, s_plain, s_auth;
static struct http		*h;

static void	hook(enum log_level, const char *, size_t, void *);
static void	guard_cb(evutil_socket_t, short, void *);
static void	stop_cb(evutil_socket_t, short, void *);
static void	done_cb(void *, const struct http_resp *);
static int	run(int);
static void	run_ms(int);
static void	res_clear(struct res *);
static struct http_req *start(struct http *, const char *,
		    const struct http_opts *, struct res *);
static int	fetch(struct http *, const char *, const struct http_opts *,
		    struct res *);
static char	*url(const struct stub *, const char *);
static int	cmd(const char *const *, const char *);
static void	put(const char *, const char *);
static void	behave(const char *, const char *);
static int	log_count(const char *);
static void	make_certs(void);
static void	stub_start(struct stub *, int, const char *);
static void	stub_stop(struct stub *);
static void	stubs_kill(void);
static int	closed_port(int *);
static int	localhost_v4(void);
static void	t_basic(void);
static void	t_tls(void);
static void	t_schemes(void);
static void	t_statuses(void);
static void	t_caps(void);
static void	t_timeouts(void);
static void	t_concurrent(void);
static void	t_cancel(void);
static void	t_free(void);
static void	t_args(void);
static void	t_methods(void);
static void	t_redact(void);
static void	t_escape(void);

/* Every log line: count it, look for secrets. */
static void
hook(enum log_level level, const char *line, size_t len, void *arg)
{
	nlines++;
	if (memmem(line, len, SECRET_Q, strlen(SECRET_Q)) != NULL ||
	    memmem(line, len, SECRET_H, strlen(SECRET_H)) != NULL) {
		leaks++;
		diag("secret in log line: %.*s", (int)len, line);
	}
	if (verbose)
		diag("log: %.*s", (int)len, line);
}

/* The loop ran far too long: stop it (a failure). */
static void
guard_cb(evutil_socket_t fd, short events, void *arg)
{
	guard_hit = 1;
	event_base_loopexit(base, NULL);
}

/* run_ms is over. */
static void
stop_cb(evutil_socket_t fd, short events, void *arg)
{
	event_base_loopexit(base, NULL);
}

/* A request finished: record it; the last awaited one stops the loop. */
static void
done_cb(void *arg, const struct http_resp *resp)
{
	struct res	*r = arg;
	char		*cause = NULL;
	int		 i;

	if (in_request || !in_run) {
		bad_context++;
		diag("callback outside the loop or inside http_request");
	}
	r->calls++;
	r->status = resp->status;
	r->result = resp->result;
	free(r->body);
	r->body = xmalloc(resp->len + 1);
	memcpy(r->body, resp->body, resp->len + 1);	/* with its NUL */
	r->len = resp->len;
	r->has_etag = resp->etag != NULL;
	strlcpy_(r->etag, resp->etag != NULL ? resp->etag : "",
	    sizeof r->etag);
	for (i = 0; i < HTTP_CAPTURE_MAX; i++) {
		r->has_cap[i] = resp->captured[i] != NULL;
		strlcpy_(r->cap[i], resp->captured[i] != NULL ?
		    resp->captured[i] : "", sizeof r->cap[i]);
	}
	r->cap_bad = resp->captured_bad;
	r->has_error = resp->error != NULL;
	strlcpy_(r->error, resp->error != NULL ? resp->error : "",
	    sizeof r->error);
	r->ms = resp->ms;
	if (r->self != NULL)
		http_cancel(r->self);		/* must be a no-op */
	if (r->cancel != NULL) {
		http_cancel(r->cancel);
		r->cancel = NULL;
	}
	if (r->free_me != NULL) {
		http_free(r->free_me);
		r->free_me = NULL;
	}
	if (r->again != NULL) {
		if (http_request(r->again, r->again_url, NULL, done_cb,
		    r->again_res, &cause) == NULL) {
			if (verbose)
				diag("request from a callback: %s", cause);
			r->again_refused = 1;
			free(cause);
		}
		r->again = NULL;
	}
	if (--t_pending == 0 && in_run)
		event_base_loopexit(base, NULL);
}

/* Run the loop until n callbacks ran (or the guard); 1 when not guarded. */
static int
run(int n)
{
	struct timeval	tv = { GUARD_MS / 1000, 0 };

	t_pending = n;
	guard_hit = 0;
	evtimer_add(guard, &tv);
	in_run = 1;
	event_base_dispatch(base);
	in_run = 0;
	evtimer_del(guard);
	if (guard_hit)
		diag("guard timer hit, %d callbacks missing", t_pending);
	return (!guard_hit);
}

/* Run the loop for ms milliseconds, whatever happens. */
static void
run_ms(int ms)
{
	struct timeval	tv = { ms / 1000, (ms % 1000) * 1000 };

	t_pending = -1;
	evtimer_add(stopper, &tv);
	in_run = 1;
	event_base_dispatch(base);
	in_run = 0;
}

/* Reset a result. */
static void
res_clear(struct res *r)
{
	free(r->body);
	memset(r, 0, sizeof *r);
}

/* Start a request, marking the call so a synchronous callback shows. */
static struct http_req *
start(struct http *hh, const char *u, const struct http_opts *o,
    struct res *r)
{
	struct http_req	*req;
	char		*cause = NULL;

	in_request = 1;
	req = http_request(hh, u, o, done_cb, r, &cause);
	in_request = 0;
	if (req == NULL) {
		diag("http_request %s: %s", u, cause);
		free(cause);
	}
	return (req);
}

/* One request, run to completion; 1 when its callback ran once. */
static int
fetch(struct http *hh, const char *u, const struct http_opts *o,
    struct res *r)
{
	res_clear(r);
	if (start(hh, u, o, r) == NULL)
		return (0);
	return (run(1) && r->calls == 1);
}

/* A stub's URL for path (static buffer). */
static char *
url(const struct stub *s, const char *path)
{
	static char	buf[256];

	snprintf(buf, sizeof buf, "%s%s", s->url, path);
	return (buf);
}

/* Run a command in directory wd (NULL: here); its exit status or -1. */
static int
cmd(const char *const *argv, const char *wd)
{
	pid_t	pid;
	int	status, fd;

	fflush(stdout);
	if ((pid = fork()) == -1)
		bail("fork: %s", strerror(errno));
	if (pid == 0) {
		if (wd != NULL && chdir(wd) == -1)
			_exit(127);
		if ((fd = open(verbose || wd == NULL ? "/dev/stderr" :
		    "openssl.log",
		    O_WRONLY | O_CREAT | O_APPEND, 0644)) != -1) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execvp(argv[0], (char *const *)argv);
		_exit(127);
	}
	while (waitpid(pid, &status, 0) == -1)
		if (errno != EINTR)
			bail("waitpid: %s", strerror(errno));
	return (WIFEXITED(status) ? WEXITSTATUS(status) : -1);
}

/* Write a file in the test directory. */
static void
put(const char *name, const char *text)
{
	char	 path[PATH_MAX];
	FILE	*f;

	snprintf(path, sizeof path, "%s/%s", tdir, name);
	if ((f = fopen(path, "w")) == NULL || fputs(text, f) == EOF ||
	    fclose(f) == EOF)
		bail("%s: %s", path, strerror(errno));
}

/* Set a node's behaviour (NULL: none). */
static void
behave(const char *node, const char *directive)
{
	char	name[128], path[PATH_MAX];

	snprintf(name, sizeof name, "keys/%s.behave", node);
	if (directive != NULL)
		put(name, directive);
	else {
		snprintf(path, sizeof path, "%s/%s", tdir, name);
		unlink(path);
	}
}

/* How many lines of both stubs' request logs are exactly line. */
static int
log_count(const char *line)
{
	char	 path[PATH_MAX], buf[512];
	FILE	*f;
	int	 n = 0;

	snprintf(path, sizeof path, "%s/requests.log", tdir);
	if ((f = fopen(path, "r")) == NULL)
		return (-1);
	while (fgets(buf, sizeof buf, f) != NULL) {
		buf[strcspn(buf, "\n")] = '\0';
		if (strcmp(buf, line) == 0)
			n++;
	}
	fclose(f);
	return (n);
}

/* A test CA, a server certificate for IP 127.0.0.1, and another CA. */
static void
make_certs(void)
{
	static const char *const ca_cmd[] = { "openssl", "req", "-x509",
	    "-config", "ssl.cnf", "-extensions", "v3_ca", "-newkey", "ec",
	    "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout",
	    "ca.key", "-out", "ca.pem", "-subj", "/CN=iaxkeyd test CA",
	    "-days", "2", NULL };
	static const char *const other_cmd[] = { "openssl", "req", "-x509",
	    "-config", "ssl.cnf", "-extensions", "v3_ca", "-newkey", "ec",
	    "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout",
	    "other.key", "-out", "other.pem", "-subj", "/CN=iaxkeyd other CA",
	    "-days", "2", NULL };
	static const char *const csr_cmd[] = { "openssl", "req", "-new",
	    "-config", "ssl.cnf", "-newkey", "ec", "-pkeyopt",
	    "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", "srv.key",
	    "-out", "srv.csr", "-subj", "/CN=127.0.0.1", NULL };
	static const char *const sign_cmd[] = { "openssl", "x509", "-req",
	    "-in", "srv.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
	    "-set_serial", "2", "-days", "2", "-extfile", "ssl.cnf",
	    "-extensions", "v3_srv", "-out", "srv.pem", NULL };

	put("ssl.cnf",
	    "[req]\n"
	    "distinguished_name = dn\n"
	    "[dn]\n"
	    "[v3_ca]\n"
	    "basicConstraints = critical,CA:TRUE\n"
	    "keyUsage = critical,keyCertSign,cRLSign\n"
	    "subjectKeyIdentifier = hash\n"
	    "[v3_srv]\n"
	    "basicConstraints = CA:FALSE\n"
	    "keyUsage = critical,digitalSignature,keyEncipherment\n"
	    "extendedKeyUsage = serverAuth\n"
	    "subjectAltName = IP:127.0.0.1\n"
	    "subjectKeyIdentifier = hash\n"
	    "authorityKeyIdentifier = keyid\n");
	if (cmd(ca_cmd, tdir) != 0 || cmd(other_cmd, tdir) != 0 ||
	    cmd(csr_cmd, tdir) != 0 || cmd(sign_cmd, tdir) != 0)
		bail("openssl failed (see %s/openssl.log)", tdir);
	snprintf(ca, sizeof ca, "%s/ca.pem", tdir);
	snprintf(other_ca, sizeof other_ca, "%s/other.pem", tdir);
}

/*
 * Start http-stub over TLS or plain HTTP, requiring header if not NULL;
 * read "port=N" from its pipe.
 */
static void
stub_start(struct stub *s, int tls, const char *header)
{
	const char	*argv[16];
	char		 keys[PATH_MAX], log[PATH_MAX], cert[PATH_MAX];
	char		 key[PATH_MAX], buf[64];
	size_t		 n = 0;
	ssize_t		 r;
	pid_t		 parent = getpid();
	int		 p[2], argc = 0;

	snprintf(keys, sizeof keys, "%s/keys", tdir);
	snprintf(log, sizeof log, "%s/requests.log", tdir);
	snprintf(cert, sizeof cert, "%s/srv.pem", tdir);
	snprintf(key, sizeof key, "%s/srv.key", tdir);
	argv[argc++] = STUB;
	if (verbose)
		argv[argc++] = "-v";
	if (tls) {
		argv[argc++] = "-c";
		argv[argc++] = cert;
		argv[argc++] = "-k";
		argv[argc++] = key;
	}
	if (header != NULL) {
		argv[argc++] = "-H";
		argv[argc++] = header;
	}
	argv[argc++] = "-d";
	argv[argc++] = keys;
	argv[argc++] = "-l";
	argv[argc++] = log;
	argv[argc] = NULL;
	if (pipe2(p, O_CLOEXEC) == -1)
		bail("pipe: %s", strerror(errno));
	fflush(stdout);
	if ((s->pid = fork()) == -1)
		bail("fork: %s", strerror(errno));
	if (s->pid == 0) {
		/* No orphaned stub if the test dies (bail, crash, kill). */
		if (prctl(PR_SET_PDEATHSIG, SIGTERM) == -1 ||
		    getppid() != parent)
			_exit(127);
		dup2(p[1], 1);
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	close(p[1]);
	s->out = p[0];
	/* Blocking read of "port=N\n": the stub prints it once listening. */
	while (n < sizeof buf - 1) {
		r = read(s->out, buf + n, 1);
		if (r == -1 && errno == EINTR)
			continue;
		if (r <= 0)
			bail("%s did not start", STUB);
		if (buf[n++] == '\n')
			break;
	}
	buf[n] = '\0';
	if (sscanf(buf, "port=%d", &s->port) != 1 || s->port <= 0)
		bail("%s: bad first line %s", STUB, buf);
	snprintf(s->url, sizeof s->url, "%s://127.0.0.1:%d",
	    tls ? "https" : "http", s->port);
}

/* Stop a stub with SIGTERM; it must exit 0. */
static void
stub_stop(struct stub *s)
{
	int	status;

	kill(s->pid, SIGTERM);
	while (waitpid(s->pid, &status, 0) == -1 && errno == EINTR)
		;
	s->pid = 0;
	close(s->out);
	ok(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	    "http-stub (port %d) exits 0 on SIGTERM (status %#x)", s->port,
	    status);
}

/* At exit (a bail): stop the stubs still running. */
static void
stubs_kill(void)
{
	struct stub	*all[] = { &s_tls, &s_plain, &s_auth };
	size_t		 i;

	for (i = 0; i < sizeof all / sizeof all[0]; i++) {
		if (all[i]->pid <= 0)
			continue;
		kill(all[i]->pid, SIGTERM);
		while (waitpid(all[i]->pid, NULL, 0) == -1 && errno == EINTR)
			;
		all[i]->pid = 0;
	}
}

/* A bound, not listening socket: connecting to its port is refused. */
static int
closed_port(int *port)
{
	struct sockaddr_in	sin;
	socklen_t		len = sizeof sin;
	int			fd;

	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		bail("socket: %s", strerror(errno));
	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&sin, sizeof sin) == -1 ||
	    getsockname(fd, (struct sockaddr *)&sin, &len) == -1)
		bail("bind: %s", strerror(errno));
	*port = ntohs(sin.sin_port);
	return (fd);
}

/* 1 if "localhost" resolves to 127.0.0.1 here. */
static int
localhost_v4(void)
{
	struct addrinfo	 hints, *res, *ai;
	int		 found = 0;

	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_INET;
	hints.ai_socktype = SOCK_STREAM;
	if (getaddrinfo("localhost", NULL, &hints, &res) != 0)
		return (0);
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		if (((struct sockaddr_in *)ai->ai_addr)->sin_addr.s_addr ==
		    htonl(INADDR_LOOPBACK))
			found = 1;
	}
	freeaddrinfo(res);
	return (found);
}

/* Named response headers: captured, case-insensitive; bad names refused. */
static void
t_capture(void)
{
	static const char *const cap[] = { "x-iaxkey-next",
	    "X-Iaxkey-Previous", "ETag", NULL };
	static const char *const bad[] = { "X-Bad:", NULL };
	static const char *const many[] = { "A", "B", "C", "D", "E", NULL };
	struct http_opts	 o;
	struct res		 r = { 0 };
	char			 path[PATH_MAX], hex[65], want[80];
	char			*cause = NULL;

	snprintf(path, sizeof path, "%s/keys/next", tdir);
	if (mkdir(path, 0755) == -1)
		bail("mkdir %s: %s", path, strerror(errno));
	put("keys/cap.pub", "current\n");
	put("keys/next/cap.pub", "next\n");
	rsakey_sha256_hex("next\n", 5, hex);
	snprintf(want, sizeof want, "sha256:%s", hex);
	memset(&o, 0, sizeof o);
	o.allow_http = 1;
	o.capture = cap;
	fetched = fetch(h, url(&s_plain, "/v1/keys/cap"), &o, &r);
	ok(fetched && r.status == 200, "capture: 200 (%ld)", r.status);
	ok(r.has_cap[0], "capture: the header is found whatever its case");
	is_str(r.cap[0], want, "capture: the value, trimmed");
	ok(!r.has_cap[1] && !r.has_cap[3], "capture: absent is NULL");
	ok(r.cap_bad == 0, "capture: absent is not refused (bits %#x)",
	    r.cap_bad);
	ok(r.has_cap[2] && r.cap[2][0] == '"', "capture: ETag too");
	fetched = fetch(h, url(&s_plain, "/v1/keys/nosuch"), &o, &r);
	ok(fetched && r.status == 404 && !r.has_cap[0],
	    "capture: nothing on a 404 without the header");
	o.capture = bad;
	ok(http_request(h, url(&s_plain, "/v1/keys/cap"), &o, done_cb, &r,
	    &cause) == NULL && cause != NULL, "capture: a bad name is refused");
	free(cause);
	cause = NULL;
	o.capture = many;
	ok(http_request(h, url(&s_plain, "/v1/keys/cap"), &o, done_cb, &r,
	    &cause) == NULL && cause != NULL, "capture: more than %d refused",
	    HTTP_CAPTURE_MAX);
	free(cause);
	res_clear(&r);
}

/*
 * A captured header that is there but unusable (repeated, empty, too long,
 * not printable) is NULL with its captured_bad bit set: never taken for
 * an absent one.  The stub adds keys/capbad.headers to its answer.
 */
static void
t_capture_bad(void)
{
	static const char *const cap[] = { "X-Iaxkey-Next",
	    "X-Iaxkey-Previous", NULL };
	static const struct {
		const char	*what;
		const char	*lines;
	} c[] = {
		{ "repeated", "X-Iaxkey-Next: sha256:aa\n"
		    "x-iaxkey-next: sha256:aa\n" },
		{ "empty", "X-Iaxkey-Next: \n" },
		{ "not printable", "X-Iaxkey-Next: sha256:\001aa\n" },
		{ "too long", NULL },
	};
	struct http_opts	 o;
	struct res		 r = { 0 };
	char			 lines[HTTP_CAPTURE_VALUE_MAX + 64];
	size_t			 i;

	put("keys/capbad.pub", "current\n");
	memset(&o, 0, sizeof o);
	o.allow_http = 1;
	o.capture = cap;
	for (i = 0; i < sizeof c / sizeof c[0]; i++) {
		if (c[i].lines != NULL)
			put("keys/capbad.headers", c[i].lines);
		else {
			snprintf(lines, sizeof lines, "X-Iaxkey-Next: %0*d\n",
			    HTTP_CAPTURE_VALUE_MAX + 1, 0);
			put("keys/capbad.headers", lines);
		}
		fetched = fetch(h, url(&s_plain, "/v1/keys/capbad"), &o, &r);
		ok(fetched && r.status == 200 && !r.has_cap[0] &&
		    r.cap_bad == 1U, "capture, %s: NULL and refused (bits "
		    "%#x)", c[i].what, r.cap_bad);
	}
	/* The longest value taken: the bound itself. */
	snprintf(lines, sizeof lines, "X-Iaxkey-Previous: %0*d\n",
	    HTTP_CAPTURE_VALUE_MAX, 0);
	put("keys/capbad.headers", lines);
	fetched = fetch(h, url(&s_plain, "/v1/keys/capbad"), &o, &r);
	ok(fetched && r.has_cap[1] && strlen(r.cap[1]) ==
	    HTTP_CAPTURE_VALUE_MAX && r.cap_bad == 0,
	    "capture: a value of %d characters is taken", HTTP_CAPTURE_VALUE_MAX);
	res_clear(&r);
}

/* 200 with body and ETag over HTTPS; If-None-Match; the index. */
static void
t_basic(void)
{
	struct http_opts	 o;
	struct rsakey_info	 info;
	struct res		 r = { 0 };
	const char		*pem;
	char			 hex[65], etag[HTTP_ETAG_MAX + 3], *expect;
	char			*cause = NULL;

	memset(&o, 0, sizeof o);
	o.ca_file = ca;
	pem = "hello, key\n";
	put("keys/beta.pub", pem);
	rsakey_sha256_hex(pem, strlen(pem), hex);
	snprintf(etag, sizeof etag, "\"%s\"", hex);

	fetched = fetch(h, url(&s_tls, "/v1/keys/beta"), &o, &r);
	ok(fetched, "https GET completes");
	is_int(r.result, 0, "result 0");
	ok(!r.has_error, "no error (%s)", r.error);
	is_int(r.status, 200, "status 200");
	is_mem(r.body, r.len, pem, strlen(pem), "body is the file");
	ok(r.body[r.len] == '\0', "body is NUL-terminated");
	is_str(r.etag, etag, "ETag is the quoted SHA-256 of the body");
	ok(r.ms >= 0 && r.ms < 5000, "ms %ld", r.ms);

	o.if_none_match = etag;
	fetched = fetch(h, url(&s_tls, "/v1/keys/beta"), &o, &r);
	ok(fetched && r.status == 304, "If-None-Match with the ETag: 304 (%ld)",
	    r.status);
	is_int(r.len, 0, "304 has no body");
	o.if_none_match = "\"0000\"";
	fetched = fetch(h, url(&s_tls, "/v1/keys/beta"), &o, &r);
	ok(fetched && r.status == 200,
	    "If-None-Match with another ETag: 200 (%ld)", r.status);
	o.if_none_match = NULL;

	/* The index: rsakey fingerprints for keys, file hashes otherwise. */
	{
		char	kpath[PATH_MAX], ppath[PATH_MAX], *pub;
		FILE	*f;
		size_t	 n;

		snprintf(kpath, sizeof kpath, "%s/alpha.key", tdir);
		snprintf(ppath, sizeof ppath, "%s/keys/alpha.pub", tdir);
		if (rsakey_generate(kpath, ppath, &cause) == -1)
			bail("rsakey_generate: %s", cause);
		pub = xcalloc(1, RSAKEY_PEM_MAX + 1);
		if ((f = fopen(ppath, "r")) == NULL)
			bail("%s: %s", ppath, strerror(errno));
		n = fread(pub, 1, RSAKEY_PEM_MAX, f);
		fclose(f);
		if (rsakey_pub_validate(pub, n, RSAKEY_PEM_MAX, &info,
		    &cause) == -1)
			bail("rsakey_pub_validate: %s", cause);
		free(pub);
	}
	put("keys/bad name.pub", "skipped\n");
	xasprintf(&expect, "alpha %s\nbeta sha256:%s\n", info.fingerprint,
	    hex);
	fetched = fetch(h, url(&s_tls, "/v1/keys"), &o, &r);
	ok(fetched && r.status == 200, "index: 200");
	is_str(r.body, expect, "index: sorted \"<node> sha256:<hex>\" lines");
	free(expect);
	ok(r.has_etag && r.etag[0] == '"', "index has an ETag");
	snprintf(etag, sizeof etag, "%s", r.etag);
	o.if_none_match = etag;
	fetched = fetch(h, url(&s_tls, "/v1/keys"), &o, &r);
	ok(fetched && r.status == 304, "index: If-None-Match gives 304 (%ld)",
	    r.status);
	o.if_none_match = NULL;
	behave(".index", "status 503\n");
	fetched = fetch(h, url(&s_tls, "/v1/keys"), &o, &r);
	ok(fetched && r.status == 503, "index obeys .index.behave (%ld)",
	    r.status);
	behave(".index", NULL);

	fetched = fetch(h, url(&s_tls, "/v1/keys/missing"), &o, &r);
	ok(fetched && r.status == 404 && r.result == 0 && !r.has_error,
	    "404 returned as a status, not an error (%ld)", r.status);
	fetched = fetch(h, url(&s_tls, "/v1/keys/a%2Fb"), &o, &r);
	ok(fetched && r.status == 400, "stub: bad node name gives 400 (%ld)",
	    r.status);
	fetched = fetch(h, url(&s_tls, "/elsewhere"), &o, &r);
	ok(fetched && r.status == 404, "stub: other paths give 404 (%ld)",
	    r.status);
	res_clear(&r);
}

/* Certificate checks: trusted only with the right CA and host. */
static void
t_tls(void)
{
	struct http_opts	o;
	struct res		r = { 0 };
	char			u[128];

	memset(&o, 0, sizeof o);
	fetched = fetch(h, url(&s_tls, "/v1/keys/beta"), &o, &r);
	ok(fetched, "without ca_file: completes");
	ok(r.result == CURLE_PEER_FAILED_VERIFICATION && r.has_error &&
	    r.status == 0, "without ca_file: not trusted (%d: %s)", r.result,
	    r.error);

	o.ca_file = "";
	fetched = fetch(h, url(&s_tls, "/v1/keys/beta"), &o, &r);
	ok(fetched && r.result == CURLE_PEER_FAILED_VERIFICATION,
	    "ca_file \"\" means system CAs: not trusted (%d)", r.result);

	o.ca_file = other_ca;
	fetched = fetch(h, url(&s_tls, "/v1/keys/beta"), &o, &r);
	ok(fetched && r.result == CURLE_PEER_FAILED_VERIFICATION,
	    "another CA: not trusted (%d: %s)", r.result, r.error);

	o.ca_file = "/nonexistent/ca.pem";
	fetched = fetch(h, url(&s_tls, "/v1/keys/beta"), &o, &r);
	ok(fetched && r.result != 0 && r.has_error,
	    "missing ca_file: an error (%d: %s)", r.result, r.error);

	o.ca_file = ca;
	if (localhost_v4()) {
		snprintf(u, sizeof u, "https://localhost:%d/v1/keys/beta",
		    s_tls.port);
		fetched = fetch(h, u, &o, &r);
		ok(fetched && r.result == CURLE_PEER_FAILED_VERIFICATION,
		    "host name not in the certificate: refused (%d: %s)",
		    r.result, r.error);
	} else
		skip(1, "localhost does not resolve to 127.0.0.1");

	/* Plain HTTP spoken to a TLS port, TLS to a plain port. */
	o.allow_http = 1;
	snprintf(u, sizeof u, "https://127.0.0.1:%d/v1/keys/beta",
	    s_plain.port);
	fetched = fetch(h, u, &o, &r);
	ok(fetched && r.result != 0 && r.has_error,
	    "https to a plain HTTP server: an error (%d: %s)", r.result,
	    r.error);
	res_clear(&r);
}

/* https only unless allow_http; never other schemes. */
static void
t_schemes(void)
{
	struct http_opts	 o;
	struct res		 r = { 0 };
	char			*cause = NULL, u[128];
	static const char *const refused[] = {
		"ftp://127.0.0.1/x", "file:///etc/passwd", "gopher://x/",
		"dict://127.0.0.1:1/", "//127.0.0.1/x", "127.0.0.1/x",
		"httpsx://127.0.0.1/", NULL
	};
	int			 i, n;

	struct http_req		*req;

	memset(&o, 0, sizeof o);
	req = http_request(h, url(&s_plain, "/v1/keys/beta"), &o, done_cb, &r,
	    &cause);
	ok(req == NULL && cause != NULL && strstr(cause, "https") != NULL,
	    "http:// refused without allow_http: %s", cause);
	free(cause);
	cause = NULL;
	snprintf(u, sizeof u, "HTTP://127.0.0.1:%d/v1/keys/beta",
	    s_plain.port);
	req = http_request(h, u, &o, done_cb, &r, &cause);
	ok(req == NULL && cause != NULL, "HTTP:// refused too: %s", cause);
	free(cause);
	cause = NULL;
	is_int(http_inflight(h), 0, "nothing in flight");

	o.allow_http = 1;
	fetched = fetch(h, url(&s_plain, "/v1/keys/beta"), &o, &r);
	ok(fetched && r.status == 200 && r.result == 0,
	    "http:// with allow_http: 200 (%ld, %s)", r.status, r.error);
	ok(r.has_etag, "plain HTTP: ETag");
	for (i = n = 0; refused[i] != NULL; i++) {
		if (http_request(h, refused[i], &o, done_cb, &r, &cause) ==
		    NULL)
			n++;
		else
			diag("accepted: %s", refused[i]);
		free(cause);
		cause = NULL;
	}
	is_int(n, i, "other schemes refused even with allow_http");
	res_clear(&r);
}

/* Statuses, redirects, garbage, an API key header, resets. */
static void
t_statuses(void)
{
	struct http_opts	 o;
	struct res		 r = { 0 };
	const char		*hdrs[] = { API_HEADER, NULL };
	char			 text[512];
	int			 before;

	memset(&o, 0, sizeof o);
	o.ca_file = ca;
	put("keys/gamma.pub", "gamma\n");

	behave("gamma", "status 500\n");
	fetched = fetch(h, url(&s_tls, "/v1/keys/gamma"), &o, &r);
	ok(fetched && r.status == 500 && r.result == 0 && !r.has_error,
	    "500 returned as a status (%ld)", r.status);
	is_str(r.body, "status 500\n", "with its body");
	behave("gamma", "status 404\n");
	fetched = fetch(h, url(&s_tls, "/v1/keys/gamma"), &o, &r);
	ok(fetched && r.status == 404, "behave status 404 (%ld)", r.status);

	snprintf(text, sizeof text, "redirect %s\n",
	    url(&s_tls, "/v1/keys/redirected"));
	behave("gamma", text);
	before = log_count("GET /v1/keys/gamma");
	fetched = fetch(h, url(&s_tls, "/v1/keys/gamma"), &o, &r);
	ok(fetched && r.status == 302 && r.result == 0,
	    "a redirect is returned as 302, not followed (%ld, %d)", r.status,
	    r.result);
	is_int(log_count("GET /v1/keys/gamma"), before + 1,
	    "the stub logged the request once");
	is_int(log_count("GET /v1/keys/redirected"), 0,
	    "the Location was never fetched");

	behave("gamma", "garbage\n");
	fetched = fetch(h, url(&s_tls, "/v1/keys/gamma"), &o, &r);
	ok(fetched && r.status == 200 && r.len == 512,
	    "garbage: 200 with 512 bytes (%zu)", r.len);

	behave("gamma", "reset\n");
	fetched = fetch(h, url(&s_tls, "/v1/keys/gamma"), &o, &r);
	ok(fetched && r.result != 0 && r.has_error && r.status == 0,
	    "reset over TLS: an error (%d: %s)", r.result, r.error);
	o.allow_http = 1;
	fetched = fetch(h, url(&s_plain, "/v1/keys/gamma"), &o, &r);
	ok(fetched && r.result != 0 && r.has_error && r.status == 0,
	    "reset over HTTP: an error (%d: %s)", r.result, r.error);
	behave("gamma", NULL);

	/* A stub requiring the header: without it 401, with it 200. */
	o.allow_http = 0;
	fetched = fetch(h, url(&s_auth, "/v1/keys/gamma"), &o, &r);
	ok(fetched && r.status == 401, "without the API key header: 401 (%ld)",
	    r.status);
	o.headers = hdrs;
	fetched = fetch(h, url(&s_auth, "/v1/keys/gamma?api_key=" SECRET_Q),
	    &o, &r);
	ok(fetched && r.status == 200,
	    "with it (and a secret query value): 200 (%ld)", r.status);
	o.headers = NULL;
	res_clear(&r);
}

/* max_body: announced and chunked bodies, the exact limit. */
static void
t_caps(void)
{
	struct http_opts	o;
	struct res		r = { 0 };

	memset(&o, 0, sizeof o);
	o.ca_file = ca;
	o.max_body = 4096;
	put("keys/big.pub", "x\n");

	behave("big", "huge 4096\n");
	fetched = fetch(h, url(&s_tls, "/v1/keys/big"), &o, &r);
	ok(fetched && r.result == 0 && r.len == 4096,
	    "body of exactly max_body: kept (%zu)", r.len);
	behave("big", "chunked 4096\n");
	fetched = fetch(h, url(&s_tls, "/v1/keys/big"), &o, &r);
	ok(fetched && r.result == 0 && r.len == 4096,
	    "chunked body of exactly max_body: kept (%zu)", r.len);

	behave("big", "huge 4097\n");
	fetched = fetch(h, url(&s_tls, "/v1/keys/big"), &o, &r);
	ok(fetched && r.result != 0,
	    "announced body over max_body: an error (%d)", r.result);
	is_str(r.error, "body larger than 4096 bytes", "error text");
	ok(r.len <= 4096, "at most max_body kept (%zu)", r.len);

	behave("big", "chunked 1000000\n");
	fetched = fetch(h, url(&s_tls, "/v1/keys/big"), &o, &r);
	ok(fetched && r.result != 0,
	    "chunked body over max_body: an error (%d)", r.result);
	is_str(r.error, "body larger than 4096 bytes", "error text");
	ok(r.len <= 4096, "at most max_body kept (%zu)", r.len);

	o.max_body = 0;
	behave("big", "huge 2000000\n");
	fetched = fetch(h, url(&s_tls, "/v1/keys/big"), &o, &r);
	ok(fetched && r.result != 0, "default cap (%d bytes) applies (%d: %s)",
	    HTTP_BODY_DEFAULT, r.result, r.error);
	behave("big", NULL);
	res_clear(&r);
}

/* delay, endless and hang against timeout_ms; delay within it. */
static void
t_timeouts(void)
{
	struct http_opts	 o;
	struct http		*hh;
	struct res		 r = { 0 }, ra[2];
	int			 cport, cfd;
	char			 u[128];

	memset(&o, 0, sizeof o);
	o.ca_file = ca;
	o.timeout_ms = 400;
	put("keys/slow.pub", "slow\n");

	behave("slow", "delay 100\n");
	fetched = fetch(h, url(&s_tls, "/v1/keys/slow"), &o, &r);
	ok(fetched && r.status == 200 && r.result == 0 && r.ms >= 90,
	    "delay 100 within 400: 200 after " "%ld ms", r.ms);
	is_str(r.body, "slow\n", "delayed body");

	behave("slow", "delay 3000\n");
	fetched = fetch(h, url(&s_tls, "/v1/keys/slow"), &o, &r);
	ok(fetched && r.result == CURLE_OPERATION_TIMEDOUT && r.has_error,
	    "delay beyond timeout_ms: timeout (%d: %s)", r.result, r.error);
	ok(r.ms >= 350 && r.ms < 2000, "after about 400 ms (%ld)", r.ms);

	behave("slow", "endless\n");
	fetched = fetch(h, url(&s_tls, "/v1/keys/slow"), &o, &r);
	ok(fetched && r.result == CURLE_OPERATION_TIMEDOUT,
	    "endless: timeout (%d: %s)", r.result, r.error);
	ok(r.ms >= 350 && r.ms < 2000, "after about 400 ms (%ld)", r.ms);
	is_int(r.status, 200, "endless: the partial response's status");

	behave("slow", "hang\n");
	o.allow_http = 1;
	fetched = fetch(h, url(&s_plain, "/v1/keys/slow"), &o, &r);
	ok(fetched && r.result == CURLE_OPERATION_TIMEDOUT,
	    "hang: timeout (%d: %s)", r.result, r.error);

	/* Waiting for a connection slot counts against the timeout. */
	if ((hh = http_new(base, 1)) == NULL)
		bail("http_new");
	memset(ra, 0, sizeof ra);
	o.timeout_ms = 1500;
	start(hh, url(&s_plain, "/v1/keys/slow"), &o, &ra[0]);
	o.timeout_ms = 300;
	start(hh, url(&s_plain, "/v1/keys/slow"), &o, &ra[1]);
	fetched = run(1);
	ok(fetched && ra[1].calls == 1 && ra[0].calls == 0 &&
	    ra[1].result == CURLE_OPERATION_TIMEDOUT && ra[1].ms < 1000,
	    "queued behind a hung request (1 connection): timeout after "
	    "%ld ms (%s)", ra[1].ms, ra[1].error);
	fetched = run(1);
	ok(fetched && ra[0].result == CURLE_OPERATION_TIMEDOUT &&
	    ra[0].ms >= 1400, "the hung one times out after %ld ms",
	    ra[0].ms);
	free(ra[0].body);
	free(ra[1].body);
	http_free(hh);
	o.timeout_ms = 400;
	behave("slow", NULL);

	cfd = closed_port(&cport);
	snprintf(u, sizeof u, "http://127.0.0.1:%d/", cport);
	fetched = fetch(h, u, &o, &r);
	ok(fetched && r.result == CURLE_COULDNT_CONNECT && r.status == 0,
	    "connection refused: an error, from the loop " "(%d: %s)", r.result,
	    r.error);
	close(cfd);
	res_clear(&r);
}

/* 50 requests at once through 8 connections. */
static void
t_concurrent(void)
{
	struct http_opts	 o;
	struct http		*hh;
	struct res		 r[50];
	int			 i, n200 = 0, started = 0;

	memset(&o, 0, sizeof o);
	memset(r, 0, sizeof r);
	o.ca_file = ca;
	if ((hh = http_new(base, 8)) == NULL)
		bail("http_new");
	behave("beta", "delay 20\n");
	for (i = 0; i < 50; i++) {
		if (start(hh, url(&s_tls, "/v1/keys/beta"), &o, &r[i]) !=
		    NULL)
			started++;
	}
	is_int(started, 50, "50 requests started");
	is_int(http_inflight(hh), 50, "50 in flight");
	ok(run(50), "all 50 completed");
	for (i = 0; i < 50; i++) {
		if (r[i].calls == 1 && r[i].status == 200 &&
		    r[i].len == strlen("hello, key\n"))
			n200++;
		free(r[i].body);
	}
	is_int(n200, 50, "each once, 200 with the body");
	is_int(http_inflight(hh), 0, "none in flight");
	behave("beta", NULL);
	http_free(hh);
}

/* http_cancel: at once, from another request's callback, itself. */
static void
t_cancel(void)
{
	struct http_opts	 o;
	struct http_req		*a, *b;
	struct res		 ra = { 0 }, rb = { 0 }, rc = { 0 };

	memset(&o, 0, sizeof o);
	o.ca_file = ca;
	o.timeout_ms = 2000;
	put("keys/slow.pub", "slow\n");
	behave("slow", "delay 300\n");

	b = start(h, url(&s_tls, "/v1/keys/slow"), &o, &rb);
	is_int(http_inflight(h), 1, "one in flight");
	http_cancel(b);
	is_int(http_inflight(h), 0, "cancelled at once: none in flight");
	http_cancel(NULL);
	fetched = fetch(h, url(&s_tls, "/v1/keys/beta"), &o, &ra);
	ok(fetched, "another " "request completes");
	run_ms(500);
	is_int(rb.calls, 0, "the cancelled callback never ran");

	res_clear(&ra);
	res_clear(&rb);
	a = start(h, url(&s_tls, "/v1/keys/beta"), &o, &ra);
	b = start(h, url(&s_tls, "/v1/keys/slow"), &o, &rb);
	ra.cancel = b;
	ra.self = a;		/* cancelling itself is a no-op */
	ok(a != NULL && b != NULL && run(1) && ra.calls == 1,
	    "first request completes");
	is_int(http_inflight(h), 0, "the other was cancelled from its "
	    "callback");
	run_ms(500);
	is_int(rb.calls, 0, "its callback never ran");

	/* A callback starting another request. */
	res_clear(&ra);
	ra.again = h;
	ra.again_res = &rc;
	ra.again_url = url(&s_tls, "/v1/keys/missing");
	ok(start(h, url(&s_tls, "/v1/keys/beta"), &o, &ra) != NULL &&
	    run(2) && ra.calls == 1 && rc.calls == 1,
	    "a request started from a callback completes");
	ok(rc.result != 0, "(without options: no CA, %d)", rc.result);
	behave("slow", NULL);
	res_clear(&ra);
	res_clear(&rb);
	res_clear(&rc);
}

/* http_free with requests in flight, also from a callback. */
static void
t_free(void)
{
	struct http_opts	 o;
	struct http		*hh;
	struct http_req		*req;
	struct res		 r[3];
	char			*cause = NULL;
	int			 i;

	memset(&o, 0, sizeof o);
	memset(r, 0, sizeof r);
	o.ca_file = ca;
	o.timeout_ms = 2000;
	behave("slow", "hang\n");

	http_free(NULL);
	if ((hh = http_new(base, 0)) == NULL)
		bail("http_new");
	start(hh, url(&s_tls, "/v1/keys/slow"), &o, &r[0]);
	start(hh, url(&s_tls, "/v1/keys/beta"), &o, &r[1]);
	run_ms(100);		/* connections open, one answered maybe */
	i = r[1].calls;
	start(hh, url(&s_tls, "/v1/keys/beta"), &o, &r[2]);
	http_free(hh);
	run_ms(300);
	ok(r[0].calls == 0 && r[1].calls == i && r[2].calls == 0,
	    "http_free: no callback ran after it");
	for (i = 0; i < 3; i++)
		free(r[i].body);

	memset(r, 0, sizeof r);
	if ((hh = http_new(base, 0)) == NULL)
		bail("http_new");
	start(hh, url(&s_tls, "/v1/keys/beta"), &o, &r[0]);
	start(hh, url(&s_tls, "/v1/keys/slow"), &o, &r[1]);
	r[0].free_me = hh;
	ok(run(1) && r[0].calls == 1, "a callback frees its client");
	run_ms(300);
	is_int(r[1].calls, 0, "the other request's callback never ran");
	for (i = 0; i < 3; i++)
		free(r[i].body);

	/* A client being freed refuses requests (checked from a callback). */
	memset(r, 0, sizeof r);
	if ((hh = http_new(base, 0)) == NULL)
		bail("http_new");
	r[0].free_me = hh;
	r[0].again = hh;
	r[0].again_res = &r[1];
	r[0].again_url = url(&s_tls, "/v1/keys/beta");
	start(hh, url(&s_tls, "/v1/keys/beta"), &o, &r[0]);
	ok(run(1) && r[0].calls == 1 && r[0].again_refused,
	    "after http_free in a callback, http_request is refused");
	run_ms(100);
	is_int(r[1].calls, 0, "and nothing runs later");
	req = http_request(NULL, "https://127.0.0.1/", &o, done_cb, &r[2],
	    &cause);
	ok(req == NULL && cause != NULL, "no client: refused (%s)", cause);
	free(cause);
	for (i = 0; i < 3; i++)
		free(r[i].body);
	behave("slow", NULL);
}

/* Bad arguments are refused at once, with a reason. */
static void
t_args(void)
{
	struct http_opts	 o;
	struct res		 r = { 0 };
	char			*cause, *longurl;
	const char		*crlf[] = { "X-A: b\r\nX-Injected: 1", NULL };
	const char		*noname[] = { ": value", NULL };
	const char		*spname[] = { "X A: value", NULL };
	const char		*many[HTTP_HEADERS_MAX + 2];
	int			 i, n = 0, total = 0;

#define REFUSED(what) do {						\
	total++;							\
	cause = NULL;							\
	if (http_request(h, u, &o, done_cb, &r, &cause) == NULL &&	\
	    cause != NULL)						\
		n++;							\
	else								\
		diag("not refused: %s", what);				\
	if (verbose)							\
		diag("%s: %s", what, cause);				\
	free(cause);							\
	memset(&o, 0, sizeof o);					\
} while (0)
	const char	*u = url(&s_tls, "/v1/keys/beta");

	memset(&o, 0, sizeof o);
	o.method = "get";
	REFUSED("lower-case method");
	o.method = "TRACE";
	REFUSED("TRACE");
	o.body = "x";
	o.body_len = 1;
	REFUSED("GET with a body");
	o.method = "PUT";
	o.body_len = 1;
	REFUSED("body_len without body");
	o.timeout_ms = -1;
	REFUSED("negative timeout");
	o.connect_timeout_ms = -5;
	REFUSED("negative connect timeout");
	o.timeout_ms = HTTP_TIMEOUT_LIMIT + 1L;
	REFUSED("timeout over HTTP_TIMEOUT_LIMIT");
	o.max_body = (size_t)HTTP_BODY_LIMIT + 1;
	REFUSED("max_body over the limit");
	o.if_none_match = "\"a\"\r\nX-Injected: 1";
	REFUSED("CR LF in If-None-Match");
	o.if_none_match = "";
	REFUSED("empty If-None-Match");
	o.content_type = "text/plain\nX: y";
	REFUSED("LF in Content-Type");
	o.headers = crlf;
	REFUSED("CR LF in a header");
	o.headers = noname;
	REFUSED("header without name");
	o.headers = spname;
	REFUSED("header name with a space");
	for (i = 0; i < HTTP_HEADERS_MAX + 1; i++)
		many[i] = "X-A: b";
	many[i] = NULL;
	o.headers = many;
	REFUSED("too many headers");
	u = "https://127.0.0.1/a b";
	REFUSED("space in URL");
	u = "https://127.0.0.1/\r\n";
	REFUSED("CR LF in URL");
	u = "https://127.0.0.1/\xc3\xa9";
	REFUSED("non-ASCII URL");
	u = "";
	REFUSED("empty URL");
	u = NULL;
	REFUSED("NULL URL");
	longurl = xmalloc(HTTP_URL_MAX + 2);
	memcpy(longurl, "https://", 8);
	memset(longurl + 8, 'a', HTTP_URL_MAX - 7);
	longurl[HTTP_URL_MAX + 1] = '\0';
	u = longurl;
	REFUSED("URL over HTTP_URL_MAX");
	free(longurl);
	is_int(n, total, "%d bad requests refused at once", total);
	is_int(http_inflight(h), 0, "nothing started");
	is_int(r.calls, 0, "no callback");
#undef REFUSED

	/* The exact limit is accepted (and fails later, from the loop). */
	longurl = xmalloc(HTTP_URL_MAX + 1);
	memcpy(longurl, "https://127.0.0.1:1/", 20);
	memset(longurl + 20, 'a', HTTP_URL_MAX - 20);
	longurl[HTTP_URL_MAX] = '\0';
	memset(&o, 0, sizeof o);
	fetched = fetch(h, longurl, &o, &r);
	ok(fetched && r.result != 0,
	    "a URL of HTTP_URL_MAX bytes is accepted (%d)", r.result);
	free(longurl);
	res_clear(&r);
}

/* Methods and bodies reach the server; HEAD. */
static void
t_methods(void)
{
	struct http_opts	o;
	struct res		r = { 0 };
	int			before;

	memset(&o, 0, sizeof o);
	o.ca_file = ca;
	o.method = "PUT";
	o.body = "payload";
	o.body_len = 7;
	o.content_type = "text/plain";
	before = log_count("PUT /v1/keys/beta");
	fetched = fetch(h, url(&s_tls, "/v1/keys/beta"), &o, &r);
	ok(fetched && r.status == 405,
	    "PUT with a body: the stub answers 405 (%ld)", r.status);
	is_int(log_count("PUT /v1/keys/beta"), before + 1, "logged as PUT");
	memset(&o, 0, sizeof o);
	o.ca_file = ca;
	o.method = "DELETE";
	fetched = fetch(h, url(&s_tls, "/v1/keys/beta"), &o, &r);
	ok(fetched && r.status == 405 && log_count("DELETE /v1/keys/beta") == 1,
	    "DELETE (%ld)", r.status);
	o.method = "POST";
	fetched = fetch(h, url(&s_tls, "/v1/keys/beta"), &o, &r);
	ok(fetched && r.status == 405 && log_count("POST /v1/keys/beta") == 1,
	    "POST without a body (%ld)", r.status);
	o.method = "HEAD";
	fetched = fetch(h, url(&s_tls, "/v1/keys/beta"), &o, &r);
	ok(fetched && r.status == 200 && r.len == 0 && r.has_etag,
	    "HEAD: 200, ETag, no body (%ld, %zu)", r.status, r.len);
	res_clear(&r);
}

/* http_redact. */
static void
t_redact(void)
{
	static const char *const cases[][2] = {
		{ "https://user:pw@example.com:8443/v1/keys/x?api_key=S1&node="
		  "abc#frag", "https://example.com:8443/v1/keys/x?api_key=xxx&"
		  "node=xxx" },
		{ "https://example.com/v1/keys/n", "https://example.com/v1/"
		  "keys/n" },
		{ "https://example.com/p?token", "https://example.com/p?xxx" },
		{ "https://example.com/p?a=&b=1&&c", "https://example.com/p?"
		  "a=xxx&b=xxx&&xxx" },
		{ "https://example.com/p?", "https://example.com/p?" },
		{ "https://example.com/a@b?x=1", "https://example.com/a@b?"
		  "x=xxx" },
		{ "https://u@h?k=v", "https://h?k=xxx" },
		{ "https://a:b@c@host/", "https://host/" },
		{ "http://h/p#s=1", "http://h/p" },
		{ "host/p?x=y=z", "host/p?x=xxx" },
		{ "", "" },
	};
	char	*s;
	size_t	 i;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		s = http_redact(cases[i][0]);
		is_str(s, cases[i][1], "http_redact(\"%s\")", cases[i][0]);
		free(s);
	}
	s = http_redact(NULL);
	is_str(s, "", "http_redact(NULL)");
	free(s);
}

/* http_escape. */
static void
t_escape(void)
{
	static const char *const cases[][2] = {
		{ "node-1.a_b~", "node-1.a_b~" },
		{ "a b/c?d=e&f#", "a%20b%2Fc%3Fd%3De%26f%23" },
		{ "\xc3\xa9%", "%C3%A9%25" },
		{ "\r\n\x7f", "%0D%0A%7F" },
		{ "", "" },
	};
	char	*s;
	size_t	 i;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		s = http_escape(cases[i][0]);
		is_str(s, cases[i][1], "http_escape case %zu", i);
		free(s);
	}
}

int
main(void)
{
	char	 keys[PATH_MAX];
	char	*rm[] = { "rm", "-rf", tdir, NULL };

	signal(SIGPIPE, SIG_IGN);
	verbose = getenv("TEST_VERBOSE") != NULL;
	log_set_level(verbose ? LOG_L_DEBUG : LOG_L_MAX);
	log_set_hook(hook, NULL);
	strlcpy_(tdir, "t/trash.http.XXXXXX", sizeof tdir);
	if (mkdtemp(tdir) == NULL)
		bail("mkdtemp %s: %s", tdir, strerror(errno));
	snprintf(keys, sizeof keys, "%s/keys", tdir);
	if (mkdir(keys, 0755) == -1)
		bail("mkdir %s: %s", keys, strerror(errno));
	if ((base = event_base_new()) == NULL)
		bail("event_base_new");
	guard = evtimer_new(base, guard_cb, NULL);
	stopper = evtimer_new(base, stop_cb, NULL);

	plan_no_plan();
	atexit(stubs_kill);
	make_certs();
	stub_start(&s_tls, 1, NULL);
	stub_start(&s_plain, 0, NULL);
	stub_start(&s_auth, 1, API_HEADER);
	if ((h = http_new(base, 16)) == NULL)
		bail("http_new");

	t_basic();
	t_tls();
	t_schemes();
	t_statuses();
	t_caps();
	t_timeouts();
	t_concurrent();
	t_cancel();
	t_free();
	t_args();
	t_methods();
	t_redact();
	t_escape();
	t_capture();
	t_capture_bad();

	is_int(http_inflight(h), 0, "nothing left in flight");
	http_free(h);
	stub_stop(&s_tls);
	stub_stop(&s_plain);
	stub_stop(&s_auth);
	is_int(bad_context, 0, "every callback ran from the loop, none "
	    "inside http_request");
	ok(nlines > 0, "%d log lines seen", nlines);
	is_int(leaks, 0, "no secret in any log line");

	log_set_hook(NULL, NULL);
	event_free(guard);
	event_free(stopper);
	event_base_free(base);
	if (exit_status() == 0 && !verbose)
		cmd((const char *const *)rm, NULL);
	return (exit_status());
}
