/* SPDX-License-Identifier: MIT */
/*
 * build.c - the layer indexer: libarchive parses the uncompressed stream
 * that scan.c produces, and each tar entry becomes one struct
 * store_toc_entry (with its xattrs).
 *
 * libarchive gets the tar format and the "none" filter only: decompression
 * is ours (it must record checkpoints), and every other reader is attack
 * surface we do not need.  It is fed through a read callback with no skip
 * callback, so it consumes the stream byte by byte in order; the position
 * of its filter (archive_filter_bytes(a, 0)) right after
 * archive_read_next_header is then exactly the offset of the entry's
 * content in the uncompressed stream (tests/unit/test_toc.c checks this by
 * reading the bytes back).  Entry data is never read through libarchive:
 * the next header call skips it, which is also where a size beyond the data
 * shows up as a truncated archive (-EIO).
 *
 * Hostile input: a ".." component anywhere is -EINVAL (the whole layer is
 * refused: a layer that tries to escape is not one to serve half of); a
 * non-directory named as the root itself is -EINVAL; limits (entries,
 * path length, xattr sizes, total string memory; toc_int.h) are -E2BIG.
 * A build with a budget (budget.c) takes its arena's blocks and its
 * arrays from it; when the budget is spent the build is -ENOMEM and
 * store_toc_build_budget() runs it again alone.
 */
#include "toc_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <archive.h>
#include <archive_entry.h>

#include "htab.h"
#include "log.h"
#include "path.h"

struct build {
	struct store_toc *toc;
	struct toc_scan *sc;
	int scan_err;		/* first error of the decompression pass */
	size_t entries_cap, xattrs_cap;
	struct htab xnames;	/* the current entry's xattr names -> record
				 * index + 1 (build_xattrs) */
	bool xnames_live;
	char path[TOC_MAX_PATH + 1];
};

static la_ssize_t build_read_cb(struct archive *a, void *data,
				const void **buf)
{
	struct build *b = data;
	size_t len = 0;
	int rc;

	rc = toc_scan_next(b->sc, buf, &len);
	if (rc) {
		b->scan_err = rc;
		archive_set_error(a, -rc, "decompression failed");
		return -1;
	}
	return (la_ssize_t)len;
}

static int build_type(struct archive_entry *ae, uint8_t *type)
{
	if (archive_entry_hardlink(ae)) {
		*type = STORE_FT_HARDLINK;
		return 0;
	}
	switch (archive_entry_filetype(ae)) {
	case AE_IFREG:
		*type = STORE_FT_REG;
		return 0;
	case AE_IFDIR:
		*type = STORE_FT_DIR;
		return 0;
	case AE_IFLNK:
		*type = STORE_FT_SYMLINK;
		return 0;
	case AE_IFCHR:
		*type = STORE_FT_CHR;
		return 0;
	case AE_IFBLK:
		*type = STORE_FT_BLK;
		return 0;
	case AE_IFIFO:
		*type = STORE_FT_FIFO;
		return 0;
	default:
		return -ENOTSUP;
	}
}

/* Room for one more xattr record, counted against the arena's cap: the
 * records grow with what the layer says, like its strings. */
static int build_xattr_slot(struct build *b)
{
	struct store_toc *toc = b->toc;
	struct store_xattr *p;
	size_t old = b->xattrs_cap;
	int rc;

	if (toc->n_xattrs < b->xattrs_cap)
		return 0;
	if (b->xattrs_cap > UINT32_MAX / 2)	/* xattr_first is 32-bit */
		return -E2BIG;
	p = toc_grow(toc->xattrs, &b->xattrs_cap, sizeof(*p), 64);
	if (!p)
		return -ENOMEM;
	toc->xattrs = p;
	rc = toc_arena_charge(toc->mem, (b->xattrs_cap - old) * sizeof(*p));
	if (rc == -E2BIG)
		log_err("toc: %s: xattrs beyond the index's memory cap", b->path);
	return rc;
}

/*
 * An entry's xattrs, in the order their names first occur; a name that
 * occurs again replaces the value (the last one wins).  libarchive's own
 * pax writer records each xattr twice (LIBARCHIVE.xattr and SCHILY.xattr)
 * and its reader returns both.  b->xnames maps the entry's names to their
 * records, so this is linear in the xattrs; it is emptied again before
 * the next entry.  The per-entry limits apply to what is kept.
 */
static int build_xattrs(struct build *b, struct archive_entry *ae,
			struct store_toc_entry *e)
{
	struct store_toc *toc = b->toc;
	const char *name;
	const void *value;
	size_t size, total = 0, k;
	int rc = 0;

	e->xattr_first = (uint32_t)toc->n_xattrs;
	e->n_xattrs = 0;
	if (archive_entry_xattr_reset(ae) == 0)
		return 0;
	while (archive_entry_xattr_next(ae, &name, &value, &size) ==
	       ARCHIVE_OK) {
		size_t nlen = strlen(name), old = 0;
		struct store_xattr *x = NULL;
		void *v = NULL;

		k = (uintptr_t)htab_getn(&b->xnames, name, nlen);
		if (k) {
			x = &toc->xattrs[k - 1];
			old = nlen + x->len;
		}
		if (size > TOC_MAX_XATTR_VALUE || nlen > TOC_MAX_XATTR_NAME ||
		    nlen == 0 || (!x && e->n_xattrs >= TOC_MAX_XATTR_COUNT) ||
		    size + nlen > TOC_MAX_XATTR_ENTRY - (total - old)) {
			log_err("toc: %s: xattr %.64s too large", b->path,
				name);
			rc = -E2BIG;
			goto out;
		}
		total = total - old + size + nlen;
		if (x) {
			if (size > x->len) {
				v = toc_arena_alloc(toc->mem, size);
				if (!v) {
					rc = -E2BIG;
					goto out;
				}
				x->value = v;
			}
			if (size)
				memcpy((void *)x->value, value, size);
			x->len = (uint32_t)size;
			continue;
		}
		rc = build_xattr_slot(b);
		if (rc)
			goto out;
		if (size) {
			v = toc_arena_memdup(toc->mem, value, size);
			if (!v) {
				rc = -E2BIG;
				goto out;
			}
		}
		x = &toc->xattrs[toc->n_xattrs];
		x->name = toc_arena_strndup(toc->mem, name, nlen);
		if (!x->name) {
			rc = -E2BIG;
			goto out;
		}
		x->value = v;
		x->len = (uint32_t)size;
		rc = htab_set(&b->xnames, x->name,
			      (void *)(uintptr_t)(toc->n_xattrs + 1), NULL);
		if (rc)
			goto out;
		toc->n_xattrs++;
		e->n_xattrs++;
	}
out:
	for (k = e->xattr_first; k < toc->n_xattrs; k++)
		htab_del(&b->xnames, toc->xattrs[k].name);
	return rc;
}

/* One tar entry -> one index entry (or none, for a skipped type). */
static int build_entry(struct build *b, struct archive *a,
		       struct archive_entry *ae)
{
	struct store_toc *toc = b->toc;
	struct store_toc_entry *e;
	const char *name = archive_entry_pathname(ae);
	const char *link = NULL;
	char *lbuf = NULL;
	size_t plen, llen;
	uint8_t type;
	la_int64_t uid, gid, size, pos;
	int rc;

	if (!name) {
		log_err("toc: entry without a name");
		return -EINVAL;
	}
	if (strlen(name) > 2 * TOC_MAX_PATH) {
		log_err("toc: name of %zu bytes", strlen(name));
		return -E2BIG;
	}
	rc = path_norm(name, b->path, sizeof(b->path), &plen);
	if (rc) {
		log_err("toc: entry name %.256s: %s", name,
			rc == -EINVAL ? "escapes the root" : "too long");
		return rc;
	}
	if (build_type(ae, &type)) {
		log_debug("toc: %s: skipping unsupported type 0%o", b->path,
			  (unsigned)archive_entry_filetype(ae));
		return 0;
	}
	if (type == STORE_FT_REG && archive_entry_sparse_count(ae) > 0) {
		log_warn("toc: %s: skipping sparse file", b->path);
		return 0;
	}
	if (plen == 0 && type != STORE_FT_DIR) {
		log_err("toc: root entry is not a directory");
		return -EINVAL;
	}
	uid = archive_entry_uid(ae);
	gid = archive_entry_gid(ae);
	size = archive_entry_size(ae);
	pos = archive_filter_bytes(a, 0);
	if (uid < 0 || uid > UINT32_MAX || gid < 0 || gid > UINT32_MAX) {
		log_err("toc: %s: uid/gid out of range", b->path);
		return -EINVAL;
	}
	if (type != STORE_FT_REG)
		size = 0;
	if (size < 0 || pos < 0 || (uint64_t)size > TOC_MAX_TAR ||
	    (uint64_t)pos + (uint64_t)size > TOC_MAX_TAR) {
		log_err("toc: %s: size beyond the data", b->path);
		return -EIO;
	}
	if (toc->n_entries >= TOC_MAX_ENTRIES) {
		log_err("toc: more than %zu entries", TOC_MAX_ENTRIES);
		return -E2BIG;
	}
	if (type == STORE_FT_SYMLINK) {
		link = archive_entry_symlink(ae);
		if (!link)
			link = "";
		llen = strlen(link);
		if (llen > TOC_MAX_PATH) {
			log_err("toc: %s: symlink target too long", b->path);
			return -E2BIG;
		}
	} else if (type == STORE_FT_HARDLINK) {
		lbuf = malloc(TOC_MAX_PATH + 1);
		if (!lbuf)
			return -ENOMEM;
		link = archive_entry_hardlink(ae);
		rc = strlen(link) > 2 * TOC_MAX_PATH ? -E2BIG :
		     path_norm(link, lbuf, TOC_MAX_PATH + 1, &llen);
		if (!rc && llen == 0)
			rc = -EINVAL;
		if (rc) {
			log_err("toc: %s: hardlink target %.256s: %s", b->path,
				link, rc == -EINVAL ? "invalid" : "too long");
			goto out;
		}
		link = lbuf;
	}
	if (toc->n_entries == b->entries_cap) {
		size_t more = b->entries_cap ? b->entries_cap : 256;
		struct store_toc_entry *p;

		/* toc_grow doubles (or starts at 256): @more entries */
		rc = toc_arena_reserve(toc->mem, more * sizeof(*p));
		if (rc)
			goto out;
		p = toc_grow(toc->entries, &b->entries_cap, sizeof(*p), 256);
		if (!p) {
			rc = -ENOMEM;
			goto out;
		}
		toc->entries = p;
	}
	e = &toc->entries[toc->n_entries];
	memset(e, 0, sizeof(*e));
	e->path = toc_arena_strndup(toc->mem, b->path, plen);
	e->link = link ? toc_arena_strndup(toc->mem, link, llen) : NULL;
	if (!e->path || (link && !e->link)) {
		rc = -E2BIG;
		goto out;
	}
	e->type = type;
	e->mode = (uint32_t)archive_entry_perm(ae) & 07777;
	e->uid = (uint32_t)uid;
	e->gid = (uint32_t)gid;
	e->mtime_sec = archive_entry_mtime(ae);
	e->mtime_nsec = (uint32_t)archive_entry_mtime_nsec(ae);
	if (e->mtime_nsec >= 1000000000u)
		e->mtime_nsec = 0;
	if (type == STORE_FT_CHR || type == STORE_FT_BLK) {
		dev_t maj = archive_entry_rdevmajor(ae);
		dev_t min = archive_entry_rdevminor(ae);

		/* what mknod(2) could not make either */
		if (maj > STORE_TOC_DEVMAJOR_MAX || min > STORE_TOC_DEVMINOR_MAX) {
			log_err("toc: %s: device %ju:%ju out of range", b->path,
				(uintmax_t)maj, (uintmax_t)min);
			rc = -EINVAL;
			goto out;
		}
		e->devmajor = (uint32_t)maj;
		e->devminor = (uint32_t)min;
	}
	e->size = (uint64_t)size;
	e->offset = (uint64_t)pos;
	rc = build_xattrs(b, ae, e);
	if (rc)
		goto out;
	toc->n_entries++;
out:
	free(lbuf);
	return rc;
}

static int build_parse(struct build *b)
{
	struct archive *a = archive_read_new();
	struct archive_entry *ae;
	int r, rc = 0;

	if (!a)
		return -ENOMEM;
	if (archive_read_support_format_tar(a) != ARCHIVE_OK ||
	    archive_read_support_filter_none(a) != ARCHIVE_OK) {
		rc = -EIO;
		goto out;
	}
	r = archive_read_open(a, b, NULL, build_read_cb, NULL);
	if (r != ARCHIVE_OK) {
		rc = b->scan_err ? b->scan_err : -EIO;
		log_err("toc: not a tar stream: %s",
			archive_error_string(a) ? archive_error_string(a) : "?");
		goto out;
	}
	for (;;) {
		r = archive_read_next_header(a, &ae);
		if (r == ARCHIVE_EOF)
			break;
		if (r == ARCHIVE_WARN) {
			log_debug("toc: %s", archive_error_string(a) ?
				  archive_error_string(a) : "warning");
		} else if (r != ARCHIVE_OK) {
			rc = b->scan_err ? b->scan_err :
			     archive_errno(a) == ENOMEM ? -ENOMEM : -EIO;
			log_err("toc: tar stream: %s", archive_error_string(a) ?
				archive_error_string(a) : "error");
			goto out;
		}
		rc = build_entry(b, a, ae);
		if (rc)
			goto out;
	}
out:
	archive_read_free(a);
	return rc;
}

/* Every content range lies inside the stream (the parse checked each
 * entry against what it consumed; this is the same promise for the
 * decoder and for any tar reader quirk). */
static int build_check(const struct store_toc *toc)
{
	size_t i;

	for (i = 0; i < toc->n_entries; i++) {
		const struct store_toc_entry *e = &toc->entries[i];

		if (e->offset > toc->tar_size ||
		    e->size > toc->tar_size - e->offset)
			return -EIO;
	}
	return 0;
}

/* One build drawing from @budget (may be NULL); *@held gets what it took
 * from it, to give back. */
static int build_run(const struct store_toc_src *src, uint64_t end,
		     enum registry_compression comp,
		     struct store_toc_budget *budget, uint64_t *held,
		     struct store_toc **out)
{
	struct build *b = NULL;
	struct store_toc *toc = NULL;
	int rc;

	*held = 0;
	rc = toc_alloc(TOC_MAX_BUILD_MEM, &toc);
	if (rc)
		return rc;
	toc_arena_budget(toc->mem, budget);
	toc->comp = comp;
	b = calloc(1, sizeof(*b));
	if (!b) {
		rc = -ENOMEM;
		goto out;
	}
	b->toc = toc;
	rc = htab_init(&b->xnames);
	if (rc)
		goto out;
	b->xnames_live = true;
	rc = toc_scan_new(src, end, comp, toc, &b->sc);
	if (rc)
		goto out;
	rc = build_parse(b);
	if (rc)
		goto out;
	/* the diff_id covers everything after the tar's end as well */
	rc = toc_scan_finish(b->sc);
	if (rc)
		goto out;
	rc = build_check(toc);
	if (rc)
		goto out;
	log_debug("toc: %zu entries, %zu checkpoints, %llu bytes of tar",
		  toc->n_entries, toc->n_cps,
		  (unsigned long long)toc->tar_size);
	*out = toc;
out:
	/* every site that met a spent budget says -E2BIG (a full arena)
	 * or -ENOMEM: the budget's is -ENOMEM */
	if (rc && toc_arena_budget_spent(toc->mem))
		rc = -ENOMEM;
	*held = toc_arena_unbudget(toc->mem);
	if (b) {
		toc_scan_free(b->sc);
		if (b->xnames_live)
			htab_release(&b->xnames);
	}
	free(b);
	if (rc)
		store_toc_free(toc);
	return rc;
}

int store_toc_build(int blob_fd, enum registry_compression comp,
		    struct store_toc **out)
{
	struct store_toc_src src = { .fd = blob_fd };
	uint64_t held;

	return build_run(&src, UINT64_MAX, comp, NULL, &held, out);
}

int store_toc_build_src(const struct store_toc_src *src, uint64_t size,
			enum registry_compression comp,
			struct store_toc_budget *budget, struct store_toc **out)
{
	struct store_toc_budget_stats st;
	uint64_t held;
	int rc;

	if (!budget)
		return build_run(src, size, comp, NULL, &held, out);
	toc_budget_enter(budget, false);
	rc = build_run(src, size, comp, budget, &held, out);
	toc_budget_leave(budget, held);
	if (rc != -ENOMEM)
		return rc;
	store_toc_budget_stats(budget, &st);
	log_warn("toc: index builds have spent their memory budget (%llu MiB): indexing this layer again, alone",
		 (unsigned long long)(st.max >> 20));
	toc_budget_enter(budget, true);
	rc = build_run(src, size, comp, budget, &held, out);
	toc_budget_leave(budget, held);
	if (rc == -ENOMEM)
		log_err("toc: this layer's index needs more than the whole memory budget of index builds (%llu MiB)",
			(unsigned long long)(st.max >> 20));
	return rc;
}

int store_toc_build_budget(int blob_fd, enum registry_compression comp,
			   struct store_toc_budget *budget,
			   struct store_toc **out)
{
	struct store_toc_src src = { .fd = blob_fd };

	return store_toc_build_src(&src, UINT64_MAX, comp, budget, out);
}
