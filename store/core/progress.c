/* SPDX-License-Identifier: MIT */
/*
 * progress.c - what the store is doing and has done, for `status`, `df`
 * and the terminal: the work in flight (downloads, span fetches, index
 * builds, blobs written from a stream) with bytes done of total, a ring
 * of the last STORE_ERRORS_MAX failures with their causes, what of an
 * image is local, and the bytes the store holds.
 *
 * Bookkeeping only: the code doing the work calls store_op_begin(),
 * store_op_set() and store_op_end() around it, and store_error_note()
 * where it logs a failure.  Everything here sits behind one leaf lock,
 * prog->lock, held for a few copies at a time and never across I/O: a
 * progress line is formatted under it and printed after.
 *
 * Usage is counted, not measured: a scan of blobs/ and index/ at open,
 * then every blob and index that enters or leaves adds or subtracts its
 * size (blob.c, layer_index.c), so statfs costs no directory walk however
 * big the store.  partial/ is walked at each call instead: it holds one
 * file per layer read lazily and not yet complete, few by construction.
 * The span cache counts its own bytes (span_cache.c).
 */
#include "store_int.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"

/* A transfer shorter than this never prints a progress line (a stream of
 * unknown length prints once it has passed it). */
#define PROGRESS_LINE_MIN ((uint64_t)4 << 20)
/* Seconds between two progress lines of one transfer. */
#define PROGRESS_LINE_EVERY 2.0

struct store_op {
	struct store_op *prev, *next;	/* prog->ops, oldest first */
	struct store_op_info info;	/* secs unused: see @start */
	struct timespec start;
	double last_line;		/* secs at the last progress line */
};

struct store_progress {
	bool lines;			/* store_opts.progress_lines */
	pthread_mutex_t lock;		/* guards everything below */
	struct store_op *ops, *ops_tail;
	size_t n_ops;
	struct store_error_info errs[STORE_ERRORS_MAX];	/* a ring */
	size_t errs_next;		/* where the next one goes */
	uint64_t errs_total;
	uint64_t blob_bytes, index_bytes, n_blobs;
};

static double secs_since(const struct timespec *t)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - t->tv_sec) +
	       (double)(now.tv_nsec - t->tv_nsec) / 1e9;
}

uint64_t store_file_size(int dirfd, const char *name)
{
	struct stat st;

	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode))
		return 0;
	return (uint64_t)st.st_size;
}

/* The number and total size of the regular files in @dirfd: their
 * apparent sizes, or with @allocated the bytes of their blocks (a sparse
 * partial blob holds only the spans fetched). */
struct dir_sum {
	bool allocated;
	uint64_t n, bytes;
};

static int sum_one(void *arg, int dirfd, const char *name)
{
	struct dir_sum *d = arg;
	struct stat st;

	if (name[0] == '.' || fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
	    !S_ISREG(st.st_mode))
		return 0;
	d->n++;
	d->bytes += d->allocated ? (uint64_t)st.st_blocks * 512 : (uint64_t)st.st_size;
	return 0;
}

static void dir_sum(int dirfd, bool allocated, uint64_t *n, uint64_t *bytes)
{
	struct dir_sum d = { .allocated = allocated };

	file_dir_each(dirfd, sum_one, &d);
	*n = d.n;
	*bytes = d.bytes;
}

int store_progress_open(struct store *s, bool lines)
{
	struct store_progress *p = calloc(1, sizeof(*p));
	uint64_t n_index;

	if (!p)
		return -ENOMEM;
	p->lines = lines;
	pthread_mutex_init(&p->lock, NULL);
	dir_sum(s->blobs_fd, false, &p->n_blobs, &p->blob_bytes);
	dir_sum(s->index_fd, false, &n_index, &p->index_bytes);
	s->prog = p;
	return 0;
}

void store_progress_close(struct store *s)
{
	struct store_progress *p = s->prog;

	if (!p)
		return;
	/* Nothing is in flight at close; free what a failed caller left. */
	while (p->ops) {
		struct store_op *op = p->ops;

		p->ops = op->next;
		free(op);
	}
	pthread_mutex_destroy(&p->lock);
	free(p);
	s->prog = NULL;
}

void store_usage_note(struct store *s, bool index, uint64_t bytes, int sign)
{
	struct store_progress *p = s->prog;
	uint64_t *sum;

	if (!p)
		return;
	pthread_mutex_lock(&p->lock);
	sum = index ? &p->index_bytes : &p->blob_bytes;
	if (sign > 0) {
		*sum += bytes;
		if (!index)
			p->n_blobs++;
	} else {
		*sum -= bytes < *sum ? bytes : *sum;
		if (!index && p->n_blobs)
			p->n_blobs--;
	}
	pthread_mutex_unlock(&p->lock);
}

uint64_t store_usage_files(struct store *s)
{
	struct store_progress *p = s->prog;
	uint64_t partial, n_partial, sum;

	dir_sum(s->partial_fd, true, &n_partial, &partial);
	pthread_mutex_lock(&p->lock);
	sum = p->blob_bytes + p->index_bytes + partial;
	pthread_mutex_unlock(&p->lock);
	return sum;
}

int store_usage(struct store *s, uint64_t *bytes, uint64_t *files,
		struct statvfs *fs)
{
	struct store_progress *p = s->prog;
	struct store_cache_stats cs = { 0 };

	if (fstatvfs(s->root_fd, fs) < 0)
		return -errno;
	if (s->cache)
		store_cache_stats(s->cache, &cs);
	*bytes = store_usage_files(s) + cs.used;
	pthread_mutex_lock(&p->lock);
	*files = p->n_blobs;
	pthread_mutex_unlock(&p->lock);
	return 0;
}

struct store_op *store_op_begin(struct store *s, enum store_op_kind kind,
				const char *what, const char *object,
				uint64_t total)
{
	struct store_progress *p = s->prog;
	struct store_op *op;

	if (!p || !(op = calloc(1, sizeof(*op))))
		return NULL;
	op->info.kind = kind;
	snprintf(op->info.what, sizeof(op->info.what), "%s", what ? what : "");
	snprintf(op->info.object, sizeof(op->info.object), "%s", object ? object : "");
	op->info.total = total;
	clock_gettime(CLOCK_MONOTONIC, &op->start);
	pthread_mutex_lock(&p->lock);
	op->prev = p->ops_tail;
	if (p->ops_tail)
		p->ops_tail->next = op;
	else
		p->ops = op;
	p->ops_tail = op;
	p->n_ops++;
	pthread_mutex_unlock(&p->lock);
	return op;
}

static const char *kind_name(enum store_op_kind k)
{
	switch (k) {
	case STORE_OP_BLOB:
		return "download";
	case STORE_OP_CHUNKS:
		return "chunks";
	case STORE_OP_INDEX:
		return "index";
	case STORE_OP_WRITE:
		return "write";
	case STORE_OP_PUSH:
		return "push";
	}
	return "?";
}

/* One progress line of @i to stderr (the terminal in the foreground). */
static void print_line(const struct store_op_info *i, double secs)
{
	double rate = secs > 0 ? (double)i->done / secs : 0;
	char raw[512], line[600];

	if (i->total)
		snprintf(raw, sizeof(raw),
			 "%s %.19s for %s: %.1f of %.1f MiB (%.0f%%), %.1f MiB/s, ETA %.0f s",
			 kind_name(i->kind), i->object, i->what,
			 (double)i->done / 1048576.0, (double)i->total / 1048576.0,
			 100.0 * (double)i->done / (double)i->total, rate / 1048576.0,
			 rate > 0 ? (double)(i->total - i->done) / rate : 0.0);
	else	/* a stream of unknown length */
		snprintf(raw, sizeof(raw), "%s%s%.19s for %s: %.1f MiB, %.1f MiB/s",
			 kind_name(i->kind), i->object[0] ? " " : "", i->object,
			 i->what, (double)i->done / 1048576.0, rate / 1048576.0);
	/* Names come from outside: escaped like every log line. */
	log_escape(raw, line, sizeof(line));
	fprintf(stderr, "imgfs: progress: %s\n", line);
}

void store_op_set(struct store *s, struct store_op *op, uint64_t done)
{
	struct store_progress *p = s->prog;
	struct store_op_info copy;
	double secs = 0;
	bool line = false;

	if (!op)
		return;
	pthread_mutex_lock(&p->lock);
	op->info.done = done;
	/* Long transfers only: a known total above the minimum, or a stream
	 * that has passed it. */
	if (p->lines && (op->info.total ? op->info.total >= PROGRESS_LINE_MIN &&
					  done < op->info.total
					: done >= PROGRESS_LINE_MIN)) {
		secs = secs_since(&op->start);
		if (secs - op->last_line >= PROGRESS_LINE_EVERY) {
			op->last_line = secs;
			copy = op->info;
			line = true;
		}
	}
	pthread_mutex_unlock(&p->lock);
	if (line)
		print_line(&copy, secs);
}

void store_op_end(struct store *s, struct store_op *op)
{
	struct store_progress *p = s->prog;

	if (!op)
		return;
	pthread_mutex_lock(&p->lock);
	if (op->prev)
		op->prev->next = op->next;
	else
		p->ops = op->next;
	if (op->next)
		op->next->prev = op->prev;
	else
		p->ops_tail = op->prev;
	p->n_ops--;
	pthread_mutex_unlock(&p->lock);
	free(op);
}

void store_error_note(struct store *s, const char *object, int err,
		      const char *cause)
{
	struct store_progress *p = s->prog;
	struct store_error_info e = { .when = (int64_t)time(NULL), .err = err };

	if (!p)
		return;
	snprintf(e.object, sizeof(e.object), "%s", object ? object : "");
	snprintf(e.cause, sizeof(e.cause), "%s",
		 cause ? cause : registry_errno_cause(err));
	pthread_mutex_lock(&p->lock);
	p->errs[p->errs_next] = e;
	p->errs_next = (p->errs_next + 1) % STORE_ERRORS_MAX;
	p->errs_total++;
	pthread_mutex_unlock(&p->lock);
}

int store_status_get(struct store *s, struct store_status *out)
{
	struct store_progress *p = s->prog;
	size_t n = 0, first;

	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&p->lock);
	if (p->n_ops) {
		out->ops = calloc(p->n_ops, sizeof(*out->ops));
		if (!out->ops) {
			pthread_mutex_unlock(&p->lock);
			return -ENOMEM;
		}
	}
	for (struct store_op *op = p->ops; op; op = op->next) {
		out->ops[n] = op->info;
		out->ops[n].secs = secs_since(&op->start);
		n++;
	}
	out->n_ops = n;
	out->errs_total = p->errs_total;
	out->n_errs = p->errs_total < STORE_ERRORS_MAX ? (size_t)p->errs_total
						       : STORE_ERRORS_MAX;
	/* Oldest first: the ring starts at errs_next once it has wrapped. */
	first = p->errs_total < STORE_ERRORS_MAX ? 0 : p->errs_next;
	for (size_t i = 0; i < out->n_errs; i++)
		out->errs[i] = p->errs[(first + i) % STORE_ERRORS_MAX];
	pthread_mutex_unlock(&p->lock);
	return 0;
}

void store_status_release(struct store_status *st)
{
	free(st->ops);
	st->ops = NULL;
	st->n_ops = 0;
}

void store_image_cached(struct store *s, struct store_image *img,
			struct store_image_cache *out)
{
	memset(out, 0, sizeof(*out));
	out->n_layers = img->n_layers;
	for (size_t i = 0; i < img->n_layers; i++) {
		const struct registry_desc *d = &img->layers[i].desc;
		const char *hex = d->digest + strlen(REGISTRY_DIGEST_PREFIX);
		uint64_t size = d->size > 0 ? (uint64_t)d->size : 0;

		out->bytes += size;
		if (store_blob_has(s, d->digest))
			out->fetched += size;
		else
			out->fetched += store_partial_present(s, hex);
		if (faccessat(s->index_fd, hex, F_OK, AT_SYMLINK_NOFOLLOW) == 0)
			out->n_indexed++;
	}
}
