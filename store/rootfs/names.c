/* SPDX-License-Identifier: MIT */
/*
 * names.c - the index of names merge.c uses while the layers are merged:
 * (parent, name) -> name index, with lookups by a name that is not
 * NUL-terminated (a component in the middle of a path).
 *
 * Why not common/htab: htab copies every key into a malloc'd entry of its
 * own (~64 bytes a name).  For a 100k-file image that is 100k small heap
 * blocks freed right after the build, which stay in the daemon's RSS as
 * fragmented free heap (measured: ~7 MiB left resident, vs a 4.4 MiB
 * tree), and the malloc/free traffic was a third of the build time.  This
 * index is one array of 16-byte slots pointing at names that already
 * exist (toc strings), allocated and freed in one piece.
 *
 * Hostile names cannot flood a probe sequence: the hash is XXH3 with a
 * random per-index seed, as in htab.  Deleted slots are tombstones; the
 * table is rebuilt when live plus deleted slots pass 3/4.
 */
#include "rootfs_int.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <xxhash.h>

static size_t slot_of(const struct rootfs_names *ix, uint32_t parent,
		      const char *name, size_t nlen)
{
	uint64_t seed = ix->seed ^ ((uint64_t)parent * 0x9e3779b97f4a7c15ull);

	return (size_t)XXH3_64bits_withSeed(name, nlen, seed) & ix->mask;
}

static bool slot_is(const struct rootfs_nslot *s, uint32_t parent,
		    const char *name, size_t nlen)
{
	return s->val != ROOTFS_NONE && s->parent == parent &&
	       strncmp(s->name, name, nlen) == 0 && s->name[nlen] == '\0';
}

static int alloc_slots(struct rootfs_names *ix, size_t expect)
{
	size_t n = 64;

	while (n / 2 < expect) {
		if (n > SIZE_MAX / 4 / sizeof(*ix->s))
			return -E2BIG;
		n *= 2;
	}
	ix->s = calloc(n, sizeof(*ix->s));
	if (!ix->s)
		return -ENOMEM;
	ix->mask = n - 1;
	ix->used = 0;
	return 0;
}

int rootfs_names_init(struct rootfs_names *ix, size_t expect)
{
	if (getrandom(&ix->seed, sizeof(ix->seed), GRND_NONBLOCK) != sizeof(ix->seed))
		ix->seed = (uint64_t)(uintptr_t)ix ^ 0x9e3779b97f4a7c15ull;
	return alloc_slots(ix, expect);
}

void rootfs_names_release(struct rootfs_names *ix)
{
	free(ix->s);
	ix->s = NULL;
}

uint32_t rootfs_names_get(const struct rootfs_names *ix, uint32_t parent,
			  const char *name, size_t nlen)
{
	for (size_t i = slot_of(ix, parent, name, nlen);; i = (i + 1) & ix->mask) {
		const struct rootfs_nslot *s = &ix->s[i];

		if (s->val == 0)
			return ROOTFS_NONE;
		if (slot_is(s, parent, name, nlen))
			return s->val - 1;
	}
}

/* Store a key known to be absent in the first free or deleted slot. */
static void slot_insert(struct rootfs_names *ix, uint32_t parent,
			const char *name, uint32_t val)
{
	size_t i = slot_of(ix, parent, name, strlen(name));

	while (ix->s[i].val != 0 && ix->s[i].val != ROOTFS_NONE)
		i = (i + 1) & ix->mask;
	if (ix->s[i].val == 0)
		ix->used++;
	ix->s[i] = (struct rootfs_nslot){ .name = name, .parent = parent, .val = val + 1 };
}

int rootfs_names_add(struct rootfs_names *ix, uint32_t parent,
		     const char *name, uint32_t val)
{
	if ((ix->used + 1) * 4 > (ix->mask + 1) * 3) {
		struct rootfs_names old = *ix;
		size_t live = 0;
		int ret;

		for (size_t i = 0; i <= old.mask; i++)
			live += old.s[i].val != 0 && old.s[i].val != ROOTFS_NONE;
		ret = alloc_slots(ix, live + 1);
		if (ret < 0) {
			*ix = old;
			return ret;
		}
		for (size_t i = 0; i <= old.mask; i++)
			if (old.s[i].val != 0 && old.s[i].val != ROOTFS_NONE)
				slot_insert(ix, old.s[i].parent, old.s[i].name, old.s[i].val - 1);
		free(old.s);
	}
	slot_insert(ix, parent, name, val);
	return 0;
}

void rootfs_names_del(struct rootfs_names *ix, uint32_t parent, const char *name)
{
	size_t nlen = strlen(name);

	for (size_t i = slot_of(ix, parent, name, nlen);; i = (i + 1) & ix->mask) {
		struct rootfs_nslot *s = &ix->s[i];

		if (s->val == 0)
			return;
		if (slot_is(s, parent, name, nlen)) {
			s->val = ROOTFS_NONE;
			return;
		}
	}
}
