/* SPDX-License-Identifier: MIT */
/*
 * fuzz_challenge.c - the WWW-Authenticate parser (registry/challenge.c),
 * the one piece of the auth path that reads text a server chose.
 *
 * Input: one header value.  Beyond not crashing, a challenge that parses
 * must keep registry.h's promises: a scheme, and no value with a control
 * character or over 4096 bytes (a realm becomes a URL, any value may
 * reach a log line).
 */
#include "fuzz.h"
#include "registry.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_log_quiet();
	return 0;
}

static void check_value(const char *v)
{
	if (!v)
		return;
	FUZZ_CHECK(strlen(v) <= 4096);
	for (const unsigned char *p = (const unsigned char *)v; *p; p++)
		FUZZ_CHECK(*p >= 0x20 && *p != 0x7f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = fuzz_str(data, size);
	struct registry_challenge ch;
	int ret = registry_challenge_parse(s, &ch);

	FUZZ_CHECK(ret == 0 || ret == -EINVAL);
	if (ret == 0) {
		FUZZ_CHECK(ch.scheme[0] && memchr(ch.scheme, '\0', sizeof(ch.scheme)));
		check_value(ch.realm);
		check_value(ch.service);
		check_value(ch.scope);
		check_value(ch.error);
		registry_challenge_release(&ch);
	}
	FUZZ_CHECK(!ch.realm && !ch.service && !ch.scope && !ch.error);
	free(s);
	return 0;
}
