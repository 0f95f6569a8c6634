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

/* ---- references (ref.c) ---------------------------------------------- */

#define REGISTRY_DOCKER_HUB "docker.io"

/*
 * A parsed, normalised image reference.  host is "docker.io" for the
 * default hub (reached at registry-1.docker.io), else host[:port].
 * repo is the path as the registry knows it ("library/ubuntu" on
 * docker.io).  tag and digest may both be NULL (no default applied).
 */
struct registry_ref {
	char *host;
	char *repo;
	char *tag;
	char *digest;
};

/*
 * registry_ref_parse - parse @s with Docker's normalisation rules.
 * @default_host: the registry for names without a host component
 *   ("docker.io" unless the mount says otherwise).  "library/" is
 *   prefixed only when the resulting host is docker.io.
 * Returns -EINVAL for anything outside the grammar (upper case in the
 * path, bad tag, 64-hex string, path longer than 255).
 */
int registry_ref_parse(const char *s, const char *default_host,
		       struct registry_ref *out);
void registry_ref_release(struct registry_ref *r);
/* The display form: "ubuntu" for docker.io/library/ubuntu, "host:5000/x"
 * for another host unless it is @default_host. Caller frees. */
char *registry_ref_familiar(const char *host, const char *repo,
			    const char *default_host);
bool registry_tag_valid(const char *tag);
/* One path component of a repository name: [a-z0-9]+((\.|_|__|-+)[a-z0-9]+)* */
bool registry_path_component_valid(const char *c);
/* Whether a first name component is a registry host (has '.' or ':' or is
 * "localhost"). */
bool registry_component_is_host(const char *c);
/* "sha256:" + 64 lowercase hex.  Only such digests ever become paths. */
bool registry_digest_valid(const char *d);

/* ---- manifests and configs (manifest.c) ------------------------------ */

#define REGISTRY_MT_OCI_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define REGISTRY_MT_OCI_INDEX "application/vnd.oci.image.index.v1+json"
#define REGISTRY_MT_DOCKER_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"
#define REGISTRY_MT_DOCKER_LIST "application/vnd.docker.distribution.manifest.list.v2+json"

enum registry_compression {
	REGISTRY_COMP_NONE = 0,
	REGISTRY_COMP_GZIP,
	REGISTRY_COMP_ZSTD,
	REGISTRY_COMP_UNKNOWN,
};

struct registry_desc {
	char *media_type;
	char *digest;	/* validated with registry_digest_valid() */
	int64_t size;	/* >= 0 */
};

struct registry_manifest {
	char *media_type;
	struct registry_desc config;
	struct registry_desc *layers;	/* bottom to top */
	size_t n_layers;
};

enum registry_doc_kind { REGISTRY_DOC_MANIFEST, REGISTRY_DOC_INDEX };

/*
 * registry_doc_kind_of - classify a manifest document.  @content_type may
 * be NULL (stored documents); the body's mediaType, if any, must agree
 * with it, and a document with both "manifests" and "layers" is rejected
 * (CVE-2021-41190).  Schema1 is -ENOTSUP.
 */
int registry_doc_kind_of(const char *body, size_t len, const char *content_type,
			 enum registry_doc_kind *out);
int registry_manifest_parse(const char *body, size_t len, struct registry_manifest *out);
void registry_manifest_release(struct registry_manifest *m);
void registry_desc_release(struct registry_desc *d);
enum registry_compression registry_layer_compression(const char *media_type);

/* The platform images are chosen for: from uname() unless overridden. */
struct registry_platform {
	char os[32];
	char arch[32];
	char variant[16];
};
void registry_platform_host(struct registry_platform *p);
/*
 * registry_index_select - choose the manifest for @plat from an OCI index
 * or Docker manifest list (§3.4 of the semantics reference; attestation
 * entries never match).  -ENOENT when nothing matches.
 */
int registry_index_select(const char *body, size_t len,
			  const struct registry_platform *plat,
			  struct registry_desc *out);

/*
 * Selected fields of an image config, for `docker images` and checks.
 * created is seconds since the epoch (0 when absent).
 */
struct registry_config {
	int64_t created;
	char *architecture;
	char *os;
	char **diff_ids;
	size_t n_diff_ids;
};
int registry_config_parse(const char *body, size_t len, struct registry_config *out);
void registry_config_release(struct registry_config *c);

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
