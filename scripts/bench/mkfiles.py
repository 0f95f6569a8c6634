#!/usr/bin/env python3
"""scripts/bench/mkfiles.py — generated content for the benchmark images.

  mkfiles.py tree DIR N   N entries in DIR/dNNN/fNNNNNN (1000 per directory):
                          every 20th entry from 7 is a symlink to its
                          predecessor, every 20th from 13 a hardlink to the
                          entry three before it, the rest small text files of
                          0..3000 bytes. Index N/2 is always a regular file
                          (the benchmark's "first small file").
  mkfiles.py csv FILE ROWS  a CSV of ROWS lines (about 78 bytes each).

Content comes from a fixed seed so that every build of the cache has the
same shape (not the same bytes: the tar mtimes differ).
"""
import os
import random
import sys


def tree(root, n):
    rnd = random.Random(42)
    words = [w for w in "lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod "
             "tempor incididunt ut labore et dolore magna aliqua".split()]
    for i in range(n):
        d = os.path.join(root, "d%03d" % (i // 1000))
        if i % 1000 == 0:
            os.makedirs(d, exist_ok=True)
        p = os.path.join(d, "f%06d" % i)
        k = i % 20
        if k == 7 and i % 1000 >= 1:
            os.symlink("f%06d" % (i - 1), p)
        elif k == 13 and i % 1000 >= 3:
            os.link(os.path.join(d, "f%06d" % (i - 3)), p)
        else:
            size = rnd.randint(0, 3000)
            text = []
            total = 0
            while total < size:
                w = rnd.choice(words)
                text.append(w)
                total += len(w) + 1
            with open(p, "w") as f:
                f.write((" ".join(text) + "\n")[:size] if size else "")


def csv(path, rows):
    rnd = random.Random(7)
    cats = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot"]
    with open(path, "w") as f:
        f.write("id,date,name,value,category,flag\n")
        buf = []
        for i in range(rows):
            buf.append("%d,2024-%02d-%02dT%02d:%02d:%02d,user%07d,%.6f,%s,%d\n" % (
                i, rnd.randint(1, 12), rnd.randint(1, 28), rnd.randint(0, 23),
                rnd.randint(0, 59), rnd.randint(0, 59), rnd.randint(0, 9999999),
                rnd.uniform(-1e6, 1e6), rnd.choice(cats), rnd.randint(0, 1)))
            if len(buf) == 10000:
                f.write("".join(buf))
                buf = []
        f.write("".join(buf))


def main():
    if len(sys.argv) == 4 and sys.argv[1] == "tree":
        tree(sys.argv[2], int(sys.argv[3]))
    elif len(sys.argv) == 4 and sys.argv[1] == "csv":
        csv(sys.argv[2], int(sys.argv[3]))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
