#!/bin/bash
# t_registries.sh — browsing any registry through registries/, against real
# docker-registry instances on loopback, with -o list_page=2 so that every
# list takes several pages (Link: rel="next"):
#  - registries/HOST lists exactly the first components of the registry's
#    catalog (as curl reads it), nested names as nested directories;
#  - a repository lists exactly its tags (as skopeo list-tags reads them);
#  - a tag's manifest and config are the bytes skopeo reads, a rootfs file
#    the bytes umoci unpacks, and what was read there is not fetched again
#    through repos/;
#  - ln -s registries/HOST/REPO/TAG repos/x/y (absolute or relative target)
#    and ln of such a tag are local tags of the same ID;
#  - rm of a remote tag deletes it (skopeo inspect fails, ls no longer
#    lists it, the other tags stay); on a registry without deletion it is
#    EPERM with the registry's reason in the log, and the tag stays;
#  - a registry that cannot be asked, or has no catalog, lists what was
#    made here, and the latter's repositories are found by name; bad names
#    are ENOENT; a user outside the pull group sees nothing remote;
#  - every system call on the new node kinds gets an answer (ops_robust.py).
. "$(dirname "$0")/../lib/common.sh"
. "$IMGFS_SRC/tests/lib/build_images.sh"
need_root

O=$TEST_TMP/oci
build_busybox "$O"
build_unique "$O" u1
build_unique "$O" u2
reference_tree "$O" u1 "$TEST_TMP/ref1"

REG_DELETE=false registry_start
RN=$REG_ADDR
push_image "$O" u1 keep/u1:1
registry_start
R=$REG_ADDR ACC=$REG_DIR/access.log
for t in 1 2 3 4; do push_image "$O" busybox lib/busybox:$t; done
push_image "$O" u2 lib/busybox:gone
push_image "$O" u1 lib/nested/u1:a
push_image "$O" u1 solo:1
push_image "$O" u2 zed/u2:b

# docker-registry 2.8 pages the catalog but not tag lists: those are
# paged by tests/lib/page_proxy.py in front of it.
proxy_start page_proxy.py "$R" "$TEST_TMP/page.log"
P=$PROXY_ADDR

export DOCKER_CONFIG=$TEST_TMP/dockercfg
docker_config "$DOCKER_CONFIG"
imgfs_mount log_level=info,list_page=2
G=$MNT/registries

# lines PATTERN — access-log lines of registry R matching PATTERN.
lines() { grep -c -- "$1" "$ACC" || true; }
# sorted CMD... — the words CMD prints, sorted, on one line.
sorted() { "$@" | tr ' ' '\n' | sed '/^$/d' | sort | tr '\n' ' '; }
# catalog_top — the first components of the registry's catalog (curl).
catalog_top() { curl -fs "http://$R/v2/_catalog?n=1000" | jq -r '.repositories[]' | cut -d/ -f1 | sort -u; }
tags_of() { sk list-tags --tls-verify=false "docker://$R/$1" | jq -r '.Tags[]'; }

check "registries/HOST lists the catalog's first components, in pages"
want=$(sorted catalog_top)
assert_eq "lib solo zed " "$want" "the registry's own catalog (curl)"
assert_eq "$want" "$(sorted ls "$G/$R")" "ls registries/$R"
n=$(lines 'GET /v2/_catalog')
[ "$n" -ge 3 ] || fail "$n catalog requests for 5 repositories at 2 a page"
grep -q 'GET /v2/_catalog?.*last=' "$ACC" || fail "no next page (last=) was asked for"
assert_eq "busybox nested " "$(sorted ls "$G/$R/lib")" "ls registries/$R/lib"
assert_eq "u1 " "$(sorted ls "$G/$R/lib/nested")" "ls registries/$R/lib/nested"
[ -d "$G/$R/lib/nested/u1" ] || fail "registries/$R/lib/nested/u1 is not a directory"
pass "$n catalog requests; nested names are nested directories"

check "a repository lists exactly its tags, in pages"
want=$(sorted tags_of lib/busybox)
assert_eq "1 2 3 4 gone " "$want" "skopeo list-tags lib/busybox"
assert_eq "$want" "$(sorted ls "$G/$R/lib/busybox")" "ls registries/$R/lib/busybox"
assert_eq "$(sorted tags_of solo)" "$(sorted ls "$G/$R/solo")" "ls registries/$R/solo"
assert_eq "$want" "$(sorted ls "$G/$P/lib/busybox")" "ls registries/$P/lib/busybox (paged)"
n=$(grep -c 'GET /v2/lib/busybox/tags/list?n=2' "$TEST_TMP/page.log" || true)
assert_eq 3 "$n" "tags/list pages of 5 tags at 2 a page"
grep -q 'tags/list?n=2&last=' "$TEST_TMP/page.log" || fail "no next page asked for"
pass "$n pages through the proxy"

check "a tag reads as skopeo reads it; its blobs are the store's"
T=$G/$R/lib/nested/u1/a
[ -L "$T" ] || fail "registries/$R/lib/nested/u1/a is not a link"
cmp -s <(sk inspect --tls-verify=false --raw "docker://$R/lib/nested/u1:a") "$T/manifest" ||
    fail "manifest differs from skopeo inspect --raw"
cmp -s <(sk inspect --tls-verify=false --config --raw "docker://$R/lib/nested/u1:a") "$T/config" ||
    fail "config differs from skopeo inspect --config --raw"
cmp -s "$TEST_TMP/ref1/rootfs/data/small" "$T/rootfs/data/small" || fail "rootfs/data/small"
cmp -s "$TEST_TMP/ref1/rootfs/data/blob" "$T/rootfs/data/blob" || fail "rootfs/data/blob"
ID=$(jq -r .config.digest "$T/manifest" | sed 's/^sha256://')
assert_eq "../../../../../by-id/${ID:0:12}" "$(readlink "$T")" "the tag's link"
blobs=$(lines 'GET /v2/.*/blobs/sha256:')
[ "$blobs" -gt 0 ] || fail "no blob was fetched for the rootfs"

cmp -s "$TEST_TMP/ref1/rootfs/data/blob" "$MNT/repos/$R/lib/nested/u1/a/rootfs/data/blob" ||
    fail "repos/$R/lib/nested/u1/a/rootfs/data/blob"
assert_eq "$blobs" "$(lines 'GET /v2/.*/blobs/sha256:')" "blob requests after reading it again through repos/"
pass "image ${ID:0:12}, $blobs blob requests in all"

check "ln -s registries/HOST/REPO/TAG repos/x/y pulls under a local name"
mkdir -p "$MNT/repos/local/copy" || fail "mkdir repos/local/copy"
ln -s "$MNT/registries/$R/solo/1" "$MNT/repos/local/copy/v1" || fail "ln -s registries/$R/solo/1"
SID=$(jq -r .config.digest "$MNT/repos/local/copy/v1/manifest" | sed 's/^sha256://')
assert_eq "$(remote_raw solo:1 --config --raw | sha256sum | cut -d' ' -f1)" "$SID" "image ID of the local tag"
assert_eq "../../../by-id/${SID:0:12}" "$(readlink "$MNT/repos/local/copy/v1")" "repos/local/copy/v1"
(cd "$MNT/repos/local/copy" && ln -s "../../../registries/$R/zed/u2/b" v2) ||
    fail "ln -s with a relative target into registries/"
assert_eq "$(remote_raw zed/u2:b --config --raw | sha256sum | cut -d' ' -f1)" \
    "$(jq -r .config.digest "$MNT/repos/local/copy/v2/manifest" | sed 's/^sha256://')" "repos/local/copy/v2"
ln "$G/$R/lib/busybox/1" "$MNT/repos/local/copy/v3" || fail "ln (hard) of a remote tag into repos/"
assert_eq "$(remote_raw lib/busybox:1 --config --raw | sha256sum | cut -d' ' -f1)" \
    "$(jq -r .config.digest "$MNT/repos/local/copy/v3/manifest" | sed 's/^sha256://')" "repos/local/copy/v3"
pass "local tag of ${SID:0:12}"

check "rm of a remote tag deletes it at the registry"
remote_raw lib/busybox:gone --raw >/dev/null || fail "lib/busybox:gone before rm"
rm "$G/$R/lib/busybox/gone" || fail "rm registries/$R/lib/busybox/gone"
remote_raw lib/busybox:gone --raw >/dev/null 2>&1 && fail "skopeo still inspects lib/busybox:gone"
assert_eq "1 2 3 4 " "$(sorted ls "$G/$R/lib/busybox")" "ls after rm"
assert_eq "1 2 3 4 " "$(sorted tags_of lib/busybox)" "skopeo list-tags after rm"
grep -q '"DELETE /v2/lib/busybox/manifests/sha256:' "$ACC" || fail "no DELETE by digest in the access log"
[ -e "$G/$R/lib/busybox/gone" ] && fail "registries/$R/lib/busybox/gone still there"
pass "deleted; the other tags stay"

check "rm where the registry does not delete: EPERM, its reason logged, the tag stays"
[ -L "$G/$RN/keep/u1/1" ] || fail "registries/$RN/keep/u1/1 is not a link"
err=$(rm "$G/$RN/keep/u1/1" 2>&1) && fail "rm on a registry without deletion succeeded"
grep -q "Operation not permitted" <<<"$err" || fail "rm said: $err"
grep -q "registry $RN: delete keep/u1:1 .*HTTP 405 UNSUPPORTED" "$IMGFS_LOG" ||
    fail "no log line with the registry's answer"
REG_ADDR=$RN remote_raw keep/u1:1 --raw >/dev/null || fail "keep/u1:1 gone after a refused rm"
pass "$err"

check "a registry that cannot be asked lists what was made here; bad names"
DOWN=127.0.0.1:$(free_port)
assert_eq "" "$(ls -A "$G/$DOWN")" "ls registries/$DOWN (nothing listens)"
mkdir -p "$G/$DOWN/made/repo" || fail "mkdir -p registries/$DOWN/made/repo"
assert_eq "made " "$(sorted ls "$G/$DOWN")" "ls registries/$DOWN after mkdir"
for p in "$G/$R/nosuch" "$G/$R/lib/busybox/nosuch" "$G/$R/lib/Busybox" "$G/$R/lib/busybox/1/x:y" \
         "$G/$R/-bad" "$G/not a host" "$G/$R/lib/busybox/$(printf 'a%.0s' {1..200})"; do
    err=$(ls -d "$p" 2>&1) && fail "ls $p succeeded"
    grep -q "No such file or directory" <<<"$err" || fail "ls $p: $err"
done
err=$(rm "$G/$R/lib/busybox/nosuch" 2>&1) && fail "rm of a tag that is not there succeeded"
grep -q "No such file or directory" <<<"$err" || fail "rm nosuch: $err"
err=$(rm "$G/$R/lib" 2>&1) && fail "rm of a repository directory succeeded"
imgfs_alive || fail "daemon died"
pass "ENOENT for bad names; rm of a directory: $err"

check "a registry without a catalog: nothing listed, repositories found by name"
HH=127.0.0.1:$(free_port)
"$PY" "$LIB_DIR/hostile_registry.py" --listen "$HH" --mode good >>"$TEST_TMP/hostile.err" 2>&1 &
_PIDS+=("$!")
wait_for 20 _registry_up "$HH" || { cat "$TEST_TMP/hostile.err" >&2; fail "hostile_registry.py did not start"; }
assert_eq 404 "$(curl -s -o /dev/null -w '%{http_code}' "http://$HH/v2/_catalog")" "its catalog"
# (It serves an image under any repository name, so nothing needs mkdir.)
assert_eq "" "$(ls -A "$G/$HH")" "ls registries/$HH"
want=$(curl -fs "http://$HH/v2/good/tags/list" | jq -r '.tags[]' | sort | tr '\n' ' ')
[ -n "$want" ] || fail "no tags at $HH/good"
assert_eq "$want" "$(sorted ls "$G/$HH/good")" "ls registries/$HH/good"
t=${want%% *}
cmp -s <(curl -fs -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
         "http://$HH/v2/good/manifests/$t") "$G/$HH/good/$t/manifest" || fail "registries/$HH/good/$t/manifest"
pass "tags $want"

check "a user outside the pull group sees nothing remote"
# The kernel keeps a name it was given (here solo, which root's ln -s
# looked up) for the entry timeout, FS_TIMEOUT_TAG (1 s), whoever walks
# the path next: past it, each name is the daemon's to answer again.
sleep 1.2
mark=$(wc -l < "$ACC")
out=$(setpriv --reuid=nobody --regid=nogroup --clear-groups ls -A "$G/$R") ||
    fail "nobody cannot list registries/$R"
assert_eq "" "$out" "nobody's listing of registries/$R"
setpriv --reuid=nobody --regid=nogroup --clear-groups ls -d "$G/$R/solo" 2>/dev/null &&
    fail "nobody found registries/$R/solo"
sleep 0.5
assert_eq "$mark" "$(wc -l < "$ACC")" "access-log lines after nobody's listing"
pass "no request made for nobody"

check "every call on the registries/ node kinds gets an answer"
timeout 120 "$PY" "$LIB_DIR/ops_robust.py" "$MNT" \
    regroot="$G" reghost="$G/$R" regns="$G/$R/lib" regrepo="$G/$R/lib/busybox" \
    regtag="$G/$R/lib/busybox/1" > "$TEST_TMP/ops.out" 2>&1
rc=$?
grep -E '^(FAIL|[0-9]+ calls)' "$TEST_TMP/ops.out"
[ "$rc" = 0 ] || { tail -n 5 "$TEST_TMP/ops.out" >&2; fail "ops_robust.py exited $rc"; }
assert_eq "1 2 3 4 " "$(sorted tags_of lib/busybox)" "remote tags after the calls"
pass "$(grep -E '^[0-9]+ calls' "$TEST_TMP/ops.out")"

imgfs_alive || fail "daemon died"
imgfs_umount
echo "t_registries: all checks passed"
