/* SPDX-License-Identifier: MIT */
/*
 * fuzz_ref.c - the image reference parser (registry/ref.c) and the
 * validators it is built from.
 *
 * Input: "REFERENCE" or "REFERENCE\nDEFAULT_HOST".  Beyond not crashing,
 * a reference that parses must satisfy what oci.h promises: every part
 * valid by its own validator, and the familiar form (plus tag and
 * digest) parsing back to the same four parts with the same default host.
 */
#include "fuzz.h"
#include "oci.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_log_quiet();
	return 0;
}

static bool same(const char *a, const char *b)
{
	return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static void check_roundtrip(const struct registry_ref *r, const char *dh)
{
	struct registry_ref again;
	char *fam = registry_ref_familiar(r->host, r->repo, dh), *full;
	size_t n;

	FUZZ_CHECK(fam);
	n = strlen(fam) + (r->tag ? strlen(r->tag) + 1 : 0) +
	    (r->digest ? strlen(r->digest) + 1 : 0) + 1;
	full = malloc(n);
	FUZZ_CHECK(full);
	snprintf(full, n, "%s%s%s%s%s", fam, r->tag ? ":" : "",
		 r->tag ? r->tag : "", r->digest ? "@" : "",
		 r->digest ? r->digest : "");
	FUZZ_CHECK(registry_ref_parse(full, dh, &again) == 0);
	FUZZ_CHECK(same(again.host, r->host) && same(again.repo, r->repo) &&
		   same(again.tag, r->tag) && same(again.digest, r->digest));
	registry_ref_release(&again);
	free(full);
	free(fam);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nl = memchr(data, '\n', size);
	size_t rlen = nl ? (size_t)(nl - data) : size;
	char *s = fuzz_str(data, rlen);
	char *dh = nl ? fuzz_str(nl + 1, size - rlen - 1) : NULL;
	const char *use_dh = dh;
	struct registry_ref r;
	int ret;

	/* The default host comes from the command line (-o registry=).
	 * One that does not look like a host cannot be written in front of
	 * a name, so not every name on it has a familiar form (oci.h). */
	if (dh && (!registry_host_valid(dh) || !registry_component_is_host(dh)))
		use_dh = NULL;
	ret = registry_ref_parse(s, use_dh, &r);
	FUZZ_CHECK(ret == 0 || ret == -EINVAL);
	if (ret == 0) {
		FUZZ_CHECK(registry_host_valid(r.host) ||
			   (use_dh && strcmp(r.host, use_dh) == 0) ||
			   strcmp(r.host, REGISTRY_DOCKER_HUB) == 0);
		FUZZ_CHECK(registry_repo_valid(r.repo));
		FUZZ_CHECK(!r.tag || registry_tag_valid(r.tag));
		FUZZ_CHECK(!r.digest || registry_digest_valid(r.digest));
		check_roundtrip(&r, use_dh);
		registry_ref_release(&r);
	}
	FUZZ_CHECK(!r.host && !r.repo && !r.tag && !r.digest);

	/* the validators alone, on the same text */
	(void)registry_tag_valid(s);
	(void)registry_path_component_valid(s);
	(void)registry_component_is_host(s);
	(void)registry_host_valid(s);
	(void)registry_repo_valid(s);
	(void)registry_digest_valid(s);
	(void)registry_hex_valid(s, 1, REGISTRY_HEX_LEN);
	(void)registry_layer_compression(s);
	(void)registry_media_is_config(s);
	free(dh);
	free(s);
	return 0;
}
