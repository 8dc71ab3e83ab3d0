/*
 * admin_key: the console's commands for the node's own key pair (key
 * generate, upload, rotate [now|cancel], show; docs/console.md).  The
 * command table and dispatch are admin.c; the work is keyops.c (upload,
 * the emergency replace) and rotate.c (the planned rotation).
 */
#include <sys/types.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "agi/iaxkeyd.h"
#include "lib/xmalloc.h"

/* A key command whose reply waits for the key server. */
struct admin_key_wait {
	struct console_client	*c;
	struct keyop		*keyop;		/* upload, rotate now */
	void			*unstage;	/* rotate cancel */
};

static void	admin_key_start(struct console_client *, int);
static void	admin_key_cancel(void *);
static void	admin_key_done(void *, const struct keyops_result *);
static void	admin_key_unstaged(void *, int, const char *);
static void	admin_key_line(void *, const char *);
static void	admin_key_plan(struct console_client *);

/* key generate */
void
admin_key_generate(struct console_client *c, int argc, char **argv)
{
	char	*key = NULL, *pub = NULL, *cause = NULL, fpr[72];

	if (keyops_generate(&key, &pub, fpr, sizeof fpr, &cause) == -1) {
		admin_audit(c, "key generate", NULL, "error");
		console_err(c, "%s", cause);
	} else {
		admin_audit(c, "key generate", NULL, "ok");
		console_printf(c, "  key         %s", key);
		console_printf(c, "  pub         %s", pub);
		console_printf(c, "  fingerprint %s", fpr);
		console_printf(c, "  next        key upload");
		console_ok(c);
	}
	free(cause);
	free(key);
	free(pub);
}

/*
 * key upload, key rotate now: the reply waits for the key server.  Once
 * the replace of key rotate now is on the way, a planned rotation ends
 * (rotate_abort); if it cannot start, the rotation goes on as it was.
 */
static void
admin_key_start(struct console_client *c, int rotate)
{
	const char		*what = rotate ? "key rotate" : "key upload";
	struct admin_key_wait	*w;
	char			*cause = NULL;

	w = xcalloc(1, sizeof *w);
	w->c = c;
	if (keyops_upload(rotate, admin_key_done, w, &w->keyop,
	    &cause) == -1) {
		admin_audit(c, what, rotate ? "now" : NULL, "error");
		console_err(c, "%s", cause);
		free(cause);
		free(w);
		return;
	}
	admin_audit(c, what, rotate ? "now" : NULL, "started");
	if (rotate && rotate_running()) {
		rotate_abort();
		console_printf(c, "  rotation    planned rotation ended; the "
		    "pair in use signs the replace");
	}
	console_wait(c, admin_key_cancel, w);
}

/* key upload */
void
admin_key_upload(struct console_client *c, int argc, char **argv)
{
	admin_key_start(c, 0);
}

/* key rotate [now|cancel] */
void
admin_key_rotate(struct console_client *c, int argc, char **argv)
{
	if (argc == 0)
		admin_key_plan(c);
	else if (strcasecmp(argv[0], "now") == 0)
		admin_key_start(c, 1);
	else if (strcasecmp(argv[0], "cancel") == 0) {
		struct admin_key_wait	*w;
		char			*cause = NULL;

		w = xcalloc(1, sizeof *w);
		w->c = c;
		if (rotate_cancel(admin_key_unstaged, w, &w->unstage,
		    &cause) == -1) {
			admin_audit(c, "key rotate", "cancel", "error");
			console_err(c, "%s", cause);
			free(cause);
			free(w);
			return;
		}
		admin_audit(c, "key rotate", "cancel", "ok");
		console_printf(c, "  rotation    cancelled, .next files "
		    "removed");
		if (w->unstage == NULL) {
			console_err(c, "the key server was not asked to "
			    "unstage the next key: %s", cause);
			free(cause);
			free(w);
			return;
		}
		console_wait(c, admin_key_cancel, w);
	} else
		console_err(c, "usage: key rotate [now|cancel]");
}

/* key rotate: start a planned rotation; its steps follow in key show. */
static void
admin_key_plan(struct console_client *c)
{
	char	*cause = NULL, fpr[72];

	if (rotate_start(fpr, sizeof fpr, &cause) == -1) {
		admin_audit(c, "key rotate", NULL, "error");
		console_err(c, "%s", cause);
		free(cause);
		return;
	}
	admin_audit(c, "key rotate", NULL, "started");
	console_printf(c, "  next        %s", fpr);
	console_printf(c, "  rotation    staging at the key server; the "
	    "switch follows %lld s after it is staged (key show)",
	    conf_int(ikd->conf, "node:rotate_grace"));
	console_ok(c);
}

/* The client went before the outcome: no callback will come. */
static void
admin_key_cancel(void *arg)
{
	struct admin_key_wait	*w = arg;

	keyops_cancel(w->keyop);	/* it runs to its end anyway */
	rotate_cancel_forget(w->unstage);
	free(w);
}

/* The key server answered the unstage of a cancelled rotation. */
static void
admin_key_unstaged(void *arg, int ok, const char *msg)
{
	struct admin_key_wait	*w = arg;
	struct console_client	*c = w->c;

	free(w);
	console_printf(c, "  unstage     %s", msg);
	if (ok)
		console_ok(c);
	else
		console_err(c, "the key server may still stage the next key "
		    "(its private half is gone): %s", msg);
	console_done(c);
}

/* The upload or rotation a client waits for has ended. */
static void
admin_key_done(void *arg, const struct keyops_result *r)
{
	struct admin_key_wait	*w = arg;
	struct console_client	*c = w->c;

	free(w);
	console_printf(c, "  result      %s", r->ok ? "ok" : "failed");
	if (r->status != 0)
		console_printf(c, "  http        %ld", r->status);
	if (r->old_fingerprint != NULL)
		console_printf(c, "  old         %s%s", r->old_fingerprint,
		    r->ok ? " (replaced)" : " (still in use)");
	console_printf(c, "  fingerprint %s%s", r->fingerprint, r->ok ?
	    " (confirmed by the key server)" : "");
	if (r->kept_new)
		console_printf(c, "  new files   kept: the key server may have "
		    "the new key (see key show)");
	console_printf(c, "  ms          %llu", (unsigned long long)r->ms);
	if (r->gen != 0) {
		console_printf(c, "  modules     res_crypto");
		admin_reload_note(c, r->gen);
	}
	if (r->ok)
		console_ok(c);
	else
		console_err(c, "%s failed: %s", r->what, r->reason);
	console_done(c);
}

/* One line of key show. */
static void
admin_key_line(void *arg, const char *line)
{
	console_printf(arg, "%s", line);
}

/* key show */
void
admin_key_show(struct console_client *c, int argc, char **argv)
{
	char	*cause = NULL;

	if (keyops_show(admin_key_line, c, &cause) == -1) {
		console_err(c, "%s", cause);
		free(cause);
		return;
	}
	console_ok(c);
}
