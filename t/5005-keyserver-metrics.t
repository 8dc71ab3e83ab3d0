#!/bin/bash
# iaxkey-server's GET /metrics ([metrics], docs/metrics.md): promtool
# accepts the page before and after load (curl PUT/GET/DELETE), and every
# counter holds exactly what was sent: requests by route and status class,
# rejections by reason, uploads by result, keys, the replay cache,
# connections closed at a deadline.
. "$(dirname "$0")/lib/keyserver.sh"

[ -x "$KSRV" ] || { echo "1..0 # skip no keyserver/iaxkey-server"; exit 0; }

NGET=50
KSRV_HTTP_EXTRA="body_timeout_s = 1
timeout_s = 600" ksrv_conf <<CONF
[metrics]
listen = 127.0.0.1:0
CONF

# The value of a series of the last page ("missing": a failure below).
val() {
	series page "$1" || echo missing
}

test_expect 'start: the API and the metrics listener' '
	ksrv_start && metrics_port "$T_DIR/ksrv.log" &&
	[ "$METRICS_PORT" != "$KSRV_PORT" ] && mkkey a && mkkey b
'

test_expect 'the idle page: 200, content type, zeros written' '
	curl -s -D head -o page "http://127.0.0.1:$METRICS_PORT/metrics" &&
	head -n 1 head | grep -q "^HTTP/1.1 200" &&
	grep -qi "^content-type: text/plain; version=0.0.4; charset=utf-8" head &&
	grep -qi "^cache-control: no-store" head &&
	[ "$(val "iaxkey_server_build_info{version=\"0.1\"}")" = 1 ] &&
	[ "$(grep -c "^iaxkey_server_http_requests_total{" page)" = 40 ] &&
	[ "$(grep -c "^iaxkey_server_rejections_total{" page)" = 11 ] &&
	[ "$(val iaxkey_server_keys)" = 0 ] &&
	[ "$(val iaxkey_server_replay_nonces_capacity)" = 100000 ]
'

test_promlint 'the idle page is clean' 'true'

test_expect "load: registrations, a replay, $NGET GETs, 304, 404, index, DELETE" '
	TOK=$("$KSRV" -f "$T_DIR/ksrv.conf" token add node1) &&
	[ "$(ks_req PUT node1 a.pub a)" = 403 ] &&
	[ "$(TOKEN=$TOK NONCE=nonce-metrics-00001 ks_req PUT node1 a.pub a)" = 201 ] &&
	[ "$(NONCE=nonce-metrics-00001 ks_req PUT node1 a.pub a a)" = 409 ] &&
	[ "$(ks_req PUT node1 a.pub a a)" = 200 ] &&
	[ "$(ks_req PUT node1 b.pub b a)" = 200 ] &&
	for i in $(seq $NGET); do
		[ "$(ks_get "$KSRV_URL/v1/keys/node1")" = 200 ] || false
	done &&
	etag=$(resp_header ETag) &&
	[ "$(ks_get -H "If-None-Match: $etag" "$KSRV_URL/v1/keys/node1")" = 304 ] &&
	[ "$(ks_get "$KSRV_URL/v1/keys/nobody")" = 404 ] &&
	[ "$(ks_get "$KSRV_URL/v1/keys")" = 200 ] &&
	[ "$(ks_get "$KSRV_URL/other")" = 404 ] &&
	[ "$(ks_req DELETE node9 /dev/null b)" = 404 ] &&
	slow_cut body 2 body
'

test_expect 'every counter holds what was sent' '
	scrape "$METRICS_PORT" >page &&
	[ "$(val "iaxkey_server_http_requests_total{route=\"key_put\",code=\"2xx\"}")" = 3 ] &&
	[ "$(val "iaxkey_server_http_requests_total{route=\"key_put\",code=\"4xx\"}")" = 2 ] &&
	[ "$(val "iaxkey_server_http_requests_total{route=\"key_get\",code=\"2xx\"}")" = $NGET ] &&
	[ "$(val "iaxkey_server_http_requests_total{route=\"key_get\",code=\"3xx\"}")" = 1 ] &&
	[ "$(val "iaxkey_server_http_requests_total{route=\"key_get\",code=\"4xx\"}")" = 1 ] &&
	[ "$(val "iaxkey_server_http_requests_total{route=\"index\",code=\"2xx\"}")" = 1 ] &&
	[ "$(val "iaxkey_server_http_requests_total{route=\"other\",code=\"4xx\"}")" = 1 ] &&
	[ "$(val "iaxkey_server_http_requests_total{route=\"key_delete\",code=\"4xx\"}")" = 1 ] &&
	[ "$(val "iaxkey_server_rejections_total{reason=\"forbidden\"}")" = 1 ] &&
	[ "$(val "iaxkey_server_rejections_total{reason=\"replay\"}")" = 1 ] &&
	[ "$(val "iaxkey_server_rejections_total{reason=\"not_found\"}")" = 3 ] &&
	[ "$(val "iaxkey_server_uploads_total{result=\"registered\"}")" = 1 ] &&
	[ "$(val "iaxkey_server_uploads_total{result=\"unchanged\"}")" = 1 ] &&
	[ "$(val "iaxkey_server_uploads_total{result=\"replaced\"}")" = 1 ] &&
	[ "$(val "iaxkey_server_uploads_total{result=\"refused\"}")" = 2 ] &&
	[ "$(val iaxkey_server_keys)" = 1 ] &&
	[ "$(val iaxkey_server_replay_nonces)" = 3 ] &&
	[ "$(val "iaxkey_server_connections_closed_total{reason=\"deadline\"}")" = 2 ] &&
	[ "$(val iaxkey_server_connections_accepted_total)" -ge $((NGET + 10)) ] &&
	[ "$(val iaxkey_server_listener_paused)" = 0 ]
'

test_promlint 'the page after load is clean' 'true'

test_expect 'SIGTERM: clean exit' 'ksrv_stop'

test_done
