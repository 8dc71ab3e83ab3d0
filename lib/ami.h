/*
 * ami: an asynchronous Asterisk Manager Interface client for module
 * reloads (asterisk.md §4), on the caller's event_base.
 *
 * One persistent TCP connection per struct ami.  The host is a numeric
 * IPv4 or IPv6 literal ("127.0.0.1", "::1", "[::1]") or "localhost",
 * which means 127.0.0.1: there is no resolver, so nothing can block the
 * loop.  After the banner ("Asterisk Call Manager/x.y.z") the client logs
 * in with the MD5 challenge (Action: Challenge, then Action: Login with
 * Key: md5hex(challenge + secret) and Events: off); the secret itself
 * never goes on the wire, into a log line or into a callback message.
 *
 *   connecting ──► banner ──► challenge ──► login ──► ready
 *        ▲                                              │
 *        └──── failed (backoff 100 ms doubling to 10 s) ◄┘  (and from
 *              every other state: refused, lost, timeout, over a cap)
 *
 * Requests are pipelined, each with its own ActionID (Asterisk runs the
 * actions of one session in order); a response is matched by ActionID
 * and Event messages are ignored.  Requests made while not ready wait,
 * up to their own timeout, for the connection.  A lost connection fails
 * the requests already sent; a refused login fails every waiting request
 * with Asterisk's message ("Authentication failed").  A line over
 * AMI_LINE_MAX, a message over AMI_MESSAGE_MAX, a silent peer during
 * login (AMI_LOGIN_TIMEOUT_MS) or a sent request timing out with not a
 * byte received since (half-open TCP, hung Asterisk) drops the
 * connection, which is then retried.  Transitions are logged as
 * event=ami state=...; each finished request as event=ami_reload.
 *
 * Callbacks run from the event loop, never from inside ami_reload.  A
 * callback may call ami_reload and ami_free (the struct ami stays valid
 * until the outermost ami callback returns).
 */
#ifndef AMI_H
#define AMI_H

struct event_base;
struct ami;

#define AMI_MODULE_MAX		64	/* [A-Za-z0-9_.-]{1,64} */
#define AMI_USER_MAX		128
#define AMI_SECRET_MAX		256
#define AMI_LINE_MAX		8192	/* per line, without CRLF */
#define AMI_MESSAGE_MAX		65536	/* bytes per message */
#define AMI_PENDING_MAX		128	/* waiting or in flight */
#define AMI_TIMEOUT_DEFAULT_MS	10000	/* for timeout_ms <= 0 */
#define AMI_LOGIN_TIMEOUT_MS	10000	/* connect + banner + login */
#define AMI_BACKOFF_MIN_MS	100
#define AMI_BACKOFF_MAX_MS	10000

/*
 * Result of a request: ok is 1 on "Response: Success" (message is its
 * Message, "Module Reloaded"), 0 otherwise with Asterisk's Message ("A
 * reload is in progress", "Authentication failed") or a local reason
 * ("timeout", "not connected: ...", "connection lost: ...", "shutdown").
 * message is borrowed: copy it to keep it.
 */
typedef void (*ami_cb)(void *arg, int ok, const char *message);

/*
 * Start a client; it connects at the next loop turn.  Returns NULL when
 * host is not a numeric literal or "localhost", port is not in 1..65535,
 * or user (1..AMI_USER_MAX bytes) or secret (0..AMI_SECRET_MAX bytes)
 * holds CR or LF.  user and secret are copied.
 */
struct ami	*ami_new(struct event_base *, const char *, int, const char *,
		    const char *);

/*
 * Queue "Action: Reload / Module: <module> / ActionID: <id>".  cb runs
 * exactly once, later, from the loop.  timeout_ms covers the wait for
 * the connection and the answer (<= 0: AMI_TIMEOUT_DEFAULT_MS); past
 * AMI_PENDING_MAX requests, cb gets ok=0 "too many pending requests" at
 * the next loop turn.  Returns 0, or -1 (cb not called) when module is
 * not [A-Za-z0-9_.-]{1,64}, cb is NULL or ami_free has been called.
 */
int		 ami_reload(struct ami *, const char *, int, ami_cb, void *);

/*
 * For the console: "connecting", "login", "ready" or "failed: <why>".
 * Borrowed, valid until the next loop turn.
 */
const char	*ami_state(const struct ami *);

/*
 * Close the connection and free the client.  Every pending callback IS
 * called, synchronously from inside ami_free, with ok=0 "shutdown";
 * ami_reload returns -1 from then on.  NULL is ignored.  Called from an
 * ami callback, the memory is released when that callback returns.
 */
void		 ami_free(struct ami *);

#endif
