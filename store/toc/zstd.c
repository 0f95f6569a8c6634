/* SPDX-License-Identifier: MIT */
/*
 * zstd.c - zstd frames, both halves: the indexer's checkpoints and a
 * read's decompression from one.  One decode loop serves both, as for
 * gzip (gzran.c).
 *
 * A new frame needs no history, so a frame start is a complete
 * checkpoint: its compressed and uncompressed offsets, nothing else.  The
 * indexer takes the first frame start at least STORE_TOC_SPAN after the
 * last checkpoint (a single-frame layer has just the one at 0, and a read
 * of it decompresses from the start).  Skippable frames decode to nothing
 * and count as frames.  Bytes after the last frame that do not start a
 * frame are trailing junk of the blob, not part of the stream (accepted
 * and ignored, as for gzip); a blob that ends inside a frame is -EIO.
 *
 * Every decoder is capped at STORE_TOC_ZSTD_WINDOW_LOG (toc.h says why):
 * a frame whose header asks for a larger window is -E2BIG, the error of
 * every other limit of the index, so the store's log line naming the
 * layer says what was refused.
 */
#include "toc_int.h"

#include <errno.h>

#include <zstd_errors.h>

#include "log.h"

#define ZST_MAGIC 0xFD2FB528u
#define ZST_SKIPPABLE 0x184D2A50u	/* low 4 bits are free */

/* A zstd frame or skippable frame starts at @p (ZSTD_isFrame is not in
 * zstd's stable API). */
static bool zst_is_frame(const unsigned char *p, size_t n)
{
	uint32_t m;

	if (n < 4)
		return false;
	m = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	    (uint32_t)p[3] << 24;
	return m == ZST_MAGIC || (m & 0xFFFFFFF0u) == ZST_SKIPPABLE;
}

int toc_zst_start(struct toc_zst *z)
{
	if (!z->dctx) {
		z->dctx = ZSTD_createDCtx();
		if (!z->dctx)
			return -ENOMEM;
		if (ZSTD_isError(ZSTD_DCtx_setParameter(z->dctx,
				ZSTD_d_windowLogMax, STORE_TOC_ZSTD_WINDOW_LOG))) {
			toc_zst_end(z);
			return -ENOMEM;
		}
	} else if (ZSTD_isError(ZSTD_DCtx_reset(z->dctx,
						ZSTD_reset_session_only))) {
		return -EIO;
	}
	z->frame_start = true;
	return 0;
}

void toc_zst_end(struct toc_zst *z)
{
	ZSTD_freeDCtx(z->dctx);
	z->dctx = NULL;
}

/* At a frame boundary: a frame follows (and, for the indexer, maybe a
 * checkpoint here), or the stream ends (*@done). */
static int zst_frame_start(struct toc_in *in, bool *done, struct toc_scan *sc)
{
	size_t avail = toc_in_avail(in);

	if (!zst_is_frame(in->buf + in->pos, avail)) {
		if (avail)
			log_debug("toc: ignoring trailing bytes after zstd data at %llu",
				  (unsigned long long)toc_in_off(in));
		*done = true;
		return 0;
	}
	if (sc && toc_scan_cp_due(sc))
		return toc_scan_add_cp(sc, toc_in_off(in), 0, NULL, 0);
	return 0;
}

int toc_zst_decode(struct toc_zst *z, struct toc_in *in, unsigned char *dst,
		   size_t n, size_t *produced, bool *done, struct toc_scan *sc)
{
	ZSTD_outBuffer ob = { dst, n, 0 };
	int rc;

	while (ob.pos < ob.size && !*done) {
		ZSTD_inBuffer ib;
		size_t r, before = ob.pos, before_in;

		/* the magic at a frame start; elsewhere whatever is there, so
		 * a read near a span's end does not reach into the next */
		rc = toc_in_fill(in, z->frame_start ? 4 : 1);
		if (rc)
			return rc;
		if (z->frame_start) {
			rc = zst_frame_start(in, done, sc);
			if (rc)
				return rc;
			if (*done)
				break;
		}
		ib.src = in->buf;
		ib.size = in->len;
		ib.pos = before_in = in->pos;
		r = ZSTD_decompressStream(z->dctx, &ob, &ib);
		in->pos = ib.pos;
		if (ZSTD_isError(r) && ZSTD_getErrorCode(r) ==
		    ZSTD_error_frameParameter_windowTooLarge) {
			log_err("toc: zstd frame before %llu needs a window larger than %u MiB (compressed with --long or --ultra?): refused",
				(unsigned long long)toc_in_off(in),
				(1u << STORE_TOC_ZSTD_WINDOW_LOG) >> 20);
			return -E2BIG;
		}
		if (ZSTD_isError(r)) {
			log_err("toc: zstd data error at %llu: %s",
				(unsigned long long)toc_in_off(in),
				ZSTD_getErrorName(r));
			return -EIO;
		}
		if (sc) {
			sc->totout += ob.pos - before;
			if (sc->totout > TOC_MAX_TAR)
				return -E2BIG;
		}
		z->frame_start = (r == 0);
		/* no progress with all input read: the frame is cut short */
		if (r && ob.pos == before && ib.pos == before_in && in->eof &&
		    !toc_in_avail(in)) {
			log_err("toc: zstd stream truncated at %llu",
				(unsigned long long)toc_in_off(in));
			return -EIO;
		}
	}
	*produced = ob.pos;
	return 0;
}
