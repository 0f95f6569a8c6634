/* SPDX-License-Identifier: MIT */
/*
 * merge.c - the whiteout, opaque-directory and hardlink merge: the layers
 * of an image applied bottom to top to a mutable name tree with Docker's
 * / overlayfs's rules (rootfs.h lists them), then frozen into the compact
 * tree that tree.c serves (freeze()).
 *
 * Design notes.
 *  - A name (struct bdent) and an inode (struct binode) are separate so
 *    that hardlinks can share one inode; nlink counts the live names.
 *  - Names are found by an index keyed by (parent name index, name)
 *    (names.c): keying by full path would make a hostile tar of
 *    deep paths cost O(depth x length) of key memory; this way every key
 *    is one component and a lookup costs O(path length) at worst.  A stack
 *    of the parent directories of the previous entry makes the common case
 *    (tar order: siblings one after the other) one lookup per entry.
 *  - "Lower layers only" for whiteouts is decided with a per-name tag,
 *    bdent.seen = the last layer that has this name (as an entry or as the
 *    parent directory of one).  A whiteout or opaque marker removes the
 *    names not seen in its own layer, so where it sits in the tar does not
 *    matter.  A directory kept that way but whose metadata still comes from
 *    a lower layer gets made-up metadata, so that both tar orders give the
 *    same tree.
 *  - A parent component that exists as a non-directory (a symlink "etc ->
 *    /tmp" then "etc/passwd") is replaced by a made-up directory, as a
 *    directory in overlayfs's upper layer hides a lower symlink.  Symlinks
 *    are never followed while building: they may loop or point anywhere,
 *    and a layer must not add names to a directory it does not name.
 *    (Extractors that follow them inside the rootfs - Docker in its
 *    chroot, umoci with securejoin - would put passwd in tmp/ instead;
 *    well-formed layers never rely on it.)
 *  - ".wh..wh.plnk/NAME" regular files (AUFS-era images) are hidden
 *    hardlink targets: they get an inode with no visible name, and a
 *    hardlink to them in the same layer shares it (as Docker does).
 *  - Killed names are never reused, so an index on the parent stack can be
 *    checked for staleness by looking at the name itself.  (An entry only
 *    changes names below its parent, so the stack should never go stale;
 *    the check keeps it safe should that change.)
 *
 * Everything here lives for one build only; only the implicit-directory
 * names (the arena) are handed over to the tree.
 */
#include "rootfs_int.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "path.h"

#define ROOT_D 0		/* the root's name index and inode index */
#define PLNK_PARENT (UINT32_MAX - 1)	/* "parent" of hidden plnk names */
#define WARN_MAX 16		/* skipped entries logged one by one */
#define WH ".wh."
#define WH_META ".wh..wh."
#define WH_OPQ ".wh..wh..opq"
#define WH_PLNK ".wh..wh.plnk/"

struct bdent {
	const char *name;	/* NUL-terminated, owned by a toc or the arena */
	uint32_t ino;		/* binode; ROOTFS_NONE once removed */
	uint32_t parent;
	uint32_t first, next, prev;	/* children list, doubly linked */
	uint32_t seen;		/* last layer holding this name */
};

struct binode {
	const struct store_toc_entry *e;	/* NULL: made-up directory */
	uint32_t layer;
	uint32_t nlink;		/* live visible names (directories: 1) */
	uint32_t fino;		/* number in the frozen tree */
};

struct bstk {
	uint32_t end;		/* offset of the component's end in the path */
	uint32_t d;
};

struct builder {
	struct bdent *d;
	size_t nd, cd;
	struct binode *in;
	size_t ni, ci;
	struct rootfs_names names;	/* (parent, name) -> bdent index */
	struct bstk *stk;	/* parent dirs of the previous entry */
	size_t nstk, cstk;
	const char *prev;	/* the path @stk describes */
	size_t prev_plen;
	struct rootfs_arena *arena;
	uint32_t cur;		/* layer being applied */
	size_t live;		/* visible names, root included */
	size_t skipped;
};

enum { P_OK, P_BAD, P_META };

static bool bino_isdir(const struct binode *in)
{
	return !in->e || in->e->type == STORE_FT_DIR;
}

static bool dent_isdir(const struct builder *b, uint32_t x)
{
	return bino_isdir(&b->in[b->d[x].ino]);
}

static void skip(struct builder *b, const char *path, const char *why)
{
	b->skipped++;
	if (b->skipped <= WARN_MAX)
		log_warn("rootfs: layer %u: skipping \"%s\": %s", b->cur, path, why);
}

static uint32_t child_get(struct builder *b, uint32_t parent, const char *name,
			  size_t nlen)
{
	return rootfs_names_get(&b->names, parent, name, nlen);
}

/* Double the array @p of *@cap elements of @size bytes into *@out.  Its
 * indexes must stay below the sentinels ROOTFS_NONE and PLNK_PARENT. */
static int grow(void *p, size_t *cap, size_t size, void **out)
{
	size_t c = *cap ? *cap * 2 : 64;

	if (c >= ROOTFS_NONE - 2)
		return -E2BIG;
	p = reallocarray(p, c, size);
	if (!p)
		return -ENOMEM;
	*cap = c;
	*out = p;
	return 0;
}

static int ino_new(struct builder *b, const struct store_toc_entry *e,
		   uint32_t *out)
{
	void *p;
	int ret;

	if (b->ni == b->ci) {
		ret = grow(b->in, &b->ci, sizeof(*b->in), &p);
		if (ret < 0)
			return ret;
		b->in = p;
	}
	b->in[b->ni] = (struct binode){ .e = e, .layer = b->cur };
	*out = (uint32_t)b->ni++;
	return 0;
}

/* A new name @name under @parent for inode @ino (whose nlink the caller
 * counts).  Hidden names (@parent PLNK_PARENT) are in no directory. */
static int dent_new(struct builder *b, uint32_t parent, const char *name,
		    uint32_t ino, uint32_t *out)
{
	struct bdent *d;
	uint32_t x;
	void *p;
	int ret;

	if (b->nd == b->cd) {
		ret = grow(b->d, &b->cd, sizeof(*b->d), &p);
		if (ret < 0)
			return ret;
		b->d = p;
	}
	x = (uint32_t)b->nd;
	ret = rootfs_names_add(&b->names, parent, name, x);
	if (ret < 0)
		return ret;
	b->nd++;
	d = &b->d[x];
	*d = (struct bdent){ .name = name, .ino = ino, .parent = parent,
			     .first = ROOTFS_NONE, .next = ROOTFS_NONE,
			     .prev = ROOTFS_NONE, .seen = b->cur };
	if (parent != PLNK_PARENT) {
		d->next = b->d[parent].first;
		if (d->next != ROOTFS_NONE)
			b->d[d->next].prev = x;
		b->d[parent].first = x;
		b->live++;
	}
	*out = x;
	return 0;
}

/* One less name for the inode of @x (the name itself stays). */
static void unref(struct builder *b, uint32_t x)
{
	struct binode *in = &b->in[b->d[x].ino];

	if (in->nlink)
		in->nlink--;
}

/* Remove the childless name @x from its directory and from the table. */
static void dent_drop(struct builder *b, uint32_t x)
{
	struct bdent *d = &b->d[x];

	if (d->prev != ROOTFS_NONE)
		b->d[d->prev].next = d->next;
	else
		b->d[d->parent].first = d->next;
	if (d->next != ROOTFS_NONE)
		b->d[d->next].prev = d->prev;
	rootfs_names_del(&b->names, d->parent, d->name);
	unref(b, x);
	d->ino = ROOTFS_NONE;
	b->live--;
}

/* Remove the name @x and everything below it, without recursion (a
 * hostile tar may nest thousands of directories). */
static void dent_kill(struct builder *b, uint32_t x)
{
	uint32_t c = x;

	for (;;) {
		uint32_t p;

		while (b->d[c].first != ROOTFS_NONE)
			c = b->d[c].first;
		p = b->d[c].parent;
		dent_drop(b, c);
		if (c == x)
			return;
		c = p;
	}
}

/* Empty the name @x before it gets another inode. */
static void dent_clear(struct builder *b, uint32_t x)
{
	while (b->d[x].first != ROOTFS_NONE)
		dent_kill(b, b->d[x].first);
	unref(b, x);
}

/* Give name @x a made-up directory of layer b->cur. */
static int make_implicit(struct builder *b, uint32_t x)
{
	uint32_t i;
	int ret = ino_new(b, NULL, &i);

	if (ret < 0)
		return ret;
	dent_clear(b, x);
	b->d[x].ino = i;
	b->in[i].nlink = 1;
	return 0;
}

/* A directory of this layer that only a whiteout or opaque marker left
 * standing holds lower metadata; give it what it gets when the marker
 * comes first in the tar (the lower one removed, a made-up one created). */
static void reset_meta(struct builder *b, uint32_t x)
{
	struct binode *in = &b->in[b->d[x].ino];

	if (in->layer != b->cur) {
		in->e = NULL;
		in->layer = b->cur;
	}
}

/* Remove every name below @top not seen in the current layer. */
static void prune_lower(struct builder *b, uint32_t top)
{
	uint32_t dir = top, c = b->d[top].first;

	for (;;) {
		while (c != ROOTFS_NONE) {
			uint32_t next = b->d[c].next;

			if (b->d[c].seen != b->cur) {
				dent_kill(b, c);
			} else if (dent_isdir(b, c)) {
				reset_meta(b, c);
				if (b->d[c].first != ROOTFS_NONE) {
					dir = c;
					c = b->d[c].first;
					continue;
				}
			}
			c = next;
		}
		if (dir == top)
			return;
		c = b->d[dir].next;
		dir = b->d[dir].parent;
	}
}

/*
 * path_check - @p must be what path_norm() makes of it (the toc builder
 * and loader guarantee it; a hand-made toc may not), else P_BAD.
 * *@plen: offset of the last '/' (0 if none), *@len: strlen.  Returns
 * P_META if a directory component starts with ".wh." (AUFS metadata:
 * nothing below it is ever shown).
 */
static int path_check(const char *p, size_t *plen, size_t *len)
{
	char norm[PATH_NORM_MAX + 1];
	const char *sl, *wh;
	size_t n;

	if (path_norm(p, norm, sizeof(norm), &n) < 0 || memcmp(norm, p, n + 1) != 0)
		return P_BAD;
	sl = strrchr(p, '/');
	*plen = sl ? (size_t)(sl - p) : 0;
	*len = n;
	if (!sl)
		return P_OK;
	wh = strncmp(p, WH, strlen(WH)) == 0 ? p : strstr(p, "/" WH);
	return wh && wh < sl ? P_META : P_OK;
}

/*
 * ensure_parent - the directory holding @path (its first @plen bytes),
 * created 0755 root:root where missing; a non-directory in the way is
 * replaced (never followed).  Every directory on the way is tagged as
 * seen in this layer.  Reuses the part of the previous entry's walk that
 * is still valid.
 */
static int ensure_parent(struct builder *b, const char *path, size_t plen,
			 uint32_t *out)
{
	size_t lcp = 0, k, pos;
	uint32_t dir = ROOT_D;
	int ret;

	if (b->prev) {
		size_t m = plen < b->prev_plen ? plen : b->prev_plen;

		while (lcp < m && path[lcp] == b->prev[lcp])
			lcp++;
	}
	for (k = 0; k < b->nstk; k++) {
		const struct bstk *s = &b->stk[k];

		if (s->end > lcp || (s->end != plen && path[s->end] != '/'))
			break;
		if (b->d[s->d].ino == ROOTFS_NONE || !dent_isdir(b, s->d))
			break;
		dir = s->d;
	}
	b->nstk = k;
	b->prev = NULL;
	pos = k ? b->stk[k - 1].end + 1 : 0;
	while (pos < plen) {
		const char *c = path + pos;
		const char *sl = memchr(c, '/', plen - pos);
		size_t n = sl ? (size_t)(sl - c) : plen - pos;
		uint32_t x = child_get(b, dir, c, n);

		if (x == ROOTFS_NONE) {
			const char *name = rootfs_arena_strndup(&b->arena, c, n);
			uint32_t i;

			if (!name)
				return -ENOMEM;
			ret = ino_new(b, NULL, &i);
			if (ret == 0)
				ret = dent_new(b, dir, name, i, &x);
			if (ret < 0)
				return ret;
			b->in[i].nlink = 1;
		} else if (!dent_isdir(b, x)) {
			ret = make_implicit(b, x);
			if (ret < 0)
				return ret;
		}
		b->d[x].seen = b->cur;
		if (b->nstk == b->cstk) {
			void *p;

			ret = grow(b->stk, &b->cstk, sizeof(*b->stk), &p);
			if (ret < 0)
				return ret;
			b->stk = p;
		}
		b->stk[b->nstk++] = (struct bstk){ .end = (uint32_t)(pos + n), .d = x };
		dir = x;
		pos += n + 1;
	}
	b->prev = path;
	b->prev_plen = plen;
	*out = dir;
	return 0;
}

/* The inode @link (a hardlink target) names in the merged view so far, or
 * ROOTFS_NONE. */
static uint32_t link_target(struct builder *b, const char *link)
{
	size_t plen, len, pos = 0;
	uint32_t d = ROOT_D;

	if (!link)
		return ROOTFS_NONE;
	if (strncmp(link, WH_PLNK, strlen(WH_PLNK)) == 0) {
		const char *n = link + strlen(WH_PLNK);

		if (!*n || strchr(n, '/'))
			return ROOTFS_NONE;
		d = child_get(b, PLNK_PARENT, n, strlen(n));
		/* Docker keeps them per layer. */
		if (d == ROOTFS_NONE || b->d[d].seen != b->cur)
			return ROOTFS_NONE;
		return b->d[d].ino;
	}
	if (!*link)
		return b->d[ROOT_D].ino;
	if (path_check(link, &plen, &len) != P_OK)
		return ROOTFS_NONE;
	for (;;) {
		const char *sl = strchr(link + pos, '/');
		size_t n = sl ? (size_t)(sl - (link + pos)) : len - pos;

		if (!dent_isdir(b, d))
			return ROOTFS_NONE;
		d = child_get(b, d, link + pos, n);
		if (d == ROOTFS_NONE)
			return ROOTFS_NONE;
		if (!sl)
			return b->d[d].ino;
		pos += n + 1;
	}
}

/* Make @name in @dir (existing as @x, or ROOTFS_NONE) a name of inode @i. */
static int attach(struct builder *b, uint32_t dir, const char *name,
		  uint32_t x, uint32_t i)
{
	int ret;

	if (x != ROOTFS_NONE) {
		if (b->d[x].ino == i) {
			b->d[x].seen = b->cur;
			return 0;
		}
		dent_clear(b, x);
		b->d[x].ino = i;
		b->d[x].seen = b->cur;
	} else {
		ret = dent_new(b, dir, name, i, &x);
		if (ret < 0)
			return ret;
	}
	b->in[i].nlink++;
	return 0;
}

static int apply_whiteout(struct builder *b, const struct store_toc_entry *e,
			  size_t plen, const char *name, size_t nlen)
{
	const char *t = name + 4;
	size_t tlen = nlen - 4;
	uint32_t dir, x;
	int ret;

	if (tlen == 0) {
		skip(b, e->path, "bare whiteout");
		return 0;
	}
	if (nlen >= strlen(WH_META) && memcmp(name, WH_META, strlen(WH_META)) == 0) {
		if (strcmp(name, WH_OPQ) != 0) {
			log_debug("rootfs: layer %u: AUFS metadata \"%s\" skipped",
				  b->cur, e->path);
			return 0;
		}
		ret = ensure_parent(b, e->path, plen, &dir);
		if (ret == 0)
			prune_lower(b, dir);
		return ret;
	}
	if ((tlen == 1 && t[0] == '.') || (tlen == 2 && t[0] == '.' && t[1] == '.')) {
		skip(b, e->path, "whiteout of . or ..");
		return 0;
	}
	/* Its parent exists in this layer (overlayfs keeps whiteouts in a
	 * directory of the upper layer; Docker creates it too). */
	ret = ensure_parent(b, e->path, plen, &dir);
	if (ret < 0)
		return ret;
	x = child_get(b, dir, t, tlen);
	if (x == ROOTFS_NONE)
		return 0;
	if (b->d[x].seen != b->cur) {
		dent_kill(b, x);
	} else if (dent_isdir(b, x)) {
		prune_lower(b, x);
		reset_meta(b, x);
	}
	return 0;
}

/* ".wh..wh.plnk/NAME": a hidden inode, a hardlink target for this layer. */
static int add_plnk(struct builder *b, const struct store_toc_entry *e,
		    const char *name)
{
	uint32_t x = child_get(b, PLNK_PARENT, name, strlen(name)), i;
	int ret = ino_new(b, e, &i);

	if (ret < 0)
		return ret;
	if (x == ROOTFS_NONE)
		return dent_new(b, PLNK_PARENT, name, i, &x);
	b->d[x].ino = i;
	b->d[x].seen = b->cur;
	return 0;
}

static int apply_entry(struct builder *b, const struct store_toc_entry *e)
{
	const char *path = e->path, *name;
	size_t plen, len, nlen;
	uint32_t dir, x, i = ROOTFS_NONE;
	int pc, ret;

	if (!path) {
		skip(b, "", "no path");
		return 0;
	}
	if (e->type < STORE_FT_REG || e->type > STORE_FT_FIFO) {
		skip(b, path, "unknown type");
		return 0;
	}
	if (!*path) {
		if (e->type != STORE_FT_DIR) {
			skip(b, path, "root is not a directory");
			return 0;
		}
		b->in[b->d[ROOT_D].ino].e = e;
		b->in[b->d[ROOT_D].ino].layer = b->cur;
		return 0;
	}
	pc = path_check(path, &plen, &len);
	if (pc == P_BAD) {
		skip(b, path, "invalid path");
		return 0;
	}
	name = plen ? path + plen + 1 : path;
	nlen = len - (size_t)(name - path);
	if (pc == P_META) {
		if (e->type == STORE_FT_REG && plen + 1 == strlen(WH_PLNK) &&
		    memcmp(path, WH_PLNK, plen + 1) == 0)
			return add_plnk(b, e, name);
		log_debug("rootfs: layer %u: AUFS metadata \"%s\" skipped", b->cur, path);
		return 0;
	}
	if (nlen >= 4 && memcmp(name, WH, 4) == 0)
		return apply_whiteout(b, e, plen, name, nlen);
	if (e->type == STORE_FT_HARDLINK) {
		/* Resolved before the parent walk: it sees the tree as it was
		 * before this entry, even if the walk replaces the target. */
		i = link_target(b, e->link);
		if (i == ROOTFS_NONE) {
			skip(b, path, "hardlink target missing");
			return 0;
		}
		if (bino_isdir(&b->in[i])) {
			skip(b, path, "hardlink to a directory");
			return 0;
		}
	}
	ret = ensure_parent(b, path, plen, &dir);
	if (ret < 0)
		return ret;
	x = child_get(b, dir, name, nlen);
	if (e->type == STORE_FT_DIR && x != ROOTFS_NONE && dent_isdir(b, x)) {
		struct binode *in = &b->in[b->d[x].ino];

		in->e = e;
		in->layer = b->cur;
		b->d[x].seen = b->cur;
		return 0;
	}
	if (i == ROOTFS_NONE) {
		ret = ino_new(b, e, &i);
		if (ret < 0)
			return ret;
	}
	return attach(b, dir, name, x, i);
}

struct pair {
	const char *name;
	uint32_t x;		/* name index, then the frozen inode */
};

static int pair_cmp(const void *a, const void *b)
{
	return strcmp(((const struct pair *)a)->name, ((const struct pair *)b)->name);
}

/*
 * freeze - number the live inodes densely, breadth first from the root (a
 * directory's children get neighbouring numbers), and lay out every
 * directory's entries sorted by name.
 */
static int freeze(struct builder *b, struct store_rootfs **out)
{
	struct store_rootfs *fs = calloc(1, sizeof(*fs));
	size_t n_in = 0, n_de = b->live - 1, qh = 0, qt = 0, pos = 0;
	struct pair *ents = NULL;
	uint32_t *queue = NULL, next = 1;
	int ret = -ENOMEM;

	for (size_t i = 0; i < b->ni; i++) {
		b->in[i].fino = ROOTFS_NONE;
		n_in += b->in[i].nlink > 0;
	}
	if (!fs)
		goto out;
	fs->inodes = calloc(n_in, sizeof(*fs->inodes));
	fs->dfirst = calloc(n_in, sizeof(*fs->dfirst));
	fs->dcount = calloc(n_in, sizeof(*fs->dcount));
	fs->dname = calloc(n_de + 1, sizeof(*fs->dname));
	fs->dino = calloc(n_de + 1, sizeof(*fs->dino));
	ents = calloc(n_de + 1, sizeof(*ents));
	queue = calloc(n_in, sizeof(*queue));
	if (!fs->inodes || !fs->dfirst || !fs->dcount || !fs->dname ||
	    !fs->dino || !ents || !queue)
		goto out;
	fs->n_inodes = n_in;
	fs->n_dirents = n_de;
	b->in[b->d[ROOT_D].ino].fino = 0;
	fs->inodes[0] = (struct store_rinode){ .e = b->in[b->d[ROOT_D].ino].e,
		.layer = b->in[b->d[ROOT_D].ino].layer };
	queue[qt++] = ROOT_D;
	ret = -EIO;		/* only if the counts above are wrong (a bug) */
	while (qh < qt) {
		uint32_t dd = queue[qh++], di = b->in[b->d[dd].ino].fino, subdirs = 0;
		size_t k = 0;

		for (uint32_t c = b->d[dd].first; c != ROOTFS_NONE; c = b->d[c].next) {
			if (pos + k >= n_de)
				goto out;
			ents[pos + k++] = (struct pair){ .name = b->d[c].name, .x = c };
		}
		qsort(ents + pos, k, sizeof(*ents), pair_cmp);
		for (size_t j = 0; j < k; j++) {
			uint32_t c = ents[pos + j].x;
			struct binode *bi = &b->in[b->d[c].ino];
			bool isdir = bino_isdir(bi);

			if (bi->fino == ROOTFS_NONE) {
				if (next >= n_in)
					goto out;
				bi->fino = next++;
				fs->inodes[bi->fino] = (struct store_rinode){
					.e = bi->e, .layer = bi->layer,
					.nlink = bi->nlink, .parent = di };
				if (bi->e && bi->e->type == STORE_FT_REG)
					fs->bytes += bi->e->size;
				if (isdir)
					queue[qt++] = c;
			}
			subdirs += isdir;
			fs->dname[pos + j] = ents[pos + j].name;
			fs->dino[pos + j] = bi->fino;
		}
		fs->dfirst[di] = (uint32_t)pos;
		fs->dcount[di] = (uint32_t)k;
		fs->inodes[di].nlink = 2 + subdirs;
		pos += k;
	}
	if (next != n_in || pos != n_de)
		goto out;
	fs->arena = b->arena;
	b->arena = NULL;
	*out = fs;
	fs = NULL;
	ret = 0;
out:
	if (ret == -EIO)
		log_err("rootfs: internal inconsistency while numbering inodes");
	free(queue);
	free(ents);
	store_rootfs_free(fs);
	return ret;
}

static int builder_init(struct builder *b, struct store_toc *const *tocs, size_t n)
{
	size_t total = 1;
	int ret;

	for (size_t l = 0; l < n; l++) {
		if (!tocs[l] || (tocs[l]->n_entries && !tocs[l]->entries))
			return -EINVAL;
		total += tocs[l]->n_entries;
	}
	if (total >= ROOTFS_NONE / 2 || n >= ROOTFS_NONE)
		return -E2BIG;
	ret = rootfs_names_init(&b->names, total);
	if (ret < 0)
		return ret;
	b->cd = b->ci = total < 16 ? 16 : total;
	b->d = calloc(b->cd, sizeof(*b->d));
	b->in = calloc(b->ci, sizeof(*b->in));
	if (!b->d || !b->in)
		return -ENOMEM;
	/* The root: name 0, inode 0, in no directory and not in the table. */
	b->d[ROOT_D] = (struct bdent){ .name = "", .ino = 0, .parent = ROOTFS_NONE,
		.first = ROOTFS_NONE, .next = ROOTFS_NONE, .prev = ROOTFS_NONE };
	b->in[0] = (struct binode){ .nlink = 1 };
	b->nd = b->ni = 1;
	b->live = 1;
	return 0;
}

static void builder_release(struct builder *b)
{
	rootfs_names_release(&b->names);
	free(b->d);
	free(b->in);
	free(b->stk);
	rootfs_arena_free(b->arena);
}

int store_rootfs_build(struct store_toc *const *tocs, size_t n,
		       struct store_rootfs **out)
{
	struct builder b = { 0 };
	int ret;

	*out = NULL;
	if (!tocs && n)
		return -EINVAL;
	ret = builder_init(&b, tocs, n);
	for (size_t l = 0; ret == 0 && l < n; l++) {
		b.cur = (uint32_t)l;
		b.nstk = 0;
		b.prev = NULL;
		for (size_t i = 0; ret == 0 && i < tocs[l]->n_entries; i++)
			ret = apply_entry(&b, &tocs[l]->entries[i]);
	}
	if (b.skipped > WARN_MAX)
		log_warn("rootfs: %zu more entries skipped", b.skipped - WARN_MAX);
	if (ret == 0)
		ret = freeze(&b, out);
	if (ret < 0 && ret != -EIO)
		log_err("rootfs: building the tree of %zu layers: %s", n, strerror(-ret));
	builder_release(&b);
	return ret;
}
