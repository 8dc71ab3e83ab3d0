#!/bin/bash
# admin console watch: the ops log live, by level; a watcher that never
# reads loses lines (counted, reported as "# dropped N lines") while the
# daemon keeps serving other console clients and AGI calls.
. "$(dirname "$0")/lib/iaxkeyd.sh"

# Read from descriptor $1 up to a line matching the extended regex $2.
read_until() {
	while IFS= read -r -t 10 -u "$1" r_line; do
		echo "$r_line"
		echo "$r_line" | grep -E -q -- "$2" && return 0
	done
	return 1
}

# A value from "stats".
stat() {
	adm stats | sed -n "s/^  $1 //p"
}

MAX_SESSIONS=1000
test_expect 'daemon' '
	admin_conf <<-EOF &&
	listen = 127.0.0.1:0
	EOF
	iaxkeyd_start && admin_port
'

test_expect 'watch streams lines at or above its level, ends on a line' '
	exec 3<>"/dev/tcp/127.0.0.1/$ADMIN_PORT" &&
	printf "watch warn\n" >&3 &&
	read_until 3 "^# watching level=warn" >w &&
	adm status "fetch nodeX" >out &&
	[ "$(finals out)" = "$(printf "OK\nERR fetch FAILED")" ] &&
	read_until 3 "event=key_fetch node=nodeX" >w &&
	! grep -v "level=warn" w &&
	printf "\n" >&3 && read_until 3 "^(OK|ERR )" >w &&
	[ "$(cat w)" = OK ] &&
	printf "status\n" >&3 && read_until 3 "^(OK|ERR )" >w &&
	grep -q "^  console      clients 1, watching 0" w &&
	exec 3<&-
'

test_expect 'a watcher that disconnects stops watching' '
	exec 3<>"/dev/tcp/127.0.0.1/$ADMIN_PORT" &&
	printf "watch debug\n" >&3 &&
	read_until 3 "^# watching level=debug" >w &&
	exec 3<&- &&
	wait_log "event=admin_close .*reason=\"closed by client\"" &&
	adm status >out &&
	grep -q "^  console      clients 1, watching 0" out
'

test_expect 'a watcher that never reads: lines dropped, nothing stalls' '
	exec 3<>"/dev/tcp/127.0.0.1/$ADMIN_PORT" &&
	printf "watch debug\n" >&3 &&
	i=0 && dropped=0 &&
	while [ "$dropped" = 0 ] && [ $i -lt 40 ]; do
		emu -n 500 -P 25 -s ping >emu.out &&
		grep -q "^total calls=500 " emu.out || break
		dropped=$(stat admin_watch_dropped)
		i=$((i + 1))
	done &&
	echo "dropped $dropped after $i rounds of 500 calls" &&
	[ "$dropped" -gt 0 ] &&
	adm status >out &&
	[ "$(finals out)" = OK ] &&
	grep -q "^  console      clients 2, watching 1" out &&
	emu -s ping >out &&
	grep -q "^call 0 agistatus=SUCCESS" out &&
	grep -qx "var IAXKEY_STATUS=OK" out &&
	i=0 && more=$dropped &&
	while [ "$more" = "$dropped" ] && [ $i -lt 40 ]; do
		emu -n 100 -P 25 -s ping >emu.out || break
		more=$(stat admin_watch_dropped)
		i=$((i + 1))
	done &&
	echo "dropped $more after $i more rounds" &&
	[ "$more" -gt "$dropped" ] &&
	adm "stats prometheus" >out &&
	grep -E -q "^iaxkeyd_admin_watch_dropped_lines_total [1-9][0-9]*$" out
'

test_expect 'when the watcher reads again: "# dropped N lines", the count adds up' '
	cat <&3 >watch.out & cat_pid=$! &&
	wait_log "^# dropped [0-9]+ lines" watch.out &&
	printf "\nquit\n" >&3 &&
	wait $cat_pid &&
	exec 3<&- &&
	[ "$(head -n 1 watch.out)" = "# watching level=debug; send a line to stop" ] &&
	finals watch.out >f &&
	test_cmp f <<-EOF &&
	OK
	OK
	EOF
	! grep -v -E "^(ts=[^ ]+ level=[a-z]+ event=[a-z_]+|# |OK$)" watch.out &&
	sum=$(sed -n "s/^# dropped \([0-9]*\) lines$/\1/p" watch.out |
	    awk "{ s += \$1 } END { print s }") &&
	echo "reported $sum, counted $(stat admin_watch_dropped)" &&
	[ "$sum" = "$(stat admin_watch_dropped)" ]
'

test_expect 'daemon stops cleanly' 'iaxkeyd_stop'

test_done
