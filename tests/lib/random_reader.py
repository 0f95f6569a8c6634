#!/usr/bin/python3
"""random_reader.py -- read random byte ranges of random files of image
trees in a mount and compare every byte with a reference tree (umoci
unpack, or the source of an import), until a stop file goes away.

    random_reader.py stable LISTFILE SEED OUT STOP
    random_reader.py victim LISTDIR  SEED OUT STOP

stable: LISTFILE has lines "MOUNT_ROOT REF_ROOT" of images that stay for
the whole run: any error fails.  victim: every file in LISTDIR holds one
such line, for an image that may be deleted at any moment: a read that
finds it gone (ENOENT, ESTALE: the lookup or open of a deleted image) is
counted as vanished, any other error fails; wrong bytes fail either way.
Each read opens the file, drops its cached pages (so the read reaches the
daemon, not the kernel's page cache), preads LEN bytes at OFF (random, LEN
from a byte to the whole file) and closes it.

OUT gets "ok reads=N vanished=M" or "bad ..." (the first failure, which
ends the reader).  Only for tests.
"""
import errno
import os
import random
import sys
import time

VANISH = (errno.ENOENT, errno.ESTALE)
LENS = (1, 511, 4096, 65536, 131072 + 7, 1 << 20)


def regular_files(ref):
    res = []
    for d, _, names in os.walk(ref):
        for n in names:
            p = os.path.join(d, n)
            if os.path.isfile(p) and not os.path.islink(p):
                res.append((os.path.relpath(p, ref), os.path.getsize(p)))
    res.sort()
    return res


def pread_all(fd, n, off):
    out = b""
    while len(out) < n:
        b = os.pread(fd, n - len(out), off + len(out))
        if not b:
            break
        out += b
    return out


def main():
    mode, lst, seed, out, stop = sys.argv[1:6]
    rng = random.Random(seed)
    trees = {}      # ref root -> its regular files

    def pick():
        if mode == "stable":
            with open(lst) as f:
                lines = [l.split() for l in f if l.strip()]
        else:
            lines = []
            for name in os.listdir(lst):
                try:
                    with open(os.path.join(lst, name)) as f:
                        lines.append(f.read().split())
                except FileNotFoundError:
                    pass    # unpublished meanwhile
        return rng.choice(lines) if lines else None

    reads = vanished = 0

    def result(text):
        with open(out + ".tmp", "w") as f:
            f.write(text + "\n")
        os.rename(out + ".tmp", out)

    while os.path.exists(stop):
        entry = pick()
        if not entry:
            time.sleep(0.05)
            continue
        mnt, ref = entry
        if ref not in trees:
            trees[ref] = regular_files(ref)
        rel, size = rng.choice(trees[ref])
        off = rng.randrange(size + 1)
        n = rng.choice(LENS + (size,))
        with open(os.path.join(ref, rel), "rb") as f:
            f.seek(off)
            want = f.read(n)
        path = os.path.join(mnt, rel)
        try:
            fd = os.open(path, os.O_RDONLY)
            try:
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
                got = pread_all(fd, n, off)
            finally:
                os.close(fd)
        except OSError as e:
            if mode == "victim" and e.errno in VANISH:
                vanished += 1
                time.sleep(rng.uniform(0.05, 0.2))
                continue
            return result("bad error %s reading %s at %d+%d" %
                          (errno.errorcode.get(e.errno, e.errno), path, off, n))
        reads += 1
        if got != want:
            first = next((i for i, (a, b) in enumerate(zip(got, want)) if a != b),
                         min(len(got), len(want)))
            return result("bad bytes %s at %d+%d: %d bytes, want %d, first "
                          "difference at +%d" % (path, off, n, len(got), len(want), first))
        if mode == "victim":
            time.sleep(rng.uniform(0.05, 0.2))   # deletions need the image idle
    result("ok reads=%d vanished=%d" % (reads, vanished))


if __name__ == "__main__":
    main()
