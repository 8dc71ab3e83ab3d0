/*
 * rotate: the routes that change a node's next and previous keys, and
 * the DELETEs of every slot.
 *
 *   PUT    /v1/keys/<node>/next	stage: signed by the next key (body)
 *					and by the current key
 *   DELETE /v1/keys/<node>/next	unstage: signed by the current key
 *   DELETE /v1/keys/<node>/previous	retire: signed by the current key
 *   DELETE /v1/keys/<node>		revoke all three: signed by the
 *					current key, or an operator token
 *
 * The signed resource is "<node>/next", "<node>/previous" or "<node>":
 * node names hold no '/', so a signature for one route never verifies
 * for another.  The replay state of a node is shared by all its routes.
 */
#include <sys/types.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/http.h>

#include "lib/log.h"
#include "lib/rsakey.h"
#include "lib/xmalloc.h"
#include "keyserver/ks.h"

#define ROTATE_RESOURCE_MAX	(KS_NODE_MAX + 16)

static void	rotate_resource(char *, size_t, const char *, enum ks_slot);

/* The signed resource of node's slot route into buf. */
static void
rotate_resource(char *buf, size_t size, const char *node, enum ks_slot slot)
{
	if (slot == KS_CURRENT)
		snprintf(buf, size, "%s", node);
	else
		snprintf(buf, size, "%s/%s", node, ks_slot_name(slot));
}

/*
 * PUT /v1/keys/<node>/next: stage the body as node's next key.  201
 * staged, 200 when it replaces another staged key or is the same one
 * again ("unchanged"); 404 no current key; 409 when it is the current or
 * the previous key.
 */
void
rotate_put_next(struct evhttp_request *req, const char *node,
    const char *addr)
{
	struct evkeyvalq	*h = evhttp_request_get_input_headers(req);
	const struct ks_key	*k;
	struct rsakey_info	 info;
	struct ks_upload	 u;
	struct api_sig		 s;
	const char		*why = NULL, *body;
	char			*cause = NULL, fpr[KS_FPR_MAX], etag[KS_ETAG_MAX];
	char			 res[ROTATE_RESOURCE_MAX];
	size_t			 len;
	int			 code;

	memset(&s, 0, sizeof s);
	fpr[0] = '\0';
	if ((k = keys_get(node)) == NULL) {
		code = 404;
		why = "unknown node: register a current key first";
		goto fail;
	}
	if ((body = api_body(req, &len, &code, &why)) == NULL)
		goto fail;
	if (len == 0) {
		code = 400;
		why = "empty body: expected a PEM public key";
		goto fail;
	}
	rotate_resource(res, sizeof res, node, KS_NEXT);
	if ((code = api_sig_parse(req, "PUT", res, body, len, &s,
	    &why)) != 0)
		goto fail;
	if (rsakey_pub_validate(body, len, len, &info, &cause) == -1) {
		code = 400;
		goto fail;
	}
	strlcpy_(fpr, info.fingerprint, sizeof fpr);
	if (rsakey_verify(body, len, s.canon, strlen(s.canon), s.sig,
	    &cause) == -1) {
		free(cause);
		cause = NULL;
		code = 401;
		why = "signature does not verify with the uploaded key";
		goto fail;
	}
	if (!api_sig_verify(k->slot[KS_CURRENT], &s, evhttp_find_header(h,
	    "X-Iaxkey-Current-Signature"))) {
		code = 403;
		why = "staging a key needs X-Iaxkey-Current-Signature by the "
		    "currently registered key";
		goto fail;
	}
	if (api_sig_accept(node, &s, &code, &why) == -1)
		goto fail;
	code = 409;
	if (strcmp(k->slot[KS_CURRENT]->fpr, fpr) == 0) {
		why = "this is the current key";
		goto fail;
	}
	if (k->slot[KS_PREVIOUS] != NULL &&
	    strcmp(k->slot[KS_PREVIOUS]->fpr, fpr) == 0) {
		why = "this is the previous key";
		goto fail;
	}
	snprintf(etag, sizeof etag, "\"%s\"", fpr);
	if (k->slot[KS_NEXT] != NULL &&
	    strcmp(k->slot[KS_NEXT]->fpr, fpr) == 0) {
		evbuffer_add_printf(evhttp_request_get_output_buffer(req),
		    "%s unchanged\n", fpr);
		api_done(req, addr, node, 200, "unchanged", fpr, etag);
		stats_upload(STATS_UPLOAD_UNCHANGED);
		free(s.canon);
		return;
	}
	code = k->slot[KS_NEXT] != NULL ? 200 : 201;
	u.pem = body;
	u.len = len;
	u.fpr = fpr;
	if (keys_stage(node, &u, "key+current", addr, &cause) == -1) {
		api_store_failed(node, "stage", &cause, &code, &why);
		goto fail;
	}
	evbuffer_add_printf(evhttp_request_get_output_buffer(req), "%s\n",
	    fpr);
	api_done(req, addr, node, code, "stage", fpr, etag);
	stats_upload(STATS_UPLOAD_STAGED);
	free(s.canon);
	return;

fail:
	api_refuse(req, addr, node, code, cause != NULL ? cause : why, fpr);
	stats_upload(STATS_UPLOAD_REFUSED);
	free(cause);
	free(s.canon);
}

/*
 * DELETE /v1/keys/<node>[/next|/previous]: signed by the current key (or,
 * for the node itself, with an operator token).  The current key's route
 * revokes the node (all its keys), the others drop one key: 200 with
 * "revoked|unstaged|retired sha256:<hex>", 404 when there is none.
 */
void
rotate_delete(struct evhttp_request *req, const char *node,
    enum ks_slot slot, const char *addr)
{
	static const char *const	 done[KS_SLOT_MAX] = {
		[KS_CURRENT] = "revoke",
		[KS_NEXT] = "unstage",
		[KS_PREVIOUS] = "retire",
	};
	static const char *const	 past[KS_SLOT_MAX] = {
		[KS_CURRENT] = "revoked",
		[KS_NEXT] = "unstaged",
		[KS_PREVIOUS] = "retired",
	};
	struct evkeyvalq		*h = evhttp_request_get_input_headers(req);
	const struct ks_key		*k;
	struct api_sig			 s;
	const char			*why = NULL, *token = NULL, *auth;
	const char			*body;
	char				*cause = NULL, fpr[KS_FPR_MAX];
	char				 res[ROTATE_RESOURCE_MAX];
	size_t				 len;
	int				 code, rc;

	memset(&s, 0, sizeof s);
	fpr[0] = '\0';
	code = 404;
	if ((k = keys_get(node)) == NULL) {
		why = "unknown node";
		goto fail;
	}
	if (k->slot[slot] == NULL) {
		why = slot == KS_NEXT ? "no next key" : "no previous key";
		goto fail;
	}
	strlcpy_(fpr, k->slot[slot]->fpr, sizeof fpr);
	if ((body = api_body(req, &len, &code, &why)) == NULL)
		goto fail;
	if (slot == KS_CURRENT &&
	    (token = evhttp_find_header(h, "X-Iaxkey-Token")) != NULL) {
		if (strlen(token) > KS_TOKEN_MAX ||
		    !keys_token_check(node, token, &why)) {
			if (why == NULL)
				why = "bad token";
			code = 403;
			goto fail;
		}
		auth = "token";
	} else {
		rotate_resource(res, sizeof res, node, slot);
		if ((code = api_sig_parse(req, "DELETE", res, body, len, &s,
		    &why)) != 0)
			goto fail;
		if (!api_sig_verify(k->slot[KS_CURRENT], &s, s.sig)) {
			code = 401;
			why = "not signed by the currently registered key";
			goto fail;
		}
		if (api_sig_accept(node, &s, &code, &why) == -1)
			goto fail;
		auth = "key";
	}
	if (slot == KS_CURRENT)
		rc = keys_delete(node, auth, addr, &cause);
	else
		rc = keys_drop(node, slot, auth, addr, &cause);
	if (rc == -1) {
		api_store_failed(node, done[slot], &cause, &code, &why);
		goto fail;
	}
	if (token != NULL && keys_token_consume(node, &cause) == -1) {
		log_warnx("token of %s not removed: %s", node, cause);
		free(cause);
		cause = NULL;
	}
	evbuffer_add_printf(evhttp_request_get_output_buffer(req), "%s %s\n",
	    past[slot], fpr);
	api_done(req, addr, node, 200, done[slot], fpr, NULL);
	free(s.canon);
	return;

fail:
	api_refuse(req, addr, node, code, cause != NULL ? cause : why, fpr);
	free(cause);
	free(s.canon);
}
