/* SPDX-License-Identifier: MIT */
/*
 * statters.c - which callers get attributes with their rootfs listings
 * (struct fs_statters, fs.h says why).
 *
 * A caller counts once it looks up a non-directory: a walker that
 * descends looks up directories whether or not it stats, but one that
 * looks up files wants their attributes (tar, ls -l, du, stat).  The few
 * slots are reused round robin; a table of this size is read in the time
 * of a cache line or two, under a lock taken once per listing page and
 * once per looked-up file.
 */
#include <pthread.h>
#include <stdbool.h>
#include <sys/types.h>

#include "fs.h"

static bool statters_find(const struct fs_statters *s, pid_t pid)
{
	for (unsigned i = 0; i < FS_STATTERS; i++)
		if (s->pid[i] == pid)
			return true;
	return false;
}

void fs_statters_note(struct fs_statters *s, pid_t pid)
{
	if (pid <= 0)		/* the kernel's own requests: no caller */
		return;
	pthread_mutex_lock(&s->lock);
	if (!statters_find(s, pid)) {
		s->pid[s->next] = pid;
		s->next = (s->next + 1) % FS_STATTERS;
	}
	pthread_mutex_unlock(&s->lock);
}

bool fs_statters_has(struct fs_statters *s, pid_t pid)
{
	bool has;

	if (pid <= 0)
		return false;
	pthread_mutex_lock(&s->lock);
	has = statters_find(s, pid);
	pthread_mutex_unlock(&s->lock);
	return has;
}
