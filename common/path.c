/* SPDX-License-Identifier: MIT */
/*
 * path.c - path normalising (contract in path.h).
 */
#include "path.h"

#include <errno.h>
#include <string.h>

int path_norm(const char *in, char *out, size_t outsz, size_t *outlen)
{
	size_t o = 0, max = outsz ? outsz - 1 : 0;
	const char *p = in;

	if (max > PATH_NORM_MAX)
		max = PATH_NORM_MAX;
	if (!outsz)
		return -E2BIG;
	while (*p) {
		const char *c;
		size_t n;

		while (*p == '/')
			p++;
		c = p;
		while (*p && *p != '/')
			p++;
		n = (size_t)(p - c);
		if (n == 0 || (n == 1 && c[0] == '.'))
			continue;
		if (n == 2 && c[0] == '.' && c[1] == '.')
			return -EINVAL;
		if (o + (o ? 1 : 0) + n > max)
			return -E2BIG;
		if (o)
			out[o++] = '/';
		memcpy(out + o, c, n);
		o += n;
	}
	out[o] = '\0';
	if (outlen)
		*outlen = o;
	return 0;
}
