#!/bin/bash
# 20 simultaneous first calls from a node the callee has never seen: every
# one completes (on the fallback, or on RSA once the key is loaded), the
# callee fetches the key once (one fetch in flight per node, then
# min_refetch_s at its default), and no call is refused by chan_iax2's
# maxauthreq (cause 21).
. "$(dirname "$0")/lib.sh"

N=20

burst() {
	local root=$1 v layout i
	v=$(e2e_version "$root")
	if e2e_has_auth_method "$root"; then
		layout=shared IKD_USER= IKD_RSA_USER=
	else
		layout=shared-old IKD_USER=iaxkeyd-rsa IKD_RSA_USER='{user}-rsa'
	fi
	test_expect "$v: key server and two nodes" '
		e2e_keyserver &&
		node_new nodeA "$root" && node_new nodeB "$root" &&
		node_start nodeA $layout && node_start nodeB $layout &&
		ast nodeA "dialplan set global E2E_DIAL $(dial_to nodeA nodeB 5000)" >/dev/null
	'
	test_expect "$v: $N calls at once, all answered, one key fetch" '
		pids= &&
		for i in $(seq $N); do
			ast nodeA "channel originate Local/$((5000 + i))@e2e-out application Wait 1" >/dev/null &
			pids="$pids $!"
		done &&
		wait $pids &&
		wait_count "app_verbose.c: E2E end exten=50[0-9][0-9] " $N "$(nv nodeA dir)/log/full" &&
		[ "$(grep -c "app_verbose.c: E2E end exten=50[0-9][0-9] dialstatus=ANSWER " "$(nv nodeA dir)/log/full")" = $N ] &&
		[ "$(grep -c "app_verbose.c: E2E answered exten=50[0-9][0-9] status=\\(FALLBACK\\|RSA\\) " "$(nv nodeB dir)/log/full")" = $N ] &&
		[ "$(grep -c "event=key_fetch node=nodeA " "$(nv nodeB dir)/iaxkeyd.log")" = 1 ] &&
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

for root in $(e2e_roots); do
	E2E_TAG=$(e2e_version "$root")
	burst "$root"
done
test_done
