# tap.sh: TAP for the shell tests (sourced).
#
#   test_expect 'description' 'commands chained with &&'
#   test_done
#
# Each body runs in the current shell through eval; its output goes to
# $T_DIR/test.out, which is shown (as # comments) only when it fails.

t_n=0
t_fail=0

# Run one test body and print ok / not ok.
test_expect() {
	t_desc=$1
	t_body=$2
	t_n=$((t_n + 1))
	: >"$T_DIR/test.out"
	if eval "$t_body" >>"$T_DIR/test.out" 2>&1; then
		echo "ok $t_n - $t_desc"
	else
		echo "not ok $t_n - $t_desc"
		t_fail=$((t_fail + 1))
		cp "$T_DIR/test.out" "$T_DIR/failed-$t_n.out"
		sed 's/^/#   /' "$T_DIR/test.out" | head -60 >&2
	fi
}

# Skip one test with a reason.
test_skip() {
	t_n=$((t_n + 1))
	echo "ok $t_n # skip $1"
}

# Print the plan and exit with the number of failures.
test_done() {
	echo "1..$t_n"
	[ "$t_fail" -eq 0 ]
	exit $?
}

# Fail with a message (inside a test body).
fail() {
	echo "$*"
	return 1
}

# Compare a file with expected text given on stdin.
test_cmp() {
	cat >"$T_DIR/expect" &&
	diff -u "$T_DIR/expect" "$1"
}
