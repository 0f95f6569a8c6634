/* SPDX-License-Identifier: MIT */
/*
 * htab.c - chained string hash table.  See htab.h.
 */
#include "htab.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <xxhash.h>

int htab_init(struct htab *h)
{
	h->nb = 16;
	h->n = 0;
	h->b = calloc(h->nb, sizeof(*h->b));
	if (!h->b)
		return -ENOMEM;
	if (getrandom(&h->seed, sizeof(h->seed), GRND_NONBLOCK) != sizeof(h->seed))
		h->seed = (uint64_t)(uintptr_t)h ^ 0x9e3779b97f4a7c15ull;
	return 0;
}

void htab_release(struct htab *h)
{
	for (size_t i = 0; i < h->nb; i++) {
		struct htab_ent *e = h->b ? h->b[i] : NULL;

		while (e) {
			struct htab_ent *n = e->next;

			free(e);
			e = n;
		}
	}
	free(h->b);
	h->b = NULL;
	h->nb = h->n = 0;
}

static uint64_t hash_of(const struct htab *h, const char *key, size_t klen)
{
	return XXH3_64bits_withSeed(key, klen, h->seed);
}

void *htab_getn(const struct htab *h, const char *key, size_t klen)
{
	uint64_t hv = hash_of(h, key, klen);

	for (struct htab_ent *e = h->b[hv & (h->nb - 1)]; e; e = e->next)
		if (e->hash == hv && e->klen == klen && memcmp(e->key, key, klen) == 0)
			return e->val;
	return NULL;
}

void *htab_get(const struct htab *h, const char *key)
{
	return htab_getn(h, key, strlen(key));
}

static void htab_resize(struct htab *h)
{
	size_t nb = h->nb * 2;
	struct htab_ent **b = calloc(nb, sizeof(*b));

	if (!b)
		return;	/* keep working with longer chains */
	for (size_t i = 0; i < h->nb; i++) {
		struct htab_ent *e = h->b[i];

		while (e) {
			struct htab_ent *n = e->next;

			e->next = b[e->hash & (nb - 1)];
			b[e->hash & (nb - 1)] = e;
			e = n;
		}
	}
	free(h->b);
	h->b = b;
	h->nb = nb;
}

int htab_set(struct htab *h, const char *key, void *val, void **old)
{
	size_t klen = strlen(key);
	uint64_t hv = hash_of(h, key, klen);
	struct htab_ent *e;

	for (e = h->b[hv & (h->nb - 1)]; e; e = e->next) {
		if (e->hash == hv && e->klen == klen && memcmp(e->key, key, klen) == 0) {
			if (old)
				*old = e->val;
			e->val = val;
			return 0;
		}
	}
	e = malloc(sizeof(*e) + klen + 1);
	if (!e)
		return -ENOMEM;
	e->hash = hv;
	e->val = val;
	e->klen = klen;
	memcpy(e->key, key, klen + 1);
	e->next = h->b[hv & (h->nb - 1)];
	h->b[hv & (h->nb - 1)] = e;
	h->n++;
	if (old)
		*old = NULL;
	if (h->n > h->nb * 2)
		htab_resize(h);
	return 0;
}

void *htab_del(struct htab *h, const char *key)
{
	size_t klen = strlen(key);
	uint64_t hv = hash_of(h, key, klen);
	struct htab_ent **pp = &h->b[hv & (h->nb - 1)];

	for (; *pp; pp = &(*pp)->next) {
		struct htab_ent *e = *pp;

		if (e->hash == hv && e->klen == klen && memcmp(e->key, key, klen) == 0) {
			void *val = e->val;

			*pp = e->next;
			free(e);
			h->n--;
			return val;
		}
	}
	return NULL;
}

struct htab_ent *htab_first(const struct htab *h, size_t *it)
{
	for (*it = 0; *it < h->nb; (*it)++)
		if (h->b[*it])
			return h->b[*it];
	return NULL;
}

struct htab_ent *htab_next(const struct htab *h, size_t *it, struct htab_ent *e)
{
	if (e->next)
		return e->next;
	for ((*it)++; *it < h->nb; (*it)++)
		if (h->b[*it])
			return h->b[*it];
	return NULL;
}
