/* SPDX-License-Identifier: MIT */
/*
 * test_catalog.c - the string rule of paged lists (registry/catalog.c):
 * which next page a Link header names, and which it must not be let to
 * name (another origin, a path outside /v2/, a malformed value).
 */
#include <errno.h>
#include <string.h>

#include "check.h"
#include "registry.h"

static void check_link(const char *link, const char *base, int want_ret,
		       const char *want)
{
	struct buf out;
	int ret;

	buf_init(&out, 4096);
	ret = registry_link_next(link, base, &out);
	CHECKF(ret == want_ret && (ret || strcmp(buf_str(&out), want) == 0),
	       "link [%s] on [%s]: ret %d (want %d) path [%s] want [%s]", link,
	       base ? base : "(null)", ret, want_ret, ret ? "" : buf_str(&out),
	       want ? want : "");
	buf_release(&out);
}

static void test_link(void)
{
	const char *b = "http://127.0.0.1:5000";

	/* As distribution sends it. */
	check_link("</v2/_catalog?last=b&n=2>; rel=\"next\"", b, 0,
		   "v2/_catalog?last=b&n=2");
	check_link("</v2/a/b/tags/list?n=2&last=x>; rel=next", b, 0,
		   "v2/a/b/tags/list?n=2&last=x");
	/* Absolute, on the registry's own origin. */
	check_link("<http://127.0.0.1:5000/v2/_catalog?n=2&last=c>; rel=\"next\"", b, 0,
		   "v2/_catalog?n=2&last=c");
	/* Several links: the one that is rel="next". */
	check_link("</v2/_catalog?n=2>; rel=\"prev\", </v2/_catalog?last=d&n=2>; rel=\"next\"",
		   b, 0, "v2/_catalog?last=d&n=2");
	/* No next page. */
	check_link("", b, -ENOENT, NULL);
	check_link("</v2/_catalog?n=2>; rel=\"prev\"", b, -ENOENT, NULL);
	/* Another origin (scheme, host or port), a path outside /v2/, a
	 * space or a missing '>': never followed. */
	check_link("<http://evil.example.com/v2/_catalog?n=2>; rel=\"next\"", b, -EINVAL, NULL);
	check_link("<https://127.0.0.1:5000/v2/_catalog?n=2>; rel=\"next\"", b, -EINVAL, NULL);
	check_link("<http://127.0.0.1:5001/v2/_catalog?n=2>; rel=\"next\"", b, -EINVAL, NULL);
	check_link("<http://127.0.0.1:5000/v2/x>; rel=\"next\"", NULL, -EINVAL, NULL);
	check_link("</token?n=2>; rel=\"next\"", b, -EINVAL, NULL);
	check_link("</v2/_catalog?n=2&last=a b>; rel=\"next\"", b, -EINVAL, NULL);
	check_link("</v2/_catalog?n=2; rel=\"next\"", b, -EINVAL, NULL);
}

int main(void)
{
	test_link();
	return check_done("test_catalog");
}
