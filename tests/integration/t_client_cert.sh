#!/bin/bash
# t_client_cert.sh — a registry that wants a client certificate (mutual
# TLS), reached with config=FILE's per-host ca-file, client-cert and
# client-key.  A CA, a server certificate for 127.0.0.1 and a client
# certificate are made with openssl; docker-registry serves https with
# http.tls.clientcas, and skopeo (--cert-dir) pushes the test image.
#  (a) with the certificate: repos/127.0.0.1:PORT/cc/u1/1/rootfs reads and
#      equals umoci's unpack, the image ID is the registry's config digest;
#  (b) a push (ln -s into registries/HOST/...) with it: skopeo reads the
#      image back (inspect, copy with digest checks);
#  (c) without the client certificate: a lookup fails with EIO, a line
#      names the host and the TLS cause, the daemon stays up; the host is
#      not taken for plain http (the 400 its TLS port answers a plain
#      request is not the error);
#  (d) bad TLS settings stop the mount at start with the reason named;
#  (e) with no ca-file the system's CAs are looked up by hash in the CA
#      directory, the bundle file never read (strace of the daemon): the
#      registry's private CA is not among them, so its certificate fails
#      verification (EIO, logged), it is not waved through.
. "$(dirname "$0")/../lib/common.sh"
. "$IMGFS_SRC/tests/lib/build_images.sh"
need_root

O=$TEST_TMP/oci
build_unique "$O" u1
reference_tree "$O" u1 "$TEST_TMP/ref"
file_hashes "$TEST_TMP/ref/rootfs" > "$TEST_TMP/ref.hashes"

tls_certs "$TEST_TMP/tls"
registry_start_tls
H=$REG_ADDR
CD=$TLS_DIR/skopeo
for ref in cc/u1:1 u1:1; do
    sk copy -q --dest-cert-dir "$CD" "oci:$O:u1" "docker://$H/$ref" >"$TEST_TMP/skopeo.log" 2>&1 ||
        { cat "$TEST_TMP/skopeo.log" >&2; fail "skopeo push to $H/$ref with a client certificate"; }
done
ID=$(sk inspect --cert-dir "$CD" --config --raw "docker://$H/cc/u1:1" | sha256sum | cut -d' ' -f1)
[ ${#ID} = 64 ] || fail "config of cc/u1:1"
# The registry really demands the certificate: skopeo without one fails.
sk inspect --tls-verify=false --raw "docker://$H/cc/u1:1" >/dev/null 2>&1 &&
    fail "the registry answered a client without a certificate"
log "registry $H wants a client certificate; image $ID"

# host_config FILE [KEYS] — config=FILE with an entry for $H: its ca-file,
# and the client certificate unless KEYS is "ca-only".
host_config() {
    if [ "${2:-}" = ca-only ]; then
        printf '{"registries": {"%s": {"ca-file": "%s"}}}\n' "$H" "$TLS_DIR/ca.pem" > "$1"
    else
        printf '{"registries": {"%s": {"ca-file": "%s", "client-cert": "%s", "client-key": "%s"}}}\n' \
            "$H" "$TLS_DIR/ca.pem" "$TLS_DIR/client.pem" "$TLS_DIR/client.key" > "$1"
    fi
}
export DOCKER_CONFIG=$TEST_TMP/dockercfg
docker_config "$DOCKER_CONFIG"

check "(a) with the client certificate: the image reads and equals umoci's unpack"
host_config "$TEST_TMP/good.json"
imgfs_mount "config=$TEST_TMP/good.json,log_level=info"
T=$MNT/repos/$H/cc/u1/1
file_hashes "$T/rootfs" > "$TEST_TMP/got.hashes" || fail "reading $T/rootfs"
diff -q "$TEST_TMP/ref.hashes" "$TEST_TMP/got.hashes" >/dev/null || fail "$T/rootfs differs from umoci unpack"
assert_eq "sha256:$ID" "$(jq -r .config.digest "$T/manifest")" "config digest of $T"
assert_eq "../../../../by-id/${ID:0:12}" "$(readlink "$T")" "the tag's link"
pass "$(wc -l < "$TEST_TMP/ref.hashes") files equal"

check "(b) a push with the client certificate"
G=$MNT/registries/$H
mkdir -p "$G/pushed/u1" || fail "mkdir registries/$H/pushed/u1"
ln -s "$MNT/by-id/$ID" "$G/pushed/u1/v1" || fail "push to $H/pushed/u1:v1"
sk inspect --cert-dir "$CD" --raw "docker://$H/pushed/u1:v1" > "$TEST_TMP/pushed.manifest" ||
    fail "skopeo inspect of the pushed image"
assert_eq "sha256:$ID" "$(jq -r .config.digest "$TEST_TMP/pushed.manifest")" "pushed config digest (image ID)"
assert_eq "$(jq -c '[.layers[].digest]' "$T/manifest")" "$(jq -c '[.layers[].digest]' "$TEST_TMP/pushed.manifest")" \
    "pushed layer digests"
sk copy -q --src-cert-dir "$CD" "docker://$H/pushed/u1:v1" "oci:$TEST_TMP/pushed.oci:x" ||
    fail "skopeo copy of the pushed image (digests checked)"
grep -q "\"PUT /v2/pushed/u1/manifests/v1 " "$REG_DIR/access.log" || fail "no manifest PUT in the registry's log"
grep -qx v1 <<<"$(ls "$G/pushed/u1")" || fail "registries/$H/pushed/u1 does not list v1"
imgfs_alive || fail "imgfs died"
imgfs_umount
pass "pushed and read back"

check "(c) without the client certificate: EIO, a line naming the host and TLS, no http"
host_config "$TEST_TMP/nocert.json" ca-only
MNT=$TEST_TMP/mnt.nocert STORE=$TEST_TMP/store.nocert
before=$(wc -l < "$REG_DIR/access.log")
imgfs_mount "config=$TEST_TMP/nocert.json,log_level=info"
# u1:1 on the default registry: the tag's lookup is the pull itself.
assert_eq EIO "$(errno_of stat "$MNT/repos/u1/1")" "lookup of repos/u1/1 without a client certificate"
assert_eq EIO "$(errno_of stat "$MNT/repos/u1/1")" "the same lookup again"
# A directory below a host is one the registry vouches for: not found.
assert_eq ENOENT "$(errno_of stat "$MNT/repos/$H/cc/u1/1")" "lookup of repos/$H/cc"
imgfs_alive || fail "imgfs died after the refused handshakes"
grep -E "registry.* $H.*(TLS|SSL)|registry: GET https://$H/.*(TLS|SSL|alert)" "$IMGFS_LOG" >/dev/null ||
    fail "no log line names $H and the TLS failure"
grep -E "(TLS|SSL).*(alert|certificate|Broken pipe|reset)" "$IMGFS_LOG" >/dev/null ||
    fail "the log does not give the TLS cause"
# The 400 a TLS port gives a plain request (which its access log does
# not show) never made the host plain http, nor became the error.
grep -E "HTTP 400|http://$H" "$IMGFS_LOG" >/dev/null && fail "the host was taken for plain http"
grep -E "\"(GET|HEAD) /v2/" <(tail -n +"$((before + 1))" "$REG_DIR/access.log") >/dev/null &&
    fail "a request of the mount without a certificate reached the registry"
[ -d "$STORE/images" ] && [ -n "$(ls -A "$STORE/images")" ] && fail "an image was stored without a certificate"
imgfs_umount
pass "EIO, logged: $(grep -cE "TLS|SSL" "$IMGFS_LOG") lines"

check "(d) bad TLS settings stop the mount at start, named"
config_refused "{\"registries\": {\"$H\": {\"client-cert\": \"$TLS_DIR/client.pem\"}}}" \
    "registry $H: client-cert and client-key go together"
config_refused "{\"registries\": {\"$H\": {\"client-key\": \"$TLS_DIR/client.key\"}}}" \
    "registry $H: client-cert and client-key go together"
config_refused "{\"registries\": {\"$H\": {\"client-cert\": \"$TLS_DIR/client.pem\", \"client-key\": \"$TLS_DIR/nokey.pem\"}}}" \
    "registry $H: client-key $TLS_DIR/nokey.pem: No such file or directory"
config_refused "{\"registries\": {\"$H\": {\"ca-file\": \"$TLS_DIR/noca.pem\"}}}" \
    "registry $H: ca-file $TLS_DIR/noca.pem: No such file or directory"
config_refused "{\"registries\": {\"$H\": {\"client-cert\": \"$TLS_DIR\", \"client-key\": \"$TLS_DIR/client.key\"}}}" \
    "registry $H: client-cert $TLS_DIR: Is a directory"
config_refused "{\"ca-file\": \"$TLS_DIR/noca.pem\"}" "registry: ca-file $TLS_DIR/noca.pem: No such file or directory"
config_refused "{\"registries\": {\"$H\": {\"client-cert\": 7, \"client-key\": \"$TLS_DIR/client.key\"}}}" \
    "client-cert must be a string"
pass "each refused with its reason"

check "(e) no ca-file: system CAs looked up by hash, the bundle unread; the private CA refused"
command -v strace >/dev/null || fail "strace is not installed (scripts/packages.txt)"
BUNDLE=$(curl-config --ca 2>/dev/null)
CADIR=$(dirname "$BUNDLE")
[ -n "$BUNDLE" ] && [ -d "$CADIR" ] || fail "libcurl names no CA bundle"
HASH=$(openssl x509 -hash -noout -in "$TLS_DIR/ca.pem")
[ -e "$CADIR/$HASH.0" ] && fail "the test CA $HASH is installed in $CADIR"
# LeakSanitizer cannot run under ptrace (an ASan build would abort at
# exit): the traced daemon skips the leak check, the other mounts keep it.
printf '#!/bin/sh\nexport ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"\nexec strace -f -qq -e trace=%%file -e signal=none -o "%s" "%s" "$@"\n' \
    "$TEST_TMP/strace.log" "$IMGFS_BIN" > "$TEST_TMP/strace-imgfs"
chmod +x "$TEST_TMP/strace-imgfs"
MNT=$TEST_TMP/mnt.sysca STORE=$TEST_TMP/store.sysca
IMGFS_BIN=$TEST_TMP/strace-imgfs imgfs_mount "log_level=info"
assert_eq EIO "$(errno_of stat "$MNT/repos/u1/1")" "lookup of repos/u1/1 (registry $H) with the system's CAs"
imgfs_alive || fail "imgfs died after the refused certificate"
grep -E "certificate|SSL" "$IMGFS_LOG" >/dev/null || fail "the log does not name the certificate failure"
imgfs_umount
grep -F "\"$CADIR/$HASH.0\"" "$TEST_TMP/strace.log" >/dev/null ||
    { grep -F ssl "$TEST_TMP/strace.log" | head >&2; fail "the daemon did not look the issuer up as $CADIR/$HASH.0"; }
grep -F "\"$BUNDLE\"" "$TEST_TMP/strace.log" && fail "the daemon read the CA bundle $BUNDLE"
pass "issuer looked up as $HASH.0, bundle unread, certificate refused"

echo "t_client_cert: all checks passed"
