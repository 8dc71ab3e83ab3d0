#!/bin/bash
# Reload bursts, one per backend (agi, ami, command): 200 outbound
# sessions at once, each to a new destination, while every reload takes
# about 10 ms, so that reloads finish while changes are pending and the
# next one starts right after a completion.  Every session must end OK,
# every waiting session must be served by exactly one reload, and the
# daemon must stop cleanly (no sanitizer report).  A failing variant of
# the command backend covers the RELOAD_FAILED completion as well.
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

# Start the daemon with backend $1 (ami: on $AMI_PORT).
ikd_backend() {
	if [ -n "$IKD_PID" ]; then	# left by a failed test
		kill -9 "$IKD_PID" 2>/dev/null
		wait "$IKD_PID" 2>/dev/null
		IKD_PID=
	fi
	reload_backend_conf "$1" "$T_DIR/reload.sh" && iaxkeyd_start
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
	r=$(count_log " event=reload ")
	echo "# $2: $r reloads for $((BURST * ROUNDS)) sessions" >&3
	[ "$r" -ge 2 ] &&
	iaxkeyd_stop
}

test_expect 'own key' 'own_key'

test_expect 'command: a burst of new destinations, every session OK' '
	burst_backend command command &&
	[ "$(grep -c "^reload chan_iax2" cmd.reloads)" -ge 2 ]
' 3>&1

test_expect 'command: a burst with a failing reload_command' '
	: >fail &&
	RELOAD_RETRIES=1 burst_backend command failing RELOAD_FAILED &&
	rm -f fail
' 3>&1

test_expect 'ami: a burst of new destinations, every session OK' '
	ami_start -R 10 &&
	burst_backend ami ami &&
	[ "$(grep -c "^reload chan_iax2.so" ami.reloads)" -ge 2 ] &&
	ami_stop
' 3>&1

test_expect 'agi: a burst of new destinations, every session OK' '
	burst_backend agi agi
' 3>&1

test_done
