// SPDX-License-Identifier: GPL-2.0
/*
 * Several vCPUs, one thread each, with the in-kernel local APICs: IPIs
 * in every destination mode (physical, logical flat and cluster, the
 * shorthands, broadcast, lowest priority, NMI) in xAPIC and in x2APIC
 * mode, and the INIT/SIPI/SIPI start of three application processors.
 *
 * The IPI guest: every vCPU counts the vectors it receives, per vCPU;
 * the BSP sends the IPIs of a table the host wrote, each time waiting
 * until the expected number of vCPUs counted it; the last IPI ends the
 * APs. The host then checks every vCPU's counts against the table.
 */
#include <pthread.h>
#include <string.h>

#include "kselftest_harness.h"
#include "apic.h"

#define S(x)		GUEST_XSTR(x)
#define NR_CPUS		3
#define COUNTS		GUEST_DATA		/* + 0x1000 * cpu + 8 * vector */
#define READY		(GUEST_DATA + 0x4000)	/* u64 per cpu */
#define X2		(GUEST_DATA + 0x4100)	/* u64: use x2APIC */
#define CFG		(GUEST_DATA + 0x4200)	/* u32 DFR, u32 LDR per cpu */
#define TABLE		(GUEST_DATA + 0x4400)	/* struct ipi, 0-terminated */
#define LAST_VEC	0x4f
#define AP_START	0x10000			/* SIPI vector 0x10 */
#define AP_COUNT	0x800			/* from AP_START */

struct ipi {
	uint32_t icr;
	uint32_t dest;
	uint32_t vec;		/* the counter it bumps (2 for an NMI) */
	uint32_t nr;		/* vCPUs that must count it */
};

#define EOI_X2		"mov $" S(MSR_X2APIC(APIC_EOI)) ", %ecx\n" \
			"xor %eax, %eax\n xor %edx, %edx\n wrmsr\n"

#define GUEST_BLOB ipi_guest
GUEST_ASM(ipi_guest,
	".code64\n"
	"bsp_main:\n"
	"call apic_setup\n"
	"sti\n"
	"1: pause\n cmpq $0, " S(READY) " + 8\n je 1b\n"
	"2: pause\n cmpq $0, " S(READY) " + 16\n je 2b\n"
	"mov $" S(TABLE) ", %ebx\n"
	"next:\n"
	"mov (%rbx), %eax\n test %eax, %eax\n jz done\n"
	"mov 4(%rbx), %edx\n"
	"cmpq $0, " S(X2) "\n jne 3f\n"
	"mov $" S(GUEST_LAPIC) ", %esi\n"
	"mov %edx, " S(APIC_ICR2) "(%rsi)\n"
	"mov %eax, " S(APIC_ICR) "(%rsi)\n"
	"jmp 4f\n"
	"3: mov $" S(MSR_X2APIC(APIC_ICR)) ", %ecx\n wrmsr\n"
	"4: mov 8(%rbx), %edi\n mov 12(%rbx), %r8d\n"
	"5: pause\n xor %eax, %eax\n"
	"add " S(COUNTS) "(,%rdi,8), %rax\n"
	"add " S(COUNTS) " + 0x1000(,%rdi,8), %rax\n"
	"add " S(COUNTS) " + 0x2000(,%rdi,8), %rax\n"
	"cmp %r8, %rax\n jb 5b\n"
	"add $16, %rbx\n jmp next\n"
	"done: cli\n"
	G_CALL(GUEST_DONE)

	"ap_main:\n"
	"call apic_setup\n"
	"movq $1, " S(READY) "(,%rcx,8)\n"
	"1: sti\n hlt\n jmp 1b\n"

	/* Enable the APIC (x2APIC if X2 says so); ECX = its id. */
	"apic_setup:\n"
	"cmpq $0, " S(X2) "\n jne 1f\n"
	"mov $" S(GUEST_LAPIC) ", %esi\n"
	"movl $" S(APIC_SVR_ON) ", " S(APIC_SVR) "(%rsi)\n"
	"mov " S(APIC_ID) "(%rsi), %ecx\n shr $24, %ecx\n"
	"mov " S(CFG) "(,%rcx,8), %eax\n mov %eax, " S(APIC_DFR) "(%rsi)\n"
	"mov " S(CFG) " + 4(,%rcx,8), %eax\n mov %eax, " S(APIC_LDR) "(%rsi)\n"
	"ret\n"
	"1: mov $" S(MSR_APIC_BASE) ", %ecx\n rdmsr\n"
	"or $(" S(APIC_BASE_ENABLE) " | " S(APIC_BASE_X2APIC) "), %eax\n wrmsr\n"
	"mov $" S(MSR_X2APIC(APIC_SVR)) ", %ecx\n mov $" S(APIC_SVR_ON) ", %eax\n"
	"xor %edx, %edx\n wrmsr\n"
	"mov $" S(MSR_X2APIC(APIC_ID)) ", %ecx\n rdmsr\n mov %eax, %ecx\n"
	"ret\n"

	/* One stub per vector 0x40-0x4f, 16 bytes apart, and the NMI's. */
	".balign 16\n"
	"ipi_stubs:\n"
	".irp v, 0x40,0x41,0x42,0x43,0x44,0x45,0x46,0x47,0x48,0x49,0x4a,0x4b,0x4c,0x4d,0x4e,0x4f\n"
	".balign 16\n"
	"push %rax\n mov $\\v, %eax\n jmp ipi_common\n"
	".endr\n"
	".balign 16\n"
	"nmi_stub:\n"
	"push %rax\n mov $2, %eax\n"
	"ipi_common:\n"
	"push %rcx\n push %rdx\n push %rsi\n"
	"mov %eax, %esi\n"
	"cmpq $0, " S(X2) "\n jne 1f\n"
	"mov $" S(GUEST_LAPIC) ", %ecx\n mov " S(APIC_ID) "(%rcx), %ecx\n shr $24, %ecx\n"
	"jmp 2f\n"
	"1: mov $" S(MSR_X2APIC(APIC_ID)) ", %ecx\n rdmsr\n mov %eax, %ecx\n"
	"2: shl $9, %ecx\n"			/* cpu * 0x1000 / 8 */
	"add %rsi, %rcx\n"
	"lock incq " S(COUNTS) "(,%rcx,8)\n"
	"cmp $2, %esi\n je 4f\n"		/* no EOI for an NMI */
	"cmpq $0, " S(X2) "\n jne 3f\n"
	"mov $" S(GUEST_LAPIC) ", %ecx\n movl $0, " S(APIC_EOI) "(%rcx)\n"
	"jmp 4f\n"
	"3: " EOI_X2
	"4: cmp $" S(LAST_VEC) ", %esi\n jne 5f\n"
	G_CALL(GUEST_DONE)
	"5: pop %rsi\n pop %rdx\n pop %rcx\n pop %rax\n"
	"iretq\n");
#undef GUEST_BLOB

/* The APs' real-mode start: count, then report. */
GUEST_ASM(ap16_guest,
	".code16\n"
	"mov %cs, %ax\n mov %ax, %ds\n"
	"lock incw " S(AP_COUNT) "\n"
	G_CALL(GUEST_DONE)
	"1: hlt\n jmp 1b\n");

/* The BSP: INIT, SIPI, SIPI to all others, then wait for three APs. */
GUEST_ASM(init_guest,
	".code64\n"
	"mov $" S(GUEST_LAPIC) ", %esi\n"
	"movl $" S(APIC_SVR_ON) ", " S(APIC_SVR) "(%rsi)\n"
	"movl $0xc4500, " S(APIC_ICR) "(%rsi)\n"
	"movl $0xc4610, " S(APIC_ICR) "(%rsi)\n"
	"movl $0xc4610, " S(APIC_ICR) "(%rsi)\n"
	"1: pause\n cmpw $3, " S(AP_START) " + " S(AP_COUNT) "\n jb 1b\n"
	G_CALL(GUEST_DONE));

extern const unsigned char bsp_main[], ap_main[], ipi_stubs[], nmi_stub[];

struct vcpu_thread {
	pthread_t tid;
	struct guest_vcpu *v;
	long result;
};

static void *run_vcpu(void *arg)
{
	struct vcpu_thread *t = arg;

	t->result = guest_call(t->v, NULL);
	return NULL;
}

/*
 * An AP waiting for SIPI: KVM's KVM_RUN sleeps until an INIT or SIPI
 * comes, then returns EAGAIN; modvm's goes on into the guest. Both are
 * fine for a VMM that runs again on EAGAIN, as this does.
 */
static void *run_ap(void *arg)
{
	struct vcpu_thread *t = arg;
	struct kvm_run *run = t->v->run;
	uint32_t code;
	int r;

	do
		r = guest_run(t->v);
	while (r == -EAGAIN);
	t->result = GUEST_NOT_A_CALL;
	if (!r && run->exit_reason == KVM_EXIT_IO && run->io.port == GUEST_PORT &&
	    run->io.size == 4) {
		memcpy(&code, guest_io_data(t->v), 4);
		t->result = code;
	}
	return NULL;
}

FIXTURE(smp) {
	struct guest g;
};

FIXTURE_SETUP(smp)
{
	GUEST_REQUIRE_RUN();
	guest_create(&self->g);
	ASSERT_EQ(0, modvm_ioctl(self->g.vm, KVM_CREATE_IRQCHIP, 0));
}

FIXTURE_TEARDOWN(smp)
{
	guest_destroy(&self->g);
}

static uint64_t count(struct guest *g, int cpu, int vec)
{
	return *(uint64_t *)guest_ptr(g, COUNTS + 0x1000 * cpu + 8 * vec);
}

/* Run the IPI table in @ipis (mask: which vCPUs must get each). */
static void run_ipis(struct __test_metadata *_metadata, struct guest *g, bool x2,
		     const struct ipi *ipis, const uint8_t *masks, int n)
{
	struct kvm_mp_state runnable = { KVM_MP_STATE_RUNNABLE };
	struct vcpu_thread t[NR_CPUS];
	uint32_t *cfg = guest_ptr(g, CFG);
	int i, cpu, vec;

	guest_load(g, ipi_guest, ipi_guest_end);
	for (vec = 0x40; vec <= LAST_VEC; vec++)
		guest_set_gate(g, vec, LABEL_GPA(ipi_guest, ipi_stubs) + 16 * (vec - 0x40));
	guest_set_gate(g, 2, LABEL_GPA(ipi_guest, nmi_stub));
	*(uint64_t *)guest_ptr(g, X2) = x2;
	/* xAPIC: BSP flat bit 2, AP1 flat bit 1, AP2 cluster 2 bit 0. */
	cfg[0] = 0xffffffff;
	cfg[1] = 0x04000000;
	cfg[2] = 0xffffffff;
	cfg[3] = 0x02000000;
	cfg[4] = 0x0fffffff;
	cfg[5] = 0x21000000;
	memcpy(guest_ptr(g, TABLE), ipis, n * sizeof(*ipis));

	for (i = 0; i < NR_CPUS; i++) {
		t[i].v = guest_add_vcpu(g);
		if (i)
			ASSERT_EQ(0, modvm_ioctl(t[i].v->fd, KVM_SET_MP_STATE,
						 (unsigned long)&runnable));
		ASSERT_EQ(0, apic_long_mode(t[i].v, i ? LABEL_GPA(ipi_guest, ap_main) :
					    LABEL_GPA(ipi_guest, bsp_main)));
	}
	for (i = 1; i < NR_CPUS; i++)
		ASSERT_EQ(0, pthread_create(&t[i].tid, NULL, run_vcpu, &t[i]));
	run_vcpu(&t[0]);
	for (i = 1; i < NR_CPUS; i++)
		pthread_join(t[i].tid, NULL);
	/*
	 * Braces: an EXPECT's TH_LOG runs in a for loop of its own after
	 * the EXPECT, which would be outside an unbraced loop body.
	 */
	for (i = 0; i < NR_CPUS; i++) {
		EXPECT_EQ(GUEST_DONE, t[i].result) TH_LOG("vCPU %d", i);
	}
	for (i = 0; i < n; i++) {
		for (cpu = 0; cpu < NR_CPUS; cpu++) {
			EXPECT_EQ((masks[i] >> cpu) & 1, count(g, cpu, ipis[i].vec))
				TH_LOG("IPI %d (ICR %#x dest %#x) on vCPU %d",
				       i, ipis[i].icr, ipis[i].dest, cpu);
		}
	}
}

TEST_F_TIMEOUT(smp, ipi_xapic, 300)
{
	static const struct ipi ipis[] = {
		{ 0x04041, 1 << 24, 0x41, 1 },		/* physical */
		{ 0x04042, 2 << 24, 0x42, 1 },
		{ 0x04843, 0x02 << 24, 0x43, 1 },	/* logical flat */
		{ 0x04844, 0x06 << 24, 0x44, 2 },
		{ 0x04845, 0x21 << 24, 0x45, 1 },	/* logical cluster */
		{ 0x44046, 0, 0x46, 1 },		/* self */
		{ 0x84047, 0, 0x47, 3 },		/* all including self */
		{ 0xc4048, 0, 0x48, 2 },		/* all excluding self */
		{ 0x04049, 0xffu << 24, 0x49, 3 },	/* physical broadcast */
		{ 0x0494a, 0x02 << 24, 0x4a, 1 },	/* lowest priority */
		{ 0x04400, 2 << 24, 2, 1 },		/* NMI */
		{ 0xc404f, 0, LAST_VEC, 2 },		/* the end */
		{ 0 },
	};
	static const uint8_t masks[] = {
		2, 4, 2, 3, 4, 1, 7, 6, 7, 2, 4, 6,
	};

	run_ipis(_metadata, &self->g, false, ipis, masks, 12);
}

TEST_F_TIMEOUT(smp, ipi_x2apic, 300)
{
	static const struct ipi ipis[] = {
		{ 0x04041, 1, 0x41, 1 },		/* physical */
		{ 0x04042, 2, 0x42, 1 },
		{ 0x04843, 0x6, 0x43, 2 },		/* logical: cluster 0 */
		{ 0x04844, 0x10004, 0x44, 0 },		/* cluster 1: nobody */
		{ 0x44045, 0, 0x45, 1 },		/* self */
		{ 0x84046, 0, 0x46, 3 },		/* all including self */
		{ 0xc4047, 0, 0x47, 2 },		/* all excluding self */
		{ 0x04048, 0xffffffff, 0x48, 3 },	/* broadcast */
		{ 0x04400, 1, 2, 1 },			/* NMI */
		{ 0xc404f, 0, LAST_VEC, 2 },		/* the end */
		{ 0 },
	};
	static const uint8_t masks[] = { 2, 4, 6, 0, 1, 7, 6, 7, 2, 6 };

	run_ipis(_metadata, &self->g, true, ipis, masks, 10);
}

TEST_F_TIMEOUT(smp, init_sipi_four_vcpus, 300)
{
	struct vcpu_thread t[4];
	struct kvm_mp_state mp;
	struct kvm_sregs sregs;
	int i;

	guest_load(&self->g, init_guest, init_guest_end);
	memcpy(guest_ptr(&self->g, AP_START), ap16_guest, ap16_guest_end - ap16_guest);
	for (i = 0; i < 4; i++) {
		t[i].v = guest_add_vcpu(&self->g);
		ASSERT_EQ(0, modvm_ioctl(t[i].v->fd, KVM_GET_MP_STATE, (unsigned long)&mp));
		EXPECT_EQ(i ? KVM_MP_STATE_UNINITIALIZED : KVM_MP_STATE_RUNNABLE,
			  mp.mp_state);
	}
	ASSERT_EQ(0, apic_long_mode(t[0].v, GUEST_CODE));
	for (i = 1; i < 4; i++)
		ASSERT_EQ(0, pthread_create(&t[i].tid, NULL, run_ap, &t[i]));
	if (!modvm_runs_real_mode()) {
		/*
		 * A device that refuses real mode refuses the APs'
		 * real-mode start (KVM_EXIT_INTERNAL_ERROR, emulation), so
		 * none counts itself; the test counts for them to let the
		 * BSP finish.
		 */
		ASSERT_EQ(0, pthread_create(&t[0].tid, NULL, run_vcpu, &t[0]));
		for (i = 1; i < 4; i++) {
			pthread_join(t[i].tid, NULL);
			EXPECT_EQ(KVM_EXIT_INTERNAL_ERROR, t[i].v->run->exit_reason);
			EXPECT_EQ(KVM_INTERNAL_ERROR_EMULATION,
				  t[i].v->run->internal.suberror);
		}
		EXPECT_EQ(0, *(volatile uint16_t *)guest_ptr(&self->g,
							     AP_START + AP_COUNT));
		*(volatile uint16_t *)guest_ptr(&self->g, AP_START + AP_COUNT) = 3;
		pthread_join(t[0].tid, NULL);
		EXPECT_EQ(GUEST_DONE, t[0].result);
	} else {
		run_vcpu(&t[0]);
		for (i = 1; i < 4; i++)
			pthread_join(t[i].tid, NULL);
		EXPECT_EQ(GUEST_DONE, t[0].result);
		EXPECT_EQ(3, *(uint16_t *)guest_ptr(&self->g, AP_START + AP_COUNT));
	}
	for (i = 1; i < 4; i++) {
		if (modvm_runs_real_mode())
			EXPECT_EQ(GUEST_DONE, t[i].result) TH_LOG("AP %d", i);
		guest_get_sregs(t[i].v, &sregs);
		EXPECT_EQ(0x1000, sregs.cs.selector);
		EXPECT_EQ(AP_START, sregs.cs.base);
	}
}

TEST_HARNESS_MAIN
