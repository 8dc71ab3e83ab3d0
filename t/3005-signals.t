#!/bin/bash
# SIGTERM drains (listener first, sessions up to drain_timeout_ms, exit 0),
# SIGHUP reloads the configuration (a bad file keeps the old one), SIGUSR1
# reopens the log file.
. "$(dirname "$0")/lib/iaxkeyd.sh"

ENV_TIMEOUT_MS=60000
iaxkeyd_conf <<EOF2
[daemon]
pid_file = $T_DIR/iaxkeyd.pid
EOF2
sed -i "s|^syslog = no|syslog = no\nfile = $T_DIR/ops.log|" "$T_DIR/iaxkeyd.conf"

test_expect 'daemon starts, pid file written' '
	iaxkeyd_start &&
	[ "$(cat "$T_DIR/iaxkeyd.pid")" = "$IKD_PID" ]
'

test_expect 'the log file gets the same events as stderr' '
	grep -q "event=listen what=agi addr=127.0.0.1:$AGI_PORT" "$T_DIR/ops.log"
'

test_expect 'SIGHUP with a bad file: error logged, old config kept' '
	cp "$T_DIR/iaxkeyd.conf" "$T_DIR/good.conf" &&
	printf "[agi]\nbogus_key = 1\n" >>"$T_DIR/iaxkeyd.conf" &&
	kill -HUP $IKD_PID &&
	wait_log "event=config_reload file=.* status=error reason=\".*agi:bogus_key.*\"" &&
	emu -s ping >out &&
	grep -qx "var IAXKEY_STATUS=OK" out
'

test_expect 'SIGHUP with a good file: applied (log level now warn)' '
	sed "s/^level = debug/level = warn/" "$T_DIR/good.conf" >"$T_DIR/iaxkeyd.conf" &&
	kill -HUP $IKD_PID &&
	wait_log "event=config_reload file=.* status=ok" &&
	n=$(count_log "event=session_end") &&
	emu -s ping >out &&
	grep -qx "var IAXKEY_STATUS=OK" out &&
	emu -s nosuch >out &&
	[ "$(count_log "event=session_end")" = "$n" ]
'

test_expect 'SIGUSR1 reopens the log file after rotation' '
	cp "$T_DIR/good.conf" "$T_DIR/iaxkeyd.conf" &&
	kill -HUP $IKD_PID &&
	wait_log "status=ok" "$T_DIR/ops.log" &&
	mv "$T_DIR/ops.log" "$T_DIR/ops.log.1" &&
	kill -USR1 $IKD_PID &&
	emu -s ping >out &&
	wait_log "event=session_end .*script=ping" "$T_DIR/ops.log"
'

test_expect 'SIGTERM: listener closed first, held session finishes' '
	emu_bg "$T_DIR/held" -p 3 -T 60000 && H=$EMU_PID &&
	wait_log "event=session_start" &&
	kill -TERM $IKD_PID &&
	wait_log "event=shutdown phase=drain signal=TERM active=1" &&
	emu -s ping >out &&
	grep -q "agistatus=FAILURE .*closed_by=none" out &&
	kill -0 $IKD_PID &&
	kill $H && wait $H;
	wait $IKD_PID; rc=$?; IKD_PID=; [ $rc = 0 ] &&
	grep -q "event=shutdown phase=done" "$T_DIR/daemon.log" &&
	[ ! -e "$T_DIR/iaxkeyd.pid" ]
'

DRAIN_TIMEOUT_MS=200
iaxkeyd_conf
test_expect 'SIGTERM: a session still open at drain_timeout_ms is closed' '
	iaxkeyd_start &&
	emu_bg "$T_DIR/held" -p 3 -T 60000 && H=$EMU_PID &&
	wait_log "event=session_start" &&
	kill -TERM $IKD_PID &&
	wait $IKD_PID; rc=$?; IKD_PID=; [ $rc = 0 ] &&
	wait $H &&
	grep -q "closed_by=server" "$T_DIR/held" &&
	grep -q "event=session_end .*reason=shutdown" "$T_DIR/daemon.log"
'
test_done
