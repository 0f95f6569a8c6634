/* SPDX-License-Identifier: MIT */
/*
 * path.h - the one normaliser of slash-separated paths from outside (tar
 * entry names, hardlink targets, archive references, symlink targets in
 * the mount), so that every module rejects the same hostile forms.
 */
#ifndef IMGFS_PATH_H
#define IMGFS_PATH_H

#include <stddef.h>

#define PATH_NORM_MAX 4096	/* bytes of a normalised path, without the NUL */

/*
 * path_norm - normalise @in into @out (@outsz bytes, at least 1): leading
 * "/" and "./" stripped, "//" collapsed, "." components dropped, no
 * trailing "/"; "" is the root.  A ".." component is -EINVAL; a result
 * longer than @outsz - 1 or PATH_NORM_MAX is -E2BIG.  *@outlen (may be
 * NULL) receives the length.  Never reads past @in's NUL nor writes past
 * @outsz.
 */
int path_norm(const char *in, char *out, size_t outsz, size_t *outlen);

#endif
