/* SPDX-License-Identifier: MIT */
/*
 * ops.c - the FUSE low-level operations: the only file that speaks the
 * kernel's protocol.  Each handler pins the nodes it uses, asks ns.c or
 * the store, and replies; errors come back as -errno and flip sign only
 * here, in fuse_reply_err(req, -ret).
 *
 * Lookup counts follow libfuse's passthrough_ll: every successful entry
 * reply counts one lookup on the node (fs_inode_lookup), every forget
 * drops them, and a node dies when both its lookup count and its pins are
 * zero.  Open files and directories of an image count as "busy" in the
 * store, which is how deleting an image in use is refused.  A reply the
 * kernel refuses (its connection was aborted while the handler worked)
 * hands nothing over: no forget or release will ever come for it, so the
 * handler drops at once the lookup, handle and busy count it took.
 *
 * Every handler answers for every kind of node: the kernel filters most
 * requests by file type, but not all (a read on an import file open
 * O_RDWR, an open through /proc/PID/fd), and what it lets through gets an
 * errno, never a dereference of a field that kind does not have.
 *
 * Reads that need the network (a layer not yet fetched) block the worker
 * thread that serves them; the session runs many workers (main.c), so
 * unrelated requests go on.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <fuse_lowlevel.h>

#include "fs.h"
#include "log.h"
#include "ops.h"

void fs_put_img(struct fs_ctx *ctx, struct store_image *img)
{
	if (img)
		store_image_put(ctx->store, img);
}

void fs_put_node(struct fs_ctx *ctx, struct fs_inode *node)
{
	if (node)
		fs_put_img(ctx, fs_inode_put(&ctx->inodes, node));
}

static void on_interrupt(fuse_req_t req, void *data)
{
	(void)req;
	store_cancel_fire(data);
}

void fs_intr_begin(struct fs_intr *in, fuse_req_t req)
{
	in->req = req;
	in->c.fired = 0;
	in->on = true;
	store_cancel_enter(&in->c);
	fuse_req_interrupt_func(req, on_interrupt, &in->c);
}

void fs_intr_end(struct fs_intr *in)
{
	if (!in->on)
		return;
	in->on = false;
	/* Under the request's lock: no interrupt runs after this. */
	fuse_req_interrupt_func(in->req, NULL, NULL);
	store_cancel_enter(NULL);
}

/*
 * entry_make - the entry of @name in @p as lookup answers it: on success
 * the kernel is owed one lookup of e->ino (the caller gives it back with
 * entry_unmake() if the entry never reaches the kernel).  A miss is
 * -ENOENT with e->entry_timeout set for a negative entry.
 */
static int entry_make(struct fs_ctx *ctx, struct fs_caller *who,
		      struct fs_inode *p, const char *name,
		      struct fuse_entry_param *e)
{
	struct fs_inode *node = NULL;
	struct store_image *unused = NULL;
	struct fs_inode tmpl;
	double timeout, attr_timeout;
	int ret;

	memset(e, 0, sizeof(*e));
	ret = fs_ns_lookup(ctx, who, p, name, &tmpl, &timeout);
	if (ret) {
		e->entry_timeout = timeout;
		fs_ns_tmpl_release(ctx, &tmpl);
		return ret;
	}
	ret = fs_inode_lookup(&ctx->inodes, &tmpl, &node, &unused);
	tmpl.img = NULL;	/* now owned by the node, or in unused */
	fs_put_img(ctx, unused);
	fs_ns_tmpl_release(ctx, &tmpl);
	if (ret)
		goto out;
	ret = fs_ns_stat(ctx, node, &e->attr, &attr_timeout);
	if (ret) {
		fs_put_img(ctx, fs_inode_forget(&ctx->inodes, node->ino, 1));
		goto out;
	}
	e->ino = node->ino;
	e->attr_timeout = attr_timeout;
	e->entry_timeout = timeout;
out:
	fs_put_node(ctx, node);
	return ret;
}

/* Give back the lookup entry_make() counted for an entry the kernel did
 * not take. */
static void entry_unmake(struct fs_ctx *ctx, const struct fuse_entry_param *e)
{
	fs_put_img(ctx, fs_inode_forget(&ctx->inodes, e->ino, 1));
}

void fs_reply_entry(fuse_req_t req, struct fs_caller *who,
		    struct fs_inode *p, const char *name, mode_t *mode)
{
	struct fs_ctx *ctx = fs_ctx_of(req);
	struct fuse_entry_param e;
	struct fs_intr in;
	int ret;

	fs_intr_begin(&in, req);
	ret = entry_make(ctx, who, p, name, &e);
	fs_intr_end(&in);
	/* A pull made names elsewhere (by-id/): they show before the
	 * entry does.  @p's own names wait for the reply (the kernel holds
	 * @p while it waits for it). */
	fs_changes_before_reply(ctx, who, &p->ino, 1);
	if (ret == -ENOENT) {
		/* A negative entry: the kernel remembers the miss for
		 * e.entry_timeout, so tab completion does not ask again. */
		e.ino = 0;
		fuse_reply_entry(req, &e);
		return;
	}
	if (ret) {
		fuse_reply_err(req, -ret);
		return;
	}
	if (fuse_reply_entry(req, &e) != 0)
		entry_unmake(ctx, &e);
	else if (mode)
		*mode = e.attr.st_mode;
}

static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fs_ctx *ctx = fs_ctx_of(req);
	struct fs_inode *p = fs_inode_get(&ctx->inodes, parent);
	/* Read now: the reply frees @req. */
	pid_t pid = fuse_req_ctx(req)->pid;
	struct fs_caller who;
	mode_t mode = 0;

	if (!p) {
		fuse_reply_err(req, ESTALE);
		return;
	}
	fs_caller_init(&who, req);
	fs_reply_entry(req, &who, p, name, &mode);
	if (p->kind == FS_ROOTFS && mode && !S_ISDIR(mode))
		fs_statters_note(&ctx->statters, pid);
	fs_changes_after_reply(ctx, &who);
	fs_put_node(ctx, p);
}

static void op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	struct fs_ctx *ctx = fs_ctx_of(req);

	fs_put_img(ctx, fs_inode_forget(&ctx->inodes, ino, nlookup));
	fuse_reply_none(req);
}

static void op_forget_multi(fuse_req_t req, size_t count,
			    struct fuse_forget_data *forgets)
{
	struct fs_ctx *ctx = fs_ctx_of(req);

	for (size_t i = 0; i < count; i++)
		fs_put_img(ctx, fs_inode_forget(&ctx->inodes, forgets[i].ino,
					     forgets[i].nlookup));
	fuse_reply_none(req);
}

static void op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs_ctx *ctx = fs_ctx_of(req);
	struct fs_inode *node = fs_inode_get(&ctx->inodes, ino);
	struct stat st;
	double timeout;
	int ret;

	(void)fi;
	if (!node) {
		fuse_reply_err(req, ESTALE);
		return;
	}
	ret = fs_ns_stat(ctx, node, &st, &timeout);
	if (ret)
		fuse_reply_err(req, -ret);
	else
		fuse_reply_attr(req, &st, timeout);
	fs_put_node(ctx, node);
}

static void op_readlink(fuse_req_t req, fuse_ino_t ino)
{
	struct fs_ctx *ctx = fs_ctx_of(req);
	struct fs_inode *node = fs_inode_get(&ctx->inodes, ino);
	char *target = NULL;
	int ret;

	if (!node) {
		fuse_reply_err(req, ESTALE);
		return;
	}
	ret = fs_ns_readlink(ctx, node, &target);
	if (ret)
		fuse_reply_err(req, -ret);
	else
		fuse_reply_readlink(req, target);
	free(target);
	fs_put_node(ctx, node);
}

/* ---- directories ------------------------------------------------------ */

struct dir_handle {
	struct fs_open link;		/* first */
	struct fs_inode *node;		/* pinned */
	struct fs_dirlist list;		/* namespace directories */
	struct store_rootfs *rootfs;	/* rootfs directories */
};

void fs_open_track(struct fs_ctx *ctx, struct fs_open *o)
{
	pthread_mutex_lock(&ctx->open_lock);
	o->prev = NULL;
	o->next = ctx->open;
	if (ctx->open)
		ctx->open->prev = o;
	ctx->open = o;
	o->tracked = true;
	pthread_mutex_unlock(&ctx->open_lock);
}

void fs_open_untrack(struct fs_ctx *ctx, struct fs_open *o)
{
	pthread_mutex_lock(&ctx->open_lock);
	if (o->tracked) {
		if (o->prev)
			o->prev->next = o->next;
		else
			ctx->open = o->next;
		if (o->next)
			o->next->prev = o->prev;
		o->tracked = false;
	}
	pthread_mutex_unlock(&ctx->open_lock);
}

static void dir_handle_free(struct fs_ctx *ctx, struct dir_handle *d)
{
	fs_open_untrack(ctx, &d->link);
	fs_dirlist_release(&d->list);
	fs_put_node(ctx, d->node);
	free(d);
}

/* Undo a successful opendir: the busy count it took, then the handle. */
static void dir_handle_close(struct fs_ctx *ctx, struct dir_handle *d)
{
	if (fs_is_image_kind(d->node->kind))
		store_image_busy(ctx->store, d->node->img, -1);
	dir_handle_free(ctx, d);
}

/*
 * dir_source - what a listing of d->node is made from: the image's rootfs
 * (checked to be a directory there) or the namespace directory's list.
 */
static int dir_source(fuse_req_t req, struct fs_ctx *ctx, struct dir_handle *d)
{
	struct fs_intr in;
	int ret;

	if (d->node->kind == FS_ROOTFS) {
		struct stat st;

		fs_intr_begin(&in, req);
		ret = fs_ns_rootfs(ctx, d->node, &d->rootfs);
		fs_intr_end(&in);
		if (!ret)
			ret = store_rootfs_stat(d->rootfs, d->node->n, &st);
		if (!ret && !S_ISDIR(st.st_mode))
			ret = -ENOTDIR;
	} else if (d->node->kind == FS_REG_DIR) {
		/* Its listing may ask a registry, which is for some callers
		 * only. */
		struct fs_caller who;

		fs_caller_init(&who, req);
		fs_intr_begin(&in, req);
		ret = fs_registries_list(ctx, &who, d->node, &d->list);
		fs_intr_end(&in);
		fs_changes_release(&who.changed);
	} else {
		ret = fs_ns_list(ctx, d->node, &d->list);
	}
	return ret;
}

/*
 * op_opendir - with dirs_stateless, ENOSYS: the first one tells the kernel
 * (FUSE_CAP_NO_OPENDIR_SUPPORT) to open every directory from then on
 * without asking us, to send no releasedir, and to keep each listing
 * (FOPEN_CACHE_DIR) until told to drop it (ops_notify.c).  That saves
 * two round trips per directory opened: a hot `find` of a Debian rootfs
 * took 4x native with them, 1x without.  The price: an open directory
 * no longer holds its image busy (-o busy_dirs keeps handles for that).
 * Listings then come without a handle (dir_read).
 */
static void op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs_ctx *ctx = fs_ctx_of(req);
	struct dir_handle *d;
	int ret = 0;

	if (ctx->dirs_stateless) {
		fuse_reply_err(req, ENOSYS);
		return;
	}
	d = calloc(1, sizeof(*d));
	if (!d) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	d->node = fs_inode_get(&ctx->inodes, ino);
	if (!d->node) {
		ret = -ESTALE;
		goto out;
	}
	ret = dir_source(req, ctx, d);
	if (ret)
		goto out;
	if (d->rootfs) {
		/* A rootfs directory never changes: let the kernel keep
		 * its listing. */
		fi->cache_readdir = 1;
		fi->keep_cache = 1;
	}
	if (fs_is_image_kind(d->node->kind))
		store_image_busy(ctx->store, d->node->img, 1);
	fi->fh = (uintptr_t)d;
	d->link.dir = true;
	fs_open_track(ctx, &d->link);
	/* A reply the kernel refuses (the connection was aborted while we
	 * worked) leaves it without the handle: no releasedir will come. */
	if (fuse_reply_open(req, fi) != 0)
		dir_handle_close(ctx, d);
	return;
out:
	dir_handle_free(ctx, d);
	fuse_reply_err(req, -ret);
}

/*
 * dir_fill - the listing of @d from position @off into a reply of at most
 * @size bytes.  With @plus (READDIRPLUS), entries of a rootfs directory
 * listed for a caller that stats what it lists (struct fs_statters)
 * carry their attributes and a lookup, as lookup would answer them, so a
 * `tar` or `ls -l` does not ask again per name; other entries carry none
 * (ino 0: the kernel looks them up if asked), since a lookup in the
 * namespace may have to ask the registry and a `find` needs only names.
 * Returns whether the reply was the listing's end (no entries).
 */
static bool dir_fill(fuse_req_t req, struct dir_handle *d, size_t size,
		     off_t off, bool plus)
{
	struct fs_ctx *ctx = fs_ctx_of(req);
	/* Entries of a rootfs directory: nothing to pull, nothing changes. */
	struct fs_caller none = { .may_pull = 0 };
	bool attrs = plus && fs_statters_has(&ctx->statters, fuse_req_ctx(req)->pid);
	char *buf = malloc(size);
	size_t pos = 0;

	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return false;
	}
	for (size_t i = (size_t)off;; i++) {
		struct fuse_entry_param e;
		struct stat st = { 0 };
		const char *name;
		bool counted = false;
		size_t len;

		if (i < 2) {
			name = i == 0 ? "." : "..";
			st.st_mode = S_IFDIR;
			st.st_ino = i == 0 ? d->node->ino : 1;
		} else if (d->rootfs) {
			uint32_t child;
			struct stat cst;

			if (store_rootfs_dirent(d->rootfs, d->node->n, i - 2, &name, &child))
				break;
			if (store_rootfs_stat(d->rootfs, child, &cst))
				break;
			st.st_mode = cst.st_mode & S_IFMT;
			/* The same number stat shows (ls -i, find -inum). */
			st.st_ino = fs_inode_stable_ino(&ctx->inodes,
							d->node->path, child);
		} else {
			if (i - 2 >= d->list.n)
				break;
			name = d->list.ents[i - 2].name;
			st.st_mode = d->list.ents[i - 2].type;
			st.st_ino = ((uint64_t)1 << 47) + i;
		}
		if (!plus) {
			len = fuse_add_direntry(req, buf + pos, size - pos, name,
						&st, (off_t)(i + 1));
		} else {
			if (i >= 2 && d->rootfs && attrs &&
			    entry_make(ctx, &none, d->node, name, &e) == 0) {
				counted = true;
			} else {
				memset(&e, 0, sizeof(e));
				e.attr = st;
			}
			len = fuse_add_direntry_plus(req, buf + pos, size - pos,
						     name, &e, (off_t)(i + 1));
		}
		if (len > size - pos) {
			if (counted)
				entry_unmake(ctx, &e);
			break;
		}
		pos += len;
	}
	fuse_reply_buf(req, buf, pos);
	free(buf);
	fs_changes_release(&none.changed);
	return pos == 0;
}

/*
 * dir_read - a page of a listing: from the handle opendir made, or with
 * none (dirs_stateless) from a listing made for this page.  A namespace
 * directory may then change between two pages, as any directory may
 * between two getdents calls; a rootfs one cannot.  Once a namespace
 * listing has been read to its end, the kernel is told to drop it: it
 * keeps every listing it reads without a handle.
 */
static void dir_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		     struct fuse_file_info *fi, bool plus)
{
	struct fs_ctx *ctx = fs_ctx_of(req);
	struct dir_handle d = { 0 };
	int ret;

	if (fi->fh) {
		dir_fill(req, (struct dir_handle *)(uintptr_t)fi->fh, size, off, plus);
		return;
	}
	d.node = fs_inode_get(&ctx->inodes, ino);
	if (!d.node) {
		fuse_reply_err(req, ESTALE);
		return;
	}
	ret = dir_source(req, ctx, &d);
	if (ret)
		fuse_reply_err(req, -ret);
	else if (dir_fill(req, &d, size, off, plus) && !d.rootfs)
		fs_notify_listed(ctx, ino);
	fs_dirlist_release(&d.list);
	fs_put_node(ctx, d.node);
}

static void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	dir_read(req, ino, size, off, fi, false);
}

static void op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
			   struct fuse_file_info *fi)
{
	dir_read(req, ino, size, off, fi, true);
}

static void op_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs_ctx *ctx = fs_ctx_of(req);
	struct dir_handle *d = (struct dir_handle *)(uintptr_t)fi->fh;

	(void)ino;
	if (d)		/* none with dirs_stateless, which sends no release */
		dir_handle_close(ctx, d);
	fuse_reply_err(req, 0);
}

/* At exit: every handle the kernel never released (see ops.h). */
void fs_open_release_all(struct fs_ctx *ctx)
{
	for (;;) {
		struct fs_open *o;

		pthread_mutex_lock(&ctx->open_lock);
		o = ctx->open;
		pthread_mutex_unlock(&ctx->open_lock);
		if (!o)
			break;
		/* Each close untracks its handle. */
		if (o->dir)
			dir_handle_close(ctx, (struct dir_handle *)o);
		else
			fs_file_close(ctx, (struct fs_file *)o);
	}
}

/* ---- extended attributes ------------------------------------------------ */

/* The xattrs of a rootfs node: its entry's slice of its layer's table. */
static int node_xattrs(struct fs_ctx *ctx, struct fs_inode *node,
		       const struct store_xattr **xa, size_t *n)
{
	struct store_rootfs *fs;
	int ret;

	*n = 0;
	if (node->kind != FS_ROOTFS)
		return 0;
	ret = fs_ns_rootfs(ctx, node, &fs);
	if (ret)
		return ret;
	return store_image_xattrs(node->img, node->n, xa, n);
}

static void op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
	struct fs_ctx *ctx = fs_ctx_of(req);
	struct fs_inode *node = fs_inode_get(&ctx->inodes, ino);
	const struct store_xattr *xa = NULL;
	size_t n = 0;
	int ret;

	if (!node) {
		fuse_reply_err(req, ESTALE);
		return;
	}
	ret = node_xattrs(ctx, node, &xa, &n);
	if (ret)
		goto out;
	ret = -ENODATA;
	for (size_t i = 0; i < n; i++) {
		if (strcmp(xa[i].name, name) != 0)
			continue;
		if (size == 0) {
			fuse_reply_xattr(req, xa[i].len);
			ret = 0;
		} else if (size < xa[i].len) {
			ret = -ERANGE;
		} else {
			fuse_reply_buf(req, xa[i].value, xa[i].len);
			ret = 0;
		}
		break;
	}
out:
	if (ret)
		fuse_reply_err(req, -ret);
	fs_put_node(ctx, node);
}

static void op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	struct fs_ctx *ctx = fs_ctx_of(req);
	struct fs_inode *node = fs_inode_get(&ctx->inodes, ino);
	const struct store_xattr *xa = NULL;
	struct buf names;
	size_t n = 0;
	int ret;

	buf_init(&names, (size_t)1 << 20);
	if (!node) {
		fuse_reply_err(req, ESTALE);
		return;
	}
	ret = node_xattrs(ctx, node, &xa, &n);
	for (size_t i = 0; i < n && !ret; i++)
		ret = buf_add(&names, xa[i].name, strlen(xa[i].name) + 1);
	if (ret)
		fuse_reply_err(req, -ret);
	else if (size == 0)
		fuse_reply_xattr(req, names.len);
	else if (size < names.len)
		fuse_reply_err(req, ERANGE);
	else
		fuse_reply_buf(req, names.data, names.len);
	buf_release(&names);
	fs_put_node(ctx, node);
}

/* ---- the rest ------------------------------------------------------------ */

/*
 * `df` on the mount answers "how much do my images take": used blocks are
 * the bytes the store holds, free and available blocks those of the
 * filesystem the store lives on.  df shows Used as total minus free, so
 * the total is the two added: the most the images could grow to.  The
 * store keeps the counts (store_usage), so this walks no directory.
 * Counted in the store's filesystem's fragment size.
 */
static void op_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct fs_ctx *ctx = fs_ctx_of(req);
	struct statvfs sv = { 0 }, under;
	uint64_t bytes, files, frsize;
	int ret;

	(void)ino;
	ret = store_usage(ctx->store, &bytes, &files, &under);
	if (ret) {
		fuse_reply_err(req, -ret);
		return;
	}
	frsize = under.f_frsize ? under.f_frsize : 4096;
	sv.f_bsize = under.f_bsize ? under.f_bsize : 4096;
	sv.f_frsize = frsize;
	sv.f_bfree = under.f_bfree;
	sv.f_bavail = under.f_bavail;
	sv.f_blocks = (bytes + frsize - 1) / frsize + under.f_bfree;
	sv.f_ffree = under.f_ffree;
	sv.f_favail = under.f_favail;
	sv.f_files = files + under.f_ffree;
	sv.f_namemax = 255;
	fuse_reply_statfs(req, &sv);
}

static void op_init(void *userdata, struct fuse_conn_info *conn)
{
	/* What the kernel may cache or do without asking, and why it is
	 * safe here:
	 * - symlink targets: rootfs links never change; a tag link's text
	 *   is fixed by its depth and its image, both part of what makes
	 *   its inode (a re-pointed tag is a new inode, a rename across
	 *   depths is EXDEV), so a cached target is never stale;
	 * - READDIRPLUS, every page: a rootfs listing carries its entries'
	 *   attributes to a caller that stats them, saving a LOOKUP per
	 *   name on first traversal (dir_fill).
	 * No splice: reads answered from a descriptor (the span cache, an
	 * uncompressed blob) measured no faster with it (256 MiB file: cold
	 * 1.83 s vs 2.02 s, hot 0.73-0.80 s vs 0.64-0.69 s), so libfuse
	 * copies them. */
	static const unsigned wanted[] = {
		FUSE_CAP_ASYNC_READ, FUSE_CAP_CACHE_SYMLINKS,
		FUSE_CAP_READDIRPLUS,
	};

	struct fs_ctx *ctx = userdata;

	for (size_t i = 0; i < sizeof(wanted) / sizeof(wanted[0]); i++)
		if (conn->capable & wanted[i])
			conn->want |= wanted[i];
	/* Every listing with its entries' attributes, not only the first
	 * page of each (libfuse asks for the kernel's adaptive choice by
	 * default). */
	conn->want &= ~FUSE_CAP_READDIRPLUS_AUTO;
	/* Directories without handles (op_opendir). */
	if (!ctx->busy_dirs && (conn->capable & FUSE_CAP_NO_OPENDIR_SUPPORT)) {
		conn->want |= FUSE_CAP_NO_OPENDIR_SUPPORT;
		ctx->dirs_stateless = true;
	}
	/* Files without handles unless -o busy_files (fs_op_open). */
	if (ctx->stateless_files && (conn->capable & FUSE_CAP_NO_OPEN_SUPPORT)) {
		conn->want |= FUSE_CAP_NO_OPEN_SUPPORT;
		ctx->files_stateless = true;
	}
	/* import/'s connection uses the same handlers: only now that the
	 * choices above are made (import_conn.c). */
	fs_import_conn_start(ctx);
}

const struct fuse_lowlevel_ops fs_ops = {
	.init = op_init,
	.lookup = op_lookup,
	.forget = op_forget,
	.forget_multi = op_forget_multi,
	.getattr = op_getattr,
	.readlink = op_readlink,
	.opendir = op_opendir,
	.readdir = op_readdir,
	.readdirplus = op_readdirplus,
	.releasedir = op_releasedir,
	.open = fs_op_open,
	.read = fs_op_read,
	.release = fs_op_release,
	.getxattr = op_getxattr,
	.listxattr = op_listxattr,
	.statfs = op_statfs,
	.mkdir = fs_op_mkdir,
	.unlink = fs_op_unlink,
	.rmdir = fs_op_rmdir,
	.symlink = fs_op_symlink,
	.rename = fs_op_rename,
	.link = fs_op_link,
	.mknod = fs_op_mknod,
	.create = fs_op_create,
	.write = fs_op_write,
	.flush = fs_op_flush,
	.setattr = fs_op_setattr,
	.setxattr = fs_op_setxattr,
	.removexattr = fs_op_removexattr,
};
