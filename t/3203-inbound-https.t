#!/bin/bash
# inbound over HTTPS with a CA made by the test: the key server's
# certificate is verified against ca_file; plain http needs allow_http.
. "$(dirname "$0")/lib/iaxkeyd.sh"

# A CA and a server certificate for 127.0.0.1.
make_ca() {
	openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem \
	    -subj /CN=iaxkeyd-test-ca -days 2 2>/dev/null &&
	openssl req -newkey rsa:2048 -nodes -keyout srv.key -out srv.csr \
	    -subj /CN=127.0.0.1 2>/dev/null &&
	printf "subjectAltName=IP:127.0.0.1\n" >san.ext &&
	openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca.key \
	    -CAcreateserial -out srv.pem -days 2 -extfile san.ext 2>/dev/null
}

test_expect 'test CA, HTTPS key server' '
	make_ca && ks_start -c srv.pem -k srv.key
'
KS_URL="https://127.0.0.1:$KS_PORT/v1/keys/{node}"
KEYSERVER_EXTRA="ca_file = $T_DIR/ca.pem"
iaxkeyd_conf
sed -i "s/^allow_http = yes/allow_http = no/" "$T_DIR/iaxkeyd.conf"
test_expect 'daemon' 'own_key && iaxkeyd_start'

test_expect 'HTTPS with the test CA: key installed' '
	ks_key nodeT &&
	emu -s inbound -a nodeT -a MD5 >out &&
	grep -qx "var IAXKEY_KEY=NEW" out &&
	cmp "$T_DIR/ks/nodeT.pub" "$T_DIR/keys/nodeT.pub"
'

test_expect 'without ca_file the certificate is not trusted: FAILED' '
	iaxkeyd_stop &&
	sed -i "/^ca_file = /d" "$T_DIR/iaxkeyd.conf" &&
	iaxkeyd_start &&
	ks_key nodeU &&
	emu -s inbound -a nodeU -a MD5 >out &&
	grep -qx "var IAXKEY_KEY=FAILED" out &&
	grep -qi "^var IAXKEY_REASON=key server: .*certificate" out &&
	[ ! -e "$T_DIR/keys/nodeU.pub" ]
'

test_expect 'plain http without allow_http: a reload to it is refused' '
	iaxkeyd_stop && ks_stop && ks_start && iaxkeyd_start &&
	sed -i "s|^url = .*|url = http://127.0.0.1:$KS_PORT/v1/keys/{node}|" "$T_DIR/iaxkeyd.conf" &&
	kill -HUP "$IKD_PID" &&
	wait_log "event=config_reload .*status=error reason=\".*keyserver:url: URL 1: plain http:// needs keyserver:allow_http = yes\"" &&
	ks_key nodeV &&
	emu -s inbound -a nodeV -a MD5 >out &&
	grep -qx "var IAXKEY_KEY=FAILED" out &&
	[ "$(ks_count nodeV)" = 0 ] &&
	iaxkeyd_stop
'

test_expect 'plain http without allow_http: no start, and -n says why' '
	! "$IKD" -n -f "$T_DIR/iaxkeyd.conf" 2>err &&
	grep -q "keyserver:url: URL 1: plain http:// needs keyserver:allow_http = yes" err &&
	: >"$T_DIR/daemon.log" &&
	{ bounded "$IKD" -d -f "$T_DIR/iaxkeyd.conf" >>"$T_DIR/daemon.log" 2>&1; rc=$?; } ;
	[ "$rc" = 1 ] && ! grep -q "event=start" "$T_DIR/daemon.log" &&
	grep -q "allow_http = yes" "$T_DIR/daemon.log"
'
test_done
