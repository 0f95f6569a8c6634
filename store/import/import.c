/* SPDX-License-Identifier: MIT */
/*
 * import.c - store_import_*: a file written into import/ becomes an image
 * (`docker import`) or the images of an archive (`docker load`).
 *
 * Owns: struct store_import, its thread and its socket pair, the rootfs
 * import, and the commit.
 *
 * Data path.  The writer's bytes go through a socket pair (a pipe would
 * raise SIGPIPE in the writer when the thread gives up; send() with
 * MSG_NOSIGNAL gives EPIPE instead, which store_import_write() turns into
 * the thread's error) to the import thread, which runs two libarchive
 * readers stacked on each other:
 *   stage 1: format "raw" with the gzip, bzip2, xz, zstd and none filters
 *            (never _all: no zip, no external programs) decompresses the
 *            input;
 *   stage 2: format "tar" only, no filter, reads stage 1 through a read
 *            callback, which also tees every decompressed byte into a blob
 *            writer.
 * The tee is the layer of a rootfs import byte for byte (trailing bytes
 * after the tar's end-of-archive blocks included), so its digest is the
 * diff_id, and no second copy is ever made.
 *
 * What the file is, is decided by the first tar entry whose name is not
 * the root itself ("./"): "blobs", "blobs/...", "oci-layout", "index.json",
 * "manifest.json", "repositories", "<hex>", "<hex>.xxx" or "<hex>/..."
 * (a sha256 in hex) makes it an image archive: the tee is dropped at once
 * and load.c takes every entry (an archive without manifest.json or
 * oci-layout + index.json then fails).  Any other first name makes it a
 * rootfs tarball, and it stays one even if a manifest.json turns up later
 * at its root.  No name from the archive ever becomes a path: blobs are
 * named by their computed digest only.
 *
 * Bytes after the end of a compressed stream are read and ignored (with
 * a warning), as libarchive stops at the end of the last member.
 *
 * Commit.  The thread only writes blobs and builds a plan (import_int.h)
 * after checking every layer through store_layer_index(), which indexes it
 * once and keeps the index for the image's reads (import_rootfs_plan()
 * here, import_check_image() in plan.c for archives); store_import_finish()
 * then adds the image records (an image already local keeps its record
 * and manifest, as Docker keeps it) and only when all are in sets the
 * tags, so a failure leaves no tag changed (tags set before the failure
 * are put back, images added are deleted again).  Whatever the outcome,
 * blobs this import wrote that no image uses afterwards are removed
 * (failed imports, and files of an archive no image needs, such as
 * Docker's legacy per-layer JSON).
 *
 * Known gaps, for the store to close: a blob committed here is not pinned
 * until its image record exists, so an image deletion running meanwhile
 * may free a shared layer (the import then fails cleanly with ENOENT),
 * and a kill -9 between a blob's commit and the record leaves that blob
 * unreferenced until a sweep removes it.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "import.h"
#include "import_int.h"
#include "log.h"


struct store_import {
	struct store *s;
	char *ref;		/* "name:tag" to tag the import with, or NULL */
	char *src;		/* for the history comment and the log */
	int wfd;		/* the writer's end; -1 once closed */
	int rfd;		/* the thread's end; the thread closes it */
	pthread_t thread;
	bool started;
	atomic_int thread_err;	/* set before the thread closes rfd */
	atomic_bool aborted;
	/* Written by the thread, read after the join. */
	int result;
	bool is_load;
	struct import_plan plan;
};

/* Stage 2's view of stage 1 (the read callback's context). */
struct import_stream {
	struct store_import *im;
	struct archive *raw;
	struct store_blob_writer *tee;	/* NULL once dropped or committed */
	unsigned char *buf;
	bool eof;
	int err;			/* our own error, beats libarchive's */
};

static la_ssize_t stream_read(struct archive *a, void *ctx, const void **out)
{
	struct import_stream *st = ctx;
	la_ssize_t n;
	int ret;

	if (st->eof)
		return 0;
	if (atomic_load(&st->im->aborted)) {
		st->err = -ECANCELED;
		archive_set_error(a, ECANCELED, "import aborted");
		return -1;
	}
	n = archive_read_data(st->raw, st->buf, IMPORT_IO_CHUNK);
	if (n < 0) {
		st->err = import_archive_errno(st->raw);
		archive_set_error(a, -st->err, "%s", archive_error_string(st->raw) ?
				  archive_error_string(st->raw) : "read error");
		return -1;
	}
	if (n == 0) {
		st->eof = true;
		return 0;
	}
	if (st->tee) {
		ret = store_blob_writer_write(st->tee, st->buf, (size_t)n);
		if (ret) {
			st->err = ret;
			archive_set_error(a, -ret, "store: %s", strerror(-ret));
			return -1;
		}
	}
	*out = st->buf;
	return n;
}

static int open_raw(struct store_import *im, struct archive **out)
{
	struct archive *raw = archive_read_new();
	struct archive_entry *e;
	int ret;

	if (!raw)
		return -ENOMEM;
	*out = raw;
	/* ARCHIVE_WARN means "through an external program": refused. */
	if (archive_read_support_filter_gzip(raw) != ARCHIVE_OK ||
	    archive_read_support_filter_bzip2(raw) != ARCHIVE_OK ||
	    archive_read_support_filter_xz(raw) != ARCHIVE_OK ||
	    archive_read_support_filter_zstd(raw) != ARCHIVE_OK ||
	    archive_read_support_filter_none(raw) != ARCHIVE_OK ||
	    archive_read_support_format_raw(raw) != ARCHIVE_OK)
		return import_why(&im->plan, -ENOTSUP, "libarchive lacks a decompressor");
	ret = archive_read_open_fd(raw, im->rfd, IMPORT_IO_CHUNK);
	if (ret == ARCHIVE_OK)
		ret = archive_read_next_header(raw, &e);
	if (ret != ARCHIVE_OK)
		return import_why(&im->plan, import_archive_errno(raw),
				  "not a tar, plain or compressed: %s",
				  archive_error_string(raw) ? archive_error_string(raw) : "empty");
	return 0;
}

/* Read whatever the writer still sends after the compressed stream ended,
 * so that it never blocks on a full socket. */
static int drain_input(struct store_import *im)
{
	char junk[16384];
	uint64_t extra = 0;
	ssize_t n;

	for (;;) {
		n = read(im->rfd, junk, sizeof(junk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		extra += (uint64_t)n;
	}
	if (extra)
		log_warn("import %s: %" PRIu64 " bytes after the end of the compressed stream ignored",
			 im->src, extra);
	return 0;
}

/*
 * stream - run both stages over the whole input.  On return *@st->tee is
 * the complete decompressed stream (rootfs mode) or NULL (load mode).
 */
static int stream(struct store_import *im, struct import_stream *st,
		  struct load_state *ls, bool *load)
{
	struct archive *tar = NULL;
	struct archive_entry *e;
	bool decided = false;
	const void *dummy;
	char name[4096];
	la_ssize_t n;
	int ret, r;

	*load = false;
	ret = open_raw(im, &st->raw);
	if (ret)
		goto out;
	ret = store_blob_writer_new(im->s, &st->tee);
	if (ret)
		goto out;
	tar = archive_read_new();
	if (!tar) {
		ret = -ENOMEM;
		goto out;
	}
	archive_read_support_format_tar(tar);
	/* No skip callback: skipped entry data must pass through the tee. */
	if (archive_read_open(tar, st, NULL, stream_read, NULL) != ARCHIVE_OK)
		goto bad;
	for (;;) {
		r = archive_read_next_header(tar, &e);
		if (r == ARCHIVE_EOF)
			break;
		/* RETRY is a damaged header libarchive would skip: refused. */
		if (r != ARCHIVE_OK && r != ARCHIVE_WARN)
			goto bad;
		import_entry_name(e, name, sizeof(name));
		if (!decided && name[0]) {
			decided = true;
			*load = load_name_is_archive(name);
			if (*load) {
				store_blob_writer_abort(st->tee);
				st->tee = NULL;
			}
		}
		if (*load) {
			ret = load_entry(im->s, ls, &im->plan, tar, e);
			if (ret)
				goto out;
		} else if (archive_read_data_skip(tar) < ARCHIVE_WARN) {
			goto bad;
		}
	}
	/* The layer is the whole stream, not just up to end-of-archive. */
	while ((n = stream_read(tar, st, &dummy)) > 0)
		;
	if (n < 0)
		goto bad;
	ret = drain_input(im);
	goto out;
bad:
	ret = st->err ? st->err : import_archive_errno(tar);
	import_why(&im->plan, ret, "%s", archive_error_string(tar) ?
		   archive_error_string(tar) : strerror(-ret));
out:
	if (tar)
		archive_read_free(tar);
	return ret;
}

/* "created" as Go's RFC3339Nano in UTC: trailing zeros of the fraction
 * dropped, and the fraction with them when it is zero. */
static void rfc3339_now(char *out, size_t max)
{
	struct timespec ts;
	struct tm tm;
	char frac[16] = "";
	size_t n;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	if (ts.tv_nsec) {
		snprintf(frac, sizeof(frac), ".%09ld", ts.tv_nsec);
		/* ".%09ld" of a non-zero value ends in a non-zero digit
		 * before reaching the dot. */
		for (n = strlen(frac); n > 2 && frac[n - 1] == '0'; n--)
			frac[n - 1] = '\0';
	}
	n = strftime(out, max, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out + n, max - n, "%sZ", frac);
}

/* A JSON string of @s; bytes jansson refuses (not UTF-8) become '?'. */
static json_t *json_str_lossy(const char *s)
{
	json_t *j = json_string(s);
	char *c;

	if (j)
		return j;
	c = strdup(s);
	if (!c)
		return NULL;
	for (char *p = c; *p; p++)
		if ((unsigned char)*p >= 0x80)
			*p = '?';
	j = json_string(c);
	free(c);
	return j;
}

/* The config Docker's classic store writes for `docker import`, keys in
 * its (sorted) order, nested keys in Go struct order. */
static int import_config_json(const char *src, const char *diff_id, char **out)
{
	struct registry_platform plat;
	json_t *root = json_object(), *hist = json_array(), *h = json_object(),
	       *rootfs = json_object(), *ids = json_array();
	char created[64], comment[4200];
	int bad = 0;

	registry_platform_host(&plat);
	rfc3339_now(created, sizeof(created));
	snprintf(comment, sizeof(comment), "Imported from %s", src);
	if (!root || !hist || !h || !rootfs || !ids) {
		json_decref(hist);
		json_decref(h);
		json_decref(rootfs);
		json_decref(ids);
		bad = 1;
		goto out;
	}
	bad |= json_object_set_new(h, "created", json_string(created));
	bad |= json_object_set_new(h, "comment", json_str_lossy(comment));
	bad |= json_array_append_new(hist, h);
	bad |= json_array_append_new(ids, json_string(diff_id));
	bad |= json_object_set_new(rootfs, "type", json_string("layers"));
	bad |= json_object_set_new(rootfs, "diff_ids", ids);
	bad |= json_object_set_new(root, "architecture", json_string(plat.arch));
	bad |= json_object_set_new(root, "comment", json_str_lossy(comment));
	bad |= json_object_set_new(root, "config", json_object());
	bad |= json_object_set_new(root, "created", json_string(created));
	bad |= json_object_set_new(root, "history", hist);
	bad |= json_object_set_new(root, "os", json_string("linux"));
	bad |= json_object_set_new(root, "rootfs", rootfs);
	if (plat.variant[0])
		bad |= json_object_set_new(root, "variant", json_string(plat.variant));
out:
	*out = bad ? NULL : json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(root);
	return *out ? 0 : -ENOMEM;
}

/*
 * import_rootfs_plan - the tee holds the whole decompressed input: store
 * it as the layer, check it is a tar we can serve (its index, built here,
 * is kept), and plan a one-layer image.
 */
static int import_rootfs_plan(struct store_import *im, struct import_stream *st)
{
	struct import_plan *p = &im->plan;
	struct registry_desc cfgd = { 0 }, layer = { 0 };
	struct store_toc *toc = NULL;
	struct import_image *img;
	char diff_id[IMPORT_DIGEST_SZ], cfg_digest[IMPORT_DIGEST_SZ];
	char *cfg = NULL, *man = NULL;
	size_t man_len;
	int64_t size = (int64_t)store_blob_writer_size(st->tee);
	int fd = -1, ret;

	ret = store_blob_writer_commit(im->s, st->tee, NULL, diff_id);
	st->tee = NULL;
	if (ret) {
		ret = import_why(p, ret, "cannot store the layer: %s", strerror(-ret));
		goto out;
	}
	ret = import_plan_new_blob(p, diff_id);
	if (ret)
		goto out;
	layer.media_type = REGISTRY_MT_OCI_LAYER;
	layer.digest = diff_id;
	layer.size = size;
	ret = store_blob_open(im->s, diff_id, &fd);
	if (ret)
		goto out;
	/* The one build of this layer's index: it is kept, and the image's
	 * first mount loads it instead of reading the layer again. */
	ret = store_layer_index(im->s, &layer, fd, diff_id, "import", &toc);
	if (ret) {
		ret = import_why(p, ret, "not a valid rootfs tar: %s", strerror(-ret));
		goto out;
	}
	ret = import_config_json(im->src, diff_id, &cfg);
	if (ret)
		goto out;
	ret = store_blob_add(im->s, cfg, strlen(cfg), cfg_digest);
	if (ret)
		goto out;
	ret = import_plan_new_blob(p, cfg_digest);
	if (ret)
		goto out;
	cfgd.media_type = REGISTRY_MT_OCI_CONFIG;
	cfgd.digest = cfg_digest;
	cfgd.size = (int64_t)strlen(cfg);
	ret = import_manifest_json(&cfgd, &layer, 1, &man, &man_len);
	if (ret)
		goto out;
	ret = import_plan_image(p, IMPORT_HEX(cfg_digest), man, man_len, &img);
	if (ret == 0 && im->ref)
		ret = import_image_tag_ref(p, img, im->ref, store_default_host(im->s));
out:
	free(cfg);
	free(man);
	store_toc_free(toc);
	if (fd >= 0)
		close(fd);
	return ret;
}

static int import_run(struct store_import *im)
{
	struct import_stream st = { .im = im };
	struct load_state ls;
	bool load = false;
	int ret;

	ret = load_state_init(&ls);
	if (ret)
		return ret;
	st.buf = malloc(IMPORT_IO_CHUNK);
	if (!st.buf) {
		ret = -ENOMEM;
		goto out;
	}
	ret = stream(im, &st, &ls, &load);
	if (ret)
		goto out;
	if (atomic_load(&im->aborted)) {
		ret = -ECANCELED;
		goto out;
	}
	im->is_load = load;
	if (load && !load_state_is_archive(&ls))
		ret = import_why(&im->plan, -EINVAL,
				 "an image archive without manifest.json or oci-layout and index.json");
	else if (load)
		ret = load_plan(im->s, &ls, &im->plan, im->src);
	else
		ret = import_rootfs_plan(im, &st);
out:
	store_blob_writer_abort(st.tee);
	if (st.raw)
		archive_read_free(st.raw);
	free(st.buf);
	load_state_release(&ls);
	return ret;
}

static void *import_thread(void *arg)
{
	struct store_import *im = arg;

	im->result = import_run(im);
	if (im->result)
		atomic_store(&im->thread_err, im->result);
	/* After the error is visible: the writer's next send gets EPIPE. */
	close(im->rfd);
	im->rfd = -1;
	return NULL;
}

int store_import_begin(struct store *s, const char *name, const char *src_desc,
		       struct store_import **out)
{
	struct store_import *im = NULL;
	struct registry_ref r = { 0 };
	int sv[2] = { -1, -1 };
	int ret;

	if (name) {
		ret = registry_ref_parse(name, store_default_host(s), &r);
		if (ret == 0 && r.digest)
			ret = -EINVAL;
		if (ret) {
			log_err("import %s: invalid image name \"%s\"",
				src_desc ? src_desc : "-", name);
			ret = -EINVAL;
			goto out;
		}
	}
	im = calloc(1, sizeof(*im));
	if (!im) {
		ret = -ENOMEM;
		goto out;
	}
	im->s = s;
	im->wfd = im->rfd = -1;
	import_plan_init(&im->plan);
	atomic_init(&im->thread_err, 0);
	atomic_init(&im->aborted, false);
	im->src = strdup(src_desc ? src_desc : "-");
	if (name && asprintf(&im->ref, "%s%s", name, r.tag ? "" : ":latest") < 0)
		im->ref = NULL;
	if (!im->src || (name && !im->ref)) {
		ret = -ENOMEM;
		goto out;
	}
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		ret = -errno;
		goto out;
	}
	im->wfd = sv[0];
	im->rfd = sv[1];
	shutdown(im->wfd, SHUT_RD);
	shutdown(im->rfd, SHUT_WR);
	ret = -pthread_create(&im->thread, NULL, import_thread, im);
	if (ret)
		goto out;
	im->started = true;
	*out = im;
	im = NULL;
out:
	registry_ref_release(&r);
	if (im) {
		if (im->wfd >= 0)
			close(im->wfd);
		if (im->rfd >= 0)
			close(im->rfd);
		import_plan_release(&im->plan);
		free(im->src);
		free(im->ref);
		free(im);
	}
	return ret;
}

int store_import_write(struct store_import *im, const void *data, size_t n)
{
	const char *p = data;
	ssize_t w;
	int err;

	while (n > 0) {
		err = atomic_load(&im->thread_err);
		if (err)
			return err;
		if (im->wfd < 0)
			return -EBADF;
		w = send(im->wfd, p, n, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EPIPE || errno == ECONNRESET)) {
			err = atomic_load(&im->thread_err);
			return err ? err : -EPIPE;
		}
		if (w < 0)
			return -errno;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Stop the input and wait for the thread. */
static void import_join(struct store_import *im)
{
	if (im->wfd >= 0) {
		close(im->wfd);
		im->wfd = -1;
	}
	if (im->started) {
		pthread_join(im->thread, NULL);
		im->started = false;
	}
}

/* Put back the tags this import moved and delete images it added. */
static void rollback(struct store_import *im)
{
	struct store *s = im->s;

	for (size_t i = im->plan.n_imgs; i-- > 0;) {
		struct import_image *img = &im->plan.imgs[i];

		for (size_t j = img->n_tags; j-- > 0;) {
			struct import_tag *t = &img->tags[j];

			if (!t->set)
				continue;
			if (t->old_id[0])
				store_tag_set(s, t->host, t->repo, t->tag, t->old_id);
			else
				store_tag_remove(s, t->host, t->repo, t->tag);
		}
	}
	for (size_t i = im->plan.n_imgs; i-- > 0;) {
		struct import_image *img = &im->plan.imgs[i];

		if (img->added && !img->existed)
			store_image_delete(s, img->id);
	}
}

static int result_lines(struct store_import *im, struct buf *out)
{
	const char *dh = store_default_host(im->s);
	int ret = 0;

	for (size_t i = 0; i < im->plan.n_imgs && !ret; i++) {
		struct import_image *img = &im->plan.imgs[i];

		if (!im->is_load) {
			ret = buf_printf(out, "sha256:%s\n", img->id);
			continue;
		}
		if (!img->n_tags)
			ret = buf_printf(out, "Loaded image ID: sha256:%s\n", img->id);
		for (size_t j = 0; j < img->n_tags && !ret; j++) {
			char *fam = registry_ref_familiar(img->tags[j].host,
							  img->tags[j].repo, dh);

			ret = fam ? buf_printf(out, "Loaded image: %s:%s\n", fam,
					       img->tags[j].tag) : -ENOMEM;
			free(fam);
		}
	}
	return ret;
}

/* Record one image and move its tags, in one store call: `rm dangling/`
 * must not see it between the two. */
static int commit_image(struct store_import *im, struct import_image *img)
{
	struct store_tag_name *names = NULL;
	char id[REGISTRY_HEX_LEN + 1];
	int ret;

	if (img->n_tags) {
		names = calloc(img->n_tags, sizeof(*names));
		if (!names)
			return -ENOMEM;
	}
	for (size_t j = 0; j < img->n_tags; j++) {
		names[j].host = img->tags[j].host;
		names[j].repo = img->tags[j].repo;
		names[j].tag = img->tags[j].tag;
	}
	/* A local image keeps its record and manifest (as Docker keeps its
	 * image); adding would only leave our manifest unused. */
	memcpy(id, img->id, sizeof(id));
	ret = store_image_add_tagged(im->s, img->existed ? NULL : img->manifest.data,
				     img->manifest.len, names, img->n_tags, id,
				     &img->added);
	for (size_t j = 0; j < img->n_tags; j++) {
		img->tags[j].set = names[j].set;
		memcpy(img->tags[j].old_id, names[j].old_id, sizeof(img->tags[j].old_id));
	}
	free(names);
	if (ret)
		return import_why(&im->plan, ret, "cannot record and tag image %s: %s",
				  img->id, strerror(-ret));
	if (strcmp(id, img->id) != 0)
		return import_why(&im->plan, -EIO, "image %s recorded as %s",
				  img->id, id);
	return 0;
}

static int commit(struct store_import *im)
{
	struct store *s = im->s;
	struct store_image *x;
	int ret = 0;

	for (size_t i = 0; i < im->plan.n_imgs && !ret; i++) {
		struct import_image *img = &im->plan.imgs[i];

		if (store_image_get(s, img->id, &x) == 0) {
			img->existed = strcmp(store_image_id(x), img->id) == 0;
			store_image_put(s, x);
		}
		ret = commit_image(im, img);
	}
	return ret;
}

/* Blobs this import wrote that no image uses (now) go again. */
static void remove_new_blobs(struct store_import *im)
{
	const char **d;

	if (!im->plan.n_new)
		return;
	d = calloc(im->plan.n_new, sizeof(*d));
	if (!d)
		return;
	for (size_t i = 0; i < im->plan.n_new; i++)
		d[i] = im->plan.new_blobs[i];
	store_blob_remove_unreferenced(im->s, d, im->plan.n_new);
	free(d);
}

static void import_free(struct store_import *im)
{
	import_plan_release(&im->plan);
	free(im->src);
	free(im->ref);
	free(im);
}

int store_import_finish(struct store_import *im, struct buf *result)
{
	int ret;

	import_join(im);
	ret = im->result;
	if (ret == 0)
		ret = commit(im);
	if (ret == 0 && result)
		ret = result_lines(im, result);
	if (ret) {
		rollback(im);
		log_err("import %s: %s", im->src,
			im->plan.why.len ? buf_str(&im->plan.why) : strerror(-ret));
	} else {
		log_info("import %s: %zu image(s), %zu tag(s)", im->src,
			 im->plan.n_imgs, im->plan.n_tags);
	}
	remove_new_blobs(im);
	import_free(im);
	return ret;
}

void store_import_abort(struct store_import *im)
{
	if (!im)
		return;
	atomic_store(&im->aborted, true);
	import_join(im);
	remove_new_blobs(im);
	log_info("import %s: aborted", im->src);
	import_free(im);
}
