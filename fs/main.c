/* SPDX-License-Identifier: MIT */
/*
 * main.c - command line, configuration, and the FUSE session.
 *
 *   imgfs [options] MOUNTPOINT
 *
 * Owns the mount context (struct fs_ctx), the registry client and the
 * store for the life of the mount.  Options follow FUSE conventions: -f,
 * -d, -s, -h, -V and -o, with imgfs's own -o keys (store=, registry=,
 * config=, log_level=, threads=, cache_size=, pull_group=) taken out
 * before libfuse sees the rest.
 */
#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fuse_lowlevel.h>
#include <jansson.h>

#include "file.h"
#include "fs.h"
#include "ops.h"
#include "log.h"
#include "registry.h"
#include "store.h"

struct imgfs_opts {
	char *store;
	char *registry;
	char *config;
	char *log_level;
	char *cache_size;
	char *pull_group;
	int threads;
	int show_version;
	int show_help;
};

#define OPT(t, p) { t, offsetof(struct imgfs_opts, p), 1 }
static const struct fuse_opt imgfs_opt_spec[] = {
	OPT("store=%s", store),
	OPT("registry=%s", registry),
	OPT("config=%s", config),
	OPT("log_level=%s", log_level),
	OPT("threads=%d", threads),
	OPT("cache_size=%s", cache_size),
	OPT("pull_group=%s", pull_group),
	FUSE_OPT_END
};

static void usage(const char *prog)
{
	printf("usage: %s [options] MOUNTPOINT\n\n"
	       "Mounts container images as a filesystem: repos/NAME/TAG pulls lazily.\n\n"
	       "imgfs options:\n"
	       "    -o store=DIR           the image store (default /var/lib/imgfs as root,\n"
	       "                           $XDG_DATA_HOME/imgfs otherwise)\n"
	       "    -o registry=HOST[:PORT] the default registry (default docker.io)\n"
	       "    -o config=FILE         JSON: insecure-registries, ca-file\n"
	       "    -o log_level=LEVEL     error, warn, info or debug (default warn;\n"
	       "                           -d sets debug)\n"
	       "    -o threads=N           most worker threads (default 128)\n"
	       "    -o cache_size=SIZE     decompressed layer bytes kept in STORE/cache,\n"
	       "                           bytes or with K, M, G (default 4G; 0: none)\n"
	       "    -o pull_group=GROUP    members of GROUP (name or number) may pull names\n"
	       "                           that are not local, as the mounting user may\n\n",
	       prog);
}

#define IMGFS_CACHE_DEFAULT ((uint64_t)4 << 30)

/* "SIZE" of cache_size=: digits, optionally K, M or G (powers of 1024). */
static int size_parse(const char *str, uint64_t *out)
{
	unsigned long long v;
	unsigned shift = 0;
	char *end;

	if (*str < '0' || *str > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(str, &end, 10);
	if (errno)
		return -EINVAL;
	switch (*end) {
	case 'K': case 'k': shift = 10; end++; break;
	case 'M': case 'm': shift = 20; end++; break;
	case 'G': case 'g': shift = 30; end++; break;
	default: break;
	}
	if (*end || v > (UINT64_MAX >> shift))
		return -EINVAL;
	*out = (uint64_t)v << shift;
	return 0;
}

/* The store directory when none is given: /var/lib/imgfs as root, else
 * $XDG_DATA_HOME/imgfs or ~/.local/share/imgfs. */
static int default_store(char *out, size_t len)
{
	const char *xdg = getenv("XDG_DATA_HOME");
	const char *home = getenv("HOME");

	if (geteuid() == 0)
		snprintf(out, len, "/var/lib/imgfs");
	else if (xdg && *xdg)
		snprintf(out, len, "%s/imgfs", xdg);
	else if (home && *home)
		snprintf(out, len, "%s/.local/share/imgfs", home);
	else
		return -ENOENT;
	return 0;
}

/* What config=FILE holds that the registry client needs. */
struct imgfs_config {
	json_t *root;
	const char **insecure;	/* NULL-terminated, strings owned by root */
	const char *ca_file;
};

static int config_load(const char *path, struct imgfs_config *cfg)
{
	json_error_t jerr;
	json_t *ins;
	const char *key;
	json_t *val;

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
		if (strcmp(key, "insecure-registries") && strcmp(key, "ca-file") &&
		    strcmp(key, "registry-mirrors"))
			log_warn("config %s: unknown key \"%s\" ignored", path, key);
	}
	if (json_object_get(cfg->root, "registry-mirrors"))
		log_warn("config %s: registry-mirrors are not used yet", path);
	ins = json_object_get(cfg->root, "insecure-registries");
	if (ins) {
		size_t i;

		if (!json_is_array(ins)) {
			log_err("config %s: insecure-registries must be an array", path);
			return -EINVAL;
		}
		cfg->insecure = calloc(json_array_size(ins) + 1, sizeof(char *));
		if (!cfg->insecure)
			return -ENOMEM;
		json_array_foreach(ins, i, val) {
			if (!json_is_string(val)) {
				log_err("config %s: insecure-registries[%zu] is not a string",
					path, i);
				return -EINVAL;
			}
			cfg->insecure[i] = json_string_value(val);
		}
	}
	val = json_object_get(cfg->root, "ca-file");
	if (val) {
		if (!json_is_string(val)) {
			log_err("config %s: ca-file must be a string", path);
			return -EINVAL;
		}
		cfg->ca_file = json_string_value(val);
	}
	return 0;
}

static void config_release(struct imgfs_config *cfg)
{
	free(cfg->insecure);
	json_decref(cfg->root);
}

/*
 * raise_nofile - lift the soft limit of open files to the hard one.  The
 * daemon keeps a descriptor per indexed layer and per open layer file; the
 * usual soft limit of 1024 would make an image of a few thousand layers,
 * or a thousand opens of one file, fail with EMFILE while the hard limit
 * allows far more.
 */
static void raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
			log_warn("cannot raise the open-file limit: %s", strerror(errno));
	}
}

/* pull_group=GROUP: a group name, or a number. */
static int group_parse(const char *name, gid_t *gid)
{
	struct group gr, *res = NULL;
	char buf[16384];
	unsigned long v;
	char *end;

	if (getgrnam_r(name, &gr, buf, sizeof(buf), &res) == 0 && res) {
		*gid = res->gr_gid;
		return 0;
	}
	errno = 0;
	v = strtoul(name, &end, 10);
	if (*name < '0' || *name > '9' || *end || errno || v >= (gid_t)-1)
		return -ENOENT;
	*gid = (gid_t)v;
	return 0;
}

static void put_image(void *arg, struct store_image *img)
{
	store_image_put(arg, img);
}

int main(int argc, char *argv[])
{
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
	struct imgfs_opts o = { .threads = 128 };
	struct fuse_cmdline_opts cl = { 0 };
	struct registry_client *rc = NULL;
	struct fuse_session *se = NULL;
	struct fuse_loop_config *lc = NULL;
	struct imgfs_config cfg = { 0 };
	struct fs_ctx ctx;
	struct fs_inode *root;
	char store_dir[PATH_MAX];
	enum log_level level = LOG_LVL_WARN;
	uint64_t cache_size = IMGFS_CACHE_DEFAULT;
	int ret = 1, table_ok = 0;

	memset(&ctx, 0, sizeof(ctx));
	if (fuse_opt_parse(&args, &o, imgfs_opt_spec, NULL) == -1)
		return 1;
	if (fuse_parse_cmdline(&args, &cl) != 0)
		return 1;
	if (cl.show_help) {
		usage(argv[0]);
		fuse_cmdline_help();
		fuse_lowlevel_help();
		ret = 0;
		goto out;
	}
	if (cl.show_version) {
		printf("imgfs version %s\n", IMGFS_VERSION);
		fuse_lowlevel_version();
		ret = 0;
		goto out;
	}
	if (!cl.mountpoint) {
		fprintf(stderr, "usage: %s [options] MOUNTPOINT (try --help)\n", argv[0]);
		goto out;
	}
	if (o.log_level && log_level_parse(o.log_level, &level)) {
		fprintf(stderr, "imgfs: unknown log_level '%s'\n", o.log_level);
		goto out;
	}
	if (o.cache_size && size_parse(o.cache_size, &cache_size)) {
		fprintf(stderr, "imgfs: bad cache_size '%s' (bytes, or with K, M, G)\n",
			o.cache_size);
		goto out;
	}
	if (o.pull_group) {
		if (group_parse(o.pull_group, &ctx.pull_gid)) {
			fprintf(stderr, "imgfs: pull_group: no group '%s'\n", o.pull_group);
			goto out;
		}
		ctx.pull_group_set = true;
	}
	if (cl.debug)
		level = LOG_LVL_DEBUG;
	log_setup(level, !cl.foreground);
	raise_nofile();

	if (o.store) {
		snprintf(store_dir, sizeof(store_dir), "%s", o.store);
	} else if (default_store(store_dir, sizeof(store_dir))) {
		log_err("no store directory: give -o store=DIR");
		goto out;
	}
	/* The daemon changes directory to /: keep an absolute path. */
	{
		char abs[PATH_MAX];

		if (file_mkdir_p(store_dir, 0700) || !realpath(store_dir, abs)) {
			log_err("store %s: %s", store_dir, strerror(errno));
			goto out;
		}
		memcpy(store_dir, abs, sizeof(store_dir));
	}
	if (config_load(o.config, &cfg))
		goto out;
	{
		struct registry_opts ro = {
			.default_host = o.registry ? o.registry : REGISTRY_DOCKER_HUB,
			.insecure = cfg.insecure,
			.ca_file = cfg.ca_file,
		};
		struct store_opts so = {
			.dir = store_dir,
			.default_host = ro.default_host,
			.cache_size = cache_size,
		};

		if (registry_client_new(&ro, &rc)) {
			log_err("cannot set up the registry client");
			goto out;
		}
		so.registry = rc;
		registry_platform_host(&so.platform);
		if (store_open(&so, &ctx.store)) {
			log_err("cannot open the store at %s", store_dir);
			goto out;
		}
		ctx.default_host = store_default_host(ctx.store);
	}
	ctx.uid = getuid();
	ctx.gid = getgid();
	clock_gettime(CLOCK_REALTIME, &ctx.mount_time);
	if (fs_inode_table_init(&ctx.inodes) || fs_inode_root(&ctx.inodes, &root))
		goto out;
	if (htab_init(&ctx.dirs)) {
		fs_inode_table_release(&ctx.inodes, NULL, NULL);
		goto out;
	}
	pthread_mutex_init(&ctx.dirs_lock, NULL);
	table_ok = 1;
	{
		char *mp = realpath(cl.mountpoint, NULL);

		if (!mp) {
			log_err("mountpoint %s: %s", cl.mountpoint, strerror(errno));
			goto out;
		}
		ctx.mountpoint = mp;
	}

	fuse_opt_add_arg(&args, "-osubtype=imgfs,fsname=imgfs");
	/* A mount by root is shared with every user: permissions are the
	 * images' own, and nothing in an image may raise privileges or
	 * reach a device of the host. */
	if (geteuid() == 0)
		fuse_opt_add_arg(&args, "-oallow_other,default_permissions,nosuid,nodev");
	se = fuse_session_new(&args, &fs_ops, sizeof(fs_ops), &ctx);
	if (!se)
		goto out;
	if (fuse_set_signal_handlers(se) != 0)
		goto out;
	if (fuse_session_mount(se, cl.mountpoint) != 0)
		goto out_signals;
	log_info("mounted %s (store %s, registry %s)", cl.mountpoint, store_dir,
		 ctx.default_host);
	fuse_daemonize(cl.foreground);
	/* After the fork of fuse_daemonize: the thread must be the
	 * daemon's. */
	if (fs_notify_start(&ctx, se) != 0) {
		log_err("cannot start the invalidation thread");
		goto out_unmount;
	}
	if (cl.singlethread) {
		ret = fuse_session_loop(se);
	} else {
		lc = fuse_loop_cfg_create();
		if (!lc)
			goto out_unmount;
		fuse_loop_cfg_set_clone_fd(lc, cl.clone_fd);
		fuse_loop_cfg_set_max_threads(lc, o.threads > 0 ? (unsigned)o.threads : 128);
		fuse_loop_cfg_set_idle_threads(lc, 16);
		ret = fuse_session_loop_mt(se, lc);
	}
	ret = ret ? 1 : 0;
out_unmount:
	fs_notify_stop(&ctx);
	fuse_session_unmount(se);
out_signals:
	fuse_remove_signal_handlers(se);
out:
	if (se)
		fuse_session_destroy(se);
	if (lc)
		fuse_loop_cfg_destroy(lc);
	if (table_ok) {
		fs_inode_table_release(&ctx.inodes, put_image, ctx.store);
		htab_release(&ctx.dirs);
		pthread_mutex_destroy(&ctx.dirs_lock);
	}
	free((char *)ctx.mountpoint);
	if (ctx.store)
		store_close(ctx.store);
	if (rc)
		registry_client_free(rc);
	config_release(&cfg);
	free(cl.mountpoint);
	free(o.store);
	free(o.registry);
	free(o.config);
	free(o.log_level);
	free(o.cache_size);
	free(o.pull_group);
	fuse_opt_free_args(&args);
	return ret;
}
