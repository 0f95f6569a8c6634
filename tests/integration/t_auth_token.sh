#!/bin/bash
# t_auth_token.sh — a registry with Bearer-token auth (tests/lib/
# token_server.py as the token service): the daemon follows the
# WWW-Authenticate challenge to the realm with the credentials of
# $DOCKER_CONFIG/config.json. Without credentials the token server issues a
# token with no access, with a wrong password it refuses; either way lookups
# fail cleanly. See lib/auth_checks.sh.
. "$(dirname "$0")/../lib/common.sh"
. "$IMGFS_SRC/tests/lib/build_images.sh"
. "$IMGFS_SRC/tests/lib/auth_checks.sh"
need_root
registry_start_token
auth_checks
check "the daemon went through the token server"
tail -n +"$((TOKEN_LOG_MARK + 1))" "$TEST_TMP/token/token.log" > "$TEST_TMP/token.daemon.log"
cat "$TEST_TMP/token.daemon.log"
grep -q "user=$REG_USER .*\"name\": \"busybox\"" "$TEST_TMP/token.daemon.log" ||
    fail "no token for busybox was issued to $REG_USER after the pushes"
pass "Bearer tokens were requested"
echo "t_auth_token: all checks passed"
