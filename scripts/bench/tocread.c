/*
 * scripts/bench/tocread.c — how fast a gzip layer's spans decompress
 * through the layer index's read path (store/toc), the way the span cache
 * and a cold read take them: each span read whole by a cursor-less
 * store_toc_read, which resumes at the span's access point.
 *
 *   tocread BLOB [RUNS]
 *
 * Indexes BLOB (gzip) once, then RUNS times (default 5) reads every span.
 * Prints the index build time, then per run the seconds for all spans
 * (wall clock and CPU time) and the uncompressed MB/s of each, then the
 * medians.  The blob should be in the
 * page cache (a first run warms it): this measures inflate, not the disk.
 *
 * Not built by CMake: link it against a build tree's static libraries,
 *   B=/tmp/build-x
 *   gcc -O2 -I$B/include/imgfs_toc -I$B/include/imgfs_oci \
 *     -I$B/include/imgfs_common -o tocread scripts/bench/tocread.c \
 *     $B/libimgfs_toc.a $B/libimgfs_oci.a $B/libimgfs_common.a \
 *     -larchive -lz -lzstd -lcrypto -ljansson -lxxhash -lpthread [-lisal]
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "toc.h"

#define MAX_RUNS 50

static double clock_s(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static double now(void)
{
	return clock_s(CLOCK_MONOTONIC);
}

/* CPU time of this process: on a shared, loaded machine it moves far
 * less than the wall clock with what else runs. */
static double cpu(void)
{
	return clock_s(CLOCK_PROCESS_CPUTIME_ID);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	struct store_toc *t = NULL;
	struct store_toc_src src = { 0 };
	double t0, c0, secs[MAX_RUNS], csecs[MAX_RUNS];
	unsigned char *buf;
	size_t i, got;
	char *end = NULL;
	long runs = argc > 2 ? strtol(argv[2], &end, 10) : 5;
	int fd, r, rc;

	if (argc < 2 || (end && *end) || runs < 1 || runs > MAX_RUNS) {
		fprintf(stderr, "usage: tocread BLOB [RUNS]\n");
		return 2;
	}
	log_setup(LOG_LVL_ERR, 0);
	fd = open(argv[1], O_RDONLY);
	if (fd < 0) {
		perror(argv[1]);
		return 1;
	}
	src.fd = fd;
	t0 = now();
	rc = store_toc_build(fd, REGISTRY_COMP_GZIP, &t);
	if (rc) {
		fprintf(stderr, "tocread: index: %s\n", strerror(-rc));
		return 1;
	}
	printf("index %.3f s: comp %llu B, tar %llu B, %zu spans\n",
	       now() - t0, (unsigned long long)t->comp_size,
	       (unsigned long long)t->tar_size, t->n_cps);
	buf = malloc((size_t)STORE_TOC_SPAN);
	if (!buf)
		return 1;
	for (r = 0; r < runs; r++) {
		t0 = now();
		c0 = cpu();
		for (i = 0; i < t->n_cps; i++) {
			uint64_t u0 = t->cps[i].uoff;
			uint64_t u1 = i + 1 < t->n_cps ? t->cps[i + 1].uoff :
				      t->tar_size;

			rc = store_toc_read(t, &src, NULL, buf, (size_t)(u1 - u0),
					    u0, &got);
			if (rc || got != u1 - u0) {
				fprintf(stderr, "tocread: span %zu: %d\n", i, rc);
				return 1;
			}
		}
		secs[r] = now() - t0;
		csecs[r] = cpu() - c0;
		printf("run %d: wall %.3f s %.0f MB/s, cpu %.3f s %.0f MB/s\n",
		       r, secs[r], (double)t->tar_size / 1e6 / secs[r],
		       csecs[r], (double)t->tar_size / 1e6 / csecs[r]);
	}
	qsort(secs, (size_t)runs, sizeof(secs[0]), cmp_double);
	qsort(csecs, (size_t)runs, sizeof(csecs[0]), cmp_double);
	printf("median wall %.3f s %.0f MB/s, cpu %.3f s %.0f MB/s\n",
	       secs[runs / 2], (double)t->tar_size / 1e6 / secs[runs / 2],
	       csecs[runs / 2], (double)t->tar_size / 1e6 / csecs[runs / 2]);
	store_toc_free(t);
	free(buf);
	close(fd);
	return 0;
}
