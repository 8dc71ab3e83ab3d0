/*
 * h_outbound: the caller's half.  Validate the destination, make sure an
 * RSA+AES peer exists for it (config mode) and is loaded, and hand the
 * dialplan IAXKEY_DIAL (RSA+AES) and IAXKEY_FALLBACK (MD5+AES).
 *
 *   AGI(agi://127.0.0.1/outbound,IAX2/user:secret@host[:port]/exten[@ctx])
 *   AGI(agi://127.0.0.1/outbound,host=...,user=...,secret=...,exten=...)
 *
 * On every status but OK and INVALID, IAXKEY_DIAL is the fallback, so
 * Dial(${IAXKEY_DIAL}) then Dial(${IAXKEY_FALLBACK}) always works.
 */
#include <sys/stat.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "agi/config.h"
#include "agi/iaxkeyd.h"
#include "lib/afile.h"
#include "lib/astconf.h"
#include "lib/dialstr.h"
#include "lib/rsakey.h"
#include "lib/xmalloc.h"

struct outbound {
	struct dialdest	 d;		/* the MD5+AES destination, as given */
	struct dialdest	 rsa;		/* the same with the RSA leg's user */
	char		 peer[ASTCONF_NAME_MAX + 1];
	char		 fallback[DIAL_STR_MAX];
	int		 changed;
	uint64_t	 t0;
};

/* The node's own key, checked once per change of the file. */
static struct {
	char			*path;
	struct stat		 st;
	int			 ok;
	char			*reason;
	char			 fingerprint[72];
	uint64_t		 checked;	/* ms: stat at most once a second */
} ownkey;

static int	outbound_ownkey(const char **);
static int	outbound_rsa_user(const struct dialdest *, char *, size_t);
static int	outbound_ownkey_pub(const struct stat *, struct rsakey_info *,
		    char **);
static void	outbound_reloaded(struct session *, enum reload_result,
		    const char *, void *);
static void	outbound_end(struct session *, struct outbound *,
		    const char *, const char *, const char *);

/*
 * The own key when iaxkeyd may not read it (it belongs to the user
 * Asterisk runs as, mode 0600, and iaxkeyd runs as another user): the
 * mode Asterisk insists on from stat, the key from <name>.pub beside it.
 * Returns 0 or -1 with *cause.
 */
static int
outbound_ownkey_pub(const struct stat *st, struct rsakey_info *info,
    char **cause)
{
	mode_t	 perm = st->st_mode & 07777;
	char	*pub, *buf = NULL;
	size_t	 len;
	int	 rc;

	if (!S_ISREG(st->st_mode) || (perm != 0600 && perm != 0400)) {
		xasprintf(cause, "%s: mode %04o: Asterisk refuses private keys "
		    "whose mode is not 0600 or 0400", ownkey.path,
		    (unsigned)perm);
		return (-1);
	}
	xasprintf(&pub, "%.*s.pub", (int)(strlen(ownkey.path) - 4),
	    ownkey.path);
	rc = afile_read(pub, RSAKEY_PEM_MAX, &buf, &len, cause);
	if (rc == 1)
		xasprintf(cause, "%s is not readable by iaxkeyd and %s is "
		    "missing", ownkey.path, pub);
	else if (rc == 0)
		rc = rsakey_pub_validate(buf, len, RSAKEY_PEM_MAX, info, cause);
	free(buf);
	free(pub);
	return (rc == 0 ? 0 : -1);
}

/*
 * 1 when <key_dir>/<name>.key is a key Asterisk can load.  The check
 * (PEM, RSA 1024, mode 0600/0400) reruns only when the file changes.
 */
static int
outbound_ownkey(const char **reason)
{
	struct stat		 st;
	struct rsakey_info	 info;
	char			*cause = NULL, *path;
	uint64_t		 now = now_ms();

	if (*conf_str(ikd->conf, "node:name") == '\0') {
		*reason = "[node] name is not set";
		return (0);
	}
	xasprintf(&path, "%s/%s.key", conf_str(ikd->conf, "asterisk:key_dir"),
	    conf_str(ikd->conf, "node:name"));
	if (ownkey.path != NULL && strcmp(path, ownkey.path) == 0 &&
	    now - ownkey.checked < 1000) {
		free(path);
		*reason = ownkey.reason;
		return (ownkey.ok);
	}
	free(ownkey.path);
	ownkey.path = path;
	ownkey.checked = now;
	if (stat(ownkey.path, &st) == -1) {
		free(ownkey.reason);
		xasprintf(&ownkey.reason, "own key %s missing", ownkey.path);
		ownkey.ok = 0;
		memset(&ownkey.st, 0, sizeof ownkey.st);
		*reason = ownkey.reason;
		return (0);
	}
	if (st.st_ino != ownkey.st.st_ino || st.st_dev != ownkey.st.st_dev ||
	    st.st_mtim.tv_sec != ownkey.st.st_mtim.tv_sec ||
	    st.st_mtim.tv_nsec != ownkey.st.st_mtim.tv_nsec ||
	    st.st_size != ownkey.st.st_size || st.st_mode != ownkey.st.st_mode) {
		ownkey.st = st;
		free(ownkey.reason);
		ownkey.reason = NULL;
		if (access(ownkey.path, R_OK) == -1 && errno == EACCES)
			ownkey.ok = outbound_ownkey_pub(&st, &info,
			    &cause) == 0;
		else
			ownkey.ok = rsakey_priv_check(ownkey.path, &info,
			    &cause) == 0;
		if (ownkey.ok) {
			if (ownkey.fingerprint[0] != '\0' &&
			    strcmp(ownkey.fingerprint, info.fingerprint) != 0)
				reload_need(RELOAD_RES_CRYPTO);
			strlcpy_(ownkey.fingerprint, info.fingerprint,
			    sizeof ownkey.fingerprint);
		} else {
			xasprintf(&ownkey.reason, "own key: %s", cause);
			free(cause);
		}
	}
	*reason = ownkey.reason;
	return (ownkey.ok);
}

/*
 * The user name of the RSA leg: [outbound] rsa_user with {user} (the dial
 * string's user) and {node} (this node) replaced; the template was checked
 * at load.  Returns 0, or -1 when the result is too long.
 */
static int
outbound_rsa_user(const struct dialdest *d, char *buf, size_t size)
{
	const char	*p = conf_str(ikd->conf, "outbound:rsa_user");
	const char	*node = conf_str(ikd->conf, "node:name");
	size_t		 o = 0, n;

	while (*p != '\0') {
		if (strncmp(p, "{user}", 6) == 0) {
			n = strlen(d->user);
			if (o + n >= size)
				return (-1);
			memcpy(buf + o, d->user, n);
			p += 6;
		} else if (strncmp(p, "{node}", 6) == 0) {
			n = strlen(node);
			if (o + n >= size)
				return (-1);
			memcpy(buf + o, node, n);
			p += 6;
		} else {
			n = 1;
			if (o + n >= size)
				return (-1);
			buf[o] = *p++;
		}
		o += n;
	}
	buf[o] = '\0';
	return (o == 0 ? -1 : 0);
}

/* Free the cached key check. */
void
h_outbound_free(void)
{
	free(ownkey.path);
	free(ownkey.reason);
	memset(&ownkey, 0, sizeof ownkey);
}

/* Run the outbound script. */
void
h_outbound_start(struct session *s)
{
	struct outbound	*o;
	const char	*field = NULL, *why = NULL, *arg, *reason;
	char		 buf[DIAL_STR_MAX], msg[160], *cause = NULL;
	uint64_t	 gen;
	int		 i, rc = 0;

	o = xcalloc(1, sizeof *o);
	o->t0 = now_ms();
	s->hdata = o;
	s->hfree = free;
	dialdest_init(&o->d);

	/* One dial string, or named arguments. */
	arg = agi_env_arg(&s->env, 1);
	if (arg != NULL && strncasecmp(arg, "IAX2/", 5) == 0 &&
	    s->env.nargs == 1)
		rc = dialstr_parse(arg, &o->d, &field, &why);
	else if (arg == NULL) {
		rc = -1;
		field = "destination";
		why = "missing (dial string or host=, user=, ...)";
	} else {
		for (i = 1; i <= s->env.nargs && rc == 0; i++)
			rc = dialdest_arg(&o->d, agi_env_arg(&s->env, i),
			    &field, &why);
	}
	if (rc == 0)
		rc = dialdest_complete(&o->d, &field, &why);
	if (rc == -1) {
		snprintf(msg, sizeof msg, "%s: %s", field, why);
		outbound_end(s, o, "INVALID", "", msg);
		return;
	}
	dialdest_md5(&o->d, o->fallback, sizeof o->fallback);

	if (!outbound_ownkey(&reason)) {
		outbound_end(s, o, "ERROR", o->fallback, reason);
		return;
	}
	o->rsa = o->d;
	if (outbound_rsa_user(&o->d, o->rsa.user, sizeof o->rsa.user) == -1) {
		outbound_end(s, o, "INVALID", "", "user: too long for "
		    "[outbound] rsa_user");
		return;
	}
	if (conf_enum(ikd->conf, "outbound:mode") == CFG_MODE_DIALSTRING) {
		dialdest_rsa_inline(&o->rsa, conf_str(ikd->conf, "node:name"),
		    buf, sizeof buf);
		outbound_end(s, o, "OK", buf, NULL);
		return;
	}
	peers_name(&o->rsa, o->peer, sizeof o->peer);
	if (peers_ensure(&o->rsa, o->peer, &gen, &o->changed, &cause) == -1) {
		outbound_end(s, o, "ERROR", o->fallback, cause);
		free(cause);
		return;
	}
	reload_wait(s, gen, outbound_reloaded, o);
}

/* The peer is loaded (or could not be). */
static void
outbound_reloaded(struct session *s, enum reload_result res,
    const char *reason, void *arg)
{
	struct outbound	*o = arg;
	char		 dial[DIAL_STR_MAX];

	switch (res) {
	case RELOAD_R_OK:
		dialdest_peer(&o->rsa, o->peer, dial, sizeof dial);
		outbound_end(s, o, "OK", dial, NULL);
		break;
	case RELOAD_R_WRITE:
		outbound_end(s, o, "ERROR", o->fallback, reason);
		break;
	default:
		outbound_end(s, o, "RELOAD_FAILED", o->fallback, reason);
		break;
	}
}

/*
 * Set the variables, log event=outbound, end the session.  A value that
 * holds the secret goes by SET VARIABLE: Asterisk logs the options of every
 * EXECed application (MSet) at verbosity 3, never SET VARIABLE's value.
 */
static void
outbound_end(struct session *s, struct outbound *o, const char *status,
    const char *dial, const char *reason)
{
	struct logline	l;
	int		ok = strcmp(status, "OK") == 0;
	int		invalid = strcmp(status, "INVALID") == 0;
	int		dial_secret = !(ok && o->peer[0] != '\0') &&
			    *dial != '\0';
	const char	*node = conf_str(ikd->conf, "node:name");
	const char	*names[6], *values[6];
	char		 next[80];
	int		 n = 0;

	names[n] = "IAXKEY_STATUS";
	values[n++] = status;
	if (!dial_secret) {
		names[n] = "IAXKEY_DIAL";
		values[n++] = dial;
	}
	names[n] = "IAXKEY_PEER";
	values[n++] = ok && o->peer[0] != '\0' ? o->peer : "";
	names[n] = "IAXKEY_REASON";
	values[n++] = reason != NULL ? reason : "";
	if (*node != '\0') {
		/* Travels with the call: the callee's ${IAXVAR(node)}. */
		names[n] = "IAXVAR(node)";
		values[n++] = node;
		/* While a next key is staged: callees fetch it early. */
		if (keyops_next_fingerprint(next, sizeof next)) {
			names[n] = "IAXVAR(keynext)";
			values[n++] = next;
		}
	}
	session_setvars(s, n, names, values);
	if (dial_secret)
		session_setvar(s, "IAXKEY_DIAL", dial);
	session_setvar(s, "IAXKEY_FALLBACK", invalid ? "" : o->fallback);
	session_finish(s, status, reason);

	lf_begin(&l, ok || invalid ? LOG_L_INFO : LOG_L_WARN, "outbound");
	lf_hex(&l, "sess", s->id);
	lf_str(&l, "uniqueid", agi_env_get(&s->env, "agi_uniqueid"));
	if (!invalid) {
		lf_fmt(&l, "dest", "%s:%d", o->d.host, o->d.port);
		lf_str(&l, "peer", o->peer[0] != '\0' ? o->peer : NULL);
		lf_str(&l, "rsa_user", o->rsa.user[0] != '\0' ? o->rsa.user :
		    NULL);
		lf_str(&l, "changed", o->changed ? "yes" : "no");
	}
	lf_str(&l, "status", status);
	lf_int(&l, "ms", now_ms() - o->t0);
	lf_str(&l, "reason", reason);
	lf_emit(&l);
}
