/* SPDX-License-Identifier: MIT */
/*
 * tree.c - the frozen merged tree of an image and the queries the FUSE
 * layer makes on it (stat, lookup, readdir, path resolution), plus the
 * name arena the tree keeps its made-up names in.
 *
 * merge.c builds it; the layout (rootfs_int.h) is flat arrays indexed by
 * inode number so that a query is a few array reads and a binary search,
 * with no lock (the tree never changes once built).
 */
#include "rootfs_int.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysmacros.h>

#define ARENA_CHUNK ((size_t)16 << 10)

struct rootfs_arena {
	struct rootfs_arena *next;
	size_t used, cap;
	char data[];
};

const char *rootfs_arena_strndup(struct rootfs_arena **a, const char *s,
				 size_t n)
{
	struct rootfs_arena *c = *a;
	char *p;

	if (!c || c->cap - c->used < n + 1) {
		size_t cap = n + 1 > ARENA_CHUNK ? n + 1 : ARENA_CHUNK;

		c = malloc(sizeof(*c) + cap);
		if (!c)
			return NULL;
		c->next = *a;
		c->used = 0;
		c->cap = cap;
		*a = c;
	}
	p = c->data + c->used;
	memcpy(p, s, n);
	p[n] = '\0';
	c->used += n + 1;
	return p;
}

void rootfs_arena_free(struct rootfs_arena *a)
{
	while (a) {
		struct rootfs_arena *n = a->next;

		free(a);
		a = n;
	}
}

void store_rootfs_free(struct store_rootfs *fs)
{
	if (!fs)
		return;
	free(fs->inodes);
	free(fs->dfirst);
	free(fs->dcount);
	free(fs->dname);
	free(fs->dino);
	rootfs_arena_free(fs->arena);
	free(fs);
}

size_t store_rootfs_n_inodes(const struct store_rootfs *fs)
{
	return fs->n_inodes;
}

const struct store_rinode *store_rootfs_inode(const struct store_rootfs *fs,
					       uint32_t ino)
{
	return ino < fs->n_inodes ? &fs->inodes[ino] : NULL;
}

static bool rinode_isdir(const struct store_rinode *r)
{
	return !r->e || r->e->type == STORE_FT_DIR;
}

int store_rootfs_stat(const struct store_rootfs *fs, uint32_t ino,
		      struct stat *st)
{
	const struct store_rinode *r = store_rootfs_inode(fs, ino);
	const struct store_toc_entry *e;
	uint64_t size = 0;
	mode_t type;

	if (!r)
		return -ENOENT;
	e = r->e;
	memset(st, 0, sizeof(*st));
	switch (e ? e->type : STORE_FT_DIR) {
	case STORE_FT_DIR:
		type = S_IFDIR;
		size = STORE_ROOTFS_DIR_SIZE;
		break;
	case STORE_FT_SYMLINK:
		type = S_IFLNK;
		size = e->link ? strlen(e->link) : 0;
		break;
	case STORE_FT_CHR:
		type = S_IFCHR;
		break;
	case STORE_FT_BLK:
		type = S_IFBLK;
		break;
	case STORE_FT_FIFO:
		type = S_IFIFO;
		break;
	default:	/* the builder turns hardlinks into their target */
		type = S_IFREG;
		size = e->size;
		break;
	}
	st->st_ino = (ino_t)ino + 1;
	st->st_mode = type | (e ? (e->mode & 07777) : 0755);
	/* Linux has no symlink permissions: lstat always says 0777, and so
	 * does every extraction of the layer, whatever the tar recorded. */
	if (type == S_IFLNK)
		st->st_mode = S_IFLNK | 0777;
	st->st_nlink = r->nlink;
	if (e) {
		st->st_uid = e->uid;
		st->st_gid = e->gid;
		st->st_mtim.tv_sec = e->mtime_sec;
		/* The kernel rejects nanoseconds out of range. */
		st->st_mtim.tv_nsec = e->mtime_nsec < 1000000000u ? e->mtime_nsec : 0;
		if (type == S_IFCHR || type == S_IFBLK)
			st->st_rdev = makedev(e->devmajor, e->devminor);
	}
	st->st_atim = st->st_mtim;
	st->st_ctim = st->st_mtim;
	st->st_size = (off_t)size;
	st->st_blksize = 4096;
	st->st_blocks = (blkcnt_t)((size + 511) / 512);
	return 0;
}

/* Binary search for the @len bytes at @name among @dir's entries. */
static int lookupn(const struct store_rootfs *fs, uint32_t dir,
		   const char *name, size_t len, uint32_t *out)
{
	size_t lo, hi;

	if (dir >= fs->n_inodes)
		return -ENOENT;
	if (!rinode_isdir(&fs->inodes[dir]))
		return -ENOTDIR;
	lo = fs->dfirst[dir];
	hi = lo + fs->dcount[dir];
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const char *m = fs->dname[mid];
		int c = strncmp(m, name, len);

		if (c == 0 && m[len] != '\0')
			c = 1;	/* @name is a proper prefix of m */
		if (c == 0) {
			*out = fs->dino[mid];
			return 0;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -ENOENT;
}

int store_rootfs_lookup(const struct store_rootfs *fs, uint32_t dir,
			const char *name, uint32_t *out)
{
	size_t len = strlen(name);

	if (dir < fs->n_inodes && rinode_isdir(&fs->inodes[dir]) &&
	    memchr(name, '/', len))
		return -ENOENT;	/* no name holds a '/' */
	return lookupn(fs, dir, name, len, out);
}

int store_rootfs_dirent(const struct store_rootfs *fs, uint32_t dir,
			size_t pos, const char **name, uint32_t *child)
{
	if (dir >= fs->n_inodes)
		return -ENOENT;
	if (!rinode_isdir(&fs->inodes[dir]))
		return -ENOTDIR;
	if (pos >= fs->dcount[dir])
		return -ENOENT;
	*name = fs->dname[fs->dfirst[dir] + pos];
	*child = fs->dino[fs->dfirst[dir] + pos];
	return 0;
}

size_t store_rootfs_dir_size(const struct store_rootfs *fs, uint32_t dir)
{
	return dir < fs->n_inodes ? fs->dcount[dir] : 0;
}

/*
 * store_rootfs_resolve - walk @path from the root.  Empty components and
 * "." are ignored (so "/etc//passwd" works), ".." goes to the parent
 * (staying at the root); symlinks are never followed, so a path through
 * one fails with -ENOTDIR.
 */
int store_rootfs_resolve(const struct store_rootfs *fs, const char *path,
			 uint32_t *out)
{
	size_t plen = strlen(path);
	uint32_t cur = 0;

	if (fs->n_inodes == 0)
		return -ENOENT;
	while (*path) {
		const char *sl = strchr(path, '/');
		size_t n = sl ? (size_t)(sl - path) : strlen(path);
		int ret;

		if (n == 2 && path[0] == '.' && path[1] == '.') {
			if (!rinode_isdir(&fs->inodes[cur]))
				return -ENOTDIR;
			cur = fs->inodes[cur].parent;
		} else if (n > 0 && !(n == 1 && path[0] == '.')) {
			ret = lookupn(fs, cur, path, n, &cur);
			if (ret < 0)
				return ret;
		} else if (!rinode_isdir(&fs->inodes[cur])) {
			return -ENOTDIR;
		}
		path += n + (sl != NULL);
	}
	/* "file/" names no directory. */
	if (plen && path[-1] == '/' && !rinode_isdir(&fs->inodes[cur]))
		return -ENOTDIR;
	*out = cur;
	return 0;
}

uint64_t store_rootfs_bytes(const struct store_rootfs *fs)
{
	return fs->bytes;
}
