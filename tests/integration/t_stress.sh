#!/bin/bash
# t_stress.sh — 64 concurrent readers for STRESS_SECS seconds (default 30,
# so that the whole test stays under a minute in CI; `STRESS_SECS=300 ctest
# -R t_stress` runs it for minutes) while a loop creates and removes tags,
# two loops import tarballs, and a loop pulls, imports and DELETES images:
#   16 readers walk and hash the rootfs trees of three images (find +
#      sha256sum), 16 list them (find);
#   16 read random byte ranges of random files of those three images
#      (tests/lib/random_reader.py, each read past the page cache);
#   16 do the same on the images the delete loop has published, which may
#      vanish under them: ENOENT/ESTALE is counted, never a failure;
#   the delete loop, in turn: pulls d1 or d2 and deletes it by rm of its
#      last tag; imports a tarball as vimp:N and deletes it by rmdir
#      by-id/<id>; imports one untagged and deletes it by rm dangling/*;
#      each image read by the victim readers for a second before and
#      while it is deleted, and a moment after.
# Then: no process hung (everything runs under timeout), the daemon is
# alive, every byte any reader read equals umoci unpack's (or the import's
# source), every tag created and not removed is there (and none removed
# is), every import that cp reported committed is there with the right
# diff_id, every deletion succeeded (EBUSY retried) and its image is gone,
# and the daemon's descriptors and memory are flat: both are measured
# after a warm-up (the first quarter of the run, at most 10 s) and at the
# end (loops stopped, 3 s of settling), printed, and bounded (see below).
. "$(dirname "$0")/../lib/common.sh"
. "$IMGFS_SRC/tests/lib/build_images.sh"
need_root

SECS=${STRESS_SECS:-30}
WARM=$((SECS / 4 < 10 ? SECS / 4 : 10))
NREADERS=64
O=$TEST_TMP/oci
build_busybox "$O"
build_unique "$O" u1 6          # two spans of decompressed stream
build_unique "$O" u2
build_unique "$O" d1 2          # pulled and deleted over and over
build_unique "$O" d2 2
registry_start
IMGS=(busybox u1 u2)
for i in "${IMGS[@]}" d1 d2; do
    push_image "$O" "$i" "$i:latest"
    reference_tree "$O" "$i" "$TEST_TMP/ref-$i"
done
for i in "${IMGS[@]}"; do file_hashes "$TEST_TMP/ref-$i/rootfs" > "$TEST_TMP/want.$i"; done
B=$(remote_config_id busybox:latest)
D1=$(remote_config_id d1:latest)
D2=$(remote_config_id d2:latest)

check "tarballs for the import loops and the delete loop"
for k in 1 2; do
    mkdir -p "$TEST_TMP/isrc$k/data"
    head -c 20M /dev/urandom > "$TEST_TMP/isrc$k/data/blob"
    tar -C "$TEST_TMP/isrc$k" -cf "$TEST_TMP/imp$k.tar" . || fail "tar"
    gzip -1 -c "$TEST_TMP/imp$k.tar" > "$TEST_TMP/imp$k.tar.gz"
    sha256_file "$TEST_TMP/imp$k.tar" > "$TEST_TMP/diff$k"
done
for v in vimp dang; do
    mkdir -p "$TEST_TMP/vsrc-$v/data" "$TEST_TMP/vsrc-$v/etc"
    head -c 3M /dev/urandom > "$TEST_TMP/vsrc-$v/data/blob"
    for f in a b c d; do echo "$v $f $RANDOM" > "$TEST_TMP/vsrc-$v/etc/$f"; done
    tar -C "$TEST_TMP/vsrc-$v" -cf "$TEST_TMP/$v.tar" . || fail "tar $v"
done
pass "two 20 MB tarballs to import, two 3 MB ones to import and delete"

imgfs_mount
mkdir -p "$MNT/repos/stress" "$TEST_TMP/victims"
STOP=$TEST_TMP/running
touch "$STOP"

reader() {   # reader I — hash or list image I%3 until $STOP goes; verdict in res.I
    local i=$1 img=${IMGS[$(( $1 % 3 ))]} n=0 out=$TEST_TMP/res.$1
    local root=$MNT/by-id/$(basename "$(readlink "$MNT/repos/$img/latest")")/rootfs
    while [ -e "$STOP" ]; do
        n=$((n + 1))
        if [ $((i % 4)) = 0 ]; then
            (cd "$root" && find . -type f -print0 | sort -z | xargs -0 -r sha256sum) > "$out.tmp" 2>&1
            cmp -s "$out.tmp" "$TEST_TMP/want.$img" || { echo "bad hashes $img pass $n" > "$out"; cp "$out.tmp" "$out.bad"; return; }
        else
            (cd "$root" && find . | sort) > "$out.tmp" 2>&1
            (cd "$TEST_TMP/ref-$img/rootfs" && find . | sort) | cmp -s - "$out.tmp" ||
                { echo "bad find $img pass $n" > "$out"; return; }
        fi
    done
    echo "ok $n" > "$out"
}

tag_loop() {   # create s<n>, remove every third one two behind
    local i=0 d=$MNT/repos/stress
    while [ -e "$STOP" ]; do
        i=$((i + 1))
        timeout 20 ln -s "$B" "$d/s$i" && echo "add s$i" >> "$TEST_TMP/tags.log"
        if [ $((i % 3)) = 0 ]; then
            timeout 20 rm "$d/s$((i - 2))" && echo "rm s$((i - 2))" >> "$TEST_TMP/tags.log"
        fi
    done
}

import_loop() {   # import_loop K — import impK.tar.gz as impK:<n> repeatedly
    local k=$1 n=0
    while [ -e "$STOP" ]; do
        n=$((n + 1))
        timeout 100 cp "$TEST_TMP/imp$k.tar.gz" "$MNT/import/imp$k:$n" && echo "imp$k $n" >> "$TEST_TMP/imports.log"
    done
}

# delete_loop — one image at a time: make it (pull or import), publish it
# to the victim readers, after a second delete it under them, retrying
# while a reader has a file of it open (EBUSY); then it must be gone, and
# it stays published a little longer, so that readers find it gone.
# Logs "KIND ID deleted" per cycle to victims.log, anything wrong to stderr.
delete_loop() {
    local n=0 kind id v del
    while [ -e "$STOP" ] || [ "$n" -lt 3 ]; do   # each kind at least once
        n=$((n + 1))
        case $((n % 3)) in
        1)  kind=pull v=d$(( (n / 3) % 2 + 1 ))
            id=$D1; [ "$v" = d2 ] && id=$D2
            timeout 60 cat "$MNT/repos/$v/latest/manifest" >/dev/null || { echo "pull $v failed"; continue; }
            ref=$TEST_TMP/ref-$v/rootfs del=(rm "$MNT/repos/$v/latest") ;;
        2)  kind=rmdir
            timeout 60 cp "$TEST_TMP/vimp.tar" "$MNT/import/vimp:$n" || { echo "import vimp:$n failed"; continue; }
            id=$(basename "$(readlink "$MNT/repos/vimp/$n")")
            ref=$TEST_TMP/vsrc-vimp del=(rmdir "$MNT/by-id/$id") ;;
        0)  kind=dangling
            timeout 60 cp "$TEST_TMP/dang.tar" "$MNT/import/dang$n" || { echo "import dang$n failed"; continue; }
            id=$(ls "$MNT/dangling")
            [ "$(wc -w <<<"$id")" = 1 ] || { echo "dangling/ holds '$id', want one image"; continue; }
            ref=$TEST_TMP/vsrc-dang del=(sh -c "rm $MNT/dangling/*") ;;
        esac
        echo "$MNT/by-id/$id/rootfs $ref" > "$TEST_TMP/victims/$n.tmp"
        mv "$TEST_TMP/victims/$n.tmp" "$TEST_TMP/victims/$n"
        sleep 1
        # EBUSY while a reader has a file open is the rule (t_rmi.sh); on a
        # slow machine the readers could keep it busy for good, so after
        # 10 s they are sent elsewhere (unpublished) and it must go.
        local start=$SECONDS busy=0
        until timeout 20 "${del[@]}" 2>"$TEST_TMP/del.err"; do
            grep -q "busy" "$TEST_TMP/del.err" && [ $((SECONDS - start)) -lt 40 ] ||
                { echo "$kind $id: ${del[*]}: $(cat "$TEST_TMP/del.err")"; continue 2; }
            busy=$((busy + 1))
            [ $((SECONDS - start)) -ge 10 ] && rm -f "$TEST_TMP/victims/$n"
            sleep 0.02
        done
        [ -e "$MNT/by-id/$id" ] && echo "$kind $id: still in by-id/ after ${del[*]}"
        echo "$kind $id deleted ($busy EBUSY)" >> "$TEST_TMP/victims.log"
        sleep 0.3   # the readers find it gone
        rm -f "$TEST_TMP/victims/$n"
    done
}

# Bounds on the daemon's descriptors and memory.  Not flaky: both are
# taken with the same images in use (the warm-up reading comes after
# every reader has started, every image was read and the loops ran), and
# at the end nothing is read any more, so there are no more layer, partial
# or span-cache descriptors than at the warm-up, and glibc's arenas have
# already grown to 64 readers' load.  A leak of one descriptor per
# operation (hundreds of tags, imports, deletions, thousands of reads)
# passes FD_SLACK many times over; a leak of a few KB per read (thousands
# of reads from the daemon; `reads` below) passes RSS_SLACK_KB for any run
# that makes more than 8000 (printed; the default run makes far more).
FD_SLACK=16
RSS_FACTOR_PCT=125
RSS_SLACK_KB=32768
nfds() { ls "/proc/$IMGFS_PID/fd" | wc -l; }
rss_kb() { awk '$1 == "VmRSS:" { print $2 }' "/proc/$IMGFS_PID/status"; }

check "$NREADERS readers, a tag loop, two import loops and a delete loop for ${SECS}s"
# pull every image once so that readers start from a known state
for img in "${IMGS[@]}"; do cat "$MNT/repos/$img/latest/manifest" >/dev/null || fail "pull $img"; done
for img in "${IMGS[@]}"; do
    echo "$MNT/by-id/$(basename "$(readlink "$MNT/repos/$img/latest")")/rootfs $TEST_TMP/ref-$img/rootfs"
done > "$TEST_TMP/stable.list"
pids=()
for i in $(seq 0 $((NREADERS - 1))); do
    case $((i % 4)) in
    0|1) timeout $((SECS + 120)) bash -c "$(declare -f reader); IMGS=(${IMGS[*]}); MNT=$MNT TEST_TMP=$TEST_TMP STOP=$STOP reader $i" & ;;
    2)   timeout $((SECS + 120)) "$PY" "$LIB_DIR/random_reader.py" stable "$TEST_TMP/stable.list" "$i" "$TEST_TMP/res.$i" "$STOP" & ;;
    3)   timeout $((SECS + 120)) "$PY" "$LIB_DIR/random_reader.py" victim "$TEST_TMP/victims" "$i" "$TEST_TMP/res.$i" "$STOP" & ;;
    esac
    pids+=($!)
done
timeout $((SECS + 60)) bash -c "$(declare -f tag_loop); MNT=$MNT TEST_TMP=$TEST_TMP STOP=$STOP B=$B tag_loop" 2>"$TEST_TMP/tag.err" &
tpid=$!
for k in 1 2; do
    timeout $((SECS + 120)) bash -c "$(declare -f import_loop); MNT=$MNT TEST_TMP=$TEST_TMP STOP=$STOP import_loop $k" 2>"$TEST_TMP/imp$k.err" &
    pids+=($!)
done
timeout $((SECS + 150)) bash -c "$(declare -f delete_loop); MNT=$MNT TEST_TMP=$TEST_TMP STOP=$STOP D1=$D1 D2=$D2 delete_loop" >"$TEST_TMP/del.out" 2>&1 &
pids+=($!)
sleep "$WARM"
fd_warm=$(nfds) rss_warm=$(rss_kb)
log "warm-up (${WARM}s): $fd_warm descriptors, VmRSS $rss_warm kB"
sleep $((SECS - WARM))
rm -f "$STOP"
bad=0
wait "$tpid" || { echo "tag loop exited with $? (124 = hung)"; bad=1; }
for p in "${pids[@]}"; do
    wait "$p" || { echo "worker $p exited with $? (124 = hung)"; bad=1; }
done
[ "$bad" = 0 ] || fail "a worker hung or failed"
imgfs_alive || fail "daemon died"
pass "all workers finished"

check "readers saw the right bytes"
walks=0 reads=0 vanished=0
for i in $(seq 0 $((NREADERS - 1))); do
    r=$(cat "$TEST_TMP/res.$i" 2>/dev/null || echo "no result")
    [[ $r == ok* ]] || fail "reader $i: $r"
    case $r in
    *reads=*) set -- $r; reads=$((reads + ${2#reads=})); vanished=$((vanished + ${3#vanished=})) ;;
    *) walks=$((walks + ${r#ok })) ;;
    esac
done
[ "$reads" -gt 0 ] || fail "no random read was made"
pass "$walks tree walks equal to umoci unpack; $reads random reads equal to the references ($vanished found their image deleted)"

check "every deletion succeeded and its image is gone"
[ -s "$TEST_TMP/del.out" ] && { cat "$TEST_TMP/del.out"; fail "the delete loop saw errors"; }
for kind in pull rmdir dangling; do
    grep -q "^$kind " "$TEST_TMP/victims.log" || fail "no $kind deletion"
done
ndel=$(wc -l < "$TEST_TMP/victims.log")
for id in $D1 $D2 $(awk '$1 != "pull" { print $2 }' "$TEST_TMP/victims.log"); do
    [ -e "$MNT/by-id/$id" ] && fail "deleted image $id is in by-id/"
done
assert_eq "" "$(ls -A "$MNT/dangling")" "dangling/"
# (a lookup of repos/vimp still finds a directory: any top-level name may
# be a host or a namespace; the listing shows local names only)
grep -x vimp <<<"$(ls "$MNT/repos")" >/dev/null && fail "repos/ lists vimp: $(ls "$MNT/repos/vimp")"
pass "$ndel images deleted ($(awk '{ n[$1]++ } END { for (k in n) printf "%s %d ", k, n[k] }' "$TEST_TMP/victims.log")), $(awk '{ gsub(/\(/, "", $4); s += $4 } END { print s + 0 }' "$TEST_TMP/victims.log") EBUSY retries"

check "no tag lost, none resurrected"
[ -s "$TEST_TMP/tag.err" ] && { cat "$TEST_TMP/tag.err"; fail "the tag loop saw errors"; }
mapfile -t present < <(ls "$MNT/repos/stress")
added=$(grep -c add "$TEST_TMP/tags.log")
for t in $(awk '$1 == "add" { print $2 }' "$TEST_TMP/tags.log"); do
    grep -qx "rm $t" "$TEST_TMP/tags.log" && continue
    printf '%s\n' "${present[@]}" | grep -x "$t" >/dev/null || fail "tag stress/$t lost"
done
for t in $(awk '$1 == "rm" { print $2 }' "$TEST_TMP/tags.log"); do
    printf '%s\n' "${present[@]}" | grep -x "$t" >/dev/null && fail "removed tag stress/$t is back"
done
pass "$added tags made, ${#present[@]} present as expected"

check "every committed import is there with its diff_id"
for k in 1 2; do [ -s "$TEST_TMP/imp$k.err" ] && { cat "$TEST_TMP/imp$k.err"; fail "import loop $k saw errors"; }; done
n=0
while read -r name num; do
    k=${name#imp}
    assert_eq "sha256:$(cat "$TEST_TMP/diff$k")" "$(jq -r '.rootfs.diff_ids[0]' "$MNT/repos/$name/$num/config")" "$name:$num diff_id"
    n=$((n + 1))
done < "$TEST_TMP/imports.log"
[ "$n" -ge 2 ] || fail "only $n imports committed in ${SECS}s"
assert_eq "" "$(ls -A "$STORE/tmp")" "STORE/tmp"
pass "$n imports"

check "descriptors and memory flat"
sleep 3
fd_end=$(nfds) rss_end=$(rss_kb)
log "warm-up: $fd_warm descriptors, VmRSS $rss_warm kB; end: $fd_end descriptors, VmRSS $rss_end kB"
log "bounds: descriptors <= $fd_warm + $FD_SLACK, VmRSS <= $rss_warm * $RSS_FACTOR_PCT% + $RSS_SLACK_KB kB"
log "operations: $added tags made, $n imports, $ndel deletions, $reads random reads, $walks walks"
[ "$fd_end" -le $((fd_warm + FD_SLACK)) ] || { ls -l "/proc/$IMGFS_PID/fd"; fail "descriptors grew: $fd_warm -> $fd_end"; }
[ "$rss_end" -le $((rss_warm * RSS_FACTOR_PCT / 100 + RSS_SLACK_KB)) ] || fail "VmRSS grew: $rss_warm -> $rss_end kB"
pass "descriptors $fd_warm -> $fd_end, VmRSS $rss_warm -> $rss_end kB"

imgfs_umount
echo "t_stress: all checks passed"
