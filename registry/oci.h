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
/* host[:port] per the reference grammar (domain name, IPv4 or [IPv6]). */
bool registry_host_valid(const char *h);
/* repo: path components joined by '/', at most 255 bytes. */
bool registry_repo_valid(const char *repo);
/* Digests and image IDs: sha256 only, written in lowercase hex. */
#define REGISTRY_HEX_LEN 64				/* sha256 in hex */
#define REGISTRY_DIGEST_PREFIX "sha256:"
#define REGISTRY_DIGEST_LEN (7 + REGISTRY_HEX_LEN)	/* "sha256:" + hex */
#define REGISTRY_ID_SHORT_LEN 12			/* as `docker images` shows */
/* @s is @min..@max lowercase hex digits and nothing else. */
bool registry_hex_valid(const char *s, size_t min, size_t max);
/* How many lowercase hex digits @s starts with, counting at most @max. */
size_t registry_hex_span(const char *s, size_t max);
/* "sha256:" + 64 lowercase hex.  Only such digests ever become paths. */
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
/* Whether @mt is an image config's media type (OCI or Docker). */
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

#endif
