/* SPDX-License-Identifier: MIT */
/*
 * span_cache.c - the decompressed span cache: cache/sha256/<layer hex> is
 * a sparse file of a compressed layer's uncompressed stream, filled one
 * span (the stretch between two index checkpoints) at a time, so that a
 * span is decompressed once and every later read of any file in it is a
 * pread (or a splice) of that file.
 *
 * Why spans: they are the unit the index can start decompressing at, so
 * filling one costs exactly one pass over its compressed bytes, and a
 * sequential reader of a big file pays nothing more than before.
 *
 * A span of a layer whose blob is not local (a partial blob, fetched by
 * chunk) may be filled only up to the end of the read that asked for it,
 * rounded up to CACHE_PREFIX_ROUND: the first small file of an image whose
 * index is kept then costs the chunks from its span's start to the file,
 * not the whole span.  Such a span is PRESENT with have < len; a read past
 * have extends it to the whole span (decompressing the prefix again: a
 * span is decompressed about twice, and a sequential reader does not
 * extend it file by file), fetching its missing chunks in parallel first.
 * Past the read's own end a fill stops quietly where a chunk cannot be
 * had (offline): a read of bytes that are present never fails for bytes
 * it does not need.  A span whose chunks are all present is filled whole
 * at once.
 *
 * A span is ABSENT, FILLING (one thread decompresses it into the file;
 * readers of it sleep on c->cond instead of decompressing it again),
 * PRESENT, or EVICTING (its hole is being punched).  Present bytes are
 * counted; a fill first reserves its span's length and, to stay within
 * c->max, punches out least-recently-used present spans that no one has
 * pinned.  A reader pins the span while it reads the file (or while the
 * kernel splices from it), so a pinned span is never punched.  When the
 * reservation cannot be made (the span alone is larger than the cap, or
 * everything else is pinned) the caller reads from the layer directly:
 * the cap is never exceeded.  (On disk a punched span keeps the blocks it
 * shares with its neighbours, spans not being block-aligned: at most one
 * block per span boundary more.)
 *
 * Locking: c->lock guards every span's state, pins and LRU links, the
 * table of files and the counters.  It is a leaf: taken after
 * store->lock and image->lock when a caller holds them (none does today),
 * and never held across decompression, file I/O or an open.
 *
 * The cache is not persistent: the store empties cache/sha256 at open (a
 * sparse file cannot tell written zeros from a hole after a crash).
 */
#include "store_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

/* Bytes decompressed per step of a fill (a span may be a whole zstd
 * frame, far larger than this). */
#define CACHE_FILL_CHUNK ((size_t)1 << 20)

/* A partial fill ends at the read's end rounded up to this. */
#define CACHE_PREFIX_ROUND ((uint64_t)64 << 10)

enum cache_state { SPAN_ABSENT, SPAN_FILLING, SPAN_PRESENT, SPAN_EVICTING };

struct cache_file;

struct cache_span {
	struct cache_span *prev, *next;	/* LRU, present and unpinned only */
	struct cache_file *file;
	uint64_t start, len;		/* in the uncompressed stream */
	uint64_t have;			/* PRESENT: bytes [start, start + have)
					 * are in the file (have <= len) */
	uint32_t pins;
	uint8_t state;			/* enum cache_state */
	bool extending;			/* PRESENT: a fill of [have, len) runs */
};

/* One layer's cache file; lives until the cache closes. */
struct cache_file {
	int fd;
	uint64_t tar_size;
	size_t n_spans;
	struct cache_span *spans;
};

struct store_cache {
	int dir_fd;			/* cache/sha256, owned */
	uint64_t max;			/* cap of present bytes */

	pthread_mutex_t lock;		/* guards everything below (a leaf) */
	pthread_cond_t cond;		/* a fill or an eviction finished */
	struct htab files;		/* layer hex -> struct cache_file */
	struct cache_span lru;		/* sentinel: next is the most recent */
	uint64_t used;			/* bytes present or being filled */
	uint64_t fills, evictions;
};

int store_cache_open(int dir_fd, uint64_t max, struct store_cache **out)
{
	struct store_cache *c = calloc(1, sizeof(*c));
	int ret;

	if (!c)
		return -ENOMEM;
	ret = htab_init(&c->files);
	if (ret) {
		free(c);
		return ret;
	}
	c->dir_fd = dir_fd;
	c->max = max;
	c->lru.next = c->lru.prev = &c->lru;
	pthread_mutex_init(&c->lock, NULL);
	pthread_cond_init(&c->cond, NULL);
	*out = c;
	return 0;
}

static void cache_file_free(struct cache_file *f)
{
	close(f->fd);
	free(f->spans);
	free(f);
}

void store_cache_close(struct store_cache *c)
{
	size_t it;

	if (!c)
		return;
	for (struct htab_ent *e = htab_first(&c->files, &it); e;
	     e = htab_next(&c->files, &it, e))
		cache_file_free(e->val);
	htab_release(&c->files);
	if (c->dir_fd >= 0)
		close(c->dir_fd);
	pthread_cond_destroy(&c->cond);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

void store_cache_stats(struct store_cache *c, struct store_cache_stats *st)
{
	pthread_mutex_lock(&c->lock);
	st->max = c->max;
	st->used = c->used;
	st->fills = c->fills;
	st->evictions = c->evictions;
	pthread_mutex_unlock(&c->lock);
}

static void lru_unlink_locked(struct cache_span *sp)
{
	sp->prev->next = sp->next;
	sp->next->prev = sp->prev;
	sp->prev = sp->next = NULL;
}

static void lru_push_locked(struct store_cache *c, struct cache_span *sp)
{
	sp->next = c->lru.next;
	sp->prev = &c->lru;
	c->lru.next->prev = sp;
	c->lru.next = sp;
}

/* A new file for @toc's stream: spans from its checkpoints, file sized. */
static int cache_file_new(struct store_cache *c, const char *hex,
			  const struct store_toc *toc, struct cache_file **out)
{
	struct cache_file *f = calloc(1, sizeof(*f));
	int ret = -ENOMEM;

	if (!f)
		return -ENOMEM;
	f->fd = -1;
	f->tar_size = toc->tar_size;
	f->n_spans = toc->n_cps;
	f->spans = calloc(f->n_spans ? f->n_spans : 1, sizeof(*f->spans));
	if (!f->spans)
		goto out;
	for (size_t i = 0; i < f->n_spans; i++) {
		uint64_t end = i + 1 < f->n_spans ? toc->cps[i + 1].uoff
						  : toc->tar_size;

		f->spans[i].file = f;
		f->spans[i].start = toc->cps[i].uoff;
		f->spans[i].len = end - toc->cps[i].uoff;
	}
	/* Another reader may create the same file at the same time: no
	 * O_TRUNC, and both size it alike. */
	f->fd = openat(c->dir_fd, hex, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW,
		       0600);
	if (f->fd < 0 || ftruncate(f->fd, (off_t)f->tar_size) < 0) {
		ret = -errno;
		log_err("cache: cannot create %s: %s", hex, strerror(errno));
		goto out;
	}
	*out = f;
	return 0;
out:
	if (f->fd >= 0)
		close(f->fd);
	free(f->spans);
	free(f);
	return ret;
}

/* The cache file of layer @l, created on first use. */
static int cache_file_get(struct store_cache *c, const struct store_layer *l,
			  struct cache_file **out)
{
	const char *hex = l->desc.digest + 7;
	struct cache_file *f, *mine = NULL;
	int ret;

	if (strncmp(l->desc.digest, "sha256:", 7) || !registry_hex_valid(hex, 64, 64))
		return -EINVAL;
	pthread_mutex_lock(&c->lock);
	f = htab_get(&c->files, hex);
	pthread_mutex_unlock(&c->lock);
	if (!f) {
		ret = cache_file_new(c, hex, l->toc, &mine);
		if (ret)
			return ret;
		pthread_mutex_lock(&c->lock);
		f = htab_get(&c->files, hex);
		if (!f) {
			ret = htab_set(&c->files, hex, mine, NULL);
			if (!ret)
				f = mine;
			mine = NULL;
			if (ret)
				f = NULL;
		}
		pthread_mutex_unlock(&c->lock);
		if (mine)
			cache_file_free(mine);
		else if (!f)
			return -ENOMEM;
	}
	/* Two images share a layer: their indexes are the same bytes, but a
	 * toc that disagrees with the file is not trusted with it. */
	if (f->tar_size != l->toc->tar_size || f->n_spans != l->toc->n_cps)
		return -ENOBUFS;
	*out = f;
	return 0;
}

static int punch(struct cache_span *sp)
{
	if (fallocate(sp->file->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
		      (off_t)sp->start, (off_t)sp->len) < 0)
		return -errno;
	return 0;
}

/*
 * Make room for @need more bytes: move least-recently-used unpinned spans
 * to EVICTING (their bytes no longer counted) and chain them on
 * *@victims through ->next; the caller punches them outside the lock.
 * Whether the room is there now.
 */
static bool evict_locked(struct store_cache *c, uint64_t need,
			 struct cache_span **victims)
{
	while (c->used + need > c->max && c->lru.prev != &c->lru) {
		struct cache_span *v = c->lru.prev;

		lru_unlink_locked(v);
		v->state = SPAN_EVICTING;
		v->have = 0;
		c->used -= v->len;
		c->evictions++;
		v->next = *victims;
		*victims = v;
	}
	return c->used + need <= c->max;
}

/* Punch out the spans evict_locked() chose; each is ABSENT after. */
static void evict_finish(struct store_cache *c, struct cache_span *victims)
{
	while (victims) {
		struct cache_span *v = victims;
		int ret;

		victims = v->next;
		v->next = NULL;
		ret = punch(v);
		if (ret)
			log_warn("cache: cannot punch a span out: %s", strerror(-ret));
		pthread_mutex_lock(&c->lock);
		v->state = SPAN_ABSENT;
		pthread_cond_broadcast(&c->cond);
		pthread_mutex_unlock(&c->lock);
	}
}

/* All @n bytes written from, or read into, @buf at @off of @fd. */
static int pio_all(bool write, int fd, void *buf, size_t n, uint64_t off)
{
	size_t done = 0;

	while (done < n) {
		ssize_t k = write ? pwrite(fd, (char *)buf + done, n - done, (off_t)(off + done))
				  : pread(fd, (char *)buf + done, n - done, (off_t)(off + done));

		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return -errno;
		if (k == 0)
			return -EIO;	/* the file is sized to the stream */
		done += (size_t)k;
	}
	return 0;
}

/* The compressed bytes [*@cs, *@ce) span @sp of layer @l is decompressed
 * from. */
static void span_compressed(const struct store_layer *l, const struct cache_span *sp,
			    uint64_t *cs, uint64_t *ce)
{
	size_t i = (size_t)(sp - sp->file->spans);

	*cs = store_toc_span_start(l->toc, i);
	*ce = store_toc_span_end(l->toc, i);
}

/* Start fetching, in parallel, the missing chunks of a partial blob that
 * a fill of span @sp up to @upto (relative to its start) will need, about:
 * the share of its compressed bytes that @upto is of its length. */
static void span_prefetch(const struct store_layer *l, const struct cache_span *sp,
			  uint64_t upto)
{
	uint64_t cs, ce;

	if (!l->part)
		return;
	span_compressed(l, sp, &cs, &ce);
	store_partial_prefetch(l->part, cs, upto >= sp->len ? ce - cs :
			       (ce - cs) * upto / sp->len);
}

/*
 * The end (relative to its start) a fill of span @sp, asked for by a read
 * of @len bytes at @rel into it, decompresses to: the whole span when its
 * compressed bytes are local, else the read's end rounded up (the chunks
 * past the prefetched ones are fetched as the decompression reaches them).
 */
static uint64_t fill_target(const struct store_layer *l, const struct cache_span *sp,
			    uint64_t rel, size_t len)
{
	uint64_t cs, ce, end;

	if (!l->part)
		return sp->len;
	span_compressed(l, sp, &cs, &ce);
	if (store_partial_has(l->part, cs, ce - cs))
		return sp->len;
	end = (rel + len + CACHE_PREFIX_ROUND - 1) / CACHE_PREFIX_ROUND * CACHE_PREFIX_ROUND;
	/* A read from the span's start, or one reaching its end, takes it
	 * whole: a sequential reader's next read would extend it anyway. */
	if (end >= sp->len || rel == 0)
		end = sp->len;
	span_prefetch(l, sp, end);
	return end;
}

/*
 * fill - decompress bytes [@from, @to) of span @sp of layer @l into the
 * file (no lock held), *@reached: where it stopped.  Bytes up to @must
 * (the read that asked) are required; past it the fill stops quietly at
 * the first error (a chunk that cannot be fetched now, offline say):
 * what was filled is kept, and a read past it tries again.
 */
static int fill(const struct store_layer *l, struct cache_span *sp, uint64_t from,
		uint64_t must, uint64_t to, uint64_t *reached)
{
	struct store_toc_cursor *cur = NULL;
	size_t chunk = to - from < CACHE_FILL_CHUNK ? (size_t)(to - from) : CACHE_FILL_CHUNK;
	unsigned char *buf = malloc(chunk ? chunk : 1);
	uint64_t done = from;
	int ret = -ENOMEM;

	if (!buf)
		goto out;
	ret = store_toc_cursor_new(&cur);
	if (ret)
		goto out;
	while (done < to) {
		/* a piece ends at @must, so the required part is whole */
		uint64_t left = (done < must ? must : to) - done;
		size_t n = left < chunk ? (size_t)left : chunk, got;

		ret = store_layer_read(l, cur, buf, n, sp->start + done, &got);
		if (!ret && got != n)
			ret = -EIO;	/* the index promised more */
		if (!ret)
			ret = pio_all(true, sp->file->fd, buf, n, sp->start + done);
		if (ret && done >= must)
			break;
		if (ret)
			goto out;
		done += n;
	}
	*reached = done;
	ret = 0;
out:
	store_toc_cursor_free(cur);
	free(buf);
	return ret;
}

/* Caller holds c->lock: pin @sp (PRESENT) for a reader. */
static void pin_locked(struct cache_span *sp)
{
	if (sp->pins++ == 0)
		lru_unlink_locked(sp);
}

/* Caller holds c->lock: extend @sp (PRESENT, pinned by the caller) from
 * its prefix towards the whole span, at least to @must (the read's end);
 * the lock is dropped meanwhile. */
static int extend_locked(struct store_cache *c, const struct store_layer *l,
			 struct cache_span *sp, uint64_t must)
{
	uint64_t from = sp->have, reached = from;
	int ret;

	sp->extending = true;
	pthread_mutex_unlock(&c->lock);
	span_prefetch(l, sp, sp->len);
	ret = fill(l, sp, from, must > from ? must : from, sp->len, &reached);
	pthread_mutex_lock(&c->lock);
	sp->extending = false;
	if (!ret) {
		sp->have = reached;
		c->fills++;
	}
	pthread_cond_broadcast(&c->cond);
	return ret;
}

int store_cache_get(struct store_cache *c, const struct store_layer *l,
		    uint64_t uoff, size_t len, struct store_cache_ref *ref)
{
	struct cache_span *sp, *victims = NULL;
	struct cache_file *f;
	uint64_t rel, target, must, reached = 0;
	int ret;

	memset(ref, 0, sizeof(*ref));
	ref->fd = -1;
	if (!l->toc->n_cps || uoff >= l->toc->tar_size || !len)
		return -EINVAL;
	ret = cache_file_get(c, l, &f);
	if (ret)
		return ret;
	sp = &f->spans[store_toc_span_of(l->toc, uoff)];
	rel = uoff - sp->start;
	must = len < sp->len - rel ? rel + len : sp->len;
	pthread_mutex_lock(&c->lock);
	for (;;) {
		if (sp->state == SPAN_PRESENT && rel < sp->have) {
			pin_locked(sp);
			break;
		}
		if (sp->state == SPAN_PRESENT && !sp->extending) {
			pin_locked(sp);
			ret = extend_locked(c, l, sp, must);
			if (!ret)
				break;	/* pinned, and now past the read's start */
			if (--sp->pins == 0)
				lru_push_locked(c, sp);
			pthread_mutex_unlock(&c->lock);
			return ret;
		}
		if (sp->state != SPAN_ABSENT) {
			pthread_cond_wait(&c->cond, &c->lock);
			continue;
		}
		if (sp->len > c->max || !evict_locked(c, sp->len, &victims)) {
			pthread_mutex_unlock(&c->lock);
			evict_finish(c, victims);
			return -ENOBUFS;
		}
		c->used += sp->len;
		sp->state = SPAN_FILLING;
		sp->pins = 1;
		pthread_mutex_unlock(&c->lock);

		evict_finish(c, victims);
		victims = NULL;
		target = fill_target(l, sp, rel, len);
		ret = fill(l, sp, 0, must < target ? must : target, target, &reached);
		if (ret) {
			/* Nothing half-written may stay behind the count. */
			int pr = punch(sp);

			if (pr)
				log_warn("cache: cannot punch a failed span: %s",
					 strerror(-pr));
		}

		pthread_mutex_lock(&c->lock);
		if (ret) {
			sp->state = SPAN_ABSENT;
			sp->pins = 0;
			c->used -= sp->len;
			pthread_cond_broadcast(&c->cond);
			pthread_mutex_unlock(&c->lock);
			return ret;
		}
		sp->state = SPAN_PRESENT;
		sp->have = reached;
		c->fills++;
		pthread_cond_broadcast(&c->cond);
		break;
	}
	/* have only grows while the span is pinned; read it under the lock */
	ref->len = sp->have - rel < len ? (size_t)(sp->have - rel) : len;
	pthread_mutex_unlock(&c->lock);
	ref->span = sp;
	ref->fd = f->fd;
	ref->off = uoff;
	return 0;
}

void store_cache_put(struct store_cache *c, struct store_cache_ref *ref)
{
	struct cache_span *sp = ref->span;

	if (!sp)
		return;
	pthread_mutex_lock(&c->lock);
	if (--sp->pins == 0)
		lru_push_locked(c, sp);
	pthread_mutex_unlock(&c->lock);
	ref->span = NULL;
}

int store_cache_pread(const struct store_cache_ref *ref, void *dst)
{
	return pio_all(false, ref->fd, dst, ref->len, ref->off);
}
