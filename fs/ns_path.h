/* SPDX-License-Identifier: MIT */
/*
 * ns_path.h - the pure rules of the namespace's names: how a repos/ path
 * splits into registry host and repository, and which image a tag link's
 * target text names, as far as that can be told without the store.
 *
 * They are apart from ns_repos.c and ns_write.c (which ask the store) so
 * that every rule is unit-tested on strings alone (tests/unit/test_ns.c).
 * The name grammar itself is registry/oci.h's; nothing here repeats it.
 */
#ifndef IMGFS_FS_NS_PATH_H
#define IMGFS_FS_NS_PATH_H

#include <stdbool.h>

/* Longest link target (and mount-relative path made from one) we take. */
#define FS_TARGET_MAX 4096

/* ---- repos/ paths ------------------------------------------------------ */

/*
 * fs_repos_top_valid - whether @name may be a first component under
 * repos/: a repository path component ("ubuntu", "ouruser") or a valid
 * registry host ("127.0.0.1:5000", "registry.example.com", "localhost").
 */
bool fs_repos_top_valid(const char *name);

/*
 * fs_repos_split - the registry host and repository a repos/ path (no
 * leading or trailing '/') stands for.  As in image references, the first
 * component is a host when it has '.' or ':' or is "localhost" and either
 * more components follow or it cannot be a repository component
 * ("ubuntu16.04" alone is docker.io's library/ubuntu16.04, but
 * "ubuntu16.04/x" is host ubuntu16.04's repository x).  Otherwise the
 * path belongs to @default_host, and on docker.io a one-component
 * repository gets "library/".
 *
 * *@host and *@repo are heap strings the caller frees; *@repo is NULL when
 * the path is empty or only a host.  -EINVAL when the host or the
 * repository is outside the reference grammar (its length limits
 * included), -ENOMEM; on error both are NULL.
 */
int fs_repos_split(const char *path, const char *default_host, char **host,
		   char **repo);

/* "@dir/@name", or @name when @dir is "" (the top of a view); a heap
 * string, NULL when out of memory. */
char *fs_path_join(const char *dir, const char *name);

/* ---- tag link targets -------------------------------------------------- */

/*
 * fs_path_normalise - collapse empty components ("//"), "." and ".." of
 * the relative path @path in place; trailing '/' goes too.  The result is
 * never longer than @path.  -EINVAL when ".." climbs above the start.
 */
int fs_path_normalise(char *path);

/* Whether @target, as a whole, can be an image ID or a prefix of one:
 * 1 to 64 lowercase hex digits, no '/'.  (It may still be a tag name.) */
bool fs_target_is_id(const char *target);

/*
 * fs_target_byid_tail - the hex after a last "by-id/<hex>" of @target
 * (at its start or after a '/'), or NULL.  A tag link copied to another
 * depth ("../../by-id/<id>" made under repos/a/b/, as mv across
 * directories does) still names its image by that tail.
 */
const char *fs_target_byid_tail(const char *target);

enum fs_target_kind {
	FS_TARGET_BYID,		/* by-id/<hex>: an image ID or prefix */
	FS_TARGET_TAG,		/* repos/<dir>/<tag> */
	FS_TARGET_REMOTE,	/* registries/<HOST/REPO...>/<tag> */
};

struct fs_target {
	enum fs_target_kind kind;
	char *path;		/* owned; the pointers below point into it */
	const char *id;		/* BYID: 1 to 64 hex digits */
	const char *dir;	/* TAG, REMOTE: path of the tag's directory
				 * below repos/ or registries/ */
	const char *tag;	/* TAG, REMOTE: the last component */
};

/*
 * fs_target_parse - what the target text of a symlink made in repos/@dir
 * names inside the mount at @mountpoint (absolute, no trailing '/'
 * needed).  An absolute @target must lie inside the mount (-EXDEV
 * otherwise); a relative one is taken from repos/@dir.  After
 * normalising, the path must be by-id/<hex> (nothing below it),
 * repos/<dir>/<tag> or registries/<dir>/<tag>: -EINVAL otherwise, and
 * when it climbs out of the mount.  -ENAMETOOLONG past FS_TARGET_MAX.  Release @out with
 * fs_target_release() on success.
 */
int fs_target_parse(const char *mountpoint, const char *dir, const char *target,
		    struct fs_target *out);
void fs_target_release(struct fs_target *t);

#endif
