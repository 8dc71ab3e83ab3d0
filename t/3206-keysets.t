#!/bin/bash
# Key sets (issue 14): a caller's current, next and previous keys, each in
# its own slot file and inkeys name; promotion and retirement; a failed
# GET drops nothing; the stale refetch on a fallback call from a known
# node; the IAXVAR(keynext) hint; sync with the extended index; the state
# store's migration from schema version 1; the 79-character name limit;
# a shared inkeys line near 8190 characters; a dropped file that stays.
. "$(dirname "$0")/lib/iaxkeyd.sh"

KEYS=$T_DIR/keys
KS=$T_DIR/ks
USERS=$T_DIR/ast/iaxkeyd-users.conf
DB=$T_DIR/state.db

# One MD5 call from node $1; its transcript in out.
md5_call() {
	emu -t -s inbound -a "$1" -a MD5 >out
}

# Requests the stub saw for node $1's key in slot $2 (next, previous).
ks_slot_count() {
	grep -c "^GET /v1/keys/$1/$2\$" "$T_DIR/ks.log"
}

# The held keys of node $1 as "slot role fingerprint" lines.
held() {
	sqlite3 "$DB" "SELECT slot, role, fingerprint FROM keyslots WHERE node = '$1' ORDER BY slot"
}

# The key server promotes node $1: previous := current, current := next.
ks_promote() {
	mv "$KS/$1.pub" "$KS/previous/$1.pub" &&
	mv "$KS/next/$1.pub" "$KS/$1.pub"
}

# The daemon log lines after line $1.
log_since() {
	tail -n +"$(($1 + 1))" "$T_DIR/daemon.log"
}

log_lines() {
	wc -l <"$T_DIR/daemon.log"
}

test_expect 'key server stub' '
	mkdir -p "$KS/next" "$KS/previous" && ks_start
'
KS_URL="http://127.0.0.1:$KS_PORT/v1/keys/{node}"
MIN_REFETCH_S=600
INBOUND_EXTRA="stale_refetch_s = 3600"
iaxkeyd_conf </dev/null
test_expect 'daemon' 'own_key && iaxkeyd_start && admin_port'

test_expect 'current and next: two files, both names in inkeys, one reload' '
	ks_key nodeA && ks_key next/nodeA &&
	md5_call nodeA &&
	grep -qx "var IAXKEY_KEY=NEW" out &&
	grep -qx "var IAXKEY_FINGERPRINT=$(fingerprint "$KS/nodeA.pub")" out &&
	cmp "$KS/nodeA.pub" "$KEYS/nodeA.pub" &&
	cmp "$KS/next/nodeA.pub" "$KEYS/_1_nodeA.pub" &&
	grep -qx "inkeys=nodeA:_1_nodeA" "$USERS" &&
	[ "$(grep -c "^reload " out)" = 1 ] &&
	grep -qx "reload chan_iax2,res_crypto status=SUCCESS" out &&
	[ "$(ks_count nodeA)" = 1 ] && [ "$(ks_slot_count nodeA next)" = 1 ] &&
	[ "$(ks_slot_count nodeA previous)" = 0 ] &&
	wait_log "event=key_installed node=nodeA name=_1_nodeA slot=1 role=next fingerprint=$(fingerprint "$KS/next/nodeA.pub") result=NEW" &&
	wait_log "event=key_installed node=nodeA name=nodeA slot=0 role=current " &&
	wait_log "event=key_fetch node=nodeA source=inbound .*result=NEW .*keys=2 "
'

test_expect 'console: every held key with its slot, role, name and fingerprint' '
	adm "key nodeA" keys >out &&
	grep -qx "  key         0 current  nodeA $(fingerprint "$KS/nodeA.pub")" out &&
	grep -qx "  key         1 next     _1_nodeA $(fingerprint "$KS/next/nodeA.pub")" out &&
	grep -qx "  file        $KEYS/_1_nodeA.pub" out &&
	grep -Eq "^  nodeA .* next +_1_nodeA +$(fingerprint "$KS/next/nodeA.pub")$" out &&
	[ "$(finals out | sort -u)" = OK ]
'

# The key server promotes: previous := current, current := next.
test_expect 'promotion: no file renamed or rewritten, no reload, roles follow' '
	cur=$(fingerprint "$KS/nodeA.pub") && nxt=$(fingerprint "$KS/next/nodeA.pub") &&
	cp "$KEYS/nodeA.pub" slot0.before && cp "$KEYS/_1_nodeA.pub" slot1.before &&
	cp "$USERS" users.before &&
	ks_promote nodeA &&
	adm "fetch nodeA" >out &&
	grep -qx "  result      UPDATED" out &&
	grep -qx "  fingerprint $nxt" out &&
	grep -qx "  reload     done" out &&
	cmp slot0.before "$KEYS/nodeA.pub" && cmp slot1.before "$KEYS/_1_nodeA.pub" &&
	cmp users.before "$USERS" &&
	[ "$(held nodeA)" = "0|previous|$cur
1|current|$nxt" ] &&
	[ "$(ks_slot_count nodeA previous)" = 0 ] &&
	! grep -q "event=key_changed node=nodeA" "$T_DIR/daemon.log"
'

test_expect 'retire: the previous key, its file and inkeys name go' '
	rm "$KS/previous/nodeA.pub" &&
	adm "fetch nodeA" >out &&
	grep -qx "  result      UPDATED" out &&
	[ ! -e "$KEYS/nodeA.pub" ] && [ -e "$KEYS/_1_nodeA.pub" ] &&
	grep -qx "inkeys=_1_nodeA" "$USERS" &&
	wait_log "event=key_dropped node=nodeA name=nodeA slot=0 role=previous fingerprint=$cur" &&
	[ "$(held nodeA | wc -l)" = 1 ]
'

# Then, every GET answered: the previous key leaves, and the next key
# takes the lowest free slot (the one just freed).
test_expect 'a failed GET of the next key installs nothing and drops nothing' '
	ks_key previous/nodeA && adm "fetch nodeA" >out &&
	grep -qx "  result      UPDATED" out && [ -e "$KEYS/nodeA.pub" ] &&
	before=$(held nodeA) && [ "$(echo "$before" | wc -l)" = 2 ] &&
	rm "$KS/previous/nodeA.pub" &&
	ks_key next/nodeA && echo "status 500" >"$KS/next/nodeA.behave" &&
	adm "fetch nodeA" >out &&
	grep -qx "  result      FAILED" out &&
	grep -qx "  reason      \"key server: next key: HTTP 500\"" out &&
	[ "$(held nodeA)" = "$before" ] &&
	[ -e "$KEYS/nodeA.pub" ] && [ ! -e "$KEYS/_2_nodeA.pub" ] &&
	rm "$KS/next/nodeA.behave" &&
	adm "fetch nodeA" >out &&
	grep -qx "  result      UPDATED" out &&
	[ "$(held nodeA)" = "0|next|$(fingerprint "$KS/next/nodeA.pub")
1|current|$(fingerprint "$KS/nodeA.pub")" ] &&
	cmp "$KS/next/nodeA.pub" "$KEYS/nodeA.pub" && [ ! -e "$KEYS/_2_nodeA.pub" ] &&
	grep -qx "inkeys=nodeA:_1_nodeA" "$USERS"
'

# A listing header that is there but unusable (sent twice, e.g. by a proxy,
# or too long) is not an absent one: the round fails, nothing is dropped.
# The stub adds the lines of nodeD.headers to its answer.
test_expect 'a repeated X-Iaxkey-Next: FAILED, the held next key stays' '
	ks_key nodeD && ks_key next/nodeD && adm "fetch nodeD" >out &&
	grep -qx "  result      NEW" out &&
	before=$(held nodeD) && [ "$(echo "$before" | wc -l)" = 2 ] &&
	echo "X-Iaxkey-Next: $(fingerprint "$KS/next/nodeD.pub")" >"$KS/nodeD.headers" &&
	n=$(log_lines) &&
	adm "fetch nodeD" >out &&
	grep -qx "  result      FAILED" out &&
	grep -qx "  reason      \"key server: bad X-Iaxkey-Next header\"" out &&
	[ "$(held nodeD)" = "$before" ] &&
	cmp "$KS/next/nodeD.pub" "$KEYS/_1_nodeD.pub" &&
	grep -qx "inkeys=.*:_1_nodeD.*" "$USERS" &&
	! log_since "$n" | grep -q "event=key_dropped node=nodeD"
'

test_expect 'an over-long X-Iaxkey-Next: FAILED, nothing dropped' '
	before=$(held nodeD) && rm "$KS/next/nodeD.pub" &&
	echo "X-Iaxkey-Next: sha256:$(printf "%0300d" 0)" >"$KS/nodeD.headers" &&
	n=$(log_lines) &&
	adm "fetch nodeD" >out &&
	grep -qx "  result      FAILED" out &&
	grep -qx "  reason      \"key server: bad X-Iaxkey-Next header\"" out &&
	[ "$(held nodeD)" = "$before" ] && [ -e "$KEYS/_1_nodeD.pub" ] &&
	! log_since "$n" | grep -q "event=key_dropped node=nodeD" &&
	rm "$KS/nodeD.headers" &&
	adm "fetch nodeD" >out && grep -qx "  result      UPDATED" out &&
	wait_log "event=key_dropped node=nodeD name=_1_nodeD slot=1 role=next"
'

# Emergency rotation: the held key is stale; the caller falls back once.
test_expect 'stale: a fallback call from a known node refetches at once' '
	ks_key nodeS && md5_call nodeS && grep -qx "var IAXKEY_KEY=NEW" out &&
	ks_key nodeS &&
	md5_call nodeS &&
	grep -qx "var IAXKEY_KEY=UPDATED" out &&
	grep -qx "var IAXKEY_FINGERPRINT=$(fingerprint "$KS/nodeS.pub")" out &&
	cmp "$KS/nodeS.pub" "$KEYS/nodeS.pub" &&
	[ "$(ks_count nodeS)" = 2 ] &&
	grep -qx "# cache-control=no-cache /v1/keys/nodeS" "$T_DIR/ks.log" &&
	wait_log "event=key_fetch node=nodeS source=stale .*result=UPDATED .*keys=1 "
'

test_expect 'stale: not twice within stale_refetch_s (min_refetch_s holds)' '
	md5_call nodeS &&
	grep -qx "var IAXKEY_KEY=UNCHANGED" out &&
	[ "$(ks_count nodeS)" = 2 ] &&
	[ "$(grep -c "^# cache-control=no-cache /v1/keys/nodeS$" "$T_DIR/ks.log")" = 1 ]
'

test_expect 'stale: a refetch that finds the same set says UNCHANGED' '
	ks_key nodeU && md5_call nodeU && md5_call nodeU &&
	grep -qx "var IAXKEY_KEY=UNCHANGED" out && [ "$(ks_count nodeU)" = 2 ]
'

# The hint: the caller staged a next key (its IAXVAR(keynext)).
test_expect 'hint: an RSA call naming a next key not held fetches the set' '
	ks_key nodeH && md5_call nodeH && ks_key next/nodeH &&
	n=$(log_lines) &&
	emu -v "IAXVAR(node)=nodeH" -v "IAXVAR(keynext)=$(fingerprint "$KS/next/nodeH.pub")" \
	    -s inbound -a "" -a RSA >out &&
	grep -qx "var IAXKEY_STATUS=RSA" out &&
	wait_log "event=key_fetch node=nodeH source=hint .*result=UPDATED .*keys=2 " &&
	cmp "$KS/next/nodeH.pub" "$KEYS/_1_nodeH.pub" &&
	grep -q "# cache-control=no-cache /v1/keys/nodeH$" "$T_DIR/ks.log"
'

test_expect 'hint: malformed, held, or from an unknown node: no fetch' '
	ks_key next/nodeG && ks_key nodeG && md5_call nodeG &&
	ks_key next/nodeG && n=$(log_lines) && f=$(fingerprint "$KS/next/nodeG.pub") &&
	bad=0 &&
	for h in "sha256:XYZ" "$(echo "$f" | tr a-f A-F)" "${f}0" "${f%?}" \
	    "sha1:${f#sha256:}" "${f#sha256:}" " $f"; do
		emu -v "IAXVAR(node)=nodeG" -v "IAXVAR(keynext)=$h" \
		    -s inbound -a "" -a RSA >out &&
		grep -qx "var IAXKEY_STATUS=RSA" out || bad=$((bad + 1))
	done &&
	[ "$bad" = 0 ] &&
	emu -v "IAXVAR(node)=nodeG" -v "IAXVAR(keynext)=$(fingerprint "$KEYS/_1_nodeG.pub")" \
	    -s inbound -a "" -a RSA >out &&
	emu -v "IAXVAR(node)=nodeNone" -v "IAXVAR(keynext)=$(fingerprint "$KS/next/nodeG.pub")" \
	    -s inbound -a "" -a RSA >out &&
	wait_count "event=inbound .*node=nodeNone status=RSA" 1 &&
	! log_since "$n" | grep -q "event=http_start .*url=" &&
	[ "$(ks_count nodeG)" = 1 ]
'

test_expect 'outbound: no IAXVAR(keynext) while no next key is staged' '
	emu -s outbound -a "IAX2/u:p@p1.example/1" >out &&
	grep -qx "var IAXVAR(node)=testnode" out &&
	! grep -q "keynext" out
'

test_expect 'sync: the extended index installs next keys, then nothing' '
	iaxkeyd_stop &&
	ks_key nodeY && ks_key next/nodeY && ks_key previous/nodeY &&
	KEYSERVER_EXTRA="sync_interval = 1
sync_jitter_s = 0" RELOAD_BACKEND=none iaxkeyd_conf </dev/null &&
	iaxkeyd_start && admin_port &&
	wait_log "event=key_fetch node=nodeY source=sync .*result=NEW .*keys=3 " &&
	cmp "$KS/nodeY.pub" "$KEYS/nodeY.pub" &&
	cmp "$KS/next/nodeY.pub" "$KEYS/_1_nodeY.pub" &&
	cmp "$KS/previous/nodeY.pub" "$KEYS/_2_nodeY.pub" &&
	curl -s "http://127.0.0.1:$KS_PORT/v1/keys" >index &&
	grep -qx "nodeY $(fingerprint "$KS/nodeY.pub") next=$(fingerprint "$KS/next/nodeY.pub") previous=$(fingerprint "$KS/previous/nodeY.pub")" index &&
	n=$(log_lines) &&
	ks_key nodeZ &&
	wait_log "event=key_fetch node=nodeZ source=sync " &&
	log_since "$n" | grep -q "event=sync result=ok .* fetch=1 " &&
	! log_since "$n" | grep -q "event=key_fetch node=nodeY "
'

test_expect 'sync: a promotion at the key server is seen by the next round' '
	cur=$(fingerprint "$KS/nodeY.pub") &&
	rm "$KS/previous/nodeY.pub" &&
	mv "$KS/nodeY.pub" "$KS/previous/nodeY.pub" &&
	mv "$KS/next/nodeY.pub" "$KS/nodeY.pub" &&
	wait_log "event=key_dropped node=nodeY name=_2_nodeY slot=2 role=previous" &&
	wait_log "event=key_fetch node=nodeY source=sync .*result=UPDATED .*keys=2 " &&
	[ "$(held nodeY)" = "0|previous|$cur
1|current|$(fingerprint "$KS/nodeY.pub")" ] &&
	[ ! -e "$KEYS/_2_nodeY.pub" ]
'

# Index lines the stub does not write itself (its .index.extra): unknown
# name=value fields are ignored, the old format still parses, malformed
# known fields make the line bad (counted, never fetched).
test_expect 'sync: unknown index fields ignored, malformed lines counted' '
	h=$(printf "%064d" 0 | tr 0 a) && g=$(printf "%064d" 0 | tr 0 b) &&
	printf "%s\n" "nodeE1 sha256:$h future=yes next=sha256:$g" \
	    "nodeE2 $h" "nodeE3 sha256:$h next=bad" \
	    "nodeE4 sha256:$h next=sha256:$g previous" \
	    "nodeE5 sha256:$h next=sha256:$h" >"$KS/.index.extra" &&
	wait_log "event=sync result=ok .* bad_lines=3 " &&
	wait_log "event=key_fetch node=nodeE1 source=sync .*result=NOT_FOUND" &&
	wait_log "event=key_fetch node=nodeE2 source=sync .*result=NOT_FOUND" &&
	! grep -q "event=http_start .*/v1/keys/nodeE[345]" "$T_DIR/daemon.log" &&
	rm "$KS/.index.extra"
'

# A database made by the schema version 1 iaxkeyd: one key per node.
test_expect 'store: a version 1 database is migrated, its keys kept as slot 0' '
	iaxkeyd_stop && rm -f "$DB" "$DB-wal" "$DB-shm" "$KEYS/"*.pub "$USERS" &&
	ks_key nodeM && cp "$KS/nodeM.pub" "$KEYS/nodeM.pub" &&
	fm=$(fingerprint "$KS/nodeM.pub") &&
	sqlite3 "$DB" "
CREATE TABLE peers ( name TEXT PRIMARY KEY, host TEXT NOT NULL, port INTEGER NOT NULL, user TEXT NOT NULL, secret TEXT NOT NULL, created INTEGER NOT NULL, last_used INTEGER NOT NULL, uses INTEGER NOT NULL DEFAULT 0, gen INTEGER NOT NULL DEFAULT 0);
CREATE INDEX peers_last_used ON peers(last_used);
CREATE TABLE keys ( node TEXT PRIMARY KEY, name TEXT NOT NULL, fingerprint TEXT, bits INTEGER, source TEXT, fetched INTEGER, changed INTEGER, status TEXT, installed INTEGER NOT NULL DEFAULT 0, pem TEXT);
CREATE TABLE callers ( node TEXT PRIMARY KEY, first_seen INTEGER NOT NULL, last_seen INTEGER NOT NULL, count INTEGER NOT NULL DEFAULT 0, address TEXT, last_result TEXT);
CREATE INDEX callers_last_seen ON callers(last_seen);
INSERT INTO keys VALUES (\"nodeM\", \"nodeM\", \"$fm\", 1024, \"inbound\", 1700000000, 1700000000, \"NEW\", 1, readfile(\"$KS/nodeM.pub\"));
INSERT INTO keys VALUES (\"nodeN\", \"nodeN\", NULL, NULL, \"inbound\", 1700000000, NULL, \"NOT_FOUND\", 0, NULL);
PRAGMA user_version = 1;" &&
	iaxkeyd_start && admin_port &&
	grep -q "schema version 1 upgraded to 2" "$T_DIR/daemon.log" &&
	[ "$(sqlite3 "$DB" "PRAGMA user_version")" = 2 ] &&
	[ "$(held nodeM)" = "0|current|$fm" ] && [ -z "$(held nodeN)" ] &&
	grep -qx "inkeys=nodeM" "$USERS" &&
	cmp "$KS/nodeM.pub" "$KEYS/nodeM.pub" &&
	ks_key next/nodeM && adm "fetch nodeM" >out &&
	grep -qx "  result      UPDATED" out &&
	grep -qx "inkeys=nodeM:_1_nodeM" "$USERS" &&
	[ "$(ks_count nodeM)" = 1 ]
'

test_expect 'store: a database newer than this iaxkeyd is refused' '
	iaxkeyd_stop && cp "$DB" db.before &&
	sqlite3 "$DB" "PRAGMA user_version = 3" &&
	! "$IKD" -d -f "$T_DIR/iaxkeyd.conf" >start.log 2>&1 &&
	grep -q "schema version 3 is newer than this iaxkeyd (2)" start.log &&
	sqlite3 "$DB" "PRAGMA user_version = 2"
'

# A dropped key's file goes before the commit: when it cannot go (here a
# directory stands in its place), the round fails and the row stays, so
# no file is left that looks like someone else's and blocks the slot.
test_expect 'a dropped key file that cannot be removed: FAILED, its row kept' '
	iaxkeyd_conf </dev/null && iaxkeyd_start && admin_port &&
	ks_key nodeX && ks_key next/nodeX && adm "fetch nodeX" >out &&
	grep -qx "  result      NEW" out &&
	before=$(held nodeX) && [ "$(echo "$before" | wc -l)" = 2 ] &&
	rm "$KS/next/nodeX.pub" "$KEYS/_1_nodeX.pub" &&
	mkdir "$KEYS/_1_nodeX.pub" && touch "$KEYS/_1_nodeX.pub/x" &&
	adm "fetch nodeX" >out &&
	grep -qx "  result      FAILED" out &&
	grep -q "^  reason .*_1_nodeX.pub" out &&
	[ "$(held nodeX)" = "$before" ] &&
	grep -qx "inkeys=.*:_1_nodeX.*" "$USERS" &&
	! grep -q "event=key_dropped node=nodeX" "$T_DIR/daemon.log"
'

test_expect 'the next round drops it; the freed slot takes a new next key' '
	rm -r "$KEYS/_1_nodeX.pub" &&
	adm "fetch nodeX" >out && grep -qx "  result      UPDATED" out &&
	wait_log "event=key_dropped node=nodeX name=_1_nodeX slot=1 role=next" &&
	[ "$(held nodeX)" = "0|current|$(fingerprint "$KS/nodeX.pub")" ] &&
	! grep -q "_1_nodeX" "$USERS" &&
	ks_key next/nodeX && adm "fetch nodeX" >out &&
	grep -qx "  result      UPDATED" out &&
	cmp "$KS/next/nodeX.pub" "$KEYS/_1_nodeX.pub" &&
	grep -qx "inkeys=.*:_1_nodeX.*" "$USERS"
'

# The shared inkeys line filled by other nodes' names (rows and files put
# there with the daemon stopped) to 8180 characters: room for one more
# slot 0 name of 5 characters, none for a slot 1 or 2 name after it.
test_expect 'shared inkeys line filled to 8180 characters' '
	ks_key nodeL && ks_key next/nodeL && adm "fetch nodeL" >out &&
	grep -qx "  result      NEW" out && [ "$(held nodeL | wc -l)" = 2 ] &&
	iaxkeyd_stop &&
	s=$(sqlite3 "$DB" "SELECT coalesce(sum(length(name) + 1), 0) FROM keyslots") &&
	need=$((8180 - 6 - s)) && i=0 && : >fill.sql &&
	while [ "$need" -gt 0 ]; do
		if [ "$need" -gt 150 ]; then k=70
		elif [ "$need" -gt 80 ]; then k=$((need / 2 - 1))
		else k=$((need - 1)); fi
		name=f$(printf "%03d" "$i")$(printf "%*s" $((k - 4)) "" | tr " " x) &&
		cp "$KS/nodeL.pub" "$KEYS/$name.pub" &&
		echo "INSERT INTO keyslots VALUES (\"$name\", 0, \"$name\", \"$(fingerprint "$KS/nodeL.pub")\", \"current\", 1024, 0, readfile(\"$KS/nodeL.pub\"));" >>fill.sql &&
		need=$((need - k - 1)) && i=$((i + 1)) || return 1
	done &&
	sqlite3 "$DB" <fill.sql &&
	[ "$(sqlite3 "$DB" "SELECT sum(length(name) + 1) FROM keyslots")" = 8174 ] &&
	iaxkeyd_start && admin_port
'

test_expect 'a full line: the current key installed, the next key refused once' '
	ks_key nodeK && ks_key next/nodeK &&
	md5_call nodeK && grep -qx "var IAXKEY_KEY=NEW" out &&
	cmp "$KS/nodeK.pub" "$KEYS/nodeK.pub" && [ ! -e "$KEYS/_1_nodeK.pub" ] &&
	[ "$(held nodeK)" = "0|current|$(fingerprint "$KS/nodeK.pub")" ] &&
	line=$(grep "^inkeys=" "$USERS") && echo "line length: ${#line}" &&
	[ "${#line}" = 8186 ] && echo "$line" | tr "=:" "\n\n" | grep -qx nodeK &&
	! grep -q "_1_nodeK" "$USERS" && ast_conf_ok "$USERS" &&
	wait_log "level=warn event=key_refused node=nodeK role=next fingerprint=$(fingerprint "$KS/next/nodeK.pub") reason=\"inkeys line would exceed 8190 characters\"" &&
	adm "fetch nodeK" >out && grep -qx "  result      UNCHANGED" out &&
	[ "$(count_log "event=key_refused node=nodeK")" = 1 ]
'

# Promotion and a new next key at once: the roles change, no name is
# new but the next key'"'"'s, and that one does not fit.
test_expect 'a full line: roles follow a promotion, the new next key is refused' '
	c0=$(fingerprint "$KS/nodeL.pub") && n1=$(fingerprint "$KS/next/nodeL.pub") &&
	ks_promote nodeL && ks_key next/nodeL &&
	adm "fetch nodeL" >out && grep -qx "  result      UPDATED" out &&
	[ "$(held nodeL)" = "0|previous|$c0
1|current|$n1" ] &&
	[ ! -e "$KEYS/_2_nodeL.pub" ] && ! grep -q "_2_nodeL" "$USERS" &&
	wait_log "level=warn event=key_refused node=nodeL role=next fingerprint=$(fingerprint "$KS/next/nodeL.pub") reason=\"inkeys line would exceed 8190 characters\""
'

# The refused next key became current: slot 0 still holds the old
# current key (now previous), no new name fits, so the new current key
# takes slot 0 and the previous key goes.
test_expect 'a full line: at promotion the new current key takes slot 0' '
	fa=$(fingerprint "$KS/nodeK.pub") &&
	ks_promote nodeK &&
	adm "fetch nodeK" >out && grep -qx "  result      UPDATED" out &&
	cmp "$KS/nodeK.pub" "$KEYS/nodeK.pub" &&
	[ "$(held nodeK)" = "0|current|$(fingerprint "$KS/nodeK.pub")" ] &&
	wait_log "event=key_dropped node=nodeK .*slot=0 role=current fingerprint=$fa " &&
	[ "$(grep "^inkeys=" "$USERS" | wc -c)" = 8187 ] && ast_conf_ok "$USERS"
'

test_expect 'the filled line emptied again' '
	iaxkeyd_stop &&
	for f in $(sqlite3 "$DB" "SELECT name FROM keyslots WHERE node GLOB \"f[0-9][0-9][0-9]x*\" OR node IN (\"nodeX\", \"nodeL\", \"nodeK\")"); do
		rm -f "$KEYS/$f.pub" || return 1
	done &&
	sqlite3 "$DB" "DELETE FROM keyslots WHERE node GLOB \"f[0-9][0-9][0-9]x*\" OR node IN (\"nodeX\", \"nodeL\", \"nodeK\"); DELETE FROM keys WHERE node IN (\"nodeX\", \"nodeL\", \"nodeK\")" &&
	[ "$(sqlite3 "$DB" "SELECT DISTINCT node FROM keyslots")" = nodeM ]
'

# key_prefix (15) + a 64-character node: 79, slot 0 only.
LONG=n$(printf "%063d" 0 | tr 0 x)
test_expect 'per-node, 79 characters: slot 0 installed, slots 1 and 2 refused' '
	INBOUND_EXTRA="inkeys = per-node
key_prefix = iaxkey-prefix15
stale_refetch_s = 3600" iaxkeyd_conf </dev/null && iaxkeyd_start && admin_port &&
	ks_key "$LONG" && ks_key "next/$LONG" &&
	md5_call "$LONG" && grep -qx "var IAXKEY_KEY=NEW" out &&
	cmp "$KS/$LONG.pub" "$KEYS/iaxkey-prefix15$LONG.pub" &&
	[ "$(ls "$KEYS" | grep -c "$LONG")" = 1 ] &&
	grep -qx "\[iaxkey-prefix15$LONG\](iaxkeyd-template)" "$USERS" &&
	grep -qx "inkeys=iaxkey-prefix15$LONG" "$USERS" &&
	wait_log "level=warn event=key_refused node=$LONG role=next fingerprint=$(fingerprint "$KS/next/$LONG.pub") reason=\"no free slot whose name fits in 79 characters\"" &&
	adm "fetch $LONG" >out && grep -qx "  result      UNCHANGED" out &&
	[ "$(count_log "event=key_refused node=$LONG")" = 1 ]
'

# The old current key, now previous, still has slot 0: the new current
# key takes it (the previous one goes: no other slot fits).
test_expect 'per-node, 79 characters: a promotion puts the new current in slot 0' '
	fa=$(fingerprint "$KS/$LONG.pub") &&
	ks_promote "$LONG" &&
	adm "fetch $LONG" >out && grep -qx "  result      UPDATED" out &&
	cmp "$KS/$LONG.pub" "$KEYS/iaxkey-prefix15$LONG.pub" &&
	[ "$(held "$LONG")" = "0|current|$(fingerprint "$KS/$LONG.pub")" ] &&
	wait_log "event=key_dropped node=$LONG .*slot=0 role=current fingerprint=$fa "
'

test_expect 'per-node: one section per node, inkeys naming every slot' '
	ks_key nodeP && ks_key next/nodeP && md5_call nodeP &&
	grep -qx "var IAXKEY_KEY=NEW" out &&
	grep -A1 -x "\[iaxkey-prefix15nodeP\](iaxkeyd-template)" "$USERS" |
	    grep -qx "inkeys=iaxkey-prefix15nodeP:iaxkey-prefix15_1_nodeP" &&
	[ "$(grep -c "^\[iaxkey-prefix15nodeP\]" "$USERS")" = 1 ] &&
	[ "$(grep -c "^\[" "$USERS")" = 3 ]
'

# Per-node RSA leg: the user names the node, the dialplan passes RSA, so
# the one GET is not needed; the hint is asked alone (one more command),
# only for a node whose keys are held.
test_expect 'per-node RSA call with a hint: the hint alone is asked, the set fetched' '
	ks_key nodeR && md5_call nodeR && grep -qx "var IAXKEY_KEY=NEW" out &&
	ks_key next/nodeR && f=$(fingerprint "$KS/next/nodeR.pub") &&
	emu -t -C IAX2/iaxkey-prefix15nodeR-77 -v "IAXVAR(keynext)=$f" \
	    -s inbound -a "" -a RSA >out &&
	grep -qx "var IAXKEY_STATUS=RSA" out &&
	[ "$(grep -c "^S> GET FULL VARIABLE" out)" = 1 ] &&
	grep -qxF "S> GET FULL VARIABLE \${IAXVAR(keynext)}" out &&
	grep -qxF "A< 200 result=1 ($f)" out &&
	wait_log "event=inbound .*node=nodeR status=RSA .*node_src=user" &&
	wait_log "event=key_fetch node=nodeR source=hint .*result=UPDATED .*keys=2 " &&
	cmp "$KS/next/nodeR.pub" "$KEYS/iaxkey-prefix15_1_nodeR.pub"
'

test_expect 'node and RSA as arguments: the hint is asked; unknown node: no GET' '
	ks_key nodeQ && md5_call nodeQ && grep -qx "var IAXKEY_KEY=NEW" out &&
	ks_key next/nodeQ && f=$(fingerprint "$KS/next/nodeQ.pub") &&
	emu -t -v "IAXVAR(keynext)=$f" -s inbound -a nodeQ -a RSA >out &&
	grep -qx "var IAXKEY_STATUS=RSA" out &&
	[ "$(grep -c "^S> GET FULL VARIABLE" out)" = 1 ] &&
	grep -qxF "S> GET FULL VARIABLE \${IAXVAR(keynext)}" out &&
	wait_log "event=key_fetch node=nodeQ source=hint .*result=UPDATED .*keys=2 " &&
	cmp "$KS/next/nodeQ.pub" "$KEYS/iaxkey-prefix15_1_nodeQ.pub" &&
	emu -t -v "IAXVAR(keynext)=$f" -s inbound -a nodeUnheld -a RSA >out &&
	grep -qx "var IAXKEY_STATUS=RSA" out &&
	! grep -q "^S> GET FULL VARIABLE" out &&
	wait_log "event=inbound .*node=nodeUnheld status=RSA" &&
	[ "$(ks_count nodeUnheld)" = 0 ]
'

test_expect 'names: a node name cannot start with _ (it would be a slot name)' '
	md5_call "_1_nodeP" &&
	grep -qx "var IAXKEY_STATUS=INVALID" out &&
	[ "$(ks_count _1_nodeP)" = 0 ]
'

test_expect 'forget key: every slot file and the section go' '
	adm "forget key nodeP" >out && [ "$(finals out)" = OK ] &&
	[ ! -e "$KEYS/iaxkey-prefix15nodeP.pub" ] &&
	[ ! -e "$KEYS/iaxkey-prefix15_1_nodeP.pub" ] &&
	! grep -q "nodeP" "$USERS" && [ -z "$(held nodeP)" ]
'

# With an API key header, the stale refetch sends both headers.
test_expect 'stale refetch behind an API key: both headers sent' '
	iaxkeyd_stop && ks_stop && ks_start -H "X-Api-Key: k1" &&
	KS_URL="http://127.0.0.1:$KS_PORT/v1/keys/{node}" \
	    KEYSERVER_EXTRA="api_key_header = X-Api-Key: k1" iaxkeyd_conf </dev/null &&
	iaxkeyd_start && ks_key nodeK && md5_call nodeK &&
	grep -qx "var IAXKEY_KEY=NEW" out && md5_call nodeK &&
	grep -qx "var IAXKEY_KEY=UNCHANGED" out &&
	[ "$(ks_count nodeK)" = 2 ] &&
	grep -qx "# cache-control=no-cache /v1/keys/nodeK" "$T_DIR/ks.log" &&
	wait_log "event=key_fetch node=nodeK source=stale .*result=UNCHANGED"
'

# A burst of first calls goes on falling back until Asterisk has loaded
# the key they taught: those fallbacks prove nothing and fetch nothing.
test_expect 'stale: no refetch while the reload of the node'"'"'s last install is pending' '
	iaxkeyd_stop && hold_setup &&
	KS_URL="http://127.0.0.1:$KS_PORT/v1/keys/{node}" \
	    KEYSERVER_EXTRA="api_key_header = X-Api-Key: k1" \
	    INBOUND_EXTRA="stale_refetch_s = 3600" WAIT_MS=100 \
	    reload_backend_conf command "$T_DIR/hold.sh" &&
	iaxkeyd_start && ks_key nodeH && md5_call nodeH &&
	grep -qx "var IAXKEY_STATUS=FALLBACK" out &&
	wait_file "^reload " "$T_DIR/hold.reloads" &&
	[ "$(ks_count nodeH)" = 1 ] &&
	md5_call nodeH && grep -qx "var IAXKEY_KEY=PENDING" out &&
	[ "$(ks_count nodeH)" = 1 ] &&
	hold_release && wait_log "event=reload .*result=ok" &&
	md5_call nodeH && grep -qx "var IAXKEY_KEY=UNCHANGED" out &&
	[ "$(ks_count nodeH)" = 2 ] &&
	wait_log "event=key_fetch node=nodeH source=stale .*result=UNCHANGED"
'

test_expect 'clean shutdown' 'iaxkeyd_stop && ks_stop'

test_done
