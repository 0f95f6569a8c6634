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
 * (registry_blob_deadline()) and needs its bytes of store_max.  p->save_lock orders the bitmap writes, each taken from
 * the current states, so a later write never drops an earlier mark.
 */
#include "store_int.h"

#include <dirent.h>
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

#define SPANS_MAGIC "imgfsSP1"
#define SPANS_HDR (8 + 8 + 8 + 32)	/* magic, size, n, table hash */
#define SPANS_SUFFIX ".spans"
#define PARTIAL_TRIES 2		/* a span that fails is tried once more */

/* SAVING: the bytes are written and synced, the bitmap (or the whole
 * blob) is being persisted; readers wait for PRESENT, so a read that
 * returns has its span on record.  MEMORY: verified, but the disk had no
 * room (ENOSPC, EDQUOT): held in p->mem, not on record. */
enum { SPAN_ABSENT, SPAN_FETCHING, SPAN_SAVING, SPAN_PRESENT, SPAN_MEMORY };

struct partial_span {
	uint64_t start, end;	/* compressed bytes fetched: [start, end) */
	uint64_t vstart;	/* where the checked bytes begin (>= start) */
	unsigned char digest[32];	/* sha256 of [vstart, end) */
};

struct store_partial {
	struct store *s;
	char digest[72];
	const char *hex;	/* in digest */
	char spans_name[80];	/* "<hex>.spans" */
	struct store_srcs srcs;	/* where spans come from, in order */
	uint64_t size;
	int fd;			/* the partial file, read-write */
	struct partial_span *spans;
	size_t n;
	unsigned char table_md[32];

	pthread_mutex_t save_lock;	/* orders bitmap writes; before lock */
	pthread_mutex_t lock;		/* guards the fields below */
	pthread_cond_t cond;
	uint8_t *state;			/* SPAN_* per span */
	int *err;			/* result of the last failed fetch */
	uint64_t *got;			/* atomic: bytes of a fetch so far */
	size_t n_present;
	unsigned char *mem;		/* span mem_i's bytes when it is MEMORY */
	size_t mem_i;
	int broken;			/* -EIO: the whole blob failed its check */
	bool finishing;
	bool complete;			/* renamed into blobs/; atomic reads */
};

static void put_le64(unsigned char *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t get_le64(const unsigned char *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

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

/* The spans of @toc, and the hash that names this table in the bitmap. */
static int spans_from_toc(struct store_partial *p, const struct store_toc *toc)
{
	unsigned char rec[8 + 8 + 32];
	unsigned int mdlen = 0;
	EVP_MD_CTX *ctx;
	int ret = 0;

	if (toc->n_cps == 0 || toc->comp_size != p->size)
		return -EINVAL;
	p->n = toc->n_cps;
	p->spans = calloc(p->n, sizeof(*p->spans));
	p->state = calloc(p->n, sizeof(*p->state));
	p->err = calloc(p->n, sizeof(*p->err));
	p->got = calloc(p->n, sizeof(*p->got));
	ctx = EVP_MD_CTX_new();
	if (!p->spans || !p->state || !p->err || !p->got || !ctx ||
	    !EVP_DigestInit_ex(ctx, EVP_sha256(), NULL)) {
		ret = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < p->n; i++) {
		struct partial_span *sp = &p->spans[i];

		sp->vstart = store_toc_span_start(toc, i);
		sp->end = store_toc_span_end(toc, i);
		/* Bytes before the first span (a gzip header) go with it. */
		sp->start = i == 0 ? 0 : sp->vstart;
		memcpy(sp->digest, toc->cps[i].digest, 32);
		if (sp->vstart >= sp->end || sp->end > p->size ||
		    (i && (sp->start > p->spans[i - 1].end ||
			   sp->start <= p->spans[i - 1].start)) ||
		    (i + 1 == p->n && sp->end != p->size)) {
			ret = -EINVAL;	/* spans must tile the blob */
			goto out;
		}
		if (sp->end - sp->start > STORE_PARTIAL_SPAN_MAX) {
			ret = -E2BIG;
			goto out;
		}
		put_le64(rec, sp->vstart);
		put_le64(rec + 8, sp->end);
		memcpy(rec + 16, sp->digest, 32);
		if (!EVP_DigestUpdate(ctx, rec, sizeof(rec))) {
			ret = -ENOMEM;
			goto out;
		}
	}
	if (!EVP_DigestFinal_ex(ctx, p->table_md, &mdlen) || mdlen != 32)
		ret = -ENOMEM;
out:
	EVP_MD_CTX_free(ctx);
	return ret;
}

/* Load <hex>.spans into p->state if it belongs to this file and table. */
static void spans_load(struct store_partial *p)
{
	size_t bytes = (p->n + 7) / 8;
	const unsigned char *d;
	struct buf b;

	if (file_read_capped(p->s->partial_fd, p->spans_name, SPANS_HDR + bytes, &b))
		return;
	d = (const unsigned char *)b.data;
	if (b.len == SPANS_HDR + bytes && memcmp(d, SPANS_MAGIC, 8) == 0 &&
	    get_le64(d + 8) == p->size && get_le64(d + 16) == p->n &&
	    memcmp(d + 24, p->table_md, 32) == 0) {
		for (size_t i = 0; i < p->n; i++)
			if (d[SPANS_HDR + i / 8] & (1u << (i % 8))) {
				p->state[i] = SPAN_PRESENT;
				p->n_present++;
			}
	} else {
		log_warn("layer %s: span bitmap does not match its index; ignored",
			 p->digest);
	}
	buf_release(&b);
}

/*
 * spans_save - persist the present spans.  Under save_lock the states are
 * read when the write starts, so writes land in the order of what they
 * contain.  A failure only costs refetching after a remount.
 */
static void spans_save(struct store_partial *p)
{
	size_t bytes = (p->n + 7) / 8;
	unsigned char *d = calloc(1, SPANS_HDR + bytes);
	bool skip;

	if (!d)
		return;
	pthread_mutex_lock(&p->save_lock);
	pthread_mutex_lock(&p->lock);
	skip = p->complete || p->finishing;
	for (size_t i = 0; i < p->n; i++)
		if (p->state[i] == SPAN_PRESENT || p->state[i] == SPAN_SAVING)
			d[SPANS_HDR + i / 8] |= (unsigned char)(1u << (i % 8));
	pthread_mutex_unlock(&p->lock);
	if (!skip) {
		memcpy(d, SPANS_MAGIC, 8);
		put_le64(d + 8, p->size);
		put_le64(d + 16, p->n);
		memcpy(d + 24, p->table_md, 32);
		if (store_write_atomic(p->s, p->s->partial_fd, p->spans_name, d,
				       SPANS_HDR + bytes))
			log_warn("layer %s: span bitmap not saved", p->digest);
	}
	pthread_mutex_unlock(&p->save_lock);
	free(d);
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
	spans_load(p);
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
		spans_save(p);
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
	ssize_t n;
	int ret;

	ret = partial_need(ctx, off, &len, buf, &copied);
	if (ret)
		return ret;
	if (copied) {
		*got = len;
		return 0;
	}
	do {
		n = pread(fd, buf, len, (off_t)off);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	*got = (size_t)n;
	return 0;
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
		ret = spans_from_toc(p, toc);
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

/* Whether @name in partial/ is "<hex>" or "<hex>.spans"; the hex into @hex. */
static bool partial_name(const char *name, char hex[65])
{
	size_t len = strlen(name);

	if (len != 64 && !(len == 64 + strlen(SPANS_SUFFIX) &&
			   strcmp(name + 64, SPANS_SUFFIX) == 0))
		return false;
	memcpy(hex, name, 64);
	hex[64] = '\0';
	return registry_hex_valid(hex, 64, 64);
}

void store_partial_sweep(struct store *s)
{
	int fd = openat(s->partial_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct dirent *de;
	unsigned n = 0;
	DIR *dir;

	if (fd < 0)
		return;
	dir = fdopendir(fd);
	if (!dir) {
		close(fd);
		return;
	}
	while ((de = readdir(dir))) {
		char hex[65];

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		/* Kept: a partial whose index is there and whose blob is not. */
		if (partial_name(de->d_name, hex) &&
		    faccessat(s->index_fd, hex, F_OK, AT_SYMLINK_NOFOLLOW) == 0 &&
		    faccessat(s->blobs_fd, hex, F_OK, AT_SYMLINK_NOFOLLOW) != 0)
			continue;
		if (unlinkat(s->partial_fd, de->d_name, 0) == 0)
			n++;
		else
			log_warn("store: cannot remove partial/sha256/%s: %s",
				 de->d_name, strerror(errno));
	}
	closedir(dir);
	if (n)
		log_info("store: removed %u stale partial file(s) from %s/partial", n,
			 s->dir);
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
