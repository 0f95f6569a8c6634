#!/bin/bash
# t_limits.sh — bounded resources against a hostile registry
# (tests/lib/hostile_registry.py, one instance per mode):
# - a manifest claiming a 2^40- or 2^62-byte layer is refused at once with
#   EFBIG and a log line, and nothing of it is fetched;
# - a manifest of 3000 layers is refused (EIO);
# - a layer served with more bytes than its descriptor is stopped: no file
#   in the store larger than the descriptor, nothing taken into blobs/;
# - a trickled (1 B/s) or stalled layer: a read fails with EIO within about
#   timeout= seconds, and `timeout 2 cat` returns at once (the interrupt
#   reaches the daemon) while another reader of the same download keeps
#   waiting and the daemon serves another image meanwhile;
# - a lookup waiting on a stalled manifest is interrupted at once too;
# - store_max= refuses a download that would grow the store past it
#   (ENOSPC, logged); max_layer_size= refuses a pull naming a larger layer.
. "$(dirname "$0")/../lib/common.sh"
need_root

declare -A HOSTILE   # mode -> 127.0.0.1:PORT

# hostile_start MODE — start hostile_registry.py in MODE on a free port.
hostile_start() {
    local mode=$1 port
    port=$(free_port)
    "$PY" "$LIB_DIR/hostile_registry.py" --listen "127.0.0.1:$port" --mode "$mode" \
        --log "$TEST_TMP/hostile-$mode.log" >>"$TEST_TMP/hostile-$mode.err" 2>&1 &
    _PIDS+=("$!")
    wait_for 20 curl -fs -o /dev/null "http://127.0.0.1:$port/v2/" ||
        { cat "$TEST_TMP/hostile-$mode.err" >&2; fail "hostile registry ($mode) did not start"; }
    HOSTILE[$mode]=127.0.0.1:$port
    log "hostile registry ($mode) at 127.0.0.1:$port"
}

# now_ms — milliseconds since the epoch.
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }

# timed OUTVAR CMD... — run CMD, store its duration in ms in OUTVAR; its
# output goes to $TEST_TMP/timed.out, its status to $TEST_TMP/timed.rc.
timed() {
    local var=$1 t0 rc=0
    shift
    t0=$(now_ms)
    "$@" >"$TEST_TMP/timed.out" 2>&1 || rc=$?
    printf -v "$var" '%s' $(( $(now_ms) - t0 ))
    echo "$rc" > "$TEST_TMP/timed.rc"
}

# remount OPTS — a fresh store and mount with OPTS.
remount() {
    [ -n "${IMGFS_PID:-}" ] && imgfs_umount
    STORE=$TEST_TMP/store.$1.$RANDOM
    imgfs_mount "$2"
}

for m in good huge overrun trickle stall stall-manifest many-layers; do hostile_start "$m"; done
REG_ADDR=${HOSTILE[good]}
good_ref=$("$PY" -c 'import sys; sys.path.insert(0, sys.argv[1]); import hostile_registry as h; sys.stdout.write(h.FILES["hello.txt"].decode())' "$LIB_DIR")

remount short timeout=5

check "the good image reads"
assert_eq "$good_ref" "$(timeout 30 cat "$MNT/repos/good/latest/rootfs/hello.txt")" "good hello.txt"

check "a 2^40-byte layer is refused at once, nothing fetched"
H=${HOSTILE[huge]}
timed ms errno_of stat "$MNT/repos/$H/x/latest"
assert_eq EFBIG "$(cat "$TEST_TMP/timed.out")" "stat of the huge image"
[ "$ms" -lt 5000 ] || fail "refusing the huge image took $ms ms"
grep -q "refused: layer sha256:[0-9a-f]* is 1099511627776 bytes" "$IMGFS_LOG" ||
    fail "no log line naming the huge layer"
assert_eq EFBIG "$(errno_of stat "$MNT/repos/$H/x/huge62")" "stat of the 2^62 image"
grep -q "is 4611686018427387904 bytes" "$IMGFS_LOG" || fail "no log line for 2^62"
grep -q "GET /v2/x/blobs/" "$TEST_TMP/hostile-huge.log" && fail "a blob of the huge image was fetched"
[ -z "$(find "$STORE" -type f -size +1M)" ] || fail "a large file in the store"
pass "huge refused in $ms ms"

check "3000 layers are refused"
assert_eq EIO "$(errno_of stat "$MNT/repos/${HOSTILE[many-layers]}/x/latest")" "stat of many-layers"
grep -q "names 3000 layers (at most 1000)" "$IMGFS_LOG" || fail "no log line for 3000 layers"
grep -q "GET /v2/x/blobs/" "$TEST_TMP/hostile-many-layers.log" && fail "a blob of many-layers was fetched"
pass "many-layers refused"

check "a layer with more bytes than its descriptor is stopped"
O=${HOSTILE[overrun]}
layer=$(curl -fs "http://$O/v2/x/manifests/latest" | jq -r '.layers[0].digest')
lsize=$(curl -fs "http://$O/v2/x/manifests/latest" | jq -r '.layers[0].size')
assert_eq EIO "$(errno_of read "$MNT/repos/$O/x/latest/rootfs/hello.txt")" "read of overrun"
grep -q "blob $layer: .* sent more than the $lsize bytes of its descriptor" "$IMGFS_LOG" ||
    fail "no log line for the overrun"
[ -e "$STORE/blobs/sha256/${layer#sha256:}" ] && fail "the overrun layer was stored"
# (cache/ holds the good image's decompressed spans: not downloads.)
big=$(find "$STORE/blobs" "$STORE/tmp" "$STORE/partial" -type f -size +"$lsize"c)
[ -z "$big" ] || fail "files larger than the descriptor ($lsize bytes): $big"
pass "overrun stopped"

for mode in trickle stall; do
    check "$mode: a read fails with EIO within about timeout=5"
    T=${HOSTILE[$mode]}
    timed ms errno_of read "$MNT/repos/$T/x/latest/rootfs/hello.txt"
    assert_eq EIO "$(cat "$TEST_TMP/timed.out")" "read of $mode"
    [ "$ms" -lt 15000 ] || fail "$mode read took $ms ms"
    grep -q "this read gives up\|Operation too slow\|Timeout was reached" "$IMGFS_LOG" ||
        fail "no log line about the $mode transfer"
    imgfs_alive || fail "daemon died after $mode"
    pass "$mode: EIO after $ms ms"
done

# With a long timeout, only the interrupt can end a reader's wait early.
remount long timeout=30
for mode in trickle stall; do
    check "$mode: an interrupted reader returns at once, the download goes on"
    T=${HOSTILE[$mode]}
    f=$MNT/repos/$T/x/latest/rootfs/hello.txt
    hlog=$TEST_TMP/hostile-$mode.log
    seen=$(wc -l < "$hlog")     # requests of the first mount
    timeout 20 stat "$MNT/repos/$T/x/latest/manifest" >/dev/null || fail "pull of $mode"
    layer=$(curl -fs "http://$T/v2/x/manifests/latest" | jq -r '.layers[0].digest')
    # The other reader waits in an open of the layer file: lookups in one
    # directory are serialised by the kernel (uninterruptibly) unless the
    # daemon gets FUSE_PARALLEL_DIROPS, which libfuse 3.14 cannot ask for.
    lname=$(ls "$MNT/repos/$T/x/latest/layers/" | head -n1)
    [ -n "$lname" ] || fail "no layer file for $mode"
    cat "$MNT/repos/$T/x/latest/layers/$lname" >/dev/null 2>&1 &
    other=$!
    wait_for 20 sh -c "tail -n +$((seen + 1)) $hlog | grep -q 'GET /v2/x/blobs/$layer range=None'" ||
        fail "the $mode layer was not requested"
    timed ms timeout 2 cat "$f"
    assert_eq 124 "$(cat "$TEST_TMP/timed.rc")" "status of timeout 2 cat ($mode)"
    [ "$ms" -lt 5000 ] || fail "timeout 2 cat took $ms ms ($mode)"
    kill -0 "$other" 2>/dev/null || fail "the other reader ended with the interrupted one"
    n=$(tail -n +$((seen + 1)) "$hlog" | grep -c "GET /v2/x/blobs/$layer range=None")
    assert_eq 1 "$n" "whole-layer requests of $mode (one download, shared)"

    check "$mode: meanwhile another image is served"
    timed ms2 timeout 10 cat "$MNT/repos/good/latest/rootfs/hello.txt"
    assert_eq "$good_ref" "$(cat "$TEST_TMP/timed.out")" "good image during $mode"
    [ "$ms2" -lt 5000 ] || fail "the good image took $ms2 ms during $mode"
    kill -0 "$other" 2>/dev/null || fail "the other reader ended early"
    # Its wait ends the same way (background jobs ignore SIGINT).
    kill -TERM "$other"
    wait_for 5 _pid_gone "$other" || fail "the other reader did not end on SIGTERM"
    imgfs_alive || fail "daemon died ($mode)"
    pass "$mode: timeout 2 cat took $ms ms, the good image $ms2 ms"
done

check "a pull whose manifest stalls is interrupted at once"
S=${HOSTILE[stall-manifest]}
timed ms timeout 2 stat "$MNT/repos/$S/x/latest"
assert_eq 124 "$(cat "$TEST_TMP/timed.rc")" "status of timeout 2 stat (stalled manifest)"
[ "$ms" -lt 5000 ] || fail "timeout 2 stat took $ms ms (stalled manifest)"
grep -q "GET /v2/x/manifests/latest" "$TEST_TMP/hostile-stall-manifest.log" ||
    fail "the manifest was not requested"
imgfs_alive || fail "daemon died (stalled manifest)"
pass "stalled manifest: timeout 2 stat took $ms ms"

check "store_max: a download past it fails with ENOSPC"
remount max store_max=32K,timeout=5
G=${HOSTILE[good]}
assert_eq OK "$(errno_of stat "$MNT/repos/$G/good/latest/manifest")" "pull under store_max"
assert_eq ENOSPC "$(errno_of read "$MNT/repos/$G/good/latest/rootfs/hello.txt")" "read under store_max"
grep -q "not downloading sha256:[0-9a-f]* (.* bytes): the store holds .* store_max is 32768" "$IMGFS_LOG" ||
    fail "no log line for store_max"
remount max1 store_max=1
assert_eq ENOSPC "$(errno_of stat "$MNT/repos/$G/good/latest")" "pull with store_max=1"
pass "store_max refuses"

check "max_layer_size: a pull naming a larger layer is refused"
remount mls max_layer_size=16K
assert_eq EFBIG "$(errno_of stat "$MNT/repos/$G/good/latest")" "pull with max_layer_size=16K"
grep -q "refused: layer sha256:[0-9a-f]* is [0-9]* bytes (max_layer_size 16384)" "$IMGFS_LOG" ||
    fail "no log line for max_layer_size"
pass "max_layer_size refuses"

imgfs_umount
