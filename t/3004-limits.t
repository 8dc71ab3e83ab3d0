#!/bin/bash
# max_sessions: the listener closes at the limit (connect refused, AGI()
# fails fast), never accept-then-close; it reopens when sessions end.
. "$(dirname "$0")/lib/iaxkeyd.sh"

MAX_SESSIONS=2
ENV_TIMEOUT_MS=60000
iaxkeyd_conf
test_expect 'daemon starts' 'iaxkeyd_start'

test_expect 'two held sessions reach the limit: listener closed' '
	emu_bg "$T_DIR/held1" -p 3 -T 60000 && H1=$EMU_PID &&
	emu_bg "$T_DIR/held2" -p 3 -T 60000 && H2=$EMU_PID &&
	wait_log "event=refused what=agi addr=127.0.0.1:$AGI_PORT reason=max_sessions active=2 max=2"
'

test_expect 'a third call is refused at connect: AGISTATUS=FAILURE' '
	emu -s ping >out &&
	grep -q "^call 0 agistatus=FAILURE .*closed_by=none" out &&
	[ "$(count_log "event=session_end")" = 0 ]
'

test_expect 'ending the held sessions reopens the listener on the same port' '
	kill $H1 $H2 && wait $H1 $H2;
	wait_log "event=listen what=agi addr=127.0.0.1:$AGI_PORT resumed=yes"
'

test_expect 'calls are served again' '
	emu -s ping >out &&
	grep -qx "var IAXKEY_STATUS=OK" out
'

test_expect 'clean shutdown' 'iaxkeyd_stop'
test_done
