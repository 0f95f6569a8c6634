/* SPDX-License-Identifier: MIT */
/*
 * test_auth.c - WWW-Authenticate parsing (registry/challenge.c) and credential
 * lookup from a docker config.json (registry/creds.c), including a fake
 * docker-credential-test helper placed on PATH; and a redirect-then-challenge
 * against three loopback HTTP servers in this process (registry/http.c):
 * the registry's credentials must not reach the realm a redirect target
 * names.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "registry.h"

static void check_ch(const char *hdr, const char *scheme, const char *realm,
		     const char *service, const char *scope, const char *error)
{
	struct registry_challenge ch;
	int ret = registry_challenge_parse(hdr, &ch);

	CHECKF(!ret && strcmp(ch.scheme, scheme) == 0 && check_streq(ch.realm, realm) &&
	       check_streq(ch.service, service) && check_streq(ch.scope, scope) &&
	       check_streq(ch.error, error),
	       "challenge [%s]: ret %d scheme %s realm %s service %s scope %s error %s",
	       hdr, ret, ch.scheme, ch.realm, ch.service, ch.scope, ch.error);
	registry_challenge_release(&ch);
}

static void test_challenge(void)
{
	struct registry_challenge ch;
	const char *bad[] = {
		"",
		"   ",
		"Bearer realm=\"unterminated",
		"Bearer realm=\"a\",realm=\"b\"",
		"Bearer realm=\"a\" junk",
		"Bearer realm=\"a\x01\"",
		"Bearer realm=",
		"Averyveryverylongschemename realm=\"x\"",
		"Bearer, realm=\"x\"",
		"Bearer realm=\"a\\",
	};

	check_ch("Bearer realm=\"https://auth.docker.io/token\",service=\"registry.docker.io\","
		 "scope=\"repository:samalba/my-app:pull,push\"",
		 "Bearer", "https://auth.docker.io/token", "registry.docker.io",
		 "repository:samalba/my-app:pull,push", NULL);
	/* Quoted commas and escapes. */
	check_ch("Bearer realm=\"https://a/t?x=1,2\", scope=\"re\\\"po\\\\x:pull\", service=svc",
		 "Bearer", "https://a/t?x=1,2", "svc", "re\"po\\x:pull", NULL);
	/* Case, blanks around '=', empty list elements, the error param. */
	check_ch("bearer   realm = \"x\" ,, error=\"insufficient_scope\" ,",
		 "Bearer", "x", NULL, NULL, "insufficient_scope");
	check_ch("Basic realm=\"Registry Realm\"", "Basic", "Registry Realm", NULL, NULL, NULL);
	check_ch("BASIC", "Basic", NULL, NULL, NULL, NULL);
	/* Unknown params skipped; a second challenge ends the first. */
	check_ch("Bearer foo=bar,realm=\"r\",Service=\"s\", Basic realm=\"other\"",
		 "Bearer", "r", "s", NULL, NULL);
	check_ch("Bearer realm=http://127.0.0.1:5001/token,service=local",
		 "Bearer", "http://127.0.0.1:5001/token", "local", NULL, NULL);

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int ret = registry_challenge_parse(bad[i], &ch);

		CHECKF(ret == -EINVAL, "challenge [%s] should fail, got %d", bad[i], ret);
		if (!ret)
			registry_challenge_release(&ch);
		CHECK(ch.realm == NULL);
	}
	CHECK(registry_challenge_parse(NULL, &ch) == -EINVAL);
}

static void write_file(const char *path, const char *text, mode_t mode)
{
	FILE *f = fopen(path, "w");

	if (!f) {
		perror(path);
		exit(1);
	}
	fputs(text, f);
	fclose(f);
	chmod(path, mode);
}

static void check_creds(const char *cfg, const char *host, int want_ret,
			const char *want_user, const char *want_secret)
{
	char *u = (char *)1, *s = (char *)1;
	int ret = registry_creds_lookup(cfg, host, &u, &s);

	CHECKF(ret == want_ret && check_streq(u, want_user) && check_streq(s, want_secret),
	       "creds %s: ret %d user %s secret %s", host, ret,
	       u == (char *)1 ? "?" : u, s == (char *)1 ? "?" : s);
	if (u != (char *)1)
		free(u);
	if (s != (char *)1)
		free(s);
}

static char *read_all(const char *path)
{
	static char text[512];
	FILE *f = fopen(path, "r");
	size_t n;

	if (!f)
		return NULL;
	n = fread(text, 1, sizeof(text) - 1, f);
	fclose(f);
	text[n] = '\0';
	return text;
}

static void test_creds(void)
{
	char dir[] = "/tmp/test_auth.XXXXXX", path[1024], bin[256], cfg[256], cfg2[256],
	     seen[256], newpath[8192], cmd[1100];
	const char *oldpath = getenv("PATH");
	char *got;

	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		exit(1);
	}
	snprintf(bin, sizeof(bin), "%s/bin", dir);
	mkdir(bin, 0755);
	snprintf(seen, sizeof(seen), "%s/seen", dir);
	/* The fake helper records its argument and stdin, answers for two
	 * servers and fails like the real ones for the rest. */
	snprintf(path, sizeof(path), "%s/docker-credential-test", bin);
	{
		char script[1024];

		snprintf(script, sizeof(script),
			 "#!/bin/sh\n"
			 "in=$(cat)\n"
			 "printf '%%s %%s' \"$1\" \"$in\" > %s\n"
			 "case \"$in\" in\n"
			 "helped.io) echo '{\"ServerURL\":\"helped.io\",\"Username\":\"hu\",\"Secret\":\"hs\"}';;\n"
			 "https://index.docker.io/v1/) echo '{\"Username\":\"<token>\",\"Secret\":\"idt\"}';;\n"
			 "*) echo 'credentials not found in native keychain'; exit 1;;\n"
			 "esac\n", seen);
		write_file(path, script, 0755);
	}
	snprintf(path, sizeof(path), "%s/docker-credential-huge", bin);
	write_file(path, "#!/bin/sh\ncat >/dev/null\nhead -c 3000000 /dev/zero\n", 0755);
	snprintf(newpath, sizeof(newpath), "%s:%s", bin, oldpath ? oldpath : "/usr/bin:/bin");
	setenv("PATH", newpath, 1);

	/* base64("hubuser:hubpass"), base64("u3:p:3") */
	snprintf(cfg, sizeof(cfg), "%s/config.json", dir);
	write_file(cfg,
		   "{\"auths\":{"
		   "\"https://index.docker.io/v1/\":{\"auth\":\"aHVidXNlcjpodWJwYXNz\"},"
		   "\"myreg.example.com:5000\":{\"username\":\"u2\",\"password\":\"p2\"},"
		   "\"https://urlreg.example.com/v2/\":{\"auth\":\"dTM6cDoz\"},"
		   "\"tokreg.io\":{\"auth\":\"dTM6cDoz\",\"identitytoken\":\"idtok\"},"
		   "\"badb64.io\":{\"auth\":\"!!!!\"},"
		   "\"nocolon.io\":{\"auth\":\"bm9jb2xvbg==\"},"
		   "\"helped.io\":{\"auth\":\"aHVidXNlcjpodWJwYXNz\"}},"
		   "\"credHelpers\":{\"helped.io\":\"test\",\"other.io\":\"test\","
		   "\"nohelper.io\":\"missing\",\"evil.io\":\"../../bin/sh\","
		   "\"huge.io\":\"huge\"}}",
		   0600);

	check_creds(cfg, "docker.io", 0, "hubuser", "hubpass");
	check_creds(cfg, "myreg.example.com:5000", 0, "u2", "p2");
	check_creds(cfg, "myreg.example.com", 0, NULL, NULL);	/* port matters */
	check_creds(cfg, "urlreg.example.com", 0, "u3", "p:3");	/* URL key */
	check_creds(cfg, "tokreg.io", 0, "<token>", "idtok");
	check_creds(cfg, "badb64.io", -EINVAL, NULL, NULL);
	check_creds(cfg, "nocolon.io", -EINVAL, NULL, NULL);
	check_creds(cfg, "unknown.io", 0, NULL, NULL);
	/* credHelpers win over auths; the server name goes on stdin. */
	unlink(seen);
	check_creds(cfg, "helped.io", 0, "hu", "hs");
	got = read_all(seen);
	CHECK(got && strcmp(got, "get helped.io") == 0);
	/* The helper has nothing: fall back to auths (none here). */
	check_creds(cfg, "other.io", 0, NULL, NULL);
	got = read_all(seen);
	CHECK(got && strcmp(got, "get other.io") == 0);
	/* A helper that is not installed means no credentials. */
	check_creds(cfg, "nohelper.io", 0, NULL, NULL);
	/* A helper name that is a path is refused, never run. */
	check_creds(cfg, "evil.io", -EINVAL, NULL, NULL);
	/* A helper that floods its output is cut off at 1 MiB. */
	check_creds(cfg, "huge.io", -EFBIG, NULL, NULL);
	/* A missing config file is not an error. */
	snprintf(path, sizeof(path), "%s/nope.json", dir);
	check_creds(path, "docker.io", 0, NULL, NULL);

	/* credsStore, with the hub's server URL and an identity token; via
	 * $DOCKER_CONFIG. */
	snprintf(cfg2, sizeof(cfg2), "%s/d2", dir);
	mkdir(cfg2, 0700);
	snprintf(path, sizeof(path), "%s/config.json", cfg2);
	write_file(path, "{\"auths\":{\"https://index.docker.io/v1/\":{}},\"credsStore\":\"test\"}",
		   0600);
	setenv("DOCKER_CONFIG", cfg2, 1);
	check_creds(NULL, "docker.io", 0, "<token>", "idt");
	got = read_all(seen);
	CHECK(got && strcmp(got, "get https://index.docker.io/v1/") == 0);
	check_creds(NULL, "elsewhere.io", 0, NULL, NULL);
	/* Not JSON. */
	write_file(path, "{\"auths\":", 0600);
	CHECK(registry_creds_lookup(NULL, "docker.io", &(char *){ NULL }, &(char *){ NULL }) == -EINVAL);
	unsetenv("DOCKER_CONFIG");
	if (oldpath)
		setenv("PATH", oldpath, 1);

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cleanup of %s failed\n", dir);
}

/* ---- redirect-then-challenge ---- */

enum { SRV_FRONT, SRV_TARGET, SRV_REALM, SRV_N };

struct tsrv {
	int fd;
	int port;
	int role;
	int hits, auth_hits;	/* guarded by srv_lock */
};

static struct tsrv srv[SRV_N];
static pthread_mutex_t srv_lock = PTHREAD_MUTEX_INITIALIZER;

/* One request per connection: the front redirects blobs to the target,
 * the target challenges with the realm's URL, the realm counts requests
 * and those with credentials.  A TLS hello (the client probing https) is
 * closed at once. */
static void srv_answer(struct tsrv *t, int c)
{
	char req[8192], resp[1024];
	size_t n = 0;
	ssize_t r;

	while (n < sizeof(req) - 1 && (r = read(c, req + n, sizeof(req) - 1 - n)) > 0) {
		n += (size_t)r;
		req[n] = '\0';
		if (req[0] == 0x16 || strstr(req, "\r\n\r\n"))
			break;
	}
	req[n] = '\0';
	if (n == 0 || req[0] == 0x16)
		return;
	pthread_mutex_lock(&srv_lock);
	t->hits++;
	if (strcasestr(req, "\nAuthorization:"))
		t->auth_hits++;
	pthread_mutex_unlock(&srv_lock);
	if (t->role == SRV_FRONT && strstr(req, "/blobs/"))
		snprintf(resp, sizeof(resp), "HTTP/1.1 307 Temporary Redirect\r\n"
			 "Location: http://127.0.0.1:%d/blob\r\n", srv[SRV_TARGET].port);
	else if (t->role == SRV_TARGET)
		snprintf(resp, sizeof(resp), "HTTP/1.1 401 Unauthorized\r\n"
			 "WWW-Authenticate: Bearer realm=\"http://127.0.0.1:%d/token\","
			 "service=\"evil\"\r\n", srv[SRV_REALM].port);
	else if (t->role == SRV_REALM)
		snprintf(resp, sizeof(resp), "HTTP/1.1 200 OK\r\n"
			 "Content-Type: application/json\r\n");
	else
		snprintf(resp, sizeof(resp), "HTTP/1.1 200 OK\r\n");
	{
		const char *body = t->role == SRV_REALM ? "{\"token\":\"t\",\"expires_in\":300}" : "";
		char all[1200];
		int len = snprintf(all, sizeof(all), "%sContent-Length: %zu\r\n"
				   "Connection: close\r\n\r\n%s", resp, strlen(body), body);

		if (len > 0 && write(c, all, (size_t)len) < 0)
			perror("test server write");
	}
}

static void *srv_main(void *arg)
{
	struct tsrv *t = arg;
	int c;

	while ((c = accept(t->fd, NULL, NULL)) >= 0) {
		srv_answer(t, c);
		close(c);
	}
	return NULL;
}

static int srv_start(struct tsrv *t, int role, pthread_t *th)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t len = sizeof(a);

	t->role = role;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	t->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (t->fd < 0 || bind(t->fd, (struct sockaddr *)&a, sizeof(a)) ||
	    listen(t->fd, 16) || getsockname(t->fd, (struct sockaddr *)&a, &len))
		return -1;
	t->port = ntohs(a.sin_port);
	return pthread_create(th, NULL, srv_main, t);
}

static int no_sink(void *ctx, const void *data, size_t n)
{
	(void)ctx;
	(void)data;
	(void)n;
	return 0;
}

static void test_redirect_challenge(void)
{
	char dir[] = "/tmp/test_auth_redir.XXXXXX", cfg[256], text[512], host[64];
	struct registry_opts o = { .timeout_sec = 5 };
	struct registry_client *c = NULL;
	pthread_t th[SRV_N];
	int ret;

	for (int i = 0; i < SRV_N; i++)
		if (srv_start(&srv[i], i, &th[i])) {
			perror("test server");
			exit(1);
		}
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		exit(1);
	}
	snprintf(host, sizeof(host), "127.0.0.1:%d", srv[SRV_FRONT].port);
	snprintf(cfg, sizeof(cfg), "%s/config.json", dir);
	/* imgfs:Pw-unit-93c1 for the front, the registry. */
	snprintf(text, sizeof(text), "{\"auths\":{\"%s\":{\"auth\":\"aW1nZnM6UHctdW5pdC05M2Mx\"}}}",
		 host);
	write_file(cfg, text, 0600);
	o.docker_config = cfg;
	CHECK_EQ(registry_client_new(&o, &c), 0);
	ret = registry_blob_get(c, host, "r", "sha256:"
				"0000000000000000000000000000000000000000000000000000000000000000",
				0, 0, 16, no_sink, NULL, NULL);
	CHECKF(ret != 0, "a blob behind a hostile redirect: ret %d", ret);
	pthread_mutex_lock(&srv_lock);
	CHECKF(srv[SRV_TARGET].hits > 0, "the redirect target was never asked: nothing tested");
	CHECKF(srv[SRV_REALM].auth_hits == 0, "the realm got credentials %d time(s)",
	       srv[SRV_REALM].auth_hits);
	CHECKF(srv[SRV_REALM].hits == 0, "the realm was asked %d time(s)", srv[SRV_REALM].hits);
	pthread_mutex_unlock(&srv_lock);
	registry_client_free(c);
	for (int i = 0; i < SRV_N; i++) {
		shutdown(srv[i].fd, SHUT_RDWR);
		pthread_join(th[i], NULL);
		close(srv[i].fd);
	}
	unlink(cfg);
	rmdir(dir);
}

int main(void)
{
	test_challenge();
	test_creds();
	test_redirect_challenge();
	return check_done("test_auth");
}
