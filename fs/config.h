/* SPDX-License-Identifier: MIT */
/*
 * config.h - the daemon's configuration file (-o config=FILE): what it
 * holds for the registry client, read and checked once at start.
 */
#ifndef IMGFS_FS_CONFIG_H
#define IMGFS_FS_CONFIG_H

#include <stddef.h>

#include <jansson.h>

#include "registry.h"

/*
 * What config=FILE holds that the registry client needs.  The keys follow
 * Docker's daemon.json where it has one ("insecure-registries",
 * "registry-mirrors"); "registries" holds per-host settings (mirrors,
 * insecure, ca-file, client-cert, client-key), what containerd's
 * hosts.toml and Docker's certs.d say per host.  Every key is checked:
 * an unknown one is an error that names it, not a silent typo.
 */
struct fs_config {
	json_t *root;
	const char **insecure;	/* NULL-terminated, strings owned by root */
	const char *ca_file;
	struct registry_host_opts *hosts;	/* "registries", then docker.io */
	size_t n_hosts;
};

/**
 * fs_config_load() - read and check config file @path (NULL: none) into
 * @cfg.  Every key is known or the load fails naming it.
 *
 * Return: 0, or -EINVAL with a log line naming the file and the key,
 * -ENOMEM.  @cfg is to be released by fs_config_release() either way.
 */
int fs_config_load(const char *path, struct fs_config *cfg);

/** fs_config_release() - free what fs_config_load() allocated. */
void fs_config_release(struct fs_config *cfg);

#endif
