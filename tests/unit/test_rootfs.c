/* SPDX-License-Identifier: MIT */
/*
 * test_rootfs.c - the layer merge (store/rootfs/) on hand-made tables of
 * contents: whiteouts, opaque directories, hardlinks, implicit and
 * replaced parents, the root's metadata, inode numbering, the queries and
 * a 100k-entry build against the clock.  No toc builder involved.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysmacros.h>
#include <time.h>

#include "check.h"
#include "log.h"
#include "rootfs.h"

#define REG(p, sz) { .path = (p), .type = STORE_FT_REG, .mode = 0644, .size = (sz) }
#define DIR_(p, m) { .path = (p), .type = STORE_FT_DIR, .mode = (m) }
#define SYM(p, t) { .path = (p), .type = STORE_FT_SYMLINK, .mode = 0777, .link = (t) }
#define LNK(p, t) { .path = (p), .type = STORE_FT_HARDLINK, .mode = 0644, .link = (t) }
#define NELEM(a) (sizeof(a) / sizeof((a)[0]))
#define TOC(a) { .entries = (a), .n_entries = NELEM(a) }

static void check_consistent(const struct store_rootfs *fs);

/* Every tree built is also checked against the invariants. */
static struct store_rootfs *build(struct store_toc *tocs, size_t n)
{
	struct store_toc *p[8];
	struct store_rootfs *fs = NULL;
	int ret;

	for (size_t i = 0; i < n; i++)
		p[i] = &tocs[i];
	ret = store_rootfs_build(p, n, &fs);
	if (ret != 0 || !fs) {
		fprintf(stderr, "store_rootfs_build: %d\n", ret);
		exit(1);
	}
	check_consistent(fs);
	return fs;
}

/* The tree as "path/ path path@ ..." in readdir order, depth first. */
static void dump_rec(const struct store_rootfs *fs, uint32_t dir,
		     const char *prefix, char *out, size_t cap)
{
	const char *name;
	uint32_t child;

	for (size_t pos = 0; store_rootfs_dirent(fs, dir, pos, &name, &child) == 0; pos++) {
		const struct store_rinode *r = store_rootfs_inode(fs, child);
		int isdir = !r->e || r->e->type == STORE_FT_DIR;
		char path[512];
		size_t len = strlen(out);

		snprintf(path, sizeof(path), "%s%s", prefix, name);
		snprintf(out + len, cap - len, "%s%s%s", len ? " " : "", path,
			 isdir ? "/" : r->e->type == STORE_FT_SYMLINK ? "@" : "");
		if (isdir) {
			char sub[520];

			snprintf(sub, sizeof(sub), "%s/", path);
			dump_rec(fs, child, sub, out, cap);
		}
	}
}

static void check_tree(const struct store_rootfs *fs, const char *want, int line)
{
	char got[8192] = "";

	dump_rec(fs, 0, "", got, sizeof(got));
	CHECKF(strcmp(got, want) == 0, "line %d: tree\n  got:  %s\n  want: %s", line, got, want);
}
#define CHECK_TREE(fs, want) check_tree(fs, want, __LINE__)

static uint32_t ino(const struct store_rootfs *fs, const char *path)
{
	uint32_t i;

	return store_rootfs_resolve(fs, path, &i) == 0 ? i : UINT32_MAX;
}

static const struct store_rinode *node(const struct store_rootfs *fs, const char *path)
{
	const struct store_rinode *r = store_rootfs_inode(fs, ino(fs, path));

	if (!r) {
		fprintf(stderr, "no inode for %s\n", path);
		exit(1);
	}
	return r;
}

static void test_merge(void)
{
	struct store_toc_entry l0[] = { DIR_("bin", 0755), REG("bin/sh", 100),
					DIR_("etc", 0755), REG("etc/passwd", 10) };
	struct store_toc_entry l1[] = { DIR_("etc", 0750), REG("etc/group", 20),
					DIR_("usr", 0755), REG("usr/lib/x", 1) };
	struct store_toc t[] = { TOC(l0), TOC(l1) };
	struct store_rootfs *fs;
	struct stat st;

	l1[0].uid = 5;
	fs = build(t, 2);
	CHECK_TREE(fs, "bin/ bin/sh etc/ etc/group etc/passwd usr/ usr/lib/ usr/lib/x");
	CHECK(node(fs, "etc")->e == &l1[0]);
	CHECK(node(fs, "etc")->layer == 1);
	CHECK(node(fs, "bin/sh")->layer == 0);
	CHECK(node(fs, "bin/sh")->e == &l0[1]);
	CHECK(store_rootfs_stat(fs, ino(fs, "etc"), &st) == 0);
	CHECK(st.st_mode == (S_IFDIR | 0750) && st.st_uid == 5);
	CHECK(node(fs, "usr/lib")->e == NULL);
	CHECK(store_rootfs_stat(fs, ino(fs, "usr/lib"), &st) == 0);
	CHECK(st.st_mode == (S_IFDIR | 0755) && st.st_uid == 0 && st.st_mtim.tv_sec == 0);
	CHECK(store_rootfs_n_inodes(fs) == 9);
	CHECK(store_rootfs_bytes(fs) == 131);
	store_rootfs_free(fs);
}

static void test_replace(void)
{
	struct store_toc_entry l0[] = { REG("a", 5), DIR_("d", 0755), REG("d/x", 7),
					DIR_("d/sub", 0755), REG("d/sub/y", 9) };
	struct store_toc_entry l1[] = { DIR_("a", 0700), REG("a/z", 1), REG("d", 3) };
	struct store_toc t[] = { TOC(l0), TOC(l1) };
	struct store_rootfs *fs = build(t, 2);
	uint32_t i;

	CHECK_TREE(fs, "a/ a/z d");
	CHECK(node(fs, "d")->e == &l1[2]);
	CHECK(store_rootfs_resolve(fs, "d/x", &i) == -ENOTDIR);
	CHECK(store_rootfs_n_inodes(fs) == 4);	/* compacted */
	CHECK(store_rootfs_bytes(fs) == 4);
	for (uint32_t k = 0; k < store_rootfs_n_inodes(fs); k++)
		CHECK(store_rootfs_inode(fs, k) != NULL);
	CHECK(store_rootfs_inode(fs, 4) == NULL);
	store_rootfs_free(fs);
}

static void test_whiteout(void)
{
	struct store_toc_entry l0[] = { REG("f1", 1), REG("f2", 2), DIR_("dir", 0755),
					DIR_("dir/sub", 0755), REG("dir/sub/deep", 4),
					REG("keep", 8), DIR_("k", 0755), REG("k/gone", 1) };
	struct store_toc_entry l1[] = { REG(".wh.f1", 0), REG(".wh.dir", 0),
					REG(".wh.nothere", 0), REG("k/.wh.gone", 0) };
	struct store_toc t[] = { TOC(l0), TOC(l1) };
	struct store_rootfs *fs = build(t, 2);

	CHECK_TREE(fs, "f2 k/ keep");
	CHECK(store_rootfs_n_inodes(fs) == 4);
	CHECK(store_rootfs_bytes(fs) == 10);
	store_rootfs_free(fs);
}

static void test_whiteout_same_layer(void)
{
	/* The whiteout both after and before the entries of its own layer. */
	struct store_toc_entry l0[] = { REG("x", 1), DIR_("y", 0700), REG("y/old", 1),
					DIR_("w", 0700), REG("w/old", 1) };
	struct store_toc_entry l1[] = { REG("x", 2), REG(".wh.x", 0),
					REG(".wh.y", 0), REG("y/new", 3),
					REG("w/new", 4), REG(".wh.w", 0),
					DIR_("z", 0755), REG("z/a", 5), REG(".wh.z", 0) };
	struct store_toc t[] = { TOC(l0), TOC(l1) };
	struct store_rootfs *fs = build(t, 2);

	CHECK_TREE(fs, "w/ w/new x y/ y/new z/ z/a");
	CHECK(node(fs, "x")->e == &l1[0]);
	/* Both tar orders give a fresh, made-up directory. */
	CHECK(node(fs, "y")->e == NULL && node(fs, "y")->layer == 1);
	CHECK(node(fs, "w")->e == NULL && node(fs, "w")->layer == 1);
	CHECK(node(fs, "z")->e == &l1[6]);
	store_rootfs_free(fs);
}

static void test_opaque(void)
{
	struct store_toc_entry l0[] = { DIR_("o", 0755), REG("o/a", 1), DIR_("o/sub", 0755),
					REG("o/sub/b", 1), DIR_("p", 0755), REG("p/a", 1),
					REG("p/c", 1), DIR_("p/keep", 0700), REG("p/keep/old", 1),
					REG("top", 1) };
	struct store_toc_entry l1[] = { REG("o/.wh..wh..opq", 0), REG("o/new", 1),
					REG("p/new", 1), REG("p/sub2/x", 1),
					REG("p/keep/new", 1), REG("p/.wh..wh..opq", 0) };
	struct store_toc_entry l2[] = { REG("n", 1), REG(".wh..wh..opq", 0) };
	struct store_toc t[] = { TOC(l0), TOC(l1), TOC(l2) };
	struct store_rootfs *fs = build(t, 2);

	CHECK_TREE(fs, "o/ o/new p/ p/keep/ p/keep/new p/new p/sub2/ p/sub2/x top");
	CHECK(node(fs, "o")->e == &l0[0]);	/* the opaque dir keeps its own */
	CHECK(node(fs, "p/keep")->e == NULL);
	store_rootfs_free(fs);
	/* At the root, after the new entry. */
	fs = build(t, 3);
	CHECK_TREE(fs, "n");
	store_rootfs_free(fs);
}

static void test_hardlinks(void)
{
	struct store_toc_entry l0[] = { REG("base", 100) };
	struct store_toc_entry l1[] = { REG("f", 50), LNK("l1", "f"), LNK("l2", "base"),
					LNK("dir/l3", "f"), LNK("l4", "l1") };
	struct store_toc t[] = { TOC(l0), TOC(l1) };
	struct store_rootfs *fs = build(t, 2);
	struct stat st;

	CHECK_TREE(fs, "base dir/ dir/l3 f l1 l2 l4");
	CHECK(ino(fs, "f") == ino(fs, "l1") && ino(fs, "f") == ino(fs, "dir/l3"));
	CHECK(ino(fs, "f") == ino(fs, "l4"));
	CHECK(node(fs, "f")->nlink == 4);
	CHECK(store_rootfs_stat(fs, ino(fs, "l1"), &st) == 0);
	CHECK(st.st_nlink == 4 && S_ISREG(st.st_mode) && st.st_size == 50);
	CHECK(node(fs, "l1")->e == &l1[0] && node(fs, "l1")->layer == 1);
	CHECK(ino(fs, "l2") == ino(fs, "base"));
	CHECK(node(fs, "l2")->nlink == 2);
	CHECK(node(fs, "l2")->e == &l0[0] && node(fs, "l2")->layer == 0);
	CHECK(store_rootfs_bytes(fs) == 150);
	CHECK(store_rootfs_n_inodes(fs) == 4);
	store_rootfs_free(fs);
}

static void test_hardlink_broken(void)
{
	struct store_toc_entry l0[] = { REG("a", 10), LNK("b", "a"), LNK("c", "a") };
	struct store_toc_entry l1[] = { REG("b", 20) };
	struct store_toc_entry l2[] = { REG(".wh.a", 0) };
	struct store_toc t[] = { TOC(l0), TOC(l1), TOC(l2) };
	struct store_rootfs *fs = build(t, 2);

	CHECK(ino(fs, "a") == ino(fs, "c") && ino(fs, "a") != ino(fs, "b"));
	CHECK(node(fs, "a")->nlink == 2 && node(fs, "b")->nlink == 1);
	CHECK(node(fs, "b")->e == &l1[0]);
	CHECK(store_rootfs_bytes(fs) == 30);
	store_rootfs_free(fs);
	fs = build(t, 3);
	CHECK_TREE(fs, "b c");
	CHECK(node(fs, "c")->nlink == 1 && node(fs, "c")->e == &l0[0]);
	store_rootfs_free(fs);
}

static void test_bad_entries(void)
{
	struct store_toc_entry l0[] = {
		LNK("h1", "nothere"), DIR_("d", 0755), LNK("h2", "d"),
		LNK("h3", "later"), REG("later", 1), LNK("h4", NULL),
		LNK("h5", ""), LNK("h6", "later/x"), REG(".wh.", 0),
		REG("a/../b", 0), REG("/abs", 0), REG("x//y", 0),
		REG(".wh..wh.aufs", 0), REG("q/.wh.meta/z", 0),
		{ .path = "weird", .type = 15 }, { .path = NULL, .type = STORE_FT_REG },
		REG(".wh...", 0), REG(".wh..", 0), { .path = "", .type = STORE_FT_REG },
	};
	/* AUFS hardlink targets: hidden, but linkable in their layer. */
	struct store_toc_entry l1[] = { DIR_(".wh..wh.plnk", 0700),
					REG(".wh..wh.plnk/123.456", 77),
					LNK("p1", ".wh..wh.plnk/123.456"),
					LNK("p2", ".wh..wh.plnk/123.456") };
	struct store_toc_entry l2[] = { LNK("p3", ".wh..wh.plnk/123.456") };
	struct store_toc t[] = { TOC(l0), TOC(l1), TOC(l2) };
	struct store_rootfs *fs = build(t, 3);

	CHECK_TREE(fs, "d/ later p1 p2");
	CHECK(ino(fs, "p1") == ino(fs, "p2") && node(fs, "p1")->nlink == 2);
	CHECK(node(fs, "p1")->e == &l1[1] && store_rootfs_bytes(fs) == 78);
	store_rootfs_free(fs);
}

static void test_parents(void)
{
	struct store_toc_entry l0[] = { REG("a/b/c/file", 1), DIR_("a/b", 0700),
					SYM("etc", "/tmp"), DIR_("tmp", 01777),
					SYM("lnk", "tmp"), REG("lnk/f", 1),
					/* parents that share a prefix, not a component */
					REG("p/b/x", 1), REG("p/bc/y", 1), REG("p/b/z", 1),
					REG("p/x", 1) };
	struct store_toc_entry l1[] = { REG("etc/passwd", 1) };
	struct store_toc t[] = { TOC(l0), TOC(l1) };
	struct store_rootfs *fs = build(t, 2);
	struct stat st;

	CHECK_TREE(fs, "a/ a/b/ a/b/c/ a/b/c/file etc/ etc/passwd lnk/ lnk/f "
		   "p/ p/b/ p/b/x p/b/z p/bc/ p/bc/y p/x tmp/");
	CHECK(node(fs, "a")->e == NULL && node(fs, "a/b/c")->e == NULL);
	CHECK(node(fs, "a/b")->e == &l0[1]);	/* a later entry merges in */
	CHECK(node(fs, "etc")->e == NULL && node(fs, "etc")->layer == 1);
	CHECK(store_rootfs_stat(fs, ino(fs, "etc"), &st) == 0);
	CHECK(st.st_mode == (S_IFDIR | 0755) && st.st_uid == 0 && st.st_gid == 0);
	CHECK(store_rootfs_dir_size(fs, ino(fs, "tmp")) == 0);
	CHECK(node(fs, "a/b/c")->parent == ino(fs, "a/b"));
	CHECK(node(fs, "a")->parent == 0 && store_rootfs_inode(fs, 0)->parent == 0);
	store_rootfs_free(fs);
}

static void test_root(void)
{
	struct store_toc_entry l0[] = { DIR_("", 0700), REG("f", 1) };
	struct store_toc_entry l1[] = { DIR_("", 0711), REG("g", 1) };
	struct store_toc_entry l2[] = { REG("h", 1) };
	struct store_toc t[] = { TOC(l0), TOC(l1) };
	struct store_toc t2[] = { TOC(l2) };
	struct store_rootfs *fs;
	struct stat st;

	l1[0].uid = 2;
	fs = build(t, 2);
	CHECK(store_rootfs_stat(fs, 0, &st) == 0);
	CHECK(st.st_mode == (S_IFDIR | 0711) && st.st_uid == 2 && st.st_ino == 1);
	CHECK(store_rootfs_inode(fs, 0)->e == &l1[0] && store_rootfs_inode(fs, 0)->layer == 1);
	CHECK(st.st_nlink == 2);
	store_rootfs_free(fs);
	fs = build(t2, 1);
	CHECK(store_rootfs_stat(fs, 0, &st) == 0);
	CHECK(st.st_mode == (S_IFDIR | 0755) && st.st_uid == 0);
	store_rootfs_free(fs);
	fs = build(NULL, 0);
	CHECK(store_rootfs_n_inodes(fs) == 1 && store_rootfs_dir_size(fs, 0) == 0);
	store_rootfs_free(fs);
}

static void test_queries(void)
{
	struct store_toc_entry l0[] = { REG("zeta", 1), REG("alpha", 1), REG("Beta", 1),
					DIR_("mid", 0755), REG("alpha2", 1), REG("a", 1),
					REG("mid/f", 1), DIR_("mid/s1", 0755), DIR_("mid/s2", 0755) };
	struct store_toc t[] = { TOC(l0) };
	struct store_rootfs *fs = build(t, 1);
	const char *name;
	uint32_t i, j;

	CHECK_TREE(fs, "Beta a alpha alpha2 mid/ mid/f mid/s1/ mid/s2/ zeta");
	CHECK(store_rootfs_dir_size(fs, 0) == 6);
	CHECK(store_rootfs_dirent(fs, 0, 6, &name, &i) == -ENOENT);
	CHECK(store_rootfs_dirent(fs, 0, 2, &name, &i) == 0 && strcmp(name, "alpha") == 0);
	CHECK(store_rootfs_lookup(fs, 0, "alpha", &j) == 0 && i == j);
	CHECK(store_rootfs_lookup(fs, 0, "alph", &j) == -ENOENT);
	CHECK(store_rootfs_lookup(fs, 0, "alpha3", &j) == -ENOENT);
	CHECK(store_rootfs_lookup(fs, 0, "", &j) == -ENOENT);
	CHECK(store_rootfs_lookup(fs, 0, "mid/f", &j) == -ENOENT);
	CHECK(store_rootfs_lookup(fs, i, "x", &j) == -ENOTDIR);
	CHECK(store_rootfs_lookup(fs, 999, "x", &j) == -ENOENT);
	CHECK(store_rootfs_dirent(fs, i, 0, &name, &j) == -ENOTDIR);
	CHECK(store_rootfs_resolve(fs, "mid/f", &i) == 0);
	CHECK(store_rootfs_resolve(fs, "/mid//./s1/../f", &j) == 0 && i == j);
	CHECK(store_rootfs_resolve(fs, "mid/f/x", &j) == -ENOTDIR);
	CHECK(store_rootfs_resolve(fs, "mid/f/", &j) == -ENOTDIR);
	CHECK(store_rootfs_resolve(fs, "mid/nope", &j) == -ENOENT);
	CHECK(store_rootfs_resolve(fs, "", &j) == 0 && j == 0);
	CHECK(store_rootfs_resolve(fs, "..", &j) == 0 && j == 0);
	CHECK(node(fs, "mid")->nlink == 4);
	CHECK(store_rootfs_inode(fs, 0)->nlink == 3);
	store_rootfs_free(fs);
}

static void test_stat(void)
{
	struct store_toc_entry l0[] = {
		{ .path = "null", .type = STORE_FT_CHR, .mode = 0666, .devmajor = 1, .devminor = 3 },
		{ .path = "sda", .type = STORE_FT_BLK, .mode = 0660, .devmajor = 8, .gid = 6 },
		{ .path = "fifo", .type = STORE_FT_FIFO, .mode = 0600 },
		SYM("sym", "../target"),
		{ .path = "su", .type = STORE_FT_REG, .mode = 04755, .size = 1025,
		  .uid = 1000, .gid = 1001, .mtime_sec = 1700000000, .mtime_nsec = 123 },
		DIR_("d", 01777),
	};
	struct store_toc t[] = { TOC(l0) };
	struct store_rootfs *fs = build(t, 1);
	struct stat st;

	CHECK(store_rootfs_stat(fs, ino(fs, "null"), &st) == 0);
	CHECK(st.st_mode == (S_IFCHR | 0666) && st.st_rdev == makedev(1, 3));
	CHECK(st.st_ino == ino(fs, "null") + 1 && st.st_nlink == 1);
	CHECK(store_rootfs_stat(fs, ino(fs, "sda"), &st) == 0);
	CHECK(st.st_mode == (S_IFBLK | 0660) && st.st_rdev == makedev(8, 0) && st.st_gid == 6);
	CHECK(store_rootfs_stat(fs, ino(fs, "fifo"), &st) == 0);
	CHECK(st.st_mode == (S_IFIFO | 0600) && st.st_rdev == 0 && st.st_size == 0);
	CHECK(store_rootfs_stat(fs, ino(fs, "sym"), &st) == 0);
	CHECK(S_ISLNK(st.st_mode) && st.st_size == 9);
	CHECK(store_rootfs_stat(fs, ino(fs, "su"), &st) == 0);
	CHECK(st.st_mode == (S_IFREG | 04755) && st.st_size == 1025 && st.st_blocks == 3);
	CHECK(st.st_uid == 1000 && st.st_gid == 1001 && st.st_blksize == 4096);
	CHECK(st.st_mtim.tv_sec == 1700000000 && st.st_mtim.tv_nsec == 123);
	CHECK(store_rootfs_stat(fs, ino(fs, "d"), &st) == 0);
	CHECK(st.st_mode == (S_IFDIR | 01777) && st.st_nlink == 2 && st.st_size == 4096);
	CHECK(store_rootfs_stat(fs, 0, &st) == 0 && st.st_nlink == 3);
	CHECK(store_rootfs_stat(fs, 1000, &st) == -ENOENT);
	store_rootfs_free(fs);
}

/* Invariants of any tree: names sorted and unique, every child a valid
 * inode, a directory's parent right and its nlink 2 + subdirectories, a
 * file's nlink its number of names. */
static void check_consistent(const struct store_rootfs *fs)
{
	size_t n = store_rootfs_n_inodes(fs);
	uint32_t *names = calloc(n, sizeof(*names));

	if (!names)
		exit(1);
	for (uint32_t d = 0; d < n; d++) {
		const struct store_rinode *r = store_rootfs_inode(fs, d);
		const char *name, *prev = NULL;
		uint32_t c, subdirs = 0;

		if (r->e && r->e->type != STORE_FT_DIR) {
			CHECK(store_rootfs_dir_size(fs, d) == 0);
			CHECK(r->e->type != STORE_FT_HARDLINK);
			continue;
		}
		for (size_t pos = 0; store_rootfs_dirent(fs, d, pos, &name, &c) == 0; pos++) {
			const struct store_rinode *cr = store_rootfs_inode(fs, c);
			uint32_t back;

			CHECK(cr != NULL && c != 0);
			if (!cr)
				continue;
			CHECK(!prev || strcmp(prev, name) < 0);
			CHECK(strncmp(name, ".wh.", 4) != 0);
			CHECK(store_rootfs_lookup(fs, d, name, &back) == 0 && back == c);
			prev = name;
			names[c]++;
			if (!cr->e || cr->e->type == STORE_FT_DIR) {
				subdirs++;
				CHECK(cr->parent == d);
			}
		}
		CHECK(r->nlink == 2 + subdirs);
	}
	for (uint32_t i = 1; i < n; i++) {
		const struct store_rinode *r = store_rootfs_inode(fs, i);

		CHECK(names[i] >= 1);
		if (r->e && r->e->type != STORE_FT_DIR)
			CHECK(r->nlink == names[i]);
		else
			CHECK(names[i] == 1);
	}
	free(names);
}

/* Random layers over a tiny name space, so that every rule meets every
 * other: the build must succeed and the tree stay consistent. */
static void test_random(void)
{
	static const char *const paths[] = {
		"a", "b", "a/a", "a/b", "b/a", "a/a/a", "a/b/a", ".wh.a", ".wh.b",
		"a/.wh.a", "a/.wh.b", "a/.wh..wh..opq", ".wh..wh..opq", "b/.wh.a",
		"a/a/.wh..wh..opq", ".wh..wh.plnk/1", "c",
	};
	static const char *const links[] = { "a", "b", "a/a", "a/b/a", "c", "x",
					     ".wh..wh.plnk/1" };
	struct store_toc_entry ents[3][12];
	struct store_toc t[3];
	unsigned seed = 12345;

	for (int iter = 0; iter < 3000; iter++) {
		struct store_rootfs *fs;

		for (int l = 0; l < 3; l++) {
			for (int k = 0; k < 12; k++) {
				struct store_toc_entry *e = &ents[l][k];

				seed = seed * 1103515245u + 12345u;
				*e = (struct store_toc_entry){
					.path = paths[(seed >> 8) % NELEM(paths)],
					.type = (uint8_t)(1 + (seed >> 20) % 4),
					.mode = 0644, .size = (seed >> 4) % 7 };
				if (e->type == STORE_FT_SYMLINK)
					e->link = "t";
				if (e->type == STORE_FT_HARDLINK)
					e->link = links[(seed >> 12) % NELEM(links)];
			}
			t[l] = (struct store_toc){ .entries = ents[l], .n_entries = 12 };
		}
		fs = build(t, 3);
		store_rootfs_free(fs);
		if (check_failures) {
			fprintf(stderr, "random iteration %d\n", iter);
			return;
		}
	}
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);	/* the machine may be busy */
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* 1000 directories of 100 files, plus a second layer touching them, and a
 * hostile 2000-deep path. */
static void test_big(void)
{
	enum { DIRS = 1000, FILES = 100, N = DIRS * (FILES + 1) };
	struct store_toc_entry *e = calloc(N, sizeof(*e)), *w = calloc(DIRS + 1, sizeof(*w));
	char *names = calloc(N, 32), *deep = calloc(4096, 1);
	struct store_toc t[2] = { { .entries = e, .n_entries = N },
				  { .entries = w, .n_entries = DIRS + 1 } };
	struct store_rootfs *fs;
	size_t k = 0;
	uint32_t i;
	double t0;

	if (!e || !w || !names || !deep)
		exit(1);
	for (unsigned d = 0; d < DIRS; d++) {
		snprintf(names + 32 * k, 32, "d%04u", d);
		e[k] = (struct store_toc_entry)DIR_(names + 32 * k, 0755);
		k++;
		for (unsigned f = 0; f < FILES; f++) {
			snprintf(names + 32 * k, 32, "d%04u/f%05u", d, f);
			e[k] = (struct store_toc_entry)REG(names + 32 * k, 1);
			k++;
		}
		/* layer 1 removes one file of every directory */
		w[d] = (struct store_toc_entry)REG(NULL, 0);
	}
	for (int d = 0; d < DIRS; d++) {
		char *p = malloc(32);

		if (!p)
			exit(1);
		snprintf(p, 32, "d%04d/.wh.f%05d", d % 10000, d % FILES);
		w[d].path = p;
	}
	for (int j = 0; j < 2000; j++)
		memcpy(deep + 2 * j, "a/", 2);
	deep[3999] = 'f';
	w[DIRS] = (struct store_toc_entry)REG(deep, 0);

	t0 = now();
	fs = build(t, 1);
	printf("100k entries, 1 layer: %.1f ms CPU, %zu inodes\n", (now() - t0) * 1e3,
	       store_rootfs_n_inodes(fs));
	CHECK(store_rootfs_n_inodes(fs) == 1 + N);
	CHECK(store_rootfs_bytes(fs) == DIRS * FILES);
	CHECK(store_rootfs_resolve(fs, "d0500/f00042", &i) == 0);
	store_rootfs_free(fs);

	t0 = now();
	fs = build(t, 2);
	printf("100k entries + 1k whiteouts + 2000-deep path: %.1f ms CPU\n", (now() - t0) * 1e3);
	CHECK(store_rootfs_n_inodes(fs) == 1 + N - DIRS + 2000);
	CHECK(store_rootfs_resolve(fs, "d0042/f00042", &i) == -ENOENT);
	CHECK(store_rootfs_resolve(fs, "d0042/f00043", &i) == 0);
	CHECK(store_rootfs_resolve(fs, deep, &i) == 0);
	store_rootfs_free(fs);
	for (int d = 0; d < DIRS; d++)
		free((char *)w[d].path);
	free(deep);
	free(names);
	free(w);
	free(e);
}

int main(void)
{
	log_setup(LOG_LVL_ERR, 0);	/* the skipped entries warn by design */
	test_merge();
	test_replace();
	test_whiteout();
	test_whiteout_same_layer();
	test_opaque();
	test_hardlinks();
	test_hardlink_broken();
	test_bad_entries();
	test_parents();
	test_root();
	test_queries();
	test_stat();
	test_random();
	test_big();
	return check_done("test_rootfs");
}
