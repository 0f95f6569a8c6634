/* SPDX-License-Identifier: MIT */
/*
 * client.c - the registry client object and the requests made with it:
 * manifests, blobs, repository existence and namespace existence (from
 * the catalog); reg_request() lends push.c the same authenticated path.
 *
 * Owns: the lifetime of struct registry_client (its option copies, the
 * CURLSH and its locks; the handle pool is used by http.c, the auth
 * caches by auth.c) and client->schemes, the scheme that answered per
 * host, under client->lock.  One client serves all threads.
 *
 * Design notes: a request goes out anonymously unless a token for its
 * host and scope is cached; a 401 is answered once (reg_auth_obtain()) and
 * the request retried once, so a bad password costs two requests, never a
 * storm.  Loopback and insecure hosts are tried with https first and fall
 * back to http only when the TLS handshake itself fails (the server speaks
 * plain HTTP); a certificate that fails verification is an error, not a
 * reason to fall back, and so is a handshake whose plain retry is answered
 * 400 (the port speaks TLS: it refused ours, e.g. for want of a client
 * certificate).  Everything a URL path is built from is validated
 * first (host, repository grammar, tag or sha256 digest), so no escaping
 * is needed there and nothing can smuggle a path; only the catalog's
 * "last" query parameter, which comes from the registry, is escaped.
 *
 * The system's CAs are read from libcurl's CA directory (c->ca_dir), not
 * from its bundle file, when that directory is hashed (OpenSSL's
 * c_rehash names, as Debian's ca-certificates makes them): OpenSSL then
 * loads only the certificates a chain names, while the bundle costs a
 * parse of every CA (20-35 ms here) for each new TLS connection, the
 * https probe of a plain-http registry included, on the path of a first
 * read.  Without a hashed directory libcurl's defaults stay.
 *
 * Pulls (manifests, blobs, tag probes, the catalog) go to the sources
 * reg_host_sources() lists: the host's mirrors in order, the host last.
 * A mirror that fails is skipped for that request with one info line,
 * its own error lines silenced (req->quiet); the last source's failure is
 * the request's.  request_with_auth() itself talks to one host only, which
 * is what requests that write use.
 */
#include "registry.h"
#include "registry_int.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "log.h"

#define MANIFEST_ACCEPT                                                        \
	REGISTRY_MT_DOCKER_MANIFEST ", " REGISTRY_MT_DOCKER_LIST ", "          \
	REGISTRY_MT_OCI_MANIFEST ", " REGISTRY_MT_OCI_INDEX

static const char *endpoint(const char *host)
{
	return strcmp(host, REGISTRY_DOCKER_HUB) == 0 ? "registry-1.docker.io" : host;
}

/* ---- client ---- */

static void share_lock(CURL *h, curl_lock_data d, curl_lock_access a, void *u)
{
	struct registry_client *c = u;

	(void)h;
	(void)a;
	pthread_mutex_lock(&c->share_locks[d]);
}

static void share_unlock(CURL *h, curl_lock_data d, void *u)
{
	struct registry_client *c = u;

	(void)h;
	pthread_mutex_unlock(&c->share_locks[d]);
}

/* Whether @name is an OpenSSL hash link: 8 hex digits, '.', a number. */
static bool ca_hash_name(const char *name)
{
	for (int i = 0; i < 8; i++)
		if (!isxdigit((unsigned char)name[i]))
			return false;
	if (name[8] != '.' || !isdigit((unsigned char)name[9]))
		return false;
	for (const char *p = name + 10; *p; p++)
		if (!isdigit((unsigned char)*p))
			return false;
	return true;
}

/*
 * The CA directory libcurl was built with (CURLINFO_CAPATH), in *out
 * (caller frees), if it holds at least one hash link; else *out = NULL.
 */
static int system_ca_dir(char **out)
{
	CURL *h = curl_easy_init();
	char *path = NULL;
	struct dirent *d;
	DIR *dir = NULL;
	int ret = 0;

	*out = NULL;
	if (!h)
		return -ENOMEM;
	if (curl_easy_getinfo(h, CURLINFO_CAPATH, &path) != CURLE_OK || !path)
		goto out;
	dir = opendir(path);
	if (!dir)
		goto out;
	while ((d = readdir(dir)))
		if (ca_hash_name(d->d_name))
			break;
	if (d && !(*out = strdup(path)))
		ret = -ENOMEM;
out:
	if (dir)
		closedir(dir);
	curl_easy_cleanup(h);
	return ret;
}

int registry_client_new(const struct registry_opts *opts, struct registry_client **out)
{
	struct registry_client *c;
	size_t n = 0;
	int ret;

	*out = NULL;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return -ENOMEM;
	c = calloc(1, sizeof(*c));
	if (!c) {
		curl_global_cleanup();
		return -ENOMEM;
	}
	for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_init(&c->share_locks[i], NULL);
	pthread_mutex_init(&c->pool_lock, NULL);
	pthread_mutex_init(&c->lock, NULL);
	/* From here on registry_client_free() can undo a partial client. */
	if (htab_init(&c->tokens) || htab_init(&c->creds) || htab_init(&c->schemes))
		goto nomem;
	c->timeout_sec = opts->timeout_sec > 0 ? opts->timeout_sec : REGISTRY_TIMEOUT_DEFAULT;
	c->default_host = strdup(opts->default_host ? opts->default_host :
				 REGISTRY_DOCKER_HUB);
	if (!c->default_host)
		goto nomem;
	ret = reg_hosts_init(c, opts);
	if (ret)
		goto fail;
	if (opts->docker_config && !(c->docker_config = strdup(opts->docker_config)))
		goto nomem;
	if (opts->ca_file && !(c->ca_file = strdup(opts->ca_file)))
		goto nomem;
	ret = system_ca_dir(&c->ca_dir);
	if (ret)
		goto fail;
	while (opts->insecure && opts->insecure[n])
		n++;
	c->insecure = calloc(n + 1, sizeof(char *));
	if (!c->insecure)
		goto nomem;
	for (size_t i = 0; i < n; i++)
		if (!(c->insecure[i] = strdup(opts->insecure[i])))
			goto nomem;
	c->share = curl_share_init();
	if (!c->share)
		goto nomem;
	curl_share_setopt(c->share, CURLSHOPT_LOCKFUNC, share_lock);
	curl_share_setopt(c->share, CURLSHOPT_UNLOCKFUNC, share_unlock);
	curl_share_setopt(c->share, CURLSHOPT_USERDATA, c);
	curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
	curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
	*out = c;
	return 0;
nomem:
	ret = -ENOMEM;
fail:
	registry_client_free(c);
	return ret;
}

/* Must not race with requests: every user of @c has finished. */
void registry_client_free(struct registry_client *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->n_pool; i++)
		curl_easy_cleanup(c->pool[i]);
	if (c->share)
		curl_share_cleanup(c->share);
	reg_auth_cache_release(c);
	htab_release(&c->schemes);
	reg_hosts_release(c);
	for (char **p = c->insecure; p && *p; p++)
		free(*p);
	free(c->insecure);
	free(c->default_host);
	free(c->docker_config);
	free(c->ca_file);
	free(c->ca_dir);
	for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_destroy(&c->share_locks[i]);
	pthread_mutex_destroy(&c->pool_lock);
	pthread_mutex_destroy(&c->lock);
	free(c);
	curl_global_cleanup();
}

/* ---- sending ---- */

static bool tls_fallback_error(CURLcode rc)
{
	/* SEND_ERROR too: a TLS 1.3 server that refuses the handshake may
	 * close before the client has sent its request. */
	return rc == CURLE_SSL_CONNECT_ERROR || rc == CURLE_GOT_NOTHING ||
	       rc == CURLE_RECV_ERROR || rc == CURLE_SEND_ERROR ||
	       rc == CURLE_WEIRD_SERVER_REPLY;
}

/* Send @req to @host/@path, choosing the scheme (see the file comment);
 * with req->quiet the caller logs transport errors itself. */
static int send_any_scheme(struct registry_client *c, const char *host, const char *path,
		    struct http_req *req, struct http_resp *resp)
{
	static const char *const schemes[] = { "https", "http" };
	const char *known = NULL;
	bool plain = reg_host_plain_ok(c, host), quiet = req->quiet;
	char tls_err[sizeof(resp->curl_err)] = "";
	CURLcode tls_rc = CURLE_OK;
	struct buf url;
	int ret = 0, tls_ret = 0;

	if (plain) {
		pthread_mutex_lock(&c->lock);
		known = htab_get(&c->schemes, host);
		pthread_mutex_unlock(&c->lock);
	} else {
		known = schemes[0];
	}
	buf_init(&url, 8192);
	for (int i = 0; i < 2; i++) {
		const char *s = known ? known : schemes[i];
		bool probing = !known && i == 0;

		buf_reset(&url);
		ret = buf_printf(&url, "%s://%s/%s", s, endpoint(host), path);
		if (ret)
			break;
		req->url = buf_str(&url);
		req->tls_noverify = reg_host_insecure(c, host);
		req->quiet = quiet || probing;
		ret = http_do(c, req, resp);
		req->url = NULL;
		if (tls_ret && resp->status == 400) {
			/* The port speaks TLS after all: a plain request
			 * there is answered 400 (Go's net/http, nginx).  The
			 * handshake failed for a reason of its own (a client
			 * certificate missing or refused, no common
			 * protocol), and that is the error, not the 400;
			 * the host stays on https. */
			pthread_mutex_lock(&c->lock);
			if (!htab_get(&c->schemes, host))
				htab_set(&c->schemes, host, (void *)schemes[0], NULL);
			pthread_mutex_unlock(&c->lock);
			if (!quiet) {
				const struct reg_host *hc = reg_host_find(c, host);

				log_err("registry %s: TLS handshake failed: %s%s", host, tls_err,
					hc && hc->client_cert ? "" :
					" (no client-cert is configured for this host:"
					" does the registry require one?)");
			}
			resp->status = 0;
			resp->curl_rc = tls_rc;
			snprintf(resp->curl_err, sizeof(resp->curl_err), "%s", tls_err);
			ret = tls_ret;
			break;
		}
		if (resp->status && plain && !known) {
			pthread_mutex_lock(&c->lock);
			if (!htab_get(&c->schemes, host))
				htab_set(&c->schemes, host, (void *)s, NULL);
			pthread_mutex_unlock(&c->lock);
		}
		if (!probing || resp->status || !tls_fallback_error(resp->curl_rc)) {
			if (probing && ret && !resp->status && !quiet)
				log_err("registry %s: %s", host, resp->curl_err[0] ?
					resp->curl_err : curl_easy_strerror(resp->curl_rc));
			break;
		}
		tls_ret = ret ? ret : -EIO;
		tls_rc = resp->curl_rc;
		snprintf(tls_err, sizeof(tls_err), "%s", resp->curl_err);
		log_debug("registry %s: TLS handshake failed (%s), trying plain http", host,
			  tls_err);
	}
	req->quiet = quiet;
	buf_release(&url);
	return ret;
}

/*
 * A request under @scope (token scope grammar): with the cached
 * Authorization value if there is one, else anonymous; a 401 is answered
 * once (reg_auth_obtain()) and the request retried once.  @what names the
 * object in logs.  Returns what http_do() returns; resp->status is 0 when
 * the failure has been logged here or in auth.c.
 */
static int request_with_auth(struct registry_client *c, const char *host,
			     const char *scope, const char *what, const char *path,
			     struct http_req *req, struct http_resp *resp)
{
	char *auth;
	int ret;

	auth = reg_auth_cached(c, host, scope);
	req->auth = auth;
	ret = send_any_scheme(c, host, path, req, resp);
	if (resp->status != 401)
		goto out;
	if (auth)
		reg_auth_forget(c, host, scope);
	reg_secret_free(auth);
	auth = NULL;
	req->auth = NULL;
	ret = reg_auth_obtain(c, host, scope, resp->www_auth_cut ? "" : resp->www_auth, &auth);
	if (ret) {
		resp->status = 0;	/* logged by reg_auth_obtain() */
		goto out;
	}
	req->auth = auth;
	ret = send_any_scheme(c, host, path, req, resp);
	if (resp->status == 401) {
		reg_auth_forget(c, host, scope);
		log_err("registry %s: credentials rejected for %s%s%s", host, what,
			resp->err_code[0] ? ": " : "", resp->err_code);
		resp->status = 0;	/* logged; ret is http_status_errno(401) */
	}
out:
	req->auth = NULL;
	reg_secret_free(auth);
	return ret;
}

int reg_request(struct registry_client *c, const char *host, const char *scope,
		const char *what, const char *path, struct http_req *req,
		struct http_resp *resp)
{
	return request_with_auth(c, host, scope, what, path, req, resp);
}

int reg_base_url(struct registry_client *c, const char *host, struct buf *out)
{
	const char *s = NULL;

	if (reg_host_plain_ok(c, host)) {
		pthread_mutex_lock(&c->lock);
		s = htab_get(&c->schemes, host);
		pthread_mutex_unlock(&c->lock);
	}
	return buf_printf(out, "%s://%s", s ? s : "https", endpoint(host));
}

/* A request under the pull scope of @repo (see request_with_auth()). */
static int request_pull(struct registry_client *c, const char *host, const char *repo,
			const char *path, struct http_req *req, struct http_resp *resp)
{
	char scope[300];

	snprintf(scope, sizeof(scope), "repository:%s:pull", repo);
	return request_with_auth(c, host, scope, repo, path, req, resp);
}

/* One log line for a failed request that got an HTTP answer. */
static void log_http_fail(const char *what, const char *host, const char *repo,
			  const char *ref, const struct http_resp *r)
{
	if (r->status < 300)
		return;	/* transport or local errors are logged where they happen */
	if (r->status == 404)
		log_info("registry %s: %s %s%s%s: 404 %s", host, what, repo,
			 ref ? " " : "", ref ? ref : "", r->err_code);
	else
		log_err("registry %s: %s %s%s%s: HTTP %ld %s%s%s", host, what, repo,
			ref ? " " : "", ref ? ref : "", r->status, r->err_code,
			r->retry_after[0] ? " retry-after " : "", r->retry_after);
}

/*
 * What every request starts with: @host and @repo checked against the
 * reference grammar (they become a URL path) and a zeroed response, which
 * the caller frees.  It is on the heap because of its header buffers.
 */
static int request_begin(const char *host, const char *repo, struct http_resp **resp)
{
	*resp = NULL;
	if (!registry_host_valid(host) || !registry_repo_valid(repo)) {
		log_err("registry: invalid repository name %.100s/%.300s", host, repo);
		return -EINVAL;
	}
	*resp = calloc(1, sizeof(**resp));
	return *resp ? 0 : -ENOMEM;
}

/* ---- mirrors ---- */

/*
 * Whether a pull that failed at a mirror with @err goes on to the next
 * source: yes for every answer and transport failure (404, 5xx, refused,
 * timed out, bad digest, ...); no when the caller stopped it or memory
 * ran out, which the next source would not change.
 */
static bool mirror_skippable(int err)
{
	return err != -ECANCELED && err != -ENOMEM;
}

/* The one line a mirror skipped for a request leaves in the log; an
 * unreachable mirror is rested a while (reg_host_mirror_failed()). */
static void mirror_skip(struct registry_client *c, const char *host, const char *mirror,
			const char *what, const char *repo, const char *ref, int err)
{
	reg_host_mirror_failed(c, mirror, err);
	log_info("registry %s: mirror %s skipped for %s %s%s%s: %s", host, mirror,
		 what, repo, ref ? " " : "", ref ? ref : "", registry_errno_cause(err));
}

/* ---- manifests ---- */

/* "sha256:<hex>" of @data into @out. */
static int sha256_digest(const void *data, size_t n, char out[REGISTRY_DIGEST_LEN + 1])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	const size_t pl = strlen(REGISTRY_DIGEST_PREFIX);

	if (!EVP_Digest(data, n, md, &mdlen, EVP_sha256(), NULL) ||
	    mdlen != REGISTRY_HEX_LEN / 2)
		return -EIO;
	memcpy(out, REGISTRY_DIGEST_PREFIX, pl);
	for (unsigned i = 0; i < mdlen; i++) {
		out[pl + 2 * i] = hex[md[i] >> 4];
		out[pl + 2 * i + 1] = hex[md[i] & 15];
	}
	out[REGISTRY_DIGEST_LEN] = '\0';
	return 0;
}

/*
 * One try of a manifest at @src (@host itself or one of its mirrors):
 * the body into @body, its digest into @dg, checked against
 * Docker-Content-Digest and a digest @ref.  A @mirror's failures are left
 * to the caller to log (once, as a skip).
 */
static int manifest_try(struct registry_client *c, const char *src, bool mirror,
			const char *repo, const char *ref, struct http_req *req,
			struct http_resp *resp, char dg[REGISTRY_DIGEST_LEN + 1])
{
	struct buf *body = req->body;
	char path[600];
	int ret;

	buf_reset(body);
	memset(resp, 0, sizeof(*resp));
	req->quiet = mirror;
	snprintf(path, sizeof(path), "v2/%s/manifests/%s", repo, ref);
	ret = request_pull(c, src, repo, path, req, resp);
	if (ret == -EFBIG) {
		log_err("registry %s: manifest %s %s larger than %zu bytes", src, repo,
			ref, body->max);
		return ret;
	}
	if (ret) {
		if (!mirror)
			log_http_fail("manifest", src, repo, ref, resp);
		return ret;
	}
	ret = sha256_digest(body->data ? body->data : "", body->len, dg);
	if (ret)
		return ret;
	if (resp->digest[0]) {
		if (strncmp(resp->digest, REGISTRY_DIGEST_PREFIX,
			    strlen(REGISTRY_DIGEST_PREFIX)) != 0)
			log_warn("registry %s: %s %s: unverifiable Docker-Content-Digest %.20s",
				 src, repo, ref, resp->digest);
		else if (strcmp(resp->digest, dg) != 0) {
			log_err("registry %s: manifest %s %s: body is %s, Docker-Content-Digest says %.80s",
				src, repo, ref, dg, resp->digest);
			return -EIO;
		}
	}
	if (registry_digest_valid(ref) && strcmp(ref, dg) != 0) {
		log_err("registry %s: manifest %s@%s: body is %s", src, repo, ref, dg);
		return -EIO;
	}
	return 0;
}

int registry_manifest_get(struct registry_client *c, const char *host,
			  const char *repo, const char *ref, struct buf *body,
			  char **media_type, char **digest,
			  const struct registry_xfer *x)
{
	struct http_req req = { .accept = MANIFEST_ACCEPT, .body = body,
				.timeout_sec = x ? x->timeout_sec : 0,
				.stop = x ? x->stop : NULL };
	const char *src[REGISTRY_MIRRORS_MAX + 1];
	struct http_resp *resp;
	char dg[REGISTRY_DIGEST_LEN + 1];
	size_t mtn, n;
	int ret;

	*media_type = NULL;
	*digest = NULL;
	if (!registry_tag_valid(ref) && !registry_digest_valid(ref)) {
		log_err("registry: invalid tag or digest %.100s", ref);
		return -EINVAL;
	}
	ret = request_begin(host, repo, &resp);
	if (ret)
		return ret;
	n = reg_host_sources(c, host, x && x->origin_only, src, REGISTRY_MIRRORS_MAX + 1);
	for (size_t i = 0; i < n; i++) {
		ret = manifest_try(c, src[i], i + 1 < n, repo, ref, &req, resp, dg);
		if (!ret || i + 1 == n || !mirror_skippable(ret))
			break;
		mirror_skip(c, host, src[i], "manifest", repo, ref, ret);
	}
	if (ret)
		goto out;
	ret = -ENOMEM;
	mtn = strcspn(resp->content_type, "; \t");
	if (mtn && !(*media_type = strndup(resp->content_type, mtn)))
		goto out;
	if (!(*digest = strdup(dg)))
		goto out;
	ret = 0;
out:
	if (ret) {
		free(*media_type);
		*media_type = NULL;
		buf_reset(body);
	}
	free(resp);
	return ret;
}

/* ---- blobs ---- */

struct blob_ctx {
	const char *host, *digest;
	uint64_t offset;
	uint64_t length;	/* 0: to the end */
	uint64_t limit;		/* bytes that may be delivered */
	uint64_t skip;		/* leading bytes to drop (Range ignored) */
	uint64_t delivered;
	bool started;
	bool ranged;
	int user_err;
	registry_sink_fn sink;
	void *ctx;
};

/* Whether Content-Range "bytes START-END/TOTAL" starts at @off. */
static bool range_starts_at(const char *cr, uint64_t off)
{
	unsigned long long start;
	char *end;

	if (strncasecmp(cr, "bytes ", 6) != 0)
		return false;
	errno = 0;
	start = strtoull(cr + 6, &end, 10);
	return errno == 0 && end != cr + 6 && *end == '-' && start == off;
}

static int blob_sink(void *u, const struct http_resp *resp, const void *data, size_t n)
{
	struct blob_ctx *b = u;
	const char *p = data;
	uint64_t room;
	bool cut = false;
	int ret;

	if (!b->started) {
		b->started = true;
		if (resp->status == 206) {
			if (b->ranged && !range_starts_at(resp->content_range, b->offset)) {
				log_err("registry %s: blob %s: Content-Range %.60s does not start at %" PRIu64,
					b->host, b->digest, resp->content_range, b->offset);
				return -EIO;
			}
		} else {
			/* The server ignored Range: drop what precedes it. */
			b->skip = b->offset;
		}
	}
	if (b->skip) {
		uint64_t k = b->skip < n ? b->skip : n;

		b->skip -= k;
		p += k;
		n -= (size_t)k;
	}
	if (!n)
		return 0;
	room = b->limit - b->delivered;
	if (n > room) {
		/* A full body sent instead of the range is simply cut; more
		 * than asked for in a 206, or beyond the cap, is an error. */
		if (resp->status == 206 || !b->length) {
			log_err("registry %s: blob %s: more than %" PRIu64 " bytes",
				b->host, b->digest, b->limit);
			return -EFBIG;
		}
		n = (size_t)room;
		cut = true;
	}
	if (n) {
		ret = b->sink(b->ctx, p, n);
		if (ret) {
			b->user_err = ret;
			return -ECANCELED;
		}
		b->delivered += n;
	}
	if (cut || (b->length && resp->status != 206 && b->delivered == b->limit))
		return HTTP_SINK_STOP;
	return 0;
}

/* The longest deadline a transfer gets (about 116 days, more than 16 GiB
 * takes at REGISTRY_MIN_RATE): keeps the millisecond sums in range. */
#define REG_DEADLINE_MAX 10000000L

long registry_blob_deadline(const struct registry_client *c, uint64_t bytes)
{
	uint64_t extra = bytes / REGISTRY_MIN_RATE;

	if (extra > (uint64_t)REG_DEADLINE_MAX)
		extra = (uint64_t)REG_DEADLINE_MAX;
	return c->timeout_sec + (long)extra;
}

/*
 * One try of a blob at @src: @b describes what is still wanted (offset,
 * length, limit); b->delivered counts what reached the sink.
 */
static int blob_try(struct registry_client *c, const char *src, bool mirror,
		    const char *repo, struct blob_ctx *b, struct http_req *req,
		    struct http_resp *resp)
{
	char path[600], range[64];
	int ret;

	memset(resp, 0, sizeof(*resp));
	req->range = NULL;
	req->quiet = mirror;
	b->host = src;
	if (b->offset || b->length) {
		b->ranged = true;
		if (b->length)
			snprintf(range, sizeof(range), "bytes=%" PRIu64 "-%" PRIu64,
				 b->offset, b->offset + b->length - 1);
		else
			snprintf(range, sizeof(range), "bytes=%" PRIu64 "-", b->offset);
		req->range = range;
	}
	snprintf(path, sizeof(path), "v2/%s/blobs/%s", repo, b->digest);
	ret = request_pull(c, src, repo, path, req, resp);
	req->range = NULL;
	/* A server that ignored Range and sent less than @offset bytes: the
	 * range lies beyond the blob, as a 416 would have said. */
	if (!ret && b->offset && (b->skip || !b->started))
		ret = http_status_errno(416);
	if (b->user_err)
		ret = b->user_err;
	else if (ret && !mirror)
		log_http_fail("blob", src, repo, b->digest, resp);
	return ret;
}

/*
 * registry_blob_get - each source in turn (the mirrors of @host, then
 * @host).  A source that failed after delivering some bytes is not asked
 * again for them: the next one is asked for the rest (a Range from where
 * it broke off), so the sink sees every byte once and in order.
 */
int registry_blob_get(struct registry_client *c, const char *host,
		      const char *repo, const char *digest, uint64_t offset,
		      uint64_t length, uint64_t max_total, registry_sink_fn sink,
		      void *ctx, const struct registry_xfer *x)
{
	struct http_req req = { .sink = blob_sink,
				.timeout_sec = x ? x->timeout_sec : 0,
				.stop = x ? x->stop : NULL };
	const char *src[REGISTRY_MIRRORS_MAX + 1];
	uint64_t limit, done = 0;
	struct http_resp *resp;
	size_t n;
	int ret;

	if (!registry_digest_valid(digest)) {
		log_err("registry: invalid digest %.100s", digest);
		return -EINVAL;
	}
	if (length && offset > UINT64_MAX - length)
		return -EINVAL;
	limit = length ? length : (max_total ? max_total : UINT64_MAX);
	ret = request_begin(host, repo, &resp);
	if (ret)
		return ret;
	n = reg_host_sources(c, host, x && x->origin_only, src, REGISTRY_MIRRORS_MAX + 1);
	for (size_t i = 0; i < n; i++) {
		struct blob_ctx b = { .digest = digest, .offset = offset + done,
				      .length = length ? length - done : 0,
				      .limit = limit == UINT64_MAX ? limit : limit - done,
				      .sink = sink, .ctx = ctx };

		req.sink_ctx = &b;
		ret = blob_try(c, src[i], i + 1 < n, repo, &b, &req, resp);
		done += b.delivered;
		if (ret && length && done == length)
			ret = 0;	/* all wanted arrived before it broke */
		if (!ret || i + 1 == n || b.user_err || !mirror_skippable(ret))
			break;
		mirror_skip(c, host, src[i], "blob", repo, digest, ret);
	}
	free(resp);
	return ret;
}

int registry_repo_exists(struct registry_client *c, const char *host, const char *repo)
{
	const char *src[REGISTRY_MIRRORS_MAX + 1];
	struct http_resp *resp;
	struct buf body;
	char path[600];
	size_t n;
	int ret;

	ret = request_begin(host, repo, &resp);
	if (ret)
		return ret;
	buf_init(&body, REG_SMALL_MAX);
	snprintf(path, sizeof(path), "v2/%s/tags/list?n=1", repo);
	n = reg_host_sources(c, host, false, src, REGISTRY_MIRRORS_MAX + 1);
	for (size_t i = 0; i < n; i++) {
		struct http_req req = { .body = &body, .quiet = i + 1 < n };

		buf_reset(&body);
		memset(resp, 0, sizeof(*resp));
		ret = request_pull(c, src[i], repo, path, &req, resp);
		if (!ret || !mirror_skippable(ret))
			break;
		if (i + 1 == n)
			log_http_fail("tags of", host, repo, NULL, resp);
		else
			mirror_skip(c, host, src[i], "tags of", repo, NULL, ret);
	}
	buf_release(&body);
	free(resp);
	return ret;
}

/*
 * namespace_try - page through GET /v2/_catalog of @src from @prefix on
 * (the list is sorted) looking for a repository named "@prefix/...".
 * At most 10 pages of 1000: a catalog that long without an answer is
 * taken as "no".  Registries without a catalog (Docker Hub) say -ENOENT.
 */
static int namespace_try(struct registry_client *c, const char *src, bool mirror,
			 const char *prefix, struct http_resp *resp)
{
	struct buf body, path, last;
	size_t plen = strlen(prefix);
	int ret;

	buf_init(&body, BUF_MANIFEST_MAX);
	buf_init(&path, 4096);
	buf_init(&last, 1024);
	ret = buf_addstr(&last, prefix);
	for (int page = 0; page < 10 && !ret; page++) {
		struct http_req req = { .body = &body, .quiet = mirror };
		json_t *root, *repos, *v;
		size_t i, n;
		bool past = false, found = false;

		buf_reset(&body);
		buf_reset(&path);
		ret = buf_addstr(&path, "v2/_catalog?n=1000&last=");
		if (!ret)
			ret = http_escape(&path, buf_str(&last));
		if (ret)
			break;
		memset(resp, 0, sizeof(*resp));
		ret = request_with_auth(c, src, "registry:catalog:*", "_catalog",
					buf_str(&path), &req, resp);
		if (ret) {
			if (ret != -ENOENT && ret != -EACCES && !mirror)
				log_http_fail("catalog of", src, "", NULL, resp);
			ret = -ENOENT;
			break;
		}
		root = json_loadb(body.data ? body.data : "", body.len, 0, NULL);
		repos = root ? json_object_get(root, "repositories") : NULL;
		if (!json_is_array(repos)) {
			json_decref(root);
			ret = -ENOENT;
			break;
		}
		n = json_array_size(repos);
		json_array_foreach(repos, i, v) {
			const char *r = json_string_value(v);

			if (!r)
				continue;
			if (strncmp(r, prefix, plen) == 0 && r[plen] == '/') {
				found = true;
				break;
			}
			if (strncmp(r, prefix, plen) > 0) {
				past = true;
				break;
			}
		}
		if (!found && !past && n > 0) {
			buf_reset(&last);
			ret = buf_addstr(&last, json_string_value(json_array_get(repos, n - 1)) ?: "");
		}
		json_decref(root);
		if (found) {
			ret = 0;
			goto out;
		}
		if (past || n < 1000)
			break;
	}
	if (!ret)
		ret = -ENOENT;
out:
	buf_release(&body);
	buf_release(&path);
	buf_release(&last);
	return ret;
}

/*
 * registry_namespace_exists - a "yes" from a mirror's catalog (which may
 * list only what it has cached) is a yes; anything else asks the next
 * source.
 */
int registry_namespace_exists(struct registry_client *c, const char *host,
			      const char *prefix)
{
	const char *src[REGISTRY_MIRRORS_MAX + 1];
	struct http_resp *resp;
	size_t n;
	int ret;

	ret = request_begin(host, prefix, &resp);
	if (ret)
		return ret;
	n = reg_host_sources(c, host, false, src, REGISTRY_MIRRORS_MAX + 1);
	for (size_t i = 0; i < n; i++) {
		ret = namespace_try(c, src[i], i + 1 < n, prefix, resp);
		if (!ret || !mirror_skippable(ret))
			break;
		if (i + 1 < n)
			log_debug("registry %s: mirror %s does not list %s/...", host,
				  src[i], prefix);
	}
	free(resp);
	return ret;
}
