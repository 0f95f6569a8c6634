/* SPDX-License-Identifier: MIT */
/*
 * fuzz_toc_build.c - the layer indexer (store/toc: scan.c, build.c,
 * gzran.c and zstd.c recording checkpoints) fed in chunks of random size.
 *
 * Input: 8 control bytes, then the layer blob.  Control byte 0 picks the
 * compression (plain, gzip, zstd), whether the build draws from a small
 * memory budget and whether the index goes through its on-disk form; bytes 1-7 are cycled as the sizes of the reads
 * the indexer gets: this file's pread64() replaces libc's for the
 * blob's fd (the indexer reads with pread and must take short reads, an
 * EINTR and an EIO as they come).  The blob sits in a memfd.
 *
 * Beyond not crashing: an index built must keep toc.h's promises
 * (toc_fuzz_check), must not depend on how its input arrived (the same
 * blob read whole gives the same index, or the same error), and its
 * on-disk form must decode to the same index and encode to the same bytes.
 */
#include <errno.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "toc_fuzz.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CTL 8

/* The blob the indexer reads, and how our pread64 hands it out. */
static struct {
	int fd;			/* -1: every pread is the real one */
	const uint8_t *data;
	size_t size;
	const uint8_t *codes;	/* chunk size codes, cycled */
	size_t n_codes, next;
	bool last_eintr;	/* never two in a row: file_pread retries */
	bool eio;		/* an EIO was injected: the build must fail */
} feed = { .fd = -1 };

/* A read of size 1..~63 KiB from a code; 0 is the whole request, 0xfe
 * an EIO and 0xff an EINTR. */
static size_t chunk_of(uint8_t code, size_t want)
{
	size_t n = code == 0 ? want : code <= 64 ? code : (size_t)(code - 64) * 331;

	return n < want ? n : want;
}

ssize_t pread64(int fd, void *buf, size_t count, __off64_t off);
ssize_t pread64(int fd, void *buf, size_t count, __off64_t off)
{
	uint8_t code;
	size_t n;

	if (fd < 0 || fd != feed.fd)
		return syscall(SYS_pread64, fd, buf, count, off);
	if (off < 0) {
		errno = EINVAL;
		return -1;
	}
	code = feed.n_codes ? feed.codes[feed.next++ % feed.n_codes] : 0;
	if (code == 0xff && !feed.last_eintr) {
		feed.last_eintr = true;
		errno = EINTR;
		return -1;
	}
	feed.last_eintr = false;
	if (code == 0xfe) {
		feed.eio = true;
		errno = EIO;
		return -1;
	}
	if ((uint64_t)off >= feed.size || count == 0)
		return 0;
	n = chunk_of(code == 0xff ? 0 : code, count);
	if (n > feed.size - (size_t)off)
		n = feed.size - (size_t)off;
	memcpy(buf, feed.data + off, n);	/* ASan checks @buf */
	return (ssize_t)n;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_log_quiet();
	return 0;
}

static int build(int fd, enum registry_compression comp, bool budgeted,
		 struct store_toc **out)
{
	struct store_toc_budget *b = NULL;
	int ret;

	*out = NULL;
	if (!budgeted)
		return store_toc_build(fd, comp, out);
	/* small enough that a big layer's index does not fit */
	FUZZ_CHECK(store_toc_budget_new((uint64_t)512 << 10, &b) == 0);
	ret = store_toc_build_budget(fd, comp, b, out);
	store_toc_budget_free(b);
	return ret;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const enum registry_compression comps[4] = {
		REGISTRY_COMP_NONE, REGISTRY_COMP_GZIP, REGISTRY_COMP_ZSTD,
		REGISTRY_COMP_GZIP,
	};
	struct store_toc *chunked = NULL, *whole = NULL, *back;
	enum registry_compression comp;
	bool budgeted;
	int fd, r1, r2;

	if (size < CTL)
		return 0;
	comp = comps[data[0] & 3];
	budgeted = data[0] & 4;
	if (comp == REGISTRY_COMP_ZSTD && !toc_fuzz_zstd_small(data + CTL, size - CTL))
		return 0;
	fd = fuzz_memfd(data + CTL, size - CTL);

	feed.fd = fd;
	feed.data = data + CTL;
	feed.size = size - CTL;
	feed.codes = data + 1;
	feed.n_codes = CTL - 1;
	feed.next = 0;
	feed.last_eintr = false;
	feed.eio = false;
	r1 = build(fd, comp, budgeted, &chunked);
	feed.fd = -1;	/* from here on the blob is read whole */
	FUZZ_CHECK(r1 == 0 || r1 == -EIO || r1 == -EINVAL || r1 == -E2BIG ||
		   r1 == -ENOTSUP || r1 == -ENOMEM);
	FUZZ_CHECK(!r1 == !!chunked);

	r2 = build(fd, comp, budgeted, &whole);
	if (feed.eio)
		FUZZ_CHECK(r1 == -EIO);
	else
		FUZZ_CHECK(r1 == r2);
	if (whole) {
		toc_fuzz_check(whole);
		if (chunked)
			toc_fuzz_same(chunked, whole);
		/* every other input: encoding (zstd -9 of the windows) costs
		 * as much as the rest, and fuzz_toc_load covers the format */
		if (data[0] & 8) {
			back = toc_fuzz_roundtrip(whole);
			store_toc_free(back);
		}
	}
	store_toc_free(whole);
	store_toc_free(chunked);
	close(fd);
	return 0;
}
