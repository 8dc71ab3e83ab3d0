#!/bin/bash
# Faults of the key server during an inbound fallback call: refused
# connection, timeout, a connection reset or closed mid-body, 500, garbage,
# a body that never ends.  Each time the call gets IAXKEY_STATUS=FALLBACK
# and IAXKEY_KEY=FAILED, is steered to fallback_context, the key_fetch
# line says why, and no key file, inkeys entry or installed row appears.
# With wait_ms shorter than the fetch, the call is answered PENDING first.
. "$(dirname "$0")/lib/iaxkeyd.sh"

USERS=$T_DIR/ast/iaxkeyd-users.conf

# The call from node $1 fell back: status, steering, nothing installed.
fell_back() {
	grep -qx "var IAXKEY_STATUS=FALLBACK" out &&
	grep -qx "var IAXKEY_KEY=${2:-FAILED}" out &&
	grep -qx "context from-net-fallback" out &&
	grep -qx "priority 1" out &&
	grep -q "closed_by=server" out &&
	nothing_installed "$1"
}

# No trace of node $1's key: file, temp file, inkeys, store row.
nothing_installed() {
	[ ! -e "$T_DIR/keys/$1.pub" ] &&
	! ls -a "$T_DIR/keys" | grep -q "^\.$1\.pub" &&
	{ [ ! -e "$USERS" ] || ! grep -q "$1" "$USERS"; } &&
	[ "$(sqlite3 "$T_DIR/state.db" \
	    "SELECT count(*) FROM keys WHERE node = '$1' AND installed")" = 0 ]
}

# The daemon's key_fetch line for node $1 failed with a reason matching $2.
fetch_failed() {
	wait_log "event=key_fetch node=$1 source=inbound .*result=FAILED .*reason=\"?key server: $2" &&
	grep -q "^var IAXKEY_REASON=key server: " out
}

INBOUND_EXTRA="fallback_context = from-net-fallback,s,1"

test_expect 'refused connection' '
	ks_start && port=$KS_PORT && ks_stop &&
	KS_URL="http://127.0.0.1:$port/v1/keys/{node}" iaxkeyd_conf &&
	own_key && iaxkeyd_start &&
	emu -s inbound -a nodeR -a MD5 >out &&
	fell_back nodeR &&
	fetch_failed nodeR ".*([Cc]onnection refused|[Cc]ould not connect|[Cc]ouldn.t connect)" &&
	[ "$(sqlite3 "$T_DIR/state.db" "SELECT status FROM keys WHERE node = '\''nodeR'\''")" = FAILED ] &&
	iaxkeyd_stop
'

test_expect 'key server stub' 'ks_start'
KS_URL="http://127.0.0.1:$KS_PORT/v1/keys/{node}"

# A short timeout_ms for the server that never answers in full; the
# replies of the other faults come at once, with no deadline in sight.
test_expect 'daemon on the stub, timeout_ms = 500' '
	KS_TIMEOUT_MS=500 iaxkeyd_conf && iaxkeyd_start
'

test_expect 'timeout: the server never answers' '
	echo hang >"$T_DIR/ks/nodeT.behave" &&
	emu -s inbound -a nodeT -a MD5 >out &&
	fell_back nodeT &&
	fetch_failed nodeT ".*[Tt]imed out" &&
	[ "$(ks_count nodeT)" = 1 ]
'

test_expect 'a body that never ends' '
	echo endless >"$T_DIR/ks/nodeE.behave" &&
	emu -s inbound -a nodeE -a MD5 >out &&
	fell_back nodeE &&
	fetch_failed nodeE ".*[Tt]imed out"
'

test_expect 'daemon on the stub, the default timeout_ms' '
	iaxkeyd_stop && iaxkeyd_conf && iaxkeyd_start
'

test_expect 'reset mid-body (RST after part of the key)' '
	ks_key nodeX && echo "partial 100 reset" >"$T_DIR/ks/nodeX.behave" &&
	emu -s inbound -a nodeX -a MD5 >out &&
	fell_back nodeX &&
	fetch_failed nodeX ".*([Cc]onnection reset|[Rr]ecv failure)" &&
	[ "$(ks_count nodeX)" = 1 ]
'

test_expect 'closed mid-body (FIN after part of the key)' '
	ks_key nodeC && echo "partial 100" >"$T_DIR/ks/nodeC.behave" &&
	emu -s inbound -a nodeC -a MD5 >out &&
	fell_back nodeC &&
	fetch_failed nodeC ".*transfer closed with [0-9]+ bytes remaining"
'

test_expect 'HTTP 500' '
	ks_key node5 && echo "status 500" >"$T_DIR/ks/node5.behave" &&
	emu -s inbound -a node5 -a MD5 >out &&
	fell_back node5 &&
	wait_log "event=key_fetch node=node5 .*result=FAILED .*reason=\"key server: HTTP 500\"" &&
	grep -qx "var IAXKEY_REASON=key server: HTTP 500" out
'

test_expect 'garbage body (200 with random bytes)' '
	echo "garbage 700" >"$T_DIR/ks/nodeG.behave" &&
	emu -s inbound -a nodeG -a MD5 >out &&
	fell_back nodeG &&
	wait_log "event=key_fetch node=nodeG .*result=FAILED .*reason=\"bad key: " &&
	grep -q "^var IAXKEY_REASON=bad key: " out
'

test_expect 'the same node once the key server is fine again: NEW' '
	rm "$T_DIR/ks/node5.behave" &&
	emu -s inbound -a node5 -a MD5 >out &&
	grep -qx "var IAXKEY_KEY=NEW" out &&
	cmp "$T_DIR/ks/node5.pub" "$T_DIR/keys/node5.pub" &&
	grep -q "^inkeys=.*node5" "$USERS"
'

test_expect 'wait_ms shorter than the fetch: PENDING now, FAILED later' '
	iaxkeyd_stop && KS_TIMEOUT_MS=1500 WAIT_MS=100 iaxkeyd_conf &&
	iaxkeyd_start &&
	echo hang >"$T_DIR/ks/nodeW.behave" &&
	emu -s inbound -a nodeW -a MD5 >out &&
	fell_back nodeW PENDING &&
	grep -qx "var IAXKEY_REASON=key fetch or reload still running" out &&
	wait_log "event=key_fetch node=nodeW .*result=FAILED .*reason=\"key server: .*[Tt]imed out" &&
	a=$(grep -n "event=inbound .*node=nodeW status=FALLBACK key=PENDING" "$T_DIR/daemon.log" | cut -d: -f1) &&
	b=$(grep -n "event=key_fetch node=nodeW" "$T_DIR/daemon.log" | cut -d: -f1) &&
	[ -n "$a" ] && [ -n "$b" ] && [ "$a" -lt "$b" ] &&
	nothing_installed nodeW
'

test_expect 'clean shutdown' 'iaxkeyd_stop && ks_stop'
test_done
