/*
 * fake-ami: plays Asterisk's Manager Interface (AMI) for tests.
 *
 * One process, one thread, one ppoll() loop; replies are written with
 * blocking sends (they are small, and the client under test reads).
 * Behaviour follows main/manager.c and asterisk.md §4:
 *
 *  - the banner "Asterisk Call Manager/9.0.0\r\n" on connect;
 *  - messages are "Key: Value" lines (CRLF or LF), ended by an empty
 *    line; header names are case-insensitive, the first one wins;
 *  - before login only Challenge, Login and Logoff are allowed, anything
 *    else gets "Permission denied";
 *  - Challenge (AuthType: MD5) answers "Response: Success", the ActionID
 *    and "Challenge: <decimal>"; another AuthType: "Must specify
 *    AuthType";
 *  - Login with Key = md5hex(challenge + secret) (or Secret: in clear)
 *    answers "Authentication accepted"; a wrong one answers
 *    "Authentication failed" and, as Asterisk (action_login returns -1,
 *    which ends the session), closes the connection: -K keeps it open.
 *    Asterisk sleeps 1 s before that answer: -W sets the delay here;
 *  - Reload (Module optional) runs for -R ms and answers "Module
 *    Reloaded"; the reload lock is GLOBAL: a Reload arriving from any
 *    connection while one runs gets "A reload is in progress" at once.
 *    As in Asterisk, one connection's actions run in order: the input of
 *    a connection whose reload runs waits until it is answered;
 *  - ModuleReload and every other unknown action: "Invalid/unknown
 *    command: <action>. Use Action: ListCommands to show available
 *    commands."; Ping answers "Ping: Pong"; Logoff answers "Goodbye" and
 *    closes.
 *
 * COMMAND LINE
 *	fake-ami [-EKqrS] [-b banner] [-D n] [-F n] [-G line|message]
 *	    [-L file] [-M module] [-p port] [-R ms] [-s secret] [-u user]
 *	    [-W ms]
 *
 *	-b banner	send this line instead of the banner (CRLF added)
 *	-D n		drop the connection that sends the n-th Reload
 *			(counted over all connections, from 1), unanswered
 *	-E		send an Event carrying the action's ActionID before
 *			every response (clients must ignore events)
 *	-F n		the next n Reloads answer "A reload is in
 *			progress"
 *	-G line|message	answer the first Reload with an over-long line
 *			(10000 bytes) or message (about 100 KiB of headers)
 *	-K		keep the connection open after a failed login
 *	-L file		append "reload <module>" ("reload" without a
 *			Module:) per successful reload, when it finishes
 *	-M module	a module that exists (repeatable); with any -M, other
 *			modules answer "No such module"
 *	-p port		listen on 127.0.0.1:port (default 0: ephemeral)
 *	-q		do not log actions on stderr
 *	-R ms		how long a reload runs (default 0)
 *	-r		refuse every login
 *	-S		print "reload start MODULE" and "reload done MODULE"
 *			on stdout (flushed) as reloads start and finish, so a
 *			test can act while one runs
 *	-s secret	the secret (default "secret")
 *	-u user		the user (default "iaxkeyd"; case-insensitive)
 *	-W ms		delay before "Authentication failed" (default 0)
 *
 * Once listening it prints "port=N" and a newline on stdout and flushes.
 * Each action is logged on stderr.  SIGTERM and SIGINT end it with status
 * 0; usage errors exit 2, local errors 1.
 */
#include <sys/types.h>
#include <sys/socket.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "lib/xmalloc.h"

#define MAXCONN		32
#define INBUF_MAX	65536
#define MAXMODULES	32
#define BANNER		"Asterisk Call Manager/9.0.0\r\n"
#define FULLYBOOTED	"Event: FullyBooted\r\nPrivilege: system,all\r\n" \
			"Status: Fully Booted\r\n\r\n"

struct msg {
	int	nlines;
	char	action[80];
	char	actionid[256];
	char	module[256];
	char	username[128];
	char	key[80];
	char	secret[256];
	char	authtype[32];
	char	events[32];
};

struct conn {
	int		 fd;		/* -1: free slot */
	int		 id;
	int		 authed;
	int		 busy;		/* its reload runs */
	int		 failing;	/* delayed login failure */
	uint64_t	 fail_due;
	char		 fail_id[256];
	char		 challenge[24];
	size_t		 len;
	char		 in[INBUF_MAX];
};

static void	 usage(void) __attribute__((noreturn));
static void	 die(const char *, ...)
		    __attribute__((format(printf, 1, 2), noreturn));
static void	 note(const struct conn *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));
static uint64_t	 now_ms(void);
static void	 on_signal(int);
static long long num(const char *, long long, long long);
static int	 md5hex(const char *, const char *, char *);
static void	 conn_accept(int);
static void	 conn_close(struct conn *, const char *);
static void	 conn_read(struct conn *);
static void	 conn_process(struct conn *);
static int	 conn_take(struct conn *, struct msg *);
static void	 conn_send(struct conn *, const char *, size_t);
static void	 header(struct msg *, const char *, size_t);
static void	 reply(struct conn *, const char *, const char *,
		    const char *, const char *);
static void	 action(struct conn *, struct msg *);
static void	 do_challenge(struct conn *, struct msg *);
static void	 do_login(struct conn *, struct msg *);
static void	 do_reload(struct conn *, struct msg *);
static void	 login_failed(struct conn *, const char *);
static void	 garbage(struct conn *, const char *);
static void	 reload_finish(void);
static void	 timers(void);

static volatile sig_atomic_t	 stop;
static struct conn		*conns[MAXCONN];
static int			 next_conn_id;

static const char	*opt_banner;
static const char	*opt_user = "iaxkeyd";
static const char	*opt_secret = "secret";
static const char	*opt_logfile;
static const char	*opt_garbage;
static const char	*opt_modules[MAXMODULES];
static int		 opt_nmodules;
static long long	 opt_reload_ms;
static long long	 opt_busy;
static long long	 opt_drop;
static long long	 opt_authwait_ms;
static int		 opt_keep;
static int		 opt_events;
static int		 opt_refuse;
static int		 opt_quiet;
static int		 opt_states;
static long long	 nreloads;

static struct {
	int		 held;
	uint64_t	 due;
	struct conn	*owner;		/* NULL once it went away */
	char		 actionid[256];
	int		 has_id;
	char		 module[256];
} lock;

/* Print the usage and exit 2. */
static void
usage(void)
{
	fprintf(stderr, "usage: fake-ami [-EKqrS] [-b banner] [-D n] [-F n] "
	    "[-G line|message]\n\t[-L file] [-M module] [-p port] [-R ms] "
	    "[-s secret] [-u user] [-W ms]\n");
	exit(2);
}

/* Print a message on stderr and exit 1. */
static void
die(const char *fmt, ...)
{
	va_list	ap;

	fputs("fake-ami: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

/* Log one line about a connection on stderr, unless -q. */
static void
note(const struct conn *c, const char *fmt, ...)
{
	va_list	ap;

	if (opt_quiet)
		return;
	if (c != NULL)
		fprintf(stderr, "fake-ami: [%d] ", c->id);
	else
		fputs("fake-ami: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* Milliseconds on the monotonic clock. */
static uint64_t
now_ms(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
}

/* SIGTERM, SIGINT: leave the loop. */
static void
on_signal(int sig)
{
	stop = 1;
}

/* Parse an option's number or exit 2. */
static long long
num(const char *s, long long min, long long max)
{
	const char	*errstr;
	long long	 v;

	if (strtonum_(s, min, max, &v, &errstr) == -1) {
		fprintf(stderr, "fake-ami: %s: %s\n", s, errstr);
		usage();
	}
	return (v);
}

/* md5hex(a + b) into out (33 bytes); 0 or -1. */
static int
md5hex(const char *a, const char *b, char *out)
{
	static const char	 hex[] = "0123456789abcdef";
	EVP_MD_CTX		*ctx;
	unsigned char		 md[EVP_MAX_MD_SIZE];
	unsigned int		 n = 0, i;
	int			 ok;

	if ((ctx = EVP_MD_CTX_new()) == NULL)
		return (-1);
	ok = EVP_DigestInit_ex(ctx, EVP_md5(), NULL) == 1 &&
	    EVP_DigestUpdate(ctx, a, strlen(a)) == 1 &&
	    EVP_DigestUpdate(ctx, b, strlen(b)) == 1 &&
	    EVP_DigestFinal_ex(ctx, md, &n) == 1 && n == 16;
	EVP_MD_CTX_free(ctx);
	if (!ok)
		return (-1);
	for (i = 0; i < n; i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 0xf];
	}
	out[2 * n] = '\0';
	return (0);
}

/* Accept one connection and greet it with the banner. */
static void
conn_accept(int lfd)
{
	struct conn	*c;
	int		 fd, i;

	if ((fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC)) == -1)
		return;
	for (i = 0; i < MAXCONN; i++)
		if (conns[i] == NULL)
			break;
	if (i == MAXCONN) {
		note(NULL, "too many connections");
		close(fd);
		return;
	}
	c = conns[i] = xcalloc(1, sizeof *c);
	c->fd = fd;
	c->id = next_conn_id++;
	snprintf(c->challenge, sizeof c->challenge, "%ld", random());
	note(c, "connected");
	if (opt_banner != NULL) {
		conn_send(c, opt_banner, strlen(opt_banner));
		conn_send(c, "\r\n", 2);
	} else
		conn_send(c, BANNER, strlen(BANNER));
}

/* Close a connection (its slot is freed by the main loop). */
static void
conn_close(struct conn *c, const char *why)
{
	if (c->fd == -1)
		return;
	note(c, "closed: %s", why);
	close(c->fd);
	c->fd = -1;
	if (lock.owner == c)
		lock.owner = NULL;
}

/* Read what is there; EOF or an overflowing buffer close. */
static void
conn_read(struct conn *c)
{
	ssize_t	n;

	if (c->len == sizeof c->in) {
		conn_close(c, "input buffer full");
		return;
	}
	n = read(c->fd, c->in + c->len, sizeof c->in - c->len);
	if (n == -1 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n <= 0) {
		conn_close(c, n == 0 ? "EOF" : strerror(errno));
		return;
	}
	c->len += n;
	conn_process(c);
}

/* Run every complete message, unless an action of this one still runs. */
static void
conn_process(struct conn *c)
{
	struct msg	m;

	while (c->fd != -1 && !c->busy && !c->failing) {
		if (conn_take(c, &m) == 0)
			break;
		action(c, &m);
	}
}

/* Take the next complete message out of the buffer; 1 or 0. */
static int
conn_take(struct conn *c, struct msg *m)
{
	size_t	 off = 0, n;
	char	*nl;

	memset(m, 0, sizeof *m);
	for (;;) {
		nl = memchr(c->in + off, '\n', c->len - off);
		if (nl == NULL)
			return (0);
		n = nl - (c->in + off);
		if (n > 0 && c->in[off + n - 1] == '\r')
			n--;
		if (n == 0)
			break;
		header(m, c->in + off, n);
		m->nlines++;
		off = nl + 1 - c->in;
	}
	off = nl + 1 - c->in;
	memmove(c->in, c->in + off, c->len - off);
	c->len -= off;
	return (1);
}

/* Write all of buf, or close the connection. */
static void
conn_send(struct conn *c, const char *buf, size_t len)
{
	ssize_t	n;

	while (c->fd != -1 && len > 0) {
		n = send(c->fd, buf, len, MSG_NOSIGNAL);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			conn_close(c, n == 0 ? "short send" : strerror(errno));
			return;
		}
		buf += n;
		len -= n;
	}
}

/* Keep one "Key: Value" line's value when the key matters. */
static void
header(struct msg *m, const char *line, size_t len)
{
	static const struct {
		const char	*name;
		size_t		 off, size;
	} keys[] = {
#define K(n, f)	\
	{ n, offsetof(struct msg, f), sizeof(((struct msg *)0)->f) }
		K("Action", action), K("ActionID", actionid),
		K("Module", module), K("Username", username), K("Key", key),
		K("Secret", secret), K("AuthType", authtype),
		K("Events", events),
#undef K
	};
	const char	*colon, *v;
	char		*dst;
	size_t		 klen, vlen, i;

	if ((colon = memchr(line, ':', len)) == NULL)
		return;
	klen = colon - line;
	v = colon + 1;
	while (v < line + len && (*v == ' ' || *v == '\t'))
		v++;
	vlen = line + len - v;
	for (i = 0; i < sizeof keys / sizeof keys[0]; i++) {
		if (strlen(keys[i].name) != klen ||
		    strncasecmp(keys[i].name, line, klen) != 0)
			continue;
		dst = (char *)m + keys[i].off;
		if (*dst != '\0')
			return;		/* the first one wins */
		if (vlen >= keys[i].size)
			vlen = keys[i].size - 1;
		memcpy(dst, v, vlen);
		dst[vlen] = '\0';
		return;
	}
}

/*
 * Send a response as astman_send_response_full does: Response, ActionID
 * (when the action had one), Message (when given), empty line.  With -E
 * an Event carrying the same ActionID goes first.
 */
static void
reply(struct conn *c, const char *id, const char *resp, const char *message,
    const char *extra)
{
	char	buf[2048];
	int	n = 0;

	if (opt_events)
		n += snprintf(buf + n, sizeof buf - n, "Event: TestEvent\r\n"
		    "Privilege: system,all\r\n%s%s%s\r\n", id != NULL ?
		    "ActionID: " : "", id != NULL ? id : "",
		    id != NULL ? "\r\n" : "");
	n += snprintf(buf + n, sizeof buf - n, "Response: %s\r\n", resp);
	if (id != NULL && *id != '\0')
		n += snprintf(buf + n, sizeof buf - n, "ActionID: %s\r\n", id);
	if (message != NULL)
		n += snprintf(buf + n, sizeof buf - n, "Message: %s\r\n",
		    message);
	if (extra != NULL)
		n += snprintf(buf + n, sizeof buf - n, "%s", extra);
	n += snprintf(buf + n, sizeof buf - n, "\r\n");
	if (n >= (int)sizeof buf)
		die("reply too long");
	note(c, "> Response: %s%s%s", resp, message != NULL ? " Message: " :
	    "", message != NULL ? message : "");
	conn_send(c, buf, n);
}

/* Run one message as process_message() does. */
static void
action(struct conn *c, struct msg *m)
{
	char	buf[512];

	note(c, "< Action: %s ActionID: %s%s%s", m->action, m->actionid,
	    m->module[0] != '\0' ? " Module: " : "", m->module);
	if (m->action[0] == '\0') {
		reply(c, m->actionid, "Error", "Missing action in request",
		    NULL);
		return;
	}
	if (!c->authed && strcasecmp(m->action, "Login") != 0 &&
	    strcasecmp(m->action, "Logoff") != 0 &&
	    strcasecmp(m->action, "Challenge") != 0) {
		reply(c, m->actionid, "Error", "Permission denied", NULL);
		return;
	}
	if (strcasecmp(m->action, "Challenge") == 0)
		do_challenge(c, m);
	else if (strcasecmp(m->action, "Login") == 0)
		do_login(c, m);
	else if (strcasecmp(m->action, "Logoff") == 0) {
		reply(c, m->actionid, "Goodbye", "Thanks for all the fish.",
		    NULL);
		conn_close(c, "logoff");
	} else if (strcasecmp(m->action, "Ping") == 0)
		reply(c, m->actionid, "Success", NULL, "Ping: Pong\r\n");
	else if (strcasecmp(m->action, "Reload") == 0)
		do_reload(c, m);
	else {
		snprintf(buf, sizeof buf, "Invalid/unknown command: %.80s. "
		    "Use Action: ListCommands to show available commands.",
		    m->action);
		reply(c, m->actionid, "Error", buf, NULL);
	}
}

/* Action: Challenge. */
static void
do_challenge(struct conn *c, struct msg *m)
{
	char	extra[64];

	if (strcasecmp(m->authtype, "MD5") != 0) {
		reply(c, m->actionid, "Error", "Must specify AuthType", NULL);
		return;
	}
	snprintf(extra, sizeof extra, "Challenge: %s\r\n", c->challenge);
	reply(c, m->actionid, "Success", NULL, extra);
}

/* Action: Login, by MD5 key or clear secret. */
static void
do_login(struct conn *c, struct msg *m)
{
	char	want[33];
	int	good = 0;

	if (c->authed) {
		reply(c, m->actionid, "Success", "Already authenticated", NULL);
		return;
	}
	if (!opt_refuse && strcasecmp(m->username, opt_user) == 0) {
		if (strcasecmp(m->authtype, "MD5") == 0) {
			if (md5hex(c->challenge, opt_secret, want) == -1)
				die("MD5 unavailable");
			good = m->key[0] != '\0' && strcmp(m->key, want) == 0;
		} else
			good = m->secret[0] != '\0' &&
			    strcmp(m->secret, opt_secret) == 0;
	}
	if (!good) {
		if (opt_authwait_ms > 0) {
			c->failing = 1;
			c->fail_due = now_ms() + opt_authwait_ms;
			strlcpy_(c->fail_id, m->actionid, sizeof c->fail_id);
			return;
		}
		login_failed(c, m->actionid);
		return;
	}
	c->authed = 1;
	reply(c, m->actionid, "Success", "Authentication accepted", NULL);
	if (strcasecmp(m->events, "off") != 0)
		conn_send(c, FULLYBOOTED, strlen(FULLYBOOTED));
}

/* Answer a failed login and, unless -K, end the session. */
static void
login_failed(struct conn *c, const char *id)
{
	reply(c, id, "Error", "Authentication failed", NULL);
	if (!opt_keep)
		conn_close(c, "authentication failed");
}

/* Action: Reload: the global reload lock, injected faults. */
static void
do_reload(struct conn *c, struct msg *m)
{
	int	i, known;

	nreloads++;
	if (opt_drop > 0 && nreloads == opt_drop) {
		conn_close(c, "dropped (-D)");
		return;
	}
	if (opt_garbage != NULL) {
		garbage(c, m->actionid);
		opt_garbage = NULL;
		return;
	}
	if (opt_busy > 0) {
		opt_busy--;
		reply(c, m->actionid, "Error", "A reload is in progress",
		    NULL);
		return;
	}
	if (lock.held) {
		reply(c, m->actionid, "Error", "A reload is in progress",
		    NULL);
		return;
	}
	if (opt_nmodules > 0 && m->module[0] != '\0') {
		for (known = 0, i = 0; i < opt_nmodules; i++)
			if (strcmp(opt_modules[i], m->module) == 0)
				known = 1;
		if (!known) {
			reply(c, m->actionid, "Error", "No such module", NULL);
			return;
		}
	}
	lock.held = 1;
	lock.due = now_ms() + opt_reload_ms;
	lock.owner = c;
	strlcpy_(lock.actionid, m->actionid, sizeof lock.actionid);
	strlcpy_(lock.module, m->module, sizeof lock.module);
	c->busy = 1;
	if (opt_states) {
		printf("reload start %s\n", lock.module);
		fflush(stdout);
	}
}

/* -G: answer with an over-long line or message. */
static void
garbage(struct conn *c, const char *id)
{
	char	head[512], line[128];
	char	*big;
	int	 i;

	note(c, "> garbage: %s", opt_garbage);
	snprintf(head, sizeof head, "Response: Success\r\nActionID: %s\r\n",
	    id);
	conn_send(c, head, strlen(head));
	if (strcmp(opt_garbage, "line") == 0) {
		big = xmalloc(10000 + 4);
		memcpy(big, "Message: ", 9);
		memset(big + 9, 'x', 10000 - 9);
		memcpy(big + 10000, "\r\n\r\n", 4);
		conn_send(c, big, 10000 + 4);
		free(big);
		return;
	}
	for (i = 0; i < 1000 && c->fd != -1; i++) {
		snprintf(line, sizeof line, "X-Filler-%04d: %090d\r\n", i, 0);
		conn_send(c, line, strlen(line));
	}
	conn_send(c, "\r\n", 2);
}

/* The running reload finished: log it, answer its owner, unlock. */
static void
reload_finish(void)
{
	struct conn	*c = lock.owner;
	FILE		*f;

	lock.held = 0;
	lock.owner = NULL;
	if (opt_logfile != NULL) {
		if ((f = fopen(opt_logfile, "a")) == NULL)
			die("%s: %s", opt_logfile, strerror(errno));
		if (lock.module[0] != '\0')
			fprintf(f, "reload %s\n", lock.module);
		else
			fprintf(f, "reload\n");
		fclose(f);
	}
	if (opt_states) {
		printf("reload done %s\n", lock.module);
		fflush(stdout);
	}
	if (c == NULL || c->fd == -1) {
		note(NULL, "reload %s finished, its connection is gone",
		    lock.module);
		return;
	}
	c->busy = 0;
	reply(c, lock.actionid, "Success", "Module Reloaded", NULL);
	conn_process(c);
}

/* Run what is due: the reload, delayed login failures. */
static void
timers(void)
{
	uint64_t	 now = now_ms();
	struct conn	*c;
	int		 i;

	if (lock.held && now >= lock.due)
		reload_finish();
	for (i = 0; i < MAXCONN; i++) {
		if ((c = conns[i]) == NULL || c->fd == -1 || !c->failing ||
		    now < c->fail_due)
			continue;
		c->failing = 0;
		login_failed(c, c->fail_id);
		conn_process(c);
	}
}

int
main(int argc, char **argv)
{
	struct sockaddr_in	 sin;
	socklen_t		 slen = sizeof sin;
	struct pollfd		 pfd[MAXCONN + 1];
	struct conn		*who[MAXCONN + 1];
	struct sigaction	 sa;
	struct timespec		 ts, *tsp;
	sigset_t		 block, orig;
	uint64_t		 due, now;
	long long		 port = 0;
	int			 ch, lfd, one = 1, i, n;

	while ((ch = getopt(argc, argv, "b:D:EF:G:KL:M:p:qR:rSs:u:W:")) != -1) {
		switch (ch) {
		case 'b':
			opt_banner = optarg;
			break;
		case 'D':
			opt_drop = num(optarg, 1, 1000000);
			break;
		case 'E':
			opt_events = 1;
			break;
		case 'F':
			opt_busy = num(optarg, 0, 1000000);
			break;
		case 'G':
			if (strcmp(optarg, "line") != 0 &&
			    strcmp(optarg, "message") != 0)
				usage();
			opt_garbage = optarg;
			break;
		case 'K':
			opt_keep = 1;
			break;
		case 'L':
			opt_logfile = optarg;
			break;
		case 'M':
			if (opt_nmodules == MAXMODULES)
				usage();
			opt_modules[opt_nmodules++] = optarg;
			break;
		case 'p':
			port = num(optarg, 0, 65535);
			break;
		case 'q':
			opt_quiet = 1;
			break;
		case 'R':
			opt_reload_ms = num(optarg, 0, 3600000);
			break;
		case 'r':
			opt_refuse = 1;
			break;
		case 'S':
			opt_states = 1;
			break;
		case 's':
			opt_secret = optarg;
			break;
		case 'u':
			opt_user = optarg;
			break;
		case 'W':
			opt_authwait_ms = num(optarg, 0, 3600000);
			break;
		default:
			usage();
		}
	}
	if (optind != argc)
		usage();
	srandom((unsigned)time(NULL) ^ (unsigned)getpid());

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	/* Signals are only delivered inside ppoll: no lost wakeups. */
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigprocmask(SIG_BLOCK, &block, &orig);
	sigdelset(&orig, SIGTERM);
	sigdelset(&orig, SIGINT);

	if ((lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		die("socket: %s", strerror(errno));
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons((uint16_t)port);
	if (bind(lfd, (struct sockaddr *)&sin, sizeof sin) == -1)
		die("bind: %s", strerror(errno));
	if (listen(lfd, 16) == -1)
		die("listen: %s", strerror(errno));
	if (getsockname(lfd, (struct sockaddr *)&sin, &slen) == -1)
		die("getsockname: %s", strerror(errno));
	printf("port=%u\n", ntohs(sin.sin_port));
	fflush(stdout);

	while (!stop) {
		n = 0;
		pfd[n].fd = lfd;
		pfd[n].events = POLLIN;
		who[n++] = NULL;
		due = lock.held ? lock.due : UINT64_MAX;
		for (i = 0; i < MAXCONN; i++) {
			struct conn *c = conns[i];

			if (c == NULL)
				continue;
			if (c->fd == -1) {
				free(c);
				conns[i] = NULL;
				continue;
			}
			if (c->failing && c->fail_due < due)
				due = c->fail_due;
			/* A busy connection is not polled: its input waits. */
			pfd[n].fd = c->busy || c->failing ? -1 : c->fd;
			pfd[n].events = POLLIN;
			who[n++] = c;
		}
		tsp = NULL;
		if (due != UINT64_MAX) {
			now = now_ms();
			due = due > now ? due - now : 0;
			ts.tv_sec = due / 1000;
			ts.tv_nsec = (due % 1000) * 1000000;
			tsp = &ts;
		}
		if (ppoll(pfd, n, tsp, &orig) == -1) {
			if (errno == EINTR)
				continue;
			die("ppoll: %s", strerror(errno));
		}
		timers();
		for (i = 1; i < n; i++) {
			if (who[i]->fd == -1 || who[i]->busy || who[i]->failing)
				continue;
			if (pfd[i].revents & (POLLIN | POLLHUP | POLLERR))
				conn_read(who[i]);
		}
		if (pfd[0].revents & POLLIN)
			conn_accept(lfd);
	}
	note(NULL, "exiting on signal");
	for (i = 0; i < MAXCONN; i++) {
		if (conns[i] == NULL)
			continue;
		if (conns[i]->fd != -1)
			close(conns[i]->fd);
		free(conns[i]);
	}
	close(lfd);
	return (0);
}
