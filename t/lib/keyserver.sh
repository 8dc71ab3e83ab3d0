# keyserver.sh: run iaxkey-server in a shell test (sourced; it sources
# iaxkeyd.sh, which gives T_DIR, tap.sh, wait_log and the cleanup trap).
#
#   ksrv_conf              write $T_DIR/ksrv.conf; ini text on stdin is
#                          appended (use sections not written here)
#   ksrv_start             start it (-d), wait for event=listen, set
#                          KSRV_PORT, KSRV_URL and KS_PID
#   ksrv_stop              SIGTERM, wait, check exit 0, no sanitizer report
#   mkkey NAME [BITS]      NAME.key (private) and NAME.pub in $T_DIR
#   ks_req METHOD NODE BODY KEY [CURKEY]
#                          a signed request; prints the HTTP status, the
#                          body goes to $T_DIR/resp, headers to resp.h.
#                          TOKEN, TS, NONCE, SIGNODE, SIG, CURSIG
#                          override/add.
#   slow_cut KIND N PHASE  N slow clients of t/helper/slowhttp -m KIND
#                          (bounded: 60 s) must all be closed by the
#                          server, N conn_timeout lines for PHASE logged
#   ks_forge METHOD NODE TS NONCE BODY
#                          the "signature" that verifies with any e = 1
#                          key: the PKCS#1 v1.5 padded SHA-256 itself
#
# KS_PID is the variable iaxkeyd.sh's cleanup kills.

. "${T_TOP:-$(cd "$(dirname "$0")/.." && pwd)}/t/lib/iaxkeyd.sh"

KSRV=${KSRV:-$T_TOP/keyserver/iaxkey-server}
KSRV_SCHEME=http
CURL_TLS=

# Write the server configuration.
ksrv_conf() {
	mkdir -p "$T_DIR/store" &&
	cat >"$T_DIR/ksrv.conf" <<CONF
[http]
listen = 127.0.0.1:0
rate_per_min = ${KSRV_RATE:-0}
rate_burst = ${KSRV_BURST:-60}
max_connections = ${KSRV_MAXCONN:-64}
clock_skew_s = ${KSRV_SKEW:-300}
${KSRV_HTTP_EXTRA:-}

[store]
dir = $T_DIR/store

[log]
level = debug
syslog = no
${KSRV_TLS:-}
CONF
	if [ ! -t 0 ]; then
		cat >>"$T_DIR/ksrv.conf"
	fi
}

# Start the server in the foreground (background job).
ksrv_start() {
	if [ -s "$T_DIR/ksrv.log" ]; then
		cat "$T_DIR/ksrv.log" >>"$T_DIR/ksrv.log.old"
	fi
	: >"$T_DIR/ksrv.log"
	"$KSRV" -d -f "$T_DIR/ksrv.conf" >>"$T_DIR/ksrv.log" 2>&1 &
	KS_PID=$!
	# Its signal handlers are in place once event=start is logged.
	wait_log 'event=start ' "$T_DIR/ksrv.log" || {
		cat "$T_DIR/ksrv.log"
		return 1
	}
	KSRV_PORT=$(sed -n 's/.*event=listen what=https* addr=127\.0\.0\.1:\([0-9]*\).*/\1/p' \
	    "$T_DIR/ksrv.log" | tail -n 1)
	KSRV_URL=$KSRV_SCHEME://127.0.0.1:$KSRV_PORT
	[ -n "$KSRV_PORT" ]
}

# Stop it (ksrv.log.old keeps the logs of earlier runs); it must exit 0 without sanitizer reports.
ksrv_stop() {
	[ -n "$KS_PID" ] || return 0
	k_pid=$KS_PID
	KS_PID=
	daemon_stop "$k_pid" "$T_DIR/ksrv.log"
}

# A key pair NAME.key / NAME.pub (BITS, default 1024).
mkkey() {
	openssl genrsa -out "$T_DIR/$1.key" "${2:-1024}" 2>/dev/null &&
	openssl rsa -in "$T_DIR/$1.key" -pubout -out "$T_DIR/$1.pub" \
	    2>/dev/null
}

# The canonical string of METHOD NODE TS NONCE BODY (a file).
ks_canon() {
	printf '%s\n%s\n%s\n%s\n%s' "$1" "$2" "$3" "$4" \
	    "$(sha256sum <"$5" | cut -d' ' -f1)"
}

# Sign the canonical string METHOD NODE TS NONCE BODY with KEY (base64).
ks_sign() {
	ks_canon "$1" "$2" "$3" "$4" "$5" |
	    openssl dgst -sha256 -sign "$T_DIR/$6.key" | base64 -w0
}

# A forged signature for an e = 1 key: 00 01 FF.. 00 DigestInfo(SHA-256).
ks_forge() {
	f_h=$(ks_canon "$@" | sha256sum | cut -d' ' -f1)
	{
		printf 0001
		printf 'ff%.0s' $(seq 74)
		printf '003031300d060960864801650304020105000420%s' "$f_h"
	} | tr a-f A-F | basenc --base16 -d | base64 -w0
}

# A fresh nonce.
ks_nonce() {
	openssl rand -hex 16
}

# Send a signed request; print the status.  BODY is a file (/dev/null for
# none), KEY and CURKEY key names ("" for no signature).
ks_req() {
	r_method=$1 r_node=$2 r_body=$3 r_key=$4 r_cur=${5:-}
	r_ts=${TS:-$(date +%s)}
	r_nonce=${NONCE:-$(ks_nonce)}
	r_signode=${SIGNODE:-$r_node}
	set -- -s -o "$T_DIR/resp" -D "$T_DIR/resp.h" -w '%{http_code}' \
	    -H 'Expect:' -X "$r_method"
	if [ "$r_body" != /dev/null ]; then
		set -- "$@" --data-binary "@$r_body"
	fi
	if [ -n "$r_key" ]; then
		set -- "$@" -H "X-Iaxkey-Timestamp: $r_ts" \
		    -H "X-Iaxkey-Nonce: $r_nonce" \
		    -H "X-Iaxkey-Signature: ${SIG:-$(ks_sign "$r_method" \
		    "$r_signode" "$r_ts" "$r_nonce" "$r_body" "$r_key")}"
	fi
	if [ -n "$r_cur" ]; then
		set -- "$@" -H "X-Iaxkey-Current-Signature: ${CURSIG:-$(ks_sign \
		    "$r_method" "$r_signode" "$r_ts" "$r_nonce" "$r_body" \
		    "$r_cur")}"
	fi
	if [ -n "${TOKEN:-}" ]; then
		set -- "$@" -H "X-Iaxkey-Token: $TOKEN"
	fi
	rm -f "$T_DIR/resp" "$T_DIR/resp.h"
	# shellcheck disable=SC2086
	curl $CURL_TLS "$@" "$KSRV_URL/v1/keys/$r_node"
}

# N slow clients of KIND, each closed at the deadline of PHASE.
slow_cut() {
	"$T_TOP/t/helper/slowhttp" -b 127.0.0.1 -n "$2" -i 200 -T 60 \
	    -m "$1" "127.0.0.1:$KSRV_PORT" >"$T_DIR/slow-$1.out" 2>&1 &&
	grep -qx "end open=0 closed=$2 .*" "$T_DIR/slow-$1.out" &&
	[ "$(grep -c "event=conn_timeout addr=127.0.0.1 phase=$3 " \
	    "$T_DIR/ksrv.log")" = "$2" ]
}

# GET a URL path; print the status, body in $T_DIR/resp.
ks_get() {
	rm -f "$T_DIR/resp" "$T_DIR/resp.h"
	curl $CURL_TLS -s -o "$T_DIR/resp" -D "$T_DIR/resp.h" \
	    -w '%{http_code}' "$@"
}

# The value of response header $1 (without CR).
resp_header() {
	sed -n "s/^$1: *//Ip" "$T_DIR/resp.h" | tr -d '\r'
}
