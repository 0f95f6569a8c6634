/* SPDX-License-Identifier: MIT */
/*
 * test_table.c - `docker images` formats: go-units sizes and durations,
 * tabwriter columns, newest first.
 */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "table.h"

static const char *size(uint64_t n)
{
	static char s[32];

	fs_human_size(n, s, sizeof(s));
	return s;
}

static const char *dur(int64_t n)
{
	static char s[64];

	fs_human_duration(n, s, sizeof(s));
	return s;
}

int main(void)
{
	struct buf out;

	/* Values as `docker images` prints them (go-units). */
	CHECK_STR(size(0), "0B");
	CHECK_STR(size(999), "999B");
	CHECK_STR(size(1850), "1.85kB");
	CHECK_STR(size(114000000), "114MB");
	CHECK_STR(size(81200000), "81.2MB");
	CHECK_STR(size(1234567890), "1.23GB");

	CHECK_STR(dur(0), "Less than a second");
	CHECK_STR(dur(1), "1 second");
	CHECK_STR(dur(45), "45 seconds");
	CHECK_STR(dur(60), "About a minute");
	CHECK_STR(dur(119), "About a minute");
	CHECK_STR(dur(600), "10 minutes");
	CHECK_STR(dur(3600), "About an hour");
	CHECK_STR(dur(5 * 3600), "5 hours");
	CHECK_STR(dur(3 * 86400), "3 days");
	CHECK_STR(dur(21 * 86400), "3 weeks");
	CHECK_STR(dur(70 * 86400), "2 months");
	CHECK_STR(dur(14 * 30 * 86400), "14 months");
	CHECK_STR(dur(3 * 365 * 86400), "3 years");

	{
		int64_t now = 1700000000;
		struct fs_table_row rows[] = {
			{ "hello-world", "latest", "e38bc07ac18e0000", now - 60 * 86400, 1850 },
			{ "ubuntu", "16.04", "5e8b97a2a082ffff", now - 21 * 86400, 114000000 },
			{ "<none>", "<none>", "0123456789abcdef", 0, 0 },
		};
		const char *want =
			"REPOSITORY    TAG       IMAGE ID       CREATED        SIZE\n"
			"ubuntu        16.04     5e8b97a2a082   3 weeks ago    114MB\n"
			"hello-world   latest    e38bc07ac18e   2 months ago   1.85kB\n"
			"<none>        <none>    0123456789ab   N/A            0B\n";

		buf_init(&out, 1 << 20);
		CHECK(fs_table_render(rows, 3, now, &out) == 0);
		CHECK_STR(buf_str(&out), want);
		buf_release(&out);
	}
	/* A long repository name widens its column instead of being cut. */
	{
		char name[200];
		struct fs_table_row row = { name, "t", "aaaaaaaaaaaaaaaa", 0, 1 };

		memset(name, 'x', sizeof(name) - 1);
		name[sizeof(name) - 1] = '\0';
		buf_init(&out, 1 << 20);
		CHECK(fs_table_render(&row, 1, 0, &out) == 0);
		CHECK(strstr(buf_str(&out), name) != NULL);
		CHECK(strstr(buf_str(&out), "TAG") - buf_str(&out) == 202);
		buf_release(&out);
	}
	return check_done("test_table");
}
