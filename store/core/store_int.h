/* SPDX-License-Identifier: MIT */
/*
 * store_int.h - private to the files of store/core: store.c, blob.c,
 * follow.c, fdcache.c, image.c, record.c, layers.c, layer_index.c, partial.c,
 * progress.c, span_cache.c, tags.c, pull.c and remote.c.  It holds the layout of
 * struct store, of an image and of a tag entry, and the helpers these
 * files share; no other module sees it (it is not on their include path),
 * so they read images through the accessors of store.h.
 *
 * Lock order: s->meta_lock, then s->lock, then image->lock, then the
 * leaf locks: the span cache's cache->lock (span_cache.c), a partial
 * blob's p->save_lock then p->lock (partial.c), the progress table's
 * s->prog->lock (progress.c), the shared blob descriptors'
 * s->blob_fds_lock (fdcache.c), and the registry client's.  No store lock
 * is taken while a leaf is held, and no lock is held across the network.
 * A function that requires a lock held ends in _locked and says which.
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
/* Sources an image record keeps (one config pulled with this many
 * manifests): a bound on the record's size and on the sources a blob is
 * tried from. */
#define STORE_SOURCES_MAX 32
#define STORE_FETCH_TRIES 3
#define STORE_ANSWERS_MAX 4096
#define STORE_HASH_CHUNK ((size_t)1 << 20)	/* pread size when hashing a file */
/* The most compressed bytes one fetch of a partial blob takes (a run of
 * its chunks, fetched into memory and checked before anything is
 * written); a layer whose index cuts larger chunks is fetched whole. */
#define STORE_PARTIAL_RUN_MAX ((uint64_t)8 << 20)

struct store {
	char *dir;
	char *default_host;
	struct registry_client *reg;	/* NULL: offline; not owned */
	struct registry_platform platform;
	int negative_ttl_sec;
	size_t list_page;		/* n= of a remote list's pages; 0: default */
	enum registry_compression push_comp;	/* GZIP or ZSTD (push.c) */

	/* Directory fds, for openat/renameat and fsync of the directory. */
	int root_fd, blobs_fd, index_fd, images_fd, tmp_fd;
	int partial_fd;			/* partial/sha256 */

	pthread_mutex_t meta_lock;	/* see above */

	pthread_mutex_t lock;		/* guards everything below */
	struct htab images;		/* id -> struct store_image (cached) */
	uint64_t images_gen;		/* bumped by every delete (and a source
				 * added to an image not cached) */
	struct htab tags;		/* "host/repo:tag" -> struct store_tagent */
	struct htab inflight;		/* blob hex -> struct store_inflight */
	pthread_cond_t inflight_cond;
	struct htab answers;		/* remote answer cache -> struct store_answer */
	struct htab lists;		/* remote lists (remote.c) */
	struct htab partials;		/* blob hex -> struct store_partial (partial.c) */

	/* Decompressed spans of compressed layers (span_cache.c); NULL when
	 * cache_size is 0.  Its own leaf lock guards it. */
	struct store_cache *cache;

	/* Work in flight, the last errors and the bytes in blobs/ and
	 * index/ (progress.c).  Its own leaf lock, prog->lock, guards it. */
	struct store_progress *prog;
	/* One shared descriptor per blob open in layers/ (fdcache.c):
	 * hex -> struct blob_fd, guarded by the leaf blob_fds_lock. */
	pthread_mutex_t blob_fds_lock;
	struct htab blob_fds;
	bool blob_fds_live;

	/* Memory of index builds in progress, shared by all of them
	 * (store/toc budget.c; its own leaf lock). */
	struct store_toc_budget *toc_budget;

	/* Limits (fixed at open). */
	uint64_t max_layer_size;
	uint64_t store_max;		/* 0: none */
	long timeout_sec;

	/* Transfers run as jobs on threads of their own (wait.c); s->lock
	 * guards n_jobs and jobs_ended (ended jobs whose thread is not
	 * joined yet). */
	int n_jobs;
	pthread_cond_t jobs_cond;
	struct store_job *jobs_ended;
	int closing;			/* atomic: stops every transfer */

	/* Entries of tags.json skipped at open (invalid, or naming a
	 * missing record): what `imgfs --check` reports.  Set at open. */
	unsigned tags_skipped;

	/* Uncompressed layer digest (prefixed "zstd:" for zstd) -> the
	 * compressed blob a push made of it (struct push_gz, push.c), so
	 * that it is not made again; guarded by the leaf push_gz_lock.  Only
	 * grows, one entry per layer and compression pushed. */
	pthread_mutex_t push_gz_lock;
	struct htab push_gz;

	/* Bytes of downloads in flight, for store_max (space.c); s->lock. */
	uint64_t reserved;
};

/* A gzip or zstd blob made of an uncompressed layer by a push (push.c). */
struct push_gz {
	char digest[72];
	int64_t size;
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
	bool unsaved;			/* toc is not in index/ yet: built
					 * during the download, saved once the
					 * rootfs is answered (layers.c) */
};

/*
 * One source of an image: a manifest that names its config, and where it
 * was pulled from (host/repo NULL: imported, nowhere to fetch from).  The
 * same config (image id) may come with several manifests, from several
 * registries; each lists its own layer blobs.  Immutable once made.
 */
struct store_src {
	char *host, *repo;
	char manifest_digest[72];
	struct buf manifest;		/* exact bytes */
	struct registry_manifest m;
};

/*
 * Where a blob may be fetched from: host/repo of each source whose
 * manifest lists it, in the image's order (owned strings).  @img, when
 * set, is the image it is fetched for: a download that ends after the
 * image was deleted is discarded.
 */
struct store_srcs {
	struct { char *host, *repo; } *v;
	size_t n;
	struct store_image *img;
};
/* Append host/repo (copied) to @srcs; free what it holds. */
int store_srcs_add(struct store_srcs *srcs, const char *host, const char *repo);
void store_srcs_release(struct store_srcs *srcs);

struct store_image {
	char id[65];			/* config digest hex */
	char manifest_digest[72];	/* srcs[0]'s: the record's "manifest" */
	struct buf manifest;		/* exact bytes */
	struct buf config;		/* exact bytes */
	struct registry_manifest m;
	struct registry_config cfg;
	/* Every source, the record's first (the one m is) at [0]; a pull
	 * that brings another manifest of this config appends one under
	 * store->lock, so take it to read the array (not the sources). */
	struct store_src **srcs;
	size_t n_srcs;
	/* Bottom first.  A layer's desc is the first source's until
	 * store_image_rootfs() finds its blob does not give the config's
	 * diff_id: then it becomes the next source's layer at that index. */
	struct store_layer *layers;
	size_t n_layers;

	/* image->lock guards rootfs_state, rootfs and rootfs_err. */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	enum store_rootfs_state rootfs_state;
	int rootfs_err;
	struct store_rootfs *rootfs;

	/* Layer descriptors in use (fdcache.c), also img->lock's: reads
	 * pinning them, whether they were closed for idleness (and are
	 * being opened again), and when the last pin ended (CLOCK_MONOTONIC
	 * seconds); fds_dropped: the image is deleted, its descriptors are
	 * closed whenever the last pin ends. */
	int fd_users;
	bool fds_closed, fds_reopening, fds_dropped;
	double fds_used;

	int refs;			/* guarded by store->lock */
	int busy;			/* open files/dirs; store->lock */
	bool deleted;			/* store->lock */
};

struct store_tagent {
	char *host, *repo, *tag;
	char id[65];
	/* The source this tag was pulled as (src_host NULL: none of its own,
	 * e.g. a tag made locally; it shows the image's first manifest). */
	char *src_host, *src_repo;
	char manifest[72];
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
/* How long remote.c keeps a registry's list. */
#define STORE_LIST_TTL_SEC 2
/* remote.c: frees s->lists; only from store_close(). */
void store_remote_lists_release(struct store *s);
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
/* The sha256 of the first @size bytes of @fd, as "sha256:<hex>". */
int store_fd_sha256(int fd, uint64_t size, char digest[72]);
/*
 * store_blob_fetch - make the blob @d local: nothing if it is, else
 * downloaded from the first of @srcs that serves it, verified against the
 * digest and size of @d (a source that fails or sends other bytes is
 * logged and skipped).  A download in flight is shared only by callers
 * that would fetch from the same source.  -ENOENT offline or with no
 * source; -ENOENT also when srcs->img was deleted meanwhile (the bytes
 * are discarded, under meta_lock, so no blob outlives its record).
 */
int store_blob_fetch(struct store *s, const struct store_srcs *srcs,
		     const struct registry_desc *d);
/*
 * store_blob_fetch_follow - store_blob_fetch() that hands each download it
 * waits for to @fn while it runs, without any lock held: @src reads the
 * file being written, its need callback sleeping until the bytes are
 * there (and failing with the download's error, or -EINTR / -EIO when
 * the caller is interrupted or the transfer stalls).  A resumed transfer
 * only makes it wait longer.  @fn runs at most once per source tried, and
 * not when the blob is local or the download ended before it could
 * start.  *@followed is set when the download that made the blob local
 * is one that @fn ran on: only then is what @fn made of the bytes about
 * this blob, whose digest and size have checked out.
 */
typedef int (*store_blob_follow_fn)(void *ctx, const struct store_toc_src *src);
int store_blob_fetch_follow(struct store *s, const struct store_srcs *srcs,
			    const struct registry_desc *d, store_blob_follow_fn fn,
			    void *ctx, bool *followed);

/* One download in progress (blob.c); refs: the downloader plus each
 * waiter; guarded by s->lock but for the atomics. */
struct store_inflight {
	int refs;
	bool done;
	int err;
	uint64_t progress;	/* atomic: bytes written so far */
	bool opened;		/* the temp file exists (rfd, when >= 0) */
	int rfd;		/* the temp file, read-only, for followers */
	int followers;		/* atomic: followers sleeping for bytes */
	/* The download's sha256, sized for the blob: a follower that
	 * indexes the blob takes its chunk records from it once it has read
	 * every byte (progress), instead of hashing the blob again. */
	struct store_chain *chain;
};

/* follow.c */
/*
 * store_follow_locked - caller holds s->lock and a ref on @f (the lock is
 * dropped while @fn runs): once the download's file exists, run @fn on it
 * as it is written (@d's size).  *@ran when @fn ran; -EINTR or -EIO when
 * the reader gave up meanwhile (the download goes on), else 0 whatever
 * @fn returned.
 */
int store_follow_locked(struct store *s, struct store_inflight *f,
			const struct registry_desc *d, store_blob_follow_fn fn,
			void *ctx, bool *ran);

/*
 * store_blob_unlink - remove blob @hex and its layer index, counting the
 * bytes they held out of the store's usage.  0 when the blob was removed,
 * else -errno of unlinking it.
 */
int store_blob_unlink(struct store *s, const char *hex);

/* progress.c */
/* Set up the progress table and count what blobs/ and index/ hold (at
 * open, after the sweeps): @lines is store_opts.progress_lines. */
int store_progress_open(struct store *s, bool lines);
/* Free it (at close, when nothing is in flight; NULL is a no-op). */
void store_progress_close(struct store *s);
/* A file of @bytes entered (@sign 1) or left (-1) blobs/ (@index false)
 * or index/ (@index true). */
void store_usage_note(struct store *s, bool index, uint64_t bytes, int sign);
/* The size of @name in @dirfd, 0 when it is not there. */
uint64_t store_file_size(int dirfd, const char *name);
/* Bytes in blobs/ and index/ (counted) and partial/ (allocated, scanned):
 * what store_max bounds.  Takes prog->lock. */
uint64_t store_usage_files(struct store *s);

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
 * store_job_start - run @fn(@arg) on a thread of its own, counted so that
 * store_close() waits for it (and joins its thread).  -errno when no
 * thread could be made (the caller runs it inline).
 */
int store_job_start(struct store *s, void *(*fn)(void *), void *arg);
/* At close: stop every transfer (s->closing), wait for the jobs and join
 * their threads. */
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
/*
 * store_layer_fetch_index - store_blob_fetch() of layer @d, indexing it
 * while it downloads: 0 with *@out the index (checked against @diff_id,
 * for the caller to keep with store_layer_index_write()) when the download
 * that made the blob local was scanned as it ran; 0 with *@out NULL when
 * the blob is local but was not scanned (it
 * was there already, or its download ended before the scan could start):
 * store_layer_index() then.  An index is kept only when the blob's digest
 * and the diff_id both checked out; errors as store_blob_fetch(), or as
 * store_layer_index() when the download succeeded but its index did not.
 */
int store_layer_fetch_index(struct store *s, const struct store_srcs *srcs,
			    const struct registry_desc *d, const char *diff_id,
			    const char *what, struct store_toc **out);
/* The on-disk form of @toc, the checked index of layer @d, in @enc
 * (initialised here): 0, or -errno logged and nothing to release. */
int store_layer_index_encode(const struct registry_desc *d, const struct store_toc *toc,
			     const char *what, struct buf *enc);
/* Keep @enc (store_layer_index_encode) in index/: 0, or -errno logged
 * (the index is rebuilt next time). */
int store_layer_index_write(struct store *s, const struct registry_desc *d,
			    const struct buf *enc, const char *what);

/* partial.c */
struct store_partial;
/*
 * store_partial_open - read layer @d (indexed by @toc, fetched from
 * @srcs, copied; the first opener's are kept) through its partial blob, created
 * empty or loaded with the chunks a previous run verified.  The partial is
 * the store's (shared by every image with this layer, freed at close);
 * *@fd is a new descriptor of its file, the caller's.  -EEXIST when the
 * blob is local (read that instead), -E2BIG when its index's chunks are
 * larger than STORE_PARTIAL_RUN_MAX.
 */
int store_partial_open(struct store *s, const struct store_srcs *srcs,
		       const struct registry_desc *d, const struct store_toc *toc,
		       struct store_partial **out, int *fd);
/* The store_toc_src need() of a partial (@ctx): see toc.h. */
int store_partial_need(void *ctx, uint64_t off, size_t *len);
/*
 * store_partial_prefetch - start fetching every absent chunk of blob bytes
 * [@off, @off + @len) of partial @p (NULL: a complete blob, nothing to
 * do), in as few Range requests as STORE_PARTIAL_RUN_MAX allows, run in
 * parallel as jobs; no wait.  A reader that wants them later waits for
 * those fetches instead of starting its own, one chunk run at a time.
 */
int store_partial_prefetch(struct store_partial *p, uint64_t off, uint64_t len);
/* Whether every byte of [@off, @off + @len) of @p (NULL: complete) is
 * present now: reading them needs no fetch. */
bool store_partial_has(struct store_partial *p, uint64_t off, uint64_t len);
/* Where layer @l's compressed bytes come from, for store_toc_read(). */
void store_layer_src(const struct store_layer *l, struct store_toc_src *src);
/* At open: remove from partial/ what is not a partial of a kept index,
 * or whose blob is complete. */
void store_partial_sweep(struct store *s);
/* At close: free every partial (nothing may read through them). */
void store_partial_free_all(struct store *s);
/* Bytes of blob @hex present in its partial file: the chunks verified in
 * an open partial, else what the file has allocated (0: none). */
uint64_t store_partial_present(struct store *s, const char *hex);

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
/* record.c */
/* One source as a record names it. */
struct store_rec_src {
	char *host, *repo;	/* NULL: imported */
	char mdigest[72];
};
/* A record: v[0] is "manifest"/"host"/"repo", the rest "sources". */
struct store_record {
	struct store_rec_src *v;
	size_t n;
};
/* Record file name of a full id: "<hex>.json". */
void store_record_name(const char *id, char name[80]);
/* The sources of image @id (at least one, the first being the manifest
 * its by-id/ directory shows) into @r, which the caller releases.
 * -ENOENT without a record, -EIO (logged) for a corrupt one. */
int store_record_read(struct store *s, const char *id, struct store_record *r);
/* Write @r (n >= 1) as image @id's record, atomically; one source is
 * written without "sources", as records were before there could be more. */
int store_record_write(struct store *s, const char *id, const struct store_record *r);
/* Append a source (@host NULL: imported) to @r. */
int store_record_add(struct store_record *r, const char *host, const char *repo,
		     const char *mdigest);
/* Whether @r has the source @host/@repo with manifest @mdigest. */
bool store_record_has(const struct store_record *r, const char *host,
		      const char *repo, const char *mdigest);
void store_record_release(struct store_record *r);
/*
 * store_src_load - source @v of image @id with its manifest, which must
 * name the config @id and have @n_layers layers (logged otherwise).
 * Blobs in blobs/ were verified when stored, so only parse and
 * consistency are checked.
 */
int store_src_load(struct store *s, const char *id, const struct store_rec_src *v,
		   size_t n_layers, struct store_src **out);
void store_src_free(struct store_src *src);
/* The sources of @img whose manifest lists blob @digest, into @out
 * (initialised here; out->img = @img).  Takes s->lock. */
int store_image_srcs(struct store *s, struct store_image *img, const char *digest,
		     struct store_srcs *out);
/* Layer @i of @img's source @k (>= 1), NULL when there is no such source;
 * it lives as long as @img.  Takes s->lock. */
const struct registry_desc *store_image_layer_alt(struct store *s,
						  struct store_image *img,
						  size_t i, size_t k);
/* Whether @img (NULL: no) has been deleted; takes s->lock. */
bool store_image_deleted(struct store *s, struct store_image *img);
/* Refuse artifacts and layer types we cannot serve, naming the culprit
 * (@what) in the log: -ENOTSUP. */
int store_manifest_check(const char *what, const struct registry_manifest *m);

/* fdcache.c */
/* An image's layer descriptors are closed after this long unpinned. */
#define STORE_FDS_IDLE_SEC 10
/* The table of shared blob descriptors: set up at open, closed (every
 * descriptor with it) at close. */
int store_blob_fds_init(struct store *s);
void store_blob_fds_release(struct store *s);
/*
 * store_blob_fd_get - a read-only descriptor of complete local blob
 * @digest, shared with every other caller that has it: read it with pread
 * only, never close it; give it back with store_blob_fd_put(@digest).
 * -ENOENT if not local.
 */
int store_blob_fd_get(struct store *s, const char *digest, int *fd);
void store_blob_fd_put(struct store *s, const char *digest);
/*
 * store_layer_fds_pin - the layer descriptors (store_layer.fd) of @img,
 * whose tree is READY, are open (opened again if they were closed for
 * idleness) and stay so until store_layer_fds_unpin().  Every use of them
 * after the build is between the two.  No lock may be held.
 */
int store_layer_fds_pin(struct store *s, struct store_image *img);
void store_layer_fds_unpin(struct store_image *img);
/* @img's tree was just built (its layer descriptors opened): it counts
 * as used now, and other images idle for long have theirs closed.  No
 * lock may be held. */
void store_layer_fds_opened(struct store *s, struct store_image *img);
/* @img's tree build failed: if it was deleted meanwhile, the descriptors
 * the build opened are closed.  No lock may be held. */
void store_layer_fds_failed(struct store_image *img);
/* @img was just deleted but is still referenced (the kernel's inodes of
 * it live until it forgets them): close its layer descriptors now, or
 * when the last pin ends, so that its freed blobs do not stay open (and
 * their space taken) until then.  Caller may hold s->lock (image->lock
 * comes after). */
void store_layer_fds_drop(struct store_image *img);

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
/*
 * store_tag_set_source - store_tag_set() that also records the source the
 * tag was pulled as: @src_host/@src_repo and manifest @mdigest (all NULL:
 * none).
 */
int store_tag_set_source(struct store *s, const char *host, const char *repo,
			 const char *tag, const char *id, const char *src_host,
			 const char *src_repo, const char *mdigest);
/* Caller holds meta_lock or s->lock: whether a tag of image @id was
 * pulled as manifest @mdigest. */
bool store_tags_name_source_locked(struct store *s, const char *id, const char *mdigest);
/* Caller holds meta_lock or s->lock: whether any tag other than @except_key
 * names @id. */
bool store_tags_name_id_locked(struct store *s, const char *id, const char *except_key);
/* Point each of @tags at @id (which must exist), filling their old_id and
 * set; under meta_lock. */
int store_tags_set_locked(struct store *s, const char *id,
			  struct store_tag_name *tags, size_t n);
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
