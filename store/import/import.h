/* SPDX-License-Identifier: MIT */
/*
 * import.h - `docker import` and `docker load` as a stream into the store.
 *
 * A writer (the FUSE layer, for a file copied into import/) pushes the
 * bytes of one file through store_import_write() in order; a thread of
 * the import reads them through a pipe with libarchive, so a multi-GiB
 * file needs neither that much memory nor a temporary copy of itself.
 * What the file is decides what happens:
 *   - a docker-save archive (Docker <= 24 layout, or Docker 25+ which is
 *     also an OCI layout) or an OCI archive (skopeo/podman oci-archive),
 *     plain or compressed: every image in it is loaded and every tag
 *     recorded inside is created (`docker load`);
 *   - anything else that is a tar, plain or gzip/bzip2/xz/zstd: a rootfs
 *     tarball, imported as a one-layer image (`docker import`) named
 *     @name, or untagged (dangling) when @name is NULL.
 * Nothing is visible until store_import_finish() commits: a failed or
 * aborted import leaves no tag, no image record and no blob.
 */
#ifndef IMGFS_STORE_IMPORT_H
#define IMGFS_STORE_IMPORT_H

#include <stddef.h>

#include "store.h"

struct store_import;

/*
 * store_import_begin - start an import.  @name is "repo[:tag]" in the
 * reference grammar relative to the store's default host ("ubuntu:14.04",
 * "ouruser/sinatra:v2"; no tag means "latest") or NULL for untagged;
 * @src_desc names the source for the history comment and the log.
 * -EINVAL for a name outside the grammar or with a digest.
 */
int store_import_begin(struct store *s, const char *name, const char *src_desc,
		       struct store_import **out);
/* Blocks while the import thread is behind; -errno once it has failed. */
int store_import_write(struct store_import *im, const void *data, size_t n);
/*
 * store_import_finish - end of input: wait for the thread, commit.  0 or
 * -errno (the reason is logged naming @src_desc).  On success @result (if
 * given) receives lines like Docker prints ("Loaded image: ubuntu:14.04",
 * "sha256:<id>").  Frees @im whatever the result.
 */
int store_import_finish(struct store_import *im, struct buf *result);
/* Abandon: nothing is committed.  Frees @im. */
void store_import_abort(struct store_import *im);

#endif
