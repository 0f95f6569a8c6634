/* SPDX-License-Identifier: MIT */
/*
 * ns_registries.c - the registries/ view: registries/HOST[:PORT]/REPO.../
 * names a repository of any registry, and a link made in it pushes:
 *   ln -s /mnt/images/by-id/<id> registries/HOST/ouruser/sinatra/latest
 * is `docker push HOST/ouruser/sinatra:latest` (store_push()), done in
 * the calling thread, which waits until the registry accepted the
 * manifest.  A pushed tag stays as a link back to by-id/<id> for the
 * rest of the mount.
 *
 * A node's path is its place below registries/ ("" is registries/ itself,
 * "HOST", "HOST/ouruser/sinatra").  Lookups follow the rule of repos/
 * (ns_repos.c), strict for the same reason: `ln -s` looks the new name up
 * first, and an invented directory there would swallow the link.  So:
 *   1. registries/HOST: any valid registry host;
 *   2. a tag pushed in this mount -> its link;
 *   3. a directory made with mkdir, or one holding pushed tags or made
 *      directories -> directory;
 *   4. a directory when the registry has that repository or, by its
 *      catalog, repositories under it (answers cached by the store);
 *   5. otherwise ENOENT, also when the registry cannot be asked.
 * A new repository is named with `mkdir -p registries/HOST/REPO` first.
 *
 * State lives in ctx->dirs under ctx->dirs_lock, as the made directories
 * of repos/ and import/ do: made directories as "g:<path>", pushed tags
 * as "G:<path>/<tag>\n<id>" (the id in the key, so the table owns nothing
 * but keys).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fs.h"
#include "log.h"
#include "ns_path.h"
#include "registry.h"

#define REG_PUSHED 'G'
#define REG_MADE 'g'

/* The id of the tag pushed as @path ("HOST/REPO/TAG") into @id. */
static bool pushed_get(struct fs_ctx *ctx, const char *path, char id[65])
{
	size_t pl = strlen(path);
	struct htab_ent *e;
	size_t it;
	bool found = false;

	pthread_mutex_lock(&ctx->dirs_lock);
	for (e = htab_first(&ctx->dirs, &it); e && !found;
	     e = htab_next(&ctx->dirs, &it, e)) {
		if (e->key[0] != REG_PUSHED || strncmp(e->key + 2, path, pl) != 0 ||
		    e->key[2 + pl] != '\n')
			continue;
		snprintf(id, 65, "%s", e->key + 2 + pl + 1);
		found = true;
	}
	pthread_mutex_unlock(&ctx->dirs_lock);
	return found;
}

static int pushed_set(struct fs_ctx *ctx, const char *path, const char *id)
{
	char *key = NULL;
	int ret;

	if (asprintf(&key, "%c:%s\n%s", REG_PUSHED, path, id) < 0)
		return -ENOMEM;
	pthread_mutex_lock(&ctx->dirs_lock);
	ret = htab_set(&ctx->dirs, key, ctx, NULL);
	pthread_mutex_unlock(&ctx->dirs_lock);
	free(key);
	return ret;
}

/* Whether some pushed tag or made directory lies below @path. */
static bool holds_names(struct fs_ctx *ctx, const char *path)
{
	size_t pl = strlen(path);
	struct htab_ent *e;
	size_t it;
	bool found = false;

	pthread_mutex_lock(&ctx->dirs_lock);
	for (e = htab_first(&ctx->dirs, &it); e && !found;
	     e = htab_next(&ctx->dirs, &it, e))
		found = (e->key[0] == REG_PUSHED || e->key[0] == REG_MADE) &&
			strncmp(e->key + 2, path, pl) == 0 && e->key[2 + pl] == '/';
	pthread_mutex_unlock(&ctx->dirs_lock);
	return found || fs_dir_made(ctx, REG_MADE, path);
}

/*
 * The host and repository of registries/@path: *@repo points into @path
 * after the host (NULL when @path is only a host).  -EINVAL outside the
 * grammar.  @host gets the host component.
 */
static int split(const char *path, char *host, size_t hostsz, const char **repo)
{
	size_t hl = strcspn(path, "/");

	if (!hl || hl >= hostsz)
		return -EINVAL;
	memcpy(host, path, hl);
	host[hl] = '\0';
	*repo = path[hl] ? path + hl + 1 : NULL;
	if (!registry_host_valid(host) || (*repo && !registry_repo_valid(*repo)))
		return -EINVAL;
	return 0;
}

/* Step 4 of the file comment: whether the registry knows @path. */
static bool remote_dir(struct fs_ctx *ctx, const char *path)
{
	char host[256];
	const char *repo;

	if (split(path, host, sizeof(host), &repo) || !repo)
		return false;
	return store_remote_repo_exists(ctx->store, host, repo) == 0 ||
	       store_remote_namespace_exists(ctx->store, host, repo) == 0;
}

static int set_node(struct fs_inode *tmpl, enum fs_kind kind, char *path,
		    const char *id)
{
	int n;

	tmpl->kind = kind;
	tmpl->path = path;
	if (id) {
		snprintf(tmpl->id, sizeof(tmpl->id), "%s", id);
		n = asprintf(&tmpl->key, "G:%s:%s", path, id);
	} else {
		n = asprintf(&tmpl->key, "g:%s", path);
	}
	if (n < 0) {
		tmpl->key = NULL;
		return -ENOMEM;
	}
	return 0;
}

int fs_registries_root(struct fs_inode *tmpl)
{
	char *path = strdup("");

	if (!path)
		return -ENOMEM;
	return set_node(tmpl, FS_REG_DIR, path, NULL);
}

int fs_registries_lookup(struct fs_ctx *ctx, struct fs_caller *who,
			 struct fs_inode *parent, const char *name,
			 struct fs_inode *tmpl, double *timeout)
{
	char id[65];
	char *path;
	int ret = -ENOENT;

	*timeout = FS_TIMEOUT_NEGATIVE;
	if (!*parent->path ? !registry_host_valid(name) :
	    !registry_path_component_valid(name) && !registry_tag_valid(name))
		return -ENOENT;
	path = fs_path_join(parent->path, name);
	if (!path)
		return -ENOMEM;
	if (*parent->path && pushed_get(ctx, path, id)) {
		*timeout = FS_TIMEOUT_TAG;
		return set_node(tmpl, FS_REG_TAG, path, id);
	}
	/* Asking the registry is for those who may pull (it is a request
	 * with the daemon's credentials to a host the caller names). */
	if (!*parent->path || holds_names(ctx, path) ||
	    (registry_path_component_valid(name) && fs_caller_may_pull(ctx, who) &&
	     remote_dir(ctx, path))) {
		*timeout = FS_TIMEOUT_TAG;
		return set_node(tmpl, FS_REG_DIR, path, NULL);
	}
	free(path);
	return ret;
}

/* Adds @name once. */
static int add_once(struct fs_dirlist *out, const char *name, size_t len, mode_t type)
{
	char n[256];

	if (!len || len >= sizeof(n))
		return 0;
	memcpy(n, name, len);
	n[len] = '\0';
	for (size_t i = 0; i < out->n; i++)
		if (strcmp(out->ents[i].name, n) == 0)
			return 0;
	return fs_dirlist_add(out, n, type);
}

int fs_registries_list(struct fs_ctx *ctx, struct fs_inode *node,
		       struct fs_dirlist *out)
{
	const char *dir = node->path;
	size_t dl = strlen(dir);
	struct htab_ent *e;
	size_t it;
	int ret = 0;

	pthread_mutex_lock(&ctx->dirs_lock);
	for (e = htab_first(&ctx->dirs, &it); e && !ret;
	     e = htab_next(&ctx->dirs, &it, e)) {
		const char *p = e->key + 2;
		size_t len;

		if (e->key[0] != REG_PUSHED && e->key[0] != REG_MADE)
			continue;
		if (dl) {
			if (strncmp(p, dir, dl) != 0 || p[dl] != '/')
				continue;
			p += dl + 1;
		}
		len = strcspn(p, "/\n");
		ret = add_once(out, p, len, e->key[0] == REG_PUSHED && p[len] == '\n' ?
				   S_IFLNK : S_IFDIR);
	}
	pthread_mutex_unlock(&ctx->dirs_lock);
	return ret;
}

int fs_registries_readlink(struct fs_ctx *ctx, struct fs_inode *node, char **out)
{
	struct buf t;
	int ret;

	(void)ctx;
	buf_init(&t, 16384);
	/* One "../" per component of the link's directory (HOST/REPO...),
	 * one for registries/ itself. */
	ret = buf_addstr(&t, "../");
	for (const char *p = node->path; *p && !ret; p++)
		if (*p == '/')
			ret = buf_addstr(&t, "../");
	if (!ret)
		ret = buf_printf(&t, "by-id/%.12s", node->id);
	if (ret) {
		buf_release(&t);
		return ret;
	}
	*out = buf_detach(&t, NULL);
	return 0;
}

int fs_registries_mkdir(struct fs_ctx *ctx, struct fs_inode *dir, const char *name)
{
	char host[256];
	const char *repo;
	char *path;
	int ret;

	if (!*dir->path ? !registry_host_valid(name) :
	    !registry_path_component_valid(name)) {
		log_warn("mkdir registries/%s/%s: not a valid registry host or "
			 "repository component", dir->path, name);
		return -EINVAL;
	}
	path = fs_path_join(dir->path, name);
	if (!path)
		return -ENOMEM;
	ret = split(path, host, sizeof(host), &repo);
	if (!ret)
		ret = fs_dir_make(ctx, REG_MADE, path);
	free(path);
	return ret;
}

int fs_registries_push(struct fs_ctx *ctx, struct fs_inode *dir, const char *name,
		       const char *id)
{
	char host[256];
	const char *repo;
	char *path = NULL;
	int ret;

	if (split(dir->path, host, sizeof(host), &repo) || !repo ||
	    !registry_tag_valid(name)) {
		log_warn("push to registries/%s/%s: a link here must be "
			 "registries/HOST/REPOSITORY/TAG", dir->path, name);
		return -EINVAL;
	}
	path = fs_path_join(dir->path, name);
	if (!path)
		return -ENOMEM;
	ret = store_push(ctx->store, id, host, repo, name);
	if (!ret)
		ret = pushed_set(ctx, path, id);
	free(path);
	return ret;
}

int fs_registries_symlink(struct fs_ctx *ctx, struct fs_caller *who,
			  struct fs_inode *dir, const char *name, const char *target)
{
	char id[65];
	char *abs = NULL;
	int ret;

	/* A relative target is relative to registries/<dir>, which no rule
	 * of repos/ knows: made absolute inside the mount first. */
	if (target[0] != '/' && !fs_target_is_id(target)) {
		if (asprintf(&abs, "%s/registries/%s/%s", ctx->mountpoint, dir->path,
			     target) < 0)
			return -ENOMEM;
		target = abs;
	}
	ret = fs_link_target_id(ctx, who, dir, target, id);
	free(abs);
	if (ret)
		return ret;
	return fs_registries_push(ctx, dir, name, id);
}
