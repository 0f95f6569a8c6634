/* SPDX-License-Identifier: MIT */
/*
 * oci.h - the OCI image and distribution formats, without the network:
 * image references and their grammar, digests, media types, manifests,
 * indexes and configs.
 *
 * This is the registry module's curl-free, FUSE-free half (library
 * imgfs_oci): every module that names images, digests or media types uses
 * these definitions, so each rule exists once.  Everything returns 0 or
 * -errno; parsers treat their input as hostile (bounded, validated).
 */
#ifndef IMGFS_OCI_H
#define IMGFS_OCI_H

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

/**
 * registry_ref_parse - parse an image reference with Docker's
 * normalisation rules ("ubuntu" -> docker.io, library/ubuntu).
 * @s: "[host[:port]/]path[:tag][@sha256:hex]".
 * @default_host: the registry for names without a host component; NULL
 *   means "docker.io".  "library/" is prefixed only when the resulting
 *   host is docker.io; "index.docker.io" is taken as "docker.io".
 * @out: the reference, for registry_ref_release(); zeroed on error.
 *
 * Return: 0; -EINVAL for anything outside the grammar (upper case in the
 * path, bad tag or digest, a bare 64-hex string, path longer than 255,
 * input longer than 4096); -ENOMEM.
 */
int registry_ref_parse(const char *s, const char *default_host,
		       struct registry_ref *out);
/** registry_ref_release - free the strings of @r and zero it. */
void registry_ref_release(struct registry_ref *r);
/**
 * registry_ref_familiar - the display form of @host/@repo: "ubuntu" for
 * docker.io/library/ubuntu, "host:5000/x" for a host that is not
 * @default_host (NULL: "docker.io"), "docker.io/a.b/x" for a repo whose
 * first component looks like a host (and the whole name for one that
 * would otherwise be 64 hex digits, an image ID).  Parsing it with the same
 * @default_host gives @host and @repo back (when @default_host itself
 * looks like a host, as registry_component_is_host() says).
 * Return: a new string the caller frees, or NULL when out of memory.
 */
char *registry_ref_familiar(const char *host, const char *repo,
			    const char *default_host);
/** registry_tag_valid - @tag is [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}; NULL is not. */
bool registry_tag_valid(const char *tag);
/**
 * registry_path_component_valid - @c is one path component of a
 * repository name: [a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*; NULL is not.
 */
bool registry_path_component_valid(const char *c);
/**
 * registry_component_is_host - whether the first name component @c is a
 * registry host (has '.' or ':' or is "localhost").  NULL is not.
 */
bool registry_component_is_host(const char *c);
/**
 * registry_host_valid - @h is host[:port] per the reference grammar
 * (domain name, IPv4 or [IPv6]; port of 1 to 5 digits).
 */
bool registry_host_valid(const char *h);
/**
 * registry_repo_valid - @repo is path components joined by '/', at most
 * 255 bytes.  NULL is not.
 */
bool registry_repo_valid(const char *repo);
/* Digests and image IDs: sha256 only, written in lowercase hex. */
#define REGISTRY_HEX_LEN 64				/* sha256 in hex */
#define REGISTRY_DIGEST_PREFIX "sha256:"
#define REGISTRY_DIGEST_LEN (7 + REGISTRY_HEX_LEN)	/* "sha256:" + hex */
#define REGISTRY_ID_SHORT_LEN 12			/* as `docker images` shows */
/** registry_hex_valid - @s is @min..@max lowercase hex digits and nothing else. */
bool registry_hex_valid(const char *s, size_t min, size_t max);
/** registry_hex_span - how many lowercase hex digits @s starts with, at most @max. */
size_t registry_hex_span(const char *s, size_t max);
/**
 * registry_digest_valid - @d is "sha256:" + 64 lowercase hex.  Only such
 * digests ever become paths.  NULL is not.
 */
bool registry_digest_valid(const char *d);

/* ---- manifests and configs (manifest.c) ------------------------------ */

#define REGISTRY_MT_OCI_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define REGISTRY_MT_OCI_INDEX "application/vnd.oci.image.index.v1+json"
#define REGISTRY_MT_DOCKER_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"
#define REGISTRY_MT_DOCKER_LIST "application/vnd.docker.distribution.manifest.list.v2+json"
#define REGISTRY_MT_DOCKER_SCHEMA1 "application/vnd.docker.distribution.manifest.v1+json"
#define REGISTRY_MT_DOCKER_SCHEMA1_SIGNED "application/vnd.docker.distribution.manifest.v1+prettyjws"
#define REGISTRY_MT_OCI_CONFIG "application/vnd.oci.image.config.v1+json"
#define REGISTRY_MT_DOCKER_CONFIG "application/vnd.docker.container.image.v1+json"
#define REGISTRY_MT_OCI_LAYER "application/vnd.oci.image.layer.v1.tar"
#define REGISTRY_MT_OCI_LAYER_GZIP REGISTRY_MT_OCI_LAYER "+gzip"
#define REGISTRY_MT_OCI_LAYER_ZSTD REGISTRY_MT_OCI_LAYER "+zstd"
#define REGISTRY_MT_DOCKER_LAYER "application/vnd.docker.image.rootfs.diff.tar"
#define REGISTRY_MT_DOCKER_LAYER_GZIP REGISTRY_MT_DOCKER_LAYER ".gzip"
/**
 * registry_media_is_config - whether @mt is an image config's media type:
 * OCI or Docker config types, or the generic application/json and
 * application/octet-stream Docker still accepts.  NULL is not.
 */
bool registry_media_is_config(const char *mt);

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

/**
 * registry_doc_kind_of - classify a manifest document as an image
 * manifest or an index.
 * @body, @len: the document.
 * @content_type: the Content-Type it came with, or NULL (stored
 *   documents).  A specific manifest or index type must agree with the
 *   body's mediaType; a generic one carries no claim.
 * @out: the kind.
 *
 * A document with both "manifests" and "layers"/"config" is rejected
 * (CVE-2021-41190).
 * Return: 0; -ENOTSUP for schema1 or another named media type; -EIO for a
 * malformed or contradictory document (logged).
 */
int registry_doc_kind_of(const char *body, size_t len, const char *content_type,
			 enum registry_doc_kind *out);
/**
 * registry_manifest_parse - parse an image manifest: its config and layer
 * descriptors (each with a valid sha256 digest and a size >= 0).
 * @out: the manifest, for registry_manifest_release(); zeroed on error.
 * Return: 0; -ENOTSUP for schema1; -EIO for a malformed document (logged);
 * -ENOMEM.
 */
int registry_manifest_parse(const char *body, size_t len, struct registry_manifest *out);
/** registry_manifest_release - free what @m holds and zero it. */
void registry_manifest_release(struct registry_manifest *m);
/** registry_desc_release - free what @d holds and zero it. */
void registry_desc_release(struct registry_desc *d);
/**
 * registry_layer_compression - the compression a layer media type names
 * (OCI, OCI non-distributable, Docker).  REGISTRY_COMP_UNKNOWN for NULL
 * or any other type.
 */
enum registry_compression registry_layer_compression(const char *media_type);

/* The platform images are chosen for: from uname() unless overridden. */
struct registry_platform {
	char os[32];
	char arch[32];
	char variant[16];
};
/**
 * registry_platform_host - the platform of this machine: linux, and the
 * architecture and variant of uname() normalised as containerd does
 * (x86_64 -> amd64, aarch64 -> arm64, armv7l -> arm/v7).
 */
void registry_platform_host(struct registry_platform *p);
/**
 * registry_index_select - choose the manifest for @plat from an OCI index
 * or Docker manifest list (§3.4 of the semantics reference; attestation
 * entries never match; ties go to the first entry).
 * @out: the chosen descriptor, for registry_desc_release().
 * Return: 0; -ENOENT when nothing matches; -ENOTSUP for schema1; -EIO for
 * a malformed index (every entry must be a valid descriptor); -ENOMEM.
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
/**
 * registry_config_parse - the fields above from an image config.
 * architecture and os are NULL when absent; rootfs, when present, must be
 * {"type":"layers","diff_ids":[sha256 digests]}.
 * @out: the fields, for registry_config_release(); zeroed on error.
 * Return: 0; -EIO for a malformed config or created timestamp (logged);
 * -ENOMEM.
 */
int registry_config_parse(const char *body, size_t len, struct registry_config *out);
/** registry_config_release - free what @c holds and zero it. */
void registry_config_release(struct registry_config *c);

#endif
