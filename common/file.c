/* SPDX-License-Identifier: MIT */
/*
 * file.c - file primitives shared by the store, its layer index and the
 * daemon (see file.h for the contracts).
 */
#include "file.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

int file_pread(int fd, void *buf, size_t len, uint64_t off, size_t *got)
{
	ssize_t n;

	do {
		n = pread(fd, buf, len, (off_t)off);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	*got = (size_t)n;
	return 0;
}

int file_write_all(int fd, const void *data, size_t len)
{
	const char *p = data;

	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int file_read_capped(int dirfd, const char *name, size_t max, struct buf *out)
{
	char chunk[16384];
	int fd, ret = 0;

	buf_init(out, max);
	fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -errno;
	for (;;) {
		ssize_t n = read(fd, chunk, sizeof(chunk));

		if (n < 0) {
			if (errno == EINTR)
				continue;
			ret = -errno;
			goto out;
		}
		if (n == 0)
			break;
		ret = buf_add(out, chunk, (size_t)n);
		if (ret)
			goto out;
	}
out:
	close(fd);
	if (ret)
		buf_release(out);
	return ret;
}

int file_fsync_dir(int dirfd)
{
	return fsync(dirfd) < 0 ? -errno : 0;
}

int file_write_atomic(int tmp_dirfd, int dirfd, const char *name,
		      const void *data, size_t len, mode_t mode)
{
	char tmp[32];
	int fd = -1, ret;

	for (int tries = 0;; tries++) {
		unsigned int r;

		if (getrandom(&r, sizeof(r), 0) != (ssize_t)sizeof(r))
			r = (unsigned int)getpid() * 2654435761u + (unsigned int)tries;
		snprintf(tmp, sizeof(tmp), "w-%08x", r);
		fd = openat(tmp_dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
		if (fd >= 0)
			break;
		if (errno != EEXIST || tries > 16)
			return -errno;
	}
	ret = file_write_all(fd, data, len);
	if (!ret && fsync(fd) < 0)
		ret = -errno;
	if (close(fd) < 0 && !ret)
		ret = -errno;
	if (ret)
		goto out;
	if (renameat(tmp_dirfd, tmp, dirfd, name) < 0) {
		ret = -errno;
		goto out;
	}
	return file_fsync_dir(dirfd);
out:
	unlinkat(tmp_dirfd, tmp, 0);
	return ret;
}

int file_mkdir_p(const char *path, mode_t mode)
{
	char *p = strdup(path);
	int ret = 0;

	if (!p)
		return -ENOMEM;
	for (char *c = p + 1;; c++) {
		if (*c == '/' || *c == '\0') {
			char save = *c;

			*c = '\0';
			if (mkdir(p, mode) < 0 && errno != EEXIST) {
				ret = -errno;
				break;
			}
			*c = save;
			if (save == '\0')
				break;
		}
	}
	free(p);
	return ret;
}

int file_dir_each(int dirfd, int (*fn)(void *arg, int dirfd, const char *name),
		  void *arg)
{
	int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct dirent *de;
	int ret = 0;
	DIR *d;

	if (fd < 0)
		return -errno;
	d = fdopendir(fd);
	if (!d) {
		ret = -errno;
		close(fd);
		return ret;
	}
	while (!ret && (de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			ret = fn(arg, dirfd, de->d_name);
	closedir(d);
	return ret;
}
