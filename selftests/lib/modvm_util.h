/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers shared by the modvm selftests: opening the device, making VMs,
 * vCPUs and guest memory.
 */
#ifndef MODVM_SELFTEST_UTIL_H
#define MODVM_SELFTEST_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <sys/ioctl.h>

#include "modvm.h"

/* The device under test: $MODVM_DEVICE (e.g. /dev/kvm), else /dev/modvm. */
const char *modvm_device_path(void);

/* Open the device; aborts the test program if it cannot. */
int modvm_open_device(void);

/* ioctl() returning -errno on failure, the result otherwise. */
long modvm_ioctl(int fd, unsigned long request, unsigned long arg);

/* Set one memslot; returns 0 or -errno. */
int modvm_set_memslot(int vm, uint32_t slot, uint32_t flags, uint64_t gpa,
		      uint64_t size, void *hva);

/* Anonymous, page-aligned, zeroed memory of @size bytes; aborts on failure. */
void *modvm_alloc_guest_memory(size_t size);

/* Name of the loaded module and path of its .ko in the emulated host. */
#define MODVM_MODULE_NAME	"modvm"
const char *modvm_module_path(void);

/* Read a /proc/meminfo field in KiB; -1 when absent. */
long modvm_meminfo_kb(const char *field);

/*
 * waitpid() for child @pid for at most @ms; its status, or -1 on timeout
 * (it is then killed and reaped).
 */
int modvm_wait_child(int pid, int ms);

/*
 * Unload modvm (nothing may hold it) and load it again with the tdp
 * setting it had; 0 or -errno.
 */
int modvm_reload_module(void);


/*
 * Run a one-instruction real-mode guest (OUT to port 0x80 with AL = 0x5a,
 * then HLT) in @vm on a new vCPU @id; returns the exit reason of the
 * second KVM_RUN (KVM_EXIT_HLT when all went well), or -errno.
 */
int modvm_run_tiny_guest(int vm, int id);

/*
 * Whether the device under test is modvm's own (not KVM's): for the few
 * places where modvm deliberately does better than KVM.
 */
int modvm_is_modvm(void);

/*
 * Whether the device under test runs guests here: whether it opens (both
 * modvm and KVM refuse to load on a CPU where they cannot run guests).
 */
int modvm_can_run_guests(void);

/*
 * Whether real-mode guests run: everywhere now (modvm with VT-x shadow
 * paging, without unrestricted guest, runs them in virtual-8086 mode).
 */
int modvm_runs_real_mode(void);

/* Whether modvm maps guest memory with NPT/EPT (its tdp parameter). */
int modvm_uses_tdp(void);

/*
 * Whether the device under test runs guests on VT-x without EPT (modvm
 * tdp=N, kvm_intel ept=N): every guest page fault is a #PF VM exit there.
 */
int modvm_vmx_shadow(void);

#endif /* MODVM_SELFTEST_UTIL_H */
