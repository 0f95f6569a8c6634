/* SPDX-License-Identifier: MIT */
/*
 * ns_repos.c - the repos/ view: local names as nested directories, tags
 * as symlinks, and `docker pull` done by looking a name up.
 *
 * A directory under repos/ is named by its path below repos/ ("" is
 * repos/ itself, "ubuntu", "127.0.0.1:5000/ouruser").  As in image
 * references, its first component may be a registry host
 * (fs_repos_split() in ns_path.c has the rule: "ubuntu16.04/my" is
 * docker.io's library/ubuntu16.04, tag my).  Listing shows
 * local names only.  Looking up a name that is not local asks the
 * registry, because a lookup is the only thing a user can do to say
 * "pull":
 *   1. a local tag of the directory's repository -> the tag's symlink;
 *   2. a local directory (a prefix of some local name, or made with
 *      mkdir) -> directory;
 *   3. a valid tag of the directory's repository that the registry has
 *      -> pulled (manifest and config only), then the symlink;
 *   4. a directory when the registry knows a repository at or below it:
 *      any valid component at the top (a namespace, a host), below that
 *      only if the registry has that repository or, by its catalog,
 *      repositories under it;
 *   5. otherwise ENOENT (cached briefly by the kernel and the store).
 * Step 4 is strict on purpose: `ln -s IMAGE repos/NAME/TAG` looks TAG up
 * first, and an invented directory there would swallow the new link.
 * For the same reason a registry that cannot be asked (down, no such
 * host) makes step 4 answer ENOENT rather than fail the lookup, and
 * step 3 too when it cannot be reached at all (EHOSTUNREACH: tagging
 * works offline, as `docker tag` does); a registry that answers badly
 * (5xx, TLS, a stall) still fails the lookup with its errno.
 *
 * A tag links to ../../by-id/<name>, or to by-id/<name>@<hex> when it
 * was pulled as a manifest of its image other than the first (ns.c), so
 * that each tag shows its own manifest.
 *
 * Steps 3 and 4 send requests with the daemon's registry credentials to
 * a host the caller names (any host, any loopback port): they are for
 * callers fs_caller_may_pull() admits.  Anyone else gets EACCES there,
 * before any request; steps 1 and 2 (what is local) stay open to all.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fs.h"
#include "log.h"
#include "ns_path.h"
#include "registry.h"

int fs_repos_name(struct fs_ctx *ctx, const char *path, char **host, char **repo)
{
	return fs_repos_split(path, ctx->default_host, host, repo);
}

static void dir_key(char space, const char *path, char *key, size_t len)
{
	snprintf(key, len, "%c:%s", space, path);
}

bool fs_dir_made(struct fs_ctx *ctx, char space, const char *path)
{
	char key[4200];
	bool made;

	dir_key(space, path, key, sizeof(key));
	pthread_mutex_lock(&ctx->dirs_lock);
	made = htab_get(&ctx->dirs, key) != NULL;
	pthread_mutex_unlock(&ctx->dirs_lock);
	return made;
}

int fs_dir_make(struct fs_ctx *ctx, char space, const char *path)
{
	char key[4200];
	int ret;

	if (strlen(path) > 4096)
		return -ENAMETOOLONG;
	dir_key(space, path, key, sizeof(key));
	pthread_mutex_lock(&ctx->dirs_lock);
	ret = htab_set(&ctx->dirs, key, ctx, NULL);
	pthread_mutex_unlock(&ctx->dirs_lock);
	return ret;
}

void fs_dir_unmake(struct fs_ctx *ctx, char space, const char *path)
{
	char key[4200];

	dir_key(space, path, key, sizeof(key));
	pthread_mutex_lock(&ctx->dirs_lock);
	htab_del(&ctx->dirs, key);
	pthread_mutex_unlock(&ctx->dirs_lock);
}

/* Marks made repos/ directory @path as having held a tag. */
void fs_dir_used(struct fs_ctx *ctx, const char *path)
{
	char key[4200];
	struct htab_ent *e;
	size_t it;

	dir_key('r', path, key, sizeof(key));
	pthread_mutex_lock(&ctx->dirs_lock);
	/* The value says "tagged once": &ctx->dirs instead of ctx. */
	for (e = htab_first(&ctx->dirs, &it); e; e = htab_next(&ctx->dirs, &it, e))
		if (strcmp(e->key, key) == 0)
			e->val = &ctx->dirs;
	pthread_mutex_unlock(&ctx->dirs_lock);
}

/* The made repos/ directories that have held a tag. */
int fs_dirs_used(struct fs_ctx *ctx, struct fs_dirlist *out)
{
	struct htab_ent *e;
	size_t it;
	int ret = 0;

	pthread_mutex_lock(&ctx->dirs_lock);
	for (e = htab_first(&ctx->dirs, &it); e && !ret;
	     e = htab_next(&ctx->dirs, &it, e))
		if (e->key[0] == 'r' && e->val == &ctx->dirs)
			ret = fs_dirlist_add(out, e->key + 2, S_IFDIR);
	pthread_mutex_unlock(&ctx->dirs_lock);
	return ret;
}

/* Adds the made directories directly below @dir in @space to @out. */
int fs_dirs_list(struct fs_ctx *ctx, char space, const char *dir,
		 struct fs_dirlist *out)
{
	struct htab_ent *e;
	size_t it, dl = strlen(dir);
	int ret = 0;

	pthread_mutex_lock(&ctx->dirs_lock);
	for (e = htab_first(&ctx->dirs, &it); e && !ret;
	     e = htab_next(&ctx->dirs, &it, e)) {
		const char *p = e->key + 2;

		if (e->key[0] != space)
			continue;
		if (dl) {
			if (strncmp(p, dir, dl) != 0 || p[dl] != '/')
				continue;
			p += dl + 1;
		}
		{
			/* A made directory deeper down shows its first
			 * component here (mkdir -p made only the last). */
			size_t len = strcspn(p, "/");
			char name[256];
			bool dup = false;

			if (!len || len >= sizeof(name))
				continue;
			memcpy(name, p, len);
			name[len] = '\0';
			for (size_t i = 0; i < out->n && !dup; i++)
				dup = strcmp(out->ents[i].name, name) == 0;
			if (!dup)
				ret = fs_dirlist_add(out, name, S_IFDIR);
		}
	}
	pthread_mutex_unlock(&ctx->dirs_lock);
	return ret;
}

bool fs_caller_may_pull(struct fs_ctx *ctx, struct fs_caller *who)
{
	gid_t small[64], *list = small;
	int n, size = 64;

	if (who->may_pull >= 0)
		return who->may_pull;
	who->may_pull = who->uid == ctx->uid ||
			(ctx->pull_group_set && who->gid == ctx->pull_gid);
	if (who->may_pull || !ctx->pull_group_set || !who->groups)
		return who->may_pull;
	n = who->groups(who->groups_arg, list, size);
	if (n > size) {
		/* More groups than the first guess: ask again with room. */
		size = n;
		list = calloc((size_t)size, sizeof(*list));
		n = list ? who->groups(who->groups_arg, list, size) : -ENOMEM;
	}
	for (int i = 0; i < n && i < size; i++)
		if (list[i] == ctx->pull_gid)
			who->may_pull = 1;
	if (n < 0)
		log_info("cannot read the groups of uid %u: %s (pull refused)",
			 (unsigned)who->uid, strerror(-n));
	if (list != small)
		free(list);
	return who->may_pull;
}

/* The repos/ path of a local tag's directory: its familiar name. */
static char *ns_tag_dir(struct fs_ctx *ctx, const struct store_tag *t)
{
	return registry_ref_familiar(t->host, t->repo, ctx->default_host);
}

/*
 * What @full (a local tag's path "dir/tag") is relative to directory
 * @dir: -ENOENT if not below it, else *child (first component below dir,
 * pointing into @full) and *is_tag (that component is the tag itself).
 */
static int below(const char *dir, const char *full, const char **child,
		 size_t *len, bool *is_tag)
{
	size_t dl = strlen(dir);
	const char *rest;
	const char *slash;

	if (dl) {
		if (strncmp(full, dir, dl) != 0 || full[dl] != '/')
			return -ENOENT;
		rest = full + dl + 1;
	} else {
		rest = full;
	}
	slash = strchr(rest, '/');
	*child = rest;
	*len = slash ? (size_t)(slash - rest) : strlen(rest);
	*is_tag = !slash;
	return 0;
}

/* Visits every local tag as "dir/tag" with its id and the manifest it
 * was pulled as ("" for none of its own). */
static int for_each_tag(struct fs_ctx *ctx,
			int (*fn)(void *arg, const char *full, const char *id,
				  const char *mdigest),
			void *arg)
{
	struct store_tag *tags = NULL;
	size_t n = 0;
	int ret;

	ret = store_tag_list(ctx->store, &tags, &n);
	if (ret)
		return ret;
	for (size_t i = 0; i < n && ret == 0; i++) {
		char *dir = ns_tag_dir(ctx, &tags[i]);
		char *full = dir ? fs_path_join(dir, tags[i].tag) : NULL;

		ret = full ? fn(arg, full, tags[i].id, tags[i].manifest) : -ENOMEM;
		free(full);
		free(dir);
	}
	store_tag_list_free(tags, n);
	return ret;
}

struct list_arg {
	const char *dir;
	struct fs_dirlist *out;
};

static int list_one(void *p, const char *full, const char *id,
		    const char *mdigest)
{
	struct list_arg *a = p;
	const char *child;
	size_t len;
	bool is_tag;
	char name[256];

	(void)id;
	(void)mdigest;
	if (below(a->dir, full, &child, &len, &is_tag) || len >= sizeof(name))
		return 0;
	memcpy(name, child, len);
	name[len] = '\0';
	for (size_t i = 0; i < a->out->n; i++)
		if (strcmp(a->out->ents[i].name, name) == 0)
			return 0;
	return fs_dirlist_add(a->out, name, is_tag ? S_IFLNK : S_IFDIR);
}

int fs_repos_list(struct fs_ctx *ctx, const char *dir, struct fs_dirlist *out)
{
	struct list_arg a = { .dir = dir, .out = out };
	struct fs_dirlist made = { 0 };
	int ret;

	ret = for_each_tag(ctx, list_one, &a);
	if (!ret)
		ret = fs_dirs_list(ctx, 'r', dir, &made);
	for (size_t i = 0; i < made.n && !ret; i++) {
		bool dup = false;

		for (size_t j = 0; j < out->n && !dup; j++)
			dup = strcmp(out->ents[j].name, made.ents[i].name) == 0;
		if (!dup)
			ret = fs_dirlist_add(out, made.ents[i].name, S_IFDIR);
	}
	fs_dirlist_release(&made);
	return ret;
}

struct find_arg {
	const char *dir;
	const char *name;
	int found;		/* 0 none, S_IFDIR, S_IFLNK */
	char id[65];
	char manifest[72];
};

static int find_one(void *p, const char *full, const char *id,
		    const char *mdigest)
{
	struct find_arg *a = p;
	const char *child;
	size_t len;
	bool is_tag;

	if (below(a->dir, full, &child, &len, &is_tag))
		return 0;
	if (len != strlen(a->name) || memcmp(child, a->name, len) != 0)
		return 0;
	if (is_tag) {
		a->found = S_IFLNK;
		snprintf(a->id, sizeof(a->id), "%s", id);
		snprintf(a->manifest, sizeof(a->manifest), "%s", mdigest);
	} else if (!a->found) {
		a->found = S_IFDIR;
	}
	return 0;
}

/*
 * The manifest variant tag link @tmpl to image @id shows: the hex of
 * @mdigest (the manifest the tag was pulled as) when that is a source of
 * the image other than its first, else "" (the image's own directory).
 */
static void tag_variant(struct fs_ctx *ctx, struct fs_inode *tmpl,
			const char *id, const char *mdigest)
{
	struct store_image_source src;
	struct store_image *img;

	if (!registry_digest_valid(mdigest) || store_image_get(ctx->store, id, &img))
		return;
	/* A source that is gone (or did not load) is not linked to: the
	 * link would dangle, and the image's own manifest is the best
	 * there is. */
	if (strcmp(mdigest, store_image_manifest_digest(img)) != 0 &&
	    !store_image_source(ctx->store, img, mdigest, &src))
		snprintf(tmpl->mhex, sizeof(tmpl->mhex), "%s",
			 mdigest + strlen(REGISTRY_DIGEST_PREFIX));
	store_image_put(ctx->store, img);
}

int fs_tag_fill(struct fs_ctx *ctx, struct fs_inode *tmpl, enum fs_kind kind,
		char space, char *path, const char *id, const char *mdigest)
{
	char idname[REGISTRY_HEX_LEN + 1];
	int ret;

	tmpl->kind = kind;
	tmpl->path = path;
	snprintf(tmpl->id, sizeof(tmpl->id), "%s", id);
	/* The link names the image by its by-id/ name, whose length is
	 * fixed here for the node's life, and the tag's own manifest. */
	ret = fs_id_name(ctx, id, idname);
	if (ret)
		return ret;
	tmpl->n = (uint32_t)strlen(idname);
	tag_variant(ctx, tmpl, id, mdigest);
	/* The key names the image, the variant and that length too: a tag
	 * moved to another image or manifest, or whose image's name grew,
	 * is another inode, so a cached readlink never shows the old
	 * target. */
	if (asprintf(&tmpl->key, "%c:%s:%s%s%s:%u", space, path, id,
		     *tmpl->mhex ? "@" : "", tmpl->mhex, tmpl->n) < 0) {
		tmpl->key = NULL;
		return -ENOMEM;
	}
	return 0;
}

static int fill_tag(struct fs_ctx *ctx, struct fs_inode *tmpl, const char *dir,
		    const char *name, const char *id, const char *mdigest)
{
	char *path = fs_path_join(dir, name);

	if (!path)
		return -ENOMEM;
	return fs_tag_fill(ctx, tmpl, FS_TAG, 't', path, id, mdigest);
}

/*
 * The manifest tag host/repo:tag was pulled as into @mdigest ("" when it
 * has none of its own, or names another image than @id by now).  By name,
 * not by repos/ path: a tag of the default registry is reached by its
 * familiar path and by one with the host.
 */
static int tag_manifest(struct fs_ctx *ctx, const char *host, const char *repo,
			const char *tag, const char *id, char mdigest[72])
{
	struct store_tag *tags = NULL;
	size_t n = 0;
	int ret;

	mdigest[0] = '\0';
	ret = store_tag_list(ctx->store, &tags, &n);
	if (ret)
		return ret;
	for (size_t i = 0; i < n; i++)
		if (!strcmp(tags[i].host, host) && !strcmp(tags[i].repo, repo) &&
		    !strcmp(tags[i].tag, tag) && !strcmp(tags[i].id, id))
			memcpy(mdigest, tags[i].manifest, sizeof(tags[i].manifest));
	store_tag_list_free(tags, n);
	return 0;
}

int fs_tag_pull(struct fs_ctx *ctx, struct fs_caller *who, const char *host,
		const char *repo, const char *tag, char id[65], char mdigest[72])
{
	int ret;

	mdigest[0] = '\0';
	ret = store_tag_get(ctx->store, host, repo, tag, id);
	if (ret == -ENOENT) {
		if (!fs_caller_may_pull(ctx, who)) {
			log_info("%s/%s:%s: not local, and uid %u may not pull", host,
				 repo, tag, (unsigned)who->uid);
			return -EACCES;
		}
		ret = store_pull(ctx->store, host, repo, tag, id);
		/* A new image's by-id/ names may be cached as absent (best
		 * effort: a miss lives out its cache time). */
		if (!ret)
			fs_changes_image(ctx, &who->changed, id, false);
	}
	if (!ret)
		ret = tag_manifest(ctx, host, repo, tag, id, mdigest);
	return ret;
}

static int fill_dir(struct fs_inode *tmpl, const char *dir, const char *name)
{
	char *path = fs_path_join(dir, name);

	if (!path)
		return -ENOMEM;
	tmpl->kind = FS_REPOS_DIR;
	tmpl->path = path;
	if (asprintf(&tmpl->key, "p:%s", path) < 0) {
		tmpl->key = NULL;
		return -ENOMEM;
	}
	return 0;
}

int fs_repos_lookup(struct fs_ctx *ctx, struct fs_caller *who,
		    const char *dir, const char *name,
		    struct fs_inode *tmpl, double *timeout)
{
	struct find_arg a = { .dir = dir, .name = name };
	char *host = NULL, *repo = NULL;
	char id[65];
	char *sub = NULL;
	int ret;

	*timeout = FS_TIMEOUT_TAG;
	ret = for_each_tag(ctx, find_one, &a);
	if (ret)
		return ret;
	if (a.found == S_IFLNK)
		return fill_tag(ctx, tmpl, dir, name, a.id, a.manifest);
	if (a.found == S_IFDIR)
		return fill_dir(tmpl, dir, name);
	sub = fs_path_join(dir, name);
	if (!sub)
		return -ENOMEM;
	if (fs_dir_made(ctx, 'r', sub)) {
		free(sub);
		return fill_dir(tmpl, dir, name);
	}
	free(sub);
	sub = NULL;

	ret = fs_repos_name(ctx, dir, &host, &repo);
	if (ret) {
		if (ret == -EINVAL)	/* no name can be below it */
			ret = -ENOENT;
		goto out;
	}
	/* Step 3: a tag of the directory's repository, pulled. */
	if (repo && registry_tag_valid(name)) {
		ret = fs_tag_pull(ctx, who, host, repo, name, id, a.manifest);
		if (ret == 0) {
			ret = fill_tag(ctx, tmpl, dir, name, id, a.manifest);
			goto out;
		}
		if (ret == -EHOSTUNREACH) {
			/* No registry to ask (no network, no such host): the
			 * name is not there, as `docker tag` sees it offline,
			 * so that `ln -s IMAGE repos/NAME/TAG` still makes a
			 * local tag.  status and the log keep the cause. */
			log_warn("repos/%s/%s: registry %s unreachable: not found",
				 dir, name, host);
			ret = -ENOENT;
			goto out;
		}
		if (ret != -ENOENT)
			goto out;
	}
	/* Step 4: a directory the registry vouches for. */
	ret = -ENOENT;
	if (!*dir) {
		if (!fs_repos_top_valid(name))
			goto out;
	} else {
		char *shost = NULL, *srepo = NULL;

		if (!registry_path_component_valid(name))
			goto out;
		if (!fs_caller_may_pull(ctx, who)) {
			log_info("repos/%s/%s: not local, and uid %u may not ask "
				 "the registry", dir, name, (unsigned)who->uid);
			ret = -EACCES;
			goto out;
		}
		sub = fs_path_join(dir, name);
		if (!sub) {
			ret = -ENOMEM;
			goto out;
		}
		ret = fs_repos_name(ctx, sub, &shost, &srepo);
		if (!ret && srepo) {
			ret = store_remote_repo_exists(ctx->store, shost, srepo);
			if (ret == -ENOENT)
				ret = store_remote_namespace_exists(ctx->store, shost, srepo);
		} else if (!ret) {
			ret = -ENOENT;
		}
		free(shost);
		free(srepo);
		if (ret) {
			if (ret != -ENOENT && ret != -EINVAL)
				log_info("repos/%s: registry not asked (%s)", sub,
					 strerror(-ret));
			ret = -ENOENT;
			goto out;
		}
	}
	ret = fill_dir(tmpl, dir, name);
out:
	free(sub);
	free(host);
	free(repo);
	return ret;
}

/* ../../by-id/<name>, or <name>@<hex> for a tag of a manifest not the
 * image's first: one "../" per component of the tag's directory. */
int fs_repos_readlink(struct fs_ctx *ctx, struct fs_inode *node, char **out)
{
	struct buf t;
	int ret = 0;

	(void)ctx;
	buf_init(&t, 16384);
	/* repos/<path>: one "../" per component of the tag's directory, one
	 * for repos/ itself. */
	for (const char *p = node->path; *p && !ret; p++)
		if (*p == '/')
			ret = buf_addstr(&t, "../");
	if (!ret)
		ret = buf_printf(&t, "../by-id/%.*s%s%s", (int)node->n, node->id,
				 *node->mhex ? "@" : "", node->mhex);
	if (ret) {
		buf_release(&t);
		return ret;
	}
	*out = buf_detach(&t, NULL);
	return 0;
}
