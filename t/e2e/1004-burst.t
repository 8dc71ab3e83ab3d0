#!/bin/bash
# 20 simultaneous first calls from a node the callee has never seen: every
# one completes (on the fallback, or on RSA once the key is loaded), the
# callee fetches the key once (one fetch in flight per node, then
# min_refetch_s at its default), and no call is refused by chan_iax2's
# maxauthreq (cause 21).  A fallback whose RSA attempt came before the
# reload but which reaches iaxkeyd after it looks like a stale key: it may
# revalidate the key once (source=stale, UNCHANGED; once per
# stale_refetch_s), never more.
. "$(dirname "$0")/lib.sh"

N=20

burst() {
	local root=$1 v i
	v=$(e2e_version "$root")
	e2e_shared "$root"
	test_expect "$v: key server and two nodes" '
		e2e_network "$root" $LAYOUT &&
		ast nodeA "dialplan set global E2E_DIAL $(dial_to nodeA nodeB 5000)" >/dev/null
	'
	test_expect "$v: $N calls at once, all answered, one key fetch (and at most one revalidation)" '
		pids= &&
		for i in $(seq $N); do
			ast nodeA "channel originate Local/$((5000 + i))@e2e-out application Wait 1" >/dev/null &
			pids="$pids $!"
		done &&
		wait $pids &&
		wait_count "app_verbose.c: E2E end exten=50[0-9][0-9] " $N "$(nv nodeA dir)/log/full" &&
		[ "$(grep -c "app_verbose.c: E2E end exten=50[0-9][0-9] dialstatus=ANSWER " "$(nv nodeA dir)/log/full")" = $N ] &&
		[ "$(grep -c "app_verbose.c: E2E answered exten=50[0-9][0-9] status=\\(FALLBACK\\|RSA\\) " "$(nv nodeB dir)/log/full")" = $N ] &&
		[ "$(grep -c "event=key_fetch node=nodeA source=inbound " "$(nv nodeB dir)/iaxkeyd.log")" = 1 ] &&
		[ "$(grep -c "event=key_fetch node=nodeA source=stale " "$(nv nodeB dir)/iaxkeyd.log")" -le 1 ] &&
		! grep "event=key_fetch node=nodeA source=stale " "$(nv nodeB dir)/iaxkeyd.log" |
		    grep -qv "result=UNCHANGED" &&
		! grep -q "Unauthenticated call limit reached" "$(nv nodeA dir)/log/full"
	'
	test_expect "$v: the next call passes RSA" '
		call nodeA nodeB 5100 &&
		[ "$(mfield status "$CALL_ANS")" = RSA ]
	'
	test_expect "$v: nodes stop cleanly" '
		node_stop nodeA && node_stop nodeB && ksrv_stop
	'
}

e2e_each_root burst
