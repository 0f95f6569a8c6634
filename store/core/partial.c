/* SPDX-License-Identifier: MIT */
/*
 * partial.c - partial blobs: a layer whose index is kept but whose blob is
 * not local is read from partial/sha256/<hex>, a sparse file of the blob's
 * size that fills span by span as reads need them (a span: the compressed
 * bytes between two index checkpoints, toc.h).
 *
 * A missing span is fetched with one Range request (or copied from
 * blobs/ when the whole blob arrived meanwhile), checked against the
 * sha256 the index recorded for it, written and fdatasync'ed, and only
 * then marked present in <hex>.spans (written with store_write_atomic), so
 * neither a hostile registry nor a crash can make unverified bytes look
 * present; nothing of a span that fails its check is written.  The bitmap
 * names the span table it belongs to (a hash of every span's range and
 * digest): one left by another index is ignored.  When every span is
 * present the file is the blob: store_blob_commit_file() checks its sha256
 * against the layer digest and renames it into blobs/, after which reads
 * skip the bookkeeping (the descriptors stay valid across the rename).
 *
 * Partials are shared by every image using the layer: s->partials (under
 * s->lock) maps the hex to one struct store_partial, which lives until the
 * store closes; layers read through their own dup of its descriptor.
 * Creation is serialised by s->meta_lock (it is local I/O only, and blob
 * freeing holds the same lock).  Inside a partial, p->lock guards the span
 * states: a span is fetched by one job at a time (state FETCHING, a
 * detached thread, wait.c), and every reader that needs it - the one that
 * started it too - sleeps on p->cond and shares its result, or gives up
 * alone when interrupted or when the fetch stalls.  No lock is held
 * across the network.  A fetch has the deadline of its length
 * (registry_blob_deadline()) and needs its bytes of store_max.
 * p->save_lock orders the bitmap writes, each taken from the current
 * states, so a later write never drops an earlier mark.  The span table
 * and the bitmap file are partial_spans.c's.
 */
#include "partial_int.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "log.h"

#define PARTIAL_TRIES 2		/* a span that fails is tried once more */

static void digest_str(const unsigned char md[32], char out[65])
{
	for (int i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
}

static int sha256(const void *data, size_t len, unsigned char md[32])
{
	unsigned int mdlen = 0;

	if (!EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL) || mdlen != 32)
		return -ENOMEM;
	return 0;
}

static void partial_free(struct store_partial *p)
{
	if (!p)
		return;
	if (p->fd >= 0)
		close(p->fd);
	free(p->spans);
	free(p->state);
	free(p->err);
	store_srcs_release(&p->srcs);
	free(p->got);
	free(p->mem);
	pthread_cond_destroy(&p->cond);
	pthread_mutex_destroy(&p->lock);
	pthread_mutex_destroy(&p->save_lock);
	free(p);
}

/* Open (creating, sized) the partial file; a file of another size, or one
 * without a bitmap, starts over empty. */
static int file_open(struct store_partial *p)
{
	struct stat st;

	p->fd = openat(p->s->partial_fd, p->hex,
		       O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (p->fd < 0)
		return -errno;
	if (fstat(p->fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode))
		return -EINVAL;
	if ((uint64_t)st.st_size != p->size) {
		if (ftruncate(p->fd, 0) < 0 || ftruncate(p->fd, (off_t)p->size) < 0)
			return -errno;
		unlinkat(p->s->partial_fd, p->spans_name, 0);
		return 0;
	}
	partial_spans_load(p);
	return 0;
}

/*
 * finish - every span is present: the file is the blob.  Checked whole and
 * renamed into blobs/; on a mismatch (the index's span digests lie) the
 * partial is dropped and its reads fail from then on.  Called with no lock
 * held.  The last span may arrive after every image that uses the layer
 * was deleted (a reader still held the layer open): the blob is then
 * freed again at once, under meta_lock like any delete, so that no blob
 * outlives every record naming it; readers keep its open descriptor.
 */
static void finish(struct store_partial *p)
{
	int ret;

	pthread_mutex_lock(&p->save_lock);
	ret = store_blob_commit_file(p->s, p->fd, p->s->partial_fd, p->hex,
				     p->digest, p->size);
	if (ret == -EIO) {
		log_err("layer %s: every span checked out but the blob does not; "
			"its partial file is dropped", p->digest);
		unlinkat(p->s->partial_fd, p->hex, 0);
	}
	if (!ret || ret == -EIO)
		unlinkat(p->s->partial_fd, p->spans_name, 0);
	/* Other errors (no space, ...) keep the file: the next open retries. */
	pthread_mutex_lock(&p->lock);
	if (ret == -EIO)
		p->broken = -EIO;
	else
		__atomic_store_n(&p->complete, true, __ATOMIC_RELEASE);
	p->finishing = false;
	pthread_cond_broadcast(&p->cond);
	pthread_mutex_unlock(&p->lock);
	pthread_mutex_unlock(&p->save_lock);
	if (!ret) {
		const char *d = p->digest;

		log_info("layer %s: complete from its spans; now a local blob", p->digest);
		store_blob_remove_unreferenced(p->s, &d, 1);
	}
}

struct span_buf {
	unsigned char *data;
	size_t len, cap;
	struct store *s;
	struct store_op *op;	/* the fetch, in `status` */
	uint64_t *got;		/* atomic copy of len, for the waiters */
};

static int span_sink(void *ctx, const void *data, size_t n)
{
	struct span_buf *b = ctx;

	if (n > b->cap - b->len)
		return -EFBIG;
	memcpy(b->data + b->len, data, n);
	b->len += n;
	store_op_set(b->s, b->op, b->len);
	__atomic_store_n(b->got, (uint64_t)b->len, __ATOMIC_RELEASE);
	return 0;
}

/* Bytes [from, from + b->cap) of the blob into @b: from blobs/ when the
 * whole blob is local by now, else one Range request to source @k.  @src
 * (for the log) names where. */
static int span_read(struct store_partial *p, size_t k, uint64_t from,
		     struct span_buf *b, char *src, size_t src_cap)
{
	struct store *s = p->s;
	struct registry_xfer x;
	int fd, ret;

	b->len = 0;
	if (store_blob_open(s, p->digest, &fd) == 0) {
		snprintf(src, src_cap, "blobs/");
		while (b->len < b->cap) {
			ssize_t n = pread(fd, b->data + b->len, b->cap - b->len,
					  (off_t)(from + b->len));

			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0) {
				ret = n < 0 ? -errno : -EIO;
				close(fd);
				return ret;
			}
			b->len += (size_t)n;
		}
		close(fd);
		return 0;
	}
	snprintf(src, src_cap, "%s/%s", k < p->srcs.n ? p->srcs.v[k].host : "(no registry)",
		 k < p->srcs.n ? p->srcs.v[k].repo : "");
	if (!s->reg || k >= p->srcs.n)
		return -ENOENT;
	b->s = s;
	b->op = store_op_begin(s, STORE_OP_SPAN, src, p->digest, b->cap);
	store_xfer(s, b->cap, &x);
	ret = registry_blob_get(s->reg, p->srcs.v[k].host, p->srcs.v[k].repo, p->digest,
				from, b->cap, 0, span_sink, b, &x);
	store_op_end(s, b->op);
	if (!ret && b->len != b->cap)
		ret = -EIO;	/* body ended early */
	return ret;
}

/* span_get - span @i's bytes into @b (b->cap of them), checked against
 * the index's digest: from the sources in order, each tried again once. */
static int span_get(struct store_partial *p, size_t i, struct span_buf *b)
{
	const struct partial_span *sp = &p->spans[i];
	unsigned char md[32];
	char src[300] = "";
	bool mismatch = false;
	size_t k = 0;
	bool src_failed;
	int ret = -EIO;

	/* Source k, then the next when one fails or sends other bytes
	 * (tries start again for it). */
	for (int tries = 0; tries < PARTIAL_TRIES; tries++) {
		if (tries)
			log_warn("layer %s: span %zu from %s: %s; trying again",
				 p->digest, i, src, strerror(-ret));
		ret = span_read(p, k, sp->start, b, src, sizeof(src));
		if (!ret) {
			ret = sha256(b->data + (sp->vstart - sp->start),
				     (size_t)(sp->end - sp->vstart), md);
			if (ret)
				break;
			if (memcmp(md, sp->digest, 32) != 0) {
				char want[65], got[65];

				digest_str(sp->digest, want);
				digest_str(md, got);
				log_err("layer %s: span %zu (bytes %" PRIu64 "-%" PRIu64
					") from %s: digest mismatch: index says %s, got %s; discarded",
					p->digest, i, sp->vstart, sp->end, src, want, got);
				ret = -EIO;
				mismatch = true;
				if (k + 1 < p->srcs.n)
					goto next_source;
				continue;
			}
			break;
		}
		src_failed = ret == -ENOENT || !store_fetch_retryable(ret) ||
			     tries + 1 == PARTIAL_TRIES;
		if (ret == -ENOMEM || (src_failed && k + 1 >= p->srcs.n))
			break;
		if (!src_failed)
			continue;
next_source:
		log_warn("layer %s: span %zu from %s: %s; trying %s/%s", p->digest, i, src,
			 strerror(-ret), p->srcs.v[k + 1].host, p->srcs.v[k + 1].repo);
		k++;
		tries = -1;
	}
	if (ret == -ENOENT)
		log_err("layer %s: span %zu is not local and there is no registry to fetch it from",
			p->digest, i);
	if (ret)
		store_error_note(p->s, p->digest, ret,
				 mismatch ? "span digest mismatch" :
				 ret == -ENOENT && (!p->s->reg || !p->srcs.n) ?
				 "span not local, no registry" : NULL);
	if (ret == -ENOENT || ret == -EFBIG || ret == -ERANGE)
		ret = -EIO;	/* to a reader: the bytes cannot be had */
	return ret;
}

/* Whether a write error only means the disk has no room now: the span's
 * verified bytes then serve reads from memory (span_run). */
static bool span_no_room(int ret)
{
	return ret == -ENOSPC || ret == -EDQUOT;
}

/*
 * span_fetch - make span @i's bytes present in the file (not yet marked):
 * read, check against the index's digest (span_get), pwrite, fdatasync.
 * Nothing is written unless the check passed.  *@held: the span's
 * verified bytes when the caller has them (a span held in memory), taken
 * over; when the disk has no room for them, the verified bytes are handed
 * back in it (and nothing in the file is marked: a half-written span is
 * rewritten whole by its next fetch).
 */
static int span_fetch(struct store_partial *p, size_t i, unsigned char **held)
{
	const struct partial_span *sp = &p->spans[i];
	struct span_buf b = { .cap = (size_t)(sp->end - sp->start), .got = &p->got[i] };
	bool fresh = !*held;
	int ret = 0;

	b.data = *held;
	*held = NULL;
	if (fresh) {
		b.data = malloc(b.cap);
		if (!b.data)
			return -ENOMEM;
		ret = span_get(p, i, &b);
	}
	if (!ret) {
		for (size_t done = 0; done < b.cap;) {
			ssize_t n = pwrite(p->fd, b.data + done, b.cap - done,
					   (off_t)(sp->start + done));

			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0) {
				ret = n < 0 ? -errno : -EIO;
				break;
			}
			done += (size_t)n;
		}
		if (!ret && fdatasync(p->fd) < 0)
			ret = -errno;
		if (span_no_room(ret)) {
			if (fresh)	/* not again at each retry from memory */
				log_warn("layer %s: span %zu: cannot write its partial file: %s; "
					 "its verified bytes serve reads from memory",
					 p->digest, i, strerror(-ret));
			*held = b.data;
			return ret;
		}
		if (ret)
			log_err("layer %s: span %zu: cannot write its partial file: %s",
				p->digest, i, strerror(-ret));
	}
	free(b.data);
	return ret;
}

/* The last span starting at or before @off (the first for the bytes
 * before it). */
static size_t span_of(const struct store_partial *p, uint64_t off)
{
	size_t lo = 0, hi = p->n;	/* answer in [lo, hi) */

	while (hi - lo > 1) {
		size_t mid = lo + (hi - lo) / 2;

		if (p->spans[mid].start <= off)
			lo = mid;
		else
			hi = mid;
	}
	return lo;
}

/* Caller holds p->lock: whether @off is present (in span @i or, where
 * they overlap, the one before); then *@len is clamped to the present run. */
static bool present_locked(const struct store_partial *p, size_t i, uint64_t off,
			   size_t *len)
{
	uint64_t run_end;
	size_t j = i;

	if (p->state[i] != SPAN_PRESENT) {
		if (i == 0 || p->state[i - 1] != SPAN_PRESENT ||
		    off >= p->spans[i - 1].end)
			return false;
		j = i - 1;
	}
	run_end = p->spans[j].end;
	while (++j < p->n && p->state[j] == SPAN_PRESENT)
		run_end = p->spans[j].end;
	if (*len > run_end - off)
		*len = (size_t)(run_end - off);
	return true;
}

/* One span fetch running as a job (wait.c). */
struct span_job {
	struct store_partial *p;
	size_t i;
	unsigned char *held;	/* its verified bytes, when it was MEMORY */
};

/* Caller holds p->lock: span @i's verified bytes @held (the disk had no
 * room for them) serve its reads from now on.  One span per partial is
 * held, so memory stays bounded by STORE_PARTIAL_SPAN_MAX per layer read
 * on a full disk: the one held before goes back to ABSENT. */
static void span_hold_locked(struct store_partial *p, size_t i, unsigned char *held)
{
	if (p->mem)
		p->state[p->mem_i] = SPAN_ABSENT;
	free(p->mem);
	p->mem = held;
	p->mem_i = i;
	p->state[i] = SPAN_MEMORY;
}

/*
 * span_run - fetch span @i (in state FETCHING; @held: its bytes, when
 * they were held in memory), publish its state to the waiters, then
 * persist it (the bitmap, or the whole blob when it was the last span)
 * and give back its reserved space.
 */
static void span_run(struct store_partial *p, size_t i, unsigned char *held)
{
	uint64_t len = p->spans[i].end - p->spans[i].start;
	bool last;
	int ret;

	ret = span_fetch(p, i, &held);
	pthread_mutex_lock(&p->lock);
	p->err[i] = ret;
	if (ret) {
		if (held)
			span_hold_locked(p, i, held);
		else
			p->state[i] = SPAN_ABSENT;
		pthread_cond_broadcast(&p->cond);
		pthread_mutex_unlock(&p->lock);
		store_space_release(p->s, len);
		return;
	}
	p->state[i] = SPAN_SAVING;
	last = ++p->n_present == p->n;
	if (last)
		p->finishing = true;
	pthread_mutex_unlock(&p->lock);
	if (last)
		finish(p);
	else
		partial_spans_save(p);
	pthread_mutex_lock(&p->lock);
	p->state[i] = SPAN_PRESENT;
	pthread_cond_broadcast(&p->cond);
	pthread_mutex_unlock(&p->lock);
	store_space_release(p->s, len);
}

static void *span_job(void *arg)
{
	struct span_job *j = arg;

	span_run(j->p, j->i, j->held);
	free(j);
	return NULL;
}

/*
 * Caller holds p->lock, span @i is ABSENT or MEMORY: start fetching it as
 * a job (inline when no thread can be made), its space reserved first (the
 * lock is dropped for that: store locks come before p->lock); a MEMORY
 * span's job takes its bytes and only tries the write again.  0 when the
 * span is fetching, present, held or failed by the time this returns;
 * -ENOSPC (or -ENOMEM) when it could not be started.
 */
static int span_start_locked(struct store_partial *p, size_t i)
{
	uint64_t len = p->spans[i].end - p->spans[i].start;
	struct span_job *j;
	int ret;

	pthread_mutex_unlock(&p->lock);
	ret = store_space_reserve(p->s, p->digest, len);
	pthread_mutex_lock(&p->lock);
	if (ret)
		return ret;
	if ((p->state[i] != SPAN_ABSENT && p->state[i] != SPAN_MEMORY) ||
	    p->complete || p->broken) {
		store_space_release(p->s, len);	/* another reader was quicker */
		return 0;
	}
	j = malloc(sizeof(*j));
	if (!j) {
		store_space_release(p->s, len);
		return -ENOMEM;
	}
	j->p = p;
	j->i = i;
	j->held = NULL;
	if (p->state[i] == SPAN_MEMORY) {
		j->held = p->mem;
		p->mem = NULL;
	}
	p->state[i] = SPAN_FETCHING;
	__atomic_store_n(&p->got[i], 0, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&p->lock);
	if (store_job_start(p->s, span_job, j)) {
		span_run(p, i, j->held);
		free(j);
	}
	pthread_mutex_lock(&p->lock);
	return 0;
}

/*
 * A reader of a span that is not present starts its fetch (unless one
 * runs) and then waits for it like any other reader: it gives up alone
 * with -EINTR when interrupted, and with -EIO when the fetch stalls
 * (store_watch), while the fetch goes on for the others.  With @buf, bytes
 * of a span held in memory are copied there (*@copied) after one more try
 * to write them; without, such a span fails with its write's error.
 */
static int partial_need(struct store_partial *p, uint64_t off, size_t *len,
			void *buf, bool *copied)
{
	struct store_watch w;
	bool waited = false, watching = false;
	size_t i;
	int ret;

	if (__atomic_load_n(&p->complete, __ATOMIC_ACQUIRE))
		return 0;
	if (off >= p->size || *len == 0)
		return -EIO;	/* the index reads past its own blob */
	i = span_of(p, off);
	pthread_mutex_lock(&p->lock);
	for (;;) {
		if (p->complete || present_locked(p, i, off, len)) {
			ret = 0;
			break;
		}
		if (p->broken) {
			ret = p->broken;
			break;
		}
		if (p->state[i] == SPAN_FETCHING || p->state[i] == SPAN_SAVING) {
			uint64_t got = __atomic_load_n(&p->got[i], __ATOMIC_ACQUIRE);

			if (!watching)
				store_watch_start(p->s, &w, got);
			watching = waited = true;
			ret = store_wait_slice(&p->cond, &p->lock);
			if (ret)
				break;
			got = __atomic_load_n(&p->got[i], __ATOMIC_ACQUIRE);
			/* Only the network is watched, not the save. */
			if (p->state[i] == SPAN_FETCHING && store_watch_check(&w, got)) {
				log_err("layer %s: span %zu: less than %" PRIu64 " bytes in %ld s; "
					"this read gives up (the fetch goes on)", p->digest, i,
					w.need, p->s->timeout_sec);
				ret = -EIO;
				break;
			}
			continue;
		}
		if (waited && buf && p->state[i] == SPAN_MEMORY) {
			const struct partial_span *sp = &p->spans[i];

			if (*len > sp->end - off)
				*len = (size_t)(sp->end - off);
			memcpy(buf, p->mem + (off - sp->start), *len);
			*copied = true;
			ret = 0;
			break;
		}
		if (waited) {
			ret = p->err[i];	/* the fetch we waited for failed */
			break;
		}
		ret = span_start_locked(p, i);
		if (ret)
			break;
		waited = true;
	}
	pthread_mutex_unlock(&p->lock);
	return ret;
}

int store_partial_need(void *ctx, uint64_t off, size_t *len)
{
	bool copied = false;

	return partial_need(ctx, off, len, NULL, &copied);
}

/* The store_toc_src read() of a partial: what need() makes present in
 * @fd, or the bytes of a span held in memory. */
static int partial_read(void *ctx, int fd, void *buf, size_t len, uint64_t off,
			size_t *got)
{
	bool copied = false;
	int ret;

	ret = partial_need(ctx, off, &len, buf, &copied);
	if (ret)
		return ret;
	if (copied) {
		*got = len;
		return 0;
	}
	return file_pread(fd, buf, len, off, got);
}

void store_layer_src(const struct store_layer *l, struct store_toc_src *src)
{
	src->fd = l->fd;
	src->need = NULL;
	src->read = l->part ? partial_read : NULL;
	src->ctx = l->part;
}

static int partial_new(struct store *s, const struct store_srcs *srcs,
		       const struct registry_desc *d, const struct store_toc *toc,
		       struct store_partial **out)
{
	struct store_partial *p = calloc(1, sizeof(*p));
	int ret;

	if (!p)
		return -ENOMEM;
	p->s = s;
	p->fd = -1;
	pthread_mutex_init(&p->save_lock, NULL);
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->cond, NULL);
	snprintf(p->digest, sizeof(p->digest), "%s", d->digest);
	p->hex = p->digest + strlen(REGISTRY_DIGEST_PREFIX);
	snprintf(p->spans_name, sizeof(p->spans_name), "%s%s", p->hex, SPANS_SUFFIX);
	p->size = (uint64_t)d->size;
	ret = 0;
	for (size_t k = 0; !ret && srcs && k < srcs->n; k++)
		ret = store_srcs_add(&p->srcs, srcs->v[k].host, srcs->v[k].repo);
	if (!ret)
		ret = partial_spans_from_toc(p, toc);
	if (!ret)
		ret = file_open(p);
	if (ret) {
		if (ret != -E2BIG)
			log_err("layer %s: cannot open its partial blob: %s", d->digest,
				strerror(-ret));
		partial_free(p);
		return ret;
	}
	*out = p;
	return 0;
}

int store_partial_open(struct store *s, const struct store_srcs *srcs,
		       const struct registry_desc *d, const struct store_toc *toc,
		       struct store_partial **out, int *fd)
{
	const char *hex = d->digest + strlen(REGISTRY_DIGEST_PREFIX);
	struct store_partial *p;
	bool fresh = false;
	int ret = 0;

	if (!registry_digest_valid(d->digest) || d->size < 0)
		return -EINVAL;
	pthread_mutex_lock(&s->meta_lock);
	pthread_mutex_lock(&s->lock);
	p = htab_get(&s->partials, hex);
	pthread_mutex_unlock(&s->lock);
	if (!p) {
		if (store_blob_has(s, d->digest)) {
			ret = -EEXIST;
		} else {
			ret = partial_new(s, srcs, d, toc, &p);
			if (!ret) {
				pthread_mutex_lock(&s->lock);
				ret = htab_set(&s->partials, hex, p, NULL);
				pthread_mutex_unlock(&s->lock);
				if (ret)
					partial_free(p);
				fresh = !ret;
			}
		}
	}
	if (!ret) {
		*fd = fcntl(p->fd, F_DUPFD_CLOEXEC, 0);
		if (*fd < 0)
			ret = -errno;
	}
	pthread_mutex_unlock(&s->meta_lock);
	if (ret)
		return ret;
	if (fresh) {
		bool all;

		log_info("layer %s: read through its partial blob (%zu of %zu spans present)",
			 d->digest, p->n_present, p->n);
		pthread_mutex_lock(&p->lock);
		all = p->n_present == p->n && !p->finishing && !p->complete;
		if (all)
			p->finishing = true;
		pthread_mutex_unlock(&p->lock);
		if (all)	/* a crash came between the last mark and the rename */
			finish(p);
	}
	*out = p;
	return 0;
}

void store_partial_free_all(struct store *s)
{
	size_t it;

	if (!s->partials.b)
		return;
	for (struct htab_ent *e = htab_first(&s->partials, &it); e;
	     e = htab_next(&s->partials, &it, e))
		partial_free(e->val);
	htab_release(&s->partials);
}

uint64_t store_partial_present(struct store *s, const char *hex)
{
	struct store_partial *p;
	uint64_t sum = 0;
	struct stat st;

	pthread_mutex_lock(&s->lock);
	p = htab_get(&s->partials, hex);
	if (p) {
		pthread_mutex_lock(&p->lock);
		for (size_t i = 0; i < p->n; i++)
			if (p->state[i] == SPAN_PRESENT)
				sum += p->spans[i].end - p->spans[i].start;
		if (sum > p->size)
			sum = p->size;	/* neighbouring spans overlap */
		pthread_mutex_unlock(&p->lock);
	}
	pthread_mutex_unlock(&s->lock);
	if (!p && fstatat(s->partial_fd, hex, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    S_ISREG(st.st_mode)) {
		sum = (uint64_t)st.st_blocks * 512;
		if (sum > (uint64_t)st.st_size)
			sum = (uint64_t)st.st_size;
	}
	return sum;
}
