/* SPDX-License-Identifier: MIT */
/*
 * http.c - the one place that performs HTTP requests: easy-handle setup
 * (hop_headers, hop_setopt), the redirect policy, capped body reading,
 * header capture, and the classification of a result (hop_result) with
 * the one mapping of HTTP statuses (http_status_errno) and curl errors
 * (curl_errno) to errno, and back from an errno to the words that say
 * which failure it stands for (registry_errno_cause).
 *
 * Time: a request has one deadline (req->timeout_sec, else the client's
 * timeout) for all its hops, besides the connect timeout and the
 * low-speed limit of registry.h (REGISTRY_MIN_RATE over the client's
 * timeout), which together bound a stalled or drip-fed peer.  A request
 * with a stop flag polls it in the progress callback, which libcurl calls
 * even while nothing arrives.
 *
 * Owns: the pool of idle easy handles of a client (client->pool, under
 * client->pool_lock).  Each request takes a handle from the pool (or makes
 * one), uses it on this thread alone and gives it back after
 * curl_easy_reset(), which keeps the handle's connection cache: that is
 * where keep-alive reuse comes from.  The connection cache is deliberately
 * NOT put in the CURLSH: libcurl documents sharing connections between
 * concurrently running threads as unsupported, so the CURLSH shares only
 * the DNS cache and TLS sessions (both safe with the lock callbacks).
 *
 * Credentials and redirects (CVE-2018-1000007, CVE-2022-27776,
 * regclient#1095): a request that carries an Authorization header is sent
 * with CURLOPT_FOLLOWLOCATION off, and redirects are followed here.  The
 * header is re-sent only while every hop stays on the scheme, host and
 * port of the first URL; once a hop leaves that origin the credentials are
 * dropped for good and the rest of the chain is left to libcurl's
 * FOLLOWLOCATION, which then has nothing to leak.  This holds whatever the
 * libcurl version does with custom headers, which is why it is preferred
 * over relying on libcurl's own stripping.  CURLOPT_UNRESTRICTED_AUTH is
 * never set.  Neither plain http nor a disabled TLS check carries across a
 * redirect: a chain that starts with either is followed here, hop by hop,
 * each hop allowed http or an unchecked certificate only by the rules for
 * its own host (loopback, or listed insecure), as the first URL was.  A
 * 401 from a hop that left the origin is not answered: its challenge
 * names a realm the registry did not choose, and answering it would send
 * the registry's credentials there (the caller sees EACCES, logged here).
 * CURLOPT_ACCEPT_ENCODING is never set either: a
 * Content-Encoding would change the bytes that are hashed and would hand
 * the server a decompression bomb.
 */
#include "registry.h"
#include "registry_int.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "log.h"

#ifndef IMGFS_VERSION
#error "IMGFS_VERSION must be defined by the build (CMakeLists.txt)"
#endif

#define HTTP_MAX_REDIRS 5
#define HTTP_USER_AGENT "imgfs/" IMGFS_VERSION

struct xfer {
	const struct http_req *req;
	struct http_resp *resp;
	struct buf errbody;	/* body of a non-2xx response, capped */
	int err;		/* why a callback stopped the transfer */
	bool err_over;		/* the error body hit its cap */
	bool plain_ok;		/* this hop may use http besides https */
	bool noverify;		/* this hop skips the TLS certificate check */
	const struct reg_host *hc;	/* this hop's host settings, or NULL */
	int64_t deadline_ms;	/* reg_now_ms() at the request's end */
	uint64_t sent;		/* bytes of req->source sent this hop */
};

/* Whether @req sends a body (a form or a source): never redirected. */
static bool req_sends(const struct http_req *req)
{
	return req->form || (req->method && strcmp(req->method, "HEAD") != 0);
}

static const char *req_method(const struct http_req *req)
{
	return req->method ? req->method : req->form ? "POST" : "GET";
}

int http_status_errno(long status)
{
	if (status >= 200 && status < 300)
		return 0;
	switch (status) {
	case 401:
	case 403:
		return -EACCES;
	case 404:
		return -ENOENT;
	case 408:	/* the server gave up waiting: a timeout, retried */
		return -ETIMEDOUT;
	case 405:	/* the registry does not do this (deletes disabled,
			 * a read-only mirror) */
		return -EPERM;
	case 416:
		return -ERANGE;
	case 429:
		return -EAGAIN;
	}
	if (status >= 400 && status < 500)
		return -EPROTO;
	return -EIO;
}

const char *registry_errno_cause(int err)
{
	switch (err) {
	case -ENOENT:
		return "not found in the registry (HTTP 404)";
	case -EACCES:
		return "access denied: bad or missing credentials (HTTP 401/403)";
	case -EAGAIN:
		return "rate limited by the registry (HTTP 429)";
	case -ERANGE:
		return "range not satisfiable (HTTP 416)";
	case -EPERM:
		return "not allowed by the registry (HTTP 405)";
	case -EPROTO:
		return "request refused by the registry (HTTP 4xx)";
	case -EHOSTUNREACH:
		return "registry unreachable (connection refused or name not resolved)";
	case -ETIMEDOUT:
		return "registry timed out (or HTTP 408)";
	case -EIO:
		return "I/O error (HTTP 5xx, broken transfer or bad data)";
	default:
		return strerror(-err);
	}
}

static int curl_errno(CURLcode rc)
{
	switch (rc) {
	case CURLE_OK:
		return 0;
	case CURLE_OPERATION_TIMEDOUT:
		return -ETIMEDOUT;
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
	case CURLE_COULDNT_CONNECT:
		return -EHOSTUNREACH;
	case CURLE_OUT_OF_MEMORY:
		return -ENOMEM;
	default:
		return -EIO;
	}
}

void http_url_for_log(const char *url, char *out, size_t outsz)
{
	size_t n = strcspn(url, "?#");

	if (n >= outsz)
		n = outsz - 1;
	memcpy(out, url, n);
	out[n] = '\0';
}

int http_escape(struct buf *b, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	int ret = 0;

	for (; *s && !ret; s++) {
		unsigned char ch = (unsigned char)*s;

		if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		    (ch >= '0' && ch <= '9') || ch == '-' || ch == '.' || ch == '_' ||
		    ch == '~') {
			ret = buf_add(b, s, 1);
		} else {
			char e[3] = { '%', hex[ch >> 4], hex[ch & 15] };

			ret = buf_add(b, e, 3);
		}
	}
	return ret;
}

/* scheme, host and port of @url; the strings are curl_free()d by caller. */
static int url_origin(const char *url, char **scheme, char **host, char **port)
{
	CURLU *u = curl_url();
	int ret = -EINVAL;

	*scheme = *host = *port = NULL;
	if (!u)
		return -ENOMEM;
	if (curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_SCHEME, scheme, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_HOST, host, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_PORT, port, CURLU_DEFAULT_PORT) == CURLUE_OK)
		ret = 0;
	curl_url_cleanup(u);
	return ret;
}

bool http_same_origin(const char *a, const char *b)
{
	char *s1 = NULL, *h1 = NULL, *p1 = NULL, *s2 = NULL, *h2 = NULL, *p2 = NULL;
	bool same = false;

	if (url_origin(a, &s1, &h1, &p1) == 0 && url_origin(b, &s2, &h2, &p2) == 0)
		same = !strcasecmp(s1, s2) && !strcasecmp(h1, h2) && !strcmp(p1, p2);
	curl_free(s1);
	curl_free(h1);
	curl_free(p1);
	curl_free(s2);
	curl_free(h2);
	curl_free(p2);
	return same;
}

/* ---- the handle pool ---- */

static CURL *pool_get(struct registry_client *c)
{
	CURL *h = NULL;

	pthread_mutex_lock(&c->pool_lock);
	if (c->n_pool)
		h = c->pool[--c->n_pool];
	pthread_mutex_unlock(&c->pool_lock);
	return h ? h : curl_easy_init();
}

static void pool_return(struct registry_client *c, CURL *h)
{
	curl_easy_reset(h);
	pthread_mutex_lock(&c->pool_lock);
	if (c->n_pool < REG_POOL_MAX) {
		c->pool[c->n_pool++] = h;
		h = NULL;
	}
	pthread_mutex_unlock(&c->pool_lock);
	if (h)
		curl_easy_cleanup(h);
}

/* ---- callbacks ---- */

/* Copy a header value (trimmed) into @dst; false if it did not fit. */
static bool header_copy(char *dst, size_t dsz, const char *v, size_t n)
{
	while (n && (v[0] == ' ' || v[0] == '\t')) {
		v++;
		n--;
	}
	while (n && (v[n - 1] == '\r' || v[n - 1] == '\n' || v[n - 1] == ' ' ||
		     v[n - 1] == '\t'))
		n--;
	if (n >= dsz) {
		dst[0] = '\0';
		return false;
	}
	memcpy(dst, v, n);
	dst[n] = '\0';
	return true;
}

static bool header_is(const char *line, size_t n, const char *name, size_t *vofs)
{
	size_t l = strlen(name);

	if (n <= l || line[l] != ':' || strncasecmp(line, name, l) != 0)
		return false;
	*vofs = l + 1;
	return true;
}

static size_t on_header(char *line, size_t sz, size_t nmemb, void *u)
{
	struct xfer *x = u;
	struct http_resp *r = x->resp;
	size_t n = sz * nmemb, v;

	if (n > 5 && strncmp(line, "HTTP/", 5) == 0) {
		/* A new response (after a redirect or a 1xx): forget the
		 * headers of the previous one. */
		const char *sp = memchr(line, ' ', n);
		long st = 0;

		for (const char *p = sp ? sp + 1 : line + n;
		     p < line + n && *p >= '0' && *p <= '9' && st < 1000; p++)
			st = st * 10 + (*p - '0');
		r->status = st;
		r->content_type[0] = r->digest[0] = r->content_range[0] = '\0';
		r->www_auth[0] = r->retry_after[0] = '\0';
		r->location[0] = r->upload_range[0] = '\0';
		r->link[0] = '\0';
		r->www_auth_cut = false;
		return n;
	}
	if (header_is(line, n, "Content-Type", &v)) {
		header_copy(r->content_type, sizeof(r->content_type), line + v, n - v);
	} else if (header_is(line, n, "Docker-Content-Digest", &v)) {
		header_copy(r->digest, sizeof(r->digest), line + v, n - v);
	} else if (header_is(line, n, "Content-Range", &v)) {
		header_copy(r->content_range, sizeof(r->content_range), line + v, n - v);
	} else if (header_is(line, n, "Location", &v)) {
		header_copy(r->location, sizeof(r->location), line + v, n - v);
	} else if (header_is(line, n, "Link", &v)) {
		header_copy(r->link, sizeof(r->link), line + v, n - v);
	} else if (header_is(line, n, "Range", &v)) {
		header_copy(r->upload_range, sizeof(r->upload_range), line + v, n - v);
	} else if (header_is(line, n, "Retry-After", &v)) {
		header_copy(r->retry_after, sizeof(r->retry_after), line + v, n - v);
	} else if (header_is(line, n, "WWW-Authenticate", &v)) {
		/* Keep the first Bearer challenge, else the first one. */
		const char *val = line + v;
		size_t vn = n - v;

		while (vn && (*val == ' ' || *val == '\t')) {
			val++;
			vn--;
		}
		if (!r->www_auth[0] && !r->www_auth_cut) {
			r->www_auth_cut = !header_copy(r->www_auth, sizeof(r->www_auth),
						       val, vn);
		} else if (vn > 7 && strncasecmp(val, "bearer ", 7) == 0 &&
			   strncasecmp(r->www_auth, "bearer ", 7) != 0) {
			r->www_auth_cut = !header_copy(r->www_auth, sizeof(r->www_auth),
						       val, vn);
		}
	}
	return n;
}

static size_t on_body(char *data, size_t sz, size_t nmemb, void *u)
{
	struct xfer *x = u;
	const struct http_req *req = x->req;
	size_t n = sz * nmemb;
	int ret;

	if (x->resp->status >= 200 && x->resp->status < 300) {
		if (req->sink)
			ret = req->sink(req->sink_ctx, x->resp, data, n);
		else if (req->body)
			ret = buf_add(req->body, data, n);
		else
			ret = 0;
		if (ret) {
			x->err = ret;
			return 0;	/* aborts with CURLE_WRITE_ERROR */
		}
		return n;
	}
	if (buf_add(&x->errbody, data, n)) {
		x->err_over = true;
		return 0;
	}
	return n;
}

/* Progress callback of a request with a stop flag: libcurl calls it
 * about once a second even while the peer sends nothing, which is what
 * lets a stalled transfer be abandoned at once. */
static int on_progress(void *u, curl_off_t dltotal, curl_off_t dlnow,
		       curl_off_t ultotal, curl_off_t ulnow)
{
	struct xfer *x = u;

	(void)dltotal;
	(void)dlnow;
	(void)ultotal;
	(void)ulnow;
	if (__atomic_load_n(x->req->stop, __ATOMIC_ACQUIRE)) {
		x->err = -ECANCELED;
		return 1;	/* aborts with CURLE_ABORTED_BY_CALLBACK */
	}
	return 0;
}

/* The request body, from req->source; an error of it aborts the transfer. */
static size_t on_read(char *dst, size_t sz, size_t nmemb, void *u)
{
	struct xfer *x = u;
	const struct http_req *req = x->req;
	size_t n = sz * nmemb;
	int ret;

	if (n > req->source_len - x->sent)
		n = (size_t)(req->source_len - x->sent);
	if (!n)
		return 0;
	ret = req->source(req->source_ctx, req->source_off + x->sent, dst, n);
	if (ret) {
		x->err = ret;
		return CURL_READFUNC_ABORT;
	}
	x->sent += n;
	return n;
}

/* libcurl resends a body (a reused connection found dead) from @off. */
static int on_seek(void *u, curl_off_t off, int origin)
{
	struct xfer *x = u;

	if (origin != SEEK_SET || off < 0 || (uint64_t)off > x->req->source_len)
		return CURL_SEEKFUNC_FAIL;
	x->sent = (uint64_t)off;
	return CURL_SEEKFUNC_OK;
}

/* errors[0].code of a registry error body, if it is one. */
static void parse_err_code(const struct buf *b, struct http_resp *r)
{
	json_t *root, *e;
	const char *code;

	r->err_code[0] = '\0';
	if (!b->len)
		return;
	root = json_loadb(b->data, b->len, 0, NULL);
	e = json_array_get(json_object_get(root, "errors"), 0);
	code = json_string_value(json_object_get(e, "code"));
	if (code) {
		size_t n = strspn(code, "ABCDEFGHIJKLMNOPQRSTUVWXYZ_0123456789");

		if (n >= sizeof(r->err_code))
			n = sizeof(r->err_code) - 1;
		memcpy(r->err_code, code, n);
		r->err_code[n] = '\0';
	}
	json_decref(root);
}

/* ---- one hop: request setup ---- */

/* Append "@name: @value" to *@hdrs; the line is zeroed before it is freed
 * because it may be the Authorization header. */
static int header_add(struct curl_slist **hdrs, const char *name, const char *value)
{
	struct curl_slist *tmp;
	struct buf line;
	int ret;

	buf_init(&line, 1 << 20);
	ret = buf_printf(&line, "%s: %s", name, value);
	if (!ret) {
		tmp = curl_slist_append(*hdrs, buf_str(&line));
		if (tmp)
			*hdrs = tmp;
		else
			ret = -ENOMEM;
	}
	reg_buf_release_secret(&line);
	return ret;
}

/* The request headers of one hop: Accept, Range and @auth where given. */
static int hop_headers(const struct http_req *req, const char *auth,
		       struct curl_slist **hdrs)
{
	int ret = 0;

	*hdrs = NULL;
	if (req->accept)
		ret = header_add(hdrs, "Accept", req->accept);
	if (!ret && req->range)
		ret = header_add(hdrs, "Range", req->range);
	if (!ret && req->content_type)
		ret = header_add(hdrs, "Content-Type", req->content_type);
	if (!ret && req->content_range)
		ret = header_add(hdrs, "Content-Range", req->content_range);
	if (!ret && req->source) {
		/* No "Expect: 100-continue" round trip before a body. */
		struct curl_slist *tmp = curl_slist_append(*hdrs, "Expect:");

		if (tmp)
			*hdrs = tmp;
		else
			ret = -ENOMEM;
	}
	if (!ret && auth)
		ret = header_add(hdrs, "Authorization", auth);
	return ret;
}

/* Free the header list of a hop, zeroing the copy of the credentials. */
static void hop_headers_free(struct curl_slist *hdrs)
{
	for (struct curl_slist *l = hdrs; l; l = l->next)
		if (strncasecmp(l->data, "Authorization:", 14) == 0)
			explicit_bzero(l->data, strlen(l->data));
	curl_slist_free_all(hdrs);
}

/*
 * Every option of one hop on @h.  @follow lets libcurl follow redirects
 * itself (only when no credentials ride along and the hop is https with
 * the certificate checked, see the file comment); x->plain_ok allows http
 * besides https, x->noverify an unchecked certificate.  The hop gets what
 * is left of the request's deadline (@left_ms), the low-speed limit of
 * registry.h and, with a stop flag, the progress callback that honours it.
 * TLS uses the CA file and client certificate of the hop's own host
 * (x->hc, hosts.c), else the client's CA file, else the system's CAs.
 */
static void hop_setopt(struct registry_client *c, CURL *h, struct xfer *x,
		       const char *url, struct curl_slist *hdrs, bool follow,
		       long redirs_left, int64_t left_ms, char *errbuf)
{
	const struct http_req *req = x->req;
	const char *protocols = x->plain_ok ? "http,https" : "https";
	long timeout = c->timeout_sec > 0 ? c->timeout_sec : 30;

	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_SHARE, c->share);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, protocols);
	curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, protocols);
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, follow ? 1L : 0L);
	curl_easy_setopt(h, CURLOPT_MAXREDIRS, redirs_left);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, timeout);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)left_ms);
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, (long)REGISTRY_MIN_RATE);
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, timeout);
	if (req->stop) {
		curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
		curl_easy_setopt(h, CURLOPT_XFERINFODATA, x);
		curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
	}
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(h, CURLOPT_USERAGENT, HTTP_USER_AGENT);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, x);
	/* A blob's body comes in pieces of up to 1 MiB instead of curl's
	 * 16 KiB: fewer recv calls here and fewer, larger writes of the
	 * blob in the store (first read of the never-seen fat image, 636 MB
	 * of layers: the daemon's CPU 2.91 -> 2.74 s, its wall time 1.75 ->
	 * 1.68 s, medians of 8).  Small requests keep the default, set
	 * again because pooled handles keep their options. */
	curl_easy_setopt(h, CURLOPT_BUFFERSIZE,
			 req->sink ? REG_BLOB_PIECE : (long)CURL_MAX_WRITE_SIZE);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, x);
	if (req->form) {
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, req->form);
		curl_easy_setopt(h, CURLOPT_POSTREDIR, 0L);
	} else if (req->method && strcmp(req->method, "HEAD") == 0) {
		curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
	} else if (req->method) {
		/* Every body, even an empty one, goes through the read
		 * callback with its exact Content-Length. */
		curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, req->method);
		curl_easy_setopt(h, CURLOPT_READFUNCTION, on_read);
		curl_easy_setopt(h, CURLOPT_READDATA, x);
		curl_easy_setopt(h, CURLOPT_SEEKFUNCTION, on_seek);
		curl_easy_setopt(h, CURLOPT_SEEKDATA, x);
		curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE,
				 (curl_off_t)(req->source ? req->source_len : 0));
	}
	if (x->hc && x->hc->ca_file)
		curl_easy_setopt(h, CURLOPT_CAINFO, x->hc->ca_file);
	else if (c->ca_file)
		curl_easy_setopt(h, CURLOPT_CAINFO, c->ca_file);
	else if (c->ca_dir) {
		/* the directory alone: see client.c on the system's CAs */
		curl_easy_setopt(h, CURLOPT_CAINFO, NULL);
		curl_easy_setopt(h, CURLOPT_CAPATH, c->ca_dir);
	}
	if (x->hc && x->hc->client_cert) {
		curl_easy_setopt(h, CURLOPT_SSLCERT, x->hc->client_cert);
		curl_easy_setopt(h, CURLOPT_SSLKEY, x->hc->client_key);
	}
	if (x->noverify) {
		curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
	}
}

/* ---- one hop: result classification ---- */

/*
 * The outcome of curl_easy_perform() on @h as an errno, in this order: a
 * sink's stop or error; a transport error (status 0, logged unless
 * req->quiet); else the status through http_status_errno().  For a 3xx
 * that libcurl did not follow, *location gets the redirect target
 * (caller frees).
 */
static int hop_result(CURL *h, struct xfer *x, const char *url, CURLcode rc,
		      const char *errbuf, char **location)
{
	const struct http_req *req = x->req;
	char *loc = NULL, u[256];
	long st = 0;
	int ret;

	*location = NULL;
	x->resp->curl_rc = rc;
	if (x->err == HTTP_SINK_STOP)
		return 0;
	if (x->err)
		return x->err;
	/* An error status whose body was cut short (by our cap, or because
	 * it ended early) is reported as that status: the body does not
	 * matter.  distribution 2.8 answers 416 with the Content-Length of
	 * the whole blob. */
	if (rc != CURLE_OK && !(rc == CURLE_WRITE_ERROR && x->err_over) &&
	    !(x->resp->status >= 300 && rc == CURLE_PARTIAL_FILE)) {
		x->resp->status = 0;
		snprintf(x->resp->curl_err, sizeof(x->resp->curl_err), "%s%s%s",
			 curl_easy_strerror(rc), errbuf[0] ? ": " : "", errbuf);
		if (!req->quiet) {
			http_url_for_log(url, u, sizeof(u));
			log_err("registry: %s %s: %s%s%s", req_method(req), u,
				curl_easy_strerror(rc), errbuf[0] ? ": " : "", errbuf);
		}
		return curl_errno(rc);
	}
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &st);
	x->resp->status = st;
	ret = http_status_errno(st);
	if (!ret)
		return 0;
	parse_err_code(&x->errbody, x->resp);
	if (st >= 300 && st < 400 &&
	    curl_easy_getinfo(h, CURLINFO_REDIRECT_URL, &loc) == CURLE_OK && loc &&
	    !(*location = strdup(loc)))
		ret = -ENOMEM;
	return ret;
}

/* One request to @url with @auth (or none); see hop_setopt and hop_result. */
static int perform_hop(struct registry_client *c, CURL *h, struct xfer *x,
		       const char *url, const char *auth, bool follow,
		       long redirs_left, char **location)
{
	struct curl_slist *hdrs = NULL;
	char errbuf[CURL_ERROR_SIZE] = "";
	int64_t left_ms = x->deadline_ms - reg_now_ms();
	CURLcode rc;
	int ret;

	*location = NULL;
	memset(x->resp, 0, sizeof(*x->resp));
	buf_reset(&x->errbody);
	x->err = 0;
	x->err_over = false;
	if (left_ms <= 0) {
		char u[256];

		http_url_for_log(url, u, sizeof(u));
		log_err("registry: GET %s: deadline passed (redirects)", u);
		return -ETIMEDOUT;
	}
	x->sent = 0;
	ret = hop_headers(x->req, auth, &hdrs);
	if (ret)
		goto out;
	hop_setopt(c, h, x, url, hdrs, follow, redirs_left, left_ms, errbuf);
	rc = curl_easy_perform(h);
	ret = hop_result(h, x, url, rc, errbuf, location);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, NULL);
out:
	hop_headers_free(hdrs);
	return ret;
}

/* The settings (CA, client certificate) of the host of @host:@port. */
static const struct reg_host *hop_host(struct registry_client *c, const char *host,
				       const char *port)
{
	char hp[300];

	snprintf(hp, sizeof(hp), "%s:%s", host, port);
	return reg_host_find(c, hp);
}

/*
 * hop_policy - whether a redirect hop to @url may use plain http and skip
 * the certificate check: by the rules for its own host[:port], as the
 * first URL's host was judged (client.c), never inherited from it; and
 * the CA and client certificate of that host, not of the first one.
 */
static int hop_policy(struct registry_client *c, const char *url, struct xfer *x)
{
	char *scheme = NULL, *host = NULL, *port = NULL, hp[300];
	int ret = url_origin(url, &scheme, &host, &port);

	if (!ret) {
		snprintf(hp, sizeof(hp), "%s:%s", host, port);
		x->plain_ok = reg_host_plain_ok(c, hp);
		x->noverify = reg_host_insecure(c, hp);
		x->hc = reg_host_find(c, hp);
	}
	curl_free(scheme);
	curl_free(host);
	curl_free(port);
	return ret;
}

/*
 * http_do - see registry_int.h.  Redirects that libcurl was not allowed to
 * follow come back from perform_hop() with a Location and are followed
 * here, at most HTTP_MAX_REDIRS in all, the credentials dropped for good
 * at the first hop that leaves the origin of req->url.
 */
int http_do(struct registry_client *c, const struct http_req *req,
	    struct http_resp *resp)
{
	struct xfer x = { .req = req, .resp = resp };
	long timeout = req->timeout_sec > 0 ? req->timeout_sec : c->timeout_sec;
	const char *auth = req->auth;
	char *url = NULL, *loc = NULL, *scheme = NULL, *host = NULL, *port = NULL;
	char *eff = NULL;
	CURL *h;
	int ret, hops = 0;

	buf_init(&x.errbody, REG_SMALL_MAX);
	x.deadline_ms = reg_now_ms() + (int64_t)timeout * 1000;
	/* The first URL is http only for a loopback or insecure registry
	 * (client.c chose it); its redirects are judged hop by hop. */
	ret = url_origin(req->url, &scheme, &host, &port);
	if (ret) {
		log_err("registry: malformed URL");
		memset(resp, 0, sizeof(*resp));
		goto out_noh;
	}
	x.plain_ok = strcasecmp(scheme, "http") == 0;
	x.noverify = req->tls_noverify;
	x.hc = hop_host(c, host, port);
	url = strdup(req->url);
	h = pool_get(c);
	if (!url || !h) {
		ret = -ENOMEM;
		if (h)
			pool_return(c, h);
		goto out_noh;
	}
	for (;;) {
		/* A POST (token refresh) carries its secret in the body, so
		 * it is never followed automatically either; nor is a hop
		 * whose laxer transport a redirect must not inherit. */
		ret = perform_hop(c, h, &x, url, auth,
				  !auth && !req_sends(req) && !x.plain_ok && !x.noverify,
				  HTTP_MAX_REDIRS - hops, &loc);
		if (!loc)
			break;
		/* Only hops not followed by libcurl come back with a Location. */
		if (++hops > HTTP_MAX_REDIRS || req_sends(req)) {
			char u[256];

			http_url_for_log(req->url, u, sizeof(u));
			log_err("registry: %s %s: %s", req_method(req), u,
				req_sends(req) ? "redirected, not followed" :
				"too many redirects");
			ret = -EIO;
			break;
		}
		if (!http_same_origin(loc, req->url))
			auth = NULL;
		free(url);
		url = loc;
		loc = NULL;
		curl_easy_reset(h);
		if (hop_policy(c, url, &x)) {
			log_err("registry: malformed redirect URL");
			ret = -EIO;
			break;
		}
	}
	if (resp->status == 401 &&
	    curl_easy_getinfo(h, CURLINFO_EFFECTIVE_URL, &eff) == CURLE_OK && eff &&
	    !http_same_origin(eff, req->url)) {
		char u[256], e[256];

		http_url_for_log(req->url, u, sizeof(u));
		http_url_for_log(eff, e, sizeof(e));
		log_err("registry: GET %s was redirected to %s, which demands "
			"authentication: not answered (the registry's credentials "
			"are not sent to a realm it did not name)", u, e);
		resp->status = 0;	/* logged; not a challenge of the registry */
		ret = -EACCES;
	}
	free(loc);
	pool_return(c, h);
out_noh:
	free(url);
	curl_free(scheme);
	curl_free(host);
	curl_free(port);
	buf_release(&x.errbody);
	return ret;
}
