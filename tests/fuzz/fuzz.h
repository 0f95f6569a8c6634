/* SPDX-License-Identifier: MIT */
/*
 * fuzz.h - what the libFuzzer targets of tests/fuzz share: a reader of
 * the control bytes at the front of an input, exact-size copies (so ASan
 * sees a read one past the end), a blob in a memfd (no file in any
 * directory), and a failed check that crashes, which is how libFuzzer
 * learns a property broke.
 *
 * A target keeps nothing from one input to the next: everything it
 * allocates is freed before it returns (libFuzzer's leak check runs per
 * input), and it touches no network and no file outside the temporary
 * directory it makes.
 */
#ifndef IMGFS_FUZZ_H
#define IMGFS_FUZZ_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <sanitizer/common_interface_defs.h>

#include "log.h"

/* Said where the sanitizers report (stderr may be closed: fuzz.sh runs
 * with -close_fd_mask=2), then a crash. */
static inline void fuzz_fail(const char *file, int line, const char *cond)
{
	char msg[512];

	snprintf(msg, sizeof(msg), "imgfs fuzz check failed: %s:%d: %s", file, line, cond);
	__sanitizer_report_error_summary(msg);
	abort();
}

/* A property the code promises did not hold: a finding, like a crash. */
#define FUZZ_CHECK(cond)						\
	do {								\
		if (!(cond)) {						\
			fuzz_fail(__FILE__, __LINE__, #cond);		\
		}							\
	} while (0)

/* The control bytes of an input, read front to back; zeros once spent. */
struct fuzz_in {
	const uint8_t *p;
	size_t n;
};

static inline uint8_t fuzz_u8(struct fuzz_in *in)
{
	if (!in->n)
		return 0;
	in->n--;
	return *in->p++;
}

static inline uint32_t fuzz_u32(struct fuzz_in *in)
{
	uint32_t v = 0;

	for (int i = 0; i < 4; i++)
		v |= (uint32_t)fuzz_u8(in) << (8 * i);
	return v;
}

/* splitmix64: many decisions from a few control bytes. */
static inline uint64_t fuzz_rand(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* @d[0..n) and a NUL in an allocation of exactly n + 1 bytes. */
static inline char *fuzz_str(const uint8_t *d, size_t n)
{
	char *s = malloc(n + 1);

	if (!s)
		abort();
	if (n)
		memcpy(s, d, n);
	s[n] = '\0';
	return s;
}

/* @d[0..n) in an allocation of exactly n bytes (1 for n = 0). */
static inline void *fuzz_dup(const uint8_t *d, size_t n)
{
	void *p = malloc(n ? n : 1);

	if (!p)
		abort();
	if (n)
		memcpy(p, d, n);
	return p;
}

/* An anonymous file (memfd) holding @d[0..n): a blob with no path. */
static inline int fuzz_memfd(const void *d, size_t n)
{
	int fd = memfd_create("fuzz-blob", MFD_CLOEXEC);
	size_t off = 0;

	if (fd < 0)
		abort();
	while (off < n) {
		ssize_t w = write(fd, (const char *)d + off, n - off);

		if (w <= 0)
			abort();
		off += (size_t)w;
	}
	return fd;
}

/* Only errors are logged: a fuzzer's millions of rejected inputs would
 * otherwise be millions of lines (scripts/fuzz.sh also closes stderr). */
static inline void fuzz_log_quiet(void)
{
	log_setup(LOG_LVL_ERR, 0);
}

#endif
