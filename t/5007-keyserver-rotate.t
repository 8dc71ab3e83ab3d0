#!/bin/bash
# iaxkey-server key rotation (issue 14): stage, unstage, promote, retire,
# replace and revoke with their status codes and audit lines; signatures
# by the wrong key or over another route's resource; replays across
# routes and restarts; a restart after every step keeps the state; a
# half-done state on disk is cleaned at load; the cache headers and 304s
# of every GET route.
. "$(dirname "$0")/lib/keyserver.sh"

# Remember the index and the answers of node $2 (default node1) with
# their ETag and X-Iaxkey-* headers, as $1.*.
snap() {
	[ "$(ks_get "$KSRV_URL/v1/keys")" = 200 ] && cp "$T_DIR/resp" "$1.idx" &&
	ks_get "$KSRV_URL/v1/keys/${2:-node1}" >"$1.status" &&
	cp "$T_DIR/resp" "$1.body" &&
	grep -i "^etag:\|^x-iaxkey-" "$T_DIR/resp.h" | tr -d '\r' |
	    sort >"$1.head" &&
	for s in next previous; do
		ks_get "$KSRV_URL/v1/keys/${2:-node1}/$s" >>"$1.status" &&
		cat "$T_DIR/resp" >>"$1.body" || return 1
	done
}

# Restart the server: the index, the answers and their ETags and
# X-Iaxkey-* headers are the same as before (reloaded from the files).
restart_same() {
	snap before && ksrv_stop && ksrv_start && snap after &&
	test_cmp after.idx <before.idx &&
	test_cmp after.head <before.head &&
	test_cmp after.status <before.status &&
	cmp before.body after.body
}

# The audit lines since the last call, without their timestamps (the
# count read is kept in a file: the call may run in a subshell).
audit_new() {
	a_seen=$(cat "$T_DIR/audit.seen" 2>/dev/null || echo 0)
	tail -n +$((a_seen + 1)) "$T_DIR/store/audit.log" |
	    sed "s/^ts=[^ ]* //"
	wc -l <"$T_DIR/store/audit.log" >"$T_DIR/audit.seen"
}

# The new audit lines are exactly the arguments (one line each).
audit_is() {
	printf '%s\n' "$@" | test_cmp <(audit_new)
}

# The index is exactly the arguments (one line each).
index_is() {
	[ "$(ks_get "$KSRV_URL/v1/keys")" = 200 ] &&
	printf '%s\n' "$@" | test_cmp "$T_DIR/resp"
}

# 1 if the header $1 of the last answer is absent.
no_header() {
	! grep -qi "^$1:" "$T_DIR/resp.h"
}

test_expect 'start, register node1 with key a' '
	ksrv_conf && ksrv_start &&
	for k in a b c d e f x; do mkkey $k || return 1; done &&
	for k in a b c d e f x; do
		eval "F$k=\$(fingerprint $k.pub)" || return 1
	done &&
	TOK=$("$KSRV" -f "$T_DIR/ksrv.conf" token add node1) &&
	[ "$(TOKEN=$TOK ks_req PUT node1 a.pub a)" = 201 ] &&
	[ "$(stat -c %a store/next)" = 755 ] &&
	[ "$(stat -c %a store/previous)" = 755 ] &&
	audit_new >/dev/null
'

test_expect 'stage b: 201, X-Iaxkey-Next, index line, /next, audit stage' '
	[ "$(ks_req PUT node1/next b.pub b a)" = 201 ] &&
	[ "$(cat resp)" = "$Fb" ] &&
	[ "$(resp_header Cache-Control)" = no-store ] &&
	cmp b.pub store/next/node1.pub &&
	[ "$(stat -c %a store/next/node1.pub)" = 644 ] &&
	[ "$(ks_get "$KSRV_URL/v1/keys/node1")" = 200 ] && cmp a.pub resp &&
	[ "$(resp_header X-Iaxkey-Next)" = "$Fb" ] &&
	no_header X-Iaxkey-Previous &&
	[ "$(resp_header ETag)" = "\"$Fa+${Fb:7:16}+-\"" ] &&
	[ "$(ks_get "$KSRV_URL/v1/keys/node1/next")" = 200 ] && cmp b.pub resp &&
	[ "$(resp_header ETag)" = "\"$Fb\"" ] &&
	[ "$(ks_get "$KSRV_URL/v1/keys/node1/previous")" = 404 ] &&
	grep -qx "no previous key" resp &&
	index_is "node1 $Fa next=$Fb" &&
	audit_is "node=node1 action=stage auth=key+current old=- new=$Fb addr=127.0.0.1"
'

test_expect 'restart after stage: same state' 'restart_same'

test_expect 'stage again: 200 unchanged; another key: 200, audit old=' '
	[ "$(ks_req PUT node1/next b.pub b a)" = 200 ] &&
	grep -qx "$Fb unchanged" resp &&
	[ "$(ks_req PUT node1/next c.pub c a)" = 200 ] &&
	[ "$(cat resp)" = "$Fc" ] && cmp c.pub store/next/node1.pub &&
	audit_is "node=node1 action=stage auth=key+current old=$Fb new=$Fc addr=127.0.0.1"
'

test_expect 'stage refusals: the current key 409, no node 404, bad signatures' '
	[ "$(ks_req PUT node1/next a.pub a a)" = 409 ] &&
	grep -q "current key" resp &&
	[ "$(resp_header Cache-Control)" = no-store ] &&
	[ "$(ks_req PUT nobody/next b.pub b a)" = 404 ] &&
	[ "$(ks_req PUT node1/next d.pub d)" = 403 ] &&
	[ "$(ks_req PUT node1/next d.pub d x)" = 403 ] &&
	grep -q "Current-Signature" resp &&
	[ "$(ks_req PUT node1/next d.pub x a)" = 401 ] &&
	grep -q "does not verify with the uploaded key" resp &&
	[ "$(SIGNODE=node1 ks_req PUT node1/next d.pub d a)" = 401 ] &&
	[ "$(SIGNODE=node1/previous ks_req PUT node1/next d.pub d a)" = 401 ] &&
	[ "$(ks_req PUT node1/previous d.pub d a)" = 405 ] &&
	[ "$(resp_header Allow)" = "GET, HEAD, DELETE" ] &&
	[ "$(ks_req PUT node1/other d.pub d a)" = 404 ] &&
	cmp c.pub store/next/node1.pub && [ -z "$(audit_new)" ]
'

test_expect 'a stage signature replayed on another route fails (resource)' '
	ts=$(date +%s) && n=$(ks_nonce) &&
	s1=$(ks_sign PUT node1/next "$ts" "$n" d.pub d) &&
	s2=$(ks_sign PUT node1/next "$ts" "$n" d.pub a) &&
	[ "$(TS=$ts NONCE=$n SIG=$s1 CURSIG=$s2 ks_req PUT node1 d.pub d a)" = 401 ] &&
	d1=$(ks_sign DELETE node1/next "$ts" "$n" /dev/null a) &&
	[ "$(TS=$ts NONCE=$n SIG=$d1 ks_req DELETE node1/previous /dev/null a)" = 404 ] &&
	[ "$(TS=$ts NONCE=$n SIG=$d1 ks_req DELETE node1 /dev/null a)" = 401 ] &&
	[ "$(ks_get "$KSRV_URL/v1/keys/node1")" = 200 ] && cmp a.pub resp &&
	[ "$(TS=$ts NONCE=$n SIG=$s1 CURSIG=$s2 ks_req PUT node1/next d.pub d a)" = 200 ] &&
	cmp d.pub store/next/node1.pub && audit_new >/dev/null
'

test_expect 'replays refused: the same request, its nonce on another route' '
	[ "$(TS=$ts NONCE=$n SIG=$s1 CURSIG=$s2 ks_req PUT node1/next d.pub d a)" = 409 ] &&
	[ "$(TS=$ts NONCE=$n ks_req DELETE node1/next /dev/null a)" = 409 ] &&
	[ "$(TS=$((ts - 1)) ks_req DELETE node1/next /dev/null a)" = 409 ] &&
	grep -q "older than the last accepted" resp &&
	ksrv_stop && ksrv_start &&
	[ "$(TS=$ts NONCE=$n SIG=$s1 CURSIG=$s2 ks_req PUT node1/next d.pub d a)" = 409 ] &&
	cmp d.pub store/next/node1.pub && [ -z "$(audit_new)" ]
'

test_expect 'unstage: signed by the current key only; 200 then 404' '
	[ "$(ks_req DELETE node1/next /dev/null d)" = 401 ] &&
	[ "$(SIGNODE=node1 ks_req DELETE node1/next /dev/null a)" = 401 ] &&
	[ "$(ks_req DELETE node1/next /dev/null a)" = 200 ] &&
	grep -qx "unstaged $Fd" resp &&
	[ "$(resp_header Cache-Control)" = no-store ] &&
	[ ! -e store/next/node1.pub ] &&
	[ "$(ks_req DELETE node1/next /dev/null a)" = 404 ] &&
	[ "$(ks_get "$KSRV_URL/v1/keys/node1")" = 200 ] &&
	no_header X-Iaxkey-Next &&
	[ "$(resp_header ETag)" = "\"$Fa\"" ] &&
	audit_is "node=node1 action=unstage auth=key old=$Fd new=- addr=127.0.0.1"
'

test_expect 'restart after unstage: same state' 'restart_same'

test_expect 'promote: PUT the staged key, previous kept, audit promote' '
	[ "$(ks_req PUT node1/next b.pub b a)" = 201 ] &&
	[ "$(ks_req PUT node1 b.pub b a)" = 200 ] &&
	[ "$(cat resp)" = "$Fb" ] &&
	cmp b.pub store/node1.pub && cmp a.pub store/previous/node1.pub &&
	[ ! -e store/next/node1.pub ] &&
	[ "$(ks_get "$KSRV_URL/v1/keys/node1")" = 200 ] && cmp b.pub resp &&
	[ "$(resp_header X-Iaxkey-Previous)" = "$Fa" ] &&
	no_header X-Iaxkey-Next &&
	[ "$(resp_header ETag)" = "\"$Fb+-+${Fa:7:16}\"" ] &&
	[ "$(ks_get "$KSRV_URL/v1/keys/node1/previous")" = 200 ] &&
	cmp a.pub resp &&
	[ "$(ks_get "$KSRV_URL/v1/keys/node1/next")" = 404 ] &&
	index_is "node1 $Fb previous=$Fa" &&
	test_cmp <(audit_new) <<-EOF
	node=node1 action=stage auth=key+current old=- new=$Fb addr=127.0.0.1
	node=node1 action=promote auth=key+current old=$Fa new=$Fb addr=127.0.0.1
	EOF
'

test_expect 'restart after promote: same state' 'restart_same'

test_expect 'promote resent (signed by new and old): 200 unchanged' '
	[ "$(ks_req PUT node1 b.pub b a)" = 200 ] &&
	grep -qx "$Fb unchanged" resp &&
	[ "$(ks_req PUT node1 b.pub b x)" = 403 ] &&
	[ "$(ks_req PUT node1/next a.pub a b)" = 409 ] &&
	grep -q "previous key" resp && [ -z "$(audit_new)" ]
'

test_expect 'retire: signed by the current key; 200 then 404' '
	[ "$(ks_req DELETE node1/previous /dev/null a)" = 401 ] &&
	[ "$(ks_req DELETE node1/previous /dev/null b)" = 200 ] &&
	grep -qx "retired $Fa" resp &&
	[ ! -e store/previous/node1.pub ] &&
	[ "$(ks_req DELETE node1/previous /dev/null b)" = 404 ] &&
	index_is "node1 $Fb" &&
	audit_is "node=node1 action=retire auth=key old=$Fa new=- addr=127.0.0.1"
'

test_expect 'restart after retire: same state' 'restart_same'

test_expect 'promote over a kept previous key: that one is revoked' '
	[ "$(ks_req PUT node1/next c.pub c b)" = 201 ] &&
	[ "$(ks_req PUT node1 c.pub c b)" = 200 ] &&
	[ "$(ks_req PUT node1/next d.pub d c)" = 201 ] &&
	[ "$(ks_req PUT node1 d.pub d c)" = 200 ] &&
	cmp c.pub store/previous/node1.pub &&
	test_cmp <(audit_new) <<-EOF
	node=node1 action=stage auth=key+current old=- new=$Fc addr=127.0.0.1
	node=node1 action=promote auth=key+current old=$Fb new=$Fc addr=127.0.0.1
	node=node1 action=stage auth=key+current old=- new=$Fd addr=127.0.0.1
	node=node1 action=promote auth=key+current old=$Fc new=$Fd addr=127.0.0.1
	node=node1 action=revoke auth=key+current old=$Fb new=- addr=127.0.0.1
	EOF
'

test_expect 'restart after the second promote: same state' 'restart_same'

test_expect 'replace (emergency): next and previous dropped, audit revoke' '
	[ "$(ks_req PUT node1/next e.pub e d)" = 201 ] && audit_new >/dev/null &&
	[ "$(ks_req PUT node1 f.pub f d)" = 200 ] &&
	[ "$(cat resp)" = "$Ff" ] &&
	cmp f.pub store/node1.pub &&
	[ ! -e store/next/node1.pub ] && [ ! -e store/previous/node1.pub ] &&
	[ "$(ks_get "$KSRV_URL/v1/keys/node1")" = 200 ] && cmp f.pub resp &&
	no_header X-Iaxkey-Next && no_header X-Iaxkey-Previous &&
	[ "$(resp_header ETag)" = "\"$Ff\"" ] &&
	test_cmp <(audit_new) <<-EOF
	node=node1 action=replace auth=key+current old=$Fd new=$Ff addr=127.0.0.1
	node=node1 action=revoke auth=key+current old=$Fe new=- addr=127.0.0.1
	node=node1 action=revoke auth=key+current old=$Fc new=- addr=127.0.0.1
	EOF
'

test_expect 'restart after replace: same state' 'restart_same'

test_expect 'replace signed by the staged next key: 200, audit key+next' '
	TOK7=$("$KSRV" -f "$T_DIR/ksrv.conf" token add node7) &&
	[ "$(TOKEN=$TOK7 ks_req PUT node7 a.pub a)" = 201 ] &&
	[ "$(ks_req PUT node7/next b.pub b a)" = 201 ] && audit_new >/dev/null &&
	[ "$(ks_req PUT node7 x.pub x x)" = 403 ] &&
	grep -qx "not signed by the currently registered key" resp &&
	[ "$(ks_req PUT node7 b.pub b b)" = 403 ] &&
	[ "$(ks_req PUT node7 a.pub a b)" = 403 ] &&
	cmp a.pub store/node7.pub && cmp b.pub store/next/node7.pub &&
	[ -z "$(audit_new)" ] &&
	[ "$(ks_req PUT node7 c.pub c b)" = 200 ] &&
	[ "$(cat resp)" = "$Fc" ] &&
	cmp c.pub store/node7.pub && [ ! -e store/next/node7.pub ] &&
	test_cmp <(audit_new) <<-EOF &&
	node=node7 action=replace auth=key+next old=$Fa new=$Fc addr=127.0.0.1
	node=node7 action=revoke auth=key+next old=$Fb new=- addr=127.0.0.1
	EOF
	[ "$(ks_req PUT node7 d.pub d b)" = 403 ] &&
	[ "$(ks_req PUT node7 d.pub d a)" = 403 ] &&
	cmp c.pub store/node7.pub &&
	[ "$(ks_req DELETE node7 /dev/null c)" = 200 ] && audit_new >/dev/null
'

test_expect 'revoke drops current, next and previous' '
	[ "$(ks_req PUT node1/next a.pub a f)" = 201 ] &&
	[ "$(ks_req PUT node1 a.pub a f)" = 200 ] &&
	[ "$(ks_req PUT node1/next b.pub b a)" = 201 ] && audit_new >/dev/null &&
	[ "$(ks_req DELETE node1 /dev/null a)" = 200 ] &&
	grep -qx "revoked $Fa" resp &&
	[ ! -e store/node1.pub ] && [ ! -e store/next/node1.pub ] &&
	[ ! -e store/previous/node1.pub ] &&
	[ "$(ks_get "$KSRV_URL/v1/keys/node1/next")" = 404 ] &&
	grep -qx "unknown node" resp &&
	[ "$(ks_get "$KSRV_URL/v1/keys")" = 200 ] && [ ! -s resp ] &&
	test_cmp <(audit_new) <<-EOF
	node=node1 action=revoke auth=key old=$Fa new=- addr=127.0.0.1
	node=node1 action=revoke auth=key old=$Fb new=- addr=127.0.0.1
	node=node1 action=revoke auth=key old=$Ff new=- addr=127.0.0.1
	EOF
'

test_expect 'restart after revoke: same state' 'restart_same'

test_expect 'a current key that does not load keeps its next and previous files' '
	ksrv_stop &&
	echo "not a key" >store/node8.pub &&
	cp b.pub store/next/node8.pub && cp c.pub store/previous/node8.pub &&
	ksrv_start &&
	grep -q "keeping $T_DIR/store/next/node8.pub: the current key of node8 did not load" ksrv.log &&
	grep -q "keeping $T_DIR/store/previous/node8.pub: the current key of node8 did not load" ksrv.log &&
	cmp b.pub store/next/node8.pub && cmp c.pub store/previous/node8.pub &&
	[ "$(ks_get "$KSRV_URL/v1/keys/node8")" = 404 ] &&
	ksrv_stop && rm -f store/node8.pub store/next/node8.pub \
	    store/previous/node8.pub && ksrv_start
'

test_expect 'a half-done state on disk is cleaned at load, with a warning' '
	ksrv_stop &&
	cp a.pub store/node2.pub && cp a.pub store/next/node2.pub &&
	cp b.pub store/next/node3.pub &&
	cp c.pub store/node4.pub && cp c.pub store/previous/node4.pub &&
	cp d.pub store/node5.pub && cp e.pub store/next/node5.pub &&
	cp e.pub store/previous/node5.pub &&
	cp f.pub store/node6.pub && cp x.pub store/next/node6.pub &&
	cp a.pub store/previous/node6.pub &&
	ksrv_start &&
	grep -q "removing $T_DIR/store/next/node2.pub: same as the current key" ksrv.log &&
	grep -q "removing $T_DIR/store/next/node3.pub: no current key" ksrv.log &&
	grep -q "removing $T_DIR/store/previous/node4.pub: same as the current key" ksrv.log &&
	grep -q "removing $T_DIR/store/next/node5.pub: same as the previous key" ksrv.log &&
	[ ! -e store/next/node2.pub ] && [ ! -e store/next/node3.pub ] &&
	[ ! -e store/previous/node4.pub ] && [ ! -e store/next/node5.pub ] &&
	[ "$(ks_get "$KSRV_URL/v1/keys")" = 200 ] &&
	test_cmp resp <<-EOF
	node2 $Fa
	node4 $Fc
	node5 $Fd previous=$Fe
	node6 $Ff next=$Fx previous=$Fa
	EOF
'

# One GET of $1 with the extra curl arguments $3...; status $2.
get_is() {
	g_url=$1 g_want=$2
	shift 2
	[ "$(ks_get "$@" "$KSRV_URL$g_url")" = "$g_want" ] ||
	    fail "GET $g_url: $(head -n 1 resp.h)"
}

# The cache headers of the last answer, for comparison.
cache_head() {
	grep -i "^etag:\|^cache-control:\|^last-modified:\|^x-iaxkey-\|^vary:" \
	    resp.h | tr -d '\r' | sort
}

test_expect 'every GET route: Cache-Control, ETag, Last-Modified; 304 by INM and IMS' '
	for r in /v1/keys /v1/keys/node6 /v1/keys/node6/next \
	    /v1/keys/node6/previous /v1/keys/node2/next /v1/keys/nobody \
	    /v1/keys/nobody/previous; do
		case $r in
		/v1/keys/node2/next|/v1/keys/nobody*) code=404 age=10 ;;
		*) code=200 age=60 ;;
		esac &&
		get_is $r $code && cache_head >h200 &&
		[ "$(resp_header Cache-Control)" = "public, max-age=$age" ] &&
		etag=$(resp_header ETag) && lm=$(resp_header Last-Modified) &&
		[ -n "$etag" ] && [ -n "$lm" ] && no_header Vary &&
		get_is $r 304 -H "If-None-Match: $etag" && [ ! -s resp ] &&
		cache_head | test_cmp h200 &&
		get_is $r 304 -H "If-None-Match: \"x\", W/$etag" &&
		get_is $r 304 -H "If-Modified-Since: $lm" &&
		cache_head | test_cmp h200 &&
		get_is $r $code -H "If-None-Match: \"sha256:0\"" \
		    -H "If-Modified-Since: $lm" &&
		get_is $r $code -H "If-Modified-Since: Thu, 01 Jan 1970 00:00:01 GMT" &&
		get_is $r $code -H "If-Modified-Since: yesterday" &&
		[ "$(curl -s -I -o /dev/null -w "%{http_code}" \
		    "$KSRV_URL$r")" = $code ] || return 1
	done &&
	get_is /v1/keys/node6 200 && grep -qi "^x-iaxkey-next: $Fx" resp.h &&
	get_is /v1/keys/node6 304 -H "If-None-Match: $(resp_header ETag)" &&
	grep -qi "^x-iaxkey-next: $Fx" resp.h &&
	grep -qi "^x-iaxkey-previous: $Fa" resp.h
'

test_expect 'the ETag and Last-Modified change when only a next is staged' '
	get_is /v1/keys/node2 200 && e1=$(resp_header ETag) &&
	[ "$e1" = "\"$Fa\"" ] && l1=$(resp_header Last-Modified) &&
	get_is /v1/keys/node2/next 404 && n1=$(resp_header ETag) &&
	get_is /v1/keys 200 && i1=$(resp_header ETag) &&
	[ "$(ks_req PUT node2/next b.pub b a)" = 201 ] &&
	get_is /v1/keys/node2 200 -H "If-None-Match: $e1" && cmp a.pub resp &&
	[ "$(resp_header ETag)" = "\"$Fa+${Fb:7:16}+-\"" ] &&
	[ "$(date -d "$(resp_header Last-Modified)" +%s)" -ge \
	    "$(date -d "$l1" +%s)" ] &&
	get_is /v1/keys/node2/next 200 -H "If-None-Match: $n1" &&
	get_is /v1/keys 200 -H "If-None-Match: $i1" &&
	[ "$(resp_header ETag)" != "$i1" ]
'

test_expect 'changes and refusals: no-store; 404 max-age follows a smaller cache_max_age' '
	[ "$(ks_req PUT node2/next c.pub c a)" = 200 ] &&
	[ "$(resp_header Cache-Control)" = no-store ] &&
	[ "$(ks_req PUT node2/next c.pub c)" = 403 ] &&
	[ "$(resp_header Cache-Control)" = no-store ] &&
	get_is "/v1/keys/bad%20name" 400 &&
	[ "$(resp_header Cache-Control)" = no-store ] &&
	get_is /elsewhere 404 && [ "$(resp_header Cache-Control)" = no-store ] &&
	ksrv_stop &&
	KSRV_HTTP_EXTRA="cache_max_age = 5" ksrv_conf && ksrv_start &&
	get_is /v1/keys/nobody 404 &&
	[ "$(resp_header Cache-Control)" = "public, max-age=5" ] &&
	get_is /v1/keys/node2 200 &&
	[ "$(resp_header Cache-Control)" = "public, max-age=5" ] &&
	ksrv_stop &&
	KSRV_HTTP_EXTRA="cache_max_age = 86401" ksrv_conf &&
	! "$KSRV" -n -f "$T_DIR/ksrv.conf" 2>err && grep -q cache_max_age err &&
	ksrv_conf && ksrv_start
'

test_expect 'unstage and retire are logged with their reasons' '
	[ "$(ks_req DELETE node2/next /dev/null a)" = 200 ] &&
	[ "$(ks_req DELETE node6/previous /dev/null f)" = 200 ] &&
	grep -q "event=request method=DELETE node=node2 status=200 addr=127.0.0.1 fpr=$Fc reason=unstage" ksrv.log &&
	grep -q "event=request method=DELETE node=node6 status=200 addr=127.0.0.1 fpr=$Fa reason=retire" ksrv.log
'

test_expect 'audit log unwritable: 500, every file restored, state unchanged' '
	ksrv_stop && printf "[store]\naudit_log = /dev/full\n" | ksrv_conf &&
	ksrv_start && snap before node6 &&
	[ "$(ks_req PUT node6 x.pub x f)" = 500 ] &&
	grep -qx "storage error" resp &&
	[ "$(ks_req PUT node6 e.pub e f)" = 500 ] &&
	[ "$(ks_req PUT node6/next e.pub e f)" = 500 ] &&
	[ "$(ks_req DELETE node6/next /dev/null f)" = 500 ] &&
	[ "$(ks_req DELETE node6 /dev/null f)" = 500 ] &&
	cmp f.pub store/node6.pub && cmp x.pub store/next/node6.pub &&
	[ ! -e store/previous/node6.pub ] &&
	ksrv_stop && ksrv_conf && ksrv_start && snap after node6 &&
	test_cmp after.idx <before.idx && test_cmp after.head <before.head &&
	grep -qi "^x-iaxkey-next: $Fx" after.head && cmp before.body after.body
'

test_expect 'stop' 'ksrv_stop'
test_done
