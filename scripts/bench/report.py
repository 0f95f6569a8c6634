#!/usr/bin/env python3
"""scripts/bench/report.py — Markdown tables from bench.sh's results.

  report.py MACHINE.tsv RESULTS.tsv [OUT.md [CHART]]

MACHINE.tsv: "key<TAB>value" lines describing the machine and the run.
RESULTS.tsv: "image<TAB>figure<TAB>tool<TAB>value<TAB>unit" lines.
Prints the document; with OUT.md also writes it there. Works on a partial
results file (an interrupted run): missing figures show as "–".
CHART: the path of chart.py's SVG relative to OUT.md, shown under the
introduction.
"""
import sys

TOOLS = [("imgfs", "imgfs"), ("native", "native (umoci rootfs)"),
         ("skopeo_umoci", "skopeo copy + umoci unpack"),
         ("podman_overlay", "podman overlay"), ("podman_vfs", "podman vfs")]

# (figure, label); the unit comes from the results.
FIGURES = [
    ("first_file", "first small file, never-seen image (peers: pull + read)"),
    ("first_file_indexed", "first small file, index kept but no layer blob (imgfs); peers: pull + read"),
    ("whole_read", "whole image, never-seen (imgfs: `tar cf -` of rootfs; peers: pull / copy+unpack)"),
    ("prog_new", "python3 imports, never-seen image"),
    ("prog_local_cold", "python3 imports, local image, page cache dropped"),
    ("prog_local_cold_remount", "python3 imports, local image, after remount + drop"),
    ("tar_cold", "`tar cf -` of rootfs, cold"),
    ("tar_hot", "`tar cf -` of rootfs, hot"),
    ("find_cold", "`find rootfs`, cold"),
    ("find_hot", "`find rootfs`, hot"),
    ("stat_cold", "stat of every file (`find -printf`), cold"),
    ("stat_hot", "stat of every file (`find -printf`), hot"),
    ("seq_cold", "sequential read of the largest file, cold"),
    ("seq_warm", "sequential read of the largest file, warm"),
    ("rand_ops", "64 random 4 KiB readers (open+pread+close), cold start"),
    ("rand_p99", "  … their p99 latency"),
    ("offline_first", "first read after remount, registry stopped"),
    ("reg_bytes_first", "bytes fetched from the registry for the first small file"),
    ("reg_bytes_first_indexed", "  … with the index kept (ranged fetches)"),
    ("reg_bytes", "bytes fetched from the registry for the whole image"),
    ("store_bytes", "bytes on disk after a full read"),
    ("rss", "daemon RSS after `tar` of the rootfs"),
    ("rss_base", "daemon RSS mounted, no image read yet"),
    ("rss_walked", "daemon RSS after all the walks"),
    ("rss_per_file", "  … per file in the image, beyond the RSS with no image"),
    ("index_bytes", "index size (STORE/index)"),
    ("index_ratio", "  … ÷ compressed layer size"),
]

# For these a larger value is better (the ratio reads the other way).
HIGHER_BETTER = {"seq_cold", "seq_warm", "rand_ops"}


def num(v):
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def fmt(v, unit):
    x = num(v)
    if x is None:
        return v if v else "–"
    if unit == "s":
        return "%.3f s" % x if x < 1 else "%.2f s" % x
    if unit == "B":
        for u, k in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
            if x >= k:
                return "%.1f %s" % (x / k, u)
        return "%d B" % x
    if unit == "ratio":
        return "%.3f" % x
    if unit in ("ops/s", "count"):
        return "{:,}".format(int(x))
    return "%s %s" % (("%.1f" % x) if x != int(x) else int(x), unit)


def main():
    if len(sys.argv) not in (3, 4, 5):
        sys.exit(__doc__)
    machine = []
    with open(sys.argv[1]) as f:
        for line in f:
            k, _, v = line.rstrip("\n").partition("\t")
            machine.append((k, v))
    res, images = {}, []
    with open(sys.argv[2]) as f:
        for line in f:
            p = line.rstrip("\n").split("\t")
            if len(p) != 5:
                continue
            img, fig, tool, val, unit = p
            if img not in images:
                images.append(img)
            res[(img, fig, tool)] = (val, unit)
    # derived figures
    for img in images:
        files = num(res.get((img, "files", "info"), (None,))[0])
        comp = num(res.get((img, "compressed", "info"), (None,))[0])
        rss = num(res.get((img, "rss_walked", "imgfs"), (None,))[0])
        idx = num(res.get((img, "index_bytes", "imgfs"), (None,))[0])
        base = num(res.get((img, "rss_base", "imgfs"), (None,))[0]) or 0
        if files and rss:
            res[(img, "rss_per_file", "imgfs")] = ("%.0f" % ((rss - base) / files), "B")
        if comp and idx is not None:
            res[(img, "index_ratio", "imgfs")] = ("%.4f" % (idx / comp), "ratio")
        # With the index kept, imgfs is compared with the peers' pull of
        # the same image: what they must do to read that first file.
        if (img, "first_file_indexed", "imgfs") in res:
            for t, _ in TOOLS[2:]:
                if (img, "first_file", t) in res:
                    res[(img, "first_file_indexed", t)] = res[(img, "first_file", t)]
                if (img, "reg_bytes", t) in res:
                    res[(img, "reg_bytes_first_indexed", t)] = res[(img, "reg_bytes", t)]

    out = []
    w = out.append
    mode = dict(machine).get("mode", "")
    w("# imgfs benchmarks")
    w("")
    w("Written by `scripts/bench.sh` (%s). Images are built with debootstrap, "
      "apt-get in a chroot, umoci and GNU tar, pushed with skopeo to a local "
      "docker-registry and read back by imgfs and its peers in the same run. "
      "Times are wall-clock seconds, the median of 3 runs where one run takes "
      "under 10 s, else 1 run. \"Never-seen\" means a fresh imgfs store and mount "
      "(fresh podman root, fresh OCI directory) and a dropped page cache; "
      "\"cold\" drops the page cache (`echo 3 > /proc/sys/vm/drop_caches`) with "
      "the daemon still running; \"hot\"/\"warm\" repeats right after a read. "
      "In peer cells, ×N is imgfs ÷ peer: below 1 imgfs took less time (or "
      "bytes); for MB/s and ops/s above 1 imgfs is faster." % mode)
    w("")
    if len(sys.argv) == 5:
        w("![imgfs ÷ peer for the figures the goals name](%s)" % sys.argv[4])
        w("")
    w("## Machine and run")
    w("")
    w("| | |")
    w("|---|---|")
    for k, v in machine:
        w("| %s | %s |" % (k, v.replace("|", "\\|")))
    w("")
    for img in images:
        info = {f: res.get((img, f, "info")) for f in ("layers", "compressed", "unpacked", "files", "seq_file", "prog")}
        desc = []
        if info["layers"]:
            desc.append("%s layer(s)" % info["layers"][0])
        if info["compressed"]:
            desc.append("%s compressed" % fmt(*info["compressed"]))
        if info["unpacked"]:
            desc.append("%s unpacked" % fmt(*info["unpacked"]))
        if info["files"]:
            desc.append("%s entries" % fmt(*info["files"]))
        w("## Image `%s`: %s" % (img, ", ".join(desc)))
        w("")
        if info["seq_file"]:
            w("Largest file (sequential and random reads): `%s`." % info["seq_file"][0])
        if info["prog"]:
            w("Program: `chroot ROOTFS %s` (podman: `chroot` into `podman image mount`)." % info["prog"][0])
        w("")
        w("| figure | " + " | ".join(t[1] for t in TOOLS) + " |")
        w("|---|" + "---|" * len(TOOLS))
        for fig, label in FIGURES:
            cells = [res.get((img, fig, t[0])) for t in TOOLS]
            if not any(cells):
                continue
            mine = num(cells[0][0]) if cells[0] else None
            row = []
            for i, c in enumerate(cells):
                if not c:
                    row.append("")
                    continue
                s = fmt(*c)
                v = num(c[0])
                if i > 0 and mine is not None and v:
                    s += " (×%.2f)" % (mine / v)
                row.append(s)
            w("| %s | %s |" % (label, " | ".join(row)))
        w("")
    doc = "\n".join(out)
    print(doc)
    if len(sys.argv) >= 4:
        with open(sys.argv[3], "w") as f:
            f.write(doc)


if __name__ == "__main__":
    main()
