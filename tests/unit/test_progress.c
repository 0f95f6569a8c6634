/* SPDX-License-Identifier: MIT */
/*
 * test_progress.c - the store's bookkeeping for `status` and `df`, offline:
 * the error ring keeps the last STORE_ERRORS_MAX failures oldest first
 * with their causes (given, or the registry's words for the errno); work
 * in flight is listed in the order it began and leaves when it ends, a
 * blob writer's bytes showing as they are written; and the bytes the store
 * holds follow blobs as they are added and freed.  (That a fresh open
 * counts what is there is checked by t_status, with images that stay.)
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CHECK_FATAL
#include "check.h"
#include "log.h"
#include "registry.h"
#include "store.h"

static char root[256];

static struct store *open_store(void)
{
	struct store_opts o = { .dir = root, .default_host = "docker.io" };
	struct store *s = NULL;

	CHECK_EQ(store_open(&o, &s), 0);
	return s;
}

static void test_errors(struct store *s)
{
	struct store_status st;
	char obj[32];

	CHECK_EQ(store_status_get(s, &st), 0);
	CHECK_EQ(st.n_errs, 0);
	CHECK_EQ(st.errs_total, 0);
	store_status_release(&st);

	/* Fewer than the ring holds: all of them, oldest first. */
	store_error_note(s, "first", -ENOENT, NULL);
	store_error_note(s, "second", -EIO, "digest mismatch");
	CHECK_EQ(store_status_get(s, &st), 0);
	CHECK_EQ(st.n_errs, 2);
	CHECK_STR(st.errs[0].object, "first");
	CHECK_EQ(st.errs[0].err, -ENOENT);
	CHECK_STR(st.errs[0].cause, registry_errno_cause(-ENOENT));
	CHECK_STR(st.errs[1].object, "second");
	CHECK_STR(st.errs[1].cause, "digest mismatch");
	store_status_release(&st);

	/* Past its size, over several wraps: the last STORE_ERRORS_MAX. */
	for (int i = 0; i < 3 * STORE_ERRORS_MAX + 5; i++) {
		snprintf(obj, sizeof(obj), "obj-%d", i);
		store_error_note(s, obj, -EAGAIN, NULL);
	}
	CHECK_EQ(store_status_get(s, &st), 0);
	CHECK_EQ(st.n_errs, STORE_ERRORS_MAX);
	CHECK_EQ(st.errs_total, 2 + 3 * STORE_ERRORS_MAX + 5);
	for (size_t i = 0; i < st.n_errs; i++) {
		snprintf(obj, sizeof(obj), "obj-%zu", 2 * STORE_ERRORS_MAX + 5 + i);
		CHECK_STR(st.errs[i].object, obj);
		CHECK_STR(st.errs[i].cause, "rate limited by the registry (HTTP 429)");
	}
	store_status_release(&st);
}

static void test_ops(struct store *s)
{
	struct store_op *a, *b, *c;
	struct store_blob_writer *w;
	struct store_status st;
	char digest[72];

	a = store_op_begin(s, STORE_OP_BLOB, "host/a", "sha256:aa", 100);
	b = store_op_begin(s, STORE_OP_CHUNKS, "host/b", "sha256:bb", 200);
	c = store_op_begin(s, STORE_OP_INDEX, "image c", NULL, 0);
	store_op_set(s, a, 40);
	store_op_set(s, b, 200);
	store_op_set(s, NULL, 5);	/* ignored */
	store_op_end(s, b);
	CHECK_EQ(store_status_get(s, &st), 0);
	CHECK_EQ(st.n_ops, 2);
	CHECK_STR(st.ops[0].what, "host/a");
	CHECK_STR(st.ops[0].object, "sha256:aa");
	CHECK_EQ(st.ops[0].kind, STORE_OP_BLOB);
	CHECK_EQ(st.ops[0].done, 40);
	CHECK_EQ(st.ops[0].total, 100);
	CHECK_STR(st.ops[1].what, "image c");
	CHECK_STR(st.ops[1].object, "");
	CHECK_EQ(st.ops[1].total, 0);
	store_status_release(&st);
	store_op_end(s, a);
	store_op_end(s, c);
	store_op_end(s, NULL);
	CHECK_EQ(store_status_get(s, &st), 0);
	CHECK_EQ(st.n_ops, 0);
	store_status_release(&st);

	/* A blob written from a stream is in flight until committed. */
	CHECK_EQ(store_blob_writer_new(s, &w), 0);
	CHECK_EQ(store_blob_writer_write(w, "hello, status", 13), 0);
	CHECK_EQ(store_status_get(s, &st), 0);
	CHECK_EQ(st.n_ops, 1);
	CHECK_EQ(st.ops[0].kind, STORE_OP_WRITE);
	CHECK_EQ(st.ops[0].done, 13);
	store_status_release(&st);
	CHECK_EQ(store_blob_writer_commit(s, w, NULL, digest), 0);
	CHECK_EQ(store_status_get(s, &st), 0);
	CHECK_EQ(st.n_ops, 0);
	store_status_release(&st);
}

static struct store *test_usage(struct store *s)
{
	static char big[100000];
	uint64_t bytes0, files0, bytes, files;
	struct statvfs fs;
	char digest[72];
	const char *d[1] = { digest };

	CHECK_EQ(store_usage(s, &bytes0, &files0, &fs), 0);
	CHECK(fs.f_frsize > 0);
	memset(big, 'x', sizeof(big));
	CHECK_EQ(store_blob_add(s, big, sizeof(big), digest), 0);
	CHECK_EQ(store_usage(s, &bytes, &files, &fs), 0);
	CHECK_EQ(bytes, bytes0 + sizeof(big));
	CHECK_EQ(files, files0 + 1);
	/* The same blob again: nothing new. */
	CHECK_EQ(store_blob_add(s, big, sizeof(big), digest), 0);
	CHECK_EQ(store_usage(s, &bytes, &files, &fs), 0);
	CHECK_EQ(bytes, bytes0 + sizeof(big));

	/* No record references these blobs: a fresh open sweeps them all
	 * and counts what is left, nothing. */
	store_close(s);
	s = open_store();
	CHECK_EQ(store_usage(s, &bytes0, &files0, &fs), 0);
	CHECK_EQ(bytes0, 0);
	CHECK_EQ(files0, 0);
	CHECK_EQ(store_blob_add(s, big, sizeof(big), digest), 0);
	CHECK_EQ(store_usage(s, &bytes, &files, &fs), 0);
	CHECK_EQ(bytes, bytes0 + sizeof(big));
	CHECK_EQ(store_blob_remove_unreferenced(s, d, 1), 0);
	CHECK_EQ(store_usage(s, &bytes, &files, &fs), 0);
	CHECK_EQ(bytes, bytes0);
	CHECK_EQ(files, files0);
	CHECK(!store_blob_has(s, digest));
	return s;
}

int main(void)
{
	struct store *s;
	char cmd[300];

	log_setup(LOG_LVL_ERR, 0);
	snprintf(root, sizeof(root), "/tmp/test_progress.XXXXXX");
	CHECK(mkdtemp(root) != NULL);
	s = open_store();
	test_errors(s);
	test_ops(s);
	s = test_usage(s);
	store_close(s);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	CHECK_EQ(system(cmd), 0);
	return check_done("test_progress");
}
