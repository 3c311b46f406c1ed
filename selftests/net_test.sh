#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# modvm's in-kernel virtio-net end to end, in an emulated host (busybox
# sh), KTAP output. Everything runs in a network namespace of its own
# (unshare -n), where two persistent taps, mvtap0 and mvtap1, are ports
# of a bridge, mvbr0, that holds the host's address 10.0.0.1/24. The
# emulated host needs the tun and bridge modules (tools/hostvm --module
# tun --module bridge; ../modules/load inserts them).
#  - bad --net input (no tap=, a malformed MAC, a multicast MAC, an
#    interface that is not a tap): one error line, status 1;
#  - one session of two Linux guests at once (the guest initramfs of
#    make guest, 1 vCPU each), as a boot takes minutes in bochs: guest A
#    (10.0.0.2) on mvtap0 with mac= given, guest B (10.0.0.3) on mvtap1
#    with the MAC modvm-run derives from the tap's name. The host types
#    each step on the guests' serial consoles and reads their answers
#    (lines "@TAG ..."), so the steps follow each other across guests:
#    nic_probe: each guest has one NIC, eth0, driven by virtio_net, with
#      the MAC given (A) or 02:6d:FNV-1a(mvtap1) (B, see modvm-run(1));
#      neither guest's log has a virtio or network error or a splat;
#    tap_in_use: while A runs, a second modvm-run on mvtap0 stops with
#      "in use";
#    ping_guest_host: A and B ping the host, the host pings A and B: 3
#      replies of 3 each way;
#    tcp_guest_host: N bytes of random data from A to the host and N
#      others from the host to A over TCP (busybox nc): the SHA-256 sums
#      of what was sent and what arrived are the same;
#    bridge_guests: A and B ping each other through the bridge (3 of 3
#      each way), and N random bytes from B to A over TCP keep their sum;
#    flood_isolation: while B floods the bridge (two pings, each a
#      1514-byte frame per millisecond as far as B keeps up, to a MAC no
#      port has, which the bridge floods to A and the host), A still gets
#      10 replies of 10 from the host and moves N random bytes each way
#      with their sums intact; the flood is real: mvtap1 received at
#      least $flood_min frames from B while A worked;
#    kill9_clean: SIGKILL to B's modvm-run while B floods and the host
#      pings B every 10 ms: it dies with status 137, mvtap1 can be
#      attached again within 15 s (modvm let go of it), A still pings the
#      host (3 of 3) and powers off with status 0, then modvm's module
#      reference count and its worker threads (modvm-*) are back to what
#      they were before the guests, within 15 s, and mvtap0 can be
#      attached again.
# The device under test is $MODVM_DEVICE, else /dev/modvm.
# The plan line comes last, as in launcher_test.
cd "$(dirname "$0")" || exit 1
. ./ktap.sh
# A guest that ended early closes the pipe its typed steps go to.
trap '' PIPE

run=../modvm-run
kernel=../guest/bzImage
initrd=../guest/initrd
device=${MODVM_DEVICE:-/dev/modvm}
tmp=/tmp/net_test.work
tests="nic_probe tap_in_use ping_guest_host tcp_guest_host bridge_guests flood_isolation kill9_clean"

skip_all() {	# REASON
	for t in $tests; do
		result skip $t "$1"
	done
}

uptime_s() {
	read -r up x </proc/uptime
	echo "${up%.*}"
}

test_start=$(uptime_s)

finish() {
	echo "# net_test took $(($(uptime_s) - test_start)) s"
	ktap_end
}

# --- the network namespace ------------------------------------------------

if [ "$1" != --in-netns ]; then
	for m in tun bridge; do
		[ -d /sys/module/$m ] || [ ! -x ../modules/load ] ||
			../modules/load $m >/dev/null 2>&1
	done
	# A mount namespace too, for a sysfs that shows the new interfaces.
	if unshare -n -m true 2>/dev/null; then
		exec unshare -n -m "$0" --in-netns
	fi
	bad_inputs_only=1
fi
[ -n "$bad_inputs_only" ] || mount -t sysfs sys /sys
echo "TAP version 13"
[ -z "$bad_inputs_only" ] || echo "# unshare -n -m fails: no network namespace here"

rm -rf $tmp && mkdir -p $tmp || exit 1

# Bad input: NAME PATTERN ARGS...: status 1 (modvm-run(1): bad input),
# exactly one stderr line matching PATTERN, nothing on stdout.
bad_input() {
	name=$1 pattern=$2
	shift 2
	timeout 60 "$run" --device "$device" --kernel "$kernel" --initrd "$initrd" "$@" \
		</dev/null >$tmp/bad.out 2>$tmp/bad.err
	rc=$?
	echo "# $name: status $rc: $(cat $tmp/bad.err)"
	if [ "$rc" = 1 ] && [ "$(wc -l <$tmp/bad.err)" = 1 ] && [ ! -s $tmp/bad.out ] &&
	   grep -q "^modvm-run: .*$pattern" $tmp/bad.err; then
		result pass "$name"
	else
		result fail "$name"
	fi
}

bad_input net_no_tap "--net mac=02:00:00:00:00:01: no tap=" --net mac=02:00:00:00:00:01
bad_input net_bad_mac "bad MAC address '02:00:00:00:00'" --net tap=mvtap9,mac=02:00:00:00:00
bad_input net_multicast_mac "MAC 03:00:00:00:00:01 is a multicast address" \
	--net tap=mvtap9,mac=03:00:00:00:00:01
bad_input net_not_a_tap "--net tap=lo: lo is an interface but not a single-queue tap" --net tap=lo

[ -z "$bad_inputs_only" ] || { skip_all "no network namespace (unshare -n -m)"; finish; }
if [ ! -e "$kernel" ] || [ ! -e "$initrd" ]; then
	skip_all "no guest kernel/initrd here (tools/hostvm --guest)"
	finish
fi
if [ ! -c /dev/net/tun ] || [ ! -d /sys/module/bridge ]; then
	skip_all "no tun or bridge module here (tools/hostvm --module tun --module bridge)"
	finish
fi

# --- the host's side: bridge, taps, address -------------------------------

host_ip=10.0.0.1 a_ip=10.0.0.2 b_ip=10.0.0.3
a_mac=02:00:00:00:00:0a
ip link set lo up &&
	tunctl -t mvtap0 >/dev/null && tunctl -t mvtap1 >/dev/null &&
	brctl addbr mvbr0 && brctl addif mvbr0 mvtap0 && brctl addif mvbr0 mvtap1 &&
	ip addr add $host_ip/24 dev mvbr0 &&
	ip link set mvtap0 up && ip link set mvtap1 up && ip link set mvbr0 up ||
	{ skip_all "cannot set up the taps and the bridge"; finish; }
echo "# host: mvbr0 $host_ip/24 with ports mvtap0, mvtap1 (STP $(cat /sys/class/net/mvbr0/bridge/stp_state), forward delay $(cat /sys/class/net/mvbr0/bridge/forward_delay))"

# modvm-run's MAC for a tap without mac=: 02:6d, then the 32-bit FNV-1a
# hash of the name, most significant byte first.
derived_mac() {	# NAME
	h=2166136261 s=$1
	while [ -n "$s" ]; do
		rest=${s#?}
		h=$(( ((h ^ $(printf %d "'${s%"$rest"}")) * 16777619) & 0xffffffff ))
		s=$rest
	done
	printf '02:6d:%02x:%02x:%02x:%02x' $((h >> 24)) $((h >> 16 & 255)) $((h >> 8 & 255)) $((h & 255))
}
b_mac=$(derived_mac mvtap1)

# The limits: a QEMU host runs a guest at a few percent of its speed, a
# bochs host far slower (boots take minutes of emulated time there); N,
# the bytes of each TCP transfer, follows. Measured alone: the test takes
# 50-75 s in the QEMU hosts, 110 s (vmx-ept) and 320 s (vmx-shadow) of
# emulated time in bochs; B floods 150-500 frames/s.
if grep -q QEMU /sys/class/dmi/id/sys_vendor 2>/dev/null; then
	boot_limit=${MODVM_NET_BOOT_TIMEOUT:-180} step_limit=120 size=1048576 flood_min=300
else
	boot_limit=${MODVM_NET_BOOT_TIMEOUT:-600} step_limit=300 size=262144 flood_min=100
fi
mem_mib=128
append="console=ttyS0,115200 quiet reboot=k panic=-1 pci=off no_timer_check"

# QEMU 7.2's TCG model of AMD-V can deliver an injected interrupt twice
# and crash or hang a guest (launcher_test's boot_attempts says how).
# There a session in which a guest died or hung before the kill runs
# once more; a session that got through is judged on what it did, never
# run again, so a wrong checksum is never retried away.
attempts=1
if grep -qw svm /proc/cpuinfo && grep -q QEMU /sys/class/dmi/id/sys_vendor 2>/dev/null; then
	attempts=2
fi

# --- talking to the guests ------------------------------------------------

# The console lines of guest G (a or b) that start with "@TAG ", without it.
answer() {	# G TAG
	tr -d '\r' <$tmp/$1.out | sed -n "s/^@$2 //p"
}

# Type a line on guest G's console.
type_line() {	# G LINE
	if [ "$1" = a ]; then
		echo "$2" >&3
	else
		echo "$2" >&4
	fi
}

alive() {	# G
	if [ "$1" = a ]; then
		kill -0 "$pid_a" 2>/dev/null
	else
		kill -0 "$pid_b" 2>/dev/null
	fi
}

# Wait until guest G answers TAG, for up to LIMIT s; sets line. A guest
# that died or timed out makes the session fail (lost=1).
wait_for() {	# G TAG LIMIT
	[ "$lost" = 0 ] || return 1
	waited=0
	while :; do
		line=$(answer "$1" "$2" | tail -n 1)
		[ -n "$line" ] && return 0
		if ! alive "$1"; then
			echo "# $1: modvm-run ended while waiting for @$2"
			lost=1
			return 1
		fi
		if [ $waited -ge "$3" ]; then
			echo "# $1: no @$2 after $3 s"
			lost=1
			return 1
		fi
		sleep 1
		waited=$((waited + 1))
	done
}

# Type a step and wait for its answer: G TAG LIMIT STEP.
step() {
	[ "$lost" = 0 ] || return 1
	type_line "$1" "$4"
	wait_for "$1" "$2" "$3"
}

# The guest-side helpers, typed once: each prints one @TAG line.
#   p TAG PING-ARGS: ping's status and the replies it got
#   tx TAG BYTES IP PORT: send BYTES random bytes; status and their sum
#   rx TAG IP PORT: receive until the sender closes; status, sum, bytes
#   st TAG: eth0's receive and transmit packet counts
helpers='p() { t=$1; shift; ping -q "$@" >/tmp/p 2>&1; r=$?; set -- $(grep received /tmp/p); echo "@$t $r ${4:-0}"; };'\
' tx() { head -c $2 /dev/urandom >/tmp/d; s=$(sha256sum </tmp/d); i=0; until nc $3 $4 </tmp/d; do i=$((i + 1)); [ $i -lt 10 ] || break; sleep 1; done; echo "@$1 $? ${s%% *}"; };'\
' rx() { i=0; until nc $2 $3 </dev/null >/tmp/r; do i=$((i + 1)); [ $i -lt 10 ] || break; sleep 1; done; r=$?; s=$(sha256sum </tmp/r); echo "@$1 $r ${s%% *} $(wc -c </tmp/r)"; };'\
' st() { read rx </sys/class/net/eth0/statistics/rx_packets; read tx </sys/class/net/eth0/statistics/tx_packets; echo "@$1 $rx $tx"; };'\
' echo "@helpers 0"'

# Host listeners, one connection each, ended by the step limit:
# recv PORT FILE keeps what arrives; send PORT FILE sends FILE.
# wait_listeners waits for them all.
recv() {
	timeout $step_limit nc -l -p "$1" -e /bin/sh -c "cat >$2" </dev/null >/dev/null 2>&1 &
	listeners="$listeners $!"
}
send() {
	timeout $step_limit nc -l -p "$1" -e /bin/cat "$2" </dev/null >/dev/null 2>&1 &
	listeners="$listeners $!"
}
wait_listeners() {
	# (The shell's "Terminated" for a listener its limit ended: not KTAP.)
	[ -z "$listeners" ] || wait $listeners 2>/dev/null
	listeners=
}

sha() {	# FILE
	s=$(sha256sum <"$1")
	echo "${s%% *}"
}

# Host-side counters of a tap: what it received from its guest.
tap_rx() {	# TAP
	cat /sys/class/net/$1/statistics/rx_packets
}

# modvm-run with a kernel that is not a bzImage stops at the kernel once
# it has attached the tap (virtio_prepare() comes first), or at the tap:
# true if no one holds TAP.
tap_free() {	# TAP
	"$run" --device "$device" --kernel "$run" --net tap="$1" </dev/null >/dev/null 2>$tmp/probe
	grep -q 'not a bzImage' $tmp/probe
}

wait_tap_free() {	# TAP: within 15 s; sets freed_after (-1: never)
	freed_after=0
	until tap_free "$1"; do
		if [ $freed_after -ge 15 ]; then
			echo "# $1 is still held 15 s on: $(cat $tmp/probe)"
			freed_after=-1
			return 1
		fi
		sleep 1
		freed_after=$((freed_after + 1))
	done
}

refcnt() {
	cat /sys/module/modvm/refcnt 2>/dev/null || echo none
}

# modvm's worker threads (modvm-net-..., modvm-blk-...) still there.
workers() {
	grep -l '^modvm-' /proc/[0-9]*/comm 2>/dev/null | wc -l
}

# Start guest G (a or b): G IP NET-SPEC.
start_guest() {
	rm -f $tmp/$1.in $tmp/$1.out $tmp/$1.err && mkfifo $tmp/$1.in || return 1
	"$run" --device "$device" --mem ${mem_mib}M --kernel "$kernel" --initrd "$initrd" \
		--net "$3" --append "$append -- net input" <$tmp/$1.in >$tmp/$1.out 2>$tmp/$1.err &
	if [ "$1" = a ]; then
		pid_a=$!
		exec 3>$tmp/a.in
	else
		pid_b=$!
		exec 4>$tmp/b.in
	fi
}

# Wait for guest G to read its console, then start its command loop
# (echo off: only the guest's answers come back), its helpers and its
# network.
guest_up() {	# G IP
	waited=0
	until tr -d '\r' <$tmp/$1.out | grep -q 'waiting for a command'; do
		if ! alive "$1" || [ $waited -ge "$boot_limit" ]; then
			echo "# $1: did not reach its console within $boot_limit s"
			lost=1
			return 1
		fi
		sleep 1
		waited=$((waited + 1))
	done
	echo "# $1: reads its console after $waited s"
	# Nothing more is typed before the loop answers: the guest's tty
	# echoes what arrives until stty -echo, and an echo cut short by it
	# would run into the next answer's line.
	step "$1" loop $step_limit 'stty -echo; echo "@loop $?"; while read -r c; do eval "$c"; done' &&
		step "$1" helpers $step_limit "$helpers" &&
		step "$1" up $step_limit "ip addr add $2/24 dev eth0; ip link set eth0 up; echo \"@up \$?\""
}

# Sets ok=0 unless "STATUS REPLIES" is "0 WANT": NAME LINE WANT.
check_ping() {
	name=$1 want=$3
	set -- $2
	echo "# $name: status ${1:-none}, ${2:-no} replies of $want"
	[ "$1" = 0 ] && [ "$2" = "$want" ] || ok=0
}

host_ping() {	# NAME COUNT IP...: sets line as the guests' p does
	name=$1 count=$2
	shift 2
	ping -q -c "$count" -w 30 "$@" >$tmp/ping 2>&1
	r=$?
	set -- $(grep received $tmp/ping)
	line="$r ${4:-0}"
	echo "# $name: $(tail -n 2 $tmp/ping | head -n 1)"
}

# Sets ok=0 unless both sums are the same and not that of nothing.
check_sums() {	# NAME SENT RECEIVED
	echo "# $1: sent $2, received $3"
	[ -n "$2" ] && [ "$2" = "$3" ] &&
		[ "$2" != "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" ] || ok=0
}

# --- the session ----------------------------------------------------------

# One session; sets the v_TEST verdicts (1 pass) and finished (0: a guest
# died or hung before the kill: the session may run once more).
session() {
	lost=0 finished=0 listeners=
	for t in $tests; do
		eval "v_$t=0"
	done
	start_guest a $a_ip "tap=mvtap0,mac=$a_mac"
	start_guest b $b_ip "tap=mvtap1"
	start=$(uptime_s)
	guest_up a $a_ip
	guest_up b $b_ip
	[ "$lost" = 0 ] || return
	echo "# session: both guests on the network after $(($(uptime_s) - start)) s"

	# nic_probe, the NICs: the guests' log is judged at the end.
	nics_a=$(tr -d '\r' <$tmp/a.out | sed -n 's/^modvm-guest: net //p')
	nics_b=$(tr -d '\r' <$tmp/b.out | sed -n 's/^modvm-guest: net //p')
	echo "# nic_probe: a: $nics_a"
	echo "# nic_probe: b: $nics_b"
	nics_ok=0
	[ "$nics_a" = "eth0 mac $a_mac driver virtio_net" ] &&
		[ "$nics_b" = "eth0 mac $b_mac driver virtio_net" ] && nics_ok=1

	running_workers=$(workers)
	echo "# session: $running_workers modvm worker threads with both guests up"

	# tap_in_use: A holds mvtap0.
	if alive a; then
		"$run" --device "$device" --kernel "$kernel" --initrd "$initrd" --net tap=mvtap0 \
			</dev/null >$tmp/bad.out 2>$tmp/bad.err
		rc=$?
		echo "# tap_in_use: status $rc: $(cat $tmp/bad.err)"
		[ "$rc" = 1 ] && [ "$(wc -l <$tmp/bad.err)" = 1 ] &&
			grep -q '^modvm-run: --net tap=mvtap0: tap mvtap0 is in use' $tmp/bad.err &&
			v_tap_in_use=1
	fi

	# ping_guest_host: both guests at once, then the host.
	ok=1
	type_line a "p ping-a-host -c 3 -w 30 $host_ip"
	type_line b "p ping-b-host -c 3 -w 30 $host_ip"
	wait_for a ping-a-host $step_limit; check_ping "a -> host" "$line" 3
	wait_for b ping-b-host $step_limit; check_ping "b -> host" "$line" 3
	host_ping "host -> a" 3 $a_ip; check_ping "host -> a" "$line" 3
	host_ping "host -> b" 3 $b_ip; check_ping "host -> b" "$line" 3
	[ "$lost" = 0 ] || return
	v_ping_guest_host=$ok

	# tcp_guest_host and bridge_guests: A sends to and receives from the
	# host, then receives from B, which listens meanwhile; A and B ping
	# each other.
	head -c $size /dev/urandom >$tmp/to_a
	recv 5001 $tmp/from_a
	send 5002 $tmp/to_a
	type_line b "head -c $size /dev/urandom >/tmp/d; nc -l -p 5003 -e /bin/cat /tmp/d </dev/null >/dev/null 2>&1 & s=\$(sha256sum </tmp/d); echo \"@b-listens \${s%% *}\""
	wait_for b b-listens $step_limit
	b_sum=$line
	type_line a "tx tcp-a-tx $size $host_ip 5001; rx tcp-a-rx $host_ip 5002; rx tcp-a-from-b $b_ip 5003; p ping-a-b -c 3 -w 30 $b_ip"
	type_line b "p ping-b-a -c 3 -w 30 $a_ip"
	ok=1
	wait_for a tcp-a-tx $step_limit
	set -- $line
	[ "$1" = 0 ] || { echo "# tcp_guest_host: a's nc status '$1' sending"; ok=0; }
	wait_listeners
	check_sums "tcp_guest_host: a -> host" "$2" "$(sha $tmp/from_a)"
	wait_for a tcp-a-rx $step_limit
	set -- $line
	[ "$1" = 0 ] || { echo "# tcp_guest_host: a's nc status '$1' receiving"; ok=0; }
	check_sums "tcp_guest_host: host -> a" "$(sha $tmp/to_a)" "$2"
	[ "$lost" = 0 ] || return
	v_tcp_guest_host=$ok
	ok=1
	wait_for a tcp-a-from-b $step_limit
	set -- $line
	[ "$1" = 0 ] || { echo "# bridge_guests: a's nc status '$1' receiving from b"; ok=0; }
	check_sums "bridge_guests: b -> a" "$b_sum" "$2"
	wait_for a ping-a-b $step_limit; check_ping "a -> b" "$line" 3
	wait_for b ping-b-a $step_limit; check_ping "b -> a" "$line" 3
	[ "$lost" = 0 ] || return
	v_bridge_guests=$ok

	# B's log before the flood and the kill; B floods: its frames go to
	# a MAC no port has, so the bridge sends them to every port.
	step b dmesg-b $step_limit "dmesg | grep -E 'virtio|eth0|net_failover|BUG:|WARNING: CPU:|Oops' | sed 's/^/@log-b /'; echo '@dmesg-b 0'"
	[ "$lost" = 0 ] || return
	step b flood $step_limit "arp -i eth0 -s 10.0.0.99 02:00:00:00:00:99; for i in 1 2; do ping -q -i 0.001 -s 1472 10.0.0.99 </dev/null >/dev/null 2>&1 & done; echo \"@flood \$?\""
	sleep 2
	flood0=$(tap_rx mvtap1)
	sleep 5
	flood1=$(tap_rx mvtap1)
	echo "# flood_isolation: mvtap1 received $((flood1 - flood0)) frames from b in 5 s"

	# flood_isolation: A pings and moves data both ways meanwhile.
	ok=1
	head -c $size /dev/urandom >$tmp/to_a2
	recv 5004 $tmp/from_a2
	send 5005 $tmp/to_a2
	step a flood-a-end $((step_limit * 3)) "st flood-a-start; p flood-ping -c 10 -i 0.2 -w 60 $host_ip; tx flood-tx $size $host_ip 5004; rx flood-rx $host_ip 5005; st flood-a-end"
	flood2=$(tap_rx mvtap1)
	wait_listeners
	[ "$lost" = 0 ] || return
	check_ping "flood_isolation: a -> host" "$(answer a flood-ping)" 10
	set -- $(answer a flood-tx)
	[ "$1" = 0 ] || { echo "# flood_isolation: a's nc status '$1' sending"; ok=0; }
	check_sums "flood_isolation: a -> host" "$2" "$(sha $tmp/from_a2)"
	set -- $(answer a flood-rx)
	[ "$1" = 0 ] || { echo "# flood_isolation: a's nc status '$1' receiving"; ok=0; }
	check_sums "flood_isolation: host -> a" "$(sha $tmp/to_a2)" "$2"
	set -- $(answer a flood-a-start) $(answer a flood-a-end)
	echo "# flood_isolation: meanwhile a received $(($3 - $1)) frames and sent $(($4 - $2)); mvtap1 received $((flood2 - flood1)) from b"
	[ $((flood2 - flood1)) -ge $flood_min ] ||
		{ echo "# flood_isolation: b's flood is under $flood_min frames"; ok=0; }
	v_flood_isolation=$ok

	# kill9_clean: traffic in flight both ways, B's flood and the
	# host's pings, when B's modvm-run gets SIGKILL.
	finished=1
	ok=1
	ping -q -i 0.01 $b_ip >/dev/null 2>&1 &
	host_pinger=$!
	sleep 2
	kill -9 $pid_b
	wait $pid_b 2>/dev/null
	rc_b=$?
	kill $host_pinger
	echo "# kill9_clean: b's modvm-run ended with status $rc_b"
	[ "$rc_b" = 137 ] || ok=0
	wait_tap_free mvtap1 || ok=0
	echo "# kill9_clean: mvtap1 is free $freed_after s after the kill"
	type_line a "p after-kill -c 3 -w 30 $host_ip; dmesg | grep -E 'virtio|eth0|net_failover|BUG:|WARNING: CPU:|Oops' | sed 's/^/@log-a /'; echo '@dmesg-a 0'; poweroff -f"
	wait_for a after-kill $step_limit
	check_ping "kill9_clean: a -> host after the kill" "$line" 3
	waited=0
	while alive a && [ $waited -lt $step_limit ]; do
		sleep 1
		waited=$((waited + 1))
	done
	alive a && { echo "# kill9_clean: a did not power off"; kill -9 $pid_a; }
	wait $pid_a 2>/dev/null
	rc_a=$?
	echo "# kill9_clean: a's modvm-run ended with status $rc_a"
	[ "$rc_a" = 0 ] || ok=0
	waited=0
	while { [ "$(refcnt)" != "$base_refcnt" ] || [ "$(workers)" != "$base_workers" ]; } &&
	      [ $waited -lt 15 ]; do
		sleep 1
		waited=$((waited + 1))
	done
	echo "# kill9_clean: modvm's reference count $(refcnt) and $(workers) worker threads after $waited s; $base_refcnt and $base_workers before the guests"
	[ "$(refcnt)" = "$base_refcnt" ] && [ "$(workers)" = "$base_workers" ] || ok=0
	# Else the count above proves nothing.
	[ "$running_workers" -gt "$base_workers" ] ||
		{ echo "# kill9_clean: no more modvm worker threads with the guests up than without"; ok=0; }
	wait_tap_free mvtap0 || ok=0
	v_kill9_clean=$ok

	# nic_probe: the NICs and the guests' logs.
	ok=$nics_ok
	answer a log-a | sed 's/^/# nic_probe: a: dmesg: /'
	answer b log-b | sed 's/^/# nic_probe: b: dmesg: /'
	if { answer a log-a; answer b log-b; } |
	   grep -qiE 'error|failed|BUG:|WARNING: CPU:|Oops|timed out|NETDEV WATCHDOG'; then
		echo "# nic_probe: errors in a guest's log (above)"
		ok=0
	fi
	[ -n "$(answer a dmesg-a)" ] && [ -n "$(answer b dmesg-b)" ] ||
		{ echo "# nic_probe: a guest did not show its log"; ok=0; }
	v_nic_probe=$ok
}

# Whatever is left of a session: the guests, the host's helpers.
cleanup() {
	for p in $pid_a $pid_b; do
		kill -0 $p 2>/dev/null && kill -9 $p
	done
	kill $(jobs -p) 2>/dev/null
	wait 2>/dev/null
	exec 3>&- 4>&-
}

show_guests() {
	for g in a b; do
		echo "# $g: the last console lines:"
		tr -d '\r' <$tmp/$g.out | tail -n 25 | sed "s/^/# $g: | /"
		sed "s/^/# $g: stderr: /" $tmp/$g.err
	done
}

# modvm's reference count and worker threads before any guest; the
# guests' modvm-run hold the count through their fds.
base_refcnt=$(refcnt) base_workers=$(workers)
attempt=1
while :; do
	session
	cleanup
	if grep -q 'in-kernel virtio needs modvm' $tmp/a.err $tmp/b.err; then
		skip_all "$device has no in-kernel virtio-net devices: $(cat $tmp/a.err)"
		finish
	fi
	all=1
	for t in $tests; do
		eval "[ \"\$v_$t\" = 1 ]" || all=0
	done
	[ "$all" = 1 ] || show_guests
	[ "$finished" = 0 ] && [ $attempt -lt $attempts ] || break
	attempt=$((attempt + 1))
	echo "# session: a guest died or hung; attempt $attempt of $attempts (QEMU's AMD-V model: see attempts)"
done
echo "# session: $(($(uptime_s) - start)) s"
for t in $tests; do
	eval "v=\$v_$t"
	if [ "$v" = 1 ]; then
		result pass $t
	else
		result fail $t
	fi
done
finish
