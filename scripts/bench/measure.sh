# shellcheck shell=bash
# scripts/bench/measure.sh — the measurements of scripts/bench.sh (sourced).
#
# Owns: the registry the images are served from (loopback, or a shaped
# network namespace), timing and medians, the peers (podman overlay and vfs,
# skopeo+umoci, native reads of umoci's rootfs) and the imgfs figures, and
# the results file (one line per figure: image, figure, tool, value, unit).
#
# Why it is built this way: every "never-seen" figure gets a fresh imgfs
# store and mount (or a fresh podman root, a fresh OCI dir), so nothing
# earlier is reused; cold figures drop the page cache first (the imgfs
# daemon keeps running, so its own memory stays warm); a failed tool
# records "failed" instead of stopping the run, so one broken peer costs
# one cell, not the table.

export LC_ALL=C
BENCH_W=$TEST_TMP/w
mkdir -p "$BENCH_W"
BENCH_RES=$BENCH_CACHE_DIR/results.tsv
BENCH_RUNS=3
BENCH_NS=imgfsbench$$
BENCH_REG_HOST=127.0.0.1
BENCH_NSTORE=0
BENCH_RAND_SECS=${BENCH_RAND_SECS:-5}
BENCH_PY_IMPORT='import json, email, http.client, sqlite3, numpy'

rec() { printf '%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" "$5" >> "$BENCH_RES"; }

drop_caches() { sync; echo 3 > /proc/sys/vm/drop_caches; }

# tcmd CMD... — run CMD with its output discarded; T = elapsed seconds.
tcmd() {
    local a=$EPOCHREALTIME rc=0
    "$@" >/dev/null 2>>"$BENCH_W/cmd.err" || rc=$?
    T=$(awk -v a="$a" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.3f", b - a }')
    return "$rc"
}

_median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

# measure IMG FIG TOOL SETUP CMD... — record the time CMD takes; SETUP (a
# command, untimed) runs before each run. Median of $BENCH_RUNS when the
# first run took under 10 s. Sets M (the value, or empty on failure).
measure() {
    local img=$1 fig=$2 tool=$3 setup=$4 i ts=()
    shift 4
    M=
    for ((i = 1; i <= BENCH_RUNS; i++)); do
        if ! $setup || ! tcmd "$@"; then
            log "  $img $fig $tool: FAILED ($*)"
            tail -n 5 "$BENCH_W/cmd.err" >&2
            rec "$img" "$fig" "$tool" failed s
            return 1
        fi
        ts+=("$T")
        awk -v t="$T" 'BEGIN { exit !(t >= 10) }' && break
    done
    M=$(_median "${ts[@]}")
    rec "$img" "$fig" "$tool" "$M" s
    log "  $img $fig $tool: $M s (runs: ${ts[*]})"
}

# ------------------------------------------------------------- registry

bench_netns_down() {
    ip netns del "$BENCH_NS" 2>/dev/null
    BENCH_NETNS=
}

# The registry's side of a veth pair in its own namespace; both directions
# shaped by a token bucket. Addresses are link-local to this pair.
_netns_up() {
    ip netns add "$BENCH_NS" || fail "ip netns add"
    BENCH_NETNS=1
    ip link add ibh$$ type veth peer name ibr$$ netns "$BENCH_NS" || fail "veth"
    ip addr add 10.213.0.1/30 dev ibh$$ && ip link set ibh$$ up || fail "veth host side"
    ip -n "$BENCH_NS" addr add 10.213.0.2/30 dev ibr$$ && ip -n "$BENCH_NS" link set ibr$$ up &&
        ip -n "$BENCH_NS" link set lo up || fail "veth namespace side"
    tc qdisc add dev ibh$$ root tbf rate 200mbit burst 256kb latency 50ms || fail "tc host side"
    ip netns exec "$BENCH_NS" tc qdisc add dev ibr$$ root tbf rate 200mbit burst 256kb latency 50ms ||
        fail "tc namespace side"
    BENCH_REG_HOST=10.213.0.2
    printf '{"insecure-registries": ["%s"]}\n' "$BENCH_REG_HOST:$REG_PORT" > "$BENCH_W/imgfs.json"
}

# bench_reg_start — start the registry (the first call creates it: port,
# storage, config; later calls restart it on the same port and storage).
bench_reg_start() {
    if [ -z "${REG_DIR:-}" ]; then
        REG_PORT=$(free_port)
        REG_DIR=$TEST_TMP/registry-$REG_PORT
        REG_STORAGE=$REG_DIR/storage
        mkdir -p "$REG_STORAGE"
        [ "$BENCH_SHAPED" = 1 ] && _netns_up
        REG_ADDR=$BENCH_REG_HOST:$REG_PORT
        cat > "$REG_DIR/config.yml" <<EOF
version: 0.1
log:
  level: warn
  accesslog:
    disabled: false
storage:
  filesystem:
    rootdirectory: $REG_STORAGE
  delete:
    enabled: true
http:
  addr: $REG_ADDR
  secret: imgfs-bench-secret
EOF
    fi
    if [ "$BENCH_SHAPED" = 1 ]; then
        ip netns exec "$BENCH_NS" docker-registry serve "$REG_DIR/config.yml" \
            >>"$REG_DIR/access.log" 2>>"$REG_DIR/registry.log" &
    else
        docker-registry serve "$REG_DIR/config.yml" >>"$REG_DIR/access.log" 2>>"$REG_DIR/registry.log" &
    fi
    REG_PID=$!
    _PIDS+=("$REG_PID")
    wait_for 30 _registry_up "$REG_ADDR" ||
        { tail "$REG_DIR/registry.log" >&2; fail "registry on $REG_ADDR did not start"; }
    log "registry up at $REG_ADDR (pid $REG_PID)"
}

# reg_mark — remember the access log's end; reg_bytes — response bytes the
# registry logged since (combined log format: field 10 is the size).
reg_mark() { sleep 0.2; REG_MARK=$(stat -c %s "$REG_DIR/access.log"); }
reg_bytes() {
    sleep 0.2
    tail -c +$((REG_MARK + 1)) "$REG_DIR/access.log" |
        awk '$9 ~ /^[0-9]+$/ && $10 ~ /^[0-9]+$/ { s += $10 } END { printf "%d\n", s }'
}

# -------------------------------------------------------------- imgfs

IMGFS_EXTRA=
imgfs_up() {
    [ "$BENCH_SHAPED" = 1 ] && IMGFS_EXTRA=config=$BENCH_W/imgfs.json
    imgfs_mount "$IMGFS_EXTRA" >/dev/null
}
imgfs_down() {
    if [ -n "${IMGFS_PID:-}" ] && kill -0 "$IMGFS_PID" 2>/dev/null; then
        imgfs_umount >/dev/null
    fi
    IMGFS_PID=
}

# fresh_mount — unmount, a new empty store, mount; nothing is cached.
fresh_mount() {
    imgfs_down
    [ -n "${STORE:-}" ] && rm -rf --one-file-system "$STORE"
    BENCH_NSTORE=$((BENCH_NSTORE + 1))
    STORE=$BENCH_W/store.$BENCH_NSTORE
    MNT=$BENCH_W/mnt
    imgfs_up
    # what the daemon holds with no image: the goal counts memory per
    # file beyond it
    BENCH_RSS_BASE=$(($(awk '/^VmRSS:/ { print $2 }' "/proc/$IMGFS_PID/status") * 1024))
    drop_caches
    reg_mark
}

# remount — the same store, a new daemon.
remount() { imgfs_down; imgfs_up; drop_caches; }

# evict_remount — the same store without the layer blobs of $EVICT_IMG (an
# earlier mount whose blobs were evicted, or an index kept without its
# blob): only the kept indexes remain, so reads fetch by range.
evict_remount() {
    local d
    imgfs_down
    for d in $(jq -r '.layers[].digest' "$(manifest_of "$EVICT_IMG")"); do
        rm -f "$STORE/blobs/sha256/${d#sha256:}"
    done
    for d in partial cache; do
        [ -d "$STORE/$d" ] && find "$STORE/$d" -mindepth 1 -delete
    done
    imgfs_up
    drop_caches
    reg_mark
}

# ---------------------------------------------------------------- peers

# A podman with its own storage: pod DRIVER ARGS...
pod() {
    local d=$1
    shift
    podman --root "$BENCH_W/podman-$d/root" --runroot "$BENCH_W/podman-$d/run" --storage-driver "$d" \
        --cgroup-manager cgroupfs --events-backend file "$@"
}
pod_reset() {
    local d=$1 m
    for m in $(awk -v t="$BENCH_W/podman-$d/" 'index($5, t) == 1 {print $5}' /proc/self/mountinfo | sort -r); do
        umount -l "$m" 2>/dev/null
    done
    rm -rf --one-file-system "$BENCH_W/podman-$d"
    mkdir -p "$BENCH_W/podman-$d"
    drop_caches
    reg_mark
}
pod_pull() { pod "$1" pull -q --tls-verify=false "$REG_ADDR/$2:latest"; }
# pod_first_local DRIVER IMG FILE — mount the pulled image, read one file.
pod_first_local() {
    local m
    m=$(pod "$1" image mount "$REG_ADDR/$2:latest") || return 1
    cat "$m/$3" >/dev/null
}
# pod_run DRIVER IMG CMD... — CMD chrooted into podman's mount of the image:
# podman's storage without a container runtime (comparable with imgfs and
# umoci's rootfs, and it works where crun may not set rlimits).
pod_run() {
    local m
    m=$(pod "$1" image mount "$REG_ADDR/$2:latest") || return 1
    chroot "$m" "${@:3}"
}
pod_pull_run() { pod_pull "$1" "$2" && pod_run "$@"; }

su_reset() {
    rm -rf --one-file-system "$BENCH_W/oci-$1" "$BENCH_W/bundle-$1"
    drop_caches
    reg_mark
}
su_copy() { sk copy --quiet --src-tls-verify=false "docker://$REG_ADDR/$1:latest" "oci:$BENCH_W/oci-$1:$1"; }
su_unpack() { umoci unpack --image "$BENCH_W/oci-$1:$1" "$BENCH_W/bundle-$1"; }
su_all() { su_copy "$1" && su_unpack "$1"; }
su_prog() { su_all "$1" && chroot "$BENCH_W/bundle-$1/rootfs" "${@:2}"; }

# ------------------------------------------------------------ workloads

tarcat() { tar -C "$1" -cf - . | cat >/dev/null; }   # GNU tar skips reading when writing to /dev/null
walk() { find "$1" >/dev/null; }
statall() { find "$1" -printf '%s %m %U %G %T@\n' >/dev/null; }
seqread() { dd if="$1" of=/dev/null bs=1M status=none; }

# randread ROOT LIST — 64 threads of open + 4 KiB pread + close at random
# offsets of the files in LIST, for $BENCH_RAND_SECS; prints ops/s p50 p99.
randread() { "$BENCH_W/randread" "$1" "$2" 64 "$BENCH_RAND_SECS"; }

measure_rand() {
    local img=$1 tool=$2 root=$3 list=$4 i out ops=() p99=()
    for ((i = 1; i <= BENCH_RUNS; i++)); do
        drop_caches
        out=$(randread "$root" "$list") || { rec "$img" rand_ops "$tool" failed ops/s; return 1; }
        read -r o _ p <<< "$out"
        ops+=("$o") p99+=("$p")
    done
    rec "$img" rand_ops "$tool" "$(_median "${ops[@]}")" ops/s
    rec "$img" rand_p99 "$tool" "$(_median "${p99[@]}")" ms
    log "  $img rand $tool: ${ops[*]} ops/s, p99 ${p99[*]} ms"
}

measure_seq() {  # IMG TOOL FILE SIZE
    local img=$1 tool=$2 f=$3 size=$4
    measure "$img" seq_cold_s "$tool" drop_caches seqread "$f" &&
        rec "$img" seq_cold "$tool" "$(awk -v s="$size" -v t="$M" 'BEGIN { printf "%.1f", s / 1048576 / t }')" MB/s
    seqread "$f"
    measure "$img" seq_warm_s "$tool" true seqread "$f" &&
        rec "$img" seq_warm "$tool" "$(awk -v s="$size" -v t="$M" 'BEGIN { printf "%.1f", s / 1048576 / t }')" MB/s
}

# du_b DIR — bytes allocated on disk under DIR (-x: not what podman image
# mount shows on top of its own layers).
du_b() { du -xsB1 "$@" 2>/dev/null | awk '{ s += $1 } END { printf "%d\n", s }'; }

manifest_of() {
    local m
    m=$(jq -r --arg t "$1" '.manifests[] | select(.annotations["org.opencontainers.image.ref.name"] == $t) | .digest' \
        "$BENCH_OCI/index.json")
    echo "$BENCH_OCI/blobs/sha256/${m#sha256:}"
}

# small_file IMG — the file the "first small file" figures read.
small_file() {
    case $1 in
    small) printf 'd%03d/f%06d\n' $((BENCH_SMALL_N / 2 / 1000)) $((BENCH_SMALL_N / 2)) ;;
    *) echo etc/os-release ;;
    esac
}

# ------------------------------------------------------------- per image

bench_image() {
    local img=$1 small root native list big bigsize files b
    small=$(small_file "$img")
    root=$BENCH_W/mnt/repos/$img/latest/rootfs
    log "== $img"
    rec "$img" layers info "$(jq '.layers | length' "$(manifest_of "$img")")" count
    rec "$img" compressed info "$(jq '[.layers[].size] | add' "$(manifest_of "$img")")" B

    # skopeo + umoci: never-seen first file and whole image; its rootfs is
    # the native tree every other figure is compared with.
    # A peer's first small file is its whole pull plus the (median) time to
    # read that file from what it unpacked: pulling twice would double the
    # longest part of the run for no new information.
    measure "$img" whole_read skopeo_umoci "su_reset $img" su_all "$img" && {
        rec "$img" reg_bytes skopeo_umoci "$(reg_bytes)" B
        local whole=$M
        measure "$img" first_file_after skopeo_umoci drop_caches cat "$BENCH_W/bundle-$img/rootfs/$small" &&
            rec "$img" first_file skopeo_umoci "$(awk -v a="$whole" -v b="$M" 'BEGIN { printf "%.3f", a + b }')" s
    }
    native=$BENCH_W/bundle-$img/rootfs
    [ -d "$native" ] || { su_reset "$img"; su_all "$img" || { log "no native tree for $img"; return 1; }; }
    rec "$img" store_bytes skopeo_umoci "$(du_b "$BENCH_W/oci-$img" "$BENCH_W/bundle-$img")" B
    rec "$img" store_bytes native "$(du_b "$native")" B
    files=$(find "$native" | wc -l)
    rec "$img" files info "$files" count
    rec "$img" unpacked info "$(du -sb "$native" | cut -f1)" B
    list=$BENCH_W/list-$img
    (cd "$native" && find . -type f -size +0 -printf '%s\t%P\n') > "$list"
    read -r bigsize big < <(cd "$native" && find . -type f -printf '%s %P\n' | sort -n | tail -n 1)
    rec "$img" seq_file info "$big ($bigsize B)" file

    # podman: pull into a fresh root (overlay, vfs)
    for d in overlay vfs; do
        measure "$img" whole_read "podman_$d" "pod_reset $d" pod_pull "$d" "$img" && {
            rec "$img" reg_bytes "podman_$d" "$(reg_bytes)" B
            local whole=$M
            measure "$img" first_file_after "podman_$d" drop_caches pod_first_local "$d" "$img" "$small" &&
                rec "$img" first_file "podman_$d" "$(awk -v a="$whole" -v b="$M" 'BEGIN { printf "%.3f", a + b }')" s
        }
        rec "$img" store_bytes "podman_$d" "$(du_b "$BENCH_W/podman-$d")" B
        [ "$img" = "$BENCH_PROG_IMG" ] || pod_reset "$d"
    done

    # imgfs, never seen
    measure "$img" first_file imgfs fresh_mount cat "$root/$small" &&
        rec "$img" reg_bytes_first imgfs "$(reg_bytes)" B
    measure "$img" whole_read imgfs fresh_mount tarcat "$root" && {
        rec "$img" reg_bytes imgfs "$(reg_bytes)" B
        sync
        rec "$img" store_bytes imgfs "$(du_b "$STORE")" B
        rec "$img" rss imgfs $(($(awk '/^VmRSS:/ { print $2 }' "/proc/$IMGFS_PID/status") * 1024)) B
        rec "$img" rss_base imgfs "$BENCH_RSS_BASE" B
        rec "$img" index_bytes imgfs "$(du -sb "$STORE/index" | cut -f1)" B
    }

    # the same mount, now local: cold (page cache dropped) and hot, ÷ native
    for b in imgfs native; do
        local r=$root
        [ "$b" = native ] && r=$native
        measure "$img" tar_cold "$b" drop_caches tarcat "$r"
        measure "$img" tar_hot "$b" true tarcat "$r"
        measure "$img" find_cold "$b" drop_caches walk "$r"
        measure "$img" find_hot "$b" true walk "$r"
        measure "$img" stat_cold "$b" drop_caches statall "$r"
        measure "$img" stat_hot "$b" true statall "$r"
        [ "$bigsize" -ge 1048576 ] && measure_seq "$img" "$b" "$r/$big" "$bigsize"
        measure_rand "$img" "$b" "$r" "$list"
    done
    rec "$img" rss_walked imgfs $(($(awk '/^VmRSS:/ { print $2 }' "/proc/$IMGFS_PID/status") * 1024)) B

    # the first read after a remount with the registry stopped
    imgfs_down
    registry_stop >/dev/null
    measure "$img" offline_first imgfs remount cat "$root/$small"
    imgfs_down
    bench_reg_start >/dev/null

    # the first small file when only the indexes are kept
    EVICT_IMG=$img
    measure "$img" first_file_indexed imgfs evict_remount cat "$root/$small" &&
        rec "$img" reg_bytes_first_indexed imgfs "$(reg_bytes)" B
    imgfs_down
}

# The real program: python3 importing stdlib modules and numpy.
bench_program() {
    local img=$BENCH_PROG_IMG root native
    root=$BENCH_W/mnt/repos/$img/latest/rootfs
    native=$BENCH_W/bundle-$img/rootfs
    log "== program on $img: ${BENCH_PROG[*]}"
    rec "$img" prog info "${BENCH_PROG[*]}" cmd
    measure "$img" prog_new imgfs fresh_mount chroot "$root" "${BENCH_PROG[@]}"
    measure "$img" prog_local_cold imgfs drop_caches chroot "$root" "${BENCH_PROG[@]}"
    measure "$img" prog_local_cold_remount imgfs remount chroot "$root" "${BENCH_PROG[@]}"
    imgfs_down
    measure "$img" prog_local_cold native drop_caches chroot "$native" "${BENCH_PROG[@]}"
    measure "$img" prog_new skopeo_umoci "su_reset $img" su_prog "$img" "${BENCH_PROG[@]}"
    for d in overlay vfs; do
        # the pulled image from bench_image is still there: local first
        measure "$img" prog_local_cold "podman_$d" drop_caches pod_run "$d" "$img" "${BENCH_PROG[@]}"
        measure "$img" prog_new "podman_$d" "pod_reset $d" pod_pull_run "$d" "$img" "${BENCH_PROG[@]}"
        pod_reset "$d"
    done
}

bench_machine() {
    local disk
    disk=$(df --output=source "$BENCH_W" | tail -n 1)
    {
        echo "nproc	$(nproc)"
        echo "cpu	$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)"
        echo "ram	$(awk '/^MemTotal:/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)"
        echo "kernel	$(uname -r)"
        echo "disk	$disk ($(stat -f -c %T "$BENCH_W"), $(lsblk -ndo ROTA,SIZE "$disk" 2>/dev/null |
            awk '{ print ($1 == "1" ? "rotational" : "non-rotational") ", " $2 }'))"
        echo "os	$(. /etc/os-release && echo "$PRETTY_NAME")"
        echo "podman	$(podman --version | awk '{ print $3 }')"
        echo "skopeo	$(skopeo --version | awk '{ print $3 }')"
        echo "umoci	$(umoci --version | awk '{ print $3 }')"
        echo "registry	$(dpkg-query -W -f '${Version}' docker-registry 2>/dev/null)"
        echo "imgfs	$(git -C "$BENCH_SRC" rev-parse --short HEAD 2>/dev/null)$(git -C "$BENCH_SRC" diff --quiet HEAD -- . ':!BENCHMARKS.md' 2>/dev/null || echo ' (modified)')"
        echo "network	$([ "$BENCH_SHAPED" = 1 ] && echo 'veth to a network namespace, tbf 200 mbit/s each way' || echo 'loopback')"
        echo "mode	$([ "$BENCH_QUICK" = 1 ] && echo 'BENCH_QUICK=1 (stand-in images)' || echo full)"
        echo "nice	$(nice)"
        echo "load	$(cut -d' ' -f1-3 /proc/loadavg)"
        echo "date	$(date -u '+%Y-%m-%d %H:%M UTC')"
        [ -n "$BENCH_NOTE" ] && echo "note	$BENCH_NOTE"
    } > "$BENCH_CACHE_DIR/machine.tsv"
}

bench_main() {
    local img t0=$SECONDS
    : > "$BENCH_RES"
    gcc -O2 -Wall -pthread -o "$BENCH_W/randread" "$BENCH_LIB_DIR/randread.c" || fail "build randread"
    if [ "$BENCH_QUICK" = 1 ]; then
        BENCH_PROG=(/bin/sh -c 'cat /etc/os-release /usr/lib/python3.11/json/__init__.py')
    else
        BENCH_PROG=(/usr/bin/python3 -c "$BENCH_PY_IMPORT")
    fi
    BENCH_PROG_IMG=fat
    bench_reg_start
    for img in debian fat small; do
        sk copy --quiet --dest-tls-verify=false "oci:$BENCH_OCI:$img" "docker://$REG_ADDR/$img:latest" ||
            fail "push $img"
    done
    log "pushed debian fat small to $REG_ADDR"
    bench_machine
    for img in $BENCH_IMAGES; do
        bench_image "$img"
        [ "$img" = "$BENCH_PROG_IMG" ] && bench_program
        for d in overlay vfs; do pod_reset "$d"; done
        rm -rf --one-file-system "$BENCH_W/oci-$img" "$BENCH_W/bundle-$img"
    done
    echo "duration	$((SECONDS - t0)) s" >> "$BENCH_CACHE_DIR/machine.tsv"
    local out= chart=
    if [ "$BENCH_WRITE" = 1 ]; then
        out=$BENCH_SRC/BENCHMARKS.md chart=docs/bench.svg
        [ "$BENCH_QUICK" = 1 ] && out=$BENCH_CACHE_DIR/BENCHMARKS.md chart=bench.svg
        "$PY" "$BENCH_LIB_DIR/chart.py" "$BENCH_RES" "$(dirname "$out")/$chart" || chart=
    fi
    "$PY" "$BENCH_LIB_DIR/report.py" "$BENCH_CACHE_DIR/machine.tsv" "$BENCH_RES" ${out:+"$out"} ${chart:+"$chart"}
}
