/* SPDX-License-Identifier: MIT */
/*
 * test_import.c - store_import_*: rootfs imports (plain, gzip, bzip2, xz,
 * zstd) fed in random-sized chunks, untagged imports, the layer index
 * an import builds once and keeps, a Docker <= 24
 * docker-archive and an OCI layout archive (Docker 25+ style, with a
 * manifest.json beside it) built here with libarchive's writer, and the
 * failures that must leave the store exactly as it was: truncated gzip,
 * a hostile tar, a manifest.json naming a missing file, a diff_id
 * mismatch, a link that climbs out of the archive, a blob that does not
 * match its name, not-a-tar input, abort.
 */
#include <dirent.h>
#include <pthread.h>
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>

#define CHECK_FATAL	/* later steps use what the checks vouched for */
#include "check.h"
#include "digest.h"
#include "file.h"
#include "import.h"
#include "log.h"
#include "store.h"
#include "store_int.h"	/* white-box: the records' fields */

static char dir[256];

struct tent {
	const char *path;
	int type;		/* AE_IFREG, AE_IFDIR, AE_IFLNK */
	const void *data;	/* file content, or symlink target */
	size_t len;		/* 0: strlen(data) for files */
};

static la_ssize_t mem_write(struct archive *a, void *ctx, const void *d, size_t n)
{
	(void)a;
	return buf_add(ctx, d, n) ? -1 : (la_ssize_t)n;
}

/* filter: 0 none, 'g'zip, 'b'zip2, 'x'z, 'z'std */
static void build_tar(int filter, const struct tent *ents, size_t n, struct buf *out)
{
	struct archive *a = archive_write_new();
	struct archive_entry *e;

	buf_init(out, (size_t)256 << 20);
	CHECK(archive_write_set_format_pax_restricted(a) == ARCHIVE_OK);
	switch (filter) {
	case 'g': CHECK(archive_write_add_filter_gzip(a) >= ARCHIVE_WARN); break;
	case 'b': CHECK(archive_write_add_filter_bzip2(a) >= ARCHIVE_WARN); break;
	case 'x': CHECK(archive_write_add_filter_xz(a) >= ARCHIVE_WARN); break;
	case 'z': CHECK(archive_write_add_filter_zstd(a) >= ARCHIVE_WARN); break;
	default: break;
	}
	CHECK(archive_write_set_bytes_per_block(a, 0) == ARCHIVE_OK);
	CHECK(archive_write_open(a, out, NULL, mem_write, NULL) == ARCHIVE_OK);
	for (size_t i = 0; i < n; i++) {
		size_t len = ents[i].type == AE_IFREG ?
			     (ents[i].len ? ents[i].len : strlen(ents[i].data)) : 0;

		e = archive_entry_new();
		archive_entry_set_pathname(e, ents[i].path);
		archive_entry_set_filetype(e, ents[i].type);
		archive_entry_set_perm(e, ents[i].type == AE_IFDIR ? 0755 : 0644);
		archive_entry_set_mtime(e, 1700000000, 0);
		archive_entry_set_size(e, (la_int64_t)len);
		if (ents[i].type == AE_IFLNK)
			archive_entry_set_symlink(e, ents[i].data);
		CHECK(archive_write_header(a, e) == ARCHIVE_OK);
		if (len)
			CHECK(archive_write_data(a, ents[i].data, len) == (la_ssize_t)len);
		archive_entry_free(e);
	}
	CHECK(archive_write_close(a) == ARCHIVE_OK);
	archive_write_free(a);
}

/* Feed @data in random chunks; returns finish's result. */
static int run_import(struct store *s, const char *name, const struct buf *data,
		      struct buf *result)
{
	struct store_import *im;
	size_t off = 0;
	int ret = 0;

	CHECK(store_import_begin(s, name, "test", &im) == 0);
	while (off < data->len && ret == 0) {
		size_t n = (size_t)(rand() % 70000) + 1;

		if (n > data->len - off)
			n = data->len - off;
		ret = store_import_write(im, data->data + off, n);
		off += n;
	}
	if (ret) {
		/* Once write fails, finish must fail too. */
		CHECK(store_import_finish(im, result) != 0);
		return ret;
	}
	return store_import_finish(im, result);
}

static size_t count_files(const char *sub)
{
	char path[512];
	struct dirent *d;
	size_t n = 0;
	DIR *dp;

	snprintf(path, sizeof(path), "%s/%s", dir, sub);
	dp = opendir(path);
	if (!dp)
		return 0;
	while ((d = readdir(dp)))
		if (d->d_name[0] != '.')
			n++;
	closedir(dp);
	return n;
}

struct snap {
	size_t blobs, tmp, images, tags;
};

static void snapshot(struct store *s, struct snap *sn)
{
	struct store_tag *tags;
	char **ids;
	size_t n;

	sn->blobs = count_files("blobs/sha256");
	sn->tmp = count_files("tmp");
	CHECK(store_image_list(s, &ids, &n) == 0);
	sn->images = n;
	for (size_t i = 0; i < n; i++)
		free(ids[i]);
	free(ids);
	CHECK(store_tag_list(s, &tags, &n) == 0);
	sn->tags = n;
	store_tag_list_free(tags, n);
}

static void same(struct store *s, const struct snap *a)
{
	struct snap b;

	snapshot(s, &b);
	CHECKF(a->blobs == b.blobs && a->tmp == b.tmp && a->images == b.images &&
	       a->tags == b.tags,
	       "store changed: blobs %zu->%zu tmp %zu->%zu images %zu->%zu tags %zu->%zu",
	       a->blobs, b.blobs, a->tmp, b.tmp, a->images, b.images, a->tags, b.tags);
}

static const struct tent rootfs_ents[] = {
	{ "./", AE_IFDIR, NULL, 0 },
	{ "./etc/", AE_IFDIR, NULL, 0 },
	{ "./etc/hostname", AE_IFREG, "imported\n", 0 },
	{ "./usr/", AE_IFDIR, NULL, 0 },
	{ "./usr/bin/", AE_IFDIR, NULL, 0 },
	{ "./usr/bin/hello", AE_IFREG, "#!/bin/sh\necho hello\n", 0 },
	{ "./bin", AE_IFLNK, "usr/bin", 0 },
};

static void check_rootfs_import(struct store *s, const char *id, const char *diff_id)
{
	struct store_image *img;
	struct store_rootfs *fs;
	uint32_t ino;

	CHECK(store_image_get(s, id, &img) == 0);
	CHECK(img->cfg.n_diff_ids == 1);
	CHECK(strcmp(img->cfg.diff_ids[0], diff_id) == 0);
	CHECK(img->n_layers == 1 && strcmp(img->m.layers[0].digest, diff_id) == 0);
	CHECK(img->cfg.os && strcmp(img->cfg.os, "linux") == 0);
	CHECK(img->cfg.architecture && img->cfg.architecture[0]);
	CHECK(strstr(buf_str(&img->config), "\"comment\":\"Imported from test\""));
	CHECK(strstr(buf_str(&img->config), "\"history\":[{\"created\":"));
	CHECK(strncmp(buf_str(&img->config), "{\"architecture\":", 16) == 0);
	CHECK(img->cfg.created > 1700000000);
	CHECK(store_image_rootfs(s, img, &fs) == 0);
	CHECK(store_rootfs_resolve(fs, "etc/hostname", &ino) == 0);
	CHECK(store_rootfs_resolve(fs, "usr/bin/hello", &ino) == 0);
	CHECK(store_rootfs_resolve(fs, "bin", &ino) == 0);
	store_image_put(s, img);
}

static void test_rootfs(struct store *s)
{
	static const int filters[] = { 0, 'g', 'b', 'x', 'z' };
	struct buf plain, data, res;
	char diff_id[72], id[65], want[80], tag[16], **ids;
	size_t n;
	bool found = false;

	build_tar(0, rootfs_ents, sizeof(rootfs_ents) / sizeof(rootfs_ents[0]), &plain);
	test_sha256(plain.data, plain.len, diff_id);
	for (size_t f = 0; f < sizeof(filters) / sizeof(filters[0]); f++) {
		build_tar(filters[f], rootfs_ents, sizeof(rootfs_ents) / sizeof(rootfs_ents[0]), &data);
		CHECK(filters[f] == 0 || memcmp(data.data, plain.data, 16) != 0);
		snprintf(tag, sizeof(tag), "14.04-%c", filters[f] ? filters[f] : 'p');
		snprintf(want, sizeof(want), "ubuntu:%s", tag);
		buf_init(&res, 4096);
		CHECK(run_import(s, want, &data, &res) == 0);
		CHECK(strncmp(buf_str(&res), "sha256:", 7) == 0 && res.len == 7 + 64 + 1);
		CHECK(store_tag_get(s, "docker.io", "library/ubuntu", tag, id) == 0);
		CHECK(strncmp(buf_str(&res) + 7, id, 64) == 0);
		check_rootfs_import(s, id, diff_id);
		buf_release(&res);
		buf_release(&data);
	}
	/* A repository with a path and no tag: latest. */
	CHECK(run_import(s, "ouruser/sinatra", &plain, NULL) == 0);
	CHECK(store_tag_get(s, "docker.io", "ouruser/sinatra", "latest", id) == 0);
	/* Untagged: dangling. */
	buf_init(&res, 4096);
	CHECK(run_import(s, NULL, &plain, &res) == 0);
	CHECK(store_image_dangling(s, &ids, &n) == 0);
	for (size_t i = 0; i < n; i++) {
		found |= strncmp(ids[i], buf_str(&res) + 7, 64) == 0;
		free(ids[i]);
	}
	free(ids);
	CHECK(found);
	/* Names outside the grammar or with a digest. */
	{
		struct store_import *im;

		CHECK(store_import_begin(s, "Bad/Name", "t", &im) == -EINVAL);
		CHECK(store_import_begin(s, "x@sha256:0123456789012345678901234567890123456789012345678901234567890123",
					 "t", &im) == -EINVAL);
	}
	buf_release(&res);
	buf_release(&plain);
	fprintf(stderr, "rootfs imports ok\n");
}

/*
 * How many times @hex was (re)placed in index/sha256/ (watch @wd) since
 * the last call: every index save is a file made in tmp/ and renamed into
 * index/sha256/ (store_write_atomic).  The kernel merges an event into an
 * identical one still unread, so tmp/ is watched too: its events sit
 * between two saves and keep them apart.
 */
static size_t index_saves(int ifd, int wd, const char *hex)
{
	char ev[sizeof(struct inotify_event) + NAME_MAX + 1]
		__attribute__((aligned(__alignof__(struct inotify_event))));
	size_t n = 0;
	ssize_t len;

	while ((len = read(ifd, ev, sizeof(ev))) > 0) {
		for (char *p = ev; p < ev + len;) {
			const struct inotify_event *e = (const void *)p;

			if (e->wd == wd && e->len && strcmp(e->name, hex) == 0 &&
			    (e->mask & (IN_MOVED_TO | IN_CLOSE_WRITE)))
				n++;
			p += sizeof(*e) + e->len;
		}
	}
	CHECK(len < 0 && errno == EAGAIN);
	return n;
}

/* A `docker import` indexes its layer once and keeps the index: the file
 * is there and loadable after the import, and neither the image's first
 * tree build nor a second import of the same layer writes it again. */
static void test_index_kept(struct store *s)
{
	static const struct tent ents[] = {
		{ "etc/", AE_IFDIR, NULL, 0 },
		{ "etc/kept", AE_IFREG, "indexed once\n", 0 },
	};
	struct store_toc *toc = NULL;
	struct store_image *img;
	struct store_rootfs *fs;
	struct stat st1, st2;
	struct buf tar, res, raw;
	char diff_id[72], path[512], id[65];
	const char *hex;
	size_t len;
	int ifd, wd;

	build_tar('g', ents, 2, &tar);
	{
		struct buf plain;

		build_tar(0, ents, 2, &plain);
		test_sha256(plain.data, plain.len, diff_id);
		buf_release(&plain);
	}
	hex = diff_id + 7;
	snprintf(path, sizeof(path), "%s/index/sha256/%s", dir, hex);
	CHECKF(stat(path, &st1) < 0 && errno == ENOENT, "%s exists before the import", path);
	ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	CHECK(ifd >= 0);
	snprintf(path, sizeof(path), "%s/tmp", dir);
	CHECK(inotify_add_watch(ifd, path, IN_CREATE | IN_MOVED_FROM) >= 0);
	snprintf(path, sizeof(path), "%s/index/sha256", dir);
	wd = inotify_add_watch(ifd, path, IN_MOVED_TO | IN_CLOSE_WRITE);
	CHECK(wd >= 0);
	snprintf(path, sizeof(path), "%s/index/sha256/%s", dir, hex);

	buf_init(&res, 4096);
	CHECK(run_import(s, "kept:1", &tar, &res) == 0);
	CHECKF(stat(path, &st1) == 0, "the layer's index was not kept: %s", path);
	len = index_saves(ifd, wd, hex);
	CHECKF(len == 1, "the import saved the layer's index %zu times", len);
	/* Loadable, and of this layer. */
	CHECK(file_read_capped(s->index_fd, hex, (size_t)1 << 30, &raw) == 0);
	{
		void *data = buf_detach(&raw, &len);

		CHECK(store_toc_decode(data, len, &toc) == 0);
	}
	CHECK(strcmp(toc->diff_id, diff_id) == 0);
	CHECK(toc->n_entries >= 2);
	store_toc_free(toc);

	/* The image's tree loads the kept index rather than building one. */
	CHECK(strncmp(buf_str(&res), "sha256:", 7) == 0);
	snprintf(id, sizeof(id), "%.64s", buf_str(&res) + 7);
	CHECK(store_image_get(s, id, &img) == 0);
	CHECK(store_image_rootfs(s, img, &fs) == 0);
	store_image_put(s, img);
	len = index_saves(ifd, wd, hex);
	CHECKF(len == 0, "the first tree build saved the index again (%zu)", len);
	/* So does another import of the same layer. */
	CHECK(run_import(s, "kept:2", &tar, NULL) == 0);
	len = index_saves(ifd, wd, hex);
	CHECKF(len == 0, "a second import saved the index again (%zu)", len);
	CHECK(stat(path, &st2) == 0);
	CHECKF(st1.st_ino == st2.st_ino && st1.st_mtim.tv_sec == st2.st_mtim.tv_sec &&
	       st1.st_mtim.tv_nsec == st2.st_mtim.tv_nsec, "the index file was replaced");
	close(ifd);
	buf_release(&res);
	buf_release(&tar);
	fprintf(stderr, "layer index kept ok\n");
}

/* ---- archives ---------------------------------------------------------- */

static const struct tent layer_a[] = {
	{ "etc/", AE_IFDIR, NULL, 0 },
	{ "etc/os-release", AE_IFREG, "ID=test\n", 0 },
};
static const struct tent layer_b[] = {
	{ "etc/motd", AE_IFREG, "layer b\n", 0 },
};

static char *config_json(const char *env, const char *const *diff_ids, size_t n)
{
	struct buf b;

	buf_init(&b, 1 << 20);
	CHECK(buf_printf(&b, "{\"architecture\":\"amd64\",\"config\":{\"Env\":[\"%s\"]},"
			 "\"created\":\"2024-01-01T00:00:00Z\",\"os\":\"linux\","
			 "\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[", env) == 0);
	for (size_t i = 0; i < n; i++)
		CHECK(buf_printf(&b, "%s\"%s\"", i ? "," : "", diff_ids[i]) == 0);
	CHECK(buf_addstr(&b, "]}}") == 0);
	return buf_detach(&b, NULL);
}

/*
 * The Docker <= 24 layout.  @bad: 0 good, 'm' manifest.json names a
 * missing file, 'd' a diff_id does not match.
 */
static void docker_archive(int bad, int filter, struct buf *out, char id1[72], char id2[72])
{
	struct buf la, lb, lbz;
	char da[72], db[72], wrong[72];
	char cfgname1[80], cfgname2[80], v1a[80], v1b[80], v1c[80], man[2048];
	char *cfg1, *cfg2;
	const char *ids1[1], *ids2[2];

	build_tar(0, layer_a, 2, &la);
	build_tar(0, layer_b, 1, &lb);
	build_tar('g', layer_b, 1, &lbz);	/* compressed layer file */
	test_sha256(la.data, la.len, da);
	test_sha256(lb.data, lb.len, db);
	test_sha256("nothing", 7, wrong);
	ids1[0] = bad == 'd' ? wrong : da;
	ids2[0] = da;
	ids2[1] = db;
	cfg1 = config_json("A=1", ids1, 1);
	cfg2 = config_json("A=2", ids2, 2);
	test_sha256(cfg1, strlen(cfg1), id1);
	test_sha256(cfg2, strlen(cfg2), id2);
	snprintf(cfgname1, sizeof(cfgname1), "%s.json", id1 + 7);
	snprintf(cfgname2, sizeof(cfgname2), "%s.json", id2 + 7);
	/* v1 ids: any 64 hex */
	snprintf(v1a, sizeof(v1a), "%064d/layer.tar", 1);
	snprintf(v1b, sizeof(v1b), "%064d/layer.tar", 2);
	snprintf(v1c, sizeof(v1c), "%064d/layer.tar", 3);
	snprintf(man, sizeof(man),
		 "[{\"Config\":\"%s\",\"RepoTags\":[\"busybox:legacy\",\"example.com:5000/ns/app:1\"],"
		 "\"Layers\":[\"%s\"]},"
		 "{\"Config\":\"%s\",\"RepoTags\":null,\"Layers\":[\"%s\",\"%s\"]}]",
		 cfgname1, bad == 'm' ? "0000/layer.tar" : v1a, cfgname2, v1b, v1c);
	{
		char v1aj[80], v1bj[80], v1cj[80];
		char d1[80], d2[80], d3[80];
		struct tent ents[] = {
			{ cfgname1, AE_IFREG, cfg1, 0 },
			{ cfgname2, AE_IFREG, cfg2, 0 },
			{ d1, AE_IFDIR, NULL, 0 },
			{ v1aj, AE_IFREG, "{}", 0 },
			{ v1a, AE_IFREG, la.data, la.len },
			{ d2, AE_IFDIR, NULL, 0 },
			{ v1bj, AE_IFREG, "{}", 0 },
			{ v1b, AE_IFLNK, NULL, 0 },	/* -> ../<v1a> */
			{ d3, AE_IFDIR, NULL, 0 },
			{ v1c, AE_IFREG, lbz.data, lbz.len },
			{ "manifest.json", AE_IFREG, man, 0 },
			{ "repositories", AE_IFREG, "{\"busybox\":{\"legacy\":\"x\"}}", 0 },
		};
		char target[200];

		snprintf(d1, sizeof(d1), "%064d/", 1);
		snprintf(d2, sizeof(d2), "%064d/", 2);
		snprintf(d3, sizeof(d3), "%064d/", 3);
		snprintf(v1aj, sizeof(v1aj), "%064d/json", 1);
		snprintf(v1bj, sizeof(v1bj), "%064d/json", 2);
		snprintf(v1cj, sizeof(v1cj), "%064d/json", 3);
		/* 'l': the same target spelled the long way round (".",
		 * "//" and a ".." in the middle); 'e': one that climbs out
		 * of the archive. */
		if (bad == 'l')
			snprintf(target, sizeof(target), ".//../%064d/./..//%s", 2, v1a);
		else if (bad == 'e')
			snprintf(target, sizeof(target), "../../%s", v1a);
		else
			snprintf(target, sizeof(target), "../%s", v1a);
		ents[7].data = target;
		build_tar(filter, ents, sizeof(ents) / sizeof(ents[0]), out);
	}
	free(cfg1);
	free(cfg2);
	buf_release(&la);
	buf_release(&lb);
	buf_release(&lbz);
}

static void test_docker_archive(struct store *s)
{
	struct buf ar, res;
	char id1[72], id2[72], id[65], **ids;
	struct store_image *img;
	size_t n;
	bool found = false;

	docker_archive(0, 'x', &ar, id1, id2);
	buf_init(&res, 4096);
	CHECK(run_import(s, "ignored:name", &ar, &res) == 0);
	fprintf(stderr, "%s", buf_str(&res));
	CHECK(strstr(buf_str(&res), "Loaded image: busybox:legacy\n"));
	CHECK(strstr(buf_str(&res), "Loaded image: example.com:5000/ns/app:1\n"));
	CHECK(strstr(buf_str(&res), "Loaded image ID: "));
	CHECK(strstr(buf_str(&res), id2));
	CHECK(store_tag_get(s, "docker.io", "library/busybox", "legacy", id) == 0);
	CHECK(strcmp(id, id1 + 7) == 0);
	CHECK(store_tag_get(s, "example.com:5000", "ns/app", "1", id) == 0);
	CHECK(strcmp(id, id1 + 7) == 0);
	CHECK(store_tag_get(s, "docker.io", "library/ignored", "name", id) == -ENOENT);
	CHECK(store_image_get(s, id2 + 7, &img) == 0);
	CHECK(img->n_layers == 2);
	CHECK(strstr(img->m.layers[1].media_type, "gzip"));
	store_image_put(s, img);
	CHECK(store_image_dangling(s, &ids, &n) == 0);
	for (size_t i = 0; i < n; i++) {
		found |= strcmp(ids[i], id2 + 7) == 0;
		free(ids[i]);
	}
	free(ids);
	CHECK(found);
	buf_release(&res);
	buf_release(&ar);

	/* The layer link resolved however it is spelled: the load needs it. */
	docker_archive('l', 0, &ar, id1, id2);
	CHECK(run_import(s, NULL, &ar, NULL) == 0);
	buf_release(&ar);
	fprintf(stderr, "docker-archive ok\n");
}

/* An OCI layout with a manifest.json beside it (Docker 25+).  @bad: 'b'
 * a blob whose content does not match its name. */
static void oci_archive(int bad, struct buf *out, char id[72], char mdigest[72])
{
	struct buf lz, lu;
	char dl[72], du[72], idx[2048], man[2048], mj[1024];
	char *cfg, *manifest;
	char nl[96], nc[96], nm[96], nlu[96];
	const char *ids[1];

	build_tar('g', layer_a, 2, &lz);
	build_tar(0, layer_a, 2, &lu);
	test_sha256(lz.data, lz.len, dl);
	test_sha256(lu.data, lu.len, du);
	ids[0] = du;
	cfg = config_json("OCI=1", ids, 1);
	test_sha256(cfg, strlen(cfg), id);
	snprintf(man, sizeof(man),
		 "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","
		 "\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\",\"digest\":\"%s\",\"size\":%zu},"
		 "\"layers\":[{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\",\"digest\":\"%s\",\"size\":%zu}]}",
		 id, strlen(cfg), dl, lz.len);
	manifest = man;
	test_sha256(manifest, strlen(manifest), mdigest);
	snprintf(idx, sizeof(idx),
		 "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.index.v1+json\",\"manifests\":["
		 "{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"%s\",\"size\":%zu,"
		 "\"annotations\":{\"io.containerd.image.name\":\"docker.io/library/alpine:oci\","
		 "\"org.opencontainers.image.ref.name\":\"oci\"}},"
		 "{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"%s\",\"size\":%zu,"
		 "\"annotations\":{\"org.opencontainers.image.ref.name\":\"quay.io/x/y:z\"}}]}",
		 mdigest, strlen(manifest), mdigest, strlen(manifest));
	snprintf(mj, sizeof(mj), "[{\"Config\":\"blobs/sha256/%s\",\"RepoTags\":[\"alpine:extra\"],"
		 "\"Layers\":[\"blobs/sha256/%s\"]}]", id + 7, dl + 7);
	snprintf(nl, sizeof(nl), "blobs/sha256/%s", dl + 7);
	snprintf(nc, sizeof(nc), "blobs/sha256/%s", id + 7);
	snprintf(nm, sizeof(nm), "blobs/sha256/%s", mdigest + 7);
	test_sha256("lie", 3, du);	/* a name that is not local yet */
	snprintf(nlu, sizeof(nlu), "blobs/sha256/%s", du + 7);
	{
		struct tent ents[] = {
			{ "blobs/", AE_IFDIR, NULL, 0 },
			{ "blobs/sha256/", AE_IFDIR, NULL, 0 },
			{ nl, AE_IFREG, lz.data, lz.len },
			{ nc, AE_IFREG, cfg, 0 },
			{ nm, AE_IFREG, manifest, 0 },
			{ "index.json", AE_IFREG, idx, 0 },
			{ "manifest.json", AE_IFREG, mj, 0 },
			{ "oci-layout", AE_IFREG, "{\"imageLayoutVersion\":\"1.0.0\"}", 0 },
		};

		if (bad == 'b') {	/* an unneeded blob that lies */
			ents[1].path = nlu;
			ents[1].type = AE_IFREG;
			ents[1].data = "not the layer";
		}
		build_tar(0, ents, sizeof(ents) / sizeof(ents[0]), out);
	}
	free(cfg);
	buf_release(&lz);
	buf_release(&lu);
}

static void test_oci_archive(struct store *s)
{
	struct buf ar, res;
	char id[72], md[72], got[65];
	struct store_image *img;

	oci_archive(0, &ar, id, md);
	buf_init(&res, 4096);
	CHECK(run_import(s, NULL, &ar, &res) == 0);
	fprintf(stderr, "%s", buf_str(&res));
	CHECK(strstr(buf_str(&res), "Loaded image: alpine:oci\n"));
	CHECK(strstr(buf_str(&res), "Loaded image: alpine:extra\n"));
	CHECK(strstr(buf_str(&res), "Loaded image: quay.io/x/y:z\n"));
	CHECK(store_tag_get(s, "docker.io", "library/alpine", "oci", got) == 0);
	CHECK(strcmp(got, id + 7) == 0);
	CHECK(store_tag_get(s, "docker.io", "library/alpine", "extra", got) == 0);
	CHECK(store_tag_get(s, "quay.io", "x/y", "z", got) == 0);
	CHECK(store_image_get(s, id + 7, &img) == 0);
	CHECK(strcmp(img->manifest_digest, md) == 0);
	store_image_put(s, img);
	buf_release(&res);
	buf_release(&ar);
	fprintf(stderr, "oci archive ok\n");
}

/* ---- failures ---------------------------------------------------------- */

static void expect_fail(struct store *s, const char *what, const struct buf *data)
{
	struct snap sn;
	struct buf res;

	snapshot(s, &sn);
	buf_init(&res, 4096);
	CHECK(run_import(s, "fail:me", data, &res) != 0);
	CHECK(res.len == 0);
	same(s, &sn);
	buf_release(&res);
	fprintf(stderr, "failure ok: %s\n", what);
}

static void test_failures(struct store *s)
{
	static const struct tent hostile[] = {
		{ "etc/", AE_IFDIR, NULL, 0 },
		{ "../x", AE_IFREG, "escape\n", 0 },
	};
	struct buf b, ar;
	char id1[72], id2[72], md[72];
	char t[65];

	build_tar('g', rootfs_ents, sizeof(rootfs_ents) / sizeof(rootfs_ents[0]), &b);
	b.len -= 10;
	expect_fail(s, "truncated gzip", &b);
	buf_release(&b);

	build_tar(0, hostile, 2, &b);
	expect_fail(s, "hostile ../x", &b);
	buf_release(&b);

	docker_archive('m', 0, &ar, id1, id2);
	expect_fail(s, "manifest.json names a missing file", &ar);
	buf_release(&ar);

	docker_archive('d', 'z', &ar, id1, id2);
	expect_fail(s, "diff_id mismatch", &ar);
	buf_release(&ar);

	docker_archive('e', 0, &ar, id1, id2);
	expect_fail(s, "a link that climbs out of the archive", &ar);
	buf_release(&ar);

	oci_archive('b', &ar, id1, md);
	expect_fail(s, "blob that does not match its name", &ar);
	buf_release(&ar);

	buf_init(&b, (size_t)16 << 20);
	for (int i = 0; i < (8 << 20) / 4; i++) {
		uint32_t r = (uint32_t)rand() | 0x80808080u;

		CHECK(buf_add(&b, &r, 4) == 0);
	}
	expect_fail(s, "not a tar (8 MiB of noise)", &b);
	buf_release(&b);

	/* Abort halfway through a rootfs import: nothing left behind. */
	{
		struct store_import *im;
		struct snap sn;

		build_tar('g', rootfs_ents, sizeof(rootfs_ents) / sizeof(rootfs_ents[0]), &b);
		snapshot(s, &sn);
		CHECK(store_import_begin(s, "aborted:x", "test", &im) == 0);
		CHECK(store_import_write(im, b.data, b.len / 2) == 0);
		store_import_abort(im);
		same(s, &sn);
		CHECK(store_tag_get(s, "docker.io", "library/aborted", "x", t) == -ENOENT);
		buf_release(&b);
		fprintf(stderr, "failure ok: abort\n");
	}
	/* A tag that existed keeps its image after a failed load. */
	CHECK(store_tag_get(s, "docker.io", "library/busybox", "legacy", t) == 0);
	CHECK(strlen(t) == 64);
}

/* Cut and corrupted archives: never a crash, never a stray file, and an
 * archive already loaded changes nothing whatever happens to it. */
static void test_mangled(struct store *s)
{
	struct buf ar, cut;
	char id1[72], id2[72];
	struct snap sn;
	size_t fails = 0;

	docker_archive(0, 0, &ar, id1, id2);
	snapshot(s, &sn);
	for (int i = 0; i < 40; i++) {
		buf_init(&cut, ar.len + 1);
		CHECK(buf_add(&cut, ar.data, ar.len) == 0);
		if (i < 20) {
			cut.len = (size_t)rand() % ar.len;
		} else {
			for (int j = 0; j < 8; j++)
				cut.data[(size_t)rand() % cut.len] ^= (char)(1 + rand() % 255);
		}
		fails += run_import(s, NULL, &cut, NULL) != 0;
		CHECK(count_files("tmp") == 0);
		if (i < 20)
			same(s, &sn);
		buf_release(&cut);
	}
	buf_release(&ar);
	fprintf(stderr, "mangled archives ok (%zu of 40 refused)\n", fails);
}

struct par {
	struct store *s;
	int n;
	int ret;
};

static void *par_import(void *arg)
{
	struct par *p = arg;
	struct tent ents[2] = {
		{ "etc/", AE_IFDIR, NULL, 0 },
		{ "etc/n", AE_IFREG, NULL, 0 },
	};
	char body[32], name[32];
	struct buf t;

	snprintf(body, sizeof(body), "thread %d\n", p->n);
	snprintf(name, sizeof(name), "par:t%d", p->n);
	ents[1].data = body;
	build_tar(p->n % 2 ? 'g' : 'z', ents, 2, &t);
	p->ret = run_import(p->s, name, &t, NULL);
	buf_release(&t);
	return NULL;
}

/* Imports run side by side, each with its own thread and socket. */
static void test_parallel(struct store *s)
{
	pthread_t th[6];
	struct par p[6];
	char id[65];

	for (int i = 0; i < 6; i++) {
		p[i] = (struct par){ .s = s, .n = i };
		CHECK(pthread_create(&th[i], NULL, par_import, &p[i]) == 0);
	}
	for (int i = 0; i < 6; i++) {
		char tag[8];

		pthread_join(th[i], NULL);
		CHECK(p[i].ret == 0);
		snprintf(tag, sizeof(tag), "t%d", i);
		CHECK(store_tag_get(s, "docker.io", "library/par", tag, id) == 0);
	}
	fprintf(stderr, "parallel imports ok\n");
}

int main(void)
{
	struct store_opts o = { 0 };
	struct store *s;
	char cmd[300];

	log_setup(LOG_LVL_WARN, 0);
	srand(12345);
	snprintf(dir, sizeof(dir), "/tmp/test_import.XXXXXX");
	CHECK(mkdtemp(dir));
	o.dir = dir;
	o.default_host = "docker.io";
	registry_platform_host(&o.platform);
	CHECK(store_open(&o, &s) == 0);

	test_rootfs(s);
	test_index_kept(s);
	test_docker_archive(s);
	test_oci_archive(s);
	test_failures(s);
	test_mangled(s);
	test_parallel(s);

	store_close(s);
	/* Everything persisted: reopen and find the tags again. */
	CHECK(store_open(&o, &s) == 0);
	{
		char id[65];

		CHECK(store_tag_get(s, "docker.io", "library/ubuntu", "14.04-g", id) == 0);
		CHECK(store_tag_get(s, "docker.io", "library/alpine", "oci", id) == 0);
	}
	store_close(s);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	CHECK(system(cmd) == 0);
	return check_done("test_import");
}
