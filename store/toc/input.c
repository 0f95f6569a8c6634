/* SPDX-License-Identifier: MIT */
/*
 * input.c - the compressed input of both decompressors (the indexer's pass
 * and the per-reader cursor): the blob read forward with pread in
 * TOC_IO_CHUNK pieces into a buffer that keeps the unread tail.
 *
 * pread, never read: the blob fd is shared by every reader of the layer
 * and no one owns its file position.  This is the one place compressed
 * bytes come in, so it is where a ranged fetch of a remote blob plugs in.
 */
#include "toc_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int toc_pread(int fd, void *buf, size_t len, uint64_t off, size_t *got)
{
	ssize_t n;

	do {
		n = pread(fd, buf, len, (off_t)off);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	*got = (size_t)n;
	return 0;
}

int toc_in_init(struct toc_in *in)
{
	memset(in, 0, sizeof(*in));
	in->fd = -1;
	in->buf = malloc(TOC_IO_CHUNK);
	return in->buf ? 0 : -ENOMEM;
}

void toc_in_release(struct toc_in *in)
{
	free(in->buf);
	in->buf = NULL;
}

void toc_in_seek(struct toc_in *in, int fd, uint64_t off)
{
	in->fd = fd;
	in->pos = in->len = 0;
	in->base = off;
	in->eof = false;
}

int toc_in_fill(struct toc_in *in, size_t need)
{
	while (toc_in_avail(in) < need && !in->eof) {
		size_t keep = toc_in_avail(in), n = 0;
		int rc;

		memmove(in->buf, in->buf + in->pos, keep);
		in->base += in->pos;
		in->pos = 0;
		in->len = keep;
		rc = toc_pread(in->fd, in->buf + keep, TOC_IO_CHUNK - keep,
			       in->base + keep, &n);
		if (rc)
			return rc;
		if (n == 0)
			in->eof = true;
		in->len += n;
	}
	return 0;
}
