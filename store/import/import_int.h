/* SPDX-License-Identifier: MIT */
/*
 * import_int.h - private to imgfs_import: import.c (the stream, the
 * rootfs import and the commit), plan.c (the plan and the checks of an
 * image) and load.c (docker-save and OCI archives).  The plan is what an
 * import thread builds and the commit phase carries out.
 *
 * The import thread only writes content-addressed blobs; everything a user
 * can see (image records, tags) is done by store_import_finish() from the
 * plan after the thread has succeeded, so a failure at any point before
 * that leaves only blobs, which the plan lists for removal.
 */
#ifndef IMGFS_STORE_IMPORT_INT_H
#define IMGFS_STORE_IMPORT_INT_H

#include <stdbool.h>
#include <stddef.h>

#include <archive.h>
#include <archive_entry.h>

#include "buf.h"
#include "htab.h"
#include "store.h"

#define IMPORT_META_MAX BUF_SMALL_MAX		/* manifest.json, index.json, ... */
#define IMPORT_MAX_IMAGES 1000			/* per archive */
#define IMPORT_MAX_TAGS 10000			/* per archive */
#define IMPORT_MAX_FILES 100000			/* blob-like entries per archive */
#define IMPORT_MAX_LAYERS STORE_MAX_LAYERS	/* per image, as for pulls */
#define IMPORT_IO_CHUNK ((size_t)64 << 10)

/* Room for a digest string, "sha256:" + hex and the NUL. */
#define IMPORT_DIGEST_SZ (REGISTRY_DIGEST_LEN + 1)
/* The hex part of a digest: of a config's, the image ID. */
#define IMPORT_HEX(digest) ((digest) + sizeof(REGISTRY_DIGEST_PREFIX) - 1)

struct import_tag {
	char *host, *repo, *tag;
	char old_id[REGISTRY_HEX_LEN + 1];	/* commit: what the tag named
						 * before, "" none */
	bool set;		/* commit: store_tag_set succeeded */
};

struct import_image {
	char id[REGISTRY_HEX_LEN + 1];	/* config hex */
	struct buf manifest;		/* exact bytes for store_image_add */
	struct import_tag *tags;
	size_t n_tags;
	bool existed;			/* commit: was local before */
	bool added;			/* commit: this import wrote its record */
};

struct import_verified {
	char layer[IMPORT_DIGEST_SZ];		/* blob digest */
	char diff_id[IMPORT_DIGEST_SZ];		/* of its uncompressed stream */
};

/* What the thread found and what finish commits. */
struct import_plan {
	struct import_image *imgs;
	size_t n_imgs;
	size_t n_tags;			/* over all images */
	char (*new_blobs)[IMPORT_DIGEST_SZ];	/* written by this import:
						 * removed on failure unless
						 * an image uses them */
	size_t n_new;
	struct import_verified *ver;	/* layers already checked */
	size_t n_ver;
	struct buf why;			/* the first failure's reason */
};

/* Record the reason of a failure (only the first one is kept) and return
 * @err, so that failure sites read: return import_why(p, err, "...").  */
int import_why(struct import_plan *p, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* The name of a tar entry as path_norm() makes it ("" for the root; a
 * name it refuses stays as it is, and so matches no name we look for).
 * Only ever compared, never used as a path. */
void import_entry_name(struct archive_entry *e, char *out, size_t max);
/* A libarchive failure as -errno (malformed input is -EINVAL). */
int import_archive_errno(struct archive *a);

void import_plan_init(struct import_plan *p);
void import_plan_release(struct import_plan *p);
/* Remember that this import created blob @digest. */
int import_plan_new_blob(struct import_plan *p, const char *digest);
/* The image with config hex @id, adding it (manifest copied) if new. */
int import_plan_image(struct import_plan *p, const char *id,
		      const char *manifest, size_t len,
		      struct import_image **out);
/* Tag @img with a reference string (normalised against @default_host);
 * a reference without a tag is ignored (returns 0), a repeated one
 * counted once. */
int import_image_tag_ref(struct import_plan *p, struct import_image *img,
			 const char *ref, const char *default_host);

/*
 * import_manifest_json - an OCI image manifest (compact JSON, key order as
 * containerd writes it) for @config and @layers.  Caller frees *@out.
 */
int import_manifest_json(const struct registry_desc *config,
			 const struct registry_desc *layers, size_t n,
			 char **out, size_t *len);

/*
 * import_check_image - an image to be added must be complete: its config
 * local and parseable, as many layers as diff_ids, every layer local, of
 * a compression we can serve and of its descriptor's size, and its
 * uncompressed digest equal to its diff_id.  Each layer's index is got
 * once per import through store_layer_index(): loaded when the store
 * keeps one, else built (hostile tars are refused there) and kept.  @what names the image in the log; the reason of a
 * failure goes to @p's why.
 */
int import_check_image(struct store *s, struct import_plan *p,
		       const struct registry_manifest *m, const char *what);

/* ---- load.c: archives of images ------------------------------------- */

struct load_state {
	struct htab files;		/* archive path -> struct load_file */
	size_t n_files;
	struct buf manifest_json, index_json, oci_layout;
	bool seen_manifest_json, seen_index_json, seen_oci_layout,
	     seen_repositories;
};

int load_state_init(struct load_state *ls);
void load_state_release(struct load_state *ls);
/* Whether the first named entry of a tar says it is an image archive. */
bool load_name_is_archive(const char *name);
/* Whether the entries seen so far make a loadable archive. */
bool load_state_is_archive(const struct load_state *ls);
/*
 * load_entry - consume one tar entry (header already read from @tar):
 * metadata files into capped buffers, blob files into the store (their
 * digest computed; blobs/sha256/<hex> must match <hex>), anything else
 * skipped.  Never builds a filesystem path from @e's name.
 */
int load_entry(struct store *s, struct load_state *ls, struct import_plan *p,
	       struct archive *tar, struct archive_entry *e);
/* After the stream: the images and tags of the archive, all checked. */
int load_plan(struct store *s, struct load_state *ls, struct import_plan *p,
	      const char *src);

#endif
