/*
 * rotate: the node's own planned key rotation, make before break
 * (docs/console.md, docs/iaxkey-server.md).
 *
 *   key rotate ─► generate <name>.key.next/.pub.next, row step=staging
 *   staging  ─ PUT <N>/next (signed by next and current), 201 ─► staged
 *              (a 4xx refusal rolls back: .next files and row gone; after
 *              a failed try, which may have staged the key, DELETE <N>/next)
 *   staged   ─ at t_step + rotate_grace: copy the pair to .key.old/.pub.old,
 *              rename .key.next over .key, then .pub.next over .pub, fsync,
 *              reload res_crypto ─► switched
 *   switched ─ PUT <N> (the new key, signed by new and old), 200 ─► promoted
 *   promoted ─ at t_step + rotate_grace: DELETE <N>/previous (signed by the
 *              new key) ─ 200 or 404 ─► .old files and row gone (retired)
 *
 * Every step is a row of the state store's rotation table, written after
 * the files it describes, so a restart at any point finds the row and the
 * files and resumes (rotate_check): each request is idempotent at the key
 * server (a staging or promote sent again answers 200, a retire 404).  A
 * row that matches no consistent state, and .next/.old files without a
 * row, roll back to the pair in use.  A request that gets no answer (or a
 * 5xx, or any failure after the switch) is retried after 1 s, doubling to
 * 60 s.  Timers are evtimers on the loop; nothing blocks.
 *
 * "key rotate now" ends the rotation once its replace is on the way
 * (rotate_abort) and never touches the pair in use, which signs the
 * replace: before the switch that is the current key at the key server;
 * after it the new key, current there if the promote landed and staged
 * next if not, which the key server accepts for a replace too.  Before
 * the switch, a replace that fails is followed by DELETE <N>/next.
 */
#include <sys/types.h>
#include <sys/stat.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "agi/iaxkeyd.h"
#include "lib/afile.h"
#include "lib/http.h"
#include "lib/rsakey.h"
#include "lib/xmalloc.h"

#define ROTATE_BACKOFF_MAX	60	/* seconds between retries at most */
#define ROTATE_FPR		72

enum rotate_step {
	ROT_NONE,
	ROT_STAGING,
	ROT_STAGED,
	ROT_SWITCHED,
	ROT_PROMOTED,
	ROT_MAX
};

static const char *const rotate_steps[ROT_MAX] = {
	"none", "staging", "staged", "switched", "promoted"
};

/* An unstage (DELETE <N>/next) waiting for the key server's answer. */
struct rotate_unstage {
	struct http_req	*req;
	const char	*why;		/* what ended the rotation (static) */
	rotate_cb	 cb;		/* "key rotate cancel", or NULL */
	void		*arg;
};

static struct {
	enum rotate_step	 step;
	char			 old_fpr[ROTATE_FPR];
	char			 next_fpr[ROTATE_FPR];
	time_t			 t_step;
	int			 attempts;
	char			 reason[256];	/* of the last failed try */
	time_t			 retry_at;
	struct http_req		*req;
	struct event		*timer;
	struct rotate_unstage	*unstage;
	int			 unstage_owed;	/* if the replace fails */
} rot;

static const char sql_rot_get[] =
    "SELECT step, old_fpr, next_fpr, t_step, attempts FROM rotation"
    " WHERE id = 1";
static const char sql_rot_put[] =
    "INSERT OR REPLACE INTO rotation (id, step, old_fpr, next_fpr, t_step,"
    " attempts) VALUES (1, ?, ?, ?, ?, ?)";
static const char sql_rot_del[] = "DELETE FROM rotation";

static int	rotate_load(void);
static int	rotate_save(void);
static void	rotate_forget(void);
static void	rotate_enter(enum rotate_step, const char *);
static void	rotate_log(const char *, int, const char *);
static int	rotate_priv_fpr(const char *, char *);
static int	rotate_pub_fpr(const char *, char *);
static void	rotate_remove(const char *, const char *);
static void	rotate_check(void);
static void	rotate_rollback(const char *);
static void	rotate_run(void);
static void	rotate_arm(time_t);
static void	rotate_timer_cb(int, short, void *);
static void	rotate_switch(void);
static int	rotate_copy(const char *, mode_t, char **);
static void	rotate_send(const char *, const char *, const char *,
		    const char *, const char *, const char *);
static void	rotate_done_cb(void *, const struct http_resp *);
static void	rotate_retry(const char *);
static void	rotate_finish(void);
static struct rotate_unstage *rotate_unstage(const char *, rotate_cb,
		    void *, char **);
static void	rotate_unstage_late(const char *);
static void	rotate_unstage_cb(void *, const struct http_resp *);
static void	rotate_stop(void);
static long long	rotate_grace(void);
static const char *rotate_time(char *, size_t, time_t);

/* The grace between steps, in seconds ([node] rotate_grace). */
static long long
rotate_grace(void)
{
	return (conf_int(ikd->conf, "node:rotate_grace"));
}

/* A Unix time as ISO 8601 UTC. */
static const char *
rotate_time(char *buf, size_t size, time_t t)
{
	struct tm	tm;

	if (gmtime_r(&t, &tm) == NULL ||
	    strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		strlcpy_(buf, "?", size);
	return (buf);
}

/* One event=key_rotation line. */
static void
rotate_log(const char *step, int warn, const char *reason)
{
	struct logline	l;

	lf_begin(&l, warn ? LOG_L_WARN : LOG_L_INFO, "key_rotation");
	lf_str(&l, "step", step);
	lf_str(&l, "node", conf_str(ikd->conf, "node:name"));
	lf_str(&l, "fingerprint", rot.next_fpr);
	lf_str(&l, "old", rot.old_fpr);
	if (rot.attempts > 0)
		lf_int(&l, "attempt", rot.attempts);
	if (reason != NULL)
		lf_str(&l, "reason", reason);
	lf_emit(&l);
}

/* Read the row into rot; 1 when there is one, 0 when not, -1 on error. */
static int
rotate_load(void)
{
	sqlite3_stmt	*st;
	const char	*step;
	int		 i, rc;

	if ((st = store_stmt(ikd->store, sql_rot_get)) == NULL)
		return (-1);
	if ((rc = sqlite3_step(st)) != SQLITE_ROW) {
		sqlite3_reset(st);
		return (rc == SQLITE_DONE ? 0 : -1);
	}
	step = (const char *)sqlite3_column_text(st, 0);
	rot.step = ROT_NONE;
	for (i = ROT_STAGING; i < ROT_MAX; i++)
		if (step != NULL && strcmp(step, rotate_steps[i]) == 0)
			rot.step = i;
	strlcpy_(rot.old_fpr, step == NULL ? "" :
	    (const char *)sqlite3_column_text(st, 1), sizeof rot.old_fpr);
	strlcpy_(rot.next_fpr, step == NULL ? "" :
	    (const char *)sqlite3_column_text(st, 2), sizeof rot.next_fpr);
	rot.t_step = (time_t)sqlite3_column_int64(st, 3);
	rot.attempts = sqlite3_column_int(st, 4);
	sqlite3_reset(st);
	if (rot.step == ROT_NONE) {
		log_warnx("own key: rotation row with unknown step %s",
		    step != NULL ? step : "(null)");
		rot.step = ROT_STAGING;		/* rotate_check sorts it out */
		rot.next_fpr[0] = '\0';
	}
	return (1);
}

/* Write rot as the row; 0 or -1 (logged). */
static int
rotate_save(void)
{
	sqlite3_stmt	*st;

	if ((st = store_stmt(ikd->store, sql_rot_put)) == NULL)
		return (-1);
	sqlite3_bind_text(st, 1, rotate_steps[rot.step], -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, rot.old_fpr, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, rot.next_fpr, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, (sqlite3_int64)rot.t_step);
	sqlite3_bind_int(st, 5, rot.attempts);
	return (store_done(ikd->store, st));
}

/* Remove the row and forget the rotation. */
static void
rotate_forget(void)
{
	sqlite3_stmt	*st;

	if ((st = store_stmt(ikd->store, sql_rot_del)) != NULL)
		store_done(ikd->store, st);
	rotate_stop();
	rot.step = ROT_NONE;
	rot.attempts = 0;
	rot.reason[0] = '\0';
}

/* Stop the running request and the timer. */
static void
rotate_stop(void)
{
	http_cancel(rot.req);
	rot.req = NULL;
	if (rot.timer != NULL)
		evtimer_del(rot.timer);
	rot.retry_at = 0;
}

/* Go to step (now), save the row, log it. */
static void
rotate_enter(enum rotate_step step, const char *reason)
{
	rot.step = step;
	rot.t_step = time(NULL);
	rot.attempts = 0;
	rot.reason[0] = '\0';
	rot.retry_at = 0;
	if (rotate_save() == -1)
		log_warnx("own key: rotation step %s not saved",
		    rotate_steps[step]);
	rotate_log(rotate_steps[step], 0, reason);
}

/* The fingerprint of a private key file into fpr; 1, or 0 if unusable. */
static int
rotate_priv_fpr(const char *path, char *fpr)
{
	struct rsakey_info	 info;
	char			*cause = NULL;

	fpr[0] = '\0';
	if (path == NULL || rsakey_priv_check(path, &info, &cause) == -1) {
		free(cause);
		return (0);
	}
	strlcpy_(fpr, info.fingerprint, ROTATE_FPR);
	return (1);
}

/* The fingerprint of a public key file into fpr; 1, or 0 if unusable. */
static int
rotate_pub_fpr(const char *path, char *fpr)
{
	struct rsakey_info	 info;
	char			*pem = NULL, *cause = NULL;
	size_t			 len;
	int			 ok = 0;

	fpr[0] = '\0';
	if (path != NULL &&
	    afile_read(path, RSAKEY_PEM_MAX, &pem, &len, &cause) == 0 &&
	    rsakey_pub_validate(pem, len, RSAKEY_PEM_MAX, &info, &cause) == 0) {
		strlcpy_(fpr, info.fingerprint, ROTATE_FPR);
		ok = 1;
	}
	free(cause);
	free(pem);
	return (ok);
}

/* Remove <name>.key<ext> and <name>.pub<ext> when they exist. */
static void
rotate_remove(const char *key_ext, const char *pub_ext)
{
	const char	*ext[2] = { key_ext, pub_ext };
	char		*path, *cause = NULL;
	int		 i;

	for (i = 0; i < 2; i++) {
		if ((path = keyops_file(ext[i], &cause)) == NULL) {
			free(cause);
			return;
		}
		if (access(path, F_OK) == 0 &&
		    afile_remove(path, &cause) == -1) {
			log_warnx("own key: %s", cause);
			free(cause);
			cause = NULL;
		}
		free(path);
	}
}

/* Forget the rotation and its files, keeping the pair in use. */
static void
rotate_rollback(const char *reason)
{
	char	*key, *cause = NULL, fk[ROTATE_FPR];

	key = keyops_file(".key", &cause);
	if (rotate_priv_fpr(key, fk)) {
		rotate_remove(".key.next", ".pub.next");
		rotate_remove(".key.old", ".pub.old");
	} else
		log_warnx("own key: %s is not usable: the .next and .old "
		    "files stay for the operator", key != NULL ? key : "key");
	rotate_log("rolled_back", 1, reason);
	log_warnx("own key: rotation rolled back: %s", reason);
	rotate_forget();
	free(key);
	free(cause);
}

/*
 * Compare the row with the files and make them agree: finish a switch
 * that a crash cut short, roll back what matches no consistent state.
 * Leaves rot.step at the step to resume (ROT_NONE when none).
 */
static void
rotate_check(void)
{
	char	*key = NULL, *key_next = NULL, *pub_next = NULL, *cause = NULL;
	char	*key_old = NULL, *pub = NULL;
	char	 fk[ROTATE_FPR], fn[ROTATE_FPR], fp[ROTATE_FPR], fo[ROTATE_FPR];

	if ((key = keyops_file(".key", &cause)) == NULL) {
		free(cause);
		if (rot.step != ROT_NONE)
			rotate_rollback("[node] name is not set");
		return;
	}
	key_next = keyops_file(".key.next", &cause);
	pub_next = keyops_file(".pub.next", &cause);
	key_old = keyops_file(".key.old", &cause);
	rotate_priv_fpr(key, fk);
	if (rot.step == ROT_NONE) {
		if (*fk == '\0')
			goto out;	/* nothing to roll back to: keep all */
		if (access(key_next, F_OK) == 0 ||
		    access(pub_next, F_OK) == 0) {
			rot.old_fpr[0] = rot.next_fpr[0] = '\0';
			rotate_rollback(".next files without a rotation");
		} else
			rotate_remove(".key.old", ".pub.old");
		goto out;
	}
	if (rot.step == ROT_STAGING || rot.step == ROT_STAGED) {
		rotate_priv_fpr(key_next, fn);
		rotate_pub_fpr(pub_next, fp);
		if (*fk != '\0' && strcmp(fk, rot.old_fpr) == 0 &&
		    *fn != '\0' && strcmp(fn, rot.next_fpr) == 0 &&
		    strcmp(fp, fn) == 0)
			goto out;		/* consistent: resume */
		if (*fk == '\0' || strcmp(fk, rot.next_fpr) != 0 ||
		    *rot.next_fpr == '\0') {
			rotate_rollback("the key files do not match the "
			    "rotation's step");
			goto out;
		}
		/* The private key was renamed: finish the switch. */
		if (!rotate_priv_fpr(key_old, fo) ||
		    strcmp(fo, rot.old_fpr) != 0)
			log_warnx("own key: %s is not the old key %s: the "
			    "promote cannot be signed (key rotate now)",
			    key_old, rot.old_fpr);
		if (strcmp(fp, rot.next_fpr) == 0) {
			pub = keyops_file(".pub", &cause);
			if (pub != NULL && rename(pub_next, pub) == -1)
				log_warn("own key: rename %s", pub_next);
		}
		reload_need(RELOAD_RES_CRYPTO);
		rotate_enter(ROT_SWITCHED, "switch finished after a restart");
		goto out;
	}
	/* switched, promoted: the new key must be in use */
	if (*fk == '\0' || strcmp(fk, rot.next_fpr) != 0)
		rotate_rollback("the key in use is not the rotation's new key");
out:
	free(key);
	free(key_next);
	free(pub_next);
	free(key_old);
	free(pub);
	free(cause);
}

/* Wake rotate_run at Unix time t (now if past). */
static void
rotate_arm(time_t t)
{
	struct timeval	tv = { 0, 0 };
	time_t		now = time(NULL);

	if (t > now)
		tv.tv_sec = t - now;
	evtimer_add(rot.timer, &tv);
}

/* The timer of a step or of a retry. */
static void
rotate_timer_cb(int fd, short ev, void *arg)
{
	rot.retry_at = 0;
	rotate_run();
}

/* Do what the current step needs now, or arm the timer for it. */
static void
rotate_run(void)
{
	char	*pub = NULL, *key = NULL, *sign = NULL, *cur = NULL;
	char	*cause = NULL;

	if (rot.req != NULL || rot.retry_at != 0)
		return;
	switch (rot.step) {
	case ROT_STAGING:
		pub = keyops_file(".pub.next", &cause);
		sign = keyops_file(".key.next", &cause);
		cur = keyops_file(".key", &cause);
		rotate_send("PUT", "next", pub, rot.next_fpr, sign, cur);
		break;
	case ROT_STAGED:
		if (time(NULL) < rot.t_step + rotate_grace()) {
			rotate_arm(rot.t_step + rotate_grace());
			break;
		}
		rotate_switch();
		break;
	case ROT_SWITCHED:
		pub = keyops_file(".pub", &cause);
		sign = keyops_file(".key", &cause);
		cur = keyops_file(".key.old", &cause);
		rotate_send("PUT", NULL, pub, rot.next_fpr, sign, cur);
		break;
	case ROT_PROMOTED:
		if (time(NULL) < rot.t_step + rotate_grace()) {
			rotate_arm(rot.t_step + rotate_grace());
			break;
		}
		key = keyops_file(".key", &cause);
		rotate_send("DELETE", "previous", NULL, NULL, key, NULL);
		break;
	default:
		break;
	}
	free(pub);
	free(key);
	free(sign);
	free(cur);
	free(cause);
}

/* Send a request of the rotation; a failure to start is a failed try. */
static void
rotate_send(const char *method, const char *sub, const char *pub,
    const char *fpr, const char *sign, const char *cur)
{
	struct keyops_sreq	 sr;
	char			*cause = NULL;

	if (sign == NULL || (pub != NULL && cur == NULL)) {
		rotate_retry("[node] name is not set");
		return;
	}
	memset(&sr, 0, sizeof sr);
	sr.method = method;
	sr.sub = sub;
	sr.pub = pub;
	sr.fpr = fpr;
	sr.sign = sign;
	sr.cur = cur;
	if ((rot.req = keyops_send(&sr, rotate_done_cb, NULL, &cause)) ==
	    NULL) {
		rotate_retry(cause);
		free(cause);
	}
}

/* Copy <name><ext> to <name><ext>.old, mode mode; 0 or -1 with *cause. */
static int
rotate_copy(const char *ext, mode_t mode, char **cause)
{
	char	*from, *to = NULL, *buf = NULL;
	size_t	 len = 0;
	int	 rc = -1;

	if ((from = keyops_file(ext, cause)) == NULL)
		return (-1);
	xasprintf(&to, "%s.old", from);
	if (afile_read(from, RSAKEY_PEM_MAX, &buf, &len, cause) != 0) {
		if (*cause == NULL)
			xasprintf(cause, "%s: %s", from, strerror(errno));
		goto out;
	}
	rc = afile_write(to, buf, len, mode, cause);
out:
	if (buf != NULL)
		explicit_bzero(buf, len);
	free(buf);
	free(from);
	free(to);
	return (rc);
}

/*
 * The grace after staging is over: keep the pair in use as .old (for the
 * promote's signature and a rollback), then put the next pair in use.
 */
static void
rotate_switch(void)
{
	char		*cause = NULL;
	uint64_t	 gen;
	int		 moved;

	rotate_check();
	if (rot.step != ROT_STAGED)
		goto next;		/* finished or rolled back */
	if (rotate_copy(".key", 0600, &cause) == -1 ||
	    rotate_copy(".pub", 0644, &cause) == -1 ||
	    keyops_install(".next", &moved, &gen, &cause) == -1) {
		rotate_retry(cause);
		free(cause);
		rotate_check();		/* a half-done switch is finished */
		goto next;
	}
	rotate_enter(ROT_SWITCHED, NULL);
next:
	rotate_run();
}

/* The key server answered a request of the rotation (or it failed). */
static void
rotate_done_cb(void *arg, const struct http_resp *resp)
{
	char	reason[1024];
	int	ok, tried;

	rot.req = NULL;
	ok = resp->result == 0 && (resp->status == 200 ||
	    resp->status == 201);
	if (ok && rot.step != ROT_PROMOTED &&
	    strstr(resp->body, rot.next_fpr) == NULL) {
		snprintf(reason, sizeof reason, "key server answered %ld "
		    "without the fingerprint %s", resp->status, rot.next_fpr);
		rotate_retry(reason);
		return;
	}
	if (!ok)
		keyops_reason(reason, sizeof reason, resp);
	switch (rot.step) {
	case ROT_STAGING:
		if (ok)
			rotate_enter(ROT_STAGED, NULL);
		else if (resp->result == 0 && resp->status >= 400 &&
		    resp->status < 500 && resp->status != 408 &&
		    resp->status != 429) {
			/* An earlier try may have staged the key. */
			tried = rot.attempts > 0;
			rotate_rollback(reason);
			if (tried)
				rotate_unstage_late("staging refused");
			return;
		} else {
			rotate_retry(reason);
			return;
		}
		break;
	case ROT_SWITCHED:
		if (!ok) {
			rotate_retry(reason);
			return;
		}
		rotate_enter(ROT_PROMOTED, NULL);
		break;
	case ROT_PROMOTED:
		if (!ok && !(resp->result == 0 && resp->status == 404)) {
			rotate_retry(reason);
			return;
		}
		rotate_finish();
		return;
	default:
		return;
	}
	rotate_run();
}

/* A try failed: log it, count it, try again after the backoff. */
static void
rotate_retry(const char *reason)
{
	int	delay;

	rot.attempts++;
	strlcpy_(rot.reason, reason != NULL ? reason : "?",
	    sizeof rot.reason);
	if (rotate_save() == -1)
		log_warnx("own key: rotation attempts not saved");
	rotate_log("failed", 1, rot.reason);
	delay = rot.attempts > 6 ? ROTATE_BACKOFF_MAX :
	    1 << (rot.attempts - 1);
	if (delay > ROTATE_BACKOFF_MAX)
		delay = ROTATE_BACKOFF_MAX;
	rot.retry_at = time(NULL) + delay;
	rotate_arm(rot.retry_at);
}

/* The old key is retired at the key server: the rotation is over. */
static void
rotate_finish(void)
{
	rotate_remove(".key.old", ".pub.old");
	rot.attempts = 0;
	rotate_log("retired", 0, NULL);
	rotate_forget();
}

/*
 * Start: resume the rotation the state store holds, after making the row
 * and the files agree.  0, or -1 with *cause.
 */
int
rotate_init(char **cause)
{
	memset(&rot, 0, sizeof rot);
	if ((rot.timer = evtimer_new(ikd->base, rotate_timer_cb, NULL)) ==
	    NULL) {
		*cause = xstrdup("rotate: evtimer_new failed");
		return (-1);
	}
	if (rotate_load() == -1) {
		xasprintf(cause, "state store: rotation: %s",
		    store_errmsg(ikd->store));
		return (-1);
	}
	rotate_check();
	if (rot.step != ROT_NONE) {
		log_info("own key: resuming the rotation to %s at step %s",
		    rot.next_fpr, rotate_steps[rot.step]);
		rotate_run();
	}
	return (0);
}

/* Shutdown (before the HTTP client goes): the row stays for the restart. */
void
rotate_free(void)
{
	rotate_stop();
	if (rot.unstage != NULL) {
		http_cancel(rot.unstage->req);
		free(rot.unstage);
		rot.unstage = NULL;
	}
	if (rot.timer != NULL)
		event_free(rot.timer);
	rot.timer = NULL;
}

/*
 * The configuration was reloaded: a new rotate_grace or key server takes
 * effect now, and a step waiting for its retry is tried at once.
 */
void
rotate_apply(void)
{
	if (rot.step == ROT_NONE || rot.req != NULL)
		return;
	evtimer_del(rot.timer);
	rot.retry_at = 0;
	rotate_run();
}

/* 1 while a planned rotation is under way. */
int
rotate_running(void)
{
	return (rot.step != ROT_NONE);
}

/*
 * "key rotate": generate the next pair and start staging it.  fpr gets
 * its fingerprint.  0, or -1 with *cause when nothing was started.
 */
int
rotate_start(char *fpr, size_t size, char **cause)
{
	struct rsakey_info	 info;
	char			*key, *key_next = NULL, *pub_next = NULL;
	int			 rc = -1;

	if (rot.step != ROT_NONE) {
		xasprintf(cause, "a rotation is running (step %s): see key "
		    "show", rotate_steps[rot.step]);
		return (-1);
	}
	if (keyops_busy()) {
		*cause = xstrdup("a key upload or rotation is already running");
		return (-1);
	}
	if (rot.unstage != NULL) {
		/* It would unstage the key this rotation stages. */
		*cause = xstrdup("the key server has not yet answered the "
		    "unstage of the last rotation's next key: try again");
		return (-1);
	}
	if ((key = keyops_file(".key", cause)) == NULL)
		return (-1);
	if (!keys_node_ok(conf_str(ikd->conf, "node:name"))) {
		xasprintf(cause, "[node] name %s cannot be a key server node "
		    "name", conf_str(ikd->conf, "node:name"));
		goto out;
	}
	if (rsakey_priv_check(key, &info, cause) == -1)
		goto out;
	strlcpy_(rot.old_fpr, info.fingerprint, sizeof rot.old_fpr);
	key_next = keyops_file(".key.next", cause);
	pub_next = keyops_file(".pub.next", cause);
	rotate_remove(".key.old", ".pub.old");
	if (rsakey_generate(key_next, pub_next, cause) == -1)
		goto out;
	if (rsakey_priv_check(key_next, &info, cause) == -1) {
		rotate_remove(".key.next", ".pub.next");
		goto out;
	}
	strlcpy_(rot.next_fpr, info.fingerprint, sizeof rot.next_fpr);
	rot.step = ROT_STAGING;
	rot.t_step = time(NULL);
	rot.attempts = 0;
	rot.reason[0] = '\0';
	if (rotate_save() == -1) {
		xasprintf(cause, "state store: %s", store_errmsg(ikd->store));
		rot.step = ROT_NONE;
		rotate_remove(".key.next", ".pub.next");
		goto out;
	}
	rotate_log("staging", 0, NULL);
	strlcpy_(fpr, rot.next_fpr, size);
	rotate_run();
	rc = 0;
out:
	free(key);
	free(key_next);
	free(pub_next);
	return (rc);
}

/*
 * "key rotate cancel" before the switch: forget the rotation and its
 * .next files at once, then ask the key server to unstage the next key
 * (signed by the key in use).  -1 with *cause when there is nothing to
 * cancel or it is too late.  Else 0: with *waitp set, cb(arg, ok,
 * message) runs with the answer unless rotate_cancel_forget(*waitp);
 * with *waitp NULL the unstage could not be sent, and *cause says why.
 */
int
rotate_cancel(rotate_cb cb, void *arg, void **waitp, char **cause)
{
	*waitp = NULL;
	if (rot.step == ROT_NONE) {
		*cause = xstrdup("no rotation is running");
		return (-1);
	}
	if (rot.step >= ROT_SWITCHED) {
		xasprintf(cause, "the rotation is past the switch (step %s): "
		    "use key rotate now", rotate_steps[rot.step]);
		return (-1);
	}
	if (rot.unstage != NULL) {
		*cause = xstrdup("a cancel is already waiting for the key "
		    "server");
		return (-1);
	}
	rotate_remove(".key.next", ".pub.next");
	rotate_log("cancelled", 0, "key rotate cancel");
	rotate_forget();
	*waitp = rotate_unstage("cancelled rotation", cb, arg, cause);
	return (0);
}

/* The waiter of a cancel went away: the answer is only logged. */
void
rotate_cancel_forget(void *wait)
{
	struct rotate_unstage	*u = wait;

	if (u != NULL) {
		u->cb = NULL;
		u->arg = NULL;
	}
}

/* The key server answered the unstage of a cancelled rotation. */
static void
rotate_unstage_cb(void *arg, const struct http_resp *resp)
{
	struct rotate_unstage	*u = arg;
	char			 reason[1024];
	int			 ok;

	rot.unstage = NULL;
	ok = resp->result == 0 && (resp->status == 200 ||
	    resp->status == 404);
	if (ok)
		snprintf(reason, sizeof reason, "key server: %s",
		    resp->status == 200 ? "next key unstaged" :
		    "no next key staged");
	else
		keyops_reason(reason, sizeof reason, resp);
	if (ok)
		log_info("own key: %s: %s", u->why, reason);
	else
		log_warnx("own key: %s: the key server may still stage the "
		    "next key (its private half is gone): %s", u->why, reason);
	if (u->cb != NULL)
		u->cb(u->arg, ok, reason);
	free(u);
}

/*
 * Ask the key server to unstage the next key: DELETE <N>/next, signed by
 * the key in use; why tells what ended the rotation.  cb(arg, ok,
 * message) runs with the answer (cb NULL: the answer is only logged).
 * The waiter, or NULL with *cause when the request could not be sent or
 * another unstage is still waiting.
 */
static struct rotate_unstage *
rotate_unstage(const char *why, rotate_cb cb, void *arg, char **cause)
{
	struct rotate_unstage	*u;
	struct keyops_sreq	 sr;
	char			*key;

	if (rot.unstage != NULL) {
		*cause = xstrdup("an unstage is already waiting for the key "
		    "server");
		return (NULL);
	}
	if ((key = keyops_file(".key", cause)) == NULL)
		return (NULL);
	memset(&sr, 0, sizeof sr);
	sr.method = "DELETE";
	sr.sub = "next";
	sr.sign = key;
	u = xcalloc(1, sizeof *u);
	u->why = why;
	u->cb = cb;
	u->arg = arg;
	u->req = keyops_send(&sr, rotate_unstage_cb, u, cause);
	free(key);
	if (u->req == NULL) {
		free(u);
		return (NULL);
	}
	rot.unstage = u;
	return (u);
}

/*
 * A rotation ended after the key server may have staged its next key,
 * whose private half is gone: unstage it, best effort (logged).
 */
static void
rotate_unstage_late(const char *why)
{
	char	*cause = NULL;

	if (rotate_unstage(why, NULL, NULL, &cause) == NULL) {
		log_warnx("own key: %s: the key server was not asked to "
		    "unstage the next key: %s", why, cause);
		free(cause);
	}
}

/*
 * "key rotate now", once its replace (signed by the pair in use) is on
 * the way: end a planned rotation at any step, leaving the pair in use
 * as it is.  Before the switch the .next files go; should the replace
 * fail, rotate_replaced unstages the next key.  After the switch the
 * pair in use is the new one, which the key server holds as current
 * (the promote landed) or as staged next (it did not) and accepts for
 * the replace either way; the .old files go.
 */
void
rotate_abort(void)
{
	rotate_stop();
	switch (rot.step) {
	case ROT_NONE:
		return;
	case ROT_STAGING:
	case ROT_STAGED:
		rotate_remove(".key.next", ".pub.next");
		rot.unstage_owed = 1;
		break;
	default:
		rotate_remove(".key.old", ".pub.old");
		break;
	}
	rotate_log("cancelled", 0, "key rotate now");
	rotate_forget();
}

/*
 * The replace of "key rotate now" ended (ok 1: the key server holds the
 * new key).  When it failed, a next key that the aborted rotation staged
 * may still be published: unstage it.
 */
void
rotate_replaced(int ok)
{
	int	owed = rot.unstage_owed;

	rot.unstage_owed = 0;
	if (owed && !ok)
		rotate_unstage_late("key rotate now failed");
}

/*
 * The next key's fingerprint once the key server has it staged: 1 with
 * fpr, else 0.  Not while staging: callees told of a key the server does
 * not list yet would refetch for nothing, from a server that may be
 * failing.
 */
int
rotate_next_fingerprint(char *fpr, size_t size)
{
	if (size > 0)
		fpr[0] = '\0';
	if (rot.step != ROT_STAGED)
		return (0);
	strlcpy_(fpr, rot.next_fpr, size);
	return (1);
}

/* The rotation lines of key show. */
void
rotate_show(void (*out)(void *, const char *), void *arg)
{
	char	line[1024], t1[32], t2[32], last[400];

	last[0] = '\0';
	if (rot.attempts > 0)
		snprintf(last, sizeof last, " (attempt %d, last: %s)",
		    rot.attempts + 1, rot.reason[0] != '\0' ? rot.reason :
		    "before the restart");
	switch (rot.step) {
	case ROT_STAGING:
		snprintf(line, sizeof line, "  rotation    staging %s%s",
		    rot.next_fpr, last);
		break;
	case ROT_STAGED:
		snprintf(line, sizeof line, "  rotation    staged %s at %s, "
		    "switch at %s%s", rot.next_fpr,
		    rotate_time(t1, sizeof t1, rot.t_step),
		    rotate_time(t2, sizeof t2, rot.t_step + rotate_grace()),
		    last);
		break;
	case ROT_SWITCHED:
		if (rot.attempts == 0)
			snprintf(last, sizeof last, " (attempt 1)");
		snprintf(line, sizeof line, "  rotation    switched, promoting"
		    "%s", last);
		break;
	case ROT_PROMOTED:
		snprintf(line, sizeof line, "  rotation    promoted at %s, "
		    "retire at %s%s", rotate_time(t1, sizeof t1, rot.t_step),
		    rotate_time(t2, sizeof t2, rot.t_step + rotate_grace()),
		    last);
		break;
	default:
		snprintf(line, sizeof line, "  rotation    none");
		break;
	}
	out(arg, line);
	snprintf(line, sizeof line, "  grace       %lld s (rotate_grace)",
	    rotate_grace());
	out(arg, line);
}
