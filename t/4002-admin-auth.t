#!/bin/bash
# admin console with a password: commands before auth, success, failures
# answered ever more slowly and then disconnected, a changed password
# logging clients out, the client cap and the idle timeout.
. "$(dirname "$0")/lib/iaxkeyd.sh"

# Read one reply from descriptor $1: its lines up to the final one.
reply() {
	while IFS= read -r -t 10 -u "$1" r_line; do
		echo "$r_line"
		case $r_line in OK|ERR\ *) return 0 ;; esac
	done
	return 1
}

# Milliseconds, for lower bounds on deliberate delays.
ms() {
	echo $(( $(date +%s%N) / 1000000 ))
}

test_expect 'daemon with a console password' '
	admin_conf <<-EOF &&
	listen = 127.0.0.1:0
	password = open sesame
	max_clients = 3
	idle_timeout_ms = 2000
	EOF
	iaxkeyd_start && admin_port
'

test_expect 'before auth: help, auth and quit only' '
	adm help status sessions "peers" "watch" "forget peer x" "reload config" quit >out &&
	finals out >f &&
	test_cmp f <<-EOF &&
	OK
	ERR authentication required
	ERR authentication required
	ERR authentication required
	ERR authentication required
	ERR authentication required
	ERR authentication required
	OK
	EOF
	grep -q "^    auth <password> *(before auth too)$" out
'

test_expect 'auth with the password (quoted, it holds a space)' '
	adm "auth \"open sesame\"" status "auth open sesame" >out &&
	finals out >f &&
	test_cmp f <<-EOF &&
	OK
	OK
	ERR usage: auth <password>
	EOF
	grep -q "^  version " out &&
	wait_log "event=admin_auth result=ok addr=127.0.0.1:[0-9]+ client=[0-9]+"
'

test_expect 'a failed auth logs out a client that was in' '
	adm "auth \"open sesame\"" "auth wrong0" status >out &&
	finals out >f &&
	test_cmp f <<-EOF
	OK
	ERR authentication failed
	ERR authentication required
	EOF
'

test_expect 'a correct password resets the count of failures' '
	adm "auth \"open sesame\"" >out && [ "$(finals out)" = OK ]
'

test_expect 'failures: 3 at once, then slowed down, the 5th disconnects' '
	t0=$(ms) &&
	adm "auth wrong1" "auth wrong2" "auth wrong3" "auth wrong4" \
	    "auth wrong5" status >out &&
	t1=$(ms) &&
	finals out >f &&
	test_cmp f <<-EOF &&
	ERR authentication failed
	ERR authentication failed
	ERR authentication failed
	ERR authentication failed
	ERR authentication failed
	EOF
	echo "took $((t1 - t0)) ms" &&
	[ $((t1 - t0)) -ge 2900 ] &&
	wait_log "event=admin_auth result=fail addr=127.0.0.1:[0-9]+ client=[0-9]+ failures=5" &&
	wait_log "event=admin_close .*reason=\"authentication failures\""
'

test_expect 'the 4th failure alone waits a second' '
	adm "auth \"open sesame\"" >out && [ "$(finals out)" = OK ] &&
	exec 3<>"/dev/tcp/127.0.0.1/$ADMIN_PORT" &&
	printf "auth w1\nauth w2\nauth w3\n" >&3 &&
	reply 3 && reply 3 && reply 3 >r &&
	[ "$(cat r)" = "ERR authentication failed" ] &&
	t0=$(ms) && printf "auth w4\n" >&3 && reply 3 >r && t1=$(ms) &&
	[ "$(cat r)" = "ERR authentication failed" ] &&
	echo "4th took $((t1 - t0)) ms" &&
	[ $((t1 - t0)) -ge 950 ] &&
	printf "auth \"open sesame\"\nstatus\n" >&3 &&
	reply 3 >r && [ "$(cat r)" = OK ] &&
	reply 3 >r && grep -q "^  version" r &&
	printf "quit\n" >&3 && reply 3 >r && [ "$(cat r)" = OK ] &&
	exec 3<&-
'

test_expect 'the password is never logged' '
	! grep -q "sesame" "$T_DIR/daemon.log" &&
	! grep -q "wrong[0-9]" "$T_DIR/daemon.log"
'

test_expect 'a changed password logs every client out' '
	exec 3<>"/dev/tcp/127.0.0.1/$ADMIN_PORT" &&
	printf "auth \"open sesame\"\n" >&3 && reply 3 >r && [ "$(cat r)" = OK ] &&
	sed -i "s/^password = open sesame$/password = new-secret/" "$T_DIR/iaxkeyd.conf" &&
	kill -HUP $IKD_PID && wait_log "event=config_reload .*status=ok" &&
	printf "status\nauth new-secret\nstatus\nquit\n" >&3 &&
	reply 3 >r && [ "$(cat r)" = "ERR authentication required" ] &&
	reply 3 >r && [ "$(cat r)" = OK ] &&
	reply 3 >r && grep -q "^  version" r &&
	reply 3 >r && [ "$(cat r)" = OK ] &&
	exec 3<&-
'

test_expect 'max_clients: the next client gets one line and is closed' '
	exec 3<>"/dev/tcp/127.0.0.1/$ADMIN_PORT" &&
	exec 4<>"/dev/tcp/127.0.0.1/$ADMIN_PORT" &&
	exec 5<>"/dev/tcp/127.0.0.1/$ADMIN_PORT" &&
	printf "help\n" >&5 && reply 5 >/dev/null &&
	adm status >out &&
	test_cmp out <<-EOF &&
	ERR too many clients
	EOF
	wait_log "event=admin_refused client=[0-9]+ addr=127.0.0.1:[0-9]+ reason=max_clients" &&
	printf "quit\n" >&3 && reply 3 >r && [ "$(cat r)" = OK ] &&
	adm status >out &&
	[ "$(finals out)" = "ERR authentication required" ] &&
	exec 3<&- 4<&- 5<&-
'

test_expect 'idle timeout: ERR idle timeout, then closed' '
	exec 3<>"/dev/tcp/127.0.0.1/$ADMIN_PORT" &&
	t0=$(ms) && reply 3 >r && t1=$(ms) &&
	[ "$(cat r)" = "ERR idle timeout" ] &&
	! read -r -t 5 -u 3 line &&
	echo "idle after $((t1 - t0)) ms" &&
	[ $((t1 - t0)) -ge 1900 ] &&
	wait_log "event=admin_close .*reason=\"idle timeout\"" &&
	exec 3<&-
'

test_expect 'stats count the failures' '
	adm "auth new-secret" stats >out &&
	grep -q "^  admin_auth_failures 10$" out &&
	grep -q "^  admin_refused 1$" out
'

test_expect 'daemon stops cleanly' 'iaxkeyd_stop'

test_done
