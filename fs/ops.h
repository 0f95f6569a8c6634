/* SPDX-License-Identifier: MIT */
/*
 * ops.h - what the FUSE handler files (ops.c: lookups and listings,
 * ops_file.c: open files, ops_write.c: changing the namespace) share: the
 * open-file handle, the interrupt token and the entry reply.
 */
#ifndef IMGFS_FS_OPS_H
#define IMGFS_FS_OPS_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include <fuse_lowlevel.h>

#include "fs.h"
#include "import.h"
#include "save.h"

/* One open file: what fi->fh points at. */
/* A handle's place in ctx->open (ops.c); first in every handle. */
struct fs_open {
	struct fs_open *prev, *next;
	bool tracked;
	bool dir;			/* a struct dir_handle, else fs_file */
};

struct fs_file {
	struct fs_open link;		/* first */
	struct fs_inode *node;		/* pinned */
	int fd;				/* layer blob, or -1 */
	struct buf data;		/* generated content */
	pthread_mutex_t lock;		/* guards cur, im, pos, done */
	struct store_toc_cursor *cur;	/* rootfs files */
	struct store_import *im;	/* import/ files until closed */
	struct store_save *save;	/* image.tar, oci/ files */
	struct fs_saved *saved;		/* its owner, read without a handle */
	uint64_t pos;			/* import: bytes received */
	bool done;			/* import: finished (committed or not) */
	int err;			/* import: the result of finishing */
};

/* Image kinds hold their image busy while open (the store's count). */
static inline bool fs_is_image_kind(enum fs_kind k)
{
	return k == FS_IMAGE_DIR || k == FS_IMAGE_FILE || k == FS_LAYERS_DIR ||
	       k == FS_LAYER || k == FS_ROOTFS || k == FS_SAVE_TAR || k == FS_OCI;
}

/*
 * A request that may wait on the network (a pull, a download, a span
 * fetch, another request's build) carries a cancel token that libfuse
 * fires when the kernel reports the caller interrupted (Ctrl-C, `timeout
 * 2 cat`): the store's waits then end with EINTR, and the downloads go on
 * for whoever else waits.  fs_intr_end() runs before the reply, which
 * frees the request.
 */
struct fs_intr {
	fuse_req_t req;
	struct store_cancel c;
	bool on;
};

void fs_intr_begin(struct fs_intr *in, fuse_req_t req);
void fs_intr_end(struct fs_intr *in);

static inline struct fs_ctx *fs_ctx_of(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

void fs_put_img(struct fs_ctx *ctx, struct store_image *img);
void fs_put_node(struct fs_ctx *ctx, struct fs_inode *node);
void fs_file_free(struct fs_ctx *ctx, struct fs_file *f);
/* Put @o in ctx->open (a handle about to be given to the kernel), and
 * take it out again. */
void fs_open_track(struct fs_ctx *ctx, struct fs_open *o);
void fs_open_untrack(struct fs_ctx *ctx, struct fs_open *o);
/* Undo a successful open (ops_file.c): the busy count, then the handle. */
void fs_file_close(struct fs_ctx *ctx, struct fs_file *f);
/* At exit: the member lists kept for reads without a handle. */
void fs_saves_release(struct fs_ctx *ctx);
/* At exit, after the session ended: release every handle left. */
void fs_open_release_all(struct fs_ctx *ctx);
/* Look @name up in @parent for @who and reply with the entry (counting a
 * lookup); what the lookup changed (a pull) is in who->changed.  *@mode
 * (if @mode) becomes the entry's mode when one was given. */
void fs_reply_entry(fuse_req_t req, struct fs_caller *who,
		    struct fs_inode *parent, const char *name, mode_t *mode);

/* ---- ops_notify.c ---- */
/* @who as the request @req's caller, with no changes yet. */
void fs_caller_init(struct fs_caller *who, fuse_req_t req);
/* Start and stop the thread that sends cache invalidations of @se. */
int fs_notify_start(struct fs_ctx *ctx, struct fuse_session *se);
void fs_notify_stop(struct fs_ctx *ctx);
/*
 * fs_changes_before_reply - have the kernel drop its entries of the names
 * who->changed lists, except those in the @n_busy directories @busy the
 * request holds locked: waits until they are dropped (at most
 * FS_TIMEOUT_TAG).  Call before replying.
 */
void fs_changes_before_reply(struct fs_ctx *ctx, struct fs_caller *who,
			     const fuse_ino_t *busy, size_t n_busy);
/* After replying: the rest of who->changed, without waiting; releases
 * who->changed. */
void fs_changes_after_reply(struct fs_ctx *ctx, struct fs_caller *who);
/* The kernel is to drop its listing of directory @ino, after the reply
 * that ended it (a namespace directory: it may change without a
 * request; see ops_notify.c). */
void fs_notify_listed(struct fs_ctx *ctx, fuse_ino_t ino);

void fs_op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void fs_op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		struct fuse_file_info *fi);
void fs_op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void fs_op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode);
void fs_op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name);
void fs_op_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name);
void fs_op_symlink(fuse_req_t req, const char *link, fuse_ino_t parent,
		   const char *name);
void fs_op_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
		  fuse_ino_t newparent, const char *newname, unsigned int flags);
void fs_op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent,
		const char *newname);
void fs_op_create(fuse_req_t req, fuse_ino_t parent, const char *name,
		  mode_t mode, struct fuse_file_info *fi);
void fs_op_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size,
		 off_t off, struct fuse_file_info *fi);
void fs_op_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void fs_op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr,
		   int to_set, struct fuse_file_info *fi);
void fs_op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name,
		 mode_t mode, dev_t rdev);
void fs_op_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
		    const char *value, size_t size, int flags);
void fs_op_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name);

/* ---- import_conn.c: import/ on a connection of its own ---- */
int fs_import_conn_mount(struct fs_ctx *ctx, struct fuse_args *args,
			 const char *store_dir);
void fs_import_conn_start(struct fs_ctx *ctx);
void fs_import_conn_stop(struct fs_ctx *ctx, bool finish);

/* The low-level operations table (ops.c). */
extern const struct fuse_lowlevel_ops fs_ops;

#endif
