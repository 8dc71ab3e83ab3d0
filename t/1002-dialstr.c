/* Unit tests for lib/dialstr.c: dial strings and named arguments. */
#include <string.h>

#include "lib/dialstr.h"
#include "t/lib/tap.h"

static int	parse(const char *, struct dialdest *);
static int	bad(const char *, const char *);
static int	badarg(const char *, const char *);

static const char	*field, *why;

/* Parse into d; 0 or -1. */
static int
parse(const char *s, struct dialdest *d)
{
	dialdest_init(d);
	if (dialstr_parse(s, d, &field, &why) == -1)
		return (-1);
	return (dialdest_complete(d, &field, &why));
}

/* 1 when s is rejected with the field named. */
static int
bad(const char *s, const char *want)
{
	struct dialdest	d;

	return (parse(s, &d) == -1 && strcmp(field, want) == 0);
}

/* 1 when the named argument is rejected with the field named. */
static int
badarg(const char *arg, const char *want)
{
	struct dialdest	d;

	dialdest_init(&d);
	return (dialdest_arg(&d, arg, &field, &why) == -1 &&
	    strcmp(field, want) == 0);
}

int
main(void)
{
	struct dialdest	d;
	char		buf[DIAL_STR_MAX];
	char		big[400];

	plan_no_plan();
	ok1(parse("IAX2/alice:s3cr3t@node-b.example.net/100", &d) == 0);
	is_str(d.user, "alice", "user");
	is_str(d.secret, "s3cr3t", "secret");
	is_str(d.host, "node-b.example.net", "host");
	is_int(d.port, 4569, "default port");
	is_str(d.exten, "100", "exten");
	is_str(d.context, "", "no context");
	dialdest_md5(&d, buf, sizeof buf);
	is_str(buf, "IAX2/alice:s3cr3t@node-b.example.net:4569/100",
	    "fallback dial string");
	dialdest_peer(&d, "peerx", buf, sizeof buf);
	is_str(buf, "IAX2/peerx/100", "peer dial string");
	dialdest_rsa_inline(&d, "nodeA", buf, sizeof buf);
	is_str(buf, "IAX2/alice:s3cr3t:[nodeA]@node-b.example.net:4569/100",
	    "inline key dial string");

	ok1(parse("iax2/u:p@10.0.0.1:4570/*98#@from-net", &d) == 0);
	is_int(d.port, 4570, "port");
	is_str(d.exten, "*98#", "exten with * and #");
	is_str(d.context, "from-net", "context");
	dialdest_md5(&d, buf, sizeof buf);
	is_str(buf, "IAX2/u:p@10.0.0.1:4570/*98#@from-net", "with context");

	ok1(parse("IAX2/u:p@[2001:db8::1]:4570/1", &d) == 0);
	ok1(d.v6 && strcmp(d.host, "[2001:db8::1]") == 0);
	dialdest_host_plain(&d, buf, sizeof buf);
	is_str(buf, "2001:db8::1", "host without brackets");
	ok1(parse("IAX2/u:p@[::1]/1", &d) == 0 && d.port == 4569);
	ok1(parse("IAX2/u:p!$%&'()*+,-.<=>?^_`{|}~@h/1", &d) == 0);

	ok(bad("SIP/u:p@h/1", "dialstring"), "not IAX2");
	ok(bad("IAX2/u:p@h", "dialstring"), "no exten");
	ok(bad("IAX2/up@h/1", "secret"), "no secret");
	ok(bad("IAX2/:p@h/1", "user"), "empty user");
	ok(bad("IAX2/u!:p@h/1", "user"), "bad user char");
	ok(bad("IAX2/"
	    "u123456789012345678901234567890123456789012345678901234567890123456"
	    "7890123456789:p@h/1", "user"), "80-character user");
	{
		struct dialdest	 d79;
		const char	*f, *w;

		ok(dialstr_parse("IAX2/u12345678901234567890123456789012345678"
		    "9012345678901234567890123456789012345678:p@h/1", &d79, &f,
		    &w) == 0 && strlen(d79.user) == 79,
		    "79-character user (an iax.conf section name's limit)");
	}
	ok(bad("IAX2/u:@h/1", "secret"), "empty secret");
	ok(bad("IAX2/u:p;x@h/1", "secret"), "';' in secret");
	ok(bad("IAX2/u:p#@h/1", "secret"), "'#' in secret");
	ok(bad("IAX2/u:p\"@h/1", "secret"), "'\"' in secret");
	ok(bad("IAX2/u:p\\@h/1", "secret"), "'\\' in secret");
	ok(bad("IAX2/u:p[@h/1", "secret"), "'[' in secret");
	ok(bad("IAX2/u:p x@h/1", "secret"), "space in secret");
	ok(bad("IAX2/u:p\tx@h/1", "secret"), "tab in secret");
	ok(bad("IAX2/u:p\x80@h/1", "secret"), "8-bit in secret");
	ok(bad("IAX2/u:p:[k]@h/1", "secret"), "inline key is not input");
	ok(bad("IAX2/u:p@/1", "host"), "empty host");
	ok(bad("IAX2/u:p@h_x/1", "host"), "'_' in host");
	ok(bad("IAX2/u:p@a..b/1", "host"), "empty label");
	ok(bad("IAX2/u:p@-a.b/1", "host"), "label starts with '-'");
	ok(bad("IAX2/u:p@a-.b/1", "host"), "label ends with '-'");
	ok(bad("IAX2/u:p@[zz::1]/1", "host"), "bad IPv6");
	ok(bad("IAX2/u:p@[::1/1", "host"), "unclosed bracket");
	ok(bad("IAX2/u:p@h:0/1", "port"), "port 0");
	ok(bad("IAX2/u:p@h:65536/1", "port"), "port 65536");
	ok(bad("IAX2/u:p@h:/1", "port"), "empty port");
	ok(bad("IAX2/u:p@h:12a/1", "port"), "port with letter");
	ok(bad("IAX2/u:p@h/1 2", "exten"), "space in exten");
	ok(bad("IAX2/u:p@h/", "exten"), "empty exten");
	ok(bad("IAX2/u:p@h/1@", "context"), "empty context");
	ok(bad("IAX2/u:p@h/1@c;x", "context"), "';' in context");
	ok(bad("IAX2/u:p@h/1@c\nx", "context"), "LF in context");
	memset(big, 'a', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	memcpy(big, "IAX2/u:p@h/", 11);
	ok(bad(big, "exten"), "exten too long");
	memset(big, 'a', sizeof big - 1);
	memcpy(big, "IAX2/u:p@", 9);
	big[300] = '/';
	big[301] = '1';
	big[302] = '\0';
	ok(bad(big, "host"), "host too long");

	/* Named arguments. */
	dialdest_init(&d);
	ok1(dialdest_arg(&d, "exten=200", &field, &why) == 0);
	ok1(dialdest_arg(&d, "secret=x", &field, &why) == 0);
	ok1(dialdest_arg(&d, "host=192.0.2.7", &field, &why) == 0);
	ok1(dialdest_arg(&d, "user=bob", &field, &why) == 0);
	ok1(dialdest_arg(&d, "context=in", &field, &why) == 0);
	ok1(dialdest_arg(&d, "port=4571", &field, &why) == 0);
	ok1(dialdest_complete(&d, &field, &why) == 0);
	dialdest_md5(&d, buf, sizeof buf);
	is_str(buf, "IAX2/bob:x@192.0.2.7:4571/200@in", "named arguments");
	dialdest_init(&d);
	ok1(dialdest_arg(&d, "host=h", &field, &why) == 0);
	ok(dialdest_complete(&d, &field, &why) == -1 &&
	    strcmp(field, "user") == 0, "missing user named");
	ok(badarg("hostname=x", "argument"), "unknown name");
	ok(badarg("host", "argument"), "no '='");
	ok(badarg("port=99999", "port"), "bad port");
	ok(badarg("secret=a b", "secret"), "bad secret");
	ok(badarg("user=", "user"), "empty user");
	return (exit_status());
}
