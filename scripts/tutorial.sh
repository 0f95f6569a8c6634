#!/usr/bin/env bash
# scripts/tutorial.sh — the README's tutorial, run for real: Docker's image
# workflow as file operations on a mount, against local registries.
#
#   bash scripts/tutorial.sh           print the session (Markdown)
#   bash scripts/tutorial.sh --write   also put it into README.md, between
#                                      the "tutorial:begin/end" markers
#
# Run as root on Debian 12 with the packages of scripts/packages.txt and a
# built imgfs (scripts/build.sh).  It starts two docker-registry instances
# on 127.0.0.1 (the default registry and "another" one), pushes a small
# busybox image to each with umoci and skopeo, mounts imgfs at
# /mnt/images (which must not be mounted) and runs each command of the
# workflow, printing what it printed.  Everything is removed at the end.
# The output is real: the README shows what this script printed last.
set -u
write=0
[ "${1:-}" = --write ] && write=1
[ "$(id -u)" = 0 ] || { echo "tutorial.sh: run as root" >&2; exit 1; }
: "${IMGFS_SRC:=$(cd "$(dirname "$0")/.." && pwd)}"
if [ -z "${IMGFS_BIN:-}" ]; then
    IMGFS_BIN=$(bash "$IMGFS_SRC/scripts/build.sh" | tail -n1)/imgfs
fi
export IMGFS_BIN IMGFS_SRC
TEST_DEADLINE=900
# shellcheck source=../tests/lib/common.sh
. "$IMGFS_SRC/tests/lib/common.sh"
# shellcheck source=../tests/lib/build_images.sh
. "$IMGFS_SRC/tests/lib/build_images.sh"
need_root

MNT=/mnt/images
if _is_mounted "$MNT"; then
    echo "tutorial.sh: $MNT is mounted (the demo? bash scripts/demo.sh --stop)" >&2
    exit 1
fi
OUT=$TEST_TMP/session.md
WORK=$TEST_TMP/work
mkdir -p "$WORK"

# The images: busybox in the default registry, a second one elsewhere.
OCI=$TEST_TMP/oci
build_busybox "$OCI" busybox >/dev/null
build_variant "$OCI" busybox tools
registry_start
OTHER=$REG_ADDR OTHER_DIR=$REG_DIR
push_image "$OCI" tools "tools/busybox:1.0" >/dev/null
registry_start
DEFAULT=$REG_ADDR
push_image "$OCI" busybox "busybox:latest" >/dev/null
# A rootfs tarball to import, like `docker export` makes.
mkdir -p "$WORK/rootfs/etc"
echo 'NAME="my rootfs"' > "$WORK/rootfs/etc/os-release"
tar -C "$WORK/rootfs" -czf "$WORK/rootfs.tar.gz" . || fail "tar"

# run CMD... — show "# CMD" and what it printed, run in the mount's root.
run() {
    {
        printf '# %s\n' "$*"
        (cd "$MNT" && bash -c "$*" 2>&1)
    } | sed -e "s#$TEST_TMP/work#/root#g" >> "$OUT"
}
say() { printf '```\n\n%s\n\n```console\n' "$*" >> "$OUT"; }

imgfs_mount >/dev/null
{
    echo '```console'
    printf '# imgfs -o registry=%s /mnt/images\n' "$DEFAULT"
    echo '# cd /mnt/images'
} > "$OUT"

say "**docker pull busybox** — read anything of it: the lookup fetches the manifest and config, the first read under \`rootfs/\` the layer (only what is read)."
run ls repos/busybox/latest/
run cat repos/busybox/latest/rootfs/etc/passwd
say "**docker pull** from another registry: its host is the first component."
run "ls repos/$OTHER/tools/busybox/1.0/rootfs/bin | head -3"
say "**docker images**"
run cat images
run ls -l repos/busybox
run "jq -c '.[] | {repository, tag, id: .id[0:19], size}' images.json"
say "**docker run** reading files: any program reads \`rootfs/\`; \`chroot\` runs the image's own binaries."
run "chroot repos/busybox/latest/rootfs /bin/sh -c 'echo hello from \$(uname -s); ls /'"
say "**docker tag**: a symlink to an image, a hard link of a tag, or a rename."
run mkdir -p repos/mybox
run "ln -s ../busybox/latest repos/mybox/v1"
run "ln repos/busybox/latest repos/busybox/stable"
run "mv repos/busybox/stable repos/busybox/prod"
run ls -l repos/busybox repos/mybox
say "**docker import**: copy a rootfs tarball in, named NAME:TAG."
run "cp $WORK/rootfs.tar.gz import/imported:1.0"
run cat repos/imported/1.0/rootfs/etc/os-release
say "**docker save**: copy \`image.tar\` out; its size is known before it is read."
run "cp repos/busybox/latest/image.tar $WORK/busybox.tar"
run "tar tf $WORK/busybox.tar"
say "**docker rmi**: remove tags; the last one takes the image with it."
run rm repos/busybox/prod repos/mybox/v1
run rm repos/busybox/latest
run ls by-id/
say "**docker load**: copy an archive in; its tags come back."
run "cp $WORK/busybox.tar import/"
run ls -l repos/busybox
if [ -d "$MNT/registries" ]; then
    say "**docker push**: link an image into \`registries/HOST/REPO/TAG\` (a repository the registry does not have yet is made with \`mkdir -p\` first); the call returns once the registry has the manifest."
    run "mkdir -p registries/$OTHER/me/busybox"
    run "ln -s /mnt/images/repos/busybox/latest registries/$OTHER/me/busybox/pushed"
    run "skopeo inspect --tls-verify=false docker://$OTHER/me/busybox:pushed | jq -c '{Digest, Layers}'"
fi
say "**dangling images**: an untagged import shows in \`dangling/\`; removing it deletes it."
run "cp $WORK/rootfs.tar.gz import/"
run ls dangling/
run "rm dangling/*"
say "What imgfs is doing and holds: \`status\`, and \`df\` for the store's size."
run "cat status"
run "df -h /mnt/images"
echo '```' >> "$OUT"
imgfs_umount >/dev/null

cat "$OUT"
if [ "$write" = 1 ]; then
    "$PY" - "$IMGFS_SRC/README.md" "$OUT" <<'EOF' || fail "README.md: no tutorial markers"
import sys
readme, session = sys.argv[1], open(sys.argv[2]).read()
text = open(readme).read()
begin, end = "<!-- tutorial:begin -->\n", "<!-- tutorial:end -->"
i, j = text.find(begin), text.find(end)
if i < 0 or j < i:
    sys.exit(1)
open(readme, "w").write(text[:i + len(begin)] + session + text[j:])
EOF
    echo "README.md updated" >&2
fi
