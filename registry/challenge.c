/* SPDX-License-Identifier: MIT */
/*
 * challenge.c - the WWW-Authenticate parser: one header value into a
 * struct registry_challenge (scheme, realm, service, scope, error).
 *
 * Owns: nothing but the parse.  It is a file of its own because it is the
 * one piece of the auth path that reads text a server chose, so it is
 * kept pure (no client, no network, no locks) and tested directly
 * (tests/unit/test_auth.c).  The grammar is RFC 7235 §2.1 and §4.1:
 * auth-params separated by commas, values as tokens or quoted strings
 * with backslash escapes.  Every value is capped (CHALLENGE_PARAM_MAX)
 * and control characters are refused, since a realm becomes a URL and
 * any value may reach a log line.
 */
#include "registry.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"

#define CHALLENGE_PARAM_MAX 4096

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

	buf_init(&b, CHALLENGE_PARAM_MAX);
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

/*
 * registry_challenge_parse - see registry.h.  A token not followed by '='
 * ends the parameter list: it starts the next challenge (or is a token68
 * of this one, which no registry scheme we answer uses).
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
