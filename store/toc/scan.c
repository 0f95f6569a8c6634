/* SPDX-License-Identifier: MIT */
/*
 * toc_scan.c - the indexer's one decompression pass over a layer blob:
 * produces the uncompressed stream piece by piece (for libarchive, via
 * toc_build.c), hashes it into the diff_id and records the checkpoints.
 *
 * gzip follows zlib's examples/zran.c: inflate(Z_BLOCK) stops at every
 * deflate block boundary; once STORE_TOC_SPAN bytes have come out since the
 * last access point, the next boundary becomes one (bit offset plus the 32
 * KiB history).  The output buffer keeps the last 32 KiB of the previous
 * piece in front of the new one, so the history is always contiguous.
 * Several gzip members follow each other (the history restarts with each);
 * bytes after the last member that are not a gzip header are trailing junk
 * of the blob, not part of the stream (accepted and ignored, like umoci).
 *
 * zstd: a checkpoint only where a frame starts (a new frame needs no
 * history), again at most one per span.  Plain tar: one checkpoint at 0,
 * reads pread directly.
 *
 * Compressed input is read with pread in TOC_IO_CHUNK pieces, so the blob
 * fd can be shared.  The uncompressed total is capped (TOC_MAX_TAR) against
 * decompression bombs; hitting the cap is -E2BIG.
 */
#include "toc_int.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <zlib.h>
#include <zstd.h>

#include "log.h"

#define SCAN_OUT ((size_t)256 << 10)

struct toc_scan {
	int fd;
	enum registry_compression comp;
	struct store_toc *toc;
	size_t cps_cap;
	EVP_MD_CTX *md;

	/* compressed input: in[in_pos, in_len) is unread; in_base is the blob
	 * offset of in[0] */
	unsigned char *in;
	size_t in_pos, in_len;
	uint64_t in_base;
	bool in_eof;

	/* output: HIST bytes of history, then SCAN_OUT of new output */
	unsigned char *ob;
	size_t hist_valid;	/* bytes of history in this member (<= WINDOW) */
	uint64_t totout;
	uint64_t last_cp;	/* uoff of the last checkpoint */
	bool done;

	z_stream zs;
	bool zs_live;
	ZSTD_DCtx *zd;
	bool zframe_start;	/* zstd: the next input byte starts a frame */
};

/* Keep in[in_pos..] and append more from the blob.  Sets in_eof at EOF. */
static int scan_fill(struct toc_scan *sc)
{
	size_t keep = sc->in_len - sc->in_pos;
	ssize_t n;

	if (sc->in_eof)
		return 0;
	memmove(sc->in, sc->in + sc->in_pos, keep);
	sc->in_base += sc->in_pos;
	sc->in_pos = 0;
	sc->in_len = keep;
	do {
		n = pread(sc->fd, sc->in + keep, TOC_IO_CHUNK - keep,
			  (off_t)(sc->in_base + keep));
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	if (n == 0)
		sc->in_eof = true;
	sc->in_len = keep + (size_t)n;
	return 0;
}

static int scan_add_cp(struct toc_scan *sc, uint64_t coff, unsigned bits,
		       const unsigned char *win, size_t win_len)
{
	struct store_toc *toc = sc->toc;
	struct store_toc_checkpoint *cp;
	unsigned char *w = NULL;

	if (toc->n_cps == sc->cps_cap) {
		struct store_toc_checkpoint *p = toc_grow(toc->cps, &sc->cps_cap,
							  sizeof(*p), 64);

		if (!p)
			return -ENOMEM;
		toc->cps = p;
	}
	if (win_len) {
		w = toc_arena_memdup(toc->mem, win, win_len);
		if (!w)
			return -E2BIG;
	}
	cp = &toc->cps[toc->n_cps++];
	cp->uoff = sc->totout;
	cp->coff = coff;
	cp->bits = (uint8_t)bits;
	cp->window_len = (uint32_t)win_len;
	cp->window = w;
	sc->last_cp = sc->totout;
	return 0;
}

static bool scan_cp_due(const struct toc_scan *sc)
{
	return sc->toc->n_cps == 0 || sc->totout - sc->last_cp >= STORE_TOC_SPAN;
}

/* After a gzip member: another member follows, or the stream is done. */
static int gz_member_end(struct toc_scan *sc)
{
	int rc;

	if (sc->in_len - sc->in_pos < 2) {
		rc = scan_fill(sc);
		if (rc)
			return rc;
	}
	if (sc->in_len - sc->in_pos >= 2 && sc->in[sc->in_pos] == 0x1f &&
	    sc->in[sc->in_pos + 1] == 0x8b) {
		if (inflateReset(&sc->zs) != Z_OK)
			return -EIO;
		sc->hist_valid = 0;
		return 0;
	}
	if (sc->in_len > sc->in_pos)
		log_debug("toc: ignoring trailing bytes after gzip data at %llu",
			  (unsigned long long)(sc->in_base + sc->in_pos));
	sc->done = true;
	return 0;
}

static int gz_next(struct toc_scan *sc, size_t *produced)
{
	unsigned char *out = sc->ob + TOC_WINDOW;
	size_t got = 0;
	int ret, rc;

	while (got < SCAN_OUT && !sc->done) {
		size_t before_in, before_out;

		if (sc->in_pos == sc->in_len) {
			rc = scan_fill(sc);
			if (rc)
				return rc;
			if (sc->in_pos == sc->in_len) {
				log_err("toc: gzip stream truncated at %llu",
					(unsigned long long)sc->in_base);
				return -EIO;
			}
		}
		sc->zs.next_in = sc->in + sc->in_pos;
		sc->zs.avail_in = (uInt)(sc->in_len - sc->in_pos);
		sc->zs.next_out = out + got;
		sc->zs.avail_out = (uInt)(SCAN_OUT - got);
		before_in = sc->zs.avail_in;
		before_out = sc->zs.avail_out;
		ret = inflate(&sc->zs, Z_BLOCK);
		sc->in_pos += before_in - sc->zs.avail_in;
		got += before_out - sc->zs.avail_out;
		sc->totout += before_out - sc->zs.avail_out;
		sc->hist_valid += before_out - sc->zs.avail_out;
		if (sc->hist_valid > TOC_WINDOW)
			sc->hist_valid = TOC_WINDOW;
		if (ret != Z_OK && ret != Z_STREAM_END && ret != Z_BUF_ERROR) {
			log_err("toc: gzip data error at %llu: %s",
				(unsigned long long)(sc->in_base + sc->in_pos),
				sc->zs.msg ? sc->zs.msg : "?");
			return -EIO;
		}
		if (sc->totout > TOC_MAX_TAR)
			return -E2BIG;
		if (ret == Z_STREAM_END) {
			rc = gz_member_end(sc);
			if (rc)
				return rc;
			continue;
		}
		/* At the end of the header or of a block that is not the last:
		 * the next bit starts a block, a place to resume from. */
		if ((sc->zs.data_type & 0xc0) == 0x80 && scan_cp_due(sc)) {
			rc = scan_add_cp(sc, sc->in_base + sc->in_pos,
					 (unsigned)sc->zs.data_type & 7,
					 out + got - sc->hist_valid,
					 sc->hist_valid);
			if (rc)
				return rc;
		}
	}
	*produced = got;
	return 0;
}

static int zst_next(struct toc_scan *sc, size_t *produced)
{
	unsigned char *out = sc->ob + TOC_WINDOW;
	ZSTD_outBuffer ob = { out, SCAN_OUT, 0 };
	int rc;

	while (ob.pos < ob.size && !sc->done) {
		ZSTD_inBuffer ib;
		size_t r, before = ob.pos, before_in;

		if (sc->in_len - sc->in_pos < 4 && !sc->in_eof) {
			rc = scan_fill(sc);
			if (rc)
				return rc;
		}
		if (sc->zframe_start) {
			size_t avail = sc->in_len - sc->in_pos;

			if (avail == 0) {
				sc->done = true;
				break;
			}
			if (avail < 4 ||
			    !toc_zstd_is_frame(sc->in + sc->in_pos, avail)) {
				log_debug("toc: ignoring trailing bytes after zstd data at %llu",
					  (unsigned long long)(sc->in_base + sc->in_pos));
				sc->done = true;
				break;
			}
			if (scan_cp_due(sc)) {
				rc = scan_add_cp(sc, sc->in_base + sc->in_pos, 0,
						 NULL, 0);
				if (rc)
					return rc;
			}
		}
		ib.src = sc->in;
		ib.size = sc->in_len;
		ib.pos = before_in = sc->in_pos;
		r = ZSTD_decompressStream(sc->zd, &ob, &ib);
		sc->in_pos = ib.pos;
		sc->totout += ob.pos - before;
		if (ZSTD_isError(r)) {
			log_err("toc: zstd data error at %llu: %s",
				(unsigned long long)(sc->in_base + sc->in_pos),
				ZSTD_getErrorName(r));
			return -EIO;
		}
		if (sc->totout > TOC_MAX_TAR)
			return -E2BIG;
		sc->zframe_start = (r == 0);
		/* no progress with all input read: the frame is cut short */
		if (r && ob.pos == before && ib.pos == before_in &&
		    sc->in_eof && sc->in_pos == sc->in_len) {
			log_err("toc: zstd stream truncated at %llu",
				(unsigned long long)(sc->in_base + sc->in_pos));
			return -EIO;
		}
	}
	*produced = ob.pos;
	return 0;
}

static int raw_next(struct toc_scan *sc, size_t *produced)
{
	unsigned char *out = sc->ob + TOC_WINDOW;
	ssize_t n;

	do {
		n = pread(sc->fd, out, SCAN_OUT, (off_t)sc->totout);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	if (n == 0)
		sc->done = true;
	sc->totout += (uint64_t)n;
	if (sc->totout > TOC_MAX_TAR)
		return -E2BIG;
	*produced = (size_t)n;
	return 0;
}

int toc_scan_new(int fd, enum registry_compression comp,
		 struct store_toc *toc, struct toc_scan **out)
{
	struct toc_scan *sc;
	int rc = -ENOMEM;

	if (comp != REGISTRY_COMP_NONE && comp != REGISTRY_COMP_GZIP &&
	    comp != REGISTRY_COMP_ZSTD)
		return -EINVAL;
	sc = calloc(1, sizeof(*sc));
	if (!sc)
		return -ENOMEM;
	sc->fd = fd;
	sc->comp = comp;
	sc->toc = toc;
	sc->zframe_start = true;
	sc->ob = malloc(TOC_WINDOW + SCAN_OUT);
	sc->in = malloc(TOC_IO_CHUNK);
	sc->md = EVP_MD_CTX_new();
	if (!sc->ob || !sc->in || !sc->md)
		goto out;
	if (EVP_DigestInit_ex(sc->md, EVP_sha256(), NULL) != 1) {
		rc = -EIO;
		goto out;
	}
	if (comp == REGISTRY_COMP_GZIP) {
		/* gzip only (15 + 16): a zlib or raw stream is not a layer */
		if (inflateInit2(&sc->zs, 15 + 16) != Z_OK)
			goto out;
		sc->zs_live = true;
	} else if (comp == REGISTRY_COMP_ZSTD) {
		sc->zd = ZSTD_createDCtx();
		if (!sc->zd)
			goto out;
	} else {
		rc = scan_add_cp(sc, 0, 0, NULL, 0);
		if (rc)
			goto out;
	}
	*out = sc;
	return 0;
out:
	toc_scan_free(sc);
	return rc;
}

int toc_scan_next(struct toc_scan *sc, const void **data, size_t *len)
{
	unsigned char *out = sc->ob + TOC_WINDOW;
	size_t got = 0;
	int rc;

	/* keep the last 32 KiB of output as history in front of the new */
	memmove(sc->ob, out + SCAN_OUT - TOC_WINDOW, TOC_WINDOW);
	if (sc->done) {
		*data = out;
		*len = 0;
		return 0;
	}
	if (sc->comp == REGISTRY_COMP_GZIP)
		rc = gz_next(sc, &got);
	else if (sc->comp == REGISTRY_COMP_ZSTD)
		rc = zst_next(sc, &got);
	else
		rc = raw_next(sc, &got);
	if (rc)
		return rc;
	/* Output fills the whole piece unless the stream is done, so the
	 * memmove above always keeps the true last 32 KiB. */
	if (got && EVP_DigestUpdate(sc->md, out, got) != 1)
		return -EIO;
	*data = out;
	*len = got;
	return 0;
}

int toc_scan_finish(struct toc_scan *sc)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	const void *d;
	struct stat st;
	size_t len, i;
	int rc;

	do {
		rc = toc_scan_next(sc, &d, &len);
		if (rc)
			return rc;
	} while (len);
	if (EVP_DigestFinal_ex(sc->md, md, &mdlen) != 1 || mdlen != 32)
		return -EIO;
	memcpy(sc->toc->diff_id, "sha256:", 7);
	for (i = 0; i < 32; i++) {
		sc->toc->diff_id[7 + 2 * i] = hex[md[i] >> 4];
		sc->toc->diff_id[8 + 2 * i] = hex[md[i] & 15];
	}
	sc->toc->diff_id[71] = '\0';
	sc->toc->tar_size = sc->totout;
	if (fstat(sc->fd, &st))
		return -errno;
	sc->toc->comp_size = (uint64_t)st.st_size;
	if (sc->toc->n_cps == 0)	/* a compressed stream with no data */
		return -EIO;
	return 0;
}

void toc_scan_free(struct toc_scan *sc)
{
	if (!sc)
		return;
	if (sc->zs_live)
		inflateEnd(&sc->zs);
	ZSTD_freeDCtx(sc->zd);
	EVP_MD_CTX_free(sc->md);
	free(sc->ob);
	free(sc->in);
	free(sc);
}
