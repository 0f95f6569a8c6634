/* SPDX-License-Identifier: MIT */
/*
 * digest.h - unit tests name the bytes they build by digest the way a
 * registry does: "sha256:<64 hex>".
 */
#ifndef IMGFS_TEST_DIGEST_H
#define IMGFS_TEST_DIGEST_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

/* "sha256:<hex>" of @p[0..@n) into @out; aborts the test on failure. */
static inline void test_sha256(const void *p, size_t n, char out[72])
{
	unsigned char md[32];
	unsigned int len = 0;

	if (!EVP_Digest(p, n, md, &len, EVP_sha256(), NULL) || len != 32)
		abort();
	memcpy(out, "sha256:", 7);
	for (int i = 0; i < 32; i++)
		snprintf(out + 7 + 2 * i, 3, "%02x", md[i]);
}

#endif
