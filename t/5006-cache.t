#!/bin/bash
# A caching proxy between iaxkeyd and the key server: iaxkey-server
# ([http] cache_max_age = 2) -> nginx (Debian's, unprivileged, on a
# loopback port, every file in the test directory) running the exact
# block of docs/iaxkey-server.md (between <!-- nginx-cache --> markers;
# only the addresses and the cache path are changed) -> iaxkeyd and curl.
# Repeated GETs are HITs that the key server never sees; a conditional
# GET gets 304; a replaced key and a staged next key are seen through the
# cache once max-age has passed (bounded polls); a request with
# Cache-Control: no-cache (iaxkeyd's stale refetch) reaches the key server.
. "$(dirname "$0")/lib/keyserver.sh"

NGINX=${NGINX:-$(command -v nginx || echo /usr/sbin/nginx)}
[ -x "$NGINX" ] || { echo "1..0 # SKIP nginx not installed"; exit 0; }
[ -x "$KSRV" ] || { echo "1..0 # skip no keyserver/iaxkey-server"; exit 0; }

NG=$T_DIR/nginx
NG_PID=
DOC=$T_TOP/docs/iaxkey-server.md
# nginx's master stops its workers on TERM; a KILLed master would leave
# them running under pid 1, out of the cleanup's reach.
trap 'if [ -n "$NG_PID" ]; then kill -TERM "$NG_PID"; wait "$NG_PID"; fi 2>/dev/null; t_cleanup' EXIT

# The fenced block between the nginx-cache markers of the doc.
doc_block() {
	awk '
	$0 == "<!-- nginx-cache -->" { armed = 1; next }
	$0 == "<!-- /nginx-cache -->" { armed = 0 }
	armed && /^```/ { next }
	armed { print; found = 1 }
	END { exit !found }' "$DOC"
}

# Write nginx.conf around the doc's block for nginx on port $1.
ng_conf() {
	mkdir -p "$NG/tmp" "$NG/cache" &&
	doc_block >"$NG/block" &&
	grep -q "listen 127.0.0.1:8081;" "$NG/block" &&
	grep -q "proxy_pass http://127.0.0.1:8080;" "$NG/block" &&
	grep -q "/var/cache/nginx/iaxkey " "$NG/block" &&
	sed -e "s|listen 127\.0\.0\.1:8081;|listen 127.0.0.1:$1;|" \
	    -e "s|http://127\.0\.0\.1:8080;|http://127.0.0.1:$KSRV_PORT;|" \
	    -e "s|/var/cache/nginx/iaxkey |$NG/cache |" \
	    "$NG/block" >"$NG/iaxkey-cache.conf" &&
	{
		# As root the workers would become nobody, who cannot enter
		# the test directory: keep them as the user running the test.
		[ "$(id -u)" != 0 ] || echo "user root;"
		cat <<-EOF
		worker_processes 1;
		pid $NG/nginx.pid;
		error_log $NG/error.log notice;
		events {
			worker_connections 64;
		}
		http {
			access_log $NG/access.log;
			client_body_temp_path $NG/tmp/body;
			proxy_temp_path $NG/tmp/proxy;
			fastcgi_temp_path $NG/tmp/fastcgi;
			uwsgi_temp_path $NG/tmp/uwsgi;
			scgi_temp_path $NG/tmp/scgi;
			include $NG/iaxkey-cache.conf;
		}
		EOF
	} >"$NG/nginx.conf"
}

# Start nginx in the foreground on a free loopback port (a few tries:
# the port is picked at random); wait until its workers run.  NG_PORT,
# NG_URL, NG_PID.
ng_start() {
	for _ in 1 2 3 4 5; do
		NG_PORT=$((20000 + RANDOM % 20000))
		ng_conf "$NG_PORT" || return 1
		"$NGINX" -t -q -p "$NG" -e "$NG/error.log" -c "$NG/nginx.conf" ||
		    return 1
		: >"$NG/error.log"
		"$NGINX" -p "$NG" -e "$NG/error.log" -c "$NG/nginx.conf" \
		    -g "daemon off;" 2>>"$NG/stderr" &
		NG_PID=$!
		wait_log "start worker process|\[emerg\]" "$NG/error.log"
		if grep -q "start worker process" "$NG/error.log" &&
		    ! grep -q "\[emerg\]" "$NG/error.log"; then
			NG_URL=http://127.0.0.1:$NG_PORT
			return 0
		fi
		ng_stop
	done
	cat "$NG/error.log"
	return 1
}

# Stop nginx (SIGQUIT: graceful) and wait for it: exit status 0.
ng_stop() {
	[ -n "$NG_PID" ] || return 0
	n_pid=$NG_PID
	NG_PID=
	kill -QUIT "$n_pid" 2>/dev/null
	wait "$n_pid"
}

# GET path $1 through the cache (more curl arguments follow); prints the
# status, the body is in resp, the headers in resp.h.
ng_get() {
	n_path=$1
	shift
	ks_get "$@" "$NG_URL$n_path"
}

# The X-Cache-Status of the last answer.
cache_status() {
	resp_header X-Cache-Status
}

# GET requests of node $1's current key that reached the key server.
origin_count() {
	grep -c "event=request method=GET node=$1 " "$T_DIR/ksrv.log"
}

# Five GETs of path $1 in a row are HITs that the key server does not see.
# max-age is 2 s: a stalled machine may let the entry expire between two
# of them, so a round that saw anything but HIT is tried again (5 rounds).
five_hits() {
	for _ in 1 2 3 4 5; do
		ng_get "$1" >/dev/null
		h_before=$(origin_count "$2")
		h_ok=1
		for _ in 1 2 3 4 5; do
			[ "$(ng_get "$1")" = 200 ] && [ "$(cache_status)" = HIT ] ||
			    h_ok=0
		done
		[ "$h_ok" = 1 ] && [ "$(origin_count "$2")" = "$h_before" ] &&
		    return 0
	done
	return 1
}

# Poll (bounded: 30 s) until GET $1 through the cache has a line matching
# $3 in its $2 (resp: the body, resp.h: the headers).
poll_get() {
	for _ in $(seq 150); do
		ng_get "$1" >/dev/null && grep -E -q -i "$3" "$T_DIR/$2" &&
		    return 0
		sleep 0.2
	done
	cat "$T_DIR/resp.h" "$T_DIR/resp"
	return 1
}

# Poll (bounded: 30 s) until iaxkeyd's console fetch of $1 (through the
# cache) installs the key with fingerprint $2.
poll_fetch() {
	for _ in $(seq 150); do
		adm "fetch $1" >out
		grep -qx "  fingerprint $2" out && return 0
		sleep 0.2
	done
	cat out
	return 1
}

test_expect 'key server with cache_max_age = 2; node nA has a key' '
	mkkey nA && mkkey nA2 && mkkey nA3 &&
	mkdir -p "$T_DIR/store" && cp "$T_DIR/nA.pub" "$T_DIR/store/" &&
	KSRV_HTTP_EXTRA="cache_max_age = 2" ksrv_conf </dev/null && ksrv_start
'

test_expect 'the key server sends the cache headers (Cache-Control, ETag, Last-Modified)' '
	[ "$(ks_get "$KSRV_URL/v1/keys/nA")" = 200 ] &&
	resp_header Cache-Control | grep -qx "public, max-age=2" &&
	resp_header ETag | grep -qx "\"$(fingerprint "$T_DIR/nA.pub")\"" &&
	resp_header Last-Modified | grep -q " GMT$" &&
	! grep -qi "^Vary:" "$T_DIR/resp.h"
'

test_expect 'nginx runs the documented block, unprivileged paths, loopback port' '
	ng_start &&
	[ "$(ng_get /v1/keys/nA)" = 200 ] && cmp "$T_DIR/resp" "$T_DIR/nA.pub" &&
	[ "$(cache_status)" = MISS ] && [ "$(origin_count nA)" = 2 ]
'

test_expect 'repeated GETs are served from the cache (HIT, the key server sees none)' '
	five_hits /v1/keys/nA nA && cmp "$T_DIR/resp" "$T_DIR/nA.pub" &&
	resp_header Cache-Control | grep -qx "public, max-age=2"
'

test_expect 'a conditional GET through the cache gets 304' '
	etag=$(resp_header ETag) && lm=$(resp_header Last-Modified) &&
	[ -n "$etag" ] && [ -n "$lm" ] &&
	[ "$(ng_get /v1/keys/nA -H "If-None-Match: $etag")" = 304 ] &&
	[ ! -s "$T_DIR/resp" ] &&
	[ "$(ng_get /v1/keys/nA -H "If-Modified-Since: $lm")" = 304 ] &&
	[ "$(ng_get /v1/keys/nA -H "If-None-Match: \"sha256:0\"")" = 200 ]
'

test_expect 'Cache-Control: no-cache (the stale refetch) reaches the key server' '
	n=$(origin_count nA)
	[ "$(ng_get /v1/keys/nA -H "Cache-Control: no-cache")" = 200 ] &&
	[ "$(cache_status)" = BYPASS ] &&
	[ "$(origin_count nA)" = $((n + 1)) ] &&
	[ "$(ng_get /v1/keys/nA -H "Cache-Control: max-age=60")" = 200 ] &&
	[ "$(cache_status)" != BYPASS ]
'

test_expect 'iaxkeyd with the cache as its key server installs nA' '
	KS_URL="$NG_URL/v1/keys/{node}" iaxkeyd_conf </dev/null &&
	own_key && iaxkeyd_start && admin_port &&
	adm "fetch nA" >out &&
	grep -qx "  result      NEW" out &&
	cmp "$T_DIR/nA.pub" "$T_DIR/keys/nA.pub"
'

test_expect 'a replaced key is seen by iaxkeyd through the cache within max-age' '
	[ "$(ks_req PUT nA "$T_DIR/nA2.pub" nA2 nA)" = 200 ] &&
	poll_fetch nA "$(fingerprint "$T_DIR/nA2.pub")" &&
	cmp "$T_DIR/nA2.pub" "$T_DIR/keys/nA.pub" &&
	grep -q "event=key_fetch node=nA source=console url=$NG_URL/v1/keys/nA result=UPDATED" \
	    "$T_DIR/daemon.log"
'

test_expect 'a staged next key is seen through the cache within max-age' '
	[ "$(ks_req PUT nA/next "$T_DIR/nA3.pub" nA3 nA2)" = 201 ] &&
	next=$(fingerprint "$T_DIR/nA3.pub") &&
	poll_get /v1/keys/nA resp.h "^X-Iaxkey-Next: $next" &&
	resp_header ETag | grep -q "+${next:7:16}+" &&
	poll_get /v1/keys resp "^nA $(fingerprint "$T_DIR/nA2.pub") next=$next$" &&
	[ "$(ng_get /v1/keys/nA/next)" = 200 ] && cmp "$T_DIR/resp" "$T_DIR/nA3.pub"
'

test_expect 'everything stops cleanly' '
	iaxkeyd_stop && ng_stop && ksrv_stop
'

test_done
