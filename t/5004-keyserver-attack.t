#!/bin/bash
# iaxkey-server under attack (issue 13), each attacker a scripted client
# with bounded counts on loopback:
#   slowloris      one address dribbling header bytes is held to
#                  max_per_addr connections, each closed at the absolute
#                  header deadline; another address is served meanwhile
#   slow body      a body dribbled a byte at a time is cut at its deadline
#   replay cache   requests signed with the attacker's own keys neither
#                  fill the cache nor burn the real client's nonce
#   restart        a captured DELETE replayed after a restart is refused
#   e = 1          a key anyone can "sign" for is refused at registration
. "$(dirname "$0")/lib/keyserver.sh"

SLOW=$T_TOP/t/helper/slowhttp
SLOW_PID=
# Stop the slow clients too on every exit path.
trap 'if [ -n "$SLOW_PID" ]; then kill "$SLOW_PID" 2>/dev/null; fi; t_cleanup' EXIT

# timeout_s (evhttp's idle timeout) is far beyond the deadlines: any
# close below comes from a deadline or the cap.  The header deadline
# (15 s) outlasts the checks made while the slow clients are held.
KSRV_MAXCONN=8 KSRV_HTTP_EXTRA="max_per_addr = 4
header_timeout_s = 15
body_timeout_s = 2
timeout_s = 600
max_nonces = 10" ksrv_conf
test_expect 'start' 'ksrv_start && mkkey a && mkkey b && mkkey x'

test_expect 'slowloris: 4 connections held per address, others served' '
	"$SLOW" -b 127.0.0.1 -n 12 -k 4 -i 200 -T 60 -m headers \
	    "127.0.0.1:$KSRV_PORT" >slow.out 2>&1 &
	SLOW_PID=$!
	wait_log "^ready open=4 closed=8" "$T_DIR/slow.out" &&
	[ "$(curl -s -o /dev/null -w "%{http_code}" --interface 127.0.0.2 \
	    "$KSRV_URL/v1/keys/nobody")" = 404 ] &&
	grep -q "event=request method=GET node=nobody status=404 addr=127.0.0.2" \
	    ksrv.log &&
	{ code=$(curl -s -o /dev/null -w "%{http_code}" \
	    "$KSRV_URL/v1/keys/nobody") || :; } &&
	[ "$code" = 000 ] &&
	wait "$SLOW_PID" && SLOW_PID= &&
	grep -qx "end open=0 closed=12 .*" slow.out &&
	[ "$(grep -c "event=conn_refused addr=127.0.0.1 reason=max_per_addr" \
	    ksrv.log)" = 9 ] &&
	[ "$(grep -c "event=conn_timeout addr=127.0.0.1 phase=headers" \
	    ksrv.log)" = 4 ]
'

test_expect 'slow body: closed at the body deadline' '
	slow_cut body 2 body &&
	[ "$(ks_get "$KSRV_URL/v1/keys/nobody")" = 404 ]
'

test_expect 'a nonce used by an unauthorised request is not burnt' '
	TOK=$("$KSRV" -f "$T_DIR/ksrv.conf" token add node1) &&
	[ "$(NONCE=chosen-by-attacker-1 ks_req PUT node1 x.pub x)" = 403 ] &&
	[ "$(TOKEN=$TOK NONCE=chosen-by-attacker-1 \
	    ks_req PUT node1 a.pub a)" = 201 ] &&
	[ "$(cat resp)" = "$(fingerprint a.pub)" ]
'

test_expect 'requests signed with the attacker'"'"'s keys do not fill the cache' '
	for i in $(seq 12); do
		[ "$(ks_req PUT node1 x.pub x)" = 403 ] || return 1
		[ "$(ks_req PUT "other$i" x.pub x)" = 403 ] || return 1
	done &&
	[ "$(ks_req PUT node1 b.pub b a)" = 200 ] &&
	[ "$(cat resp)" = "$(fingerprint b.pub)" ]
'

test_expect 'a DELETE replayed after a restart is refused' '
	T0=$(date +%s) &&
	[ "$(TS=$T0 NONCE=captured-delete-0001 \
	    ks_req DELETE node1 /dev/null b)" = 200 ] &&
	TOK=$("$KSRV" -f "$T_DIR/ksrv.conf" token add node1) &&
	[ "$(TOKEN=$TOK ks_req PUT node1 b.pub b)" = 201 ] &&
	ksrv_stop && ksrv_start &&
	[ "$(TS=$T0 NONCE=captured-delete-0001 \
	    ks_req DELETE node1 /dev/null b)" = 409 ] &&
	[ "$(ks_get "$KSRV_URL/v1/keys/node1")" = 200 ] && cmp b.pub resp &&
	[ "$(TS=$((T0 - 60)) ks_req DELETE node1 /dev/null b)" = 409 ] &&
	grep -q "older than the last accepted request" resp &&
	[ "$(ks_get "$KSRV_URL/v1/keys/node1")" = 200 ]
'

test_expect 'the replay state is kept per node in the store' '
	[ -f store/seen/node1 ] &&
	[ "$(stat -c %a store/seen)" = 700 ] &&
	grep -Eqx "[0-9]+ [A-Za-z0-9_-]{16,64}( [A-Za-z0-9_-]{16,64})*" \
	    store/seen/node1
'

test_expect 'a key with e = 1 and a forged proof of possession: 400' '
	weak_key "$T_DIR/weak.pub" "$T_DIR/a.key" &&
	TOK=$("$KSRV" -f "$T_DIR/ksrv.conf" token add weak) &&
	ts=$(date +%s) && nonce=forged-proof-00001 &&
	[ "$(TOKEN=$TOK TS=$ts NONCE=$nonce \
	    SIG=$(ks_forge PUT weak "$ts" "$nonce" weak.pub) \
	    ks_req PUT weak weak.pub x)" = 400 ] &&
	grep -q "public exponent" resp &&
	[ ! -e store/weak.pub ] && [ -e store/tokens/weak ]
'

test_expect 'a PKCS#1 "RSA PUBLIC KEY" upload: 400' '
	openssl rsa -in a.key -RSAPublicKey_out -out a.rsapub 2>/dev/null &&
	TOK=$("$KSRV" -f "$T_DIR/ksrv.conf" token add node5) &&
	[ "$(TOKEN=$TOK ks_req PUT node5 a.rsapub a)" = 400 ] &&
	grep -q "PKCS#1" resp && [ ! -e store/node5.pub ]
'

test_expect 'stop' 'ksrv_stop'
test_done
