#!/bin/bash
# iaxkeyd -n, bad configurations at start, detaching with readiness.
. "$(dirname "$0")/lib/iaxkeyd.sh"

iaxkeyd_conf

test_expect '-n on a valid file: "configuration OK", exit 0' '
	"$IKD" -n -f "$T_DIR/iaxkeyd.conf" >out &&
	grep -qx "configuration OK" out
'

test_expect '-n on the shipped samples' '
	"$IKD" -n -f "$T_TOP/etc/iaxkeyd.conf" >out &&
	grep -qx "configuration OK" out &&
	"$IKD" -n -f "$T_TOP/etc/iaxkeyd.local.conf" >out &&
	grep -qx "configuration OK" out
'

test_expect '-n names file, section:key and reason, exit 1' '
	printf "[agi]\nmax_sessions = lots\n" >"$T_DIR/bad.conf" &&
	! "$IKD" -n -f "$T_DIR/bad.conf" 2>err &&
	grep -q "$T_DIR/bad.conf: agi:max_sessions: " err
'

test_expect 'unknown section and key are errors' '
	printf "[nosuch]\nx = 1\n" >"$T_DIR/bad.conf" &&
	! "$IKD" -n -f "$T_DIR/bad.conf" 2>err &&
	grep -q "nosuch" err &&
	printf "[agi]\nlisten_port = 1\n" >"$T_DIR/bad.conf" &&
	! "$IKD" -n -f "$T_DIR/bad.conf" 2>err &&
	grep -q "agi:listen_port" err
'

test_expect 'a bad address names the key' '
	printf "[agi]\nlisten = 127.0.0.1:65536\n" >"$T_DIR/bad.conf" &&
	! "$IKD" -n -f "$T_DIR/bad.conf" 2>err &&
	grep -q "agi:listen" err
'

test_expect 'a secret never appears in an error' '
	printf "[admin]\npassword = hunter2\x01x\n" >"$T_DIR/bad.conf" &&
	! "$IKD" -n -f "$T_DIR/bad.conf" 2>err &&
	grep -q "admin:password" err &&
	! grep -q hunter2 err
'

test_expect 'a missing file: exit 1 with the reason' '
	! "$IKD" -n -f "$T_DIR/nosuch.conf" 2>err &&
	grep -q "nosuch.conf" err
'

test_expect 'a port already in use: exit 1 with the address' '
	iaxkeyd_start &&
	sed "s/^listen = 127.0.0.1:0/listen = 127.0.0.1:$AGI_PORT/" \
	    "$T_DIR/iaxkeyd.conf" >"$T_DIR/busy.conf" &&
	! bounded "$IKD" -d -f "$T_DIR/busy.conf" 2>err &&
	grep -q "listen 127.0.0.1:$AGI_PORT: Address already in use" err &&
	iaxkeyd_stop
'

test_expect 'a corrupt state store: exit 1, the reason says so' '
	rm -f "$T_DIR/state.db-wal" "$T_DIR/state.db-shm" &&
	head -c 4096 /dev/urandom >"$T_DIR/state.db" &&
	! bounded "$IKD" -d -f "$T_DIR/iaxkeyd.conf" >err 2>&1 &&
	grep -q "state store: $T_DIR/state.db: file is not a database" err &&
	rm -f "$T_DIR/state.db"
'

test_expect 'without -d: returns once listening, serves at once' '
	sed "s|^syslog = no|syslog = no\nfile = $T_DIR/ops.log|" \
	    "$T_DIR/iaxkeyd.conf" >"$T_DIR/bg.conf" &&
	printf "[daemon]\npid_file = $T_DIR/bg.pid\n" >>"$T_DIR/bg.conf" &&
	"$IKD" -f "$T_DIR/bg.conf" &&
	pid=$(cat "$T_DIR/bg.pid") &&
	port=$(sed -n "s/.*event=listen what=agi addr=127.0.0.1:\([0-9]*\).*/\1/p" "$T_DIR/ops.log") &&
	"$EMU" -s ping "127.0.0.1:$port" >out &&
	grep -qx "var IAXKEY_STATUS=OK" out &&
	kill -TERM $pid &&
	wait_log "event=shutdown phase=done" "$T_DIR/ops.log"
'
test_done
