#!/bin/bash
# iaxkeyctl, the one-shot console client: the reply without its framing,
# exit status 0 for OK, 1 for ERR and 2 for usage, connection and login
# errors; the address and password from iaxkeyd's configuration (-s and
# IAXKEYCTL_PASSWORD override them); words quoted as the console splits
# them; a reply that never comes ends at -t; watch streams until SIGTERM
# and then exits 0.
. "$(dirname "$0")/lib/iaxkeyd.sh"

CTL=$T_TOP/ctl/iaxkeyctl
PW='open sesame'

# $1: iaxkeyd's configuration with [admin] listen set to $2 (the real port
# instead of 0, for a client).
ctl_conf() {
	awk -v addr="$2" '/^\[/ { admin = ($0 == "[admin]") }
	    admin && /^listen =/ { $0 = "listen = " addr } { print }' \
	    "$T_DIR/iaxkeyd.conf" >"$1"
}

# Run iaxkeyctl; its exit status in $rc, stdout in out, stderr in err.
ctl() {
	"$CTL" "$@" >out 2>err
	rc=$?
}

test_expect 'daemon without a password' '
	ENV_TIMEOUT_MS=60000 admin_conf <<-EOF &&
	listen = 127.0.0.1:0
	EOF
	iaxkeyd_start && admin_port &&
	ctl_conf ctl.conf "127.0.0.1:$ADMIN_PORT" &&
	ctl_conf wrong.conf 127.0.0.1:1
'

test_expect 'OK: exit 0, the data lines without the final line' '
	ctl -f ctl.conf status &&
	[ "$rc" = 0 ] && ! [ -s err ] &&
	grep -q "^  version      " out &&
	grep -q "^  config       $T_DIR/iaxkeyd.conf" out &&
	! grep -E -q "^(OK|ERR)" out
'

test_expect 'ERR: exit 1, the reason on stderr, nothing on stdout' '
	ctl -f ctl.conf peer no-such-peer &&
	[ "$rc" = 1 ] && ! [ -s out ] &&
	[ "$(cat err)" = "no such peer" ]
'

test_expect 'a word with a blank reaches the console as one word' '
	ctl -f ctl.conf peers "a b" &&
	[ "$rc" = 1 ] && grep -q "^bad glob" err &&
	ctl -f ctl.conf help "log" "level" &&
	[ "$rc" = 0 ] && grep -q "log level" out &&
	ctl -f ctl.conf "peers" "a\\\"b" && [ "$rc" = 1 ] && grep -q "^bad glob" err
'

test_expect '-s overrides [admin] listen' '
	ctl -f wrong.conf status && [ "$rc" = 2 ] &&
	ctl -f wrong.conf -s "127.0.0.1:$ADMIN_PORT" status &&
	[ "$rc" = 0 ] && grep -q "^  version" out
'

test_expect 'unreachable console: exit 2 and why' '
	ctl -f wrong.conf status &&
	[ "$rc" = 2 ] && ! [ -s out ] &&
	grep -qx "iaxkeyctl: cannot connect to the console at 127.0.0.1:1: Connection refused" err
'

# The AGI listener waits for the rest of an environment block
# (env_timeout_ms, 60 s here) and answers nothing meanwhile.
test_expect 'a listener that never answers: exit 2 after -t' '
	ctl -s "127.0.0.1:$AGI_PORT" -f ctl.conf -t 1 agi_network: yes &&
	[ "$rc" = 2 ] && ! [ -s out ] &&
	grep -qx "iaxkeyctl: 127.0.0.1:$AGI_PORT: no reply in time" err
'

test_expect 'usage and configuration errors: exit 2' '
	ctl -f ctl.conf && [ "$rc" = 2 ] && grep -q "^usage: iaxkeyctl" err &&
	ctl -f "$T_DIR/missing.conf" status && [ "$rc" = 2 ] &&
	grep -q "missing.conf" err &&
	ctl -f ctl.conf -t 0 status && [ "$rc" = 2 ] &&
	ctl -f "$T_DIR/iaxkeyd.conf" status && [ "$rc" = 2 ] &&
	grep -q "port 0; give the port with -s" err &&
	ctl -f ctl.conf peer "$(printf "a\nstatus")" && [ "$rc" = 2 ] &&
	grep -q "line break" err
'

test_expect 'watch streams lines until SIGTERM, then exits 0' '
	"$CTL" -f ctl.conf watch warn >w 2>werr &
	ctl_pid=$! &&
	wait_log "^# watching level=warn" w &&
	ctl -f ctl.conf fetch nodeX && [ "$rc" = 1 ] &&
	wait_log "event=key_fetch node=nodeX" w &&
	kill -TERM "$ctl_pid" && wait "$ctl_pid" && ctl_pid= &&
	! grep -E -q "^(OK|ERR)" w && ! [ -s werr ] &&
	ctl -f ctl.conf status &&
	grep -q "^  console      clients 1, watching 0" out
'
[ -n "${ctl_pid:-}" ] && kill "$ctl_pid" 2>/dev/null

test_expect 'daemon with a password' '
	iaxkeyd_stop &&
	admin_conf <<-EOF &&
	listen = 127.0.0.1:0
	password = open sesame
	EOF
	grep -q "sesame" "$T_DIR/iaxkeyd.conf" &&
	iaxkeyd_start && admin_port &&
	ctl_conf pw.conf "127.0.0.1:$ADMIN_PORT" &&
	sed "/^password =/d" pw.conf >nopw.conf
'

test_expect 'the password from the configuration logs in' '
	ctl -f pw.conf status && [ "$rc" = 0 ] &&
	grep -q "^  version" out &&
	! grep -q sesame out err "$T_DIR/daemon.log"
'

test_expect 'without it: ERR authentication required, exit 1' '
	ctl -f nopw.conf status && [ "$rc" = 1 ] &&
	[ "$(cat err)" = "authentication required" ]
'

test_expect 'IAXKEYCTL_PASSWORD: the right one logs in, a wrong one exits 2' '
		IAXKEYCTL_PASSWORD=$PW ctl -f nopw.conf status && [ "$rc" = 0 ] &&
	IAXKEYCTL_PASSWORD=wr0ng-guess ctl -f pw.conf status && [ "$rc" = 2 ] &&
	! [ -s out ] &&
	grep -qx "iaxkeyctl: 127.0.0.1:$ADMIN_PORT: login failed: authentication failed" err &&
	! grep -q -e sesame -e wr0ng-guess "$T_DIR/daemon.log"
'

test_expect 'daemon stops cleanly' 'iaxkeyd_stop'

# Complete the words $@ (the last one is being typed) as bash would.
complete_words() {
	bash -c '. /usr/share/bash-completion/bash_completion &&
	    . "$0" && COMP_WORDS=("$@") && COMP_CWORD=$(($# - 1)) &&
	    COMP_LINE="$*" && COMP_POINT=${#COMP_LINE} &&
	    _iaxkeyctl iaxkeyctl "${COMP_WORDS[COMP_CWORD]}" \
	        "${COMP_WORDS[COMP_CWORD - 1]}" && echo "${COMPREPLY[*]}"' \
	    "$T_TOP/etc/iaxkeyctl.bash-completion" "$@"
}

if [ -f /usr/share/bash-completion/bash_completion ]; then
	test_expect 'bash completion: command words, second words, levels' '
		[ "$(complete_words iaxkeyctl st)" = "status stats" ] &&
		[ "$(complete_words iaxkeyctl -s 127.0.0.1:4574 key "")" = \
		    "generate upload rotate show" ] &&
		[ "$(complete_words iaxkeyctl forget "")" = "peer key" ] &&
		[ "$(complete_words iaxkeyctl log level "")" = \
		    "debug info warn error" ] &&
		[ "$(complete_words iaxkeyctl watch w)" = "warn" ] &&
		[ "$(complete_words iaxkeyctl -)" = "-f -s -t" ]
	'
else
	test_skip 'bash-completion is not installed'
fi
test_done
