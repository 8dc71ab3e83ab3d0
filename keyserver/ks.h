/*
 * iaxkey-server: the key server.  One process, one libevent loop, evhttp
 * (HTTPS through libevent_openssl bufferevents), every key in memory.
 *
 *   main.c	options, startup, signals, "token add"
 *   config.c	the spec table (iaxkey_server_conf_spec)
 *   keys.c	the key table (memory + <dir>/<node>.pub), index, audit
 *		log, enrolment tokens (<dir>/tokens/<node>, SHA-256 only),
 *		last accepted signed request per node (<dir>/seen/<node>)
 *   guard.c	replay cache (nonces), per-address token buckets and
 *		connection counts
 *   api.c	HTTP: listener, TLS, connection limits and deadlines, the
 *		/v1/keys API
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
	STATS_ROUTE_OTHER,		/* anything else */
	STATS_ROUTE_MAX
};
enum stats_upload {
	STATS_UPLOAD_REGISTERED,
	STATS_UPLOAD_REPLACED,
	STATS_UPLOAD_UNCHANGED,
	STATS_UPLOAD_REFUSED,
	STATS_UPLOAD_MAX
};
enum stats_closed {
	STATS_CLOSED_PER_ADDR,		/* max_per_addr reached */
	STATS_CLOSED_DEADLINE,		/* a phase deadline passed */
	STATS_CLOSED_MAX
};

/* One registered key; pem is NUL-terminated. */
struct ks_key {
	char	 node[KS_NODE_MAX + 1];
	char	*pem;
	size_t	 len;
	char	 fpr[sizeof ((struct rsakey_info *)0)->fingerprint];
	char	 etag[sizeof ((struct rsakey_info *)0)->fingerprint + 2];
};

/* config.c */
extern const struct conf_spec iaxkey_server_conf_spec[];

/* keys.c */
int		 ks_node_valid(const char *, const char **);
int		 keys_init(const struct conf *, char **);
void		 keys_free(void);
const struct ks_key *keys_get(const char *);
size_t		 keys_count(void);
const char	*keys_index(size_t *);
int		 keys_put(const char *, const char *, size_t,
		    const struct rsakey_info *, const char *, const char *,
		    const char *, char **);
int		 keys_delete(const char *, const char *, const char *,
		    char **);
int		 keys_token_add(const struct conf *, const char *, char **,
		    char **);
int		 keys_token_check(const char *, const char *, const char **);
int		 keys_token_consume(const char *, char **);
#define KEYS_SEEN_REPLAY	1
#define KEYS_SEEN_BUSY		2
int		 keys_seen(const char *, long long, const char *,
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

/* api.c */
int		 api_init(struct event_base *, const struct conf *, char **);
int		 api_tls_check(const struct conf *, char **);
void		 api_free(void);
int		 api_active(void);
int		 api_paused(void);
const char	*api_addr(void);

/* stats.c */
void		 stats_request(enum stats_route, int);
void		 stats_upload(enum stats_upload);
void		 stats_conn_accepted(void);
void		 stats_conn_closed(enum stats_closed);
int		 stats_serve(struct event_base *, const struct conf *, char **);
void		 stats_serve_stop(void);

#endif
