/* SPDX-License-Identifier: MIT */
/*
 * tar_mem.h - unit tests write small tar layers into memory the same way:
 * pax headers (what umoci and Docker write), optionally gzip, no padding
 * to a 10 KiB block so the sizes the tests check are the archive's own.
 */
#ifndef IMGFS_TEST_TAR_MEM_H
#define IMGFS_TEST_TAR_MEM_H

#include <stdbool.h>
#include <stdlib.h>

#include <archive.h>

/* Open @a (from archive_write_new) to write into @out (@cap bytes);
 * *@used follows the bytes written.  Aborts the test on failure. */
static inline void tar_mem_open(struct archive *a, bool gz, void *out,
				size_t cap, size_t *used)
{
	archive_write_set_format_pax_restricted(a);
	if (gz)
		archive_write_add_filter_gzip(a);
	archive_write_set_bytes_in_last_block(a, 1);
	if (archive_write_open_memory(a, out, cap, used) != ARCHIVE_OK)
		abort();
}

#endif
