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

static bool is_image_kind(enum fs_kind k)
{
	return k == FS_IMAGE_DIR || k == FS_IMAGE_FILE || k == FS_LAYERS_DIR ||
	       k == FS_LAYER || k == FS_ROOTFS || k == FS_SAVE_TAR || k == FS_OCI;
}

/*
 * A request that may wait on the network (a pull, a download, a span
 * fetch, another request's build) carries a cancel token that libfuse
 * fires when the kernel reports the caller interrupted (Ctrl-C, `timeout
 * 2 cat`): the store's waits then end with EINTR, and the downloads go on
 * for whoever else waits.  intr_end() runs before the reply, which frees
 * the request.
 */
struct fs_intr {
	fuse_req_t req;
	struct store_cancel c;
	bool on;
};

static void on_interrupt(fuse_req_t req, void *data)
{
	(void)req;
	store_cancel_fire(data);
}

static void intr_begin(struct fs_intr *in, fuse_req_t req)
{
	in->req = req;
	in->c.fired = 0;
	in->on = true;
	store_cancel_enter(&in->c);
	fuse_req_interrupt_func(req, on_interrupt, &in->c);
}

static void intr_end(struct fs_intr *in)
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

	intr_begin(&in, req);
	ret = entry_make(ctx, who, p, name, &e);
	intr_end(&in);
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

static void open_untrack(struct fs_ctx *ctx, struct fs_open *o)
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
	open_untrack(ctx, &d->link);
	fs_dirlist_release(&d->list);
	fs_put_node(ctx, d->node);
	free(d);
}

/* Undo a successful opendir: the busy count it took, then the handle. */
static void dir_handle_close(struct fs_ctx *ctx, struct dir_handle *d)
{
	if (is_image_kind(d->node->kind))
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

		intr_begin(&in, req);
		ret = fs_ns_rootfs(ctx, d->node, &d->rootfs);
		intr_end(&in);
		if (!ret)
			ret = store_rootfs_stat(d->rootfs, d->node->n, &st);
		if (!ret && !S_ISDIR(st.st_mode))
			ret = -ENOTDIR;
	} else if (d->node->kind == FS_REG_DIR) {
		/* Its listing may ask a registry, which is for some callers
		 * only. */
		struct fs_caller who;

		fs_caller_init(&who, req);
		intr_begin(&in, req);
		ret = fs_registries_list(ctx, &who, d->node, &d->list);
		intr_end(&in);
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
	if (is_image_kind(d->node->kind))
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

/* ---- files ------------------------------------------------------------ */

void fs_file_free(struct fs_ctx *ctx, struct fs_file *f)
{
	open_untrack(ctx, &f->link);
	/* a layer blob's descriptor is shared by all its open files */
	if (f->fd >= 0 && f->node && f->node->kind == FS_LAYER)
		fs_ns_layer_close(ctx, f->node);
	else if (f->fd >= 0)
		close(f->fd);
	if (f->cur)
		store_toc_cursor_free(f->cur);
	/* An import never finished by a flush (the writer died): nothing of
	 * it is committed. */
	if (f->im)
		store_import_abort(f->im);
	store_save_free(ctx->store, f->save);
	pthread_mutex_destroy(&f->lock);
	buf_release(&f->data);
	fs_put_node(ctx, f->node);
	free(f);
}

static int open_rootfs(struct fs_ctx *ctx, struct fs_file *f,
		       struct fuse_file_info *fi)
{
	struct store_rootfs *fs;
	struct stat st;
	int ret;

	ret = fs_ns_rootfs(ctx, f->node, &fs);
	if (ret)
		return ret;
	ret = store_rootfs_stat(fs, f->node->n, &st);
	if (ret)
		return ret;
	if (S_ISDIR(st.st_mode))
		return -EISDIR;
	if (!S_ISREG(st.st_mode))
		return -EACCES;
	fi->keep_cache = 1;
	return store_toc_cursor_new(&f->cur);
}

/*
 * open_save - image.tar, the files of oci/ and export/NAME.tar: the
 * member list is built here, so one open reads one consistent archive
 * even if a tag or a selection changes meanwhile.  What depends on them
 * (the archives, oci/index.json) is read past the page cache: its size may have changed since the kernel
 * last asked, and a cached size would cut the reads short.  Blobs are
 * immutable and cached.
 */
static int open_save(struct fs_ctx *ctx, struct fs_file *f,
		     struct fuse_file_info *fi)
{
	const struct store_save_member *m = NULL;
	int ret;

	ret = fs_ns_save(ctx, f->node, &f->save);
	if (ret)
		return ret;
	if (f->node->kind == FS_OCI) {
		if (f->node->n == 0)
			return -EISDIR;
		m = store_save_member(f->save, f->node->n - 1);
		if (!m)
			return -ESTALE;
		if (m->is_dir)
			return -EISDIR;
	}
	if (!m || m->mutable)
		fi->direct_io = 1;
	else
		fi->keep_cache = 1;
	return 0;
}

/* Undo a successful open: the busy count it took, then the handle. */
static void file_close(struct fs_ctx *ctx, struct fs_file *f)
{
	if (is_image_kind(f->node->kind))
		store_image_busy(ctx->store, f->node->img, -1);
	fs_file_free(ctx, f);
}

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
			file_close(ctx, (struct fs_file *)o);
	}
}

/* A handle for @ino, before its kind's content is loaded (file_load). */
static int file_new(struct fs_ctx *ctx, fuse_ino_t ino, struct fs_file **out)
{
	struct fs_file *f = calloc(1, sizeof(*f));

	*out = NULL;
	if (!f)
		return -ENOMEM;
	f->fd = -1;
	pthread_mutex_init(&f->lock, NULL);
	buf_init(&f->data, FS_GENERATED_MAX);
	f->node = fs_inode_get(&ctx->inodes, ino);
	if (!f->node) {
		fs_file_free(ctx, f);
		return -ESTALE;
	}
	*out = f;
	return 0;
}

/*
 * file_load - what a read of @f's node needs, by kind: the generated
 * bytes, the layer's descriptor, the archive's member list, a cursor.
 * @fi is the open's (its cache flags are set here), or NULL for a read
 * that came without a handle (files_stateless, op_read).
 */
static int file_load(fuse_req_t req, struct fs_ctx *ctx, struct fs_file *f,
		     struct fuse_file_info *fi)
{
	struct fuse_file_info unused = { 0 };
	struct fs_intr in;
	int ret;

	if (!fi)
		fi = &unused;
	switch (f->node->kind) {
	case FS_IMAGE_FILE:
		ret = fs_ns_image_file(ctx, f->node, &f->data);
		fi->keep_cache = 1;
		break;
	case FS_LAYER:
		intr_begin(&in, req);
		ret = fs_ns_layer_open(ctx, f->node, &f->fd);
		intr_end(&in);
		fi->keep_cache = 1;
		break;
	case FS_ROOTFS:
		intr_begin(&in, req);
		ret = open_rootfs(ctx, f, fi);
		intr_end(&in);
		break;
	case FS_SAVE_TAR:
	case FS_OCI:
	case FS_EXPORT_TAR:
		ret = open_save(ctx, f, fi);
		break;
	case FS_IMAGES:
		ret = fs_ns_generate(ctx, f->node, &f->data);
		/* The table changes with every tag: no page cache, and
		 * reads end where the content ends whatever stat said. */
		fi->direct_io = 1;
		break;
	case FS_TAG:
	case FS_DANGLING_LINK:
	case FS_EXPORT_LINK:
		/* The kernel follows links before it opens; only a caller
		 * that asked not to follow gets here. */
		ret = -ELOOP;
		break;
	default:
		ret = -EISDIR;
	}
	return ret;
}

/*
 * op_open - with files_stateless, ENOSYS: the first one tells the kernel
 * (FUSE_CAP_NO_OPEN_SUPPORT) to open every file from then on without
 * asking us and to send no release; reads then come without a handle
 * (op_read loads what an open would have for each one), a write into an
 * image fails at write() rather than at open(), and an open file no
 * longer holds its image busy.  See docs/DESIGN.md, "Why files still
 * have handles".
 */
static void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs_ctx *ctx = fs_ctx_of(req);
	struct fs_file *f = NULL;
	int ret;

	if (ctx->files_stateless) {
		fuse_reply_err(req, ENOSYS);
		return;
	}
	ret = file_new(ctx, ino, &f);
	if (ret)
		goto out;
	if (f->node->kind == FS_IMPORT_FILE) {
		/* An import is one stream, fed by the descriptor create
		 * returned; a second open (/proc/PID/fd/N) has nothing to
		 * read and no place to write. */
		ret = -EACCES;
		goto out;
	}
	if ((fi->flags & O_ACCMODE) != O_RDONLY || (fi->flags & O_TRUNC)) {
		ret = -EROFS;
		goto out;
	}
	ret = file_load(req, ctx, f, fi);
	if (ret)
		goto out;
	/* Read-only: nothing to do at close(), so no FLUSH round trip
	 * (import files, whose commit happens at flush, are created, never
	 * opened here). */
	fi->noflush = 1;
	if (is_image_kind(f->node->kind))
		store_image_busy(ctx->store, f->node->img, 1);
	fi->fh = (uintptr_t)f;
	fs_open_track(ctx, &f->link);
	/* A refused reply leaves the kernel without the handle: no release
	 * will come for it (see op_opendir). */
	if (fuse_reply_open(req, fi) != 0)
		file_close(ctx, f);
	return;
out:
	if (f)
		fs_file_free(ctx, f);
	fuse_reply_err(req, -ret);
}

/*
 * Reply with a slice of @data, copied while f->lock is held: an
 * interrupted reader's release can arrive while its read is still being
 * answered, and release frees what @data points into (it takes the lock
 * first, so the copy is never torn).
 */
static void reply_slice(fuse_req_t req, struct fs_file *f, const char *data,
			size_t len, size_t size, off_t off)
{
	char *copy = NULL;
	size_t n = 0;

	if ((uint64_t)off < len) {
		n = len - (size_t)off < size ? len - (size_t)off : size;
		copy = malloc(n ? n : 1);
		if (!copy) {
			pthread_mutex_unlock(&f->lock);
			fuse_reply_err(req, ENOMEM);
			return;
		}
		memcpy(copy, data + off, n);
	}
	pthread_mutex_unlock(&f->lock);
	fuse_reply_buf(req, copy, n);
	free(copy);
}

/* Most pieces one rootfs read is answered in by reply_refs(). */
#define FS_READ_REFS 8

/*
 * reply_refs - answer a read of a rootfs file with descriptors of where
 * its bytes lie (an uncompressed layer's blob, the span cache) rather
 * than a copy of them: libfuse reads them straight into the reply, with
 * no buffer of ours in between; the store keeps them pinned until the
 * reply is sent.  (Splicing them, FUSE_CAP_SPLICE_WRITE, measured no
 * faster, so it is not asked for.)  False, having replied nothing, when
 * the bytes are not all in files (the caller copies): a short answer
 * would tell the kernel the file ends there.
 */
static bool reply_refs(fuse_req_t req, struct fs_ctx *ctx, struct fs_file *f,
		       size_t size, off_t off, struct fs_intr *in)
{
	struct store_read_ref refs[FS_READ_REFS];
	struct fuse_bufvec *bv = NULL;
	size_t n = 0, total = 0;
	bool replied;
	int ret = 0;

	while (total < size && n < FS_READ_REFS) {
		ret = store_image_read_ref(ctx->store, f->node->img, f->node->n,
					   size - total, (uint64_t)off + total, &refs[n]);
		if (ret || refs[n].len == 0)
			break;	/* an error, or the end of the file */
		total += refs[n++].len;
	}
	if (!ret && n)
		bv = calloc(1, sizeof(*bv) + (n - 1) * sizeof(bv->buf[0]));
	replied = !(ret == -ENOBUFS || (total < size && n == FS_READ_REFS) ||
		    (n && !ret && !bv));
	if (replied)
		intr_end(in);	/* the reply below frees @req */
	if (!replied) {
		/* the caller copies */
	} else if (ret) {
		fuse_reply_err(req, -ret);
	} else if (!n) {
		fuse_reply_buf(req, NULL, 0);
	} else {
		bv->count = n;
		for (size_t i = 0; i < n; i++) {
			bv->buf[i].size = refs[i].len;
			bv->buf[i].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
			bv->buf[i].fd = refs[i].fd;
			bv->buf[i].pos = (off_t)refs[i].off;
		}
		fuse_reply_data(req, bv, 0);
	}
	for (size_t i = 0; i < n; i++)
		store_image_read_unref(ctx->store, &refs[i]);
	free(bv);
	return replied;
}

static void file_read(fuse_req_t req, struct fs_ctx *ctx, struct fs_file *f,
		      size_t size, off_t off)
{
	struct store_image *img = f->node->img;
	struct fs_intr in = { 0 };
	char *buf = NULL;
	size_t got = 0;
	int ret = 0;

	switch (f->node->kind) {
	case FS_IMAGE_FILE:	/* its bytes, copied at open */
	case FS_IMAGES:
		pthread_mutex_lock(&f->lock);
		reply_slice(req, f, f->data.data, f->data.len, size, off);
		return;
	case FS_ROOTFS:
		intr_begin(&in, req);
		if (reply_refs(req, ctx, f, size, off, &in))
			return;
		break;
	case FS_LAYER:
	case FS_SAVE_TAR:
	case FS_OCI:
	case FS_EXPORT_TAR:
		break;
	default:
		/* An import file (open O_RDWR) is a stream into the store
		 * with no image behind it yet: nothing to read. */
		fuse_reply_err(req, EINVAL);
		return;
	}
	buf = malloc(size ? size : 1);
	if (!buf) {
		ret = -ENOMEM;
		goto out;
	}
	if (f->node->kind == FS_LAYER) {
		ssize_t n = pread(f->fd, buf, size, off);

		if (n < 0)
			ret = -errno;
		else
			got = (size_t)n;
	} else if (f->node->kind != FS_ROOTFS) {
		/* image.tar, oci/ and export/ files, under the handle's lock:
		 * release frees the member list (it waits for the lock, see
		 * reply_slice). */
		pthread_mutex_lock(&f->lock);
		if (f->node->kind != FS_OCI)
			ret = store_save_read(ctx->store, f->save, buf, size,
					      (uint64_t)off, &got);
		else
			ret = store_save_member_read(ctx->store, f->save,
						     f->node->n - 1, buf, size,
						     (uint64_t)off, &got);
		pthread_mutex_unlock(&f->lock);
	} else {
		/* Bytes the span cache cannot hold are decompressed here:
		 * one cursor per open file keeps sequential reads
		 * streaming; a concurrent read of the same file seeks on
		 * its own. */
		bool locked = pthread_mutex_trylock(&f->lock) == 0;

		ret = store_image_read(ctx->store, img, f->node->n,
				       locked ? f->cur : NULL, buf, size,
				       (uint64_t)off, &got);
		if (locked)
			pthread_mutex_unlock(&f->lock);
	}
out:
	intr_end(&in);
	if (ret)
		fuse_reply_err(req, -ret);
	else
		fuse_reply_buf(req, buf, got);
	free(buf);
}

/*
 * op_read - from the open's handle, or (files_stateless) from one made
 * for this read alone: an archive's member list is then made again for
 * every read, so a tag changed while an image.tar is copied can change
 * the bytes that follow (with a handle the copy keeps what its open saw).
 */
static void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	struct fs_ctx *ctx = fs_ctx_of(req);
	struct fs_file *f = (struct fs_file *)(uintptr_t)fi->fh;
	int ret;

	if (f) {
		file_read(req, ctx, f, size, off);
		return;
	}
	ret = file_new(ctx, ino, &f);
	if (!ret && f->node->kind == FS_IMPORT_FILE)
		ret = -EBADF;	/* opened again, through /proc/PID/fd */
	if (!ret)
		ret = file_load(req, ctx, f, NULL);
	if (ret)
		fuse_reply_err(req, -ret);
	else
		file_read(req, ctx, f, size, off);
	if (f)
		fs_file_free(ctx, f);
}

static void op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs_ctx *ctx = fs_ctx_of(req);
	struct fs_file *f = (struct fs_file *)(uintptr_t)fi->fh;

	(void)ino;
	if (!f) {	/* none with files_stateless, which sends no release */
		fuse_reply_err(req, 0);
		return;
	}
	/* Wait for a read still answering from this handle (see
	 * reply_slice). */
	pthread_mutex_lock(&f->lock);
	pthread_mutex_unlock(&f->lock);
	file_close(ctx, f);
	fuse_reply_err(req, 0);
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
	/* Files without handles, when asked for (op_open). */
	if (ctx->stateless_files && (conn->capable & FUSE_CAP_NO_OPEN_SUPPORT)) {
		conn->want |= FUSE_CAP_NO_OPEN_SUPPORT;
		ctx->files_stateless = true;
	}
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
	.open = op_open,
	.read = op_read,
	.release = op_release,
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
