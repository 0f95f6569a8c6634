/* SPDX-License-Identifier: MIT */
/*
 * partial_spans.c - a partial blob's record of itself: the span table
 * taken from the layer's index (each span's range and digest, and the hash
 * that names the table), the bitmap file <hex>.spans that says which
 * spans are present, and the sweep of partial/ at open.  The bitmap is
 * only ever a subset of what was written and synced (partial.c marks a
 * span after its bytes), and one that names another table is ignored.
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

/* The spans of @toc, and the hash that names this table in the bitmap. */
int partial_spans_from_toc(struct store_partial *p, const struct store_toc *toc)
{
	unsigned char rec[8 + 8 + 32];
	unsigned int mdlen = 0;
	EVP_MD_CTX *ctx;
	int ret = 0;

	if (toc->n_cps == 0 || toc->comp_size != p->size)
		return -EINVAL;
	p->n = toc->n_cps;
	p->spans = calloc(p->n, sizeof(*p->spans));
	p->state = calloc(p->n, sizeof(*p->state));
	p->err = calloc(p->n, sizeof(*p->err));
	p->got = calloc(p->n, sizeof(*p->got));
	ctx = EVP_MD_CTX_new();
	if (!p->spans || !p->state || !p->err || !p->got || !ctx ||
	    !EVP_DigestInit_ex(ctx, EVP_sha256(), NULL)) {
		ret = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < p->n; i++) {
		struct partial_span *sp = &p->spans[i];

		sp->vstart = store_toc_span_start(toc, i);
		sp->end = store_toc_span_end(toc, i);
		/* Bytes before the first span (a gzip header) go with it. */
		sp->start = i == 0 ? 0 : sp->vstart;
		memcpy(sp->digest, toc->cps[i].digest, 32);
		if (sp->vstart >= sp->end || sp->end > p->size ||
		    (i && (sp->start > p->spans[i - 1].end ||
			   sp->start <= p->spans[i - 1].start)) ||
		    (i + 1 == p->n && sp->end != p->size)) {
			ret = -EINVAL;	/* spans must tile the blob */
			goto out;
		}
		if (sp->end - sp->start > STORE_PARTIAL_SPAN_MAX) {
			ret = -E2BIG;
			goto out;
		}
		put_le64(rec, sp->vstart);
		put_le64(rec + 8, sp->end);
		memcpy(rec + 16, sp->digest, 32);
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

/* Load <hex>.spans into p->state if it belongs to this file and table. */
void partial_spans_load(struct store_partial *p)
{
	size_t bytes = (p->n + 7) / 8;
	const unsigned char *d;
	struct buf b;

	if (file_read_capped(p->s->partial_fd, p->spans_name, SPANS_HDR + bytes, &b))
		return;
	d = (const unsigned char *)b.data;
	if (b.len == SPANS_HDR + bytes && memcmp(d, SPANS_MAGIC, 8) == 0 &&
	    get_le64(d + 8) == p->size && get_le64(d + 16) == p->n &&
	    memcmp(d + 24, p->table_md, 32) == 0) {
		for (size_t i = 0; i < p->n; i++)
			if (d[SPANS_HDR + i / 8] & (1u << (i % 8))) {
				p->state[i] = SPAN_PRESENT;
				p->n_present++;
			}
	} else {
		log_warn("layer %s: span bitmap does not match its index; ignored",
			 p->digest);
	}
	buf_release(&b);
}

/*
 * spans_save - persist the present spans.  Under save_lock the states are
 * read when the write starts, so writes land in the order of what they
 * contain.  A failure only costs refetching after a remount.
 */
void partial_spans_save(struct store_partial *p)
{
	size_t bytes = (p->n + 7) / 8;
	unsigned char *d = calloc(1, SPANS_HDR + bytes);
	bool skip;

	if (!d)
		return;
	pthread_mutex_lock(&p->save_lock);
	pthread_mutex_lock(&p->lock);
	skip = p->complete || p->finishing;
	for (size_t i = 0; i < p->n; i++)
		if (p->state[i] == SPAN_PRESENT || p->state[i] == SPAN_SAVING)
			d[SPANS_HDR + i / 8] |= (unsigned char)(1u << (i % 8));
	pthread_mutex_unlock(&p->lock);
	if (!skip) {
		memcpy(d, SPANS_MAGIC, 8);
		put_le64(d + 8, p->size);
		put_le64(d + 16, p->n);
		memcpy(d + 24, p->table_md, 32);
		if (store_write_atomic(p->s, p->s->partial_fd, p->spans_name, d,
				       SPANS_HDR + bytes))
			log_warn("layer %s: span bitmap not saved", p->digest);
	}
	pthread_mutex_unlock(&p->save_lock);
	free(d);
}

/* Whether @name in partial/ is "<hex>" or "<hex>.spans"; the hex into @hex. */
static bool partial_name(const char *name, char hex[65])
{
	size_t len = strlen(name);

	if (len != 64 && !(len == 64 + strlen(SPANS_SUFFIX) &&
			   strcmp(name + 64, SPANS_SUFFIX) == 0))
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

