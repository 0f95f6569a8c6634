#!/bin/bash
# t_mirror.sh — registry mirrors with a real pull-through cache: a second
# docker-registry in proxy mode in front of the origin, named as the
# origin's mirror in config=FILE ("registries": {ORIGIN: {"mirrors": [...]}}).
#  (a) a file read through the mount is right, the mirror served imgfs and
#      the origin saw the blobs fetched by the proxy, not by imgfs;
#  (b) N=3 mounts (separate stores, one after the other) reading the same
#      image: each blob leaves the origin for the first mount only; bytes
#      at the origin vs bytes the mirror served are printed;
#  (c) a dead mirror first in the list is skipped (logged), then with the
#      proxy stopped too the read still works from the origin;
#  (d) a mirror that has the manifest but answers 404 for a blob is skipped
#      for that blob, which comes from the origin;
#  (e) bad config keys and mirrors stop the mount, named;
#  (f) a mirror with Basic auth gets credentials for its own host only.
. "$(dirname "$0")/../lib/common.sh"
. "$IMGFS_SRC/tests/lib/build_images.sh"
need_root

O=$TEST_TMP/oci
IMG=fleet/features
build_features "$O"
reference_tree "$O" features "$TEST_TMP/ref"
file_hashes "$TEST_TMP/ref/rootfs" > "$TEST_TMP/ref.hashes"

registry_start
ORIGIN=$REG_ADDR ORIGIN_DIR=$REG_DIR
push_image "$O" features "$IMG:latest"
registry_start "proxy:
  remoteurl: http://$ORIGIN"
MIRROR=$REG_ADDR MIRROR_DIR=$REG_DIR MIRROR_PID=$REG_PID
# imgfs_mount's default registry is the origin.
REG_ADDR=$ORIGIN REG_DIR=$ORIGIN_DIR

# write_config FILE MIRROR_URL... — the origin's mirrors, in order.
write_config() {
    local f=$1 list
    shift
    list=$(printf '"%s",' "$@")
    printf '{"registries": {"%s": {"mirrors": [%s]}}}\n' "$ORIGIN" "${list%,}" > "$f"
}

# blob_gets LOG — "COUNT DIGEST" of the blob GETs answered 2xx in LOG.
blob_gets() {
    awk -F'"' '$2 ~ /^GET \/v2\/.*\/blobs\/sha256:/ { split($3, s, " ");
        if (s[1] ~ /^2/) { sub(/.*\/blobs\//, "", $2); sub(/ .*/, "", $2); print $2 } }' "$1" |
        sort | uniq -c
}

# log_bytes LOG PATTERN [UA] — bytes of the bodies of the GETs in LOG whose
# request line matches PATTERN (of clients whose user agent starts with UA).
log_bytes() {
    awk -F'"' -v p="$2" -v ua="${3:-}" '$2 ~ "^GET " p && index($6, ua) == 1 { split($3, s, " ");
        if (s[2] ~ /^[0-9]+$/) n += s[2] } END { print n + 0 }' "$1"
}

# read_image — every file of the image's rootfs equals umoci's unpack.
read_image() {
    file_hashes "$MNT/repos/$IMG/latest/rootfs" > "$TEST_TMP/got.hashes" ||
        fail "reading $IMG through $MNT"
    diff -q "$TEST_TMP/ref.hashes" "$TEST_TMP/got.hashes" >/dev/null ||
        fail "$IMG through $MNT differs from umoci unpack"
}

# machine K CONFIG — a fresh store and mount point, the image read, unmounted.
machine() {
    MNT=$TEST_TMP/mnt.$1 STORE=$TEST_TMP/store.$1
    imgfs_mount "config=$2,log_level=info"
    read_image
    imgfs_umount
}

CFG=$TEST_TMP/mirror.json
write_config "$CFG" "http://$MIRROR"

check "(a) a read through the mount comes from the mirror; the origin sees the proxy"
machine 1 "$CFG"
pass "rootfs of $IMG matches ($(wc -l < "$TEST_TMP/ref.hashes") files)"
n=$(awk -F'"' '$2 ~ /\/blobs\// && $6 ~ /^imgfs\//' "$ORIGIN_DIR/access.log" | wc -l)
assert_eq 0 "$n" "blob requests of imgfs at the origin"
n=$(awk -F'"' '$2 ~ /^GET .*\/blobs\// && $6 ~ /^imgfs\//' "$MIRROR_DIR/access.log" | wc -l)
[ "$n" -gt 0 ] || fail "the mirror served no blob to imgfs"
blob_gets "$ORIGIN_DIR/access.log" > "$TEST_TMP/origin.1"
NBLOBS=$(wc -l < "$TEST_TMP/origin.1")
[ "$NBLOBS" -ge 5 ] || fail "origin log shows $NBLOBS blobs fetched, expected config + 4 layers"
pass "mirror served imgfs $n blob GETs; origin served the proxy $NBLOBS blobs"

check "(b) N=3 machines through one mirror: each blob fetched from the origin on the first miss only"
# docker-registry 2.8's proxy GETs a blob twice on its first miss (one
# stream for the client, one to store it), so a blob counts 1 or 2 here;
# what matters for a fleet is that machines 2 and 3 add nothing.
cat "$TEST_TMP/origin.1"
awk '$1 > 2 { bad = 1 } END { exit bad }' "$TEST_TMP/origin.1" ||
    fail "a blob was fetched more than twice from the origin for one mount"
B='.*/blobs/'
at_origin1=$(log_bytes "$ORIGIN_DIR/access.log" "$B")
machine 2 "$CFG"
machine 3 "$CFG"
blob_gets "$ORIGIN_DIR/access.log" > "$TEST_TMP/origin.3"
diff "$TEST_TMP/origin.1" "$TEST_TMP/origin.3" ||
    fail "mounts 2 and 3 caused blob fetches at the origin"
at_origin=$(log_bytes "$ORIGIN_DIR/access.log" "$B")
served=$(log_bytes "$MIRROR_DIR/access.log" "$B" imgfs/)
log "N=3 mounts: blob bytes at the origin $at_origin (after mount 1: $at_origin1)," \
    "blob bytes the mirror served to imgfs $served;" \
    "all GET bytes at the origin $(log_bytes "$ORIGIN_DIR/access.log" ''), at the mirror $(log_bytes "$MIRROR_DIR/access.log" '')"
assert_eq "$at_origin1" "$at_origin" "blob bytes at the origin after mount 1 and after mount 3"
[ "$served" -gt "$at_origin" ] ||
    fail "mirror served $served bytes, not more than the origin's $at_origin"
pass "origin $at_origin bytes for 3 mounts (mirror served $served)"

check "(c) a dead mirror first in the list is skipped"
DEAD=$(free_port)
write_config "$TEST_TMP/dead.json" "http://127.0.0.1:$DEAD" "http://$MIRROR"
machine 4 "$TEST_TMP/dead.json"
grep -q "mirror 127.0.0.1:$DEAD skipped" "$IMGFS_LOG" || fail "no skip of the dead mirror logged"
grep -q "mirror 127.0.0.1:$DEAD unreachable, not tried for" "$IMGFS_LOG" ||
    fail "the dead mirror was not rested"
blob_gets "$ORIGIN_DIR/access.log" > "$TEST_TMP/origin.4"
diff -q "$TEST_TMP/origin.3" "$TEST_TMP/origin.4" >/dev/null ||
    fail "the origin served blobs although the second mirror was up"
pass "read via the second mirror: $(grep -c "mirror 127.0.0.1:$DEAD skipped" "$IMGFS_LOG") skip lines"

check "(c) with the proxy stopped too, the read falls back to the origin"
REG_PID=$MIRROR_PID REG_ADDR=$MIRROR registry_stop
REG_ADDR=$ORIGIN
machine 5 "$TEST_TMP/dead.json"
grep -q "mirror $MIRROR skipped" "$IMGFS_LOG" || fail "no skip of the stopped mirror logged"
n=$(awk -F'"' '$2 ~ /^GET .*\/blobs\// && $6 ~ /^imgfs\//' "$ORIGIN_DIR/access.log" | wc -l)
[ "$n" -ge "$NBLOBS" ] || fail "origin served imgfs $n blob GETs, expected >= $NBLOBS"
pass "origin served imgfs $n blob GETs; log: $(grep -m1 "mirror $MIRROR skipped" "$IMGFS_LOG")"

check "(d) a mirror answering 404 for a blob falls back to the origin"
registry_start
M404=$REG_ADDR M404_DIR=$REG_DIR
push_image "$O" features "$IMG:latest"
LAYER=$(remote_raw "$IMG:latest" --raw | jq -r '.layers[0].digest')
registry_digest_valid() { [[ $1 =~ ^sha256:[0-9a-f]{64}$ ]]; }
registry_digest_valid "$LAYER" || fail "no first layer in the manifest ($LAYER)"
registry_stop
rm -f "$(registry_blob_path "$LAYER")" || fail "remove $LAYER from the 404 mirror"
registry_restart
[ "$(curl -s -o /dev/null -w '%{http_code}' "http://$M404/v2/$IMG/blobs/$LAYER")" = 404 ] ||
    fail "the 404 mirror still serves $LAYER"
REG_ADDR=$ORIGIN REG_DIR=$ORIGIN_DIR
before=$(awk -F'"' -v d="$LAYER" '$2 ~ d && $6 ~ /^imgfs\//' "$ORIGIN_DIR/access.log" | wc -l)
write_config "$TEST_TMP/m404.json" "http://$M404"
machine 6 "$TEST_TMP/m404.json"
grep -q "mirror $M404 skipped for blob $IMG $LAYER: not found" "$IMGFS_LOG" ||
    fail "no skip of the 404 mirror logged for $LAYER"
after=$(awk -F'"' -v d="$LAYER" '$2 ~ d && $6 ~ /^imgfs\//' "$ORIGIN_DIR/access.log" | wc -l)
[ "$after" -gt "$before" ] || fail "$LAYER was not fetched from the origin"
n=$(awk -F'"' '$2 ~ /\/manifests\// && $6 ~ /^imgfs\//' "$M404_DIR/access.log" | wc -l)
[ "$n" -gt 0 ] || fail "the manifest did not come from the 404 mirror"
pass "$LAYER from the origin after the mirror's 404"

check "(e) config=FILE: unknown keys and bad mirrors stop the mount, named"
config_refused '{"registry-mirror": ["https://m"]}' 'unknown key "registry-mirror"'
config_refused "{\"registries\": {\"$ORIGIN\": {\"mirror\": [\"http://$MIRROR\"]}}}" \
    "unknown key \"mirror\" in registries.$ORIGIN"
config_refused "{\"registries\": {\"$ORIGIN\": {\"mirrors\": [\"ftp://$MIRROR\"]}}}" \
    "is not http[s]://host[:port]"
config_refused '{"registries": {"r.example": {"client-cert": "/c.pem"}}}' \
    "client-cert and client-key go together"
config_refused '{"registry-mirrors": ["https://m.example"], "registries": {"docker.io": {"mirrors": ["https://n.example"]}}}' \
    "registry-mirrors and registries.docker.io.mirrors both given"
pass "each refused with its reason"

check "(f) a mirror gets the credentials of its own host, never the origin's"
U=mirroruser P=Pw-mirror-5c1d
htpasswd -Bbn "$U" "$P" > "$TEST_TMP/htpasswd" || fail "htpasswd"
registry_start "auth:
  htpasswd:
    realm: imgfs-mirror
    path: $TEST_TMP/htpasswd
proxy:
  remoteurl: http://$ORIGIN"
AUTHM=$REG_ADDR AUTHM_DIR=$REG_DIR
REG_ADDR=$ORIGIN REG_DIR=$ORIGIN_DIR
write_config "$TEST_TMP/authm.json" "http://$AUTHM"
# authm_gets STATUS — manifest and blob GETs of imgfs the auth mirror
# answered STATUS.
authm_gets() {
    awk -F'"' -v st="$1" '$2 ~ /^GET .*\/(blobs|manifests)\// && $6 ~ /^imgfs\// { split($3, s, " ");
        if (s[1] == st) n++ } END { print n + 0 }' "$AUTHM_DIR/access.log"
}
# Credentials for the origin only: the mirror must not get them (401, skipped).
docker_config "$TEST_TMP/dc-origin" "$U" "$P" "$ORIGIN"
DOCKER_CONFIG=$TEST_TMP/dc-origin machine 7 "$TEST_TMP/authm.json"
assert_eq 0 "$(authm_gets 200)" "GETs the auth mirror answered with the origin's credentials"
grep -q "mirror $AUTHM skipped" "$IMGFS_LOG" || fail "no skip of the auth mirror logged"
# Credentials for the mirror's own host: it serves the pull.
docker_config "$TEST_TMP/dc-mirror" "$U" "$P" "$AUTHM"
DOCKER_CONFIG=$TEST_TMP/dc-mirror machine 8 "$TEST_TMP/authm.json"
[ "$(authm_gets 200)" -gt 0 ] || fail "the auth mirror served nothing with its own credentials"
pass "origin's credentials: mirror skipped; mirror's own: $(authm_gets 200) GETs served by it"

echo "t_mirror: all checks passed"
