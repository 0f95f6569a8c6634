/* SPDX-License-Identifier: MIT */
/*
 * table.h - the `docker images` table, in Docker's own formats.
 *
 * FUSE-free so that the formats are unit-tested: sizes as go-units
 * HumanSizeWithPrecision(size, 3) (decimal units, "%.3g"), ages as
 * go-units HumanDuration + " ago", columns laid out as the Docker CLI's
 * tabwriter does (min width 10, padding 3).
 */
#ifndef IMGFS_FS_TABLE_H
#define IMGFS_FS_TABLE_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

struct fs_table_row {
	const char *repo;	/* "<none>" for dangling */
	const char *tag;
	const char *id;		/* full hex; shown as 12 */
	int64_t created;	/* epoch seconds, 0 unknown */
	uint64_t size;
};

void fs_human_size(uint64_t size, char *out, size_t len);
void fs_human_duration(int64_t seconds, char *out, size_t len);
/* Rows are shown newest first (ties by repository, tag), as Docker does. */
int fs_table_render(struct fs_table_row *rows, size_t n, int64_t now,
		    struct buf *out);

#endif
