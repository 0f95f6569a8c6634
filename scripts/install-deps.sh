#!/usr/bin/env bash
# Installs every Debian package imgfs needs to build, test and run the demo
# (the list is scripts/packages.txt). Run as root on Debian 12.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
if [ "$(id -u)" -ne 0 ]; then
	echo "install-deps.sh: run as root (apt-get)" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
mapfile -t pkgs < <(grep -v '^\s*#' "$here/packages.txt" | grep -v '^\s*$')
apt-get update
apt-get install -y --no-install-recommends "${pkgs[@]}"
