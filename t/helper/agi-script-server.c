/*
 * agi-script-server: a scripted FastAGI server for testing the Asterisk
 * emulator (t/helper/fake-asterisk).
 *
 *	agi-script-server [-f stepfile] [-n conns] [-o file] [-w prefix]
 *	    [step ...]
 *
 * It listens on 127.0.0.1 (an ephemeral port), prints the port and a
 * newline on stdout, accepts conns connections (default 1), reads each
 * env block up to its empty line, then runs the steps in order, each on
 * every connection in turn (all sends of a step first, then all reads, so
 * parallel calls really overlap).  At the end it half-closes each
 * connection (shutdown(SHUT_WR)) and reads until EOF.  With -o the
 * transcript goes to file and stdout is closed after the port, so a shell
 * can read the port from a FIFO without sleeping.  With -w the env read
 * ends after the first line that starts with prefix (for partial blocks).
 * With -f the steps are read from stepfile, one per line, before those
 * given as arguments.
 *
 * Steps:
 *	TEXT		send TEXT and a newline, read up to the final reply
 *	x:TEXT		send TEXT with \n \r \t \\ \0 \xNN decoded and no
 *			newline added, read up to the final reply
 *	n:TEXT		like x: but read nothing
 *	r:N		read N lines
 *	long:N:PREFIX	send PREFIX padded with 'y' to N bytes including the
 *			final newline, read up to the final reply
 *
 * A final reply is a line of three digits and a space other than "100 "
 * (HANGUP lines and "520-" usage lines are printed and skipped).
 *
 * Transcript lines (prefixed "[I] " when conns > 1):
 *	env LINE	an env line;  env-end  the empty line
 *	> DATA		what was sent;  < LINE  a line received
 *	shut		the write side was closed;  eof  EOF was read
 *	timeout		nothing came for 20 s (exit status 1)
 * Bytes are escaped as \\ \r \t \n \xNN; a line cut by EOF ends in \c.
 */
#include <sys/types.h>
#include <sys/socket.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <ctype.h>
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define READ_TIMEOUT_MS	20000

struct conn {
	int	 fd;
	int	 eof;		/* read() returned 0 */
	int	 done;		/* EOF reported: no more steps */
	char	*buf;
	size_t	 len;
	size_t	 cap;
};

static void	 usage(void) __attribute__((noreturn));
static char	**read_steps(const char *, int, char **, int *);
static void	 fatal(const char *, ...)
		    __attribute__((format(printf, 1, 2), noreturn));
static void	 out_prefix(int);
static void	 out_escaped(const char *, size_t);
static void	 out_line(int, const char *, const char *, size_t, int);
static size_t	 decode(const char *, char *);
static int	 conn_line(struct conn *, char **, size_t *, int *);
static void	 conn_send(struct conn *, int, const char *, size_t);
static void	 conn_read_lines(struct conn *, int, long);
static void	 conn_read_reply(struct conn *, int);
static int	 is_final(const char *, size_t);

static FILE	*out;
static int	 nconns = 1;

/* Print the usage and exit 2. */
static void
usage(void)
{
	fprintf(stderr, "usage: agi-script-server [-f stepfile] [-n conns] "
	    "[-o file] [-w prefix] [step ...]\n");
	exit(2);
}

/* The lines of path followed by argv[0..argc-1], as a new argv. */
static char **
read_steps(const char *path, int argc, char **argv, int *nout)
{
	FILE	 *f;
	char	**v = NULL, *line = NULL;
	size_t	  cap = 0;
	ssize_t	  n;
	int	  i, nv = 0;

	if ((f = fopen(path, "r")) == NULL)
		fatal("%s: %s", path, strerror(errno));
	while ((n = getline(&line, &cap, f)) != -1) {
		if (n > 0 && line[n - 1] == '\n')
			line[--n] = '\0';
		if ((v = realloc(v, (size_t)(nv + 1) * sizeof *v)) == NULL ||
		    (v[nv++] = strdup(line)) == NULL)
			fatal("out of memory");
	}
	free(line);
	fclose(f);
	for (i = 0; i < argc; i++) {
		if ((v = realloc(v, (size_t)(nv + 1) * sizeof *v)) == NULL ||
		    (v[nv++] = strdup(argv[i])) == NULL)
			fatal("out of memory");
	}
	*nout = nv;
	return (v);
}

/* Print a message on stderr and exit 1. */
static void
fatal(const char *fmt, ...)
{
	va_list	ap;

	fputs("agi-script-server: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

/* Print the connection prefix when there are several connections. */
static void
out_prefix(int i)
{
	if (nconns > 1)
		fprintf(out, "[%d] ", i);
}

/* Print bytes escaped. */
static void
out_escaped(const char *p, size_t n)
{
	unsigned char	u;
	size_t		i;

	for (i = 0; i < n; i++) {
		u = (unsigned char)p[i];
		if (u == '\\')
			fputs("\\\\", out);
		else if (u == '\r')
			fputs("\\r", out);
		else if (u == '\n')
			fputs("\\n", out);
		else if (u == '\t')
			fputs("\\t", out);
		else if (u < 0x20 || u >= 0x7f)
			fprintf(out, "\\x%02x", u);
		else
			fputc(u, out);
	}
}

/* Print one transcript line: tag, escaped bytes, \c if no newline. */
static void
out_line(int i, const char *tag, const char *p, size_t n, int nl)
{
	out_prefix(i);
	fputs(tag, out);
	out_escaped(p, n);
	if (!nl)
		fputs("\\c", out);
	fputc('\n', out);
	fflush(out);
}

/* Decode \n \r \t \\ \0 \xNN into dst (as long as src); the length. */
static size_t
decode(const char *s, char *dst)
{
	size_t	n = 0;
	int	hi, lo;

	while (*s != '\0') {
		if (*s != '\\' || s[1] == '\0') {
			dst[n++] = *s++;
			continue;
		}
		s++;
		switch (*s) {
		case 'n':
			dst[n++] = '\n';
			break;
		case 'r':
			dst[n++] = '\r';
			break;
		case 't':
			dst[n++] = '\t';
			break;
		case '0':
			dst[n++] = '\0';
			break;
		case 'x':
			if (isxdigit((unsigned char)s[1]) &&
			    isxdigit((unsigned char)s[2])) {
				hi = isdigit((unsigned char)s[1]) ? s[1] - '0' :
				    tolower((unsigned char)s[1]) - 'a' + 10;
				lo = isdigit((unsigned char)s[2]) ? s[2] - '0' :
				    tolower((unsigned char)s[2]) - 'a' + 10;
				dst[n++] = (char)(hi * 16 + lo);
				s += 2;
				break;
			}
			dst[n++] = 'x';
			break;
		default:
			dst[n++] = *s;
		}
		s++;
	}
	return (n);
}

/*
 * Take the next line of a connection (without its newline) into *line
 * (valid until the next call); 1 with *nl set, 0 at EOF with nothing left.
 */
static int
conn_line(struct conn *c, char **line, size_t *len, int *nl)
{
	static char	*ret;
	struct pollfd	 pfd;
	char		*p;
	ssize_t		 n;
	size_t		 take;
	int		 r;

	for (;;) {
		p = c->len > 0 ? memchr(c->buf, '\n', c->len) : NULL;
		if (p != NULL || c->eof) {
			take = p != NULL ? (size_t)(p - c->buf) : c->len;
			if (p == NULL && take == 0)
				return (0);
			free(ret);
			if ((ret = malloc(take + 1)) == NULL)
				fatal("out of memory");
			if (take > 0)
				memcpy(ret, c->buf, take);
			ret[take] = '\0';
			*line = ret;
			*len = take;
			*nl = p != NULL;
			if (p != NULL)
				take++;
			if (c->len > take)
				memmove(c->buf, c->buf + take, c->len - take);
			c->len -= take;
			return (1);
		}
		if (c->cap - c->len < 4096) {
			c->cap = c->cap * 2 + 8192;
			if ((c->buf = realloc(c->buf, c->cap)) == NULL)
				fatal("out of memory");
		}
		pfd.fd = c->fd;
		pfd.events = POLLIN;
		pfd.revents = 0;
		r = poll(&pfd, 1, READ_TIMEOUT_MS);
		if (r == -1 && errno == EINTR)
			continue;
		if (r == 0) {
			fputs("timeout\n", out);
			fflush(out);
			exit(1);
		}
		n = read(c->fd, c->buf + c->len, c->cap - c->len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			c->eof = 1;	/* EOF (or reset): drain the rest */
		else
			c->len += (size_t)n;
	}
}

/* Send bytes and log them. */
static void
conn_send(struct conn *c, int i, const char *p, size_t n)
{
	ssize_t	w;
	size_t	off = 0;

	out_line(i, "> ", p, n, 1);
	while (off < n) {
		w = send(c->fd, p + off, n - off, MSG_NOSIGNAL);
		if (w == -1) {
			if (errno == EINTR)
				continue;
			out_prefix(i);
			fprintf(out, "send error: %s\n", strerror(errno));
			fflush(out);
			return;
		}
		off += (size_t)w;
	}
}

/* Read and print count lines (stop at EOF). */
static void
conn_read_lines(struct conn *c, int i, long count)
{
	char	*line;
	size_t	 len;
	int	 nl;

	while (count-- > 0) {
		if (!conn_line(c, &line, &len, &nl)) {
			out_prefix(i);
			fputs("eof\n", out);
			c->done = 1;
			return;
		}
		out_line(i, "< ", line, len, nl);
	}
}

/* 1 if a line is a final reply: three digits and a space, not "100 ". */
static int
is_final(const char *p, size_t n)
{
	return (n >= 4 && isdigit((unsigned char)p[0]) &&
	    isdigit((unsigned char)p[1]) && isdigit((unsigned char)p[2]) &&
	    p[3] == ' ' && strncmp(p, "100 ", 4) != 0);
}

/* Read and print lines up to a final reply (or EOF). */
static void
conn_read_reply(struct conn *c, int i)
{
	char	*line;
	size_t	 len;
	int	 nl;

	for (;;) {
		if (!conn_line(c, &line, &len, &nl)) {
			out_prefix(i);
			fputs("eof\n", out);
			fflush(out);
			c->done = 1;
			return;
		}
		out_line(i, "< ", line, len, nl);
		if (nl && is_final(line, len))
			return;
	}
}

/* Listen, accept, run the steps, drain; see the header. */
int
main(int argc, char *argv[])
{
	struct sockaddr_in	 sin;
	struct pollfd		 pfd;
	struct conn		*conns;
	socklen_t		 sl;
	const char		*outfile = NULL, *step, *colon, *until = NULL;
	const char		*stepfile = NULL;
	char			**steps = NULL;
	int			 nsteps = 0, k;
	char			*data, *line, *end;
	size_t			 len, n;
	long			 count;
	int			 ch, ls, i, s, nl, one = 1, r;

	while ((ch = getopt(argc, argv, "f:n:o:w:")) != -1) {
		switch (ch) {
		case 'f':
			stepfile = optarg;
			break;
		case 'n':
			nconns = (int)strtol(optarg, &end, 10);
			if (*end != '\0' || nconns < 1 || nconns > 1000)
				usage();
			break;
		case 'o':
			outfile = optarg;
			break;
		case 'w':
			until = optarg;
			break;
		default:
			usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (stepfile != NULL) {
		steps = read_steps(stepfile, argc, argv, &nsteps);
		argc = nsteps;
		argv = steps;
	}

	if ((ls = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		fatal("socket: %s", strerror(errno));
	(void)setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(ls, (struct sockaddr *)&sin, sizeof sin) == -1)
		fatal("bind: %s", strerror(errno));
	if (listen(ls, 1024) == -1)
		fatal("listen: %s", strerror(errno));
	sl = sizeof sin;
	if (getsockname(ls, (struct sockaddr *)&sin, &sl) == -1)
		fatal("getsockname: %s", strerror(errno));
	printf("%d\n", ntohs(sin.sin_port));
	fflush(stdout);
	if (outfile != NULL) {
		if ((out = fopen(outfile, "w")) == NULL)
			fatal("%s: %s", outfile, strerror(errno));
		fclose(stdout);
	} else
		out = stdout;

	if ((conns = calloc((size_t)nconns, sizeof *conns)) == NULL)
		fatal("out of memory");
	for (i = 0; i < nconns; i++) {
		pfd.fd = ls;
		pfd.events = POLLIN;
		pfd.revents = 0;
		do
			r = poll(&pfd, 1, READ_TIMEOUT_MS);
		while (r == -1 && errno == EINTR);
		if (r == 0) {
			fputs("timeout\n", out);
			exit(1);
		}
		if ((s = accept(ls, NULL, NULL)) == -1)
			fatal("accept: %s", strerror(errno));
		conns[i].fd = s;
	}
	close(ls);

	for (i = 0; i < nconns; i++) {
		for (;;) {
			if (!conn_line(&conns[i], &line, &len, &nl)) {
				out_prefix(i);
				fputs("eof\n", out);
				conns[i].done = 1;
				break;
			}
			if (len == 0 && nl) {
				out_prefix(i);
				fputs("env-end\n", out);
				break;
			}
			out_line(i, "env ", line, len, nl);
			if (until != NULL &&
			    strncmp(line, until, strlen(until)) == 0)
				break;
		}
	}

	for (k = 0; k < argc; k++) {
		step = argv[k];
		data = NULL;
		len = 0;
		count = 0;
		if (strncmp(step, "r:", 2) == 0) {
			count = strtol(step + 2, &end, 10);
			if (*end != '\0' || count < 0)
				usage();
		} else if (strncmp(step, "x:", 2) == 0 ||
		    strncmp(step, "n:", 2) == 0) {
			if ((data = malloc(strlen(step) + 1)) == NULL)
				fatal("out of memory");
			len = decode(step + 2, data);
		} else if (strncmp(step, "long:", 5) == 0) {
			n = (size_t)strtol(step + 5, &end, 10);
			if (*end != ':' || n < 1)
				usage();
			colon = end + 1;
			if (strlen(colon) + 1 > n)
				usage();
			if ((data = malloc(n)) == NULL)
				fatal("out of memory");
			memcpy(data, colon, strlen(colon));
			memset(data + strlen(colon), 'y',
			    n - strlen(colon) - 1);
			data[n - 1] = '\n';
			len = n;
		} else {
			len = strlen(step);
			if ((data = malloc(len + 1)) == NULL)
				fatal("out of memory");
			memcpy(data, step, len);
			data[len++] = '\n';
		}
		for (i = 0; i < nconns; i++)
			if (!conns[i].done && data != NULL)
				conn_send(&conns[i], i, data, len);
		for (i = 0; i < nconns; i++) {
			if (conns[i].done)
				continue;
			if (strncmp(step, "r:", 2) == 0)
				conn_read_lines(&conns[i], i, count);
			else if (strncmp(step, "n:", 2) != 0)
				conn_read_reply(&conns[i], i);
		}
		free(data);
	}

	for (i = 0; i < nconns; i++) {
		if (!conns[i].done) {
			shutdown(conns[i].fd, SHUT_WR);
			out_prefix(i);
			fputs("shut\n", out);
			fflush(out);
			while (conn_line(&conns[i], &line, &len, &nl))
				out_line(i, "< ", line, len, nl);
			out_prefix(i);
			fputs("eof\n", out);
		}
		close(conns[i].fd);
		free(conns[i].buf);
	}
	free(conns);
	if (steps != NULL) {
		for (k = 0; k < nsteps; k++)
			free(steps[k]);
		free(steps);
	}
	fflush(out);
	if (out != stdout)
		fclose(out);
	return (0);
}
