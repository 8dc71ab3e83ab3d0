#!/bin/bash
# The story (first call falls back and teaches the key, the second passes
# RSA+AES) with each reload backend (agi, ami, command), each inkeys layout
# (shared, per-node) and each outbound mode (config, dialstring), on every
# Asterisk build.  1001 runs agi + shared + config.
. "$(dirname "$0")/lib.sh"

# The story between new nodes $2 -> $3 on root $1; IKD_* set by the caller.
story() {
	local root=$1 a=$2 b=$3 v layout what
	v=$(e2e_version "$root")
	what="reload=$IKD_RELOAD inkeys=$IKD_INKEYS mode=$IKD_MODE"
	if [ "$IKD_INKEYS" = per-node ]; then
		layout=per-node IKD_RSA_USER='{node}' IKD_USER=
	elif e2e_has_auth_method "$root"; then
		layout=shared IKD_RSA_USER= IKD_USER=
	else
		layout=shared-old IKD_RSA_USER='{user}-rsa' IKD_USER=iaxkeyd-rsa
	fi
	test_expect "$v $what: two nodes ($layout layout)" '
		node_new $a "$root" && node_new $b "$root" &&
		node_start $a $layout && node_start $b $layout
	'
	test_expect "$v $what: first call falls back and teaches B the key" '
		call $a $b 3001 &&
		[ "$(mfield dialstatus "$CALL_END")" = ANSWER ] &&
		[ "$(mfield status "$CALL_ANS")" = FALLBACK ] &&
		[ "$(mfield key "$CALL_ANS")" = NEW ] &&
		[ "$(ast_count $b "actual auth method = MD5")" = 1 ]
	'
	test_expect "$v $what: second call passes RSA+AES" '
		call $a $b 3002 &&
		[ "$(mfield dialstatus "$CALL_END")" = ANSWER ] &&
		[ "$(mfield status "$CALL_ANS")" = RSA ] &&
		[ "$(mfield secure "$CALL_ANS")" = 1 ] &&
		[ "$(ast_count $b "actual auth method = RSA")" = 1 ] &&
		[ "$(ast_count $b "actual auth method = MD5")" = 1 ]
	'
	if [ "$IKD_INKEYS" = per-node ]; then
		test_expect "$v $what: first contact on the MD5 user; the RSA leg came as user $a, which named the node" '
			grep -q "event=inbound .*node=$a status=FALLBACK .*node_src=iaxvar user=iaxkeyd" \
			    "$(nv $b dir)/iaxkeyd.log" &&
			grep -q "event=inbound .*node=$a status=RSA .*node_src=user user=$a" \
			    "$(nv $b dir)/iaxkeyd.log" &&
			grep -qx "\\[$a\\](iaxkeyd-template)" \
			    "$(nv $b dir)/etc/iaxkeyd-users.conf"
		'
	fi
	test_expect "$v $what: both nodes stop cleanly" '
		node_stop $a && node_stop $b
	'
}

for root in $(e2e_roots); do
	E2E_TAG=$(e2e_version "$root")
	test_expect "$(e2e_version "$root"): key server" 'e2e_keyserver'
	IKD_RELOAD=ami IKD_INKEYS=per-node IKD_MODE=config story "$root" a1 b1
	IKD_RELOAD=command IKD_INKEYS=shared IKD_MODE=dialstring story "$root" a2 b2
	IKD_RELOAD=agi IKD_INKEYS=per-node IKD_MODE=dialstring story "$root" a3 b3
	test_expect "$(e2e_version "$root"): key server stops" 'ksrv_stop'
done
test_done
