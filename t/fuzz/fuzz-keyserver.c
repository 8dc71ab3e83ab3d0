/*
 * fuzz-keyserver: raw bytes on a connection to iaxkey-server's HTTP
 * listener: evhttp's request parsing, then the /v1/keys handlers of
 * keyserver/api.c and rotate.c (routing, node names, If-None-Match and
 * If-Modified-Since, the signature headers, body limits, PEM validation
 * of an upload, signature checks, enrolment tokens, the next and
 * previous key routes) against a store holding one key (node-a) with a
 * staged next key, and one token (node-b).  The server runs in this
 * process on its own event base, listening on 127.0.0.1 with a port of
 * its choice; each input is one connection that sends the bytes, shuts
 * its write side and reads until the server closes.  Several requests
 * may be pipelined.
 *
 * "@NOW@" in the input becomes the current time in unix seconds, so
 * that a timestamp header can fall inside the allowed clock skew and
 * the signature check is reached.  Every ops log line is checked to be
 * one line of printable text; FUZZ_VERBOSE=1 prints them.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "keyserver/ks.h"
#include "lib/conf.h"
#include "lib/log.h"
#include "lib/xmalloc.h"
#include "t/fuzz/fuzz.h"

#define KS_WAIT_S	5	/* one connection, at most */

/* node-a's registered key (RSA 1024, made for these tests). */
static const char ks_pub_a[] =
    "-----BEGIN PUBLIC KEY-----\n"
    "MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQC1LvQyshYq1P2u1PDOtxtFH9MV\n"
    "PGywoBPDPPmFbw++X5SAMnt6ntDJLj207JwMwD3NjfIlzTpJRnSQ7ydMIGMvoPmK\n"
    "rl4U0rDFNyKiSbszi/JIsUoz8vcfBARdhSchTb+d7+0NwbWhAWb8CfQOd+o4SQ7r\n"
    "SzKCDPSIgKcG1aVbTwIDAQAB\n"
    "-----END PUBLIC KEY-----\n"
    ;

/* node-a's staged next key. */
static const char ks_pub_a_next[] =
    "-----BEGIN PUBLIC KEY-----\n"
    "MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDCwzvKTeHL7cy8Wq9Ai/drA8os\n"
    "Ta7PoJevA3HaOfrIVgYzl3nIGtzc3mVHGJz2qZgBeH1jYxilCFTa6WS4eNVUZuIj\n"
    "YUPJApfVC0ThkIoxkhlBnlyXaBotpxP1DHydWkC9WkzHecDDpBGFq9wjEXSioFR8\n"
    "xWhntipn+PbSUYyW5QIDAQAB\n"
    "-----END PUBLIC KEY-----\n"
    ;

static struct {
	struct event_base	*base;
	struct sockaddr_in	 sin;
	struct conf		*conf;
	char			*out;	/* what is left to send */
	size_t			 outlen;
	int			 done;
	int			 verbose;	/* FUZZ_VERBOSE: print the log */
} ks;

static void	ks_setup(void);
static void	ks_log_hook(enum log_level, const char *, size_t, void *);
static void	ks_client_cb(evutil_socket_t, short, void *);
static char	*ks_expand(const uint8_t *, size_t, size_t *);

/* Every ops log line: one line, printable, values escaped. */
static void
ks_log_hook(enum log_level level, const char *line, size_t len, void *arg)
{
	size_t	i;

	for (i = 0; i < len; i++)
		FUZZ_CHECK(line[i] >= 0x20 && line[i] < 0x7f);
	if (ks.verbose)
		fprintf(stderr, "%.*s\n", (int)len, line);
}

/* The server: configuration, store, guard and listener, once. */
static void
ks_setup(void)
{
	char		*conf_path, *store, *text, *cause = NULL, *token = NULL;
	const char	*addr;
	int		 n;

	signal(SIGPIPE, SIG_IGN);
	ks.verbose = getenv("FUZZ_VERBOSE") != NULL;
	store = fuzz_path("store");
	if (mkdir(store, 0700) == -1)
		abort();
	conf_path = fuzz_path("iaxkey-server.conf");
	n = xasprintf(&text, "[http]\nlisten = 127.0.0.1:0\n"
	    "rate_per_min = 0\nmax_body = 16384\nmax_headers = 8192\n"
	    "timeout_s = %d\n[store]\ndir = %s\n[log]\nsyslog = no\n"
	    "level = error\n", KS_WAIT_S, store);
	fuzz_write(conf_path, text, n, 0600);
	free(text);
	if ((ks.conf = conf_load(conf_path, iaxkey_server_conf_spec,
	    &cause)) == NULL) {
		fprintf(stderr, "%s\n", cause);
		abort();
	}
	free(conf_path);
	xasprintf(&text, "%s/node-a.pub", store);
	fuzz_write(text, ks_pub_a, sizeof ks_pub_a - 1, 0644);
	free(text);
	xasprintf(&text, "%s/next", store);
	if (mkdir(text, 0755) == -1)
		abort();
	free(text);
	xasprintf(&text, "%s/next/node-a.pub", store);
	fuzz_write(text, ks_pub_a_next, sizeof ks_pub_a_next - 1, 0644);
	free(text);
	free(store);
	if (log_open("iaxkey-server", 0, NULL, 0, &cause) == -1)
		abort();
	log_set_hook(ks_log_hook, NULL);
	api_init(ks.conf);
	if ((ks.base = event_base_new()) == NULL ||
	    keys_init(ks.conf, &cause) == -1 ||
	    nodeauth_token_add(ks.conf, "node-b", &token, &cause) == -1 ||
	    guard_init(ks.conf) == -1 ||
	    conn_init(ks.base, ks.conf, &cause) == -1) {
		fprintf(stderr, "key server: %s\n", cause);
		abort();
	}
	free(token);
	addr = conn_addr();
	memset(&ks.sin, 0, sizeof ks.sin);
	ks.sin.sin_family = AF_INET;
	ks.sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ks.sin.sin_port = htons((uint16_t)strtol(strrchr(addr, ':') + 1,
	    NULL, 10));
}

/* The input with every "@NOW@" replaced by the time; caller frees. */
static char *
ks_expand(const uint8_t *data, size_t size, size_t *len)
{
	static const char	 mark[] = "@NOW@";
	const size_t		 mlen = sizeof mark - 1;
	char			 now[24], *out;
	size_t			 i, o = 0, nlen;

	nlen = snprintf(now, sizeof now, "%lld", (long long)time(NULL));
	out = xmalloc(size / mlen * nlen + size + 1);
	for (i = 0; i < size; ) {
		if (size - i >= mlen && memcmp(data + i, mark, mlen) == 0) {
			memcpy(out + o, now, nlen);
			o += nlen;
			i += mlen;
		} else
			out[o++] = data[i++];
	}
	*len = o;
	return (out);
}

/* The client side: send, shut the write side, read until EOF. */
static void
ks_client_cb(evutil_socket_t fd, short what, void *arg)
{
	struct event	*ev = arg;
	char		 buf[4096];
	ssize_t		 n;

	if (what & EV_TIMEOUT) {
		ks.done = 1;
		return;
	}
	if (what & EV_WRITE) {
		n = ks.outlen > 0 ? write(fd, ks.out, ks.outlen) : 0;
		if (n > 0) {
			memmove(ks.out, ks.out + n, ks.outlen - n);
			ks.outlen -= n;
		} else if (n == -1 && errno != EAGAIN && errno != EINTR)
			ks.outlen = 0;
		if (ks.outlen == 0) {
			shutdown(fd, SHUT_WR);
			event_del(ev);
			event_assign(ev, ks.base, fd, EV_READ | EV_PERSIST,
			    ks_client_cb, ev);
			event_add(ev, NULL);
		}
	}
	if (what & EV_READ) {
		while ((n = read(fd, buf, sizeof buf)) > 0)
			;
		if (n == 0 || (n == -1 && errno != EAGAIN && errno != EINTR))
			ks.done = 1;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct timeval	 tv = { KS_WAIT_S * 2, 0 };
	struct event	*ev, *timer;
	int		 fd;

	if (ks.base == NULL)
		ks_setup();
	ks.out = ks_expand(data, size, &ks.outlen);
	ks.done = 0;
	/*
	 * Non-blocking: libFuzzer's timers interrupt a blocking connect.
	 * The first write waits for the connection to complete.
	 */
	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0)) == -1 || (connect(fd, (struct sockaddr *)&ks.sin,
	    sizeof ks.sin) == -1 && errno != EINPROGRESS && errno != EINTR)) {
		perror("connect");
		abort();
	}
	ev = event_new(ks.base, -1, 0, NULL, NULL);
	timer = evtimer_new(ks.base, ks_client_cb, NULL);
	event_assign(ev, ks.base, fd, EV_READ | EV_WRITE | EV_PERSIST,
	    ks_client_cb, ev);
	event_add(ev, NULL);
	evtimer_add(timer, &tv);
	while (!ks.done)
		event_base_loop(ks.base, EVLOOP_ONCE);
	event_free(ev);
	event_free(timer);
	close(fd);
	/* The server closed first, or now sees our close. */
	event_base_loop(ks.base, EVLOOP_NONBLOCK);
	free(ks.out);
	ks.out = NULL;
	return (0);
}
