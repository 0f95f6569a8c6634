#!/bin/bash
# t_auth_basic.sh — a registry with htpasswd Basic auth: credentials come
# from $DOCKER_CONFIG/config.json; without them (or with a wrong password)
# lookups fail cleanly, with them everything reads. See lib/auth_checks.sh.
. "$(dirname "$0")/../lib/common.sh"
. "$IMGFS_SRC/tests/lib/build_images.sh"
. "$IMGFS_SRC/tests/lib/auth_checks.sh"
need_root
registry_start_basic
auth_checks
echo "t_auth_basic: all checks passed"
