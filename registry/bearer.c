/* SPDX-License-Identifier: MIT */
/*
 * bearer.c - the Bearer token flow of the distribution spec: check the
 * realm a challenge names, ask it for a token for one scope, and validate
 * what comes back.
 *
 * Owns: nothing that outlives a call.  Caching the token (and deciding
 * how long to keep it) is auth.c's job; this file only talks to the token
 * server, so the rules about where credentials may be sent sit in one
 * place:
 *  - the realm must be https, or http to a host that may be reached over
 *    plain HTTP at all (loopback or listed insecure, reg_host_plain_ok());
 *  - user/password go to the realm as Basic on a GET; an identity token
 *    (user REG_IDENTITY_USER) is an OAuth2 refresh token and goes in a
 *    POST body, which http.c never lets a redirect carry along;
 *  - the token must be printable ASCII without blanks and at most
 *    BEARER_TOKEN_MAX bytes, since it is pasted into a header line.
 * Every buffer that held a secret is zeroed before it is freed.
 */
#include "registry.h"
#include "registry_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "log.h"

#define BEARER_TOKEN_MAX (64 * 1024)
/* Docker assumes 60 s when expires_in is absent or smaller. */
#define BEARER_TTL_MIN 60
#define BEARER_TTL_MAX (366 * 86400)

static bool token_chars_ok(const char *t)
{
	size_t n = strlen(t);

	if (n == 0 || n > BEARER_TOKEN_MAX)
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

/*
 * The token request for @ch and @scope: a POST form for an identity
 * token (into @form, url = realm), else a GET with service and scope in
 * the query and, with a user, Basic credentials (*basic, caller frees).
 */
static int token_request(const struct registry_challenge *ch, const char *scope,
			 const char *user, const char *secret, struct buf *url,
			 struct buf *form, char **basic)
{
	int ret;

	if (user && strcmp(user, REG_IDENTITY_USER) == 0) {
		ret = buf_addstr(form, "grant_type=refresh_token&client_id=imgfs&service=");
		ret = ret ? ret : http_escape(form, ch->service ? ch->service : "");
		ret = ret ? ret : buf_addstr(form, "&scope=");
		ret = ret ? ret : http_escape(form, scope);
		ret = ret ? ret : buf_addstr(form, "&refresh_token=");
		ret = ret ? ret : http_escape(form, secret);
		return ret ? ret : buf_addstr(url, ch->realm);
	}
	ret = buf_printf(url, "%s%c", ch->realm, strchr(ch->realm, '?') ? '&' : '?');
	if (!ret && ch->service) {
		ret = buf_addstr(url, "service=");
		ret = ret ? ret : http_escape(url, ch->service);
		ret = ret ? ret : buf_addstr(url, "&");
	}
	ret = ret ? ret : buf_addstr(url, "scope=");
	ret = ret ? ret : http_escape(url, scope);
	if (!ret && user)
		ret = reg_basic_value(user, secret, basic);
	return ret;
}

/*
 * The token and its lifetime from a token server's JSON answer ("token",
 * else "access_token"; "expires_in" clamped to BEARER_TTL_MIN..MAX).
 */
static int token_parse(const struct buf *body, const char *host, const char *logurl,
		       struct buf *val, int64_t *ttl)
{
	json_t *root, *tok, *exp;
	int ret = -EIO;

	root = json_loadb(body->data ? body->data : "", body->len,
			  JSON_REJECT_DUPLICATES, NULL);
	tok = json_object_get(root, "token");
	if (!json_is_string(tok) || !json_string_length(tok))
		tok = json_object_get(root, "access_token");
	if (!json_is_string(tok) || !token_chars_ok(json_string_value(tok))) {
		log_err("registry %s: token response from %s has no usable token", host,
			logurl);
		goto out;
	}
	exp = json_object_get(root, "expires_in");
	*ttl = BEARER_TTL_MIN;
	if (json_is_integer(exp) && json_integer_value(exp) > BEARER_TTL_MIN &&
	    json_integer_value(exp) < BEARER_TTL_MAX)
		*ttl = json_integer_value(exp);
	ret = buf_printf(val, "Bearer %s", json_string_value(tok));
out:
	json_decref(root);
	return ret;
}

int reg_bearer_fetch(struct registry_client *c, const char *host,
		     const struct registry_challenge *ch, const char *scope,
		     const char *user, const char *secret, char **out, int64_t *ttl)
{
	struct http_req req = { 0 };
	struct http_resp *resp = NULL;
	struct buf url, form, body, val;
	char *basic = NULL, logurl[256];
	int ret;

	*out = NULL;
	*ttl = 0;
	buf_init(&url, 16384);
	buf_init(&form, 128 * 1024);
	buf_init(&body, REG_SMALL_MAX);
	buf_init(&val, BEARER_TOKEN_MAX + 16);
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
	ret = token_request(ch, scope, user, secret, &url, &form, &basic);
	if (ret)
		goto out;
	req.url = buf_str(&url);
	req.form = form.len ? buf_str(&form) : NULL;	/* identity token */
	req.auth = basic;
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
	ret = token_parse(&body, host, logurl, &val, ttl);
	if (ret)
		goto out;
	*out = buf_detach(&val, NULL);
	ret = *out ? 0 : -ENOMEM;
out:
	reg_buf_release_secret(&body);
	reg_buf_release_secret(&form);
	reg_buf_release_secret(&val);
	buf_release(&url);
	reg_secret_free(basic);
	free(resp);
	return ret;
}
