/* SPDX-License-Identifier: MIT */
/*
 * gzran.c - gzip random access, both halves: recording access points
 * while the indexer inflates a layer, and resuming at one for a read.
 *
 * Recording follows zlib's examples/zran.c: once STORE_TOC_SPAN bytes
 * have come out since the last access point, the next deflate block
 * boundary becomes one: the bit offset of the next block plus the 32 KiB
 * of output before it (within the member: a new member starts with no
 * history).  The indexer's output buffer keeps the last TOC_WINDOW bytes
 * of the previous piece in front of the new one (scan.c), so that history
 * is always contiguous behind @dst.
 *
 * The scan inflates with ISA-L, which (2.30) has no way to be stopped at
 * a block boundary (no Z_BLOCK), but says where it stands when it runs
 * out of input.  So its calls stop at planned input offsets, and once an
 * access point is due, every GZ_HUNT_IN bytes: the first stop where it
 * stands between two blocks or inside a block's header (ISAL_BLOCK_NEW_HDR
 * / ISAL_BLOCK_HDR: read_header_stateful keeps a header's bytes in
 * tmp_in_buffer and its bit buffer as it was where the header starts)
 * gives the boundary: the stop, less the header bytes held, less the bits
 * buffered.  The stops are planned so that the access points depend on
 * the blob alone (gz_isal_plan).  (zlib's inflate(Z_BLOCK), as zran does,
 * took half the CPU of a first access; ISA-L takes 2.2-2.9x less.)
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
/* Input between the stops of the scan's hunt for a block boundary (see
 * gz_isal_plan). */
#define GZ_HUNT_IN 64

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

int toc_gz_scan_start(struct toc_gz *gz)
{
	/* gz_isal_start() reads the header: the first decode has the input */
	gz->fast = true;
	gz->raw = false;
	gz->header_due = true;
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

/* A read's zlib inflate (gz->zlib_only: the reference). */
static int gz_zlib_decode(struct toc_gz *gz, struct toc_in *in,
			  unsigned char *dst, size_t n, size_t *produced,
			  bool *done)
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
		ret = inflate(&gz->zs, Z_NO_FLUSH);
		in->pos += before_in - gz->zs.avail_in;
		got += before_out - gz->zs.avail_out;
		if (ret != Z_OK && ret != Z_STREAM_END && ret != Z_BUF_ERROR) {
			log_err("toc: gzip data error at %llu: %s",
				(unsigned long long)toc_in_off(in),
				gz->zs.msg ? gz->zs.msg : "?");
			return -EIO;
		}
		if (ret == Z_STREAM_END) {
			rc = gz_member_end(gz, in, done);
			if (rc)
				return rc;
		}
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
	uint64_t hashed = in->hashed;

	if (back <= in->pos) {
		in->pos -= back;
	} else {
		/* read before @in last refilled its buffer: read them again,
		 * but into the scan's chunk digests once (toc_in_hash) */
		toc_in_seek(in, &src, toc_in_off(in) - back, in->end);
		if (in->hashed < hashed)
			in->hashed = hashed;
	}
	gz->isal->read_in = 0;
	gz->isal->read_in_length = 0;
	return gz_member_end(gz, in, done);
}

/*
 * Where the scan's ISA-L stands, as a bit offset in the blob: the input's
 * position, less the bytes of a header it holds (tmp_in_buffer, in
 * ISAL_BLOCK_HDR), less the bits in its bit buffer.
 */
static uint64_t gz_isal_bit(const struct inflate_state *st, const struct toc_in *in)
{
	uint64_t bit = (toc_in_off(in) - (uint64_t)st->tmp_in_size) * 8;
	uint64_t ahead = (uint64_t)st->read_in_length;

	return bit > ahead ? bit - ahead : 0;
}

/*
 * The scan's ISA-L call ended at a stop of the hunt, all its input taken
 * and all its output given (the window must end at the boundary): a block
 * boundary when it stands between two blocks or inside a header
 * (read_header_stateful keeps the header's bytes and rewinds the bit
 * buffer to where the header starts).  Records the access point there,
 * and ends the hunt.  @end: the end of the output so far.
 */
static int gz_isal_mark(struct toc_gz *gz, struct toc_in *in, struct toc_scan *sc,
			const unsigned char *end)
{
	const struct inflate_state *st = gz->isal;
	uint64_t bit, coff;

	if (st->block_state != ISAL_BLOCK_NEW_HDR &&
	    st->block_state != ISAL_BLOCK_HDR)
		return 0;
	bit = gz_isal_bit(st, in);
	coff = (bit + 7) / 8;
	gz->hunt_from = 0;
	return toc_scan_add_cp(sc, coff, (unsigned)(coff * 8 - bit),
			       end - sc->hist_valid, sc->hist_valid);
}

/*
 * The scan's plan for one ISA-L call: how much input it is given (*@give,
 * already what @in holds), to the input offset where it stops.
 *
 * The access points must depend on the blob alone, not on how its bytes
 * arrive (a download's pieces, a file's reads), so that a layer's index is
 * the same wherever it is built.  So calls stop at fixed input offsets,
 * and a stop is judged only with all input before it taken and all the
 * output it gives delivered (gz->stop_at: a stop reached with output held
 * back waits for the next call): ISA-L's state there is a function of the
 * bytes before it, whatever calls brought it there.  Until an access
 * point is due the stops are apart by what should give about GZ_BULK_OUT
 * of output, and not pass the point's due offset, at the rate the last
 * step gave (at most GZ_BULK_IN; GZ_FIRST_IN at a member's start, where no
 * rate is known: a zero-filled file inflates 1000-fold); at the first stop
 * whose output reaches a span past the last access point, the hunt
 * begins: stops every GZ_HUNT_IN bytes (8 or 16 where the data inflated
 * more than 64- or 8-fold), and inside a stored block at its end (ISA-L
 * knows its length), each judged by gz_isal_mark.
 *
 * Each call costs ISA-L a copy of its 32 KiB history, so the hunt's step
 * is a trade: a dynamic block's header (tens of bytes) is caught about as
 * soon with 64-byte steps as with smaller ones.  A fixed-code block's
 * 3-bit header is caught only when a stop falls inside it; a hunt that
 * finds nothing in GZ_HUNT_MAX bytes rests for a span's worth of output,
 * so a stream of such blocks costs little more and gets fewer access
 * points.
 */
#define GZ_BULK_IN ((uint64_t)32 << 10)
#define GZ_BULK_OUT ((uint64_t)1 << 20)
#define GZ_FIRST_IN ((uint64_t)4 << 10)
#define GZ_HUNT_MAX ((uint64_t)256 << 10)

/* Where the scan's next access point is due (output offset). */
static uint64_t gz_due(const struct toc_gz *gz, const struct toc_scan *sc)
{
	uint64_t due = sc->last_cp + STORE_TOC_SPAN;

	return due > gz->rest_until ? due : gz->rest_until;
}

static uint64_t gz_isal_plan(struct toc_gz *gz, const struct toc_in *in,
			     size_t *give)
{
	const struct inflate_state *st = gz->isal;
	uint64_t pos = toc_in_off(in), stop;

	if (gz->stop_at && gz->stop_at == pos) {	/* 0: none */
		stop = pos;	/* no input: the stop's output comes first */
	} else if (!gz->hunt_from) {
		if (gz->next_stop <= pos)	/* a member's start */
			gz->next_stop = pos + GZ_FIRST_IN;
		stop = gz->next_stop;
	} else if (st->block_state == ISAL_BLOCK_TYPE0 && st->type0_block_len > 0 &&
		 gz_isal_bit(st, in) / 8 + (uint64_t)st->type0_block_len > pos)
		stop = gz_isal_bit(st, in) / 8 + (uint64_t)st->type0_block_len;
	else
		stop = (pos / gz->hunt_step + 1) * gz->hunt_step;
	if (*give > stop - pos)
		*give = (size_t)(stop - pos);
	return stop;
}

/* The scan's call reached @stop with everything given: start, end or
 * rest the hunt, record the access point it finds, and place the next
 * stop when not hunting (gz_isal_plan). */
static int gz_isal_stop(struct toc_gz *gz, struct toc_in *in, struct toc_scan *sc,
			uint64_t stop, const unsigned char *end)
{
	uint64_t din = stop - gz->stop_in, dout = sc->totout - gz->stop_out;
	uint64_t step = GZ_BULK_IN, want;
	int rc = 0;

	gz->stop_in = stop;
	gz->stop_out = sc->totout;
	if (!gz->hunt_from && sc->totout >= gz_due(gz, sc)) {
		gz->hunt_from = stop;
		/* data that inflates many-fold has short blocks and short
		 * headers (few codes): finer steps to land in one */
		gz->hunt_step = dout > 64 * din ? GZ_HUNT_IN / 8 :
				dout > 8 * din ? GZ_HUNT_IN / 4 : GZ_HUNT_IN;
	}
	if (gz->hunt_from) {
		rc = gz_isal_mark(gz, in, sc, end);
		if (!rc && gz->hunt_from && stop >= gz->hunt_from + GZ_HUNT_MAX) {
			gz->hunt_from = 0;
			gz->rest_until = sc->totout + STORE_TOC_SPAN;
		}
	}
	if (rc || gz->hunt_from)
		return rc;
	want = gz_due(gz, sc) - sc->totout;
	if (want > GZ_BULK_OUT)
		want = GZ_BULK_OUT;
	if (dout && want * din / dout < step)
		step = want * din / dout;
	step = step / GZ_HUNT_IN * GZ_HUNT_IN;
	gz->next_stop = stop + (step ? step : GZ_HUNT_IN);
	return 0;
}

/*
 * ISA-L holds up to ~64 KiB of output and the input it came from inside
 * its state, so it is called first with what @in has (maybe nothing), and
 * @in is refilled only when a call made no progress: refilling eagerly
 * would read (and, through src.need, fetch) the next span while the
 * output still waits in ISA-L.  With @sc (the scan) each call also ends at
 * the stop gz_isal_plan() sets, whose bytes are read in first.
 */
static int gz_isal_decode(struct toc_gz *gz, struct toc_in *in,
			  unsigned char *dst, size_t n, size_t *produced,
			  bool *done, struct toc_scan *sc)
{
	struct inflate_state *st = gz->isal;
	bool starved = false;
	size_t got = 0;
	int ret, rc;

	if (!st)
		return -EINVAL;	/* begun by gz_isal_start */
	while (got < n && !*done) {
		size_t room = n - got, give;	/* output, input */
		uint32_t before_in, before_out;
		uint64_t stop = 0;

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
		give = toc_in_avail(in);
		if (sc) {
			stop = gz_isal_plan(gz, in, &give);
			/* a stop's bytes all in hand, so the call reaches it */
			if (give < stop - toc_in_off(in) && !starved) {
				rc = toc_in_fill(in, (size_t)(stop - toc_in_off(in)));
				if (rc)
					return rc;
				give = toc_in_avail(in);
				stop = gz_isal_plan(gz, in, &give);
			}
		}
		st->next_in = in->buf + in->pos;
		st->avail_in = (uint32_t)(give > UINT32_MAX ? UINT32_MAX : give);
		st->next_out = dst + got;
		st->avail_out = (uint32_t)(room > UINT32_MAX ? UINT32_MAX : room);
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
		if (sc) {
			rc = gz_count(sc, before_out - st->avail_out);
			if (rc)
				return rc;
		}
		if (st->block_state == ISAL_BLOCK_FINISH) {
			if (sc)
				sc->hist_valid = 0;	/* per member */
			gz->stop_at = 0;
			rc = gz_isal_member_end(gz, in, done);
			if (rc)
				return rc;
			starved = false;
			continue;
		}
		gz->stop_at = 0;
		if (stop && toc_in_off(in) == stop && !st->avail_in &&
		    (st->tmp_out_valid > st->tmp_out_processed ||
		     st->write_overflow_len || st->copy_overflow_length)) {
			/* at the stop, but output is held back (the piece is
			 * full): judged once the next call has given it */
			gz->stop_at = stop;
		} else if (stop && toc_in_off(in) == stop && !st->avail_in) {
			rc = gz_isal_stop(gz, in, sc, stop, dst + got);
			if (rc)
				return rc;
		}
		starved = st->avail_in == before_in && st->avail_out == before_out;
	}
	*produced = got;
	return 0;
}

int toc_gz_decode(struct toc_gz *gz, struct toc_in *in, unsigned char *dst,
		  size_t n, size_t *produced, bool *done, struct toc_scan *sc)
{
	int rc;

	if (gz->header_due) {	/* the ISA-L scan's first call */
		gz->header_due = false;
		rc = gz_isal_start(gz, in, true);
		if (rc)
			return rc;
	}
	if (gz->fast)
		return gz_isal_decode(gz, in, dst, n, produced, done, sc);
	if (!gz->live || sc)
		return -EINVAL;	/* begun by toc_gz_scan_start or resume */
	return gz_zlib_decode(gz, in, dst, n, produced, done);
}
