/* Unit tests for lib/agiproto.c: env block, script/query, replies, quoting. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/agiproto.h"
#include "t/lib/tap.h"

static int	add(struct agi_env *, const char *, const char **);

/* Add a C-string line. */
static int
add(struct agi_env *env, const char *line, const char **cause)
{
	return (agi_env_add(env, line, strlen(line), cause));
}

int
main(void)
{
	struct agi_env		 env;
	struct agi_reply	 r;
	const char		*cause = NULL, *query;
	char			 buf[64], line[256], path[16], big[300];
	int			 i, rc;

	plan_no_plan();

	/* The §1.2 block. */
	agi_env_init(&env);
	ok1(add(&env, "agi_network: yes", &cause) == 0);
	ok1(add(&env, "agi_network_script: outbound?x=1", &cause) == 0);
	ok1(add(&env, "agi_request: agi://127.0.0.1:4573/outbound?x=1",
	    &cause) == 0);
	ok1(add(&env, "agi_accountcode: ", &cause) == 0);
	ok1(add(&env, "agi_calleridname: Evil\"Name", &cause) == 0);
	ok1(add(&env, "agi_arg_1: arg1", &cause) == 0);
	ok1(add(&env, "agi_arg_2: a: b", &cause) == 0);
	ok1(add(&env, "agi_arg_3: ", &cause) == 0);
	ok1(agi_env_finish(&env, &cause) == 0);
	is_str(agi_env_get(&env, "agi_request"),
	    "agi://127.0.0.1:4573/outbound?x=1", "split at the first \": \"");
	is_str(agi_env_get(&env, "agi_accountcode"), "", "empty value");
	is_str(agi_env_get(&env, "agi_calleridname"), "Evil\"Name",
	    "raw value kept");
	is_str(agi_env_arg(&env, 1), "arg1", "arg 1");
	is_str(agi_env_arg(&env, 2), "a: b", "arg 2 keeps its colon");
	is_str(agi_env_arg(&env, 3), "", "arg 3 empty");
	ok1(agi_env_arg(&env, 4) == NULL);
	ok1(agi_env_arg(&env, 0) == NULL);
	ok1(agi_env_get(&env, "agi_nosuch") == NULL);

	/* Rejections. */
	is_int(add(&env, "agi_network: no", &cause), -2, "duplicate key");
	is_str(cause, "duplicate environment key", "duplicate cause");
	is_str(agi_env_get(&env, "agi_network"), "yes", "first value kept");
	is_int(add(&env, "agi_arg_5: x", &cause), -2, "argument gap");
	is_int(add(&env, "agi_arg_04: x", &cause), -2, "argument leading zero");
	is_int(add(&env, "GET / HTTP/1.1", &cause), -1, "HTTP request line");
	is_int(add(&env, "Host: example", &cause), -1, "HTTP header");
	is_int(add(&env, "agi_x:y", &cause), -1, "no space after colon");
	is_int(add(&env, "agi_x:", &cause), -1, "colon at end");
	is_int(add(&env, "agi_: x", &cause), -1, "bare prefix");
	is_int(add(&env, "agi_Upper: x", &cause), -1, "upper case key");
	is_int(add(&env, "noprefix: x", &cause), -1, "key without agi_");
	agi_env_clear(&env);

	/* Line and byte caps. */
	agi_env_init(&env);
	for (i = 0, rc = 0; i < AGI_ENV_LINES_MAX + 5 && rc == 0; i++) {
		snprintf(line, sizeof line, "agi_k%d: v", i);
		rc = add(&env, line, &cause);
	}
	is_int(i, AGI_ENV_LINES_MAX + 1, "line cap hit after %d lines",
	    AGI_ENV_LINES_MAX);
	is_str(cause, "environment has too many lines", "line cap cause");
	agi_env_clear(&env);
	agi_env_init(&env);
	memset(big, 'x', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	for (i = 0, rc = 0; i < 150 && rc == 0; i++) {
		snprintf(line, sizeof line, "agi_arg_%d: ", i + 1);
		{
			char *l = malloc(strlen(line) + 4000);
			memcpy(l, line, strlen(line));
			memset(l + strlen(line), 'y', 3990);
			rc = agi_env_add(&env, l, strlen(line) + 3990, &cause);
			free(l);
		}
	}
	is_int(rc, -1, "byte cap");
	is_str(cause, "environment too large", "byte cap cause");
	ok(env.used <= AGI_ENV_BYTES_MAX, "storage within cap");
	is_int(strlen(agi_env_arg(&env, 1)), 3990, "values intact after growth");
	agi_env_clear(&env);

	agi_env_init(&env);
	is_int(agi_env_finish(&env, &cause), -1, "empty block rejected");
	ok1(add(&env, "agi_network: yes", &cause) == 0);
	is_int(agi_env_finish(&env, &cause), -1, "block without agi_request");
	agi_env_clear(&env);

	/* Script path and query. */
	ok1(agi_script_split("outbound?x=1&y=%41+b", path, sizeof path,
	    &query) == 0);
	is_str(path, "outbound", "path without query");
	is_str(query, "x=1&y=%41+b", "raw query");
	ok1(agi_script_split("ping/", path, sizeof path, &query) == 0);
	is_str(path, "ping", "trailing slash dropped");
	is_str(query, "", "no query");
	is_int(agi_script_split("averyveryverylongpath", path, sizeof path,
	    &query), -1, "path too long");
	is_int(agi_query_get("x=1&y=%41+b", "y", buf, sizeof buf), 1, "y found");
	is_str(buf, "A b", "URL-decoded");
	is_int(agi_query_get("x=1&y=2", "z", buf, sizeof buf), 0, "z absent");
	is_int(agi_query_get("flag&x=1", "flag", buf, sizeof buf), 1,
	    "bare flag");
	is_str(buf, "", "bare flag is empty");
	is_int(agi_query_get("x=%0a", "x", buf, sizeof buf), -1, "decoded LF");
	is_int(agi_query_get("x=%00", "x", buf, sizeof buf), -1, "decoded NUL");
	is_int(agi_query_get("x=%4", "x", buf, sizeof buf), -1, "short escape");
	is_int(agi_query_get("x=%zz", "x", buf, sizeof buf), -1, "bad escape");
	is_int(agi_query_get("xx=1&x=2", "x", buf, sizeof buf), 1, "exact name");
	is_str(buf, "2", "exact name value");

	/* Command limit by release (§1.8, §5). */
	is_int(agi_version_line_max("22.6.0"), AGI_LINE_MAX_NEW, "22.6.0");
	is_int(agi_version_line_max("22.5.2"), AGI_LINE_MAX_OLD, "22.5.2");
	is_int(agi_version_line_max("21.11.0"), AGI_LINE_MAX_NEW, "21.11.0");
	is_int(agi_version_line_max("21.10.9"), AGI_LINE_MAX_OLD, "21.10.9");
	is_int(agi_version_line_max("20.16.0"), AGI_LINE_MAX_NEW, "20.16.0");
	is_int(agi_version_line_max("20.15.2"), AGI_LINE_MAX_OLD, "20.15.2");
	is_int(agi_version_line_max("23.0.0"), AGI_LINE_MAX_NEW, "23.0.0");
	is_int(agi_version_line_max("24.1.0"), AGI_LINE_MAX_NEW, "24.1.0");
	is_int(agi_version_line_max("22.6.0-rc1"), AGI_LINE_MAX_NEW, "rc");
	is_int(agi_version_line_max("18.26.0"), AGI_LINE_MAX_OLD, "18");
	is_int(agi_version_line_max("UNKNOWN__and_probably_unsupported"),
	    AGI_LINE_MAX_OLD, "unparsable");
	is_int(agi_version_line_max("certified-20.7-cert5"), AGI_LINE_MAX_OLD,
	    "certified");
	is_int(agi_version_line_max(NULL), AGI_LINE_MAX_OLD, "missing");

	/* Replies (§1.5). */
	snprintf(line, sizeof line, "%s", "200 result=1 (hello world)");
	ok1(agi_reply_parse(line, &r) == 0);
	ok1(r.code == 200 && r.has_result && r.result == 1);
	is_mem(r.data, r.datalen, "hello world", 11, "data");
	snprintf(line, sizeof line, "%s", "200 result=0");
	ok1(agi_reply_parse(line, &r) == 0 && r.result == 0 && r.data == NULL);
	snprintf(line, sizeof line, "%s", "200 result=-2");
	ok1(agi_reply_parse(line, &r) == 0 && r.result == -2);
	snprintf(line, sizeof line, "%s", "200 result=1 (a (b) c)) x");
	ok1(agi_reply_parse(line, &r) == 0);
	is_mem(r.data, r.datalen, "a (b) c)", 8, "data to the last ')'");
	snprintf(line, sizeof line, "%s", "200 result=1 ()");
	ok1(agi_reply_parse(line, &r) == 0 && r.data != NULL &&
	    r.datalen == 0);
	snprintf(line, sizeof line, "%s", "200 result=0 endpos=1234");
	ok1(agi_reply_parse(line, &r) == 0);
	is_str(r.rest, "endpos=1234", "extra fields");
	snprintf(line, sizeof line, "%s", "510 Invalid or unknown command");
	ok1(agi_reply_parse(line, &r) == 0 && r.code == 510 && !r.has_result);
	snprintf(line, sizeof line, "%s", "511 Command Not Permitted on a "
	    "dead channel or intercept routine");
	ok1(agi_reply_parse(line, &r) == 0 && r.code == 511);
	snprintf(line, sizeof line, "%s", "520 End of proper usage.");
	ok1(agi_reply_parse(line, &r) == 0 && r.code == 520);
	snprintf(line, sizeof line, "%s", "HANGUP");
	is_int(agi_reply_parse(line, &r), -1, "HANGUP is not a reply");
	snprintf(line, sizeof line, "%s", "agi_arg_2: x");
	is_int(agi_reply_parse(line, &r), -1, "env line is not a reply");
	snprintf(line, sizeof line, "%s", "20");
	is_int(agi_reply_parse(line, &r), -1, "short line");

	/* Quoting for the tokenizer (§1.4). */
	ok1(agi_quote(buf, sizeof buf, "a b \"quoted\" c") > 0);
	is_str(buf, "\"a b \\\"quoted\\\" c\"", "quotes escaped");
	ok1(agi_quote(buf, sizeof buf, "back\\slash") > 0);
	is_str(buf, "\"back\\\\slash\"", "backslash escaped");
	ok1(agi_quote(buf, sizeof buf, "") == 2);
	is_str(buf, "\"\"", "empty value");
	is_int(agi_quote(buf, sizeof buf, "a\nb"), -1, "LF refused");
	is_int(agi_quote(buf, sizeof buf, "a\rb"), -1, "CR refused");
	is_int(agi_quote(buf, 5, "abc"), -1, "too small by one");
	is_int(agi_quote(buf, 6, "abc"), 5, "exact fit");

	/* MSet data (pbx_builtin_setvar_multiple, __ast_app_separate_args). */
	{
		const char *n2[] = { "A_1", "B" }, *v2[] = { "x,(y)[z]\\\"", "" };
		const char *v3[] = { "a$b", "c" }, *bad[] = { "lower", "B" };
		char m[128];

		ok1(agi_mset_data(m, sizeof m, 2, n2, v2) > 0);
		is_str(m, "A_1=x\\,\\(y\\)\\[z\\]\\\\\\\",B=",
		    "MSet data escapes , ( ) [ ] \\ \"; empty value kept");
		is_int(agi_mset_data(m, sizeof m, 2, n2, v3), -1,
		    "a value with $ is refused (AGIEXECFULL)");
		is_int(agi_mset_data(m, sizeof m, 2, bad, v3 + 1), -1,
		    "a lower-case name is refused");
		is_int(agi_mset_data(m, 8, 2, n2, v2), -1, "too small");
	}

	ok1(agi_cmd_dead_safe("SET VARIABLE X 1"));
	ok1(agi_cmd_dead_safe("exec Reload chan_iax2"));
	ok1(agi_cmd_dead_safe("GET FULL VARIABLE ${X}"));
	ok1(!agi_cmd_dead_safe("CHANNEL STATUS"));
	ok1(!agi_cmd_dead_safe("HANGUP"));
	ok1(!agi_cmd_dead_safe("SET CONTEXT x"));
	ok1(!agi_cmd_dead_safe("EXECUTE x"));
	return (exit_status());
}
