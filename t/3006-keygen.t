#!/bin/bash
# iaxkeyd -k: the node's key pair, as res_crypto loads it; never overwritten.
. "$(dirname "$0")/lib/iaxkeyd.sh"

iaxkeyd_conf
K=$T_DIR/keys/testnode

test_expect '-k creates key (0600) and pub (0644), RSA 1024' '
	"$IKD" -k -f "$T_DIR/iaxkeyd.conf" >out &&
	grep -q "^created $K.key and $K.pub (sha256:[0-9a-f]\{64\})$" out &&
	[ "$(stat -c %a "$K.key")" = 600 ] &&
	[ "$(stat -c %a "$K.pub")" = 644 ] &&
	openssl rsa -in "$K.key" -noout -text 2>/dev/null | grep -q "Private-Key: (1024 bit" &&
	grep -qx -- "-----BEGIN PRIVATE KEY-----" "$K.key" &&
	grep -qx -- "-----BEGIN PUBLIC KEY-----" "$K.pub" &&
	openssl rsa -in "$K.key" -pubout 2>/dev/null | cmp - "$K.pub"
'

test_expect 'the fingerprint printed is the public key'"'"'s' '
	grep -qF "($(fingerprint "$K.pub"))" out
'

test_expect '-k again: refused, both files unchanged' '
	cp "$K.key" k.bak && cp "$K.pub" p.bak &&
	! "$IKD" -k -f "$T_DIR/iaxkeyd.conf" >out 2>err &&
	grep -q "exists" err &&
	cmp k.bak "$K.key" && cmp p.bak "$K.pub"
'

test_expect 'the generated key serves outbound' '
	iaxkeyd_start &&
	emu -s outbound -a "IAX2/u:p@k.example/1" >out &&
	grep -qx "var IAXKEY_STATUS=OK" out &&
	iaxkeyd_stop
'

test_expect 'without [node] name: an error naming it' '
	sed -i "/^name = /d" "$T_DIR/iaxkeyd.conf" &&
	! "$IKD" -k -f "$T_DIR/iaxkeyd.conf" 2>err &&
	grep -q "node:name" err
'
test_done
