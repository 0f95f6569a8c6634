/* SPDX-License-Identifier: MIT */
/*
 * toc_read.c - ranged reads of a layer's uncompressed stream, served from
 * the compressed blob through the index checkpoints, and the per-reader
 * cursor that keeps a decompressor running between reads.
 *
 * A read starts at the last checkpoint at or below its offset (gzip: raw
 * inflate primed with the leftover bits and the 32 KiB window, as in zlib's
 * zran.c; zstd: a fresh frame), decompresses and discards up to the offset,
 * then decompresses into the caller's buffer.  A cursor keeps that state:
 * a read at or after the cursor and less than a span ahead (or not beyond
 * the checkpoint a re-seek would use) continues instead, so a sequential
 * read of a file costs one pass.  Compressed bytes come in by pread of
 * TOC_IO_CHUNK; this is the one place a ranged fetch will plug in later.
 *
 * The toc is shared and immutable; the cursor belongs to one reader.  Any
 * error leaves the cursor dead, so the next read re-seeks.
 */
#include "toc_int.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <zlib.h>
#include <zstd.h>

#include "log.h"

#define SCRATCH ((size_t)64 << 10)

struct store_toc_cursor {
	const struct store_toc *toc;	/* whose stream the state is in */
	bool live;
	bool done;		/* the stream ended */
	uint64_t uoff;		/* offset of the next byte out */

	unsigned char *in;
	size_t in_pos, in_len;
	uint64_t in_base;	/* blob offset of in[0] */
	bool in_eof;
	unsigned char *scratch;

	z_stream zs;
	bool zs_init;
	bool gz_raw;		/* raw deflate (from a checkpoint), so the
				 * member trailer is ours to skip */
	ZSTD_DCtx *zd;
	bool zframe_start;
};

int store_toc_cursor_new(struct store_toc_cursor **out)
{
	struct store_toc_cursor *cur = calloc(1, sizeof(*cur));

	if (!cur)
		return -ENOMEM;
	cur->in = malloc(TOC_IO_CHUNK);
	cur->scratch = malloc(SCRATCH);
	if (!cur->in || !cur->scratch) {
		store_toc_cursor_free(cur);
		return -ENOMEM;
	}
	*out = cur;
	return 0;
}

void store_toc_cursor_free(struct store_toc_cursor *cur)
{
	if (!cur)
		return;
	if (cur->zs_init)
		inflateEnd(&cur->zs);
	ZSTD_freeDCtx(cur->zd);
	free(cur->in);
	free(cur->scratch);
	free(cur);
}

/* Make at least @need unread input bytes available, unless the blob ends. */
static int rd_fill(struct store_toc_cursor *cur, int fd, size_t need)
{
	while (cur->in_len - cur->in_pos < need && !cur->in_eof) {
		size_t keep = cur->in_len - cur->in_pos;
		ssize_t n;

		memmove(cur->in, cur->in + cur->in_pos, keep);
		cur->in_base += cur->in_pos;
		cur->in_pos = 0;
		cur->in_len = keep;
		do {
			n = pread(fd, cur->in + keep, TOC_IO_CHUNK - keep,
				  (off_t)(cur->in_base + keep));
		} while (n < 0 && errno == EINTR);
		if (n < 0)
			return -errno;
		if (n == 0)
			cur->in_eof = true;
		cur->in_len += (size_t)n;
	}
	return 0;
}

static const struct store_toc_checkpoint *
rd_find_cp(const struct store_toc *toc, uint64_t off)
{
	size_t lo = 0, hi = toc->n_cps;	/* answer in [lo, hi) */

	while (hi - lo > 1) {
		size_t mid = lo + (hi - lo) / 2;

		if (toc->cps[mid].uoff <= off)
			lo = mid;
		else
			hi = mid;
	}
	return &toc->cps[lo];
}

static int rd_seek(struct store_toc_cursor *cur, const struct store_toc *toc,
		   int fd, const struct store_toc_checkpoint *cp)
{
	int rc;

	cur->live = false;
	cur->done = false;
	cur->in_pos = cur->in_len = 0;
	cur->in_eof = false;
	cur->in_base = cp->coff - (cp->bits ? 1 : 0);
	if (toc->comp == REGISTRY_COMP_GZIP) {
		if (!cur->zs_init) {
			if (inflateInit2(&cur->zs, -15) != Z_OK)
				return -ENOMEM;
			cur->zs_init = true;
		} else if (inflateReset2(&cur->zs, -15) != Z_OK) {
			return -EIO;
		}
		cur->gz_raw = true;
		if (cp->bits) {
			rc = rd_fill(cur, fd, 1);
			if (rc)
				return rc;
			if (cur->in_len == 0)
				return -EIO;
			if (inflatePrime(&cur->zs, cp->bits,
					 cur->in[0] >> (8 - cp->bits)) != Z_OK)
				return -EIO;
			cur->in_pos = 1;
		}
		if (cp->window_len &&
		    inflateSetDictionary(&cur->zs, cp->window,
					 cp->window_len) != Z_OK)
			return -EIO;
	} else {
		if (!cur->zd) {
			cur->zd = ZSTD_createDCtx();
			if (!cur->zd)
				return -ENOMEM;
		} else {
			ZSTD_DCtx_reset(cur->zd, ZSTD_reset_session_only);
		}
		cur->zframe_start = true;
	}
	cur->toc = toc;
	cur->uoff = cp->uoff;
	cur->live = true;
	return 0;
}

/* A gzip member ended: skip its trailer if raw, then the next member or
 * the end of the stream. */
static int gz_member_end(struct store_toc_cursor *cur, int fd)
{
	int rc;

	if (cur->gz_raw) {
		rc = rd_fill(cur, fd, 8);
		if (rc)
			return rc;
		if (cur->in_len - cur->in_pos < 8)
			return -EIO;
		cur->in_pos += 8;
	}
	rc = rd_fill(cur, fd, 2);
	if (rc)
		return rc;
	if (cur->in_len - cur->in_pos >= 2 && cur->in[cur->in_pos] == 0x1f &&
	    cur->in[cur->in_pos + 1] == 0x8b) {
		if (inflateReset2(&cur->zs, 15 + 16) != Z_OK)
			return -EIO;
		cur->gz_raw = false;
		return 0;
	}
	cur->done = true;
	return 0;
}

static int gz_decode(struct store_toc_cursor *cur, int fd, unsigned char *dst,
		     size_t n, size_t *produced)
{
	size_t got = 0;
	int ret, rc;

	while (got < n && !cur->done) {
		size_t before_in, before_out;

		rc = rd_fill(cur, fd, 1);
		if (rc)
			return rc;
		if (cur->in_pos == cur->in_len)
			return -EIO;	/* the blob ends mid-stream */
		cur->zs.next_in = cur->in + cur->in_pos;
		cur->zs.avail_in = (uInt)(cur->in_len - cur->in_pos);
		cur->zs.next_out = dst + got;
		cur->zs.avail_out = (uInt)(n - got > UINT32_MAX ? UINT32_MAX :
					   n - got);
		before_in = cur->zs.avail_in;
		before_out = cur->zs.avail_out;
		ret = inflate(&cur->zs, Z_NO_FLUSH);
		cur->in_pos += before_in - cur->zs.avail_in;
		got += before_out - cur->zs.avail_out;
		if (ret == Z_STREAM_END) {
			rc = gz_member_end(cur, fd);
			if (rc)
				return rc;
		} else if (ret != Z_OK && ret != Z_BUF_ERROR) {
			log_err("toc: gzip data error at %llu: %s",
				(unsigned long long)(cur->in_base + cur->in_pos),
				cur->zs.msg ? cur->zs.msg : "?");
			return -EIO;
		}
	}
	*produced = got;
	return 0;
}

static int zst_decode(struct store_toc_cursor *cur, int fd, unsigned char *dst,
		      size_t n, size_t *produced)
{
	ZSTD_outBuffer ob = { dst, n, 0 };
	int rc;

	while (ob.pos < ob.size && !cur->done) {
		ZSTD_inBuffer ib;
		size_t r, before = ob.pos, before_in;

		rc = rd_fill(cur, fd, 4);
		if (rc)
			return rc;
		if (cur->zframe_start &&
		    !toc_zstd_is_frame(cur->in + cur->in_pos,
				  cur->in_len - cur->in_pos)) {
			cur->done = true;	/* end, or trailing junk */
			break;
		}
		ib.src = cur->in;
		ib.size = cur->in_len;
		ib.pos = before_in = cur->in_pos;
		r = ZSTD_decompressStream(cur->zd, &ob, &ib);
		cur->in_pos = ib.pos;
		if (ZSTD_isError(r)) {
			log_err("toc: zstd data error at %llu: %s",
				(unsigned long long)(cur->in_base + cur->in_pos),
				ZSTD_getErrorName(r));
			return -EIO;
		}
		cur->zframe_start = (r == 0);
		if (r && ob.pos == before && ib.pos == before_in &&
		    cur->in_eof && cur->in_pos == cur->in_len)
			return -EIO;	/* the blob ends mid-frame */
	}
	*produced = ob.pos;
	return 0;
}

/* Up to @n bytes of stream at the cursor; 0 only at the end. */
static int rd_decode(struct store_toc_cursor *cur, const struct store_toc *toc,
		     int fd, unsigned char *dst, size_t n, size_t *produced)
{
	int rc;

	if (toc->comp == REGISTRY_COMP_GZIP)
		rc = gz_decode(cur, fd, dst, n, produced);
	else
		rc = zst_decode(cur, fd, dst, n, produced);
	if (rc)
		return rc;
	cur->uoff += *produced;
	return 0;
}

static int rd_plain(int fd, unsigned char *dst, size_t len, uint64_t off,
		    size_t *got)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = pread(fd, dst + done, len - done,
				  (off_t)(off + done));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EIO;	/* shorter than the index says */
		done += (size_t)n;
	}
	*got = done;
	return 0;
}

static int rd_compressed(const struct store_toc *toc, int fd,
			 struct store_toc_cursor *cur, unsigned char *dst,
			 size_t len, uint64_t off, size_t *got)
{
	const struct store_toc_checkpoint *cp = rd_find_cp(toc, off);
	size_t done = 0, n;
	int rc;

	if (cur->toc != toc)
		cur->live = false;
	/* Continue when the cursor is no further from @off than a seek
	 * would be, or at most a span behind it. */
	if (!cur->live || off < cur->uoff ||
	    (off - cur->uoff >= STORE_TOC_SPAN && cur->uoff < cp->uoff)) {
		rc = rd_seek(cur, toc, fd, cp);
		if (rc)
			goto out;
	}
	while (cur->uoff < off) {
		uint64_t skip = off - cur->uoff;

		rc = rd_decode(cur, toc, fd, cur->scratch,
			       skip < SCRATCH ? (size_t)skip : SCRATCH, &n);
		if (rc)
			goto out;
		if (n == 0) {
			rc = -EIO;
			goto out;
		}
	}
	while (done < len) {
		rc = rd_decode(cur, toc, fd, dst + done, len - done, &n);
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

int store_toc_read(const struct store_toc *toc, int blob_fd,
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
		return rd_plain(blob_fd, dst, len, off, got);
	if (toc->comp != REGISTRY_COMP_GZIP && toc->comp != REGISTRY_COMP_ZSTD)
		return -EINVAL;
	if (!cur) {
		rc = store_toc_cursor_new(&tmp);
		if (rc)
			return rc;
		cur = tmp;
	}
	rc = rd_compressed(toc, blob_fd, cur, dst, len, off, got);
	store_toc_cursor_free(tmp);
	return rc;
}
