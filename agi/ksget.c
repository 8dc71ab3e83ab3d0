/*
 * ksget: GET requests to the key server, for keys.c (a node's key, or one
 * of its other published keys) and sync.c (the index).  The URLs come
 * from [keyserver] url and index_url: each holds one or more URLs (two
 * lists, "key" and "index"; an empty index_url is each url entry without
 * its "/{node}" part, in the same order).
 *
 * Contract: ksget_key and ksget_index never fail at once.  The callback
 * runs exactly once unless ksget_cancel, always from the loop and never
 * from inside the call that started the request; a request that could
 * not start is delivered as a response with error set.  url (in the
 * callback) is the redacted URL that answered, or the last one tried.
 *
 * Several URLs: a request tries each URL of its list at most once.  It
 * starts with the first URL (in the configured order) that is not backing
 * off; when every URL it has not tried yet is backing off, it tries the
 * one whose backoff ends first, so a request always gets an answer when
 * any URL works.  A transport failure, a 5xx or a 429 marks the URL
 * failed (backoff 1 s, doubling per failure up to 60 s; one failure per
 * attempt started after the URL's last failure, so requests that were in
 * flight together count once) and the request goes on to the next URL at
 * once.  Any other status (200, 304, 404, other 4xx, 3xx) is an answer:
 * it ends the request and resets the URL's backoff.  The last failure is
 * delivered when every URL failed.  Each attempt has the full timeout of
 * the request's options.
 *
 * The state of each URL (backoff, last error, answers, failures) lives
 * here for the console and /metrics (ksget_each); it is reset when the
 * list's configuration changes.  The request options are copied, so the
 * caller's may be gone before the request ends.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "agi/iaxkeyd.h"
#include "lib/http.h"
#include "lib/xmalloc.h"

#define KSGET_BACKOFF_MIN_MS	1000
#define KSGET_BACKOFF_MAX_MS	60000

enum ksget_list_id {
	KSGET_KEY,
	KSGET_INDEX,
	KSGET_NLISTS
};

/* One URL of a list. */
struct ksget_url {
	char		*tpl;		/* as configured ({node} in a key URL) */
	char		*shown;		/* redacted */
	uint64_t	 until;		/* end of the backoff, now_ms(); 0 */
	uint64_t	 last_fail;	/* when the last failure was counted */
	unsigned	 next_ms;	/* the next backoff; 0: the first */
	char		 error[KSGET_ERROR_MAX];	/* last failure */
	uint64_t	 ok, failed;
};

/* A list of URLs and what it was built from. */
struct ksget_list {
	const char		*name;
	char			*from;		/* the configuration text */
	uint64_t		 gen;		/* bumped at each rebuild */
	int			 n;
	struct ksget_url	 url[CONF_URLS_MAX];
};

/* A request's own copy of its options. */
struct ksget_opts {
	struct http_opts	 o;
	char			*method, *content_type, *ca_file;
	char			*if_none_match;
	void			*body;
	char			**headers;
	char			**capture;
};

struct ksget {
	struct http		*http;
	struct ksget_list	*list;
	uint64_t		 gen;		/* list->gen at the start */
	struct ksget_opts	 opts;
	char			*urls[CONF_URLS_MAX];
	int			 n;
	unsigned		 tried;		/* bit per position */
	int			 at;		/* position tried now */
	uint64_t		 t_try;		/* when it started */
	struct http_req		*req;
	struct event		*fail;
	char			*error;
	char			*shown;		/* redacted URL */
	ksget_cb		 cb;
	void			*arg;
};

static struct ksget_list ksget_lists[KSGET_NLISTS] = {
	[KSGET_KEY] = { .name = "key" },
	[KSGET_INDEX] = { .name = "index" }
};

static void	ksget_done_cb(void *, const struct http_resp *);
static void	ksget_fail_cb(int, short, void *);
static struct ksget_list *ksget_list(enum ksget_list_id);
static void	ksget_opts_copy(struct ksget_opts *, const struct http_opts *);
static void	ksget_opts_free(struct ksget_opts *);
static const char *const *ksget_strv_copy(const char *const *, char ***);
static void	ksget_strv_free(char **);
static struct ksget *ksget_start(struct http *, enum ksget_list_id,
		    const char *, const char *, const struct http_opts *,
		    ksget_cb, void *);
static int	ksget_try(struct ksget *);
static void	ksget_record(struct ksget *, const char *);

/* 1 when [keyserver] url is set (a key can be fetched). */
int
ksget_configured(void)
{
	const char	*tpl = conf_str(ikd->conf, "keyserver:url");

	return (strstr(tpl, "{node}") != NULL);
}

/* Empty a list. */
static void
ksget_list_clear(struct ksget_list *l)
{
	int	i;

	for (i = 0; i < l->n; i++) {
		free(l->url[i].tpl);
		free(l->url[i].shown);
	}
	memset(l->url, 0, sizeof l->url);
	l->n = 0;
	free(l->from);
	l->from = NULL;
}

/* Add entry p (len bytes) to a list; index entries lose "/{node}...". */
static void
ksget_list_add(struct ksget_list *l, const char *p, size_t len, int strip)
{
	struct ksget_url	*u;
	const char		*at;

	if (l->n == CONF_URLS_MAX)
		return;
	u = &l->url[l->n++];
	u->tpl = xstrndup(p, len);
	if (strip && (at = strstr(u->tpl, "{node}")) != NULL) {
		if (at > u->tpl && at[-1] == '/')
			at--;
		u->tpl[at - u->tpl] = '\0';
	}
	u->shown = http_redact(u->tpl);
}

/*
 * The list id after the configuration in force, rebuilt (its state reset)
 * when that changed since the last look.
 */
static struct ksget_list *
ksget_list(enum ksget_list_id id)
{
	struct ksget_list	*l = &ksget_lists[id];
	const char		*url = conf_str(ikd->conf, "keyserver:url");
	const char		*idx = conf_str(ikd->conf,
				    "keyserver:index_url");
	const char		*p, *src;
	char			*from;
	size_t			 len;
	int			 i, strip;

	if (id == KSGET_KEY)
		from = xstrdup(url);
	else
		xasprintf(&from, "%s\n%s", idx, url);
	if (l->from != NULL && strcmp(l->from, from) == 0) {
		free(from);
		return (l);
	}
	ksget_list_clear(l);
	l->from = from;
	l->gen++;
	strip = id == KSGET_INDEX && *idx == '\0';
	src = id == KSGET_INDEX && !strip ? idx : url;
	for (i = 0; conf_list_at(src, i, &p, &len) == 0; i++) {
		if (!strip || memmem(p, len, "{node}", 6) != NULL)
			ksget_list_add(l, p, len, strip);
	}
	return (l);
}

/* Free the URL lists (shutdown). */
void
ksget_shutdown(void)
{
	int	i;

	for (i = 0; i < KSGET_NLISTS; i++)
		ksget_list_clear(&ksget_lists[i]);
}

/* The state of every URL, list by list, in order: fn(arg, state). */
void
ksget_each(void (*fn)(void *, const struct ksget_state *), void *arg)
{
	struct ksget_list	*l;
	struct ksget_url	*u;
	struct ksget_state	 s;
	uint64_t		 now = now_ms();
	int			 id, i;

	for (id = 0; id < KSGET_NLISTS; id++) {
		l = ksget_list(id);
		for (i = 0; i < l->n; i++) {
			u = &l->url[i];
			memset(&s, 0, sizeof s);
			s.list = l->name;
			s.pos = i + 1;
			s.url = u->shown;
			if (u->until > now)
				s.until = time(NULL) +
				    (time_t)((u->until - now + 999) / 1000);
			s.error = u->error[0] != '\0' ? u->error : NULL;
			s.ok = u->ok;
			s.failed = u->failed;
			fn(arg, &s);
		}
	}
}

/* The URL of node's key from template tpl (see ksget_key); caller frees. */
static char *
ksget_key_url(const char *tpl, const char *node, const char *slot)
{
	const char	*at;
	char		*esc, *url;

	if ((at = strstr(tpl, "{node}")) == NULL)
		return (xstrdup(tpl));
	esc = http_escape(node);
	xasprintf(&url, "%.*s%s%s%s%s", (int)(at - tpl), tpl, esc,
	    slot != NULL ? "/" : "", slot != NULL ? slot : "", at + 6);
	free(esc);
	return (url);
}

/*
 * GET node's key (slot NULL: the current one; "next", "previous": {node}
 * becomes "<node>/<slot>").
 */
struct ksget *
ksget_key(struct http *http, const char *node, const char *slot,
    const struct http_opts *o, ksget_cb cb, void *arg)
{
	return (ksget_start(http, KSGET_KEY, node, slot, o, cb, arg));
}

/* GET the index. */
struct ksget *
ksget_index(struct http *http, const struct http_opts *o, ksget_cb cb,
    void *arg)
{
	return (ksget_start(http, KSGET_INDEX, NULL, NULL, o, cb, arg));
}

/* Copy request options, with everything they point to. */
static void
ksget_opts_copy(struct ksget_opts *c, const struct http_opts *o)
{
	memset(c, 0, sizeof *c);
	if (o == NULL)
		return;
	c->o = *o;
	if (o->method != NULL)
		c->o.method = c->method = xstrdup(o->method);
	if (o->content_type != NULL)
		c->o.content_type = c->content_type = xstrdup(o->content_type);
	if (o->ca_file != NULL)
		c->o.ca_file = c->ca_file = xstrdup(o->ca_file);
	if (o->if_none_match != NULL)
		c->o.if_none_match = c->if_none_match =
		    xstrdup(o->if_none_match);
	if (o->body != NULL) {
		c->body = xmalloc(o->body_len + 1);
		memcpy(c->body, o->body, o->body_len);
		c->o.body = c->body;
	}
	c->o.headers = ksget_strv_copy(o->headers, &c->headers);
	c->o.capture = ksget_strv_copy(o->capture, &c->capture);
}

/*
 * A copy of a NULL-ended array of strings into *own (NULL stays NULL),
 * for a pointer of request options (every such pointer is copied: the
 * caller's array may be gone when the request moves on to the next URL).
 */
static const char *const *
ksget_strv_copy(const char *const *v, char ***own)
{
	size_t	n = 0, i;

	*own = NULL;
	if (v == NULL)
		return (NULL);
	while (v[n] != NULL)
		n++;
	*own = xcalloc(n + 1, sizeof **own);
	for (i = 0; i < n; i++)
		(*own)[i] = xstrdup(v[i]);
	return ((const char *const *)*own);
}

/* Free a copy of ksget_strv_copy, wiped (headers may hold an API key). */
static void
ksget_strv_free(char **v)
{
	size_t	i;

	for (i = 0; v != NULL && v[i] != NULL; i++) {
		explicit_bzero(v[i], strlen(v[i]));
		free(v[i]);
	}
	free(v);
}

/* Free a copy of request options. */
static void
ksget_opts_free(struct ksget_opts *c)
{
	ksget_strv_free(c->headers);
	ksget_strv_free(c->capture);
	free(c->method);
	free(c->content_type);
	free(c->ca_file);
	free(c->if_none_match);
	free(c->body);
}

/* Start a request on list id (node and slot for a key). */
static struct ksget *
ksget_start(struct http *http, enum ksget_list_id id, const char *node,
    const char *slot, const struct http_opts *o, ksget_cb cb, void *arg)
{
	static const struct timeval	 now = { 0, 0 };
	struct ksget			*g;
	int				 i;

	g = xcalloc(1, sizeof *g);
	g->http = http;
	g->cb = cb;
	g->arg = arg;
	g->list = ksget_list(id);
	g->gen = g->list->gen;
	ksget_opts_copy(&g->opts, o);
	for (i = 0; i < g->list->n; i++)
		g->urls[g->n++] = node != NULL ? ksget_key_url(
		    g->list->url[i].tpl, node, slot) :
		    xstrdup(g->list->url[i].tpl);
	if (g->n == 0)
		g->error = xstrdup("[keyserver] url and index_url are not set");
	if (ksget_try(g) == -1) {
		if (g->shown == NULL)
			g->shown = xstrdup("-");
		if ((g->fail = evtimer_new(ikd->base, ksget_fail_cb, g)) ==
		    NULL || evtimer_add(g->fail, &now) == -1)
			fatalx("cannot schedule a key server failure");
	}
	return (g);
}

/*
 * The state of the URL at position i of the request's list, or NULL when
 * the list was rebuilt since the request started.
 */
static struct ksget_url *
ksget_url_of(struct ksget *g, int i)
{
	if (g->gen != g->list->gen || i >= g->list->n)
		return (NULL);
	return (&g->list->url[i]);
}

/*
 * The next position to try: the first untried one not backing off, else
 * the untried one whose backoff ends first; -1 when all were tried.
 */
static int
ksget_pick(struct ksget *g)
{
	struct ksget_url	*u;
	uint64_t		 now = now_ms(), until, best_until = 0;
	int			 i, best = -1;

	for (i = 0; i < g->n; i++) {
		if (g->tried & (1u << i))
			continue;
		u = ksget_url_of(g, i);
		until = u != NULL ? u->until : 0;
		if (until <= now)
			return (i);
		if (best == -1 || until < best_until) {
			best = i;
			best_until = until;
		}
	}
	return (best);
}

/*
 * Send the request to the next URL: 0 when one started, -1 when none is
 * left (g->error says why when none could start).
 */
static int
ksget_try(struct ksget *g)
{
	char	*cause;
	int	 i;

	while ((i = ksget_pick(g)) != -1) {
		g->tried |= 1u << i;
		g->at = i;
		g->t_try = now_ms();
		cause = NULL;
		g->req = http_request(g->http, g->urls[i], &g->opts.o,
		    ksget_done_cb, g, &cause);
		free(g->shown);
		g->shown = http_redact(g->urls[i]);
		if (g->req != NULL)
			return (0);
		/* Refused before sending (e.g. too long): not the URL's fault. */
		free(g->error);
		g->error = cause;
	}
	return (-1);
}

/*
 * Record the outcome of the attempt at g->at: why is NULL for an answer,
 * else the failure.
 */
static void
ksget_record(struct ksget *g, const char *why)
{
	struct ksget_url	*u;
	struct logline		 l;
	uint64_t		 now = now_ms();
	unsigned		 ms;
	int			 was_failed;

	if ((u = ksget_url_of(g, g->at)) == NULL)
		return;
	if (why == NULL) {
		u->ok++;
		was_failed = u->next_ms != 0;
		u->until = 0;
		u->next_ms = 0;
		if (was_failed) {
			lf_begin(&l, LOG_L_INFO, "keyserver_ok");
			lf_str(&l, "list", g->list->name);
			lf_int(&l, "pos", g->at + 1);
			lf_str(&l, "url", u->shown);
			lf_emit(&l);
		}
		return;
	}
	u->failed++;
	strlcpy_(u->error, why, sizeof u->error);
	if (u->last_fail != 0 && g->t_try < u->last_fail)
		return;		/* sent before the failure already counted */
	ms = u->next_ms != 0 ? u->next_ms : KSGET_BACKOFF_MIN_MS;
	u->until = now + ms;
	u->last_fail = now;
	u->next_ms = ms * 2 > KSGET_BACKOFF_MAX_MS ? KSGET_BACKOFF_MAX_MS :
	    ms * 2;
	lf_begin(&l, LOG_L_WARN, "keyserver_backoff");
	lf_str(&l, "list", g->list->name);
	lf_int(&l, "pos", g->at + 1);
	lf_str(&l, "url", u->shown);
	lf_int(&l, "backoff_ms", ms);
	lf_str(&l, "reason", why);
	lf_emit(&l);
}

/* Free a request's state. */
static void
ksget_free(struct ksget *g)
{
	int	i;

	if (g->fail != NULL)
		event_free(g->fail);
	for (i = 0; i < g->n; i++)
		free(g->urls[i]);
	ksget_opts_free(&g->opts);
	free(g->error);
	free(g->shown);
	free(g);
}

/* An answer, a failed attempt, or the last failure. */
static void
ksget_done_cb(void *arg, const struct http_resp *resp)
{
	struct ksget	*g = arg;
	char		 why[KSGET_ERROR_MAX];
	char		*shown;

	g->req = NULL;
	if (resp->error == NULL && resp->status < 500 && resp->status != 429) {
		ksget_record(g, NULL);
		g->cb(g->arg, resp, g->shown);
		ksget_free(g);
		return;
	}
	if (resp->error != NULL)
		strlcpy_(why, resp->error, sizeof why);
	else
		snprintf(why, sizeof why, "HTTP %ld", resp->status);
	ksget_record(g, why);
	shown = g->shown;
	g->shown = NULL;
	if (ksget_try(g) == 0) {
		free(shown);
		return;
	}
	free(g->shown);
	g->shown = shown;
	g->cb(g->arg, resp, g->shown);
	ksget_free(g);
}

/* A request that could not start. */
static void
ksget_fail_cb(int fd, short events, void *arg)
{
	struct ksget		*g = arg;
	struct http_resp	 resp;

	memset(&resp, 0, sizeof resp);
	resp.body = "";
	resp.result = -1;
	resp.error = g->error != NULL ? g->error : "no key server URL";
	g->cb(g->arg, &resp, g->shown);
	ksget_free(g);
}

/* Stop: the callback will not run. */
void
ksget_cancel(struct ksget *g)
{
	if (g == NULL)
		return;
	http_cancel(g->req);
	ksget_free(g);
}
