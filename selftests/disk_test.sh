#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# modvm's in-kernel virtio-mmio disks and RNG end to end, in an emulated
# host (busybox sh), KTAP output: Linux guests booted by modvm-run (the
# guest initramfs of make guest) use them, and the emulated host checks the
# disk images afterwards with e2fsprogs (./e2fsprogs: tools/host-e2fsprogs).
#  - bad --disk input (missing file, unknown option, serial too long, one
#    image as two writable disks): one error line, status 1;
#  - one boot with a 64 MiB scratch disk (vda), a read-only ext4 disk
#    made on the host (vdb) and the RNG, for four results:
#    ext4_round_trip: the guest makes ext4 on vda, writes files of random
#      data, and their SHA-256 sums are the same after a sync and a drop of
#      the page cache and after a umount/mount cycle; on the host after the
#      guest's poweroff, e2fsck -fn passes and the files debugfs reads out
#      of the image have the sums the guest printed;
#    read_only_disk: the guest sees vdb read-only, a write to /dev/vdb
#      fails, a read-write mount fails or ends read-only, a file cannot be
#      created on it, its file reads back with the host's sum, and the
#      image is bit for bit unchanged;
#    hwrng: /dev/hwrng is virtio_rng.0; two 64-byte reads are not one
#      repeated byte and differ from each other;
#    virtio_mmio_probe: the guest's virtio_blk logs vda and vdb with the
#      images' sizes, /sys/block/vdX/serial is the serial= given (and
#      modvm-disk1, the default, where none is), and the guest's log has
#      no I/O error, ext4 error or kernel splat;
#  - kill9_durability: a 2-vCPU guest makes ext4, writes a file, fsyncs it
#    and its directory, prints its sum, then rewrites and fsyncs other
#    files in a loop; the host kills modvm-run with SIGKILL in that loop.
#    modvm then lets go of the image (its flock ends) within 15 s, the
#    file system is consistent (e2fsck -fn, after a journal replay by
#    e2fsck -fy on a copy where it needs one) and the fsynced file has the
#    sum the guest printed.
# The device under test is $MODVM_DEVICE, else /dev/modvm. The plan line
# comes last, as in launcher_test.
cd "$(dirname "$0")" || exit 1
run=../modvm-run
kernel=../guest/bzImage
initrd=../guest/initrd
e2fs=./e2fsprogs
device=${MODVM_DEVICE:-/dev/modvm}
# A hung guest fails its test long before the host's own timeout. A boot
# takes about 50 s (wall time under QEMU, emulated time in bochs).
limit=${MODVM_DISK_TIMEOUT:-180}
mem_mib=160
# As launcher_test (no_timer_check: see there).
append="console=ttyS0,115200 quiet reboot=k panic=-1 pci=off no_timer_check"
# Scratch files; not /tmp/disk_test.*, where run-selftests keeps our output.
tmp=/tmp/disk_test.work
pass=0 fail=0 skip=0 n=0

echo "TAP version 13"

result() {	# STATUS NAME [REASON]
	n=$((n + 1))
	case $1 in
	pass) pass=$((pass + 1)); echo "ok $n $2" ;;
	skip) skip=$((skip + 1)); echo "ok $n $2 # SKIP $3" ;;
	*) fail=$((fail + 1)); echo "not ok $n $2" ;;
	esac
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

# What a guest printed on its console ($out): the lines that start with
# PREFIX, without it.
console() {	# PREFIX
	tr -d '\r' <"$out" | sed -n "s|^$1||p"
}

# Shows a failed guest's last console lines and its stderr.
show_console() {	# NAME
	echo "# $1: the guest's last console lines:"
	tr -d '\r' <"$out" | tail -n 30 | sed "s/^/# $1: | /"
	sed "s/^/# $1: stderr: /" "$err"
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
	why="no guest kernel/initrd or e2fsprogs here (tools/hostvm --guest, make selftests)"
	for t in ext4_round_trip read_only_disk hwrng virtio_mmio_probe kill9_durability; do
		result skip $t "$why"
	done
	rm -rf $tmp
	echo "1..$n"
	echo "# Totals: pass:$pass fail:$fail xfail:0 xpass:0 skip:$skip error:0"
	[ "$fail" = 0 ]
	exit
fi

# --- one boot: scratch disk, read-only disk, RNG --------------------------

img=$tmp/scratch.img ro_img=$tmp/ro.img
scratch_sectors=131072 ro_sectors=32768	# 64 MiB, 16 MiB
serial=disk-test-serial-a1			# 19 bytes

# The read-only disk: ext4 made here, with one file of random data.
make_ro_image() {
	rm -f $ro_img
	head -c 200003 /dev/urandom >$tmp/rofile
	$e2fs/mke2fs -q -t ext4 -F $ro_img $((ro_sectors / 2))k &&
		$e2fs/debugfs -w -R "write $tmp/rofile rofile" $ro_img >/dev/null 2>&1
}

# The guest's steps (tools/guest-init), one command line each. The kernel
# passes them to init: no double quotes inside, no newlines.
# Write: 4 KiB, an odd 300 KiB, 1 MiB, 2.5 MiB and a file in a folder;
# their sums after writing (from the page cache), after sync and a drop of
# the clean cache (read from the disk), after umount/mount.
files="f1 f2 f3 f4 d/f5"
step_write="set -e; mkfs.ext4 -q /dev/vda; mount /dev/vda /mnt; cd /mnt;\
 head -c 4096 /dev/urandom >f1; head -c 307201 /dev/urandom >f2;\
 head -c 1048576 /dev/urandom >f3; head -c 2621440 /dev/urandom >f4;\
 mkdir d; head -c 65537 /dev/urandom >d/f5;\
 sha256sum $files | sed s/^/written:/; sync; echo 3 >/proc/sys/vm/drop_caches;\
 sha256sum $files | sed s/^/dropped:/; cd /; umount /mnt; mount /dev/vda /mnt;\
 cd /mnt; sha256sum $files | sed s/^/remounted:/; cd /; umount /mnt"
# Read-only: a raw write, a read-write mount (falling back to a read-only
# one if it fails), a file creation, a read.
step_ro="dd if=/dev/zero of=/dev/vdb bs=4096 count=1 conv=fsync 2>/tmp/e;\
 echo ro-dd:\$? \$(cat /tmp/e); mount -o rw /dev/vdb /mnt 2>/tmp/e;\
 echo ro-mount-rw:\$? \$(cat /tmp/e);\
 grep -q ' /mnt ' /proc/mounts || mount -o ro /dev/vdb /mnt;\
 grep ' /mnt ' /proc/mounts | sed s/^/ro-mounted:/;\
 touch /mnt/new 2>/tmp/e; echo ro-touch:\$? \$(cat /tmp/e);\
 sha256sum /mnt/rofile | sed s/^/ro-file:/; umount /mnt"
step_rng="for i in 1 2; do\
 echo rng\$i:\$(head -c 64 /dev/hwrng | od -An -v -tx1 | tr -d ' \n'); done"
# The guest's log about its disks, without the command line (run: ...).
step_dmesg="dmesg | grep -v run: |\
 grep -E 'virtio|vd[a-z]|EXT4-fs|I/O error|blk_update|BUG:|WARNING: CPU:|Oops'\
 | sed s/^/dmesg:/"

# Sets out, err, rc, secs and done (1: the guest ran its steps and powered
# off, 0: it did not get there).
boot_disks_attempt() {
	out=$tmp/disks.out err=$tmp/disks.err
	rm -f $img && truncate -s $((scratch_sectors / 2))k $img
	make_ro_image || { echo "# disks: cannot make $ro_img"; done=0 rc=- secs=0; return; }
	ro_sum=$(sha $ro_img) rofile_sum=$(sha $tmp/rofile)
	echo "# disks: read-only image $ro_sum, its rofile $rofile_sum"
	start=$(date +%s)
	timeout -s USR1 -k 10 "$limit" "$run" --device "$device" --cpus 1 --mem "${mem_mib}M" \
		--kernel "$kernel" --initrd "$initrd" \
		--disk "$img,serial=$serial" --disk "$ro_img,ro" --rng \
		--append "$append -- disk \"run:$step_write\" \"run:$step_ro\" \"run:$step_rng\" \"run:$step_dmesg\"" \
		</dev/null >"$out" 2>"$err"
	rc=$?
	secs=$(($(date +%s) - start))
	console 'modvm-guest: ' | sed 's/^/# disks: /'
	echo "# disks: modvm-run status $rc in $secs s"
	done=0
	if [ "$rc" = 0 ] && [ "$(console 'modvm-guest: run status ' | wc -l)" = 4 ] &&
	   console 'modvm-guest: ' | grep -q '^powering off'; then
		done=1
	else
		show_console disks
	fi
}

step_status() {	# N: the status of the guest's Nth run: step
	console 'modvm-guest: run status ' | sed -n "${1}p"
}

# Sorted "FILE SUM" lines from "SUM  FILE" lines.
by_file() {
	awk '{ print $2, $1 }' | sed 's|^/mnt/||' | sort
}

check_ext4_round_trip() {
	name=ext4_round_trip ok=1
	written=$(console written: | by_file)
	echo "$written" | sed "s/^/# $name: written: /"
	[ "$(echo "$written" | grep -c .)" = 5 ] ||
		{ echo "# $name: expected 5 sums after writing"; ok=0; }
	[ "$(step_status 1)" = 0 ] || { echo "# $name: the guest's step failed: status '$(step_status 1)'"; ok=0; }
	for when in dropped remounted; do
		if [ "$(console $when: | by_file)" = "$written" ]; then
			echo "# $name: $when: the same sums"
		else
			console $when: | by_file | sed "s/^/# $name: $when: /"
			echo "# $name: the sums $when differ"
			ok=0
		fi
	done
	$e2fs/e2fsck -fn $img >$tmp/fsck 2>&1
	fsck_rc=$?
	sed "s/^/# $name: e2fsck -fn: /" $tmp/fsck
	[ "$fsck_rc" = 0 ] || { echo "# $name: e2fsck -fn status $fsck_rc, expected 0"; ok=0; }
	host=$(for f in $files; do
		rm -f $tmp/dump
		$e2fs/debugfs -R "dump /$f $tmp/dump" $img >/dev/null 2>&1
		[ -e $tmp/dump ] && echo "$f $(sha $tmp/dump)" || echo "$f missing"
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
		echo "# $name: the read-write mount succeeded: $options"
	fi
	case $options in ro,*|ro) ;; *) echo "# $name: vdb is not mounted read-only"; ok=0 ;; esac
	touch_rc=$(console ro-touch: | cut -d' ' -f1)
	[ -n "$touch_rc" ] && [ "$touch_rc" != 0 ] ||
		{ echo "# $name: touch on vdb: status '$touch_rc', expected a failure"; ok=0; }
	guest_sum=$(console ro-file: | cut -d' ' -f1)
	[ "$guest_sum" = "$rofile_sum" ] ||
		{ echo "# $name: the guest reads rofile as '$guest_sum', the host wrote $rofile_sum"; ok=0; }
	after=$(sha $ro_img)
	if [ "$after" = "$ro_sum" ]; then
		echo "# $name: the image is unchanged: $after"
	else
		echo "# $name: the image changed: $ro_sum, now $after"
		ok=0
	fi
}

check_hwrng() {
	name=hwrng ok=1
	rng=$(console 'modvm-guest: rng ')
	echo "# $name: rng $rng"
	[ "$rng" = virtio_rng.0 ] || { echo "# $name: the hwrng is '$rng', not virtio_rng.0"; ok=0; }
	for i in 1 2; do
		bytes=$(console rng$i:)
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
	console dmesg: | sed "s/^/# $name: dmesg: /"
	for d in "vda $scratch_sectors $serial" "vdb $ro_sectors modvm-disk1"; do
		set -- $d
		console dmesg: | grep -q "virtio_blk .*\[$1\] $2 512-byte logical blocks" ||
			{ echo "# $name: no virtio_blk line for $1 with $2 sectors"; ok=0; }
		line=$(console "modvm-guest: disk $1 ")
		case $line in
		"sectors $2 ro "?" serial $3") ;;
		*) echo "# $name: $1: '$line', expected $2 sectors and serial $3"; ok=0 ;;
		esac
	done
	[ "$(console 'modvm-guest: disk ' | wc -l)" = 2 ] ||
		{ echo "# $name: the guest sees other than 2 disks"; ok=0; }
	# Not "Call Trace" alone: the guest logs one for each MSR access
	# that faults, which says nothing about its disks.
	if console dmesg: |
	   grep -qE 'I/O error|blk_update|EXT4-fs (error|warning)|virtio.*(fail|error)|BUG:|WARNING: CPU:|Oops'; then
		echo "# $name: errors in the guest's log (above)"
		ok=0
	fi
}

verdict() {	# NAME: pass if the check set ok=1
	[ "$ok" = 1 ] && result pass "$1" || result fail "$1"
}

attempt=1
while :; do
	boot_disks_attempt
	[ "$done" = 0 ] && [ "$attempt" -lt "$boot_attempts" ] || break
	attempt=$((attempt + 1))
	echo "# disks: the guest did not finish; attempt $attempt of $boot_attempts (QEMU's AMD-V model: see boot_attempts)"
done
if grep -q 'in-kernel virtio needs modvm' "$err"; then
	for t in ext4_round_trip read_only_disk hwrng virtio_mmio_probe; do
		result skip $t "$device has no in-kernel virtio devices"
	done
elif [ "$done" = 0 ]; then
	for t in ext4_round_trip read_only_disk hwrng virtio_mmio_probe; do
		result fail $t
	done
else
	check_ext4_round_trip; verdict ext4_round_trip
	check_read_only_disk; verdict read_only_disk
	check_hwrng; verdict hwrng
	check_virtio_mmio_probe; verdict virtio_mmio_probe
fi

# --- kill -9 while the guest writes ---------------------------------------

kill_img=$tmp/kill.img
# The file is fsynced, and so is its folder (its directory entry).
step_kill="set -e; mkfs.ext4 -q /dev/vda; mount /dev/vda /mnt;\
 head -c 1048576 /dev/urandom >/mnt/durable; sync /mnt/durable /mnt;\
 echo durable:\$(sha256sum </mnt/durable); i=0;\
 while :; do f=/mnt/junk\$((i % 8)); head -c 262144 /dev/urandom >\$f; sync \$f;\
 i=\$((i + 1)); echo junk:\$i; done"

# modvm-run --disk IMG with a kernel that is not a bzImage stops at the
# kernel, after it took the disk's lock, or at the lock (the usage order
# of main.c): 0 if the image is free.
image_free() {	# IMG
	"$run" --device "$device" --kernel "$run" --disk "$1" </dev/null >/dev/null 2>$tmp/probe
	grep -q 'not a bzImage' $tmp/probe
}

# Sets out, err, rc, durable (the guest's sum) and killed (1: SIGKILL
# came while the guest was writing).
boot_kill_attempt() {
	out=$tmp/kill.out err=$tmp/kill.err
	rm -f $kill_img && truncate -s 64M $kill_img
	kill_append=$append
	# As launcher_test's 2-vCPU boot: on VT-x without EPT (no
	# VMX-preemption timer) the AP's delay-loop calibration can hold a
	# host CPU; a preset lpj skips it.
	if grep -q GenuineIntel /proc/cpuinfo &&
	   [ "$(cat /sys/module/modvm/parameters/tdp 2>/dev/null)" = N ]; then
		kill_append="$kill_append lpj=66304"
	fi
	start=$(date +%s)
	"$run" --device "$device" --cpus 2 --mem "${mem_mib}M" \
		--kernel "$kernel" --initrd "$initrd" --disk $kill_img \
		--append "$kill_append -- \"run:$step_kill\"" </dev/null >"$out" 2>"$err" &
	pid=$!
	# Kill only once the loop has rewritten three files after the fsync.
	killed=0
	while kill -0 $pid 2>/dev/null; do
		if console junk: | grep -q '^3$'; then
			kill -9 $pid
			killed=1
			break
		fi
		if [ $(($(date +%s) - start)) -ge "$limit" ]; then
			echo "# kill9_durability: no progress in $limit s: the machine's state follows"
			kill -USR1 $pid
			sleep 10
			kill -9 $pid
			break
		fi
		sleep 1
	done
	wait $pid
	rc=$?
	secs=$(($(date +%s) - start))
	console 'modvm-guest: ' | sed 's/^/# kill9_durability: /'
	durable=$(console durable: | cut -d' ' -f1)
	echo "# kill9_durability: durable: $durable; killed after junk:$(console junk: | tail -n 1)"
	echo "# kill9_durability: modvm-run status $rc after $secs s"
	if [ "$killed" = 0 ] || [ "$rc" != 137 ] || [ -z "$durable" ]; then
		killed=0
		show_console kill9_durability
	fi
}

check_kill9() {
	name=kill9_durability ok=1
	# modvm holds the image until the device's last request has drained.
	waited=0
	while ! image_free $kill_img && [ $waited -lt 15 ]; do
		sleep 1
		waited=$((waited + 1))
	done
	if image_free $kill_img; then
		echo "# $name: the image is free $waited s after modvm-run died"
	else
		echo "# $name: the image is still locked $waited s after modvm-run died: $(cat $tmp/probe)"
		ok=0
	fi
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
	rm -f $tmp/dump
	$e2fs/debugfs -R "dump /durable $tmp/dump" $checked >/dev/null 2>&1
	host=$([ -e $tmp/dump ] && sha $tmp/dump)
	if [ -n "$host" ] && [ "$host" = "$durable" ]; then
		echo "# $name: the image holds the fsynced file: $host"
	else
		echo "# $name: the image holds '$host' as the fsynced file, the guest wrote $durable"
		ok=0
	fi
}

attempt=1
while :; do
	boot_kill_attempt
	[ "$killed" = 0 ] && [ "$attempt" -lt "$boot_attempts" ] || break
	attempt=$((attempt + 1))
	echo "# kill9_durability: the guest did not get to its write loop; attempt $attempt of $boot_attempts (QEMU's AMD-V model: see boot_attempts)"
done
if grep -q 'in-kernel virtio needs modvm' "$err"; then
	result skip kill9_durability "$device has no in-kernel virtio devices"
elif [ "$killed" = 0 ]; then
	result fail kill9_durability
else
	check_kill9; verdict kill9_durability
fi

rm -rf $tmp
echo "1..$n"
echo "# Totals: pass:$pass fail:$fail xfail:0 xpass:0 skip:$skip error:0"
[ "$fail" = 0 ]
