/* SPDX-License-Identifier: MIT */
/*
 * test_tag_race.c - store_image_add_tagged() against a `rm dangling/<id>`
 * running all the time on another thread.  An import records its image and
 * then tags it; done as two steps, the deleter could find the image
 * untagged in between and delete it, and the import then failed to tag it
 * (seen in t_stress).  Here every round makes the image dangling and waits
 * until the deleter has deleted it, then records and tags it again while
 * the deleter keeps trying: each add must succeed with its tag naming the
 * image, and the image must survive the deleter until its tag moves away.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>


#include "check.h"
#include "digest.h"
#include "log.h"
#include "store.h"

#define ROUNDS 200

struct deleter {
	struct store *s;
	const char *id;
	atomic_bool stop;
	atomic_int deleted;
};

static void *delete_loop(void *arg)
{
	struct deleter *d = arg;

	while (!atomic_load(&d->stop))
		if (store_image_delete_dangling(d->s, d->id) == 0)
			atomic_fetch_add(&d->deleted, 1);
	return NULL;
}

/* A local image of one layer @layer (a blob already stored); its config
 * differs by @created.  The manifest goes to @man, the config to @cfg. */
static void make_image(struct store *s, const char *layer, size_t layer_size,
		       const char *created, char *man, size_t cap, char *cfg,
		       size_t cfg_cap)
{
	char diff_id[72], cfg_digest[72];

	/* The layer is never read here: any diff_id of the right form does. */
	test_sha256("layer", 5, diff_id);
	snprintf(cfg, cfg_cap,
		 "{\"architecture\":\"amd64\",\"os\":\"linux\",\"created\":\"%s\","
		 "\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"%s\"]}}",
		 created, diff_id);
	CHECK_EQ(store_blob_add(s, cfg, strlen(cfg), cfg_digest), 0);
	snprintf(man, cap,
		 "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","
		 "\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\","
		 "\"digest\":\"%s\",\"size\":%zu},\"layers\":[{\"mediaType\":"
		 "\"application/vnd.oci.image.layer.v1.tar+gzip\",\"digest\":\"%s\","
		 "\"size\":%zu}]}", cfg_digest, strlen(cfg), layer, layer_size);
}

/* Until the deleter has deleted X @n times: its count moves once the
 * deletion is whole (the image gone from the table before its blobs). */
static void wait_deleted(struct deleter *d, int n)
{
	for (int i = 0; i < 10000 && atomic_load(&d->deleted) < n; i++)
		usleep(1000);
	CHECK_EQ(atomic_load(&d->deleted), n);
}

int main(void)
{
	struct store_opts o = { .default_host = "docker.io" };
	struct store *s = NULL;
	char root[64], cmd[128], layer[72];
	char man_x[2048], man_y[2048], cfg_x[1024], cfg_y[1024];
	char id_x[65], id_y[65], id[65], got[72];
	struct deleter d = { 0 };
	pthread_t th;
	bool recorded;
	int fails = 0;

	log_setup(LOG_LVL_WARN, 0);
	snprintf(root, sizeof(root), "/tmp/test_tag_race.XXXXXX");
	if (!mkdtemp(root))
		return 1;
	o.dir = root;
	CHECK_EQ(store_open(&o, &s), 0);
	if (!s)
		return 1;

	/* Y keeps the layer referenced while X comes and goes. */
	CHECK_EQ(store_blob_add(s, "layer bytes", 11, layer), 0);
	make_image(s, layer, 11, "2024-01-01T00:00:00Z", man_y, sizeof(man_y),
		   cfg_y, sizeof(cfg_y));
	make_image(s, layer, 11, "2024-01-02T00:00:00Z", man_x, sizeof(man_x),
		   cfg_x, sizeof(cfg_x));
	CHECK_EQ(store_image_add(s, man_y, strlen(man_y), NULL, NULL, id_y), 0);
	CHECK_EQ(store_tag_set(s, "docker.io", "race/y", "1", id_y), 0);
	CHECK_EQ(store_image_add(s, man_x, strlen(man_x), NULL, NULL, id_x), 0);

	d.s = s;
	d.id = id_x;
	CHECK_EQ(pthread_create(&th, NULL, delete_loop, &d), 0);
	for (int r = 0; r < ROUNDS && !fails; r++) {
		struct store_tag_name t = { .host = "docker.io", .repo = "race/x", .tag = "1" };
		int ret;

		/* The tag moves to Y: X dangles, and the deleter takes it
		 * with its config. */
		CHECK_EQ(store_tag_set(s, "docker.io", "race/x", "1", id_y), 0);
		wait_deleted(&d, r + 1);
		CHECK_EQ(store_blob_add(s, cfg_x, strlen(cfg_x), got), 0);
		ret = store_image_add_tagged(s, man_x, strlen(man_x), &t, 1, id,
					     &recorded);
		fails += ret != 0;
		CHECK_EQ(ret, 0);
		CHECK(recorded);	/* the deleter had removed it */
		CHECK(t.set && !strcmp(t.old_id, id_y) && !strcmp(id, id_x));
		CHECK_EQ(store_tag_get(s, "docker.io", "race/x", "1", id), 0);
		CHECK(!strcmp(id, id_x));
		/* Tagged: the deleter, still running, must leave it. */
		usleep(200);
		CHECK_EQ(store_tag_get(s, "docker.io", "race/x", "1", id), 0);
	}
	atomic_store(&d.stop, true);
	pthread_join(th, NULL);
	printf("test_tag_race: %d rounds, the deleter deleted %d times\n", ROUNDS,
	       atomic_load(&d.deleted));
	CHECK_EQ(atomic_load(&d.deleted), ROUNDS);

	/* Tagging a local image (no manifest): the same hold; an unknown id
	 * is ENOENT and moves no tag. */
	{
		struct store_tag_name t[2] = { { .host = "docker.io", .repo = "race/z", .tag = "1" },
					       { .host = "docker.io", .repo = "race/z", .tag = "2" } };

		CHECK_EQ(store_image_add_tagged(s, NULL, 0, t, 2, id_y, &recorded), 0);
		CHECK(t[0].set && t[1].set && !t[0].old_id[0] && !recorded);
		memset(id, '0', 64);
		id[64] = '\0';
		CHECK_EQ(store_image_add_tagged(s, NULL, 0, t, 1, id, &recorded), -ENOENT);
		CHECK(!t[0].set && !strcmp(t[0].old_id, id_y));
		CHECK_EQ(store_tag_get(s, "docker.io", "race/z", "1", got), 0);
		CHECK(!strncmp(got, id_y, 64));
	}
	store_close(s);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	CHECK(system(cmd) == 0);
	return check_done("test_tag_race");
}
