/* SPDX-License-Identifier: MIT */
/*
 * registry_int.h - what the files of the registry client (library
 * imgfs_registry) share and nobody else sees: the client structure, the
 * one HTTP entry point, the auth cache, the Bearer flow and the secret
 * helpers.  Included by auth.c, bearer.c, catalog.c, client.c, creds.c, hosts.c,
 * http.c, push.c and secret.c; challenge.c needs only the public
 * registry.h, and ref.c and manifest.c (library imgfs_oci) only oci.h.
 *
 * Names: a function shared between these files is not static and carries
 * the prefix of where it lives: http_ for http.c (the libcurl layer, with
 * its struct http_req / http_resp), reg_ for every other file of the
 * client (reg_auth_* in auth.c, reg_bearer_* in bearer.c, reg_host_* and
 * reg_hosts_* in hosts.c, reg_secret_* / reg_creds_* in secret.c).
 * Functions static to one file carry no such prefix.  A function that
 * requires a lock held ends in _locked (none does so far: each takes and drops its own lock).
 *
 * Lock order: client->pool_lock and client->lock are both leaves (nothing
 * else is taken while either is held, and neither is held across network
 * I/O or a credential helper).  The CURLSH locks are taken by libcurl only.
 */
#ifndef IMGFS_REGISTRY_INTERNAL_H
#define IMGFS_REGISTRY_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <curl/curl.h>

#include "buf.h"
#include "htab.h"
#include "registry.h"

/* Idle easy handles kept for connection reuse (see http.c). */
#define REG_POOL_MAX 16
/* curl's receive buffer for a blob's body (http.c) */
#define REG_BLOB_PIECE (1L << 20)
/* Token responses and error bodies. */
#define REG_SMALL_MAX BUF_SMALL_MAX
/* The user name registry_creds_lookup() gives an identity token. */
#define REG_IDENTITY_USER "<token>"

/* One host's settings (registry_host_opts), mirrors as host[:port]. */
struct reg_host {
	char *host;		/* host[:port]; without a port: every port */
	char **mirrors;		/* NULL-terminated, or NULL */
	bool insecure;
	bool plain;		/* named as an http:// mirror */
	char *ca_file;		/* each NULL when not set */
	char *client_cert;
	char *client_key;
	int64_t down_until_ms;	/* as a mirror: not tried before (atomic) */
};

/* How long a mirror that could not be reached is left out of pulls. */
#define REG_MIRROR_BACKOFF_MS 30000

struct registry_client {
	char *default_host;
	char *docker_config;	/* NULL: $DOCKER_CONFIG or ~/.docker */
	char **insecure;	/* NULL-terminated copy of opts->insecure */
	char *ca_file;
	char *ca_dir;		/* system CAs as a hashed directory, or NULL:
				 * libcurl's own defaults (client.c) */
	long timeout_sec;
	struct reg_host *hosts;	/* read-only after registry_client_new() */
	size_t n_hosts;

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
	const char *method;	/* NULL: GET (POST with @form); "HEAD", or
				 * "POST", "PUT", "PATCH" sending @source */
	registry_source_fn source;	/* the request body ... */
	void *source_ctx;
	uint64_t source_off;	/* ... from this offset of the source ... */
	uint64_t source_len;	/* ... this many bytes (0: empty body) */
	const char *content_type;	/* of the request body, or NULL */
	const char *content_range;	/* "start-end" of a PATCH, or NULL */
	const char *accept;	/* Accept header value or NULL */
	const char *auth;	/* Authorization value (secret) or NULL */
	const char *range;	/* "bytes=..." or NULL */
	bool tls_noverify;	/* host is listed insecure */
	bool quiet;		/* caller logs transport errors itself */
	long timeout_sec;	/* deadline of the whole request (every hop);
				 * 0: the client's timeout */
	const int *stop;	/* see struct registry_xfer; may be NULL */
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
	char location[4096];	/* Location (uploads); "" when cut */
	char upload_range[64];	/* Range of an upload's status: "0-<last>" */
	char link[2048];	/* Link (next page of a list); "" when cut */
	char curl_err[320];	/* a transport error, as libcurl words it */
};

/*
 * http_do - perform @req (GET, POST of req->form, or req->method),
 * following redirects by the policy of http.c; a request that sends a
 * body (form or source) follows none: a 3xx is -EIO.
 * Return: 0 for a 2xx response whose body was fully delivered (or stopped
 * by the sink with HTTP_SINK_STOP); else the errno of the status
 * (http_status_errno(), resp->status set), of the transport (status 0),
 * or the error a sink or the body buffer returned.  Transport errors are
 * logged unless req->quiet; HTTP errors are left to the caller, who knows
 * whether a 401 or 404 is an error at all.
 */
int http_do(struct registry_client *c, const struct http_req *req,
	    struct http_resp *resp);
/*
 * http_status_errno - the one mapping of HTTP statuses to errno (the
 * table is in registry.h).  Return: 0 for 2xx, else -errno.
 */
int http_status_errno(long status);
/*
 * http_url_for_log - "scheme://host[:port]/path" of @url without query or
 * fragment into @out (cut to @outsz), for log lines: signed CDN URLs carry
 * their secret in the query.
 */
void http_url_for_log(const char *url, char *out, size_t outsz);
/* http_same_origin - whether @a and @b have the same scheme, host and port. */
bool http_same_origin(const char *a, const char *b);
/* http_escape - URL-encode @s onto @b (RFC 3986 unreserved kept).  0 or -errno of buf_add(). */
int http_escape(struct buf *b, const char *s);

/* ---- client.c ---- */

/*
 * reg_request - a request to @host/@path (path and query, no leading '/')
 * under token @scope, with the cached Authorization or, after a 401, new
 * credentials (one retry); the scheme that answered for @host.  @what
 * names the object in logs.  Returns what http_do() returns;
 * resp->status is 0 when the failure has been logged already.
 */
int reg_request(struct registry_client *c, const char *host, const char *scope,
		const char *what, const char *path, struct http_req *req,
		struct http_resp *resp);
/* reg_base_url - "scheme://endpoint" that serves @host, onto @out. */
int reg_base_url(struct registry_client *c, const char *host, struct buf *out);

/* ---- hosts.c ---- */

/* Whether @host may be reached over plain HTTP (loopback, insecure, or
 * named as an http:// mirror). */
bool reg_host_plain_ok(const struct registry_client *c, const char *host);
/* Whether @host is listed insecure (an entry without a port covers all). */
bool reg_host_insecure(const struct registry_client *c, const char *host);
/* The settings of @host[:port]: the entry with its port, else the one
 * without a port, else NULL.  "registry-1.docker.io" finds "docker.io". */
const struct reg_host *reg_host_find(const struct registry_client *c, const char *host);
/*
 * reg_host_sources - where a pull from @host goes, in order, into @out
 * (at most @max, @max >= 1): the mirrors of @host (none with
 * @origin_only; none left out by reg_host_mirror_failed()), then @host.
 * Return: how many.  The strings live as long as @c and @host.  Requests that write (pushes) use @host alone.
 */
size_t reg_host_sources(const struct registry_client *c, const char *host,
			bool origin_only, const char **out, size_t max);
/*
 * reg_host_mirror_failed - @mirror failed a request with @err: when it
 * could not be reached (-EHOSTUNREACH, -ETIMEDOUT), leave it out of
 * reg_host_sources() for REG_MIRROR_BACKOFF_MS (logged once per outage).
 */
void reg_host_mirror_failed(const struct registry_client *c, const char *mirror, int err);
/* reg_hosts_init - c->hosts from @opts (see registry_client_new()). */
int reg_hosts_init(struct registry_client *c, const struct registry_opts *opts);
/* reg_hosts_release - free c->hosts; only from registry_client_free(). */
void reg_hosts_release(struct registry_client *c);

/* ---- auth.c ---- */

/*
 * reg_auth_cached - the cached, unexpired Authorization value for
 * @host and @scope.
 * Return: a copy the caller frees with reg_secret_free(), or NULL (none,
 * expired, or out of memory: the request then goes out anonymously).
 */
char *reg_auth_cached(struct registry_client *c, const char *host, const char *scope);
/*
 * reg_auth_obtain - answer a 401 from @host for @scope: parse @www_auth,
 * get a token (Bearer, bearer.c) or build Basic from the credentials of
 * @host, and cache the result.
 * Return: 0 with *out the Authorization value to retry with (caller frees
 * with reg_secret_free()); -EACCES (logged) when there is nothing to retry
 * with; another -errno from the token request.
 */
int reg_auth_obtain(struct registry_client *c, const char *host, const char *scope,
		    const char *www_auth, char **out);
/* reg_auth_forget - drop the cached value for @host and @scope (rejected). */
void reg_auth_forget(struct registry_client *c, const char *host, const char *scope);
/* reg_auth_cache_release - free both caches; only from registry_client_free(). */
void reg_auth_cache_release(struct registry_client *c);
/*
 * reg_basic_value - "Basic base64(@user:@secret)" into *out (caller frees
 * with reg_secret_free()).  Return: 0, -EINVAL (too long) or -ENOMEM.
 */
int reg_basic_value(const char *user, const char *secret, char **out);

/* ---- bearer.c ---- */

/*
 * reg_bearer_fetch - ask the realm of challenge @ch for a token for
 * @scope, with @user/@secret (both NULL: anonymously; user
 * REG_IDENTITY_USER: @secret is an identity token).
 * Return: 0 with *out = "Bearer <token>" (caller frees with
 * reg_secret_free()) and *ttl its lifetime in seconds; -EACCES when the
 * realm may not be used (not https) or refused us, -EIO for an unusable
 * answer, another -errno of http_do().  Failures are logged.
 */
int reg_bearer_fetch(struct registry_client *c, const char *host,
		     const struct registry_challenge *ch, const char *scope,
		     const char *user, const char *secret, char **out, int64_t *ttl);

/* ---- creds.c ---- */

/* reg_now_ms - CLOCK_MONOTONIC in milliseconds, for deadlines. */
int64_t reg_now_ms(void);

/* ---- secret.c ---- */

/* reg_secret_free - zero the string @s, then free it.  NULL is fine. */
void reg_secret_free(char *s);
/* reg_creds_clear - reg_secret_free() both and set both to NULL. */
void reg_creds_clear(char **user, char **secret);
/* reg_buf_release_secret - zero the contents of @b, then buf_release() it. */
void reg_buf_release_secret(struct buf *b);

#endif
