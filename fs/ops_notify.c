/* SPDX-License-Identifier: MIT */
/*
 * ops_notify.c - who a request comes from (struct fs_caller from the FUSE
 * request), and telling the kernel to drop the entries a change of the
 * namespace made stale.
 *
 * The kernel caches names, present and absent, for FS_TIMEOUT_TAG; a
 * change (untag, rmi, a new tag, an import, a pull) shows at once only if
 * the kernel is told to drop every name it touched.  Telling it
 * (fuse_lowlevel_notify_inval_entry) takes the lock of the name's
 * directory in the kernel, and the kernel holds directory locks while it
 * waits for our replies: a notification sent by a handler for a
 * directory its own request holds would never finish, and one for
 * another directory can wait on a request that waits on ours (a rename
 * between the two, say).  So notifications go through two threads of
 * their own, never from a handler:
 *   - names in a directory the request itself holds locked (its parent
 *     directories) are queued after the reply, without waiting, on the
 *     "late" queue;
 *   - the others are queued before the reply on the "now" queue, and the
 *     handler waits for them to be sent, so that the change shows when
 *     the system call returns; but at most FS_TIMEOUT_TAG, after which
 *     the entries would have expired anyway, so no wait can become a
 *     deadlock.
 * Two queues, because a late notification routinely waits for the lock
 * of a directory in which the next request is already in flight (three
 * `mv` in one directory): were the "now" items queued behind it, that
 * request would wait for it and every rename there would take
 * FS_TIMEOUT_TAG (measured: 2 renames a second instead of 30).  A handler
 * that queued nothing on "now" does not wait at all.
 * An entry is expired rather than invalidated where the kernel can
 * (FUSE_LL_EXPIRE_ONLY): its next use asks us again, and a directory that
 * still exists keeps its dentry (someone's working directory, say)
 * instead of being unhashed.
 * The kernel also keeps directory listings (ops.c: with no opendir it
 * caches every directory's, FOPEN_CACHE_DIR).  It drops one itself when a
 * request of its own changes the directory, not when we do; so with each
 * name the listing of its directory is dropped too, and a namespace
 * directory's listing once it has been read to its end
 * (fs_notify_listed): what the registry says may change without a
 * request, and a listing must be as fresh as it was with a handle.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "ops.h"

struct notify_item {
	struct notify_item *next;
	fuse_ino_t parent;
	char *name;			/* NULL: only parent's listing */
};

/* One queue and the thread that sends it; fields under fs_notifier.lock
 * but no_expire, which only the queue's thread reads and writes. */
struct notify_queue {
	struct fs_notifier *n;
	pthread_t thread;
	struct notify_item *head, **tail;
	uint64_t queued, sent;		/* items ever queued and sent */
	bool no_expire;			/* the kernel cannot expire only */
};

enum { NOTIFY_NOW, NOTIFY_LATE, NOTIFY_QUEUES };

struct fs_notifier {
	struct fuse_session *se;
	pthread_mutex_t lock;		/* the queues, stop */
	pthread_cond_t cond;		/* work queued, or work done */
	struct notify_queue q[NOTIFY_QUEUES];
	int n_threads;			/* started */
	bool stop;
};

static int caller_groups(void *arg, gid_t *list, int size)
{
	return fuse_req_getgroups(arg, size, list);
}

void fs_caller_init(struct fs_caller *who, fuse_req_t req)
{
	const struct fuse_ctx *fc = fuse_req_ctx(req);

	memset(who, 0, sizeof(*who));
	who->uid = fc->uid;
	who->gid = fc->gid;
	who->may_pull = -1;
	who->groups = caller_groups;
	who->groups_arg = req;
}

static void *notify_main(void *arg)
{
	struct notify_queue *q = arg;
	struct fs_notifier *n = q->n;

	pthread_mutex_lock(&n->lock);
	for (;;) {
		struct notify_item *it = q->head;

		if (n->stop)
			break;
		if (!it) {
			pthread_cond_wait(&n->cond, &n->lock);
			continue;
		}
		q->head = it->next;
		if (!q->head)
			q->tail = &q->head;
		pthread_mutex_unlock(&n->lock);
		/* -ENOENT: the kernel had nothing cached there. */
		fuse_lowlevel_notify_inval_inode(n->se, it->parent, 0, 0);
		if (!it->name)
			goto sent;
		if (!q->no_expire &&
		    fuse_lowlevel_notify_expire_entry(n->se, it->parent, it->name,
						      strlen(it->name),
						      FUSE_LL_EXPIRE_ONLY) == -ENOSYS)
			q->no_expire = true;
		if (q->no_expire)
			fuse_lowlevel_notify_inval_entry(n->se, it->parent, it->name,
							 strlen(it->name));
sent:
		free(it->name);
		free(it);
		pthread_mutex_lock(&n->lock);
		q->sent++;
		pthread_cond_broadcast(&n->cond);
	}
	pthread_mutex_unlock(&n->lock);
	return NULL;
}

/* Free what is queued and @n itself (its threads have ended). */
static void notifier_free(struct fs_notifier *n)
{
	for (int i = 0; i < NOTIFY_QUEUES; i++)
		while (n->q[i].head) {
			struct notify_item *it = n->q[i].head;

			n->q[i].head = it->next;
			free(it->name);
			free(it);
		}
	pthread_cond_destroy(&n->cond);
	pthread_mutex_destroy(&n->lock);
	free(n);
}

/* Tell @n's threads to end and join them, by @end at the latest (NULL:
 * no limit); 0 when all ended, -ETIMEDOUT when one was left behind. */
static int notifier_end(struct fs_notifier *n, const struct timespec *end)
{
	int ret = 0;

	pthread_mutex_lock(&n->lock);
	n->stop = true;
	pthread_cond_broadcast(&n->cond);
	pthread_mutex_unlock(&n->lock);
	for (int i = 0; i < n->n_threads; i++) {
		if (!end) {
			pthread_join(n->q[i].thread, NULL);
		} else if (pthread_timedjoin_np(n->q[i].thread, NULL, end) != 0) {
			pthread_detach(n->q[i].thread);
			ret = -ETIMEDOUT;
		}
	}
	return ret;
}

int fs_notify_start(struct fs_ctx *ctx, struct fuse_session *se)
{
	struct fs_notifier *n = calloc(1, sizeof(*n));
	pthread_condattr_t ca;
	int ret = 0;

	if (!n)
		return -ENOMEM;
	n->se = se;
	pthread_mutex_init(&n->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&n->cond, &ca);
	pthread_condattr_destroy(&ca);
	for (int i = 0; i < NOTIFY_QUEUES && !ret; i++) {
		n->q[i].n = n;
		n->q[i].tail = &n->q[i].head;
		ret = -pthread_create(&n->q[i].thread, NULL, notify_main, &n->q[i]);
		if (!ret)
			n->n_threads++;
	}
	if (ret) {
		notifier_end(n, NULL);	/* nothing queued: they end at once */
		notifier_free(n);
		return ret;
	}
	ctx->notifier = n;
	return 0;
}

void fs_notify_stop(struct fs_ctx *ctx)
{
	struct fs_notifier *n = ctx->notifier;
	struct timespec end;

	if (!n)
		return;
	ctx->notifier = NULL;
	/*
	 * The session has ended: nothing more is sent, what is queued is
	 * dropped.  A notification already on its way can wait on a request
	 * the kernel queued that nobody will read now (after a signal
	 * ended the loop): then the thread is left behind, not waited for,
	 * so that the unmount can go on (and @n with it).
	 */
	clock_gettime(CLOCK_REALTIME, &end);
	end.tv_sec += 2;
	if (notifier_end(n, &end)) {
		log_warn("an invalidation thread is stuck; leaving it");
		return;
	}
	notifier_free(n);
}

/* The node id the kernel knows the directory of key @key by; 0 when it
 * knows none (then it has nothing cached below it either). */
static fuse_ino_t ino_of_key(struct fs_ctx *ctx, const char *key)
{
	struct fs_inode *node;
	fuse_ino_t ino = 0;

	pthread_mutex_lock(&ctx->inodes.lock);
	node = htab_get(&ctx->inodes.by_key, key);
	if (node && node->nlookup)
		ino = node->ino;
	pthread_mutex_unlock(&ctx->inodes.lock);
	return ino;
}

/*
 * Queue on @q the changes of @who whose directory is none of the @n_busy
 * directories @busy the request holds (NULL: all changes); they leave
 * who->changed.  Returns the sequence number of @q to wait for, 0 when
 * nothing was queued.
 */
static uint64_t queue(struct fs_ctx *ctx, struct fs_caller *who,
		      struct notify_queue *q, const fuse_ino_t *busy, size_t n_busy)
{
	struct fs_notifier *n = ctx->notifier;
	struct fs_changes *c = &who->changed;
	uint64_t seq, first;
	size_t k = 0;

	pthread_mutex_lock(&n->lock);
	first = q->queued;
	for (size_t i = 0; i < c->n; i++) {
		struct fs_change *ch = &c->v[i];
		fuse_ino_t ino = ino_of_key(ctx, ch->parent);
		bool is_busy = false;
		struct notify_item *it;

		for (size_t b = 0; b < n_busy; b++)
			is_busy |= busy[b] == ino;
		if (ino && is_busy) {
			c->v[k++] = *ch;	/* not now */
			continue;
		}
		it = ino ? calloc(1, sizeof(*it)) : NULL;
		if (it) {
			it->parent = ino;
			it->name = ch->name;	/* handed over */
			*q->tail = it;
			q->tail = &it->next;
			q->queued++;
		} else {
			free(ch->name);
		}
		free(ch->parent);
	}
	c->n = k;
	seq = q->queued == first ? 0 : q->queued;
	pthread_cond_broadcast(&n->cond);
	pthread_mutex_unlock(&n->lock);
	return seq;
}

void fs_changes_before_reply(struct fs_ctx *ctx, struct fs_caller *who,
			     const fuse_ino_t *busy, size_t n_busy)
{
	struct fs_notifier *n = ctx->notifier;
	struct notify_queue *q;
	struct timespec end;
	uint64_t seq;
	int ret = 0;

	if (!n || !who->changed.n)
		return;
	q = &n->q[NOTIFY_NOW];
	seq = queue(ctx, who, q, busy, n_busy);
	if (!seq)
		return;
	clock_gettime(CLOCK_MONOTONIC, &end);
	end.tv_sec += (time_t)FS_TIMEOUT_TAG;
	pthread_mutex_lock(&n->lock);
	while (q->sent < seq && ret != ETIMEDOUT)
		ret = pthread_cond_timedwait(&n->cond, &n->lock, &end);
	pthread_mutex_unlock(&n->lock);
	if (ret == ETIMEDOUT)
		log_debug("invalidations still queued after %.0f s: left to the "
			  "notification thread", FS_TIMEOUT_TAG);
}

void fs_notify_listed(struct fs_ctx *ctx, fuse_ino_t ino)
{
	struct fs_notifier *n = ctx->notifier;
	struct notify_queue *q;
	struct notify_item *it;

	if (!n)
		return;
	it = calloc(1, sizeof(*it));
	if (!it)
		return;		/* the listing stays cached until a change */
	it->parent = ino;
	q = &n->q[NOTIFY_LATE];
	pthread_mutex_lock(&n->lock);
	*q->tail = it;
	q->tail = &it->next;
	q->queued++;
	pthread_cond_broadcast(&n->cond);
	pthread_mutex_unlock(&n->lock);
}

void fs_changes_after_reply(struct fs_ctx *ctx, struct fs_caller *who)
{
	if (ctx->notifier && who->changed.n)
		queue(ctx, who, &ctx->notifier->q[NOTIFY_LATE], NULL, 0);
	fs_changes_release(&who->changed);
}
