/* SPDX-License-Identifier: MIT */
/*
 * ns_registries.c - the registries/ view: any registry, browsed and
 * written.  registries/HOST[:PORT]/ lists the registry's repositories
 * (its catalog), nested names as nested directories; a repository's
 * directory lists its remote tags, each a link into by-id/ as in repos/;
 * `rm` of a tag deletes it at the registry; a link made here pushes:
 *   ln -s /mnt/images/by-id/<id> registries/HOST/ouruser/sinatra/latest
 * is `docker push HOST/ouruser/sinatra:latest` (store_push()), done in
 * the calling thread, which waits until the registry accepted the
 * manifest.
 *
 * A remote tag resolves as a tag of repos/ does (fs_tag_pull(): a local
 * tag HOST/REPO:TAG, else `docker pull` of it, manifest and config only),
 * so that reading it goes through the one store and shares its blobs with
 * repos/ and by-id/: the tag is local afterwards, as after docker pull.
 * Its link has the depth of a repos/ tag's, so it reads the same.
 *
 * A node's path is its place below registries/ ("" is registries/ itself,
 * "HOST", "HOST/ouruser/sinatra").  Lookups follow the rule of repos/
 * (ns_repos.c), strict for the same reason: `ln -s` looks the new name up
 * first, and an invented directory there would swallow the link.  So:
 *   1. registries/HOST: any valid registry host;
 *   2. a tag pushed in this mount -> its link;
 *   3. a tag the registry lists for the directory's repository -> its
 *      link (pulled if not local);
 *   4. a directory made with mkdir, or one holding pushed tags or made
 *      directories -> directory;
 *   5. a directory when the registry has that repository or, by its
 *      catalog, repositories under it;
 *   6. otherwise ENOENT, also when the registry cannot be asked.
 * A new repository is named with `mkdir -p registries/HOST/REPO` first.
 * Steps 3 and 5 and the remote part of a listing ask the registry with
 * the daemon's credentials: they are for callers fs_caller_may_pull()
 * admits; others see what this mount made.  A registry without a catalog
 * (Docker Hub, or one that refuses it) lists what is known here, and its
 * repositories are still reached by name.  The store keeps the lists for
 * a moment (remote.c); the kernel keeps names FS_TIMEOUT_TAG.
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

/* Forgets the tag pushed as @path (gone from the registry). */
static void pushed_del(struct fs_ctx *ctx, const char *path)
{
	char id[65];
	char *key = NULL;

	if (!pushed_get(ctx, path, id) ||
	    asprintf(&key, "%c:%s\n%s", REG_PUSHED, path, id) < 0)
		return;
	pthread_mutex_lock(&ctx->dirs_lock);
	htab_del(&ctx->dirs, key);
	pthread_mutex_unlock(&ctx->dirs_lock);
	free(key);
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

/*
 * What the catalog of @host says of @repo: 0 when it lists @repo or
 * names below it, -ENOENT when it does not, another -errno when there is
 * no catalog to ask (or it was cut, so that it cannot say no).
 */
static int catalog_knows(struct fs_ctx *ctx, const char *host, const char *repo)
{
	struct registry_names cat;
	size_t rl = strlen(repo);
	int ret;

	/* No catalog (404 as well) cannot say no. */
	ret = store_remote_catalog(ctx->store, host, &cat);
	if (ret)
		return ret == -ENOMEM ? ret : -EAGAIN;
	ret = cat.cut ? -EAGAIN : -ENOENT;
	for (size_t i = 0; i < cat.n && ret; i++)
		if (strncmp(cat.v[i], repo, rl) == 0 &&
		    (cat.v[i][rl] == '\0' || cat.v[i][rl] == '/'))
			ret = 0;
	registry_names_release(&cat);
	return ret;
}

/* Step 5 of the file comment: whether the registry knows @path. */
static bool remote_dir(struct fs_ctx *ctx, const char *path)
{
	char host[256];
	const char *repo;
	int ret;

	if (split(path, host, sizeof(host), &repo) || !repo)
		return false;
	ret = catalog_knows(ctx, host, repo);
	if (ret != -ENOENT && ret != 0)
		ret = store_remote_repo_exists(ctx->store, host, repo) == 0 ||
		      store_remote_namespace_exists(ctx->store, host, repo) == 0 ?
		      0 : -ENOENT;
	return ret == 0;
}

/* Whether the registry lists tag @tag of @host/@repo: 0, -ENOENT, or
 * another -errno when its list cannot say (not got, or cut). */
static int remote_tag(struct fs_ctx *ctx, const char *host, const char *repo,
		      const char *tag)
{
	struct registry_names tags;
	int ret;

	ret = store_remote_tags(ctx->store, host, repo, &tags);
	if (ret)
		return ret;
	ret = tags.cut ? -EAGAIN : -ENOENT;
	for (size_t i = 0; i < tags.n && ret; i++)
		if (strcmp(tags.v[i], tag) == 0)
			ret = 0;
	registry_names_release(&tags);
	return ret;
}

static int set_dir(struct fs_inode *tmpl, char *path)
{
	tmpl->kind = FS_REG_DIR;
	tmpl->path = path;
	if (asprintf(&tmpl->key, "%c:%s", REG_MADE, path) < 0) {
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
	return set_dir(tmpl, path);
}

/*
 * Step 3 of the file comment: @name as a tag of the repository of
 * registries/@path's directory (@host, @repo) that the registry lists;
 * -ENOENT when it is none, and when the registry cannot be asked (as in
 * repos/, so that a name can still be made there).  A list that was cut
 * leaves it to the pull, which asks for the tag itself.
 */
static int lookup_remote_tag(struct fs_ctx *ctx, struct fs_caller *who,
			     const char *host, const char *repo, const char *name,
			     char *path, struct fs_inode *tmpl)
{
	char id[65], mdigest[72];
	int ret;

	ret = remote_tag(ctx, host, repo, name);
	if (ret && ret != -EAGAIN)
		return ret == -ENOMEM ? ret : -ENOENT;
	ret = fs_tag_pull(ctx, who, host, repo, name, id, mdigest);
	if (ret)
		return ret;
	return fs_tag_fill(ctx, tmpl, FS_REG_TAG, REG_PUSHED, path, id, mdigest);
}

int fs_registries_lookup(struct fs_ctx *ctx, struct fs_caller *who,
			 struct fs_inode *parent, const char *name,
			 struct fs_inode *tmpl, double *timeout)
{
	char host[256];
	const char *repo = NULL;
	char id[65];
	char *path;
	bool may_ask;
	int ret;

	*timeout = FS_TIMEOUT_NEGATIVE;
	if (!*parent->path ? !registry_host_valid(name) :
	    !registry_path_component_valid(name) && !registry_tag_valid(name))
		return -ENOENT;
	path = fs_path_join(parent->path, name);
	if (!path)
		return -ENOMEM;
	*timeout = FS_TIMEOUT_TAG;
	if (*parent->path && pushed_get(ctx, path, id))
		return fs_tag_fill(ctx, tmpl, FS_REG_TAG, REG_PUSHED, path, id, "");
	/* Asking the registry is for those who may pull (it is a request
	 * with the daemon's credentials to a host the caller names). */
	may_ask = *parent->path && fs_caller_may_pull(ctx, who);
	if (may_ask && registry_tag_valid(name) &&
	    !split(parent->path, host, sizeof(host), &repo) && repo) {
		ret = lookup_remote_tag(ctx, who, host, repo, name, path, tmpl);
		if (!ret || tmpl->path == path)
			return ret;	/* @path is tmpl's, freed with it */
		if (ret != -ENOENT) {
			free(path);
			return ret;
		}
	}
	if (!*parent->path || holds_names(ctx, path) ||
	    (may_ask && registry_path_component_valid(name) && remote_dir(ctx, path)))
		return set_dir(tmpl, path);
	*timeout = FS_TIMEOUT_NEGATIVE;
	free(path);
	return -ENOENT;
}

/* A listing being made: its entries, and their names for uniqueness. */
struct reg_list {
	struct fs_dirlist *out;
	struct htab seen;	/* name -> &seen */
};

/* Adds the first @len bytes of @name once. */
static int add_once(struct reg_list *l, const char *name, size_t len, mode_t type)
{
	char n[256];
	int ret;

	if (!len || len >= sizeof(n))
		return 0;
	memcpy(n, name, len);
	n[len] = '\0';
	if (htab_get(&l->seen, n))
		return 0;
	ret = htab_set(&l->seen, n, &l->seen, NULL);
	if (!ret)
		ret = fs_dirlist_add(l->out, n, type);
	return ret;
}

/* What this mount made or pushed directly below @dir. */
static int list_local(struct fs_ctx *ctx, const char *dir, struct reg_list *l)
{
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
		ret = add_once(l, p, len, e->key[0] == REG_PUSHED && p[len] == '\n' ?
				   S_IFLNK : S_IFDIR);
	}
	pthread_mutex_unlock(&ctx->dirs_lock);
	return ret;
}

/*
 * What the registry lists below registries/@dir (HOST or HOST/REPO...):
 * the next component of each repository of its catalog below it, and
 * the tags of the repository @dir names.  A registry that cannot be
 * asked adds nothing (logged by the client).
 */
static int list_remote(struct fs_ctx *ctx, const char *dir, struct reg_list *l)
{
	struct registry_names names = { 0 };
	char host[256];
	const char *repo;
	bool listed = true;
	size_t rl;
	int ret;

	if (split(dir, host, sizeof(host), &repo))
		return 0;
	rl = repo ? strlen(repo) : 0;
	ret = store_remote_catalog(ctx->store, host, &names);
	if (!ret) {
		listed = !repo || names.cut;
		for (size_t i = 0; i < names.n && !ret; i++) {
			const char *r = names.v[i];

			if (repo && (strncmp(r, repo, rl) != 0 ||
				     (r[rl] != '/' && r[rl] != '\0')))
				continue;
			if (repo && r[rl] == '\0') {
				listed = true;
				continue;
			}
			r += repo ? rl + 1 : 0;
			ret = add_once(l, r, strcspn(r, "/"), S_IFDIR);
		}
		registry_names_release(&names);
	}
	if (ret == -ENOMEM)
		return ret;
	ret = 0;
	/* A registry whose catalog does not list the repository has none
	 * of its tags: no request for each namespace directory. */
	if (!repo || !listed)
		return 0;
	ret = store_remote_tags(ctx->store, host, repo, &names);
	if (ret)
		return ret == -ENOMEM ? ret : 0;
	for (size_t i = 0; i < names.n && !ret; i++)
		ret = add_once(l, names.v[i], strlen(names.v[i]), S_IFLNK);
	registry_names_release(&names);
	return ret;
}

int fs_registries_list(struct fs_ctx *ctx, struct fs_caller *who,
		       struct fs_inode *node, struct fs_dirlist *out)
{
	struct reg_list l = { .out = out };
	int ret;

	ret = htab_init(&l.seen);
	if (ret)
		return ret;
	ret = list_local(ctx, node->path, &l);
	if (!ret && *node->path && who && fs_caller_may_pull(ctx, who))
		ret = list_remote(ctx, node->path, &l);
	htab_release(&l.seen);
	return ret;
}

/* A tag here is as deep as one of repos/, so its link reads the same. */
int fs_registries_readlink(struct fs_ctx *ctx, struct fs_inode *node, char **out)
{
	return fs_repos_readlink(ctx, node, out);
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
	/* Its lists, and a lookup that missed the tag, are stale now. */
	store_remote_forget(ctx->store, host, repo);
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

/*
 * The tags of @host/@repo that @before listed and the registry lists no
 * more (a manifest deleted takes all its tags along) into @c: names in
 * registries/@dir the kernel may hold.  Best effort.
 */
static void changes_gone(struct fs_changes *c, struct fs_ctx *ctx, const char *dir,
			 const char *host, const char *repo,
			 const struct registry_names *before)
{
	struct registry_names now;
	char *key = NULL;
	struct htab left;

	if (store_remote_tags(ctx->store, host, repo, &now))
		return;
	if (asprintf(&key, "%c:%s", REG_MADE, dir) < 0 || htab_init(&left)) {
		free(key);
		registry_names_release(&now);
		return;
	}
	for (size_t i = 0; i < now.n; i++)
		htab_set(&left, now.v[i], &left, NULL);
	for (size_t i = 0; i < before->n; i++)
		if (!htab_get(&left, before->v[i]))
			fs_changes_add(c, key, before->v[i]);
	htab_release(&left);
	registry_names_release(&now);
	free(key);
}

int fs_registries_unlink(struct fs_ctx *ctx, struct fs_caller *who,
			 struct fs_inode *dir, const char *name)
{
	struct registry_names before = { 0 };
	char host[256];
	const char *repo;
	char *path = NULL;
	int ret;

	/* Like a push: a write at the registry under the mount's
	 * credentials, for the same users. */
	if (who->uid != 0 && !fs_caller_may_pull(ctx, who)) {
		log_warn("rm registries/%s/%s: uid %u is neither root, the mount's "
			 "owner nor in the pull group", dir->path, name,
			 (unsigned)who->uid);
		return -EACCES;
	}
	if (split(dir->path, host, sizeof(host), &repo) || !repo) {
		log_warn("rm registries/%s/%s: only a tag of a repository, "
			 "registries/HOST/REPOSITORY/TAG, can be removed", dir->path, name);
		return *dir->path ? -EISDIR : -EPERM;
	}
	if (!registry_tag_valid(name))
		return -ENOENT;
	path = fs_path_join(dir->path, name);
	if (!path)
		return -ENOMEM;
	/* Best effort: the tags listed before, to tell which went along. */
	if (store_remote_tags(ctx->store, host, repo, &before))
		memset(&before, 0, sizeof(before));
	ret = store_remote_delete(ctx->store, host, repo, name);
	if (ret == -EPERM || ret == -EROFS)
		log_warn("rm registries/%s: the registry %s does not delete manifests "
			 "(docker-registry: storage.delete.enabled)", path, host);
	/* A tag pushed here and deleted elsewhere since goes too. */
	if (!ret || ret == -ENOENT)
		pushed_del(ctx, path);
	if (!ret)
		changes_gone(&who->changed, ctx, dir->path, host, repo, &before);
	registry_names_release(&before);
	free(path);
	return ret;
}

int fs_registries_target_id(struct fs_ctx *ctx, struct fs_caller *who,
			    const char *dir, const char *tag, char id[65])
{
	char host[256], mdigest[72];
	const char *repo;
	char *path;
	bool pushed;

	if (split(dir, host, sizeof(host), &repo) || !repo || !registry_tag_valid(tag))
		return -EINVAL;
	/* As a lookup finds it: a tag pushed here first. */
	path = fs_path_join(dir, tag);
	if (!path)
		return -ENOMEM;
	pushed = pushed_get(ctx, path, id);
	free(path);
	if (pushed)
		return 0;
	return fs_tag_pull(ctx, who, host, repo, tag, id, mdigest);
}
