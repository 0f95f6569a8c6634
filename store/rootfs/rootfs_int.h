/* SPDX-License-Identifier: MIT */
/*
 * rootfs_int.h - private to imgfs_rootfs: the layout of struct store_rootfs
 * (filled by merge.c, queried by tree.c), the name arena (tree.c) and the
 * build-time name index (names.c) that merge.c uses.
 *
 * Memory layout (the daemon keeps one tree per mounted image, and images
 * reach 100k+ files): per inode a struct store_rinode (24 bytes) plus the
 * first/count of its directory entries (8 bytes); per name a name pointer
 * and an inode number (12 bytes).  Names point into the toc's path strings
 * (after the last '/'); only made-up parent directories need a copy, kept
 * in the arena.  Directory entries of one directory are contiguous and
 * sorted by strcmp() so lookups are a binary search.
 */
#ifndef IMGFS_STORE_ROOTFS_INT_H
#define IMGFS_STORE_ROOTFS_INT_H

#include <stddef.h>
#include <stdint.h>

#include "rootfs.h"

#define ROOTFS_NONE UINT32_MAX

/* Append-only string storage; chunks are linked and never move. */
struct rootfs_arena;

/* A NUL-terminated copy of @s[0..@n), or NULL when out of memory. */
const char *rootfs_arena_strndup(struct rootfs_arena **a, const char *s,
				 size_t n);
void rootfs_arena_free(struct rootfs_arena *a);

/*
 * The build-time index of names: (parent name index, name) -> name index.
 * One flat array of slots (open addressing, linear probing) that points at
 * the names it indexes instead of copying them (see names.c).
 */
struct rootfs_nslot {
	const char *name;	/* NUL-terminated; not owned */
	uint32_t parent;
	uint32_t val;		/* 0 empty, ROOTFS_NONE deleted, else value + 1 */
};

struct rootfs_names {
	struct rootfs_nslot *s;
	size_t mask;		/* slots - 1, a power of two minus one */
	size_t used;		/* live and deleted slots */
	uint64_t seed;
};

/* Sized for @expect names without growing. */
int rootfs_names_init(struct rootfs_names *ix, size_t expect);
void rootfs_names_release(struct rootfs_names *ix);
/* The value of @name[0..@nlen) under @parent, or ROOTFS_NONE. */
uint32_t rootfs_names_get(const struct rootfs_names *ix, uint32_t parent,
			  const char *name, size_t nlen);
/* Add a key known to be absent; @name must outlive the index. */
int rootfs_names_add(struct rootfs_names *ix, uint32_t parent,
		     const char *name, uint32_t val);
void rootfs_names_del(struct rootfs_names *ix, uint32_t parent,
		      const char *name);

struct store_rootfs {
	struct store_rinode *inodes;
	uint32_t *dfirst;	/* per inode: its first entry (directories) */
	uint32_t *dcount;	/* per inode: number of entries */
	const char **dname;	/* per entry */
	uint32_t *dino;		/* per entry */
	size_t n_inodes;
	size_t n_dirents;
	uint64_t bytes;
	struct rootfs_arena *arena;
};

#endif
