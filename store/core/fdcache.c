/* SPDX-License-Identifier: MIT */
/*
 * fdcache.c - the descriptors the store keeps open for reading blobs, and
 * how their number stays bounded: one descriptor per blob however many
 * open layers/ files read it, and an image's layer descriptors closed
 * when nobody has read it for a while.
 *
 * Shared blob descriptors: a layers/ file is read with pread only, so
 * every open file of one blob can use the same descriptor.  s->blob_fds
 * maps the blob to it and a count of its users; the last put closes it.
 * Without this, 1100 opens of one file were 1100 descriptors, past the
 * usual limit of 1024.
 *
 * Layer descriptors of an image (store_layer.fd, opened when its tree is
 * built) are used by reads without a lock, so closing them needs readers
 * to say when they use them: every read of a layer runs between
 * store_layer_fds_pin() and store_layer_fds_unpin().  When an image's
 * tree is built or its descriptors reopened, the store looks for images
 * whose descriptors nobody has pinned for STORE_FDS_IDLE_SEC and closes
 * them; the next pin opens them again (a complete blob from blobs/, a
 * partial one through its partial, which the store keeps).  So the
 * descriptors held are those of the images in use lately, not of every
 * image read since the mount.  A deleted image that is still referenced
 * (by the kernel's inodes, until it forgets them) has its descriptors
 * closed at the deletion (store_layer_fds_drop()): its blobs are unlinked
 * and would otherwise keep their space.
 *
 * Locks: s->blob_fds_lock is a leaf that guards s->blob_fds (a blob is
 * opened under it: openat does no network I/O).  The pin state is
 * image->lock's; descriptors are reopened without it (a partial's open
 * takes the store's locks), with fds_reopening set so that other pins
 * wait for the one reopening.
 */
#include "store_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

/* One shared descriptor of a blob. */
struct blob_fd {
	int fd;
	unsigned refs;
};

int store_blob_fds_init(struct store *s)
{
	int ret = htab_init(&s->blob_fds);

	if (ret)
		return ret;
	pthread_mutex_init(&s->blob_fds_lock, NULL);
	s->blob_fds_live = true;
	return 0;
}

void store_blob_fds_release(struct store *s)
{
	size_t it;

	if (!s->blob_fds_live)
		return;
	for (struct htab_ent *e = htab_first(&s->blob_fds, &it); e;
	     e = htab_next(&s->blob_fds, &it, e)) {
		struct blob_fd *b = e->val;

		close(b->fd);
		free(b);
	}
	htab_release(&s->blob_fds);
	pthread_mutex_destroy(&s->blob_fds_lock);
	s->blob_fds_live = false;
}

int store_blob_fd_get(struct store *s, const char *digest, int *fd)
{
	struct blob_fd *b;
	const char *hex;
	int ret = 0;

	if (!digest || !registry_digest_valid(digest))
		return -EINVAL;
	hex = digest + strlen(REGISTRY_DIGEST_PREFIX);
	pthread_mutex_lock(&s->blob_fds_lock);
	b = htab_get(&s->blob_fds, hex);
	if (!b) {
		b = calloc(1, sizeof(*b));
		if (!b) {
			ret = -ENOMEM;
			goto out;
		}
		ret = store_blob_open(s, digest, &b->fd);
		if (!ret) {
			ret = htab_set(&s->blob_fds, hex, b, NULL);
			if (ret)
				close(b->fd);
		}
		if (ret) {
			free(b);
			goto out;
		}
	}
	b->refs++;
	*fd = b->fd;
out:
	pthread_mutex_unlock(&s->blob_fds_lock);
	return ret;
}

void store_blob_fd_put(struct store *s, const char *digest)
{
	const char *hex = digest + strlen(REGISTRY_DIGEST_PREFIX);
	struct blob_fd *b;

	pthread_mutex_lock(&s->blob_fds_lock);
	b = htab_get(&s->blob_fds, hex);
	if (b && --b->refs == 0) {
		htab_del(&s->blob_fds, hex);
		close(b->fd);
		free(b);
	}
	pthread_mutex_unlock(&s->blob_fds_lock);
}

/* ---- layer descriptors of images --------------------------------------- */

static double now_sec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Open layer @l of @img again (its tree is built: the index is there). */
static int layer_reopen(struct store *s, struct store_image *img,
			struct store_layer *l)
{
	struct store_partial *part;
	struct store_srcs srcs;
	int ret, fd;

	if (l->part) {
		/* the store keeps the partial, complete or not: this is
		 * the same one, and the descriptor the same file */
		ret = store_image_srcs(s, img, l->desc.digest, &srcs);
		if (!ret)
			ret = store_partial_open(s, &srcs, &l->desc, l->toc, &part, &fd);
		store_srcs_release(&srcs);
		if (!ret && part != l->part) {
			close(fd);
			ret = -EIO;
		}
	} else {
		ret = store_blob_open(s, l->desc.digest, &fd);
	}
	if (ret) {
		log_err("image %.12s: layer %s: cannot open it again: %s", img->id,
			l->desc.digest, strerror(-ret));
		return ret;
	}
	l->fd = fd;
	return 0;
}

/* Close every layer descriptor of @img; caller holds img->lock, and no
 * pin is held. */
static void layer_fds_close_locked(struct store_image *img)
{
	for (size_t i = 0; i < img->n_layers; i++) {
		if (img->layers[i].fd >= 0)
			close(img->layers[i].fd);
		img->layers[i].fd = -1;
	}
	img->fds_closed = true;
}

/* Close the layer descriptors of every image but @except idle for
 * STORE_FDS_IDLE_SEC. */
static void fds_sweep(struct store *s, const struct store_image *except)
{
	struct store_image **imgs;
	size_t n = 0, it, closed = 0, fds = 0;
	double now = now_sec();

	pthread_mutex_lock(&s->lock);
	imgs = calloc(s->images.n ? s->images.n : 1, sizeof(*imgs));
	for (struct htab_ent *e = htab_first(&s->images, &it); imgs && e;
	     e = htab_next(&s->images, &it, e)) {
		struct store_image *img = e->val;

		if (img == except)
			continue;
		img->refs++;
		imgs[n++] = img;
	}
	pthread_mutex_unlock(&s->lock);
	if (!imgs)
		return;
	for (size_t k = 0; k < n; k++) {
		struct store_image *img = imgs[k];

		pthread_mutex_lock(&img->lock);
		if (img->rootfs_state == STORE_ROOTFS_READY && !img->fds_closed &&
		    !img->fds_reopening && img->fd_users == 0 &&
		    now - img->fds_used >= STORE_FDS_IDLE_SEC) {
			fds += img->n_layers;
			layer_fds_close_locked(img);
			closed++;
		}
		pthread_mutex_unlock(&img->lock);
		store_image_put(s, img);
	}
	free(imgs);
	if (closed)
		log_debug("store: closed the layer descriptors of %zu idle image(s) (%zu layers)",
			  closed, fds);
}

/* Caller holds img->lock: close a deleted image's descriptors once no
 * pin holds them (a read may still run: its file was released before the
 * read's reply was done, store_image_read_ref()) and no tree build uses
 * them (a build that failed, often because the deletion stopped its
 * downloads, leaves the ones it opened; one that ran after the deletion
 * opened them again, even when they had been closed). */
static void fds_drop_locked(struct store_image *img)
{
	if (img->fds_dropped && img->rootfs_state != STORE_ROOTFS_BUILDING &&
	    !img->fds_reopening && img->fd_users == 0)
		layer_fds_close_locked(img);
}

int store_layer_fds_pin(struct store *s, struct store_image *img)
{
	int ret = 0;

	pthread_mutex_lock(&img->lock);
	while (img->fds_reopening)
		pthread_cond_wait(&img->cond, &img->lock);
	if (!img->fds_closed) {
		img->fd_users++;
		pthread_mutex_unlock(&img->lock);
		return 0;
	}
	if (img->fds_dropped) {
		/* deleted (a file opened just before): its blobs are gone */
		pthread_mutex_unlock(&img->lock);
		return -ENOENT;
	}
	img->fds_reopening = true;
	pthread_mutex_unlock(&img->lock);

	for (size_t i = 0; i < img->n_layers && !ret; i++)
		ret = layer_reopen(s, img, &img->layers[i]);

	pthread_mutex_lock(&img->lock);
	if (ret)
		layer_fds_close_locked(img);	/* the ones reopened */
	else
		img->fds_closed = false;
	img->fds_reopening = false;
	if (!ret)
		img->fd_users++;
	pthread_cond_broadcast(&img->cond);
	pthread_mutex_unlock(&img->lock);
	if (!ret)
		fds_sweep(s, img);
	return ret;
}

void store_layer_fds_failed(struct store_image *img)
{
	pthread_mutex_lock(&img->lock);
	fds_drop_locked(img);	/* deleted while its tree was built */
	pthread_mutex_unlock(&img->lock);
}

void store_layer_fds_opened(struct store *s, struct store_image *img)
{
	pthread_mutex_lock(&img->lock);
	img->fds_used = now_sec();
	fds_drop_locked(img);	/* deleted while its tree was built */
	pthread_mutex_unlock(&img->lock);
	fds_sweep(s, img);
}

void store_layer_fds_drop(struct store_image *img)
{
	pthread_mutex_lock(&img->lock);
	img->fds_dropped = true;
	fds_drop_locked(img);
	pthread_mutex_unlock(&img->lock);
}

void store_layer_fds_unpin(struct store_image *img)
{
	pthread_mutex_lock(&img->lock);
	img->fd_users--;
	img->fds_used = now_sec();
	fds_drop_locked(img);
	pthread_mutex_unlock(&img->lock);
}
