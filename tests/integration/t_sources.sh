#!/bin/bash
# t_sources.sh — a poisoned source: registry B serves image X's real config
# (so X's image ID) with a manifest of its own whose layer is other bytes,
# and is pulled first.  The legitimate pull of X from registry A, under
# another tag, must still read A's content; B must not see a single
# request for A's layer; each tag keeps its own manifest (tags.json), and
# the image record lists both sources.  Each tag shows its own manifest:
# B's tag (the image's first manifest) links to by-id/<id>, A's to the
# variant by-id/<id>@<A's manifest hex>, whose manifest and layers/ are
# A's, and which goes with the image.  Then a download held back at one
# registry must not hold up a reader whose image gets the same layer from
# another.
. "$(dirname "$0")/../lib/common.sh"
. "$IMGFS_SRC/tests/lib/build_images.sh"
need_root

O=$TEST_TMP/oci
build_unique "$O" x
reference_tree "$O" x "$TEST_TMP/ref"

registry_start
A_ADDR=$REG_ADDR
push_image "$O" x x:1
registry_start
B_ADDR=$REG_ADDR B_DIR=$REG_DIR

# B: X's config from A, byte for byte, with a manifest naming a layer of
# B's own (a valid gzip tar whose diff_id is not the config's).
check "registry B serves X's config with its own manifest"
"$PY" - "$A_ADDR" "$B_ADDR" "$TEST_TMP" > "$TEST_TMP/poison.out" <<'EOF' || fail "building B's manifest"
import gzip, hashlib, io, json, sys, tarfile, urllib.request
a, b, tmp = sys.argv[1:4]
MT = "application/vnd.oci.image.manifest.v1+json"

def get(url, accept=None):
    req = urllib.request.Request(url, headers={"Accept": accept} if accept else {})
    with urllib.request.urlopen(req) as r:
        return r.read()

def push_blob(data):
    d = "sha256:" + hashlib.sha256(data).hexdigest()
    req = urllib.request.Request(f"http://{b}/v2/evil/x/blobs/uploads/", method="POST")
    with urllib.request.urlopen(req) as r:
        loc = r.headers["Location"]
    if loc.startswith("/"):
        loc = f"http://{b}{loc}"
    loc += ("&" if "?" in loc else "?") + "digest=" + d
    req = urllib.request.Request(loc, data=data, method="PUT",
                                 headers={"Content-Type": "application/octet-stream"})
    urllib.request.urlopen(req).read()
    return d

man_a = get(f"http://{a}/v2/x/manifests/1", MT)
m = json.loads(man_a)
cfg = get(f"http://{a}/v2/x/blobs/{m['config']['digest']}")
assert push_blob(cfg) == m["config"]["digest"]
t = io.BytesIO()
with tarfile.open(fileobj=t, mode="w") as tf:
    data = b"poisoned by B\n"
    ti = tarfile.TarInfo("data/small")
    ti.size = len(data)
    tf.addfile(ti, io.BytesIO(data))
layer = gzip.compress(t.getvalue())
bad = push_blob(layer)
good = m["layers"][0]["digest"]
m["layers"] = [{"mediaType": m["layers"][0]["mediaType"], "digest": bad,
                "size": len(layer)}] * len(m["layers"])
man_b = json.dumps(m).encode()
req = urllib.request.Request(f"http://{b}/v2/evil/x/manifests/1", data=man_b,
                             method="PUT", headers={"Content-Type": MT})
urllib.request.urlopen(req).read()
print("sha256:" + hashlib.sha256(man_a).hexdigest(), "sha256:" + hashlib.sha256(man_b).hexdigest(),
      good, bad, len(m["layers"]))
EOF
read -r MD_A MD_B GOOD BAD NL < "$TEST_TMP/poison.out"
[ "$NL" = 1 ] || fail "expected a one-layer image, got $NL layers"
log "A's manifest $MD_A (layer $GOOD), B's manifest $MD_B (layer $BAD)"
pass "B serves X's config under its own manifest"

imgfs_mount
check "B's tag is pulled first, then A's: one image, each tag its own manifest"
LB=$(readlink "$MNT/repos/$B_ADDR/evil/x/1") || fail "pull of $B_ADDR/evil/x:1"
LA=$(readlink "$MNT/repos/$A_ADDR/x/1") || fail "pull of $A_ADDR/x:1"
ID=$(basename "$LB")
[ "$(basename "$LA")" = "$ID@${MD_A#sha256:}" ] ||
    fail "A's tag links to $LA, not to image $ID's variant of A's manifest $MD_A (B's tag: $LB)"
case $ID in *@*) fail "B's tag (the image's first manifest) links to a variant: $LB" ;; esac
assert_eq "$LA" "../../../by-id/$ID@${MD_A#sha256:}" "A's tag's link"
for t in "$A_ADDR/x/1" "$B_ADDR/evil/x/1"; do
    assert_eq "$(readlink "$MNT/repos/$t" | wc -c | awk '{print $1 - 1}')" \
        "$(stat -c %s "$MNT/repos/$t")" "link size in stat of repos/$t"
done
pass "both tags name image $ID; A's links to $(basename "$LA")"

check "each tag's manifest is its own, byte for byte; layers/ lists its own layers"
MT=application/vnd.oci.image.manifest.v1+json
curl -fsS -H "Accept: $MT" "http://$A_ADDR/v2/x/manifests/1" > "$TEST_TMP/man_a" || fail "A's manifest"
curl -fsS -H "Accept: $MT" "http://$B_ADDR/v2/evil/x/manifests/1" > "$TEST_TMP/man_b" || fail "B's manifest"
cmp "$MNT/repos/$A_ADDR/x/1/manifest" "$TEST_TMP/man_a" || fail "repos/A's tag/manifest is not A's manifest"
cmp "$MNT/repos/$B_ADDR/evil/x/1/manifest" "$TEST_TMP/man_b" || fail "repos/B's tag/manifest is not B's manifest"
assert_eq "sha256:$(sha256sum < "$MNT/repos/$A_ADDR/x/1/manifest" | cut -d' ' -f1)" "$MD_A" "digest of A's tag's manifest"
assert_eq "sha256:$(sha256sum < "$MNT/repos/$B_ADDR/evil/x/1/manifest" | cut -d' ' -f1)" "$MD_B" "digest of B's tag's manifest"
assert_eq "$(stat -c %s "$MNT/repos/$A_ADDR/x/1/manifest")" "$(stat -c %s "$TEST_TMP/man_a")" "stat size of A's manifest"
assert_eq "$(ls "$MNT/repos/$A_ADDR/x/1/layers/")" "00-$GOOD" "layers/ under A's tag"
assert_eq "$(ls "$MNT/repos/$B_ADDR/evil/x/1/layers/")" "00-$BAD" "layers/ under B's tag"
cmp "$MNT/repos/$A_ADDR/x/1/config" "$MNT/by-id/$ID/config" || fail "A's tag's config is not the image's"
assert_eq "$(ls "$MNT/repos/$A_ADDR/x/1/")" "$(printf 'config\nlayers\nmanifest\nrootfs')" \
    "entries of the variant (no image.tar or oci/: they follow the first manifest)"
ids=$(ls "$MNT/by-id/") || fail "ls by-id/"
grep -q @ <<<"$ids" && fail "by-id/ lists a variant: $ids"
[ -d "$MNT/by-id/$ID@${MD_B#sha256:}" ] || fail "by-id/$ID@<B's manifest hex> (a source) is not found"
OTHER=$(printf '%s' "other" | sha256sum | cut -d' ' -f1)
[ -e "$MNT/by-id/$ID@$OTHER" ] && fail "by-id/$ID@<a digest no source has> exists"
[ -e "$MNT/by-id/$ID@${MD_A#sha256:}x" ] && fail "by-id/ takes a malformed variant name"
pass "A's tag: A's manifest and layer $GOOD; B's tag: B's manifest and layer $BAD"

check "A's tag reads A's content"
B_MARK=$(wc -l < "$B_DIR/access.log")
cmp "$MNT/repos/$A_ADDR/x/1/rootfs/data/small" "$TEST_TMP/ref/rootfs/data/small" ||
    fail "data/small under A's tag is not A's"
cmp "$MNT/repos/$A_ADDR/x/1/rootfs/data/blob" "$TEST_TMP/ref/rootfs/data/blob" ||
    fail "data/blob under A's tag is not A's"
imgfs_alive || fail "daemon died"
pass "A's content, though B's manifest came first"

check "A's tag's layer file is A's blob"
assert_eq "sha256:$(sha256sum < "$MNT/repos/$A_ADDR/x/1/layers/00-$GOOD" | cut -d' ' -f1)" "$GOOD" \
    "digest of the layer file under A's tag"
pass "layers/00-$GOOD reads $GOOD"

check "B saw no request for A's layer"
tail -n +"$((B_MARK + 1))" "$B_DIR/access.log" > "$TEST_TMP/b.after.log"
if grep -q "${GOOD#sha256:}" "$B_DIR/access.log"; then
    grep "${GOOD#sha256:}" "$B_DIR/access.log" | head -3
    fail "registry B was asked for A's layer $GOOD"
fi
grep -q "/v2/x/" "$B_DIR/access.log" && fail "registry B was asked for A's repository"
pass "B's access log has no fetch of $GOOD"

check "each tag keeps its own source; the record lists both"
jq -e --arg a "$A_ADDR" --arg md "$MD_A" \
    '.tags[] | select(.host == $a and .repo == "x" and .tag == "1") | .source.manifest == $md' \
    "$STORE/tags.json" >/dev/null || { cat "$STORE/tags.json"; fail "A's tag does not record A's manifest"; }
jq -e --arg b "$B_ADDR" --arg md "$MD_B" \
    '.tags[] | select(.host == $b and .repo == "evil/x") | .source.manifest == $md' \
    "$STORE/tags.json" >/dev/null || { cat "$STORE/tags.json"; fail "B's tag does not record B's manifest"; }
REC=$(ls "$STORE"/images/"$ID"*.json)
jq -e --arg md "$MD_A" '[.manifest] + [.sources[]?.manifest] | index($md) != null' "$REC" >/dev/null ||
    { cat "$REC"; fail "the record does not list A's manifest"; }
jq -e --arg md "$MD_B" '[.manifest] + [.sources[]?.manifest] | index($md) != null' "$REC" >/dev/null ||
    { cat "$REC"; fail "the record does not list B's manifest"; }
pass "tags.json and the record keep both sources"

check "after a remount (records read back) A's tag still reads A's content"
imgfs_umount
imgfs_mount
cmp "$MNT/repos/$A_ADDR/x/1/rootfs/data/small" "$TEST_TMP/ref/rootfs/data/small" ||
    fail "data/small under A's tag is not A's after a remount"
grep -q "${GOOD#sha256:}" "$B_DIR/access.log" && fail "registry B was asked for A's layer after a remount"
assert_eq "$(readlink "$MNT/repos/$A_ADDR/x/1")" "$LA" "A's tag's link after a remount"
cmp "$MNT/repos/$A_ADDR/x/1/manifest" "$TEST_TMP/man_a" || fail "A's tag's manifest after a remount"
pass "still A's content and A's manifest"

check "the variant goes with its image"
rm "$MNT/repos/$A_ADDR/x/1" "$MNT/repos/$B_ADDR/evil/x/1" || fail "removing both tags"
[ -e "$MNT/by-id/$ID" ] && fail "image $ID is still there without tags"
[ -e "$MNT/by-id/$ID@${MD_A#sha256:}" ] && fail "by-id/$ID@<A's manifest hex> outlives its image"
pass "by-id/$ID@... is gone with the image"

# One layer, two images (configs differ by a label), two registries: a
# proxy in front of A holds the layer back; the reader of B's image must
# not wait on A's download.
check "a download held back at one source does not hold up a reader of another"
build_unique "$O" s
build_variant "$O" s s2
reference_tree "$O" s "$TEST_TMP/ref-s"
REG_ADDR=$A_ADDR push_image "$O" s s:1
REG_ADDR=$B_ADDR push_image "$O" s2 s:2
SL=$(REG_ADDR=$A_ADDR remote_raw s:1 --raw | jq -r '.layers[0].digest')
SL2=$(REG_ADDR=$B_ADDR remote_raw s:2 --raw | jq -r '.layers[0].digest')
[ -n "$SL" ] && [ "$SL" = "$SL2" ] || fail "the two images do not share their layer ($SL, $SL2)"
PLOG=$TEST_TMP/proxy.log
echo "$SL" > "$PLOG.stall"
proxy_start stall_proxy.py "$A_ADDR" "$PLOG"
P=127.0.0.1:$PROXY_PORT
readlink "$MNT/repos/$P/s/1" >/dev/null || fail "pull of $P/s:1"
readlink "$MNT/repos/$B_ADDR/s/2" >/dev/null || fail "pull of $B_ADDR/s:2"
(timeout 120 cat "$MNT/repos/$P/s/1/rootfs/data/small" > "$TEST_TMP/s1.out" 2>&1
 rc_write "$TEST_TMP/s1.rc" $?) &
wait_for 20 grep -q "blobs/$SL" "$PLOG" || fail "no request for the layer reached the proxy"
timeout 20 cmp "$MNT/repos/$B_ADDR/s/2/rootfs/data/small" "$TEST_TMP/ref-s/rootfs/data/small" ||
    fail "the reader of B's image waited on (or failed with) the download held back at A"
[ -e "$TEST_TMP/s1.rc" ] && fail "the reader of A's image finished while its layer was held back"
: > "$PLOG.stall"
wait_for 60 test -e "$TEST_TMP/s1.rc" || fail "the reader of A's image did not finish"
assert_eq 0 "$(cat "$TEST_TMP/s1.rc")" "reader of A's image"
cmp "$TEST_TMP/s1.out" "$TEST_TMP/ref-s/rootfs/data/small" || fail "A's image read wrong bytes"
pass "B's reader did not wait for A's held-back download"
imgfs_umount
echo "t_sources: all checks passed"
