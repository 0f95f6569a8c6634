/* SPDX-License-Identifier: MIT */
/*
 * test_ref.c - image reference grammar and normalisation (registry/ref.c),
 * checked against Docker's normalisation table and its rejections.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "registry.h"

struct ok_case {
	const char *in, *def, *host, *repo, *tag, *digest;
};

#define D64 "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static const struct ok_case ok_cases[] = {
	{ "ubuntu", NULL, "docker.io", "library/ubuntu", NULL, NULL },
	{ "ubuntu:12.04", NULL, "docker.io", "library/ubuntu", "12.04", NULL },
	{ "ouruser/sinatra", NULL, "docker.io", "ouruser/sinatra", NULL, NULL },
	{ "docker.io/ubuntu", NULL, "docker.io", "library/ubuntu", NULL, NULL },
	{ "docker.io/library/ubuntu:x", NULL, "docker.io", "library/ubuntu", "x", NULL },
	{ "index.docker.io/ubuntu", NULL, "docker.io", "library/ubuntu", NULL, NULL },
	{ "dl.dockerpool.com:5000/ubuntu:12.04", NULL, "dl.dockerpool.com:5000", "ubuntu", "12.04", NULL },
	{ "localhost/x", NULL, "localhost", "x", NULL, NULL },
	{ "localhost:5000/a/b/c:t", NULL, "localhost:5000", "a/b/c", "t", NULL },
	{ "127.0.0.1:5000/x:y", NULL, "127.0.0.1:5000", "x", "y", NULL },
	{ "[::1]:5000/x", NULL, "[::1]:5000", "x", NULL, NULL },
	/* A bare "localhost" or "example.com" is a repository name. */
	{ "localhost", NULL, "docker.io", "library/localhost", NULL, NULL },
	{ "example.com", NULL, "docker.io", "library/example.com", NULL, NULL },
	/* Another default registry: no library/ prefix. */
	{ "ubuntu:12.04", "127.0.0.1:5000", "127.0.0.1:5000", "ubuntu", "12.04", NULL },
	{ "a/b", "127.0.0.1:5000", "127.0.0.1:5000", "a/b", NULL, NULL },
	{ "docker.io/x", "127.0.0.1:5000", "docker.io", "library/x", NULL, NULL },
	/* Tag and digest together are both kept. */
	{ "ubuntu:16.04@" D64, NULL, "docker.io", "library/ubuntu", "16.04", D64 },
	{ "ubuntu@" D64, NULL, "docker.io", "library/ubuntu", NULL, D64 },
	{ "h.io:1/a@" D64, NULL, "h.io:1", "a", NULL, D64 },
	/* Separators of path components. */
	{ "a_b/c__d/e-f/g---h/i.j", NULL, "docker.io", "a_b/c__d/e-f/g---h/i.j", NULL, NULL },
	{ "x:_TAG.with-Caps", NULL, "docker.io", "library/x", "_TAG.with-Caps", NULL },
};

static const char *const bad_cases[] = {
	"",
	"Ubuntu",			/* upper case in the path */
	"docker.io/Library/ubuntu",
	"ouruser/Sinatra",
	"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
	"a//b",
	"a/",
	"/a",
	"a/../b",
	"-a",
	"a-",
	"a___b",
	"a..b",
	"ubuntu:",
	"ubuntu:-x",
	"ubuntu:.x",
	"ubuntu:a/b",
	"ubuntu@sha256:abc",
	"ubuntu@md5:0123456789abcdef0123456789abcdef",
	"ubuntu@sha256:0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef",
	"ubuntu@sha256:../../../etc/passwd",
	"host:port/x",			/* non-numeric port */
	"-bad.host/x",
	"bad_host.com/x",
	"h.io:123456/x",
	"a b",
	"a\nb",
};

static void test_parse(void)
{
	struct registry_ref r;
	char big[400], tag[140];

	for (size_t i = 0; i < sizeof(ok_cases) / sizeof(ok_cases[0]); i++) {
		const struct ok_case *c = &ok_cases[i];
		int ret = registry_ref_parse(c->in, c->def, &r);

		CHECKF(ret == 0, "parse %s: %d", c->in, ret);
		if (ret)
			continue;
		CHECKF(check_streq(r.host, c->host) && check_streq(r.repo, c->repo) &&
		       check_streq(r.tag, c->tag) && check_streq(r.digest, c->digest),
		       "parse %s: got %s %s %s %s", c->in, r.host, r.repo,
		       r.tag ? r.tag : "-", r.digest ? r.digest : "-");
		registry_ref_release(&r);
	}
	for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		int ret = registry_ref_parse(bad_cases[i], NULL, &r);

		CHECKF(ret == -22, "parse \"%s\" should be -EINVAL, got %d", bad_cases[i], ret);
		if (!ret)
			registry_ref_release(&r);
		CHECK(r.host == NULL && r.repo == NULL);
	}
	/* Path length limit: 255 is fine, 256 is not (library/ counts). */
	memset(big, 'a', sizeof(big));
	memcpy(big, "x/", 2);
	big[255] = '\0';
	CHECK(registry_ref_parse(big, NULL, &r) == 0);
	registry_ref_release(&r);
	big[255] = 'a';
	big[256] = '\0';
	CHECK(registry_ref_parse(big, NULL, &r) == -22);
	memset(big, 'a', 248);
	big[248] = '\0';	/* library/ + 248 = 256 */
	CHECK(registry_ref_parse(big, NULL, &r) == -22);
	/* Tags: up to 128 characters. */
	memset(tag, 'b', sizeof(tag));
	tag[128] = '\0';
	CHECK(registry_tag_valid(tag));
	tag[128] = 'b';
	tag[129] = '\0';
	CHECK(!registry_tag_valid(tag));
	CHECK(!registry_tag_valid(NULL));
	CHECK(!registry_tag_valid(""));
	CHECK(!registry_tag_valid("."));
	CHECK(!registry_tag_valid(".."));
}

static void test_validators(void)
{
	CHECK(registry_digest_valid(D64));
	CHECK(!registry_digest_valid("sha256:0123"));
	CHECK(!registry_digest_valid(D64 "0"));
	CHECK(!registry_digest_valid("sha512:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"));
	CHECK(!registry_digest_valid("SHA256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"));
	CHECK(!registry_digest_valid(NULL));

	CHECK(registry_path_component_valid("a"));
	CHECK(registry_path_component_valid("a.b_c__d-e--f"));
	CHECK(!registry_path_component_valid(""));
	CHECK(!registry_path_component_valid("a/b"));
	CHECK(!registry_path_component_valid("."));
	CHECK(!registry_path_component_valid(".."));
	CHECK(!registry_path_component_valid("_a"));
	CHECK(!registry_path_component_valid("a_"));
	CHECK(!registry_path_component_valid("a.-b"));
	CHECK(!registry_path_component_valid("A"));

	CHECK(registry_component_is_host("localhost"));
	CHECK(registry_component_is_host("a.b"));
	CHECK(registry_component_is_host("a:5000"));
	CHECK(!registry_component_is_host("ubuntu"));
	CHECK(!registry_component_is_host("localhostx"));
}

#define HEX64 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static void test_familiar(void)
{
	struct { const char *host, *repo, *def, *want; } t[] = {
		{ "docker.io", "library/ubuntu", "docker.io", "ubuntu" },
		{ "docker.io", "ouruser/sinatra", "docker.io", "ouruser/sinatra" },
		{ "docker.io", "library/a/b", "docker.io", "library/a/b" },
		{ "host:5000", "x", "docker.io", "host:5000/x" },
		{ "host:5000", "x", "host:5000", "x" },
		{ "docker.io", "library/ubuntu", "127.0.0.1:5000", "docker.io/library/ubuntu" },
		{ "localhost", "library/x", NULL, "localhost/library/x" },
		/* a first component that would read as a host keeps the host
		 * (tests/fuzz/crashes/ref/) */
		{ "docker.io", "a.b/x", NULL, "docker.io/a.b/x" },
		{ "host:5000", "localhost/x", "host:5000", "host:5000/localhost/x" },
		{ "host:5000", "a/b.c", "host:5000", "a/b.c" },
		/* nor a bare 64-hex name, which reads as an image ID */
		{ "docker.io", "library/" HEX64, NULL, "docker.io/library/" HEX64 },
		{ "h.io", HEX64, "h.io", "h.io/" HEX64 },
		{ "h.io", HEX64 "/x", "h.io", HEX64 "/x" },
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		char *f = registry_ref_familiar(t[i].host, t[i].repo, t[i].def);
		struct registry_ref r;
		bool parsed;

		CHECKF(check_streq(f, t[i].want), "familiar %s %s: %s", t[i].host, t[i].repo,
		       f ? f : "(null)");
		/* The familiar form parses back to the same name. */
		parsed = f && registry_ref_parse(f, t[i].def, &r) == 0;
		CHECKF(parsed, "familiar %s does not parse", f ? f : "(null)");
		if (parsed) {
			CHECK(strcmp(r.host, t[i].host) == 0);
			CHECK(strcmp(r.repo, t[i].repo) == 0);
			registry_ref_release(&r);
		}
		free(f);
	}
}

int main(void)
{
	test_parse();
	test_validators();
	test_familiar();
	return check_done("test_ref");
}
