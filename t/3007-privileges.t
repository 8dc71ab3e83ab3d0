#!/bin/bash
# [daemon] user / group: started as root, iaxkeyd binds, then becomes the
# user with the group that may write Asterisk's directories; root without
# a user is refused.  Needs root (skipped otherwise).
. "$(dirname "$0")/lib/iaxkeyd.sh"

if [ "$(id -u)" != 0 ]; then
	test_skip "needs root to switch users"
	test_done
fi

# nobody and a group nobody is not in: the group is the only way in.
RUN_USER=nobody
RUN_UID=$(id -u $RUN_USER)
for g in staff adm users; do
	RUN_GID=$(getent group $g | cut -d: -f3)
	[ -n "$RUN_GID" ] && ! id -G $RUN_USER | grep -qw "$RUN_GID" && break
	RUN_GID=
done
RUN_GROUP=$(getent group "$RUN_GID" | cut -d: -f1)
PEERS=$T_DIR/ast/iaxkeyd-peers.conf

# Status field $1 of the daemon (Uid:, Gid:, Groups:, CapEff:).
proc_field() {
	sed -n "s/^$1[[:space:]]*//p" "/proc/$IKD_PID/status" | tr -s ' \t' ' '
}

test_expect "a group $RUN_USER is not in" '[ -n "$RUN_GID" ]'

# Everything under $T_DIR is open to the group only; root made the key.
DAEMON_USER=$RUN_USER DAEMON_GROUP=$RUN_GROUP ALLOW_ROOT=no iaxkeyd_conf
test_expect 'the test tree belongs to root and the group, mode 0770' '
	own_key &&
	chgrp -R "$RUN_GROUP" "$T_DIR" &&
	chmod 0770 "$T_DIR" "$T_DIR/ast" "$T_DIR/keys" &&
	[ "$(stat -c %U:%a "$T_DIR/keys/testnode.key")" = root:600 ]
'

test_expect 'started as root, it runs as the user and the group' '
	iaxkeyd_start && wait_log "event=start " &&
	[ "$(proc_field Uid:)" = "$RUN_UID $RUN_UID $RUN_UID $RUN_UID" ] &&
	[ "$(proc_field Gid:)" = "$RUN_GID $RUN_GID $RUN_GID $RUN_GID" ] &&
	grep -q "event=start .*uid=$RUN_UID gid=$RUN_GID" "$T_DIR/daemon.log"
'

test_expect 'no root group, no capabilities; the user groups are kept' '
	groups=" $(proc_field Groups:) " &&
	case "$groups" in *" 0 "*) false ;; esac &&
	case "$groups" in *" $RUN_GID "*) ;; *) false ;; esac &&
	case "$groups" in *" $(id -g $RUN_USER) "*) ;; *) false ;; esac &&
	[ "$(proc_field CapEff:)" = 0000000000000000 ] &&
	[ "$(proc_field CapPrm:)" = 0000000000000000 ]
'

test_expect 'the state store was created by the user' '
	[ "$(stat -c %u:%g "$T_DIR/state.db")" = "$RUN_UID:$RUN_GID" ]
'

test_expect 'outbound: the key it cannot read is checked by its .pub' '
	emu -s outbound -a "IAX2/alice:s3cr3t@node-b.example.net/100" >out &&
	grep -qx "var IAXKEY_STATUS=OK" out &&
	grep -q "^outkey=testnode" "$PEERS"
'

test_expect 'the peers file: written through the group, mode 0640' '
	[ "$(stat -c %u:%g:%a "$PEERS")" = "$RUN_UID:$RUN_GID:640" ] &&
	ast_conf_ok "$PEERS"
'

test_expect 'inbound: a fetched key is installed through the group' '
	ks_start && ks_key nodeA &&
	sed -i "s|^url = .*|url = http://127.0.0.1:$KS_PORT/v1/keys/{node}|" \
	    "$T_DIR/iaxkeyd.conf" &&
	kill -HUP "$IKD_PID" && wait_log "event=config_reload .*status=ok" &&
	emu -s inbound -a nodeA -a MD5 >out &&
	grep -qx "var IAXKEY_KEY=NEW" out &&
	[ "$(stat -c %u:%g "$T_DIR/keys/nodeA.pub")" = "$RUN_UID:$RUN_GID" ]
'

test_expect 'it stops cleanly as the user' 'iaxkeyd_stop'

# The own key check is cached for a second: a fresh daemon sees it first.
test_expect 'the own key unreadable and no .pub beside it: ERROR' '
	mv "$T_DIR/keys/testnode.pub" "$T_DIR/testnode.pub" &&
	iaxkeyd_start &&
	emu -s outbound -a "IAX2/alice:s3cr3t@node-c.example.net/100" >out &&
	grep -qx "var IAXKEY_STATUS=ERROR" out &&
	grep -q "^var IAXKEY_REASON=own key: .*testnode.pub is missing" out &&
	mv "$T_DIR/testnode.pub" "$T_DIR/keys/testnode.pub" &&
	iaxkeyd_stop
'

# Refusals: exit 1 before serving, the reason on stderr.
refused() {
	bounded "$IKD" -d -f "$T_DIR/iaxkeyd.conf" >err 2>&1
	[ $? = 1 ] && grep -q "$1" err && ! grep -q "event=start" err
}

test_expect 'root without a user: refused' '
	DAEMON_USER= ALLOW_ROOT=no iaxkeyd_conf &&
	refused "refusing to run as root: set \[daemon\] user"
'

test_expect 'a user with uid 0: refused' '
	DAEMON_USER=root ALLOW_ROOT=no iaxkeyd_conf &&
	refused "refusing to run as root: \[daemon\] user root has uid 0"
'

test_expect 'an unknown user or group: refused, named' '
	DAEMON_USER=iaxkeyd-no-such-user iaxkeyd_conf &&
	refused "\[daemon\] user iaxkeyd-no-such-user: no such user" &&
	DAEMON_USER=$RUN_USER DAEMON_GROUP=no-such-group iaxkeyd_conf &&
	refused "\[daemon\] group no-such-group: no such group"
'

test_expect 'iaxkeyd -k as root: the pair belongs to the user' '
	DAEMON_USER=$RUN_USER DAEMON_GROUP=$RUN_GROUP ALLOW_ROOT=no \
	    iaxkeyd_conf &&
	sed -i "s/^name = testnode/name = made/" "$T_DIR/iaxkeyd.conf" &&
	"$IKD" -k -f "$T_DIR/iaxkeyd.conf" >out 2>&1 &&
	[ "$(stat -c %u:%g:%a "$T_DIR/keys/made.key")" = "$RUN_UID:$RUN_GID:600" ] &&
	[ "$(stat -c %u:%g:%a "$T_DIR/keys/made.pub")" = "$RUN_UID:$RUN_GID:644" ]
'

test_expect 'iaxkeyd -k as root without a user: refused, no key' '
	DAEMON_USER= ALLOW_ROOT=no iaxkeyd_conf &&
	sed -i "s/^name = testnode/name = other/" "$T_DIR/iaxkeyd.conf" &&
	! "$IKD" -k -f "$T_DIR/iaxkeyd.conf" >err 2>&1 &&
	grep -q "refusing to run as root" err &&
	! [ -e "$T_DIR/keys/other.key" ]
'

test_expect 'allow_root = yes without a user: stays root' '
	DAEMON_USER= ALLOW_ROOT=yes iaxkeyd_conf &&
	iaxkeyd_start && wait_log "event=start .*uid=0 " && iaxkeyd_stop
'

DAEMON_USER=iaxkeyd-no-such-user ALLOW_ROOT=no iaxkeyd_conf
rm -f "$T_DIR/state.db"*
: >"$T_DIR/daemon.log"
setpriv --reuid="$RUN_UID" --regid="$RUN_GID" --clear-groups \
    "$IKD" -d -f "$T_DIR/iaxkeyd.conf" >>"$T_DIR/daemon.log" 2>&1 &
IKD_PID=$!
test_expect 'started as another user, the settings are not needed' '
	wait_log "event=start .*uid=$RUN_UID gid=$RUN_GID" &&
	iaxkeyd_stop
'
test_done
