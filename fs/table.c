/* SPDX-License-Identifier: MIT */
/*
 * table.c - `docker images` formatting.  See table.h.
 */
#include "table.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void fs_human_size(uint64_t size, char *out, size_t len)
{
	static const char *const units[] = { "B", "kB", "MB", "GB", "TB", "PB", "EB" };
	double v = (double)size;
	size_t i = 0;

	while (v >= 1000.0 && i < sizeof(units) / sizeof(units[0]) - 1) {
		v /= 1000.0;
		i++;
	}
	snprintf(out, len, "%.3g%s", v, units[i]);
}

void fs_human_duration(int64_t s, char *out, size_t len)
{
	int64_t minutes = s / 60, hours = (s + 1800) / 3600;

	if (s < 1)
		snprintf(out, len, "Less than a second");
	else if (s == 1)
		snprintf(out, len, "1 second");
	else if (s < 60)
		snprintf(out, len, "%lld seconds", (long long)s);
	else if (minutes == 1)
		snprintf(out, len, "About a minute");
	else if (minutes < 60)
		snprintf(out, len, "%lld minutes", (long long)minutes);
	else if (hours == 1)
		snprintf(out, len, "About an hour");
	else if (hours < 48)
		snprintf(out, len, "%lld hours", (long long)hours);
	else if (hours < 24 * 7 * 2)
		snprintf(out, len, "%lld days", (long long)(hours / 24));
	else if (hours < 24 * 30 * 2)
		snprintf(out, len, "%lld weeks", (long long)(hours / 24 / 7));
	else if (hours < 24 * 365 * 2)
		snprintf(out, len, "%lld months", (long long)(hours / 24 / 30));
	else
		snprintf(out, len, "%lld years", (long long)(s / 3600 / 24 / 365));
}

static int row_cmp(const void *a, const void *b)
{
	const struct fs_table_row *x = a, *y = b;
	int c;

	if (x->created != y->created)
		return x->created > y->created ? -1 : 1;
	c = strcmp(x->repo, y->repo);
	return c ? c : strcmp(x->tag, y->tag);
}

#define NCOL 5
#define MINWIDTH 10
#define PADDING 3

int fs_table_render(struct fs_table_row *rows, size_t n, int64_t now,
		    struct buf *out)
{
	static const char *const head[NCOL] = { "REPOSITORY", "TAG", "IMAGE ID",
						"CREATED", "SIZE" };
	char (*cells)[NCOL][160] = NULL;
	size_t width[NCOL];
	int ret = 0;

	qsort(rows, n, sizeof(*rows), row_cmp);
	cells = calloc(n + 1, sizeof(*cells));
	if (!cells)
		return -ENOMEM;
	for (int c = 0; c < NCOL; c++)
		snprintf(cells[0][c], sizeof(cells[0][c]), "%s", head[c]);
	for (size_t r = 0; r < n; r++) {
		char dur[48];

		snprintf(cells[r + 1][0], 160, "%s", rows[r].repo);
		snprintf(cells[r + 1][1], 160, "%s", rows[r].tag);
		snprintf(cells[r + 1][2], 160, "%.12s", rows[r].id);
		if (rows[r].created > 0) {
			fs_human_duration(now - rows[r].created, dur, sizeof(dur));
			snprintf(cells[r + 1][3], 160, "%s ago", dur);
		} else {
			snprintf(cells[r + 1][3], 160, "N/A");
		}
		fs_human_size(rows[r].size, cells[r + 1][4], 64);
	}
	for (int c = 0; c < NCOL; c++) {
		width[c] = MINWIDTH;
		for (size_t r = 0; r <= n; r++) {
			const char *s = (r > 0 && c == 0) ? rows[r - 1].repo : cells[r][c];
			size_t w = strlen(s) + PADDING;

			if (w > width[c])
				width[c] = w;
		}
	}
	/* Repository names can be longer than a cell: that column is
	 * printed from the row itself, never cut. */
	for (size_t r = 0; r <= n && !ret; r++) {
		for (int c = 0; c < NCOL && !ret; c++) {
			const char *s = cells[r][c];

			if (r > 0 && c == 0)
				s = rows[r - 1].repo;
			if (c == NCOL - 1)
				ret = buf_printf(out, "%s\n", s);
			else
				ret = buf_printf(out, "%-*s", (int)width[c], s);
		}
	}
	free(cells);
	return ret;
}
