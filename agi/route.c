/* route: agi_network_script path -> handler. */
#include <string.h>

#include "agi/iaxkeyd.h"

static const struct route routes[] = {
	{ "ping", h_ping_start },
	{ "outbound", h_outbound_start },
	{ "inbound", h_inbound_start },
};

/* The handler for a script path, or NULL. */
const struct route *
route_find(const char *path)
{
	size_t	i;

	for (i = 0; i < sizeof routes / sizeof routes[0]; i++) {
		if (strcmp(routes[i].name, path) == 0)
			return (&routes[i]);
	}
	return (NULL);
}

/* Answer a script nobody handles. */
void
route_unknown(struct session *s)
{
	static const char *const names[] = { "IAXKEY_STATUS", "IAXKEY_REASON" };
	static const char *const values[] = { "ERROR", "unknown script" };

	session_setvars(s, 2, names, values);
	session_finish(s, "ERROR", "unknown script");
}
