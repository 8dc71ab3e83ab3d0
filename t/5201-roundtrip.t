#!/bin/bash
# The whole story across the key server: node A makes its key (iaxkeyd
# -k) and publishes it (console "key upload" with the enrolment token);
# node B gets A's fallback call, fetches A's key from iaxkey-server through
# the inbound flow and installs it; B's next call from A is RSA.
. "$(dirname "$0")/lib/keyserver.sh"

[ -x "$KSRV" ] || { echo "1..0 # skip no keyserver/iaxkey-server"; exit 0; }

B=$T_DIR/b
B_PID=
trap 't_cleanup; [ -n "$B_PID" ] && kill -9 $B_PID 2>/dev/null' EXIT

test_expect 'key server, a token for nodeA' '
	ksrv_conf </dev/null && ksrv_start &&
	"$KSRV" -f "$T_DIR/ksrv.conf" token add nodeA >tok &&
	[ -n "$(cat tok)" ]
'

# Node A: config, key, daemon, console.
test_expect 'node A: iaxkeyd -k makes the key pair' '
	KS_URL="$KSRV_URL/v1/keys/{node}" KEYSERVER_EXTRA="enroll_token = $(cat tok)" \
	    iaxkeyd_conf </dev/null &&
	sed -i "s/^name = testnode/name = nodeA/" "$T_DIR/iaxkeyd.conf" &&
	"$IKD" -k -f "$T_DIR/iaxkeyd.conf" >out &&
	[ -s "$T_DIR/keys/nodeA.key" ] && [ -s "$T_DIR/keys/nodeA.pub" ]
'

test_expect 'node A: key upload publishes it (201 with the token)' '
	iaxkeyd_start && admin_port &&
	adm "key upload" >out &&
	tail -n 1 out | grep -qx OK &&
	curl -s "$KSRV_URL/v1/keys/nodeA" >served.pub &&
	cmp served.pub "$T_DIR/keys/nodeA.pub" &&
	! grep -q "$(cat tok)" "$T_DIR/daemon.log"
'

test_expect 'node B: a second iaxkeyd with the key server as its url' '
	mkdir -p "$B/ast" "$B/keys" &&
	sed -e "s|$T_DIR/ast|$B/ast|; s|$T_DIR/keys|$B/keys|" \
	    -e "s|$T_DIR/state.db|$B/state.db|; s/^name = nodeA/name = nodeB/" \
	    -e "/^enroll_token/d" "$T_DIR/iaxkeyd.conf" >"$B/iaxkeyd.conf" &&
	"$IKD" -n -f "$B/iaxkeyd.conf" >/dev/null &&
	{ "$IKD" -d -f "$B/iaxkeyd.conf" >"$B/daemon.log" 2>&1 & B_PID=$!; } &&
	wait_log "event=start " "$B/daemon.log" &&
	B_PORT=$(sed -n "s/.*event=listen what=agi addr=127.0.0.1:\([0-9]*\).*/\1/p" \
	    "$B/daemon.log" | head -n 1) && [ -n "$B_PORT" ]
'

test_expect 'A calls B by MD5: B fetches A'"'"'s key, installs it, reloads' '
	"$EMU" -L "$B/reloads" -s inbound -a nodeA -a MD5 "127.0.0.1:$B_PORT" >out &&
	grep -qx "var IAXKEY_STATUS=FALLBACK" out &&
	grep -qx "var IAXKEY_KEY=NEW" out &&
	grep -qx "var IAXKEY_FINGERPRINT=$(fingerprint "$T_DIR/keys/nodeA.pub")" out &&
	cmp "$T_DIR/keys/nodeA.pub" "$B/keys/nodeA.pub" &&
	grep -qx "inkeys=nodeA" "$B/ast/iaxkeyd-users.conf" &&
	grep -q "^reload chan_iax2,res_crypto " "$B/reloads"
'

test_expect 'the installed key loads as a 1024-bit RSA public key' '
	openssl rsa -pubin -in "$B/keys/nodeA.pub" -noout -text 2>/dev/null |
	    grep -q "Public-Key: (1024 bit)"
'

test_expect 'the next call from A passes RSA: nothing fetched' '
	n=$(grep -c "event=key_fetch node=nodeA " "$B/daemon.log") &&
	"$EMU" -s inbound -a nodeA -a RSA "127.0.0.1:$B_PORT" >out &&
	grep -qx "var IAXKEY_STATUS=RSA" out &&
	wait_log "event=inbound .*node=nodeA status=RSA" "$B/daemon.log" &&
	[ "$(grep -c "event=key_fetch node=nodeA " "$B/daemon.log")" = "$n" ]
'

test_expect 'A dials B: RSA+AES peer with outkey nodeA' '
	emu -s outbound -a "IAX2/net:s3cr3t@127.0.0.1:4570/100" >out &&
	grep -qx "var IAXKEY_STATUS=OK" out &&
	grep -qx "outkey=nodeA" "$T_DIR/ast/iaxkeyd-peers.conf"
'

test_expect 'both daemons stop cleanly' '
	kill -TERM $B_PID && wait $B_PID && B_PID= &&
	! grep -E -q "AddressSanitizer|runtime error:" "$B/daemon.log" &&
	iaxkeyd_stop && ksrv_stop
'
test_done
