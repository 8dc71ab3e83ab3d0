#!/bin/bash
# Calls that must not be lost when a part is missing, on every build:
#   - the key server down: the call completes on the fallback; once it is
#     back, the next fallback call teaches the key, and then RSA;
#   - iaxkeyd down: the guide's plain path places the call (AGISTATUS
#     FAILURE);
#   - iaxkeyd at max_sessions (its listener closed): the plain path again.
. "$(dirname "$0")/lib.sh"

# Fetch again at the first fallback call after the outage (the default
# min_refetch_s, 60, spaces the attempts for one node; docs/dialplan.md).
IKD_MIN_REFETCH=0

down() {
	local root=$1 v layout
	v=$(e2e_version "$root")
	if e2e_has_auth_method "$root"; then
		layout=shared IKD_USER= IKD_RSA_USER=
	else
		layout=shared-old IKD_USER=iaxkeyd-rsa IKD_RSA_USER='{user}-rsa'
	fi
	test_expect "$v: key server and two nodes" '
		e2e_keyserver &&
		node_new nodeA "$root" && node_new nodeB "$root" &&
		node_start nodeA $layout && node_start nodeB $layout
	'
	test_expect "$v: key server down: the call completes on the fallback" '
		ksrv_stop &&
		call nodeA nodeB 4001 &&
		[ "$(mfield dialstatus "$CALL_END")" = ANSWER ] &&
		[ "$(mfield status "$CALL_ANS")" = FALLBACK ] &&
		[ "$(mfield key "$CALL_ANS")" = FAILED ] &&
		[ ! -e "$(nv nodeB dir)/keys/nodeA.pub" ]
	'
	test_expect "$v: key server back: the next fallback call teaches the key, then RSA" '
		ksrv_start &&
		call nodeA nodeB 4002 &&
		[ "$(mfield dialstatus "$CALL_END")" = ANSWER ] &&
		[ "$(mfield status "$CALL_ANS")" = FALLBACK ] &&
		[ "$(mfield key "$CALL_ANS")" = NEW ] &&
		call nodeA nodeB 4003 &&
		[ "$(mfield status "$CALL_ANS")" = RSA ] &&
		[ "$(ast_count nodeB "actual auth method = RSA")" = 1 ]
	'
	test_expect "$v: iaxkeyd down: the plain path places the call" '
		ikd_stop nodeA &&
		call nodeA nodeB 4004 &&
		[ "$(mfield dialstatus "$CALL_END")" = ANSWER ] &&
		[ "$(mfield agi "$CALL_END")" = FAILURE ] &&
		[ -n "$CALL_ANS" ]
	'
	test_expect "$v: iaxkeyd at max_sessions: the plain path places the call" '
		IKD_MAX_SESSIONS=1 IKD_AGI_EXTRA="env_timeout_ms = 60000" \
		    node_conf nodeA &&
		ikd_start nodeA &&
		rm -f "$T_DIR/hold.fifo" && mkfifo "$T_DIR/hold.fifo" &&
		{ nc 127.0.0.1 "$(nv nodeA agi)" <"$T_DIR/hold.fifo" >/dev/null & } &&
		E2E_PIDS="$E2E_PIDS $!" && exec 7>"$T_DIR/hold.fifo" &&
		wait_log "event=refused .*reason=max_sessions" \
		    "$(nv nodeA dir)/iaxkeyd.log" &&
		call nodeA nodeB 4005 &&
		e2e_kill_extra && exec 7>&- &&
		[ "$(mfield dialstatus "$CALL_END")" = ANSWER ] &&
		[ "$(mfield agi "$CALL_END")" = FAILURE ]
	'
	test_expect "$v: nodes stop cleanly" '
		node_stop nodeA && node_stop nodeB && ksrv_stop
	'
}

for root in $(e2e_roots); do
	E2E_TAG=$(e2e_version "$root")
	down "$root"
done
test_done
