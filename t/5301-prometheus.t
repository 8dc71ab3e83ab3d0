#!/bin/bash
# A real Prometheus (Debian's prometheus package) scrapes iaxkeyd and
# iaxkey-server on loopback every second, with etc/iaxkeyd-alerts.yml
# loaded; PromQL through its HTTP API returns what the load made: both
# targets up, the pings iaxkeyd served, and one key fetch seen from both
# sides (iaxkeyd's fetch, the key server's GET).  The alert rules pass
# promtool check rules and their unit tests (t/prom/alerts-test.yml), and
# every rule evaluates without error against the live series.
. "$(dirname "$0")/lib/keyserver.sh"

[ -x "$KSRV" ] || { echo "1..0 # skip no keyserver/iaxkey-server"; exit 0; }
need_promtool

AGIBENCH=$T_TOP/t/helper/agibench
NPING=200
PROM_PID=
PROM_PORT=
trap 'prom_stop; t_cleanup' EXIT

# Stop Prometheus (SIGTERM, then wait for it).
prom_stop() {
	[ -n "$PROM_PID" ] || return 0
	kill -TERM "$PROM_PID" 2>/dev/null
	wait "$PROM_PID" 2>/dev/null
	PROM_PID=
	return 0
}

# Start Prometheus on a free loopback port (a few tries: the port is
# picked at random); wait until it serves.  Sets PROM_PORT and PROM_PID.
prom_start() {
	for _ in 1 2 3 4 5; do
		PROM_PORT=$((20000 + RANDOM % 20000))
		: >"$T_DIR/prom.log"
		prometheus --config.file="$T_DIR/prometheus.yml" \
		    --storage.tsdb.path="$T_DIR/tsdb" \
		    --web.listen-address="127.0.0.1:$PROM_PORT" \
		    >>"$T_DIR/prom.log" 2>&1 &
		PROM_PID=$!
		WAIT_LOG_SECS=60 wait_log \
		    "Server is ready to receive web requests|address already in use|err=" \
		    "$T_DIR/prom.log"
		grep -q "Server is ready to receive web requests" \
		    "$T_DIR/prom.log" && return 0
		prom_stop
	done
	cat "$T_DIR/prom.log"
	return 1
}

# The value of PromQL query $1 when it has exactly one result; "n=N"
# otherwise.
promql() {
	curl -s --max-time 10 "http://127.0.0.1:$PROM_PORT/api/v1/query" \
	    --data-urlencode "query=$1" >"$T_DIR/q.json" || return 1
	q_n=$(grep -o '"value":\[' "$T_DIR/q.json" | wc -l)
	if [ "$q_n" != 1 ]; then
		echo "n=$q_n"
		return 0
	fi
	sed -n 's/.*"value":\[[0-9.e+]*,"\([^"]*\)"\].*/\1/p' "$T_DIR/q.json"
}

# Poll PromQL $1 until its one value is $2 (bounded: 60 s; scrapes are
# 1 s apart).
promql_wait() {
	for _ in $(seq 240); do
		q_v=$(promql "$1")
		[ "$q_v" = "$2" ] && return 0
		sleep 0.25
	done
	echo "query $1: got $q_v, want $2"
	cat "$T_DIR/q.json"
	return 1
}

test_expect 'promtool check rules: etc/iaxkeyd-alerts.yml' '
	promtool check rules "$T_TOP/etc/iaxkeyd-alerts.yml" >out 2>&1 &&
	grep -q "SUCCESS: 14 rules found" out
'

test_expect 'promtool test rules: each alert fires on its series only' '
	promtool test rules "$T_TOP/t/prom/alerts-test.yml" >out 2>&1 &&
	grep -q SUCCESS out
'

test_expect 'key server with /metrics; node A registers its key' '
	ksrv_conf <<-CONF &&
	[metrics]
	listen = 127.0.0.1:0
	CONF
	ksrv_start && metrics_port "$T_DIR/ksrv.log" &&
	KS_MPORT=$METRICS_PORT && mkkey nodeA &&
	TOK=$("$KSRV" -f "$T_DIR/ksrv.conf" token add nodeA) &&
	[ "$(TOKEN=$TOK ks_req PUT nodeA nodeA.pub nodeA)" = 201 ]
'

test_expect 'iaxkeyd with /metrics, fetching from the key server' '
	KS_URL="$KSRV_URL/v1/keys/{node}" iaxkeyd_conf <<-CONF &&
	[metrics]
	listen = 127.0.0.1:0
	CONF
	iaxkeyd_start && metrics_port && IKD_MPORT=$METRICS_PORT
'

test_expect 'Prometheus scrapes both every second, alert rules loaded' '
	cat >"$T_DIR/prometheus.yml" <<-CONF &&
	global:
	  scrape_interval: 1s
	  evaluation_interval: 1s
	rule_files:
	  - $T_TOP/etc/iaxkeyd-alerts.yml
	scrape_configs:
	  - job_name: iaxkeyd
	    static_configs:
	      - targets: ["127.0.0.1:$IKD_MPORT"]
	  - job_name: iaxkey-server
	    static_configs:
	      - targets: ["127.0.0.1:$KS_MPORT"]
	CONF
	promtool check config "$T_DIR/prometheus.yml" >out 2>&1 &&
	prom_start &&
	promql_wait "sum(up{job=~\"iaxkeyd|iaxkey-server\"})" 2
'

test_expect "load: $NPING pings, an MD5 call from node A (its key fetched)" '
	"$AGIBENCH" -c 8 -n $NPING -t 60000 -V IAXKEY_STATUS \
	    "127.0.0.1:$AGI_PORT" >bench.out 2>&1 &&
	grep -qx "var=IAXKEY_STATUS value=OK count=$NPING" bench.out &&
	emu -s inbound -a nodeA -a MD5 >out &&
	grep -qx "var IAXKEY_STATUS=FALLBACK" out &&
	grep -qx "var IAXKEY_KEY=NEW" out
'

test_expect 'PromQL: the pings iaxkeyd served; scrapes have a rate' '
	promql_wait "iaxkeyd_sessions_total{job=\"iaxkeyd\",script=\"ping\",status=\"OK\"}" $NPING &&
	promql_wait "iaxkeyd_session_duration_seconds_count{script=\"ping\"}" $NPING &&
	promql_wait "count(rate(iaxkeyd_metrics_scrapes_total[10s]) > 0) + count(rate(iaxkey_server_metrics_scrapes_total[10s]) > 0)" 2
'

test_expect 'PromQL: one key fetch, seen by both daemons' '
	promql_wait "iaxkeyd_key_fetches_total{result=\"ok\"}" 1 &&
	promql_wait "iaxkey_server_http_requests_total{route=\"key_get\",code=\"2xx\"}" 1 &&
	promql_wait "sum(iaxkeyd_key_fetches_total{result=\"ok\"}) - sum(iaxkey_server_http_requests_total{route=\"key_get\",code=\"2xx\"})" 0 &&
	promql_wait "iaxkey_server_keys" 1 &&
	promql_wait "iaxkeyd_sessions_total{script=\"inbound\",status=\"FALLBACK\"}" 1
'

test_expect 'every alert rule evaluates without error on the live series' '
	for _ in $(seq 240); do
		curl -s --max-time 10 "http://127.0.0.1:$PROM_PORT/api/v1/rules" \
		    >rules.json &&
		[ "$(grep -o "\"health\":\"ok\"" rules.json | wc -l)" = 14 ] &&
		break
		sleep 0.25
	done &&
	[ "$(grep -o "\"health\":\"ok\"" rules.json | wc -l)" = 14 ] &&
	[ "$(grep -o "\"type\":\"alerting\"" rules.json | wc -l)" = 14 ] ||
	    { cat rules.json; false; }
'

test_expect 'all stop cleanly' '
	prom_stop && iaxkeyd_stop && ksrv_stop
'

test_done
