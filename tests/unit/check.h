/* SPDX-License-Identifier: MIT */
/*
 * check.h - the assertion macros of the unit tests: a failed check prints
 * where and what, counts, and main() ends with `return check_done(name)`,
 * which prints a one-line summary and gives 1 if anything failed.
 *
 * CHECK(cond)            a condition
 * CHECK_EQ(a, b)         two integers (as long long), printing both
 * CHECK_STR(a, b)        two strings; NULL equals only NULL
 * CHECK_MEM(a, b, n)     n bytes
 * CHECKF(cond, fmt, ...) a condition, printing fmt when it is false
 * check_streq(a, b)      the string equality of CHECK_STR, for conditions
 *
 * A test whose later steps use what a check has just vouched for (a
 * pointer, a length) defines CHECK_FATAL before including this file: its
 * first failed check then prints the summary and exits 1 at once.
 *
 * Checks may run on any thread: the counters are atomic.
 */
#ifndef IMGFS_TEST_CHECK_H
#define IMGFS_TEST_CHECK_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static _Atomic int check_failures;
static _Atomic int check_count;

static inline int check_done(const char *name)
{
	printf("%s: %d checks, %d failed\n", name, check_count, check_failures);
	return check_failures ? 1 : 0;
}

__attribute__((format(printf, 3, 4)))
static inline void check_failed(const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	check_failures++;
	fprintf(stderr, "%s:%d: ", file, line);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
#ifdef CHECK_FATAL
	fflush(stdout);
	exit(check_done(file));
#endif
}

static inline bool check_streq(const char *a, const char *b)
{
	return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

#define CHECKF(cond, ...)                                                  \
	do {                                                               \
		check_count++;                                             \
		if (!(cond))                                               \
			check_failed(__FILE__, __LINE__, __VA_ARGS__);     \
	} while (0)

#define CHECK(cond) CHECKF(cond, "CHECK failed: %s", #cond)

#define CHECK_EQ(a, b)                                                     \
	do {                                                               \
		long long a_ = (a), b_ = (b);                              \
		CHECKF(a_ == b_, "%s == %lld, expected %lld", #a, a_, b_); \
	} while (0)

#define CHECK_STR(a, b)                                                    \
	do {                                                               \
		const char *a_ = (a), *b_ = (b);                           \
		CHECKF(check_streq(a_, b_), "\"%s\" != \"%s\"",            \
		       a_ ? a_ : "(null)", b_ ? b_ : "(null)");            \
	} while (0)

#define CHECK_MEM(a, b, n)                                                 \
	CHECKF(memcmp((a), (b), (n)) == 0, "%s and %s differ in %s bytes", \
	       #a, #b, #n)

#endif
