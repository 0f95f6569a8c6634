/* SPDX-License-Identifier: MIT */
/*
 * space.c - the store_max budget: a download (a whole blob, a span of a
 * partial blob) is refused with -ENOSPC when the store's files plus the
 * downloads already in flight plus the new one would exceed store_max.
 *
 * The bytes in the store are the counts progress.c keeps of blobs/ and
 * index/ (updated as files come and go) plus a scan of partial/ (few
 * files, sparse: counted by their allocated blocks).  Downloads in flight
 * are counted by what they reserved (s->reserved), not by their files in
 * tmp/, so nothing is counted twice.  Imports are not downloads: they are
 * bounded by the disk alone.
 */
#include "store_int.h"

#include <errno.h>
#include <inttypes.h>

#include "log.h"

int store_space_reserve(struct store *s, const char *digest, uint64_t bytes)
{
	uint64_t used, reserved;
	int ret = 0;

	if (!s->store_max)
		return 0;
	used = store_usage_files(s);
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
	pthread_mutex_unlock(&s->lock);
}
