#!/usr/bin/env bash
# The demo: installs what imgfs needs, builds it, starts a local registry
# (Debian's docker-registry on 127.0.0.1) holding a small busybox image, and
# mounts imgfs at MOUNTPOINT (default /mnt/images) with that registry as the
# default one.  The mount stays up so you can look around; stop everything
# with `scripts/demo.sh --stop`.  Run as root on Debian 12.
#   IMGFS_NO_DEPS=1 skips apt.
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
state=/var/tmp/imgfs-demo
mnt=/mnt/images
stop=0
for a in "$@"; do
	case $a in
	--stop) stop=1 ;;
	-h|--help) sed -n '2,8p' "$0"; exit 0 ;;
	*) mnt=$a ;;
	esac
done

demo_stop() {
	if [ -f "$state/mountpoint" ]; then
		fusermount3 -u "$(cat "$state/mountpoint")" 2>/dev/null || true
	fi
	# The daemon exits after the unmount (taking import/'s own mount
	# down); the next one needs the store it holds.
	for _ in $(seq 100); do
		pgrep -f "store=$state/store" >/dev/null || break
		sleep 0.1
	done
	if [ -f "$state/registry.pid" ]; then
		kill "$(cat "$state/registry.pid")" 2>/dev/null || true
	fi
	rm -f "$state/registry.pid" "$state/mountpoint"
}
if [ "$stop" = 1 ]; then
	demo_stop
	echo "demo stopped (store kept in $state/store)"
	exit 0
fi
[ "$(id -u)" -eq 0 ] || { echo "demo.sh: run as root" >&2; exit 1; }
[ "${IMGFS_NO_DEPS:-0}" = 1 ] || bash "$src/scripts/install-deps.sh" >/dev/null
build=$(bash "$src/scripts/build.sh" | tail -n1)
demo_stop
mkdir -p "$state" "$mnt"

# The registry, on port 5000 when it is free.
port=5000
if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
	port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
fi
mkdir -p "$state/registry"
cat > "$state/registry.yml" <<YML
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $state/registry
http:
  addr: 127.0.0.1:$port
YML
docker-registry serve "$state/registry.yml" >"$state/registry.log" 2>&1 &
echo $! > "$state/registry.pid"
for _ in $(seq 50); do
	curl -fs "http://127.0.0.1:$port/v2/" >/dev/null && break
	sleep 0.1
done

# The demo image: Debian's busybox-static as a runnable rootfs, built with
# the test suite's image builder and pushed with skopeo.
fail() { echo "demo: $*" >&2; exit 1; }
log() { :; }
sk() { skopeo --insecure-policy "$@"; }
TEST_TMP=$(mktemp -d)
trap 'rm -rf "$TEST_TMP"' EXIT
IMGFS_SRC=$src PY=/usr/bin/python3 REG_ADDR=127.0.0.1:$port
# shellcheck source=../tests/lib/build_images.sh
. "$src/tests/lib/build_images.sh"
build_busybox "$TEST_TMP/oci" busybox >/dev/null
push_image "$TEST_TMP/oci" busybox busybox:latest

"$build/imgfs" -o "registry=127.0.0.1:$port,store=$state/store" "$mnt"
echo "$mnt" > "$state/mountpoint"

show() { printf '$'; printf ' %q' "$@"; echo; "$@"; echo; }
show ls "$mnt/repos/busybox/latest/"
show ls -l "$mnt/repos/busybox"
show cat "$mnt/images"
show cat "$mnt/repos/busybox/latest/rootfs/etc/passwd"
show chroot "$mnt/repos/busybox/latest/rootfs" /bin/sh -c 'ls /; echo hello from busybox'
echo "imgfs is mounted at $mnt (registry 127.0.0.1:$port, store $state/store)."
echo "Stop with: bash scripts/demo.sh --stop"
