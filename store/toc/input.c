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
		size_t keep = toc_in_avail(in);
		ssize_t n;

		memmove(in->buf, in->buf + in->pos, keep);
		in->base += in->pos;
		in->pos = 0;
		in->len = keep;
		do {
			n = pread(in->fd, in->buf + keep, TOC_IO_CHUNK - keep,
				  (off_t)(in->base + keep));
		} while (n < 0 && errno == EINTR);
		if (n < 0)
			return -errno;
		if (n == 0)
			in->eof = true;
		in->len += (size_t)n;
	}
	return 0;
}
