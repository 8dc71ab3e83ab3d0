#!/bin/bash
# Malformed and hostile byte streams end that session cleanly with a log
# line; the daemon keeps serving, nothing crashes.
. "$(dirname "$0")/lib/iaxkeyd.sh"

ENV_TIMEOUT_MS=500
iaxkeyd_conf
test_expect 'daemon starts' 'iaxkeyd_start'

# Feed a raw file; the daemon must close without running a handler.
raw_closed() {
	emu -r "$1" >out &&
	grep -q "closed_by=server" out &&
	! grep -q "^var " out
}

test_expect 'an HTTP request instead of an env block' '
	printf "GET / HTTP/1.1\nHost: 127.0.0.1\n\n" >"$T_DIR/http" &&
	raw_closed "$T_DIR/http" &&
	wait_log "event=session_end .*status=none .*reason=\"malformed environment line\""
'

test_expect 'binary garbage' '
	printf "\x01\x02\xff\xfe:\x80 \n\n" >"$T_DIR/bin" &&
	raw_closed "$T_DIR/bin"
'

test_expect 'a NUL byte inside an env line' '
	printf "agi_network: y\000es\nagi_request: x\n\n" >"$T_DIR/nul" &&
	raw_closed "$T_DIR/nul" &&
	wait_log "reason=\"NUL byte in line\""
'

test_expect 'an env line longer than 8192 bytes' '
	{ printf "agi_network: "; head -c 9000 /dev/zero | tr "\0" x; printf "\n\n"; } >"$T_DIR/long" &&
	raw_closed "$T_DIR/long" &&
	wait_log "reason=\"line too long\""
'

test_expect '20 random blobs: each session closed, daemon alive' '
	for i in $(seq 20); do
		head -c 3000 /dev/urandom >"$T_DIR/rnd" &&
		emu -r "$T_DIR/rnd" >out || return 1
		grep -q "closed_by=server" out || return 1
	done
'

test_expect 'env never finished: closed at env_timeout_ms' '
	emu -p 4 >out &&
	grep -q "closed_by=server" out &&
	wait_log "event=session_end .*reason=\"env timeout\""
'

test_expect 'an empty block (just a blank line)' '
	printf "\n" >"$T_DIR/empty" &&
	raw_closed "$T_DIR/empty" &&
	wait_log "reason=\"empty environment\""
'

test_expect 'a duplicated key is rejected, not resolved: ERROR' '
	printf "agi_network: yes\nagi_network_script: ping\nagi_request: agi://x/ping\nagi_network_script: ping\n\n" >"$T_DIR/dup" &&
	emu -r "$T_DIR/dup" >out &&
	grep -qx "var IAXKEY_STATUS=ERROR" out &&
	grep -qx "var IAXKEY_REASON=invalid AGI environment" out &&
	wait_log "reason=\"duplicate environment key\""
'

test_expect 'an argument with a newline injecting a duplicate key' '
	emu -s ping -a "$(printf "x\nagi_network: no")" >out &&
	grep -qx "var IAXKEY_STATUS=ERROR" out
'

test_expect 'an argument injecting an empty line: protocol error, closed' '
	emu -s ping -a "$(printf "x\n\nagi_z: 1")" -a second >out &&
	grep -q "closed_by=server" out &&
	wait_log "reason=\"protocol: bad reply\""
'

test_expect 'the daemon still serves' '
	emu -s ping >out &&
	grep -qx "var IAXKEY_STATUS=OK" out
'

test_expect 'clean shutdown, no sanitizer report' 'iaxkeyd_stop'
test_done
