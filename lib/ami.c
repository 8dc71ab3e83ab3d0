/*
 * ami: an asynchronous Asterisk Manager Interface client for module
 * reloads (see ami.h for the contract, asterisk.md §4 for Asterisk).
 *
 * Wire format: "Key: Value\r\n" lines, a message ends with an empty line;
 * the banner is one line on its own.  Only Response, ActionID, Message,
 * Challenge and Event are kept from a message (values cut to
 * AMI_VALUE_MAX); the rest is counted against AMI_MESSAGE_MAX and dropped.
 *
 * Re-entrancy: user callbacks may call ami_reload or ami_free.  Every
 * entry from the loop holds ami->busy; ami_free only marks the client
 * dying while busy, and the last ami_leave() releases it.  Requests are
 * always unlinked before their callback runs, so a callback that empties
 * the lists (ami_free) cannot invalidate a running loop, and whatever a
 * completion does to the connection (a drop after a silent timeout) is
 * done before the callback, so a request queued from it is never failed
 * by the cleanup of the one that completed.
 */
#include <sys/types.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "lib/addr.h"
#include "lib/ami.h"
#include "lib/line.h"
#include "lib/log.h"
#include "lib/xmalloc.h"

#define AMI_VALUE_MAX	512		/* kept header values, cut */
#define AMI_ID_MAX	32		/* "iaxkeyd-" and 20 digits */
#define AMI_WHY_MAX	256
#define AMI_READ_HIGH	(2 * AMI_LINE_MAX + 2)
#define AMI_BANNER	"Asterisk Call Manager/"

enum ami_state {
	AMI_S_CONNECTING,	/* waiting to connect, or connect() running */
	AMI_S_BANNER,		/* connected, banner line not seen yet */
	AMI_S_CHALLENGE,	/* Action: Challenge sent */
	AMI_S_LOGIN,		/* Action: Login sent */
	AMI_S_READY,
	AMI_S_FAILED,		/* closed, reconnect timer running */
	AMI_S_MAX
};

struct ami_req {
	TAILQ_ENTRY(ami_req)	 entry;
	struct ami		*ami;
	struct event		*timer;
	ami_cb			 cb;
	void			*arg;
	const char		*fail;	/* fail at the next loop turn */
	int			 sent;
	uint64_t		 t_start;
	unsigned long		 rx_sent;	/* ami->rx when sent */
	char			 id[AMI_ID_MAX];
	char			 module[AMI_MODULE_MAX + 1];
};
TAILQ_HEAD(ami_reqs, ami_req);

struct ami_msg {
	size_t	 size;		/* bytes so far, with CRLFs */
	int	 lines;
	int	 event;		/* has an Event: header */
	int	 id_long;	/* ActionID did not fit: no match */
	char	 response[AMI_VALUE_MAX];
	char	 actionid[AMI_ID_MAX];
	char	 message[AMI_VALUE_MAX];
	char	 challenge[AMI_VALUE_MAX];
};

struct ami {
	struct event_base	*base;
	struct sockaddr_storage	 ss;
	socklen_t		 sslen;
	char			 peer[ADDR_STR_MAX];
	char			*user;
	char			*secret;

	enum ami_state		 state;
	char			 why[AMI_WHY_MAX];	/* last failure */
	char			 state_str[AMI_WHY_MAX + 16];
	struct bufferevent	*bev;
	unsigned		 gen;		/* bumped when bev goes */
	struct event		*timer;		/* retry, or login deadline */
	int			 backoff_ms;	/* next retry delay */
	int			 retry_ms;	/* the delay now running */
	unsigned long		 rx;		/* input callbacks so far */

	unsigned long long	 next_id;
	char			 login_id[AMI_ID_MAX];
	struct ami_msg		 msg;

	struct ami_reqs		 waiting;	/* not sent yet */
	struct ami_reqs		 sent;		/* no answer yet */
	size_t			 npending;

	int			 busy;		/* entries running */
	int			 dying;		/* ami_free called */
	char			 line[AMI_LINE_MAX + 1];
};

static const char *const ami_state_names[AMI_S_MAX] = {
	"connecting", "banner", "challenge", "login", "ready", "failed"
};

static const char	*ami_state_name(enum ami_state);
static uint64_t		 ami_now_ms(void);
static int		 ami_addr(const char *, int,
			    struct sockaddr_storage *, socklen_t *);
static int		 ami_text_ok(const char *, size_t, size_t);
static int		 ami_module_ok(const char *);
static void		 ami_enter(struct ami *, enum ami_state,
			    const char *);
static void		 ami_leave(struct ami *);
static void		 ami_destroy(struct ami *);
static void		 ami_arm(struct ami *, int);
static void		 ami_timer_cb(evutil_socket_t, short, void *);
static void		 ami_connect(struct ami *);
static void		 ami_close(struct ami *);
static void		 ami_drop(struct ami *, const char *, int);
static void		 ami_read_cb(struct bufferevent *, void *);
static void		 ami_event_cb(struct bufferevent *, short, void *);
static void		 ami_line(struct ami *, char *, size_t);
static void		 ami_header(struct ami *, const char *, size_t);
static void		 ami_message(struct ami *);
static void		 ami_login(struct ami *);
static void		 ami_ready(struct ami *);
static int		 ami_md5hex(const char *, const char *, char *);
static void		 ami_new_id(struct ami *, char *, size_t);
static void		 ami_send(struct ami *, struct ami_req *);
static struct ami_req	*ami_req_find(struct ami *, const char *);
static void		 ami_req_take(struct ami *, struct ami_req *);
static void		 ami_req_finish(struct ami *, struct ami_req *, int,
			    const char *);
static void		 ami_req_deliver(struct ami *, struct ami_req *, int,
			    const char *);
static size_t		 ami_req_count(struct ami_reqs *);
static void		 ami_req_fail_first(struct ami *, struct ami_reqs *,
			    size_t, const char *);
static void		 ami_req_fail_all(struct ami *, struct ami_reqs *,
			    const char *);
static void		 ami_req_timer_cb(evutil_socket_t, short, void *);

/* Name of a state for logs. */
static const char *
ami_state_name(enum ami_state state)
{
	if (state >= AMI_S_MAX)
		return ("unknown");
	return (ami_state_names[state]);
}

/* Milliseconds on the monotonic clock. */
static uint64_t
ami_now_ms(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
}

/* Parse a numeric host (or "localhost") and port; 0 or -1. */
static int
ami_addr(const char *host, int port, struct sockaddr_storage *ss,
    socklen_t *len)
{
	struct sockaddr_in	*sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6	*sin6 = (struct sockaddr_in6 *)ss;
	char			 buf[INET6_ADDRSTRLEN];
	size_t			 n;

	if (host == NULL || port < 1 || port > 65535)
		return (-1);
	memset(ss, 0, sizeof *ss);
	if (strcmp(host, "localhost") == 0)
		host = "127.0.0.1";
	if (inet_pton(AF_INET, host, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		*len = sizeof *sin;
		return (0);
	}
	n = strlen(host);
	if (n >= 2 && host[0] == '[' && host[n - 1] == ']') {
		if (n - 2 >= sizeof buf)
			return (-1);
		memcpy(buf, host + 1, n - 2);
		buf[n - 2] = '\0';
		host = buf;
	}
	if (inet_pton(AF_INET6, host, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port);
		*len = sizeof *sin6;
		return (0);
	}
	return (-1);
}

/* 1 when s is min..max bytes long and holds no CR or LF. */
static int
ami_text_ok(const char *s, size_t min, size_t max)
{
	size_t	n;

	if (s == NULL)
		return (0);
	n = strlen(s);
	return (n >= min && n <= max && strpbrk(s, "\r\n") == NULL);
}

/* 1 when name matches [A-Za-z0-9_.-]{1,AMI_MODULE_MAX}. */
static int
ami_module_ok(const char *name)
{
	size_t	n;

	if (name == NULL)
		return (0);
	for (n = 0; name[n] != '\0'; n++) {
		unsigned char c = name[n];

		if (n >= AMI_MODULE_MAX)
			return (0);
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-'))
			return (0);
	}
	return (n > 0);
}

/* Create a client; it connects at the next loop turn. */
struct ami *
ami_new(struct event_base *base, const char *host, int port,
    const char *user, const char *secret)
{
	struct ami	*ami;

	if (!ami_text_ok(user, 1, AMI_USER_MAX) ||
	    !ami_text_ok(secret, 0, AMI_SECRET_MAX))
		return (NULL);
	ami = xcalloc(1, sizeof *ami);
	if (ami_addr(host, port, &ami->ss, &ami->sslen) == -1) {
		free(ami);
		return (NULL);
	}
	ami->base = base;
	addr_format((struct sockaddr *)&ami->ss, ami->sslen, ami->peer,
	    sizeof ami->peer);
	ami->user = xstrdup(user);
	ami->secret = xstrdup(secret);
	ami->backoff_ms = AMI_BACKOFF_MIN_MS;
	TAILQ_INIT(&ami->waiting);
	TAILQ_INIT(&ami->sent);
	ami->timer = evtimer_new(base, ami_timer_cb, ami);
	if (ami->timer == NULL)
		fatalx("evtimer_new failed");
	ami->state = AMI_S_CONNECTING;
	strlcpy_(ami->state_str, "connecting", sizeof ami->state_str);
	ami_arm(ami, 0);
	return (ami);
}

/* Queue a reload of one module; see ami.h. */
int
ami_reload(struct ami *ami, const char *module, int timeout_ms, ami_cb cb,
    void *arg)
{
	struct ami_req	*r;
	struct timeval	 tv;

	if (ami->dying || cb == NULL || !ami_module_ok(module))
		return (-1);
	if (timeout_ms <= 0)
		timeout_ms = AMI_TIMEOUT_DEFAULT_MS;
	r = xcalloc(1, sizeof *r);
	r->ami = ami;
	r->cb = cb;
	r->arg = arg;
	r->t_start = ami_now_ms();
	strlcpy_(r->module, module, sizeof r->module);
	ami_new_id(ami, r->id, sizeof r->id);
	r->timer = evtimer_new(ami->base, ami_req_timer_cb, r);
	if (r->timer == NULL)
		fatalx("evtimer_new failed");
	if (ami->npending >= AMI_PENDING_MAX) {
		r->fail = "too many pending requests";
		timeout_ms = 0;
	}
	TAILQ_INSERT_TAIL(&ami->waiting, r, entry);
	ami->npending++;
	tv.tv_sec = timeout_ms / 1000;
	tv.tv_usec = (timeout_ms % 1000) * 1000;
	evtimer_add(r->timer, &tv);
	if (r->fail == NULL && ami->state == AMI_S_READY)
		ami_send(ami, r);
	return (0);
}

/* The state for the console. */
const char *
ami_state(const struct ami *ami)
{
	return (ami->state_str);
}

/* Close, fail every pending request with "shutdown", free. */
void
ami_free(struct ami *ami)
{
	if (ami == NULL || ami->dying)
		return;
	ami->busy++;
	ami->dying = 1;
	ami_close(ami);
	evtimer_del(ami->timer);
	ami_req_fail_all(ami, &ami->sent, "shutdown");
	ami_req_fail_all(ami, &ami->waiting, "shutdown");
	ami_leave(ami);
}

/* Leave a loop entry; the last one out frees a dying client. */
static void
ami_leave(struct ami *ami)
{
	if (--ami->busy == 0 && ami->dying)
		ami_destroy(ami);
}

/* Release everything (the request lists are empty by now). */
static void
ami_destroy(struct ami *ami)
{
	ami_req_fail_all(ami, &ami->sent, "shutdown");
	ami_req_fail_all(ami, &ami->waiting, "shutdown");
	ami_close(ami);
	event_free(ami->timer);
	free(ami->user);
	OPENSSL_cleanse(ami->secret, strlen(ami->secret));
	free(ami->secret);
	OPENSSL_cleanse(&ami->msg, sizeof ami->msg);
	free(ami);
}

/* Enter a state, update the console string and log the transition. */
static void
ami_enter(struct ami *ami, enum ami_state state, const char *why)
{
	enum ami_state	 old = ami->state;
	enum log_level	 level = LOG_L_DEBUG;
	struct logline	 l;
	const char	*show;

	if (state == AMI_S_FAILED) {
		/* Warn once per outage; repeats of the same reason: debug. */
		if (old != AMI_S_FAILED && old != AMI_S_CONNECTING)
			level = LOG_L_WARN;
		if (strcmp(ami->why, why) != 0)
			level = LOG_L_WARN;
		strlcpy_(ami->why, why, sizeof ami->why);
		snprintf(ami->state_str, sizeof ami->state_str, "failed: %s",
		    ami->why);
	} else {
		if (state == AMI_S_READY)
			level = LOG_L_INFO;
		switch (state) {
		case AMI_S_CONNECTING:
		case AMI_S_BANNER:
			show = "connecting";
			break;
		case AMI_S_CHALLENGE:
		case AMI_S_LOGIN:
			show = "login";
			break;
		default:
			show = ami_state_name(state);
			break;
		}
		strlcpy_(ami->state_str, show, sizeof ami->state_str);
	}
	ami->state = state;
	if (!log_enabled(level))
		return;
	lf_begin(&l, level, "ami");
	lf_str(&l, "state", ami_state_name(state));
	lf_str(&l, "from", ami_state_name(old));
	lf_str(&l, "peer", ami->peer);
	if (state == AMI_S_LOGIN || state == AMI_S_READY)
		lf_str(&l, "user", ami->user);
	if (state == AMI_S_FAILED) {
		lf_str(&l, "reason", why);
		lf_int(&l, "retry_ms", ami->retry_ms);
	}
	lf_emit(&l);
}

/* Arm the client timer ms from now. */
static void
ami_arm(struct ami *ami, int ms)
{
	struct timeval	tv;

	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	evtimer_add(ami->timer, &tv);
}

/* The client timer: time to reconnect, or the login took too long. */
static void
ami_timer_cb(evutil_socket_t fd, short events, void *arg)
{
	struct ami	*ami = arg;

	ami->busy++;
	if (ami->bev == NULL)
		ami_connect(ami);
	else if (ami->state == AMI_S_CONNECTING)
		ami_drop(ami, "connect timeout", 0);
	else
		ami_drop(ami, "login timeout", 0);
	ami_leave(ami);
}

/*
 * Start a non-blocking connect on our own socket, so that an immediate
 * failure (ECONNREFUSED, ENETUNREACH) is handled here rather than by a
 * synchronous bufferevent callback.
 */
static void
ami_connect(struct ami *ami)
{
	char	why[AMI_WHY_MAX];
	int	fd;

	if (ami->state != AMI_S_CONNECTING)
		ami_enter(ami, AMI_S_CONNECTING, NULL);
	fd = socket(ami->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0);
	if (fd == -1) {
		snprintf(why, sizeof why, "socket: %s", strerror(errno));
		ami_drop(ami, why, 0);
		return;
	}
	if (connect(fd, (struct sockaddr *)&ami->ss, ami->sslen) == -1 &&
	    errno != EINPROGRESS) {
		snprintf(why, sizeof why, "connect: %s", strerror(errno));
		close(fd);
		ami_drop(ami, why, 0);
		return;
	}
	ami->bev = bufferevent_socket_new(ami->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (ami->bev == NULL)
		fatalx("bufferevent_socket_new failed");
	bufferevent_setcb(ami->bev, ami_read_cb, NULL, ami_event_cb, ami);
	bufferevent_setwatermark(ami->bev, EV_READ, 0, AMI_READ_HIGH);
	memset(&ami->msg, 0, sizeof ami->msg);
	ami_arm(ami, AMI_LOGIN_TIMEOUT_MS);
	/* fd set, no address: only waits for the connect to finish. */
	if (bufferevent_socket_connect(ami->bev, NULL, 0) == -1)
		ami_drop(ami, "bufferevent_socket_connect failed", 0);
}

/* Free the bufferevent, if any; later lines of it are never seen. */
static void
ami_close(struct ami *ami)
{
	if (ami->bev == NULL)
		return;
	bufferevent_free(ami->bev);
	ami->bev = NULL;
	ami->gen++;
}

/*
 * Close the connection, schedule the reconnect with backoff, and fail
 * the requests in flight with "connection lost: why" (with refused set:
 * a refused login, so every waiting request fails with why itself).
 */
static void
ami_drop(struct ami *ami, const char *why, int refused)
{
	char	lost[AMI_WHY_MAX + 32];
	size_t	nwaiting;

	if (ami->dying)
		return;
	nwaiting = ami_req_count(&ami->waiting);
	ami_close(ami);
	ami->retry_ms = ami->backoff_ms;
	ami->backoff_ms = ami->backoff_ms * 2 > AMI_BACKOFF_MAX_MS ?
	    AMI_BACKOFF_MAX_MS : ami->backoff_ms * 2;
	ami_arm(ami, ami->retry_ms);
	ami_enter(ami, AMI_S_FAILED, why);
	snprintf(lost, sizeof lost, "connection lost: %s", why);
	ami_req_fail_all(ami, &ami->sent, lost);
	/* Not those that the callbacks above queued. */
	if (refused)
		ami_req_fail_first(ami, &ami->waiting, nwaiting, ami->why);
}

/* Input: handle every complete line, within the caps. */
static void
ami_read_cb(struct bufferevent *bev, void *arg)
{
	struct ami	*ami = arg;
	unsigned	 gen = ami->gen;
	const char	*cause;
	size_t		 len;
	int		 rc;

	ami->busy++;
	ami->rx++;
	while (ami->gen == gen && !ami->dying) {
		rc = line_get(bufferevent_get_input(bev), ami->line,
		    AMI_LINE_MAX, &len, &cause);
		if (rc == 0)
			break;
		if (rc == -1) {
			ami_drop(ami, cause, 0);
			break;
		}
		if (len > 0 && ami->line[len - 1] == '\r')
			ami->line[--len] = '\0';
		ami_line(ami, ami->line, len);
	}
	ami_leave(ami);
}

/* Connected, or EOF, error on the socket. */
static void
ami_event_cb(struct bufferevent *bev, short events, void *arg)
{
	struct ami	*ami = arg;
	char		 why[AMI_WHY_MAX];

	ami->busy++;
	if (events & BEV_EVENT_CONNECTED) {
		ami_enter(ami, AMI_S_BANNER, NULL);
		bufferevent_enable(bev, EV_READ);
	} else if (events & BEV_EVENT_EOF)
		ami_drop(ami, "closed by peer", 0);
	else if (events & BEV_EVENT_ERROR) {
		snprintf(why, sizeof why, "%s: %s",
		    ami->state == AMI_S_CONNECTING ? "connect" : "socket",
		    strerror(EVUTIL_SOCKET_ERROR()));
		ami_drop(ami, why, 0);
	} else
		ami_drop(ami, "socket event", 0);
	ami_leave(ami);
}

/* One line without its CRLF: the banner, a header or a message's end. */
static void
ami_line(struct ami *ami, char *line, size_t len)
{
	struct logline	l;

	if (ami->state == AMI_S_BANNER) {
		if (strncmp(line, AMI_BANNER, strlen(AMI_BANNER)) != 0) {
			ami_drop(ami, "not an AMI banner", 0);
			return;
		}
		if (log_enabled(LOG_L_DEBUG)) {
			lf_begin(&l, LOG_L_DEBUG, "ami_banner");
			lf_str(&l, "peer", ami->peer);
			lf_str(&l, "version", line + strlen(AMI_BANNER));
			lf_emit(&l);
		}
		ami_new_id(ami, ami->login_id, sizeof ami->login_id);
		evbuffer_add_printf(bufferevent_get_output(ami->bev),
		    "Action: Challenge\r\nActionID: %s\r\n"
		    "AuthType: MD5\r\n\r\n", ami->login_id);
		ami_enter(ami, AMI_S_CHALLENGE, NULL);
		return;
	}
	if (len == 0) {
		if (ami->msg.lines > 0)
			ami_message(ami);
		memset(&ami->msg, 0, sizeof ami->msg);
		return;
	}
	ami->msg.size += len + 2;
	ami->msg.lines++;
	if (ami->msg.size > AMI_MESSAGE_MAX) {
		ami_drop(ami, "message too long", 0);
		return;
	}
	ami_header(ami, line, len);
}

/* Keep the headers that matter from one "Key: Value" line. */
static void
ami_header(struct ami *ami, const char *line, size_t len)
{
	struct ami_msg	*m = &ami->msg;
	const char	*colon, *v;
	size_t		 klen;

	if ((colon = memchr(line, ':', len)) == NULL)
		return;
	klen = colon - line;
	for (v = colon + 1; *v == ' ' || *v == '\t'; v++)
		;
#define AMI_KEY(k) \
	(klen == sizeof(k) - 1 && strncasecmp(line, k, klen) == 0)
	if (AMI_KEY("Response"))
		strlcpy_(m->response, v, sizeof m->response);
	else if (AMI_KEY("ActionID")) {
		if (strlcpy_(m->actionid, v, sizeof m->actionid) >=
		    sizeof m->actionid)
			m->id_long = 1;
	} else if (AMI_KEY("Message"))
		strlcpy_(m->message, v, sizeof m->message);
	else if (AMI_KEY("Challenge"))
		strlcpy_(m->challenge, v, sizeof m->challenge);
	else if (AMI_KEY("Event"))
		m->event = 1;
#undef AMI_KEY
}

/* A complete message: the login steps, or the answer to a request. */
static void
ami_message(struct ami *ami)
{
	struct ami_msg	*m = &ami->msg;
	struct ami_req	*r;
	struct logline	 l;
	char		 buf[AMI_VALUE_MAX + 32];
	const char	*text;
	int		 ok, mine;

	if (m->response[0] == '\0')
		return;			/* an event, or noise */
	mine = !m->id_long && strcmp(m->actionid, ami->login_id) == 0;
	switch (ami->state) {
	case AMI_S_CHALLENGE:
		if (!mine)
			return;
		if (strcasecmp(m->response, "Success") != 0 ||
		    m->challenge[0] == '\0') {
			ami_drop(ami, m->message[0] != '\0' ? m->message :
			    "challenge refused", 1);
			return;
		}
		ami_login(ami);
		return;
	case AMI_S_LOGIN:
		if (!mine)
			return;
		if (strcasecmp(m->response, "Success") != 0) {
			ami_drop(ami, m->message[0] != '\0' ? m->message :
			    "login refused", 1);
			return;
		}
		ami_ready(ami);
		return;
	case AMI_S_READY:
		break;
	default:
		return;
	}
	if (m->id_long || (r = ami_req_find(ami, m->actionid)) == NULL) {
		if (log_enabled(LOG_L_DEBUG)) {
			lf_begin(&l, LOG_L_DEBUG, "ami_unmatched");
			lf_str(&l, "peer", ami->peer);
			lf_str(&l, "response", m->response);
			lf_str(&l, "id", m->actionid);
			lf_emit(&l);
		}
		return;
	}
	if (strcasecmp(m->response, "Success") == 0) {
		ok = 1;
		text = m->message[0] != '\0' ? m->message : "Success";
	} else if (strcasecmp(m->response, "Error") == 0) {
		ok = 0;
		text = m->message[0] != '\0' ? m->message : "Error";
	} else {
		ok = 0;
		snprintf(buf, sizeof buf, "unexpected response: %s",
		    m->response);
		text = buf;
	}
	ami_req_finish(ami, r, ok, text);
}

/* Answer the challenge: Login with Key = md5hex(challenge + secret). */
static void
ami_login(struct ami *ami)
{
	char	key[2 * 16 + 1];

	if (ami_md5hex(ami->msg.challenge, ami->secret, key) == -1) {
		ami_drop(ami, "MD5 unavailable", 0);
		return;
	}
	ami_new_id(ami, ami->login_id, sizeof ami->login_id);
	evbuffer_add_printf(bufferevent_get_output(ami->bev),
	    "Action: Login\r\nActionID: %s\r\nAuthType: MD5\r\n"
	    "Username: %s\r\nKey: %s\r\nEvents: off\r\n\r\n",
	    ami->login_id, ami->user, key);
	OPENSSL_cleanse(key, sizeof key);
	ami_enter(ami, AMI_S_LOGIN, NULL);
}

/* Logged in: reset the backoff and send every waiting request. */
static void
ami_ready(struct ami *ami)
{
	struct ami_req	*r, *next;

	evtimer_del(ami->timer);
	ami->backoff_ms = AMI_BACKOFF_MIN_MS;
	ami_enter(ami, AMI_S_READY, NULL);
	for (r = TAILQ_FIRST(&ami->waiting); r != NULL; r = next) {
		next = TAILQ_NEXT(r, entry);
		if (r->fail == NULL)
			ami_send(ami, r);
	}
}

/* Write md5hex(a + b) into out (33 bytes); 0 or -1. */
static int
ami_md5hex(const char *a, const char *b, char *out)
{
	static const char	 hex[] = "0123456789abcdef";
	EVP_MD_CTX		*ctx;
	unsigned char		 md[EVP_MAX_MD_SIZE];
	unsigned int		 n = 0, i;
	int			 ok;

	if ((ctx = EVP_MD_CTX_new()) == NULL)
		return (-1);
	ok = EVP_DigestInit_ex(ctx, EVP_md5(), NULL) == 1 &&
	    EVP_DigestUpdate(ctx, a, strlen(a)) == 1 &&
	    EVP_DigestUpdate(ctx, b, strlen(b)) == 1 &&
	    EVP_DigestFinal_ex(ctx, md, &n) == 1 && n == 16;
	EVP_MD_CTX_free(ctx);
	if (!ok)
		return (-1);
	for (i = 0; i < n; i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 0xf];
	}
	out[2 * n] = '\0';
	OPENSSL_cleanse(md, sizeof md);
	return (0);
}

/* Make the next ActionID. */
static void
ami_new_id(struct ami *ami, char *buf, size_t size)
{
	snprintf(buf, size, "iaxkeyd-%llu", ++ami->next_id);
}

/* Write a request and move it to the sent list. */
static void
ami_send(struct ami *ami, struct ami_req *r)
{
	evbuffer_add_printf(bufferevent_get_output(ami->bev),
	    "Action: Reload\r\nActionID: %s\r\nModule: %s\r\n\r\n",
	    r->id, r->module);
	TAILQ_REMOVE(&ami->waiting, r, entry);
	TAILQ_INSERT_TAIL(&ami->sent, r, entry);
	r->sent = 1;
	r->rx_sent = ami->rx;
}

/* The sent request with this ActionID, or NULL. */
static struct ami_req *
ami_req_find(struct ami *ami, const char *id)
{
	struct ami_req	*r;

	TAILQ_FOREACH(r, &ami->sent, entry) {
		if (strcmp(r->id, id) == 0)
			return (r);
	}
	return (NULL);
}

/* Unlink a request from its list. */
static void
ami_req_take(struct ami *ami, struct ami_req *r)
{
	if (r->sent)
		TAILQ_REMOVE(&ami->sent, r, entry);
	else
		TAILQ_REMOVE(&ami->waiting, r, entry);
	ami->npending--;
}

/* Unlink a request, log it, run its callback once and free it. */
static void
ami_req_finish(struct ami *ami, struct ami_req *r, int ok, const char *text)
{
	ami_req_take(ami, r);
	ami_req_deliver(ami, r, ok, text);
}

/* Log an unlinked request, run its callback once and free it. */
static void
ami_req_deliver(struct ami *ami, struct ami_req *r, int ok, const char *text)
{
	struct logline	l;

	event_free(r->timer);
	if (log_enabled(ok ? LOG_L_INFO : LOG_L_WARN)) {
		lf_begin(&l, ok ? LOG_L_INFO : LOG_L_WARN, "ami_reload");
		lf_str(&l, "peer", ami->peer);
		lf_str(&l, "module", r->module);
		lf_str(&l, "id", r->id);
		lf_str(&l, "status", ok ? "ok" : "failed");
		lf_int(&l, "ms", (long long)(ami_now_ms() - r->t_start));
		lf_str(&l, "message", text);
		lf_emit(&l);
	}
	r->cb(r->arg, ok, text);
	free(r);
}

/* How many requests a list holds. */
static size_t
ami_req_count(struct ami_reqs *list)
{
	struct ami_req	*r;
	size_t		 n = 0;

	TAILQ_FOREACH(r, list, entry)
		n++;
	return (n);
}

/*
 * Fail the first n requests of a list (re-reading the head each time, as
 * a callback may free others).  Requests that callbacks queue meanwhile
 * go to the tail and are left for the next connection.
 */
static void
ami_req_fail_first(struct ami *ami, struct ami_reqs *list, size_t n,
    const char *text)
{
	struct ami_req	*r;

	while (n-- > 0 && (r = TAILQ_FIRST(list)) != NULL)
		ami_req_finish(ami, r, 0, text);
}

/* Fail the requests a list holds now. */
static void
ami_req_fail_all(struct ami *ami, struct ami_reqs *list, const char *text)
{
	ami_req_fail_first(ami, list, ami_req_count(list), text);
}

/*
 * A request's deadline passed (or it was refused at queueing).  When it
 * was sent and not a byte came back since, the connection is taken for
 * dead (half-open TCP, hung Asterisk) and dropped, so the next request
 * gets a fresh one.
 */
static void
ami_req_timer_cb(evutil_socket_t fd, short events, void *arg)
{
	struct ami_req	*r = arg;
	struct ami	*ami = r->ami;
	char		 why[AMI_WHY_MAX + 64];
	const char	*text;
	int		 silent;

	ami->busy++;
	silent = r->sent && ami->rx == r->rx_sent;
	if (r->fail != NULL)
		text = r->fail;
	else if (r->sent || ami->state == AMI_S_READY)
		text = "timeout";
	else {
		if (ami->state == AMI_S_FAILED)
			snprintf(why, sizeof why, "not connected: %s",
			    ami->why);
		else if (ami->why[0] != '\0')
			snprintf(why, sizeof why, "not connected: %s "
			    "(retrying, state %s)", ami->why,
			    ami_state_name(ami->state));
		else
			snprintf(why, sizeof why, "not connected: timeout in "
			    "state %s", ami_state_name(ami->state));
		text = why;
	}
	/*
	 * Drop a silent connection before the callback runs: a request
	 * that the callback queues must wait for the next connection, not
	 * be sent on this one and failed with it.
	 */
	ami_req_take(ami, r);
	if (silent && !ami->dying && ami->state == AMI_S_READY)
		ami_drop(ami, "no answer within a request timeout", 0);
	ami_req_deliver(ami, r, 0, text);
	ami_leave(ami);
}
