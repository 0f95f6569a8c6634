/* SPDX-License-Identifier: MIT */
/*
 * blob.c - blobs/sha256/<hex>: opening local blobs, writing new ones from
 * a stream, and downloading missing ones from the registry.
 *
 * A blob enters blobs/ only by rename (from tmp/, or from partial/ when
 * every span of a partial blob is present) after its sha256 (and, for
 * downloads, its descriptor size) checked out and the data was fsynced, so
 * a file in blobs/ is always complete and never needs re-hashing.
 *
 * A blob is fetched from the sources whose manifest lists it, in order,
 * each that fails or sends other bytes logged and skipped.  Downloads are
 * single-flight per digest and source: the first caller registers
 * "<hex> <host>/<repo>" in s->inflight and downloads without any lock
 * held; later callers for the same digest from the same source sleep on
 * s->inflight_cond and all get the first caller's result.  A caller that
 * would fetch from another source does not wait on it: what one source
 * does (stall, fail) never holds up a reader of another's image.  A
 * download for an image is renamed into blobs/ under meta_lock, and not
 * at all when the image was deleted meanwhile.
 *
 * A download runs as a detached job (wait.c) without any lock held; every
 * caller, the first one included, sleeps on s->inflight_cond and gets the
 * job's result - or gives up alone, interrupted (-EINTR) or because the
 * transfer stalls (-EIO), while the job goes on for the others.  A
 * waiter may also follow the download as it runs, reading its temp file
 * as it is written (store_blob_fetch_follow, follow.c).  A dropped
 * connection is resumed with a Range request from the bytes already
 * hashed, up to STORE_FETCH_TRIES attempts, each with a deadline scaled to
 * what is left (registry_blob_deadline()).  A blob larger than
 * max_layer_size is not fetched, nor one that would take the store past
 * store_max (space.c); bytes beyond the descriptor size abort the transfer
 * in the sink, before they are written, so a hostile registry cannot fill
 * the disk.  Every write and
 * download shows in the store's progress table (progress.c) while it runs,
 * and every blob that enters or leaves blobs/ is counted in the store's
 * usage there.
 */
#include "store_int.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "log.h"

struct store_blob_writer {
	struct store *s;
	struct store_op *op;	/* the write, in `status` */
	int tmp_fd;		/* s->tmp_fd, for unlinking on abort */
	int fd;
	char name[32];		/* in tmp/ */
	struct store_chain *chain;	/* the blob's sha256 (and chunk records) */
	bool chain_owned;	/* else the download's, which followers read */
	uint64_t size;
	uint64_t limit;		/* more bytes than this is -EFBIG */
	int err;		/* sticky: the first write error */
	struct store_image *owner;	/* NULL, or the image a download is for */
};

/* Caller holds s->lock: drop a ref on @f. */
static void inflight_put_locked(struct store_inflight *f)
{
	if (--f->refs)
		return;
	if (f->rfd >= 0)
		close(f->rfd);
	store_chain_free(f->chain);
	free(f);
}

static const char *hex_of(const char *digest)
{
	return digest + strlen("sha256:");
}

bool store_blob_has(struct store *s, const char *digest)
{
	if (!digest || !registry_digest_valid(digest))
		return false;
	return faccessat(s->blobs_fd, hex_of(digest), F_OK, AT_SYMLINK_NOFOLLOW) == 0;
}

int store_blob_open(struct store *s, const char *digest, int *fd)
{
	int f;

	if (!digest || !registry_digest_valid(digest))
		return -EINVAL;
	f = openat(s->blobs_fd, hex_of(digest), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (f < 0)
		return -errno;
	*fd = f;
	return 0;
}

int store_blob_read(struct store *s, const char *digest, size_t max,
		    struct buf *out)
{
	if (!digest || !registry_digest_valid(digest))
		return -EINVAL;
	return file_read_capped(s->blobs_fd, hex_of(digest), max, out);
}

static void writer_free(struct store_blob_writer *w)
{
	if (w->chain_owned)
		store_chain_free(w->chain);
	free(w);
}

/* A new writer whose work shows in `status` as @kind for @what, hashing
 * into @chain (NULL: one of its own). */
static int writer_new(struct store *s, enum store_op_kind kind, const char *what,
		      const struct registry_desc *d, struct store_chain *chain,
		      struct store_blob_writer **out)
{
	struct store_blob_writer *w = calloc(1, sizeof(*w));
	int ret;

	if (!w)
		return -ENOMEM;
	w->s = s;
	w->tmp_fd = s->tmp_fd;
	w->fd = -1;
	w->limit = UINT64_MAX;
	w->chain = chain;
	if (!chain) {
		ret = store_chain_new(0, &w->chain);
		if (ret)
			goto out;
		w->chain_owned = true;
	}
	for (int tries = 0;; tries++) {
		uint32_t r;

		if (getentropy(&r, sizeof(r)) < 0)
			r = (uint32_t)getpid() ^ (uint32_t)tries;
		snprintf(w->name, sizeof(w->name), "b-%08x", r);
		w->fd = openat(s->tmp_fd, w->name,
			       O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (w->fd >= 0)
			break;
		if (errno != EEXIST || tries > 16) {
			ret = -errno;
			goto out;
		}
	}
	w->op = store_op_begin(s, kind, what, d ? d->digest : NULL,
			       d ? (uint64_t)d->size : 0);
	*out = w;
	return 0;
out:
	writer_free(w);
	return ret;
}

int store_blob_writer_new(struct store *s, struct store_blob_writer **out)
{
	return writer_new(s, STORE_OP_WRITE, "import", NULL, NULL, out);
}

int store_blob_writer_write(struct store_blob_writer *w, const void *data, size_t n)
{
	int ret;

	if (w->err)
		return w->err;
	if (n > w->limit - w->size) {
		w->err = -EFBIG;
		return w->err;
	}
	ret = store_chain_add(w->chain, data, n);
	if (!ret)
		ret = file_write_all(w->fd, data, n);
	if (ret) {
		w->err = ret;
		return ret;
	}
	w->size += n;
	store_op_set(w->s, w->op, w->size);
	return 0;
}

uint64_t store_blob_writer_size(const struct store_blob_writer *w)
{
	return w->size;
}

void store_blob_writer_abort(struct store_blob_writer *w)
{
	if (!w)
		return;
	if (w->fd >= 0) {
		close(w->fd);
		unlinkat(w->tmp_fd, w->name, 0);
	}
	store_op_end(w->s, w->op);
	writer_free(w);
}

/*
 * publish - the verified, fsynced file @name in @dirfd becomes blobs/<@hex>
 * (then the directory is fsynced).  1 when renamed; 0 when the same
 * content was already there (@name is left for the caller); -errno.
 */
static int publish(struct store *s, int dirfd, const char *name, const char *hex)
{
	int ret;

	if (faccessat(s->blobs_fd, hex, F_OK, AT_SYMLINK_NOFOLLOW) == 0)
		return 0;
	if (renameat(dirfd, name, s->blobs_fd, hex) < 0)
		return -errno;
	store_usage_note(s, false, store_file_size(s->blobs_fd, hex), 1);
	ret = file_fsync_dir(s->blobs_fd);
	return ret ? ret : 1;
}

/*
 * publish_for - publish() of writer @w's file, under meta_lock when it is
 * a download for an image, so that it cannot interleave with that image's
 * delete: the blob of an image deleted meanwhile is dropped (-ECANCELED)
 * rather than left in blobs/ with no record naming it.
 */
static int publish_for(struct store *s, struct store_blob_writer *w, const char *hex)
{
	bool gone;
	int ret;

	if (!w->owner)
		return publish(s, s->tmp_fd, w->name, hex);
	pthread_mutex_lock(&s->meta_lock);
	gone = store_image_deleted(s, w->owner);
	ret = gone ? -ECANCELED : publish(s, s->tmp_fd, w->name, hex);
	pthread_mutex_unlock(&s->meta_lock);
	if (gone)
		log_info("blob sha256:%s: image %.12s was deleted during its download; discarded",
			 hex, w->owner->id);
	return ret;
}

static void digest_hex(const unsigned char md[32], char out[72])
{
	memcpy(out, "sha256:", 7);
	for (unsigned int i = 0; i < 32; i++)
		snprintf(out + 7 + 2 * i, 3, "%02x", md[i]);
}

/*
 * commit_sized - store_blob_writer_commit() that also requires @expect_size
 * bytes when it is >= 0.  The data is fsynced before the rename and the
 * directory after it; a blob that is already there counts as success.
 */
static int commit_sized(struct store *s, struct store_blob_writer *w,
			const char *expect_digest, int64_t expect_size,
			char digest[72])
{
	unsigned char md[32];
	char got[72];
	int ret = w->err;

	if (ret)
		goto out;
	if (expect_digest && !registry_digest_valid(expect_digest)) {
		ret = -EINVAL;
		goto out;
	}
	if (fsync(w->fd) < 0) {
		ret = -errno;
		goto out;
	}
	ret = store_chain_final(w->chain, md);
	if (ret)
		goto out;
	digest_hex(md, got);
	if (expect_size >= 0 && w->size != (uint64_t)expect_size) {
		log_err("blob %s: size mismatch: expected %" PRId64 " bytes, got %" PRIu64,
			expect_digest ? expect_digest : got, expect_size, w->size);
		store_error_note(s, expect_digest ? expect_digest : got, -EIO, "size mismatch");
		ret = -EIO;
		goto out;
	}
	if (expect_digest && strcmp(expect_digest, got) != 0) {
		log_err("blob %s: digest mismatch: expected %s, got %s (%" PRIu64 " bytes); discarded",
			expect_digest, expect_digest, got, w->size);
		store_error_note(s, expect_digest, -EIO, "digest mismatch");
		ret = -EIO;
		goto out;
	}
	ret = publish_for(s, w, hex_of(got));
	if (ret > 0)
		w->name[0] = '\0';	/* nothing left to unlink */
	if (ret < 0)
		goto out;
	ret = 0;
	if (digest)
		memcpy(digest, got, sizeof(got));
out:
	if (ret && ret != -EIO && ret != -EFBIG && ret != -ECANCELED)
		log_err("blob %s: cannot store: %s",
			expect_digest ? expect_digest : "(new)", strerror(-ret));
	close(w->fd);
	if (w->name[0])
		unlinkat(s->tmp_fd, w->name, 0);
	w->fd = -1;
	store_op_end(s, w->op);
	writer_free(w);
	return ret;
}

int store_blob_writer_commit(struct store *s, struct store_blob_writer *w,
			     const char *expect_digest, char digest[72])
{
	return commit_sized(s, w, expect_digest, -1, digest);
}

int store_blob_add(struct store *s, const void *data, size_t len, char digest[72])
{
	struct store_blob_writer *w;
	int ret;

	ret = store_blob_writer_new(s, &w);
	if (ret)
		return ret;
	ret = store_blob_writer_write(w, data, len);
	if (ret) {
		store_blob_writer_abort(w);
		return ret;
	}
	return store_blob_writer_commit(s, w, NULL, digest);
}

/* The writer of a download and the download its waiters watch. */
struct dl_sink {
	struct store *s;
	struct store_blob_writer *w;
	struct store_inflight *f;
	uint64_t woke;		/* bytes written at the last wake-up */
};

/* Followers are woken every this many bytes (and at the end): what they
 * wait for at most is one read of the scan (toc's TOC_IO_CHUNK). */
#define FOLLOW_WAKE_STEP ((uint64_t)128 << 10)

/*
 * The count of bytes written is published after the bytes are in the
 * file; a follower asleep for bytes is woken every FOLLOW_WAKE_STEP
 * bytes and at the end (the others poll in slices).  Both sides use
 * sequentially consistent atomics: either the follower, about to sleep
 * under s->lock, sees the new count, or this sees it counted in
 * followers and broadcasts under s->lock, which it can take only once
 * the follower sleeps.
 */
static int sink(void *ctx, const void *data, size_t n)
{
	struct dl_sink *d = ctx;
	int ret = store_blob_writer_write(d->w, data, n);

	if (ret)
		return ret;
	__atomic_store_n(&d->f->progress, d->w->size, __ATOMIC_SEQ_CST);
	if (__atomic_load_n(&d->f->followers, __ATOMIC_SEQ_CST) &&
	    (d->w->size - d->woke >= FOLLOW_WAKE_STEP || d->w->size == d->w->limit)) {
		d->woke = d->w->size;
		pthread_mutex_lock(&d->s->lock);
		pthread_cond_broadcast(&d->s->inflight_cond);
		pthread_mutex_unlock(&d->s->lock);
	}
	return 0;
}

/* Open the temp file of @w for followers of @f (who wait for this). */
static void download_open(struct store *s, struct store_blob_writer *w,
			  struct store_inflight *f)
{
	int fd = openat(s->tmp_fd, w->name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);

	pthread_mutex_lock(&s->lock);
	f->rfd = fd;	/* -1: followers just wait for the result */
	f->opened = true;
	pthread_cond_broadcast(&s->inflight_cond);
	pthread_mutex_unlock(&s->lock);
}

bool store_fetch_retryable(int err)
{
	return err == -EIO || err == -ETIMEDOUT || err == -ECONNRESET ||
	       err == -EPIPE || err == -EAGAIN;
}

/*
 * download - fetch @d into a new blob, resuming after a dropped connection
 * from the bytes already written (and hashed).  Each attempt has the
 * deadline of what is left (store_xfer()); the count of bytes written
 * goes to @f for the readers waiting on it, and the file, as soon as it
 * exists, to those following it.  A resumed transfer appends to the same
 * file, so a follower only sees its bytes arrive later.
 */
static int download(struct store *s, const char *host, const char *repo,
		    const struct registry_desc *d, struct store_image *owner,
		    struct store_inflight *f)
{
	struct store_blob_writer *w;
	struct dl_sink ds = { .s = s, .f = f };
	uint64_t size = (uint64_t)d->size;
	char what[300];
	int ret;

	snprintf(what, sizeof(what), "%s/%s", host, repo);
	ret = writer_new(s, STORE_OP_BLOB, what, d, f->chain, &w);
	if (ret)
		return ret;
	download_open(s, w, f);
	ds.w = w;
	w->limit = size;
	w->owner = owner;
	for (int tries = 0; tries < STORE_FETCH_TRIES && w->size < size; tries++) {
		uint64_t off = w->size;
		struct registry_xfer x;

		if (tries)
			log_warn("blob %s: transfer from %s/%s broke after %" PRIu64
				 " of %" PRIu64 " bytes (%s); resuming", d->digest,
				 host, repo, off, size, strerror(-ret));
		store_xfer(s, size - off, &x);
		ret = registry_blob_get(s->reg, host, repo, d->digest, off,
					off ? size - off : 0, size, sink, &ds, &x);
		if (w->err) {
			ret = w->err;
			break;
		}
		if (!ret && w->size < size)
			ret = -EIO;	/* body ended early without an error */
		if (ret && !store_fetch_retryable(ret))
			break;
	}
	if (ret == -EFBIG) {
		log_err("blob %s: %s/%s sent more than the %" PRIu64 " bytes of its descriptor",
			d->digest, host, repo, size);
		ret = -EIO;
	}
	if (ret) {
		store_error_note(s, d->digest, ret, NULL);
		store_blob_writer_abort(w);
		return ret;
	}
	return commit_sized(s, w, d->digest, d->size, NULL);
}

/* One download in progress, run by fetch_job(); the waiters hold refs. */
struct fetch_job {
	struct store *s;
	struct store_inflight *f;
	char *key;		/* its name in s->inflight: "<hex> <host>/<repo>" */
	char *host, *repo;
	struct store_image *owner;	/* a ref, or NULL */
	char digest[REGISTRY_DIGEST_LEN + 1];
	struct registry_desc d;	/* digest points into the job */
};

static void fetch_job_free(struct fetch_job *j)
{
	free(j->key);
	free(j->host);
	free(j->repo);
	free(j);
}

/* Download, publish the result to the waiters, give back the space. */
static void fetch_run(struct fetch_job *j)
{
	struct store *s = j->s;
	struct store_inflight *f = j->f;
	int ret;

	ret = download(s, j->host, j->repo, &j->d, j->owner, f);
	pthread_mutex_lock(&s->lock);
	htab_del(&s->inflight, j->key);
	f->done = true;
	f->err = ret;
	pthread_cond_broadcast(&s->inflight_cond);
	inflight_put_locked(f);
	pthread_mutex_unlock(&s->lock);
	store_space_release(s, (uint64_t)j->d.size);
	if (j->owner)
		store_image_put(s, j->owner);
}

static void *fetch_job(void *arg)
{
	struct fetch_job *j = arg;

	fetch_run(j);
	fetch_job_free(j);
	return NULL;
}

/*
 * fetch_admit - whether @d may be downloaded at all: no larger than
 * max_layer_size (-EFBIG) and within store_max (-ENOSPC, space reserved
 * here, given back by fetch_run()); both logged.
 */
static int fetch_admit(struct store *s, const char *host, const char *repo,
		       const struct registry_desc *d)
{
	if ((uint64_t)d->size > s->max_layer_size) {
		log_err("blob %s of %s/%s: %lld bytes, more than max_layer_size (%" PRIu64
			"); not downloaded", d->digest, host, repo, (long long)d->size,
			s->max_layer_size);
		return -EFBIG;
	}
	return store_space_reserve(s, d->digest, (uint64_t)d->size);
}

/*
 * Caller holds s->lock (dropped while the job starts, held again on
 * return): start the download of @d from @host/@repo for @owner (may be
 * NULL), registered under @key in s->inflight, as a job (inline when no
 * thread can be made).  The job holds a ref on @owner, so that it can
 * drop the blob of an image deleted meanwhile.  The caller reserved its
 * space; the job gives it back.  *@out holds a ref for the caller.
 */
static int fetch_start_locked(struct store *s, const char *key, const char *host,
			      const char *repo, struct store_image *owner,
			      const struct registry_desc *d, struct store_inflight **out)
{
	struct fetch_job *j = calloc(1, sizeof(*j));
	struct store_inflight *f = calloc(1, sizeof(*f));

	if (!j || !f || store_chain_new((uint64_t)d->size, &f->chain) ||
	    !(j->key = strdup(key)) || !(j->host = strdup(host)) ||
	    !(j->repo = strdup(repo)) || htab_set(&s->inflight, j->key, f, NULL)) {
		if (f)
			store_chain_free(f->chain);
		free(f);
		if (j)
			fetch_job_free(j);
		return -ENOMEM;
	}
	j->s = s;
	j->f = f;
	snprintf(j->digest, sizeof(j->digest), "%s", d->digest);
	j->d.digest = j->digest;
	j->d.size = d->size;
	f->refs = 2;		/* the job and the caller */
	f->rfd = -1;
	if (owner) {
		owner->refs++;	/* s->lock held */
		j->owner = owner;
	}
	pthread_mutex_unlock(&s->lock);
	if (store_job_start(s, fetch_job, j)) {
		fetch_run(j);
		fetch_job_free(j);
	}
	pthread_mutex_lock(&s->lock);
	*out = f;
	return 0;
}

/*
 * Caller holds s->lock and a ref on @f: wait for the download's result,
 * giving up with -EINTR when the request is interrupted and with -EIO
 * when the download stalls (store_watch); the download goes on.
 */
static int fetch_wait_locked(struct store *s, struct store_inflight *f,
			     const struct registry_desc *d)
{
	struct store_watch w;
	int ret;

	store_watch_start(s, &w, __atomic_load_n(&f->progress, __ATOMIC_ACQUIRE));
	while (!f->done) {
		uint64_t got;

		ret = store_wait_slice(&s->inflight_cond, &s->lock);
		if (ret)
			return ret;
		got = __atomic_load_n(&f->progress, __ATOMIC_ACQUIRE);
		/* Every byte is in: the job is syncing and renaming, which
		 * the network's pace says nothing about. */
		if (got < (uint64_t)d->size && store_watch_check(&w, got)) {
			log_err("blob %s: less than %" PRIu64 " bytes in %ld s; this "
				"read gives up (the download goes on)", d->digest,
				w.need, s->timeout_sec);
			return -EIO;
		}
	}
	return f->err;
}

/*
 * fetch_from - store_blob_fetch() from source @k of @srcs alone: joins a
 * download of @d from that same source in flight, else starts one, and
 * waits for it - following it with @fn (may be NULL) meanwhile; *@followed
 * when it succeeded and @fn ran on it.
 */
static int fetch_from(struct store *s, const struct store_srcs *srcs, size_t k,
		      const struct registry_desc *d, store_blob_follow_fn fn,
		      void *ctx, bool *followed)
{
	bool ran = false;
	const char *host = srcs->v[k].host, *repo = srcs->v[k].repo;
	struct store_inflight *f;
	bool reserved = false;
	struct buf key;
	int ret;

	buf_init(&key, 1200);
	ret = buf_printf(&key, "%s %s/%s", hex_of(d->digest), host, repo);
	if (ret)
		goto out;
	pthread_mutex_lock(&s->lock);
	f = htab_get(&s->inflight, buf_str(&key));
	if (!f) {
		/* Admitted without the lock (it may scan the store); a
		 * download may start or end meanwhile. */
		pthread_mutex_unlock(&s->lock);
		ret = fetch_admit(s, host, repo, d);
		if (ret)
			goto out;
		reserved = true;
		pthread_mutex_lock(&s->lock);
		f = htab_get(&s->inflight, buf_str(&key));
	}
	if (f) {
		f->refs++;
	} else if (store_blob_has(s, d->digest)) {
		ret = 0;	/* a download ended between the check and the lock */
		goto out_unlock;
	} else {
		ret = fetch_start_locked(s, buf_str(&key), host, repo, srcs->img, d, &f);
		if (ret)
			goto out_unlock;
		reserved = false;	/* the job gives it back */
	}
	ret = fn ? store_follow_locked(s, f, d, fn, ctx, &ran) : 0;
	if (!ret)
		ret = fetch_wait_locked(s, f, d);
	*followed = !ret && ran;
	inflight_put_locked(f);
out_unlock:
	pthread_mutex_unlock(&s->lock);
	if (reserved)
		store_space_release(s, (uint64_t)d->size);
out:
	buf_release(&key);
	return ret;
}

int store_blob_fetch_follow(struct store *s, const struct store_srcs *srcs,
			    const struct registry_desc *d, store_blob_follow_fn fn,
			    void *ctx, bool *followed)
{
	int ret = -ENOENT;

	*followed = false;
	if (!d->digest || !registry_digest_valid(d->digest) || d->size < 0)
		return -EINVAL;
	if (store_blob_has(s, d->digest))
		return 0;
	if (!s->reg || !srcs)
		return -ENOENT;
	for (size_t k = 0; k < srcs->n; k++) {
		ret = fetch_from(s, srcs, k, d, fn, ctx, followed);
		/* Another image's download, from this source, was dropped
		 * because that image went: ours is still wanted. */
		if (ret == -ECANCELED && !store_image_deleted(s, srcs->img))
			ret = fetch_from(s, srcs, k, d, fn, ctx, followed);
		if (!ret || store_blob_has(s, d->digest))
			return 0;
		if (ret == -ECANCELED)
			return -ENOENT;	/* our image was deleted */
		/* Interrupted, or refused whatever the source: no other try. */
		if (ret == -EINTR || ret == -EFBIG || ret == -ENOSPC)
			return ret;
		if (k + 1 < srcs->n)
			log_warn("blob %s: source %s/%s failed (%s); trying %s/%s",
				 d->digest, srcs->v[k].host, srcs->v[k].repo,
				 strerror(-ret), srcs->v[k + 1].host, srcs->v[k + 1].repo);
	}
	return ret == -ECANCELED ? -ENOENT : ret;
}

int store_blob_fetch(struct store *s, const struct store_srcs *srcs,
		     const struct registry_desc *d)
{
	bool followed;

	return store_blob_fetch_follow(s, srcs, d, NULL, NULL, &followed);
}

int store_fd_sha256(int fd, uint64_t size, char digest[72])
{
	unsigned char md[EVP_MAX_MD_SIZE], *chunk = malloc(STORE_HASH_CHUNK);
	unsigned int mdlen = 0;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	uint64_t off = 0;
	int ret = -ENOMEM;

	if (!ctx || !chunk || !EVP_DigestInit_ex(ctx, EVP_sha256(), NULL))
		goto out;
	while (off < size) {
		size_t want = size - off < STORE_HASH_CHUNK ? (size_t)(size - off)
							    : STORE_HASH_CHUNK;
		ssize_t n = pread(fd, chunk, want, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			ret = n < 0 ? -errno : -EIO;
			goto out;
		}
		if (!EVP_DigestUpdate(ctx, chunk, (size_t)n))
			goto out;
		off += (uint64_t)n;
	}
	if (!EVP_DigestFinal_ex(ctx, md, &mdlen) || mdlen != 32) {
		ret = -EIO;
		goto out;
	}
	digest_hex(md, digest);
	ret = 0;
out:
	EVP_MD_CTX_free(ctx);
	free(chunk);
	return ret;
}

int store_blob_commit_file(struct store *s, int fd, int dirfd, const char *name,
			   const char *expect_digest, uint64_t size)
{
	char got[72];
	int ret;

	if (!registry_digest_valid(expect_digest))
		return -EINVAL;
	ret = store_fd_sha256(fd, size, got);
	if (ret)
		goto out;
	if (strcmp(got, expect_digest) != 0) {
		log_err("blob %s: digest mismatch: expected %s, got %s (%" PRIu64 " bytes); not stored",
			expect_digest, expect_digest, got, size);
		store_error_note(s, expect_digest, -EIO, "digest mismatch");
		ret = -EIO;
		goto out;
	}
	if (fsync(fd) < 0) {
		ret = -errno;
		goto out;
	}
	ret = publish(s, dirfd, name, hex_of(got));
	if (ret == 0 && unlinkat(dirfd, name, 0) < 0)
		ret = -errno;
	if (ret > 0)
		ret = 0;
	if (ret)
		log_err("blob %s: cannot store: %s", expect_digest, strerror(-ret));
out:
	return ret;
}

int store_blob_unlink(struct store *s, const char *hex)
{
	uint64_t size = store_file_size(s->blobs_fd, hex);
	uint64_t isize = store_file_size(s->index_fd, hex);
	int ret = 0;

	if (unlinkat(s->blobs_fd, hex, 0) < 0)
		ret = -errno;
	else
		store_usage_note(s, false, size, -1);
	if (unlinkat(s->index_fd, hex, 0) == 0)
		store_usage_note(s, true, isize, -1);
	return ret;
}
