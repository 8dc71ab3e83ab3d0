#!/bin/bash
# make install-files (what `make install` runs after building) into a
# DESTDIR: programs, man pages, samples, iaxkeyctl's bash completion,
# hardened systemd units with the prefix in ExecStart; systemd-analyze
# accepts the units.
. "$(dirname "$0")/lib/iaxkeyd.sh"

ROOT=$T_DIR/root
UNITS=$ROOT/usr/lib/systemd/system

test_expect 'make install-files DESTDIR=... PREFIX=/usr' '
	make -s -C "$T_TOP" install-files DESTDIR="$ROOT" PREFIX=/usr >out 2>&1
'

test_expect 'programs, man pages, samples and units, with their modes' '
	(cd "$ROOT" && find . -type f -printf "%m %p\n" | sort) >files &&
	test_cmp files <<-EOF
	644 ./etc/iaxkeyd/iaxkey-server.conf.sample
	644 ./etc/iaxkeyd/iaxkeyd.conf.sample
	644 ./usr/lib/systemd/system/iaxkey-server.service
	644 ./usr/lib/systemd/system/iaxkeyd.service
	644 ./usr/share/bash-completion/completions/iaxkeyctl
	644 ./usr/share/man/man5/iaxkeyd.conf.5
	644 ./usr/share/man/man8/iaxkey-server.8
	644 ./usr/share/man/man8/iaxkeyctl.8
	644 ./usr/share/man/man8/iaxkeyd.8
	755 ./usr/sbin/iaxkey-server
	755 ./usr/sbin/iaxkeyctl
	755 ./usr/sbin/iaxkeyd
	EOF
'

test_expect 'the installed daemon checks the installed sample' '
	"$ROOT/usr/sbin/iaxkeyd" -n -f "$ROOT/etc/iaxkeyd/iaxkeyd.conf.sample" \
	    >out 2>&1 &&
	grep -qx "configuration OK" out
'

test_expect 'the units run the programs from PREFIX' '
	grep -qx "ExecStart=/usr/sbin/iaxkeyd -d -f /etc/iaxkeyd/iaxkeyd.conf" \
	    "$UNITS/iaxkeyd.service" &&
	grep -qx "ExecStart=/usr/sbin/iaxkey-server -d -f /etc/iaxkeyd/iaxkey-server.conf" \
	    "$UNITS/iaxkey-server.service" &&
	! grep -q /usr/local "$UNITS/iaxkeyd.service" "$UNITS/iaxkey-server.service"
'

for u in iaxkeyd iaxkey-server; do
	test_expect "$u.service: hardened" '
		for d in NoNewPrivileges=yes ProtectSystem=strict PrivateTmp=yes \
		    CapabilityBoundingSet= ProtectHome=yes PrivateDevices=yes \
		    "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6"; do
			grep -qx "$d" "$UNITS/'$u'.service" || fail "no $d"
		done
	'
done

test_expect 'iaxkeyd.service: runs as the user in the group, may write Asterisk' '
	grep -qx "User=asterisk" "$UNITS/iaxkeyd.service" &&
	grep -qx "Group=asterisk" "$UNITS/iaxkeyd.service" &&
	grep -qx "ReadWritePaths=/etc/asterisk /var/lib/asterisk/keys" \
	    "$UNITS/iaxkeyd.service" &&
	grep -qx "DynamicUser=yes" "$UNITS/iaxkey-server.service" &&
	grep -qx "StateDirectory=iaxkey-server" "$UNITS/iaxkey-server.service"
'

if command -v systemd-analyze >/dev/null; then
	test_expect 'systemd-analyze verify accepts both units' '
		mkdir -p "$T_DIR/units" &&
		for u in iaxkeyd iaxkey-server; do
			sed "s|=/usr/sbin/|=$ROOT/usr/sbin/|" "$UNITS/$u.service" \
			    >"$T_DIR/units/$u.service" || return 1
		done &&
		systemd-analyze verify --man=no "$T_DIR/units/iaxkeyd.service" \
		    "$T_DIR/units/iaxkey-server.service" >out 2>&1 &&
		! [ -s out ]
	'
else
	test_skip 'systemd-analyze is not installed'
fi
test_done
