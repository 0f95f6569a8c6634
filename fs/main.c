/* SPDX-License-Identifier: MIT */
/*
 * main.c - command line, options, and the FUSE session (the configuration
 * file is config.c's).
 *
 *   imgfs [options] [SOURCE] MOUNTPOINT
 *
 * Owns the mount context (struct fs_ctx), the registry client and the
 * store for the life of the mount.  Options follow FUSE conventions: -f,
 * -d, -s, -h, -V and -o, with imgfs's own -o keys (store=, registry=,
 * config=, log_level=, threads=, cache_size=, index_mem=, max_layer_size=,
 * store_max=, timeout=, pull_group=, list_page=, push_compression=,
 * busy_files, busy_dirs; stateless_files, the default now, is still taken)
 * taken out before libfuse sees the rest.  import/ is served by a second
 * connection (import_conn.c) mounted with the same libfuse options.
 *
 * SOURCE exists for mount(8): an fstab line of type fuse.imgfs makes
 * mount.fuse3 run `imgfs SOURCE MOUNTPOINT -o OPTS`, with the fstab words
 * mount(8) keeps (rw, noatime, relatime, ...) in OPTS.  An absolute SOURCE
 * is the store directory, any other word only names the mount (fsname),
 * so both `/var/lib/imgfs` and `imgfs` make sense in the first column.
 * Words that only mean something to mount(8) or systemd are accepted and
 * dropped here, because libfuse refuses what it does not know.
 */
#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fuse_lowlevel.h>

#include "config.h"
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
	char *index_mem;
	char *max_layer_size;
	char *store_max;
	int timeout;
	char *pull_group;
	char *push_compression;
	int list_page;
	int busy_dirs;
	int stateless_files;
	int busy_files;
	int threads;
	int show_version;
	int show_help;
	char *pos[2];		/* the non-option arguments: [SOURCE] MOUNTPOINT */
	int npos;
};

/* Option keys of imgfs_opt_proc(). */
enum { IMGFS_KEY_IGNORED = 1 };

#define OPT(t, p) { t, offsetof(struct imgfs_opts, p), 1 }
static const struct fuse_opt imgfs_opt_spec[] = {
	OPT("store=%s", store),
	OPT("registry=%s", registry),
	OPT("config=%s", config),
	OPT("log_level=%s", log_level),
	OPT("threads=%d", threads),
	OPT("cache_size=%s", cache_size),
	OPT("busy_dirs", busy_dirs),
	OPT("stateless_files", stateless_files),
	OPT("busy_files", busy_files),
	/* fstab words libfuse does not take: atime policies mean nothing
	 * to a filesystem that keeps no atimes, the rest are for mount(8)
	 * and systemd (x-* is matched in imgfs_opt_proc). */
	FUSE_OPT_KEY("defaults", IMGFS_KEY_IGNORED),
	FUSE_OPT_KEY("auto", IMGFS_KEY_IGNORED),
	FUSE_OPT_KEY("noauto", IMGFS_KEY_IGNORED),
	FUSE_OPT_KEY("user", IMGFS_KEY_IGNORED),
	FUSE_OPT_KEY("users", IMGFS_KEY_IGNORED),
	FUSE_OPT_KEY("nouser", IMGFS_KEY_IGNORED),
	FUSE_OPT_KEY("owner", IMGFS_KEY_IGNORED),
	FUSE_OPT_KEY("group", IMGFS_KEY_IGNORED),
	FUSE_OPT_KEY("_netdev", IMGFS_KEY_IGNORED),
	FUSE_OPT_KEY("nofail", IMGFS_KEY_IGNORED),
	FUSE_OPT_KEY("comment=", IMGFS_KEY_IGNORED),
	FUSE_OPT_KEY("diratime", IMGFS_KEY_IGNORED),
	FUSE_OPT_KEY("nodiratime", IMGFS_KEY_IGNORED),
	FUSE_OPT_KEY("relatime", IMGFS_KEY_IGNORED),
	FUSE_OPT_KEY("norelatime", IMGFS_KEY_IGNORED),
	FUSE_OPT_KEY("strictatime", IMGFS_KEY_IGNORED),
	FUSE_OPT_KEY("nostrictatime", IMGFS_KEY_IGNORED),
	FUSE_OPT_KEY("lazytime", IMGFS_KEY_IGNORED),
	FUSE_OPT_KEY("nolazytime", IMGFS_KEY_IGNORED),
	OPT("index_mem=%s", index_mem),
	OPT("max_layer_size=%s", max_layer_size),
	OPT("store_max=%s", store_max),
	OPT("timeout=%d", timeout),
	OPT("pull_group=%s", pull_group),
	OPT("list_page=%d", list_page),
	OPT("push_compression=%s", push_compression),
	FUSE_OPT_END
};

/*
 * imgfs_opt_proc - keep what libfuse parses next, drop the ignored fstab
 * words, and take the non-option arguments (SOURCE, MOUNTPOINT) for
 * main() to interpret: libfuse alone would read one only.
 */
static int imgfs_opt_proc(void *data, const char *arg, int key,
			  struct fuse_args *outargs)
{
	struct imgfs_opts *o = data;

	(void)outargs;
	switch (key) {
	case IMGFS_KEY_IGNORED:
		return 0;
	case FUSE_OPT_KEY_NONOPT:
		if (o->npos == 2) {
			fprintf(stderr, "imgfs: too many arguments ('%s'): "
				"[SOURCE] MOUNTPOINT (try --help)\n", arg);
			return -1;
		}
		o->pos[o->npos] = strdup(arg);
		if (!o->pos[o->npos])
			return -1;
		o->npos++;
		return 0;
	default:
		return strncmp(arg, "x-", 2) == 0 ? 0 : 1;
	}
}

static void usage(const char *prog)
{
	printf("usage: %s [options] [SOURCE] MOUNTPOINT\n"
	       "       %s --check STORE [--repair]\n\n"
	       "Mounts container images as a filesystem: repos/NAME/TAG pulls lazily.\n"
	       "SOURCE (as an fstab line gives it): an absolute path is the store,\n"
	       "any other word only names the mount.\n\n"
	       "imgfs options:\n"
	       "    -o store=DIR           the image store (default /var/lib/imgfs as root,\n"
	       "                           $XDG_DATA_HOME/imgfs otherwise)\n"
	       "    -o registry=HOST[:PORT] the default registry (default docker.io)\n"
	       "    -o config=FILE         JSON: insecure-registries, ca-file,\n"
	       "                           registry-mirrors, registries (see imgfs(1))\n"
	       "    -o log_level=LEVEL     error, warn, info or debug (default warn;\n"
	       "                           -d sets debug)\n"
	       "    -o threads=N           most worker threads (default 128)\n"
	       "    -o cache_size=SIZE     decompressed layer bytes kept in STORE/cache,\n"
	       "                           bytes or with K, M, G (default 4G; 0: none)\n"
	       "    -o index_mem=SIZE      memory all layer index builds may hold together\n"
	       "                           (default a quarter of RAM, 256M to 1G)\n"
	       "    -o max_layer_size=SIZE pulls naming a larger layer are refused\n"
	       "                           (default 16G)\n"
	       "    -o store_max=SIZE      downloads that would grow the store past SIZE\n"
	       "                           fail with ENOSPC (default: no limit)\n"
	       "    -o timeout=SECONDS     deadline of a registry request, and how long a\n"
	       "                           read waits on a stalled download (default 60)\n"
	       "    -o pull_group=GROUP    members of GROUP (name or number) may pull names\n"
	       "                           that are not local, as the mounting user may\n"
	       "    -o list_page=N         names asked for per page of a registry's\n"
	       "                           catalog and tag lists (default 100)\n"
	       "    -o push_compression=C  gzip or zstd: how a push compresses layers kept\n"
	       "                           uncompressed (imports; default gzip)\n"
	       "    -o busy_files          an open file holds its image in use (rm of its\n"
	       "                           last tag fails EBUSY) and writing into an image\n"
	       "                           fails at open(); costs three requests per file\n"
	       "                           (by default files are opened without asking)\n"
	       "    -o busy_dirs           an open directory holds its image in use, as\n"
	       "                           busy_files does for files\n\n",
	       prog, prog);
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

/*
 * source_apply - give SOURCE its meaning: an absolute path becomes the
 * store (when store= names one too, source_is_store() must agree), a word
 * without '/' only names the mount.  A
 * relative path is refused: it would be a store to the user and a label
 * to imgfs.  On return *@fsname is the mount's name for mount(8) and df.
 */
static int source_apply(struct imgfs_opts *o, const char **fsname)
{
	const char *src = o->npos == 2 ? o->pos[0] : NULL;

	*fsname = "imgfs";
	if (!src || !*src)
		return 0;
	*fsname = src;
	if (src[0] != '/') {
		if (strchr(src, '/')) {
			fprintf(stderr, "imgfs: SOURCE '%s': a store is an absolute path, "
				"a label has no '/'\n", src);
			return -EINVAL;
		}
		return 0;
	}
	if (!o->store) {
		o->store = strdup(src);
		if (!o->store)
			return -ENOMEM;
	}
	return 0;
}

/*
 * fsname_add - append "-o subtype=imgfs,fsname=@fsname" to @args, the name
 * escaped (a label may hold ',' or '\\').
 */
static int fsname_add(struct fuse_args *args, const char *fsname)
{
	size_t n = strlen("fsname=") + strlen(fsname) + 1;
	char *kv = malloc(n), *opts = NULL;
	int ret = -ENOMEM;

	if (!kv)
		return -ENOMEM;
	snprintf(kv, n, "fsname=%s", fsname);
	if (fuse_opt_add_opt(&opts, "subtype=imgfs") ||
	    fuse_opt_add_opt_escaped(&opts, kv) ||
	    fuse_opt_add_arg(args, "-o") || fuse_opt_add_arg(args, opts))
		goto out;
	ret = 0;
out:
	free(opts);
	free(kv);
	return ret;
}

/* Whether an absolute SOURCE and store= name the same directory: the same
 * string, or two paths that resolve to one directory.  Checked before the
 * store is created, so that a mistake creates nothing. */
static int source_is_store(const struct imgfs_opts *o)
{
	char a[PATH_MAX], b[PATH_MAX];

	if (o->npos < 2 || o->pos[0][0] != '/' || strcmp(o->pos[0], o->store) == 0)
		return 1;
	return realpath(o->pos[0], a) && realpath(o->store, b) && strcmp(a, b) == 0;
}

/*
 * exit_watch - stop the store's transfers as soon as the session is
 * exiting (a signal, an unmount).  libfuse joins its workers before
 * fuse_session_loop_mt() returns, and a worker may be waiting on a
 * stalled download: without this the exit would wait up to `timeout`.
 * Polled, because libfuse's own signal handlers own SIGTERM and friends.
 */
struct exit_watch {
	struct fuse_session *se;
	struct store *store;
	pthread_t thread;
	int done;		/* atomic: the loop returned */
	bool running;
};

static void *exit_watch_main(void *arg)
{
	struct exit_watch *w = arg;

	while (!__atomic_load_n(&w->done, __ATOMIC_ACQUIRE)) {
		if (fuse_session_exited(w->se)) {
			store_stop(w->store);
			break;
		}
		usleep(100 * 1000);
	}
	return NULL;
}

static void check_say(void *arg, const char *line)
{
	(void)arg;
	printf("%s\n", line);
}

/*
 * check_main - `imgfs --check STORE [--repair]`: verify the store offline
 * (it must not be mounted: the store's lock says so).  Exit status 0 when
 * nothing is broken, 1 when something is (after --repair: was), 2 when
 * the store cannot be checked.
 */
static int check_main(int argc, char *argv[])
{
	struct store_opts so = { .check = true };
	struct store *s = NULL;
	unsigned broken = 0;
	bool repair = argc == 4 && strcmp(argv[3], "--repair") == 0;
	int ret;

	if (argc != 3 && !repair) {
		fprintf(stderr, "usage: %s --check STORE [--repair]\n", argv[0]);
		return 2;
	}
	log_setup(LOG_LVL_ERR, 0);
	so.dir = argv[2];
	ret = store_open(&so, &s);
	if (ret) {
		fprintf(stderr, "imgfs: cannot check %s: %s\n", argv[2], strerror(-ret));
		return 2;
	}
	ret = store_check(s, repair, check_say, NULL, &broken);
	store_close(s);
	if (ret) {
		fprintf(stderr, "imgfs: cannot check %s: %s\n", argv[2], strerror(-ret));
		return 2;
	}
	printf("%s: %u broken object(s)%s\n", argv[2], broken,
	       broken && repair ? ", removed" : "");
	return broken ? 1 : 0;
}

/*
 * malloc_tune_exec - run again with glibc's per-thread cache limited to
 * chunks of at most 128 bytes (GLIBC_TUNABLES glibc.malloc.tcache_max),
 * before anything else has happened.
 *
 * Why: every worker thread's cache of freed chunks (up to 1032 bytes, 7
 * of each size) keeps chunks spread over the shared arenas, so freed
 * memory around them can be neither reused by other threads nor given
 * back: each live worker held ~0.9 MB.  The small image (103k files)
 * after a tar and 64 random readers (23 threads): RSS +32 MB with
 * glibc's cache, +18.5 MB with tcache_max=128 and +16.8 MB with none,
 * at the same random-read rate as the first (316k vs 309-325k reads in
 * 5 s; 275-287k with none).  glibc reads its tunables from the
 * environment only, when the process starts, hence the exec.  Nothing
 * is done when the caller chose a tcache_max itself, or when the exec
 * fails (no /proc): the daemon then runs with glibc's defaults.
 */
static void malloc_tune_exec(char *argv[])
{
	static const char marker[] = "IMGFS_MALLOC_TUNED";
	const char *env = getenv("GLIBC_TUNABLES");
	char *cur = env ? strdup(env) : NULL, *val = NULL, self[PATH_MAX];
	ssize_t n;

	if (env && !cur)
		return;
	if (getenv(marker)) {
		unsetenv(marker);
		goto out;
	}
	if (cur && strstr(cur, "glibc.malloc.tcache_max"))
		goto out;
	if (asprintf(&val, "glibc.malloc.tcache_max=128%s%s",
		     cur && *cur ? ":" : "", cur ? cur : "") < 0) {
		val = NULL;
		goto out;
	}
	/* the binary's own path, not /proc/self/exe: the process's name
	 * (ps, pgrep) is the file name exec'd */
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n > 0 && (size_t)n < sizeof(self) - 1) {
		self[n] = '\0';
		if (setenv(marker, "1", 1) == 0 &&
		    setenv("GLIBC_TUNABLES", val, 1) == 0)
			execv(self, argv);
	}
	/* still here: run as we are, with the caller's environment */
	if (cur)
		setenv("GLIBC_TUNABLES", cur, 1);
	else
		unsetenv("GLIBC_TUNABLES");
	unsetenv(marker);
out:
	free(cur);
	free(val);
}

int main(int argc, char *argv[])
{
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
	struct fuse_args iargs = FUSE_ARGS_INIT(0, NULL);
	bool unmounted = false;
	struct imgfs_opts o = { .threads = 128, .timeout = (int)REGISTRY_TIMEOUT_DEFAULT,
				.list_page = REGISTRY_LIST_PAGE_DEFAULT };
	struct fuse_cmdline_opts cl = { 0 };
	struct registry_client *rc = NULL;
	struct fuse_session *se = NULL;
	struct fuse_loop_config *lc = NULL;
	struct fs_config cfg = { 0 };
	struct exit_watch ew = { 0 };
	struct fs_ctx ctx;
	struct fs_inode *root;
	char store_dir[PATH_MAX];
	enum log_level level = LOG_LVL_WARN;
	uint64_t cache_size = IMGFS_CACHE_DEFAULT, index_mem = 0;
	uint64_t max_layer_size = STORE_LAYER_MAX, store_max = 0;
	enum registry_compression push_comp = REGISTRY_COMP_GZIP;
	const char *fsname, *mountpoint;
	int ret = 1, table_ok = 0;

	if (argc >= 2 && strcmp(argv[1], "--check") == 0)
		return check_main(argc, argv);
	malloc_tune_exec(argv);
	/* Large transient buffers (an index body while it is decoded, a
	 * read's copy) are mapped and given back when freed.  glibc would
	 * raise this threshold to the largest such buffer freed, after
	 * which they come from the heap and its high-water mark stays:
	 * 30.4 vs 19.4 MB RSS after loading a 100,000-file image's index. */
	mallopt(M_MMAP_THRESHOLD, 128 * 1024);
	/* One malloc arena per CPU, not glibc's eight: no more threads run
	 * at once than there are CPUs, and each arena keeps what its
	 * threads freed.  RSS per file of the small image (103k files)
	 * after a tar and 64 random readers, 2 vCPUs, 4 runs each: 385-453
	 * B with glibc's default, 323-350 B with 2 arenas, at the same
	 * random-read rate (317-355k vs 248-340k reads in 5 s). */
	{
		long n = sysconf(_SC_NPROCESSORS_ONLN);

		mallopt(M_ARENA_MAX, n > 2 ? (int)(n < 64 ? n : 64) : 2);
	}
	memset(&ctx, 0, sizeof(ctx));
	if (fuse_opt_parse(&args, &o, imgfs_opt_spec, imgfs_opt_proc) == -1)
		goto out;
	if (fuse_parse_cmdline(&args, &cl) != 0)
		goto out;
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
	if (o.npos == 0) {
		fprintf(stderr, "usage: %s [options] [SOURCE] MOUNTPOINT (try --help)\n",
			argv[0]);
		goto out;
	}
	mountpoint = o.pos[o.npos - 1];
	if (source_apply(&o, &fsname))
		goto out;
	if (o.log_level && log_level_parse(o.log_level, &level)) {
		fprintf(stderr, "imgfs: unknown log_level '%s'\n", o.log_level);
		goto out;
	}
	if (o.cache_size && size_parse(o.cache_size, &cache_size)) {
		fprintf(stderr, "imgfs: bad cache_size '%s' (bytes, or with K, M, G)\n",
			o.cache_size);
		goto out;
	}
	if (o.index_mem && (size_parse(o.index_mem, &index_mem) || !index_mem)) {
		fprintf(stderr, "imgfs: bad index_mem '%s' (bytes, or with K, M, G)\n",
			o.index_mem);
		goto out;
	}
	if (o.max_layer_size && (size_parse(o.max_layer_size, &max_layer_size) ||
				 !max_layer_size)) {
		fprintf(stderr, "imgfs: bad max_layer_size '%s' (bytes, or with K, M, G)\n",
			o.max_layer_size);
		goto out;
	}
	if (o.store_max && size_parse(o.store_max, &store_max)) {
		fprintf(stderr, "imgfs: bad store_max '%s' (bytes, or with K, M, G)\n",
			o.store_max);
		goto out;
	}
	if (o.timeout < 1 || o.timeout > 86400) {
		fprintf(stderr, "imgfs: bad timeout %d (seconds, 1 to 86400)\n", o.timeout);
		goto out;
	}
	if (o.list_page < 1 || o.list_page > REGISTRY_LIST_MAX) {
		fprintf(stderr, "imgfs: bad list_page %d (1 to %d)\n", o.list_page,
			REGISTRY_LIST_MAX);
		goto out;
	}
	if (o.push_compression) {
		if (strcmp(o.push_compression, "zstd") == 0) {
			push_comp = REGISTRY_COMP_ZSTD;
		} else if (strcmp(o.push_compression, "gzip") != 0) {
			fprintf(stderr, "imgfs: bad push_compression '%s' (gzip or zstd)\n",
				o.push_compression);
			goto out;
		}
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
	/* Standard error until the daemon detaches: a failure to start is
	 * seen by whoever started it (a shell, mount(8)). */
	log_setup(level, 0);
	raise_nofile();

	if (!source_is_store(&o)) {
		log_err("SOURCE %s and store=%s are different stores", o.pos[0], o.store);
		goto out;
	}
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
	if (fs_config_load(o.config, &cfg))
		goto out;
	{
		struct registry_opts ro = {
			.default_host = o.registry ? o.registry : REGISTRY_DOCKER_HUB,
			.insecure = cfg.insecure,
			.ca_file = cfg.ca_file,
			.timeout_sec = o.timeout,
			.hosts = cfg.hosts,
			.n_hosts = cfg.n_hosts,
		};
		struct store_opts so = {
			.dir = store_dir,
			.default_host = ro.default_host,
			.cache_size = cache_size,
			.progress_lines = cl.foreground,
			.index_mem = index_mem,
			.max_layer_size = max_layer_size,
			.store_max = store_max,
			.timeout_sec = o.timeout,
			.list_page = (size_t)o.list_page,
			.push_comp = push_comp,
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
	ctx.busy_dirs = o.busy_dirs != 0;
	/* Files are opened without a request unless an open file is to
	 * hold its image (ops_file.c, fs_op_open). */
	if (o.busy_files && o.stateless_files) {
		log_err("busy_files and stateless_files contradict each other");
		goto out;
	}
	ctx.stateless_files = !o.busy_files;
	if (fs_inode_table_init(&ctx.inodes) || fs_inode_root(&ctx.inodes, &root))
		goto out;
	if (htab_init(&ctx.dirs)) {
		fs_inode_table_release(&ctx.inodes, NULL, NULL);
		goto out;
	}
	pthread_mutex_init(&ctx.dirs_lock, NULL);
	pthread_mutex_init(&ctx.open_lock, NULL);
	pthread_mutex_init(&ctx.saves_lock, NULL);
	pthread_mutex_init(&ctx.statters.lock, NULL);
	table_ok = 1;
	{
		char *mp = realpath(mountpoint, NULL);

		if (!mp) {
			log_err("mountpoint %s: %s", mountpoint, strerror(errno));
			goto out;
		}
		ctx.mountpoint = mp;
	}

	/* import/'s connection takes the same libfuse options. */
	for (int i = 0; i < args.argc; i++)
		if (fuse_opt_add_arg(&iargs, args.argv[i]))
			goto out;
	if (fsname_add(&args, fsname) || fsname_add(&iargs, "imgfs-import"))
		goto out;
	/* A mount by root is shared with every user: permissions are the
	 * images' own, and nothing in an image may raise privileges or
	 * reach a device of the host. */
	if (geteuid() == 0 &&
	    (fuse_opt_add_arg(&args, "-oallow_other,default_permissions,nosuid,nodev") ||
	     fuse_opt_add_arg(&iargs, "-oallow_other,default_permissions,nosuid,nodev")))
		goto out;
	se = fuse_session_new(&args, &fs_ops, sizeof(fs_ops), &ctx);
	if (!se)
		goto out;
	if (fuse_set_signal_handlers(se) != 0)
		goto out;
	if (fuse_session_mount(se, ctx.mountpoint) != 0)
		goto out_signals;
	/* Before the fork, so that import/ is there when the command that
	 * mounted returns; without it import/ stays a directory here. */
	fs_import_conn_mount(&ctx, &iargs, store_dir);
	fuse_daemonize(cl.foreground);
	if (!cl.foreground)
		log_setup(level, 1);
	log_info("mounted %s at %s (store %s, registry %s)", fsname, ctx.mountpoint,
		 store_dir, ctx.default_host);
	/* After the fork of fuse_daemonize: the thread must be the
	 * daemon's. */
	if (fs_notify_start(&ctx, se) != 0) {
		log_err("cannot start the invalidation thread");
		goto out_unmount;
	}
	ew.se = se;
	ew.store = ctx.store;
	ew.running = pthread_create(&ew.thread, NULL, exit_watch_main, &ew) == 0;
	if (!ew.running)
		log_warn("no exit watch: an exit may wait for stalled downloads");
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
	/* libfuse reports the signal that ended the loop; SIGTERM (systemd's
	 * stop), SIGINT and SIGHUP are the asked-for way out, the mount is
	 * taken down below as after an unmount. */
	unmounted = ret == 0;
	ret = (ret == 0 || ret == SIGTERM || ret == SIGINT || ret == SIGHUP) ? 0 : 1;
out_unmount:
	if (ew.running) {
		__atomic_store_n(&ew.done, 1, __ATOMIC_RELEASE);
		pthread_join(ew.thread, NULL);
	}
	/* From here a signal ends the daemon at once: the wait below for
	 * imports still being written must not outlive a stop. */
	fuse_remove_signal_handlers(se);
	/* Before the notifier: an import's flush may still be telling it. */
	fs_import_conn_stop(&ctx, unmounted);
	fs_notify_stop(&ctx);
	fuse_session_unmount(se);
	goto out;
out_signals:
	fuse_remove_signal_handlers(se);
out:
	if (se)
		fuse_session_destroy(se);
	if (lc)
		fuse_loop_cfg_destroy(lc);
	if (table_ok) {
		/* Handles whose release never came (files of a lazily
		 * unmounted mount, open when the connection ended): an
		 * import among them is rolled back. */
		fs_open_release_all(&ctx);
		fs_saves_release(&ctx);
		fs_inode_table_release(&ctx.inodes, put_image, ctx.store);
		htab_release(&ctx.dirs);
		pthread_mutex_destroy(&ctx.dirs_lock);
		pthread_mutex_destroy(&ctx.open_lock);
		pthread_mutex_destroy(&ctx.saves_lock);
		pthread_mutex_destroy(&ctx.statters.lock);
	}
	free((char *)ctx.mountpoint);
	free(ctx.import_dir);
	if (ctx.store)
		store_close(ctx.store);
	if (rc)
		registry_client_free(rc);
	fs_config_release(&cfg);
	free(cl.mountpoint);
	free(o.pos[0]);
	free(o.pos[1]);
	free(o.store);
	free(o.registry);
	free(o.config);
	free(o.log_level);
	free(o.cache_size);
	free(o.index_mem);
	free(o.max_layer_size);
	free(o.store_max);
	free(o.pull_group);
	free(o.push_compression);
	fuse_opt_free_args(&args);
	fuse_opt_free_args(&iargs);
	return ret;
}
