/* SPDX-License-Identifier: MIT */
/*
 * auth.c - WWW-Authenticate challenges, Bearer tokens, Basic credentials,
 * and the per-client cache of Authorization values.
 *
 * Owns: client->tokens ("host scope" -> struct auth_entry) and
 * client->creds (host -> struct creds_entry), both under client->lock,
 * which is never held across a network request or a credential helper.
 *
 * Design notes: credentials go only where a registry sent us: to that
 * registry (Basic) or to the realm its challenge names (Bearer), and the
 * realm must be https unless its host is loopback or listed insecure.
 * Tokens are kept until expires_in (at least 60 s, as Docker assumes)
 * minus a margin; an expired token is simply not used, and the next 401
 * fetches a new one.  Secrets are zeroed before they are freed and never
 * logged.  Two threads that miss the cache at once may both fetch a
 * token; the later one wins, which costs a request and nothing else.
 */
#include "registry.h"
#include "registry_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <jansson.h>

#include "log.h"

#define AUTH_PARAM_MAX 4096
#define TOKEN_MAX (64 * 1024)
#define TOKEN_MARGIN 10

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

/* ---- challenge parsing (RFC 7235 §2.1, §4.1) ---- */

static bool is_tchar(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
	       (ch >= '0' && ch <= '9') || (ch && strchr("!#$%&'*+-.^_`|~", ch));
}

static const char *skip_ows(const char *p)
{
	while (*p == ' ' || *p == '\t')
		p++;
	return p;
}

void registry_challenge_release(struct registry_challenge *ch)
{
	free(ch->realm);
	free(ch->service);
	free(ch->scope);
	free(ch->error);
	memset(ch, 0, sizeof(*ch));
}

/* A token or quoted-string value at *pp into a new string. */
static int parse_value(const char **pp, char **out)
{
	const char *p = *pp;
	struct buf b;
	int ret = 0;

	buf_init(&b, AUTH_PARAM_MAX);
	if (*p == '"') {
		for (p++; *p != '"'; p++) {
			if (*p == '\\')
				p++;
			/* No controls: a value may end up in a URL or a log. */
			if (!*p || (unsigned char)*p < 0x20 || *p == 0x7f) {
				ret = -EINVAL;
				break;
			}
			ret = buf_add(&b, p, 1);
			if (ret)
				break;
		}
		if (!ret)
			p++;
	} else {
		const char *s = p;

		while (is_tchar(*p) || *p == '/' || *p == ':')
			p++;
		ret = p == s ? -EINVAL : buf_add(&b, s, (size_t)(p - s));
	}
	if (ret) {
		buf_release(&b);
		return ret == -EFBIG ? -EINVAL : ret;
	}
	*out = buf_detach(&b, NULL);
	*pp = p;
	return *out ? 0 : -ENOMEM;
}

/**
 * registry_challenge_parse - parse the first challenge of a header value.
 * A second challenge in the same value ("Bearer realm=..., Basic ...")
 * ends the first.  Duplicate or malformed parameters are -EINVAL; unknown
 * parameters are skipped.  Scheme names are returned as "Bearer" and
 * "Basic" whatever their case; other schemes are copied as sent.
 */
int registry_challenge_parse(const char *value, struct registry_challenge *out)
{
	struct registry_challenge ch = { 0 };
	const char *p = skip_ows(value ? value : ""), *s = p;
	size_t n;
	int ret = -EINVAL;

	memset(out, 0, sizeof(*out));
	while (is_tchar(*p))
		p++;
	n = (size_t)(p - s);
	if (n == 0 || n >= sizeof(ch.scheme))
		return -EINVAL;
	memcpy(ch.scheme, s, n);
	if (strcasecmp(ch.scheme, "bearer") == 0)
		memcpy(ch.scheme, "Bearer", 7);
	else if (strcasecmp(ch.scheme, "basic") == 0)
		memcpy(ch.scheme, "Basic", 6);
	if (*p && *p != ' ' && *p != '\t')
		goto out;
	p = skip_ows(p);
	while (*p) {
		const char *name = p;
		char **slot = NULL, *val = NULL;
		size_t nl;

		if (*p == ',') {	/* empty list elements are allowed */
			p = skip_ows(p + 1);
			continue;
		}
		while (is_tchar(*p))
			p++;
		nl = (size_t)(p - name);
		if (!nl)
			goto out;
		p = skip_ows(p);
		if (*p != '=') {
			/* A token not followed by '=' starts the next challenge
			 * (or is a token68 of this one, which we do not use). */
			break;
		}
		p = skip_ows(p + 1);
		ret = parse_value(&p, &val);
		if (ret)
			goto out;
		ret = -EINVAL;
		if (nl == 5 && strncasecmp(name, "realm", 5) == 0)
			slot = &ch.realm;
		else if (nl == 7 && strncasecmp(name, "service", 7) == 0)
			slot = &ch.service;
		else if (nl == 5 && strncasecmp(name, "scope", 5) == 0)
			slot = &ch.scope;
		else if (nl == 5 && strncasecmp(name, "error", 5) == 0)
			slot = &ch.error;
		if (slot && *slot) {
			free(val);
			goto out;	/* RFC 7235: each parameter only once */
		}
		if (slot)
			*slot = val;
		else
			free(val);
		p = skip_ows(p);
		if (*p && *p != ',')
			goto out;
	}
	*out = ch;
	memset(&ch, 0, sizeof(ch));
	ret = 0;
out:
	registry_challenge_release(&ch);
	return ret;
}

/* ---- the caches ---- */

static int cache_key(struct buf *k, const char *host, const char *scope)
{
	buf_init(k, 1024);
	return buf_printf(k, "%s %s", host, scope);
}

static void entry_free(struct auth_entry *e)
{
	if (!e)
		return;
	reg_secret_free(e->value);
	free(e);
}

char *auth_cached(struct registry_client *c, const char *host, const char *scope)
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

static void auth_store(struct registry_client *c, const char *host, const char *scope,
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
	entry_free(old);
	entry_free(e);
	buf_release(&k);
}

void auth_forget(struct registry_client *c, const char *host, const char *scope)
{
	struct auth_entry *e = NULL;
	struct buf k;

	if (cache_key(&k, host, scope) == 0) {
		pthread_mutex_lock(&c->lock);
		e = htab_del(&c->tokens, buf_str(&k));
		pthread_mutex_unlock(&c->lock);
	}
	entry_free(e);
	buf_release(&k);
}

static void creds_entry_free(struct creds_entry *e)
{
	if (!e)
		return;
	reg_secret_free(e->user);
	reg_secret_free(e->secret);
	free(e);
}

void auth_cache_release(struct registry_client *c)
{
	struct htab_ent *e;
	size_t it;

	for (e = htab_first(&c->tokens, &it); e; e = htab_next(&c->tokens, &it, e))
		entry_free(e->val);
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
		reg_secret_free(mine->user);
		reg_secret_free(mine->secret);
		mine->user = mine->secret = NULL;
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
		reg_secret_free(*user);
		reg_secret_free(*secret);
		*user = *secret = NULL;
		return -ENOMEM;
	}
	return 0;
}

static int basic_value(const char *user, const char *secret, char **out)
{
	struct buf up;
	char *b64 = NULL;
	int ret;

	*out = NULL;
	buf_init(&up, 64 * 1024);
	ret = buf_printf(&up, "%s:%s", user, secret);
	if (!ret)
		ret = reg_base64_encode(buf_str(&up), up.len, &b64);
	if (up.data)
		explicit_bzero(up.data, up.len);
	buf_release(&up);
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

static bool token_chars_ok(const char *t)
{
	size_t n = strlen(t);

	if (n == 0 || n > TOKEN_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)t[i] < 0x21 || (unsigned char)t[i] > 0x7e)
			return false;
	return true;
}

/* Where a realm URL may be used: https, or http to a plain-ok host. */
static bool realm_ok(struct registry_client *c, const char *realm)
{
	CURLU *u = curl_url();
	char *scheme = NULL, *host = NULL, *port = NULL;
	bool ok = false;

	if (u && curl_url_set(u, CURLUPART_URL, realm, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK) {
		if (strcasecmp(scheme, "https") == 0) {
			ok = true;
		} else if (strcasecmp(scheme, "http") == 0) {
			char hp[300];

			if (curl_url_get(u, CURLUPART_PORT, &port, 0) == CURLUE_OK)
				snprintf(hp, sizeof(hp), "%s:%s", host, port);
			else
				snprintf(hp, sizeof(hp), "%s", host);
			ok = reg_host_plain_ok(c, hp);
		}
	}
	curl_free(scheme);
	curl_free(host);
	curl_free(port);
	curl_url_cleanup(u);
	return ok;
}

/* Fetch a Bearer token for @ch and @scope; *out = "Bearer <token>". */
static int token_fetch(struct registry_client *c, const char *host,
		       const struct registry_challenge *ch, const char *scope,
		       const char *user, const char *secret, char **out,
		       int64_t *expires)
{
	struct http_req req = { 0 };
	struct http_resp *resp = NULL;
	struct buf url, form, body, val;
	json_t *root = NULL, *tok, *exp;
	char *basic = NULL, logurl[256];
	bool identity = user && strcmp(user, "<token>") == 0;
	int ret;

	*out = NULL;
	buf_init(&url, 16384);
	buf_init(&form, 128 * 1024);
	buf_init(&body, REG_SMALL_MAX);
	buf_init(&val, TOKEN_MAX + 16);
	http_url_for_log(ch->realm, logurl, sizeof(logurl));
	if (!realm_ok(c, ch->realm)) {
		log_err("registry %s: refusing token realm %s (not https)", host, logurl);
		ret = -EACCES;
		goto out;
	}
	ret = -ENOMEM;
	resp = calloc(1, sizeof(*resp));
	if (!resp)
		goto out;
	if (identity) {
		/* An identity token is an OAuth2 refresh token (POST form). */
		ret = buf_addstr(&form, "grant_type=refresh_token&client_id=imgfs&service=");
		ret = ret ? ret : http_escape(&form, ch->service ? ch->service : "");
		ret = ret ? ret : buf_addstr(&form, "&scope=");
		ret = ret ? ret : http_escape(&form, scope);
		ret = ret ? ret : buf_addstr(&form, "&refresh_token=");
		ret = ret ? ret : http_escape(&form, secret);
		ret = ret ? ret : buf_addstr(&url, ch->realm);
		req.form = buf_str(&form);
	} else {
		ret = buf_printf(&url, "%s%c", ch->realm, strchr(ch->realm, '?') ? '&' : '?');
		if (!ret && ch->service) {
			ret = buf_addstr(&url, "service=");
			ret = ret ? ret : http_escape(&url, ch->service);
			ret = ret ? ret : buf_addstr(&url, "&");
		}
		ret = ret ? ret : buf_addstr(&url, "scope=");
		ret = ret ? ret : http_escape(&url, scope);
		if (!ret && user)
			ret = basic_value(user, secret, &basic);
		req.auth = basic;
	}
	if (ret)
		goto out;
	req.url = buf_str(&url);
	req.body = &body;
	req.tls_noverify = false;
	ret = http_do(c, &req, resp);
	if (ret == -EFBIG) {
		log_err("registry %s: token response from %s larger than %zu bytes", host,
			logurl, body.max);
		ret = -EIO;
		goto out;
	}
	if (ret) {
		if (resp->status)
			log_err("registry %s: token request to %s: HTTP %ld %s", host, logurl,
				resp->status, resp->err_code);
		goto out;
	}
	ret = -EIO;
	root = json_loadb(body.data ? body.data : "", body.len, JSON_REJECT_DUPLICATES, NULL);
	tok = json_object_get(root, "token");
	if (!json_is_string(tok) || !json_string_length(tok))
		tok = json_object_get(root, "access_token");
	if (!json_is_string(tok) || !token_chars_ok(json_string_value(tok))) {
		log_err("registry %s: token response from %s has no usable token", host,
			logurl);
		goto out;
	}
	exp = json_object_get(root, "expires_in");
	*expires = 60;
	if (json_is_integer(exp) && json_integer_value(exp) > 60 &&
	    json_integer_value(exp) < 366 * 86400)
		*expires = json_integer_value(exp);
	*expires += now_mono() - TOKEN_MARGIN;
	ret = buf_printf(&val, "Bearer %s", json_string_value(tok));
	if (ret)
		goto out;
	*out = buf_detach(&val, NULL);
	ret = *out ? 0 : -ENOMEM;
out:
	json_decref(root);
	if (body.data)
		explicit_bzero(body.data, body.len);
	if (form.data)
		explicit_bzero(form.data, form.len);
	if (val.data)
		explicit_bzero(val.data, val.len);
	buf_release(&url);
	buf_release(&form);
	buf_release(&body);
	buf_release(&val);
	reg_secret_free(basic);
	free(resp);
	return ret;
}

/**
 * auth_obtain - answer a 401 from @host for @scope.  Returns the value of
 * the Authorization header to retry with (also cached) or -EACCES (logged)
 * when there is nothing to retry with.
 */
int auth_obtain(struct registry_client *c, const char *host, const char *scope,
		const char *www_auth, char **out)
{
	struct registry_challenge ch;
	char *user = NULL, *secret = NULL;
	int64_t expires = 0;
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
		if (!user || strcmp(user, "<token>") == 0) {
			log_err("registry %s: Basic authentication required, no credentials",
				host);
			ret = -EACCES;
			goto out;
		}
		ret = basic_value(user, secret, out);
	} else if (strcmp(ch.scheme, "Bearer") == 0) {
		if (!ch.realm || !*ch.realm) {
			log_err("registry %s: Bearer challenge without realm", host);
			ret = -EACCES;
			goto out;
		}
		ret = token_fetch(c, host, &ch, scope, user, secret, out, &expires);
	} else {
		log_err("registry %s: unsupported auth scheme %s", host, ch.scheme);
		ret = -EACCES;
	}
	if (!ret)
		auth_store(c, host, scope, *out, expires);
out:
	reg_secret_free(user);
	reg_secret_free(secret);
	registry_challenge_release(&ch);
	return ret;
}
