#!/bin/bash
# Names at their limits, end to end: a 64-character node name (the most
# [node] name takes) sent as IAXVAR(node), a 79-digit extension in the dial
# string, and on the callee a 15-character key_prefix, so that the key,
# the per-node user section and the RSA leg's user name are 79 characters
# (res_crypto's and chan_iax2's limit).  On 20.15.2 every command iaxkeyd
# sends must also fit Asterisk's 2,047-character AGI line.
. "$(dirname "$0")/lib.sh"

LONG=n123456789-123456789-123456789-123456789-123456789-123456789-123
PREFIX=p0123456789abcd
EXTEN=1234567890123456789012345678901234567890123456789012345678901234567890123456789

limits() {
	local root=$1 v
	v=$(e2e_version "$root")
	test_expect "$v: names are at their limits" '
		[ ${#LONG} = 64 ] && [ ${#PREFIX} = 15 ] && [ ${#EXTEN} = 79 ]
	'
	test_expect "$v: key server, node A named with 64 characters, B per-node with a prefix" '
		e2e_keyserver &&
		NODE_NAME=$LONG IKD_RSA_USER="$PREFIX{node}" node_new nodeA "$root" &&
		IKD_INKEYS=per-node IKD_EXTRA="key_prefix = $PREFIX" \
		    node_new nodeB "$root" &&
		node_start nodeA per-node && node_start nodeB per-node
	'
	test_expect "$v: first call falls back; B installs a 79-character key and section" '
		call nodeA nodeB 6001 $EXTEN &&
		[ "$(mfield dialstatus "$CALL_END")" = ANSWER ] &&
		[ "$(mfield status "$CALL_ANS")" = FALLBACK ] &&
		[ "$(mfield key "$CALL_ANS")" = NEW ] &&
		cmp "$(nv nodeA dir)/keys/$LONG.pub" "$(nv nodeB dir)/keys/$PREFIX$LONG.pub" &&
		grep -qx "\\[$PREFIX$LONG\\](iaxkeyd-template)" "$(nv nodeB dir)/etc/iaxkeyd-users.conf"
	'
	test_expect "$v: second call passes RSA as the 79-character user" '
		call nodeA nodeB 6002 $EXTEN &&
		[ "$(mfield dialstatus "$CALL_END")" = ANSWER ] &&
		[ "$(mfield status "$CALL_ANS")" = RSA ] &&
		[ "$(mfield chan "$CALL_ANS")" != "${CALL_ANS#*chan=IAX2/$PREFIX$LONG-}" ] &&
		grep -q "event=inbound .*node=$LONG status=RSA .*node_src=user" \
		    "$(nv nodeB dir)/iaxkeyd.log"
	'
	test_expect "$v: no command of either iaxkeyd was cut or refused" '
		! grep -h "510 Invalid\\|not sendable\\|protocol" \
		    "$(nv nodeA dir)/iaxkeyd.log" "$(nv nodeB dir)/iaxkeyd.log" &&
		! grep -q "Unknown IE\\|too long" "$(nv nodeB dir)/log/full"
	'
	test_expect "$v: nodes stop cleanly" '
		node_stop nodeA && node_stop nodeB && ksrv_stop
	'
}

for root in $(e2e_roots); do
	E2E_TAG=$(e2e_version "$root")
	limits "$root"
done
test_done
