// SPDX-License-Identifier: GPL-2.0
/*
 * modvm module entry: pick the vendor backend this CPU supports and
 * register /dev/modvm. Nothing is switched on in the CPU here; hardware
 * virtualization is enabled only while VMs exist.
 */
#define pr_fmt(fmt) "modvm: " fmt

#include <linux/module.h>
#include <linux/init.h>
#include <linux/moduleparam.h>

#include "modvm.h"

const struct modvm_backend_ops *modvm_backend;

/* Cleared at load when the CPU (or the backend) cannot do NPT/EPT. */
bool modvm_tdp = true;
module_param_named(tdp, modvm_tdp, bool, 0444);
MODULE_PARM_DESC(tdp, "Use two-dimensional paging (NPT/EPT) when the CPU has it");

static const struct modvm_backend_ops *const modvm_backends[] = {
	&modvm_svm_ops,
	&modvm_vmx_ops,
};

static int __init modvm_init(void)
{
	int i, r = -EOPNOTSUPP;

	for (i = 0; i < ARRAY_SIZE(modvm_backends) && r; i++) {
		r = modvm_backends[i]->probe();
		if (!r)
			modvm_backend = modvm_backends[i];
		else if (r != -EOPNOTSUPP)
			return r;	/* the backend logged why */
	}
	if (!modvm_backend) {
		pr_err("this CPU has no hardware virtualization (AMD-V or VT-x)\n");
		return -ENODEV;
	}

	r = modvm_backend->setup();
	if (r)
		return r;
	r = modvm_hw_init();
	if (r)
		goto unsetup;
	r = modvm_dev_register();
	if (r)
		goto hw_exit;
	pr_info("loaded, using %s\n", modvm_backend->name);
	return 0;

hw_exit:
	modvm_hw_exit();
unsetup:
	modvm_backend->unsetup();
	return r;
}

static void __exit modvm_exit(void)
{
	modvm_dev_unregister();
	modvm_hw_exit();
	modvm_backend->unsetup();
}

module_init(modvm_init);
module_exit(modvm_exit);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("modvm: loadable hypervisor with a KVM-compatible ABI");
