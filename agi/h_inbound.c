/*
 * h_inbound: the callee's half.
 *
 *   AGI(agi://127.0.0.1/inbound,<caller-node>[,RSA|MD5])
 *
 * RSA: the caller's key is loaded; IAXKEY_STATUS=RSA (an old key is
 * refreshed in the background).  MD5: the inbound failure: record the
 * caller, fetch and install its key, reload, and steer the call to the
 * MD5+AES fallback path (IAXKEY_STATUS=FALLBACK, IAXKEY_KEY,
 * IAXKEY_FINGERPRINT, IAXKEY_REASON, and fallback_context).  The call
 * waits at most wait_ms: past it IAXKEY_KEY=PENDING and the work goes on.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/event.h>

#include "agi/config.h"
#include "agi/iaxkeyd.h"
#include "lib/xmalloc.h"

#define INBOUND_ADDR_MAX	64

struct inbound {
	struct session		*s;
	char			 node[KEYS_NODE_MAX + 1];
	struct keywaiter	*kw;
	struct event		*timer;		/* wait_ms */
	int			 reloading;
	int			 answered;
	enum key_outcome	 outcome;
	char			 fingerprint[72];
	char			*reason;
	uint64_t		 t0;
};

static void	inbound_free(void *);
static void	inbound_method(struct session *, struct inbound *,
		    const char *);
static void	inbound_auth_cb(struct session *, const struct agi_reply *,
		    void *);
static void	inbound_addr_cb(struct session *, const struct agi_reply *,
		    void *);
static void	inbound_key_cb(void *, const struct key_result *);
static void	inbound_key(struct inbound *, const struct key_result *);
static void	inbound_reloaded(struct session *, enum reload_result,
		    const char *, void *);
static void	inbound_timeout_cb(int, short, void *);
static void	inbound_answer(struct inbound *);
static void	inbound_end(struct session *, struct inbound *, const char *,
		    const char *);
static int	inbound_in_list(const char *, const char *);

/* Free the handler state (the session is closing). */
static void
inbound_free(void *arg)
{
	struct inbound	*in = arg;

	keys_cancel(in->kw);
	if (in->timer != NULL)
		event_free(in->timer);
	free(in->reason);
	free(in);
}

/* Run the inbound script. */
void
h_inbound_start(struct session *s)
{
	struct inbound	*in;
	const char	*node = agi_env_arg(&s->env, 1);
	const char	*method = agi_env_arg(&s->env, 2);

	in = xcalloc(1, sizeof *in);
	in->s = s;
	in->t0 = now_ms();
	s->hdata = in;
	s->hfree = inbound_free;
	if (node == NULL || !keys_node_ok(node)) {
		inbound_end(s, in, "INVALID", "caller node: not "
		    "[A-Za-z0-9._-]{1,64} (79 with key_prefix)");
		return;
	}
	strlcpy_(in->node, node, sizeof in->node);
	if (method != NULL && *method != '\0') {
		inbound_method(s, in, method);
		return;
	}
	/* Asterisk 20.20, 22.10, 23.4 and later know the method. */
	if (session_cmd(s, inbound_auth_cb, in,
	    "GET FULL VARIABLE ${CHANNEL(auth_method)}") == -1)
		inbound_end(s, in, "ERROR", "cannot ask for the auth method");
}

/* 1 when word is in the comma list. */
static int
inbound_in_list(const char *list, const char *word)
{
	size_t	n = strlen(word);
	const char *p;

	for (p = list; *p != '\0';) {
		const char *e = strchr(p, ',');
		size_t l = e == NULL ? strlen(p) : (size_t)(e - p);

		if (l == n && strncmp(p, word, n) == 0)
			return (1);
		if (e == NULL)
			break;
		p = e + 1;
	}
	return (0);
}

/* CHANNEL(auth_method), or the context lists when it is empty. */
static void
inbound_auth_cb(struct session *s, const struct agi_reply *r, void *arg)
{
	struct inbound	*in = arg;
	const char	*ctx = agi_env_get(&s->env, "agi_context");
	char		 m[8] = "";

	if (r->code == 200 && r->data != NULL && r->datalen > 0 &&
	    r->datalen < sizeof m)
		snprintf(m, sizeof m, "%.*s", (int)r->datalen, r->data);
	if (m[0] == '\0' && ctx != NULL) {
		if (inbound_in_list(conf_str(ikd->conf, "inbound:rsa_contexts"),
		    ctx))
			strlcpy_(m, "RSA", sizeof m);
		else if (inbound_in_list(conf_str(ikd->conf,
		    "inbound:md5_contexts"), ctx))
			strlcpy_(m, "MD5", sizeof m);
	}
	if (m[0] == '\0') {
		inbound_end(s, in, "ERROR", "auth method unknown: pass it, or "
		    "set rsa_contexts and md5_contexts");
		return;
	}
	inbound_method(s, in, m);
}

/* Dispatch on the authentication method. */
static void
inbound_method(struct session *s, struct inbound *in, const char *method)
{
	if (strcasecmp(method, "RSA") == 0) {
		keys_refresh_if_old(in->node);
		inbound_end(s, in, "RSA", NULL);
		return;
	}
	if (strcasecmp(method, "MD5") != 0) {
		inbound_end(s, in, "INVALID", "auth method: not RSA or MD5");
		return;
	}
	if (session_cmd(s, inbound_addr_cb, in,
	    "GET FULL VARIABLE ${IAXPEER(CURRENTCHANNEL)}") == -1)
		inbound_end(s, in, "ERROR", "cannot ask for the address");
}

/* The caller's address: record the call, then fetch the key. */
static void
inbound_addr_cb(struct session *s, const struct agi_reply *r, void *arg)
{
	struct inbound		*in = arg;
	struct key_result	 now;
	struct timeval		 tv;
	char			 addr[INBOUND_ADDR_MAX + 1];
	size_t			 i;
	int			 ok = 1;
	long long		 wait_ms;

	addr[0] = '\0';
	if (r->code == 200 && r->data != NULL && r->datalen > 0 &&
	    r->datalen <= INBOUND_ADDR_MAX) {
		for (i = 0; i < r->datalen; i++) {
			char c = r->data[i];
			if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
			    (c >= 'A' && c <= 'F') || c == '.' || c == ':' ||
			    c == '[' || c == ']'))
				ok = 0;
		}
		if (ok)
			snprintf(addr, sizeof addr, "%.*s", (int)r->datalen,
			    r->data);
	}
	keys_record_caller(in->node, addr[0] != '\0' ? addr : NULL,
	    "PENDING");
	if (keys_fetch(in->node, "inbound", 0, inbound_key_cb, in, &now,
	    &in->kw) == 1) {
		inbound_key(in, &now);
		return;
	}
	wait_ms = conf_int(ikd->conf, "inbound:wait_ms");
	in->timer = evtimer_new(ikd->base, inbound_timeout_cb, in);
	tv.tv_sec = wait_ms / 1000;
	tv.tv_usec = (wait_ms % 1000) * 1000;
	evtimer_add(in->timer, &tv);
}

/* The fetch finished. */
static void
inbound_key_cb(void *arg, const struct key_result *r)
{
	struct inbound	*in = arg;

	in->kw = NULL;
	inbound_key(in, r);
}

/* A key outcome: wait for its reload when one is due, then answer. */
static void
inbound_key(struct inbound *in, const struct key_result *r)
{
	in->outcome = r->outcome;
	if (r->fingerprint != NULL)
		strlcpy_(in->fingerprint, r->fingerprint,
		    sizeof in->fingerprint);
	free(in->reason);
	in->reason = r->reason != NULL ? xstrdup(r->reason) : NULL;
	if (r->gen != 0 && !reload_covered(r->gen) && !in->answered) {
		in->reloading = 1;
		reload_wait(in->s, r->gen, inbound_reloaded, in);
		return;
	}
	inbound_answer(in);
}

/* The reload for the installed key ended. */
static void
inbound_reloaded(struct session *s, enum reload_result res,
    const char *reason, void *arg)
{
	struct inbound	*in = arg;
	char		*msg;

	in->reloading = 0;
	if (res != RELOAD_R_OK) {
		xasprintf(&msg, "key installed, reload failed: %s",
		    reason != NULL ? reason : "unknown");
		free(in->reason);
		in->reason = msg;
	}
	inbound_answer(in);
}

/* wait_ms passed: answer PENDING; the fetch and reload go on. */
static void
inbound_timeout_cb(int fd, short events, void *arg)
{
	struct inbound	*in = arg;

	keys_cancel(in->kw);
	in->kw = NULL;
	if (in->reloading) {
		reload_unwait(in->s);
		in->reloading = 0;
	}
	in->outcome = KEY_PENDING;
	free(in->reason);
	in->reason = xstrdup("key fetch or reload still running");
	inbound_answer(in);
}

/* Steer the call to the fallback path. */
static void
inbound_answer(struct inbound *in)
{
	struct session	*s = in->s;
	const char	*fc = conf_str(ikd->conf, "inbound:fallback_context");
	char		 ctx[80], ext[80], pri[16];
	const char	*c1, *c2;

	if (in->answered)
		return;
	in->answered = 1;
	if (in->timer != NULL)
		evtimer_del(in->timer);
	keys_caller_result(in->node, key_outcome_name(in->outcome));
	if (*fc != '\0') {
		/* context[,exten[,priority]], validated at load. */
		c1 = strchr(fc, ',');
		c2 = c1 != NULL ? strchr(c1 + 1, ',') : NULL;
		snprintf(ctx, sizeof ctx, "%.*s", c1 == NULL ? (int)strlen(fc) :
		    (int)(c1 - fc), fc);
		if (c1 == NULL)
			snprintf(ext, sizeof ext, "%s", agi_env_get(&s->env,
			    "agi_extension") != NULL ? agi_env_get(&s->env,
			    "agi_extension") : "s");
		else
			snprintf(ext, sizeof ext, "%.*s", c2 == NULL ?
			    (int)strlen(c1 + 1) : (int)(c2 - c1 - 1), c1 + 1);
		snprintf(pri, sizeof pri, "%s", c2 != NULL ? c2 + 1 : "1");
		session_cmd(s, NULL, NULL, "SET CONTEXT %s", ctx);
		session_cmd(s, NULL, NULL, "SET EXTENSION %s", ext);
		session_cmd(s, NULL, NULL, "SET PRIORITY %s", pri);
	}
	inbound_end(s, in, "FALLBACK", in->reason);
}

/* Set status and reason, log event=inbound, end the session. */
static void
inbound_end(struct session *s, struct inbound *in, const char *status,
    const char *reason)
{
	struct logline	l;

	const char	*names[] = { "IAXKEY_STATUS", "IAXKEY_REASON",
			    "IAXKEY_KEY", "IAXKEY_FINGERPRINT" };
	const char	*values[4];
	int		 fallback = strcmp(status, "FALLBACK") == 0;

	values[0] = status;
	values[1] = reason != NULL ? reason : "";
	values[2] = key_outcome_name(in->outcome);
	values[3] = in->fingerprint;
	/* RSA, every call once the network is set up: one variable. */
	session_setvars(s, strcmp(status, "RSA") == 0 ? 1 : fallback ? 4 : 2,
	    names, values);
	session_finish(s, status, reason);
	lf_begin(&l, strcmp(status, "ERROR") == 0 ? LOG_L_WARN : LOG_L_INFO,
	    "inbound");
	lf_hex(&l, "sess", s->id);
	lf_str(&l, "uniqueid", agi_env_get(&s->env, "agi_uniqueid"));
	lf_str(&l, "node", in->node[0] != '\0' ? in->node : NULL);
	lf_str(&l, "status", status);
	if (strcmp(status, "FALLBACK") == 0) {
		lf_str(&l, "key", key_outcome_name(in->outcome));
		lf_str(&l, "fingerprint", in->fingerprint[0] != '\0' ?
		    in->fingerprint : NULL);
	}
	lf_int(&l, "ms", now_ms() - in->t0);
	lf_str(&l, "reason", reason);
	lf_emit(&l);
}
