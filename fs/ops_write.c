/* SPDX-License-Identifier: MIT */
/*
 * ops_write.c - the FUSE handlers that change the namespace: tags (symlink,
 * link, rename, unlink), image deletion (rmdir by-id/<id>, unlink
 * dangling/<id>), directories (mkdir), and import/ files (create, write,
 * flush).  Everything else that would write (a rootfs, a manifest, ...)
 * is EROFS: images are immutable.
 *
 * An import file streams into the store as it is written (store_import_*)
 * and is committed by its first flush, i.e. by close(2): the writer's
 * close returns the import's result, so `cp` fails when the import does.
 *
 * Each change has the kernel drop the entries it made stale
 * (ops_notify.c): those outside the directories the request holds before
 * the reply, so that the change shows when the system call returns.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "ops.h"

static void reply_ret(fuse_req_t req, int ret)
{
	fuse_reply_err(req, ret < 0 ? -ret : 0);
}

/* After a namespace change for @who that made @name in @p: its entry, or
 * the change's error; then the kernel drops what the change made stale. */
static void reply_made(fuse_req_t req, struct fs_caller *who, int ret,
		       struct fs_inode *p, const char *name)
{
	struct fs_ctx *ctx = fs_ctx_of(req);

	if (ret) {
		fs_changes_before_reply(ctx, who, &p->ino, 1);
		reply_ret(req, ret);
	} else {
		fs_reply_entry(req, who, p, name, NULL);
	}
	fs_changes_after_reply(ctx, who);
}

/* Pins the node of @ino; replies ESTALE when it is gone. */
static struct fs_inode *get_or_reply(fuse_req_t req, fuse_ino_t ino)
{
	struct fs_inode *n = fs_inode_get(&fs_ctx_of(req)->inodes, ino);

	if (!n)
		fuse_reply_err(req, ESTALE);
	return n;
}

void fs_op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
	struct fs_ctx *ctx = fs_ctx_of(req);
	struct fs_inode *p = get_or_reply(req, parent);
	struct fs_caller who;
	int ret;

	(void)mode;
	if (!p)
		return;
	fs_caller_init(&who, req);
	ret = fs_ns_mkdir(ctx, p, name);
	reply_made(req, &who, ret, p, name);
	fs_put_node(ctx, p);
}

/* Removing a name: the same pinning and reply, another namespace call. */
static void remove_name(fuse_req_t req, fuse_ino_t parent, const char *name,
			int (*op)(struct fs_ctx *, struct fs_caller *,
				  struct fs_inode *, const char *))
{
	struct fs_ctx *ctx = fs_ctx_of(req);
	struct fs_inode *p = get_or_reply(req, parent);
	struct fs_caller who;
	int ret;

	if (!p)
		return;
	fs_caller_init(&who, req);
	ret = op(ctx, &who, p, name);
	fs_changes_before_reply(ctx, &who, &p->ino, 1);
	reply_ret(req, ret);
	fs_changes_after_reply(ctx, &who);
	fs_put_node(ctx, p);
}

void fs_op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	remove_name(req, parent, name, fs_ns_unlink);
}

void fs_op_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	remove_name(req, parent, name, fs_ns_rmdir);
}

/*
 * A link into registries/ pushes: it sends an image out under the mount's
 * registry credentials to a host the caller names, as a pull does, so the
 * same users may (root, the mount's owner, members of the pull group).
 */
static int may_push(struct fs_ctx *ctx, struct fs_caller *who, struct fs_inode *dir)
{
	if (dir->kind != FS_REG_DIR || who->uid == 0 || fs_caller_may_pull(ctx, who))
		return 0;
	log_warn("push refused: uid %u is neither root, the mount's owner nor in the pull group",
		 (unsigned)who->uid);
	return -EACCES;
}

void fs_op_symlink(fuse_req_t req, const char *link, fuse_ino_t parent,
		   const char *name)
{
	struct fs_ctx *ctx = fs_ctx_of(req);
	struct fs_inode *p = get_or_reply(req, parent);
	struct fs_caller who;
	int ret;

	if (!p)
		return;
	fs_caller_init(&who, req);
	ret = may_push(ctx, &who, p);
	if (!ret)
		ret = fs_tag_symlink(ctx, &who, p, name, link);
	reply_made(req, &who, ret, p, name);
	fs_put_node(ctx, p);
}

void fs_op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent,
		const char *newname)
{
	struct fs_ctx *ctx = fs_ctx_of(req);
	struct fs_inode *src = get_or_reply(req, ino);
	struct fs_inode *p;
	int ret;

	if (!src)
		return;
	p = get_or_reply(req, newparent);
	if (p) {
		struct fs_caller who;

		fs_caller_init(&who, req);
		ret = may_push(ctx, &who, p);
		if (!ret)
			ret = fs_tag_link(ctx, &who, src, p, newname);
		reply_made(req, &who, ret, p, newname);
		fs_put_node(ctx, p);
	}
	fs_put_node(ctx, src);
}

void fs_op_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
		  fuse_ino_t newparent, const char *newname, unsigned int flags)
{
	struct fs_ctx *ctx = fs_ctx_of(req);
	struct fs_inode *p = get_or_reply(req, parent);
	struct fs_inode *np;

	if (!p)
		return;
	np = get_or_reply(req, newparent);
	if (np) {
		const fuse_ino_t held[2] = { p->ino, np->ino };
		struct fs_caller who;
		int ret;

		fs_caller_init(&who, req);
		ret = fs_tag_rename(ctx, &who, p, name, np, newname, flags);
		fs_changes_before_reply(ctx, &who, held, 2);
		reply_ret(req, ret);
		fs_changes_after_reply(ctx, &who);
		fs_put_node(ctx, np);
	}
	fs_put_node(ctx, p);
}

/* ---- import/ files -------------------------------------------------------- */

void fs_op_create(fuse_req_t req, fuse_ino_t parent, const char *name,
		  mode_t mode, struct fuse_file_info *fi)
{
	struct fs_ctx *ctx = fs_ctx_of(req);
	struct fs_inode *p = get_or_reply(req, parent);
	struct fs_inode tmpl = { .kind = FS_IMPORT_FILE };
	struct store_image *unused = NULL;
	struct fuse_entry_param e;
	struct fs_file *f = NULL;
	char *ref = NULL;
	double timeout;
	uint64_t seq;
	char key[40];
	int ret;

	(void)mode;
	if (!p)
		return;
	memset(&e, 0, sizeof(e));
	if (p->kind != FS_IMPORT_DIR) {
		ret = p->kind == FS_REPOS_DIR || p->kind == FS_ROOT ? -EPERM : -EROFS;
		goto out;
	}
	ret = fs_import_name(ctx, p, name, &ref);
	if (ret)
		goto out;
	f = calloc(1, sizeof(*f));
	if (!f) {
		ret = -ENOMEM;
		goto out;
	}
	f->fd = -1;
	pthread_mutex_init(&f->lock, NULL);
	buf_init(&f->data, 0);
	ret = store_import_begin(ctx->store, ref, name, &f->im);
	if (ret)
		goto out;
	pthread_mutex_lock(&ctx->dirs_lock);
	seq = ++ctx->import_seq;
	pthread_mutex_unlock(&ctx->dirs_lock);
	/* Each import file is an inode of its own, never found again by
	 * name: once closed it has become an image. */
	snprintf(key, sizeof(key), "w:%llu", (unsigned long long)seq);
	tmpl.key = key;
	tmpl.path = (char *)name;
	ret = fs_inode_lookup(&ctx->inodes, &tmpl, &f->node, &unused);
	if (ret)
		goto out;
	ret = fs_ns_stat(ctx, f->node, &e.attr, &timeout);
	if (ret) {
		/* The lookup counted above was never handed over. */
		fs_put_img(ctx, fs_inode_forget(&ctx->inodes, f->node->ino, 1));
		goto out;
	}
	e.ino = f->node->ino;
	e.attr_timeout = 0;
	e.entry_timeout = 0;
	fi->direct_io = 1;
	fi->fh = (uintptr_t)f;
	fs_open_track(ctx, &f->link);
	/* A refused reply hands over neither the lookup nor the handle:
	 * drop both, and the import with the handle. */
	if (fuse_reply_create(req, &e, fi) != 0) {
		fs_put_img(ctx, fs_inode_forget(&ctx->inodes, f->node->ino, 1));
		fs_file_free(ctx, f);
	}
	f = NULL;
out:
	if (f)
		fs_file_free(ctx, f);
	if (ret)
		reply_ret(req, ret);
	free(ref);
	fs_put_node(ctx, p);
}

void fs_op_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size,
		 off_t off, struct fuse_file_info *fi)
{
	struct fs_file *f = (struct fs_file *)(uintptr_t)fi->fh;
	int ret;

	(void)ino;
	if (!f) {
		/* Opened without a handle (files_stateless): a file of an
		 * image, or an import file opened again through /proc. */
		struct fs_ctx *ctx = fs_ctx_of(req);
		struct fs_inode *node = fs_inode_get(&ctx->inodes, ino);

		ret = node && node->kind == FS_IMPORT_FILE ? EBADF : EROFS;
		fs_put_node(ctx, node);
		fuse_reply_err(req, ret);
		/* The kernel took the bytes into its page cache before it
		 * asked (a shared writable mapping, written back now): have
		 * it drop them, so that readers see the image's again. */
		if (ret == EROFS)
			fs_notify_listed(ctx, ino);
		return;
	}
	if (f->node->kind != FS_IMPORT_FILE) {
		fuse_reply_err(req, EROFS);
		return;
	}
	pthread_mutex_lock(&f->lock);
	if (f->done || !f->im) {
		ret = -EIO;
	} else if ((uint64_t)off != f->pos) {
		/* The import is a stream: a writer that seeks (a sparse
		 * copy) cannot be followed. */
		log_err("import/%s: write at offset %lld, expected %llu: imports "
			"must be written sequentially", f->node->path,
			(long long)off, (unsigned long long)f->pos);
		ret = -ESPIPE;
	} else {
		ret = store_import_write(f->im, buf, size);
		if (!ret)
			f->pos += size;
	}
	pthread_mutex_unlock(&f->lock);
	if (ret)
		fuse_reply_err(req, -ret);
	else
		fuse_reply_write(req, size);
}

void fs_op_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs_ctx *ctx = fs_ctx_of(req);
	struct fs_file *f = (struct fs_file *)(uintptr_t)fi->fh;
	struct fs_caller who;
	struct buf result;
	int ret = 0;

	(void)ino;
	/* Without a handle (files_stateless) nothing was written.  With
	 * import/ on its own connection no file here needs a flush:
	 * ENOSYS tells the kernel to send none again (a close then costs
	 * no round trip).  Else an import's flush is to come. */
	if (!f) {
		fuse_reply_err(req, ctx->import_conn ? ENOSYS : 0);
		return;
	}
	if (f->node->kind != FS_IMPORT_FILE) {
		fuse_reply_err(req, 0);
		return;
	}
	buf_init(&result, 1 << 20);
	pthread_mutex_lock(&f->lock);
	/* A shell's `> file` opens, dup2()s and closes the first descriptor
	 * before writing: that flush carries no data and must not end the
	 * import. */
	if (!f->done && f->pos == 0) {
		/* Nothing written (yet): no archive.  The close of a dup'ed
		 * descriptor ignores this; a writer that closes an empty
		 * file sees it fail. */
		log_warn("import/%s: closed with nothing written: no archive "
			 "(the import goes on if another descriptor writes)",
			 f->node->path);
		pthread_mutex_unlock(&f->lock);
		buf_release(&result);
		fuse_reply_err(req, EINVAL);
		return;
	}
	if (!f->done) {
		f->done = true;
		f->err = store_import_finish(f->im, &result);
		f->im = NULL;
		if (f->err)
			log_err("import/%s: failed: %s", f->node->path, strerror(-f->err));
		else
			log_info("import/%s: %s", f->node->path, buf_str(&result));
	}
	ret = f->err;
	pthread_mutex_unlock(&f->lock);
	/* The images and tags it made may be cached as absent.  The
	 * request holds no directory: all before the reply. */
	fs_caller_init(&who, req);
	if (result.len)
		fs_changes_import(ctx, &who.changed, buf_str(&result));
	fs_changes_before_reply(ctx, &who, NULL, 0);
	buf_release(&result);
	reply_ret(req, ret);
	fs_changes_after_reply(ctx, &who);
}

void fs_op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr,
		   int to_set, struct fuse_file_info *fi)
{
	struct fs_ctx *ctx = fs_ctx_of(req);
	struct fs_inode *n = get_or_reply(req, ino);
	struct stat st;
	double timeout;
	int ret;

	(void)fi;
	if (!n)
		return;
	/* An import file takes what `cp -p` or a shell's O_TRUNC set on a
	 * new file (its own size 0, mode and times): there is nothing to
	 * keep them on, and failing would fail the copy. */
	if (n->kind != FS_IMPORT_FILE ||
	    ((to_set & FUSE_SET_ATTR_SIZE) && attr->st_size != 0)) {
		ret = -EROFS;
		goto out;
	}
	ret = fs_ns_stat(ctx, n, &st, &timeout);
	if (!ret)
		fuse_reply_attr(req, &st, 0);
out:
	if (ret)
		reply_ret(req, ret);
	fs_put_node(ctx, n);
}

void fs_op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name,
		 mode_t mode, dev_t rdev)
{
	(void)parent, (void)name, (void)mode, (void)rdev;
	fuse_reply_err(req, EROFS);
}

void fs_op_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
		    const char *value, size_t size, int flags)
{
	(void)ino, (void)name, (void)value, (void)size, (void)flags;
	fuse_reply_err(req, EROFS);
}

void fs_op_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	(void)ino, (void)name;
	fuse_reply_err(req, EROFS);
}
