/* SPDX-License-Identifier: MIT */
/*
 * save.c - `docker save` generated on demand (save.h): the member list of
 * a Docker 25+ archive for local images, and reads of any range of it.
 *
 * Owns: struct store_save, its members' metadata contents, the image
 * references it holds and the layer blob descriptors it opens.
 *
 * The archive is what Docker 25+ writes, member for member, in the order
 * its directory walk gives (names sorted):
 *   blobs/  blobs/sha256/  blobs/sha256/<hex>...   every blob once
 *   index.json      one manifest descriptor per tag (io.containerd.image.name
 *                   the full reference, org.opencontainers.image.ref.name
 *                   the tag), or one without annotations when untagged
 *   manifest.json   [{"Config":..., "RepoTags":[...]|null, "Layers":[...]}]
 *   oci-layout      {"imageLayoutVersion":"1.0.0"}
 *   repositories    {"<familiar repo>":{"<tag>":"<top layer hex>"}}, only
 *                   when something is tagged
 * with two differences, both so that nothing has to be recomputed or
 * stored twice: a layer is the blob the store keeps (compressed layers
 * stay compressed; manifest.json's Layers name them, which docker load,
 * podman load and skopeo accept since they decompress what they read),
 * and Docker's unreferenced per-layer v1 JSON blobs are left out (no
 * loader reads them when manifest.json is there).  The manifest is the
 * stored one when it is an OCI manifest of OCI media types (so its digest
 * is the registry's); otherwise (a Docker schema 2 manifest) an OCI
 * manifest of the same config and layers is made, the media types mapped
 * (umoci reads only OCI types).  The config's bytes never change, so the
 * image ID survives a save and load.
 *
 * Headers are ustar, uid/gid 0, mode 0644 (0755 for directories),
 * mtime the image's creation time for blobs and 0 for the rest, made
 * when a read reaches them; sizes of 8 GiB or more use the base-256 size
 * field GNU tar, libarchive and Go read.  The archive ends with two zero
 * blocks, unpadded (as Go's writer does).
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "import_int.h"
#include "save.h"

#define SAVE_BLOCK 512u
#define SAVE_BLOBS "blobs/sha256/"
#define SAVE_NAME_MAX 100	/* the ustar name field */
#define SAVE_OCT_SIZE_MAX ((uint64_t)077777777777)	/* 11 octal digits */
#define SAVE_ANN_NAME "io.containerd.image.name"
#define SAVE_ANN_REF "org.opencontainers.image.ref.name"

enum save_src { SRC_NONE, SRC_MEM, SRC_LAYER };

struct save_member {
	struct store_save_member pub;
	char name[SAVE_NAME_MAX];
	int64_t mtime;
	uint64_t hdr_off;		/* where its header starts */
	enum save_src src;
	const char *mem;		/* SRC_MEM: its content */
	size_t img;			/* the image it comes from */
	size_t layer;			/* SRC_LAYER: layer index */
	int fd;				/* SRC_LAYER: sv->lock; -1 until read */
};

struct save_img {
	struct store_image *img;
	char *manifest;			/* the OCI manifest's exact bytes */
	size_t manifest_len;
	char manifest_digest[IMPORT_DIGEST_SZ];
	const struct store_save_item *item;	/* only while building */
};

struct store_save {
	struct save_member *mem;
	size_t n, cap;
	struct save_img *imgs;
	size_t n_imgs;
	char *meta[3];			/* index.json, manifest.json, repositories */
	uint64_t size;
	pthread_mutex_t lock;		/* guards members' fd */
};

static int save_sha256(const void *d, size_t n, char out[IMPORT_DIGEST_SZ])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int len = 0;

	if (!EVP_Digest(d, n, md, &len, EVP_sha256(), NULL) || len != 32)
		return -EIO;
	memcpy(out, REGISTRY_DIGEST_PREFIX, sizeof(REGISTRY_DIGEST_PREFIX) - 1);
	for (unsigned int i = 0; i < len; i++)
		snprintf(out + sizeof(REGISTRY_DIGEST_PREFIX) - 1 + 2 * i, 3,
			 "%02x", md[i]);
	return 0;
}

/* The OCI layer media type of a layer of compression @mt, or @mt itself
 * when it names none we know. */
static const char *save_layer_type(const char *mt)
{
	switch (registry_layer_compression(mt)) {
	case REGISTRY_COMP_NONE:
		return REGISTRY_MT_OCI_LAYER;
	case REGISTRY_COMP_GZIP:
		return REGISTRY_MT_OCI_LAYER_GZIP;
	case REGISTRY_COMP_ZSTD:
		return REGISTRY_MT_OCI_LAYER_ZSTD;
	default:
		return mt;
	}
}

/* Whether the stored manifest is already OCI through and through. */
static bool save_manifest_is_oci(const struct registry_manifest *m)
{
	if (m->media_type && strcmp(m->media_type, REGISTRY_MT_OCI_MANIFEST) != 0)
		return false;
	if (!m->config.media_type || strcmp(m->config.media_type, REGISTRY_MT_OCI_CONFIG) != 0)
		return false;
	for (size_t i = 0; i < m->n_layers; i++)
		if (!m->layers[i].media_type ||
		    strcmp(m->layers[i].media_type, save_layer_type(m->layers[i].media_type)) != 0)
			return false;
	return true;
}

/* The OCI manifest @si is saved with, and its digest. */
static int save_manifest(struct save_img *si)
{
	const struct buf *stored = store_image_manifest(si->img);
	struct registry_manifest m;
	struct registry_desc cfg = { 0 }, *layers = NULL;
	char cfg_digest[IMPORT_DIGEST_SZ];
	int ret;

	ret = registry_manifest_parse(stored->data, stored->len, &m);
	if (ret)
		return ret;
	if (save_manifest_is_oci(&m)) {
		si->manifest = malloc(stored->len + 1);
		ret = si->manifest ? 0 : -ENOMEM;
		if (!ret) {
			memcpy(si->manifest, stored->data, stored->len);
			si->manifest_len = stored->len;
		}
		goto digest;
	}
	snprintf(cfg_digest, sizeof(cfg_digest), "%s%s", REGISTRY_DIGEST_PREFIX,
		 store_image_id(si->img));
	cfg.media_type = (char *)REGISTRY_MT_OCI_CONFIG;
	cfg.digest = cfg_digest;
	cfg.size = (int64_t)store_image_config(si->img)->len;
	layers = calloc(m.n_layers ? m.n_layers : 1, sizeof(*layers));
	if (!layers) {
		ret = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < m.n_layers; i++) {
		layers[i] = m.layers[i];
		layers[i].media_type = (char *)save_layer_type(m.layers[i].media_type);
	}
	ret = import_manifest_json(&cfg, layers, m.n_layers, &si->manifest,
				   &si->manifest_len);
digest:
	if (!ret)
		ret = save_sha256(si->manifest, si->manifest_len, si->manifest_digest);
out:
	free(layers);
	registry_manifest_release(&m);
	return ret;
}

static struct save_member *save_add(struct store_save *sv, const char *name,
				    bool is_dir)
{
	struct save_member *e;

	if (sv->n == sv->cap) {
		size_t ncap = sv->cap ? sv->cap * 2 : 16;
		struct save_member *p = realloc(sv->mem, ncap * sizeof(*p));

		if (!p)
			return NULL;
		sv->mem = p;
		sv->cap = ncap;
	}
	e = &sv->mem[sv->n++];
	memset(e, 0, sizeof(*e));
	snprintf(e->name, sizeof(e->name), "%s", name);
	e->pub.is_dir = is_dir;
	e->fd = -1;
	return e;
}

static int save_add_blob(struct store_save *sv, size_t img, const char *digest,
			 uint64_t size, enum save_src src, const char *mem,
			 size_t layer)
{
	char name[SAVE_NAME_MAX];
	struct save_member *e;

	if (!registry_digest_valid(digest))
		return -EINVAL;
	snprintf(name, sizeof(name), SAVE_BLOBS "%s", IMPORT_HEX(digest));
	e = save_add(sv, name, false);
	if (!e)
		return -ENOMEM;
	e->pub.size = size;
	e->mtime = store_image_created(sv->imgs[img].img);
	e->src = src;
	e->mem = mem;
	e->img = img;
	e->layer = layer;
	return 0;
}

/* Blobs by name; of one blob saved by several images, the first image's
 * (the order of the members is then a function of the input alone). */
static int save_cmp(const void *a, const void *b)
{
	const struct save_member *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	if (c)
		return c;
	if (x->img != y->img)
		return x->img < y->img ? -1 : 1;
	return x->layer < y->layer ? -1 : x->layer > y->layer;
}

/* "ubuntu:14.04" for docker.io/library/ubuntu:14.04, as RepoTags has it. */
static char *save_familiar(const struct store_tag *t, bool with_tag)
{
	char *repo = registry_ref_familiar(t->host, t->repo, NULL);
	char *s = NULL;

	if (!repo || !with_tag)
		return repo;
	if (asprintf(&s, "%s:%s", repo, t->tag) < 0)
		s = NULL;
	free(repo);
	return s;
}

static int save_json_take(json_t *parent, const char *key, json_t *v)
{
	if (!v)
		return -ENOMEM;
	return json_object_set_new(parent, key, v) ? -ENOMEM : 0;
}

static int save_dump(json_t *root, size_t flags, bool newline, char **out)
{
	char *s = json_dumps(root, JSON_COMPACT | flags);

	if (!s)
		return -ENOMEM;
	if (newline) {
		char *t = NULL;

		if (asprintf(&t, "%s\n", s) < 0)
			t = NULL;
		free(s);
		s = t;
	}
	*out = s;
	return s ? 0 : -ENOMEM;
}

/* index.json: one descriptor per tag of each image, or one per image
 * without tags. */
static int save_index_json(struct store_save *sv, unsigned flags, char **out)
{
	json_t *root = json_object(), *arr = json_array();
	int ret = -ENOMEM;

	if (!root || !arr)
		goto out;
	for (size_t i = 0; i < sv->n_imgs; i++) {
		const struct save_img *si = &sv->imgs[i];
		size_t n = si->item->n_tags ? si->item->n_tags : 1;

		for (size_t t = 0; t < n; t++) {
			json_t *d = json_object(), *ann = NULL;
			char *full = NULL;

			ret = d ? 0 : -ENOMEM;
			if (!ret)
				ret = json_array_append_new(arr, d) ? -ENOMEM : 0;
			if (!ret)
				ret = save_json_take(d, "mediaType", json_string(REGISTRY_MT_OCI_MANIFEST));
			if (!ret)
				ret = save_json_take(d, "digest", json_string(si->manifest_digest));
			if (!ret)
				ret = save_json_take(d, "size", json_integer((json_int_t)si->manifest_len));
			if (ret)
				goto out;
			if (si->item->n_tags) {
				const struct store_tag *tg = &si->item->tags[t];

				if (asprintf(&full, "%s/%s:%s", tg->host, tg->repo, tg->tag) < 0)
					goto out;
				ann = json_object();
				ret = save_json_take(d, "annotations", ann);
				if (!ret)
					ret = save_json_take(ann, SAVE_ANN_NAME, json_string(full));
				if (!ret)
					ret = save_json_take(ann, SAVE_ANN_REF, json_string(tg->tag));
				free(full);
			} else if (flags & STORE_SAVE_LAYOUT) {
				ann = json_object();
				ret = save_json_take(d, "annotations", ann);
				if (!ret)
					ret = save_json_take(ann, SAVE_ANN_REF, json_string("latest"));
			}
			if (ret)
				goto out;
		}
	}
	ret = -ENOMEM;
	if (save_json_take(root, "schemaVersion", json_integer(2)) ||
	    save_json_take(root, "mediaType", json_string(REGISTRY_MT_OCI_INDEX)))
		goto out;
	ret = json_object_set_new(root, "manifests", arr) ? -ENOMEM : 0;
	arr = NULL;
	if (!ret)
		ret = save_dump(root, JSON_PRESERVE_ORDER, false, out);
out:
	json_decref(arr);
	json_decref(root);
	return ret;
}

/* manifest.json and repositories (*@repos NULL when nothing is tagged). */
static int save_manifest_json(struct store_save *sv, char **out, char **repos)
{
	json_t *arr = json_array(), *rep = json_object();
	int ret = -ENOMEM;

	*repos = NULL;
	if (!arr || !rep)
		goto out;
	for (size_t i = 0; i < sv->n_imgs; i++) {
		const struct save_img *si = &sv->imgs[i];
		size_t nl = store_image_n_layers(si->img);
		json_t *o = json_object(), *tags, *layers;
		char path[SAVE_NAME_MAX];

		if (!o || json_array_append_new(arr, o))
			goto out;
		snprintf(path, sizeof(path), SAVE_BLOBS "%s", store_image_id(si->img));
		if ((ret = save_json_take(o, "Config", json_string(path))))
			goto out;
		tags = si->item->n_tags ? json_array() : json_null();
		if ((ret = save_json_take(o, "RepoTags", tags)))
			goto out;
		layers = json_array();
		if ((ret = save_json_take(o, "Layers", layers)))
			goto out;
		for (size_t l = 0; l < nl; l++) {
			snprintf(path, sizeof(path), SAVE_BLOBS "%s",
				 IMPORT_HEX(store_image_layer(si->img, l)->digest));
			if (json_array_append_new(layers, json_string(path)))
				goto fail;
		}
		for (size_t t = 0; t < si->item->n_tags; t++) {
			const struct store_tag *tg = &si->item->tags[t];
			char *name = save_familiar(tg, true), *repo = save_familiar(tg, false);
			json_t *r;

			ret = name && repo && !json_array_append_new(tags, json_string(name)) ? 0 : -ENOMEM;
			free(name);
			if (!ret && nl) {
				r = json_object_get(rep, repo);
				if (!r && json_object_set_new(rep, repo, r = json_object()))
					ret = -ENOMEM;
				if (!ret && (!r || json_object_set_new(r, tg->tag,
						json_string(IMPORT_HEX(store_image_layer(si->img, nl - 1)->digest)))))
					ret = -ENOMEM;
			}
			free(repo);
			if (ret)
				goto out;
		}
	}
	ret = save_dump(arr, JSON_PRESERVE_ORDER, true, out);
	if (!ret && json_object_size(rep))
		ret = save_dump(rep, JSON_SORT_KEYS, true, repos);
	goto out;
fail:
	ret = -ENOMEM;
out:
	json_decref(arr);
	json_decref(rep);
	return ret;
}

static int save_meta(struct store_save *sv, const char *name, const char *data)
{
	struct save_member *e = save_add(sv, name, false);

	if (!e)
		return -ENOMEM;
	e->src = SRC_MEM;
	e->mem = data;
	e->pub.size = strlen(data);
	e->pub.mutable = strcmp(name, "oci-layout") != 0;
	return 0;
}

static const char save_layout[] = "{\"imageLayoutVersion\":\"1.0.0\"}";

static int save_build(struct store_save *sv, unsigned flags)
{
	size_t first_blob, nb = 0;
	uint64_t off = 0;
	int ret;

	if (!save_add(sv, "blobs/", true) || !save_add(sv, SAVE_BLOBS, true))
		return -ENOMEM;
	first_blob = sv->n;
	for (size_t i = 0; i < sv->n_imgs; i++) {
		struct save_img *si = &sv->imgs[i];
		const struct buf *cfg = store_image_config(si->img);
		char cfg_digest[IMPORT_DIGEST_SZ];

		ret = save_manifest(si);
		if (ret)
			return ret;
		snprintf(cfg_digest, sizeof(cfg_digest), "%s%s", REGISTRY_DIGEST_PREFIX,
			 store_image_id(si->img));
		ret = save_add_blob(sv, i, si->manifest_digest, si->manifest_len,
				    SRC_MEM, si->manifest, 0);
		if (!ret)
			ret = save_add_blob(sv, i, cfg_digest, cfg->len, SRC_MEM, cfg->data, 0);
		for (size_t l = 0; !ret && l < store_image_n_layers(si->img); l++) {
			const struct registry_desc *d = store_image_layer(si->img, l);

			ret = save_add_blob(sv, i, d->digest, (uint64_t)d->size, SRC_LAYER, NULL, l);
		}
		if (ret)
			return ret;
	}
	qsort(sv->mem + first_blob, sv->n - first_blob, sizeof(*sv->mem), save_cmp);
	for (size_t i = first_blob; i < sv->n; i++)
		if (nb == 0 || strcmp(sv->mem[first_blob + nb - 1].name, sv->mem[i].name) != 0)
			sv->mem[first_blob + nb++] = sv->mem[i];
	sv->n = first_blob + nb;

	ret = save_index_json(sv, flags, &sv->meta[0]);
	if (!ret && !(flags & STORE_SAVE_LAYOUT))
		ret = save_manifest_json(sv, &sv->meta[1], &sv->meta[2]);
	if (!ret)
		ret = save_meta(sv, "index.json", sv->meta[0]);
	if (!ret && sv->meta[1])
		ret = save_meta(sv, "manifest.json", sv->meta[1]);
	if (!ret)
		ret = save_meta(sv, "oci-layout", save_layout);
	if (!ret && sv->meta[2])
		ret = save_meta(sv, "repositories", sv->meta[2]);
	if (ret)
		return ret;
	for (size_t i = 0; i < sv->n; i++) {
		sv->mem[i].pub.name = sv->mem[i].name;
		sv->mem[i].hdr_off = off;
		off += SAVE_BLOCK + (sv->mem[i].pub.size + SAVE_BLOCK - 1) / SAVE_BLOCK * SAVE_BLOCK;
	}
	sv->size = off + 2 * SAVE_BLOCK;
	return 0;
}

int store_save_new(struct store *s, const struct store_save_item *items,
		   size_t n, unsigned flags, struct store_save **out)
{
	struct store_save *sv;
	int ret;

	*out = NULL;
	if (!n)
		return -EINVAL;
	sv = calloc(1, sizeof(*sv));
	if (!sv)
		return -ENOMEM;
	pthread_mutex_init(&sv->lock, NULL);
	sv->imgs = calloc(n, sizeof(*sv->imgs));
	if (!sv->imgs) {
		ret = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		struct save_img *si = &sv->imgs[sv->n_imgs];

		for (size_t t = 0; t < items[i].n_tags; t++)
			if (!registry_host_valid(items[i].tags[t].host) ||
			    !registry_repo_valid(items[i].tags[t].repo) ||
			    !registry_tag_valid(items[i].tags[t].tag)) {
				ret = -EINVAL;
				goto out;
			}
		ret = store_image_get(s, items[i].id, &si->img);
		if (ret)
			goto out;
		sv->n_imgs++;
		si->item = &items[i];
		if (strcmp(store_image_id(si->img), items[i].id) != 0) {
			ret = -ENOENT;
			goto out;
		}
	}
	ret = save_build(sv, flags);
out:
	for (size_t i = 0; i < sv->n_imgs; i++)
		sv->imgs[i].item = NULL;
	if (ret) {
		store_save_free(s, sv);
		return ret;
	}
	*out = sv;
	return 0;
}

int store_save_image(struct store *s, const char *id, unsigned flags,
		     struct store_save **out)
{
	struct store_tag *tags = NULL;
	struct store_save_item item = { .id = id };
	size_t n = 0, k = 0;
	int ret;

	ret = store_tag_list(s, &tags, &n);
	if (ret)
		return ret;
	/* Keep this image's tags at the front, in the list's order. */
	for (size_t i = 0; i < n; i++) {
		if (strcmp(tags[i].id, id) != 0)
			continue;
		if (i != k) {
			struct store_tag t = tags[k];

			tags[k] = tags[i];
			tags[i] = t;
		}
		k++;
	}
	item.tags = tags;
	item.n_tags = k;
	ret = store_save_new(s, &item, 1, flags, out);
	store_tag_list_free(tags, n);
	return ret;
}

void store_save_free(struct store *s, struct store_save *sv)
{
	if (!sv)
		return;
	/* Layer descriptors are the store's, shared with layers/ files. */
	for (size_t i = 0; i < sv->n; i++)
		if (sv->mem[i].fd >= 0)
			store_image_layer_close(s, sv->imgs[sv->mem[i].img].img,
						sv->mem[i].layer);
	for (size_t i = 0; i < sv->n_imgs; i++) {
		free(sv->imgs[i].manifest);
		store_image_put(s, sv->imgs[i].img);
	}
	for (size_t i = 0; i < sizeof(sv->meta) / sizeof(sv->meta[0]); i++)
		free(sv->meta[i]);
	pthread_mutex_destroy(&sv->lock);
	free(sv->imgs);
	free(sv->mem);
	free(sv);
}

uint64_t store_save_size(const struct store_save *sv)
{
	return sv->size;
}

size_t store_save_n_members(const struct store_save *sv)
{
	return sv->n;
}

const struct store_save_member *store_save_member(const struct store_save *sv,
						  size_t i)
{
	return i < sv->n ? &sv->mem[i].pub : NULL;
}

int store_save_find(const struct store_save *sv, const char *name, size_t *i)
{
	for (size_t k = 0; k < sv->n; k++)
		if (strcmp(sv->mem[k].name, name) == 0) {
			*i = k;
			return 0;
		}
	return -ENOENT;
}

/* A numeric header field of @w bytes: @w - 1 octal digits (@v fits) and
 * a NUL. */
static void save_octal(char *f, size_t w, uint64_t v)
{
	f[w - 1] = '\0';
	for (size_t i = w - 1; i-- > 0; v >>= 3)
		f[i] = (char)('0' + (v & 7));
}

static void save_header(const struct save_member *e, unsigned char h[SAVE_BLOCK])
{
	char *c = (char *)h;
	unsigned int sum = 0;

	memset(h, 0, SAVE_BLOCK);
	memcpy(c, e->name, strlen(e->name));
	save_octal(c + 100, 8, e->pub.is_dir ? 0755 : 0644);
	save_octal(c + 108, 8, 0);
	save_octal(c + 116, 8, 0);
	if (e->pub.size <= SAVE_OCT_SIZE_MAX) {
		save_octal(c + 124, 12, e->pub.size);
	} else {
		/* base-256: the high bit of the first byte set, big-endian */
		h[124] = 0x80;
		for (int i = 0; i < 8; i++)
			h[135 - i] = (unsigned char)(e->pub.size >> (8 * i));
	}
	save_octal(c + 136, 12, e->mtime > 0 ? (uint64_t)e->mtime : 0);
	memset(c + 148, ' ', 8);
	c[156] = e->pub.is_dir ? '5' : '0';
	memcpy(c + 257, "ustar", 6);
	memcpy(c + 263, "00", 2);
	save_octal(c + 329, 8, 0);
	save_octal(c + 337, 8, 0);
	for (size_t i = 0; i < SAVE_BLOCK; i++)
		sum += h[i];
	save_octal(c + 148, 7, sum);
	c[155] = ' ';
}

/* The descriptor of member @e's layer blob, opened by the first reader. */
static int save_layer_fd(struct store *s, struct store_save *sv,
			 struct save_member *e, int *fd)
{
	int mine = -1, ret = 0;

	pthread_mutex_lock(&sv->lock);
	*fd = e->fd;
	pthread_mutex_unlock(&sv->lock);
	if (*fd >= 0)
		return 0;
	/* Fetched without the lock held: the store dedups concurrent
	 * fetches of one blob. */
	ret = store_image_layer_open(s, sv->imgs[e->img].img, e->layer, &mine);
	if (ret)
		return ret;
	pthread_mutex_lock(&sv->lock);
	if (e->fd < 0) {
		e->fd = mine;
		mine = -1;
	}
	*fd = e->fd;
	pthread_mutex_unlock(&sv->lock);
	if (mine >= 0)	/* another reader opened it first */
		store_image_layer_close(s, sv->imgs[e->img].img, e->layer);
	return 0;
}

/* Content bytes of member @e at @off (< its size). */
static int save_content(struct store *s, struct store_save *sv,
			struct save_member *e, char *dst, size_t len,
			uint64_t off)
{
	size_t done = 0;
	int fd, ret;

	if (e->src == SRC_MEM) {
		memcpy(dst, e->mem + off, len);
		return 0;
	}
	if (e->src != SRC_LAYER)
		return -EIO;
	ret = save_layer_fd(s, sv, e, &fd);
	if (ret)
		return ret;
	while (done < len) {
		ssize_t n = pread(fd, dst + done, len - done, (off_t)(off + done));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)	/* the blob is shorter than its descriptor */
			return -EIO;
		done += (size_t)n;
	}
	return 0;
}

int store_save_member_read(struct store *s, struct store_save *sv, size_t i,
			   void *dst, size_t len, uint64_t off, size_t *got)
{
	struct save_member *e;

	*got = 0;
	if (i >= sv->n)
		return -EINVAL;
	e = &sv->mem[i];
	if (off >= e->pub.size || !len)
		return 0;
	if (len > e->pub.size - off)
		len = (size_t)(e->pub.size - off);
	*got = len;
	return save_content(s, sv, e, dst, len, off);
}

/* The last member whose header starts at or before @off. */
static size_t save_member_at(const struct store_save *sv, uint64_t off)
{
	size_t lo = 0, hi = sv->n;

	while (hi - lo > 1) {
		size_t mid = lo + (hi - lo) / 2;

		if (sv->mem[mid].hdr_off <= off)
			lo = mid;
		else
			hi = mid;
	}
	return lo;
}

int store_save_read(struct store *s, struct store_save *sv, void *dst,
		    size_t len, uint64_t off, size_t *got)
{
	char *out = dst;
	size_t done = 0;
	int ret = 0;

	*got = 0;
	if (off >= sv->size)
		return 0;
	if (len > sv->size - off)
		len = (size_t)(sv->size - off);
	while (done < len && !ret) {
		uint64_t pos = off + done;
		size_t i = save_member_at(sv, pos), n;
		struct save_member *e = &sv->mem[i];
		uint64_t rel = pos - e->hdr_off;

		if (rel < SAVE_BLOCK) {
			unsigned char h[SAVE_BLOCK];

			save_header(e, h);
			n = SAVE_BLOCK - (size_t)rel;
			n = n < len - done ? n : len - done;
			memcpy(out + done, h + rel, n);
		} else if (rel - SAVE_BLOCK < e->pub.size) {
			uint64_t c = rel - SAVE_BLOCK, left = e->pub.size - c;

			n = left < len - done ? (size_t)left : len - done;
			ret = save_content(s, sv, e, out + done, n, c);
		} else {
			/* padding, or past the last member: the end blocks */
			uint64_t end = i + 1 < sv->n ? sv->mem[i + 1].hdr_off : sv->size;
			uint64_t left = end - pos;

			n = left < len - done ? (size_t)left : len - done;
			memset(out + done, 0, n);
		}
		done += n;
	}
	if (ret)
		return ret;
	*got = done;
	return 0;
}
