#!/bin/bash
# The node's own key on the console: key generate (never overwrites), key
# show, key upload (first registration with the enrolment token, then
# idempotent), key rotate end to end against the real iaxkey-server, and
# the failures: server down, a refusal, leftovers, an interrupted swap.
. "$(dirname "$0")/lib/keyserver.sh"

# Write iaxkeyd.conf for the key server with [keyserver] extra lines $1.
conf() {
	KS_URL="$KSRV_URL/v1/keys/{node}" KEYSERVER_EXTRA=$1 \
	    iaxkeyd_conf </dev/null
}

# Tests that need the real key server are skipped without it.
HAVE_KS=
if [ -x "$KSRV" ]; then
	HAVE_KS=1
else
	KSRV_URL=http://127.0.0.1:1
fi
ks_test() {
	if [ -n "$HAVE_KS" ]; then
		test_expect "$@"
	else
		test_skip "$1 (no keyserver/iaxkey-server)"
	fi
}

KEY=$T_DIR/keys/testnode.key
PUB=$T_DIR/keys/testnode.pub

ks_test 'key server up, a token for testnode' '
	ksrv_conf </dev/null && ksrv_start &&
	"$KSRV" -f "$T_DIR/ksrv.conf" token add testnode >tok &&
	TOKEN_VALUE=$(cat tok) && [ -n "$TOKEN_VALUE" ]
'

test_expect 'daemon, uploads to a dead port first' '
	conf "upload_url = http://127.0.0.1:1/v1/keys/{node}" &&
	iaxkeyd_start && admin_port
'

test_expect 'key show without a key: missing, no upload yet' '
	adm "key show" >out &&
	grep -q "^  name        testnode$" out &&
	grep -q "^  key         $KEY (missing)$" out &&
	grep -q "^  pub         $PUB (missing)$" out &&
	grep -q "^  upload      none since start$" out &&
	tail -n 1 out | grep -q "^OK$"
'

test_expect 'key upload without a key fails at once' '
	adm "key upload" >out &&
	tail -n 1 out | grep -q "^ERR .*testnode.key"
'

test_expect 'key generate: paths, fingerprint, modes 0600 and 0644' '
	adm "key generate" >out &&
	tail -n 1 out | grep -q "^OK$" &&
	grep -q "^  key         $KEY$" out &&
	grep -q "^  pub         $PUB$" out &&
	grep -q "^  fingerprint $(fingerprint "$PUB")$" out &&
	[ "$(key_fpr "$KEY")" = "$(fingerprint "$PUB")" ] &&
	[ "$(stat -c %a "$KEY")" = 600 ] && [ "$(stat -c %a "$PUB")" = 644 ] &&
	openssl rsa -in "$KEY" -noout -text 2>/dev/null |
	    grep -q "Private-Key: (1024 bit"
'

test_expect 'key generate refuses to overwrite' '
	cp "$KEY" k0 && cp "$PUB" p0 &&
	adm "key generate" >out &&
	tail -n 1 out | grep -q "^ERR .*exists" &&
	cmp "$KEY" k0 && cmp "$PUB" p0
'

test_expect 'key show: fingerprint, bits, modes' '
	adm "key show" >out &&
	grep -q "^  key         $KEY (mode 0600)$" out &&
	grep -q "^  pub         $PUB (mode 0644)$" out &&
	grep -q "^  fingerprint $(fingerprint "$PUB")$" out &&
	grep -q "^  bits        1024$" out &&
	! grep -q problem out && tail -n 1 out | grep -q "^OK$"
'

test_expect 'key upload with the server unreachable: error, state says so' '
	adm "key upload" "key show" >out &&
	grep -q "^ERR upload failed: key server: .*" out &&
	grep -q "^  upload      .* upload failed status 0 sha256:.*: key server: " out &&
	grep -q "event=key_upload .*op=upload result=failed" "$T_DIR/daemon.log"
'

test_expect 'key rotate with the server unreachable: old pair kept, no .new' '
	adm "key rotate now" >out &&
	grep -q "^ERR rotate failed: key server: " out &&
	grep -q "^  old         $(fingerprint p0) (still in use)$" out &&
	cmp "$KEY" k0 && cmp "$PUB" p0 &&
	[ -z "$(ls "$T_DIR/keys" | grep new)" ]
'

ks_test 'upload_url defaults to url; a first upload without token is refused' '
	conf "" && adm "reload config" >out && tail -n 1 out | grep -q "^OK$" &&
	adm "key upload" >out &&
	grep -q "^  http        403$" out &&
	grep -q "^ERR upload failed: key server: HTTP 403: .*X-Iaxkey-Token" out &&
	[ "$(ks_get "$KSRV_URL/v1/keys/testnode")" = 404 ]
'

ks_test 'key upload with the enrolment token: 201, same PEM on GET' '
	conf "enroll_token = $TOKEN_VALUE" && adm "reload config" >/dev/null &&
	adm "key upload" "key show" >out &&
	grep -q "^  http        201$" out &&
	grep -q "^  fingerprint $(fingerprint "$PUB") (confirmed by the key server)$" out &&
	grep -q "^  upload      .* upload ok status 201 $(fingerprint "$PUB")$" out &&
	[ "$(ks_get "$KSRV_URL/v1/keys/testnode")" = 200 ] &&
	cmp "$T_DIR/resp" "$PUB"
'

ks_test 'key upload again: accepted as unchanged (200)' '
	adm "key upload" >out &&
	grep -q "^  http        200$" out && tail -n 1 out | grep -q "^OK$"
'

ks_test 'key rotate refused by the server (401): old pair kept, no .new' '
	conf "upload_url = $KSRV_URL/v1/keys/othernode" &&
	adm "reload config" >/dev/null &&
	adm "key rotate now" >out &&
	grep -q "^ERR rotate failed: key server: HTTP 401: " out &&
	! grep -q "new files" out &&
	cmp "$KEY" k0 && cmp "$PUB" p0 &&
	[ -z "$(ls "$T_DIR/keys" | grep new)" ]
'

ks_test 'key rotate end to end: server, key_dir, res_crypto reload' '
	conf "" && adm "reload config" >/dev/null &&
	old=$(fingerprint "$PUB") &&
	adm "key rotate now" >out &&
	tail -n 1 out | grep -q "^OK$" &&
	new=$(fingerprint "$PUB") && [ "$new" != "$old" ] &&
	[ "$(key_fpr "$KEY")" = "$new" ] &&
	grep -q "^  old         $old (replaced)$" out &&
	grep -q "^  fingerprint $new (confirmed by the key server)$" out &&
	grep -q "^  http        200$" out &&
	grep -q "^  modules     res_crypto$" out &&
	grep -q "^  reload     pending" out &&
	[ "$(stat -c %a "$KEY")" = 600 ] && [ "$(stat -c %a "$PUB")" = 644 ] &&
	[ -z "$(ls "$T_DIR/keys" | grep new)" ] &&
	[ "$(ks_get "$KSRV_URL/v1/keys/testnode")" = 200 ] &&
	cmp "$T_DIR/resp" "$PUB" &&
	grep -q "event=key_upload .*op=rotate result=ok status=200 fingerprint=$new old=$old" \
	    "$T_DIR/daemon.log"
'

test_expect 'leftover .key.new blocks key rotate; key show reports it' '
	cp "$KEY" k1 && cp "$PUB" p1 &&
	cp "$KEY" "$KEY.new" &&
	adm "key rotate now" "key show" >out &&
	grep -q "^ERR .*testnode.key.new is left over" out &&
	grep -q "^  leftover    " out &&
	cmp "$KEY" k1 && cmp "$PUB" p1 && rm -f "$KEY.new"
'

ks_test 'a crash between the renames is finished by the next upload' '
	mv "$PUB" "$PUB.new" && cp p0 "$PUB" &&
	adm "key show" >out && grep -q "^  problem     .*does not match" out &&
	adm "key upload" >out &&
	grep -q "^  http        200$" out && tail -n 1 out | grep -q "^OK$" &&
	cmp "$PUB" p1 && [ ! -e "$PUB.new" ]
'

test_expect 'key <node> still shows other nodes; help lists the commands' '
	adm "key othernode" "help key" >out &&
	grep -q "^ERR no such key$" out &&
	grep -q "^  key rotate \[now|cancel\]$" out && grep -q "^  key <node>$" out
'

ks_test 'neither the token nor a signature is logged' '
	! grep -q -- "$TOKEN_VALUE" "$T_DIR/daemon.log" &&
	! grep -q -i "signature:" "$T_DIR/daemon.log"
'

test_expect 'daemon and key server stop cleanly' 'iaxkeyd_stop && ksrv_stop'

test_done
