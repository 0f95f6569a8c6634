/* SPDX-License-Identifier: MIT */
/*
 * toc_io.c - the on-disk layer index: store_toc_save and store_toc_load.
 *
 * Format (field by field in docs/index-format.md): a 160-byte little-endian
 * header ("IMGFSTOC", version 1, counts, section offsets), fixed-size
 * records for entries (64 B), xattrs (16 B) and checkpoints (32 B), a
 * string table of NUL-terminated strings, a blob section (xattr values and
 * zlib-compressed windows), and an XXH3-64 of everything before it as the
 * last 8 bytes.  Fixed records keep the file mmap-able and a lookup O(1);
 * windows are compressed because they are ~all of the size.
 *
 * The loader trusts nothing: an index may be truncated by a crash or, once
 * indexes are shared through a registry, written by someone else.  The
 * checksum catches accidents; every count, offset, length, string, path,
 * type and checkpoint is also checked against the file and the stream
 * before use (a path must be its own normal form), so a well-checksummed
 * hostile file is still -EINVAL and never a crash.  The loaded toc keeps
 * the file buffer in its arena: strings and xattr values point into it.
 */
#include "toc_int.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <xxhash.h>
#include <zlib.h>

#include "buf.h"
#include "log.h"
#include "path.h"

#define TOC_MAGIC "IMGFSTOC"
#define TOC_VERSION 1
#define HDR_SIZE 160
#define ENT_SIZE 64
#define XA_SIZE 16
#define CP_SIZE 32
#define NO_LINK 0xffffffffu

/* ---- little-endian encoding ------------------------------------------- */

static void put16(unsigned char *p, uint16_t v)
{
	p[0] = (unsigned char)v;
	p[1] = (unsigned char)(v >> 8);
}

static void put32(unsigned char *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static void put64(unsigned char *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static uint16_t get16(const unsigned char *p)
{
	return (uint16_t)(p[0] | (p[1] << 8));
}

static uint32_t get32(const unsigned char *p)
{
	uint32_t v = 0;

	for (int i = 3; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

static uint64_t get64(const unsigned char *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

/* ---- save --------------------------------------------------------------- */

static int add_pad8(struct buf *b)
{
	static const char zero[8];

	return (b->len & 7) ? buf_add(b, zero, 8 - (b->len & 7)) : 0;
}

/* Append @s with its NUL to the string table; its offset in *@off. */
static int add_str(struct buf *st, const char *s, uint32_t *off)
{
	if (st->len >= NO_LINK)
		return -E2BIG;
	*off = (uint32_t)st->len;
	return buf_add(st, s, strlen(s) + 1);
}

static int save_records(const struct store_toc *toc, struct buf *rec,
			struct buf *st, struct buf *blob)
{
	unsigned char r[ENT_SIZE], *z = NULL;
	size_t i;
	int rc = 0;

	for (i = 0; i < toc->n_entries && !rc; i++) {
		const struct store_toc_entry *e = &toc->entries[i];
		uint32_t p = 0, l = NO_LINK;

		memset(r, 0, sizeof(r));
		rc = add_str(st, e->path, &p);
		if (!rc && e->link)
			rc = add_str(st, e->link, &l);
		put64(r, e->offset);
		put64(r + 8, e->size);
		put64(r + 16, (uint64_t)e->mtime_sec);
		put32(r + 24, e->mtime_nsec);
		put32(r + 28, p);
		put32(r + 32, l);
		put16(r + 36, (uint16_t)(e->mode & 07777));
		r[38] = e->type;
		put32(r + 40, e->uid);
		put32(r + 44, e->gid);
		put32(r + 48, e->devmajor);
		put32(r + 52, e->devminor);
		put32(r + 56, e->xattr_first);
		put32(r + 60, e->n_xattrs);
		if (!rc)
			rc = buf_add(rec, r, ENT_SIZE);
	}
	for (i = 0; i < toc->n_xattrs && !rc; i++) {
		const struct store_xattr *x = &toc->xattrs[i];
		uint32_t n = 0;

		memset(r, 0, XA_SIZE);
		rc = add_str(st, x->name, &n);
		put32(r, n);
		put32(r + 4, x->len);
		put64(r + 8, blob->len);
		if (!rc)
			rc = buf_add(blob, x->value, x->len);
		if (!rc)
			rc = buf_add(rec, r, XA_SIZE);
	}
	z = malloc(compressBound(TOC_WINDOW));
	if (!z)
		return -ENOMEM;
	for (i = 0; i < toc->n_cps && !rc; i++) {
		const struct store_toc_checkpoint *c = &toc->cps[i];
		uLongf zlen = compressBound(TOC_WINDOW);

		memset(r, 0, CP_SIZE);
		if (c->window_len) {
			if (compress2(z, &zlen, c->window, c->window_len, 9) !=
			    Z_OK) {
				rc = -EIO;
				break;
			}
		} else {
			zlen = 0;
		}
		put64(r, c->uoff);
		put64(r + 8, c->coff);
		put64(r + 16, blob->len);
		put32(r + 24, (uint32_t)zlen);
		put16(r + 28, (uint16_t)c->window_len);
		r[30] = c->bits;
		rc = buf_add(blob, z, zlen);
		if (!rc)
			rc = buf_add(rec, r, CP_SIZE);
	}
	free(z);
	return rc;
}

static int hex_to_raw(const char *diff_id, unsigned char raw[32])
{
	if (strncmp(diff_id, "sha256:", 7) || strlen(diff_id) != 71)
		return -EINVAL;
	for (int i = 0; i < 32; i++) {
		char h[3] = { diff_id[7 + 2 * i], diff_id[8 + 2 * i], 0 };
		char *end;
		unsigned long v = strtoul(h, &end, 16);

		if (*end || !h[1])
			return -EINVAL;
		raw[i] = (unsigned char)v;
	}
	return 0;
}

int store_toc_encode(const struct store_toc *toc, struct buf *file)
{
	struct buf rec, st, blob;
	unsigned char hdr[HDR_SIZE], sum[8];
	uint64_t off_x, off_c, off_s, off_b;
	int rc;

	buf_init(&rec, STORE_TOC_FILE_MAX);
	buf_init(&st, NO_LINK);
	buf_init(&blob, STORE_TOC_FILE_MAX);
	buf_init(file, STORE_TOC_FILE_MAX);
	memset(hdr, 0, sizeof(hdr));
	rc = hex_to_raw(toc->diff_id, hdr + 40);
	if (rc)
		goto out;
	rc = save_records(toc, &rec, &st, &blob);
	if (rc)
		goto out;
	memcpy(hdr, TOC_MAGIC, 8);
	put32(hdr + 8, TOC_VERSION);
	put32(hdr + 12, HDR_SIZE);
	put32(hdr + 16, (uint32_t)toc->comp);
	put32(hdr + 20, (uint32_t)STORE_TOC_SPAN);
	put64(hdr + 24, toc->comp_size);
	put64(hdr + 32, toc->tar_size);
	put64(hdr + 72, toc->n_entries);
	put64(hdr + 80, toc->n_xattrs);
	put64(hdr + 88, toc->n_cps);
	/* records are contiguous: entries, xattrs, checkpoints */
	off_x = HDR_SIZE + (uint64_t)toc->n_entries * ENT_SIZE;
	off_c = off_x + (uint64_t)toc->n_xattrs * XA_SIZE;
	off_s = off_c + (uint64_t)toc->n_cps * CP_SIZE;
	off_b = (off_s + st.len + 7) & ~(uint64_t)7;
	put64(hdr + 96, HDR_SIZE);
	put64(hdr + 104, off_x);
	put64(hdr + 112, off_c);
	put64(hdr + 120, off_s);
	put64(hdr + 128, st.len);
	put64(hdr + 136, off_b);
	put64(hdr + 144, blob.len);
	rc = buf_add(file, hdr, HDR_SIZE);
	if (!rc)
		rc = buf_add(file, rec.data, rec.len);
	if (!rc)
		rc = buf_add(file, st.data, st.len);
	if (!rc)
		rc = add_pad8(file);
	if (!rc)
		rc = buf_add(file, blob.data, blob.len);
	if (!rc)
		rc = add_pad8(file);
	if (rc)
		goto out;
	put64(sum, XXH3_64bits(file->data, file->len));
	rc = buf_add(file, sum, 8);
	if (rc)
		goto out;
out:
	if (rc)
		buf_release(file);
	buf_release(&rec);
	buf_release(&st);
	buf_release(&blob);
	return rc == -EFBIG ? -E2BIG : rc;
}

/* ---- load --------------------------------------------------------------- */

struct ld {
	const unsigned char *f;
	size_t size;		/* without the checksum */
	const char *st;
	uint64_t st_len;
	const unsigned char *blob;
	uint64_t blob_len;
	char norm[TOC_MAX_PATH + 1];
};

/* [off, off + n*rec) inside the file body. */
static bool ld_range(const struct ld *l, uint64_t off, uint64_t n, uint64_t rec)
{
	if (n > l->size / (rec ? rec : 1))
		return false;
	return off <= l->size && n * rec <= l->size - off;
}

static const char *ld_str(const struct ld *l, uint32_t off, size_t max,
			  size_t *len)
{
	size_t n;

	if (off >= l->st_len)
		return NULL;
	n = strnlen(l->st + off, l->st_len - off);
	if (n > max)
		return NULL;
	*len = n;
	return l->st + off;
}

static bool ld_normal(struct ld *l, const char *s, size_t len)
{
	size_t n;

	return path_norm(s, l->norm, sizeof(l->norm), &n) == 0 && n == len &&
	       !memcmp(l->norm, s, n);
}

static int ld_entries(struct ld *l, struct store_toc *toc, uint64_t off)
{
	for (size_t i = 0; i < toc->n_entries; i++) {
		const unsigned char *r = l->f + off + i * ENT_SIZE;
		struct store_toc_entry *e = &toc->entries[i];
		uint32_t lk = get32(r + 32);
		size_t plen = 0, llen = 0;

		e->offset = get64(r);
		e->size = get64(r + 8);
		e->mtime_sec = (int64_t)get64(r + 16);
		e->mtime_nsec = get32(r + 24);
		e->path = ld_str(l, get32(r + 28), TOC_MAX_PATH, &plen);
		e->mode = get16(r + 36);
		e->type = r[38];
		e->uid = get32(r + 40);
		e->gid = get32(r + 44);
		e->devmajor = get32(r + 48);
		e->devminor = get32(r + 52);
		e->xattr_first = get32(r + 56);
		e->n_xattrs = get32(r + 60);
		e->link = lk == NO_LINK ? NULL :
			  ld_str(l, lk, TOC_MAX_PATH, &llen);
		if (!e->path || !ld_normal(l, e->path, plen) || r[39] ||
		    e->type < STORE_FT_REG || e->type > STORE_FT_FIFO ||
		    (plen == 0 && e->type != STORE_FT_DIR) ||
		    e->mode > 07777 || e->mtime_nsec >= 1000000000u ||
		    e->offset > toc->tar_size ||
		    e->size > toc->tar_size - e->offset ||
		    (e->size && e->type != STORE_FT_REG) ||
		    e->xattr_first > toc->n_xattrs ||
		    e->n_xattrs > toc->n_xattrs - e->xattr_first)
			return -EINVAL;
		if (e->type == STORE_FT_SYMLINK || e->type == STORE_FT_HARDLINK) {
			if (!e->link)
				return -EINVAL;
			if (e->type == STORE_FT_HARDLINK &&
			    (llen == 0 || !ld_normal(l, e->link, llen)))
				return -EINVAL;
		} else if (lk != NO_LINK) {
			return -EINVAL;
		}
	}
	return 0;
}

static int ld_xattrs(struct ld *l, struct store_toc *toc, uint64_t off)
{
	for (size_t i = 0; i < toc->n_xattrs; i++) {
		const unsigned char *r = l->f + off + i * XA_SIZE;
		struct store_xattr *x = &toc->xattrs[i];
		uint64_t voff = get64(r + 8);
		size_t nlen = 0;

		x->name = ld_str(l, get32(r), 255, &nlen);
		x->len = get32(r + 4);
		if (!x->name || nlen == 0 || x->len > TOC_MAX_XATTR_VALUE ||
		    voff > l->blob_len || x->len > l->blob_len - voff)
			return -EINVAL;
		x->value = x->len ? l->blob + voff : NULL;
	}
	return 0;
}

static int ld_cps(struct ld *l, struct store_toc *toc, uint64_t off)
{
	for (size_t i = 0; i < toc->n_cps; i++) {
		const unsigned char *r = l->f + off + i * CP_SIZE;
		struct store_toc_checkpoint *c = &toc->cps[i];
		uint64_t woff = get64(r + 16);
		uint32_t zlen = get32(r + 24);
		unsigned char *w = NULL;
		uLongf wlen;

		c->uoff = get64(r);
		c->coff = get64(r + 8);
		c->window_len = get16(r + 28);
		c->bits = r[30];
		if (r[31] || (i == 0 && c->uoff) ||
		    (i && c->uoff <= toc->cps[i - 1].uoff) ||
		    c->uoff > toc->tar_size || c->coff > toc->comp_size ||
		    c->bits > 7 || (c->bits && c->coff == 0) ||
		    c->window_len > TOC_WINDOW || c->window_len > c->uoff ||
		    woff > l->blob_len || zlen > l->blob_len - woff ||
		    (!c->window_len && zlen) ||
		    (toc->comp != REGISTRY_COMP_GZIP &&
		     (c->bits || c->window_len)) ||
		    (toc->comp == REGISTRY_COMP_NONE && i > 0))
			return -EINVAL;
		if (c->window_len) {
			w = toc_arena_alloc(toc->mem, c->window_len);
			if (!w)
				return -ENOMEM;
			wlen = c->window_len;
			if (uncompress(w, &wlen, l->blob + woff, zlen) != Z_OK ||
			    wlen != c->window_len)
				return -EINVAL;
		}
		c->window = w;
	}
	return 0;
}

static int ld_parse(struct ld *l, struct store_toc *toc)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *h = l->f;
	uint64_t n_e, n_x, n_c, o_e, o_x, o_c, o_s, o_b;
	uint32_t comp;

	if (memcmp(h, TOC_MAGIC, 8) || get32(h + 8) != TOC_VERSION ||
	    get32(h + 12) != HDR_SIZE || get64(h + 152))
		return -EINVAL;
	comp = get32(h + 16);
	if (comp != REGISTRY_COMP_NONE && comp != REGISTRY_COMP_GZIP &&
	    comp != REGISTRY_COMP_ZSTD)
		return -EINVAL;
	toc->comp = (enum registry_compression)comp;
	toc->comp_size = get64(h + 24);
	toc->tar_size = get64(h + 32);
	memcpy(toc->diff_id, "sha256:", 7);
	for (int i = 0; i < 32; i++) {
		toc->diff_id[7 + 2 * i] = hex[h[40 + i] >> 4];
		toc->diff_id[8 + 2 * i] = hex[h[40 + i] & 15];
	}
	toc->diff_id[71] = '\0';
	n_e = get64(h + 72);
	n_x = get64(h + 80);
	n_c = get64(h + 88);
	o_e = get64(h + 96);
	o_x = get64(h + 104);
	o_c = get64(h + 112);
	o_s = get64(h + 120);
	l->st_len = get64(h + 128);
	o_b = get64(h + 136);
	l->blob_len = get64(h + 144);
	if (toc->tar_size > TOC_MAX_TAR || n_e > TOC_MAX_ENTRIES ||
	    n_x > UINT32_MAX || n_c == 0 ||
	    (toc->comp == REGISTRY_COMP_NONE &&
	     toc->comp_size != toc->tar_size) ||
	    !ld_range(l, o_e, n_e, ENT_SIZE) ||
	    !ld_range(l, o_x, n_x, XA_SIZE) ||
	    !ld_range(l, o_c, n_c, CP_SIZE) ||
	    !ld_range(l, o_s, l->st_len, 1) ||
	    !ld_range(l, o_b, l->blob_len, 1) ||
	    (l->st_len && l->f[o_s + l->st_len - 1] != '\0'))
		return -EINVAL;
	l->st = (const char *)l->f + o_s;
	l->blob = l->f + o_b;
	toc->entries = calloc(n_e ? n_e : 1, sizeof(*toc->entries));
	toc->xattrs = calloc(n_x ? n_x : 1, sizeof(*toc->xattrs));
	toc->cps = calloc(n_c, sizeof(*toc->cps));
	if (!toc->entries || !toc->xattrs || !toc->cps)
		return -ENOMEM;
	toc->n_entries = n_e;
	toc->n_xattrs = n_x;
	toc->n_cps = n_c;
	if (ld_xattrs(l, toc, o_x) || ld_cps(l, toc, o_c) ||
	    ld_entries(l, toc, o_e))
		return -EINVAL;
	return 0;
}

int store_toc_decode(void *data, size_t size, struct store_toc **out)
{
	struct store_toc *toc = NULL;
	struct ld *l = NULL;
	unsigned char *f = data;
	int rc;

	if (size < HDR_SIZE + 8 || size > STORE_TOC_FILE_MAX) {
		free(f);
		return -EINVAL;
	}
	if (XXH3_64bits(f, size - 8) != get64(f + size - 8)) {
		free(f);
		rc = -EINVAL;
		goto out;
	}
	rc = toc_alloc(STORE_TOC_FILE_MAX, &toc);
	if (rc) {
		free(f);
		goto out;
	}
	rc = toc_arena_adopt(toc->mem, f);	/* frees f on failure */
	if (rc)
		goto out;
	l = calloc(1, sizeof(*l));
	if (!l) {
		rc = -ENOMEM;
		goto out;
	}
	l->f = f;
	l->size = size - 8;
	rc = ld_parse(l, toc);
	if (rc)
		goto out;
	*out = toc;
	toc = NULL;
out:
	free(l);
	store_toc_free(toc);
	return rc;
}
