/*
 * epollref: the reference FastAGI server for the benchmark.
 *
 * A minimal single-threaded, level-triggered epoll server doing exactly
 * the "ping" exchange and nothing else: accept, read until the
 * environment block's empty line, send one SET VARIABLE, read the reply
 * line, shutdown(SHUT_WR), read until EOF (Asterisk's final HANGUP),
 * close.  It parses nothing it does not have to, so its throughput is
 * the practical limit of the machine for this exchange; iaxkeyd is
 * measured as a ratio of it (docs/bench.md).
 *
 * usage: epollref [-b backlog] [port]
 * Listens on 127.0.0.1:port (0, the default, picks an ephemeral port),
 * prints "port=N" once listening and runs until SIGTERM or SIGINT.
 */
#include <sys/types.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define REF_EVENTS	256
#define REF_BUFSZ	16384

static const char ref_cmd[] = "SET VARIABLE IAXKEY_STATUS OK\n";

enum ref_state {
	REF_S_FREE,
	REF_S_ENV,		/* reading the environment block */
	REF_S_SEND,		/* command partly written, waiting for room */
	REF_S_REPLY,		/* waiting for the reply line */
	REF_S_DRAIN,		/* write side shut, reading until EOF */
	REF_S_MAX
};

struct ref_conn {
	uint8_t		state;
	uint8_t		nl;	/* last byte seen was '\n' */
	uint16_t	sent;	/* bytes of ref_cmd written */
};

static struct ref_conn	*conns;
static size_t		 nconns;
static int		 epfd;
static unsigned long long served, dropped;

static void		 usage(void) __attribute__((noreturn));
static void		 fatal(const char *) __attribute__((noreturn));
static long		 parse_long(const char *, long, long);
static int		 listen_on(int, int);
static void		 accept_all(int);
static void		 conn_close(int, int);
static void		 conn_send(int);
static void		 conn_read(int, uint32_t);
static void		 raise_nofile(void);

/* Print the usage and exit. */
static void
usage(void)
{
	fprintf(stderr, "usage: epollref [-b backlog] [port]\n");
	exit(2);
}

/* Print a message with errno's text and exit. */
static void
fatal(const char *what)
{
	fprintf(stderr, "epollref: %s: %s\n", what, strerror(errno));
	exit(1);
}

/* Parse a decimal number in [min, max] or exit with the usage. */
static long
parse_long(const char *s, long min, long max)
{
	char	*end;
	long	 v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < min || v > max)
		usage();
	return (v);
}

/* Raise the descriptor limit to the hard limit. */
static void
raise_nofile(void)
{
	struct rlimit	rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}
}

/* Open the non-blocking listening socket on 127.0.0.1:port. */
static int
listen_on(int port, int backlog)
{
	struct sockaddr_in	sin;
	int			fd, one = 1;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1)
		fatal("socket");
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) == -1)
		fatal("setsockopt");
	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&sin, sizeof sin) == -1)
		fatal("bind");
	if (listen(fd, backlog) == -1)
		fatal("listen");
	return (fd);
}

/* Accept every pending connection and watch it for input. */
static void
accept_all(int lfd)
{
	struct epoll_event	ev;
	int			fd;

	for (;;) {
		fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd == -1) {
			if (errno == EAGAIN || errno == EINTR ||
			    errno == ECONNABORTED)
				return;
			if (errno == EMFILE || errno == ENFILE) {
				dropped++;
				return;	/* level-triggered: retried */
			}
			fatal("accept4");
		}
		if ((size_t)fd >= nconns) {
			close(fd);
			dropped++;
			continue;
		}
		conns[fd].state = REF_S_ENV;
		conns[fd].nl = 0;
		conns[fd].sent = 0;
		memset(&ev, 0, sizeof ev);
		ev.events = EPOLLIN | EPOLLRDHUP;
		ev.data.fd = fd;
		if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) == -1)
			fatal("epoll_ctl");
	}
}

/* Close one connection; completed says whether it ran to its end. */
static void
conn_close(int fd, int completed)
{
	conns[fd].state = REF_S_FREE;
	close(fd);		/* also removes it from the epoll set */
	if (completed)
		served++;
	else
		dropped++;
}

/* Write (the rest of) the command; on a short write wait for room. */
static void
conn_send(int fd)
{
	struct ref_conn		*c = &conns[fd];
	struct epoll_event	 ev;
	ssize_t			 n;
	size_t			 left = sizeof ref_cmd - 1 - c->sent;

	n = send(fd, ref_cmd + c->sent, left, MSG_NOSIGNAL);
	if (n == -1 && errno != EAGAIN && errno != EINTR) {
		conn_close(fd, 0);
		return;
	}
	if (n > 0)
		c->sent += (uint16_t)n;
	memset(&ev, 0, sizeof ev);
	ev.data.fd = fd;
	if ((size_t)n == left) {
		if (c->state == REF_S_SEND) {
			ev.events = EPOLLIN | EPOLLRDHUP;
			if (epoll_ctl(epfd, EPOLL_CTL_MOD, fd, &ev) == -1)
				fatal("epoll_ctl");
		}
		c->state = REF_S_REPLY;
	} else if (c->state != REF_S_SEND) {
		c->state = REF_S_SEND;
		ev.events = EPOLLOUT;
		if (epoll_ctl(epfd, EPOLL_CTL_MOD, fd, &ev) == -1)
			fatal("epoll_ctl");
	}
}

/*
 * Read what is there once and advance the exchange.  A short read
 * after the peer's FIN (EPOLLRDHUP) has consumed everything: that is
 * EOF without one more read.
 */
static void
conn_read(int fd, uint32_t events)
{
	struct ref_conn	*c = &conns[fd];
	char		 buf[REF_BUFSZ], *p, *end;
	ssize_t		 n;

	n = read(fd, buf, sizeof buf);
	if (n == -1) {
		if (errno != EAGAIN && errno != EINTR)
			conn_close(fd, 0);
		return;
	}
	if (n == 0) {
		conn_close(fd, c->state == REF_S_DRAIN);
		return;
	}
	p = buf;
	end = buf + n;
	while (p < end) {
		switch (c->state) {
		case REF_S_ENV:
			/* The block ends with an empty line: "\n\n". */
			for (; p < end; p++) {
				if (*p != '\n') {
					c->nl = 0;
					continue;
				}
				if (c->nl)
					break;
				c->nl = 1;
			}
			if (p == end)
				return;
			p++;
			conn_send(fd);
			if (c->state == REF_S_FREE || c->state == REF_S_SEND)
				return;	/* Asterisk never talks first */
			break;
		case REF_S_REPLY:
			if ((p = memchr(p, '\n', (size_t)(end - p))) == NULL)
				return;
			p++;
			if (shutdown(fd, SHUT_WR) == -1) {
				conn_close(fd, 0);
				return;
			}
			c->state = REF_S_DRAIN;
			break;
		case REF_S_DRAIN:
			/* HANGUP and whatever follows. */
			if ((events & EPOLLRDHUP) && (size_t)n < sizeof buf)
				conn_close(fd, 1);
			return;
		default:
			return;
		}
	}
}

int
main(int argc, char **argv)
{
	struct epoll_event	 ev, evs[REF_EVENTS];
	struct sockaddr_in	 sin;
	struct rlimit		 rl;
	struct signalfd_siginfo	 si;
	socklen_t		 slen = sizeof sin;
	sigset_t		 mask;
	int			 ch, lfd, sfd, port = 0, backlog = 4096;
	int			 i, n, fd;

	while ((ch = getopt(argc, argv, "b:")) != -1) {
		switch (ch) {
		case 'b':
			backlog = (int)parse_long(optarg, 1, INT_MAX);
			break;
		default:
			usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (argc > 1)
		usage();
	if (argc == 1)
		port = (int)parse_long(argv[0], 0, 65535);

	raise_nofile();
	if (getrlimit(RLIMIT_NOFILE, &rl) == -1)
		fatal("getrlimit");
	nconns = rl.rlim_cur > 1048576 ? 1048576 : (size_t)rl.rlim_cur;
	if ((conns = calloc(nconns, sizeof *conns)) == NULL)
		fatal("calloc");

	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	if (sigprocmask(SIG_BLOCK, &mask, NULL) == -1)
		fatal("sigprocmask");
	if ((sfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC)) == -1)
		fatal("signalfd");
	signal(SIGPIPE, SIG_IGN);

	lfd = listen_on(port, backlog);
	if ((epfd = epoll_create1(EPOLL_CLOEXEC)) == -1)
		fatal("epoll_create1");
	memset(&ev, 0, sizeof ev);
	ev.events = EPOLLIN;
	ev.data.fd = lfd;
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, lfd, &ev) == -1)
		fatal("epoll_ctl");
	ev.data.fd = sfd;
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, sfd, &ev) == -1)
		fatal("epoll_ctl");

	if (getsockname(lfd, (struct sockaddr *)&sin, &slen) == -1)
		fatal("getsockname");
	printf("port=%d\n", ntohs(sin.sin_port));
	fflush(stdout);

	for (;;) {
		n = epoll_wait(epfd, evs, REF_EVENTS, -1);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			fatal("epoll_wait");
		}
		for (i = 0; i < n; i++) {
			fd = evs[i].data.fd;
			if (fd == lfd)
				accept_all(lfd);
			else if (fd == sfd) {
				if (read(sfd, &si, sizeof si) == sizeof si)
					goto done;
			} else if (conns[fd].state == REF_S_SEND)
				conn_send(fd);
			else if (conns[fd].state != REF_S_FREE)
				conn_read(fd, evs[i].events);
		}
	}
done:
	fprintf(stderr, "epollref: served=%llu dropped=%llu\n", served,
	    dropped);
	free(conns);
	return (0);
}
