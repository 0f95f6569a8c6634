/* SPDX-License-Identifier: MIT */
/*
 * file.h - the few file primitives every module that persists data uses,
 * so that each exists once: writing all of a buffer, reading a file of
 * unknown origin under a size cap, the crash-safe replacement of a file,
 * and mkdir -p.
 *
 * All return 0 or -errno.  None logs: the caller names the object.
 */
#ifndef IMGFS_FILE_H
#define IMGFS_FILE_H

#include <stddef.h>
#include <sys/types.h>

#include <stdint.h>

#include "buf.h"

/* write(2) until all of @data is written (EINTR retried). */
int file_write_all(int fd, const void *data, size_t len);
/* One pread(2) of up to @len bytes at @off, EINTR retried; *@got bytes
 * read (0 at the end of the file). */
int file_pread(int fd, void *buf, size_t len, uint64_t off, size_t *got);

/*
 * file_read_capped - all of @name (relative to @dirfd, not following a
 * final symlink) into @out, which is initialised here with cap @max.
 * -EFBIG when the file is larger; @out is released on any failure.
 */
int file_read_capped(int dirfd, const char *name, size_t max, struct buf *out);

/*
 * file_write_atomic - replace @name in directory @dirfd with @data (mode
 * @mode).  The bytes go to a fresh file in @tmp_dirfd (named "w-<random>",
 * so whoever owns that directory may sweep it at start), are fsynced,
 * renamed over @name and the directory fsynced: after a crash @name is the
 * old or the new content, never a mix.  On failure the temporary file is
 * removed.  @tmp_dirfd and @dirfd must be on one filesystem.
 */
int file_write_atomic(int tmp_dirfd, int dirfd, const char *name,
		      const void *data, size_t len, mode_t mode);

int file_fsync_dir(int dirfd);

/*
 * file_dir_each - @fn(@arg, @dirfd, name) for every entry of the
 * directory open at @dirfd but "." and "..", until @fn returns non-zero
 * (which is then returned).  The directory is read through a descriptor
 * of its own, so @dirfd is untouched.  -errno when it cannot be read.
 */
int file_dir_each(int dirfd, int (*fn)(void *arg, int dirfd, const char *name),
		  void *arg);

/* mkdir -p @path; directories it creates get @mode. */
int file_mkdir_p(const char *path, mode_t mode);

#endif
