/*
 * ksget: GET requests to the key server, for keys.c (a node's key, or one
 * of its other published keys) and sync.c (the index).  The URLs come
 * from [keyserver] url and index_url.
 *
 * Contract: ksget_key and ksget_index never fail at once.  The callback
 * runs exactly once unless ksget_cancel, always from the loop and never
 * from inside the call that started the request; a request that could
 * not start is delivered as a response with error set.  url (in the
 * callback) is the redacted URL that answered, or the last one tried.
 *
 * This first version knows one URL per list.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "agi/iaxkeyd.h"
#include "lib/http.h"
#include "lib/xmalloc.h"

struct ksget {
	struct http_req	*req;
	struct event	*fail;
	char		*error;
	char		*url;		/* redacted */
	ksget_cb	 cb;
	void		*arg;
};

static void	ksget_done_cb(void *, const struct http_resp *);
static void	ksget_fail_cb(int, short, void *);
static struct ksget *ksget_start(struct http *, const char *,
		    const struct http_opts *, ksget_cb, void *);

/* 1 when [keyserver] url is set (a key can be fetched). */
int
ksget_configured(void)
{
	const char	*tpl = conf_str(ikd->conf, "keyserver:url");

	return (strstr(tpl, "{node}") != NULL);
}

/*
 * The URL of node's key, or of its key in slot ("next", "previous") when
 * slot is not NULL: {node} becomes the escaped node, or "<node>/<slot>".
 * NULL when [keyserver] url is not set.  Caller frees.
 */
static char *
ksget_key_url(const char *tpl, const char *node, const char *slot)
{
	const char	*at;
	char		*esc, *url;

	if ((at = strstr(tpl, "{node}")) == NULL)
		return (NULL);
	esc = http_escape(node);
	xasprintf(&url, "%.*s%s%s%s%s", (int)(at - tpl), tpl, esc,
	    slot != NULL ? "/" : "", slot != NULL ? slot : "", at + 6);
	free(esc);
	return (url);
}

/* The index URL: index_url, or url without its "/{node}" part. */
static char *
ksget_index_url(void)
{
	const char	*u = conf_str(ikd->conf, "keyserver:index_url");
	const char	*tpl = conf_str(ikd->conf, "keyserver:url");
	const char	*at;
	size_t		 n;
	char		*out;

	if (*u != '\0')
		return (xstrdup(u));
	if ((at = strstr(tpl, "{node}")) == NULL)
		return (NULL);
	n = at - tpl;
	if (n > 0 && tpl[n - 1] == '/')
		n--;
	xasprintf(&out, "%.*s", (int)n, tpl);
	return (out);
}

/* GET node's key (slot NULL: the current one). */
struct ksget *
ksget_key(struct http *http, const char *node, const char *slot,
    const struct http_opts *o, ksget_cb cb, void *arg)
{
	struct ksget	*g;
	char		*url;

	url = ksget_key_url(conf_str(ikd->conf, "keyserver:url"), node, slot);
	g = ksget_start(http, url, o, cb, arg);
	free(url);
	return (g);
}

/* GET the index. */
struct ksget *
ksget_index(struct http *http, const struct http_opts *o, ksget_cb cb,
    void *arg)
{
	struct ksget	*g;
	char		*url;

	url = ksget_index_url();
	g = ksget_start(http, url, o, cb, arg);
	free(url);
	return (g);
}

/* Start one request to url (NULL: not configured). */
static struct ksget *
ksget_start(struct http *http, const char *url, const struct http_opts *o,
    ksget_cb cb, void *arg)
{
	static const struct timeval	 now = { 0, 0 };
	struct ksget			*g;
	char				*cause = NULL;

	g = xcalloc(1, sizeof *g);
	g->cb = cb;
	g->arg = arg;
	if (url == NULL) {
		g->url = xstrdup("-");
		cause = xstrdup("[keyserver] url and index_url are not set");
	} else {
		g->url = http_redact(url);
		g->req = http_request(http, url, o, ksget_done_cb, g, &cause);
	}
	if (g->req == NULL) {
		g->error = cause;
		if ((g->fail = evtimer_new(ikd->base, ksget_fail_cb, g)) ==
		    NULL || evtimer_add(g->fail, &now) == -1)
			fatalx("cannot schedule a key server failure");
	}
	return (g);
}

/* Free a request's state. */
static void
ksget_free(struct ksget *g)
{
	if (g->fail != NULL)
		event_free(g->fail);
	free(g->error);
	free(g->url);
	free(g);
}

/* The answer. */
static void
ksget_done_cb(void *arg, const struct http_resp *resp)
{
	struct ksget	*g = arg;

	g->req = NULL;
	g->cb(g->arg, resp, g->url);
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
	resp.error = g->error;
	g->cb(g->arg, &resp, g->url);
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
