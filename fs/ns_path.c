/* SPDX-License-Identifier: MIT */
/*
 * ns_path.c - the pure rules of namespace names (ns_path.h): splitting a
 * repos/ path into host and repository, and reading a tag link's target.
 *
 * Strings in, strings out: no store, no mount context, so that the rules
 * the namespace is built on are unit-tested one by one.  The grammar of
 * hosts, repositories and hex IDs is registry/oci.h's.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "ns_path.h"
#include "registry.h"

bool fs_repos_top_valid(const char *name)
{
	return registry_path_component_valid(name) ||
	       (registry_component_is_host(name) && registry_host_valid(name));
}

int fs_repos_split(const char *path, const char *default_host, char **host,
		   char **repo)
{
	const char *slash = strchr(path, '/');
	const char *rest = path;
	struct buf r;
	int ret = 0;

	*host = *repo = NULL;
	buf_init(&r, FS_TARGET_MAX);
	if (*path) {
		size_t len = slash ? (size_t)(slash - path) : strlen(path);
		char *first = strndup(path, len);

		if (!first)
			return -ENOMEM;
		/* One component is a repository of the default registry
		 * when it can be one ("ubuntu16.04"), else a host. */
		if (registry_component_is_host(first) &&
		    (slash || !registry_path_component_valid(first))) {
			*host = first;
			rest = slash ? slash + 1 : "";
		} else {
			free(first);
		}
	}
	if (!*host)
		*host = strdup(default_host);
	if (!*host) {
		ret = -ENOMEM;
		goto out;
	}
	if (!registry_host_valid(*host)) {
		ret = -EINVAL;
		goto out;
	}
	if (!*rest)
		goto out;
	if (strcmp(*host, REGISTRY_DOCKER_HUB) == 0 && !strchr(rest, '/'))
		ret = buf_addstr(&r, "library/");
	if (!ret)
		ret = buf_addstr(&r, rest);
	if (ret)
		goto out;
	if (!registry_repo_valid(buf_str(&r))) {
		ret = -EINVAL;
		goto out;
	}
	*repo = buf_detach(&r, NULL);
out:
	buf_release(&r);
	if (ret) {
		free(*host);
		*host = NULL;
	}
	return ret;
}

char *fs_path_join(const char *dir, const char *name)
{
	char *p;

	if (asprintf(&p, "%s%s%s", dir, *dir ? "/" : "", name) < 0)
		return NULL;
	return p;
}

/*
 * Components are copied down over the ones dropped.  The write index w
 * never passes the read index r: a component is written (with the '/'
 * before it) only after at least that many bytes were read, so nothing
 * is read after being overwritten and nothing is written past the NUL.
 */
int fs_path_normalise(char *path)
{
	size_t r = 0, w = 0;

	while (path[r]) {
		size_t len = strcspn(path + r, "/");

		if (len == 0 || (len == 1 && path[r] == '.')) {
			/* nothing to keep */
		} else if (len == 2 && path[r] == '.' && path[r + 1] == '.') {
			if (w == 0)
				return -EINVAL;
			while (w > 0 && path[w - 1] != '/')
				w--;
			if (w > 0)
				w--;	/* the separator before it */
		} else {
			if (w > 0)
				path[w++] = '/';
			memmove(path + w, path + r, len);
			w += len;
		}
		r += len;
		if (path[r] == '/')
			r++;
	}
	path[w] = '\0';
	return 0;
}

bool fs_target_is_id(const char *target)
{
	return registry_hex_valid(target, 1, REGISTRY_HEX_LEN);
}

const char *fs_target_byid_tail(const char *target)
{
	const char *hit = NULL;

	for (const char *b = strstr(target, "by-id/"); b; b = strstr(b + 1, "by-id/"))
		if ((b == target || b[-1] == '/') && fs_target_is_id(b + 6))
			hit = b + 6;
	return hit;
}

int fs_target_parse(const char *mountpoint, const char *dir, const char *target,
		    struct fs_target *out)
{
	size_t ml = strlen(mountpoint);
	char *path = NULL, *slash;
	int ret;

	memset(out, 0, sizeof(*out));
	while (ml > 0 && mountpoint[ml - 1] == '/')
		ml--;	/* "/" and "/mnt/" as "" and "/mnt" */
	if (strnlen(target, FS_TARGET_MAX) >= FS_TARGET_MAX)
		return -ENAMETOOLONG;
	if (target[0] == '/') {
		if (strncmp(target, mountpoint, ml) != 0 ||
		    (target[ml] != '/' && target[ml] != '\0'))
			return -EXDEV;
		path = strdup(target + ml + (target[ml] ? 1 : 0));
	} else if (asprintf(&path, "repos/%s/%s", dir, target) < 0) {
		path = NULL;
	}
	if (!path)
		return -ENOMEM;
	ret = -ENAMETOOLONG;
	if (strlen(path) >= FS_TARGET_MAX)
		goto out;
	ret = fs_path_normalise(path);
	if (ret)
		goto out;
	ret = -EINVAL;
	if (strncmp(path, "by-id/", 6) == 0) {
		if (!fs_target_is_id(path + 6))
			goto out;
		out->kind = FS_TARGET_BYID;
		out->id = path + 6;
	} else if (strncmp(path, "repos/", 6) == 0 &&
		   (slash = strrchr(path, '/')) > path + 5) {
		*slash = '\0';
		out->kind = FS_TARGET_TAG;
		out->dir = path + 6;
		out->tag = slash + 1;
	} else if (strncmp(path, "registries/", 11) == 0 &&
		   (slash = strrchr(path, '/')) > path + 10) {
		*slash = '\0';
		out->kind = FS_TARGET_REMOTE;
		out->dir = path + 11;
		out->tag = slash + 1;
	} else {
		goto out;
	}
	out->path = path;
	path = NULL;
	ret = 0;
out:
	free(path);
	return ret;
}

void fs_target_release(struct fs_target *t)
{
	free(t->path);
	memset(t, 0, sizeof(*t));
}
