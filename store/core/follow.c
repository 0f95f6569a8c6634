/* SPDX-License-Identifier: MIT */
/*
 * follow.c - following a download as it runs (issue 9): a reader that
 * waits for a blob's download (blob.c) reads the download's temp file as
 * it is written, so that what it does with the bytes (a layer's index
 * scan, layer_index.c) overlaps the transfer instead of following it.
 *
 * The job opens its temp file read-only for followers (f->rfd) and
 * publishes the count of bytes written (f->progress) after each write;
 * a follower's need callback reads up to that count, and when it wants
 * bytes not written yet sleeps on s->inflight_cond under s->lock, counted
 * in f->followers so that the job's sink wakes it at once.  It gives up
 * like any waiter of a download: interrupted (-EINTR) or when the
 * transfer stalls (-EIO), the download going on for others; a transfer
 * that breaks and resumes appends to the same file, so the follower only
 * waits longer; a download that fails fails the follower's reads with its
 * error.  Whether what the follower made is about the blob is known only
 * when the download's digest checked out (store_blob_fetch_follow).
 */
#include "store_int.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "log.h"

/* A follower of a download: what its need callback waits on. */
struct follow {
	struct store *s;
	struct store_inflight *f;
	const struct registry_desc *d;
	struct store_watch w;	/* the download's pace, from the start */
	int gave_up;		/* the reader was interrupted or gave up */
};

/*
 * follow_need - the store_toc_src need callback of a followed download:
 * what the download wrote from @off on, when it wrote past @off; else
 * sleep on s->inflight_cond (woken by sink()) until all of [@off, @off +
 * *@len) is written - not just a byte, so that a follower faster than
 * the network wakes once per read of the scan (128 KiB) rather than once
 * per piece the network delivers, which on a busy machine costs a
 * scheduler's delay each time.  Gives up like
 * fetch_wait_locked() does (-EINTR, or -EIO on a stall) and failing with
 * the download's error when it ends without them.
 */
static int follow_need(void *ctx, uint64_t off, size_t *len)
{
	struct follow *fo = ctx;
	struct store *s = fo->s;
	struct store_inflight *f = fo->f;
	uint64_t got = __atomic_load_n(&f->progress, __ATOMIC_SEQ_CST);
	uint64_t want = off + *len;
	int ret = 0;

	if (want > (uint64_t)fo->d->size)
		want = (uint64_t)fo->d->size;
	if (got <= off) {
		pthread_mutex_lock(&s->lock);
		__atomic_add_fetch(&f->followers, 1, __ATOMIC_SEQ_CST);
		while ((got = __atomic_load_n(&f->progress, __ATOMIC_SEQ_CST)) < want) {
			if (f->done) {
				ret = f->err ? f->err : -EIO;
				break;
			}
			ret = store_wait_slice(&s->inflight_cond, &s->lock);
			if (!ret && store_watch_check(&fo->w, got)) {
				log_err("blob %s: less than %" PRIu64 " bytes in %ld s; this "
					"read gives up (the download goes on)",
					fo->d->digest, fo->w.need, s->timeout_sec);
				ret = -EIO;
			}
			if (ret) {
				fo->gave_up = ret;
				break;
			}
		}
		__atomic_sub_fetch(&f->followers, 1, __ATOMIC_SEQ_CST);
		pthread_mutex_unlock(&s->lock);
		if (ret)
			return ret;
	}
	if (got <= off)
		return -EIO;	/* @off at or past the blob's size */
	if (*len > got - off)
		*len = (size_t)(got - off);
	return 0;
}

/*
 * follow_chain - the store_toc_src chain callback: the chunk records of the
 * download's own sha256, which the indexer asks for once it has read every
 * byte (so every boundary record is complete, published with the bytes
 * after it); the last record is the digest the download is checked
 * against.  Whether the download matched it is known when it ends
 * (store_blob_fetch_follow), and an index made of a blob that did not is
 * dropped.
 */
static int follow_chain(void *ctx, unsigned char (*rec)[32], size_t n)
{
	struct follow *fo = ctx;
	uint64_t size = (uint64_t)fo->d->size;

	if (n == 0 || n != (size_t)((size - 1) / STORE_TOC_CHUNK + 1) ||
	    __atomic_load_n(&fo->f->progress, __ATOMIC_SEQ_CST) < size)
		return -EIO;
	if (n > 1)
		memcpy(rec, store_chain_records(fo->f->chain), (n - 1) * sizeof(*rec));
	return store_toc_digest_raw(fo->d->digest, rec[n - 1]);
}

int store_follow_locked(struct store *s, struct store_inflight *f,
			 const struct registry_desc *d, store_blob_follow_fn fn,
			 void *ctx, bool *ran)
{
	struct follow fo = { .s = s, .f = f, .d = d };
	struct store_toc_src src = { .need = follow_need, .chain = follow_chain,
				     .ctx = &fo };
	int ret;

	*ran = false;
	while (!f->opened && !f->done) {	/* a local open: no stall watch */
		ret = store_wait_slice(&s->inflight_cond, &s->lock);
		if (ret)
			return ret;
	}
	if (f->done || f->rfd < 0)
		return 0;	/* nothing to follow: the caller reads the blob */
	src.fd = f->rfd;
	store_watch_start(s, &fo.w, __atomic_load_n(&f->progress, __ATOMIC_SEQ_CST));
	pthread_mutex_unlock(&s->lock);
	fn(ctx, &src);
	pthread_mutex_lock(&s->lock);
	*ran = true;
	return fo.gave_up;
}
