# shellcheck shell=bash
# tests/lib/auth_checks.sh — the checks shared by t_auth_basic.sh and
# t_auth_token.sh (sourced after common.sh and build_images.sh, with an auth
# registry started and REG_USER/REG_PASS set).
#
# Three mounts, each with a fresh store and its own $DOCKER_CONFIG:
#   no credentials  → lookups fail with EACCES (ENOENT accepted), no crash
#   wrong password  → the same
#   right password  → everything reads and equals umoci unpack
# and the password (plain or base64) never appears in the logs or the store.

auth_checks() {
    local O=$TEST_TMP/oci n e b64 id T
    build_busybox "$O"
    PUSH_CREDS="$REG_USER:$REG_PASS" push_image "$O" busybox busybox:latest
    PUSH_CREDS="$REG_USER:$REG_PASS" push_image "$O" busybox ouruser/sinatra:v2
    reference_tree "$O" busybox "$TEST_TMP/ref"
    id=$(PUSH_CREDS="$REG_USER:$REG_PASS" remote_config_id busybox:latest)
    PUSH_CREDS="$REG_USER:$REG_PASS" remote_raw busybox:latest --raw > "$TEST_TMP/manifest.want"
    # Token mode: where the daemon's token requests start in the server log.
    TOKEN_LOG_MARK=0
    [ -f "$TEST_TMP/token/token.log" ] && TOKEN_LOG_MARK=$(wc -l < "$TEST_TMP/token/token.log")
    b64=$(printf '%s:%s' "$REG_USER" "$REG_PASS" | base64 -w0)

    n=0
    for mode in none wrong; do
        n=$((n + 1))
        check "mount with $mode credentials: lookups are refused, the daemon survives"
        export DOCKER_CONFIG=$TEST_TMP/dc-$mode
        case $mode in
            none) docker_config "$DOCKER_CONFIG" ;;
            wrong) docker_config "$DOCKER_CONFIG" "$REG_USER" "not-$REG_PASS" ;;
        esac
        MNT=$TEST_TMP/mnt$n STORE=$TEST_TMP/store$n
        imgfs_mount
        for p in busybox/latest ouruser/sinatra/v2; do
            e=$(errno_of stat "$MNT/repos/$p")
            case $e in
                EACCES) ;;
                ENOENT) log "note: $p gave ENOENT (EACCES preferred)" ;;
                *) fail "$mode credentials: stat repos/$p gave $e, want EACCES or ENOENT" ;;
            esac
        done
        imgfs_alive || fail "daemon died after refused lookups"
        assert_eq "" "$(ls -A "$MNT/repos")" "repos/ after refused lookups"
        imgfs_umount
        pass "$mode credentials refused ($e)"
    done

    n=$((n + 1))
    check "mount with the right credentials: everything reads"
    export DOCKER_CONFIG=$TEST_TMP/dc-good
    docker_config "$DOCKER_CONFIG" "$REG_USER" "$REG_PASS"
    MNT=$TEST_TMP/mnt$n STORE=$TEST_TMP/store$n
    imgfs_mount
    T=$MNT/repos/busybox/latest
    assert_eq "../../by-id/$id" "$(readlink "$T")" "busybox/latest"
    cmp "$TEST_TMP/manifest.want" "$T/manifest" || fail "manifest bytes"
    for l in "$T"/layers/*; do
        [[ $(basename "$l") == *"$(sha256_file "$l")"* ]] || fail "layer $(basename "$l") content"
    done
    timeout 300 "$PY" "$LIB_DIR/treecmp.py" "$TEST_TMP/ref/rootfs" "$T/rootfs" || fail "rootfs differs"
    timeout 60 chroot "$T/rootfs" /bin/sh -c 'ls /' >/dev/null || fail "chroot"
    assert_eq "../../../by-id/$id" "$(readlink "$MNT/repos/ouruser/sinatra/v2")" "ouruser/sinatra/v2"
    imgfs_umount
    pass "authenticated reads"

    check "credentials appear in no log and no store file"
    local f
    for f in "$TEST_TMP"/imgfs.*.log; do
        grep -aF -e "$REG_PASS" -e "$b64" "$f" && fail "credentials in $f"
    done
    for n in 1 2 3; do
        grep -raF -e "$REG_PASS" -e "$b64" "$TEST_TMP/store$n" && fail "credentials in store$n"
    done
    pass "no credential leak"
}
