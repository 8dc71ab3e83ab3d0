/*
 * slowhttp: slow clients of the key server, for the attack tests
 * (t/5004-keyserver-attack.t, t/5003-keyserver-https.t).
 *
 * Opens -n connections to host:port (from the source address -b, default
 * any), sends the opening of the -m kind at once, then one more byte on
 * every open connection every -i milliseconds (each byte restarts an
 * idle timeout, never an absolute deadline).  Kinds:
 *
 *   headers  a request line and headers that never end
 *   body     complete headers announcing a body that comes a byte at a time
 *   tls      a TLS record header announcing a ClientHello that never ends
 *
 * A connection the server closes (EOF or reset) is counted closed and not
 * opened again.  Once every connection is made and at most -k are still
 * open, "ready open=N closed=N" is printed (once).  The program ends when
 * the server has closed every connection, or after -T seconds, printing
 * "end open=N closed=N sent=BYTES"; exit 0 (1 on a usage or connect
 * error).
 *
 * usage: slowhttp [-b addr] [-n conns] [-k keep] [-i ms] [-T secs]
 *	      [-m headers|body|tls] host:port
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define SLOW_MAX	1024		/* connections */

#define KIND(name, text, fill)	{ name, text, sizeof text - 1, fill }

static const struct {
	const char	*name;
	const char	*open;
	size_t		 len;
	char		 fill;
} kinds[] = {
	KIND("headers", "GET /v1/keys/slow HTTP/1.1\r\nHost: slow\r\n"
	    "X-Slow: ", 'a'),
	KIND("body", "PUT /v1/keys/slow HTTP/1.1\r\nHost: slow\r\n"
	    "Content-Length: 10000\r\n\r\n", 'A'),
	KIND("tls", "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 0),
};

static void	usage(void) __attribute__((noreturn));
static double	now_ms(void);
static int	slow_connect(const struct sockaddr_in *, const char *);
static int	slow_drop(struct pollfd *);

/* Print usage and exit. */
static void
usage(void)
{
	fprintf(stderr, "usage: slowhttp [-b addr] [-n conns] [-k keep] "
	    "[-i ms] [-T secs] [-m headers|body|tls] host:port\n");
	exit(1);
}

/* Monotonic milliseconds. */
static double
now_ms(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (ts.tv_sec * 1e3 + ts.tv_nsec / 1e6);
}

/* A blocking connect to sin from bind (NULL: any); the socket or -1. */
static int
slow_connect(const struct sockaddr_in *sin, const char *bind_addr)
{
	struct sockaddr_in	src;
	int			fd;

	if ((fd = socket(AF_INET, SOCK_STREAM, 0)) == -1)
		return (-1);
	if (bind_addr != NULL) {
		memset(&src, 0, sizeof src);
		src.sin_family = AF_INET;
		if (inet_pton(AF_INET, bind_addr, &src.sin_addr) != 1 ||
		    bind(fd, (struct sockaddr *)&src, sizeof src) == -1) {
			close(fd);
			return (-1);
		}
	}
	if (connect(fd, (const struct sockaddr *)sin, sizeof *sin) == -1) {
		close(fd);
		return (-1);
	}
	return (fd);
}

/* Close a connection the server closed; 1 (one more closed). */
static int
slow_drop(struct pollfd *p)
{
	close(p->fd);
	p->fd = -1;
	return (1);
}

int
main(int argc, char **argv)
{
	struct pollfd		 pfd[SLOW_MAX];
	struct sockaddr_in	 sin;
	const char		*bind_addr = NULL;
	char			*host, *colon, buf[4096];
	double			 end, next;
	long			 v;
	long long		 sent = 0;
	int			 ch, n = 8, keep = 0, ival = 200, secs = 30;
	int			 kind = 0, i, open_n, closed = 0, ready = 0;
	size_t			 k;
	ssize_t			 r;

	while ((ch = getopt(argc, argv, "b:i:k:m:n:T:")) != -1) {
		v = -1;
		if (ch != 'b' && ch != 'm') {
			errno = 0;
			v = strtol(optarg, &colon, 10);
			if (errno != 0 || *colon != '\0' || v < 0 ||
			    v > 1000000)
				usage();
		}
		switch (ch) {
		case 'b':
			bind_addr = optarg;
			break;
		case 'i':
			ival = (int)v;
			break;
		case 'k':
			keep = (int)v;
			break;
		case 'm':
			for (k = 0; k < sizeof kinds / sizeof kinds[0]; k++)
				if (strcmp(optarg, kinds[k].name) == 0)
					break;
			if (k == sizeof kinds / sizeof kinds[0])
				usage();
			kind = (int)k;
			break;
		case 'n':
			n = (int)v;
			break;
		case 'T':
			secs = (int)v;
			break;
		default:
			usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (argc != 1 || n < 1 || n > SLOW_MAX || ival < 1 ||
	    (colon = strrchr(argv[0], ':')) == NULL)
		usage();
	host = argv[0];
	*colon = '\0';
	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	v = strtol(colon + 1, &colon, 10);
	if (inet_pton(AF_INET, host, &sin.sin_addr) != 1 || v < 1 ||
	    v > 65535 || *colon != '\0')
		usage();
	sin.sin_port = htons((unsigned short)v);
	signal(SIGPIPE, SIG_IGN);

	for (i = 0; i < n; i++) {
		if ((pfd[i].fd = slow_connect(&sin, bind_addr)) == -1) {
			fprintf(stderr, "slowhttp: connect %d: %s\n", i,
			    strerror(errno));
			return (1);
		}
		pfd[i].events = POLLIN;
		if (write(pfd[i].fd, kinds[kind].open, kinds[kind].len) > 0)
			sent += kinds[kind].len;
		fcntl(pfd[i].fd, F_SETFL, O_NONBLOCK);
	}
	end = now_ms() + secs * 1e3;
	next = now_ms() + ival;
	for (;;) {
		open_n = n - closed;
		if (!ready && open_n <= keep) {
			printf("ready open=%d closed=%d\n", open_n, closed);
			fflush(stdout);
			ready = 1;
		}
		if (open_n == 0 || now_ms() >= end)
			break;
		if (poll(pfd, n, (int)(next > now_ms() ? next - now_ms() :
		    0)) == -1 && errno != EINTR)
			break;
		for (i = 0; i < n; i++) {
			if (pfd[i].fd == -1 || pfd[i].revents == 0)
				continue;
			r = read(pfd[i].fd, buf, sizeof buf);
			if (r == 0 || (r == -1 && errno != EAGAIN &&
			    errno != EINTR))
				closed += slow_drop(&pfd[i]);
		}
		if (now_ms() < next)
			continue;
		next += ival;
		for (i = 0; i < n; i++) {
			if (pfd[i].fd == -1)
				continue;
			if (write(pfd[i].fd, &kinds[kind].fill, 1) == 1)
				sent++;
			else if (errno != EAGAIN && errno != EINTR)
				closed += slow_drop(&pfd[i]);
		}
	}
	for (i = 0; i < n; i++)
		if (pfd[i].fd != -1)
			slow_drop(&pfd[i]);
	printf("end open=%d closed=%d sent=%lld\n", n - closed, closed, sent);
	return (fflush(stdout) == 0 ? 0 : 1);
}
