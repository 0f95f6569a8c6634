/* SPDX-License-Identifier: MIT */
/*
 * gzran.c - gzip random access, both halves: recording access points
 * while the indexer inflates a layer, and resuming at one for a read.
 *
 * Recording follows zlib's examples/zran.c: inflate(Z_BLOCK) stops at
 * every deflate block boundary; once STORE_TOC_SPAN bytes have come out
 * since the last access point, the next boundary becomes one: the bit
 * offset of the next block plus the 32 KiB of output before it (within the
 * member: a new member starts with no history).  The indexer's output
 * buffer keeps the last TOC_WINDOW bytes of the previous piece in front of
 * the new one (scan.c), so that history is always contiguous behind @dst.
 * The scan stays on zlib: ISA-L (2.30) inflates across block boundaries
 * within one call and has no way to be stopped at one (no Z_BLOCK, no
 * stop points), so it cannot tell where to record an access point.
 *
 * Resuming (reads) inflates with ISA-L: 2.2-2.9x less CPU than zlib per
 * span of the benchmark layers (scripts/bench/tocread.c); zlib stays the
 * reference (gz->zlib_only, which test_gzran compares it with, span by
 * span).  At the blob's start (coff 0, the first
 * checkpoint), a gzip inflate (we parse the header, ISA-L checks the
 * trailer, as zlib's gzip mode does both).  Elsewhere a raw inflate (no gzip
 * header: we start mid-member) primed with the bits of the block's first
 * byte that belong to it (zlib: inflatePrime; ISA-L: its bit buffer
 * read_in/read_in_length) and the window as its dictionary.  A raw
 * inflate does not read the member's trailer, so at the member's end we
 * skip it.  ISA-L reads up to 8 bytes ahead into its bit buffer: at a
 * member's end the whole bytes still there are given back to @in.
 *
 * Several members may follow each other; the bytes after a member that are
 * not a gzip header are trailing junk of the blob, not part of the stream
 * (accepted and ignored, like umoci).  A blob that ends inside a member is
 * -EIO.
 */
#include "toc_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <isa-l/igzip_lib.h>

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
	gz->fast = false;
	gz->raw = false;
	return 0;
}

/* The next byte of @in into *@b and the header CRC *@crc; -EIO where
 * the blob ends. */
static int gz_byte(struct toc_in *in, unsigned char *b, uLong *crc)
{
	int rc = toc_in_fill(in, 1);

	if (rc)
		return rc;
	if (!toc_in_avail(in))
		return -EIO;
	*b = in->buf[in->pos++];
	*crc = crc32(*crc, b, 1);
	return 0;
}

/* Bytes of @in up to and including a NUL (a header's name or comment). */
static int gz_skip_string(struct toc_in *in, uLong *crc)
{
	unsigned char b;
	int rc;

	do {
		rc = gz_byte(in, &b, crc);
	} while (!rc && b);
	return rc;
}

/*
 * gz_skip_header - read past a gzip member's header (RFC 1952), checking what
 * zlib's gzip mode checks: magic, method, no reserved flag, the header
 * CRC if present.  Ours rather than ISA-L's, whose parser forgets the
 * flags of a header split across two calls (its gzip header struct is a
 * local of isal_inflate).
 */
static int gz_skip_header(struct toc_in *in)
{
	unsigned char h[10], b;
	uLong crc = crc32(0, NULL, 0), want;
	size_t i, xlen;
	int rc;

	for (i = 0; i < sizeof(h); i++) {
		rc = gz_byte(in, &h[i], &crc);
		if (rc)
			goto out;
	}
	rc = -EIO;
	if (h[0] != 0x1f || h[1] != 0x8b || h[2] != Z_DEFLATED ||
	    (h[3] & 0xe0))
		goto out;
	if (h[3] & 0x04) {	/* FEXTRA: XLEN, then XLEN bytes */
		rc = gz_byte(in, &b, &crc);
		xlen = b;
		if (!rc)
			rc = gz_byte(in, &b, &crc);
		xlen |= (size_t)b << 8;
		for (i = 0; !rc && i < xlen; i++)
			rc = gz_byte(in, &b, &crc);
		if (rc)
			goto out;
	}
	if (h[3] & 0x08) {	/* FNAME */
		rc = gz_skip_string(in, &crc);
		if (rc)
			goto out;
	}
	if (h[3] & 0x10) {	/* FCOMMENT */
		rc = gz_skip_string(in, &crc);
		if (rc)
			goto out;
	}
	if (h[3] & 0x02) {	/* FHCRC: the low 16 bits of the CRC so far */
		want = crc & 0xffff;
		rc = gz_byte(in, &h[0], &crc);
		if (!rc)
			rc = gz_byte(in, &h[1], &crc);
		if (!rc && (h[0] | (uLong)h[1] << 8) != want)
			rc = -EIO;
		if (rc)
			goto out;
	}
	rc = 0;
out:
	if (rc)
		log_err("toc: bad gzip header before %llu",
			(unsigned long long)toc_in_off(in));
	return rc;
}

/* An ISA-L inflate of a gzip member from its header at @in (@member; ISA-L
 * checks the trailer's CRC-32 and size) or of raw deflate (resumed
 * mid-member). */
static int gz_isal_start(struct toc_gz *gz, struct toc_in *in, bool member)
{
	int rc;

	if (member) {
		rc = gz_skip_header(in);
		if (rc)
			return rc;
	}
	if (!gz->isal) {
		gz->isal = malloc(sizeof(*gz->isal));
		if (!gz->isal)
			return -ENOMEM;
	}
	isal_inflate_init(gz->isal);
	gz->isal->crc_flag = member ? ISAL_GZIP_NO_HDR_VER : ISAL_DEFLATE;
	gz->fast = true;
	gz->raw = !member;
	return 0;
}

static int gz_isal_resume(struct toc_gz *gz, struct toc_in *in,
			  const struct store_toc_checkpoint *cp)
{
	int rc;

	rc = gz_isal_start(gz, in, cp->coff == 0);
	if (rc || cp->coff == 0)
		return rc;
	if (cp->bits) {
		rc = toc_in_fill(in, 1);
		if (rc)
			return rc;
		if (!toc_in_avail(in))
			return -EIO;
		/* the bit buffer is filled from its low end, a byte's first
		 * bit lowest: the block's first bits are the byte's top ones */
		gz->isal->read_in = in->buf[in->pos] >> (8 - cp->bits);
		gz->isal->read_in_length = cp->bits;
		in->pos++;
	}
	/* 2.30's prototype takes a non-const dictionary; it only copies it */
	if (cp->window_len &&
	    isal_inflate_set_dict(gz->isal, (uint8_t *)cp->window,
				  cp->window_len) != ISAL_DECOMP_OK)
		return -EIO;
	return 0;
}

int toc_gz_resume(struct toc_gz *gz, struct toc_in *in,
		  const struct store_toc_checkpoint *cp)
{
	int rc;

	if (!gz->zlib_only)
		return gz_isal_resume(gz, in, cp);
	if (cp->coff == 0)
		return toc_gz_start(gz);
	if (!gz->live) {
		if (inflateInit2(&gz->zs, -GZ_WBITS) != Z_OK)
			return -ENOMEM;
		gz->live = true;
	} else if (inflateReset2(&gz->zs, -GZ_WBITS) != Z_OK) {
		return -EIO;
	}
	gz->fast = false;
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
	free(gz->isal);
	gz->isal = NULL;
	gz->fast = false;
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
		return gz->fast ? gz_isal_start(gz, in, true) : toc_gz_start(gz);
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

static int gz_zlib_decode(struct toc_gz *gz, struct toc_in *in,
			  unsigned char *dst, size_t n, size_t *produced,
			  bool *done, struct toc_scan *sc)
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

/* ISA-L ended a member (or the raw deflate resumed in one): the whole
 * bytes it read ahead into its bit buffer (after the last block's padding
 * bits) are not the member's, so they go back to @in before the trailer
 * is handled. */
static int gz_isal_member_end(struct toc_gz *gz, struct toc_in *in,
			      bool *done)
{
	size_t back = (size_t)gz->isal->read_in_length / 8;
	struct store_toc_src src = in->src;

	if (back <= in->pos)
		in->pos -= back;
	else	/* read before @in last refilled its buffer: read them again */
		toc_in_seek(in, &src, toc_in_off(in) - back, in->end);
	gz->isal->read_in = 0;
	gz->isal->read_in_length = 0;
	return gz_member_end(gz, in, done);
}

/*
 * ISA-L holds up to ~64 KiB of output and the input it came from inside
 * its state, so it is called first with what @in has (maybe nothing), and
 * @in is refilled only when a call made no progress: refilling eagerly
 * would read (and, through src.need, fetch) the next span while the
 * output still waits in ISA-L.
 */
static int gz_isal_decode(struct toc_gz *gz, struct toc_in *in,
			  unsigned char *dst, size_t n, size_t *produced,
			  bool *done)
{
	struct inflate_state *st = gz->isal;
	bool starved = false;
	size_t got = 0;
	int ret, rc;

	while (got < n && !*done) {
		uint32_t before_in, before_out;

		if (starved) {
			size_t had = toc_in_avail(in);

			rc = had < TOC_IO_CHUNK ? toc_in_fill(in, had + 1) :
			     -EIO;
			if (rc)
				return rc;
			if (toc_in_avail(in) == had) {
				log_err("toc: gzip stream truncated at %llu",
					(unsigned long long)toc_in_off(in));
				return -EIO;
			}
		}
		st->next_in = in->buf + in->pos;
		st->avail_in = (uint32_t)toc_in_avail(in);
		st->next_out = dst + got;
		st->avail_out = (uint32_t)(n - got > UINT32_MAX ? UINT32_MAX :
					   n - got);
		before_in = st->avail_in;
		before_out = st->avail_out;
		ret = isal_inflate(st);
		in->pos += before_in - st->avail_in;
		got += before_out - st->avail_out;
		if (ret != ISAL_DECOMP_OK) {
			log_err("toc: gzip data error at %llu: ISA-L %d",
				(unsigned long long)toc_in_off(in), ret);
			return -EIO;
		}
		if (st->block_state == ISAL_BLOCK_FINISH) {
			rc = gz_isal_member_end(gz, in, done);
			if (rc)
				return rc;
			starved = false;
		} else {
			starved = st->avail_in == before_in &&
				  st->avail_out == before_out;
		}
	}
	*produced = got;
	return 0;
}

int toc_gz_decode(struct toc_gz *gz, struct toc_in *in, unsigned char *dst,
		  size_t n, size_t *produced, bool *done, struct toc_scan *sc)
{
	if (gz->fast && !sc)
		return gz_isal_decode(gz, in, dst, n, produced, done);
	if (gz->fast || !gz->live)
		return -EINVAL;	/* the scan starts with toc_gz_start */
	return gz_zlib_decode(gz, in, dst, n, produced, done, sc);
}
