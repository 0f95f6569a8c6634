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
 * between the two, say).  So notifications go through one thread of
 * their own, never from a handler:
 *   - names in a directory the request itself holds locked (its parent
 *     directories) are queued after the reply, without waiting;
 *   - the others are queued before the reply, and the handler waits for
 *     them to be sent, so that the change shows when the system call
 *     returns; but at most FS_TIMEOUT_TAG, after which the entries would
 *     have expired anyway, so no wait can become a deadlock.
 * An entry is expired rather than invalidated where the kernel can
 * (FUSE_LL_EXPIRE_ONLY): its next use asks us again, and a directory that
 * still exists keeps its dentry (someone's working directory, say)
 * instead of being unhashed.
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
	char *name;
};

struct fs_notifier {
	struct fuse_session *se;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;		/* work queued, or work done */
	struct notify_item *head, **tail;
	uint64_t queued, sent;		/* items ever queued and sent */
	bool stop;
	bool no_expire;			/* the kernel cannot expire only */
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
	struct fs_notifier *n = arg;

	pthread_mutex_lock(&n->lock);
	for (;;) {
		struct notify_item *it = n->head;

		if (n->stop)
			break;
		if (!it) {
			pthread_cond_wait(&n->cond, &n->lock);
			continue;
		}
		n->head = it->next;
		if (!n->head)
			n->tail = &n->head;
		pthread_mutex_unlock(&n->lock);
		/* -ENOENT: the kernel had nothing cached there. */
		if (!n->no_expire &&
		    fuse_lowlevel_notify_expire_entry(n->se, it->parent, it->name,
						      strlen(it->name),
						      FUSE_LL_EXPIRE_ONLY) == -ENOSYS)
			n->no_expire = true;	/* only this thread reads it */
		if (n->no_expire)
			fuse_lowlevel_notify_inval_entry(n->se, it->parent, it->name,
							 strlen(it->name));
		free(it->name);
		free(it);
		pthread_mutex_lock(&n->lock);
		n->sent++;
		pthread_cond_broadcast(&n->cond);
	}
	pthread_mutex_unlock(&n->lock);
	return NULL;
}

int fs_notify_start(struct fs_ctx *ctx, struct fuse_session *se)
{
	struct fs_notifier *n = calloc(1, sizeof(*n));
	pthread_condattr_t ca;
	int ret;

	if (!n)
		return -ENOMEM;
	n->se = se;
	n->tail = &n->head;
	pthread_mutex_init(&n->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&n->cond, &ca);
	pthread_condattr_destroy(&ca);
	ret = -pthread_create(&n->thread, NULL, notify_main, n);
	if (ret) {
		pthread_cond_destroy(&n->cond);
		pthread_mutex_destroy(&n->lock);
		free(n);
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
	pthread_mutex_lock(&n->lock);
	n->stop = true;
	pthread_cond_broadcast(&n->cond);
	pthread_mutex_unlock(&n->lock);
	ctx->notifier = NULL;
	/*
	 * The session has ended: nothing more is sent, what is queued is
	 * dropped.  A notification already on its way can wait on a request
	 * the kernel queued that nobody will read now (after a signal
	 * ended the loop): then the thread is left behind, not waited for,
	 * so that the unmount can go on.
	 */
	clock_gettime(CLOCK_REALTIME, &end);
	end.tv_sec += 2;
	if (pthread_timedjoin_np(n->thread, NULL, &end) != 0) {
		log_warn("the invalidation thread is stuck; leaving it");
		pthread_detach(n->thread);
		return;
	}
	while (n->head) {
		struct notify_item *it = n->head;

		n->head = it->next;
		free(it->name);
		free(it);
	}
	pthread_cond_destroy(&n->cond);
	pthread_mutex_destroy(&n->lock);
	free(n);
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
 * Queue the changes of @who whose directory is none of the @n_busy
 * directories @busy the request holds (NULL: all changes); they leave
 * who->changed.  Returns the sequence number to wait for.
 */
static uint64_t queue(struct fs_ctx *ctx, struct fs_caller *who,
		      const fuse_ino_t *busy, size_t n_busy)
{
	struct fs_notifier *n = ctx->notifier;
	struct fs_changes *c = &who->changed;
	uint64_t seq;
	size_t k = 0;

	pthread_mutex_lock(&n->lock);
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
			*n->tail = it;
			n->tail = &it->next;
			n->queued++;
		} else {
			free(ch->name);
		}
		free(ch->parent);
	}
	c->n = k;
	seq = n->queued;
	pthread_cond_broadcast(&n->cond);
	pthread_mutex_unlock(&n->lock);
	return seq;
}

void fs_changes_before_reply(struct fs_ctx *ctx, struct fs_caller *who,
			     const fuse_ino_t *busy, size_t n_busy)
{
	struct fs_notifier *n = ctx->notifier;
	struct timespec end;
	uint64_t seq;
	int ret = 0;

	if (!n || !who->changed.n)
		return;
	seq = queue(ctx, who, busy, n_busy);
	clock_gettime(CLOCK_MONOTONIC, &end);
	end.tv_sec += (time_t)FS_TIMEOUT_TAG;
	pthread_mutex_lock(&n->lock);
	while (n->sent < seq && ret != ETIMEDOUT)
		ret = pthread_cond_timedwait(&n->cond, &n->lock, &end);
	pthread_mutex_unlock(&n->lock);
	if (ret == ETIMEDOUT)
		log_debug("invalidations still queued after %.0f s: left to the "
			  "notification thread", FS_TIMEOUT_TAG);
}

void fs_changes_after_reply(struct fs_ctx *ctx, struct fs_caller *who)
{
	if (ctx->notifier && who->changed.n)
		queue(ctx, who, NULL, 0);
	fs_changes_release(&who->changed);
}
