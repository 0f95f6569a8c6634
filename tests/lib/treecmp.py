#!/usr/bin/python3
"""Compare two directory trees: EXPECTED (e.g. `umoci unpack`'s rootfs) and
ACTUAL (e.g. imgfs's mounted rootfs/).

usage: treecmp.py [options] EXPECTED ACTUAL

Compared for every path (the roots included, as "."):
  file type, permission bits incl. setuid/setgid/sticky, uid, gid,
  size (regular files and symlinks), sha256 of regular file contents,
  symlink targets (os.readlink; never followed), xattrs (listxattr/getxattr
  without following symlinks; security.selinux ignored), device numbers
  (major, minor) of character and block devices, link count of non-directories,
  hardlink groups (the partition of non-directories by (st_dev, st_ino)),
  and mtimes in whole seconds (umoci unpack restores the tar's mtimes,
  directories included, so they are comparable).

Nothing is opened but regular files (read-only, streamed); fifos and devices
are only lstat'ed. Prints every difference, one per line, and a summary;
exit 0 if the trees are equal, 1 if not, 2 on usage errors.

Options:
  --no-mtime            do not compare mtimes
  --no-dir-mtime        do not compare directory mtimes
  --no-root             do not compare the roots' own metadata
  --no-xattr            do not compare xattrs
  --ignore-xattr NAME   ignore this xattr (repeatable)
  --exclude REL         ignore the subtree at this relative path (repeatable)
  --quiet               print only the summary line
"""

import argparse
import hashlib
import os
import stat
import sys

IGNORED_XATTRS = {"security.selinux"}


class Entry:
    __slots__ = ("st", "kind", "sha", "target", "xattrs", "err")

    def __init__(self):
        self.sha = self.target = None
        self.xattrs = {}
        self.err = None


KINDS = {
    stat.S_IFREG: "file", stat.S_IFDIR: "dir", stat.S_IFLNK: "symlink",
    stat.S_IFCHR: "chardev", stat.S_IFBLK: "blockdev", stat.S_IFIFO: "fifo",
    stat.S_IFSOCK: "socket",
}


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb", buffering=0) as f:
        while True:
            b = f.read(1 << 20)
            if not b:
                break
            h.update(b)
    return h.hexdigest()


def read_xattrs(path, opts):
    out = {}
    try:
        names = os.listxattr(path, follow_symlinks=False)
    except OSError as e:
        if e.errno in (95, 61):  # EOPNOTSUPP, ENODATA
            return out
        raise
    for n in names:
        if n in IGNORED_XATTRS or n in opts.ignore_xattr:
            continue
        out[n] = os.getxattr(path, n, follow_symlinks=False)
    return out


def scan(root, opts):
    """Return {relpath: Entry} for the tree under root (root itself is '.')."""
    entries = {}
    excluded = {os.path.normpath(x) for x in opts.exclude}
    stack = ["."]
    while stack:
        rel = stack.pop()
        full = root if rel == "." else os.path.join(root, rel)
        e = Entry()
        try:
            e.st = os.lstat(full)
        except OSError as ex:
            e.st = None
            e.err = f"lstat: {ex.strerror}"
            e.kind = "error"
            entries[rel] = e
            continue
        e.kind = KINDS.get(stat.S_IFMT(e.st.st_mode), "unknown")
        try:
            if e.kind == "file":
                e.sha = sha256(full)
            elif e.kind == "symlink":
                e.target = os.readlink(full)
            if not opts.no_xattr:
                e.xattrs = read_xattrs(full, opts)
            if e.kind == "dir":
                for name in sorted(os.listdir(full)):
                    child = name if rel == "." else os.path.join(rel, name)
                    if child not in excluded:
                        stack.append(child)
        except OSError as ex:
            e.err = f"{ex.strerror} (errno {ex.errno})"
        entries[rel] = e
    return entries


def fmt_mode(m):
    return "%04o" % stat.S_IMODE(m)


def compare_entry(rel, a, b, opts, out):
    def diff(what, x, y):
        out.append(f"{rel}: {what}: expected {x!r}, actual {y!r}")

    if a.err or b.err:
        if a.err != b.err:
            diff("error", a.err, b.err)
        if a.st is None or b.st is None:
            return
    if a.kind != b.kind:
        diff("type", a.kind, b.kind)
        return
    if rel == "." and opts.no_root:
        return
    sa, sb = a.st, b.st
    if stat.S_IMODE(sa.st_mode) != stat.S_IMODE(sb.st_mode):
        diff("mode", fmt_mode(sa.st_mode), fmt_mode(sb.st_mode))
    if sa.st_uid != sb.st_uid:
        diff("uid", sa.st_uid, sb.st_uid)
    if sa.st_gid != sb.st_gid:
        diff("gid", sa.st_gid, sb.st_gid)
    if a.kind in ("file", "symlink") and sa.st_size != sb.st_size:
        diff("size", sa.st_size, sb.st_size)
    if a.kind == "file" and a.sha != b.sha:
        diff("sha256", a.sha, b.sha)
    if a.kind == "symlink" and a.target != b.target:
        diff("symlink target", a.target, b.target)
    if a.kind in ("chardev", "blockdev"):
        da = (os.major(sa.st_rdev), os.minor(sa.st_rdev))
        db = (os.major(sb.st_rdev), os.minor(sb.st_rdev))
        if da != db:
            diff("device", "%d,%d" % da, "%d,%d" % db)
    if a.kind != "dir" and sa.st_nlink != sb.st_nlink:
        diff("nlink", sa.st_nlink, sb.st_nlink)
    if not opts.no_xattr and a.xattrs != b.xattrs:
        for n in sorted(set(a.xattrs) | set(b.xattrs)):
            if a.xattrs.get(n) != b.xattrs.get(n):
                diff(f"xattr {n}", a.xattrs.get(n), b.xattrs.get(n))
    # The root's mtime in an umoci unpack is the time of the unpack when a
    # child is written in a later second (umoci restores the mtimes of the
    # entries it extracts, not of the directory it extracts into), so it
    # says nothing about the image.
    if not opts.no_mtime and not (a.kind == "dir" and opts.no_dir_mtime) and rel != ".":
        if int(sa.st_mtime) != int(sb.st_mtime):
            diff("mtime", int(sa.st_mtime), int(sb.st_mtime))


def link_groups(entries):
    """{relpath: frozenset of paths sharing its inode} for non-directories."""
    by_ino = {}
    for rel, e in entries.items():
        if e.st is not None and e.kind not in ("dir", "error"):
            by_ino.setdefault((e.st.st_dev, e.st.st_ino), set()).add(rel)
    groups = {}
    for members in by_ino.values():
        fs = frozenset(members)
        for m in members:
            groups[m] = fs
    return groups


def main():
    ap = argparse.ArgumentParser(usage=__doc__)
    ap.add_argument("expected")
    ap.add_argument("actual")
    ap.add_argument("--no-mtime", action="store_true")
    ap.add_argument("--no-dir-mtime", action="store_true")
    ap.add_argument("--no-root", action="store_true")
    ap.add_argument("--no-xattr", action="store_true")
    ap.add_argument("--ignore-xattr", action="append", default=[])
    ap.add_argument("--exclude", action="append", default=[])
    ap.add_argument("--quiet", action="store_true")
    opts = ap.parse_args()
    for p in (opts.expected, opts.actual):
        if not os.path.isdir(p):
            print(f"treecmp: {p}: not a directory", file=sys.stderr)
            return 2

    exp = scan(opts.expected, opts)
    act = scan(opts.actual, opts)
    out = []
    for rel in sorted(set(exp) - set(act)):
        out.append(f"{rel}: missing in actual ({exp[rel].kind})")
    for rel in sorted(set(act) - set(exp)):
        out.append(f"{rel}: unexpected in actual ({act[rel].kind})")
    common = sorted(set(exp) & set(act))
    for rel in common:
        compare_entry(rel, exp[rel], act[rel], opts, out)

    ge, ga = link_groups(exp), link_groups(act)
    seen = set()
    for rel in common:
        if rel not in ge or rel not in ga:
            continue
        e_grp = ge[rel] & set(common)
        a_grp = ga[rel] & set(common)
        if e_grp != a_grp and ge[rel] not in seen:
            seen.add(ge[rel])
            out.append(f"{rel}: hardlink group: expected {sorted(e_grp)}, actual {sorted(a_grp)}")

    if not opts.quiet:
        for line in out:
            print(line)
    print(f"treecmp: {len(exp)} expected, {len(act)} actual entries, {len(out)} differences")
    return 1 if out else 0


if __name__ == "__main__":
    sys.exit(main())
