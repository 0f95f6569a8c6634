/* SPDX-License-Identifier: MIT */
/*
 * toc_int.h - internals shared by the toc_*.c files (not part of toc.h).
 *
 * Owns nothing itself: it declares the arena (toc_mem.c), the path
 * normaliser (toc_build.c, reused by the loader to re-check paths from a
 * file that may be hostile), the decompression pass of the indexer
 * (toc_scan.c) and the limits every part of the index agrees on.
 */
#ifndef IMGFS_STORE_TOC_INT_H
#define IMGFS_STORE_TOC_INT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "path.h"
#include "toc.h"

#define TOC_MAX_ENTRIES ((size_t)4 << 20)
#define TOC_MAX_PATH PATH_NORM_MAX	/* bytes, without the NUL */
#define TOC_MAX_XATTR_VALUE ((size_t)64 << 10)
#define TOC_MAX_XATTR_ENTRY ((size_t)1 << 20)
#define TOC_MAX_XATTR_COUNT 1024u	/* per entry */
#define TOC_MAX_TAR ((uint64_t)1 << 40)	/* 1 TiB of uncompressed stream */
#define TOC_MAX_STRINGS ((size_t)1 << 30)	/* strings + xattr values */
#define TOC_WINDOW 32768u		/* deflate history */
#define TOC_IO_CHUNK ((size_t)128 << 10)	/* pread size of compressed input */

/* ---- arena (toc_mem.c) ------------------------------------------------ */

struct toc_arena;

int toc_arena_new(size_t max, struct toc_arena **out);
void toc_arena_free(struct toc_arena *ar);
/* 8-byte aligned; NULL when out of memory or past the arena's cap. */
void *toc_arena_alloc(struct toc_arena *ar, size_t n);
char *toc_arena_strndup(struct toc_arena *ar, const char *s, size_t n);
void *toc_arena_memdup(struct toc_arena *ar, const void *p, size_t n);
/* Take ownership of @buf (malloc'd): freed with the arena.  On failure
 * @buf is freed and -ENOMEM returned. */
int toc_arena_adopt(struct toc_arena *ar, void *buf);

/* A toc with an empty arena of cap @max and no arrays. */
int toc_alloc(size_t max, struct store_toc **out);
/*
 * toc_grow - the array @arr of *@cap elements of @size bytes, all in use,
 * reallocated to twice as many (@first when it has none); *@cap follows.
 * NULL, with @arr and *@cap as they were, when out of memory.
 */
void *toc_grow(void *arr, size_t *cap, size_t size, size_t first);

/* ---- zstd ------------------------------------------------------------- */

/* A zstd frame or skippable frame starts at @p (ZSTD_isFrame is not in
 * zstd's stable API). */
static inline int toc_zstd_is_frame(const unsigned char *p, size_t n)
{
	uint32_t m;

	if (n < 4)
		return 0;
	m = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	    (uint32_t)p[3] << 24;
	return m == 0xFD2FB528u || (m & 0xFFFFFFF0u) == 0x184D2A50u;
}

/* ---- decompression pass (toc_scan.c) ---------------------------------- */

struct toc_scan;

/*
 * toc_scan_new - start decompressing @fd (compression @comp) from offset 0,
 * recording checkpoints into @toc (cps, n_cps; windows in toc->mem).
 */
int toc_scan_new(int fd, enum registry_compression comp,
		 struct store_toc *toc, struct toc_scan **out);
/*
 * toc_scan_next - the next piece of the uncompressed stream: *@data and
 * *@len (0 at the end of the stream).  The bytes stay valid until the next
 * call.  Every byte is also hashed into the diff_id.
 */
int toc_scan_next(struct toc_scan *sc, const void **data, size_t *len);
/* Drain to the end, then fill toc->diff_id, tar_size and comp_size. */
int toc_scan_finish(struct toc_scan *sc);
void toc_scan_free(struct toc_scan *sc);

#endif
