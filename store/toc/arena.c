/* SPDX-License-Identifier: MIT */
/*
 * arena.c - the arena that owns every string, xattr value and window of
 * one struct store_toc, and the toc's own lifetime (store_toc_free).
 *
 * Why an arena: an index holds up to millions of small strings that all
 * die together, so one list of large blocks beats millions of mallocs in
 * both time and RSS, and freeing is O(blocks).  The arena has a hard cap so
 * a hostile layer cannot make the indexer allocate without bound; an array
 * of the toc that grows with what the layer says (the xattr records) is
 * counted against the same cap.  A loaded
 * index adopts the whole file buffer, and its strings point into it.
 * While an index is being built its arena also draws every block and
 * charge from the store's budget of build memory (budget.c), and gives
 * it back in one piece when the build ends.
 */
#include "toc_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define ARENA_BLOCK ((size_t)256 << 10)

struct arena_blk {
	struct arena_blk *next;
	size_t used, cap;
	unsigned char *data;	/* == (unsigned char *)(blk + 1) unless adopted */
};

struct toc_arena {
	struct arena_blk *head;
	size_t total;		/* bytes of all blocks and charges */
	size_t max;
	struct store_toc_budget *budget;	/* NULL: none */
	uint64_t budgeted;	/* bytes taken from it */
	bool spent;		/* a take from it failed */
};

int toc_arena_new(size_t max, struct toc_arena **out)
{
	struct toc_arena *ar = calloc(1, sizeof(*ar));

	if (!ar)
		return -ENOMEM;
	ar->max = max;
	*out = ar;
	return 0;
}

void toc_arena_free(struct toc_arena *ar)
{
	struct arena_blk *b, *next;

	if (!ar)
		return;
	for (b = ar->head; b; b = next) {
		next = b->next;
		if (b->data != (unsigned char *)(b + 1))
			free(b->data);
		free(b);
	}
	free(ar);
}

void toc_arena_budget(struct toc_arena *ar, struct store_toc_budget *b)
{
	ar->budget = b;
	ar->budgeted = 0;
	ar->spent = false;
}

int toc_arena_reserve(struct toc_arena *ar, size_t n)
{
	if (!ar->budget)
		return 0;
	if (toc_budget_take(ar->budget, n)) {
		ar->spent = true;
		return -ENOMEM;
	}
	ar->budgeted += n;
	return 0;
}

bool toc_arena_budget_spent(const struct toc_arena *ar)
{
	return ar->spent;
}

uint64_t toc_arena_unbudget(struct toc_arena *ar)
{
	uint64_t held = ar->budgeted;

	ar->budget = NULL;
	ar->budgeted = 0;
	return held;
}

static struct arena_blk *arena_grow(struct toc_arena *ar, size_t need)
{
	size_t cap = need > ARENA_BLOCK ? need : ARENA_BLOCK;
	struct arena_blk *b;

	if (cap > ar->max || ar->total > ar->max - cap)
		return NULL;
	if (toc_arena_reserve(ar, cap))
		return NULL;
	b = malloc(sizeof(*b) + cap);
	if (!b) {
		if (ar->budget) {
			toc_budget_give(ar->budget, cap);
			ar->budgeted -= cap;
		}
		return NULL;
	}
	b->used = 0;
	b->cap = cap;
	b->data = (unsigned char *)(b + 1);
	ar->total += cap;
	/* A big block goes behind the head so the head's free tail is kept
	 * for the small strings that follow. */
	if (ar->head && cap > ARENA_BLOCK) {
		b->next = ar->head->next;
		ar->head->next = b;
	} else {
		b->next = ar->head;
		ar->head = b;
	}
	return b;
}

/* @n bytes at a multiple of @align (1 or 8) */
static void *arena_take(struct toc_arena *ar, size_t n, size_t align)
{
	struct arena_blk *b = ar->head;
	size_t off;

	if (n > SIZE_MAX - 8)
		return NULL;
	if (!n)
		n = 1;
	off = b ? (b->used + align - 1) & ~(align - 1) : 0;
	if (!b || off > b->cap || b->cap - off < n) {
		b = arena_grow(ar, n);
		if (!b)
			return NULL;
		off = 0;
	}
	b->used = off + n;
	return b->data + off;
}

void *toc_arena_alloc(struct toc_arena *ar, size_t n)
{
	return arena_take(ar, n, 8);
}

/* Strings are not aligned: 103k paths of a small-files image waste
 * 3.5 bytes each on average at 8. */
char *toc_arena_strndup(struct toc_arena *ar, const char *s, size_t n)
{
	char *p = arena_take(ar, n + 1, 1);

	if (!p)
		return NULL;
	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

void *toc_arena_memdup(struct toc_arena *ar, const void *p, size_t n)
{
	void *d = toc_arena_alloc(ar, n);

	if (d && n)
		memcpy(d, p, n);
	return d;
}

int toc_arena_charge(struct toc_arena *ar, size_t n)
{
	int rc;

	if (n > ar->max || ar->total > ar->max - n)
		return -E2BIG;
	rc = toc_arena_reserve(ar, n);
	if (rc)
		return rc;
	ar->total += n;
	return 0;
}

int toc_arena_adopt(struct toc_arena *ar, void *buf)
{
	struct arena_blk *b = malloc(sizeof(*b));

	if (!b) {
		free(buf);
		return -ENOMEM;
	}
	b->used = 0;
	b->cap = 0;	/* never allocated from */
	b->data = buf;
	if (ar->head) {
		b->next = ar->head->next;
		ar->head->next = b;
	} else {
		b->next = NULL;
		ar->head = b;
	}
	return 0;
}

int toc_alloc(size_t max, struct store_toc **out)
{
	struct store_toc *toc = calloc(1, sizeof(*toc));
	struct toc_arena *ar;
	int rc;

	if (!toc)
		return -ENOMEM;
	rc = toc_arena_new(max, &ar);
	if (rc) {
		free(toc);
		return rc;
	}
	toc->mem = ar;
	*out = toc;
	return 0;
}

void *toc_grow(void *arr, size_t *cap, size_t size, size_t first)
{
	size_t ncap = *cap ? *cap * 2 : first;
	void *p;

	if (ncap > SIZE_MAX / size)
		return NULL;
	p = realloc(arr, ncap * size);
	if (p)
		*cap = ncap;
	return p;
}

void store_toc_free(struct store_toc *toc)
{
	if (!toc)
		return;
	free(toc->entries);
	free(toc->xattrs);
	free(toc->cps);
	free(toc->chunk_md);
	toc_arena_free(toc->mem);
	free(toc);
}
