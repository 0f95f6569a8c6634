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
 * It is also where the indexer hashes the blob into its chunk records
 * (toc_grid), unless the source hashes it itself (src.chain): a byte
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
	g->toc = toc;
	toc->chunk_size = STORE_TOC_CHUNK;
	return store_chain_new(0, &g->chain);
}

void toc_grid_release(struct toc_grid *g)
{
	store_chain_free(g->chain);
	g->chain = NULL;
}

int toc_grid_add(struct toc_grid *g, const void *data, size_t n)
{
	return store_chain_add(g->chain, data, n);
}

int toc_grid_finish(struct toc_grid *g, uint64_t size)
{
	unsigned char md[32];
	int rc;

	if (store_chain_size(g->chain) != size || size == 0)
		return -EIO;
	rc = store_chain_final(g->chain, md);
	if (!rc)
		rc = store_chain_table(g->chain, &g->toc->chunk_md, &g->toc->n_chunks);
	return rc;
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

	if (in->hashed >= off)
		return 0;
	if (in->grid) {
		from = (size_t)(in->hashed - in->base);
		rc = toc_grid_add(in->grid, in->buf + from, in->pos - from);
		if (rc)
			return rc;
	}
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
