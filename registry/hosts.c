/* SPDX-License-Identifier: MIT */
/*
 * hosts.c - what the client knows about each registry host: whether it
 * may be reached over plain http or without a certificate check, its CA
 * file and client certificate, and its mirrors (registry_opts.hosts).
 *
 * Owns: client->hosts, built once by reg_hosts_init() and read-only
 * afterwards but for each entry's down_until_ms (atomic), and the seeding of client->schemes
 * with the scheme each mirror was named with.
 *
 * Design notes: a mirror is named by URL ("https://mirror:5000") because,
 * as in Docker's registry-mirrors, the scheme is part of the choice; from
 * then on it is just another host: its own entry (made here when the
 * configuration has none) carries its TLS settings, the auth caches key
 * it by its own host[:port], so it gets the credentials of that host and
 * never those of the registry it mirrors.  A mirror that cannot be
 * reached (refused, timed out) is left out of the sources for
 * REG_MIRROR_BACKOFF_MS, so that a fleet whose mirror is down does not pay
 * a connect timeout on every request.  An entry without a port covers
 * every port of its host, as an insecure-registries entry does; an entry
 * with a port wins over it.  Mirrors of a mirror are not followed.
 */
#include "registry.h"
#include "registry_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "log.h"

/* The host part of host[:port] ("[::1]" keeps its brackets) into @out. */
static void host_part(const char *host, char *out, size_t outsz)
{
	size_t n;

	if (host[0] == '[') {
		const char *e = strchr(host, ']');

		n = e ? (size_t)(e - host) + 1 : strlen(host);
	} else {
		n = strcspn(host, ":");
	}
	if (n >= outsz)
		n = 0;
	memcpy(out, host, n);
	out[n] = '\0';
}

/* Whether @host[:port] carries a port (an IPv6 literal has colons inside). */
static bool has_port(const char *host)
{
	const char *e = host[0] == '[' ? strchr(host, ']') : host;

	return e && strchr(e, ':');
}

static bool host_loopback(const char *host)
{
	char h[256];
	struct in_addr a;

	host_part(host, h, sizeof(h));
	if (strcasecmp(h, "localhost") == 0 || strcmp(h, "[::1]") == 0)
		return true;
	return inet_pton(AF_INET, h, &a) == 1 && (ntohl(a.s_addr) >> 24) == 127;
}

/* See reg_host_find(); the entry is mutable for down_until_ms only. */
static struct reg_host *host_find(const struct registry_client *c, const char *host)
{
	struct reg_host *portless = NULL;
	char h[256];

	host_part(host, h, sizeof(h));
	/* Docker Hub is configured as "docker.io" and served from here. */
	if (strcasecmp(h, "registry-1.docker.io") == 0)
		host = REGISTRY_DOCKER_HUB;
	for (size_t i = 0; i < c->n_hosts; i++) {
		struct reg_host *e = &c->hosts[i];

		if (strcasecmp(e->host, host) == 0)
			return e;
		if (!portless && !has_port(e->host) && strcasecmp(e->host, h) == 0)
			portless = e;
	}
	return portless;
}

const struct reg_host *reg_host_find(const struct registry_client *c, const char *host)
{
	return host_find(c, host);
}

bool reg_host_insecure(const struct registry_client *c, const char *host)
{
	const struct reg_host *e = reg_host_find(c, host);
	char h[256];

	if (e && e->insecure)
		return true;
	host_part(host, h, sizeof(h));
	for (char **p = c->insecure; p && *p; p++) {
		if (strcasecmp(*p, host) == 0)
			return true;
		/* An entry without a port covers every port of that host. */
		if (!has_port(*p) && strcasecmp(*p, h) == 0)
			return true;
	}
	return false;
}

bool reg_host_plain_ok(const struct registry_client *c, const char *host)
{
	const struct reg_host *e = reg_host_find(c, host);

	return host_loopback(host) || (e && e->plain) || reg_host_insecure(c, host);
}

size_t reg_host_sources(const struct registry_client *c, const char *host,
			bool origin_only, const char **out, size_t max)
{
	const struct reg_host *e = origin_only ? NULL : reg_host_find(c, host);
	int64_t now = reg_now_ms();
	size_t n = 0;

	for (char **m = e ? e->mirrors : NULL; m && *m && n + 1 < max; m++) {
		const struct reg_host *me = reg_host_find(c, *m);

		if (me && __atomic_load_n(&me->down_until_ms, __ATOMIC_RELAXED) > now)
			continue;
		out[n++] = *m;
	}
	out[n++] = host;
	return n;
}

void reg_host_mirror_failed(const struct registry_client *c, const char *mirror, int err)
{
	struct reg_host *me = host_find(c, mirror);
	int64_t until = reg_now_ms() + REG_MIRROR_BACKOFF_MS;

	if (!me || (err != -EHOSTUNREACH && err != -ETIMEDOUT))
		return;
	if (__atomic_exchange_n(&me->down_until_ms, until,
				__ATOMIC_RELAXED) <= until - REG_MIRROR_BACKOFF_MS)
		log_info("registry: mirror %s unreachable, not tried for %d s", mirror,
			 REG_MIRROR_BACKOFF_MS / 1000);
}

/* ---- building the table ---- */

static void host_release(struct reg_host *e)
{
	for (char **m = e->mirrors; m && *m; m++)
		free(*m);
	free(e->mirrors);
	free(e->host);
	free(e->ca_file);
	free(e->client_cert);
	free(e->client_key);
}

void reg_hosts_release(struct registry_client *c)
{
	for (size_t i = 0; i < c->n_hosts; i++)
		host_release(&c->hosts[i]);
	free(c->hosts);
	c->hosts = NULL;
	c->n_hosts = 0;
}

static int dup_opt(const char *s, char **out)
{
	*out = NULL;
	return s && !(*out = strdup(s)) ? -ENOMEM : 0;
}

/*
 * mirror_url - the host[:port] of mirror URL @url ("http[s]://host[:port]"
 * with an optional trailing '/') into @out, and whether it is plain http.
 */
static int mirror_url(const char *url, char *out, size_t outsz, bool *plain)
{
	const char *p;
	size_t n;

	if (strncasecmp(url, "https://", 8) == 0) {
		*plain = false;
		p = url + 8;
	} else if (strncasecmp(url, "http://", 7) == 0) {
		*plain = true;
		p = url + 7;
	} else {
		return -EINVAL;
	}
	n = strlen(p);
	if (n && p[n - 1] == '/')
		n--;
	if (!n || n >= outsz)
		return -EINVAL;
	memcpy(out, p, n);
	out[n] = '\0';
	return registry_host_valid(out) ? 0 : -EINVAL;
}

/* The entry keyed exactly @host, made (zeroed but for its key) if absent. */
static struct reg_host *host_entry(struct registry_client *c, const char *host,
				   size_t *cap)
{
	struct reg_host *e;

	for (size_t i = 0; i < c->n_hosts; i++)
		if (strcasecmp(c->hosts[i].host, host) == 0)
			return &c->hosts[i];
	if (c->n_hosts == *cap) {
		size_t ncap = *cap ? *cap * 2 : 8;

		e = reallocarray(c->hosts, ncap, sizeof(*e));
		if (!e)
			return NULL;
		c->hosts = e;
		*cap = ncap;
	}
	e = &c->hosts[c->n_hosts];
	memset(e, 0, sizeof(*e));
	if (!(e->host = strdup(host)))
		return NULL;
	c->n_hosts++;
	return e;
}

/* The mirrors of @o into @e (host[:port] each); their own entries are made. */
static int add_mirrors(struct registry_client *c, size_t ei,
		       const struct registry_host_opts *o, size_t *cap)
{
	static const char *const scheme[] = { "https", "http" };
	size_t n = 0;

	while (o->mirrors && o->mirrors[n])
		n++;
	if (!n)
		return 0;
	if (n > REGISTRY_MIRRORS_MAX) {
		log_err("registry %s: more than %d mirrors", o->host, REGISTRY_MIRRORS_MAX);
		return -EINVAL;
	}
	if (!(c->hosts[ei].mirrors = calloc(n + 1, sizeof(char *))))
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		const char *known;
		struct reg_host *m;
		char mh[300];
		bool plain;

		if (mirror_url(o->mirrors[i], mh, sizeof(mh), &plain)) {
			log_err("registry %s: mirror \"%.200s\" is not http[s]://host[:port]",
				o->host, o->mirrors[i]);
			return -EINVAL;
		}
		/* One scheme per host: a mirror named once with each would
		 * leave it open which one the requests use. */
		known = htab_get(&c->schemes, mh);
		if (known && strcmp(known, scheme[plain]) != 0) {
			log_err("registry %s: mirror %s named with both http and https",
				o->host, mh);
			return -EINVAL;
		}
		if (!known && htab_set(&c->schemes, mh, (void *)scheme[plain], NULL))
			return -ENOMEM;
		/* host_entry() may move the table: index, do not keep pointers. */
		if (!(m = host_entry(c, mh, cap)))
			return -ENOMEM;
		m->plain = m->plain || plain;
		if (!(c->hosts[ei].mirrors[i] = strdup(mh)))
			return -ENOMEM;
	}
	return 0;
}

/*
 * A file the TLS setup names (@what of @host, or of every host) must open now: libcurl reads
 * it at each connection, and one missing or unreadable would otherwise
 * show only as every request to that host failing.
 */
static int file_check(const char *host, const char *what, const char *path)
{
	char c;
	int fd, err = 0;

	if (!path)
		return 0;
	/* A read, not only an open: a directory opens. */
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || read(fd, &c, 1) < 0)
		err = errno;
	if (fd >= 0)
		close(fd);
	if (err) {
		log_err("registry%s%s: %s %s: %s", host ? " " : "", host ? host : "", what,
			path, strerror(err));
		return -EINVAL;
	}
	return 0;
}

int reg_hosts_init(struct registry_client *c, const struct registry_opts *opts)
{
	size_t cap = 0;
	int ret = file_check(NULL, "ca-file", opts->ca_file);

	if (ret)
		return ret;
	for (size_t i = 0; i < opts->n_hosts && !ret; i++) {
		const struct registry_host_opts *o = &opts->hosts[i];
		struct reg_host *e;

		if (!o->host || !registry_host_valid(o->host)) {
			log_err("registry: configured host \"%.200s\" is not host[:port]",
				o->host ? o->host : "");
			return -EINVAL;
		}
		for (size_t j = 0; j < i; j++) {
			if (strcasecmp(opts->hosts[j].host, o->host) == 0) {
				log_err("registry %s: configured twice", o->host);
				return -EINVAL;
			}
		}
		/* A host already made as a mirror of an earlier entry keeps
		 * its plain flag and gets the rest of its settings here. */
		if (!(e = host_entry(c, o->host, &cap)))
			return -ENOMEM;
		e->insecure = o->insecure;
		ret = dup_opt(o->ca_file, &e->ca_file);
		if (!ret)
			ret = dup_opt(o->client_cert, &e->client_cert);
		if (!ret)
			ret = dup_opt(o->client_key, &e->client_key);
		if (!ret && !o->client_cert != !o->client_key) {
			log_err("registry %s: client-cert and client-key go together", o->host);
			ret = -EINVAL;
		}
		if (!ret)
			ret = file_check(o->host, "ca-file", o->ca_file);
		if (!ret)
			ret = file_check(o->host, "client-cert", o->client_cert);
		if (!ret)
			ret = file_check(o->host, "client-key", o->client_key);
		if (!ret)
			ret = add_mirrors(c, (size_t)(e - c->hosts), o, &cap);
	}
	return ret;
}
