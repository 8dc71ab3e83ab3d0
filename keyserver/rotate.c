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
	const struct ks_key	*k;
	const struct ks_pem	*cur;
	struct ks_upload	 u;
	struct api_op		 op;
	char			 etag[KS_ETAG_MAX], res[ROTATE_RESOURCE_MAX];

	api_op_init(&op, req, node, addr);
	if ((k = keys_get(node)) == NULL) {
		op.code = 404;
		op.why = "unknown node: register a current key first";
		goto fail;
	}
	cur = k->slot[KS_CURRENT];
	rotate_resource(res, sizeof res, node, KS_NEXT);
	if (api_op_key(&op, res, &u) == -1)
		goto fail;
	if (!api_sig_verify(cur->pem, cur->len, &op.s, evhttp_find_header(
	    evhttp_request_get_input_headers(req),
	    "X-Iaxkey-Current-Signature"))) {
		op.code = 403;
		op.why = "staging a key needs X-Iaxkey-Current-Signature by "
		    "the currently registered key";
		goto fail;
	}
	if (api_sig_accept(node, &op.s, &op.code, &op.why) == -1)
		goto fail;
	op.code = 409;
	if (strcmp(cur->fpr, op.fpr) == 0) {
		op.why = "this is the current key";
		goto fail;
	}
	if (k->slot[KS_PREVIOUS] != NULL &&
	    strcmp(k->slot[KS_PREVIOUS]->fpr, op.fpr) == 0) {
		op.why = "this is the previous key";
		goto fail;
	}
	snprintf(etag, sizeof etag, "\"%s\"", op.fpr);
	op.code = 200;
	if (k->slot[KS_NEXT] != NULL &&
	    strcmp(k->slot[KS_NEXT]->fpr, op.fpr) == 0) {
		api_op_upload(&op, "unchanged", etag, STATS_UPLOAD_UNCHANGED);
		return;
	}
	if (k->slot[KS_NEXT] == NULL)
		op.code = 201;
	if (keys_stage(node, &u, "key+current", addr, &op.cause) == -1) {
		api_store_failed(node, "stage", &op.cause, &op.code, &op.why);
		goto fail;
	}
	api_op_upload(&op, "stage", etag, STATS_UPLOAD_STAGED);
	return;

fail:
	api_op_fail(&op, 1);
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
	const struct ks_key		*k;
	const struct ks_pem		*cur;
	struct api_op			 op;
	const char			*token = NULL, *auth, *body;
	char				 res[ROTATE_RESOURCE_MAX];
	size_t				 len;
	int				 rc;

	api_op_init(&op, req, node, addr);
	op.code = 404;
	if ((k = keys_get(node)) == NULL) {
		op.why = "unknown node";
		goto fail;
	}
	if (k->slot[slot] == NULL) {
		op.why = slot == KS_NEXT ? "no next key" : "no previous key";
		goto fail;
	}
	cur = k->slot[KS_CURRENT];
	strlcpy_(op.fpr, k->slot[slot]->fpr, sizeof op.fpr);
	if ((body = api_body(req, &len, &op.code, &op.why)) == NULL)
		goto fail;
	if (slot == KS_CURRENT && (token = evhttp_find_header(
	    evhttp_request_get_input_headers(req), "X-Iaxkey-Token")) != NULL) {
		if (api_op_token(&op, token) == -1)
			goto fail;
		auth = "token";
	} else {
		rotate_resource(res, sizeof res, node, slot);
		if ((op.code = api_sig_parse(req, "DELETE", res, body, len,
		    &op.s, &op.why)) != 0)
			goto fail;
		if (!api_sig_verify(cur->pem, cur->len, &op.s, op.s.sig)) {
			op.code = 401;
			op.why = "not signed by the currently registered key";
			goto fail;
		}
		if (api_sig_accept(node, &op.s, &op.code, &op.why) == -1)
			goto fail;
		auth = "key";
	}
	if (slot == KS_CURRENT)
		rc = keys_delete(node, auth, addr, &op.cause);
	else
		rc = keys_drop(node, slot, auth, addr, &op.cause);
	if (rc == -1) {
		api_store_failed(node, done[slot], &op.cause, &op.code,
		    &op.why);
		goto fail;
	}
	if (token != NULL && nodeauth_token_consume(node, &op.cause) == -1) {
		log_warnx("token of %s not removed: %s", node, op.cause);
		free(op.cause);
		op.cause = NULL;
	}
	evbuffer_add_printf(evhttp_request_get_output_buffer(req), "%s %s\n",
	    past[slot], op.fpr);
	api_done(req, addr, node, 200, done[slot], op.fpr, NULL);
	free(op.s.canon);
	return;

fail:
	api_op_fail(&op, 0);
}
