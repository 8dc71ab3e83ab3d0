#!/bin/bash
# The Debian packages, installed on this machine: make deb-build builds
# iaxkeyd and iaxkey-server into the trash directory, lintian finds no
# error or warning, dpkg -i installs both, iaxkeyd -n accepts the installed
# configuration, every installed path has its owner and mode; dpkg -r keeps
# the conffiles, the state and the key server's user; dpkg --purge then
# leaves nothing behind (files, directories, user, group, unit state).
# Root only: the packages are purged on every exit path, and the test
# skips when anything it would touch exists already.
. "$(dirname "$0")/lib/iaxkeyd.sh"

PATHS="/etc/iaxkeyd /var/lib/iaxkeyd /var/log/iaxkeyd /var/lib/iaxkey-server
    /etc/logrotate.d/iaxkeyd"
why=
if [ "$(id -u)" != 0 ]; then
	why="not root: the test installs packages"
elif ! command -v dpkg-buildpackage >/dev/null || ! command -v dh >/dev/null
then
	why="dpkg-buildpackage or debhelper missing (make deb installs them)"
elif ! git -C "$T_TOP" rev-parse --git-dir >/dev/null 2>&1; then
	why="not a git tree: make deb-build copies the files git knows"
fi
# One run at a time on this machine (other worktrees run the suite too).
if [ -z "$why" ]; then
	lockdir=/run/lock
	[ -d "$lockdir" ] || lockdir=/tmp
	exec 9>"$lockdir/iaxkeyd-t3009-deb.lock"
	flock -w 900 9 || why="another run holds $lockdir/iaxkeyd-t3009-deb.lock"
fi
if [ -z "$why" ]; then
	for p in iaxkeyd iaxkey-server; do
		if dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
		    grep -q -v 'not-installed'; then
			why="package $p is on this machine already"
		fi
	done
	for d in $PATHS; do
		[ -e "$d" ] && why="$d exists already"
	done
	getent passwd iaxkey-server >/dev/null && why="user iaxkey-server exists"
	getent group iaxkey-server >/dev/null && why="group iaxkey-server exists"
fi
if [ -n "$why" ]; then
	echo "1..0 # SKIP $why"
	exit 0
fi

# Purge on every exit path; then remove what a failed purge left (none of
# it existed before: see the checks above).
INSTALLED=
deb_cleanup() {
	if [ -n "$INSTALLED" ]; then
		dpkg --purge iaxkey-server iaxkeyd >/dev/null 2>&1
		rm -rf $PATHS
		if getent passwd iaxkey-server >/dev/null; then
			deluser --system --quiet iaxkey-server >/dev/null 2>&1
		fi
		if getent group iaxkey-server >/dev/null; then
			delgroup --system --quiet iaxkey-server >/dev/null 2>&1
		fi
	fi
	t_cleanup
}
trap deb_cleanup EXIT
trap 'exit 1' INT TERM HUP

# Owner and mode of every path the packages installed (dpkg -L, our names
# only) and of the directories their scripts made.
inventory() {
	{
		dpkg -L iaxkeyd iaxkey-server | grep -E 'iaxkey'
		echo /var/lib/iaxkeyd /var/log/iaxkeyd /var/lib/iaxkey-server
	} | tr ' ' '\n' | sort -u | xargs stat -c '%a %U:%G %n' | LC_ALL=C sort
}

# Asterisk's user owns iaxkeyd's directories when it exists, else root.
ast=root:root
if getent passwd asterisk >/dev/null && getent group asterisk >/dev/null; then
	ast=asterisk:asterisk
fi

test_expect 'make deb-build: both packages' '
	make -s -C "$T_TOP" deb-build DEB_BUILD="$T_DIR/build" \
	    DEB_OUT="$T_DIR/dist" >build.log 2>&1 &&
	IKD_DEB=$(ls "$T_DIR"/dist/iaxkeyd_*.deb) &&
	KS_DEB=$(ls "$T_DIR"/dist/iaxkey-server_*.deb) &&
	! [ -e "$T_DIR/build" ]
'

if command -v lintian >/dev/null; then
	test_expect 'lintian: no error, no warning' '
		lintian --fail-on error,warning "$IKD_DEB" "$KS_DEB" \
		    >lintian.out 2>&1 &&
		! grep -E "^(E|W): " lintian.out
	'
else
	test_skip 'lintian is not installed (make deb installs it)'
fi

test_expect 'dpkg -i installs both' '
	INSTALLED=1 &&
	dpkg -i "$IKD_DEB" "$KS_DEB" >install.out 2>&1 &&
	[ "$(dpkg-query -W -f="\${Status}\n" iaxkeyd iaxkey-server | sort -u)" = \
	    "install ok installed" ]
'

test_expect 'the installed programs accept the installed configuration' '
	/usr/sbin/iaxkeyd -n -f /etc/iaxkeyd/iaxkeyd.conf >out 2>&1 &&
	grep -qx "configuration OK" out &&
	/usr/sbin/iaxkey-server -n -f /etc/iaxkeyd/iaxkey-server.conf >out 2>&1 &&
	grep -qx "configuration OK" out &&
	grep -qx "file = /var/log/iaxkeyd/iaxkeyd.log" /etc/iaxkeyd/iaxkeyd.conf
'

test_expect 'iaxkeyctl reads the installed configuration' '
	/usr/sbin/iaxkeyctl -s 127.0.0.1:1 status >out 2>err;
	[ $? = 2 ] &&
	grep -qx "iaxkeyctl: cannot connect to the console at 127.0.0.1:1: Connection refused" err
'

test_expect 'owners and modes' '
	inventory >modes &&
	test_cmp modes <<-EOF
	644 root:root /etc/iaxkeyd/iaxkey-server.conf
	644 root:root /etc/iaxkeyd/iaxkeyd.conf
	644 root:root /etc/logrotate.d/iaxkeyd
	644 root:root /lib/systemd/system/iaxkey-server.service
	644 root:root /lib/systemd/system/iaxkey-server.service.d/user.conf
	644 root:root /lib/systemd/system/iaxkeyd.service
	644 root:root /usr/share/bash-completion/completions/iaxkeyctl
	644 root:root /usr/share/doc/iaxkey-server/changelog.gz
	644 root:root /usr/share/doc/iaxkey-server/copyright
	644 root:root /usr/share/doc/iaxkeyd/changelog.gz
	644 root:root /usr/share/doc/iaxkeyd/copyright
	644 root:root /usr/share/man/man5/iaxkeyd.conf.5.gz
	644 root:root /usr/share/man/man8/iaxkey-server.8.gz
	644 root:root /usr/share/man/man8/iaxkeyctl.8.gz
	644 root:root /usr/share/man/man8/iaxkeyd.8.gz
	700 iaxkey-server:iaxkey-server /var/lib/iaxkey-server
	750 $ast /var/lib/iaxkeyd
	750 $ast /var/log/iaxkeyd
	755 root:root /etc/iaxkeyd
	755 root:root /lib/systemd/system/iaxkey-server.service.d
	755 root:root /usr/sbin/iaxkey-server
	755 root:root /usr/sbin/iaxkeyctl
	755 root:root /usr/sbin/iaxkeyd
	755 root:root /usr/share/doc/iaxkey-server
	755 root:root /usr/share/doc/iaxkeyd
	EOF
'

test_expect 'conffiles: both configurations and the logrotate snippet' '
	dpkg-query -W -f="\${Conffiles}\n" iaxkeyd iaxkey-server |
	    awk "NF { print \$1 }" | sort >conffiles &&
	test_cmp conffiles <<-EOF
	/etc/iaxkeyd/iaxkey-server.conf
	/etc/iaxkeyd/iaxkeyd.conf
	/etc/logrotate.d/iaxkeyd
	EOF
'

test_expect 'the key server runs as its own system user' '
	IFS=: read -r name x uid gid gecos home shell <<-EOF &&
	$(getent passwd iaxkey-server)
	EOF
	[ "$uid" -lt 1000 ] && [ "$uid" -gt 0 ] &&
	[ "$home" = /var/lib/iaxkey-server ] &&
	[ "$shell" = /usr/sbin/nologin ] &&
	[ "$(getent group iaxkey-server | cut -d: -f3)" = "$gid" ] &&
	grep -qx "User=iaxkey-server" \
	    /lib/systemd/system/iaxkey-server.service.d/user.conf &&
	grep -qx "DynamicUser=no" \
	    /lib/systemd/system/iaxkey-server.service.d/user.conf
'

test_expect 'units: the installed programs, the log directory' '
	grep -qx "ExecStart=/usr/sbin/iaxkeyd -d -f /etc/iaxkeyd/iaxkeyd.conf" \
	    /lib/systemd/system/iaxkeyd.service &&
	grep -qx "ExecStart=/usr/sbin/iaxkey-server -d -f /etc/iaxkeyd/iaxkey-server.conf" \
	    /lib/systemd/system/iaxkey-server.service &&
	grep -qx "LogsDirectory=iaxkeyd" /lib/systemd/system/iaxkeyd.service &&
	grep -q "systemctl kill --kill-whom=main --signal=USR1 iaxkeyd.service" \
	    /etc/logrotate.d/iaxkeyd
'

if command -v logrotate >/dev/null; then
	test_expect 'logrotate accepts the snippet' '
		logrotate -d /etc/logrotate.d/iaxkeyd >out 2>&1 &&
		! grep -qi "error" out
	'
else
	test_skip 'logrotate is not installed'
fi

test_expect 'dpkg -r keeps the conffiles, the state and the user' '
	: >/var/lib/iaxkeyd/iaxkeyd.db &&
	: >/var/log/iaxkeyd/iaxkeyd.log &&
	install -o iaxkey-server -m 0600 /dev/null /var/lib/iaxkey-server/audit.log &&
	dpkg -r iaxkey-server iaxkeyd >remove.out 2>&1 &&
	! [ -e /usr/sbin/iaxkeyd ] && ! [ -e /usr/sbin/iaxkey-server ] &&
	! [ -e /usr/sbin/iaxkeyctl ] &&
	[ -f /etc/iaxkeyd/iaxkeyd.conf ] && [ -f /var/lib/iaxkeyd/iaxkeyd.db ] &&
	getent passwd iaxkey-server >/dev/null &&
	[ "$(dpkg-query -W -f="\${Status}\n" iaxkeyd iaxkey-server | sort -u)" = \
	    "deinstall ok config-files" ]
'

test_expect 'dpkg --purge leaves nothing behind' '
	dpkg --purge iaxkey-server iaxkeyd >purge.out 2>&1 &&
	left= &&
	for p in $(cut -d" " -f3 modes) $PATHS; do
		[ -e "$p" ] || [ -L "$p" ] && left="$left $p"
	done
	[ -z "$left" ] || fail "left behind:$left" &&
	! getent passwd iaxkey-server && ! getent group iaxkey-server &&
	! ls /etc/systemd/system/*/iaxkey* 2>/dev/null &&
	! ls /var/lib/systemd/deb-systemd-helper-enabled/ 2>/dev/null |
	    grep -q iaxkey &&
	! dpkg-query -W -f="\${Status}\n" iaxkeyd iaxkey-server 2>/dev/null |
	    grep -q -v "not-installed" &&
	INSTALLED=
'
test_done
