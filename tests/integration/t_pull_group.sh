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
# Then a mount by an ordinary user (-o allow_other, which needs
# user_allow_other in /etc/fuse.conf: added for the test, the original
# restored byte for byte on exit; /dev/fuse opened to others if it is
# not, its mode restored on exit), whose own ~/.docker/config.json holds
# the registry's credentials: nobody and root get EACCES for a tag that is
# not local and the registry sees no request; the mounting user pulls;
# then nobody reads the pulled image's files.
. "$(dirname "$0")/../lib/common.sh"
. "$IMGFS_SRC/tests/lib/build_images.sh"
need_root

# A group and users that exist only for this test, removed on exit; the
# original /etc/fuse.conf (or its absence) comes back on exit.
G=imgfspg$$
U=imgfspu$$
MU=imgfsmu$$
FUSE_CONF=/etc/fuse.conf
FUSE_CONF_SAVE=$TEST_TMP/fuse.conf.orig
restore_fuse_conf() {
    if [ -f "$FUSE_CONF_SAVE" ]; then
        cat "$FUSE_CONF_SAVE" > "$FUSE_CONF"
    elif [ -e "$TEST_TMP/fuse.conf.absent" ]; then
        rm -f "$FUSE_CONF"
    fi
}
# libfuse opens /dev/fuse as the mounting user; where it is 0600 (some
# containers; Debian makes it 0666) the test opens it, and restores it.
FUSE_DEV_MODE=
restore_fuse_dev() { [ -z "$FUSE_DEV_MODE" ] || chmod "$FUSE_DEV_MODE" /dev/fuse; }
# userdel refuses a user whose process still runs: the user's daemon
# (the mount at mmnt, once started) is stopped first.
stop_mounter() {
    local MU_PID
    [ "${MNT:-}" = "$TEST_TMP/mmnt" ] && [ -n "${IMGFS_PID:-}" ] || return 0
    MU_PID=$IMGFS_PID
    _is_mounted "$TEST_TMP/mmnt" &&
        { timeout 10 fusermount3 -u "$TEST_TMP/mmnt" 2>/dev/null ||
          { _fuse_abort "$TEST_TMP/mmnt"; timeout 10 fusermount3 -u -z "$TEST_TMP/mmnt"; }; }
    mu_runs() { [ "$(stat -c %U "/proc/$MU_PID" 2>/dev/null)" = "$MU" ]; }
    mu_runs || return 0         # gone (its pid may be another's by now)
    kill -TERM "$MU_PID" 2>/dev/null
    wait_for 10 _pid_gone "$MU_PID" || { mu_runs && kill -KILL "$MU_PID" 2>/dev/null; }
    wait_for 5 _pid_gone "$MU_PID"
}
trap 'rc=$?; restore_fuse_conf; restore_fuse_dev; stop_mounter; userdel "$MU" 2>/dev/null; userdel "$U" 2>/dev/null;
      groupdel "$G" 2>/dev/null; (exit $rc); cleanup' EXIT
groupadd "$G" || fail "groupadd $G"
useradd -M -N -g nogroup -G "$G" -d /nonexistent -s /usr/sbin/nologin "$U" ||
    fail "useradd $U"

AS_NOBODY=(setpriv --reuid=nobody --regid=nogroup --clear-groups)
AS_MEMBER=(setpriv --reuid="$U" --regid=nogroup --init-groups)
AS_PRIMARY=(setpriv --reuid=nobody --regid="$G" --clear-groups)
AS_ROOT=(env)
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
# errno_as nobody|member|primary|root|mounter OP PATH
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
# The listener says it listens through a file of its own: a connection
# made to see whether it is up could be accepted, and counted, after the
# count was reset (seen once in CI on a loaded machine).
: > "$TEST_TMP/conns"
"$PY" - "$PORT" "$TEST_TMP/conns" "$TEST_TMP/conns.ready" <<'EOF' &
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen(16)
open(sys.argv[3], "w").close()
while True:
    c, _ = s.accept()
    with open(sys.argv[2], "a") as f:
        f.write("conn\n")
    c.close()
EOF
_PIDS+=("$!")
wait_for 10 test -e "$TEST_TMP/conns.ready" || fail "listener on $PORT did not start"
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

check "a mount by an ordinary user: only that user pulls"
useradd -M -N -g nogroup -d "$TEST_TMP/mhome" -s /usr/sbin/nologin "$MU" || fail "useradd $MU"
AS_MOUNTER=(setpriv --reuid="$MU" --regid=nogroup --init-groups)
if [ -e "$FUSE_CONF" ]; then
    cp "$FUSE_CONF" "$FUSE_CONF_SAVE" || fail "saving $FUSE_CONF"
else
    : > "$TEST_TMP/fuse.conf.absent"
fi
printf '\nuser_allow_other\n' >> "$FUSE_CONF" || fail "adding user_allow_other to $FUSE_CONF"
if ! "${AS_MOUNTER[@]}" test -r /dev/fuse -a -w /dev/fuse; then
    FUSE_DEV_MODE=$(stat -c %a /dev/fuse)
    chmod o+rw /dev/fuse || fail "chmod o+rw /dev/fuse"
fi
# The user's own home, docker config, store and mount point; root's
# DOCKER_CONFIG is not passed on, so the credentials can only be the user's.
mkdir -p "$TEST_TMP/mhome/.docker" "$TEST_TMP/mstore" "$TEST_TMP/mmnt"
docker_config "$TEST_TMP/mhome/.docker" "$REG_USER" "$REG_PASS"
chmod 600 "$TEST_TMP/mhome/.docker/config.json"
chown -R "$MU:nogroup" "$TEST_TMP/mhome" "$TEST_TMP/mstore" "$TEST_TMP/mmnt"
chmod 700 "$TEST_TMP/mhome" "$TEST_TMP/mstore"
# imgfs_mount runs $IMGFS_BIN; this one execs the daemon as the user (the
# pid stays the daemon's, for imgfs_umount).
cat > "$TEST_TMP/as-mounter.sh" <<WRAP
#!/bin/sh
exec ${AS_MOUNTER[*]} env -u DOCKER_CONFIG HOME=$TEST_TMP/mhome "$IMGFS_BIN" "\$@"
WRAP
chmod 755 "$TEST_TMP/as-mounter.sh"
REAL_BIN=$IMGFS_BIN IMGFS_BIN=$TEST_TMP/as-mounter.sh MNT=$TEST_TMP/mmnt STORE=$TEST_TMP/mstore
imgfs_mount allow_other
IMGFS_BIN=$REAL_BIN
R=$MNT/repos
assert_eq "$MU" "$(ps -o user= -p "$IMGFS_PID")" "user the daemon runs as"
assert_eq "$MU" "$(stat -c %U "$STORE")" "owner of the user's store"

mark=$(wc -l < "$ACC")
assert_eq OK "$(errno_as nobody listdir "$R")" "nobody lists the user's repos/"
assert_eq EACCES "$(errno_as nobody stat "$R/private/img/latest")" "nobody: a tag not local"
assert_eq EACCES "$(errno_as nobody stat "$R/private/other")" "nobody: repository probe"
assert_eq EACCES "$(errno_as root stat "$R/private/img/v2")" "root: a tag not local"
sleep 0.5
assert_eq 0 "$(requests_since "$mark" /v2/)" "registry requests caused by nobody and root"
assert_eq "" "$(ls -A "$MNT/by-id")" "by-id/ after the lookups of others"

mark=$(wc -l < "$ACC")
assert_eq OK "$(errno_as mounter stat "$R/private/other/latest")" "the mounting user pulls"
[ "$(requests_since "$mark" /v2/private/other/manifests/latest)" -ge 1 ] ||
    fail "the mounting user's lookup sent no manifest request"
[ -d "$MNT/by-id/$(basename "$(readlink "$R/private/other/latest")")" ] ||
    fail "the mounting user's pull: by-id/ entry missing"
T=$R/private/other/latest
assert_eq "$(cat "$TEST_TMP/ref2/rootfs/data/small")" "$(as_nobody cat "$T/rootfs/data/small")" \
    "data/small read by nobody"
got=$(as_nobody sha256sum < "$T/rootfs/data/blob" | cut -d' ' -f1) || fail "nobody cannot read data/blob"
assert_eq "$(sha256sum < "$TEST_TMP/ref2/rootfs/data/blob" | cut -d' ' -f1)" "$got" "data/blob read by nobody"
mark=$(wc -l < "$ACC")
assert_eq EACCES "$(errno_as nobody stat "$R/private/other/v3")" "nobody: another tag, not local"
sleep 0.5
assert_eq 0 "$(requests_since "$mark" /v2/private/other/manifests/)" "manifest requests caused by nobody"
imgfs_alive || fail "the user's daemon died"
pass "the user's mount: only the user pulls, all read what is local"
imgfs_umount
echo "t_pull_group: all checks passed"
