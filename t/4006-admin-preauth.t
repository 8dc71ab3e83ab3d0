#!/bin/bash
# admin console, clients that never log in: they count against their own
# cap (auth_max_clients), where a newcomer pushes out the oldest, so idle
# connections cannot lock the operator out; a logged-in client is never
# pushed out; and the login deadline (auth_timeout_s) runs from the
# connection whatever the client sends, help included.
. "$(dirname "$0")/lib/iaxkeyd.sh"

IDLE=7

# Close descriptors 3 to 9.
close_all() {
	for fd in 3 4 5 6 7 8 9; do
		eval "exec $fd<&-"
	done
}

test_expect 'daemon with a password, 3 clients at most before login' '
	admin_conf <<-EOF &&
	listen = 127.0.0.1:0
	password = s3c
	max_clients = 6
	auth_max_clients = 3
	auth_timeout_s = 600
	EOF
	iaxkeyd_start && admin_port
'

test_expect "$IDLE idle connections: the oldest are pushed out, 3 wait" '
	fd=3 &&
	while [ $fd -lt $((3 + IDLE)) ]; do
		eval "exec $fd<>/dev/tcp/127.0.0.1/$ADMIN_PORT" &&
		wait_count "event=admin_open " $((fd - 2)) || break
		fd=$((fd + 1))
	done &&
	[ $fd -eq $((3 + IDLE)) ] &&
	pushed=0 &&
	for fd in 3 4 5 6; do
		adm_line $fd &&
		[ "$r_line" = "ERR too many clients waiting to log in" ] &&
		pushed=$((pushed + 1))
	done &&
	[ $pushed = 4 ] &&
	[ "$(count_log "event=admin_close .*reason=\"pushed out before login\"")" = 4 ] &&
	[ "$(count_log "event=admin_refused ")" = 0 ]
'

test_expect 'an operator who connects afterwards logs in' '
	adm "auth s3c" status >out &&
	finals out >f &&
	test_cmp f <<-EOF &&
	OK
	OK
	EOF
	wait_count "event=admin_close .*reason=\"pushed out before login\"" 5
'

test_expect 'a logged-in client is never pushed out by idle ones' '
	close_all &&
	exec 3<>"/dev/tcp/127.0.0.1/$ADMIN_PORT" &&
	printf "auth s3c\n" >&3 && adm_reply 3 >r && [ "$(cat r)" = OK ] &&
	n=$(count_log "event=admin_open ") && n0=$n &&
	for fd in 4 5 6 7 8; do
		eval "exec $fd<>/dev/tcp/127.0.0.1/$ADMIN_PORT" &&
		wait_count "event=admin_open " $((n + 1)) &&
		n=$((n + 1))
	done &&
	[ $n = $((n0 + 5)) ] &&
	printf "status\n" >&3 && adm_reply 3 >r && grep -q "^  version" r &&
	tail -n 1 r | grep -qx OK &&
	printf "quit\n" >&3 && adm_reply 3 >r && [ "$(cat r)" = OK ] &&
	close_all
'

test_expect 'stats count the clients pushed out' '
	adm "auth s3c" stats >out &&
	grep -Eq "^  admin_unauth_evicted [0-9]+$" out &&
	[ "$(sed -n "s/^  admin_unauth_evicted //p" out)" = \
	    "$(count_log "event=admin_close .*reason=\"pushed out before login\"")" ]
'

test_expect 'help does not renew the login deadline' '
	sed -i "s/^auth_timeout_s = 600$/auth_timeout_s = 1/" \
	    "$T_DIR/iaxkeyd.conf" &&
	kill -HUP $IKD_PID && wait_log "event=config_reload .*status=ok" &&
	exec 3<>"/dev/tcp/127.0.0.1/$ADMIN_PORT" &&
	helps=0 && last= && t_end=$((SECONDS + 60)) &&
	while [ $SECONDS -lt $t_end ]; do
		printf "help\n" >&3 2>/dev/null || break
		adm_reply 3 >r || break
		last=$(tail -n 1 r)
		[ "$last" = OK ] || break
		helps=$((helps + 1))
	done &&
	echo "helps answered: $helps, last: $last" &&
	[ "$last" = "ERR authentication timeout" ] &&
	[ $helps -ge 1 ] &&
	wait_log "event=admin_close .*reason=\"authentication timeout\"" &&
	exec 3<&-
'

test_expect 'daemon stops cleanly' 'iaxkeyd_stop'

test_done
