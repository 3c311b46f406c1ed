# SPDX-License-Identifier: GPL-2.0
#
# KTAP results for the selftests written in shell, which source this:
# a result line as each check ends, then ktap_end's plan line (last: only
# then is the count known) and the kselftest totals line that
# run-selftests reads.
pass=0 fail=0 skip=0 n=0

result() {	# STATUS NAME [REASON]; STATUS pass, skip, else a failure
	n=$((n + 1))
	case $1 in
	pass) pass=$((pass + 1)); echo "ok $n $2" ;;
	skip) skip=$((skip + 1)); echo "ok $n $2 # SKIP $3" ;;
	*) fail=$((fail + 1)); echo "not ok $n $2" ;;
	esac
}

verdict() {	# NAME: pass if the checks before left ok=1
	if [ "$ok" = 1 ]; then
		result pass "$1"
	else
		result fail "$1"
	fi
}

ktap_end() {	# the plan and the totals; exits 0 only without failures
	echo "1..$n"
	echo "# Totals: pass:$pass fail:$fail xfail:0 xpass:0 skip:$skip error:0"
	[ "$fail" = 0 ]
	exit
}
