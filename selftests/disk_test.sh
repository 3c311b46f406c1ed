#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# modvm's in-kernel virtio-mmio disks and RNG end to end, in an emulated
# host (busybox sh), KTAP output: a Linux guest booted by modvm-run (the
# guest initramfs of make guest) uses them, and the emulated host checks
# the disk images afterwards with e2fsprogs (./e2fsprogs, made by
# tools/host-e2fsprogs).
#  - bad --disk input (missing file, unknown option, serial too long, one
#    image as two writable disks): one error line, status 1;
#  - one 2-vCPU boot with a 64 MiB scratch disk (vda), a read-only ext4
#    disk made on the host (vdb), a 32 MiB disk (vdc) and the RNG, which
#    ends with SIGKILL; one boot in all, as a boot takes minutes in bochs:
#    ext4_round_trip: the guest makes ext4 on vda, writes files of random
#      data, and their SHA-256 sums are the same after a sync and a drop of
#      the page cache and after a umount/mount cycle; on the host, after
#      the kill (vda was unmounted before), e2fsck -fn passes and the
#      files debugfs reads out of the image have the sums the guest
#      printed;
#    read_only_disk: the guest sees vdb read-only, a write to /dev/vdb
#      fails, a read-write mount fails or ends read-only, a file cannot be
#      created on it, its file reads back with the host's sum, and the
#      image is byte for byte unchanged;
#    hwrng: /dev/hwrng is virtio_rng.0; two 64-byte reads are not one
#      repeated byte and differ from each other;
#    virtio_mmio_probe: the guest's virtio_blk logs vda, vdb and vdc with
#      the images' sizes, /sys/block/vdX/serial is the serial= given or
#      the default modvm-diskN, and the guest's log has no I/O error,
#      ext4 error or kernel splat;
#    kill9_durability: last, the guest makes ext4 on vdc, writes a file,
#      fsyncs it and its directory, prints its sum, then rewrites and
#      fsyncs other files in a loop; the host kills modvm-run with SIGKILL
#      in that loop. modvm then lets go of the images (their flocks end)
#      within 15 s, vdc's file system is consistent (e2fsck -fn, after a
#      journal replay by e2fsck -fy on a copy where it needs one) and the
#      fsynced file has the sum the guest printed.
# The device under test is $MODVM_DEVICE, else /dev/modvm. The plan line
# comes last, as in launcher_test.
cd "$(dirname "$0")" || exit 1
. ./ktap.sh
run=../modvm-run
kernel=../guest/bzImage
initrd=../guest/initrd
e2fs=./e2fsprogs
device=${MODVM_DEVICE:-/dev/modvm}
# A hung guest fails its test long before the host's own timeout. The
# boot takes 15-40 s of wall time under QEMU and 90-210 s of emulated
# time in bochs (vmx-shadow the slowest).
if grep -q QEMU /sys/class/dmi/id/sys_vendor 2>/dev/null; then
	limit=${MODVM_DISK_TIMEOUT:-150}
else
	limit=${MODVM_DISK_TIMEOUT:-360}
fi
mem_mib=160
# As launcher_test (no_timer_check: see there).
append="console=ttyS0,115200 quiet reboot=k panic=-1 pci=off no_timer_check"
# Scratch files; not /tmp/disk_test.*, where run-selftests keeps our output.
tmp=/tmp/disk_test.work
tests="ext4_round_trip read_only_disk hwrng virtio_mmio_probe kill9_durability"

echo "TAP version 13"

# The test's own time, for the runtime budget of the slow bochs hosts.
read -r test_start x </proc/uptime

finish() {
	rm -rf $tmp
	read -r test_end x </proc/uptime
	echo "# disk_test took $(echo "$test_start $test_end" | awk '{ printf "%d", $2 - $1 }') s"
	ktap_end
}

sha() {	# FILE: its SHA-256, hex
	sha256sum "$1" | cut -d' ' -f1
}

# Bad input: NAME PATTERN ARGS...: status 1 (modvm-run(1): bad input),
# exactly one stderr line matching PATTERN, nothing on stdout.
bad_input() {
	name=$1 pattern=$2
	shift 2
	timeout 60 "$run" "$@" </dev/null >$tmp/bad.out 2>$tmp/bad.err
	rc=$?
	echo "# $name: status $rc: $(cat $tmp/bad.err)"
	if [ "$rc" = 1 ] && [ "$(wc -l <$tmp/bad.err)" = 1 ] && [ ! -s $tmp/bad.out ] &&
	   grep -q "^modvm-run: .*$pattern" $tmp/bad.err; then
		result pass "$name"
	else
		result fail "$name"
	fi
}

# --- bad input ------------------------------------------------------------

rm -rf $tmp && mkdir -p $tmp || exit 1
truncate -s 1M $tmp/small.img
bad_input disk_missing_file "--disk $tmp/missing.img: no such file" \
	--device "$device" --kernel "$kernel" --initrd "$initrd" --disk $tmp/missing.img
bad_input disk_unknown_option "--disk $tmp/small.img,bogus: unknown option 'bogus'" \
	--device "$device" --kernel "$kernel" --initrd "$initrd" --disk $tmp/small.img,bogus
bad_input disk_serial_too_long "serial '123456789012345678901' is longer than 20 bytes" \
	--device "$device" --kernel "$kernel" --initrd "$initrd" \
	--disk $tmp/small.img,serial=123456789012345678901
# A writable disk locks its image: the same image twice cannot both write.
bad_input disk_same_image_twice "--disk $tmp/small.img: in use by another disk or process (locked)" \
	--device "$device" --kernel "$kernel" --initrd "$initrd" \
	--disk $tmp/small.img --disk $tmp/small.img

if [ ! -e "$kernel" ] || [ ! -e "$initrd" ] || [ ! -x $e2fs/debugfs ]; then
	for t in $tests; do
		result skip $t "no guest kernel/initrd or e2fsprogs here (tools/hostvm --guest, make selftests)"
	done
	finish
fi

# --- the boot -------------------------------------------------------------

img=$tmp/scratch.img ro_img=$tmp/ro.img kill_img=$tmp/kill.img
scratch_sectors=131072 ro_sectors=16384 kill_sectors=65536	# 64, 8, 32 MiB
serial=disk-test-serial-a1					# 19 bytes

# The read-only disk: ext4 made here, with one file of random data, and a
# copy of the image to compare with afterwards.
make_ro_image() {
	rm -f $ro_img
	head -c 200003 /dev/urandom >$tmp/rofile
	$e2fs/mke2fs -q -t ext4 -F $ro_img $((ro_sectors / 2))k &&
		$e2fs/debugfs -w -R "write $tmp/rofile rofile" $ro_img >/dev/null 2>&1 &&
		cp $ro_img $tmp/ro.orig
}

# The guest's steps (tools/guest-init), one command line each. The kernel
# passes them to init: no double quotes inside, no newlines. Every
# process costs about a second of a shadow-paged guest in bochs, so the
# steps use shell builtins where they can. Each starts with its time on
# the guest's clock (at:STEP SECONDS), to show where the time goes.
at() {	# STEP
	echo "read t x </proc/uptime; echo at:$1 \${t%.*};"
}
# Write: 4 KiB, an odd 300 KiB, 1.5 MiB and a file in a folder (about
# 2 MiB: busybox's sha256sum is slow in bochs); their sums after writing
# (from the page cache), after sync and a drop of the clean cache (read
# from the disk), after umount/mount, each list after a sums:WHEN line.
files="f1 f2 f3 d/f4"
step_write="$(at write) set -e; mkfs.ext4 -q /dev/vda; mount /dev/vda /mnt; cd /mnt;\
 head -c 4096 /dev/urandom >f1; head -c 307201 /dev/urandom >f2;\
 head -c 1572864 /dev/urandom >f3; mkdir d; head -c 65537 /dev/urandom >d/f4;\
 echo sums:written; sha256sum $files; sync; echo 3 >/proc/sys/vm/drop_caches;\
 echo sums:dropped; sha256sum $files; cd /; umount /mnt; mount /dev/vda /mnt;\
 cd /mnt; echo sums:remounted; sha256sum $files; cd /; umount /mnt"
# Read-only: a raw write, a read-write mount (falling back to a read-only
# one if it fails), a file creation, a read; each status with the first
# line of the command's errors.
step_ro="$(at ro) dd if=/dev/zero of=/dev/vdb bs=4096 count=1 conv=fsync 2>/tmp/e;\
 r=\$?; read -r e </tmp/e; echo ro-dd:\$r \$e;\
 mount -o rw /dev/vdb /mnt 2>/tmp/e; r=\$?; read -r e </tmp/e; echo ro-mount-rw:\$r \$e;\
 grep -q ' /mnt ' /proc/mounts || mount -o ro /dev/vdb /mnt;\
 echo ro-mounted:\$(grep ' /mnt ' /proc/mounts);\
 touch /mnt/new 2>/tmp/e; r=\$?; read -r e </tmp/e; echo ro-touch:\$r \$e;\
 echo ro-file:\$(sha256sum </mnt/rofile); umount /mnt"
# Two reads of the RNG, each its own open and read: od -N64 shows 64
# bytes (the shell joins od's lines with spaces).
step_rng="$(at rng) echo rng1: \$(od -An -v -tx1 -N64 /dev/hwrng);\
 echo rng2: \$(od -An -v -tx1 -N64 /dev/hwrng)"
# The guest's log about its disks after a dmesg: line, without the
# command line (run: ...).
step_dmesg="$(at dmesg) echo dmesg:; dmesg | grep -v run: |\
 grep -E 'virtio|vd[a-z]|EXT4-fs|I/O error|blk_update|BUG:|WARNING: CPU:|Oops'"
# Kill: a file fsynced with its folder (its directory entry), its sum,
# then files rewritten and fsynced until the host kills the machine.
step_kill="$(at kill) set -e; mkfs.ext4 -q /dev/vdc; mount /dev/vdc /mnt;\
 head -c 1048576 /dev/urandom >/mnt/durable; sync /mnt/durable /mnt;\
 echo durable:\$(sha256sum </mnt/durable); i=0;\
 while :; do f=/mnt/junk\$((i % 8)); head -c 262144 /dev/urandom >\$f; sync \$f;\
 i=\$((i + 1)); echo junk:\$i; done"

# What the guest printed on its console ($out): the lines that start with
# PREFIX, without it.
console() {	# PREFIX
	tr -d '\r' <"$out" | sed -n "s|^$1||p"
}

# The "SUM  FILE" lines after the guest's sums:WHEN line, sorted as
# "FILE SUM".
sums() {	# WHEN
	tr -d '\r' <"$out" | awk -v w="sums:$1" '
		/^sums:/ { on = ($0 == w); next }
		on && NF == 2 && length($1) == 64 { print $2, $1; next }
		{ on = 0 }' | sort
}

# The guest's log: its lines between dmesg: and the step's status.
guest_log() {
	tr -d '\r' <"$out" | sed -n '/^dmesg:$/,/^modvm-guest: run status/p' | sed '1d;$d'
}

step_status() {	# N: the status of the guest's Nth run: step
	console 'modvm-guest: run status ' | sed -n "${1}p"
}

# QEMU 7.2's TCG model of AMD-V can deliver an injected interrupt twice
# and crash or hang a guest (launcher_test's boot_attempts says how).
# There a boot that did not get through its steps runs once more; a boot
# that got through them is judged on what it did, never run again, so a
# wrong checksum is never retried away.
boot_attempts=1
if grep -qw svm /proc/cpuinfo &&
   grep -q QEMU /sys/class/dmi/id/sys_vendor 2>/dev/null; then
	boot_attempts=2
fi

# Sets out, err, rc, killed (1: SIGKILL came while the guest was in its
# write loop) and finished (1: the guest got through its steps: killed,
# or its last step ended and it powered off).
boot_attempt() {
	out=$tmp/boot.out err=$tmp/boot.err
	rm -f $img $kill_img
	truncate -s $((scratch_sectors / 2))k $img && truncate -s $((kill_sectors / 2))k $kill_img &&
		make_ro_image || { echo "# boot: cannot make the images"; finished=0 killed=0; return; }
	rofile_sum=$(sha $tmp/rofile)
	echo "# boot: read-only image made, its rofile $rofile_sum"
	boot_append=$append
	# As launcher_test's 2-vCPU boot: on VT-x without EPT (no
	# VMX-preemption timer) the AP's delay-loop calibration can hold a
	# host CPU; a preset lpj skips it.
	if grep -q GenuineIntel /proc/cpuinfo &&
	   [ "$(cat /sys/module/modvm/parameters/tdp 2>/dev/null)" = N ]; then
		boot_append="$boot_append lpj=66304"
	fi
	start=$(date +%s)
	"$run" --device "$device" --cpus 2 --mem "${mem_mib}M" \
		--kernel "$kernel" --initrd "$initrd" \
		--disk "$img,serial=$serial" --disk "$ro_img,ro" --disk "$kill_img" --rng \
		--append "$boot_append -- disk \"run:$step_write\" \"run:$step_ro\" \"run:$step_rng\" \"run:$step_dmesg\" \"run:$step_kill\"" \
		</dev/null >"$out" 2>"$err" &
	pid=$!
	# Kill once the loop has rewritten three files after the fsync.
	killed=0
	while kill -0 $pid 2>/dev/null; do
		if console junk: | grep -q '^3$'; then
			kill -9 $pid
			killed=1
			break
		fi
		if [ $(($(date +%s) - start)) -ge "$limit" ]; then
			# The machine's state on stderr, shown below.
			echo "# boot: not in the write loop after $limit s: SIGUSR1, SIGKILL"
			kill -USR1 $pid
			sleep 10
			kill -9 $pid
			break
		fi
		sleep 1
	done
	wait $pid
	rc=$?
	console 'modvm-guest: ' | sed 's/^/# boot: /'
	echo "# boot: guest time (s) at the start of each step:" $(console at:)
	echo "# boot: modvm-run status $rc after $(($(date +%s) - start)) s; killed after junk:$(console junk: | tail -n 1)"
	finished=0
	if [ "$killed" = 1 ] && [ "$rc" = 137 ]; then
		finished=1
	elif [ "$(console 'modvm-guest: run status ' | wc -l)" = 5 ] &&
	     console 'modvm-guest: ' | grep -q '^powering off'; then
		finished=1 killed=0
	fi
	if [ "$finished" = 0 ] || [ "$killed" = 0 ]; then
		echo "# boot: the guest's last console lines:"
		tr -d '\r' <"$out" | tail -n 30 | sed "s/^/# boot: | /"
		sed "s/^/# boot: stderr: /" "$err"
	fi
}

check_ext4_round_trip() {
	name=ext4_round_trip ok=1
	written=$(sums written)
	echo "$written" | sed "s/^/# $name: written: /"
	[ "$(echo "$written" | grep -c .)" = 4 ] ||
		{ echo "# $name: expected 4 sums after writing"; ok=0; }
	[ "$(step_status 1)" = 0 ] ||
		{ echo "# $name: the guest's step failed: status '$(step_status 1)'"; ok=0; }
	for when in dropped remounted; do
		if [ "$(sums $when)" = "$written" ]; then
			echo "# $name: $when: the same sums"
		else
			sums $when | sed "s/^/# $name: $when: /"
			echo "# $name: the sums $when differ"
			ok=0
		fi
	done
	$e2fs/e2fsck -fn $img >$tmp/fsck 2>&1
	fsck_rc=$?
	sed "s/^/# $name: e2fsck -fn: /" $tmp/fsck
	[ "$fsck_rc" = 0 ] || { echo "# $name: e2fsck -fn status $fsck_rc, expected 0"; ok=0; }
	# One debugfs run dumps them all (each run of a tool counts in bochs).
	rm -rf $tmp/dump && mkdir $tmp/dump
	for f in $files; do
		echo "dump /$f $tmp/dump/${f##*/}"
	done | $e2fs/debugfs -f - $img >/dev/null 2>&1
	host=$(for f in $files; do
		if [ -e $tmp/dump/${f##*/} ]; then
			echo "$f $(sha $tmp/dump/${f##*/})"
		else
			echo "$f missing"
		fi
	done | sort)
	if [ "$host" = "$written" ]; then
		echo "# $name: the host reads the same sums from the image"
	else
		echo "$host" | sed "s/^/# $name: host: /"
		echo "# $name: the host reads other data from the image"
		ok=0
	fi
}

check_read_only_disk() {
	name=read_only_disk ok=1
	console 'ro-' | sed "s/^/# $name: ro-/"
	console 'modvm-guest: disk vdb ' | grep -q ' ro 1 ' ||
		{ echo "# $name: the guest does not see vdb read-only"; ok=0; }
	console 'modvm-guest: disk vda ' | grep -q ' ro 0 ' ||
		{ echo "# $name: the guest does not see vda writable"; ok=0; }
	dd_rc=$(console ro-dd: | cut -d' ' -f1)
	[ -n "$dd_rc" ] && [ "$dd_rc" != 0 ] ||
		{ echo "# $name: dd to /dev/vdb: status '$dd_rc', expected a failure"; ok=0; }
	mount_rc=$(console ro-mount-rw: | cut -d' ' -f1)
	options=$(console ro-mounted: | awk '{ print $4 }')
	if [ -z "$options" ]; then
		echo "# $name: vdb did not mount at all"
		ok=0
	elif [ "$mount_rc" != 0 ]; then
		echo "# $name: the read-write mount failed; read-only: $options"
	else
		echo "# $name: the read-write mount fell back to $options"
	fi
	case $options in
	ro,*|ro) ;;
	*) echo "# $name: vdb is not mounted read-only"; ok=0 ;;
	esac
	touch_rc=$(console ro-touch: | cut -d' ' -f1)
	[ -n "$touch_rc" ] && [ "$touch_rc" != 0 ] ||
		{ echo "# $name: touch on vdb: status '$touch_rc', expected a failure"; ok=0; }
	guest_sum=$(console ro-file: | cut -d' ' -f1)
	[ "$guest_sum" = "$rofile_sum" ] ||
		{ echo "# $name: the guest reads rofile as '$guest_sum', the host wrote $rofile_sum"; ok=0; }
	if cmp -s $ro_img $tmp/ro.orig; then
		echo "# $name: the image is unchanged (cmp)"
	else
		echo "# $name: the image changed: $(cmp $ro_img $tmp/ro.orig 2>&1)"
		ok=0
	fi
}

check_hwrng() {
	name=hwrng ok=1
	rng=$(console 'modvm-guest: rng ')
	echo "# $name: rng $rng"
	[ "$rng" = virtio_rng.0 ] || { echo "# $name: the hwrng is '$rng', not virtio_rng.0"; ok=0; }
	for i in 1 2; do
		bytes=$(console rng$i: | tr -d ' ')
		echo "# $name: read $i: $bytes"
		if [ "${#bytes}" != 128 ] || [ -n "$(echo "$bytes" | tr -d '0-9a-f')" ]; then
			echo "# $name: read $i is not 64 bytes"
			ok=0
		elif [ -z "$(echo "$bytes" | sed "s/$(echo "$bytes" | cut -c1-2)//g")" ]; then
			echo "# $name: read $i is one byte repeated"
			ok=0
		fi
	done
	[ "$(console rng1:)" != "$(console rng2:)" ] ||
		{ echo "# $name: the two reads are the same"; ok=0; }
}

check_virtio_mmio_probe() {
	name=virtio_mmio_probe ok=1
	guest_log | sed "s/^/# $name: dmesg: /"
	for d in "vda $scratch_sectors $serial" "vdb $ro_sectors modvm-disk1" \
		 "vdc $kill_sectors modvm-disk2"; do
		set -- $d
		guest_log | grep -q "virtio_blk .*\[$1\] $2 512-byte logical blocks" ||
			{ echo "# $name: no virtio_blk line for $1 with $2 sectors"; ok=0; }
		line=$(console "modvm-guest: disk $1 ")
		case $line in
		"sectors $2 ro "?" serial $3") ;;
		*) echo "# $name: $1: '$line', expected $2 sectors and serial $3"; ok=0 ;;
		esac
	done
	[ "$(console 'modvm-guest: disk ' | wc -l)" = 3 ] ||
		{ echo "# $name: the guest sees other than 3 disks"; ok=0; }
	# Not "Call Trace" alone: the guest logs one for each MSR access
	# that faults, which says nothing about its disks.
	if guest_log |
	   grep -qE 'I/O error|blk_update|EXT4-fs (error|warning)|virtio.*(fail|error)|BUG:|WARNING: CPU:|Oops'; then
		echo "# $name: errors in the guest's log (above)"
		ok=0
	fi
}

# modvm-run --disk IMG... with a kernel that is not a bzImage stops at the
# kernel once it has the disks' locks (main.c opens them first), or at a
# lock: true if no one holds the images.
images_free() {	# IMG...
	for i in "$@"; do
		set -- "$@" --disk "$i"
		shift
	done
	"$run" --device "$device" --kernel "$run" "$@" </dev/null >/dev/null 2>$tmp/probe
	grep -q 'not a bzImage' $tmp/probe
}

# modvm holds the images until the devices' last requests have drained.
check_release() {
	waited=0
	until images_free $img $ro_img $kill_img; do
		if [ $waited -ge 15 ]; then
			echo "# kill9_durability: the images are still locked $waited s after modvm-run died: $(cat $tmp/probe)"
			released=0
			return
		fi
		sleep 1
		waited=$((waited + 1))
	done
	echo "# kill9_durability: the images are free $waited s after modvm-run died"
	released=1
}

check_kill9() {
	name=kill9_durability ok=$released
	durable=$(console durable: | cut -d' ' -f1)
	echo "# $name: the guest's fsynced file: $durable"
	$e2fs/e2fsck -fn $kill_img >$tmp/fsck 2>&1
	fsck_rc=$?
	sed "s/^/# $name: e2fsck -fn: /" $tmp/fsck
	checked=$kill_img
	if grep -q 'skipping journal recovery' $tmp/fsck; then
		# The journal holds what was committed but not yet written
		# back; -n neither replays it nor judges the image without it.
		echo "# $name: e2fsck -fn (status $fsck_rc) skipped the journal recovery: judged after a replay by e2fsck -fy on a copy"
		checked=$tmp/kill.replayed.img
		cp $kill_img $checked
		$e2fs/e2fsck -fy $checked >$tmp/fsck 2>&1
		sed "s/^/# $name: e2fsck -fy: /" $tmp/fsck
		$e2fs/e2fsck -fn $checked >$tmp/fsck 2>&1
		fsck_rc=$?
		sed "s/^/# $name: e2fsck -fn after the replay: /" $tmp/fsck
	else
		echo "# $name: e2fsck -fn checked the image as it was, without a replay"
	fi
	[ "$fsck_rc" = 0 ] || { echo "# $name: e2fsck -fn status $fsck_rc, expected 0"; ok=0; }
	rm -f $tmp/durable
	$e2fs/debugfs -R "dump /durable $tmp/durable" $checked >/dev/null 2>&1
	host=$([ -e $tmp/durable ] && sha $tmp/durable)
	if [ -n "$durable" ] && [ "$host" = "$durable" ]; then
		echo "# $name: the image holds the fsynced file"
	else
		echo "# $name: the image holds '$host' as the fsynced file"
		ok=0
	fi
}

attempt=1
while :; do
	boot_attempt
	[ "$finished" = 0 ] && [ "$attempt" -lt "$boot_attempts" ] || break
	attempt=$((attempt + 1))
	echo "# boot: the guest did not get through its steps; attempt $attempt of $boot_attempts (QEMU's AMD-V model: see boot_attempts)"
done
if grep -q 'in-kernel virtio needs modvm' "$err"; then
	for t in $tests; do
		result skip $t "$device has no in-kernel virtio devices"
	done
elif [ "$finished" = 0 ]; then
	for t in $tests; do
		result fail $t
	done
else
	start=$(date +%s)
	check_release
	check_ext4_round_trip; verdict ext4_round_trip
	check_read_only_disk; verdict read_only_disk
	check_hwrng; verdict hwrng
	check_virtio_mmio_probe; verdict virtio_mmio_probe
	if [ "$killed" = 1 ]; then
		check_kill9; verdict kill9_durability
	else
		echo "# kill9_durability: the guest's last step ended instead of writing until killed: status $(step_status 5)"
		result fail kill9_durability
	fi
	echo "# the host's checks took $(($(date +%s) - start)) s"
fi
finish
