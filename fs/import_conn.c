/* SPDX-License-Identifier: MIT */
/*
 * import_conn.c - import/ on a FUSE connection of its own.
 *
 * Why a second connection.  Two switches that make reading fast are per
 * connection: files opened without an OPEN request (FUSE_CAP_NO_OPEN_SUPPORT)
 * and closed without a FLUSH (an ENOSYS answer to the first one).  A `tar`
 * of 100k cached files runs at native speed with both and 4-6x slower
 * without (docs/DESIGN.md, "Why files still have handles").  But import/
 * needs both: an import is committed when the writer closes its file, so
 * that `cp`'s close() reports a truncated or corrupt archive, and a
 * rootfs import's layer is the whole written stream, which ends only
 * there.  So import/ is served by a connection of its own, mounted at a
 * directory of the daemon's (import_base()), and `import` in the root of
 * the main mount is a symlink to it: `cp x.tar /mnt/images/import/`
 * follows the link.  It is not mounted inside the main mount, where a
 * plain umount of the main mount would fail with EBUSY.
 *
 * The two connections share everything but their kernel: one fs_ctx, one
 * inode table (the nodes of import/ are numbered as before; this
 * connection's root, node id 1 to its kernel, is the import/ node), the
 * same handlers (fs_ops), reached through the thin table below that maps
 * the root.  Cache invalidations go to the main connection only: a name
 * in import/ changes only by a request of this connection (its kernel
 * updates itself) and is looked up with a zero timeout anyway.
 *
 * The mountpoint is named after the store (one daemon per store: the
 * store's lock), so a mount left by a daemon that was killed is found and
 * taken down at the next start.  If the connection cannot be mounted, the
 * daemon goes on with import/ as a directory of the main mount, as before
 * (files then keep their flushes).
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <xxhash.h>

#include "log.h"
#include "ops.h"

extern char **environ;

struct fs_import_conn {
	struct fuse_session *se;
	struct fuse_loop_config *lc;
	fuse_ino_t root;		/* the import/ node */
	pthread_t thread;
	bool running;			/* the thread was started */
	int done;			/* atomic: the loop returned */
};

static fuse_ino_t map(fuse_req_t req, fuse_ino_t ino)
{
	return ino == FUSE_ROOT_ID ? fs_ctx_of(req)->import_conn->root : ino;
}

static void ic_init(void *userdata, struct fuse_conn_info *conn)
{
	struct fs_ctx *ctx = userdata;

	/* Directories as on the main connection (op_opendir reads
	 * ctx->dirs_stateless, which the main connection's init sets from
	 * the same kernel's offer).  Files keep OPEN and FLUSH: that is
	 * what this connection is for. */
	if (!ctx->busy_dirs && (conn->capable & FUSE_CAP_NO_OPENDIR_SUPPORT))
		conn->want |= FUSE_CAP_NO_OPENDIR_SUPPORT;
	conn->want &= ~FUSE_CAP_READDIRPLUS_AUTO;
}

static void ic_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	fs_ops.lookup(req, map(req, parent), name);
}

static void ic_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	/* The root's one lookup is held by this file until exit. */
	if (ino == FUSE_ROOT_ID)
		fuse_reply_none(req);
	else
		fs_ops.forget(req, ino, nlookup);
}

static void ic_forget_multi(fuse_req_t req, size_t count,
			    struct fuse_forget_data *forgets)
{
	for (size_t i = 0; i < count; i++)
		if (forgets[i].ino == FUSE_ROOT_ID)
			forgets[i].nlookup = 0;
	fs_ops.forget_multi(req, count, forgets);
}

static void ic_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	fs_ops.getattr(req, map(req, ino), fi);
}

static void ic_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr,
		       int to_set, struct fuse_file_info *fi)
{
	fs_ops.setattr(req, map(req, ino), attr, to_set, fi);
}

static void ic_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	fs_ops.opendir(req, map(req, ino), fi);
}

static void ic_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	fs_ops.readdir(req, map(req, ino), size, off, fi);
}

static void ic_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size,
			   off_t off, struct fuse_file_info *fi)
{
	fs_ops.readdirplus(req, map(req, ino), size, off, fi);
}

static void ic_releasedir(fuse_req_t req, fuse_ino_t ino,
			  struct fuse_file_info *fi)
{
	fs_ops.releasedir(req, map(req, ino), fi);
}

static void ic_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	/* Only import files are here, and an import is one stream fed by
	 * the descriptor create returned (fs_op_open says the same). */
	(void)ino, (void)fi;
	fuse_reply_err(req, EACCES);
}

static void ic_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name,
		     mode_t mode)
{
	fs_ops.mkdir(req, map(req, parent), name, mode);
}

static void ic_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	fs_ops.unlink(req, map(req, parent), name);
}

static void ic_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	fs_ops.rmdir(req, map(req, parent), name);
}

static void ic_symlink(fuse_req_t req, const char *link, fuse_ino_t parent,
		       const char *name)
{
	fs_ops.symlink(req, link, map(req, parent), name);
}

static void ic_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
		      fuse_ino_t newparent, const char *newname,
		      unsigned int flags)
{
	fs_ops.rename(req, map(req, parent), name, map(req, newparent), newname,
		      flags);
}

static void ic_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent,
		    const char *newname)
{
	fs_ops.link(req, map(req, ino), map(req, newparent), newname);
}

static void ic_mknod(fuse_req_t req, fuse_ino_t parent, const char *name,
		     mode_t mode, dev_t rdev)
{
	fs_ops.mknod(req, map(req, parent), name, mode, rdev);
}

static void ic_create(fuse_req_t req, fuse_ino_t parent, const char *name,
		      mode_t mode, struct fuse_file_info *fi)
{
	fs_ops.create(req, map(req, parent), name, mode, fi);
}

static void ic_statfs(fuse_req_t req, fuse_ino_t ino)
{
	fs_ops.statfs(req, map(req, ino));
}

static void ic_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
			size_t size)
{
	fs_ops.getxattr(req, map(req, ino), name, size);
}

static void ic_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	fs_ops.listxattr(req, map(req, ino), size);
}

static void ic_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
			const char *value, size_t size, int flags)
{
	fs_ops.setxattr(req, map(req, ino), name, value, size, flags);
}

static void ic_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	fs_ops.removexattr(req, map(req, ino), name);
}

/* Import files only below the root (their handles carry them): read,
 * write, flush and release go straight to the handlers. */
static const struct fuse_lowlevel_ops import_ops = {
	.init = ic_init,
	.lookup = ic_lookup,
	.forget = ic_forget,
	.forget_multi = ic_forget_multi,
	.getattr = ic_getattr,
	.setattr = ic_setattr,
	.opendir = ic_opendir,
	.readdir = ic_readdir,
	.readdirplus = ic_readdirplus,
	.releasedir = ic_releasedir,
	.open = ic_open,
	.read = fs_op_read,
	.write = fs_op_write,
	.flush = fs_op_flush,
	.release = fs_op_release,
	.mkdir = ic_mkdir,
	.unlink = ic_unlink,
	.rmdir = ic_rmdir,
	.symlink = ic_symlink,
	.rename = ic_rename,
	.link = ic_link,
	.mknod = ic_mknod,
	.create = ic_create,
	.statfs = ic_statfs,
	.getxattr = ic_getxattr,
	.listxattr = ic_listxattr,
	.setxattr = ic_setxattr,
	.removexattr = ic_removexattr,
};

/* A directory of ours: made if missing, refused if it is not a directory
 * owned by us that only we may write (it holds a mountpoint others walk
 * through). */
static int own_dir(const char *path, mode_t mode)
{
	struct stat st;

	if (mkdir(path, mode) < 0 && errno != EEXIST)
		return -errno;
	if (lstat(path, &st) < 0)
		return -errno;
	if (!S_ISDIR(st.st_mode) || st.st_uid != geteuid() ||
	    (st.st_mode & (S_IWGRP | S_IWOTH)))
		return -EPERM;
	return 0;
}

/*
 * import_base - the directory the mountpoints of import/ connections go in:
 * /run/imgfs for root (other users reach it: the main mount is theirs
 * too), $XDG_RUNTIME_DIR/imgfs or /tmp/imgfs-UID for anyone else.
 */
static int import_base(char *out, size_t size)
{
	const char *xdg = getenv("XDG_RUNTIME_DIR");
	int n;

	if (geteuid() == 0) {
		n = snprintf(out, size, "/run/imgfs");
		if (n < 0 || (size_t)n >= size)
			return -ENAMETOOLONG;
		return own_dir(out, 0755);
	}
	/* A runtime directory inherited from another user (su, setpriv)
	 * is not ours: /tmp then. */
	n = xdg && xdg[0] == '/' ? snprintf(out, size, "%s/imgfs", xdg) : -1;
	if (n >= 0 && (size_t)n < size && own_dir(out, 0700) == 0)
		return 0;
	n = snprintf(out, size, "/tmp/imgfs-%u", (unsigned)geteuid());
	if (n < 0 || (size_t)n >= size)
		return -ENAMETOOLONG;
	/* Others may pass through (not list) to a mount made allow_other. */
	return own_dir(out, 0711);
}

/* Unmount @path lazily: it goes from the namespace now, and its
 * connection ends when the last file open in it is closed. */
static int detach(const char *path)
{
	char *argv[] = { "fusermount3", "-u", "-q", "-z", (char *)path, NULL };
	int status;
	pid_t pid;

	if (geteuid() == 0)
		return umount2(path, MNT_DETACH) < 0 ? -errno : 0;
	if (posix_spawnp(&pid, argv[0], NULL, NULL, argv, environ) != 0)
		return -ENOENT;
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -errno;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -EIO;
}

/* Take down what a killed daemon of this store left mounted at @path, a
 * directory in @base. */
static void unmount_stale(const char *base, const char *path)
{
	struct stat st, up;
	int ret;

	if (stat(path, &st) == 0) {
		if (stat(base, &up) == 0 && st.st_dev == up.st_dev)
			return;		/* a plain directory */
	} else if (errno != ENOTCONN && errno != ECONNABORTED) {
		return;		/* nothing there (yet) */
	}
	log_info("%s: taking down the import/ mount a previous daemon left", path);
	ret = detach(path);
	if (ret)
		log_warn("cannot unmount %s: %s", path, strerror(-ret));
}

/* Only to interrupt the loop's wait (fs_import_conn_stop). */
static void wake(int sig)
{
	(void)sig;
}

/*
 * fs_import_conn_mount - set up and mount import/'s connection with the
 * mount options in @args (consumed), for the store at @store_dir.  On
 * success ctx->import_dir and ctx->import_conn are set; on failure the
 * caller goes on with import/ in the main connection.
 */
int fs_import_conn_mount(struct fs_ctx *ctx, struct fuse_args *args,
			 const char *store_dir)
{
	struct fs_inode tmpl = { .kind = FS_IMPORT_DIR, .key = "m:", .path = "" };
	struct sigaction sa = { 0 };
	struct fs_import_conn *ic = NULL;
	struct store_image *unused = NULL;
	struct fs_inode *root = NULL;
	char base[PATH_MAX], dir[PATH_MAX], real[PATH_MAX];
	int ret;

	if (!realpath(store_dir, real))
		return -errno;
	ret = import_base(base, sizeof(base));
	if (ret) {
		log_warn("%s: %s", base, strerror(-ret));
		return ret;
	}
	ret = snprintf(dir, sizeof(dir), "%s/import-%016llx", base,
		       (unsigned long long)XXH3_64bits(real, strlen(real)));
	if (ret < 0 || (size_t)ret >= sizeof(dir))
		return -ENAMETOOLONG;
	unmount_stale(base, dir);
	ret = own_dir(dir, 0755);
	if (ret) {
		log_warn("%s: %s", dir, strerror(-ret));
		return ret;
	}
	ic = calloc(1, sizeof(*ic));
	ctx->import_dir = strdup(dir);
	if (!ic || !ctx->import_dir) {
		ret = -ENOMEM;
		goto out;
	}
	ret = fs_inode_lookup(&ctx->inodes, &tmpl, &root, &unused);
	if (ret)
		goto out;
	ic->root = root->ino;
	fs_put_node(ctx, root);
	ctx->import_conn = ic;
	/* Without SA_RESTART: the signal is to end the loop's sem_wait()
	 * (fs_import_conn_stop). */
	sa.sa_handler = wake;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGUSR1, &sa, NULL) < 0) {
		ret = -errno;
		goto out;
	}
	ret = -EIO;
	ic->se = fuse_session_new(args, &import_ops, sizeof(import_ops), ctx);
	if (!ic->se)
		goto out;
	if (fuse_session_mount(ic->se, dir) != 0)
		goto out;
	log_info("import/ served at %s", dir);
	return 0;
out:
	log_warn("import/ stays a directory of the mount (no connection of its "
		 "own at %s: %s)", dir, strerror(-ret));
	if (ic && ic->se)
		fuse_session_destroy(ic->se);
	free(ic);
	ctx->import_conn = NULL;
	free(ctx->import_dir);
	ctx->import_dir = NULL;
	return ret;
}

static void *loop_main(void *arg)
{
	struct fs_import_conn *ic = arg;

	fuse_session_loop_mt(ic->se, ic->lc);
	__atomic_store_n(&ic->done, 1, __ATOMIC_RELEASE);
	return NULL;
}

/*
 * fs_import_conn_start - serve the connection.  Called by the main
 * connection's init (ops.c), so that what that init decides from the
 * kernel's offer (ctx->dirs_stateless, ctx->files_stateless, read by the
 * same handlers here) is written before this loop's thread exists; and
 * after fuse_daemonize(), whose fork a thread must not precede.  If the
 * loop cannot run, the mount is detached rather than left unanswered.
 */
void fs_import_conn_start(struct fs_ctx *ctx)
{
	struct fs_import_conn *ic = ctx->import_conn;

	if (!ic || ic->running)
		return;
	ic->lc = fuse_loop_cfg_create();
	if (ic->lc) {
		fuse_loop_cfg_set_max_threads(ic->lc, 16);
		fuse_loop_cfg_set_idle_threads(ic->lc, 2);
		ic->running = pthread_create(&ic->thread, NULL, loop_main, ic) == 0;
	}
	if (!ic->running) {
		log_err("cannot serve import/ at %s: unmounting it", ctx->import_dir);
		/* Gone rather than empty: a copy into the link fails. */
		if (detach(ctx->import_dir) == 0)
			rmdir(ctx->import_dir);
	}
}

/*
 * fs_import_conn_stop - end the connection once the main one has ended.
 * After an unmount (@finish), imports in flight are finished: the mount
 * is detached and the loop left to end by itself when the last writer
 * closes its file, as the main mount, lazily unmounted, once waited for
 * its own (a signal then ends the daemon: main.c has given the default
 * actions back).  Else (a signal ended the main loop, or it never ran)
 * the loop is stopped now: libfuse cancels its workers, which wait in
 * read(), once the loop's own sem_wait() returns, which SIGUSR1 makes it
 * do; only then is the device closed and the mount detached by libfuse.
 * Handles left are released by the caller (fs_open_release_all: an
 * import among them rolls back).
 */
void fs_import_conn_stop(struct fs_ctx *ctx, bool finish)
{
	struct fs_import_conn *ic = ctx->import_conn;

	if (!ic)
		return;
	if (ic->running && finish && detach(ctx->import_dir) == 0) {
		log_info("unmounted; import/ ends once no file is being written into it");
		pthread_join(ic->thread, NULL);
		ic->running = false;
	}
	if (ic->running) {
		fuse_session_exit(ic->se);
		while (!__atomic_load_n(&ic->done, __ATOMIC_ACQUIRE)) {
			pthread_kill(ic->thread, SIGUSR1);
			usleep(20 * 1000);
		}
		pthread_join(ic->thread, NULL);
	}
	/* The device is closed here; the mount, if still there, detached. */
	fuse_session_unmount(ic->se);
	fuse_session_destroy(ic->se);
	if (ic->lc)
		fuse_loop_cfg_destroy(ic->lc);
	rmdir(ctx->import_dir);
	free(ic);
	ctx->import_conn = NULL;
	/* ctx->import_dir stays for the root's link until the context goes. */
}
