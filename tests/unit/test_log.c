/* SPDX-License-Identifier: MIT */
/*
 * test_log.c - the log escapes what could forge a line or drive a
 * terminal, whatever the caller formats into it.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "log.h"

static void expect(const char *in, const char *want, size_t outsz)
{
	char out[256];

	log_escape(in, out, outsz);
	if (strcmp(out, want) != 0)
		fprintf(stderr, "log_escape(%s): got '%s', want '%s'\n", in, out, want);
	CHECK(strcmp(out, want) == 0);
}

int main(void)
{
	char path[] = "/tmp/imgfs-test-log.XXXXXX";
	char buf[4096];
	FILE *f;
	int fd;
	size_t n;

	expect("plain text: sha256:abc", "plain text: sha256:abc", 256);
	expect("a\nb", "a\\x0ab", 256);
	expect("\r\t\x1b[31m", "\\x0d\\x09\\x1b[31m", 256);
	expect("back\\slash", "back\\x5cslash", 256);
	expect("del\x7f", "del\\x7f", 256);
	expect("caf\xc3\xa9", "caf\xc3\xa9", 256);	/* UTF-8 stays */
	expect("abc\n", "abc", 6);	/* an escape that does not fit is dropped */
	expect("abcdef", "abcd", 5);

	/* Through log_msg: a name with a newline makes one line, not two. */
	fd = mkstemp(path);
	CHECK(fd >= 0);
	CHECK(fflush(stderr) == 0);
	{
		int saved = dup(2);

		CHECK(dup2(fd, 2) == 2);
		log_setup(LOG_LVL_WARN, 0);
		log_err("layer %s: bad", "evil\nimgfs 00:00:00.000 error: forged");
		fflush(stderr);
		dup2(saved, 2);
		close(saved);
	}
	f = fopen(path, "r");
	CHECK(f != NULL);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	close(fd);
	unlink(path);
	CHECK(strchr(buf, '\n') == buf + n - 1);	/* exactly one line */
	CHECK(strstr(buf, "evil\\x0aimgfs") != NULL);
	return check_done("test_log");
}
