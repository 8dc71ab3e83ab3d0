/*
 * iaxkey-server: the key server.  One process, one libevent loop, evhttp
 * (HTTPS through libevent_openssl bufferevents), every key in memory.
 *
 *   main.c	options, startup, signals, "token add"
 *   config.c	the spec table (iaxkey_server_conf_spec)
 *   keys.c	the key table: per node a current, a next and a previous
 *		key (memory + <dir>/<node>.pub, <dir>/next/<node>.pub,
 *		<dir>/previous/<node>.pub), index, audit log
 *   nodeauth.c	enrolment tokens (<dir>/tokens/<node>, SHA-256 only), last
 *		accepted signed request per node (<dir>/seen/<node>)
 *   guard.c	replay cache (nonces), per-address token buckets and
 *		connection counts
 *   conn.c	HTTP transport: listener, TLS, connection limits and
 *		deadlines
 *   api.c	the /v1/keys API: routing, GETs and their cache headers,
 *		signed requests, PUT and DELETE of the current key
 *   rotate.c	the rotation routes: PUT and DELETE /v1/keys/<node>/next,
 *		DELETE /v1/keys/<node>/previous
 *   stats.c	counters by route, status, reason; the /metrics endpoint
 */
#ifndef KS_H
#define KS_H

#include <stddef.h>
#include <time.h>

#include "lib/conf.h"
#include "lib/rsakey.h"

#define KS_VERSION	"0.1"
#define KS_NODE_MAX	64		/* [A-Za-z0-9._-], first alnum */
#define KS_NONCE_MIN	16
#define KS_NONCE_MAX	64
#define KS_TOKEN_BYTES	32		/* hex on the wire: 64 chars */
#define KS_TOKEN_MAX	128		/* longest X-Iaxkey-Token */

struct event_base;

/* stats.c: what api.c counts (label values of /metrics). */
enum stats_route {
	STATS_ROUTE_INDEX,		/* GET /v1/keys */
	STATS_ROUTE_KEY_GET,		/* GET, HEAD /v1/keys/<node> */
	STATS_ROUTE_KEY_PUT,
	STATS_ROUTE_KEY_DELETE,
	STATS_ROUTE_NEXT_GET,		/* GET, HEAD /v1/keys/<node>/next */
	STATS_ROUTE_NEXT_PUT,
	STATS_ROUTE_NEXT_DELETE,
	STATS_ROUTE_PREVIOUS_GET,	/* GET, HEAD /v1/keys/<node>/previous */
	STATS_ROUTE_PREVIOUS_DELETE,
	STATS_ROUTE_OTHER,		/* anything else */
	STATS_ROUTE_MAX
};
enum stats_upload {
	STATS_UPLOAD_REGISTERED,
	STATS_UPLOAD_REPLACED,
	STATS_UPLOAD_PROMOTED,
	STATS_UPLOAD_STAGED,
	STATS_UPLOAD_UNCHANGED,
	STATS_UPLOAD_REFUSED,
	STATS_UPLOAD_MAX
};
enum stats_closed {
	STATS_CLOSED_PER_ADDR,		/* max_per_addr reached */
	STATS_CLOSED_DEADLINE,		/* a phase deadline passed */
	STATS_CLOSED_MAX
};

#define KS_FPR_MAX	sizeof ((struct rsakey_info *)0)->fingerprint
#define KS_ETAG_MAX	(KS_FPR_MAX + 40)

/* The keys a node may hold at once: all different, all public. */
enum ks_slot {
	KS_CURRENT,		/* <dir>/<node>.pub: in use */
	KS_NEXT,		/* <dir>/next/<node>.pub: staged */
	KS_PREVIOUS,		/* <dir>/previous/<node>.pub: until retired */
	KS_SLOT_MAX
};

/* One key; pem is NUL-terminated. */
struct ks_pem {
	char	*pem;
	size_t	 len;
	char	 fpr[KS_FPR_MAX];
};

/*
 * A node: its keys (slot[KS_CURRENT] is never NULL), when the answer of
 * each slot's route last changed, and the ETag and Last-Modified of the
 * current key's answer (which names the next and previous keys too).
 */
struct ks_key {
	char		 node[KS_NODE_MAX + 1];
	struct ks_pem	*slot[KS_SLOT_MAX];
	time_t		 changed[KS_SLOT_MAX];
	time_t		 modified;
	char		 etag[KS_ETAG_MAX];
};

/* A key to store: validated PEM text and its fingerprint. */
struct ks_upload {
	const char	*pem;
	size_t		 len;
	const char	*fpr;
};

/* config.c */
extern const struct conf_spec iaxkey_server_conf_spec[];

/* keys.c */
int		 ks_node_valid(const char *, const char **);
const char	*ks_slot_name(enum ks_slot);
int		 keys_init(const struct conf *, char **);
void		 keys_free(void);
const struct ks_key *keys_get(const char *);
size_t		 keys_count(void);
const char	*keys_index(size_t *, const char **, time_t *);
int		 keys_register(const char *, const struct ks_upload *,
		    const char *, const char *, char **);
int		 keys_replace(const char *, const struct ks_upload *,
		    const char *, const char *, char **);
int		 keys_promote(const char *, const char *, const char *,
		    char **);
int		 keys_stage(const char *, const struct ks_upload *,
		    const char *, const char *, char **);
int		 keys_drop(const char *, enum ks_slot, const char *,
		    const char *, char **);
int		 keys_delete(const char *, const char *, const char *,
		    char **);

/* nodeauth.c */
int		 nodeauth_init(const char *, char **);
void		 nodeauth_free(void);
int		 nodeauth_token_add(const struct conf *, const char *, char **,
		    char **);
int		 nodeauth_token_check(const char *, const char *,
		    const char **);
int		 nodeauth_token_consume(const char *, char **);
#define NODEAUTH_SEEN_REPLAY	1
#define NODEAUTH_SEEN_BUSY	2
int		 nodeauth_seen(const char *, long long, const char *,
		    const char **, char **);

/* guard.c */
int		 guard_init(const struct conf *);
void		 guard_free(void);
int		 guard_nonce_valid(const char *);
int		 guard_nonce_seen(const char *, time_t, const char **);
int		 guard_rate(const char *);
int		 guard_conn_open(const char *);
void		 guard_conn_close(const char *);
size_t		 guard_nonces(size_t *);

/* conn.c */
int		 conn_init(struct event_base *, const struct conf *, char **);
int		 conn_tls_check(const struct conf *, char **);
void		 conn_free(void);
int		 conn_active(void);
int		 conn_paused(void);
const char	*conn_addr(void);

/* api.c: a checked signed request (api_sig_parse). */
struct api_sig {
	long long	 ts;
	const char	*nonce;
	const char	*sig;
	char		*canon;		/* the canonical string */
};
struct evhttp_request;

/* One change request being answered: its outcome so far. */
struct api_op {
	struct evhttp_request	*req;
	const char		*node;
	const char		*addr;
	struct api_sig		 s;
	int			 code;		/* the status to answer */
	const char		*why;		/* static reason, or */
	char			*cause;		/* an allocated one */
	char			 fpr[KS_FPR_MAX];	/* the key at stake */
};
void		 api_init(const struct conf *);
void		 api_op_init(struct api_op *, struct evhttp_request *,
		    const char *, const char *);
void		 api_op_upload(struct api_op *, const char *, const char *,
		    enum stats_upload);
void		 api_op_fail(struct api_op *, int);
int		 api_op_key(struct api_op *, const char *, struct ks_upload *);
int		 api_op_token(struct api_op *, const char *);
void		 api_handle(struct evhttp_request *, void *);
int		 api_sig_parse(struct evhttp_request *, const char *,
		    const char *, const void *, size_t, struct api_sig *,
		    const char **);
int		 api_sig_verify(const char *, size_t, const struct api_sig *,
		    const char *);
int		 api_sig_accept(const char *, struct api_sig *, int *,
		    const char **);
const char	*api_body(struct evhttp_request *, size_t *, int *,
		    const char **);
void		 api_done(struct evhttp_request *, const char *, const char *,
		    int, const char *, const char *, const char *);
void		 api_refuse(struct evhttp_request *, const char *,
		    const char *, int, const char *, const char *);
void		 api_store_failed(const char *, const char *, char **,
		    int *, const char **);

/* rotate.c */
void		 rotate_put_next(struct evhttp_request *, const char *,
		    const char *);
void		 rotate_delete(struct evhttp_request *, const char *,
		    enum ks_slot, const char *);

/* stats.c */
void		 stats_request(enum stats_route, int);
void		 stats_upload(enum stats_upload);
void		 stats_conn_accepted(void);
void		 stats_conn_closed(enum stats_closed);
int		 stats_serve(struct event_base *, const struct conf *, char **);
void		 stats_serve_stop(void);

#endif
