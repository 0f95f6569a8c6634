/* SPDX-License-Identifier: MIT */
/*
 * pull.c - `docker pull`, lazily: resolve a tag to a manifest (through an
 * index for multi-platform images), fetch and verify the config, record
 * the image and set the tag, which remembers the manifest it was pulled
 * as (its source; an image may have several, see record.c).  Layers are
 * left for store_image_rootfs().
 *
 * Answers that a name does not exist are remembered for negative_ttl_sec
 * (keyed "pull host/repo:tag" and "repo host/repo"), so that a shell's tab
 * completion in the mount does not send a request per keystroke.
 */
#include "store_int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

/*
 * fetch_manifest - GET the manifest @ref of @host/@repo; if it is an index
 * or list, choose the platform's entry and GET that.  On success @body
 * holds an image manifest.
 */
static int fetch_manifest(struct store *s, const char *host, const char *repo,
			  const char *ref, const char *name, struct buf *body)
{
	struct store_cancel *cancel = store_cancel_current();
	/* The caller's own request: its interruption may stop it at once. */
	struct registry_xfer x = { .stop = cancel ? &cancel->fired : NULL };
	struct registry_desc sel = { 0 };
	enum registry_doc_kind kind;
	char *mt = NULL, *dg = NULL;
	int ret;

	buf_init(body, BUF_MANIFEST_MAX);
	ret = registry_manifest_get(s->reg, host, repo, ref, body, &mt, &dg, &x);
	if (ret)
		goto out;
	ret = registry_doc_kind_of(body->data, body->len, mt, &kind);
	if (ret) {
		log_err("%s: unusable manifest %s (%s): %s", name, dg,
			mt ? mt : "no type", strerror(-ret));
		goto out;
	}
	if (kind == REGISTRY_DOC_MANIFEST)
		goto out;
	ret = registry_index_select(body->data, body->len, &s->platform, &sel);
	if (ret == -ENOENT) {
		log_err("%s: no matching manifest for %s/%s%s%s in the manifest list entries",
			name, s->platform.os, s->platform.arch,
			s->platform.variant[0] ? "/" : "", s->platform.variant);
		goto out;
	}
	if (ret)
		goto out;
	free(mt);
	free(dg);
	mt = dg = NULL;
	buf_release(body);
	buf_init(body, BUF_MANIFEST_MAX);
	ret = registry_manifest_get(s->reg, host, repo, sel.digest, body, &mt, &dg, &x);
	if (ret == -ENOENT) {
		log_err("%s: the index names manifest %s, which the registry does not have",
			name, sel.digest);
		ret = -EIO;	/* not an unknown name: do not cache it as one */
	}
	if (ret)
		goto out;
	ret = registry_doc_kind_of(body->data, body->len, mt, &kind);
	if (!ret && kind != REGISTRY_DOC_MANIFEST) {
		log_err("%s: index entry %s is itself an index", name, sel.digest);
		ret = -ENOTSUP;
	}
out:
	registry_desc_release(&sel);
	free(mt);
	free(dg);
	if (ret == -ECANCELED)
		ret = -EINTR;
	if (ret)
		buf_release(body);
	return ret;
}

/*
 * manifest_limits - refuse a manifest whose layers a pull must not take
 * on: more than STORE_MAX_LAYERS of them (-EIO), or one larger than
 * max_layer_size (-EFBIG), before anything of it is fetched.
 */
static int manifest_limits(struct store *s, const char *name,
			   const struct registry_manifest *m)
{
	if (m->n_layers > STORE_MAX_LAYERS) {
		log_err("%s: refused: the manifest names %zu layers (at most %d)", name,
			m->n_layers, STORE_MAX_LAYERS);
		return -EIO;
	}
	for (size_t i = 0; i < m->n_layers; i++) {
		const struct registry_desc *l = &m->layers[i];

		if (l->size < 0 || (uint64_t)l->size > s->max_layer_size) {
			log_err("%s: refused: layer %s is %lld bytes (max_layer_size %" PRIu64 ")",
				name, l->digest, (long long)l->size, s->max_layer_size);
			return -EFBIG;
		}
	}
	return 0;
}

/*
 * pull - the network part of store_pull(): manifest, config, record; the
 * manifest's digest into @mdigest (the tag's source).  -ENOENT only when
 * the registry said the name or tag does not exist.
 */
static int pull(struct store *s, const char *host, const char *repo,
		const char *tag, const char *name, char id[65], char mdigest[72])
{
	struct registry_manifest m = { 0 };
	struct store_srcs src = { 0 };
	struct buf body;
	int ret;

	ret = fetch_manifest(s, host, repo, tag, name, &body);
	if (ret)
		return ret;
	ret = registry_manifest_parse(body.data, body.len, &m);
	if (ret) {
		log_err("%s: manifest does not parse: %s", name, strerror(-ret));
		ret = ret == -ENOENT ? -EIO : ret;
		goto out;
	}
	ret = store_manifest_check(name, &m);
	if (!ret)
		ret = manifest_limits(s, name, &m);
	if (ret)
		goto out;
	if (m.config.size < 0 || (uint64_t)m.config.size > STORE_CONFIG_MAX) {
		log_err("%s: config %s is %lld bytes (limit %zu)", name,
			m.config.digest, (long long)m.config.size, STORE_CONFIG_MAX);
		ret = -EIO;
		goto out;
	}
	ret = store_srcs_add(&src, host, repo);
	if (!ret)
		ret = store_blob_fetch(s, &src, &m.config);
	if (ret) {
		log_err("%s: cannot fetch config %s: %s", name, m.config.digest,
			strerror(-ret));
		ret = ret == -ENOENT ? -EIO : ret;
		goto out;
	}
	ret = store_blob_add(s, body.data, body.len, mdigest);
	if (ret)
		goto out;
	/* Checks the config (diff_ids) and writes the record. */
	ret = store_image_add(s, body.data, body.len, host, repo, id);
	if (ret == -ENOENT)
		ret = -EIO;
out:
	store_srcs_release(&src);
	registry_manifest_release(&m);
	buf_release(&body);
	return ret;
}

int store_pull(struct store *s, const char *host, const char *repo,
	       const char *tag, char id[65])
{
	struct buf key, name;
	char mdigest[72];
	int ret, cached;

	ret = store_tag_key(host, repo, tag, &key);
	if (ret)
		return ret;
	ret = store_tag_get(s, host, repo, tag, id);
	if (ret != -ENOENT || !s->reg)
		goto out;
	buf_init(&name, 1100);
	ret = buf_printf(&name, "pull %s", buf_str(&key));
	if (ret)
		goto out_name;
	if (store_answer_get(s, buf_str(&name), &cached)) {
		ret = cached;
		goto out_name;
	}
	ret = pull(s, host, repo, tag, buf_str(&key), id, mdigest);
	if (ret)
		store_error_note(s, buf_str(&key), ret, NULL);
	if (ret == -ENOENT) {
		store_answer_set(s, buf_str(&name), ret);
		goto out_name;
	}
	if (ret)
		goto out_name;
	ret = store_tag_set_source(s, host, repo, tag, id, host, repo, mdigest);
	if (!ret)
		log_info("%s: pulled image %.12s", buf_str(&key), id);
out_name:
	buf_release(&name);
out:
	buf_release(&key);
	return ret;
}

/*
 * remote_probe - ask the registry a yes/no question about @host/@name
 * (@probe), remembering both answers like store_pull's misses so that a
 * shell's tab completion does not ask again and again.
 */
static int remote_probe(struct store *s, const char *kind, const char *host,
			const char *name,
			int (*probe)(struct registry_client *, const char *, const char *))
{
	struct buf key;
	int ret, cached;

	if (!s->reg)
		return -ENOENT;
	buf_init(&key, 1100);
	ret = buf_printf(&key, "%s %s/%s", kind, host, name);
	if (ret)
		goto out;
	if (store_answer_get(s, buf_str(&key), &cached)) {
		ret = cached;
		goto out;
	}
	ret = probe(s->reg, host, name);
	if (ret == 0 || ret == -ENOENT)
		store_answer_set(s, buf_str(&key), ret);
	else
		store_error_note(s, buf_str(&key), ret, NULL);
out:
	buf_release(&key);
	return ret;
}

int store_remote_repo_exists(struct store *s, const char *host, const char *repo)
{
	return remote_probe(s, "repo", host, repo, registry_repo_exists);
}

int store_remote_namespace_exists(struct store *s, const char *host,
				  const char *prefix)
{
	return remote_probe(s, "ns", host, prefix, registry_namespace_exists);
}
