/*
 * scripts/bench/randread.c — parallel random 4 KiB readers for bench.sh.
 *
 *   randread ROOT LIST THREADS SECONDS
 *
 * LIST holds "SIZE<TAB>PATH" lines (paths relative to ROOT). Each of
 * THREADS threads repeats, for SECONDS: pick a file at random, openat() it
 * under ROOT, pread() 4 KiB at a random 4 KiB-aligned offset inside it,
 * close(). Prints "OPS_PER_SECOND P50_MS P99_MS" of those open+read+close
 * operations. Opening per read keeps the work the same whether LIST holds
 * one large file or 100,000 small ones. Any failed open or read is an
 * error (exit 1): the benchmark must not report speed of failures.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define RR_BLOCK 4096
#define RR_MAX_LAT (1u << 18)

struct rr_file {
	char *path;
	uint64_t blocks;
};

struct rr_thread {
	pthread_t tid;
	uint64_t seed;
	size_t n;
	double *lat;
	int err;
};

static struct rr_file *rr_files;
static size_t rr_nfiles;
static int rr_root;
static double rr_deadline;

static double rr_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static uint64_t rr_rand(uint64_t *s)
{
	/* xorshift64*: a per-thread generator, no shared state */
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 2685821657736338717ULL;
}

static void *rr_run(void *arg)
{
	struct rr_thread *t = arg;
	char buf[RR_BLOCK];

	while (t->n < RR_MAX_LAT) {
		double a = rr_now();
		if (a >= rr_deadline)
			break;
		struct rr_file *f = &rr_files[rr_rand(&t->seed) % rr_nfiles];
		off_t off = (off_t)(rr_rand(&t->seed) % f->blocks) * RR_BLOCK;
		int fd = openat(rr_root, f->path, O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			t->err = errno;
			break;
		}
		ssize_t r = pread(fd, buf, sizeof(buf), off);
		int e = errno;
		close(fd);
		if (r < 0) {
			t->err = e;
			break;
		}
		t->lat[t->n++] = (rr_now() - a) * 1000.0;
	}
	return NULL;
}

static int rr_cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static int rr_load(const char *list)
{
	FILE *fp = fopen(list, "r");
	char *line = NULL;
	size_t cap = 0, alloc = 0;
	ssize_t len;

	if (!fp)
		return -errno;
	while ((len = getline(&line, &cap, fp)) > 0) {
		char *tab = strchr(line, '\t');
		if (!tab)
			continue;
		if (line[len - 1] == '\n')
			line[len - 1] = '\0';
		*tab = '\0';
		unsigned long long size = strtoull(line, NULL, 10);
		if (size == 0)
			continue;
		if (rr_nfiles == alloc) {
			alloc = alloc ? alloc * 2 : 1024;
			struct rr_file *n = realloc(rr_files, alloc * sizeof(*n));
			if (!n)
				return -ENOMEM;
			rr_files = n;
		}
		rr_files[rr_nfiles].path = strdup(tab + 1);
		if (!rr_files[rr_nfiles].path)
			return -ENOMEM;
		rr_files[rr_nfiles].blocks = (size + RR_BLOCK - 1) / RR_BLOCK;
		rr_nfiles++;
	}
	free(line);
	fclose(fp);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc != 5) {
		fprintf(stderr, "usage: randread ROOT LIST THREADS SECONDS\n");
		return 2;
	}
	int nt = (int)strtol(argv[3], NULL, 10);
	double secs = strtod(argv[4], NULL);
	if (nt < 1 || nt > 1024 || secs <= 0) {
		fprintf(stderr, "randread: bad THREADS or SECONDS\n");
		return 2;
	}
	rr_root = open(argv[1], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (rr_root < 0 || rr_load(argv[2]) < 0 || rr_nfiles == 0) {
		fprintf(stderr, "randread: cannot use %s / %s\n", argv[1], argv[2]);
		return 1;
	}
	struct rr_thread *th = calloc(nt, sizeof(*th));
	if (!th)
		return 1;
	double start = rr_now();
	rr_deadline = start + secs;
	for (int i = 0; i < nt; i++) {
		th[i].seed = 0x9e3779b97f4a7c15ULL * (i + 1);
		th[i].lat = malloc(RR_MAX_LAT * sizeof(double));
		if (!th[i].lat || pthread_create(&th[i].tid, NULL, rr_run, &th[i]))
			return 1;
	}
	size_t total = 0;
	int err = 0;
	for (int i = 0; i < nt; i++) {
		pthread_join(th[i].tid, NULL);
		total += th[i].n;
		if (th[i].err)
			err = th[i].err;
	}
	double elapsed = rr_now() - start;
	if (err) {
		fprintf(stderr, "randread: %s\n", strerror(err));
		return 1;
	}
	double *all = malloc((total ? total : 1) * sizeof(double));
	if (!all)
		return 1;
	size_t k = 0;
	for (int i = 0; i < nt; i++) {
		memcpy(all + k, th[i].lat, th[i].n * sizeof(double));
		k += th[i].n;
	}
	qsort(all, total, sizeof(double), rr_cmp);
	printf("%.0f %.3f %.3f\n", total / elapsed, total ? all[total / 2] : 0.0,
	       total ? all[(size_t)(total * 0.99)] : 0.0);
	return 0;
}
