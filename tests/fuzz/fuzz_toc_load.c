/* SPDX-License-Identifier: MIT */
/*
 * fuzz_toc_load.c - the on-disk index loader (store/toc/format.c:
 * store_toc_decode), and reads through whatever checkpoints a loaded
 * index holds.
 *
 * format.c promises that a well-checksummed hostile file is -EINVAL and
 * never a crash, so this target gets past the checksum and the body's
 * compression on purpose.  Input: a mode byte, a 16-bit length B, then
 * the index file, then B bytes of layer blob.  Mode & 3:
 *   0  the file as it is;
 *   1  the file with its XXH3 trailer made right;
 *   2, 3  the file is the 192-byte header and the body uncompressed: the
 *      body is compressed here and the header's body sizes and the
 *      trailer filled in (mode & 4: the header's declared body size is
 *      kept as given), so the fuzzer edits records, strings and offsets
 *      directly.
 * Beyond not crashing: an index that loads keeps toc.h's promises
 * (toc_fuzz_check), encodes to a file that loads to the same index, and
 * reads from it through a blob (which need not match it) return data or
 * an error, asking the source for no byte at or past comp_size.
 */
#include <errno.h>

#include <xxhash.h>
#include <zstd.h>

#include "toc_fuzz.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define HDR_SIZE 192		/* format.c's header, docs/index-format.md */
#define HDR_BODY_LEN 152
#define HDR_BODY_ZLEN 160
#define SUM_LEN 8

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_log_quiet();
	return 0;
}

static void put64(unsigned char *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

/* The index file to decode, malloc'd (decode takes it over). */
static unsigned char *make_file(uint8_t mode, const uint8_t *d, size_t n, size_t *len)
{
	unsigned char *f;
	size_t cap, z;

	if ((mode & 3) < 2) {
		f = fuzz_dup(d, n);
		if ((mode & 3) == 1 && n >= SUM_LEN)
			put64(f + n - SUM_LEN, XXH3_64bits(f, n - SUM_LEN));
		*len = n;
		return f;
	}
	if (n < HDR_SIZE)
		return NULL;
	cap = ZSTD_compressBound(n - HDR_SIZE);
	f = malloc(HDR_SIZE + cap + SUM_LEN);
	FUZZ_CHECK(f);
	memcpy(f, d, HDR_SIZE);
	z = ZSTD_compress(f + HDR_SIZE, cap, d + HDR_SIZE, n - HDR_SIZE, 1);
	FUZZ_CHECK(!ZSTD_isError(z));
	if (!(mode & 4))
		put64(f + HDR_BODY_LEN, n - HDR_SIZE);
	put64(f + HDR_BODY_ZLEN, z);
	put64(f + HDR_SIZE + z, XXH3_64bits(f, HDR_SIZE + z));
	*len = HDR_SIZE + z + SUM_LEN;
	return f;
}

static int need_cb(void *arg, uint64_t off, size_t *len)
{
	const struct store_toc *toc = arg;

	FUZZ_CHECK(*len > 0);
	FUZZ_CHECK(off < toc->comp_size && *len <= toc->comp_size - off);
	return 0;
}

/* A few bytes at and after each checkpoint (bounded work whatever the
 * header claims), then one cursor reading on from the start. */
static void reads(const struct store_toc *toc, int fd)
{
	struct store_toc_src src = { .fd = fd, .need = need_cb, .ctx = (void *)toc };
	struct store_toc_cursor *cur = NULL;
	unsigned char buf[4096];
	size_t got;
	int ret;

	FUZZ_CHECK(store_toc_cursor_new(&cur) == 0);
	for (size_t i = 0; i < toc->n_cps && i < 64; i++) {
		ret = store_toc_read(toc, &src, NULL, buf, 100, toc->cps[i].uoff, &got);
		FUZZ_CHECK(ret <= 0 && got <= 100);
		ret = store_toc_read(toc, &src, cur, buf, sizeof(buf),
				     toc->cps[i].uoff + 1000, &got);
		FUZZ_CHECK(ret <= 0 && got <= sizeof(buf));
	}
	for (uint64_t off = 0; off < ((uint64_t)64 << 10); off += sizeof(buf)) {
		ret = store_toc_read(toc, &src, cur, buf, sizeof(buf), off, &got);
		FUZZ_CHECK(ret <= 0 && got <= sizeof(buf));
		if (ret || got < sizeof(buf))
			break;
	}
	store_toc_cursor_free(cur);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct store_toc *toc = NULL, *back;
	unsigned char *f;
	size_t blob_len, file_len, flen = 0;
	uint8_t mode;
	int fd, ret;

	if (size < 3)
		return 0;
	mode = data[0];
	blob_len = (size_t)data[1] | (size_t)data[2] << 8;
	data += 3;
	size -= 3;
	if (blob_len > size)
		blob_len = size;
	file_len = size - blob_len;
	f = make_file(mode, data, file_len, &flen);
	if (!f)
		return 0;
	ret = store_toc_decode(f, flen, &toc);	/* takes @f */
	FUZZ_CHECK(ret == 0 || ret == -EINVAL);
	FUZZ_CHECK(!ret == !!toc);
	if (ret)
		return 0;
	toc_fuzz_check(toc);
	back = toc_fuzz_roundtrip(toc);
	store_toc_free(back);
	fd = fuzz_memfd(data + file_len, blob_len);
	reads(toc, fd);
	close(fd);
	store_toc_free(toc);
	return 0;
}
