/* SPDX-License-Identifier: MIT */
/*
 * budget.c - one memory budget shared by every index build of a store, so
 * that builds running in parallel (several layers of an image, several
 * images, imports) cannot together hold more than it, whatever each
 * build's own cap (TOC_MAX_BUILD_MEM) allows.
 *
 * A build draws from the budget as its arena and arrays grow and gives
 * everything back when it ends, built or not: the budget bounds the
 * memory of builds in progress (a finished index is owned by whoever
 * keeps it, and is bounded by the per-index cap).
 *
 * Why it cannot deadlock: a build whose request does not fit waits only
 * while some other build is running, not waiting, and so will either end
 * (giving its memory back) or ask for more itself.  The last build to
 * come short while all others wait fails instead (-ENOMEM), which frees
 * what it held and wakes them.  A build that failed so is run again by
 * store_toc_build_budget() alone: an exclusive build waits until no build
 * is running, keeps new ones out until it ends, and so has the whole
 * budget; only if that is not enough is the layer refused.  Builds thus
 * run in parallel while the budget suffices and one at a time once it is
 * short.
 */
#include "toc_int.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

struct store_toc_budget {
	pthread_mutex_t lock;	/* guards everything below */
	pthread_cond_t cond;	/* memory given back, a build ended */
	uint64_t max, used;
	unsigned running;	/* builds between enter and leave */
	unsigned waiting;	/* of them, waiting in take */
	unsigned excl_queued;	/* exclusive builds waiting to enter */
	bool excl;		/* an exclusive build is running */
	struct store_toc_budget_stats st;
};

int store_toc_budget_new(uint64_t max, struct store_toc_budget **out)
{
	struct store_toc_budget *b = calloc(1, sizeof(*b));

	if (!b)
		return -ENOMEM;
	if (pthread_mutex_init(&b->lock, NULL)) {
		free(b);
		return -ENOMEM;
	}
	if (pthread_cond_init(&b->cond, NULL)) {
		pthread_mutex_destroy(&b->lock);
		free(b);
		return -ENOMEM;
	}
	b->max = max;
	*out = b;
	return 0;
}

void store_toc_budget_free(struct store_toc_budget *b)
{
	if (!b)
		return;
	pthread_cond_destroy(&b->cond);
	pthread_mutex_destroy(&b->lock);
	free(b);
}

void store_toc_budget_stats(struct store_toc_budget *b,
			    struct store_toc_budget_stats *st)
{
	pthread_mutex_lock(&b->lock);
	*st = b->st;
	st->max = b->max;
	st->used = b->used;
	pthread_mutex_unlock(&b->lock);
}

void toc_budget_enter(struct store_toc_budget *b, bool exclusive)
{
	pthread_mutex_lock(&b->lock);
	if (exclusive) {
		b->excl_queued++;
		while (b->running || b->excl)
			pthread_cond_wait(&b->cond, &b->lock);
		b->excl_queued--;
		b->excl = true;
		b->st.exclusive++;
	} else {
		/* exclusive builds go first: they are the ones that failed */
		while (b->excl || b->excl_queued)
			pthread_cond_wait(&b->cond, &b->lock);
	}
	b->running++;
	pthread_mutex_unlock(&b->lock);
}

void toc_budget_leave(struct store_toc_budget *b, uint64_t held)
{
	pthread_mutex_lock(&b->lock);
	b->used -= held;
	b->running--;
	if (b->excl && !b->running)
		b->excl = false;
	pthread_cond_broadcast(&b->cond);
	pthread_mutex_unlock(&b->lock);
}

int toc_budget_take(struct store_toc_budget *b, uint64_t n)
{
	int rc = 0;

	pthread_mutex_lock(&b->lock);
	while (n > b->max || b->used > b->max - n) {
		/* wait only while another build runs on (see above) */
		if (n > b->max || b->running - b->waiting <= 1) {
			b->st.failures++;
			rc = -ENOMEM;
			goto out;
		}
		b->waiting++;
		b->st.waits++;
		pthread_cond_wait(&b->cond, &b->lock);
		b->waiting--;
	}
	b->used += n;
	if (b->used > b->st.peak)
		b->st.peak = b->used;
out:
	pthread_mutex_unlock(&b->lock);
	return rc;
}

void toc_budget_give(struct store_toc_budget *b, uint64_t n)
{
	pthread_mutex_lock(&b->lock);
	b->used -= n;
	pthread_cond_broadcast(&b->cond);
	pthread_mutex_unlock(&b->lock);
}
