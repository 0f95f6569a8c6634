/* SPDX-License-Identifier: MIT */
/*
 * import.h - `docker import` and `docker load` as a stream into the store.
 *
 * A writer (the FUSE layer, for a file copied into import/) pushes the
 * bytes of one file through store_import_write() in order; a thread of
 * the import reads them from a socket pair with libarchive, so a
 * multi-GiB file needs neither that much memory nor a temporary copy of
 * itself.
 * What the file is decides what happens:
 *   - a docker-save archive (Docker <= 24 layout, or Docker 25+ which is
 *     also an OCI layout) or an OCI archive (skopeo/podman oci-archive),
 *     plain or compressed: every image in it is loaded and every tag
 *     recorded inside is created (`docker load`);
 *   - anything else that is a tar, plain or gzip/bzip2/xz/zstd: a rootfs
 *     tarball, imported as a one-layer image (`docker import`) named
 *     @name, or untagged (dangling) when @name is NULL.
 * Every layer is indexed once, through store_layer_index(), and its index
 * kept for the image's reads.  Nothing is visible until
 * store_import_finish() commits: a failed or aborted import leaves no
 * tag, no image record and no blob.
 */
#ifndef IMGFS_STORE_IMPORT_H
#define IMGFS_STORE_IMPORT_H

#include <stddef.h>

#include "store.h"

struct store_import;

/*
 * store_import_begin - start an import and its thread; *@out is the
 * caller's until store_import_finish() or store_import_abort().  @name is
 * "repo[:tag]" in the reference grammar relative to the store's default
 * host ("ubuntu:14.04", "ouruser/sinatra:v2"; no tag means "latest") or
 * NULL for untagged; @src_desc (may be NULL) names the source for the
 * history comment and the log.  -EINVAL for a name outside the grammar or
 * with a digest, -ENOMEM, or the error of creating the socket pair or
 * the thread.
 */
int store_import_begin(struct store *s, const char *name, const char *src_desc,
		       struct store_import **out);
/*
 * store_import_write - the next @n bytes of the file.  Blocks while the
 * import thread is behind; once the thread has failed, returns its error
 * (never raises SIGPIPE).  After a failure only finish or abort remain.
 */
int store_import_write(struct store_import *im, const void *data, size_t n);
/*
 * store_import_finish - end of input: wait for the thread, then commit
 * the image records and, once all are in, the tags.  0 or -errno (the
 * reason is logged naming @src_desc); on failure, tags moved are put
 * back and images added are deleted.  On success @result (if given)
 * receives lines like Docker prints ("Loaded image: ubuntu:14.04",
 * "sha256:<id>").  Blobs the import wrote that no image uses are removed.
 * Frees @im whatever the result.
 */
int store_import_finish(struct store_import *im, struct buf *result);
/*
 * store_import_abort - abandon: stop the thread, commit nothing, remove
 * the blobs the import wrote that no image uses.  Frees @im (NULL is a
 * no-op).
 */
void store_import_abort(struct store_import *im);

#endif
