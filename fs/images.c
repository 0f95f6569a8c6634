/* SPDX-License-Identifier: MIT */
/*
 * images.c - the content of /images and /images.json: `docker images`,
 * one row per local tag and one "<none> <none>" row per untagged image;
 * the table for people, the JSON (the same rows, full IDs, manifest
 * digests, sizes in bytes, creation times) for scripts.  Both come from
 * one collection of the rows, so they never disagree.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "fs.h"
#include "registry.h"
#include "table.h"

/* The rows of both files and what they point into. */
struct images_rows {
	struct store_tag *tags;
	size_t n_tags;
	char **dangling;
	size_t n_dangling;
	char **names;			/* familiar names of the tags */
	struct fs_table_row *rows;
	char (*digests)[REGISTRY_DIGEST_LEN + 1];	/* manifest, per row */
	size_t n;
};

static void rows_release(struct images_rows *r)
{
	for (size_t i = 0; r->names && i < r->n_tags; i++)
		free(r->names[i]);
	for (size_t i = 0; i < r->n_dangling; i++)
		free(r->dangling[i]);
	free(r->dangling);
	free(r->names);
	free(r->rows);
	free(r->digests);
	store_tag_list_free(r->tags, r->n_tags);
	memset(r, 0, sizeof(*r));
}

/* Every tag, then every dangling image; images deleted meanwhile are
 * left out.  @r is the caller's to release whatever the result. */
static int rows_collect(struct fs_ctx *ctx, struct images_rows *r)
{
	size_t all;
	int ret;

	memset(r, 0, sizeof(*r));
	ret = store_tag_list(ctx->store, &r->tags, &r->n_tags);
	if (ret)
		return ret;
	ret = store_image_dangling(ctx->store, &r->dangling, &r->n_dangling);
	if (ret)
		return ret;
	all = r->n_tags + r->n_dangling;
	r->rows = calloc(all + 1, sizeof(*r->rows));
	r->digests = calloc(all + 1, sizeof(*r->digests));
	r->names = calloc(r->n_tags + 1, sizeof(*r->names));
	if (!r->rows || !r->digests || !r->names)
		return -ENOMEM;
	for (size_t i = 0; i < all; i++) {
		bool tagged = i < r->n_tags;
		const char *id = tagged ? r->tags[i].id : r->dangling[i - r->n_tags];
		struct fs_table_row *row = &r->rows[r->n];
		struct store_image *img;

		if (store_image_get(ctx->store, id, &img))
			continue;	/* deleted meanwhile */
		row->id = id;
		row->created = store_image_created(img);
		row->size = store_image_size(ctx->store, img);
		snprintf(r->digests[r->n], sizeof(r->digests[r->n]), "%s",
			 store_image_manifest_digest(img));
		store_image_put(ctx->store, img);
		if (tagged) {
			r->names[i] = registry_ref_familiar(r->tags[i].host,
							    r->tags[i].repo,
							    ctx->default_host);
			if (!r->names[i])
				return -ENOMEM;
			row->repo = r->names[i];
			row->tag = r->tags[i].tag;
		} else {
			row->repo = NULL;
			row->tag = NULL;
		}
		r->n++;
	}
	return 0;
}

int fs_images_table(struct fs_ctx *ctx, struct buf *out)
{
	struct images_rows r;
	int ret;

	ret = rows_collect(ctx, &r);
	if (ret)
		goto out;
	for (size_t i = 0; i < r.n; i++) {
		if (!r.rows[i].repo) {
			r.rows[i].repo = "<none>";
			r.rows[i].tag = "<none>";
		}
	}
	ret = fs_table_render(r.rows, r.n, (int64_t)time(NULL), out);
out:
	rows_release(&r);
	return ret;
}

/* @t as RFC 3339 in UTC ("2024-01-31T12:00:00Z"). */
static void rfc3339(int64_t t, char *out, size_t len)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (!gmtime_r(&tt, &tm) || !strftime(out, len, "%Y-%m-%dT%H:%M:%SZ", &tm))
		snprintf(out, len, "%s", "");
}

/* One row as a JSON object; NULL without memory. */
static json_t *row_json(const struct fs_table_row *row, const char *digest)
{
	char id[REGISTRY_DIGEST_LEN + 1], created[40];

	snprintf(id, sizeof(id), "%s%s", REGISTRY_DIGEST_PREFIX, row->id);
	rfc3339(row->created, created, sizeof(created));
	return json_pack("{s:s, s:s?, s:s?, s:s, s:I, s:s?, s:I}",
			 "id", id,
			 "repository", row->repo,
			 "tag", row->tag,
			 "digest", digest,
			 "size", (json_int_t)row->size,
			 "created", row->created > 0 ? created : NULL,
			 "created_unix", (json_int_t)row->created);
}

int fs_images_json(struct fs_ctx *ctx, struct buf *out)
{
	struct images_rows r;
	json_t *arr = NULL;
	char *text = NULL;
	int ret;

	ret = rows_collect(ctx, &r);
	if (ret)
		goto out;
	ret = -ENOMEM;
	arr = json_array();
	if (!arr)
		goto out;
	for (size_t i = 0; i < r.n; i++)
		if (json_array_append_new(arr, row_json(&r.rows[i], r.digests[i])))
			goto out;
	text = json_dumps(arr, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	if (!text)
		goto out;
	ret = buf_add(out, text, strlen(text));
	if (!ret)
		ret = buf_add(out, "\n", 1);
out:
	free(text);
	json_decref(arr);
	rows_release(&r);
	return ret;
}
