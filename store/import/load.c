/* SPDX-License-Identifier: MIT */
/*
 * load.c - `docker load` of an archive streamed through import.c: Docker
 * <= 24 docker-archive (manifest.json + <id>.json + <v1id>/layer.tar),
 * skopeo/podman docker-archive (<hex>.tar layers), Docker 25+ save (an
 * OCI layout plus manifest.json) and OCI archives (oci-layout, index.json,
 * blobs/sha256/...).
 *
 * Owns: struct load_state (what the stream has shown so far) and turning
 * it into images and tags in the plan.
 *
 * While the tar streams by, every regular file whose name looks like a
 * blob (blobs/sha256/<hex>, <hex>.json, <hex>.tar, <hex>/layer.tar) is
 * written to the store as a blob named by its computed digest, and the
 * archive name is remembered only as a key to that digest (a symlink or
 * hardlink of such a name, which Docker writes for a repeated layer, is
 * remembered as an alias).  blobs/sha256/<hex> must hash to <hex>.  The
 * four metadata files go to capped buffers.  Everything else is skipped:
 * nothing from the archive ever becomes a filesystem path.  Manifests are
 * only read after the stream, because Docker writes manifest.json last.
 *
 * Then: oci-layout + index.json first (its manifests exact, so the
 * manifest digest is the one Docker shows), tags from the annotations
 * io.containerd.image.name, else org.opencontainers.image.ref.name when
 * it is a full reference (a bare tag names no repository and is left
 * out); then manifest.json: an image already found through index.json
 * only gains the RepoTags, any other gets an OCI manifest built from its
 * Config and Layers (a layer file that is gzip or zstd compressed keeps
 * its bytes and gets the matching media type).  Every image is checked
 * by import_check_image() before it enters the plan.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "import_int.h"
#include "log.h"
#include "path.h"

#define LINK_HOPS 8
#define LOAD_BLOBS "blobs/sha256/"	/* an OCI layout's blobs */

struct load_file {
	char digest[IMPORT_DIGEST_SZ];	/* "" for an alias */
	char *link;		/* alias: normalised name of the target */
};

enum load_kind {
	K_OTHER, K_MANIFEST, K_INDEX, K_LAYOUT, K_REPOS,
	K_BLOB,			/* blobs/sha256/<hex>: verified against <hex> */
	K_NAMED,		/* <hex>.json, <hex>.tar: <hex> is a hint */
	K_FILE,			/* <hex>/layer.tar */
};

int load_state_init(struct load_state *ls)
{
	memset(ls, 0, sizeof(*ls));
	buf_init(&ls->manifest_json, IMPORT_META_MAX);
	buf_init(&ls->index_json, IMPORT_META_MAX);
	buf_init(&ls->oci_layout, IMPORT_META_MAX);
	return htab_init(&ls->files);
}

void load_state_release(struct load_state *ls)
{
	size_t it;

	for (struct htab_ent *e = htab_first(&ls->files, &it); e;
	     e = htab_next(&ls->files, &it, e)) {
		struct load_file *f = e->val;

		free(f->link);
		free(f);
	}
	htab_release(&ls->files);
	buf_release(&ls->manifest_json);
	buf_release(&ls->index_json);
	buf_release(&ls->oci_layout);
}

/* @s starts with a sha256 in hex (archive file names: "<hex>.json"). */
static bool hex_prefix(const char *s)
{
	return registry_hex_span(s, REGISTRY_HEX_LEN) == REGISTRY_HEX_LEN;
}

static bool is_meta(const char *n)
{
	return !strcmp(n, "manifest.json") || !strcmp(n, "index.json") ||
	       !strcmp(n, "oci-layout") || !strcmp(n, "repositories");
}

bool load_name_is_archive(const char *n)
{
	if (!strcmp(n, "blobs") || !strncmp(n, "blobs/", 6) || is_meta(n))
		return true;
	return hex_prefix(n) && (n[REGISTRY_HEX_LEN] == '\0' ||
				 n[REGISTRY_HEX_LEN] == '.' ||
				 n[REGISTRY_HEX_LEN] == '/');
}

bool load_state_is_archive(const struct load_state *ls)
{
	return ls->seen_manifest_json ||
	       (ls->seen_oci_layout && ls->seen_index_json);
}

/* What the archive name @n is; for a name that says its digest, *@hint. */
static enum load_kind classify(const char *n, char hint[IMPORT_DIGEST_SZ])
{
	const char *blob, *ext;

	if (!strcmp(n, "manifest.json"))
		return K_MANIFEST;
	if (!strcmp(n, "index.json"))
		return K_INDEX;
	if (!strcmp(n, "oci-layout"))
		return K_LAYOUT;
	if (!strcmp(n, "repositories"))
		return K_REPOS;
	if (!strncmp(n, LOAD_BLOBS, strlen(LOAD_BLOBS))) {
		blob = n + strlen(LOAD_BLOBS);
		if (!registry_hex_valid(blob, REGISTRY_HEX_LEN, REGISTRY_HEX_LEN))
			return K_OTHER;
		snprintf(hint, IMPORT_DIGEST_SZ, REGISTRY_DIGEST_PREFIX "%.*s",
			 REGISTRY_HEX_LEN, blob);
		return K_BLOB;
	}
	if (!hex_prefix(n))
		return K_OTHER;
	ext = n + REGISTRY_HEX_LEN;
	if (!strcmp(ext, ".json") || !strcmp(ext, ".tar")) {
		snprintf(hint, IMPORT_DIGEST_SZ, REGISTRY_DIGEST_PREFIX "%.*s",
			 REGISTRY_HEX_LEN, n);
		return K_NAMED;
	}
	if (!strcmp(ext, "/layer.tar"))
		return K_FILE;
	return K_OTHER;
}

/* Offset of the first ".." component of @t, or strlen(@t) if none. */
static size_t dotdot_at(const char *t)
{
	for (size_t i = 0; t[i]; i++)
		if ((i == 0 || t[i - 1] == '/') && t[i] == '.' && t[i + 1] == '.' &&
		    (t[i + 2] == '/' || t[i + 2] == '\0'))
			return i;
	return strlen(t);
}

/*
 * load_link_target - the archive name a link points to: @target resolved
 * against directory @dir of the archive (the root for an absolute
 * @target), in the form import_entry_name() gives names.  path_norm()
 * normalises each stretch between ".." components; each ".." then drops
 * the last component so far.  -EINVAL for a target that climbs above the
 * archive's root, -E2BIG for one longer than @max - 1.
 */
static int load_link_target(const char *dir, const char *target, char *out,
			    size_t max)
{
	char tmp[PATH_NORM_MAX + 2];
	size_t len;
	int ret;

	ret = path_norm(target[0] == '/' ? "" : dir, out, max, &len);
	while (ret == 0) {
		size_t n = dotdot_at(target);
		char *sl;

		if (len + 1 + n >= sizeof(tmp))
			return -E2BIG;
		memcpy(tmp, out, len);
		tmp[len] = '/';
		memcpy(tmp + len + 1, target, n);
		tmp[len + 1 + n] = '\0';
		ret = path_norm(tmp, out, max, &len);
		if (ret || !target[n])
			break;
		if (len == 0)
			return -EINVAL;
		sl = strrchr(out, '/');
		len = sl ? (size_t)(sl - out) : 0;
		out[len] = '\0';
		target += n + 2;
	}
	return ret;
}

static int read_meta(struct import_plan *p, struct archive *tar,
		     const char *name, struct buf *b, bool *seen)
{
	char chunk[16384];
	la_ssize_t n;
	int ret;

	if (*seen)
		return import_why(p, -EINVAL, "%s appears twice in the archive", name);
	*seen = true;
	while ((n = archive_read_data(tar, chunk, sizeof(chunk))) > 0) {
		ret = buf_add(b, chunk, (size_t)n);
		if (ret)
			return import_why(p, ret, "%s: %s", name,
					  ret == -EFBIG ? "larger than 1 MiB" : strerror(-ret));
	}
	if (n < 0)
		return import_why(p, import_archive_errno(tar), "%s: %s", name,
				  archive_error_string(tar));
	return 0;
}

/* Stream one entry into a blob; @hint (if local already) saves the copy. */
static int blob_entry(struct store *s, struct import_plan *p, struct archive *tar,
		      const char *name, enum load_kind k, const char *hint,
		      char digest[IMPORT_DIGEST_SZ])
{
	struct store_blob_writer *w = NULL;
	char *chunk = NULL;
	la_ssize_t n;
	int ret;

	if (hint[0] && store_blob_has(s, hint)) {
		memcpy(digest, hint, IMPORT_DIGEST_SZ);
		if (archive_read_data_skip(tar) < ARCHIVE_WARN)
			return import_why(p, import_archive_errno(tar), "%s: %s",
					  name, archive_error_string(tar));
		return 0;
	}
	chunk = malloc(IMPORT_IO_CHUNK);
	if (!chunk)
		return -ENOMEM;
	ret = store_blob_writer_new(s, &w);
	if (ret)
		goto out;
	while ((n = archive_read_data(tar, chunk, IMPORT_IO_CHUNK)) > 0) {
		ret = store_blob_writer_write(w, chunk, (size_t)n);
		if (ret) {
			ret = import_why(p, ret, "%s: cannot store: %s", name, strerror(-ret));
			goto out;
		}
	}
	if (n < 0) {
		ret = import_why(p, import_archive_errno(tar), "%s: %s", name,
				 archive_error_string(tar));
		goto out;
	}
	ret = store_blob_writer_commit(s, w, k == K_BLOB ? hint : NULL, digest);
	w = NULL;
	if (ret) {
		ret = import_why(p, ret, "%s: %s", name, ret == -EIO ?
				 "content does not match its digest" : strerror(-ret));
		goto out;
	}
	ret = import_plan_new_blob(p, digest);
out:
	store_blob_writer_abort(w);
	free(chunk);
	return ret;
}

int load_entry(struct store *s, struct load_state *ls, struct import_plan *p,
	       struct archive *tar, struct archive_entry *e)
{
	char name[PATH_NORM_MAX + 1], hint[IMPORT_DIGEST_SZ] = "";
	char dir[PATH_NORM_MAX + 1], target[PATH_NORM_MAX + 1];
	const char *hl = archive_entry_hardlink(e), *sl = archive_entry_symlink(e);
	mode_t type = archive_entry_filetype(e);
	struct load_file *f = NULL;
	enum load_kind k;
	char *slash;
	int ret = 0;

	import_entry_name(e, name, sizeof(name));
	k = classify(name, hint);
	if (k >= K_MANIFEST && k <= K_REPOS && (type != AE_IFREG || hl))
		return import_why(p, -EINVAL, "%s is not a regular file", name);
	switch (k) {
	case K_MANIFEST:
		return read_meta(p, tar, name, &ls->manifest_json, &ls->seen_manifest_json);
	case K_INDEX:
		return read_meta(p, tar, name, &ls->index_json, &ls->seen_index_json);
	case K_LAYOUT:
		return read_meta(p, tar, name, &ls->oci_layout, &ls->seen_oci_layout);
	case K_REPOS:
		/* Only its presence matters: RepoTags say the same. */
		if (ls->seen_repositories)
			return import_why(p, -EINVAL, "repositories appears twice");
		ls->seen_repositories = true;
		goto skip;
	case K_OTHER:
		goto skip;
	default:
		break;
	}
	if (htab_get(&ls->files, name))
		return import_why(p, -EINVAL, "%s appears twice in the archive", name);
	if (ls->n_files >= IMPORT_MAX_FILES)
		return import_why(p, -E2BIG, "more than %d blob files", IMPORT_MAX_FILES);
	if (type != AE_IFREG && type != AE_IFLNK)
		goto skip;
	f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	if (hl || (type == AE_IFLNK && sl)) {
		snprintf(dir, sizeof(dir), "%s", name);
		slash = strrchr(dir, '/');
		if (hl || !slash)
			dir[0] = '\0';
		else
			*slash = '\0';
		ret = load_link_target(dir, hl ? hl : sl, target, sizeof(target));
		if (ret) {
			ret = import_why(p, ret, "%s: link target %s", name, ret == -EINVAL ?
					 "escapes the archive" : "too long");
			goto out;
		}
		f->link = strdup(target);
		if (!f->link) {
			ret = -ENOMEM;
			goto out;
		}
	} else if (type == AE_IFREG) {
		ret = blob_entry(s, p, tar, name, k, hint, f->digest);
		if (ret)
			goto out;
	} else {
		free(f);
		goto skip;
	}
	ret = htab_set(&ls->files, name, f, NULL);
	if (ret == 0) {
		ls->n_files++;
		f = NULL;
	}
out:
	if (f) {
		free(f->link);
		free(f);
	}
	return ret;
skip:
	if (archive_read_data_skip(tar) < ARCHIVE_WARN)
		return import_why(p, import_archive_errno(tar), "%s: %s", name,
				  archive_error_string(tar));
	return 0;
}

/* ---- after the stream --------------------------------------------- */

/* The blob an archive name stands for, following aliases. */
static int resolve(struct load_state *ls, struct import_plan *p,
		   const char *name, char digest[IMPORT_DIGEST_SZ])
{
	const struct load_file *f;
	const char *n = name;

	for (int hop = 0; hop <= LINK_HOPS; hop++) {
		f = htab_get(&ls->files, n);
		if (!f)
			break;
		if (!f->link) {
			memcpy(digest, f->digest, IMPORT_DIGEST_SZ);
			return 0;
		}
		n = f->link;
	}
	return import_why(p, -ENOENT, "manifest.json names %.200s, which is not in the archive",
			  name);
}

static int blob_size(struct store *s, const char *digest, int64_t *size,
		     enum registry_compression *comp, bool *other_comp)
{
	unsigned char m[6] = { 0 };
	struct stat st;
	int fd = -1, ret;
	ssize_t n;

	ret = store_blob_open(s, digest, &fd);
	if (ret)
		goto out;
	if (fstat(fd, &st) < 0) {
		ret = -errno;
		goto out;
	}
	*size = st.st_size;
	n = pread(fd, m, sizeof(m), 0);
	if (n < 0) {
		ret = -errno;
		goto out;
	}
	*comp = REGISTRY_COMP_NONE;
	*other_comp = false;
	if (m[0] == 0x1f && m[1] == 0x8b)
		*comp = REGISTRY_COMP_GZIP;
	else if ((m[0] == 0x28 && m[1] == 0xb5 && m[2] == 0x2f && m[3] == 0xfd) ||
		 ((m[0] & 0xf0) == 0x50 && m[1] == 0x2a && m[2] == 0x4d && m[3] == 0x18))
		*comp = REGISTRY_COMP_ZSTD;
	else if ((m[0] == 'B' && m[1] == 'Z' && m[2] == 'h') ||
		 !memcmp(m, "\xfd" "7zXZ\0", 6))
		*other_comp = true;
out:
	if (fd >= 0)
		close(fd);
	return ret;
}

static int tag_annotations(struct import_plan *p, struct import_image *img,
			   json_t *desc, const char *dh)
{
	json_t *ann = json_object_get(desc, "annotations");
	const char *full = json_string_value(json_object_get(ann, "io.containerd.image.name"));
	const char *ref = json_string_value(json_object_get(ann, "org.opencontainers.image.ref.name"));

	if (full)
		return import_image_tag_ref(p, img, full, dh);
	if (ref && (strchr(ref, '/') || strchr(ref, ':')))
		return import_image_tag_ref(p, img, ref, dh);
	if (ref)
		log_info("load: image %s: ref.name \"%.128s\" names no repository; left untagged",
			 img->id, ref);
	return 0;
}

/* One manifest (or index) named by index.json into the plan. */
static int oci_one(struct store *s, struct import_plan *p, json_t *desc,
		   const char *dh)
{
	const char *mt = json_string_value(json_object_get(desc, "mediaType"));
	const char *dg = json_string_value(json_object_get(desc, "digest"));
	struct registry_manifest m = { 0 };
	struct registry_desc sel = { 0 };
	struct registry_platform plat;
	enum registry_doc_kind kind;
	struct import_image *img;
	struct buf body;
	int ret;

	buf_init(&body, BUF_MANIFEST_MAX);
	if (!dg || !registry_digest_valid(dg)) {
		ret = import_why(p, -EINVAL, "index.json: a descriptor without a valid digest");
		goto out;
	}
	ret = store_blob_read(s, dg, BUF_MANIFEST_MAX, &body);
	if (ret == 0)
		ret = registry_doc_kind_of(body.data, body.len, mt, &kind);
	if (ret == 0 && kind == REGISTRY_DOC_INDEX) {
		registry_platform_host(&plat);
		ret = registry_index_select(body.data, body.len, &plat, &sel);
		if (ret == 0) {
			dg = sel.digest;
			buf_release(&body);
			ret = store_blob_read(s, dg, BUF_MANIFEST_MAX, &body);
		}
		if (ret == 0)
			ret = registry_doc_kind_of(body.data, body.len, sel.media_type, &kind);
		if (ret == 0 && kind != REGISTRY_DOC_MANIFEST)
			ret = -ENOTSUP;		/* nested deeper: not followed */
	}
	if (ret == 0)
		ret = registry_manifest_parse(body.data, body.len, &m);
	if (ret) {
		ret = import_why(p, ret, "manifest %s: %s", dg, ret == -ENOENT ?
				 "not in the archive" : strerror(-ret));
		goto out;
	}
	for (size_t i = 0; i < p->n_imgs; i++)
		if (strcmp(p->imgs[i].id, IMPORT_HEX(m.config.digest)) == 0)
			goto known;
	ret = import_check_image(s, p, &m, dg);
	if (ret)
		goto out;
known:
	ret = import_plan_image(p, IMPORT_HEX(m.config.digest), body.data, body.len, &img);
	if (ret == 0)
		ret = tag_annotations(p, img, desc, dh);
out:
	registry_manifest_release(&m);
	registry_desc_release(&sel);
	buf_release(&body);
	return ret;
}

static int load_oci(struct store *s, struct load_state *ls, struct import_plan *p,
		    const char *dh)
{
	json_t *layout = NULL, *index = NULL, *mans;
	json_error_t jerr;
	const char *v;
	int ret = 0;

	layout = json_loadb(ls->oci_layout.data ? ls->oci_layout.data : "", ls->oci_layout.len,
			    JSON_REJECT_DUPLICATES, &jerr);
	v = json_string_value(json_object_get(layout, "imageLayoutVersion"));
	if (!v || strcmp(v, "1.0.0") != 0) {
		ret = import_why(p, -ENOTSUP, "oci-layout: not an image layout of version 1.0.0");
		goto out;
	}
	index = json_loadb(ls->index_json.data ? ls->index_json.data : "", ls->index_json.len,
			   JSON_REJECT_DUPLICATES, &jerr);
	mans = json_object_get(index, "manifests");
	if (!json_is_array(mans) && !(json_is_object(index) && !mans)) {
		ret = import_why(p, -EINVAL, "index.json: not an image index: %s", jerr.text);
		goto out;
	}
	if (json_array_size(mans) > IMPORT_MAX_IMAGES) {
		ret = import_why(p, -E2BIG, "index.json: more than %d manifests", IMPORT_MAX_IMAGES);
		goto out;
	}
	for (size_t i = 0; i < json_array_size(mans) && !ret; i++)
		ret = oci_one(s, p, json_array_get(mans, i), dh);
out:
	json_decref(layout);
	json_decref(index);
	return ret;
}

/* One manifest.json entry: {Config, RepoTags, Layers}. */
static int docker_one(struct store *s, struct load_state *ls, struct import_plan *p,
		      json_t *ent, const char *dh)
{
	const char *cfgname = json_string_value(json_object_get(ent, "Config"));
	json_t *tags = json_object_get(ent, "RepoTags"), *lay = json_object_get(ent, "Layers");
	struct registry_manifest m = { 0 };
	struct registry_desc *ld = NULL;
	struct import_image *img = NULL;
	char cfg_digest[IMPORT_DIGEST_SZ], (*dgs)[IMPORT_DIGEST_SZ] = NULL;
	enum registry_compression comp;
	bool other;
	char *man = NULL;
	size_t n = json_array_size(lay), man_len;
	int ret;

	if (!cfgname || !json_is_array(lay) || (tags && !json_is_array(tags) && !json_is_null(tags)))
		return import_why(p, -EINVAL, "manifest.json: an entry without Config and Layers");
	if (n > IMPORT_MAX_LAYERS)
		return import_why(p, -E2BIG, "manifest.json: %zu layers", n);
	ret = resolve(ls, p, cfgname, cfg_digest);
	if (ret)
		return ret;
	for (size_t i = 0; i < p->n_imgs; i++)
		if (strcmp(p->imgs[i].id, IMPORT_HEX(cfg_digest)) == 0)
			img = &p->imgs[i];
	if (img)
		goto tag;
	ld = calloc(n + 1, sizeof(*ld));
	dgs = calloc(n + 1, sizeof(*dgs));
	if (!ld || !dgs) {
		ret = -ENOMEM;
		goto out;
	}
	m.config.media_type = REGISTRY_MT_OCI_CONFIG;
	m.config.digest = cfg_digest;
	ret = blob_size(s, cfg_digest, &m.config.size, &comp, &other);
	for (size_t i = 0; i < n && !ret; i++) {
		const char *ln = json_string_value(json_array_get(lay, i));

		if (!ln) {
			ret = import_why(p, -EINVAL, "manifest.json: a layer that is not a string");
			break;
		}
		ret = resolve(ls, p, ln, dgs[i]);
		if (ret == 0)
			ret = blob_size(s, dgs[i], &ld[i].size, &comp, &other);
		if (ret == 0 && other)
			ret = import_why(p, -ENOTSUP, "layer %.200s: bzip2 or xz inside an archive is not supported", ln);
		ld[i].digest = dgs[i];
		ld[i].media_type = comp == REGISTRY_COMP_GZIP ? REGISTRY_MT_OCI_LAYER_GZIP :
				   comp == REGISTRY_COMP_ZSTD ? REGISTRY_MT_OCI_LAYER_ZSTD : REGISTRY_MT_OCI_LAYER;
	}
	if (ret)
		goto out;
	m.layers = ld;
	m.n_layers = n;
	ret = import_check_image(s, p, &m, cfgname);
	if (ret == 0)
		ret = import_manifest_json(&m.config, ld, n, &man, &man_len);
	if (ret == 0)
		ret = import_plan_image(p, IMPORT_HEX(cfg_digest), man, man_len, &img);
	if (ret)
		goto out;
tag:
	for (size_t i = 0; i < json_array_size(tags) && !ret; i++) {
		const char *t = json_string_value(json_array_get(tags, i));

		ret = t ? import_image_tag_ref(p, img, t, dh) :
			  import_why(p, -EINVAL, "manifest.json: a RepoTag that is not a string");
	}
out:
	free(man);
	free(ld);
	free(dgs);
	return ret;
}

static int load_docker(struct store *s, struct load_state *ls, struct import_plan *p,
		       const char *dh)
{
	json_error_t jerr;
	json_t *arr;
	int ret = 0;

	arr = json_loadb(ls->manifest_json.data ? ls->manifest_json.data : "",
			 ls->manifest_json.len, JSON_REJECT_DUPLICATES, &jerr);
	if (!json_is_array(arr)) {
		ret = import_why(p, -EINVAL, "manifest.json: not a list of images: %s",
				 arr ? "wrong type" : jerr.text);
		goto out;
	}
	if (json_array_size(arr) > IMPORT_MAX_IMAGES) {
		ret = import_why(p, -E2BIG, "manifest.json: more than %d images", IMPORT_MAX_IMAGES);
		goto out;
	}
	for (size_t i = 0; i < json_array_size(arr) && !ret; i++)
		ret = docker_one(s, ls, p, json_array_get(arr, i), dh);
out:
	json_decref(arr);
	return ret;
}

int load_plan(struct store *s, struct load_state *ls, struct import_plan *p,
	      const char *src)
{
	const char *dh = store_default_host(s);
	int ret = 0;

	if (ls->seen_oci_layout && ls->seen_index_json)
		ret = load_oci(s, ls, p, dh);
	if (ret == 0 && ls->seen_manifest_json)
		ret = load_docker(s, ls, p, dh);
	if (ret == 0 && p->n_imgs == 0)
		ret = import_why(p, -EINVAL, "the archive holds no image");
	if (ret == 0)
		log_debug("load %s: %zu image(s), %zu blob(s) written", src,
			  p->n_imgs, p->n_new);
	return ret;
}
