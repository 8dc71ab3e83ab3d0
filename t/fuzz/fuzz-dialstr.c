/*
 * fuzz-dialstr: the outbound destination as agi/h_outbound.c takes it
 * from the AGI arguments (one per input line): one "IAX2/..." dial
 * string, or named arguments host=, port=, user=, secret=, exten=,
 * context=.  A destination that passes must yield dial strings without
 * CR or LF and a peer section that lib/astconf.c renders (what
 * agi/peers.c writes to iaxkeyd-peers.conf).
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "lib/astconf.h"
#include "lib/dialstr.h"
#include "lib/xmalloc.h"
#include "t/fuzz/fuzz.h"

#define FUZZ_ARGS_MAX	127	/* AGI_ARGS_MAX */

static void	dest_use(const struct dialdest *);

/* Dial strings and the peer section of an accepted destination. */
static void
dest_use(const struct dialdest *d)
{
	struct astconf	 ac;
	char		 buf[DIAL_STR_MAX], host[DIAL_HOST_MAX + 3], port[8];
	char		*cause = NULL;

	FUZZ_CHECK(d->port >= 1 && d->port <= 65535);
	FUZZ_CHECK(d->host[0] != '\0' && d->user[0] != '\0' &&
	    d->exten[0] != '\0');
	dialdest_md5(d, buf, sizeof buf);
	FUZZ_CHECK(strncmp(buf, "IAX2/", 5) == 0 &&
	    strpbrk(buf, "\r\n") == NULL);
	dialdest_rsa_inline(d, "node-a", buf, sizeof buf);
	FUZZ_CHECK(strpbrk(buf, "\r\n") == NULL);
	dialdest_peer(d, "peer_1", buf, sizeof buf);
	FUZZ_CHECK(strpbrk(buf, "\r\n") == NULL);
	dialdest_host_plain(d, host, sizeof host);
	FUZZ_CHECK(strchr(host, '[') == NULL);

	snprintf(port, sizeof port, "%d", d->port);
	astconf_init(&ac, 64 * 1024);
	astconf_section(&ac, "peer_1", NULL);
	astconf_kv(&ac, "type", "peer");
	astconf_kv(&ac, "host", host);
	astconf_kv(&ac, "port", port);
	astconf_kv(&ac, "username", d->user);
	astconf_kv(&ac, "secret", d->secret);
	if (astconf_done(&ac, &cause) == -1) {
		fprintf(stderr, "accepted destination not renderable: %s\n",
		    cause);
		abort();
	}
	astconf_clear(&ac);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dialdest	 d;
	const char	*field = NULL, *why = NULL;
	char		*buf, *args[FUZZ_ARGS_MAX], *p, *nl;
	int		 nargs = 0, i, rc = 0;

	buf = xmalloc(size + 1);
	memcpy(buf, data, size);
	buf[size] = '\0';
	if (memchr(buf, '\0', size) != NULL) {	/* AGI lines hold no NUL */
		free(buf);
		return (0);
	}
	for (p = buf; nargs < FUZZ_ARGS_MAX; p = nl + 1) {
		args[nargs++] = p;
		if ((nl = strchr(p, '\n')) == NULL)
			break;
		*nl = '\0';
	}

	dialdest_init(&d);
	if (nargs == 1 && strncasecmp(args[0], "IAX2/", 5) == 0)
		rc = dialstr_parse(args[0], &d, &field, &why);
	else {
		for (i = 0; i < nargs && rc == 0; i++)
			rc = dialdest_arg(&d, args[i], &field, &why);
	}
	if (rc == 0)
		rc = dialdest_complete(&d, &field, &why);
	if (rc == 0)
		dest_use(&d);
	else
		FUZZ_CHECK(field != NULL && why != NULL);
	free(buf);
	return (0);
}
