// SPDX-License-Identifier: GPL-2.0
/*
 * Ownership of the CPUs' virtualization hardware: switched on in every
 * online CPU while at least one VM exists, off otherwise. CPU hotplug,
 * suspend/resume and reboot keep the per-CPU state right.
 */
#define pr_fmt(fmt) "modvm: " fmt

#include <linux/cpu.h>
#include <linux/cpuhotplug.h>
#include <linux/percpu.h>
#include <linux/reboot.h>
#include <linux/syscore_ops.h>
#include <asm/mce.h>

#include "modvm.h"

/*
 * Set once a reboot began: virtualization is then switched off under
 * running vCPUs, and the backends' faulting instructions are expected.
 */
bool modvm_rebooting;

/* Changed only with the CPU hotplug lock held for read and hw_lock. */
static int hw_users;
static DEFINE_MUTEX(hw_lock);
static DEFINE_PER_CPU(bool, hw_enabled);
static atomic_t hw_enable_failed;
static enum cpuhp_state hw_cpuhp_state;

static void hw_enable_this_cpu(void *unused)
{
	if (__this_cpu_read(hw_enabled))
		return;
	if (modvm_backend->cpu_enable()) {
		atomic_inc(&hw_enable_failed);
		return;
	}
	__this_cpu_write(hw_enabled, true);
}

static void hw_disable_this_cpu(void *unused)
{
	if (!__this_cpu_read(hw_enabled))
		return;
	modvm_backend->cpu_disable();
	__this_cpu_write(hw_enabled, false);
}

/**
 * modvm_hw_get() - a VM is created: make sure virtualization is on.
 *
 * Return: 0, or -EBUSY when some CPU is in use by another hypervisor.
 */
int modvm_hw_get(void)
{
	int r = 0;

	cpus_read_lock();
	mutex_lock(&hw_lock);
	if (!hw_users++) {
		atomic_set(&hw_enable_failed, 0);
		on_each_cpu(hw_enable_this_cpu, NULL, 1);
		if (atomic_read(&hw_enable_failed)) {
			on_each_cpu(hw_disable_this_cpu, NULL, 1);
			hw_users--;
			r = -EBUSY;
		}
	}
	mutex_unlock(&hw_lock);
	cpus_read_unlock();
	return r;
}

/**
 * modvm_hw_put() - a VM is gone: the last one switches virtualization off.
 */
void modvm_hw_put(void)
{
	cpus_read_lock();
	mutex_lock(&hw_lock);
	if (!--hw_users)
		on_each_cpu(hw_disable_this_cpu, NULL, 1);
	mutex_unlock(&hw_lock);
	cpus_read_unlock();
}

/* Hotplug callbacks run on the CPU itself, with the hotplug lock held. */
static int hw_cpu_online(unsigned int cpu)
{
	if (!hw_users)
		return 0;
	atomic_set(&hw_enable_failed, 0);
	hw_enable_this_cpu(NULL);
	return atomic_read(&hw_enable_failed) ? -EBUSY : 0;
}

static int hw_cpu_offline(unsigned int cpu)
{
	hw_disable_this_cpu(NULL);
	return 0;
}

/* Only the boot CPU is left at suspend; the others went through hotplug. */
static int hw_suspend(void)
{
	hw_disable_this_cpu(NULL);
	return 0;
}

static void hw_resume(void)
{
	if (hw_users)
		hw_enable_this_cpu(NULL);
}

static struct syscore_ops hw_syscore_ops = {
	.suspend = hw_suspend,
	.resume = hw_resume,
};

/*
 * A CPU with virtualization on may ignore INIT: switch it off to reboot.
 * vCPU threads may still be running: with modvm_rebooting set, KVM_RUN
 * stops entering (core/run.c), and a VMX/SVM instruction that was about
 * to run on a CPU switched off meanwhile faults into the backend's
 * exception-table fixup instead of oopsing.
 */
static int hw_reboot(struct notifier_block *nb, unsigned long code, void *unused)
{
	WRITE_ONCE(modvm_rebooting, true);
	/* The flag is visible before any CPU switches off. */
	smp_wmb();
	on_each_cpu(hw_disable_this_cpu, NULL, 1);
	return NOTIFY_OK;
}

static struct notifier_block hw_reboot_notifier = {
	.notifier_call = hw_reboot,
	.priority = 0,
};

/**
 * modvm_hw_fault() - a VMX/SVM instruction faulted and was skipped.
 * @insn: the instruction, for the log.
 *
 * Expected while rebooting, when the reboot notifier switches
 * virtualization off under a running vCPU; anything else means the CPU
 * left VMX/SVM operation behind our back (a modvm bug, or the kernel's
 * emergency restart): logged, but the host carries on.
 */
void modvm_hw_fault(const char *insn)
{
	if (!READ_ONCE(modvm_rebooting))
		pr_err_ratelimited("%s faulted: virtualization is off on CPU %d\n",
				   insn, raw_smp_processor_id());
}

/**
 * modvm_host_machine_check() - a machine check hit while in guest mode.
 *
 * Both backends intercept #MC: the exception belongs to the host, whose
 * handler logs it and deals with the memory or CPU. Called with
 * interrupts off right after the exit, as the host's own #MC would run.
 */
void modvm_host_machine_check(void)
{
#ifdef CONFIG_X86_MCE
	/* As if from user mode: the host kernel was not interrupted. */
	struct pt_regs regs = {
		.cs = 3,
		.flags = X86_EFLAGS_IF,
	};

	do_machine_check(&regs);
#endif
}

/**
 * modvm_hw_init() - register for hotplug, suspend and reboot events.
 *
 * Return: 0 or a negative errno.
 */
int modvm_hw_init(void)
{
	int r;

	r = cpuhp_setup_state(CPUHP_AP_ONLINE_DYN, "modvm:online",
			      hw_cpu_online, hw_cpu_offline);
	if (r < 0)
		return r;
	hw_cpuhp_state = r;
	register_syscore_ops(&hw_syscore_ops);
	register_reboot_notifier(&hw_reboot_notifier);
	return 0;
}

/**
 * modvm_hw_exit() - undo modvm_hw_init(); no VM exists any more.
 */
void modvm_hw_exit(void)
{
	unregister_reboot_notifier(&hw_reboot_notifier);
	unregister_syscore_ops(&hw_syscore_ops);
	cpuhp_remove_state(hw_cpuhp_state);
}
