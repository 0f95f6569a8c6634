/* SPDX-License-Identifier: MIT */
/*
 * toc_fuzz.h - the layer index's promises as checks, shared by the
 * fuzz targets of store/toc: what toc.h says of every index, built or
 * loaded, and that the on-disk form gives back the same index.
 */
#ifndef IMGFS_TOC_FUZZ_H
#define IMGFS_TOC_FUZZ_H

#include <zstd.h>

#include "fuzz.h"
#include "path.h"
#include "toc.h"

#define TOC_FUZZ_OUT_MAX ((uint64_t)64 << 20)

/*
 * Whether zstd blob @d[0..n) decompresses to at most TOC_FUZZ_OUT_MAX
 * bytes (it stops there).  A few KiB of zstd can say gigabytes (RLE
 * blocks): the indexer takes them up to its 1 TiB cap, correctly and
 * slowly, so fuzzing such inputs finds nothing and times a run out.  (gzip
 * expands 1032-fold at most: -max_len bounds it.)
 */
static inline bool toc_fuzz_zstd_small(const uint8_t *d, size_t n)
{
	ZSTD_DCtx *z = ZSTD_createDCtx();
	ZSTD_inBuffer in = { d, n, 0 };
	size_t cap = (size_t)1 << 20;
	unsigned char *out = malloc(cap);
	uint64_t total = 0;
	bool small = true;

	FUZZ_CHECK(z && out);
	ZSTD_DCtx_setParameter(z, ZSTD_d_windowLogMax, STORE_TOC_ZSTD_WINDOW_LOG);
	while (in.pos < in.size) {
		ZSTD_outBuffer ob = { out, cap, 0 };
		size_t before = in.pos, r = ZSTD_decompressStream(z, &ob, &in);

		total += ob.pos;
		if (total > TOC_FUZZ_OUT_MAX) {
			small = false;
			break;
		}
		if (ZSTD_isError(r) || (ob.pos == 0 && in.pos == before))
			break;	/* the indexer stops here too */
	}
	ZSTD_freeDCtx(z);
	free(out);
	return small;
}

/* Read every byte of @p: ASan says if one is not there. */
static inline void toc_fuzz_touch(const void *p, size_t n)
{
	volatile unsigned char sum = 0;

	for (size_t i = 0; i < n; i++)
		sum ^= ((const unsigned char *)p)[i];
	(void)sum;
}

/* store_toc_span_at(@coff) names a span that holds @coff. */
static inline void toc_fuzz_span_at(const struct store_toc *t, uint64_t coff)
{
	size_t k = store_toc_span_at(t, coff);

	FUZZ_CHECK(k < t->n_cps && store_toc_span_start(t, k) <= coff &&
		   coff < store_toc_span_end(t, k));
}

/* Every promise toc.h makes of an index (built or loaded). */
static inline void toc_fuzz_check(const struct store_toc *t)
{
	char norm[PATH_NORM_MAX + 1];
	size_t n;

	FUZZ_CHECK(t->comp == REGISTRY_COMP_NONE || t->comp == REGISTRY_COMP_GZIP ||
		   t->comp == REGISTRY_COMP_ZSTD);
	FUZZ_CHECK(t->n_cps >= 1 && t->cps[0].uoff == 0 && t->cps[0].coff == 0);
	FUZZ_CHECK(!memcmp(t->diff_id, "sha256:", 7) && strlen(t->diff_id) == 71);
	for (size_t i = 0; i < t->n_cps; i++) {
		const struct store_toc_checkpoint *c = &t->cps[i];

		FUZZ_CHECK(c->coff < t->comp_size && c->uoff <= t->tar_size);
		FUZZ_CHECK(c->bits <= 7 && c->window_len <= 32768);
		FUZZ_CHECK(!c->window_len || c->window);
		if (i)
			FUZZ_CHECK(c->uoff > c[-1].uoff && c->coff > c[-1].coff);
		FUZZ_CHECK(store_toc_span_start(t, i) < store_toc_span_end(t, i));
		FUZZ_CHECK(store_toc_span_end(t, i) <= t->comp_size);
		FUZZ_CHECK(store_toc_span_of(t, c->uoff) == i || c->uoff == t->tar_size);
		toc_fuzz_span_at(t, store_toc_span_start(t, i));
		toc_fuzz_span_at(t, store_toc_span_end(t, i) - 1);
		toc_fuzz_touch(c->window, c->window_len);
	}
	FUZZ_CHECK(store_toc_span_of(t, t->tar_size) == t->n_cps);
	FUZZ_CHECK(store_toc_span_at(t, t->comp_size) == t->n_cps);
	FUZZ_CHECK(t->chunk_size && !(t->chunk_size & (t->chunk_size - 1)) &&
		   t->comp_size && t->chunk_md &&
		   t->n_chunks == (t->comp_size - 1) / t->chunk_size + 1);
	FUZZ_CHECK(store_toc_chunk_end(t, t->n_chunks - 1) == t->comp_size);
	toc_fuzz_touch(t->chunk_md, t->n_chunks * 32);
	for (size_t i = 0; i < t->n_entries; i++) {
		const struct store_toc_entry *e = &t->entries[i];

		FUZZ_CHECK(e->path && strlen(e->path) <= PATH_NORM_MAX);
		FUZZ_CHECK(path_norm(e->path, norm, sizeof(norm), &n) == 0 &&
			   !strcmp(norm, e->path));
		FUZZ_CHECK(e->type >= STORE_FT_REG && e->type <= STORE_FT_FIFO);
		FUZZ_CHECK(e->path[0] || e->type == STORE_FT_DIR);
		FUZZ_CHECK(e->mode <= 07777 && e->mtime_nsec < 1000000000u);
		FUZZ_CHECK(e->offset <= t->tar_size &&
			   e->size <= t->tar_size - e->offset);
		FUZZ_CHECK(!e->size || e->type == STORE_FT_REG);
		FUZZ_CHECK(!!e->link == (e->type == STORE_FT_SYMLINK ||
					  e->type == STORE_FT_HARDLINK));
		if (e->type == STORE_FT_HARDLINK)
			FUZZ_CHECK(e->link[0] &&
				   path_norm(e->link, norm, sizeof(norm), &n) == 0 &&
				   !strcmp(norm, e->link));
		FUZZ_CHECK(e->xattr_first <= t->n_xattrs &&
			   e->n_xattrs <= t->n_xattrs - e->xattr_first);
		for (uint32_t k = 0; k < e->n_xattrs; k++) {
			const struct store_xattr *x = &t->xattrs[e->xattr_first + k];

			FUZZ_CHECK(x->name && x->name[0] && strlen(x->name) <= 255);
			FUZZ_CHECK(!x->len || x->value);
			toc_fuzz_touch(x->value, x->len);
		}
	}
}

static inline bool toc_fuzz_str_eq(const char *a, const char *b)
{
	return (!a && !b) || (a && b && !strcmp(a, b));
}

/* @a and @b describe the same layer, field by field. */
static inline void toc_fuzz_same(const struct store_toc *a, const struct store_toc *b)
{
	FUZZ_CHECK(a->comp == b->comp && a->comp_size == b->comp_size &&
		   a->tar_size == b->tar_size && !strcmp(a->diff_id, b->diff_id));
	FUZZ_CHECK(a->n_entries == b->n_entries && a->n_xattrs == b->n_xattrs &&
		   a->n_cps == b->n_cps);
	for (size_t i = 0; i < a->n_entries; i++) {
		const struct store_toc_entry *x = &a->entries[i], *y = &b->entries[i];

		FUZZ_CHECK(!strcmp(x->path, y->path) && toc_fuzz_str_eq(x->link, y->link));
		FUZZ_CHECK(x->type == y->type && x->mode == y->mode &&
			   x->uid == y->uid && x->gid == y->gid &&
			   x->mtime_sec == y->mtime_sec &&
			   x->mtime_nsec == y->mtime_nsec &&
			   x->devmajor == y->devmajor && x->devminor == y->devminor &&
			   x->size == y->size && x->offset == y->offset &&
			   x->xattr_first == y->xattr_first &&
			   x->n_xattrs == y->n_xattrs);
	}
	for (size_t i = 0; i < a->n_xattrs; i++) {
		const struct store_xattr *x = &a->xattrs[i], *y = &b->xattrs[i];

		FUZZ_CHECK(!strcmp(x->name, y->name) && x->len == y->len &&
			   (!x->len || !memcmp(x->value, y->value, x->len)));
	}
	for (size_t i = 0; i < a->n_cps; i++) {
		const struct store_toc_checkpoint *x = &a->cps[i], *y = &b->cps[i];

		FUZZ_CHECK(x->uoff == y->uoff && x->coff == y->coff &&
			   x->bits == y->bits && x->window_len == y->window_len &&
			   (!x->window_len || !memcmp(x->window, y->window, x->window_len)));
	}
	FUZZ_CHECK(a->chunk_size == b->chunk_size && a->n_chunks == b->n_chunks &&
		   !memcmp(a->chunk_md, b->chunk_md, a->n_chunks * 32));
}

/*
 * The on-disk form of a valid index decodes to the same index, and
 * encoding that again gives the same bytes.  Returns the decoded copy
 * (the caller frees it).
 */
static inline struct store_toc *toc_fuzz_roundtrip(const struct store_toc *t)
{
	struct store_toc *back = NULL;
	struct buf f1, f2;

	FUZZ_CHECK(store_toc_encode(t, &f1) == 0);
	FUZZ_CHECK(store_toc_decode(fuzz_dup((const uint8_t *)f1.data, f1.len),
				    f1.len, &back) == 0);
	toc_fuzz_check(back);
	toc_fuzz_same(t, back);
	FUZZ_CHECK(store_toc_encode(back, &f2) == 0);
	FUZZ_CHECK(f1.len == f2.len && !memcmp(f1.data, f2.data, f1.len));
	buf_release(&f1);
	buf_release(&f2);
	return back;
}

#endif
