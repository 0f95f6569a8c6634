/* SPDX-License-Identifier: MIT */
/*
 * catalog.c - what a registry lists and what it deletes: the catalog of
 * its repositories (GET /v2/_catalog), the tags of one repository
 * (GET /v2/<repo>/tags/list), and the deletion of a manifest
 * (DELETE /v2/<repo>/manifests/<digest>).
 *
 * Both lists are paged as the distribution spec has it: the first request
 * asks for n=<page> names, and each answer names the next page in a
 * `Link: <...>; rel="next"` header, which is followed (on the registry's
 * own origin only, so that a hostile registry cannot send the client's
 * credentials elsewhere) until it is absent.  Everything a registry
 * sends is capped: the names kept (REGISTRY_LIST_MAX), the pages asked
 * for and the bytes of all pages together; a list cut there is returned
 * with ->cut set and one log line, not as an error, because the names
 * got are still true.  Names outside the reference grammar are dropped:
 * they become directory entries.
 *
 * Lists and deletions go to the registry itself, never to a mirror: a
 * mirror lists what it has cached, and a deletion is a write.
 */
#include "registry.h"
#include "registry_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "log.h"

/* The bytes of all pages of one list together. */
#define LIST_BYTES_MAX ((size_t)32 << 20)

void registry_names_release(struct registry_names *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	memset(l, 0, sizeof(*l));
}

static int names_add(struct registry_names *l, const char *name)
{
	char *dup;

	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 64;
		char **v = realloc(l->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		l->v = v;
		l->cap = cap;
	}
	dup = strdup(name);
	if (!dup)
		return -ENOMEM;
	l->v[l->n++] = dup;
	return 0;
}

/* Whether @s is a path and query a Link may name: printable, no spaces,
 * under /v2/ (given without its leading '/'). */
static bool link_path_ok(const char *s, size_t n)
{
	if (n < 3 || strncmp(s, "v2/", 3) != 0)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] <= ' ' || (unsigned char)s[i] >= 0x7f)
			return false;
	return true;
}

int registry_link_next(const char *link, const char *base, struct buf *out)
{
	const char *p = link;

	buf_reset(out);
	while (p && *p) {
		const char *lt = strchr(p, '<'), *gt, *end, *rel;
		const char *u;
		size_t un;

		if (!lt)
			break;
		gt = strchr(lt, '>');
		if (!gt)
			return -EINVAL;
		end = strchr(gt, ',');
		if (!end)
			end = gt + strlen(gt);
		rel = strstr(gt, "rel=");
		if (!rel || rel >= end ||
		    (strncmp(rel + 4, "\"next\"", 6) != 0 && strncmp(rel + 4, "next", 4) != 0)) {
			p = *end ? end + 1 : end;
			continue;
		}
		u = lt + 1;
		un = (size_t)(gt - u);
		if (un && u[0] == '/') {
			u++;
			un--;
		} else {
			/* An absolute URL: on the registry's own origin only. */
			const char *slash;
			char *abs = strndup(u, un);
			bool same;

			if (!abs)
				return -ENOMEM;
			same = base && http_same_origin(abs, base);
			free(abs);
			slash = un > 8 ? memchr(u + 8, '/', un - 8) : NULL;
			if (!same || !slash || (size_t)(slash - u) < 8)
				return -EINVAL;
			un -= (size_t)(slash + 1 - u);
			u = slash + 1;
		}
		if (!link_path_ok(u, un))
			return -EINVAL;
		return buf_add(out, u, un);
	}
	return -ENOENT;
}

/*
 * One page's names (the array @key of the JSON object @body) onto @out,
 * those @valid takes; -EIO for an answer that is not such an object (a
 * missing or null array is an empty page).
 */
static int page_parse(const struct buf *body, const char *key,
		      bool (*valid)(const char *), struct registry_names *out)
{
	json_t *root, *arr, *v;
	size_t i;
	int ret = 0;

	root = json_loadb(body->data ? body->data : "", body->len, 0, NULL);
	if (!json_is_object(root)) {
		json_decref(root);
		return -EIO;
	}
	arr = json_object_get(root, key);
	json_array_foreach(arr, i, v) {
		const char *s = json_string_value(v);

		if (out->n >= REGISTRY_LIST_MAX) {
			out->cut = true;
			break;
		}
		if (!s || !valid(s)) {
			log_debug("registry: a name outside the grammar skipped in a list");
			continue;
		}
		ret = names_add(out, s);
		if (ret)
			break;
	}
	json_decref(root);
	return ret;
}

/*
 * list_pages - GET @first (path and query) on @host under @scope and every
 * page its Link headers name; the names of array @key onto @out.
 */
static int list_pages(struct registry_client *c, const char *host, const char *scope,
		      const char *what, const char *first, const char *key,
		      bool (*valid)(const char *), struct registry_names *out)
{
	struct http_resp *resp = NULL;
	struct buf body, path, next, base;
	size_t bytes = 0;
	int ret;

	memset(out, 0, sizeof(*out));
	buf_init(&body, BUF_MANIFEST_MAX);
	buf_init(&path, 4096);
	buf_init(&next, 4096);
	buf_init(&base, 1024);
	resp = calloc(1, sizeof(*resp));
	ret = resp ? buf_addstr(&path, first) : -ENOMEM;
	if (!ret)
		ret = reg_base_url(c, host, &base);
	for (size_t page = 0; !ret; page++) {
		struct http_req req = { .body = &body, .accept = "application/json" };

		if (page >= REGISTRY_LIST_PAGES_MAX || out->n >= REGISTRY_LIST_MAX ||
		    bytes > LIST_BYTES_MAX) {
			out->cut = true;
			break;
		}
		buf_reset(&body);
		memset(resp, 0, sizeof(*resp));
		ret = reg_request(c, host, scope, what, buf_str(&path), &req, resp);
		if (ret) {
			if (resp->status >= 300 && resp->status != 404)
				log_err("registry %s: %s: HTTP %ld %s", host, what,
					resp->status, resp->err_code);
			break;
		}
		bytes += body.len;
		ret = page_parse(&body, key, valid, out);
		if (ret == -EIO)
			log_err("registry %s: %s: the answer is not a list", host, what);
		if (ret)
			break;
		/* The base URL is the scheme that answered, known now. */
		buf_reset(&base);
		ret = reg_base_url(c, host, &base);
		if (!ret)
			ret = registry_link_next(resp->link, buf_str(&base), &next);
		if (ret == -ENOENT) {
			ret = 0;
			break;
		}
		if (ret == -EINVAL)
			log_err("registry %s: %s: unusable next-page link %.200s", host,
				what, resp->link);
		if (!ret && strcmp(buf_str(&next), buf_str(&path)) == 0) {
			log_err("registry %s: %s: the next page is the same page", host, what);
			ret = -EIO;
		}
		if (ret)
			break;
		buf_reset(&path);
		ret = buf_addstr(&path, buf_str(&next));
	}
	if (!ret && out->cut)
		log_warn("registry %s: %s: list cut at %zu names", host, what, out->n);
	if (ret)
		registry_names_release(out);
	free(resp);
	buf_release(&body);
	buf_release(&path);
	buf_release(&next);
	buf_release(&base);
	return ret;
}

static size_t page_size(size_t page)
{
	if (!page)
		return REGISTRY_LIST_PAGE_DEFAULT;
	return page > REGISTRY_LIST_MAX ? REGISTRY_LIST_MAX : page;
}

int registry_catalog_list(struct registry_client *c, const char *host, size_t page,
			  struct registry_names *out)
{
	char first[64];

	memset(out, 0, sizeof(*out));
	if (!registry_host_valid(host))
		return -EINVAL;
	snprintf(first, sizeof(first), "v2/_catalog?n=%zu", page_size(page));
	return list_pages(c, host, "registry:catalog:*", "catalog", first,
			  "repositories", registry_repo_valid, out);
}

int registry_tags_list(struct registry_client *c, const char *host, const char *repo,
		       size_t page, struct registry_names *out)
{
	char first[600], scope[300];

	memset(out, 0, sizeof(*out));
	if (!registry_host_valid(host) || !registry_repo_valid(repo))
		return -EINVAL;
	snprintf(first, sizeof(first), "v2/%s/tags/list?n=%zu", repo, page_size(page));
	snprintf(scope, sizeof(scope), "repository:%s:pull", repo);
	return list_pages(c, host, scope, repo, first, "tags", registry_tag_valid, out);
}

int registry_manifest_delete(struct registry_client *c, const char *host,
			     const char *repo, const char *ref, char digest[72])
{
	struct registry_xfer x = { .origin_only = true };
	struct http_req req = { .method = "DELETE" };
	struct http_resp *resp = NULL;
	char path[600], scope[300];
	char *dg = NULL, *mt = NULL;
	struct buf body;
	int ret;

	digest[0] = '\0';
	buf_init(&body, BUF_MANIFEST_MAX);
	if (!registry_host_valid(host) || !registry_repo_valid(repo) ||
	    !(registry_tag_valid(ref) || registry_digest_valid(ref))) {
		ret = -EINVAL;
		goto out;
	}
	/* A manifest is deleted by digest: the one @ref names now, from
	 * its bytes (registry_manifest_get() checks them). */
	ret = registry_manifest_get(c, host, repo, ref, &body, &mt, &dg, &x);
	if (ret)
		goto out;
	snprintf(digest, 72, "%s", dg);
	resp = calloc(1, sizeof(*resp));
	if (!resp) {
		ret = -ENOMEM;
		goto out;
	}
	snprintf(path, sizeof(path), "v2/%s/manifests/%s", repo, dg);
	snprintf(scope, sizeof(scope), "repository:%s:delete", repo);
	ret = reg_request(c, host, scope, repo, path, &req, resp);
	if (ret && resp->status >= 300)
		log_err("registry %s: delete %s:%s (%s): HTTP %ld %s: %s", host, repo,
			ref, dg, resp->status, resp->err_code[0] ? resp->err_code : "-",
			registry_errno_cause(ret));
	else if (!ret)
		log_info("registry %s: deleted %s:%s (%s)", host, repo, ref, dg);
out:
	free(resp);
	free(dg);
	free(mt);
	buf_release(&body);
	return ret;
}
