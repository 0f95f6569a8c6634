/* SPDX-License-Identifier: MIT */
/*
 * toc.h - the layer index: a table of contents of one layer blob, plus the
 * decompression checkpoints that let any byte range of the uncompressed
 * tar stream be served from the compressed blob by offset.
 *
 * A layer is never extracted.  Indexing reads the compressed blob once:
 * zlib/zstd decompress it here, libarchive parses the tar stream (fed
 * through a read callback), and for each entry the index records its
 * metadata and the offset of its content in the uncompressed stream.
 * While inflating, gzip access points (zlib's zran: bit offset + the 32 KiB
 * window, stored compressed) are recorded every STORE_TOC_SPAN bytes of
 * output; for zstd, frame boundaries; for a plain tar, every
 * STORE_TOC_SPAN bytes.  A read then starts at the nearest checkpoint at
 * or below its offset, so it costs at most about one span of extra
 * decompression.
 *
 * A span is the stretch of the stream from one checkpoint to the next.
 * The compressed bytes a read of span i needs are [store_toc_span_start,
 * store_toc_span_end).  Independently of spans, the compressed blob is cut
 * into chunks of STORE_TOC_CHUNK bytes (the last one shorter) and the
 * index keeps a record of each (struct store_chain), so a blob can be
 * fetched by range and verified a chunk at a time: a read of one small
 * file costs the chunks from its span's start to the file's end, not the
 * whole span.  Reads take
 * their compressed bytes from a struct store_toc_src, whose need callback
 * is asked before any byte is read.
 *
 * The on-disk format (docs/index-format.md) is versioned; bytes of another
 * version or failing its checks are rejected (the store rebuilds the
 * index), never trusted.  Entries keep tar order; merging layers is
 * rootfs's job.
 *
 * A struct store_toc is immutable once built or loaded and may be shared
 * by any number of threads without a lock.  A struct store_toc_cursor is
 * per reader (per open file) and not shared.
 */
#ifndef IMGFS_STORE_TOC_H
#define IMGFS_STORE_TOC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "oci.h"

#ifdef IMGFS_FUZZ_SPAN	/* the fuzz build: a checkpoint every few KiB, so
			 * small inputs reach the resume code (tests/fuzz) */
#define STORE_TOC_SPAN ((uint64_t)IMGFS_FUZZ_SPAN)
#else
#define STORE_TOC_SPAN ((uint64_t)4 << 20)
#endif
/*
 * The compressed bytes one digest covers: the unit a blob whose index is
 * kept is fetched and verified in.  64 KiB: a digest costs 0.05% of the
 * layer in the index, and a read of a small file fetches at most about one
 * chunk it does not need on each side.  With 256 KiB the first file of
 * the 100k-file image took 768 KiB (2.3% of the layer; 640 KiB with 128
 * KiB, 512 KiB with 64 KiB); the index grows by the digests (Debian's:
 * 0.96% of its layer instead of 0.92%; the 100k-file image's 2.95%
 * instead of 2.91%).  The fuzz build cuts 1 KiB chunks.
 */
#ifdef IMGFS_FUZZ_SPAN
#define STORE_TOC_CHUNK ((uint32_t)1024)
#else
#define STORE_TOC_CHUNK ((uint32_t)64 << 10)
#endif
/*
 * The largest zstd window a layer may need, as a log2: 8 MiB, what zstd's
 * levels 1-19 use at most and the default of the Go encoder containerd
 * and BuildKit write layers with.  Every decoder (one per open file being
 * read, one per index build) may hold a window this large, so this bounds
 * each at 8 MiB instead of the 128 MiB zstd itself allows.  A frame that
 * needs more (zstd --ultra -20 and up, --long) is refused with -E2BIG,
 * when indexing and when reading.
 */
#define STORE_TOC_ZSTD_WINDOW_LOG 23

enum store_ftype {
	STORE_FT_REG = 1,
	STORE_FT_DIR,
	STORE_FT_SYMLINK,
	STORE_FT_HARDLINK,	/* link = root-relative path of the target */
	STORE_FT_CHR,
	STORE_FT_BLK,
	STORE_FT_FIFO,
};

struct store_xattr {
	const char *name;
	const void *value;
	uint32_t len;
};

/*
 * One entry of a layer.  64 bytes: an image of 100k small files holds
 * 100k of these for as long as it is mounted, so the small fields are
 * bit-fields (the limits they imply are checked where entries are made,
 * by the builder and by the index reader).
 */
#define STORE_TOC_DEVMAJOR_MAX 0xfffu	/* the kernel's dev_t: 12 bits */
#define STORE_TOC_DEVMINOR_MAX 0xfffffu	/* and 20 */

struct store_toc_entry {
	const char *path;	/* normalised: no leading "/" or "./", no
				 * trailing "/", no "." or ".." components;
				 * "" is the root directory itself */
	const char *link;	/* symlink target (verbatim) or hardlink target
				 * (normalised path); NULL otherwise */
	uint64_t size;		/* content bytes (regular files) */
	uint64_t offset;	/* content offset in the uncompressed stream */
	int64_t mtime_sec;
	uint32_t mtime_nsec;
	uint32_t uid, gid;
	uint32_t xattr_first;	/* index into toc->xattrs */
	uint32_t mode : 12;	/* permission bits incl. setuid/setgid/sticky */
	uint32_t type : 4;	/* enum store_ftype */
	uint32_t n_xattrs : 16;	/* <= TOC_MAX_XATTR_COUNT */
	uint32_t devmajor : 12;	/* <= STORE_TOC_DEVMAJOR_MAX */
	uint32_t devminor : 20;	/* <= STORE_TOC_DEVMINOR_MAX */
};

struct store_toc_checkpoint {
	uint64_t uoff;		/* uncompressed offset */
	uint64_t coff;		/* compressed offset of the next whole byte; with
				 * bits > 0 the span starts in byte coff - 1.
				 * cps[0] is the blob's start: uoff = coff = 0 */
	uint8_t bits;		/* gzip: bits of coff[-1] still unused, 0-7 */
	uint32_t window_len;	/* gzip: bytes of window (<= 32 KiB) */
	const unsigned char *window;	/* gzip: the uncompressed window */
};

struct store_toc {
	enum registry_compression comp;
	uint64_t comp_size;	/* bytes of the compressed blob */
	uint64_t tar_size;	/* bytes of the uncompressed stream */
	char diff_id[72];	/* "sha256:<hex>" of the uncompressed stream */
	struct store_toc_entry *entries;
	size_t n_entries;
	struct store_xattr *xattrs;
	size_t n_xattrs;
	struct store_toc_checkpoint *cps;	/* sorted by uoff; cps[0].uoff == 0 */
	size_t n_cps;
	/* chunk i is compressed bytes [i * chunk_size, (i + 1) * chunk_size)
	 * (the last one: to comp_size), i < n_chunks = ceil(comp_size /
	 * chunk_size); its record is the blob's sha256 state at its end
	 * (the last: the blob's digest), see struct store_chain */
	uint32_t chunk_size;
	size_t n_chunks;
	unsigned char (*chunk_md)[32];
	void *mem;		/* owner of the strings, windows and values */
};

/*
 * store_toc_build - index the layer in @blob_fd (read from offset 0 to the
 * end, with pread) of compression @comp.  Hostile input is an error, never
 * a crash: paths escaping the root are rejected with -EINVAL, sizes beyond
 * the data with -EIO, more than 4M entries or 4 KiB paths, or a zstd
 * frame whose window is larger than 2^STORE_TOC_ZSTD_WINDOW_LOG, with
 * -E2BIG.
 */
int store_toc_build(int blob_fd, enum registry_compression comp,
		    struct store_toc **out);

/*
 * A budget of memory shared by index builds (budget.c): what builds in
 * progress hold together (their strings, windows and arrays) never
 * exceeds it.  A build waits for memory while others run, and one that
 * cannot get it is run again alone; a layer whose index needs more than
 * the whole budget is -ENOMEM.  Any number of threads may build with one
 * budget at once.
 */
struct store_toc_budget;
struct store_toc_budget_stats {
	uint64_t max;		/* the budget */
	uint64_t used;		/* held by builds now */
	uint64_t peak;		/* the most ever held at once */
	uint64_t waits;		/* times a build waited for memory */
	uint64_t failures;	/* times a build could not get it */
	uint64_t exclusive;	/* builds run alone after one such failure */
};
/* A budget of @max bytes. */
int store_toc_budget_new(uint64_t max, struct store_toc_budget **out);
/* Free @b (NULL is a no-op); no build may be using it. */
void store_toc_budget_free(struct store_toc_budget *b);
void store_toc_budget_stats(struct store_toc_budget *b,
			    struct store_toc_budget_stats *st);
/*
 * store_toc_build_budget - store_toc_build() drawing its memory from
 * @budget (NULL: none, only the per-index cap): -ENOMEM, logged, when the
 * index needs more than the whole budget.  What the built index holds is
 * given back to @budget before this returns: it bounds builds, not kept
 * indexes.
 */
int store_toc_build_budget(int blob_fd, enum registry_compression comp,
			   struct store_toc_budget *budget,
			   struct store_toc **out);
/*
 * store_toc_build_src - store_toc_build_budget() of the blob that @src
 * gives, @size bytes (UINT64_MAX: to the end of src->fd): every byte is
 * read through src->need, so the blob may still be being written when
 * the need callback waits for its bytes (a download followed as it
 * runs).  An error of the callback ends the build with that error.
 */
struct store_toc_src;
int store_toc_build_src(const struct store_toc_src *src, uint64_t size,
			enum registry_compression comp,
			struct store_toc_budget *budget, struct store_toc **out);
/* The largest index file the format allows (and store_toc_decode accepts). */
#define STORE_TOC_FILE_MAX ((size_t)4 << 30)

/*
 * store_toc_encode - the on-disk form of @toc (docs/index-format.md) into
 * @out, which is initialised here.  The caller persists it (the store
 * writes it atomically); the index does no file I/O of its own.
 */
int store_toc_encode(const struct store_toc *toc, struct buf *out);
/*
 * store_toc_decode - an index from its on-disk form: @data (malloc'd,
 * @size bytes) is taken over whatever the result.  -EINVAL (and nothing
 * returned) if it fails any check: a file that may have been tampered
 * with or cut short is rebuilt, never trusted.
 */
int store_toc_decode(void *data, size_t size, struct store_toc **out);
void store_toc_free(struct store_toc *toc);

/* Per-reader decompression state: sequential reads continue the stream
 * instead of restarting from a checkpoint. */
struct store_toc_cursor;
int store_toc_cursor_new(struct store_toc_cursor **out);
void store_toc_cursor_free(struct store_toc_cursor *cur);

/*
 * store_toc_span_start - the first compressed byte a read of span @i
 * (< toc->n_cps) needs: cps[i].coff, or the byte before it when the
 * span's first deflate block starts mid-byte (bits > 0; that byte is also
 * the last of span i - 1).
 */
uint64_t store_toc_span_start(const struct store_toc *toc, size_t i);
/*
 * store_toc_span_end - one past the last compressed byte of span @i
 * (< toc->n_cps): cps[i + 1].coff, or comp_size for the last span (so it
 * takes any trailing bytes of the blob).  The spans' ranges cover
 * [0, comp_size); neighbours overlap by at most one byte.
 */
uint64_t store_toc_span_end(const struct store_toc *toc, size_t i);
/*
 * store_toc_span_at - the span whose [start, end) holds compressed offset
 * @coff (the later one when two overlap), or n_cps when @coff >= comp_size.
 */
size_t store_toc_span_at(const struct store_toc *toc, uint64_t coff);
/*
 * store_toc_span_of - the span holding uncompressed offset @uoff (the last
 * checkpoint at or below it), or n_cps when @uoff >= tar_size.
 */
size_t store_toc_span_of(const struct store_toc *toc, uint64_t uoff);

/* store_toc_chunk_end - one past the last compressed byte of chunk @i
 * (< toc->n_chunks); chunk @i starts at i * chunk_size. */
uint64_t store_toc_chunk_end(const struct store_toc *toc, size_t i);

/* Where a read's compressed bytes come from. */
/*
 * struct store_chain - a blob's sha256 that records SHA-256's state (its
 * eight chaining words, big-endian) at every STORE_TOC_CHUNK boundary: the
 * index's chunk records.  Record i < n - 1 is the state after the blob's
 * first (i + 1) * STORE_TOC_CHUNK bytes, record n - 1 the blob's digest.
 * So the one hash of a download gives both the digest it is checked by and
 * the records, and chunk i fetched alone is checked by resuming SHA-256 at
 * record i - 1 (store_chain_check).  One owner adds; another thread may
 * read the records of the chunks it knows were added (store_chain_records)
 * when the chain was made with the blob's size.
 */
struct store_chain;
/* @size: the blob's size when known (the record array is then made once
 * and never moves), else 0. */
int store_chain_new(uint64_t size, struct store_chain **out);
void store_chain_free(struct store_chain *ch);
int store_chain_add(struct store_chain *ch, const void *data, size_t n);
/* The digest of all bytes added; nothing may be added after. */
int store_chain_final(struct store_chain *ch, unsigned char md[32]);
uint64_t store_chain_size(const struct store_chain *ch);
/* The boundary records so far (of a chain made with its size: the array
 * never moves, record i is complete once (i + 1) * STORE_TOC_CHUNK bytes
 * were added). */
const unsigned char (*store_chain_records(const struct store_chain *ch))[32];
/* After store_chain_final: the whole table, digest last, taken from @ch
 * (*@out is the caller's to free). */
int store_chain_table(struct store_chain *ch, unsigned char (**out)[32], size_t *n);
/*
 * store_chain_check - whether @len bytes @data at blob offset @start (a
 * multiple of 64) are the chunk whose record is @want, resuming at the
 * record @prev of the chunk before (NULL when @start is 0); @last: they
 * end the blob and @want is its digest.  0, -EIO when they differ, with
 * what they hash to in @got either way.
 */
int store_chain_check(const unsigned char *prev, uint64_t start, const void *data,
		      size_t len, bool last, const unsigned char want[32],
		      unsigned char got[32]);
/* The 32 bytes of "sha256:<64 hex>" @digest: 0 or -EINVAL. */
int store_toc_digest_raw(const char *digest, unsigned char out[32]);

struct store_toc_src {
	int fd;		/* the blob, complete or sparse */
	/*
	 * NULL when every byte of fd is present.  Otherwise called before fd
	 * is read at [off, off + *len): make at least the first byte present
	 * (fetching its span), and shrink *len to what is present from off
	 * on, never to 0.  0 or -errno (which the read returns).
	 */
	int (*need)(void *ctx, uint64_t off, size_t *len);
	void *ctx;	/* need's and read's */
	/*
	 * NULL, or used instead of need + pread of fd: read up to @len bytes
	 * of the blob at @off into @buf (fetching what is missing), *got
	 * of them, at least one.  For a source that may hold verified bytes
	 * in memory rather than in fd (a partial blob on a full disk).
	 */
	int (*read)(void *ctx, int fd, void *buf, size_t len, uint64_t off,
		    size_t *got);
	/*
	 * NULL, or the source hashes the blob itself as it comes (a download
	 * followed as it runs): the indexer then does not, and once it has
	 * read the whole blob asks for its @n chunk records (struct
	 * store_chain).  0 or -errno.
	 */
	int (*chain)(void *ctx, unsigned char (*rec)[32], size_t n);
};

/*
 * store_toc_read - read @len bytes at uncompressed offset @off of the
 * layer whose blob @src gives into @dst.  *@got is @len unless the stream
 * ends first.  @cur may be NULL (a one-off read from the nearest
 * checkpoint).  No byte of the blob at or past comp_size is read, and none
 * that src->need did not report present: every read of the blob is
 * preceded by a need call and clamped to what it returned.  @src is not
 * kept past the call (a cursor copies it).
 */
int store_toc_read(const struct store_toc *toc,
		   const struct store_toc_src *src,
		   struct store_toc_cursor *cur, void *dst, size_t len,
		   uint64_t off, size_t *got);

#endif
