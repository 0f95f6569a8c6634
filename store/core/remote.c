/* SPDX-License-Identifier: MIT */
/*
 * remote.c - what a registry lists (its catalog, a repository's tags) as
 * the namespace shows it, and the deletion of a remote tag.
 *
 * Lists are kept for STORE_LIST_TTL_SEC in s->lists (under s->lock),
 * failures included, so that `ls -l` of a repository (one lookup per tag,
 * each checking the tag is listed) asks the registry once, not once per
 * name.  Tags are mutable and a list is only a snapshot, so the time is
 * short, and what this mount changes itself (a push, a delete) drops the
 * entries it made stale at once: store_remote_forget(), which also drops
 * the answers pull.c remembered for the host ("pull host/repo:tag",
 * "repo host/repo", "ns host/..."), so that a tag pushed a moment after a
 * lookup missed it is found.
 */
#include "store_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"

/* One cached list: the names, or the error the registry answered. */
struct remote_list {
	struct timespec expires;	/* CLOCK_MONOTONIC */
	int result;
	struct registry_names names;
};

static void list_free(struct remote_list *l)
{
	if (!l)
		return;
	registry_names_release(&l->names);
	free(l);
}

void store_remote_lists_release(struct store *s)
{
	size_t it;

	for (struct htab_ent *e = htab_first(&s->lists, &it); e;
	     e = htab_next(&s->lists, &it, e))
		list_free(e->val);
	htab_release(&s->lists);
}

static int names_copy(const struct registry_names *from, struct registry_names *to)
{
	memset(to, 0, sizeof(*to));
	to->cut = from->cut;
	if (!from->n)
		return 0;
	to->v = calloc(from->n, sizeof(*to->v));
	if (!to->v)
		return -ENOMEM;
	to->cap = from->n;
	for (size_t i = 0; i < from->n; i++) {
		to->v[i] = strdup(from->v[i]);
		if (!to->v[i]) {
			registry_names_release(to);
			return -ENOMEM;
		}
		to->n++;
	}
	return 0;
}

/* A fresh cached list for @key copied into @out: 1 (and its result in
 * *@result), or 0 when there is none. */
static int cached(struct store *s, const char *key, struct registry_names *out,
		  int *result)
{
	struct remote_list *l;
	struct timespec now;
	int hit = 0;

	clock_gettime(CLOCK_MONOTONIC, &now);
	pthread_mutex_lock(&s->lock);
	l = htab_get(&s->lists, key);
	if (l && (now.tv_sec < l->expires.tv_sec ||
		  (now.tv_sec == l->expires.tv_sec && now.tv_nsec < l->expires.tv_nsec))) {
		*result = l->result ? l->result : names_copy(&l->names, out);
		hit = 1;
	} else if (l) {
		list_free(htab_del(&s->lists, key));
	}
	pthread_mutex_unlock(&s->lock);
	return hit;
}

/* Keeps @names (a copy) or error @result for @key; only a cache. */
static void remember(struct store *s, const char *key, int result,
		     const struct registry_names *names)
{
	struct remote_list *l = calloc(1, sizeof(*l));
	void *old = NULL;

	if (!l || (!result && names_copy(names, &l->names))) {
		free(l);
		return;
	}
	l->result = result;
	clock_gettime(CLOCK_MONOTONIC, &l->expires);
	l->expires.tv_sec += STORE_LIST_TTL_SEC;
	pthread_mutex_lock(&s->lock);
	/* Keys come from users' lookups: bounded like the answers. */
	if (s->lists.n >= STORE_ANSWERS_MAX) {
		size_t it;
		struct htab_ent *e = htab_first(&s->lists, &it);

		while (e) {
			struct htab_ent *next = htab_next(&s->lists, &it, e);

			list_free(htab_del(&s->lists, e->key));
			e = next;
		}
	}
	if (htab_set(&s->lists, key, l, &old))
		list_free(l);
	else
		list_free(old);
	pthread_mutex_unlock(&s->lock);
}

/* The list for @key, from the cache or from @host (@repo NULL: catalog). */
static int remote_list(struct store *s, const char *host, const char *repo,
		       struct registry_names *out)
{
	struct registry_names got = { 0 };
	struct buf key;
	int ret, result;

	memset(out, 0, sizeof(*out));
	if (!s->reg)
		return -ENOENT;
	buf_init(&key, 1100);
	ret = repo ? buf_printf(&key, "tags %s/%s", host, repo)
		   : buf_printf(&key, "catalog %s", host);
	if (ret)
		goto out;
	if (cached(s, buf_str(&key), out, &result)) {
		ret = result;
		goto out;
	}
	ret = repo ? registry_tags_list(s->reg, host, repo, s->list_page, &got)
		   : registry_catalog_list(s->reg, host, s->list_page, &got);
	if (ret == -ENOMEM || ret == -EINVAL)
		goto out;
	remember(s, buf_str(&key), ret, &got);
	if (!ret) {
		*out = got;
		memset(&got, 0, sizeof(got));
	}
out:
	registry_names_release(&got);
	buf_release(&key);
	return ret;
}

int store_remote_catalog(struct store *s, const char *host, struct registry_names *out)
{
	return remote_list(s, host, NULL, out);
}

int store_remote_tags(struct store *s, const char *host, const char *repo,
		      struct registry_names *out)
{
	return remote_list(s, host, repo, out);
}

/* Whether answer key @k (pull.c's "<kind> host/name...") is of @host:
 * all of them go, which costs at most a request per name again. */
static bool answer_of(const char *k, const char *host)
{
	size_t hl = strlen(host);
	const char *sp = strchr(k, ' ');

	return sp && strncmp(sp + 1, host, hl) == 0 && sp[1 + hl] == '/';
}

void store_remote_forget(struct store *s, const char *host, const char *repo)
{
	struct buf key;
	size_t it;

	buf_init(&key, 1100);
	pthread_mutex_lock(&s->lock);
	if (!buf_printf(&key, "catalog %s", host))
		list_free(htab_del(&s->lists, buf_str(&key)));
	buf_reset(&key);
	if (!buf_printf(&key, "tags %s/%s", host, repo))
		list_free(htab_del(&s->lists, buf_str(&key)));
	for (struct htab_ent *e = htab_first(&s->answers, &it); e;) {
		struct htab_ent *next = htab_next(&s->answers, &it, e);

		if (answer_of(e->key, host))
			free(htab_del(&s->answers, e->key));
		e = next;
	}
	pthread_mutex_unlock(&s->lock);
	buf_release(&key);
}

int store_remote_delete(struct store *s, const char *host, const char *repo,
			const char *tag)
{
	char digest[72];
	struct buf key;
	int ret;

	if (!s->reg)
		return -EROFS;
	ret = store_tag_key(host, repo, tag, &key);
	if (ret)
		return ret;
	ret = registry_manifest_delete(s->reg, host, repo, tag, digest);
	/* Whatever the answer, the lists may be stale now. */
	store_remote_forget(s, host, repo);
	if (ret && ret != -ENOMEM)
		store_error_note(s, buf_str(&key), ret, NULL);
	buf_release(&key);
	return ret;
}
