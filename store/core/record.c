/* SPDX-License-Identifier: MIT */
/*
 * record.c - image records images/<id>.json and the sources they name:
 * reading and writing records, loading a source's manifest, and choosing
 * the sources a blob may be fetched from.
 *
 * A record is {"manifest": "sha256:..", "host": .., "repo": ..,
 * "sources": [{"host", "repo", "manifest"}, ...]}: the manifest blob names
 * the config (whose hex is the id) and the layers; host/repo say where
 * missing blobs are fetched from (null for images that were imported).
 * The id is the config's digest and a config is public, so other
 * registries may serve the same config with manifests of their own:
 * each pull that brings a new (host, repo, manifest) appends it to
 * "sources" ("sources" absent: the first source only, as records were
 * before).  A blob is fetched from the sources whose manifest lists it,
 * and the rootfs is built from the first source's layers, a layer taken
 * from the next source whose layer at that index gives the config's
 * diff_id when one does not (layers.c): a registry that pulled first
 * cannot make a later source's image unreadable, nor see its fetches.
 * Each source's manifest and layers are shown as they are under the tags
 * pulled as it (store_image_source(), fs/ns.c's by-id/<name>@<hex>).
 * Everything else about an image is derived from its blobs, so a record
 * is tiny and written atomically.
 */
#include "store_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "log.h"

int store_srcs_add(struct store_srcs *srcs, const char *host, const char *repo)
{
	void *nv = realloc(srcs->v, (srcs->n + 1) * sizeof(*srcs->v));
	char *h, *r;

	if (!nv)
		return -ENOMEM;
	srcs->v = nv;
	h = strdup(host);
	r = strdup(repo);
	if (!h || !r) {
		free(h);
		free(r);
		return -ENOMEM;
	}
	srcs->v[srcs->n].host = h;
	srcs->v[srcs->n].repo = r;
	srcs->n++;
	return 0;
}

void store_srcs_release(struct store_srcs *srcs)
{
	for (size_t i = 0; i < srcs->n; i++) {
		free(srcs->v[i].host);
		free(srcs->v[i].repo);
	}
	free(srcs->v);
	srcs->v = NULL;
	srcs->n = 0;
}

void store_src_free(struct store_src *src)
{
	if (!src)
		return;
	free(src->host);
	free(src->repo);
	buf_release(&src->manifest);
	registry_manifest_release(&src->m);
	free(src);
}

/* Whether manifest @m lists blob @digest (config or layer). */
static bool manifest_lists(const struct registry_manifest *m, const char *digest)
{
	if (m->config.digest && !strcmp(m->config.digest, digest))
		return true;
	for (size_t i = 0; i < m->n_layers; i++)
		if (m->layers[i].digest && !strcmp(m->layers[i].digest, digest))
			return true;
	return false;
}

int store_image_srcs(struct store *s, struct store_image *img, const char *digest,
		     struct store_srcs *out)
{
	int ret = 0;

	memset(out, 0, sizeof(*out));
	out->img = img;
	pthread_mutex_lock(&s->lock);
	for (size_t k = 0; !ret && k < img->n_srcs; k++) {
		const struct store_src *src = img->srcs[k];

		if (src->host && manifest_lists(&src->m, digest))
			ret = store_srcs_add(out, src->host, src->repo);
	}
	pthread_mutex_unlock(&s->lock);
	if (ret)
		store_srcs_release(out);
	return ret;
}

const struct registry_desc *store_image_layer_alt(struct store *s,
						  struct store_image *img,
						  size_t i, size_t k)
{
	const struct registry_desc *d = NULL;

	pthread_mutex_lock(&s->lock);
	if (k < img->n_srcs && i < img->srcs[k]->m.n_layers)
		d = &img->srcs[k]->m.layers[i];
	pthread_mutex_unlock(&s->lock);
	return d;
}

/* @img's source with manifest @mdigest, NULL if none.  Caller holds
 * s->lock (the array grows under it; a source itself never changes). */
static const struct store_src *src_find_locked(const struct store_image *img,
					       const char *mdigest)
{
	for (size_t k = 0; k < img->n_srcs; k++)
		if (!strcmp(img->srcs[k]->manifest_digest, mdigest))
			return img->srcs[k];
	return NULL;
}

int store_image_source(struct store *s, struct store_image *img,
		       const char *mdigest, struct store_image_source *out)
{
	const struct store_src *src;
	struct store_record r;
	bool named = false;
	int ret;

	/* The record, not the image in memory, says what the sources are:
	 * one dropped from it stays loaded until the image is freed. */
	ret = store_record_read(s, img->id, &r);
	if (ret)
		return ret == -EIO ? ret : -ENOENT;
	for (size_t i = 0; i < r.n && !named; i++)
		named = !strcmp(r.v[i].mdigest, mdigest);
	store_record_release(&r);
	if (!named)
		return -ENOENT;
	pthread_mutex_lock(&s->lock);
	src = img->deleted ? NULL : src_find_locked(img, mdigest);
	pthread_mutex_unlock(&s->lock);
	if (!src)
		return -ENOENT;
	out->digest = src->manifest_digest;
	out->host = src->host;
	out->repo = src->repo;
	out->manifest = &src->manifest;
	out->m = &src->m;
	return 0;
}

int store_image_source_layer_open(struct store *s, struct store_image *img,
				  const char *mdigest, size_t i, int *fd)
{
	struct store_image_source src;
	const struct registry_desc *d;
	struct store_srcs srcs;
	int ret;

	ret = store_image_source(s, img, mdigest, &src);
	if (ret)
		return ret;
	if (i >= src.m->n_layers)
		return -ENOENT;
	d = &src.m->layers[i];
	ret = store_image_srcs(s, img, d->digest, &srcs);
	if (!ret)
		ret = store_blob_fetch(s, &srcs, d);
	store_srcs_release(&srcs);
	if (ret)
		return ret;
	return store_blob_fd_get(s, d->digest, fd);
}

void store_image_source_layer_close(struct store *s, struct store_image *img,
				    const char *mdigest, size_t i)
{
	const struct store_src *src;

	/* In memory only: the source may have left the record since the
	 * open, but not the image, which the caller still holds. */
	pthread_mutex_lock(&s->lock);
	src = src_find_locked(img, mdigest);
	pthread_mutex_unlock(&s->lock);
	if (src && i < src->m.n_layers)
		store_blob_fd_put(s, src->m.layers[i].digest);
}

/* Record name of a full id: "<hex>.json". */
void store_record_name(const char *id, char name[80])
{
	snprintf(name, 80, "%s.json", id);
}

void store_record_release(struct store_record *r)
{
	for (size_t i = 0; i < r->n; i++) {
		free(r->v[i].host);
		free(r->v[i].repo);
	}
	free(r->v);
	r->v = NULL;
	r->n = 0;
}

/* Whether @r has the source @host/@repo with manifest @mdigest. */
bool store_record_has(const struct store_record *r, const char *host,
		      const char *repo, const char *mdigest)
{
	for (size_t i = 0; i < r->n; i++) {
		const struct store_rec_src *v = &r->v[i];

		if (!strcmp(v->mdigest, mdigest) && !v->host == !host &&
		    (!host || (!strcmp(v->host, host) && !strcmp(v->repo, repo))))
			return true;
	}
	return false;
}

int store_record_add(struct store_record *r, const char *host, const char *repo,
		     const char *mdigest)
{
	struct store_rec_src *nv = realloc(r->v, (r->n + 1) * sizeof(*r->v));
	struct store_rec_src *v;

	if (!nv)
		return -ENOMEM;
	r->v = nv;
	v = &r->v[r->n];
	memset(v, 0, sizeof(*v));
	snprintf(v->mdigest, sizeof(v->mdigest), "%s", mdigest);
	if (host && (!(v->host = strdup(host)) || !(v->repo = strdup(repo)))) {
		free(v->host);
		return -ENOMEM;
	}
	r->n++;
	return 0;
}

/* One source object of a record: -EIO when it is not well formed. */
static int record_add_json(struct store_record *r, json_t *m, json_t *h, json_t *rp)
{
	if (!json_is_string(m) || !registry_digest_valid(json_string_value(m)))
		return -EIO;
	if ((h && !json_is_null(h) && !json_is_string(h)) ||
	    (rp && !json_is_null(rp) && !json_is_string(rp)) ||
	    (json_is_string(h) != json_is_string(rp)))
		return -EIO;
	return store_record_add(r, json_is_string(h) ? json_string_value(h) : NULL,
			  json_string_value(rp), json_string_value(m));
}

/*
 * record_read - the sources of image @id: at least one, the first being
 * the manifest its by-id/ directory shows.  Caller releases @r.
 */
int store_record_read(struct store *s, const char *id, struct store_record *r)
{
	struct buf b;
	char name[80];
	json_t *root = NULL, *arr;
	json_error_t jerr;
	int ret;

	memset(r, 0, sizeof(*r));
	store_record_name(id, name);
	ret = file_read_capped(s->images_fd, name, STORE_RECORD_MAX, &b);
	if (ret)
		return ret;
	root = json_loadb(buf_str(&b), b.len, JSON_REJECT_DUPLICATES, &jerr);
	ret = -EIO;
	if (!root || !json_is_object(root))
		goto bad;
	ret = record_add_json(r, json_object_get(root, "manifest"),
			      json_object_get(root, "host"), json_object_get(root, "repo"));
	if (ret)
		goto bad;
	arr = json_object_get(root, "sources");
	if (arr && !json_is_array(arr)) {
		ret = -EIO;
		goto bad;
	}
	for (size_t i = 0; arr && i < json_array_size(arr); i++) {
		json_t *o = json_array_get(arr, i);

		ret = json_is_object(o) && json_is_string(json_object_get(o, "host"))
			? record_add_json(r, json_object_get(o, "manifest"),
					  json_object_get(o, "host"),
					  json_object_get(o, "repo"))
			: -EIO;
		if (ret)
			goto bad;
	}
	ret = 0;
	goto out;
bad:
	if (ret == -EIO)
		log_err("store: image record images/%s is corrupt", name);
	store_record_release(r);
out:
	json_decref(root);
	buf_release(&b);
	return ret;
}

/* Write @r as image @id's record (one source: the format without
 * "sources"). */
int store_record_write(struct store *s, const char *id, const struct store_record *r)
{
	json_t *o = json_pack("{s:s, s:s?, s:s?}", "manifest", r->v[0].mdigest,
			      "host", r->v[0].host, "repo", r->v[0].repo);
	json_t *arr = r->n > 1 ? json_array() : NULL;
	char name[80], *js = NULL;
	int ret = -ENOMEM;

	if (!o || (r->n > 1 && (!arr || json_object_set(o, "sources", arr))))
		goto out;
	for (size_t i = 1; i < r->n; i++)
		if (json_array_append_new(arr, json_pack("{s:s, s:s, s:s}",
				"host", r->v[i].host, "repo", r->v[i].repo,
				"manifest", r->v[i].mdigest)))
			goto out;
	js = json_dumps(o, JSON_SORT_KEYS | JSON_COMPACT);
	if (!js)
		goto out;
	store_record_name(id, name);
	ret = store_write_atomic(s, s->images_fd, name, js, strlen(js));
out:
	free(js);
	json_decref(arr);
	json_decref(o);
	return ret;
}

/*
 * src_load - source @v of image @id with its manifest, which must name
 * the config @id and have @n_layers layers.  Blobs in blobs/ were
 * verified when stored, so only parse and consistency are checked.
 */
int store_src_load(struct store *s, const char *id, const struct store_rec_src *v,
		   size_t n_layers, struct store_src **out)
{
	struct store_src *src = calloc(1, sizeof(*src));
	int ret = -ENOMEM;

	if (!src)
		return -ENOMEM;
	buf_init(&src->manifest, BUF_MANIFEST_MAX);
	memcpy(src->manifest_digest, v->mdigest, sizeof(src->manifest_digest));
	if (v->host && (!(src->host = strdup(v->host)) || !(src->repo = strdup(v->repo))))
		goto out;
	ret = store_blob_read(s, v->mdigest, BUF_MANIFEST_MAX, &src->manifest);
	if (!ret)
		ret = registry_manifest_parse(src->manifest.data, src->manifest.len, &src->m);
	if (!ret && (strcmp(src->m.config.digest + 7, id) || src->m.n_layers != n_layers))
		ret = -EIO;
	if (ret) {
		log_err("image %.12s: manifest %s (from %s/%s): %s", id, v->mdigest,
			v->host ? v->host : "(local)", v->repo ? v->repo : "",
			strerror(-ret));
		goto out;
	}
	*out = src;
	return 0;
out:
	store_src_free(src);
	return ret;
}
