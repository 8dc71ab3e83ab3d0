/*
 * iaxkeyd: the FastAGI daemon.  One libevent loop; every AGI session is a
 * state machine over one bufferevent (session.c); handlers (h_*.c) never
 * touch the socket, they queue commands and resume on replies.
 */
#ifndef IAXKEYD_H
#define IAXKEYD_H

#include <sys/queue.h>
#include <sys/socket.h>
#include <stdint.h>
#include <time.h>

#include "lib/agiproto.h"
#include "lib/conf.h"
#include "lib/dialstr.h"
#include "lib/log.h"
#include "lib/store.h"

#define IAXKEYD_VERSION	"0.1.0"

#ifndef TAILQ_FOREACH_SAFE
#define TAILQ_FOREACH_SAFE(var, head, field, tvar)			\
	for ((var) = TAILQ_FIRST(head);					\
	    (var) != NULL && ((tvar) = TAILQ_NEXT(var, field), 1);	\
	    (var) = (tvar))
#endif

struct event_base;
struct event;
struct bufferevent;
struct evconnlistener;
struct session;
struct http;

/* iaxkeyd.c */
struct iaxkeyd {
	struct event_base	*base;
	struct conf		*conf;
	const char		*conf_path;
	struct store		*store;
	int			 foreground;
	struct timespec		 started;
	int			 exit_code;
};
extern struct iaxkeyd	*ikd;
/* Milliseconds on the monotonic clock. */
uint64_t	 now_ms(void);
/* SIGHUP: reload the configuration; 0, or -1 when the old one stays. */
int		 iaxkeyd_reload_config(void);

/* server.c: listeners, accept, session table, limits, drain. */
struct server_limits {
	int		max_sessions;
	int		env_timeout_ms;
	int		command_timeout_ms;
	int		session_timeout_ms;
	int		drain_timeout_ms;
};
struct server_stats {
	uint64_t	accepted;
	uint64_t	ended;
	uint64_t	paused;		/* times the listener was closed */
	uint64_t	protocol_errors;
	uint64_t	timeouts;
};
int		 server_init(struct event_base *, const struct conf *, char **);
int		 server_apply(const struct conf *, char **);
void		 server_drain(void (*)(void));
void		 server_free(void);
int		 server_active(void);
const char	*server_addr(int *);
const struct server_limits *server_limits(void);
struct server_stats *server_stats(void);
void		 server_session_add(struct session *);
void		 server_session_done(struct session *);
void		 server_session_remove(struct session *);
TAILQ_HEAD(session_list, session);
struct session_list *server_sessions(void);

/* session.c: the AGI state machine. */
enum session_state {
	S_ENV,		/* reading the environment block */
	S_CMD,		/* one command sent, waiting for its reply */
	S_USAGE,	/* inside a 520- usage block */
	S_WAIT,		/* nothing in flight: handler waits for async work */
	S_CLOSING,	/* write side shut, draining until EOF */
	S_MAX
};

#define SESSION_HUNGUP	0x01	/* HANGUP seen: dead-safe commands only */
#define SESSION_FINISH	0x02	/* close once the queue is empty */
#define SESSION_GONE	0x04	/* closed, waiting for the last unref */
#define SESSION_DONE	0x08	/* no longer counted as active */

typedef void	(*session_cb)(struct session *, const struct agi_reply *,
		    void *);

struct session {
	uint64_t		 id;
	int			 refs;
	int			 flags;
	enum session_state	 state;
	int			 fd;
	struct event		*rev;		/* EV_READ, persistent */
	struct event		*wev;		/* EV_WRITE, while out waits */
	char			*in;		/* unparsed input */
	size_t			 inlen, incap;
	char			*out;		/* output the socket refused */
	size_t			 outlen, outcap;
	struct event		*timer;
	uint64_t		 t_start;	/* ms, monotonic */
	uint64_t		 t_state;	/* when the state was entered */
	struct agi_env		 env;
	char			 peer[64];	/* remote address */
	char			 script[80];	/* route path */
	const char		*query;		/* raw query, in env */
	size_t			 line_max;	/* command chars allowed */
	unsigned		 cmds;
	const struct route	*route;
	void			*hdata;		/* handler state */
	void			(*hfree)(void *);

	/* Commands queued behind the one in flight. */
	TAILQ_HEAD(, session_cmd) queue;
	struct session_cmd	*inflight;

	const char		*status;	/* static string */
	char			*reason;	/* for the ops log */
	const char		*env_error;	/* semantic env error, static */
	TAILQ_ENTRY(session)	 entry;
};

struct session	*session_new(int, const struct sockaddr *, socklen_t);
void		 session_ref(struct session *);
void		 session_unref(struct session *);
void		 session_close(struct session *, const char *);
const char	*session_state_name(enum session_state);
/*
 * Queue one command (printf-style).  cb (may be NULL) runs with the reply.
 * Returns 0, or -1 when the line would be too long for this Asterisk or
 * contains CR/LF (nothing is queued).
 */
int		 session_cmd(struct session *, session_cb, void *,
		    const char *, ...) __attribute__((format(printf, 4, 5)));
/* Queue SET VARIABLE name "value" (quoted); 0 or -1 as session_cmd. */
int		 session_setvar(struct session *, const char *, const char *);
/* Queue n variables, in one EXEC MSet when possible; 0 or -1. */
#define SESSION_VARS_MAX	8
int		 session_setvars(struct session *, int, const char *const *,
		    const char *const *);
/* Queue nothing more; close when the queue is empty.  status is static. */
void		 session_finish(struct session *, const char *, const char *);
/* 1 when HANGUP was seen. */
int		 session_hungup(const struct session *);

/* reload.c: the coalescing module reloader. */
#define RELOAD_CHAN_IAX2	0x01
#define RELOAD_RES_CRYPTO	0x02
enum reload_result { RELOAD_R_OK, RELOAD_R_FAILED, RELOAD_R_WRITE };
typedef void	(*reload_cb)(struct session *, enum reload_result,
		    const char *, void *);
struct reload_stats {
	uint64_t	ok, failed, refused, write_failures;
	int		last_ok, last_ms;
};
int		 reload_init(const struct conf *, char **);
int		 reload_apply(const struct conf *, char **);
void		 reload_free(void);
void		 reload_add_flush(int (*)(char **));
uint64_t	 reload_need(int);
int		 reload_covered(uint64_t);
void		 reload_wait(struct session *, uint64_t, reload_cb, void *);
int		 reload_carry(struct session *, void (*)(struct session *));
void		 reload_session_gone(struct session *);
void		 reload_unwait(struct session *);
const struct reload_stats *reload_stats(void);

/* route.c: agi_network_script path -> handler. */
struct route {
	const char	*name;
	void		(*start)(struct session *);
};
const struct route *route_find(const char *);
void		 route_unknown(struct session *);

/* peers.c: outbound peers and the peers file. */
int		 peers_init(char **);
void		 peers_free(void);
void		 peers_name(const struct dialdest *, char *, size_t);
int		 peers_ensure(const struct dialdest *, const char *, uint64_t *,
		    int *, char **);
int		 peers_flush(char **);
void		 peers_touch_flush(void);
int		 peers_forget(const char *, char **);
uint64_t	 peers_writes(void);

/* keys.c: callers' public keys, fetched, validated, installed. */
#define KEYS_NODE_MAX	64
enum key_outcome {
	KEY_NEW, KEY_UPDATED, KEY_UNCHANGED, KEY_PENDING, KEY_NOT_FOUND,
	KEY_FAILED, KEY_RATE_LIMITED, KEY_MAX
};
struct key_result {
	enum key_outcome	 outcome;
	const char		*fingerprint;	/* "sha256:...", or NULL */
	const char		*reason;	/* or NULL */
	uint64_t		 gen;		/* reload to wait for, or 0 */
};
struct keys_stats {
	uint64_t	requests, ok, failed, installed, negative, rate_limited;
	int		inflight;
};
struct keywaiter;
typedef void	(*keys_cb)(void *, const struct key_result *);
int		 keys_init(char **);
void		 keys_free(void);
const char	*key_outcome_name(enum key_outcome);
int		 keys_node_ok(const char *);
void		 keys_name(const char *, char *, size_t);
int		 keys_fetch(const char *, const char *, int, keys_cb, void *,
		    struct key_result *, struct keywaiter **);
void		 keys_cancel(struct keywaiter *);
void		 keys_refresh_if_old(const char *);
void		 keys_hint(const char *, const char *);
struct keyfetch;
void		 keys_round_done(struct keyfetch *, struct key_result *);
int		 keys_installed(const char *, char *, size_t);
void		 keys_record_caller(const char *, const char *, const char *);
void		 keys_caller_result(const char *, const char *);
int		 keys_forget(const char *, char **);
const struct keys_stats *keys_stats(void);

struct http	*keys_http(void);
struct http_opts;
void		 keys_http_opts(struct http_opts *, const char **);

/* keyset.c: a node's key set, one slot (file and name) per key. */
#define KEYSET_SLOTS	3
enum key_role { KEY_ROLE_CURRENT, KEY_ROLE_NEXT, KEY_ROLE_PREVIOUS,
	KEY_ROLE_MAX };
#define KEYSET_FPR_MAX	71	/* "sha256:" and 64 hex */
struct keyslot {
	int		 used;
	enum key_role	 role;
	char		 fingerprint[KEYSET_FPR_MAX + 1];
	int		 bits;
	char		*pem;		/* held: for a restore */
};
struct keyset {
	struct keyslot	 slot[KEYSET_SLOTS];
};
/* What the key server published: one entry per role. */
struct keypub {
	int		 listed;	/* the answer named this key */
	int		 fetched;	/* pem holds it, validated */
	char		 fingerprint[KEYSET_FPR_MAX + 1];
	int		 bits;
	const char	*pem;
	size_t		 len;
};
struct keyset_change {
	int		 added, dropped, roles, refused, repaired;
	int		 had;		/* keys held before */
	int		 held;		/* keys held after */
	int		 mods;		/* RELOAD_* to ask for */
};
const char	*key_role_name(enum key_role);
int		 keyset_name(const char *, int, char *, size_t);
int		 keyset_load(const char *, struct keyset *, char **);
void		 keyset_clear(struct keyset *);
int		 keyset_find(const struct keyset *, const char *);
int		 keyset_count(const struct keyset *);
int		 keyset_matches(const char *, const char *);
int		 keyset_fpr_ok(const char *, size_t);
int		 keyset_apply(const char *, const char *,
		    const struct keypub *, int, char *, size_t,
		    struct keyset_change *, char **);
int		 keyset_forget(const char *, char **);

/* keyround.c: one fetch round of a node's keys (keys.c's queue runs it). */
/* One GET of a round: the current key, or a listed next or previous. */
struct keyget {
	struct keyfetch		*kf;
	enum key_role		 role;
	struct ksget		*req;
	char			*pem;
};

struct keyfetch {
	TAILQ_ENTRY(keyfetch)	 qentry;	/* queued past max_fetches */
	struct keynode		*kn;
	const char		*source;
	int			 nocache;	/* stale, hint */
	char			*url;		/* redacted, for logs */
	uint64_t		 t0;
	struct keyget		 get[KEY_ROLE_MAX];
	struct keypub		 pub[KEY_ROLE_MAX];
	int			 pending;	/* GETs running */
	int			 installed;	/* keys added */
	char			*failed;	/* why a GET failed, or NULL */
	TAILQ_HEAD(, keywaiter)	 waiters;
};

struct keynode {
	TAILQ_ENTRY(keynode)	 entry;
	char			 node[KEYS_NODE_MAX + 1];
	uint64_t		 last_attempt;	/* ms, monotonic */
	uint64_t		 last_404;
	uint64_t		 last_stale;	/* last stale or hint refetch */
	uint64_t		 gen;		/* last install's generation */
	char			 warned[KEYSET_FPR_MAX + 1]; /* refused */
	struct keyfetch		*fetch;
};

void		 keyround_start(struct keyfetch *);
void		 keyround_free(struct keyfetch *);

/* users.c: the users file (inkeys), rendered from the store. */
int		 users_flush(char **);
void		 users_rerender(void);
void		 users_dirty(void);
int		 users_inkeys_len(size_t *, char **);
uint64_t	 users_writes(void);

/* ksget.c: GETs to the key server ([keyserver] url, index_url). */
struct ksget;
struct http_resp;
typedef void	(*ksget_cb)(void *, const struct http_resp *, const char *);
int		 ksget_configured(void);
struct ksget	*ksget_key(struct http *, const char *, const char *,
		    const struct http_opts *, ksget_cb, void *);
struct ksget	*ksget_index(struct http *, const struct http_opts *,
		    ksget_cb, void *);
void		 ksget_cancel(struct ksget *);
#define KSGET_ERROR_MAX	128	/* a URL's last error, kept */
/* The state of one URL of a list, for the console and /metrics. */
struct ksget_state {
	const char	*list;		/* "key" or "index" */
	int		 pos;		/* position in the list, from 1 */
	const char	*url;		/* redacted */
	time_t		 until;		/* end of its backoff; 0: none */
	const char	*error;		/* the last failure, or NULL */
	uint64_t	 ok;		/* answers (any status but 5xx, 429) */
	uint64_t	 failed;	/* transport failures, 5xx, 429 */
};
void		 ksget_each(void (*)(void *, const struct ksget_state *),
		    void *);
void		 ksget_shutdown(void);

/* names.c: node names a caller may not take. */
int		 names_own(const char *);
int		 names_file_taken(const char *);
const char	*names_reserved(const char *, int);
void		 names_free(void);

/* callers.c: bounded state about callers without an installed key. */
void		 callers_prune(void);
int		 callers_budget_take(void);

/* sync.c: the periodic key sync. */
struct sync_stats {
	uint64_t	rounds, failed, fetched, removed;
};
int		 sync_init(struct http *, char **);
void		 sync_apply(void);
void		 sync_free(void);
int		 sync_run(char **);
const struct sync_stats *sync_stats(void);

/* keyops.c: the node's own key pair: generate, upload, rotate, show. */
struct keyop;
struct keyops_result {
	int		 ok;
	const char	*what;		/* "upload" or "rotate" */
	long		 status;	/* HTTP status, 0 when none */
	const char	*reason;	/* NULL when ok */
	const char	*fingerprint;	/* the uploaded key */
	const char	*old_fingerprint; /* rotate: the replaced key */
	int		 kept_new;	/* rotate: outcome unknown, .new kept */
	uint64_t	 gen;		/* rotate: reload to wait for, or 0 */
	uint64_t	 ms;
};
typedef void	(*keyops_cb)(void *, const struct keyops_result *);
int		 keyops_generate(char **, char **, char *, size_t, char **);
int		 keyops_upload(int, keyops_cb, void *, struct keyop **,
		    char **);
void		 keyops_cancel(struct keyop *);
int		 keyops_show(void (*)(void *, const char *), void *, char **);
void		 keyops_free(void);
int		 keyops_next_fingerprint(char *, size_t);
char		*keyops_file(const char *, char **);
int		 keyops_busy(void);
int		 keyops_install(const char *, int *, uint64_t *, char **);
void		 keyops_reason(char *, size_t, const struct http_resp *);
/* A request to the key server signed by the own key(s). */
struct keyops_sreq {
	const char	*method;	/* "PUT" or "DELETE" */
	const char	*sub;		/* NULL (current), "next", "previous" */
	const char	*pub;		/* the body (a .pub file) or NULL */
	const char	*fpr;		/* the fingerprint pub must have */
	const char	*sign;		/* X-Iaxkey-Signature: a key file */
	const char	*cur;		/* X-Iaxkey-Current-Signature or NULL */
	int		 token;		/* send [keyserver] enroll_token */
};
struct http_req;
struct http_req	*keyops_send(const struct keyops_sreq *,
		    void (*)(void *, const struct http_resp *), void *, char **);

/* rotate.c: the node's own planned key rotation (docs/console.md). */
typedef void	(*rotate_cb)(void *, int, const char *);
int		 rotate_init(char **);
void		 rotate_free(void);
void		 rotate_apply(void);
int		 rotate_start(char *, size_t, char **);
int		 rotate_cancel(rotate_cb, void *, void **, char **);
void		 rotate_cancel_forget(void *);
void		 rotate_abort(void);
void		 rotate_replaced(int);
int		 rotate_running(void);
void		 rotate_show(void (*)(void *, const char *), void *);
int		 rotate_next_fingerprint(char *, size_t);

/* console.c: the console's transport: listener, clients, login, watch. */
struct console_client;
struct evbuffer;
struct console_stats {
	int		clients;	/* counted against max_clients */
	int		watchers;
	uint64_t	refused, auth_failures, watch_dropped;
	uint64_t	auth_refused;	/* during a lock, unchecked */
	uint64_t	auth_timeouts;	/* not logged in in time */
	uint64_t	evicted;	/* pushed out before login */
};
int		 console_init(struct event_base *, const struct conf *,
		    char **);
void		 console_apply(const struct conf *);
void		 console_free(void);
const char	*console_addr(void);
const struct console_stats *console_stats(void);
int		 console_password_set(void);
int		 console_authed(const struct console_client *);
uint64_t	 console_id(const struct console_client *);
const char	*console_peer(const struct console_client *);
void		 console_printf(struct console_client *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));
void		 console_ok(struct console_client *);
void		 console_err(struct console_client *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));
void		 console_add(struct console_client *, struct evbuffer *);
void		 console_close(struct console_client *, const char *);
void		 console_wait(struct console_client *, void (*)(void *),
		    void *);
void		 console_done(struct console_client *);
void		 console_auth(struct console_client *, const char *);
void		 console_watch(struct console_client *, enum log_level);
struct evbuffer	*console_capture_begin(void);
void		 console_capture_end(void);

/* admin.c: the console's command table and commands. */
int		 admin_line(struct console_client *, char *);
void		 admin_audit(struct console_client *, const char *,
		    const char *, const char *);
void		 admin_reload_note(struct console_client *, uint64_t);

#define ADMIN_GLOB_MAX	80	/* longest glob of a listing */
const char	*admin_esc(char *, size_t, const char *);
const char	*admin_time(char *, size_t, sqlite3_int64);
const char	*admin_col(sqlite3_stmt *, int);
int		 admin_glob_ok(const char *);

/* admin_store.c: the console's views of the state store. */
void		 admin_peers(struct console_client *, int, char **);
void		 admin_peer(struct console_client *, int, char **);
void		 admin_forget_peer(struct console_client *, int, char **);
void		 admin_keys(struct console_client *, int, char **);
void		 admin_node_key(struct console_client *, int, char **);
void		 admin_fetch(struct console_client *, int, char **);
void		 admin_forget_key(struct console_client *, int, char **);
void		 admin_callers(struct console_client *, int, char **);

/* admin_key.c: the console's commands for the node's own key. */
void		 admin_key_generate(struct console_client *, int, char **);
void		 admin_key_upload(struct console_client *, int, char **);
void		 admin_key_rotate(struct console_client *, int, char **);
void		 admin_key_show(struct console_client *, int, char **);

/* stats.c: counters and per-script session statistics, as text lines. */
enum stats_format { STATS_TEXT, STATS_PROMETHEUS, STATS_FORMAT_MAX };
typedef void	(*stats_out)(void *, const char *);
void		 stats_session_end(const char *, const char *, uint64_t);
void		 stats_emit(enum stats_format, stats_out, void *);
void		 stats_serve(struct event_base *, const struct conf *);
const char	*stats_serve_addr(void);
void		 stats_serve_stop(void);
void		 stats_outcomes(void (*)(void *, const char *, const char *),
		    void *);

/* h_ping.c */
void		 h_ping_start(struct session *);

/* h_inbound.c */
void		 h_inbound_start(struct session *);

/* h_outbound.c */
void		 h_outbound_start(struct session *);
void		 h_outbound_free(void);

#endif
