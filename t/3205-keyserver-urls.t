#!/bin/bash
# Several key server URLs ([keyserver] url and index_url, agi/ksget.c):
# URL 1 is the key server stub (t/helper/http-stub: it can answer 503, 429
# or 404, and restarts on the same port), URL 2 the real iaxkey-server.
# Tried in order with a backoff per URL: the first down -> the key comes
# from the second in the same fetch, the ops log and the console say so;
# back up -> it serves again once its backoff ends; 503 and 429 move on,
# 404 does not; both down -> the call falls back and nothing installed
# goes; one back while both back off -> the first fetch after it succeeds;
# the index list of sync, given or derived from url; iaxkeyd -n names a
# bad entry; /metrics counts by position, never by URL text.
. "$(dirname "$0")/lib/keyserver.sh"

[ -x "$KSRV" ] || { echo "1..0 # skip no keyserver/iaxkey-server"; exit 0; }

B_PID=
USERS=$T_DIR/ast/iaxkeyd-users.conf

# The console: fetch node $1 (reply in out; any outcome).
fetch() {
	adm "fetch $1" >out
	grep "^  result " out
}

# The last key_fetch line of node $1.
last_fetch() {
	grep "event=key_fetch node=$1 " "$T_DIR/daemon.log" | tail -n 1
}

# The console's state line of URL $2 of list $1 (key, index).
url_state() {
	adm keyserver >ks.out &&
	awk -v l="$1" -v p="$2" '$1 == l && $2 == p { getline; print; f = 1 }
	    END { exit !f }' ks.out
}

# Fetch node $1 from the console $2 times: each one FAILED.
fetch_fails() {
	for _ in $(seq "$2"); do
		fetch "$1" | grep -qx "  result      FAILED" || return 1
	done
}

# Poll (bounded: 30 s) until URL $2 of list $1 is no longer backing off.
wait_url_ok() {
	for _ in $(seq 150); do
		url_state "$1" "$2" | grep -q "^ *ok, " && return 0
		sleep 0.2
	done
	url_state "$1" "$2"
	return 1
}

# The GETs of node $1 the real key server (URL 2) saw.
b_count() {
	grep -c "event=request method=GET node=$1 " "$T_DIR/ksrv.log"
}

# Stop the real key server (it must exit 0, no sanitizer report).
b_stop() {
	[ -n "$B_PID" ] || return 0
	b_pid=$B_PID
	B_PID=
	daemon_stop "$b_pid" "$T_DIR/ksrv.log"
}

test_expect 'iaxkeyd -n names a bad entry of a URL list' '
	KS_URL="http://127.0.0.1:1/v1/keys/{node} ftp://k/{node}" \
	    iaxkeyd_conf </dev/null &&
	! "$IKD" -n -f "$T_DIR/iaxkeyd.conf" 2>err &&
	grep -q "keyserver:url: URL 2: not an http:// or https:// URL" err &&
	KS_URL="http://127.0.0.1:1/v1/keys/{node} http://127.0.0.1:2/v1/keys" \
	    iaxkeyd_conf </dev/null &&
	! "$IKD" -n -f "$T_DIR/iaxkeyd.conf" 2>err &&
	grep -q "keyserver:url: URL 2 without {node}" err &&
	KS_URL="http://127.0.0.1:1/v1/keys/{node} http://127.0.0.1:2/k/{node}" \
	    iaxkeyd_conf </dev/null &&
	sed -i "s/^allow_http = yes/allow_http = no/" "$T_DIR/iaxkeyd.conf" &&
	! "$IKD" -n -f "$T_DIR/iaxkeyd.conf" 2>err &&
	grep -q "keyserver:url: URL 1: plain http:// needs keyserver:allow_http = yes" err
'

test_expect 'two key servers: URL 1 (stub) down, URL 2 (iaxkey-server) up' '
	mkkey n1 && mkkey n404 && mkkey n503 && mkkey n429 && mkkey nR &&
	mkdir -p "$T_DIR/store" "$T_DIR/ks" &&
	for n in n1 n404 n503 n429; do cp "$T_DIR/$n.pub" "$T_DIR/store/"; done &&
	ksrv_conf </dev/null && ksrv_start && B_PID=$KS_PID && KS_PID= &&
	B_URL=$KSRV_URL &&
	ks_start && A_PORT=$KS_PORT && ks_stop &&
	A_URL=http://127.0.0.1:$A_PORT &&
	KS_URL="$A_URL/v1/keys/{node} $B_URL/v1/keys/{node}" \
	    iaxkeyd_conf <<-EOF &&
	[metrics]
	listen = 127.0.0.1:0
	EOF
	own_key && iaxkeyd_start && admin_port && metrics_port
'

test_expect 'URL 1 down: one inbound call gets the key from URL 2 at once' '
	emu -s inbound -a n1 -a MD5 >out &&
	grep -qx "var IAXKEY_KEY=NEW" out &&
	grep -qx "var IAXKEY_FINGERPRINT=$(fingerprint "$T_DIR/n1.pub")" out &&
	cmp "$T_DIR/n1.pub" "$T_DIR/keys/n1.pub" &&
	[ "$(count_log "event=key_fetch node=n1 ")" = 1 ] &&
	last_fetch n1 | grep -q "source=inbound url=$B_URL/v1/keys/n1 result=NEW" &&
	[ "$(b_count n1)" = 1 ]
'

test_expect 'the ops log and the console: URL 1 backs off, URL 2 served' '
	grep -q "event=keyserver_backoff list=key pos=1 url=$A_URL/v1/keys/{node} backoff_ms=1000 reason=" "$T_DIR/daemon.log" &&
	url_state key 1 >st &&
	grep -E -q "^ *(backoff until 20[0-9-]+T[0-9:]+Z|ok), answers 0, failures 1, last error \"?(Couldn.t|Could not|Failed to) connect" st &&
	url_state key 2 >st &&
	grep -q "^ *ok, answers 1, failures 0, last error -$" st &&
	grep -q "^  key   1  $A_URL/v1/keys/{node}$" ks.out &&
	grep -q "^  key   2  $B_URL/v1/keys/{node}$" ks.out &&
	grep -q "^  index 1  $A_URL/v1/keys$" ks.out &&
	grep -q "^  index 2  $B_URL/v1/keys$" ks.out &&
	tail -n 1 ks.out | grep -qx OK
'

test_expect '/metrics: requests by list and position, never the URL' '
	scrape "$METRICS_PORT" >page &&
	[ "$(series page "iaxkeyd_keyserver_requests_total{list=\"key\",url=\"1\",result=\"failed\"}")" -ge 1 ] &&
	[ "$(series page "iaxkeyd_keyserver_requests_total{list=\"key\",url=\"2\",result=\"ok\"}")" = 1 ] &&
	series page "iaxkeyd_keyserver_requests_total{list=\"index\",url=\"2\",result=\"failed\"}" &&
	! grep -q "127.0.0.1:$A_PORT" page
'

test_promlint 'the keyserver family' 'scrape "$METRICS_PORT" >page'

test_expect 'URL 1 back up: once its backoff ends it serves again' '
	cp "$T_DIR/n1.pub" "$T_DIR/ks/n1.pub" &&
	ks_start -p "$A_PORT" && [ "$KS_PORT" = "$A_PORT" ] &&
	wait_url_ok key 1 &&
	fetch n1 | grep -qx "  result      UNCHANGED" &&
	last_fetch n1 | grep -q "source=console url=$A_URL/v1/keys/n1 result=UNCHANGED" &&
	[ "$(b_count n1)" = 1 ] &&
	grep -q "event=keyserver_ok list=key pos=1 url=$A_URL/v1/keys/{node}" "$T_DIR/daemon.log" &&
	url_state key 1 | grep -q "^ *ok, answers 1, failures 1,"
'

# URL 1 answers node n<status> with HTTP <status> ($1): the same console
# fetch moves on to URL 2, which serves the key; URL 1 backs off (the
# log says so; its 1 s backoff may be over when the console is read).
moves_on() {
	wait_url_ok key 1 &&
	echo "status $1" >"$T_DIR/ks/n$1.behave" &&
	fetch "n$1" | grep -qx "  result      NEW" &&
	last_fetch "n$1" | grep -q "url=$B_URL/v1/keys/n$1 result=NEW" &&
	[ "$(ks_count "n$1")" = 1 ] && [ "$(b_count "n$1")" = 1 ] &&
	grep -q "event=keyserver_backoff list=key pos=1 .*reason=\"HTTP $1\"" "$T_DIR/daemon.log" &&
	url_state key 1 | grep -E -q "^ *(backoff until [^,]*|ok), .*last error \"HTTP $1\""
}

test_expect '503 at URL 1: the same fetch moves on to URL 2' 'moves_on 503'
test_expect '429 at URL 1: the same fetch moves on to URL 2' 'moves_on 429'

test_expect '404 at URL 1 is an answer: URL 2 is not asked' '
	wait_url_ok key 1 &&
	fetch n404 | grep -qx "  result      NOT_FOUND" &&
	last_fetch n404 | grep -q "url=$A_URL/v1/keys/n404 result=NOT_FOUND" &&
	[ "$(ks_count n404)" = 1 ] && [ "$(b_count n404)" = 0 ] &&
	url_state key 1 | grep -q "^ *ok, "
'

test_expect 'both down: the call falls back, the fetch fails, nothing goes' '
	ks_stop && b_stop &&
	emu -s inbound -a nR -a MD5 >out &&
	grep -qx "var IAXKEY_STATUS=FALLBACK" out &&
	grep -qx "var IAXKEY_KEY=FAILED" out &&
	[ ! -e "$T_DIR/keys/nR.pub" ] &&
	fetch_fails n1 4 &&
	cmp "$T_DIR/n1.pub" "$T_DIR/keys/n1.pub" &&
	grep -E -q "^inkeys=(.*:)?n1(:|$)" "$USERS" &&
	[ "$(sqlite3 "$T_DIR/state.db" "SELECT count(*) FROM keys WHERE installed")" = 3 ] &&
	url_state key 1 | grep -q "^ *backoff until " &&
	url_state key 2 | grep -q "^ *backoff until "
'

test_expect 'both backing off, URL 1 back: the first call after it learns the key' '
	cp "$T_DIR/nR.pub" "$T_DIR/ks/nR.pub" &&
	ks_start -p "$A_PORT" &&
	url_state key 1 | grep -q "^ *backoff until " &&
	url_state key 2 | grep -q "^ *backoff until " &&
	emu -s inbound -a nR -a MD5 >out &&
	grep -qx "var IAXKEY_KEY=NEW" out &&
	cmp "$T_DIR/nR.pub" "$T_DIR/keys/nR.pub" &&
	last_fetch nR | grep -q "source=inbound url=$A_URL/v1/keys/nR result=NEW"
'

# A sync round ends, answered (ok, or unchanged: a 304) by index URL $1.
sync_url() {
	n=$(count_log "event=sync ")
	adm sync | tail -n 1 | grep -qx OK &&
	wait_count "event=sync " $((n + 1)) &&
	grep "event=sync " "$T_DIR/daemon.log" | tail -n 1 |
	    grep -E -q "result=(ok|unchanged) .*url=$1"
}

test_expect 'index_url list: sync skips the dead first index URL' '
	sed -i "/^\[keyserver\]/a index_url = http://127.0.0.1:1/v1/keys $A_URL/v1/keys" \
	    "$T_DIR/iaxkeyd.conf" &&
	adm "reload config" | tail -n 1 | grep -qx OK &&
	sync_url "$A_URL/v1/keys" &&
	grep -q "event=keyserver_backoff list=index pos=1 " "$T_DIR/daemon.log" &&
	url_state index 1 | grep -E -q "^ *(backoff until [^,]*|ok), answers 0, failures 1," &&
	grep -q "^  index 1  http://127.0.0.1:1/v1/keys$" ks.out
'

test_expect 'empty index_url: each url entry without /{node}, in order' '
	sed -i -e "/^index_url = /d" \
	    -e "s|^url = .*|url = http://127.0.0.1:1/v1/keys/{node} $A_URL/v1/keys/{node}|" \
	    "$T_DIR/iaxkeyd.conf" &&
	adm "reload config" | tail -n 1 | grep -qx OK &&
	sync_url "$A_URL/v1/keys" &&
	adm keyserver >ks.out &&
	grep -q "^  index 1  http://127.0.0.1:1/v1/keys$" ks.out &&
	grep -q "^  index 2  $A_URL/v1/keys$" ks.out
'

test_expect 'daemons stop cleanly' 'iaxkeyd_stop && ks_stop'

test_done
