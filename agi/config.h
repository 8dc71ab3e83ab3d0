/*
 * config: iaxkeyd's configuration spec table (agi/config.c).
 *
 * The enums below are the conf_enum() indexes of the enum keys; their
 * order is the order of the choices in the table.  [log] level uses
 * enum log_level from lib/log.h.
 *
 * Formats checked at load time:
 *   [outbound] peer_options	space-separated name=value options added to
 *				every peer ("requirecalltoken=yes qualify=no");
 *				values may hold ',' (allow=ulaw,alaw); names
 *				iaxkeyd writes itself (auth, secret, ...) are
 *				refused
 *   [inbound] rsa_contexts, md5_contexts
 *				comma-separated context names, no spaces
 *   [inbound] fallback_context	context[,exten[,priority]]
 *   [keyserver] url		URL template holding "{node}"
 *   [keyserver] api_key_header	"Name: value"
 *   [asterisk] reload_command	argv split on spaces, "double quotes"
 *				group; "{modules}" becomes the modules to
 *				reload, space-separated
 */
#ifndef CONFIG_H
#define CONFIG_H

#include "lib/conf.h"

/* [asterisk] reload */
enum cfg_reload {
	CFG_RELOAD_AGI,
	CFG_RELOAD_AMI,
	CFG_RELOAD_COMMAND,
	CFG_RELOAD_NONE,
	CFG_RELOAD_MAX
};

/* [outbound] mode */
enum cfg_mode {
	CFG_MODE_CONFIG,
	CFG_MODE_DIALSTRING,
	CFG_MODE_MAX
};

/* [inbound] inkeys */
enum cfg_inkeys {
	CFG_INKEYS_SHARED,
	CFG_INKEYS_PER_NODE,
	CFG_INKEYS_MAX
};

/* [inbound] on_key_change */
enum cfg_key_change {
	CFG_KEY_CHANGE_ACCEPT,
	CFG_KEY_CHANGE_REJECT,
	CFG_KEY_CHANGE_MAX
};

extern const struct conf_spec iaxkeyd_conf_spec[];

int	config_check(const struct conf *, char **);

#endif
