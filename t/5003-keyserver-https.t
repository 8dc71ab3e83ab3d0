#!/bin/bash
# iaxkey-server over HTTPS with a CA made by the test: registration and
# fetch with curl --cacert; an untrusted client fails; plain HTTP to the
# TLS port gets no answer.
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
key = $T_DIR/srv.key"
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

test_expect 'stop' 'ksrv_stop'
test_done
