/* SPDX-License-Identifier: MIT */
/*
 * config.c - parses the configuration file of -o config=FILE (Docker's
 * daemon.json keys plus per-host "registries") into the host options of
 * the registry client.  Knows nothing of FUSE; main.c owns the result.
 */
#include <errno.h>
#include <string.h>
#include <stdlib.h>

#include "config.h"
#include "log.h"

/* Array @arr of strings, named @what, as a NULL-terminated array in *@out
 * (the caller frees the array; the strings belong to the JSON). */
static int config_strings(const char *path, const char *what, json_t *arr,
			  const char ***out)
{
	json_t *val;
	size_t i;

	if (!json_is_array(arr)) {
		log_err("config %s: %s must be an array", path, what);
		return -EINVAL;
	}
	*out = calloc(json_array_size(arr) + 1, sizeof(char *));
	if (!*out)
		return -ENOMEM;
	json_array_foreach(arr, i, val) {
		if (!json_is_string(val)) {
			log_err("config %s: %s[%zu] is not a string", path, what, i);
			return -EINVAL;
		}
		(*out)[i] = json_string_value(val);
	}
	return 0;
}

/* String @val (NULL: absent), named @what, into *@out. */
static int config_string(const char *path, const char *what, json_t *val,
			 const char **out)
{
	if (val && !json_is_string(val)) {
		log_err("config %s: %s must be a string", path, what);
		return -EINVAL;
	}
	*out = val ? json_string_value(val) : NULL;
	return 0;
}

/* One entry of "registries": @host's object @obj into @h. */
static int config_host(const char *path, const char *host, json_t *obj,
		       struct registry_host_opts *h)
{
	const char *key;
	json_t *val;
	int ret = 0;

	h->host = host;
	if (!json_is_object(obj)) {
		log_err("config %s: registries.%s must be an object", path, host);
		return -EINVAL;
	}
	json_object_foreach(obj, key, val) {
		if (!strcmp(key, "mirrors")) {
			ret = config_strings(path, "mirrors", val,
					     (const char ***)&h->mirrors);
		} else if (!strcmp(key, "insecure")) {
			if (!json_is_boolean(val)) {
				log_err("config %s: registries.%s.insecure must be true or false",
					path, host);
				return -EINVAL;
			}
			h->insecure = json_is_true(val);
		} else if (!strcmp(key, "ca-file")) {
			ret = config_string(path, key, val, &h->ca_file);
		} else if (!strcmp(key, "client-cert")) {
			ret = config_string(path, key, val, &h->client_cert);
		} else if (!strcmp(key, "client-key")) {
			ret = config_string(path, key, val, &h->client_key);
		} else {
			log_err("config %s: unknown key \"%s\" in registries.%s", path,
				key, host);
			return -EINVAL;
		}
		if (ret)
			return ret;
	}
	return 0;
}

/* "registries" and "registry-mirrors" (the mirrors of docker.io) into
 * cfg->hosts. */
static int config_hosts(const char *path, struct fs_config *cfg)
{
	json_t *regs = json_object_get(cfg->root, "registries");
	json_t *hub = json_object_get(cfg->root, "registry-mirrors");
	struct registry_host_opts *h = NULL;
	const char *key;
	json_t *val;
	int ret;

	if (regs && !json_is_object(regs)) {
		log_err("config %s: registries must be an object", path);
		return -EINVAL;
	}
	cfg->hosts = calloc(json_object_size(regs) + 1, sizeof(*cfg->hosts));
	if (!cfg->hosts)
		return -ENOMEM;
	json_object_foreach(regs, key, val) {
		ret = config_host(path, key, val, &cfg->hosts[cfg->n_hosts++]);
		if (ret)
			return ret;
	}
	if (!hub)
		return 0;
	for (size_t i = 0; i < cfg->n_hosts; i++)
		if (!strcmp(cfg->hosts[i].host, REGISTRY_DOCKER_HUB))
			h = &cfg->hosts[i];
	if (h && h->mirrors) {
		log_err("config %s: registry-mirrors and registries.%s.mirrors both given",
			path, REGISTRY_DOCKER_HUB);
		return -EINVAL;
	}
	if (!h) {
		h = &cfg->hosts[cfg->n_hosts++];
		h->host = REGISTRY_DOCKER_HUB;
	}
	return config_strings(path, "registry-mirrors", hub, (const char ***)&h->mirrors);
}

int fs_config_load(const char *path, struct fs_config *cfg)
{
	static const char *const keys[] = { "insecure-registries", "ca-file",
					    "registry-mirrors", "registries" };
	json_error_t jerr;
	json_t *val;
	const char *key;
	int ret;

	memset(cfg, 0, sizeof(*cfg));
	if (!path)
		return 0;
	cfg->root = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
	if (!cfg->root || !json_is_object(cfg->root)) {
		log_err("config %s: %s (line %d)", path,
			cfg->root ? "not a JSON object" : jerr.text, jerr.line);
		return -EINVAL;
	}
	json_object_foreach(cfg->root, key, val) {
		size_t i = 0;

		while (i < sizeof(keys) / sizeof(keys[0]) && strcmp(key, keys[i]))
			i++;
		if (i == sizeof(keys) / sizeof(keys[0])) {
			log_err("config %s: unknown key \"%s\"", path, key);
			return -EINVAL;
		}
	}
	val = json_object_get(cfg->root, "insecure-registries");
	if (val) {
		ret = config_strings(path, "insecure-registries", val, &cfg->insecure);
		if (ret)
			return ret;
	}
	ret = config_string(path, "ca-file", json_object_get(cfg->root, "ca-file"),
			    &cfg->ca_file);
	if (!ret)
		ret = config_hosts(path, cfg);
	return ret;
}

void fs_config_release(struct fs_config *cfg)
{
	for (size_t i = 0; i < cfg->n_hosts; i++)
		free((void *)cfg->hosts[i].mirrors);
	free(cfg->hosts);
	free(cfg->insecure);
	json_decref(cfg->root);
}
