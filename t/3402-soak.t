#!/bin/bash
# Soak: SOAK_SECONDS (default 60) of mixed traffic, shared by the reload
# backends in SOAK_BACKENDS (default: agi ami command, each against a
# fresh iaxkeyd and state), each backend's share in two halves: ping;
# outbound to one known and to new destinations (each new one writes the
# peers file and reloads); inbound RSA and MD5 (the MD5 calls fetch keys
# from the key server stub); and emulator calls hung up before, during
# and after their commands.  It asserts correctness only, never a rate:
#   - zero protocol errors: every session ended with the expected status
#     and variables (agibench -V/-E: no error, mismatch, timeout,
#     pipelining); the emulator saw no error reply and no pipelining; the
#     ops log has no level=error line and only the events and session
#     end reasons this traffic explains; the daemon's protocol error and
#     timeout counters are 0;
#   - no leaked descriptors: the same count after the traffic as after a
#     warm-up, once every session has gone (libcurl's connections to the
#     key server, a cache, are left out);
#   - stable RSS: after the second half, at most 25% + 8 MiB over the
#     RSS after the first half.
# Every reload line names the backend under test, and none failed.
. "$(dirname "$0")/lib/iaxkeyd.sh"

SOAK_SECONDS=${SOAK_SECONDS:-60}
SOAK_BACKENDS=${SOAK_BACKENDS:-agi ami command}
set -- $SOAK_BACKENDS
HALF=$(((SOAK_SECONDS + 2 * $# - 1) / (2 * $#)))
AGIBENCH=$T_TOP/t/helper/agibench
WAIT_LOG_SECS=120
NODES=50
MAX_SESSIONS=1000
LOG_LEVEL=info
WAIT_MS=20000

# One agibench stream: label, then its options; output in soak.<label>.
stream() {
	s_label=$1
	shift
	"$AGIBENCH" -t 60000 "$@" "127.0.0.1:$AGI_PORT" \
	    >"soak.$s_label" 2>&1
}

# Check a finished stream: no error of any kind, every tally of $2 is $3.
stream_ok() {
	s_out=soak.$1
	head -1 "$s_out" | grep -q " errors=0 pipelined=0 " &&
	head -1 "$s_out" | grep -q " failed_connects=0 resets=0 timeouts=0 " &&
	head -1 "$s_out" | grep -q " mismatches=0 " &&
	grep -q "^var=$2 value=$3 " "$s_out" &&
	! grep "^var=$2 " "$s_out" | grep -qv "^var=$2 value=$3 " ||
	{ echo "stream $1:"; cat "$s_out"; return 1; }
}

# Emulator calls hung up at every point, for $1 seconds; each run's
# calls must end SUCCESS or HANGUP, closed by the server, with no error
# reply and no pipelining.
hangups() {
	h_end=$((SECONDS + $1))
	h_i=0
	: >"soak.hangups.$2"
	while [ $SECONDS -lt $h_end ]; do
		h_i=$((h_i + 1))
		for h in before after:1 reply:1 time:1; do
			emu -n 8 -P 4 -R 5 -H "$h" -s outbound \
			    -a "IAX2/soak:s3cret@e%d.$2.$h_i.soak.example/100" \
			    >>"soak.hangups.$2" &&
			emu -n 8 -P 4 -H "$h" -s inbound -a "node%d" -a MD5 \
			    >>"soak.hangups.$2" &&
			emu -n 4 -P 4 -H "$h" -s ping >>"soak.hangups.$2" ||
			return 1
		done
	done
}

hangups_ok() {
	h_out=soak.hangups.$1
	! grep "^total " "$h_out" | grep -qv " errors=0 pipelined=0$" &&
	! grep "^call " "$h_out" |
	    grep -qvE "agistatus=(SUCCESS|HANGUP) .* errors=0 pipelined=0 .*closed_by=server$" &&
	echo "$(grep -c "^call " "$h_out") emulator calls" ||
	{ echo "emulator:"; grep -E "^(call|total) " "$h_out" | sort |
	    uniq -c | sort -rn | head; return 1; }
}

# One half: every stream at once for $HALF seconds; $1 names the half
# (its new destinations differ from the other half's).
half() {
	stream ping.$1 -c 4 -d $HALF -V IAXKEY_STATUS &
	p1=$!
	stream known.$1 -c 2 -d $HALF -V IAXKEY_STATUS -s outbound \
	    -a 'IAX2/soak:s3cret@known.soak.example/100' \
	    -E 'IAXKEY_FALLBACK=IAX2/soak:s3cret@known.soak.example:4569/100' \
	    -E 'IAXKEY_DIAL=IAX2/*/100' &
	p2=$!
	stream new.$1 -c 4 -d $HALF -k 300 -R 5 -V IAXKEY_STATUS -s outbound \
	    -a "IAX2/soak:s3cret@n%d.$1.soak.example/100" \
	    -E "IAXKEY_FALLBACK=IAX2/soak:s3cret@n%d.$1.soak.example:4569/100" \
	    -E 'IAXKEY_DIAL=IAX2/*/100' &
	p3=$!
	stream rsa.$1 -c 2 -d $HALF -V IAXKEY_STATUS -s inbound -a node1 \
	    -a RSA &
	p4=$!
	stream md5.$1 -c 4 -d $HALF -k $NODES -R 5 -V IAXKEY_STATUS \
	    -s inbound -a 'node%d' -a MD5 &
	p5=$!
	hangups $HALF $1
	h_rc=$?
	wait $p1 $p2 $p3 $p4 $p5
	[ $h_rc = 0 ] &&
	stream_ok ping.$1 IAXKEY_STATUS OK &&
	stream_ok known.$1 IAXKEY_STATUS OK &&
	stream_ok new.$1 IAXKEY_STATUS OK &&
	stream_ok rsa.$1 IAXKEY_STATUS RSA &&
	stream_ok md5.$1 IAXKEY_STATUS FALLBACK &&
	hangups_ok $1
}

# Sessions the agibench streams of a half ran.
sessions() {
	cat soak.*.$1 2>/dev/null | awk '/^sessions=/ {
	    sub(/^sessions=/, "", $1); n += $1 } END { print n + 0 }'
}

test_expect 'key server stub with the keys of every node' '
	ks_start && ks_key node0 &&
	for i in $(seq 1 $((NODES - 1))); do
		cp ks/node0.pub ks/node$i.pub || return 1
	done
'
KS_URL="http://127.0.0.1:$KS_PORT/v1/keys/{node}"
# Every one of the NODES callers is on the key server: a budget for
# unknown callers above their number (t/3204 tests the budget).
INBOUND_EXTRA="unknown_fetches = 1000"

# The command backend's reload_command: about 5 ms, like the emulated
# EXEC Reload and the AMI emulator's reload.
cat >"$T_DIR/reload.sh" <<'SH'
#!/bin/sh
sleep 0.005
SH
chmod +x "$T_DIR/reload.sh"

test_expect 'own key and the AMI emulator' '
	own_key && ami_start -R 5
'

# Fresh state for backend $1 (the own key stays), then its configuration.
backend_conf() {
	rm -rf "$T_DIR/ast" "$T_DIR/state.db" "$T_DIR/state.db-wal" \
	    "$T_DIR/state.db-shm" &&
	find "$T_DIR/keys" -type f ! -name "testnode.*" -delete &&
	reload_backend_conf "$1" "$T_DIR/reload.sh"
}

for B in $SOAK_BACKENDS; do
FD0= FD1= FD2= RSS1= RSS2=

# Under AddressSanitizer: a small quarantine, so that RSS tells memory
# in use rather than freed blocks held back.
test_expect "$B: daemon starts" '
	backend_conf $B &&
	ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=16" \
	    iaxkeyd_start
'

test_expect "$B: warm-up: one call of each kind, then the descriptor count" '
	stream warm.$B -n 20 -c 2 -R 5 -s inbound -a "node%d" -a MD5 -k 20 \
	    -V IAXKEY_STATUS &&
	stream_ok warm.$B IAXKEY_STATUS FALLBACK &&
	stream warm.$B -n 20 -c 2 -R 5 -s outbound \
	    -a "IAX2/soak:s3cret@w%d.$B.soak.example/100" -V IAXKEY_STATUS &&
	stream_ok warm.$B IAXKEY_STATUS OK &&
	wait_no_sessions &&
	FD0=$(fd_count $IKD_PID $KS_PORT) &&
	echo "# soak: $B: descriptors after warm-up: $FD0" >&3
' 3>&1

test_expect "$B: first half ($HALF s of mixed traffic): every session correct" '
	half $B.h1 &&
	wait_no_sessions &&
	RSS1=$(rss_kib $IKD_PID) && FD1=$(fd_count $IKD_PID $KS_PORT)
'

test_expect "$B: second half ($HALF s): every session correct" '
	half $B.h2 &&
	wait_no_sessions &&
	RSS2=$(rss_kib $IKD_PID) && FD2=$(fd_count $IKD_PID $KS_PORT)
'

echo "# soak: $B: ${HALF} s + ${HALF} s; agibench sessions:" \
    "$(sessions $B.h1) + $(sessions $B.h2); emulator calls:" \
    "$(cat soak.hangups.$B.h1 soak.hangups.$B.h2 2>/dev/null |
    grep -c '^call ')"
for k in ping known new rsa md5; do
	printf '%s=%s ' $k "$(cat soak.$k.$B.h1 soak.$k.$B.h2 2>/dev/null |
	    awk '/^sessions=/ { sub(/^sessions=/, "", $1); n += $1 }
	    END { print n + 0 }')"
done | sed "s/^/# soak: $B: agibench sessions by stream: /; s/ \$/\\n/"
echo "# soak: $B: sessions hung up by the emulator: $(grep -c ' hangup=yes ' \
    daemon.log); reloads: $(grep -c ' event=reload ' daemon.log);" \
    "key fetches: $(grep -c ' event=key_fetch ' daemon.log)"
echo "# soak: $B: descriptors ${FD0:-?} after warm-up, ${FD1:-?} after half" \
    "1, ${FD2:-?} after half 2; RSS ${RSS1:-?} KiB after half 1," \
    "${RSS2:-?} KiB after half 2"

test_expect "$B: no leaked descriptors" '
	[ -n "$FD0" ] && [ "$FD1" = "$FD0" ] && [ "$FD2" = "$FD0" ]
'

test_expect "$B: stable RSS: second half at most 25% + 8 MiB over the first" '
	[ -n "$RSS1" ] && [ -n "$RSS2" ] &&
	[ "$RSS2" -le $((RSS1 + RSS1 / 4 + 8192)) ]
'

test_expect "$B: the daemon counted no protocol error and no timeout" '
	admin_port && adm "stats prometheus" quit >stats &&
	grep -qx "iaxkeyd_protocol_errors_total 0" stats &&
	grep -qx "iaxkeyd_session_timeouts_total 0" stats &&
	grep -qx "iaxkeyd_sessions_active 0" stats
'

test_expect "$B: ops log: no error, only the expected events and reasons" '
	! grep "level=error" daemon.log | head -5 | grep . &&
	! grep -vE "event=(start|http_init|listen|session_end|outbound|inbound|reload|key_fetch|key_installed|admin_open|admin_command|admin_close|ami|ami_reload) " \
	    daemon.log | head -5 | grep . &&
	! grep "event=session_end " daemon.log |
	    grep -vE " reason=(done|hangup)$" | head -5 | grep . &&
	! grep -E "event=(reload|key_fetch|ami|ami_reload) " daemon.log |
	    grep "level=warn" | head -5 | grep .
'

test_expect "$B: every reload ran on this backend and succeeded" '
	[ "$(count_log " event=reload backend=$B .* result=ok")" -gt 0 ] &&
	! grep " event=reload " daemon.log |
	    grep -v " event=reload backend=$B .* result=ok" | head -5 | grep .
'

test_expect "$B: clean shutdown" 'iaxkeyd_stop'
cp daemon.log "daemon.$B.log"
done

test_expect 'AMI emulator stops' 'ami_stop'
test_done
