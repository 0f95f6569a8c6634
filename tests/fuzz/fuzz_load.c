/* SPDX-License-Identifier: MIT */
/*
 * fuzz_load.c - the archive loader: store_import_* (store/import:
 * import.c deciding what a file is, load.c taking docker-archive and
 * oci-archive entries, plan.c checking the images, and the layer indexer
 * behind them), the path of a file copied into import/.
 *
 * Input: 4 control bytes, then the file.  Control byte 0 picks the name
 * given to the import (none, "fuzz:1", "a/b/c") and whether it is
 * aborted half way; bytes 1-3 are cycled as the sizes of the writes the
 * file arrives in.  Each input gets a new store in a directory under one
 * temporary directory made at start (and removed at exit); nothing else
 * is written anywhere, and the store has no registry (offline).
 *
 * Beyond not crashing: what import.h promises of a failure or an abort
 * -- no image record, no tag, no blob left -- and of any outcome -- an
 * empty tmp/.  A success names what it loaded.
 */
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <sys/stat.h>

#include "fuzz.h"
#include "import.h"
#include "store.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CTL 4

static char base[4096];		/* our temporary directory */
static char dir[4200];		/* the store of the input being run */

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(p);
}

static void rm_tree(const char *p)
{
	nftw(p, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void cleanup(void)
{
	if (base[0])
		rm_tree(base);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *tmp = getenv("TMPDIR");

	(void)argc;
	(void)argv;
	fuzz_log_quiet();
	snprintf(base, sizeof(base), "%s/imgfs-fuzz-load.XXXXXX",
		 tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(base)) {
		perror("fuzz_load: mkdtemp");
		exit(1);
	}
	snprintf(dir, sizeof(dir), "%s/store", base);
	atexit(cleanup);
	return 0;
}

/* Files in @sub of the store, dot files aside. */
static size_t count(const char *sub)
{
	char p[4400];
	struct dirent *d;
	size_t n = 0;
	DIR *dp;

	snprintf(p, sizeof(p), "%s/%s", dir, sub);
	dp = opendir(p);
	if (!dp)
		return 0;
	while ((d = readdir(dp)))
		if (d->d_name[0] != '.')
			n++;
	closedir(dp);
	return n;
}

/* Whether the store has any tag (tags.json with a non-empty array). */
static bool has_tags(void)
{
	char p[4400], b[64] = "";
	FILE *f;
	size_t n;

	snprintf(p, sizeof(p), "%s/tags.json", dir);
	f = fopen(p, "r");
	if (!f)
		return false;
	n = fread(b, 1, sizeof(b) - 1, f);
	fclose(f);
	b[n] = '\0';
	return !strstr(b, "\"tags\":[]") && !strstr(b, "\"tags\": []");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const names[4] = { NULL, "fuzz:1", "a/b/c", NULL };
	struct store_opts opts = { .dir = dir, .index_mem = (uint64_t)64 << 20 };
	struct store_import *im = NULL;
	struct store *s = NULL;
	struct buf result;
	size_t off = 0, k = 0, stop;
	bool abort_it;
	int ret = 0;

	if (size < CTL)
		return 0;
	abort_it = data[0] & 4;
	stop = abort_it ? (size - CTL) / 2 : SIZE_MAX;
	rm_tree(dir);
	FUZZ_CHECK(store_open(&opts, &s) == 0);
	FUZZ_CHECK(store_import_begin(s, names[data[0] & 3], "fuzz", &im) == 0);
	while (off < size - CTL && off < stop && !ret) {
		uint8_t code = data[1 + k++ % (CTL - 1)];
		size_t n = code ? (size_t)code * 97 : 65536;

		if (n > size - CTL - off)
			n = size - CTL - off;
		ret = store_import_write(im, data + CTL + off, n);
		off += n;
	}
	buf_init(&result, (size_t)1 << 20);
	if (abort_it) {
		store_import_abort(im);
		ret = -ECANCELED;
	} else {
		ret = store_import_finish(im, &result);
	}
	if (ret) {
		FUZZ_CHECK(count("images") == 0);
		FUZZ_CHECK(count("blobs/sha256") == 0);
		FUZZ_CHECK(!has_tags());
	} else {
		FUZZ_CHECK(result.len > 0);
		FUZZ_CHECK(count("images") > 0);
	}
	FUZZ_CHECK(count("tmp") == 0);
	buf_release(&result);
	store_close(s);
	return 0;
}
