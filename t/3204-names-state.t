#!/bin/bash
# Names and state (issue 13): names a caller may not take (this node's
# own, keys iaxkeyd did not install, sections iax.conf already uses), the
# bounded and expiring state about unknown callers and their fetch budget,
# the state database's mode, iaxkeyd -n on http:// URLs, and what
# IAXKEY_KEY says for a current key and after forget.
. "$(dirname "$0")/lib/iaxkeyd.sh"

KEYS=$T_DIR/keys
USERS=$T_DIR/ast/iaxkeyd-users.conf
DB=$T_DIR/state.db

# One MD5 call from node $1; its IAXKEY_* variables in out.
md5_call() {
	emu -s inbound -a "$1" -a MD5 >out
}

# The last call was refused for a reserved name ($1: the reason's tail).
refused() {
	grep -qx "var IAXKEY_STATUS=FALLBACK" out &&
	grep -qx "var IAXKEY_KEY=FAILED" out &&
	grep -qx "var IAXKEY_REASON=reserved name: $1" out
}

# Each of the files $@ has mode 0600.
private() {
	for f in "$@"; do
		echo "$f $(stat -c %a "$f")"
		[ "$(stat -c %a "$f")" = 600 ] || return 1
	done
}

# A call from each node $@ is refused: its name is an iax.conf section.
sections_refused() {
	for n in "$@"; do
		ks_key "$n" && md5_call "$n" || return 1
		refused "a section iax.conf already uses" ||
		    { echo "$n not refused"; cat out; return 1; }
		[ ! -e "$KEYS/$n.pub" ] || { echo "$n.pub written"; return 1; }
	done
}

# Rows in the store.
rows() {
	sqlite3 "$DB" "$1"
}

test_expect 'key server stub' 'ks_start'
KS_URL="http://127.0.0.1:$KS_PORT/v1/keys/{node}"

test_expect 'iaxkeyd -n refuses an http:// key server without allow_http' '
	iaxkeyd_conf &&
	sed -i "s/^allow_http = yes/allow_http = no/" "$T_DIR/iaxkeyd.conf" &&
	{ "$IKD" -n -f "$T_DIR/iaxkeyd.conf" >n.out 2>&1; rc=$?; } ;
	cat n.out && [ "$rc" = 1 ] &&
	grep -q "keyserver:url: URL 1: plain http:// needs keyserver:allow_http = yes" n.out &&
	! grep -q "configuration OK" n.out &&
	: >"$T_DIR/daemon.log" &&
	{ bounded "$IKD" -d -f "$T_DIR/iaxkeyd.conf" >>"$T_DIR/daemon.log" 2>&1; rc=$?; } ;
	[ "$rc" = 1 ] && grep -q "allow_http = yes" "$T_DIR/daemon.log" &&
	iaxkeyd_conf && "$IKD" -n -f "$T_DIR/iaxkeyd.conf" >n.out 2>&1 &&
	grep -qx "configuration OK" n.out
'

test_expect 'the state database and its -wal and -shm are 0600 under umask 022' '
	iaxkeyd_conf && umask 022 && own_key && iaxkeyd_start &&
	ks_key nodeA && md5_call nodeA && grep -qx "var IAXKEY_KEY=NEW" out &&
	private "$DB" "$DB-wal" "$DB-shm" &&
	iaxkeyd_stop &&
	chmod 644 "$DB" && iaxkeyd_start && [ "$(stat -c %a "$DB")" = 600 ]
'

test_expect 'a caller naming itself as this node: refused, own key kept' '
	cp "$KEYS/testnode.pub" own.pub &&
	ks_key testnode &&
	md5_call testnode && refused "this node'"'"'s own name" &&
	cmp own.pub "$KEYS/testnode.pub" &&
	[ "$(ks_count testnode)" = 0 ] &&
	! grep -q "testnode" "$USERS" &&
	wait_log "event=key_refused node=testnode source=inbound reason=\"reserved name: this node" &&
	[ -z "$(rows "SELECT node FROM keys WHERE node = '"'"'testnode'"'"'")" ]
'

test_expect 'forget key of this node: refused, the key stays' '
	admin_port && adm "forget key testnode" >out &&
	grep -qx "ERR testnode is this node'"'"'s own name" out &&
	cmp own.pub "$KEYS/testnode.pub"
'

test_expect 'a key in key_dir iaxkeyd did not install: refused, no key_changed' '
	openssl genrsa 1024 2>/dev/null | openssl rsa -pubout -out "$KEYS/trunk.pub" 2>/dev/null &&
	cp "$KEYS/trunk.pub" trunk.before &&
	ks_key trunk &&
	md5_call trunk && refused "a key in key_dir that iaxkeyd did not install" &&
	cmp trunk.before "$KEYS/trunk.pub" &&
	[ "$(count_log "event=key_changed")" = 0 ] &&
	[ "$(ks_count trunk)" = 0 ]
'

test_expect 'periodic sync refuses the same names, installs the others' '
	iaxkeyd_stop &&
	ks_key nodeS &&
	KEYSERVER_EXTRA="sync_interval = 1
sync_jitter_s = 0" iaxkeyd_conf && iaxkeyd_start &&
	wait_log "event=key_refused node=testnode source=sync " &&
	wait_log "event=key_refused node=trunk source=sync " &&
	wait_log "event=key_installed node=nodeS " &&
	cmp own.pub "$KEYS/testnode.pub" && cmp trunk.before "$KEYS/trunk.pub" &&
	[ "$(ks_count testnode)" = 0 ] && [ "$(ks_count trunk)" = 0 ] &&
	iaxkeyd_stop && rm -f "$T_DIR/ks/nodeS.pub"
'

# Per-node sections: iax.conf with the operator's own sections, one of
# them in a file it includes, and the users file iaxkeyd renders.
test_expect 'per-node: section names Asterisk or the operator uses are refused' '
	printf "[general]\nbindport=4569\n\n[iaxkeyd-template](!)\ntype=user\n\n[peer-b]\ntype=peer\n#include \"iax-local.conf\"\n#include iaxkeyd-users.conf\n" \
	    >"$T_DIR/ast/iax.conf" &&
	printf "[ local-b ]\n[local-c]\ntype=friend\n" >"$T_DIR/ast/iax-local.conf" &&
	INBOUND_EXTRA="inkeys = per-node" iaxkeyd_conf && iaxkeyd_start &&
	sections_refused general GENERAL iaxkeyd iaxkeyd-template peer-b local-c &&
	! grep -E "^\[(general|GENERAL|iaxkeyd|iaxkeyd-template|peer-b|local-c)\]" "$USERS" &&
	ks_key nodeP && md5_call nodeP && grep -qx "var IAXKEY_KEY=NEW" out &&
	grep -qx "\[nodeP\](iaxkeyd-template)" "$USERS" &&
	ks_key nodeP && md5_call nodeP && grep -qx "var IAXKEY_KEY=UPDATED" out &&
	ast_conf_ok "$USERS" && iaxkeyd_stop
'

# (stale_refetch_s = 0: without it a fallback call from a known node
# refetches at once, t/3206-keysets.t.)
test_expect 'a current key says UNCHANGED within min_refetch_s, not RATE_LIMITED' '
	MIN_REFETCH_S=600 INBOUND_EXTRA="stale_refetch_s = 0" iaxkeyd_conf &&
	iaxkeyd_start &&
	ks_key nodeR && md5_call nodeR && grep -qx "var IAXKEY_KEY=NEW" out &&
	md5_call nodeR && grep -qx "var IAXKEY_KEY=UNCHANGED" out &&
	grep -qx "var IAXKEY_FINGERPRINT=$(fingerprint "$KEYS/nodeR.pub")" out &&
	[ "$(ks_count nodeR)" = 1 ]
'

test_expect 'forget key forgets the rate limit too: the next call fetches' '
	admin_port && adm "forget key nodeR" >out && [ "$(finals out)" = OK ] &&
	[ ! -e "$KEYS/nodeR.pub" ] &&
	md5_call nodeR && grep -qx "var IAXKEY_KEY=NEW" out &&
	[ "$(ks_count nodeR)" = 2 ] && [ -e "$KEYS/nodeR.pub" ]
'

test_expect 'a key server failure (HTTP 429) does not hold the node for min_refetch_s' '
	ks_key nodeQ && echo "status 429" >"$T_DIR/ks/nodeQ.behave" &&
	md5_call nodeQ && grep -qx "var IAXKEY_KEY=FAILED" out &&
	grep -qx "var IAXKEY_REASON=key server: HTTP 429" out &&
	rm "$T_DIR/ks/nodeQ.behave" &&
	md5_call nodeQ && grep -qx "var IAXKEY_KEY=NEW" out &&
	[ "$(ks_count nodeQ)" = 2 ] && iaxkeyd_stop
'

# 40 calls from invented names (none on the key server): at most
# max_unknown rows each in callers and keys, at most unknown_fetches key
# server requests for them, and a known node still gets its fetch.
test_expect 'unknown callers: bounded rows, bounded fetches, known nodes served' '
	INBOUND_EXTRA="max_unknown = 5
unknown_fetches = 3" iaxkeyd_conf && iaxkeyd_start &&
	known=$(rows "SELECT count(*) FROM keys WHERE installed") &&
	emu -n 40 -P 4 -s inbound -a "rnd%d" -a MD5 >out &&
	[ "$(grep -c "^var IAXKEY_STATUS=FALLBACK" out)" = 40 ] &&
	grep -c "^var IAXKEY_KEY=RATE_LIMITED" out &&
	[ "$(grep -c "^var IAXKEY_KEY=RATE_LIMITED" out)" -ge 37 ] &&
	grep -q "^var IAXKEY_REASON=key fetches for unknown callers: unknown_fetches a minute spent" out &&
	n=$(grep -c "^GET /v1/keys/rnd" "$T_DIR/ks.log") && echo "fetches $n" &&
	[ "$n" -le 3 ] &&
	u=$(rows "SELECT count(*) FROM callers WHERE node LIKE '"'"'rnd%'"'"'") &&
	k=$(rows "SELECT count(*) FROM keys WHERE NOT installed") &&
	echo "callers $u keys $k" && [ "$u" -le 5 ] && [ "$k" -le 5 ] &&
	[ "$(rows "SELECT count(*) FROM keys WHERE installed")" = "$known" ] &&
	ks_key nodeA && md5_call nodeA && grep -qx "var IAXKEY_KEY=UPDATED" out
'

test_expect 'unknown callers older than unknown_ttl are forgotten' '
	iaxkeyd_stop &&
	INBOUND_EXTRA="unknown_ttl = 3600" iaxkeyd_conf && iaxkeyd_start &&
	rows "UPDATE callers SET last_seen = last_seen - 7200; UPDATE keys SET fetched = fetched - 7200" &&
	md5_call rnd-late &&
	rows "SELECT node FROM callers WHERE node LIKE '"'"'rnd%'"'"'" >left &&
	test_cmp left <<-EOF &&
	rnd-late
	EOF
	[ "$(rows "SELECT count(*) FROM callers WHERE node = '"'"'nodeA'"'"'")" = 1 ] &&
	[ "$(rows "SELECT count(*) FROM keys WHERE NOT installed AND node <> '"'"'rnd-late'"'"'")" = 0 ]
'

# max_unknown = 1 with a fetch in flight: the node being added is never
# the one evicted (under AddressSanitizer a use after free otherwise).
test_expect 'max_unknown = 1 while a fetch runs: both calls served' '
	iaxkeyd_stop &&
	KS_TIMEOUT_MS=2000 INBOUND_EXTRA="max_unknown = 1" iaxkeyd_conf &&
	iaxkeyd_start &&
	ks_key slowA && echo hang >"$T_DIR/ks/slowA.behave" &&
	emu_bg slowA.out -s inbound -a slowA -a MD5 &&
	wait_log "^GET /v1/keys/slowA$" "$T_DIR/ks.log" &&
	ks_key fastB && md5_call fastB && grep -qx "var IAXKEY_KEY=NEW" out &&
	wait "$EMU_PID" && grep -qx "var IAXKEY_KEY=FAILED" slowA.out &&
	md5_call fastC && grep -qx "var IAXKEY_KEY=NOT_FOUND" out
'

test_expect 'clean shutdown' 'iaxkeyd_stop && ks_stop'
test_done
