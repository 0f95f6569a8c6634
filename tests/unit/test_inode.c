/* SPDX-License-Identifier: MIT */
/*
 * test_inode.c - the kernel-visible inode table: same key, same inode;
 * rootfs files counted per image slot under their stable numbers;
 * lookup counts; nodes die only when forgotten and unpinned; numbers are
 * never reused.
 */
#include <stdint.h>
#include <stdlib.h>

#include "check.h"
#include "inode.h"

static int puts_seen;

static void put(void *ctx, struct store_image *img)
{
	(void)ctx;
	(void)img;
	puts_seen++;
}

/*
 * Rootfs files: no node kept, the id is the stable number; the image is
 * held by the slot while any file of it is looked up or pinned.
 */
static void rootfs_nodes(struct fs_inode_table *t, struct store_image *fake)
{
	struct store_image *other = (struct store_image *)(uintptr_t)0x2000;
	struct fs_inode tmpl = { .kind = FS_ROOTFS, .key = "r:abc:5",
				 .path = "abc", .n = 5, .id = "abc", .img = fake };
	struct fs_inode *r, *r2, *g;
	struct store_image *unused;
	uint64_t ino = fs_inode_stable_ino(t, "abc", 5);

	CHECK(ino >> 32 >= 1);
	CHECK(fs_inode_get(t, ino) == NULL);	/* not looked up yet */
	CHECK(fs_inode_lookup(t, &tmpl, &r, &unused) == 0);
	CHECK(unused == NULL);
	CHECK(r->ino == ino && r->n == 5 && r->img == fake);
	CHECK_STR(r->path, "abc");
	CHECK_STR(r->id, "abc");
	/* Again: the same id; the offered reference comes back. */
	tmpl.img = other;
	CHECK(fs_inode_lookup(t, &tmpl, &r2, &unused) == 0);
	CHECK(unused == other && r2->ino == ino && r2->img == fake);
	CHECK(fs_inode_put(t, r) == NULL);
	CHECK(fs_inode_put(t, r2) == NULL);
	/* Another file of the image, many files (the map grows). */
	for (uint32_t n = 100; n < 1100; n++) {
		tmpl.n = n;
		CHECK(fs_inode_lookup(t, &tmpl, &r, &unused) == 0);
		CHECK(unused == other);
		CHECK(r->ino == fs_inode_stable_ino(t, "abc", n));
		CHECK(fs_inode_put(t, r) == NULL);
	}
	for (uint32_t n = 100; n < 1100; n += 2)
		CHECK(fs_inode_forget(t, fs_inode_stable_ino(t, "abc", n), 1) == NULL);
	for (uint32_t n = 100; n < 1100; n++) {
		g = fs_inode_get(t, fs_inode_stable_ino(t, "abc", n));
		CHECK((g != NULL) == (n % 2 == 1));
		if (g) {
			CHECK(g->n == n);
			CHECK(fs_inode_put(t, g) == NULL);
		}
	}
	for (uint32_t n = 101; n < 1100; n += 2)
		CHECK(fs_inode_forget(t, fs_inode_stable_ino(t, "abc", n), 3) == NULL);
	/* Counts are kept in pages of 512: files on both sides of a page
	 * boundary and one far out; a file's forget leaves its neighbours. */
	{
		const uint32_t far[] = { 510, 511, 512, 4000000 };

		for (size_t i = 0; i < 4; i++) {
			tmpl.n = far[i];
			CHECK(fs_inode_lookup(t, &tmpl, &r, &unused) == 0);
			CHECK(r->ino == fs_inode_stable_ino(t, "abc", far[i]));
			CHECK(fs_inode_put(t, r) == NULL);
		}
		for (size_t i = 0; i < 4; i++) {
			uint64_t fi = fs_inode_stable_ino(t, "abc", far[i]);

			CHECK(fs_inode_forget(t, fi, 1) == NULL);
			CHECK(fs_inode_get(t, fi) == NULL);
			for (size_t j = i + 1; j < 4; j++) {
				g = fs_inode_get(t, fs_inode_stable_ino(t, "abc", far[j]));
				CHECK(g != NULL && g->n == far[j]);
				if (g)
					CHECK(fs_inode_put(t, g) == NULL);
			}
		}
	}
	/* File 5 looked up twice: one forget keeps it; a pin outlives the
	 * last forget, and the image goes with the pin. */
	CHECK(fs_inode_forget(t, ino, 1) == NULL);
	g = fs_inode_get(t, ino);
	CHECK(g != NULL);
	CHECK(fs_inode_forget(t, ino, 1) == NULL);
	CHECK(fs_inode_get(t, ino) == NULL);
	CHECK(fs_inode_put(t, g) == fake);
	/* Idle: the next lookup's image is taken. */
	tmpl.n = 7;
	tmpl.img = other;
	CHECK(fs_inode_lookup(t, &tmpl, &r, &unused) == 0);
	CHECK(unused == NULL && r->img == other);
	ino = r->ino;
	CHECK(fs_inode_put(t, r) == NULL);
	CHECK(fs_inode_forget(t, ino, 1) == other);
}

int main(void)
{
	struct fs_inode_table t;
	struct fs_inode *root, *a, *a2, *b, *got;
	struct store_image *unused;
	struct fs_inode tmpl = { .kind = FS_REPOS_DIR, .key = "p:ubuntu", .path = "ubuntu" };
	struct store_image *fake = (struct store_image *)(uintptr_t)0x1000;
	uint64_t a_ino;

	CHECK(fs_inode_table_init(&t) == 0);
	CHECK(fs_inode_root(&t, &root) == 0);
	CHECK(root->ino == 1);
	CHECK(fs_inode_get(&t, 1) == root);
	fs_inode_put(&t, root);

	CHECK(fs_inode_lookup(&t, &tmpl, &a, &unused) == 0);
	CHECK(unused == NULL);
	CHECK(a->ino == 2 && a->nlookup == 1);
	CHECK_STR(a->path, "ubuntu");
	a_ino = a->ino;
	/* The same key finds the same node, and a second image reference
	 * offered with it comes back to be released. */
	tmpl.img = fake;
	CHECK(fs_inode_lookup(&t, &tmpl, &a2, &unused) == 0);
	CHECK(a2 == a && a->nlookup == 2);
	CHECK(unused == fake);
	tmpl.img = NULL;
	fs_inode_put(&t, a);
	fs_inode_put(&t, a2);

	/* Another key, another number. */
	tmpl.key = "I";
	tmpl.kind = FS_IMAGES;
	tmpl.img = fake;
	CHECK(fs_inode_lookup(&t, &tmpl, &b, &unused) == 0);
	CHECK(unused == NULL && b->img == fake);
	CHECK(b->ino == 3);

	/* Pinned: a forget to zero keeps it until the pin goes. */
	CHECK(fs_inode_forget(&t, b->ino, 1) == NULL);
	CHECK(fs_inode_get(&t, 3) == b);
	fs_inode_put(&t, b);	/* the get above */
	CHECK(fs_inode_put(&t, b) == fake);	/* the lookup's pin: dies */
	CHECK(fs_inode_get(&t, 3) == NULL);

	rootfs_nodes(&t, fake);

	/* Partial forgets. */
	CHECK(fs_inode_forget(&t, a_ino, 1) == NULL);
	got = fs_inode_get(&t, a_ino);
	CHECK(got == a);
	if (got)
		fs_inode_put(&t, got);
	CHECK(fs_inode_forget(&t, a_ino, 5) == NULL);	/* no image: NULL */
	CHECK(fs_inode_get(&t, a_ino) == NULL);

	/* Numbers are not reused: the same key again is a new inode. */
	tmpl.key = "p:ubuntu";
	tmpl.kind = FS_REPOS_DIR;
	tmpl.img = fake;
	CHECK(fs_inode_lookup(&t, &tmpl, &a, &unused) == 0);
	CHECK(a->ino == 4);
	fs_inode_put(&t, a);
	/* The root never dies. */
	CHECK(fs_inode_forget(&t, 1, 100) == NULL);
	CHECK(fs_inode_get(&t, 1) != NULL);
	fs_inode_put(&t, root);

	/* Many keys: lookups stay correct as the tables grow. */
	for (int i = 0; i < 10000; i++) {
		char key[32];
		struct fs_inode tm = { .kind = FS_REPOS_DIR, .key = key };
		struct fs_inode *n;

		snprintf(key, sizeof(key), "p:x/%d", i);
		CHECK(fs_inode_lookup(&t, &tm, &n, &unused) == 0);
		fs_inode_put(&t, n);
	}
	for (int i = 0; i < 10000; i += 997) {
		char key[32];
		struct fs_inode tm = { .kind = FS_REPOS_DIR, .key = key };
		struct fs_inode *n;

		snprintf(key, sizeof(key), "p:x/%d", i);
		CHECK(fs_inode_lookup(&t, &tm, &n, &unused) == 0);
		CHECK(n->ino == (uint64_t)(5 + i) && n->nlookup == 2);
		fs_inode_put(&t, n);
	}
	/* Stable numbers: one slot per image name for the whole mount, so a
	 * rootfs file keeps its st_ino whatever the kernel forgets. */
	{
		uint64_t a0 = fs_inode_stable_ino(&t, "img-a", 0);
		uint64_t a7 = fs_inode_stable_ino(&t, "img-a", 7);
		uint64_t b7 = fs_inode_stable_ino(&t, "img-b", 7);

		CHECK(a0 != 0 && a7 != 0 && b7 != 0);
		CHECK(a0 >= ((uint64_t)1 << 32) && b7 >= ((uint64_t)1 << 32));
		CHECK(a7 == a0 + 7);
		CHECK(b7 != a7 && (b7 >> 32) != (a7 >> 32));
		CHECK(fs_inode_stable_ino(&t, "img-a", 7) == a7);
		CHECK(fs_inode_stable_ino(&t, "img-b", 7) == b7);
	}
	puts_seen = 0;
	fs_inode_table_release(&t, put, NULL);
	CHECK(puts_seen == 1);	/* the node "p:ubuntu" held the fake image */
	return check_done("test_inode");
}
