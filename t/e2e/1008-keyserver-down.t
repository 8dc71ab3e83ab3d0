#!/bin/bash
# Losing the key server costs nothing for known keys and only fallbacks,
# never lost calls, for new ones (issue 14), on every build.  B lists two
# key server URLs, a dead one first: every fetch moves on to the second.
#   - key server stopped: A -> B (known) passes RSA, C -> B (new) completes
#     on the fallback, and B keeps A's key;
#   - key server back: the first call from C teaches its key (every URL was
#     in backoff, and they are still tried), then RSA.
. "$(dirname "$0")/lib.sh"

# Call $1 -> $2 as $3; the outcome (RSA, FALLBACK or LOST) goes to the
# timeline and to $OUT.
outcome() {
	if call "$1" "$2" "$3" && [ "$(mfield dialstatus "$CALL_END")" = ANSWER ]; then
		OUT=$(mfield status "$CALL_ANS")
	else
		OUT=LOST
	fi
	printf '%4ss %-6s %s->%s %-9s key=%s\n' "+$(( $(date +%s) - TL_T0 ))" \
	    "$3" "$1" "$2" "$OUT" "$(mfield key "$CALL_ANS")" >>"$T_DIR/timeline"
}

down() {
	local root=$1 v dead
	v=$(e2e_version "$root")
	e2e_shared "$root"
	: >"$T_DIR/timeline"
	test_expect "$v: key server, A, C, and B with a dead key server URL first" '
		e2e_keyserver &&
		dead=http://127.0.0.1:$(e2e_port)/v1/keys/{node} &&
		node_new nodeA "$root" &&
		IKD_KS_URL="$dead $KSRV_URL/v1/keys/{node}" node_new nodeB "$root" &&
		node_new nodeC "$root" &&
		node_start nodeA $LAYOUT && node_start nodeB $LAYOUT &&
		node_start nodeC $LAYOUT
	'
	test_expect "$v: B learns A's key from the second URL, then RSA" '
		TL_T0=$(date +%s) &&
		outcome nodeA nodeB 6001 && [ "$OUT" = FALLBACK ] &&
		grep -q "event=key_fetch .*node=nodeA .*url=$KSRV_URL/v1/keys/nodeA .*result=NEW" \
		    "$(nv nodeB dir)/iaxkeyd.log" &&
		outcome nodeA nodeB 6002 && [ "$OUT" = RSA ]
	'
	test_expect "$v: key server stopped: A -> B still RSA, C -> B falls back, nothing lost or removed" '
		ksrv_stop &&
		echo "---- key server stopped at +$(( $(date +%s) - TL_T0 ))s" >>"$T_DIR/timeline" &&
		outcome nodeA nodeB 6003 && [ "$OUT" = RSA ] &&
		outcome nodeC nodeB 6004 && [ "$OUT" = FALLBACK ] &&
		[ "$(mfield key "$CALL_ANS")" = FAILED ] &&
		outcome nodeA nodeB 6005 && [ "$OUT" = RSA ] &&
		outcome nodeC nodeB 6006 && [ "$OUT" = FALLBACK ] &&
		cmp "$(nv nodeA dir)/keys/nodeA.pub" "$(nv nodeB dir)/keys/nodeA.pub" &&
		[ ! -e "$(nv nodeB dir)/keys/nodeC.pub" ]
	'
	test_expect "$v: key server back: the first call from C teaches its key, then RSA" '
		ksrv_start &&
		echo "---- key server back at +$(( $(date +%s) - TL_T0 ))s" >>"$T_DIR/timeline" &&
		outcome nodeC nodeB 6007 && [ "$OUT" = FALLBACK ] &&
		[ "$(mfield key "$CALL_ANS")" = NEW ] &&
		outcome nodeC nodeB 6008 && [ "$OUT" = RSA ] &&
		outcome nodeA nodeB 6009 && [ "$OUT" = RSA ]
	'
	sed "s/^/# $v /" "$T_DIR/timeline"
	[ -n "${E2E_TIMELINE:-}" ] && sed "s/^/$v /" "$T_DIR/timeline" >>"$E2E_TIMELINE"
	test_expect "$v: nodes stop cleanly" '
		node_stop nodeA && node_stop nodeB && node_stop nodeC && ksrv_stop
	'
}

e2e_each_root down
