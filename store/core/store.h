/* SPDX-License-Identifier: MIT */
/*
 * store.h - the local content-addressed image store.
 *
 * Owns every file under the store directory (layout in docs/DESIGN.md):
 *   blobs/sha256/<hex>     verified blobs: manifests, configs, layers
 *   index/sha256/<hex>     layer indexes (toc.h), keyed by layer digest
 *   partial/sha256/<hex>   layers read chunk by chunk: a sparse file of the
 *                          blob and <hex>.chunks, the chunks verified in it
 *   images/<id>.json       one record per local image (id = config hex)
 *   tags.json              every local tag -> image id
 *   tmp/                   downloads and writes in progress
 *   cache/sha256/<hex>     decompressed spans of compressed layers (sparse;
 *                          emptied at open, bounded by cache_size)
 * Files that must survive a crash are written to tmp/, fsynced, renamed
 * into place and the directory fsynced.  Anything in tmp/ at open is an
 * orphan and is removed.  A blob is renamed into blobs/ only after its
 * digest (and size) checked out, so a file in blobs/ is always complete.
 *
 * The store knows nothing of FUSE.  It calls the registry client to pull.
 *
 * Threads and locks.  Lock order: store->meta_lock (serialises changes of
 * persistent metadata), store->lock, image->lock, then the registry
 * client's leaf locks.  No lock is held across network I/O or a
 * layer scan: downloads of one blob are deduplicated through an in-flight
 * table (under store->lock) whose waiters sleep on a condition variable.
 */
#ifndef IMGFS_STORE_H
#define IMGFS_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <pthread.h>
#include <sys/statvfs.h>
#include <time.h>

#include "buf.h"
#include "registry.h"
#include "rootfs.h"
#include "toc.h"

struct store;

struct store_opts {
	const char *dir;		/* created if missing */
	const char *default_host;	/* for display names; "docker.io" */
	struct registry_client *registry;	/* may be NULL: offline */
	struct registry_platform platform;
	int negative_ttl_sec;		/* unknown names are remembered this
					 * long; 0: 5 */
	uint64_t cache_size;		/* bytes of decompressed spans kept in
					 * cache/; 0: no cache */
	bool progress_lines;		/* print a line to stderr every few
					 * seconds of a long transfer (-f) */
	bool check;			/* open for store_check(): change
					 * nothing at open (no clean-up of
					 * tmp/, no sweeps, no span cache) */
	uint64_t index_mem;		/* bytes all index builds in progress
					 * may hold together; 0: a quarter of
					 * RAM, within [256 MiB, 1 GiB] */
	uint64_t max_layer_size;	/* a pull whose manifest names a larger
					 * blob is refused; 0: STORE_LAYER_MAX */
	uint64_t store_max;		/* downloads that would grow the store
					 * past this many bytes are refused
					 * (-ENOSPC); 0: no limit */
	long timeout_sec;		/* a reader waiting on a transfer gives
					 * up (-EIO) after this long without
					 * REGISTRY_MIN_RATE progress; 0: 60 */
	size_t list_page;		/* names asked for per page of a
					 * registry's catalog or tag list;
					 * 0: REGISTRY_LIST_PAGE_DEFAULT */
	enum registry_compression push_comp;	/* how a push compresses a
					 * layer kept uncompressed: GZIP or
					 * ZSTD; NONE: gzip */
};

/* The default max_layer_size: 16 GiB. */
#define STORE_LAYER_MAX ((uint64_t)16 << 30)
/* Most layers of one image, pulled or imported. */
#define STORE_MAX_LAYERS 1000

/*
 * A request's cancel token.  The FUSE edge makes one per request that may
 * wait on the network, fires it when the kernel says the caller was
 * interrupted, and makes it current for the thread serving the request
 * (store_cancel_enter()); every wait of the store on a download or a
 * build polls the current token and gives up with -EINTR once it fired.
 * The download itself goes on for whoever else waits for it.
 */
struct store_cancel {
	int fired;		/* read and written atomically */
};
/* Make @c (NULL: none) the current token of the calling thread. */
void store_cancel_enter(struct store_cancel *c);
/* The calling thread's current token (NULL: none). */
struct store_cancel *store_cancel_current(void);
/* Fire @c: from any thread, also before or after the wait it ends. */
void store_cancel_fire(struct store_cancel *c);

/*
 * store_open - open (creating if missing) the store at @opts->dir: lays
 * out the directories, removes orphans in tmp/, loads the tags and frees
 * blobs no image record references (left by a crash mid-import).  The
 * store keeps @opts->registry but does not own it.
 */
int store_open(const struct store_opts *opts, struct store **out);
/* Close @s and free its images; no reference may be held any more. */
void store_close(struct store *s);
/* The host display names leave out ("docker.io"). */
const char *store_default_host(const struct store *s);

/* ---- blobs ------------------------------------------------------------ */

/* Open a complete local blob read-only (the caller closes *@fd).
 * -ENOENT if not local, -EINVAL for a digest that is not sha256:<hex>. */
int store_blob_open(struct store *s, const char *digest, int *fd);
/* Whether blob @digest is local (and so complete). */
bool store_blob_has(struct store *s, const char *digest);
/* All of local blob @digest into @out (initialised here with cap @max):
 * -ENOENT if not local, -EFBIG if larger than @max. */
int store_blob_read(struct store *s, const char *digest, size_t max,
		    struct buf *out);

/*
 * store_layer_index - the index of layer @d, whose complete blob is open at
 * @blob_fd: loaded from the store when a valid one is kept, else built
 * from the blob and kept (layer_index.c).  With @diff_id the layer's
 * uncompressed digest must equal it: -EIO, logged, and nothing kept when
 * it does not.  -ENOTSUP for a media type that is not a layer we can
 * read; a hostile tar is store_toc_build()'s error.  @what names the image
 * or import in the log.  The caller owns *@out.
 */
int store_layer_index(struct store *s, const struct registry_desc *d, int blob_fd,
		      const char *diff_id, const char *what, struct store_toc **out);

/* ---- images ------------------------------------------------------------ */

/*
 * An image record and its runtime state.  Its fields are the store's
 * (store_int.h); other modules read them through the calls below, which
 * need no lock: what they return is immutable while a reference is held.
 */
struct store_image;

/* Where an image's merged tree is (store_image_rootfs() builds it). */
enum store_rootfs_state {
	STORE_ROOTFS_NONE,	/* not built (or the last build failed) */
	STORE_ROOTFS_BUILDING,	/* a caller is fetching, indexing, merging */
	STORE_ROOTFS_READY,	/* built; immutable until the image goes */
};

/* The image ID: the config digest's 64 hex digits. */
const char *store_image_id(const struct store_image *img);
/* The digest of its manifest, "sha256:<hex>". */
const char *store_image_manifest_digest(const struct store_image *img);
/* The config's creation time, seconds since the epoch (0: unknown). */
int64_t store_image_created(const struct store_image *img);
/* The exact bytes of the manifest and of the config. */
const struct buf *store_image_manifest(const struct store_image *img);
const struct buf *store_image_config(const struct store_image *img);
size_t store_image_n_layers(const struct store_image *img);
/* Descriptor of layer @i (0 is the bottom), @i < store_image_n_layers(). */
const struct registry_desc *store_image_layer(const struct store_image *img,
					      size_t i);
enum store_rootfs_state store_image_rootfs_state(struct store_image *img);
/*
 * store_image_xattrs - the extended attributes of inode @ino of the
 * image's merged tree (which must be READY): *@xa and *@n (0 when none).
 * They live as long as the image.
 */
int store_image_xattrs(struct store_image *img, uint32_t ino,
		       const struct store_xattr **xa, size_t *n);

/*
 * store_image_get - the local image whose id is @id, its full hex or a
 * unique prefix of at least 4 hex digits.  Takes a reference; -ENOENT,
 * or -EINVAL for an ambiguous prefix.
 */
int store_image_get(struct store *s, const char *id, struct store_image **out);
/* Drop the reference store_image_get() took (NULL is a no-op); a deleted
 * image is freed with its last reference. */
void store_image_put(struct store *s, struct store_image *img);
/* Ids of all local images, sorted; caller frees each and the array. */
int store_image_list(struct store *s, char ***ids, size_t *n);

/*
 * store_image_rootfs - the merged tree of @img: a layer whose index is
 * kept is read through its partial blob (spans fetched by reads, each
 * verified); any other layer's blob is fetched whole (verified) and
 * indexed (layers in parallel); then the layers are merged.  Concurrent callers wait for one build.  The
 * tree lives as long as the image.
 */
int store_image_rootfs(struct store *s, struct store_image *img,
		       struct store_rootfs **out);
/*
 * store_image_read - @len bytes at @off of regular file @ino of the
 * image's rootfs into @dst (*@got fewer only at the end of the file).
 * Bytes of a compressed layer come through the span cache when there is
 * one; @cur (may be NULL) carries decompression between reads of bytes
 * the cache cannot hold.  -EIO when a span it needs cannot be fetched
 * or fails its digest.
 */
int store_image_read(struct store *s, struct store_image *img, uint32_t ino,
		     struct store_toc_cursor *cur, void *dst, size_t len,
		     uint64_t off, size_t *got);

/* Bytes of a rootfs file where they lie in a file of the store. */
struct store_read_ref {
	int fd;			/* valid until store_image_read_unref() */
	uint64_t off;		/* where the bytes are in @fd */
	size_t len;		/* 0: @off was at or past the end of the file */
	void *pin;		/* the store's */
	struct store_image *fds;	/* the store's: layer descriptors pinned, image referenced */
};
/*
 * store_image_read_ref - where the bytes at @off of regular file @ino lie,
 * for handing the kernel a descriptor instead of a copy: up to @len of
 * them from an uncompressed layer's blob or from the span cache (filled
 * and pinned first), so ref->len may be less than @len; ask again for the
 * rest.  -ENOBUFS when they are not in a file (a compressed layer without
 * a cache, or a span the cache cannot hold): use store_image_read().
 * Every successful call is paired with store_image_read_unref().
 */
int store_image_read_ref(struct store *s, struct store_image *img, uint32_t ino,
			 size_t len, uint64_t off, struct store_read_ref *ref);
/* Release what store_image_read_ref() returned (after the kernel has the
 * bytes). */
void store_image_read_unref(struct store *s, struct store_read_ref *ref);
/*
 * store_image_layer_open - fetch (if needed) and open layer @i's blob: *@fd
 * is shared by every open of that blob (read it with pread only, never
 * close it); give it back with store_image_layer_close().
 */
int store_image_layer_open(struct store *s, struct store_image *img, size_t i,
			   int *fd);
/* Give back the descriptor store_image_layer_open() returned for layer @i. */
void store_image_layer_close(struct store *s, struct store_image *img, size_t i);
/*
 * One manifest of an image.  The image ID is the config's digest, and a
 * config is public, so several registries may serve it, each with a
 * manifest of its own (its own layer blobs): every pull that brings a
 * manifest the image does not have adds a source; the first is the one
 * store_image_manifest() returns.  The pointers are valid as long as the
 * image reference they were taken under (a source never changes).
 */
struct store_image_source {
	const char *digest;			/* "sha256:<hex>" */
	const char *host, *repo;		/* NULL: imported */
	const struct buf *manifest;		/* exact bytes */
	const struct registry_manifest *m;	/* parsed: config, layers */
};
/*
 * store_image_source - @img's source whose manifest digest is @mdigest
 * into @out.  -ENOENT when the image's record does not name it (never a
 * source, or dropped from the record since), when it did not load, or
 * when the image was deleted.  Reads the record: not for every read.
 */
int store_image_source(struct store *s, struct store_image *img,
		       const char *mdigest, struct store_image_source *out);
/*
 * store_image_source_layer_open - store_image_layer_open() for layer @i of
 * source @mdigest's manifest (fetched from the sources that list it);
 * -ENOENT without that source or layer.  Give the descriptor back with
 * store_image_source_layer_close() (same @mdigest and @i).
 */
int store_image_source_layer_open(struct store *s, struct store_image *img,
				  const char *mdigest, size_t i, int *fd);
void store_image_source_layer_close(struct store *s, struct store_image *img,
				    const char *mdigest, size_t i);
/* Uncompressed size when every layer is indexed, else compressed size. */
uint64_t store_image_size(struct store *s, struct store_image *img);

/* ---- tags ------------------------------------------------------------- */

struct store_tag {
	char *host;	/* "docker.io" or host[:port] */
	char *repo;	/* as the registry names it: "library/ubuntu" */
	char *tag;
	char id[65];
	char manifest[72];	/* the manifest it was pulled as ("": none
				 * of its own; it shows the image's first) */
};

/* Every local tag, sorted by host, repo, tag. */
int store_tag_list(struct store *s, struct store_tag **tags, size_t *n);
/* Free what store_tag_list() returned. */
void store_tag_list_free(struct store_tag *tags, size_t n);
/* The id host/repo:tag names: -ENOENT when there is no such local tag. */
int store_tag_get(struct store *s, const char *host, const char *repo,
		  const char *tag, char id[65]);

/*
 * store_pull - `docker pull host/repo:tag`, lazily: one manifest request
 * (for an index, then the platform's manifest), the config, and the tag.
 * Layers are not fetched.  An unknown name is -ENOENT and is remembered
 * for negative_ttl_sec.  If the tag is already local, nothing is fetched.
 */
int store_pull(struct store *s, const char *host, const char *repo,
	       const char *tag, char id[65]);

/* Whether @repo exists at @host (for telling namespaces from repositories);
 * remembered like store_pull's answers.  0, -ENOENT or -errno. */
int store_remote_repo_exists(struct store *s, const char *host, const char *repo);
/* Whether a repository "@prefix/..." exists at @host (catalog), cached
 * the same way.  0, -ENOENT (no, or the registry will not say). */
int store_remote_namespace_exists(struct store *s, const char *host,
				  const char *prefix);

/*
 * store_remote_catalog - the repositories of @host (its catalog, paged,
 * registry_catalog_list()), and store_remote_tags - the tags of
 * @host/@repo: from the registry or a copy of its answer of the last
 * STORE_LIST_TTL_SEC seconds (errors are kept as long).  Release @out with
 * registry_names_release().  -ENOENT offline; the registry's errors.
 */
int store_remote_catalog(struct store *s, const char *host, struct registry_names *out);
int store_remote_tags(struct store *s, const char *host, const char *repo,
		      struct registry_names *out);
/*
 * store_remote_forget - drop what is remembered of @host's lists (its
 * catalog, @repo's tags) and of its names (pull misses, repository
 * probes), after this mount changed them (a push, a delete).
 */
void store_remote_forget(struct store *s, const char *host, const char *repo);
/*
 * store_remote_delete - delete tag @tag of @host/@repo at the registry
 * (registry_manifest_delete(): the manifest it names goes, and with it
 * every tag of that manifest in the repository); the lists are forgotten.
 * Local tags and images stay.  -EROFS offline; the registry's errors
 * (-EPERM where it does not delete, -EACCES, -ENOENT), noted in status.
 */
int store_remote_delete(struct store *s, const char *host, const char *repo,
			const char *tag);

/*
 * store_push - `docker push` of local image @id (full hex or unique
 * prefix) to @host as @repo:@tag (push.c): each layer and the config made
 * present at the registry (layers not local are fetched whole from the
 * image's source first; uncompressed layers are pushed gzip-compressed,
 * kept as blobs of the store), then the manifest, only after every blob
 * is there.  Blocks until the registry has accepted the manifest.
 * Return: 0; -EINVAL for a name outside the reference grammar; -ENOENT
 * when there is no such image; -EACCES when the registry refused the
 * credentials (401/403); -EIO for any other failure (logged with the
 * image, the registry and the cause).
 */
int store_push(struct store *s, const char *id, const char *host, const char *repo,
	       const char *tag);

/* ---- writing: tags, deletion, new images (local image management) ----- */

/*
 * A blob being written from a stream (import, load): bytes go to a file in
 * tmp/ while sha256 is computed; commit fsyncs, verifies against
 * @expect_digest if given, and renames into blobs/.  Abort (or a crash)
 * leaves nothing but an orphan in tmp/, removed at the next open.
 */
struct store_blob_writer;
/* Start a blob: a new file in tmp/. */
int store_blob_writer_new(struct store *s, struct store_blob_writer **out);
/* Append @n bytes; an error is sticky (every later call returns it). */
int store_blob_writer_write(struct store_blob_writer *w, const void *data, size_t n);
/* Bytes written so far. */
uint64_t store_blob_writer_size(const struct store_blob_writer *w);
/*
 * store_blob_writer_commit - fsync, hash, check against @expect_digest
 * (when not NULL: -EIO on a mismatch) and rename into blobs/; the digest
 * into @digest.  Consumes @w whatever the result.
 */
int store_blob_writer_commit(struct store *s, struct store_blob_writer *w,
			     const char *expect_digest, char digest[72]);
/* Drop @w and its file in tmp/ (NULL is a no-op). */
void store_blob_writer_abort(struct store_blob_writer *w);
/* The blob of @len bytes at @data, written whole; its digest into @digest. */
int store_blob_add(struct store *s, const void *data, size_t len, char digest[72]);

/*
 * store_image_add - record the image whose manifest is @manifest (stored
 * as a blob here).  Its config and layer blobs must already be local
 * unless @host/@repo name where to fetch them (pulled images).  Returns
 * the image id.  Adding an image that exists is not an error: a manifest
 * from a source the record does not have yet is added to it as another
 * source (its blobs are fetched from there too; the image's first
 * manifest stays the one by-id/ shows).
 */
int store_image_add(struct store *s, const char *manifest, size_t len,
		    const char *host, const char *repo, char id[65]);

/* A tag store_image_add_tagged() points at its image. */
struct store_tag_name {
	const char *host, *repo, *tag;
	char old_id[65];	/* out: what the tag named before, "" none */
	bool set;		/* out: the tag now names the image */
};
/*
 * store_image_add_tagged - store_image_add() of a local image (@manifest
 * NULL: the image @id is local already), then point each of @tags at it,
 * all in one hold of the metadata lock: nobody sees the image untagged
 * in between, so a `rm dangling/<id>` racing an import cannot delete it
 * before its tags name it.  *@recorded says whether this call wrote the
 * image's record (it was not there before).  On error the tags marked set
 * have moved and a record this call wrote stays; the caller puts them
 * back (store_tag_set() to old_id or store_tag_remove(), and
 * store_image_delete()).
 */
int store_image_add_tagged(struct store *s, const char *manifest, size_t len,
			   struct store_tag_name *tags, size_t n, char id[65],
			   bool *recorded);

/* Point host/repo:tag at @id (creating or moving the tag); persistent
 * before it returns.  An image left without tags stays, dangling. */
int store_tag_set(struct store *s, const char *host, const char *repo,
		  const char *tag, const char *id);
/*
 * store_tag_rename - move tag host/repo:tag to nhost/nrepo:ntag in one
 * step (one write of the tag table), keeping the source it was pulled
 * as.  @expect_id is the image the caller saw the tag name: -ESTALE, and
 * nothing changes, when the tag names another image by now (it was
 * re-pointed meanwhile).  -ENOENT without the tag; -EEXIST when
 * @noreplace and the new name exists.  The image is never deleted by a
 * rename.
 */
int store_tag_rename(struct store *s, const char *host, const char *repo,
		     const char *tag, const char *nhost, const char *nrepo,
		     const char *ntag, const char *expect_id, bool noreplace);
/*
 * store_tag_manifest - the exact bytes of the manifest tag host/repo:tag
 * was pulled as (its own source), or of its image's first manifest for a
 * tag without one, into @out (initialised here).  -ENOENT without the tag.
 */
int store_tag_manifest(struct store *s, const char *host, const char *repo,
		       const char *tag, struct buf *out);
/*
 * store_tag_remove - untag; when it was the image's last tag the image is
 * deleted as store_image_delete() does (-EBUSY keeps the tag and image).
 */
int store_tag_remove(struct store *s, const char *host, const char *repo,
		     const char *tag);
/*
 * store_image_delete - delete the image and every tag naming it; blobs no
 * other image uses are freed.  -EBUSY (logged with the image and the
 * reason) while the image is in use: store_image_busy() counts open
 * files and directories of it.
 */
int store_image_delete(struct store *s, const char *id);
/* store_image_delete() of an image no tag names (`rm dangling/<id>`):
 * -ENOENT, nothing deleted, once a tag names it. */
int store_image_delete_dangling(struct store *s, const char *id);
/* Count @delta (+1 or -1) open files or directories of @img: a busy image
 * is not deleted. */
void store_image_busy(struct store *s, struct store_image *img, int delta);
/* Ids of images no tag names (dangling), sorted. */
int store_image_dangling(struct store *s, char ***ids, size_t *n);

/*
 * store_stop - stop every transfer now (the mount is going away): readers
 * waiting on one get its error at once.  Safe from any thread; the store
 * stays usable for what is local, and store_close() still frees it.
 */
void store_stop(struct store *s);

/* ---- checking a store offline ------------------------------------------ */
/*
 * store_check - verify store @s (opened with store_opts.check, which
 * changes nothing at open): every blob's digest, every layer index's
 * checksum and format, every image record with its manifest and config,
 * every tag naming a record.  Each broken object is one line through
 * @say ("broken: WHAT: WHY", objects by digest); with @repair each is
 * removed as the daemon removes things ("repaired: ..." or "repair
 * failed: ...").  *@broken counts what was found.  -errno only when the
 * store cannot be read at all.
 */
int store_check(struct store *s, bool repair,
		void (*say)(void *arg, const char *line), void *arg,
		unsigned *broken);

/* ---- freeing blobs --------------------------------------------------- */
/*
 * store_blob_remove_unreferenced - of the @n blobs @digests (written by an
 * import that failed, or not needed by the images it recorded), remove
 * those no image record references, with their layer indexes: under
 * meta_lock, like the blob freeing of store_image_delete().  Best effort:
 * nothing is removed if a record cannot be read.
 */
int store_blob_remove_unreferenced(struct store *s, const char *const *digests,
				   size_t n);

/* ---- progress, errors and usage (progress.c) -------------------------- */

/* What a piece of work in flight is. */
enum store_op_kind {
	STORE_OP_BLOB,		/* a whole blob downloaded */
	STORE_OP_CHUNKS,		/* chunks of a partial blob fetched */
	STORE_OP_INDEX,		/* a layer being indexed */
	STORE_OP_WRITE,		/* a blob written from a stream (import, load) */
	STORE_OP_PUSH,		/* a blob sent to a registry (push) */
};

struct store_op;

/*
 * store_op_begin - note that work of @kind on @object (a digest, or NULL)
 * for @what (the image, tag or registry it is for) has begun: @total bytes
 * (0: unknown).  Never fails: without memory it returns NULL, which the
 * calls below accept and ignore.  Each begin is paired with one
 * store_op_end().
 */
struct store_op *store_op_begin(struct store *s, enum store_op_kind kind,
				const char *what, const char *object,
				uint64_t total);
/* @done bytes of @op are done (absolute, so a resumed transfer restarts
 * nowhere).  With progress_lines, a long one prints a line now and then. */
void store_op_set(struct store *s, struct store_op *op, uint64_t done);
/* @op is over; it leaves the list of work in flight. */
void store_op_end(struct store *s, struct store_op *op);

/*
 * store_error_note - remember a failure of work on @object (a digest, a
 * tag...) in the ring of the last STORE_ERRORS_MAX: its errno @err and
 * @cause (NULL: what registry_errno_cause() says of @err).  The caller
 * logs it; this only keeps it for `status`.
 */
void store_error_note(struct store *s, const char *object, int err,
		      const char *cause);
#define STORE_ERRORS_MAX 32

/* One row of work in flight, as store_status_get() copies it. */
struct store_op_info {
	enum store_op_kind kind;
	char what[256];
	char object[72];
	uint64_t done, total;	/* total 0: unknown */
	double secs;		/* since it began */
};
/* One remembered failure. */
struct store_error_info {
	int64_t when;		/* seconds since the epoch */
	int err;		/* -errno */
	char object[256];
	char cause[256];
};
/* A snapshot of the work in flight (oldest first) and the last errors
 * (oldest first). */
struct store_status {
	struct store_op_info *ops;
	size_t n_ops;
	struct store_error_info errs[STORE_ERRORS_MAX];
	size_t n_errs;
	uint64_t errs_total;	/* every error noted since open */
};
/* Fill @out (release it with store_status_release()). */
int store_status_get(struct store *s, struct store_status *out);
void store_status_release(struct store_status *st);

/* What of an image is local. */
struct store_image_cache {
	uint64_t bytes;		/* compressed bytes of its layers */
	uint64_t fetched;	/* of which are local (blobs or spans) */
	size_t n_layers;
	size_t n_indexed;	/* layers whose index is kept */
};
void store_image_cached(struct store *s, struct store_image *img,
			struct store_image_cache *out);

/*
 * store_usage - the bytes the store holds (blobs, layer indexes, spans in
 * partial blobs, the span cache; counted as files come and go, not by a
 * scan of blobs/)
 * into *@bytes, the number of blobs into *@files, and the statvfs of the
 * filesystem the store lives on into *@fs.
 */
int store_usage(struct store *s, uint64_t *bytes, uint64_t *files,
		struct statvfs *fs);

#endif
