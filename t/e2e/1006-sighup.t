#!/bin/bash
# Switching a callee from the shared layout to per-node with SIGHUP: the
# operator pastes the per-node blocks, sets [inbound] inkeys = per-node and
# sends SIGHUP; iaxkeyd renders iaxkeyd-users.conf again at once, so
# Asterisk's reload loads it without a warning, and the caller (rsa_user =
# {node} after its own SIGHUP) passes RSA as its own user.
. "$(dirname "$0")/lib.sh"

# Warnings of a users file that does not fit iax.conf.
BADCONF='Inheritance requested|Category addition requested|does not exist'

sighup() {
	local root=$1 v layout
	v=$(e2e_version "$root")
	if e2e_has_auth_method "$root"; then
		layout=shared IKD_USER= IKD_RSA_USER=
	else
		layout=shared-old IKD_USER=iaxkeyd-rsa IKD_RSA_USER='{user}-rsa'
	fi
	test_expect "$v: key server and two nodes ($layout layout); B learns A's key" '
		e2e_keyserver &&
		node_new nodeA "$root" && node_new nodeB "$root" &&
		node_start nodeA $layout && node_start nodeB $layout &&
		call nodeA nodeB 7001 &&
		[ "$(mfield status "$CALL_ANS")" = FALLBACK ] &&
		call nodeA nodeB 7002 &&
		[ "$(mfield status "$CALL_ANS")" = RSA ]
	'
	test_expect "$v: B switched to per-node by SIGHUP: the users file follows at once" '
		IKD_INKEYS=per-node IKD_USER= node_conf nodeB &&
		node_files nodeB per-node &&
		kill -HUP "$(nv nodeB ikd)" &&
		wait_log "event=config_reload .*status=ok" "$(nv nodeB dir)/iaxkeyd.log" &&
		grep -qx "\\[nodeA\\](iaxkeyd-template)" "$(nv nodeB dir)/etc/iaxkeyd-users.conf" &&
		! grep -q "(+)" "$(nv nodeB dir)/etc/iaxkeyd-users.conf"
	'
	test_expect "$v: Asterisk reloads B without a warning" '
		before=$(grep -E -c "$BADCONF" "$(nv nodeB dir)/log/full"; :) &&
		ast nodeB "module reload chan_iax2.so" >/dev/null &&
		ast nodeB "dialplan reload" >/dev/null &&
		ast nodeB "iax2 show users" >users &&
		grep -q "^nodeA " users &&
		[ "$(grep -E -c "$BADCONF" "$(nv nodeB dir)/log/full"; :)" = "$before" ]
	'
	test_expect "$v: A switched to rsa_user = {node}: the next call is RSA as user nodeA" '
		IKD_RSA_USER="{node}" IKD_USER= node_conf nodeA &&
		kill -HUP "$(nv nodeA ikd)" &&
		wait_log "event=config_reload .*status=ok" "$(nv nodeA dir)/iaxkeyd.log" &&
		call nodeA nodeB 7003 &&
		[ "$(mfield dialstatus "$CALL_END")" = ANSWER ] &&
		[ "$(mfield status "$CALL_ANS")" = RSA ] &&
		grep -q "event=inbound .*node=nodeA status=RSA .*node_src=user" \
		    "$(nv nodeB dir)/iaxkeyd.log"
	'
	test_expect "$v: nodes stop cleanly" '
		node_stop nodeA && node_stop nodeB && ksrv_stop
	'
}

for root in $(e2e_roots); do
	E2E_TAG=$(e2e_version "$root")
	sighup "$root"
done
test_done
