/* SPDX-License-Identifier: MIT */
/*
 * status.c - the content of /status: what the store is doing (each
 * transfer, span fetch, index build, write and push in flight, with
 * bytes done of total, rate and ETA), what of each image is local (the share of its
 * compressed layer bytes fetched, how many layers are indexed) and the
 * last errors with their causes, under a line with the store's size.
 * The store keeps the bookkeeping (progress.c); this file only lays it
 * out, in sections a person reads and a script can grep ("store:", "in
 * flight:", "images:", "errors:").
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fs.h"
#include "registry.h"
#include "table.h"

static const char *const op_kind[] = {
	[STORE_OP_BLOB] = "download",
	[STORE_OP_CHUNKS] = "chunks",
	[STORE_OP_INDEX] = "index",
	[STORE_OP_WRITE] = "write",
	[STORE_OP_PUSH] = "push",
};

static int render_ops(const struct store_status *st, struct buf *out)
{
	int ret = buf_printf(out, "in flight: %zu\n", st->n_ops);

	if (!ret && st->n_ops)
		ret = buf_printf(out, "  %-8s  %-19s  %10s  %10s  %4s  %10s  %6s  %s\n",
				 "KIND", "OBJECT", "DONE", "TOTAL", "%", "RATE",
				 "ETA", "FOR");
	for (size_t i = 0; i < st->n_ops && !ret; i++) {
		const struct store_op_info *o = &st->ops[i];
		double rate = o->secs > 0 ? (double)o->done / o->secs : 0;
		char done[32], total[32] = "?", pct[8] = "?", rs[32], eta[32] = "?";

		fs_human_size(o->done, done, sizeof(done));
		fs_human_size((uint64_t)rate, rs, sizeof(rs));
		if (o->total) {
			fs_human_size(o->total, total, sizeof(total));
			snprintf(pct, sizeof(pct), "%.0f",
				 100.0 * (double)o->done / (double)o->total);
			if (rate > 0)
				snprintf(eta, sizeof(eta), "%.0fs",
					 (double)(o->total - (o->done < o->total ? o->done : o->total)) / rate);
		}
		ret = buf_printf(out, "  %-8s  %-19.19s  %10s  %10s  %4s  %8s/s  %6s  %s\n",
				 op_kind[o->kind], o->object[0] ? o->object : "-",
				 done, total, pct, rs, eta, o->what);
	}
	return ret;
}

/* The names of image @id: "repo:tag, ..." or "<none>". */
static int image_names(struct fs_ctx *ctx, const struct store_tag *tags,
		       size_t n_tags, const char *id, struct buf *names)
{
	int ret = 0;

	for (size_t i = 0; i < n_tags && !ret; i++) {
		char *fam;

		if (strcmp(tags[i].id, id) != 0)
			continue;
		fam = registry_ref_familiar(tags[i].host, tags[i].repo,
					    ctx->default_host);
		if (!fam)
			return -ENOMEM;
		ret = buf_printf(names, "%s%s:%s", names->len ? ", " : "", fam,
				 tags[i].tag);
		free(fam);
	}
	if (!ret && !names->len)
		ret = buf_addstr(names, "<none>");
	return ret;
}

static int render_images(struct fs_ctx *ctx, struct buf *out)
{
	struct store_tag *tags = NULL;
	size_t n_tags = 0, n = 0, i = 0;
	char **ids = NULL;
	int ret;

	ret = store_tag_list(ctx->store, &tags, &n_tags);
	if (!ret)
		ret = store_image_list(ctx->store, &ids, &n);
	if (!ret)
		ret = buf_printf(out, "\nimages: %zu\n", n);
	if (!ret && n)
		ret = buf_printf(out, "  %-12s  %10s  %10s  %6s  %-7s  %-5s  %s\n",
				 "IMAGE ID", "FETCHED", "LAYERS", "SHARE",
				 "INDEXED", "TREE", "NAMES");
	for (; i < n && !ret; i++) {
		struct store_image_cache c;
		struct store_image *img;
		char fetched[32], bytes[32];
		struct buf names;

		if (store_image_get(ctx->store, ids[i], &img))
			continue;	/* deleted meanwhile */
		store_image_cached(ctx->store, img, &c);
		buf_init(&names, 1 << 16);
		ret = image_names(ctx, tags, n_tags, ids[i], &names);
		fs_human_size(c.fetched, fetched, sizeof(fetched));
		fs_human_size(c.bytes, bytes, sizeof(bytes));
		if (!ret)
			ret = buf_printf(out, "  %-12.12s  %10s  %10s  %5.1f%%  %3zu/%-3zu  %-5s  %s\n",
					 ids[i], fetched, bytes,
					 c.bytes ? 100.0 * (double)c.fetched / (double)c.bytes : 100.0,
					 c.n_indexed, c.n_layers,
					 store_image_rootfs_state(img) == STORE_ROOTFS_READY ?
					 "ready" : "no", buf_str(&names));
		buf_release(&names);
		store_image_put(ctx->store, img);
	}
	for (size_t j = 0; j < n; j++)
		free(ids[j]);
	free(ids);
	store_tag_list_free(tags, n_tags);
	return ret;
}

static int render_errors(const struct store_status *st, struct buf *out)
{
	int ret = buf_printf(out, "\nerrors: %" PRIu64 " (the last %zu below)\n",
			     st->errs_total, st->n_errs);

	if (!ret && st->n_errs)
		ret = buf_printf(out, "  %-20s  %-12s  %-40s  %s\n", "TIME", "ERRNO",
				 "OBJECT", "CAUSE");
	/* Newest first, as a person looks for the last one. */
	for (size_t i = st->n_errs; i-- > 0 && !ret;) {
		const struct store_error_info *e = &st->errs[i];
		const char *name = strerrorname_np(-e->err);
		time_t t = (time_t)e->when;
		char when[32] = "?";
		struct tm tm;

		if (gmtime_r(&t, &tm))
			strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
		ret = buf_printf(out, "  %-20s  %-12s  %-40s  %s\n", when,
				 name ? name : "?", e->object, e->cause);
	}
	return ret;
}

/* The store's size and room, as df shows them. */
static int render_store(struct fs_ctx *ctx, struct buf *out)
{
	uint64_t bytes, files;
	struct statvfs fs;
	char used[32], avail[32];
	int ret;

	ret = store_usage(ctx->store, &bytes, &files, &fs);
	if (ret)
		return ret;
	fs_human_size(bytes, used, sizeof(used));
	fs_human_size((uint64_t)fs.f_bavail * fs.f_frsize, avail, sizeof(avail));
	return buf_printf(out, "store: %s in %" PRIu64 " blobs, %s available\n\n",
			  used, files, avail);
}

int fs_status_text(struct fs_ctx *ctx, struct buf *out)
{
	struct store_status st;
	int ret;

	ret = store_status_get(ctx->store, &st);
	if (ret)
		return ret;
	ret = render_store(ctx, out);
	if (!ret)
		ret = render_ops(&st, out);
	if (!ret)
		ret = render_images(ctx, out);
	if (!ret)
		ret = render_errors(&st, out);
	store_status_release(&st);
	return ret;
}
