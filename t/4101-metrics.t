#!/bin/bash
# iaxkeyd's GET /metrics ([metrics], docs/metrics.md): off by default,
# [metrics] allow checked by -n, the Prometheus text format that promtool
# accepts before and after load (agibench and the emulator), the same
# numbers as the console's "stats" and "stats prometheus" in one run, 403
# for peers outside the allow list (counted), 404, 501 and 413, the connection
# cap (the listener pauses and resumes), reload moves and stops it.
. "$(dirname "$0")/lib/iaxkeyd.sh"

AGIBENCH=$T_TOP/t/helper/agibench
NPING=300
HOLDERS=
trap '[ -n "$HOLDERS" ] && kill $HOLDERS 2>/dev/null; t_cleanup' EXIT

# 1 when the series of prefix $2 in page $1 never decrease (buckets).
monotonic() {
	awk -v p="$2" 'index($1, p) == 1 { if ($2 + 0 < last) bad = 1
		last = $2 + 0; n++ } END { exit bad || n == 0 }' "$1"
}

# Every counter of map in console stats $1 equals its series in page $2.
same_numbers() {
	n=0
	while read -r name prom; do
		text=$(sed -n "s/^$name //p" "$1")
		val=$(series "$2" "$prom")
		[ -n "$text" ] && [ "$text" = "$val" ] ||
		    { echo "$name=$text $prom=$val"; return 1; }
		n=$((n + 1))
	done <map
	[ "$n" = 26 ]
}

# The page without what moves between two reads: the uptime, the
# endpoint's own families, the console clients gauge.
stable() {
	grep -v -E '^(# (HELP|TYPE) )?iaxkeyd_(uptime_seconds|metrics_|admin_clients)' "$1"
}

test_expect 'iaxkeyd -n checks [metrics] allow' '
	iaxkeyd_conf </dev/null &&
	for bad in 10.0.0.0/33 ::1/129 nohost 10.0.0.0/ 10.0.0.0/x \
	    "$(printf "10.0.0.%d " $(seq 33))"; do
		printf "[metrics]\nallow = %s\n" "$bad" >>"$T_DIR/iaxkeyd.conf" &&
		! "$IKD" -n -f "$T_DIR/iaxkeyd.conf" >out 2>err &&
		grep -q "metrics:allow" err &&
		iaxkeyd_conf </dev/null || { cat err; return 1; }
	done &&
	printf "[metrics]\nlisten = 127.0.0.1:0\nallow = 127.0.0.1/8, ::1 10.1.2.3\n" \
	    >>"$T_DIR/iaxkeyd.conf" &&
	"$IKD" -n -f "$T_DIR/iaxkeyd.conf" >out &&
	grep -qx "configuration OK" out
'

# (stopped whatever happens: the next test starts another daemon)
test_expect 'off by default: no metrics listener' '
	iaxkeyd_conf </dev/null && iaxkeyd_start && admin_port &&
	adm status >out
	iaxkeyd_stop &&
	grep -qx "  metrics      none" out &&
	! grep -q "what=metrics" "$T_DIR/daemon.log"
'

iaxkeyd_conf <<EOF
[metrics]
listen = 127.0.0.1:0
EOF
test_expect 'with [metrics] listen: a listener on loopback, logged, in status' '
	iaxkeyd_start && metrics_port && admin_port &&
	adm status >out && grep -qx "  metrics      127.0.0.1:$METRICS_PORT" out
'

test_expect 'GET /metrics: 200 and the exposition content type' '
	curl -s -D head -o page "http://127.0.0.1:$METRICS_PORT/metrics" &&
	head -n 1 head | grep -q "^HTTP/1.1 200" &&
	grep -qix "content-type: text/plain; version=0.0.4; charset=utf-8.$(printf "\r")\?" head &&
	series page "iaxkeyd_build_info{version=\"0.1.0\"}" >v && [ "$(cat v)" = 1 ] &&
	series page iaxkeyd_metrics_scrapes_total >v && [ "$(cat v)" = 1 ]
'

test_promlint 'the idle page is clean' 'scrape "$METRICS_PORT" >page'

test_expect "load: $NPING pings (agibench), unknown scripts, failed fetches" '
	"$AGIBENCH" -c 8 -n $NPING -t 60000 -V IAXKEY_STATUS \
	    "127.0.0.1:$AGI_PORT" >bench.out 2>&1 &&
	grep -qx "var=IAXKEY_STATUS value=OK count=$NPING" bench.out &&
	emu -s nosuch >out && emu -s nosuch >out &&
	emu -s inbound -a nodeZ -a MD5 >out &&
	wait_no_sessions
'

test_promlint 'the page after load is clean' '
	scrape "$METRICS_PORT" >page &&
	grep -q "^iaxkeyd_session_duration_seconds_bucket{script=\"ping\",le=\"0.001\"} " page
'

test_expect 'the histogram: +Inf bucket = _count = sessions of the script' '
	scrape "$METRICS_PORT" >page &&
	series page "iaxkeyd_session_duration_seconds_bucket{script=\"ping\",le=\"+Inf\"}" >inf &&
	series page "iaxkeyd_session_duration_seconds_count{script=\"ping\"}" >cnt &&
	series page "iaxkeyd_sessions_total{script=\"ping\",status=\"OK\"}" >ok &&
	[ "$(cat inf)" = $NPING ] && [ "$(cat cnt)" = $NPING ] &&
	[ "$(cat ok)" = $NPING ] &&
	monotonic page "iaxkeyd_session_duration_seconds_bucket{script=\"ping\","
'

# console "stats" name -> the series of the same counter on /metrics
cat >map <<'EOF'
sessions_accepted iaxkeyd_sessions_accepted_total
sessions_active iaxkeyd_sessions_active
protocol_errors iaxkeyd_protocol_errors_total
timeouts iaxkeyd_session_timeouts_total
listener_paused iaxkeyd_listener_paused_total
reloads_ok iaxkeyd_reloads_total{result="ok"}
reloads_failed iaxkeyd_reloads_total{result="failed"}
reloads_refused iaxkeyd_reloads_refused_total
reload_write_failures iaxkeyd_reload_write_failures_total
key_requests iaxkeyd_key_requests_total
key_fetches_ok iaxkeyd_key_fetches_total{result="ok"}
key_fetches_failed iaxkeyd_key_fetches_total{result="failed"}
key_fetches_inflight iaxkeyd_key_fetches_inflight
keys_installed iaxkeyd_keys_installed_total
key_negative_hits iaxkeyd_key_negative_hits_total
key_rate_limited iaxkeyd_key_rate_limited_total
sync_rounds iaxkeyd_sync_rounds_total
sync_failed iaxkeyd_sync_failures_total
sync_fetched iaxkeyd_sync_fetched_total
sync_removed iaxkeyd_sync_removed_total
peers_file_writes iaxkeyd_peers_file_writes_total
admin_auth_failures iaxkeyd_admin_auth_failures_total
admin_watch_dropped iaxkeyd_admin_watch_dropped_lines_total
admin_auth_refused iaxkeyd_admin_auth_refused_total
admin_auth_timeouts iaxkeyd_admin_auth_timeouts_total
admin_unauth_evicted iaxkeyd_admin_unauth_evicted_total
EOF

test_expect 'console "stats" and /metrics: the same numbers in one run' '
	adm stats | sed "s/^  //" >stats.txt && scrape "$METRICS_PORT" >page &&
	[ "$(sed -n "s/^sessions_accepted //p" stats.txt)" -ge $((NPING + 3)) ] &&
	[ "$(sed -n "s/^key_fetches_failed //p" stats.txt)" -ge 1 ] &&
	same_numbers stats.txt page &&
	sed -n "s/^session_status script=\([^ ]*\) status=\([^ ]*\) count=\([0-9]*\)$/iaxkeyd_sessions_total{script=\"\1\",status=\"\2\"} \3/p" \
	    stats.txt >want && [ "$(wc -l <want)" -ge 3 ] &&
	grep "^iaxkeyd_sessions_total{" page >got && test_cmp got <want &&
	ended=$(sed -n "s/^sessions_ended //p" stats.txt) &&
	[ "$(awk "{ s += \$2 } END { print s }" got)" = "$ended" ] &&
	sed -n "s/^session_ms script=\([^ ]*\) count=\([0-9]*\) .*/iaxkeyd_session_duration_seconds_count{script=\"\1\"} \2/p" \
	    stats.txt >want &&
	grep "^iaxkeyd_session_duration_seconds_count{" page >got &&
	test_cmp got <want
'

test_expect 'console "stats prometheus" and /metrics: the same page' '
	adm "stats prometheus" | grep -v -x OK >console.prom &&
	scrape "$METRICS_PORT" >page &&
	stable console.prom >a && stable page >b && test_cmp b <a &&
	[ "$(wc -l <a)" -gt 100 ]
'

test_expect 'unknown path 404, POST 501, a body 413, none counted as a scrape' '
	scrape "$METRICS_PORT" >before &&
	[ "$(curl -s -o /dev/null -w "%{http_code}" "http://127.0.0.1:$METRICS_PORT/")" = 404 ] &&
	[ "$(curl -s -o /dev/null -w "%{http_code}" "http://127.0.0.1:$METRICS_PORT/metricsx")" = 404 ] &&
	[ "$(curl -s -o /dev/null -w "%{http_code}" -X POST "http://127.0.0.1:$METRICS_PORT/metrics")" = 501 ] &&
	[ "$(curl -s -o /dev/null -w "%{http_code}" -X POST -d x "http://127.0.0.1:$METRICS_PORT/metrics")" = 413 ] &&
	scrape "$METRICS_PORT" >after &&
	b=$(series before iaxkeyd_metrics_scrapes_total) &&
	a=$(series after iaxkeyd_metrics_scrapes_total) &&
	[ "$a" = $((b + 1)) ]
'

test_expect 'oversized request headers are refused' '
	code=$(curl -s -o /dev/null -w "%{http_code}" \
	    -H "X-Big: $(head -c 9000 /dev/zero | tr "\0" a)" \
	    "http://127.0.0.1:$METRICS_PORT/metrics") &&
	case $code in 4*) ;; *) echo "status $code"; false ;; esac
'

test_expect 'allow = 127.0.0.2/31 (SIGHUP): 403 from .1 and .4, counted; 200 from .2, .3' '
	printf "allow = 127.0.0.2/31\n" >>"$T_DIR/iaxkeyd.conf" &&
	kill -HUP $IKD_PID && wait_log "event=config_reload .*status=ok" &&
	[ "$(curl -s -o body -w "%{http_code}" "http://127.0.0.1:$METRICS_PORT/metrics")" = 403 ] &&
	grep -qx forbidden body &&
	[ "$(curl -s -o /dev/null -w "%{http_code}" --interface 127.0.0.4 "http://127.0.0.1:$METRICS_PORT/metrics")" = 403 ] &&
	scrape "$METRICS_PORT" --interface 127.0.0.3 >/dev/null &&
	scrape "$METRICS_PORT" --interface 127.0.0.2 >page &&
	series page iaxkeyd_metrics_refused_total >v && [ "$(cat v)" = 2 ] &&
	wait_log "event=metrics_refused addr=127.0.0.1:" &&
	wait_log "event=metrics_refused addr=127.0.0.4:"
'

test_expect "20 idle clients outside allow: 4 held for their 403, 16 dropped; .2 served meanwhile" '
	before=$(scrape "$METRICS_PORT" --interface 127.0.0.2 | sed -n "s/^iaxkeyd_metrics_refused_total //p") &&
	for i in $(seq 20); do
		nc -d -s 127.0.0.1 127.0.0.1 "$METRICS_PORT" >/dev/null 2>&1 &
		HOLDERS="$HOLDERS $!"
	done &&
	for _ in $(seq 300); do
		live=0
		for p in $HOLDERS; do kill -0 $p 2>/dev/null && live=$((live + 1)); done
		[ $live -le 4 ] && break
		sleep 0.1
	done &&
	[ $live = 4 ] &&
	scrape "$METRICS_PORT" --interface 127.0.0.2 >page &&
	series page iaxkeyd_metrics_refused_total >v &&
	[ "$(cat v)" = $((before + 16)) ] &&
	! grep -q "listener paused" "$T_DIR/daemon.log" && rc=0 || rc=1
	kill $HOLDERS 2>/dev/null; wait $HOLDERS 2>/dev/null; HOLDERS=
	[ $rc = 0 ]
'

test_expect "the connection cap: 20 idle clients pause the listener, it resumes" '
	for i in $(seq 20); do
		nc -d -s 127.0.0.2 127.0.0.1 "$METRICS_PORT" >/dev/null 2>&1 &
		HOLDERS="$HOLDERS $!"
	done &&
	wait_log "metrics: 16 connections, listener paused" && rc=0 || rc=1
	kill $HOLDERS 2>/dev/null; wait $HOLDERS 2>/dev/null; HOLDERS=
	[ $rc = 0 ] &&
	scrape "$METRICS_PORT" --interface 127.0.0.2 >page &&
	series page iaxkeyd_metrics_scrapes_total >v && [ -n "$(cat v)" ]
'

test_expect 'reload: an empty listen closes the endpoint' '
	awk "/^\[metrics\]/ { m = 1 } m && /^listen/ { print \"listen =\"; next } { print }" \
	    "$T_DIR/iaxkeyd.conf" >conf.new && mv conf.new "$T_DIR/iaxkeyd.conf" &&
	kill -HUP $IKD_PID && wait_log "metrics endpoint off" &&
	adm status >out && grep -qx "  metrics      none" out &&
	! curl -s --max-time 20 "http://127.0.0.1:$METRICS_PORT/metrics" \
	    --interface 127.0.0.2 >/dev/null
'

test_expect 'SIGTERM: clean exit' 'iaxkeyd_stop'

test_done
