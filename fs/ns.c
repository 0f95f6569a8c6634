/* SPDX-License-Identifier: MIT */
/*
 * ns.c - the namespace: what each kind of node is, contains and looks
 * like (stat).  No FUSE here: the handlers in ops.c call these and reply.
 *
 * Image nodes hold a store image reference (tmpl->img), taken here at
 * lookup and released when the kernel forgets the node, so an image's
 * merged tree stays in memory exactly as long as the kernel may use it.
 *
 * Manifest variants.  One image (one config) may have several manifests,
 * one per source (store_image_source()), and a tag shows the one it was
 * pulled as: its link names by-id/<name>@<hex>, <hex> the full hex of
 * that manifest's digest, when it is not the image's first.  by-id/ does
 * not list these; a lookup finds one only while the image's record names
 * that source.  Its manifest and layers/ are the source's; config and
 * rootfs/ are the image's (the rootfs is what the config's diff_ids say,
 * whichever source's blobs give them).  It has no image.tar or oci/:
 * those are generated from the image's first manifest (save.h), and
 * showing them under a tag of another would mix the two.
 */
#include <errno.h>
#include <stdarg.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "fs.h"
#include "log.h"
#include "registry.h"
#include "save.h"

#define LAYER_NAME_FMT "%02zu-%s"

int fs_dirlist_add(struct fs_dirlist *l, const char *name, mode_t type)
{
	if (l->n == l->cap) {
		size_t ncap = l->cap ? l->cap * 2 : 16;
		struct fs_dirent *p = realloc(l->ents, ncap * sizeof(*p));

		if (!p)
			return -ENOMEM;
		l->ents = p;
		l->cap = ncap;
	}
	l->ents[l->n].name = strdup(name);
	if (!l->ents[l->n].name)
		return -ENOMEM;
	l->ents[l->n].type = type;
	l->n++;
	return 0;
}

void fs_dirlist_release(struct fs_dirlist *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->ents[i].name);
	free(l->ents);
	memset(l, 0, sizeof(*l));
}

void fs_ns_tmpl_release(struct fs_ctx *ctx, struct fs_inode *tmpl)
{
	free(tmpl->key);
	free(tmpl->path);
	tmpl->key = tmpl->path = NULL;
	if (tmpl->img)
		store_image_put(ctx->store, tmpl->img);
	tmpl->img = NULL;
}

static int set_key(struct fs_inode *tmpl, enum fs_kind kind, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int set_key(struct fs_inode *tmpl, enum fs_kind kind, const char *fmt, ...)
{
	va_list ap;
	int n;

	tmpl->kind = kind;
	va_start(ap, fmt);
	n = vasprintf(&tmpl->key, fmt, ap);
	va_end(ap);
	if (n < 0) {
		tmpl->key = NULL;
		return -ENOMEM;
	}
	return 0;
}

size_t fs_id_unique_len(const char *id, char *const *ids, size_t n)
{
	size_t len = REGISTRY_ID_SHORT_LEN;

	for (size_t i = 0; i < n; i++) {
		size_t common = 0;

		while (common < REGISTRY_HEX_LEN && id[common] &&
		       id[common] == ids[i][common])
			common++;
		if (common >= REGISTRY_HEX_LEN || !id[common])
			continue;	/* @id itself */
		if (common + 1 > len)
			len = common + 1;
	}
	return len;
}

static void ids_free(char **ids, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(ids[i]);
	free(ids);
}

int fs_id_name(struct fs_ctx *ctx, const char *id, char name[65])
{
	char **ids = NULL;
	size_t n = 0;
	int ret = store_image_list(ctx->store, &ids, &n);

	if (ret)
		return ret;
	snprintf(name, REGISTRY_HEX_LEN + 1, "%.*s",
		 (int)fs_id_unique_len(id, ids, n), id);
	ids_free(ids, n);
	return 0;
}

int fs_id_resolve(struct fs_ctx *ctx, const char *name, char id[65])
{
	struct store_image *img;
	size_t len = strlen(name);
	int ret;

	if (!registry_hex_valid(name, REGISTRY_ID_SHORT_LEN, REGISTRY_HEX_LEN))
		return -ENOENT;
	/* The store takes shorter prefixes too, and answers -EINVAL for
	 * one that names several images. */
	ret = store_image_get(ctx->store, name, &img);
	if (ret)
		return ret == -EINVAL ? -ENOENT : ret;
	if (strncmp(store_image_id(img), name, len) != 0)
		ret = -ENOENT;
	else
		memcpy(id, store_image_id(img), REGISTRY_HEX_LEN + 1);
	store_image_put(ctx->store, img);
	return ret;
}

/* A child of an image node shares the image (and its manifest
 * variant): take another reference. */
static int image_child(struct fs_ctx *ctx, struct fs_inode *parent,
		       struct fs_inode *tmpl)
{
	int ret = store_image_get(ctx->store, parent->id, &tmpl->img);

	if (ret)
		return ret == -ENOENT ? -ESTALE : ret;
	snprintf(tmpl->id, sizeof(tmpl->id), "%s", parent->id);
	memcpy(tmpl->mhex, parent->mhex, sizeof(tmpl->mhex));
	tmpl->path = strdup(parent->path);
	return tmpl->path ? 0 : -ENOMEM;
}

static int lookup_root(struct fs_ctx *ctx, const char *name,
		       struct fs_inode *tmpl, double *timeout)
{
	*timeout = FS_TIMEOUT_IMMUTABLE;
	if (strcmp(name, "repos") == 0) {
		tmpl->path = strdup("");
		if (!tmpl->path)
			return -ENOMEM;
		return set_key(tmpl, FS_REPOS_DIR, "p:");
	}
	if (strcmp(name, "by-id") == 0)
		return set_key(tmpl, FS_BYID, "B");
	/* The generated files share a kind; n tells which (FS_GEN_*). */
	if (strcmp(name, "images") == 0) {
		tmpl->n = FS_GEN_IMAGES;
		return set_key(tmpl, FS_IMAGES, "I");
	}
	if (strcmp(name, "images.json") == 0) {
		tmpl->n = FS_GEN_IMAGES_JSON;
		return set_key(tmpl, FS_IMAGES, "I:json");
	}
	if (strcmp(name, "status") == 0) {
		tmpl->n = FS_GEN_STATUS;
		return set_key(tmpl, FS_IMAGES, "I:status");
	}
	if (strcmp(name, "dangling") == 0)
		return set_key(tmpl, FS_DANGLING, "D");
	if (strcmp(name, "import") == 0) {
		/* On a connection of its own (import_conn.c): a link there. */
		if (ctx->import_dir)
			return set_key(tmpl, FS_IMPORT_LINK, "m>");
		tmpl->path = strdup("");
		if (!tmpl->path)
			return -ENOMEM;
		return set_key(tmpl, FS_IMPORT_DIR, "m:");
	}
	if (strcmp(name, "export") == 0)
		return set_key(tmpl, FS_EXPORT_DIR, "x");
	if (strcmp(name, "registries") == 0)
		return fs_registries_root(tmpl);
	return -ENOENT;
}

/* The source of the manifest variant image node @node shows, into @src:
 * -ENOENT when the image's record no longer names it. */
static int variant_source(struct fs_ctx *ctx, const struct fs_inode *node,
			  struct store_image_source *src)
{
	char digest[REGISTRY_DIGEST_LEN + 1];

	snprintf(digest, sizeof(digest), REGISTRY_DIGEST_PREFIX "%s", node->mhex);
	return store_image_source(ctx->store, node->img, digest, src);
}

static int lookup_byid(struct fs_ctx *ctx, const char *name,
		       struct fs_inode *tmpl, double *timeout)
{
	struct store_image_source src;
	struct store_image *img;
	char id[REGISTRY_HEX_LEN + 1], idname[REGISTRY_HEX_LEN + 1];
	const char *at = strchr(name, '@');
	int ret;

	*timeout = FS_TIMEOUT_TAG;
	/* <name>@<hex>: a manifest variant, by its digest's full hex.  It
	 * is looked up again at every path walk, found or not: its name is
	 * not one a change of the image lists for the kernel to drop
	 * (fs_changes_image() cannot know the sources of an image gone,
	 * nor of one a pull is adding). */
	if (at) {
		*timeout = 0;
		if ((size_t)(at - name) > REGISTRY_HEX_LEN ||
		    !registry_hex_valid(at + 1, REGISTRY_HEX_LEN, REGISTRY_HEX_LEN))
			return -ENOENT;
		snprintf(idname, sizeof(idname), "%.*s", (int)(at - name), name);
		snprintf(tmpl->mhex, sizeof(tmpl->mhex), "%s", at + 1);
	} else {
		snprintf(idname, sizeof(idname), "%s", name);
	}
	/* The name by-id/ lists, the full id, or any unique prefix of at
	 * least 12 digits, as `docker inspect` accepts. */
	ret = fs_id_resolve(ctx, idname, id);
	if (ret)
		return ret;
	ret = store_image_get(ctx->store, id, &img);
	if (ret)
		return ret == -EINVAL ? -ENOENT : ret;
	tmpl->img = img;
	if (at && (ret = variant_source(ctx, tmpl, &src)))
		return ret;
	snprintf(tmpl->id, sizeof(tmpl->id), "%s", id);
	tmpl->path = strdup(name);
	if (!tmpl->path)
		return -ENOMEM;
	return set_key(tmpl, FS_IMAGE_DIR, "i:%s", name);
}

static int lookup_image(struct fs_ctx *ctx, struct fs_inode *parent,
			const char *name, struct fs_inode *tmpl, double *timeout)
{
	int ret;

	*timeout = FS_TIMEOUT_IMMUTABLE;
	if (strcmp(name, "manifest") == 0)
		tmpl->n = 0;
	else if (strcmp(name, "config") == 0)
		tmpl->n = 1;
	else if (strcmp(name, "layers") != 0 && strcmp(name, "rootfs") != 0 &&
		 ((strcmp(name, "image.tar") != 0 && strcmp(name, "oci") != 0) ||
		  *parent->mhex))
		return -ENOENT;
	ret = image_child(ctx, parent, tmpl);
	if (ret)
		return ret;
	if (strcmp(name, "image.tar") == 0)
		return set_key(tmpl, FS_SAVE_TAR, "a:%s", parent->path);
	if (strcmp(name, "oci") == 0) {
		tmpl->n = 0;
		return set_key(tmpl, FS_OCI, "o:%s:0", parent->path);
	}
	if (strcmp(name, "layers") == 0)
		return set_key(tmpl, FS_LAYERS_DIR, "L:%s", parent->path);
	if (strcmp(name, "rootfs") == 0) {
		tmpl->n = 0;
		return set_key(tmpl, FS_ROOTFS, "r:%s:0", parent->path);
	}
	return set_key(tmpl, FS_IMAGE_FILE, "f:%s:%u", parent->path, tmpl->n);
}

/* The layers of the manifest an image node shows: the image's (as its
 * rootfs build settles them), or a variant's source's own. */
struct node_layers {
	struct store_image *img;
	const struct registry_desc *v;	/* the variant's; NULL: the image's */
	size_t n;
};

static int node_layers(struct fs_ctx *ctx, const struct fs_inode *node,
		       struct node_layers *out)
{
	struct store_image_source src;
	int ret;

	out->img = node->img;
	out->v = NULL;
	out->n = store_image_n_layers(node->img);
	if (!*node->mhex)
		return 0;
	ret = variant_source(ctx, node, &src);
	if (ret)
		return ret;
	out->v = src.m->layers;
	out->n = src.m->n_layers;
	return 0;
}

static const struct registry_desc *node_layer(const struct node_layers *l, size_t i)
{
	return l->v ? &l->v[i] : store_image_layer(l->img, i);
}

int fs_ns_image_file(struct fs_ctx *ctx, struct fs_inode *node, struct buf *out)
{
	struct store_image_source src;
	const struct buf *b;
	int ret;

	if (node->kind != FS_IMAGE_FILE)
		return -EINVAL;
	if (node->n == 0 && *node->mhex) {
		ret = variant_source(ctx, node, &src);
		if (ret)
			return ret;
		b = src.manifest;
	} else {
		b = node->n == 0 ? store_image_manifest(node->img)
				 : store_image_config(node->img);
	}
	return buf_add(out, b->data, b->len);
}

int fs_ns_layer_open(struct fs_ctx *ctx, struct fs_inode *node, int *fd)
{
	char digest[REGISTRY_DIGEST_LEN + 1];

	if (!*node->mhex)
		return store_image_layer_open(ctx->store, node->img, node->n, fd);
	snprintf(digest, sizeof(digest), REGISTRY_DIGEST_PREFIX "%s", node->mhex);
	return store_image_source_layer_open(ctx->store, node->img, digest,
					     node->n, fd);
}

void fs_ns_layer_close(struct fs_ctx *ctx, struct fs_inode *node)
{
	char digest[REGISTRY_DIGEST_LEN + 1];

	if (!*node->mhex) {
		store_image_layer_close(ctx->store, node->img, node->n);
		return;
	}
	snprintf(digest, sizeof(digest), REGISTRY_DIGEST_PREFIX "%s", node->mhex);
	store_image_source_layer_close(ctx->store, node->img, digest, node->n);
}

static int lookup_layers(struct fs_ctx *ctx, struct fs_inode *parent,
			 const char *name, struct fs_inode *tmpl, double *timeout)
{
	struct node_layers l;
	int ret;

	*timeout = FS_TIMEOUT_IMMUTABLE;
	ret = node_layers(ctx, parent, &l);
	if (ret)
		return ret;
	for (size_t i = 0; i < l.n; i++) {
		char want[128];

		snprintf(want, sizeof(want), LAYER_NAME_FMT, i, node_layer(&l, i)->digest);
		if (strcmp(want, name) != 0)
			continue;
		tmpl->n = (uint32_t)i;
		ret = image_child(ctx, parent, tmpl);
		if (ret)
			return ret;
		return set_key(tmpl, FS_LAYER, "l:%s:%zu", parent->path, i);
	}
	return -ENOENT;
}

int fs_ns_rootfs(struct fs_ctx *ctx, struct fs_inode *node, struct store_rootfs **out)
{
	return store_image_rootfs(ctx->store, node->img, out);
}

static int lookup_rootfs(struct fs_ctx *ctx, struct fs_inode *parent,
			 const char *name, struct fs_inode *tmpl, double *timeout)
{
	struct store_rootfs *fs;
	uint32_t child;
	int ret;

	*timeout = FS_TIMEOUT_IMMUTABLE;
	ret = fs_ns_rootfs(ctx, parent, &fs);
	if (ret)
		return ret;
	ret = store_rootfs_lookup(fs, parent->n, name, &child);
	if (ret)
		return ret;
	tmpl->n = child;
	ret = image_child(ctx, parent, tmpl);
	if (ret)
		return ret;
	return set_key(tmpl, FS_ROOTFS, "r:%s:%" PRIu32, parent->path, child);
}

int fs_ns_save(struct fs_ctx *ctx, struct fs_inode *node, struct store_save **out)
{
	if (node->kind == FS_EXPORT_TAR)
		return fs_export_save(ctx, node, out);
	if (node->kind != FS_SAVE_TAR && node->kind != FS_OCI)
		return -EINVAL;
	return store_save_image(ctx->store, node->id,
				node->kind == FS_OCI ? STORE_SAVE_LAYOUT : 0, out);
}

/* The layout path of FS_OCI node @n ("" for oci/ itself, "blobs/" for a
 * directory): NULL if @n is not a member of @sv. */
static const char *oci_path(const struct store_save *sv, uint32_t n)
{
	const struct store_save_member *m;

	if (n == 0)
		return "";
	m = store_save_member(sv, n - 1);
	return m ? m->name : NULL;
}

/* oci/...: the members of the image's OCI layout (save.h).  The layout
 * of an image always has the same members in the same order (only the
 * content of index.json follows its tags), so a member's index names it. */
static int lookup_oci(struct fs_ctx *ctx, struct fs_inode *parent,
		      const char *name, struct fs_inode *tmpl, double *timeout)
{
	struct store_save *sv = NULL;
	const char *dir;
	char *full = NULL;
	size_t i;
	int ret;

	*timeout = FS_TIMEOUT_IMMUTABLE;
	ret = fs_ns_save(ctx, parent, &sv);
	if (ret)
		return ret;
	dir = oci_path(sv, parent->n);
	if (!dir || (*dir && !store_save_member(sv, parent->n - 1)->is_dir)) {
		ret = -ENOTDIR;
		goto out;
	}
	if (asprintf(&full, "%s%s", dir, name) < 0) {
		full = NULL;
		ret = -ENOMEM;
		goto out;
	}
	ret = store_save_find(sv, full, &i);
	if (ret == -ENOENT) {
		free(full);
		if (asprintf(&full, "%s%s/", dir, name) < 0) {
			full = NULL;
			ret = -ENOMEM;
			goto out;
		}
		ret = store_save_find(sv, full, &i);
	}
	if (ret)
		goto out;
	tmpl->n = (uint32_t)i + 1;
	ret = image_child(ctx, parent, tmpl);
	if (!ret)
		ret = set_key(tmpl, FS_OCI, "o:%s:%u", parent->path, tmpl->n);
out:
	free(full);
	store_save_free(ctx->store, sv);
	return ret;
}

/* The entries of oci/ directory @node. */
static int list_oci(struct fs_ctx *ctx, struct fs_inode *node, struct fs_dirlist *out)
{
	struct store_save *sv = NULL;
	const char *dir;
	size_t dl;
	int ret;

	ret = fs_ns_save(ctx, node, &sv);
	if (ret)
		return ret;
	dir = oci_path(sv, node->n);
	if (!dir || (*dir && !store_save_member(sv, node->n - 1)->is_dir)) {
		ret = -ENOTDIR;
		goto out;
	}
	dl = strlen(dir);
	for (size_t i = 0; i < store_save_n_members(sv) && !ret; i++) {
		const struct store_save_member *m = store_save_member(sv, i);
		const char *rest = m->name + dl;
		size_t len = strlen(rest) - (m->is_dir ? 1 : 0);
		char name[256];

		if (strncmp(m->name, dir, dl) != 0 || !len || memchr(rest, '/', len) ||
		    len >= sizeof(name))
			continue;
		memcpy(name, rest, len);
		name[len] = '\0';
		ret = fs_dirlist_add(out, name, m->is_dir ? S_IFDIR : S_IFREG);
	}
out:
	store_save_free(ctx->store, sv);
	return ret;
}

/* dangling/<name>: a link to an image no tag names, by its by-id/ name. */
static int lookup_dangling(struct fs_ctx *ctx, const char *name,
			   struct fs_inode *tmpl, double *timeout)
{
	char **ids = NULL, **all = NULL;
	size_t n = 0, n_all = 0;
	char id[REGISTRY_HEX_LEN + 1];
	int ret;

	*timeout = FS_TIMEOUT_TAG;
	ret = fs_id_resolve(ctx, name, id);
	if (ret)
		return ret;
	ret = store_image_dangling(ctx->store, &ids, &n);
	if (!ret)
		ret = store_image_list(ctx->store, &all, &n_all);
	if (ret)
		goto out;
	ret = -ENOENT;
	for (size_t i = 0; i < n && ret == -ENOENT; i++) {
		if (strcmp(ids[i], id) != 0)
			continue;
		snprintf(tmpl->id, sizeof(tmpl->id), "%s", id);
		/* The link text is by-id/ and the name length (in the key:
		 * another length is another inode, see fill_tag). */
		tmpl->n = (uint32_t)fs_id_unique_len(id, all, n_all);
		ret = set_key(tmpl, FS_DANGLING_LINK, "d:%s:%u", id, tmpl->n);
	}
out:
	ids_free(ids, n);
	ids_free(all, n_all);
	return ret;
}

/* import/: only directories made with mkdir are there to look up; files
 * being written are reached through their open file. */
static int lookup_import(struct fs_ctx *ctx, struct fs_inode *parent,
			 const char *name, struct fs_inode *tmpl, double *timeout)
{
	char *path = NULL;

	*timeout = 0;
	if (asprintf(&path, "%s%s%s", parent->path, *parent->path ? "/" : "", name) < 0)
		return -ENOMEM;
	if (!fs_dir_made(ctx, 'i', path)) {
		free(path);
		return -ENOENT;
	}
	tmpl->path = path;
	return set_key(tmpl, FS_IMPORT_DIR, "m:%s", path);
}

int fs_ns_lookup(struct fs_ctx *ctx, struct fs_caller *who,
		 struct fs_inode *parent, const char *name,
		 struct fs_inode *tmpl, double *timeout)
{
	memset(tmpl, 0, sizeof(*tmpl));
	*timeout = FS_TIMEOUT_NEGATIVE;
	switch (parent->kind) {
	case FS_ROOT:
		return lookup_root(ctx, name, tmpl, timeout);
	case FS_REPOS_DIR:
		return fs_repos_lookup(ctx, who, parent->path, name, tmpl, timeout);
	case FS_BYID:
		return lookup_byid(ctx, name, tmpl, timeout);
	case FS_IMAGE_DIR:
		return lookup_image(ctx, parent, name, tmpl, timeout);
	case FS_LAYERS_DIR:
		return lookup_layers(ctx, parent, name, tmpl, timeout);
	case FS_ROOTFS:
		return lookup_rootfs(ctx, parent, name, tmpl, timeout);
	case FS_OCI:
		return lookup_oci(ctx, parent, name, tmpl, timeout);
	case FS_EXPORT_DIR:
	case FS_EXPORT_SET:
		return fs_export_lookup(ctx, parent, name, tmpl, timeout);
	case FS_DANGLING:
		return lookup_dangling(ctx, name, tmpl, timeout);
	case FS_IMPORT_DIR:
		return lookup_import(ctx, parent, name, tmpl, timeout);
	case FS_REG_DIR:
		return fs_registries_lookup(ctx, who, parent, name, tmpl, timeout);
	default:
		return -ENOTDIR;
	}
}

static void stat_base(struct fs_ctx *ctx, struct fs_inode *node, struct stat *st,
		      mode_t mode)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = node->ino;
	st->st_mode = mode;
	st->st_nlink = S_ISDIR(mode) ? 2 : 1;
	st->st_uid = ctx->uid;
	st->st_gid = ctx->gid;
	st->st_blksize = 4096;
	st->st_mtim = ctx->mount_time;
	st->st_ctim = ctx->mount_time;
	st->st_atim = ctx->mount_time;
}

static void stat_image_time(struct store_image *img, struct stat *st)
{
	if (img && store_image_created(img) > 0) {
		st->st_mtim.tv_sec = store_image_created(img);
		st->st_mtim.tv_nsec = 0;
		st->st_ctim = st->st_mtim;
		st->st_atim = st->st_mtim;
	}
}

/*
 * A file whose bytes change with the tags (the images table, an archive's
 * manifest.json): its mtime's nanoseconds follow its content.  Read
 * through a handle it bypasses the page cache, but with -o
 * stateless_files the kernel keeps its pages, and drops them only when a
 * GETATTR shows another size or mtime.
 */
static void stat_content_time(struct stat *st, uint64_t h)
{
	st->st_mtim.tv_nsec = (long)(h % 1000000000u);
	st->st_ctim = st->st_mtim;
}

/* A hash of the content of @sv's mutable members (member @only, or all
 * when @only is SIZE_MAX): small JSON files. */
static uint64_t save_mutable_hash(struct fs_ctx *ctx, struct store_save *sv,
				  size_t only)
{
	XXH3_state_t *h = XXH3_createState();
	size_t n = store_save_n_members(sv);
	char chunk[16384];
	uint64_t v = 0;

	if (!h)
		return 0;
	XXH3_64bits_reset(h);
	for (size_t i = 0; i < n; i++) {
		const struct store_save_member *m = store_save_member(sv, i);
		uint64_t off = 0;
		size_t got;

		if ((only != SIZE_MAX && i != only) || !m->mutable || m->is_dir)
			continue;
		while (off < m->size &&
		       store_save_member_read(ctx->store, sv, i, chunk, sizeof(chunk),
					      off, &got) == 0 && got) {
			XXH3_64bits_update(h, chunk, got);
			off += got;
		}
	}
	v = XXH3_64bits_digest(h);
	XXH3_freeState(h);
	return v;
}

/* stat of an image.tar or oci/ node: sizes from the member list. */
static int stat_save(struct fs_ctx *ctx, struct fs_inode *node, struct stat *st,
		     double *timeout)
{
	const struct store_save_member *m = NULL;
	struct store_save *sv = NULL;
	int ret;

	ret = fs_ns_save(ctx, node, &sv);
	if (ret == -ENODATA && node->kind == FS_EXPORT_TAR) {
		/* nothing chosen yet: an empty file, which cannot be read */
		*timeout = 0;
		stat_base(ctx, node, st, S_IFREG | 0444);
		return 0;
	}
	if (ret)
		return ret;
	if (node->kind == FS_OCI && node->n) {
		m = store_save_member(sv, node->n - 1);
		if (!m) {
			ret = -ESTALE;
			goto out;
		}
	}
	if (node->kind != FS_OCI || (m && !m->is_dir)) {
		stat_base(ctx, node, st, S_IFREG | 0444);
		st->st_size = (off_t)(m ? m->size : store_save_size(sv));
		st->st_blocks = (blkcnt_t)((st->st_size + 511) / 512);
		/* What follows the tags changes with them; a selection of
		 * export/ with every link.  Read without handles its pages
		 * are kept, so every read must ask (stat_content_time). */
		if (!m || m->mutable)
			*timeout = node->kind == FS_EXPORT_TAR || ctx->files_stateless
					   ? 0 : FS_TIMEOUT_TAG;
	} else {
		stat_base(ctx, node, st, S_IFDIR | 0555);
	}
	stat_image_time(node->img, st);
	if (S_ISREG(st->st_mode) && (!m || m->mutable))
		stat_content_time(st, save_mutable_hash(ctx, sv, m ? node->n - 1 : SIZE_MAX));
out:
	store_save_free(ctx->store, sv);
	return ret;
}

int fs_ns_stat(struct fs_ctx *ctx, struct fs_inode *node, struct stat *st,
	       double *timeout)
{
	struct store_image *img = node->img;
	char *target = NULL;
	int ret = 0;

	*timeout = FS_TIMEOUT_IMMUTABLE;
	switch (node->kind) {
	case FS_ROOT:
	case FS_BYID:
	case FS_REPOS_DIR:
	case FS_DANGLING:
	case FS_IMPORT_DIR:
	case FS_REG_DIR:
		*timeout = FS_TIMEOUT_TAG;
		stat_base(ctx, node, st, S_IFDIR | 0755);
		break;
	case FS_DANGLING_LINK:
		*timeout = FS_TIMEOUT_TAG;
		stat_base(ctx, node, st, S_IFLNK | 0777);
		st->st_size = (off_t)strlen("../by-id/") + node->n;
		break;
	case FS_IMPORT_FILE:
		*timeout = 0;
		stat_base(ctx, node, st, S_IFREG | 0644);
		break;
	case FS_IMPORT_LINK:
		stat_base(ctx, node, st, S_IFLNK | 0777);
		st->st_size = (off_t)strlen(ctx->import_dir);
		break;
	case FS_TAG:
	case FS_REG_TAG:
		*timeout = FS_TIMEOUT_TAG;
		stat_base(ctx, node, st, S_IFLNK | 0777);
		ret = fs_ns_readlink(ctx, node, &target);
		if (!ret)
			st->st_size = (off_t)strlen(target);
		free(target);
		break;
	case FS_IMAGES:
		*timeout = 0;
		stat_base(ctx, node, st, S_IFREG | 0444);
		{
			struct buf b;

			ret = fs_ns_generate(ctx, node, &b);
			st->st_size = (off_t)b.len;
			stat_content_time(st, XXH3_64bits(b.data, b.len));
			buf_release(&b);
		}
		break;
	case FS_IMAGE_DIR:
	case FS_LAYERS_DIR:
		stat_base(ctx, node, st, S_IFDIR | 0555);
		stat_image_time(img, st);
		break;
	case FS_IMAGE_FILE:
		stat_base(ctx, node, st, S_IFREG | 0444);
		stat_image_time(img, st);
		if (node->n == 0 && *node->mhex) {
			struct buf b;

			buf_init(&b, BUF_MANIFEST_MAX);
			ret = fs_ns_image_file(ctx, node, &b);
			st->st_size = (off_t)b.len;
			buf_release(&b);
			break;
		}
		st->st_size = (off_t)(node->n == 0 ? store_image_manifest(img)->len : store_image_config(img)->len);
		break;
	case FS_LAYER: {
		struct node_layers l;

		stat_base(ctx, node, st, S_IFREG | 0444);
		stat_image_time(img, st);
		ret = node_layers(ctx, node, &l);
		if (!ret && node->n >= l.n)
			ret = -ESTALE;
		if (!ret)
			st->st_size = (off_t)node_layer(&l, node->n)->size;
		break;
	}
	case FS_SAVE_TAR:
	case FS_OCI:
	case FS_EXPORT_TAR:
		ret = stat_save(ctx, node, st, timeout);
		break;
	case FS_EXPORT_DIR:
	case FS_EXPORT_SET:
		*timeout = 0;
		stat_base(ctx, node, st, S_IFDIR | 0755);
		break;
	case FS_EXPORT_LINK:
		*timeout = 0;
		stat_base(ctx, node, st, S_IFLNK | 0777);
		{
			char idname[65];

			st->st_size = (off_t)strlen("../../by-id/") +
				(fs_id_name(ctx, node->id, idname) ? REGISTRY_ID_SHORT_LEN
								    : strlen(idname));
		}
		break;
	case FS_ROOTFS:
		if (node->n == 0) {
			bool built;

			/* Answer `ls -l by-id/<id>/` without fetching layers:
			 * the real root attributes come once the tree is
			 * built, so this answer must not be cached. */
			built = store_image_rootfs_state(img) == STORE_ROOTFS_READY;
			if (!built) {
				stat_base(ctx, node, st, S_IFDIR | 0755);
				st->st_uid = 0;
				st->st_gid = 0;
				/* as when built: a directory that grows
				 * is one that changed (GNU tar) */
				st->st_size = STORE_ROOTFS_DIR_SIZE;
				stat_image_time(img, st);
				*timeout = 0;
				break;
			}
		}
		{
			struct store_rootfs *fs;

			ret = fs_ns_rootfs(ctx, node, &fs);
			if (ret)
				break;
			ret = store_rootfs_stat(fs, node->n, st);
			st->st_ino = fs_inode_stable_ino(&ctx->inodes, node->path,
							 node->n);
			if (!st->st_ino)
				st->st_ino = node->ino;
			/* The root's ctime is what the unbuilt answer above
			 * says, built or not: ctime is no part of an image
			 * (an extraction sets it to the time of extraction),
			 * and a program that watches it for a change under
			 * it (GNU tar: "file changed as we read it") must
			 * not see the tree being built as one. */
			if (!ret && node->n == 0) {
				struct stat base;

				stat_base(ctx, node, &base, S_IFDIR);
				stat_image_time(img, &base);
				st->st_ctim = base.st_ctim;
			}
		}
		break;
	default:
		ret = -ENOENT;
	}
	return ret;
}

/*
 * The entries of by-id/ and dangling/: each of @ids by its by-id/ name
 * among the images of @all.  Takes @ids and @all (the result @ret of
 * listing them) and frees them whatever happens.
 */
static int list_id_names(int ret, char **ids, size_t n, char **all,
			 size_t n_all, mode_t type, struct fs_dirlist *out)
{
	for (size_t i = 0; i < n && !ret; i++) {
		char s[REGISTRY_HEX_LEN + 1];

		snprintf(s, sizeof(s), "%.*s",
			 (int)fs_id_unique_len(ids[i], all, n_all), ids[i]);
		ret = fs_dirlist_add(out, s, type);
	}
	if (all != ids)
		ids_free(all, n_all);
	ids_free(ids, n);
	return ret;
}

int fs_ns_list(struct fs_ctx *ctx, struct fs_inode *node, struct fs_dirlist *out)
{
	char **ids = NULL;
	size_t n = 0;
	int ret = 0;

	switch (node->kind) {
	case FS_ROOT:
		if ((ret = fs_dirlist_add(out, "by-id", S_IFDIR)) ||
		    (ret = fs_dirlist_add(out, "dangling", S_IFDIR)) ||
		    (ret = fs_dirlist_add(out, "export", S_IFDIR)) ||
		    (ret = fs_dirlist_add(out, "images", S_IFREG)) ||
		    (ret = fs_dirlist_add(out, "images.json", S_IFREG)) ||
		    (ret = fs_dirlist_add(out, "import",
					  ctx->import_dir ? S_IFLNK : S_IFDIR)) ||
		    (ret = fs_dirlist_add(out, "registries", S_IFDIR)) ||
		    (ret = fs_dirlist_add(out, "repos", S_IFDIR)) ||
		    (ret = fs_dirlist_add(out, "status", S_IFREG)))
			return ret;
		return 0;
	case FS_REPOS_DIR:
		return fs_repos_list(ctx, node->path, out);
	case FS_IMPORT_DIR:
		return fs_dirs_list(ctx, 'i', node->path, out);
	case FS_REG_DIR:
		return fs_registries_list(ctx, NULL, node, out);
	case FS_DANGLING: {
		char **all = NULL;
		size_t n_all = 0;

		ret = store_image_dangling(ctx->store, &ids, &n);
		if (!ret)
			ret = store_image_list(ctx->store, &all, &n_all);
		return list_id_names(ret, ids, n, all, n_all, S_IFLNK, out);
	}
	case FS_BYID:
		ret = store_image_list(ctx->store, &ids, &n);
		return list_id_names(ret, ids, n, ids, n, S_IFDIR, out);
	case FS_IMAGE_DIR:
		/* A manifest variant has no image.tar or oci/ (see above). */
		if ((ret = fs_dirlist_add(out, "config", S_IFREG)) ||
		    (!*node->mhex && (ret = fs_dirlist_add(out, "image.tar", S_IFREG))) ||
		    (ret = fs_dirlist_add(out, "layers", S_IFDIR)) ||
		    (ret = fs_dirlist_add(out, "manifest", S_IFREG)) ||
		    (!*node->mhex && (ret = fs_dirlist_add(out, "oci", S_IFDIR))) ||
		    (ret = fs_dirlist_add(out, "rootfs", S_IFDIR)))
			return ret;
		return 0;
	case FS_OCI:
		return list_oci(ctx, node, out);
	case FS_EXPORT_DIR:
	case FS_EXPORT_SET:
		return fs_export_list(ctx, node, out);
	case FS_LAYERS_DIR: {
		struct node_layers l;

		ret = node_layers(ctx, node, &l);
		for (size_t i = 0; !ret && i < l.n; i++) {
			char name[128];

			snprintf(name, sizeof(name), LAYER_NAME_FMT, i,
				 node_layer(&l, i)->digest);
			ret = fs_dirlist_add(out, name, S_IFREG);
		}
		return ret;
	}
	default:
		return -ENOTDIR;
	}
}

int fs_ns_readlink(struct fs_ctx *ctx, struct fs_inode *node, char **out)
{
	if (node->kind == FS_TAG)
		return fs_repos_readlink(ctx, node, out);
	if (node->kind == FS_DANGLING_LINK)
		return asprintf(out, "../by-id/%.*s", (int)node->n, node->id) < 0 ?
		       -ENOMEM : 0;
	if (node->kind == FS_IMPORT_LINK) {
		*out = strdup(ctx->import_dir);
		return *out ? 0 : -ENOMEM;
	}
	if (node->kind == FS_EXPORT_LINK)
		return fs_export_readlink(ctx, node, out);
	if (node->kind == FS_REG_TAG)
		return fs_registries_readlink(ctx, node, out);
	if (node->kind == FS_ROOTFS) {
		struct store_rootfs *fs;
		const struct store_rinode *ri;
		int ret = fs_ns_rootfs(ctx, node, &fs);

		if (ret)
			return ret;
		ri = store_rootfs_inode(fs, node->n);
		if (!ri || !ri->e || ri->e->type != STORE_FT_SYMLINK || !ri->e->link)
			return -EINVAL;
		*out = strdup(ri->e->link);
		return *out ? 0 : -ENOMEM;
	}
	return -EINVAL;
}

int fs_ns_generate(struct fs_ctx *ctx, struct fs_inode *node, struct buf *out)
{
	buf_init(out, FS_GENERATED_MAX);
	if (node->kind != FS_IMAGES)
		return -EINVAL;
	switch (node->n) {
	case FS_GEN_IMAGES:
		return fs_images_table(ctx, out);
	case FS_GEN_IMAGES_JSON:
		return fs_images_json(ctx, out);
	case FS_GEN_STATUS:
		return fs_status_text(ctx, out);
	default:
		return -EINVAL;
	}
}
