/* SPDX-License-Identifier: MIT */
/*
 * manifest.c - parsing of manifests, indexes (manifest lists) and image
 * configs; platform matching.
 *
 * Owns: the structures it fills (released by the *_release functions).
 *
 * Design notes: every document here comes from a registry or an archive
 * and is hostile until checked.  JSON is loaded with duplicate keys
 * rejected (two parsers reading different values is the confusion of
 * CVE-2021-41190), with NUL escapes rejected (jansson's default) and with
 * nesting limited to REG_JSON_DEPTH before jansson sees it.  Malformed
 * documents are -EIO with one log line; schema1 is -ENOTSUP.
 */
#include "oci.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/utsname.h>

#include <jansson.h>

#include "log.h"

#define REG_JSON_DEPTH 64

/* Depth of [ and { outside strings; jansson's own limit is 2048. */
static bool json_depth_ok(const char *s, size_t len)
{
	int depth = 0;
	bool in_str = false;

	for (size_t i = 0; i < len; i++) {
		char ch = s[i];

		if (in_str) {
			if (ch == '\\')
				i++;
			else if (ch == '"')
				in_str = false;
		} else if (ch == '"') {
			in_str = true;
		} else if (ch == '[' || ch == '{') {
			if (++depth > REG_JSON_DEPTH)
				return false;
		} else if (ch == ']' || ch == '}') {
			depth--;
		}
	}
	return true;
}

/* schemaVersion must be 2; 1 is the removed schema1 format. */
static int check_schema(json_t *root, const char *what)
{
	json_t *v = json_object_get(root, "schemaVersion");

	if (json_is_integer(v) && json_integer_value(v) == 1) {
		log_err("%s: schema1 manifests are not supported", what);
		return -ENOTSUP;
	}
	if (!json_is_integer(v) || json_integer_value(v) != 2) {
		log_err("%s: schemaVersion is not 2", what);
		return -EIO;
	}
	return 0;
}

/*
 * Load a JSON object document, and with @versioned (manifests, indexes:
 * not configs) check its schemaVersion.  -EIO (logged) when it is not
 * one, -ENOTSUP for schema1; *@out is the caller's to json_decref.
 */
static int doc_load(const char *body, size_t len, const char *what, bool versioned,
		    json_t **out)
{
	json_error_t jerr;
	json_t *root;
	int ret;

	*out = NULL;
	if (!body || !json_depth_ok(body, len)) {
		log_err("%s: JSON nested deeper than %d", what, REG_JSON_DEPTH);
		return -EIO;
	}
	root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root) {
		log_err("%s: invalid JSON: %s (line %d)", what, jerr.text, jerr.line);
		return -EIO;
	}
	if (!json_is_object(root)) {
		log_err("%s: not a JSON object", what);
		json_decref(root);
		return -EIO;
	}
	ret = versioned ? check_schema(root, what) : 0;
	if (ret) {
		json_decref(root);
		return ret;
	}
	*out = root;
	return 0;
}

/*
 * doc_parse - load a document as doc_load does and let @fill take what it
 * needs from it into @out.  @fill copies what it keeps (the JSON is freed
 * here) and may leave @out half filled on failure: the caller releases it.
 */
static int doc_parse(const char *body, size_t len, const char *what, bool versioned,
		     int (*fill)(json_t *root, void *out), void *out)
{
	json_t *root;
	int ret;

	ret = doc_load(body, len, what, versioned, &root);
	if (ret)
		return ret;
	ret = fill(root, out);
	json_decref(root);
	return ret;
}

/* Optional string member: NULL if absent, -EIO if of another type. */
static int opt_string(json_t *obj, const char *key, const char **out)
{
	json_t *v = json_object_get(obj, key);

	*out = NULL;
	if (!v)
		return 0;
	if (!json_is_string(v))
		return -EIO;
	*out = json_string_value(v);
	return 0;
}

static bool mt_is_manifest(const char *mt)
{
	return mt && (strcasecmp(mt, REGISTRY_MT_OCI_MANIFEST) == 0 ||
		      strcasecmp(mt, REGISTRY_MT_DOCKER_MANIFEST) == 0);
}

static bool mt_is_index(const char *mt)
{
	return mt && (strcasecmp(mt, REGISTRY_MT_OCI_INDEX) == 0 ||
		      strcasecmp(mt, REGISTRY_MT_DOCKER_LIST) == 0);
}

static bool mt_is_schema1(const char *mt)
{
	return mt && (strcasecmp(mt, REGISTRY_MT_DOCKER_SCHEMA1) == 0 ||
		      strcasecmp(mt, REGISTRY_MT_DOCKER_SCHEMA1_SIGNED) == 0);
}

/* Content-Type without parameters or surrounding blanks, into @out. */
static void mt_base(const char *ct, char *out, size_t outsz)
{
	size_t n;

	out[0] = '\0';
	if (!ct)
		return;
	while (*ct == ' ' || *ct == '\t')
		ct++;
	n = strcspn(ct, "; \t");
	if (n >= outsz)
		n = 0;	/* absurdly long: treat as absent */
	memcpy(out, ct, n);
	out[n] = '\0';
}

int registry_doc_kind_of(const char *body, size_t len, const char *content_type,
			 enum registry_doc_kind *out)
{
	const char *body_mt;
	char ct[128];
	json_t *root = NULL;
	bool has_manifests, has_layers;
	int ret;

	mt_base(content_type, ct, sizeof(ct));
	if (mt_is_schema1(ct)) {
		log_err("manifest: schema1 (%s) is not supported", ct);
		return -ENOTSUP;
	}
	ret = doc_load(body, len, "manifest", true, &root);
	if (ret)
		return ret;
	ret = -EIO;
	if (opt_string(root, "mediaType", &body_mt)) {
		log_err("manifest: mediaType is not a string");
		goto out;
	}
	has_manifests = json_object_get(root, "manifests") != NULL;
	has_layers = json_object_get(root, "layers") != NULL ||
		     json_object_get(root, "config") != NULL;
	if (has_manifests && has_layers) {
		log_err("manifest: document is both an index and a manifest");
		goto out;
	}
	/* A specific Content-Type must agree with the body; a generic one
	 * (application/json, octet-stream) carries no claim to check. */
	if (body_mt && (mt_is_manifest(ct) || mt_is_index(ct)) &&
	    strcasecmp(body_mt, ct) != 0) {
		log_err("manifest: mediaType %.100s differs from Content-Type %s",
			body_mt, ct);
		goto out;
	}
	if (mt_is_schema1(body_mt)) {
		log_err("manifest: schema1 (%s) is not supported", body_mt);
		ret = -ENOTSUP;
		goto out;
	}
	if (!body_mt && (mt_is_manifest(ct) || mt_is_index(ct)))
		body_mt = ct;
	if (mt_is_manifest(body_mt) || (!body_mt && has_layers)) {
		if (has_manifests) {
			log_err("manifest: a manifest with a manifests member");
			goto out;
		}
		*out = REGISTRY_DOC_MANIFEST;
	} else if (mt_is_index(body_mt) || (!body_mt && has_manifests)) {
		if (has_layers) {
			log_err("manifest: an index with layers or config");
			goto out;
		}
		*out = REGISTRY_DOC_INDEX;
	} else {
		log_err("manifest: unsupported media type %.100s",
			body_mt ? body_mt : "(none)");
		ret = body_mt ? -ENOTSUP : -EIO;
		goto out;
	}
	ret = 0;
out:
	json_decref(root);
	return ret;
}

void registry_desc_release(struct registry_desc *d)
{
	free(d->media_type);
	free(d->digest);
	memset(d, 0, sizeof(*d));
}

/* A descriptor: mediaType string, valid sha256 digest, 0 <= size. */
static int desc_parse(json_t *o, const char *what, struct registry_desc *out)
{
	json_t *mt, *dg, *sz;

	memset(out, 0, sizeof(*out));
	if (!json_is_object(o)) {
		log_err("%s: descriptor is not an object", what);
		return -EIO;
	}
	mt = json_object_get(o, "mediaType");
	dg = json_object_get(o, "digest");
	sz = json_object_get(o, "size");
	if (!json_is_string(mt) || !json_is_string(dg) || !json_is_integer(sz)) {
		log_err("%s: descriptor lacks mediaType, digest or size", what);
		return -EIO;
	}
	if (!registry_digest_valid(json_string_value(dg))) {
		log_err("%s: unsupported or invalid digest %.80s", what,
			json_string_value(dg));
		return -EIO;
	}
	if (json_integer_value(sz) < 0) {
		log_err("%s: negative size", what);
		return -EIO;
	}
	out->media_type = strdup(json_string_value(mt));
	out->digest = strdup(json_string_value(dg));
	out->size = json_integer_value(sz);
	if (!out->media_type || !out->digest) {
		registry_desc_release(out);
		return -ENOMEM;
	}
	return 0;
}

void registry_manifest_release(struct registry_manifest *m)
{
	free(m->media_type);
	registry_desc_release(&m->config);
	for (size_t i = 0; i < m->n_layers; i++)
		registry_desc_release(&m->layers[i]);
	free(m->layers);
	memset(m, 0, sizeof(*m));
}

/* doc_parse's fill for a manifest: @arg is a zeroed struct registry_manifest. */
static int manifest_fill(json_t *root, void *arg)
{
	struct registry_manifest *m = arg;
	json_t *layers;
	const char *mt;
	size_t n;
	int ret;

	if (opt_string(root, "mediaType", &mt) || (mt && !mt_is_manifest(mt))) {
		log_err("manifest: mediaType is not an image manifest type");
		return -EIO;
	}
	if (json_object_get(root, "manifests")) {
		log_err("manifest: has a manifests member");
		return -EIO;
	}
	layers = json_object_get(root, "layers");
	if (!json_is_array(layers)) {
		log_err("manifest: layers is not an array");
		return -EIO;
	}
	if (mt && !(m->media_type = strdup(mt)))
		return -ENOMEM;
	ret = desc_parse(json_object_get(root, "config"), "manifest config", &m->config);
	if (ret)
		return ret;
	n = json_array_size(layers);
	if (n && !(m->layers = calloc(n, sizeof(*m->layers))))
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		ret = desc_parse(json_array_get(layers, i), "manifest layer",
				 &m->layers[i]);
		if (ret)
			return ret;
		m->n_layers++;
	}
	return 0;
}

int registry_manifest_parse(const char *body, size_t len, struct registry_manifest *out)
{
	int ret;

	memset(out, 0, sizeof(*out));
	ret = doc_parse(body, len, "manifest", true, manifest_fill, out);
	if (ret)
		registry_manifest_release(out);
	return ret;
}

enum registry_compression registry_layer_compression(const char *mt)
{
	static const struct {
		const char *mt;
		enum registry_compression c;
	} tab[] = {
		{ REGISTRY_MT_OCI_LAYER, REGISTRY_COMP_NONE },
		{ REGISTRY_MT_OCI_LAYER_GZIP, REGISTRY_COMP_GZIP },
		{ REGISTRY_MT_OCI_LAYER_ZSTD, REGISTRY_COMP_ZSTD },
		{ "application/vnd.oci.image.layer.nondistributable.v1.tar", REGISTRY_COMP_NONE },
		{ "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip", REGISTRY_COMP_GZIP },
		{ "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd", REGISTRY_COMP_ZSTD },
		{ REGISTRY_MT_DOCKER_LAYER, REGISTRY_COMP_NONE },
		{ REGISTRY_MT_DOCKER_LAYER_GZIP, REGISTRY_COMP_GZIP },
		{ "application/vnd.docker.image.rootfs.diff.tar.zstd", REGISTRY_COMP_ZSTD },
		{ "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip", REGISTRY_COMP_GZIP },
	};

	if (!mt)
		return REGISTRY_COMP_UNKNOWN;
	for (size_t i = 0; i < sizeof(tab) / sizeof(tab[0]); i++)
		if (strcasecmp(mt, tab[i].mt) == 0)
			return tab[i].c;
	return REGISTRY_COMP_UNKNOWN;
}

/* ---- platforms ---- */

static void copy_str(char *dst, size_t n, const char *src)
{
	size_t l = src ? strlen(src) : 0;

	if (l > n - 1)
		l = n - 1;

	if (l)
		memcpy(dst, src, l);
	dst[l] = '\0';
}

/* Normalise arch/variant in place as containerd's platforms package does. */
static void platform_normalize(char *arch, size_t an, char *variant, size_t vn)
{
	if (!strcasecmp(arch, "x86_64") || !strcasecmp(arch, "x86-64") ||
	    !strcasecmp(arch, "amd64")) {
		copy_str(arch, an, "amd64");
		if (!strcmp(variant, "v1"))
			variant[0] = '\0';
	} else if (!strcasecmp(arch, "aarch64") || !strcasecmp(arch, "arm64")) {
		copy_str(arch, an, "arm64");
		if (!strcmp(variant, "v8") || !strcmp(variant, "8"))
			variant[0] = '\0';
	} else if (!strcasecmp(arch, "armhf")) {
		copy_str(arch, an, "arm");
		copy_str(variant, vn, "v7");
	} else if (!strcasecmp(arch, "armel")) {
		copy_str(arch, an, "arm");
		copy_str(variant, vn, "v6");
	} else if (!strncasecmp(arch, "armv", 4)) {
		/* uname: armv7l, armv6l, armv8l (32-bit on arm64) */
		char v[8] = "v";

		copy_str(v + 1, sizeof(v) - 1, arch + 4);
		v[strcspn(v, "lb")] = '\0';
		copy_str(arch, an, "arm");
		copy_str(variant, vn, v);
	} else if (!strcasecmp(arch, "i386") || !strcasecmp(arch, "i486") ||
		   !strcasecmp(arch, "i586") || !strcasecmp(arch, "i686")) {
		copy_str(arch, an, "386");
	}
	if (!strcmp(arch, "arm") && variant[0] >= '5' && variant[0] <= '8' &&
	    variant[1] == '\0') {
		char v[3] = { 'v', variant[0], 0 };

		copy_str(variant, vn, v);
	}
}

void registry_platform_host(struct registry_platform *p)
{
	struct utsname u;

	memset(p, 0, sizeof(*p));
	copy_str(p->os, sizeof(p->os), "linux");
	if (uname(&u) == 0)
		copy_str(p->arch, sizeof(p->arch), u.machine);
	else
		copy_str(p->arch, sizeof(p->arch), "amd64");
	platform_normalize(p->arch, sizeof(p->arch), p->variant, sizeof(p->variant));
}

/* "v7" -> 7, "v8.2" -> 802, "" -> -1, garbage -> -2 */
static int variant_rank(const char *v)
{
	char *end;
	long maj, min = 0;

	if (!*v)
		return -1;
	if (*v != 'v')
		return -2;
	maj = strtol(v + 1, &end, 10);
	if (end == v + 1 || maj < 0 || maj > 99)
		return -2;
	if (*end == '.') {
		const char *m = end + 1;

		min = strtol(m, &end, 10);
		if (end == m || min < 0 || min > 99)
			return -2;
	}
	if (*end)
		return -2;
	return (int)(maj * 100 + min);
}

/*
 * How well entry platform (@os,@arch,@var) suits @want: 0 = not at all,
 * higher = better.  Exact arch beats a compatible one (386 on amd64);
 * then the exact variant, then an entry without a variant, then the
 * highest lower compatible variant (arm v6 on v7 hosts, arm64 v8.1 on
 * v8.2).
 */
static int platform_score(const struct registry_platform *want, const char *os,
			  const char *arch, const char *var)
{
	int base, wr, er;

	if (strcasecmp(os, want->os) != 0)
		return 0;
	if (strcmp(arch, want->arch) == 0)
		base = 100000;
	else if (strcmp(want->arch, "amd64") == 0 && strcmp(arch, "386") == 0)
		base = 0;
	else
		return 0;
	if (strcmp(var, want->variant) == 0)
		return base + 30000;
	if (!*var)
		return base + 20000;
	wr = variant_rank(want->variant);
	er = variant_rank(var);
	if (er < 0)
		return 0;
	if (strcmp(arch, "arm64") == 0 && wr == -1)
		wr = 800;
	if (strcmp(arch, "arm") == 0 && wr >= 0 && er <= wr)
		return base + 10000 + er;
	if (strcmp(arch, "arm64") == 0 && wr >= 0 && er / 100 == wr / 100 && er <= wr)
		return base + 10000 + er;
	return 0;
}

static bool is_attestation(json_t *entry, const char *os, const char *arch)
{
	json_t *ann = json_object_get(entry, "annotations");

	if (json_is_object(ann) && json_object_get(ann, "vnd.docker.reference.type"))
		return true;
	return strcmp(os, "unknown") == 0 || strcmp(arch, "unknown") == 0;
}

/**
 * registry_index_select - see oci.h.  Every entry must be a valid
 * descriptor (a hostile index is rejected as a whole); among the matching
 * ones the best score wins and ties go to the first, as the OCI spec asks.
 * An entry without a platform matches with the lowest score.
 */
int registry_index_select(const char *body, size_t len,
			  const struct registry_platform *plat,
			  struct registry_desc *out)
{
	struct registry_platform want = *plat;
	json_t *root = NULL, *list, *e;
	size_t i, best_i = 0;
	int best = 0, ret;

	memset(out, 0, sizeof(*out));
	want.os[sizeof(want.os) - 1] = '\0';
	want.arch[sizeof(want.arch) - 1] = '\0';
	want.variant[sizeof(want.variant) - 1] = '\0';
	platform_normalize(want.arch, sizeof(want.arch), want.variant, sizeof(want.variant));

	ret = doc_load(body, len, "index", true, &root);
	if (ret)
		return ret;
	ret = -EIO;
	list = json_object_get(root, "manifests");
	if (!json_is_array(list) || json_object_get(root, "layers")) {
		log_err("index: manifests is not an array");
		goto out;
	}
	json_array_foreach(list, i, e) {
		struct registry_desc d;
		json_t *p = json_object_get(e, "platform");
		char arch[32] = "", var[16] = "";
		const char *os = "", *a = "", *v = "";
		int score;

		ret = desc_parse(e, "index entry", &d);
		if (ret)
			goto out;
		registry_desc_release(&d);
		ret = -EIO;
		if (p && !json_is_object(p)) {
			log_err("index: platform is not an object");
			goto out;
		}
		if (p && (opt_string(p, "os", &os) || opt_string(p, "architecture", &a) ||
			  opt_string(p, "variant", &v))) {
			log_err("index: platform member is not a string");
			goto out;
		}
		os = os ? os : "";
		a = a ? a : "";
		v = v ? v : "";
		if (is_attestation(e, os, a))
			continue;
		if (!p) {
			score = 1;
		} else {
			copy_str(arch, sizeof(arch), a);
			copy_str(var, sizeof(var), v);
			platform_normalize(arch, sizeof(arch), var, sizeof(var));
			score = platform_score(&want, os, arch, var);
			if (score)
				score += 1;	/* above platform-less entries */
		}
		if (score > best) {
			best = score;
			best_i = i;
		}
	}
	if (!best) {
		log_err("no matching manifest for %s/%s%s%s in the manifest list entries",
			want.os, want.arch, want.variant[0] ? "/" : "", want.variant);
		ret = -ENOENT;
		goto out;
	}
	ret = desc_parse(json_array_get(list, best_i), "index entry", out);
out:
	json_decref(root);
	return ret;
}

/* ---- configs ---- */

static int days_from_civil(int64_t y, unsigned m, unsigned d, int64_t *out)
{
	int64_t era;
	unsigned yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = (unsigned)(y - era * 400);
	doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	*out = era * 146097 + (int64_t)doe - 719468;
	return 0;
}

static int digits(const char *s, int n, unsigned *out)
{
	unsigned v = 0;

	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	*out = v;
	return 0;
}

/* RFC 3339 date-time -> seconds since the epoch (fraction dropped). */
static int rfc3339_parse(const char *s, int64_t *out)
{
	unsigned Y, M, D, h, mi, sec, oh = 0, om = 0;
	int64_t days, off = 0;
	static const unsigned mdays[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };

	if (strlen(s) < 20 || digits(s, 4, &Y) || s[4] != '-' || digits(s + 5, 2, &M) ||
	    s[7] != '-' || digits(s + 8, 2, &D) ||
	    (s[10] != 'T' && s[10] != 't' && s[10] != ' ') ||
	    digits(s + 11, 2, &h) || s[13] != ':' || digits(s + 14, 2, &mi) ||
	    s[16] != ':' || digits(s + 17, 2, &sec))
		return -EINVAL;
	if (M < 1 || M > 12 || D < 1 || D > mdays[M - 1] || h > 23 || mi > 59 || sec > 60)
		return -EINVAL;
	s += 19;
	if (*s == '.') {
		s++;
		if (*s < '0' || *s > '9')
			return -EINVAL;
		while (*s >= '0' && *s <= '9')
			s++;
	}
	if (*s == 'Z' || *s == 'z') {
		s++;
	} else if (*s == '+' || *s == '-') {
		if (digits(s + 1, 2, &oh) || s[3] != ':' || digits(s + 4, 2, &om) ||
		    oh > 23 || om > 59)
			return -EINVAL;
		off = (int64_t)(oh * 3600 + om * 60) * (*s == '-' ? -1 : 1);
		s += 6;
	} else {
		return -EINVAL;
	}
	if (*s)
		return -EINVAL;
	days_from_civil(Y, M, D, &days);
	*out = days * 86400 + h * 3600 + mi * 60 + sec - off;
	return 0;
}

void registry_config_release(struct registry_config *c)
{
	free(c->architecture);
	free(c->os);
	for (size_t i = 0; i < c->n_diff_ids; i++)
		free(c->diff_ids[i]);
	free(c->diff_ids);
	memset(c, 0, sizeof(*c));
}

/* doc_parse's fill for a config: @arg is a zeroed struct registry_config. */
static int config_fill(json_t *root, void *arg)
{
	struct registry_config *c = arg;
	json_t *rootfs, *ids, *v;
	const char *created, *arch, *os, *type;
	size_t i, n;

	if (opt_string(root, "created", &created) || opt_string(root, "architecture", &arch) ||
	    opt_string(root, "os", &os)) {
		log_err("config: created, architecture or os is not a string");
		return -EIO;
	}
	if (created && rfc3339_parse(created, &c->created)) {
		log_err("config: bad created timestamp %.64s", created);
		return -EIO;
	}
	if ((arch && !(c->architecture = strdup(arch))) || (os && !(c->os = strdup(os))))
		return -ENOMEM;
	rootfs = json_object_get(root, "rootfs");
	if (!rootfs)
		return 0;
	ids = json_object_get(rootfs, "diff_ids");
	if (!json_is_object(rootfs) || opt_string(rootfs, "type", &type) ||
	    !type || strcmp(type, "layers") != 0 || !json_is_array(ids)) {
		log_err("config: malformed rootfs");
		return -EIO;
	}
	n = json_array_size(ids);
	if (n && !(c->diff_ids = calloc(n, sizeof(*c->diff_ids))))
		return -ENOMEM;
	json_array_foreach(ids, i, v) {
		if (!json_is_string(v) || !registry_digest_valid(json_string_value(v))) {
			log_err("config: invalid diff_id");
			return -EIO;
		}
		c->diff_ids[i] = strdup(json_string_value(v));
		if (!c->diff_ids[i])
			return -ENOMEM;
		c->n_diff_ids++;
	}
	return 0;
}

/**
 * registry_config_parse - see oci.h.  architecture and os are NULL
 * when absent (artifact configs); rootfs, when present, must be
 * {"type":"layers","diff_ids":[sha256 digests]}.  A malformed created
 * timestamp rejects the config, as Docker's JSON decoding does.
 */
int registry_config_parse(const char *body, size_t len, struct registry_config *out)
{
	int ret;

	memset(out, 0, sizeof(*out));
	ret = doc_parse(body, len, "config", false, config_fill, out);
	if (ret)
		registry_config_release(out);
	return ret;
}

bool registry_media_is_config(const char *mt)
{
	static const char *const prefixes[] = {
		"application/vnd.oci.image.config.",
		"application/vnd.docker.container.image.",
	};

	if (!mt)
		return false;
	for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++)
		if (!strncmp(mt, prefixes[i], strlen(prefixes[i])))
			return true;
	/* Legacy types Docker still accepts for configs. */
	return !strcmp(mt, "application/octet-stream") ||
	       !strcmp(mt, "application/json");
}
