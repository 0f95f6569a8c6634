#!/bin/bash
# t_pull_group.sh — who may make a root daemon pull.  The registry needs
# credentials, which only root's $DOCKER_CONFIG holds.  As real
# unprivileged users (setpriv):
#   - nobody gets EACCES for a tag that is not local, and for a repository
#     probe, and the registry's access log shows no request for either;
#   - nobody cannot make the daemon connect to a loopback port it names
#     (repos/127.0.0.1:PORT/x/y): the port sees no connection (root's
#     lookup of the same path does connect: the check can fail);
#   - a member of -o pull_group=GROUP (by a supplementary group, and by
#     the primary group) pulls;
#   - once root has pulled an image, nobody reads its files (layers fetched
#     lazily by nobody's reads) and its tag; a further tag of it that is
#     not local is still EACCES.
. "$(dirname "$0")/../lib/common.sh"
. "$IMGFS_SRC/tests/lib/build_images.sh"
need_root

# A group and a user that exist only for this test, removed on exit.
G=imgfspg$$
U=imgfspu$$
trap 'rc=$?; userdel "$U" 2>/dev/null; groupdel "$G" 2>/dev/null; (exit $rc); cleanup' EXIT
groupadd "$G" || fail "groupadd $G"
useradd -M -N -g nogroup -G "$G" -d /nonexistent -s /usr/sbin/nologin "$U" ||
    fail "useradd $U"

AS_NOBODY=(setpriv --reuid=nobody --regid=nogroup --clear-groups)
AS_MEMBER=(setpriv --reuid="$U" --regid=nogroup --init-groups)
AS_PRIMARY=(setpriv --reuid=nobody --regid="$G" --clear-groups)
as_nobody() { "${AS_NOBODY[@]}" "$@"; }

# errno.py OP PATH — errno_of (common.sh) as a script another user can run.
cat > "$TEST_TMP/errno.py" <<'EOF'
import errno, os, sys
op, p = sys.argv[1], sys.argv[2]
try:
    if op == "stat": os.stat(p)
    elif op == "lstat": os.lstat(p)
    elif op == "listdir": os.listdir(p)
    elif op == "read":
        with open(p, "rb") as f:
            while f.read(1 << 20): pass
    print("OK")
except OSError as e:
    print(errno.errorcode.get(e.errno, str(e.errno)))
EOF
chmod 644 "$TEST_TMP/errno.py"
# errno_as nobody|member|primary OP PATH
errno_as() {
    local -n as=AS_${1^^}
    shift
    timeout 60 "${as[@]}" "$PY" "$TEST_TMP/errno.py" "$@"
}

O=$TEST_TMP/oci
build_unique "$O" u1
build_unique "$O" u2
registry_start_basic
PUSH_CREDS="$REG_USER:$REG_PASS" push_image "$O" u1 private/img:latest
PUSH_CREDS="$REG_USER:$REG_PASS" push_image "$O" u1 private/img:v2
PUSH_CREDS="$REG_USER:$REG_PASS" push_image "$O" u2 private/other:latest
PUSH_CREDS="$REG_USER:$REG_PASS" push_image "$O" u2 private/other:v3
reference_tree "$O" u2 "$TEST_TMP/ref2"
export DOCKER_CONFIG=$TEST_TMP/dc
docker_config "$DOCKER_CONFIG" "$REG_USER" "$REG_PASS"
imgfs_mount "pull_group=$G"
R=$MNT/repos
ACC=$REG_DIR/access.log

# requests_since MARK PATTERN — access-log lines after line MARK matching.
requests_since() { tail -n +"$(($1 + 1))" "$ACC" | grep -c -- "$2"; }

check "nobody: a tag that is not local is EACCES, and no request is made"
mark=$(wc -l < "$ACC")
assert_eq OK "$(errno_as nobody listdir "$R")" "nobody lists repos/"
assert_eq EACCES "$(errno_as nobody stat "$R/private/img")" "nobody: repository probe"
assert_eq EACCES "$(errno_as nobody stat "$R/private/img/latest")" "nobody: repos/private/img/latest"
sleep 0.5
assert_eq 0 "$(requests_since "$mark" /v2/)" "registry requests caused by nobody"
assert_eq "" "$(ls -A "$MNT/by-id")" "by-id/ after nobody's lookups"
pass "nobody refused before any request"

check "nobody cannot make the daemon connect to a loopback port"
PORT=$(free_port)
"$PY" - "$PORT" "$TEST_TMP/conns" <<'EOF' &
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen(16)
while True:
    c, _ = s.accept()
    with open(sys.argv[2], "a") as f:
        f.write("conn\n")
    c.close()
EOF
_PIDS+=("$!")
wait_for 10 "$PY" -c "import socket,sys; socket.create_connection(('127.0.0.1', $PORT)).close()" ||
    fail "listener on $PORT did not start"
: > "$TEST_TMP/conns"
e=$(errno_as nobody stat "$R/127.0.0.1:$PORT/x/y")
assert_eq EACCES "$e" "nobody: repos/127.0.0.1:$PORT/x/y"
sleep 0.5
assert_eq 0 "$(wc -l < "$TEST_TMP/conns")" "connections to port $PORT caused by nobody"
# The same lookup by root does reach the port (so the check above can fail).
errno_of stat "$R/127.0.0.1:$PORT/x/y" >/dev/null
wait_for 10 test -s "$TEST_TMP/conns" || fail "root's lookup did not connect to $PORT"
pass "nobody's loopback lookup made no connection; root's did"

check "a member of pull_group (supplementary group) pulls"
mark=$(wc -l < "$ACC")
assert_eq OK "$(errno_as member stat "$R/private/img/latest")" "member: repos/private/img/latest"
[ "$(requests_since "$mark" /v2/private/img/manifests/latest)" -ge 1 ] ||
    fail "the member's lookup sent no manifest request"
[ -d "$MNT/by-id/$(basename "$(readlink "$R/private/img/latest")")" ] ||
    fail "member's pull: by-id/ entry missing"
pass "member pulled private/img:latest"

check "a member of pull_group by its primary group pulls"
assert_eq OK "$(errno_as primary stat "$R/private/img/v2")" "primary-group member: repos/private/img/v2"
pass "primary-group member pulled private/img:v2"

check "after root pulls, nobody reads the image (lazy layer fetch included)"
assert_eq EACCES "$(errno_as nobody stat "$R/private/other/latest")" "nobody before root's pull"
[ -L "$R/private/other/latest" ] || fail "root cannot pull private/other:latest"
T=$R/private/other/latest
assert_eq OK "$(errno_as nobody stat "$T")" "nobody: stat of the pulled tag"
got=$(as_nobody sha256sum < "$T/rootfs/data/blob" | cut -d' ' -f1) || fail "nobody cannot read data/blob"
assert_eq "$(sha256sum < "$TEST_TMP/ref2/rootfs/data/blob" | cut -d' ' -f1)" "$got" "data/blob read by nobody"
assert_eq "$(cat "$TEST_TMP/ref2/rootfs/data/small")" "$(as_nobody cat "$T/rootfs/data/small")" "data/small read by nobody"
mark=$(wc -l < "$ACC")
assert_eq EACCES "$(errno_as nobody stat "$R/private/other/v3")" "nobody: another tag, not local"
sleep 0.5
assert_eq 0 "$(requests_since "$mark" /v2/private/other/manifests/)" "manifest requests caused by nobody"
pass "nobody reads what is local, pulls nothing"

imgfs_alive || fail "daemon died"
imgfs_umount
echo "t_pull_group: all checks passed"
