/* SPDX-License-Identifier: MIT */
/*
 * store.c - opening and closing the store: the directory layout, orphan
 * clean-up in tmp/ (and, through partial.c, in partial/; the span cache
 * is emptied, it is not kept across runs), the crash-safe write of small
 * files, and the cache of remote answers (unknown names are remembered
 * briefly so that tab completion in the mount does not hammer the
 * registry).
 *
 * Every persistent file (tags.json, image records, layer indexes) goes
 * through store_write_atomic(): a temporary file in tmp/, fsync, rename
 * into place, fsync of the directory.  A crash leaves either the old file
 * or the new one, plus at worst an orphan in tmp/ that the next open
 * removes.
 */
#include "store_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "file.h"
#include "log.h"

struct store_answer {
	struct timespec expires;	/* CLOCK_MONOTONIC */
	int result;
};

int store_write_atomic(struct store *s, int dirfd, const char *name,
		       const void *data, size_t len)
{
	int ret = file_write_atomic(s->tmp_fd, dirfd, name, data, len, 0644);

	if (ret)
		log_err("store: writing %s: %s", name, strerror(-ret));
	return ret;
}

/*
 * dir_trusted - whether the directory open at @fd may hold the store's
 * files.  Blobs in blobs/ are trusted without re-hashing and records name
 * what gets fetched, so a directory another user owns, or one anyone but
 * the owner may write into, would let that user plant content: refused,
 * saying why, with -EPERM.
 */
static int dir_trusted(const struct store *s, int fd, const char *name)
{
	struct stat st;

	if (fstat(fd, &st) < 0)
		return -errno;
	if (st.st_uid != geteuid()) {
		log_err("store %s: %s is owned by uid %u, not by this daemon's uid %u; refusing it",
			s->dir, name, (unsigned)st.st_uid, (unsigned)geteuid());
		return -EPERM;
	}
	if (st.st_mode & (S_IWGRP | S_IWOTH)) {
		log_err("store %s: %s is writable by %s (mode %04o); refusing it (chmod go-w)",
			s->dir, name, (st.st_mode & S_IWOTH) ? "others" : "its group",
			(unsigned)(st.st_mode & 07777));
		return -EPERM;
	}
	return 0;
}

static int mkdir_at(const struct store *s, int dirfd, const char *name, int *out)
{
	if (mkdirat(dirfd, name, 0700) < 0 && errno != EEXIST)
		return -errno;
	*out = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (*out < 0)
		return -errno;
	return dir_trusted(s, *out, name);
}

/*
 * clean_dir - remove the debris of a crash or an abort: everything in tmp/
 * and in cache/sha256/, and in index/sha256/ anything not named like an
 * index (stores written before indexes went through tmp/ left
 * "<hex>.tmp.XXXXXX" files there).
 */
struct clean {
	const char *what;
	bool all;
	unsigned n;
};

static int clean_one(void *arg, int dirfd, const char *name)
{
	struct clean *c = arg;

	if (!c->all && registry_hex_valid(name, 64, 64))
		return 0;
	if (unlinkat(dirfd, name, 0) == 0)
		c->n++;
	else
		log_warn("store: cannot remove orphan %s/%s: %s", c->what, name,
			 strerror(errno));
	return 0;
}

static void clean_dir(struct store *s, int dirfd, const char *what, bool all)
{
	struct clean c = { .what = what, .all = all };

	file_dir_each(dirfd, clean_one, &c);
	if (c.n)
		log_info("store: removed %u orphan(s) from %s/%s", c.n, s->dir, what);
}

static int open_layout(struct store *s, int *cache_fd)
{
	int blobs = -1, index = -1, partial = -1, cache = -1, ret;

	ret = file_mkdir_p(s->dir, 0700);
	if (ret)
		goto out;
	s->root_fd = open(s->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (s->root_fd < 0) {
		ret = -errno;
		goto out;
	}
	ret = dir_trusted(s, s->root_fd, ".");
	if (ret)
		goto out;
	/* One daemon per store: two would sweep each other's temporary
	 * files and overwrite each other's tags.json.  The lock goes with
	 * the descriptor, at close or at the daemon's death. */
	if (flock(s->root_fd, LOCK_EX | LOCK_NB) < 0) {
		ret = -errno;
		if (ret == -EWOULDBLOCK) {
			log_err("store %s is in use by another imgfs (one daemon per store)",
				s->dir);
			ret = -EBUSY;
		}
		goto out;
	}
	ret = mkdir_at(s, s->root_fd, "blobs", &blobs);
	if (!ret)
		ret = mkdir_at(s, blobs, "sha256", &s->blobs_fd);
	if (!ret)
		ret = mkdir_at(s, s->root_fd, "index", &index);
	if (!ret)
		ret = mkdir_at(s, index, "sha256", &s->index_fd);
	if (!ret)
		ret = mkdir_at(s, s->root_fd, "images", &s->images_fd);
	if (!ret)
		ret = mkdir_at(s, s->root_fd, "tmp", &s->tmp_fd);
	if (!ret)
		ret = mkdir_at(s, s->root_fd, "partial", &partial);
	if (!ret)
		ret = mkdir_at(s, partial, "sha256", &s->partial_fd);
	if (!ret)
		ret = mkdir_at(s, s->root_fd, "cache", &cache);
	if (!ret)
		ret = mkdir_at(s, cache, "sha256", cache_fd);
out:
	if (cache >= 0)
		close(cache);
	if (blobs >= 0)
		close(blobs);
	if (index >= 0)
		close(index);
	if (partial >= 0)
		close(partial);
	if (ret)
		log_err("store: cannot open %s: %s", s->dir, strerror(-ret));
	return ret;
}

/* The default budget of index builds: a quarter of RAM, at least
 * 256 MiB (a layer of a million files indexes in far less) and at most
 * 1 GiB. */
static uint64_t index_mem_default(void)
{
	long pages = sysconf(_SC_PHYS_PAGES), psize = sysconf(_SC_PAGESIZE);
	uint64_t ram = pages > 0 && psize > 0 ? (uint64_t)pages * (uint64_t)psize : 0;
	uint64_t lo = (uint64_t)256 << 20, hi = (uint64_t)1 << 30;

	return ram / 4 < lo ? lo : ram / 4 > hi ? hi : ram / 4;
}

int store_open(const struct store_opts *opts, struct store **out)
{
	struct store *s;
	int cache_fd = -1, ret;

	if (!opts->dir || !*opts->dir)
		return -EINVAL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->root_fd = s->blobs_fd = s->index_fd = s->images_fd = s->tmp_fd = -1;
	s->partial_fd = -1;
	pthread_mutex_init(&s->meta_lock, NULL);
	pthread_mutex_init(&s->push_gz_lock, NULL);
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->inflight_cond, NULL);
	pthread_cond_init(&s->jobs_cond, NULL);
	s->max_layer_size = opts->max_layer_size ? opts->max_layer_size : STORE_LAYER_MAX;
	s->store_max = opts->store_max;
	s->timeout_sec = opts->timeout_sec > 0 ? opts->timeout_sec : REGISTRY_TIMEOUT_DEFAULT;
	s->dir = strdup(opts->dir);
	s->default_host = strdup(opts->default_host ? opts->default_host
				 : REGISTRY_DOCKER_HUB);
	s->reg = opts->registry;
	s->platform = opts->platform;
	if (!s->platform.os[0] || !s->platform.arch[0])
		registry_platform_host(&s->platform);
	s->negative_ttl_sec = opts->negative_ttl_sec > 0 ? opts->negative_ttl_sec : 5;
	s->list_page = opts->list_page;
	s->push_comp = opts->push_comp == REGISTRY_COMP_ZSTD ? REGISTRY_COMP_ZSTD
							     : REGISTRY_COMP_GZIP;
	if (!s->dir || !s->default_host) {
		ret = -ENOMEM;
		goto out;
	}
	ret = htab_init(&s->images);
	if (!ret)
		ret = htab_init(&s->tags);
	if (!ret)
		ret = htab_init(&s->inflight);
	if (!ret)
		ret = htab_init(&s->answers);
	if (!ret)
		ret = htab_init(&s->lists);
	if (!ret)
		ret = htab_init(&s->partials);
	if (!ret)
		ret = htab_init(&s->push_gz);
	if (ret)
		goto out;
	ret = open_layout(s, &cache_fd);
	if (ret)
		goto out;
	if (!opts->check) {
		clean_dir(s, s->tmp_fd, "tmp", true);
		clean_dir(s, s->index_fd, "index/sha256", false);
		/* A sparse file cannot tell written zeros from a hole after
		 * a crash: the span cache starts empty. */
		clean_dir(s, cache_fd, "cache/sha256", true);
	}
	if (opts->cache_size && !opts->check) {
		ret = store_cache_open(cache_fd, opts->cache_size, &s->cache);
		if (ret)
			goto out;
		cache_fd = -1;
	}
	ret = store_blob_fds_init(s);
	if (ret)
		goto out;
	ret = store_toc_budget_new(opts->index_mem ? opts->index_mem
						   : index_mem_default(),
				   &s->toc_budget);
	if (ret)
		goto out;
	ret = store_tags_load(s);
	if (ret)
		goto out;
	/* After the records are known: blobs a crash left unreferenced. */
	if (!opts->check && store_blob_sweep(s))
		log_warn("store %s: unreferenced blobs not swept", opts->dir);
	/* After the blob sweep, which takes unreferenced indexes along. */
	if (!opts->check)
		store_partial_sweep(s);
	/* After both sweeps: counts what they left. */
	ret = store_progress_open(s, opts->progress_lines);
	if (ret)
		goto out;
	*out = s;
	ret = 0;
out:
	if (cache_fd >= 0)
		close(cache_fd);
	if (ret)
		store_close(s);
	return ret;
}

void store_close(struct store *s)
{
	size_t it;

	if (!s)
		return;
	/* Transfers readers gave up on may still run: stop them first. */
	store_jobs_drain(s);
	for (struct htab_ent *e = htab_first(&s->images, &it); e;
	     e = htab_next(&s->images, &it, e))
		store_image_free(e->val);
	htab_release(&s->images);
	/* After the images: nothing reads through the cache any more. */
	store_cache_close(s->cache);
	store_tags_free(s);
	for (struct htab_ent *e = htab_first(&s->answers, &it); e;
	     e = htab_next(&s->answers, &it, e))
		free(e->val);
	htab_release(&s->answers);
	store_remote_lists_release(s);
	for (struct htab_ent *e = htab_first(&s->push_gz, &it); e;
	     e = htab_next(&s->push_gz, &it, e))
		free(e->val);
	htab_release(&s->push_gz);
	pthread_mutex_destroy(&s->push_gz_lock);
	store_partial_free_all(s);
	store_progress_close(s);
	store_toc_budget_free(s->toc_budget);
	store_blob_fds_release(s);
	/* Nothing can be in flight: every download holds no ref on close. */
	htab_release(&s->inflight);
	{
		int fds[] = { s->root_fd, s->blobs_fd, s->index_fd,
			      s->images_fd, s->tmp_fd, s->partial_fd };

		for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++)
			if (fds[i] >= 0)
				close(fds[i]);
	}
	pthread_cond_destroy(&s->inflight_cond);
	pthread_cond_destroy(&s->jobs_cond);
	pthread_mutex_destroy(&s->lock);
	pthread_mutex_destroy(&s->meta_lock);
	free(s->dir);
	free(s->default_host);
	free(s);
}

const char *store_default_host(const struct store *s)
{
	return s->default_host;
}

static bool ts_before(const struct timespec *a, const struct timespec *b)
{
	return a->tv_sec < b->tv_sec ||
	       (a->tv_sec == b->tv_sec && a->tv_nsec < b->tv_nsec);
}

/* Whether a fresh answer for @key is remembered; expired ones are dropped. */
bool store_answer_get(struct store *s, const char *key, int *result)
{
	struct store_answer *a;
	struct timespec now;
	bool hit = false;

	clock_gettime(CLOCK_MONOTONIC, &now);
	pthread_mutex_lock(&s->lock);
	a = htab_get(&s->answers, key);
	if (a && ts_before(&now, &a->expires)) {
		*result = a->result;
		hit = true;
	} else if (a) {
		free(htab_del(&s->answers, key));
	}
	pthread_mutex_unlock(&s->lock);
	return hit;
}

void store_answer_set(struct store *s, const char *key, int result)
{
	struct store_answer *a = malloc(sizeof(*a));
	struct timespec now;
	void *old = NULL;

	if (!a)
		return;	/* only a cache */
	clock_gettime(CLOCK_MONOTONIC, &a->expires);
	now = a->expires;
	a->expires.tv_sec += s->negative_ttl_sec;
	a->result = result;
	pthread_mutex_lock(&s->lock);
	/* Names come from users: bound the cache by dropping stale answers. */
	if (s->answers.n >= STORE_ANSWERS_MAX) {
		size_t it;
		struct htab_ent *e = htab_first(&s->answers, &it);

		while (e) {
			struct htab_ent *next = htab_next(&s->answers, &it, e);
			struct store_answer *x = e->val;

			if (!ts_before(&now, &x->expires))
				free(htab_del(&s->answers, e->key));
			e = next;
		}
	}
	if (htab_set(&s->answers, key, a, &old))
		free(a);
	else
		free(old);
	pthread_mutex_unlock(&s->lock);
}
