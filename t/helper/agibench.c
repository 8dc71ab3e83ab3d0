/*
 * agibench: a FastAGI load generator that plays Asterisk's side.
 *
 * Single-threaded, edge-triggered epoll, non-blocking sockets, many
 * sessions in flight.  Each session connects, sends an environment
 * block in Asterisk's exact key order (reference/asterisk.md 1.2), then
 * answers every command the way Asterisk does, one at a time, and when
 * the server closes its write side sends the final "HANGUP" and closes.
 * Latency is measured from the start of connect() to the server's EOF.
 *
 * EXEC Reload is emulated: it takes -R ms, only one runs at a time in
 * the whole process, and one requested while another runs fails at once
 * (RELOADSTATUS=FAILURE), as app_reload does.
 *
 * Hold mode (-H N) opens N sessions, reads each one's first command
 * without answering, reports the server's RSS once all N wait, then
 * releases them.
 *
 * Options:
 *   -c conc	sessions in flight (default 16; in hold mode, how many
 *		may be connecting at once, default 256)
 *   -n total	sessions to measure (default 1000), or
 *   -d secs	measure for this long, then let the sessions in flight end
 *   -w warmup	sessions finished before measuring starts (excluded)
 *   -s script	agi_network_script (default "ping"; "" sends none)
 *   -a arg	agi_arg_N, repeatable; "%d" becomes the session number
 *		modulo -k K (all distinct without -k), "%%" a '%'
 *   -e key=val	override one of the 20 agi_ keys (e.g. agi_version)
 *   -l		send the environment one write per line, like Asterisk
 *		(default: one write, cheapest for the generator)
 *   -v N=V	channel variable N reads V (GET VARIABLE N, ${N}); %d too
 *   -V NAME	tally each session's final value of NAME
 *   -E N=PAT	each session's final N must match the fnmatch pattern
 *		PAT (%d substituted); else count a mismatch
 *   -R ms	emulated EXEC Reload duration (default 10)
 *   -t ms	per-session deadline (default 10000)
 *   -H N	hold mode
 *   -p pid	the server's pid: its CPU time and, with -H, its RSS
 *   -x		trace every line on stderr
 *
 * Output: one line of key=value fields (sessions, secs, rate, p50_us,
 * p90_us, p99_us, max_us, errors and their kinds, pipelined, reloads,
 * reload_refused, failed_connects, mismatches, commands, CPU seconds),
 * preceded in hold mode by "held=N rss_kib=K hwm_kib=K", then one line
 * per tallied value: "var=NAME value=VALUE count=N" (or unset=1 or
 * other=1 instead of value=).  Tallies include the warm-up sessions.
 * Exit status 1 when any session went wrong (errors, failed connects,
 * pipelining), 2 on bad usage.
 */
#include <sys/types.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <fnmatch.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "t/helper/astargs.h"

#define AB_EVENTS	512
#define AB_LINE_MAX	8191		/* Asterisk's command line, with '\n' */
#define AB_INBUF_MIN	512
#define AB_INBUF_MAX	(2 * AB_LINE_MAX + 2)
#define AB_ENV_MAX	65536
#define AB_ARGS_MAX	127		/* agi_arg_1 .. agi_arg_127 */
#define AB_TOKENS_MAX	128
#define AB_GETVAR_MAX	1023		/* GET VARIABLE truncates here */
#define AB_TALLY_MAX	256		/* distinct values kept per variable */
#define AB_SWEEP_NS	(100 * 1000000ULL)

enum sess_state {
	SS_FREE,
	SS_CONNECT,		/* connect() in progress */
	SS_RUN,			/* answering commands */
	SS_RELOAD,		/* our EXEC Reload is running */
	SS_HELD,		/* hold mode: first command not answered */
	SS_MAX
};

struct var {
	struct var	*next;
	char		*value;		/* points into name's allocation */
	char		 name[];
};

struct sess {
	int		 fd;
	enum sess_state	 state;
	int		 pipelined;	/* a command came before our reply */
	int		 released;	/* hold mode: already released */
	uint32_t	 gen;
	unsigned long	 ncmds;
	unsigned long	 sn;		/* session number, for %d */
	uint64_t	 t0;		/* connect() start */
	uint64_t	 deadline;
	char		*in;
	size_t		 inlen;
	size_t		 incap;
	char		*out;		/* output not yet accepted */
	size_t		 outlen;
	size_t		 outoff;
	size_t		 outcap;
	struct var	*vars;
	struct sess	*nextfree;
};

struct tally_val {
	char		*value;
	unsigned long	 count;
};

struct tally {
	const char	*name;
	struct tally_val vals[AB_TALLY_MAX];
	size_t		 nvals;
	unsigned long	 other;		/* values past AB_TALLY_MAX */
	unsigned long	 unset;
};

struct preset {
	const char	*name;
	const char	*value;
};

struct envkey {
	const char	*key;
	const char	*value;
};

/* Options. */
static struct sockaddr_in opt_addr;
static char		 opt_hostport[64];
static int		 opt_linewise;
static int		 opt_trace;
static long		 opt_conc = 16;
static long		 opt_total = -1;
static double		 opt_secs = -1;
static long		 opt_warmup;
static const char	*opt_script = "ping";
static const char	*opt_args[AB_ARGS_MAX];
static int		 opt_nargs;
static unsigned long	 opt_k;
static struct preset	*opt_presets;
static int		 opt_npresets;
static struct tally	*opt_tallies;
static int		 opt_ntallies;
static struct preset	*opt_expects;
static int		 opt_nexpects;
static long		 opt_reload_ms = 10;
static long		 opt_timeout_ms = 10000;
static long		 opt_hold;
static long		 opt_pid = -1;

/* The environment keys after agi_network_script, in Asterisk's order. */
static struct envkey	 envkeys[] = {
	{ "agi_request", NULL },
	{ "agi_channel", NULL },
	{ "agi_language", "en" },
	{ "agi_type", "Local" },
	{ "agi_uniqueid", NULL },
	{ "agi_version", "22.6.0" },
	{ "agi_callerid", "unknown" },
	{ "agi_calleridname", "unknown" },
	{ "agi_callingpres", "67" },
	{ "agi_callingani2", "0" },
	{ "agi_callington", "0" },
	{ "agi_callingtns", "0" },
	{ "agi_dnid", "unknown" },
	{ "agi_rdnis", "unknown" },
	{ "agi_context", "default" },
	{ "agi_extension", "s" },
	{ "agi_priority", "1" },
	{ "agi_enhanced", "0.0" },
	{ "agi_accountcode", "" },
	{ "agi_threadid", NULL },
};
#define NENVKEYS	(sizeof envkeys / sizeof envkeys[0])

/* Run state. */
static struct sess	*slots;
static size_t		 nslots;
static struct sess	*freelist;
static int		 epfd;
static uint64_t		 t_start, t_meas0, t_last;
static int		 measuring;
static double		 srv_cpu0 = -1, gen_cpu0, busy_cpu0;
static unsigned long	 started, inflight, unheld, held, done_all;
static unsigned long	 warm_done, sn_next;
static long		 start_epoch;
static uint32_t		 gen_next = 1;
static char		 envbuf[AB_ENV_MAX];

/* Results. */
static uint32_t		*lat;
static size_t		 nlat, latcap;
static unsigned long	 n_errors, n_unknown, n_syntax, n_toolong, n_partial;
static unsigned long	 n_empty, n_resets, n_timeouts, n_failed_connects;
static unsigned long	 n_pipelined, n_reloads, n_reload_refused, n_cmds;
static unsigned long	 n_mismatches;

static struct {
	int		 busy;
	uint64_t	 deadline;
	struct sess	*s;
	uint32_t	 gen;
} reload;

static void		 usage(void) __attribute__((noreturn));
static void		 fatalx(const char *, ...)
			    __attribute__((format(printf, 1, 2), noreturn));
static void		*xcalloc_(size_t, size_t);
static void		*xrealloc_(void *, size_t);
static long		 num(const char *, long, long);
static uint64_t		 now_ns(void);
static void		 raise_nofile(void);
static void		 parse_addr(const char *);
static size_t		 subst(char *, size_t, const char *, unsigned long);
static size_t		 env_build(struct sess *, size_t *, size_t, size_t *);
static int		 sess_start(void);
static void		 sess_connected(struct sess *);
static void		 sess_write(struct sess *, const char *, size_t);
static int		 sess_flush(struct sess *);
static void		 sess_read(struct sess *, uint32_t);
static int		 sess_input(struct sess *);
static int		 sess_command(struct sess *, char *);
static void		 sess_reply(struct sess *, const char *, ...)
			    __attribute__((format(printf, 2, 3)));
static void		 sess_eof(struct sess *);
static void		 sess_fail(struct sess *, unsigned long *);
static void		 sess_free(struct sess *);
static void		 sess_done(uint64_t, struct sess *);
static void		 var_set(struct sess *, const char *, const char *);
static const char	*var_get(struct sess *, const char *, char *, size_t);
static size_t		 var_expand(struct sess *, const char *, char *,
			    size_t);
static int		 agi_tokenize(char *, char **, int);
static void		 reload_start(struct sess *);
static void		 reload_tick(uint64_t);
static void		 tally_add(struct tally *, const char *);
static void		 expect_check(struct sess *);
static struct preset	*preset_add(struct preset *, int *, char *);
static void		 tally_print(const struct tally *);
static void		 print_value(const char *);
static void		 print_rss(void);
static double		 proc_cpu(long);
static double		 self_cpu(void);
static double		 busy_cpu(void);
static void		 measure_begin(uint64_t);
static void		 release_all(void);
static void		 sweep(uint64_t);
static int		 want_start(uint64_t);
static int		 cmp_u32(const void *, const void *);
static void		 report(void);

/* Print the usage and exit. */
static void
usage(void)
{
	fprintf(stderr,
	    "usage: agibench [-lx] [-c conc] [-n total | -d secs] [-w warmup]\n"
	    "\t[-s script] [-a arg]... [-k K] [-e agi_key=value]...\n"
	    "\t[-v NAME=VALUE]... [-V NAME]... [-E NAME=PATTERN]...\n"
	    "\t[-R reload_ms] [-t timeout_ms] [-H N] [-p pid] host:port\n");
	exit(2);
}

/* Print a formatted message and exit. */
static void
fatalx(const char *fmt, ...)
{
	va_list	ap;

	fputs("agibench: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

/* Allocate zeroed memory or exit. */
static void *
xcalloc_(size_t n, size_t size)
{
	void	*p;

	if ((p = calloc(n, size)) == NULL)
		fatalx("out of memory");
	return (p);
}

/* Resize memory or exit. */
static void *
xrealloc_(void *p, size_t size)
{
	if ((p = realloc(p, size)) == NULL)
		fatalx("out of memory");
	return (p);
}

/* Parse a decimal number in [min, max] or exit with the usage. */
static long
num(const char *s, long min, long max)
{
	char	*end;
	long	 v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < min || v > max)
		usage();
	return (v);
}

/* Return the monotonic clock in nanoseconds. */
static uint64_t
now_ns(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec);
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

/* Parse "a.b.c.d:port" (or a bare port on 127.0.0.1) into opt_addr. */
static void
parse_addr(const char *s)
{
	char		 host[INET_ADDRSTRLEN];
	const char	*colon;
	size_t		 len;

	memset(&opt_addr, 0, sizeof opt_addr);
	opt_addr.sin_family = AF_INET;
	if ((colon = strrchr(s, ':')) == NULL) {
		opt_addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		opt_addr.sin_port = htons((uint16_t)num(s, 1, 65535));
	} else {
		len = (size_t)(colon - s);
		if (len == 0 || len >= sizeof host)
			usage();
		memcpy(host, s, len);
		host[len] = '\0';
		if (inet_pton(AF_INET, host, &opt_addr.sin_addr) != 1)
			fatalx("%s: not an IPv4 address", host);
		opt_addr.sin_port = htons((uint16_t)num(colon + 1, 1, 65535));
	}
	inet_ntop(AF_INET, &opt_addr.sin_addr, host, sizeof host);
	snprintf(opt_hostport, sizeof opt_hostport, "%s:%u", host,
	    ntohs(opt_addr.sin_port));
}

/*
 * Copy template into dst (size dstsz, always terminated), replacing
 * "%d" with the session counter modulo -k and "%%" with "%".  Returns
 * the length written.
 */
static size_t
subst(char *dst, size_t dstsz, const char *template, unsigned long sn)
{
	char		 num_[32];
	const char	*p, *add;
	size_t		 len = 0, alen;
	unsigned long	 v = opt_k ? sn % opt_k : sn;

	if (dstsz == 0)
		return (0);
	for (p = template; *p != '\0'; p++) {
		if (p[0] == '%' && p[1] == 'd') {
			snprintf(num_, sizeof num_, "%lu", v);
			add = num_;
			p++;
		} else if (p[0] == '%' && p[1] == '%') {
			add = "%";
			p++;
		} else {
			if (len + 1 < dstsz)
				dst[len++] = *p;
			continue;
		}
		alen = strlen(add);
		if (len + alen >= dstsz)
			alen = dstsz - 1 - len;
		memcpy(dst + len, add, alen);
		len += alen;
	}
	dst[len] = '\0';
	return (len);
}

/*
 * Build session s's environment block in envbuf.  With lines != NULL,
 * record the end offset of each line there (at most maxlines) and the
 * number of lines in *nlines.  Returns the block's length.
 */
static size_t
env_build(struct sess *s, size_t *lines, size_t maxlines, size_t *nlines)
{
	char		 val[AB_LINE_MAX];
	const char	*v;
	size_t		 len = 0, nl = 0, i;
	int		 r, a;

#define ENV_LINE(...) do {						\
	r = snprintf(envbuf + len, sizeof envbuf - len, __VA_ARGS__);	\
	if (r < 0 || (size_t)r >= sizeof envbuf - len)			\
		fatalx("environment block too long");			\
	len += (size_t)r;						\
	if (lines != NULL && nl < maxlines)				\
		lines[nl] = len;					\
	nl++;								\
} while (0)

	ENV_LINE("agi_network: yes\n");
	if (*opt_script != '\0')
		ENV_LINE("agi_network_script: %s\n", opt_script);
	for (i = 0; i < NENVKEYS; i++) {
		v = envkeys[i].value;
		if (v != NULL) {
			subst(val, sizeof val, v, s->sn);
			v = val;
		} else if (strcmp(envkeys[i].key, "agi_request") == 0) {
			snprintf(val, sizeof val, "agi://%s%s%s", opt_hostport,
			    *opt_script != '\0' ? "/" : "", opt_script);
			v = val;
		} else if (strcmp(envkeys[i].key, "agi_channel") == 0) {
			snprintf(val, sizeof val, "Local/s@bench-%08lx;2",
			    s->sn & 0xffffffffUL);
			v = val;
		} else if (strcmp(envkeys[i].key, "agi_uniqueid") == 0) {
			snprintf(val, sizeof val, "bench-%ld.%lu",
			    start_epoch, s->sn);
			v = val;
		} else {
			snprintf(val, sizeof val, "%lu",
			    139659225384640UL + s->sn);
			v = val;
		}
		ENV_LINE("%s: %s\n", envkeys[i].key, v);
	}
	for (a = 0; a < opt_nargs; a++) {
		subst(val, sizeof val, opt_args[a], s->sn);
		ENV_LINE("agi_arg_%d: %s\n", a + 1, val);
	}
	ENV_LINE("\n");
#undef ENV_LINE
	if (lines != NULL && nl > maxlines)
		fatalx("environment block has too many lines");
	if (nlines != NULL)
		*nlines = nl;
	return (len);
}

/* Start one session; 0 when started or failed at once, -1 to stop. */
static int
sess_start(void)
{
	struct epoll_event	 ev;
	struct sess		*s;
	int			 fd;

	if ((s = freelist) == NULL)
		return (-1);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1) {
		n_failed_connects++;
		return (-1);	/* out of descriptors: retry later */
	}
	freelist = s->nextfree;
	s->fd = fd;
	s->gen = gen_next++;
	s->sn = sn_next++;
	s->ncmds = 0;
	s->pipelined = 0;
	s->released = 0;
	s->inlen = 0;
	s->outlen = s->outoff = 0;
	s->vars = NULL;
	s->t0 = now_ns();
	s->deadline = s->t0 + (uint64_t)opt_timeout_ms * 1000000ULL;
	started++;
	inflight++;
	unheld++;
	if (connect(fd, (struct sockaddr *)&opt_addr, sizeof opt_addr) == 0)
		s->state = SS_RUN;
	else if (errno == EINPROGRESS)
		s->state = SS_CONNECT;
	else {
		s->state = SS_CONNECT;
		sess_fail(s, &n_failed_connects);
		return (0);
	}
	/* After connect(): a fresh socket would report EPOLLHUP. */
	memset(&ev, 0, sizeof ev);
	ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
	ev.data.ptr = s;
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) == -1)
		fatalx("epoll_ctl: %s", strerror(errno));
	if (s->state == SS_RUN)
		sess_connected(s);
	return (0);
}

/* The connection is up: send the environment block. */
static void
sess_connected(struct sess *s)
{
	size_t	lines[AB_ARGS_MAX + 32], len, nl, i, off;

	s->state = SS_RUN;
	if (!opt_linewise) {
		len = env_build(s, NULL, 0, NULL);
		sess_write(s, envbuf, len);
		return;
	}
	/* Like Asterisk: one write per line. */
	env_build(s, lines, sizeof lines / sizeof lines[0], &nl);
	for (i = 0, off = 0; i < nl; off = lines[i++])
		sess_write(s, envbuf + off, lines[i] - off);
}

/* Queue bytes for s, writing at once when nothing is pending. */
static void
sess_write(struct sess *s, const char *buf, size_t len)
{
	ssize_t	n = 0;

	if (opt_trace)
		fprintf(stderr, "%lu > %.*s", s->sn, (int)len, buf);
	if (s->outoff == s->outlen) {
		s->outoff = s->outlen = 0;
		n = send(s->fd, buf, len, MSG_NOSIGNAL);
		if (n == -1) {
			if (errno != EAGAIN && errno != EINTR)
				return;	/* the read side sees the error */
			n = 0;
		}
		if ((size_t)n == len)
			return;
	}
	if (s->outlen + len - (size_t)n > s->outcap) {
		s->outcap = s->outlen + len - (size_t)n + 1024;
		s->out = xrealloc_(s->out, s->outcap);
	}
	memcpy(s->out + s->outlen, buf + n, len - (size_t)n);
	s->outlen += len - (size_t)n;
}

/* Write pending output; 0, or -1 when the session failed. */
static int
sess_flush(struct sess *s)
{
	ssize_t	n;

	while (s->outoff < s->outlen) {
		n = send(s->fd, s->out + s->outoff, s->outlen - s->outoff,
		    MSG_NOSIGNAL);
		if (n == -1) {
			if (errno == EAGAIN)
				return (0);
			if (errno == EINTR)
				continue;
			sess_fail(s, &n_resets);
			return (-1);
		}
		s->outoff += (size_t)n;
	}
	return (0);
}

/* Read everything available (edge-triggered) and process it. */
static void
sess_read(struct sess *s, uint32_t events)
{
	ssize_t	n;
	size_t	room;

	for (;;) {
		if (s->incap - s->inlen < AB_INBUF_MIN / 2 &&
		    s->incap < AB_INBUF_MAX) {
			s->incap = s->incap * 2 > AB_INBUF_MAX ?
			    AB_INBUF_MAX : s->incap * 2;
			s->in = xrealloc_(s->in, s->incap);
		}
		room = s->incap - s->inlen;
		if (room == 0) {
			sess_fail(s, &n_toolong);
			return;
		}
		n = read(s->fd, s->in + s->inlen, room);
		if (n == -1) {
			if (errno == EAGAIN)
				return;
			if (errno == EINTR)
				continue;
			sess_fail(s, &n_resets);
			return;
		}
		if (n == 0) {
			sess_eof(s);
			return;
		}
		s->inlen += (size_t)n;
		if (sess_input(s) == -1)
			return;
		/*
		 * A short read drained the socket: with the peer's FIN
		 * already seen, this is EOF without another read.
		 */
		if ((size_t)n < room) {
			if (events & EPOLLRDHUP)
				sess_eof(s);
			return;
		}
	}
}

/* Answer the complete lines in s's buffer; -1 when s was closed. */
static int
sess_input(struct sess *s)
{
	char	*nl, *line;
	size_t	 used;
	int	 r;

	for (;;) {
		if (s->inlen == 0 || s->state == SS_HELD)
			return (0);
		if (s->state == SS_RELOAD) {
			/* Bytes before our reply: the server pipelines. */
			s->pipelined = 1;
			return (0);
		}
		if ((nl = memchr(s->in, '\n', s->inlen)) == NULL) {
			if (s->inlen >= AB_LINE_MAX) {
				sess_fail(s, &n_toolong);
				return (-1);
			}
			return (0);
		}
		if (nl - s->in >= AB_LINE_MAX) {
			sess_fail(s, &n_toolong);
			return (-1);
		}
		if (opt_hold > 0 && !s->released) {
			s->state = SS_HELD;
			held++;
			unheld--;
			return (0);
		}
		*nl = '\0';
		line = s->in;
		used = (size_t)(nl - s->in) + 1;
		if (opt_trace)
			fprintf(stderr, "%lu < %s\n", s->sn, line);
		s->ncmds++;
		n_cmds++;
		r = sess_command(s, line);
		memmove(s->in, s->in + used, s->inlen - used);
		s->inlen -= used;
		if (r == -1)
			return (-1);
		if (s->inlen > 0 && s->state == SS_RUN)
			s->pipelined = 1;
	}
}

/* Send one reply line. */
static void
sess_reply(struct sess *s, const char *fmt, ...)
{
	char	buf[AB_LINE_MAX + 64];
	va_list	ap;
	int	r;

	va_start(ap, fmt);
	r = vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	if (r < 0)
		r = 0;
	if ((size_t)r >= sizeof buf)
		r = sizeof buf - 1;
	sess_write(s, buf, (size_t)r);
}

/* Answer one command line as Asterisk would; -1 when s was closed. */
static int
sess_command(struct sess *s, char *line)
{
	char		*argv[AB_TOKENS_MAX + 1], val[AB_LINE_MAX];
	char		*eq;
	const char	*v;
	int		 argc;

	argc = agi_tokenize(line, argv, AB_TOKENS_MAX);
	if (argc >= 2 && strcasecmp(argv[0], "SET") == 0 &&
	    strcasecmp(argv[1], "VARIABLE") == 0) {
		if (argc != 4)
			goto syntax;
		var_set(s, argv[2], argv[3]);
		sess_reply(s, "200 result=1\n");
	} else if (argc >= 2 && strcasecmp(argv[0], "GET") == 0 &&
	    strcasecmp(argv[1], "VARIABLE") == 0) {
		if (argc != 3)
			goto syntax;
		if ((v = var_get(s, argv[2], val, sizeof val)) == NULL)
			sess_reply(s, "200 result=0\n");
		else
			sess_reply(s, "200 result=1 (%.*s)\n", AB_GETVAR_MAX,
			    v);
	} else if (argc >= 3 && strcasecmp(argv[0], "GET") == 0 &&
	    strcasecmp(argv[1], "FULL") == 0 &&
	    strcasecmp(argv[2], "VARIABLE") == 0) {
		if (argc != 4 && argc != 5)
			goto syntax;
		var_expand(s, argv[3], val, sizeof val);
		sess_reply(s, "200 result=1 (%s)\n", val);
	} else if (argc >= 2 && strcasecmp(argv[0], "SET") == 0 &&
	    (strcasecmp(argv[1], "CONTEXT") == 0 ||
	    strcasecmp(argv[1], "EXTENSION") == 0 ||
	    strcasecmp(argv[1], "PRIORITY") == 0)) {
		if (argc != 3)
			goto syntax;
		/* ${CONTEXT} etc. read the channel's position. */
		if (strcasecmp(argv[1], "CONTEXT") == 0)
			var_set(s, "CONTEXT", argv[2]);
		else if (strcasecmp(argv[1], "EXTENSION") == 0)
			var_set(s, "EXTEN", argv[2]);
		else
			var_set(s, "PRIORITY", argv[2]);
		sess_reply(s, "200 result=0\n");
	} else if (argc >= 1 && strcasecmp(argv[0], "EXEC") == 0) {
		if (argc < 2)
			goto syntax;
		if (strcasecmp(argv[1], "Reload") == 0) {
			reload_start(s);
		} else if (strcasecmp(argv[1], "Set") == 0 && argc >= 3 &&
		    (eq = strchr(argv[2], '=')) != NULL) {
			*eq = '\0';
			var_set(s, argv[2], eq + 1);
			sess_reply(s, "200 result=0\n");
		} else if (strcasecmp(argv[1], "MSet") == 0 && argc >= 3) {
			/* As Asterisk splits application arguments. */
			char	*pairs[99], *pair[2];
			int	 np, ip;

			np = astargs_split(argv[2], ',', 1, pairs, 99);
			for (ip = 0; ip < np; ip++) {
				if (astargs_split(pairs[ip], '=', 1, pair,
				    2) == 2)
					var_set(s, pair[0], pair[1]);
			}
			sess_reply(s, "200 result=0\n");
		} else
			sess_reply(s, "200 result=0\n");
	} else if (argc >= 1 && strcasecmp(argv[0], "NOOP") == 0) {
		sess_reply(s, "200 result=0\n");
	} else if (argc >= 2 && strcasecmp(argv[0], "VERBOSE") == 0) {
		sess_reply(s, "200 result=1\n");
	} else {
		n_unknown++;
		n_errors++;
		sess_reply(s, "510 Invalid or unknown command\n");
	}
	return (0);
syntax:
	n_syntax++;
	n_errors++;
	sess_reply(s, "520 Invalid command syntax.  Proper usage not "
	    "available.\n");
	return (0);
}

/* The server closed its write side: send HANGUP, close, record. */
static void
sess_eof(struct sess *s)
{
	static const char	 hangup[] = "HANGUP\n";
	uint64_t		 t = now_ns();
	struct var		*v;
	int			 i;

	if (s->inlen > 0 && memchr(s->in, '\n', s->inlen) == NULL) {
		n_partial++;
		n_errors++;
	}
	if (s->ncmds == 0) {
		n_empty++;
		n_errors++;
	}
	if (s->pipelined)
		n_pipelined++;
	/* Like Asterisk: write errors here are ignored. */
	(void)send(s->fd, hangup, sizeof hangup - 1, MSG_NOSIGNAL);
	if (opt_trace)
		fprintf(stderr, "%lu > HANGUP\n%lu EOF\n", s->sn, s->sn);
	for (i = 0; i < opt_ntallies; i++) {
		for (v = s->vars; v != NULL; v = v->next)
			if (strcmp(v->name, opt_tallies[i].name) == 0)
				break;
		tally_add(&opt_tallies[i], v != NULL ? v->value : NULL);
	}
	expect_check(s);
	if (measuring) {
		if (nlat == latcap) {
			latcap = latcap ? latcap * 2 : 65536;
			lat = xrealloc_(lat, latcap * sizeof *lat);
		}
		lat[nlat++] = (t - s->t0) / 1000 > UINT32_MAX ? UINT32_MAX :
		    (uint32_t)((t - s->t0) / 1000);
		t_last = t;
	}
	sess_done(t, s);
}

/* End a session that went wrong, counting it under *counter. */
static void
sess_fail(struct sess *s, unsigned long *counter)
{
	(*counter)++;
	if (counter != &n_failed_connects)
		n_errors++;
	if (opt_trace)
		fprintf(stderr, "%lu failed\n", s->sn);
	if (s->pipelined)
		n_pipelined++;
	sess_done(now_ns(), s);
}

/* Count a finished session (warm-up included), then free it. */
static void
sess_done(uint64_t t, struct sess *s)
{
	done_all++;
	if (!measuring && ++warm_done >= (unsigned long)opt_warmup)
		measure_begin(t);
	sess_free(s);
}

/* Close s's socket and return its slot to the free list. */
static void
sess_free(struct sess *s)
{
	struct var	*v, *next;

	close(s->fd);
	s->fd = -1;
	if (s->state == SS_HELD)
		held--;
	else
		unheld--;
	if (reload.busy && reload.s == s)
		reload.s = NULL;
	s->state = SS_FREE;
	for (v = s->vars; v != NULL; v = next) {
		next = v->next;
		free(v);
	}
	s->vars = NULL;
	s->inlen = s->outlen = s->outoff = 0;
	s->nextfree = freelist;
	freelist = s;
	inflight--;
}

/* Set a channel variable on s (newest first, so gets see the last). */
static void
var_set(struct sess *s, const char *name, const char *value)
{
	struct var	*v;
	size_t		 nlen = strlen(name), vlen = strlen(value);

	v = xcalloc_(1, sizeof *v + nlen + vlen + 2);
	memcpy(v->name, name, nlen + 1);
	v->value = v->name + nlen + 1;
	memcpy(v->value, value, vlen + 1);
	v->next = s->vars;
	s->vars = v;
}

/* Look a variable up: set on s first, then the -v presets; or NULL. */
static const char *
var_get(struct sess *s, const char *name, char *buf, size_t bufsz)
{
	struct var	*v;
	int		 i;

	for (v = s->vars; v != NULL; v = v->next)
		if (strcmp(v->name, name) == 0)
			return (v->value);
	for (i = opt_npresets - 1; i >= 0; i--) {
		if (strcmp(opt_presets[i].name, name) == 0) {
			subst(buf, bufsz, opt_presets[i].value, s->sn);
			return (buf);
		}
	}
	return (NULL);
}

/* Expand ${NAME} and ${FUNC(args)} in expr as GET FULL VARIABLE does. */
static size_t
var_expand(struct sess *s, const char *expr, char *dst, size_t dstsz)
{
	char		 name[AB_LINE_MAX], vbuf[AB_LINE_MAX];
	const char	*p, *q, *v;
	size_t		 len = 0, vlen, nlen;
	int		 depth;

	for (p = expr; *p != '\0' && len + 1 < dstsz; ) {
		if (p[0] != '$' || p[1] != '{') {
			dst[len++] = *p++;
			continue;
		}
		depth = 1;
		for (q = p + 2; *q != '\0'; q++) {
			if (q[0] == '$' && q[1] == '{') {
				depth++;
				q++;
			} else if (*q == '}' && --depth == 0)
				break;
		}
		if (*q == '\0')
			break;	/* unterminated: Asterisk drops it */
		nlen = (size_t)(q - p - 2);
		if (nlen >= sizeof name)
			nlen = sizeof name - 1;
		memcpy(name, p + 2, nlen);
		name[nlen] = '\0';
		if ((v = var_get(s, name, vbuf, sizeof vbuf)) != NULL) {
			vlen = strlen(v);
			if (vlen > dstsz - 1 - len)
				vlen = dstsz - 1 - len;
			memcpy(dst + len, v, vlen);
			len += vlen;
		}
		p = q + 1;
	}
	dst[len] = '\0';
	return (len);
}

/*
 * Split a command line in place as res_agi's parse_args does:
 * whitespace separates, '"' toggles quoting, '\' escapes the next
 * character.  Returns the number of tokens (at most max).
 */
static int
agi_tokenize(char *s, char **argv, int max)
{
	char	*cur = s;
	int	 argc = 0, quoted = 0, escaped = 0, space = 1;

	for (; *s != '\0'; s++) {
		if (*s == '"' && !escaped) {
			quoted = !quoted;
			if (quoted && space) {
				if (argc >= max)
					break;
				argv[argc++] = cur;
				space = 0;
			}
			continue;
		}
		if ((*s == ' ' || *s == '\t') && !quoted && !escaped) {
			if (!space)
				*cur++ = '\0';
			space = 1;
			continue;
		}
		if (*s == '\\' && !escaped) {
			escaped = 1;
			continue;
		}
		if (space) {
			if (argc >= max)
				break;
			argv[argc++] = cur;
			space = 0;
		}
		*cur++ = *s;
		escaped = 0;
	}
	*cur = '\0';
	argv[argc] = NULL;
	return (argc);
}

/* EXEC Reload: start the one reload, or fail at once if one runs. */
static void
reload_start(struct sess *s)
{
	if (reload.busy) {
		n_reload_refused++;
		var_set(s, "RELOADSTATUS", "FAILURE");
		sess_reply(s, "200 result=0\n");
		return;
	}
	n_reloads++;
	if (opt_reload_ms == 0) {
		var_set(s, "RELOADSTATUS", "SUCCESS");
		sess_reply(s, "200 result=0\n");
		return;
	}
	reload.busy = 1;
	reload.s = s;
	reload.gen = s->gen;
	reload.deadline = now_ns() + (uint64_t)opt_reload_ms * 1000000ULL;
	s->state = SS_RELOAD;
}

/* Finish the running reload when its time has come. */
static void
reload_tick(uint64_t now)
{
	struct sess	*s;

	if (!reload.busy || now < reload.deadline)
		return;
	reload.busy = 0;
	s = reload.s;
	reload.s = NULL;
	if (s == NULL || s->gen != reload.gen || s->state != SS_RELOAD)
		return;		/* its session is gone */
	s->state = SS_RUN;
	var_set(s, "RELOADSTATUS", "SUCCESS");
	sess_reply(s, "200 result=0\n");
	(void)sess_input(s);
}

/* Count one session's final value of a variable (NULL: never set). */
static void
tally_add(struct tally *t, const char *value)
{
	size_t	i;

	if (value == NULL) {
		t->unset++;
		return;
	}
	for (i = 0; i < t->nvals; i++) {
		if (strcmp(t->vals[i].value, value) == 0) {
			t->vals[i].count++;
			return;
		}
	}
	if (t->nvals == AB_TALLY_MAX) {
		t->other++;
		return;
	}
	if ((t->vals[t->nvals].value = strdup(value)) == NULL)
		fatalx("out of memory");
	t->vals[t->nvals++].count = 1;
}

/*
 * Check the -E expectations against s's final variables: each pattern,
 * after %d substitution, must match (fnmatch) the value set last.
 */
static void
expect_check(struct sess *s)
{
	char		 pat[AB_LINE_MAX];
	struct var	*v;
	int		 i;

	for (i = 0; i < opt_nexpects; i++) {
		for (v = s->vars; v != NULL; v = v->next)
			if (strcmp(v->name, opt_expects[i].name) == 0)
				break;
		subst(pat, sizeof pat, opt_expects[i].value, s->sn);
		if (v == NULL || fnmatch(pat, v->value, 0) != 0) {
			n_mismatches++;
			n_errors++;
			if (opt_trace)
				fprintf(stderr, "%lu mismatch %s=%s, want %s\n",
				    s->sn, opt_expects[i].name,
				    v != NULL ? v->value : "(unset)", pat);
			return;	/* one per session */
		}
	}
}

/* Append a NAME=VALUE option (split in place) to an array. */
static struct preset *
preset_add(struct preset *a, int *n, char *arg)
{
	char	*eq;

	if ((eq = strchr(arg, '=')) == NULL || eq == arg)
		usage();
	*eq = '\0';
	a = xrealloc_(a, (size_t)(*n + 1) * sizeof *a);
	a[*n].name = arg;
	a[*n].value = eq + 1;
	(*n)++;
	return (a);
}

/* Print a value as a logfmt token, quoted and escaped when needed. */
static void
print_value(const char *v)
{
	const unsigned char	*p;
	int			 plain = *v != '\0';

	for (p = (const unsigned char *)v; *p != '\0'; p++)
		if (*p <= ' ' || *p >= 0x7f || *p == '"' || *p == '\\' ||
		    *p == '=')
			plain = 0;
	if (plain) {
		fputs(v, stdout);
		return;
	}
	putchar('"');
	for (p = (const unsigned char *)v; *p != '\0'; p++) {
		if (*p == '"' || *p == '\\')
			printf("\\%c", *p);
		else if (*p < ' ' || *p >= 0x7f)
			printf("\\x%02x", *p);
		else
			putchar(*p);
	}
	putchar('"');
}

/* Print one variable's tally, one line per value. */
static void
tally_print(const struct tally *t)
{
	size_t	i;

	for (i = 0; i < t->nvals; i++) {
		printf("var=%s value=", t->name);
		print_value(t->vals[i].value);
		printf(" count=%lu\n", t->vals[i].count);
	}
	if (t->other > 0)
		printf("var=%s other=1 count=%lu\n", t->name, t->other);
	if (t->unset > 0)
		printf("var=%s unset=1 count=%lu\n", t->name, t->unset);
}

/* Print the -p process's resident set size from /proc. */
static void
print_rss(void)
{
	char	 path[64], line[256];
	FILE	*f;
	long	 rss = -1, hwm = -1, v;

	snprintf(path, sizeof path, "/proc/%ld/status", opt_pid);
	if ((f = fopen(path, "r")) == NULL) {
		printf(" rss_kib=-1");
		return;
	}
	while (fgets(line, sizeof line, f) != NULL) {
		if (sscanf(line, "VmRSS: %ld", &v) == 1)
			rss = v;
		else if (sscanf(line, "VmHWM: %ld", &v) == 1)
			hwm = v;
	}
	fclose(f);
	printf(" rss_kib=%ld hwm_kib=%ld", rss, hwm);
}

/* Return the CPU seconds (user + system) process pid has used, or -1. */
static double
proc_cpu(long pid)
{
	char		 path[64], buf[1024], *p;
	FILE		*f;
	unsigned long	 ut, st;
	size_t		 n;

	snprintf(path, sizeof path, "/proc/%ld/stat", pid);
	if ((f = fopen(path, "r")) == NULL)
		return (-1);
	n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* Fields after the command name, which may hold anything. */
	if ((p = strrchr(buf, ')')) == NULL ||
	    sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u"
	    " %lu %lu", &ut, &st) != 2)
		return (-1);
	return ((double)(ut + st) / (double)sysconf(_SC_CLK_TCK));
}

/* Return the CPU seconds this process has used. */
static double
self_cpu(void)
{
	struct rusage	ru;

	if (getrusage(RUSAGE_SELF, &ru) == -1)
		return (0);
	return ((double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
	    (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6);
}

/*
 * Return the CPU seconds all processes have spent in user and system
 * mode (irq and softirq time excluded, as from a process's own times).
 */
static double
busy_cpu(void)
{
	FILE			*f;
	unsigned long long	 user, nice, sys;
	int			 r;

	if ((f = fopen("/proc/stat", "r")) == NULL)
		return (0);
	r = fscanf(f, "cpu %llu %llu %llu", &user, &nice, &sys);
	fclose(f);
	if (r != 3)
		return (0);
	return ((double)(user + nice + sys) / (double)sysconf(_SC_CLK_TCK));
}

/* Start the measured window at t (the warm-up is over). */
static void
measure_begin(uint64_t t)
{
	measuring = 1;
	t_meas0 = t;
	gen_cpu0 = self_cpu();
	busy_cpu0 = busy_cpu();
	if (opt_pid > 0)
		srv_cpu0 = proc_cpu(opt_pid);
}

/* Hold mode: answer every held session's first command. */
static void
release_all(void)
{
	uint64_t	now = now_ns();
	size_t		i;

	for (i = 0; i < nslots; i++)
		slots[i].released = 1;
	for (i = 0; i < nslots; i++) {
		if (slots[i].state != SS_HELD)
			continue;
		slots[i].state = SS_RUN;
		held--;
		unheld++;
		slots[i].deadline = now + (uint64_t)opt_timeout_ms * 1000000ULL;
		(void)sess_input(&slots[i]);
	}
}

/* Close sessions past their deadline (held ones wait for release). */
static void
sweep(uint64_t now)
{
	size_t	i;

	for (i = 0; i < nslots; i++) {
		if (slots[i].state == SS_FREE || slots[i].state == SS_HELD)
			continue;
		if (now > slots[i].deadline)
			sess_fail(&slots[i], slots[i].state == SS_CONNECT ?
			    &n_failed_connects : &n_timeouts);
	}
}

/* Say whether another session should start now. */
static int
want_start(uint64_t now)
{
	if (opt_hold > 0)
		return (started < (unsigned long)opt_hold &&
		    unheld < (unsigned long)opt_conc);
	if (inflight >= (unsigned long)opt_conc)
		return (0);
	if (opt_secs >= 0)
		return (!measuring || now < t_meas0 +
		    (uint64_t)(opt_secs * 1e9));
	return (started < (unsigned long)(opt_total + opt_warmup));
}

/* Order two latencies for qsort. */
static int
cmp_u32(const void *a, const void *b)
{
	uint32_t	x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return (x < y ? -1 : x > y);
}

/* Print the summary line and the tallies. */
static void
report(void)
{
	double		secs = 0, rate = 0, srv = -1, gen, busy, other;
	uint32_t	p50 = 0, p90 = 0, p99 = 0, pmax = 0;
	int		i;

	if (nlat > 0) {
		qsort(lat, nlat, sizeof *lat, cmp_u32);
		p50 = lat[nlat * 50 / 100];
		p90 = lat[nlat * 90 / 100];
		p99 = lat[nlat * 99 / 100];
		pmax = lat[nlat - 1];
		secs = (double)(t_last - t_meas0) / 1e9;
		if (secs > 0)
			rate = (double)nlat / secs;
	}
	gen = self_cpu() - gen_cpu0;
	busy = busy_cpu() - busy_cpu0;
	if (opt_pid > 0 && srv_cpu0 >= 0 && (srv = proc_cpu(opt_pid)) >= 0)
		srv -= srv_cpu0;
	printf("sessions=%zu secs=%.3f rate=%.0f p50_us=%" PRIu32
	    " p90_us=%" PRIu32 " p99_us=%" PRIu32 " max_us=%" PRIu32
	    " errors=%lu pipelined=%lu reloads=%lu reload_refused=%lu"
	    " failed_connects=%lu resets=%lu timeouts=%lu unknown=%lu"
	    " syntax=%lu toolong=%lu partial=%lu empty=%lu mismatches=%lu"
	    " commands=%lu"
	    " conc=%ld gen_cpu_s=%.2f",
	    nlat, secs, rate, p50, p90, p99, pmax, n_errors, n_pipelined,
	    n_reloads, n_reload_refused, n_failed_connects, n_resets,
	    n_timeouts, n_unknown, n_syntax, n_toolong, n_partial, n_empty,
	    n_mismatches, n_cmds, opt_conc, gen);
	if (srv >= 0) {
		/* CPU used by everything else on the machine meanwhile. */
		other = busy - gen - srv;
		printf(" srv_cpu_s=%.2f srv_us_per_sess=%.1f other_cpu_s=%.2f",
		    srv, nlat > 0 ? srv * 1e6 / (double)nlat : 0.0,
		    other > 0 ? other : 0.0);
	}
	printf("\n");
	for (i = 0; i < opt_ntallies; i++)
		tally_print(&opt_tallies[i]);
	fflush(stdout);
}

int
main(int argc, char **argv)
{
	struct epoll_event	 evs[AB_EVENTS];
	struct sess		*s;
	uint64_t		 now, last_sweep, wait_ns;
	size_t			 i;
	char			*eq;
	int			 ch, n, k, timeout, hold_done = 0, conc_set = 0;

	while ((ch = getopt(argc, argv, "a:c:d:E:e:H:k:ln:p:R:s:t:V:v:w:x")) !=
	    -1) {
		switch (ch) {
		case 'a':
			if (opt_nargs == AB_ARGS_MAX)
				fatalx("too many -a");
			opt_args[opt_nargs++] = optarg;
			break;
		case 'c':
			opt_conc = num(optarg, 1, 1000000);
			conc_set = 1;
			break;
		case 'd':
			opt_secs = (double)num(optarg, 1, 86400);
			break;
		case 'e':
			if ((eq = strchr(optarg, '=')) == NULL)
				usage();
			*eq = '\0';
			for (i = 0; i < NENVKEYS; i++)
				if (strcmp(envkeys[i].key, optarg) == 0)
					break;
			if (i == NENVKEYS)
				fatalx("-e %s: not one of the 20 agi_ keys",
				    optarg);
			envkeys[i].value = eq + 1;
			break;
		case 'H':
			opt_hold = num(optarg, 1, 1000000);
			break;
		case 'k':
			opt_k = (unsigned long)num(optarg, 1, LONG_MAX);
			break;
		case 'l':
			opt_linewise = 1;
			break;
		case 'n':
			opt_total = num(optarg, 1, LONG_MAX / 2);
			break;
		case 'p':
			opt_pid = num(optarg, 1, INT_MAX);
			break;
		case 'R':
			opt_reload_ms = num(optarg, 0, 600000);
			break;
		case 's':
			opt_script = optarg;
			break;
		case 't':
			opt_timeout_ms = num(optarg, 1, 3600000);
			break;
		case 'V':
			opt_tallies = xrealloc_(opt_tallies,
			    (size_t)(opt_ntallies + 1) * sizeof *opt_tallies);
			memset(&opt_tallies[opt_ntallies], 0,
			    sizeof *opt_tallies);
			opt_tallies[opt_ntallies++].name = optarg;
			break;
		case 'v':
			opt_presets = preset_add(opt_presets, &opt_npresets,
			    optarg);
			break;
		case 'E':
			opt_expects = preset_add(opt_expects, &opt_nexpects,
			    optarg);
			break;
		case 'w':
			opt_warmup = num(optarg, 0, LONG_MAX / 2);
			break;
		case 'x':
			opt_trace = 1;
			break;
		default:
			usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (argc != 1)
		usage();
	if (opt_total >= 0 && opt_secs >= 0)
		fatalx("-n and -d exclude each other");
	if (opt_hold > 0 && (opt_total >= 0 || opt_secs >= 0))
		fatalx("-H excludes -n and -d");
	if (opt_hold > 0) {
		if (!conc_set)
			opt_conc = 256;
		opt_warmup = 0;
	} else if (opt_total < 0 && opt_secs < 0)
		opt_total = 1000;
	parse_addr(argv[0]);

	raise_nofile();
	signal(SIGPIPE, SIG_IGN);
	start_epoch = (long)time(NULL);
	nslots = (size_t)(opt_hold > 0 ? opt_hold : opt_conc);
	slots = xcalloc_(nslots, sizeof *slots);
	for (i = nslots; i-- > 0; ) {
		slots[i].fd = -1;
		slots[i].incap = AB_INBUF_MIN;
		slots[i].in = xcalloc_(1, slots[i].incap);
		slots[i].nextfree = freelist;
		freelist = &slots[i];
	}
	if ((epfd = epoll_create1(EPOLL_CLOEXEC)) == -1)
		fatalx("epoll_create1: %s", strerror(errno));

	t_start = last_sweep = now_ns();
	if (opt_warmup == 0)
		measure_begin(t_start);
	for (;;) {
		now = now_ns();
		for (k = 0; k < AB_EVENTS && want_start(now) &&
		    sess_start() == 0; k++)
			;
		if (inflight == 0 && !want_start(now))
			break;
		if (opt_hold > 0 && !hold_done &&
		    held + done_all == (unsigned long)opt_hold) {
			hold_done = 1;
			printf("held=%lu", held);
			if (opt_pid > 0)
				print_rss();
			printf("\n");
			fflush(stdout);
			release_all();
			continue;
		}
		wait_ns = AB_SWEEP_NS;
		if (reload.busy)
			wait_ns = reload.deadline > now ?
			    reload.deadline - now : 0;
		if (wait_ns > AB_SWEEP_NS)
			wait_ns = AB_SWEEP_NS;
		timeout = (int)((wait_ns + 999999) / 1000000);
		n = epoll_wait(epfd, evs, AB_EVENTS, timeout);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			fatalx("epoll_wait: %s", strerror(errno));
		}
		for (i = 0; i < (size_t)n; i++) {
			s = evs[i].data.ptr;
			if (s->state == SS_FREE)
				continue;	/* closed in this batch */
			if (s->state == SS_CONNECT) {
				if (evs[i].events & (EPOLLERR | EPOLLHUP)) {
					sess_fail(s, &n_failed_connects);
					continue;
				}
				if (!(evs[i].events & EPOLLOUT))
					continue;
				sess_connected(s);
			}
			if ((evs[i].events & EPOLLOUT) &&
			    s->outoff < s->outlen && sess_flush(s) == -1)
				continue;
			if (evs[i].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP |
			    EPOLLERR))
				sess_read(s, evs[i].events);
		}
		now = now_ns();
		reload_tick(now);
		if (now - last_sweep >= AB_SWEEP_NS) {
			sweep(now);
			last_sweep = now;
		}
	}
	report();
	for (i = 0; i < nslots; i++) {
		free(slots[i].in);
		free(slots[i].out);
	}
	for (n = 0; n < opt_ntallies; n++)
		for (i = 0; i < opt_tallies[n].nvals; i++)
			free(opt_tallies[n].vals[i].value);
	free(slots);
	free(lat);
	free(opt_presets);
	free(opt_expects);
	free(opt_tallies);
	close(epfd);
	return (n_errors > 0 || n_failed_connects > 0 || n_pipelined > 0 ?
	    1 : 0);
}
