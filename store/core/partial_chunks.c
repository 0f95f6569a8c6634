/* SPDX-License-Identifier: MIT */
/*
 * partial_chunks.c - a partial blob's record of itself: the chunk table
 * taken from the layer's index (each chunk's range and digest, and the hash
 * that names the table), the bitmap file <hex>.chunks that says which
 * chunks are present, and the sweep of partial/ at open.  The bitmap is
 * only ever a subset of what was written and synced (partial.c marks a
 * chunk after its bytes), and one that names another table is ignored.
 */
#include "partial_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "log.h"

static void put_le64(unsigned char *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t get_le64(const unsigned char *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

/* The chunks of @toc, and the hash that names this table in the bitmap. */
int partial_chunks_from_toc(struct store_partial *p, const struct store_toc *toc)
{
	unsigned char rec[8 + 8 + 32], last[32];
	unsigned int mdlen = 0;
	EVP_MD_CTX *ctx;
	int ret = 0;

	if (toc->n_chunks == 0 || toc->comp_size != p->size || toc->chunk_size == 0 ||
	    toc->n_chunks != (toc->comp_size - 1) / toc->chunk_size + 1)
		return -EINVAL;
	if (toc->chunk_size > STORE_PARTIAL_RUN_MAX)
		return -E2BIG;
	/* the last record is the blob's digest: else the index is another's */
	if (store_toc_digest_raw(p->digest, last) ||
	    memcmp(last, toc->chunk_md[toc->n_chunks - 1], 32) != 0)
		return -EINVAL;
	p->n = toc->n_chunks;
	p->chunks = calloc(p->n, sizeof(*p->chunks));
	p->state = calloc(p->n, sizeof(*p->state));
	p->err = calloc(p->n, sizeof(*p->err));
	p->got = calloc(p->n, sizeof(*p->got));
	ctx = EVP_MD_CTX_new();
	if (!p->chunks || !p->state || !p->err || !p->got || !ctx ||
	    !EVP_DigestInit_ex(ctx, EVP_sha256(), NULL)) {
		ret = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < p->n; i++) {
		struct partial_chunk *c = &p->chunks[i];

		c->start = (uint64_t)i * toc->chunk_size;
		c->end = store_toc_chunk_end(toc, i);
		memcpy(c->digest, toc->chunk_md[i], 32);
		put_le64(rec, c->start);
		put_le64(rec + 8, c->end);
		memcpy(rec + 16, c->digest, 32);
		if (!EVP_DigestUpdate(ctx, rec, sizeof(rec))) {
			ret = -ENOMEM;
			goto out;
		}
	}
	if (!EVP_DigestFinal_ex(ctx, p->table_md, &mdlen) || mdlen != 32)
		ret = -ENOMEM;
out:
	EVP_MD_CTX_free(ctx);
	return ret;
}

/* Load <hex>.chunks into p->state if it belongs to this file and table. */
void partial_chunks_load(struct store_partial *p)
{
	size_t bytes = (p->n + 7) / 8;
	const unsigned char *d;
	struct buf b;

	if (file_read_capped(p->s->partial_fd, p->chunks_name, CHUNKS_HDR + bytes, &b))
		return;
	d = (const unsigned char *)b.data;
	if (b.len == CHUNKS_HDR + bytes && memcmp(d, CHUNKS_MAGIC, 8) == 0 &&
	    get_le64(d + 8) == p->size && get_le64(d + 16) == p->n &&
	    memcmp(d + 24, p->table_md, 32) == 0) {
		for (size_t i = 0; i < p->n; i++)
			if (d[CHUNKS_HDR + i / 8] & (1u << (i % 8))) {
				p->state[i] = CHUNK_PRESENT;
				p->n_present++;
			}
	} else {
		log_warn("layer %s: chunk bitmap does not match its index; ignored",
			 p->digest);
	}
	buf_release(&b);
}

/*
 * partial_chunks_save - persist the present chunks.  Under save_lock the states are
 * read when the write starts, so writes land in the order of what they
 * contain.  A failure only costs refetching after a remount.
 */
void partial_chunks_save(struct store_partial *p)
{
	size_t bytes = (p->n + 7) / 8;
	unsigned char *d = calloc(1, CHUNKS_HDR + bytes);
	bool skip;

	if (!d)
		return;
	pthread_mutex_lock(&p->save_lock);
	pthread_mutex_lock(&p->lock);
	skip = p->complete || p->finishing;
	for (size_t i = 0; i < p->n; i++)
		if (p->state[i] == CHUNK_PRESENT || p->state[i] == CHUNK_SAVING)
			d[CHUNKS_HDR + i / 8] |= (unsigned char)(1u << (i % 8));
	pthread_mutex_unlock(&p->lock);
	if (!skip) {
		memcpy(d, CHUNKS_MAGIC, 8);
		put_le64(d + 8, p->size);
		put_le64(d + 16, p->n);
		memcpy(d + 24, p->table_md, 32);
		if (store_write_atomic(p->s, p->s->partial_fd, p->chunks_name, d,
				       CHUNKS_HDR + bytes))
			log_warn("layer %s: chunk bitmap not saved", p->digest);
	}
	pthread_mutex_unlock(&p->save_lock);
	free(d);
}

/* Whether @name in partial/ is "<hex>" or "<hex>.chunks"; the hex into @hex. */
static bool partial_name(const char *name, char hex[65])
{
	size_t len = strlen(name);

	if (len != 64 && !(len == 64 + strlen(CHUNKS_SUFFIX) &&
			   strcmp(name + 64, CHUNKS_SUFFIX) == 0))
		return false;
	memcpy(hex, name, 64);
	hex[64] = '\0';
	return registry_hex_valid(hex, 64, 64);
}

void store_partial_sweep(struct store *s)
{
	int fd = openat(s->partial_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct dirent *de;
	unsigned n = 0;
	DIR *dir;

	if (fd < 0)
		return;
	dir = fdopendir(fd);
	if (!dir) {
		close(fd);
		return;
	}
	while ((de = readdir(dir))) {
		char hex[65];

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		/* Kept: a partial whose index is there and whose blob is not. */
		if (partial_name(de->d_name, hex) &&
		    faccessat(s->index_fd, hex, F_OK, AT_SYMLINK_NOFOLLOW) == 0 &&
		    faccessat(s->blobs_fd, hex, F_OK, AT_SYMLINK_NOFOLLOW) != 0)
			continue;
		if (unlinkat(s->partial_fd, de->d_name, 0) == 0)
			n++;
		else
			log_warn("store: cannot remove partial/sha256/%s: %s",
				 de->d_name, strerror(errno));
	}
	closedir(dir);
	if (n)
		log_info("store: removed %u stale partial file(s) from %s/partial", n,
			 s->dir);
}

