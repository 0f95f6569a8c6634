#!/bin/bash
# t_zstd_window.sh — zstd layers are decoded with a capped window (8 MiB):
# a layer written with `zstd --long=30` (its frame asks for a 1 GiB window)
# and one written with `zstd --long=24` (16 MiB, which zstd itself would
# decode) are refused with a log line naming the layer, while the same tar
# written with zstd's default level is served.  The images are pushed over the
# registry API (skopeo would recompress the layer).
. "$(dirname "$0")/../lib/common.sh"
need_root

registry_start
# push NAME ZSTD-ARGS... — a one-layer image whose layer is our tar
# compressed by `zstd ARGS` from a pipe (size unknown, so the frame header
# carries the window); prints the layer digest.
push() {
    local name=$1
    shift
    "$PY" - "$LIB_DIR" "http://$REG_ADDR" "$name" "$@" <<'PYEOF'
import hashlib, io, json, subprocess, sys, tarfile
sys.path.insert(0, sys.argv[1])
import oci_tool
url, name, zargs = sys.argv[2], sys.argv[3], sys.argv[4:]
buf = io.BytesIO()
with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
    data = b"window test\n" * 1000
    info = tarfile.TarInfo("hello")
    info.size = len(data)
    info.mtime = 1000000000
    t.addfile(info, io.BytesIO(data))
tar = buf.getvalue()
layer = subprocess.run(["zstd", "-q", "-c"] + zargs, input=tar, stdout=subprocess.PIPE,
                       check=True).stdout
# a config of its own: the image ID is the config's digest
config = json.dumps({"architecture": "amd64", "os": "linux", "config": {"Labels": {"name": name}},
                     "rootfs": {"type": "layers",
                                "diff_ids": ["sha256:" + hashlib.sha256(tar).hexdigest()]}}).encode()
cdig = oci_tool._upload(url, name, config)
ldig = oci_tool._upload(url, name, layer)
man = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                  "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                             "digest": cdig, "size": len(config)},
                  "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+zstd",
                              "digest": ldig, "size": len(layer)}]}).encode()
import urllib.request
req = urllib.request.Request(f"{url}/v2/{name}/manifests/latest", method="PUT", data=man,
                             headers={"Content-Type": "application/vnd.oci.image.manifest.v1+json"})
with urllib.request.urlopen(req) as r:
    assert r.status == 201, r.status
# the window the frame header declares (no single-segment frames here)
assert layer[4] & 0x20 == 0, "single-segment frame"
print(ldig, 10 + (layer[5] >> 3))
PYEOF
}
read -r okdig oklog < <(push okwin -3) || fail "push okwin"
read -r longdig longlog < <(push longwin --long=30) || fail "push longwin"
read -r middig midlog < <(push midwin --long=24) || fail "push midwin"
log "okwin: layer $okdig, window 2^$oklog; longwin: layer $longdig, window 2^$longlog; midwin: layer $middig, window 2^$midlog"
[ "$oklog" -le 23 ] || fail "zstd -3 wrote a window of 2^$oklog"
assert_eq 30 "$longlog" "window log of the --long=30 layer"
assert_eq 24 "$midlog" "window log of the --long=24 layer"

imgfs_mount

check "a layer within the window cap is served"
assert_eq "$(printf 'window test\n%.0s' $(seq 1000) | sha256sum)" \
    "$(sha256sum < "$MNT/repos/okwin/latest/rootfs/hello")" "okwin/hello"
pass "okwin reads right"

# zstd's own decoder allows 128 MiB: the 16 MiB one shows the cap is ours
for img in longwin:$longdig midwin:$middig; do
    name=${img%%:*} dig=${img#*:}
    check "$name: a layer that needs a window above 8 MiB is refused, and the log names it"
    if ls "$MNT/repos/$name/latest/rootfs/" >/dev/null 2>&1; then
        fail "$name's rootfs listed"
    fi
    grep -q "layer $dig: cannot index" "$IMGFS_LOG" ||
        fail "no log line names $dig: $(tail -5 "$IMGFS_LOG")"
    imgfs_alive || fail "daemon died"
    pass "$name refused: $(grep "$dig: cannot index" "$IMGFS_LOG" | head -1)"
done
grep -q "needs a window larger than 8 MiB" "$IMGFS_LOG" ||
    fail "the log does not say why: $(tail -5 "$IMGFS_LOG")"

imgfs_umount
pass "t_zstd_window"
