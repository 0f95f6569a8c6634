/* SPDX-License-Identifier: MIT */
/*
 * mkindex.c - `mkindex none|gzip|zstd BLOB OUT`: the index the code
 * makes of a layer blob, written to OUT, for the seed corpus of
 * fuzz_toc_load (tests/fuzz/make_seeds.sh).  Built with the fuzz build,
 * so the file has that build's small spans and so many checkpoints.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "toc.h"

int main(int argc, char **argv)
{
	enum registry_compression comp;
	struct store_toc *toc;
	struct buf f;
	FILE *out;
	int fd, ret;

	if (argc != 4) {
		fprintf(stderr, "usage: mkindex none|gzip|zstd BLOB OUT\n");
		return 2;
	}
	comp = !strcmp(argv[1], "gzip") ? REGISTRY_COMP_GZIP :
	       !strcmp(argv[1], "zstd") ? REGISTRY_COMP_ZSTD : REGISTRY_COMP_NONE;
	fd = open(argv[2], O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		perror(argv[2]);
		return 1;
	}
	ret = store_toc_build(fd, comp, &toc);
	close(fd);
	if (ret || store_toc_encode(toc, &f)) {
		fprintf(stderr, "mkindex: %s: %s\n", argv[2], strerror(ret ? -ret : EIO));
		return 1;
	}
	out = fopen(argv[3], "wb");
	if (!out || fwrite(f.data, 1, f.len, out) != f.len || fclose(out)) {
		perror(argv[3]);
		return 1;
	}
	fprintf(stderr, "mkindex: %zu entries, %zu checkpoints, %zu bytes\n",
		toc->n_entries, toc->n_cps, f.len);
	buf_release(&f);
	store_toc_free(toc);
	return 0;
}
