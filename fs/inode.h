/* SPDX-License-Identifier: MIT */
/*
 * inode.h - the table of inodes the kernel knows about.
 *
 * Design.  Everything in the mount is a node named by a stable string key
 * that says what it is (ns.c, ns_repos.c and ops_write.c make them):
 *   "R"                   the root
 *   "p:<repos path>"      a directory under repos/ ("p:" is repos/ itself)
 *   "t:<repos path>/<tag>:<id>[@<hex>]:<len>"  a tag link; the image
 *                         id, the manifest variant it links to (mhex, when
 *                         not the image's first) and the length of its
 *                         by-id/ name (n) are part of the key, so a tag
 *                         moved to another image or manifest is another
 *                         inode and a cached readlink never shows the old
 *                         target
 *   "B", "I", "D"         by-id/, the images table, dangling/
 *   "d:<id>:<len>"        a link in dangling/ (len as for tags)
 *   "i:<name>"            an image directory under by-id/, keyed by the
 *                         name it was looked up by, so that by-id/<12 hex>
 *                         and by-id/<full hex> are two directories, never
 *                         one directory with two parents; the name of
 *                         a manifest variant, "<name>@<hex>", keys it and
 *                         everything below it apart from the image's
 *   "f:<name>:<n>"        its manifest (0) or config (1)
 *   "L:<name>", "l:<name>:<i>"   its layers/ directory and layer i
 *   "r:<name>:<n>"        rootfs inode n of that image (hardlinks of the
 *                         image map to one n, hence one inode)
 *   "a:<name>"            its image.tar (`docker save`)
 *   "o:<name>:<n>"        its oci/ directory (0) or member n-1 of the
 *                         image's OCI layout below it (save.h)
 *   "x", "X:<set>", "y:<set>"   export/, a selection and its archive
 *   "z:e:<set>/<entry record>"  an image in a selection (ns_export.c)
 *   "m:<path>"            import/ and directories below it
 *   "g:<path>"            registries/ and directories below it
 *   "G:<path>/<tag>:<id>[@<hex>]:<len>"  a tag there (pushed, or the
 *                         registry's), keyed as a repos/ tag is
 *   "w:<seq>"             a file being written into import/
 * The first lookup of a key allocates the next node id; the same key
 * always finds the same node while the kernel holds a reference; the
 * node goes away when the kernel forgets it (lookup count zero).  Node
 * ids are never reused within a mount (a counter below 2^32), so a stale
 * kernel reference can never reach a different object; rootfs ids (below)
 * come back only for the same file.
 *
 * The inode number a program sees (st_ino, d_ino) is the node id, except
 * under rootfs/: there it must not change when the kernel forgets and
 * looks a file up again (memory pressure, drop_caches), or two names of
 * one hardlinked file could show two numbers in one `tar` run.  A rootfs
 * file's number is made of the image name's slot (the first lookup of an
 * image name in the mount gives it the next slot, kept until unmount) and
 * its rootfs inode: fs_inode_stable_ino().  Slots start at 1, so these
 * numbers are >= 2^32 and do not meet node ids below 2^32.  They are
 * also the node ids of rootfs files, which are not kept as nodes at all:
 * the slot counts the kernel's lookups of each (8 bytes a file instead
 * of ~300 for a node with its key, path and map entries) and hands out a
 * node made for each fs_inode_get(), freed by its fs_inode_put().  A
 * rootfs node id is thus the same each time the kernel looks the file up
 * again; it always names the same file (the image name is the slot's).
 *
 * This file has no FUSE in it so that it can be unit-tested.
 *
 * Locking: table->lock guards both maps and every node's nlookup.  A node's
 * other fields are immutable after creation, so a caller holding a
 * reference (fs_inode_get) may read them without the lock.  It is a leaf
 * lock: nothing else is taken while it is held.
 */
#ifndef IMGFS_FS_INODE_H
#define IMGFS_FS_INODE_H

#include <pthread.h>
#include <stdint.h>

#include "htab.h"

struct store_image;
struct fs_slot;

enum fs_kind {
	FS_ROOT = 1,
	FS_REPOS_DIR,	/* a directory under repos/: key path */
	FS_TAG,		/* a tag symlink: image id */
	FS_BYID,	/* by-id/ */
	FS_IMAGE_DIR,	/* by-id/<name>/ */
	FS_IMAGE_FILE,	/* manifest, config */
	FS_LAYERS_DIR,	/* by-id/<name>/layers/ */
	FS_LAYER,	/* one layer blob */
	FS_ROOTFS,	/* a node of the merged rootfs */
	FS_IMAGES,	/* the images table */
	FS_DANGLING,	/* dangling/ */
	FS_DANGLING_LINK,
	FS_IMPORT_DIR,	/* import/ and directories below it */
	FS_IMPORT_FILE,	/* a file being written into import/ */
	FS_IMPORT_LINK,	/* import in the root: a symlink to the import/
			 * connection's mountpoint (import_conn.c) */
	FS_SAVE_TAR,	/* by-id/<name>/image.tar */
	FS_OCI,		/* by-id/<name>/oci/ and what is below it */
	FS_EXPORT_DIR,	/* export/ */
	FS_EXPORT_SET,	/* export/NAME/: path NAME */
	FS_EXPORT_LINK,	/* export/NAME/ENTRY: an image chosen, id */
	FS_EXPORT_TAR,	/* export/NAME.tar: path NAME */
	FS_REG_DIR,	/* registries/ and below: path HOST/REPO... */
	FS_REG_TAG,	/* a tag there (pushed or the registry's): path
			 * HOST/REPO.../TAG, id, n, mhex as FS_TAG */
};

struct fs_inode {
	uint64_t ino;
	enum fs_kind kind;
	uint64_t nlookup;	/* table->lock */
	int pins;		/* table->lock: in-flight ops using the node */
	char *key;		/* owned */
	char *path;		/* kind-specific: repos path, image name... */
	char id[65];		/* image id for image kinds and tags */
	/* The hex of the manifest digest an image node (by-id/<name>@<hex>)
	 * or a tag link shows, when it is not the image's first: "" for
	 * the image's own. */
	char mhex[65];
	uint32_t n;		/* rootfs inode, layer index, file selector */
	struct store_image *img;	/* a reference, for image kinds */
};

struct fs_inode_table {
	pthread_mutex_t lock;
	struct htab by_key;	/* key -> node */
	struct htab by_ino;	/* decimal ino -> node */
	uint64_t next_ino;
	struct htab slots;	/* image name -> struct fs_slot, kept until unmount */
	struct fs_slot **slot_arr;	/* slot number - 1 -> slot */
	size_t n_slots, slots_cap;
};

/*
 * fs_inode_stable_ino - the st_ino of rootfs inode @n of the image looked
 * up as @img_name: the same for the life of the mount, whatever the
 * kernel forgets.  0 only when out of memory (callers then fall back to
 * the node id).
 */
uint64_t fs_inode_stable_ino(struct fs_inode_table *t, const char *img_name,
			     uint32_t n);

int fs_inode_table_init(struct fs_inode_table *t);
/* Frees every node; images still referenced are handed to @put. */
void fs_inode_table_release(struct fs_inode_table *t,
			    void (*put)(void *ctx, struct store_image *img),
			    void *ctx);

/*
 * fs_inode_lookup - find or create the node for @tmpl->key, count one
 * kernel lookup on it and pin it for the caller.  When a node is created
 * it takes @tmpl's fields (and ownership of tmpl->img); when it exists
 * already, tmpl->img is returned in *@unused_img for the caller to release.
 */
int fs_inode_lookup(struct fs_inode_table *t, const struct fs_inode *tmpl,
		    struct fs_inode **out, struct store_image **unused_img);
/* The root node, created with nlookup 1 (the kernel never forgets it). */
int fs_inode_root(struct fs_inode_table *t, struct fs_inode **out);
/* Pin the node with number @ino for an operation; NULL if unknown. */
struct fs_inode *fs_inode_get(struct fs_inode_table *t, uint64_t ino);
/* Unpin; frees the node if forgotten meanwhile. Returns the image
 * reference to release, if the node died. */
struct store_image *fs_inode_put(struct fs_inode_table *t, struct fs_inode *node);
/* Drop @n kernel lookups of @ino; returns an image reference to release
 * when the node died, else NULL. */
struct store_image *fs_inode_forget(struct fs_inode_table *t, uint64_t ino,
				    uint64_t n);

#endif
