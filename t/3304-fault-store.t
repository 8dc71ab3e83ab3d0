#!/bin/bash
# Faults of the state store.  At start, a corrupt database file or one
# locked by another process: a clear message naming the file and the
# reason, exit 1.  At run time, a database another process locks: calls
# are answered with the fallback (outbound ERROR with IAXKEY_DIAL = the
# MD5+AES dial string; inbound FALLBACK, nothing installed), the log says
# "state store: ... database is locked", nothing crashes, and calls work
# again once the lock is gone.
. "$(dirname "$0")/lib/iaxkeyd.sh"

DB=$T_DIR/state.db
USERS=$T_DIR/ast/iaxkeyd-users.conf
PEERS=$T_DIR/ast/iaxkeyd-peers.conf

# Hold an exclusive write lock on the database from a sqlite3 process fed
# through a fifo; returns once the lock is taken.  With "reads", take it
# in locking_mode=EXCLUSIVE, which keeps readers out as well (possible
# only while no other connection has the database open).
lock_db() {
	case $1 in
	reads)	l_mode="PRAGMA locking_mode=EXCLUSIVE;" ;;
	*)	l_mode= ;;
	esac
	rm -f "$T_DIR/lock.fifo" "$T_DIR/lock.ready" &&
	mkfifo "$T_DIR/lock.fifo" &&
	: >"$T_DIR/lock.ready" || return 1
	sqlite3 "$DB" <"$T_DIR/lock.fifo" >"$T_DIR/lock.out" 2>&1 &
	LOCK_PID=$!
	exec 7>"$T_DIR/lock.fifo"
	printf '%s\n' "$l_mode" "BEGIN EXCLUSIVE;" \
	    "CREATE TABLE IF NOT EXISTS lockheld (a);" \
	    ".system echo locked >$T_DIR/lock.ready" >&7
	wait_log '^locked' "$T_DIR/lock.ready" &&
	! grep -q -i error "$T_DIR/lock.out"
}

# Let the lock go (roll back) and wait for the sqlite3 process.
unlock_db() {
	printf '%s\n' "ROLLBACK;" >&7
	exec 7>&-
	wait "$LOCK_PID"
}

# Start the daemon expecting it to refuse: exit 1, message on stderr.
start_fails() {
	: >"$T_DIR/daemon.log"
	bounded "$IKD" -d -f "$T_DIR/iaxkeyd.conf" >>"$T_DIR/daemon.log" 2>&1
	rc=$?
	cat "$T_DIR/daemon.log"
	[ "$rc" -eq 1 ] &&
	! grep -q "event=start" "$T_DIR/daemon.log" &&
	! grep -E -q "AddressSanitizer|LeakSanitizer|runtime error:" \
	    "$T_DIR/daemon.log"
}

test_expect 'key server stub' 'ks_start'
KS_URL="http://127.0.0.1:$KS_PORT/v1/keys/{node}"
INBOUND_EXTRA="fallback_context = from-net-fallback,s,1"
iaxkeyd_conf

test_expect 'start: a corrupt database file is reported, exit 1' '
	head -c 8192 /dev/urandom >"$DB" && cp "$DB" db.before &&
	start_fails &&
	grep -q "level=error event=log msg=\"state store: $DB: file is not a database\"" \
	    "$T_DIR/daemon.log" &&
	cmp db.before "$DB"
'

test_expect 'start: a text file in its place is reported too' '
	printf "%s\n" "not a database" >"$DB" &&
	start_fails &&
	grep -q "msg=\"state store: $DB: file is not a database\"" \
	    "$T_DIR/daemon.log"
'

test_expect 'a fresh database, a peer and a key' '
	rm -f "$DB" "$DB-wal" "$DB-shm" && own_key && iaxkeyd_start &&
	emu -s outbound -a "IAX2/u:p@p1.example/1" >out &&
	grep -qx "var IAXKEY_STATUS=OK" out &&
	ks_key nodeA &&
	emu -s inbound -a nodeA -a MD5 >out &&
	grep -qx "var IAXKEY_KEY=NEW" out &&
	iaxkeyd_stop
'

test_expect 'start: a database locked by another process, exit 1' '
	lock_db &&
	start_fails &&
	grep -q "level=error event=log msg=\"state store: $DB: database is locked\"" \
	    "$T_DIR/daemon.log" &&
	unlock_db
'

test_expect 'start: locked with readers kept out too, exit 1' '
	lock_db reads &&
	start_fails &&
	grep -q "level=error event=log msg=\"state store: $DB: database is locked\"" \
	    "$T_DIR/daemon.log" &&
	unlock_db
'

test_expect 'run time: started, then the database is locked' '
	iaxkeyd_start && lock_db &&
	cp "$PEERS" peers.before && cp "$USERS" users.before
'

test_expect 'outbound to a new destination: ERROR, the fallback dial string' '
	emu -s outbound -a "IAX2/u:p@p2.example/1" >out &&
	grep -qx "var IAXKEY_STATUS=ERROR" out &&
	grep -qx "var IAXKEY_DIAL=IAX2/u:p@p2.example:4569/1" out &&
	grep -qx "var IAXKEY_FALLBACK=IAX2/u:p@p2.example:4569/1" out &&
	grep -qx "var IAXKEY_REASON=state store: database is locked" out &&
	wait_log "event=outbound .*dest=p2.example:4569 .*status=ERROR .*reason=\"state store: database is locked\"" &&
	cmp peers.before "$PEERS"
'

test_expect 'outbound to a known destination still works, no reload due' '
	emu -s outbound -a "IAX2/u:p@p1.example/1" >out &&
	grep -qx "var IAXKEY_STATUS=OK" out &&
	grep -qx "var IAXKEY_DIAL=IAX2/p1.example_4569_u/1" out &&
	! grep -q "^reload" out
'

test_expect 'inbound: FALLBACK, key FAILED, nothing installed' '
	ks_key nodeB &&
	emu -s inbound -a nodeB -a MD5 >out &&
	grep -qx "var IAXKEY_STATUS=FALLBACK" out &&
	grep -qx "var IAXKEY_KEY=FAILED" out &&
	grep -qx "context from-net-fallback" out &&
	grep -qx "var IAXKEY_REASON=state store: database is locked" out &&
	wait_log "event=key_fetch node=nodeB .*result=FAILED .*reason=\"state store: database is locked\"" &&
	[ ! -e "$T_DIR/keys/nodeB.pub" ] &&
	! ls -a "$T_DIR/keys" | grep -q "^\.nodeB" &&
	cmp users.before "$USERS"
'

test_expect 'inbound: a changed key is not installed either' '
	cp "$T_DIR/keys/nodeA.pub" nodeA.before &&
	ks_key nodeA &&
	emu -s inbound -a nodeA -a MD5 >out &&
	grep -qx "var IAXKEY_STATUS=FALLBACK" out &&
	grep -qx "var IAXKEY_KEY=FAILED" out &&
	grep -qx "var IAXKEY_REASON=state store: database is locked" out &&
	cmp nodeA.before "$T_DIR/keys/nodeA.pub"
'

test_expect 'RSA calls and ping are not affected' '
	emu -s inbound -a nodeA -a RSA >out &&
	grep -qx "var IAXKEY_STATUS=RSA" out &&
	emu -s ping >out &&
	grep -qx "var IAXKEY_STATUS=OK" out
'

test_expect 'the daemon is still up, and the store never crashed it' '
	kill -0 "$IKD_PID" &&
	grep -q "level=warn event=log msg=\"state store: database is locked\"" \
	    "$T_DIR/daemon.log" &&
	! grep -E -q "level=error|AddressSanitizer|runtime error:" "$T_DIR/daemon.log"
'

test_expect 'lock released: the same calls succeed' '
	unlock_db &&
	emu -s outbound -a "IAX2/u:p@p2.example/1" >out &&
	grep -qx "var IAXKEY_STATUS=OK" out &&
	grep -q "^\[p2.example_4569_u\]$" "$PEERS" &&
	emu -s inbound -a nodeB -a MD5 >out &&
	grep -qx "var IAXKEY_KEY=NEW" out &&
	cmp "$T_DIR/ks/nodeB.pub" "$T_DIR/keys/nodeB.pub" &&
	grep -q "^inkeys=.*nodeB" "$USERS"
'

test_expect 'clean shutdown' 'iaxkeyd_stop && ks_stop'
test_done
