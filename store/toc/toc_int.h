/* SPDX-License-Identifier: MIT */
/*
 * toc_int.h - internals shared by the files of store/toc (not part of
 * toc.h).
 *
 * Owns nothing itself: it declares the limits every part of the index
 * agrees on (here and nowhere else), the arena (arena.c), the compressed
 * input reader (input.c), the decompression pass of the indexer (scan.c)
 * and the two decoders the pass and the reader share: gzip access points
 * (gzran.c; reads inflate with ISA-L) and zstd frames (zstd.c).  The
 * on-disk format's constants are format.c's alone.
 */
#ifndef IMGFS_STORE_TOC_INT_H
#define IMGFS_STORE_TOC_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <openssl/evp.h>
#include <zlib.h>
#include <zstd.h>

#include "path.h"
#include "toc.h"

struct toc_scan;

/* ---- limits ----------------------------------------------------------- */

#define TOC_MAX_ENTRIES ((size_t)4 << 20)
#define TOC_MAX_PATH PATH_NORM_MAX	/* bytes, without the NUL */
#define TOC_MAX_XATTR_NAME 255u		/* bytes, without the NUL */
#define TOC_MAX_XATTR_VALUE ((size_t)64 << 10)
#define TOC_MAX_XATTR_ENTRY ((size_t)1 << 20)	/* names + values, per entry */
#define TOC_MAX_XATTR_COUNT 1024u	/* per entry */
#define TOC_MAX_TAR ((uint64_t)1 << 40)	/* 1 TiB of uncompressed stream */
#define TOC_MAX_STRINGS ((size_t)1 << 30)	/* strings + xattr values */
/* Arena cap of an index being built: the strings, plus the windows and
 * the xattr records. */
#define TOC_MAX_BUILD_MEM (TOC_MAX_STRINGS + ((size_t)1 << 30))
#define TOC_WINDOW 32768u		/* deflate history */
#define TOC_IO_CHUNK ((size_t)128 << 10)	/* pread of compressed input */

/* ---- arena (arena.c) -------------------------------------------------- */

struct toc_arena;

int toc_arena_new(size_t max, struct toc_arena **out);
void toc_arena_free(struct toc_arena *ar);
/* 8-byte aligned; NULL when out of memory or past the arena's cap. */
void *toc_arena_alloc(struct toc_arena *ar, size_t n);
char *toc_arena_strndup(struct toc_arena *ar, const char *s, size_t n);
void *toc_arena_memdup(struct toc_arena *ar, const void *p, size_t n);
/*
 * toc_arena_charge - count @n bytes that live outside the arena (an array
 * the toc owns) against its cap.  -E2BIG, with nothing counted, past it;
 * -ENOMEM when its budget (toc_arena_budget) has none to give.
 */
int toc_arena_charge(struct toc_arena *ar, size_t n);
/* Take ownership of @buf (malloc'd): freed with the arena.  On failure
 * @buf is freed and -ENOMEM returned. */
int toc_arena_adopt(struct toc_arena *ar, void *buf);
/*
 * toc_arena_budget - from now on every block and charge of @ar is also
 * taken from @b (NULL: none), and toc_arena_reserve() takes from it.
 * Until toc_arena_unbudget() the arena must be used by the build that
 * entered @b.
 */
void toc_arena_budget(struct toc_arena *ar, struct store_toc_budget *b);
/* Take @n bytes of memory outside the arena (a growing array) from the
 * arena's budget only: -ENOMEM when it has none to give. */
int toc_arena_reserve(struct toc_arena *ar, size_t n);
/* Whether an allocation or charge failed because the budget was spent
 * (not because of the arena's own cap). */
bool toc_arena_budget_spent(const struct toc_arena *ar);
/* Detach the budget: the bytes taken from it, for toc_budget_leave(). */
uint64_t toc_arena_unbudget(struct toc_arena *ar);

/* A toc with an empty arena of cap @max and no arrays. */
int toc_alloc(size_t max, struct store_toc **out);
/*
 * toc_grow - the array @arr of *@cap elements of @size bytes, all in use,
 * reallocated to twice as many (@first when it has none); *@cap follows.
 * NULL, with @arr and *@cap as they were, when out of memory.
 */
void *toc_grow(void *arr, size_t *cap, size_t size, size_t first);

/* ---- transforms of an index body (pack.c) ------------------------------ */

struct buf;

/*
 * toc_planes_split - the table @src of @n rows stored by column (column c
 * holds @n values of @widths[c] bytes, columns one after another) into
 * @dst of the same size, each column as its values' first bytes, then
 * their second bytes, ...; toc_planes_join is its inverse.
 */
void toc_planes_split(const unsigned char *src, unsigned char *dst, size_t n,
		      const unsigned char *widths, size_t n_cols);
void toc_planes_join(const unsigned char *src, unsigned char *dst, size_t n,
		     const unsigned char *widths, size_t n_cols);
/*
 * toc_strings_front_code - the NUL-terminated strings filling @st (@len
 * bytes) appended to @out front-coded: per string a byte, the length of
 * the prefix it shares with the string before, then the rest with its
 * NUL.  -EINVAL if @st does not end with a NUL.
 */
int toc_strings_front_code(const char *st, size_t len, struct buf *out);
/*
 * toc_strings_expand - the inverse: the @len bytes at @in expanded into a
 * new malloc'd *@out of *@out_len bytes, at most @max; -EINVAL for input
 * that is not front-coded strings or expands beyond @max.
 */
int toc_strings_expand(const unsigned char *in, size_t len, size_t max,
		       char **out, size_t *out_len);

/* ---- memory budget of builds (budget.c) -------------------------------- */

/* A build starts: it waits while an exclusive build runs or waits, and an
 * @exclusive one waits until no other runs. */
void toc_budget_enter(struct store_toc_budget *b, bool exclusive);
/* The build ends, giving back the @held bytes it took. */
void toc_budget_leave(struct store_toc_budget *b, uint64_t held);
/*
 * toc_budget_take - @n more bytes for a running build: waits while they
 * do not fit and another build runs on; -ENOMEM, nothing taken, when they
 * do not fit and no other build can give any back.
 */
int toc_budget_take(struct store_toc_budget *b, uint64_t n);
/* Give back @n bytes taken (a malloc that failed after the take). */
void toc_budget_give(struct store_toc_budget *b, uint64_t n);

/* ---- compressed input (input.c) --------------------------------------- */

/*
 * The chunk records of a blob being indexed (struct store_chain): bytes are
 * added in blob order from offset 0; toc_grid_finish puts the table in
 * toc->chunk_md.
 */
struct toc_grid {
	struct store_toc *toc;
	struct store_chain *chain;
};

int toc_grid_init(struct toc_grid *g, struct store_toc *toc);
void toc_grid_release(struct toc_grid *g);
int toc_grid_add(struct toc_grid *g, const void *data, size_t n);
/* The table; -EIO unless exactly @size bytes were added. */
int toc_grid_finish(struct toc_grid *g, uint64_t size);

/* The blob read forward by pread in TOC_IO_CHUNK pieces, so the fd can be
 * shared by any number of readers.  Every pread is preceded by src.need
 * (when set) and clamped to what it reports present, and never reaches
 * @end.  With @grid set (the indexer's pass), every byte consumed (passed
 * over by pos) is hashed into it, in order, before the buffer drops it. */
struct toc_in {
	struct store_toc_src src;
	uint64_t end;		/* no byte at or past it is read */
	unsigned char *buf;	/* TOC_IO_CHUNK bytes */
	size_t pos, len;	/* buf[pos, len) is unread */
	uint64_t base;		/* blob offset of buf[0] */
	bool eof;		/* the blob ended at base + len */
	struct toc_grid *grid;	/* borrowed; NULL: no hashing */
	uint64_t hashed;	/* bytes [.., hashed) were consumed (and are
				 * in grid, when set) */
};

/*
 * toc_src_pread - one pread of up to @len bytes at @off from @src, after
 * src->need made them present (as many as it reports): *@got is 0 only at
 * the end of the file.
 */
int toc_src_pread(const struct store_toc_src *src, void *buf, size_t len,
		  uint64_t off, size_t *got);

int toc_in_init(struct toc_in *in);
void toc_in_release(struct toc_in *in);
/* Forget what is buffered; the next byte read is @src's @off, and none at
 * or past @end is. */
void toc_in_seek(struct toc_in *in, const struct store_toc_src *src,
		 uint64_t off, uint64_t end);
/* Make at least @need (<= TOC_IO_CHUNK) unread bytes available, unless
 * the blob ends first. */
int toc_in_fill(struct toc_in *in, size_t need);
/* Hash the consumed bytes not hashed yet into in->grid. */
int toc_in_hash(struct toc_in *in);

static inline size_t toc_in_avail(const struct toc_in *in)
{
	return in->len - in->pos;
}

/* Blob offset of the next unread byte. */
static inline uint64_t toc_in_off(const struct toc_in *in)
{
	return in->base + in->pos;
}

/* ---- gzip access points (gzran.c) ------------------------------------- */

struct inflate_state;	/* ISA-L's, <isa-l/igzip_lib.h> */

struct toc_gz {
	z_stream zs;
	struct inflate_state *isal;	/* reads' inflater: NULL until the
					 * first ISA-L stream */
	bool live;	/* zs is initialised */
	bool fast;	/* this stream is inflated by ISA-L (isal), not zs */
	bool raw;	/* raw deflate resumed at an access point: the member
			 * trailer is ours to skip */
	bool zlib_only;	/* set by the owner: reads inflate with zlib too
			 * (the reference the tests compare ISA-L with) */
	bool header_due;	/* ISA-L scan: the member's header is still
				 * to be read, by the first decode */
	/* ISA-L scan (gzran.c): 0, or the input offset where the hunt for a
	 * block boundary has its first stop; the output offset before
	 * which a hunt that found none rests. */
	uint64_t hunt_from, rest_until;
	uint64_t stop_at;	/* a stop reached with output held back */
	uint64_t next_stop;	/* the next stop while not hunting */
	uint64_t hunt_step;	/* input between the hunt's stops */
	uint64_t stop_in, stop_out;	/* input and output offsets at the
					 * last stop judged */
};

/* Inflate a gzip stream from its first byte with zlib (a read's resume at
 * the blob's start when gz->zlib_only). */
int toc_gz_start(struct toc_gz *gz);
/* The indexer's pass over a gzip stream from its first byte, with ISA-L
 * (gzran.c tells how it finds block boundaries). */
int toc_gz_scan_start(struct toc_gz *gz);
/*
 * toc_gz_resume - inflate from access point @cp, with ISA-L (zlib if
 * gz->zlib_only): @in must be positioned at the byte that holds its first
 * bit (cp->coff - 1 if cp->bits, else cp->coff).  The access point at the
 * blob's start (coff 0) is the gzip stream's start, header and all.
 */
int toc_gz_resume(struct toc_gz *gz, struct toc_in *in,
		  const struct store_toc_checkpoint *cp);
/*
 * toc_gz_decode - up to @n bytes of uncompressed stream into @dst
 * (*@produced), fewer only when the stream ends (*@done set).  With @sc
 * (the indexer's pass, a stream begun by toc_gz_scan_start) it also counts the
 * output into sc->totout and records access points into sc->toc.
 */
int toc_gz_decode(struct toc_gz *gz, struct toc_in *in, unsigned char *dst,
		  size_t n, size_t *produced, bool *done, struct toc_scan *sc);
void toc_gz_end(struct toc_gz *gz);

/* ---- zstd frames (zstd.c) --------------------------------------------- */

struct toc_zst {
	ZSTD_DCtx *dctx;
	bool frame_start;	/* the next input byte starts a frame */
};

/* Decompress from a frame start (the blob's or a checkpoint's). */
int toc_zst_start(struct toc_zst *z);
/* As toc_gz_decode; with @sc, frame starts become checkpoints. */
int toc_zst_decode(struct toc_zst *z, struct toc_in *in, unsigned char *dst,
		   size_t n, size_t *produced, bool *done, struct toc_scan *sc);
void toc_zst_end(struct toc_zst *z);

/* ---- decompression pass (scan.c) -------------------------------------- */

struct toc_scan {
	enum registry_compression comp;
	struct store_toc *toc;
	size_t cps_cap;
	EVP_MD_CTX *md;
	struct toc_in in;

	/* output: TOC_WINDOW bytes of history, then the new piece */
	unsigned char *ob;
	size_t hist_valid;	/* gzip: bytes of history in this member */
	uint64_t totout;	/* uncompressed bytes so far */
	uint64_t last_cp;	/* uoff of the last checkpoint */
	bool done;
	struct toc_grid grid;	/* chunk records of the compressed blob */

	struct toc_gz gz;
	struct toc_zst zst;
};

/*
 * toc_scan_new - start decompressing @src (compression @comp) from offset
 * 0, recording checkpoints into @toc (cps, n_cps; windows in toc->mem) and
 * the blob's chunk records.  @end is the blob's size when known (then no byte
 * at or past it is read, and it is the index's comp_size), else
 * UINT64_MAX: the blob is read to the end of its file.
 */
int toc_scan_new(const struct store_toc_src *src, uint64_t end,
		 enum registry_compression comp, struct store_toc *toc,
		 struct toc_scan **out);
/*
 * toc_scan_next - the next piece of the uncompressed stream: *@data and
 * *@len (0 at the end of the stream).  The bytes stay valid until the next
 * call.  Every byte is also hashed into the diff_id.
 */
int toc_scan_next(struct toc_scan *sc, const void **data, size_t *len);
/* Drain to the end, hash the rest of the blob into the chunk records,
 * then fill toc->diff_id, tar_size and comp_size. */
int toc_scan_finish(struct toc_scan *sc);
void toc_scan_free(struct toc_scan *sc);

/* Whether a checkpoint at the current output offset is due (the first,
 * or STORE_TOC_SPAN after the last). */
bool toc_scan_cp_due(const struct toc_scan *sc);
/* Record a checkpoint at the current output offset; @win (@win_len bytes,
 * gzip only) is copied into the toc's arena.  The previous span ends at
 * @coff: for a compressed stream every byte before @coff must have been
 * consumed from sc->in (checked: a decoder's bug otherwise). */
int toc_scan_add_cp(struct toc_scan *sc, uint64_t coff, unsigned bits,
		    const unsigned char *win, size_t win_len);

#endif
