#!/bin/bash
# inbound: inkeys layouts and the shared line limit, changed keys,
# fallback_context steering, key server down, periodic sync.
. "$(dirname "$0")/lib/iaxkeyd.sh"

USERS=$T_DIR/ast/iaxkeyd-users.conf
test_expect 'key server stub' 'ks_start'
KS_URL="http://127.0.0.1:$KS_PORT/v1/keys/{node}"
MAX_SESSIONS=1000
INBOUND_EXTRA="on_key_change = reject
fallback_context = from-net-fallback,s,1"
iaxkeyd_conf
test_expect 'daemon' 'own_key && iaxkeyd_start'

test_expect 'fallback_context: the dialplan continues there' '
	ks_key nodeA &&
	emu -s inbound -a nodeA -a MD5 >out &&
	grep -qx "var IAXKEY_STATUS=FALLBACK" out &&
	grep -qx "context from-net-fallback" out &&
	grep -qx "extension s" out &&
	grep -qx "priority 1" out
'

test_expect 'a changed key with on_key_change = reject: FAILED, old kept' '
	cp "$T_DIR/keys/nodeA.pub" old.pub &&
	ks_key nodeA &&
	emu -s inbound -a nodeA -a MD5 >out &&
	grep -qx "var IAXKEY_KEY=FAILED" out &&
	grep -q "^var IAXKEY_REASON=key changed (sha256:" out &&
	cmp old.pub "$T_DIR/keys/nodeA.pub" &&
	wait_log "event=key_changed node=nodeA old=sha256:[0-9a-f]{64} new=$(fingerprint "$T_DIR/ks/nodeA.pub") action=rejected"
'

test_expect 'with on_key_change = accept: UPDATED, res_crypto reloaded' '
	sed -i "s/^on_key_change = reject/on_key_change = accept/" "$T_DIR/iaxkeyd.conf" &&
	kill -HUP $IKD_PID && wait_log "event=config_reload .*status=ok" &&
	emu -L "$T_DIR/reloads" -s inbound -a nodeA -a MD5 >out &&
	grep -qx "var IAXKEY_KEY=UPDATED" out &&
	cmp "$T_DIR/ks/nodeA.pub" "$T_DIR/keys/nodeA.pub" &&
	grep -q "^reload res_crypto " "$T_DIR/reloads"
'

test_expect 'key server down: FAILED, steered to the fallback' '
	ks_stop &&
	emu -s inbound -a nodeDown -a MD5 >out &&
	grep -qx "var IAXKEY_STATUS=FALLBACK" out &&
	grep -qx "var IAXKEY_KEY=FAILED" out &&
	grep -q "^var IAXKEY_REASON=key server: " out &&
	[ ! -e "$T_DIR/keys/nodeDown.pub" ]
'

test_expect 'a body that never ends: FAILED at timeout_ms' '
	ks_start && iaxkeyd_stop &&
	KS_URL="http://127.0.0.1:$KS_PORT/v1/keys/{node}" KS_TIMEOUT_MS=300 iaxkeyd_conf &&
	iaxkeyd_start &&
	echo endless >"$T_DIR/ks/nodeE.behave" &&
	emu -s inbound -a nodeE -a MD5 >out &&
	grep -qx "var IAXKEY_KEY=FAILED" out &&
	[ ! -e "$T_DIR/keys/nodeE.pub" ]
'

test_expect 'shared inkeys: the add that would pass 8190 characters is refused' '
	iaxkeyd_stop &&
	KS_URL="http://127.0.0.1:$KS_PORT/v1/keys/{node}" INBOUND_EXTRA="key_prefix = kp-
unknown_fetches = 1000" iaxkeyd_conf &&
	iaxkeyd_start &&
	long=$(printf "%060d" 0 | tr 0 n) &&
	ks_key base &&
	for i in $(seq 0 139); do cp "$T_DIR/ks/base.pub" "$T_DIR/ks/$long$i.pub"; done &&
	emu -n 140 -P 8 -s inbound -a "$long%d" -a MD5 >out &&
	line=$(sed -n "s/^inkeys=//p" "$USERS") &&
	echo "line length: ${#line}" &&
	[ "${#line}" -le 8190 ] &&
	[ "$(grep -c "^var IAXKEY_REASON=inkeys line would exceed 8190 characters" out)" -ge 1 ] &&
	n=$(echo "$line" | tr : "\n" | grep -c "^kp-n") && echo "keys: $n" &&
	[ "$(ls "$T_DIR/keys" | grep -c "^kp-n")" = "$n" ] &&
	ast_conf_ok "$USERS"
'

test_expect 'per-node inkeys: one user section per caller, one key each' '
	iaxkeyd_stop && rm -f "$T_DIR/state.db"* &&
	KS_URL="http://127.0.0.1:$KS_PORT/v1/keys/{node}" INBOUND_EXTRA="inkeys = per-node
template = net-tpl" iaxkeyd_conf &&
	iaxkeyd_start &&
	ks_key nodeP &&
	emu -s inbound -a nodeP -a MD5 >out &&
	grep -qx "var IAXKEY_KEY=NEW" out &&
	sed -n "/^\[nodeP\]/,/^$/p" "$USERS" >sec &&
	test_cmp sec <<-EOF2
	[nodeP](net-tpl)
	inkeys=nodeP
	EOF2
	ast_conf_ok "$USERS"
'

test_expect 'periodic sync installs only what changed, one reload' '
	iaxkeyd_stop && rm -f "$T_DIR/state.db"* "$T_DIR/ks/"* "$T_DIR/keys/"*.pub &&
	ks_key s1 && ks_key s2 && ks_key s3 &&
	INBOUND_EXTRA= RELOAD_BACKEND=none KS_URL="http://127.0.0.1:$KS_PORT/v1/keys/{node}" \
	    KEYSERVER_EXTRA="sync_interval = 1
sync_jitter_s = 0" iaxkeyd_conf &&
	iaxkeyd_start &&
	wait_log "event=sync result=ok listed=3 fetch=3" &&
	wait_count "event=key_installed node=s[123] .*result=NEW" 3 &&
	wait_log "event=reload backend=none modules=chan_iax2,res_crypto .*result=ok" &&
	wait_file "^inkeys=s1:s2:s3$" "$USERS" &&
	ks_key s2 &&
	wait_log "event=key_installed node=s2 .*result=UPDATED" &&
	[ "$(ks_count s1)" = 1 ] && [ "$(ks_count s3)" = 1 ] &&
	[ "$(ks_count s2)" = 2 ] &&
	cmp "$T_DIR/ks/s2.pub" "$T_DIR/keys/s2.pub"
'

test_expect 'sync_remove: a key the index no longer lists is removed' '
	iaxkeyd_stop &&
	INBOUND_EXTRA= RELOAD_BACKEND=none KS_URL="http://127.0.0.1:$KS_PORT/v1/keys/{node}" \
	    KEYSERVER_EXTRA="sync_interval = 1
sync_jitter_s = 0
sync_remove = yes" iaxkeyd_conf &&
	iaxkeyd_start &&
	rm "$T_DIR/ks/s3.pub" &&
	wait_log "event=sync result=ok listed=2 fetch=0 removed=1" &&
	[ ! -e "$T_DIR/keys/s3.pub" ] &&
	wait_file "^inkeys=s1:s2$" "$USERS"
'

test_expect 'ENOSPC writing a key: FAILED, nothing installed, files kept' '
	iaxkeyd_stop &&
	cp "$USERS" users.before &&
	KS_URL="http://127.0.0.1:$KS_PORT/v1/keys/{node}" INBOUND_EXTRA= iaxkeyd_conf &&
	IAXKEYD_FAULT_WRITE=enospc IAXKEYD_FAULT_PATH=nodeFull.pub iaxkeyd_start &&
	ks_key nodeFull &&
	emu -s inbound -a nodeFull -a MD5 >out &&
	grep -qx "var IAXKEY_STATUS=FALLBACK" out &&
	grep -qx "var IAXKEY_KEY=FAILED" out &&
	grep -q "^var IAXKEY_REASON=.*No space left on device" out &&
	[ ! -e "$T_DIR/keys/nodeFull.pub" ] &&
	! ls -a "$T_DIR/keys" | grep -q "^\.nodeFull" &&
	cmp users.before "$USERS"
'

test_expect 'clean shutdown' 'iaxkeyd_stop'
test_done
