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

struct store_rinode {
	const struct store_toc_entry *e;	/* metadata; NULL for a made-up
						 * parent directory or root */
	uint32_t layer;		/* which layer's toc holds the content */
	uint32_t nlink;
	uint32_t parent;	/* directories: the parent inode (root: 0) */
};

/* Takes no ownership of @tocs: they must outlive the tree. */
int store_rootfs_build(struct store_toc *const *tocs, size_t n,
		       struct store_rootfs **out);
void store_rootfs_free(struct store_rootfs *fs);

size_t store_rootfs_n_inodes(const struct store_rootfs *fs);
const struct store_rinode *store_rootfs_inode(const struct store_rootfs *fs,
					       uint32_t ino);
/* stat of @ino; st_ino is @ino + 1 (callers remap). */
int store_rootfs_stat(const struct store_rootfs *fs, uint32_t ino,
		      struct stat *st);
/* -ENOENT, -ENOTDIR */
int store_rootfs_lookup(const struct store_rootfs *fs, uint32_t dir,
			const char *name, uint32_t *out);
/* Entries of @dir in a stable order, without "." and ".."; @pos counts
 * from 0.  -ENOENT past the end. */
int store_rootfs_dirent(const struct store_rootfs *fs, uint32_t dir,
			size_t pos, const char **name, uint32_t *child);
size_t store_rootfs_dir_size(const struct store_rootfs *fs, uint32_t dir);
/* Resolve a root-relative path without following symlinks. */
int store_rootfs_resolve(const struct store_rootfs *fs, const char *path,
			 uint32_t *out);
/* Σ sizes of regular files, hardlinks counted once (docker images SIZE). */
uint64_t store_rootfs_bytes(const struct store_rootfs *fs);

#endif
