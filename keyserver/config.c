/* config: iaxkey-server's configuration spec table. */
#include <stdio.h>

#include "lib/conf.h"
#include "lib/log.h"
#include "lib/metrics.h"
#include "keyserver/ks.h"

static const char *const ks_level_choices[] = {
	[LOG_L_DEBUG] = "debug",
	[LOG_L_INFO] = "info",
	[LOG_L_WARN] = "warn",
	[LOG_L_ERROR] = "error",
	[LOG_L_MAX] = NULL
};

#define E	CONF_EMPTY

const struct conf_spec iaxkey_server_conf_spec[] = {
	/* [http] */
	{ "http:listen", CONF_ADDR, .def = "127.0.0.1:8080",
	  .help = "HTTP(S) listener; port 0 picks a free port (logged)." },
	{ "http:max_body", CONF_INT, 1024, 1048576, "16384",
	  .help = "Largest request body (a PEM key) in bytes; larger: 413." },
	{ "http:max_headers", CONF_INT, 1024, 65536, "8192",
	  .help = "Largest request header block in bytes." },
	{ "http:max_connections", CONF_INT, 1, 100000, "1024",
	  .help = "Connections at once; at the limit the listener pauses." },
	{ "http:max_per_addr", CONF_INT, 1, 100000, "64",
	  .help = "Connections at once from one source address; more are "
	  "closed at once." },
	{ "http:timeout_s", CONF_INT, 1, 3600, "10",
	  .help = "Idle read and write timeout of a connection, in seconds." },
	{ "http:header_timeout_s", CONF_INT, 1, 3600, "10",
	  .help = "Absolute deadline in seconds for a request's header "
	  "block." },
	{ "http:body_timeout_s", CONF_INT, 1, 3600, "10",
	  .help = "Absolute deadline in seconds for a request's body, after "
	  "its headers." },
	{ "http:rate_per_min", CONF_INT, 0, 10000000, "600",
	  .help = "Requests per minute per source address (429 beyond); "
	  "0: no limit." },
	{ "http:rate_burst", CONF_INT, 1, 1000000, "60",
	  .help = "Requests a source address may send at once." },
	{ "http:clock_skew_s", CONF_INT, 1, 86400, "300",
	  .help = "Accepted distance of X-Iaxkey-Timestamp from our clock, "
	  "in seconds." },
	{ "http:max_nonces", CONF_INT, 10, 10000000, "100000",
	  .help = "Nonces of authorised requests kept (2 x clock_skew_s "
	  "each); full: 503." },
	{ "http:cache_max_age", CONF_INT, 0, 86400, "60",
	  .help = "max-age in seconds of the Cache-Control of key and index "
	  "answers (404s: at most 10)." },

	/* [tls] */
	{ "tls:cert", CONF_PATH, .def = "", .flags = E,
	  .help = "PEM certificate chain; with key: HTTPS, else plain HTTP." },
	{ "tls:key", CONF_PATH, .def = "", .flags = E,
	  .help = "PEM private key of the certificate." },
	{ "tls:handshake_timeout_s", CONF_INT, 1, 3600, "10",
	  .help = "Absolute deadline in seconds for the TLS handshake." },

	/* [store] */
	{ "store:dir", CONF_PATH, .def = "/var/lib/iaxkey-server",
	  .help = "Key directory: <node>.pub, next/, previous/, tokens/ "
	  "(hashes only), seen/." },
	{ "store:audit_log", CONF_PATH, .def = "", .flags = E,
	  .help = "Append-only audit log; empty: <dir>/audit.log." },

	/* [metrics] */
	METRICS_CONF_SPEC,

	/* [log] */
	{ "log:file", CONF_PATH, .def = "", .flags = E,
	  .help = "Ops log file, reopened on SIGUSR1; empty: none." },
	{ "log:level", CONF_ENUM, .def = "info",
	  .choices = ks_level_choices,
	  .help = "Lowest level logged." },
	{ "log:syslog", CONF_BOOL, .def = "yes",
	  .help = "Send the ops log to syslog too." },

	{ .key = NULL }
};

#undef E
