/* SPDX-License-Identifier: MIT */
/*
 * test_span_cache.c - the decompressed span cache (store/core/span_cache.c)
 * on a real gzip layer of many spans, written here by libarchive and
 * indexed by store_toc_build: a span is decompressed once however often
 * it is read; concurrent readers of one span cause one decompression;
 * eviction keeps the bytes present (counted and allocated on disk) within
 * the cap and never punches out a pinned span; evicted spans come back
 * with the right bytes.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>

#define CHECK_FATAL
#include "check.h"
#include "tar_mem.h"
#include "store_int.h"	/* white-box: the cache and struct store_layer */

#define FILE_BYTES ((size_t)14 << 20)
#define TAR_CAP (FILE_BYTES + ((size_t)1 << 20))

static char dir[] = "/tmp/test_span_cache.XXXXXX";
static unsigned char *ref_stream;	/* the uncompressed tar */
static size_t ref_len;
static struct store_layer layer;
static char digest[] =
	"sha256:00000000000000000000000000000000000000000000000000000000000c0ffe";

/* A tar of one file of @FILE_BYTES compressible pseudo-random bytes. */
static size_t make_tar(bool gz, unsigned char *out, size_t cap)
{
	struct archive *a = archive_write_new();
	struct archive_entry *e = archive_entry_new();
	unsigned char *data = malloc(FILE_BYTES);
	uint32_t x = 12345;
	size_t used = 0;

	if (!data)
		abort();
	for (size_t i = 0; i < FILE_BYTES; i++) {
		x = x * 1103515245u + 12345u;
		data[i] = (unsigned char)('a' + (x >> 16) % 16);
	}
	tar_mem_open(a, gz, out, cap, &used);
	archive_entry_set_pathname(e, "data");
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_perm(e, 0644);
	archive_entry_set_size(e, (la_int64_t)FILE_BYTES);
	archive_entry_set_mtime(e, 1700000000, 0);
	if (archive_write_header(a, e) != ARCHIVE_OK ||
	    archive_write_data(a, data, FILE_BYTES) != (la_ssize_t)FILE_BYTES)
		abort();
	archive_entry_free(e);
	archive_write_close(a);
	archive_write_free(a);
	free(data);
	return used;
}

static void setup(void)
{
	unsigned char *gz = malloc(TAR_CAP);
	char path[256];
	size_t gz_len;
	int fd;

	ref_stream = malloc(TAR_CAP);
	CHECK(gz && ref_stream);
	ref_len = make_tar(false, ref_stream, TAR_CAP);
	gz_len = make_tar(true, gz, TAR_CAP);
	CHECK(mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/blob", dir);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	CHECK(fd >= 0);
	CHECK_EQ(0, file_write_all(fd, gz, gz_len));
	free(gz);
	layer.fd = fd;
	layer.comp = REGISTRY_COMP_GZIP;
	layer.desc.digest = digest;
	CHECK_EQ(0, store_toc_build(fd, REGISTRY_COMP_GZIP, &layer.toc));
	CHECK_EQ((long long)ref_len, (long long)layer.toc->tar_size);
	/* The tests below need several spans to choose from. */
	CHECKF(layer.toc->n_cps >= 3, "only %zu spans", layer.toc->n_cps);
}

static uint64_t span_start(size_t i)
{
	return layer.toc->cps[i].uoff;
}

static uint64_t span_len(size_t i)
{
	uint64_t end = i + 1 < layer.toc->n_cps ? layer.toc->cps[i + 1].uoff
						: layer.toc->tar_size;

	return end - span_start(i);
}

static struct store_cache *cache_new(uint64_t max)
{
	char path[300];
	struct store_cache *c;
	int fd;

	snprintf(path, sizeof(path), "%s/cache", dir);
	mkdir(path, 0700);
	fd = open(path, O_RDONLY | O_DIRECTORY);
	CHECK(fd >= 0);
	/* Each cache starts empty, as the store's does. */
	unlinkat(fd, layer.desc.digest + 7, 0);
	CHECK_EQ(0, store_cache_open(fd, max, &c));
	return c;
}

static struct store_cache_stats stats(struct store_cache *c)
{
	struct store_cache_stats st;

	store_cache_stats(c, &st);
	return st;
}

/* @len bytes at @off through the cache, checked against the stream. */
static int read_check(struct store_cache *c, uint64_t off, size_t len)
{
	unsigned char *buf = malloc(len);
	size_t done = 0;
	int ret = 0;

	CHECK(buf != NULL);
	while (done < len && !ret) {
		struct store_cache_ref ref;

		ret = store_cache_get(c, &layer, off + done, len - done, &ref);
		if (ret)
			break;
		CHECK(ref.len > 0 && ref.len <= len - done);
		ret = store_cache_pread(&ref, buf + done);
		store_cache_put(c, &ref);
		done += ref.len;
	}
	if (!ret)
		CHECKF(!memcmp(buf, ref_stream + off, len),
		       "bytes at %llu differ", (unsigned long long)off);
	free(buf);
	return ret;
}

/* Bytes the cache file holds on disk. */
static uint64_t allocated(void)
{
	char path[400];
	struct stat st;

	snprintf(path, sizeof(path), "%s/cache/%s", dir, layer.desc.digest + 7);
	if (stat(path, &st) < 0)
		return 0;
	return (uint64_t)st.st_blocks * 512;
}

static void test_once(void)
{
	struct store_cache *c = cache_new((uint64_t)1 << 30);
	uint64_t s1 = span_start(1);

	CHECK_EQ(0, read_check(c, s1 + 10, 100));
	CHECK_EQ(1, stats(c).fills);
	/* Other bytes of the same span, again and again: no more work. */
	for (int k = 0; k < 20; k++)
		CHECK_EQ(0, read_check(c, s1 + (uint64_t)k * 997, 4096));
	CHECK_EQ(1, stats(c).fills);
	CHECK_EQ((long long)span_len(1), (long long)stats(c).used);
	/* A read across a span boundary fills the next span, once. */
	CHECK_EQ(0, read_check(c, span_start(2) - 50, 100));
	CHECK_EQ(2, stats(c).fills);
	/* The whole stream: each span decompressed exactly once. */
	CHECK_EQ(0, read_check(c, 0, ref_len));
	CHECK_EQ((long long)layer.toc->n_cps, (long long)stats(c).fills);
	CHECK_EQ(0, read_check(c, 0, ref_len));
	CHECK_EQ((long long)layer.toc->n_cps, (long long)stats(c).fills);
	CHECK_EQ(0, stats(c).evictions);
	store_cache_close(c);
}

struct reader {
	struct store_cache *c;
	pthread_barrier_t *go;
	int ret;
};

static void *reader_main(void *arg)
{
	struct reader *r = arg;

	pthread_barrier_wait(r->go);
	r->ret = read_check(r->c, span_start(2) + 4096, 65536);
	return NULL;
}

static void test_concurrent(void)
{
	struct store_cache *c = cache_new((uint64_t)1 << 30);
	pthread_barrier_t go;
	pthread_t th[8];
	struct reader r[8];

	pthread_barrier_init(&go, NULL, 8);
	for (int i = 0; i < 8; i++) {
		r[i] = (struct reader){ .c = c, .go = &go, .ret = -1 };
		CHECK_EQ(0, pthread_create(&th[i], NULL, reader_main, &r[i]));
	}
	for (int i = 0; i < 8; i++) {
		pthread_join(th[i], NULL);
		CHECK_EQ(0, r[i].ret);
	}
	CHECK_EQ(1, stats(c).fills);
	pthread_barrier_destroy(&go);
	store_cache_close(c);
}

static void test_evict(void)
{
	size_t n = layer.toc->n_cps;
	uint64_t max_len = 0, cap;
	struct store_cache_ref pin, pin2;
	struct store_cache *c;
	unsigned char *before;

	for (size_t i = 0; i < n; i++)
		if (span_len(i) > max_len)
			max_len = span_len(i);
	/* Room for span 0 and one other span at most. */
	cap = span_len(0) + max_len;
	c = cache_new(cap);

	/* Everything read twice under the cap. */
	for (int pass = 0; pass < 2; pass++)
		for (size_t i = 0; i < n; i++) {
			CHECK_EQ(0, read_check(c, span_start(i), (size_t)span_len(i)));
			CHECK(stats(c).used <= cap);
			/* Spans do not start on block boundaries: a punched
			 * span leaves the block it shares with a neighbour. */
			CHECKF(allocated() <= cap + 4096 * (n + 1),
			       "%llu bytes on disk, cap %llu",
			       (unsigned long long)allocated(), (unsigned long long)cap);
		}
	CHECK(stats(c).evictions > 0);
	/* Evicted spans came back: every one was filled again on pass 2. */
	CHECK_EQ(2 * (long long)n, (long long)stats(c).fills);

	/* Span 0 pinned survives reads of every other span. */
	CHECK_EQ(0, store_cache_get(c, &layer, span_start(0), 512, &pin));
	before = malloc(512);
	CHECK(before != NULL);
	for (size_t i = 1; i < n; i++)
		CHECK_EQ(0, read_check(c, span_start(i) + 1, 1000));
	CHECK_EQ(0, store_cache_pread(&pin, before));
	CHECK(!memcmp(before, ref_stream + span_start(0), 512));

	/* With spans 0 and 1 pinned, a third that does not fit is refused
	 * (the caller decompresses it itself) rather than evicting them. */
	CHECK_EQ(0, store_cache_get(c, &layer, span_start(1), 512, &pin2));
	if (span_len(0) + span_len(1) + span_len(2) > cap) {
		struct store_cache_ref r;
		uint64_t fills = stats(c).fills;

		CHECK_EQ(-ENOBUFS, store_cache_get(c, &layer, span_start(2), 10, &r));
		CHECK_EQ((long long)fills, (long long)stats(c).fills);
	}
	CHECK_EQ(0, store_cache_pread(&pin, before));
	CHECK(!memcmp(before, ref_stream + span_start(0), 512));
	store_cache_put(c, &pin2);
	store_cache_put(c, &pin);
	/* Unpinned, they go like any other. */
	CHECK_EQ(0, read_check(c, span_start(2), 10));
	CHECK_EQ(0, read_check(c, 0, ref_len));
	CHECK(stats(c).used <= cap);
	free(before);
	store_cache_close(c);

	/* A cap smaller than any span caches nothing and refuses. */
	c = cache_new(100);
	{
		struct store_cache_ref r;

		CHECK_EQ(-ENOBUFS, store_cache_get(c, &layer, 0, 10, &r));
		CHECK_EQ(0, stats(c).fills);
		CHECK_EQ(0, stats(c).used);
	}
	store_cache_close(c);
}

int main(void)
{
	char cmd[300];

	setup();
	test_once();
	test_concurrent();
	test_evict();
	store_toc_free(layer.toc);
	close(layer.fd);
	free(ref_stream);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
	return check_done("test_span_cache");
}
