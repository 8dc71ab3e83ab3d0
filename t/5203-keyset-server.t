#!/bin/bash
# A callee's key set against the real iaxkey-server (issue 14): a staged
# next key is installed beside the current one; the promotion renames
# nothing; the retired key goes; an emergency replace is learnt by the one
# fallback call that follows (stale refetch); the periodic sync reads the
# server's extended index.  Keys are staged, promoted, retired and
# replaced with signed requests (t/lib/keyserver.sh).
. "$(dirname "$0")/lib/keyserver.sh"

if [ ! -x "$KSRV" ]; then
	echo "1..0 # skip no keyserver/iaxkey-server"
	exit 0
fi

KEYS=$T_DIR/keys
USERS=$T_DIR/ast/iaxkeyd-users.conf
DB=$T_DIR/state.db

# One MD5 call from nodeA; its transcript in out.
md5_call() {
	emu -s inbound -a nodeA -a MD5 >out
}

# The held keys of nodeA as "slot|role|fingerprint" lines.
held() {
	sqlite3 "$DB" "SELECT slot, role, fingerprint FROM keyslots WHERE node = 'nodeA' ORDER BY slot"
}

test_expect 'key server, nodeA registered with key a, b staged' '
	ksrv_conf && ksrv_start &&
	for k in a b c d; do mkkey $k || return 1; done &&
	Fa=$(fingerprint a.pub) && Fb=$(fingerprint b.pub) &&
	Fc=$(fingerprint c.pub) && Fd=$(fingerprint d.pub) &&
	TOK=$("$KSRV" -f "$T_DIR/ksrv.conf" token add nodeA) &&
	[ "$(TOKEN=$TOK ks_req PUT nodeA a.pub a)" = 201 ] &&
	[ "$(ks_req PUT nodeA/next b.pub b a)" = 201 ]
'

test_expect 'daemon' '
	KS_URL="$KSRV_URL/v1/keys/{node}" MIN_REFETCH_S=600 \
	    INBOUND_EXTRA="stale_refetch_s = 3600" iaxkeyd_conf </dev/null &&
	own_key && iaxkeyd_start && admin_port
'

test_expect 'a call learns the current and the staged next key' '
	md5_call && grep -qx "var IAXKEY_KEY=NEW" out &&
	grep -qx "var IAXKEY_FINGERPRINT=$Fa" out &&
	cmp a.pub "$KEYS/nodeA.pub" && cmp b.pub "$KEYS/_1_nodeA.pub" &&
	grep -qx "inkeys=nodeA:_1_nodeA" "$USERS" &&
	[ "$(held)" = "0|current|$Fa
1|next|$Fb" ]
'

test_expect 'promote at the key server: roles follow, no file changes' '
	[ "$(ks_req PUT nodeA b.pub b a)" = 200 ] &&
	cp "$USERS" users.before &&
	adm "fetch nodeA" >out && grep -qx "  result      UPDATED" out &&
	cmp a.pub "$KEYS/nodeA.pub" && cmp b.pub "$KEYS/_1_nodeA.pub" &&
	cmp users.before "$USERS" &&
	[ "$(held)" = "0|previous|$Fa
1|current|$Fb" ]
'

test_expect 'retire at the key server: the previous key goes' '
	[ "$(ks_req DELETE nodeA/previous /dev/null b)" = 200 ] &&
	adm "fetch nodeA" >out && grep -qx "  result      UPDATED" out &&
	[ ! -e "$KEYS/nodeA.pub" ] && grep -qx "inkeys=_1_nodeA" "$USERS" &&
	[ "$(held)" = "1|current|$Fb" ]
'

test_expect 'emergency replace: the next fallback call learns it at once' '
	[ "$(ks_req PUT nodeA c.pub c b)" = 200 ] &&
	md5_call && grep -qx "var IAXKEY_KEY=UPDATED" out &&
	grep -qx "var IAXKEY_FINGERPRINT=$Fc" out &&
	cmp c.pub "$KEYS/nodeA.pub" && [ ! -e "$KEYS/_1_nodeA.pub" ] &&
	grep -qx "inkeys=nodeA" "$USERS" &&
	wait_log "event=key_fetch node=nodeA source=stale .*result=UPDATED .*keys=1 " &&
	wait_log "event=key_dropped node=nodeA name=_1_nodeA slot=1 role=current fingerprint=$Fb"
'

test_expect 'sync: a key staged at the server is installed from the index' '
	[ "$(ks_req PUT nodeA/next d.pub d c)" = 201 ] &&
	iaxkeyd_stop &&
	KS_URL="$KSRV_URL/v1/keys/{node}" MIN_REFETCH_S=600 \
	    KEYSERVER_EXTRA="sync_interval = 1
sync_jitter_s = 0" RELOAD_BACKEND=none iaxkeyd_conf </dev/null &&
	iaxkeyd_start &&
	wait_log "event=key_fetch node=nodeA source=sync .*result=UPDATED .*keys=2 " &&
	cmp d.pub "$KEYS/_1_nodeA.pub" &&
	[ "$(held)" = "0|current|$Fc
1|next|$Fd" ]
'

test_expect 'daemon and key server stop cleanly' 'iaxkeyd_stop && ksrv_stop'

test_done
