/* SPDX-License-Identifier: MIT */
/*
 * chain.c - the blob's sha256 read at every chunk boundary: one pass over
 * a blob gives its digest and the index's chunk records (toc.h), and a
 * chunk fetched alone is checked by resuming the hash where the record
 * before it left off.
 *
 * Until issue 9's measurements the records were a sha256 of each chunk:
 * a second hash over every compressed byte, on top of the blob's own in
 * the download, 15% of the daemon's CPU and of the wall time of the first
 * read of a never-seen image.  A chaining value is as strong a check: a
 * chunk of the same length that takes SHA-256 from the same state to the
 * same state is a second preimage of its compression function.
 *
 * This is the one place that reads SHA-256's state, which OpenSSL 3 keeps
 * only in its low-level API (deprecated, not removed; the EVP API has no
 * way to read or set a digest's state).  Its SHA256_Update uses the same
 * assembly (SHA-NI where the CPU has it) as EVP.
 */
#define OPENSSL_SUPPRESS_DEPRECATED	/* SHA256_*: see above */

#include "toc_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/sha.h>

struct store_chain {
	SHA256_CTX c;
	uint64_t pos;			/* bytes added */
	unsigned char (*rec)[32];	/* one per chunk boundary passed */
	size_t n_rec, cap;
	bool fixed;			/* rec was sized once: never moves */
	bool final;			/* md holds the digest */
	unsigned char md[32];
};

int store_chain_new(uint64_t size, struct store_chain **out)
{
	struct store_chain *ch = calloc(1, sizeof(*ch));

	if (!ch)
		return -ENOMEM;
	if (!SHA256_Init(&ch->c)) {
		free(ch);
		return -EIO;
	}
	if (size && size != UINT64_MAX) {
		/* a boundary record for every chunk but the last */
		ch->cap = (size_t)((size - 1) / STORE_TOC_CHUNK);
		ch->rec = ch->cap ? malloc(ch->cap * sizeof(*ch->rec)) : NULL;
		if (ch->cap && !ch->rec) {
			free(ch);
			return -ENOMEM;
		}
		ch->fixed = true;
	}
	*out = ch;
	return 0;
}

void store_chain_free(struct store_chain *ch)
{
	if (!ch)
		return;
	free(ch->rec);
	free(ch);
}

/* The state words, big-endian, as a record. */
static void chain_state(const SHA256_CTX *c, unsigned char out[32])
{
	for (int i = 0; i < 8; i++) {
		out[4 * i] = (unsigned char)(c->h[i] >> 24);
		out[4 * i + 1] = (unsigned char)(c->h[i] >> 16);
		out[4 * i + 2] = (unsigned char)(c->h[i] >> 8);
		out[4 * i + 3] = (unsigned char)c->h[i];
	}
}

static int chain_record(struct store_chain *ch)
{
	if (ch->n_rec == ch->cap) {
		void *p;

		/* Fixed: the boundary at the announced size's end (a multiple
		 * of the chunk), whose record is the digest; or bytes past
		 * the size, which the caller's limit refuses. */
		if (ch->fixed)
			return 0;
		p = toc_grow(ch->rec, &ch->cap, sizeof(*ch->rec), 64);
		if (!p)
			return -ENOMEM;
		ch->rec = p;
	}
	/* a chunk is a multiple of the 64-byte block: nothing is pending */
	if (ch->c.num != 0)
		return -EIO;
	chain_state(&ch->c, ch->rec[ch->n_rec]);
	ch->n_rec++;
	return 0;
}

int store_chain_add(struct store_chain *ch, const void *data, size_t n)
{
	const unsigned char *d = data;
	int rc;

	if (ch->final)
		return -EINVAL;
	while (n) {
		uint64_t room = STORE_TOC_CHUNK - ch->pos % STORE_TOC_CHUNK;
		size_t take = n < room ? n : (size_t)room;

		if (!SHA256_Update(&ch->c, d, take))
			return -EIO;
		ch->pos += take;
		d += take;
		n -= take;
		if (ch->pos % STORE_TOC_CHUNK == 0) {
			rc = chain_record(ch);
			if (rc)
				return rc;
		}
	}
	return 0;
}

int store_chain_final(struct store_chain *ch, unsigned char md[32])
{
	if (ch->final)
		return -EINVAL;
	ch->final = true;
	/* the record of a boundary at the very end gives way to the digest */
	if (!ch->fixed && ch->pos && ch->pos % STORE_TOC_CHUNK == 0)
		ch->n_rec--;
	if (!SHA256_Final(ch->md, &ch->c))
		return -EIO;
	memcpy(md, ch->md, 32);
	return 0;
}

uint64_t store_chain_size(const struct store_chain *ch)
{
	return ch->pos;
}

const unsigned char (*store_chain_records(const struct store_chain *ch))[32]
{
	return (const unsigned char (*)[32])ch->rec;
}

int store_chain_table(struct store_chain *ch, unsigned char (**out)[32], size_t *n)
{
	unsigned char (*t)[32];

	if (!ch->final || ch->n_rec != (ch->pos ? (ch->pos - 1) / STORE_TOC_CHUNK : 0))
		return -EIO;
	t = realloc(ch->rec, (ch->n_rec + 1) * sizeof(*t));
	if (!t)
		return -ENOMEM;
	memcpy(t[ch->n_rec], ch->md, 32);
	*out = t;
	*n = ch->n_rec + 1;
	ch->rec = NULL;
	ch->n_rec = ch->cap = 0;
	return 0;
}

int store_chain_check(const unsigned char *prev, uint64_t start, const void *data,
		      size_t len, bool last, const unsigned char want[32],
		      unsigned char got[32])
{
	SHA256_CTX c;
	uint64_t bits = start * 8;

	if (start % 64 || (!prev) != (start == 0) || (!last && len % 64) ||
	    !SHA256_Init(&c))
		return -EINVAL;
	for (int i = 0; prev && i < 8; i++)
		c.h[i] = (SHA_LONG)prev[4 * i] << 24 | (SHA_LONG)prev[4 * i + 1] << 16 |
			 (SHA_LONG)prev[4 * i + 2] << 8 | prev[4 * i + 3];
	c.Nl = (SHA_LONG)bits;
	c.Nh = (SHA_LONG)(bits >> 32);
	if (!SHA256_Update(&c, data, len))
		return -EIO;
	if (last) {
		if (!SHA256_Final(got, &c))
			return -EIO;
	} else {
		chain_state(&c, got);
	}
	return memcmp(got, want, 32) ? -EIO : 0;
}
