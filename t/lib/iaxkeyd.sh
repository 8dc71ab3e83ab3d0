# iaxkeyd.sh: start iaxkeyd for a shell test (sourced after tap.sh).
#
#   iaxkeyd_conf [section lines...]   write $T_DIR/iaxkeyd.conf; extra ini
#                                     text on stdin is appended
#   iaxkeyd_start                     start it (-d), wait for event=start,
#                                     set AGI_PORT and IKD_PID
#   wait_log PATTERN                  wait (inotify via tail -f, bounded)
#                                     until the daemon log has PATTERN
#   iaxkeyd_stop                      SIGTERM, wait, check exit 0 and
#                                     no sanitizer report
#   emu ARGS...                       run the Asterisk emulator against it
#   wait_file PATTERN FILE            poll (bounded) a file the daemon
#                                     replaces whole until it has PATTERN
#   bounded CMD...                    run a command that must end by itself
#   metrics_port [LOG]                wait for the /metrics listen line of
#                                     the daemon log (or LOG), set
#                                     METRICS_PORT
#   scrape PORT [CURL ARGS...]        GET /metrics on 127.0.0.1:PORT to
#                                     stdout; fails unless 200
#   series PAGE SERIES                print the value of one series (exact
#                                     name{labels}) of a scraped page
#   promlint PAGE                     promtool check metrics finds nothing
#   test_promlint DESC BODY           a test: BODY writes $T_DIR/page, then
#                                     promlint; a TAP skip without promtool
#   need_promtool                     exit with a TAP skip when Debian's
#                                     prometheus package is missing
#
# Everything lives in $T_DIR (t/trash.<test>.XXXXXX), the working directory
# of the test, removed on success.  Whatever a test started is killed when
# it exits, however it exits (t_cleanup): a busy machine makes a test fail,
# never leaves a daemon behind.  Tests wait on log lines and state, never
# on time: the daemon's own deadlines (wait_ms, timeout_ms) are set far
# above what a loaded machine needs unless a test is about them.

T_TOP=${T_TOP:-$(cd "$(dirname "$0")/.." && pwd)}
cd "$T_TOP" || exit 1
T_NAME=$(basename "$0" .t)
T_DIR=$(mktemp -d "$T_TOP/t/trash.$T_NAME.XXXXXX")
IKD_PID=
KS_PID=
AMI_PID=
EMU=$T_TOP/t/helper/fake-asterisk
IKD=$T_TOP/agi/iaxkeyd
# Relative file names in test bodies (out, err) land in the trash directory.
cd "$T_DIR" || exit 1

. "$T_TOP/t/lib/tap.sh"

# The processes this test left running, one id a line: every descendant
# of the test shell, and any process whose command line names $T_DIR (a
# daemon that detached, e.g. iaxkeyd without -d).
t_leftovers() {
	ps -e -o pid=,ppid=,args= 2>/dev/null | awk -v top="$$" -v dir="$T_DIR/" '
	{
		parent[$1] = $2
		if (index($0, dir) > 0 && $3 != "ps" && $3 != "awk")
			named[$1] = 1
	}
	END {
		for (p in parent) {
			for (q = parent[p]; q > 1; q = parent[q]) {
				if (q == top) { named[p] = 1; break }
				if (++hops[p] > 64) break
			}
		}
		for (p in named)
			print p
	}'
}

# Kill what is left and remove the directory unless a test failed.  Runs
# on every exit of the test, TERM, INT and HUP included.
t_cleanup() {
	trap - EXIT
	if [ -n "$IKD_PID" ]; then
		kill -9 "$IKD_PID" 2>/dev/null
	fi
	if [ -n "$KS_PID" ]; then
		kill "$KS_PID" 2>/dev/null
	fi
	if [ -n "$AMI_PID" ]; then
		kill "$AMI_PID" 2>/dev/null
	fi
	if [ -f "$T_DIR/hold.pids" ]; then
		kill $(cat "$T_DIR/hold.pids") 2>/dev/null
	fi
	for t_pid in $(t_leftovers); do
		kill -9 "$t_pid" 2>/dev/null
	done
	wait 2>/dev/null
	if [ "$t_fail" -eq 0 ] && [ -z "$T_KEEP" ]; then
		rm -rf "$T_DIR"
	else
		echo "# kept $T_DIR" >&2
	fi
}
trap t_cleanup EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM

# Run a command that must end by itself (a daemon expected to refuse to
# start): killed after BOUND_SECS (60) so a wrong start fails the test
# instead of hanging the suite.
bounded() {
	timeout -s KILL "${BOUND_SECS:-60}" "$@"
}

# Write a configuration; ini text on stdin is appended (extra sections).
iaxkeyd_conf() {
	mkdir -p "$T_DIR/ast" "$T_DIR/keys" &&
	cat >"$T_DIR/iaxkeyd.conf" <<CONF
[agi]
listen = 127.0.0.1:0
max_sessions = ${MAX_SESSIONS:-100}
env_timeout_ms = ${ENV_TIMEOUT_MS:-5000}
command_timeout_ms = ${COMMAND_TIMEOUT_MS:-5000}
session_timeout_ms = ${SESSION_TIMEOUT_MS:-20000}
drain_timeout_ms = ${DRAIN_TIMEOUT_MS:-10000}

[admin]
listen = ${ADMIN_LISTEN:-127.0.0.1:0}

[log]
level = ${LOG_LEVEL:-debug}
syslog = no

[asterisk]
config_dir = $T_DIR/ast
key_dir = $T_DIR/keys
reload = ${RELOAD_BACKEND:-agi}
reload_retries = ${RELOAD_RETRIES:-5}
reload_backoff_ms = ${RELOAD_BACKOFF_MS:-20}
${ASTERISK_EXTRA:-}

[state]
db = $T_DIR/state.db

[keyserver]
url = ${KS_URL:-http://127.0.0.1:1/v1/keys/{node\}}
allow_http = yes
timeout_ms = ${KS_TIMEOUT_MS:-10000}
${KEYSERVER_EXTRA:-}

[inbound]
wait_ms = ${WAIT_MS:-15000}
min_refetch_s = ${MIN_REFETCH_S:-0}
${INBOUND_EXTRA:-}

[daemon]
; The suite runs as root; t/3007-privileges.t tests the switch.
user = ${DAEMON_USER:-}
group = ${DAEMON_GROUP:-}
allow_root = ${ALLOW_ROOT:-yes}

[node]
name = testnode
CONF
	if [ ! -t 0 ]; then
		cat >>"$T_DIR/iaxkeyd.conf"
	fi
}

# Wait until the log file $2 (default the daemon log) holds a line matching
# the extended regex $1.  tail -F follows the file through inotify, and
# waits for it when it does not exist yet (the output file of a background
# job is created by that job, which a busy machine may not have run yet);
# the timeout only bounds a test that is failing anyway.
wait_log() {
	w_fifo=$T_DIR/wait.fifo
	rm -f "$w_fifo" && mkfifo "$w_fifo" || return 1
	timeout "${WAIT_LOG_SECS:-20}" tail -n +1 -F "${2:-$T_DIR/daemon.log}" \
	    >"$w_fifo" 2>/dev/null &
	w_pid=$!
	grep -E -m1 -q -- "$1" <"$w_fifo"
	w_rc=$?
	kill "$w_pid" 2>/dev/null
	wait "$w_pid" 2>/dev/null
	rm -f "$w_fifo"
	return $w_rc
}

# Wait until file $2, which the daemon replaces whole (a rename), has a
# line matching the extended regex $1: polled, bounded by WAIT_LOG_SECS.
wait_file() {
	for _ in $(seq $((${WAIT_LOG_SECS:-20} * 10))); do
		grep -E -q -- "$1" "$2" 2>/dev/null && return 0
		sleep 0.1
	done
	echo "wait_file: no /$1/ in $2"
	return 1
}

# Count daemon log lines matching $1.
count_log() {
	grep -E -c -- "$1" "$T_DIR/daemon.log"
}

# Start the daemon in the foreground (background job), wait until it has
# started.  A daemon a failed test left running is killed first.
iaxkeyd_start() {
	if [ -n "$IKD_PID" ]; then
		kill -9 "$IKD_PID" 2>/dev/null
		wait "$IKD_PID" 2>/dev/null
		IKD_PID=
	fi
	: >"$T_DIR/daemon.log"
	"$IKD" -d -f "$T_DIR/iaxkeyd.conf" >>"$T_DIR/daemon.log" 2>&1 &
	IKD_PID=$!
	# event=start: everything is set up (the signal handlers in place, the
	# generated files written).
	wait_log 'event=start ' || {
		cat "$T_DIR/daemon.log"
		return 1
	}
	AGI_PORT=$(sed -n 's/.*event=listen what=agi addr=127\.0\.0\.1:\([0-9]*\).*/\1/p' \
	    "$T_DIR/daemon.log" | tail -n 1)
	[ -n "$AGI_PORT" ]
}

# Stop the daemon with SIGTERM; it must exit 0 without sanitizer reports.
iaxkeyd_stop() {
	[ -n "$IKD_PID" ] || return 0
	t_pid=$IKD_PID
	IKD_PID=
	daemon_stop "$t_pid" "$T_DIR/daemon.log"
}

# SIGTERM process $1 and wait for it: it must exit 0, and its log $2 must
# hold no sanitizer report (the log is shown when it does).
daemon_stop() {
	kill -TERM "$1" 2>/dev/null
	wait "$1"
	d_rc=$?
	if grep -E -q 'AddressSanitizer|LeakSanitizer|runtime error:' "$2"; then
		cat "$2"
		return 1
	fi
	[ "$d_rc" -eq 0 ] || { echo "$2: exit status $d_rc"; return 1; }
}

# Run the Asterisk emulator against the daemon.
emu() {
	"$EMU" "$@" "127.0.0.1:$AGI_PORT"
}

# Start the emulator in the background; its pid is in EMU_PID, output in $1.
emu_bg() {
	e_out=$1
	shift
	: >"$e_out"
	"$EMU" "$@" "127.0.0.1:$AGI_PORT" >"$e_out" &
	EMU_PID=$!
}

# Make the node's own key pair, as astgenkey does, mode 0600.
own_key() {
	mkdir -p "$T_DIR/keys" &&
	openssl genrsa -out "$T_DIR/keys/${1:-testnode}.key" 1024 2>/dev/null &&
	chmod 600 "$T_DIR/keys/${1:-testnode}.key" &&
	openssl rsa -in "$T_DIR/keys/${1:-testnode}.key" -pubout \
	    -out "$T_DIR/keys/${1:-testnode}.pub" 2>/dev/null
}

# Check that a file parses as Asterisk configuration: comments, blank
# lines, [section] or [section](suffix), key=value; no line over 8190.
ast_conf_ok() {
	awk '
	length($0) > 8190 { print "line " NR " too long"; bad = 1; next }
	/^$/ || /^;/ { next }
	/^\[[A-Za-z0-9._-]+\](\(([+!]|[A-Za-z0-9._-]+)\))?$/ { next }
	/^[a-z0-9_]+=[^;\[]*$/ { if ($0 ~ /^[a-z0-9_]+=#/) { bad = 1 }; next }
	{ print "bad line " NR ": " $0; bad = 1 }
	END { exit bad }' "$1"
}

# Start the HTTP key server stub on $T_DIR/ks (extra args: -c cert -k key).
# Sets KS_PORT and KS_PID; requests are logged to $T_DIR/ks.log.
ks_start() {
	mkdir -p "$T_DIR/ks" && : >"$T_DIR/ks.log" && : >"$T_DIR/ks.out" ||
	    return 1
	"$T_TOP/t/helper/http-stub" "$@" -d "$T_DIR/ks" -l "$T_DIR/ks.log" \
	    >"$T_DIR/ks.out" 2>"$T_DIR/ks.err" &
	KS_PID=$!
	wait_log "^port=[0-9]+" "$T_DIR/ks.out" &&
	KS_PORT=$(sed -n 's/^port=//p' "$T_DIR/ks.out")
}

# Stop the stub.
ks_stop() {
	[ -n "$KS_PID" ] && kill "$KS_PID" 2>/dev/null && wait "$KS_PID" 2>/dev/null
	KS_PID=
	return 0
}

# Publish a fresh 1024-bit public key for node $1 (bits $2) on the stub,
# atomically (the stub may be reading the directory).
ks_key() {
	openssl genrsa -out "$T_DIR/new.key" "${2:-1024}" 2>/dev/null &&
	openssl rsa -in "$T_DIR/new.key" -pubout -out "$T_DIR/new.pub" \
	    2>/dev/null &&
	rm -f "$T_DIR/new.key" &&
	mv "$T_DIR/new.pub" "$T_DIR/ks/$1.pub"
}

# OUT (a .pub path): the 1024-bit modulus of the private key file FROM
# with public exponent 1, as SubjectPublicKeyInfo (no generator makes one).
weak_key() {
	w_n=$(openssl rsa -in "$2" -noout -modulus | cut -d= -f2) &&
	printf '%s\n' 'asn1=SEQUENCE:spki' '[spki]' 'alg=SEQUENCE:alg' \
	    'key=BITWRAP,SEQUENCE:rsa' '[alg]' 'oid=OID:rsaEncryption' \
	    'p=NULL' '[rsa]' "n=INTEGER:0x$w_n" 'e=INTEGER:1' >"$1.asn1" &&
	openssl asn1parse -genconf "$1.asn1" -noout -out "$1.der" \
	    >/dev/null &&
	{
		echo '-----BEGIN PUBLIC KEY-----'
		base64 -w64 "$1.der"
		echo '-----END PUBLIC KEY-----'
	} >"$1" &&
	rm -f "$1.asn1" "$1.der"
}

# Requests the stub saw for one node's key.
ks_count() {
	grep -c "^GET /v1/keys/$1\$" "$T_DIR/ks.log"
}

# The SHA-256 fingerprint of a PEM public key, as iaxkeyd computes it.
fingerprint() {
	echo "sha256:$(openssl pkey -pubin -in "$1" -outform DER 2>/dev/null |
	    sha256sum | cut -d" " -f1)"
}

# The fingerprint of the public half of a private key file.
key_fpr() {
	echo "sha256:$(openssl pkey -in "$1" -pubout -outform DER 2>/dev/null |
	    sha256sum | cut -d" " -f1)"
}

# The admin console, for the 4xxx and 51xx tests.

# Write the configuration with the [admin] section on stdin (any other goes).
admin_conf() {
	iaxkeyd_conf </dev/null &&
	awk '/^\[/ { skip = ($0 == "[admin]") } !skip' "$T_DIR/iaxkeyd.conf" \
	    >"$T_DIR/conf.tmp" &&
	{ cat "$T_DIR/conf.tmp"; printf '\n[admin]\n'; cat; } \
	    >"$T_DIR/iaxkeyd.conf"
}

# The console's port, from its listen line.
admin_port() {
	wait_log 'event=listen what=admin' &&
	ADMIN_PORT=$(sed -n 's/.*event=listen what=admin addr=[0-9.]*:\([0-9]*\).*/\1/p' \
	    "$T_DIR/daemon.log" | tail -n 1) &&
	[ -n "$ADMIN_PORT" ]
}

# Send each argument as one line; print what comes back until it closes.
adm() {
	printf '%s\n' "$@" | timeout 30 nc -N 127.0.0.1 "$ADMIN_PORT"
}

# The final lines (OK / ERR) of a reply file, in order.
finals() {
	grep -E '^(OK$|ERR )' "$1"
}

# Read one line from the console on descriptor $1 into $r_line (bounded).
adm_line() {
	IFS= read -r -t 10 -u "$1" r_line
}

# Print one reply from the console on descriptor $1: its lines up to the
# final one (bounded).
adm_reply() {
	while adm_line "$1"; do
		echo "$r_line"
		case $r_line in OK|ERR\ *) return 0 ;; esac
	done
	return 1
}

# Load and limits (34xx).

# Wait until the daemon log (or file $3) holds $2 lines matching the
# extended regex $1; bounded like wait_log.
wait_count() {
	c_fifo=$T_DIR/count.fifo
	rm -f "$c_fifo" && mkfifo "$c_fifo" || return 1
	timeout "${WAIT_LOG_SECS:-20}" tail -n +1 -F "${3:-$T_DIR/daemon.log}" \
	    >"$c_fifo" 2>/dev/null &
	c_pid=$!
	c_n=$(grep -E -m "$2" -c -- "$1" <"$c_fifo")
	kill "$c_pid" 2>/dev/null
	wait "$c_pid" 2>/dev/null
	rm -f "$c_fifo"
	[ "${c_n:-0}" -ge "$2" ] || { echo "wait_count: $c_n of $2 /$1/"; return 1; }
}

# Resident set size of process $1, in KiB.
rss_kib() {
	awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"
}

# Open descriptors of process $1, leaving out TCP sockets whose remote
# port is $2 (a connection cache, e.g. libcurl's to the key server).
fd_count() {
	ls -l "/proc/$1/fd" 2>/dev/null | awk -v port="${2:-0}" '
	BEGIN {
		hex = sprintf("%04X", port)
		while ((getline l < "/proc/net/tcp") > 0) {
			split(l, f, " ")
			if (port > 0 && substr(f[3], length(f[3]) - 3) == hex)
				skip["socket:[" f[10] "]"] = 1
		}
	}
	$1 ~ /^l/ { if (!($NF in skip)) n++ }
	END { print n + 0 }'
}

# Wait until the console lists no session, lingering ones included (there
# is no event for the end of a linger): polled, bounded by WAIT_LOG_SECS.
wait_no_sessions() {
	admin_port || return 1
	for _ in $(seq $((${WAIT_LOG_SECS:-20} * 10))); do
		adm sessions quit | grep -q '(0 sessions, 0 active)' && return 0
		sleep 0.1
	done
	adm sessions quit
	return 1
}

# The /metrics endpoint (docs/metrics.md).

# Wait for the metrics listen line of the daemon log (or $1); METRICS_PORT.
metrics_port() {
	wait_log 'event=listen what=metrics' "${1:-$T_DIR/daemon.log}" &&
	METRICS_PORT=$(sed -n 's/.*event=listen what=metrics addr=[0-9.]*:\([0-9]*\).*/\1/p' \
	    "${1:-$T_DIR/daemon.log}" | tail -n 1) &&
	[ -n "$METRICS_PORT" ]
}

# GET /metrics on 127.0.0.1:$1 (extra curl arguments follow); 200 only.
scrape() {
	s_port=$1
	shift
	curl -s -f --max-time 20 "$@" "http://127.0.0.1:$s_port/metrics"
}

# The value of series $2 (name and labels as written) in page $1.
series() {
	awk -v s="$2" '$1 == s { print $2; f = 1 } END { exit !f }' "$1"
}

# promtool's lint of page $1: no output, exit 0.
promlint() {
	promtool check metrics <"$1" >"$T_DIR/lint.out" 2>&1
	p_rc=$?
	cat "$T_DIR/lint.out"
	[ "$p_rc" -eq 0 ] && [ ! -s "$T_DIR/lint.out" ]
}

# A test whose body $2 writes the page "page", which promtool must find
# clean; skipped with the reason when promtool is missing.
test_promlint() {
	if command -v promtool >/dev/null; then
		test_expect "promtool check metrics: $1" "{ $2
		} && promlint page"
	else
		test_skip "promtool missing (make deps installs Debian's prometheus)"
	fi
}

# promtool and prometheus come with Debian's prometheus package (make deps).
need_promtool() {
	command -v promtool >/dev/null && command -v prometheus >/dev/null ||
	    { echo "1..0 # skip promtool/prometheus missing: make deps" \
	    "installs Debian's prometheus package"; exit 0; }
}

# The AMI emulator (t/helper/fake-ami, user iaxkeyd, secret amis3cret) with
# the given options; reloads it performs go to $T_DIR/ami.reloads (emptied
# here).  Sets AMI_PORT, AMI_PID.
ami_start() {
	: >"$T_DIR/ami.out" && : >"$T_DIR/ami.reloads" || return 1
	"$T_TOP/t/helper/fake-ami" -q -u iaxkeyd -s "amis3cret" \
	    -L "$T_DIR/ami.reloads" "$@" >"$T_DIR/ami.out" 2>/dev/null &
	AMI_PID=$!
	wait_log "^port=[0-9]+" "$T_DIR/ami.out" &&
	AMI_PORT=$(sed -n "s/^port=//p" "$T_DIR/ami.out")
}
ami_stop() {
	[ -n "$AMI_PID" ] && kill "$AMI_PID" 2>/dev/null
	wait "$AMI_PID" 2>/dev/null
	AMI_PID=
	return 0
}

# Write the configuration for reload backend $1: ami logs in to the AMI
# emulator on $AMI_PORT; command runs the script $2 with the modules.
reload_backend_conf() {
	case $1 in
	ami)	RELOAD_BACKEND=ami ASTERISK_EXTRA="ami_host = 127.0.0.1
ami_port = $AMI_PORT
ami_user = iaxkeyd
ami_secret = amis3cret" iaxkeyd_conf ;;
	command) RELOAD_BACKEND=command \
	    ASTERISK_EXTRA="reload_command = $2 {modules}" iaxkeyd_conf ;;
	*)	RELOAD_BACKEND=$1 iaxkeyd_conf ;;
	esac </dev/null
}

# A reload_command that holds the reload: hold_setup writes $T_DIR/hold.sh,
# which appends "reload MODULES" to $T_DIR/hold.reloads and then waits for
# a line on $T_DIR/hold.fifo; hold_release sends one line, waiting (at most
# WAIT_LOG_SECS) for a held reload to read it.  t_cleanup kills any still
# held (their pids are in $T_DIR/hold.pids).
hold_setup() {
	rm -f "$T_DIR/hold.fifo" && mkfifo "$T_DIR/hold.fifo" &&
	: >"$T_DIR/hold.reloads" &&
	cat >"$T_DIR/hold.sh" <<'SH' &&
#!/bin/sh
echo $$ >>"$(dirname "$0")/hold.pids"
echo "reload $*" >>"$(dirname "$0")/hold.reloads"
read -r _ <"$(dirname "$0")/hold.fifo"
SH
	chmod +x "$T_DIR/hold.sh"
}
hold_release() {
	timeout "${WAIT_LOG_SECS:-20}" sh -c 'echo go >"$1"' sh \
	    "$T_DIR/hold.fifo"
}
