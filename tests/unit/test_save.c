/* SPDX-License-Identifier: MIT */
/*
 * test_save.c - store_save_*: the archive of fabricated images (a Docker
 * schema 2 image with a plain and a gzip layer, tagged twice, and an
 * untagged OCI image sharing the gzip layer) read whole, in random pieces
 * and at random offsets, then read back by libarchive: every member's
 * header at the offset the member list gives, its size and bytes, the
 * metadata files' fields, the end blocks.  Then the archives are loaded
 * by the store's own `docker load` into another store, which must find
 * the same image IDs and tags; the OCI layout variant and the archive of
 * two images are checked the same way.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>
#include <jansson.h>

#define CHECK_FATAL	/* later steps use what the checks vouched for */
#include "check.h"
#include "digest.h"
#include "import.h"
#include "log.h"
#include "save.h"
#include "store.h"
#include "tar_mem.h"

#define CREATED 1704067200	/* 2024-01-01T00:00:00Z */

static char dir[256];

/* A one-file tar layer, plain or gzip, into @out (@cap bytes). */
static size_t make_layer(const char *name, const char *content, bool gz,
			 char *out, size_t cap)
{
	struct archive *a = archive_write_new();
	struct archive_entry *e = archive_entry_new();
	size_t used = 0;

	tar_mem_open(a, gz, out, cap, &used);
	archive_entry_set_pathname(e, name);
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_perm(e, 0644);
	archive_entry_set_size(e, (la_int64_t)strlen(content));
	CHECK(archive_write_header(a, e) == ARCHIVE_OK);
	CHECK(archive_write_data(a, content, strlen(content)) == (la_ssize_t)strlen(content));
	CHECK(archive_write_close(a) == ARCHIVE_OK);
	archive_entry_free(e);
	archive_write_free(a);
	return used;
}

struct fixture {
	char la[8192], lb[8192], lbz[8192];
	size_t la_len, lb_len, lbz_len;
	char da[72], db[72], dbz[72];
	char id1[65], id2[65];
	char man2[2048];		/* image 2's stored manifest */
};

static void add_image(struct store *s, const char *env, const char *const *diff_ids,
		      size_t n, const char *manifest_fmt, const char *const *ldig,
		      const size_t *lsize, char id[65], char *man_out, size_t man_cap)
{
	char cfg[2048], cdig[72], man[2048], got[72];
	int k;

	k = snprintf(cfg, sizeof(cfg), "{\"architecture\":\"amd64\",\"config\":{\"Env\":[\"%s\"]},"
		     "\"created\":\"2024-01-01T00:00:00Z\",\"os\":\"linux\","
		     "\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"%s\"%s%s%s]}}",
		     env, diff_ids[0], n > 1 ? ",\"" : "", n > 1 ? diff_ids[1] : "",
		     n > 1 ? "\"" : "");
	CHECK(k > 0 && (size_t)k < sizeof(cfg));
	CHECK(store_blob_add(s, cfg, strlen(cfg), cdig) == 0);
	if (n > 1)
		snprintf(man, sizeof(man), manifest_fmt, cdig, strlen(cfg), ldig[0],
			 lsize[0], ldig[1], lsize[1]);
	else
		snprintf(man, sizeof(man), manifest_fmt, cdig, strlen(cfg), ldig[0],
			 lsize[0]);
	CHECK(store_image_add(s, man, strlen(man), NULL, NULL, id) == 0);
	CHECK(strcmp(id, cdig + 7) == 0);
	test_sha256(cfg, strlen(cfg), got);
	CHECK(strcmp(got, cdig) == 0);
	if (man_out)
		snprintf(man_out, man_cap, "%s", man);
}

static void fixture_build(struct store *s, struct fixture *f)
{
	char dig[72];
	const char *ids1[2], *ids2[1], *l1[2], *l2[1];
	size_t s1[2], s2[1];

	f->la_len = make_layer("etc/a", "layer a\n", false, f->la, sizeof(f->la));
	f->lb_len = make_layer("etc/b", "layer b\n", false, f->lb, sizeof(f->lb));
	f->lbz_len = make_layer("etc/b", "layer b\n", true, f->lbz, sizeof(f->lbz));
	test_sha256(f->la, f->la_len, f->da);
	test_sha256(f->lb, f->lb_len, f->db);
	CHECK(store_blob_add(s, f->la, f->la_len, dig) == 0);
	CHECK(strcmp(dig, f->da) == 0);
	CHECK(store_blob_add(s, f->lbz, f->lbz_len, f->dbz) == 0);

	/* Image 1: Docker schema 2, a plain and a gzip layer. */
	ids1[0] = f->da;
	ids1[1] = f->db;
	l1[0] = f->da;
	l1[1] = f->dbz;
	s1[0] = f->la_len;
	s1[1] = f->lbz_len;
	add_image(s, "A=1", ids1, 2,
		  "{\"schemaVersion\":2,\"mediaType\":\"" REGISTRY_MT_DOCKER_MANIFEST "\","
		  "\"config\":{\"mediaType\":\"" REGISTRY_MT_DOCKER_CONFIG "\",\"digest\":\"%s\",\"size\":%zu},"
		  "\"layers\":[{\"mediaType\":\"" REGISTRY_MT_DOCKER_LAYER "\",\"digest\":\"%s\",\"size\":%zu},"
		  "{\"mediaType\":\"" REGISTRY_MT_DOCKER_LAYER_GZIP "\",\"digest\":\"%s\",\"size\":%zu}]}",
		  l1, s1, f->id1, NULL, 0);
	/* Image 2: OCI (kept exactly, annotation and all), the gzip layer. */
	ids2[0] = f->db;
	l2[0] = f->dbz;
	s2[0] = f->lbz_len;
	add_image(s, "B=2", ids2, 1,
		  "{\"schemaVersion\":2,\"mediaType\":\"" REGISTRY_MT_OCI_MANIFEST "\","
		  "\"config\":{\"mediaType\":\"" REGISTRY_MT_OCI_CONFIG "\",\"digest\":\"%s\",\"size\":%zu},"
		  "\"layers\":[{\"mediaType\":\"" REGISTRY_MT_OCI_LAYER_GZIP "\",\"digest\":\"%s\",\"size\":%zu}],"
		  "\"annotations\":{\"x\":\"y\"}}",
		  l2, s2, f->id2, f->man2, sizeof(f->man2));
	CHECK(store_tag_set(s, "docker.io", "library/busybox", "1", f->id1) == 0);
	CHECK(store_tag_set(s, "example.com:5000", "ns/app", "v2", f->id1) == 0);
}

/* The whole archive, read three ways that must agree. */
static void read_all(struct store *s, struct store_save *sv, struct buf *out)
{
	uint64_t size = store_save_size(sv);
	char *piece;
	size_t got, off = 0;

	buf_init(out, (size_t)64 << 20);
	CHECK(buf_add(out, "", 0) == 0);
	piece = malloc(size + 100);
	CHECK(piece != NULL);
	CHECK(store_save_read(s, sv, piece, size + 100, 0, &got) == 0);
	CHECK_EQ(got, size);
	CHECK(buf_add(out, piece, got) == 0);
	/* random pieces, in order */
	while (off < size) {
		size_t n = (size_t)(rand() % 1500) + 1;

		CHECK(store_save_read(s, sv, piece, n, off, &got) == 0);
		CHECK(got == (n < size - off ? n : size - off));
		CHECK_MEM(piece, out->data + off, got);
		off += got;
	}
	/* random offsets */
	for (int i = 0; i < 300; i++) {
		size_t o = (size_t)rand() % size, n = (size_t)(rand() % 3000) + 1;

		CHECK(store_save_read(s, sv, piece, n, o, &got) == 0);
		CHECK(got == (n < size - o ? n : size - o));
		CHECK_MEM(piece, out->data + o, got);
	}
	CHECK(store_save_read(s, sv, piece, 10, size, &got) == 0);
	CHECK_EQ(got, 0);
	free(piece);
}

static json_t *json_of(const char *d, size_t n)
{
	json_error_t err;
	json_t *j = json_loadb(d, n, 0, &err);

	CHECKF(j != NULL, "json: %s", err.text);
	return j;
}

/*
 * Walk @ar with libarchive: each entry where the member list puts it,
 * with its size and bytes (as store_save_member_read gives them); the
 * two zero blocks at the end.  Metadata files into @meta (index.json,
 * manifest.json, repositories; NULL when absent).
 */
static void walk(struct store *s, struct store_save *sv, const struct buf *ar,
		 json_t *meta[3])
{
	struct archive *a = archive_read_new();
	struct archive_entry *e;
	uint64_t off = 0;
	size_t i = 0;

	meta[0] = meta[1] = meta[2] = NULL;
	CHECK(archive_read_support_format_tar(a) == ARCHIVE_OK);
	CHECK(archive_read_open_memory(a, ar->data, ar->len) == ARCHIVE_OK);
	while (archive_read_next_header(a, &e) == ARCHIVE_OK) {
		const struct store_save_member *m = store_save_member(sv, i);
		la_int64_t size = archive_entry_size(e);
		char *data = malloc((size_t)size + 1), *want = malloc((size_t)size + 1);
		size_t got;

		CHECK(m != NULL && data && want);
		CHECK_STR(archive_entry_pathname(e), m->name);
		CHECK_EQ(archive_read_header_position(a), off);
		CHECK_EQ(size, m->size);
		CHECK_EQ(archive_entry_uid(e), 0);
		CHECK_EQ(archive_entry_gid(e), 0);
		CHECK_EQ(archive_entry_filetype(e), m->is_dir ? AE_IFDIR : AE_IFREG);
		CHECK_EQ(archive_entry_perm(e), m->is_dir ? 0755 : 0644);
		if (strncmp(m->name, "blobs/sha256/", 13) == 0 && !m->is_dir) {
			char d[72];

			CHECK_EQ(archive_entry_mtime(e), CREATED);
			CHECK(archive_read_data(a, data, (size_t)size) == size);
			test_sha256(data, (size_t)size, d);
			CHECK_STR(d + 7, m->name + 13);	/* content-addressed */
		} else {
			CHECK_EQ(archive_entry_mtime(e), 0);
			CHECK(archive_read_data(a, data, (size_t)size) == size);
		}
		CHECK(store_save_member_read(s, sv, i, want, (size_t)size + 1, 0, &got) == 0);
		CHECK_EQ(got, size);
		CHECK_MEM(data, want, got);
		CHECK(m->mutable == (!strcmp(m->name, "index.json") ||
				     !strcmp(m->name, "manifest.json") ||
				     !strcmp(m->name, "repositories")));
		if (!strcmp(m->name, "index.json"))
			meta[0] = json_of(data, (size_t)size);
		if (!strcmp(m->name, "manifest.json")) {
			CHECK(size > 0 && data[size - 1] == '\n');
			meta[1] = json_of(data, (size_t)size);
		}
		if (!strcmp(m->name, "repositories"))
			meta[2] = json_of(data, (size_t)size);
		off += 512 + ((uint64_t)size + 511) / 512 * 512;
		free(data);
		free(want);
		i++;
	}
	CHECK_EQ(i, store_save_n_members(sv));
	CHECK_EQ(off + 1024, ar->len);
	for (size_t k = off; k < ar->len; k++)
		CHECK(ar->data[k] == 0);
	archive_read_free(a);
}

/* Load @ar into a fresh store: the ids found, and the tags it made. */
static struct store *load_into(const char *sub, const struct buf *ar, struct buf *res)
{
	struct store_opts o = { 0 };
	struct store_import *im;
	struct store *s2;
	char d[300];

	snprintf(d, sizeof(d), "%s/%s", dir, sub);
	o.dir = d;
	o.default_host = "docker.io";
	registry_platform_host(&o.platform);
	CHECK(store_open(&o, &s2) == 0);
	CHECK(store_import_begin(s2, NULL, "test_save", &im) == 0);
	CHECK(store_import_write(im, ar->data, ar->len) == 0);
	buf_init(res, 4096);
	CHECK(store_import_finish(im, res) == 0);
	return s2;
}

static const char *str_at(json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

static void test_tagged(struct store *s, const struct fixture *f)
{
	struct store_save *sv, *sv2;
	struct buf ar, ar2, res;
	json_t *meta[3], *man, *ix;
	struct store *s2;
	char path[100], id[65];
	size_t mi;

	CHECK(store_save_image(s, f->id1, 0, &sv) == 0);
	read_all(s, sv, &ar);
	walk(s, sv, &ar, meta);
	CHECK(meta[0] && meta[1] && meta[2]);

	/* manifest.json: the config, both tags (familiar), both layers as
	 * stored: the plain one under its diff_id, the gzip one as is. */
	CHECK_EQ(json_array_size(meta[1]), 1);
	man = json_array_get(meta[1], 0);
	snprintf(path, sizeof(path), "blobs/sha256/%s", f->id1);
	CHECK_STR(str_at(man, "Config"), path);
	CHECK_EQ(json_array_size(json_object_get(man, "RepoTags")), 2);
	CHECK_STR(json_string_value(json_array_get(json_object_get(man, "RepoTags"), 0)), "busybox:1");
	CHECK_STR(json_string_value(json_array_get(json_object_get(man, "RepoTags"), 1)),
		  "example.com:5000/ns/app:v2");
	snprintf(path, sizeof(path), "blobs/sha256/%s", f->da + 7);
	CHECK_STR(json_string_value(json_array_get(json_object_get(man, "Layers"), 0)), path);
	snprintf(path, sizeof(path), "blobs/sha256/%s", f->dbz + 7);
	CHECK_STR(json_string_value(json_array_get(json_object_get(man, "Layers"), 1)), path);
	/* repositories: the top layer of each tag */
	CHECK_STR(json_string_value(json_object_get(json_object_get(meta[2], "busybox"), "1")),
		  f->dbz + 7);
	/* index.json: one descriptor per tag, the OCI manifest made from the
	 * Docker one with OCI media types. */
	CHECK_EQ(json_array_size(json_object_get(meta[0], "manifests")), 2);
	ix = json_array_get(json_object_get(meta[0], "manifests"), 1);
	CHECK_STR(str_at(ix, "mediaType"), REGISTRY_MT_OCI_MANIFEST);
	CHECK_STR(str_at(json_object_get(ix, "annotations"), "io.containerd.image.name"),
		  "example.com:5000/ns/app:v2");
	CHECK_STR(str_at(json_object_get(ix, "annotations"), "org.opencontainers.image.ref.name"), "v2");
	snprintf(path, sizeof(path), "blobs/sha256/%s", str_at(ix, "digest") + 7);
	CHECK(store_save_find(sv, path, &mi) == 0);
	{
		const struct store_save_member *m = store_save_member(sv, mi);
		char *body = malloc(m->size);
		json_t *j, *ls;
		size_t got;

		CHECK(store_save_member_read(s, sv, mi, body, m->size, 0, &got) == 0);
		j = json_of(body, got);
		CHECK_STR(str_at(j, "mediaType"), REGISTRY_MT_OCI_MANIFEST);
		CHECK_STR(str_at(json_object_get(j, "config"), "mediaType"), REGISTRY_MT_OCI_CONFIG);
		ls = json_object_get(j, "layers");
		CHECK_STR(str_at(json_array_get(ls, 0), "mediaType"), REGISTRY_MT_OCI_LAYER);
		CHECK_STR(str_at(json_array_get(ls, 1), "mediaType"), REGISTRY_MT_OCI_LAYER_GZIP);
		CHECK_EQ(json_integer_value(json_object_get(json_array_get(ls, 1), "size")),
			 f->lbz_len);
		json_decref(j);
		free(body);
	}
	CHECK(store_save_find(sv, "blobs/", &mi) == 0 && mi == 0);
	CHECK(store_save_find(sv, "nothing", &mi) == -ENOENT);

	/* Deterministic: a second build gives the same bytes. */
	CHECK(store_save_image(s, f->id1, 0, &sv2) == 0);
	read_all(s, sv2, &ar2);
	CHECK_EQ(ar2.len, ar.len);
	CHECK_MEM(ar2.data, ar.data, ar.len);
	store_save_free(s, sv2);
	buf_release(&ar2);

	/* Loaded back: the same image ID, both tags. */
	s2 = load_into("load1", &ar, &res);
	CHECK(strstr(buf_str(&res), "Loaded image: busybox:1\n"));
	CHECK(store_tag_get(s2, "docker.io", "library/busybox", "1", id) == 0);
	CHECK_STR(id, f->id1);
	CHECK(store_tag_get(s2, "example.com:5000", "ns/app", "v2", id) == 0);
	CHECK_STR(id, f->id1);
	store_close(s2);
	buf_release(&res);

	for (int k = 0; k < 3; k++)
		json_decref(meta[k]);
	store_save_free(s, sv);
	buf_release(&ar);
	fprintf(stderr, "tagged ok\n");
}

static void test_untagged_and_layout(struct store *s, const struct fixture *f)
{
	struct store_save *sv;
	struct buf ar;
	json_t *meta[3], *ix;
	char path[100], md[72], *body;
	const struct store_save_member *m;
	size_t mi, got;

	CHECK(store_save_image(s, f->id2, 0, &sv) == 0);
	read_all(s, sv, &ar);
	walk(s, sv, &ar, meta);
	CHECK(meta[0] && meta[1] && !meta[2]);	/* no repositories */
	CHECK(json_is_null(json_object_get(json_array_get(meta[1], 0), "RepoTags")));
	ix = json_array_get(json_object_get(meta[0], "manifests"), 0);
	CHECK(json_object_get(ix, "annotations") == NULL);
	/* An OCI manifest is saved exactly as stored. */
	test_sha256(f->man2, strlen(f->man2), md);
	CHECK_STR(str_at(ix, "digest"), md);
	snprintf(path, sizeof(path), "blobs/sha256/%s", md + 7);
	CHECK(store_save_find(sv, path, &mi) == 0);
	m = store_save_member(sv, mi);
	CHECK_EQ(m->size, strlen(f->man2));
	body = malloc(m->size);
	CHECK(store_save_member_read(s, sv, mi, body, m->size, 0, &got) == 0);
	CHECK_MEM(body, f->man2, got);
	free(body);
	for (int k = 0; k < 3; k++)
		json_decref(meta[k]);
	store_save_free(s, sv);
	buf_release(&ar);

	/* The layout: no docker-archive files, the untagged image "latest". */
	CHECK(store_save_image(s, f->id2, STORE_SAVE_LAYOUT, &sv) == 0);
	read_all(s, sv, &ar);
	walk(s, sv, &ar, meta);
	CHECK(meta[0] && !meta[1] && !meta[2]);
	CHECK(store_save_find(sv, "oci-layout", &mi) == 0);
	ix = json_array_get(json_object_get(meta[0], "manifests"), 0);
	CHECK_STR(str_at(json_object_get(ix, "annotations"), "org.opencontainers.image.ref.name"),
		  "latest");
	json_decref(meta[0]);
	store_save_free(s, sv);
	buf_release(&ar);
	fprintf(stderr, "untagged and layout ok\n");
}

static void test_two(struct store *s, const struct fixture *f)
{
	struct store_save_item items[2] = { { .id = f->id1 }, { .id = f->id2 } };
	struct store_tag tag = { .host = "quay.io", .repo = "x/y", .tag = "z" };
	struct store_save *sv;
	struct buf ar, res;
	json_t *meta[3];
	struct store *s2;
	char path[100], id[65], **ids;
	size_t n, mi, blobs = 0;

	items[1].tags = &tag;
	items[1].n_tags = 1;
	CHECK(store_save_new(s, items, 2, 0, &sv) == 0);
	read_all(s, sv, &ar);
	walk(s, sv, &ar, meta);
	CHECK_EQ(json_array_size(meta[1]), 2);
	/* two manifests, two configs, three layer blobs: the shared one once */
	for (size_t i = 0; i < store_save_n_members(sv); i++)
		blobs += !store_save_member(sv, i)->is_dir &&
			 !strncmp(store_save_member(sv, i)->name, "blobs/sha256/", 13);
	CHECK_EQ(blobs, 6);
	snprintf(path, sizeof(path), "blobs/sha256/%s", f->dbz + 7);
	CHECK(store_save_find(sv, path, &mi) == 0);
	s2 = load_into("load2", &ar, &res);
	CHECK(store_image_list(s2, &ids, &n) == 0);
	CHECK_EQ(n, 2);
	for (size_t i = 0; i < n; i++) {
		CHECK(!strcmp(ids[i], f->id1) || !strcmp(ids[i], f->id2));
		free(ids[i]);
	}
	free(ids);
	CHECK(store_tag_get(s2, "quay.io", "x/y", "z", id) == 0);
	CHECK_STR(id, f->id2);
	store_close(s2);
	buf_release(&res);
	for (int k = 0; k < 3; k++)
		json_decref(meta[k]);
	store_save_free(s, sv);
	buf_release(&ar);

	/* Errors: nothing, an unknown image, a bad tag. */
	CHECK(store_save_new(s, items, 0, 0, &sv) == -EINVAL);
	items[0].id = "0000000000000000000000000000000000000000000000000000000000000000";
	CHECK(store_save_new(s, items, 1, 0, &sv) == -ENOENT);
	tag.tag = "bad tag";
	CHECK(store_save_new(s, &items[1], 1, 0, &sv) == -EINVAL);
	CHECK(sv == NULL);
	fprintf(stderr, "two images ok\n");
}

int main(void)
{
	struct store_opts o = { 0 };
	struct fixture f;
	struct store *s;
	char cmd[300];

	log_setup(LOG_LVL_WARN, 0);
	srand(4242);
	snprintf(dir, sizeof(dir), "/tmp/test_save.XXXXXX");
	CHECK(mkdtemp(dir));
	snprintf(cmd, sizeof(cmd), "%s/src", dir);
	o.dir = cmd;
	o.default_host = "docker.io";
	registry_platform_host(&o.platform);
	CHECK(store_open(&o, &s) == 0);
	memset(&f, 0, sizeof(f));
	fixture_build(s, &f);

	test_tagged(s, &f);
	test_untagged_and_layout(s, &f);
	test_two(s, &f);

	store_close(s);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	CHECK(system(cmd) == 0);
	return check_done("test_save");
}
