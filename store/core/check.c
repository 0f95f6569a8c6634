/* SPDX-License-Identifier: MIT */
/*
 * check.c - `imgfs --check STORE [--repair]`: the store verified offline.
 *
 * Every blob is hashed and compared with its name; every kept layer index
 * is decoded (its checksum and format checks); every image record is
 * loaded as a mount would load it (the record, its manifest and config
 * blobs, parsed and checked against each other); every tag of tags.json
 * must name a record.  Layers of an image may be missing: they are
 * fetched lazily, so their absence is not damage.
 *
 * The store is opened with store_opts.check, which leaves it as it is
 * (no clean-up of tmp/, no sweep of unreferenced blobs), under the same
 * exclusive lock a mount takes, so a mounted store is refused.  With
 * repair, what is broken is removed the way the daemon removes things: a
 * bad blob with its index, a bad index (rebuilt when next needed), an
 * unusable record with its tags, tags of missing records.  Each finding
 * and each repair is one line through the caller's @say.
 */
#include "store_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct check {
	struct store *s;
	bool repair;
	void (*say)(void *arg, const char *line);
	void *arg;
	unsigned broken;
};

static void say(struct check *c, const char *fmt, ...)
{
	char line[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	c->say(c->arg, line);
}

/* A broken object: counted, said, and with repair removed by @fix. */
static void found(struct check *c, const char *what, const char *why,
		  int (*fix)(struct check *, const char *), const char *obj)
{
	c->broken++;
	say(c, "broken: %s: %s", what, why);
	if (c->repair && fix) {
		int ret = fix(c, obj);

		say(c, ret ? "repair failed: %s: %s" : "repaired: %s: removed%s", what,
		    ret ? strerror(-ret) : "");
	}
}

static int fix_blob(struct check *c, const char *hex)
{
	return store_blob_unlink(c->s, hex);
}

static int fix_index(struct check *c, const char *hex)
{
	return unlinkat(c->s->index_fd, hex, 0) < 0 ? -errno : 0;
}

static int check_blob(void *arg, int dirfd, const char *name)
{
	struct check *c = arg;
	char what[100], got[72];
	struct stat st;
	int fd, ret;

	snprintf(what, sizeof(what), "blob sha256:%.64s", name);
	if (!registry_hex_valid(name, REGISTRY_HEX_LEN, REGISTRY_HEX_LEN)) {
		found(c, what, "not a digest name", fix_blob, name);
		return 0;
	}
	fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		found(c, what, "not a readable regular file", fix_blob, name);
		if (fd >= 0)
			close(fd);
		return 0;
	}
	ret = store_fd_sha256(fd, (uint64_t)st.st_size, got);
	close(fd);
	if (ret)
		found(c, what, strerror(-ret), fix_blob, name);
	else if (strcmp(got + strlen(REGISTRY_DIGEST_PREFIX), name) != 0)
		found(c, what, "content does not match its digest", fix_blob, name);
	return 0;
}

static int check_index(void *arg, int dirfd, const char *name)
{
	struct check *c = arg;
	struct store_toc *toc = NULL;
	char what[100];
	struct buf b;
	size_t len;
	void *data;
	int ret;

	snprintf(what, sizeof(what), "index of layer sha256:%.64s", name);
	if (!registry_hex_valid(name, REGISTRY_HEX_LEN, REGISTRY_HEX_LEN)) {
		found(c, what, "not a digest name", fix_index, name);
		return 0;
	}
	ret = file_read_capped(dirfd, name, STORE_TOC_FILE_MAX, &b);
	if (!ret) {
		data = buf_detach(&b, &len);
		ret = store_toc_decode(data, len, &toc);	/* takes @data */
	}
	if (ret)
		found(c, what, ret == -EINVAL || ret == -EIO ? "corrupt (checksum or format)"
							    : strerror(-ret), fix_index, name);
	store_toc_free(toc);
	return 0;
}

static int fix_record(struct check *c, const char *id)
{
	char name[80];
	int ret;

	/* The daemon's delete, when the record can still be read; else the
	 * record alone, and its tags with it. */
	if (store_image_delete(c->s, id) == 0)
		return 0;
	store_record_name(id, name);
	pthread_mutex_lock(&c->s->meta_lock);
	ret = unlinkat(c->s->images_fd, name, 0) < 0 ? -errno : 0;
	if (!ret)
		ret = store_tags_drop_locked(c->s, NULL, id);
	pthread_mutex_unlock(&c->s->meta_lock);
	return ret;
}

static void check_records(struct check *c)
{
	char **ids = NULL, what[100];
	size_t n = 0;

	if (store_image_list(c->s, &ids, &n)) {
		found(c, "images/", "cannot be listed", NULL, NULL);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		struct store_image *img = NULL;
		int ret = store_image_get(c->s, ids[i], &img);

		snprintf(what, sizeof(what), "image sha256:%s", ids[i]);
		if (ret)
			found(c, what, ret == -ENOENT ? "its manifest or config blob is missing"
						      : "its record, manifest or config is unusable",
			      fix_record, ids[i]);
		else
			store_image_put(c->s, img);
		free(ids[i]);
	}
	free(ids);
}

static int fix_tags(struct check *c, const char *unused)
{
	int ret;

	(void)unused;
	pthread_mutex_lock(&c->s->meta_lock);
	ret = store_tags_drop_locked(c->s, NULL, NULL);	/* rewrite without them */
	pthread_mutex_unlock(&c->s->meta_lock);
	return ret;
}

int store_check(struct store *s, bool repair,
		void (*say_fn)(void *arg, const char *line), void *arg,
		unsigned *broken)
{
	struct check c = { .s = s, .repair = repair, .say = say_fn, .arg = arg };
	int ret;

	ret = file_dir_each(s->blobs_fd, check_blob, &c);
	if (!ret)
		ret = file_dir_each(s->index_fd, check_index, &c);
	if (ret)
		return ret;
	check_records(&c);
	if (s->tags_skipped) {
		char why[80];

		snprintf(why, sizeof(why), "%u entr%s name a missing image or are invalid",
			 s->tags_skipped, s->tags_skipped == 1 ? "y" : "ies");
		found(&c, "tags.json", why, fix_tags, NULL);
	}
	*broken = c.broken;
	return 0;
}
