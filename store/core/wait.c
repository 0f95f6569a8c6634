/* SPDX-License-Identifier: MIT */
/*
 * wait.c - how long the store waits for the network, and who may stop a
 * wait: the per-request cancel token, bounded wait slices, the reader's
 * progress watch, and the jobs (threads of their own) transfers run in.
 *
 * A transfer (a whole blob, a span of a partial blob) runs on a
 * thread of its own, and every reader that needs it - the one that
 * started it included - only waits for it.  That is what lets a reader be
 * interrupted (Ctrl-C: its cancel token fires) or give up on a stalled
 * registry without cancelling the transfer other readers wait on.  Waits
 * are slices of STORE_WAIT_SLICE_MS on the caller's own condition
 * variable, after each of which the token and the progress are looked
 * at: polling keeps the token free of any knowledge of which condition a
 * reader sleeps on.
 *
 * The token is a thread-local of the thread serving the request, so that
 * it reaches the waits deep below (a read through the layer index ends in
 * store_partial_need()) without every signature on the way carrying it.
 *
 * Jobs are counted in s->n_jobs; store_close() sets s->closing, which
 * every transfer polls (registry_xfer.stop), and waits for them.  It
 * also joins their threads: a job that has counted itself out still
 * runs its thread's exit, where libcrypto and libcurl free their
 * thread-local state (the random generators of a TLS handshake among
 * them); a process that exits before that reports them leaked
 * (LeakSanitizer did, in t_unmount).  Threads of ended jobs are joined
 * as new jobs start, without waiting, and all of them at close.
 */
#include "store_int.h"

#include <errno.h>
#include <stdlib.h>
#include <time.h>

#define STORE_WAIT_SLICE_MS 200

static __thread struct store_cancel *store_cancel_cur;

void store_cancel_enter(struct store_cancel *c)
{
	store_cancel_cur = c;
}

struct store_cancel *store_cancel_current(void)
{
	return store_cancel_cur;
}

void store_cancel_fire(struct store_cancel *c)
{
	__atomic_store_n(&c->fired, 1, __ATOMIC_RELEASE);
}

static bool cancelled(void)
{
	return store_cancel_cur &&
	       __atomic_load_n(&store_cancel_cur->fired, __ATOMIC_ACQUIRE);
}

int store_wait_slice(pthread_cond_t *cond, pthread_mutex_t *m)
{
	struct timespec ts;

	if (cancelled())
		return -EINTR;
	/* The store's condition variables use the default (realtime)
	 * clock; a slice that a clock step stretches or cuts is harmless. */
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_nsec += STORE_WAIT_SLICE_MS * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_cond_timedwait(cond, m, &ts);
	return cancelled() ? -EINTR : 0;
}

int64_t store_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void store_watch_start(const struct store *s, struct store_watch *w,
		       uint64_t bytes)
{
	w->t0_ms = store_now_ms();
	w->b0 = bytes;
	w->window_ms = (int64_t)s->timeout_sec * 1000;
	w->need = REGISTRY_MIN_RATE * (uint64_t)s->timeout_sec;
}

int store_watch_check(struct store_watch *w, uint64_t bytes)
{
	int64_t now = store_now_ms();

	if (now - w->t0_ms < w->window_ms)
		return 0;
	if (bytes - w->b0 < w->need)
		return -ETIMEDOUT;
	w->t0_ms = now;
	w->b0 = bytes;
	return 0;
}

struct store_job {
	struct store_job *next;		/* in s->jobs_ended */
	struct store *s;
	void *(*fn)(void *);
	void *arg;
	pthread_t thread;
};

static void *job_main(void *arg)
{
	struct store_job *j = arg;
	struct store *s = j->s;

	j->thread = pthread_self();
	j->fn(j->arg);
	pthread_mutex_lock(&s->lock);
	j->next = s->jobs_ended;
	s->jobs_ended = j;
	if (--s->n_jobs == 0)
		pthread_cond_broadcast(&s->jobs_cond);
	pthread_mutex_unlock(&s->lock);
	return NULL;
}

/* Join the threads of ended jobs: all of them (@wait), or those that
 * have exited already. */
static void jobs_reap(struct store *s, bool wait)
{
	struct store_job *j, *keep = NULL, *list;

	pthread_mutex_lock(&s->lock);
	list = s->jobs_ended;
	s->jobs_ended = NULL;
	pthread_mutex_unlock(&s->lock);
	while ((j = list)) {
		list = j->next;
		if (wait ? pthread_join(j->thread, NULL) :
			   pthread_tryjoin_np(j->thread, NULL)) {
			j->next = keep;	/* still exiting */
			keep = j;
			continue;
		}
		free(j);
	}
	if (!keep)
		return;
	pthread_mutex_lock(&s->lock);
	for (j = keep; j->next; j = j->next)
		;
	j->next = s->jobs_ended;
	s->jobs_ended = keep;
	pthread_mutex_unlock(&s->lock);
}

int store_job_start(struct store *s, void *(*fn)(void *), void *arg)
{
	struct store_job *j;
	pthread_t th;
	int ret;

	jobs_reap(s, false);
	j = calloc(1, sizeof(*j));
	if (!j)
		return -ENOMEM;
	j->s = s;
	j->fn = fn;
	j->arg = arg;
	pthread_mutex_lock(&s->lock);
	s->n_jobs++;
	pthread_mutex_unlock(&s->lock);
	ret = -pthread_create(&th, NULL, job_main, j);
	if (ret) {
		pthread_mutex_lock(&s->lock);
		s->n_jobs--;
		pthread_mutex_unlock(&s->lock);
		free(j);
	}
	return ret;
}

void store_stop(struct store *s)
{
	__atomic_store_n(&s->closing, 1, __ATOMIC_RELEASE);
}

void store_jobs_drain(struct store *s)
{
	__atomic_store_n(&s->closing, 1, __ATOMIC_RELEASE);
	pthread_mutex_lock(&s->lock);
	while (s->n_jobs > 0)
		pthread_cond_wait(&s->jobs_cond, &s->lock);
	pthread_mutex_unlock(&s->lock);
	jobs_reap(s, true);
}

void store_xfer(const struct store *s, uint64_t bytes, struct registry_xfer *x)
{
	/* Every field: the ones not named here are off (origin_only...). */
	*x = (struct registry_xfer){
		.timeout_sec = registry_blob_deadline(s->reg, bytes),
		.stop = &s->closing,
	};
}
