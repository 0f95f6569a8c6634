/* SPDX-License-Identifier: MIT */
/*
 * ns_export.c - export/: `docker save a b c` as file operations.
 *
 *   mkdir export/NAME                     a new, empty selection
 *   ln -s TARGET export/NAME/ENTRY        add an image: TARGET is a tag
 *                                         (repos/NAME/TAG: saved under that
 *                                         tag, as `docker save name:tag`),
 *                                         an image directory or an image ID
 *                                         (saved untagged, as `docker save
 *                                         <id>`)
 *   export/NAME.tar                       the archive of all of them (save.h),
 *                                         a blob shared by several once
 *   rm export/NAME/ENTRY, rmdir export/NAME
 *
 * A selection lives as long as the mount, like a directory made with mkdir
 * under repos/: nothing of it is persistent, and it holds no image
 * reference (an image deleted after it was chosen makes NAME.tar fail with
 * ENOENT until its entry is removed).  The selections are keys of the
 * mount's made-directories table (fs_dir_make, space 'e'): "NAME" for a
 * selection, "NAME/ENTRY=<id>" or "NAME/ENTRY=<id>\n<host>\n<repo>\n<tag>"
 * for an entry, so that what an entry names is in its key and the table
 * owns no memory of ours.  ENTRY and NAME are in the tag grammar (no '/',
 * '=' or newline), and NAME does not end in ".tar".
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fs.h"
#include "log.h"
#include "ns_path.h"
#include "registry.h"
#include "save.h"

#define EXPORT_SUFFIX ".tar"
#define EXPORT_KEY_MAX 4200	/* the table's key buffers (ns_repos.c) */

/* One entry of a selection, parsed from its key. */
struct export_ent {
	char name[256];
	char id[REGISTRY_HEX_LEN + 1];
	struct store_tag tag;	/* host, repo, tag point into @buf */
	bool tagged;
	char buf[EXPORT_KEY_MAX];
};

static bool export_name_valid(const char *name)
{
	size_t n = strlen(name);

	if (!registry_tag_valid(name))
		return false;
	return n < sizeof(EXPORT_SUFFIX) ||
	       strcmp(name + n - (sizeof(EXPORT_SUFFIX) - 1), EXPORT_SUFFIX) != 0;
}

/* Parse "ENTRY=<id>[\nhost\nrepo\ntag]" (an entry key after "NAME/"). */
static int export_ent_parse(const char *s, struct export_ent *e)
{
	const char *eq = strchr(s, '=');
	char *host, *repo, *tag;

	memset(e, 0, sizeof(*e));
	if (!eq || eq == s || (size_t)(eq - s) >= sizeof(e->name) ||
	    registry_hex_span(eq + 1, REGISTRY_HEX_LEN) != REGISTRY_HEX_LEN ||
	    (eq[1 + REGISTRY_HEX_LEN] != '\0' && eq[1 + REGISTRY_HEX_LEN] != '\n'))
		return -EINVAL;
	memcpy(e->name, s, (size_t)(eq - s));
	memcpy(e->id, eq + 1, REGISTRY_HEX_LEN);
	snprintf(e->tag.id, sizeof(e->tag.id), "%s", e->id);
	if (eq[1 + REGISTRY_HEX_LEN] == '\0')
		return 0;
	snprintf(e->buf, sizeof(e->buf), "%s", eq + 2 + REGISTRY_HEX_LEN);
	host = e->buf;
	repo = strchr(host, '\n');
	tag = repo ? strchr(repo + 1, '\n') : NULL;
	if (!tag)
		return -EINVAL;
	*repo++ = '\0';
	*tag++ = '\0';
	e->tag.host = host;
	e->tag.repo = repo;
	e->tag.tag = tag;
	e->tagged = true;
	return 0;
}

/*
 * Visit the entries of selection @set (all of them, or only the one
 * named @only when not NULL) under ctx->dirs_lock; @fn copies what it
 * needs.  -ENOENT when the selection does not exist.
 */
static int export_each(struct fs_ctx *ctx, const char *set, const char *only,
		       int (*fn)(void *arg, const struct export_ent *e, const char *key),
		       void *arg)
{
	struct export_ent *e = malloc(sizeof(*e));
	char prefix[EXPORT_KEY_MAX];
	struct htab_ent *h;
	size_t it, pl;
	int ret = 0;

	if (!e)
		return -ENOMEM;
	snprintf(prefix, sizeof(prefix), "e:%s/", set);
	pl = strlen(prefix);
	if (!fs_dir_made(ctx, 'e', set)) {
		free(e);
		return -ENOENT;
	}
	pthread_mutex_lock(&ctx->dirs_lock);
	for (h = htab_first(&ctx->dirs, &it); h && !ret; h = htab_next(&ctx->dirs, &it, h)) {
		if (strncmp(h->key, prefix, pl) != 0 || export_ent_parse(h->key + pl, e))
			continue;
		if (!only || strcmp(only, e->name) == 0)
			ret = fn(arg, e, h->key);
	}
	pthread_mutex_unlock(&ctx->dirs_lock);
	free(e);
	return ret;
}

/* The selections themselves: "e:NAME" keys. */
static int export_sets(struct fs_ctx *ctx, struct fs_dirlist *out)
{
	struct htab_ent *h;
	size_t it;
	int ret = 0;

	pthread_mutex_lock(&ctx->dirs_lock);
	for (h = htab_first(&ctx->dirs, &it); h && !ret; h = htab_next(&ctx->dirs, &it, h))
		if (h->key[0] == 'e' && !strchr(h->key + 2, '/'))
			ret = fs_dirlist_add(out, h->key + 2, S_IFDIR);
	pthread_mutex_unlock(&ctx->dirs_lock);
	return ret;
}

struct export_find {
	bool found;
	char key[EXPORT_KEY_MAX];
	char id[REGISTRY_HEX_LEN + 1];
};

static int export_find_one(void *arg, const struct export_ent *e, const char *key)
{
	struct export_find *f = arg;

	f->found = true;
	snprintf(f->key, sizeof(f->key), "%s", key);
	memcpy(f->id, e->id, sizeof(f->id));
	return 0;
}

int fs_export_lookup(struct fs_ctx *ctx, struct fs_inode *parent, const char *name,
		     struct fs_inode *tmpl, double *timeout)
{
	struct export_find f = { 0 };
	size_t n = strlen(name);
	int ret;

	*timeout = 0;	/* mkdir, ln -s and rm change it at any time */
	if (parent->kind == FS_EXPORT_DIR) {
		bool tar = n > sizeof(EXPORT_SUFFIX) - 1 &&
			   strcmp(name + n - (sizeof(EXPORT_SUFFIX) - 1), EXPORT_SUFFIX) == 0;

		tmpl->path = tar ? strndup(name, n - (sizeof(EXPORT_SUFFIX) - 1)) : strdup(name);
		if (!tmpl->path)
			return -ENOMEM;
		if (!fs_dir_made(ctx, 'e', tmpl->path))
			return -ENOENT;
		tmpl->kind = tar ? FS_EXPORT_TAR : FS_EXPORT_SET;
		if (asprintf(&tmpl->key, "%c:%s", tar ? 'y' : 'X', tmpl->path) < 0) {
			tmpl->key = NULL;
			return -ENOMEM;
		}
		return 0;
	}
	if (parent->kind != FS_EXPORT_SET)
		return -ENOTDIR;
	ret = export_each(ctx, parent->path, name, export_find_one, &f);
	if (ret)
		return ret;
	if (!f.found)
		return -ENOENT;
	tmpl->kind = FS_EXPORT_LINK;
	memcpy(tmpl->id, f.id, sizeof(tmpl->id));
	tmpl->path = strdup(parent->path);
	/* The key is the entry's whole record: an entry made again with
	 * another target is another inode. */
	if (!tmpl->path || asprintf(&tmpl->key, "z:%s", f.key) < 0) {
		tmpl->key = NULL;
		return -ENOMEM;
	}
	return 0;
}

static int export_list_one(void *arg, const struct export_ent *e, const char *key)
{
	(void)key;
	return fs_dirlist_add(arg, e->name, S_IFLNK);
}

int fs_export_list(struct fs_ctx *ctx, struct fs_inode *node, struct fs_dirlist *out)
{
	struct fs_dirlist sets = { 0 };
	int ret = 0;

	if (node->kind == FS_EXPORT_SET)
		return export_each(ctx, node->path, NULL, export_list_one, out);
	if (node->kind != FS_EXPORT_DIR)
		return -ENOTDIR;
	ret = export_sets(ctx, &sets);
	for (size_t i = 0; i < sets.n && !ret; i++) {
		char tar[300];

		snprintf(tar, sizeof(tar), "%s" EXPORT_SUFFIX, sets.ents[i].name);
		ret = fs_dirlist_add(out, sets.ents[i].name, S_IFDIR);
		if (!ret)
			ret = fs_dirlist_add(out, tar, S_IFREG);
	}
	fs_dirlist_release(&sets);
	return ret;
}

int fs_export_readlink(struct fs_ctx *ctx, struct fs_inode *node, char **out)
{
	char name[65];
	int ret;

	if (node->kind != FS_EXPORT_LINK)
		return -EINVAL;
	/* export/NAME/ENTRY: two levels below the root, to the image's
	 * by-id/ name (its shortest unique prefix). */
	ret = fs_id_name(ctx, node->id, name);
	if (ret)
		return ret;
	return asprintf(out, "../../by-id/%s", name) < 0 ? -ENOMEM : 0;
}

/* An entry as the archive is built from it: a copy, taken under the lock. */
struct export_pick {
	char name[256];
	char id[REGISTRY_HEX_LEN + 1];
	struct store_tag tag;	/* heap strings when tagged */
	bool tagged;
};

struct export_picks {
	struct export_pick *p;
	size_t n, cap;
};

static int export_collect(void *arg, const struct export_ent *e, const char *key)
{
	struct export_picks *x = arg;
	struct export_pick *p;

	(void)key;
	if (x->n == x->cap)
		return -EAGAIN;	/* counted first; the table changed meanwhile */
	p = &x->p[x->n++];
	memcpy(p->name, e->name, sizeof(p->name));
	memcpy(p->id, e->id, sizeof(p->id));
	if (!e->tagged)
		return 0;
	p->tagged = true;
	p->tag.host = strdup(e->tag.host);
	p->tag.repo = strdup(e->tag.repo);
	p->tag.tag = strdup(e->tag.tag);
	return p->tag.host && p->tag.repo && p->tag.tag ? 0 : -ENOMEM;
}

static int export_count(void *arg, const struct export_ent *e, const char *key)
{
	(void)e;
	(void)key;
	(*(size_t *)arg)++;
	return 0;
}

static int export_pick_cmp(const void *a, const void *b)
{
	return strcmp(((const struct export_pick *)a)->name,
		      ((const struct export_pick *)b)->name);
}

int fs_export_save(struct fs_ctx *ctx, struct fs_inode *node, struct store_save **out)
{
	struct export_picks x = { 0 };
	struct store_save_item *items = NULL;
	int ret;

	if (node->kind != FS_EXPORT_TAR)
		return -EINVAL;
	ret = export_each(ctx, node->path, NULL, export_count, &x.cap);
	if (ret)
		return ret;
	if (!x.cap)
		return -ENODATA;	/* nothing chosen yet */
	x.p = calloc(x.cap, sizeof(*x.p));
	items = calloc(x.cap, sizeof(*items));
	ret = x.p && items ? 0 : -ENOMEM;
	if (!ret)
		ret = export_each(ctx, node->path, NULL, export_collect, &x);
	if (!ret) {
		/* In the order of the entries' names, whatever the table's. */
		qsort(x.p, x.n, sizeof(*x.p), export_pick_cmp);
		for (size_t i = 0; i < x.n; i++) {
			items[i].id = x.p[i].id;
			items[i].tags = x.p[i].tagged ? &x.p[i].tag : NULL;
			items[i].n_tags = x.p[i].tagged ? 1 : 0;
		}
		ret = store_save_new(ctx->store, items, x.n, 0, out);
		if (ret)
			log_warn("export/%s.tar: %s", node->path, strerror(-ret));
	}
	for (size_t i = 0; x.p && i < x.n; i++) {
		free(x.p[i].tag.host);
		free(x.p[i].tag.repo);
		free(x.p[i].tag.tag);
	}
	free(x.p);
	free(items);
	return ret;
}

int fs_export_mkdir(struct fs_ctx *ctx, struct fs_inode *dir, const char *name)
{
	if (dir->kind != FS_EXPORT_DIR)
		return -EROFS;
	if (!export_name_valid(name)) {
		log_warn("mkdir export/%s: not a valid name ([A-Za-z0-9_.-], "
			 "not ending in " EXPORT_SUFFIX ")", name);
		return -EINVAL;
	}
	if (fs_dir_made(ctx, 'e', name))
		return -EEXIST;
	return fs_dir_make(ctx, 'e', name);
}

int fs_export_rmdir(struct fs_ctx *ctx, struct fs_inode *dir, const char *name)
{
	size_t n = 0;
	int ret;

	if (dir->kind != FS_EXPORT_DIR)
		return -EROFS;
	ret = export_each(ctx, name, NULL, export_count, &n);
	if (ret)
		return ret;
	if (n)
		return -ENOTEMPTY;
	fs_dir_unmake(ctx, 'e', name);
	return 0;
}

/*
 * What @target (a link made in export/@set) names: the image and, for a
 * tag, the tag.  Relative targets are taken from export/@set/.
 */
static int export_resolve(struct fs_ctx *ctx, const char *set, const char *target,
			  struct export_ent *e)
{
	struct store_image *img = NULL;
	struct fs_target t = { 0 };
	char *abs = NULL, *rel = NULL;
	int ret;

	memset(e, 0, sizeof(*e));
	if (fs_target_is_id(target)) {
		ret = store_image_get(ctx->store, target, &img);
		goto image;
	}
	if (target[0] == '/') {
		ret = fs_target_parse(ctx->mountpoint, "", target, &t);
	} else {
		if (asprintf(&rel, "export/%s/%s", set, target) < 0)
			return -ENOMEM;
		ret = fs_path_normalise(rel);
		if (!ret && asprintf(&abs, "%s/%s", ctx->mountpoint, rel) < 0) {
			abs = NULL;
			ret = -ENOMEM;
		}
		if (!ret)
			ret = fs_target_parse(ctx->mountpoint, "", abs, &t);
	}
	if (ret)
		goto out;
	if (t.kind == FS_TARGET_BYID) {
		ret = store_image_get(ctx->store, t.id, &img);
		goto image;
	}
	{
		char *host = NULL, *repo = NULL;

		ret = fs_repos_name(ctx, t.dir, &host, &repo);
		if (!ret && !repo)
			ret = -EINVAL;
		if (!ret) {
			ret = store_tag_get(ctx->store, host, repo, t.tag, e->id);
			if (ret == -ENOENT)
				ret = store_pull(ctx->store, host, repo, t.tag, e->id);
		}
		if (!ret)
			ret = snprintf(e->buf, sizeof(e->buf), "%s\n%s\n%s", host, repo,
				       t.tag) < (int)sizeof(e->buf) ? 0 : -ENAMETOOLONG;
		e->tagged = !ret;
		free(host);
		free(repo);
	}
	goto out;
image:
	if (!ret) {
		memcpy(e->id, store_image_id(img), sizeof(e->id));
		store_image_put(ctx->store, img);
	}
out:
	if (ret)
		log_warn("export/%s: link target %s names no image (%s)", set, target,
			 strerror(-ret));
	if (t.path)
		fs_target_release(&t);
	free(abs);
	free(rel);
	return ret == -EINVAL ? -ENOENT : ret;
}

int fs_export_symlink(struct fs_ctx *ctx, struct fs_inode *dir, const char *name,
		      const char *target)
{
	struct export_find f = { 0 };
	struct export_ent *e;
	char *key = NULL;
	int ret;

	if (dir->kind != FS_EXPORT_SET)
		return -EROFS;
	if (!export_name_valid(name)) {
		log_warn("export/%s/%s: not a valid entry name", dir->path, name);
		return -EINVAL;
	}
	ret = export_each(ctx, dir->path, name, export_find_one, &f);
	if (ret)
		return ret;
	if (f.found)
		return -EEXIST;
	e = malloc(sizeof(*e));
	if (!e)
		return -ENOMEM;
	ret = export_resolve(ctx, dir->path, target, e);
	if (!ret && asprintf(&key, "%s/%s=%s%s%s", dir->path, name, e->id,
			     e->tagged ? "\n" : "", e->tagged ? e->buf : "") < 0) {
		key = NULL;
		ret = -ENOMEM;
	}
	if (!ret)
		ret = fs_dir_make(ctx, 'e', key);
	if (!ret)
		log_info("export/%s/%s: %.12s", dir->path, name, e->id);
	free(key);
	free(e);
	return ret;
}

int fs_export_unlink(struct fs_ctx *ctx, struct fs_inode *dir, const char *name)
{
	struct export_find f = { 0 };
	int ret;

	if (dir->kind != FS_EXPORT_SET)
		return -EROFS;
	ret = export_each(ctx, dir->path, name, export_find_one, &f);
	if (ret)
		return ret;
	if (!f.found)
		return -ENOENT;
	fs_dir_unmake(ctx, 'e', f.key + 2);
	return 0;
}
