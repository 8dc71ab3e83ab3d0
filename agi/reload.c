/*
 * reload: the coalescing module reloader shared by every handler.
 *
 * Every change that Asterisk must load bumps a generation
 * (reload_need); a session that made one waits (reload_wait) until a
 * reload that *started after* its change has succeeded.  One reload runs
 * at a time and covers every change made before it started, however many
 * sessions wait; changes made while it runs get the next one.  Generated
 * files are written right before a reload starts (the flush hooks), so a
 * burst of changes costs one write and one reload.
 *
 * A reload refused because another one runs in Asterisk (RELOADSTATUS
 * FAILURE, AMI "A reload is in progress", the CLI's "already in
 * progress") is retried with a doubling backoff, up to reload_retries
 * times; then the sessions it covered fail with RELOAD_FAILED and the
 * change stays pending for a later attempt.
 *
 * Backends: agi (EXEC Reload on the channel of a waiting session, then GET
 * VARIABLE RELOADSTATUS; a pending reload with nobody waiting is carried
 * out by the next session of any script before its handler starts), ami
 * (lib/ami), command (reload_command spawned, never waited on), none.
 */
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "agi/config.h"
#include "agi/iaxkeyd.h"
#include "lib/ami.h"
#include "lib/xmalloc.h"

#define RELOAD_OUTPUT_MAX	4096	/* reload_command output kept */
#define RELOAD_COOLDOWN_MS	5000	/* after retries ran out */
#define RELOAD_AMI_TIMEOUT_MS	10000
#define RELOAD_CMD_TIMEOUT_MS	30000

extern char **environ;

struct reload_waiter {
	TAILQ_ENTRY(reload_waiter) entry;
	struct session		*s;
	uint64_t		 gen;
	reload_cb		 cb;
	void			*arg;
};

static struct {
	int			 backend;	/* enum cfg_reload */
	int			 want;		/* configured; settles when idle */
	char			 name[16];	/* of backend, for the log */
	char			 want_name[16];
	int			 retries;
	int			 backoff_ms;
	uint64_t		 gen_next;	/* last change */
	uint64_t		 gen_done;	/* covered by a success */
	int			 pending;	/* modules of uncovered changes */
	TAILQ_HEAD(, reload_waiter) waiters;

	int			 running;
	uint64_t		 run_gen;	/* gen_next when it started */
	int			 run_modules;
	int			 attempts;
	uint64_t		 t_first;	/* first attempt, ms */
	uint64_t		 cooldown_until;
	struct session		*carrier;	/* agi backend */
	void			(*carry_cont)(struct session *);
	struct event		*backoff;
	struct event		*kick;		/* deferred reload_kick */

	/* ami backend */
	struct ami		*ami;
	int			 ami_left;	/* modules still to reload */
	int			 ami_failed;
	char			 ami_msg[128];

	/* command backend */
	pid_t			 child;
	struct bufferevent	*child_out;
	struct evbuffer		*child_buf;
	struct event		*sigchld;
	struct event		*child_timer;
	char			*command;

	int			(*flush[4])(char **);
	int			 nflush;
	struct reload_stats	 stats;
	int			 shutdown;
} rl;

static void	reload_settle(void);
static void	reload_kick(void);
static void	reload_kick_cb(int, short, void *);
static void	reload_start(void);
static void	reload_finish(int, int, const char *);
static void	reload_backoff_cb(int, short, void *);
static struct session *reload_pick_carrier(void);
static void	reload_agi_start(struct session *);
static void	reload_agi_exec_cb(struct session *, const struct agi_reply *,
		    void *);
static void	reload_agi_status_cb(struct session *,
		    const struct agi_reply *, void *);
static void	reload_ami_start(void);
static void	reload_ami_next(void);
static void	reload_ami_cb(void *, int, const char *);
static void	reload_cmd_start(void);
static void	reload_cmd_read_cb(struct bufferevent *, void *);
static void	reload_cmd_event_cb(struct bufferevent *, short, void *);
static void	reload_sigchld_cb(int, short, void *);
static void	reload_cmd_timeout_cb(int, short, void *);
static void	reload_cmd_done(int);
static const char *reload_modules_str(int, const char *);

/* Module names for a mask: "chan_iax2,res_crypto" with sep ",". */
static const char *
reload_modules_str(int modules, const char *sep)
{
	static char	buf[64];

	buf[0] = '\0';
	if (modules & RELOAD_CHAN_IAX2)
		strlcpy_(buf, "chan_iax2", sizeof buf);
	if (modules & RELOAD_RES_CRYPTO) {
		if (buf[0] != '\0')
			strlcpy_(buf + strlen(buf), sep,
			    sizeof buf - strlen(buf));
		strlcpy_(buf + strlen(buf), "res_crypto", sizeof buf -
		    strlen(buf));
	}
	return (buf);
}

/* Set up from the configuration. */
int
reload_init(const struct conf *conf, char **cause)
{
	TAILQ_INIT(&rl.waiters);
	rl.backoff = evtimer_new(ikd->base, reload_backoff_cb, NULL);
	rl.kick = event_new(ikd->base, -1, 0, reload_kick_cb, NULL);
	return (reload_apply(conf, cause));
}

/* Apply a (new) configuration. */
int
reload_apply(const struct conf *conf, char **cause)
{
	int		 backend = conf_enum(conf, "asterisk:reload");
	struct ami	*ami;

	rl.retries = conf_int(conf, "asterisk:reload_retries");
	rl.backoff_ms = conf_int(conf, "asterisk:reload_backoff_ms");
	free(rl.command);
	rl.command = xstrdup(conf_str(conf, "asterisk:reload_command"));
	if (backend == CFG_RELOAD_AMI && (rl.ami == NULL ||
	    conf_changed(ikd->conf, conf, "asterisk:ami_host") ||
	    conf_changed(ikd->conf, conf, "asterisk:ami_port") ||
	    conf_changed(ikd->conf, conf, "asterisk:ami_user") ||
	    conf_changed(ikd->conf, conf, "asterisk:ami_secret"))) {
		if (rl.running && rl.backend == CFG_RELOAD_AMI) {
			xasprintf(cause, "AMI settings change while a reload "
			    "runs; try again");
			return (-1);
		}
		ami = ami_new(ikd->base, conf_str(conf, "asterisk:ami_host"),
		    conf_int(conf, "asterisk:ami_port"),
		    conf_str(conf, "asterisk:ami_user"),
		    conf_str(conf, "asterisk:ami_secret"));
		if (ami == NULL) {
			xasprintf(cause, "asterisk:ami_host: must be a numeric "
			    "IPv4/IPv6 address or localhost");
			return (-1);
		}
		if (rl.ami != NULL)
			ami_free(rl.ami);
		rl.ami = ami;
	}
	rl.want = backend;
	strlcpy_(rl.want_name, conf_str(conf, "asterisk:reload"),
	    sizeof rl.want_name);
	reload_settle();
	return (0);
}

/*
 * Take the configured backend once no reload runs: a running reload
 * ends on the backend it started with, and the change applies from the
 * next one (reload_finish kicks, and every start settles first).
 */
static void
reload_settle(void)
{
	if (rl.running)
		return;
	rl.backend = rl.want;
	strlcpy_(rl.name, rl.want_name, sizeof rl.name);
	if (rl.backend != CFG_RELOAD_AMI && rl.ami != NULL) {
		ami_free(rl.ami);
		rl.ami = NULL;
	}
}

/* Free everything; waiters are dropped without callbacks (shutdown). */
void
reload_free(void)
{
	struct reload_waiter	*w;

	/* ami_free runs pending callbacks: nobody waits any more. */
	while ((w = TAILQ_FIRST(&rl.waiters)) != NULL) {
		TAILQ_REMOVE(&rl.waiters, w, entry);
		free(w);
	}
	rl.shutdown = 1;
	if (rl.ami != NULL)
		ami_free(rl.ami);
	rl.ami = NULL;
	if (rl.child > 0)
		kill(rl.child, SIGKILL);
	if (rl.child_out != NULL)
		bufferevent_free(rl.child_out);
	if (rl.child_buf != NULL)
		evbuffer_free(rl.child_buf);
	if (rl.sigchld != NULL)
		event_free(rl.sigchld);
	if (rl.child_timer != NULL)
		event_free(rl.child_timer);
	if (rl.backoff != NULL)
		event_free(rl.backoff);
	if (rl.kick != NULL)
		event_free(rl.kick);
	free(rl.command);
	memset(&rl, 0, sizeof rl);
}

/* Register a writer run right before each reload starts. */
void
reload_add_flush(int (*flush)(char **))
{
	if (rl.nflush == (int)(sizeof rl.flush / sizeof rl.flush[0]))
		fatalx("reload: too many flush hooks");
	rl.flush[rl.nflush++] = flush;
}

/*
 * A change that Asterisk must load; returns its generation.  The reload
 * itself starts on a later loop turn, after the caller has stored the
 * change, and covers every change made until then.
 */
uint64_t
reload_need(int modules)
{
	rl.pending |= modules;
	if (rl.kick != NULL)
		event_active(rl.kick, 0, 0);
	return (++rl.gen_next);
}

/* The deferred kick. */
static void
reload_kick_cb(int fd, short events, void *arg)
{
	reload_settle();
	reload_kick();
}

/* 1 when every change up to gen has been loaded. */
int
reload_covered(uint64_t gen)
{
	return (gen <= rl.gen_done);
}

/* Counters for the console. */
const struct reload_stats *
reload_stats(void)
{
	return (&rl.stats);
}

/* Wait until a reload covers gen; cb runs once (unless s closes first). */
void
reload_wait(struct session *s, uint64_t gen, reload_cb cb, void *arg)
{
	struct reload_waiter	*w;

	if (reload_covered(gen)) {
		cb(s, RELOAD_R_OK, NULL, arg);
		return;
	}
	w = xcalloc(1, sizeof *w);
	w->s = s;
	w->gen = gen;
	w->cb = cb;
	w->arg = arg;
	TAILQ_INSERT_TAIL(&rl.waiters, w, entry);
	event_active(rl.kick, 0, 0);	/* join others of this loop turn */
}

/*
 * A session starts (agi backend): if a reload is pending with nobody to
 * carry it, run it on this channel first, then call cont.  Returns 1 when
 * the session was taken, 0 when cont should run now.
 */
int
reload_carry(struct session *s, void (*cont)(struct session *))
{
	reload_settle();
	if (rl.backend != CFG_RELOAD_AGI || rl.running ||
	    rl.gen_next <= rl.gen_done || !TAILQ_EMPTY(&rl.waiters) ||
	    evtimer_pending(rl.backoff, NULL) || now_ms() < rl.cooldown_until)
		return (0);
	rl.carry_cont = cont;
	rl.carrier = s;
	reload_start();
	return (1);
}

/* The session stops waiting (a reload it carries goes on). */
void
reload_unwait(struct session *s)
{
	struct reload_waiter	*w, *next;

	TAILQ_FOREACH_SAFE(w, &rl.waiters, entry, next) {
		if (w->s == s) {
			TAILQ_REMOVE(&rl.waiters, w, entry);
			free(w);
		}
	}
}

/* A session is closing: forget its waiter; abort a reload it carried. */
void
reload_session_gone(struct session *s)
{
	reload_unwait(s);
	if (rl.running && rl.carrier == s) {
		rl.carrier = NULL;
		rl.carry_cont = NULL;
		/* The outcome is unknown: try again on another channel. */
		reload_finish(0, 1, "channel closed during reload");
	}
}

/* Start a reload when one is due and none runs. */
static void
reload_kick(void)
{
	struct reload_waiter	*w;
	int			 due = 0;

	if (rl.running || evtimer_pending(rl.backoff, NULL))
		return;
	TAILQ_FOREACH(w, &rl.waiters, entry) {
		if (!reload_covered(w->gen))
			due = 1;
	}
	/* Without waiters only backends that need no channel go ahead. */
	if (!due && (rl.backend == CFG_RELOAD_AGI || rl.gen_next <=
	    rl.gen_done || now_ms() < rl.cooldown_until))
		return;
	if (rl.backend == CFG_RELOAD_AGI &&
	    (rl.carrier = reload_pick_carrier()) == NULL)
		return;
	reload_start();
}

/* The oldest waiting session whose channel can run EXEC. */
static struct session *
reload_pick_carrier(void)
{
	struct reload_waiter	*w;

	TAILQ_FOREACH(w, &rl.waiters, entry) {
		if (!(w->s->flags & (SESSION_GONE | SESSION_FINISH)) &&
		    w->s->state == S_WAIT)
			return (w->s);
	}
	return (NULL);
}

/* Write the generated files, then ask Asterisk. */
static void
reload_start(void)
{
	char	*cause = NULL;
	int	 i;

	rl.running = 1;
	rl.run_gen = rl.gen_next;
	rl.run_modules = rl.pending;
	rl.pending = 0;
	if (rl.attempts++ == 0)
		rl.t_first = now_ms();
	for (i = 0; i < rl.nflush; i++) {
		if (rl.flush[i](&cause) == -1) {
			rl.stats.write_failures++;
			reload_finish(0, -1, cause);
			free(cause);
			return;
		}
	}
	switch (rl.backend) {
	case CFG_RELOAD_AGI:
		reload_agi_start(rl.carrier);
		break;
	case CFG_RELOAD_AMI:
		reload_ami_start();
		break;
	case CFG_RELOAD_COMMAND:
		reload_cmd_start();
		break;
	default:
		reload_finish(1, 0, NULL);
		break;
	}
}

/*
 * The attempt ended.  ok: wake the covered waiters.  retry 1: refused or
 * interrupted, try again after the backoff while attempts remain.  retry
 * -1: a generated file could not be written: fail the covered waiters at
 * once (the change stays pending).
 */
static void
reload_finish(int ok, int retry, const char *reason)
{
	struct reload_waiter	*w, *next;
	TAILQ_HEAD(, reload_waiter) woken;
	struct timeval		 tv;
	struct logline		 l;
	struct session		*carrier = rl.carrier;
	void			(*cont)(struct session *) = rl.carry_cont;
	int			 served = 0, ms, delay;
	enum reload_result	 res;

	rl.running = 0;
	rl.carrier = NULL;
	rl.carry_cont = NULL;
	if (!ok && retry == 1 && rl.attempts <= rl.retries) {
		rl.pending |= rl.run_modules;
		delay = rl.backoff_ms << (rl.attempts - 1 < 10 ?
		    rl.attempts - 1 : 10);
		tv.tv_sec = delay / 1000;
		tv.tv_usec = (delay % 1000) * 1000;
		evtimer_add(rl.backoff, &tv);
		log_debug("reload refused (%s), retry %d in %d ms", reason,
		    rl.attempts, delay);
		rl.stats.refused++;
		if (cont != NULL && carrier != NULL)
			cont(carrier);
		return;
	}
	ms = now_ms() - rl.t_first;
	if (ok) {
		rl.gen_done = rl.run_gen;
		rl.stats.ok++;
		res = RELOAD_R_OK;
	} else {
		rl.pending |= rl.run_modules;
		rl.stats.failed++;
		rl.cooldown_until = now_ms() + RELOAD_COOLDOWN_MS;
		res = retry == -1 ? RELOAD_R_WRITE : RELOAD_R_FAILED;
	}
	rl.stats.last_ok = ok;
	rl.stats.last_ms = ms;
	TAILQ_FOREACH(w, &rl.waiters, entry) {
		if (w->gen <= rl.run_gen)
			served++;
	}
	lf_begin(&l, ok ? LOG_L_INFO : LOG_L_WARN, "reload");
	lf_str(&l, "backend", rl.name);
	lf_str(&l, "modules", rl.run_modules != 0 ?
	    reload_modules_str(rl.run_modules, ",") : "none");
	lf_int(&l, "sessions", served);
	lf_int(&l, "attempts", rl.attempts);
	lf_int(&l, "ms", ms);
	lf_str(&l, "result", ok ? "ok" : res == RELOAD_R_WRITE ?
	    "write_failed" : "failed");
	lf_str(&l, "reason", reason);
	lf_emit(&l);
	/*
	 * Wake every waiter this attempt covered.  They leave the list
	 * first, and each session is held, so a callback may close any.
	 */
	TAILQ_INIT(&woken);
	TAILQ_FOREACH_SAFE(w, &rl.waiters, entry, next) {
		if (w->gen > rl.run_gen)
			continue;
		TAILQ_REMOVE(&rl.waiters, w, entry);
		TAILQ_INSERT_TAIL(&woken, w, entry);
		session_ref(w->s);
	}
	while ((w = TAILQ_FIRST(&woken)) != NULL) {
		TAILQ_REMOVE(&woken, w, entry);
		if (!(w->s->flags & SESSION_GONE))
			w->cb(w->s, res, reason, w->arg);
		session_unref(w->s);
		free(w);
	}
	rl.attempts = 0;
	if (cont != NULL && carrier != NULL)
		cont(carrier);
	/*
	 * Changes made meanwhile get the next reload, started from the loop
	 * rather than from here: the caller (a backend's completion) may
	 * still be releasing this attempt's state.
	 */
	if (rl.kick != NULL)
		event_active(rl.kick, 0, 0);
}

/* Backoff over: try again. */
static void
reload_backoff_cb(int fd, short events, void *arg)
{
	reload_settle();
	if (rl.backend == CFG_RELOAD_AGI) {
		if ((rl.carrier = reload_pick_carrier()) == NULL) {
			/* Nobody waits: the next session carries it. */
			rl.attempts = 0;
			return;
		}
	}
	reload_start();
}

/* agi: EXEC Reload on the carrier's channel. */
static void
reload_agi_start(struct session *s)
{
	if (session_cmd(s, reload_agi_exec_cb, NULL, "EXEC Reload \"%s\"",
	    reload_modules_str(rl.run_modules != 0 ? rl.run_modules :
	    RELOAD_CHAN_IAX2, ",")) == -1)
		reload_finish(0, 1, "cannot send EXEC Reload");
}

/* EXEC Reload answered: read RELOADSTATUS. */
static void
reload_agi_exec_cb(struct session *s, const struct agi_reply *r, void *arg)
{
	if (r->code != 200 || r->result == -2) {
		reload_finish(0, 0, r->code == 511 ? "dead channel" :
		    "Reload application missing (Asterisk older than "
		    "16.20/18.6/19.0/20.0?)");
		return;
	}
	if (session_cmd(s, reload_agi_status_cb, NULL,
	    "GET VARIABLE RELOADSTATUS") == -1)
		reload_finish(0, 1, "cannot send GET VARIABLE");
}

/* RELOADSTATUS: SUCCESS, or FAILURE when another reload ran. */
static void
reload_agi_status_cb(struct session *s, const struct agi_reply *r,
    void *arg)
{
	if (r->code == 200 && r->data != NULL && r->datalen == 7 &&
	    memcmp(r->data, "SUCCESS", 7) == 0)
		reload_finish(1, 0, NULL);
	else
		reload_finish(0, 1, "RELOADSTATUS=FAILURE");
}

/* ami: one Reload action per module, in turn. */
static void
reload_ami_start(void)
{
	rl.ami_left = rl.run_modules != 0 ? rl.run_modules : RELOAD_CHAN_IAX2;
	rl.ami_failed = 0;
	rl.ami_msg[0] = '\0';
	reload_ami_next();
}

/* Send the next module's Reload, or finish. */
static void
reload_ami_next(void)
{
	const char	*module;

	if (rl.ami_failed) {
		reload_finish(0, 1, rl.ami_msg);
		return;
	}
	if (rl.ami_left & RELOAD_CHAN_IAX2) {
		rl.ami_left &= ~RELOAD_CHAN_IAX2;
		module = "chan_iax2.so";
	} else if (rl.ami_left & RELOAD_RES_CRYPTO) {
		rl.ami_left &= ~RELOAD_RES_CRYPTO;
		module = "res_crypto.so";
	} else {
		reload_finish(1, 0, NULL);
		return;
	}
	if (ami_reload(rl.ami, module, RELOAD_AMI_TIMEOUT_MS, reload_ami_cb,
	    NULL) == -1)
		reload_finish(0, 0, "bad module name");
}

/* One AMI Reload answered. */
static void
reload_ami_cb(void *arg, int ok, const char *message)
{
	if (rl.shutdown)
		return;
	if (!ok) {
		rl.ami_failed = 1;
		strlcpy_(rl.ami_msg, message != NULL ? message : "error",
		    sizeof rl.ami_msg);
	}
	reload_ami_next();
}

/* command: spawn reload_command with {modules} replaced. */
static void
reload_cmd_start(void)
{
	char			*argv[32], *words, *p, *w, *out;
	const char		*mods;
	int			 argc = 0, pfd[2] = { -1, -1 }, quoted;
	posix_spawn_file_actions_t fa;
	struct timeval		 tv = { RELOAD_CMD_TIMEOUT_MS / 1000, 0 };

	mods = reload_modules_str(rl.run_modules != 0 ? rl.run_modules :
	    RELOAD_CHAN_IAX2, " ");
	/* Split on spaces; "double quotes" group; {modules} expands. */
	words = xmalloc(strlen(rl.command) * 2 + strlen(mods) * 8 + 16);
	out = words;
	for (p = rl.command; *p != '\0' && argc < 31;) {
		while (*p == ' ')
			p++;
		if (*p == '\0')
			break;
		w = out;
		quoted = 0;
		while (*p != '\0' && (quoted || *p != ' ')) {
			if (*p == '"') {
				quoted = !quoted;
				p++;
			} else if (strncmp(p, "{modules}", 9) == 0) {
				memcpy(out, mods, strlen(mods));
				out += strlen(mods);
				p += 9;
			} else
				*out++ = *p++;
		}
		*out++ = '\0';
		argv[argc++] = w;
	}
	argv[argc] = NULL;
	if (argc == 0 || pipe2(pfd, O_CLOEXEC) == -1) {
		free(words);
		reload_finish(0, 0, argc == 0 ? "empty reload_command" :
		    "pipe failed");
		return;
	}
	if (rl.sigchld == NULL) {
		rl.sigchld = evsignal_new(ikd->base, SIGCHLD, reload_sigchld_cb,
		    NULL);
		evsignal_add(rl.sigchld, NULL);
		rl.child_timer = evtimer_new(ikd->base, reload_cmd_timeout_cb,
		    NULL);
	}
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null",
	    O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, pfd[1], STDOUT_FILENO);
	posix_spawn_file_actions_adddup2(&fa, pfd[1], STDERR_FILENO);
	if (posix_spawnp(&rl.child, argv[0], &fa, NULL, argv, environ) != 0) {
		posix_spawn_file_actions_destroy(&fa);
		close(pfd[0]);
		close(pfd[1]);
		rl.child = 0;
		reload_finish(0, 0, "cannot run reload_command");
		free(words);
		return;
	}
	posix_spawn_file_actions_destroy(&fa);
	free(words);
	close(pfd[1]);
	evutil_make_socket_nonblocking(pfd[0]);
	rl.child_buf = evbuffer_new();
	rl.child_out = bufferevent_socket_new(ikd->base, pfd[0],
	    BEV_OPT_CLOSE_ON_FREE);
	bufferevent_setcb(rl.child_out, reload_cmd_read_cb, NULL,
	    reload_cmd_event_cb, NULL);
	bufferevent_enable(rl.child_out, EV_READ);
	evtimer_add(rl.child_timer, &tv);
}

/* Keep the first RELOAD_OUTPUT_MAX bytes of the command's output. */
static void
reload_cmd_read_cb(struct bufferevent *bev, void *arg)
{
	struct evbuffer	*in = bufferevent_get_input(bev);
	size_t		 room = RELOAD_OUTPUT_MAX -
			    evbuffer_get_length(rl.child_buf);
	size_t		 n = evbuffer_get_length(in);

	if (n > room)
		n = room;
	evbuffer_remove_buffer(in, rl.child_buf, n);
	evbuffer_drain(in, evbuffer_get_length(in));
}

/* The command's output ended. */
static void
reload_cmd_event_cb(struct bufferevent *bev, short events, void *arg)
{
	bufferevent_disable(bev, EV_READ);
}

/* A child exited: reap it. */
static void
reload_sigchld_cb(int sig, short events, void *arg)
{
	int	status;
	pid_t	pid;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		if (pid == rl.child)
			reload_cmd_done(status);
	}
}

/* The command runs too long: kill it (reaped through SIGCHLD). */
static void
reload_cmd_timeout_cb(int fd, short events, void *arg)
{
	if (rl.child > 0)
		kill(rl.child, SIGKILL);
}

/*
 * The command ended with status.  Everything of this run (timer, pipe,
 * output) is released before reload_finish, which may start the next
 * run: nothing here may touch rl.child_* after it.
 */
static void
reload_cmd_done(int status)
{
	char	*text;
	int	 busy;

	rl.child = 0;
	evtimer_del(rl.child_timer);
	if (rl.child_out != NULL) {
		reload_cmd_read_cb(rl.child_out, NULL);
		bufferevent_free(rl.child_out);
		rl.child_out = NULL;
	}
	evbuffer_add(rl.child_buf, "", 1);
	text = (char *)evbuffer_pullup(rl.child_buf, -1);
	busy = strstr(text, "already in progress") != NULL ||
	    strstr(text, "didn't finish yet") != NULL;
	evbuffer_free(rl.child_buf);
	rl.child_buf = NULL;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0 && !busy)
		reload_finish(1, 0, NULL);
	else if (busy)
		reload_finish(0, 1, "reload already in progress");
	else
		reload_finish(0, 1, WIFSIGNALED(status) ?
		    "reload_command killed" : "reload_command failed");
}
