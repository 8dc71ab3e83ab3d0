/*
 * lib/ami against t/helper/fake-ami: login and reloads, pipelining, the
 * global "one reload at a time" refusal, refused logins (and that no
 * secret reaches a log line), dropped connections, over-long lines and
 * messages, connection refused, too many requests, ami_free with pending
 * requests (also from inside a callback).  Each emulator is started with
 * fork/execv and its port read from a pipe; the loop runs until the
 * callbacks say so, bounded by the request timeouts and a guard timer.
 * TEST_VERBOSE=1 shows the log lines (stderr) and the emulator's
 * transcript.
 */
#include <sys/types.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
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

#include <event2/event.h>

#include "lib/ami.h"
#include "lib/log.h"
#include "lib/xmalloc.h"
#include "t/lib/tap.h"

#define FAKE_AMI	"t/helper/fake-ami"
#define USER		"iaxkeyd"
#define SECRET		"s3cret-PLUGH"
#define BADSECRET	"wrong-XYZZY"
#define GUARD_MS	20000
#define T_MS		5000		/* request timeout, all well */

struct fake {
	pid_t	pid;
	int	port;
	int	out;			/* read end of its stdout */
};

struct watch {
	struct ami	*ami;		/* reload on it when ... */
	const char	*when;		/* ... fake-ami prints this */
	struct res	*res;
	size_t		 len;
	char		 buf[256];
};

struct res {
	int		 calls;
	int		 ok;
	int		 seq;		/* order of completion */
	uint64_t	 t_done;
	char		 msg[512];
	struct ami	*free_me;	/* ami_free it from the callback */
	struct ami	*again;		/* ami_reload it from the cb */
	struct res	*again_res;
};

static struct event_base	*base;
static struct event		*guard;
static int			 t_pending;
static int			 t_seq;
static int			 guard_hit;
static int			 in_run;		/* inside run() */
static int			 exit_on_ready;
static int			 verbose;
static int			 nlines, leaks, saw_ready, saw_authfail;

static uint64_t	now_ms(void);
static void	hook(enum log_level, const char *, size_t, void *);
static void	guard_cb(evutil_socket_t, short, void *);
static void	done_cb(void *, int, const char *);
static void	watch_cb(evutil_socket_t, short, void *);
static int	run(int);
static void	fake_start(struct fake *, ...);
static void	fake_stop(struct fake *);
static int	closed_port(int *);
static void	res_init(struct res *, int);
static struct ami *again_start(struct fake *, struct res *, int);
static char	*slurp(const char *);
static void	t_args(void);
static void	t_basic(void);
static void	t_busy(void);
static void	t_auth(void);
static void	t_drop(void);
static void	t_caps(void);
static void	t_refused(void);
static void	t_free(void);

/* Milliseconds on the monotonic clock. */
static uint64_t
now_ms(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
}

/* Every log line: count it, look for the secrets and for states. */
static void
hook(enum log_level level, const char *line, size_t len, void *arg)
{
	nlines++;
	if (memmem(line, len, SECRET, strlen(SECRET)) != NULL ||
	    memmem(line, len, BADSECRET, strlen(BADSECRET)) != NULL) {
		leaks++;
		diag("secret in log line: %.*s", (int)len, line);
	}
	if (memmem(line, len, "event=ami state=ready", 21) != NULL) {
		saw_ready++;
		if (exit_on_ready && in_run)
			event_base_loopexit(base, NULL);
	}
	if (memmem(line, len, "state=failed", 12) != NULL &&
	    memmem(line, len, "Authentication failed", 21) != NULL)
		saw_authfail++;
}

/* The loop ran far too long: stop it (a failure). */
static void
guard_cb(evutil_socket_t fd, short events, void *arg)
{
	guard_hit = 1;
	event_base_loopexit(base, NULL);
}

/* A request finished: record it; the last awaited one stops the loop. */
static void
done_cb(void *arg, int ok, const char *msg)
{
	struct res	*r = arg;
	struct ami	*a;

	r->calls++;
	r->ok = ok;
	r->seq = ++t_seq;
	r->t_done = now_ms();
	strlcpy_(r->msg, msg != NULL ? msg : "(null)", sizeof r->msg);
	if ((a = r->again) != NULL) {
		r->again = NULL;
		if (ami_reload(a, "chan_iax2.so", T_MS, done_cb,
		    r->again_res) == -1)
			diag("ami_reload from a callback failed");
	}
	if ((a = r->free_me) != NULL) {
		r->free_me = NULL;
		ami_free(a);
	}
	/* loopexit outside the loop would end the next run at once. */
	if (--t_pending == 0 && in_run)
		event_base_loopexit(base, NULL);
}

/* The emulator's stdout (-S): start a reload when a line says so. */
static void
watch_cb(evutil_socket_t fd, short events, void *arg)
{
	struct watch	*w = arg;
	char		*nl;
	ssize_t		 n;

	n = read(fd, w->buf + w->len, sizeof w->buf - 1 - w->len);
	if (n <= 0) {
		diag("fake-ami stdout: %s", n == 0 ? "EOF" : strerror(errno));
		event_base_loopexit(base, NULL);
		return;
	}
	w->len += n;
	w->buf[w->len] = '\0';
	while ((nl = strchr(w->buf, '\n')) != NULL) {
		*nl = '\0';
		if (w->ami != NULL && strcmp(w->buf, w->when) == 0) {
			ami_reload(w->ami, "res_crypto.so", T_MS, done_cb,
			    w->res);
			w->ami = NULL;
		}
		w->len -= nl + 1 - w->buf;
		memmove(w->buf, nl + 1, w->len + 1);
	}
	if (w->len == sizeof w->buf - 1)
		w->len = 0;
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

/* Reset a result. */
static void
res_init(struct res *r, int n)
{
	int	i;

	for (i = 0; i < n; i++)
		memset(&r[i], 0, sizeof r[i]);
}

/* A client on f whose first request, r[0], queues r[1] from its callback. */
static struct ami *
again_start(struct fake *f, struct res *r, int timeout_ms)
{
	struct ami	*a;

	a = ami_new(base, "127.0.0.1", f->port, USER, SECRET);
	res_init(r, 2);
	r[0].again = a;
	r[0].again_res = &r[1];
	ami_reload(a, "chan_iax2.so", timeout_ms, done_cb, &r[0]);
	return (a);
}

/* Start fake-ami with the user, the secret and NULL-ended options. */
static void
fake_start(struct fake *f, ...)
{
	const char	*argv[32];
	const char	*s;
	char		 buf[64];
	va_list		 ap;
	size_t		 n = 0;
	int		 p[2], argc = 0;
	ssize_t		 r;

	argv[argc++] = FAKE_AMI;
	if (!verbose)
		argv[argc++] = "-q";
	argv[argc++] = "-u";
	argv[argc++] = USER;
	argv[argc++] = "-s";
	argv[argc++] = SECRET;
	va_start(ap, f);
	while ((s = va_arg(ap, const char *)) != NULL && argc < 31)
		argv[argc++] = s;
	va_end(ap);
	argv[argc] = NULL;
	if (pipe2(p, O_CLOEXEC) == -1)
		bail("pipe: %s", strerror(errno));
	fflush(stdout);
	if ((f->pid = fork()) == -1)
		bail("fork: %s", strerror(errno));
	if (f->pid == 0) {
		/* No orphaned emulator if the test dies (bail, crash). */
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		dup2(p[1], 1);
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	close(p[1]);
	f->out = p[0];
	/* Blocking read of "port=N\n": the emulator prints it at once. */
	while (n < sizeof buf - 1) {
		r = read(f->out, buf + n, 1);
		if (r == -1 && errno == EINTR)
			continue;
		if (r <= 0)
			bail("%s did not start", FAKE_AMI);
		if (buf[n++] == '\n')
			break;
	}
	buf[n] = '\0';
	if (sscanf(buf, "port=%d", &f->port) != 1 || f->port <= 0)
		bail("%s: bad first line %s", FAKE_AMI, buf);
}

/* Stop fake-ami with SIGTERM; it must exit 0. */
static void
fake_stop(struct fake *f)
{
	int	status;

	kill(f->pid, SIGTERM);
	while (waitpid(f->pid, &status, 0) == -1 && errno == EINTR)
		;
	close(f->out);
	ok(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	    "fake-ami (port %d) exits 0 on SIGTERM (status %#x)", f->port,
	    status);
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

/* Read a small file (caller frees), "" when missing. */
static char *
slurp(const char *path)
{
	FILE	*f;
	char	*buf = xcalloc(1, 4096);

	if ((f = fopen(path, "r")) != NULL) {
		if (fread(buf, 1, 4095, f) == 0)
			buf[0] = '\0';
		fclose(f);
	}
	return (buf);
}

/* Arguments: hosts, ports, user and secret, module names. */
static void
t_args(void)
{
	struct ami	*a;
	struct res	 r;
	char		 name[AMI_MODULE_MAX + 2];

	ok1(ami_new(base, "example.com", 5038, USER, SECRET) == NULL);
	ok1(ami_new(base, "256.1.1.1", 5038, USER, SECRET) == NULL);
	ok1(ami_new(base, "127.0.0.1", 0, USER, SECRET) == NULL);
	ok1(ami_new(base, "127.0.0.1", 65536, USER, SECRET) == NULL);
	ok1(ami_new(base, "127.0.0.1", 5038, "", SECRET) == NULL);
	ok1(ami_new(base, "127.0.0.1", 5038, "a\r\nAction: Logoff", SECRET) ==
	    NULL);
	ok1(ami_new(base, "127.0.0.1", 5038, USER, "x\ny") == NULL);
	a = ami_new(base, "::1", 5038, USER, SECRET);
	ok(a != NULL, "IPv6 literal accepted");
	ami_free(a);
	a = ami_new(base, "[::1]", 5038, USER, SECRET);
	ok(a != NULL, "bracketed IPv6 literal accepted");
	ami_free(a);
	a = ami_new(base, "localhost", 5038, USER, SECRET);
	ok(a != NULL, "localhost accepted");
	is_str(ami_state(a), "connecting", "state before the loop runs");

	res_init(&r, 1);
	is_int(ami_reload(a, "", 100, done_cb, &r), -1, "empty module");
	is_int(ami_reload(a, "chan iax2", 100, done_cb, &r), -1, "space");
	is_int(ami_reload(a, "../chan_iax2", 100, done_cb, &r), -1, "slash");
	is_int(ami_reload(a, "x\r\nAction: Logoff", 100, done_cb, &r), -1,
	    "CRLF injection");
	memset(name, 'm', sizeof name - 1);
	name[sizeof name - 1] = '\0';
	is_int(ami_reload(a, name, 100, done_cb, &r), -1, "65 bytes");
	is_int(r.calls, 0, "no callback for refused names");
	name[AMI_MODULE_MAX] = '\0';
	is_int(ami_reload(a, name, 100, done_cb, &r), 0, "64 bytes");
	is_int(r.calls, 0, "callback not run inside ami_reload");
	ami_free(a);
	is_int(r.calls, 1, "ami_free ran the waiting callback");
	is_int(r.ok, 0, "... with ok=0");
	is_str(r.msg, "shutdown", "... and \"shutdown\"");
}

/* Login, a reload, two pipelined, an unknown module; events ignored. */
static void
t_basic(void)
{
	struct fake	 f;
	struct ami	*a;
	struct res	 r[3];
	char		 log[] = "/tmp/ami-reloads.XXXXXX";
	char		*text;
	int		 fd;

	if ((fd = mkstemp(log)) == -1)
		bail("mkstemp: %s", strerror(errno));
	close(fd);
	fake_start(&f, "-R", "20", "-E", "-L", log, "-M", "chan_iax2.so",
	    "-M", "res_crypto.so", NULL);
	a = ami_new(base, "127.0.0.1", f.port, USER, SECRET);
	ok(a != NULL, "ami_new");
	res_init(r, 3);
	is_int(ami_reload(a, "chan_iax2.so", T_MS, done_cb, &r[0]), 0,
	    "reload queued before connecting");
	ok(run(1), "loop ended by the callback");
	is_int(r[0].calls, 1, "callback ran once");
	is_int(r[0].ok, 1, "reload succeeded");
	is_str(r[0].msg, "Module Reloaded", "message");
	is_str(ami_state(a), "ready", "state ready");

	res_init(r, 3);
	ami_reload(a, "chan_iax2.so", T_MS, done_cb, &r[0]);
	ami_reload(a, "res_crypto.so", T_MS, done_cb, &r[1]);
	ok(run(2), "two pipelined reloads");
	ok(r[0].ok && r[1].ok, "both succeeded (%s / %s)", r[0].msg,
	    r[1].msg);
	ok(r[0].seq < r[1].seq, "in order");

	res_init(r, 3);
	ami_reload(a, "nosuch.so", T_MS, done_cb, &r[0]);
	ok(run(1), "unknown module answered");
	is_int(r[0].ok, 0, "unknown module: ok=0");
	is_str(r[0].msg, "No such module", "Asterisk's message");

	text = slurp(log);
	is_str(text, "reload chan_iax2.so\nreload chan_iax2.so\n"
	    "reload res_crypto.so\n", "the emulator's reload log");
	free(text);
	unlink(log);
	ami_free(a);
	fake_stop(&f);
}

/* "A reload is in progress": injected, then two clients at once. */
static void
t_busy(void)
{
	struct fake	 f;
	struct ami	*a, *b;
	struct res	 r[2];
	struct watch	 w;
	struct event	*ev;

	fake_start(&f, "-S", "-R", "400", "-F", "1", NULL);
	a = ami_new(base, "127.0.0.1", f.port, USER, SECRET);
	b = ami_new(base, "127.0.0.1", f.port, USER, SECRET);
	res_init(r, 2);
	ami_reload(a, "chan_iax2.so", T_MS, done_cb, &r[0]);
	ok(run(1), "busy answer");
	is_int(r[0].ok, 0, "busy: ok=0");
	is_str(r[0].msg, "A reload is in progress", "busy message");

	/* b asks while a's reload runs: the emulator says when. */
	res_init(r, 2);
	memset(&w, 0, sizeof w);
	w.ami = b;
	w.when = "reload start chan_iax2.so";
	w.res = &r[1];
	ev = event_new(base, f.out, EV_READ | EV_PERSIST, watch_cb, &w);
	event_add(ev, NULL);
	ami_reload(a, "chan_iax2.so", T_MS, done_cb, &r[0]);
	ok(run(2), "two clients, one reload lock");
	event_free(ev);
	is_int(r[0].ok, 1, "the first reload runs (%s)", r[0].msg);
	is_int(r[1].ok, 0, "the second is refused");
	is_str(r[1].msg, "A reload is in progress", "global lock message");
	ok(r[1].seq < r[0].seq, "the refusal comes at once");
	ami_free(a);
	ami_free(b);
	fake_stop(&f);
}

/* Wrong secret, refused logins: the message, no secret in any log line. */
static void
t_auth(void)
{
	struct fake	 f;
	struct ami	*a;
	struct res	 r, rr[2];
	int		 n;

	fake_start(&f, NULL);
	a = ami_new(base, "127.0.0.1", f.port, USER, BADSECRET);
	res_init(&r, 1);
	ami_reload(a, "chan_iax2.so", T_MS, done_cb, &r);
	ok(run(1), "wrong secret answered");
	is_int(r.ok, 0, "wrong secret: ok=0");
	is_str(r.msg, "Authentication failed", "Asterisk's message");
	is_str(ami_state(a), "failed: Authentication failed", "state");
	ok(saw_authfail > 0, "state=failed logged with the reason");
	ami_free(a);
	fake_stop(&f);

	/* -r: every login refused, after a delay, connection kept open. */
	fake_start(&f, "-r", "-W", "50", "-K", NULL);
	a = ami_new(base, "127.0.0.1", f.port, USER, SECRET);
	res_init(&r, 1);
	ami_reload(a, "chan_iax2.so", T_MS, done_cb, &r);
	ok(run(1), "refused login answered");
	is_int(r.ok, 0, "refused login: ok=0");
	is_str(r.msg, "Authentication failed", "refused login message");
	ami_free(a);
	fake_stop(&f);

	/*
	 * A request queued from the refusal's callback is not failed by
	 * the same refusal: it waits for the next login (refused again).
	 */
	fake_start(&f, "-r", NULL);
	a = again_start(&f, rr, T_MS);
	ok(run(1), "refused login, retry from the callback: answered");
	n = saw_authfail;
	is_int(rr[1].calls, 0, "the retry still waits");
	ok(run(1), "the retry answered");
	ok(rr[1].ok == 0 && saw_authfail > n,
	    "the retry refused by the next login (%s)", rr[1].msg);
	ami_free(a);
	fake_stop(&f);
}

/* The connection drops mid-reload: that request fails, the next works. */
static void
t_drop(void)
{
	struct fake	 f;
	struct ami	*a;
	struct res	 r[2];
	int		 ready;

	fake_start(&f, "-D", "1", "-R", "10", NULL);
	a = ami_new(base, "127.0.0.1", f.port, USER, SECRET);
	res_init(r, 2);
	ami_reload(a, "chan_iax2.so", T_MS, done_cb, &r[0]);
	ok(run(1), "dropped request answered");
	is_int(r[0].ok, 0, "dropped: ok=0");
	ok(strncmp(r[0].msg, "connection lost", 15) == 0, "message: %s",
	    r[0].msg);
	ok(strncmp(ami_state(a), "failed: ", 8) == 0, "state: %s",
	    ami_state(a));
	ready = saw_ready;
	res_init(r, 2);
	ami_reload(a, "chan_iax2.so", T_MS, done_cb, &r[0]);
	ok(run(1), "next request answered");
	is_int(r[0].ok, 1, "after reconnecting: ok=1 (%s)", r[0].msg);
	ok(saw_ready > ready, "logged in again");
	is_str(ami_state(a), "ready", "ready again");
	ami_free(a);
	fake_stop(&f);

	/* Again, the retry queued from inside the failure callback. */
	fake_start(&f, "-D", "1", NULL);
	a = again_start(&f, r, T_MS);
	ok(run(2), "drop, then the retry from the callback");
	ok(r[0].ok == 0 && r[1].ok == 1, "failed, then succeeded (%s, %s)",
	    r[0].msg, r[1].msg);
	ami_free(a);
	fake_stop(&f);

	/* Silence past a sent request's timeout: reconnect. */
	fake_start(&f, "-R", "1000", NULL);
	a = ami_new(base, "127.0.0.1", f.port, USER, SECRET);
	res_init(r, 2);
	ami_reload(a, "chan_iax2.so", 300, done_cb, &r[0]);
	ok(run(1), "silent peer: answered");
	is_str(r[0].msg, "timeout", "silent peer: timeout");
	is_str(ami_state(a), "failed: no answer within a request timeout",
	    "silent peer: dropped");
	/* The old session's reload may still hold the lock: either is fine. */
	ami_reload(a, "chan_iax2.so", T_MS, done_cb, &r[1]);
	ok(run(1), "next request answered");
	ok(strcmp(r[1].msg, "Module Reloaded") == 0 ||
	    strcmp(r[1].msg, "A reload is in progress") == 0,
	    "answered on a new connection: %s", r[1].msg);
	ami_free(a);
	fake_stop(&f);

	/*
	 * Again, the next request queued from inside the timeout callback:
	 * the silent connection is dropped before that callback runs, so
	 * the new request waits for the next connection instead of being
	 * failed with the old one.
	 */
	fake_start(&f, "-R", "1000", NULL);
	a = again_start(&f, r, 300);
	ok(run(2), "silent peer, retry from the callback: answered");
	is_str(r[0].msg, "timeout", "silent peer: timeout");
	ok(strcmp(r[1].msg, "Module Reloaded") == 0 ||
	    strcmp(r[1].msg, "A reload is in progress") == 0,
	    "the retry answered on a new connection: %s", r[1].msg);
	ami_free(a);
	fake_stop(&f);

	/* Not Asterisk at all: dropped at the banner, never logged in. */
	fake_start(&f, "-b", "SSH-2.0-OpenSSH_9.2", NULL);
	a = ami_new(base, "127.0.0.1", f.port, USER, SECRET);
	res_init(r, 2);
	ami_reload(a, "chan_iax2.so", 300, done_cb, &r[0]);
	ok(run(1), "bad banner: answered");
	ok(r[0].ok == 0 && strstr(r[0].msg, "not an AMI banner") != NULL,
	    "bad banner: %s", r[0].msg);
	ami_free(a);
	fake_stop(&f);
}

/* A line or a message over the cap drops the peer; then it recovers. */
static void
t_caps(void)
{
	static const char *const kinds[] = { "line", "message" };
	struct fake	 f;
	struct ami	*a;
	struct res	 r;
	char		 want[64];
	int		 i;

	for (i = 0; i < 2; i++) {
		fake_start(&f, "-G", kinds[i], NULL);
		a = ami_new(base, "127.0.0.1", f.port, USER, SECRET);
		res_init(&r, 1);
		ami_reload(a, "chan_iax2.so", T_MS, done_cb, &r);
		ok(run(1), "over-long %s answered", kinds[i]);
		snprintf(want, sizeof want, "connection lost: %s too long",
		    kinds[i]);
		is_str(r.msg, want, "over-long %s: dropped", kinds[i]);
		res_init(&r, 1);
		ami_reload(a, "chan_iax2.so", T_MS, done_cb, &r);
		ok(run(1) && r.ok, "reconnected after the over-long %s (%s)",
		    kinds[i], r.msg);
		ami_free(a);
		fake_stop(&f);
	}
}

/* Nobody listens: ok=0 within the timeout; too many requests. */
static void
t_refused(void)
{
	struct ami	*a;
	struct res	*r;
	uint64_t	 t0;
	int		 fd, port, i, n = AMI_PENDING_MAX + 1, late;

	fd = closed_port(&port);
	a = ami_new(base, "127.0.0.1", port, USER, SECRET);
	r = xcalloc(n, sizeof *r);
	t0 = now_ms();
	ami_reload(a, "chan_iax2.so", 300, done_cb, &r[0]);
	ok(run(1), "refused: answered");
	is_int(r[0].ok, 0, "refused: ok=0");
	ok(strncmp(r[0].msg, "not connected: ", 15) == 0 &&
	    strstr(r[0].msg, "refused") != NULL, "message: %s", r[0].msg);
	ok(r[0].t_done - t0 >= 290 && r[0].t_done - t0 < 2000,
	    "within the timeout (%llu ms)",
	    (unsigned long long)(r[0].t_done - t0));
	/* Between attempts, or in one (backoff 100, 200, 400 ms). */
	ok(strncmp(ami_state(a), "failed: ", 8) == 0 ||
	    strcmp(ami_state(a), "connecting") == 0, "state: %s",
	    ami_state(a));

	res_init(r, n);
	for (i = 0; i < n; i++)
		ami_reload(a, "chan_iax2.so", 300, done_cb, &r[i]);
	ok(run(n), "%d requests answered", n);
	is_str(r[n - 1].msg, "too many pending requests", "the last one");
	for (late = 0, i = 0; i < n - 1; i++)
		if (r[i].calls != 1 || r[i].ok || r[i].seq < r[n - 1].seq)
			late++;
	is_int(late, 0, "... refused first; the others failed once, later");
	ami_free(a);
	free(r);
	close(fd);
}

/* ami_free with a request in flight, and from inside a callback. */
static void
t_free(void)
{
	struct fake	 f;
	struct ami	*a;
	struct res	 r[3];

	fake_start(&f, "-R", "3000", NULL);
	a = ami_new(base, "127.0.0.1", f.port, USER, SECRET);
	res_init(r, 3);
	ami_reload(a, "chan_iax2.so", T_MS, done_cb, &r[0]);
	exit_on_ready = 1;
	ok(run(1), "ran until logged in");
	exit_on_ready = 0;
	is_str(ami_state(a), "ready", "ready, the request is sent");
	is_int(r[0].calls, 0, "not answered yet");
	ami_free(a);
	is_int(r[0].calls, 1, "ami_free ran the callback");
	is_str(r[0].msg, "shutdown", "... with \"shutdown\"");
	fake_stop(&f);

	/* The first answer frees the client: the second gets "shutdown". */
	fake_start(&f, NULL);
	a = ami_new(base, "127.0.0.1", f.port, USER, SECRET);
	res_init(r, 3);
	r[0].free_me = a;
	ami_reload(a, "chan_iax2.so", T_MS, done_cb, &r[0]);
	ami_reload(a, "res_crypto.so", T_MS, done_cb, &r[1]);
	ami_reload(a, "chan_iax2.so", T_MS, done_cb, &r[2]);
	ok(run(3), "three callbacks");
	is_int(r[0].ok, 1, "the first succeeded");
	ok(r[1].calls == 1 && r[2].calls == 1, "the others ran once");
	ok(strcmp(r[1].msg, "shutdown") == 0 && strcmp(r[2].msg,
	    "shutdown") == 0, "with \"shutdown\" (%s, %s)", r[1].msg,
	    r[2].msg);
	fake_stop(&f);
}

int
main(void)
{
	signal(SIGPIPE, SIG_IGN);
	verbose = getenv("TEST_VERBOSE") != NULL;
	log_set_level(verbose ? LOG_L_DEBUG : LOG_L_MAX);
	log_set_hook(hook, NULL);
	if ((base = event_base_new()) == NULL)
		bail("event_base_new");
	guard = evtimer_new(base, guard_cb, NULL);

	plan_no_plan();
	t_args();
	t_basic();
	t_busy();
	t_auth();
	t_drop();
	t_caps();
	t_refused();
	t_free();

	ok(nlines > 0, "%d log lines seen", nlines);
	is_int(leaks, 0, "no secret in any log line");
	log_set_hook(NULL, NULL);
	event_free(guard);
	event_base_free(base);
	return (exit_status());
}
