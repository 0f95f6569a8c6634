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

int fs_inode_table_init(struct fs_inode_table *t)
{
	int ret;

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
	t->next_slot = 1;
	return 0;
}

uint64_t fs_inode_stable_ino(struct fs_inode_table *t, const char *img_name,
			     uint32_t n)
{
	uintptr_t slot;
	void *v;

	pthread_mutex_lock(&t->lock);
	v = htab_get(&t->slots, img_name);
	if (v) {
		slot = (uintptr_t)v;
	} else {
		slot = t->next_slot;
		if (htab_set(&t->slots, img_name, (void *)slot, NULL)) {
			pthread_mutex_unlock(&t->lock);
			return 0;
		}
		t->next_slot++;
	}
	pthread_mutex_unlock(&t->lock);
	return ((uint64_t)slot << 32) | ((uint64_t)n + 1);
}

static void node_free(struct fs_inode *n)
{
	free(n->key);
	free(n->path);
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

int fs_inode_lookup(struct fs_inode_table *t, const struct fs_inode *tmpl,
		    struct fs_inode **out, struct store_image **unused_img)
{
	struct fs_inode *n;
	int ret = 0;

	*unused_img = NULL;
	pthread_mutex_lock(&t->lock);
	n = htab_get(&t->by_key, tmpl->key);
	if (n) {
		*unused_img = tmpl->img;
	} else {
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
	struct fs_inode *n;
	char k[24];

	ino_key(ino, k, sizeof(k));
	pthread_mutex_lock(&t->lock);
	n = htab_get(&t->by_ino, k);
	if (n)
		n->pins++;
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
	struct store_image *img;

	pthread_mutex_lock(&t->lock);
	if (n->pins > 0)
		n->pins--;
	img = node_maybe_free(t, n);
	pthread_mutex_unlock(&t->lock);
	return img;
}

struct store_image *fs_inode_forget(struct fs_inode_table *t, uint64_t ino,
				    uint64_t count)
{
	struct store_image *img = NULL;
	struct fs_inode *n;
	char k[24];

	ino_key(ino, k, sizeof(k));
	pthread_mutex_lock(&t->lock);
	n = htab_get(&t->by_ino, k);
	if (n) {
		n->nlookup = count > n->nlookup ? 0 : n->nlookup - count;
		img = node_maybe_free(t, n);
	}
	pthread_mutex_unlock(&t->lock);
	return img;
}
