/* SPDX-License-Identifier: MIT */
/*
 * space.c - the store_max budget: a download (a whole blob, a span of a
 * partial blob) is refused with -ENOSPC when the store's files plus the
 * downloads already in flight plus the new one would exceed store_max.
 *
 * The bytes in the store are counted by a scan of blobs/, index/ and
 * partial/ (a partial file by its allocated blocks: it is sparse), at
 * most once every STORE_USAGE_TTL_MS, and whenever a reservation was
 * given back (its bytes are in the files by then).  A scan is a readdir
 * and an fstatat per file, done without s->lock; it is needed only when a
 * store_max is set.  Downloads in flight are counted by what they
 * reserved (s->reserved), not by their files in tmp/, so nothing is
 * counted twice.  Imports are not downloads: they are bounded by the
 * disk alone.
 */
#include "store_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"

#define STORE_USAGE_TTL_MS 1000

/* Bytes of the regular files in @dirfd: their size, or with @sparse
 * their allocated blocks. */
static uint64_t dir_bytes(int dirfd, bool sparse)
{
	int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct dirent *de;
	uint64_t sum = 0;
	DIR *d;

	if (fd < 0)
		return 0;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return 0;
	}
	while ((de = readdir(d))) {
		struct stat st;

		if (fstatat(dirfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
		    !S_ISREG(st.st_mode))
			continue;
		sum += sparse ? (uint64_t)st.st_blocks * 512 : (uint64_t)st.st_size;
	}
	closedir(d);
	return sum;
}

/* The bytes in the store's files, from the last scan if it is fresh. */
static uint64_t usage(struct store *s)
{
	uint64_t u;
	int64_t now = store_now_ms();
	bool fresh;

	pthread_mutex_lock(&s->lock);
	fresh = s->usage_ms && now - s->usage_ms < STORE_USAGE_TTL_MS;
	u = s->usage;
	pthread_mutex_unlock(&s->lock);
	if (fresh)
		return u;
	u = dir_bytes(s->blobs_fd, false) + dir_bytes(s->index_fd, false) +
	    dir_bytes(s->partial_fd, true);
	pthread_mutex_lock(&s->lock);
	s->usage = u;
	s->usage_ms = now;
	pthread_mutex_unlock(&s->lock);
	return u;
}

int store_space_reserve(struct store *s, const char *digest, uint64_t bytes)
{
	uint64_t used, reserved;
	int ret = 0;

	if (!s->store_max)
		return 0;
	used = usage(s);
	pthread_mutex_lock(&s->lock);
	reserved = s->reserved;
	if (used > s->store_max || bytes > s->store_max - used ||
	    reserved > s->store_max - used - bytes)
		ret = -ENOSPC;
	else
		s->reserved += bytes;
	pthread_mutex_unlock(&s->lock);
	if (ret)
		log_err("store %s: not downloading %s (%" PRIu64 " bytes): the store "
			"holds %" PRIu64 " bytes and %" PRIu64 " more are being fetched; "
			"store_max is %" PRIu64,
			s->dir, digest, bytes, used, reserved, s->store_max);
	return ret;
}

void store_space_release(struct store *s, uint64_t bytes)
{
	if (!s->store_max)
		return;
	pthread_mutex_lock(&s->lock);
	s->reserved -= bytes < s->reserved ? bytes : s->reserved;
	s->usage_ms = 0;
	pthread_mutex_unlock(&s->lock);
}
