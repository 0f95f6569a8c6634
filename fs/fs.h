/* SPDX-License-Identifier: MIT */
/*
 * fs.h - the mount context and the namespace the FUSE handlers serve.
 *
 * The tree (docs/DESIGN.md has the full picture):
 *   /images                     the `docker images` table
 *   /images.json                the same rows as JSON
 *   /status                     work in flight, what is local, errors
 *   /repos/NAME.../TAG          tag symlinks -> ../../by-id/<id>, or
 *                               <id>@<hex>: the manifest it was pulled as
 *   /by-id/<id>/manifest        exact bytes, digest-verified
 *   /by-id/<id>/config
 *   /by-id/<id>/layers/NN-sha256:<hex>   compressed layer blobs
 *   /by-id/<id>/rootfs/...      the merged filesystem
 *   /by-id/<id>/image.tar       `docker save` of it, generated (save.h)
 *   /by-id/<id>/oci/...         the same as an OCI image layout
 *   /by-id/<id>@<hex>/...       another manifest of the image (not listed)
 *   /export/NAME/ENTRY, /export/NAME.tar   several images in one archive
 *   /registries/HOST/REPO.../TAG   a registry's repositories and tags;
 *                               a link made here pushes (ns_registries.c)
 *
 * struct fs_ctx is the only mutable state shared by the FUSE worker
 * threads.  Lock order: ctx->inodes.lock is a leaf; the store's locks are
 * never taken while it is held (images are released after unlocking).
 */
#ifndef IMGFS_FS_H
#define IMGFS_FS_H

#include <pthread.h>
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

struct fs_open;

/*
 * The callers (thread ids) seen to stat what they list: a rootfs listing
 * carries its entries' attributes (READDIRPLUS) only to them.  A walker
 * that stats every entry (tar, ls -l, du) saves a LOOKUP per name; one
 * that reads only names and types (find) would pay for attributes it
 * never uses: the kernel makes an inode for every entry that carries
 * them and forgets it later (a cold find over 103k files: 0.48 s with,
 * 0.09 s without).  The kernel's own adaptive mode judges per
 * directory, and lists every directory's first page with attributes;
 * this judges per caller.  A few recent callers are kept; a reused id
 * only costs a choice.  lock is a leaf.
 */
#define FS_STATTERS 32
struct fs_statters {
	pthread_mutex_t lock;
	pid_t pid[FS_STATTERS];
	unsigned next;		/* the slot the next new caller takes */
};

/* fs_statters_note - @pid looked up a non-directory in a rootfs. */
void fs_statters_note(struct fs_statters *s, pid_t pid);
/* fs_statters_has - whether @pid was noted (and not since pushed out). */
bool fs_statters_has(struct fs_statters *s, pid_t pid);

/* Archives read without handles whose member list is kept (ops_file.c). */
#define FS_SAVES 8
struct fs_saved;
struct fs_import_conn;

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

	/* -o pull_group=GROUP: its members may pull as well as the daemon's
	 * own user (fs_caller_may_pull). */
	bool pull_group_set;
	gid_t pull_gid;

	/* -o busy_dirs: directories are opened with a handle, so that an
	 * open directory holds its image busy; else (the kernel willing)
	 * they are opened without a request and listed without a handle
	 * (ops.c, op_opendir).  dirs_stateless is decided at init, before
	 * any other request, and only read afterwards. */
	bool busy_dirs;
	bool dirs_stateless;
	/* -o stateless_files: files are opened without a request and read
	 * without a handle, the kernel willing (ops_file.c, fs_op_open); decided
	 * at init like dirs_stateless. */
	bool stateless_files;
	bool files_stateless;
	/* The member lists of archives read without a handle, per node
	 * (ops_file.c, saved_get).  saves_lock is a leaf. */
	pthread_mutex_t saves_lock;
	struct fs_saved *saves[FS_SAVES];
	uint64_t saves_tick;	/* saves_lock */

	/* import/ on a FUSE connection of its own (import_conn.c), mounted
	 * at import_dir, which `import` in the root links to; NULL when it
	 * could not be mounted and import/ is a directory of this mount.
	 * Both set before either session runs, then only read. */
	char *import_dir;
	struct fs_import_conn *import_conn;

	/* The FUSE edge's sender of cache invalidations (ops_notify.c). */
	struct fs_notifier *notifier;

	/* Every handle the kernel holds (files and directories, ops*.c), so
	 * that those whose release never comes (a lazily unmounted file
	 * still open when the connection ends) are released at exit:
	 * imports roll back, nothing leaks.  open_lock is a leaf. */
	pthread_mutex_t open_lock;
	struct fs_open *open;
	struct fs_statters statters;
};

/*
 * A name the kernel may have cached (as present or as absent) that a
 * change of the namespace made, removed or re-pointed: @name in the
 * directory whose inode key is @parent ("p:<repos path>", "B", "D").
 */
struct fs_change {
	char *parent;
	char *name;
};
struct fs_changes {
	struct fs_change *v;
	size_t n, cap;
};
/* Record @name in @parent (a duplicate is not added again). */
int fs_changes_add(struct fs_changes *c, const char *parent, const char *name);
void fs_changes_release(struct fs_changes *c);

/*
 * struct fs_caller - who a request comes from, as far as the namespace
 * cares, and what the request changed.  The FUSE edge fills it; the
 * namespace functions below take it so that they stay FUSE-free.
 *
 * Pulling a name that is not local makes the daemon send a request with
 * its user's registry credentials, so it is for the daemon's user and
 * members of pull_group only; reading what is local is for everyone.
 */
struct fs_caller {
	uid_t uid;
	gid_t gid;		/* primary group */
	int may_pull;		/* 1, 0, or -1: not decided yet */
	/*
	 * The caller's supplementary groups into @list (room for @size);
	 * their number (more than @size: ask again with that room) or
	 * -errno.  NULL when they cannot be known (none are counted).
	 */
	int (*groups)(void *arg, gid_t *list, int size);
	void *groups_arg;
	struct fs_changes changed;	/* names to invalidate */
};

/*
 * fs_caller_may_pull - whether @who may make the daemon ask a registry
 * about a name that is not local: the daemon's user, and with
 * pull_group the group's members (primary or supplementary group).
 * Decided once per caller (the group list is read only if needed).
 */
bool fs_caller_may_pull(struct fs_ctx *ctx, struct fs_caller *who);

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
 * pulls it (store_pull) when @who may pull (-EACCES, and no request,
 * otherwise); what a pull added is recorded in who->changed.  -ENOENT,
 * -ENOTDIR, -EACCES or the store's error.
 */
int fs_ns_lookup(struct fs_ctx *ctx, struct fs_caller *who,
		 struct fs_inode *parent, const char *name,
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
int fs_repos_lookup(struct fs_ctx *ctx, struct fs_caller *who,
		    const char *dir, const char *name,
		    struct fs_inode *tmpl, double *timeout);
int fs_repos_list(struct fs_ctx *ctx, const char *dir, struct fs_dirlist *out);
int fs_repos_readlink(struct fs_ctx *ctx, struct fs_inode *node, char **out);

/*
 * fs_tag_pull - the image of tag @host/@repo:@tag into @id, pulled
 * (store_pull()) when it is not local and @who may pull (-EACCES, and no
 * request, otherwise), and the manifest it was pulled as into @mdigest
 * ("" for none of its own).  What a pull added is recorded in
 * who->changed.  How repos/ and registries/ resolve a tag.
 */
int fs_tag_pull(struct fs_ctx *ctx, struct fs_caller *who, const char *host,
		const char *repo, const char *tag, char id[65], char mdigest[72]);
/*
 * fs_tag_fill - @tmpl as the link of a tag at @path (a heap string @tmpl
 * takes) to image @id, showing manifest @mdigest when that is a source
 * of the image other than its first: kind @kind, key
 * "<@space>:<path>:<id>[@<hex>]:<len>" (inode.h).
 */
int fs_tag_fill(struct fs_ctx *ctx, struct fs_inode *tmpl, enum fs_kind kind,
		char space, char *path, const char *id, const char *mdigest);

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
 * Each records in who->changed every name it made, removed or re-pointed
 * (also when it fails part way), the kernel's cached entries of which the
 * FUSE edge then drops.
 */
int fs_tag_symlink(struct fs_ctx *ctx, struct fs_caller *who,
		   struct fs_inode *dir, const char *name, const char *target);
int fs_tag_link(struct fs_ctx *ctx, struct fs_caller *who, struct fs_inode *src,
		struct fs_inode *dir, const char *name);
int fs_tag_rename(struct fs_ctx *ctx, struct fs_caller *who,
		  struct fs_inode *dir, const char *name,
		  struct fs_inode *newdir, const char *newname, unsigned int flags);
int fs_ns_unlink(struct fs_ctx *ctx, struct fs_caller *who,
		 struct fs_inode *dir, const char *name);
int fs_ns_rmdir(struct fs_ctx *ctx, struct fs_caller *who,
		struct fs_inode *dir, const char *name);
/*
 * fs_changes_image - the names image @id has or had into @c: by-id/ and
 * dangling/, and with @tags its tags' repos/ paths (after an import added
 * it, or before it goes; not when only its tags changed, which the
 * change records itself).
 */
int fs_changes_image(struct fs_ctx *ctx, struct fs_changes *c, const char *id,
		     bool tags);
/* The names of what an import made, from the lines of its @result
 * (store_import_finish()): each image named and its tags. */
int fs_changes_import(struct fs_ctx *ctx, struct fs_changes *c,
		      const char *result);
/* The names of tag @host/@repo:@tag: each component of its repos/ path. */
int fs_changes_tag(struct fs_ctx *ctx, struct fs_changes *c, const char *host,
		   const char *repo, const char *tag);
int fs_ns_mkdir(struct fs_ctx *ctx, struct fs_inode *dir, const char *name);
/* The "repo[:tag]" an import file's name stands for (NULL: untagged). */
int fs_import_name(struct fs_ctx *ctx, struct fs_inode *dir, const char *name,
		   char **ref);

/*
 * Images by name in by-id/ and dangling/ (ns.c).  An image is shown, and
 * named in tag link targets, by the shortest prefix of its ID of at least
 * REGISTRY_ID_SHORT_LEN hex digits that no other local image shares (as
 * git abbreviates): two IDs that share 12 digits both get longer names
 * instead of one name for two images.  A lookup takes any prefix of at
 * least REGISTRY_ID_SHORT_LEN digits that names exactly one image; an
 * ambiguous one is ENOENT, never a pick.  (The images table keeps
 * Docker's 12-digit IMAGE ID column.)
 *
 * fs_id_unique_len - that prefix's length for @id among @ids (which may
 * hold @id itself; entries equal to it are skipped).
 */
size_t fs_id_unique_len(const char *id, char *const *ids, size_t n);
/* fs_id_name - the by-id/ name of local image @id into @name, among the
 * images local now. */
int fs_id_name(struct fs_ctx *ctx, const char *id, char name[65]);
/* fs_id_resolve - the full ID of the one local image @name (a prefix of
 * at least REGISTRY_ID_SHORT_LEN hex digits, or a full ID) names into
 * @id: -ENOENT when none, or more than one, does. */
int fs_id_resolve(struct fs_ctx *ctx, const char *name, char id[65]);

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

/*
 * fs_ns_image_file - the bytes of manifest or config node @node appended
 * to @out: a manifest variant's (by-id/<name>@<hex>) manifest is its
 * source's, -ENOENT once the image's record no longer names it.
 */
int fs_ns_image_file(struct fs_ctx *ctx, struct fs_inode *node, struct buf *out);
/*
 * fs_ns_layer_open - fetch (if needed) and open the blob of layers/ node
 * @node (of the manifest its image node shows): a shared descriptor,
 * given back with fs_ns_layer_close(), as store_image_layer_open() says.
 */
int fs_ns_layer_open(struct fs_ctx *ctx, struct fs_inode *node, int *fd);
void fs_ns_layer_close(struct fs_ctx *ctx, struct fs_inode *node);

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
int fs_registries_lookup(struct fs_ctx *ctx, struct fs_caller *who,
			 struct fs_inode *parent, const char *name,
			 struct fs_inode *tmpl, double *timeout);
/* The names of registries/ directory @node: those this mount made or
 * pushed, and with @who (NULL: none) allowed to pull, the registry's
 * repositories and tags below it (store_remote_catalog(), _tags()). */
int fs_registries_list(struct fs_ctx *ctx, struct fs_caller *who,
		       struct fs_inode *node, struct fs_dirlist *out);
/*
 * fs_registries_unlink - `rm registries/HOST/REPO/TAG`: delete that tag's
 * manifest at the registry (store_remote_delete()), for root, the mount's
 * owner and the pull group (-EACCES for others).  -EISDIR (-EPERM at
 * registries/ itself) when @dir is no repository, -ENOENT for a name that
 * is no tag; the registry's errors (-EPERM where it does not delete).
 */
int fs_registries_unlink(struct fs_ctx *ctx, struct fs_caller *who,
			 struct fs_inode *dir, const char *name);
/*
 * fs_registries_target_id - the image of remote tag registries/@dir/@tag
 * (a link target), pulled if needed as fs_tag_pull() does.  -EINVAL when
 * @dir is not HOST/REPO.
 */
int fs_registries_target_id(struct fs_ctx *ctx, struct fs_caller *who,
			    const char *dir, const char *tag, char id[65]);
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
/* fs_registries_push() of the image a symlink @target names (a tag that
 * is not local is pulled first, if @who may pull). */
int fs_registries_symlink(struct fs_ctx *ctx, struct fs_caller *who,
			  struct fs_inode *dir, const char *name, const char *target);
/*
 * fs_link_target_id - the image a symlink @target made in @dir names (a
 * repos/ directory for relative targets; ns_write.c has the rules), as
 * @who resolves it (a tag that is not local is pulled if @who may pull).
 */
int fs_link_target_id(struct fs_ctx *ctx, struct fs_caller *who, struct fs_inode *dir,
		      const char *target, char id[65]);

/* The tree of an image node's rootfs, building it if needed. */
int fs_ns_rootfs(struct fs_ctx *ctx, struct fs_inode *node,
		 struct store_rootfs **out);

#endif
