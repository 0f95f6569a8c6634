/* SPDX-License-Identifier: MIT */
/*
 * scan.c - the indexer's one decompression pass over a layer blob:
 * produces the uncompressed stream piece by piece (for libarchive, via
 * build.c), hashes it into the diff_id, and keeps the checkpoints the
 * decoders find on the way.
 *
 * The pass dispatches by compression: gzip to gzran.c, zstd to zstd.c
 * (each records its own kind of checkpoint through toc_scan_add_cp), plain
 * tar is pread as is with a single checkpoint at 0.  The output buffer
 * keeps the last TOC_WINDOW bytes of the previous piece in front of the
 * new one, so a gzip access point's history is always contiguous.
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

bool toc_scan_cp_due(const struct toc_scan *sc)
{
	return sc->toc->n_cps == 0 || sc->totout - sc->last_cp >= STORE_TOC_SPAN;
}

static int scan_plain(struct toc_scan *sc, unsigned char *out, size_t *produced)
{
	size_t n;
	int rc;

	rc = toc_pread(sc->in.fd, out, SCAN_OUT, sc->totout, &n);
	if (rc)
		return rc;
	if (n == 0)
		sc->done = true;
	sc->totout += n;
	if (sc->totout > TOC_MAX_TAR)
		return -E2BIG;
	*produced = n;
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
	sc->comp = comp;
	sc->toc = toc;
	sc->ob = malloc(TOC_WINDOW + SCAN_OUT);
	sc->md = EVP_MD_CTX_new();
	if (!sc->ob || !sc->md || toc_in_init(&sc->in))
		goto out;
	toc_in_seek(&sc->in, fd, 0);
	if (EVP_DigestInit_ex(sc->md, EVP_sha256(), NULL) != 1) {
		rc = -EIO;
		goto out;
	}
	if (comp == REGISTRY_COMP_GZIP)
		rc = toc_gz_start(&sc->gz);
	else if (comp == REGISTRY_COMP_ZSTD)
		rc = toc_zst_start(&sc->zst);
	else
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
	if (fstat(sc->in.fd, &st))
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
	toc_gz_end(&sc->gz);
	toc_zst_end(&sc->zst);
	EVP_MD_CTX_free(sc->md);
	toc_in_release(&sc->in);
	free(sc->ob);
	free(sc);
}
