#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# modvm-run end to end, in an emulated host (busybox sh), KTAP output.
#  - bad input (not a bzImage, initrd larger than memory, memory too small,
#    missing device): one error line, non-zero status;
#  - boots of the host's own kernel with the guest initramfs (make guest)
#    on the device under test ($MODVM_DEVICE, else /dev/modvm) with 1 and
#    2 vCPUs (and with 2 vCPUs on Debian's kvm.ko as the reference when
#    the runs there did not all pass): the guest reaches init, sees its
#    CPUs and memory, sleeps 1 s (timer interrupts), runs a command typed
#    on its serial console, and its poweroff ends modvm-run with status 0;
#  - a guest that triple-faults ends modvm-run with status 2 and a message
#    (on the device under test and on Debian's KVM).
# A device without an in-kernel irqchip (KVM_CAP_IRQCHIP) skips the boots,
# saying so; a skip is never a pass. The plan line
# comes last: how many runs there are depends on the results.
cd "$(dirname "$0")" || exit 1
. ./ktap.sh
# A guest that ended early closes the pipe its typed command goes to.
trap '' PIPE
run=../modvm-run
kernel=../guest/bzImage
initrd=../guest/initrd
device=${MODVM_DEVICE:-/dev/modvm}
# Per boot: about 50 s in every env (wall time under QEMU, emulated time
# in bochs); a hung guest fails its test long before the host times out.
limit=${MODVM_LAUNCHER_TIMEOUT:-180}
mem_mib=160
# no_timer_check: Linux's boot-time check that the PIT reaches the IOAPIC
# counts ticks over a busy wait, and a starved emulated host CPU misses
# them ("IO-APIC + timer doesn't work!" panic); sleep 1 tests the timer.
append="console=ttyS0,115200 quiet reboot=k panic=-1 pci=off no_timer_check"

echo "TAP version 13"

# Bad input: NAME PATTERN ARGS...: status non-zero, exactly one stderr line
# matching PATTERN, nothing on stdout.
bad_input() {
	name=$1 pattern=$2
	shift 2
	"$run" "$@" </dev/null >/tmp/launcher.out 2>/tmp/launcher.err
	rc=$?
	lines=$(wc -l </tmp/launcher.err)
	echo "# $name: status $rc: $(cat /tmp/launcher.err)"
	if [ "$rc" != 0 ] && [ "$lines" = 1 ] && [ ! -s /tmp/launcher.out ] &&
	   grep -q "^modvm-run: .*$pattern" /tmp/launcher.err; then
		result pass "$name"
	else
		result fail "$name"
	fi
}

bad_input not_a_bzimage "not a bzImage" --device "$device" --kernel "$run"
bad_input initrd_larger_than_memory "does not fit in 4 MiB of guest memory" \
	--device "$device" --kernel "$kernel" --initrd "$kernel" --mem 4M
bad_input memory_too_small "--mem 32 MiB is too small" \
	--device "$device" --kernel "$kernel" --initrd "$initrd" --mem 32M
bad_input device_missing "/dev/modvm-missing: no such device" \
	--device /dev/modvm-missing --kernel "$kernel" --initrd "$initrd"
bad_input cpus_not_a_number "--cpus: 'two' is not a number" \
	--device "$device" --kernel "$kernel" --cpus two
bad_inputs=$n

# A bzImage whose 64-bit entry is UD2 with no IDT: #UD, #NP, #DF, then a
# triple fault. Only the header fields modvm-run and the boot protocol use.
crash_image=/tmp/launcher.crash.bzImage
put() {	# OFFSET BYTES (printf octal escapes)
	printf "$2" | dd of="$crash_image" bs=1 seek="$1" conv=notrunc 2>/dev/null
}
make_crash_image() {
	dd if=/dev/zero of="$crash_image" bs=512 count=4 2>/dev/null
	put $((0x1f1)) '\001'			# setup_sects: entry at 1024 + 0x200
	put $((0x1fe)) '\125\252'		# boot_flag 0xaa55
	put $((0x201)) '\146'			# header ends at 0x268
	put $((0x202)) 'HdrS\014\002'		# protocol 2.12
	put $((0x211)) '\001'			# LOADED_HIGH
	put $((0x22c)) '\377\377\377\177'	# initrd_addr_max
	put $((0x236)) '\001'			# XLF_KERNEL_64
	put $((0x238)) '\377\007'		# cmdline_size
	put $((0x259)) '\000\000\001'		# pref_address 16 MiB
	put $((0x262)) '\020'			# init_size 1 MiB
	put $((0x600)) '\017\013'		# ud2
}

# Triple fault NAME DEVICE: a message and status 2, not 0.
triple_fault() {
	timeout 120 "$run" --device "$2" --mem 64M --kernel "$crash_image" \
		</dev/null >/tmp/launcher.out 2>/tmp/launcher.err
	rc=$?
	echo "# $1: status $rc: $(cat /tmp/launcher.err)"
	if grep -q 'KVM_CAP_IRQCHIP not reported' /tmp/launcher.err; then
		result skip "$1" "$2 has no in-kernel irqchip (KVM_CAP_IRQCHIP not reported)"
	elif [ "$rc" = 2 ] && [ "$(wc -l </tmp/launcher.err)" = 1 ] &&
	     grep -q '^modvm-run: guest crashed: triple fault' /tmp/launcher.err; then
		result pass "$1"
	else
		result fail "$1"
	fi
}

# QEMU 7.2's TCG model of AMD-V (the svm-* hosts) can deliver an injected
# interrupt twice: VMRUN delivers an EVENTINJ interrupt at once but leaves
# the vector as the CPU's pending exception, and an exit request of QEMU's
# round-robin loop before the next #VMEXIT delivers it again, with IF=0,
# often at the handler's first instruction (Linux then runs with the
# user's GS base: "stack guard page was hit"; or spins on a lock its own
# handler holds). Debian's kvm-amd fails 5 of 48 2-vCPU boots there this
# way. modvm injects by V_IRQ where it can, which QEMU delivers once
# (svm/svm.c), but by EVENTINJ when it also needs an interrupt window.
# There, and only there, a failed boot runs once more; the first attempt's
# diagnostics stay in the output.
boot_attempts=1
if grep -qw svm /proc/cpuinfo &&
   grep -q QEMU /sys/class/dmi/id/sys_vendor 2>/dev/null; then
	boot_attempts=2
fi

# Boot NAME DEVICE CPUS: the whole guest session, then check its output;
# sets verdict (pass, fail or skip) and reason.
boot_attempt() {
	name=$1 dev=$2 cpus=$3
	out=/tmp/launcher.$name.out err=/tmp/launcher.$name.err fifo=/tmp/launcher.$name.in
	rm -f "$fifo" && mkfifo "$fifo" || return
	start=$(date +%s)
	# A guest still running at the limit: SIGUSR1 makes modvm-run print
	# the machine's state (vCPUs, LAPICs, PICs, IOAPIC) on stderr, which
	# the test shows, and SIGKILL ends it 10 s later.
	timeout -s USR1 -k 10 "$limit" "$run" --device "$dev" --cpus "$cpus" --mem "${mem_mib}M" \
		--kernel "$kernel" --initrd "$initrd" \
		--append "$append -- sleep input" <"$fifo" >"$out" 2>"$err" &
	pid=$!
	exec 3>"$fifo"
	# Type the command only once the guest reads its console: the
	# UART's FIFO is reset when the guest's driver opens the port.
	while kill -0 "$pid" 2>/dev/null &&
	      ! grep -q 'waiting for a command' "$out"; do
		sleep 1
	done
	echo 'echo "typed: $((6 * 7))"' >&3 2>/dev/null
	exec 3>&-
	wait "$pid"
	rc=$?
	tr -d '\r' <"$out" | grep -a '^modvm-guest\|^typed' | sed "s/^/# $name: /"
	sed "s/^/# $name: stderr: /" "$err"
	echo "# $name: status $rc in $(($(date +%s) - start)) s"
	if grep -q 'KVM_CAP_IRQCHIP not reported' "$err"; then
		verdict=skip reason="$dev has no in-kernel irqchip (KVM_CAP_IRQCHIP not reported)"
		return
	fi
	cpus_seen=$(tr -d '\r' <"$out" | sed -n 's/^modvm-guest: cpus //p')
	mem_kb=$(tr -d '\r' <"$out" | sed -n 's/^modvm-guest: memtotal \([0-9]*\) kB/\1/p')
	slept=$(tr -d '\r' <"$out" | sed -n 's/^modvm-guest: slept from \(.*\) to \(.*\) s/\1 \2/p')
	ok=1
	[ "$rc" = 0 ] || { echo "# $name: modvm-run status $rc, expected 0"; ok=0; }
	[ "$cpus_seen" = "$cpus" ] || { echo "# $name: guest sees '$cpus_seen' CPUs, expected $cpus"; ok=0; }
	# The kernel keeps its image and tables: MemTotal is within 80 MiB below.
	if [ -z "$mem_kb" ] || [ "$mem_kb" -gt $((mem_mib * 1024)) ] ||
	   [ "$mem_kb" -lt $(((mem_mib - 80) * 1024)) ]; then
		echo "# $name: MemTotal '$mem_kb' kB, expected up to $((mem_mib * 1024)) kB"
		ok=0
	fi
	if [ -z "$slept" ] || ! echo "$slept" | awk '{ exit !($2 - $1 >= 0.99) }'; then
		echo "# $name: sleep 1 did not take 1 s of guest time ('$slept')"
		ok=0
	fi
	tr -d '\r' <"$out" | grep -q '^typed: 42$' ||
		{ echo "# $name: the command typed on the serial console did not run"; ok=0; }
	tr -d '\r' <"$out" | grep -q '^modvm-guest: powering off' ||
		{ echo "# $name: the guest did not reach its poweroff"; ok=0; }
	if [ "$ok" = 1 ]; then
		verdict=pass
	else
		echo "# $name: the guest's last console lines:"
		tr -d '\r' <"$out" | tail -n 25 | sed "s/^/# $name: | /"
		verdict=fail
	fi
}

# Boot NAME DEVICE CPUS: boot_attempt, once more where boot_attempts says.
boot() {
	attempt=1
	while :; do
		verdict=fail reason=
		boot_attempt "$@"
		[ "$verdict" = fail ] && [ "$attempt" -lt "$boot_attempts" ] || break
		attempt=$((attempt + 1))
		echo "# $1: failed; attempt $attempt of $boot_attempts (QEMU's AMD-V model: see boot_attempts)"
	done
	result "$verdict" "$1" "$reason"
}

make_crash_image

triple_fault triple_fault "$device"

if [ ! -e "$kernel" ] || [ ! -e "$initrd" ]; then
	result skip boot_1cpu "no guest kernel/initrd here (tools/hostvm --guest)"
	result skip boot_2cpus "no guest kernel/initrd here (tools/hostvm --guest)"
else
	boot boot_1cpu "$device" 1
	# The APs start with INIT/SIPI in real mode (on VT-x without
	# unrestricted guest, modvm runs that in virtual-8086 mode). There
	# (bochs' Core 2: no VMX-preemption timer, see arm_preemption_timer()
	# in vmx/vmx.c) a guest spinning with interrupts off and without
	# PAUSE or RDTSC keeps its host CPU: Linux finds no usable TSC
	# in bochs, and its AP then waits in calibrate_delay() for a tick of
	# the BSP exactly so. A preset lpj skips that calibration.
	saved_append=$append
	if [ "$device" != /dev/kvm ] && grep -q GenuineIntel /proc/cpuinfo &&
	   [ "$(cat /sys/module/modvm/parameters/tdp 2>/dev/null)" = N ]; then
		append="$append lpj=66304"
	fi
	boot boot_2cpus "$device" 2
	append=$saved_append
fi
failed_boots=$fail

# Debian's KVM as the reference: the crash image always (it is cheap),
# the guest boot only when the runs above did not all pass, to tell a
# launcher bug from a bug of the device under test (a Linux boot takes
# minutes in bochs).
if [ "$device" = /dev/kvm ]; then
	echo "# the device under test is /dev/kvm: no reference runs"
elif [ ! -e /dev/kvm ] && { [ ! -x /modvm/kvm/load ] || ! /modvm/kvm/load >/dev/null 2>&1; }; then
	result skip kvm_reference_triple_fault "no kvm.ko that loads in this host"
else
	triple_fault kvm_reference_triple_fault /dev/kvm
	if [ "$failed_boots" -gt 0 ] && [ -e "$kernel" ] && [ -e "$initrd" ]; then
		boot kvm_reference_boot_2cpus /dev/kvm 2
	fi
fi
ktap_end
