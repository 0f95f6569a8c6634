/* SPDX-License-Identifier: MIT */
/*
 * inode.c - the kernel-visible inode table.  See inode.h for the design.
 */
#include "inode.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * A rootfs file is not a node of the maps: an image of 100,000 files would
 * cost ~300 bytes each in keys, paths and map entries (measured: 31 MB
 * after walking such an image).  Its node id is its stable inode number,
 * (slot << 32) | (n + 1), which names the image (the slot) and the file
 * (n) without a table; what the kernel holds of it is one count in the
 * slot's paged array, indexed by n + 1: a page of 512 counts is made when
 * one of them leaves zero and freed when the last returns to it, so a
 * walked image costs 8 bytes a file (an open-addressed map, at most half
 * full, took 32-64 and twice that while growing: 4.2 MB for 100,000
 * files, now 0.8 MB).  The slot keeps what every rootfs node of the image
 * shares (the name, ids, the image reference, held while the kernel or an
 * operation holds any of them); fs_inode_get() hands out a node made for
 * the caller, freed by its put.
 */
#define FS_COUNT_SHIFT 9
#define FS_COUNT_PAGE (1u << FS_COUNT_SHIFT)

struct fs_count_page {
	uint32_t used;			/* counts above zero */
	uint64_t nlookup[FS_COUNT_PAGE];
};

struct fs_slot {
	uint32_t slot;
	char *name;		/* the image's name: the nodes' path */
	char id[65];
	char mhex[65];
	struct store_image *img;	/* held while lookups or pins */
	uint64_t lookups;	/* the sum of the counts */
	uint64_t pins;		/* nodes handed out and not yet put */
	struct fs_count_page **pages;	/* by key >> FS_COUNT_SHIFT */
	size_t n_pages;
};

#define FS_SLOT_SHIFT 32

/* The count of @key, NULL when it is zero (the kernel does not hold it). */
static uint64_t *count_find(const struct fs_slot *sl, uint32_t key)
{
	size_t pi = key >> FS_COUNT_SHIFT;
	uint64_t *c;

	if (pi >= sl->n_pages || !sl->pages[pi])
		return NULL;
	c = &sl->pages[pi]->nlookup[key & (FS_COUNT_PAGE - 1)];
	return *c ? c : NULL;
}

/* The count of @key, its page made if need be; NULL when out of memory.
 * A page made here and left with no count is freed by count_drop(). */
static uint64_t *count_make(struct fs_slot *sl, uint32_t key)
{
	size_t pi = key >> FS_COUNT_SHIFT;

	if (pi >= sl->n_pages) {
		size_t n = pi + 1 > sl->n_pages * 2 ? pi + 1 : sl->n_pages * 2;
		struct fs_count_page **p = reallocarray(sl->pages, n, sizeof(*p));

		if (!p)
			return NULL;
		memset(p + sl->n_pages, 0, (n - sl->n_pages) * sizeof(*p));
		sl->pages = p;
		sl->n_pages = n;
	}
	if (!sl->pages[pi]) {
		sl->pages[pi] = calloc(1, sizeof(*sl->pages[pi]));
		if (!sl->pages[pi])
			return NULL;
	}
	return &sl->pages[pi]->nlookup[key & (FS_COUNT_PAGE - 1)];
}

/* Add @n to the count of @key (made by count_make()). */
static void count_add(struct fs_slot *sl, uint32_t key, uint64_t n)
{
	struct fs_count_page *pg = sl->pages[key >> FS_COUNT_SHIFT];
	uint64_t *c = &pg->nlookup[key & (FS_COUNT_PAGE - 1)];

	if (!*c && n)
		pg->used++;
	*c += n;
	sl->lookups += n;
}

/* Take @n (at most the count) from the count of @key; a page left with
 * no count goes. */
static void count_drop(struct fs_slot *sl, uint32_t key, uint64_t n)
{
	size_t pi = key >> FS_COUNT_SHIFT;
	struct fs_count_page *pg = pi < sl->n_pages ? sl->pages[pi] : NULL;
	uint64_t *c;

	if (!pg)
		return;
	c = &pg->nlookup[key & (FS_COUNT_PAGE - 1)];
	if (n > *c)
		n = *c;
	if (*c && *c == n)
		pg->used--;
	*c -= n;
	sl->lookups -= n;
	if (!pg->used) {
		free(pg);
		sl->pages[pi] = NULL;
	}
}

static void counts_free(struct fs_slot *sl)
{
	for (size_t i = 0; i < sl->n_pages; i++)
		free(sl->pages[i]);
	free(sl->pages);
}

/* Called with t->lock held: the slot of @name, made if new. */
static struct fs_slot *slot_of(struct fs_inode_table *t, const char *name)
{
	struct fs_slot *sl = htab_get(&t->slots, name), **arr;

	if (sl)
		return sl;
	if (t->n_slots >= UINT32_MAX - 1)
		return NULL;
	if (t->n_slots == t->slots_cap) {
		size_t cap = t->slots_cap ? t->slots_cap * 2 : 16;

		arr = realloc(t->slot_arr, cap * sizeof(*arr));
		if (!arr)
			return NULL;
		t->slot_arr = arr;
		t->slots_cap = cap;
	}
	sl = calloc(1, sizeof(*sl));
	if (!sl)
		return NULL;
	sl->name = strdup(name);
	if (!sl->name || htab_set(&t->slots, name, sl, NULL)) {
		free(sl->name);
		free(sl);
		return NULL;
	}
	t->slot_arr[t->n_slots++] = sl;
	sl->slot = (uint32_t)t->n_slots;	/* slots start at 1 */
	return sl;
}

/* Called with t->lock held: the slot a rootfs node id names, or NULL. */
static struct fs_slot *slot_by_ino(struct fs_inode_table *t, uint64_t ino)
{
	uint64_t slot = ino >> FS_SLOT_SHIFT;

	if (!slot || slot > t->n_slots)
		return NULL;
	return t->slot_arr[slot - 1];
}

/* Called with t->lock held: the image reference the slot gives up when
 * nothing holds its nodes any more. */
static struct store_image *slot_maybe_idle(struct fs_slot *sl)
{
	struct store_image *img = NULL;

	if (!sl->lookups && !sl->pins) {
		img = sl->img;
		sl->img = NULL;
	}
	return img;
}

/* Called with t->lock held: a node of rootfs file @key - 1 for a caller. */
static struct fs_inode *slot_node(struct fs_slot *sl, uint32_t key,
				  uint64_t nlookup)
{
	struct fs_inode *n = calloc(1, sizeof(*n));

	if (!n)
		return NULL;
	n->ino = ((uint64_t)sl->slot << FS_SLOT_SHIFT) | key;
	n->kind = FS_ROOTFS;
	n->nlookup = nlookup;
	n->pins = 1;
	n->path = sl->name;	/* borrowed: the slot lives until unmount */
	memcpy(n->id, sl->id, sizeof(n->id));
	memcpy(n->mhex, sl->mhex, sizeof(n->mhex));
	n->n = key - 1;
	n->img = sl->img;	/* borrowed: held by the slot while pinned */
	sl->pins++;
	return n;
}

int fs_inode_table_init(struct fs_inode_table *t)
{
	int ret;

	memset(t, 0, sizeof(*t));
	ret = htab_init(&t->by_key);
	if (ret)
		return ret;
	ret = htab_init(&t->by_ino);
	if (ret) {
		htab_release(&t->by_key);
		return ret;
	}
	ret = htab_init(&t->slots);
	if (ret) {
		htab_release(&t->by_key);
		htab_release(&t->by_ino);
		return ret;
	}
	pthread_mutex_init(&t->lock, NULL);
	t->next_ino = 2;	/* 1 is FUSE_ROOT_ID */
	return 0;
}

uint64_t fs_inode_stable_ino(struct fs_inode_table *t, const char *img_name,
			     uint32_t n)
{
	struct fs_slot *sl;
	uint64_t ino = 0;

	pthread_mutex_lock(&t->lock);
	sl = slot_of(t, img_name);
	if (sl)
		ino = ((uint64_t)sl->slot << FS_SLOT_SHIFT) | ((uint64_t)n + 1);
	pthread_mutex_unlock(&t->lock);
	return ino;
}

static void node_free(struct fs_inode *n)
{
	if (n->kind != FS_ROOTFS) {	/* a rootfs node borrows its path */
		free(n->key);
		free(n->path);
	}
	free(n);
}

void fs_inode_table_release(struct fs_inode_table *t,
			    void (*put)(void *ctx, struct store_image *img),
			    void *ctx)
{
	struct htab_ent *e;
	size_t it;

	for (e = htab_first(&t->by_key, &it); e; e = htab_next(&t->by_key, &it, e)) {
		struct fs_inode *n = e->val;

		if (n->img && put)
			put(ctx, n->img);
		node_free(n);
	}
	for (size_t i = 0; i < t->n_slots; i++) {
		struct fs_slot *sl = t->slot_arr[i];

		if (sl->img && put)
			put(ctx, sl->img);
		counts_free(sl);
		free(sl->name);
		free(sl);
	}
	free(t->slot_arr);
	htab_release(&t->by_key);
	htab_release(&t->by_ino);
	htab_release(&t->slots);
	pthread_mutex_destroy(&t->lock);
}

static void ino_key(uint64_t ino, char *buf, size_t len)
{
	snprintf(buf, len, "%" PRIu64, ino);
}

/* Called with t->lock held. */
static struct fs_inode *node_create(struct fs_inode_table *t,
				    const struct fs_inode *tmpl, uint64_t ino)
{
	struct fs_inode *n = calloc(1, sizeof(*n));
	char k[24];

	if (!n)
		return NULL;
	*n = *tmpl;
	n->key = strdup(tmpl->key);
	n->path = tmpl->path ? strdup(tmpl->path) : NULL;
	n->nlookup = 0;
	n->pins = 0;
	n->ino = ino;
	if (!n->key || (tmpl->path && !n->path))
		goto fail;
	ino_key(ino, k, sizeof(k));
	if (htab_set(&t->by_key, n->key, n, NULL))
		goto fail;
	if (htab_set(&t->by_ino, k, n, NULL)) {
		htab_del(&t->by_key, n->key);
		goto fail;
	}
	return n;
fail:
	n->img = NULL;
	node_free(n);
	return NULL;
}

/* Called with t->lock held: fs_inode_lookup() of a rootfs file. */
static int rootfs_lookup(struct fs_inode_table *t, const struct fs_inode *tmpl,
			 struct fs_inode **out, struct store_image **unused_img)
{
	struct fs_slot *sl;
	uint32_t key = tmpl->n + 1;
	uint64_t *c;
	struct fs_inode *n;

	*unused_img = tmpl->img;
	if (!tmpl->path || tmpl->n >= UINT32_MAX)
		return -EINVAL;
	sl = slot_of(t, tmpl->path);
	if (!sl)
		return -ENOMEM;
	c = count_make(sl, key);
	if (!c)
		return -ENOMEM;
	if (!sl->img && !sl->lookups && !sl->pins) {
		/* The first holder since the slot was idle: its image (and
		 * the ids, the same for every node of one name). */
		sl->img = tmpl->img;
		*unused_img = NULL;
		memcpy(sl->id, tmpl->id, sizeof(sl->id));
		memcpy(sl->mhex, tmpl->mhex, sizeof(sl->mhex));
	}
	n = slot_node(sl, key, *c + 1);
	if (!n) {
		count_drop(sl, key, 0);	/* frees a page made for nothing */
		if (sl->img == tmpl->img && !sl->lookups && !sl->pins) {
			sl->img = NULL;
			*unused_img = tmpl->img;
		}
		return -ENOMEM;
	}
	count_add(sl, key, 1);
	*out = n;
	return 0;
}

int fs_inode_lookup(struct fs_inode_table *t, const struct fs_inode *tmpl,
		    struct fs_inode **out, struct store_image **unused_img)
{
	struct fs_inode *n;
	int ret = 0;

	*unused_img = NULL;
	pthread_mutex_lock(&t->lock);
	if (tmpl->kind == FS_ROOTFS) {
		ret = rootfs_lookup(t, tmpl, out, unused_img);
		goto out;
	}
	n = htab_get(&t->by_key, tmpl->key);
	if (n) {
		*unused_img = tmpl->img;
	} else {
		if (t->next_ino >> FS_SLOT_SHIFT) {
			/* 2^32 nodes made: ids would meet rootfs ids. */
			*unused_img = tmpl->img;
			ret = -ENFILE;
			goto out;
		}
		n = node_create(t, tmpl, t->next_ino);
		if (!n) {
			*unused_img = tmpl->img;
			ret = -ENOMEM;
			goto out;
		}
		t->next_ino++;
	}
	n->nlookup++;
	n->pins++;
	*out = n;
out:
	pthread_mutex_unlock(&t->lock);
	return ret;
}

int fs_inode_root(struct fs_inode_table *t, struct fs_inode **out)
{
	struct fs_inode tmpl = { .kind = FS_ROOT, .key = "R" };
	struct fs_inode *n;
	int ret = 0;

	pthread_mutex_lock(&t->lock);
	n = node_create(t, &tmpl, 1);
	if (!n) {
		ret = -ENOMEM;
		goto out;
	}
	n->nlookup = 1;
	*out = n;
out:
	pthread_mutex_unlock(&t->lock);
	return ret;
}

struct fs_inode *fs_inode_get(struct fs_inode_table *t, uint64_t ino)
{
	struct fs_inode *n = NULL;
	char k[24];

	pthread_mutex_lock(&t->lock);
	if (ino >> FS_SLOT_SHIFT) {
		struct fs_slot *sl = slot_by_ino(t, ino);
		uint64_t *c = sl ? count_find(sl, (uint32_t)ino) : NULL;

		/* Only a file the kernel holds: a forgotten one is stale. */
		if (c)
			n = slot_node(sl, (uint32_t)ino, *c);
		goto out;
	}
	ino_key(ino, k, sizeof(k));
	n = htab_get(&t->by_ino, k);
	if (n)
		n->pins++;
out:
	pthread_mutex_unlock(&t->lock);
	return n;
}

/* Called with t->lock held: unlink and free @n if nobody needs it. */
static struct store_image *node_maybe_free(struct fs_inode_table *t,
					   struct fs_inode *n)
{
	struct store_image *img;
	char k[24];

	if (n->nlookup || n->pins || n->kind == FS_ROOT)
		return NULL;
	ino_key(n->ino, k, sizeof(k));
	htab_del(&t->by_ino, k);
	htab_del(&t->by_key, n->key);
	img = n->img;
	node_free(n);
	return img;
}

struct store_image *fs_inode_put(struct fs_inode_table *t, struct fs_inode *n)
{
	struct store_image *img = NULL;

	pthread_mutex_lock(&t->lock);
	if (n->kind == FS_ROOTFS) {
		struct fs_slot *sl = slot_by_ino(t, n->ino);

		if (sl) {
			sl->pins--;
			img = slot_maybe_idle(sl);
		}
		node_free(n);
		goto out;
	}
	if (n->pins > 0)
		n->pins--;
	img = node_maybe_free(t, n);
out:
	pthread_mutex_unlock(&t->lock);
	return img;
}

struct store_image *fs_inode_forget(struct fs_inode_table *t, uint64_t ino,
				    uint64_t count)
{
	struct store_image *img = NULL;
	struct fs_inode *n;
	char k[24];

	pthread_mutex_lock(&t->lock);
	if (ino >> FS_SLOT_SHIFT) {
		struct fs_slot *sl = slot_by_ino(t, ino);
		if (sl && count_find(sl, (uint32_t)ino)) {
			count_drop(sl, (uint32_t)ino, count);
			img = slot_maybe_idle(sl);
		}
		goto out;
	}
	ino_key(ino, k, sizeof(k));
	n = htab_get(&t->by_ino, k);
	if (n) {
		n->nlookup = count > n->nlookup ? 0 : n->nlookup - count;
		img = node_maybe_free(t, n);
	}
out:
	pthread_mutex_unlock(&t->lock);
	return img;
}
