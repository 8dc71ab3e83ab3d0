#!/bin/bash
# iaxkey-server over HTTPS with a CA made by the test: registration and
# fetch with curl --cacert; an untrusted client fails; plain HTTP to the
# TLS port gets no answer; TLS 1.2 offers ECDHE with AEAD only; a
# dribbled ClientHello is cut at the handshake deadline.
. "$(dirname "$0")/lib/keyserver.sh"

# A CA and a server certificate for 127.0.0.1.
make_ca() {
	openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem \
	    -subj /CN=iaxkey-server-test-ca -days 2 2>/dev/null &&
	openssl req -newkey rsa:2048 -nodes -keyout srv.key -out srv.csr \
	    -subj /CN=127.0.0.1 2>/dev/null &&
	printf "subjectAltName=IP:127.0.0.1\n" >san.ext &&
	openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca.key \
	    -CAcreateserial -out srv.pem -days 2 -extfile san.ext 2>/dev/null
}

test_expect 'test CA' 'make_ca && mkkey a'
KSRV_TLS="[tls]
cert = $T_DIR/srv.pem
key = $T_DIR/srv.key
handshake_timeout_s = 2"
# evhttp's idle timeout far beyond the handshake deadline.
KSRV_HTTP_EXTRA="timeout_s = 600"
KSRV_SCHEME=https
CURL_TLS="--cacert $T_DIR/ca.pem"
ksrv_conf
test_expect '-n with the certificate' '
	"$KSRV" -n -f "$T_DIR/ksrv.conf" | grep -qx "configuration OK"
'
test_expect 'start over HTTPS' '
	ksrv_start && grep -q "event=listen what=https" ksrv.log
'

test_expect 'register and fetch over HTTPS' '
	TOK=$("$KSRV" -f "$T_DIR/ksrv.conf" token add nodeT) &&
	[ "$(TOKEN=$TOK ks_req PUT nodeT a.pub a)" = 201 ] &&
	[ "$(cat resp)" = "$(fingerprint a.pub)" ] &&
	[ "$(ks_get "$KSRV_URL/v1/keys/nodeT")" = 200 ] && cmp a.pub resp &&
	[ "$(ks_get "$KSRV_URL/v1/keys")" = 200 ] &&
	echo "nodeT $(fingerprint a.pub)" | test_cmp resp
'

test_expect 'without the CA the certificate is not trusted' '
	! curl -s -o /dev/null "$KSRV_URL/v1/keys/nodeT" 2>err
'

test_expect 'plain HTTP to the TLS port is not served' '
	code=$(curl -s -m 5 -o /dev/null -w "%{http_code}" \
	    "http://127.0.0.1:$KSRV_PORT/v1/keys/nodeT") ;
	[ "$code" != 200 ]
'

test_expect 'the server still serves after bad handshakes' '
	[ "$(ks_get "$KSRV_URL/v1/keys/nodeT")" = 200 ]
'

# A TLS 1.2 handshake offering only the suite $1; 0 when it succeeds.
tls12() {
	openssl s_client -connect "127.0.0.1:$KSRV_PORT" -tls1_2 \
	    -cipher "$1" </dev/null >sc.out 2>&1
}

test_expect 'TLS 1.2: ECDHE with AEAD only' '
	tls12 ECDHE-RSA-AES128-GCM-SHA256 &&
	grep -q "Cipher is ECDHE-RSA-AES128-GCM-SHA256" sc.out &&
	tls12 ECDHE-RSA-CHACHA20-POLY1305 &&
	! tls12 AES128-SHA && ! tls12 AES256-SHA256 &&
	! tls12 AES128-GCM-SHA256 && ! tls12 ECDHE-RSA-AES128-SHA &&
	! tls12 ECDHE-RSA-AES256-SHA384 && ! tls12 DHE-RSA-AES128-GCM-SHA256
'

test_expect 'a dribbled ClientHello is closed at the handshake deadline' '
	slow_cut tls 2 handshake &&
	[ "$(ks_get "$KSRV_URL/v1/keys/nodeT")" = 200 ]
'

test_expect 'stop' 'ksrv_stop'
test_done
