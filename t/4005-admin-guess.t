#!/bin/bash
# admin console, password guessing over fresh connections: once an address
# has failed 3 times, the 4th failure locks it and every auth from it,
# from any connection, is refused without being checked until the lock
# ends; the correct password too.  Counts and states, no clock: the lock
# lasts 10 minutes (auth_delay_ms) until a reload shortens it.
. "$(dirname "$0")/lib/iaxkeyd.sh"

GUESSES=44

test_expect 'daemon with a 3-character password, a 10-minute lock' '
	admin_conf <<-EOF &&
	listen = 127.0.0.1:0
	password = s3c
	auth_delay_ms = 600000
	EOF
	iaxkeyd_start && admin_port
'

# One guess per connection; the connection is dropped as soon as the
# daemon has logged the attempt, as an attacker resetting would.
test_expect "$GUESSES guesses over fresh connections: 4 checked, the rest refused" '
	: >replies &&
	i=1 &&
	while [ $i -le $GUESSES ]; do
		exec 3<>"/dev/tcp/127.0.0.1/$ADMIN_PORT" &&
		printf "auth g%03d\n" $i >&3 &&
		wait_count "event=admin_auth " $i || break
		if [ $i -ne 4 ]; then
			adm_line 3 && echo "$r_line" >>replies || break
		fi
		exec 3<&-
		i=$((i + 1))
	done &&
	[ $i -gt $GUESSES ] &&
	[ "$(count_log "event=admin_auth result=fail ")" = 4 ] &&
	[ "$(count_log "event=admin_auth result=refused ")" = $((GUESSES - 4)) ] &&
	[ "$(count_log "event=admin_auth result=ok ")" = 0 ] &&
	wait_log "event=admin_auth result=fail addr=127.0.0.1:[0-9]+ client=[0-9]+ failures=4" &&
	[ "$(grep -c "^ERR authentication failed$" replies)" = 3 ] &&
	[ "$(grep -c "^ERR too many failed logins; try again in [0-9]* s$" replies)" = $((GUESSES - 4)) ]
'

test_expect 'the correct password during the lock is refused unchecked' '
	adm "auth s3c" status >out &&
	finals out >f &&
	grep -q "^ERR too many failed logins; try again in [0-9]* s$" f &&
	[ "$(sed -n 2p f)" = "ERR authentication required" ] &&
	wait_count "event=admin_auth result=refused " $((GUESSES - 3)) &&
	[ "$(count_log "event=admin_auth result=fail ")" = 4 ] &&
	[ "$(count_log "event=admin_auth result=ok ")" = 0 ]
'

test_expect 'the lock is per address: 127.0.0.2 may log in' '
	printf "auth s3c\nstatus\n" |
	    timeout 30 nc -N -s 127.0.0.2 127.0.0.1 "$ADMIN_PORT" >out &&
	finals out >f &&
	test_cmp f <<-EOF &&
	OK
	OK
	EOF
	wait_log "event=admin_auth result=ok addr=127.0.0.2:"
'

test_expect 'the lock still holds for 127.0.0.1' '
	adm "auth s3c" >out &&
	grep -q "^ERR too many failed logins" out &&
	[ "$(count_log "event=admin_auth result=ok addr=127.0.0.1:")" = 0 ]
'

test_expect 'once the lock has ended the correct password is accepted' '
	sed -i "s/^auth_delay_ms = 600000$/auth_delay_ms = 1/" \
	    "$T_DIR/iaxkeyd.conf" &&
	kill -HUP $IKD_PID && wait_log "event=config_reload .*status=ok" &&
	adm "auth s3c" status >out &&
	finals out >f &&
	test_cmp f <<-EOF &&
	OK
	OK
	EOF
	wait_log "event=admin_auth result=ok addr=127.0.0.1:" &&
	[ "$(count_log "event=admin_auth result=fail ")" = 4 ]
'

test_expect 'stats count checked failures and refused attempts apart' '
	adm "auth s3c" stats >out &&
	grep -q "^  admin_auth_failures 4$" out &&
	grep -q "^  admin_auth_refused $((GUESSES - 2))$" out
'

test_expect 'no guess and no password in the log' '
	! grep -q "s3c" "$T_DIR/daemon.log" &&
	! grep -q "g0[0-9][0-9]" "$T_DIR/daemon.log"
'

test_expect 'daemon stops cleanly' 'iaxkeyd_stop'

test_done
