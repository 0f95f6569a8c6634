/* SPDX-License-Identifier: MIT */
/*
 * test_push.c - the string rules of pushing (registry/push.c): where an
 * upload's Location leads, relative or absolute, with the closing PUT's
 * digest added to its query, and the Content-Range of a PATCH chunk.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "check.h"
#include "registry.h"

#define DG "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
/* libcurl writes the escape of the digest's ':' in lowercase. */
#define DG_Q "digest=sha256%3a0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static void check_loc(const char *base, const char *loc, const char *digest,
		      int want_ret, const char *want)
{
	struct buf out;
	int ret;

	buf_init(&out, 4096);
	ret = registry_push_location(base, loc, digest, &out);
	CHECKF(ret == want_ret && (ret || strcmp(buf_str(&out), want) == 0),
	       "location [%s] on [%s]: ret %d (want %d) url [%s] want [%s]",
	       loc ? loc : "(null)", base, ret, want_ret, ret ? "" : buf_str(&out),
	       want ? want : "");
	buf_release(&out);
}

static void test_location(void)
{
	const char *b = "http://127.0.0.1:5000";

	/* Relative, as distribution answers. */
	check_loc(b, "/v2/a/b/blobs/uploads/u1?_state=xyz", NULL, 0,
		  "http://127.0.0.1:5000/v2/a/b/blobs/uploads/u1?_state=xyz");
	/* The digest joins an existing query with '&'. */
	check_loc(b, "/v2/a/blobs/uploads/u1?_state=xyz", DG, 0,
		  "http://127.0.0.1:5000/v2/a/blobs/uploads/u1?_state=xyz&" DG_Q);
	/* ... or starts one. */
	check_loc(b, "/v2/a/blobs/uploads/u1", DG, 0,
		  "http://127.0.0.1:5000/v2/a/blobs/uploads/u1?" DG_Q);
	/* Absolute on the registry, and on another host: kept as given. */
	check_loc(b, "http://127.0.0.1:5000/v2/a/blobs/uploads/u2", NULL, 0,
		  "http://127.0.0.1:5000/v2/a/blobs/uploads/u2");
	check_loc(b, "https://uploads.example.com/x/y?sig=1", DG, 0,
		  "https://uploads.example.com/x/y?sig=1&" DG_Q);
	/* Relative without a leading '/' goes under the base's path. */
	check_loc("https://reg.example.com", "v2/a/blobs/uploads/u3", NULL, 0,
		  "https://reg.example.com/v2/a/blobs/uploads/u3");
	/* Resolving an absolute upload URL again changes nothing. */
	check_loc(b, "http://127.0.0.1:5000/v2/a/blobs/uploads/u1?_state=s", NULL, 0,
		  "http://127.0.0.1:5000/v2/a/blobs/uploads/u1?_state=s");
	/* No Location, or a scheme we do not speak. */
	check_loc(b, "", NULL, -EINVAL, NULL);
	check_loc(b, NULL, NULL, -EINVAL, NULL);
	check_loc(b, "ftp://127.0.0.1/v2/a", NULL, -EINVAL, NULL);
	check_loc(b, "file:///etc/passwd", NULL, -EINVAL, NULL);
}

static void check_cr(uint64_t off, uint64_t len, int want_ret, const char *want)
{
	char out[48] = "";
	int ret = registry_push_content_range(off, len, out, sizeof(out));

	CHECKF(ret == want_ret && (ret || strcmp(out, want) == 0),
	       "content-range %llu+%llu: ret %d [%s], want %d [%s]",
	       (unsigned long long)off, (unsigned long long)len, ret, out, want_ret,
	       want ? want : "");
}

static void test_content_range(void)
{
	check_cr(0, 1, 0, "0-0");
	check_cr(0, REGISTRY_PUSH_CHUNK, 0, "0-16777215");
	check_cr(REGISTRY_PUSH_CHUNK, 5, 0, "16777216-16777220");
	check_cr(UINT64_MAX - 9, 10, 0, "18446744073709551606-18446744073709551615");
	check_cr(0, 0, -EINVAL, NULL);
	check_cr(UINT64_MAX, 2, -EINVAL, NULL);
	{
		char small[4];

		CHECK_EQ(registry_push_content_range(1000, 10, small, sizeof(small)),
			 -ENOSPC);
	}
}

int main(void)
{
	test_location();
	test_content_range();
	return check_done("test_push");
}
