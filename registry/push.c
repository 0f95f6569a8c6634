/* SPDX-License-Identifier: MIT */
/*
 * push.c - `docker push` on the wire (OCI distribution spec, "push"):
 * blobs by HEAD, then POST of an upload (or of a cross-repository mount),
 * then one PUT with the bytes or PATCH chunks and a closing PUT; the
 * manifest last, so a registry never holds a tag whose blobs are missing.
 *
 * It knows nothing of the store: the bytes come from a caller's
 * registry_source_fn, read at any offset, which is what lets a broken
 * upload resume where the registry says it stands (GET of the upload URL,
 * Range header) instead of from the start.
 *
 * Upload URLs come from the registry (Location, absolute or relative).
 * They are resolved against the registry's own URL; one on the registry's
 * origin goes through reg_request() (credentials, one 401 retry), one on
 * another origin goes out by http_do() without credentials.  Requests
 * that send a body follow no redirects (http.c).  Statuses become errno
 * only through http.c's mapping.
 */
#include "registry.h"
#include "registry_int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

#define PUSH_OCTETS "application/octet-stream"
#define PUSH_URL_MAX 8192

/* One blob or manifest push in progress. */
struct push {
	struct registry_client *c;
	const char *host, *repo;
	char scope[300];
	struct buf base;	/* "scheme://endpoint" of the registry */
	struct buf loc;		/* the upload's URL, absolute */
	struct buf pathq;	/* scratch: path and query on the registry */
	struct http_resp *resp;
	registry_source_fn src;	/* the caller's bytes ... */
	void *src_ctx;
	int src_err;		/* ... and their failure, which ends it */
};

int registry_push_location(const char *base, const char *loc, const char *digest,
			   struct buf *out)
{
	CURLU *u;
	char *full = NULL, *scheme = NULL;
	struct buf q;
	int ret = -EINVAL;

	buf_reset(out);
	if (!base || !loc || !*loc)
		return -EINVAL;
	u = curl_url();
	if (!u)
		return -ENOMEM;
	buf_init(&q, 512);
	/* A URL set over another is resolved against it (RFC 3986). */
	if (curl_url_set(u, CURLUPART_URL, base, 0) != CURLUE_OK ||
	    curl_url_set(u, CURLUPART_URL, loc, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK)
		goto out;
	if (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0)
		goto out;
	if (digest) {
		ret = buf_addstr(&q, "digest=");
		if (!ret)
			ret = http_escape(&q, digest);
		if (ret)
			goto out;
		ret = -EINVAL;
		if (curl_url_set(u, CURLUPART_QUERY, buf_str(&q), CURLU_APPENDQUERY) !=
		    CURLUE_OK)
			goto out;
	}
	if (curl_url_get(u, CURLUPART_URL, &full, 0) != CURLUE_OK)
		goto out;
	ret = buf_addstr(out, full);
out:
	curl_free(full);
	curl_free(scheme);
	curl_url_cleanup(u);
	buf_release(&q);
	return ret;
}

int registry_push_content_range(uint64_t off, uint64_t len, char *out, size_t outsz)
{
	int n;

	if (!len || off > UINT64_MAX - (len - 1))
		return -EINVAL;
	n = snprintf(out, outsz, "%" PRIu64 "-%" PRIu64, off, off + len - 1);
	return n < 0 || (size_t)n >= outsz ? -ENOSPC : 0;
}

/*
 * The bytes the registry holds of an upload, from the Range of its status
 * ("0-<last byte>").  Distribution writes "0-0" for an empty upload as
 * well as for one of one byte: taken as empty, and a PATCH that then does
 * not fit (416) restarts the upload.
 */
static uint64_t range_end(const char *r)
{
	const char *dash = strchr(r, '-');
	uint64_t last = 0;

	if (!dash || dash[1] < '0' || dash[1] > '9')
		return 0;
	for (const char *p = dash + 1; *p >= '0' && *p <= '9'; p++) {
		if (last > (UINT64_MAX - 9) / 10)
			return 0;
		last = last * 10 + (uint64_t)(*p - '0');
	}
	return last ? last + 1 : 0;
}

static int push_read(void *ctx, uint64_t off, void *dst, size_t n)
{
	struct push *p = ctx;
	int ret = p->src(p->src_ctx, off, dst, n);

	if (ret)
		p->src_err = ret;
	return ret;
}

struct mem_src {
	const unsigned char *data;
	size_t len;
};

static int mem_read(void *ctx, uint64_t off, void *dst, size_t n)
{
	const struct mem_src *m = ctx;

	if (off > m->len || n > m->len - off)
		return -EIO;
	memcpy(dst, m->data + off, n);
	return 0;
}

static int push_begin(struct push *p, struct registry_client *c, const char *host,
		      const char *repo)
{
	memset(p, 0, sizeof(*p));
	p->c = c;
	p->host = host;
	p->repo = repo;
	buf_init(&p->base, PUSH_URL_MAX);
	buf_init(&p->loc, PUSH_URL_MAX);
	buf_init(&p->pathq, PUSH_URL_MAX);
	if (!registry_host_valid(host) || !registry_repo_valid(repo)) {
		log_err("registry: invalid repository name %.100s/%.300s", host, repo);
		return -EINVAL;
	}
	snprintf(p->scope, sizeof(p->scope), "repository:%s:pull,push", repo);
	p->resp = calloc(1, sizeof(*p->resp));
	return p->resp ? 0 : -ENOMEM;
}

static void push_end(struct push *p)
{
	buf_release(&p->base);
	buf_release(&p->loc);
	buf_release(&p->pathq);
	free(p->resp);
}

/* One log line for a request of the push that failed with an answer. */
static void push_log(const struct push *p, const char *what, const char *obj,
		     int ret)
{
	const struct http_resp *r = p->resp;

	if (p->src_err)
		log_err("registry %s: push %s %s: reading the blob: %s", p->host,
			p->repo, obj, strerror(-p->src_err));
	else if (r->status >= 300)
		log_err("registry %s: push %s: %s %s: HTTP %ld %s", p->host, p->repo,
			what, obj, r->status, r->err_code);
	else if (ret && r->status)
		log_err("registry %s: push %s: %s %s: %s", p->host, p->repo, what, obj,
			registry_errno_cause(ret));
}

/* @req to @path (path and query, no leading '/') of the registry. */
static int push_send_path(struct push *p, const char *what, const char *path,
			  struct http_req *req)
{
	return reg_request(p->c, p->host, p->scope, what, path, req, p->resp);
}

/* @req to the absolute @url: see the file comment for credentials. */
static int push_send_url(struct push *p, const char *what, const char *url,
			 struct http_req *req)
{
	CURLU *u;
	char *path = NULL, *query = NULL;
	int ret;

	if (!http_same_origin(url, buf_str(&p->base))) {
		req->url = url;
		req->auth = NULL;
		req->tls_noverify = false;
		ret = http_do(p->c, req, p->resp);
		req->url = NULL;
		return ret;
	}
	u = curl_url();
	if (!u)
		return -ENOMEM;
	ret = -EINVAL;
	buf_reset(&p->pathq);
	if (curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_PATH, &path, 0) == CURLUE_OK) {
		if (curl_url_get(u, CURLUPART_QUERY, &query, 0) != CURLUE_OK)
			query = NULL;
		ret = buf_printf(&p->pathq, "%s%s%s", path[0] == '/' ? path + 1 : path,
				 query ? "?" : "", query ? query : "");
	}
	curl_free(path);
	curl_free(query);
	curl_url_cleanup(u);
	if (ret)
		return ret;
	return push_send_path(p, what, buf_str(&p->pathq), req);
}

/* Take the Location of the last answer as the upload's URL. */
static int take_location(struct push *p, bool required)
{
	int ret;

	if (!p->resp->location[0])
		return required ? -EIO : 0;
	ret = registry_push_location(buf_str(&p->base), p->resp->location, NULL,
				     &p->loc);
	if (ret == -EINVAL)
		ret = -EIO;
	return ret;
}

/*
 * POST an upload (a mount from @from when not NULL): *@mounted when the
 * registry mounted the blob (201), else the upload's URL in p->loc.
 */
static int upload_start(struct push *p, const struct registry_desc *d,
			const char *from, bool *mounted)
{
	struct http_req req = { .method = "POST" };
	struct buf path;
	int ret;

	*mounted = false;
	buf_init(&path, PUSH_URL_MAX);
	ret = buf_printf(&path, "v2/%s/blobs/uploads/", p->repo);
	if (!ret && from) {
		ret = buf_addstr(&path, "?mount=");
		if (!ret)
			ret = http_escape(&path, d->digest);
		if (!ret)
			ret = buf_addstr(&path, "&from=");
		if (!ret)
			ret = http_escape(&path, from);
	}
	if (!ret)
		ret = push_send_path(p, p->repo, buf_str(&path), &req);
	if (ret) {
		push_log(p, "upload", d->digest, ret);
		goto out;
	}
	if (from && p->resp->status == 201) {
		*mounted = true;
		goto out;
	}
	ret = take_location(p, true);
	if (ret)
		log_err("registry %s: push %s: upload of %s: no usable Location",
			p->host, p->repo, d->digest);
out:
	buf_release(&path);
	return ret;
}

/* PUT ?digest= to the upload's URL with @len bytes at @off (0: none). */
static int upload_put(struct push *p, const struct registry_desc *d, uint64_t off,
		      uint64_t len)
{
	struct http_req req = {
		.method = "PUT", .source = len ? push_read : NULL, .source_ctx = p,
		.source_off = off, .source_len = len, .content_type = PUSH_OCTETS,
	};
	struct buf url;
	int ret;

	buf_init(&url, PUSH_URL_MAX);
	ret = registry_push_location(buf_str(&p->base), buf_str(&p->loc), d->digest,
				     &url);
	if (!ret)
		ret = push_send_url(p, d->digest, buf_str(&url), &req);
	if (!ret && p->resp->digest[0] && strcmp(p->resp->digest, d->digest) != 0) {
		log_err("registry %s: push %s: blob %s stored as %.80s", p->host,
			p->repo, d->digest, p->resp->digest);
		ret = -EIO;
	}
	buf_release(&url);
	return ret;
}

/* PATCH the bytes from *@off to the end in chunks, moving *@off on. */
static int upload_patch(struct push *p, const struct registry_desc *d, uint64_t *off)
{
	uint64_t size = (uint64_t)d->size;
	char cr[48];
	int ret = 0;

	while (*off < size && !ret) {
		uint64_t n = size - *off < REGISTRY_PUSH_CHUNK ? size - *off :
			     REGISTRY_PUSH_CHUNK;
		struct http_req req = {
			.method = "PATCH", .source = push_read, .source_ctx = p,
			.source_off = *off, .source_len = n,
			.content_type = PUSH_OCTETS, .content_range = cr,
		};

		ret = registry_push_content_range(*off, n, cr, sizeof(cr));
		if (!ret)
			ret = push_send_url(p, d->digest, buf_str(&p->loc), &req);
		if (!ret)
			ret = take_location(p, false);
		if (!ret)
			*off += n;
	}
	return ret;
}

/* Where a broken upload stands: *@off bytes kept, p->loc updated. */
static int upload_status(struct push *p, const struct registry_desc *d, uint64_t *off)
{
	struct http_req req = { 0 };
	int ret;

	ret = push_send_url(p, d->digest, buf_str(&p->loc), &req);
	if (!ret)
		ret = take_location(p, false);
	if (!ret)
		*off = range_end(p->resp->upload_range);
	if (!ret && *off > (uint64_t)d->size)
		ret = -EIO;
	return ret;
}

/* Whether a failed request of an upload is worth resuming. */
static bool upload_broken(const struct push *p, int ret)
{
	long st = p->resp->status;

	if (p->src_err || ret == -EACCES || ret == -ENOMEM || ret == -EINVAL)
		return false;
	return st == 0 || st >= 500 || st == 404 || st == 416;
}

int registry_blob_push(struct registry_client *c, const char *host,
		       const char *repo, const struct registry_desc *d,
		       const char *mount_from, registry_source_fn src, void *ctx,
		       enum registry_push_how *how)
{
	struct http_req head = { .method = "HEAD" };
	enum registry_push_how done = REGISTRY_PUSH_UPLOADED;
	struct push p;
	char path[400];
	uint64_t off = 0;
	bool fresh = true, mounted;
	int ret, tries = 0;

	ret = push_begin(&p, c, host, repo);
	if (ret)
		goto out;
	if (!registry_digest_valid(d->digest) || d->size < 0 ||
	    (mount_from && !registry_repo_valid(mount_from))) {
		ret = -EINVAL;
		goto out;
	}
	p.src = src;
	p.src_ctx = ctx;
	snprintf(path, sizeof(path), "v2/%s/blobs/%s", repo, d->digest);
	ret = push_send_path(&p, repo, path, &head);
	if (!ret) {
		done = REGISTRY_PUSH_EXISTED;
		goto out;
	}
	if (ret != -ENOENT) {
		push_log(&p, "HEAD", d->digest, ret);
		goto out;
	}
	ret = reg_base_url(c, host, &p.base);
	if (ret)
		goto out;
	for (;;) {
		if (fresh) {
			ret = upload_start(&p, d, tries ? NULL : mount_from, &mounted);
			if (ret || mounted) {
				done = REGISTRY_PUSH_MOUNTED;
				goto out;
			}
			off = 0;
			fresh = false;
		}
		if (off == 0 && (uint64_t)d->size <= REGISTRY_PUSH_MONOLITHIC_MAX) {
			ret = upload_put(&p, d, 0, (uint64_t)d->size);
		} else {
			ret = upload_patch(&p, d, &off);
			if (!ret)
				ret = upload_put(&p, d, 0, 0);
		}
		if (!ret || !upload_broken(&p, ret) || ++tries > REGISTRY_PUSH_RESUMES)
			break;
		log_warn("registry %s: push %s: upload of %s broken off (%s), resuming",
			 host, repo, d->digest, registry_errno_cause(ret));
		/* A 404 or 416 means the upload is gone or not where we think. */
		if (p.resp->status == 404 || p.resp->status == 416 ||
		    upload_status(&p, d, &off))
			fresh = true;
	}
	if (ret)
		push_log(&p, "upload", d->digest, ret);
out:
	if (!ret && how)
		*how = done;
	if (!ret)
		log_debug("registry %s: push %s: %s %s", host, repo, d->digest,
			  done == REGISTRY_PUSH_EXISTED ? "exists" :
			  done == REGISTRY_PUSH_MOUNTED ? "mounted" : "uploaded");
	if (p.src_err)
		ret = p.src_err;
	push_end(&p);
	return ret;
}

int registry_manifest_push(struct registry_client *c, const char *host,
			   const char *repo, const char *tag, const void *body,
			   size_t len, const char *media_type)
{
	struct mem_src m = { .data = body, .len = len };
	struct http_req req = {
		.method = "PUT", .source = mem_read, .source_ctx = &m,
		.source_len = len, .content_type = media_type,
	};
	struct push p;
	char path[400];
	int ret;

	ret = push_begin(&p, c, host, repo);
	if (ret)
		goto out;
	if (!registry_tag_valid(tag) || !media_type) {
		ret = -EINVAL;
		goto out;
	}
	snprintf(path, sizeof(path), "v2/%s/manifests/%s", repo, tag);
	ret = push_send_path(&p, repo, path, &req);
	if (ret)
		push_log(&p, "manifest", tag, ret);
out:
	push_end(&p);
	return ret;
}
