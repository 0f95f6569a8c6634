/* SPDX-License-Identifier: MIT */
/*
 * layer_index.c - the one way a layer's index is obtained, for pulls and
 * imports alike: load index/sha256/<layer hex> when a valid one is there,
 * else build it from the local blob, check the uncompressed digest against
 * the config's diff_id, and keep it.  Loading alone (no blob needed) is
 * what lets a layer be read through its partial blob (partial.c).
 *
 * An index describes a blob, and blobs are named by their digest, so a
 * kept index is valid for every image that uses the layer.  It is written
 * like every other persistent file of the store (store_write_atomic: tmp/,
 * fsync, rename), so a crash never leaves half an index; a file that fails
 * the format's checks is rebuilt, never trusted.
 *
 * A layer whose blob is downloaded is indexed while it downloads
 * (store_layer_fetch_index): the scan reads the download's file as it is
 * written (store_blob_fetch_follow), so the first access costs about the
 * longer of the two rather than their sum.  What that scan built is
 * returned only once both checks passed: the blob's sha256 (the download)
 * and the diff_id (the scan); a failed or corrupt download discards it.
 * The caller keeps it (store_layer_index_encode + _write) once the rootfs
 * built from it has answered (layers.c).
 */
#include "store_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

static int index_load(struct store *s, const char *hex, struct store_toc **out)
{
	struct buf b;
	size_t len;
	void *data;
	int ret;

	ret = file_read_capped(s->index_fd, hex, STORE_TOC_FILE_MAX, &b);
	if (ret)
		return ret;
	data = buf_detach(&b, &len);
	return store_toc_decode(data, len, out);	/* takes @data */
}

int store_layer_index_write(struct store *s, const struct registry_desc *d,
			    const struct buf *enc, const char *what)
{
	const char *hex = d->digest + strlen(REGISTRY_DIGEST_PREFIX);
	uint64_t old = store_file_size(s->index_fd, hex);
	int ret;

	ret = store_write_atomic(s, s->index_fd, hex, enc->data, enc->len);
	if (!ret) {
		if (old)
			store_usage_note(s, true, old, -1);
		store_usage_note(s, true, enc->len, 1);
	}
	if (ret)	/* still usable from memory; rebuilt next time */
		log_warn("%s: layer %s: cannot save its index: %s", what,
			 d->digest, strerror(-ret));
	return ret;
}

int store_layer_index_encode(const struct registry_desc *d, const struct store_toc *toc,
			     const char *what, struct buf *enc)
{
	int ret = store_toc_encode(toc, enc);

	if (ret) {
		log_warn("%s: layer %s: cannot save its index: %s", what,
			 d->digest, strerror(-ret));
		buf_release(enc);
	}
	return ret;
}

static void index_save(struct store *s, const struct registry_desc *d,
		       const struct store_toc *toc, const char *what)
{
	struct buf b;

	if (store_layer_index_encode(d, toc, what, &b))
		return;
	store_layer_index_write(s, d, &b, what);
	buf_release(&b);
}

/* The checks every index passes before use, built or loaded. */
static int index_check(const struct registry_desc *d, const struct store_toc *toc,
		       enum registry_compression comp, const char *diff_id,
		       const char *what)
{
	if (toc->comp != comp || (int64_t)toc->comp_size != d->size) {
		log_err("%s: layer %s: index describes %llu bytes, the layer has %lld",
			what, d->digest, (unsigned long long)toc->comp_size,
			(long long)d->size);
		return -EIO;
	}
	if (diff_id && strcmp(toc->diff_id, diff_id) != 0) {
		log_err("%s: layer %s: diff_id mismatch: config says %.80s, content is %s",
			what, d->digest, diff_id, toc->diff_id);
		return -EIO;
	}
	return 0;
}

static int layer_comp(const struct registry_desc *d, const char *what,
		      enum registry_compression *comp)
{
	if (!registry_digest_valid(d->digest))
		return -EINVAL;
	*comp = registry_layer_compression(d->media_type);
	if (*comp == REGISTRY_COMP_UNKNOWN) {
		log_err("%s: layer %s: unsupported media type %.100s", what,
			d->digest, d->media_type ? d->media_type : "(none)");
		return -ENOTSUP;
	}
	return 0;
}

int store_layer_index_load(struct store *s, const struct registry_desc *d,
			   const char *diff_id, const char *what,
			   struct store_toc **out)
{
	enum registry_compression comp;
	struct store_toc *toc = NULL;
	int ret;

	ret = layer_comp(d, what, &comp);
	if (ret)
		return ret;
	ret = index_load(s, d->digest + strlen(REGISTRY_DIGEST_PREFIX), &toc);
	if (ret) {
		if (ret != -ENOENT)
			log_warn("%s: layer %s: index rejected (%s)", what,
				 d->digest, strerror(-ret));
		return ret == -ENOENT ? ret : -EINVAL;
	}
	if (index_check(d, toc, comp, diff_id, what)) {
		store_toc_free(toc);
		return -EINVAL;
	}
	*out = toc;
	return 0;
}

int store_layer_index(struct store *s, const struct registry_desc *d, int blob_fd,
		      const char *diff_id, const char *what, struct store_toc **out)
{
	enum registry_compression comp;
	struct store_toc *toc = NULL;
	struct store_op *op;
	int ret;

	ret = layer_comp(d, what, &comp);
	if (ret)
		return ret;
	ret = store_layer_index_load(s, d, diff_id, what, out);
	if (ret != -ENOENT && ret != -EINVAL)
		return ret;
	if (ret == -EINVAL)
		log_warn("%s: layer %s: rebuilding its index", what, d->digest);
	op = store_op_begin(s, STORE_OP_INDEX, what, d->digest, (uint64_t)d->size);
	ret = store_toc_build_budget(blob_fd, comp, s->toc_budget, &toc);
	store_op_end(s, op);
	if (ret) {
		log_err("%s: layer %s: cannot index: %s", what, d->digest,
			strerror(-ret));
		store_error_note(s, d->digest, ret, "layer does not parse (cannot index)");
		return ret;
	}
	ret = index_check(d, toc, comp, diff_id, what);
	if (ret) {
		store_error_note(s, d->digest, ret, "layer does not match its diff_id or size");
		store_toc_free(toc);
		return ret;
	}
	index_save(s, d, toc, what);
	*out = toc;
	return 0;
}

/* One scan of a download as it runs (store_blob_fetch_follow's @fn). */
struct follow_build {
	struct store *s;
	const struct registry_desc *d;
	const char *what;
	enum registry_compression comp;
	const struct store_toc_src *src;	/* the download's */
	struct store_op *op;
	struct store_toc *toc;	/* what the last scan built */
	int err;		/* or why it failed */
};

/* The download's need callback, showing in `status` how far the scan
 * has read. */
static int follow_build_need(void *ctx, uint64_t off, size_t *len)
{
	struct follow_build *fb = ctx;

	store_op_set(fb->s, fb->op, off);
	return fb->src->need(fb->src->ctx, off, len);
}

/* The download's chunk records (it hashes the blob; the scan need not). */
static int follow_build_chain(void *ctx, unsigned char (*rec)[32], size_t n)
{
	struct follow_build *fb = ctx;

	return fb->src->chain(fb->src->ctx, rec, n);
}

static int follow_build(void *ctx, const struct store_toc_src *src)
{
	struct follow_build *fb = ctx;
	struct store_toc_src mine = { .fd = src->fd, .need = follow_build_need,
				      .chain = src->chain ? follow_build_chain : NULL,
				      .ctx = fb };

	store_toc_free(fb->toc);	/* an earlier source's */
	fb->toc = NULL;
	fb->src = src;
	fb->op = store_op_begin(fb->s, STORE_OP_INDEX, fb->what, fb->d->digest,
				(uint64_t)fb->d->size);
	fb->err = store_toc_build_src(&mine, (uint64_t)fb->d->size, fb->comp,
				      fb->s->toc_budget, &fb->toc);
	store_op_end(fb->s, fb->op);
	return fb->err;
}

int store_layer_fetch_index(struct store *s, const struct store_srcs *srcs,
			    const struct registry_desc *d, const char *diff_id,
			    const char *what, struct store_toc **out)
{
	struct follow_build fb = { .s = s, .d = d, .what = what };
	bool followed = false;
	int ret;

	*out = NULL;
	ret = layer_comp(d, what, &fb.comp);
	if (ret)
		return ret;
	ret = store_blob_fetch_follow(s, srcs, d, follow_build, &fb, &followed);
	if (ret && fb.toc)	/* the bytes it scanned were not the blob's */
		log_info("%s: layer %s: the index built during its download is discarded: the download failed (%s)",
			 what, d->digest, strerror(-ret));
	if (ret || !followed)
		goto out;
	ret = fb.err;
	if (ret) {
		log_err("%s: layer %s: cannot index: %s", what, d->digest,
			strerror(-ret));
		store_error_note(s, d->digest, ret, "layer does not parse (cannot index)");
		goto out;
	}
	ret = index_check(d, fb.toc, fb.comp, diff_id, what);
	if (ret) {
		store_error_note(s, d->digest, ret, "layer does not match its diff_id or size");
		goto out;
	}
	log_info("%s: layer %s: indexed during its download", what, d->digest);
	*out = fb.toc;
	fb.toc = NULL;
out:
	store_toc_free(fb.toc);
	return ret;
}
