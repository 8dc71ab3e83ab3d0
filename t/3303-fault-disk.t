#!/bin/bash
# Faults of the disk while iaxkeyd writes a generated file (the peers or
# users file) or a key: ENOSPC and EIO (the afile fault hook), permission
# denied (the daemon runs as an unprivileged user over directories it may
# read but not write) and a read-only file system (a read-only bind mount
# in a private mount namespace).  Each time the previous file stays
# byte-identical, no temp file is left, and the status and the log say
# why: outbound ERROR with the fallback dial string, inbound FALLBACK with
# IAXKEY_KEY=FAILED, or the key installed but its reload not done.
. "$(dirname "$0")/lib/iaxkeyd.sh"

AST=$T_DIR/ast
KEYS=$T_DIR/keys
PEERS=$AST/iaxkeyd-peers.conf
USERS=$AST/iaxkeyd-users.conf

# Copy the generated files and the installed key as they are now.
snapshot() {
	cp "$PEERS" peers.before && cp "$USERS" users.before &&
	cp "$KEYS/nodeA.pub" nodeA.before
}

# Nothing changed on disk, and no temp file was left behind.
unchanged() {
	cmp peers.before "$PEERS" && cmp users.before "$USERS" &&
	cmp nodeA.before "$KEYS/nodeA.pub" &&
	! ls -a "$AST" "$KEYS" | grep -q "^\.iaxkeyd-\|^\.node"
}

# An outbound call to a new destination $1 failed to write the peers file
# with errno text $2: ERROR, the MD5+AES dial string, the reason.
outbound_write_failed() {
	emu -s outbound -a "IAX2/u:p@$1/1" >out &&
	grep -qx "var IAXKEY_STATUS=ERROR" out &&
	grep -qx "var IAXKEY_DIAL=IAX2/u:p@$1:4569/1" out &&
	grep -q "^var IAXKEY_REASON=.*iaxkeyd-peers\.conf.*: $2$" out &&
	wait_log "event=reload .*result=write_failed reason=\".*iaxkeyd-peers\.conf.*: $2\"" &&
	wait_log "event=outbound .*dest=$1:4569 .*status=ERROR "
}

# An inbound call from node $1 could not install its key (errno text $2).
inbound_key_failed() {
	ks_key "$1" &&
	emu -s inbound -a "$1" -a MD5 >out &&
	grep -qx "var IAXKEY_STATUS=FALLBACK" out &&
	grep -qx "var IAXKEY_KEY=FAILED" out &&
	grep -q "^var IAXKEY_REASON=.*$1\.pub.*: $2$" out &&
	wait_log "event=key_fetch node=$1 .*result=FAILED .*reason=\".*$1\.pub.*: $2\"" &&
	[ ! -e "$KEYS/$1.pub" ] &&
	[ "$(sqlite3 "$T_DIR/state.db" \
	    "SELECT count(*) FROM keys WHERE node = '$1' AND installed")" = 0 ]
}

test_expect 'key server stub' 'ks_start'
KS_URL="http://127.0.0.1:$KS_PORT/v1/keys/{node}"
iaxkeyd_conf

test_expect 'first: a peer, a key, both generated files' '
	own_key && iaxkeyd_start &&
	emu -s outbound -a "IAX2/u:p@p1.example/1" >out &&
	grep -qx "var IAXKEY_STATUS=OK" out &&
	ks_key nodeA &&
	emu -s inbound -a nodeA -a MD5 >out &&
	grep -qx "var IAXKEY_KEY=NEW" out &&
	iaxkeyd_stop
'

# Each fault test starts the daemon (which renders the files from the
# store at start), takes the snapshot, then makes the call.
test_expect 'ENOSPC writing the peers file: ERROR, file kept' '
	IAXKEYD_FAULT_WRITE=enospc IAXKEYD_FAULT_PATH=iaxkeyd-peers.conf \
	    iaxkeyd_start && snapshot &&
	outbound_write_failed p2.example "No space left on device" &&
	unchanged &&
	admin_port && adm stats >stats &&
	grep -qx "  reload_write_failures 1" stats &&
	iaxkeyd_stop
'

test_expect 'ENOSPC writing the users file: key in place, reload not done' '
	IAXKEYD_FAULT_WRITE=enospc IAXKEYD_FAULT_PATH=iaxkeyd-users.conf \
	    iaxkeyd_start && snapshot &&
	ks_key nodeU &&
	emu -s inbound -a nodeU -a MD5 >out &&
	grep -qx "var IAXKEY_STATUS=FALLBACK" out &&
	grep -qx "var IAXKEY_KEY=NEW" out &&
	grep -q "^var IAXKEY_REASON=key installed, reload failed: .*iaxkeyd-users\.conf.*: No space left on device$" out &&
	wait_log "event=reload .*result=write_failed reason=\".*iaxkeyd-users\.conf.*: No space left on device\"" &&
	unchanged &&
	iaxkeyd_stop
'

test_expect 'with room again the files catch up with the store at start' '
	iaxkeyd_start &&
	grep -q "^inkeys=.*nodeU" "$USERS" &&
	grep -q "^\[p2.example_4569_u\]$" "$PEERS" &&
	iaxkeyd_stop
'

test_expect 'EIO writing a key: FAILED, nothing installed' '
	IAXKEYD_FAULT_WRITE=eio IAXKEYD_FAULT_PATH=nodeI.pub iaxkeyd_start &&
	snapshot &&
	inbound_key_failed nodeI "Input/output error" &&
	unchanged &&
	iaxkeyd_stop
'

# Run the daemon as nobody (or as the unprivileged user running the suite)
# over directories owned by someone else: it may read them, not write.
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null; then
	printf '#!/bin/sh\nexec setpriv --reuid=nobody --regid=nogroup --clear-groups %s "$@"\n' \
	    "$IKD" >"$T_DIR/as-nobody"
	chmod 755 "$T_DIR/as-nobody"
	AS_USER=nobody
	IKD_AS=$T_DIR/as-nobody
elif [ "$(id -u)" != 0 ]; then
	AS_USER=self
	IKD_AS=$IKD
fi

if [ -n "$AS_USER" ]; then
test_expect 'permission denied: unprivileged daemon, directories not its own' '
	chmod 755 "$T_DIR" &&
	if [ "$AS_USER" = nobody ]; then
		chown nobody:nogroup "$T_DIR" "$T_DIR"/state.db* \
		    "$PEERS" "$USERS" "$KEYS"/* &&
		chmod 755 "$AST" "$KEYS"
	else
		chmod 555 "$AST" "$KEYS"
	fi &&
	IKD=$IKD_AS iaxkeyd_start && snapshot &&
	outbound_write_failed p3.example "Permission denied" &&
	inbound_key_failed nodeP "Permission denied" &&
	unchanged &&
	iaxkeyd_stop
'
else
test_skip 'permission denied: no way to run unprivileged'
fi
chmod 755 "$AST" "$KEYS"

test_expect 'the files catch up again (as root)' '
	chown -R "$(id -u)" "$T_DIR" && iaxkeyd_start &&
	grep -q "^\[p3.example_4569_u\]$" "$PEERS" && iaxkeyd_stop
'

# Bind-mount the config and key directories read-only in a private mount
# namespace of the daemon alone.
cat >"$T_DIR/ro-mount" <<EOF2
#!/bin/sh
for d in "$AST" "$KEYS"; do
	mount --bind "\$d" "\$d" && mount -o remount,bind,ro "\$d" "\$d" || exit 99
done
exec "$T_TOP/agi/iaxkeyd" "\$@"
EOF2
chmod 755 "$T_DIR/ro-mount"
if [ "$(id -u)" = 0 ] && unshare -m sh -c 'mount -t tmpfs none /mnt && umount /mnt' 2>/dev/null; then
test_expect 'read-only file system: ERROR / FAILED, files kept' '
	printf "#!/bin/sh\nexec unshare -m %s \"\$@\"\n" "$T_DIR/ro-mount" >"$T_DIR/ro" &&
	chmod 755 "$T_DIR/ro" &&
	IKD=$T_DIR/ro iaxkeyd_start && snapshot &&
	outbound_write_failed p4.example "Read-only file system" &&
	inbound_key_failed nodeR "Read-only file system" &&
	unchanged &&
	iaxkeyd_stop
'

test_expect 'read-only at start with a file to render: clear error, exit 1' '
	: >"$T_DIR/daemon.log" &&
	{ bounded "$T_DIR/ro" -d -f "$T_DIR/iaxkeyd.conf" >>"$T_DIR/daemon.log" 2>&1; rc=$?; } ;
	cat "$T_DIR/daemon.log" &&
	[ "$rc" = 1 ] && ! grep -q "event=start" "$T_DIR/daemon.log" &&
	grep -q "level=error event=log msg=\".*iaxkeyd-peers\.conf: Read-only file system\"" \
	    "$T_DIR/daemon.log" &&
	unchanged
'
else
test_skip 'read-only file system: cannot mount in a private namespace'
test_skip 'read-only at start: cannot mount in a private namespace'
fi

test_expect 'a writable disk again: both calls succeed' '
	iaxkeyd_start &&
	grep -q "^\[p4.example_4569_u\]$" "$PEERS" &&
	emu -s outbound -a "IAX2/u:p@p3.example/1" >out &&
	grep -qx "var IAXKEY_STATUS=OK" out &&
	emu -s inbound -a nodeP -a MD5 >out &&
	grep -qx "var IAXKEY_KEY=NEW" out &&
	cmp "$T_DIR/ks/nodeP.pub" "$KEYS/nodeP.pub"
'

test_expect 'clean shutdown' 'iaxkeyd_stop && ks_stop'
test_done
