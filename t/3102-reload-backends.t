#!/bin/bash
# The ami and command reload backends, as outbound uses them: success,
# refusals retried, login refused, connection dropped mid-reload.
. "$(dirname "$0")/lib/iaxkeyd.sh"

# (Re)start the daemon with the ami backend on $AMI_PORT.
ikd_ami() {
	reload_backend_conf ami && iaxkeyd_start
}

test_expect 'own key' 'own_key'

test_expect 'ami: a new destination is reloaded through AMI' '
	ami_start -R 5 && ikd_ami &&
	emu -s outbound -a "IAX2/u:p@a1.example/1" >out &&
	grep -qx "var IAXKEY_STATUS=OK" out &&
	! grep -q "^reload" out &&
	grep -qx "reload chan_iax2.so" "$T_DIR/ami.reloads" &&
	wait_log "event=reload backend=ami modules=chan_iax2 sessions=1 attempts=1"
'

test_expect 'ami: "A reload is in progress" is retried' '
	ami_stop && ami_start -F 2 && iaxkeyd_stop && ikd_ami &&
	emu -s outbound -a "IAX2/u:p@a2.example/1" >out &&
	grep -qx "var IAXKEY_STATUS=OK" out &&
	wait_log "event=reload backend=ami modules=chan_iax2 sessions=1 attempts=3 .*result=ok"
'

test_expect 'ami: the secret is never logged' '
	! grep -q amis3cret "$T_DIR/daemon.log"
'

test_expect 'ami: dropped during the reload, reconnected, retried' '
	ami_stop && ami_start -D 1 && iaxkeyd_stop && ikd_ami &&
	emu -s outbound -a "IAX2/u:p@a3.example/1" >out &&
	grep -qx "var IAXKEY_STATUS=OK" out &&
	wait_log "event=reload backend=ami .*attempts=2 .*result=ok"
'

test_expect 'ami: login refused: RELOAD_FAILED and the fallback' '
	ami_stop && ami_start -r && iaxkeyd_stop &&
	RELOAD_RETRIES=1 ikd_ami &&
	emu -s outbound -a "IAX2/u:p@a4.example/1" >out &&
	grep -qx "var IAXKEY_STATUS=RELOAD_FAILED" out &&
	grep -qx "var IAXKEY_DIAL=IAX2/u:p@a4.example:4569/1" out &&
	grep -q "^var IAXKEY_REASON=.*Authentication failed" out &&
	iaxkeyd_stop && ami_stop
'

# A reload command that says "already in progress" $1 times, then works.
cat >"$T_DIR/reload.sh" <<'SH'
#!/bin/sh
n=$(cat "$(dirname "$0")/busy" 2>/dev/null || echo 0)
if [ "$n" -gt 0 ]; then
	echo $((n - 1)) >"$(dirname "$0")/busy"
	echo "A module reload request is already in progress; please be patient"
	exit 0
fi
echo "reload $*" >>"$(dirname "$0")/cmd.reloads"
SH
chmod +x "$T_DIR/reload.sh"

test_expect 'command: reload_command runs with the modules' '
	reload_backend_conf command "$T_DIR/reload.sh" &&
	iaxkeyd_start &&
	emu -s outbound -a "IAX2/u:p@c1.example/1" >out &&
	grep -qx "var IAXKEY_STATUS=OK" out &&
	grep -qx "reload chan_iax2" "$T_DIR/cmd.reloads"
'

test_expect 'command: "already in progress" is retried' '
	echo 2 >"$T_DIR/busy" &&
	emu -s outbound -a "IAX2/u:p@c2.example/1" >out &&
	grep -qx "var IAXKEY_STATUS=OK" out &&
	wait_log "event=reload backend=command modules=chan_iax2 sessions=1 attempts=3 .*result=ok"
'

test_expect 'a backend change during a running reload applies after it' '
	iaxkeyd_stop && hold_setup &&
	reload_backend_conf command "$T_DIR/hold.sh" && iaxkeyd_start &&
	emu_bg out1 -s outbound -a "IAX2/u:p@h1.example/1" &&
	wait_log "^reload chan_iax2" "$T_DIR/hold.reloads" &&
	reload_backend_conf agi && kill -HUP "$IKD_PID" &&
	wait_log "event=config_reload .*status=ok" &&
	hold_release && wait "$EMU_PID" &&
	grep -qx "var IAXKEY_STATUS=OK" out1 &&
	wait_log "event=reload backend=command .*result=ok" &&
	emu -s outbound -a "IAX2/u:p@h2.example/1" >out2 &&
	grep -qx "var IAXKEY_STATUS=OK" out2 &&
	grep -q "^reload" out2 &&
	[ "$(wc -l <hold.reloads)" -eq 1 ] &&
	wait_log "event=reload backend=agi .*result=ok"
'

test_expect 'command: a failing command gives RELOAD_FAILED' '
	iaxkeyd_stop &&
	RELOAD_RETRIES=1 RELOAD_BACKEND=command ASTERISK_EXTRA="reload_command = /bin/false" iaxkeyd_conf &&
	iaxkeyd_start &&
	emu -s outbound -a "IAX2/u:p@c3.example/1" >out &&
	grep -qx "var IAXKEY_STATUS=RELOAD_FAILED" out &&
	iaxkeyd_stop
'
test_done
