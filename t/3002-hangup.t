#!/bin/bash
# HANGUP anywhere (asterisk.md §1.6): before a command, before a reply,
# AGIEXITONHANGUP, AGISIGHUP=no, dead from the start.  Every case ends
# cleanly and the daemon keeps serving.
. "$(dirname "$0")/lib/iaxkeyd.sh"

iaxkeyd_conf
test_expect 'daemon starts' 'iaxkeyd_start'

test_expect 'hangup right after the env: dead-safe SET VARIABLE still sent' '
	emu -t -H before -s ping >out &&
	grep -q "^call 0 agistatus=HANGUP .*errors=0 pipelined=0 hungup=yes closed_by=server" out &&
	grep -qx "var IAXKEY_STATUS=OK" out &&
	[ "$(grep -c "^A< HANGUP$" out)" = 2 ]
'

test_expect 'HANGUP directly before the reply is skipped, reply still read' '
	emu -H reply:1 -s ping >out &&
	grep -q "errors=0 pipelined=0 hungup=yes closed_by=server" out &&
	grep -qx "var IAXKEY_STATUS=OK" out
'

test_expect 'hangup after the last reply (HANGUP twice at the end)' '
	emu -H after:1 -s nosuch >out &&
	grep -q "errors=0 pipelined=0 hungup=yes closed_by=server" out &&
	grep -qx "var IAXKEY_REASON=unknown script" out
'

test_expect 'AGIEXITONHANGUP: Asterisk closes first' '
	emu -X -H before -s ping >out &&
	grep -q "closed_by=asterisk" out &&
	wait_log "event=session_end .*reason=(hangup|\"reset by asterisk\")"
'

test_expect 'AGISIGHUP=no: no HANGUP lines, session still ends' '
	emu -N -H after:1 -s nosuch >out &&
	grep -q "errors=0 pipelined=0 hungup=yes closed_by=server" out
'

test_expect 'AGI on a dead channel (h extension): dead-safe commands only' '
	emu -D -s ping >out &&
	grep -q "errors=0 pipelined=0" out &&
	grep -qx "var IAXKEY_STATUS=OK" out
'

test_expect 'caller hangs up while the env is being sent (partial env)' '
	emu -p 5 -T 200 -s ping >out;
	grep -q "closed_by=timeout" out &&
	wait_log "event=session_end .*reason=\"closed by asterisk\""
'

test_expect 'daemon still serves after all of that' '
	emu -s ping >out &&
	grep -qx "var IAXKEY_STATUS=OK" out
'

test_expect 'clean shutdown' 'iaxkeyd_stop'
test_done
