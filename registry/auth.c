/* SPDX-License-Identifier: MIT */
/*
 * auth.c - the per-client cache of Authorization values and credentials,
 * Basic authentication, and the answer to a 401 (reg_auth_obtain), which
 * picks Basic here or the Bearer flow of bearer.c by the challenge's
 * scheme (parsed by challenge.c).
 *
 * Owns: client->tokens ("host scope" -> struct auth_entry) and
 * client->creds (host -> struct creds_entry), both under client->lock,
 * which is never held across a network request or a credential helper.
 *
 * Design notes: credentials go only where a registry sent us: to that
 * registry (Basic) or to the realm its challenge names (Bearer; the realm
 * rules are in bearer.c).  Tokens are kept for the lifetime the token
 * server gave minus AUTH_TOKEN_MARGIN; an expired token is simply not
 * used, and the next 401 fetches a new one.  Credentials are looked up
 * once per host and client (also when there are none), so a credential
 * helper runs once, not once per request.  Secrets are zeroed before they
 * are freed and never logged.  Two threads that miss the cache at once
 * may both fetch a token; the later one wins, which costs a request and
 * nothing else.
 */
#include "registry.h"
#include "registry_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>

#include "log.h"

/* Seconds before its end at which a token is no longer used. */
#define AUTH_TOKEN_MARGIN 10

struct auth_entry {
	char *value;		/* "Bearer ..." or "Basic ..." */
	int64_t expires;	/* CLOCK_MONOTONIC seconds; 0: never */
};

struct creds_entry {
	char *user;		/* NULL: no credentials for this host */
	char *secret;
};

static int64_t now_mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}

/* ---- the caches ---- */

static int cache_key(struct buf *k, const char *host, const char *scope)
{
	buf_init(k, 1024);
	return buf_printf(k, "%s %s", host, scope);
}

static void auth_entry_free(struct auth_entry *e)
{
	if (!e)
		return;
	reg_secret_free(e->value);
	free(e);
}

char *reg_auth_cached(struct registry_client *c, const char *host, const char *scope)
{
	struct auth_entry *e;
	struct buf k;
	char *v = NULL;

	if (cache_key(&k, host, scope)) {
		buf_release(&k);
		return NULL;
	}
	pthread_mutex_lock(&c->lock);
	e = htab_get(&c->tokens, buf_str(&k));
	if (e && (!e->expires || e->expires > now_mono()))
		v = strdup(e->value);
	pthread_mutex_unlock(&c->lock);
	buf_release(&k);
	return v;
}

static void cache_store(struct registry_client *c, const char *host, const char *scope,
			const char *value, int64_t expires)
{
	struct auth_entry *e = calloc(1, sizeof(*e)), *old = NULL;
	struct buf k;

	if (!e || cache_key(&k, host, scope)) {
		free(e);
		return;
	}
	e->value = strdup(value);
	e->expires = expires;
	if (e->value) {
		pthread_mutex_lock(&c->lock);
		if (htab_set(&c->tokens, buf_str(&k), e, (void **)&old) == 0)
			e = NULL;
		pthread_mutex_unlock(&c->lock);
	}
	auth_entry_free(old);
	auth_entry_free(e);
	buf_release(&k);
}

void reg_auth_forget(struct registry_client *c, const char *host, const char *scope)
{
	struct auth_entry *e = NULL;
	struct buf k;

	if (cache_key(&k, host, scope) == 0) {
		pthread_mutex_lock(&c->lock);
		e = htab_del(&c->tokens, buf_str(&k));
		pthread_mutex_unlock(&c->lock);
	}
	auth_entry_free(e);
	buf_release(&k);
}

static void creds_entry_free(struct creds_entry *e)
{
	if (!e)
		return;
	reg_creds_clear(&e->user, &e->secret);
	free(e);
}

void reg_auth_cache_release(struct registry_client *c)
{
	struct htab_ent *e;
	size_t it;

	for (e = htab_first(&c->tokens, &it); e; e = htab_next(&c->tokens, &it, e))
		auth_entry_free(e->val);
	for (e = htab_first(&c->creds, &it); e; e = htab_next(&c->creds, &it, e))
		creds_entry_free(e->val);
	htab_release(&c->tokens);
	htab_release(&c->creds);
}

/* Credentials for @host, looked up once per client (also when none). */
static int creds_get(struct registry_client *c, const char *host, char **user,
		     char **secret)
{
	struct creds_entry *e, *mine;
	int ret;

	*user = *secret = NULL;
	pthread_mutex_lock(&c->lock);
	e = htab_get(&c->creds, host);
	if (e && e->user) {
		*user = strdup(e->user);
		*secret = strdup(e->secret);
	}
	pthread_mutex_unlock(&c->lock);
	if (e)
		goto out;
	mine = calloc(1, sizeof(*mine));
	if (!mine)
		return -ENOMEM;
	ret = registry_creds_lookup(c->docker_config, host, &mine->user, &mine->secret);
	if (ret)
		log_warn("registry %s: credential lookup failed (%s); going anonymous",
			 host, strerror(-ret));
	if (ret || !mine->user || !mine->secret) {
		reg_creds_clear(&mine->user, &mine->secret);
	} else {
		*user = strdup(mine->user);
		*secret = strdup(mine->secret);
	}
	pthread_mutex_lock(&c->lock);
	if (!htab_get(&c->creds, host) && htab_set(&c->creds, host, mine, NULL) == 0)
		mine = NULL;
	pthread_mutex_unlock(&c->lock);
	creds_entry_free(mine);
out:
	if ((*user && !*secret) || (!*user && *secret)) {
		reg_creds_clear(user, secret);
		return -ENOMEM;
	}
	return 0;
}

static int base64_encode(const char *in, size_t n, char **out)
{
	size_t olen;

	*out = NULL;
	if (n > (1u << 20))
		return -EINVAL;
	olen = 4 * ((n + 2) / 3) + 1;
	*out = malloc(olen);
	if (!*out)
		return -ENOMEM;
	EVP_EncodeBlock((unsigned char *)*out, (const unsigned char *)in, (int)n);
	return 0;
}

int reg_basic_value(const char *user, const char *secret, char **out)
{
	struct buf up;
	char *b64 = NULL;
	int ret;

	*out = NULL;
	buf_init(&up, 64 * 1024);
	ret = buf_printf(&up, "%s:%s", user, secret);
	if (!ret)
		ret = base64_encode(buf_str(&up), up.len, &b64);
	reg_buf_release_secret(&up);
	if (ret)
		return ret;
	buf_init(&up, 128 * 1024);
	ret = buf_printf(&up, "Basic %s", b64);
	reg_secret_free(b64);
	if (ret) {
		buf_release(&up);
		return ret;
	}
	*out = buf_detach(&up, NULL);
	return *out ? 0 : -ENOMEM;
}

int reg_auth_obtain(struct registry_client *c, const char *host, const char *scope,
		const char *www_auth, char **out)
{
	struct registry_challenge ch;
	char *user = NULL, *secret = NULL;
	int64_t ttl = 0, expires = 0;
	int ret;

	*out = NULL;
	if (registry_challenge_parse(www_auth, &ch)) {
		log_err("registry %s: 401 without a usable WWW-Authenticate challenge", host);
		return -EACCES;
	}
	ret = creds_get(c, host, &user, &secret);
	if (ret)
		goto out;
	if (strcmp(ch.scheme, "Basic") == 0) {
		if (!user || strcmp(user, REG_IDENTITY_USER) == 0) {
			log_err("registry %s: Basic authentication required, no credentials",
				host);
			ret = -EACCES;
			goto out;
		}
		ret = reg_basic_value(user, secret, out);
	} else if (strcmp(ch.scheme, "Bearer") == 0) {
		if (!ch.realm || !*ch.realm) {
			log_err("registry %s: Bearer challenge without realm", host);
			ret = -EACCES;
			goto out;
		}
		ret = reg_bearer_fetch(c, host, &ch, scope, user, secret, out, &ttl);
		expires = now_mono() + ttl - AUTH_TOKEN_MARGIN;
	} else {
		log_err("registry %s: unsupported auth scheme %s", host, ch.scheme);
		ret = -EACCES;
	}
	if (!ret)
		cache_store(c, host, scope, *out, expires);
out:
	reg_creds_clear(&user, &secret);
	registry_challenge_release(&ch);
	return ret;
}
