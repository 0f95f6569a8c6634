#!/bin/bash
# t_crash_pull.sh — `kill -9` of the daemon at a random moment (CRASH_SEED
# picks them; printed) while four things run at once: the first pull of an
# image (a 40 MiB layer, read through rootfs/), a load (a `podman save`
# docker-archive copied into import/), `rmdir by-id/<id>` of a pulled image,
# and a loop of `mv -T` of a tag between two names.  ROUNDS rounds (default
# 3).  After each: `fusermount3 -u -z`, then `imgfs --check STORE` passes
# (no partial blob taken for complete, no record with missing blobs, no
# tag naming a missing record), and a new mount on the same store shows:
# every operation that returned success before the kill (in this round or
# an earlier one) durable; the mv'd tag under exactly one of its two names
# (a rename is one tags.json write); nothing in STORE/tmp; and every image
# listed in by-id/ is one the test made, whose rootfs has the files and
# sha256 of its `umoci unpack`.
. "$(dirname "$0")/../lib/common.sh"
. "$IMGFS_SRC/tests/lib/build_images.sh"
need_root

ROUNDS=${ROUNDS:-3}
CRASH_SEED=${CRASH_SEED:-$$}
RANDOM=$CRASH_SEED
log "CRASH_SEED=$CRASH_SEED ROUNDS=$ROUNDS"

O=$TEST_TMP/oci
A=$TEST_TMP/archives
REF=$TEST_TMP/ref
mkdir -p "$A" "$REF"
pm() {  # pm ARGS... — podman on a vfs store of its own
    podman --root "$TEST_TMP/podman/root" --runroot "$TEST_TMP/podman/run" \
        --storage-driver vfs "$@"
}
CS="containers-storage:[vfs@$TEST_TMP/podman/root+$TEST_TMP/podman/run]"

check "build the images: base, and per round pull<r> (40 MiB), ld<r> (24 MiB, saved by podman), del<r>"
registry_start
: > "$TEST_TMP/ids"     # "id12 refdir" of every image the test makes
build_unique "$O" base 1
push_image "$O" base base:1
echo "$(remote_config_id base:1) base" >> "$TEST_TMP/ids"
for r in $(seq "$ROUNDS"); do
    build_unique "$O" "pull$r" 40
    build_unique "$O" "ld$r" 24
    build_unique "$O" "del$r" 1
    push_image "$O" "pull$r" "pull$r:1"
    push_image "$O" "del$r" "del$r:1"
    sk copy -q "oci:$O:ld$r" "${CS}localhost/ld$r:1" || fail "skopeo copy ld$r into podman's store"
    pm save -q --format docker-archive -o "$A/ld$r.tar" "localhost/ld$r:1" || fail "podman save ld$r"
    echo "$(remote_config_id "pull$r:1") pull$r" >> "$TEST_TMP/ids"
    echo "$(remote_config_id "del$r:1") del$r" >> "$TEST_TMP/ids"
    echo "$(pm images --format '{{.ID}}' "localhost/ld$r:1" | cut -c1-12) ld$r" >> "$TEST_TMP/ids"
done
for t in $(awk '{ print $2 }' "$TEST_TMP/ids"); do
    reference_tree "$O" "$t" "$REF/$t"
    file_hashes "$REF/$t/rootfs" > "$REF/$t.hashes"
done
[ "$(awk '{ print $1 }' "$TEST_TMP/ids" | sort -u | wc -l)" = $((1 + 3 * ROUNDS)) ] ||
    fail "image IDs are not all distinct: $(cat "$TEST_TMP/ids")"
pass "$(wc -l < "$TEST_TMP/ids") images"
id_of() { awk -v t="$1" '$2 == t { print $1 }' "$TEST_TMP/ids"; }

imgfs_mount
R=$MNT/repos
cat "$R/base/1/rootfs/data/small" >/dev/null || fail "pull base"
mkdir -p "$R/mv"
ln -s "$(id_of base)" "$R/mv/a" || fail "ln -s mv/a"
: > "$TEST_TMP/done"     # cumulative: what returned success before a kill

# The four operations; each prints "ok" on success into $TEST_TMP/op.<name>.
# run_op NAME FUNC ARGS... — FUNC in a process group of its own (so that
# it ends with its children), in the background.
run_op() {
    local name=$1
    shift
    setsid bash -c "$(declare -f op_pull op_load op_rmdir mv_loop id_of sha256_file)
        R='$R' MNT='$MNT' A='$A' REF='$REF' TEST_TMP='$TEST_TMP'; $*" > "$TEST_TMP/op.$name" 2>/dev/null &
    _PIDS+=("$!")  # the cleanup ends it if a check fails
}
op_pull() {
    local got
    got=$(timeout --foreground 60 sha256sum < "$R/pull$1/1/rootfs/data/blob" 2>/dev/null | cut -d' ' -f1)
    [ -n "$got" ] && [ "$got" = "$(sha256_file "$REF/pull$1/rootfs/data/blob")" ] && echo ok
}
op_load() { timeout --foreground 60 cp "$A/ld$1.tar" "$MNT/import/ld$1.tar" 2>/dev/null && echo ok; }
# (rmdir is quick: started after a random delay to meet the kill sometimes)
op_rmdir() { sleep "0.$((RANDOM % 10))"; timeout --foreground 60 rmdir "$MNT/by-id/$(id_of "del$1")" 2>/dev/null && echo ok; }
# mv_loop LOG — mv -T mv/a <-> mv/b forever; "try X" before, "ok X" after.
mv_loop() {
    local from=a to=b
    while :; do
        echo "try $to" >> "$1"
        timeout --foreground 10 mv -T "$R/mv/$from" "$R/mv/$to" 2>/dev/null || { sleep 0.05; continue; }
        echo "ok $to" >> "$1"
        local t=$from; from=$to; to=$t
    done
}

# image_reads ID — by-id/ID is an image the test made, with the files and
# hashes of its umoci unpack.
image_reads() {
    local id=$1 t
    t=$(awk -v i="$id" '$1 == i { print $2 }' "$TEST_TMP/ids")
    [ -n "$t" ] || fail "round $r: by-id/$id is no image the test made"
    timeout 120 cat "$MNT/by-id/$id/manifest" "$MNT/by-id/$id/config" >/dev/null ||
        fail "round $r: $t ($id): manifest/config unreadable"
    file_hashes "$MNT/by-id/$id/rootfs" > "$TEST_TMP/got.hashes" 2>"$TEST_TMP/got.err" ||
        fail "round $r: $t ($id): rootfs unreadable: $(head -n3 "$TEST_TMP/got.err")"
    diff "$REF/$t.hashes" "$TEST_TMP/got.hashes" >/dev/null ||
        fail "round $r: $t ($id): rootfs differs from umoci unpack"
}

for r in $(seq "$ROUNDS"); do
    check "round $r: kill -9 during a pull, a load, an rmdir and mv of a tag"
    cat "$R/del$r/1/rootfs/data/small" >/dev/null || fail "round $r: pull del$r"
    rm -f "$TEST_TMP"/op.*
    run_op pull op_pull "$r"; p1=$!
    run_op load op_load "$r"; p2=$!
    run_op rmdir op_rmdir "$r"; p3=$!
    run_op mv mv_loop "$TEST_TMP/op.mv.log"; p4=$!
    ms=$((100 + RANDOM % 1500))
    sleep "$((ms / 1000)).$(printf %03d $((ms % 1000)))"
    log "  kill -9 after ${ms} ms"
    kill -9 "$IMGFS_PID"
    # A killed daemon exits only when its notification thread does, and
    # that one may wait in the kernel for a directory lock held by a
    # request of ours (see fs/ops_notify.c).  Such a request, if it is
    # still queued, ends with its process: so end our operations as a
    # Ctrl-C would (one that had its answer before the kill has logged
    # it).  If the daemon had already read it, the kernel waits for the
    # answer without a timeout: nothing but aborting the connection ends
    # that (`umount -f`, what a user would do), so the test does it, and
    # only for that one known wait.
    sleep 0.5
    for p in $p1 $p2 $p3 $p4; do kill -TERM -- "-$p" 2>/dev/null; done
    if ! wait_for 10 _pid_gone "$IMGFS_PID"; then
        stuck=$(cat /proc/"$IMGFS_PID"/task/*/wchan 2>/dev/null | tr '\0' ' ')
        case $stuck in
        *fuse_reverse_inval_entry*)
            log "  the killed daemon waits in fuse_reverse_inval_entry for a request it cannot answer: umount -f"
            umount -f "$MNT" 2>/dev/null ;;
        *) fail "round $r: the killed daemon does not exit; its threads wait in: $stuck" ;;
        esac
        wait_for 30 _pid_gone "$IMGFS_PID" || fail "round $r: the daemon did not exit after umount -f"
    fi
    wait "$IMGFS_PID" 2>/dev/null
    for p in $p1 $p2 $p3 $p4; do
        wait_for 30 _pid_gone "$p" || fail "round $r: an operation hangs after the kill"
        wait "$p" 2>/dev/null
    done
    ! _is_mounted "$MNT" || timeout 10 fusermount3 -u -z "$MNT" || fail "round $r: fusermount3 -u -z"
    for o in pull load rmdir; do
        grep -qx ok "$TEST_TMP/op.$o" && echo "$o $r" >> "$TEST_TMP/done"
    done
    log "  killed after ${ms} ms; succeeded: $(awk -v r="$r" '$2 == r { printf "%s ", $1 }' "$TEST_TMP/done")mv $(grep -c '^ok' "$TEST_TMP/op.mv.log")x"

    "$IMGFS_BIN" --check "$STORE" > "$TEST_TMP/check.$r" 2>&1
    rc=$?
    [ "$rc" = 0 ] && grep -q " 0 broken" "$TEST_TMP/check.$r" ||
        { cat "$TEST_TMP/check.$r"; fail "round $r: imgfs --check after the kill (exit $rc)"; }

    imgfs_mount
    assert_eq "" "$(ls -A "$STORE/tmp")" "round $r: STORE/tmp after the remount"
    # what succeeded is durable (every round so far).  Checked in the
    # `images` table (local only: a lookup in repos/ would pull again).
    awk 'NR > 1 { print $1 ":" $2, $3 }' "$MNT/images" > "$TEST_TMP/tags"
    has_tag() { grep -qx "$1 $2" "$TEST_TMP/tags"; }
    while read -r o n; do
        case $o in
        pull) has_tag "pull$n:1" "$(id_of "pull$n")" ||
                  fail "round $r: pull$n:1 (read fully in round $n) is gone: $(cat "$TEST_TMP/tags")" ;;
        load) has_tag "localhost/ld$n:1" "$(id_of "ld$n")" ||
                  fail "round $r: localhost/ld$n:1 (cp returned 0 in round $n) is gone: $(cat "$TEST_TMP/tags")" ;;
        rmdir) [ -e "$MNT/by-id/$(id_of "del$n")" ] &&
                  fail "round $r: del$n (rmdir returned 0 in round $n) is back"
               grep "^del$n:" "$TEST_TMP/tags" && fail "round $r: a tag of del$n (deleted) is back" ;;
        esac
    done < "$TEST_TMP/done"
    # the mv'd tag: under exactly one name; the last success's if nothing
    # was tried after it
    mapfile -t names < <(ls "$R/mv")
    assert_eq 1 "${#names[@]}" "round $r: names of the mv'd tag (${names[*]})"
    assert_eq "$(id_of base)" "$(basename "$(readlink "$R/mv/${names[0]}")")" "round $r: mv/${names[0]} target"
    last=$(tail -n1 "$TEST_TMP/op.mv.log")
    case $last in ok*) assert_eq "${last#ok }" "${names[0]}" "round $r: the last mv that succeeded" ;; esac
    # every image listed reads right
    n=0
    for id in $(ls "$MNT/by-id"); do
        image_reads "$id"
        n=$((n + 1))
    done
    # the interrupted operations can be done now
    op_pull "$r" | grep ok >/dev/null || fail "round $r: pull$r after the remount"
    op_load "$r" | grep ok >/dev/null || fail "round $r: load of ld$r after the remount"
    [ -e "$MNT/by-id/$(id_of "del$r")" ] && { op_rmdir "$r" | grep ok >/dev/null || fail "round $r: rmdir del$r after the remount"; }
    for o in pull load rmdir; do
        grep -qx "$o $r" "$TEST_TMP/done" || echo "$o $r" >> "$TEST_TMP/done"
    done
    image_reads "$(id_of "pull$r")"
    image_reads "$(id_of "ld$r")"
    pass "round $r: --check clean, $n images read right, done operations durable"
done

imgfs_umount
"$IMGFS_BIN" --check "$STORE" > "$TEST_TMP/check.end" 2>&1 || { cat "$TEST_TMP/check.end"; fail "final --check"; }
echo "t_crash_pull: all checks passed"
