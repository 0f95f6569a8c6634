/* SPDX-License-Identifier: MIT */
/*
 * plan.c - the plan of an import (images, tags, blobs written), the
 * checks an archive's images pass before they may be committed, and the
 * helpers import.c and load.c share (the failure reason, entry names,
 * libarchive errors, the manifest we write).
 *
 * Owns: struct import_plan and everything hanging off it.  Shared by the
 * rootfs import (import.c) and archive loads (load.c) so that both commit
 * the same way.  An image of an archive is recorded only when every blob
 * it names is local and every layer's uncompressed digest equals the
 * config's diff_id, as Docker's load checks.  The digest comes from the
 * layer's index (store_layer_index(), which also rejects hostile tars),
 * built once per layer and kept in the store for the image's reads.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "import_int.h"
#include "log.h"
#include "path.h"

#define WHY_MAX 1024

void import_plan_init(struct import_plan *p)
{
	memset(p, 0, sizeof(*p));
	buf_init(&p->why, WHY_MAX);
}

void import_plan_release(struct import_plan *p)
{
	for (size_t i = 0; i < p->n_imgs; i++) {
		struct import_image *img = &p->imgs[i];

		buf_release(&img->manifest);
		for (size_t j = 0; j < img->n_tags; j++) {
			free(img->tags[j].host);
			free(img->tags[j].repo);
			free(img->tags[j].tag);
		}
		free(img->tags);
	}
	free(p->imgs);
	free(p->new_blobs);
	free(p->ver);
	buf_release(&p->why);
	memset(p, 0, sizeof(*p));
}

int import_why(struct import_plan *p, int err, const char *fmt, ...)
{
	va_list ap;
	char msg[WHY_MAX];

	if (p->why.len)
		return err;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	buf_addstr(&p->why, msg);	/* best effort: a log line */
	return err;
}

int import_archive_errno(struct archive *a)
{
	int e = archive_errno(a);

	/* libarchive says "bad data" with EILSEQ (file format), -1 (misc)
	 * or nothing at all; only real system errors pass through. */
	if (e == ENOMEM || e == ENOSPC || e == EIO || e == EDQUOT ||
	    e == ECANCELED)
		return -e;
	return -EINVAL;
}

int import_plan_new_blob(struct import_plan *p, const char *digest)
{
	char (*nb)[IMPORT_DIGEST_SZ];

	for (size_t i = 0; i < p->n_new; i++)
		if (strcmp(p->new_blobs[i], digest) == 0)
			return 0;
	nb = realloc(p->new_blobs, (p->n_new + 1) * sizeof(*nb));
	if (!nb)
		return -ENOMEM;
	p->new_blobs = nb;
	snprintf(nb[p->n_new++], sizeof(*nb), "%s", digest);
	return 0;
}

int import_plan_image(struct import_plan *p, const char *id,
		      const char *manifest, size_t len,
		      struct import_image **out)
{
	struct import_image *imgs, *img;
	int ret;

	for (size_t i = 0; i < p->n_imgs; i++) {
		if (strcmp(p->imgs[i].id, id) == 0) {
			*out = &p->imgs[i];
			return 0;
		}
	}
	if (p->n_imgs >= IMPORT_MAX_IMAGES)
		return import_why(p, -E2BIG, "more than %d images", IMPORT_MAX_IMAGES);
	imgs = realloc(p->imgs, (p->n_imgs + 1) * sizeof(*imgs));
	if (!imgs)
		return -ENOMEM;
	p->imgs = imgs;
	img = &imgs[p->n_imgs];
	memset(img, 0, sizeof(*img));
	snprintf(img->id, sizeof(img->id), "%s", id);
	buf_init(&img->manifest, BUF_MANIFEST_MAX);
	ret = buf_add(&img->manifest, manifest, len);
	if (ret) {
		buf_release(&img->manifest);
		return ret;
	}
	p->n_imgs++;
	*out = img;
	return 0;
}

int import_image_tag_ref(struct import_plan *p, struct import_image *img,
			 const char *ref, const char *default_host)
{
	struct registry_ref r = { 0 };
	struct import_tag *tags, *t;
	int ret;

	ret = registry_ref_parse(ref, default_host, &r);
	if (ret) {
		ret = import_why(p, -EINVAL, "invalid image reference \"%.200s\"", ref);
		goto out;
	}
	if (!r.tag)		/* digest-only: names no tag */
		goto out;
	for (size_t i = 0; i < img->n_tags; i++) {
		t = &img->tags[i];
		if (!strcmp(t->host, r.host) && !strcmp(t->repo, r.repo) &&
		    !strcmp(t->tag, r.tag))
			goto out;
	}
	if (p->n_tags >= IMPORT_MAX_TAGS) {
		ret = import_why(p, -E2BIG, "more than %d tags", IMPORT_MAX_TAGS);
		goto out;
	}
	tags = realloc(img->tags, (img->n_tags + 1) * sizeof(*tags));
	if (!tags) {
		ret = -ENOMEM;
		goto out;
	}
	img->tags = tags;
	t = &tags[img->n_tags++];
	memset(t, 0, sizeof(*t));
	t->host = r.host;
	t->repo = r.repo;
	t->tag = r.tag;
	r.host = r.repo = r.tag = NULL;
	p->n_tags++;
out:
	registry_ref_release(&r);
	return ret;
}

/* Check one layer against its diff_id, once per blob per import.  The
 * index is the store's (loaded, or built and kept for the image's reads). */
static int check_layer(struct store *s, struct import_plan *p,
		       const struct registry_desc *d, const char *diff_id,
		       const char *what)
{
	struct import_verified *v;
	struct store_toc *toc = NULL;
	struct stat st;
	int fd = -1, ret = 0;

	for (size_t i = 0; i < p->n_ver; i++) {
		if (strcmp(p->ver[i].layer, d->digest) == 0) {
			if (strcmp(p->ver[i].diff_id, diff_id) != 0)
				goto mismatch;
			return 0;
		}
	}
	if (registry_layer_compression(d->media_type) == REGISTRY_COMP_UNKNOWN)
		return import_why(p, -ENOTSUP, "%s: layer %s has unsupported media type %.100s",
				  what, d->digest, d->media_type ? d->media_type : "(none)");
	ret = store_blob_open(s, d->digest, &fd);
	if (ret == -ENOENT) {
		ret = import_why(p, ret, "%s: layer %s is not in the archive", what, d->digest);
		goto out;
	}
	if (ret)
		goto out;
	if (fstat(fd, &st) < 0) {
		ret = -errno;
		goto out;
	}
	if (st.st_size != d->size) {
		ret = import_why(p, -EINVAL, "%s: layer %s has %lld bytes, its descriptor says %lld",
				 what, d->digest, (long long)st.st_size, (long long)d->size);
		goto out;
	}
	/* No diff_id here: a mismatch is the import's error, said below. */
	ret = store_layer_index(s, d, fd, NULL, what, &toc);
	if (ret) {
		ret = import_why(p, ret, "%s: layer %s is not a valid layer: %s",
				 what, d->digest, strerror(-ret));
		goto out;
	}
	v = realloc(p->ver, (p->n_ver + 1) * sizeof(*v));
	if (!v) {
		ret = -ENOMEM;
		goto out;
	}
	p->ver = v;
	snprintf(v[p->n_ver].layer, sizeof(v->layer), "%s", d->digest);
	snprintf(v[p->n_ver].diff_id, sizeof(v->diff_id), "%s", toc->diff_id);
	p->n_ver++;
	if (strcmp(toc->diff_id, diff_id) != 0)
		goto mismatch;
out:
	store_toc_free(toc);
	if (fd >= 0)
		close(fd);
	return ret;
mismatch:
	ret = import_why(p, -EINVAL, "%s: layer %s does not match diff_id %s",
			 what, d->digest, diff_id);
	goto out;
}

int import_check_image(struct store *s, struct import_plan *p,
		       const struct registry_manifest *m, const char *what)
{
	struct registry_config cfg = { 0 };
	struct buf body;
	int ret;

	buf_init(&body, BUF_MANIFEST_MAX);
	if (m->n_layers > IMPORT_MAX_LAYERS) {
		ret = import_why(p, -E2BIG, "%s: %zu layers", what, m->n_layers);
		goto out;
	}
	ret = store_blob_read(s, m->config.digest, BUF_MANIFEST_MAX, &body);
	if (ret) {
		ret = import_why(p, ret, "%s: config %s: %s", what, m->config.digest,
				 ret == -ENOENT ? "not in the archive" : strerror(-ret));
		goto out;
	}
	if ((int64_t)body.len != m->config.size) {
		ret = import_why(p, -EINVAL, "%s: config %s has %zu bytes, its descriptor says %lld",
				 what, m->config.digest, body.len, (long long)m->config.size);
		goto out;
	}
	ret = registry_config_parse(body.data, body.len, &cfg);
	if (ret) {
		ret = import_why(p, ret, "%s: config %s is not a valid image config",
				 what, m->config.digest);
		goto out;
	}
	if (cfg.n_diff_ids != m->n_layers) {
		ret = import_why(p, -EINVAL, "%s: %zu layers but %zu diff_ids",
				 what, m->n_layers, cfg.n_diff_ids);
		goto out;
	}
	for (size_t i = 0; i < m->n_layers; i++) {
		ret = check_layer(s, p, &m->layers[i], cfg.diff_ids[i], what);
		if (ret)
			goto out;
	}
out:
	registry_config_release(&cfg);
	buf_release(&body);
	return ret;
}

static json_t *desc_json(const struct registry_desc *d)
{
	json_t *o = json_object();

	if (!o)
		return NULL;
	if (json_object_set_new(o, "mediaType", json_string(d->media_type)) ||
	    json_object_set_new(o, "digest", json_string(d->digest)) ||
	    json_object_set_new(o, "size", json_integer(d->size))) {
		json_decref(o);
		return NULL;
	}
	return o;
}

int import_manifest_json(const struct registry_desc *config,
			 const struct registry_desc *layers, size_t n,
			 char **out, size_t *len)
{
	json_t *root = json_object(), *arr = json_array();
	int ret = -ENOMEM;
	char *s;

	if (!root || !arr)
		goto out;
	for (size_t i = 0; i < n; i++)
		if (json_array_append_new(arr, desc_json(&layers[i])))
			goto out;
	if (json_object_set_new(root, "schemaVersion", json_integer(2)) ||
	    json_object_set_new(root, "mediaType", json_string(REGISTRY_MT_OCI_MANIFEST)) ||
	    json_object_set_new(root, "config", desc_json(config)))
		goto out;
	ret = json_object_set_new(root, "layers", arr);
	arr = NULL;
	if (ret) {
		ret = -ENOMEM;
		goto out;
	}
	s = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER);
	if (!s) {
		ret = -ENOMEM;
		goto out;
	}
	*out = s;
	*len = strlen(s);
	ret = 0;
out:
	json_decref(arr);
	json_decref(root);
	return ret;
}

void import_entry_name(struct archive_entry *e, char *out, size_t max)
{
	const char *n = archive_entry_pathname(e);

	if (!n)
		n = "";
	if (path_norm(n, out, max, NULL) < 0)
		snprintf(out, max, "%s", n);
}
