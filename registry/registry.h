/* SPDX-License-Identifier: MIT */
/*
 * registry.h - the OCI distribution client (library imgfs_registry):
 * fetch manifests and blobs from a registry, probe repositories, answer
 * authentication challenges with credentials from a docker config.json.
 * References, digests, media types and manifest parsing are in oci.h.
 *
 * The client knows HTTP and the distribution spec, nothing of FUSE and
 * nothing of the store's files.  Every function returns 0 or -errno; HTTP
 * statuses are mapped to errno in one place (http_status_errno() in
 * http.c):
 *   401/403 -> -EACCES, 404 -> -ENOENT, 405 -> -EPERM, 408 -> -ETIMEDOUT,
 *   429 -> -EAGAIN, 416 -> -ERANGE, other 4xx -> -EPROTO, 5xx -> -EIO;
 * transport errors: connection refused / unresolvable -> -EHOSTUNREACH,
 *   timeouts -> -ETIMEDOUT, others -> -EIO.
 * The failure's cause (status, registry error code, curl error) is logged
 * once, without credentials.
 *
 * Threads: struct registry_client is shared by all threads.  Its caches
 * (tokens, credentials, the scheme that answered per host) are guarded by
 * one leaf lock.  Each request uses its own CURL easy handle; only a
 * CURLSH (DNS cache, TLS sessions), guarded by its own locks, is shared.
 */
#ifndef IMGFS_REGISTRY_H
#define IMGFS_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "oci.h"

/* ---- the client (client.c, http.c, auth.c, bearer.c) ------------------ */

/*
 * registry_errno_cause - what a registry error @err (-errno, as the calls
 * below return it) stands for, in words for a person ("registry
 * unreachable (connection refused ...)"): the reverse of the mapping
 * above, kept beside it.  A static string.
 */
const char *registry_errno_cause(int err);

/*
 * Settings of one registry host (registry_opts.hosts).  A mirror is used
 * for pulls only (manifests, blobs, tag probes, the catalog): each pull
 * tries the mirrors in order and the host itself last, skipping a mirror
 * that fails for that request (any error but a cancelled or out-of-memory
 * one, 404 included).  What a mirror sends is checked as the host's own
 * answers are: blobs and manifests by digest against their digests; a
 * manifest asked for by tag is taken as the mirror's answer for the tag,
 * as Docker does.  A mirror's TLS settings and credentials are those of
 * the mirror's own host (an entry of its own, or none), never those of the
 * host it mirrors.
 */
struct registry_host_opts {
	const char *host;		/* host[:port]; without a port it covers
					 * every port; "docker.io" for Docker Hub */
	const char *const *mirrors;	/* NULL-terminated "http[s]://host[:port]"
					 * URLs, or NULL; http:// allows plain
					 * http to that mirror */
	bool insecure;			/* as if listed in registry_opts.insecure */
	const char *ca_file;		/* CAs for this host; NULL: the client's */
	const char *client_cert;	/* PEM client certificate and its key, */
	const char *client_key;		/* both or neither */
};

/* At most this many mirrors of one host are tried, in order. */
#define REGISTRY_MIRRORS_MAX 8

struct registry_opts {
	const char *default_host;	/* NULL: "docker.io" */
	const char *docker_config;	/* path of config.json, or NULL to use
					 * $DOCKER_CONFIG / ~/.docker */
	const char *const *insecure;	/* NULL-terminated host[:port] list */
	const char *ca_file;		/* NULL: system CAs */
	long timeout_sec;		/* deadline of a request, and the window
					 * of the low-speed limit; 0: 60 */
	const struct registry_host_opts *hosts;	/* per-host settings */
	size_t n_hosts;
};

/*
 * Every transfer is aborted (-ETIMEDOUT) when its average speed stays
 * below this many bytes per second for timeout_sec (a stalled or
 * drip-fed body), and when it outlives its deadline: timeout_sec for
 * manifests, tokens and probes; what the caller asks for blobs
 * (registry_blob_deadline()).
 */
#define REGISTRY_MIN_RATE ((uint64_t)16 << 10)
/* The timeout_sec of a client made with 0. */
#define REGISTRY_TIMEOUT_DEFAULT 60L

struct registry_client;

/**
 * registry_client_new - make a client from @opts (copied: the caller may
 * free them afterwards).
 * @opts: the options; insecure hosts skip certificate checks and, like
 *   loopback hosts, may be reached over plain HTTP.
 * @out: the client, for registry_client_free().
 *
 * Return: 0; -EINVAL (logged) for a host that is not host[:port], a
 * host given twice, a mirror that is not an http[s]://host[:port] URL or
 * is named with both schemes, more than REGISTRY_MIRRORS_MAX mirrors of a
 * host, or a client certificate without its key;
 * -ENOMEM (also when libcurl cannot be initialised).
 */
int registry_client_new(const struct registry_opts *opts, struct registry_client **out);

/**
 * registry_client_free - free @c, its handles and its caches (secrets are
 * zeroed).  Every request on @c must have returned.  NULL is fine.
 */
void registry_client_free(struct registry_client *c);

/*
 * How long a request may take and who may stop it early
 * (registry_manifest_get(), registry_blob_get(); NULL means the client's
 * defaults).
 */
struct registry_xfer {
	long timeout_sec;	/* overall deadline; 0: the client's timeout */
	const int *stop;	/* non-NULL: the transfer ends with -ECANCELED
				 * soon after *stop becomes non-zero (read
				 * atomically, even while the peer is silent) */
	bool origin_only;	/* skip the host's mirrors */
};

/**
 * registry_manifest_get - GET /v2/<repo>/manifests/<ref> with the full
 * Accept list (Docker v2, Docker list, OCI manifest, OCI index).
 * @c: the client.
 * @host: host[:port] (registry_host_valid()).
 * @repo: repository (registry_repo_valid()).
 * @ref: a tag or a digest.
 * @body: filled with the body; its cap bounds the size (use
 *   BUF_MANIFEST_MAX).  Emptied before the request and when it fails.
 * @media_type: the Content-Type without parameters (NULL when the server
 *   sent none).  Caller frees.
 * @digest: the sha256 of the body, computed here.  Caller frees.
 * @x: deadline and stop flag (struct registry_xfer); NULL: the
 *   client's timeout.  A token request it needs gets the client's timeout.
 *
 * Return: 0; -EINVAL for a name outside the grammar; -EFBIG when the body
 * exceeds its cap; -EIO when the body's digest differs from
 * Docker-Content-Digest or from a digest @ref; -ECANCELED when @x->stop
 * was set; the errno of the status or transport otherwise (see the file
 * comment).
 */
int registry_manifest_get(struct registry_client *c, const char *host,
			  const char *repo, const char *ref, struct buf *body,
			  char **media_type, char **digest,
			  const struct registry_xfer *x);

/*
 * registry_sink_fn - receives the bytes of a blob in order.  A non-zero
 * return aborts the transfer and becomes registry_blob_get()'s result.
 */
typedef int (*registry_sink_fn)(void *ctx, const void *data, size_t n);


/**
 * registry_blob_deadline - the deadline in seconds for moving @bytes of a
 * blob: the client's timeout plus @bytes at REGISTRY_MIN_RATE, so a
 * large layer on a slow but honest link finishes while a drip-fed one is
 * still cut by the low-speed limit.
 */
long registry_blob_deadline(const struct registry_client *c, uint64_t bytes);

/**
 * registry_blob_get - GET /v2/<repo>/blobs/<digest>, following redirects
 * (credentials are never sent to another origin).
 * @c, @host, @repo: as for registry_manifest_get().
 * @digest: "sha256:<64 hex>".
 * @offset: first byte wanted.
 * @length: bytes wanted; 0 means to the end.  With @offset or @length a
 *   Range request is made; a server that ignores Range is handled by
 *   skipping bytes.
 * @max_total: without a @length, the most bytes that may be delivered
 *   (0: no limit).
 * @sink: called with every byte delivered, in order.
 * @ctx: passed to @sink.
 * @x: deadline and stop flag of the transfer; NULL: the client's timeout.
 *
 * The digest is not verified here: only the caller sees the whole blob.
 * Return: 0; @sink's non-zero result; -EINVAL for bad names or a range
 * that overflows; -EFBIG for more bytes than @length / @max_total; -ERANGE
 * when @offset lies beyond the blob; -EIO for a 206 that does not start
 * at @offset; -ETIMEDOUT past the deadline or below the low-speed limit;
 * -ECANCELED when @x->stop was set; the errno of the status or transport
 * otherwise.
 */
int registry_blob_get(struct registry_client *c, const char *host,
		      const char *repo, const char *digest, uint64_t offset,
		      uint64_t length, uint64_t max_total, registry_sink_fn sink,
		      void *ctx, const struct registry_xfer *x);

/**
 * registry_repo_exists - whether @repo is a repository of @host
 * (GET /v2/<repo>/tags/list?n=1 answered 2xx).
 *
 * Return: 0 yes; -ENOENT no; -EINVAL for bad names; other -errno (e.g.
 * -EACCES when the registry will not say).
 */
int registry_repo_exists(struct registry_client *c, const char *host,
			 const char *repo);

/**
 * registry_namespace_exists - whether some repository of @host is named
 * "@prefix/...", from the catalog (GET /v2/_catalog, paged from @prefix
 * on, at most 10 pages of 1000 names).
 *
 * Return: 0 yes; -ENOENT no, or unknown (any failed request: no catalog,
 * as on Docker Hub; or no answer within 10 pages); -EINVAL for bad names;
 * -ENOMEM or -EFBIG from the buffers.
 */
int registry_namespace_exists(struct registry_client *c, const char *host,
			      const char *prefix);

/* ---- lists and deletion (catalog.c) ------------------------------------ */

/* Names one list keeps at most, pages asked for at most, and the page
 * size (n=) asked for when the caller gives 0. */
#define REGISTRY_LIST_MAX 10000
#define REGISTRY_LIST_PAGES_MAX 1000
#define REGISTRY_LIST_PAGE_DEFAULT 100

/* A list of names from a registry, for registry_names_release(). */
struct registry_names {
	char **v;
	size_t n, cap;
	bool cut;	/* a cap was reached: more names may exist */
};
void registry_names_release(struct registry_names *l);

/**
 * registry_catalog_list - every repository of @host (GET /v2/_catalog),
 * asked for @page names at a time (0: REGISTRY_LIST_PAGE_DEFAULT), pages
 * followed by their `Link: <...>; rel="next"` headers.  Only the registry
 * itself is asked (no mirror).  Names outside the grammar are skipped; at
 * most REGISTRY_LIST_MAX names, REGISTRY_LIST_PAGES_MAX pages and 32 MiB
 * of answers are taken (->cut then says so, logged).
 * Return: 0 with @out filled (release it); -EINVAL for a bad host; -EIO
 * for an answer that is not a list or a next link off the registry's
 * origin; the errno of the status or transport (-ENOENT or -EACCES where
 * a registry has no catalog, as Docker Hub).  @out is empty on error.
 */
int registry_catalog_list(struct registry_client *c, const char *host, size_t page,
			  struct registry_names *out);

/**
 * registry_tags_list - the tags of @host/@repo (GET /v2/<repo>/tags/list),
 * paged and capped as registry_catalog_list().  -ENOENT: no such
 * repository.
 */
int registry_tags_list(struct registry_client *c, const char *host, const char *repo,
		       size_t page, struct registry_names *out);

/**
 * registry_manifest_delete - delete the manifest @ref (a tag or a digest)
 * of @host/@repo: its digest from a GET of it (into @digest, "" when
 * unknown), then DELETE /v2/<repo>/manifests/<digest>, which removes every
 * tag of that manifest in the repository.  Token scope
 * "repository:@repo:delete".
 * Return: 0 when the registry accepted it; -EINVAL for bad names; -EPERM
 * where the registry does not delete (405, logged with its error code);
 * -EACCES (401/403), -ENOENT (no such tag) and the others of the mapping.
 */
int registry_manifest_delete(struct registry_client *c, const char *host,
			     const char *repo, const char *ref, char digest[72]);

/**
 * registry_link_next - the path and query (no leading '/') of the
 * rel="next" entry of Link header value @link into @out.  A relative
 * reference is taken as is; an absolute URL only on the origin @base
 * ("scheme://host[:port]").  The path must lie under v2/ and hold no
 * space or control character.  Public for unit tests.
 * Return: 0; -ENOENT without a next link; -EINVAL for one that is
 * malformed or elsewhere; -ENOMEM or -EFBIG from @out.
 */
int registry_link_next(const char *link, const char *base, struct buf *out);

/* ---- pushing (push.c) -------------------------------------------------- */

/*
 * registry_source_fn - fills @dst with exactly @n bytes of the blob being
 * pushed, from offset @off (any offset, any order: an upload is resumed
 * from where the registry says it stands).  0 or -errno, which aborts the
 * push and becomes its result.
 */
typedef int (*registry_source_fn)(void *ctx, uint64_t off, void *dst, size_t n);

/* Blobs up to this size go in one PUT; larger ones in PATCH chunks. */
#define REGISTRY_PUSH_MONOLITHIC_MAX ((uint64_t)64 << 20)
#define REGISTRY_PUSH_CHUNK ((uint64_t)16 << 20)
/* Uploads restarted or resumed after a broken transfer, per blob. */
#define REGISTRY_PUSH_RESUMES 4

/* How a blob came to be in the target repository. */
enum registry_push_how {
	REGISTRY_PUSH_EXISTED,	/* HEAD found it: nothing sent */
	REGISTRY_PUSH_MOUNTED,	/* cross-repository mount (201) */
	REGISTRY_PUSH_UPLOADED,	/* its bytes were sent */
};

/**
 * registry_blob_push - make blob @d present in @host/@repo: HEAD first
 * (nothing sent when the registry has it), else POST an upload (with
 * ?mount=<digest>&from=@mount_from when @mount_from is not NULL, which a
 * registry answers 201 when it could mount), then one PUT ?digest= with
 * the bytes (up to REGISTRY_PUSH_MONOLITHIC_MAX) or PATCH chunks of
 * REGISTRY_PUSH_CHUNK with Content-Range and an empty closing PUT.  A
 * transfer broken off (no HTTP answer, or 5xx) is resumed from the offset
 * the upload's status (GET of its URL, Range header) tells; the upload is
 * started over when it is gone or out of step (404, 416, or no status),
 * at most REGISTRY_PUSH_RESUMES times in all.  Token
 * scope "repository:@repo:pull,push".  Upload URLs (Location) are
 * resolved against the registry; one on another origin gets no
 * credentials.
 * @src, @ctx: the blob's bytes (d->size of them).
 * @how: what it took (may be NULL).
 * Return: 0; -EINVAL for bad names; -EIO when the registry answered
 * without a usable Location or refused the digest; the errno of the
 * status or transport otherwise (registry.h's mapping), logged.
 */
int registry_blob_push(struct registry_client *c, const char *host,
		       const char *repo, const struct registry_desc *d,
		       const char *mount_from, registry_source_fn src, void *ctx,
		       enum registry_push_how *how);

/**
 * registry_manifest_push - PUT /v2/@repo/manifests/@tag of the @len bytes
 * at @body, Content-Type @media_type; every blob it names must be pushed
 * first (the registry refuses it otherwise).
 * Return: 0 when accepted (2xx); else as registry_blob_push().
 */
int registry_manifest_push(struct registry_client *c, const char *host,
			   const char *repo, const char *tag, const void *body,
			   size_t len, const char *media_type);

/**
 * registry_push_location - resolve the Location @loc a registry answered
 * (absolute, or relative to @base, "scheme://host[:port]") into @out, with
 * "digest=@digest" added to its query when @digest is not NULL.  Public
 * for unit tests.
 * Return: 0; -EINVAL for an empty or malformed location (or a scheme
 * other than http/https); -ENOMEM or -EFBIG from @out.
 */
int registry_push_location(const char *base, const char *loc, const char *digest,
			   struct buf *out);

/**
 * registry_push_content_range - the Content-Range value of a PATCH of @len
 * (> 0) bytes at @off: "<first>-<last>", inclusive, as the distribution
 * spec has it (no "bytes " unit).  Public for unit tests.
 * Return: 0; -EINVAL for @len 0 or an overflow; -ENOSPC when @outsz is short.
 */
int registry_push_content_range(uint64_t off, uint64_t len, char *out, size_t outsz);

/* ---- WWW-Authenticate (challenge.c), public for unit tests ------------ */

struct registry_challenge {
	char scheme[16];	/* "Bearer", "Basic", or another as sent */
	char *realm;		/* each NULL when absent */
	char *service;
	char *scope;
	char *error;
};

/**
 * registry_challenge_parse - parse the first challenge of one
 * WWW-Authenticate header value (RFC 7235 auth-params; quoted strings
 * with escapes).
 * @value: the header value; NULL is taken as "".
 * @out: the challenge, for registry_challenge_release(); zeroed on error.
 *
 * A second challenge in the same value ("Bearer realm=..., Basic ...")
 * ends the first.  Unknown parameters are skipped.  Scheme names come
 * back as "Bearer" and "Basic" whatever their case; other schemes are
 * copied as sent.
 * Return: 0; -EINVAL for no scheme, a duplicate or malformed parameter, a
 * control character or a value over 4096 bytes; -ENOMEM.
 */
int registry_challenge_parse(const char *value, struct registry_challenge *out);

/**
 * registry_challenge_release - free the strings of @ch and zero it.
 */
void registry_challenge_release(struct registry_challenge *ch);

/* ---- credentials (creds.c) -------------------------------------------- */

/**
 * registry_creds_lookup - credentials for @host from a docker config.json.
 * @config_path: the file; NULL: $DOCKER_CONFIG/config.json, else
 *   ~/.docker/config.json.  A missing file means no credentials.
 * @host: host[:port]; "docker.io" is looked up as Docker does
 *   ("https://index.docker.io/v1/").
 * @user: the user name, or "<token>" for an identity token.  Caller frees.
 * @secret: the password or identity token.  Caller frees (zero it first).
 *
 * Order: credHelpers[host], then credsStore (a docker-credential-<name>
 * helper, run with a timeout), then auths (the exact key, then a key that
 * is a URL naming @host).  Both out-strings are NULL when there is none.
 * Return: 0 (also with no credentials, or a helper that is not installed
 * or exits non-zero); -EINVAL for a config that is not a regular file
 * holding a JSON object, a malformed auths entry or a helper name outside
 * [A-Za-z0-9._-]; -ETIMEDOUT or -EFBIG for a helper that hangs or writes
 * too much; other -errno reading the file or starting the helper.
 */
int registry_creds_lookup(const char *config_path, const char *host,
			  char **user, char **secret);

#endif
