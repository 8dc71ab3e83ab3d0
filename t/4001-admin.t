#!/bin/bash
# admin console without a password (loopback): line framing (LF, CRLF,
# telnet IAC), the reply grammar of every command, argument checks, HTTP
# refusal, and the commands that change state: forget peer, fetch, forget
# key, reload asterisk, reload config, log level.
. "$(dirname "$0")/lib/iaxkeyd.sh"

# Raw bytes (printf format) to the console.
adm_raw() {
	printf "$1" | timeout 20 nc -N 127.0.0.1 "$ADMIN_PORT"
}

# The number of replies (final lines) in a file.
replies() {
	grep -c -E '^(OK$|ERR )' "$1"
}

PEERS=$T_DIR/ast/iaxkeyd-peers.conf
USERS=$T_DIR/ast/iaxkeyd-users.conf

test_expect 'key server stub' 'ks_start'
KS_URL="http://127.0.0.1:$KS_PORT/v1/keys/{node}"
INBOUND_EXTRA="negative_ttl = 300"
test_expect 'daemon with a console on an ephemeral port' '
	admin_conf <<-EOF &&
	listen = 127.0.0.1:0
	EOF
	own_key && iaxkeyd_start && admin_port
'

test_expect 'every read-only command ends with OK; LF line ends' '
	adm help "help status" "help forget" status sessions peers keys \
	    callers "callers 5" stats "stats prometheus" "log level" >out &&
	[ "$(replies out)" = 12 ] &&
	[ "$(finals out | sort -u)" = OK ] &&
	grep -q "^    forget peer <name>" out &&
	grep -q "^  forget key <node>" out &&
	grep -q "^  version      " out &&
	grep -qx "  agi listen   127.0.0.1:$AGI_PORT" out &&
	grep -q "^  admin listen 127.0.0.1:$ADMIN_PORT" out &&
	grep -q "^  log level    debug" out &&
	grep -qx "  outbound as  mode config, RSA leg user {user}" out &&
	grep -qx "  inkeys       shared, on user iaxkeyd" out &&
	grep -q "^  (0 peers)" out &&
	grep -q "^  (0 keys)" out &&
	grep -q "^  (0 callers)" out &&
	grep -q "^iaxkeyd_build_info{version=" out
'

test_expect 'CRLF, CR NUL and bare CR end lines too; blank lines get no reply' '
	adm_raw "status\r\n\r\n\nlog level\r\000stats\rsessions\r\n" >out &&
	[ "$(replies out)" = 4 ] && [ "$(finals out | sort -u)" = OK ] &&
	[ "$(tr -cd "\r" <out | wc -c)" = 0 ]
'

test_expect 'an unterminated last line runs at EOF' '
	adm_raw "log level\nstatus" >out &&
	[ "$(replies out)" = 2 ] && grep -q "^  version " out
'

test_expect 'telnet IAC sequences are consumed, never text' '
	adm_raw "\377\375\003\377\373\030\377\372\030\001\377\360sta\377\373\001tu\377\377s\r\n\377\364help st\377\361atus\n" >out &&
	[ "$(replies out)" = 2 ] && [ "$(finals out | sort -u)" = OK ] &&
	grep -q "^  version      " out &&
	grep -q "^  status$" out
'

test_expect 'quoted words: "help \"log\" level" and bad quoting' '
	adm "help \"log\" \"level\"" "help \"log" "help \"lo\"g" >out &&
	finals out >f &&
	test_cmp f <<-EOF
	OK
	ERR unbalanced quotes
	ERR closing quote must be followed by a space
	EOF
'

test_expect 'unknown, incomplete and misused commands: ERR, the session goes on' '
	adm "nosuch" "forget" "reload" "stats foo" "peer" "log level loud" \
	    "callers 0" "callers 1001" "callers x" "peers a/b" \
	    "peer ../etc" "key a:b" "fetch $(printf "%080d" 0)" \
	    "forget peer a;b" "watch loud" "status" >out &&
	finals out >f &&
	test_cmp f <<-EOF
	ERR unknown command nosuch; try help
	ERR incomplete command
	ERR incomplete command
	ERR usage: stats
	ERR usage: peer <name>
	ERR level must be debug, info, warn or error
	ERR N must be 1 to 1000
	ERR N must be 1 to 1000
	ERR N must be 1 to 1000
	ERR bad glob: name characters and * ? [ ] ! only, at most 80
	ERR bad name: [A-Za-z0-9._-], at most 79
	ERR bad node name: [A-Za-z0-9._-], at most 64
	ERR bad node name: [A-Za-z0-9._-], at most 64
	ERR bad name: [A-Za-z0-9._-], at most 79
	ERR level must be debug, info, warn or error
	OK
	EOF
'

test_expect 'untrusted words are escaped in replies' '
	adm_raw "bad\033[2Jcmd\n" >out &&
	grep -qF "ERR unknown command \"bad\\x1b[2Jcmd\"; try help" out
'

test_expect 'a line over 4 KiB: ERR line too long, then closed' '
	{ head -c 5000 /dev/zero | tr "\0" a; printf "\nstatus\n"; } |
	    timeout 20 nc -N 127.0.0.1 "$ADMIN_PORT" >out &&
	finals out >f &&
	test_cmp f <<-EOF &&
	ERR line too long
	EOF
	wait_log "event=admin_close .*reason=\"line too long\""
'

test_expect 'an HTTP request is closed without a reply' '
	adm_raw "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n" >out &&
	[ ! -s out ] &&
	wait_log "event=admin_refused .*reason=http" &&
	adm_raw "POST /x HTTP/1.1\r\n\r\nstatus\n" >out && [ ! -s out ] &&
	adm "status" "Host: evil.example" "status" >out &&
	[ "$(replies out)" = 1 ] &&
	[ "$(count_log "event=admin_refused .*reason=http")" = 3 ]
'

test_expect 'open and close are logged' '
	wait_log "event=admin_open client=[0-9]+ addr=127.0.0.1:[0-9]+ clients=1" &&
	wait_log "event=admin_close client=[0-9]+ addr=127.0.0.1:[0-9]+ commands=[0-9]+ ms=[0-9]+ reason=\"closed by client\""
'

test_expect 'quit answers OK and closes; what follows is not run' '
	adm quit status >out &&
	finals out >f &&
	test_cmp f <<-EOF &&
	OK
	EOF
	wait_log "event=admin_close .*reason=quit"
'

test_expect 'sessions lists an active AGI session' '
	emu_bg emu.out -p 3 -s ping &&
	wait_log "event=session_start" &&
	adm sessions >out &&
	kill $EMU_PID && wait $EMU_PID;
	grep -E -q "^  [0-9a-f]{12} +- +env +[0-9]+\.[0-9]{3}s" out &&
	grep -q "^  (1 session, 1 active)" out &&
	[ "$(finals out)" = OK ]
'

test_expect 'status and stats count sessions by script and status' '
	emu -n 5 -s ping >out &&
	emu -s nosuch >out &&
	adm status stats "stats prometheus" >out &&
	[ "$(finals out | sort -u)" = OK ] &&
	grep -q "^  session_status script=ping status=OK count=5$" out &&
	grep -q "^  session_status script=unknown status=ERROR count=1$" out &&
	grep -E -q "^  session_ms script=ping count=5 p50=[0-9]+ p90=[0-9]+ p99=[0-9]+ max=[0-9]+$" out &&
	grep -q "^iaxkeyd_sessions_total{script=\"ping\",status=\"OK\"} 5$" out &&
	grep -q "^iaxkeyd_session_duration_seconds_bucket{script=\"ping\",le=\"+Inf\"} 5$" out &&
	grep -q "^iaxkeyd_session_duration_seconds_count{script=\"ping\"} 5$" out &&
	grep -E -q "^iaxkeyd_session_duration_seconds_bucket\{script=\"ping\",le=\"0.001\"\} [0-5]$" out
'

test_expect 'stats prometheus is valid text exposition' '
	adm "stats prometheus" >out &&
	sed "\$d" out >prom &&
	! grep -v -E "^(# (HELP|TYPE) iaxkeyd_[a-z_]+ .+|iaxkeyd_[a-z_]+(\{[a-z_]+=\"[^\"]*\"(,[a-z_]+=\"[^\"]*\")*\})? [0-9]+(\.[0-9]+)?)$" prom &&
	[ "$(grep -c "^# TYPE" prom)" = "$(grep -c "^# HELP" prom)" ] &&
	[ "$(tail -n 1 out)" = OK ]
'

test_expect 'an outbound peer: peers, peers glob, peer (secret hidden)' '
	emu -L "$T_DIR/reloads" -s outbound -a "IAX2/alice:s3cr3t@192.0.2.10/100" >out &&
	grep -qx "var IAXKEY_STATUS=OK" out &&
	emu -s outbound -a "IAX2/bob:pw@198.51.100.7:4570/200" >out &&
	grep -qx "var IAXKEY_STATUS=OK" out &&
	adm peers "peers 192.0.2.*" "peers *_4570_*" "peers zz*" \
	    "peer 192.0.2.10_4569_alice" "peer nosuch" >out &&
	finals out >f &&
	test_cmp f <<-EOF &&
	OK
	OK
	OK
	OK
	OK
	ERR no such peer
	EOF
	grep -c "^  192.0.2.10_4569_alice " out >n && [ "$(cat n)" = 2 ] &&
	grep -c "^  198.51.100.7_4570_bob " out >n && [ "$(cat n)" = 2 ] &&
	grep -q "^  (2 peers)" out && grep -q "^  (0 peers)" out &&
	grep -q "^  secret     (set)$" out &&
	grep -q "^  loaded     yes$" out &&
	grep -q "^  dial       IAX2/192.0.2.10_4569_alice/<exten>$" out &&
	! grep -q s3cr3t out
'

test_expect 'forget peer: store row and file section go, one reload later' '
	grep -qx "\[192.0.2.10_4569_alice\]" "$PEERS" &&
	adm "forget peer 192.0.2.10_4569_alice" "forget peer 192.0.2.10_4569_alice" >out &&
	finals out >f &&
	test_cmp f <<-EOF &&
	OK
	ERR no such peer
	EOF
	grep -q "^  reload     pending: reload = agi runs it with the next call" out &&
	! grep -q "192.0.2.10_4569_alice" "$PEERS" &&
	grep -qx "\[198.51.100.7_4570_bob\]" "$PEERS" &&
	ast_conf_ok "$PEERS" &&
	sqlite3 "$T_DIR/state.db" "SELECT name FROM peers" >db &&
	test_cmp db <<-EOF &&
	198.51.100.7_4570_bob
	EOF
	wait_log "event=admin_command client=[0-9]+ addr=127.0.0.1:[0-9]+ cmd=\"forget peer\" arg=192.0.2.10_4569_alice result=ok" &&
	emu -s ping >out &&
	grep -qx "reload chan_iax2 status=SUCCESS" out
'

test_expect 'fetch installs a key from the key server' '
	ks_key nodeF &&
	adm "fetch nodeF" >out &&
	grep -q "^  result      NEW$" out &&
	grep -q "^  fingerprint $(fingerprint "$T_DIR/ks/nodeF.pub")$" out &&
	grep -q "^  reload     pending: reload = agi runs it with the next call" out &&
	[ "$(finals out)" = OK ] &&
	cmp "$T_DIR/ks/nodeF.pub" "$T_DIR/keys/nodeF.pub" &&
	grep -qx "inkeys=nodeF" "$USERS" &&
	[ "$(ks_count nodeF)" = 1 ] &&
	wait_log "event=key_fetch node=nodeF source=console .*result=NEW"
'

test_expect 'keys, keys glob, key' '
	adm keys "keys node?" "keys x*" "key nodeF" "key nosuch" >out &&
	finals out >f &&
	test_cmp f <<-EOF &&
	OK
	OK
	OK
	OK
	ERR no such key
	EOF
	[ "$(grep -c "^  nodeF  *1024 NEW  *yes " out)" = 2 ] &&
	grep -q "^  (0 keys)" out &&
	grep -q "^  fingerprint $(fingerprint "$T_DIR/ks/nodeF.pub")$" out &&
	grep -q "^  bits        1024$" out &&
	grep -q "^  source      console$" out &&
	grep -q "^  status      NEW$" out &&
	grep -E -q "^  fetched     20[0-9]{2}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z$" out &&
	grep -E -q "^  changed     20[0-9]{2}-" out &&
	grep -q "^  file        $T_DIR/keys/nodeF.pub$" out
'

test_expect 'fetch again: UNCHANGED (forced past the rate limit); unknown: ERR' '
	adm "fetch nodeF" "fetch nobody" >out &&
	grep -q "^  result      UNCHANGED$" out &&
	grep -q "^  result      NOT_FOUND$" out &&
	finals out >f &&
	test_cmp f <<-EOF &&
	OK
	ERR fetch NOT_FOUND
	EOF
	[ "$(ks_count nodeF)" = 2 ]
'

test_expect 'a slow fetch defers its reply; later commands wait their turn' '
	ks_key nodeS && echo "delay 400" >"$T_DIR/ks/nodeS.behave" &&
	adm "fetch nodeS" "log level" >out &&
	finals out >f &&
	test_cmp f <<-EOF &&
	OK
	OK
	EOF
	[ "$(grep -n "result      NEW" out | cut -d: -f1)" -lt \
	  "$(grep -n "log level  debug" out | cut -d: -f1)" ]
'

test_expect 'another client is served while a fetch is pending' '
	ks_key nodeT && echo "hang" >"$T_DIR/ks/nodeT.behave" &&
	{ adm "fetch nodeT" >slow & slow_pid=$!; } &&
	wait_log "event=admin_command .*cmd=fetch arg=nodeT result=started" &&
	adm status >out &&
	[ "$(finals out)" = OK ] &&
	kill -0 $slow_pid &&
	wait $slow_pid && grep -q "^  result      FAILED$" slow
'

test_expect 'forget key: store row, .pub file and inkeys go' '
	adm "forget key nodeF" "forget key nodeF" "key nodeF" >out &&
	finals out >f &&
	test_cmp f <<-EOF &&
	OK
	ERR no such key
	ERR no such key
	EOF
	[ ! -e "$T_DIR/keys/nodeF.pub" ] &&
	! grep -q "nodeF" "$USERS" &&
	grep -q "nodeS" "$USERS" &&
	ast_conf_ok "$USERS" &&
	[ -z "$(sqlite3 "$T_DIR/state.db" "SELECT node FROM keys WHERE node = '"'"'nodeF'"'"'")" ] &&
	emu -s ping >out &&
	grep -qx "reload chan_iax2,res_crypto status=SUCCESS" out
'

test_expect 'callers: most recent first, N' '
	ks_key nodeC1 && ks_key nodeC2 &&
	emu -v "IAXPEER(CURRENTCHANNEL)=192.0.2.51" -s inbound -a nodeC1 -a MD5 >out &&
	emu -v "IAXPEER(CURRENTCHANNEL)=192.0.2.52" -s inbound -a nodeC2 -a MD5 >out &&
	sqlite3 "$T_DIR/state.db" "UPDATE callers SET last_seen = last_seen - 10 WHERE node = '"'"'nodeC1'"'"'" &&
	adm callers "callers 1" >out &&
	[ "$(finals out | sort -u)" = OK ] &&
	grep -E "^  nodeC[12] " out | cut -c3-8 >order &&
	test_cmp order <<-EOF &&
	nodeC2
	nodeC1
	nodeC2
	EOF
	grep -E -q "^  nodeC1 +192.0.2.51 +1 20[0-9-]+T[0-9:]+Z +NEW$" out &&
	grep -q "^  (2 callers)" out && grep -q "^  (1 caller)" out
'

test_expect 'reload asterisk: requested, carried by the next call (agi)' '
	adm "reload asterisk" >out &&
	[ "$(finals out)" = OK ] &&
	grep -q "^  reload     pending: reload = agi runs it with the next call" out &&
	emu -s ping >out &&
	grep -qx "reload chan_iax2,res_crypto status=SUCCESS" out &&
	adm status >out &&
	grep -E -q "^  reloads      [0-9]+ \(ok [0-9]+, failed 0, refused 0\), last ok in [0-9]+ ms, backend agi$" out
'

test_expect 'sync starts a round' '
	adm sync >out &&
	[ "$(finals out)" = OK ] &&
	wait_log "event=sync " &&
	wait_log "event=admin_command .*cmd=sync result=started"
'

test_expect 'log level: set, shown by status, bad level refused' '
	adm "log level warn" status "log level info" >out &&
	finals out >f &&
	test_cmp f <<-EOF &&
	OK
	OK
	OK
	EOF
	grep -q "^  log level  warn (was debug)$" out &&
	grep -q "^  log level    warn$" out &&
	grep -q "^  log level  info (was warn)$" out &&
	adm "log level debug" >out && [ "$(finals out)" = OK ]
'

test_expect 'reload config: its log lines in the reply; a bad file is refused' '
	adm "reload config" >out &&
	[ "$(finals out)" = OK ] &&
	grep -q "^  ts=.* event=config_reload .*status=ok" out &&
	cp "$T_DIR/iaxkeyd.conf" "$T_DIR/good.conf" &&
	printf "[agi]\nbogus = 1\n" >>"$T_DIR/iaxkeyd.conf" &&
	adm "reload config" status >out &&
	finals out >f &&
	test_cmp f <<-EOF &&
	ERR configuration not reloaded; the old one stays (see above)
	OK
	EOF
	grep -q "^  ts=.* event=config_reload .*status=error reason=.*bogus" out &&
	cp "$T_DIR/good.conf" "$T_DIR/iaxkeyd.conf"
'

test_expect 'the daemon stops cleanly with clients connected, a fetch pending' '
	exec 3<>"/dev/tcp/127.0.0.1/$ADMIN_PORT" &&
	printf "status\n" >&3 && read -r line <&3 &&
	ks_key nodeZ && echo "delay 1500" >"$T_DIR/ks/nodeZ.behave" &&
	{ adm "fetch nodeZ" >pending & pending_pid=$!; } &&
	wait_log "event=admin_command .*cmd=fetch arg=nodeZ result=started" &&
	iaxkeyd_stop &&
	wait $pending_pid; ! grep -q "^OK" pending &&
	wait_log "event=admin_close .*reason=shutdown" &&
	exec 3<&-
'

test_done
