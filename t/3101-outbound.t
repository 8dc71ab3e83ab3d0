#!/bin/bash
# outbound, config mode, agi reload backend: peer written from the state
# store, coalesced reloads on the caller's channel, dial strings.
. "$(dirname "$0")/lib/iaxkeyd.sh"

PEERS=$T_DIR/ast/iaxkeyd-peers.conf
RELOAD_RETRIES=3
MAX_SESSIONS=1000
iaxkeyd_conf

test_expect 'own key and daemon' 'own_key && iaxkeyd_start'

test_expect 'dial string: OK, RSA peer dial, MD5 fallback, one reload' '
	emu -L "$T_DIR/reloads" -s outbound -a "IAX2/alice:s3cr3t@node-b.example.net/100@from-net" >out &&
	grep -qx "var IAXKEY_STATUS=OK" out &&
	grep -qx "var IAXKEY_DIAL=IAX2/node-b.example.net_4569_alice/100@from-net" out &&
	grep -qx "var IAXKEY_FALLBACK=IAX2/alice:s3cr3t@node-b.example.net:4569/100@from-net" out &&
	grep -qx "var IAXKEY_PEER=node-b.example.net_4569_alice" out &&
	grep -qx "var IAXKEY_REASON=" out &&
	grep -qx "reload chan_iax2 status=SUCCESS" out &&
	[ "$(wc -l <"$T_DIR/reloads")" = 1 ]
'

test_expect 'the peers file holds the RSA+AES peer' '
	sed -n "/^\[node-b.example.net_4569_alice\]/,/^$/p" "$PEERS" >peer &&
	test_cmp peer <<-EOF2
	[node-b.example.net_4569_alice]
	type=peer
	host=node-b.example.net
	port=4569
	username=alice
	secret=s3cr3t
	outkey=testnode
	auth=rsa
	encryption=aes128
	forceencryption=yes
	EOF2
'

test_expect 'the peers file parses as Asterisk config, mode 0640' '
	ast_conf_ok "$PEERS" &&
	[ "$(stat -c %a "$PEERS")" = 640 ]
'

test_expect 'unchanged destination: no write, no reload' '
	before=$(stat -c "%i %Y %s" "$PEERS") &&
	emu -s outbound -a "IAX2/alice:s3cr3t@node-b.example.net/100@from-net" >out &&
	grep -qx "var IAXKEY_STATUS=OK" out &&
	! grep -q "^reload" out &&
	[ "$(stat -c "%i %Y %s" "$PEERS")" = "$before" ] &&
	wait_log "event=outbound .*dest=node-b.example.net:4569 peer=node-b.example.net_4569_alice rsa_user=alice changed=no status=OK"
'

test_expect 'the secret is never logged' '
	! grep -q s3cr3t "$T_DIR/daemon.log"
'

test_expect 'two round trips: EXEC MSet, and the secret by SET VARIABLE' '
	emu -t -s outbound -a "IAX2/alice:s3cr3t@node-b.example.net/100@from-net" >out &&
	grep -q "^call 0 agistatus=SUCCESS commands=2 errors=0" out &&
	grep -q "^S> EXEC MSet \"IAXKEY_STATUS=OK,IAXKEY_DIAL=IAX2/node-b.example.net_4569_alice/100@from-net,.*IAXVAR(node)=testnode\"$" out &&
	! grep "^S> EXEC" out | grep -q s3cr3t &&
	grep -q "^S> SET VARIABLE IAXKEY_FALLBACK .*s3cr3t" out &&
	grep -qx "var IAXVAR(node)=testnode" out
'

test_expect 'a secret with , ( ) survives MSet splitting' '
	emu -t -s outbound -a "IAX2/u:p,(q)!%&*+.<=>?^_{|}~@sp.example/1" >out &&
	grep -q "errors=0" out && grep -q "^S> EXEC MSet " out &&
	grep -qxF "var IAXKEY_FALLBACK=IAX2/u:p,(q)!%&*+.<=>?^_{|}~@sp.example:4569/1" out &&
	grep -qx "var IAXKEY_STATUS=OK" out
'

test_expect 'a secret with $ travels by SET VARIABLE, never by EXEC' '
	emu -t -s outbound -a "IAX2/u:p\$x@dollar.example/1" >out &&
	grep -q "errors=0" out && ! grep "^S> EXEC" out | grep -qF "\$" &&
	grep -q "^S> SET VARIABLE IAXKEY_FALLBACK " out &&
	grep -qxF "var IAXKEY_FALLBACK=IAX2/u:p\$x@dollar.example:4569/1" out
'

test_expect 'named arguments, any order' '
	emu -s outbound -a exten=200 -a secret=pw2 -a port=4570 -a host=192.0.2.7 -a user=bob >out &&
	grep -qx "var IAXKEY_STATUS=OK" out &&
	grep -qx "var IAXKEY_DIAL=IAX2/192.0.2.7_4570_bob/200" out &&
	grep -qx "var IAXKEY_FALLBACK=IAX2/bob:pw2@192.0.2.7:4570/200" out
'

test_expect 'a changed secret rewrites the peer and reloads' '
	emu -s outbound -a "IAX2/bob:pw3@192.0.2.7:4570/200" >out &&
	grep -qx "var IAXKEY_STATUS=OK" out &&
	grep -q "^reload chan_iax2 status=SUCCESS" out &&
	grep -qx "secret=pw3" "$PEERS" &&
	! grep -qx "secret=pw2" "$PEERS"
'

test_expect 'IPv6 destination: hashed peer name, host without brackets' '
	emu -s outbound -a "IAX2/u:p@[2001:db8::7]:4569/1" >out &&
	grep -qx "var IAXKEY_STATUS=OK" out &&
	peer=$(sed -n "s/^var IAXKEY_PEER=//p" out) &&
	echo "$peer" | grep -qE "^x[0-9a-f]{32}_4569$" &&
	grep -qx "host=2001:db8::7" "$PEERS"
'

# Every invalid field: INVALID, a reason naming it, nothing written.
invalid() {
	cp "$PEERS" before &&
	emu -s outbound "$@" >out &&
	grep -qx "var IAXKEY_STATUS=INVALID" out &&
	grep -qx "var IAXKEY_DIAL=" out &&
	grep -qx "var IAXKEY_FALLBACK=" out &&
	! grep -q "^reload" out &&
	cmp -s before "$PEERS"
}
test_expect 'invalid host' '
	invalid -a "IAX2/u:p@bad_host/1" && grep -q "^var IAXKEY_REASON=host: " out'
test_expect 'invalid port' '
	invalid -a "IAX2/u:p@h:70000/1" && grep -q "^var IAXKEY_REASON=port: " out'
test_expect 'invalid user' '
	invalid -a "IAX2/u%:p@h/1" && grep -q "^var IAXKEY_REASON=user: " out'
test_expect 'invalid secret, and the reason never echoes it' '
	invalid -a "IAX2/u:sec;ret@h/1" && grep -qx "var IAXKEY_REASON=secret: invalid character" out'
test_expect 'invalid exten' '
	invalid -a "IAX2/u:p@h/1 2" && grep -q "^var IAXKEY_REASON=exten: " out'
test_expect 'invalid context' '
	invalid -a "IAX2/u:p@h/1@c[x" && grep -q "^var IAXKEY_REASON=context: " out'
test_expect 'missing field in named form' '
	invalid -a host=h -a user=u -a exten=1 && grep -qx "var IAXKEY_REASON=secret: missing" out'
test_expect 'unknown named argument' '
	invalid -a host=h -a colour=red && grep -q "^var IAXKEY_REASON=argument: " out'
test_expect 'no argument at all' '
	invalid && grep -q "^var IAXKEY_REASON=destination: missing" out'

test_expect '200 concurrent new destinations: a handful of reloads, all right' '
	: >"$T_DIR/reloads" &&
	emu -n 200 -P 200 -R 10 -L "$T_DIR/reloads" -s outbound -a "IAX2/u:p@10.1.%d.1/500" >out &&
	grep "^total" out &&
	grep -q "^total calls=200 .*errors=0 pipelined=0" out &&
	[ "$(grep -c "^var IAXKEY_STATUS=OK$" out)" = 200 ] &&
	for i in $(seq 0 199); do
		grep -qx "var IAXKEY_DIAL=IAX2/10.1.$i.1_4569_u/500" out || return 1
	done &&
	n=$(wc -l <"$T_DIR/reloads") && echo "reloads: $n" &&
	[ "$n" -ge 1 ] && [ "$n" -le 10 ] &&
	[ "$(grep -c "^\[10\.1\." "$PEERS")" = 200 ]
'

test_expect 'a refused reload is retried' '
	emu -F 2 -s outbound -a "IAX2/u:p@retry.example/1" >out &&
	grep -qx "var IAXKEY_STATUS=OK" out &&
	[ "$(grep -c "^reload chan_iax2 status=FAILURE reason=injected" out)" = 2 ] &&
	grep -q "^reload chan_iax2 status=SUCCESS" out &&
	wait_log "event=reload backend=agi modules=chan_iax2 sessions=1 attempts=3 ms=[0-9]+ result=ok"
'

test_expect 'refused past reload_retries: RELOAD_FAILED and the fallback' '
	emu -F all -s outbound -a "IAX2/u:p@fail.example/1" >out &&
	grep -qx "var IAXKEY_STATUS=RELOAD_FAILED" out &&
	grep -qx "var IAXKEY_DIAL=IAX2/u:p@fail.example:4569/1" out &&
	grep -qx "var IAXKEY_FALLBACK=IAX2/u:p@fail.example:4569/1" out &&
	[ "$(grep -c "^reload " out)" = 4 ]
'

test_expect 'the change still pending is carried by the next session' '
	emu -s ping >out &&
	grep -q "^reload chan_iax2 status=SUCCESS" out ||
	{ echo "(cooldown may defer it)"; emu -s outbound -a "IAX2/u:p@fail.example/1" >out &&
	  grep -qx "var IAXKEY_STATUS=OK" out; }
'

test_expect 'HANGUP during the reload: the call still gets its answer' '
	emu -H reply:1 -s outbound -a "IAX2/u:p@hangup.example/1" >out &&
	grep -qx "var IAXKEY_STATUS=OK" out &&
	grep -q "hungup=yes" out
'

test_expect 'Asterisk without MSet: the variables are set one by one' '
	emu -A MSet -s outbound -a "IAX2/u:p@nomset.example/1" >out &&
	grep -q "errors=0" out &&
	grep -qx "var IAXKEY_STATUS=OK" out &&
	grep -qx "var IAXKEY_FALLBACK=IAX2/u:p@nomset.example:4569/1" out &&
	grep -qx "var IAXKEY_REASON=" out &&
	wait_log "EXEC MSet failed" &&
	emu -s outbound -a "IAX2/u:p@nomset.example/1" >out &&
	grep -q "commands=6 errors=0" out
'

test_expect 'clean shutdown' 'iaxkeyd_stop'

# Own key problems: ERROR, and IAXKEY_DIAL is the fallback.
test_expect 'own key with mode 0644: ERROR with the fallback' '
	chmod 644 "$T_DIR/keys/testnode.key" && iaxkeyd_start &&
	emu -s outbound -a "IAX2/u:p@h.example/1" >out &&
	grep -qx "var IAXKEY_STATUS=ERROR" out &&
	grep -qx "var IAXKEY_DIAL=IAX2/u:p@h.example:4569/1" out &&
	grep -q "^var IAXKEY_REASON=own key: .*0600" out
'
test_expect 'own key missing: ERROR with the fallback' '
	mv "$T_DIR/keys/testnode.key" "$T_DIR/keys/k.bak" &&
	emu -s outbound -a "IAX2/u:p@h.example/1" >out &&
	grep -qx "var IAXKEY_STATUS=ERROR" out &&
	grep -qx "var IAXKEY_DIAL=IAX2/u:p@h.example:4569/1" out &&
	mv "$T_DIR/keys/k.bak" "$T_DIR/keys/testnode.key" &&
	chmod 600 "$T_DIR/keys/testnode.key" && iaxkeyd_stop
'

test_expect 'ENOSPC writing the peers file: old file byte-identical, fallback' '
	cp "$PEERS" before &&
	IAXKEYD_FAULT_WRITE=enospc IAXKEYD_FAULT_PATH=iaxkeyd-peers iaxkeyd_start &&
	emu -s outbound -a "IAX2/u:p@full.example/1" >out &&
	grep -qx "var IAXKEY_STATUS=ERROR" out &&
	grep -qx "var IAXKEY_DIAL=IAX2/u:p@full.example:4569/1" out &&
	grep -q "^var IAXKEY_REASON=.*No space left on device" out &&
	cmp before "$PEERS" &&
	! ls "$T_DIR/ast" | grep -q "^\.iaxkeyd-peers" &&
	iaxkeyd_stop
'

test_expect 'dialstring mode: inline key, no reload; the peers file is still written' '
	printf "[outbound]\nmode = dialstring\n" >>"$T_DIR/iaxkeyd.conf" &&
	rm -f "$PEERS" && iaxkeyd_start && [ -f "$PEERS" ] &&
	cp "$PEERS" before &&
	emu -s outbound -a "IAX2/u:p@ds.example:4570/9@ctx" >out &&
	grep -qx "var IAXKEY_STATUS=OK" out &&
	grep -qFx "var IAXKEY_DIAL=IAX2/u:p:[testnode]@ds.example:4570/9@ctx" out &&
	grep -qx "var IAXKEY_FALLBACK=IAX2/u:p@ds.example:4570/9@ctx" out &&
	! grep -q "^reload" out &&
	cmp before "$PEERS" &&
	iaxkeyd_stop
'
test_done
