/* SPDX-License-Identifier: MIT */
/*
 * test_ns.c - the pure rules of namespace names (fs/ns_path.h): link
 * target normalising, which targets name an image, and how a repos/ path
 * splits into registry host and repository.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "ns_path.h"

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

static void check_tag(const char *mnt, const char *dir, const char *target,
		      const char *tdir, const char *tag)
{
	struct fs_target t;
	int ret = parse(mnt, dir, target, &t);

	CHECKF(ret == 0, "parse(%s) = %d", target, ret);
	if (ret)
		return;
	CHECKF(t.kind == FS_TARGET_TAG, "parse(%s): kind %d", target, t.kind);
	CHECK_STR(t.dir, tdir);
	CHECK_STR(t.tag, tag);
	fs_target_release(&t);
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

int main(void)
{
	test_normalise();
	test_target_id();
	test_target_parse();
	test_repos();
	return check_done("test_ns");
}
