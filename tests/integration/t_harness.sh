#!/bin/bash
# t_harness.sh — checks the test harness itself, without the daemon: the
# registry starts in each auth mode and enforces it (checked with skopeo),
# every test image builds, pushes with the media types the other tests rely
# on, unpacks with umoci, and treecmp finds a difference of each kind it
# claims to check. If this test fails, the other integration tests' failures
# say nothing about imgfs.
. "$(dirname "$0")/../lib/common.sh"
. "$IMGFS_SRC/tests/lib/build_images.sh"
need_root

O=$TEST_TMP/oci
check "images build with umoci"
build_busybox "$O"
build_features "$O"
build_variant "$O" features features-zstd
build_variant "$O" features features-raw
build_variant "$O" features features-v2s2
build_multiplatform "$O" multi
pass "busybox, features (+variants), multi built"

check "reference trees unpack; busybox runs under chroot"
reference_tree "$O" busybox "$TEST_TMP/ref-busybox"
reference_tree "$O" features "$TEST_TMP/ref-features"
out=$(chroot "$TEST_TMP/ref-busybox/rootfs" /bin/sh -c 'ls /') || fail "chroot busybox sh"
grep -qx etc <<<"$out" || fail "ls / in chroot: $out"
F=$TEST_TMP/ref-features/rootfs
[ -e "$F/del/file" ] && fail "whiteout of del/file not applied by umoci"
[ -e "$F/del/dir" ] && fail "whiteout of del/dir not applied"
[ -e "$F/opq/o1" ] && fail "opaque opq/ still has o1"
[ "$(cat "$F/opq/sub/n3")" = n3 ] || fail "opq/sub/n3"
[ "$(stat -c %i "$F/hl/lower")" = "$(stat -c %i "$F/hl/cross")" ] || fail "cross-layer hardlink"
[ "$(stat -c %h "$F/gnu/h2")" = 2 ] || fail "gnu/h2 nlink after whiteout of h1"
[ "$(stat -c %t,%T "$F/devs/null")" = 1,3 ] || fail "devs/null"
getfattr -n security.capability "$F/xattr/capbin" >/dev/null 2>&1 || fail "capability lost"
pass "umoci unpack applies whiteouts, opaque dir, hardlinks, devices, caps"

check "layers contain an opaque whiteout, explicit whiteouts, GNU and PAX long names"
man=$(image_manifest_digest "$O" features)
n=0
for l in $(jq -r '.layers[].digest' "$O/blobs/sha256/${man#sha256:}"); do
    tar tzf "$O/blobs/sha256/${l#sha256:}" > "$TEST_TMP/layer$n.lst" || fail "tar tzf layer $n"
    n=$((n + 1))
done
[ "$n" -ge 3 ] || fail "features has $n layers"
cat "$TEST_TMP"/layer*.lst | grep '/\.wh\.\.wh\.\.opq$' >/dev/null || fail "no opaque whiteout"
grep -q '^del/\.wh\.dir$' "$TEST_TMP/layer1.lst" || fail "no directory whiteout"
grep -q '^del/\.wh\.file$' "$TEST_TMP/layer1.lst" || fail "no file whiteout"
pass "$n layers with the expected whiteouts"

check "plain registry: push (gzip, zstd, docker v2s2, uncompressed, index), inspect"
registry_start
# zstd first: skopeo would otherwise reuse the gzip blobs already pushed.
push_image "$O" features-zstd features-zstd:latest --dest-compress-format zstd
push_image "$O" features features:latest
push_image "$O" features-v2s2 features-v2s2:latest --format v2s2
push_uncompressed "$O" features-raw features-raw:latest
push_image "$O" busybox busybox:latest
push_image "$O" multi multi:latest --all
mt() { remote_raw "$1" --raw | jq -r '[.layers[].mediaType] | unique | join(",")'; }
assert_eq application/vnd.oci.image.layer.v1.tar+zstd "$(mt features-zstd:latest)" "zstd layers"
assert_eq application/vnd.oci.image.layer.v1.tar+gzip "$(mt features:latest)" "gzip layers"
assert_eq application/vnd.oci.image.layer.v1.tar "$(mt features-raw:latest)" "uncompressed layers"
assert_eq application/vnd.docker.image.rootfs.diff.tar.gzip "$(mt features-v2s2:latest)" "docker layers"
assert_eq application/vnd.oci.image.index.v1+json "$(remote_raw multi:latest --raw | jq -r .mediaType)" "index"
assert_eq "amd64 arm64" "$(remote_raw multi:latest --raw | jq -r '[.manifests[].platform.architecture] | join(" ")')" "platforms"
id1=$(remote_raw features:latest --config --raw | sha256sum | cut -c1-12)
id2=$(remote_raw features-zstd:latest --config --raw | sha256sum | cut -c1-12)
[ "$id1" != "$id2" ] || fail "variants share an image ID"
pass "all pushed with the right media types"

check "registry stops and restarts on the same port with its storage"
registry_stop
remote_raw busybox:latest --raw >/dev/null 2>&1 && fail "registry still answers after stop"
registry_restart
remote_raw busybox:latest --raw >/dev/null || fail "image gone after restart"
pass "restart keeps storage"

check "Basic-auth registry: push and inspect need the credentials"
registry_start_basic
PUSH_CREDS="$REG_USER:$REG_PASS" push_image "$O" busybox busybox:latest
sk inspect --tls-verify=false --no-creds "docker://$REG_ADDR/busybox:latest" >/dev/null 2>&1 &&
    fail "basic: inspect without creds succeeded"
sk inspect --tls-verify=false --creds "$REG_USER:wrong" "docker://$REG_ADDR/busybox:latest" >/dev/null 2>&1 &&
    fail "basic: inspect with a wrong password succeeded"
sk inspect --tls-verify=false --creds "$REG_USER:$REG_PASS" "docker://$REG_ADDR/busybox:latest" >/dev/null ||
    fail "basic: inspect with creds failed"
code=$(curl -s -o /dev/null -w '%{http_code}' "http://$REG_ADDR/v2/")
assert_eq 401 "$code" "basic: /v2/ without creds"
pass "Basic auth enforced"

check "token-auth registry: Bearer flow through tests/lib/token_server.py"
registry_start_token
PUSH_CREDS="$REG_USER:$REG_PASS" push_image "$O" busybox busybox:latest
sk inspect --tls-verify=false --no-creds "docker://$REG_ADDR/busybox:latest" >/dev/null 2>&1 &&
    fail "token: inspect without creds succeeded"
sk inspect --tls-verify=false --creds "$REG_USER:wrong" "docker://$REG_ADDR/busybox:latest" >/dev/null 2>&1 &&
    fail "token: inspect with a wrong password succeeded"
sk inspect --tls-verify=false --creds "$REG_USER:$REG_PASS" "docker://$REG_ADDR/busybox:latest" >/dev/null ||
    fail "token: inspect with creds failed"
hdr=$(curl -s -D - -o /dev/null "http://$REG_ADDR/v2/busybox/manifests/latest" | grep -i '^www-authenticate')
grep -q "Bearer realm=\"http://$TOKEN_ADDR/token\"" <<<"$hdr" || fail "token: WWW-Authenticate: $hdr"
grep -q 'user=imgfsuser' "$TEST_TMP/token/token.log" || fail "token server issued no user token"
grep -q "$REG_PASS" "$TEST_TMP/token/token.log" && fail "token server logged the password"
pass "Bearer token auth enforced"

check "treecmp: equal trees pass, each kind of difference is reported"
"$PY" "$LIB_DIR/treecmp.py" "$F" "$F" >/dev/null || fail "treecmp: tree differs from itself"
cp -a "$F" "$TEST_TMP/copy"
"$PY" "$LIB_DIR/treecmp.py" "$F" "$TEST_TMP/copy" || fail "treecmp: cp -a copy differs"
C=$TEST_TMP/copy
# Flip byte 1000 (writing a fixed byte into random data left it unchanged
# once in 256 runs, and the expected difference went missing).
"$PY" -c 'import sys; f = open(sys.argv[1], "r+b"); f.seek(1000); b = f.read(1)[0]; f.seek(1000); f.write(bytes([b ^ 0xff]))' "$C/data/random3m"
chmod u-s "$C/perm/suid"
chown 1001 "$C/own/u1000"
ln -sfn /etc/other "$C/links/abs"
setfattr -n user.foo -v baz "$C/xattr/file"
setfattr -x security.capability "$C/xattr/capbin"
rm "$C/etc/layer2"
echo new > "$C/extra"
cp "$C/hl/b" "$C/hl/b.tmp" && mv "$C/hl/b.tmp" "$C/hl/b"
rm "$C/devs/loop0" && mknod "$C/devs/loop0" b 7 1
rm "$C/devs/fifo" && touch "$C/devs/fifo"
touch -d 2010-01-01 "$C/data/empty"
out=$("$PY" "$LIB_DIR/treecmp.py" "$F" "$C") && fail "treecmp: modified tree compared equal"
for pat in 'data/random3m: sha256' 'perm/suid: mode' 'own/u1000: uid' 'links/abs: symlink target' \
    'xattr/file: xattr user.foo' 'xattr/capbin: xattr security.capability' 'etc/layer2: missing' \
    'extra: unexpected' 'hardlink group' 'devs/loop0: device' 'devs/fifo: type' 'data/empty: mtime'; do
    grep -q -- "$pat" <<<"$out" || fail "treecmp did not report '$pat':
$out"
done
pass "treecmp reports every kind of difference"

echo "t_harness: all checks passed"
