#!/bin/bash
# admin console on 0.0.0.0: without a password a client that is not on
# loopback gets one line and is closed; with one (set by "reload config")
# it must log in.
. "$(dirname "$0")/lib/iaxkeyd.sh"

# Send each argument as one line to host $1.
adm_to() {
	a_host=$1
	shift
	printf '%s\n' "$@" | timeout 20 nc -N "$a_host" "$ADMIN_PORT"
}

# This machine's first IPv4 address that is not loopback, if any.
REMOTE=$(hostname -I 2>/dev/null | tr ' ' '\n' |
    grep -E '^[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+$' | grep -v '^127\.' | head -n 1)

test_expect 'daemon with a console on 0.0.0.0, no password' '
	admin_conf <<-EOF &&
	listen = 0.0.0.0:0
	EOF
	iaxkeyd_start && admin_port
'

test_expect 'a loopback client is served' '
	adm_to 127.0.0.1 status >out && [ "$(finals out)" = OK ] &&
	adm_to 127.0.0.2 status >out && [ "$(finals out)" = OK ]
'

if [ -z "$REMOTE" ]; then
	test_skip 'no non-loopback IPv4 address on this machine'
	test_skip 'no non-loopback IPv4 address on this machine'
else
	test_expect "a client from $REMOTE gets one line and is closed" '
		adm_to "$REMOTE" status help >out &&
		test_cmp out <<-EOF &&
		ERR console restricted to loopback without a password
		EOF
		wait_log "event=admin_refused client=[0-9]+ addr=$REMOTE:[0-9]+ reason=not_loopback"
	'

	test_expect "with a password (reload config) $REMOTE may log in" '
		printf "password = pw-remote\n" >>"$T_DIR/iaxkeyd.conf" &&
		adm_to 127.0.0.1 "reload config" >out &&
		[ "$(finals out)" = OK ] &&
		adm_to "$REMOTE" status "auth pw-remote" status >out &&
		finals out >f &&
		test_cmp f <<-EOF
		ERR authentication required
		OK
		OK
		EOF
	'
fi

test_expect 'daemon stops cleanly' 'iaxkeyd_stop'

test_done
