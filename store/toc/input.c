/* SPDX-License-Identifier: MIT */
/*
 * input.c - the compressed input of both decompressors (the indexer's pass
 * and the per-reader cursor): the blob read forward with pread in
 * TOC_IO_CHUNK pieces into a buffer that keeps the unread tail.
 *
 * pread, never read: the blob fd is shared by every reader of the layer
 * and no one owns its file position.  This is the one place compressed
 * bytes come in, so it is where a ranged fetch of a remote blob plugs in:
 * each pread is preceded by the source's need callback and clamped to what
 * it reports present, so a decoder never sees a byte that was not there.
 * It is also where the indexer hashes the blob's chunks (toc_grid): a byte
 * is hashed when it is consumed, before the buffer drops it, so the pass
 * reads every byte once.
 */
#include "toc_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "file.h"

int toc_src_pread(const struct store_toc_src *src, void *buf, size_t len,
		  uint64_t off, size_t *got)
{
	size_t n = len;
	int rc;

	if (src->read && len)
		return src->read(src->ctx, src->fd, buf, len, off, got);
	if (src->need && len) {
		rc = src->need(src->ctx, off, &n);
		if (rc)
			return rc;
		if (n == 0 || n > len)
			return -EIO;	/* the callback broke its contract */
	}
	return file_pread(src->fd, buf, n, off, got);
}

int toc_grid_init(struct toc_grid *g, struct store_toc *toc)
{
	memset(g, 0, sizeof(*g));
	g->toc = toc;
	g->md = EVP_MD_CTX_new();
	if (!g->md)
		return -ENOMEM;
	if (EVP_DigestInit_ex(g->md, EVP_sha256(), NULL) != 1)
		return -EIO;
	toc->chunk_size = STORE_TOC_CHUNK;
	return 0;
}

void toc_grid_release(struct toc_grid *g)
{
	EVP_MD_CTX_free(g->md);
	g->md = NULL;
}

/* The chunk in progress ends here: its digest into the next slot. */
static int grid_end_chunk(struct toc_grid *g)
{
	struct store_toc *toc = g->toc;
	unsigned int n = 0;

	if (toc->n_chunks == g->cap) {
		void *p = toc_grow(toc->chunk_md, &g->cap, sizeof(*toc->chunk_md), 64);

		if (!p)
			return -ENOMEM;
		toc->chunk_md = p;
	}
	if (EVP_DigestFinal_ex(g->md, toc->chunk_md[toc->n_chunks], &n) != 1 || n != 32 ||
	    EVP_DigestInit_ex(g->md, EVP_sha256(), NULL) != 1)
		return -EIO;
	toc->n_chunks++;
	return 0;
}

int toc_grid_add(struct toc_grid *g, const void *data, size_t n)
{
	const unsigned char *d = data;
	int rc;

	while (n) {
		uint64_t room = STORE_TOC_CHUNK - g->pos % STORE_TOC_CHUNK;
		size_t take = n < room ? n : (size_t)room;

		if (EVP_DigestUpdate(g->md, d, take) != 1)
			return -EIO;
		g->pos += take;
		d += take;
		n -= take;
		if (g->pos % STORE_TOC_CHUNK == 0) {
			rc = grid_end_chunk(g);
			if (rc)
				return rc;
		}
	}
	return 0;
}

int toc_grid_finish(struct toc_grid *g, uint64_t size)
{
	if (g->pos != size || size == 0)
		return -EIO;
	return g->pos % STORE_TOC_CHUNK ? grid_end_chunk(g) : 0;
}

int toc_in_init(struct toc_in *in)
{
	memset(in, 0, sizeof(*in));
	in->src.fd = -1;
	in->buf = malloc(TOC_IO_CHUNK);
	return in->buf ? 0 : -ENOMEM;
}

void toc_in_release(struct toc_in *in)
{
	free(in->buf);
	in->buf = NULL;
}

void toc_in_seek(struct toc_in *in, const struct store_toc_src *src,
		 uint64_t off, uint64_t end)
{
	in->src = *src;
	in->end = end;
	in->pos = in->len = 0;
	in->base = off;
	in->eof = false;
	in->hashed = off;
}

int toc_in_hash(struct toc_in *in)
{
	uint64_t off = toc_in_off(in);
	size_t from;

	int rc;

	if (!in->grid || in->hashed >= off)
		return 0;
	from = (size_t)(in->hashed - in->base);
	rc = toc_grid_add(in->grid, in->buf + from, in->pos - from);
	if (rc)
		return rc;
	in->hashed = off;
	return 0;
}

int toc_in_fill(struct toc_in *in, size_t need)
{
	int rc;

	while (toc_in_avail(in) < need && !in->eof) {
		size_t keep = toc_in_avail(in), want = TOC_IO_CHUNK - keep, n = 0;
		uint64_t off;

		rc = toc_in_hash(in);
		if (rc)
			return rc;
		memmove(in->buf, in->buf + in->pos, keep);
		in->base += in->pos;
		in->pos = 0;
		in->len = keep;
		off = in->base + keep;
		if (off >= in->end) {
			in->eof = true;
			break;
		}
		if (want > in->end - off)
			want = (size_t)(in->end - off);
		rc = toc_src_pread(&in->src, in->buf + keep, want, off, &n);
		if (rc)
			return rc;
		if (n == 0)
			in->eof = true;
		in->len += n;
	}
	return 0;
}
