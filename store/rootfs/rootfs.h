/* SPDX-License-Identifier: MIT */
/*
 * rootfs.h - the merged filesystem of an image, as overlayfs would show it.
 *
 * Built in memory from the layer indexes (toc.h), bottom to top, with
 * Docker's apply rules: an entry replaces what was there (directories
 * merge, the newer metadata wins); "dir/.wh.NAME" removes NAME from the
 * layers below; "dir/.wh..wh..opq" hides every lower child of dir; other
 * ".wh..wh.*" names are skipped; hardlinks resolve against the merged view
 * as of their layer and share one inode; missing parent directories are
 * made 0755 root:root.
 *
 * Inodes are numbered 0..n_inodes-1 (0 is the root directory) and are what
 * the FUSE layer hands to the kernel (it adds an image slot).  A tree is
 * immutable once built: any number of threads may use it without a lock.
 */
#ifndef IMGFS_STORE_ROOTFS_H
#define IMGFS_STORE_ROOTFS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include "toc.h"

struct store_rootfs;

/* A directory's st_size: what ext4 reports for a small one. */
#define STORE_ROOTFS_DIR_SIZE 4096

struct store_rinode {
	const struct store_toc_entry *e;	/* metadata; NULL for a made-up
						 * parent directory or root */
	uint32_t layer;		/* which layer's toc holds the content */
	uint32_t nlink;
	uint32_t parent;	/* directories: the parent inode (root: 0) */
};

/*
 * store_rootfs_build - merge the layer indexes @tocs[0..@n) (bottom layer
 * first) into a new tree in *@out (NULL on failure).  Takes no ownership
 * of @tocs: the tree points into their entries, so they must outlive it.
 * Entries the rules cannot place (bad paths, hardlinks to nothing) are
 * skipped with a warning, never an error.  0, -EINVAL (a NULL toc),
 * -E2BIG (more entries than inode numbers), -ENOMEM.
 */
int store_rootfs_build(struct store_toc *const *tocs, size_t n,
		       struct store_rootfs **out);
/* store_rootfs_free - free @fs (NULL is a no-op); the tocs stay. */
void store_rootfs_free(struct store_rootfs *fs);

/* store_rootfs_n_inodes - how many inodes: valid numbers are 0..n-1. */
size_t store_rootfs_n_inodes(const struct store_rootfs *fs);
/* store_rootfs_inode - inode @ino, or NULL when out of range. */
const struct store_rinode *store_rootfs_inode(const struct store_rootfs *fs,
					       uint32_t ino);
/*
 * store_rootfs_stat - fill *@st for @ino: type and mode from its entry
 * (made-up directories 0755 root:root, symlinks always 0777), st_ino is
 * @ino + 1 (callers remap), st_nlink counts names (directories: 2 +
 * subdirectories).  -ENOENT when @ino is out of range.
 */
int store_rootfs_stat(const struct store_rootfs *fs, uint32_t ino,
		      struct stat *st);
/*
 * store_rootfs_lookup - the child @name (one component, NUL-terminated) of
 * directory @dir into *@out.  -ENOENT (no such name, or @name holds a
 * '/'), -ENOTDIR (@dir is not a directory).
 */
int store_rootfs_lookup(const struct store_rootfs *fs, uint32_t dir,
			const char *name, uint32_t *out);
/*
 * store_rootfs_dirent - entry @pos (from 0) of directory @dir, in a stable
 * order (strcmp), without "." and "..": its name (owned by the tree) and
 * inode.  -ENOENT past the end, -ENOTDIR for a non-directory.
 */
int store_rootfs_dirent(const struct store_rootfs *fs, uint32_t dir,
			size_t pos, const char **name, uint32_t *child);
/* store_rootfs_dir_size - number of entries of @dir (0 for a non-directory
 * or a number out of range). */
size_t store_rootfs_dir_size(const struct store_rootfs *fs, uint32_t dir);
/*
 * store_rootfs_resolve - the inode of root-relative @path into *@out.
 * Empty and "." components are ignored, ".." goes to the parent (the root
 * is its own parent); symlinks are never followed, so a path through one
 * is -ENOTDIR, as is "file/".  -ENOENT for a missing name.
 */
int store_rootfs_resolve(const struct store_rootfs *fs, const char *path,
			 uint32_t *out);
/* store_rootfs_bytes - Σ sizes of regular files, hardlinks counted once
 * (what `docker images` shows as SIZE). */
uint64_t store_rootfs_bytes(const struct store_rootfs *fs);

#endif
