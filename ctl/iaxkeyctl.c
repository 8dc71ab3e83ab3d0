/*
 * iaxkeyctl: run one iaxkeyd console command and print its reply.
 *
 *   iaxkeyctl [-f FILE] [-s ADDR] [-t SECONDS] COMMAND [WORD...]
 *
 * The console's address and password come from iaxkeyd's configuration
 * ([admin] listen and password), read with iaxkeyd's own spec table; -s
 * gives the address, IAXKEYCTL_PASSWORD the password.  The words are
 * joined into one console line, quoted as the console splits them
 * (docs/console.md).  Data lines go to stdout, the reason of an ERR to
 * stderr; the exit status is 0 for OK, 1 for ERR and 2 for a usage,
 * configuration, connection or login error.  "watch" streams until
 * SIGINT or SIGTERM, then stops the watch and exits 0.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "lib/addr.h"
#include "lib/cmdline.h"
#include "lib/conf.h"
#include "lib/line.h"
#include "lib/xmalloc.h"
#include "agi/config.h"

#define CTL_CONF	"/etc/iaxkeyd/iaxkeyd.conf"
#define CTL_PW_ENV	"IAXKEYCTL_PASSWORD"
#define CTL_TIMEOUT_S	30		/* default -t */
#define CTL_TIMEOUT_MAX	3600
#define CTL_LINE_MAX	65536		/* longest reply line accepted */

#define CTL_EXIT_OK	0
#define CTL_EXIT_ERR	1
#define CTL_EXIT_FAIL	2

/* One console connection and its input buffer. */
struct ctl {
	int		 fd;
	const char	*addr;		/* for messages */
	size_t		 len;		/* bytes in buf */
	size_t		 used;		/* bytes of the last line, to drain */
	char		 buf[CTL_LINE_MAX + 1];
};

/* What ctl_line found. */
enum ctl_rc {
	CTL_LINE,		/* a line, NUL-terminated */
	CTL_EOF,		/* the console closed the connection */
	CTL_SIGNAL,		/* SIGINT or SIGTERM arrived */
	CTL_RC_MAX
};

static volatile sig_atomic_t ctl_signalled;

static void		 usage(void) __attribute__((noreturn));
static void		 ctl_fail(const char *, ...)
			    __attribute__((format(printf, 1, 2), noreturn));
static void		 ctl_onsignal(int);
static long long	 ctl_now_ms(void);
static void		 ctl_quote(char *, size_t, size_t *, const char *);
static struct conf	*ctl_conf(const char *, int);
static int		 ctl_poll(struct pollfd *, long long);
static int		 ctl_connect(const struct sockaddr_storage *, socklen_t,
			    long long, char **);
static void		 ctl_send(struct ctl *, const char *, size_t,
			    long long);
static enum ctl_rc	 ctl_line(struct ctl *, long long, const sigset_t *);
static int		 ctl_final(const char *);
static int		 ctl_port(const struct sockaddr_storage *);
static int		 ctl_reply(struct ctl *, int, long long, long long);

/* Print the usage and exit 2. */
static void
usage(void)
{
	fprintf(stderr, "usage: iaxkeyctl [-f file] [-s address] "
	    "[-t seconds] command [word ...]\n");
	exit(CTL_EXIT_FAIL);
}

/* Print "iaxkeyctl: <message>" on stderr and exit 2. */
static void
ctl_fail(const char *fmt, ...)
{
	va_list	ap;

	fflush(stdout);
	fputs("iaxkeyctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(CTL_EXIT_FAIL);
}

/* SIGINT, SIGTERM: note it; the loop stops the watch. */
static void
ctl_onsignal(int sig)
{
	ctl_signalled = sig;
}

/* Monotonic milliseconds. */
static long long
ctl_now_ms(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
}

/*
 * Append word to line (size max + 1, *len used) as the console splits
 * it: bare when it is non-empty and holds no blank and no '"', else in
 * double quotes with '"' and '\' escaped.  Bytes that would end the line
 * or start a telnet command cannot be sent: usage error.
 */
static void
ctl_quote(char *line, size_t max, size_t *len, const char *word)
{
	const char	*p;
	int		 bare;

	bare = *word != '\0' && strpbrk(word, " \t\"") == NULL;
	for (p = word; *p != '\0'; p++) {
		if (*p == '\n' || *p == '\r' || (unsigned char)*p == 0xff)
			ctl_fail("a word holds a line break or a 0xff byte");
	}
	if (*len > 0)
		line[(*len)++] = ' ';
	if (!bare)
		line[(*len)++] = '"';
	for (p = word; *p != '\0'; p++) {
		if (*len + 4 > max)
			ctl_fail("command longer than %d bytes", CMDLINE_MAX);
		if (!bare && (*p == '"' || *p == '\\'))
			line[(*len)++] = '\\';
		line[(*len)++] = *p;
	}
	if (*len + 2 > max)
		ctl_fail("command longer than %d bytes", CMDLINE_MAX);
	if (!bare)
		line[(*len)++] = '"';
	line[*len] = '\0';
}

/*
 * iaxkeyd's configuration, or NULL when it is not needed (-s given, no
 * -f, the default file unreadable).  An invalid file is an error.
 */
static struct conf *
ctl_conf(const char *path, int optional)
{
	struct conf	*conf;
	char		*cause;

	if (optional && access(path, R_OK) == -1)
		return (NULL);
	if ((conf = conf_load(path, iaxkeyd_conf_spec, &cause)) == NULL)
		ctl_fail("%s", cause);
	return (conf);
}

/*
 * poll one descriptor until the deadline (the clock read once, so the
 * timeout is never negative: poll would wait for ever); 0 when it passed.
 */
static int
ctl_poll(struct pollfd *pfd, long long deadline)
{
	long long	left = deadline - ctl_now_ms();

	if (left <= 0)
		return (0);
	return (poll(pfd, 1, left > INT_MAX ? INT_MAX : (int)left));
}

/*
 * Connect to ss within the deadline (monotonic ms).  The socket stays
 * non-blocking.  Returns it, or -1 with *cause (caller frees).
 */
static int
ctl_connect(const struct sockaddr_storage *ss, socklen_t sslen,
    long long deadline, char **cause)
{
	struct pollfd	pfd;
	socklen_t	elen;
	int		fd, error = 0, n;

	fd = socket(ss->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0);
	if (fd == -1) {
		xasprintf(cause, "socket: %s", strerror(errno));
		return (-1);
	}
	if (connect(fd, (const struct sockaddr *)ss, sslen) == -1) {
		if (errno != EINPROGRESS) {
			error = errno;
			goto fail;
		}
		pfd.fd = fd;
		pfd.events = POLLOUT;
		do
			n = ctl_poll(&pfd, deadline);
		while (n == -1 && errno == EINTR);
		if (n == 0) {
			xasprintf(cause, "timed out");
			close(fd);
			return (-1);
		}
		elen = sizeof error;
		if (n == -1)
			error = errno;
		else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &error,
		    &elen) == -1)
			error = errno;
		if (error != 0)
			goto fail;
	}
	return (fd);
fail:
	xasprintf(cause, "%s", strerror(error));
	close(fd);
	return (-1);
}

/* Send n bytes of s before the deadline, or fail (exit 2). */
static void
ctl_send(struct ctl *c, const char *s, size_t n, long long deadline)
{
	struct pollfd	pfd;
	ssize_t		w;
	int		r;

	pfd.fd = c->fd;
	pfd.events = POLLOUT;
	while (n > 0) {
		w = send(c->fd, s, n, MSG_NOSIGNAL);
		if (w > 0) {
			s += w;
			n -= w;
			continue;
		}
		if (w == -1 && errno != EAGAIN && errno != EINTR)
			ctl_fail("%s: send: %s", c->addr, strerror(errno));
		r = ctl_poll(&pfd, deadline);
		if (r == 0)
			ctl_fail("%s: send: timed out", c->addr);
	}
}

/*
 * The next line from the console, before the deadline (-1: none), in
 * c->buf.  SIGINT and SIGTERM are blocked outside ppoll, which unblocks
 * them (mask), so a signal is never lost between the check and the wait.
 * A timeout, an error or an overlong line exits 2.
 */
static enum ctl_rc
ctl_line(struct ctl *c, long long deadline, const sigset_t *mask)
{
	struct pollfd	 pfd;
	struct timespec	 ts, *tsp;
	const char	*cause;
	size_t		 linelen;
	long long	 left;
	ssize_t		 n;
	int		 r;

	memmove(c->buf, c->buf + c->used, c->len - c->used);
	c->len -= c->used;
	c->used = 0;
	pfd.fd = c->fd;
	pfd.events = POLLIN;
	for (;;) {
		r = line_next(c->buf, c->len, CTL_LINE_MAX, &linelen, &c->used,
		    &cause);
		if (r == -1)
			ctl_fail("%s: reply: %s", c->addr, cause);
		if (r == 1)
			return (CTL_LINE);
		if (ctl_signalled)
			return (CTL_SIGNAL);
		tsp = NULL;
		if (deadline != -1) {
			if ((left = deadline - ctl_now_ms()) <= 0)
				ctl_fail("%s: no reply in time", c->addr);
			ts.tv_sec = left / 1000;
			ts.tv_nsec = (left % 1000) * 1000000;
			tsp = &ts;
		}
		r = ppoll(&pfd, 1, tsp, mask);
		if (r == -1 && errno != EINTR)
			ctl_fail("poll: %s", strerror(errno));
		if (r <= 0)
			continue;
		n = recv(c->fd, c->buf + c->len, sizeof c->buf - c->len, 0);
		if (n == 0)
			return (CTL_EOF);
		if (n == -1 && errno != EAGAIN && errno != EINTR)
			ctl_fail("%s: recv: %s", c->addr, strerror(errno));
		if (n > 0)
			c->len += n;
	}
}

/* 1 when line is a final line (OK, ERR reason), else 0. */
static int
ctl_final(const char *line)
{
	return (strcmp(line, "OK") == 0 || strncmp(line, "ERR ", 4) == 0);
}

/* The port of an IPv4 or IPv6 address, host order. */
static int
ctl_port(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET6)
		return (ntohs(((const struct sockaddr_in6 *)ss)->sin6_port));
	return (ntohs(((const struct sockaddr_in *)ss)->sin_port));
}

/*
 * Read one reply.  print: data lines to stdout (flushed line by line),
 * the reason of an ERR to stderr.  deadline: for the whole reply (-1:
 * none; then a signal sends the line that stops a watch, and the rest
 * must come within stop_ms).  Returns 0 for OK, 1 for ERR with the
 * reason left in c->buf; a closed connection exits 2.
 */
static int
ctl_reply(struct ctl *c, int print, long long deadline, long long stop_ms)
{
	sigset_t	mask;
	enum ctl_rc	rc;
	const char	*line;

	sigprocmask(SIG_SETMASK, NULL, &mask);
	sigdelset(&mask, SIGINT);
	sigdelset(&mask, SIGTERM);
	for (;;) {
		rc = ctl_line(c, deadline, &mask);
		if (rc == CTL_EOF)
			ctl_fail("%s: connection closed before the reply ended",
			    c->addr);
		if (rc == CTL_SIGNAL) {
			if (deadline != -1)
				ctl_fail("interrupted");
			ctl_signalled = 0;	/* a second one ends the wait */
			ctl_send(c, "\n", 1, ctl_now_ms() + stop_ms);
			deadline = ctl_now_ms() + stop_ms;
			continue;
		}
		line = c->buf;
		if (ctl_final(line))
			break;
		if (print && printf("%s\n", line) < 0)
			ctl_fail("stdout: %s", strerror(errno));
		if (print && fflush(stdout) == EOF)
			ctl_fail("stdout: %s", strerror(errno));
	}
	if (*line == 'O')
		return (0);
	if (print)
		fprintf(stderr, "%s\n", line + 4);
	return (1);
}

int
main(int argc, char **argv)
{
	struct sigaction	 sa;
	struct sockaddr_storage	 ss;
	struct conf		*conf;
	struct ctl		*c;
	sigset_t		 block;
	const char		*path = CTL_CONF, *server = NULL, *pw = "";
	const char		*errstr;
	char			 abuf[ADDR_STR_MAX], line[CMDLINE_MAX + 2];
	char			*cause;
	socklen_t		 sslen;
	size_t			 len = 0;
	long long		 timeout = CTL_TIMEOUT_S, deadline;
	int			 ch, fflag = 0, watch, rc, i;

	while ((ch = getopt(argc, argv, "f:hs:t:")) != -1) {
		switch (ch) {
		case 'f':
			path = optarg;
			fflag = 1;
			break;
		case 's':
			server = optarg;
			break;
		case 't':
			if (strtonum_(optarg, 1, CTL_TIMEOUT_MAX, &timeout,
			    &errstr) == -1)
				ctl_fail("-t %s: %s (1 to %d seconds)", optarg,
				    errstr, CTL_TIMEOUT_MAX);
			break;
		default:
			usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (argc == 0)
		usage();
	for (i = 0; i < argc; i++)
		ctl_quote(line, CMDLINE_MAX, &len, argv[i]);
	line[len++] = '\n';
	watch = strcasecmp(argv[0], "watch") == 0;

	conf = ctl_conf(path, server != NULL && !fflag);
	if (server != NULL) {
		if (conf_parse_addr(server, &ss, &sslen, &cause) == -1)
			ctl_fail("-s %s: %s", server, cause);
	} else if (conf_addr(conf, "admin:listen", &ss, &sslen) == -1)
		ctl_fail("%s: [admin] listen is empty: the console is off",
		    path);
	if (ctl_port(&ss) == 0)
		ctl_fail("console address %s has port 0; give the port with -s",
		    addr_format((struct sockaddr *)&ss, sslen, abuf,
		    sizeof abuf));
	if (getenv(CTL_PW_ENV) != NULL && *getenv(CTL_PW_ENV) != '\0')
		pw = getenv(CTL_PW_ENV);
	else if (conf != NULL)
		pw = conf_str(conf, "admin:password");

	/* SIGINT and SIGTERM reach us only inside ppoll (ctl_line). */
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = ctl_onsignal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	sigprocmask(SIG_BLOCK, &block, NULL);

	c = xcalloc(1, sizeof *c);
	c->addr = addr_format((struct sockaddr *)&ss, sslen, abuf, sizeof abuf);
	deadline = ctl_now_ms() + timeout * 1000;
	if ((c->fd = ctl_connect(&ss, sslen, deadline, &cause)) == -1)
		ctl_fail("cannot connect to the console at %s: %s", c->addr,
		    cause);
	if (*pw != '\0') {
		char	auth[CMDLINE_MAX + 2];
		size_t	alen = 0;

		ctl_quote(auth, CMDLINE_MAX, &alen, "auth");
		ctl_quote(auth, CMDLINE_MAX, &alen, pw);
		auth[alen++] = '\n';
		ctl_send(c, auth, alen, deadline);
		explicit_bzero(auth, sizeof auth);
		if (ctl_reply(c, 0, deadline, 0) != 0)
			ctl_fail("%s: login failed: %s", c->addr, c->buf + 4);
	}
	ctl_send(c, line, len, deadline);
	rc = ctl_reply(c, 1, watch ? -1 : deadline, timeout * 1000);
	close(c->fd);
	free(c);
	if (conf != NULL)
		conf_free(conf);
	return (rc);
}
