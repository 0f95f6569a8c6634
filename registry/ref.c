/* SPDX-License-Identifier: MIT */
/*
 * ref.c - image references: grammar, Docker's normalisation, familiar form,
 * and the validators for tags, path components and digests.
 *
 * Owns: nothing beyond the strings of a struct registry_ref.
 *
 * Design notes: the grammar is distribution/reference's (see §1 of the
 * semantics reference), checked by hand rather than with regex(3) so that
 * the accepted language is exactly what is written here.  Only sha256
 * digests are accepted anywhere: they are the only ones that ever become
 * file names in the store, and accepting another algorithm here would only
 * move the rejection further from the user.  Upper case in the first
 * component does not make it a host (Docker's rule does); such a name is
 * rejected instead, which is the conservative side of the difference.
 */
#include "oci.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REF_PATH_MAX 255
#define REF_TAG_MAX 128

static bool is_lower_alnum(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9');
}

static bool is_alnum(char ch)
{
	return is_lower_alnum(ch) || (ch >= 'A' && ch <= 'Z');
}

static bool is_hex_lower(char ch)
{
	return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f');
}

/* [a-z0-9]+((\.|_|__|-+)[a-z0-9]+)* over s[0..n) */
static bool component_valid_n(const char *s, size_t n)
{
	size_t i = 0;

	for (;;) {
		size_t start = i;

		while (i < n && is_lower_alnum(s[i]))
			i++;
		if (i == start)
			return false;
		if (i == n)
			return true;
		if (s[i] == '.') {
			i++;
		} else if (s[i] == '_') {
			i++;
			if (i < n && s[i] == '_')
				i++;
		} else if (s[i] == '-') {
			while (i < n && s[i] == '-')
				i++;
		} else {
			return false;
		}
	}
}

bool registry_path_component_valid(const char *c)
{
	return c && component_valid_n(c, strlen(c));
}

bool registry_tag_valid(const char *tag)
{
	size_t n;

	if (!tag)
		return false;
	n = strlen(tag);
	if (n == 0 || n > REF_TAG_MAX)
		return false;
	if (!is_alnum(tag[0]) && tag[0] != '_')
		return false;
	for (size_t i = 1; i < n; i++)
		if (!is_alnum(tag[i]) && tag[i] != '_' && tag[i] != '.' && tag[i] != '-')
			return false;
	return true;
}

size_t registry_hex_span(const char *s, size_t max)
{
	size_t n = 0;

	while (n < max && is_hex_lower(s[n]))
		n++;
	return n;
}

bool registry_hex_valid(const char *s, size_t min, size_t max)
{
	size_t n;

	if (!s)
		return false;
	n = registry_hex_span(s, max + 1);
	return n >= min && n <= max && s[n] == '\0';
}

bool registry_digest_valid(const char *d)
{
	return d && strncmp(d, REGISTRY_DIGEST_PREFIX, 7) == 0 &&
	       registry_hex_valid(d + 7, REGISTRY_HEX_LEN, REGISTRY_HEX_LEN);
}

/* registry_component_is_host over c[0..n) */
static bool component_is_host_n(const char *c, size_t n)
{
	return memchr(c, '.', n) || memchr(c, ':', n) ||
	       (n == 9 && memcmp(c, "localhost", 9) == 0);
}

bool registry_component_is_host(const char *c)
{
	return c && component_is_host_n(c, strlen(c));
}

bool registry_repo_valid(const char *repo)
{
	size_t n;
	const char *p, *slash;

	if (!repo)
		return false;
	n = strlen(repo);
	if (n == 0 || n > REF_PATH_MAX)
		return false;
	for (p = repo;; p = slash + 1) {
		slash = strchr(p, '/');
		if (!component_valid_n(p, slash ? (size_t)(slash - p) : strlen(p)))
			return false;
		if (!slash)
			return true;
	}
}

/* One DNS label: [a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9] */
static bool label_valid(const char *s, size_t n)
{
	if (n == 0 || n > 63 || !is_alnum(s[0]) || !is_alnum(s[n - 1]))
		return false;
	for (size_t i = 1; i + 1 < n; i++)
		if (!is_alnum(s[i]) && s[i] != '-')
			return false;
	return true;
}

bool registry_host_valid(const char *h)
{
	const char *end, *port = NULL;
	size_t n;

	if (!h || !*h || strlen(h) > 255)
		return false;
	if (h[0] == '[') {
		/* [IPv6]: hex digits, ':' and '.' (an embedded IPv4). */
		end = strchr(h, ']');
		if (!end || end == h + 1)
			return false;
		for (const char *p = h + 1; p < end; p++)
			if (!is_hex_lower(*p) && !(*p >= 'A' && *p <= 'F') &&
			    *p != ':' && *p != '.')
				return false;
		end++;
		if (*end == ':')
			port = end + 1;
		else if (*end)
			return false;
	} else {
		const char *colon = strchr(h, ':');

		end = colon ? colon : h + strlen(h);
		for (const char *p = h; p < end;) {
			const char *dot = memchr(p, '.', (size_t)(end - p));
			const char *lend = dot ? dot : end;

			if (!label_valid(p, (size_t)(lend - p)))
				return false;
			if (!dot)
				break;
			p = dot + 1;
			if (p == end)
				return false;
		}
		if (colon)
			port = colon + 1;
	}
	if (port) {
		n = strlen(port);
		if (n == 0 || n > 5)
			return false;
		for (size_t i = 0; i < n; i++)
			if (port[i] < '0' || port[i] > '9')
				return false;
	}
	return true;
}

void registry_ref_release(struct registry_ref *r)
{
	free(r->host);
	free(r->repo);
	free(r->tag);
	free(r->digest);
	memset(r, 0, sizeof(*r));
}

/**
 * registry_ref_parse - see oci.h.  The input is split from the right:
 * "@digest" first, then ":tag" if that colon is after the last '/' (a
 * colon before it belongs to host:port), then the host per the first
 * component.  Nothing is allocated on failure.
 */
int registry_ref_parse(const char *s, const char *default_host,
		       struct registry_ref *out)
{
	struct registry_ref r = { 0 };
	const char *at, *name_end, *colon, *path;
	char *slash;
	char *name = NULL;
	size_t name_len;
	int ret = -EINVAL;

	memset(out, 0, sizeof(*out));
	if (!default_host)
		default_host = REGISTRY_DOCKER_HUB;
	if (!s || !*s || strlen(s) > 4096 || registry_hex_valid(s, REGISTRY_HEX_LEN, REGISTRY_HEX_LEN))
		return -EINVAL;

	at = strchr(s, '@');
	name_end = at ? at : s + strlen(s);
	if (at) {
		if (!registry_digest_valid(at + 1))
			goto out;
		r.digest = strdup(at + 1);
		if (!r.digest)
			goto nomem;
	}
	/* The tag colon is the last one, and only if no '/' follows it. */
	colon = memrchr(s, ':', (size_t)(name_end - s));
	path = memrchr(s, '/', (size_t)(name_end - s));
	if (colon && (!path || colon > path)) {
		r.tag = strndup(colon + 1, (size_t)(name_end - colon - 1));
		if (!r.tag)
			goto nomem;
		if (!registry_tag_valid(r.tag))
			goto out;
		name_end = colon;
	}
	name_len = (size_t)(name_end - s);
	name = strndup(s, name_len);
	if (!name)
		goto nomem;

	slash = strchr(name, '/');
	path = name;
	if (slash) {
		*slash = '\0';
		if (registry_component_is_host(name)) {
			if (!registry_host_valid(name))
				goto out;
			r.host = strdup(strcmp(name, "index.docker.io") == 0 ?
					REGISTRY_DOCKER_HUB : name);
			path = slash + 1;
		} else {
			*slash = '/';
		}
	}
	if (!r.host)
		r.host = strdup(default_host);
	if (!r.host)
		goto nomem;

	if (strcmp(r.host, REGISTRY_DOCKER_HUB) == 0 && !strchr(path, '/')) {
		size_t n = strlen(path) + sizeof("library/");

		r.repo = malloc(n);
		if (!r.repo)
			goto nomem;
		snprintf(r.repo, n, "library/%s", path);
	} else {
		r.repo = strdup(path);
		if (!r.repo)
			goto nomem;
	}
	if (!registry_repo_valid(r.repo))
		goto out;
	*out = r;
	memset(&r, 0, sizeof(r));
	ret = 0;
	goto out;
nomem:
	ret = -ENOMEM;
out:
	registry_ref_release(&r);
	free(name);
	return ret;
}

/**
 * registry_ref_familiar - the display form, chosen so that parsing it with
 * the same @default_host gives the same host and repo back: the host is
 * dropped when it is the default (unless the rest would then read as a
 * host and a name, or as an image ID), and "library/" only on docker.io.
 */
char *registry_ref_familiar(const char *host, const char *repo,
			    const char *default_host)
{
	const char *r = repo;
	char *out;
	size_t n;

	if (!default_host)
		default_host = REGISTRY_DOCKER_HUB;
	if (strcmp(host, default_host) == 0) {
		const char *slash;

		if (strcmp(host, REGISTRY_DOCKER_HUB) == 0 &&
		    strncmp(r, "library/", 8) == 0 && !strchr(r + 8, '/'))
			r += 8;
		/* Without the host, a first component that looks like one
		 * ("a.b/x" on the default registry) would be read as the
		 * host: the name would point at another registry (found by
		 * tests/fuzz/fuzz_ref.c).  Such a name keeps its host. */
		slash = strchr(r, '/');
		/* Nor may it be 64 hex digits alone: that reads as an image
		 * ID, not a name (docker.io/library/<64 hex>; fuzz_ref). */
		if (slash ? !component_is_host_n(r, (size_t)(slash - r)) :
		    !registry_hex_valid(r, REGISTRY_HEX_LEN, REGISTRY_HEX_LEN))
			return strdup(r);
	}
	n = strlen(host) + strlen(repo) + 2;
	out = malloc(n);
	if (out)
		snprintf(out, n, "%s/%s", host, repo);
	return out;
}
