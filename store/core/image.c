/* SPDX-License-Identifier: MIT */
/*
 * image.c - local images: the in-memory cache of loaded images with their
 * reference counts, adding and deleting images (their records are
 * record.c's), and freeing the blobs a deleted image leaves unreferenced.
 *
 * A record (record.c) names an image's sources: the manifests of its
 * config, and where each came from; everything else about an image is
 * derived from its blobs.
 *
 * Loaded images are cached in s->images (under s->lock) until deleted or
 * the store closes; a deleted image leaves the cache at once and is freed
 * when its last reference goes.  Loading happens without s->lock; a delete
 * that ran meanwhile is detected through s->images_gen and the load is
 * redone, so a deleted image is never resurrected into the cache.
 */
#include "store_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

/* Refuse artifacts and layer types we cannot serve, naming the culprit. */
int store_manifest_check(const char *what, const struct registry_manifest *m)
{
	if (!registry_media_is_config(m->config.media_type)) {
		log_err("%s: config %s has unsupported media type %s", what,
			m->config.digest, m->config.media_type ? m->config.media_type : "(none)");
		return -ENOTSUP;
	}
	for (size_t i = 0; i < m->n_layers; i++) {
		const struct registry_desc *l = &m->layers[i];

		if (!l->media_type ||
		    registry_layer_compression(l->media_type) == REGISTRY_COMP_UNKNOWN) {
			log_err("%s: layer %s has unsupported media type %s", what,
				l->digest, l->media_type ? l->media_type : "(none)");
			return -ENOTSUP;
		}
	}
	return 0;
}

const char *store_image_id(const struct store_image *img)
{
	return img->id;
}

const char *store_image_manifest_digest(const struct store_image *img)
{
	return img->manifest_digest;
}

int64_t store_image_created(const struct store_image *img)
{
	return img->cfg.created;
}

const struct buf *store_image_manifest(const struct store_image *img)
{
	return &img->manifest;
}

const struct buf *store_image_config(const struct store_image *img)
{
	return &img->config;
}

size_t store_image_n_layers(const struct store_image *img)
{
	return img->n_layers;
}

const struct registry_desc *store_image_layer(const struct store_image *img,
					      size_t i)
{
	return &img->layers[i].desc;
}

void store_image_free(struct store_image *img)
{
	if (!img)
		return;
	store_rootfs_free(img->rootfs);
	for (size_t i = 0; img->layers && i < img->n_layers; i++) {
		if (img->layers[i].fd >= 0)
			close(img->layers[i].fd);
		store_toc_free(img->layers[i].toc);
		/* layers[i].desc aliases m.layers[i]: released with m. */
	}
	free(img->layers);
	for (size_t i = 0; i < img->n_srcs; i++)
		store_src_free(img->srcs[i]);
	free(img->srcs);
	registry_manifest_release(&img->m);
	registry_config_release(&img->cfg);
	buf_release(&img->manifest);
	buf_release(&img->config);
	pthread_cond_destroy(&img->cond);
	pthread_mutex_destroy(&img->lock);
	free(img);
}

/*
 * image_load - build a struct store_image from its record and blobs.
 * Blobs in blobs/ were verified when they were stored, so only their
 * parse and their mutual consistency are checked here.
 */
static int image_load(struct store *s, const char *id, struct store_image **out)
{
	struct store_image *img = calloc(1, sizeof(*img));
	struct store_record rec = { 0 };
	int ret;

	if (!img)
		return -ENOMEM;
	pthread_mutex_init(&img->lock, NULL);
	pthread_cond_init(&img->cond, NULL);
	buf_init(&img->manifest, BUF_MANIFEST_MAX);
	buf_init(&img->config, STORE_CONFIG_MAX);
	memcpy(img->id, id, 65);
	ret = store_record_read(s, id, &rec);
	if (ret)
		goto out;
	memcpy(img->manifest_digest, rec.v[0].mdigest, sizeof(img->manifest_digest));
	ret = store_blob_read(s, img->manifest_digest, BUF_MANIFEST_MAX, &img->manifest);
	if (!ret)
		ret = registry_manifest_parse(img->manifest.data, img->manifest.len, &img->m);
	if (ret) {
		log_err("image %.12s: manifest %s: %s", id, img->manifest_digest, strerror(-ret));
		goto out;
	}
	if (strcmp(img->m.config.digest + 7, id) != 0) {
		log_err("image %.12s: manifest %s names config %s", id,
			img->manifest_digest, img->m.config.digest);
		ret = -EIO;
		goto out;
	}
	ret = store_blob_read(s, img->m.config.digest, STORE_CONFIG_MAX, &img->config);
	if (!ret)
		ret = registry_config_parse(img->config.data, img->config.len, &img->cfg);
	if (ret) {
		log_err("image %.12s: config: %s", id, strerror(-ret));
		goto out;
	}
	if (img->cfg.n_diff_ids != img->m.n_layers) {
		log_err("image %.12s: %zu layers but %zu diff_ids", id,
			img->m.n_layers, img->cfg.n_diff_ids);
		ret = -EIO;
		goto out;
	}
	img->n_layers = img->m.n_layers;
	img->layers = calloc(img->n_layers ? img->n_layers : 1, sizeof(*img->layers));
	if (!img->layers) {
		ret = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < img->n_layers; i++) {
		img->layers[i].desc = img->m.layers[i];
		img->layers[i].comp = registry_layer_compression(img->m.layers[i].media_type);
		img->layers[i].fd = -1;
	}
	img->srcs = calloc(rec.n, sizeof(*img->srcs));
	if (!img->srcs) {
		ret = -ENOMEM;
		goto out;
	}
	for (size_t k = 0; k < rec.n; k++) {
		/* A later source that does not load is left out, not fatal. */
		ret = store_src_load(s, id, &rec.v[k], img->n_layers, &img->srcs[img->n_srcs]);
		if (ret && k == 0)
			goto out;
		if (!ret)
			img->n_srcs++;
	}
	ret = 0;
	store_record_release(&rec);
	*out = img;
	return 0;
out:
	store_record_release(&rec);
	store_image_free(img);
	return ret;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void ids_free(char **ids, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(ids[i]);
	free(ids);
}

/* Ids of all records in images/, sorted. */
static int scan_records(struct store *s, char ***ids, size_t *n)
{
	int fd = openat(s->images_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	char **v = NULL;
	size_t cnt = 0, cap = 0;
	struct dirent *de;
	DIR *d;
	int ret = 0;

	if (fd < 0)
		return -errno;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -errno;
	}
	while ((de = readdir(d))) {
		char stem[65];

		if (strlen(de->d_name) != 69 || strcmp(de->d_name + 64, ".json"))
			continue;
		memcpy(stem, de->d_name, 64);
		stem[64] = '\0';
		if (!registry_hex_valid(stem, 64, 64))
			continue;
		if (cnt == cap) {
			size_t nc = cap ? cap * 2 : 16;
			char **nv = realloc(v, nc * sizeof(*v));

			if (!nv) {
				ret = -ENOMEM;
				goto out;
			}
			v = nv;
			cap = nc;
		}
		v[cnt] = strndup(de->d_name, 64);
		if (!v[cnt]) {
			ret = -ENOMEM;
			goto out;
		}
		cnt++;
	}
	if (cnt)
		qsort(v, cnt, sizeof(*v), cmp_str);
out:
	closedir(d);
	if (ret) {
		ids_free(v, cnt);
		return ret;
	}
	*ids = v;
	*n = cnt;
	return 0;
}

int store_image_resolve(struct store *s, const char *id, char full[65])
{
	char name[80], **ids = NULL;
	size_t n = 0, len, hits = 0;
	int ret;

	if (!strncmp(id, "sha256:", 7))
		id += 7;
	if (!registry_hex_valid(id, 4, 64))
		return -ENOENT;
	len = strlen(id);
	if (len == 64) {
		store_record_name(id, name);
		if (faccessat(s->images_fd, name, F_OK, AT_SYMLINK_NOFOLLOW) < 0)
			return -errno;
		memcpy(full, id, 65);
		return 0;
	}
	ret = scan_records(s, &ids, &n);
	if (ret)
		return ret;
	for (size_t i = 0; i < n; i++) {
		if (strncmp(ids[i], id, len))
			continue;
		if (++hits == 1)
			memcpy(full, ids[i], 65);
	}
	ids_free(ids, n);
	return hits == 0 ? -ENOENT : hits > 1 ? -EINVAL : 0;
}

int store_image_get(struct store *s, const char *id, struct store_image **out)
{
	struct store_image *img, *mine = NULL;
	char full[65];
	uint64_t gen;
	int ret;

	for (;;) {
		ret = store_image_resolve(s, id, full);
		if (ret)
			return ret;
		pthread_mutex_lock(&s->lock);
		img = htab_get(&s->images, full);
		if (img) {
			img->refs++;
			pthread_mutex_unlock(&s->lock);
			*out = img;
			return 0;
		}
		gen = s->images_gen;
		pthread_mutex_unlock(&s->lock);

		ret = image_load(s, full, &mine);
		if (ret)
			return ret;

		pthread_mutex_lock(&s->lock);
		if (gen != s->images_gen) {
			/* A delete ran while we loaded: look again. */
			pthread_mutex_unlock(&s->lock);
			store_image_free(mine);
			continue;
		}
		img = htab_get(&s->images, full);
		if (!img) {
			ret = htab_set(&s->images, full, mine, NULL);
			if (ret) {
				pthread_mutex_unlock(&s->lock);
				store_image_free(mine);
				return ret;
			}
			img = mine;
			mine = NULL;
		}
		img->refs++;
		pthread_mutex_unlock(&s->lock);
		store_image_free(mine);	/* lost a race with another loader */
		*out = img;
		return 0;
	}
}

void store_image_put(struct store *s, struct store_image *img)
{
	bool free_it;

	if (!img)
		return;
	pthread_mutex_lock(&s->lock);
	free_it = --img->refs == 0 && img->deleted;
	pthread_mutex_unlock(&s->lock);
	if (free_it)
		store_image_free(img);
}

bool store_image_deleted(struct store *s, struct store_image *img)
{
	bool gone;

	if (!img)
		return false;
	pthread_mutex_lock(&s->lock);
	gone = img->deleted;
	pthread_mutex_unlock(&s->lock);
	return gone;
}

void store_image_busy(struct store *s, struct store_image *img, int delta)
{
	pthread_mutex_lock(&s->lock);
	img->busy += delta;
	pthread_mutex_unlock(&s->lock);
}

int store_image_list(struct store *s, char ***ids, size_t *n)
{
	return scan_records(s, ids, n);
}

int store_image_dangling(struct store *s, char ***ids, size_t *n)
{
	char **v;
	size_t cnt, k = 0;
	int ret;

	ret = scan_records(s, &v, &cnt);
	if (ret)
		return ret;
	pthread_mutex_lock(&s->lock);
	for (size_t i = 0; i < cnt; i++) {
		if (store_tags_name_id_locked(s, v[i], NULL))
			free(v[i]);
		else
			v[k++] = v[i];
	}
	pthread_mutex_unlock(&s->lock);
	*ids = v;
	*n = k;
	return 0;
}

/* ---- adding ----------------------------------------------------------- */

static int check_config(const char *what, const char *body, size_t len,
			size_t n_layers)
{
	struct registry_config cfg = { 0 };
	int ret = registry_config_parse(body, len, &cfg);

	if (ret) {
		log_err("%s: config does not parse: %s", what, strerror(-ret));
		return ret;
	}
	if (cfg.n_diff_ids != n_layers) {
		log_err("%s: %zu layers but the config has %zu diff_ids", what,
			n_layers, cfg.n_diff_ids);
		ret = -EINVAL;
	}
	registry_config_release(&cfg);
	return ret;
}

/*
 * src_attach - give the cached image @id (if it is cached) the source @v
 * that was just added to its record.  Caller holds meta_lock.  A failure
 * only leaves the source out until the image is loaded again.
 */
static void src_attach(struct store *s, const char *id, const struct store_rec_src *v,
		       size_t n_layers)
{
	struct store_image *img;
	struct store_src *src = NULL, **nv;

	if (store_src_load(s, id, v, n_layers, &src))
		return;
	pthread_mutex_lock(&s->lock);
	img = htab_get(&s->images, id);
	nv = img ? realloc(img->srcs, (img->n_srcs + 1) * sizeof(*nv)) : NULL;
	if (nv) {
		img->srcs = nv;
		img->srcs[img->n_srcs++] = src;
		src = NULL;
	} else if (!img) {
		s->images_gen++;	/* a load that read the record before: redo */
	}
	pthread_mutex_unlock(&s->lock);
	store_src_free(src);
}

/*
 * make_room_locked - keep @rec (image @id's record) under STORE_SOURCES_MAX
 * sources before one is added: the oldest source after the first that no
 * tag was pulled as leaves the record (a loaded image keeps it in memory
 * until freed; its blobs go with the next delete or sweep).  Else -ENOSPC
 * (logged).  Caller holds meta_lock.
 */
static int make_room_locked(struct store *s, const char *id, struct store_record *rec)
{
	if (rec->n < STORE_SOURCES_MAX)
		return 0;
	for (size_t k = 1; k < rec->n; k++) {
		if (store_tags_name_source_locked(s, id, rec->v[k].mdigest))
			continue;
		log_info("image %.12s: %zu sources: dropping %s/%s manifest %s, which no tag names",
			 id, rec->n, rec->v[k].host, rec->v[k].repo, rec->v[k].mdigest);
		free(rec->v[k].host);
		free(rec->v[k].repo);
		memmove(&rec->v[k], &rec->v[k + 1], (rec->n - k - 1) * sizeof(rec->v[0]));
		rec->n--;
		return 0;
	}
	log_err("image %.12s: %zu sources, each named by a tag: no other is added", id, rec->n);
	return -ENOSPC;
}

/* store_image_add(), and the tags of store_image_add_tagged(). */
static int image_add(struct store *s, const char *manifest, size_t len,
		     const char *host, const char *repo,
		     struct store_tag_name *tags, size_t n, char id[65],
		     bool *recorded)
{
	struct registry_manifest m = { 0 };
	enum registry_doc_kind kind;
	struct store_record rec = { 0 };
	struct buf cfg;
	char mdigest[72];
	bool remote = host && repo;
	int ret;

	buf_init(&cfg, STORE_CONFIG_MAX);
	ret = registry_doc_kind_of(manifest, len, NULL, &kind);
	if (!ret && kind != REGISTRY_DOC_MANIFEST)
		ret = -EINVAL;
	if (!ret)
		ret = registry_manifest_parse(manifest, len, &m);
	if (ret) {
		log_err("store: adding an image: not an image manifest (%s)", strerror(-ret));
		return ret;
	}
	ret = store_manifest_check("store: adding an image", &m);
	if (ret)
		goto out;

	/* meta_lock: no blob GC between checking the blobs and the record. */
	pthread_mutex_lock(&s->meta_lock);
	ret = store_blob_read(s, m.config.digest, STORE_CONFIG_MAX, &cfg);
	if (ret) {
		log_err("store: adding an image: config %s: %s", m.config.digest,
			strerror(-ret));
		goto unlock;
	}
	ret = check_config(m.config.digest, cfg.data, cfg.len, m.n_layers);
	if (ret)
		goto unlock;
	for (size_t i = 0; !remote && i < m.n_layers; i++) {
		if (!store_blob_has(s, m.layers[i].digest)) {
			log_err("store: adding image %.12s: layer %s is not local",
				m.config.digest + 7, m.layers[i].digest);
			ret = -ENOENT;
			goto unlock;
		}
	}
	ret = store_blob_add(s, manifest, len, mdigest);
	if (ret)
		goto unlock;
	memcpy(id, m.config.digest + 7, 65);
	ret = store_record_read(s, id, &rec);
	if (ret == -ENOENT) {
		ret = store_record_add(&rec, remote ? host : NULL, remote ? repo : NULL, mdigest);
		if (!ret)
			ret = store_record_write(s, id, &rec);
		*recorded = ret == 0;
		goto unlock;
	}
	if (ret || !remote || store_record_has(&rec, host, repo, mdigest))
		goto unlock;	/* exists with this source: keep its record */
	ret = make_room_locked(s, id, &rec);
	if (!ret)
		ret = store_record_add(&rec, host, repo, mdigest);
	if (!ret)
		ret = store_record_write(s, id, &rec);
	if (!ret)
		src_attach(s, id, &rec.v[rec.n - 1], m.n_layers);
	if (!ret)
		log_info("image %.12s: another source: %s/%s manifest %s", id, host,
			 repo, mdigest);
unlock:
	if (!ret && n)
		ret = store_tags_set_locked(s, id, tags, n);
	pthread_mutex_unlock(&s->meta_lock);
out:
	registry_manifest_release(&m);
	buf_release(&cfg);
	store_record_release(&rec);
	return ret;
}

int store_image_add(struct store *s, const char *manifest, size_t len,
		    const char *host, const char *repo, char id[65])
{
	bool recorded = false;

	return image_add(s, manifest, len, host, repo, NULL, 0, id, &recorded);
}

int store_image_add_tagged(struct store *s, const char *manifest, size_t len,
			   struct store_tag_name *tags, size_t n, char id[65],
			   bool *recorded)
{
	int ret;

	*recorded = false;
	if (manifest)
		return image_add(s, manifest, len, NULL, NULL, tags, n, id, recorded);
	pthread_mutex_lock(&s->meta_lock);
	ret = store_tags_set_locked(s, id, tags, n);
	pthread_mutex_unlock(&s->meta_lock);
	return ret;
}

/* ---- deleting --------------------------------------------------------- */

static int set_add(struct htab *set, const char *digest)
{
	if (!digest || !registry_digest_valid(digest))
		return 0;
	return htab_set(set, digest, (void *)set, NULL);
}

/* Every digest image @id uses (each source's manifest, config, layers)
 * into @set. */
static int image_digests(struct store *s, const char *id, struct htab *set)
{
	struct store_record rec;
	int ret;

	ret = store_record_read(s, id, &rec);
	if (ret)
		return ret;
	for (size_t k = 0; !ret && k < rec.n; k++) {
		struct registry_manifest m = { 0 };
		struct buf mb;

		ret = set_add(set, rec.v[k].mdigest);
		if (!ret)
			ret = store_blob_read(s, rec.v[k].mdigest, BUF_MANIFEST_MAX, &mb);
		if (ret == -ENOENT) {
			ret = 0;	/* nothing more to find */
			continue;
		}
		if (ret)
			break;
		ret = registry_manifest_parse(mb.data, mb.len, &m);
		buf_release(&mb);
		if (!ret)
			ret = set_add(set, m.config.digest);
		for (size_t i = 0; !ret && i < m.n_layers; i++)
			ret = set_add(set, m.layers[i].digest);
		registry_manifest_release(&m);
	}
	store_record_release(&rec);
	return ret;
}

/*
 * free_blobs_locked - remove the blobs (and layer indexes) of @cand that no
 * remaining record references; @what names the cause in the log.  Caller
 * holds s->meta_lock.  If any record cannot be read nothing is
 * freed: an unknown reference must not lose a blob.
 */
static void free_blobs_locked(struct store *s, const char *what, struct htab *cand)
{
	struct htab used;
	char **ids = NULL;
	size_t n = 0, it, freed = 0;
	int ret;

	if (htab_init(&used))
		return;
	ret = scan_records(s, &ids, &n);
	for (size_t i = 0; !ret && i < n; i++)
		ret = image_digests(s, ids[i], &used);
	ids_free(ids, n);
	if (ret) {
		log_warn("%.12s: blobs kept: cannot read every image record (%s)",
			 what, strerror(-ret));
		goto out;
	}
	for (struct htab_ent *e = htab_first(cand, &it); e; e = htab_next(cand, &it, e)) {
		const char *hex = e->key + 7;

		if (htab_get(&used, e->key))
			continue;
		if (store_blob_unlink(s, hex) == 0)
			freed++;
	}
	file_fsync_dir(s->blobs_fd);
	file_fsync_dir(s->index_fd);
	log_debug("%.12s: %zu blob(s) freed", what, freed);
out:
	htab_release(&used);
}

int store_image_delete_locked(struct store *s, const char *id)
{
	struct store_image *img, *free_it = NULL;
	struct htab cand;
	char name[80];
	int ret, busy = 0;

	ret = htab_init(&cand);
	if (ret)
		return ret;
	ret = image_digests(s, id, &cand);
	if (ret)
		goto out;
	pthread_mutex_lock(&s->lock);
	img = htab_get(&s->images, id);
	if (img && img->busy > 0) {
		busy = img->busy;
	} else {
		/* Leave the cache now: holders keep their copy until put. */
		if (img) {
			htab_del(&s->images, id);
			img->deleted = true;
			if (img->refs == 0)
				free_it = img;
			else
				store_layer_fds_drop(img);
		}
		s->images_gen++;
	}
	pthread_mutex_unlock(&s->lock);
	if (busy) {
		log_warn("image %.12s is in use: %d open files", id, busy);
		ret = -EBUSY;
		goto out;
	}
	store_image_free(free_it);
	ret = store_tags_drop_locked(s, NULL, id);
	if (ret)
		goto out;
	store_record_name(id, name);
	if (unlinkat(s->images_fd, name, 0) < 0) {
		ret = -errno;
		goto out;
	}
	ret = file_fsync_dir(s->images_fd);
	if (ret)
		goto out;
	log_info("image %.12s deleted", id);
	free_blobs_locked(s, id, &cand);
out:
	htab_release(&cand);
	return ret;
}

int store_image_delete(struct store *s, const char *id)
{
	char full[65];
	int ret;

	pthread_mutex_lock(&s->meta_lock);
	ret = store_image_resolve(s, id, full);
	if (!ret)
		ret = store_image_delete_locked(s, full);
	pthread_mutex_unlock(&s->meta_lock);
	return ret;
}

int store_image_delete_dangling(struct store *s, const char *id)
{
	char full[65];
	bool tagged = false;
	int ret;

	pthread_mutex_lock(&s->meta_lock);
	ret = store_image_resolve(s, id, full);
	if (!ret) {
		pthread_mutex_lock(&s->lock);
		tagged = store_tags_name_id_locked(s, full, NULL);
		pthread_mutex_unlock(&s->lock);
	}
	/* A tag made since the caller saw the image in dangling/ (an
	 * import records its image, then tags it) took it out of there. */
	if (!ret && tagged)
		ret = -ENOENT;
	if (!ret)
		ret = store_image_delete_locked(s, full);
	pthread_mutex_unlock(&s->meta_lock);
	return ret;
}

int store_blob_remove_unreferenced(struct store *s, const char *const *digests,
				   size_t n)
{
	struct htab cand;
	int ret;

	ret = htab_init(&cand);
	if (ret)
		return ret;
	for (size_t i = 0; !ret && i < n; i++)
		ret = set_add(&cand, digests[i]);
	if (!ret) {
		pthread_mutex_lock(&s->meta_lock);
		free_blobs_locked(s, "(import)", &cand);
		pthread_mutex_unlock(&s->meta_lock);
	}
	htab_release(&cand);
	return ret;
}

/*
 * store_blob_sweep - free every blob no image record references.  Run at
 * open, when nothing is in flight: a crash between a blob's rename into
 * blobs/ and the record that uses it (an import, a load) leaves such a
 * blob, and nothing else would ever remove it.
 */
int store_blob_sweep(struct store *s)
{
	struct htab cand;
	struct dirent *d;
	DIR *dir;
	int fd, ret;

	ret = htab_init(&cand);
	if (ret)
		return ret;
	fd = dup(s->blobs_fd);
	dir = fd >= 0 ? fdopendir(fd) : NULL;
	if (!dir) {
		ret = -errno;
		if (fd >= 0)
			close(fd);
		goto out;
	}
	while (!ret && (d = readdir(dir)) != NULL) {
		char digest[80];

		if (snprintf(digest, sizeof(digest), "sha256:%s", d->d_name) >=
		    (int)sizeof(digest))
			continue;
		ret = set_add(&cand, digest);
	}
	closedir(dir);
	if (!ret && cand.n) {
		pthread_mutex_lock(&s->meta_lock);
		free_blobs_locked(s, "(sweep)", &cand);
		pthread_mutex_unlock(&s->meta_lock);
	}
out:
	htab_release(&cand);
	return ret;
}
