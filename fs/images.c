/* SPDX-License-Identifier: MIT */
/*
 * images.c - the content of /images: `docker images`, one row per local
 * tag and one "<none> <none>" row per untagged image.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fs.h"
#include "registry.h"
#include "table.h"

int fs_images_table(struct fs_ctx *ctx, struct buf *out)
{
	struct store_tag *tags = NULL;
	struct fs_table_row *rows = NULL;
	char **names = NULL;
	char **dangling = NULL;
	size_t n_tags = 0, n_dangling = 0, n = 0;
	int ret;

	ret = store_tag_list(ctx->store, &tags, &n_tags);
	if (ret)
		goto out;
	ret = store_image_dangling(ctx->store, &dangling, &n_dangling);
	if (ret)
		goto out;
	rows = calloc(n_tags + n_dangling + 1, sizeof(*rows));
	names = calloc(n_tags + 1, sizeof(*names));
	if (!rows || !names) {
		ret = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < n_tags + n_dangling; i++) {
		bool tagged = i < n_tags;
		const char *id = tagged ? tags[i].id : dangling[i - n_tags];
		struct store_image *img;

		if (store_image_get(ctx->store, id, &img))
			continue;	/* deleted meanwhile */
		rows[n].id = tagged ? tags[i].id : dangling[i - n_tags];
		rows[n].created = store_image_created(img);
		rows[n].size = store_image_size(ctx->store, img);
		store_image_put(ctx->store, img);
		if (tagged) {
			names[i] = registry_ref_familiar(tags[i].host, tags[i].repo,
							 ctx->default_host);
			if (!names[i]) {
				ret = -ENOMEM;
				goto out;
			}
			rows[n].repo = names[i];
			rows[n].tag = tags[i].tag;
		} else {
			rows[n].repo = "<none>";
			rows[n].tag = "<none>";
		}
		n++;
	}
	ret = fs_table_render(rows, n, (int64_t)time(NULL), out);
out:
	for (size_t i = 0; names && i < n_tags; i++)
		free(names[i]);
	for (size_t i = 0; i < n_dangling; i++)
		free(dangling[i]);
	free(dangling);
	free(names);
	free(rows);
	store_tag_list_free(tags, n_tags);
	return ret;
}
