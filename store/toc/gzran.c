/* SPDX-License-Identifier: MIT */
/*
 * gzran.c - gzip random access, both halves: recording access points
 * while the indexer inflates a layer, and resuming at one for a read.
 * One decode loop serves both, so the stream the index describes and the
 * stream a read gets are inflated by the same code.
 *
 * Recording follows zlib's examples/zran.c: inflate(Z_BLOCK) stops at
 * every deflate block boundary; once STORE_TOC_SPAN bytes have come out
 * since the last access point, the next boundary becomes one: the bit
 * offset of the next block plus the 32 KiB of output before it (within the
 * member: a new member starts with no history).  The indexer's output
 * buffer keeps the last TOC_WINDOW bytes of the previous piece in front of
 * the new one (scan.c), so that history is always contiguous behind @dst.
 *
 * Resuming: at the blob's start (coff 0, the first checkpoint), a gzip
 * inflate like the indexer's.  Elsewhere a raw inflate (no gzip header:
 * we start mid-member) primed with
 * the bits of the block's first byte that belong to it (inflatePrime) and
 * the window as its dictionary (inflateSetDictionary).  A raw inflate does
 * not read the member's trailer, so at the member's end we skip it.
 *
 * Several members may follow each other; the bytes after a member that are
 * not a gzip header are trailing junk of the blob, not part of the stream
 * (accepted and ignored, like umoci).  A blob that ends inside a member is
 * -EIO.
 */
#include "toc_int.h"

#include <errno.h>
#include <string.h>

#include "log.h"

#define GZ_WBITS 15		/* deflate's 32 KiB window */
#define GZ_TRAILER 8		/* CRC-32 and ISIZE after each member */

int toc_gz_start(struct toc_gz *gz)
{
	/* gzip only (+16): a zlib or raw stream is not a layer */
	if (!gz->live) {
		if (inflateInit2(&gz->zs, GZ_WBITS + 16) != Z_OK)
			return -ENOMEM;
		gz->live = true;
	} else if (inflateReset2(&gz->zs, GZ_WBITS + 16) != Z_OK) {
		return -EIO;
	}
	gz->raw = false;
	return 0;
}

int toc_gz_resume(struct toc_gz *gz, struct toc_in *in,
		  const struct store_toc_checkpoint *cp)
{
	int rc;

	if (cp->coff == 0)
		return toc_gz_start(gz);
	if (!gz->live) {
		if (inflateInit2(&gz->zs, -GZ_WBITS) != Z_OK)
			return -ENOMEM;
		gz->live = true;
	} else if (inflateReset2(&gz->zs, -GZ_WBITS) != Z_OK) {
		return -EIO;
	}
	gz->raw = true;
	if (cp->bits) {
		rc = toc_in_fill(in, 1);
		if (rc)
			return rc;
		if (!toc_in_avail(in))
			return -EIO;
		if (inflatePrime(&gz->zs, cp->bits,
				 in->buf[in->pos] >> (8 - cp->bits)) != Z_OK)
			return -EIO;
		in->pos++;
	}
	if (cp->window_len &&
	    inflateSetDictionary(&gz->zs, cp->window, cp->window_len) != Z_OK)
		return -EIO;
	return 0;
}

void toc_gz_end(struct toc_gz *gz)
{
	if (gz->live)
		inflateEnd(&gz->zs);
	gz->live = false;
}

/* A member ended: skip its trailer if ours to, then start the next member
 * or end the stream (*@done). */
static int gz_member_end(struct toc_gz *gz, struct toc_in *in, bool *done)
{
	int rc;

	if (gz->raw) {
		rc = toc_in_fill(in, GZ_TRAILER);
		if (rc)
			return rc;
		if (toc_in_avail(in) < GZ_TRAILER)
			return -EIO;
		in->pos += GZ_TRAILER;
	}
	rc = toc_in_fill(in, 2);
	if (rc)
		return rc;
	if (toc_in_avail(in) >= 2 && in->buf[in->pos] == 0x1f &&
	    in->buf[in->pos + 1] == 0x8b)
		return toc_gz_start(gz);
	if (toc_in_avail(in))
		log_debug("toc: ignoring trailing bytes after gzip data at %llu",
			  (unsigned long long)toc_in_off(in));
	*done = true;
	return 0;
}

/* The indexer's bookkeeping after @out new bytes: the stream offset
 * (capped against decompression bombs) and the member's history. */
static int gz_count(struct toc_scan *sc, size_t out)
{
	sc->totout += out;
	if (sc->totout > TOC_MAX_TAR)
		return -E2BIG;
	sc->hist_valid += out;
	if (sc->hist_valid > TOC_WINDOW)
		sc->hist_valid = TOC_WINDOW;
	return 0;
}

/* Where inflate stopped at the start of a block (after the header or a
 * block that is not the last), the next bit is a place to resume from:
 * an access point, if one is due. */
static int gz_mark(struct toc_gz *gz, struct toc_in *in, struct toc_scan *sc,
		   const unsigned char *end)
{
	if ((gz->zs.data_type & 0xc0) != 0x80 || !toc_scan_cp_due(sc))
		return 0;
	return toc_scan_add_cp(sc, toc_in_off(in),
			       (unsigned)gz->zs.data_type & 7,
			       end - sc->hist_valid, sc->hist_valid);
}

int toc_gz_decode(struct toc_gz *gz, struct toc_in *in, unsigned char *dst,
		  size_t n, size_t *produced, bool *done, struct toc_scan *sc)
{
	size_t got = 0;
	int ret, rc;

	while (got < n && !*done) {
		size_t before_in, before_out;

		rc = toc_in_fill(in, 1);
		if (rc)
			return rc;
		if (!toc_in_avail(in)) {
			log_err("toc: gzip stream truncated at %llu",
				(unsigned long long)toc_in_off(in));
			return -EIO;
		}
		gz->zs.next_in = in->buf + in->pos;
		gz->zs.avail_in = (uInt)toc_in_avail(in);
		gz->zs.next_out = dst + got;
		gz->zs.avail_out = (uInt)(n - got > UINT32_MAX ? UINT32_MAX :
					  n - got);
		before_in = gz->zs.avail_in;
		before_out = gz->zs.avail_out;
		/* Z_BLOCK stops at block boundaries, where access points are
		 * taken; a read needs none and inflates on. */
		ret = inflate(&gz->zs, sc ? Z_BLOCK : Z_NO_FLUSH);
		in->pos += before_in - gz->zs.avail_in;
		got += before_out - gz->zs.avail_out;
		if (ret != Z_OK && ret != Z_STREAM_END && ret != Z_BUF_ERROR) {
			log_err("toc: gzip data error at %llu: %s",
				(unsigned long long)toc_in_off(in),
				gz->zs.msg ? gz->zs.msg : "?");
			return -EIO;
		}
		if (sc) {
			rc = gz_count(sc, before_out - gz->zs.avail_out);
			if (rc)
				return rc;
		}
		if (ret == Z_STREAM_END) {
			if (sc)
				sc->hist_valid = 0;	/* per member */
			rc = gz_member_end(gz, in, done);
		} else {
			rc = sc ? gz_mark(gz, in, sc, dst + got) : 0;
		}
		if (rc)
			return rc;
	}
	*produced = got;
	return 0;
}
