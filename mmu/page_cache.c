// SPDX-License-Identifier: GPL-2.0
/*
 * Page-table page caches: page tables are built under spinlocks, where an
 * allocation could only be atomic (and fail under memory pressure, or
 * dip into the atomic reserves for memory the guest controls). A vCPU
 * fills its cache before it takes the lock, where it may sleep and be
 * charged to its memory cgroup, and takes pages from it under the lock.
 */
#include <linux/gfp.h>
#include <linux/mm.h>

#include "../core/modvm.h"

/**
 * modvm_page_cache_topup() - make sure the cache holds at least @min pages.
 * @cache: the cache.
 * @min: pages needed, at most MODVM_PAGE_CACHE_SIZE.
 *
 * Context: may sleep.
 * Return: 0, or -ENOMEM.
 */
int modvm_page_cache_topup(struct modvm_page_cache *cache, int min)
{
	if (WARN_ON_ONCE(min > MODVM_PAGE_CACHE_SIZE))
		return -EINVAL;
	while (cache->nr < min) {
		void *page = (void *)get_zeroed_page(GFP_KERNEL_ACCOUNT);

		if (!page)
			return -ENOMEM;
		cache->pages[cache->nr++] = page;
	}
	return 0;
}

/**
 * modvm_page_cache_alloc() - take a zeroed page from the cache.
 * @cache: the cache, topped up for what the caller builds.
 *
 * Context: any; never sleeps.
 * Return: the page's kernel address; NULL only when the caller took more
 * than it topped up (a bug, warned about).
 */
void *modvm_page_cache_alloc(struct modvm_page_cache *cache)
{
	if (WARN_ON_ONCE(!cache->nr))
		return NULL;
	return cache->pages[--cache->nr];
}

/**
 * modvm_page_cache_free() - free the pages left in a cache.
 * @cache: the cache; empty afterwards.
 */
void modvm_page_cache_free(struct modvm_page_cache *cache)
{
	while (cache->nr)
		free_page((unsigned long)cache->pages[--cache->nr]);
}
