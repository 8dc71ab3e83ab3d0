#!/bin/bash
# Load and limits: slow senders (one byte a second), clients that never
# read, sessions held on an unanswered command and fat environments do not
# stop other calls; the deadlines close them with their events; memory
# stays bounded; past max_sessions connects are refused and the daemon
# recovers; a low descriptor limit caps the sessions instead of leaving
# calls in the kernel's backlog.  Nothing here depends on timing.
. "$(dirname "$0")/lib/iaxkeyd.sh"

HOSTILE=$T_TOP/t/helper/agihostile
AGIBENCH=$T_TOP/t/helper/agibench
WAIT_LOG_SECS=120
NSLOW=50 NNOREAD=50 NHELD=1000 NFAT=20
NSTUCK=$((NSLOW + NNOREAD + NHELD + NFAT))

# Start agihostile in the background ($1: output file, then its options).
hostile_bg() {
	h_out=$1
	shift
	: >"$h_out" && : >"$h_out.err" || return 1
	"$HOSTILE" "$@" "127.0.0.1:$AGI_PORT" >"$h_out" 2>"$h_out.err" &
	HOSTILE_PID=$!
}

# Stop an agihostile (SIGTERM: it closes its connections and reports).
hostile_stop() {
	kill -TERM "$1" && wait "$1"
}

# Run agibench: $1 sessions of ping at concurrency 8; all must be OK.
pings() {
	"$AGIBENCH" -c 8 -n "$1" -t 60000 -V IAXKEY_STATUS \
	    "127.0.0.1:$AGI_PORT" >bench.out 2>&1 &&
	grep -q " errors=0 " bench.out &&
	grep -qx "var=IAXKEY_STATUS value=OK count=$1" bench.out ||
	{ cat bench.out; return 1; }
}

# -- Long deadlines: the stuck sessions stay while others are served.
MAX_SESSIONS=$((NSTUCK + 80))
ENV_TIMEOUT_MS=60000
COMMAND_TIMEOUT_MS=600000
SESSION_TIMEOUT_MS=600000
iaxkeyd_conf
test_expect 'daemon starts' '
	iaxkeyd_start && wait_no_sessions &&
	RSS0=$(rss_kib $IKD_PID) && FD0=$(fd_count $IKD_PID)
'

test_expect "$NSTUCK stuck sessions: slow, never reading, held, fat" '
	hostile_bg stuck.out -S $NSLOW -N $NNOREAD -H $NHELD -F $NFAT &&
	STUCK_PID=$HOSTILE_PID &&
	wait_log "^ready " stuck.out &&
	grep -q "^ready slow=$NSLOW noread=$NNOREAD held=$NHELD fat=$NFAT " \
	    stuck.out &&
	wait_count "event=session_start " $NSTUCK
'

test_expect 'calls are served while they are stuck' '
	pings 300 &&
	emu -s ping >out && grep -qx "var IAXKEY_STATUS=OK" out &&
	emu -b -s ping >out && grep -qx "var IAXKEY_STATUS=OK" out
'

test_expect 'the stuck sessions are all still open' '
	[ "$(count_log "event=session_end .*uniqueid=hostile")" = 0 ] &&
	[ "$(count_log "event=session_end .*status=none")" = 0 ]
'

# Waiting sessions keep about 2 KiB, a fat one its 60 KiB environment;
# the bound is generous (sanitizer builds need far more than the rest).
test_expect "memory: RSS grew less than 48 MiB for $NSTUCK sessions" '
	RSS1=$(rss_kib $IKD_PID) &&
	echo "rss idle ${RSS0} KiB, stuck ${RSS1} KiB" &&
	[ $((RSS1 - RSS0)) -lt $((48 * 1024)) ]
'

test_expect 'past max_sessions: the listener closes, connects are refused' '
	hostile_bg fill.out -H $((MAX_SESSIONS - NSTUCK)) -O 20 &&
	FILL_PID=$HOSTILE_PID &&
	wait_log "^over " fill.out &&
	grep -q "^over refused=20 accepted=0 failed=0 " fill.out &&
	wait_log "event=refused what=agi addr=127.0.0.1:$AGI_PORT reason=max_sessions active=$MAX_SESSIONS max=$MAX_SESSIONS" &&
	emu -s ping >out &&
	grep -q "^call 0 agistatus=FAILURE .*closed_by=none" out
'

test_expect 'the daemon recovers when they go, without leaking' '
	hostile_stop $FILL_PID && hostile_stop $STUCK_PID &&
	grep -q "^end slow_open=$NSLOW slow_closed=0 noread_open=$NNOREAD noread_closed=0 held_open=$NHELD held_closed=0 fat_open=$NFAT fat_closed=0 " stuck.out &&
	wait_log "event=listen what=agi addr=127.0.0.1:$AGI_PORT resumed=yes" &&
	wait_count "event=session_end .*reason=\"(closed|reset) by asterisk\"" \
	    $MAX_SESSIONS &&
	wait_no_sessions &&
	FD1=$(fd_count $IKD_PID) && echo "descriptors: $FD0 before, $FD1 after" &&
	[ "$FD1" = "$FD0" ] &&
	pings 100 &&
	! grep -q "level=error" daemon.log
'

test_expect 'clean shutdown' 'iaxkeyd_stop'

# -- Short deadlines: each kind is closed with its event.
ENV_TIMEOUT_MS=300
COMMAND_TIMEOUT_MS=300
SESSION_TIMEOUT_MS=600000
iaxkeyd_conf
test_expect 'daemon starts with short deadlines' 'iaxkeyd_start'

test_expect 'slow senders: env timeout; silent clients: command timeout' '
	hostile_bg short.out -e -S 10 -N 10 -H 10 -F 2 &&
	wait "$HOSTILE_PID" &&
	grep -q "^end slow_open=0 slow_closed=10 noread_open=0 noread_closed=10 held_open=0 held_closed=10 fat_open=0 fat_closed=2 " short.out &&
	wait_count "event=session_end .*status=none .*reason=\"env timeout\"" 12 &&
	wait_count "event=session_end .*uniqueid=hostile-1.1 .*reason=\"command timeout\"" 20 &&
	[ "$(count_log "event=session_end .*status=none .*reason=\"env timeout\"")" = 12 ] &&
	[ "$(count_log "event=session_end .*uniqueid=hostile-1.1 .*reason=\"command timeout\"")" = 20 ] &&
	pings 50
'

# The env deadline out of the way: only the session deadline may close
# them, however slowly the held clients send on a busy machine.
test_expect 'a session past session_timeout_ms: session timeout' '
	sed -i "s/^session_timeout_ms = .*/session_timeout_ms = 1000/; s/^command_timeout_ms = .*/command_timeout_ms = 600000/; s/^env_timeout_ms = .*/env_timeout_ms = 60000/" iaxkeyd.conf &&
	kill -HUP $IKD_PID &&
	wait_log "event=config_reload .*status=ok" &&
	hostile_bg sess.out -e -H 5 &&
	wait "$HOSTILE_PID" &&
	grep -q "^end held_open=0 held_closed=5 " sess.out &&
	wait_count "event=session_end .*reason=\"session timeout\"" 5 &&
	[ "$(count_log "event=session_end .*reason=\"session timeout\"")" = 5 ]
'

test_expect 'clean shutdown' 'iaxkeyd_stop'

# -- A descriptor limit below max_sessions: fewer sessions, still refused
# at connect, never left waiting in the backlog.
cat >ikd-nofile <<EOF
#!/bin/sh
ulimit -n 200 && exec "$IKD" "\$@"
EOF
chmod +x ikd-nofile
IKD=$T_DIR/ikd-nofile
MAX_SESSIONS=1000
ENV_TIMEOUT_MS=60000
COMMAND_TIMEOUT_MS=600000
SESSION_TIMEOUT_MS=600000
iaxkeyd_conf
test_expect 'at ulimit -n 200 the daemon says how many sessions fit' '
	iaxkeyd_start &&
	grep -q "event=fd_limit what=agi nofile=200 reserve=112 max_sessions=1000 effective=88" daemon.log
'

test_expect 'past that, connects are refused at once' '
	hostile_bg fd.out -H 100 -O 5 &&
	wait_log "^over " fd.out &&
	grep -q "^ready slow=0 noread=0 held=88 " fd.out &&
	grep -q "^over refused=5 accepted=0 failed=0 " fd.out &&
	grep -q "event=refused what=agi .*reason=max_sessions active=88 max=88" daemon.log &&
	! grep -q "Too many open files" daemon.log
'

test_expect 'and served again once they end' '
	hostile_stop $HOSTILE_PID &&
	wait_log "event=listen what=agi .*resumed=yes" &&
	pings 20
'

test_expect 'clean shutdown' 'iaxkeyd_stop'
test_done
