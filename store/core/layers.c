/* SPDX-License-Identifier: MIT */
/*
 * layers.c - an image's merged tree and reads from it: fetching and
 * indexing its layers (in parallel), merging them, and serving file bytes
 * from the layer blobs by offset (through the span cache, span_cache.c,
 * for compressed layers).
 *
 * One build per image at a time: img->rootfs_state BUILDING marks a build
 * in progress and other callers sleep on img->cond (in slices, so that an
 * interrupted caller leaves, wait.c).  A failed build goes back to NONE
 * with rootfs_err set, so the callers that waited for it get the error and
 * the next call tries again (a registry that comes back makes the read
 * succeed); when the builder's own caller was interrupted (-EINTR), a
 * waiter builds instead.  The builder's helpers wait under its cancel
 * token.  Layers that were prepared before a failure
 * keep their fd and toc: only the builder writes them, and readers look at
 * them only after seeing READY under img->lock.
 *
 * Each layer that needs work gets a worker; at most STORE_BUILD_THREADS
 * run at once, the calling thread being one of them, taking the layers
 * top (the last) first.  Indexes are saved to
 * index/sha256/<layer hex> only after the layer's diff_id checked out;
 * those built during a download once the rootfs is answered, by a job
 * (layers_save_later).
 * Their memory comes from the store's budget of index builds (toc.h).
 *
 * The layer descriptors a read uses are pinned for it (fdcache.c): those
 * of an image nobody has read for a while are closed and opened again by
 * the next read.
 */
#include "store_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

#define STORE_BUILD_THREADS 4

struct build {
	struct store *s;
	struct store_image *img;
	pthread_mutex_t lock;	/* guards next */
	size_t next;		/* index into todo */
	size_t *todo;		/* layers that need work */
	size_t n_todo;
	int *errs;		/* per layer */
	struct store_cancel *cancel;	/* the builder's, for its helpers */
};

/*
 * layer_lazy - read layer @i through its partial blob: possible when its
 * blob is not local but its index is kept (and its spans are small
 * enough).  0 when done; anything else leaves the layer untouched for the
 * whole fetch.
 */
static int layer_lazy(struct store *s, struct store_image *img, size_t i,
		      const char *what)
{
	struct store_layer *l = &img->layers[i];
	struct store_partial *part;
	struct store_srcs srcs;
	struct store_toc *toc;
	int ret, fd;

	if (store_blob_has(s, l->desc.digest))
		return -EEXIST;
	ret = store_layer_index_load(s, &l->desc, img->cfg.diff_ids[i], what, &toc);
	if (ret)
		return ret;
	ret = store_image_srcs(s, img, l->desc.digest, &srcs);
	if (!ret)
		ret = store_partial_open(s, &srcs, &l->desc, toc, &part, &fd);
	store_srcs_release(&srcs);
	if (ret) {
		store_toc_free(toc);
		return ret;
	}
	if (l->fd >= 0)
		close(l->fd);
	l->fd = fd;
	l->part = part;
	l->toc = toc;
	return 0;
}

/*
 * layer_prepare - make layer @i of @img usable: index loaded or built (and
 * checked against the config's diff_id) and a descriptor to read it from.
 * A layer with a kept index is read through its partial blob, spans
 * fetched as reads need them; only without one is the whole blob fetched
 * (and indexed).
 */
static int layer_try(struct store *s, struct store_image *img, size_t i)
{
	struct store_layer *l = &img->layers[i];
	struct store_toc *toc = NULL;
	struct store_srcs srcs;
	char what[32];
	int ret, fd;

	snprintf(what, sizeof(what), "image %.12s", img->id);
	if (layer_lazy(s, img, i, what) == 0)
		return 0;
	ret = store_image_srcs(s, img, l->desc.digest, &srcs);
	if (!ret)
		ret = store_layer_fetch_index(s, &srcs, &l->desc, img->cfg.diff_ids[i],
					      what, &toc);
	store_srcs_release(&srcs);
	if (ret) {
		if (ret != -EINTR)	/* the caller was interrupted: no fault */
			log_err("image %.12s: layer %s: cannot fetch: %s", img->id,
				l->desc.digest, strerror(-ret));
		return ret;
	}
	if (l->fd < 0) {
		ret = store_blob_open(s, l->desc.digest, &fd);
		if (ret) {
			store_toc_free(toc);
			return ret;
		}
		l->fd = fd;
	}
	if (toc) {	/* indexed during its download */
		l->toc = toc;
		l->unsaved = true;
		return 0;
	}
	return store_layer_index(s, &l->desc, l->fd, img->cfg.diff_ids[i], what,
				 &l->toc);
}

/*
 * layer_prepare - layer_try() the first source's layer @i, then, while it
 * fails, the layer at index @i of each further source (another manifest
 * of the same config: it must give the same diff_id), so that a source
 * whose manifest names blobs that are missing or not this image's does
 * not make the image unreadable.  The layer keeps the descriptor that
 * worked.
 */
static int layer_prepare(struct store *s, struct store_image *img, size_t i)
{
	struct store_layer *l = &img->layers[i];
	const struct registry_desc *alt;
	int ret = layer_try(s, img, i);

	for (size_t k = 1; ret && ret != -ENOMEM && !store_image_deleted(s, img) &&
	     (alt = store_image_layer_alt(s, img, i, k)); k++) {
		if (!strcmp(alt->digest, l->desc.digest))
			continue;
		log_warn("image %.12s: layer %zu: trying source %zu's %s", img->id, i,
			 k, alt->digest);
		if (l->fd >= 0)
			close(l->fd);
		l->fd = -1;
		pthread_mutex_lock(&img->lock);	/* store_image_size() reads it */
		l->desc = *alt;
		l->comp = registry_layer_compression(alt->media_type);
		pthread_mutex_unlock(&img->lock);
		ret = layer_try(s, img, i);
	}
	return ret;
}

static void *build_worker(void *arg)
{
	struct build *b = arg;

	store_cancel_enter(b->cancel);
	for (;;) {
		size_t k;

		pthread_mutex_lock(&b->lock);
		k = b->next < b->n_todo ? b->next++ : SIZE_MAX;
		pthread_mutex_unlock(&b->lock);
		if (k == SIZE_MAX)
			return NULL;
		b->errs[b->todo[k]] = layer_prepare(b->s, b->img, b->todo[k]);
	}
}

/* Prepare every layer not yet indexed, then merge. Builder only. */
static int rootfs_build(struct store *s, struct store_image *img,
			struct store_rootfs **out)
{
	struct build b = { .s = s, .img = img, .cancel = store_cancel_current() };
	pthread_t th[STORE_BUILD_THREADS - 1];
	size_t n_th = 0, n = img->n_layers;
	struct store_toc **tocs = NULL;
	int ret = -ENOMEM;

	pthread_mutex_init(&b.lock, NULL);
	b.todo = calloc(n ? n : 1, sizeof(*b.todo));
	b.errs = calloc(n ? n : 1, sizeof(*b.errs));
	tocs = calloc(n ? n : 1, sizeof(*tocs));
	if (!b.todo || !b.errs || !tocs)
		goto out;
	/* Top layer first (issue 9): a path is answered by the topmost
	 * layer that has it, so the upper layers are the ones a lookup
	 * needs first. */
	for (size_t i = n; i-- > 0;)
		if (!img->layers[i].toc)
			b.todo[b.n_todo++] = i;
	while (n_th + 1 < STORE_BUILD_THREADS && n_th + 1 < b.n_todo) {
		if (pthread_create(&th[n_th], NULL, build_worker, &b))
			break;	/* fewer helpers; the caller still works */
		n_th++;
	}
	build_worker(&b);
	for (size_t i = 0; i < n_th; i++)
		pthread_join(th[i], NULL);
	ret = 0;
	for (size_t i = 0; i < n && !ret; i++)
		ret = b.errs[i];
	if (ret)
		goto out;
	for (size_t i = 0; i < n; i++)
		tocs[i] = img->layers[i].toc;
	ret = store_rootfs_build(tocs, n, out);
	if (ret)
		log_err("image %.12s: cannot merge layers: %s", img->id, strerror(-ret));
out:
	free(tocs);
	free(b.todo);
	free(b.errs);
	pthread_mutex_destroy(&b.lock);
	return ret;
}

/* Save the indexes built during their downloads (a job's work, holding
 * a ref on the image).  Each is encoded outside any lock, then written
 * under meta_lock unless the image was deleted: a delete frees the
 * image's blobs and indexes under meta_lock after marking it deleted, so
 * no index outlives its blob. */
static void layers_save(struct store *s, struct store_image *img)
{
	char what[32];

	snprintf(what, sizeof(what), "image %.12s", img->id);
	for (size_t i = 0; i < img->n_layers; i++) {
		struct store_layer *l = &img->layers[i];
		struct buf enc;

		if (!l->unsaved)
			continue;
		l->unsaved = false;
		if (store_layer_index_encode(&l->desc, l->toc, what, &enc))
			continue;
		pthread_mutex_lock(&s->meta_lock);
		if (!store_image_deleted(s, img))
			store_layer_index_write(s, &l->desc, &enc, what);
		pthread_mutex_unlock(&s->meta_lock);
		buf_release(&enc);
	}
}

struct save_job {
	struct store *s;
	struct store_image *img;	/* a ref */
};

static void *layers_save_job(void *arg)
{
	struct save_job *j = arg;

	layers_save(j->s, j->img);
	store_image_put(j->s, j->img);
	free(j);
	return NULL;
}

/*
 * layers_save_later - once the rootfs is answered, keep the indexes its
 * build made during the downloads.  Encoding one (zstd, level 9) and
 * writing it took 50-90 ms per large layer of the fat image, on the path
 * of the first read of a never-seen image; now a job does it after the
 * answer (store_close waits for it).  Only the builder calls this, once
 * per successful build: nothing else writes l->unsaved after the build.
 */
static void layers_save_later(struct store *s, struct store_image *img)
{
	struct save_job *j;
	bool any = false;

	for (size_t i = 0; i < img->n_layers; i++)
		any |= img->layers[i].unsaved;
	if (!any)
		return;
	j = malloc(sizeof(*j));
	if (!j) {
		layers_save(s, img);	/* no memory for a job: save now */
		return;
	}
	j->s = s;
	j->img = img;
	pthread_mutex_lock(&s->lock);
	img->refs++;
	pthread_mutex_unlock(&s->lock);
	if (store_job_start(s, layers_save_job, j))
		layers_save_job(j);	/* no thread: save now */
}

int store_image_rootfs(struct store *s, struct store_image *img,
		       struct store_rootfs **out)
{
	struct store_rootfs *fs = NULL;
	bool waited = false;
	int ret;

	pthread_mutex_lock(&img->lock);
	while (img->rootfs_state == STORE_ROOTFS_BUILDING) {
		ret = store_wait_slice(&img->cond, &img->lock);
		if (ret) {
			pthread_mutex_unlock(&img->lock);
			return ret;
		}
		waited = true;
	}
	if (img->rootfs_state == STORE_ROOTFS_READY) {
		*out = img->rootfs;
		pthread_mutex_unlock(&img->lock);
		return 0;
	}
	if (waited && img->rootfs_err != -EINTR) {
		/* The build we waited for failed: its error is ours too
		 * (but not its caller's interruption: then we build). */
		ret = img->rootfs_err;
		pthread_mutex_unlock(&img->lock);
		return ret;
	}
	img->rootfs_state = STORE_ROOTFS_BUILDING;
	pthread_mutex_unlock(&img->lock);

	ret = rootfs_build(s, img, &fs);

	pthread_mutex_lock(&img->lock);
	img->rootfs_err = ret;
	if (!ret) {
		img->rootfs = fs;
		img->rootfs_state = STORE_ROOTFS_READY;
		*out = fs;
	} else {
		img->rootfs_state = STORE_ROOTFS_NONE;
	}
	pthread_cond_broadcast(&img->cond);
	pthread_mutex_unlock(&img->lock);
	if (!ret) {
		store_layer_fds_opened(s, img);
		layers_save_later(s, img);
	} else {
		store_layer_fds_failed(img);
	}
	return ret;
}

int store_layer_read(const struct store_layer *l, struct store_toc_cursor *cur,
		     void *dst, size_t len, uint64_t off, size_t *got)
{
	struct store_toc_src src;
	int ret;

	store_layer_src(l, &src);
	ret = store_toc_read(l->toc, &src, cur, dst, len, off, got);
	if (ret == -E2BIG) {
		/* a zstd frame wants a window past the cap (toc.h): only an
		 * index kept by a build without the cap gets this far */
		log_err("layer %s: a zstd frame needs a window larger than %u MiB: not read",
			l->desc.digest, (1u << STORE_TOC_ZSTD_WINDOW_LOG) >> 20);
		ret = -EIO;
	}
	return ret;
}

/* The layer and stream range of bytes [@off, @off + *@len) of regular
 * file @ino; *@len is clamped to the file, 0 at or past its end. */
static int file_locate(struct store *s, struct store_image *img, uint32_t ino,
		       uint64_t off, size_t *len, const struct store_layer **l,
		       uint64_t *uoff)
{
	const struct store_rinode *ri;
	const struct store_toc_entry *e;
	struct store_rootfs *fs;
	int ret;

	ret = store_image_rootfs(s, img, &fs);
	if (ret)
		return ret;
	ri = store_rootfs_inode(fs, ino);
	if (!ri)
		return -ENOENT;
	e = ri->e;
	if (!e || e->type == STORE_FT_DIR)
		return -EISDIR;
	if (e->type != STORE_FT_REG || ri->layer >= img->n_layers)
		return -EINVAL;
	if (off >= e->size)
		*len = 0;
	else if (*len > e->size - off)
		*len = (size_t)(e->size - off);
	*l = &img->layers[ri->layer];
	*uoff = e->offset + off;
	return 0;
}

/* Whether reads of @l go through the span cache (the blob of an
 * uncompressed layer is already the stream). */
static bool layer_cached(const struct store *s, const struct store_layer *l)
{
	return s->cache && l->toc->comp != REGISTRY_COMP_NONE;
}

/* Whether a span cache error only means "not cacheable now": a full disk
 * (or quota) must not fail a read the layer itself can serve; the span is
 * decompressed for this read alone instead, as when the cache is full. */
static bool cache_declined(int ret)
{
	return ret == -ENOBUFS || ret == -ENOSPC || ret == -EDQUOT;
}

/* store_image_read() of @len bytes at @uoff of layer @l's stream, its
 * descriptors pinned. */
static int image_read_pinned(struct store *s, const struct store_layer *l,
			     uint64_t uoff, struct store_toc_cursor *cur,
			     void *dst, size_t len, size_t *got)
{
	size_t done = 0, n;
	int ret;

	while (layer_cached(s, l) && done < len) {
		struct store_cache_ref ref;

		ret = store_cache_get(s->cache, l, uoff + done, len - done, &ref);
		if (cache_declined(ret))
			break;	/* not cacheable now: decompress it here */
		if (ret)
			return ret;
		ret = store_cache_pread(&ref, (char *)dst + done);
		store_cache_put(s->cache, &ref);
		if (ret)
			return ret;
		done += ref.len;
	}
	if (done < len) {
		ret = store_layer_read(l, cur, (char *)dst + done, len - done,
				       uoff + done, &n);
		if (ret)
			return ret;
		done += n;
	}
	*got = done;
	return 0;
}

int store_image_read(struct store *s, struct store_image *img, uint32_t ino,
		     struct store_toc_cursor *cur, void *dst, size_t len,
		     uint64_t off, size_t *got)
{
	const struct store_layer *l;
	uint64_t uoff;
	int ret;

	*got = 0;
	ret = file_locate(s, img, ino, off, &len, &l, &uoff);
	if (ret || len == 0)
		return ret;
	ret = store_layer_fds_pin(s, img);
	if (ret)
		return ret;
	ret = image_read_pinned(s, l, uoff, cur, dst, len, got);
	store_layer_fds_unpin(img);
	return ret;
}

int store_image_read_ref(struct store *s, struct store_image *img, uint32_t ino,
			 size_t len, uint64_t off, struct store_read_ref *ref)
{
	const struct store_layer *l;
	struct store_cache_ref cref;
	uint64_t uoff;
	int ret;

	memset(ref, 0, sizeof(*ref));
	ref->fd = -1;
	ret = file_locate(s, img, ino, off, &len, &l, &uoff);
	if (ret || len == 0)
		return ret;
	if (l->toc->comp == REGISTRY_COMP_NONE) {
		/* A partial blob may lack these bytes: the copy path reads
		 * through its need(), which fetches them. */
		if (l->part)
			return -ENOBUFS;
		/* The kernel reads the blob after this returns: its
		 * descriptor stays pinned until the unref. */
		ret = store_layer_fds_pin(s, img);
		if (ret)
			return ret;
		/* The reply is sent before the unref, and the file's release
		 * (another thread) may drop the caller's last reference of a
		 * deleted image meanwhile: the pin holds one of its own. */
		pthread_mutex_lock(&s->lock);
		img->refs++;
		pthread_mutex_unlock(&s->lock);
		ref->fds = img;
		ref->fd = l->fd;
		ref->off = uoff;
		ref->len = len;
		return 0;
	}
	if (!s->cache)
		return -ENOBUFS;
	/* a fill decompresses from the layer's descriptor */
	ret = store_layer_fds_pin(s, img);
	if (ret)
		return ret;
	ret = store_cache_get(s->cache, l, uoff, len, &cref);
	store_layer_fds_unpin(img);
	if (cache_declined(ret))
		return -ENOBUFS;	/* the caller copies through store_image_read() */
	if (ret)
		return ret;
	ref->fd = cref.fd;
	ref->off = cref.off;
	ref->len = cref.len;
	ref->pin = cref.span;
	return 0;
}

void store_image_read_unref(struct store *s, struct store_read_ref *ref)
{
	struct store_cache_ref cref = { .span = ref->pin };

	if (ref->pin)
		store_cache_put(s->cache, &cref);
	ref->pin = NULL;
	if (ref->fds) {
		store_layer_fds_unpin(ref->fds);
		store_image_put(s, ref->fds);
	}
	ref->fds = NULL;
}

int store_image_layer_open(struct store *s, struct store_image *img, size_t i,
			   int *fd)
{
	struct store_srcs srcs;
	int ret;

	if (i >= img->n_layers)
		return -EINVAL;
	ret = store_image_srcs(s, img, img->layers[i].desc.digest, &srcs);
	if (!ret)
		ret = store_blob_fetch(s, &srcs, &img->layers[i].desc);
	store_srcs_release(&srcs);
	if (ret)
		return ret;
	return store_blob_fd_get(s, img->layers[i].desc.digest, fd);
}

void store_image_layer_close(struct store *s, struct store_image *img, size_t i)
{
	if (i < img->n_layers)
		store_blob_fd_put(s, img->layers[i].desc.digest);
}

/* Docker's classic size: Σ over layers of what the layer unpacks to
 * (regular files once per inode, symlinks by target length). */
static uint64_t toc_unpacked(const struct store_toc *toc)
{
	uint64_t sum = 0;

	for (size_t i = 0; i < toc->n_entries; i++) {
		const struct store_toc_entry *e = &toc->entries[i];

		if (e->type == STORE_FT_REG)
			sum += e->size;
		else if (e->type == STORE_FT_SYMLINK && e->link)
			sum += strlen(e->link);
	}
	return sum;
}

uint64_t store_image_size(struct store *s, struct store_image *img)
{
	uint64_t sum = 0;
	bool indexed;

	(void)s;
	pthread_mutex_lock(&img->lock);
	indexed = img->rootfs_state == STORE_ROOTFS_READY;
	for (size_t i = 0; i < img->n_layers; i++)
		sum += indexed ? toc_unpacked(img->layers[i].toc)
			       : (uint64_t)img->layers[i].desc.size;
	pthread_mutex_unlock(&img->lock);
	return sum;
}

enum store_rootfs_state store_image_rootfs_state(struct store_image *img)
{
	enum store_rootfs_state st;

	pthread_mutex_lock(&img->lock);
	st = img->rootfs_state;
	pthread_mutex_unlock(&img->lock);
	return st;
}

int store_image_xattrs(struct store_image *img, uint32_t ino,
		       const struct store_xattr **xa, size_t *n)
{
	const struct store_rinode *ri;
	struct store_rootfs *fs;
	const struct store_toc *toc;

	*n = 0;
	pthread_mutex_lock(&img->lock);
	fs = img->rootfs_state == STORE_ROOTFS_READY ? img->rootfs : NULL;
	pthread_mutex_unlock(&img->lock);
	if (!fs)
		return -EAGAIN;
	ri = store_rootfs_inode(fs, ino);
	if (!ri)
		return -ENOENT;
	if (!ri->e || !ri->e->n_xattrs)
		return 0;
	toc = img->layers[ri->layer].toc;
	*xa = &toc->xattrs[ri->e->xattr_first];
	*n = ri->e->n_xattrs;
	return 0;
}
