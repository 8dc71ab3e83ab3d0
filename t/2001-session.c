/*
 * The AGI session state machine over a socketpair with its own loop: the
 * test plays Asterisk byte by byte and checks every reply form, HANGUP
 * placement, dead mode, line limits, deadlines and protocol errors.
 * Links the daemon's objects except main and the route table: the routes
 * here are the test's own.
 */
#include <sys/socket.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "agi/config.h"
#include "agi/iaxkeyd.h"
#include "t/lib/tap.h"

struct iaxkeyd		*ikd;
static struct iaxkeyd	 ikd_store;

#define NREPLIES	16
static struct {
	int	code, has_result;
	long	result;
	char	data[64];
	int	hungup;
} replies[NREPLIES];
static int		 nreplies;
static struct session	*cur;
static int		 asterisk;	/* the test's end of the socketpair */
static int		 big_rc[3];
static char		 logged[8192];

static void	record(struct session *, const struct agi_reply *, void *);
static void	h_forms(struct session *);
static void	h_long(struct session *);
static void	h_one(struct session *);
static void	h_quote(struct session *);
static void	start(const char *, const char *);
static void	say(const char *);
static int	hear(char *, size_t);
static void	run_until_gone(int);
static void	hook(enum log_level, const char *, size_t, void *);

static const struct route test_routes[] = {
	{ "forms", h_forms },
	{ "long", h_long },
	{ "one", h_one },
	{ "quote", h_quote },
};

/* Milliseconds on the monotonic clock. */
uint64_t
now_ms(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
}

/* The console (admin.c, linked) may reload; nothing to reload here. */
int
iaxkeyd_reload_config(void)
{
	return (0);
}

/* The test's route table. */
const struct route *
route_find(const char *path)
{
	size_t	i;

	for (i = 0; i < sizeof test_routes / sizeof test_routes[0]; i++)
		if (strcmp(test_routes[i].name, path) == 0)
			return (&test_routes[i]);
	return (NULL);
}

/* Unknown scripts finish at once. */
void
route_unknown(struct session *s)
{
	session_finish(s, "ERROR", "unknown script");
}

/* Remember the last session_end line. */
static void
hook(enum log_level level, const char *line, size_t len, void *arg)
{
	if (strstr(line, "event=session_end") != NULL) {
		memcpy(logged, line, len);
		logged[len] = '\0';
	}
}

/* Record a reply. */
static void
record(struct session *s, const struct agi_reply *r, void *arg)
{
	if (nreplies == NREPLIES)
		return;
	replies[nreplies].code = r->code;
	replies[nreplies].has_result = r->has_result;
	replies[nreplies].result = r->result;
	replies[nreplies].hungup = session_hungup(s);
	snprintf(replies[nreplies].data, sizeof replies[nreplies].data,
	    "%.*s", r->data != NULL ? (int)r->datalen : 0,
	    r->data != NULL ? r->data : "");
	nreplies++;
}

/* Six commands, one per reply form, then a command that is not dead-safe. */
static void
h_forms(struct session *s)
{
	int	i;

	for (i = 0; i < 6; i++)
		session_cmd(s, record, NULL, "GET VARIABLE V%d", i);
	session_cmd(s, record, NULL, "CHANNEL STATUS");
	session_cmd(s, record, NULL, "GET VARIABLE LAST");
	session_finish(s, "OK", NULL);
}

/* Lines at and past the command limit. */
static void
h_long(struct session *s)
{
	char	*v = malloc(AGI_LINE_MAX_NEW + 2);

	memset(v, 'x', AGI_LINE_MAX_NEW + 1);
	/* "NOOP " + n chars: exactly at the old limit, one past it. */
	v[AGI_LINE_MAX_OLD - 5] = '\0';
	big_rc[0] = session_cmd(s, NULL, NULL, "NOOP %s", v);
	v[AGI_LINE_MAX_OLD - 5] = 'x';
	v[AGI_LINE_MAX_OLD - 4] = '\0';
	big_rc[1] = session_cmd(s, NULL, NULL, "NOOP %s", v);
	v[AGI_LINE_MAX_OLD - 4] = 'x';
	v[AGI_LINE_MAX_NEW - 5] = '\0';
	big_rc[2] = session_cmd(s, NULL, NULL, "NOOP %s", v);
	free(v);
	session_finish(s, "OK", NULL);
}

/* One command, then finish. */
static void
h_one(struct session *s)
{
	session_cmd(s, record, NULL, "NOOP one");
	session_finish(s, "OK", NULL);
}

/* A value that needs quoting, and one that can never be sent. */
static void
h_quote(struct session *s)
{
	big_rc[0] = session_setvar(s, "Q", "a \"b\" \\c");
	big_rc[1] = session_setvar(s, "BAD", "line1\nline2");
	session_finish(s, "OK", NULL);
}

/* Open a session with an env block naming script (and version). */
static void
start(const char *script, const char *version)
{
	struct sockaddr_storage	ss;
	int			fds[2];
	char			env[512];

	memset(replies, 0, sizeof replies);
	nreplies = 0;
	logged[0] = '\0';
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, fds) == -1)
		bail("socketpair: %s", strerror(errno));
	memset(&ss, 0, sizeof ss);
	ss.ss_family = AF_UNIX;
	evutil_make_socket_nonblocking(fds[0]);
	cur = session_new(fds[0], (struct sockaddr *)&ss, sizeof ss);
	server_session_add(cur);
	session_ref(cur);
	asterisk = fds[1];
	snprintf(env, sizeof env, "agi_network: yes\n"
	    "agi_network_script: %s\nagi_request: agi://127.0.0.1/%s\n"
	    "agi_version: %s\nagi_arg_1: x\n\n", script, script, version);
	say(env);
}

/* Asterisk writes. */
static void
say(const char *text)
{
	if (write(asterisk, text, strlen(text)) != (ssize_t)strlen(text))
		bail("write: %s", strerror(errno));
}

/*
 * Run the loop until the session wrote a whole line (returns 1) or shut
 * its write side (returns 0).
 */
static int
hear(char *buf, size_t size)
{
	struct pollfd	pfd = { asterisk, POLLIN, 0 };
	size_t		n = 0;
	ssize_t		r;

	for (;;) {
		while (poll(&pfd, 1, 0) == 1) {
			r = read(asterisk, buf + n, 1);
			if (r <= 0)
				return (0);
			if (buf[n] == '\n') {
				buf[n] = '\0';
				return (1);
			}
			if (++n == size - 1)
				bail("line too long from the session");
		}
		if (cur->flags & SESSION_GONE)
			return (0);
		event_base_loop(ikd->base, EVLOOP_ONCE);
	}
}

/*
 * Run the loop until the session is freed; with hangup, Asterisk first
 * ends the AGI as it does when the server has shut its side.
 */
static void
run_until_gone(int hangup)
{
	if (hangup)
		shutdown(asterisk, SHUT_WR);
	while (!(cur->flags & SESSION_GONE))
		event_base_loop(ikd->base, EVLOOP_ONCE);
	close(asterisk);
	session_unref(cur);
	cur = NULL;
}

int
main(void)
{
	char	 line[AGI_LINE_MAX_NEW + 8], path[] = "/tmp/iaxkeyd-2001.XXXXXX";
	char	*cause = NULL;
	int	 fd;

	plan_no_plan();
	signal(SIGPIPE, SIG_IGN);
	ikd = &ikd_store;
	if ((fd = mkstemp(path)) == -1)
		bail("mkstemp");
	dprintf(fd, "[agi]\nlisten = 127.0.0.1:0\ncommand_timeout_ms = 300\n"
	    "env_timeout_ms = 300\n[log]\nsyslog = no\nlevel = error\n");
	close(fd);
	ikd->conf = conf_load(path, iaxkeyd_conf_spec, &cause);
	unlink(path);
	if (ikd->conf == NULL)
		bail("conf: %s", cause);
	log_open("t", 0, NULL, 0, NULL);
	log_set_level(LOG_L_ERROR);
	log_set_hook(hook, NULL);
	ikd->base = event_base_new();
	if (server_init(ikd->base, ikd->conf, &cause) == -1)
		bail("server: %s", cause);

	/* Every reply form, HANGUP before a reply, dead mode. */
	start("forms", "22.6.0");
	ok(hear(line, sizeof line) && strcmp(line, "GET VARIABLE V0") == 0,
	    "first command sent after the env block: %s", line);
	say("200 result=1 (a) b)\n");
	ok(hear(line, sizeof line) && strcmp(line, "GET VARIABLE V1") == 0,
	    "one command at a time: the second only after the reply");
	say("100 result=0 Trying...\n");
	say("200 result=0 Gosub complete\n");
	ok1(hear(line, sizeof line) && strcmp(line, "GET VARIABLE V2") == 0);
	say("510 Invalid or unknown command\n");
	ok1(hear(line, sizeof line) && strcmp(line, "GET VARIABLE V3") == 0);
	say("520-Invalid command syntax.  Proper usage follows:\n");
	say("Returns <literal>0</literal> if <replaceable>x</replaceable>\n");
	say("200 result=1 (not a reply inside a usage block)\n");
	say("520 End of proper usage.\n");
	ok1(hear(line, sizeof line) && strcmp(line, "GET VARIABLE V4") == 0);
	say("HANGUP\n200 result=0\n");
	ok1(hear(line, sizeof line) && strcmp(line, "GET VARIABLE V5") == 0);
	say("511 Command Not Permitted on a dead channel or intercept "
	    "routine\n");
	ok(hear(line, sizeof line) && strcmp(line, "GET VARIABLE LAST") == 0,
	    "CHANNEL STATUS is not sent on a dead channel");
	say("200 result=1 (z)\n");
	ok(!hear(line, sizeof line), "write side shut after the last reply");
	say("HANGUP\n");
	run_until_gone(1);
	is_int(nreplies, 8, "eight replies delivered");
	ok1(replies[0].code == 200 && replies[0].result == 1);
	is_str(replies[0].data, "a) b", "data runs to the last ')'");
	ok(replies[1].code == 200 && replies[1].result == 0,
	    "100 skipped, the 200 delivered");
	is_int(replies[2].code, 510, "510 delivered");
	is_int(replies[3].code, 520, "520 usage block read to its end, once");
	ok(replies[4].code == 200 && replies[4].hungup,
	    "HANGUP before a reply: flag set, reply delivered");
	is_int(replies[5].code, 511, "511 delivered");
	is_int(replies[6].code, 511, "not dead-safe: answered 511 locally");
	is_str(replies[7].data, "z", "dead-safe command after it still runs");
	ok(strstr(logged, "status=OK cmds=7 ") != NULL &&
	    strstr(logged, "hangup=yes reason=done") != NULL,
	    "session_end: %s", logged);

	/* Line limits by release. */
	start("long", "18.20.0");
	ok(hear(line, sizeof line) && strlen(line) == AGI_LINE_MAX_OLD,
	    "old release: a %d-char command is sent", AGI_LINE_MAX_OLD);
	say("200 result=0\n");
	ok(!hear(line, sizeof line), "then nothing: the longer ones refused");
	run_until_gone(1);
	ok1(big_rc[0] == 0 && big_rc[1] == -1 && big_rc[2] == -1);
	start("long", "22.6.0");
	ok1(hear(line, sizeof line) && strlen(line) == AGI_LINE_MAX_OLD);
	say("200 result=0\n");
	ok1(hear(line, sizeof line) && strlen(line) == AGI_LINE_MAX_OLD + 1);
	say("200 result=0\n");
	ok(hear(line, sizeof line) && strlen(line) == AGI_LINE_MAX_NEW,
	    "22.6.0: long commands up to %d chars", AGI_LINE_MAX_NEW);
	say("200 result=0\n");
	run_until_gone(1);
	ok1(big_rc[0] == 0 && big_rc[1] == 0 && big_rc[2] == 0);

	/* Quoting. */
	start("quote", "22.6.0");
	ok(hear(line, sizeof line) &&
	    strcmp(line, "SET VARIABLE Q \"a \\\"b\\\" \\\\c\"") == 0,
	    "quoted for the tokenizer: %s", line);
	say("200 result=1\n");
	run_until_gone(1);
	ok(big_rc[0] == 0 && big_rc[1] == -1, "a value with LF is refused");

	/* Deadlines and protocol errors. */
	start("one", "22.6.0");
	ok1(hear(line, sizeof line));
	run_until_gone(0);
	ok(strstr(logged, "reason=\"command timeout\"") != NULL,
	    "no reply: command timeout (%s)", logged);

	start("one", "22.6.0");
	ok1(hear(line, sizeof line));
	say("agi_arg_2: injected\n");
	run_until_gone(0);
	ok(strstr(logged, "reason=\"protocol: bad reply\"") != NULL,
	    "a non-reply line: protocol error");

	start("one", "22.6.0");
	ok1(hear(line, sizeof line));
	say("200 result=0\n");
	ok1(!hear(line, sizeof line));
	say("200 result=0\n");
	run_until_gone(1);
	ok(strstr(logged, "reason=done") != NULL,
	    "lines after the end are ignored while lingering");

	start("one", "22.6.0");
	ok1(hear(line, sizeof line));
	run_until_gone(1);
	ok(strstr(logged, "reason=\"closed by asterisk\"") != NULL,
	    "Asterisk closing mid-command");

	start("nosuch", "22.6.0");
	ok(!hear(line, sizeof line), "unknown script (test route): no command");
	run_until_gone(1);

	is_int(server_active(), 0, "no session left active");
	server_free();
	event_base_free(ikd->base);
	conf_free(ikd->conf);
	log_set_hook(NULL, NULL);
	return (exit_status());
}
