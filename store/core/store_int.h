/* SPDX-License-Identifier: MIT */
/*
 * store_int.h - private to the files of store/core: store.c, blob.c,
 * image.c, layers.c, layer_index.c, partial.c, span_cache.c, tags.c and
 * pull.c.  It holds the layout of struct store, of an image and of a tag
 * entry, and the helpers these files share; no other module sees it (it
 * is not on their include path), so they read images through the
 * accessors of store.h.
 *
 * Lock order: s->meta_lock, then s->lock, then image->lock, then the
 * leaf locks: the span cache's cache->lock (span_cache.c), a partial
 * blob's p->save_lock then p->lock (partial.c), and the registry
 * client's.  No store lock is taken while a leaf is held, and no lock is
 * held across the network.  A function that requires a lock held ends in
 * _locked and says which.
 *
 * s->meta_lock serialises every change of persistent metadata (tags.json,
 * images/<id>.json, freeing blobs) so that a read-modify-write of the tag
 * table is linearizable and a blob GC never races a record write.  It may
 * be held across the small metadata writes (fsync included) but never
 * across network I/O or a layer scan.  s->lock guards only in-memory
 * state: the image cache, the tag table, the in-flight download table and
 * the answer cache.  Readers of tags take s->lock alone; writers take
 * meta_lock, persist, then apply to memory under s->lock, so memory never
 * runs ahead of disk.
 */
#ifndef IMGFS_STORE_INT_H
#define IMGFS_STORE_INT_H

#include "file.h"
#include "htab.h"
#include "store.h"

#define STORE_CONFIG_MAX ((size_t)4 << 20)
#define STORE_RECORD_MAX ((size_t)64 << 10)
#define STORE_TAGS_MAX ((size_t)64 << 20)
#define STORE_FETCH_TRIES 3
#define STORE_ANSWERS_MAX 4096
#define STORE_HASH_CHUNK ((size_t)1 << 20)	/* pread size when hashing a file */
/* A layer is read through a partial blob only if none of its spans is
 * larger than this (each span is fetched into memory before it is
 * checked); others are fetched whole. */
#define STORE_PARTIAL_SPAN_MAX ((uint64_t)32 << 20)

struct store {
	char *dir;
	char *default_host;
	struct registry_client *reg;	/* NULL: offline; not owned */
	struct registry_platform platform;
	int negative_ttl_sec;

	/* Directory fds, for openat/renameat and fsync of the directory. */
	int root_fd, blobs_fd, index_fd, images_fd, tmp_fd;
	int partial_fd;			/* partial/sha256 */

	pthread_mutex_t meta_lock;	/* see above */

	pthread_mutex_t lock;		/* guards everything below */
	struct htab images;		/* id -> struct store_image (cached) */
	uint64_t images_gen;		/* bumped by every delete */
	struct htab tags;		/* "host/repo:tag" -> struct store_tagent */
	struct htab inflight;		/* blob hex -> struct store_inflight */
	pthread_cond_t inflight_cond;
	struct htab answers;		/* remote answer cache -> struct store_answer */
	struct htab partials;		/* blob hex -> struct store_partial (partial.c) */

	/* Decompressed spans of compressed layers (span_cache.c); NULL when
	 * cache_size is 0.  Its own leaf lock guards it. */
	struct store_cache *cache;

	/* Limits (fixed at open). */
	uint64_t max_layer_size;
	uint64_t store_max;		/* 0: none */
	long timeout_sec;

	/* Transfers run as detached jobs (wait.c); s->lock guards n_jobs. */
	int n_jobs;
	pthread_cond_t jobs_cond;
	int closing;			/* atomic: stops every transfer */

	/* store_max accounting (space.c), under s->lock. */
	uint64_t reserved;		/* bytes of downloads in flight */
	uint64_t usage;			/* bytes in the store at the last scan */
	int64_t usage_ms;		/* when (CLOCK_MONOTONIC); 0: stale */
};

struct store_layer {
	struct registry_desc desc;	/* digest, size, media type */
	enum registry_compression comp;
	/* The fields below are filled by store_image_rootfs() and then
	 * immutable until the image is freed. */
	int fd;				/* blob (complete or partial), -1 until
					 * prepared */
	struct store_toc *toc;		/* NULL until indexed */
	struct store_partial *part;	/* NULL: fd is complete; else fd reads
					 * through it (owned by the store) */
};

struct store_image {
	char id[65];			/* config digest hex */
	char manifest_digest[72];
	struct buf manifest;		/* exact bytes */
	struct buf config;		/* exact bytes */
	struct registry_manifest m;
	struct registry_config cfg;
	char *host, *repo;		/* where its blobs come from */
	struct store_layer *layers;	/* m.n_layers of them, bottom first */
	size_t n_layers;

	/* image->lock guards rootfs_state, rootfs and rootfs_err. */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	enum store_rootfs_state rootfs_state;
	int rootfs_err;
	struct store_rootfs *rootfs;

	int refs;			/* guarded by store->lock */
	int busy;			/* open files/dirs; store->lock */
	bool deleted;			/* store->lock */
};

struct store_tagent {
	char *host, *repo, *tag;
	char id[65];
};

/* store.c */
/* Write @name in @dirfd crash-safely (tmp/, fsync, rename, fsync dir);
 * failures are logged. */
int store_write_atomic(struct store *s, int dirfd, const char *name,
		       const void *data, size_t len);
/* Remote answers (negative for pulls, both for repo checks), kept for
 * negative_ttl_sec: whether a fresh one for @key is remembered, and
 * remembering one.  Both take s->lock. */
bool store_answer_get(struct store *s, const char *key, int *result);
void store_answer_set(struct store *s, const char *key, int result);

/* blob.c */
/* Whether a failed transfer is worth another try. */
bool store_fetch_retryable(int err);
/*
 * store_blob_commit_file - make the complete file @name in @dirfd, open at
 * @fd, of @size bytes, blob @expect_digest: hashed (-EIO, logged, when it
 * is not that digest), fsynced, renamed into blobs/ (or removed when the
 * blob is already there).  @dirfd must be on the store's filesystem.
 */
int store_blob_commit_file(struct store *s, int fd, int dirfd, const char *name,
			   const char *expect_digest, uint64_t size);
/*
 * store_blob_fetch - make the blob @d (from @host/@repo) local: nothing if
 * it is, else one download per digest in the process, verified against
 * the digest and size of @d.  -ENOENT offline.
 */
int store_blob_fetch(struct store *s, const char *host, const char *repo,
		     const struct registry_desc *d);

/* wait.c: bounded, interruptible waits and transfer jobs. */
/* CLOCK_MONOTONIC in milliseconds. */
int64_t store_now_ms(void);
/*
 * store_wait_slice - wait on @cond (with @m held) for a short slice at
 * most, then return: 0, or -EINTR when the calling thread's cancel token
 * fired.  Callers loop on their own condition.
 */
int store_wait_slice(pthread_cond_t *cond, pthread_mutex_t *m);
/*
 * A reader's watch over a transfer it waits for: the reader gives up
 * when a window of s->timeout_sec brought fewer than REGISTRY_MIN_RATE
 * bytes a second of it (stalled, or drip-fed), whatever the transfer's
 * own, longer deadline.
 */
struct store_watch {
	int64_t t0_ms;
	uint64_t b0;
	int64_t window_ms;
	uint64_t need;
};
void store_watch_start(const struct store *s, struct store_watch *w,
		       uint64_t bytes);
/* -ETIMEDOUT when the window passed with too few bytes, else 0. */
int store_watch_check(struct store_watch *w, uint64_t bytes);
/*
 * store_job_start - run @fn(@arg) on a detached thread, counted so that
 * store_close() waits for it; @fn calls store_job_done(@s) last.
 * -errno when no thread could be made (the caller runs it inline).
 */
int store_job_start(struct store *s, void *(*fn)(void *), void *arg);
void store_job_done(struct store *s);
/* At close: stop every transfer (s->closing) and wait for the jobs. */
void store_jobs_drain(struct store *s);
/* What a transfer of @bytes may take, stopped by s->closing. */
void store_xfer(const struct store *s, uint64_t bytes, struct registry_xfer *x);

/* space.c: the store_max budget. */
/*
 * store_space_reserve - account @bytes about to be downloaded for @what
 * (logged with the digest @digest when refused): -ENOSPC when the store's
 * files plus the downloads in flight plus @bytes exceed store_max.  0 and
 * nothing to release without a store_max.
 */
int store_space_reserve(struct store *s, const char *digest, uint64_t bytes);
/* Give back what store_space_reserve() took, once the bytes are in the
 * store's files (or were not written). */
void store_space_release(struct store *s, uint64_t bytes);

/* layer_index.c */
/*
 * store_layer_index_load - the kept index of layer @d, without its blob:
 * checked against @d (compression, size) and @diff_id like
 * store_layer_index() checks a built one.  -ENOENT when none is kept,
 * -EINVAL (logged) for one that fails the checks; the caller owns *@out.
 */
int store_layer_index_load(struct store *s, const struct registry_desc *d,
			   const char *diff_id, const char *what,
			   struct store_toc **out);

/* partial.c */
struct store_partial;
/*
 * store_partial_open - read layer @d (indexed by @toc, fetched from
 * @host/@repo, which may be NULL) through its partial blob, created
 * empty or loaded with the spans a previous run verified.  The partial is
 * the store's (shared by every image with this layer, freed at close);
 * *@fd is a new descriptor of its file, the caller's.  -EEXIST when the
 * blob is local (read that instead), -E2BIG when a span is larger than
 * STORE_PARTIAL_SPAN_MAX.
 */
int store_partial_open(struct store *s, const char *host, const char *repo,
		       const struct registry_desc *d, const struct store_toc *toc,
		       struct store_partial **out, int *fd);
/* The store_toc_src need() of a partial (@ctx): see toc.h. */
int store_partial_need(void *ctx, uint64_t off, size_t *len);
/* Where layer @l's compressed bytes come from, for store_toc_read(). */
void store_layer_src(const struct store_layer *l, struct store_toc_src *src);
/* At open: remove from partial/ what is not a partial of a kept index,
 * or whose blob is complete. */
void store_partial_sweep(struct store *s);
/* At close: free every partial (nothing may read through them). */
void store_partial_free_all(struct store *s);

/* image.c */
/* Free an image no one references any more (NULL is a no-op). */
void store_image_free(struct store_image *img);
/*
 * store_image_resolve - the full id named by @id: 64 hex digits or a
 * unique prefix of at least 4, either with an optional "sha256:".
 * -ENOENT when nothing matches (or @id is not hex), -EINVAL when
 * ambiguous.  Needs no lock; callers that must not race a delete hold
 * meta_lock around it and what they do with the id.
 */
int store_image_resolve(struct store *s, const char *id, char full[65]);
/* Refuse artifacts and layer types we cannot serve, naming the culprit
 * (@what) in the log: -ENOTSUP. */
int store_manifest_check(const char *what, const struct registry_manifest *m);

/* layers.c */
/*
 * store_layer_read - @len bytes at offset @off of layer @l's uncompressed
 * stream into @dst, decompressed from its blob (@cur may be NULL): the one
 * place the store decodes a layer.
 */
int store_layer_read(const struct store_layer *l, struct store_toc_cursor *cur,
		     void *dst, size_t len, uint64_t off, size_t *got);

/* span_cache.c: the decompressed span cache under cache/sha256/. */
struct store_cache;
struct cache_span;
/* What store_cache_get() pinned: @len bytes at @off of the file @fd. */
struct store_cache_ref {
	struct cache_span *span;	/* NULL: nothing pinned */
	int fd;
	uint64_t off;
	size_t len;
};
struct store_cache_stats {
	uint64_t max;		/* the cap */
	uint64_t used;		/* bytes of spans present or being filled */
	uint64_t fills;		/* spans decompressed so far */
	uint64_t evictions;	/* spans punched out so far */
};
/* A cache of at most @max bytes in the directory @dir_fd, which it takes
 * over on success (store_cache_close() closes it). */
int store_cache_open(int dir_fd, uint64_t max, struct store_cache **out);
/* Close the cache (NULL is a no-op); no span may be pinned. */
void store_cache_close(struct store_cache *c);
/*
 * store_cache_get - pin the bytes at @uoff (< tar_size) of compressed layer
 * @l (prepared: fd and toc set) in the cache, decompressing their span
 * first when it is absent (concurrent callers wait for one fill).  *@ref
 * gets the file, @uoff and min(@len, to the span's end); release it with
 * store_cache_put().  -ENOBUFS when the span cannot be cached now (larger
 * than the cap, or the rest is pinned): read the layer directly.
 */
int store_cache_get(struct store_cache *c, const struct store_layer *l,
		    uint64_t uoff, size_t len, struct store_cache_ref *ref);
/* Unpin what store_cache_get() pinned (a ref with no span is a no-op). */
void store_cache_put(struct store_cache *c, struct store_cache_ref *ref);
/* The pinned bytes of @ref into @dst (ref->len of them). */
int store_cache_pread(const struct store_cache_ref *ref, void *dst);
/* Counters, for tests and logs. */
void store_cache_stats(struct store_cache *c, struct store_cache_stats *st);

/* tags.c */
/* Read tags.json into s->tags (at open); free the table (at close). */
int store_tags_load(struct store *s);
void store_tags_free(struct store *s);
/* Caller holds meta_lock (not s->lock): persist the table without tags naming @drop_id and
 * without @drop_key, then apply that in memory. */
int store_tags_drop_locked(struct store *s, const char *drop_key, const char *drop_id);
/* Caller holds meta_lock or s->lock: whether any tag other than @except_key
 * names @id. */
bool store_tags_name_id_locked(struct store *s, const char *id, const char *except_key);
/* The key of a tag in s->tags, "host/repo:tag"; -EINVAL for a name
 * that is not valid. */
int store_tag_key(const char *host, const char *repo, const char *tag,
		  struct buf *key);

/* image.c */
/* Caller holds meta_lock (not s->lock): delete image @id (full hex), its
 * tags, its record, then its unshared blobs.  -EBUSY while files of it
 * are open. */
int store_image_delete_locked(struct store *s, const char *id);
/* Free every blob no image record references (at open, when nothing is
 * in flight); takes meta_lock. */
int store_blob_sweep(struct store *s);

#endif
