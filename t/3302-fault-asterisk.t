#!/bin/bash
# Faults on the Asterisk side: the session closes mid-command (with and
# without HANGUP lines, while a key fetch runs), HANGUP during a reload
# (agi and ami backends; the channel staying in dead mode or Asterisk
# closing it), AMI refusing the login or dropping during a reload, and a
# reload refused as "the previous reload command didn't finish yet" again
# and again (agi, ami, command).  The daemon never crashes, the outcome is
# in the status and the log, and later calls work.
. "$(dirname "$0")/lib/iaxkeyd.sh"

PEERS=$T_DIR/ast/iaxkeyd-peers.conf

# (Re)start the daemon with the ami backend on $AMI_PORT.
ikd_ami() {
	iaxkeyd_stop &&
	reload_backend_conf ami && iaxkeyd_start
}

# The call in ./out got the fallback because of a reload: status $1.
fell_back() {
	grep -qx "var IAXKEY_STATUS=$1" out &&
	grep -qx "var IAXKEY_DIAL=IAX2/u:p@$2:4569/1" out &&
	grep -qx "var IAXKEY_FALLBACK=IAX2/u:p@$2:4569/1" out
}

# Make a fifo for the emulator's -H fifo:PATH.
hup_fifo() {
	rm -f "$T_DIR/hup.fifo" && mkfifo "$T_DIR/hup.fifo"
}

test_expect 'key server stub, own key, daemon (agi backend)' '
	ks_start && own_key &&
	KS_URL="http://127.0.0.1:$KS_PORT/v1/keys/{node}" iaxkeyd_conf &&
	iaxkeyd_start
'
KS_URL="http://127.0.0.1:$KS_PORT/v1/keys/{node}"

# --- the session closes mid-command

test_expect 'closed mid-command without HANGUP (AGISIGHUP=no, exit)' '
	emu -N -X -H reply:1 -s inbound -a nodeQ -a MD5 >out &&
	grep -q "closed_by=asterisk" out &&
	wait_log "event=session_end .*script=inbound .*reason=\"(closed|reset) by asterisk\"" &&
	emu -s ping >out && grep -qx "var IAXKEY_STATUS=OK" out
'

test_expect 'closed mid-command after HANGUP HANGUP (AGIEXITONHANGUP)' '
	emu -X -H reply:2 -s outbound -a "IAX2/u:p@m1.example/1" >out &&
	grep -q "closed_by=asterisk" out &&
	wait_log "event=session_end .*script=outbound .*hangup=yes reason=(hangup|\"(closed|reset) by asterisk\")" &&
	emu -s ping >out && grep -qx "var IAXKEY_STATUS=OK" out
'

test_expect 'closed while its key fetch runs: the fetch ends alone' '
	echo "delay 300" >"$T_DIR/ks/nodeF.behave" && ks_key nodeF &&
	hup_fifo &&
	emu_bg out -X -H "fifo:$T_DIR/hup.fifo" -s inbound -a nodeF -a MD5 &&
	wait_log "event=http_start .*nodeF" &&
	echo x >"$T_DIR/hup.fifo" && wait "$EMU_PID" &&
	grep -q "closed_by=asterisk" out &&
	wait_log "event=key_fetch node=nodeF .*result=NEW .*waiters=0" &&
	cmp "$T_DIR/ks/nodeF.pub" "$T_DIR/keys/nodeF.pub" &&
	emu -s inbound -a nodeF -a RSA >out &&
	grep -qx "var IAXKEY_STATUS=RSA" out
'

# --- HANGUP during a reload (agi backend: EXEC Reload on the channel)

test_expect 'agi: HANGUP as EXEC Reload is sent: reload in dead mode, OK' '
	emu -H reply:1 -s outbound -a "IAX2/u:p@h1.example/1" >out &&
	grep -q "hungup=yes closed_by=server" out &&
	grep -qx "reload chan_iax2 status=SUCCESS" out &&
	grep -qx "var IAXKEY_STATUS=OK" out &&
	grep -qx "var IAXKEY_DIAL=IAX2/h1.example_4569_u/1" out
'

test_expect 'agi: Asterisk closes the channel carrying the reload' '
	emu -X -H reply:1 -s outbound -a "IAX2/u:p@h2.example/1" >out &&
	grep -q "closed_by=asterisk" out &&
	! grep -q "^var IAXKEY_STATUS" out &&
	wait_log "reload refused \(channel closed during reload\)" &&
	grep -q "^\[h2.example_4569_u\]$" "$PEERS"
'

# A session that starts while the refused reload's retry timer
# (reload_backoff_ms) is still pending does not carry it; the first one
# after does.  Polled with pings, bounded, rather than timed.
carry_ping() {
	for _ in $(seq 50); do
		emu -s ping >out && grep -qx "var IAXKEY_STATUS=OK" out ||
		    return 1
		grep -qx "reload chan_iax2 status=SUCCESS" out && return 0
		grep -q "^reload" out && { cat out; return 1; }
	done
	echo "no ping carried the reload"
	return 1
}

test_expect 'agi: a later session carries that reload; h2 is then covered' '
	carry_ping &&
	emu -s outbound -a "IAX2/u:p@h2.example/1" >out &&
	grep -qx "var IAXKEY_STATUS=OK" out &&
	grep -qx "var IAXKEY_DIAL=IAX2/h2.example_4569_u/1" out &&
	! grep -q "^reload" out
'

# --- "the previous reload command didn't finish yet", again and again

test_expect 'agi: RELOADSTATUS=FAILURE every time: RELOAD_FAILED after the retries' '
	emu -F all -s outbound -a "IAX2/u:p@r1.example/1" >out &&
	fell_back RELOAD_FAILED r1.example &&
	grep -qx "var IAXKEY_REASON=RELOADSTATUS=FAILURE" out &&
	[ "$(grep -c "^reload chan_iax2 status=FAILURE" out)" = 6 ] &&
	wait_log "event=reload backend=agi modules=chan_iax2 sessions=1 attempts=6 .*result=failed reason=\"RELOADSTATUS=FAILURE\""
'

test_expect 'agi: once reloads go through, the same destination is OK' '
	emu -s outbound -a "IAX2/u:p@r1.example/1" >out &&
	grep -qx "var IAXKEY_STATUS=OK" out &&
	grep -qx "reload chan_iax2 status=SUCCESS" out
'

# A reload command that answers as Asterisk does while another reload runs.
cat >"$T_DIR/busy.sh" <<'SH'
#!/bin/sh
echo "The previous reload command didn't finish yet"
SH
chmod +x "$T_DIR/busy.sh"

test_expect 'command: "didn'"'"'t finish yet" every time: RELOAD_FAILED' '
	iaxkeyd_stop &&
	RELOAD_RETRIES=3 RELOAD_BACKEND=command \
	    ASTERISK_EXTRA="reload_command = $T_DIR/busy.sh {modules}" \
	    iaxkeyd_conf && iaxkeyd_start &&
	emu -s outbound -a "IAX2/u:p@r2.example/1" >out &&
	fell_back RELOAD_FAILED r2.example &&
	grep -qx "var IAXKEY_REASON=reload already in progress" out &&
	wait_log "event=reload backend=command modules=chan_iax2 sessions=1 attempts=4 .*result=failed reason=\"reload already in progress\""
'

# --- the AMI backend

test_expect 'ami: "A reload is in progress" every time: RELOAD_FAILED' '
	ami_start -F 1000 && RELOAD_RETRIES=3 ikd_ami &&
	emu -s outbound -a "IAX2/u:p@a1.example/1" >out &&
	fell_back RELOAD_FAILED a1.example &&
	grep -qx "var IAXKEY_REASON=A reload is in progress" out &&
	wait_log "event=reload backend=ami modules=chan_iax2 sessions=1 attempts=4 .*result=failed reason=\"A reload is in progress\"" &&
	[ ! -s "$T_DIR/ami.reloads" ]
'

test_expect 'ami: login refused: RELOAD_FAILED, the reason, no secret logged' '
	ami_stop && ami_start -r && RELOAD_RETRIES=1 ikd_ami &&
	emu -s outbound -a "IAX2/u:p@a2.example/1" >out &&
	fell_back RELOAD_FAILED a2.example &&
	grep -q "^var IAXKEY_REASON=.*Authentication failed" out &&
	wait_log "event=reload backend=ami .*result=failed reason=\".*Authentication failed" &&
	! grep -q amis3cret "$T_DIR/daemon.log"
'

test_expect 'ami: dropped during the reload, no retry left: RELOAD_FAILED, then OK' '
	ami_stop && ami_start -D 1 && RELOAD_RETRIES=0 ikd_ami &&
	emu -s outbound -a "IAX2/u:p@a3.example/1" >out &&
	fell_back RELOAD_FAILED a3.example &&
	wait_log "event=reload backend=ami .*attempts=1 .*result=failed" &&
	emu -s outbound -a "IAX2/u:p@a3.example/1" >out &&
	grep -qx "var IAXKEY_STATUS=OK" out &&
	grep -qx "reload chan_iax2.so" "$T_DIR/ami.reloads"
'

test_expect 'ami: HANGUP while the AMI reload runs: dead-safe answer, OK' '
	ami_stop && ami_start -S -R 200 && ikd_ami && hup_fifo &&
	emu_bg out -H "fifo:$T_DIR/hup.fifo" -s outbound -a "IAX2/u:p@a4.example/1" &&
	wait_log "^reload start chan_iax2.so" "$T_DIR/ami.out" &&
	echo x >"$T_DIR/hup.fifo" && wait "$EMU_PID" &&
	grep -q "hungup=yes closed_by=server" out &&
	grep -qx "var IAXKEY_STATUS=OK" out &&
	grep -qx "var IAXKEY_DIAL=IAX2/a4.example_4569_u/1" out
'

test_expect 'ami: Asterisk closes the channel during the reload' '
	ami_stop && ami_start -S -R 200 && ikd_ami && hup_fifo &&
	emu_bg out -X -H "fifo:$T_DIR/hup.fifo" -s outbound -a "IAX2/u:p@a5.example/1" &&
	wait_log "^reload start chan_iax2.so" "$T_DIR/ami.out" &&
	echo x >"$T_DIR/hup.fifo" && wait "$EMU_PID" &&
	grep -q "closed_by=asterisk" out &&
	! grep -q "^var IAXKEY_STATUS" out &&
	wait_log "event=reload backend=ami modules=chan_iax2 sessions=0 attempts=1 .*result=ok" &&
	emu -s outbound -a "IAX2/u:p@a5.example/1" >out &&
	grep -qx "var IAXKEY_STATUS=OK" out &&
	grep -qx "var IAXKEY_DIAL=IAX2/a5.example_4569_u/1" out &&
	[ "$(grep -c "^reload chan_iax2.so" "$T_DIR/ami.reloads")" = 1 ]
'

test_expect 'clean shutdown' 'iaxkeyd_stop && ami_stop && ks_stop'
test_done
