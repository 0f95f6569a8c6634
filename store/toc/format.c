/* SPDX-License-Identifier: MIT */
/*
 * format.c - the on-disk form of a layer index: store_toc_encode turns a
 * toc into bytes, store_toc_decode turns bytes back into a toc.  The
 * store persists those bytes itself (store/core/layer_index.c); there is
 * no file I/O here.
 *
 * Format (field by field in docs/index-format.md; every constant of it is
 * defined below and nowhere else): a 192-byte little-endian header
 * ("IMGFSTOC", version 7, counts, section offsets, body sizes), then the
 * body as one zstd frame, then an XXH3-64 of everything before it as the
 * last 8 bytes.  The body holds fixed-size records for entries (64 B,
 * stored by column: ENT_AT), xattrs (16 B), checkpoints (32 B) and chunk
 * records (32 B: the blob's sha256 state at the end of each
 * STORE_TOC_CHUNK, struct store_chain), a string table of
 * NUL-terminated strings and a blob section (xattr values and the raw
 * 32 KiB windows).  Compressing the body as a whole is what keeps
 * the index small: windows are most of it for gzip, entries and paths for
 * layers of many small files, and one frame finds what repeats across
 * them.  Fixed records keep a lookup O(1) once the body is decompressed.
 * Two fields of an entry record are stored as the difference from what
 * the previous record predicts (enc_predict()): its content offset, which
 * in a tar follows the previous entry's padded content and one header,
 * and its path's string offset, which follows the previous strings; the
 * differences repeat where the values never do, so the frame shrinks
 * (a layer of 100,000 small files: index 4.75% -> 3.56% of the gzip).
 * Codes stored in the file (compression, entry type) are the format's
 * own, mapped explicitly, so renumbering an enum in the code cannot change
 * what a file means.
 *
 * The decoder trusts nothing: an index may be truncated by a crash or,
 * once indexes are shared through a registry, written by someone else.
 * The checksum catches accidents; every count, offset, length, code,
 * string, path, type and checkpoint is also checked against the file and
 * the stream before use (a path must be its own normal form), so a
 * well-checksummed hostile file is still -EINVAL and never a crash.  The
 * body's declared size is capped (TOC_FMT_BODY_MAX), must be what the
 * frame's header declares and exactly what the frame decompresses to.  The decoded toc keeps the decompressed
 * body in its arena: strings, xattr values and windows point into it.
 */
#include "toc_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>
#include <zstd.h>

#include "buf.h"
#include "log.h"
#include "path.h"

/* ---- the format's constants --------------------------------------------- */

#define TOC_FMT_MAGIC "IMGFSTOC"
#define TOC_FMT_MAGIC_LEN 8
#define TOC_FMT_VERSION 7
#define TOC_FMT_SUM_LEN 8	/* the XXH3-64 trailer */
#define TOC_FMT_ALIGN 8		/* blob section and trailer start aligned */
#define TOC_FMT_NO_LINK 0xffffffffu	/* entry without a link */
#define TOC_FMT_ZSTD_LEVEL 9	/* of the body */
#define TOC_FMT_BODY_MAX STORE_TOC_FILE_MAX	/* decompressed */

/* header compression codes */
#define TOC_FMT_COMP_NONE 0u
#define TOC_FMT_COMP_GZIP 1u
#define TOC_FMT_COMP_ZSTD 2u

/* header: field offsets (section offsets are in the decompressed body) */
#define HDR_SIZE 192
#define HDR_MAGIC 0
#define HDR_VERSION 8
#define HDR_HDR_SIZE 12
#define HDR_COMP 16
#define HDR_SPAN 20
#define HDR_COMP_SIZE 24
#define HDR_TAR_SIZE 32
#define HDR_DIFF_ID 40		/* 32 raw bytes of sha256 */
#define HDR_N_ENTRIES 72
#define HDR_N_XATTRS 80
#define HDR_N_CPS 88
#define HDR_ENTRIES_OFF 96
#define HDR_XATTRS_OFF 104
#define HDR_CPS_OFF 112
#define HDR_STRTAB_OFF 120
#define HDR_STRTAB_LEN 128
#define HDR_BLOB_OFF 136
#define HDR_BLOB_LEN 144
#define HDR_BODY_LEN 152	/* decompressed */
#define HDR_BODY_ZLEN 160	/* the zstd frame after the header */
#define HDR_CHUNK 168		/* compressed bytes a chunk digest covers */
#define HDR_RESERVED 172	/* 4 bytes */
#define HDR_N_CHUNKS 176
#define HDR_CHUNKS_OFF 184

/* chunk sizes a file may declare: powers of two in this range */
#define TOC_FMT_CHUNK_MIN ((uint32_t)1 << 10)
#define TOC_FMT_CHUNK_MAX ((uint32_t)1 << 26)
#define CHUNK_REC 32		/* a raw sha256 */

/* entry table: ENT_SIZE bytes per entry, stored by column (ENT_AT) */
#define ENT_SIZE 64
#define ENT_OFFSET 0
#define ENT_FSIZE 8
#define ENT_MTIME_SEC 16
#define ENT_MTIME_NSEC 24
#define ENT_PATH 28
#define ENT_LINK 32
#define ENT_MODE 36
#define ENT_TYPE 38
#define ENT_RESERVED 39
#define ENT_UID 40
#define ENT_GID 44
#define ENT_DEVMAJOR 48
#define ENT_DEVMINOR 52
#define ENT_XATTR_FIRST 56
#define ENT_N_XATTRS 60

/*
 * Field @f (one of the ENT_* offsets above, @w bytes wide) of entry @i of
 * @n: the table holds each field of every entry together, field after
 * field (column f starts at n * f, since each ENT_* offset is the sum of
 * the widths before it), because like values then sit side by side and
 * the body's compression finds them: 5% off the index of a layer of
 * 100,000 small files (3.50% -> 3.32% of the compressed layer).
 */
#define ENT_AT(base, n, i, f, w) ((base) + (uint64_t)(n) * (f) + (uint64_t)(i) * (w))

/* The columns' widths, in order, for their byte planes (pack.c): in the
 * file each column is split into planes, its values' first bytes, then
 * their second bytes, ... (3.31% -> about 3.05% of the gzip on the layer of
 * 100,000 small files). */
static const unsigned char ent_widths[] = {
	ENT_FSIZE - ENT_OFFSET, ENT_MTIME_SEC - ENT_FSIZE,
	ENT_MTIME_NSEC - ENT_MTIME_SEC, ENT_PATH - ENT_MTIME_NSEC,
	ENT_LINK - ENT_PATH, ENT_MODE - ENT_LINK, ENT_TYPE - ENT_MODE,
	ENT_RESERVED - ENT_TYPE, ENT_UID - ENT_RESERVED, ENT_GID - ENT_UID,
	ENT_DEVMAJOR - ENT_GID, ENT_DEVMINOR - ENT_DEVMAJOR,
	ENT_XATTR_FIRST - ENT_DEVMINOR, ENT_N_XATTRS - ENT_XATTR_FIRST,
	ENT_SIZE - ENT_N_XATTRS,
};
#define ENT_COLS (sizeof(ent_widths) / sizeof(ent_widths[0]))

/* xattr record */
#define XA_SIZE 16
#define XA_NAME 0
#define XA_LEN 4
#define XA_VALUE_OFF 8

/* checkpoint record */
#define CP_SIZE 32
#define CP_UOFF 0
#define CP_COFF 8
#define CP_WIN_OFF 16
#define CP_RESERVED4 24		/* 4 bytes */
#define CP_WINDOW_LEN 28
#define CP_BITS 30
#define CP_RESERVED 31

/* The file's compression code of @comp; -EINVAL for one with none. */
static int fmt_comp_encode(enum registry_compression comp, uint32_t *code)
{
	switch (comp) {
	case REGISTRY_COMP_NONE:
		*code = TOC_FMT_COMP_NONE;
		return 0;
	case REGISTRY_COMP_GZIP:
		*code = TOC_FMT_COMP_GZIP;
		return 0;
	case REGISTRY_COMP_ZSTD:
		*code = TOC_FMT_COMP_ZSTD;
		return 0;
	default:
		return -EINVAL;
	}
}

/* The compression a file's @code stands for; -EINVAL for an unknown code. */
static int fmt_comp_decode(uint32_t code, enum registry_compression *comp)
{
	switch (code) {
	case TOC_FMT_COMP_NONE:
		*comp = REGISTRY_COMP_NONE;
		return 0;
	case TOC_FMT_COMP_GZIP:
		*comp = REGISTRY_COMP_GZIP;
		return 0;
	case TOC_FMT_COMP_ZSTD:
		*comp = REGISTRY_COMP_ZSTD;
		return 0;
	default:
		return -EINVAL;
	}
}

/* entry type codes */
#define TOC_FMT_TYPE_REG 1u
#define TOC_FMT_TYPE_DIR 2u
#define TOC_FMT_TYPE_SYMLINK 3u
#define TOC_FMT_TYPE_HARDLINK 4u
#define TOC_FMT_TYPE_CHR 5u
#define TOC_FMT_TYPE_BLK 6u
#define TOC_FMT_TYPE_FIFO 7u

static const struct {
	enum store_ftype type;
	uint8_t code;
} fmt_types[] = {
	{ STORE_FT_REG, TOC_FMT_TYPE_REG },
	{ STORE_FT_DIR, TOC_FMT_TYPE_DIR },
	{ STORE_FT_SYMLINK, TOC_FMT_TYPE_SYMLINK },
	{ STORE_FT_HARDLINK, TOC_FMT_TYPE_HARDLINK },
	{ STORE_FT_CHR, TOC_FMT_TYPE_CHR },
	{ STORE_FT_BLK, TOC_FMT_TYPE_BLK },
	{ STORE_FT_FIFO, TOC_FMT_TYPE_FIFO },
};

/* The file's code of entry type @type (enum store_ftype). */
static int fmt_type_encode(uint8_t type, uint8_t *code)
{
	for (size_t i = 0; i < sizeof(fmt_types) / sizeof(fmt_types[0]); i++)
		if (fmt_types[i].type == type) {
			*code = fmt_types[i].code;
			return 0;
		}
	return -EINVAL;
}

/* The entry type a file's @code stands for; -EINVAL for an unknown code. */
static int fmt_type_decode(uint8_t code, uint8_t *type)
{
	for (size_t i = 0; i < sizeof(fmt_types) / sizeof(fmt_types[0]); i++)
		if (fmt_types[i].code == code) {
			*type = (uint8_t)fmt_types[i].type;
			return 0;
		}
	return -EINVAL;
}

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

/* ---- encode ------------------------------------------------------------- */

static int add_pad(struct buf *b)
{
	static const char zero[TOC_FMT_ALIGN];
	size_t r = b->len % TOC_FMT_ALIGN;

	return r ? buf_add(b, zero, TOC_FMT_ALIGN - r) : 0;
}


/*
 * What an entry record's offset, path and link fields are stored against
 * (encoder and decoder keep the same): the content offset after the
 * previous entry's content padded to 512 bytes; the path's string offset
 * at the end of the previous entry's strings; the link's right after the
 * path (the encoder appends them in that order, so its differences are
 * 0).  Unsigned arithmetic wraps, so any value round-trips, and the
 * decoder checks the sums as it checked plain values.
 */
struct enc_pred {
	uint64_t offset;
	uint32_t path;
};

/* After an entry at @offset of @size whose strings end at @str_end. */
static void enc_predict(struct enc_pred *pr, uint64_t offset, uint64_t size,
			uint32_t str_end)
{
	pr->offset = offset + ((size + 511) & ~(uint64_t)511);
	pr->path = str_end;
}

/* Append @s with its NUL to the string table; its offset in *@off. */
static int add_str(struct buf *st, const char *s, uint32_t *off)
{
	if (st->len >= TOC_FMT_NO_LINK)
		return -E2BIG;
	*off = (uint32_t)st->len;
	return buf_add(st, s, strlen(s) + 1);
}

static int enc_records(const struct store_toc *toc, struct buf *rec,
			struct buf *st, struct buf *blob)
{
	unsigned char r[XA_SIZE > CP_SIZE ? XA_SIZE : CP_SIZE];
	struct enc_pred pr = { 0 };
	size_t i, n = toc->n_entries;
	unsigned char *t = calloc(n ? n : 1, ENT_SIZE);
	unsigned char *planes = malloc(n ? n * ENT_SIZE : 1);
	int rc = 0;

	if (!t || !planes) {
		free(t);
		free(planes);
		return -ENOMEM;
	}
	for (i = 0; i < n && !rc; i++) {
		const struct store_toc_entry *e = &toc->entries[i];
		uint32_t p = 0, l = TOC_FMT_NO_LINK;
		uint8_t type = 0;

		rc = fmt_type_encode(e->type, &type);
		if (!rc)
			rc = add_str(st, e->path, &p);
		if (!rc && e->link)
			rc = add_str(st, e->link, &l);
		put64(ENT_AT(t, n, i, ENT_OFFSET, 8), e->offset - pr.offset);
		put64(ENT_AT(t, n, i, ENT_FSIZE, 8), e->size);
		put64(ENT_AT(t, n, i, ENT_MTIME_SEC, 8), (uint64_t)e->mtime_sec);
		put32(ENT_AT(t, n, i, ENT_MTIME_NSEC, 4), e->mtime_nsec);
		put32(ENT_AT(t, n, i, ENT_PATH, 4), p - pr.path);
		put32(ENT_AT(t, n, i, ENT_LINK, 4),
		      e->link ? l - (p + (uint32_t)strlen(e->path) + 1) : TOC_FMT_NO_LINK);
		enc_predict(&pr, e->offset, e->size, (uint32_t)st->len);
		put16(ENT_AT(t, n, i, ENT_MODE, 2), (uint16_t)(e->mode & 07777));
		*ENT_AT(t, n, i, ENT_TYPE, 1) = type;
		put32(ENT_AT(t, n, i, ENT_UID, 4), e->uid);
		put32(ENT_AT(t, n, i, ENT_GID, 4), e->gid);
		put32(ENT_AT(t, n, i, ENT_DEVMAJOR, 4), e->devmajor);
		put32(ENT_AT(t, n, i, ENT_DEVMINOR, 4), e->devminor);
		put32(ENT_AT(t, n, i, ENT_XATTR_FIRST, 4), e->xattr_first);
		put32(ENT_AT(t, n, i, ENT_N_XATTRS, 4), e->n_xattrs);
	}
	toc_planes_split(t, planes, n, ent_widths, ENT_COLS);
	if (!rc)
		rc = buf_add(rec, planes, n * ENT_SIZE);
	free(t);
	free(planes);
	for (i = 0; i < toc->n_xattrs && !rc; i++) {
		const struct store_xattr *x = &toc->xattrs[i];
		uint32_t name = 0;

		memset(r, 0, XA_SIZE);
		rc = add_str(st, x->name, &name);
		put32(r + XA_NAME, name);
		put32(r + XA_LEN, x->len);
		put64(r + XA_VALUE_OFF, blob->len);
		if (!rc)
			rc = buf_add(blob, x->value, x->len);
		if (!rc)
			rc = buf_add(rec, r, XA_SIZE);
	}
	for (i = 0; i < toc->n_cps && !rc; i++) {
		const struct store_toc_checkpoint *c = &toc->cps[i];

		memset(r, 0, CP_SIZE);
		put64(r + CP_UOFF, c->uoff);
		put64(r + CP_COFF, c->coff);
		put64(r + CP_WIN_OFF, blob->len);
		put16(r + CP_WINDOW_LEN, (uint16_t)c->window_len);
		r[CP_BITS] = c->bits;
		rc = buf_add(blob, c->window, c->window_len);
		if (!rc)
			rc = buf_add(rec, r, CP_SIZE);
	}
	if (!rc)
		rc = buf_add(rec, toc->chunk_md, toc->n_chunks * CHUNK_REC);
	return rc;
}

int store_toc_digest_raw(const char *diff_id, unsigned char raw[32])
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

/* The header, then the body (records, string table, blob section) as one
 * zstd frame, into @file. */
static int enc_body(const struct buf *body, unsigned char *hdr,
		    struct buf *file)
{
	size_t cap = ZSTD_compressBound(body->len), z;
	unsigned char *zb;
	int rc;

	if (ZSTD_isError(cap) || cap > STORE_TOC_FILE_MAX)
		return -E2BIG;
	zb = malloc(cap ? cap : 1);
	if (!zb)
		return -ENOMEM;
	z = ZSTD_compress(zb, cap, body->data, body->len, TOC_FMT_ZSTD_LEVEL);
	if (ZSTD_isError(z)) {
		rc = -EIO;
		goto out;
	}
	put64(hdr + HDR_BODY_LEN, body->len);
	put64(hdr + HDR_BODY_ZLEN, z);
	rc = buf_add(file, hdr, HDR_SIZE);
	if (!rc)
		rc = buf_add(file, zb, z);
out:
	free(zb);
	return rc;
}

int store_toc_encode(const struct store_toc *toc, struct buf *file)
{
	struct buf rec, st, stz, blob;
	unsigned char hdr[HDR_SIZE], sum[TOC_FMT_SUM_LEN];
	uint64_t off_x, off_c, off_k, off_s, off_b;
	uint32_t comp = 0;
	int rc;

	buf_init(&rec, TOC_FMT_BODY_MAX);
	buf_init(&st, TOC_FMT_NO_LINK);
	buf_init(&stz, TOC_FMT_BODY_MAX);
	buf_init(&blob, TOC_FMT_BODY_MAX);
	buf_init(file, STORE_TOC_FILE_MAX);
	memset(hdr, 0, sizeof(hdr));
	rc = fmt_comp_encode(toc->comp, &comp);
	if (!rc && (toc->chunk_size < TOC_FMT_CHUNK_MIN ||
		    toc->chunk_size > TOC_FMT_CHUNK_MAX ||
		    (toc->chunk_size & (toc->chunk_size - 1)) ||
		    toc->n_chunks != (toc->comp_size + toc->chunk_size - 1) / toc->chunk_size))
		rc = -EINVAL;
	if (!rc)
		rc = store_toc_digest_raw(toc->diff_id, hdr + HDR_DIFF_ID);
	if (rc)
		goto out;
	rc = enc_records(toc, &rec, &st, &blob);
	if (!rc)
		rc = toc_strings_front_code(st.data, st.len, &stz);
	if (rc)
		goto out;
	memcpy(hdr + HDR_MAGIC, TOC_FMT_MAGIC, TOC_FMT_MAGIC_LEN);
	put32(hdr + HDR_VERSION, TOC_FMT_VERSION);
	put32(hdr + HDR_HDR_SIZE, HDR_SIZE);
	put32(hdr + HDR_COMP, comp);
	put32(hdr + HDR_SPAN, (uint32_t)STORE_TOC_SPAN);
	put64(hdr + HDR_COMP_SIZE, toc->comp_size);
	put64(hdr + HDR_TAR_SIZE, toc->tar_size);
	put64(hdr + HDR_N_ENTRIES, toc->n_entries);
	put64(hdr + HDR_N_XATTRS, toc->n_xattrs);
	put64(hdr + HDR_N_CPS, toc->n_cps);
	put32(hdr + HDR_CHUNK, toc->chunk_size);
	put64(hdr + HDR_N_CHUNKS, toc->n_chunks);
	/* the body: records (entries, xattrs, checkpoints, chunk digests),
	 * strings, blob */
	off_x = (uint64_t)toc->n_entries * ENT_SIZE;
	off_c = off_x + (uint64_t)toc->n_xattrs * XA_SIZE;
	off_k = off_c + (uint64_t)toc->n_cps * CP_SIZE;
	off_s = off_k + (uint64_t)toc->n_chunks * CHUNK_REC;
	off_b = (off_s + stz.len + TOC_FMT_ALIGN - 1) &
		~(uint64_t)(TOC_FMT_ALIGN - 1);
	put64(hdr + HDR_ENTRIES_OFF, 0);
	put64(hdr + HDR_XATTRS_OFF, off_x);
	put64(hdr + HDR_CPS_OFF, off_c);
	put64(hdr + HDR_CHUNKS_OFF, off_k);
	put64(hdr + HDR_STRTAB_OFF, off_s);
	put64(hdr + HDR_STRTAB_LEN, stz.len);
	put64(hdr + HDR_BLOB_OFF, off_b);
	put64(hdr + HDR_BLOB_LEN, blob.len);
	rc = buf_add(&rec, stz.data, stz.len);
	if (!rc)
		rc = add_pad(&rec);
	if (!rc)
		rc = buf_add(&rec, blob.data, blob.len);
	if (!rc)
		rc = enc_body(&rec, hdr, file);
	if (rc)
		goto out;
	put64(sum, XXH3_64bits(file->data, file->len));
	rc = buf_add(file, sum, TOC_FMT_SUM_LEN);
out:
	if (rc)
		buf_release(file);
	buf_release(&rec);
	buf_release(&st);
	buf_release(&stz);
	buf_release(&blob);
	return rc == -EFBIG ? -E2BIG : rc;
}

/* ---- decode ------------------------------------------------------------- */

struct dec {
	const unsigned char *f;	/* the decompressed body */
	size_t size;
	const char *st;
	uint64_t st_len;
	const unsigned char *blob;
	uint64_t blob_len;
	char norm[TOC_MAX_PATH + 1];
};

/* [off, off + n*rec) inside the body. */
static bool dec_range(const struct dec *l, uint64_t off, uint64_t n,
		      uint64_t rec)
{
	if (n > l->size / (rec ? rec : 1))
		return false;
	return off <= l->size && n * rec <= l->size - off;
}

/* [off, off + len) inside the blob section. */
static bool dec_in_blob(const struct dec *l, uint64_t off, uint64_t len)
{
	return off <= l->blob_len && len <= l->blob_len - off;
}

static const char *dec_str(const struct dec *l, uint32_t off, size_t max,
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

static bool dec_normal(struct dec *l, const char *s, size_t len)
{
	size_t n;

	return path_norm(s, l->norm, sizeof(l->norm), &n) == 0 && n == len &&
	       !memcmp(l->norm, s, n);
}

/* The entries from the table @t, its byte planes joined. */
static int dec_entries(struct dec *l, struct store_toc *toc,
		       const unsigned char *t)
{
	struct enc_pred pr = { 0 };

	for (size_t i = 0; i < toc->n_entries; i++) {
		const size_t n = toc->n_entries;
		struct store_toc_entry *e = &toc->entries[i];
		uint32_t lk = get32(ENT_AT(t, n, i, ENT_LINK, 4));
		uint32_t p = pr.path + get32(ENT_AT(t, n, i, ENT_PATH, 4));
		uint8_t type = *ENT_AT(t, n, i, ENT_TYPE, 1), ftype;
		uint32_t mode, devmajor, devminor, n_xattrs;
		size_t plen = 0, llen = 0;

		e->offset = pr.offset + get64(ENT_AT(t, n, i, ENT_OFFSET, 8));
		e->size = get64(ENT_AT(t, n, i, ENT_FSIZE, 8));
		e->mtime_sec = (int64_t)get64(ENT_AT(t, n, i, ENT_MTIME_SEC, 8));
		e->mtime_nsec = get32(ENT_AT(t, n, i, ENT_MTIME_NSEC, 4));
		e->path = dec_str(l, p, TOC_MAX_PATH, &plen);
		mode = get16(ENT_AT(t, n, i, ENT_MODE, 2));
		e->uid = get32(ENT_AT(t, n, i, ENT_UID, 4));
		e->gid = get32(ENT_AT(t, n, i, ENT_GID, 4));
		devmajor = get32(ENT_AT(t, n, i, ENT_DEVMAJOR, 4));
		devminor = get32(ENT_AT(t, n, i, ENT_DEVMINOR, 4));
		e->xattr_first = get32(ENT_AT(t, n, i, ENT_XATTR_FIRST, 4));
		n_xattrs = get32(ENT_AT(t, n, i, ENT_N_XATTRS, 4));
		/* checked before they go into the entry's bit-fields */
		if (mode > 07777 || devmajor > STORE_TOC_DEVMAJOR_MAX ||
		    devminor > STORE_TOC_DEVMINOR_MAX ||
		    n_xattrs > TOC_MAX_XATTR_COUNT ||
		    fmt_type_decode(type, &ftype))
			return -EINVAL;
		e->mode = mode;
		e->devmajor = devmajor;
		e->devminor = devminor;
		e->n_xattrs = n_xattrs;
		e->type = ftype;
		if (lk != TOC_FMT_NO_LINK)
			lk += p + (uint32_t)plen + 1;
		e->link = lk == TOC_FMT_NO_LINK ? NULL :
			  dec_str(l, lk, TOC_MAX_PATH, &llen);
		if (!e->path || !dec_normal(l, e->path, plen) ||
		    *ENT_AT(t, n, i, ENT_RESERVED, 1) ||
		    (plen == 0 && e->type != STORE_FT_DIR) ||
		    e->mtime_nsec >= 1000000000u ||
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
			    (llen == 0 || !dec_normal(l, e->link, llen)))
				return -EINVAL;
		} else if (lk != TOC_FMT_NO_LINK) {
			return -EINVAL;
		}
		enc_predict(&pr, e->offset, e->size, e->link ?
			    lk + (uint32_t)llen + 1 : p + (uint32_t)plen + 1);
	}
	return 0;
}

static int dec_xattrs(struct dec *l, struct store_toc *toc, uint64_t off)
{
	for (size_t i = 0; i < toc->n_xattrs; i++) {
		const unsigned char *r = l->f + off + i * XA_SIZE;
		struct store_xattr *x = &toc->xattrs[i];
		uint64_t voff = get64(r + XA_VALUE_OFF);
		size_t nlen = 0;

		x->name = dec_str(l, get32(r + XA_NAME), TOC_MAX_XATTR_NAME,
				  &nlen);
		x->len = get32(r + XA_LEN);
		if (!x->name || nlen == 0 || x->len > TOC_MAX_XATTR_VALUE ||
		    !dec_in_blob(l, voff, x->len))
			return -EINVAL;
		x->value = x->len ? l->blob + voff : NULL;
	}
	return 0;
}

static int dec_cps(struct dec *l, struct store_toc *toc, uint64_t off)
{
	for (size_t i = 0; i < toc->n_cps; i++) {
		const unsigned char *r = l->f + off + i * CP_SIZE;
		struct store_toc_checkpoint *c = &toc->cps[i];
		uint64_t woff = get64(r + CP_WIN_OFF);

		c->uoff = get64(r + CP_UOFF);
		c->coff = get64(r + CP_COFF);
		c->window_len = get16(r + CP_WINDOW_LEN);
		c->bits = r[CP_BITS];
		/* spans tile the blob: the first starts at 0, each starts
		 * before the blob's end and after the one before */
		if (r[CP_RESERVED] || get32(r + CP_RESERVED4) ||
		    (i == 0 && (c->uoff || c->coff)) ||
		    (i && (c->uoff <= toc->cps[i - 1].uoff ||
			   c->coff <= toc->cps[i - 1].coff)) ||
		    c->uoff > toc->tar_size || c->coff >= toc->comp_size ||
		    c->bits > 7 || (c->bits && c->coff == 0) ||
		    (toc->comp == REGISTRY_COMP_NONE && c->coff != c->uoff) ||
		    c->window_len > TOC_WINDOW || c->window_len > c->uoff ||
		    !dec_in_blob(l, woff, c->window_len) ||
		    (toc->comp != REGISTRY_COMP_GZIP &&
		     (c->bits || c->window_len)))
			return -EINVAL;
		c->window = c->window_len ? l->blob + woff : NULL;
	}
	return 0;
}

static int dec_parse(struct dec *l, const unsigned char *h,
		     struct store_toc *toc)
{
	static const char hex[] = "0123456789abcdef";
	uint64_t n_e, n_x, n_c, n_k, o_e, o_x, o_c, o_k, o_s, o_b, st_zlen;
	uint32_t chunk;
	unsigned char *blob, *table;
	char *st;
	size_t st_len;
	int rc;

	if (fmt_comp_decode(get32(h + HDR_COMP), &toc->comp))
		return -EINVAL;
	toc->comp_size = get64(h + HDR_COMP_SIZE);
	toc->tar_size = get64(h + HDR_TAR_SIZE);
	memcpy(toc->diff_id, "sha256:", 7);
	for (int i = 0; i < 32; i++) {
		toc->diff_id[7 + 2 * i] = hex[h[HDR_DIFF_ID + i] >> 4];
		toc->diff_id[8 + 2 * i] = hex[h[HDR_DIFF_ID + i] & 15];
	}
	toc->diff_id[71] = '\0';
	n_e = get64(h + HDR_N_ENTRIES);
	n_x = get64(h + HDR_N_XATTRS);
	n_c = get64(h + HDR_N_CPS);
	o_e = get64(h + HDR_ENTRIES_OFF);
	o_x = get64(h + HDR_XATTRS_OFF);
	o_c = get64(h + HDR_CPS_OFF);
	chunk = get32(h + HDR_CHUNK);
	n_k = get64(h + HDR_N_CHUNKS);
	o_k = get64(h + HDR_CHUNKS_OFF);
	o_s = get64(h + HDR_STRTAB_OFF);
	st_zlen = get64(h + HDR_STRTAB_LEN);
	o_b = get64(h + HDR_BLOB_OFF);
	l->blob_len = get64(h + HDR_BLOB_LEN);
	if (toc->tar_size > TOC_MAX_TAR || n_e > TOC_MAX_ENTRIES ||
	    n_x > UINT32_MAX || n_c == 0 ||
	    (toc->comp == REGISTRY_COMP_NONE &&
	     toc->comp_size != toc->tar_size) ||
	    !dec_range(l, o_e, n_e, ENT_SIZE) ||
	    !dec_range(l, o_x, n_x, XA_SIZE) ||
	    !dec_range(l, o_c, n_c, CP_SIZE) ||
	    chunk < TOC_FMT_CHUNK_MIN || chunk > TOC_FMT_CHUNK_MAX ||
	    (chunk & (chunk - 1)) || toc->comp_size == 0 ||
	    n_k != (toc->comp_size - 1) / chunk + 1 ||
	    !dec_range(l, o_k, n_k, CHUNK_REC) ||
	    !dec_range(l, o_s, st_zlen, 1) ||
	    !dec_range(l, o_b, l->blob_len, 1))
		return -EINVAL;
	/* Keep only the strings, expanded, and the blob section (names,
	 * link targets, xattr values, windows): the records are parsed into
	 * the arrays below, and the body they came in (64 bytes an entry) is
	 * freed. */
	rc = toc_strings_expand(l->f + o_s, st_zlen, TOC_FMT_BODY_MAX, &st,
				&st_len);
	if (rc)
		return rc;
	if (toc_arena_adopt(toc->mem, st))	/* frees it on failure */
		return -ENOMEM;
	blob = malloc(l->blob_len ? l->blob_len : 1);
	if (!blob)
		return -ENOMEM;
	memcpy(blob, l->f + o_b, l->blob_len);
	if (toc_arena_adopt(toc->mem, blob))
		return -ENOMEM;
	l->st = st;
	l->st_len = st_len;
	l->blob = blob;
	toc->entries = calloc(n_e ? n_e : 1, sizeof(*toc->entries));
	toc->xattrs = calloc(n_x ? n_x : 1, sizeof(*toc->xattrs));
	toc->cps = calloc(n_c, sizeof(*toc->cps));
	toc->chunk_md = malloc(n_k * CHUNK_REC);
	if (!toc->entries || !toc->xattrs || !toc->cps || !toc->chunk_md)
		return -ENOMEM;
	memcpy(toc->chunk_md, l->f + o_k, n_k * CHUNK_REC);
	toc->chunk_size = chunk;
	toc->n_chunks = n_k;
	toc->n_entries = n_e;
	toc->n_xattrs = n_x;
	toc->n_cps = n_c;
	if (dec_xattrs(l, toc, o_x) || dec_cps(l, toc, o_c))
		return -EINVAL;
	table = malloc(n_e ? n_e * ENT_SIZE : 1);
	if (!table)
		return -ENOMEM;
	toc_planes_join(l->f + o_e, table, n_e, ent_widths, ENT_COLS);
	rc = dec_entries(l, toc, table) ? -EINVAL : 0;
	free(table);
	return rc;
}

/*
 * The header's checks that need no body, then the body decompressed (its
 * declared size capped, equal to the size its frame declares, and exactly
 * that size out) into @body.
 */
static int dec_body(const unsigned char *f, size_t size, void **body,
		    size_t *body_len)
{
	uint64_t blen = get64(f + HDR_BODY_LEN), zlen = get64(f + HDR_BODY_ZLEN);
	void *b;
	size_t n;

	if (memcmp(f + HDR_MAGIC, TOC_FMT_MAGIC, TOC_FMT_MAGIC_LEN) ||
	    get32(f + HDR_VERSION) != TOC_FMT_VERSION ||
	    get32(f + HDR_HDR_SIZE) != HDR_SIZE || get32(f + HDR_RESERVED) ||
	    zlen != size - TOC_FMT_SUM_LEN - HDR_SIZE ||
	    blen > TOC_FMT_BODY_MAX)
		return -EINVAL;
	/* The frame must say it holds blen bytes (store_toc_encode's
	 * always does) before blen is allocated: else a small file whose
	 * header declares a huge body costs that much (tests/fuzz/crashes). */
	if (ZSTD_getFrameContentSize(f + HDR_SIZE, zlen) != blen)
		return -EINVAL;
	b = malloc(blen ? blen : 1);
	if (!b)
		return -ENOMEM;
	n = ZSTD_decompress(b, blen, f + HDR_SIZE, zlen);
	if (ZSTD_isError(n) || n != blen) {
		free(b);
		return -EINVAL;
	}
	*body = b;
	*body_len = blen;
	return 0;
}

int store_toc_decode(void *data, size_t size, struct store_toc **out)
{
	struct store_toc *toc = NULL;
	struct dec *l = NULL;
	unsigned char *f = data;
	void *body = NULL;
	size_t blen = 0;
	int rc;

	if (size < HDR_SIZE + TOC_FMT_SUM_LEN || size > STORE_TOC_FILE_MAX ||
	    XXH3_64bits(f, size - TOC_FMT_SUM_LEN) !=
	    get64(f + size - TOC_FMT_SUM_LEN)) {
		rc = -EINVAL;
		goto out;
	}
	rc = dec_body(f, size, &body, &blen);
	if (rc)
		goto out;
	rc = toc_alloc(STORE_TOC_FILE_MAX, &toc);
	if (rc)
		goto out;
	l = calloc(1, sizeof(*l));
	if (!l) {
		rc = -ENOMEM;
		goto out;
	}
	l->f = body;
	l->size = blen;
	rc = dec_parse(l, f, toc);
	if (rc)
		goto out;
	*out = toc;
	toc = NULL;
out:
	free(f);
	free(body);
	free(l);
	store_toc_free(toc);
	return rc;
}
