/* SPDX-License-Identifier: MIT */
/*
 * secret.c - how the registry files let go of secrets: passwords, identity
 * tokens, Bearer tokens and Authorization values are zeroed before their
 * memory is freed, so a later heap dump or a reused allocation does not
 * show them.
 *
 * Owns: nothing.  It is a file of its own so that auth.c, bearer.c,
 * creds.c and client.c share one way of doing it instead of each
 * spelling out explicit_bzero() before free().
 */
#include "registry_int.h"

#include <stdlib.h>
#include <string.h>

void reg_secret_free(char *s)
{
	if (!s)
		return;
	explicit_bzero(s, strlen(s));
	free(s);
}

void reg_creds_clear(char **user, char **secret)
{
	reg_secret_free(*user);
	reg_secret_free(*secret);
	*user = *secret = NULL;
}

void reg_buf_release_secret(struct buf *b)
{
	if (b->data)
		explicit_bzero(b->data, b->len);
	buf_release(b);
}
