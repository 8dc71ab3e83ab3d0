#!/bin/bash
# The whole story on real Asterisk, defaults (reload = agi, config mode):
# A's first call to B falls back to MD5+AES and B learns A's key; the second
# passes RSA+AES (authdebug: actual auth method = RSA; secure media); then
# the same from B to A.  Asterisk with CHANNEL(auth_method) runs the shared
# layout; without it, the shared layout with a user per leg.
. "$(dirname "$0")/lib.sh"

# Run the story on the Asterisk root $1.
story() {
	local root=$1 v layout
	v=$(e2e_version "$root")
	if e2e_has_auth_method "$root"; then
		layout=shared
		IKD_USER= IKD_RSA_USER=
	else
		layout=shared-old
		IKD_USER=iaxkeyd-rsa IKD_RSA_USER='{user}-rsa'
	fi
	test_expect "$v: key server and two nodes ($layout layout)" '
		e2e_keyserver &&
		node_new nodeA "$root" && node_new nodeB "$root" &&
		node_start nodeA $layout && node_start nodeB $layout
	'
	test_expect "$v: A -> B, first call: RSA leg refused (cause 50), fallback answered, B learns the key" '
		call nodeA nodeB 1001 &&
		[ "$(mfield dialstatus "$CALL_END")" = ANSWER ] &&
		[ "$(mfield status "$CALL_ANS")" = FALLBACK ] &&
		[ "$(mfield key "$CALL_ANS")" = NEW ] &&
		[ "$(ast_count nodeA "Call rejected by 127.0.0.1:[0-9]+: No authority found")" = 1 ] &&
		[ "$(ast_count nodeB "actual auth method = MD5")" = 1 ] &&
		cmp "$(nv nodeA dir)/keys/nodeA.pub" "$(nv nodeB dir)/keys/nodeA.pub" &&
		grep -q "event=inbound .*node=nodeA status=FALLBACK .*node_src=iaxvar" "$(nv nodeB dir)/iaxkeyd.log"
	'
	test_expect "$v: A -> B, second call passes RSA+AES" '
		call nodeA nodeB 1002 &&
		[ "$(mfield dialstatus "$CALL_END")" = ANSWER ] &&
		[ "$(mfield status "$CALL_ANS")" = RSA ] &&
		[ "$(mfield secure "$CALL_ANS")" = 1 ] &&
		[ "$(ast_count nodeB "actual auth method = RSA")" = 1 ] &&
		[ "$(ast_count nodeB "actual auth method = MD5")" = 1 ] &&
		[ "$(ast_count nodeA "No authority found")" = 1 ]
	'
	test_expect "$v: B -> A: fallback once, then RSA" '
		call nodeB nodeA 2001 &&
		[ "$(mfield dialstatus "$CALL_END")" = ANSWER ] &&
		[ "$(mfield status "$CALL_ANS")" = FALLBACK ] &&
		call nodeB nodeA 2002 &&
		[ "$(mfield status "$CALL_ANS")" = RSA ] &&
		[ "$(ast_count nodeA "actual auth method = RSA")" = 1 ]
	'
	test_expect "$v: the secret is in no EXEC line of either Asterisk log" '
		! grep -h "Executing Application\|AGI Script Executing" \
		    "$(nv nodeA dir)/log/full" "$(nv nodeB dir)/log/full" |
		    grep -F "$E2E_SECRET" &&
		grep -q "AGI Script Executing Application: (MSet)" "$(nv nodeA dir)/log/full"
	'
	test_expect "$v: nodes stop cleanly" '
		node_stop nodeA && node_stop nodeB && ksrv_stop
	'
}

for root in $(e2e_roots); do
	E2E_TAG=$(e2e_version "$root")
	story "$root"
done
test_done
