/*
 * fake-asterisk: plays Asterisk's side of FastAGI, for tests.
 *
 * It connects to the FastAGI server under test as AGI(agi://...) does,
 * sends the environment block and answers commands byte for byte as
 * asterisk.md section 1 (observed on a real Asterisk) and res_agi.c
 * describe.  Each call is a thread doing blocking I/O on its own socket,
 * like a channel thread in Asterisk.  The calls of one process share the
 * module reload lock (taken with trylock: a reload requested while another
 * runs is refused, as ast_module_reload() does), the AstDB and counters.
 *
 * COMMAND LINE
 *	fake-asterisk [options] host[:port] [arg ...]
 *	fake-asterisk [options] agi://host[:port][/script[?query]] [arg ...]
 *
 *	-A app		the application app is not installed (EXEC answers
 *			200 result=-2, as for an unknown application)
 *	-a arg		an AGI argument (repeatable); positional args follow
 *	-b		send the env block (or -r file) one byte per write,
 *			with TCP_NODELAY
 *	-C channel	agi_channel (default Local/t@agi-0000000e;2, the
 *			number is 0x0e + call index); agi_type follows the
 *			part before '/'
 *	-c context	agi_context (default agi)
 *	-D		dead from the start (h extension): dead mode, no
 *			HANGUP line until the final one
 *	-d fam/key=val	preset an AstDB entry (repeatable)
 *	-E key[=value]	set any env key (an unknown key is added after
 *			agi_threadid); without '=' the key is left out
 *	-e extension	agi_extension (default t)
 *	-F count|all	the next count reloads (or all) fail
 *	-H spec		caller hangup: before (after the env block), after:N
 *			(after the reply to command N), reply:N (command N
 *			is in flight: HANGUP comes first and N runs in dead
 *			mode, as observed), time:MS (MS after connecting),
 *			fifo:PATH (when a writer opens PATH, a FIFO, and
 *			writes a byte or closes it, while the call waits for
 *			a command: a test's trigger, e.g. during a reload)
 *	-h		print this help on stdout and exit 0
 *	-I name		agi_calleridname (default unknown)
 *	-i number	agi_callerid (default unknown); -i or -I turn
 *			agi_callingpres from 67 to 0
 *	-L file		append one line per successful reload:
 *			"reload MODULES ts=SEC.USEC call=I"
 *	-N		AGISIGHUP=no: never write HANGUP lines
 *	-n calls	number of calls (default 1)
 *	-P parallel	calls run at once (default 1)
 *	-p N | -p Nb	send only the first N env lines (or N bytes), then
 *			wait for the server to close (nothing is answered)
 *	-R ms		a reload holds the reload lock this long (default 0)
 *	-r file		send the bytes of file instead of the env block, one
 *			write per line, then behave as usual
 *	-s script	agi_network_script (with host[:port] only)
 *	-T ms		safety deadline per call (default 30000): the call is
 *			closed and reported closed_by=timeout
 *	-t		transcript of call 0 (-tt: of every call)
 *	-u uniqueid	agi_uniqueid (default nodeA-1795706440.43, the last
 *			number is 43 + call index)
 *	-V version	agi_version (default 22.6.0); it also selects the
 *			command buffer: 8192 bytes from 20.16.0, 21.11.0,
 *			22.6.0 and 23.0.0, 2048 before or when unparsable
 *	-v name=value	preset a channel variable (repeatable); AGISIGHUP and
 *			AGIEXITONHANGUP are read from here as in Asterisk
 *	-X		AGIEXITONHANGUP=yes: on hangup write "HANGUP\nHANGUP\n"
 *			in one write and close the socket
 *
 *	Per-call substitution: in the values of -a, positional args, -s,
 *	-E (and -C -c -e -i -I -u -V), -v and in the target, "%d" becomes the
 *	call index (0-based, decimal) and "%%" becomes "%"; any other '%' is
 *	kept.  Exit status: 0 when the emulator worked (whatever the server
 *	did), 1 on a local error (file, thread), 2 on a usage error.
 *
 * OUTPUT (stdout, after every call ended, in call-index order)
 *	call I agistatus=S commands=N errors=E pipelined=P hungup=H closed_by=C
 *	var NAME=VALUE
 *	reload MODULES status=SUCCESS
 *	reload MODULES status=FAILURE reason=busy|injected|unknown-module
 *	context CONTEXT
 *	extension EXTENSION
 *	priority N
 *	(transcript lines)
 *	...
 *	total calls=N reloads=R refused=F errors=E pipelined=P
 *
 *	agistatus is SUCCESS, FAILURE or HANGUP as AGI() would set AGISTATUS.
 *	commands counts the lines run as commands (an over-long line counts
 *	twice); errors counts 510, 511 and 520 replies; pipelined counts
 *	the commands after which more bytes had arrived before the emulator
 *	answered them (not counting the rest of a cut line): a server must
 *	wait for each reply.  Asterisk leaves lines that arrived together in
 *	its stdio buffer until new bytes arrive, and so does the emulator
 *	(see "-- " events in the transcript).  hungup is yes when the
 *	channel was hung up during the AGI (caller, HANGUP, EXEC Hangup; not
 *	-D).
 *	closed_by is server (EOF), asterisk (exit on hangup, failure line),
 *	timeout (-T) or none (no connection).  var lines list each variable
 *	the server set (SET VARIABLE, EXEC Set), in the order first set, with
 *	its final value.  reload lines list each EXEC Reload in order
 *	(MODULES is the data, or "(all)"); busy means refused because another
 *	reload ran.  context/extension/priority appear only when set.  In the
 *	total line, reloads counts successful reloads and refused the busy
 *	refusals, over all calls.
 *
 *	Transcript lines: "S> " what the server sent, one line per command
 *	as Asterisk read it; "A< " what the emulator sent, one line per line;
 *	"-- " events.  Bytes are escaped: \\ \r \t \n \xNN; a line that did
 *	not end in a newline (cut at the buffer size, or at EOF) ends in \c.
 *	Names and values in var lines are escaped the same way.
 *
 * NOT EMULATED: commands that need media (STREAM FILE, SAY *, GET DATA,
 * RECORD FILE, WAIT FOR DIGIT, SPEECH *, GOSUB, ...) answer 510 on a live
 * channel (511 in dead mode, as in Asterisk); $[...] expressions; dialplan
 * functions other than LEN() and a few CHANNEL()/CALLERID() defaults (any
 * "FUNC(args)" can be preset with -v); applications other than NoOp, Set,
 * Hangup and Reload (they answer 200 result=-2).  A Reload() of several
 * modules takes the reload lock once, not once per module.  DATABASE
 * DELTREE answers as res_agi.c does (result=0 when something was deleted).
 * A quote that starts a 128th token is dropped and reported on stderr
 * (Asterisk writes past argv there).  Write timeouts (100 ms, as
 * ast_carefulwrite()) drop the rest of a reply, as in Asterisk.
 */
#include <sys/types.h>
#include <sys/socket.h>

#include <netinet/in.h>
#include <netinet/tcp.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "t/helper/astargs.h"

#define AGI_PORT		"4573"
#define MAX_ARGS		128	/* res_agi.c */
#define STDIO_BUFSIZ		4096	/* glibc stdio buffer on a socket */
#define CONNECT_TIMEOUT_MS	2000	/* MAX_AGI_CONNECT */
#define WRITE_TIMEOUT_MS	100	/* ast_agi_send(): ast_carefulwrite() */
#define GETVAR_MAX		1023	/* tempstr[1024] of GET VARIABLE */
#define SUBST_DEPTH		16

/* Handler results, as in res_agi.c. */
#define RESULT_SUCCESS		0
#define RESULT_SHOWUSAGE	1
#define RESULT_FAILURE		2
#define ASYNC_AGI_BREAK		3

enum agi_status { AGI_SUCCESS, AGI_FAILURE, AGI_HANGUP };
enum closed_by { CLOSED_NONE, CLOSED_SERVER, CLOSED_ASTERISK, CLOSED_TIMEOUT };
enum hup_mode { HUP_NONE, HUP_BEFORE, HUP_AFTER, HUP_REPLY, HUP_TIME,
    HUP_FIFO };
enum wait_result { WAIT_READY, WAIT_DEADLINE, WAIT_UNTIL };

struct buf {
	char	*data;
	size_t	 len;
	size_t	 cap;
};

struct kv {
	char	*key;
	char	*value;		/* NULL: -E key without '=' (leave out) */
};

struct var {
	char	*name;
	char	*value;
	int	 order;		/* order first set by the server, or -1 */
};

struct options {
	const char	*no_app;	/* -A: an application not installed */
	const char	*target;
	const char	*script;
	char		**args;
	size_t		 nargs;
	struct kv	*env;
	size_t		 nenv;
	struct kv	*vars;
	size_t		 nvars;
	enum hup_mode	 hup;
	long		 hup_arg;
	const char	*hup_fifo;
	int		 dead_start;
	long		 reload_ms;
	long		 fail_reloads;	/* -1: every reload fails */
	const char	*reload_log;
	long		 calls;
	long		 parallel;
	long		 deadline_ms;
	int		 partial;	/* 0: off, 1: lines, 2: bytes */
	long		 partial_n;
	int		 byte_writes;
	char		*raw;
	size_t		 rawlen;
	int		 have_raw;
	int		 transcript;
	size_t		 cmdbuf;
};

struct call {
	int		 idx;
	int		 fd;
	int		 hupfd;		/* -H fifo:PATH while armed, else -1 */
	int		 logging;
	struct buf	 log;

	/* The stdio buffer Asterisk reads commands through. */
	char		 rbuf[STDIO_BUFSIZ];
	size_t		 rpos;
	size_t		 rlen;
	int		 eof;
	int		 timedout;
	int		 cut;		/* the last command was cut */

	int64_t		 start;
	int64_t		 deadline;

	int		 dead;
	int		 needhup;
	int		 softhangup;
	int		 hungup;
	int		 final_sent;
	int		 send_sighup;
	int		 exit_on_hangup;
	enum agi_status	 status;
	enum closed_by	 closed;
	int		 commands;
	int		 errors;
	int		 pipelined;

	char		*request;
	char		*script;
	char		*hostport;
	struct kv	*env;
	size_t		 nenv;
	char		**args;
	size_t		 nargs;

	const char	*channel;
	const char	*type;
	const char	*language;
	const char	*uniqueid;
	const char	*cid_num;
	const char	*cid_name;
	char		*context;
	char		*exten;
	int		 priority;
	int		 context_set;
	int		 exten_set;
	int		 priority_set;

	struct var	*vars;
	size_t		 nvars;
	int		 nset;
	struct buf	 reloads;
};

struct agi_cmd {
	const char	*words[4];
	int		(*handler)(struct call *, int, const char **);
	int		 dead;
	const char	*usage;
};

struct agi_app {
	const char	*name;
	int		(*run)(struct call *, const char *);
};

static void	 usage(FILE *, int) __attribute__((noreturn));
static void	 fatal(const char *, ...)
		    __attribute__((format(printf, 1, 2), noreturn));
static void	*emalloc(size_t);
static void	*erealloc(void *, size_t);
static char	*estrdup(const char *);
static char	*estrndup(const char *, size_t);
static void	 buf_grow(struct buf *, size_t);
static void	 buf_add(struct buf *, const void *, size_t);
static void	 buf_addc(struct buf *, char);
static void	 buf_adds(struct buf *, const char *);
static void	 buf_addf(struct buf *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));
static void	 buf_add_escaped(struct buf *, const char *, size_t);
static const char *buf_cstr(struct buf *);
static char	*buf_take(struct buf *);
static void	 buf_free(struct buf *);
static int64_t	 now_ms(void);
static void	 sleep_ms(long);
static int	 parse_long(const char *, long, long, long *);
static int	 scan_int(const char *, long *, const char **);
static int	 ast_true(const char *);
static int	 ast_false(const char *);
static size_t	 version_bufsize(const char *);
static char	*subst_index(const char *, int);
static void	 kv_push(struct kv **, size_t *, const char *, const char *);
static void	 kv_parse_push(struct kv **, size_t *, const char *, int,
		    const char *);
static struct kv *kv_find(struct kv *, size_t, const char *);
static const char *kv_get(struct kv *, size_t, const char *);

static void	 call_logline(struct call *, const char *, const char *,
		    size_t);
static void	 call_logcmd(struct call *, const char *, size_t);
static void	 call_event(struct call *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));
static enum wait_result call_wait(struct call *, short, int64_t);
static int	 call_write(struct call *, const char *, size_t);
static int	 call_send(struct call *, const char *, size_t);
static int	 call_sends(struct call *, const char *);
static int	 call_sendf(struct call *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));
static int	 call_send_block(struct call *, const char *, size_t, long,
		    long);
static int	 call_connect(struct call *);
static void	 call_setup(struct call *);
static void	 call_env(struct call *, struct buf *);
static void	 call_drain(struct call *);
static void	 call_hangup(struct call *, const char *);
static int	 call_pending(struct call *);
static void	 call_run(struct call *);
static void	 call_print(struct call *);
static void	 call_free(struct call *);

static int	 rd_fill(struct call *);
static int	 rd_fgets(struct call *, char *, size_t, struct buf *);
static int	 agi_read_command(struct call *, char *, size_t, struct buf *);
static void	 agi_loop(struct call *);
static int	 agi_parse_args(char *, const char **, int *);
static const struct agi_cmd *agi_find_command(const char **);
static int	 agi_handle_command(struct call *, char *);

static char	*var_canon(const char *);
static struct var *var_find(struct var *, size_t, const char *);
static void	 var_set(struct call *, const char *, const char *, int);
static const char *var_lookup(struct call *, const char *);
static int	 var_builtin(struct call *, const char *, struct buf *);
static int	 var_retrieve(struct call *, const char *, struct buf *);
static int	 func_read(struct call *, const char *, struct buf *);
static void	 substring_add(struct buf *, const char *, long, long);
static void	 substitute(struct call *, const char *, struct buf *, int);

static int	 db_put(const char *, const char *, const char *);
static int	 db_get(const char *, const char *, struct buf *);
static int	 db_del(const char *, const char *);
static int	 db_deltree(const char *, const char *);

static int	 h_answer(struct call *, int, const char **);
static int	 h_asyncagi_break(struct call *, int, const char **);
static int	 h_channel_status(struct call *, int, const char **);
static int	 h_db_del(struct call *, int, const char **);
static int	 h_db_deltree(struct call *, int, const char **);
static int	 h_db_get(struct call *, int, const char **);
static int	 h_db_put(struct call *, int, const char **);
static int	 h_exec(struct call *, int, const char **);
static int	 h_get_full_variable(struct call *, int, const char **);
static int	 h_get_variable(struct call *, int, const char **);
static int	 h_hangup(struct call *, int, const char **);
static int	 h_noop(struct call *, int, const char **);
static int	 h_set_context(struct call *, int, const char **);
static int	 h_set_extension(struct call *, int, const char **);
static int	 h_set_priority(struct call *, int, const char **);
static int	 h_set_variable(struct call *, int, const char **);
static int	 h_speech_destroy(struct call *, int, const char **);
static int	 h_speech_unload_grammar(struct call *, int, const char **);
static int	 h_verbose(struct call *, int, const char **);

static int	 app_noop(struct call *, const char *);
static int	 app_set(struct call *, const char *);
static int	 app_mset(struct call *, const char *);
static int	 app_hangup(struct call *, const char *);
static int	 app_reload(struct call *, const char *);
static int	 reload_modules_known(const char *);

static void	*worker(void *);
static void	 read_raw(const char *);
static void	 parse_hangup(const char *);
static long	 num_option(int, const char *, long, long);
static void	 env_option(const char *, const char *);

/*
 * Usage texts: the <description> of each command's XML documentation as
 * ast_xmldoc_build_description() renders it (paragraphs one per line,
 * inline tags kept raw, whitespace collapsed).  GET VARIABLE and SET
 * VARIABLE were observed; the others are rendered from the source.
 */
static const char usage_channel_status[] =
    "Returns the status of the specified"
    " <replaceable>channelname</replaceable>. If no channel name is given"
    " then returns the status of the current channel.\n"
    "Return values:\n"
    "    <enum>0</enum> - Channel is down and available.\n"
    "    <enum>1</enum> - Channel is down, but reserved.\n"
    "    <enum>2</enum> - Channel is off hook.\n"
    "    <enum>3</enum> - Digits (or equivalent) have been dialed.\n"
    "    <enum>4</enum> - Line is ringing.\n"
    "    <enum>5</enum> - Remote end is ringing.\n"
    "    <enum>6</enum> - Line is up.\n"
    "    <enum>7</enum> - Line is busy.";
static const char usage_db_del[] =
    "Deletes an entry in the Asterisk database for a given"
    " <replaceable>family</replaceable> and <replaceable>key</replaceable>.\n"
    "Returns <literal>1</literal> if successful, <literal>0</literal>"
    " otherwise.";
static const char usage_db_deltree[] =
    "Deletes a <replaceable>family</replaceable> or specific"
    " <replaceable>keytree</replaceable> within a"
    " <replaceable>family</replaceable> in the Asterisk database.\n"
    "Returns <literal>1</literal> if successful, <literal>0</literal>"
    " otherwise.";
static const char usage_db_get[] =
    "Retrieves an entry in the Asterisk database for a given"
    " <replaceable>family</replaceable> and <replaceable>key</replaceable>.\n"
    "Returns <literal>0</literal> if <replaceable>key</replaceable> is not"
    " set. Returns <literal>1</literal> if <replaceable>key</replaceable> is"
    " set and returns the variable in parenthesis.\n"
    "Example return code: 200 result=1 (testvariable)";
static const char usage_db_put[] =
    "Adds or updates an entry in the Asterisk database for a given"
    " <replaceable>family</replaceable>, <replaceable>key</replaceable>, and"
    " <replaceable>value</replaceable>.\n"
    "Returns <literal>1</literal> if successful, <literal>0</literal>"
    " otherwise.";
static const char usage_exec[] =
    "Executes <replaceable>application</replaceable> with given"
    " <replaceable>options</replaceable>.\n"
    "Returns whatever the <replaceable>application</replaceable> returns, or"
    " <literal>-2</literal> on failure to find"
    " <replaceable>application</replaceable>.\n"
    "<note>NOTE:</note> exec does not evaluate dialplan functions and"
    " variables unless it is explicitly enabled by setting the"
    " <variable>AGIEXECFULL</variable> variable to <literal>yes</literal>.";
static const char usage_get_full_variable[] =
    "Evaluates the given <replaceable>expression</replaceable> against the"
    " channel specified by <replaceable>channelname</replaceable>, or the"
    " current channel if <replaceable>channelname</replaceable> is not"
    " provided.\n"
    "Unlike GET VARIABLE, the <replaceable>expression</replaceable> is"
    " processed in a manner similar to dialplan evaluation, allowing complex"
    " and built-in variables to be accessed, e.g. <literal>The time is"
    " ${EPOCH}</literal>\n"
    "Returns <literal>0</literal> if no channel matching"
    " <replaceable>channelname</replaceable> exists, <literal>1</literal>"
    " otherwise.\n"
    "Example return code: 200 result=1 (The time is 1578493800)";
static const char usage_get_variable[] =
    "Returns <literal>0</literal> if <replaceable>variablename</replaceable>"
    " is not set. Returns <literal>1</literal> if"
    " <replaceable>variablename</replaceable> is set and returns the variable"
    " in parentheses.\n"
    "Example return code: 200 result=1 (testvariable)";
static const char usage_hangup[] =
    "Hangs up the specified channel. If no channel name is given, hangs up"
    " the current channel";
static const char usage_set_context[] =
    "Sets the context for continuation upon exiting the application.";
static const char usage_set_extension[] =
    "Changes the extension for continuation upon exiting the application.";
static const char usage_set_priority[] =
    "Changes the priority for continuation upon exiting the application."
    " The priority must be a valid priority or label.";
static const char usage_set_variable[] =
    "Sets a variable to the current channel.";
static const char usage_speech_unload_grammar[] =
    "Unloads the specified grammar.";
static const char usage_verbose[] =
    "Sends <replaceable>message</replaceable> to the console via verbose"
    " message system. <replaceable>level</replaceable> is the verbose level"
    " (1-4). Always returns <literal>1</literal>";

/*
 * Every command res_agi registers, in its order, with its dead-safe flag.
 * A NULL handler is a command the emulator cannot run (media): 510 on a
 * live channel, 511 on a dead one (as Asterisk, which checks the flag
 * before calling the handler).
 */
static const struct agi_cmd agi_cmds[] = {
	{ { "answer" }, h_answer, 0, NULL },
	{ { "asyncagi", "break" }, h_asyncagi_break, 1, NULL },
	{ { "channel", "status" }, h_channel_status, 0, usage_channel_status },
	{ { "database", "del" }, h_db_del, 1, usage_db_del },
	{ { "database", "deltree" }, h_db_deltree, 1, usage_db_deltree },
	{ { "database", "get" }, h_db_get, 1, usage_db_get },
	{ { "database", "put" }, h_db_put, 1, usage_db_put },
	{ { "exec" }, h_exec, 1, usage_exec },
	{ { "get", "data" }, NULL, 0, NULL },
	{ { "get", "full", "variable" }, h_get_full_variable, 1,
	    usage_get_full_variable },
	{ { "get", "option" }, NULL, 0, NULL },
	{ { "get", "variable" }, h_get_variable, 1, usage_get_variable },
	{ { "hangup" }, h_hangup, 0, usage_hangup },
	{ { "noop" }, h_noop, 1, NULL },
	{ { "receive", "char" }, NULL, 0, NULL },
	{ { "receive", "text" }, NULL, 0, NULL },
	{ { "record", "file" }, NULL, 0, NULL },
	{ { "say", "alpha" }, NULL, 0, NULL },
	{ { "say", "digits" }, NULL, 0, NULL },
	{ { "say", "number" }, NULL, 0, NULL },
	{ { "say", "phonetic" }, NULL, 0, NULL },
	{ { "say", "date" }, NULL, 0, NULL },
	{ { "say", "time" }, NULL, 0, NULL },
	{ { "say", "datetime" }, NULL, 0, NULL },
	{ { "send", "image" }, NULL, 0, NULL },
	{ { "send", "text" }, NULL, 0, NULL },
	{ { "set", "autohangup" }, NULL, 0, NULL },
	{ { "set", "callerid" }, NULL, 0, NULL },
	{ { "set", "context" }, h_set_context, 0, usage_set_context },
	{ { "set", "extension" }, h_set_extension, 0, usage_set_extension },
	{ { "set", "music" }, NULL, 0, NULL },
	{ { "set", "priority" }, h_set_priority, 0, usage_set_priority },
	{ { "set", "variable" }, h_set_variable, 1, usage_set_variable },
	{ { "stream", "file" }, NULL, 0, NULL },
	{ { "control", "stream", "file" }, NULL, 0, NULL },
	{ { "tdd", "mode" }, NULL, 0, NULL },
	{ { "verbose" }, h_verbose, 1, usage_verbose },
	{ { "wait", "for", "digit" }, NULL, 0, NULL },
	{ { "speech", "create" }, NULL, 0, NULL },
	{ { "speech", "set" }, NULL, 0, NULL },
	{ { "speech", "destroy" }, h_speech_destroy, 1, NULL },
	{ { "speech", "load", "grammar" }, NULL, 0, NULL },
	{ { "speech", "unload", "grammar" }, h_speech_unload_grammar, 1,
	    usage_speech_unload_grammar },
	{ { "speech", "activate", "grammar" }, NULL, 0, NULL },
	{ { "speech", "deactivate", "grammar" }, NULL, 0, NULL },
	{ { "speech", "recognize" }, NULL, 0, NULL },
	{ { "gosub" }, NULL, 0, NULL },
};

static const struct agi_app agi_apps[] = {
	{ "NoOp", app_noop },
	{ "Set", app_set },
	{ "MSet", app_mset },
	{ "Hangup", app_hangup },
	{ "Reload", app_reload },
};

static const char *const status_names[] = { "SUCCESS", "FAILURE", "HANGUP" };
static const char *const closed_names[] = {
	"none", "server", "asterisk", "timeout"
};

static struct options	 opt;

/* The module reload lock: trylock only, as ast_module_reload(). */
static pthread_mutex_t	 reload_lock = PTHREAD_MUTEX_INITIALIZER;
static long		 fail_left;	/* under reload_lock */
static FILE		*reload_logf;	/* under reload_lock */

/* Call dispatch and global counters. */
static pthread_mutex_t	 stats_lock = PTHREAD_MUTEX_INITIALIZER;
static long		 next_call;
static long		 n_reloads;
static long		 n_refused;

/* The AstDB: keys are "/family/key". */
static pthread_mutex_t	 db_lock = PTHREAD_MUTEX_INITIALIZER;
static struct var	*db;
static size_t		 ndb;

static struct call	*calls;

/* Print the usage text and exit with status. */
static void
usage(FILE *f, int status)
{
	fputs(
"usage: fake-asterisk [-bDhNtX] [-a arg] [-C channel] [-c context]\n"
"           [-d family/key=value] [-E key[=value]] [-e extension]\n"
"           [-F count|all] [-H spec] [-I calleridname] [-i callerid]\n"
"           [-L reloadlog] [-n calls] [-P parallel] [-p count[b]] [-R ms]\n"
"           [-r rawfile] [-s script] [-T ms] [-u uniqueid] [-V version]\n"
"           [-v name=value] host[:port] | agi://host[:port][/script]\n"
"           [arg ...]\n"
"  -A app          application app not installed (EXEC gives -2)\n"
"  -a arg          AGI argument (repeatable; positional args come after)\n"
"  -b              send the env block one byte per write (TCP_NODELAY)\n"
"  -C channel      agi_channel (default Local/t@agi-<0x0e+i>;2)\n"
"  -c context      agi_context (default agi)\n"
"  -D              dead from the start (h extension)\n"
"  -d f/k=v        preset an AstDB entry\n"
"  -E key[=value]  set any env key; without '=' leave the key out\n"
"  -e extension    agi_extension (default t)\n"
"  -F count|all    the next count reloads (or all) fail\n"
"  -H spec         caller hangup: before, after:N, reply:N, time:MS,\n"
"                  fifo:PATH\n"
"  -h              this help\n"
"  -I name         agi_calleridname\n"
"  -i number       agi_callerid\n"
"  -L file         append 'reload MODULES ts=.. call=I' per reload\n"
"  -N              AGISIGHUP=no (never write HANGUP)\n"
"  -n calls        number of calls (default 1)\n"
"  -P parallel     calls at once (default 1)\n"
"  -p N | -p Nb    send only N env lines (or N bytes), then wait for EOF\n"
"  -R ms           a reload holds the reload lock ms (default 0)\n"
"  -r file         send file instead of the env block\n"
"  -s script       agi_network_script\n"
"  -T ms           safety deadline per call (default 30000)\n"
"  -t              transcript of call 0 (-tt: all calls)\n"
"  -u uniqueid     agi_uniqueid (default nodeA-1795706440.<43+i>)\n"
"  -V version      agi_version (default 22.6.0); selects the line limit\n"
"  -v name=value   preset a channel variable\n"
"  -X              AGIEXITONHANGUP=yes\n"
"  %d in values is the call index, %% is %.\n", f);
	exit(status);
}

/* Print a message on stderr and exit 1. */
static void
fatal(const char *fmt, ...)
{
	va_list	ap;

	fputs("fake-asterisk: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

/* Allocate or exit. */
static void *
emalloc(size_t n)
{
	void	*p;

	if ((p = malloc(n == 0 ? 1 : n)) == NULL)
		fatal("out of memory");
	return (p);
}

/* Resize or exit. */
static void *
erealloc(void *p, size_t n)
{
	if ((p = realloc(p, n == 0 ? 1 : n)) == NULL)
		fatal("out of memory");
	return (p);
}

/* Duplicate a string or exit. */
static char *
estrdup(const char *s)
{
	return (estrndup(s, strlen(s)));
}

/* Duplicate n bytes of s as a string or exit. */
static char *
estrndup(const char *s, size_t n)
{
	char	*p;

	p = emalloc(n + 1);
	memcpy(p, s, n);
	p[n] = '\0';
	return (p);
}

/* Make room for n more bytes plus a terminator. */
static void
buf_grow(struct buf *b, size_t n)
{
	if (b->len + n + 1 <= b->cap)
		return;
	while (b->len + n + 1 > b->cap)
		b->cap = b->cap == 0 ? 64 : b->cap * 2;
	b->data = erealloc(b->data, b->cap);
}

/* Append n bytes. */
static void
buf_add(struct buf *b, const void *p, size_t n)
{
	buf_grow(b, n);
	memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
}

/* Append one byte. */
static void
buf_addc(struct buf *b, char c)
{
	buf_add(b, &c, 1);
}

/* Append a string. */
static void
buf_adds(struct buf *b, const char *s)
{
	buf_add(b, s, strlen(s));
}

/* Append formatted text. */
static void
buf_addf(struct buf *b, const char *fmt, ...)
{
	va_list	ap, ap2;
	int	n;

	va_start(ap, fmt);
	va_copy(ap2, ap);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		fatal("vsnprintf failed");
	buf_grow(b, (size_t)n);
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap2);
	va_end(ap2);
	b->len += (size_t)n;
}

/* Append bytes escaped: \\ \r \t \n and \xNN for the rest of non-printables. */
static void
buf_add_escaped(struct buf *b, const char *p, size_t n)
{
	unsigned char	u;
	size_t		i;

	for (i = 0; i < n; i++) {
		u = (unsigned char)p[i];
		if (u == '\\')
			buf_adds(b, "\\\\");
		else if (u == '\r')
			buf_adds(b, "\\r");
		else if (u == '\n')
			buf_adds(b, "\\n");
		else if (u == '\t')
			buf_adds(b, "\\t");
		else if (u < 0x20 || u >= 0x7f)
			buf_addf(b, "\\x%02x", u);
		else
			buf_addc(b, (char)u);
	}
}

/* Return the contents as a string (never NULL). */
static const char *
buf_cstr(struct buf *b)
{
	return (b->data == NULL ? "" : b->data);
}

/* Return the contents as an allocated string and reset the buffer. */
static char *
buf_take(struct buf *b)
{
	char	*s;

	s = b->data == NULL ? estrdup("") : b->data;
	b->data = NULL;
	b->len = b->cap = 0;
	return (s);
}

/* Release a buffer. */
static void
buf_free(struct buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

/* Milliseconds on the monotonic clock. */
static int64_t
now_ms(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
}

/* Sleep ms milliseconds (the emulated duration of a reload). */
static void
sleep_ms(long ms)
{
	struct timespec	ts;

	ts.tv_sec = ms / 1000;
	ts.tv_nsec = (ms % 1000) * 1000000L;
	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		continue;
}

/* Parse a whole decimal string into [min, max]; 0 or -1. */
static int
parse_long(const char *s, long min, long max, long *out)
{
	char	*end;
	long	 v;

	if (*s == '\0' || isspace((unsigned char)*s))
		return (-1);
	errno = 0;
	v = strtol(s, &end, 10);
	if (*end != '\0' || errno == ERANGE || v < min || v > max)
		return (-1);
	*out = v;
	return (0);
}

/* Scan a leading int like sscanf("%30d"): 1 if one was found. */
static int
scan_int(const char *s, long *out, const char **end)
{
	char	*e;
	long	 v;

	errno = 0;
	v = strtol(s, &e, 10);
	if (e == s)
		return (0);
	if (v > INT_MAX)
		v = INT_MAX;
	if (v < INT_MIN)
		v = INT_MIN;
	*out = v;
	if (end != NULL)
		*end = e;
	return (1);
}

/* ast_true(): yes, true, y, t, 1, on. */
static int
ast_true(const char *s)
{
	static const char *const t[] = { "yes", "true", "y", "t", "1", "on" };
	size_t	i;

	if (s == NULL)
		return (0);
	for (i = 0; i < sizeof t / sizeof t[0]; i++)
		if (strcasecmp(s, t[i]) == 0)
			return (1);
	return (0);
}

/* ast_false(): no, false, n, f, 0, off. */
static int
ast_false(const char *s)
{
	static const char *const f[] = { "no", "false", "n", "f", "0", "off" };
	size_t	i;

	if (s == NULL)
		return (0);
	for (i = 0; i < sizeof f / sizeof f[0]; i++)
		if (strcasecmp(s, f[i]) == 0)
			return (1);
	return (0);
}

/* The AGI command buffer of a release: 8192 from asterisk#1317, else 2048. */
static size_t
version_bufsize(const char *v)
{
	long		 n[3];
	const char	*p = v;
	char		*end;
	int		 i;

	for (i = 0; i < 3; i++) {
		if (!isdigit((unsigned char)*p))
			return (2048);
		errno = 0;
		n[i] = strtol(p, &end, 10);
		if (errno == ERANGE)
			return (2048);
		p = end;
		if (i < 2) {
			if (*p != '.')
				return (2048);
			p++;
		}
	}
	if (n[0] >= 23 || (n[0] == 22 && n[1] >= 6) ||
	    (n[0] == 21 && n[1] >= 11) || (n[0] == 20 && n[1] >= 16))
		return (8192);
	return (2048);
}

/* Replace %d by the call index and %% by %; caller frees. */
static char *
subst_index(const char *s, int idx)
{
	struct buf	b = { 0 };

	for (; *s != '\0'; s++) {
		if (s[0] == '%' && s[1] == 'd') {
			buf_addf(&b, "%d", idx);
			s++;
		} else if (s[0] == '%' && s[1] == '%') {
			buf_addc(&b, '%');
			s++;
		} else
			buf_addc(&b, *s);
	}
	return (buf_take(&b));
}

/* Append a key and value (copied; value may be NULL). */
static void
kv_push(struct kv **a, size_t *n, const char *key, const char *value)
{
	*a = erealloc(*a, (*n + 1) * sizeof **a);
	(*a)[*n].key = estrdup(key);
	(*a)[*n].value = value == NULL ? NULL : estrdup(value);
	(*n)++;
}

/* Split "key=value" and append it; without '=' the value is NULL if allowed. */
static void
kv_parse_push(struct kv **a, size_t *n, const char *arg, int noval_ok,
    const char *what)
{
	const char	*eq;
	char		*key;

	if ((eq = strchr(arg, '=')) == NULL) {
		if (!noval_ok || *arg == '\0') {
			fprintf(stderr, "fake-asterisk: bad %s: %s\n", what,
			    arg);
			usage(stderr, 2);
		}
		kv_push(a, n, arg, NULL);
		return;
	}
	if (eq == arg) {
		fprintf(stderr, "fake-asterisk: bad %s: %s\n", what, arg);
		usage(stderr, 2);
	}
	key = estrndup(arg, (size_t)(eq - arg));
	kv_push(a, n, key, eq + 1);
	free(key);
}

/* The last entry for key in a list (later entries win), or NULL. */
static struct kv *
kv_find(struct kv *a, size_t n, const char *key)
{
	size_t	i;

	for (i = n; i > 0; i--)
		if (strcmp(a[i - 1].key, key) == 0)
			return (&a[i - 1]);
	return (NULL);
}

/* The value of the last entry for key, or NULL (absent or left out). */
static const char *
kv_get(struct kv *a, size_t n, const char *key)
{
	struct kv	*e;

	e = kv_find(a, n, key);
	return (e == NULL ? NULL : e->value);
}

/* Log data as transcript lines with prefix, one per line. */
static void
call_logline(struct call *c, const char *prefix, const char *p, size_t len)
{
	const char	*nl;
	size_t		 n;

	if (!c->logging)
		return;
	while (len > 0) {
		nl = memchr(p, '\n', len);
		n = nl == NULL ? len : (size_t)(nl - p);
		buf_adds(&c->log, prefix);
		buf_add_escaped(&c->log, p, n);
		if (nl == NULL) {
			buf_adds(&c->log, "\\c\n");
			break;
		}
		buf_addc(&c->log, '\n');
		p = nl + 1;
		len -= n + 1;
	}
}

/* Log what Asterisk read as one command, as one transcript line. */
static void
call_logcmd(struct call *c, const char *p, size_t len)
{
	int	nl;

	if (!c->logging || len == 0)
		return;
	nl = p[len - 1] == '\n';
	buf_adds(&c->log, "S> ");
	buf_add_escaped(&c->log, p, nl ? len - 1 : len);
	buf_adds(&c->log, nl ? "\n" : "\\c\n");
}

/* Log an event line. */
static void
call_event(struct call *c, const char *fmt, ...)
{
	va_list	 ap;
	char	 line[512];

	if (!c->logging)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	buf_adds(&c->log, "-- ");
	buf_adds(&c->log, line);
	buf_addc(&c->log, '\n');
}

/* Wait for events on the socket until the deadline or until (if >= 0). */
static enum wait_result
call_wait(struct call *c, short events, int64_t until)
{
	struct pollfd	pfd[2];
	int64_t		now, limit;
	int		r;

	for (;;) {
		now = now_ms();
		if (now >= c->deadline)
			return (WAIT_DEADLINE);
		if (until >= 0 && now >= until)
			return (WAIT_UNTIL);
		limit = c->deadline;
		if (until >= 0 && until < limit)
			limit = until;
		pfd[0].fd = c->fd;
		pfd[0].events = events;
		pfd[0].revents = 0;
		pfd[1].fd = c->hupfd;
		pfd[1].events = POLLIN;
		pfd[1].revents = 0;
		r = poll(pfd, c->hupfd != -1 ? 2 : 1, (int)(limit - now));
		if (r > 0 && c->hupfd != -1 && pfd[1].revents != 0)
			return (WAIT_UNTIL);
		if (r > 0)
			return (WAIT_READY);
		if (r == -1 && errno != EINTR)
			return (WAIT_READY);	/* read() will tell */
	}
}

/* Write like ast_carefulwrite(): give up after 100 ms; 0 or -1. */
static int
call_write(struct call *c, const char *p, size_t len)
{
	struct pollfd	pfd;
	int64_t		start, elapsed = 0;
	ssize_t		n;
	int		r;

	start = now_ms();
	while (len > 0) {
		pfd.fd = c->fd;
		pfd.events = POLLOUT;
		pfd.revents = 0;
		r = poll(&pfd, 1, (int)(WRITE_TIMEOUT_MS - elapsed));
		if (r == -1 && errno == EINTR) {
			elapsed = now_ms() - start;
			if (elapsed >= WRITE_TIMEOUT_MS)
				r = 0;
			else
				continue;
		}
		if (r <= 0) {
			call_event(c, "write timed out (%zu bytes lost)", len);
			return (-1);
		}
		n = send(c->fd, p, len, MSG_NOSIGNAL);
		if (n == -1) {
			if (errno != EAGAIN && errno != EWOULDBLOCK &&
			    errno != EINTR) {
				call_event(c, "write error: %s",
				    strerror(errno));
				return (-1);
			}
			n = 0;
		}
		p += n;
		len -= (size_t)n;
		elapsed = now_ms() - start;
		if (elapsed >= WRITE_TIMEOUT_MS) {
			if (len > 0) {
				call_event(c, "write timed out (%zu bytes "
				    "lost)", len);
				return (-1);
			}
			break;
		}
	}
	return (0);
}

/* Send bytes with one write, as one ast_agi_send(). */
static int
call_send(struct call *c, const char *p, size_t len)
{
	call_logline(c, "A< ", p, len);
	return (call_write(c, p, len));
}

/* Send a string with one write. */
static int
call_sends(struct call *c, const char *s)
{
	return (call_send(c, s, strlen(s)));
}

/* Send formatted text with one write. */
static int
call_sendf(struct call *c, const char *fmt, ...)
{
	struct buf	b = { 0 };
	va_list		ap;
	int		n, r;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		fatal("vsnprintf failed");
	buf_grow(&b, (size_t)n);
	va_start(ap, fmt);
	vsnprintf(b.data, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b.len = (size_t)n;
	r = call_send(c, b.data, b.len);
	buf_free(&b);
	return (r);
}

/*
 * Send a block one write per line (or per byte with -b), at most maxlines
 * lines and maxbytes bytes (-1: all).  Like setup_env(), only a failure of
 * the first write counts; -1 then.
 */
static int
call_send_block(struct call *c, const char *p, size_t len, long maxlines,
    long maxbytes)
{
	size_t	off = 0, end, i;
	long	lines = 0;
	int	r, first = 1;

	if (maxbytes >= 0 && (size_t)maxbytes < len)
		len = (size_t)maxbytes;
	while (off < len) {
		if (maxlines >= 0 && lines >= maxlines)
			break;
		end = off;
		while (end < len && p[end] != '\n')
			end++;
		if (end < len)
			end++;
		call_logline(c, "A< ", p + off, end - off);
		r = 0;
		if (opt.byte_writes) {
			for (i = off; i < end && r == 0; i++)
				r = call_write(c, p + i, 1);
		} else
			r = call_write(c, p + off, end - off);
		if (first && r == -1)
			return (-1);
		first = 0;
		off = end;
		lines++;
	}
	return (0);
}

/* Connect as launch_netscript() does; 0 or -1 (AGISTATUS=FAILURE). */
static int
call_connect(struct call *c)
{
	struct addrinfo	 hints, *res, *ai;
	struct pollfd	 pfd;
	socklen_t	 sl;
	char		*host, *h, *port, *p;
	int64_t		 left;
	int		 s = -1, err, r, one = 1;

	host = estrdup(c->hostport);
	h = host;
	port = NULL;
	if (host[0] == '[' && (p = strchr(host, ']')) != NULL) {
		*p++ = '\0';
		h = host + 1;
		if (*p == ':')
			port = p + 1;
		else if (*p != '\0')
			port = p;	/* garbage: getaddrinfo() fails */
	} else if ((p = strchr(host, ':')) != NULL &&
	    strchr(p + 1, ':') == NULL) {
		*p = '\0';
		port = p + 1;
	}
	if (port == NULL || *port == '\0')
		port = (char *)AGI_PORT;
	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	if ((err = getaddrinfo(h, port, &hints, &res)) != 0) {
		call_event(c, "unable to locate host '%s': %s", c->hostport,
		    gai_strerror(err));
		free(host);
		return (-1);
	}
	free(host);
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		s = socket(ai->ai_family,
		    ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
		    ai->ai_protocol);
		if (s == -1) {
			call_event(c, "socket: %s", strerror(errno));
			continue;
		}
		if (connect(s, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		if (errno != EINPROGRESS) {
			call_event(c, "connect failed: %s", strerror(errno));
			close(s);
			s = -1;
			break;		/* Asterisk gives up here too */
		}
		left = c->deadline - now_ms();
		if (left > CONNECT_TIMEOUT_MS)
			left = CONNECT_TIMEOUT_MS;
		if (left < 0)
			left = 0;
		pfd.fd = s;
		pfd.events = POLLOUT;
		pfd.revents = 0;
		do
			r = poll(&pfd, 1, (int)left);
		while (r == -1 && errno == EINTR);
		err = 0;
		sl = sizeof err;
		if (r == 1 &&
		    getsockopt(s, SOL_SOCKET, SO_ERROR, &err, &sl) == 0 &&
		    err == 0)
			break;
		if (r == 0)
			call_event(c, "connect timed out");
		else
			call_event(c, "connect failed: %s",
			    strerror(err != 0 ? err : errno));
		close(s);
		s = -1;
	}
	freeaddrinfo(res);
	if (s == -1)
		return (-1);
	if (opt.byte_writes)
		(void)setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	c->fd = s;
	call_event(c, "connected to %s", c->hostport);
	return (0);
}

/* Prepare a call: URL parts, env values, preset variables. */
static void
call_setup(struct call *c)
{
	char		*t, *slash, tmp[64];
	size_t		 i;
	const char	*v;
	long		 l;

	t = subst_index(opt.target, c->idx);
	if (strncasecmp(t, "agi://", 6) == 0) {
		c->request = estrdup(t);
		if ((slash = strchr(t + 6, '/')) != NULL) {
			c->script = estrdup(slash + 1);
			c->hostport = estrndup(t + 6,
			    (size_t)(slash - (t + 6)));
		} else {
			c->script = estrdup("");
			c->hostport = estrdup(t + 6);
		}
	} else {
		c->hostport = estrdup(t);
		c->script = opt.script == NULL ? estrdup("") :
		    subst_index(opt.script, c->idx);
		if (*c->script != '\0') {
			c->request = emalloc(strlen(t) + strlen(c->script) + 8);
			snprintf(c->request, strlen(t) + strlen(c->script) + 8,
			    "agi://%s/%s", t, c->script);
		} else {
			c->request = emalloc(strlen(t) + 7);
			snprintf(c->request, strlen(t) + 7, "agi://%s", t);
		}
	}
	free(t);

	c->nargs = opt.nargs;
	c->args = emalloc((opt.nargs + 1) * sizeof *c->args);
	for (i = 0; i < opt.nargs; i++)
		c->args[i] = subst_index(opt.args[i], c->idx);

	for (i = 0; i < opt.nvars; i++) {
		t = subst_index(opt.vars[i].value, c->idx);
		var_set(c, opt.vars[i].key, t, 0);
		free(t);
	}
	c->send_sighup = !ast_false(var_lookup(c, "AGISIGHUP"));
	c->exit_on_hangup = ast_true(var_lookup(c, "AGIEXITONHANGUP"));

	/*
	 * Env values; call_env() adds agi_threadid in the call's thread.  The
	 * default channel and uniqueid vary with the call index, agi_type
	 * follows the channel.  (Pointers into c->env are taken after the
	 * last push.)
	 */
	for (i = 0; i < opt.nenv; i++) {
		t = opt.env[i].value == NULL ? NULL :
		    subst_index(opt.env[i].value, c->idx);
		kv_push(&c->env, &c->nenv, opt.env[i].key, t);
		free(t);
	}
	if (kv_find(c->env, c->nenv, "agi_channel") == NULL) {
		snprintf(tmp, sizeof tmp, "Local/t@agi-%08x;2",
		    0x0eU + (unsigned int)c->idx);
		kv_push(&c->env, &c->nenv, "agi_channel", tmp);
	}
	if (kv_find(c->env, c->nenv, "agi_uniqueid") == NULL) {
		snprintf(tmp, sizeof tmp, "nodeA-1795706440.%d", 43 + c->idx);
		kv_push(&c->env, &c->nenv, "agi_uniqueid", tmp);
	}
	if (kv_find(c->env, c->nenv, "agi_type") == NULL) {
		v = kv_get(c->env, c->nenv, "agi_channel");
		if (v == NULL)
			v = "";
		slash = strchr(v, '/');
		t = slash == NULL ? estrdup(v) :
		    estrndup(v, (size_t)(slash - v));
		kv_push(&c->env, &c->nenv, "agi_type", t);
		free(t);
	}
	v = kv_get(c->env, c->nenv, "agi_channel");
	c->channel = v != NULL ? v : "";
	v = kv_get(c->env, c->nenv, "agi_uniqueid");
	c->uniqueid = v != NULL ? v : "";
	v = kv_get(c->env, c->nenv, "agi_language");
	c->language = v != NULL ? v : "";
	v = kv_get(c->env, c->nenv, "agi_type");
	c->type = v != NULL ? v : "";
	c->cid_num = kv_get(c->env, c->nenv, "agi_callerid");
	c->cid_name = kv_get(c->env, c->nenv, "agi_calleridname");
	v = kv_get(c->env, c->nenv, "agi_context");
	c->context = estrdup(v != NULL ? v : "");
	v = kv_get(c->env, c->nenv, "agi_extension");
	c->exten = estrdup(v != NULL ? v : "");
	v = kv_get(c->env, c->nenv, "agi_priority");
	c->priority = v != NULL && scan_int(v, &l, NULL) ? (int)l : 1;
}

/*
 * Build the env block of setup_env() (with launch_netscript()'s first
 * lines): fixed key order, "key: value" with the space kept for empty
 * values, then agi_arg_N, then the empty line.
 */
static void
call_env(struct call *c, struct buf *b)
{
	static const char *const keys[] = {
		"agi_network", "agi_network_script", "agi_request",
		"agi_channel", "agi_language", "agi_type", "agi_uniqueid",
		"agi_version", "agi_callerid", "agi_calleridname",
		"agi_callingpres", "agi_callingani2", "agi_callington",
		"agi_callingtns", "agi_dnid", "agi_rdnis", "agi_context",
		"agi_extension", "agi_priority", "agi_enhanced",
		"agi_accountcode", "agi_threadid",
	};
	struct kv	*over = c->env;
	size_t		 nover = c->nenv, i, j;
	const char	*v;
	char		 tmp[64];
	int		 given;

	for (i = 0; i < sizeof keys / sizeof keys[0]; i++) {
		given = 0;
		v = NULL;
		for (j = 0; j < nover; j++)
			if (strcmp(over[j].key, keys[i]) == 0) {
				given = 1;
				v = over[j].value;
			}
		if (!given) {
			if (strcmp(keys[i], "agi_network") == 0)
				v = "yes";
			else if (strcmp(keys[i], "agi_network_script") == 0)
				v = *c->script != '\0' ? c->script : NULL;
			else if (strcmp(keys[i], "agi_request") == 0)
				v = c->request;
			else if (strcmp(keys[i], "agi_threadid") == 0) {
				snprintf(tmp, sizeof tmp, "%ld",
				    (long)pthread_self());
				v = tmp;
			} else
				continue;	/* defaults are in opt.env */
		}
		if (v == NULL)
			continue;
		buf_addf(b, "%s: %s\n", keys[i], v);
	}
	for (j = 0; j < nover; j++) {
		for (i = 0; i < sizeof keys / sizeof keys[0]; i++)
			if (strcmp(over[j].key, keys[i]) == 0)
				break;
		if (i == sizeof keys / sizeof keys[0] &&
		    over[j].value != NULL)
			buf_addf(b, "%s: %s\n", over[j].key, over[j].value);
	}
	for (i = 0; i < c->nargs; i++)
		buf_addf(b, "agi_arg_%zu: %s\n", i + 1, c->args[i]);
	buf_addc(b, '\n');
}

/* Read and log everything the server sends until EOF (partial env). */
static void
call_drain(struct call *c)
{
	struct buf	line = { 0 };
	char		tmp[STDIO_BUFSIZ];
	ssize_t		n;
	size_t		i;

	for (;;) {
		if (call_wait(c, POLLIN, -1) == WAIT_DEADLINE) {
			call_event(c, "timeout");
			c->closed = CLOSED_TIMEOUT;
			break;
		}
		n = read(c->fd, tmp, sizeof tmp);
		if (n == -1 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (n <= 0) {
			if (line.len > 0)
				call_logcmd(c, line.data, line.len);
			line.len = 0;
			call_event(c, "eof");
			c->closed = CLOSED_SERVER;
			break;
		}
		for (i = 0; i < (size_t)n; i++) {
			buf_addc(&line, tmp[i]);
			if (tmp[i] == '\n') {
				call_logcmd(c, line.data, line.len);
				line.len = 0;
			}
		}
	}
	if (line.len > 0)
		call_logcmd(c, line.data, line.len);
	buf_free(&line);
}

/* The caller hangs up, or the channel was hung up (ast_read() gave NULL). */
static void
call_hangup(struct call *c, const char *why)
{
	if (c->hungup || c->dead)
		return;
	call_event(c, "hangup: %s", why);
	c->hungup = 1;
	c->needhup = 1;
	if (c->status == AGI_SUCCESS)
		c->status = AGI_HANGUP;
}

/* 1 if the server sent more bytes before the current command was answered. */
static int
call_pending(struct call *c)
{
	char	ch;

	if (c->rpos < c->rlen)
		return (1);
	return (recv(c->fd, &ch, 1, MSG_PEEK | MSG_DONTWAIT) == 1);
}

/* Refill the stdio buffer (empty); 1 data, 0 EOF or error, -1 deadline. */
static int
rd_fill(struct call *c)
{
	ssize_t	n;

	c->rpos = c->rlen = 0;
	for (;;) {
		n = read(c->fd, c->rbuf, sizeof c->rbuf);
		if (n > 0) {
			c->rlen = (size_t)n;
			return (1);
		}
		if (n == 0) {
			c->eof = 1;
			return (0);
		}
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK) {
			call_event(c, "read error: %s", strerror(errno));
			c->eof = 1;
			return (0);
		}
		/* fgets() on Asterisk's non-blocking socket spins here. */
		if (call_wait(c, POLLIN, -1) == WAIT_DEADLINE) {
			c->timedout = 1;
			return (-1);
		}
	}
}

/*
 * fgets(dst, n, readf) over the emulated stdio buffer: at most n - 1 bytes,
 * up to and including a newline; the bytes taken are appended to raw.
 * Returns the count, or -1 (NULL) when nothing was read.
 */
static int
rd_fgets(struct call *c, char *dst, size_t n, struct buf *raw)
{
	size_t	got = 0;
	char	ch;

	while (got < n - 1) {
		if (c->rpos == c->rlen) {
			if (c->eof || c->timedout || rd_fill(c) != 1)
				break;
		}
		ch = c->rbuf[c->rpos++];
		dst[got++] = ch;
		buf_addc(raw, ch);
		if (ch == '\n')
			break;
	}
	if (got == 0)
		return (-1);
	dst[got] = '\0';
	return ((int)got);
}

/*
 * The read loop of run_agi() for FastAGI: keep calling fgets() at
 * buf + strlen(buf) until the buffer ends in a newline, is full, or EOF.
 * (A NUL byte makes strlen() short, so the next fgets() overwrites the
 * rest of the line, as in Asterisk.)  Returns -1 on the deadline.
 */
static int
agi_read_command(struct call *c, char *buf, size_t size, struct buf *raw)
{
	size_t	len = size, buflen = 0;

	buf[0] = '\0';
	while (len > 1) {
		(void)rd_fgets(c, buf + buflen, len, raw);
		if (c->timedout)
			return (-1);
		if (c->eof)
			break;
		buflen = strlen(buf);
		if (buflen > 0 && buf[buflen - 1] == '\n')
			break;
		len = size - buflen;
	}
	return (0);
}

/* The command loop of run_agi(), then the final HANGUP and close. */
static void
agi_loop(struct call *c)
{
	struct buf		 raw = { 0 };
	enum wait_result	 w;
	char			*buf;
	size_t			 len;
	int64_t			 until;
	int			 res, complete;

	buf = emalloc(opt.cmdbuf);
	if (opt.hup == HUP_BEFORE)
		call_hangup(c, "caller hung up before any command");
	for (;;) {
		if (c->needhup) {
			c->needhup = 0;
			c->dead = 1;
			if (c->exit_on_hangup) {
				if (c->send_sighup) {
					call_sends(c, "HANGUP\nHANGUP\n");
					c->final_sent = 1;
				}
				c->closed = CLOSED_ASTERISK;
				break;
			}
			if (c->send_sighup)
				call_sends(c, "HANGUP\n");
		}
		until = -1;
		if (!c->dead && opt.hup == HUP_TIME)
			until = c->start + opt.hup_arg;
		if (!c->dead && opt.hup == HUP_FIFO && c->hupfd == -1 &&
		    (c->hupfd = open(opt.hup_fifo, O_RDONLY | O_NONBLOCK |
		    O_CLOEXEC)) == -1)
			call_event(c, "-H fifo: %s: %s", opt.hup_fifo,
			    strerror(errno));
		w = call_wait(c, POLLIN, until);
		if (c->hupfd != -1 && (w == WAIT_UNTIL || c->dead)) {
			close(c->hupfd);
			c->hupfd = -1;
		}
		if (w == WAIT_DEADLINE) {
			call_event(c, "timeout");
			c->closed = CLOSED_TIMEOUT;
			break;
		}
		if (w == WAIT_UNTIL) {
			call_hangup(c, opt.hup == HUP_FIFO ?
			    "caller hung up (fifo)" : "caller hung up (timer)");
			continue;
		}
		if (!c->dead && opt.hup == HUP_REPLY &&
		    c->commands + 1 == opt.hup_arg) {
			call_hangup(c, "caller hung up, a command in flight");
			continue;
		}
		if (c->rpos < c->rlen)
			call_event(c, "new bytes: %zu buffered bytes run now",
			    c->rlen - c->rpos);
		raw.len = 0;
		res = agi_read_command(c, buf, opt.cmdbuf, &raw);
		call_logcmd(c, raw.data, raw.len);
		if (res == -1) {
			call_event(c, "timeout");
			c->closed = CLOSED_TIMEOUT;
			break;
		}
		if (buf[0] == '\0') {
			call_event(c, "eof");
			c->closed = CLOSED_SERVER;
			break;
		}
		if (strncasecmp(buf, "failure", 7) == 0) {
			call_event(c, "failure line");
			c->status = AGI_FAILURE;
			c->closed = CLOSED_ASTERISK;
			break;
		}
		len = strlen(buf);
		complete = len > 0 && buf[len - 1] == '\n';
		/* The rest of a cut line is not pipelining. */
		if (complete) {
			buf[len - 1] = '\0';
			if (!c->cut && call_pending(c)) {
				c->pipelined++;
				call_event(c, "pipelined: more bytes arrived "
				    "before the reply");
			}
		}
		c->cut = !complete && !c->eof;
		c->commands++;
		if (agi_handle_command(c, buf) == RESULT_FAILURE &&
		    (c->dead || !c->softhangup))
			c->status = AGI_FAILURE;
		if (!c->dead && c->softhangup)
			call_hangup(c, "channel hung up by the server");
		else if (!c->dead && opt.hup == HUP_AFTER &&
		    c->commands == opt.hup_arg)
			call_hangup(c, "caller hung up after a reply");
		if (c->rpos < c->rlen && !c->timedout)
			call_event(c, "%zu bytes wait in the stdio buffer",
			    c->rlen - c->rpos);
	}
	if (c->closed != CLOSED_TIMEOUT && c->send_sighup && !c->final_sent)
		call_sends(c, "HANGUP\n");
	free(buf);
	buf_free(&raw);
}

/*
 * parse_args() of res_agi.c: whitespace separates, '"' toggles quoting,
 * '\' escapes the next byte, at most MAX_ARGS - 1 tokens.  Asterisk does
 * not check the bound when a quote starts a token (it writes past argv);
 * the emulator drops such a token and logs it.
 */
static int
agi_parse_args(char *s, const char **argv, int *overflow)
{
	char	*cur = s;
	int	 x = 0, quoted = 0, escaped = 0, whitespace = 1;

	*overflow = 0;
	for (; *s != '\0'; s++) {
		switch (*s) {
		case '"':
			if (escaped)
				goto normal;
			quoted = !quoted;
			if (quoted && whitespace) {
				if (x >= MAX_ARGS - 1)
					*overflow = 1;
				else
					argv[x++] = cur;
				whitespace = 0;
			}
			escaped = 0;
			break;
		case ' ':
		case '\t':
			if (!quoted && !escaped) {
				whitespace = 1;
				*cur++ = '\0';
				break;
			}
			goto normal;
		case '\\':
			if (escaped)
				goto normal;
			escaped = 1;
			break;
		default:
normal:
			if (whitespace) {
				if (x >= MAX_ARGS - 1)
					break;	/* "Too many arguments" */
				argv[x++] = cur;
				whitespace = 0;
			}
			*cur++ = *s;
			escaped = 0;
		}
	}
	*cur = '\0';
	argv[x] = NULL;
	return (x);
}

/* find_command(argv, 0) of res_agi.c. */
static const struct agi_cmd *
agi_find_command(const char **argv)
{
	const struct agi_cmd	*e;
	size_t			 i;
	int			 y, match;

	for (i = 0; i < sizeof agi_cmds / sizeof agi_cmds[0]; i++) {
		e = &agi_cmds[i];
		match = 1;
		for (y = 0; match && argv[y] != NULL; y++) {
			if (y >= 3 || e->words[y] == NULL)
				break;
			if (strcasecmp(e->words[y], argv[y]) != 0)
				match = 0;
		}
		if (y < 4 && e->words[y] != NULL)
			match = 0;
		if (match)
			return (e);
	}
	return (NULL);
}

/* agi_handle_command() of res_agi.c; returns the handler's result. */
static int
agi_handle_command(struct call *c, char *buf)
{
	const char		*argv[MAX_ARGS];
	const struct agi_cmd	*cmd;
	int			 argc, res, overflow;

	argc = agi_parse_args(buf, argv, &overflow);
	if (overflow) {
		fprintf(stderr, "fake-asterisk: call %d: a quote starts a "
		    "token past the %dth: Asterisk writes past argv here "
		    "(asterisk#2069)\n", c->idx, MAX_ARGS - 1);
		call_event(c, "argv overflow: Asterisk writes past argv here");
	}
	cmd = agi_find_command(argv);
	if (cmd == NULL) {
		c->errors++;
		call_sends(c, "510 Invalid or unknown command\n");
		return (RESULT_SUCCESS);
	}
	if (c->dead && !cmd->dead) {
		c->errors++;
		call_sends(c, "511 Command Not Permitted on a dead channel or "
		    "intercept routine\n");
		return (RESULT_SUCCESS);
	}
	if (cmd->handler == NULL) {
		fprintf(stderr, "fake-asterisk: call %d: command not emulated: "
		    "%s%s%s%s%s\n", c->idx, cmd->words[0],
		    cmd->words[1] != NULL ? " " : "",
		    cmd->words[1] != NULL ? cmd->words[1] : "",
		    cmd->words[2] != NULL ? " " : "",
		    cmd->words[2] != NULL ? cmd->words[2] : "");
		call_event(c, "command not emulated, answering 510");
		c->errors++;
		call_sends(c, "510 Invalid or unknown command\n");
		return (RESULT_SUCCESS);
	}
	res = cmd->handler(c, argc, argv);
	if (res == RESULT_SHOWUSAGE) {
		c->errors++;
		if (cmd->usage == NULL)
			call_sends(c, "520 Invalid command syntax.  Proper "
			    "usage not available.\n");
		else {
			call_sends(c, "520-Invalid command syntax.  Proper "
			    "usage follows:\n");
			call_sendf(c, "%s\n", cmd->usage);
			call_sends(c, "520 End of proper usage.\n");
		}
	}
	return (res);
}

/* Canonical store name: a function name (before '(') in upper case. */
static char *
var_canon(const char *name)
{
	char	*s, *p;

	s = estrdup(name);
	if ((p = strchr(s, '(')) == NULL)
		return (s);
	for (p--; p >= s; p--)
		*p = (char)toupper((unsigned char)*p);
	return (s);
}

/* The entry named name (exact, case-sensitive), or NULL. */
static struct var *
var_find(struct var *a, size_t n, const char *name)
{
	size_t	i;

	for (i = 0; i < n; i++)
		if (strcmp(a[i].name, name) == 0)
			return (&a[i]);
	return (NULL);
}

/* Set a channel variable; byserver records it for the summary. */
static void
var_set(struct call *c, const char *name, const char *value, int byserver)
{
	struct var	*v;
	char		*key;

	key = var_canon(name);
	if ((v = var_find(c->vars, c->nvars, key)) == NULL) {
		c->vars = erealloc(c->vars, (c->nvars + 1) * sizeof *c->vars);
		v = &c->vars[c->nvars++];
		v->name = key;
		v->value = NULL;
		v->order = -1;
	} else
		free(key);
	free(v->value);
	v->value = estrdup(value);
	if (byserver && v->order == -1)
		v->order = c->nset++;
}

/* The stored value of a variable or function, or NULL. */
static const char *
var_lookup(struct call *c, const char *name)
{
	struct var	*v;
	char		*key;

	key = var_canon(name);
	v = var_find(c->vars, c->nvars, key);
	free(key);
	return (v == NULL ? NULL : v->value);
}

/* The built-in variables of pbx_retrieve_variable(); 1 if name is one. */
static int
var_builtin(struct call *c, const char *name, struct buf *out)
{
	const char	*v, *dash;

	if (strcmp(name, "CALLINGPRES") == 0 ||
	    strcmp(name, "CALLINGANI2") == 0 ||
	    strcmp(name, "CALLINGTON") == 0 ||
	    strcmp(name, "CALLINGTNS") == 0) {
		v = NULL;
		if (strcmp(name, "CALLINGPRES") == 0)
			v = kv_get(c->env, c->nenv, "agi_callingpres");
		else if (strcmp(name, "CALLINGANI2") == 0)
			v = kv_get(c->env, c->nenv, "agi_callingani2");
		else if (strcmp(name, "CALLINGTON") == 0)
			v = kv_get(c->env, c->nenv, "agi_callington");
		else
			v = kv_get(c->env, c->nenv, "agi_callingtns");
		buf_adds(out, v != NULL ? v : "0");
	} else if (strcmp(name, "EXTEN") == 0)
		buf_adds(out, c->exten);
	else if (strcmp(name, "CONTEXT") == 0)
		buf_adds(out, c->context);
	else if (strcmp(name, "PRIORITY") == 0)
		buf_addf(out, "%d", c->priority);
	else if (strcmp(name, "CHANNEL") == 0)
		buf_adds(out, c->channel);
	else if (strcmp(name, "UNIQUEID") == 0)
		buf_adds(out, c->uniqueid);
	else if (strcmp(name, "HANGUPCAUSE") == 0)
		buf_adds(out, c->hungup ? "16" : "0");
	else if (strcmp(name, "EPOCH") == 0)
		buf_addf(out, "%lld", (long long)time(NULL));
	else if (strcmp(name, "SYSTEMNAME") == 0) {
		dash = strrchr(c->uniqueid, '-');
		if (dash != NULL)
			buf_add(out, c->uniqueid,
			    (size_t)(dash - c->uniqueid));
	} else
		return (0);
	return (1);
}

/* A variable's value (built-ins first, then the channel); 1 if found. */
static int
var_retrieve(struct call *c, const char *name, struct buf *out)
{
	const char	*v;

	if (var_builtin(c, name, out))
		return (1);
	if ((v = var_lookup(c, name)) == NULL)
		return (0);
	buf_adds(out, v);
	return (1);
}

/*
 * Read a dialplan function "NAME(args)": a value preset or set under that
 * literal name wins; then LEN() and a few CHANNEL()/CALLERID() defaults.
 * 0, or -1 for an unknown function (GET VARIABLE then answers result=0).
 */
static int
func_read(struct call *c, const char *name, struct buf *out)
{
	const char	*v, *open, *close;
	char		*fname, *args;
	int		 r = 0;

	if ((v = var_lookup(c, name)) != NULL) {
		buf_adds(out, v);
		return (0);
	}
	if ((open = strchr(name, '(')) == NULL)
		return (-1);
	fname = estrndup(name, (size_t)(open - name));
	if ((close = strrchr(open, ')')) == NULL)
		close = open + strlen(open);
	args = estrndup(open + 1, (size_t)(close - open - 1));
	if (strcasecmp(fname, "LEN") == 0)
		buf_addf(out, "%zu", strlen(args));
	else if (strcasecmp(fname, "CHANNEL") == 0 &&
	    strcmp(args, "name") == 0)
		buf_adds(out, c->channel);
	else if (strcasecmp(fname, "CHANNEL") == 0 &&
	    strcmp(args, "channeltype") == 0)
		buf_adds(out, c->type);
	else if (strcasecmp(fname, "CHANNEL") == 0 &&
	    strcmp(args, "language") == 0)
		buf_adds(out, c->language);
	else if (strcasecmp(fname, "CALLERID") == 0 &&
	    strcmp(args, "num") == 0)
		buf_adds(out, c->cid_num != NULL ? c->cid_num : "");
	else if (strcasecmp(fname, "CALLERID") == 0 &&
	    strcmp(args, "name") == 0)
		buf_adds(out, c->cid_name != NULL ? c->cid_name : "");
	else
		r = -1;
	free(fname);
	free(args);
	return (r);
}

/* Append the ${VAR:offset:length} part of value, as substring() does. */
static void
substring_add(struct buf *out, const char *value, long offset, long length)
{
	long	lr, n;

	lr = (long)strlen(value);
	if (offset == 0 && length >= lr) {
		buf_add(out, value, (size_t)lr);
		return;
	}
	if (offset < 0) {
		offset = lr + offset;
		if (offset < 0)
			offset = 0;
	}
	if (offset >= lr)
		return;
	n = lr - offset;
	if (length >= 0 && length < lr - offset)
		n = length;
	else if (length < 0)
		n = lr > offset - length ? lr + length - offset : 0;
	buf_add(out, value + offset, (size_t)n);
}

/*
 * ast_str_substitute_variables() for ${NAME}, ${FUNC(args)} and
 * ${NAME:offset:length}, nested; unknown names expand to nothing.  $[...]
 * is copied as is.
 */
static void
substitute(struct call *c, const char *in, struct buf *out, int depth)
{
	struct buf	 val = { 0 }, inner = { 0 };
	const char	*p = in, *dv, *vars, *vare;
	char		*name, *colon;
	long		 offset, length;
	size_t		 len;
	int		 brackets, needsub, parens, isfunc, found;

	while (*p != '\0') {
		if ((dv = strstr(p, "${")) == NULL) {
			buf_adds(out, p);
			break;
		}
		buf_add(out, p, (size_t)(dv - p));
		vars = vare = dv + 2;
		brackets = 1;
		needsub = 0;
		while (brackets && *vare != '\0') {
			if (vare[0] == '$' && vare[1] == '{') {
				needsub++;
				brackets++;
				vare++;
			} else if (vare[0] == '{')
				brackets++;
			else if (vare[0] == '}')
				brackets--;
			else if (vare[0] == '$' && vare[1] == '[')
				needsub++;
			vare++;
		}
		len = (size_t)(vare - vars);
		if (brackets)
			len++;		/* missing '}': take the rest */
		name = estrndup(vars, len - 1);
		if (needsub && depth < SUBST_DEPTH) {
			inner.len = 0;
			substitute(c, name, &inner, depth + 1);
			free(name);
			name = estrdup(buf_cstr(&inner));
		}
		/* parse_variable_name() */
		offset = 0;
		length = INT_MAX;
		isfunc = 0;
		parens = 0;
		for (colon = name; *colon != '\0'; colon++) {
			if (*colon == '(') {
				isfunc++;
				parens++;
			} else if (*colon == ')')
				parens--;
			else if (*colon == ':' && parens == 0) {
				const char	*e;

				*colon++ = '\0';
				if (scan_int(colon, &offset, &e) && *e == ':')
					(void)scan_int(e + 1, &length, NULL);
				break;
			}
		}
		val.len = 0;
		if (isfunc)
			found = func_read(c, name, &val) == 0;
		else
			found = var_retrieve(c, name, &val);
		if (found)
			substring_add(out, buf_cstr(&val), offset, length);
		free(name);
		p = vare;
	}
	buf_free(&val);
	buf_free(&inner);
}

/* ast_db_put(); 0. */
static int
db_put(const char *family, const char *key, const char *value)
{
	struct buf	 k = { 0 };
	struct var	*v;

	buf_addf(&k, "/%s/%s", family, key);
	pthread_mutex_lock(&db_lock);
	if ((v = var_find(db, ndb, k.data)) == NULL) {
		db = erealloc(db, (ndb + 1) * sizeof *db);
		v = &db[ndb++];
		v->name = buf_take(&k);
		v->value = NULL;
		v->order = -1;
	}
	free(v->value);
	v->value = estrdup(value);
	pthread_mutex_unlock(&db_lock);
	buf_free(&k);
	return (0);
}

/* ast_db_get(); 0 found, -1 not. */
static int
db_get(const char *family, const char *key, struct buf *out)
{
	struct buf	 k = { 0 };
	struct var	*v;
	int		 r = -1;

	buf_addf(&k, "/%s/%s", family, key);
	pthread_mutex_lock(&db_lock);
	if ((v = var_find(db, ndb, k.data)) != NULL) {
		buf_adds(out, v->value);
		r = 0;
	}
	pthread_mutex_unlock(&db_lock);
	buf_free(&k);
	return (r);
}

/* ast_db_del(); 0 deleted, -1 not found. */
static int
db_del(const char *family, const char *key)
{
	struct buf	 k = { 0 };
	struct var	*v;
	int		 r = -1;

	buf_addf(&k, "/%s/%s", family, key);
	pthread_mutex_lock(&db_lock);
	if ((v = var_find(db, ndb, k.data)) != NULL) {
		free(v->name);
		free(v->value);
		*v = db[--ndb];
		r = 0;
	}
	pthread_mutex_unlock(&db_lock);
	buf_free(&k);
	return (r);
}

/* ast_db_deltree(): keys equal to or under the prefix; the count deleted. */
static int
db_deltree(const char *family, const char *keytree)
{
	struct buf	 k = { 0 };
	size_t		 i, n;
	int		 count = 0;

	if (keytree != NULL && *keytree != '\0')
		buf_addf(&k, "/%s/%s", family, keytree);
	else
		buf_addf(&k, "/%s", family);
	pthread_mutex_lock(&db_lock);
	for (i = 0; i < ndb;) {
		n = k.len;
		if (strncmp(db[i].name, k.data, n) == 0 &&
		    (db[i].name[n] == '\0' || db[i].name[n] == '/')) {
			free(db[i].name);
			free(db[i].value);
			db[i] = db[--ndb];
			count++;
		} else
			i++;
	}
	pthread_mutex_unlock(&db_lock);
	buf_free(&k);
	return (count);
}

/* ANSWER: the channel is already up. */
static int
h_answer(struct call *c, int argc, const char **argv)
{
	(void)argc;
	(void)argv;
	call_sends(c, "200 result=0\n");
	return (RESULT_SUCCESS);
}

/* ASYNCAGI BREAK: answered, and ignored by FastAGI. */
static int
h_asyncagi_break(struct call *c, int argc, const char **argv)
{
	(void)argc;
	(void)argv;
	call_sends(c, "200 result=0\n");
	return (ASYNC_AGI_BREAK);
}

/* CHANNEL STATUS [name]: 6 (Up) for this channel, -1 for another. */
static int
h_channel_status(struct call *c, int argc, const char **argv)
{
	if (argc == 2) {
		call_sends(c, "200 result=6\n");
		return (RESULT_SUCCESS);
	}
	if (argc == 3) {
		call_sends(c, strcmp(argv[2], c->channel) == 0 ?
		    "200 result=6\n" : "200 result=-1\n");
		return (RESULT_SUCCESS);
	}
	return (RESULT_SHOWUSAGE);
}

/* DATABASE DEL family key. */
static int
h_db_del(struct call *c, int argc, const char **argv)
{
	if (argc != 4)
		return (RESULT_SHOWUSAGE);
	call_sendf(c, "200 result=%c\n",
	    db_del(argv[2], argv[3]) != 0 ? '0' : '1');
	return (RESULT_SUCCESS);
}

/* DATABASE DELTREE family [keytree] (result as the source: 0 if any). */
static int
h_db_deltree(struct call *c, int argc, const char **argv)
{
	int	n;

	if (argc < 3 || argc > 4)
		return (RESULT_SHOWUSAGE);
	n = db_deltree(argv[2], argc == 4 ? argv[3] : NULL);
	call_sendf(c, "200 result=%c\n", n > 0 ? '0' : '1');
	return (RESULT_SUCCESS);
}

/* DATABASE GET family key (no truncation). */
static int
h_db_get(struct call *c, int argc, const char **argv)
{
	struct buf	v = { 0 };

	if (argc != 4)
		return (RESULT_SHOWUSAGE);
	if (db_get(argv[2], argv[3], &v) != 0)
		call_sends(c, "200 result=0\n");
	else
		call_sendf(c, "200 result=1 (%s)\n", buf_cstr(&v));
	buf_free(&v);
	return (RESULT_SUCCESS);
}

/* DATABASE PUT family key value. */
static int
h_db_put(struct call *c, int argc, const char **argv)
{
	if (argc != 5)
		return (RESULT_SHOWUSAGE);
	call_sendf(c, "200 result=%c\n",
	    db_put(argv[2], argv[3], argv[4]) != 0 ? '0' : '1');
	return (RESULT_SUCCESS);
}

/*
 * EXEC app [data]: only argv[2] is the data; ${} is expanded only with
 * AGIEXECFULL.  Returns the application's result, as handle_exec() does.
 */
static int
h_exec(struct call *c, int argc, const char **argv)
{
	const struct agi_app	*app = NULL;
	struct buf		 data = { 0 };
	size_t			 i;
	int			 res;

	if (argc < 2)
		return (RESULT_SHOWUSAGE);
	for (i = 0; i < sizeof agi_apps / sizeof agi_apps[0]; i++)
		if (strcasecmp(agi_apps[i].name, argv[1]) == 0 &&
		    (opt.no_app == NULL ||
		    strcasecmp(opt.no_app, argv[1]) != 0))
			app = &agi_apps[i];
	if (app == NULL) {
		call_event(c, "could not find application (%s)", argv[1]);
		res = -2;
	} else {
		if (argc > 2 && ast_true(var_lookup(c, "AGIEXECFULL")))
			substitute(c, argv[2], &data, 0);
		else if (argc > 2)
			buf_adds(&data, argv[2]);
		res = app->run(c, buf_cstr(&data));
	}
	call_sendf(c, "200 result=%d\n", res);
	buf_free(&data);
	return (res);
}

/* GET FULL VARIABLE expression [channel]: expanded, not truncated. */
static int
h_get_full_variable(struct call *c, int argc, const char **argv)
{
	struct buf	v = { 0 };

	if (argc != 4 && argc != 5)
		return (RESULT_SHOWUSAGE);
	if (argc == 5 && strcmp(argv[4], c->channel) != 0) {
		call_sends(c, "200 result=0\n");
		return (RESULT_SUCCESS);
	}
	substitute(c, argv[3], &v, 0);
	call_sendf(c, "200 result=1 (%s)\n", buf_cstr(&v));
	buf_free(&v);
	return (RESULT_SUCCESS);
}

/* GET VARIABLE name: a name ending in ')' is a function; cut at 1023. */
static int
h_get_variable(struct call *c, int argc, const char **argv)
{
	struct buf	 v = { 0 };
	size_t		 n;
	int		 found;

	if (argc != 3)
		return (RESULT_SHOWUSAGE);
	n = strlen(argv[2]);
	if (n > 0 && argv[2][n - 1] == ')')
		found = func_read(c, argv[2], &v) == 0;
	else
		found = var_retrieve(c, argv[2], &v);
	if (found) {
		n = v.len > GETVAR_MAX ? GETVAR_MAX : v.len;
		call_sendf(c, "200 result=1 (%.*s)\n", (int)n, buf_cstr(&v));
	} else
		call_sends(c, "200 result=0\n");
	buf_free(&v);
	return (RESULT_SUCCESS);
}

/* HANGUP [channel]: soft hangup, then run_agi() sees the hangup. */
static int
h_hangup(struct call *c, int argc, const char **argv)
{
	if (argc == 1 || (argc == 2 && strcmp(argv[1], c->channel) == 0)) {
		c->softhangup = 1;
		call_sends(c, "200 result=1\n");
		return (RESULT_SUCCESS);
	}
	if (argc == 2) {
		call_sends(c, "200 result=-1\n");
		return (RESULT_SUCCESS);
	}
	return (RESULT_SHOWUSAGE);
}

/* NOOP: any arguments. */
static int
h_noop(struct call *c, int argc, const char **argv)
{
	(void)argc;
	(void)argv;
	call_sends(c, "200 result=0\n");
	return (RESULT_SUCCESS);
}

/* SET CONTEXT context. */
static int
h_set_context(struct call *c, int argc, const char **argv)
{
	if (argc != 3)
		return (RESULT_SHOWUSAGE);
	free(c->context);
	c->context = estrdup(argv[2]);
	c->context_set = 1;
	call_sends(c, "200 result=0\n");
	return (RESULT_SUCCESS);
}

/* SET EXTENSION extension. */
static int
h_set_extension(struct call *c, int argc, const char **argv)
{
	if (argc != 3)
		return (RESULT_SHOWUSAGE);
	free(c->exten);
	c->exten = estrdup(argv[2]);
	c->exten_set = 1;
	call_sends(c, "200 result=0\n");
	return (RESULT_SUCCESS);
}

/* SET PRIORITY n: a label needs a dialplan, so it is a usage error here. */
static int
h_set_priority(struct call *c, int argc, const char **argv)
{
	long	pri;

	if (argc != 3)
		return (RESULT_SHOWUSAGE);
	if (!scan_int(argv[2], &pri, NULL))
		return (RESULT_SHOWUSAGE);	/* a label: no dialplan here */
	c->priority = (int)pri;
	c->priority_set = 1;
	call_sends(c, "200 result=0\n");
	return (RESULT_SUCCESS);
}

/* SET VARIABLE name value: exactly two arguments. */
static int
h_set_variable(struct call *c, int argc, const char **argv)
{
	if (argc != 4)
		return (RESULT_SHOWUSAGE);
	var_set(c, argv[2], argv[3], 1);
	call_sends(c, "200 result=1\n");
	return (RESULT_SUCCESS);
}

/* SPEECH DESTROY: there is never a speech object. */
static int
h_speech_destroy(struct call *c, int argc, const char **argv)
{
	(void)argc;
	(void)argv;
	call_sends(c, "200 result=0\n");
	return (RESULT_SUCCESS);
}

/* SPEECH UNLOAD GRAMMAR name: there is never a speech object. */
static int
h_speech_unload_grammar(struct call *c, int argc, const char **argv)
{
	(void)argv;
	if (argc != 4)
		return (RESULT_SHOWUSAGE);
	call_sends(c, "200 result=0\n");
	return (RESULT_SUCCESS);
}

/* VERBOSE message [level]. */
static int
h_verbose(struct call *c, int argc, const char **argv)
{
	(void)argv;
	if (argc < 2)
		return (RESULT_SHOWUSAGE);
	call_sends(c, "200 result=1\n");
	return (RESULT_SUCCESS);
}

/* NoOp(): 0. */
static int
app_noop(struct call *c, const char *data)
{
	(void)c;
	(void)data;
	return (0);
}

/* Set(name=value): the whole data, commas included; 0. */
static int
app_set(struct call *c, const char *data)
{
	const char	*eq;
	char		*name;

	if (*data == '\0' || (eq = strchr(data, '=')) == NULL) {
		call_event(c, "Set requires a name=value pair");
		return (0);
	}
	name = estrndup(data, (size_t)(eq - data));
	var_set(c, name, eq + 1, 1);
	free(name);
	return (0);
}

/*
 * MSet(name1=value1,name2=value2,...): the data split as Asterisk splits
 * application arguments (up to 99 pairs), then each pair at its first
 * '=' (pbx_builtin_setvar_multiple in main/pbx_variables.c); 0.
 */
static int
app_mset(struct call *c, const char *data)
{
	char	*buf, *pairs[99], *pair[2];
	int	 n, i;

	if (*data == '\0') {
		call_event(c, "MSet requires at least one variable name/value "
		    "pair");
		return (0);
	}
	buf = estrndup(data, strlen(data));
	n = astargs_split(buf, ',', 1, pairs, 99);
	for (i = 0; i < n; i++) {
		if (astargs_split(pairs[i], '=', 1, pair, 2) == 2)
			var_set(c, pair[0], pair[1], 1);
		else
			call_event(c, "MSet: ignoring an entry with no '='");
	}
	free(buf);
	return (0);
}

/* Hangup([cause]): soft hangup; -1. */
static int
app_hangup(struct call *c, const char *data)
{
	(void)data;
	if (!c->dead)
		c->softhangup = 1;
	return (-1);
}

/* 1 if every module of a Reload() list is one the emulator knows. */
static int
reload_modules_known(const char *data)
{
	static const char *const known[] = {
		"chan_iax2", "chan_iax2.so", "res_crypto", "res_crypto.so"
	};
	const char	*p = data, *e, *s;
	size_t		 i, n;
	int		 ok;

	for (;;) {
		e = strchr(p, ',');
		if (e == NULL)
			e = p + strlen(p);
		s = p;
		while (s < e && isspace((unsigned char)*s))
			s++;
		n = (size_t)(e - s);
		while (n > 0 && isspace((unsigned char)s[n - 1]))
			n--;
		ok = n == 0;		/* an empty name reloads everything */
		for (i = 0; !ok && i < sizeof known / sizeof known[0]; i++)
			if (strlen(known[i]) == n &&
			    strncmp(known[i], s, n) == 0)
				ok = 1;
		if (!ok)
			return (0);
		if (*e == '\0')
			return (1);
		p = e + 1;
	}
}

/*
 * Reload([modules]): one reload at a time in the process (trylock, so a
 * concurrent one is refused), held -R ms; sets RELOADSTATUS; 0.
 */
static int
app_reload(struct call *c, const char *data)
{
	struct timespec	 ts;
	const char	*mods = *data != '\0' ? data : "(all)";
	const char	*reason = NULL;

	if (pthread_mutex_trylock(&reload_lock) != 0) {
		pthread_mutex_lock(&stats_lock);
		n_refused++;
		pthread_mutex_unlock(&stats_lock);
		reason = "busy";
		call_event(c, "the previous reload command didn't finish yet");
	} else {
		if (opt.reload_ms > 0)
			sleep_ms(opt.reload_ms);
		if (fail_left != 0) {
			if (fail_left > 0)
				fail_left--;
			reason = "injected";
		} else if (!reload_modules_known(data))
			reason = "unknown-module";
		if (reason == NULL) {
			pthread_mutex_lock(&stats_lock);
			n_reloads++;
			pthread_mutex_unlock(&stats_lock);
			if (reload_logf != NULL) {
				clock_gettime(CLOCK_REALTIME, &ts);
				fprintf(reload_logf, "reload %s ts=%lld.%06ld "
				    "call=%d\n", mods, (long long)ts.tv_sec,
				    ts.tv_nsec / 1000, c->idx);
				fflush(reload_logf);
			}
		}
		pthread_mutex_unlock(&reload_lock);
	}
	var_set(c, "RELOADSTATUS", reason == NULL ? "SUCCESS" : "FAILURE", 0);
	buf_adds(&c->reloads, "reload ");
	buf_add_escaped(&c->reloads, mods, strlen(mods));
	buf_addf(&c->reloads, " status=%s%s%s\n",
	    reason == NULL ? "SUCCESS" : "FAILURE",
	    reason == NULL ? "" : " reason=", reason == NULL ? "" : reason);
	return (0);
}

/* One call from connect to close, as AGI(agi://...) runs it. */
static void
call_run(struct call *c)
{
	struct buf	env = { 0 };
	int		r;

	c->start = now_ms();
	c->deadline = c->start + opt.deadline_ms;
	call_setup(c);
	c->dead = opt.dead_start;
	if (call_connect(c) == -1) {
		c->status = AGI_FAILURE;
		c->closed = CLOSED_NONE;
		return;
	}
	if (opt.have_raw)
		buf_add(&env, opt.raw, opt.rawlen);
	else
		call_env(c, &env);
	if (opt.partial != 0) {
		(void)call_send_block(c, env.data, env.len,
		    opt.partial == 1 ? opt.partial_n : -1,
		    opt.partial == 2 ? opt.partial_n : -1);
		call_event(c, "partial env sent, waiting for the server");
		call_drain(c);
	} else {
		r = call_send_block(c, env.data, env.len, -1, -1);
		if (r == -1) {
			call_event(c, "first write failed: FastAGI failed");
			c->status = AGI_FAILURE;
			c->closed = CLOSED_ASTERISK;
		} else
			agi_loop(c);
	}
	buf_free(&env);
	close(c->fd);
	c->fd = -1;
	if (c->hupfd != -1) {
		close(c->hupfd);
		c->hupfd = -1;
	}
	call_event(c, "closed");
}

/* Print a call's summary (and transcript). */
static void
call_print(struct call *c)
{
	struct buf	b = { 0 };
	size_t		i;
	int		k;

	buf_addf(&b, "call %d agistatus=%s commands=%d errors=%d "
	    "pipelined=%d hungup=%s closed_by=%s\n", c->idx,
	    status_names[c->status], c->commands, c->errors, c->pipelined,
	    c->hungup ? "yes" : "no", closed_names[c->closed]);
	for (k = 0; k < c->nset; k++)
		for (i = 0; i < c->nvars; i++) {
			if (c->vars[i].order != k)
				continue;
			buf_adds(&b, "var ");
			buf_add_escaped(&b, c->vars[i].name,
			    strlen(c->vars[i].name));
			buf_addc(&b, '=');
			buf_add_escaped(&b, c->vars[i].value,
			    strlen(c->vars[i].value));
			buf_addc(&b, '\n');
		}
	buf_adds(&b, buf_cstr(&c->reloads));
	if (c->context_set) {
		buf_adds(&b, "context ");
		buf_add_escaped(&b, c->context, strlen(c->context));
		buf_addc(&b, '\n');
	}
	if (c->exten_set) {
		buf_adds(&b, "extension ");
		buf_add_escaped(&b, c->exten, strlen(c->exten));
		buf_addc(&b, '\n');
	}
	if (c->priority_set)
		buf_addf(&b, "priority %d\n", c->priority);
	buf_adds(&b, buf_cstr(&c->log));
	fwrite(b.data, 1, b.len, stdout);
	buf_free(&b);
}

/* Release a call. */
static void
call_free(struct call *c)
{
	size_t	i;

	free(c->request);
	free(c->script);
	free(c->hostport);
	for (i = 0; i < c->nenv; i++) {
		free(c->env[i].key);
		free(c->env[i].value);
	}
	free(c->env);
	for (i = 0; i < c->nargs; i++)
		free(c->args[i]);
	free(c->args);
	for (i = 0; i < c->nvars; i++) {
		free(c->vars[i].name);
		free(c->vars[i].value);
	}
	free(c->vars);
	free(c->context);
	free(c->exten);
	buf_free(&c->reloads);
	buf_free(&c->log);
}

/* A channel thread: run calls until there are none left. */
static void *
worker(void *arg)
{
	long	i;

	(void)arg;
	for (;;) {
		pthread_mutex_lock(&stats_lock);
		i = next_call++;
		pthread_mutex_unlock(&stats_lock);
		if (i >= opt.calls)
			break;
		call_run(&calls[i]);
	}
	return (NULL);
}

/* Read a whole file into opt.raw. */
static void
read_raw(const char *path)
{
	struct buf	 b = { 0 };
	char		 tmp[8192];
	ssize_t		 n;
	int		 fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		fatal("%s: %s", path, strerror(errno));
	while ((n = read(fd, tmp, sizeof tmp)) != 0) {
		if (n == -1) {
			if (errno == EINTR)
				continue;
			fatal("%s: %s", path, strerror(errno));
		}
		buf_add(&b, tmp, (size_t)n);
	}
	close(fd);
	opt.rawlen = b.len;
	opt.raw = buf_take(&b);
	opt.have_raw = 1;
}

/* Parse -H: before, after:N, reply:N, time:MS, fifo:PATH. */
static void
parse_hangup(const char *s)
{
	const char	*arg = NULL;

	if (strcmp(s, "before") == 0) {
		opt.hup = HUP_BEFORE;
		return;
	}
	if (strncmp(s, "after:", 6) == 0) {
		opt.hup = HUP_AFTER;
		arg = s + 6;
	} else if (strncmp(s, "reply:", 6) == 0) {
		opt.hup = HUP_REPLY;
		arg = s + 6;
	} else if (strncmp(s, "time:", 5) == 0) {
		opt.hup = HUP_TIME;
		arg = s + 5;
	} else if (strncmp(s, "fifo:", 5) == 0 && s[5] != '\0') {
		opt.hup = HUP_FIFO;
		opt.hup_fifo = s + 5;
		return;
	}
	if (arg == NULL ||
	    parse_long(arg, opt.hup == HUP_TIME ? 0 : 1, INT_MAX,
	    &opt.hup_arg) == -1) {
		fprintf(stderr, "fake-asterisk: bad -H spec: %s\n", s);
		usage(stderr, 2);
	}
}

/* Parse a numeric option or exit 2. */
static long
num_option(int ch, const char *s, long min, long max)
{
	long	v;

	if (parse_long(s, min, max, &v) == -1) {
		fprintf(stderr, "fake-asterisk: bad -%c value: %s\n", ch, s);
		usage(stderr, 2);
	}
	return (v);
}

/* Set an env override for a shorthand option. */
static void
env_option(const char *key, const char *value)
{
	kv_push(&opt.env, &opt.nenv, key, value);
}

/* Parse the command line, run the calls, print the results. */
int
main(int argc, char *argv[])
{
	struct sigaction	 sa;
	struct kv		*dbpre = NULL, *user;
	size_t			 ndbpre = 0, nuser, i, n;
	pthread_t		*threads;
	const char		*slash, *v, *p;
	char			*s;
	long			 errors = 0, pipelined = 0, l;
	int			 ch, has_cid = 0, rc;

	opt.calls = 1;
	opt.parallel = 1;
	opt.deadline_ms = 30000;
	opt.reload_ms = 0;
	opt.fail_reloads = 0;

	while ((ch = getopt(argc, argv,
	    "A:a:bC:c:Dd:E:e:F:H:hI:i:L:Nn:P:p:R:r:s:T:tu:V:v:X")) != -1) {
		switch (ch) {
		case 'A':
			opt.no_app = optarg;
			break;
		case 'a':
			opt.args = erealloc(opt.args,
			    (opt.nargs + 1) * sizeof *opt.args);
			opt.args[opt.nargs++] = optarg;
			break;
		case 'b':
			opt.byte_writes = 1;
			break;
		case 'C':
			env_option("agi_channel", optarg);
			break;
		case 'c':
			env_option("agi_context", optarg);
			break;
		case 'D':
			opt.dead_start = 1;
			break;
		case 'd':
			kv_parse_push(&dbpre, &ndbpre, optarg, 0, "-d entry");
			break;
		case 'E':
			kv_parse_push(&opt.env, &opt.nenv, optarg, 1, "-E key");
			break;
		case 'e':
			env_option("agi_extension", optarg);
			break;
		case 'F':
			if (strcmp(optarg, "all") == 0)
				opt.fail_reloads = -1;
			else
				opt.fail_reloads = num_option(ch, optarg, 0,
				    LONG_MAX);
			break;
		case 'H':
			parse_hangup(optarg);
			break;
		case 'h':
			usage(stdout, 0);
		case 'I':
			env_option("agi_calleridname", optarg);
			break;
		case 'i':
			env_option("agi_callerid", optarg);
			break;
		case 'L':
			opt.reload_log = optarg;
			break;
		case 'N':
			kv_push(&opt.vars, &opt.nvars, "AGISIGHUP", "no");
			break;
		case 'n':
			opt.calls = num_option(ch, optarg, 1, 1000000);
			break;
		case 'P':
			opt.parallel = num_option(ch, optarg, 1, 10000);
			break;
		case 'p':
			n = strlen(optarg);
			if (n > 1 && optarg[n - 1] == 'b') {
				s = estrndup(optarg, n - 1);
				opt.partial = 2;
				opt.partial_n = num_option(ch, s, 0, LONG_MAX);
				free(s);
			} else {
				opt.partial = 1;
				opt.partial_n = num_option(ch, optarg, 0,
				    LONG_MAX);
			}
			break;
		case 'R':
			opt.reload_ms = num_option(ch, optarg, 0, 3600000);
			break;
		case 'r':
			read_raw(optarg);
			break;
		case 's':
			opt.script = optarg;
			break;
		case 'T':
			opt.deadline_ms = num_option(ch, optarg, 1, 86400000);
			break;
		case 't':
			opt.transcript++;
			break;
		case 'u':
			env_option("agi_uniqueid", optarg);
			break;
		case 'V':
			env_option("agi_version", optarg);
			break;
		case 'v':
			kv_parse_push(&opt.vars, &opt.nvars, optarg, 0,
			    "-v variable");
			break;
		case 'X':
			kv_push(&opt.vars, &opt.nvars, "AGIEXITONHANGUP",
			    "yes");
			break;
		default:
			usage(stderr, 2);
		}
	}
	argc -= optind;
	argv += optind;
	if (argc < 1)
		usage(stderr, 2);
	opt.target = argv[0];
	if (strncasecmp(opt.target, "agi://", 6) == 0 && opt.script != NULL) {
		fprintf(stderr, "fake-asterisk: -s conflicts with an agi:// "
		    "URL\n");
		usage(stderr, 2);
	}
	for (i = 1; i < (size_t)argc; i++) {
		opt.args = erealloc(opt.args,
		    (opt.nargs + 1) * sizeof *opt.args);
		opt.args[opt.nargs++] = argv[i];
	}
	if (opt.nargs > MAX_ARGS - 1) {
		fprintf(stderr, "fake-asterisk: at most %d arguments\n",
		    MAX_ARGS - 1);
		usage(stderr, 2);
	}
	if (opt.parallel > opt.calls)
		opt.parallel = opt.calls;

	/*
	 * Defaults go first in opt.env (later entries win).  agi_callingpres
	 * is 0 once a caller ID is given; the channel, uniqueid and type
	 * defaults are made per call by call_setup().
	 */
	for (i = 0; i < opt.nenv; i++)
		if (strcmp(opt.env[i].key, "agi_callerid") == 0 ||
		    strcmp(opt.env[i].key, "agi_calleridname") == 0)
			has_cid = 1;
	user = opt.env;
	nuser = opt.nenv;
	opt.env = NULL;
	opt.nenv = 0;
	env_option("agi_language", "en");
	env_option("agi_version", "22.6.0");
	env_option("agi_callerid", "unknown");
	env_option("agi_calleridname", "unknown");
	env_option("agi_callingpres", has_cid ? "0" : "67");
	env_option("agi_callingani2", "0");
	env_option("agi_callington", "0");
	env_option("agi_callingtns", "0");
	env_option("agi_dnid", "unknown");
	env_option("agi_rdnis", "unknown");
	env_option("agi_context", "agi");
	env_option("agi_extension", "t");
	env_option("agi_priority", "3");
	env_option("agi_enhanced", "0.0");
	env_option("agi_accountcode", "");
	for (i = 0; i < nuser; i++) {
		kv_push(&opt.env, &opt.nenv, user[i].key, user[i].value);
		free(user[i].key);
		free(user[i].value);
	}
	free(user);
	v = kv_get(opt.env, opt.nenv, "agi_version");
	opt.cmdbuf = version_bufsize(v != NULL ? v : "");

	for (i = 0; i < ndbpre; i++) {
		p = dbpre[i].key;
		if (*p == '/')
			p++;
		if ((slash = strchr(p, '/')) == NULL) {
			fprintf(stderr, "fake-asterisk: bad -d entry: %s\n", p);
			usage(stderr, 2);
		}
		s = estrndup(p, (size_t)(slash - p));
		db_put(s, slash + 1, dbpre[i].value);
		free(s);
		free(dbpre[i].key);
		free(dbpre[i].value);
	}
	free(dbpre);

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = SIG_IGN;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGPIPE, &sa, NULL) == -1)
		fatal("sigaction: %s", strerror(errno));
	if (opt.reload_log != NULL &&
	    (reload_logf = fopen(opt.reload_log, "ae")) == NULL)
		fatal("%s: %s", opt.reload_log, strerror(errno));
	fail_left = opt.fail_reloads;

	calls = emalloc((size_t)opt.calls * sizeof *calls);
	memset(calls, 0, (size_t)opt.calls * sizeof *calls);
	for (l = 0; l < opt.calls; l++) {
		calls[l].idx = (int)l;
		calls[l].fd = -1;
		calls[l].hupfd = -1;
		calls[l].logging = opt.transcript >= 2 ||
		    (opt.transcript == 1 && l == 0);
	}
	threads = emalloc((size_t)opt.parallel * sizeof *threads);
	for (l = 0; l < opt.parallel; l++)
		if ((rc = pthread_create(&threads[l], NULL, worker, NULL)) != 0)
			fatal("pthread_create: %s", strerror(rc));
	for (l = 0; l < opt.parallel; l++)
		pthread_join(threads[l], NULL);
	free(threads);

	for (l = 0; l < opt.calls; l++) {
		call_print(&calls[l]);
		errors += calls[l].errors;
		pipelined += calls[l].pipelined;
		call_free(&calls[l]);
	}
	printf("total calls=%ld reloads=%ld refused=%ld errors=%ld "
	    "pipelined=%ld\n", opt.calls, n_reloads, n_refused, errors,
	    pipelined);
	fflush(stdout);

	free(calls);
	if (reload_logf != NULL)
		fclose(reload_logf);
	for (i = 0; i < opt.nenv; i++) {
		free(opt.env[i].key);
		free(opt.env[i].value);
	}
	free(opt.env);
	for (i = 0; i < opt.nvars; i++) {
		free(opt.vars[i].key);
		free(opt.vars[i].value);
	}
	free(opt.vars);
	free(opt.args);
	free(opt.raw);
	for (i = 0; i < ndb; i++) {
		free(db[i].name);
		free(db[i].value);
	}
	free(db);
	return (0);
}
