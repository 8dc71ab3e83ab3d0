#!/bin/bash
# iaxkey-server: -n, token add, PUT with proof of possession, GET with
# ETag/304, the index, replacement, revocation, the audit log, and every
# rejection listed in issue 6.
. "$(dirname "$0")/lib/keyserver.sh"

test_expect '-n: good configuration' '
	ksrv_conf &&
	"$KSRV" -n -f "$T_DIR/ksrv.conf" >out &&
	grep -qx "configuration OK" out &&
	"$KSRV" -n -f "$T_TOP/etc/iaxkey-server.conf" >out &&
	grep -qx "configuration OK" out
'

test_expect '-n: bad configurations' '
	printf "[http]\nbogus = 1\n" >bad1.conf &&
	! "$KSRV" -n -f bad1.conf >out 2>err && grep -q "bogus" err &&
	printf "[http]\nmax_body = 12\n" >bad2.conf &&
	! "$KSRV" -n -f bad2.conf 2>err && grep -q "http:max_body" err &&
	printf "[tls]\ncert = /nonexistent.pem\n" >bad3.conf &&
	! "$KSRV" -n -f bad3.conf 2>err &&
	grep -q "cert and key go together" err &&
	printf "[tls]\ncert = /nonexistent.pem\nkey = /nonexistent.key\n" \
	    >bad4.conf &&
	! "$KSRV" -n -f bad4.conf 2>err && grep -q "tls: cannot use" err &&
	! "$KSRV" -n -f /nonexistent.conf 2>err
'

test_expect 'start' 'ksrv_start && mkkey a && mkkey b && mkkey c'

test_expect 'token add: prints a token, stores only its hash' '
	"$KSRV" -f "$T_DIR/ksrv.conf" token add node1 >tok &&
	grep -Eqx "[0-9a-f]{64}" tok &&
	TOK1=$(cat tok) &&
	[ "$(cat store/tokens/node1)" = \
	    "$(printf %s "$TOK1" | sha256sum | cut -d" " -f1)" ] &&
	! grep -rq "$TOK1" store &&
	[ "$(stat -c %a store/tokens/node1)" = 600 ] &&
	! "$KSRV" -f "$T_DIR/ksrv.conf" token add "bad/name" 2>err
'

test_expect 'upload without token: 403' '
	[ "$(ks_req PUT node1 a.pub a)" = 403 ] &&
	grep -q "needs X-Iaxkey-Token" resp && [ ! -e store/node1.pub ]
'

test_expect 'upload with a wrong token: 403, token kept' '
	[ "$(TOKEN=00$TOK1 ks_req PUT node1 a.pub a)" = 403 ] &&
	grep -q "bad enrolment token" resp && [ -e store/tokens/node1 ]
'

test_expect 'upload with a wrong signature: 401' '
	[ "$(TOKEN=$TOK1 ks_req PUT node1 a.pub b)" = 401 ] &&
	grep -q "does not verify" resp &&
	[ "$(TOKEN=$TOK1 SIGNODE=node2 ks_req PUT node1 a.pub a)" = 401 ]
'

test_expect 'upload without signature headers: 401' '
	[ "$(TOKEN=$TOK1 ks_req PUT node1 a.pub "")" = 401 ]
'

test_expect 'stale or future timestamp: 401; malformed: 400' '
	[ "$(TOKEN=$TOK1 TS=$(($(date +%s) - 400)) \
	    ks_req PUT node1 a.pub a)" = 401 ] &&
	grep -q "clock skew" resp &&
	[ "$(TOKEN=$TOK1 TS=$(($(date +%s) + 400)) \
	    ks_req PUT node1 a.pub a)" = 401 ] &&
	[ "$(TOKEN=$TOK1 TS=12x ks_req PUT node1 a.pub a)" = 400 ] &&
	[ "$(TOKEN=$TOK1 NONCE=short ks_req PUT node1 a.pub a)" = 400 ] &&
	[ "$(TOKEN=$TOK1 NONCE="abcdefgh.ijklmnopq" \
	    ks_req PUT node1 a.pub a)" = 400 ]
'

test_expect 'first registration: 201 with the fingerprint, token used up' '
	FPR_A=$(fingerprint a.pub) &&
	[ "$(TOKEN=$TOK1 NONCE=nonce-register-0001 \
	    ks_req PUT node1 a.pub a)" = 201 ] &&
	[ "$(cat resp)" = "$FPR_A" ] &&
	cmp a.pub store/node1.pub &&
	[ ! -e store/tokens/node1 ] &&
	[ "$(resp_header ETag)" = "\"$FPR_A\"" ]
'

test_expect 'GET: the PEM, ETag, 304 on If-None-Match, 404 unknown' '
	[ "$(ks_get "$KSRV_URL/v1/keys/node1")" = 200 ] &&
	cmp a.pub resp &&
	[ "$(resp_header ETag)" = "\"$FPR_A\"" ] &&
	[ "$(ks_get -H "If-None-Match: \"$FPR_A\"" \
	    "$KSRV_URL/v1/keys/node1")" = 304 ] &&
	[ ! -s resp ] &&
	[ "$(ks_get -H "If-None-Match: \"sha256:00\"" \
	    "$KSRV_URL/v1/keys/node1")" = 200 ] &&
	[ "$(ks_get "$KSRV_URL/v1/keys/nobody")" = 404 ] &&
	[ "$(ks_get "$KSRV_URL/elsewhere")" = 404 ]
'

test_expect 'GETs are logged at debug level with the address' '
	grep -q "event=request method=GET node=node1 status=200 addr=127.0.0.1 fpr=$FPR_A reason=key" ksrv.log &&
	grep -q "event=request method=GET node=node1 status=304 addr=127.0.0.1" ksrv.log &&
	grep -q "event=request method=GET node=nobody status=404 addr=127.0.0.1 reason=\"unknown node\"" ksrv.log &&
	! grep -q "addr=- " ksrv.log
'

test_expect 'index: "<node> sha256:<hex>" lines' '
	[ "$(ks_get "$KSRV_URL/v1/keys")" = 200 ] &&
	echo "node1 $FPR_A" | test_cmp resp
'

test_expect 'replayed request (same nonce): 409' '
	[ "$(TOKEN=$TOK1 NONCE=nonce-register-0001 \
	    ks_req PUT node1 a.pub a)" = 403 ] &&
	[ "$(NONCE=nonce-unchanged-0001 ks_req PUT node1 a.pub a a)" = 200 ] &&
	grep -q "unchanged" resp &&
	[ "$(NONCE=nonce-unchanged-0001 ks_req PUT node1 a.pub a a)" = 409 ] &&
	grep -q "nonce already used" resp
'

test_expect 'replacement not signed by the current key: 403' '
	[ "$(ks_req PUT node1 b.pub b)" = 403 ] &&
	grep -q "needs X-Iaxkey-Current-Signature" resp &&
	[ "$(ks_req PUT node1 b.pub b c)" = 403 ] &&
	grep -q "not signed by the currently registered key" resp &&
	cmp a.pub store/node1.pub
'

test_expect 'a 2048-bit key, a private key: 400' '
	mkkey big 2048 &&
	"$KSRV" -f "$T_DIR/ksrv.conf" token add node9 >tok9 &&
	[ "$(TOKEN=$(cat tok9) ks_req PUT node9 big.pub big)" = 400 ] &&
	grep -q "1024" resp &&
	[ "$(TOKEN=$(cat tok9) ks_req PUT node9 a.key a)" = 400 ] &&
	[ ! -e store/node9.pub ] && [ -e store/tokens/node9 ]
'

test_expect 'bad node names: 400 with a reason' '
	[ "$(ks_get "$KSRV_URL/v1/keys/bad%20name")" = 400 ] &&
	grep -q "may only hold" resp &&
	[ "$(ks_get "$KSRV_URL/v1/keys/.hidden")" = 400 ] &&
	grep -q "must start with" resp &&
	long=$(printf "n%.0s" $(seq 65)) &&
	[ "$(ks_get "$KSRV_URL/v1/keys/$long")" = 400 ] &&
	grep -q "longer than 64" resp &&
	[ "$(ks_req PUT "a%2F..%2Fb" a.pub a)" = 400 ]
'

test_expect 'oversized body: 413' '
	head -c 20000 /dev/zero | tr "\0" A >big.body &&
	[ "$(ks_req PUT node9 big.body a)" = 413 ]
'

test_expect 'replacement signed by both keys: 200, new key served' '
	FPR_B=$(fingerprint b.pub) &&
	[ "$(ks_req PUT node1 b.pub b a)" = 200 ] &&
	[ "$(cat resp)" = "$FPR_B" ] &&
	[ "$(ks_get "$KSRV_URL/v1/keys/node1")" = 200 ] && cmp b.pub resp &&
	[ "$(resp_header ETag)" = "\"$FPR_B\"" ] &&
	[ "$(ks_get -H "If-None-Match: \"$FPR_A\"" \
	    "$KSRV_URL/v1/keys/node1")" = 200 ]
'

test_expect 'DELETE signed by another key: 401; unknown node: 404' '
	[ "$(ks_req DELETE node1 /dev/null a)" = 401 ] &&
	[ "$(ks_req DELETE nobody /dev/null a)" = 404 ]
'

test_expect 'DELETE signed by the current key: 200, then 404' '
	[ "$(ks_req DELETE node1 /dev/null b)" = 200 ] &&
	grep -q "revoked $FPR_B" resp &&
	[ "$(ks_get "$KSRV_URL/v1/keys/node1")" = 404 ] &&
	[ ! -e store/node1.pub ] &&
	[ "$(ks_get "$KSRV_URL/v1/keys")" = 200 ] && [ ! -s resp ]
'

test_expect 'DELETE with an operator token' '
	TOK2=$("$KSRV" -f "$T_DIR/ksrv.conf" token add node2) &&
	[ "$(TOKEN=$TOK2 ks_req PUT node2 c.pub c)" = 201 ] &&
	[ "$(TOKEN=$TOK2 ks_req DELETE node2 /dev/null "")" = 403 ] &&
	TOK3=$("$KSRV" -f "$T_DIR/ksrv.conf" token add node2) &&
	[ "$(TOKEN=$TOK3 ks_req DELETE node2 /dev/null "")" = 200 ] &&
	[ "$(ks_get "$KSRV_URL/v1/keys/node2")" = 404 ] &&
	[ ! -e store/tokens/node2 ]
'

test_expect 'audit log: one line per change' '
	sed "s/^ts=[^ ]* //" store/audit.log >audit &&
	test_cmp audit <<-EOF
	node=node1 action=register auth=key+token old=- new=$FPR_A addr=127.0.0.1
	node=node1 action=replace auth=key+current old=$FPR_A new=$FPR_B addr=127.0.0.1
	node=node1 action=revoke auth=key old=$FPR_B new=- addr=127.0.0.1
	node=node2 action=register auth=key+token old=- new=$(fingerprint c.pub) addr=127.0.0.1
	node=node2 action=revoke auth=token old=$(fingerprint c.pub) new=- addr=127.0.0.1
	EOF
'

test_expect 'tokens and signatures never logged' '
	cat ksrv.log* >all.log &&
	! grep -q "$TOK1" all.log && ! grep -q "$TOK2" all.log &&
	! grep -q "$TOK3" all.log && ! grep -qi "signature=" all.log &&
	grep -q "event=request method=PUT node=node1 status=201" all.log
'

test_expect 'keys are loaded from the store at start' '
	TOK4=$("$KSRV" -f "$T_DIR/ksrv.conf" token add node4) &&
	[ "$(TOKEN=$TOK4 ks_req PUT node4 c.pub c)" = 201 ] &&
	ksrv_stop && ksrv_start &&
	grep -q "event=start .*keys=1" ksrv.log &&
	[ "$(ks_get "$KSRV_URL/v1/keys/node4")" = 200 ] && cmp c.pub resp &&
	[ "$(ks_get "$KSRV_URL/v1/keys")" = 200 ] &&
	echo "node4 $(fingerprint c.pub)" | test_cmp resp
'

test_expect 'stop' 'ksrv_stop'
test_done
