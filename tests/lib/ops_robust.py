#!/usr/bin/python3
"""ops_robust.py -- every file operation on every kind of node of a mount.

    ops_robust.py MNT KIND=PATH...

For each KIND=PATH it runs a fixed matrix of system calls (stat, open in
every mode, read, lseek, fsync, mmap, readdir, readlink, the xattr calls,
chmod/chown/utime/truncate, and creating, linking, renaming and removing a
child name that does not exist) and prints one line per call: the node
kind, the call, and OK or the errno name.  Then it does the same with a
file open in MNT/import/ (created O_RDWR, nothing committed): read,
pread, sendfile, copy_file_range, lseek, fsync, the f* calls, and opening
it again through /proc/self/fd.

Any result is acceptable except one that shows the daemon is gone: after
every call the mount root must still list.  The first call after which it
does not is named and the exit status is 1.  A few answers are pinned
(a read of the import file fails with EINVAL or EBADF, a second open of it
with EACCES); a wrong one also exits 1.  With OPS_STATELESS=1 in the
environment (a mount with -o stateless_files, where the kernel opens files
without asking) the second open succeeds, reading through it gives nothing
or EBADF and writing through it fails with EBADF.  Nothing the calls create is left
behind: children are removed when their creation succeeded, and the import
file is never committed (it is closed with nothing valid written).
"""
import errno
import mmap
import os
import sys
import tempfile

MNT = sys.argv[1]
STATELESS = os.environ.get("OPS_STATELESS") == "1"
NODES = [a.split("=", 1) for a in sys.argv[2:]]
DEAD = {errno.ENOTCONN, errno.ECONNABORTED}
failures = []
results = []


def name(e):
    return errno.errorcode.get(e.errno, str(e.errno))


def alive():
    try:
        os.listdir(MNT)
        return True
    except OSError as e:
        return e.errno not in DEAD


def run(kind, what, fn):
    """Run fn(); record OK, the errno, or a signal; stop if the mount died."""
    try:
        r = fn()
        res = "OK" if r is None else r
    except OSError as e:
        res = name(e)
    results.append((kind, what, res))
    print("%-10s %-28s %s" % (kind, what, res), flush=True)
    if not alive():
        print("FAIL: the mount stopped answering after %s on %s" % (what, kind),
              flush=True)
        sys.exit(1)
    return res


def expect(kind, what, res, allowed):
    if res not in allowed:
        failures.append("%s %s: got %s, expected one of %s"
                        % (kind, what, res, "/".join(sorted(allowed))))


def in_child(fn):
    """fn() in a forked child: a SIGBUS of an mmap access must not end us."""
    pid = os.fork()
    if pid == 0:
        try:
            fn()
            os._exit(0)
        except OSError as e:
            os.write(2, ("%s\n" % name(e)).encode())
            os._exit(3)
        except BaseException:
            os._exit(4)
    _, st = os.waitpid(pid, 0)
    if os.WIFSIGNALED(st):
        return "signal %d" % os.WTERMSIG(st)
    return "OK" if os.WEXITSTATUS(st) == 0 else "exit %d" % os.WEXITSTATUS(st)


def fd_ops(kind, fd, label):
    """The calls on an open descriptor; fd stays open."""
    run(kind, label + " read", lambda: os.read(fd, 16) and None)
    run(kind, label + " pread 1T", lambda: os.pread(fd, 16, 1 << 40) and None)
    run(kind, label + " preadv", lambda: os.preadv(fd, [bytearray(8)] * 2, 0) and None)
    for w, lbl in ((os.SEEK_END, "END"), (os.SEEK_DATA, "DATA"), (os.SEEK_HOLE, "HOLE")):
        run(kind, label + " lseek " + lbl, lambda w=w: os.lseek(fd, 0, w) and None)
    run(kind, label + " lseek SET", lambda: os.lseek(fd, 0, os.SEEK_SET) and None)
    run(kind, label + " fsync", lambda: os.fsync(fd))
    run(kind, label + " fdatasync", lambda: os.fdatasync(fd))
    run(kind, label + " fstat", lambda: os.fstat(fd) and None)
    run(kind, label + " fstatvfs", lambda: os.fstatvfs(fd) and None)
    run(kind, label + " flistxattr", lambda: os.listxattr(fd) and None)
    run(kind, label + " fgetxattr", lambda: os.getxattr(fd, "user.x") and None)
    run(kind, label + " fadvise", lambda: os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_WILLNEED))
    run(kind, label + " getdents", lambda: os.listdir(fd) and None)

    def sendfile():
        with tempfile.TemporaryFile() as t:
            os.sendfile(t.fileno(), fd, 0, 16)

    def copy_range():
        with tempfile.TemporaryFile() as t:
            os.copy_file_range(fd, t.fileno(), 16, 0, 0)

    run(kind, label + " sendfile", sendfile)
    run(kind, label + " copy_file_range", copy_range)

    def map_read():
        m = mmap.mmap(fd, 4096, mmap.MAP_PRIVATE, mmap.PROT_READ)
        m[0:16]
        m.close()

    run(kind, label + " mmap read", lambda: in_child(map_read))


def path_ops(kind, p):
    nf = dict(follow_symlinks=False)
    run(kind, "lstat", lambda: os.lstat(p) and None)
    run(kind, "stat", lambda: os.stat(p) and None)
    run(kind, "statvfs", lambda: os.statvfs(p) and None)
    for m, lbl in ((os.R_OK, "R"), (os.W_OK, "W"), (os.X_OK, "X")):
        run(kind, "access " + lbl, lambda m=m: None if os.access(p, m) else "denied")
    for flags, lbl in ((os.O_RDONLY, "RDONLY"), (os.O_RDONLY | os.O_NOFOLLOW, "NOFOLLOW"),
                       (os.O_RDONLY | os.O_DIRECTORY, "DIRECTORY"),
                       (os.O_RDONLY | os.O_NONBLOCK, "NONBLOCK"),
                       (os.O_PATH | os.O_NOFOLLOW, "PATH")):
        def o(flags=flags, lbl=lbl):
            fd = os.open(p, flags)
            try:
                if lbl == "RDONLY":
                    fd_ops(kind, fd, "fd")
                else:
                    os.fstat(fd)
            finally:
                os.close(fd)
        run(kind, "open " + lbl, o)
    for flags, lbl in ((os.O_WRONLY, "WRONLY"), (os.O_RDWR, "RDWR"),
                       (os.O_RDONLY | os.O_TRUNC, "TRUNC"),
                       (os.O_WRONLY | os.O_APPEND, "APPEND")):
        run(kind, "open " + lbl, lambda flags=flags: os.close(os.open(p, flags)))
    run(kind, "listdir", lambda: os.listdir(p) and None)
    run(kind, "readlink", lambda: os.readlink(p) and None)
    for x in ("user.x", "security.capability", "system.posix_acl_access",
              "system.posix_acl_default", "trusted.overlay.opaque"):
        run(kind, "getxattr " + x, lambda x=x: os.getxattr(p, x, **nf) and None)
    run(kind, "listxattr", lambda: os.listxattr(p, **nf) and None)
    run(kind, "setxattr", lambda: os.setxattr(p, "user.x", b"1", **nf))
    run(kind, "removexattr", lambda: os.removexattr(p, "user.x", **nf))
    if not os.path.islink(p):
        run(kind, "chmod", lambda: os.chmod(p, os.stat(p).st_mode & 0o7777))
    run(kind, "lchown", lambda: os.lchown(p, os.lstat(p).st_uid, os.lstat(p).st_gid))
    run(kind, "utime", lambda: os.utime(p, **nf))
    run(kind, "truncate 0", lambda: os.truncate(p, 0))
    run(kind, "truncate 1", lambda: os.truncate(p, 1))

    # Children: a name that is not there.  What the calls make is removed.
    c = os.path.join(p, "zz-robust")
    run(kind, "lookup child", lambda: os.lstat(c) and None)
    if run(kind, "mkdir child", lambda: os.mkdir(c)) == "OK":
        run(kind, "rmdir child", lambda: os.rmdir(c))
    run(kind, "mkfifo child", lambda: os.mkfifo(c))
    run(kind, "mknod child", lambda: os.mknod(c, 0o600 | 0o100000))
    run(kind, "symlink child", lambda: os.symlink("nowhere", c))
    run(kind, "link node->child", lambda: os.link(p, c, follow_symlinks=False))
    run(kind, "rename child", lambda: os.rename(c, c + "2"))
    run(kind, "unlink child", lambda: os.unlink(c))
    run(kind, "rmdir child (none)", lambda: os.rmdir(c))


def import_ops(imp):
    kind = "importfile"
    fd = os.open(os.path.join(imp, "zz-robust.tar"), os.O_CREAT | os.O_RDWR, 0o644)
    try:
        r = run(kind, "read (nothing written)", lambda: os.read(fd, 16) and None)
        expect(kind, "read", r, {"EINVAL", "EBADF"})
        fd_ops(kind, fd, "fd")
        # Opening it again reaches open with an import file's node.
        # import/ on a connection of its own (a link in the root) keeps
        # its opens, whatever the main connection does.
        own = os.path.islink(imp.rstrip("/"))
        for flags, lbl in ((os.O_RDONLY, "RDONLY"), (os.O_WRONLY, "WRONLY"),
                           (os.O_RDWR, "RDWR")):
            if not STATELESS or own:
                r = run(kind, "reopen " + lbl,
                        lambda flags=flags: os.close(os.open("/proc/self/fd/%d" % fd, flags)))
                expect(kind, "reopen " + lbl, r, {"EACCES"})
                continue
            # Opened without asking the daemon: the handle-less reads and
            # writes are refused instead.
            fd2 = os.open("/proc/self/fd/%d" % fd, flags)
            try:
                if flags != os.O_WRONLY:
                    # The kernel answers from the size it has (0) when
                    # it can: nothing, or the daemon's refusal.
                    r = run(kind, "read reopened " + lbl,
                            lambda: "DATA" if os.read(fd2, 16) else None)
                    expect(kind, "read reopened " + lbl, r, {"EBADF", "OK"})
                if flags != os.O_RDONLY:
                    r = run(kind, "write reopened " + lbl, lambda: os.write(fd2, b"x") and None)
                    expect(kind, "write reopened " + lbl, r, {"EBADF"})
            finally:
                os.close(fd2)
        run(kind, "fchmod", lambda: os.fchmod(fd, 0o600))
        run(kind, "fchown", lambda: os.fchown(fd, 0, 0))
        run(kind, "futime", lambda: os.utime(fd))
        run(kind, "ftruncate 0", lambda: os.ftruncate(fd, 0))
        run(kind, "ftruncate 10", lambda: os.ftruncate(fd, 10))
        run(kind, "fsetxattr", lambda: os.setxattr(fd, "user.x", b"1"))
        run(kind, "fremovexattr", lambda: os.removexattr(fd, "user.x"))
        # Some bytes (not an archive): reads must still fail, not crash.
        run(kind, "write 512", lambda: os.write(fd, b"\0" * 512) and None)
        r = run(kind, "pread after write", lambda: os.pread(fd, 16, 0) and None)
        expect(kind, "pread after write", r, {"EINVAL", "EBADF"})
    finally:
        # The flush commits: 512 zero bytes are no archive, so it fails.
        run(kind, "close", lambda: os.close(fd))


for kind, p in NODES:
    if kind == "importdir":
        path_ops(kind, p)
        import_ops(p)
    else:
        path_ops(kind, p)

print("%d calls, %d nodes; the mount answered after each" % (len(results), len(NODES)))
for f in failures:
    print("FAIL: " + f)
sys.exit(1 if failures else 0)
