/* SPDX-License-Identifier: MIT */
/*
 * partial.c - partial blobs: a layer whose index is kept but whose blob is
 * not local is read from partial/sha256/<hex>, a sparse file of the blob's
 * size that fills chunk by chunk as reads need them (a chunk: the compressed
 * bytes between two index checkpoints, toc.h).
 *
 * A missing chunk is fetched with one Range request (or copied from
 * blobs/ when the whole blob arrived meanwhile), checked against the
 * sha256 the index recorded for it, written and fdatasync'ed, and only
 * then marked present in <hex>.chunks (written with store_write_atomic), so
 * neither a hostile registry nor a crash can make unverified bytes look
 * present; nothing of a chunk that fails its check is written.  The bitmap
 * names the chunk table it belongs to (a hash of every chunk's range and
 * digest): one left by another index is ignored.  When every chunk is
 * present the file is the blob: store_blob_commit_file() checks its sha256
 * against the layer digest and renames it into blobs/, after which reads
 * skip the bookkeeping (the descriptors stay valid across the rename).
 *
 * Partials are shared by every image using the layer: s->partials (under
 * s->lock) maps the hex to one struct store_partial, which lives until the
 * store closes; layers read through their own dup of its descriptor.
 * Creation is serialised by s->meta_lock (it is local I/O only, and blob
 * freeing holds the same lock).  Inside a partial, p->lock guards the chunk
 * states: a chunk is fetched by one job at a time (state FETCHING, a
 * detached thread, wait.c), and every reader that needs it - the one that
 * started it too - sleeps on p->cond and shares its result, or gives up
 * alone when interrupted or when the fetch stalls.  No lock is held
 * across the network.  A fetch has the deadline of its length
 * (registry_blob_deadline()) and needs its bytes of store_max.
 * p->save_lock orders the bitmap writes, each taken from the current
 * states, so a later write never drops an earlier mark.  The chunk table
 * and the bitmap file are partial_chunks.c's.
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

#include "log.h"

#define PARTIAL_TRIES 2		/* a chunk that fails is tried once more */

static void digest_str(const unsigned char md[32], char out[65])
{
	for (int i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
}

static void partial_free(struct store_partial *p)
{
	if (!p)
		return;
	if (p->fd >= 0)
		close(p->fd);
	free(p->chunks);
	free(p->state);
	free(p->err);
	store_srcs_release(&p->srcs);
	free(p->got);
	for (size_t k = 0; k < PARTIAL_HELD_MAX; k++)
		free(p->held[k].mem);
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
		unlinkat(p->s->partial_fd, p->chunks_name, 0);
		return 0;
	}
	partial_chunks_load(p);
	return 0;
}

/*
 * finish - every chunk is present: the file is the blob.  Checked whole and
 * renamed into blobs/; on a mismatch (the index's chunk records lie) the
 * partial is dropped and its reads fail from then on.  Called with no lock
 * held.  The last chunk may arrive after every image that uses the layer
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
		log_err("layer %s: every chunk checked out but the blob does not; "
			"its partial file is dropped", p->digest);
		unlinkat(p->s->partial_fd, p->hex, 0);
	}
	if (!ret || ret == -EIO)
		unlinkat(p->s->partial_fd, p->chunks_name, 0);
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

		log_info("layer %s: complete from its chunks; now a local blob", p->digest);
		store_blob_remove_unreferenced(p->s, &d, 1);
	}
}

struct chunk_buf {
	unsigned char *data;
	size_t len, cap;
	struct store *s;
	struct store_op *op;	/* the fetch, in `status` */
	uint64_t *got;		/* atomic copies of len, one per chunk of the
				 * run, for the waiters */
	size_t n_got;
};

static int chunk_sink(void *ctx, const void *data, size_t n)
{
	struct chunk_buf *b = ctx;

	if (n > b->cap - b->len)
		return -EFBIG;
	memcpy(b->data + b->len, data, n);
	b->len += n;
	store_op_set(b->s, b->op, b->len);
	for (size_t i = 0; i < b->n_got; i++)
		__atomic_store_n(&b->got[i], (uint64_t)b->len, __ATOMIC_RELEASE);
	return 0;
}

/* Bytes [from, from + b->cap) of the blob into @b: from blobs/ when the
 * whole blob is local by now, else one Range request to source @k.  @src
 * (for the log) names where. */
static int run_read(struct store_partial *p, size_t k, uint64_t from,
		    struct chunk_buf *b, char *src, size_t src_cap)
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
	b->op = store_op_begin(s, STORE_OP_CHUNKS, src, p->digest, b->cap);
	store_xfer(s, b->cap, &x);
	ret = registry_blob_get(s->reg, p->srcs.v[k].host, p->srcs.v[k].repo, p->digest,
				from, b->cap, 0, chunk_sink, b, &x);
	store_op_end(s, b->op);
	if (!ret && b->len != b->cap)
		ret = -EIO;	/* body ended early */
	return ret;
}

/* Check chunks [@a, @e) in @b (fetched from @src) against the index's
 * records, each resuming the blob's sha256 where the record before it
 * left off (struct store_chain): 0, or -EIO (logged) at the first that
 * differs. */
static int run_check(struct store_partial *p, size_t a, size_t e,
		     const struct chunk_buf *b, const char *src)
{
	unsigned char md[32];
	int ret;

	for (size_t i = a; i < e; i++) {
		const struct partial_chunk *c = &p->chunks[i];

		ret = store_chain_check(i ? p->chunks[i - 1].digest : NULL, c->start,
					b->data + (c->start - p->chunks[a].start),
					(size_t)(c->end - c->start), i + 1 == p->n,
					c->digest, md);
		if (ret == -EIO) {
			char want[65], got[65];

			digest_str(c->digest, want);
			digest_str(md, got);
			log_err("layer %s: chunk %zu (bytes %" PRIu64 "-%" PRIu64
				") from %s: digest mismatch: index says %s, got %s; discarded",
				p->digest, i, c->start, c->end, src, want, got);
		}
		if (ret)
			return ret;
	}
	return 0;
}

/* run_get - chunks [@a, @e) into @b (b->cap bytes), each checked against
 * the index's digest: from the sources in order, each tried again once. */
static int run_get(struct store_partial *p, size_t a, size_t e, struct chunk_buf *b)
{
	char src[300] = "";
	bool mismatch = false;
	size_t k = 0;
	bool src_failed;
	int ret = -EIO;

	/* Source k, then the next when one fails or sends other bytes
	 * (tries start again for it). */
	for (int tries = 0; tries < PARTIAL_TRIES; tries++) {
		if (tries)
			log_warn("layer %s: chunks %zu-%zu from %s: %s; trying again",
				 p->digest, a, e - 1, src, strerror(-ret));
		ret = run_read(p, k, p->chunks[a].start, b, src, sizeof(src));
		if (!ret) {
			ret = run_check(p, a, e, b, src);
			if (ret == -EIO) {
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
		log_warn("layer %s: chunks %zu-%zu from %s: %s; trying %s/%s", p->digest,
			 a, e - 1, src, strerror(-ret), p->srcs.v[k + 1].host,
			 p->srcs.v[k + 1].repo);
		k++;
		tries = -1;
	}
	if (ret == -ENOENT)
		log_err("layer %s: chunk %zu is not local and there is no registry to fetch it from",
			p->digest, a);
	if (ret)
		store_error_note(p->s, p->digest, ret,
				 mismatch ? "chunk digest mismatch" :
				 ret == -ENOENT && (!p->s->reg || !p->srcs.n) ?
				 "chunk not local, no registry" : NULL);
	if (ret == -ENOENT || ret == -EFBIG || ret == -ERANGE)
		ret = -EIO;	/* to a reader: the bytes cannot be had */
	return ret;
}

/* Whether a write error only means the disk has no room now: the run's
 * verified bytes then serve reads from memory (run_go). */
static bool run_no_room(int ret)
{
	return ret == -ENOSPC || ret == -EDQUOT;
}

/* Compressed bytes of chunks [@a, @e). */
static uint64_t run_len(const struct store_partial *p, size_t a, size_t e)
{
	return p->chunks[e - 1].end - p->chunks[a].start;
}

/*
 * run_fetch - make chunks [@a, @e) present in the file (not yet marked):
 * read, check against the index's digests (run_get), pwrite, fdatasync.
 * Nothing is written unless every check passed.  *@held: the run's
 * verified bytes when the caller has them (a run held in memory), taken
 * over; when the disk has no room for them, the verified bytes are handed
 * back in it (and nothing in the file is marked: a half-written run is
 * rewritten whole by its next fetch).
 */
static int run_fetch(struct store_partial *p, size_t a, size_t e, unsigned char **held)
{
	struct chunk_buf b = { .cap = (size_t)run_len(p, a, e), .got = &p->got[a],
			       .n_got = e - a };
	uint64_t start = p->chunks[a].start;
	bool fresh = !*held;
	int ret = 0;

	b.data = *held;
	*held = NULL;
	if (fresh) {
		b.data = malloc(b.cap);
		if (!b.data)
			return -ENOMEM;
		ret = run_get(p, a, e, &b);
	}
	if (!ret) {
		for (size_t done = 0; done < b.cap;) {
			ssize_t n = pwrite(p->fd, b.data + done, b.cap - done,
					   (off_t)(start + done));

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
		if (run_no_room(ret)) {
			if (fresh)	/* not again at each retry from memory */
				log_warn("layer %s: chunks %zu-%zu: cannot write its partial file: %s; "
					 "its verified bytes serve reads from memory",
					 p->digest, a, e - 1, strerror(-ret));
			*held = b.data;
			return ret;
		}
		if (ret)
			log_err("layer %s: chunks %zu-%zu: cannot write its partial file: %s",
				p->digest, a, e - 1, strerror(-ret));
	}
	free(b.data);
	return ret;
}

/* The chunk holding blob offset @off (< p->size). */
static size_t chunk_of(const struct store_partial *p, uint64_t off)
{
	size_t i = (size_t)(off / (p->chunks[0].end - p->chunks[0].start));

	return i < p->n ? i : p->n - 1;
}

/* Caller holds p->lock: whether @off, in chunk @i, is present; then *@len
 * is clamped to the present run. */
static bool present_locked(const struct store_partial *p, size_t i, uint64_t off,
			   size_t *len)
{
	uint64_t run_end;
	size_t j = i;

	if (p->state[i] != CHUNK_PRESENT)
		return false;
	run_end = p->chunks[j].end;
	while (++j < p->n && p->state[j] == CHUNK_PRESENT)
		run_end = p->chunks[j].end;
	if (*len > run_end - off)
		*len = (size_t)(run_end - off);
	return true;
}

/* One run's fetch, running as a job (wait.c). */
struct run_job {
	struct store_partial *p;
	size_t a, e;
	unsigned char *held;	/* its verified bytes, when it was MEMORY */
};

/* Caller holds p->lock: the held run chunk @i is MEMORY in (NULL if
 * none). */
static struct partial_held *held_of_locked(struct store_partial *p, size_t i)
{
	for (size_t k = 0; k < PARTIAL_HELD_MAX; k++)
		if (p->held[k].mem && p->held[k].a <= i && i < p->held[k].e)
			return &p->held[k];
	return NULL;
}

/* Caller holds p->lock: the verified bytes @held of chunks [@a, @e) (the
 * disk had no room for them) serve their reads from now on, in a free
 * slot of p->held or in place of the run used least lately, whose chunks
 * go back to ABSENT (their readers fetch them again). */
static void run_hold_locked(struct store_partial *p, size_t a, size_t e,
			    unsigned char *held)
{
	struct partial_held *h = &p->held[0];

	for (size_t k = 0; k < PARTIAL_HELD_MAX && h->mem; k++)
		if (!p->held[k].mem || p->held[k].tick < h->tick)
			h = &p->held[k];
	if (h->mem) {
		for (size_t i = h->a; i < h->e; i++)
			p->state[i] = CHUNK_ABSENT;
		free(h->mem);
	}
	h->mem = held;
	h->a = a;
	h->e = e;
	h->tick = ++p->held_tick;
	for (size_t i = a; i < e; i++)
		p->state[i] = CHUNK_MEMORY;
}

/*
 * run_go - fetch chunks [@a, @e) (in state FETCHING; @held: their bytes,
 * when they were held in memory), publish their state to the waiters,
 * then persist them (the bitmap, or the whole blob when they were the
 * last) and give back their reserved space.
 */
static void run_go(struct store_partial *p, size_t a, size_t e, unsigned char *held)
{
	uint64_t len = run_len(p, a, e);
	bool last;
	int ret;

	ret = run_fetch(p, a, e, &held);
	pthread_mutex_lock(&p->lock);
	for (size_t i = a; i < e; i++)
		p->err[i] = ret;
	if (ret) {
		if (held) {
			run_hold_locked(p, a, e, held);
		} else {
			for (size_t i = a; i < e; i++)
				p->state[i] = CHUNK_ABSENT;
		}
		pthread_cond_broadcast(&p->cond);
		pthread_mutex_unlock(&p->lock);
		store_space_release(p->s, len);
		return;
	}
	for (size_t i = a; i < e; i++)
		p->state[i] = CHUNK_SAVING;
	p->n_present += e - a;
	last = p->n_present == p->n;
	if (last)
		p->finishing = true;
	pthread_mutex_unlock(&p->lock);
	if (last)
		finish(p);
	else
		partial_chunks_save(p);
	pthread_mutex_lock(&p->lock);
	for (size_t i = a; i < e; i++)
		p->state[i] = CHUNK_PRESENT;
	pthread_cond_broadcast(&p->cond);
	pthread_mutex_unlock(&p->lock);
	store_space_release(p->s, len);
}

static void *run_job(void *arg)
{
	struct run_job *j = arg;

	run_go(j->p, j->a, j->e, j->held);
	free(j);
	return NULL;
}

/* Caller holds p->lock: the run a fetch of chunk @i (ABSENT or MEMORY)
 * takes: a held run whole, else @i and the ABSENT chunks after it, up to
 * chunk @want (exclusive) and STORE_PARTIAL_RUN_MAX bytes. */
static size_t run_end_locked(struct store_partial *p, size_t i, size_t want)
{
	size_t e = i + 1;

	if (p->state[i] == CHUNK_MEMORY)
		return held_of_locked(p, i)->e;
	while (e < want && e < p->n && p->state[e] == CHUNK_ABSENT &&
	       run_len(p, i, e + 1) <= STORE_PARTIAL_RUN_MAX)
		e++;
	return e;
}

/*
 * Caller holds p->lock, chunk @i is ABSENT or MEMORY: start fetching it,
 * with the chunks after it up to @want (run_end_locked), as a job (inline
 * when no thread can be made), its space reserved first (the lock is
 * dropped for that: store locks come before p->lock); a MEMORY run's job
 * takes its bytes and only tries the write again.  @reader: started for a
 * read that waits for it (not a prefetch): it becomes the run a next read
 * may continue.  0 when the chunk is fetching, present, held or failed by
 * the time this returns; -ENOSPC (or -ENOMEM) when it could not be
 * started.
 */
static int run_start_locked(struct store_partial *p, size_t i, size_t want,
			    bool reader)
{
	bool memory = p->state[i] == CHUNK_MEMORY;
	struct partial_held *h;
	size_t e, e2;
	uint64_t len;
	struct run_job *j;
	int ret;

	if (memory)
		i = held_of_locked(p, i)->a;	/* a held run is written back whole */
	e = run_end_locked(p, i, want);
	len = run_len(p, i, e);

	pthread_mutex_unlock(&p->lock);
	ret = store_space_reserve(p->s, p->digest, len);
	pthread_mutex_lock(&p->lock);
	if (ret)
		return ret;
	/* Others may have started fetches meanwhile: the run shrinks to what
	 * is still ours to fetch. */
	h = memory ? held_of_locked(p, i) : NULL;
	if ((p->state[i] != CHUNK_ABSENT && p->state[i] != CHUNK_MEMORY) ||
	    (p->state[i] == CHUNK_MEMORY) != memory ||
	    (memory && (!h || h->a != i || h->e != e)) ||
	    p->complete || p->broken) {
		store_space_release(p->s, len);	/* another reader was quicker */
		return 0;
	}
	e2 = memory ? e : i + 1;
	while (!memory && e2 < e && p->state[e2] == CHUNK_ABSENT)
		e2++;
	if (e2 < e) {
		store_space_release(p->s, len - run_len(p, i, e2));
		e = e2;
		len = run_len(p, i, e);
	}
	j = malloc(sizeof(*j));
	if (!j) {
		store_space_release(p->s, len);
		return -ENOMEM;
	}
	j->p = p;
	j->a = i;
	j->e = e;
	j->held = NULL;
	if (h) {
		j->held = h->mem;
		h->mem = NULL;	/* the slot is free */
	}
	for (size_t k = i; k < e; k++) {
		p->state[k] = CHUNK_FETCHING;
		__atomic_store_n(&p->got[k], 0, __ATOMIC_RELEASE);
	}
	if (reader) {
		p->seq_end = e;
		p->seq_len = e - i;
	}
	pthread_mutex_unlock(&p->lock);
	if (store_job_start(p->s, run_job, j)) {
		run_go(p, i, e, j->held);
		free(j);
	}
	pthread_mutex_lock(&p->lock);
	return 0;
}

/*
 * A reader of a chunk that is not present starts its fetch, with the
 * absent chunks after it that the read wants (unless one runs), and then
 * waits for it like any other reader: it gives up alone with -EINTR when
 * interrupted, and with -EIO when the fetch stalls (store_watch), while
 * the fetch goes on for the others.  With @buf, bytes of a run held in
 * memory are copied there (*@copied) after one more try to write them;
 * without, such a run fails with its write's error.
 */
static int partial_need(struct store_partial *p, uint64_t off, size_t *len,
			void *buf, bool *copied)
{
	struct store_watch w;
	bool waited = false, watching = false;
	int dropped = 0;
	size_t i, want;
	int ret;

	if (__atomic_load_n(&p->complete, __ATOMIC_ACQUIRE))
		return 0;
	if (off >= p->size || *len == 0)
		return -EIO;	/* the index reads past its own blob */
	i = chunk_of(p, off);
	want = chunk_of(p, *len > p->size - off ? p->size - 1 : off + *len - 1) + 1;
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
		if (p->state[i] == CHUNK_FETCHING || p->state[i] == CHUNK_SAVING) {
			uint64_t got = __atomic_load_n(&p->got[i], __ATOMIC_ACQUIRE);

			if (!watching)
				store_watch_start(p->s, &w, got);
			watching = waited = true;
			ret = store_wait_slice(&p->cond, &p->lock);
			if (ret)
				break;
			got = __atomic_load_n(&p->got[i], __ATOMIC_ACQUIRE);
			/* Only the network is watched, not the save. */
			if (p->state[i] == CHUNK_FETCHING && store_watch_check(&w, got)) {
				log_err("layer %s: chunk %zu: less than %" PRIu64 " bytes in %ld s; "
					"this read gives up (the fetch goes on)", p->digest, i,
					w.need, p->s->timeout_sec);
				ret = -EIO;
				break;
			}
			continue;
		}
		if (waited && buf && p->state[i] == CHUNK_MEMORY) {
			struct partial_held *h = held_of_locked(p, i);
			uint64_t end = p->chunks[h->e - 1].end;

			if (*len > end - off)
				*len = (size_t)(end - off);
			memcpy(buf, h->mem + (off - p->chunks[h->a].start), *len);
			h->tick = ++p->held_tick;
			*copied = true;
			ret = 0;
			break;
		}
		if (waited && p->state[i] == CHUNK_ABSENT && run_no_room(p->err[i]) &&
		    buf && dropped++ < PARTIAL_HELD_MAX) {
			/* held for us, then given up for other runs before we
			 * woke (a full disk, many readers): fetch it again */
			waited = false;
			continue;
		}
		if (waited) {
			ret = p->err[i];	/* the fetch we waited for failed */
			break;
		}
		/* A reader continuing the last run a reader started reads
		 * on: twice its chunks (up to STORE_PARTIAL_RUN_MAX), so a
		 * sequential read that the span cache does not take costs a
		 * few requests, not one per 256 KiB. */
		if (i == p->seq_end && want < i + 2 * p->seq_len)
			want = i + 2 * p->seq_len;
		ret = run_start_locked(p, i, want, true);
		if (ret)
			break;
		waited = true;
	}
	pthread_mutex_unlock(&p->lock);
	return ret;
}

int store_partial_prefetch(struct store_partial *p, uint64_t off, uint64_t len)
{
	size_t i, want;
	int ret = 0;

	if (!p || __atomic_load_n(&p->complete, __ATOMIC_ACQUIRE) || off >= p->size || !len)
		return 0;
	if (len > p->size - off)
		len = p->size - off;
	i = chunk_of(p, off);
	want = chunk_of(p, off + len - 1) + 1;
	pthread_mutex_lock(&p->lock);
	for (; i < want && !ret && !p->complete && !p->broken; i++)
		if (p->state[i] == CHUNK_ABSENT)
			ret = run_start_locked(p, i, want, false);
	pthread_mutex_unlock(&p->lock);
	return ret;
}

bool store_partial_has(struct store_partial *p, uint64_t off, uint64_t len)
{
	bool all = true;

	if (!p || __atomic_load_n(&p->complete, __ATOMIC_ACQUIRE) || !len)
		return true;
	if (off >= p->size)
		return false;
	if (len > p->size - off)
		len = p->size - off;
	pthread_mutex_lock(&p->lock);
	for (size_t i = chunk_of(p, off), e = chunk_of(p, off + len - 1); all && i <= e; i++)
		all = p->state[i] == CHUNK_PRESENT;
	all = all || p->complete;
	pthread_mutex_unlock(&p->lock);
	return all;
}

int store_partial_need(void *ctx, uint64_t off, size_t *len)
{
	bool copied = false;

	return partial_need(ctx, off, len, NULL, &copied);
}

/* The store_toc_src read() of a partial: what need() makes present in
 * @fd, or the bytes of a chunk held in memory. */
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
	snprintf(p->chunks_name, sizeof(p->chunks_name), "%s%s", p->hex, CHUNKS_SUFFIX);
	p->size = (uint64_t)d->size;
	ret = 0;
	for (size_t k = 0; !ret && srcs && k < srcs->n; k++)
		ret = store_srcs_add(&p->srcs, srcs->v[k].host, srcs->v[k].repo);
	if (!ret)
		ret = partial_chunks_from_toc(p, toc);
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

		log_info("layer %s: read through its partial blob (%zu of %zu chunks present)",
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
			if (p->state[i] == CHUNK_PRESENT)
				sum += p->chunks[i].end - p->chunks[i].start;
		if (sum > p->size)
			sum = p->size;	/* neighbouring chunks overlap */
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
