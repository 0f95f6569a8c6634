/* SPDX-License-Identifier: MIT */
/*
 * push.c - `docker push` of a local image: every layer and the config
 * made present in the target repository (registry/push.c does the wire),
 * then the manifest, last, so that a failure leaves no tag behind.
 *
 * Where the bytes come from: the store's blob, fetched whole from the
 * image's pull source when only a part (or nothing) of it is local, and
 * only once the registry asks for the bytes: a blob it has, or mounts,
 * is never fetched.  A blob pulled from the target registry is offered as
 * a cross-repository mount from its source repository, so its bytes need
 * not travel at all.
 *
 * Layers that are local only uncompressed (imports, loads of `docker
 * save` archives) are compressed on the way, with gzip or, with
 * push_compression=zstd (store_opts.push_comp), zstd, deterministically
 * (no name, no mtime in the gzip header; one level, one thread), into a
 * blob of the store, and the manifest pushed names those blobs.  zstd
 * layers exist in OCI only, so a Docker schema2 manifest that gets one is
 * pushed as the OCI manifest of the same content (media types mapped).
 * The config and its diff_ids (the uncompressed digests) are pushed
 * unchanged, so the image ID is the same at the registry as here.  The
 * same bytes give the same digest, so a second push finds them at the
 * registry (HEAD) and sends nothing; and the blob made for a layer is
 * remembered (for the life of the mount, in the store's s->push_gz) so
 * that it is not made again.
 *
 * Each blob sent is a STORE_OP_PUSH in `status` (its digest, bytes read
 * for sending of its size, "push ID to HOST/REPO:TAG"), gone when sent.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <zlib.h>
#include <zstd.h>

#include "log.h"
#include "store_int.h"

#define PUSH_GZIP_LEVEL 6
#define PUSH_ZSTD_LEVEL 3
#define PUSH_GZIP_CHUNK ((size_t)1 << 20)


/* A blob being pushed, read from its file, made local at the first read. */
struct push_fd_src {
	struct store *s;
	struct store_image *img;
	const struct registry_desc *d;
	int fd;			/* -1 until the first read */
	struct store_op *op;	/* the push in `status`, or NULL */
};

static int push_fd_open(struct push_fd_src *f)
{
	struct store_srcs srcs;
	int ret = store_image_srcs(f->s, f->img, f->d->digest, &srcs);

	if (!ret)
		ret = store_blob_fetch(f->s, &srcs, f->d);
	store_srcs_release(&srcs);

	if (ret) {
		log_err("push %.12s: blob %s is not local and cannot be fetched: %s",
			f->img->id, f->d->digest, registry_errno_cause(ret));
		return ret;
	}
	return store_blob_open(f->s, f->d->digest, &f->fd);
}

static int push_fd_read(void *ctx, uint64_t off, void *dst, size_t n)
{
	struct push_fd_src *f = ctx;
	char *p = dst;
	int ret;

	if (f->fd < 0 && (ret = push_fd_open(f)))
		return ret;

	while (n) {
		ssize_t r = pread(f->fd, p, n, (off_t)off);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			return -EIO;	/* the blob is shorter than its size */
		p += r;
		n -= (size_t)r;
		off += (uint64_t)r;
	}
	store_op_set(f->s, f->op, off);
	return 0;
}

/* A blob in memory (the config). */
struct push_mem_src {
	const struct buf *b;
};

static int push_mem_read(void *ctx, uint64_t off, void *dst, size_t n)
{
	const struct push_mem_src *m = ctx;

	if (off > m->b->len || n > m->b->len - off)
		return -EIO;
	memcpy(dst, m->b->data + off, n);
	return 0;
}

/* Deflate what @z holds (and with @flush, the end) into @w. */
static int gzip_drain(z_stream *z, int flush, unsigned char *out, size_t outsz,
		      struct store_blob_writer *w)
{
	int zr, ret;

	do {
		z->next_out = out;
		z->avail_out = (uInt)outsz;
		zr = deflate(z, flush);
		if (zr == Z_STREAM_ERROR)
			return -EIO;
		ret = store_blob_writer_write(w, out, outsz - z->avail_out);
		if (ret)
			return ret;
	} while (z->avail_out == 0 || (flush == Z_FINISH && zr != Z_STREAM_END));
	return 0;
}

/* zstd of everything @fd holds into @w, in @in/@out (PUSH_GZIP_CHUNK). */
static int zstd_fd(int fd, unsigned char *in, unsigned char *out,
		   struct store_blob_writer *w)
{
	ZSTD_CCtx *cc = ZSTD_createCCtx();
	int ret = 0;

	if (!cc)
		return -ENOMEM;
	/* One thread and a fixed level: the same input gives the same
	 * bytes, so the same digest on the next push. */
	if (ZSTD_isError(ZSTD_CCtx_setParameter(cc, ZSTD_c_compressionLevel, PUSH_ZSTD_LEVEL)) ||
	    ZSTD_isError(ZSTD_CCtx_setParameter(cc, ZSTD_c_checksumFlag, 1))) {
		ret = -EIO;
		goto out;
	}
	for (;;) {
		ssize_t r = read(fd, in, PUSH_GZIP_CHUNK);
		ZSTD_inBuffer ib = { in, r > 0 ? (size_t)r : 0, 0 };
		ZSTD_EndDirective mode = r ? ZSTD_e_continue : ZSTD_e_end;
		size_t left;

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			ret = -errno;
			goto out;
		}
		do {
			ZSTD_outBuffer ob = { out, PUSH_GZIP_CHUNK, 0 };

			left = ZSTD_compressStream2(cc, &ob, &ib, mode);
			if (ZSTD_isError(left)) {
				ret = -EIO;
				goto out;
			}
			ret = store_blob_writer_write(w, out, ob.pos);
			if (ret)
				goto out;
		} while (mode == ZSTD_e_end ? left != 0 : ib.pos < ib.size);
		if (!r)
			break;
	}
out:
	ZSTD_freeCCtx(cc);
	return ret;
}

/* gzip of everything @fd holds into @w, in @in/@out (PUSH_GZIP_CHUNK). */
static int gzip_fd(int fd, unsigned char *in, unsigned char *out,
		   struct store_blob_writer *w)
{
	z_stream z;
	int ret = 0;

	memset(&z, 0, sizeof(z));
	/* windowBits 15 + 16: a gzip wrapper, whose header zlib writes
	 * with mtime 0 and no name unless told otherwise. */
	if (deflateInit2(&z, PUSH_GZIP_LEVEL, Z_DEFLATED, 15 + 16, 8,
			 Z_DEFAULT_STRATEGY) != Z_OK)
		return -ENOMEM;
	for (;;) {
		ssize_t r = read(fd, in, PUSH_GZIP_CHUNK);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			ret = -errno;
			break;
		}
		z.next_in = in;
		z.avail_in = (uInt)r;
		ret = gzip_drain(&z, r ? Z_NO_FLUSH : Z_FINISH, out, PUSH_GZIP_CHUNK, w);
		if (ret || !r)
			break;
	}
	deflateEnd(&z);
	return ret;
}

/*
 * The blob of uncompressed layer @d compressed with @comp (GZIP or ZSTD)
 * into a blob of the store: its descriptor into @out (media type @mt;
 * caller releases).
 */
static int compress_layer(struct store *s, const struct registry_desc *d,
			  enum registry_compression comp, const char *mt,
			  struct registry_desc *out)
{
	struct store_blob_writer *w = NULL;
	unsigned char *in = NULL, *zout = NULL;
	char digest[72];
	uint64_t size;
	int fd = -1, ret;

	memset(out, 0, sizeof(*out));
	ret = store_blob_open(s, d->digest, &fd);
	if (ret)
		goto out;
	in = malloc(PUSH_GZIP_CHUNK);
	zout = malloc(PUSH_GZIP_CHUNK);
	if (!in || !zout) {
		ret = -ENOMEM;
		goto out;
	}
	ret = store_blob_writer_new(s, &w);
	if (ret)
		goto out;
	ret = comp == REGISTRY_COMP_ZSTD ? zstd_fd(fd, in, zout, w) : gzip_fd(fd, in, zout, w);
	if (ret)
		goto out;
	size = store_blob_writer_size(w);
	ret = store_blob_writer_commit(s, w, NULL, digest);
	w = NULL;
	if (ret)
		goto out;
	out->media_type = strdup(mt);
	out->digest = strdup(digest);
	out->size = (int64_t)size;
	if (!out->media_type || !out->digest) {
		registry_desc_release(out);
		ret = -ENOMEM;
	}
out:
	store_blob_writer_abort(w);
	free(in);
	free(zout);
	if (fd >= 0)
		close(fd);
	return ret;
}

/* compress_layer(), unless the blob it would make is known and local. */
static int compress_layer_once(struct store *s, const struct registry_desc *d,
			       enum registry_compression comp, const char *mt,
			       struct registry_desc *out)
{
	const char *name = comp == REGISTRY_COMP_ZSTD ? "zstd" : "gzip";
	struct push_gz *gz = NULL, *old = NULL;
	char key[80];
	int ret;

	memset(out, 0, sizeof(*out));
	/* gzip keys are the bare digest, as before zstd existed. */
	snprintf(key, sizeof(key), "%s%s", comp == REGISTRY_COMP_ZSTD ? "zstd:" : "",
		 d->digest);
	pthread_mutex_lock(&s->push_gz_lock);
	gz = htab_get(&s->push_gz, key);
	if (gz) {
		out->digest = strdup(gz->digest);
		out->size = gz->size;
	}
	pthread_mutex_unlock(&s->push_gz_lock);
	if (out->digest && store_blob_has(s, out->digest)) {
		out->media_type = strdup(mt);
		if (out->media_type)
			return 0;
	}
	registry_desc_release(out);
	ret = compress_layer(s, d, comp, mt, out);
	if (ret)
		return ret;
	log_info("layer %s %s-compressed for push as %s", d->digest, name, out->digest);
	gz = calloc(1, sizeof(*gz));
	if (!gz)
		return 0;	/* only the memo is lost */
	snprintf(gz->digest, sizeof(gz->digest), "%s", out->digest);
	gz->size = out->size;
	pthread_mutex_lock(&s->push_gz_lock);
	if (htab_set(&s->push_gz, key, gz, (void **)&old))
		old = gz;
	pthread_mutex_unlock(&s->push_gz_lock);
	free(old);
	return 0;
}

/* The media type of layer @mt compressed with @comp, in the same family
 * (zstd exists in OCI only). */
static const char *compressed_media_type(const char *mt, enum registry_compression comp)
{
	if (comp == REGISTRY_COMP_ZSTD)
		return REGISTRY_MT_OCI_LAYER_ZSTD;
	if (mt && strcmp(mt, REGISTRY_MT_DOCKER_LAYER) == 0)
		return REGISTRY_MT_DOCKER_LAYER_GZIP;
	return REGISTRY_MT_OCI_LAYER_GZIP;
}

/*
 * The repository of @host to offer blob @digest of @img from as a
 * cross-repository mount into @repo: a source of the image on that same
 * registry, other than @repo, whose manifest lists the blob.  NULL when
 * there is none (or no memory: the blob is then sent); the caller frees.
 */
static char *mount_source(struct store *s, struct store_image *img, const char *digest,
			  const char *host, const char *repo)
{
	struct store_srcs srcs;
	char *from = NULL;

	if (store_image_srcs(s, img, digest, &srcs))
		return NULL;
	for (size_t k = 0; k < srcs.n && !from; k++)
		if (strcmp(srcs.v[k].host, host) == 0 && strcmp(srcs.v[k].repo, repo) != 0)
			from = strdup(srcs.v[k].repo);
	store_srcs_release(&srcs);
	return from;
}

/*
 * Push layer @i of @img to @host/@repo; when it had to be compressed,
 * *@gz is the descriptor pushed (else zeroed).
 */
static int push_layer(struct store *s, struct store_image *img, size_t i,
		      const char *host, const char *repo, const char *what,
		      struct registry_desc *gz)
{
	const struct store_layer *l = &img->layers[i];
	const struct registry_desc *d = &l->desc;
	char *from = NULL;
	struct push_fd_src src = { .s = s, .img = img, .fd = -1 };
	int ret;

	memset(gz, 0, sizeof(*gz));
	if (l->comp == REGISTRY_COMP_NONE) {
		src.d = d;
		ret = push_fd_open(&src);
		if (ret)
			return ret;
		close(src.fd);
		src.fd = -1;
		ret = compress_layer_once(s, d, s->push_comp,
					  compressed_media_type(d->media_type, s->push_comp),
					  gz);
		if (ret) {
			log_err("push %.12s: compressing layer %s: %s", img->id,
				d->digest, strerror(-ret));
			return ret;
		}
		d = gz;
	} else {
		from = mount_source(s, img, d->digest, host, repo);
	}
	src.d = d;
	src.op = store_op_begin(s, STORE_OP_PUSH, what, d->digest,
				d->size > 0 ? (uint64_t)d->size : 0);
	ret = registry_blob_push(s->reg, host, repo, d, from, push_fd_read, &src, NULL);
	store_op_end(s, src.op);
	free(from);
	if (src.fd >= 0)
		close(src.fd);
	if (ret)
		registry_desc_release(gz);
	return ret;
}

/* The OCI media type of Docker schema2 descriptor type @mt, or NULL when
 * it has none of its own (kept as it is). */
static const char *oci_media_type(const char *mt)
{
	static const char *const map[][2] = {
		{ REGISTRY_MT_DOCKER_CONFIG, REGISTRY_MT_OCI_CONFIG },
		{ REGISTRY_MT_DOCKER_LAYER, REGISTRY_MT_OCI_LAYER },
		{ REGISTRY_MT_DOCKER_LAYER_GZIP, REGISTRY_MT_OCI_LAYER_GZIP },
		{ "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
		  "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip" },
	};

	for (size_t i = 0; mt && i < sizeof(map) / sizeof(map[0]); i++)
		if (strcmp(mt, map[i][0]) == 0)
			return map[i][1];
	return NULL;
}

/* Docker schema2 manifest @root made OCI in place: its own media type,
 * its config's and its layers'. */
static int manifest_to_oci(json_t *root)
{
	json_t *layers = json_object_get(root, "layers"), *l;
	const char *mt;
	size_t i;

	if (json_object_set_new(root, "mediaType", json_string(REGISTRY_MT_OCI_MANIFEST)))
		return -ENOMEM;
	mt = oci_media_type(json_string_value(json_object_get(
		json_object_get(root, "config"), "mediaType")));
	if (mt && json_object_set_new(json_object_get(root, "config"), "mediaType",
				      json_string(mt)))
		return -ENOMEM;
	json_array_foreach(layers, i, l) {
		mt = oci_media_type(json_string_value(json_object_get(l, "mediaType")));
		if (mt && json_object_set_new(l, "mediaType", json_string(mt)))
			return -ENOMEM;
	}
	return 0;
}

/*
 * The manifest to push: @img's own bytes when no layer changed, else its
 * JSON with the layers of @gz (those with a digest) put in, made OCI when
 * a zstd layer is among them and it was Docker's.  *@out is malloc'd
 * (caller frees), its length in *@len, its media type in *@mt.
 */
static int push_manifest_body(const struct store_image *img,
			      const struct registry_desc *gz, char **out, size_t *len,
			      const char **mt)
{
	json_t *root = NULL, *layers;
	bool changed = false, zstd = false;
	int ret = -EIO;

	*out = NULL;
	*mt = img->m.media_type ? img->m.media_type : REGISTRY_MT_OCI_MANIFEST;
	for (size_t i = 0; i < img->n_layers; i++) {
		changed |= gz[i].digest != NULL;
		zstd |= gz[i].media_type && strcmp(gz[i].media_type,
						   REGISTRY_MT_OCI_LAYER_ZSTD) == 0;
	}
	if (!changed) {
		*out = malloc(img->manifest.len ? img->manifest.len : 1);
		if (!*out)
			return -ENOMEM;
		memcpy(*out, img->manifest.data, img->manifest.len);
		*len = img->manifest.len;
		return 0;
	}
	root = json_loadb(img->manifest.data, img->manifest.len, 0, NULL);
	layers = json_object_get(root, "layers");
	if (!json_is_array(layers) || json_array_size(layers) != img->n_layers)
		goto out;
	if (zstd && strcmp(*mt, REGISTRY_MT_DOCKER_MANIFEST) == 0) {
		ret = manifest_to_oci(root);
		if (ret)
			goto out;
		ret = -EIO;
		*mt = REGISTRY_MT_OCI_MANIFEST;
	}
	for (size_t i = 0; i < img->n_layers; i++) {
		json_t *l = json_array_get(layers, i);

		if (!gz[i].digest)
			continue;
		if (!json_is_object(l) ||
		    json_object_set_new(l, "mediaType", json_string(gz[i].media_type)) ||
		    json_object_set_new(l, "digest", json_string(gz[i].digest)) ||
		    json_object_set_new(l, "size", json_integer(gz[i].size)))
			goto out;
	}
	*out = json_dumps(root, JSON_COMPACT);
	if (!*out) {
		ret = -ENOMEM;
		goto out;
	}
	*len = strlen(*out);
	ret = 0;
out:
	json_decref(root);
	return ret;
}

/* Every blob of @img, then its manifest as @tag. */
static int push_image(struct store *s, struct store_image *img, const char *host,
		      const char *repo, const char *tag, const char *what)
{
	struct push_mem_src cfg = { .b = &img->config };
	struct registry_desc *gz;
	const char *mt;
	char *body = NULL, *from;
	size_t len = 0;
	int ret = 0;

	gz = calloc(img->n_layers ? img->n_layers : 1, sizeof(*gz));
	if (!gz)
		return -ENOMEM;
	for (size_t i = 0; i < img->n_layers && !ret; i++)
		ret = push_layer(s, img, i, host, repo, what, &gz[i]);
	if (!ret) {
		from = mount_source(s, img, img->m.config.digest, host, repo);
		ret = registry_blob_push(s->reg, host, repo, &img->m.config, from,
					 push_mem_read, &cfg, NULL);
		free(from);
	}
	if (!ret)
		ret = push_manifest_body(img, gz, &body, &len, &mt);
	if (!ret)
		ret = registry_manifest_push(s->reg, host, repo, tag, body, len, mt);
	free(body);
	for (size_t i = 0; i < img->n_layers; i++)
		registry_desc_release(&gz[i]);
	free(gz);
	return ret;
}

int store_push(struct store *s, const char *id, const char *host, const char *repo,
	       const char *tag)
{
	struct store_image *img = NULL;
	char what[600], op[640];
	int ret;

	snprintf(what, sizeof(what), "%s/%s:%s", host, repo, tag);
	if (!registry_host_valid(host) || !registry_repo_valid(repo) ||
	    !registry_tag_valid(tag)) {
		log_err("push to %.300s: not a valid reference", what);
		return -EINVAL;
	}
	ret = store_image_get(s, id, &img);
	if (ret)
		return ret;
	if (!s->reg) {
		log_err("push %.12s to %s: no registry access (offline)", img->id, what);
		ret = -EIO;
		goto out;
	}
	log_info("push %.12s to %s", img->id, what);
	snprintf(op, sizeof(op), "push %.12s to %s", img->id, what);
	ret = push_image(s, img, host, repo, tag, op);
	if (ret) {
		log_err("push %.12s to %s failed: %s", img->id, what,
			registry_errno_cause(ret));
		store_error_note(s, what, ret, NULL);
		/* The registry refused us, or anything else went wrong. */
		ret = ret == -EACCES ? -EACCES : -EIO;
	} else {
		log_info("pushed %.12s to %s", img->id, what);
	}
out:
	store_image_put(s, img);
	return ret;
}
