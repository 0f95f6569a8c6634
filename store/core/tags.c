/* SPDX-License-Identifier: MIT */
/*
 * tags.c - tags.json, the table of local tags (host/repo:tag -> image id).
 *
 * The whole table is rewritten on every change through
 * store_write_atomic() (tmp/, fsync, rename, fsync dir): tags are few and
 * small, and a single file makes every change - including "drop every tag
 * of this image" - one atomic step that a crash cannot split.
 *
 * Format: {"version": 1, "tags": [{"host", "repo", "tag", "id",
 * "source": {"host", "repo", "manifest"}}, ...]}.  "source" is the
 * manifest a pulled tag was pulled as, and from where: the same config
 * (id) may be pulled from several registries, each with its own manifest,
 * and each tag shows its own.  It is absent for tags made locally, and in
 * files written before it existed: such a tag shows its image's first
 * manifest.
 * In memory the table is s->tags keyed "host/repo:tag" (no component can
 * contain the separator in its position: hosts have no '/', tags no ':'),
 * read under s->lock; changes are made under s->meta_lock, persisted
 * first and then applied to memory.
 */
#include "store_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "log.h"

#define STORE_TAGS_FILE "tags.json"

static void tagent_free(struct store_tagent *t)
{
	if (!t)
		return;
	free(t->host);
	free(t->repo);
	free(t->tag);
	free(t->src_host);
	free(t->src_repo);
	free(t);
}

int store_tag_key(const char *host, const char *repo, const char *tag,
		  struct buf *key)
{
	if (!host || !repo || !tag || !registry_host_valid(host) || !registry_repo_valid(repo) ||
	    !registry_tag_valid(tag))
		return -EINVAL;
	buf_init(key, 1024);
	return buf_printf(key, "%s/%s:%s", host, repo, tag);
}

/* A new entry; @src_host, @src_repo and @mdigest are all NULL (no source
 * of its own) or all set. */
static int tagent_new(const char *host, const char *repo, const char *tag,
		      const char *id, const char *src_host, const char *src_repo,
		      const char *mdigest, struct store_tagent **out)
{
	struct store_tagent *t = calloc(1, sizeof(*t));

	if (!t)
		return -ENOMEM;
	t->host = strdup(host);
	t->repo = strdup(repo);
	t->tag = strdup(tag);
	memcpy(t->id, id, 64);
	t->id[64] = '\0';
	if (src_host) {
		t->src_host = strdup(src_host);
		t->src_repo = strdup(src_repo);
		snprintf(t->manifest, sizeof(t->manifest), "%s", mdigest);
	}
	if (!t->host || !t->repo || !t->tag ||
	    (src_host && (!t->src_host || !t->src_repo))) {
		tagent_free(t);
		return -ENOMEM;
	}
	*out = t;
	return 0;
}

void store_tags_free(struct store *s)
{
	size_t it;

	for (struct htab_ent *e = htab_first(&s->tags, &it); e;
	     e = htab_next(&s->tags, &it, e))
		tagent_free(e->val);
	htab_release(&s->tags);
}

/* One entry of tags.json into the table; invalid ones are skipped. */
static int load_one(struct store *s, json_t *o)
{
	const char *host = json_string_value(json_object_get(o, "host"));
	const char *repo = json_string_value(json_object_get(o, "repo"));
	const char *tag = json_string_value(json_object_get(o, "tag"));
	const char *id = json_string_value(json_object_get(o, "id"));
	json_t *src = json_object_get(o, "source");
	const char *sh = json_string_value(json_object_get(src, "host"));
	const char *sr = json_string_value(json_object_get(src, "repo"));
	const char *sm = json_string_value(json_object_get(src, "manifest"));
	struct store_tagent *t;
	struct buf key;
	char name[80];
	void *old = NULL;
	int ret;

	if (!id || !registry_hex_valid(id, 64, 64) ||
	    store_tag_key(host, repo, tag, &key)) {
		log_warn("store: tags.json: skipping an invalid entry");
		s->tags_skipped++;
		return 0;
	}
	snprintf(name, sizeof(name), "%s.json", id);
	if (faccessat(s->images_fd, name, F_OK, AT_SYMLINK_NOFOLLOW) < 0) {
		log_warn("store: tag %s names missing image %.12s; ignored",
			 buf_str(&key), id);
		s->tags_skipped++;
		ret = 0;
		goto out;
	}
	if (src && (!sh || !sr || !sm || !registry_host_valid(sh) ||
		    !registry_repo_valid(sr) || !registry_digest_valid(sm))) {
		log_warn("store: tag %s: invalid source; ignored", buf_str(&key));
		sh = sr = sm = NULL;
	}
	ret = tagent_new(host, repo, tag, id, sh, sr, sm, &t);
	if (ret)
		goto out;
	ret = htab_set(&s->tags, buf_str(&key), t, &old);
	if (ret)
		tagent_free(t);
	tagent_free(old);
out:
	buf_release(&key);
	return ret;
}

int store_tags_load(struct store *s)
{
	json_t *root = NULL, *arr;
	json_error_t jerr;
	struct buf b;
	size_t i;
	int ret;

	ret = file_read_capped(s->root_fd, STORE_TAGS_FILE, STORE_TAGS_MAX, &b);
	if (ret == -ENOENT)
		return 0;
	if (ret) {
		log_err("store: cannot read %s/%s: %s", s->dir, STORE_TAGS_FILE, strerror(-ret));
		return ret;
	}
	root = json_loadb(buf_str(&b), b.len, JSON_REJECT_DUPLICATES, &jerr);
	arr = root ? json_object_get(root, "tags") : NULL;
	if (!json_is_array(arr)) {
		log_err("store: %s/%s is corrupt (%s)", s->dir, STORE_TAGS_FILE,
			root ? "no tags array" : jerr.text);
		ret = -EIO;
		goto out;
	}
	for (i = 0; i < json_array_size(arr); i++) {
		json_t *o = json_array_get(arr, i);

		ret = json_is_object(o) ? load_one(s, o) : 0;
		if (ret)
			goto out;
	}
out:
	json_decref(root);
	buf_release(&b);
	return ret;
}

/* One entry of tags.json (NULL when out of memory). */
static json_t *tagent_json(const struct store_tagent *t)
{
	json_t *o = json_pack("{s:s, s:s, s:s, s:s}", "host", t->host, "repo", t->repo,
			      "tag", t->tag, "id", t->id);

	if (o && t->src_host &&
	    json_object_set_new(o, "source", json_pack("{s:s, s:s, s:s}",
			"host", t->src_host, "repo", t->src_repo,
			"manifest", t->manifest))) {
		json_decref(o);
		return NULL;
	}
	return o;
}

/*
 * tags_save_locked - write the table, without @drop_key, @drop_key2 (both
 * may be NULL) and tags naming @drop_id, plus @add, to tags.json.  Under
 * meta_lock: nobody else changes s->tags meanwhile, so reading it needs
 * no s->lock.
 */
static int tags_save_locked(struct store *s, const char *drop_key, const char *drop_key2,
			    const char *drop_id, const struct store_tagent *add)
{
	json_t *root = json_object(), *arr = json_array();
	char *js = NULL;
	size_t it;
	int ret = -ENOMEM;

	if (!root || !arr || json_object_set_new(root, "version", json_integer(1)) ||
	    json_object_set_new(root, "tags", arr)) {
		json_decref(arr);
		arr = NULL;
		goto out;
	}
	for (struct htab_ent *e = htab_first(&s->tags, &it); e;
	     e = htab_next(&s->tags, &it, e)) {
		const struct store_tagent *t = e->val;

		if ((drop_key && !strcmp(e->key, drop_key)) ||
		    (drop_key2 && !strcmp(e->key, drop_key2)) ||
		    (drop_id && !strcmp(t->id, drop_id)))
			continue;
		if (json_array_append_new(arr, tagent_json(t)))
			goto out;
	}
	if (add && json_array_append_new(arr, tagent_json(add)))
		goto out;
	js = json_dumps(root, JSON_INDENT(1));
	if (!js)
		goto out;
	ret = store_write_atomic(s, s->root_fd, STORE_TAGS_FILE, js, strlen(js));
out:
	free(js);
	json_decref(root);
	return ret;
}

int store_tags_drop_locked(struct store *s, const char *drop_key, const char *drop_id)
{
	size_t it;
	int ret;

	ret = tags_save_locked(s, drop_key, NULL, drop_id, NULL);
	if (ret)
		return ret;
	pthread_mutex_lock(&s->lock);
	if (drop_key)
		tagent_free(htab_del(&s->tags, drop_key));
	if (drop_id) {
		struct htab_ent *e = htab_first(&s->tags, &it);

		while (e) {
			struct htab_ent *next = htab_next(&s->tags, &it, e);
			struct store_tagent *t = e->val;

			if (!strcmp(t->id, drop_id))
				tagent_free(htab_del(&s->tags, e->key));
			e = next;
		}
	}
	pthread_mutex_unlock(&s->lock);
	return 0;
}

bool store_tags_name_source_locked(struct store *s, const char *id, const char *mdigest)
{
	size_t it;

	for (struct htab_ent *e = htab_first(&s->tags, &it); e;
	     e = htab_next(&s->tags, &it, e)) {
		const struct store_tagent *t = e->val;

		if (!strcmp(t->id, id) && !strcmp(t->manifest, mdigest))
			return true;
	}
	return false;
}

bool store_tags_name_id_locked(struct store *s, const char *id, const char *except_key)
{
	size_t it;

	for (struct htab_ent *e = htab_first(&s->tags, &it); e;
	     e = htab_next(&s->tags, &it, e)) {
		const struct store_tagent *t = e->val;

		if (!strcmp(t->id, id) && (!except_key || strcmp(e->key, except_key)))
			return true;
	}
	return false;
}

int store_tag_get(struct store *s, const char *host, const char *repo,
		  const char *tag, char id[65])
{
	struct store_tagent *t;
	struct buf key;
	int ret;

	ret = store_tag_key(host, repo, tag, &key);
	if (ret)
		return ret == -EINVAL ? -ENOENT : ret;
	pthread_mutex_lock(&s->lock);
	t = htab_get(&s->tags, buf_str(&key));
	if (t)
		memcpy(id, t->id, 65);
	pthread_mutex_unlock(&s->lock);
	buf_release(&key);
	return t ? 0 : -ENOENT;
}

static int cmp_tag(const void *a, const void *b)
{
	const struct store_tag *x = a, *y = b;
	int c = strcmp(x->host, y->host);

	if (!c)
		c = strcmp(x->repo, y->repo);
	return c ? c : strcmp(x->tag, y->tag);
}

void store_tag_list_free(struct store_tag *tags, size_t n)
{
	for (size_t i = 0; tags && i < n; i++) {
		free(tags[i].host);
		free(tags[i].repo);
		free(tags[i].tag);
	}
	free(tags);
}

int store_tag_list(struct store *s, struct store_tag **tags, size_t *n)
{
	struct store_tag *v;
	size_t k = 0, it;
	int ret = 0;

	pthread_mutex_lock(&s->lock);
	v = calloc(s->tags.n ? s->tags.n : 1, sizeof(*v));
	if (!v) {
		ret = -ENOMEM;
		goto out;
	}
	for (struct htab_ent *e = htab_first(&s->tags, &it); e;
	     e = htab_next(&s->tags, &it, e)) {
		const struct store_tagent *t = e->val;

		v[k].host = strdup(t->host);
		v[k].repo = strdup(t->repo);
		v[k].tag = strdup(t->tag);
		memcpy(v[k].id, t->id, 65);
		memcpy(v[k].manifest, t->manifest, sizeof(v[k].manifest));
		k++;
		if (!v[k - 1].host || !v[k - 1].repo || !v[k - 1].tag) {
			ret = -ENOMEM;
			goto out;
		}
	}
out:
	pthread_mutex_unlock(&s->lock);
	if (ret) {
		store_tag_list_free(v, k);
		return ret;
	}
	if (k)
		qsort(v, k, sizeof(*v), cmp_tag);
	*tags = v;
	*n = k;
	return 0;
}

int store_tag_set(struct store *s, const char *host, const char *repo,
		  const char *tag, const char *id)
{
	return store_tag_set_source(s, host, repo, tag, id, NULL, NULL, NULL);
}

/* Make tag @key name @id with its source; under meta_lock. */
static int tag_set_locked(struct store *s, const char *key, const char *host,
			  const char *repo, const char *tag, const char *id,
			  const char *src_host, const char *src_repo,
			  const char *mdigest)
{
	struct store_tagent *t = NULL;
	char full[65];
	void *old = NULL;
	int ret;

	ret = store_image_resolve(s, id, full);
	if (ret)
		goto out;
	ret = tagent_new(host, repo, tag, full, src_host, src_repo, mdigest, &t);
	if (ret)
		goto out;
	ret = tags_save_locked(s, key, NULL, NULL, t);
	if (ret)
		goto out;
	pthread_mutex_lock(&s->lock);
	ret = htab_set(&s->tags, key, t, &old);
	pthread_mutex_unlock(&s->lock);
	if (!ret)
		t = NULL;
	tagent_free(old);
out:
	tagent_free(t);
	return ret;
}

int store_tag_set_source(struct store *s, const char *host, const char *repo,
			 const char *tag, const char *id, const char *src_host,
			 const char *src_repo, const char *mdigest)
{
	struct buf key;
	int ret;

	ret = store_tag_key(host, repo, tag, &key);
	if (ret)
		return ret;
	pthread_mutex_lock(&s->meta_lock);
	ret = tag_set_locked(s, buf_str(&key), host, repo, tag, id, src_host,
			     src_repo, mdigest);
	pthread_mutex_unlock(&s->meta_lock);
	buf_release(&key);
	return ret;
}

int store_tags_set_locked(struct store *s, const char *id,
			  struct store_tag_name *tags, size_t n)
{
	int ret = 0;

	for (size_t i = 0; i < n && !ret; i++) {
		struct store_tag_name *t = &tags[i];
		struct buf key;

		t->set = false;
		t->old_id[0] = '\0';
		ret = store_tag_key(t->host, t->repo, t->tag, &key);
		if (ret)
			break;
		ret = store_tag_get(s, t->host, t->repo, t->tag, t->old_id);
		if (ret == -ENOENT)
			ret = 0;
		if (!ret)
			ret = tag_set_locked(s, buf_str(&key), t->host, t->repo,
					     t->tag, id, NULL, NULL, NULL);
		t->set = ret == 0;
		buf_release(&key);
	}
	return ret;
}

int store_tag_remove(struct store *s, const char *host, const char *repo,
		     const char *tag)
{
	struct store_tagent *t;
	struct buf key;
	char id[65];
	int ret;

	ret = store_tag_key(host, repo, tag, &key);
	if (ret)
		return ret == -EINVAL ? -ENOENT : ret;
	pthread_mutex_lock(&s->meta_lock);
	t = htab_get(&s->tags, buf_str(&key));
	if (!t) {
		ret = -ENOENT;
		goto out;
	}
	memcpy(id, t->id, 65);
	if (store_tags_name_id_locked(s, id, buf_str(&key)))
		ret = store_tags_drop_locked(s, buf_str(&key), NULL);
	else	/* its last tag: `docker rmi` deletes the image too */
		ret = store_image_delete_locked(s, id);
	if (ret == -ENOENT)	/* the record is gone already */
		ret = store_tags_drop_locked(s, buf_str(&key), NULL);
out:
	pthread_mutex_unlock(&s->meta_lock);
	buf_release(&key);
	return ret;
}

int store_tag_rename(struct store *s, const char *host, const char *repo,
		     const char *tag, const char *nhost, const char *nrepo,
		     const char *ntag, const char *expect_id, bool noreplace)
{
	struct store_tagent *t, *nt = NULL;
	struct buf key, nkey;
	void *old = NULL;
	int ret;

	ret = store_tag_key(host, repo, tag, &key);
	if (ret)
		return ret == -EINVAL ? -ENOENT : ret;
	ret = store_tag_key(nhost, nrepo, ntag, &nkey);
	if (ret) {
		buf_release(&key);
		return ret;
	}
	pthread_mutex_lock(&s->meta_lock);
	/* meta_lock: no writer of s->tags but us, so it is read unlocked. */
	t = htab_get(&s->tags, buf_str(&key));
	if (!t) {
		ret = -ENOENT;
		goto out;
	}
	if (strcmp(t->id, expect_id) != 0) {
		log_info("tag %s names image %.12s now, not %.12s: not renamed",
			 buf_str(&key), t->id, expect_id);
		ret = -ESTALE;
		goto out;
	}
	if (!strcmp(buf_str(&key), buf_str(&nkey)))
		goto out;
	if (noreplace && htab_get(&s->tags, buf_str(&nkey))) {
		ret = -EEXIST;
		goto out;
	}
	ret = tagent_new(nhost, nrepo, ntag, t->id, t->src_host, t->src_repo,
			 t->manifest, &nt);
	if (ret)
		goto out;
	/* One write drops the old name, the new one's old entry and adds
	 * it: a crash leaves one of the two tables, never neither name. */
	ret = tags_save_locked(s, buf_str(&key), buf_str(&nkey), NULL, nt);
	if (ret)
		goto out;
	pthread_mutex_lock(&s->lock);
	ret = htab_set(&s->tags, buf_str(&nkey), nt, &old);
	if (!ret) {
		nt = NULL;
		tagent_free(htab_del(&s->tags, buf_str(&key)));
	}
	pthread_mutex_unlock(&s->lock);
	tagent_free(old);
out:
	pthread_mutex_unlock(&s->meta_lock);
	tagent_free(nt);
	buf_release(&key);
	buf_release(&nkey);
	return ret;
}

int store_tag_manifest(struct store *s, const char *host, const char *repo,
		       const char *tag, struct buf *out)
{
	struct store_tagent *t;
	struct store_image *img;
	char mdigest[72] = "", id[65];
	struct buf key;
	int ret;

	buf_init(out, BUF_MANIFEST_MAX);
	ret = store_tag_key(host, repo, tag, &key);
	if (ret)
		return ret == -EINVAL ? -ENOENT : ret;
	pthread_mutex_lock(&s->lock);
	t = htab_get(&s->tags, buf_str(&key));
	if (t) {
		memcpy(id, t->id, sizeof(id));
		memcpy(mdigest, t->manifest, sizeof(mdigest));
	}
	pthread_mutex_unlock(&s->lock);
	buf_release(&key);
	if (!t)
		return -ENOENT;
	if (mdigest[0]) {
		ret = store_blob_read(s, mdigest, BUF_MANIFEST_MAX, out);
		if (ret == -ENOENT) {
			log_err("tag %s/%s:%s: its manifest %s is not in the store", host,
				repo, tag, mdigest);
			ret = -EIO;
		}
		return ret;
	}
	ret = store_image_get(s, id, &img);
	if (ret)
		return ret;
	ret = buf_add(out, img->manifest.data, img->manifest.len);
	store_image_put(s, img);
	return ret;
}
