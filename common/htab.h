/* SPDX-License-Identifier: MIT */
/*
 * htab.h - a string-keyed hash table (open hashing, chained).
 *
 * Owns: its bucket array and a copy of every key.  Values are opaque
 * pointers owned by the caller.  The hash is XXH3 with a per-table random
 * seed so that hostile names (paths inside an image) cannot flood one
 * bucket.  Not thread-safe: whoever embeds a table names the lock that
 * guards it beside it.
 */
#ifndef IMGFS_HTAB_H
#define IMGFS_HTAB_H

#include <stddef.h>
#include <stdint.h>

struct htab_ent {
	struct htab_ent *next;
	uint64_t hash;
	void *val;
	size_t klen;
	char key[];	/* NUL-terminated copy */
};

struct htab {
	struct htab_ent **b;
	size_t nb;	/* power of two */
	size_t n;
	uint64_t seed;
};

int htab_init(struct htab *h);
void htab_release(struct htab *h);
void *htab_get(const struct htab *h, const char *key);
void *htab_getn(const struct htab *h, const char *key, size_t klen);
/* Inserts or replaces; *old (if given) receives the replaced value or NULL. */
int htab_set(struct htab *h, const char *key, void *val, void **old);
/* Removes; returns the removed value or NULL. */
void *htab_del(struct htab *h, const char *key);

/* Iteration: for (e = htab_first(h, &it); e; e = htab_next(h, &it, e)) */
struct htab_ent *htab_first(const struct htab *h, size_t *it);
struct htab_ent *htab_next(const struct htab *h, size_t *it, struct htab_ent *e);

#endif
