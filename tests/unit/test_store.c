/* SPDX-License-Identifier: MIT */
/*
 * test_store.c - the store offline (no registry): blob writer commit,
 * abort and digest mismatch; images added from hand-made OCI manifests
 * with gzip layers written here by libarchive; tags persisting across
 * close/open; delete freeing only unshared blobs; busy images refusing
 * deletion; dangling images; the merged rootfs and reads from it;
 * orphans in tmp/ removed at open; and a layer read through its partial
 * blob (kept index, blob gone): chunks copied in only when they check
 * out, the chunk bitmap surviving a reopen, completion into blobs/, and
 * stale partial files swept at open.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>

#include "check.h"
#include "digest.h"
#include "tar_mem.h"
#include "log.h"
#include "store.h"
#include "store_int.h"	/* white-box: the records' fields */

static char root[256];

struct tfile {
	const char *path;
	const char *content;	/* NULL: directory */
};

/* A tar (gzip-compressed or not) of @files, in memory. */
static size_t make_tar(const struct tfile *files, size_t n, bool gz, char *out,
		       size_t cap)
{
	struct archive *a = archive_write_new();
	size_t used = 0;

	tar_mem_open(a, gz, out, cap, &used);
	for (size_t i = 0; i < n; i++) {
		struct archive_entry *e = archive_entry_new();
		size_t len = files[i].content ? strlen(files[i].content) : 0;

		archive_entry_set_pathname(e, files[i].path);
		archive_entry_set_filetype(e, files[i].content ? AE_IFREG : AE_IFDIR);
		archive_entry_set_perm(e, files[i].content ? 0644 : 0755);
		archive_entry_set_size(e, (la_int64_t)len);
		archive_entry_set_mtime(e, 1700000000, 0);
		if (archive_write_header(a, e) != ARCHIVE_OK)
			abort();
		if (len && archive_write_data(a, files[i].content, len) != (la_ssize_t)len)
			abort();
		archive_entry_free(e);
	}
	archive_write_close(a);
	archive_write_free(a);
	return used;
}

struct tlayer {
	char digest[72], diff_id[72];
	char blob[65536];
	size_t size;
};

static void make_layer(struct store *s, const struct tfile *files, size_t n,
		       struct tlayer *l)
{
	static char tar[65536];
	size_t tn = make_tar(files, n, false, tar, sizeof(tar));
	char got[72];

	test_sha256(tar, tn, l->diff_id);
	l->size = make_tar(files, n, true, l->blob, sizeof(l->blob));
	test_sha256(l->blob, l->size, l->digest);
	CHECK_EQ(store_blob_add(s, l->blob, l->size, got), 0);
	CHECK(!strcmp(got, l->digest));
}

/* Stores a config for @layers and returns the manifest text in @man. */
static void make_image(struct store *s, struct tlayer *const *layers, size_t n,
		       const char *created, const char *layer_mt, char *man,
		       size_t cap, char cfg_digest[72])
{
	char cfg[4096], tmp[1024];
	size_t off;

	off = (size_t)snprintf(cfg, sizeof(cfg),
			       "{\"architecture\":\"amd64\",\"os\":\"linux\",\"created\":\"%s\","
			       "\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[", created);
	for (size_t i = 0; i < n; i++)
		off += (size_t)snprintf(cfg + off, sizeof(cfg) - off, "%s\"%s\"",
					i ? "," : "", layers[i]->diff_id);
	snprintf(cfg + off, sizeof(cfg) - off, "]}}");
	CHECK_EQ(store_blob_add(s, cfg, strlen(cfg), cfg_digest), 0);

	off = (size_t)snprintf(man, cap,
			       "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","
			       "\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\","
			       "\"digest\":\"%s\",\"size\":%zu},\"layers\":[", cfg_digest, strlen(cfg));
	for (size_t i = 0; i < n; i++) {
		snprintf(tmp, sizeof(tmp), "%s{\"mediaType\":\"%s\",\"digest\":\"%s\",\"size\":%zu}",
			 i ? "," : "", layer_mt, layers[i]->digest, layers[i]->size);
		off += (size_t)snprintf(man + off, cap - off, "%s", tmp);
	}
	snprintf(man + off, cap - off, "]}");
}

static int count_dir(const char *sub)
{
	char path[512];
	struct dirent *de;
	DIR *d;
	int n = 0;

	snprintf(path, sizeof(path), "%s/%s", root, sub);
	d = opendir(path);
	if (!d)
		return -1;
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

/* Whether @sub/<hex> exists (<hex>.json under images). */
static bool file_exists(const char *sub, const char *digest_or_id)
{
	char path[512];
	const char *hex = strncmp(digest_or_id, "sha256:", 7) ? digest_or_id
							     : digest_or_id + 7;

	snprintf(path, sizeof(path), "%s/%s/%s%s", root, sub, hex,
		 strcmp(sub, "images") ? "" : ".json");
	return access(path, F_OK) == 0;
}

static struct store *reopen(struct store *s)
{
	struct store_opts o = { .dir = root, .default_host = "docker.io" };
	struct store *n = NULL;

	store_close(s);
	CHECK_EQ(store_open(&o, &n), 0);
	if (!n)
		exit(1);
	return n;
}

static void test_blobs(struct store *s)
{
	struct store_blob_writer *w;
	char d[72], want[72];
	int fd;

	/* Verify mismatch: nothing in blobs/, nothing in tmp/. */
	CHECK_EQ(store_blob_writer_new(s, &w), 0);
	CHECK_EQ(store_blob_writer_write(w, "abc", 3), 0);
	CHECK_EQ(store_blob_writer_size(w), 3);
	CHECK_EQ(count_dir("tmp"), 1);
	CHECK_EQ(store_blob_writer_commit(s, w,
		"sha256:0000000000000000000000000000000000000000000000000000000000000000", d),
		-EIO);
	CHECK_EQ(count_dir("blobs/sha256"), 0);
	CHECK_EQ(count_dir("tmp"), 0);

	/* Abort. */
	CHECK_EQ(store_blob_writer_new(s, &w), 0);
	CHECK_EQ(store_blob_writer_write(w, "abc", 3), 0);
	store_blob_writer_abort(w);
	CHECK_EQ(count_dir("tmp"), 0);
	CHECK_EQ(count_dir("blobs/sha256"), 0);

	/* Commit with the right digest. */
	test_sha256("abc", 3, want);
	CHECK_EQ(store_blob_writer_new(s, &w), 0);
	CHECK_EQ(store_blob_writer_write(w, "ab", 2), 0);
	CHECK_EQ(store_blob_writer_write(w, "c", 1), 0);
	CHECK_EQ(store_blob_writer_commit(s, w, want, d), 0);
	CHECK(!strcmp(d, want));
	CHECK(store_blob_has(s, want));
	CHECK_EQ(count_dir("tmp"), 0);
	CHECK_EQ(store_blob_open(s, want, &fd), 0);
	{
		char b[8] = { 0 };

		CHECK_EQ(read(fd, b, sizeof(b)), 3);
		CHECK_MEM(b, "abc", 3);
		close(fd);
	}

	/* store_blob_add of existing content is fine; bad digests are refused. */
	CHECK_EQ(store_blob_add(s, "abc", 3, d), 0);
	CHECK(!strcmp(d, want));
	CHECK(!store_blob_has(s, "sha256:../../etc/passwd"));
	CHECK_EQ(store_blob_open(s, "sha256:ABC", &fd), -EINVAL);
	CHECK_EQ(store_blob_open(s,
		"sha256:1111111111111111111111111111111111111111111111111111111111111111", &fd),
		-ENOENT);
}

static void test_rootfs(struct store *s, const char *id, uint64_t unpacked)
{
	struct store_image *img = NULL;
	struct store_rootfs *fs = NULL;
	struct store_toc_cursor *cur = NULL;
	uint32_t ino;
	char buf[64] = { 0 };
	size_t got = 0;

	CHECK_EQ(store_image_get(s, id, &img), 0);
	if (!img)
		return;
	CHECK_EQ(store_image_size(s, img), 0 + (long long)img->layers[0].desc.size +
		 (img->n_layers > 1 ? img->layers[1].desc.size : 0));
	CHECK_EQ(store_image_rootfs(s, img, &fs), 0);
	if (!fs)
		goto out;
	CHECK_EQ(store_rootfs_resolve(fs, "etc/os-release", &ino), 0);
	CHECK_EQ(store_toc_cursor_new(&cur), 0);
	CHECK_EQ(store_image_read(s, img, ino, cur, buf, sizeof(buf) - 1, 0, &got), 0);
	CHECK_EQ(got, 12);
	CHECK(!strcmp(buf, "NAME=testos\n"));
	memset(buf, 0, sizeof(buf));
	CHECK_EQ(store_image_read(s, img, ino, cur, buf, 3, 5, &got), 0);
	CHECK_EQ(got, 3);
	CHECK(!strcmp(buf, "tes"));
	CHECK_EQ(store_image_read(s, img, ino, cur, buf, 3, 100, &got), 0);
	CHECK_EQ(got, 0);
	/* Indexed now: size is the unpacked one. */
	CHECK_EQ(store_image_size(s, img), (long long)unpacked);
	CHECK(file_exists("index/sha256", img->layers[0].desc.digest));
	/* A second call returns the same tree. */
	{
		struct store_rootfs *fs2 = NULL;

		CHECK_EQ(store_image_rootfs(s, img, &fs2), 0);
		CHECK(fs2 == fs);
	}
out:
	store_toc_cursor_free(cur);
	store_image_put(s, img);
}

/* ---- partial blobs ----------------------------------------------------- */

#define PBIG 5		/* files of one span each, so the layer has several */

struct pfile {
	const char *path;
	unsigned char *data;
	size_t len;
};

/* A gzip tar of @files into a malloc'd buffer, its size in *@n. */
static unsigned char *make_big_tar(const struct pfile *files, size_t nf, bool gz,
				   size_t *n)
{
	size_t cap = (size_t)8 << 20, used = 0;
	struct archive *a = archive_write_new();
	unsigned char *out;

	for (size_t i = 0; i < nf; i++)
		cap += files[i].len + 1024;
	out = malloc(cap);
	if (!out)
		abort();
	tar_mem_open(a, gz, out, cap, &used);
	for (size_t i = 0; i < nf; i++) {
		struct archive_entry *e = archive_entry_new();

		archive_entry_set_pathname(e, files[i].path);
		archive_entry_set_filetype(e, AE_IFREG);
		archive_entry_set_perm(e, 0644);
		archive_entry_set_size(e, (la_int64_t)files[i].len);
		archive_entry_set_mtime(e, 1700000000, 0);
		if (archive_write_header(a, e) != ARCHIVE_OK ||
		    archive_write_data(a, files[i].data, files[i].len) != (la_ssize_t)files[i].len)
			abort();
		archive_entry_free(e);
	}
	archive_write_close(a);
	archive_write_free(a);
	*n = used;
	return out;
}

static void path_of(char *out, size_t cap, const char *sub, const char *digest,
		    const char *suffix)
{
	snprintf(out, cap, "%s/%s/%.64s%s", root, sub, digest + 7, suffix);
}

/* Read all of @name from the image's rootfs into @dst (cap @cap). */
static int read_file(struct store *s, struct store_image *img, const char *name,
		     unsigned char *dst, size_t cap, size_t *got)
{
	struct store_rootfs *fs;
	uint32_t ino;
	int ret;

	*got = 0;
	ret = store_image_rootfs(s, img, &fs);
	if (!ret)
		ret = store_rootfs_resolve(fs, name, &ino);
	while (!ret && *got < cap) {
		size_t n = 0;

		ret = store_image_read(s, img, ino, NULL, dst + *got, cap - *got,
				       *got, &n);
		if (!n)
			break;
		*got += n;
	}
	return ret;
}

/* Chunks marked in <hex>.chunks (after its 56-byte header); -1: no file. */
static int chunks_marked(const char *digest)
{
	char path[512];
	unsigned char b[4096];
	ssize_t n;
	int fd, bits = 0;

	path_of(path, sizeof(path), "partial/sha256", digest, ".chunks");
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return -1;
	n = read(fd, b, sizeof(b));
	close(fd);
	for (ssize_t i = 56; i < n; i++)
		bits += __builtin_popcount(b[i]);
	return bits;
}

static long long blocks_of(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 ? (long long)st.st_blocks : -1;
}

static void write_file(const char *path, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	CHECK(fd >= 0);
	if (fd < 0)
		return;
	CHECK_EQ(write(fd, data, len), (long long)len);
	close(fd);
}

static void test_partial(void)
{
	static char paths[PBIG][16];
	struct pfile files[PBIG + 2];
	struct store_opts o = { .default_host = "docker.io" };
	struct store *s = NULL;
	struct store_image *img = NULL;
	struct store_rootfs *fs = NULL;
	unsigned char *tar, *blob, *got;
	size_t tar_n, blob_n, nf = 0, n;
	char man[4096], cfg[72], bd[72], id[65], bpath[512], ppath[512];
	struct tlayer l;
	struct tlayer *la[] = { &l };
	uint64_t seed = 0x9e3779b97f4a7c15ull;
	long long blocks;
	int fd;

	snprintf(root, sizeof(root), "/tmp/test_store_partial.XXXXXX");
	if (!mkdtemp(root))
		abort();
	o.dir = root;
	/* Incompressible files of a span each, a small one in the middle. */
	for (size_t i = 0; i < PBIG; i++) {
		struct pfile *f = &files[nf++];

		snprintf(paths[i], sizeof(paths[i]), "big%zu", i);
		f->path = paths[i];
		f->len = (size_t)STORE_TOC_SPAN;
		f->data = malloc(f->len);
		if (!f->data)
			abort();
		for (size_t k = 0; k < f->len; k++) {
			seed ^= seed << 13;
			seed ^= seed >> 7;
			seed ^= seed << 17;
			f->data[k] = (unsigned char)seed;
		}
		if (i == 2)
			files[nf++] = (struct pfile){ "small",
				(unsigned char *)"hello, spans\n", 13 };
	}
	files[nf++] = (struct pfile){ "last", (unsigned char *)"the end\n", 8 };
	tar = make_big_tar(files, nf, false, &tar_n);
	blob = make_big_tar(files, nf, true, &blob_n);
	got = malloc(STORE_TOC_SPAN);
	if (!got)
		abort();
	test_sha256(tar, tar_n, l.diff_id);
	test_sha256(blob, blob_n, l.digest);
	l.size = blob_n;
	path_of(bpath, sizeof(bpath), "blobs/sha256", l.digest, "");
	path_of(ppath, sizeof(ppath), "partial/sha256", l.digest, "");

	/* An image whose layer is indexed (and the index kept). */
	CHECK_EQ(store_open(&o, &s), 0);
	if (!s)
		abort();
	CHECK_EQ(store_blob_add(s, blob, blob_n, bd), 0);
	make_image(s, la, 1, "2024-02-01T00:00:00Z",
		   "application/vnd.oci.image.layer.v1.tar+gzip", man, sizeof(man), cfg);
	CHECK_EQ(store_image_add(s, man, strlen(man), "127.0.0.1:1", "x/y", id), 0);
	CHECK_EQ(store_image_get(s, id, &img), 0);
	CHECK_EQ(store_image_rootfs(s, img, &fs), 0);
	CHECK(img->layers[0].part == NULL);
	CHECK(img->layers[0].toc && img->layers[0].toc->n_cps >= PBIG);
	store_image_put(s, img);
	CHECK(file_exists("index/sha256", l.digest));

	/* Blob gone, index kept: the layer reads through its partial blob;
	 * offline, with nowhere to fetch from, a read fails and marks nothing. */
	s = reopen(s);
	CHECK_EQ(unlink(bpath), 0);
	s = reopen(s);
	CHECK_EQ(store_image_get(s, id, &img), 0);
	CHECK_EQ(store_image_rootfs(s, img, &fs), 0);
	CHECK(img->layers[0].part != NULL);
	CHECK(!store_blob_has(s, l.digest));
	{
		struct stat st;

		CHECK_EQ(stat(ppath, &st), 0);
		CHECK_EQ(st.st_size, (long long)blob_n);
		CHECK_EQ(st.st_blocks, 0);
	}
	CHECK_EQ(read_file(s, img, "small", got, 64, &n), -EIO);
	CHECK_EQ(chunks_marked(l.digest), -1);

	/* Bytes that do not match the index's chunk digests are refused and
	 * nothing is written. */
	memset(got, 0x42, 64);
	fd = open(bpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	CHECK(fd >= 0);
	for (size_t k = 0; fd >= 0 && k < blob_n; k += 64)
		CHECK_EQ(write(fd, got, blob_n - k < 64 ? blob_n - k : 64) > 0, 1);
	if (fd >= 0)
		close(fd);
	CHECK_EQ(read_file(s, img, "small", got, 64, &n), -EIO);
	CHECK_EQ(chunks_marked(l.digest), -1);
	CHECK_EQ(blocks_of(ppath), 0);

	/* Right bytes (here copied from blobs/, as after a whole fetch): the
	 * chunk(s) holding it are written and marked; only they. */
	write_file(bpath, blob, blob_n);
	CHECK_EQ(read_file(s, img, "small", got, 64, &n), 0);
	CHECK_EQ(n, 13);
	CHECK_MEM(got, "hello, spans\n", 13);
	{
		/* at most twice the chunks of the span holding it (here most
		 * of a span: the data before the file does not compress, and
		 * with no span cache here the decompression reads its way to
		 * the file in runs that double, partial.c's readahead) */
		const struct store_toc *t = img->layers[0].toc;
		size_t k = store_toc_span_of(t, t->entries[0].offset);
		int marked = chunks_marked(l.digest);

		for (size_t e = 0; e < t->n_entries; e++)
			if (!strcmp(t->entries[e].path, "small"))
				k = store_toc_span_of(t, t->entries[e].offset);
		CHECKF(marked >= 1 && (uint64_t)marked <=
		       2 * ((store_toc_span_end(t, k) - store_toc_span_start(t, k)) /
			    t->chunk_size + 2), "%d chunks marked", marked);
	}
	blocks = blocks_of(ppath);
	CHECK(blocks > 0 && blocks * 512 < (long long)blob_n / 2);
	store_image_put(s, img);

	/* Reopen without the blob: the marked chunks read offline, others not. */
	CHECK_EQ(unlink(bpath), 0);
	s = reopen(s);
	CHECK_EQ(store_image_get(s, id, &img), 0);
	CHECK_EQ(read_file(s, img, "small", got, 64, &n), 0);
	CHECK_MEM(got, "hello, spans\n", 13);
	CHECK_EQ(read_file(s, img, "last", got, 64, &n), -EIO);
	CHECK_EQ(read_file(s, img, "big0", got, STORE_TOC_SPAN, &n), -EIO);

	/* Everything read: the partial becomes the blob, checked, in blobs/. */
	write_file(bpath, blob, blob_n);
	for (size_t i = 0; i < nf; i++) {
		CHECK_EQ(read_file(s, img, files[i].path, got, STORE_TOC_SPAN, &n), 0);
		CHECK_EQ(n, (long long)files[i].len);
		CHECKF(n == files[i].len && !memcmp(got, files[i].data, n),
		       "content of %s", files[i].path);
	}
	CHECK(access(ppath, F_OK) != 0);
	CHECK_EQ(chunks_marked(l.digest), -1);
	CHECK(store_blob_has(s, l.digest));
	CHECK_EQ(read_file(s, img, "last", got, 64, &n), 0);
	CHECK_MEM(got, "the end\n", 8);
	store_image_put(s, img);

	/* Stale files in partial/ go at open: junk, a partial whose blob is
	 * complete, one with no index. */
	{
		char junk[512];

		snprintf(junk, sizeof(junk), "%s/partial/sha256/junk", root);
		write_file(junk, "x", 1);
		write_file(ppath, "x", 1);
		snprintf(junk, sizeof(junk), "%s/partial/sha256/%064d.chunks", root, 7);
		write_file(junk, "x", 1);
		CHECK_EQ(count_dir("partial/sha256"), 3);
		s = reopen(s);
		CHECK_EQ(count_dir("partial/sha256"), 0);
	}
	store_close(s);
	for (size_t i = 0; i < nf; i++)
		if (!strncmp(files[i].path, "big", 3))
			free(files[i].data);
	free(tar);
	free(blob);
	free(got);
	{
		char cmd[300];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
		CHECK(system(cmd) == 0);
	}
}

/* Whether the file @sub (under the store) contains @needle. */
static bool file_has(const char *sub, const char *needle)
{
	char path[512], text[65536];
	size_t n = 0;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", root, sub);
	f = fopen(path, "r");
	if (f) {
		n = fread(text, 1, sizeof(text) - 1, f);
		fclose(f);
	}
	text[n] = '\0';
	return strstr(text, needle) != NULL;
}

/*
 * Two manifests of one config (image @id, first manifest @man local) from
 * two sources: both recorded, each tag shows its own, each found by its
 * digest (store_image_source) until it leaves the record, GC keeps both,
 * and a rename checks the image it expects the tag to name.
 */
static struct store *test_sources(struct store *s, const char *man, const char *id,
				  const char *other_id, char md2[72])
{
	char man2[4096], id2[65], md1[72], got[65];
	struct store_image *img;
	struct buf b;

	/* The same config with another manifest (an annotation more). */
	CHECK(snprintf(man2, sizeof(man2), "{\"annotations\":{\"src\":\"b\"},%.4000s",
		       man + 1) < (int)sizeof(man2));
	test_sha256(man, strlen(man), md1);
	test_sha256(man2, strlen(man2), md2);
	CHECK_EQ(store_image_get(s, id, &img), 0);	/* cached before */
	CHECK_EQ(store_image_add(s, man2, strlen(man2), "127.0.0.1:1", "evil/x", id2), 0);
	CHECK(!strcmp(id2, id));
	CHECK_EQ(store_image_add(s, man2, strlen(man2), "127.0.0.1:1", "evil/x", id2), 0);
	CHECK_EQ(img->n_srcs, 2);	/* the cached image learnt it, once */
	if (img->n_srcs == 2)
		CHECK(!strcmp(img->srcs[1]->host, "127.0.0.1:1") &&
		      !strcmp(img->srcs[1]->manifest_digest, md2));
	CHECK(!strcmp(img->manifest_digest, md1));
	store_image_put(s, img);
	{
		char rec[80], orec[80];

		/* A second source makes "sources"; one source keeps the old
		 * format, which older readers understand. */
		snprintf(rec, sizeof(rec), "images/%s.json", id);
		snprintf(orec, sizeof(orec), "images/%s.json", other_id);
		CHECK(file_has(rec, "\"sources\"") && file_has(rec, md2));
		CHECK(file_has(orec, "\"manifest\"") && !file_has(orec, "\"sources\""));
	}
	CHECK_EQ(store_tag_set_source(s, "127.0.0.1:1", "evil/x", "t", id,
				      "127.0.0.1:1", "evil/x", md2), 0);
	CHECK(file_has("tags.json", md2));
	CHECK(!file_has("tags.json", md1));	/* local tags have no source */
	s = reopen(s);
	CHECK_EQ(store_image_get(s, id, &img), 0);
	CHECK_EQ(img->n_srcs, 2);
	store_image_put(s, img);
	/* Each tag its own manifest; a tag without a source the first. */
	CHECK_EQ(store_tag_manifest(s, "127.0.0.1:1", "evil/x", "t", &b), 0);
	CHECK(b.len == strlen(man2) && !memcmp(b.data, man2, b.len));
	buf_release(&b);
	CHECK_EQ(store_tag_manifest(s, "docker.io", "library/a", "1", &b), 0);
	CHECK(b.len == strlen(man) && !memcmp(b.data, man, b.len));
	buf_release(&b);
	CHECK_EQ(store_tag_manifest(s, "docker.io", "library/a", "9", &b), -ENOENT);
	buf_release(&b);
	CHECK(store_blob_has(s, md2));

	/* Each source by its manifest digest: bytes, origin, layers. */
	{
		struct store_image_source src;
		struct store_tag *tags;
		char none[72];
		size_t n;
		int fd = -1;

		CHECK_EQ(store_image_get(s, id, &img), 0);
		memset(&src, 0, sizeof(src));
		CHECK_EQ(store_image_source(s, img, md2, &src), 0);
		CHECK(src.manifest && src.manifest->len == strlen(man2) &&
		      !memcmp(src.manifest->data, man2, strlen(man2)));
		CHECK(src.digest && !strcmp(src.digest, md2));
		CHECK(src.host && !strcmp(src.host, "127.0.0.1:1") &&
		      src.repo && !strcmp(src.repo, "evil/x"));
		CHECK(src.m && src.m->n_layers == store_image_n_layers(img));
		memset(&src, 0, sizeof(src));
		CHECK_EQ(store_image_source(s, img, md1, &src), 0);
		CHECK(src.manifest && src.manifest->len == strlen(man) &&
		      !memcmp(src.manifest->data, man, strlen(man)));
		test_sha256("none", 4, none);
		CHECK_EQ(store_image_source(s, img, none, &src), -ENOENT);
		/* Its layer, local already, by the source's manifest. */
		CHECK_EQ(store_image_source_layer_open(s, img, md2, 0, &fd), 0);
		CHECK(fd >= 0);
		if (fd >= 0)
			store_image_source_layer_close(s, img, md2, 0);
		CHECK_EQ(store_image_source_layer_open(s, img, md2,
						       store_image_n_layers(img), &fd), -ENOENT);
		CHECK_EQ(store_image_source_layer_open(s, img, none, 0, &fd), -ENOENT);
		store_image_put(s, img);
		/* The tag list says what each tag was pulled as. */
		CHECK_EQ(store_tag_list(s, &tags, &n), 0);
		for (size_t i = 0; i < n; i++) {
			if (!strcmp(tags[i].repo, "evil/x") && !strcmp(tags[i].tag, "t"))
				CHECK_STR(tags[i].manifest, md2);
			else if (!strcmp(tags[i].repo, "library/a"))
				CHECK_STR(tags[i].manifest, "");
		}
		store_tag_list_free(tags, n);
	}

	/* At most STORE_SOURCES_MAX sources: the oldest no tag names makes
	 * room (t's stays); when every one is named, no more are added. */
	{
		char mi[4096], mdi[STORE_SOURCES_MAX + 1][72], rec[80], tag[16];

		snprintf(rec, sizeof(rec), "images/%s.json", id);
		for (int i = 0; i <= STORE_SOURCES_MAX; i++) {
			CHECK(snprintf(mi, sizeof(mi), "{\"annotations\":{\"n\":\"%d\"},%.4000s",
				       i, man + 1) < (int)sizeof(mi));
			test_sha256(mi, strlen(mi), mdi[i]);
			CHECK_EQ(store_image_add(s, mi, strlen(mi), "127.0.0.1:1", "many/x", id2), 0);
		}
		CHECK(file_has(rec, md1) && file_has(rec, md2));
		/* 2 + 33 sources for 32 places: the three oldest unnamed left. */
		CHECK(!file_has(rec, mdi[0]) && !file_has(rec, mdi[1]) && !file_has(rec, mdi[2]));
		CHECK(file_has(rec, mdi[3]) && file_has(rec, mdi[STORE_SOURCES_MAX]));
		for (int i = 3; i <= STORE_SOURCES_MAX; i++) {
			snprintf(tag, sizeof(tag), "n%d", i);
			CHECK_EQ(store_tag_set_source(s, "127.0.0.1:1", "many/x", tag, id,
						      "127.0.0.1:1", "many/x", mdi[i]), 0);
		}
		CHECK_EQ(store_image_add(s, man2, strlen(man2), "127.0.0.1:1", "other/x", id2),
			 -ENOSPC);
		for (int i = 3; i <= STORE_SOURCES_MAX; i++) {
			snprintf(tag, sizeof(tag), "n%d", i);
			CHECK_EQ(store_tag_remove(s, "127.0.0.1:1", "many/x", tag), 0);
		}
		CHECK_EQ(store_image_add(s, man2, strlen(man2), "127.0.0.1:1", "other/x", id2), 0);
		CHECK(!file_has(rec, mdi[3]) && file_has(rec, mdi[4]) && file_has(rec, md2));
		/* A source dropped from the record is not found, though the
		 * loaded image keeps it in memory. */
		CHECK_EQ(store_image_get(s, id, &img), 0);
		{
			struct store_image_source src;

			CHECK_EQ(store_image_source(s, img, mdi[0], &src), -ENOENT);
			CHECK_EQ(store_image_source(s, img, mdi[3], &src), -ENOENT);
			CHECK_EQ(store_image_source(s, img, mdi[4], &src), 0);
		}
		store_image_put(s, img);
	}

	/* Rename: the tag now names @other_id, not @id: refused, and the
	 * re-pointed tag (and the image only it names) stays. */
	CHECK_EQ(store_tag_set(s, "127.0.0.1:1", "evil/x", "t", other_id), 0);
	CHECK_EQ(store_tag_rename(s, "127.0.0.1:1", "evil/x", "t", "127.0.0.1:1",
				  "evil/x", "u", id, false), -ESTALE);
	CHECK_EQ(store_tag_get(s, "127.0.0.1:1", "evil/x", "t", got), 0);
	CHECK(!strcmp(got, other_id));
	CHECK_EQ(store_tag_get(s, "127.0.0.1:1", "evil/x", "u", got), -ENOENT);
	/* With the right id it moves, keeping its source; noreplace holds. */
	CHECK_EQ(store_tag_set_source(s, "127.0.0.1:1", "evil/x", "t", id,
				      "127.0.0.1:1", "evil/x", md2), 0);
	CHECK_EQ(store_tag_rename(s, "127.0.0.1:1", "evil/x", "t", "docker.io",
				  "library/a", "1", id, true), -EEXIST);
	CHECK_EQ(store_tag_rename(s, "127.0.0.1:1", "evil/x", "t", "127.0.0.1:1",
				  "evil/x", "u", id, false), 0);
	CHECK_EQ(store_tag_get(s, "127.0.0.1:1", "evil/x", "t", got), -ENOENT);
	s = reopen(s);
	CHECK_EQ(store_tag_get(s, "127.0.0.1:1", "evil/x", "u", got), 0);
	CHECK(!strcmp(got, id));
	CHECK_EQ(store_tag_manifest(s, "127.0.0.1:1", "evil/x", "u", &b), 0);
	CHECK(b.len == strlen(man2) && !memcmp(b.data, man2, b.len));
	buf_release(&b);
	CHECK_EQ(store_tag_rename(s, "127.0.0.1:1", "evil/x", "gone", "127.0.0.1:1",
				  "evil/x", "v", id, false), -ENOENT);
	CHECK_EQ(store_tag_remove(s, "127.0.0.1:1", "evil/x", "u"), 0);
	return s;
}

int main(void)
{
	static const struct tfile f1[] = {
		{ "etc", NULL },
		{ "etc/os-release", "NAME=testos\n" },
		{ "bin", NULL },
		{ "bin/sh", "shell\n" },
	};
	static const struct tfile f2[] = {
		{ "opt", NULL },
		{ "opt/app", "app\n" },
	};
	static struct tlayer l1, l2;
	struct tlayer *la[] = { &l1 }, *lb[] = { &l1, &l2 };
	struct store_opts o = { .default_host = "docker.io" };
	struct store *s = NULL;
	char man_a[4096], man_b[4096], man_d[4096], man_bad[4096];
	char cfg_a[72], cfg_b[72], cfg_d[72], cfg_bad[72], mdig[72];
	char id_a[65], id_b[65], id_d[65], id[65], md_a2[72];
	struct store_tag *tags;
	char **ids;
	size_t n;
	struct store_image *img;

	log_setup(LOG_LVL_WARN, 0);
	snprintf(root, sizeof(root), "/tmp/test_store.XXXXXX");
	if (!mkdtemp(root))
		return 1;
	o.dir = root;
	CHECK_EQ(store_open(&o, &s), 0);
	if (!s)
		return 1;
	CHECK_EQ(count_dir("tmp"), 0);
	CHECK(!strcmp(store_default_host(s), "docker.io"));

	test_blobs(s);

	make_layer(s, f1, 4, &l1);
	make_layer(s, f2, 2, &l2);
	make_image(s, la, 1, "2024-01-01T00:00:00Z", "application/vnd.oci.image.layer.v1.tar+gzip",
		   man_a, sizeof(man_a), cfg_a);
	make_image(s, lb, 2, "2024-01-02T00:00:00Z", "application/vnd.oci.image.layer.v1.tar+gzip",
		   man_b, sizeof(man_b), cfg_b);
	make_image(s, la, 1, "2024-01-03T00:00:00Z", "application/vnd.oci.image.layer.v1.tar+gzip",
		   man_d, sizeof(man_d), cfg_d);
	make_image(s, la, 1, "2024-01-04T00:00:00Z", "application/x-unknown",
		   man_bad, sizeof(man_bad), cfg_bad);

	CHECK_EQ(store_image_add(s, man_a, strlen(man_a), NULL, NULL, id_a), 0);
	CHECK(!strcmp(id_a, cfg_a + 7));
	CHECK_EQ(store_image_add(s, man_a, strlen(man_a), NULL, NULL, id), 0);	/* again */
	CHECK_EQ(store_image_add(s, man_b, strlen(man_b), NULL, NULL, id_b), 0);
	CHECK_EQ(store_image_add(s, man_d, strlen(man_d), NULL, NULL, id_d), 0);
	CHECK_EQ(store_image_add(s, man_bad, strlen(man_bad), NULL, NULL, id), -ENOTSUP);
	CHECK_EQ(store_image_add(s, "{}", 2, NULL, NULL, id) < 0, 1);
	CHECK_EQ(count_dir("images"), 3);

	/* Get by full id, by prefix, by sha256:; unknown and bad ids. */
	CHECK_EQ(store_image_get(s, id_a, &img), 0);
	CHECK_EQ(img->n_layers, 1);
	CHECK(img->n_srcs == 1 && !img->srcs[0]->host && !img->srcs[0]->repo);
	CHECK_EQ(img->cfg.created, 1704067200);
	store_image_put(s, img);
	{
		char pre[13], sha[80];

		memcpy(pre, id_b, 12);
		pre[12] = '\0';
		CHECK_EQ(store_image_get(s, pre, &img), 0);
		CHECK(!strcmp(img->id, id_b));
		store_image_put(s, img);
		snprintf(sha, sizeof(sha), "sha256:%s", id_d);
		CHECK_EQ(store_image_get(s, sha, &img), 0);
		store_image_put(s, img);
	}
	CHECK_EQ(store_image_get(s, "../../x", &img), -ENOENT);
	CHECK_EQ(store_image_get(s, "abc", &img), -ENOENT);
	CHECK_EQ(store_image_list(s, &ids, &n), 0);
	CHECK_EQ(n, 3);
	for (size_t i = 0; i < n; i++)
		free(ids[i]);
	free(ids);

	/* Tags: set, get, list, bad names, persistence across reopen. */
	CHECK_EQ(store_tag_set(s, "docker.io", "library/a", "1", id_a), 0);
	CHECK_EQ(store_tag_set(s, "docker.io", "library/a", "2", id_a), 0);
	CHECK_EQ(store_tag_set(s, "127.0.0.1:5000", "ns/b", "latest", id_b), 0);
	CHECK_EQ(store_tag_set(s, "docker.io", "library/a", "bad tag", id_a), -EINVAL);
	CHECK_EQ(store_tag_set(s, "docker.io", "Upper", "1", id_a), -EINVAL);
	CHECK_EQ(store_tag_set(s, "docker.io", "library/a", "3",
			       "0000000000000000000000000000000000000000000000000000000000000000"),
		 -ENOENT);
	s = reopen(s);
	CHECK_EQ(store_tag_get(s, "docker.io", "library/a", "1", id), 0);
	CHECK(!strcmp(id, id_a));
	CHECK_EQ(store_tag_get(s, "docker.io", "library/a", "3", id), -ENOENT);
	CHECK_EQ(store_tag_list(s, &tags, &n), 0);
	CHECK_EQ(n, 3);
	if (n == 3) {
		CHECK(!strcmp(tags[0].host, "127.0.0.1:5000") && !strcmp(tags[0].tag, "latest"));
		CHECK(!strcmp(tags[1].tag, "1") && !strcmp(tags[2].tag, "2"));
		CHECK(!strcmp(tags[2].id, id_a));
	}
	store_tag_list_free(tags, n);

	s = test_sources(s, man_a, id_a, id_b, md_a2);

	/* Offline pull: a local tag answers; anything else is ENOENT. */
	CHECK_EQ(store_pull(s, "docker.io", "library/a", "1", id), 0);
	CHECK(!strcmp(id, id_a));
	CHECK_EQ(store_pull(s, "docker.io", "library/zzz", "1", id), -ENOENT);
	CHECK_EQ(store_remote_repo_exists(s, "docker.io", "library/zzz"), -ENOENT);

	/* Dangling: D has no tag. */
	CHECK_EQ(store_image_dangling(s, &ids, &n), 0);
	CHECK_EQ(n, 1);
	if (n == 1)
		CHECK(!strcmp(ids[0], id_d));
	for (size_t i = 0; i < n; i++)
		free(ids[i]);
	free(ids);

	/* Rootfs of B (two layers) then of A. */
	test_rootfs(s, id_b, 12 + 6 + 4);
	test_rootfs(s, id_a, 12 + 6);

	/* Busy images cannot be deleted, by id or by their last tag. */
	CHECK_EQ(store_image_get(s, id_b, &img), 0);
	store_image_busy(s, img, 1);
	CHECK_EQ(store_image_delete(s, id_b), -EBUSY);
	CHECK_EQ(store_tag_remove(s, "127.0.0.1:5000", "ns/b", "latest"), -EBUSY);
	CHECK_EQ(store_tag_get(s, "127.0.0.1:5000", "ns/b", "latest", id), 0);
	store_image_busy(s, img, -1);

	/* Removing B's last tag deletes B: its own blobs go, shared L1 stays.
	 * The reference held here keeps the image usable until put. */
	CHECK_EQ(store_tag_remove(s, "127.0.0.1:5000", "ns/b", "latest"), 0);
	CHECK_EQ(store_tag_get(s, "127.0.0.1:5000", "ns/b", "latest", id), -ENOENT);
	CHECK(!file_exists("images", id_b));
	CHECK(!store_blob_has(s, cfg_b));
	CHECK(!store_blob_has(s, l2.digest));
	CHECK(!file_exists("index/sha256", l2.digest));
	CHECK(store_blob_has(s, l1.digest));
	CHECK(file_exists("index/sha256", l1.digest));
	CHECK(store_blob_has(s, cfg_a));
	CHECK_EQ(img->n_layers, 2);
	store_image_put(s, img);
	CHECK_EQ(store_image_get(s, id_b, &img), -ENOENT);

	/* Untag one of two tags of A: A stays. */
	CHECK_EQ(store_tag_remove(s, "docker.io", "library/a", "2"), 0);
	CHECK(file_exists("images", id_a));
	CHECK(file_exists("images", id_d));
	CHECK_EQ(store_tag_remove(s, "docker.io", "library/a", "2"), -ENOENT);

	/* Delete A by id: its tag goes too; L1 stays for D. */
	test_sha256(man_a, strlen(man_a), mdig);
	CHECK(store_blob_has(s, mdig));
	CHECK_EQ(store_image_get(s, id_a, &img), 0);
	{
		struct store_image_source src;

		CHECK_EQ(store_image_source(s, img, md_a2, &src), 0);
		CHECK_EQ(store_image_delete(s, id_a), 0);
		/* A reference held past the delete finds no source. */
		CHECK_EQ(store_image_source(s, img, md_a2, &src), -ENOENT);
		CHECK_EQ(store_image_source(s, img, mdig, &src), -ENOENT);
	}
	store_image_put(s, img);
	CHECK_EQ(store_tag_get(s, "docker.io", "library/a", "1", id), -ENOENT);
	CHECK(!store_blob_has(s, mdig));
	CHECK(!store_blob_has(s, md_a2));	/* its other source's manifest */
	CHECK(!store_blob_has(s, cfg_a));
	CHECK(store_blob_has(s, l1.digest));
	CHECK_EQ(store_image_delete(s, id_a), -ENOENT);

	/* Moving a tag leaves nothing behind; delete D frees L1. */
	CHECK_EQ(store_tag_set(s, "docker.io", "library/d", "x", id_d), 0);
	s = reopen(s);
	CHECK_EQ(store_tag_get(s, "docker.io", "library/d", "x", id), 0);
	/* `rm dangling/<id>` of an image tagged since it was listed there
	 * (an import tags what it recorded): nothing deleted. */
	CHECK_EQ(store_image_delete_dangling(s, id_d), -ENOENT);
	CHECK(file_exists("images", id_d));
	CHECK_EQ(store_tag_get(s, "docker.io", "library/d", "x", id), 0);
	CHECK_EQ(store_image_delete(s, id_d), 0);
	CHECK(!store_blob_has(s, l1.digest));
	CHECK(!file_exists("index/sha256", l1.digest));
	CHECK_EQ(count_dir("images"), 0);
	CHECK_EQ(store_tag_list(s, &tags, &n), 0);
	CHECK_EQ(n, 0);
	store_tag_list_free(tags, n);

	/* image_add requires its layers local (unless host/repo given). */
	make_image(s, la, 1, "2024-01-03T00:00:00Z", "application/vnd.oci.image.layer.v1.tar+gzip",
		   man_d, sizeof(man_d), cfg_d);
	img = NULL;
	CHECK_EQ(store_image_add(s, man_d, strlen(man_d), NULL, NULL, id), -ENOENT);
	CHECK_EQ(store_image_add(s, man_d, strlen(man_d), "127.0.0.1:1", "x/y", id), 0);
	CHECK_EQ(store_image_get(s, id, &img), 0);
	if (img) {
		struct store_rootfs *fs;
		int fd;

		CHECK(img->n_srcs == 1 && !strcmp(img->srcs[0]->host, "127.0.0.1:1") &&
		      !strcmp(img->srcs[0]->repo, "x/y"));
		/* Offline: the layer cannot be fetched; a retry still fails cleanly. */
		CHECK_EQ(store_image_rootfs(s, img, &fs), -ENOENT);
		CHECK_EQ(store_image_rootfs(s, img, &fs), -ENOENT);
		CHECK_EQ(store_image_layer_open(s, img, 0, &fd), -ENOENT);
		CHECK_EQ(store_image_layer_open(s, img, 1, &fd), -EINVAL);
		store_image_put(s, img);
	}

	/* An import's leftovers: only unreferenced blobs go. */
	{
		char orphan[72];
		const char *const v[] = { orphan, cfg_d, "sha256:bad" };

		CHECK_EQ(store_blob_add(s, "orphan", 6, orphan), 0);
		CHECK_EQ(store_blob_remove_unreferenced(s, v, 3), 0);
		CHECK(!store_blob_has(s, orphan));
		CHECK(store_blob_has(s, cfg_d));
	}
	/* An image no tag names: deleted as dangling. */
	CHECK_EQ(count_dir("images"), 1);
	CHECK_EQ(store_image_delete_dangling(s, id), 0);
	CHECK_EQ(count_dir("images"), 0);
	CHECK(!store_blob_has(s, cfg_d));

	/* Crash debris: a junk file in tmp/ and a half-written index are gone
	 * after open. */
	{
		char path[512];
		int fd;

		snprintf(path, sizeof(path), "%s/tmp/b-deadbeef", root);
		fd = open(path, O_WRONLY | O_CREAT, 0600);
		CHECK(fd >= 0);
		if (fd >= 0) {
			CHECK_EQ(write(fd, "junk", 4), 4);
			close(fd);
		}
		snprintf(path, sizeof(path), "%s/index/sha256/%.64s.tmp.Ab12Cd",
			 root, l1.digest + 7);
		fd = open(path, O_WRONLY | O_CREAT, 0600);
		CHECK(fd >= 0);
		if (fd >= 0)
			close(fd);
		CHECK_EQ(count_dir("tmp"), 1);
		CHECK_EQ(count_dir("index/sha256"), 1);
		s = reopen(s);
		CHECK_EQ(count_dir("tmp"), 0);
		CHECK_EQ(count_dir("index/sha256"), 0);
	}
	store_close(s);

	{
		char cmd[300];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
		CHECK(system(cmd) == 0);
	}
	test_partial();
	return check_done("test_store");
}
