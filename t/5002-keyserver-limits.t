#!/bin/bash
# iaxkey-server limits: requests per source address (429) and connections
# at once (the listener pauses at max_connections, resumes below it).
. "$(dirname "$0")/lib/keyserver.sh"

KSRV_RATE=60 KSRV_BURST=3 KSRV_MAXCONN=2 ksrv_conf
test_expect 'start' 'ksrv_start'

test_expect 'rate limit: the burst passes, then 429' '
	for i in 1 2 3; do
		[ "$(ks_get "$KSRV_URL/v1/keys/nobody")" = 404 ] || return 1
	done &&
	[ "$(ks_get "$KSRV_URL/v1/keys/nobody")" = 429 ] &&
	grep -q "too many requests" resp &&
	[ "$(resp_header Retry-After)" = 1 ] &&
	grep -q "event=request method=GET status=429" ksrv.log
'

test_expect 'max_connections: a third connection waits until one closes' '
	exec 7<>/dev/tcp/127.0.0.1/$KSRV_PORT &&
	exec 8<>/dev/tcp/127.0.0.1/$KSRV_PORT &&
	wait_log "max_connections \\(2\\) reached" "$T_DIR/ksrv.log" &&
	: >q.trace &&
	{ curl -s -o q.out -w "%{http_code}" --trace-ascii q.trace \
	    "$KSRV_URL/v1/keys/queued" >q.code 7>&- 8>&- & } &&
	q_pid=$! &&
	wait_log "^=> Send header" "$T_DIR/q.trace" &&
	! grep -q "node=queued" ksrv.log &&
	[ ! -s q.code ] &&
	exec 7>&- &&
	wait "$q_pid" &&
	grep -q "listener resumed" ksrv.log &&
	{ [ "$(cat q.code)" = 404 ] || [ "$(cat q.code)" = 429 ]; }
'

test_expect 'stop' 'exec 8>&-; ksrv_stop'
test_done
