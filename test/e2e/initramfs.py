"""Builds the lab guest's initramfs: busybox, the kernel modules, the freshly
built qgad, Debian's qemu-ga, socat, chpasswd (with PAM) and their shared
libraries (found with ldd), and init.sh as /init.  The tree is usrmerged like
Debian 12 (/bin, /sbin, /lib, /lib64 are links into /usr) and written as an
uncompressed newc cpio: unpacking gzip under TCG costs more than it saves.
"""

import hashlib
import os
import re
import stat
import subprocess

HERE = os.path.dirname(os.path.abspath(__file__))
BUSYBOX = "/bin/busybox"
HOSTNAME = "qgad-lab"
OS_RELEASE = """PRETTY_NAME="qgad lab guest 1"
NAME="qgad lab"
VERSION_ID="1"
VERSION="1 (e2e)"
ID=qgadlab
VARIANT="end-to-end"
VARIANT_ID=e2e
"""
PASSWD = "root:x:0:0:root:/root:/bin/sh\nlabuser:x:1000:1000:lab user:/home/labuser:/bin/sh\n"
GROUP = "root:x:0:\nlabuser:x:1000:\n"
SHADOW = "root:*:19000:0:99999:7:::\nlabuser:!:19000:0:99999:7:::\n"
# chpasswd runs the PAM "password" stack of /etc/pam.d/chpasswd.
PAM_CHPASSWD = "password required pam_unix.so yescrypt\n"
PAM_OTHER = "auth required pam_deny.so\naccount required pam_deny.so\n" \
            "password required pam_deny.so\nsession required pam_deny.so\n"
PAM_DIR = "/usr/lib/x86_64-linux-gnu/security"
# /sbin/shutdown as qemu-ga and qgad call it (-h/-H halt, -P power off,
# -r reboot, then a time and an optional message); busybox has none.
SHUTDOWN = """#!/bin/sh
action=poweroff
for a in "$@"; do
    case "$a" in
    -r) action=reboot ;;
    -H) action=halt ;;
    -P) action=poweroff ;;
    esac
done
echo "LAB: shutdown $*" >/dev/console
sync
exec busybox $action -f
"""


def _usr_path(path):
    """Where a host path lives in the usrmerged guest tree."""
    for top in ("/bin/", "/sbin/", "/lib/", "/lib64/"):
        if path.startswith(top):
            return "/usr" + path
    return path


def _ldd(binary):
    out = subprocess.run(["ldd", binary], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
    libs = []
    for line in out.stdout.splitlines():
        if "not found" in line:
            raise RuntimeError("%s: %s (install it on the host)" % (binary, line.strip()))
        m = re.search(r"(/\S+) \(0x", line)
        if m:
            libs.append(m.group(1))
    if out.returncode != 0 and "not a dynamic executable" not in out.stdout + out.stderr:
        raise RuntimeError("ldd %s failed: %s" % (binary, out.stderr))
    return libs


class Tree:
    """An in-memory file tree: guest path -> (mode, bytes or symlink target)."""

    def __init__(self):
        self.entries = {}

    def dir(self, path, mode=0o755):
        parts = path.strip("/").split("/")
        for i in range(1, len(parts) + 1):
            p = "/" + "/".join(parts[:i])
            if p not in self.entries:
                self.entries[p] = (stat.S_IFDIR | mode, b"")

    def data(self, path, content, mode=0o644):
        self.dir(os.path.dirname(path))
        if isinstance(content, str):
            content = content.encode()
        self.entries[path] = (stat.S_IFREG | mode, content)

    def file(self, path, host_path, mode=None):
        with open(host_path, "rb") as f:
            content = f.read()
        if mode is None:
            mode = stat.S_IMODE(os.stat(host_path).st_mode)
        self.data(path, content, mode)

    def link(self, path, target):
        self.dir(os.path.dirname(path))
        self.entries[path] = (stat.S_IFLNK | 0o777, target.encode())

    def node(self, path, mode, major, minor):
        self.dir(os.path.dirname(path))
        self.entries[path] = (mode, (major, minor))

    def binary(self, guest_path, host_path):
        """A dynamically linked program and every library ldd finds for it."""
        self.file(guest_path, host_path, 0o755)
        for lib in _ldd(host_path):
            gp = _usr_path(lib)
            if gp not in self.entries:
                self.file(gp, os.path.realpath(lib), 0o755)

    def cpio(self):
        """The tree as a newc cpio archive, parents before children."""
        out = bytearray()
        for ino, path in enumerate(sorted(self.entries), start=1):
            mode, content = self.entries[path]
            rdev = (0, 0)
            if isinstance(content, tuple):
                rdev, content = content, b""
            out += _cpio_entry(path.lstrip("/"), ino, mode, content, rdev)
        out += _cpio_entry("TRAILER!!!", 0, 0, b"", (0, 0))
        return bytes(out)


def _cpio_entry(name, ino, mode, content, rdev):
    name_b = name.encode() + b"\0"
    fields = (ino, mode, 0, 0, 1, 0, len(content), 0, 0, rdev[0], rdev[1], len(name_b), 0)
    head = b"070701" + b"".join(b"%08X" % v for v in fields) + name_b
    head += b"\0" * (-len(head) % 4)
    return head + content + b"\0" * (-len(content) % 4)


def _base(tree):
    for d in ("/usr/bin", "/usr/sbin", "/usr/lib64", "/usr/lib/x86_64-linux-gnu",
              "/proc", "/sys", "/dev", "/run", "/tmp", "/root", "/home/labuser",
              "/var/log", "/mnt", "/etc/lab"):
        tree.dir(d)
    for top in ("bin", "sbin", "lib", "lib64"):
        tree.link("/" + top, "usr/" + top)
    tree.link("/var/run", "../run")
    tree.node("/dev/console", stat.S_IFCHR | 0o600, 5, 1)
    tree.file("/usr/bin/busybox", BUSYBOX, 0o755)
    applets = subprocess.run([BUSYBOX, "--list"], stdout=subprocess.PIPE, text=True,
                             check=True).stdout.split()
    # Programs find applets in both bin dirs (qemu-ga runs /sbin/hwclock).
    for applet in applets:
        if applet != "busybox":
            tree.link("/usr/bin/" + applet, "busybox")
            tree.link("/usr/sbin/" + applet, "../bin/busybox")
    tree.data("/usr/sbin/shutdown", SHUTDOWN, 0o755)
    with open(os.path.join(HERE, "init.sh"), "rb") as f:
        tree.data("/init", f.read(), 0o755)
    tree.data("/etc/hostname", HOSTNAME + "\n")
    tree.data("/etc/os-release", OS_RELEASE)
    tree.data("/etc/passwd", PASSWD)
    tree.data("/etc/group", GROUP)
    tree.data("/etc/shadow", SHADOW, 0o640)
    tree.data("/etc/nsswitch.conf", "passwd: files\ngroup: files\nshadow: files\n")


def _accounts(tree):
    """chpasswd from Debian's passwd package, with the PAM it needs."""
    tree.binary("/usr/sbin/chpasswd", "/usr/sbin/chpasswd")
    for mod in ("pam_unix.so", "pam_deny.so", "pam_permit.so"):
        tree.binary(PAM_DIR + "/" + mod, PAM_DIR + "/" + mod)
    tree.data("/etc/pam.d/chpasswd", PAM_CHPASSWD)
    tree.data("/etc/pam.d/other", PAM_OTHER)
    if os.path.exists("/etc/login.defs"):
        tree.file("/etc/login.defs", "/etc/login.defs", 0o644)


SIG_MARKER = b"~Module signature appended~\n"


def _unsigned(module):
    """The module without its appended signature.  Checking ~30 RSA
    signatures under TCG costs seconds per boot; an unsigned module loads
    the same (the kernel only notes a taint), and signing is not under test."""
    if not module.endswith(SIG_MARKER):
        return module
    end = len(module) - len(SIG_MARKER)
    # struct module_signature (12 bytes) ends with the big-endian sig length.
    sig_len = int.from_bytes(module[end - 4:end], "big")
    return module[:end - 12 - sig_len]


def _modules(tree, kernel):
    base = "/lib/modules/%s/" % kernel.version
    for rel in kernel.modules:
        with open(kernel.module_path(rel), "rb") as f:
            tree.data("/usr" + base + rel, _unsigned(f.read()), 0o644)
    # Dependencies are loaded first by /init, so each line needs no deps list.
    tree.data("/usr" + base + "modules.dep", "".join(r + ":\n" for r in kernel.modules))
    tree.data("/etc/lab/modules", "\n".join(kernel.modules) + "\n")


def build_tree(kernel, qgad, qemu_ga=None):
    tree = Tree()
    _base(tree)
    _modules(tree, kernel)
    _accounts(tree)
    tree.binary("/usr/bin/socat", "/usr/bin/socat")
    if qgad:
        tree.binary("/usr/sbin/qgad", qgad)
    if qemu_ga:
        tree.binary("/usr/sbin/qemu-ga", qemu_ga)
    return tree


def build(work, kernel, qgad, qemu_ga=None):
    """Path of an initramfs for these inputs, rebuilt only when they change."""
    archive = build_tree(kernel, qgad, qemu_ga).cpio()
    digest = hashlib.sha256(archive).hexdigest()[:16]
    outdir = os.path.join(work, "initramfs")
    os.makedirs(outdir, exist_ok=True)
    path = os.path.join(outdir, "initramfs-%s.cpio" % digest)
    if not os.path.exists(path):
        tmp = path + ".%d.tmp" % os.getpid()
        with open(tmp, "wb") as f:
            f.write(archive)
        os.rename(tmp, path)
    return path
