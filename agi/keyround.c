/*
 * keyround: one fetch round of a node's keys, for keys.c.  GET the
 * current key; its answer lists the node's next and previous keys
 * (X-Iaxkey-Next, X-Iaxkey-Previous: sha256:<hex>); GET each listed key
 * not held yet and check its fingerprint is the listed one; then
 * reconcile the held set in one transaction (keyset.c) and ask for one
 * reload.  Nothing is dropped unless every GET of the round succeeded.
 * The round ends in keys_round_done, always from the loop.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agi/config.h"
#include "agi/iaxkeyd.h"
#include "lib/http.h"
#include "lib/rsakey.h"
#include "lib/xmalloc.h"

#define KEYROUND_NEXT_HEADER		"X-Iaxkey-Next"
#define KEYROUND_PREVIOUS_HEADER	"X-Iaxkey-Previous"

static void	keyround_get(struct keyfetch *, enum key_role);
static void	keyround_fail(struct keyfetch *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));
static int	keyround_validate(const char *, size_t, struct keypub *,
		    char **);
static void	keyround_listed(struct keyfetch *, const struct http_resp *);
static void	keyround_done_cb(void *, const struct http_resp *,
		    const char *);
static void	keyround_settle(struct keyfetch *);
static int	keyround_changed(struct keyfetch *);
static void	keyround_install(struct keyfetch *, struct key_result *);

/* Start the round: GET the current key. */
void
keyround_start(struct keyfetch *kf)
{
	kf->t0 = now_ms();
	keyround_get(kf, KEY_ROLE_CURRENT);
}

/* Send one GET of a round. */
static void
keyround_get(struct keyfetch *kf, enum key_role role)
{
	static const char *const capture[] = {
		KEYROUND_NEXT_HEADER, KEYROUND_PREVIOUS_HEADER, NULL
	};
	struct keyget		*g = &kf->get[role];
	struct http_opts	 o;
	const char		*hdr[3] = { NULL, NULL, NULL };

	keys_http_opts(&o, hdr);
	if (kf->nocache) {
		/* A cache in front of the key server revalidates. */
		hdr[hdr[0] != NULL] = "Cache-Control: no-cache";
		o.headers = hdr;
	}
	if (role == KEY_ROLE_CURRENT)
		o.capture = capture;
	g->kf = kf;
	g->role = role;
	kf->pending++;
	g->req = ksget_key(keys_http(), kf->kn->node, role == KEY_ROLE_CURRENT ?
	    NULL : key_role_name(role), &o, keyround_done_cb, g);
}

/* Free a round and what it holds (its waiters must be gone). */
void
keyround_free(struct keyfetch *kf)
{
	int	i;

	for (i = 0; i < KEY_ROLE_MAX; i++) {
		ksget_cancel(kf->get[i].req);
		free(kf->get[i].pem);
	}
	free(kf->failed);
	free(kf->url);
	free(kf);
}

/* Note the first failure of a round: nothing will be dropped. */
static void
keyround_fail(struct keyfetch *kf, const char *fmt, ...)
{
	va_list	ap;

	if (kf->failed != NULL)
		return;
	va_start(ap, fmt);
	if (vasprintf(&kf->failed, fmt, ap) == -1)
		fatalx("out of memory");
	va_end(ap);
}

/* Validate one fetched key into p; 0, or -1 with *cause. */
static int
keyround_validate(const char *body, size_t len, struct keypub *p, char **cause)
{
	struct rsakey_info	info;
	char			*err = NULL;

	if (rsakey_pub_validate(body, len, conf_int(ikd->conf,
	    "keyserver:max_body"), &info, &err) == -1) {
		xasprintf(cause, "bad key: %s", err);
		free(err);
		return (-1);
	}
	if (p->listed && strcmp(p->fingerprint, info.fingerprint) != 0) {
		xasprintf(cause, "fingerprint %s is not the listed %s",
		    info.fingerprint, p->fingerprint);
		return (-1);
	}
	strlcpy_(p->fingerprint, info.fingerprint, sizeof p->fingerprint);
	p->bits = info.bits;
	p->listed = p->fetched = 1;
	return (0);
}

/*
 * The current key's answer names the other keys: GET those not held.
 * A malformed header (repeated, too long, not printable, not a
 * fingerprint), or one naming the current key, lists nothing and makes
 * the round incomplete: it is not taken for an absent one.
 */
static void
keyround_listed(struct keyfetch *kf, const struct http_resp *resp)
{
	struct keyset	 set;
	struct keypub	*p;
	const char	*v;
	char		*cause = NULL;
	int		 r;

	if (keyset_load(kf->kn->node, &set, &cause) == -1) {
		keyround_fail(kf, "%s", cause);
		free(cause);
		return;
	}
	for (r = KEY_ROLE_NEXT; r < KEY_ROLE_MAX; r++) {
		p = &kf->pub[r];
		v = resp->captured[r - KEY_ROLE_NEXT];
		if (v == NULL && !(resp->captured_bad &
		    (1U << (r - KEY_ROLE_NEXT))))
			continue;
		if (v == NULL || !keyset_fpr_ok(v, strlen(v)) || strcmp(v,
		    kf->pub[KEY_ROLE_CURRENT].fingerprint) == 0 ||
		    (r == KEY_ROLE_PREVIOUS && kf->pub[KEY_ROLE_NEXT].listed &&
		    strcmp(v, kf->pub[KEY_ROLE_NEXT].fingerprint) == 0)) {
			keyround_fail(kf, "key server: bad %s header",
			    r == KEY_ROLE_NEXT ? KEYROUND_NEXT_HEADER :
			    KEYROUND_PREVIOUS_HEADER);
			continue;
		}
		strlcpy_(p->fingerprint, v, sizeof p->fingerprint);
		p->listed = 1;
		if (keyset_find(&set, v) == -1)
			keyround_get(kf, r);
	}
	keyset_clear(&set);
}

/* An answer of a round's GET (or a transport failure). */
static void
keyround_done_cb(void *arg, const struct http_resp *resp, const char *url)
{
	struct keyget		*g = arg;
	struct keyfetch		*kf = g->kf;
	struct key_result	 r;
	char			 reason[256], *cause = NULL;
	const char		*what = key_role_name(g->role);

	g->req = NULL;
	kf->pending--;
	if (g->role != KEY_ROLE_CURRENT) {
		if (resp->error != NULL)
			keyround_fail(kf, "key server: %s key: %s", what,
			    resp->error);
		else if (resp->status != 200)
			keyround_fail(kf, "key server: %s key: HTTP %ld", what,
			    resp->status);
		else {
			g->pem = xmalloc(resp->len + 1);
			memcpy(g->pem, resp->body, resp->len + 1);
			kf->pub[g->role].pem = g->pem;
			kf->pub[g->role].len = resp->len;
			if (keyround_validate(g->pem, resp->len,
			    &kf->pub[g->role], &cause) == -1) {
				keyround_fail(kf, "%s key: %s", what, cause);
				free(cause);
			}
		}
		if (kf->pending == 0)
			keyround_settle(kf);
		return;
	}
	kf->url = xstrdup(url);
	memset(&r, 0, sizeof r);
	if (resp->error != NULL) {
		snprintf(reason, sizeof reason, "key server: %s", resp->error);
		r.outcome = KEY_FAILED;
	} else if (resp->status == 404) {
		kf->kn->last_404 = now_ms();
		r.outcome = KEY_NOT_FOUND;
		snprintf(reason, sizeof reason, "not on the key server");
	} else if (resp->status != 200) {
		snprintf(reason, sizeof reason, "key server: HTTP %ld",
		    resp->status);
		r.outcome = KEY_FAILED;
	} else {
		kf->kn->last_404 = 0;
		g->pem = xmalloc(resp->len + 1);
		memcpy(g->pem, resp->body, resp->len + 1);
		kf->pub[KEY_ROLE_CURRENT].pem = g->pem;
		kf->pub[KEY_ROLE_CURRENT].len = resp->len;
		if (keyround_validate(g->pem, resp->len,
		    &kf->pub[KEY_ROLE_CURRENT], &cause) == 0) {
			keyround_listed(kf, resp);
			if (kf->pending == 0)
				keyround_settle(kf);
			return;
		}
		snprintf(reason, sizeof reason, "%s", cause);
		free(cause);
		r.outcome = KEY_FAILED;
	}
	if (r.outcome == KEY_FAILED)
		kf->kn->last_attempt = 0;
	r.reason = reason;
	keys_round_done(kf, &r);
}

/* Every GET of a round answered: install, deliver, start the next. */
static void
keyround_settle(struct keyfetch *kf)
{
	struct key_result	r;

	memset(&r, 0, sizeof r);
	keyround_install(kf, &r);
	if (r.outcome == KEY_FAILED || kf->failed != NULL)
		kf->kn->last_attempt = 0;
	keys_round_done(kf, &r);
}

/*
 * on_key_change: a current key not in the held set (a promoted next is
 * no change) is logged, and refused with reject.  1 when refused.
 */
static int
keyround_changed(struct keyfetch *kf)
{
	const struct keypub	*cur = &kf->pub[KEY_ROLE_CURRENT];
	struct keyset		 set;
	struct logline		 l;
	char			 old[KEYSET_FPR_MAX + 1] = "", *cause = NULL;
	int			 reject, changed, s;

	if (keyset_load(kf->kn->node, &set, &cause) == -1) {
		free(cause);
		return (0);
	}
	changed = keyset_count(&set) > 0 &&
	    keyset_find(&set, cur->fingerprint) == -1;
	for (s = 0; s < KEYSET_SLOTS; s++) {
		if (set.slot[s].used && set.slot[s].role == KEY_ROLE_CURRENT)
			strlcpy_(old, set.slot[s].fingerprint, sizeof old);
	}
	keyset_clear(&set);
	if (!changed)
		return (0);
	reject = conf_enum(ikd->conf, "inbound:on_key_change") ==
	    CFG_KEY_CHANGE_REJECT;
	lf_begin(&l, LOG_L_WARN, "key_changed");
	lf_str(&l, "node", kf->kn->node);
	lf_str(&l, "old", old[0] != '\0' ? old : NULL);
	lf_str(&l, "new", cur->fingerprint);
	lf_str(&l, "action", reject ? "rejected" : "accepted");
	lf_emit(&l);
	return (reject);
}

/* Install the round's keys: reconcile the held set with the published. */
static void
keyround_install(struct keyfetch *kf, struct key_result *r)
{
	static char		 fpr[KEYSET_FPR_MAX + 1], reason[512];
	struct keyset_change	 chg;
	char			*cause = NULL;

	r->outcome = KEY_FAILED;
	r->reason = reason;
	strlcpy_(fpr, kf->pub[KEY_ROLE_CURRENT].fingerprint, sizeof fpr);
	r->fingerprint = fpr;
	if (keyround_changed(kf)) {
		snprintf(reason, sizeof reason, "key changed (%s); "
		    "on_key_change = reject", fpr);
		return;
	}
	if (keyset_apply(kf->kn->node, kf->source, kf->pub,
	    kf->failed == NULL, kf->kn->warned, sizeof kf->kn->warned, &chg,
	    &cause) == -1) {
		snprintf(reason, sizeof reason, "%s", cause);
		free(cause);
		return;
	}
	if (chg.mods != 0)
		kf->kn->gen = reload_need(chg.mods);
	r->gen = kf->kn->gen;
	kf->installed = chg.added;
	if (chg.had == 0)
		r->outcome = KEY_NEW;
	else if (chg.added + chg.dropped + chg.roles + chg.repaired > 0)
		r->outcome = KEY_UPDATED;
	else if (kf->failed != NULL)
		r->outcome = KEY_FAILED;	/* nothing learnt */
	else
		r->outcome = KEY_UNCHANGED;
	if (kf->failed != NULL)
		snprintf(reason, sizeof reason, "%s", kf->failed);
	else
		r->reason = NULL;
}
