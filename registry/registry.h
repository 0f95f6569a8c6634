/* SPDX-License-Identifier: MIT */
/*
 * registry.h - OCI distribution client: references, auth, manifests, blobs.
 *
 * The registry module knows HTTP and the distribution spec, nothing of
 * FUSE and nothing of the store's files.  Every function returns 0 or
 * -errno; HTTP statuses are mapped to errno in one place (http.c):
 *   401/403 -> -EACCES, 404 -> -ENOENT, 429 -> -EAGAIN, 416 -> -ERANGE,
 *   other 4xx -> -EPROTO, 5xx / transport errors -> -EIO,
 *   connection refused / unresolvable -> -EHOSTUNREACH, timeouts -> -ETIMEDOUT.
 * The failure's cause (status, registry error code, curl error) is logged
 * once, without credentials.
 *
 * Threads: struct registry_client is shared by all threads.  Its token
 * cache is guarded by client->lock (a leaf lock: nothing else is taken
 * while it is held).  Each request uses its own CURL easy handle; only a
 * CURLSH (connections, DNS, TLS sessions), guarded by its own locks, is
 * shared.
 */
#ifndef IMGFS_REGISTRY_H
#define IMGFS_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "oci.h"

/* ---- the client (client.c, auth.c, http.c) ---------------------------- */

struct registry_opts {
	const char *default_host;	/* "docker.io" */
	const char *docker_config;	/* path of config.json, or NULL to use
					 * $DOCKER_CONFIG / ~/.docker */
	const char *const *insecure;	/* NULL-terminated host[:port] list */
	const char *ca_file;		/* NULL: system CAs */
	long timeout_sec;		/* per request without progress; 0: 30 */
};

struct registry_client;

int registry_client_new(const struct registry_opts *opts, struct registry_client **out);
void registry_client_free(struct registry_client *c);

/*
 * registry_manifest_get - GET /v2/<repo>/manifests/<ref> with the full
 * Accept list.  @body is filled (its cap bounds the size; use
 * BUF_MANIFEST_MAX); *media_type gets the Content-Type without
 * parameters, *digest the sha256 of the body (computed here, compared with
 * Docker-Content-Digest and, if @ref is a digest, with @ref: mismatch is
 * -EIO).  Caller frees both strings.
 */
int registry_manifest_get(struct registry_client *c, const char *host,
			  const char *repo, const char *ref, struct buf *body,
			  char **media_type, char **digest);

/*
 * registry_blob_get - GET /v2/<repo>/blobs/<digest>, following redirects
 * without credentials.  With @offset > 0 or @length > 0 a Range request is
 * made (length 0 = to the end); a server that ignores Range is handled by
 * skipping bytes.  Every byte of the body is passed to @sink in order; a
 * non-zero return from @sink aborts the transfer and is returned.  At most
 * @length bytes (or, without a length, @max_total) are delivered: more is
 * -EFBIG.  Verification of the digest is the caller's job, since only the
 * caller sees the whole blob.
 */
typedef int (*registry_sink_fn)(void *ctx, const void *data, size_t n);
int registry_blob_get(struct registry_client *c, const char *host,
		      const char *repo, const char *digest, uint64_t offset,
		      uint64_t length, uint64_t max_total, registry_sink_fn sink,
		      void *ctx);

/*
 * registry_tags_exist - whether @repo is a repository of @host
 * (GET tags/list?n=1 answered 200).  0 yes, -ENOENT no, other -errno.
 */
int registry_repo_exists(struct registry_client *c, const char *host,
			 const char *repo);

/*
 * registry_namespace_exists - whether some repository of @host is named
 * "@prefix/..." (from the catalog, where the registry has one).  0 yes,
 * -ENOENT no or unknown, other -errno.
 */
int registry_namespace_exists(struct registry_client *c, const char *host,
			      const char *prefix);

/* ---- pieces exposed for unit tests (auth.c) ---------------------------- */

struct registry_challenge {
	char scheme[16];	/* "Bearer" or "Basic" */
	char *realm;
	char *service;
	char *scope;
	char *error;
};
/* Parse one WWW-Authenticate header value (RFC 7235 auth-params, quoted
 * strings with escapes). */
int registry_challenge_parse(const char *value, struct registry_challenge *out);
void registry_challenge_release(struct registry_challenge *ch);

/*
 * Credentials for @host from a docker config.json: credHelpers[host],
 * then credsStore, then auths (key "https://index.docker.io/v1/" for
 * docker.io, bare host[:port] or a URL naming that host otherwise).
 * Both out-strings are NULL when none.  An identity token comes back with user
 * "<token>".
 */
int registry_creds_lookup(const char *config_path, const char *host,
			  char **user, char **secret);

#endif
