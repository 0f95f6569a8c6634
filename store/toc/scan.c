/* SPDX-License-Identifier: MIT */
/*
 * scan.c - the indexer's one decompression pass over a layer blob:
 * produces the uncompressed stream piece by piece (for libarchive, via
 * build.c), hashes it into the diff_id, and keeps the checkpoints the
 * decoders find on the way.
 *
 * The pass dispatches by compression: gzip to gzran.c, zstd to zstd.c
 * (each records its own kind of checkpoint through toc_scan_add_cp), plain
 * tar is pread as is with a checkpoint every STORE_TOC_SPAN bytes.  gzip
 * and plain get their first checkpoint at the blob's start here, zstd at
 * its first frame.  The output buffer keeps the last TOC_WINDOW bytes of
 * the previous piece in front of the new one, so a gzip access point's
 * history is always contiguous.
 *
 * Chunk digests: the input reader hashes every compressed byte it consumes
 * into sc->grid, which cuts the blob into STORE_TOC_CHUNK pieces whatever
 * the spans; the trailing bytes no decoder consumes are read and hashed at
 * the finish, so the chunks cover the whole blob.  (A plain tar's bytes
 * are hashed as they are read: the blob is the stream.)
 *
 * The input is a struct store_toc_src: a complete blob read to its end,
 * or one still being downloaded, whose size is known and whose need
 * callback blocks until the bytes are written (layer_index.c); every
 * read, the plain tar's included, goes through it.
 *
 * The uncompressed total is capped (TOC_MAX_TAR) against decompression
 * bombs; hitting the cap is -E2BIG.
 */
#include "toc_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define SCAN_OUT ((size_t)256 << 10)

int toc_scan_add_cp(struct toc_scan *sc, uint64_t coff, unsigned bits,
		    const unsigned char *win, size_t win_len)
{
	struct store_toc *toc = sc->toc;
	struct store_toc_checkpoint *cp;
	unsigned char *w = NULL;
	int rc;

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
	if (toc->n_cps && sc->comp != REGISTRY_COMP_NONE) {
		rc = toc_in_hash(&sc->in);
		if (rc)
			return rc;
		/* at the reader's position, or behind it by what the
		 * decoder read ahead (ISA-L's bit buffer, a header it has
		 * begun) */
		if (coff > sc->in.hashed ||
		    coff <= toc->cps[toc->n_cps - 1].coff)
			return -EIO;	/* a decoder's bug, not the blob's */
	}
	cp = &toc->cps[toc->n_cps++];
	memset(cp, 0, sizeof(*cp));
	cp->uoff = sc->totout;
	cp->coff = coff;
	cp->bits = (uint8_t)bits;
	cp->window_len = (uint32_t)win_len;
	cp->window = w;
	sc->last_cp = sc->totout;
	return 0;
}

bool toc_scan_cp_due(const struct toc_scan *sc)
{
	return sc->toc->n_cps == 0 || sc->totout - sc->last_cp >= STORE_TOC_SPAN;
}

/* Plain tar: the blob is the stream.  A piece never crosses a span's end,
 * so a checkpoint falls at the start of the piece that reaches it. */
static int scan_plain(struct toc_scan *sc, unsigned char *out, size_t *produced)
{
	uint64_t room = sc->last_cp + STORE_TOC_SPAN - sc->totout;
	size_t n;
	int rc;

	if (room == 0)		/* a new span starts here */
		room = STORE_TOC_SPAN;

	if (room > SCAN_OUT)
		room = SCAN_OUT;
	if (room > sc->in.end - sc->totout)	/* 0 at the end */
		room = sc->in.end - sc->totout;
	n = 0;
	rc = room ? toc_src_pread(&sc->in.src, out, (size_t)room, sc->totout, &n)
		  : 0;
	if (rc)
		return rc;
	if (n == 0)
		sc->done = true;
	if (n && toc_scan_cp_due(sc)) {
		rc = toc_scan_add_cp(sc, sc->totout, 0, NULL, 0);
		if (rc)
			return rc;
	}
	if (n && !sc->in.src.chain) {
		rc = toc_grid_add(&sc->grid, out, n);
		if (rc)
			return rc;
	}
	sc->totout += n;
	if (sc->totout > TOC_MAX_TAR)
		return -E2BIG;
	*produced = n;
	return 0;
}

int toc_scan_new(const struct store_toc_src *src, uint64_t end,
		 enum registry_compression comp, struct store_toc *toc,
		 struct toc_scan **out)
{
	struct toc_scan *sc;
	int rc = -ENOMEM;

	if (comp != REGISTRY_COMP_NONE && comp != REGISTRY_COMP_GZIP &&
	    comp != REGISTRY_COMP_ZSTD)
		return -EINVAL;
	sc = calloc(1, sizeof(*sc));
	if (!sc)
		return -ENOMEM;
	sc->comp = comp;
	sc->toc = toc;
	sc->ob = malloc(TOC_WINDOW + SCAN_OUT);
	sc->md = EVP_MD_CTX_new();
	if (!sc->ob || !sc->md || toc_in_init(&sc->in))
		goto out;
	rc = toc_grid_init(&sc->grid, toc);
	if (rc)
		goto out;
	toc_in_seek(&sc->in, src, 0, end);
	if (comp != REGISTRY_COMP_NONE && !src->chain)
		sc->in.grid = &sc->grid;
	if (EVP_DigestInit_ex(sc->md, EVP_sha256(), NULL) != 1) {
		rc = -EIO;
		goto out;
	}
	if (comp == REGISTRY_COMP_GZIP)
		rc = toc_gz_scan_start(&sc->gz);
	else if (comp == REGISTRY_COMP_ZSTD)
		rc = toc_zst_start(&sc->zst);
	else
		rc = 0;
	if (!rc && comp != REGISTRY_COMP_ZSTD)
		rc = toc_scan_add_cp(sc, 0, 0, NULL, 0);
	if (rc)
		goto out;
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

	/* keep the last TOC_WINDOW bytes of output in front of the new */
	memmove(sc->ob, out + SCAN_OUT - TOC_WINDOW, TOC_WINDOW);
	if (sc->done) {
		*data = out;
		*len = 0;
		return 0;
	}
	if (sc->comp == REGISTRY_COMP_GZIP)
		rc = toc_gz_decode(&sc->gz, &sc->in, out, SCAN_OUT, &got,
				   &sc->done, sc);
	else if (sc->comp == REGISTRY_COMP_ZSTD)
		rc = toc_zst_decode(&sc->zst, &sc->in, out, SCAN_OUT, &got,
				    &sc->done, sc);
	else
		rc = scan_plain(sc, out, &got);
	if (rc)
		return rc;
	/* Output fills the whole piece unless the stream is done, so the
	 * memmove above always keeps the true last TOC_WINDOW bytes. */
	if (got && EVP_DigestUpdate(sc->md, out, got) != 1)
		return -EIO;
	*data = out;
	*len = got;
	return 0;
}

/* Hash what no decoder consumed, from the reader's position to the end of
 * the blob (trailing bytes after the stream) into the last span.  For a
 * plain tar the pass read up to the end already. */
static int scan_hash_rest(struct toc_scan *sc)
{
	struct toc_in *in = &sc->in;
	int rc;

	if (sc->comp == REGISTRY_COMP_NONE)
		return 0;
	for (;;) {
		in->pos = in->len;
		rc = toc_in_hash(in);
		if (rc || in->eof)
			return rc;
		rc = toc_in_fill(in, 1);
		if (rc)
			return rc;
	}
}

/* The chunk records from a source that hashed the blob itself: asked once
 * the pass has read it all (the plain pass reads to its end; a decoder's
 * input was drained to its end by scan_hash_rest). */
static int scan_chain_records(struct toc_scan *sc)
{
	struct store_toc *toc = sc->toc;
	size_t n = (size_t)((toc->comp_size - 1) / STORE_TOC_CHUNK + 1);
	int rc;

	if ((sc->comp == REGISTRY_COMP_NONE ? sc->totout :
	     toc_in_off(&sc->in)) != toc->comp_size)
		return -EIO;
	toc->chunk_md = malloc(n * sizeof(*toc->chunk_md));
	if (!toc->chunk_md)
		return -ENOMEM;
	toc->chunk_size = STORE_TOC_CHUNK;
	rc = sc->in.src.chain(sc->in.src.ctx, toc->chunk_md, n);
	if (!rc)
		toc->n_chunks = n;
	return rc;
}

int toc_scan_finish(struct toc_scan *sc)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	struct store_toc *toc = sc->toc;
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
	memcpy(toc->diff_id, "sha256:", 7);
	for (i = 0; i < 32; i++) {
		toc->diff_id[7 + 2 * i] = hex[md[i] >> 4];
		toc->diff_id[8 + 2 * i] = hex[md[i] & 15];
	}
	toc->diff_id[71] = '\0';
	toc->tar_size = sc->totout;
	if (toc->n_cps == 0)	/* a compressed stream with no data */
		return -EIO;
	rc = scan_hash_rest(sc);
	if (rc)
		return rc;
	if (sc->in.end != UINT64_MAX) {
		toc->comp_size = sc->in.end;	/* a blob still being written */
	} else {
		if (fstat(sc->in.src.fd, &st))
			return -errno;
		toc->comp_size = (uint64_t)st.st_size;
	}
	if (toc->cps[toc->n_cps - 1].coff >= toc->comp_size)
		return -EIO;
	if (sc->in.src.chain)
		return scan_chain_records(sc);
	/* the chunk records cover exactly the blob */
	if (toc->comp_size != (sc->comp == REGISTRY_COMP_NONE ? sc->totout :
			       sc->in.hashed))
		return -EIO;
	return toc_grid_finish(&sc->grid, toc->comp_size);
}

void toc_scan_free(struct toc_scan *sc)
{
	if (!sc)
		return;
	toc_gz_end(&sc->gz);
	toc_zst_end(&sc->zst);
	EVP_MD_CTX_free(sc->md);
	toc_grid_release(&sc->grid);
	toc_in_release(&sc->in);
	free(sc->ob);
	free(sc);
}
