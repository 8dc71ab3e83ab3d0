/*
 * agihostile: FastAGI clients that misbehave, for the load and limits
 * bench and tests (docs/bench.md, t/3401-load-limits.t).
 *
 * One thread, epoll, non-blocking sockets.  Kinds of connection:
 *
 *   slow    sends the environment block (ping, Asterisk's key order)
 *	     one byte every -b ms (default 1000: one byte per second);
 *   noread  shrinks its receive buffer to the kernel's minimum, sends the
 *	     whole environment block and never reads: the server's command
 *	     stays in the socket, unanswered;
 *   held    sends the environment block, reads the first command and
 *	     never answers it (the state a session waiting on Asterisk is
 *	     in); it reads and discards anything after;
 *   fat     sends environment lines without the closing empty line until
 *	     -F bytes are out (default 61440), then nothing: the largest
 *	     environment a server keeps in memory while it waits;
 *   over    once every other connection is ready, -O more connects, one
 *	     at a time; each is reported refused (the listener is closed),
 *	     accepted, or failed; accepted ones are closed at once.
 *
 * A connection counts as ready when it is connected and, for noread and
 * held, once the server's first command has arrived (noread looks with
 * FIONREAD, without reading).  Then "ready ..." is printed.  With -r, a
 * connection the server closes is opened again (the counts stay);
 * without it, it stays closed.  With -e, the program exits once the
 * server has closed every connection.  Otherwise it runs until SIGTERM,
 * SIGINT or -T seconds, then prints the summary and exits 0.
 *
 * usage: agihostile [-er] [-S n] [-N n] [-H n] [-F n] [-O n] [-b ms]
 *	      [-f bytes] [-s script] [-T secs] host:port
 *
 * Output (stdout, one line each, key=value):
 *   ready slow=N noread=N held=N fat=N ms=MS
 *   over refused=N accepted=N failed=N max_us=US
 *   end KIND_open=N KIND_closed=N ... resets=N failed=N
 * "closed" counts the server closing (EOF or reset) a connection of that
 * kind; "open" how many were still open at the end.
 */
#include <sys/types.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define HO_EVENTS	256
#define HO_ENV_MAX	1024
#define HO_FAT_LINE	4000		/* one fat environment line */

enum ho_kind {
	K_SLOW,
	K_NOREAD,
	K_HELD,
	K_FAT,
	K_MAX
};

static const char *const ho_kind_names[K_MAX] = {
	"slow", "noread", "held", "fat"
};

struct conn {
	int		 fd;
	enum ho_kind	 kind;
	int		 connected;
	int		 ready;
	size_t		 sent;		/* bytes of the block sent */
	uint64_t	 next;		/* slow: when the next byte goes */
};

static struct sockaddr_in	 addr;
static char			 env[HO_ENV_MAX];
static size_t			 envlen;
static char			*fatbuf;
static size_t			 fatlen = 61440;
static long			 want[K_MAX];
static long			 nopen[K_MAX], nclosed[K_MAX];
static long			 n_resets, n_failed;
static long			 byte_ms = 1000;
static int			 replenish, exit_when_closed;
static struct conn		*conns;
static size_t			 nconns;
static int			 epfd;
static volatile sig_atomic_t	 stop;

static void	 usage(void) __attribute__((noreturn));
static void	 fatal(const char *) __attribute__((noreturn));
static uint64_t	 now_ms(void);
static void	 onsig(int);
static void	 env_build(const char *);
static int	 conn_open(struct conn *);
static void	 conn_closed(struct conn *, int);
static void	 conn_send(struct conn *, uint64_t);
static void	 conn_event(struct conn *, uint32_t, uint64_t);
static int	 all_ready(void);
static void	 over(long);

/* Print the usage and exit. */
static void
usage(void)
{
	fprintf(stderr, "usage: agihostile [-er] [-S n] [-N n] [-H n] [-F n] "
	    "[-O n] [-b ms]\n\t[-f bytes] [-s script] [-T secs] host:port\n");
	exit(2);
}

/* Print a message with errno and exit. */
static void
fatal(const char *what)
{
	fprintf(stderr, "agihostile: %s: %s\n", what, strerror(errno));
	exit(1);
}

/* The monotonic clock in milliseconds. */
static uint64_t
now_ms(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000);
}

/* SIGTERM, SIGINT: report and exit. */
static void
onsig(int sig)
{
	stop = 1;
}

/* The environment block of a ping, in Asterisk's key order. */
static void
env_build(const char *script)
{
	static const char *const keys[] = {
		"agi_language: en", "agi_type: Local",
		"agi_uniqueid: hostile-1.1", "agi_version: 22.6.0",
		"agi_callerid: unknown", "agi_calleridname: unknown",
		"agi_callingpres: 67", "agi_callingani2: 0",
		"agi_callington: 0", "agi_callingtns: 0",
		"agi_dnid: unknown", "agi_rdnis: unknown",
		"agi_context: default", "agi_extension: s",
		"agi_priority: 1", "agi_enhanced: 0.0",
		"agi_accountcode: ", "agi_threadid: 139659225384640",
	};
	size_t	i;
	int	n;

	n = snprintf(env, sizeof env, "agi_network: yes\n"
	    "agi_network_script: %s\nagi_request: agi://127.0.0.1/%s\n"
	    "agi_channel: Local/s@hostile-00000001;2\n", script, script);
	if (n < 0 || (size_t)n >= sizeof env)
		usage();
	envlen = (size_t)n;
	for (i = 0; i < sizeof keys / sizeof keys[0]; i++) {
		n = snprintf(env + envlen, sizeof env - envlen, "%s\n",
		    keys[i]);
		if (n < 0 || (size_t)n >= sizeof env - envlen)
			usage();
		envlen += (size_t)n;
	}
	if (envlen + 1 >= sizeof env)
		usage();
	env[envlen++] = '\n';
}

/* Connect c (its kind is set); 0, or -1 when no socket could be made. */
static int
conn_open(struct conn *c)
{
	struct epoll_event	ev;
	int			one = 1;

	c->connected = c->ready = 0;
	c->sent = 0;
	c->next = 0;
	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd == -1) {
		n_failed++;
		return (-1);
	}
	if (c->kind == K_NOREAD)
		(void)setsockopt(c->fd, SOL_SOCKET, SO_RCVBUF, &one,
		    sizeof one);
	if (connect(c->fd, (struct sockaddr *)&addr, sizeof addr) == -1 &&
	    errno != EINPROGRESS) {
		close(c->fd);
		c->fd = -1;
		n_failed++;
		return (-1);
	}
	memset(&ev, 0, sizeof ev);
	/* noread never asks for input: only the hangup is watched. */
	ev.events = EPOLLOUT | EPOLLRDHUP | (c->kind == K_NOREAD ? 0 :
	    EPOLLIN);
	ev.data.ptr = c;
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, c->fd, &ev) == -1)
		fatal("epoll_ctl");
	nopen[c->kind]++;
	return (0);
}

/* The server closed c (reset when rst); reopen it with -r. */
static void
conn_closed(struct conn *c, int rst)
{
	close(c->fd);
	c->fd = -1;
	nopen[c->kind]--;
	if (c->connected)
		nclosed[c->kind]++;
	else
		n_failed++;
	if (rst)
		n_resets++;
	if (replenish && !stop)
		(void)conn_open(c);
}

/* Send what c may send now. */
static void
conn_send(struct conn *c, uint64_t now)
{
	struct epoll_event	 ev;
	const char		*buf = env;
	size_t			 len = envlen, n = envlen;
	ssize_t			 w;

	if (c->kind == K_FAT) {
		buf = fatbuf;
		len = n = fatlen;
	}
	if (c->sent >= len)
		return;
	if (c->kind == K_SLOW) {
		if (now < c->next)
			return;
		n = c->sent + 1;
		c->next = now + (uint64_t)byte_ms;
	}
	w = send(c->fd, buf + c->sent, n - c->sent, MSG_NOSIGNAL);
	if (w == -1) {
		if (errno != EAGAIN && errno != EINTR)
			conn_closed(c, errno == ECONNRESET);
		return;
	}
	c->sent += (size_t)w;
	if (c->sent == len) {
		/* Everything out: stop asking for room. */
		memset(&ev, 0, sizeof ev);
		ev.events = EPOLLRDHUP | (c->kind == K_NOREAD ? 0 : EPOLLIN);
		ev.data.ptr = c;
		(void)epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev);
		if (c->kind == K_FAT)
			c->ready = 1;
	}
}

/* Something happened on c. */
static void
conn_event(struct conn *c, uint32_t events, uint64_t now)
{
	char	buf[4096];
	ssize_t	n;
	int	err = 0;

	if (!c->connected) {
		socklen_t len = sizeof err;

		if (events & (EPOLLERR | EPOLLHUP)) {
			(void)getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err,
			    &len);
			conn_closed(c, 0);
			return;
		}
		if (!(events & EPOLLOUT))
			return;
		c->connected = 1;
		if (c->kind == K_SLOW) {
			struct epoll_event ev;

			/* Its bytes go on the clock: stop asking for room. */
			c->ready = 1;
			memset(&ev, 0, sizeof ev);
			ev.events = EPOLLRDHUP | EPOLLIN;
			ev.data.ptr = c;
			(void)epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev);
		}
	}
	if (events & EPOLLOUT)
		conn_send(c, now);
	if (c->fd == -1)
		return;
	if (c->kind == K_NOREAD) {
		if (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR))
			conn_closed(c, (events & EPOLLERR) != 0);
		return;
	}
	if (!(events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)))
		return;
	for (;;) {
		n = read(c->fd, buf, sizeof buf);
		if (n == -1) {
			if (errno == EAGAIN || errno == EINTR)
				return;
			conn_closed(c, errno == ECONNRESET);
			return;
		}
		if (n == 0) {
			conn_closed(c, 0);
			return;
		}
		if (c->kind == K_HELD && memchr(buf, '\n', (size_t)n) != NULL)
			c->ready = 1;
	}
}

/* 1 when every wanted connection is ready (noread: polled here). */
static int
all_ready(void)
{
	size_t	i;
	int	q;

	for (i = 0; i < nconns; i++) {
		if (conns[i].fd == -1)
			continue;	/* closed by the server: not waited */
		if (!conns[i].ready && conns[i].kind == K_NOREAD &&
		    conns[i].connected && conns[i].sent == envlen &&
		    ioctl(conns[i].fd, FIONREAD, &q) == 0 && q > 0)
			conns[i].ready = 1;
		if (!conns[i].ready)
			return (0);
	}
	return (1);
}

/* n more connects, one at a time: refused, accepted or failed. */
static void
over(long n)
{
	long		 refused = 0, accepted = 0, failed = 0, i;
	uint64_t	 us, max_us = 0;
	struct timespec	 t0, t1;
	int		 fd, err;
	struct timeval	 tv = { 2, 0 };

	for (i = 0; i < n; i++) {
		clock_gettime(CLOCK_MONOTONIC, &t0);
		fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd == -1) {
			failed++;
			continue;
		}
		/* Blocking, bounded: a backlogged connect would hang. */
		(void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
		err = 0;
		if (connect(fd, (struct sockaddr *)&addr, sizeof addr) == -1)
			err = errno;
		clock_gettime(CLOCK_MONOTONIC, &t1);
		us = (uint64_t)(((int64_t)t1.tv_sec - t0.tv_sec) * 1000000 +
		    ((int64_t)t1.tv_nsec - t0.tv_nsec) / 1000);
		if (us > max_us)
			max_us = us;
		if (err == 0)
			accepted++;
		else if (err == ECONNREFUSED)
			refused++;
		else
			failed++;
		close(fd);
	}
	printf("over refused=%ld accepted=%ld failed=%ld max_us=%llu\n",
	    refused, accepted, failed, (unsigned long long)max_us);
	fflush(stdout);
}

int
main(int argc, char **argv)
{
	struct epoll_event	 evs[HO_EVENTS];
	struct sigaction	 sa;
	struct rlimit		 rl;
	const char		*script = "ping", *colon;
	char			 host[INET_ADDRSTRLEN];
	uint64_t		 t0, now, deadline = 0;
	long			 n_over = 0, secs = 0, v;
	size_t			 i, k, off;
	int			 ch, n, readied = 0, closed_all;
	char			*end;

	while ((ch = getopt(argc, argv, "b:eF:f:H:N:O:rS:s:T:")) != -1) {
		errno = 0;
		v = optarg != NULL ? strtol(optarg, &end, 10) : 0;
		if (optarg != NULL && ch != 's' && (errno != 0 ||
		    end == optarg || *end != '\0' || v < 0 || v > 1000000))
			usage();
		switch (ch) {
		case 'b':
			byte_ms = v;
			break;
		case 'e':
			exit_when_closed = 1;
			break;
		case 'F':
			want[K_FAT] = v;
			break;
		case 'f':
			fatlen = (size_t)v;
			break;
		case 'H':
			want[K_HELD] = v;
			break;
		case 'N':
			want[K_NOREAD] = v;
			break;
		case 'O':
			n_over = v;
			break;
		case 'r':
			replenish = 1;
			break;
		case 'S':
			want[K_SLOW] = v;
			break;
		case 's':
			script = optarg;
			break;
		case 'T':
			secs = v;
			break;
		default:
			usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (argc != 1 || (colon = strrchr(argv[0], ':')) == NULL ||
	    (size_t)(colon - argv[0]) >= sizeof host)
		usage();
	memcpy(host, argv[0], (size_t)(colon - argv[0]));
	host[colon - argv[0]] = '\0';
	memset(&addr, 0, sizeof addr);
	addr.sin_family = AF_INET;
	v = strtol(colon + 1, &end, 10);
	if (inet_pton(AF_INET, host, &addr.sin_addr) != 1 || *end != '\0' ||
	    v < 1 || v > 65535)
		usage();
	addr.sin_port = htons((uint16_t)v);
	env_build(script);

	/* Fat lines: "agi_x<n>: xxx...\n", no closing empty line. */
	if ((fatbuf = malloc(fatlen + HO_FAT_LINE)) == NULL)
		fatal("malloc");
	for (off = 0, k = 0; off < fatlen; k++) {
		n = snprintf(fatbuf + off, HO_FAT_LINE, "agi_x%zu: ", k);
		memset(fatbuf + off + n, 'x', HO_FAT_LINE - (size_t)n - 1);
		fatbuf[off + HO_FAT_LINE - 1] = '\n';
		off += HO_FAT_LINE;
	}
	fatlen = off;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = onsig;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	if ((epfd = epoll_create1(EPOLL_CLOEXEC)) == -1)
		fatal("epoll_create1");

	for (k = 0; k < K_MAX; k++)
		nconns += (size_t)want[k];
	if ((conns = calloc(nconns + 1, sizeof *conns)) == NULL)
		fatal("calloc");
	for (k = 0, i = 0; k < K_MAX; k++) {
		for (v = 0; v < want[k]; v++, i++) {
			conns[i].kind = (enum ho_kind)k;
			(void)conn_open(&conns[i]);
		}
	}
	t0 = now_ms();
	if (secs > 0)
		deadline = t0 + (uint64_t)secs * 1000;

	while (!stop) {
		n = epoll_wait(epfd, evs, HO_EVENTS, want[K_SLOW] > 0 ||
		    !readied ? 10 : 200);
		if (n == -1 && errno != EINTR)
			fatal("epoll_wait");
		now = now_ms();
		for (i = 0; i < (size_t)(n > 0 ? n : 0); i++) {
			struct conn *c = evs[i].data.ptr;

			if (c->fd != -1)
				conn_event(c, evs[i].events, now);
		}
		/* The slow ones come first. */
		for (i = 0; i < nconns && conns[i].kind == K_SLOW; i++) {
			if (conns[i].fd != -1 && conns[i].connected)
				conn_send(&conns[i], now);
		}
		if (!readied && all_ready()) {
			readied = 1;
			printf("ready slow=%ld noread=%ld held=%ld fat=%ld "
			    "ms=%llu\n", nopen[K_SLOW], nopen[K_NOREAD],
			    nopen[K_HELD], nopen[K_FAT],
			    (unsigned long long)(now - t0));
			fflush(stdout);
			if (n_over > 0)
				over(n_over);
		}
		if (deadline != 0 && now >= deadline)
			break;
		if (exit_when_closed) {
			closed_all = 1;
			for (i = 0; i < nconns; i++)
				if (conns[i].fd != -1)
					closed_all = 0;
			if (closed_all)
				break;
		}
	}
	printf("end");
	for (k = 0; k < K_MAX; k++)
		if (want[k] > 0)
			printf(" %s_open=%ld %s_closed=%ld", ho_kind_names[k],
			    nopen[k], ho_kind_names[k], nclosed[k]);
	printf(" resets=%ld failed=%ld\n", n_resets, n_failed);
	fflush(stdout);
	for (i = 0; i < nconns; i++)
		if (conns[i].fd != -1)
			close(conns[i].fd);
	free(conns);
	free(fatbuf);
	close(epfd);
	return (0);
}
