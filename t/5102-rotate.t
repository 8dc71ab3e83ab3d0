#!/bin/bash
# The node's planned key rotation (docs/console.md, "key rotate") against
# the real iaxkey-server: staging, staged, the switch after rotate_grace
# (files renamed, res_crypto reloaded through the AMI emulator), promote,
# retire; a restart (SIGTERM, start) at each step resumes it and ends in
# the same state; key rotate cancel and key rotate now (at every step,
# the promote landed or not, the replace failing or not starting); a
# staged key unstaged after a refusal; crash leftovers.
# Steps are held by a long rotate_grace or by stopping the key server, and
# released by "reload config" (which retries a failing step at once); the
# test waits on event=key_rotation lines, never on time.
. "$(dirname "$0")/lib/keyserver.sh"

if [ ! -x "$KSRV" ]; then
	echo "1..0 # skip no keyserver/iaxkey-server"
	exit 0
fi

KEY=$T_DIR/keys/testnode.key
PUB=$T_DIR/keys/testnode.pub

# Write iaxkeyd.conf: reload through the AMI emulator, rotate_grace $1,
# [keyserver] extra lines $2 ([node] is the file's last section).
conf() {
	KS_URL="$KSRV_URL/v1/keys/{node}" KEYSERVER_EXTRA="${2:-}" \
	    reload_backend_conf ami &&
	echo "rotate_grace = $1" >>"$T_DIR/iaxkeyd.conf"
}

# Switch to rotate_grace $1 in the running daemon.
grace() {
	conf "$1" && adm "reload config" >"$T_DIR/reload.out" &&
	tail -n 1 "$T_DIR/reload.out" | grep -q "^OK$"
}

# Restart the daemon: SIGTERM (it must exit 0), start again.
restart() {
	iaxkeyd_stop && iaxkeyd_start && admin_port
}

# Wait for event=key_rotation step $1 of the rotation to $NEXT.
step() {
	wait_log "event=key_rotation step=$1 node=testnode fingerprint=$NEXT "
}

# The key server's current key, and its next or previous one ($1), in
# ks.cur / ks.$1 ("404" when there is none); headers in ks.cur.h.
server() {
	[ "$(ks_get "$KSRV_URL/v1/keys/testnode")" = 200 ] &&
	cp "$T_DIR/resp" ks.cur && cp "$T_DIR/resp.h" ks.cur.h &&
	for r in next previous; do
		if [ "$(ks_get "$KSRV_URL/v1/keys/testnode/$r")" = 200 ]; then
			cp "$T_DIR/resp" "ks.$r"
		else
			echo 404 >"ks.$r"
		fi
	done
}

# No leftover of a rotation in key_dir; the pair in use is consistent and
# its private key mode 0600.
settled() {
	[ -z "$(ls "$T_DIR/keys" | grep -E '\.(next|old|new)$')" ] &&
	[ "$(key_fpr "$KEY")" = "$(fingerprint "$PUB")" ] &&
	[ "$(stat -c %a "$KEY")" = 600 ] &&
	adm "key show" >show && grep -q "^  rotation    none$" show &&
	! grep -q "^  next " show
}

test_expect 'key server, AMI emulator, the first key registered' '
	ksrv_conf </dev/null && ksrv_start &&
	sed -i "s/^listen = 127.0.0.1:0\$/listen = 127.0.0.1:$KSRV_PORT/" \
	    "$T_DIR/ksrv.conf" &&
	"$KSRV" -f "$T_DIR/ksrv.conf" token add testnode >tok &&
	ami_start && own_key && conf 3600 "enroll_token = $(cat tok)" &&
	iaxkeyd_start && admin_port &&
	adm "key upload" >out && grep -q "^  http        201$" out &&
	conf 3600 && adm "reload config" >/dev/null &&
	OLD=$(fingerprint "$PUB")
'

if [ "$(ks_get "$KSRV_URL/v1/keys/testnode/next")" != 404 ]; then
	test_skip "iaxkey-server without the rotation routes (GET next)"
	iaxkeyd_stop
	ksrv_stop
	test_done
fi

test_expect 'key rotate: staged at the key server, key show tells it' '
	adm "key rotate" >out && tail -n 1 out | grep -q "^OK$" &&
	NEXT=$(sed -n "s/^  next        //p" out) && [ -n "$NEXT" ] &&
	step staging && step staged &&
	[ "$(key_fpr "$KEY.next")" = "$NEXT" ] &&
	[ "$(fingerprint "$PUB.next")" = "$NEXT" ] &&
	[ "$(stat -c %a "$KEY.next")" = 600 ] &&
	[ "$(key_fpr "$KEY")" = "$OLD" ] &&
	server && cmp ks.cur "$PUB" && cmp ks.next "$PUB.next" &&
	grep -qi "^X-Iaxkey-Next: $NEXT" ks.cur.h &&
	adm "key show" >show &&
	grep -q "^  fingerprint $OLD$" show &&
	grep -q "^  next        $NEXT (staged" show &&
	grep -q "^  rotation    staged $NEXT at [0-9T:-]*Z, switch at [0-9T:-]*Z$" show &&
	grep -q "^  grace       3600 s" show
'

test_expect 'while staged, outbound announces the next key: IAXVAR(keynext)' '
	emu -s outbound -a "IAX2/u:p@p1.example/1" >out &&
	grep -qx "var IAXVAR(node)=testnode" out &&
	grep -qx "var IAXVAR(keynext)=$NEXT" out
'

test_expect 'a second key rotate is refused while one runs' '
	adm "key rotate" >out &&
	grep -q "^ERR a rotation is running (step staged)" out
'

test_expect 'a restart while staged keeps the step and the files' '
	cp "$KEY.next" k.next && restart &&
	adm "key show" >show2 &&
	grep "^  rotation" show >a && grep "^  rotation" show2 >b && cmp a b &&
	cmp "$KEY.next" k.next && [ "$(key_fpr "$KEY")" = "$OLD" ]
'

test_expect 'after rotate_grace: switch, res_crypto reload, promote, retire' '
	: >"$T_DIR/ami.reloads" && grace 1 &&
	step switched && step promoted && step retired &&
	[ "$(key_fpr "$KEY")" = "$NEXT" ] && settled &&
	grep -qx "reload res_crypto.so" "$T_DIR/ami.reloads" &&
	server && cmp ks.cur "$PUB" && [ "$(cat ks.next)" = 404 ] &&
	[ "$(cat ks.previous)" = 404 ] &&
	! grep -qi "^X-Iaxkey-" ks.cur.h &&
	emu -s outbound -a "IAX2/u:p@p1.example/1" >out &&
	grep -qx "var IAXVAR(node)=testnode" out && ! grep -q keynext out
'

test_expect 'while staging (key server down) no hint is sent; a restart resumes' '
	OLD=$NEXT && grace 3600 && ksrv_stop &&
	adm "key rotate" >out && NEXT=$(sed -n "s/^  next        //p" out) &&
	step staging && step failed &&
	adm "key show" >show &&
	grep -q "^  rotation    staging $NEXT (attempt [0-9]*, last: key server: " show &&
	emu -s outbound -a "IAX2/u:p@p1.example/1" >out &&
	grep -qx "var IAXVAR(node)=testnode" out && ! grep -q keynext out &&
	restart && ksrv_start && adm "reload config" >/dev/null &&
	step staged && server && cmp ks.next "$PUB.next"
'

test_expect 'switch with the key server down: promote retried; cancel refused' '
	ksrv_stop && grace 1 && step switched && step failed &&
	[ "$(key_fpr "$KEY")" = "$NEXT" ] &&
	[ "$(key_fpr "$KEY.old")" = "$OLD" ] &&
	[ "$(stat -c %a "$KEY.old")" = 600 ] &&
	adm "key show" "key rotate cancel" >show &&
	grep -q "^  rotation    switched, promoting (attempt [0-9]*, last: key server: " show &&
	! grep -q "^  next " show &&
	grep -q "^ERR .*use key rotate now" show
'

test_expect 'a restart while promoting resumes: promoted' '
	conf 3600 && restart && step failed &&
	ksrv_start && adm "reload config" >/dev/null && step promoted &&
	server && cmp ks.cur "$PUB" && [ "$(cat ks.next)" = 404 ] &&
	[ "$(fingerprint ks.previous)" = "$OLD" ] &&
	adm "key show" >show &&
	grep -q "^  rotation    promoted at [0-9T:-]*Z, retire at [0-9T:-]*Z$" show
'

test_expect 'a restart while promoted, then while retiring: retired' '
	restart && adm "key show" >show &&
	grep -q "^  rotation    promoted at " show &&
	ksrv_stop && grace 1 && step failed &&
	restart && step failed &&
	ksrv_start && adm "reload config" >/dev/null && step retired &&
	settled && server && cmp ks.cur "$PUB" &&
	[ "$(cat ks.previous)" = 404 ] && [ "$(cat ks.next)" = 404 ]
'

test_expect 'a crash in the middle of the switch is finished at the start' '
	OLD=$NEXT && grace 3600 && adm "key rotate" >out &&
	NEXT=$(sed -n "s/^  next        //p" out) && step staged &&
	iaxkeyd_stop &&
	cp -p "$KEY" "$KEY.old" && cp -p "$PUB" "$PUB.old" &&
	mv "$KEY.next" "$KEY" &&
	iaxkeyd_start && admin_port &&
	wait_log "step=switched .*reason=\"switch finished after a restart\"" &&
	step promoted &&
	[ "$(fingerprint "$PUB")" = "$NEXT" ] && [ ! -e "$PUB.next" ] &&
	server && cmp ks.cur "$PUB" && [ "$(fingerprint ks.previous)" = "$OLD" ]
'

test_expect 'key rotate now while promoted: replaced, previous dropped' '
	adm "key rotate now" >out && tail -n 1 out | grep -q "^OK$" &&
	grep -q "^  rotation    planned rotation ended; the pair in use signs the replace$" out &&
	step cancelled && settled &&
	NOW=$(fingerprint "$PUB") && [ "$NOW" != "$NEXT" ] &&
	server && cmp ks.cur "$PUB" && [ "$(cat ks.previous)" = 404 ]
'

test_expect 'key rotate cancel before the switch: unstaged at the server' '
	OLD=$NOW && adm "key rotate" >out &&
	NEXT=$(sed -n "s/^  next        //p" out) && step staged &&
	adm "key rotate cancel" >out && tail -n 1 out | grep -q "^OK$" &&
	grep -q "^  unstage     key server: next key unstaged$" out &&
	step cancelled && settled && [ "$(key_fpr "$KEY")" = "$OLD" ] &&
	server && [ "$(cat ks.next)" = 404 ] && cmp ks.cur "$PUB" &&
	adm "key rotate cancel" >out &&
	grep -q "^ERR no rotation is running$" out
'

test_expect 'key rotate now while staged: replaced, next dropped' '
	adm "key rotate" >out &&
	NEXT=$(sed -n "s/^  next        //p" out) && step staged &&
	adm "key rotate now" >out && tail -n 1 out | grep -q "^OK$" &&
	step cancelled && settled &&
	NOW=$(fingerprint "$PUB") && [ "$NOW" != "$NEXT" ] &&
	[ "$NOW" != "$OLD" ] &&
	server && cmp ks.cur "$PUB" && [ "$(cat ks.next)" = 404 ] &&
	grep -q "event=key_upload .*op=rotate result=ok .*fingerprint=$NOW old=$OLD" \
	    "$T_DIR/daemon.log"
'

test_expect 'key rotate now while promoting (server down): the new pair stays' '
	OLD=$NOW && adm "key rotate" >out &&
	NEXT=$(sed -n "s/^  next        //p" out) && step staged &&
	ksrv_stop && grace 1 && step switched && step failed &&
	: >"$T_DIR/ami.reloads" &&
	adm "key rotate now" >out &&
	grep -q "^  rotation    planned rotation ended; the pair in use signs the replace$" out &&
	grep -q "^ERR rotate failed: key server: " out &&
	step cancelled && settled && [ "$(key_fpr "$KEY")" = "$NEXT" ] &&
	[ ! -s "$T_DIR/ami.reloads" ] &&
	conf 3600 && ksrv_start && adm "reload config" >/dev/null &&
	server && [ "$(fingerprint ks.cur)" = "$OLD" ] && cmp ks.next "$PUB" &&
	adm "key rotate now" >out && tail -n 1 out | grep -q "^OK$" &&
	NOW=$(fingerprint "$PUB") && [ "$NOW" != "$NEXT" ] && settled &&
	server && cmp ks.cur "$PUB" && [ "$(cat ks.next)" = 404 ] &&
	grep -q "action=replace auth=key+next old=$OLD new=$NOW " \
	    "$T_DIR/store/audit.log"
'

# Start a rotation and hold it at switched with the key server up: a
# stranger's key stands in for .key.old, so the key server refuses the
# promote (403) and the node keeps retrying it.  The real old private key
# is kept as $T_DIR/old.key, the new one as $T_DIR/new.key (for ks_req).
held_switched() {
	OLD=$NOW && adm "key rotate" >out &&
	NEXT=$(sed -n "s/^  next        //p" out) && step staged &&
	ksrv_stop && grace 1 && step switched && step failed &&
	cp -p "$KEY.old" "$T_DIR/old.key" && cp -p "$KEY" "$T_DIR/new.key" &&
	own_key other && mv "$T_DIR/keys/other.key" "$KEY.old" &&
	rm "$T_DIR/keys/other.pub" &&
	conf 3600 && ksrv_start && adm "reload config" >/dev/null &&
	wait_log "event=key_rotation step=failed node=testnode fingerprint=$NEXT .*HTTP 403"
}

test_expect 'key rotate now while switched, the promote landed unseen: replaced' '
	held_switched &&
	[ "$(ks_req PUT testnode "$PUB" new old)" = 200 ] &&
	server && cmp ks.cur "$PUB" && [ "$(fingerprint ks.previous)" = "$OLD" ] &&
	adm "key show" >show && grep -q "^  rotation    switched, promoting" show &&
	adm "key rotate now" >out && tail -n 1 out | grep -q "^OK$" &&
	grep -q "^  rotation    planned rotation ended; the pair in use signs the replace$" out &&
	step cancelled && settled &&
	NOW=$(fingerprint "$PUB") && [ "$NOW" != "$NEXT" ] && [ "$NOW" != "$OLD" ] &&
	server && cmp ks.cur "$PUB" && [ "$(cat ks.next)" = 404 ] &&
	[ "$(cat ks.previous)" = 404 ] &&
	grep -q "action=replace auth=key+current old=$NEXT new=$NOW " \
	    "$T_DIR/store/audit.log"
'

test_expect 'key rotate now while switched, the promote not landed: replaced' '
	held_switched &&
	server && [ "$(fingerprint ks.cur)" = "$OLD" ] && cmp ks.next "$PUB" &&
	adm "key rotate now" >out && tail -n 1 out | grep -q "^OK$" &&
	step cancelled && settled &&
	NOW=$(fingerprint "$PUB") && [ "$NOW" != "$NEXT" ] && [ "$NOW" != "$OLD" ] &&
	server && cmp ks.cur "$PUB" && [ "$(cat ks.next)" = 404 ] &&
	[ "$(cat ks.previous)" = 404 ] &&
	grep -q "action=replace auth=key+next old=$OLD new=$NOW " \
	    "$T_DIR/store/audit.log" &&
	grep -q "action=revoke auth=key+next old=$NEXT new=- " \
	    "$T_DIR/store/audit.log"
'

test_expect 'key rotate now that cannot start leaves the rotation as it was' '
	OLD=$NOW && adm "key rotate" >out &&
	NEXT=$(sed -n "s/^  next        //p" out) && step staged &&
	cp -p "$KEY.next" k.next && : >"$KEY.new" &&
	adm "key rotate now" >out &&
	grep -q "^ERR .*testnode.key.new is left over from an interrupted rotation" out &&
	! grep -q "planned rotation ended" out &&
	adm "key show" >show && grep -q "^  rotation    staged $NEXT at " show &&
	cmp "$KEY.next" k.next && [ "$(key_fpr "$KEY")" = "$OLD" ] &&
	server && cmp ks.next "$PUB.next" &&
	rm "$KEY.new" && adm "key rotate cancel" >out &&
	tail -n 1 out | grep -q "^OK$" && settled
'

test_expect 'key rotate now while staged, the replace failing: unstage tried' '
	adm "key rotate" >out &&
	NEXT=$(sed -n "s/^  next        //p" out) && step staged &&
	ksrv_stop && adm "key rotate now" >out &&
	grep -q "^ERR rotate failed: key server: " out &&
	step cancelled && settled && [ "$(key_fpr "$KEY")" = "$OLD" ] &&
	wait_log "own key: key rotate now failed: the key server may still stage the next key" &&
	ksrv_start && server && [ "$(fingerprint ks.next)" = "$NEXT" ] &&
	cp -p "$KEY" "$T_DIR/cur.key" &&
	[ "$(ks_req DELETE testnode/next /dev/null cur)" = 200 ]
'

test_expect 'a refusal while staging after a failed try: the next key is unstaged' '
	conf 3600 "upload_url = http://127.0.0.1:1/v1/keys/{node}" &&
	adm "reload config" >/dev/null &&
	adm "key rotate" >out && NEXT=$(sed -n "s/^  next        //p" out) &&
	step staging && step failed &&
	cp -p "$KEY.next" "$T_DIR/nx.key" && cp -p "$KEY" "$T_DIR/cur.key" &&
	[ "$(ks_req PUT testnode/next "$PUB.next" nx cur)" = 201 ] &&
	server && cmp ks.next "$PUB.next" &&
	own_key other && mv "$T_DIR/keys/other.key" "$KEY.next" &&
	rm "$T_DIR/keys/other.pub" &&
	conf 3600 && adm "reload config" >/dev/null &&
	step rolled_back &&
	wait_log "own key: staging refused: key server: next key unstaged" &&
	server && [ "$(cat ks.next)" = 404 ] && settled &&
	[ "$(key_fpr "$KEY")" = "$OLD" ]
'

test_expect 'a refusal while staging rolls back' '
	grace 3600 && conf 3600 "upload_url = $KSRV_URL/v1/keys/x{node}" &&
	adm "reload config" >/dev/null &&
	adm "key rotate" >out && NEXT=$(sed -n "s/^  next        //p" out) &&
	step rolled_back && settled && [ "$(key_fpr "$KEY")" = "$OLD" ] &&
	grace 3600
'

test_expect '.next files without a rotation are removed at the start' '
	iaxkeyd_stop && cp -p "$KEY" k.cur &&
	own_key other && mv "$T_DIR/keys/other.key" "$KEY.next" &&
	mv "$T_DIR/keys/other.pub" "$PUB.next" &&
	iaxkeyd_start && admin_port &&
	wait_log "event=key_rotation step=rolled_back .*reason=\".next files without a rotation\"" &&
	settled && cmp "$KEY" k.cur
'

test_expect 'a rotation row without its files rolls back at the start' '
	adm "key rotate" >out &&
	NEXT=$(sed -n "s/^  next        //p" out) && step staged &&
	iaxkeyd_stop && rm "$KEY.next" "$PUB.next" &&
	iaxkeyd_start && admin_port && step rolled_back &&
	settled && cmp "$KEY" k.cur &&
	adm "key upload" >out && grep -q "^  http        200$" out
'

test_expect 'a retire answered 404 (done before) ends the rotation' '
	adm "key rotate" >out &&
	NEXT=$(sed -n "s/^  next        //p" out) && step staged &&
	ksrv_stop && grace 1 && step switched && step failed &&
	conf 3600 && ksrv_start && adm "reload config" >/dev/null &&
	step promoted && cp "$KEY" "$T_DIR/cur.key" &&
	[ "$(ks_req DELETE testnode/previous /dev/null cur)" = 200 ] &&
	grace 1 && step retired && settled &&
	[ "$(key_fpr "$KEY")" = "$NEXT" ] &&
	server && cmp ks.cur "$PUB" && [ "$(cat ks.previous)" = 404 ]
'

test_expect 'no signature or private key in the logs' '
	! grep -qi "signature:" "$T_DIR/daemon.log" &&
	! grep -q "PRIVATE" "$T_DIR/daemon.log"
'

test_expect 'daemon, key server and emulator stop cleanly' '
	iaxkeyd_stop && ksrv_stop && ami_stop
'

test_done
