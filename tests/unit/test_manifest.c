/* SPDX-License-Identifier: MIT */
/*
 * test_manifest.c - document classification, manifest parsing, platform
 * selection from indexes and config parsing (registry/manifest.c).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "registry.h"

#define DA "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define DB "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
#define DC "sha256:cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc"
#define DD "sha256:dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd"
#define DE "sha256:eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee"
#define DF "sha256:ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"

static const char oci_manifest[] =
	"{\"schemaVersion\":2,\"mediaType\":\"" REGISTRY_MT_OCI_MANIFEST "\","
	"\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\","
	"\"digest\":\"" DA "\",\"size\":123},"
	"\"layers\":[{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\","
	"\"digest\":\"" DB "\",\"size\":1000},"
	"{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+zstd\","
	"\"digest\":\"" DC "\",\"size\":0,\"annotations\":{\"x\":\"y\"}}]}";

/* Docker schema2 without a body mediaType. */
static const char docker_manifest_nomt[] =
	"{\"schemaVersion\":2,"
	"\"config\":{\"mediaType\":\"application/vnd.docker.container.image.v1+json\","
	"\"digest\":\"" DA "\",\"size\":5},\"layers\":[]}";

static const char index_doc[] =
	"{\"schemaVersion\":2,\"mediaType\":\"" REGISTRY_MT_OCI_INDEX "\",\"manifests\":["
	"{\"mediaType\":\"" REGISTRY_MT_OCI_MANIFEST "\",\"digest\":\"" DA "\",\"size\":1,"
	" \"platform\":{\"architecture\":\"arm\",\"os\":\"linux\",\"variant\":\"v6\"}},"
	"{\"mediaType\":\"" REGISTRY_MT_OCI_MANIFEST "\",\"digest\":\"" DB "\",\"size\":2,"
	" \"platform\":{\"architecture\":\"arm\",\"os\":\"linux\",\"variant\":\"v7\"}},"
	"{\"mediaType\":\"" REGISTRY_MT_OCI_MANIFEST "\",\"digest\":\"" DC "\",\"size\":3,"
	" \"platform\":{\"architecture\":\"arm64\",\"os\":\"linux\",\"variant\":\"v8\"}},"
	"{\"mediaType\":\"" REGISTRY_MT_OCI_MANIFEST "\",\"digest\":\"" DF "\",\"size\":9,"
	" \"platform\":{\"architecture\":\"unknown\",\"os\":\"unknown\"},"
	" \"annotations\":{\"vnd.docker.reference.type\":\"attestation-manifest\"}},"
	"{\"mediaType\":\"" REGISTRY_MT_OCI_MANIFEST "\",\"digest\":\"" DD "\",\"size\":4,"
	" \"platform\":{\"architecture\":\"amd64\",\"os\":\"linux\"}},"
	"{\"mediaType\":\"" REGISTRY_MT_OCI_MANIFEST "\",\"digest\":\"" DE "\",\"size\":5,"
	" \"platform\":{\"architecture\":\"amd64\",\"os\":\"windows\"}}]}";

static void test_kind(void)
{
	enum registry_doc_kind k;
	const char *both =
		"{\"schemaVersion\":2,\"manifests\":[],\"layers\":[],"
		"\"config\":{\"mediaType\":\"x\",\"digest\":\"" DA "\",\"size\":1}}";
	const char *index_as_manifest =
		"{\"schemaVersion\":2,\"mediaType\":\"" REGISTRY_MT_OCI_MANIFEST "\","
		"\"manifests\":[]}";
	const char *schema1 =
		"{\"schemaVersion\":1,\"name\":\"x\",\"tag\":\"y\",\"fsLayers\":[]}";

	k = REGISTRY_DOC_INDEX;
	CHECK(registry_doc_kind_of(oci_manifest, strlen(oci_manifest), NULL, &k) == 0);
	CHECK(k == REGISTRY_DOC_MANIFEST);
	CHECK(registry_doc_kind_of(oci_manifest, strlen(oci_manifest),
				   REGISTRY_MT_OCI_MANIFEST "; charset=utf-8", &k) == 0);
	k = REGISTRY_DOC_MANIFEST;
	CHECK(registry_doc_kind_of(index_doc, strlen(index_doc), REGISTRY_MT_OCI_INDEX, &k) == 0);
	CHECK(k == REGISTRY_DOC_INDEX);
	/* No body mediaType: the Content-Type decides, then the members. */
	k = REGISTRY_DOC_INDEX;
	CHECK(registry_doc_kind_of(docker_manifest_nomt, strlen(docker_manifest_nomt),
				   REGISTRY_MT_DOCKER_MANIFEST, &k) == 0);
	CHECK(k == REGISTRY_DOC_MANIFEST);
	k = REGISTRY_DOC_INDEX;
	CHECK(registry_doc_kind_of(docker_manifest_nomt, strlen(docker_manifest_nomt),
				   NULL, &k) == 0);
	CHECK(k == REGISTRY_DOC_MANIFEST);
	/* A generic Content-Type makes no claim. */
	CHECK(registry_doc_kind_of(oci_manifest, strlen(oci_manifest), "application/json", &k) == 0);

	/* Mismatched media types (CVE-2021-41190). */
	CHECK(registry_doc_kind_of(oci_manifest, strlen(oci_manifest),
				   REGISTRY_MT_OCI_INDEX, &k) == -EIO);
	CHECK(registry_doc_kind_of(oci_manifest, strlen(oci_manifest),
				   REGISTRY_MT_DOCKER_MANIFEST, &k) == -EIO);
	CHECK(registry_doc_kind_of(docker_manifest_nomt, strlen(docker_manifest_nomt),
				   REGISTRY_MT_DOCKER_LIST, &k) == -EIO);
	/* Ambiguous documents. */
	CHECK(registry_doc_kind_of(both, strlen(both), NULL, &k) == -EIO);
	CHECK(registry_doc_kind_of(both, strlen(both), REGISTRY_MT_OCI_INDEX, &k) == -EIO);
	CHECK(registry_doc_kind_of(index_as_manifest, strlen(index_as_manifest), NULL, &k) == -EIO);
	/* Schema1 and other versions. */
	CHECK(registry_doc_kind_of(schema1, strlen(schema1), NULL, &k) == -ENOTSUP);
	CHECK(registry_doc_kind_of("{}", 2,
				   "application/vnd.docker.distribution.manifest.v1+prettyjws",
				   &k) == -ENOTSUP);
	CHECK(registry_doc_kind_of("{\"schemaVersion\":3,\"layers\":[]}", 31, NULL, &k) == -EIO);
	CHECK(registry_doc_kind_of("{\"layers\":[]}", 13, NULL, &k) == -EIO);
	CHECK(registry_doc_kind_of("{\"schemaVersion\":2}", 19, NULL, &k) == -EIO);
	/* Unknown types, junk. */
	CHECK(registry_doc_kind_of("{\"schemaVersion\":2,\"mediaType\":\"text/plain\"}", 44,
				   NULL, &k) == -ENOTSUP);
	CHECK(registry_doc_kind_of("[]", 2, NULL, &k) == -EIO);
	CHECK(registry_doc_kind_of("{\"schemaVersion\":2,\"layers\":[]} x", 33, NULL, &k) == -EIO);
	CHECK(registry_doc_kind_of("{\"schemaVersion\":2,\"schemaVersion\":2,\"layers\":[]}",
				   50, NULL, &k) == -EIO);
}

static void test_manifest_parse(void)
{
	struct registry_manifest m;
	char deep[300];
	const char *bad[] = {
		/* negative size */
		"{\"schemaVersion\":2,\"config\":{\"mediaType\":\"x\",\"digest\":\"" DA
		"\",\"size\":-1},\"layers\":[]}",
		/* size beyond int64 */
		"{\"schemaVersion\":2,\"config\":{\"mediaType\":\"x\",\"digest\":\"" DA
		"\",\"size\":9223372036854775808},\"layers\":[]}",
		/* size as a string, as a float */
		"{\"schemaVersion\":2,\"config\":{\"mediaType\":\"x\",\"digest\":\"" DA
		"\",\"size\":\"1\"},\"layers\":[]}",
		"{\"schemaVersion\":2,\"config\":{\"mediaType\":\"x\",\"digest\":\"" DA
		"\",\"size\":1.5},\"layers\":[]}",
		/* bad digests */
		"{\"schemaVersion\":2,\"config\":{\"mediaType\":\"x\",\"digest\":"
		"\"sha256:../../etc/passwd\",\"size\":1},\"layers\":[]}",
		"{\"schemaVersion\":2,\"config\":{\"mediaType\":\"x\",\"digest\":\"" DA
		"\",\"size\":1},\"layers\":[{\"mediaType\":\"x\",\"digest\":\"md5:00\",\"size\":1}]}",
		"{\"schemaVersion\":2,\"config\":{\"mediaType\":\"x\",\"digest\":"
		"\"sha256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\",\"size\":1},"
		"\"layers\":[]}",
		/* missing pieces */
		"{\"schemaVersion\":2,\"layers\":[]}",
		"{\"schemaVersion\":2,\"config\":{\"mediaType\":\"x\",\"digest\":\"" DA
		"\",\"size\":1}}",
		"{\"schemaVersion\":2,\"config\":{\"mediaType\":\"x\",\"digest\":\"" DA
		"\",\"size\":1},\"layers\":[{\"digest\":\"" DB "\",\"size\":1}]}",
		/* an index */
		index_doc,
		/* NUL escape */
		"{\"schemaVersion\":2,\"config\":{\"mediaType\":\"x\\u0000\",\"digest\":\"" DA
		"\",\"size\":1},\"layers\":[]}",
	};

	CHECK(registry_manifest_parse(oci_manifest, strlen(oci_manifest), &m) == 0);
	CHECK(m.media_type && strcmp(m.media_type, REGISTRY_MT_OCI_MANIFEST) == 0);
	CHECK(strcmp(m.config.digest, DA) == 0 && m.config.size == 123);
	CHECK(m.n_layers == 2);
	if (m.n_layers == 2) {
		CHECK(strcmp(m.layers[0].digest, DB) == 0 && m.layers[0].size == 1000);
		CHECK(strcmp(m.layers[1].digest, DC) == 0 && m.layers[1].size == 0);
		CHECK(registry_layer_compression(m.layers[0].media_type) == REGISTRY_COMP_GZIP);
		CHECK(registry_layer_compression(m.layers[1].media_type) == REGISTRY_COMP_ZSTD);
	}
	registry_manifest_release(&m);

	CHECK(registry_manifest_parse(docker_manifest_nomt, strlen(docker_manifest_nomt), &m) == 0);
	CHECK(m.media_type == NULL && m.n_layers == 0 && m.config.size == 5);
	registry_manifest_release(&m);

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int ret = registry_manifest_parse(bad[i], strlen(bad[i]), &m);

		CHECKF(ret == -EIO, "bad manifest %zu: %d", i, ret);
		CHECK(m.layers == NULL && m.config.digest == NULL);
	}
	/* Nesting beyond 64 levels is refused before jansson sees it. */
	memset(deep, '[', 100);
	memset(deep + 100, ']', 100);
	CHECK(registry_manifest_parse(deep, 200, &m) == -EIO);

	CHECK(registry_layer_compression("application/vnd.oci.image.layer.v1.tar") == REGISTRY_COMP_NONE);
	CHECK(registry_layer_compression("application/vnd.docker.image.rootfs.diff.tar.gzip") == REGISTRY_COMP_GZIP);
	CHECK(registry_layer_compression("application/x-zip") == REGISTRY_COMP_UNKNOWN);
	CHECK(registry_layer_compression(NULL) == REGISTRY_COMP_UNKNOWN);
}

static int select_digest(const char *doc, const char *arch, const char *variant,
			 const char *want)
{
	struct registry_platform p = { .os = "linux" };
	struct registry_desc d;
	int ret;

	snprintf(p.arch, sizeof(p.arch), "%s", arch);
	snprintf(p.variant, sizeof(p.variant), "%s", variant);
	ret = registry_index_select(doc, strlen(doc), &p, &d);
	if (ret)
		return ret;
	if (strcmp(d.digest, want) != 0) {
		fprintf(stderr, "select %s/%s: got %s\n", arch, variant, d.digest);
		ret = -1;
	}
	registry_desc_release(&d);
	return ret;
}

static void test_index_select(void)
{
	struct registry_platform host;
	const char *only_attest =
		"{\"schemaVersion\":2,\"manifests\":["
		"{\"mediaType\":\"" REGISTRY_MT_OCI_MANIFEST "\",\"digest\":\"" DF "\",\"size\":9,"
		" \"platform\":{\"architecture\":\"amd64\",\"os\":\"linux\"},"
		" \"annotations\":{\"vnd.docker.reference.type\":\"attestation-manifest\"}}]}";
	const char *noplat =
		"{\"schemaVersion\":2,\"manifests\":["
		"{\"mediaType\":\"" REGISTRY_MT_OCI_MANIFEST "\",\"digest\":\"" DA "\",\"size\":9,"
		" \"platform\":{\"architecture\":\"s390x\",\"os\":\"linux\"}},"
		"{\"mediaType\":\"" REGISTRY_MT_OCI_MANIFEST "\",\"digest\":\"" DB "\",\"size\":9},"
		"{\"mediaType\":\"" REGISTRY_MT_OCI_MANIFEST "\",\"digest\":\"" DC "\",\"size\":9,"
		" \"platform\":{\"architecture\":\"amd64\",\"os\":\"linux\"}}]}";
	const char *first_wins =
		"{\"schemaVersion\":2,\"manifests\":["
		"{\"mediaType\":\"" REGISTRY_MT_OCI_MANIFEST "\",\"digest\":\"" DA "\",\"size\":9,"
		" \"platform\":{\"architecture\":\"amd64\",\"os\":\"linux\"}},"
		"{\"mediaType\":\"" REGISTRY_MT_OCI_MANIFEST "\",\"digest\":\"" DB "\",\"size\":9,"
		" \"platform\":{\"architecture\":\"amd64\",\"os\":\"linux\"}}]}";
	const char *i386 =
		"{\"schemaVersion\":2,\"manifests\":["
		"{\"mediaType\":\"" REGISTRY_MT_OCI_MANIFEST "\",\"digest\":\"" DA "\",\"size\":9,"
		" \"platform\":{\"architecture\":\"386\",\"os\":\"linux\"}}]}";
	const char *bad_entry =
		"{\"schemaVersion\":2,\"manifests\":["
		"{\"mediaType\":\"" REGISTRY_MT_OCI_MANIFEST "\",\"digest\":\"sha256:x\",\"size\":9,"
		" \"platform\":{\"architecture\":\"amd64\",\"os\":\"linux\"}}]}";

	CHECK(select_digest(index_doc, "amd64", "", DD) == 0);
	CHECK(select_digest(index_doc, "x86_64", "", DD) == 0);
	CHECK(select_digest(index_doc, "aarch64", "", DC) == 0);
	CHECK(select_digest(index_doc, "arm64", "v8", DC) == 0);
	/* Exact variant preferred; lower variants are compatible. */
	CHECK(select_digest(index_doc, "arm", "v7", DB) == 0);
	CHECK(select_digest(index_doc, "arm", "v6", DA) == 0);
	CHECK(select_digest(index_doc, "armv7l", "", DB) == 0);
	CHECK(select_digest(index_doc, "arm", "v8", DB) == 0);
	CHECK(select_digest(index_doc, "arm", "v5", "") == -ENOENT);
	CHECK(select_digest(index_doc, "s390x", "", "") == -ENOENT);
	/* Attestations never match, even with a real-looking platform. */
	CHECK(select_digest(only_attest, "amd64", "", DF) == -ENOENT);
	/* Entries without platform match, but after a real match. */
	CHECK(select_digest(noplat, "amd64", "", DC) == 0);
	CHECK(select_digest(noplat, "arm64", "", DB) == 0);
	CHECK(select_digest(first_wins, "amd64", "", DA) == 0);
	CHECK(select_digest(i386, "amd64", "", DA) == 0);
	CHECK(select_digest(i386, "arm64", "", DA) == -ENOENT);
	CHECK(select_digest(bad_entry, "amd64", "", "") == -EIO);
	CHECK(select_digest(oci_manifest, "amd64", "", "") == -EIO);

	registry_platform_host(&host);
	CHECK(strcmp(host.os, "linux") == 0);
	CHECK(strcmp(host.arch, "x86_64") != 0 && strcmp(host.arch, "aarch64") != 0);
	CHECK(host.arch[0] != '\0');
}

static void test_config(void)
{
	struct registry_config c;
	const char *ok =
		"{\"created\":\"2024-01-02T03:04:05.123456789Z\",\"architecture\":\"amd64\","
		"\"os\":\"linux\",\"config\":{\"Env\":[\"A=b\"]},"
		"\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"" DA "\",\"" DB "\"]},"
		"\"history\":[{\"created_by\":\"x\"}]}";
	struct { const char *ts; long long want; } ts[] = {
		{ "1970-01-01T00:00:00Z", 0 },
		{ "2024-01-02T03:04:05Z", 1704164645 },
		{ "2024-01-02T03:04:05.5+01:00", 1704164645 - 3600 },
		{ "2024-01-02T03:04:05-02:30", 1704164645 + 9000 },
		{ "2000-02-29T12:00:00z", 951825600 },
		{ "0001-01-01T00:00:00Z", -62135596800LL },
	};
	const char *bad_ts[] = {
		"2024-01-02", "2024-01-02T03:04:05", "2024-13-02T03:04:05Z",
		"2024-02-30T03:04:05Z", "2024-01-02T03:04:05.Z", "2024-01-02T03:04:05+0100",
		"2024-01-02T25:04:05Z", "yesterday", "2024-01-02T03:04:05Zjunk",
	};
	const char *bad[] = {
		"{\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"sha256:1\"]}}",
		"{\"rootfs\":{\"type\":\"layers\",\"diff_ids\":\"x\"}}",
		"{\"rootfs\":{\"type\":\"other\",\"diff_ids\":[]}}",
		"{\"architecture\":5}",
		"{\"created\":12}",
		"[1]",
	};
	char doc[256];

	CHECK(registry_config_parse(ok, strlen(ok), &c) == 0);
	CHECK(c.created == 1704164645);
	CHECK(c.architecture && strcmp(c.architecture, "amd64") == 0);
	CHECK(c.os && strcmp(c.os, "linux") == 0);
	CHECK(c.n_diff_ids == 2 && strcmp(c.diff_ids[1], DB) == 0);
	registry_config_release(&c);

	CHECK(registry_config_parse("{}", 2, &c) == 0);
	CHECK(c.created == 0 && !c.architecture && !c.os && c.n_diff_ids == 0);
	registry_config_release(&c);

	for (size_t i = 0; i < sizeof(ts) / sizeof(ts[0]); i++) {
		snprintf(doc, sizeof(doc), "{\"created\":\"%s\"}", ts[i].ts);
		CHECKF(registry_config_parse(doc, strlen(doc), &c) == 0 && c.created == ts[i].want,
		       "created %s: got %lld", ts[i].ts, (long long)c.created);
		registry_config_release(&c);
	}
	for (size_t i = 0; i < sizeof(bad_ts) / sizeof(bad_ts[0]); i++) {
		int ret;

		snprintf(doc, sizeof(doc), "{\"created\":\"%s\"}", bad_ts[i]);
		ret = registry_config_parse(doc, strlen(doc), &c);
		CHECKF(ret == -EIO, "created %s accepted", bad_ts[i]);
		if (ret != -EIO)
			registry_config_release(&c);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int ret = registry_config_parse(bad[i], strlen(bad[i]), &c);

		CHECKF(ret == -EIO, "bad config %zu accepted", i);
		if (ret != -EIO)
			registry_config_release(&c);
		CHECK(c.diff_ids == NULL && c.architecture == NULL);
	}
}

int main(void)
{
	test_kind();
	test_manifest_parse();
	test_index_select();
	test_config();
	return check_done("test_manifest");
}
