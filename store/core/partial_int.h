/* SPDX-License-Identifier: MIT */
/*
 * partial_int.h - a partial blob's state, shared by partial.c (filling it
 * chunk by chunk) and partial_chunks.c (its chunk table, and the bitmap file
 * that records which chunks are present).  Private to store/core.
 */
#ifndef IMGFS_STORE_PARTIAL_INT_H
#define IMGFS_STORE_PARTIAL_INT_H

#include "store_int.h"

#define CHUNKS_MAGIC "imgfsCH1"
#define CHUNKS_HDR (8 + 8 + 8 + 32)	/* magic, size, n, table hash */
#define CHUNKS_SUFFIX ".chunks"

/* SAVING: the bytes are written and synced, the bitmap (or the whole
 * blob) is being persisted; readers wait for PRESENT, so a read that
 * returns has its chunk on record.  MEMORY: verified, but the disk had no
 * room (ENOSPC, EDQUOT): held in one of p->held, not on record. */
enum { CHUNK_ABSENT, CHUNK_FETCHING, CHUNK_SAVING, CHUNK_PRESENT, CHUNK_MEMORY };

/* Chunk i of the blob: the index's i-th chunk (toc.h), STORE_TOC_CHUNK
 * compressed bytes (the last one fewer) with their sha256. */
struct partial_chunk {
	uint64_t start, end;	/* compressed bytes: [start, end) */
	unsigned char digest[32];	/* their record (struct store_chain) */
};

/* A run of chunks [a, e) whose verified bytes are held in memory (a full
 * disk); mem is NULL while the slot is free or its write is retried. */
struct partial_held {
	unsigned char *mem;
	size_t a, e;
	uint64_t tick;		/* last use, for replacing the oldest */
};

/* Runs held in memory at once per partial: readers of one file (the
 * kernel's parallel readahead) want several runs at a time, and one slot
 * made them take each other's away.  Bounds the memory a layer read on a
 * full disk holds to PARTIAL_HELD_MAX * STORE_PARTIAL_RUN_MAX. */
#define PARTIAL_HELD_MAX 4

struct store_partial {
	struct store *s;
	char digest[72];
	const char *hex;	/* in digest */
	char chunks_name[80];	/* "<hex>.chunks" */
	struct store_srcs srcs;	/* where chunks come from, in order */
	uint64_t size;
	int fd;			/* the partial file, read-write */
	struct partial_chunk *chunks;
	size_t n;
	unsigned char table_md[32];

	pthread_mutex_t save_lock;	/* orders bitmap writes; before lock */
	pthread_mutex_t lock;		/* guards the fields below */
	pthread_cond_t cond;
	uint8_t *state;			/* CHUNK_* per chunk */
	int *err;			/* result of the last failed fetch */
	uint64_t *got;			/* atomic: bytes of a fetch so far */
	size_t n_present;
	struct partial_held held[PARTIAL_HELD_MAX];
	uint64_t held_tick;
	/* the last run a reader started, [seq_end - seq_len, seq_end): a
	 * reader that continues it gets twice as many chunks (readahead) */
	size_t seq_end, seq_len;
	int broken;			/* -EIO: the whole blob failed its check */
	bool finishing;
	bool complete;			/* renamed into blobs/; atomic reads */
};

/* The chunks of @toc, and the hash that names this table in the bitmap. */
int partial_chunks_from_toc(struct store_partial *p, const struct store_toc *toc);
/* Load <hex>.chunks into p->state if it belongs to this file and table. */
void partial_chunks_load(struct store_partial *p);
/* Persist the present chunks (p->save_lock, then p->lock, taken inside). */
void partial_chunks_save(struct store_partial *p);

#endif
