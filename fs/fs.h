/* SPDX-License-Identifier: MIT */
/*
 * fs.h - the mount context and the namespace the FUSE handlers serve.
 *
 * The tree (docs/DESIGN.md has the full picture):
 *   /images                     the `docker images` table
 *   /images.json                the same rows as JSON
 *   /status                     work in flight, what is local, errors
 *   /repos/NAME.../TAG          tag symlinks -> ../../by-id/<id>
 *   /by-id/<id>/manifest        exact bytes, digest-verified
 *   /by-id/<id>/config
 *   /by-id/<id>/layers/NN-sha256:<hex>   compressed layer blobs
 *   /by-id/<id>/rootfs/...      the merged filesystem
 *   /by-id/<id>/image.tar       `docker save` of it, generated (save.h)
 *   /by-id/<id>/oci/...         the same as an OCI image layout
 *   /export/NAME/ENTRY, /export/NAME.tar   several images in one archive
 *   /registries/HOST/REPO.../TAG   a link made here pushes (ns_registries.c)
 *
 * struct fs_ctx is the only mutable state shared by the FUSE worker
 * threads.  Lock order: ctx->inodes.lock is a leaf; the store's locks are
 * never taken while it is held (images are released after unlocking).
 */
#ifndef IMGFS_FS_H
#define IMGFS_FS_H

#include <stdbool.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>

#include "buf.h"
#include "inode.h"
#include "store.h"

/* Kernel cache lifetimes.  Anything reached by digest never changes. */
#define FS_TIMEOUT_IMMUTABLE 86400.0
#define FS_TIMEOUT_TAG 1.0
#define FS_TIMEOUT_NEGATIVE 1.0

struct fs_ctx {
	struct store *store;
	const char *default_host;
	const char *mountpoint;	/* absolute, for absolute link targets */
	struct fs_inode_table inodes;
	uid_t uid;		/* owner of the namespace directories */
	gid_t gid;
	struct timespec mount_time;

	/* Directories made with mkdir under repos/ and import/ that no tag
	 * or import fills yet ("r:<path>" and "i:<path>" keys).  They live
	 * as long as the mount, as an empty repository does in Docker's
	 * view: nowhere but here.  Guarded by dirs_lock (a leaf lock). */
	pthread_mutex_t dirs_lock;
	struct htab dirs;
	uint64_t import_seq;	/* dirs_lock: names import files' inodes */
};

/* A directory listing made when a namespace directory is opened. */
struct fs_dirent {
	char *name;
	mode_t type;	/* S_IFDIR, S_IFLNK, S_IFREG */
};
struct fs_dirlist {
	struct fs_dirent *ents;
	size_t n, cap;
};
int fs_dirlist_add(struct fs_dirlist *l, const char *name, mode_t type);
void fs_dirlist_release(struct fs_dirlist *l);

/*
 * fs_ns_lookup - resolve @name in directory @parent: fills @tmpl (key,
 * kind, path, id, n, and a store image reference in tmpl->img for image
 * kinds) and its kernel cache lifetime.  tmpl->key and tmpl->path are
 * heap strings the caller frees.  Looking up a tag that is not local
 * pulls it (store_pull).  -ENOENT, -ENOTDIR or the store's error.
 */
int fs_ns_lookup(struct fs_ctx *ctx, struct fs_inode *parent, const char *name,
		 struct fs_inode *tmpl, double *timeout);
void fs_ns_tmpl_release(struct fs_ctx *ctx, struct fs_inode *tmpl);
/* stat of a node; *timeout is how long the kernel may cache it. */
int fs_ns_stat(struct fs_ctx *ctx, struct fs_inode *node, struct stat *st,
	       double *timeout);
/* Listing of a namespace (non-rootfs) directory. */
int fs_ns_list(struct fs_ctx *ctx, struct fs_inode *node, struct fs_dirlist *out);
int fs_ns_readlink(struct fs_ctx *ctx, struct fs_inode *node, char **out);
/*
 * The cap of a generated file's content (images, images.json, status), the same
 * whether it is measured for stat or produced at open, so that the size
 * stat shows is the size a read gets.
 */
#define FS_GENERATED_MAX ((size_t)64 << 20)
/*
 * fs_ns_generate - the content of generated file @node (FS_GEN_*) into
 * @out, which is initialised here with cap FS_GENERATED_MAX and is
 * the caller's to release whatever the result (-EFBIG past the cap).
 */
int fs_ns_generate(struct fs_ctx *ctx, struct fs_inode *node, struct buf *out);

/* The repos/ view (ns_repos.c). */
int fs_repos_lookup(struct fs_ctx *ctx, const char *dir, const char *name,
		    struct fs_inode *tmpl, double *timeout);
int fs_repos_list(struct fs_ctx *ctx, const char *dir, struct fs_dirlist *out);
int fs_repos_readlink(struct fs_ctx *ctx, struct fs_inode *node, char **out);

/* fs_repos_split() (ns_path.h) with the mount's default host: a repos/
 * path's registry host and repository (NULL when the path is empty or
 * only a host).  Caller frees both. */
int fs_repos_name(struct fs_ctx *ctx, const char *path, char **host, char **repo);
/* Whether @path was made with mkdir under repos/ ('r') or import/ ('i'),
 * or is a selection or entry of export/ ('e', ns_export.c). */
bool fs_dir_made(struct fs_ctx *ctx, char space, const char *path);
int fs_dir_make(struct fs_ctx *ctx, char space, const char *path);
void fs_dir_unmake(struct fs_ctx *ctx, char space, const char *path);
int fs_dirs_list(struct fs_ctx *ctx, char space, const char *dir,
		 struct fs_dirlist *out);
void fs_dir_used(struct fs_ctx *ctx, const char *path);
int fs_dirs_used(struct fs_ctx *ctx, struct fs_dirlist *out);

/*
 * Namespace changes (ns_write.c): docker tag, rmi, import, load.  Each
 * returns 0 or -errno and logs the cause of a failure beyond its errno.
 */
int fs_tag_symlink(struct fs_ctx *ctx, struct fs_inode *dir, const char *name,
		   const char *target);
int fs_tag_link(struct fs_ctx *ctx, struct fs_inode *src, struct fs_inode *dir,
		const char *name);
int fs_tag_rename(struct fs_ctx *ctx, struct fs_inode *dir, const char *name,
		  struct fs_inode *newdir, const char *newname, unsigned int flags);
int fs_ns_unlink(struct fs_ctx *ctx, struct fs_inode *dir, const char *name);
int fs_ns_rmdir(struct fs_ctx *ctx, struct fs_inode *dir, const char *name);
int fs_ns_mkdir(struct fs_ctx *ctx, struct fs_inode *dir, const char *name);
/* The "repo[:tag]" an import file's name stands for (NULL: untagged). */
int fs_import_name(struct fs_ctx *ctx, struct fs_inode *dir, const char *name,
		   char **ref);

/* The generated files at the root, all of kind FS_IMAGES, told apart by
 * node->n. */
enum { FS_GEN_IMAGES, FS_GEN_IMAGES_JSON, FS_GEN_STATUS };
/* The images table and the same rows as JSON (images.c). */
int fs_images_table(struct fs_ctx *ctx, struct buf *out);
int fs_images_json(struct fs_ctx *ctx, struct buf *out);
/* The text of /status (status.c). */
int fs_status_text(struct fs_ctx *ctx, struct buf *out);

struct store_save;
/*
 * fs_ns_save - the `docker save` member list (save.h) behind an image.tar
 * node (the archive, under the image's tags now) or an oci/ node (the
 * OCI layout); the caller frees it with store_save_free().
 */
int fs_ns_save(struct fs_ctx *ctx, struct fs_inode *node, struct store_save **out);

/* export/: `docker save a b c` (ns_export.c). */
int fs_export_lookup(struct fs_ctx *ctx, struct fs_inode *parent, const char *name,
		     struct fs_inode *tmpl, double *timeout);
int fs_export_list(struct fs_ctx *ctx, struct fs_inode *node, struct fs_dirlist *out);
int fs_export_readlink(struct fs_ctx *ctx, struct fs_inode *node, char **out);
/* The archive of export/NAME.tar's selection: -ENODATA while it is empty. */
int fs_export_save(struct fs_ctx *ctx, struct fs_inode *node, struct store_save **out);
int fs_export_mkdir(struct fs_ctx *ctx, struct fs_inode *dir, const char *name);
int fs_export_rmdir(struct fs_ctx *ctx, struct fs_inode *dir, const char *name);
int fs_export_symlink(struct fs_ctx *ctx, struct fs_inode *dir, const char *name,
		      const char *target);
int fs_export_unlink(struct fs_ctx *ctx, struct fs_inode *dir, const char *name);

/* registries/ (ns_registries.c): the root's entry into @tmpl, lookups,
 * listings and links of the view. */
int fs_registries_root(struct fs_inode *tmpl);
int fs_registries_lookup(struct fs_ctx *ctx, struct fs_inode *parent,
			 const char *name, struct fs_inode *tmpl, double *timeout);
int fs_registries_list(struct fs_ctx *ctx, struct fs_inode *node,
		       struct fs_dirlist *out);
int fs_registries_readlink(struct fs_ctx *ctx, struct fs_inode *node, char **out);
int fs_registries_mkdir(struct fs_ctx *ctx, struct fs_inode *dir, const char *name);
/*
 * fs_registries_push - `docker push` of image @id to the registry and
 * repository of registries/ directory @dir as tag @name (store_push()),
 * blocking; on success @name is a link to by-id/<id> for the rest of the
 * mount.  -EINVAL when @dir is not HOST/REPO... or @name not a tag;
 * store_push()'s errors.
 */
int fs_registries_push(struct fs_ctx *ctx, struct fs_inode *dir, const char *name,
		       const char *id);
/* fs_registries_push() of the image a symlink @target names. */
int fs_registries_symlink(struct fs_ctx *ctx, struct fs_inode *dir, const char *name,
			  const char *target);
/*
 * fs_link_target_id - the image a symlink @target made in @dir names (a
 * repos/ directory for relative targets; ns_write.c has the rules).
 */
int fs_link_target_id(struct fs_ctx *ctx, struct fs_inode *dir, const char *target,
		      char id[65]);

/* The tree of an image node's rootfs, building it if needed. */
int fs_ns_rootfs(struct fs_ctx *ctx, struct fs_inode *node,
		 struct store_rootfs **out);

#endif
