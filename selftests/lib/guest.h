/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A small guest builder for the selftests, written against the KVM ABI only:
 * a VM with one memslot of guest memory at GPA 0, vCPUs with their kvm_run
 * mappings, a GDT, 64-bit exception stubs, identity page tables for every
 * paging mode, vCPU mode setup through KVM_SET_SREGS and a guest -> host
 * call over port I/O.
 *
 * Guest code is written as assembly inside the test source with GUEST_ASM();
 * it is copied to GUEST_CODE and runs there. Labels a blob refers to by
 * absolute address go through GA(label), which needs GUEST_BLOB to name the
 * blob being written (#define GUEST_BLOB name before the blob).
 *
 * Guest physical layout (GUEST_MEM_SIZE bytes, identity mapped):
 *
 *   0x01000  GDT                       0x08000  PAE PDPT
 *   0x02000  IDT (64-bit gates)        0x09000  PAE page directory (2M pages)
 *   0x03000  PML4                      0x0a000  alias page directory
 *   0x04000  PDPT                      0x0b000  TSS, stub variables
 *   0x05000  long mode PD (2M pages)   0x0c000  exception stubs
 *   0x06000  32-bit page directory     0x0d000  guest code (GUEST_CODE)
 *   0x07000  32-bit page table (4M)    0x1f000  PD for 3-4G (APIC pages)
 *                                      0x20000  data (GUEST_DATA)
 *   stacks grow down from 0x80000 (GUEST_STACK), 8 KiB per vCPU.
 *
 * Every paging mode also maps GUEST_ALIAS_VA to physical 0, so a guest can
 * prove its translation is live by writing through the alias.
 */
#ifndef MODVM_SELFTEST_GUEST_H
#define MODVM_SELFTEST_GUEST_H

#include <stdbool.h>
#include <stdint.h>

#include "modvm_util.h"

/* Plain numbers: they are pasted into guest assembly too. */
#define GUEST_MEM_SIZE		0x400000
#define GUEST_GDT		0x1000
#define GUEST_IDT		0x2000
#define GUEST_PML4		0x3000
#define GUEST_PDPT		0x4000
#define GUEST_PD64		0x5000
#define GUEST_PD32		0x6000
#define GUEST_PT32		0x7000
#define GUEST_PAE_PDPT		0x8000
#define GUEST_PAE_PD		0x9000
#define GUEST_ALIAS_PD		0xa000
#define GUEST_TSS		0xb000
#define GUEST_STACK16		0xb7f0	/* 16-bit protected mode stack */
#define GUEST_SKIP		0xb800	/* u64: bytes to skip after a fault */
#define GUEST_EXC_RFLAGS	0xb808	/* u64: RFLAGS pushed by the last one */
#define GUEST_STUBS		0xc000
#define GUEST_CODE		0xd000
#define GUEST_CODE_MAX		0x3000
#define GUEST_APIC_PD		0x1f000	/* long mode: 3-4 GiB, the APIC pages */
#define GUEST_DATA		0x20000
#define GUEST_STACK		0x80000
#define GUEST_STACK_SIZE	0x2000
#define GUEST_ALIAS_VA		0x40000000

/* The IOAPIC and local APIC pages, identity-mapped in long mode. */
#define GUEST_IOAPIC		0xfec00000
#define GUEST_LAPIC		0xfee00000

/* GDT selectors. */
#define GUEST_SEL_CODE64	0x08
#define GUEST_SEL_DATA		0x10
#define GUEST_SEL_CODE32	0x18
#define GUEST_SEL_CODE16	0x20
#define GUEST_SEL_DATA16	0x28
#define GUEST_SEL_TSS		0x30
#define GUEST_GDT_LIMIT		0x3f

/* The guest -> host call: OUT of EAX (the code) to this port. */
#define GUEST_PORT		0x5e
#define GUEST_REPORT		0x1		/* values in the other GPRs */
#define GUEST_DONE		0x600d
#define GUEST_FAIL		0xbad		/* EBX: which check */
#define GUEST_EXCEPTION		0xe		/* EBX vector, ECX error, EDX RIP */

/* guest_call() result when the exit was not a call. */
#define GUEST_NOT_A_CALL	(-1)

#define GUEST_STR(x)		#x
#define GUEST_XSTR(x)		GUEST_STR(x)

/* Absolute guest address of a label of the blob named by GUEST_BLOB. */
#define GA(label) \
	"(" GUEST_XSTR(GUEST_CODE) " + " #label " - " GUEST_XSTR(GUEST_BLOB) ")"

/* Guest assembly snippets: a call with a code, in any CPU mode. */
#define G_CALL(code)	"mov $" GUEST_XSTR(code) ", %eax\n\t" \
			"out %eax, $" GUEST_XSTR(GUEST_PORT) "\n\t"

/*
 * A blob of guest code: assembled into the test binary, copied into the
 * guest by guest_load(). Body text must end in the mode it wants; the
 * assembler is put back in .code64 afterwards.
 */
#define GUEST_ASM(name, body)						\
	extern const unsigned char name[], name##_end[];		\
	asm(".pushsection .rodata.guest_code, \"a\"\n"			\
	    ".balign 16\n"						\
	    #name ":\n" body "\n"					\
	    #name "_end:\n"						\
	    ".code64\n"							\
	    ".popsection\n")

enum guest_mode {
	GUEST_MODE_REAL,
	GUEST_MODE_PROT16,	/* 16-bit protected mode, no paging */
	GUEST_MODE_PROT32,	/* 32-bit protected mode, no paging */
	GUEST_MODE_PROT32_PAGING, /* 32-bit, non-PAE 4K pages */
	GUEST_MODE_PAE,		/* 32-bit, PAE 2M pages */
	GUEST_MODE_LONG64,	/* 64-bit long mode */
};

#define GUEST_MAX_VCPUS		8

/*
 * For a fixture setup or a test that runs guests: skip where the device
 * under test does not open (as KVM's selftests do without /dev/kvm); a
 * loaded modvm runs guests on every CPU it loads on. The harness of
 * Linux 6.1 would run the test body after a SKIP in setup, so the test
 * process ends here with the harness's skip status instead.
 */
#define GUEST_REQUIRE_RUN()						\
	do {								\
		if (!modvm_can_run_guests())				\
			SKIP(fflush(stdout); _exit(255),		\
			     "the device under test does not open");	\
	} while (0)

struct guest;

struct guest_vcpu {
	struct guest *guest;
	int fd;
	int id;
	struct kvm_run *run;
};

struct guest {
	int dev;
	int vm;
	uint8_t *mem;
	size_t mem_size;
	long run_size;
	int nr_vcpus;
	struct guest_vcpu vcpus[GUEST_MAX_VCPUS];
};

/*
 * guest_create() - make a VM with GUEST_MEM_SIZE bytes at GPA 0 in slot 0,
 * and the GDT, IDT, exception stubs and page tables in it. Aborts on
 * failure (the test then fails).
 */
void guest_create(struct guest *g);

/* Close every vCPU and the VM; unmaps guest memory. */
void guest_destroy(struct guest *g);

/*
 * guest_add_vcpu() - create the next vCPU, map its kvm_run and give it
 * KVM_GET_SUPPORTED_CPUID as its CPUID. Aborts on failure.
 */
struct guest_vcpu *guest_add_vcpu(struct guest *g);

/* Copy a blob to GUEST_CODE. */
void guest_load(struct guest *g, const unsigned char *start,
		const unsigned char *end);

/* Host pointer to guest physical address @gpa (inside the memslot). */
void *guest_ptr(struct guest *g, uint64_t gpa);

/*
 * guest_set_mode() - put @v in @mode through KVM_SET_SREGS and KVM_SET_REGS
 * with RIP = GUEST_CODE, this vCPU's stack, RFLAGS = 2 and other GPRs zero.
 * Returns 0 or the -errno of the failing ioctl.
 */
int guest_set_mode(struct guest_vcpu *v, enum guest_mode mode);

/* The kvm_sregs guest_set_mode() would load, for tests to alter. */
void guest_mode_sregs(struct guest_vcpu *v, enum guest_mode mode,
		      struct kvm_sregs *sregs);

/*
 * guest_real_mode_refused() - where real-mode guests cannot run
 * (!modvm_runs_real_mode(): none now), run @v, which is in real
 * mode, once: 1 when KVM_RUN ends in KVM_EXIT_INTERNAL_ERROR (emulation),
 * -1 for any other result. 0, without running, where real mode runs.
 */
int guest_real_mode_refused(struct guest_vcpu *v);

/* KVM_RUN once: 0 or -errno. */
int guest_run(struct guest_vcpu *v);

/*
 * guest_call() - run until the next exit; if it is a guest call (a 4-byte
 * OUT to GUEST_PORT), fill @regs (may be NULL) and return the code,
 * else print the exit and return GUEST_NOT_A_CALL.
 */
long guest_call(struct guest_vcpu *v, struct kvm_regs *regs);

/*
 * guest_start() - guest_load() a blob, guest_set_mode() @v to @mode and
 * KVM_RUN once. Returns 0 or the -errno of the failing step.
 */
int guest_start(struct guest_vcpu *v, const unsigned char *start,
		const unsigned char *end, enum guest_mode mode);

/*
 * guest_set_gate() - point IDT entry @vector at @handler (a 64-bit
 * interrupt gate, code selector GUEST_SEL_CODE64). For vectors above 31
 * the test also raises the IDT limit (GUEST_IDT_LIMIT_ALL) in its sregs.
 */
void guest_set_gate(struct guest *g, int vector, uint64_t handler);

/* IDT limit covering all 256 64-bit gates. */
#define GUEST_IDT_LIMIT_ALL	(256 * 16 - 1)

/* Make the exception stubs skip @len bytes of the faulting instruction. */
void guest_set_fault_skip(struct guest *g, uint64_t len);

/* KVM_GET/SET_REGS, KVM_GET/SET_SREGS; abort on failure. */
void guest_get_regs(struct guest_vcpu *v, struct kvm_regs *regs);
void guest_set_regs(struct guest_vcpu *v, const struct kvm_regs *regs);
void guest_get_sregs(struct guest_vcpu *v, struct kvm_sregs *sregs);

/* Pointer to the data of the current KVM_EXIT_IO. */
void *guest_io_data(struct guest_vcpu *v);

/* Name of a KVM_EXIT_* value, for messages. */
const char *guest_exit_name(uint32_t reason);

/*
 * guest_supported_cpuid() - KVM_GET_SUPPORTED_CPUID into a malloc()ed
 * table; NULL on failure.
 */
struct kvm_cpuid2 *guest_supported_cpuid(int dev);

/* The entry for @function/@index in @cpuid, or NULL. */
struct kvm_cpuid_entry2 *guest_cpuid_entry(struct kvm_cpuid2 *cpuid,
					   uint32_t function, uint32_t index);

/* True when the host CPU (per KVM_GET_SUPPORTED_CPUID leaf 0) is AMD. */
bool guest_host_is_amd(int dev);

/* KVM_GET_MSRS / KVM_SET_MSRS of one MSR: 1 on success, else 0 or -errno. */
int guest_get_msr(struct guest_vcpu *v, uint32_t index, uint64_t *value);
int guest_set_msr(struct guest_vcpu *v, uint32_t index, uint64_t value);

#endif /* MODVM_SELFTEST_GUEST_H */
