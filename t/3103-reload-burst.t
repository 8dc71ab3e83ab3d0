#!/bin/bash
# Reload bursts, one per backend (agi, ami, command): 200 outbound
# sessions at once, each to a new destination, while every reload takes
# about 10 ms, so that reloads finish while changes are pending and the
# next one starts right after a completion.  Every session must end OK,
# every waiting session must be served by exactly one reload, and the
# daemon must stop cleanly (no sanitizer report).  A failing variant of
# the command backend covers the RELOAD_FAILED completion as well.  Before
# the fix of issue 13 the command burst crashed: a NULL read in
# reload_cmd_read_cb (AddressSanitizer; SIGSEGV in a normal build).
. "$(dirname "$0")/lib/iaxkeyd.sh"

AGIBENCH=$T_TOP/t/helper/agibench
BURST=${BURST:-200}
ROUNDS=${ROUNDS:-3}
MAX_SESSIONS=1000
LOG_LEVEL=info
WAIT_LOG_SECS=120
RELOAD_BACKOFF_MS=10

# A reload command of about 10 ms; a file "fail" beside it makes it fail.
cat >"$T_DIR/reload.sh" <<'SH'
#!/bin/sh
sleep 0.01
if [ -e "$(dirname "$0")/fail" ]; then
	echo "reload failed"
	exit 1
fi
echo "reload $*" >>"$(dirname "$0")/cmd.reloads"
SH
chmod +x "$T_DIR/reload.sh"

# Start the daemon with backend $1 (ami: on $AMI_PORT; command: the
# script $2, default reload.sh).
ikd_backend() {
	if [ -n "$IKD_PID" ]; then	# left by a failed test
		kill -9 "$IKD_PID" 2>/dev/null
		wait "$IKD_PID" 2>/dev/null
		IKD_PID=
	fi
	reload_backend_conf "$1" "${2:-$T_DIR/reload.sh}" && iaxkeyd_start
}

# $ROUNDS bursts of $BURST new destinations, named after $1; every
# session's IAXKEY_STATUS must be $2.
bursts() {
	for r in $(seq 1 "$ROUNDS"); do
		"$AGIBENCH" -c "$BURST" -n "$BURST" -t 60000 -R 10 \
		    -V IAXKEY_STATUS -s outbound \
		    -a "IAX2/b:s3cret@d%d.$1.$r.burst.example/100" \
		    "127.0.0.1:$AGI_PORT" >"bench.$1.$r" 2>&1
		grep -q "^var=IAXKEY_STATUS value=$2 count=$BURST$" \
		    "bench.$1.$r" &&
		head -1 "bench.$1.$r" | grep -q " errors=0 pipelined=0 " ||
		{ echo "round $r:"; cat "bench.$1.$r"; return 1; }
	done
}

# The sessions the daemon's reload lines served, added up.
served() {
	grep " event=reload " "$T_DIR/daemon.log" |
	    sed -n 's/.* sessions=\([0-9]*\) .*/\1/p' |
	    awk '{ n += $1 } END { print n + 0 }'
}

# The whole check for backend $1 under the label $2 (destination names
# and the kept log daemon.$2.log), sessions ending $3 (default OK).
burst_backend() {
	ikd_backend "$1" &&
	bursts "$2" "${3:-OK}"
	b_rc=$?
	cp daemon.log "daemon.$2.log"
	[ $b_rc -eq 0 ] || return 1
	n=$(served)
	[ "$n" -eq $((BURST * ROUNDS)) ] ||
	{ echo "reloads served $n sessions of $((BURST * ROUNDS))"; return 1; }
	echo "# $2: $(count_log " event=reload ") reloads for" \
	    "$((BURST * ROUNDS)) sessions" >&3
	iaxkeyd_stop
}

# Wait until the console lists $1 outbound sessions waiting (bounded).
wait_waiting() {
	for _ in $(seq $((WAIT_LOG_SECS * 10))); do
		[ "$(adm sessions quit | grep -c " outbound  *wait ")" -ge "$1" ] &&
		    return 0
		sleep 0.1
	done
	adm sessions quit
	return 1
}

test_expect 'own key' 'own_key'

test_expect 'command: a burst of new destinations, every session OK' '
	burst_backend command command &&
	[ "$(grep -c "^reload chan_iax2$" cmd.reloads)" -eq \
	    "$(count_log " event=reload backend=command .*result=ok")" ]
' 3>&1

test_expect 'command: changes made during a reload get the next one, started after it' '
	hold_setup && ikd_backend command "$T_DIR/hold.sh" && admin_port &&
	emu_bg held.out -s outbound -a "IAX2/b:s3cret@held.burst.example/100" &&
	wait_log "^reload chan_iax2" hold.reloads &&
	{ "$AGIBENCH" -c 50 -n 50 -t 60000 -V IAXKEY_STATUS -s outbound \
	    -a "IAX2/b:s3cret@q%d.held.burst.example/100" \
	    "127.0.0.1:$AGI_PORT" >bench.held 2>&1 & } &&
	BENCH_PID=$! &&
	wait_waiting 51 &&
	hold_release && wait "$EMU_PID" &&
	grep -qx "var IAXKEY_STATUS=OK" held.out &&
	hold_release && wait "$BENCH_PID" &&
	grep -q "^var=IAXKEY_STATUS value=OK count=50$" bench.held &&
	[ "$(wc -l <hold.reloads)" -eq 2 ] &&
	[ "$(count_log " event=reload backend=command .*sessions=1 .*result=ok")" -eq 1 ] &&
	[ "$(count_log " event=reload backend=command .*sessions=50 .*result=ok")" -eq 1 ] &&
	iaxkeyd_stop
'

test_expect 'command: a burst with a failing reload_command' '
	: >fail &&
	RELOAD_RETRIES=1 burst_backend command failing RELOAD_FAILED &&
	rm -f fail
' 3>&1

test_expect 'ami: a burst of new destinations, every session OK' '
	ami_start -R 10 &&
	burst_backend ami ami &&
	[ "$(grep -c "^reload chan_iax2.so$" ami.reloads)" -eq \
	    "$(count_log " event=reload backend=ami .*result=ok")" ] &&
	ami_stop
' 3>&1

test_expect 'agi: a burst of new destinations, every session OK' '
	burst_backend agi agi
' 3>&1

test_done
