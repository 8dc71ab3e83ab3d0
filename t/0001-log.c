/* Unit tests for lib/log.c: logfmt escaping, field order, levels, hook. */
#include <stdio.h>
#include <string.h>

#include "lib/log.h"
#include "t/lib/tap.h"

static char	hooked[LOG_LINE_MAX + 8];
static int	nhooked;

static void	hook(enum log_level, const char *, size_t, void *);

/* Remember the last emitted line. */
static void
hook(enum log_level level, const char *line, size_t len, void *arg)
{
	memcpy(hooked, line, len);
	hooked[len] = '\0';
	nhooked++;
}

int
main(void)
{
	struct logline	 l;
	char		 buf[64], big[LOG_LINE_MAX * 2];
	const char	*p;

	plan_no_plan();
	log_open("test", 0, NULL, 0, NULL);
	log_set_hook(hook, NULL);

	log_escape(buf, sizeof buf, "plain", 5);
	is_str(buf, "plain", "plain token unquoted");
	log_escape(buf, sizeof buf, "", 0);
	is_str(buf, "\"\"", "empty value quoted");
	log_escape(buf, sizeof buf, "a b", 3);
	is_str(buf, "\"a b\"", "space quoted");
	log_escape(buf, sizeof buf, "x\ny=1\r\t\"\\", 9);
	is_str(buf, "\"x\\ny=1\\r\\t\\\"\\\\\"", "control and quote escaped");
	log_escape(buf, sizeof buf, "a=b", 3);
	is_str(buf, "\"a=b\"", "'=' forces quotes");
	log_escape(buf, sizeof buf, "\x01\xff", 2);
	is_str(buf, "\"\\x01\\xff\"", "non-printable as \\xNN");
	log_escape(buf, 8, "abcdefghij", 10);
	is_str(buf, "abcdefg", "plain value cut to the buffer");
	log_escape(buf, 8, "a bcdefghij", 11);
	ok(strlen(buf) <= 7 && buf[0] == '"' && buf[strlen(buf) - 1] == '"',
	    "quoted value cut keeps its closing quote: %s", buf);

	lf_begin(&l, LOG_L_INFO, "session_end");
	lf_hex(&l, "sess", 42);
	lf_str(&l, "channel", "IAX2/from-a-rsa-353");
	lf_str(&l, "calleridname", "Evil\" injected=1");
	lf_str(&l, "absent", NULL);
	lf_int(&l, "ms", -3);
	lf_fmt(&l, "what", "%s-%d", "x", 7);
	lf_emit(&l);
	ok(strncmp(hooked, "ts=", 3) == 0, "starts with ts=");
	p = strstr(hooked, " level=info event=session_end sess=00000000002a "
	    "channel=IAX2/from-a-rsa-353 calleridname=\"Evil\\\" injected=1\" "
	    "ms=-3 what=x-7");
	ok(p != NULL && p[strlen(p)] == '\0', "fields in order, escaped: %s",
	    hooked);
	ok(hooked[26] == 'Z' && hooked[22] == '.' && hooked[13] == 'T', "RFC 3339 ms timestamp");
	ok(strchr(hooked, '\n') == NULL, "one line");

	memset(big, 'v', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	lf_begin(&l, LOG_L_WARN, "big");
	lf_str(&l, "value", big);
	lf_str(&l, "after", "x");
	lf_emit(&l);
	ok(strlen(hooked) < LOG_LINE_MAX, "long line cut");
	ok(strcmp(hooked + strlen(hooked) - 3, "...") == 0, "cut marked");

	log_set_level(LOG_L_WARN);
	ok1(log_get_level() == LOG_L_WARN);
	nhooked = 0;
	log_info("not emitted to sinks");
	is_int(nhooked, 1, "hook still sees lower levels");
	log_set_hook(NULL, NULL);
	ok1(!log_enabled(LOG_L_INFO));
	ok1(log_enabled(LOG_L_ERROR));

	{
		enum log_level lv;
		ok1(log_level_parse("debug", &lv) == 0 && lv == LOG_L_DEBUG);
		ok1(log_level_parse("error", &lv) == 0 && lv == LOG_L_ERROR);
		ok1(log_level_parse("verbose", &lv) == -1);
		is_str(log_level_name(LOG_L_WARN), "warn", "level name");
	}
	log_close();
	return (exit_status());
}
