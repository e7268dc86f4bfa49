"""Guest assets for the QEMU lab: a Debian kernel and Debian's qemu-ga, fetched
with `apt-get download` and unpacked with `dpkg -x` into a cache directory
(nothing is installed on the machine running the tests, /boot is untouched).

Cache layout under <work>/cache:
  kernel-<ver>/vmlinuz            the kernel image (bzImage, xz inside)
  kernel-<ver>/vmlinux            the same kernel decompressed: an ELF with a
                                  PVH entry that QEMU boots directly, which
                                  saves ~4 s of xz under TCG per boot
  kernel-<ver>/modules/<relpath>  the lab's modules and their dependencies
  kernel-<ver>/modules.order      the load order, dependencies first
  qemu-ga/usr/sbin/qemu-ga        Debian's agent, for the differential test
"""

import fcntl
import glob
import lzma
import os
import re
import shutil
import subprocess
import tempfile

# Modules the guest needs, roughly in load order; their dependencies are
# added from modules.dep.  crc32c_generic: ext4 asks for "crc32c" through the
# crypto API, which would otherwise need a working modprobe at mount time.
LAB_MODULES = [
    "virtio_pci", "virtio_console", "virtio_blk", "virtio_net", "virtio_scsi",
    "sd_mod", "crc32c_generic", "ext4", "vsock", "vmw_vsock_virtio_transport",
    "vsock_loopback",
]

KERNEL_META = "linux-image-amd64"
KERNEL_RE = re.compile(r"^linux-image-(6\.1\.[0-9]+-[0-9]+-amd64)$")


class AssetError(RuntimeError):
    pass


def _run(cmd, **kw):
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True, **kw)
    if proc.returncode != 0:
        raise AssetError("%s failed (%d): %s" % (" ".join(cmd), proc.returncode,
                                                  proc.stderr.strip()[-2000:]))
    return proc.stdout


class _Lock:
    """An flock on <cache>/.lock so that two lab runs never unpack at once."""

    def __init__(self, cache):
        os.makedirs(cache, exist_ok=True)
        self.fd = os.open(os.path.join(cache, ".lock"), os.O_RDWR | os.O_CREAT, 0o644)

    def __enter__(self):
        fcntl.flock(self.fd, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc):
        fcntl.flock(self.fd, fcntl.LOCK_UN)
        os.close(self.fd)


def _apt_kernel_version():
    """The 6.1 kernel that linux-image-amd64 depends on, per apt's lists."""
    try:
        out = _run(["apt-cache", "depends", KERNEL_META])
    except (AssetError, OSError):
        return None
    for line in out.splitlines():
        line = line.strip()
        if line.startswith("Depends:"):
            m = KERNEL_RE.match(line.split(":", 1)[1].strip())
            if m:
                return m.group(1)
    return None


def _download_deb(pkg, into):
    """apt-get download PKG into INTO; returns the .deb path."""
    # _apt cannot write into a root-owned private dir: let apt know it runs
    # unsandboxed instead of printing a warning per download.
    _run(["apt-get", "download", "-o", "APT::Sandbox::User=root", pkg], cwd=into)
    debs = glob.glob(os.path.join(into, pkg.replace("+", "?") + "_*.deb"))
    if len(debs) != 1:
        raise AssetError("apt-get download %s left %r" % (pkg, debs))
    return debs[0]


def _module_closure(moddir, wanted):
    """Relative paths of WANTED modules and their dependencies, deps first."""
    deps = {}
    with open(os.path.join(moddir, "modules.dep")) as f:
        for line in f:
            path, _, rest = line.partition(":")
            deps[path.strip()] = rest.split()
    by_name = {}
    for path in deps:
        name = os.path.basename(path).split(".ko")[0].replace("-", "_")
        by_name[name] = path
    order = []

    def visit(path):
        if path in order:
            return
        # modules.dep lists the full transitive set; visiting each keeps the
        # order right even when its own list is not sorted.
        for dep in reversed(deps[path]):
            visit(dep)
        order.append(path)

    for name in wanted:
        if name not in by_name:
            raise AssetError("kernel module %s not found in %s" % (name, moddir))
        visit(by_name[name])
    return order


def _unpack_kernel(cache, version):
    dest = os.path.join(cache, "kernel-" + version)
    with tempfile.TemporaryDirectory(dir=cache) as tmp:
        deb = _download_deb("linux-image-" + version, tmp)
        root = os.path.join(tmp, "root")
        _run(["dpkg", "-x", deb, root])
        moddir = os.path.join(root, "lib", "modules", version)
        _run(["busybox", "depmod", "-b", root, version])
        order = _module_closure(moddir, LAB_MODULES)
        stage = os.path.join(tmp, "stage")
        for rel in order:
            os.makedirs(os.path.join(stage, "modules", os.path.dirname(rel)), exist_ok=True)
            shutil.copy2(os.path.join(moddir, rel), os.path.join(stage, "modules", rel))
        shutil.copy2(os.path.join(root, "boot", "vmlinuz-" + version),
                     os.path.join(stage, "vmlinuz"))
        with open(os.path.join(stage, "modules.order"), "w") as f:
            f.write("\n".join(order) + "\n")
        os.rename(stage, dest)
    return dest


def _cached_kernels(cache):
    found = []
    for d in glob.glob(os.path.join(cache, "kernel-*")):
        if os.path.exists(os.path.join(d, "modules.order")):
            found.append(os.path.basename(d)[len("kernel-"):])
    return sorted(found)


def _extract_vmlinux(root):
    """Decompress the bzImage's xz payload into vmlinux (once)."""
    dest = os.path.join(root, "vmlinux")
    if os.path.exists(dest):
        return
    with open(os.path.join(root, "vmlinuz"), "rb") as f:
        image = f.read()
    start = image.find(b"\xfd7zXZ\x00")
    if start < 0:
        return  # not an xz kernel: boot the bzImage
    elf = lzma.LZMADecompressor(format=lzma.FORMAT_XZ).decompress(image[start:])
    if elf[:4] != b"\x7fELF":
        return
    with open(dest + ".tmp", "wb") as f:
        f.write(elf)
    os.rename(dest + ".tmp", dest)


class Kernel:
    def __init__(self, root, version):
        self.root = root
        self.version = version
        self.vmlinuz = os.path.join(root, "vmlinuz")
        vmlinux = os.path.join(root, "vmlinux")
        self.image = vmlinux if os.path.exists(vmlinux) else self.vmlinuz
        with open(os.path.join(root, "modules.order")) as f:
            self.modules = [line.strip() for line in f if line.strip()]

    def module_path(self, rel):
        return os.path.join(self.root, "modules", rel)


def kernel(cache):
    """The lab kernel, downloaded and unpacked once per cache."""
    with _Lock(cache):
        version = _apt_kernel_version()
        cached = _cached_kernels(cache)
        if version is None and not cached and os.geteuid() == 0:
            # A machine whose packages came preinstalled may have no apt lists.
            _run(["apt-get", "update", "-qq"])
            version = _apt_kernel_version()
        if version is None:
            if not cached:
                raise AssetError("apt-cache knows no %s dependency and nothing is cached: "
                                 "run apt-get update" % KERNEL_META)
            version = cached[-1]
        root = os.path.join(cache, "kernel-" + version)
        if version not in cached:
            root = _unpack_kernel(cache, version)
        _extract_vmlinux(root)
        return Kernel(root, version)


def qemu_ga(cache):
    """Path of Debian's qemu-ga binary, unpacked once per cache."""
    with _Lock(cache):
        dest = os.path.join(cache, "qemu-ga")
        binary = os.path.join(dest, "usr", "sbin", "qemu-ga")
        if os.path.exists(binary):
            return binary
        with tempfile.TemporaryDirectory(dir=cache) as tmp:
            deb = _download_deb("qemu-guest-agent", tmp)
            _run(["dpkg", "-x", deb, os.path.join(tmp, "root")])
            os.rename(os.path.join(tmp, "root"), dest)
        return binary
