#!/bin/bash
# ping, unknown scripts, routing on the script path, env delivery shapes.
. "$(dirname "$0")/lib/iaxkeyd.sh"

iaxkeyd_conf
test_expect 'daemon starts and logs its bound address' 'iaxkeyd_start'

test_expect 'ping sets IAXKEY_STATUS=OK and ends the session' '
	emu -s ping >out &&
	grep -qx "call 0 agistatus=SUCCESS commands=1 errors=0 pipelined=0 hungup=no closed_by=server" out &&
	grep -qx "var IAXKEY_STATUS=OK" out &&
	[ "$(grep -c ^var out)" = 1 ]
'

test_expect 'the command is quoted as Asterisk tokenizes it' '
	emu -t -s ping >out &&
	grep -qx "S> SET VARIABLE IAXKEY_STATUS \"OK\"" out &&
	grep -qx "A< HANGUP" out
'

test_expect 'session_end is logged with script, status, commands, ms' '
	wait_log "event=session_end sess=[0-9a-f]{12} uniqueid=nodeA-1795706440.43 channel=Local/t@agi-0000000e;2 script=ping status=OK cmds=1 ms=[0-9]+ reason=done"
'

test_expect 'unknown script: ERROR and reason' '
	emu -s nosuch >out &&
	grep -qx "var IAXKEY_STATUS=ERROR" out &&
	grep -qx "var IAXKEY_REASON=unknown script" out &&
	grep -q "closed_by=server" out
'

test_expect 'no script at all (agi://host/): unknown script' '
	"$EMU" "agi://127.0.0.1:$AGI_PORT/" >out &&
	grep -qx "var IAXKEY_STATUS=ERROR" out
'

test_expect 'routing ignores the query and a trailing slash' '
	emu -s "ping?x=1&y=%20" >out &&
	grep -qx "var IAXKEY_STATUS=OK" out &&
	emu -s "ping/" >out &&
	grep -qx "var IAXKEY_STATUS=OK" out
'

test_expect 'script names are case-sensitive paths' '
	emu -s PING >out &&
	grep -qx "var IAXKEY_STATUS=ERROR" out
'

test_expect 'env block one byte per write' '
	emu -b -s ping >out &&
	grep -qx "var IAXKEY_STATUS=OK" out
'

test_expect 'old release and unparsable version still work' '
	emu -V 18.20.0 -s ping >out &&
	grep -qx "var IAXKEY_STATUS=OK" out &&
	emu -V UNKNOWN__and_probably_unsupported -s ping >out &&
	grep -qx "var IAXKEY_STATUS=OK" out
'

test_expect 'hostile caller ID and arguments are escaped in the log' '
	emu -s ping -I "Evil\" injected=1" -a "x y" >out &&
	grep -qx "var IAXKEY_STATUS=OK" out &&
	! grep -q "^[^ ]* injected=1" "$T_DIR/daemon.log"
'

test_expect '200 calls, 50 at a time, all answered, none pipelined' '
	emu -n 200 -P 50 -s ping >out &&
	grep -qx "total calls=200 reloads=0 refused=0 errors=0 pipelined=0" out &&
	[ "$(grep -c "^var IAXKEY_STATUS=OK$" out)" = 200 ]
'

test_expect 'SIGTERM with no sessions: exit 0, shutdown logged' '
	iaxkeyd_stop &&
	grep -q "event=shutdown phase=drain" "$T_DIR/daemon.log" &&
	grep -q "event=shutdown phase=done" "$T_DIR/daemon.log"
'
test_done
