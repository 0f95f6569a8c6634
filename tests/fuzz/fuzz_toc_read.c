/* SPDX-License-Identifier: MIT */
/*
 * fuzz_toc_read.c - ranged reads through the index's checkpoints
 * (store/toc: read.c resuming gzip at an access point in gzran.c, zstd at
 * a frame in zstd.c, input.c asking the source for its bytes).
 *
 * Input: 16 control bytes, then the layer blob.  Control byte 0 picks the
 * compression; bytes 1-8 seed the choice of reads (offsets, lengths,
 * which of two cursors or none, how short the source's need callback
 * makes each piece, whether it fails); byte 9 the number of reads; bytes
 * 10-15 how the blob is damaged afterwards.  The build runs with small
 * spans (IMGFS_FUZZ_SPAN), so a few KiB of stream have checkpoints.
 *
 * Beyond not crashing: every read of the intact blob gives the bytes of
 * one whole read from the start, whose sha256 is the diff_id the indexer
 * computed; the need callback is asked before every byte and never past
 * comp_size; an error of the callback is the read's error.  Once the blob
 * is damaged (bytes changed, cut short) reads may fail but must not crash.
 */
#include <errno.h>

#include <openssl/evp.h>

#include "toc_fuzz.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CTL 16
#define REF_MAX ((uint64_t)8 << 20)	/* the whole stream is compared up to this */

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_log_quiet();
	return 0;
}

struct need_ctx {
	const struct store_toc *toc;
	uint64_t rng;
	bool fail;		/* the next call fails with -ENETDOWN */
	bool failed;
	unsigned calls;
};

/* The source's callback: checks what toc.h promises of its calls and
 * reports a random prefix present. */
static int need_cb(void *arg, uint64_t off, size_t *len)
{
	struct need_ctx *c = arg;

	c->calls++;
	FUZZ_CHECK(*len > 0);
	FUZZ_CHECK(off < c->toc->comp_size && *len <= c->toc->comp_size - off);
	if (c->fail) {
		c->fail = false;
		c->failed = true;
		return -ENETDOWN;
	}
	if (fuzz_rand(&c->rng) & 1)
		*len = 1 + (size_t)(fuzz_rand(&c->rng) % *len);
	return 0;
}

static void check_diff_id(const unsigned char *ref, size_t n, const char *diff_id)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char md[32];
	unsigned int len = 0;
	char want[72];

	FUZZ_CHECK(EVP_Digest(ref, n, md, &len, EVP_sha256(), NULL) && len == 32);
	memcpy(want, "sha256:", 7);
	for (int i = 0; i < 32; i++) {
		want[7 + 2 * i] = hex[md[i] >> 4];
		want[8 + 2 * i] = hex[md[i] & 15];
	}
	want[71] = '\0';
	FUZZ_CHECK(!strcmp(want, diff_id));
}

/*
 * @n_reads reads chosen by @rng through cursors @cur (two); with @ref
 * (the intact stream) each must succeed and equal it.
 */
static void reads(const struct store_toc *toc, int fd, struct store_toc_cursor **cur,
		  uint64_t *rng, unsigned n_reads, const unsigned char *ref)
{
	uint64_t span = STORE_TOC_SPAN;
	unsigned char *dst = malloc(3 * span);

	FUZZ_CHECK(dst);
	for (unsigned k = 0; k < n_reads; k++) {
		uint64_t r = fuzz_rand(rng), off, want;
		struct need_ctx nc = { .toc = toc, .rng = fuzz_rand(rng) };
		struct store_toc_src src = { .fd = fd };
		size_t len, got = 12345;
		int ret;

		/* offsets near the last read's end (sequential reading), at a
		 * checkpoint, or anywhere, a little past the end included */
		switch (r & 3) {
		case 0:
			off = (r >> 8) % (toc->tar_size + 16);
			break;
		case 1:
			off = toc->cps[(r >> 8) % toc->n_cps].uoff + ((r >> 40) & 7) - 3;
			break;
		default:
			off = k ? (r >> 8) % (2 * span) : 0;
			break;
		}
		if (off > toc->tar_size + 16)
			off = toc->tar_size;
		len = (size_t)(((r >> 2) & 1) ? (r >> 16) % 64 + 1 : (r >> 16) % (3 * span) + 1);
		if ((r >> 3) & 1) {
			src.need = need_cb;
			src.ctx = &nc;
			nc.fail = !ref && ((r >> 4) & 7) == 0;
		}
		ret = store_toc_read(toc, &src, ((r >> 5) & 3) < 2 ? cur[(r >> 5) & 1] : NULL,
				     dst, len, off, &got);
		if (nc.failed)
			FUZZ_CHECK(ret == -ENETDOWN);
		FUZZ_CHECK(ret <= 0);
		if (ret) {
			FUZZ_CHECK(got == 0);
			FUZZ_CHECK(!ref);
			continue;
		}
		want = off >= toc->tar_size ? 0 : toc->tar_size - off < len ?
		       toc->tar_size - off : len;
		FUZZ_CHECK(got == want);
		if (ref && got)
			FUZZ_CHECK(!memcmp(dst, ref + off, got));
	}
	free(dst);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const enum registry_compression comps[4] = {
		REGISTRY_COMP_NONE, REGISTRY_COMP_GZIP, REGISTRY_COMP_ZSTD,
		REGISTRY_COMP_GZIP,
	};
	struct store_toc_cursor *cur[2] = { NULL, NULL };
	enum registry_compression comp;
	struct store_toc *toc = NULL;
	struct store_toc_src src;
	unsigned char *ref = NULL;
	struct fuzz_in ctl;
	uint64_t rng = 0;
	unsigned n_reads;
	size_t got;
	int fd;

	if (size < CTL)
		return 0;
	ctl = (struct fuzz_in){ data, CTL };
	comp = comps[fuzz_u8(&ctl) & 3];
	if (comp == REGISTRY_COMP_ZSTD && !toc_fuzz_zstd_small(data + CTL, size - CTL))
		return 0;
	fd = fuzz_memfd(data + CTL, size - CTL);
	if (store_toc_build(fd, comp, &toc))
		goto out;
	rng = (uint64_t)fuzz_u32(&ctl) | (uint64_t)fuzz_u32(&ctl) << 32;
	n_reads = fuzz_u8(&ctl) % 24 + 1;
	FUZZ_CHECK(store_toc_cursor_new(&cur[0]) == 0 &&
		   store_toc_cursor_new(&cur[1]) == 0);

	/* the whole stream, one read from the start: the reference */
	if (toc->tar_size <= REF_MAX) {
		src = (struct store_toc_src){ .fd = fd };
		ref = malloc(toc->tar_size ? toc->tar_size : 1);
		FUZZ_CHECK(ref);
		FUZZ_CHECK(store_toc_read(toc, &src, NULL, ref, toc->tar_size, 0,
					  &got) == 0 && got == toc->tar_size);
		check_diff_id(ref, got, toc->diff_id);
		reads(toc, fd, cur, &rng, n_reads, ref);
	}

	/* damage the blob: bytes flipped, or cut short */
	for (int i = 0; i < 2; i++) {
		uint8_t what = fuzz_u8(&ctl), x = fuzz_u8(&ctl);
		uint64_t at = (uint64_t)fuzz_u8(&ctl) * toc->comp_size / 256;

		if (what & 1) {
			FUZZ_CHECK(ftruncate(fd, (off_t)at) == 0);
		} else if (at < toc->comp_size) {
			uint8_t b = data[CTL + at] ^ (x ? x : 0x80);

			FUZZ_CHECK(pwrite(fd, &b, 1, (off_t)at) == 1);
		}
	}
	reads(toc, fd, cur, &rng, n_reads, NULL);
out:
	store_toc_cursor_free(cur[0]);
	store_toc_cursor_free(cur[1]);
	store_toc_free(toc);
	free(ref);
	close(fd);
	return 0;
}
