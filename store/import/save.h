/* SPDX-License-Identifier: MIT */
/*
 * save.h - `docker save` as an archive generated on demand: the bytes of a
 * Docker 25+ save (an OCI image layout plus manifest.json and
 * repositories) for one or more local images, computed from the store
 * without writing the archive anywhere.
 *
 * A struct store_save is the archive's member list, built at once from the
 * images' manifests, configs and tags: its size is exact before a byte is
 * read, and any range of it maps to tar headers, member contents (small
 * metadata files in memory, layer blobs read from the store), padding and
 * the two zero blocks that end it.  Layers go as the store keeps them: a
 * compressed blob stays compressed (its OCI media type says so), an
 * imported layer kept uncompressed stays a plain tar.  Every byte is a
 * function of the images and of the tags given, so two builds of the same
 * input give the same archive.
 *
 * The same member list, built with STORE_SAVE_LAYOUT, is the OCI image
 * layout directory of an image (oci-layout, index.json, blobs/sha256/...)
 * that tools read in place (skopeo oci:DIR, umoci --image DIR:TAG).
 */
#ifndef IMGFS_STORE_SAVE_H
#define IMGFS_STORE_SAVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store.h"

struct store_save;

/* One image of an archive and the tags it is saved under. */
struct store_save_item {
	const char *id;			/* full image id (config hex) */
	const struct store_tag *tags;	/* recorded in manifest.json,
					 * index.json and repositories */
	size_t n_tags;
};

/* Only the OCI layout: no manifest.json nor repositories, and an image
 * without tags is named "latest" in index.json (so that umoci and skopeo
 * can name it). */
#define STORE_SAVE_LAYOUT 1u

/*
 * store_save_new - the archive of the @n images @items (n >= 1), a blob
 * shared by several of them stored once.  Takes a reference on each image
 * until store_save_free().  -ENOENT for an image that is not local,
 * -EINVAL for n == 0 or a tag that is not a valid reference, -ENOMEM.
 */
int store_save_new(struct store *s, const struct store_save_item *items,
		   size_t n, unsigned flags, struct store_save **out);
/*
 * store_save_image - store_save_new() of image @id under every local tag
 * that names it now (none: saved untagged, as `docker save <id>`).
 */
int store_save_image(struct store *s, const char *id, unsigned flags,
		     struct store_save **out);
/* Drop the archive and the image references it holds (NULL is a no-op). */
void store_save_free(struct store *s, struct store_save *sv);

/* The archive's exact size in bytes. */
uint64_t store_save_size(const struct store_save *sv);
/*
 * store_save_read - @len bytes of the archive at @off into @dst (*@got is
 * fewer only at the end).  A layer's blob is fetched whole (verified) by
 * the first read that reaches it; -EIO when it cannot be.  Safe to call
 * from several threads at once.
 */
int store_save_read(struct store *s, struct store_save *sv, void *dst,
		    size_t len, uint64_t off, size_t *got);

/* A member of the archive: a file or a directory ("blobs/"). */
struct store_save_member {
	const char *name;	/* "index.json", "blobs/sha256/<hex>", "blobs/" */
	bool is_dir;
	uint64_t size;		/* content bytes (0 for a directory) */
	bool mutable;		/* its content depends on the tags given */
};
/* Members in archive order; the order of an image's members does not
 * depend on its tags (tag-dependent members come after its blobs). */
size_t store_save_n_members(const struct store_save *sv);
/* Member @i, @i < store_save_n_members(); valid until store_save_free(). */
const struct store_save_member *store_save_member(const struct store_save *sv,
						  size_t i);
/* The index of the member named @name ("blobs/" for a directory): -ENOENT. */
int store_save_find(const struct store_save *sv, const char *name, size_t *i);
/* store_save_read() of member @i's content alone. */
int store_save_member_read(struct store *s, struct store_save *sv, size_t i,
			   void *dst, size_t len, uint64_t off, size_t *got);

#endif
