/* SPDX-License-Identifier: MIT */
/*
 * fuzz_manifest.c - manifests, indexes (manifest lists) and image configs
 * (registry/manifest.c): what every pull, import and load parses, from
 * registries and archives alike, and what the store parses again from
 * its blobs (store/core/image.c, record.c; store/import/plan.c).
 *
 * Input: one control byte, then the document.  The control byte picks
 * the Content-Type the document comes with (or none, as for a stored
 * one) and the platform an index is resolved for.  The document goes
 * through all four parsers.  Beyond not crashing, each must keep what
 * oci.h promises: only the documented errors, the output zeroed on an
 * error, and every digest that comes out valid (digests become paths).
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

static const char *const content_types[8] = {
	NULL,
	REGISTRY_MT_OCI_MANIFEST,
	REGISTRY_MT_OCI_INDEX,
	REGISTRY_MT_DOCKER_MANIFEST,
	REGISTRY_MT_DOCKER_LIST,
	"application/json; charset=utf-8",
	REGISTRY_MT_DOCKER_SCHEMA1_SIGNED,
	"application/vnd.oci.image.manifest.v1+json ; q=1",
};

static const struct registry_platform platforms[4] = {
	{ "linux", "amd64", "" },
	{ "linux", "arm64", "" },
	{ "linux", "arm", "v7" },
	{ "windows", "amd64", "" },
};

static void check_desc(const struct registry_desc *d)
{
	FUZZ_CHECK(d->media_type && registry_digest_valid(d->digest) &&
		   d->size >= 0);
}

static bool zeroed(const void *p, size_t n)
{
	const unsigned char *b = p;

	for (size_t i = 0; i < n; i++)
		if (b[i])
			return false;
	return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct registry_platform host;
	const struct registry_platform *plat;
	struct registry_manifest m;
	struct registry_config cfg;
	struct registry_desc sel;
	enum registry_doc_kind kind;
	uint8_t ctl;
	char *body;
	size_t len;
	int ret;

	if (size < 1)
		return 0;
	ctl = data[0];
	len = size - 1;
	body = fuzz_dup(data + 1, len);	/* not NUL-terminated */
	registry_platform_host(&host);
	plat = (ctl >> 3) & 1 ? &platforms[(ctl >> 4) & 3] : &host;

	ret = registry_doc_kind_of(body, len, content_types[ctl & 7], &kind);
	FUZZ_CHECK(ret == 0 || ret == -EIO || ret == -ENOTSUP);
	if (ret == 0)
		FUZZ_CHECK(kind == REGISTRY_DOC_MANIFEST || kind == REGISTRY_DOC_INDEX);

	ret = registry_manifest_parse(body, len, &m);
	FUZZ_CHECK(ret == 0 || ret == -EIO || ret == -ENOTSUP);
	if (ret == 0) {
		check_desc(&m.config);
		FUZZ_CHECK(!m.n_layers || m.layers);
		for (size_t i = 0; i < m.n_layers; i++)
			check_desc(&m.layers[i]);
		(void)registry_layer_compression(m.n_layers ? m.layers[0].media_type : NULL);
		registry_manifest_release(&m);
	}
	FUZZ_CHECK(zeroed(&m, sizeof(m)));

	ret = registry_index_select(body, len, plat, &sel);
	FUZZ_CHECK(ret == 0 || ret == -EIO || ret == -ENOTSUP || ret == -ENOENT);
	if (ret == 0) {
		check_desc(&sel);
		registry_desc_release(&sel);
	}

	ret = registry_config_parse(body, len, &cfg);
	FUZZ_CHECK(ret == 0 || ret == -EIO);
	if (ret == 0) {
		FUZZ_CHECK(!cfg.n_diff_ids || cfg.diff_ids);
		for (size_t i = 0; i < cfg.n_diff_ids; i++)
			FUZZ_CHECK(registry_digest_valid(cfg.diff_ids[i]));
		registry_config_release(&cfg);
	}
	FUZZ_CHECK(zeroed(&cfg, sizeof(cfg)));
	free(body);
	return 0;
}
