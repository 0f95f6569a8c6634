/* SPDX-License-Identifier: MIT */
/*
 * creds.c - registry credentials from Docker's config.json: credHelpers,
 * credsStore (the docker-credential-* helper protocol) and auths.
 *
 * Owns: nothing persistent; every lookup reads the file afresh (the
 * client caches the answer per host).
 *
 * Design notes: helpers are started with posix_spawnp() rather than a
 * hand-written fork()+exec(): the daemon is multithreaded, and between
 * fork() and exec() only async-signal-safe calls are allowed, which
 * posix_spawn (clone+exec inside libc) guarantees.  The server URL is
 * written into the helper's stdin pipe *before* the helper starts (it is
 * far below the pipe's capacity), so no write can ever meet a closed pipe
 * and raise SIGPIPE in the daemon.  The helper's output is capped at
 * 1 MiB and waited for at most HELPER_TIMEOUT_MS, after which it is
 * killed.  The helper name must be a plain [A-Za-z0-9._-] suffix, so a
 * config file cannot name an arbitrary path to execute.
 */
#include "registry.h"
#include "registry_int.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "log.h"

#define HUB_CREDS_KEY "https://index.docker.io/v1/"
#define HELPER_TIMEOUT_MS 30000

extern char **environ;

/* base64 "user:secret" -> the two halves. */
static int decode_auth(const char *b64, char **user, char **secret)
{
	size_t n = strlen(b64), pad = 0;
	unsigned char *raw;
	char *colon;
	int len, ret = -EINVAL;

	if (n == 0 || n % 4 || n > (1u << 20))
		return -EINVAL;
	raw = malloc(n / 4 * 3 + 1);
	if (!raw)
		return -ENOMEM;
	len = EVP_DecodeBlock(raw, (const unsigned char *)b64, (int)n);
	if (len < 0)
		goto out;
	/* EVP_DecodeBlock counts the padding as zero bytes. */
	pad = (b64[n - 1] == '=') + (b64[n - 2] == '=');
	len -= (int)pad;
	raw[len] = '\0';
	if (memchr(raw, '\0', (size_t)len))
		goto out;
	colon = strchr((char *)raw, ':');
	if (!colon)
		goto out;
	*user = strndup((char *)raw, (size_t)(colon - (char *)raw));
	*secret = strdup(colon + 1);
	ret = *user && *secret ? 0 : -ENOMEM;
	if (ret) {
		reg_creds_clear(user, secret);
	}
out:
	explicit_bzero(raw, n / 4 * 3 + 1);
	free(raw);
	return ret;
}

int64_t reg_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Wait until @fd is readable: 0, or -ETIMEDOUT once reg_now_ms() reaches @deadline. */
static int wait_readable(int fd, int64_t deadline)
{
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int64_t left = deadline - reg_now_ms();
		int ret;

		if (left <= 0)
			return -ETIMEDOUT;
		ret = poll(&p, 1, (int)left);
		if (ret < 0 && errno == EINTR)
			continue;
		if (ret < 0)
			return -errno;
		return ret ? 0 : -ETIMEDOUT;
	}
}

/*
 * read_wiped - read @fd to EOF into @b, which caps it, wiping every chunk
 * off the stack: what is read may be a secret.  With a @deadline (in
 * reg_now_ms() time; 0 for none) every read waits in poll first, so a helper
 * that hangs costs at most until then.
 */
static int read_wiped(int fd, struct buf *b, int64_t deadline)
{
	char chunk[4096];

	for (;;) {
		ssize_t r;
		int ret;

		if (deadline) {
			ret = wait_readable(fd, deadline);
			if (ret)
				return ret;
		}
		r = read(fd, chunk, sizeof(chunk));
		if (r < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			return 0;
		ret = buf_add(b, chunk, (size_t)r);
		explicit_bzero(chunk, sizeof(chunk));
		if (ret)
			return ret;
	}
}

static int load_config(const char *path, json_t **out)
{
	struct buf b;
	struct stat st;
	int fd, ret;

	*out = NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : -errno;
	buf_init(&b, REG_SMALL_MAX);
	ret = fstat(fd, &st) ? -errno : (!S_ISREG(st.st_mode) ? -EINVAL : 0);
	if (!ret)
		ret = read_wiped(fd, &b, 0);
	close(fd);
	if (!ret) {
		*out = json_loadb(b.data ? b.data : "", b.len, JSON_REJECT_DUPLICATES, NULL);
		if (!*out || !json_is_object(*out)) {
			log_warn("registry: %s is not a JSON object", path);
			json_decref(*out);
			*out = NULL;
			ret = -EINVAL;
		}
	}
	reg_buf_release_secret(&b);
	return ret;
}

static bool helper_name_ok(const char *s)
{
	if (!*s || strlen(s) > 64)
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '.' || *s == '_' || *s == '-'))
			return false;
	return true;
}

/**
 * helper_get - run "docker-credential-<suffix> get" for @server.
 * Returns 0 with *user and *secret set, or 0 with both NULL when the helper
 * has nothing for @server (or is not installed), or -errno.
 */
static int helper_get(const char *suffix, const char *server, char **user,
		      char **secret)
{
	char prog[96];
	char *argv[] = { prog, "get", NULL };
	int in[2] = { -1, -1 }, out[2] = { -1, -1 }, status = 0, ret;
	posix_spawn_file_actions_t fa;
	struct buf b;
	json_t *root = NULL;
	const char *u, *s;
	size_t slen = strlen(server);
	pid_t pid = -1;

	*user = *secret = NULL;
	if (!helper_name_ok(suffix)) {
		log_warn("registry: refusing credential helper name %.64s", suffix);
		return -EINVAL;
	}
	snprintf(prog, sizeof(prog), "docker-credential-%s", suffix);
	buf_init(&b, REG_SMALL_MAX);
	if (slen > 4000 || pipe2(in, O_CLOEXEC) || pipe2(out, O_CLOEXEC)) {
		ret = slen > 4000 ? -EINVAL : -errno;
		goto out;
	}
	/* Fits in the pipe buffer, and the read end is still ours: no
	 * SIGPIPE, no blocking. */
	if (write(in[1], server, slen) != (ssize_t)slen) {
		ret = -EIO;
		goto out;
	}
	close(in[1]);
	in[1] = -1;
	ret = posix_spawn_file_actions_init(&fa);
	if (ret) {
		ret = -ret;
		goto out;
	}
	posix_spawn_file_actions_adddup2(&fa, in[0], 0);
	posix_spawn_file_actions_adddup2(&fa, out[1], 1);
	posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
	ret = posix_spawnp(&pid, prog, &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(in[0]);
	close(out[1]);
	in[0] = out[1] = -1;
	if (ret) {
		log_warn("registry: cannot run %s: %s", prog, strerror(ret));
		pid = -1;
		ret = 0;	/* as if it had no credentials */
		goto out;
	}
	/* The helper's stdout until EOF, the cap, or the deadline. */
	ret = read_wiped(out[0], &b, reg_now_ms() + HELPER_TIMEOUT_MS);
	if (ret) {
		log_warn("registry: %s: %s", prog,
			 ret == -EFBIG ? "output too large" : strerror(-ret));
		kill(pid, SIGKILL);
	}
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	pid = -1;
	if (ret)
		goto out;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		/* "credentials not found in native keychain" is normal. */
		if (!strstr(buf_str(&b), "not found"))
			log_warn("registry: %s get failed for %s", prog, server);
		goto out;
	}
	root = json_loadb(buf_str(&b), b.len, 0, NULL);
	u = json_string_value(json_object_get(root, "Username"));
	s = json_string_value(json_object_get(root, "Secret"));
	if (!u || !s || !*s) {
		log_warn("registry: %s returned no usable credentials", prog);
		goto out;
	}
	*user = strdup(u);
	*secret = strdup(s);
	if (!*user || !*secret) {
		reg_creds_clear(user, secret);
		ret = -ENOMEM;
	}
out:
	if (pid > 0) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
	}
	for (int i = 0; i < 2; i++) {
		if (in[i] >= 0)
			close(in[i]);
		if (out[i] >= 0)
			close(out[i]);
	}
	json_decref(root);
	reg_buf_release_secret(&b);
	return ret;
}

/* The hostname[:port] an auths key names: "https://h:5000/v1/" -> "h:5000" */
static bool key_names_host(const char *key, const char *host, bool hub)
{
	const char *p = key;
	size_t n;

	if (strncasecmp(p, "https://", 8) == 0)
		p += 8;
	else if (strncasecmp(p, "http://", 7) == 0)
		p += 7;
	n = strcspn(p, "/");
	if (hub)
		return (n == 15 && !strncasecmp(p, "index.docker.io", n)) ||
		       (n == 9 && !strncasecmp(p, "docker.io", n)) ||
		       (n == 20 && !strncasecmp(p, "registry-1.docker.io", n));
	return strlen(host) == n && strncasecmp(p, host, n) == 0;
}

static int auths_entry(json_t *e, char **user, char **secret)
{
	const char *tok, *a, *u, *s;

	if (!json_is_object(e))
		return 0;
	tok = json_string_value(json_object_get(e, "identitytoken"));
	a = json_string_value(json_object_get(e, "auth"));
	u = json_string_value(json_object_get(e, "username"));
	s = json_string_value(json_object_get(e, "password"));
	if (tok && *tok) {
		*user = strdup(REG_IDENTITY_USER);
		*secret = strdup(tok);
	} else if (a && *a) {
		return decode_auth(a, user, secret);
	} else if (u && s) {
		*user = strdup(u);
		*secret = strdup(s);
	} else {
		return 0;
	}
	if (!*user || !*secret) {
		reg_creds_clear(user, secret);
		return -ENOMEM;
	}
	return 0;
}

static int default_config_path(char *out, size_t n)
{
	const char *d = getenv("DOCKER_CONFIG"), *home = getenv("HOME");

	if (d && *d)
		return snprintf(out, n, "%s/config.json", d) < (int)n ? 0 : -ENAMETOOLONG;
	if (home && *home)
		return snprintf(out, n, "%s/.docker/config.json", home) < (int)n ?
			       0 : -ENAMETOOLONG;
	return -ENOENT;
}

int registry_creds_lookup(const char *config_path, const char *host, char **user,
			  char **secret)
{
	bool hub = strcmp(host, REGISTRY_DOCKER_HUB) == 0;
	const char *server = hub ? HUB_CREDS_KEY : host;
	const char *helper_keys[] = { host, "index.docker.io", HUB_CREDS_KEY, NULL };
	char path[4096];
	json_t *root = NULL, *helpers, *auths, *e, *found;
	const char *helper = NULL, *key;
	int ret;

	*user = *secret = NULL;
	if (!config_path) {
		if (default_config_path(path, sizeof(path)))
			return 0;
		config_path = path;
	}
	ret = load_config(config_path, &root);
	if (ret || !root)
		return ret;

	helpers = json_object_get(root, "credHelpers");
	for (int i = 0; helper_keys[i] && !helper; i++) {
		if (i > 0 && !hub)
			break;
		helper = json_string_value(json_object_get(helpers, helper_keys[i]));
	}
	if (!helper)
		helper = json_string_value(json_object_get(root, "credsStore"));
	if (helper && *helper) {
		ret = helper_get(helper, server, user, secret);
		if (ret || *user)
			goto out;
	}
	/* auths: the exact key first, then keys that are URLs of the host. */
	auths = json_object_get(root, "auths");
	found = json_object_get(auths, server);
	if (!found) {
		json_object_foreach(auths, key, e) {
			if (key_names_host(key, host, hub)) {
				found = e;
				break;
			}
		}
	}
	ret = found ? auths_entry(found, user, secret) : 0;
	if (ret == -EINVAL)
		log_warn("registry: malformed auth entry for %s in %s", host, config_path);
out:
	json_decref(root);
	return ret;
}
