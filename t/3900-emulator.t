#!/bin/sh
# 3900-emulator: the Asterisk emulator (t/helper/fake-asterisk) answers byte
# for byte as asterisk.md section 1 says.  Each test writes the server's
# steps, starts t/helper/agi-script-server (its port comes through a FIFO),
# runs the emulator against it and compares the server's transcript.  No
# sleeps: the server and the emulator synchronise through their sockets.

T_TOP=$(cd "$(dirname "$0")/.." && pwd)
cd "$T_TOP" || exit 1
EMU=$T_TOP/t/helper/fake-asterisk
SRV=$T_TOP/t/helper/agi-script-server
if [ ! -x "$EMU" ] || [ ! -x "$SRV" ]; then
	echo "1..0 # skip make t/helper/fake-asterisk t/helper/agi-script-server"
	exit 0
fi
T_DIR=$(mktemp -d "$T_TOP/t/trash.3900-emulator.XXXXXX") || exit 1
SRV_PID=
PORT=

. "$T_TOP/t/lib/tap.sh"

# Remove the directory unless a test failed; never leave a server behind.
t_cleanup() {
	if [ -n "$SRV_PID" ]; then
		kill "$SRV_PID" 2>/dev/null
	fi
	if [ "$t_fail" -eq 0 ] && [ -z "$T_KEEP" ]; then
		rm -rf "$T_DIR"
	else
		echo "# kept $T_DIR" >&2
	fi
}
trap t_cleanup EXIT

# Start the script server with $T_DIR/steps (options in "$@"); set PORT.
serve() {
	rm -f "$T_DIR/port" "$T_DIR/srv.out" "$T_DIR/srv.err"
	mkfifo "$T_DIR/port" || return 1
	"$SRV" -f "$T_DIR/steps" -o "$T_DIR/srv.out" "$@" \
	    >"$T_DIR/port" 2>"$T_DIR/srv.err" &
	SRV_PID=$!
	PORT=
	read PORT <"$T_DIR/port"
	[ -n "$PORT" ]
}

# Wait for the server; its conversation (from env-end) goes to $T_DIR/conv.
served() {
	wait "$SRV_PID"
	t_st=$?
	SRV_PID=
	sed -n '/env-end$/,$p' "$T_DIR/srv.out" >"$T_DIR/conv"
	if grep -E 'Sanitizer|runtime error' "$T_DIR/srv.err"; then
		return 1
	fi
	[ "$t_st" -eq 0 ] || { cut -c1-200 "$T_DIR/srv.out"; return 1; }
}

# Run the emulator; summary in $T_DIR/emu.out; sanitizer reports fail.
emu() {
	"$EMU" "$@" >"$T_DIR/emu.out" 2>"$T_DIR/emu.err"
	t_st=$?
	if grep -E 'Sanitizer|runtime error' "$T_DIR/emu.err"; then
		return 1
	fi
	[ "$t_st" -eq 0 ] || { cat "$T_DIR/emu.err"; return 1; }
}

# Check that the emulator's summary has a line (fixed string).
has() {
	grep -qxF "$1" "$T_DIR/emu.out" || {
		echo "missing: $1"
		cat "$T_DIR/emu.out"
		return 1
	}
}

test_expect 'env block of AGI(agi://127.0.0.1:PORT/outbound?x=1,arg1,arg2)' '
	: >"$T_DIR/steps" &&
	serve && emu -V UNKNOWN__and_probably_unsupported \
	    -v "TESTVAR=hello world" \
	    "agi://127.0.0.1:$PORT/outbound?x=1" arg1 arg2 && served &&
	grep -Eq "^env agi_threadid: [0-9]+$" "$T_DIR/srv.out" &&
	sed -e "s/:$PORT\\//:PORT\\//" -e "s/agi_threadid: [0-9]*/agi_threadid: N/" \
	    -e "s/\$/\$/" "$T_DIR/srv.out" >"$T_DIR/env" &&
	test_cmp "$T_DIR/env" <<-\EOF
	env agi_network: yes$
	env agi_network_script: outbound?x=1$
	env agi_request: agi://127.0.0.1:PORT/outbound?x=1$
	env agi_channel: Local/t@agi-0000000e;2$
	env agi_language: en$
	env agi_type: Local$
	env agi_uniqueid: nodeA-1795706440.43$
	env agi_version: UNKNOWN__and_probably_unsupported$
	env agi_callerid: unknown$
	env agi_calleridname: unknown$
	env agi_callingpres: 67$
	env agi_callingani2: 0$
	env agi_callington: 0$
	env agi_callingtns: 0$
	env agi_dnid: unknown$
	env agi_rdnis: unknown$
	env agi_context: agi$
	env agi_extension: t$
	env agi_priority: 3$
	env agi_enhanced: 0.0$
	env agi_accountcode: $
	env agi_threadid: N$
	env agi_arg_1: arg1$
	env agi_arg_2: arg2$
	env-end$
	shut$
	< HANGUP$
	eof$
	EOF
'

test_expect 'env without script, caller ID, raw arguments' '
	: >"$T_DIR/steps" &&
	serve && emu -C IAX2/from-a-rsa-353 -i 5551234 -I "Evil\"Name" \
	    -c from-a 127.0.0.1:$PORT "with space" "" "a,b" && served &&
	! grep -q agi_network_script "$T_DIR/srv.out" &&
	grep -qxF "env agi_request: agi://127.0.0.1:$PORT" "$T_DIR/srv.out" &&
	grep -E "agi_(channel|type|caller|calling|context|arg)" \
	    "$T_DIR/srv.out" | sed "s/\$/\$/" >"$T_DIR/env" &&
	test_cmp "$T_DIR/env" <<-\EOF
	env agi_channel: IAX2/from-a-rsa-353$
	env agi_type: IAX2$
	env agi_callerid: 5551234$
	env agi_calleridname: Evil"Name$
	env agi_callingpres: 0$
	env agi_callingani2: 0$
	env agi_callington: 0$
	env agi_callingtns: 0$
	env agi_context: from-a$
	env agi_arg_1: with space$
	env agi_arg_2: $
	env agi_arg_3: a,b$
	EOF
'

test_expect 'GET VARIABLE: names are case-sensitive, CR joins the name' '
	cat >"$T_DIR/steps" <<-\EOF &&
	GET VARIABLE TESTVAR
	GET VARIABLE NOSUCHVAR
	GET VARIABLE testvar
	get variable TESTVAR
	GET   VARIABLE    TESTVAR
	x:GET VARIABLE TESTVAR\r\n
	GET VARIABLE CHANNEL(name)
	GET VARIABLE CHANNEL(auth_method)
	GET VARIABLE NOFUNC(x)
	EOF
	serve && emu -v "TESTVAR=hello world" -v "CHANNEL(auth_method)=RSA" \
	    127.0.0.1:$PORT && served &&
	test_cmp "$T_DIR/conv" <<-\EOF &&
	env-end
	> GET VARIABLE TESTVAR\n
	< 200 result=1 (hello world)
	> GET VARIABLE NOSUCHVAR\n
	< 200 result=0
	> GET VARIABLE testvar\n
	< 200 result=0
	> get variable TESTVAR\n
	< 200 result=1 (hello world)
	> GET   VARIABLE    TESTVAR\n
	< 200 result=1 (hello world)
	> GET VARIABLE TESTVAR\r\n
	< 200 result=0
	> GET VARIABLE CHANNEL(name)\n
	< 200 result=1 (Local/t@agi-0000000e;2)
	> GET VARIABLE CHANNEL(auth_method)\n
	< 200 result=1 (RSA)
	> GET VARIABLE NOFUNC(x)\n
	< 200 result=0
	shut
	< HANGUP
	eof
	EOF
	has "call 0 agistatus=SUCCESS commands=9 errors=0 pipelined=0 hungup=no closed_by=server"
'

test_expect 'SET VARIABLE: quotes, backslashes, empty value, too many args' '
	cat >"$T_DIR/steps" <<-\EOF &&
	SET VARIABLE FOO "a b \"quoted\" c"
	GET VARIABLE FOO
	SET VARIABLE BS "back\\slash"
	GET VARIABLE BS
	SET VARIABLE EMPTY ""
	GET VARIABLE EMPTY
	SET VARIABLE "SPACED NAME" x
	SET VARIABLE BAR with spaces unquoted
	SET VARIABLE FOO again
	EOF
	serve && emu 127.0.0.1:$PORT && served &&
	test_cmp "$T_DIR/conv" <<-\EOF &&
	env-end
	> SET VARIABLE FOO "a b \\"quoted\\" c"\n
	< 200 result=1
	> GET VARIABLE FOO\n
	< 200 result=1 (a b "quoted" c)
	> SET VARIABLE BS "back\\\\slash"\n
	< 200 result=1
	> GET VARIABLE BS\n
	< 200 result=1 (back\\slash)
	> SET VARIABLE EMPTY ""\n
	< 200 result=1
	> GET VARIABLE EMPTY\n
	< 200 result=1 ()
	> SET VARIABLE "SPACED NAME" x\n
	< 200 result=1
	> SET VARIABLE BAR with spaces unquoted\n
	< 520-Invalid command syntax.  Proper usage follows:
	< Sets a variable to the current channel.
	< 520 End of proper usage.
	> SET VARIABLE FOO again\n
	< 200 result=1
	shut
	< HANGUP
	eof
	EOF
	test_cmp "$T_DIR/emu.out" <<-\EOF
	call 0 agistatus=SUCCESS commands=9 errors=1 pipelined=0 hungup=no closed_by=server
	var FOO=again
	var BS=back\\slash
	var EMPTY=
	var SPACED NAME=x
	total calls=1 reloads=0 refused=0 errors=1 pipelined=0
	EOF
'

test_expect 'EXEC: only argv[2] is data, Set keeps commas, unknown app' '
	cat >"$T_DIR/steps" <<-\EOF &&
	EXEC NoOp hello world unquoted
	EXEC NoOp "a,b c"
	EXEC Set "X1=1,2"
	GET VARIABLE X1
	EXEC Set Z1=${TV}
	GET VARIABLE Z1
	SET VARIABLE AGIEXECFULL yes
	EXEC Set Z2=${TV}
	GET VARIABLE Z2
	EXEC NoSuchApp foo
	EOF
	serve && emu -v TV=tv 127.0.0.1:$PORT && served &&
	test_cmp "$T_DIR/conv" <<-\EOF
	env-end
	> EXEC NoOp hello world unquoted\n
	< 200 result=0
	> EXEC NoOp "a,b c"\n
	< 200 result=0
	> EXEC Set "X1=1,2"\n
	< 200 result=0
	> GET VARIABLE X1\n
	< 200 result=1 (1,2)
	> EXEC Set Z1=${TV}\n
	< 200 result=0
	> GET VARIABLE Z1\n
	< 200 result=1 (${TV})
	> SET VARIABLE AGIEXECFULL yes\n
	< 200 result=1
	> EXEC Set Z2=${TV}\n
	< 200 result=0
	> GET VARIABLE Z2\n
	< 200 result=1 (tv)
	> EXEC NoSuchApp foo\n
	< 200 result=-2
	shut
	< HANGUP
	eof
	EOF
'

test_expect 'other observed pairs: 510, VERBOSE, NOOP, ANSWER, DATABASE' '
	cat >"$T_DIR/steps" <<-\EOF &&
	FOOBAR baz
	x:\n
	GET
	VERBOSE "hello from agi" 1
	CHANNEL STATUS
	NOOP some text
	ANSWER
	DATABASE PUT fam key "v 1"
	DATABASE GET fam key
	DATABASE GET fam missing
	GET FULL VARIABLE ${TESTVAR}
	GET FULL VARIABLE ${NOSUCHVAR}
	GET FULL VARIABLE "${TESTVAR} and ${CHANNEL(name)}"
	EOF
	serve && emu -v "TESTVAR=hello world" 127.0.0.1:$PORT && served &&
	test_cmp "$T_DIR/conv" <<-\EOF &&
	env-end
	> FOOBAR baz\n
	< 510 Invalid or unknown command
	> \n
	< 510 Invalid or unknown command
	> GET\n
	< 510 Invalid or unknown command
	> VERBOSE "hello from agi" 1\n
	< 200 result=1
	> CHANNEL STATUS\n
	< 200 result=6
	> NOOP some text\n
	< 200 result=0
	> ANSWER\n
	< 200 result=0
	> DATABASE PUT fam key "v 1"\n
	< 200 result=1
	> DATABASE GET fam key\n
	< 200 result=1 (v 1)
	> DATABASE GET fam missing\n
	< 200 result=0
	> GET FULL VARIABLE ${TESTVAR}\n
	< 200 result=1 (hello world)
	> GET FULL VARIABLE ${NOSUCHVAR}\n
	< 200 result=1 ()
	> GET FULL VARIABLE "${TESTVAR} and ${CHANNEL(name)}"\n
	< 200 result=1 (hello world and Local/t@agi-0000000e;2)
	shut
	< HANGUP
	eof
	EOF
	grep -q "^call 0 .* errors=3 " "$T_DIR/emu.out"
'

test_expect '520 usage blocks, byte for byte' '
	cat >"$T_DIR/steps" <<-\EOF &&
	GET VARIABLE
	SET VARIABLE ONLYNAME
	CHANNEL STATUS a b
	EOF
	serve && emu 127.0.0.1:$PORT && served &&
	test_cmp "$T_DIR/conv" <<-\EOF
	env-end
	> GET VARIABLE\n
	< 520-Invalid command syntax.  Proper usage follows:
	< Returns <literal>0</literal> if <replaceable>variablename</replaceable> is not set. Returns <literal>1</literal> if <replaceable>variablename</replaceable> is set and returns the variable in parentheses.
	< Example return code: 200 result=1 (testvariable)
	< 520 End of proper usage.
	> SET VARIABLE ONLYNAME\n
	< 520-Invalid command syntax.  Proper usage follows:
	< Sets a variable to the current channel.
	< 520 End of proper usage.
	> CHANNEL STATUS a b\n
	< 520-Invalid command syntax.  Proper usage follows:
	< Returns the status of the specified <replaceable>channelname</replaceable>. If no channel name is given then returns the status of the current channel.
	< Return values:
	<     <enum>0</enum> - Channel is down and available.
	<     <enum>1</enum> - Channel is down, but reserved.
	<     <enum>2</enum> - Channel is off hook.
	<     <enum>3</enum> - Digits (or equivalent) have been dialed.
	<     <enum>4</enum> - Line is ringing.
	<     <enum>5</enum> - Remote end is ringing.
	<     <enum>6</enum> - Line is up.
	<     <enum>7</enum> - Line is busy.
	< 520 End of proper usage.
	shut
	< HANGUP
	eof
	EOF
'

test_expect 'EXEC Hangup: -1, HANGUP at once, dead mode (511), final HANGUP' '
	cat >"$T_DIR/steps" <<-\EOF &&
	EXEC Hangup
	r:1
	CHANNEL STATUS
	GET VARIABLE TESTVAR
	EXEC NoOp x
	SET VARIABLE A b
	VERBOSE hi
	NOOP
	HANGUP
	STREAM FILE foo ""
	EOF
	serve && emu -v TESTVAR=t 127.0.0.1:$PORT && served &&
	test_cmp "$T_DIR/conv" <<-\EOF &&
	env-end
	> EXEC Hangup\n
	< 200 result=-1
	< HANGUP
	> CHANNEL STATUS\n
	< 511 Command Not Permitted on a dead channel or intercept routine
	> GET VARIABLE TESTVAR\n
	< 200 result=1 (t)
	> EXEC NoOp x\n
	< 200 result=0
	> SET VARIABLE A b\n
	< 200 result=1
	> VERBOSE hi\n
	< 200 result=1
	> NOOP\n
	< 200 result=0
	> HANGUP\n
	< 511 Command Not Permitted on a dead channel or intercept routine
	> STREAM FILE foo ""\n
	< 511 Command Not Permitted on a dead channel or intercept routine
	shut
	< HANGUP
	eof
	EOF
	has "call 0 agistatus=HANGUP commands=9 errors=3 pipelined=0 hungup=yes closed_by=server"
'

test_expect 'HANGUP: 200 result=1 then HANGUP; AGIEXITONHANGUP closes' '
	printf "HANGUP\nr:1\n" >"$T_DIR/steps" &&
	serve && emu 127.0.0.1:$PORT && served &&
	test_cmp "$T_DIR/conv" <<-\EOF &&
	env-end
	> HANGUP\n
	< 200 result=1
	< HANGUP
	shut
	< HANGUP
	eof
	EOF
	printf "HANGUP\n" >"$T_DIR/steps" &&
	serve && emu -X 127.0.0.1:$PORT && served &&
	test_cmp "$T_DIR/conv" <<-\EOF &&
	env-end
	> HANGUP\n
	< 200 result=1
	shut
	< HANGUP
	< HANGUP
	eof
	EOF
	has "call 0 agistatus=HANGUP commands=1 errors=0 pipelined=0 hungup=yes closed_by=asterisk"
'

test_expect 'caller hangs up: after a reply, with a command in flight, before' '
	printf "NOOP\nr:1\nNOOP\n" >"$T_DIR/steps" &&
	serve && emu -H after:1 127.0.0.1:$PORT && served &&
	test_cmp "$T_DIR/conv" <<-\EOF &&
	env-end
	> NOOP\n
	< 200 result=0
	< HANGUP
	> NOOP\n
	< 200 result=0
	shut
	< HANGUP
	eof
	EOF
	printf "NOOP\nANSWER\nNOOP\n" >"$T_DIR/steps" &&
	serve && emu -H reply:2 127.0.0.1:$PORT && served &&
	test_cmp "$T_DIR/conv" <<-\EOF &&
	env-end
	> NOOP\n
	< 200 result=0
	> ANSWER\n
	< HANGUP
	< 511 Command Not Permitted on a dead channel or intercept routine
	> NOOP\n
	< 200 result=0
	shut
	< HANGUP
	eof
	EOF
	printf "r:1\nNOOP\n" >"$T_DIR/steps" &&
	serve && emu -H before 127.0.0.1:$PORT && served &&
	test_cmp "$T_DIR/conv" <<-\EOF &&
	env-end
	< HANGUP
	> NOOP\n
	< 200 result=0
	shut
	< HANGUP
	eof
	EOF
	has "call 0 agistatus=HANGUP commands=1 errors=0 pipelined=0 hungup=yes closed_by=server"
'

test_expect 'AGIEXITONHANGUP: HANGUP HANGUP and close; AGISIGHUP=no: none' '
	printf "NOOP\n" >"$T_DIR/steps" &&
	serve && emu -X -H after:1 127.0.0.1:$PORT && served &&
	test_cmp "$T_DIR/conv" <<-\EOF &&
	env-end
	> NOOP\n
	< 200 result=0
	shut
	< HANGUP
	< HANGUP
	eof
	EOF
	has "call 0 agistatus=HANGUP commands=1 errors=0 pipelined=0 hungup=yes closed_by=asterisk" &&
	printf "NOOP\nCHANNEL STATUS\n" >"$T_DIR/steps" &&
	serve && emu -N -H after:1 127.0.0.1:$PORT && served &&
	test_cmp "$T_DIR/conv" <<-\EOF
	env-end
	> NOOP\n
	< 200 result=0
	> CHANNEL STATUS\n
	< 511 Command Not Permitted on a dead channel or intercept routine
	shut
	eof
	EOF
'

test_expect 'dead from the start (h extension): no initial HANGUP' '
	printf "ANSWER\nGET VARIABLE X\n" >"$T_DIR/steps" &&
	serve && emu -D -v X=1 127.0.0.1:$PORT && served &&
	test_cmp "$T_DIR/conv" <<-\EOF &&
	env-end
	> ANSWER\n
	< 511 Command Not Permitted on a dead channel or intercept routine
	> GET VARIABLE X\n
	< 200 result=1 (1)
	shut
	< HANGUP
	eof
	EOF
	has "call 0 agistatus=SUCCESS commands=2 errors=1 pipelined=0 hungup=no closed_by=server"
'

test_expect 'failure line: HANGUP, close, AGISTATUS=FAILURE' '
	printf "NOOP\nfailure because I say so\n" >"$T_DIR/steps" &&
	serve && emu 127.0.0.1:$PORT && served &&
	test_cmp "$T_DIR/conv" <<-\EOF &&
	env-end
	> NOOP\n
	< 200 result=0
	> failure because I say so\n
	< HANGUP
	eof
	EOF
	has "call 0 agistatus=FAILURE commands=1 errors=0 pipelined=0 hungup=no closed_by=asterisk"
'

# A long line as the last step: the half-close (EOF keeps the socket
# readable) runs its rest even when that rest waits in the stdio buffer.
# (Sending another command instead races with that rest, as on Asterisk.)
long_line() {
	printf "%s\n" "$2" >"$T_DIR/steps" &&
	serve && emu -V "$1" 127.0.0.1:$PORT && served &&
	cut -c1-40 "$T_DIR/conv" >"$T_DIR/replies"
}

test_expect 'over-long lines: cut at 8191 (22.6.0) or 2047 (21.10.0) bytes' '
	long_line 22.6.0 "long:9018:SET VARIABLE HUGE y" &&
	test_cmp "$T_DIR/replies" <<-\EOF &&
	env-end
	> SET VARIABLE HUGE yyyyyyyyyyyyyyyyyyyy
	< 200 result=1
	shut
	< 510 Invalid or unknown command
	< HANGUP
	eof
	EOF
	grep "^var HUGE=" "$T_DIR/emu.out" | awk "{ print length(\$0) }" >"$T_DIR/n" &&
	echo 8182 | test_cmp "$T_DIR/n" &&
	has "call 0 agistatus=SUCCESS commands=2 errors=1 pipelined=0 hungup=no closed_by=server" &&
	long_line 22.6.0 "long:9000:GET VARIABLE HUGE y" &&
	test_cmp "$T_DIR/replies" <<-\EOF &&
	env-end
	> GET VARIABLE HUGE yyyyyyyyyyyyyyyyyyyy
	< 520-Invalid command syntax.  Proper us
	< Returns <literal>0</literal> if <repla
	< Example return code: 200 result=1 (tes
	< 520 End of proper usage.
	shut
	< 510 Invalid or unknown command
	< HANGUP
	eof
	EOF
	long_line 21.10.0 "long:3000:SET VARIABLE HUGE y" &&
	grep "^var HUGE=" "$T_DIR/emu.out" | awk "{ print length(\$0) }" >"$T_DIR/n" &&
	echo 2038 | test_cmp "$T_DIR/n" &&
	grep -c "^< 510 " "$T_DIR/conv" >"$T_DIR/n" &&
	echo 1 | test_cmp "$T_DIR/n" &&
	long_line 21.10.0 "long:2047:SET VARIABLE FITS y" &&
	grep "^var FITS=" "$T_DIR/emu.out" | awk "{ print length(\$0) }" >"$T_DIR/n" &&
	echo 2037 | test_cmp "$T_DIR/n" &&
	! grep -q "^< 510 " "$T_DIR/conv" &&
	long_line 22.6.0 "long:8191:SET VARIABLE FITS y" &&
	grep "^var FITS=" "$T_DIR/emu.out" | awk "{ print length(\$0) }" >"$T_DIR/n" &&
	echo 8181 | test_cmp "$T_DIR/n" &&
	! grep -q "^< 510 " "$T_DIR/conv"
'

test_expect 'GET VARIABLE cuts at 1023 characters, GET FULL VARIABLE does not' '
	long=$(printf "%05000d" 0) &&
	printf "GET VARIABLE LONG\nGET FULL VARIABLE \${LONG}\n" >"$T_DIR/steps" &&
	serve && emu -v "LONG=$long" 127.0.0.1:$PORT && served &&
	grep "^< 200" "$T_DIR/conv" | awk "{ print length(\$0) }" >"$T_DIR/lens" &&
	test_cmp "$T_DIR/lens" <<-\EOF
	1040
	5017
	EOF
'

test_expect 'pipelined commands wait in the stdio buffer for new bytes' '
	cat >"$T_DIR/steps" <<-\EOF &&
	n:NOOP one\nVERBOSE two\nGET VARIABLE CHANNEL\n
	r:1
	ANSWER
	r:2
	EOF
	serve && emu -t 127.0.0.1:$PORT && served &&
	test_cmp "$T_DIR/conv" <<-\EOF &&
	env-end
	> NOOP one\nVERBOSE two\nGET VARIABLE CHANNEL\n
	< 200 result=0
	> ANSWER\n
	< 200 result=1
	< 200 result=1 (Local/t@agi-0000000e;2)
	< 200 result=0
	shut
	< HANGUP
	eof
	EOF
	grep -E "^(S>|A< [0-9H]|-- new bytes)" "$T_DIR/emu.out" >"$T_DIR/tr" &&
	test_cmp "$T_DIR/tr" <<-\EOF &&
	S> NOOP one
	A< 200 result=0
	-- new bytes: 33 buffered bytes run now
	S> VERBOSE two
	A< 200 result=1
	-- new bytes: 21 buffered bytes run now
	S> GET VARIABLE CHANNEL
	A< 200 result=1 (Local/t@agi-0000000e;2)
	S> ANSWER
	A< 200 result=0
	A< HANGUP
	EOF
	has "call 0 agistatus=SUCCESS commands=4 errors=0 pipelined=3 hungup=no closed_by=server"
'

test_expect 'a NUL byte makes Asterisk join the next line' '
	printf "x:GET VARIABLE X\\\\0junk\\\\nGET VARIABLE Y\\\\n\n" >"$T_DIR/steps" &&
	serve && emu -v X=1 127.0.0.1:$PORT && served &&
	grep -c "^< 520-" "$T_DIR/conv" >"$T_DIR/n" &&
	echo 1 | test_cmp "$T_DIR/n"
'

test_expect 'reloads: RELOADSTATUS, unknown module, injected failure, log' '
	cat >"$T_DIR/steps" <<-\EOF &&
	EXEC Reload chan_iax2
	GET VARIABLE RELOADSTATUS
	EXEC Reload "chan_iax2,res_crypto"
	GET VARIABLE RELOADSTATUS
	EXEC Reload nonexistent
	GET VARIABLE RELOADSTATUS
	EXEC Reload
	EXEC Reload res_crypto.so
	EOF
	rm -f "$T_DIR/reload.log" &&
	serve && emu -F 1 -L "$T_DIR/reload.log" 127.0.0.1:$PORT && served &&
	grep "^<" "$T_DIR/conv" >"$T_DIR/replies" &&
	test_cmp "$T_DIR/replies" <<-\EOF &&
	< 200 result=0
	< 200 result=1 (FAILURE)
	< 200 result=0
	< 200 result=1 (SUCCESS)
	< 200 result=0
	< 200 result=1 (FAILURE)
	< 200 result=0
	< 200 result=0
	< HANGUP
	EOF
	test_cmp "$T_DIR/emu.out" <<-\EOF &&
	call 0 agistatus=SUCCESS commands=8 errors=0 pipelined=0 hungup=no closed_by=server
	reload chan_iax2 status=FAILURE reason=injected
	reload chan_iax2,res_crypto status=SUCCESS
	reload nonexistent status=FAILURE reason=unknown-module
	reload (all) status=SUCCESS
	reload res_crypto.so status=SUCCESS
	total calls=1 reloads=3 refused=0 errors=0 pipelined=0
	EOF
	sed "s/ ts=.*//" "$T_DIR/reload.log" >"$T_DIR/rl" &&
	test_cmp "$T_DIR/rl" <<-\EOF
	reload chan_iax2,res_crypto
	reload (all)
	reload res_crypto.so
	EOF
'

test_expect 'concurrent reloads: one runs, the other is refused' '
	printf "EXEC Reload chan_iax2\nGET VARIABLE RELOADSTATUS\n" >"$T_DIR/steps" &&
	serve -n 2 && emu -n 2 -P 2 -R 1000 127.0.0.1:$PORT && served &&
	grep -c "(SUCCESS)" "$T_DIR/conv" >"$T_DIR/n" &&
	grep -c "(FAILURE)" "$T_DIR/conv" >>"$T_DIR/n" &&
	printf "1\n1\n" | test_cmp "$T_DIR/n" &&
	has "total calls=2 reloads=1 refused=1 errors=0 pipelined=0" &&
	grep -q "^reload chan_iax2 status=FAILURE reason=busy$" "$T_DIR/emu.out"
'

test_expect 'parallel calls differ by %d' '
	printf "GET VARIABLE V\n" >"$T_DIR/steps" &&
	serve -n 3 && emu -n 3 -P 3 -s "s%d" -a "a%d" -v "V=v%d%%" \
	    127.0.0.1:$PORT && served &&
	grep -E "agi_(network_script|uniqueid|arg_1)|< 200" "$T_DIR/srv.out" |
	    sed "s/^\[[0-9]\] //" | sort >"$T_DIR/got" &&
	test_cmp "$T_DIR/got" <<-\EOF &&
	< 200 result=1 (v0%)
	< 200 result=1 (v1%)
	< 200 result=1 (v2%)
	env agi_arg_1: a0
	env agi_arg_1: a1
	env agi_arg_1: a2
	env agi_network_script: s0
	env agi_network_script: s1
	env agi_network_script: s2
	env agi_uniqueid: nodeA-1795706440.43
	env agi_uniqueid: nodeA-1795706440.44
	env agi_uniqueid: nodeA-1795706440.45
	EOF
	grep -c "^call [012] agistatus=SUCCESS commands=1 " "$T_DIR/emu.out" >"$T_DIR/n" &&
	echo 3 | test_cmp "$T_DIR/n"
'

test_expect 'partial env block, raw file, one byte per write' '
	printf "n:NOOP\\\\n\n" >"$T_DIR/steps" &&
	serve -w agi_request && emu -p 2 -t 127.0.0.1:$PORT && served &&
	grep -c "^env " "$T_DIR/srv.out" >"$T_DIR/n" &&
	echo 2 | test_cmp "$T_DIR/n" &&
	has "call 0 agistatus=SUCCESS commands=0 errors=0 pipelined=0 hungup=no closed_by=server" &&
	has "S> NOOP" &&
	printf "agi_network: yes\nagi_x: 1\nagi_x: 2\n\n" >"$T_DIR/raw" &&
	printf "NOOP\n" >"$T_DIR/steps" &&
	serve && emu -b -r "$T_DIR/raw" 127.0.0.1:$PORT && served &&
	test_cmp "$T_DIR/srv.out" <<-\EOF
	env agi_network: yes
	env agi_x: 1
	env agi_x: 2
	env-end
	> NOOP\n
	< 200 result=0
	shut
	< HANGUP
	eof
	EOF
'

test_expect 'no listener: AGISTATUS=FAILURE; deadline: closed_by=timeout' '
	: >"$T_DIR/steps" &&
	serve && emu 127.0.0.1:$PORT && served &&
	emu 127.0.0.1:$PORT &&
	has "call 0 agistatus=FAILURE commands=0 errors=0 pipelined=0 hungup=no closed_by=none" &&
	emu "agi://127.0.0.1:$PORT?x=1" &&
	has "call 0 agistatus=FAILURE commands=0 errors=0 pipelined=0 hungup=no closed_by=none" &&
	printf "r:1\n" >"$T_DIR/steps" &&
	serve && emu -T 200 127.0.0.1:$PORT && served &&
	has "call 0 agistatus=SUCCESS commands=0 errors=0 pipelined=0 hungup=no closed_by=timeout"
'

test_expect 'SET CONTEXT/EXTENSION/PRIORITY are reported' '
	printf "SET CONTEXT ctx\nSET EXTENSION 100\nSET PRIORITY 5\n" >"$T_DIR/steps" &&
	serve && emu 127.0.0.1:$PORT && served &&
	test_cmp "$T_DIR/emu.out" <<-\EOF
	call 0 agistatus=SUCCESS commands=3 errors=0 pipelined=0 hungup=no closed_by=server
	context ctx
	extension 100
	priority 5
	total calls=1 reloads=0 refused=0 errors=0 pipelined=0
	EOF
'

test_expect 'usage errors exit 2' '
	{ "$EMU" >/dev/null 2>&1; test $? -eq 2; } &&
	{ "$EMU" -Z 127.0.0.1:1 >/dev/null 2>&1; test $? -eq 2; } &&
	{ "$EMU" -H never 127.0.0.1:1 >/dev/null 2>&1; test $? -eq 2; } &&
	{ "$EMU" -s x agi://127.0.0.1:1/y >/dev/null 2>&1; test $? -eq 2; } &&
	"$EMU" -h | grep -q "^usage: fake-asterisk"
'

test_done
