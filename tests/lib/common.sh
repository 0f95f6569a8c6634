# shellcheck shell=bash
# tests/lib/common.sh — shared harness for the integration tests (sourced).
#
# Owns: the per-test scratch directory, assertions (fail/pass/check), free
# loopback ports, real docker-registry instances (plain, htpasswd Basic auth,
# Bearer-token auth with our own token server), mounting and unmounting the
# daemon, and the cleanup that must run whatever happens.
#
# Why it is shaped like this:
# - Every test is self-contained: one `mktemp -d` directory holds registry
#   storage, the store, the mount point, logs and built images, and is removed
#   at exit (KEEP_TMP=1 keeps it for debugging).
# - A FUSE daemon that hangs would block any process touching the mount, and
#   bash defers its traps until the foreground child returns. So cleanup and a
#   watchdog abort our own FUSE connections through
#   /sys/fs/fuse/connections/<dev>/abort (found from /proc/self/mountinfo,
#   which never touches the filesystem) before killing anything. Only the
#   connections of mounts this test made are aborted.
# - Everything listens on 127.0.0.1 only.
#
# Variables a test can use after the helpers ran:
#   TEST_TMP            scratch dir of this test
#   REG_ADDR REG_PORT   last registry started (127.0.0.1:PORT), REG_DIR its dir
#   REG_STORAGE         its storage root (docker/registry/v2/... below it)
#   REG_USER REG_PASS   credentials for auth registries
#   REG_SCHEME REG_CURL http or https (registry_start_tls), curl's options for it
#   TLS_DIR             certificates made by tls_certs
#   TOKEN_ADDR          token server (token mode)
#   MNT STORE IMGFS_PID IMGFS_LOG   the current mount
#
# Debian packages used: docker-registry skopeo umoci busybox-static attr
# libcap2-bin apache2-utils jq curl openssl fuse3 python3 python3-jwt
# python3-cryptography zstd.

set -u
set -o pipefail

: "${IMGFS_SRC:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
: "${IMGFS_BIN:=$IMGFS_SRC/build/imgfs}"
LIB_DIR="$IMGFS_SRC/tests/lib"
# Debian's python3 (python3-jwt, python3-cryptography live there), not the
# one a developer's PATH may put first.
PY=/usr/bin/python3
TEST_NAME=$(basename "$0" .sh)

TEST_TMP=$(mktemp -d "${TMPDIR:-/tmp}/imgfs-$TEST_NAME.XXXXXX")
chmod 755 "$TEST_TMP"
_PIDS=()        # background processes we started (registry, token server, daemon)
_MOUNTS=()      # mount points we mounted
_FAILED=0
TEST_DEADLINE=${TEST_DEADLINE:-570}   # seconds; below CTest's 600 s TIMEOUT
REG_SCHEME=http REG_CURL=()   # how _registry_up reaches the last registry

log() { printf '%s\n' "$*"; }
check() { printf '== %s\n' "$*"; }
pass() { printf 'ok: %s\n' "$*"; }
fail() {
    printf 'FAIL: %s\n' "$*" >&2
    _FAILED=1
    if [ -n "${IMGFS_LOG:-}" ] && [ -f "$IMGFS_LOG" ]; then
        printf -- '--- last lines of %s\n' "$IMGFS_LOG" >&2
        tail -n 30 "$IMGFS_LOG" >&2
    fi
    exit 1
}

# assert_eq EXPECTED ACTUAL WHAT
assert_eq() {
    [ "$1" = "$2" ] || fail "$3: expected '$1', got '$2'"
}

# wait_for TIMEOUT_SECONDS CMD... — poll CMD every 0.1 s until it succeeds.
wait_for() {
    local t=$1; shift
    local end=$((SECONDS + t))
    while ! "$@" >/dev/null 2>&1; do
        [ "$SECONDS" -ge "$end" ] && return 1
        sleep 0.1
    done
    return 0
}

# free_port — print a TCP port on 127.0.0.1 that nothing listens on now.
free_port() {
    "$PY" -c 'import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

need_root() {
    [ "$(id -u)" = 0 ] || { echo "SKIP: needs root"; exit 0; }
}

# skopeo with the policy check off (we push to throwaway registries).
sk() { skopeo --insecure-policy "$@"; }

# ---------------------------------------------------------------- FUSE bits

# _fuse_conn MNT — print the /sys/fs/fuse/connections name of the mount at
# MNT (kernel dev_t = major<<20|minor), from mountinfo, without touching it.
_fuse_conn() {
    awk -v m="$1" '$5 == m { split($3, d, ":"); print d[1] * 1048576 + d[2]; exit }' /proc/self/mountinfo
}

_is_mounted() { awk -v m="$1" '$5 == m { f = 1 } END { exit !f }' /proc/self/mountinfo; }

# _fuse_abort MNT — abort the FUSE connection of our mount at MNT (if any).
_fuse_abort() {
    local c
    c=$(_fuse_conn "$1")
    [ -z "$c" ] && [ -f "$TEST_TMP/.conn.$(echo "$1" | tr / _)" ] && c=$(cat "$TEST_TMP/.conn.$(echo "$1" | tr / _)")
    if [ -n "$c" ] && [ -w "/sys/fs/fuse/connections/$c/abort" ]; then
        echo 1 > "/sys/fs/fuse/connections/$c/abort" 2>/dev/null || true
        log "aborted FUSE connection $c of $1"
    fi
}

# ----------------------------------------------------------------- cleanup

cleanup() {
    local rc=$? m p
    trap - EXIT INT TERM
    [ -n "${_WATCHDOG_PID:-}" ] && kill "$_WATCHDOG_PID" 2>/dev/null
    for m in "${_MOUNTS[@]}"; do
        _is_mounted "$m" || continue
        timeout 10 fusermount3 -u "$m" 2>/dev/null ||
            { _fuse_abort "$m"; timeout 10 fusermount3 -u -z "$m" 2>/dev/null || umount -l "$m" 2>/dev/null; }
    done
    for p in "${_PIDS[@]}"; do
        kill -TERM "$p" 2>/dev/null; kill -CONT "$p" 2>/dev/null
    done
    for p in "${_PIDS[@]}"; do
        wait_for 5 _pid_gone "$p" || kill -KILL "$p" 2>/dev/null
    done
    for m in "${_MOUNTS[@]}"; do
        if _is_mounted "$m"; then
            log "warning: $m still mounted; not removing $TEST_TMP"
            KEEP_TMP=1
        fi
    done
    # Only now, with every daemon gone, are their logs complete.
    if _tsan_reports; then
        [ "$rc" -ne 0 ] || rc=1
    fi
    if [ "$rc" -ne 0 ] || [ "$_FAILED" -ne 0 ]; then
        log "test $TEST_NAME FAILED (rc=$rc); scratch: $TEST_TMP"
        [ "${KEEP_TMP:-0}" = 1 ] || { _dump_logs; rm -rf --one-file-system "$TEST_TMP"; }
    else
        [ "${KEEP_TMP:-0}" = 1 ] || rm -rf --one-file-system "$TEST_TMP"
    fi
    exit "$rc"
}

_pid_gone() { ! kill -0 "$1" 2>/dev/null; }

# _tsan_reports — print the ThreadSanitizer report of every daemon log
# that has one, from its first line on (fail's 30-line tail would cut off
# the top of the first stack), and succeed if there was any.  Under
# scripts/test.sh's TSan pass (halt_on_error=1) a report ends the daemon
# at once, which most tests notice as a dead mount; this also fails the
# test whose daemon raced while being unmounted or killed by cleanup, or
# whose failure came from elsewhere.
_tsan_reports() {
    local f n found=1
    for f in "$TEST_TMP"/imgfs.*.log; do
        [ -f "$f" ] || continue
        n=$(grep -n -m1 'ThreadSanitizer' "$f" | cut -d: -f1) || true
        [ -n "$n" ] || continue
        printf -- '--- ThreadSanitizer report in %s\n' "$f" >&2
        sed -n "$((n > 1 ? n - 1 : 1)),$((n + 199))p" "$f" >&2
        found=0
    done
    return $found
}

_dump_logs() {
    local f n
    # An AddressSanitizer report (the daemon aborted) from its first line:
    # fail's 30-line tail shows only its shadow-byte legend.
    for f in "$TEST_TMP"/imgfs.*.log; do
        [ -f "$f" ] || continue
        n=$(grep -n -m1 'ERROR: AddressSanitizer\|ERROR: LeakSanitizer\|runtime error:' "$f" | cut -d: -f1) || true
        [ -n "$n" ] || continue
        printf -- '--- sanitizer report in %s\n' "$f"
        sed -n "$n,$((n + 120))p" "$f"
    done
    for f in "$TEST_TMP"/registry-*/registry.log "$TEST_TMP"/token/token.log; do
        [ -s "$f" ] || continue
        printf -- '--- tail of %s\n' "$f"
        tail -n 15 "$f"
    done
}

# The watchdog unblocks a hung test before CTest kills it without running
# traps: abort our FUSE connections (so stuck readers return), then TERM us.
# It sleeps in 1 s steps with its output closed so that, once killed, no
# orphan keeps CTest's output pipe open.
_watchdog() {
    trap - EXIT INT TERM
    local me=$1 end=$((SECONDS + TEST_DEADLINE))
    while [ "$SECONDS" -lt "$end" ]; do
        sleep 1 >/dev/null 2>&1
        kill -0 "$me" 2>/dev/null || exit 0
    done
    echo "watchdog: $TEST_NAME exceeded ${TEST_DEADLINE}s, aborting" >&2
    local f
    for f in "$TEST_TMP"/.conn.*; do
        [ -f "$f" ] && echo 1 > "/sys/fs/fuse/connections/$(cat "$f")/abort" 2>/dev/null
    done
    kill -TERM "$me" 2>/dev/null
}

# The abort files live in fusectl, which not every machine has mounted.
if [ "$(id -u)" = 0 ] && ! mountpoint -q /sys/fs/fuse/connections 2>/dev/null; then
    mount -t fusectl fusectl /sys/fs/fuse/connections 2>/dev/null || true
fi

trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
_watchdog $$ &
_WATCHDOG_PID=$!

# ---------------------------------------------------------------- registry

# registry_start [EXTRA_YAML] — start Debian's docker-registry on a free
# loopback port with storage in the scratch dir. EXTRA_YAML is appended at
# top level (e.g. an auth: section). Access log (stdout) goes to
# $REG_DIR/access.log, the rest (stderr) to $REG_DIR/registry.log.
# REG_DELETE=false starts it with manifest deletion off (DELETE is 405).
registry_start() {
    local extra=${1:-} port dir
    port=$(free_port)
    dir=$TEST_TMP/registry-$port
    mkdir -p "$dir/storage"
    cat > "$dir/config.yml" <<EOF
version: 0.1
log:
  level: warn
  accesslog:
    disabled: false
storage:
  filesystem:
    rootdirectory: $dir/storage
  delete:
    enabled: ${REG_DELETE:-true}
  cache:
    blobdescriptor: inmemory
http:
  addr: 127.0.0.1:$port
  secret: imgfs-test-secret
${_REG_HTTP_TLS:-}
$extra
EOF
    REG_PORT=$port REG_DIR=$dir REG_ADDR=127.0.0.1:$port REG_STORAGE=$dir/storage
    REG_SCHEME=http REG_CURL=()
    if [ -n "${_REG_HTTP_TLS:-}" ]; then
        REG_SCHEME=https
        REG_CURL=(--cacert "$TLS_DIR/ca.pem" --cert "$TLS_DIR/client.pem" --key "$TLS_DIR/client.key")
    fi
    _registry_run
}

# tls_certs DIR — a CA (ca.pem, ca.key), a server certificate for
# 127.0.0.1 (server.pem/.key, subjectAltName IP:127.0.0.1) and a client
# certificate (client.pem/.key), both signed by the CA; sets TLS_DIR.
# Also DIR/skopeo/ as skopeo's --cert-dir wants it (ca.crt, client.cert,
# client.key).
tls_certs() {
    local d=$1
    mkdir -p "$d/skopeo"
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=imgfs-test-ca" \
        -keyout "$d/ca.key" -out "$d/ca.pem" >/dev/null 2>&1 || fail "openssl: CA"
    openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" \
        -keyout "$d/server.key" -out "$d/server.csr" >/dev/null 2>&1 || fail "openssl: server key"
    printf 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' > "$d/server.ext"
    openssl x509 -req -in "$d/server.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" -CAcreateserial \
        -days 2 -extfile "$d/server.ext" -out "$d/server.pem" >/dev/null 2>&1 || fail "openssl: server cert"
    openssl req -newkey rsa:2048 -nodes -subj "/CN=imgfs-test-client" \
        -keyout "$d/client.key" -out "$d/client.csr" >/dev/null 2>&1 || fail "openssl: client key"
    printf 'extendedKeyUsage=clientAuth\n' > "$d/client.ext"
    openssl x509 -req -in "$d/client.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" -CAcreateserial \
        -days 2 -extfile "$d/client.ext" -out "$d/client.pem" >/dev/null 2>&1 || fail "openssl: client cert"
    cp "$d/ca.pem" "$d/skopeo/ca.crt"
    cp "$d/client.pem" "$d/skopeo/client.cert"
    cp "$d/client.key" "$d/skopeo/client.key"
    TLS_DIR=$d
}

# registry_start_tls [EXTRA_YAML] — registry_start on https with the
# certificates of tls_certs (call it first); every client must show a
# certificate signed by the CA (http.tls.clientcas).  REG_CURL holds
# curl's options to reach it.
registry_start_tls() {
    [ -n "${TLS_DIR:-}" ] || fail "registry_start_tls before tls_certs"
    _REG_HTTP_TLS="  tls:
    certificate: $TLS_DIR/server.pem
    key: $TLS_DIR/server.key
    clientcas:
      - $TLS_DIR/ca.pem" registry_start "${1:-}"
}

_registry_run() {
    docker-registry serve "$REG_DIR/config.yml" >>"$REG_DIR/access.log" 2>>"$REG_DIR/registry.log" &
    REG_PID=$!
    _PIDS+=("$REG_PID")
    echo "$REG_PID" > "$REG_DIR/pid"
    # /v2/ answers 200 (open) or 401 (auth) once the registry listens.
    wait_for 20 _registry_up "$REG_SCHEME://$REG_ADDR" ||
        { tail "$REG_DIR/registry.log" >&2; fail "registry on $REG_ADDR did not start"; }
    log "registry up at $REG_ADDR (pid $REG_PID)"
}

_registry_up() {
    local code
    code=$(curl -s "${REG_CURL[@]}" -o /dev/null -w '%{http_code}' "$1/v2/") || return 1
    [ "$code" = 200 ] || [ "$code" = 401 ]
}

# count_is OP N CMD... — whether what CMD prints compares to N by test's OP
# (-eq, -le, -ge).  For wait_for, which runs its command again each time:
# `wait_for 10 test "$(cmd)" -eq 0` would count once and wait on that.
count_is() { local op=$1 n=$2; shift 2; [ "$("$@")" "$op" "$n" ]; }

# proxy_start SCRIPT UPSTREAM LOG — the test proxy tests/lib/SCRIPT
# (stall_proxy.py, range_proxy.py) on a free loopback port in front of
# UPSTREAM (host:port), logging requests to LOG; returns once it answers
# /v2/.  Sets PROXY_PORT, PROXY_ADDR and PROXY_PID (stopped by cleanup).
proxy_start() {
    PROXY_PORT=$(free_port)
    PROXY_ADDR=127.0.0.1:$PROXY_PORT
    "$PY" "$LIB_DIR/$1" "$PROXY_PORT" "$2" "$3" 2>>"$TEST_TMP/proxy.err" &
    PROXY_PID=$!
    _PIDS+=("$PROXY_PID")
    wait_for 20 curl -fs -o /dev/null "http://$PROXY_ADDR/v2/" || fail "$1 did not start"
}

# registry_stop — stop the last started registry (storage is kept).
registry_stop() {
    kill -TERM "$REG_PID" 2>/dev/null
    wait_for 10 _pid_gone "$REG_PID" || kill -KILL "$REG_PID" 2>/dev/null
    wait "$REG_PID" 2>/dev/null
    log "registry at $REG_ADDR stopped"
}

# registry_restart — start the last registry again on the same port/storage.
registry_restart() { _registry_run; }

# registry_start_basic — registry with htpasswd (bcrypt) Basic auth.
registry_start_basic() {
    REG_USER=${REG_USER:-imgfsuser}
    REG_PASS=${REG_PASS:-Pw-basic-7f3a9c}
    local htp=$TEST_TMP/htpasswd
    htpasswd -Bbn "$REG_USER" "$REG_PASS" > "$htp" || fail "htpasswd"
    registry_start "auth:
  htpasswd:
    realm: imgfs-test
    path: $htp"
}

# registry_start_token — registry with Bearer-token auth, backed by
# tests/lib/token_server.py. Policy (documented in token_server.py): the token
# endpoint demands Basic REG_USER:REG_PASS; a request without credentials gets
# a token with no access (so the registry answers 401 insufficient_scope), a
# request with wrong credentials gets 401 from the token server itself.
# TOKEN_ANON_PULL=1 instead grants anonymous pull.
registry_start_token() {
    REG_USER=${REG_USER:-imgfsuser}
    REG_PASS=${REG_PASS:-Pw-token-2b8e41}
    local tdir=$TEST_TMP/token tport
    mkdir -p "$tdir"
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=imgfs-test-token" \
        -keyout "$tdir/key.pem" -out "$tdir/cert.pem" >/dev/null 2>&1 || fail "openssl cert"
    tport=$(free_port)
    TOKEN_ADDR=127.0.0.1:$tport
    local anon=()
    [ "${TOKEN_ANON_PULL:-0}" = 1 ] && anon=(--anonymous-pull)
    "$PY" "$LIB_DIR/token_server.py" --listen "$TOKEN_ADDR" --key "$tdir/key.pem" \
        --cert "$tdir/cert.pem" --issuer imgfs-test-issuer --service imgfs-test-registry \
        --user "$REG_USER" --password "$REG_PASS" "${anon[@]}" >>"$tdir/token.log" 2>&1 &
    TOKEN_PID=$!
    _PIDS+=("$TOKEN_PID")
    wait_for 20 curl -sf -o /dev/null "http://$TOKEN_ADDR/healthz" ||
        { cat "$tdir/token.log" >&2; fail "token server did not start"; }
    log "token server up at $TOKEN_ADDR"
    registry_start "auth:
  token:
    realm: http://$TOKEN_ADDR/token
    service: imgfs-test-registry
    issuer: imgfs-test-issuer
    rootcertbundle: $tdir/cert.pem"
}

# registry_blob_path DIGEST — the file the registry stores a blob in.
registry_blob_path() {
    local hex=${1#sha256:}
    echo "$REG_STORAGE/docker/registry/v2/blobs/sha256/${hex:0:2}/$hex/data"
}

# docker_config DIR [USER PASS [ADDR]] — write DIR/config.json with an auths
# entry for ADDR (default: the last registry); no USER → empty auths.
docker_config() {
    local dir=$1 user=${2:-} pass=${3:-} addr=${4:-$REG_ADDR}
    mkdir -p "$dir"
    if [ -n "$user" ]; then
        local b64
        b64=$(printf '%s:%s' "$user" "$pass" | base64 -w0)
        printf '{"auths":{"%s":{"auth":"%s"}}}\n' "$addr" "$b64" > "$dir/config.json"
    else
        printf '{"auths":{}}\n' > "$dir/config.json"
    fi
}

# ----------------------------------------------------------------- daemon

# imgfs_mount [EXTRA_O_OPTS] — mount the daemon at $MNT with store $STORE
# (defaults in the scratch dir; set MNT/STORE before to reuse them), default
# registry $REG_ADDR. Waits until the mount point is a mount and its root
# lists. Environment (DOCKER_CONFIG ...) is passed through.
imgfs_mount() {
    local extra=${1:-} opts
    MNT=${MNT:-$TEST_TMP/mnt}
    STORE=${STORE:-$TEST_TMP/store}
    mkdir -p "$MNT"
    [ -x "$IMGFS_BIN" ] || fail "IMGFS_BIN=$IMGFS_BIN is not executable"
    opts="store=$STORE,registry=$REG_ADDR${extra:+,$extra}"
    IMGFS_LOG=$TEST_TMP/imgfs.$((${#_MOUNTS[@]} + 1)).log
    log "mount: $IMGFS_BIN -f -o $opts $MNT (log $IMGFS_LOG)"
    "$IMGFS_BIN" -f -o "$opts" "$MNT" >"$IMGFS_LOG" 2>&1 &
    IMGFS_PID=$!
    _PIDS+=("$IMGFS_PID")
    _MOUNTS+=("$MNT")
    local end=$((SECONDS + 30))
    while ! _is_mounted "$MNT"; do
        kill -0 "$IMGFS_PID" 2>/dev/null || fail "imgfs exited before mounting"
        [ "$SECONDS" -ge "$end" ] && fail "imgfs did not mount within 30 s"
        sleep 0.1
    done
    _fuse_conn "$MNT" > "$TEST_TMP/.conn.$(echo "$MNT" | tr / _)"
    wait_for 20 timeout 5 ls "$MNT" || fail "mount root of $MNT not listable"
    # import/ is a connection of its own, mounted where the root's
    # `import` link points (fs/import_conn.c): cleanup takes it down too.
    IMPORT_MNT=$(readlink "$MNT/import" 2>/dev/null) || IMPORT_MNT=
    [ -n "$IMPORT_MNT" ] && _MOUNTS+=("$IMPORT_MNT")
    log "mounted at $MNT (pid $IMGFS_PID)"
}

# imgfs_umount — unmount $MNT and wait for the daemon to exit cleanly.
# Fails the test if the daemon hangs or exits non-zero.
imgfs_umount() {
    timeout 20 fusermount3 -u "$MNT" || {
        _fuse_abort "$MNT"
        timeout 10 fusermount3 -u -z "$MNT"
        fail "fusermount3 -u $MNT failed or hung"
    }
    if ! wait_for 20 _pid_gone "$IMGFS_PID"; then
        kill -KILL "$IMGFS_PID" 2>/dev/null
        fail "imgfs (pid $IMGFS_PID) did not exit after unmount"
    fi
    local rc=0
    wait "$IMGFS_PID" || rc=$?
    [ "$rc" = 0 ] || fail "imgfs exited with status $rc after unmount"
    if [ -n "${IMPORT_MNT:-}" ] && _is_mounted "$IMPORT_MNT"; then
        fail "the daemon exited and left import/ mounted at $IMPORT_MNT"
    fi
    log "unmounted $MNT"
}

# rc_write FILE RC — write a background job's exit status RC to FILE
# whole: tests wait for FILE to exist and then read it, and a plain
# redirection makes it exist before the status is in it.
rc_write() { printf '%s\n' "$2" > "$1.part" && mv -f "$1.part" "$1"; }

# imgfs_alive — the daemon process still runs and the mount still answers.
imgfs_alive() {
    kill -0 "$IMGFS_PID" 2>/dev/null && timeout 10 ls "$MNT" >/dev/null
}

# config_refused JSON EXPECTED — imgfs, given config=FILE holding JSON,
# refuses to mount and says EXPECTED (a scratch store and mount point).
config_refused() {
    mkdir -p "$TEST_TMP/mnt.bad"
    printf '%s\n' "$1" > "$TEST_TMP/bad.json"
    if timeout 20 "$IMGFS_BIN" -f -o "store=$TEST_TMP/store.bad,config=$TEST_TMP/bad.json" \
        "$TEST_TMP/mnt.bad" > "$TEST_TMP/bad.log" 2>&1; then
        fail "imgfs mounted with $1"
    fi
    grep -qF "$2" "$TEST_TMP/bad.log" || { cat "$TEST_TMP/bad.log"; fail "no '$2' for $1"; }
}

# errno_of OP PATH — print the errno name that OP (open|stat|lstat|listdir|
# readlink|read) on PATH fails with, or OK.
# ops_robust_matrix IMAGEDIR TAG DANGLING [KIND=PATH...] — run
# tests/lib/ops_robust.py on every kind of node of $MNT: the namespace's,
# the image at IMAGEDIR (a by-id/ directory) and its rootfs, the tag link
# TAG, dangling/DANGLING, import/, plus the KIND=PATH given.  Its output
# goes to $TEST_TMP/ops.out; the test fails if a call ended the mount or
# an answer it pins was wrong.
ops_robust_matrix() {
    local i=$1 tag=$2 dang=$3 layer rc
    shift 3
    layer=$(ls "$i/layers" | head -n1)
    [ -n "$layer" ] || fail "no layer file in $i/layers"
    timeout 300 "$PY" "$LIB_DIR/ops_robust.py" "$MNT" \
        root="$MNT" images="$MNT/images" repos="$MNT/repos" \
        reposdir="$(dirname "$tag")" tag="$tag" byid="$MNT/by-id" imagedir="$i" \
        manifest="$i/manifest" config="$i/config" layersdir="$i/layers" \
        layer="$i/layers/$layer" rootfs="$i/rootfs" rootfsdir="$i/rootfs/etc" \
        rootfsfile="$i/rootfs/etc/passwd" rootfslink="$i/rootfs/bin/sh" \
        dangdir="$MNT/dangling" danglink="$MNT/dangling/$dang" \
        "$@" importdir="$MNT/import" > "$TEST_TMP/ops.out" 2>&1
    rc=$?
    grep -E '^(FAIL|[0-9]+ calls)' "$TEST_TMP/ops.out"
    [ "$rc" = 0 ] || { tail -n 5 "$TEST_TMP/ops.out" >&2; fail "ops_robust.py exited $rc"; }
    imgfs_alive || fail "daemon died"
}

errno_of() {
    timeout 60 "$PY" - "$1" "$2" <<'EOF'
import errno, os, sys
op, p = sys.argv[1], sys.argv[2]
try:
    if op == "open": os.close(os.open(p, os.O_RDONLY))
    elif op == "stat": os.stat(p)
    elif op == "lstat": os.lstat(p)
    elif op == "listdir": os.listdir(p)
    elif op == "readlink": os.readlink(p)
    elif op == "read":
        with open(p, "rb") as f:
            while f.read(1 << 20): pass
    elif op == "write": os.close(os.open(p, os.O_WRONLY | os.O_CREAT, 0o644))
    elif op == "writeto":
        # Opening needs no request (files are opened without asking):
        # the write itself is refused.
        fd = os.open(p, os.O_WRONLY | os.O_CREAT, 0o644)
        try: os.write(fd, b"x")
        finally: os.close(fd)
    elif op == "mkdir": os.mkdir(p)
    elif op == "unlink": os.unlink(p)
    elif op == "rmdir": os.rmdir(p)
    elif op == "symlink": os.symlink("x", p)
    elif op == "chmod": os.chmod(p, 0o600)
    elif op == "setxattr": os.setxattr(p, "user.x", b"1", follow_symlinks=False)
    elif op == "truncate": os.truncate(p, 0)
    else: raise SystemExit("bad op")
    print("OK")
except OSError as e:
    print(errno.errorcode.get(e.errno, str(e.errno)))
EOF
}

# sha256_file FILE — hex digest only.
sha256_file() { sha256sum "$1" | cut -d' ' -f1; }
