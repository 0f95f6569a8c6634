#!/usr/bin/env python3
"""scripts/bench/chart.py — the benchmark's ratios as a bar chart (SVG).

  chart.py RESULTS.tsv OUT.svg

For each image, imgfs's time divided by a peer's for the figures the
goals are stated in (see BENCHMARKS.md): below the line at 1 imgfs is
faster.  Drawn by gnuplot (package gnuplot-nox) on a log scale, so that
×0.02 and ×5 are both readable.  Exits 1 without writing anything when
gnuplot is missing (bench.sh then leaves the chart out: the tables are
the result, the chart a view of them).
"""
import os
import shutil
import subprocess
import sys
import tempfile

# (figure, peer, label): the peer the goal compares imgfs with; "|"
# breaks the label's line.
BARS = [
    ("first_file", "podman_overlay", "first file, never-seen|÷ podman pull"),
    ("first_file_indexed", "podman_overlay", "first file, index kept|÷ podman pull"),
    ("whole_read", "skopeo_umoci", "whole image|÷ skopeo+umoci"),
    ("tar_cold", "native", "tar, cold|÷ native"),
    ("tar_hot", "native", "tar, hot|÷ native"),
    ("find_cold", "native", "find, cold|÷ native"),
    ("find_hot", "native", "find, hot|÷ native"),
]


def load(path):
    res, images = {}, []
    with open(path) as f:
        for line in f:
            p = line.rstrip("\n").split("\t")
            if len(p) != 5:
                continue
            img, fig, tool, val, _ = p
            try:
                res[(img, fig, tool)] = float(val)
            except ValueError:
                continue
            if img not in images:
                images.append(img)
    # The index-kept first file is compared with the peers' full pull.
    for img in images:
        for _, peer, _ in BARS:
            if (img, "first_file", peer) in res:
                res.setdefault((img, "first_file_indexed", peer), res[(img, "first_file", peer)])
    return res, images


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    res, images = load(sys.argv[1])
    gp = shutil.which("gnuplot")
    if not gp or not images:
        sys.exit("chart.py: no gnuplot or no results; no chart")
    rows = []
    for fig, peer, label in BARS:
        cells = []
        for img in images:
            a, b = res.get((img, fig, "imgfs")), res.get((img, fig, peer))
            cells.append("%.4f" % (a / b) if a is not None and b else "NaN")
        rows.append('"%s" %s' % (label.replace("|", "\\n"), " ".join(cells)))
    with tempfile.TemporaryDirectory() as d:
        data = os.path.join(d, "ratios.dat")
        with open(data, "w") as f:
            f.write("\n".join(rows) + "\n")
        plots = ", ".join('"%s" using %d:xtic(1) title "%s"' % (data, i + 2, img)
                          for i, img in enumerate(images))
        script = "\n".join([
            'set terminal svg size 960,480 dynamic font "sans,11"',
            'set output "%s"' % sys.argv[2],
            'set title "imgfs ÷ peer (log scale; below 1: imgfs is faster)"',
            "set logscale y", "set yrange [0.005:20]", "set grid ytics",
            "set style data histograms", "set style histogram clustered gap 1",
            "set style fill solid 0.8 border -1", "set boxwidth 0.9",
            "set xtics scale 0 nomirror", "set bmargin 4",
            "set key top left",
            "set arrow from graph 0, first 1 to graph 1, first 1 nohead dt 2 lw 2",
            "plot " + plots, ""])
        subprocess.run([gp], input=script, text=True, check=True)


if __name__ == "__main__":
    main()
