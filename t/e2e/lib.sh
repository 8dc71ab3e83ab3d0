# lib.sh: the real tier.  Real Asterisk nodes on loopback, an iaxkeyd
# beside each, the real iaxkey-server; the iax.conf and extensions.conf
# blocks of docs/dialplan.md used verbatim.  Sourced by t/e2e/*.t (bash).
#
#   e2e_roots                 the Asterisk install roots to test (prints
#                             one per line; SKIPs the whole file when none)
#   e2e_version ROOT          "master" or the release, e.g. 20.15.2
#   e2e_has_auth_method ROOT  1 when CHANNEL(auth_method) exists
#   e2e_keyserver             start iaxkey-server (KSRV_URL), before nodes
#   node_new NAME ROOT        make a node: directories, ports, enrolment
#                             token, iaxkeyd.conf (IKD_* variables shape
#                             it; NODE_NAME overrides [node] name)
#   node_start NAME LAYOUT    start iaxkeyd, publish the key, write the
#                             Asterisk configuration from the guide blocks
#                             of LAYOUT (e2e_layout_blocks), boot Asterisk
#   node_stop NAME            stop Asterisk and iaxkeyd (each exit path)
#   call FROM TO EXTEN        place a call FROM -> TO, wait for its end;
#                             sets CALL_END (caller's marker line) and
#                             CALL_ANS (callee's marker line, or empty)
#   ast NAME CMD              asterisk -rx CMD on node NAME
#
# Every wait is a bounded poll on a log line (wait_log, tail -f); each
# test stops every process it started, on any exit (e2e_cleanup).

E2E_HERE=$(cd "$(dirname "$0")" && pwd)
T_TOP=$(cd "$E2E_HERE/../.." && pwd)
export T_TOP
. "$T_TOP/t/lib/keyserver.sh"

E2E_SHARED=${E2E_SHARED:-$T_TOP/../shared/asterisk}
E2E_CACHE=${E2E_CACHE:-$T_TOP/t/e2e/asterisk}
E2E_GUIDE=$T_TOP/docs/dialplan.md
E2E_SECRET=the-network-secret
WAIT_LOG_SECS=${WAIT_LOG_SECS:-30}
# Node directories: short paths (the Asterisk control socket must fit in
# sun_path, and a CI checkout may live deep).
E2E_RUN=$(mktemp -d /tmp/ikd-e2e.XXXXXX)
ln -s "$E2E_RUN" "$T_DIR/nodes"
E2E_NODES=

# Stop the helper processes a test started (their pids in E2E_PIDS; never a
# bare "wait": the nodes are background jobs of the test too).
e2e_kill_extra() {
	local p
	for p in $E2E_PIDS; do
		kill "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	E2E_PIDS=
	return 0
}

# Stop every node and the key server, then the common cleanup.
e2e_cleanup() {
	local n
	e2e_kill_extra
	ksrv_stop >/dev/null 2>&1
	for n in $E2E_NODES; do
		node_stop "$n" >/dev/null 2>&1
	done
	# Give back this test's ports.
	{
		flock 9 && [ -f "$E2E_PORTS_FILE" ] &&
		grep -v " $$\$" "$E2E_PORTS_FILE" >"$E2E_PORTS_FILE.new"
		mv "$E2E_PORTS_FILE.new" "$E2E_PORTS_FILE" 2>/dev/null
	} 9>>"$E2E_PORTS_FILE.lock"
	if [ "$t_fail" -eq 0 ] && [ -z "$T_KEEP" ]; then
		rm -rf "$E2E_RUN"
	fi
	t_cleanup
}
trap e2e_cleanup EXIT
trap 'exit 143' TERM INT HUP

# The Asterisk install roots: ASTERISK_ROOTS, or the builds in
# ../shared/asterisk installed once into t/e2e/asterisk.  With neither,
# the whole file is skipped.
e2e_roots() {
	if [ -n "${ASTERISK_ROOTS:-}" ]; then
		printf '%s\n' $ASTERISK_ROOTS
		return 0
	fi
	if [ -x "$E2E_SHARED/install" ]; then
		"$E2E_SHARED/install" "$E2E_CACHE" || {
			echo "Bail out! $E2E_SHARED/install failed"
			exit 1
		}
		return 0
	fi
	echo "1..0 # SKIP no Asterisk: set ASTERISK_ROOTS or provide $E2E_SHARED"
	exit 0
}

# The version of the build at $1: "master" for a git build, else the release.
e2e_version() {
	local v
	v=$("$1/sbin/asterisk" -V 2>/dev/null | awk '{ print $2 }')
	case "$v" in
	GIT-master-*) echo master ;;
	*) echo "$v" ;;
	esac
}

# 1 when the build at $1 has CHANNEL(auth_method): master, 20.20+, 22.10+,
# 23.4+ (reference: version table).
e2e_has_auth_method() {
	local v
	v=$(e2e_version "$1")
	[ "$v" = master ] && return 0
	awk -v v="$v" 'BEGIN {
		split(v, p, ".")
		if (p[1] >= 24 || (p[1] == 23 && p[2] >= 4) ||
		    (p[1] == 22 && p[2] >= 10) || (p[1] == 20 && p[2] >= 20))
			exit 0
		exit 1
	}'
}

# A port that is free for both TCP and UDP on 127.0.0.1 (Asterisk needs
# its ports in its configuration before it starts), below the kernel's
# ephemeral range so that no outgoing connection takes it meanwhile.  A
# port is free until it is bound, so every port handed out is kept, under
# a lock, in a registry shared by the tests that run at once (each line
# "port pid"; lines of tests that have ended are dropped).
E2E_PORTS_FILE=${TMPDIR:-/tmp}/ikd-e2e.ports
E2E_PORT_LOW=10000
E2E_PORT_HIGH=$(awk '{ print ($1 > 12000 ? $1 : 32768) }' \
    /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
e2e_port() {
	local p i line
	{
		flock 9 || return 1
		# Forget the ports of tests that have ended.
		touch "$E2E_PORTS_FILE" &&
		while read -r line; do
			kill -0 "${line#* }" 2>/dev/null && echo "$line"
		done <"$E2E_PORTS_FILE" >"$E2E_PORTS_FILE.new" &&
		mv "$E2E_PORTS_FILE.new" "$E2E_PORTS_FILE" || return 1
		for i in $(seq 200); do
			p=$((E2E_PORT_LOW + RANDOM % (E2E_PORT_HIGH - E2E_PORT_LOW)))
			grep -q "^$p " "$E2E_PORTS_FILE" && continue
			[ -z "$(ss -Htuan "sport = :$p")" ] || continue
			echo "$p $$" >>"$E2E_PORTS_FILE"
			echo "$p"
			return 0
		done
		return 1
	} 9>>"$E2E_PORTS_FILE.lock"
}

# Print the fenced block of docs/dialplan.md marked <!-- e2e:$1 -->.
guide_block() {
	awk -v name="$1" '
	$0 == "<!-- e2e:" name " -->" { armed = 1; next }
	armed && /^```/ { if (inblock) exit; inblock = 1; next }
	inblock { print; found = 1 }
	END { exit !found }' "$E2E_GUIDE"
}

# The guide's blocks with the documented placeholders replaced: the
# iaxkeyd address (agi://127.0.0.1/ -> this node's port).
guide_subst() {
	sed "s|agi://127\\.0\\.0\\.1/|agi://127.0.0.1:$2/|g" "$1"
}

# Variables of node $1 ($2 = variable name).
nv() { eval "printf '%s' \"\${N_${1}_$2}\""; }
nset() { eval "N_${1}_$2=\$3"; }

# Make node $1 on the Asterisk root $2 (in $E2E_RUN/$E2E_TAG/$1: tests set
# E2E_TAG to the version when they run a story per build).  Shaped by IKD_RELOAD (agi), IKD_MODE
# (config), IKD_INKEYS (shared), IKD_USER, IKD_RSA_USER, IKD_MIN_REFETCH,
# IKD_MAX_SESSIONS, IKD_AGI_EXTRA ([agi] lines), IKD_EXTRA ([inbound] lines),
# IKD_NODE_EXTRA ([node] lines), IKD_KS_URL (the [keyserver] url list; the
# key server's by default) and IKD_KS_EXTRA ([keyserver] lines).
node_new() {
	local n=$1 root=$2 d=$E2E_RUN/${E2E_TAG:+$E2E_TAG/}$1
	# A node of the same name from an earlier story: stopped, forgotten.
	node_stop "$n" >/dev/null 2>&1
	case " $E2E_NODES " in
	*" $n "*) ;;
	*) E2E_NODES="$E2E_NODES $n" ;;
	esac
	mkdir -p "$d/etc" "$d/keys" "$d/lib" "$d/log" "$d/run" "$d/spool" ||
	    return 1
	nset "$n" dir "$d"
	nset "$n" root "$root"
	nset "$n" name "${NODE_NAME:-$n}"
	nset "$n" started ""
	nset "$n" token ""
	if [ -n "$KS_PID" ]; then
		nset "$n" token "$("$KSRV" -f "$T_DIR/ksrv.conf" token add \
		    "$(nv "$n" name)")" || return 1
	fi
	nset "$n" iax "$(e2e_port)"
	nset "$n" agi "$(e2e_port)"
	nset "$n" ami "$(e2e_port)"
	cat >"$d/etc/asterisk.conf" <<CONF
[directories]
astetcdir => $d/etc
astmoddir => $root/lib/asterisk/modules
astdatadir => $root/var/lib/asterisk
astsbindir => $root/sbin
astvarlibdir => $d/lib
astdbdir => $d/lib
astcachedir => $d/lib
astspooldir => $d/spool
astrundir => $d/run
astlogdir => $d/log
astkeydir => $d
[options]
systemname = $n
verbose = 3
CONF
	cat >"$d/etc/modules.conf" <<CONF
[modules]
autoload=yes
noload=cdr_csv.so
noload=cdr_manager.so
noload=cel_manager.so
CONF
	cat >"$d/etc/logger.conf" <<CONF
[general]
[logfiles]
full => notice,warning,error,verbose
CONF
	cat >"$d/etc/manager.conf" <<CONF
[general]
enabled=yes
port=$(nv "$n" ami)
bindaddr=127.0.0.1
[iaxkeyd]
secret=amis3cret
read=system
write=system
CONF
	node_conf "$n"
}

# Write node $1's iaxkeyd.conf from the IKD_* variables.
node_conf() {
	local n=$1 d url
	d=$(nv "$n" dir)
	url="${KSRV_URL:-http://127.0.0.1:1}/v1/keys/{node}"
	[ -n "${IKD_KS_URL:-}" ] && url=$IKD_KS_URL
	cat >"$d/iaxkeyd.conf" <<CONF
[agi]
listen = 127.0.0.1:$(nv "$n" agi)
max_sessions = ${IKD_MAX_SESSIONS:-100}
${IKD_AGI_EXTRA:-}
[admin]
listen = 127.0.0.1:0
[log]
level = debug
syslog = no
[node]
name = $(nv "$n" name)
${IKD_NODE_EXTRA:-}
[asterisk]
config_dir = $d/etc
key_dir = $d/keys
reload = ${IKD_RELOAD:-agi}
reload_command = $(nv "$n" root)/sbin/asterisk -C $d/etc/asterisk.conf -rx "module reload {modules}"
ami_port = $(nv "$n" ami)
ami_user = iaxkeyd
ami_secret = amis3cret
[state]
db = $d/state.db
[daemon]
user =
allow_root = yes
[keyserver]
url = $url
allow_http = yes
${IKD_KS_EXTRA:-}
timeout_ms = 3000
enroll_token = $(nv "$n" token)
[outbound]
mode = ${IKD_MODE:-config}
${IKD_RSA_USER:+rsa_user = $IKD_RSA_USER}
[inbound]
inkeys = ${IKD_INKEYS:-shared}
user = ${IKD_USER:-iaxkeyd}
wait_ms = ${IKD_WAIT_MS:-5000}
min_refetch_s = ${IKD_MIN_REFETCH:-60}
${IKD_EXTRA:-}
CONF
}

# The shared layout that build $1 can run: one user section for both legs
# where CHANNEL(auth_method) tells them apart, else a user section per leg
# (the inkeys line on iaxkeyd-rsa, callers' RSA leg as {user}-rsa).  Sets
# LAYOUT and the IKD_* variables it needs.
e2e_shared() {
	if e2e_has_auth_method "$1"; then
		LAYOUT=shared IKD_USER= IKD_RSA_USER=
	else
		LAYOUT=shared-old IKD_USER=iaxkeyd-rsa IKD_RSA_USER='{user}-rsa'
	fi
}

# The key server and nodes A and B on root $1, both of layout $2, started.
e2e_network() {
	e2e_keyserver &&
	node_new nodeA "$1" && node_new nodeB "$1" &&
	node_start nodeA "$2" && node_start nodeB "$2"
}

# Run the story $1 (a function taking the root) on every build, each in a
# directory of its own, and end the TAP stream.
e2e_each_root() {
	local root
	for root in $(e2e_roots); do
		E2E_TAG=$(e2e_version "$root")
		"$1" "$root"
	done
	test_done
}

# The guide blocks of a layout, in the order they go into iax.conf and
# extensions.conf; docs/dialplan.md says which layout is for which setup.
#   shared      callee shared user, one section (needs auth_method)
#   shared-old  callee shared user, one section per leg (any version)
#   per-node    callee per-node sections, MD5 user for first contact
e2e_layout_blocks() {
	case "$1" in
	shared)		echo "iax-caller iax-callee-shared" \
			    "ext-caller ext-callee" ;;
	shared-old)	echo "iax-caller iax-callee-shared-old" \
			    "ext-caller ext-callee-legs" ;;
	per-node)	echo "iax-caller iax-callee-per-node" \
			    "ext-caller ext-callee-legs" ;;
	*)		return 1 ;;
	esac
}

# Start node $1: iaxkeyd, the key published, Asterisk booted with the
# guide's blocks of layout $2.
node_start() {
	local n=$1 layout=${2:-shared} d root
	d=$(nv "$n" dir)
	root=$(nv "$n" root)
	if [ -z "$(nv "$n" started)" ]; then
		"$IKD" -k -f "$d/iaxkeyd.conf" >/dev/null || return 1
	fi
	ikd_start "$n" || return 1
	if [ -n "$KSRV_URL" ] && [ -z "$(nv "$n" started)" ]; then
		printf 'key upload\nquit\n' |
		    timeout 30 nc -N 127.0.0.1 "$(nv "$n" admin)" >"$d/upload.out"
		grep -q '^OK' "$d/upload.out" || {
			cat "$d/upload.out"
			return 1
		}
	fi
	node_files "$n" "$layout" || return 1
	: >"$d/log/full"
	"$root/sbin/asterisk" -C "$d/etc/asterisk.conf" -f -n \
	    </dev/null >"$d/log/console" 2>&1 &
	nset "$n" pid $!
	nset "$n" started 1
	ast_wait_booted "$n"
}

# Write node $1's iax.conf and extensions.conf: the guide's blocks of
# layout $2, then the test's own part.
node_files() {
	local n=$1 d b port
	d=$(nv "$n" dir)
	port=$(nv "$n" agi)
	: >"$d/etc/iax.conf"
	: >"$d/etc/extensions.conf"
	for b in $(e2e_layout_blocks "$2"); do
		case "$b" in
		iax-*) guide_block "$b" >>"$d/etc/iax.conf" ;;
		ext-*) guide_block "$b" | guide_subst /dev/stdin "$port" \
			    >>"$d/etc/extensions.conf" ;;
		esac || { echo "guide block $b missing"; return 1; }
	done
	# The test's own part: ports, debug, and the contexts around the
	# guide's (placing calls, the local extension, markers).
	cat >>"$d/etc/iax.conf" <<CONF

[general](+)
bindport=$(nv "$n" iax)
bindaddr=127.0.0.1
authdebug=yes
CONF
	cat >>"$d/etc/extensions.conf" <<'CONF'

[e2e-out]
exten => _X.,1,Verbose(1,E2E start exten=${EXTEN})
 same => n,Gosub(iaxkey-dial,s,1(${E2E_DIAL}))
 same => n,Verbose(1,E2E end exten=${EXTEN} dialstatus=${DIALSTATUS} cause=${HANGUPCAUSE} agi=${AGISTATUS} status=${IAXKEY_STATUS})
 same => n,Hangup()

[net-calls]
exten => _X.,1,Answer()
 same => n,Verbose(1,E2E answered exten=${EXTEN} status=${IAXKEY_STATUS} key=${IAXKEY_KEY} secure=${CHANNEL(secure_media)} chan=${CHANNEL(name)})
 same => n,Hangup()
CONF
}

# Poll (bounded) until Asterisk on node $1 answers on its control socket
# and has fully booted.
ast_wait_booted() {
	local i
	for i in $(seq 300); do
		if timeout 20 "$(nv "$1" root)/sbin/asterisk" \
		    -C "$(nv "$1" dir)/etc/asterisk.conf" \
		    -rx 'core waitfullybooted' >/dev/null 2>&1; then
			return 0
		fi
		kill -0 "$(nv "$1" pid)" 2>/dev/null || break
		sleep 0.1
	done
	echo "Asterisk on $1 did not boot:"
	tail -20 "$(nv "$1" dir)/log/console"
	return 1
}

# asterisk -rx on node $1.
ast() {
	timeout 30 "$(nv "$1" root)/sbin/asterisk" \
	    -C "$(nv "$1" dir)/etc/asterisk.conf" -rx "$2"
}

# Start iaxkeyd of node $1 (again), on its fixed AGI port (the dialplan
# names it); the console's port in N_<n>_admin.
ikd_start() {
	local n=$1 d
	d=$(nv "$n" dir)
	[ -s "$d/iaxkeyd.log" ] && cat "$d/iaxkeyd.log" >>"$d/iaxkeyd.log.old"
	: >"$d/iaxkeyd.log"
	"$IKD" -d -f "$d/iaxkeyd.conf" >>"$d/iaxkeyd.log" 2>&1 &
	nset "$n" ikd $!
	wait_log 'event=start ' "$d/iaxkeyd.log" || {
		cat "$d/iaxkeyd.log"
		return 1
	}
	nset "$n" admin "$(sed -n 's/.*event=listen what=admin addr=127\.0\.0\.1:\([0-9]*\).*/\1/p' \
	    "$d/iaxkeyd.log" | tail -n 1)"
}

# Stop iaxkeyd of node $1: SIGTERM, exit 0, no sanitizer report.
ikd_stop() {
	local pid
	pid=$(nv "$1" ikd)
	[ -n "$pid" ] || return 0
	nset "$1" ikd ""
	daemon_stop "$pid" "$(nv "$1" dir)/iaxkeyd.log"
}

# Stop node $1: Asterisk (core stop now; killed if it does not go) and
# iaxkeyd.
node_stop() {
	local n=$1 pid i
	pid=$(nv "$n" pid)
	if [ -n "$pid" ]; then
		ast "$n" 'core stop now' >/dev/null 2>&1
		for i in $(seq 100); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -9 "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
		nset "$n" pid ""
	fi
	ikd_stop "$n"
}

# The MD5+AES dial string from $1 to $2 (the node's routing source would
# produce it): the shared user and secret, $2's address, exten $3.
dial_to() {
	printf 'IAX2/%s:%s@127.0.0.1:%s/%s' "${DIAL_USER:-iaxkeyd}" \
	    "$E2E_SECRET" "$(nv "$2" iax)" "$3"
}

# Place a call from $1 to $2, extension $3 (unique per test; dialled on the
# callee as $4 when given: a Local channel name holds 79 characters at
# most), and wait for the caller's end marker; CALL_END and CALL_ANS hold
# the marker lines.
call() {
	local from=$1 to=$2 exten=$3 far=${4:-$3} fd td
	fd=$(nv "$from" dir)
	td=$(nv "$to" dir)
	ast "$from" "dialplan set global E2E_DIAL $(dial_to "$from" "$to" "$far")" \
	    >/dev/null &&
	ast "$from" "channel originate Local/$exten@e2e-out application Wait 1" \
	    >/dev/null &&
	wait_log "app_verbose.c: E2E end exten=$exten " "$fd/log/full" || {
		echo "call $from -> $to ($exten): no end marker"
		tail -30 "$fd/log/full"
		return 1
	}
	CALL_END=$(grep "app_verbose.c: E2E end exten=$exten " "$fd/log/full" |
	    tail -n 1)
	CALL_ANS=$(grep "app_verbose.c: E2E answered exten=$far " \
	    "$td/log/full" | tail -n 1)
	return 0
}

# Send the console commands $2... to node $1's iaxkeyd; print the replies.
console() {
	local n=$1
	shift
	printf '%s\n' "$@" quit |
	    timeout 30 nc -N 127.0.0.1 "$(nv "$n" admin)"
}

# The first 12 hex digits of the key file $1's fingerprint, or "-".
key_short() {
	[ -f "$1" ] || { echo -; return 0; }
	openssl pkey -pubin -in "$1" -outform DER 2>/dev/null | sha256sum |
	    cut -c1-12
}

# The field $1 of marker line $2 (key=value words).
mfield() {
	printf '%s\n' "$2" | tr ' ' '\n' | sed -n "s/^$1=//p" | head -n 1
}

# Count lines matching $2 in node $1's Asterisk log.
ast_count() {
	grep -E -c -- "$2" "$(nv "$1" dir)/log/full"
}

# Start the key server, on a port of its own that a restart (ksrv_stop,
# ksrv_start) keeps; node_new then asks it for each node's enrolment token.
e2e_keyserver() {
	ksrv_stop >/dev/null 2>&1
	rm -rf "$T_DIR/store"
	E2E_KS_PORT=$(e2e_port) &&
	ksrv_conf </dev/null &&
	sed -i "s/^listen = 127\.0\.0\.1:0\$/listen = 127.0.0.1:$E2E_KS_PORT/" \
	    "$T_DIR/ksrv.conf" &&
	ksrv_start
}
