#!/bin/bash
# inbound: the MD5 fallback call records the caller, fetches its key from
# the key server (here the evhttp stub over plain HTTP), installs it with
# inkeys, reloads once, and steers to the fallback; the next call is RSA.
. "$(dirname "$0")/lib/iaxkeyd.sh"

USERS=$T_DIR/ast/iaxkeyd-users.conf
test_expect 'key server stub' 'ks_start'
KS_URL="http://127.0.0.1:$KS_PORT/v1/keys/{node}"
MAX_SESSIONS=1000
INBOUND_EXTRA="rsa_contexts = from-net-rsa
md5_contexts = from-net-md5
negative_ttl = 300"
iaxkeyd_conf
test_expect 'daemon' 'own_key && iaxkeyd_start'

test_expect 'first MD5 call: key fetched, installed, inkeys, one reload' '
	ks_key nodeA &&
	emu -L "$T_DIR/reloads" -s inbound -a nodeA -a MD5 >out &&
	grep -qx "var IAXKEY_STATUS=FALLBACK" out &&
	grep -qx "var IAXKEY_KEY=NEW" out &&
	grep -qx "var IAXKEY_FINGERPRINT=$(fingerprint "$T_DIR/ks/nodeA.pub")" out &&
	grep -qx "var IAXKEY_REASON=" out &&
	cmp "$T_DIR/ks/nodeA.pub" "$T_DIR/keys/nodeA.pub" &&
	[ "$(stat -c %a "$T_DIR/keys/nodeA.pub")" = 644 ] &&
	grep -qx "inkeys=nodeA" "$USERS" &&
	grep -qx "\[iaxkeyd\](+)" "$USERS" &&
	ast_conf_ok "$USERS" &&
	[ "$(cat "$T_DIR/reloads" | wc -l)" = 1 ] &&
	grep -q "^reload chan_iax2,res_crypto ts=" "$T_DIR/reloads" &&
	[ "$(ks_count nodeA)" = 1 ]
'

test_expect 'the caller is recorded' '
	wait_log "event=inbound .*node=nodeA status=FALLBACK key=NEW" &&
	sqlite3 "$T_DIR/state.db" "SELECT node, count, last_result FROM callers" >db &&
	grep -qx "nodeA|1|NEW" db
'

test_expect 'the next call arrives by RSA: nothing fetched, nothing reloaded' '
	emu -s inbound -a nodeA -a RSA >out &&
	grep -qx "var IAXKEY_STATUS=RSA" out &&
	! grep -q "^reload" out &&
	[ "$(ks_count nodeA)" = 1 ]
'

test_expect 'a repeated MD5 call with the same key: UNCHANGED, no reload' '
	emu -s inbound -a nodeA -a MD5 >out &&
	grep -qx "var IAXKEY_KEY=UNCHANGED" out &&
	! grep -q "^reload" out &&
	[ "$(ks_count nodeA)" = 2 ]
'

test_expect 'method from CHANNEL(auth_method)' '
	ks_key nodeB &&
	emu -v "CHANNEL(auth_method)=MD5" -v "IAXPEER(CURRENTCHANNEL)=192.0.2.9" -s inbound -a nodeB >out &&
	grep -qx "var IAXKEY_KEY=NEW" out &&
	sqlite3 "$T_DIR/state.db" "SELECT address FROM callers WHERE node = '"'"'nodeB'"'"'" >db &&
	grep -qx "192.0.2.9" db
'

test_expect 'method from the context lists when auth_method is empty' '
	emu -c from-net-rsa -s inbound -a nodeB >out &&
	grep -qx "var IAXKEY_STATUS=RSA" out &&
	emu -c from-net-md5 -s inbound -a nodeB >out &&
	grep -qx "var IAXKEY_STATUS=FALLBACK" out &&
	emu -c elsewhere -s inbound -a nodeB >out &&
	grep -qx "var IAXKEY_STATUS=ERROR" out
'

test_expect '100 concurrent MD5 calls from one unknown node: 1 request' '
	sed -i "s/^min_refetch_s = .*/min_refetch_s = 60/" "$T_DIR/iaxkeyd.conf" &&
	kill -HUP $IKD_PID && wait_log "event=config_reload .*status=ok" &&
	ks_key nodeC && echo "delay 300" >"$T_DIR/ks/nodeC.behave" &&
	emu -n 100 -P 100 -s inbound -a nodeC -a MD5 >out &&
	new=$(grep -c "^var IAXKEY_KEY=NEW$" out) &&
	late=$(grep -c "^var IAXKEY_KEY=RATE_LIMITED$" out);
	echo "NEW $new, RATE_LIMITED (arrived after the install) $late" &&
	[ "$new" -ge 1 ] && [ $((new + late)) = 100 ] &&
	[ "$(ks_count nodeC)" = 1 ] &&
	sed -i "s/^min_refetch_s = .*/min_refetch_s = 0/" "$T_DIR/iaxkeyd.conf" &&
	kill -HUP $IKD_PID && wait_log "event=config_reload .*status=ok.*" 
'

test_expect '404: NOT_FOUND, then no request within negative_ttl' '
	emu -s inbound -a nodeX -a MD5 >out &&
	grep -qx "var IAXKEY_STATUS=FALLBACK" out &&
	grep -qx "var IAXKEY_KEY=NOT_FOUND" out &&
	emu -s inbound -a nodeX -a MD5 >out &&
	grep -qx "var IAXKEY_KEY=NOT_FOUND" out &&
	[ "$(ks_count nodeX)" = 1 ]
'

# Each bad answer: FAILED, steered to the fallback, nothing installed.
bad_key() {
	emu -s inbound -a "$1" -a MD5 >out &&
	grep -qx "var IAXKEY_STATUS=FALLBACK" out &&
	grep -qx "var IAXKEY_KEY=FAILED" out &&
	[ ! -e "$T_DIR/keys/$1.pub" ] &&
	! grep -q "$1" "$USERS"
}
test_expect '512-bit key rejected' 'ks_key k512 512 && bad_key k512 &&
	grep -q "^var IAXKEY_REASON=bad key: .*512" out'
test_expect '2048-bit key rejected' 'ks_key k2048 2048 && bad_key k2048 &&
	grep -q "^var IAXKEY_REASON=bad key: .*2048" out'
test_expect 'key with public exponent 1 rejected' '
	openssl genrsa -out kw.key 1024 2>/dev/null &&
	weak_key "$T_DIR/ks/kweak.pub" kw.key && bad_key kweak &&
	grep -q "^var IAXKEY_REASON=bad key: .*public exponent" out'
test_expect 'PKCS#1 "RSA PUBLIC KEY" rejected (Asterisk cannot load it)' '
	openssl genrsa -out kp.key 1024 2>/dev/null &&
	openssl rsa -in kp.key -RSAPublicKey_out -out "$T_DIR/ks/kpkcs1.pub" \
	    2>/dev/null && bad_key kpkcs1 &&
	grep -q "^var IAXKEY_REASON=bad key: .*PKCS#1" out'
test_expect 'private key rejected' '
	openssl genrsa -out "$T_DIR/ks/kpriv.pub" 1024 2>/dev/null && bad_key kpriv'
test_expect 'two keys in one body rejected' '
	ks_key kt1 && ks_key kt2 && cat "$T_DIR/ks/kt1.pub" "$T_DIR/ks/kt2.pub" >"$T_DIR/ks/ktwo.pub" &&
	bad_key ktwo'
test_expect 'trailing junk rejected' '
	ks_key kjunk && echo "junk" >>"$T_DIR/ks/kjunk.pub" && bad_key kjunk'
test_expect 'garbage rejected' '
	echo garbage >"$T_DIR/ks/kgarb.behave" && bad_key kgarb'
test_expect 'HTTP 500: FAILED' '
	echo "status 500" >"$T_DIR/ks/k500.behave" && bad_key k500 &&
	grep -qx "var IAXKEY_REASON=key server: HTTP 500" out'
test_expect 'redirect not followed' '
	echo "redirect http://127.0.0.1:$KS_PORT/v1/keys/nodeA" >"$T_DIR/ks/kredir.behave" &&
	bad_key kredir && [ "$(ks_count nodeA)" = 2 ]'
test_expect 'huge body: FAILED' '
	echo "huge 5000000" >"$T_DIR/ks/khuge.behave" && bad_key khuge'
test_expect 'reset mid-request: FAILED' '
	echo "reset" >"$T_DIR/ks/kreset.behave" && bad_key kreset'

test_expect 'invalid node name: INVALID, nothing fetched' '
	n=$(wc -l <"$T_DIR/ks.log") &&
	emu -s inbound -a "../etc" -a MD5 >out &&
	grep -qx "var IAXKEY_STATUS=INVALID" out &&
	emu -s inbound -a "a:b" -a MD5 >out &&
	grep -qx "var IAXKEY_STATUS=INVALID" out &&
	emu -s inbound >out &&
	grep -qx "var IAXKEY_STATUS=INVALID" out &&
	[ "$(wc -l <"$T_DIR/ks.log")" = "$n" ]
'

test_expect 'a bad method is INVALID' '
	emu -s inbound -a nodeA -a PLAIN >out &&
	grep -qx "var IAXKEY_STATUS=INVALID" out
'

test_expect 'wait_ms passed: PENDING, the install completes later' '
	ks_key nodeSlow && echo "delay 1500" >"$T_DIR/ks/nodeSlow.behave" &&
	sed -i "s/^wait_ms = .*/wait_ms = 100/" "$T_DIR/iaxkeyd.conf" &&
	kill -HUP $IKD_PID && wait_log "event=config_reload .*status=ok" &&
	emu -s inbound -a nodeSlow -a MD5 >out &&
	grep -qx "var IAXKEY_KEY=PENDING" out &&
	grep -qx "var IAXKEY_STATUS=FALLBACK" out &&
	wait_log "event=key_installed node=nodeSlow" &&
	emu -s ping >out &&
	grep -q "^reload chan_iax2,res_crypto status=SUCCESS" out &&
	grep -q "nodeSlow" "$USERS"
'

# The node name from the caller's IAXVAR(node), the method from
# CHANNEL(auth_method): one question to Asterisk for both.
test_expect 'no arguments: node and method asked in one command' '
	ks_key nodeV &&
	emu -t -v "CHANNEL(auth_method)=MD5" -v "IAXVAR(node)=nodeV" -s inbound >out &&
	grep -qx "var IAXKEY_STATUS=FALLBACK" out &&
	grep -qx "var IAXKEY_KEY=NEW" out &&
	grep -qxF "S> GET FULL VARIABLE \${CHANNEL(auth_method)}/\${IAXVAR(node)}/\${IAXVAR(keynext)}" out &&
	grep -qxF "A< 200 result=1 (MD5/nodeV/)" out &&
	[ "$(grep -c "^S> GET FULL VARIABLE" out)" = 2 ] &&
	wait_log "event=inbound .*node=nodeV status=FALLBACK key=NEW .*node_src=iaxvar"
'

test_expect 'method given, node from IAXVAR(node)' '
	emu -t -v "IAXVAR(node)=nodeV" -s inbound -a "" -a RSA >out &&
	grep -qx "var IAXKEY_STATUS=RSA" out &&
	grep -qxF "S> GET FULL VARIABLE \${IAXVAR(node)}/\${IAXVAR(keynext)}" out
'

test_expect 'no node given and IAXVAR(node) empty: INVALID, nothing fetched' '
	n=$(wc -l <"$T_DIR/ks.log") &&
	emu -v "CHANNEL(auth_method)=MD5" -s inbound >out &&
	grep -qx "var IAXKEY_STATUS=INVALID" out &&
	grep -qxF "var IAXKEY_REASON=caller node: not given, and \${IAXVAR(node)} is empty" out &&
	[ "$(wc -l <"$T_DIR/ks.log")" = "$n" ]
'

test_expect 'clean shutdown, no secret logged' '
	iaxkeyd_stop
'

# Per-node: on the RSA leg the user section that authenticated the call
# names the node, whatever IAXVAR(node) claims.
test_expect 'per-node RSA leg: the node is the authenticated user' '
	INBOUND_EXTRA="inkeys = per-node" iaxkeyd_conf && iaxkeyd_start &&
	emu -t -C IAX2/nodeV-4242 -v "IAXVAR(node)=nodeX" -s inbound -a "" -a RSA >out &&
	grep -qx "var IAXKEY_STATUS=RSA" out &&
	[ "$(grep -c "^S> GET FULL VARIABLE" out)" = 1 ] &&
	grep -qxF "S> GET FULL VARIABLE \${IAXVAR(keynext)}" out &&
	wait_log "event=inbound .*node=nodeV status=RSA .*node_src=user user=nodeV" &&
	emu -C IAX2/nodeV-4243 -s inbound -a nodeX -a RSA >out &&
	grep -qx "var IAXKEY_STATUS=RSA" out &&
	wait_log "caller claimed node nodeX, authenticated as nodeV"
'

test_expect 'per-node RSA leg from a user iaxkeyd did not install: IAXVAR(node)' '
	emu -C IAX2/trunk-17 -v "IAXVAR(node)=nodeV" -s inbound -a "" -a RSA >out &&
	grep -qx "var IAXKEY_STATUS=RSA" out &&
	wait_log "event=inbound .*node=nodeV status=RSA .*node_src=iaxvar"
'

test_expect 'SIGHUP to shared: the users file is rendered again at once' '
	grep -qx "\[nodeV\](iaxkeyd-template)" "$USERS" &&
	iaxkeyd_conf </dev/null && kill -HUP "$IKD_PID" &&
	wait_log "event=config_reload .*status=ok" &&
	grep -qx "\[iaxkeyd\](+)" "$USERS" &&
	grep -q "^inkeys=.*nodeV" "$USERS" &&
	! grep -q "iaxkeyd-template" "$USERS" &&
	emu -s ping >out &&
	grep -qx "reload chan_iax2 status=SUCCESS" out
'

test_expect 'clean shutdown' '
	iaxkeyd_stop
'
test_done
