#!/bin/bash
# Key rotation on real Asterisk, on every build, with shared and with
# per-node callee sections (issue 14):
#   - planned: A stages a next key, switches after [node] rotate_grace,
#     promotes it, retires the old one after another grace, while A calls B
#     and C every 2 s: every call passes RSA, none falls back, none is lost.
#     B learns the next key by its sync (sync_interval = 1), C, which does
#     not sync, from the hint on A's calls (IAXVAR(keynext));
#   - emergency ("key rotate now"): exactly one fallback call from A to each
#     callee (its stale-key refetch learns the new key), then RSA.
# The timeline (which call used which key) is printed as TAP comments and,
# with E2E_TIMELINE=file, appended to that file (docs/bench.md has one).
. "$(dirname "$0")/lib.sh"

# C learns the next key only from a call between the stage and the switch:
# the grace leaves room for a slow round on a loaded machine.
GRACE=12

# One timeline line: seconds since $TL_T0, the call, its outcome, A's
# step, the key A signs with, and the keys of A that B and C hold.
tl() {
	local a b c step
	a=$(nv nodeA dir) b=$(nv nodeB dir) c=$(nv nodeC dir)
	step=$(sed -n 's/.*event=key_rotation .*step=\([a-z_]*\).*/\1/p' \
	    "$a/iaxkeyd.log" | tail -n 1)
	printf '%4ss %-6s %-9s A:%-9s signs:%s  B:%s/%s/%s  C:%s/%s/%s\n' \
	    "+$(( $(date +%s) - TL_T0 ))" "$1" "$2" "${step:-none}" \
	    "$(key_short "$a/keys/nodeA.pub")" \
	    "$(key_short "$b/keys/nodeA.pub")" \
	    "$(key_short "$b/keys/_1_nodeA.pub")" \
	    "$(key_short "$b/keys/_2_nodeA.pub")" \
	    "$(key_short "$c/keys/nodeA.pub")" \
	    "$(key_short "$c/keys/_1_nodeA.pub")" \
	    "$(key_short "$c/keys/_2_nodeA.pub")" >>"$T_DIR/timeline"
}

# Call A -> $1 as extension $2; the outcome (RSA, FALLBACK, or LOST) goes
# to the timeline; succeeds when the call was answered by RSA.
rsa_call() {
	local st
	if call nodeA "$1" "$2" && [ "$(mfield dialstatus "$CALL_END")" = ANSWER ]; then
		st=$(mfield status "$CALL_ANS")
	else
		st=LOST
	fi
	tl "$2" "$1:$st"
	[ "$st" = RSA ]
}

# A -> B and A -> C every 2 s (the pacing the issue asks for, not a
# synchronisation) until A logs step $1; at most $2 rounds.  Every call
# must pass RSA.
calls_until() {
	local i=0 bad=0
	while [ $i -lt "$2" ]; do
		i=$((i + 1))
		rsa_call nodeB $((ROUND + 2 * i)) || bad=$((bad + 1))
		rsa_call nodeC $((ROUND + 2 * i + 1)) || bad=$((bad + 1))
		grep -q "event=key_rotation .*step=$1" "$(nv nodeA dir)/iaxkeyd.log" &&
		    break
		sleep 2
	done
	ROUND=$((ROUND + 2 * i + 2))
	[ $bad -eq 0 ] && grep -q "event=key_rotation .*step=$1" \
	    "$(nv nodeA dir)/iaxkeyd.log"
}

# The number of files of A's keys that node $1 holds.
held() {
	ls "$(nv "$1" dir)/keys" | grep -E -c '^(_[12]_)?nodeA\.pub$'
}

# The story on root $1 with the callee layout $2: shared (the one the
# build can run) or per-node (callers' RSA leg as their own user; the hint
# is then asked on its own on RSA calls).
rotation() {
	local root=$1 v LAYOUT IKD_USER IKD_RSA_USER IKD_INKEYS
	v=$(e2e_version "$root")
	if [ "$2" = per-node ]; then
		LAYOUT=per-node IKD_INKEYS=per-node IKD_RSA_USER='{node}' IKD_USER=
		v="$v per-node"
	else
		e2e_shared "$root"
	fi
	: >"$T_DIR/timeline"
	ROUND=9000
	test_expect "$v: key server, A (rotate_grace $GRACE), B (sync every 1 s), C (no sync)" '
		e2e_keyserver &&
		IKD_NODE_EXTRA="rotate_grace = $GRACE" node_new nodeA "$root" &&
		IKD_KS_EXTRA="$(printf "sync_interval = 1\nsync_jitter_s = 0")" \
		    node_new nodeB "$root" &&
		node_new nodeC "$root" &&
		node_start nodeA $LAYOUT && node_start nodeB $LAYOUT &&
		node_start nodeC $LAYOUT
	'
	test_expect "$v: B and C learn A's key (one fallback each), then RSA" '
		TL_T0=$(date +%s) &&
		call nodeA nodeB 8001 && [ "$(mfield status "$CALL_ANS")" = FALLBACK ] &&
		call nodeA nodeC 8002 && [ "$(mfield status "$CALL_ANS")" = FALLBACK ] &&
		rsa_call nodeB 8003 && rsa_call nodeC 8004
	'
	test_expect "$v: planned rotation while A calls B and C every 2 s: every call RSA" '
		b_md5=$(ast_count nodeB "actual auth method = MD5"; :) &&
		c_md5=$(ast_count nodeC "actual auth method = MD5"; :) &&
		a_rej=$(ast_count nodeA "No authority found"; :) &&
		TL_T0=$(date +%s) &&
		console nodeA "key rotate" >rotate.out &&
		grep -q "^OK" rotate.out &&
		echo "---- planned rotation: key rotate at +0s" >>"$T_DIR/timeline" &&
		calls_until retired $((8 * GRACE)) &&
		[ "$(ast_count nodeB "actual auth method = MD5"; :)" = "$b_md5" ] &&
		[ "$(ast_count nodeC "actual auth method = MD5"; :)" = "$c_md5" ] &&
		[ "$(ast_count nodeA "No authority found"; :)" = "$a_rej" ]
	'
	test_expect "$v: the callees learned the next key before the switch (B by sync, C by the hint)" '
		grep -q "event=key_installed .*node=nodeA .*role=next" "$(nv nodeB dir)/iaxkeyd.log" &&
		grep -q "event=key_installed .*node=nodeA .*role=next" "$(nv nodeC dir)/iaxkeyd.log" &&
		grep -q "event=key_fetch .*node=nodeA .*source=sync" "$(nv nodeB dir)/iaxkeyd.log" &&
		grep -q "event=key_fetch .*node=nodeA .*source=hint" "$(nv nodeC dir)/iaxkeyd.log"
	'
	test_expect "$v: after the retire B drops the old key at its next sync, and calls stay RSA" '
		for i in $(seq 100); do
			[ "$(held nodeB)" = 1 ] && break
			sleep 0.1
		done &&
		[ "$(held nodeB)" = 1 ] &&
		key=$(ls "$(nv nodeB dir)/keys" | grep -E "^(_[12]_)?nodeA\.pub$") &&
		cmp "$(nv nodeA dir)/keys/nodeA.pub" "$(nv nodeB dir)/keys/$key" &&
		rsa_call nodeB $((ROUND + 1))
	'
	test_expect "$v: emergency rotation: exactly one fallback call per callee, then RSA" '
		IKD_KS_EXTRA= node_conf nodeB &&
		kill -HUP "$(nv nodeB ikd)" &&
		wait_log "event=config_reload .*status=ok" "$(nv nodeB dir)/iaxkeyd.log" &&
		TL_T0=$(date +%s) &&
		echo "---- emergency rotation: key rotate now at +0s" >>"$T_DIR/timeline" &&
		console nodeA "key rotate now" >now.out &&
		grep -q "^OK" now.out &&
		wait_log "event=key_upload .*op=rotate .*result=ok" "$(nv nodeA dir)/iaxkeyd.log" &&
		b_md5=$(ast_count nodeB "actual auth method = MD5"; :) &&
		c_md5=$(ast_count nodeC "actual auth method = MD5"; :) &&
		! rsa_call nodeB 8101 &&
		[ "$(mfield status "$CALL_ANS")" = FALLBACK ] &&
		[ "$(mfield dialstatus "$CALL_END")" = ANSWER ] &&
		[ "$(mfield key "$CALL_ANS")" = UPDATED ] &&
		rsa_call nodeB 8102 &&
		! rsa_call nodeC 8103 &&
		[ "$(mfield status "$CALL_ANS")" = FALLBACK ] &&
		[ "$(mfield key "$CALL_ANS")" = UPDATED ] &&
		rsa_call nodeC 8104 &&
		rsa_call nodeB 8105 && rsa_call nodeC 8106 &&
		[ "$(ast_count nodeB "actual auth method = MD5"; :)" = $((b_md5 + 1)) ] &&
		[ "$(ast_count nodeC "actual auth method = MD5"; :)" = $((c_md5 + 1)) ]
	'
	sed "s/^/# $v: /" "$T_DIR/timeline"
	[ -n "${E2E_TIMELINE:-}" ] && sed "s/^/$v: /" "$T_DIR/timeline" >>"$E2E_TIMELINE"
	test_expect "$v: nodes stop cleanly" '
		node_stop nodeA && node_stop nodeB && node_stop nodeC && ksrv_stop
	'
}

# Both layouts on a build, each in a directory of its own.
rotations() {
	rotation "$1" shared
	E2E_TAG="$E2E_TAG-per-node" rotation "$1" per-node
}

e2e_each_root rotations
