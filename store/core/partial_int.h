/* SPDX-License-Identifier: MIT */
/*
 * partial_int.h - a partial blob's state, shared by partial.c (filling it
 * span by span) and partial_spans.c (its span table, and the bitmap file
 * that records which spans are present).  Private to store/core.
 */
#ifndef IMGFS_STORE_PARTIAL_INT_H
#define IMGFS_STORE_PARTIAL_INT_H

#include "store_int.h"

#define SPANS_MAGIC "imgfsSP1"
#define SPANS_HDR (8 + 8 + 8 + 32)	/* magic, size, n, table hash */
#define SPANS_SUFFIX ".spans"

/* SAVING: the bytes are written and synced, the bitmap (or the whole
 * blob) is being persisted; readers wait for PRESENT, so a read that
 * returns has its span on record.  MEMORY: verified, but the disk had no
 * room (ENOSPC, EDQUOT): held in p->mem, not on record. */
enum { SPAN_ABSENT, SPAN_FETCHING, SPAN_SAVING, SPAN_PRESENT, SPAN_MEMORY };

struct partial_span {
	uint64_t start, end;	/* compressed bytes fetched: [start, end) */
	uint64_t vstart;	/* where the checked bytes begin (>= start) */
	unsigned char digest[32];	/* sha256 of [vstart, end) */
};

struct store_partial {
	struct store *s;
	char digest[72];
	const char *hex;	/* in digest */
	char spans_name[80];	/* "<hex>.spans" */
	struct store_srcs srcs;	/* where spans come from, in order */
	uint64_t size;
	int fd;			/* the partial file, read-write */
	struct partial_span *spans;
	size_t n;
	unsigned char table_md[32];

	pthread_mutex_t save_lock;	/* orders bitmap writes; before lock */
	pthread_mutex_t lock;		/* guards the fields below */
	pthread_cond_t cond;
	uint8_t *state;			/* SPAN_* per span */
	int *err;			/* result of the last failed fetch */
	uint64_t *got;			/* atomic: bytes of a fetch so far */
	size_t n_present;
	unsigned char *mem;		/* span mem_i's bytes when it is MEMORY */
	size_t mem_i;
	int broken;			/* -EIO: the whole blob failed its check */
	bool finishing;
	bool complete;			/* renamed into blobs/; atomic reads */
};

/* The spans of @toc, and the hash that names this table in the bitmap. */
int partial_spans_from_toc(struct store_partial *p, const struct store_toc *toc);
/* Load <hex>.spans into p->state if it belongs to this file and table. */
void partial_spans_load(struct store_partial *p);
/* Persist the present spans (p->save_lock, then p->lock, taken inside). */
void partial_spans_save(struct store_partial *p);

#endif
