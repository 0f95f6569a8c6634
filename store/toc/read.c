/* SPDX-License-Identifier: MIT */
/*
 * read.c - ranged reads of a layer's uncompressed stream, served from the
 * compressed blob through the index checkpoints, and the per-reader
 * cursor that keeps a decompressor running between reads.
 *
 * A read starts at the last checkpoint at or below its offset (gzip:
 * gzran.c resumes at the access point; zstd: zstd.c starts at the frame),
 * decompresses and discards up to the offset, then decompresses into the
 * caller's buffer.  A cursor keeps that state: a read at or after the
 * cursor and less than a span ahead (or not beyond the checkpoint a
 * re-seek would use) continues instead, so a sequential read of a file
 * costs one pass.  A plain layer is pread directly.
 *
 * Every compressed byte comes through the caller's struct store_toc_src
 * (input.c asks its need callback first), never from past comp_size.
 * The span helpers (which compressed bytes a span needs, which span holds
 * an offset) live here too: they are the same search a read does.
 *
 * The toc is shared and immutable; the cursor belongs to one reader.  Any
 * error leaves the cursor dead, so the next read re-seeks.
 */
#include "toc_int.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

#define SCRATCH ((size_t)64 << 10)	/* decompressed and discarded */

struct store_toc_cursor {
	const struct store_toc *toc;	/* whose stream the state is in */
	bool live;
	bool done;		/* the stream ended */
	uint64_t uoff;		/* offset of the next byte out */
	struct toc_in in;
	unsigned char *scratch;
	struct toc_gz gz;
	struct toc_zst zst;
};

int store_toc_cursor_new(struct store_toc_cursor **out)
{
	struct store_toc_cursor *cur = calloc(1, sizeof(*cur));

	if (!cur)
		return -ENOMEM;
	/* Its buffers (192 KiB) wait for the first read that decompresses:
	 * every open of a rootfs file makes a cursor, and most are read
	 * from the span cache or an uncompressed blob. */
	cur->in.src.fd = -1;
	*out = cur;
	return 0;
}

static int cur_buffers(struct store_toc_cursor *cur)
{
	if (cur->scratch)
		return 0;
	cur->scratch = malloc(SCRATCH);
	if (!cur->scratch)
		return -ENOMEM;
	if (toc_in_init(&cur->in)) {
		free(cur->scratch);
		cur->scratch = NULL;
		return -ENOMEM;
	}
	return 0;
}

void store_toc_cursor_free(struct store_toc_cursor *cur)
{
	if (!cur)
		return;
	toc_gz_end(&cur->gz);
	toc_zst_end(&cur->zst);
	toc_in_release(&cur->in);
	free(cur->scratch);
	free(cur);
}

uint64_t store_toc_span_start(const struct store_toc *toc, size_t i)
{
	return toc->cps[i].coff - (toc->cps[i].bits ? 1 : 0);
}

uint64_t store_toc_span_end(const struct store_toc *toc, size_t i)
{
	return i + 1 < toc->n_cps ? toc->cps[i + 1].coff : toc->comp_size;
}

uint64_t store_toc_chunk_end(const struct store_toc *toc, size_t i)
{
	uint64_t end = ((uint64_t)i + 1) * toc->chunk_size;

	return end < toc->comp_size ? end : toc->comp_size;
}

size_t store_toc_span_at(const struct store_toc *toc, uint64_t coff)
{
	size_t lo = 0, hi = toc->n_cps;	/* answer in [lo, hi) */

	if (coff >= toc->comp_size)
		return toc->n_cps;
	/* the last span starting at or before @coff: span starts never
	 * decrease, and span 0 starts at 0 */
	while (hi - lo > 1) {
		size_t mid = lo + (hi - lo) / 2;

		if (store_toc_span_start(toc, mid) <= coff)
			lo = mid;
		else
			hi = mid;
	}
	return lo;
}

size_t store_toc_span_of(const struct store_toc *toc, uint64_t uoff)
{
	size_t lo = 0, hi = toc->n_cps;	/* answer in [lo, hi) */

	if (uoff >= toc->tar_size)
		return toc->n_cps;
	while (hi - lo > 1) {
		size_t mid = lo + (hi - lo) / 2;

		if (toc->cps[mid].uoff <= uoff)
			lo = mid;
		else
			hi = mid;
	}
	return lo;
}

static int rd_seek(struct store_toc_cursor *cur, const struct store_toc *toc,
		   const struct store_toc_src *src,
		   const struct store_toc_checkpoint *cp)
{
	int rc;

	cur->live = false;
	cur->done = false;
	/* a gzip block that starts mid-byte starts in the byte before coff */
	toc_in_seek(&cur->in, src, cp->coff - (cp->bits ? 1 : 0),
		    toc->comp_size);
	if (toc->comp == REGISTRY_COMP_GZIP)
		rc = toc_gz_resume(&cur->gz, &cur->in, cp);
	else
		rc = toc_zst_start(&cur->zst);
	if (rc)
		return rc;
	cur->toc = toc;
	cur->uoff = cp->uoff;
	cur->live = true;
	return 0;
}

/* Up to @n bytes of stream at the cursor; 0 only at the end. */
static int rd_decode(struct store_toc_cursor *cur, const struct store_toc *toc,
		     unsigned char *dst, size_t n, size_t *produced)
{
	int rc;

	if (toc->comp == REGISTRY_COMP_GZIP)
		rc = toc_gz_decode(&cur->gz, &cur->in, dst, n, produced,
				   &cur->done, NULL);
	else
		rc = toc_zst_decode(&cur->zst, &cur->in, dst, n, produced,
				    &cur->done, NULL);
	if (rc)
		return rc;
	cur->uoff += *produced;
	return 0;
}

static int rd_plain(const struct store_toc_src *src, unsigned char *dst,
		    size_t len, uint64_t off, size_t *got)
{
	size_t done = 0, n;
	int rc;

	while (done < len) {
		rc = toc_src_pread(src, dst + done, len - done, off + done, &n);
		if (rc)
			return rc;
		if (n == 0)
			return -EIO;	/* shorter than the index says */
		done += n;
	}
	*got = done;
	return 0;
}

static int rd_compressed(const struct store_toc *toc,
			 const struct store_toc_src *src,
			 struct store_toc_cursor *cur, unsigned char *dst,
			 size_t len, uint64_t off, size_t *got)
{
	const struct store_toc_checkpoint *cp =
		&toc->cps[store_toc_span_of(toc, off)];
	size_t done = 0, n;
	int rc;

	rc = cur_buffers(cur);
	if (rc)
		goto out;
	if (cur->toc != toc)
		cur->live = false;
	/* Continue when the cursor is no further from @off than a seek
	 * would be, or at most a span behind it. */
	if (!cur->live || off < cur->uoff ||
	    (off - cur->uoff >= STORE_TOC_SPAN && cur->uoff < cp->uoff)) {
		rc = rd_seek(cur, toc, src, cp);
		if (rc)
			goto out;
	}
	/* the same blob, whichever fd and callback it comes by */
	cur->in.src = *src;
	while (cur->uoff < off) {
		uint64_t skip = off - cur->uoff;

		rc = rd_decode(cur, toc, cur->scratch,
			       skip < SCRATCH ? (size_t)skip : SCRATCH, &n);
		if (rc)
			goto out;
		if (n == 0) {
			rc = -EIO;
			goto out;
		}
	}
	while (done < len) {
		rc = rd_decode(cur, toc, dst + done, len - done, &n);
		if (rc)
			goto out;
		if (n == 0) {
			rc = -EIO;	/* the index promised more */
			goto out;
		}
		done += n;
	}
	*got = done;
	rc = 0;
out:
	if (rc) {
		cur->live = false;
		log_err("toc: read of %zu bytes at %llu failed: %d", len,
			(unsigned long long)off, rc);
	}
	return rc;
}

int store_toc_read(const struct store_toc *toc,
		   const struct store_toc_src *src,
		   struct store_toc_cursor *cur, void *dst, size_t len,
		   uint64_t off, size_t *got)
{
	struct store_toc_cursor *tmp = NULL;
	int rc;

	*got = 0;
	if (off >= toc->tar_size || len == 0)
		return 0;
	if (len > toc->tar_size - off)
		len = (size_t)(toc->tar_size - off);
	if (toc->comp == REGISTRY_COMP_NONE)
		return rd_plain(src, dst, len, off, got);
	if (toc->comp != REGISTRY_COMP_GZIP && toc->comp != REGISTRY_COMP_ZSTD)
		return -EINVAL;
	if (!cur) {
		rc = store_toc_cursor_new(&tmp);
		if (rc)
			return rc;
		cur = tmp;
	}
	rc = rd_compressed(toc, src, cur, dst, len, off, got);
	store_toc_cursor_free(tmp);
	return rc;
}
