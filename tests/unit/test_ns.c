/* SPDX-License-Identifier: MIT */
/*
 * test_ns.c - the pure rules of namespace names (fs/ns_path.h): link
 * target normalising, which targets name an image, and how a repos/ path
 * splits into registry host and repository; and the by-id/ names of
 * images whose IDs share 12 or more hex digits (fs.h): the shortest
 * unique prefix, and no pick for an ambiguous one (in a real store, with
 * a second record fabricated beside a real image's, since two configs
 * whose digests share 12 digits cannot be made); who may pull; which
 * names a change lists for the kernel to drop; the manifest variants of
 * an image with two sources (by-id/<name>@<hex>) and the tag links to
 * them.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "file.h"
#include "fs.h"
#include "ns_path.h"
#include "registry.h"

#define MNT "/mnt/images"
#define HEX64 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define HEX12 "0123456789ab"

/* fs_path_normalise on a copy of @in: its result, or NULL on error (the
 * error in *@err).  The copy sits in a buffer exactly its size, with a
 * guard byte after it, so an overrun shows (and ASan catches it). */
static const char *norm(const char *in, int *err)
{
	static char out[FS_TARGET_MAX];
	size_t n = strlen(in) + 1;
	char *p = malloc(n + 1);

	if (!p)
		abort();
	memcpy(p, in, n);
	p[n] = 'G';
	*err = fs_path_normalise(p);
	CHECKF(p[n] == 'G', "normalise(\"%s\") wrote past the end", in);
	CHECKF(strlen(p) <= strlen(in), "normalise(\"%s\") grew", in);
	snprintf(out, sizeof(out), "%s", p);
	free(p);
	return *err ? NULL : out;
}

static void test_normalise(void)
{
	int err;

	CHECK_STR(norm("a/b/c", &err), "a/b/c");
	CHECK_STR(norm("", &err), "");
	CHECK_STR(norm("a", &err), "a");
	CHECK_STR(norm("./a/./b", &err), "a/b");
	CHECK_STR(norm("././a", &err), "a");
	CHECK_STR(norm("a//b///c", &err), "a/b/c");
	CHECK_STR(norm("//a", &err), "a");
	CHECK_STR(norm("a/b/", &err), "a/b");
	CHECK_STR(norm("a/b//", &err), "a/b");
	CHECK_STR(norm("a/b/../c", &err), "a/c");
	CHECK_STR(norm("a/b/../../c", &err), "c");
	CHECK_STR(norm("a/..", &err), "");
	CHECK_STR(norm("a/b/..", &err), "a");
	CHECK_STR(norm("repos/x/y/../../../by-id/" HEX12, &err), "by-id/" HEX12);
	CHECK_STR(norm("aa/bbb/../cccc/./d/", &err), "aa/cccc/d");
	CHECK_STR(norm("..a/b..", &err), "..a/b..");
	CHECK_STR(norm(".a/...", &err), ".a/...");
	CHECK_EQ(err, 0);

	CHECK(norm("..", &err) == NULL);
	CHECK_EQ(err, -EINVAL);
	CHECK(norm("../a", &err) == NULL);
	CHECK_EQ(err, -EINVAL);
	CHECK(norm("a/../..", &err) == NULL);
	CHECK_EQ(err, -EINVAL);
	CHECK(norm("./../a", &err) == NULL);
	CHECK_EQ(err, -EINVAL);
	CHECK(norm("a/b/../../../c", &err) == NULL);
	CHECK_EQ(err, -EINVAL);
}

static void test_target_id(void)
{
	CHECK(fs_target_is_id(HEX12));
	CHECK(fs_target_is_id(HEX64));
	CHECK(fs_target_is_id("0a"));
	CHECK(!fs_target_is_id(HEX64 "0"));
	CHECK(!fs_target_is_id(""));
	CHECK(!fs_target_is_id("0123456789AB"));
	CHECK(!fs_target_is_id("latest"));
	CHECK(!fs_target_is_id("by-id/" HEX12));
	CHECK(!fs_target_is_id("sha256:" HEX64));

	CHECK_STR(fs_target_byid_tail("by-id/" HEX12), HEX12);
	CHECK_STR(fs_target_byid_tail("../../../by-id/" HEX12), HEX12);
	CHECK_STR(fs_target_byid_tail("/elsewhere/by-id/" HEX64), HEX64);
	CHECK_STR(fs_target_byid_tail("by-id/x/by-id/" HEX12), HEX12);
	CHECK(fs_target_byid_tail("../xby-id/" HEX12) == NULL);
	CHECK(fs_target_byid_tail("../by-id/" HEX12 "/rootfs") == NULL);
	CHECK(fs_target_byid_tail("../by-id/") == NULL);
	CHECK(fs_target_byid_tail("../by-id/" HEX64 "0") == NULL);
	CHECK(fs_target_byid_tail("../repos/ubuntu/latest") == NULL);
}

/* fs_target_parse of a link made in repos/@dir: 0 and *@t filled, or the
 * error (and @t cleared). */
static int parse(const char *mnt, const char *dir, const char *target,
		 struct fs_target *t)
{
	int ret = fs_target_parse(mnt, dir, target, t);

	if (ret)
		CHECK(t->path == NULL);
	return ret;
}

static void check_byid(const char *mnt, const char *dir, const char *target,
		       const char *id)
{
	struct fs_target t;
	int ret = parse(mnt, dir, target, &t);

	CHECKF(ret == 0, "parse(%s) = %d", target, ret);
	if (ret)
		return;
	CHECKF(t.kind == FS_TARGET_BYID, "parse(%s): kind %d", target, t.kind);
	CHECK_STR(t.id, id);
	fs_target_release(&t);
	CHECK(t.path == NULL);
}

static void check_kind(const char *mnt, const char *dir, const char *target,
		       enum fs_target_kind kind, const char *tdir, const char *tag)
{
	struct fs_target t;
	int ret = parse(mnt, dir, target, &t);

	CHECKF(ret == 0, "parse(%s) = %d", target, ret);
	if (ret)
		return;
	CHECKF(t.kind == kind, "parse(%s): kind %d", target, t.kind);
	CHECK_STR(t.dir, tdir);
	CHECK_STR(t.tag, tag);
	fs_target_release(&t);
}

static void check_tag(const char *mnt, const char *dir, const char *target,
		      const char *tdir, const char *tag)
{
	check_kind(mnt, dir, target, FS_TARGET_TAG, tdir, tag);
}

static void check_err(const char *mnt, const char *dir, const char *target,
		      int err)
{
	struct fs_target t;
	int ret = parse(mnt, dir, target, &t);

	CHECKF(ret == err, "parse(%.60s) = %d, expected %d", target, ret, err);
	if (!ret)
		fs_target_release(&t);
}

static void test_target_parse(void)
{
	char *huge;

	/* Relative, from the new link's directory: the tag links imgfs
	 * shows have one "../" per component plus one for repos/. */
	check_byid(MNT, "ubuntu", "../../by-id/" HEX12, HEX12);
	check_byid(MNT, "a/b", "../../../by-id/" HEX64, HEX64);
	check_byid(MNT, "ubuntu", "../../by-id/0a1b", "0a1b");
	check_byid(MNT, "ubuntu", "./../..//by-id/" HEX12 "/", HEX12);
	check_tag(MNT, "ubuntu", "latest", "ubuntu", "latest");
	check_tag(MNT, "ubuntu", "./latest", "ubuntu", "latest");
	check_tag(MNT, "ubuntu", "../busybox/1.36", "busybox", "1.36");
	check_tag(MNT, "a/b", "../../127.0.0.1:5000/x/y/v1", "127.0.0.1:5000/x/y", "v1");
	check_tag(MNT, "ubuntu", HEX12, "ubuntu", HEX12);	/* a tag that looks like an ID */

	/* Absolute inside the mount. */
	check_byid(MNT, "ubuntu", MNT "/by-id/" HEX12, HEX12);
	check_byid(MNT "/", "ubuntu", MNT "/by-id/" HEX12, HEX12);
	check_byid(MNT, "ubuntu", MNT "//by-id//" HEX64, HEX64);
	check_tag(MNT, "x", MNT "/repos/library/ubuntu/22.04", "library/ubuntu", "22.04");
	check_byid("/", "ubuntu", "/by-id/" HEX12, HEX12);

	/* A tag of a registry, under registries/. */
	check_kind(MNT, "x", MNT "/registries/127.0.0.1:5000/a/b/t1", FS_TARGET_REMOTE,
		   "127.0.0.1:5000/a/b", "t1");
	check_kind(MNT, "x/y", "../../../registries/h.example.com/r/latest",
		   FS_TARGET_REMOTE, "h.example.com/r", "latest");
	check_err(MNT, "ubuntu", MNT "/registries", -EINVAL);
	check_err(MNT, "ubuntu", MNT "/registries/", -EINVAL);

	/* Absolute outside the mount, including its look-alikes. */
	check_err(MNT, "ubuntu", "/tmp/by-id/" HEX12, -EXDEV);
	check_err(MNT, "ubuntu", MNT "x/by-id/" HEX12, -EXDEV);
	check_err(MNT, "ubuntu", "/mnt/image/by-id/" HEX12, -EXDEV);

	/* Inside, but not an image. */
	check_err(MNT, "ubuntu", MNT, -EINVAL);
	check_err(MNT, "ubuntu", MNT "/", -EINVAL);
	check_err(MNT, "ubuntu", MNT "/images", -EINVAL);
	check_err(MNT, "ubuntu", MNT "/by-id", -EINVAL);
	check_err(MNT, "ubuntu", MNT "/by-id/", -EINVAL);
	check_err(MNT, "ubuntu", MNT "/by-id/" HEX64 "0", -EINVAL);
	check_err(MNT, "ubuntu", MNT "/by-id/" HEX12 "/rootfs", -EINVAL);
	check_err(MNT, "ubuntu", MNT "/by-id/XYZ", -EINVAL);
	check_err(MNT, "ubuntu", MNT "/repos", -EINVAL);
	check_err(MNT, "ubuntu", MNT "/repos/ubuntu", -EINVAL);
	check_err(MNT, "ubuntu", "../..", -EINVAL);
	check_err(MNT, "ubuntu", "..", -EINVAL);	/* repos/ itself */
	/* Climbing out of the mount from a relative target. */
	check_err(MNT, "ubuntu", "../../../etc/passwd", -EINVAL);
	check_err(MNT, "ubuntu", MNT "/../by-id/" HEX12, -EINVAL);

	/* Too long: the target itself, and the path made from it. */
	huge = malloc(FS_TARGET_MAX + 1);
	if (!huge)
		abort();
	memset(huge, 'a', FS_TARGET_MAX);
	huge[FS_TARGET_MAX] = '\0';
	check_err(MNT, "ubuntu", huge, -ENAMETOOLONG);
	huge[FS_TARGET_MAX - 5] = '\0';
	check_err(MNT, "ubuntu", huge, -ENAMETOOLONG);
	huge[FS_TARGET_MAX - 40] = '\0';
	check_tag(MNT, "x", huge, "x", huge);
	free(huge);
}

/* fs_repos_split: "host|repo" ("host|" when there is no repository), or
 * the error as "E<n>". */
static const char *split(const char *path, const char *def)
{
	static char out[1024];
	char *host = (char *)"x", *repo = (char *)"x";
	int ret = fs_repos_split(path, def, &host, &repo);

	if (ret) {
		CHECK(host == NULL && repo == NULL);
		snprintf(out, sizeof(out), "E%d", -ret);
		return out;
	}
	snprintf(out, sizeof(out), "%s|%s", host, repo ? repo : "");
	free(host);
	free(repo);
	return out;
}

static void test_repos(void)
{
	char long_repo[400], e_inval[8];

	snprintf(e_inval, sizeof(e_inval), "E%d", EINVAL);
	CHECK_STR(split("", "docker.io"), "docker.io|");
	CHECK_STR(split("ubuntu", "docker.io"), "docker.io|library/ubuntu");
	CHECK_STR(split("ubuntu", "reg.example"), "reg.example|ubuntu");
	CHECK_STR(split("ouruser/sinatra", "docker.io"), "docker.io|ouruser/sinatra");
	CHECK_STR(split("a/b/c", "docker.io"), "docker.io|a/b/c");
	/* Hosts: '.', ':' or "localhost", with more components. */
	CHECK_STR(split("127.0.0.1:5000/x", "docker.io"), "127.0.0.1:5000|x");
	CHECK_STR(split("127.0.0.1:5000/x/y", "docker.io"), "127.0.0.1:5000|x/y");
	CHECK_STR(split("reg.example.com/team/app", "docker.io"), "reg.example.com|team/app");
	CHECK_STR(split("localhost/app", "docker.io"), "localhost|app");
	CHECK_STR(split("localhost:5000/app", "docker.io"), "localhost:5000|app");
	CHECK_STR(split("docker.io/ubuntu", "reg.example"), "docker.io|library/ubuntu");
	CHECK_STR(split("[::1]:5000/app", "docker.io"), "[::1]:5000|app");
	/* One component: a repository when it can be one, else a host. */
	CHECK_STR(split("ubuntu16.04", "docker.io"), "docker.io|library/ubuntu16.04");
	CHECK_STR(split("ubuntu16.04/my", "docker.io"), "ubuntu16.04|my");
	CHECK_STR(split("localhost", "docker.io"), "docker.io|library/localhost");
	CHECK_STR(split("127.0.0.1:5000", "docker.io"), "127.0.0.1:5000|");
	CHECK_STR(split("localhost:5000", "docker.io"), "localhost:5000|");
	/* Not hosts: no '.', ':', not exactly "localhost". */
	CHECK_STR(split("localhostx/app", "docker.io"), "docker.io|localhostx/app");
	CHECK_STR(split("my_host/app", "docker.io"), "docker.io|my_host/app");
	/* Outside the grammar. */
	CHECK_STR(split("Ubuntu", "docker.io"), e_inval);
	CHECK_STR(split("a//b", "docker.io"), e_inval);
	CHECK_STR(split("host:port:5/x", "docker.io"), e_inval);
	CHECK_STR(split("-bad.host/x", "docker.io"), e_inval);
	CHECK_STR(split("127.0.0.1:5000/X", "docker.io"), e_inval);
	memset(long_repo, 'a', sizeof(long_repo) - 1);
	long_repo[sizeof(long_repo) - 1] = '\0';
	CHECK_STR(split(long_repo, "reg.example"), e_inval);
	long_repo[255] = '\0';
	CHECK(strncmp(split(long_repo, "reg.example"), "reg.example|a", 13) == 0);

	/* First components under repos/ that mkdir and lookup take. */
	CHECK(fs_repos_top_valid("ubuntu"));
	CHECK(fs_repos_top_valid("ubuntu16.04"));
	CHECK(fs_repos_top_valid("127.0.0.1:5000"));
	CHECK(fs_repos_top_valid("localhost:5000"));
	CHECK(fs_repos_top_valid("localhost"));
	CHECK(fs_repos_top_valid("reg.example.com"));
	CHECK(!fs_repos_top_valid("Ubuntu"));
	CHECK(!fs_repos_top_valid(".."));
	CHECK(!fs_repos_top_valid(""));
	CHECK(!fs_repos_top_valid("a:b:c"));
	CHECK(!fs_repos_top_valid("-x.com"));
}

/* Of @id among @ids: the length fs_id_unique_len() gives is a prefix no
 * other ID has, and one digit less (above 12) is one some other ID has. */
static void check_unique_len(const char *id, char *const *ids, size_t n,
			     size_t want)
{
	size_t len = fs_id_unique_len(id, ids, n);
	bool shared_shorter = false;

	CHECKF(len == want, "unique len of %.16s...: %zu, want %zu", id, len, want);
	for (size_t i = 0; i < n; i++) {
		if (!strcmp(ids[i], id))
			continue;
		CHECKF(strncmp(ids[i], id, len) != 0, "prefix %zu of %.16s is shared",
		       len, id);
		shared_shorter |= strncmp(ids[i], id, len - 1) == 0;
	}
	CHECK(len == REGISTRY_ID_SHORT_LEN || shared_shorter);
}

static void test_unique_len(void)
{
	/* a and b share 12 digits, a and c 20; d shares nothing. */
	char a[] = "0123456789ab" "0000000000000000000000000000000000000000000000000000";
	char b[] = "0123456789ab" "1000000000000000000000000000000000000000000000000000";
	char c[] = "0123456789ab" "0000000011111111111111111111111111111111111111111111";
	char d[] = "ffffffffffff" "0000000000000000000000000000000000000000000000000000";
	char *all[] = { a, b, c, d };
	char *ab[] = { a, b, d };

	check_unique_len(d, all, 4, 12);
	check_unique_len(a, ab, 3, 13);
	check_unique_len(b, ab, 3, 13);
	check_unique_len(a, all, 4, 21);
	check_unique_len(c, all, 4, 21);
	check_unique_len(b, all, 4, 13);
	check_unique_len(a, all, 1, 12);	/* only itself */
}

/* A caller's supplementary groups, for fs_caller_may_pull(): @arg is a
 * 0-terminated list; its length is returned however little @size is. */
static int fake_groups(void *arg, gid_t *list, int size)
{
	const gid_t *g = arg;
	int n = 0;

	for (; g[n]; n++)
		if (n < size)
			list[n] = g[n];
	return n;
}

static bool may_pull(struct fs_ctx *ctx, uid_t uid, gid_t gid, gid_t *groups)
{
	struct fs_caller who = { .uid = uid, .gid = gid, .may_pull = -1 };

	if (groups) {
		who.groups = fake_groups;
		who.groups_arg = groups;
	}
	return fs_caller_may_pull(ctx, &who);
}

/* Who may pull: the daemon's user; with pull_group its members by
 * primary or supplementary group (however many groups they have). */
static void test_may_pull(void)
{
	struct fs_ctx user = { .uid = 1000, .gid = 1000 };
	struct fs_ctx root = { .uid = 0, .gid = 0 };
	gid_t in[] = { 7, 8, 50, 0 }, out[] = { 7, 8, 0 };
	gid_t many[200];

	CHECK(may_pull(&user, 1000, 1000, NULL));
	CHECK(!may_pull(&user, 0, 0, NULL));
	CHECK(!may_pull(&user, 1001, 1000, in));
	CHECK(may_pull(&root, 0, 0, NULL));
	CHECK(!may_pull(&root, 65534, 65534, NULL));
	CHECK(!may_pull(&root, 65534, 50, in));	/* no pull_group given */
	root.pull_group_set = true;
	root.pull_gid = 50;
	CHECK(may_pull(&root, 65534, 50, NULL));	/* primary group */
	CHECK(may_pull(&root, 65534, 65534, in));	/* supplementary */
	CHECK(!may_pull(&root, 65534, 65534, out));
	CHECK(!may_pull(&root, 65534, 65534, NULL));
	for (size_t i = 0; i < 199; i++)
		many[i] = (gid_t)(1000 + i);
	many[199] = 0;
	CHECK(!may_pull(&root, 65534, 65534, many));
	many[150] = 50;	/* past the first guess of the list's size */
	CHECK(may_pull(&root, 65534, 65534, many));
	CHECK(may_pull(&root, 0, 0, NULL));
}

/* Whether @c lists @name in the directory of key @parent. */
static bool has_change(const struct fs_changes *c, const char *parent,
		       const char *name)
{
	for (size_t i = 0; i < c->n; i++)
		if (!strcmp(c->v[i].parent, parent) && !strcmp(c->v[i].name, name))
			return true;
	return false;
}

/* The names a tag change touches: every component of its repos/ path. */
static void test_changes_tag(void)
{
	struct fs_ctx ctx = { .default_host = "docker.io" };
	struct fs_changes c = { 0 };

	CHECK_EQ(fs_changes_tag(&ctx, &c, "docker.io", "library/ubuntu", "14.04"), 0);
	CHECK_EQ(c.n, 2);
	CHECK(has_change(&c, "p:", "ubuntu"));
	CHECK(has_change(&c, "p:ubuntu", "14.04"));
	CHECK_EQ(fs_changes_tag(&ctx, &c, "127.0.0.1:5000", "a/b", "t"), 0);
	CHECK_EQ(c.n, 6);
	CHECK(has_change(&c, "p:", "127.0.0.1:5000"));
	CHECK(has_change(&c, "p:127.0.0.1:5000", "a"));
	CHECK(has_change(&c, "p:127.0.0.1:5000/a", "b"));
	CHECK(has_change(&c, "p:127.0.0.1:5000/a/b", "t"));
	/* Recorded once however often. */
	CHECK_EQ(fs_changes_tag(&ctx, &c, "docker.io", "library/ubuntu", "14.04"), 0);
	CHECK_EQ(c.n, 6);
	fs_changes_release(&c);
	CHECK_EQ(c.n, 0);
}

/*
 * A store with one real image (config local, its one layer remote, never
 * fetched) and a record fabricated for an ID sharing its first 13 digits:
 * 12 or 13 digits name neither, 14 name the real one, and by-id/ calls it
 * by 14 digits.
 */
static void test_id_resolve(void)
{
	char dir[] = "/tmp/test_ns.XXXXXX";
	struct store_opts o = { 0 };
	struct fs_ctx ctx = { 0 };
	char cfg[512], man[1024], cfg_digest[72], id[65], got[65], name[65];
	char twin[65], rec[512], twin_rec[512], cmd[600];
	const char *layer = "sha256:" "5555555555555555555555555555555555555555555555555555555555555555";
	struct buf b;
	int fd;

	CHECK(mkdtemp(dir));
	o.dir = dir;
	o.default_host = "docker.io";
	registry_platform_host(&o.platform);
	CHECK_EQ(store_open(&o, &ctx.store), 0);
	if (!ctx.store)
		abort();
	snprintf(cfg, sizeof(cfg), "{\"architecture\":\"amd64\",\"os\":\"linux\","
		 "\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"%s\"]}}", layer);
	CHECK_EQ(store_blob_add(ctx.store, cfg, strlen(cfg), cfg_digest), 0);
	snprintf(man, sizeof(man),
		 "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","
		 "\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\","
		 "\"digest\":\"%s\",\"size\":%zu},\"layers\":[{\"mediaType\":"
		 "\"application/vnd.oci.image.layer.v1.tar+gzip\",\"digest\":\"%s\",\"size\":100}]}",
		 cfg_digest, strlen(cfg), layer);
	CHECK_EQ(store_image_add(ctx.store, man, strlen(man), "127.0.0.1:1", "x/y", id), 0);
	CHECK_STR(id, cfg_digest + 7);

	/* Alone, it is by-id/<12 digits>, found by 12, 13 or 64. */
	CHECK_EQ(fs_id_name(&ctx, id, name), 0);
	CHECK_EQ(strlen(name), 12);
	CHECK(strncmp(name, id, 12) == 0);
	memset(got, 0, sizeof(got));
	CHECK_EQ(fs_id_resolve(&ctx, name, got), 0);
	CHECK_STR(got, id);
	CHECK_EQ(fs_id_resolve(&ctx, id, got), 0);
	CHECK_EQ(fs_id_resolve(&ctx, "0123456789a", got), -ENOENT);	/* < 12 */

	/* The twin: the same 13 digits, then different ones. */
	memcpy(twin, id, sizeof(twin));
	for (size_t i = 13; i < 64; i++)
		twin[i] = id[i] == '0' ? '1' : '0';
	snprintf(rec, sizeof(rec), "%s/images/%s.json", dir, id);
	snprintf(twin_rec, sizeof(twin_rec), "%s/images/%s.json", dir, twin);
	buf_init(&b, 1 << 20);
	CHECK_EQ(file_read_capped(AT_FDCWD, rec, 1 << 20, &b), 0);
	fd = open(twin_rec, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	CHECK(fd >= 0);
	CHECK_EQ(file_write_all(fd, b.data, b.len), 0);
	close(fd);
	buf_release(&b);

	CHECK_EQ(fs_id_name(&ctx, id, name), 0);
	CHECK_EQ(strlen(name), 14);
	CHECK(strncmp(name, id, 14) == 0);
	CHECK_EQ(fs_id_name(&ctx, twin, name), 0);
	CHECK_EQ(strlen(name), 14);
	snprintf(name, sizeof(name), "%.12s", id);
	CHECK_EQ(fs_id_resolve(&ctx, name, got), -ENOENT);	/* ambiguous */
	snprintf(name, sizeof(name), "%.13s", id);
	CHECK_EQ(fs_id_resolve(&ctx, name, got), -ENOENT);	/* ambiguous */
	snprintf(name, sizeof(name), "%.14s", id);
	memset(got, 0, sizeof(got));
	CHECK_EQ(fs_id_resolve(&ctx, name, got), 0);
	CHECK_STR(got, id);
	CHECK_EQ(fs_id_resolve(&ctx, id, got), 0);

	/* The names a change of the image touches: by-id/ and dangling/
	 * by 14 digits and by the 12 that stopped naming it, the full ID,
	 * its tags' paths; and an import's result names the same. */
	{
		struct fs_changes c = { 0 };
		char res[256];

		ctx.default_host = "docker.io";
		CHECK_EQ(store_tag_set(ctx.store, "docker.io", "library/x", "1", id), 0);
		CHECK_EQ(fs_changes_image(&ctx, &c, id, false), 0);
		CHECK_EQ(c.n, 5);
		CHECK(!has_change(&c, "p:x", "1"));
		fs_changes_release(&c);
		CHECK_EQ(fs_changes_image(&ctx, &c, id, true), 0);
		snprintf(name, sizeof(name), "%.14s", id);
		CHECK(has_change(&c, "B", name));
		CHECK(has_change(&c, "D", name));
		CHECK(has_change(&c, "B", id));
		snprintf(name, sizeof(name), "%.12s", id);
		CHECK(has_change(&c, "B", name));
		CHECK(has_change(&c, "p:", "x"));
		CHECK(has_change(&c, "p:x", "1"));
		CHECK_EQ(c.n, 7);
		fs_changes_release(&c);
		snprintf(res, sizeof(res), "Loaded image: x:1\n");
		CHECK_EQ(fs_changes_import(&ctx, &c, res), 0);
		CHECK(has_change(&c, "B", id));
		CHECK(has_change(&c, "p:x", "1"));
		fs_changes_release(&c);
		snprintf(res, sizeof(res), "sha256:%s\n", id);
		CHECK_EQ(fs_changes_import(&ctx, &c, res), 0);
		CHECK(has_change(&c, "B", id));
		CHECK(has_change(&c, "p:x", "1"));
		fs_changes_release(&c);
	}

	store_close(ctx.store);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	CHECK(system(cmd) == 0);
}

/* A manifest of config @cfg_digest (@cfg_len bytes) with one layer. */
static void variant_manifest(char *out, size_t cap, const char *cfg_digest,
			     size_t cfg_len, const char *layer, int size)
{
	snprintf(out, cap,
		 "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","
		 "\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\","
		 "\"digest\":\"%s\",\"size\":%zu},\"layers\":[{\"mediaType\":"
		 "\"application/vnd.oci.image.layer.v1.tar+gzip\",\"digest\":\"%s\",\"size\":%d}]}",
		 cfg_digest, cfg_len, layer, size);
}

/* Lookup of @name in @parent into @out (released by the caller). */
static int ns_lookup(struct fs_ctx *ctx, struct fs_inode *parent, const char *name,
		     struct fs_inode *out, double *timeout)
{
	struct fs_caller who = { .may_pull = 0 };
	int ret = fs_ns_lookup(ctx, &who, parent, name, out, timeout);

	fs_changes_release(&who.changed);
	return ret;
}

/* Whether listing @node gives exactly the names in @want (NULL-ended). */
static bool lists(struct fs_ctx *ctx, struct fs_inode *node, const char *const *want)
{
	struct fs_dirlist l = { 0 };
	size_t n = 0;
	bool ok = fs_ns_list(ctx, node, &l) == 0;

	for (; want[n]; n++) {
		bool found = false;

		for (size_t i = 0; i < l.n; i++)
			found = found || !strcmp(l.ents[i].name, want[n]);
		ok = ok && found;
	}
	ok = ok && l.n == n;
	fs_dirlist_release(&l);
	return ok;
}

/*
 * One image (config local, layers remote) with two manifests from two
 * registries, and tags.json as pulls of each leave it, plus a tag made
 * locally: the first manifest's tag and the local one link to
 * by-id/<name>, the other's to by-id/<name>@<its hex>, whose manifest
 * and layers/ are its own and whose config is the image's; by-id/
 * does not list it; a digest no source has, or a malformed one, is
 * ENOENT; after the image is deleted, so is the variant.
 */
static void test_variant(void)
{
	char dir[] = "/tmp/test_ns.XXXXXX";
	const char *l1 = "sha256:" "5555555555555555555555555555555555555555555555555555555555555555";
	const char *l2 = "sha256:" "6666666666666666666666666666666666666666666666666666666666666666";
	struct store_opts o = { 0 };
	struct fs_ctx ctx = { 0 };
	struct fs_caller who = { .may_pull = 0 };
	struct fs_inode byid = { .kind = FS_BYID, .key = "B" };
	struct fs_inode t1 = { 0 }, t2 = { 0 }, t3 = { 0 }, v = { 0 }, base = { 0 };
	struct fs_inode vman = { 0 }, bman = { 0 }, vcfg = { 0 }, vlay = { 0 };
	struct fs_inode vl = { 0 }, x = { 0 };
	char cfg[512], man1[1024], man2[1024], cfg_digest[72], md1[72], md2[72];
	char id[65], id2[65], name[65], vname[160], want[200], path[300], js[2048];
	char *target = NULL, cmd[600];
	double to;
	struct stat st;
	struct buf b;
	int fd;

	CHECK(mkdtemp(dir));
	o.dir = dir;
	o.default_host = "docker.io";
	registry_platform_host(&o.platform);
	CHECK_EQ(store_open(&o, &ctx.store), 0);
	if (!ctx.store)
		abort();
	ctx.default_host = "docker.io";
	snprintf(cfg, sizeof(cfg), "{\"architecture\":\"amd64\",\"os\":\"linux\","
		 "\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"%s\"]}}", l1);
	CHECK_EQ(store_blob_add(ctx.store, cfg, strlen(cfg), cfg_digest), 0);
	variant_manifest(man1, sizeof(man1), cfg_digest, strlen(cfg), l1, 100);
	variant_manifest(man2, sizeof(man2), cfg_digest, strlen(cfg), l2, 200);
	CHECK_EQ(store_image_add(ctx.store, man1, strlen(man1), "127.0.0.1:1", "x/y", id), 0);
	CHECK_EQ(store_image_add(ctx.store, man2, strlen(man2), "127.0.0.1:2", "evil/y", id2), 0);
	CHECK_STR(id2, id);
	CHECK_EQ(store_blob_add(ctx.store, man1, strlen(man1), md1), 0);
	CHECK_EQ(store_blob_add(ctx.store, man2, strlen(man2), md2), 0);
	store_close(ctx.store);

	/* The tags as pulls of each manifest and a local tag leave them. */
	snprintf(js, sizeof(js),
		 "{\"version\":1,\"tags\":["
		 "{\"host\":\"127.0.0.1:1\",\"repo\":\"x/y\",\"tag\":\"1\",\"id\":\"%s\","
		 "\"source\":{\"host\":\"127.0.0.1:1\",\"repo\":\"x/y\",\"manifest\":\"%s\"}},"
		 "{\"host\":\"127.0.0.1:2\",\"repo\":\"evil/y\",\"tag\":\"1\",\"id\":\"%s\","
		 "\"source\":{\"host\":\"127.0.0.1:2\",\"repo\":\"evil/y\",\"manifest\":\"%s\"}},"
		 "{\"host\":\"docker.io\",\"repo\":\"library/z\",\"tag\":\"1\",\"id\":\"%s\"}]}",
		 id, md1, id, md2, id);
	snprintf(path, sizeof(path), "%s/tags.json", dir);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	CHECK(fd >= 0);
	CHECK_EQ(file_write_all(fd, js, strlen(js)), 0);
	close(fd);
	CHECK_EQ(store_open(&o, &ctx.store), 0);
	if (!ctx.store)
		abort();
	CHECK_EQ(fs_id_name(&ctx, id, name), 0);
	snprintf(vname, sizeof(vname), "%s@%s", name, md2 + 7);

	/* The links: the first manifest's and the local tag's by name, the
	 * other's to its variant; stat's size is the link's length. */
	CHECK_EQ(fs_repos_lookup(&ctx, &who, "127.0.0.1:1/x/y", "1", &t1, &to), 0);
	CHECK_EQ(fs_repos_readlink(&ctx, &t1, &target), 0);
	snprintf(want, sizeof(want), "../../../../by-id/%s", name);
	CHECK_STR(target, want);
	free(target);
	target = NULL;
	CHECK_EQ(fs_repos_lookup(&ctx, &who, "127.0.0.1:2/evil/y", "1", &t2, &to), 0);
	CHECK_EQ(fs_repos_readlink(&ctx, &t2, &target), 0);
	snprintf(want, sizeof(want), "../../../../by-id/%s", vname);
	CHECK_STR(target, want);
	CHECK_EQ(fs_ns_stat(&ctx, &t2, &st, &to), 0);
	CHECK_EQ((size_t)st.st_size, target ? strlen(target) : 0);
	free(target);
	target = NULL;
	CHECK(t1.key && t2.key && strcmp(t1.key, t2.key) != 0 && strchr(t2.key, '@') &&
	      !strchr(t1.key, '@'));
	CHECK_EQ(fs_repos_lookup(&ctx, &who, "z", "1", &t3, &to), 0);
	CHECK_EQ(fs_repos_readlink(&ctx, &t3, &target), 0);
	snprintf(want, sizeof(want), "../../by-id/%s", name);
	CHECK_STR(target, want);
	free(target);
	target = NULL;
	fs_changes_release(&who.changed);

	/* With its registry the default, the tag is reached by its familiar
	 * path and by the one with the host (step 3: the pull finds it
	 * local): both link to the variant. */
	ctx.default_host = "127.0.0.1:2";
	who.may_pull = 1;
	CHECK_EQ(htab_init(&ctx.dirs), 0);	/* no directory made with mkdir */
	pthread_mutex_init(&ctx.dirs_lock, NULL);
	memset(&x, 0, sizeof(x));
	CHECK_EQ(fs_repos_lookup(&ctx, &who, "evil/y", "1", &x, &to), 0);
	CHECK_EQ(fs_repos_readlink(&ctx, &x, &target), 0);
	snprintf(want, sizeof(want), "../../../by-id/%s", vname);
	CHECK_STR(target, want);
	free(target);
	target = NULL;
	fs_ns_tmpl_release(&ctx, &x);
	memset(&x, 0, sizeof(x));
	CHECK_EQ(fs_repos_lookup(&ctx, &who, "127.0.0.1:2/evil/y", "1", &x, &to), 0);
	CHECK_EQ(fs_repos_readlink(&ctx, &x, &target), 0);
	snprintf(want, sizeof(want), "../../../../by-id/%s", vname);
	CHECK_STR(target, want);
	free(target);
	fs_ns_tmpl_release(&ctx, &x);
	fs_changes_release(&who.changed);
	htab_release(&ctx.dirs);
	pthread_mutex_destroy(&ctx.dirs_lock);
	ctx.default_host = "docker.io";
	who.may_pull = 0;
	memset(&x, 0, sizeof(x));

	/* The variant: its own manifest and layers, the image's config;
	 * no image.tar or oci/; looked up again at every walk. */
	CHECK_EQ(ns_lookup(&ctx, &byid, vname, &v, &to), 0);
	CHECK_EQ(v.kind, FS_IMAGE_DIR);
	CHECK(to == 0);
	CHECK_EQ(ns_lookup(&ctx, &byid, name, &base, &to), 0);
	CHECK(v.key && base.key && strcmp(v.key, base.key) != 0);
	CHECK(lists(&ctx, &v, (const char *const[]){ "config", "layers", "manifest",
						     "rootfs", NULL }));
	CHECK(lists(&ctx, &base, (const char *const[]){ "config", "image.tar", "layers",
							"manifest", "oci", "rootfs", NULL }));
	CHECK_EQ(ns_lookup(&ctx, &v, "image.tar", &x, &to), -ENOENT);
	fs_ns_tmpl_release(&ctx, &x);
	CHECK_EQ(ns_lookup(&ctx, &v, "oci", &x, &to), -ENOENT);
	fs_ns_tmpl_release(&ctx, &x);
	CHECK_EQ(ns_lookup(&ctx, &v, "manifest", &vman, &to), 0);
	CHECK_EQ(ns_lookup(&ctx, &base, "manifest", &bman, &to), 0);
	CHECK(vman.key && bman.key && strcmp(vman.key, bman.key) != 0);
	buf_init(&b, 1 << 20);
	CHECK_EQ(fs_ns_image_file(&ctx, &vman, &b), 0);
	CHECK(b.len == strlen(man2) && !memcmp(b.data, man2, b.len));
	buf_release(&b);
	CHECK_EQ(fs_ns_stat(&ctx, &vman, &st, &to), 0);
	CHECK_EQ((size_t)st.st_size, strlen(man2));
	buf_init(&b, 1 << 20);
	CHECK_EQ(fs_ns_image_file(&ctx, &bman, &b), 0);
	CHECK(b.len == strlen(man1) && !memcmp(b.data, man1, b.len));
	buf_release(&b);
	CHECK_EQ(ns_lookup(&ctx, &v, "config", &vcfg, &to), 0);
	buf_init(&b, 1 << 20);
	CHECK_EQ(fs_ns_image_file(&ctx, &vcfg, &b), 0);
	CHECK(b.len == strlen(cfg) && !memcmp(b.data, cfg, b.len));
	buf_release(&b);
	CHECK_EQ(ns_lookup(&ctx, &v, "layers", &vlay, &to), 0);
	snprintf(want, sizeof(want), "00-%s", l2);
	CHECK(lists(&ctx, &vlay, (const char *const[]){ want, NULL }));
	CHECK_EQ(ns_lookup(&ctx, &vlay, want, &vl, &to), 0);
	CHECK_EQ(fs_ns_stat(&ctx, &vl, &st, &to), 0);
	CHECK_EQ(st.st_size, 200);
	snprintf(want, sizeof(want), "00-%s", l1);
	CHECK_EQ(ns_lookup(&ctx, &vlay, want, &x, &to), -ENOENT);
	fs_ns_tmpl_release(&ctx, &x);

	/* The first manifest's variant is there too (any source is); a
	 * digest no source has, a short or upper-case one, is not. */
	snprintf(want, sizeof(want), "%s@%s", name, md1 + 7);
	CHECK_EQ(ns_lookup(&ctx, &byid, want, &x, &to), 0);
	fs_ns_tmpl_release(&ctx, &x);
	snprintf(want, sizeof(want), "%s@%s", name, HEX64);
	CHECK_EQ(ns_lookup(&ctx, &byid, want, &x, &to), -ENOENT);
	CHECK(to == 0);	/* a pull may add it: not cached as absent */
	fs_ns_tmpl_release(&ctx, &x);
	snprintf(want, sizeof(want), "%s@%.63s", name, md2 + 7);
	CHECK_EQ(ns_lookup(&ctx, &byid, want, &x, &to), -ENOENT);
	fs_ns_tmpl_release(&ctx, &x);
	snprintf(want, sizeof(want), "%s@%s", name, md2 + 7);
	for (char *p = strchr(want, '@'); *p; p++)
		if (*p >= 'a' && *p <= 'f')
			*p = (char)(*p - 'a' + 'A');
	CHECK_EQ(ns_lookup(&ctx, &byid, want, &x, &to), -ENOENT);
	fs_ns_tmpl_release(&ctx, &x);
	CHECK(lists(&ctx, &byid, (const char *const[]){ name, NULL }));

	/* Deleted: the variant is not found, nor is its manifest read. */
	CHECK_EQ(store_image_delete(ctx.store, id), 0);
	CHECK_EQ(ns_lookup(&ctx, &byid, vname, &x, &to), -ENOENT);
	fs_ns_tmpl_release(&ctx, &x);
	buf_init(&b, 1 << 20);
	CHECK_EQ(fs_ns_image_file(&ctx, &vman, &b), -ENOENT);
	buf_release(&b);

	fs_ns_tmpl_release(&ctx, &t1);
	fs_ns_tmpl_release(&ctx, &t2);
	fs_ns_tmpl_release(&ctx, &t3);
	fs_ns_tmpl_release(&ctx, &v);
	fs_ns_tmpl_release(&ctx, &base);
	fs_ns_tmpl_release(&ctx, &vman);
	fs_ns_tmpl_release(&ctx, &bman);
	fs_ns_tmpl_release(&ctx, &vcfg);
	fs_ns_tmpl_release(&ctx, &vlay);
	fs_ns_tmpl_release(&ctx, &vl);
	store_close(ctx.store);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	CHECK(system(cmd) == 0);
}

int main(void)
{
	test_normalise();
	test_target_id();
	test_target_parse();
	test_repos();
	test_unique_len();
	test_may_pull();
	test_changes_tag();
	test_id_resolve();
	test_variant();
	return check_done("test_ns");
}
