/* SPDX-License-Identifier: MIT */
/*
 * registry_int.h - what the registry .c files share and nobody else
 * sees: the client structure, the one HTTP entry point (http.c), the auth
 * cache (auth.c) and a few reference helpers (ref.c).
 *
 * Lock order: client->pool_lock and client->lock are both leaves (nothing
 * else is taken while either is held, and neither is held across network
 * I/O or a credential helper).  The CURLSH locks are taken by libcurl only.
 */
#ifndef IMGFS_REGISTRY_INTERNAL_H
#define IMGFS_REGISTRY_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <curl/curl.h>

#include "buf.h"
#include "htab.h"
#include "registry.h"

/* Idle easy handles kept for connection reuse (see http.c). */
#define REG_POOL_MAX 16
/* Token responses and error bodies. */
#define REG_SMALL_MAX BUF_SMALL_MAX

struct registry_client {
	char *default_host;
	char *docker_config;	/* NULL: $DOCKER_CONFIG or ~/.docker */
	char **insecure;	/* NULL-terminated copy of opts->insecure */
	char *ca_file;
	long timeout_sec;

	CURLSH *share;		/* DNS cache and TLS sessions */
	pthread_mutex_t share_locks[CURL_LOCK_DATA_LAST];

	pthread_mutex_t pool_lock;	/* guards pool, n_pool */
	CURL *pool[REG_POOL_MAX];
	size_t n_pool;

	pthread_mutex_t lock;	/* guards tokens, creds, schemes */
	struct htab tokens;	/* "host scope" -> struct auth_entry * */
	struct htab creds;	/* host -> struct creds_entry * */
	struct htab schemes;	/* host -> "https" or "http" (static strings) */
};

/* ---- http.c ---- */

/* Called with the body of a 2xx response; resp->status etc. are final. */
struct http_resp;
typedef int (*http_sink_fn)(void *ctx, const struct http_resp *resp,
			    const void *data, size_t n);
/* A sink returns this to end the transfer early with success. */
#define HTTP_SINK_STOP 1

struct http_req {
	const char *url;
	const char *form;	/* non-NULL: POST this urlencoded body */
	const char *accept;	/* Accept header value or NULL */
	const char *auth;	/* Authorization value (secret) or NULL */
	const char *range;	/* "bytes=..." or NULL */
	bool tls_noverify;	/* host is listed insecure */
	bool quiet;		/* caller logs transport errors itself */
	struct buf *body;	/* a 2xx body goes here (capped by it) ... */
	http_sink_fn sink;	/* ... or here */
	void *sink_ctx;
};

struct http_resp {
	long status;		/* 0: no HTTP response at all */
	CURLcode curl_rc;
	char content_type[128];
	char digest[96];	/* Docker-Content-Digest */
	char content_range[96];
	char www_auth[4096];	/* first Bearer challenge, else the first */
	bool www_auth_cut;	/* the challenge did not fit: unusable */
	char retry_after[32];
	char err_code[48];	/* errors[0].code of an error body */
};

int http_do(struct registry_client *c, const struct http_req *req,
	    struct http_resp *resp);
int http_status_errno(long status);
/* "scheme://host[:port]/path" without query or fragment, for log lines:
 * signed CDN URLs carry their secret in the query. */
void http_url_for_log(const char *url, char *out, size_t outsz);
bool http_same_origin(const char *a, const char *b);
/* URL-encode @s onto @b (RFC 3986 unreserved kept). */
int http_escape(struct buf *b, const char *s);

/* ---- client.c ---- */

/* Whether @host may be reached over plain HTTP (loopback or insecure). */
bool reg_host_plain_ok(const struct registry_client *c, const char *host);
bool reg_host_insecure(const struct registry_client *c, const char *host);

/* ---- auth.c ---- */

/* The cached Authorization value for host+scope, or NULL.  Caller frees
 * with reg_secret_free(). */
char *auth_cached(struct registry_client *c, const char *host, const char *scope);
/* Answer a 401: parse @www_auth, get a token (Bearer) or build Basic,
 * cache it and return the Authorization value in *out. */
int auth_obtain(struct registry_client *c, const char *host, const char *scope,
		const char *www_auth, char **out);
void auth_forget(struct registry_client *c, const char *host, const char *scope);
void auth_cache_release(struct registry_client *c);

/* ---- creds.c ---- */
void reg_secret_free(char *s);
int reg_base64_encode(const char *in, size_t n, char **out);

#endif
