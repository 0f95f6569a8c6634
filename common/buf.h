/* SPDX-License-Identifier: MIT */
/*
 * buf.h - growable byte buffers with a hard size cap (after curl's dynbuf).
 *
 * Owns: one heap allocation per buffer.  Every buffer that is filled from
 * the network or from a file of unknown origin is created with the cap that
 * bounds it (manifests 4 MiB, tokens 1 MiB, ...): growing past the cap fails
 * with -EFBIG and leaves the buffer as it was.  The data is always kept
 * NUL-terminated (not counted in len) so JSON and header parsers can use it
 * as a string.
 */
#ifndef IMGFS_BUF_H
#define IMGFS_BUF_H

#include <stddef.h>

struct buf {
	char *data;	/* NULL until the first add */
	size_t len;	/* bytes used, excluding the trailing NUL */
	size_t cap;	/* bytes allocated */
	size_t max;	/* len never exceeds this */
};

#define BUF_MANIFEST_MAX ((size_t)4 << 20)
#define BUF_SMALL_MAX ((size_t)1 << 20)

void buf_init(struct buf *b, size_t max);
int buf_add(struct buf *b, const void *data, size_t n);
int buf_addstr(struct buf *b, const char *s);
int buf_printf(struct buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void buf_reset(struct buf *b);
void buf_release(struct buf *b);
char *buf_detach(struct buf *b, size_t *len);
/* The contents, or "" for an empty buffer: never NULL. */
const char *buf_str(const struct buf *b);

#endif
