/* SPDX-License-Identifier: MIT */
/*
 * test_toc.c - the layer index (store/toc.h): build, encode/decode (and
 * the on-disk codes docs/index-format.md documents), ranged reads, xattr
 * de-duplication, and hostile input.
 *
 * Tars are written with libarchive's writer (pax) in a temp dir, then
 * compressed here as gzip (one member, several members, trailing junk),
 * zstd (one frame, several frames with a skippable frame) and plain.  Every
 * entry's metadata is checked, every file's content is read back through
 * store_toc_read at random offsets with and without a cursor and compared
 * with what was written, and the diff_id is compared with an independent
 * sha256 of the tar.  Chunks: each chunk digest is compared with an
 * independent sha256 of its compressed bytes; spans: reads go through a
 * need callback over a sparse copy of the blob, checking that a read
 * fetches exactly the spans it needs.  Hostile tars are hand-made where the
 * writer would refuse.  Prints the index size as a share of the compressed size and the
 * indexing throughput.
 */
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>
#include <openssl/evp.h>
#include <xxhash.h>
#include <zlib.h>
#include <zstd.h>

#define CHECK_FATAL	/* later steps use what the checks vouched for */
#include "check.h"
#include "log.h"
#include "toc.h"

/* A source whose every byte is present. */
#define SRC(fd) (&(struct store_toc_src){ .fd = (fd) })

static char tmpdir[256];
static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

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

/* ---- the test layer ---------------------------------------------------- */

struct spec {
	const char *in, *norm;	/* name written, name expected */
	int type;
	unsigned mode;
	const char *link_in, *link_norm;
	unsigned char *data;
	size_t size;
	unsigned devmaj, devmin;
	int xattrs;
};

static char long150[200], long300[400], long150n[200], long300n[400];
static unsigned char *big, *text;
/* sizes in spans, so every layer has several */
#define BIG_SIZE ((size_t)(STORE_TOC_SPAN * 5 / 2))
#define TEXT_SIZE ((size_t)(STORE_TOC_SPAN * 2))
static unsigned char hosts[] = "127.0.0.1 localhost\n";
static const unsigned char capval[20] = { 1, 0, 0, 2, 0x20, 0, 0, 0, 0, 0 };

static struct spec specs[] = {
	{ "./", "", STORE_FT_DIR, 0755, 0, 0, 0, 0, 0, 0, 0 },
	{ "etc/", "etc", STORE_FT_DIR, 0755, 0, 0, 0, 0, 0, 0, 0 },
	{ "etc/hosts", "etc/hosts", STORE_FT_REG, 0644, 0, 0, hosts,
	  sizeof(hosts) - 1, 0, 0, 0 },
	{ "/etc//./hosts.link", "etc/hosts.link", STORE_FT_HARDLINK, 0644,
	  "./etc/hosts", "etc/hosts", 0, 0, 0, 0, 0 },
	{ "etc/sym", "etc/sym", STORE_FT_SYMLINK, 0777, "../x//y", "../x//y",
	  0, 0, 0, 0, 0 },
	{ "bin/ping", "bin/ping", STORE_FT_REG, 0755, 0, 0, hosts, 5, 0, 0, 1 },
	{ "bin/su", "bin/su", STORE_FT_REG, 04755, 0, 0, hosts, 3, 0, 0, 0 },
	{ "bin/sg", "bin/sg", STORE_FT_REG, 02711, 0, 0, 0, 0, 0, 0, 0 },
	{ "tmp/", "tmp", STORE_FT_DIR, 01777, 0, 0, 0, 0, 0, 0, 0 },
	{ "dev/null", "dev/null", STORE_FT_CHR, 0666, 0, 0, 0, 0, 1, 3, 0 },
	{ "dev/sda", "dev/sda", STORE_FT_BLK, 0660, 0, 0, 0, 0, 8, 0, 0 },
	{ "dev/max", "dev/max", STORE_FT_CHR, 0600, 0, 0, 0, 0, 0xfff, 0xfffff, 0 },
	{ "run/fifo", "run/fifo", STORE_FT_FIFO, 0600, 0, 0, 0, 0, 0, 0, 0 },
	{ "empty", "empty", STORE_FT_REG, 0644, 0, 0, 0, 0, 0, 0, 0 },
	{ "big.bin", "big.bin", STORE_FT_REG, 0644, 0, 0, 0, 0, 0, 0, 0 },
	{ "usr/share/doc.txt", "usr/share/doc.txt", STORE_FT_REG, 0644, 0, 0,
	  0, 0, 0, 0, 0 },
	{ "etc/.wh.gone", "etc/.wh.gone", STORE_FT_REG, 0, 0, 0, 0, 0, 0, 0, 0 },
	{ long150, long150n, STORE_FT_REG, 0600, 0, 0, hosts, 10, 0, 0, 0 },
	{ long300, long300n, STORE_FT_REG, 0600, 0, 0, hosts, 7, 0, 0, 0 },
	{ "/abs/file", "abs/file", STORE_FT_REG, 0644, 0, 0, hosts, 9, 0, 0, 0 },
};
#define N_SPECS (sizeof(specs) / sizeof(specs[0]))

static void make_content(void)
{
	static const char *words[] = { "the ", "layer ", "index ", "of ",
		"gzip ", "zstd ", "tar ", "entry\n", "checkpoint ", "window " };
	size_t i, o = 0;

	big = malloc(BIG_SIZE);
	text = malloc(TEXT_SIZE);
	CHECK(big && text);
	for (i = 0; i < BIG_SIZE; i += 8) {
		uint64_t v = rnd();
		memcpy(big + i, &v, 8);
	}
	while (o < TEXT_SIZE) {
		const char *w = words[rnd() % 10];
		size_t n = strlen(w);

		if (n > TEXT_SIZE - o)
			n = TEXT_SIZE - o;
		memcpy(text + o, w, n);
		o += n;
	}
	/* >100 (ustar name) and >255 (ustar prefix+name) characters */
	memset(long150, 'a', 150);
	memcpy(long150, "./d1/", 5);
	memcpy(long150n, long150 + 2, 148);
	for (i = 0; i < 300; i++)
		long300[i] = (i % 50 == 49) ? '/' : (char)('b' + i % 20);
	long300[299] = 'z';
	memcpy(long300n, long300, 300);
	for (i = 0; i < N_SPECS; i++) {
		if (!strcmp(specs[i].norm, "big.bin")) {
			specs[i].data = big;
			specs[i].size = BIG_SIZE;
		} else if (!strcmp(specs[i].norm, "usr/share/doc.txt")) {
			specs[i].data = text;
			specs[i].size = TEXT_SIZE;
		}
	}
}

static void write_tar(const char *path)
{
	struct archive *a = archive_write_new();
	struct archive_entry *e;
	size_t i;

	CHECK(a);
	CHECK(archive_write_set_format_pax(a) == ARCHIVE_OK);
	CHECK(archive_write_open_filename(a, path) == ARCHIVE_OK);
	for (i = 0; i < N_SPECS; i++) {
		const struct spec *s = &specs[i];
		static const unsigned ft[] = { 0, AE_IFREG, AE_IFDIR, AE_IFLNK,
			AE_IFREG, AE_IFCHR, AE_IFBLK, AE_IFIFO };

		e = archive_entry_new();
		archive_entry_set_pathname(e, s->in);
		archive_entry_set_filetype(e, ft[s->type]);
		archive_entry_set_perm(e, s->mode);
		archive_entry_set_uid(e, 1000 + i);
		archive_entry_set_gid(e, 2000 + i);
		archive_entry_set_mtime(e, 1600000000 + (time_t)i,
					(long)(i * 1000 + 7));
		if (s->type == STORE_FT_SYMLINK)
			archive_entry_set_symlink(e, s->link_in);
		if (s->type == STORE_FT_HARDLINK)
			archive_entry_set_hardlink(e, s->link_in);
		if (s->type == STORE_FT_CHR || s->type == STORE_FT_BLK) {
			archive_entry_set_rdevmajor(e, s->devmaj);
			archive_entry_set_rdevminor(e, s->devmin);
		}
		if (s->xattrs) {
			archive_entry_xattr_add_entry(e, "security.capability",
						      capval, sizeof(capval));
			archive_entry_xattr_add_entry(e, "user.note", "hello", 5);
		}
		archive_entry_set_size(e, s->type == STORE_FT_REG ?
				       (la_int64_t)s->size : 0);
		CHECK(archive_write_header(a, e) == ARCHIVE_OK);
		if (s->size)
			CHECK(archive_write_data(a, s->data, s->size) ==
			      (la_ssize_t)s->size);
		archive_entry_free(e);
	}
	CHECK(archive_write_close(a) == ARCHIVE_OK);
	archive_write_free(a);
}

static void read_file(const char *path, struct mem *m)
{
	int fd = open(path, O_RDONLY);
	unsigned char b[65536];
	ssize_t n;

	CHECK(fd >= 0);
	memset(m, 0, sizeof(*m));
	while ((n = read(fd, b, sizeof(b))) > 0)
		mem_add(m, b, (size_t)n);
	close(fd);
}

static void write_file(const char *path, const void *d, size_t n)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	CHECK(fd >= 0);
	CHECK(write(fd, d, n) == (ssize_t)n);
	close(fd);
}

/* ---- compressors --------------------------------------------------------- */

static void gz_member(struct mem *out, const unsigned char *d, size_t n)
{
	z_stream zs = { 0 };
	unsigned char buf[65536];
	int ret;

	CHECK(deflateInit2(&zs, 6, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY) == Z_OK);
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

static void zst_frame(struct mem *out, const unsigned char *d, size_t n)
{
	size_t cap = ZSTD_compressBound(n), r;
	unsigned char *b = malloc(cap);

	CHECK(b);
	r = ZSTD_compress(b, cap, d, n, 3);
	CHECK(!ZSTD_isError(r));
	mem_add(out, b, r);
	free(b);
}

/* ---- checks -------------------------------------------------------------- */

static void sha256_of(const struct mem *m, char out[72])
{
	unsigned char md[32];
	unsigned int l = 0;

	CHECK(EVP_Digest(m->p, m->len, md, &l, EVP_sha256(), NULL) == 1);
	memcpy(out, "sha256:", 7);
	for (int i = 0; i < 32; i++)
		snprintf(out + 7 + 2 * i, 3, "%02x", md[i]);
}

static const struct store_toc_entry *find(const struct store_toc *t,
					  const char *path)
{
	for (size_t i = 0; i < t->n_entries; i++)
		if (!strcmp(t->entries[i].path, path))
			return &t->entries[i];
	return NULL;
}

static void check_meta(const struct store_toc *t, const struct mem *tar)
{
	size_t i;

	CHECK(t->n_entries == N_SPECS);
	for (i = 0; i < N_SPECS; i++) {
		const struct spec *s = &specs[i];
		const struct store_toc_entry *e = &t->entries[i];

		CHECKF(!strcmp(e->path, s->norm), "entry %zu: %s != %s", i, e->path, s->norm);
		CHECK(e->type == s->type);
		if (s->type != STORE_FT_SYMLINK)
			CHECK(e->mode == s->mode);
		CHECK(e->uid == 1000 + i && e->gid == 2000 + i);
		CHECK(e->mtime_sec == 1600000000 + (int64_t)i);
		CHECK(e->mtime_nsec == i * 1000 + 7);
		if (s->link_norm)
			CHECK(e->link && !strcmp(e->link, s->link_norm));
		else
			CHECK(!e->link);
		CHECK(e->devmajor == s->devmaj && e->devminor == s->devmin);
		CHECK(e->size == (s->type == STORE_FT_REG ? s->size : 0));
		if (e->size) {
			/* the offset libarchive's position gave is the data */
			CHECK(e->offset + e->size <= tar->len);
			CHECK_MEM(tar->p + e->offset, s->data, s->size);
		}
		if (e->n_xattrs != (s->xattrs ? 2u : 0u)) { for (unsigned k = 0; k < e->n_xattrs; k++) fprintf(stderr, "%s xattr %s\n", e->path, t->xattrs[e->xattr_first + k].name); }
		CHECK(e->n_xattrs == (s->xattrs ? 2u : 0u));
		if (s->xattrs) {
			const struct store_xattr *x = &t->xattrs[e->xattr_first];
			int seen = 0;

			for (int k = 0; k < 2; k++) {
				if (!strcmp(x[k].name, "security.capability")) {
					CHECK(x[k].len == sizeof(capval));
					CHECK_MEM(x[k].value, capval, sizeof(capval));
					seen |= 1;
				} else if (!strcmp(x[k].name, "user.note")) {
					CHECK(x[k].len == 5 && !memcmp(x[k].value, "hello", 5));
					seen |= 2;
				}
			}
			CHECK(seen == 3);
		}
	}
	CHECK(t->tar_size == tar->len);
	CHECK(t->n_cps >= 1 && t->cps[0].uoff == 0);
	for (i = 1; i < t->n_cps; i++)
		CHECK(t->cps[i].uoff > t->cps[i - 1].uoff);
}

static void check_reads(const struct store_toc *t, int fd,
			const struct mem *tar)
{
	struct store_toc_cursor *cur;
	unsigned char *b = malloc((size_t)2 << 20);
	size_t got, i;
	int round;

	CHECK(b);
	CHECK_EQ(store_toc_cursor_new(&cur), 0);
	for (round = 0; round < 300; round++) {
		const struct spec *s = &specs[rnd() % N_SPECS];
		const struct store_toc_entry *e = find(t, s->norm);
		uint64_t off;
		size_t len;

		CHECK(e);
		if (!e->size)
			continue;
		off = rnd() % e->size;
		len = (size_t)(rnd() % ((round % 3) ? 70000 : (2u << 20)));
		if (len > e->size - off)
			len = (size_t)(e->size - off);
		CHECK_EQ(store_toc_read(t, SRC(fd), (round & 1) ? cur : NULL, b, len,
					e->offset + off, &got), 0);
		CHECK(got == len);
		CHECK_MEM(b, s->data + off, len);
	}
	/* sequential: every read continues the cursor */
	for (i = 0; i < N_SPECS; i++) {
		const struct store_toc_entry *e = find(t, specs[i].norm);
		uint64_t o = 0;

		while (o < e->size) {
			size_t len = 4096 + (size_t)(rnd() % 131072);

			if (len > e->size - o)
				len = (size_t)(e->size - o);

			CHECK_EQ(store_toc_read(t, SRC(fd), cur, b, len,
						e->offset + o, &got), 0);
			CHECK(got == len);
			CHECK_MEM(b, specs[i].data + o, got);
			o += got;
		}
	}
	/* the whole stream, incl. headers and the end; past the end: 0 */
	for (round = 0; round < 100; round++) {
		uint64_t off = rnd() % tar->len;
		size_t len = (size_t)(rnd() % 300000);

		CHECK_EQ(store_toc_read(t, SRC(fd), (round & 1) ? cur : NULL, b, len,
					off, &got), 0);
		CHECK(got == (len < tar->len - off ? len : tar->len - off));
		CHECK_MEM(b, tar->p + off, got);
	}
	CHECK_EQ(store_toc_read(t, SRC(fd), cur, b, 10, tar->len, &got), 0);
	CHECK(got == 0);
	store_toc_cursor_free(cur);
	free(b);
}

/* ---- spans --------------------------------------------------------------- */

/*
 * A blob fetched span by span: a sparse copy in a file where the spans
 * not marked present are zeros, and a need callback that "fetches" the
 * span of a missing byte from the real blob and records what it was asked.
 */
struct sparse {
	const struct store_toc *t;
	const struct mem *blob;
	int fd;
	bool *present;		/* per span */
	unsigned *fetched;	/* per span: times fetched */
	uint64_t lo, hi;	/* union of the ranges need reported present */
	unsigned calls;
	bool bad;		/* need was called against its contract */
};

static bool sp_has(const struct sparse *sp, uint64_t off)
{
	size_t j = store_toc_span_at(sp->t, off);

	if (j >= sp->t->n_cps)
		return false;
	return sp->present[j] ||
	       (j > 0 && sp->present[j - 1] &&
		off < store_toc_span_end(sp->t, j - 1));
}

static int sp_need(void *ctx, uint64_t off, size_t *len)
{
	struct sparse *sp = ctx;
	const struct store_toc *t = sp->t;
	uint64_t e = off;

	sp->calls++;
	if (*len == 0 || off >= t->comp_size) {
		sp->bad = true;
		return -EINVAL;
	}
	if (!sp_has(sp, off)) {
		size_t k = store_toc_span_at(t, off);
		uint64_t a = store_toc_span_start(t, k);
		uint64_t b = store_toc_span_end(t, k);

		CHECK(pwrite(sp->fd, sp->blob->p + a, b - a, (off_t)a) ==
		      (ssize_t)(b - a));
		sp->present[k] = true;
		sp->fetched[k]++;
	}
	while (e < off + *len && sp_has(sp, e)) {
		size_t j = store_toc_span_at(t, e);

		e = sp->present[j] ? store_toc_span_end(t, j) :
		    store_toc_span_end(t, j - 1);
	}
	if (e < off + *len)
		*len = (size_t)(e - off);
	if (off < sp->lo)
		sp->lo = off;
	if (off + *len > sp->hi)
		sp->hi = off + *len;
	return 0;
}

/* Nothing present: a sparse file of zeros. */
static void sp_reset(struct sparse *sp)
{
	CHECK(ftruncate(sp->fd, 0) == 0);
	CHECK(ftruncate(sp->fd, (off_t)sp->t->comp_size) == 0);
	memset(sp->present, 0, sp->t->n_cps * sizeof(*sp->present));
	memset(sp->fetched, 0, sp->t->n_cps * sizeof(*sp->fetched));
	sp->lo = UINT64_MAX;
	sp->hi = 0;
	sp->calls = 0;
	sp->bad = false;
}

/*
 * Read [off, off + len) of the stream from nothing present: the bytes are
 * right, exactly spans @k0..@k1 were fetched (once each), and need never
 * reported a byte outside them.
 */
static void sp_read(struct sparse *sp, const struct mem *tar, uint64_t off,
		    size_t len, size_t k0, size_t k1, const char *what)
{
	const struct store_toc *t = sp->t;
	struct store_toc_src src = { .fd = sp->fd, .need = sp_need, .ctx = sp };
	unsigned char *b = malloc(len ? len : 1);
	size_t got = 0;

	CHECK(b);
	sp_reset(sp);
	CHECK_EQ(store_toc_read(t, &src, NULL, b, len, off, &got), 0);
	CHECKF(got == len && !memcmp(b, tar->p + off, len),
	       "%s: read of %zu at %llu", what, len, (unsigned long long)off);
	CHECK(!sp->bad && sp->calls > 0);
	for (size_t i = 0; i < t->n_cps; i++)
		CHECKF(sp->fetched[i] == (i >= k0 && i <= k1),
		       "%s: span %zu fetched %u times (want spans %zu..%zu)",
		       what, i, sp->fetched[i], k0, k1);
	CHECKF(sp->lo >= store_toc_span_start(t, k0) &&
	       sp->hi <= store_toc_span_end(t, k1),
	       "%s: need reported [%llu, %llu) outside spans %zu..%zu", what,
	       (unsigned long long)sp->lo, (unsigned long long)sp->hi, k0, k1);
	/* again, with those spans present: nothing more is fetched */
	CHECK_EQ(store_toc_read(t, &src, NULL, b, len, off, &got), 0);
	CHECK(got == len && !memcmp(b, tar->p + off, len));
	for (size_t i = k0; i <= k1; i++)
		CHECK(sp->fetched[i] == 1);
	free(b);
}

/* The end of span @i in the uncompressed stream. */
static uint64_t uend(const struct store_toc *t, size_t i)
{
	return i + 1 < t->n_cps ? t->cps[i + 1].uoff : t->tar_size;
}

/*
 * Spans: they tile the blob; each chunk digest is the sha256 of exactly
 * its compressed bytes (computed here independently); span_at/span_of at the
 * boundaries; reads through a need callback fetch only the spans they
 * need and never see an absent byte.
 */
static void check_spans(const char *name, const struct store_toc *t,
			const struct mem *blob, const struct mem *tar)
{
	struct sparse sp = { .t = t, .blob = blob };
	char path[512];
	size_t n = t->n_cps, i;

	CHECK(n >= 1 && t->cps[0].uoff == 0 && t->cps[0].coff == 0);
	CHECK_EQ(store_toc_span_start(t, 0), 0);
	CHECK_EQ(store_toc_span_end(t, n - 1), blob->len);
	for (i = 0; i < n; i++) {
		uint64_t a = store_toc_span_start(t, i);
		uint64_t e = store_toc_span_end(t, i);
		CHECK(a < e && e <= blob->len);
		CHECK_EQ(a, t->cps[i].coff - (t->cps[i].bits ? 1 : 0));
		if (t->comp == REGISTRY_COMP_NONE)
			CHECK(t->cps[i].coff == t->cps[i].uoff && !t->cps[i].bits);
		if (i + 1 < n) {
			uint64_t a2 = store_toc_span_start(t, i + 1);

			/* neighbours meet, or share the one byte */
			CHECK(a2 == e - (t->cps[i + 1].bits ? 1 : 0));
		}
		CHECK_EQ(store_toc_span_at(t, a), i);
		CHECK_EQ(store_toc_span_at(t, e - 1),
			 i + 1 < n && t->cps[i + 1].bits ? i + 1 : i);
		CHECK_EQ(store_toc_span_of(t, t->cps[i].uoff), i);
		if (i)
			CHECK_EQ(store_toc_span_of(t, t->cps[i].uoff - 1), i - 1);
	}
	CHECK_EQ(store_toc_span_at(t, blob->len), n);
	/* the chunks: the blob cut every chunk_size bytes, each record the
	 * blob's sha256 state at its end (the last: the blob's digest), each
	 * chunk checked alone from the record before it, and a chunk with one
	 * bit flipped refused */
	CHECK(t->chunk_size == STORE_TOC_CHUNK);
	CHECK_EQ(t->n_chunks, (blob->len + t->chunk_size - 1) / t->chunk_size);
	{
		unsigned char md[32];
		unsigned int l = 0;

		CHECK(EVP_Digest(blob->p, blob->len, md, &l, EVP_sha256(), NULL) == 1);
		CHECKF(!memcmp(md, t->chunk_md[t->n_chunks - 1], 32),
		       "%s: the last chunk record is not the blob's digest", name);
	}
	for (i = 0; i < t->n_chunks; i++) {
		uint64_t a = (uint64_t)i * t->chunk_size, e = store_toc_chunk_end(t, i);
		const unsigned char *prev = i ? t->chunk_md[i - 1] : NULL;
		bool last = i + 1 == t->n_chunks;
		unsigned char md[32], *bad;

		CHECK(a < e && e <= blob->len && (i + 1 < t->n_chunks || e == blob->len));
		CHECKF(store_chain_check(prev, a, blob->p + a, e - a, last,
					 t->chunk_md[i], md) == 0,
		       "%s: chunk %zu [%llu, %llu) does not check out", name, i,
		       (unsigned long long)a, (unsigned long long)e);
		bad = malloc(e - a);
		CHECK(bad);
		memcpy(bad, blob->p + a, e - a);
		bad[(e - a) / 2] ^= 1;
		CHECK_EQ(store_chain_check(prev, a, bad, e - a, last, t->chunk_md[i],
					   md), -EIO);
		free(bad);
	}
	CHECK_EQ(store_toc_span_at(t, blob->len + 100), n);
	CHECK_EQ(store_toc_span_of(t, tar->len - 1), n - 1);
	CHECK_EQ(store_toc_span_of(t, tar->len), n);

	snprintf(path, sizeof(path), "%s/%s.sparse", tmpdir, name);
	sp.fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	sp.present = calloc(n, sizeof(*sp.present));
	sp.fetched = calloc(n, sizeof(*sp.fetched));
	CHECK(sp.fd >= 0 && sp.present && sp.fetched);
	for (i = 0; i < n; i++) {
		uint64_t u0 = t->cps[i].uoff, u1 = uend(t, i);
		size_t len = u1 - u0 < 4096 ? (size_t)(u1 - u0) : 4096;

		if (u0 == u1)
			continue;
		/* a span's first bytes, middle and last bytes */
		sp_read(&sp, tar, u0, len, i, i, "first");
		sp_read(&sp, tar, u0 + (u1 - u0) / 2 - len / 2, len, i, i,
			"middle");
		sp_read(&sp, tar, u1 - len, len, i, i, "last");
		/* across into the next span */
		if (i + 1 < n && uend(t, i + 1) - u1 >= 100 && u1 - u0 >= 100)
			sp_read(&sp, tar, u1 - 100, 200, i, i + 1, "across");
	}
	close(sp.fd);
	free(sp.present);
	free(sp.fetched);
}

static void check_equal(const struct store_toc *a, const struct store_toc *b)
{
	CHECK(a->comp == b->comp && a->comp_size == b->comp_size);
	CHECK(a->tar_size == b->tar_size && !strcmp(a->diff_id, b->diff_id));
	CHECK(a->n_entries == b->n_entries && a->n_xattrs == b->n_xattrs);
	CHECK(a->n_cps == b->n_cps);
	for (size_t i = 0; i < a->n_entries; i++) {
		const struct store_toc_entry *x = &a->entries[i], *y = &b->entries[i];

		CHECK(!strcmp(x->path, y->path));
		CHECK((!x->link && !y->link) ||
		      (x->link && y->link && !strcmp(x->link, y->link)));
		CHECK(x->type == y->type && x->mode == y->mode);
		CHECK(x->uid == y->uid && x->gid == y->gid);
		CHECK(x->mtime_sec == y->mtime_sec && x->mtime_nsec == y->mtime_nsec);
		CHECK(x->devmajor == y->devmajor && x->devminor == y->devminor);
		CHECK(x->size == y->size && x->offset == y->offset);
		CHECK(x->xattr_first == y->xattr_first && x->n_xattrs == y->n_xattrs);
	}
	for (size_t i = 0; i < a->n_xattrs; i++) {
		CHECK(!strcmp(a->xattrs[i].name, b->xattrs[i].name));
		CHECK(a->xattrs[i].len == b->xattrs[i].len);
		CHECK(!a->xattrs[i].len ||
		      !memcmp(a->xattrs[i].value, b->xattrs[i].value, a->xattrs[i].len));
	}
	for (size_t i = 0; i < a->n_cps; i++) {
		const struct store_toc_checkpoint *x = &a->cps[i], *y = &b->cps[i];

		CHECK(x->uoff == y->uoff && x->coff == y->coff && x->bits == y->bits);
		CHECK(x->window_len == y->window_len);
		CHECK(!x->window_len || !memcmp(x->window, y->window, x->window_len));
	}
	CHECK(a->chunk_size == b->chunk_size && a->n_chunks == b->n_chunks);
	CHECK(!memcmp(a->chunk_md, b->chunk_md, a->n_chunks * 32));
}

/* The index's on-disk form goes through a file as the store keeps it. */
static int toc_save(const struct store_toc *t, const char *path)
{
	struct buf b;
	int ret = store_toc_encode(t, &b);

	if (ret)
		return ret;
	write_file(path, b.data, b.len);
	buf_release(&b);
	return 0;
}

static int toc_load(const char *path, struct store_toc **out)
{
	struct mem m;

	read_file(path, &m);
	return store_toc_decode(m.p, m.len, out);	/* takes m.p */
}

/*
 * The compression code in the header is what docs/index-format.md says
 * (offset 16, 4 bytes LE: 0 none, 1 gzip, 2 zstd), whatever the numbering
 * of enum registry_compression; so is the first entry's type code (the
 * root directory: 2) in the zstd-compressed body after the header.  A file
 * with an unknown code, checksum and all intact, is refused; so is one
 * whose body is not exactly the declared size, or declares one past the
 * cap.
 */
#define DOC_HDR_SIZE 192
#define DOC_HDR_VERSION 8
#define DOC_VERSION 7
#define DOC_HDR_CHUNK 168
#define DOC_HDR_N_CHUNKS 176
#define DOC_HDR_CHUNKS_OFF 184
#define DOC_HDR_COMP_SIZE 24
#define DOC_ENT_OFFSET 0
#define DOC_ENT_PATH 28
#define DOC_ENT_LINK 32
#define DOC_HDR_COMP 16
#define DOC_HDR_ENTRIES_OFF 96
#define DOC_HDR_STRTAB_OFF 120
#define DOC_HDR_STRTAB_LEN 128
#define DOC_HDR_BODY_LEN 152
#define DOC_HDR_BODY_ZLEN 160
#define DOC_ENT_TYPE 38
#define DOC_ENT_MODE 36
#define DOC_ENT_DEVMAJOR 48
#define DOC_ENT_DEVMINOR 52
#define DOC_ENT_N_XATTRS 60
#define DOC_TYPE_DIR 2

static uint32_t doc_comp_code(enum registry_compression comp)
{
	switch (comp) {
	case REGISTRY_COMP_NONE:
		return 0;
	case REGISTRY_COMP_GZIP:
		return 1;
	case REGISTRY_COMP_ZSTD:
		return 2;
	default:
		CHECKF(0, "no documented code for compression %d", (int)comp);
		return UINT32_MAX;
	}
}

/* Field @f (@w bytes) of entry @i of @n in the table @tb, stored by
 * column and each column by byte plane. */
static uint64_t doc_field(const unsigned char *tb, size_t n, size_t f,
			  size_t w, size_t i)
{
	uint64_t v = 0;

	for (size_t b = 0; b < w; b++)
		v |= (uint64_t)tb[n * f + b * n + i] << (8 * b);
	return v;
}

static uint32_t le32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static uint64_t le64(const unsigned char *p)
{
	return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32;
}

static void put_le64(unsigned char *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static void resum(unsigned char *f, size_t len)
{
	put_le64(f + len - 8, XXH3_64bits(f, len - 8));
}

/* Put @v at @at of the encoded index and make its checksum right again. */
static void patch_resum(unsigned char *f, size_t len, size_t at, uint8_t v)
{
	f[at] = v;
	resum(f, len);
}

/* The body of encoded index @f, decompressed as the document says. */
static unsigned char *doc_body(const unsigned char *f, size_t len,
			       size_t *blen)
{
	uint64_t n = le64(f + DOC_HDR_BODY_LEN), z = le64(f + DOC_HDR_BODY_ZLEN);
	unsigned char *b = malloc(n);

	CHECK(b && DOC_HDR_SIZE + z + 8 == len);
	CHECK(ZSTD_decompress(b, n, f + DOC_HDR_SIZE, z) == n);
	*blen = n;
	return b;
}

/* An index file of header @hdr and body @body (@blen bytes), declaring a
 * body of @decl bytes, checksum right. */
static unsigned char *doc_pack(const unsigned char *hdr,
			       const unsigned char *body, size_t blen,
			       uint64_t decl, size_t *len)
{
	size_t cap = ZSTD_compressBound(blen), z;
	unsigned char *f = malloc(DOC_HDR_SIZE + cap + 8);

	CHECK(f);
	memcpy(f, hdr, DOC_HDR_SIZE);
	z = ZSTD_compress(f + DOC_HDR_SIZE, cap, body, blen, 3);
	CHECK(!ZSTD_isError(z));
	put_le64(f + DOC_HDR_BODY_LEN, decl);
	put_le64(f + DOC_HDR_BODY_ZLEN, z);
	*len = DOC_HDR_SIZE + z + 8;
	resum(f, *len);
	return f;
}

static void check_codes(const struct store_toc *t)
{
	struct store_toc *l = NULL;
	struct buf b;
	unsigned char *f, *body, *g, *typ;
	size_t len, blen, glen;

	CHECK_EQ(store_toc_encode(t, &b), 0);
	f = (unsigned char *)buf_detach(&b, &len);
	CHECK(len > DOC_HDR_SIZE + 8);
	CHECK_EQ(le32(f + DOC_HDR_COMP), doc_comp_code(t->comp));
	CHECK_EQ(le32(f + DOC_HDR_VERSION), DOC_VERSION);
	/* the chunk digests: size, count, and the first one where the
	 * header says, equal to the toc's */
	CHECK_EQ(le32(f + DOC_HDR_CHUNK), STORE_TOC_CHUNK);
	CHECK_EQ(le64(f + DOC_HDR_N_CHUNKS),
		 (le64(f + DOC_HDR_COMP_SIZE) + STORE_TOC_CHUNK - 1) / STORE_TOC_CHUNK);
	body = doc_body(f, len, &blen);
	CHECK(le64(f + DOC_HDR_CHUNKS_OFF) + 32 <= blen);
	CHECK(!memcmp(body + le64(f + DOC_HDR_CHUNKS_OFF), t->chunk_md[0], 32));
	CHECK(t->entries[0].type == STORE_FT_DIR);
	/* the entry table is stored by column and each column by byte
	 * plane: byte b of field F (W bytes wide) of entry i of n is at
	 * n * F + b * n + i (a 1-byte field: at n * F + i) */
	CHECK(le64(f + DOC_HDR_ENTRIES_OFF) + 64 * t->n_entries <= blen);
	typ = body + le64(f + DOC_HDR_ENTRIES_OFF) + t->n_entries * DOC_ENT_TYPE;
	CHECK_EQ(*typ, DOC_TYPE_DIR);
	/* offset and path are stored against what the previous record
	 * predicts: the second entry's path follows the first's strings,
	 * its content the first's padded content (a difference of one
	 * header or more); a link follows its path */
	if (t->n_entries > 1) {
		const unsigned char *tb = body + le64(f + DOC_HDR_ENTRIES_OFF);
		size_t n = t->n_entries;

		CHECK_EQ(doc_field(tb, n, DOC_ENT_PATH, 4, 1), 0);
		CHECK_EQ(doc_field(tb, n, DOC_ENT_OFFSET, 8, 1), t->entries[1].offset -
			 t->entries[0].offset - ((t->entries[0].size + 511) & ~511ULL));
		CHECK_EQ(doc_field(tb, n, DOC_ENT_LINK, 4, 1),
			 t->entries[1].link ? 0 : 0xffffffffu);
	}
	/* the strings are front-coded: a byte, the length of the prefix
	 * shared with the string before, then the rest and its NUL; they
	 * come in entry order, a link target after its path */
	{
		const unsigned char *sp = body + le64(f + DOC_HDR_STRTAB_OFF);
		size_t slen = le64(f + DOC_HDR_STRTAB_LEN), pos = 0, n_want = 0;
		const char *want[16];
		char prev[4200] = "", cur[4200];
		size_t shared = 0;

		CHECK(le64(f + DOC_HDR_STRTAB_OFF) + slen <= blen);
		for (size_t i = 0; i < t->n_entries && i < 8; i++) {
			want[n_want++] = t->entries[i].path;
			if (t->entries[i].link)
				want[n_want++] = t->entries[i].link;
		}
		for (size_t j = 0; j < n_want && pos < slen; j++) {
			size_t k = sp[pos++];

			CHECK(k <= strlen(prev));
			memcpy(cur, prev, k);
			snprintf(cur + k, sizeof(cur) - k, "%s", (const char *)sp + pos);
			pos += strlen((const char *)sp + pos) + 1;
			CHECKF(!strcmp(cur, want[j]), "string %zu: '%s', expected '%s'",
			       j, cur, want[j]);
			shared += k;
			memcpy(prev, cur, sizeof(prev));
		}
		CHECK(t->n_entries < 4 || shared > 0);
	}
	/* repacked as the document says, the index decodes (the packing is
	 * sound) */
	g = doc_pack(f, body, blen, blen, &glen);
	CHECK_EQ(store_toc_decode(g, glen, &l), 0);
	CHECK(l && l->comp == t->comp && l->n_entries == t->n_entries);
	store_toc_free(l);
	l = NULL;
	/* an unknown entry type */
	*typ = 8;
	g = doc_pack(f, body, blen, blen, &glen);
	CHECK_EQ(store_toc_decode(g, glen, &l), -EINVAL);
	*typ = DOC_TYPE_DIR;
	/* a mode, a device major and an xattr count past what an entry
	 * holds (its bit-fields would keep the low bits: what is left is
	 * valid, so only the reader's check refuses these) */
	{
		/* the root (entry 0), and dev/max: an all-zero byte plane
		 * is not stored, so the patched bytes must be non-zero */
		static const struct { size_t f, w, byte; uint8_t bit; int dev; } big[] = {
			{ DOC_ENT_MODE, 2, 1, 0x10, 0 },	/* + 0x1000 */
			{ DOC_ENT_DEVMAJOR, 4, 1, 0x10, 1 },	/* 0xfff -> 0x1fff */
			{ DOC_ENT_DEVMINOR, 4, 2, 0x10, 1 },	/* 0xfffff -> 0x1fffff */
		};
		unsigned char *tb = body + le64(f + DOC_HDR_ENTRIES_OFF);
		size_t n = t->n_entries, dev = 0;

		while (dev < n && !(t->entries[dev].type == STORE_FT_CHR &&
				    t->entries[dev].devmajor == 0xfff))
			dev++;
		for (size_t k = 0; k < sizeof(big) / sizeof(big[0]); k++) {
			size_t i = big[k].dev ? dev : 0;
			unsigned char *at = tb + n * big[k].f + big[k].byte * n + i;

			CHECK(i < n);
			if (i >= n)
				continue;

			CHECK(big[k].byte < big[k].w);
			*at ^= big[k].bit;
			g = doc_pack(f, body, blen, blen, &glen);
			CHECKF(store_toc_decode(g, glen, &l) == -EINVAL,
			       "field at %zu not refused", big[k].f);
			*at ^= big[k].bit;
			store_toc_free(l);
			l = NULL;
		}
	}
	/* the first string claims a prefix of a string before it; the last
	 * string has no NUL */
	{
		unsigned char *sp = body + le64(f + DOC_HDR_STRTAB_OFF);
		size_t slen = le64(f + DOC_HDR_STRTAB_LEN);

		CHECK(slen >= 2 && sp[0] == 0 && sp[slen - 1] == 0);
		sp[0] = 1;
		g = doc_pack(f, body, blen, blen, &glen);
		CHECK_EQ(store_toc_decode(g, glen, &l), -EINVAL);
		sp[0] = 0;
		sp[slen - 1] = 'x';
		g = doc_pack(f, body, blen, blen, &glen);
		CHECK_EQ(store_toc_decode(g, glen, &l), -EINVAL);
		sp[slen - 1] = 0;
		g = doc_pack(f, body, blen, blen, &glen);
		CHECK_EQ(store_toc_decode(g, glen, &l), 0);
		store_toc_free(l);
		l = NULL;
	}
	/* a body of another size than declared; a declared size past 4 GiB */
	g = doc_pack(f, body, blen, blen + 1, &glen);
	CHECK_EQ(store_toc_decode(g, glen, &l), -EINVAL);
	g = doc_pack(f, body, blen, blen - 1, &glen);
	CHECK_EQ(store_toc_decode(g, glen, &l), -EINVAL);
	g = doc_pack(f, body, blen, ((uint64_t)4 << 30) + 1, &glen);
	CHECK_EQ(store_toc_decode(g, glen, &l), -EINVAL);
	CHECK(!l);
	free(body);
	/* compression code 3 */
	patch_resum(f, len, DOC_HDR_COMP, 3);
	CHECK_EQ(store_toc_decode(f, len, &l), -EINVAL);
	CHECK(!l);
	/* a chunk size that is not a power of two; one chunk too many */
	CHECK_EQ(store_toc_encode(t, &b), 0);
	f = (unsigned char *)buf_detach(&b, &len);
	patch_resum(f, len, DOC_HDR_CHUNK, 3);
	CHECK_EQ(store_toc_decode(f, len, &l), -EINVAL);
	CHECK(!l);
	CHECK_EQ(store_toc_encode(t, &b), 0);
	f = (unsigned char *)buf_detach(&b, &len);
	patch_resum(f, len, DOC_HDR_N_CHUNKS, (uint8_t)(f[DOC_HDR_N_CHUNKS] + 1));
	CHECK_EQ(store_toc_decode(f, len, &l), -EINVAL);
	CHECK(!l);
	/* version 7 is what is written; 1 to 6 are refused (rebuilt) */
	for (uint32_t v = 1; v <= 6; v++) {
		CHECK_EQ(store_toc_encode(t, &b), 0);
		f = (unsigned char *)buf_detach(&b, &len);
		patch_resum(f, len, DOC_HDR_VERSION, (uint8_t)v);
		CHECK_EQ(store_toc_decode(f, len, &l), -EINVAL);
		CHECK(!l);
	}
}

static void check_corrupt(const char *idx)
{
	struct store_toc *t = NULL;
	struct mem m;
	char bad[512];
	size_t cuts[] = { 0, 1, 100, 184, 0 }, flips = 0;

	read_file(idx, &m);
	snprintf(bad, sizeof(bad), "%s/bad.idx", tmpdir);
	cuts[4] = m.len - 1;
	for (size_t i = 0; i < 5; i++) {
		if (cuts[i] > m.len)
			continue;
		write_file(bad, m.p, cuts[i]);
		CHECK_EQ(toc_load(bad, &t), -EINVAL);
	}
	for (int r = 0; r < 200; r++, flips++) {
		size_t at = (size_t)(rnd() % m.len);

		m.p[at] ^= (unsigned char)(1 + rnd() % 255);
		write_file(bad, m.p, m.len);
		CHECK_EQ(toc_load(bad, &t), -EINVAL);
		free(m.p);
		read_file(idx, &m);	/* restore */
	}
	CHECK(t == NULL);
	free(m.p);
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* A blob "being written": need() grants a few bytes at a time, as a
 * download's follower gets them, and fails past @fail_at. */
struct trickle {
	uint64_t size, fail_at, max_seen;
	size_t step;
	unsigned calls;
};

static int trickle_need(void *ctx, uint64_t off, size_t *len)
{
	struct trickle *tr = ctx;

	tr->calls++;
	CHECK(off < tr->size);	/* never asked past the blob's size */
	if (off >= tr->fail_at)
		return -ECONNRESET;
	if (*len > tr->step)
		*len = tr->step;
	if (off + *len > tr->max_seen)
		tr->max_seen = off + *len;
	return 0;
}

/* A source that hashes the blob itself, as a download does: a chain made
 * with the blob's size, fed in odd pieces; the indexer asks it for the
 * records once it has read everything. */
struct hashing_src {
	struct store_chain *ch;
	uint64_t size, seen;	/* the most the indexer read */
	unsigned asked;
};

static int hashing_need(void *ctx, uint64_t off, size_t *len)
{
	struct hashing_src *h = ctx;

	if (off + *len > h->seen)
		h->seen = off + *len > h->size ? h->size : off + *len;
	return 0;
}

static int hashing_chain(void *ctx, unsigned char (*rec)[32], size_t n)
{
	struct hashing_src *h = ctx;

	h->asked++;
	CHECK(h->seen == h->size);	/* asked after reading it all */
	CHECK_EQ(n, (h->size - 1) / STORE_TOC_CHUNK + 1);
	if (n > 1)
		memcpy(rec, store_chain_records(h->ch), (n - 1) * 32);
	return store_chain_final(h->ch, rec[n - 1]);
}

/* The index built while a source hashes the blob is the one the indexer
 * makes hashing it itself (records and all); the records of a chain made
 * with the size are those of one that grows, whatever the pieces. */
static void check_build_chain(int fd, enum registry_compression comp,
			      uint64_t size, const struct store_toc *want)
{
	struct hashing_src h = { .size = size };
	struct store_toc_src src = { .fd = fd, .need = hashing_need,
				     .chain = hashing_chain, .ctx = &h };
	struct store_toc *t = NULL;
	unsigned char *b = malloc(size);
	uint64_t o = 0, step = 1;

	CHECK(b && pread(fd, b, size, 0) == (ssize_t)size);
	CHECK_EQ(store_chain_new(size, &h.ch), 0);
	while (o < size) {
		uint64_t n = size - o < step ? size - o : step;

		CHECK_EQ(store_chain_add(h.ch, b + o, n), 0);
		o += n;
		step = step * 7 % 300007 + 1;
	}
	CHECKF(store_toc_build_src(&src, size, comp, NULL, &t) == 0,
	       "compression %d, %llu bytes: no index with the source's records",
	       (int)comp, (unsigned long long)size);
	CHECK_EQ(h.asked, 1);
	if (t)
		check_equal(want, t);
	store_toc_free(t);
	store_chain_free(h.ch);
	free(b);
}

/* Chains whose size is a whole number of chunks or just off one: the
 * growing and the sized kind give the same table, the last record the
 * digest, and every chunk checks out alone. */
static void chain_sizes(void)
{
	static const uint64_t sizes[] = { 1, 64, STORE_TOC_CHUNK - 1, STORE_TOC_CHUNK,
					  STORE_TOC_CHUNK + 1, 3 * STORE_TOC_CHUNK };
	unsigned char *b = malloc(3 * STORE_TOC_CHUNK + 1);

	CHECK(b);
	for (size_t i = 0; i < 3 * STORE_TOC_CHUNK + 1; i++)
		b[i] = (unsigned char)(i * 2654435761u >> 13);
	for (size_t k = 0; k < sizeof(sizes) / sizeof(*sizes); k++) {
		uint64_t size = sizes[k], n = (size - 1) / STORE_TOC_CHUNK + 1;
		struct store_chain *g = NULL, *f = NULL;
		unsigned char (*tab)[32] = NULL, md[32], got[32];
		unsigned int l = 0;
		size_t nt = 0;

		CHECK_EQ(store_chain_new(0, &g), 0);
		CHECK_EQ(store_chain_new(size, &f), 0);
		CHECK_EQ(store_chain_add(g, b, size), 0);
		for (uint64_t o = 0; o < size; o += 1000)
			CHECK_EQ(store_chain_add(f, b + o, size - o < 1000 ? size - o : 1000), 0);
		CHECK_EQ(store_chain_final(g, md), 0);
		CHECK_EQ(store_chain_final(f, got), 0);
		CHECK(!memcmp(md, got, 32));
		CHECK(EVP_Digest(b, size, got, &l, EVP_sha256(), NULL) == 1);
		CHECKF(!memcmp(md, got, 32), "chain of %llu bytes: wrong digest",
		       (unsigned long long)size);
		CHECK_EQ(store_chain_add(g, b, 1), -EINVAL);
		CHECK_EQ(store_chain_table(g, &tab, &nt), 0);
		CHECK_EQ(nt, n);
		CHECK(n < 2 || !memcmp(tab, store_chain_records(f), (n - 1) * 32));
		CHECK(!memcmp(tab[n - 1], md, 32));
		for (uint64_t c = 0; c < n; c++) {
			uint64_t a = c * STORE_TOC_CHUNK;
			uint64_t e = a + STORE_TOC_CHUNK < size ? a + STORE_TOC_CHUNK : size;

			CHECK_EQ(store_chain_check(c ? tab[c - 1] : NULL, a, b + a, e - a,
						   c + 1 == n, tab[c], got), 0);
		}
		free(tab);
		store_chain_free(g);
		store_chain_free(f);
	}
	free(b);
}

/* store_toc_build_src from a trickling source builds the same index as
 * store_toc_build from the file, access points and chunk digests
 * included, whatever the pieces the bytes come in (the index must depend
 * on the blob alone); a source failing mid-way fails the build with its
 * error. */
static void check_build_src(int fd, enum registry_compression comp,
			    uint64_t size, const struct store_toc *want)
{
	static const size_t steps[] = { 4093, 61 };
	struct trickle tr;
	struct store_toc_src src = { .fd = fd, .need = trickle_need, .ctx = &tr };
	struct store_toc *t = NULL;

	/* small pieces for gzip, whose scan stops at planned offsets
	 * (gzran.c) and rereads what ISA-L read ahead past a member */
	for (size_t i = 0; i < (comp == REGISTRY_COMP_GZIP ? 2u : 1u); i++) {
		tr = (struct trickle){ .size = size, .fail_at = UINT64_MAX,
				       .step = steps[i] };
		CHECK_EQ(store_toc_build_src(&src, size, comp, NULL, &t), 0);
		CHECK(t != NULL);
		if (!t)
			return;
		check_equal(want, t);
		CHECK(tr.max_seen == size && tr.calls > size / tr.step);
		store_toc_free(t);
		t = NULL;
	}
	tr = (struct trickle){ .size = size, .fail_at = size / 2, .step = 65536 };
	CHECK_EQ(store_toc_build_src(&src, size, comp, NULL, &t), -ECONNRESET);
	CHECK(t == NULL);
	check_build_chain(fd, comp, size, want);
}

static void run_layer(const char *name, enum registry_compression comp,
		      const struct mem *blob, const struct mem *tar,
		      int min_cps, bool report)
{
	char path[512], idx[512], want[72];
	struct store_toc *t = NULL, *l = NULL;
	struct stat st;
	double t0, dt;
	int fd;

	snprintf(path, sizeof(path), "%s/%s.blob", tmpdir, name);
	snprintf(idx, sizeof(idx), "%s/%s.idx", tmpdir, name);
	write_file(path, blob->p, blob->len);
	fd = open(path, O_RDONLY);
	CHECK(fd >= 0);
	t0 = now();
	CHECK_EQ(store_toc_build(fd, comp, &t), 0);
	dt = now() - t0;
	sha256_of(tar, want);
	CHECK(!strcmp(t->diff_id, want));
	CHECK(t->comp == comp && t->comp_size == blob->len);
	CHECK((int)t->n_cps >= min_cps);
	check_meta(t, tar);
	check_reads(t, fd, tar);
	check_spans(name, t, blob, tar);
	check_build_src(fd, comp, blob->len, t);
	CHECK_EQ(toc_save(t, idx), 0);
	CHECK_EQ(toc_load(idx, &l), 0);
	check_equal(t, l);
	check_reads(l, fd, tar);
	check_spans(name, l, blob, tar);
	check_codes(t);
	CHECK(stat(idx, &st) == 0);
	printf("%-14s comp %8zu B  tar %8zu B  cps %3zu  index %6lld B = %.2f%% of compressed  build %.1f MB/s\n",
	       name, blob->len, tar->len, t->n_cps, (long long)st.st_size,
	       100.0 * (double)st.st_size / (double)blob->len,
	       (double)tar->len / 1e6 / dt);
	if (report)
		check_corrupt(idx);
	store_toc_free(t);
	store_toc_free(l);
	close(fd);
}

/* ---- hostile ------------------------------------------------------------- */

/* Set the checksum of ustar header @h. */
static void ustar_sum(unsigned char *h)
{
	unsigned sum = 0;

	memset(h + 148, ' ', 8);
	for (int i = 0; i < 512; i++)
		sum += h[i];
	snprintf((char *)h + 148, 8, "%06o", sum);
	h[154] = 0;
	h[155] = ' ';
}

/* A raw ustar header with a valid checksum. */
static void ustar(struct mem *m, const char *name, char type, uint64_t size,
		  const char *link)
{
	unsigned char h[512];

	memset(h, 0, sizeof(h));
	memcpy(h, name, strlen(name) < 100 ? strlen(name) : 100);
	memcpy(h + 100, "0000644", 7);
	memcpy(h + 108, "0000000", 7);
	memcpy(h + 116, "0000000", 7);
	snprintf((char *)h + 124, 12, "%011llo", (unsigned long long)(size & 077777777777ull));
	memcpy(h + 136, "00000000000", 11);
	h[156] = (unsigned char)type;
	if (link)
		memcpy(h + 157, link, strlen(link));
	memcpy(h + 257, "ustar", 6);
	memcpy(h + 263, "00", 2);
	ustar_sum(h);
	mem_add(m, h, 512);
}

/* A character device @maj:@min, as a raw ustar header and the end. */
static void dev_tar(struct mem *m, unsigned maj, unsigned min)
{
	static const unsigned char z[1024];
	unsigned char *h;

	memset(m, 0, sizeof(*m));
	ustar(m, "dev/x", '3', 0, NULL);
	h = (unsigned char *)m->p + m->len - 512;
	snprintf((char *)h + 329, 8, "%07o", maj);
	snprintf((char *)h + 337, 8, "%07o", min);
	ustar_sum(h);
	mem_add(m, z, 1024);
}

static void pad(struct mem *m)
{
	static const unsigned char z[1024];

	if (m->len % 512)
		mem_add(m, z, 512 - m->len % 512);
}

static int build_mem(const struct mem *m, enum registry_compression comp)
{
	char path[512];
	struct store_toc *t = NULL;
	struct mem c = { 0 };
	int fd, rc;

	if (comp == REGISTRY_COMP_GZIP)
		gz_member(&c, m->p, m->len);
	else if (comp == REGISTRY_COMP_ZSTD)
		zst_frame(&c, m->p, m->len);
	else
		mem_add(&c, m->p, m->len);
	snprintf(path, sizeof(path), "%s/hostile.blob", tmpdir);
	write_file(path, c.p, c.len);
	fd = open(path, O_RDONLY);
	CHECK(fd >= 0);
	rc = store_toc_build(fd, comp, &t);
	if (!rc)
		store_toc_free(t);
	close(fd);
	free(c.p);
	return rc;
}

static void entry_tar(struct mem *m, const char *name, char type,
		      const char *link)
{
	static const unsigned char z[1024];

	memset(m, 0, sizeof(*m));
	ustar(m, name, type, type == '0' ? 3 : 0, link);
	if (type == '0') {
		mem_add(m, "abc", 3);
		pad(m);
	}
	mem_add(m, z, 1024);
}

static void hostile(const struct mem *tar)
{
	static const unsigned char z[1024];
	enum registry_compression comps[] = { REGISTRY_COMP_NONE,
		REGISTRY_COMP_GZIP, REGISTRY_COMP_ZSTD };
	struct mem m = { 0 };
	char longname[6000];

	for (int c = 0; c < 3; c++) {
		enum registry_compression comp = comps[c];

		entry_tar(&m, "../etc/passwd", '0', NULL);
		CHECK_EQ(build_mem(&m, comp), -EINVAL);
		free(m.p);
		entry_tar(&m, "a/../../b", '0', NULL);
		CHECK_EQ(build_mem(&m, comp), -EINVAL);
		free(m.p);
		entry_tar(&m, "a/..", '5', NULL);
		CHECK_EQ(build_mem(&m, comp), -EINVAL);
		free(m.p);
		entry_tar(&m, "x", '1', "../../etc/shadow");
		CHECK_EQ(build_mem(&m, comp), -EINVAL);
		free(m.p);
		entry_tar(&m, ".", '2', "/");	/* symlink as the root */
		CHECK_EQ(build_mem(&m, comp), -EINVAL);
		free(m.p);
		entry_tar(&m, "/./ok//file", '0', NULL);	/* fine */
		CHECK_EQ(build_mem(&m, comp), 0);
		free(m.p);
		/* device numbers mknod(2) could not make */
		dev_tar(&m, 0xfff, 0xfffff);
		CHECK_EQ(build_mem(&m, comp), 0);
		free(m.p);
		dev_tar(&m, 0x1000, 0);
		CHECK_EQ(build_mem(&m, comp), -EINVAL);
		free(m.p);
		dev_tar(&m, 1, 0x100000);
		CHECK_EQ(build_mem(&m, comp), -EINVAL);
		free(m.p);

		/* truncated in the middle of big.bin */
		memset(&m, 0, sizeof(m));
		mem_add(&m, tar->p, tar->len / 2);
		CHECK_EQ(build_mem(&m, comp), -EIO);
		free(m.p);

		/* a file whose size runs past the end */
		memset(&m, 0, sizeof(m));
		ustar(&m, "f", '0', 1 << 20, NULL);
		mem_add(&m, "abc", 3);
		pad(&m);
		mem_add(&m, z, 1024);
		CHECK_EQ(build_mem(&m, comp), -EIO);
		free(m.p);

		/* huge PAX size */
		memset(&m, 0, sizeof(m));
		{
			const char *rec = "28 size=9223372036854775000\n";

			ustar(&m, "PaxHeader/f", 'x', strlen(rec), NULL);
			mem_add(&m, rec, strlen(rec));
			pad(&m);
			ustar(&m, "f", '0', 3, NULL);
			mem_add(&m, "abc", 3);
			pad(&m);
			mem_add(&m, z, 1024);
		}
		CHECK(build_mem(&m, comp) < 0);
		free(m.p);

		/* a PAX path over 4 KiB */
		memset(&m, 0, sizeof(m));
		{
			char rec[6100];
			int n;

			memset(longname, 'q', 5000);
			longname[5000] = 0;
			n = snprintf(rec, sizeof(rec), "5011 path=%s\n", longname);
			CHECK(n == 5011);
			ustar(&m, "PaxHeader/f", 'x', (uint64_t)n, NULL);
			mem_add(&m, rec, (size_t)n);
			pad(&m);
			ustar(&m, "f", '0', 0, NULL);
			mem_add(&m, z, 1024);
		}
		CHECK_EQ(build_mem(&m, comp), -E2BIG);
		free(m.p);

		/* not a tar */
		memset(&m, 0, sizeof(m));
		for (int i = 0; i < 4096; i++) {
			unsigned char b = (unsigned char)rnd();
			mem_add(&m, &b, 1);
		}
		CHECK(build_mem(&m, comp) < 0);
		free(m.p);
	}
	/* compressed garbage / wrong compression */
	memset(&m, 0, sizeof(m));
	mem_add(&m, tar->p, 4096);
	{
		char path[512];
		struct store_toc *t = NULL;
		int fd;

		snprintf(path, sizeof(path), "%s/plain-as-gz.blob", tmpdir);
		write_file(path, m.p, m.len);
		fd = open(path, O_RDONLY);
		CHECK_EQ(store_toc_build(fd, REGISTRY_COMP_GZIP, &t), -EIO);
		CHECK_EQ(store_toc_build(fd, REGISTRY_COMP_ZSTD, &t), -EIO);
		CHECK(!t);
		close(fd);
	}
	free(m.p);
}


/* GNU 'L'/'K' long names and links, ustar prefix, a pax global header. */
static void formats(void)
{
	char name[400], target[400], path[512];
	struct store_toc *t = NULL;
	struct archive *a;
	struct archive_entry *e;
	struct mem m = { 0 };
	int fd;

	for (int i = 0; i < 300; i++)
		name[i] = (i % 60 == 58) ? '/' : (char)('a' + i % 26);
	name[300] = 0;
	memcpy(target, name, 301);
	target[0] = 'Z';
	snprintf(path, sizeof(path), "%s/gnu.tar", tmpdir);
	a = archive_write_new();
	CHECK(archive_write_set_format_gnutar(a) == ARCHIVE_OK);
	CHECK(archive_write_open_filename(a, path) == ARCHIVE_OK);
	e = archive_entry_new();
	archive_entry_set_pathname(e, name);
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_perm(e, 0640);
	archive_entry_set_size(e, 4);
	CHECK(archive_write_header(a, e) == ARCHIVE_OK);
	CHECK(archive_write_data(a, "data", 4) == 4);
	archive_entry_clear(e);
	archive_entry_set_pathname(e, target);
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_hardlink(e, name);
	archive_entry_set_perm(e, 0640);
	CHECK(archive_write_header(a, e) == ARCHIVE_OK);
	archive_entry_clear(e);
	archive_entry_set_pathname(e, "s");
	archive_entry_set_filetype(e, AE_IFLNK);
	archive_entry_set_symlink(e, target);
	archive_entry_set_perm(e, 0777);
	CHECK(archive_write_header(a, e) == ARCHIVE_OK);
	archive_entry_free(e);
	CHECK(archive_write_close(a) == ARCHIVE_OK);
	archive_write_free(a);
	fd = open(path, O_RDONLY);
	CHECK(fd >= 0);
	CHECK_EQ(store_toc_build(fd, REGISTRY_COMP_NONE, &t), 0);
	CHECK(t->n_entries == 3);
	CHECK(!strcmp(t->entries[0].path, name) && t->entries[0].size == 4);
	CHECK(t->entries[1].type == STORE_FT_HARDLINK);
	CHECK(!strcmp(t->entries[1].path, target));
	CHECK(!strcmp(t->entries[1].link, name));
	CHECK(t->entries[2].type == STORE_FT_SYMLINK);
	CHECK(!strcmp(t->entries[2].link, target));
	{
		char b[4];
		size_t got;

		CHECK_EQ(store_toc_read(t, SRC(fd), NULL, b, 4, t->entries[0].offset,
					&got), 0);
		CHECK(got == 4 && !memcmp(b, "data", 4));
	}
	store_toc_free(t);
	close(fd);

	/* a pax global header is not an entry; ustar prefix+name */
	{
		static const unsigned char z[1024];
		const char *rec = "16 comment=hey\n";
		char pn[200];

		memset(pn, 0, sizeof(pn));
		ustar(&m, "pax_global_header", 'g', strlen(rec), NULL);
		mem_add(&m, rec, strlen(rec));
		pad(&m);
		ustar(&m, "plain", '0', 3, NULL);
		mem_add(&m, "abc", 3);
		pad(&m);
		mem_add(&m, z, 1024);
		(void)pn;
	}
	snprintf(path, sizeof(path), "%s/glob.tar", tmpdir);
	write_file(path, m.p, m.len);
	fd = open(path, O_RDONLY);
	CHECK_EQ(store_toc_build(fd, REGISTRY_COMP_NONE, &t), 0);
	CHECK(t->n_entries == 1 && !strcmp(t->entries[0].path, "plain"));
	CHECK_MEM(m.p + t->entries[0].offset, "abc", 3);
	store_toc_free(t);
	close(fd);
	free(m.p);
}

/* A compressed stream cut short is -EIO, whatever the tar inside. */
static void truncated(const struct mem *gz, const struct mem *zs)
{
	const struct mem *blobs[] = { gz, zs };
	enum registry_compression comps[] = { REGISTRY_COMP_GZIP,
					      REGISTRY_COMP_ZSTD };
	char path[512];
	struct store_toc *t = NULL;

	snprintf(path, sizeof(path), "%s/cut.blob", tmpdir);
	for (int i = 0; i < 2; i++) {
		size_t cuts[] = { 5, blobs[i]->len / 3, blobs[i]->len - 5,
				  blobs[i]->len - 1 };

		for (int k = 0; k < 4; k++) {
			int fd;

			write_file(path, blobs[i]->p, cuts[k]);
			fd = open(path, O_RDONLY);
			CHECK_EQ(store_toc_build(fd, comps[i], &t), -EIO);
			close(fd);
		}
	}
	CHECK(!t);
	/* flipped bytes: an error or (if the damage is harmless) an index,
	 * never a crash */
	for (int i = 0; i < 2; i++) {
		struct mem c = { 0 };

		mem_add(&c, blobs[i]->p, blobs[i]->len);
		for (int k = 0; k < 10; k++) {
			size_t at = 10 + (size_t)(rnd() % (c.len / 4));
			int fd;

			c.p[at] ^= 0x5a;
			write_file(path, c.p, c.len);
			c.p[at] ^= 0x5a;
			fd = open(path, O_RDONLY);
			if (store_toc_build(fd, comps[i], &t) == 0)
				store_toc_free(t);
			t = NULL;
			close(fd);
		}
		free(c.p);
	}
}

/* ---- xattrs --------------------------------------------------------------- */

#define XA_N 300	/* names on the test entry */

/* Value number @round of xattr @j (round 0: the first). */
static void xa_value(int j, int round, char *v, size_t cap, size_t *len)
{
	int n = round == 0 ? snprintf(v, cap, "v1-%d", j) :
		round == 1 ? snprintf(v, cap, "second, longer value %d", j) :
		0;	/* round 2: empty */

	*len = (size_t)n;
}

/* One regular file "f" with the xattrs @names[0..@n) in that order, then
 * again those whose number is a multiple of 7 (round 1) and of 11
 * (round 2), as a pax tar at @path. */
static void xattr_tar(const char *path, const int *names, int n)
{
	struct archive *a = archive_write_new();
	struct archive_entry *e = archive_entry_new();
	char name[32], v[64];
	size_t vlen;

	CHECK(a && e);
	CHECK(archive_write_set_format_pax(a) == ARCHIVE_OK);
	CHECK(archive_write_open_filename(a, path) == ARCHIVE_OK);
	archive_entry_set_pathname(e, "f");
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_perm(e, 0644);
	archive_entry_set_size(e, 0);
	for (int round = 0; round < 3; round++)
		for (int i = 0; i < n; i++) {
			int j = names[i];

			if ((round == 1 && j % 7) || (round == 2 && j % 11))
				continue;
			snprintf(name, sizeof(name), "user.k%04d", j);
			xa_value(j, round, v, sizeof(v), &vlen);
			archive_entry_xattr_add_entry(e, name, v, vlen);
		}
	CHECK(archive_write_header(a, e) == ARCHIVE_OK);
	archive_entry_free(e);
	CHECK(archive_write_close(a) == ARCHIVE_OK);
	archive_write_free(a);
}

static int xattr_build(const int *names, int n, struct store_toc **t)
{
	char path[512];
	int fd, rc;

	snprintf(path, sizeof(path), "%s/xattrs.tar", tmpdir);
	xattr_tar(path, names, n);
	fd = open(path, O_RDONLY);
	CHECK(fd >= 0);
	rc = store_toc_build(fd, REGISTRY_COMP_NONE, t);
	close(fd);
	return rc;
}

/*
 * An entry's xattrs are kept once per name, in the order the names first
 * occur, with the value that occurs last (libarchive's pax writer also
 * writes each one twice).  The per-entry count limit applies to the names
 * kept, not to the records read.
 */
static void xattrs(void)
{
	static int names[1025];
	struct store_toc *t = NULL, *l = NULL;
	struct buf b;
	char want[32], v[64];
	size_t vlen, len;
	void *f;

	/* not in sorted order, so an order by name would show */
	for (int i = 0; i < XA_N; i++)
		names[i] = (i * 97) % XA_N;
	CHECK_EQ(xattr_build(names, XA_N, &t), 0);
	CHECK_EQ(t->n_entries, 1);
	CHECK_EQ(t->entries[0].n_xattrs, XA_N);
	CHECK_EQ(t->n_xattrs, XA_N);
	for (int i = 0; i < XA_N; i++) {
		const struct store_xattr *x =
			&t->xattrs[t->entries[0].xattr_first + i];
		int j = names[i];

		snprintf(want, sizeof(want), "user.k%04d", j);
		CHECK_STR(x->name, want);
		xa_value(j, j % 11 == 0 ? 2 : j % 7 == 0 ? 1 : 0, v, sizeof(v),
			 &vlen);
		CHECKF(x->len == vlen && (!vlen || !memcmp(x->value, v, vlen)),
		       "xattr %s: value of %u bytes, expected %zu", want,
		       x->len, vlen);
	}
	/* the same after a round trip through the on-disk form */
	CHECK_EQ(store_toc_encode(t, &b), 0);
	f = buf_detach(&b, &len);
	CHECK_EQ(store_toc_decode(f, len, &l), 0);
	check_equal(t, l);
	store_toc_free(l);
	store_toc_free(t);
	t = NULL;

	/* 1024 names, each read several times: within the limit */
	for (int i = 0; i < 1025; i++)
		names[i] = i;
	CHECK_EQ(xattr_build(names, 1024, &t), 0);
	CHECK(t && t->n_xattrs == 1024);
	store_toc_free(t);
	t = NULL;
	/* 1025 names: beyond it */
	CHECK_EQ(xattr_build(names, 1025, &t), -E2BIG);
	CHECK(!t);
}

/*
 * zst_raw_frame - @d as one zstd frame of raw (stored) blocks whose header
 * declares a window of 2^@wlog bytes and no content size, as zstd writes
 * a stream of unknown size: byte 4 (frame header descriptor) 0, byte 5
 * the window descriptor (exponent wlog - 10, mantissa 0).
 */
static void zst_raw_frame(struct mem *out, const unsigned char *d, size_t n,
			  unsigned wlog)
{
	unsigned char h[6] = { 0x28, 0xb5, 0x2f, 0xfd, 0,
			       (unsigned char)((wlog - 10) << 3) };
	size_t o = 0;

	mem_add(out, h, sizeof(h));
	do {
		size_t k = n - o < 65536 ? n - o : 65536;
		uint32_t bh = (uint32_t)(k << 3) | (o + k == n ? 1u : 0u);
		unsigned char b[3] = { (unsigned char)bh, (unsigned char)(bh >> 8),
				       (unsigned char)(bh >> 16) };

		mem_add(out, b, 3);
		mem_add(out, d + o, k);
		o += k;
	} while (o < n);
}

/* The window log a frame's header declares (no single-segment frames). */
static unsigned zst_window_log(const struct mem *m)
{
	CHECK(m->len > 6 && (m->p[4] & 0x20) == 0);
	return 10u + (m->p[5] >> 3);
}

static int build_blob(const char *name, const struct mem *blob,
		      enum registry_compression comp, struct store_toc **t)
{
	char path[512];
	int fd, rc;

	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	write_file(path, blob->p, blob->len);
	fd = open(path, O_RDONLY);
	CHECK(fd >= 0);
	rc = store_toc_build(fd, comp, t);
	close(fd);
	return rc;
}

/*
 * zstd frames that need a window above STORE_TOC_ZSTD_WINDOW_LOG: zstd's
 * own encoder with a 16 MiB window over a stream of unknown size, and a
 * hand-made frame declaring 1 GiB (zstd --long=30) are refused when
 * indexing (-E2BIG); one at the cap is indexed and read.  A read whose
 * blob turns out to need more than its index was built from (an index
 * kept from before the cap) is refused as well.
 */
static void zstd_window(void)
{
	static const char body[] = "window test\n";
	struct mem tar = { 0 }, lib = { 0 }, atcap = { 0 }, huge = { 0 };
	struct store_toc *t = NULL;
	const struct store_toc_entry *e;
	static const unsigned char zero[1024];
	unsigned char fill[1000], buf[64], out[1 << 16];
	char path[512];
	size_t got;
	int fd;

	ustar(&tar, "f", '0', sizeof(body) - 1, NULL);
	mem_add(&tar, body, sizeof(body) - 1);
	pad(&tar);
	for (int i = 0; i < 200; i++) {	/* more than one raw block */
		char name[32];

		snprintf(name, sizeof(name), "d%03d", i);
		ustar(&tar, name, '0', sizeof(fill), NULL);
		memset(fill, 'a' + i % 26, sizeof(fill));
		mem_add(&tar, fill, sizeof(fill));
		pad(&tar);
	}
	mem_add(&tar, zero, sizeof(zero));

	/* zstd's encoder, window 2^(cap + 1), size unknown */
	{
		ZSTD_CCtx *cc = ZSTD_createCCtx();
		ZSTD_inBuffer ib = { tar.p, tar.len, 0 };
		size_t r;

		CHECK(cc);
		CHECK(!ZSTD_isError(ZSTD_CCtx_setParameter(cc, ZSTD_c_windowLog,
				STORE_TOC_ZSTD_WINDOW_LOG + 1)));
		do {
			ZSTD_outBuffer ob = { out, sizeof(out), 0 };

			r = ZSTD_compressStream2(cc, &ob, &ib, ZSTD_e_continue);
			CHECK(!ZSTD_isError(r));
			mem_add(&lib, out, ob.pos);
		} while (ib.pos < ib.size);
		do {
			ZSTD_outBuffer ob = { out, sizeof(out), 0 };

			r = ZSTD_compressStream2(cc, &ob, &ib, ZSTD_e_end);
			CHECK(!ZSTD_isError(r));
			mem_add(&lib, out, ob.pos);
		} while (r);
		ZSTD_freeCCtx(cc);
	}
	CHECK_EQ(zst_window_log(&lib), STORE_TOC_ZSTD_WINDOW_LOG + 1);
	CHECK_EQ(build_blob("win-lib.blob", &lib, REGISTRY_COMP_ZSTD, &t), -E2BIG);
	CHECK(!t);

	zst_raw_frame(&huge, tar.p, tar.len, 30);
	CHECK_EQ(zst_window_log(&huge), 30);
	CHECK_EQ(build_blob("win-huge.blob", &huge, REGISTRY_COMP_ZSTD, &t), -E2BIG);
	CHECK(!t);

	/* at the cap: indexed, and read back */
	zst_raw_frame(&atcap, tar.p, tar.len, STORE_TOC_ZSTD_WINDOW_LOG);
	CHECK_EQ(build_blob("win-cap.blob", &atcap, REGISTRY_COMP_ZSTD, &t), 0);
	CHECK(t && (e = find(t, "f")));
	snprintf(path, sizeof(path), "%s/win-cap.blob", tmpdir);
	fd = open(path, O_RDONLY);
	CHECK(fd >= 0);
	CHECK_EQ(store_toc_read(t, SRC(fd), NULL, buf, e->size, e->offset, &got), 0);
	CHECK(got == e->size && !memcmp(buf, body, got));
	close(fd);

	/* the same bytes but a window one step larger: the read refuses */
	atcap.p[5] = (unsigned char)((STORE_TOC_ZSTD_WINDOW_LOG + 1 - 10) << 3);
	CHECK_EQ(zst_window_log(&atcap), STORE_TOC_ZSTD_WINDOW_LOG + 1);
	write_file(path, atcap.p, atcap.len);
	fd = open(path, O_RDONLY);
	CHECK(fd >= 0);
	CHECK_EQ(store_toc_read(t, SRC(fd), NULL, buf, e->size, e->offset, &got),
		 -E2BIG);
	close(fd);
	store_toc_free(t);
	free(tar.p);
	free(lib.p);
	free(atcap.p);
	free(huge.p);
}

/* ---- the memory budget of builds ----------------------------------------- */

#define BUDGET_ENTRIES 20000
#define BUDGET_THREADS 4

struct budget_job {
	const char *path;
	struct store_toc_budget *budget;
	int rc;
	size_t n_entries;
};

static void *budget_worker(void *arg)
{
	struct budget_job *j = arg;
	struct store_toc *t = NULL;
	int fd = open(j->path, O_RDONLY);

	j->rc = fd < 0 ? -errno :
		store_toc_build_budget(fd, REGISTRY_COMP_NONE, j->budget, &t);
	if (!j->rc)
		j->n_entries = t->n_entries;
	store_toc_free(t);
	if (fd >= 0)
		close(fd);
	return NULL;
}

/*
 * A layer of 20000 empty files with 95-byte names (a few MiB of index):
 * built alone its build draws some amount from a budget and gives it all
 * back; with half that budget it is -ENOMEM, after one run alone; with
 * one and a half times that, four builds at once all succeed (waiting
 * for each other or running again alone) and never hold more than the
 * budget together.
 */
static void budget(void)
{
	static const unsigned char zero[1024];
	struct store_toc_budget_stats st;
	struct store_toc_budget *b;
	struct budget_job jobs[BUDGET_THREADS];
	pthread_t th[BUDGET_THREADS];
	struct mem m = { 0 };
	char path[512], name[128];
	uint64_t need;

	for (int i = 0; i < BUDGET_ENTRIES; i++) {
		snprintf(name, sizeof(name), "d%02d/%084d%07d", i % 50, 0, i);
		ustar(&m, name, '0', 0, NULL);
	}
	mem_add(&m, zero, sizeof(zero));
	snprintf(path, sizeof(path), "%s/budget.tar", tmpdir);
	write_file(path, m.p, m.len);
	free(m.p);

	/* alone, plenty */
	CHECK_EQ(store_toc_budget_new((uint64_t)1 << 30, &b), 0);
	jobs[0] = (struct budget_job){ .path = path, .budget = b };
	budget_worker(&jobs[0]);
	CHECK_EQ(jobs[0].rc, 0);
	CHECK_EQ(jobs[0].n_entries, BUDGET_ENTRIES);
	store_toc_budget_stats(b, &st);
	need = st.peak;
	CHECK(need > (uint64_t)BUDGET_ENTRIES * 95);	/* at least the names */
	CHECK_EQ(st.used, 0);
	CHECK_EQ(st.failures, 0);
	store_toc_budget_free(b);

	/* half of what it needs: refused, after running again alone */
	CHECK_EQ(store_toc_budget_new(need / 2, &b), 0);
	jobs[0] = (struct budget_job){ .path = path, .budget = b };
	budget_worker(&jobs[0]);
	CHECK_EQ(jobs[0].rc, -ENOMEM);
	store_toc_budget_stats(b, &st);
	CHECK_EQ(st.used, 0);
	CHECK(st.peak <= need / 2);
	CHECK_EQ(st.exclusive, 1);
	CHECK_EQ(st.failures, 2);
	store_toc_budget_free(b);

	/* room for one and a half: four at once */
	CHECK_EQ(store_toc_budget_new(need * 3 / 2, &b), 0);
	for (int i = 0; i < BUDGET_THREADS; i++) {
		jobs[i] = (struct budget_job){ .path = path, .budget = b };
		CHECK(pthread_create(&th[i], NULL, budget_worker, &jobs[i]) == 0);
	}
	for (int i = 0; i < BUDGET_THREADS; i++) {
		pthread_join(th[i], NULL);
		CHECK_EQ(jobs[i].rc, 0);
		CHECK_EQ(jobs[i].n_entries, BUDGET_ENTRIES);
	}
	store_toc_budget_stats(b, &st);
	CHECK_EQ(st.used, 0);
	CHECK(st.peak <= need * 3 / 2);
	printf("budget: one build %llu KiB; four in %llu KiB: peak %llu KiB, %llu waits, %llu failures, %llu alone\n",
	       (unsigned long long)(need >> 10),
	       (unsigned long long)(st.max >> 10),
	       (unsigned long long)(st.peak >> 10),
	       (unsigned long long)st.waits,
	       (unsigned long long)st.failures,
	       (unsigned long long)st.exclusive);
	store_toc_budget_free(b);
}

#define ZST_FRAME ((size_t)(STORE_TOC_SPAN * 7 / 10))

int main(void)
{
	char tarpath[512];
	struct mem tar, gz = { 0 }, gzm = { 0 }, gzj = { 0 }, zs = { 0 },
		   zsm = { 0 };
	static const unsigned char skip[12] = { 0x50, 0x2a, 0x4d, 0x18, 4, 0, 0, 0,
						 1, 2, 3, 4 };
	static const unsigned char junk[700];
	size_t o;

	log_setup(getenv("TOC_DEBUG") ? LOG_LVL_DEBUG : LOG_LVL_ERR, 0);
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_toc.XXXXXX");
	CHECK(mkdtemp(tmpdir));
	make_content();
	snprintf(tarpath, sizeof(tarpath), "%s/layer.tar", tmpdir);
	write_tar(tarpath);
	read_file(tarpath, &tar);

	gz_member(&gz, tar.p, tar.len);
	/* three members, cut at odd places (one inside big.bin) */
	gz_member(&gzm, tar.p, 1000);
	gz_member(&gzm, tar.p + 1000, (size_t)(STORE_TOC_SPAN * 5 / 4));
	o = 1000 + (size_t)(STORE_TOC_SPAN * 5 / 4);
	gz_member(&gzm, tar.p + o, tar.len - o);
	/* trailing NULs after the gzip data: ignored, not hashed */
	gz_member(&gzj, tar.p, tar.len);
	mem_add(&gzj, junk, sizeof(junk));
	zst_frame(&zs, tar.p, tar.len);
	/* frames of 0.7 spans, a skippable frame in the middle */
	for (o = 0; o < tar.len; o += ZST_FRAME) {
		size_t n = tar.len - o < ZST_FRAME ? tar.len - o : ZST_FRAME;

		zst_frame(&zsm, tar.p + o, n);
		if (o == 0)
			mem_add(&zsm, skip, sizeof(skip));
	}

	run_layer("gzip", REGISTRY_COMP_GZIP, &gz, &tar, 4, true);
	run_layer("gzip-multi", REGISTRY_COMP_GZIP, &gzm, &tar, 4, false);
	run_layer("gzip-junk", REGISTRY_COMP_GZIP, &gzj, &tar, 4, false);
	run_layer("zstd", REGISTRY_COMP_ZSTD, &zs, &tar, 1, true);
	run_layer("zstd-multi", REGISTRY_COMP_ZSTD, &zsm, &tar, 4, false);
	run_layer("plain", REGISTRY_COMP_NONE, &tar, &tar, 4, true);
	hostile(&tar);
	formats();
	truncated(&gz, &zs);
	xattrs();
	zstd_window();
	budget();
	chain_sizes();

	free(tar.p);
	free(gz.p);
	free(gzm.p);
	free(gzj.p);
	free(zs.p);
	free(zsm.p);
	free(big);
	free(text);
	{
		char cmd[600];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
		CHECK(system(cmd) == 0);
	}
	return check_done("test_toc");
}
