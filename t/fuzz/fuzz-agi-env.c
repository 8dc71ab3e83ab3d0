/*
 * fuzz-agi-env: the AGI environment block as Asterisk sends it, read
 * the way agi/session.c reads it: lines cut by line_next() with the env
 * line limit, each given to agi_env_add() until the empty line, then
 * agi_env_finish(), the version limit, the script path and its query.
 */
#include <string.h>

#include "lib/agiproto.h"
#include "lib/line.h"
#include "lib/xmalloc.h"
#include "t/fuzz/fuzz.h"

static void	env_use(const struct agi_env *, int);

/* Everything session.c looks up in a finished block. */
static void
env_use(const struct agi_env *env, int bad)
{
	static const char *const query_keys[] = { "mode", "x", "node", "" };
	const char	*script, *query, *v;
	char		 path[80], val[256];
	size_t		 i, max;
	int		 n, rc;

	max = agi_version_line_max(agi_env_get(env, "agi_version"));
	FUZZ_CHECK(max == AGI_LINE_MAX_NEW || max == AGI_LINE_MAX_OLD);
	FUZZ_CHECK(agi_env_get(env, "agi_request") != NULL);
	for (i = 0; i < (size_t)env->nvars; i++) {
		v = agi_env_get(env, env->vars[i].key);
		FUZZ_CHECK(v != NULL && strchr(v, '\n') == NULL);
	}
	for (n = 1; n <= env->nargs; n++)
		FUZZ_CHECK(agi_env_arg(env, n) != NULL);
	FUZZ_CHECK(agi_env_arg(env, env->nargs + 1) == NULL);
	FUZZ_CHECK(agi_env_arg(env, 0) == NULL);
	if (bad)
		return;		/* refused: no handler runs */

	if ((script = agi_env_get(env, "agi_network_script")) == NULL)
		script = "";
	if (agi_script_split(script, path, sizeof path, &query) == -1)
		return;
	FUZZ_CHECK(strlen(path) < sizeof path && query != NULL);
	for (i = 0; i < sizeof query_keys / sizeof query_keys[0]; i++) {
		rc = agi_query_get(query, query_keys[i], val, sizeof val);
		FUZZ_CHECK(rc >= -1 && rc <= 1);
		if (rc == 1)
			FUZZ_CHECK(strlen(val) < sizeof val &&
			    strpbrk(val, "\r\n") == NULL);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct agi_env	 env;
	const char	*cause;
	char		*buf;
	size_t		 off = 0, len, used;
	int		 rc, bad = 0;

	buf = xmalloc(size + 1);
	memcpy(buf, data, size);
	agi_env_init(&env);
	for (;;) {
		rc = line_next(buf + off, size - off, AGI_ENV_LINE_MAX, &len,
		    &used, &cause);
		if (rc != 1)
			break;
		FUZZ_CHECK(len <= AGI_ENV_LINE_MAX && used == len + 1 &&
		    off + used <= size);
		if (len == 0) {
			/* session.c finishes even a refused block. */
			if (agi_env_finish(&env, &cause) == 0)
				env_use(&env, bad);
			break;
		}
		rc = agi_env_add(&env, buf + off, len, &cause);
		if (rc == -1)
			break;
		if (rc == -2)
			bad = 1;	/* the block is refused once it ends */
		FUZZ_CHECK(rc == 0 || rc == -2);
		FUZZ_CHECK(env.used <= AGI_ENV_BYTES_MAX);
		off += used;
	}
	agi_env_clear(&env);
	free(buf);
	return (0);
}
