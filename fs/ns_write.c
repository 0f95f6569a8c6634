/* SPDX-License-Identifier: MIT */
/*
 * ns_write.c - Docker's local image commands as changes of the namespace:
 *   docker tag     ln -s TARGET repos/NAME/TAG, ln TAG NEWTAG, mv TAG NEWTAG
 *   docker rmi     rm repos/NAME/TAG, rmdir by-id/<id>, rm dangling/<id>
 *   mkdir -p       repos/NAME and import/NAMESPACE directories
 * The store does the work and keeps it across crashes; this file turns
 * paths into references and references into store calls.  No FUSE here.
 *
 * Every change also lists the names it touched (struct fs_changes): the
 * kernel caches entries, present and absent, for a while, and the FUSE
 * edge tells it to drop those, so that a change shows at once through
 * every name it affects, not only the one the system call named.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fs.h"
#include "log.h"
#include "ns_path.h"
#include "registry.h"

int fs_changes_add(struct fs_changes *c, const char *parent, const char *name)
{
	struct fs_change *e;

	for (size_t i = 0; i < c->n; i++)
		if (!strcmp(c->v[i].parent, parent) && !strcmp(c->v[i].name, name))
			return 0;
	if (c->n == c->cap) {
		size_t ncap = c->cap ? c->cap * 2 : 8;

		e = realloc(c->v, ncap * sizeof(*e));
		if (!e)
			return -ENOMEM;
		c->v = e;
		c->cap = ncap;
	}
	e = &c->v[c->n];
	e->parent = strdup(parent);
	e->name = strdup(name);
	if (!e->parent || !e->name) {
		free(e->parent);
		free(e->name);
		return -ENOMEM;
	}
	c->n++;
	return 0;
}

void fs_changes_release(struct fs_changes *c)
{
	for (size_t i = 0; i < c->n; i++) {
		free(c->v[i].parent);
		free(c->v[i].name);
	}
	free(c->v);
	memset(c, 0, sizeof(*c));
}

/* Each component of repos/ path @path ("a/b/tag"): (p:, a), (p:a, b),
 * (p:a/b, tag); directories come and go with the tags below them. */
static int changes_path(struct fs_changes *c, const char *path)
{
	char *p = strdup(path);
	char key[FS_TARGET_MAX + 8];
	const char *name;
	char *slash;
	int ret = 0;

	if (!p)
		return -ENOMEM;
	for (name = p; !ret; name = slash + 1) {
		slash = strchr(name, '/');
		if (slash)
			*slash = '\0';
		snprintf(key, sizeof(key), "p:%.*s", (int)(name > p ? name - p - 1 : 0), p);
		ret = fs_changes_add(c, key, name);
		if (!slash)
			break;
		*slash = '/';
	}
	free(p);
	return ret;
}

/* @name in repos/ directory @dir. */
static int changes_leaf(struct fs_changes *c, const char *dir, const char *name)
{
	char *key = NULL;
	int ret;

	if (asprintf(&key, "p:%s", dir) < 0)
		return -ENOMEM;
	ret = fs_changes_add(c, key, name);
	free(key);
	return ret;
}

int fs_changes_tag(struct fs_ctx *ctx, struct fs_changes *c, const char *host,
		   const char *repo, const char *tag)
{
	char *dir = registry_ref_familiar(host, repo, ctx->default_host);
	char *path = dir ? fs_path_join(dir, tag) : NULL;
	int ret = path ? changes_path(c, path) : -ENOMEM;

	free(path);
	free(dir);
	return ret;
}

int fs_changes_image(struct fs_ctx *ctx, struct fs_changes *c, const char *id,
		     bool tags)
{
	struct store_tag *list = NULL;
	char name[REGISTRY_HEX_LEN + 1];
	size_t n = 0;
	int ret;

	ret = fs_id_name(ctx, id, name);
	if (!ret)
		ret = fs_changes_add(c, "B", name);
	if (!ret)
		ret = fs_changes_add(c, "B", id);
	if (!ret)
		ret = fs_changes_add(c, "D", name);
	/* A name longer than 12 digits: the 12 it shares with another
	 * image stopped naming either when this one came. */
	if (!ret && strlen(name) > REGISTRY_ID_SHORT_LEN) {
		name[REGISTRY_ID_SHORT_LEN] = '\0';
		ret = fs_changes_add(c, "B", name);
		if (!ret)
			ret = fs_changes_add(c, "D", name);
	}
	if (!ret && tags)
		ret = store_tag_list(ctx->store, &list, &n);
	for (size_t i = 0; i < n && !ret; i++)
		if (!strcmp(list[i].id, id))
			ret = fs_changes_tag(ctx, c, list[i].host, list[i].repo,
					     list[i].tag);
	store_tag_list_free(list, n);
	return ret;
}

int fs_changes_import(struct fs_ctx *ctx, struct fs_changes *c,
		      const char *result)
{
	static const char loaded[] = "Loaded image: ";
	int ret = 0;

	for (const char *l = result; l && *l && !ret; l = strchr(l, '\n'), l = l ? l + 1 : NULL) {
		size_t len = strcspn(l, "\n");
		const char *h = memmem(l, len, "sha256:", 7);
		char id[REGISTRY_HEX_LEN + 1];

		if (h && registry_hex_span(h + 7, REGISTRY_HEX_LEN) == REGISTRY_HEX_LEN) {
			snprintf(id, sizeof(id), "%.*s", REGISTRY_HEX_LEN, h + 7);
			ret = fs_changes_image(ctx, c, id, true);
		} else if (!strncmp(l, loaded, sizeof(loaded) - 1)) {
			struct registry_ref r;
			char *name = strndup(l + sizeof(loaded) - 1,
					     len - (sizeof(loaded) - 1));

			if (!name)
				return -ENOMEM;
			if (registry_ref_parse(name, ctx->default_host, &r) == 0) {
				if (r.tag && store_tag_get(ctx->store, r.host, r.repo,
							   r.tag, id) == 0)
					ret = fs_changes_image(ctx, c, id, true);
				registry_ref_release(&r);
			}
			free(name);
		}
	}
	return ret;
}

/*
 * Where a new tag may go: @dir must be a repos/ directory naming a
 * repository (not repos/ itself, not a bare host) in the reference
 * grammar, and @tag a valid tag.  -EINVAL otherwise, nothing changes.
 */
static int tag_place(struct fs_ctx *ctx, struct fs_inode *dir, const char *tag,
		     char **host, char **repo)
{
	struct registry_ref ref;
	char *s = NULL;
	int ret;

	*host = *repo = NULL;
	if (dir->kind != FS_REPOS_DIR)
		return dir->kind == FS_ROOT || dir->kind == FS_BYID ? -EPERM : -EROFS;
	if (!registry_tag_valid(tag)) {
		log_warn("tag \"%s\" in repos/%s: not a valid tag", tag, dir->path);
		return -EINVAL;
	}
	ret = fs_repos_name(ctx, dir->path, host, repo);
	if (ret)
		return ret;
	if (!*repo) {
		ret = -EINVAL;
		log_warn("repos/%s/%s: a tag needs a repository name", dir->path, tag);
		goto out;
	}
	/* The full reference must parse back to the same place. */
	if (asprintf(&s, "%s/%s:%s", *host, *repo, tag) < 0) {
		s = NULL;
		ret = -ENOMEM;
		goto out;
	}
	ret = registry_ref_parse(s, ctx->default_host, &ref);
	if (ret) {
		log_warn("repos/%s/%s: not a valid image name", dir->path, tag);
		goto out;
	}
	registry_ref_release(&ref);
out:
	free(s);
	if (ret) {
		free(*host);
		free(*repo);
		*host = *repo = NULL;
	}
	return ret;
}

static int id_of_prefix(struct fs_ctx *ctx, const char *prefix, char id[65])
{
	struct store_image *img;
	int ret = store_image_get(ctx->store, prefix, &img);

	if (ret)
		return ret;
	memcpy(id, store_image_id(img), 65);
	store_image_put(ctx->store, img);
	return 0;
}

/* The image local tag repos/@dir/@tag names, pulled when it is not local
 * and @who may pull. */
static int id_of_tag(struct fs_ctx *ctx, struct fs_caller *who,
		     const char *dir, const char *tag, char id[65])
{
	char *host = NULL, *repo = NULL;
	int ret;

	ret = fs_repos_name(ctx, dir, &host, &repo);
	if (!ret && !repo)
		ret = -EINVAL;
	if (!ret) {
		ret = store_tag_get(ctx->store, host, repo, tag, id);
		if (ret == -ENOENT && registry_tag_valid(tag)) {
			if (!fs_caller_may_pull(ctx, who))
				ret = -EACCES;
			else
				ret = store_pull(ctx->store, host, repo, tag, id);
			if (!ret)	/* best effort, as tag_changed() */
				fs_changes_image(ctx, &who->changed, id, true);
		}
	}
	free(host);
	free(repo);
	return ret;
}

/*
 * resolve_target - the image a symlink target names (the rules are
 * fs_target_parse()'s): a bare image ID or unique prefix, else a by-id/
 * directory or a tag, absolute inside the mount or relative to the new
 * link's directory @dir; failing that, a "by-id/<hex>" tail.
 */
static int resolve_target(struct fs_ctx *ctx, struct fs_caller *who,
			  struct fs_inode *dir, const char *target, char id[65])
{
	struct fs_target t;
	const char *tail;
	int ret;

	if (fs_target_is_id(target) && id_of_prefix(ctx, target, id) == 0)
		return 0;
	ret = fs_target_parse(ctx->mountpoint, dir->path, target, &t);
	if (ret == -EXDEV) {
		log_warn("link target %s is outside the mount %s", target,
			 ctx->mountpoint);
		return ret;
	}
	if (!ret) {
		if (t.kind == FS_TARGET_BYID)
			ret = id_of_prefix(ctx, t.id, id);
		else if (t.kind == FS_TARGET_REMOTE)
			ret = fs_registries_target_id(ctx, who, t.dir, t.tag, id);
		else
			ret = id_of_tag(ctx, who, t.dir, t.tag, id);
		fs_target_release(&t);
	}
	if (ret) {
		tail = fs_target_byid_tail(target);
		if (tail && id_of_prefix(ctx, tail, id) == 0)
			return 0;
		log_warn("link target %s names no image (%s)", target, strerror(-ret));
	}
	return ret;
}

int fs_link_target_id(struct fs_ctx *ctx, struct fs_caller *who, struct fs_inode *dir,
		      const char *target, char id[65])
{
	return resolve_target(ctx, who, dir, target, id);
}

/*
 * A repository directory made with mkdir goes away with its last tag, as
 * Docker has no empty repositories; so do the made parents it leaves
 * empty ("mkdir -p repos/ouruser/sinatra" then untagging everything).
 */
static void forget_if_empty(struct fs_ctx *ctx, struct fs_changes *c,
			    const char *path)
{
	char *p = strdup(path);

	while (p && *p) {
		struct fs_dirlist l = { 0 };
		char *slash;

		if (!fs_dir_made(ctx, 'r', p) || fs_repos_list(ctx, p, &l) || l.n) {
			fs_dirlist_release(&l);
			break;
		}
		fs_dirlist_release(&l);
		fs_dir_unmake(ctx, 'r', p);
		/* Best effort: the directory went; at worst its entry lives
		 * out its cache time. */
		changes_path(c, p);
		slash = strrchr(p, '/');
		if (!slash)
			break;
		*slash = '\0';
	}
	free(p);
}

/*
 * After an image is deleted with all its tags, the made repository
 * directories that held them and are now empty go too.  Directories made
 * but never tagged stay (mkdir comes before ln -s).
 */
static void prune_made_dirs(struct fs_ctx *ctx, struct fs_changes *c)
{
	struct fs_dirlist made = { 0 };

	if (fs_dirs_used(ctx, &made))
		return;
	for (size_t i = 0; i < made.n; i++)
		forget_if_empty(ctx, c, made.ents[i].name);
	fs_dirlist_release(&made);
}

/*
 * `docker rmi` of the image by-id/ or dangling/ @name names: it and its
 * tags go, then the made directories that held only those tags.  Its
 * names are listed before it goes (its tags are not known after).
 */
static int image_delete(struct fs_ctx *ctx, struct fs_caller *who,
			const char *name, bool dangling)
{
	char id[REGISTRY_HEX_LEN + 1];
	int ret = fs_id_resolve(ctx, name, id);

	if (ret)
		return ret;
	fs_changes_image(ctx, &who->changed, id, true);	/* best effort */
	ret = dangling ? store_image_delete_dangling(ctx->store, id) :
			 store_image_delete(ctx->store, id);
	if (!ret)
		prune_made_dirs(ctx, &who->changed);
	return ret;
}

/*
 * After tag @host/@repo:@tag was set (@made) or removed: its name, and
 * the names of the image it named before (@old, may be NULL or "") and
 * names now (@id, may be NULL), which may have become or stopped being
 * dangling, or been deleted with their last tag.  A tag made is new in a
 * directory that exists (the kernel looked it up to get there): only its
 * own name changed.  A tag removed can take directories above it along.
 */
static void tag_changed(struct fs_ctx *ctx, struct fs_caller *who, bool made,
			const char *host, const char *repo, const char *tag,
			const char *old, const char *id)
{
	struct fs_changes *c = &who->changed;
	char *dir = NULL;
	int ret;

	/* Best effort, the change being made: a name missed here lives out
	 * its cache time (FS_TIMEOUT_TAG) in the kernel. */
	if (made) {
		dir = registry_ref_familiar(host, repo, ctx->default_host);
		ret = dir ? changes_leaf(c, dir, tag) : -ENOMEM;
		free(dir);
	} else {
		ret = fs_changes_tag(ctx, c, host, repo, tag);
	}
	if (ret)
		return;
	if (old && *old && fs_changes_image(ctx, c, old, false))
		return;
	if (id && (!old || strcmp(old, id)))
		fs_changes_image(ctx, c, id, false);
}

int fs_tag_symlink(struct fs_ctx *ctx, struct fs_caller *who,
		   struct fs_inode *dir, const char *name, const char *target)
{
	char *host = NULL, *repo = NULL;
	char id[65], old[65];
	int ret;

	if (dir->kind == FS_EXPORT_SET)
		return fs_export_symlink(ctx, dir, name, target);
	if (dir->kind == FS_REG_DIR)
		return fs_registries_symlink(ctx, who, dir, name, target);
	ret = tag_place(ctx, dir, name, &host, &repo);
	if (ret)
		return ret;
	if (store_tag_get(ctx->store, host, repo, name, old) == 0) {
		ret = -EEXIST;
		goto out;
	}
	ret = resolve_target(ctx, who, dir, target, id);
	if (ret)
		goto out;
	ret = store_tag_set(ctx->store, host, repo, name, id);
	if (!ret) {
		fs_dir_used(ctx, dir->path);
		log_info("tagged %.12s as repos/%s/%s", id, dir->path, name);
		tag_changed(ctx, who, true, host, repo, name, NULL, id);
	}
out:
	free(host);
	free(repo);
	return ret;
}

int fs_tag_link(struct fs_ctx *ctx, struct fs_caller *who, struct fs_inode *src,
		struct fs_inode *dir, const char *name)
{
	char *host = NULL, *repo = NULL;
	char old[65];
	int ret;

	if (src->kind != FS_TAG && src->kind != FS_DANGLING_LINK &&
	    src->kind != FS_REG_TAG)
		return -EPERM;
	if (dir->kind == FS_REG_DIR)
		return fs_registries_push(ctx, dir, name, src->id);
	ret = tag_place(ctx, dir, name, &host, &repo);
	if (ret)
		return ret;
	if (store_tag_get(ctx->store, host, repo, name, old) == 0)
		ret = -EEXIST;
	else
		ret = store_tag_set(ctx->store, host, repo, name, src->id);
	if (!ret) {
		fs_dir_used(ctx, dir->path);
		tag_changed(ctx, who, true, host, repo, name, NULL, src->id);
	}
	free(host);
	free(repo);
	return ret;
}

static int depth_of(const char *path)
{
	int d = 0;

	for (; *path; path++)
		d += *path == '/';
	return d;
}

int fs_tag_rename(struct fs_ctx *ctx, struct fs_caller *who,
		  struct fs_inode *dir, const char *name,
		  struct fs_inode *newdir, const char *newname, unsigned int flags)
{
	char *host = NULL, *repo = NULL, *nhost = NULL, *nrepo = NULL;
	char id[65], other[65] = "";
	int ret;

	if (flags & ~(unsigned)RENAME_NOREPLACE)
		return -EINVAL;
	if (dir->kind != FS_REPOS_DIR)
		return -EROFS;
	ret = fs_repos_name(ctx, dir->path, &host, &repo);
	if (ret)
		goto out;
	if (!repo || store_tag_get(ctx->store, host, repo, name, id)) {
		/* A directory of names: mv falls back to copying links. */
		ret = -EXDEV;
		goto out;
	}
	ret = tag_place(ctx, newdir, newname, &nhost, &nrepo);
	if (ret)
		goto out;
	/* The kernel moves the renamed inode, and a tag's link text depends
	 * on its depth: across depths, let mv copy the link instead. */
	if (depth_of(dir->path) != depth_of(newdir->path)) {
		ret = -EXDEV;
		goto out;
	}
	if (strcmp(host, nhost) == 0 && strcmp(repo, nrepo) == 0 &&
	    strcmp(name, newname) == 0)
		goto out;
	/* The image the new name named before, for the kernel's entries
	 * only (the rename below is what decides). */
	if (store_tag_get(ctx->store, nhost, nrepo, newname, other))
		other[0] = '\0';
	/* One step in the store: fails (ESTALE) if the tag was re-pointed
	 * since it was read above, rather than removing the new target. */
	ret = store_tag_rename(ctx->store, host, repo, name, nhost, nrepo, newname, id,
			       flags & RENAME_NOREPLACE);
	if (!ret) {
		fs_dir_used(ctx, newdir->path);
		tag_changed(ctx, who, true, nhost, nrepo, newname, other, id);
		forget_if_empty(ctx, &who->changed, dir->path);
		fs_changes_tag(ctx, &who->changed, host, repo, name);
	}
out:
	free(host);
	free(repo);
	free(nhost);
	free(nrepo);
	return ret;
}

int fs_ns_unlink(struct fs_ctx *ctx, struct fs_caller *who,
		 struct fs_inode *dir, const char *name)
{
	char *host = NULL, *repo = NULL;
	char id[65];
	int ret;

	switch (dir->kind) {
	case FS_REPOS_DIR:
		ret = fs_repos_name(ctx, dir->path, &host, &repo);
		if (ret)
			return ret;
		if (!repo || store_tag_get(ctx->store, host, repo, name, id))
			ret = -ENOENT;
		else
			ret = store_tag_remove(ctx->store, host, repo, name);
		if (!ret) {
			forget_if_empty(ctx, &who->changed, dir->path);
			/* The image became dangling, or went with its
			 * last tag. */
			tag_changed(ctx, who, false, host, repo, name, id, NULL);
		}
		free(host);
		free(repo);
		return ret;
	case FS_DANGLING:
		return image_delete(ctx, who, name, true);
	case FS_EXPORT_SET:
		return fs_export_unlink(ctx, dir, name);
	case FS_REG_DIR:
		return fs_registries_unlink(ctx, who, dir, name);
	case FS_ROOT:
	case FS_BYID:
		return -EPERM;
	default:
		return -EROFS;
	}
}

int fs_ns_rmdir(struct fs_ctx *ctx, struct fs_caller *who,
		struct fs_inode *dir, const char *name)
{
	struct fs_dirlist l = { 0 };
	char *path = NULL;
	int ret;

	switch (dir->kind) {
	case FS_BYID:
		return image_delete(ctx, who, name, false);
	case FS_REPOS_DIR:
	case FS_IMPORT_DIR:
		path = fs_path_join(dir->path, name);
		if (!path)
			return -ENOMEM;
		if (dir->kind == FS_REPOS_DIR)
			ret = fs_repos_list(ctx, path, &l);
		else
			ret = fs_dirs_list(ctx, 'i', path, &l);
		if (!ret && l.n)
			ret = -ENOTEMPTY;
		if (!ret)
			fs_dir_unmake(ctx, dir->kind == FS_REPOS_DIR ? 'r' : 'i', path);
		fs_dirlist_release(&l);
		free(path);
		return ret;
	case FS_EXPORT_DIR:
		return fs_export_rmdir(ctx, dir, name);
	case FS_ROOT:
		return -EPERM;
	default:
		return -EROFS;
	}
}

int fs_ns_mkdir(struct fs_ctx *ctx, struct fs_inode *dir, const char *name)
{
	char *path = NULL;
	int ret;

	if (dir->kind == FS_EXPORT_DIR)
		return fs_export_mkdir(ctx, dir, name);
	if (dir->kind == FS_REG_DIR)
		return fs_registries_mkdir(ctx, dir, name);
	if (dir->kind != FS_REPOS_DIR && dir->kind != FS_IMPORT_DIR)
		return dir->kind == FS_ROOT || dir->kind == FS_BYID ? -EPERM : -EROFS;
	/* A first component under repos/ may be a registry host. */
	if (!(dir->kind == FS_REPOS_DIR && !*dir->path ? fs_repos_top_valid(name) :
	      registry_path_component_valid(name))) {
		log_warn("mkdir %s: not a valid name component (lowercase "
			 "letters, digits, separators)", name);
		return -EINVAL;
	}
	path = fs_path_join(dir->path, name);
	if (!path)
		return -ENOMEM;
	ret = fs_dir_make(ctx, dir->kind == FS_REPOS_DIR ? 'r' : 'i', path);
	free(path);
	return ret;
}

int fs_import_name(struct fs_ctx *ctx, struct fs_inode *dir, const char *name,
		   char **ref)
{
	struct registry_ref r;
	char *full = NULL;
	int ret;

	*ref = NULL;
	if (dir->kind != FS_IMPORT_DIR)
		return -EROFS;
	if (!strchr(name, ':')) {
		/* No tag: an untagged import (`docker import file` with no
		 * name); the file name is only for the log. */
		return 0;
	}
	full = fs_path_join(dir->path, name);
	if (!full)
		return -ENOMEM;
	ret = registry_ref_parse(full, ctx->default_host, &r);
	if (ret || r.digest || !r.tag) {
		log_warn("import/%s: not an image name with a tag", full);
		if (!ret)
			registry_ref_release(&r);
		free(full);
		return -EINVAL;
	}
	registry_ref_release(&r);
	*ref = full;
	return 0;
}
