/*
 * session: one FastAGI session, an explicit state machine over one socket
 * (asterisk.md §1).
 *
 *   S_ENV ──blank line──► handler start ──► S_CMD ◄──► S_WAIT
 *                                             │  ▲
 *                                     "520-"  ▼  │ "520 "
 *                                           S_USAGE
 *   any state ──finish, queue empty──► S_CLOSING ──EOF──► gone
 *
 * Exactly one command is in flight; handlers queue commands with
 * session_cmd() and get the reply in their callback.  A bare HANGUP is
 * accepted in every state; after it only dead-safe commands are sent, and
 * the others are answered locally with a 511 reply.  Every session has a
 * deadline for its environment, for each command and for its whole life.
 */
#include <sys/socket.h>

#include <errno.h>
#include <unistd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "agi/iaxkeyd.h"
#include "lib/addr.h"
#include "lib/line.h"
#include "lib/xmalloc.h"

/*
 * Plain reads and writes on the socket: a session costs one read per
 * reply and one write per command.  The input buffer grows to hold one
 * line at most and is released while the session waits; the output
 * buffer is used only when the socket refuses part of a command.
 */
#define SESSION_IN_MIN		1024
#define SESSION_IN_MAX		(AGI_REPLY_LINE_MAX + 64)
#define SESSION_OUT_MAX		(64 * 1024)
#define SESSION_LINGER_MS	2000	/* S_CLOSING: wait this long for EOF */

struct session_cmd {
	TAILQ_ENTRY(session_cmd) entry;
	session_cb		 cb;
	void			*arg;
	void			(*argfree)(void *);	/* if never answered */
	int			 dead_safe;
	size_t			 len;
	char			 line[];	/* with '\n' */
};

static const char *const session_state_names[S_MAX] = {
	"env", "cmd", "usage", "wait", "closing"
};

static uint64_t	session_next_id;

static void	session_enter(struct session *, enum session_state);
static void	session_arm(struct session *);
static void	session_read_cb(int, short, void *);
static void	session_write_cb(int, short, void *);
static void	session_io_error(struct session *, int);
static void	session_send(struct session *, const char *, size_t);
static void	session_timer_cb(int, short, void *);
static void	session_line(struct session *, char *, size_t);
static void	session_env_line(struct session *, char *, size_t);
static void	session_route(struct session *);
static void	session_start_handler(struct session *);
static void	session_reply(struct session *, char *);
static void	session_pump(struct session *);
static void	session_linger(struct session *);
static void	session_log_end(struct session *, const char *);
static void	session_free_queue(struct session *);
static int	session_vcmd(struct session *, session_cb, void *,
		    void (*)(void *), const char *, va_list)
		    __attribute__((format(printf, 5, 0)));
static int	session_cmdf(struct session *, session_cb, void *,
		    void (*)(void *), const char *, ...)
		    __attribute__((format(printf, 5, 6)));

/* Name of a state for logs and the console. */
const char *
session_state_name(enum session_state state)
{
	if (state >= S_MAX)
		return ("unknown");
	return (session_state_names[state]);
}

/* Start a session on an accepted socket. */
struct session *
session_new(int fd, const struct sockaddr *sa, socklen_t salen)
{
	/* fd is non-blocking and close-on-exec (accept4 in the listener). */
	struct session	*s;

	s = xcalloc(1, sizeof *s);
	s->id = ++session_next_id;
	s->refs = 1;
	s->t_start = now_ms();
	s->line_max = AGI_LINE_MAX_OLD;
	TAILQ_INIT(&s->queue);
	agi_env_init(&s->env);

	addr_format(sa, salen, s->peer, sizeof s->peer);

	s->fd = fd;
	s->rev = event_new(ikd->base, fd, EV_READ | EV_PERSIST,
	    session_read_cb, s);
	s->wev = event_new(ikd->base, fd, EV_WRITE, session_write_cb, s);
	s->timer = evtimer_new(ikd->base, session_timer_cb, s);
	if (s->rev == NULL || s->wev == NULL || s->timer == NULL ||
	    event_add(s->rev, NULL) == -1)
		fatalx("cannot add session events");
	session_enter(s, S_ENV);
	if (log_enabled(LOG_L_DEBUG)) {
		struct logline l;

		lf_begin(&l, LOG_L_DEBUG, "session_start");
		lf_hex(&l, "sess", s->id);
		lf_str(&l, "peer", s->peer);
		lf_emit(&l);
	}
	return (s);
}

/* Take a reference. */
void
session_ref(struct session *s)
{
	s->refs++;
}

/* Drop a reference; the last one frees the session. */
void
session_unref(struct session *s)
{
	if (--s->refs > 0)
		return;
	if (!(s->flags & SESSION_GONE))
		fatalx("session %llu freed while open",
		    (unsigned long long)s->id);
	agi_env_clear(&s->env);
	free(s->in);
	free(s->out);
	free(s->reason);
	free(s);
}

/* 1 when Asterisk reported a hangup. */
int
session_hungup(const struct session *s)
{
	return ((s->flags & SESSION_HUNGUP) != 0);
}

/* Enter a state and rearm the deadline. */
static void
session_enter(struct session *s, enum session_state state)
{
	if (s->state != state && log_enabled(LOG_L_DEBUG)) {
		struct logline l;

		lf_begin(&l, LOG_L_DEBUG, "session_state");
		lf_hex(&l, "sess", s->id);
		lf_str(&l, "from", session_state_name(s->state));
		lf_str(&l, "to", session_state_name(state));
		lf_emit(&l);
	}
	s->state = state;
	s->t_state = now_ms();
	session_arm(s);
}

/* Arm the timer for the earlier of the state's and the session's deadline. */
static void
session_arm(struct session *s)
{
	const struct server_limits	*lim = server_limits();
	uint64_t			 now = now_ms(), end, state_end;
	struct timeval			 tv;

	end = s->t_start + lim->session_timeout_ms;
	switch (s->state) {
	case S_ENV:
		state_end = s->t_start + lim->env_timeout_ms;
		break;
	case S_CMD:
	case S_USAGE:
		state_end = s->t_state + lim->command_timeout_ms;
		break;
	case S_CLOSING:
		state_end = s->t_state + SESSION_LINGER_MS;
		end = state_end;	/* linger even past the session's end */
		break;
	default:
		state_end = end;
		break;
	}
	if (state_end < end)
		end = state_end;
	end = end > now ? end - now : 0;
	tv.tv_sec = end / 1000;
	tv.tv_usec = (end % 1000) * 1000;
	evtimer_add(s->timer, &tv);
}

/* A deadline passed. */
static void
session_timer_cb(int fd, short events, void *arg)
{
	struct session	*s = arg;
	const char	*why;

	if (s->state == S_CLOSING) {
		session_close(s, NULL);
		return;
	}
	server_stats()->timeouts++;
	if (now_ms() >= s->t_start + server_limits()->session_timeout_ms)
		why = "session timeout";
	else if (s->state == S_ENV)
		why = "env timeout";
	else
		why = "command timeout";
	session_close(s, why);
}

/* Bytes arrived (or EOF): read once, handle every complete line. */
static void
session_read_cb(int fd, short events, void *arg)
{
	struct session	*s = arg;
	const char	*cause;
	size_t		 len, used, off = 0, max;
	ssize_t		 n;
	int		 rc;

	if (s->incap - s->inlen < SESSION_IN_MIN / 2 &&
	    s->incap < SESSION_IN_MAX) {
		s->incap = s->incap == 0 ? SESSION_IN_MIN : s->incap * 2;
		if (s->incap > SESSION_IN_MAX)
			s->incap = SESSION_IN_MAX;
		s->in = xrealloc(s->in, s->incap);
	}
	n = read(fd, s->in + s->inlen, s->incap - s->inlen);
	if (n == -1) {
		if (errno != EAGAIN && errno != EINTR)
			session_io_error(s, errno);
		return;
	}
	if (n == 0) {
		if (s->state == S_CLOSING)
			session_close(s, NULL);
		else
			session_close(s, session_hungup(s) ? "hangup" :
			    "closed by asterisk");
		return;
	}
	if (s->state == S_CLOSING)
		return;			/* the final HANGUP: not parsed */
	s->inlen += n;

	session_ref(s);
	while (!(s->flags & SESSION_GONE) && s->state != S_CLOSING) {
		max = s->state == S_ENV ? AGI_ENV_LINE_MAX : AGI_REPLY_LINE_MAX;
		rc = line_next(s->in + off, s->inlen - off, max, &len, &used,
		    &cause);
		if (rc == 0)
			break;
		if (rc == -1) {
			server_stats()->protocol_errors++;
			session_close(s, cause);
			break;
		}
		session_line(s, s->in + off, len);
		off += used;
	}
	if (!(s->flags & SESSION_GONE)) {
		s->inlen -= off;
		if (s->inlen > 0 && off > 0)
			memmove(s->in, s->in + off, s->inlen);
		if (s->inlen == 0 || s->state == S_CLOSING) {
			/* Waiting sessions keep no buffer. */
			free(s->in);
			s->in = NULL;
			s->inlen = s->incap = 0;
		}
	}
	session_unref(s);
}

/* A read or write failed. */
static void
session_io_error(struct session *s, int err)
{
	char	buf[128];

	if (s->state == S_CLOSING) {
		session_close(s, NULL);
		return;
	}
	/* Asterisk closing with our command unread resets. */
	if (err == ECONNRESET || err == EPIPE) {
		session_close(s, session_hungup(s) ? "hangup" :
		    "reset by asterisk");
		return;
	}
	snprintf(buf, sizeof buf, "socket error: %s", strerror(err));
	session_close(s, buf);
}

/* Write at once when nothing waits; keep what the socket refuses. */
static void
session_send(struct session *s, const char *buf, size_t len)
{
	ssize_t	n = 0;

	if (s->outlen == 0) {
		n = write(s->fd, buf, len);
		if (n == -1) {
			if (errno != EAGAIN && errno != EINTR) {
				session_io_error(s, errno);
				return;
			}
			n = 0;
		}
		if ((size_t)n == len)
			return;
	}
	if (s->outlen + len - n > SESSION_OUT_MAX) {
		session_close(s, "output overflow");
		return;
	}
	if (s->outlen + len - n > s->outcap) {
		s->outcap = s->outlen + len - n;
		s->out = xrealloc(s->out, s->outcap);
	}
	memcpy(s->out + s->outlen, buf + n, len - n);
	s->outlen += len - n;
	event_add(s->wev, NULL);
}

/* The socket takes more output; in S_CLOSING, then shut our side. */
static void
session_write_cb(int fd, short events, void *arg)
{
	struct session	*s = arg;
	ssize_t		 n;

	n = write(fd, s->out, s->outlen);
	if (n == -1) {
		if (errno != EAGAIN && errno != EINTR) {
			session_io_error(s, errno);
			return;
		}
		n = 0;
	}
	s->outlen -= n;
	memmove(s->out, s->out + n, s->outlen);
	if (s->outlen > 0) {
		event_add(s->wev, NULL);
		return;
	}
	free(s->out);
	s->out = NULL;
	s->outcap = 0;
	if (s->state == S_CLOSING)
		shutdown(fd, SHUT_WR);
}

/* One line from Asterisk. */
static void
session_line(struct session *s, char *line, size_t len)
{
	if (s->state == S_CLOSING)
		return;			/* the final HANGUP, or leftovers */
	if (s->state != S_ENV && strcmp(line, "HANGUP") == 0) {
		if (!session_hungup(s))
			log_debug("session %012llx: HANGUP",
			    (unsigned long long)s->id);
		s->flags |= SESSION_HUNGUP;
		return;
	}
	switch (s->state) {
	case S_ENV:
		session_env_line(s, line, len);
		break;
	case S_CMD:
		if (strncmp(line, "100 ", 4) == 0)
			break;		/* GOSUB progress; the 200 follows */
		if (strncmp(line, "520-", 4) == 0) {
			session_enter(s, S_USAGE);
			break;
		}
		session_reply(s, line);
		break;
	case S_USAGE:
		if (strncmp(line, "520 ", 4) == 0)
			session_reply(s, line);
		break;
	default:
		/* Asterisk only speaks when asked. */
		server_stats()->protocol_errors++;
		session_close(s, "protocol: unexpected line");
		break;
	}
}

/* One line of the environment block. */
static void
session_env_line(struct session *s, char *line, size_t len)
{
	const char	*cause;
	int		 rc;

	if (len == 0) {
		session_route(s);
		return;
	}
	rc = agi_env_add(&s->env, line, len, &cause);
	if (rc == -2 && s->env_error == NULL)
		s->env_error = cause;
	else if (rc == -1) {
		server_stats()->protocol_errors++;
		session_close(s, cause);
	}
}

/* The environment is complete: pick the handler and start it. */
static void
session_route(struct session *s)
{
	const char	*cause;

	if (agi_env_finish(&s->env, &cause) == -1) {
		server_stats()->protocol_errors++;
		session_close(s, cause);
		return;
	}
	s->line_max = agi_version_line_max(agi_env_get(&s->env,
	    "agi_version"));
	session_enter(s, S_WAIT);
	/* A reload left pending needs a channel: this one, first. */
	if (s->env_error == NULL && reload_carry(s, session_start_handler))
		return;
	session_start_handler(s);
}

/* Start the handler the script names. */
static void
session_start_handler(struct session *s)
{
	const char	*script;

	if (s->flags & (SESSION_GONE | SESSION_FINISH))
		return;
	if (s->env_error != NULL) {
		static const char *const names[] = { "IAXKEY_STATUS",
		    "IAXKEY_REASON" };
		static const char *const values[] = { "ERROR",
		    "invalid AGI environment" };

		session_setvars(s, 2, names, values);
		session_finish(s, "ERROR", s->env_error);
		return;
	}
	script = agi_env_get(&s->env, "agi_network_script");
	if (script == NULL)
		script = "";
	if (agi_script_split(script, s->script, sizeof s->script,
	    &s->query) == -1 || (s->route = route_find(s->script)) == NULL) {
		route_unknown(s);
		return;
	}
	s->route->start(s);
}

/* The reply to the command in flight. */
static void
session_reply(struct session *s, char *line)
{
	struct session_cmd	*cmd = s->inflight;
	struct agi_reply	 reply;

	if (agi_reply_parse(line, &reply) == -1) {
		server_stats()->protocol_errors++;
		session_close(s, "protocol: bad reply");
		return;
	}
	s->inflight = NULL;
	s->cmds++;
	session_enter(s, S_WAIT);
	if (reply.code != 200)
		/* The words before the first quote: never a value (secret). */
		log_debug("session %012llx: %.*s -> %d",
		    (unsigned long long)s->id, (int)strcspn(cmd->line, "\"\n"),
		    cmd->line, reply.code);
	session_ref(s);
	if (cmd->cb != NULL)
		cmd->cb(s, &reply, cmd->arg);
	free(cmd);
	session_pump(s);
	session_unref(s);
}

/* Send the next queued command, or close when finished. */
static void
session_pump(struct session *s)
{
	struct session_cmd	*cmd;
	struct agi_reply	 dead;
	char			 text[] = "511 Command Not Permitted on a dead "
				    "channel or intercept routine";

	while (!(s->flags & SESSION_GONE) && s->inflight == NULL &&
	    s->state != S_ENV && s->state != S_CLOSING) {
		if ((cmd = TAILQ_FIRST(&s->queue)) == NULL) {
			if (s->flags & SESSION_FINISH)
				session_linger(s);
			return;
		}
		TAILQ_REMOVE(&s->queue, cmd, entry);
		if (session_hungup(s) && !cmd->dead_safe) {
			/* Asterisk would refuse it: answer locally. */
			agi_reply_parse(text, &dead);
			session_ref(s);
			if (cmd->cb != NULL)
				cmd->cb(s, &dead, cmd->arg);
			free(cmd);
			session_unref(s);
			continue;
		}
		s->inflight = cmd;
		session_enter(s, S_CMD);
		session_send(s, cmd->line, cmd->len);
	}
}

/* Queue one command; see iaxkeyd.h. */
int
session_cmd(struct session *s, session_cb cb, void *arg, const char *fmt, ...)
{
	va_list	ap;
	int	rc;

	va_start(ap, fmt);
	rc = session_vcmd(s, cb, arg, NULL, fmt, ap);
	va_end(ap);
	return (rc);
}

/* Queue one command; argfree frees arg if the reply never comes. */
static int
session_vcmd(struct session *s, session_cb cb, void *arg,
    void (*argfree)(void *), const char *fmt, va_list ap)
{
	struct session_cmd	*cmd;
	char			 buf[AGI_LINE_MAX_NEW + 2];
	int			 n;

	if (s->flags & (SESSION_GONE | SESSION_FINISH))
		return (-1);
	n = vsnprintf(buf, sizeof buf, fmt, ap);
	if (n < 0 || (size_t)n > s->line_max || strpbrk(buf, "\r\n") != NULL) {
		log_warnx("session %012llx: command refused (%d bytes, "
		    "limit %zu)", (unsigned long long)s->id, n, s->line_max);
		return (-1);
	}
	cmd = xmalloc(sizeof *cmd + n + 1);
	cmd->cb = cb;
	cmd->arg = arg;
	cmd->argfree = argfree;
	memcpy(cmd->line, buf, n);
	cmd->line[n] = '\n';
	cmd->len = n + 1;
	cmd->line[n] = '\0';
	cmd->dead_safe = agi_cmd_dead_safe(cmd->line);
	cmd->line[n] = '\n';
	TAILQ_INSERT_TAIL(&s->queue, cmd, entry);
	session_pump(s);
	return (0);
}

/* Several variables whose MSet may need to be redone one by one. */
struct session_vars {
	int	 n;
	char	*names[SESSION_VARS_MAX];
	char	*values[SESSION_VARS_MAX];
};

static int	session_mset_missing;	/* MSet answered -2 once */

/* Queue one command with an owned argument. */
static int
session_cmdf(struct session *s, session_cb cb, void *arg,
    void (*argfree)(void *), const char *fmt, ...)
{
	va_list	ap;
	int	rc;

	va_start(ap, fmt);
	rc = session_vcmd(s, cb, arg, argfree, fmt, ap);
	va_end(ap);
	return (rc);
}

/* Free a saved variable list. */
static void
session_vars_free(void *arg)
{
	struct session_vars	*v = arg;
	int			 i;

	for (i = 0; i < v->n; i++) {
		free(v->names[i]);
		free(v->values[i]);
	}
	free(v);
}

/* MSet answered: without the application, set the variables one by one. */
static void
session_mset_cb(struct session *s, const struct agi_reply *r, void *arg)
{
	struct session_vars	*v = arg;
	struct session_cmd	*cmd;
	char			 q[AGI_LINE_MAX_NEW + 1];
	int			 i, n;

	if (r->code != 200 || r->result == -2) {
		if (!session_mset_missing)
			log_warnx("EXEC MSet failed (%d, result %ld): setting "
			    "variables one per command from now on", r->code,
			    r->result);
		session_mset_missing = 1;
		/* Ahead of what was queued after them, in order. */
		for (i = v->n - 1; i >= 0; i--) {
			if (agi_quote(q, sizeof q, v->values[i]) == -1)
				continue;
			n = snprintf(NULL, 0, "SET VARIABLE %s %s",
			    v->names[i], q);
			if ((size_t)n > s->line_max)
				continue;
			cmd = xmalloc(sizeof *cmd + n + 1);
			cmd->cb = NULL;
			cmd->arg = NULL;
			cmd->argfree = NULL;
			snprintf(cmd->line, n + 1, "SET VARIABLE %s %s",
			    v->names[i], q);
			cmd->line[n] = '\n';
			cmd->len = n + 1;
			cmd->dead_safe = 1;
			TAILQ_INSERT_HEAD(&s->queue, cmd, entry);
		}
	}
	session_vars_free(v);
}

/*
 * Queue n variables: one EXEC MSet when every value can travel in it, else
 * one SET VARIABLE each.  Fewer round trips per call matter: Asterisk runs
 * one command per round trip (asterisk.md §1.8).
 */
int
session_setvars(struct session *s, int n, const char *const *names,
    const char *const *values)
{
	struct session_vars	*v;
	char			 data[AGI_LINE_MAX_NEW + 1];
	char			 q[AGI_LINE_MAX_NEW + 1];
	int			 i, rc = 0;

	if (n > 1 && n <= SESSION_VARS_MAX && !session_mset_missing &&
	    agi_mset_data(data, sizeof data, n, names, values) != -1 &&
	    agi_quote(q, sizeof q, data) != -1 &&
	    strlen(q) + sizeof "EXEC MSet " <= s->line_max + 1) {
		v = xcalloc(1, sizeof *v);
		for (i = 0; i < n; i++) {
			v->names[i] = xstrdup(names[i]);
			v->values[i] = xstrdup(values[i]);
		}
		v->n = n;
		if (session_cmdf(s, session_mset_cb, v, session_vars_free,
		    "EXEC MSet %s", q) == 0)
			return (0);
		session_vars_free(v);
	}
	for (i = 0; i < n; i++) {
		if (session_setvar(s, names[i], values[i]) == -1)
			rc = -1;
	}
	return (rc);
}

/* Queue SET VARIABLE with the value quoted for Asterisk's tokenizer. */
int
session_setvar(struct session *s, const char *name, const char *value)
{
	char	q[AGI_LINE_MAX_NEW + 1];

	if (agi_quote(q, sizeof q, value) == -1) {
		log_warnx("session %012llx: value of %s not sendable",
		    (unsigned long long)s->id, name);
		return (-1);
	}
	return (session_cmd(s, NULL, NULL, "SET VARIABLE %s %s", name, q));
}

/* Queue nothing more: close once the queue has drained. */
void
session_finish(struct session *s, const char *status, const char *reason)
{
	if (s->flags & (SESSION_GONE | SESSION_FINISH))
		return;
	s->flags |= SESSION_FINISH;
	s->status = status;
	if (reason != NULL) {
		free(s->reason);
		s->reason = xstrdup(reason);
	}
	session_pump(s);
}

/*
 * All done: log the end, shut the write side once the output has gone,
 * and wait briefly for Asterisk's final HANGUP and EOF.
 */
static void
session_linger(struct session *s)
{
	session_log_end(s, s->reason != NULL ? s->reason : "done");
	session_enter(s, S_CLOSING);
	server_session_done(s);
	if (s->outlen == 0)
		shutdown(s->fd, SHUT_WR);
}

/* Write the session_end event. */
static void
session_log_end(struct session *s, const char *reason)
{
	struct logline	l;
	uint64_t	ms = now_ms() - s->t_start;

	server_stats()->ended++;
	lf_begin(&l, LOG_L_INFO, "session_end");
	lf_hex(&l, "sess", s->id);
	lf_str(&l, "uniqueid", agi_env_get(&s->env, "agi_uniqueid"));
	lf_str(&l, "channel", agi_env_get(&s->env, "agi_channel"));
	lf_str(&l, "script", s->script[0] != '\0' ? s->script : NULL);
	lf_str(&l, "status", s->status != NULL ? s->status : "none");
	lf_int(&l, "cmds", s->cmds);
	lf_int(&l, "ms", ms);
	if (session_hungup(s))
		lf_str(&l, "hangup", "yes");
	lf_str(&l, "reason", reason);
	lf_emit(&l);
	stats_session_end(s->route != NULL ? s->route->name : NULL, s->status,
	    ms);
}

/* Free every queued command, answering none. */
static void
session_free_queue(struct session *s)
{
	struct session_cmd	*cmd;

	while ((cmd = TAILQ_FIRST(&s->queue)) != NULL) {
		TAILQ_REMOVE(&s->queue, cmd, entry);
		if (cmd->argfree != NULL)
			cmd->argfree(cmd->arg);
		free(cmd);
	}
	if (s->inflight != NULL && s->inflight->argfree != NULL)
		s->inflight->argfree(s->inflight->arg);
	free(s->inflight);
	s->inflight = NULL;
}

/*
 * End the session now: log (unless it already ended normally and is only
 * lingering, reason NULL), close the socket, drop the table's reference.
 */
void
session_close(struct session *s, const char *reason)
{
	if (s->flags & SESSION_GONE)
		return;
	if (s->state != S_CLOSING)
		session_log_end(s, reason != NULL ? reason : "closed");
	server_session_done(s);
	server_session_remove(s);
	reload_session_gone(s);
	s->flags |= SESSION_GONE;
	evtimer_del(s->timer);
	event_free(s->timer);
	s->timer = NULL;
	event_free(s->rev);
	event_free(s->wev);
	s->rev = s->wev = NULL;
	close(s->fd);
	s->fd = -1;
	session_free_queue(s);
	if (s->hfree != NULL)
		s->hfree(s->hdata);
	s->hdata = NULL;
	s->hfree = NULL;
	session_unref(s);
}
