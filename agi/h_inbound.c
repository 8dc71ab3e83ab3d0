/*
 * h_inbound: the callee's half.
 *
 *   AGI(agi://127.0.0.1/inbound[,<caller-node>[,RSA|MD5]])
 *
 * What the arguments leave out is asked of Asterisk: the node from
 * ${IAXVAR(node)} (the caller's iaxkeyd sets it), the method from
 * ${CHANNEL(auth_method)} or the context lists.  On a per-node RSA leg the
 * authenticated user section names the node.  The same GET asks for the
 * caller's key hint, ${IAXVAR(keynext)}: a next key it staged, which a
 * known node's held set lacks, is fetched in the background.  An RSA call
 * whose node and method needed no GET (both arguments given, or the
 * per-node user) asks the hint alone when the node's keys are held.
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
#include "lib/astconf.h"
#include "lib/xmalloc.h"

#define INBOUND_ADDR_MAX	64
#define INBOUND_BAD_NODE	"caller node: not " \
				"[A-Za-z0-9][A-Za-z0-9._-]{0,63} (79 with " \
				"key_prefix)"

struct inbound {
	struct session		*s;
	char			 node[KEYS_NODE_MAX + 1];
	const char		*node_src;	/* arg, iaxvar, user */
	char			 method[8];
	int			 ask_method;	/* inbound_ask asked for them */
	int			 ask_node;
	int			 hint_asked;	/* a GET included the hint */
	char			 hint[80];	/* IAXVAR(keynext), untrusted */
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
static void	inbound_rsa(struct session *, struct inbound *);
static void	inbound_hint_cb(struct session *, const struct agi_reply *,
		    void *);
static void	inbound_hint_take(struct inbound *, const char *, size_t);
static void	inbound_ask(struct session *, struct inbound *);
static void	inbound_ask_cb(struct session *, const struct agi_reply *,
		    void *);
static int	inbound_chan_user(struct session *, char *, size_t);
static int	inbound_node_user(struct session *, struct inbound *);
static void	inbound_dispatch(struct session *, struct inbound *);
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
	if (node != NULL && *node != '\0') {
		if (strlen(node) >= sizeof in->node) {
			inbound_end(s, in, "INVALID", INBOUND_BAD_NODE);
			return;
		}
		strlcpy_(in->node, node, sizeof in->node);
		in->node_src = "arg";
	}
	if (method != NULL && *method != '\0')
		snprintf(in->method, sizeof in->method, "%s", method);
	inbound_ask(s, in);
}

/*
 * Ask Asterisk, in one command, for what the arguments left out: the
 * method (CHANNEL(auth_method), Asterisk 20.20, 22.10, 23.4 and later) and
 * the node name the caller's iaxkeyd sent (IAXVAR(node)), and with them
 * the caller's key hint (IAXVAR(keynext)).  On a per-node RSA leg the
 * authenticated user names the node and nothing is asked here.
 */
static void
inbound_ask(struct session *s, struct inbound *in)
{
	in->ask_method = in->method[0] == '\0';
	in->ask_node = in->node[0] == '\0' && !inbound_node_user(s, in);
	if (!in->ask_method && !in->ask_node) {
		inbound_dispatch(s, in);
		return;
	}
	in->hint_asked = 1;
	if (session_cmd(s, inbound_ask_cb, in, "GET FULL VARIABLE %s%s%s/%s",
	    in->ask_method ? "${CHANNEL(auth_method)}" : "",
	    in->ask_method && in->ask_node ? "/" : "",
	    in->ask_node ? "${IAXVAR(node)}" : "", "${IAXVAR(keynext)}") ==
	    -1)
		inbound_end(s, in, "ERROR", "cannot ask Asterisk");
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

/*
 * The IAX2 user section that took the call, from agi_channel
 * "IAX2/<user>-<callno>", into buf; 1, or 0 when the channel is not that.
 */
static int
inbound_chan_user(struct session *s, char *buf, size_t size)
{
	const char	*chan = agi_env_get(&s->env, "agi_channel");
	const char	*p, *dash;

	if (chan == NULL || strncmp(chan, "IAX2/", 5) != 0)
		return (0);
	p = chan + 5;
	if ((dash = strrchr(p, '-')) == NULL || dash == p ||
	    dash[1] == '\0' || strspn(dash + 1, "0123456789") !=
	    strlen(dash + 1) || (size_t)(dash - p) >= size)
		return (0);
	snprintf(buf, size, "%.*s", (int)(dash - p), p);
	return (astconf_name_ok(buf));
}

/*
 * On a per-node RSA leg the IAX2 user that authenticated the call is the
 * node ("IAX2/<key_prefix><node>-<callno>"): when it names a node whose
 * key iaxkeyd installed, that is the node, proven by its key.  1 when
 * taken.
 */
static int
inbound_node_user(struct session *s, struct inbound *in)
{
	const char	*prefix = conf_str(ikd->conf, "inbound:key_prefix");
	char		 user[ASTCONF_NAME_MAX + 1];
	size_t		 len = strlen(prefix);

	if (strcasecmp(in->method, "RSA") != 0 || conf_enum(ikd->conf,
	    "inbound:inkeys") != CFG_INKEYS_PER_NODE ||
	    !inbound_chan_user(s, user, sizeof user) ||
	    strncmp(user, prefix, len) != 0 || !keys_node_ok(user + len) ||
	    !keys_installed(user + len, NULL, 0))
		return (0);
	if (keys_node_ok(in->node) && strcmp(in->node, user + len) != 0)
		log_info("inbound: caller claimed node %s, authenticated as "
		    "%s", in->node, user + len);
	strlcpy_(in->node, user + len, sizeof in->node);
	in->node_src = "user";
	return (1);
}

/*
 * The answer to inbound_ask: method and/or node, then the hint after the
 * last '/' (a '/' in the node leaves a name that is refused).
 */
static void
inbound_ask_cb(struct session *s, const struct agi_reply *r, void *arg)
{
	struct inbound	*in = arg;
	const char	*ctx = agi_env_get(&s->env, "agi_context");
	const char	*d = r->code == 200 && r->data != NULL ? r->data : "";
	size_t		 len = r->code == 200 && r->data != NULL ? r->datalen : 0;
	const char	*node = d, *hint;
	size_t		 mlen;

	if ((hint = memrchr(d, '/', len)) == NULL) {
		inbound_end(s, in, "ERROR", "unexpected reply");
		return;
	}
	inbound_hint_take(in, hint + 1, (size_t)(d + len - hint - 1));
	len = hint - d;
	mlen = in->ask_method ? len : 0;
	if (in->ask_method && in->ask_node) {
		if ((node = memchr(d, '/', len)) == NULL) {
			inbound_end(s, in, "ERROR", "unexpected reply");
			return;
		}
		mlen = (size_t)(node++ - d);
	}
	if (in->ask_method && mlen > 0 && mlen < sizeof in->method)
		snprintf(in->method, sizeof in->method, "%.*s", (int)mlen, d);
	if (in->ask_node) {
		len -= (size_t)(node - d);
		if (len >= sizeof in->node) {
			inbound_end(s, in, "INVALID", INBOUND_BAD_NODE);
			return;
		}
		snprintf(in->node, sizeof in->node, "%.*s", (int)len, node);
		in->node_src = "iaxvar";
	}
	if (in->ask_node && in->node[0] == '\0') {
		inbound_end(s, in, "INVALID", "caller node: not given, and "
		    "${IAXVAR(node)} is empty");
		return;
	}
	in->ask_method = in->ask_node = 0;
	if (in->method[0] == '\0' && ctx != NULL) {
		if (inbound_in_list(conf_str(ikd->conf, "inbound:rsa_contexts"),
		    ctx))
			strlcpy_(in->method, "RSA", sizeof in->method);
		else if (inbound_in_list(conf_str(ikd->conf,
		    "inbound:md5_contexts"), ctx))
			strlcpy_(in->method, "MD5", sizeof in->method);
	}
	if (in->method[0] == '\0') {
		inbound_end(s, in, "ERROR", "auth method unknown: pass it, or "
		    "set rsa_contexts and md5_contexts");
		return;
	}
	inbound_dispatch(s, in);
}

/* Method and node known: check them, prefer the authenticated user. */
static void
inbound_dispatch(struct session *s, struct inbound *in)
{
	if (in->node_src == NULL || strcmp(in->node_src, "user") != 0)
		inbound_node_user(s, in);
	if (in->node[0] == '\0' || !keys_node_ok(in->node)) {
		inbound_end(s, in, "INVALID", INBOUND_BAD_NODE);
		return;
	}
	if (in->hint[0] != '\0')
		keys_hint(in->node, in->hint);
	inbound_method(s, in, in->method);
}

/* Keep the hint of len bytes at p (untrusted; keys_hint checks it). */
static void
inbound_hint_take(struct inbound *in, const char *p, size_t len)
{
	if (len < sizeof in->hint)
		snprintf(in->hint, sizeof in->hint, "%.*s", (int)len, p);
}

/* Dispatch on the authentication method. */
static void
inbound_method(struct session *s, struct inbound *in, const char *method)
{
	if (strcasecmp(method, "RSA") == 0) {
		/*
		 * The hint, when no GET asked it yet: only for a node whose
		 * keys are held (keys_hint ignores the others).  An MD5 call
		 * from such a node refetches the whole set anyway.
		 */
		if (in->hint_asked || !keys_installed(in->node, NULL, 0)) {
			inbound_rsa(s, in);
			return;
		}
		in->hint_asked = 1;
		if (session_cmd(s, inbound_hint_cb, in,
		    "GET FULL VARIABLE ${IAXVAR(keynext)}") == -1)
			inbound_end(s, in, "ERROR", "cannot ask Asterisk");
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

/* The answer to the hint's own GET; a failed GET only loses the hint. */
static void
inbound_hint_cb(struct session *s, const struct agi_reply *r, void *arg)
{
	struct inbound	*in = arg;

	if (r->code == 200 && r->data != NULL)
		inbound_hint_take(in, r->data, r->datalen);
	if (in->hint[0] != '\0')
		keys_hint(in->node, in->hint);
	inbound_rsa(s, in);
}

/* An RSA call: the caller's key is loaded; refresh it when old. */
static void
inbound_rsa(struct session *s, struct inbound *in)
{
	keys_refresh_if_old(in->node);
	inbound_end(s, in, "RSA", NULL);
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
	/*
	 * wait_ms bounds every wait: for the fetch, and for a reload that an
	 * outcome known at once may still wait for (a key installed by an
	 * earlier call whose reload is running).
	 */
	wait_ms = conf_int(ikd->conf, "inbound:wait_ms");
	in->timer = evtimer_new(ikd->base, inbound_timeout_cb, in);
	tv.tv_sec = wait_ms / 1000;
	tv.tv_usec = (wait_ms % 1000) * 1000;
	evtimer_add(in->timer, &tv);
	if (keys_fetch(in->node, "inbound", 0, inbound_key_cb, in, &now,
	    &in->kw) == 1)
		inbound_key(in, &now);
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
	char		 user[ASTCONF_NAME_MAX + 1];

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
	lf_str(&l, "node_src", in->node_src);
	lf_str(&l, "user", inbound_chan_user(s, user, sizeof user) ? user :
	    NULL);
	lf_emit(&l);
}
