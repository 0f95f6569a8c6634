/* SPDX-License-Identifier: MIT */
/*
 * test_gzran.c - reads of gzip layers inflate with ISA-L; zlib stays the
 * reference.  For several gzip layers (levels 0, 1, 6 and 9, static
 * Huffman codes, several members with and without optional header
 * fields, trailing junk, a layer smaller than a span) the layer is
 * indexed (the scan finds its access points with ISA-L: zlib resuming at
 * each checks that it is a block boundary with the right window, and each
 * layer must get about one per span), then the stream is inflated from
 * every access point to its end with both (store/toc/gzran.c,
 * gz.zlib_only off and on) in output pieces of random size, down to one
 * byte, and both must give the tar's bytes exactly and end where it ends,
 * also when the input comes a few bytes per read.  Both must also fail alike (-EIO) on a blob cut short and on
 * a bad trailer CRC.
 *
 * Looks inside store/toc (toc_int.h) to choose the inflater.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>
#include <zlib.h>

#define CHECK_FATAL
#include "check.h"
#include "log.h"
#include "tar_mem.h"
#include "toc_int.h"

#define SRC(fd) (&(struct store_toc_src){ .fd = (fd) })
#define BIG ((size_t)14 << 20)	/* the large file: between 3 and 4 spans */
#define ZEROS ((size_t)96 << 20)	/* a file of zeros: 24 spans */

static char tmpdir[128];
static uint64_t rng_state = 0x2545f4914f6cdd1dull;

static uint64_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

struct mem { unsigned char *p; size_t len, cap; };

static void mem_add(struct mem *m, const void *d, size_t n)
{
	if (m->len + n > m->cap) {
		m->cap = (m->len + n) * 2;
		m->p = realloc(m->p, m->cap);
		CHECK(m->p);
	}
	memcpy(m->p + m->len, d, n);
	m->len += n;
}

/* Text-like bytes (words), then runs of random and zero bytes, so that
 * blocks of every kind (and long matches) appear. */
static void fill_content(unsigned char *p, size_t n)
{
	static const char *words[] = { "layer ", "index ", "span ", "gzip ",
		"window ", "inflate ", "\n", "access point ", "0123456789 " };
	size_t o = 0;

	while (o < n) {
		uint64_t r = rnd();
		size_t run = 1 + (size_t)(r >> 40) % 300000, i;

		if (run > n - o)
			run = n - o;
		switch (r % 5) {
		case 0:
			for (i = 0; i < run; i++)
				p[o + i] = (unsigned char)rnd();
			break;
		case 1:
			memset(p + o, 0, run);
			break;
		default:
			for (i = 0; i < run;) {
				const char *w = words[rnd() % 9];
				size_t l = strlen(w);

				if (l > run - i)
					l = run - i;
				memcpy(p + o + i, w, l);
				i += l;
			}
		}
		o += run;
	}
}

static void add_file(struct archive *a, const char *name,
		     const unsigned char *d, size_t n)
{
	struct archive_entry *e = archive_entry_new();

	archive_entry_set_pathname(e, name);
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_perm(e, 0644);
	archive_entry_set_size(e, (la_int64_t)n);
	CHECK(archive_write_header(a, e) == ARCHIVE_OK);
	CHECK(archive_write_data(a, d, n) == (la_ssize_t)n);
	archive_entry_free(e);
}

/* A tar of @nsmall small files around one of @big bytes (@zero: all
 * zero bytes). */
static void make_tar(struct mem *tar, size_t big, int nsmall, bool zero)
{
	size_t cap = big + (size_t)nsmall * 8192 + (1 << 20), used = 0;
	struct archive *a = archive_write_new();
	unsigned char *d = malloc(big + 4096);
	char name[64];
	int i;

	CHECK(a && d);
	tar->p = malloc(cap);
	CHECK(tar->p);
	tar_mem_open(a, false, tar->p, cap, &used);
	if (zero)
		memset(d, 0, big + 4096);
	else
		fill_content(d, big + 4096);
	for (i = 0; i < nsmall; i++) {
		snprintf(name, sizeof(name), "etc/small%04d", i);
		add_file(a, name, d + (rnd() % 4096), rnd() % 3000);
		if (i == nsmall / 2)
			add_file(a, "usr/big.bin", d, big);
	}
	if (nsmall == 0)
		add_file(a, "usr/big.bin", d, big);
	CHECK(archive_write_close(a) == ARCHIVE_OK);
	archive_write_free(a);
	tar->len = used;
	tar->cap = cap;
	free(d);
}

/* One gzip member of @d: @level, @strategy; @hdr (optional fields). */
static void gz_member(struct mem *out, const unsigned char *d, size_t n,
		      int level, int strategy, bool hdr)
{
	z_stream zs = { 0 };
	gz_header h = { 0 };
	static unsigned char extra[5] = { 'A', 'B', 2, 0, 7 };
	unsigned char buf[65536];
	int ret;

	CHECK(deflateInit2(&zs, level, Z_DEFLATED, 31, 8, strategy) == Z_OK);
	if (hdr) {
		h.extra = extra;
		h.extra_len = sizeof(extra);
		h.name = (Bytef *)"layer.tar";
		h.comment = (Bytef *)"a comment";
		h.hcrc = 1;
		CHECK(deflateSetHeader(&zs, &h) == Z_OK);
	}
	zs.next_in = (unsigned char *)d;
	zs.avail_in = (uInt)n;
	do {
		zs.next_out = buf;
		zs.avail_out = sizeof(buf);
		ret = deflate(&zs, Z_FINISH);
		mem_add(out, buf, sizeof(buf) - zs.avail_out);
	} while (ret == Z_OK);
	CHECK(ret == Z_STREAM_END);
	deflateEnd(&zs);
}

/* Output pieces of random size: mostly large, sometimes a few bytes. */
static size_t piece(void)
{
	uint64_t r = rnd();

	switch (r % 8) {
	case 0:
		return 1 + (size_t)(r >> 8) % 64;
	case 1:
	case 2:
	case 3:
		return 4096 + (size_t)(r >> 8) % 65536;
	default:
		return (size_t)1 << 20;
	}
}

/* A need callback that lets each pread have one byte only, so that the
 * input buffer is refilled everywhere: at a member's end too, where ISA-L
 * gives back bytes it read before the refill.  Slow: the last span only. */
static bool dribble;

static int dribble_need(void *ctx, uint64_t off, size_t *len)
{
	(void)ctx;
	(void)off;
	*len = 1;
	return 0;
}

/*
 * Inflate @t's stream from checkpoint @i to its end with zlib or ISA-L,
 * reading no byte at or past @end, into @out (cleared).
 */
static int inflate_from(int fd, const struct store_toc *t, size_t i,
			uint64_t end, bool zlib, struct mem *out)
{
	struct store_toc_src src = { .fd = fd,
				     .need = dribble ? dribble_need : NULL };
	struct toc_gz gz = { .zlib_only = zlib };
	struct toc_in in;
	unsigned char *buf = malloc((size_t)1 << 20);
	bool done = false;
	size_t got;
	int rc;

	CHECK(buf);
	out->len = 0;
	CHECK_EQ(toc_in_init(&in), 0);
	toc_in_seek(&in, &src, store_toc_span_start(t, i), end);
	rc = toc_gz_resume(&gz, &in, &t->cps[i]);
	while (!rc && !done) {
		rc = toc_gz_decode(&gz, &in, buf, piece(), &got, &done, NULL);
		if (!rc)
			mem_add(out, buf, got);
		if (!rc && !done && got == 0)
			rc = -EPROTO;	/* no progress: a bug, not the data's */
	}
	toc_gz_end(&gz);
	toc_in_release(&in);
	free(buf);
	return rc;
}

static int build(const char *name, const struct mem *blob, int *fd,
		 struct store_toc **t)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s.gz", tmpdir, name);
	f = fopen(path, "wb");
	CHECK(f);
	CHECK(fwrite(blob->p, 1, blob->len, f) == blob->len);
	CHECK(fclose(f) == 0);
	*fd = open(path, O_RDONLY);
	CHECK(*fd >= 0);
	return store_toc_build(*fd, REGISTRY_COMP_GZIP, t);
}

/* @junk: bytes of trailing junk at the end of @blob */
static void compare(const char *name, const struct mem *blob,
		    const struct mem *tar, size_t min_cps, size_t junk)
{
	struct mem a = { 0 }, b = { 0 };
	struct store_toc *t = NULL;
	size_t i;
	int fd;

	CHECK_EQ(build(name, blob, &fd, &t), 0);
	CHECK_EQ(t->tar_size, tar->len);
	CHECKF(t->n_cps >= min_cps, "%s: %zu access points", name, t->n_cps);
	for (i = dribble ? t->n_cps - 1 : 0; i < t->n_cps; i++) {
		const struct store_toc_checkpoint *cp = &t->cps[i];

		CHECK_EQ(inflate_from(fd, t, i, t->comp_size, true, &a), 0);
		CHECK_EQ(inflate_from(fd, t, i, t->comp_size, false, &b), 0);
		CHECKF(a.len == tar->len - cp->uoff,
		       "%s cp %zu: zlib %zu bytes", name, i, a.len);
		CHECKF(b.len == a.len, "%s cp %zu (bits %u): ISA-L %zu bytes, zlib %zu",
		       name, i, cp->bits, b.len, a.len);
		CHECK_MEM(b.p, a.p, a.len);
		CHECK_MEM(a.p, tar->p + cp->uoff, a.len);
		/* the last member cut one byte short: the same error */
		CHECK_EQ(inflate_from(fd, t, i, t->comp_size - junk - 1, true,
				      &a), -EIO);
		CHECK_EQ(inflate_from(fd, t, i, t->comp_size - junk - 1, false,
				      &b), -EIO);
	}
	printf("%-12s comp %9zu  tar %9zu  access points %zu: ISA-L = zlib\n",
	       name, blob->len, tar->len, t->n_cps);
	store_toc_free(t);
	close(fd);
	free(a.p);
	free(b.p);
}

/* A bad CRC-32 in the trailer: an inflate from the member's start fails
 * with both; one resumed mid-member does not read it (raw deflate). */
static void bad_crc(const struct mem *tar)
{
	struct mem blob = { 0 }, a = { 0 };
	struct store_toc *t = NULL;
	int fd;

	gz_member(&blob, tar->p, tar->len, 6, Z_DEFAULT_STRATEGY, false);
	blob.p[blob.len - 8] ^= 1;
	/* the indexer (zlib, gzip mode) refuses it too */
	CHECK_EQ(build("badcrc", &blob, &fd, &t), -EIO);
	close(fd);
	blob.p[blob.len - 8] ^= 1;
	CHECK_EQ(build("badcrc", &blob, &fd, &t), 0);
	CHECK(t->n_cps >= 2);
	close(fd);
	blob.p[blob.len - 8] ^= 1;
	{
		char path[256];
		FILE *f;

		snprintf(path, sizeof(path), "%s/badcrc.gz", tmpdir);
		f = fopen(path, "wb");
		CHECK(f && fwrite(blob.p, 1, blob.len, f) == blob.len);
		CHECK(fclose(f) == 0);
		fd = open(path, O_RDONLY);
		CHECK(fd >= 0);
	}
	CHECK_EQ(inflate_from(fd, t, 0, t->comp_size, true, &a), -EIO);
	CHECK_EQ(inflate_from(fd, t, 0, t->comp_size, false, &a), -EIO);
	CHECK_EQ(inflate_from(fd, t, 1, t->comp_size, true, &a), 0);
	CHECK_EQ(inflate_from(fd, t, 1, t->comp_size, false, &a), 0);
	store_toc_free(t);
	close(fd);
	free(blob.p);
	free(a.p);
}

int main(void)
{
	static const unsigned char junk[300];
	static const int levels[] = { 0, 1, 6, 9 };
	struct mem tar = { 0 }, small = { 0 }, zeros = { 0 }, blob = { 0 };
	char name[32];
	size_t i, o, cut;

	log_setup(getenv("TOC_DEBUG") ? LOG_LVL_DEBUG : LOG_LVL_ERR, 0);
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_gzran.XXXXXX");
	CHECK(mkdtemp(tmpdir));
	make_tar(&tar, BIG, 400, false);
	make_tar(&small, 20000, 0, false);

	for (i = 0; i < sizeof(levels) / sizeof(levels[0]); i++) {
		blob.len = 0;
		gz_member(&blob, tar.p, tar.len, levels[i], Z_DEFAULT_STRATEGY,
			  false);
		snprintf(name, sizeof(name), "level%d", levels[i]);
		compare(name, &blob, &tar, 4, 0);
	}
	blob.len = 0;
	gz_member(&blob, tar.p, tar.len, 6, Z_FIXED, false);
	/* The scan (ISA-L) sees a fixed-code block's 3-bit header only when
	 * its input ends inside it: access points come late, and the last
	 * hunt may reach the stream's end (gzran.c). */
	compare("fixed", &blob, &tar, 3, 0);
	blob.len = 0;
	gz_member(&blob, tar.p, tar.len, 6, Z_HUFFMAN_ONLY, false);
	compare("huffman", &blob, &tar, 4, 0);
	/* a file of zeros inflates 1000-fold: the scan must not step past
	 * a span in one call (zlib's blocks here hold about 4 MiB each) */
	make_tar(&zeros, ZEROS, 0, true);
	blob.len = 0;
	gz_member(&blob, zeros.p, zeros.len, 6, Z_DEFAULT_STRATEGY, false);
	compare("zeros", &blob, &zeros, ZEROS / (2 * STORE_TOC_SPAN), 0);

	/* members cut at odd places (a tiny one, one ending mid-span), some
	 * with name, comment, extra field and header CRC; junk after */
	blob.len = 0;
	for (o = 0, i = 0; o < tar.len; o += cut, i++) {
		cut = i == 1 ? 777 : (size_t)(STORE_TOC_SPAN * 3 / 4) +
		      (size_t)(rnd() % 100000);
		if (cut > tar.len - o)
			cut = tar.len - o;
		gz_member(&blob, tar.p + o, cut, i % 3 == 2 ? 1 : 6,
			  Z_DEFAULT_STRATEGY, i % 2);
	}
	mem_add(&blob, junk, sizeof(junk));
	compare("multi", &blob, &tar, 4, sizeof(junk));
	dribble = true;
	compare("multi-drib", &blob, &tar, 4, sizeof(junk));
	dribble = false;

	blob.len = 0;
	gz_member(&blob, small.p, small.len, 9, Z_DEFAULT_STRATEGY, true);
	compare("small", &blob, &small, 1, 0);

	bad_crc(&tar);

	free(tar.p);
	free(small.p);
	free(zeros.p);
	free(blob.p);
	{
		char cmd[200];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
		CHECK(system(cmd) == 0);
	}
	return check_done("test_gzran");
}
