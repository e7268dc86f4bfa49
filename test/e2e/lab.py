"""The qgad QEMU lab: boots a small Debian-kernel guest with the freshly built
qgad inside and gives tests three handles on it:

  guest.agent()   a resynchronised qgaclient.Client (test/proto/qgaclient.py, the
                  protocol suite's client) on the agent's chardev socket (host side)
  guest.sh(cmd)   runs a shell command in the guest over the lab's own control
                  port (virtserialport org.qgad.lab.0), independent of the agent
  guest.qmp(cmd)  QEMU's monitor (cpu hotplug, quit)

The guest never gets a network backend: its virtio-net NIC has no peer.
Environment: QGAD_BIN (the agent), QGAD_E2E_WORK (cache and logs, default
<dir of QGAD_BIN>/e2e), QGAD_E2E_ACCEL=tcg|kvm to skip the KVM probe.
"""

import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "proto"))

import assets  # noqa: E402
import initramfs  # noqa: E402
from qgaclient import Client  # noqa: E402

QEMU = "qemu-system-x86_64"
BOOT_TIMEOUT = 90.0
KVM_PROBE_TIMEOUT = 12.0
LAB_PORT = "org.qgad.lab.0"
AGENT_PORT = "org.qemu.guest_agent.0"
QEMU_GA_PORT = "org.qemu.guest_agent.1"
MAC = "52:54:00:71:6a:01"
GUEST_IP = "192.0.2.10"
# PCI slots the devices are given, so that later disk-walk checks can compare
# what the agent reports with what QEMU was told.
PCI = {"serial": 0x04, "net": 0x05, "blk": 0x06, "scsi": 0x07}
BLK_SERIAL = "QGADLABBLK0"
SCSI_SERIAL = "QGADLABSCSI0"
SCSI_ID = 1
DISK_MIB = 48


class LabError(RuntimeError):
    pass


def agent_client(path, timeout=10.0):
    """A qgaclient.Client on the host end of an agent's chardev socket PATH, resynchronised
    (0xFF + guest-sync-delimited, everything before our reply dropped)."""
    return Client(("unix", path), secs=timeout, device=True)


def wait_ready(path, deadline, poll=0.5):
    """Connect to PATH and sync until the agent answers or DEADLINE passes.

    One connection, the same sync id re-sent every POLL seconds (bytes sent
    before the agent opened its end may be lost, or queued and answered
    late); a final sync with a fresh id then drops the duplicate replies."""
    client = None
    last = None
    sync_id = random.randint(1, 2**53)
    while time.monotonic() < deadline:
        try:
            if client is None:
                client = Client(("unix", path), secs=poll)
            client.resync(secs=poll, sync_id=sync_id)
            client.device = True
            client.resync()
            return client
        except TimeoutError as e:
            last = e
        except (OSError, EOFError) as e:
            last = e
            if client is not None:
                client.close()
                client = None
            time.sleep(0.05)
    if client is not None:
        client.close()
    raise LabError("agent on %s not ready: %r" % (path, last))


def qgad_bin():
    path = os.environ.get("QGAD_BIN")
    if not path or not os.access(path, os.X_OK):
        raise RuntimeError("set QGAD_BIN to the built qgad (got %r)" % path)
    return os.path.abspath(path)


def work_dir():
    work = os.environ.get("QGAD_E2E_WORK") or os.path.join(
        os.path.dirname(qgad_bin()), "e2e")
    os.makedirs(work, exist_ok=True)
    return work


def missing_tools():
    """Host programs the lab cannot run without."""
    need = [QEMU, "qemu-img", "mkfs.ext4", "busybox", "apt-get", "dpkg", "ldd", "socat"]
    return [t for t in need if shutil.which(t) is None]


def _wait_console(path, text, deadline, proc=None):
    while time.monotonic() < deadline:
        try:
            with open(path, "rb") as f:
                if text.encode() in f.read():
                    return True
        except FileNotFoundError:
            pass
        if proc is not None and proc.poll() is not None:
            return False
        time.sleep(0.05)
    return False


def accelerator(work, kernel, initrd):
    """"kvm" if a short KVM boot reaches the guest's init, else "tcg"; cached.

    /dev/kvm may exist yet hang a stock kernel early (nested virtualisation
    without vmx), hence a real boot with a deadline rather than a check."""
    forced = os.environ.get("QGAD_E2E_ACCEL")
    if forced:
        return forced
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        return "tcg"
    cache = os.path.join(work, "cache", "accel-" + kernel.version)
    if os.path.exists(cache):
        with open(cache) as f:
            return f.read().strip()
    with tempfile.TemporaryDirectory() as tmp:
        log = os.path.join(tmp, "console.log")
        argv = [QEMU, "-nodefaults", "-no-user-config", "-display", "none",
                "-machine", "pc,accel=kvm", "-m", "256", "-kernel", kernel.image,
                "-initrd", initrd, "-serial", "file:" + log, "-no-reboot",
                "-append", "console=ttyS0 panic=-1 lab.probe=1"]
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        ok = _wait_console(log, "LAB: ready", time.monotonic() + KVM_PROBE_TIMEOUT, proc)
        proc.kill()
        proc.wait()
    result = "kvm" if ok else "tcg"
    with open(cache, "w") as f:
        f.write(result + "\n")
    return result


class Qmp:
    """Minimal QMP client (greeting, capabilities, one command at a time)."""

    def __init__(self, path, timeout=10.0):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(path)
        self.file = self.sock.makefile("rb")
        json.loads(self.file.readline())
        self.execute("qmp_capabilities")

    def execute(self, cmd, **args):
        self.sock.sendall(json.dumps({"execute": cmd, "arguments": args}).encode())
        while True:
            msg = json.loads(self.file.readline())
            if "event" in msg:
                continue
            if "error" in msg:
                raise RuntimeError("QMP %s: %s" % (cmd, msg["error"]))
            return msg["return"]

    def close(self):
        self.file.close()
        self.sock.close()


class Guest:
    """One lab VM.  method: virtio-serial | isa-serial | vsock-listen | none."""

    def __init__(self, name, method="virtio-serial", agent_args=(), qemu_ga=False,
                 memory_mib=256):
        self.name = name
        self.memory_mib = memory_mib
        self.method = method
        self.agent_args = list(agent_args)
        self.qemu_ga = qemu_ga
        self.proc = None
        self.client = None
        self.ctl = None
        self.ctl_buf = b""
        self.boot_seconds = None

    # -- setup ---------------------------------------------------------------
    def _prepare(self):
        self.work = work_dir()
        cache = os.path.join(self.work, "cache")
        self.kernel = assets.kernel(cache)
        ga = assets.qemu_ga(cache) if self.qemu_ga else None
        self.initrd = initramfs.build(self.work, self.kernel, qgad_bin(), ga)
        self.accel = accelerator(self.work, self.kernel, self.initrd)
        self.rundir = os.path.join(self.work, "runs", self.name)
        shutil.rmtree(self.rundir, ignore_errors=True)
        os.makedirs(self.rundir)
        # sun_path holds 108 bytes: sockets go to a short private directory.
        self.sockdir = tempfile.mkdtemp(prefix="qgad-e2e-")
        self.console_log = os.path.join(self.rundir, "console.log")
        for disk in ("blk", "scsi"):
            img = os.path.join(self.rundir, disk + ".img")
            with open(img, "wb") as f:
                f.truncate(DISK_MIB << 20)
            subprocess.run(["mkfs.ext4", "-q", "-F", "-L", "lab" + disk, img], check=True)

    def sock(self, name):
        return os.path.join(self.sockdir, name + ".sock")

    def _chardev(self, cid):
        return ["-chardev", "socket,id=%s,path=%s,server=on,wait=off" % (cid, self.sock(cid))]

    def cmdline(self):
        words = ["console=ttyS0", "panic=-1", "loglevel=4", "qgad.method=" + self.method,
                 "lab.ports=%d" % self.nports()]
        if self.agent_args:
            words.append("qgad.args=" + ";".join(self.agent_args))
        if self.qemu_ga:
            words.append("lab.qemuga=1")
        return " ".join(words)

    def nports(self):
        return 1 + (self.method == "virtio-serial") + bool(self.qemu_ga)

    def argv(self):
        a = [QEMU, "-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
             "-machine", "pc,accel=" + self.accel, "-smp", "2,maxcpus=3",
             "-m", str(self.memory_mib),
             "-kernel", self.kernel.image, "-initrd", self.initrd,
             "-append", self.cmdline(), "-serial", "file:" + self.console_log,
             "-qmp", "unix:%s,server=on,wait=off" % self.sock("qmp")]
        a += ["-device", "virtio-serial-pci,id=vser0,addr=%#x" % PCI["serial"]]
        a += self._chardev("lab") + ["-device", "virtserialport,bus=vser0.0,chardev=lab,name="
                                     + LAB_PORT]
        if self.method == "virtio-serial":
            a += self._chardev("qga") + ["-device", "virtserialport,bus=vser0.0,chardev=qga,"
                                         "name=" + AGENT_PORT]
        elif self.method == "isa-serial":
            a += self._chardev("qga") + ["-device", "isa-serial,chardev=qga,index=1"]
        if self.qemu_ga:
            a += self._chardev("qemuga") + ["-device", "virtserialport,bus=vser0.0,"
                                            "chardev=qemuga,name=" + QEMU_GA_PORT]
        a += ["-nic", "none", "-device", "virtio-net-pci,mac=%s,addr=%#x" % (MAC, PCI["net"])]
        a += ["-drive", "file=%s/blk.img,format=raw,if=none,id=blk0,cache=unsafe" % self.rundir,
              "-device", "virtio-blk-pci,drive=blk0,serial=%s,addr=%#x" % (BLK_SERIAL, PCI["blk"])]
        a += ["-drive", "file=%s/scsi.img,format=raw,if=none,id=scsi0d,cache=unsafe"
              % self.rundir,
              "-device", "virtio-scsi-pci,id=scsi0,addr=%#x" % PCI["scsi"],
              "-device", "scsi-hd,bus=scsi0.0,drive=scsi0d,scsi-id=%d,lun=0,serial=%s"
              % (SCSI_ID, SCSI_SERIAL)]
        return a

    def start(self):
        self._prepare()
        qemu_log = open(os.path.join(self.rundir, "qemu.log"), "wb")
        t0 = time.monotonic()
        self.proc = subprocess.Popen(self.argv(), stdout=qemu_log, stderr=subprocess.STDOUT)
        qemu_log.close()
        deadline = t0 + BOOT_TIMEOUT
        try:
            if self.method in ("virtio-serial", "isa-serial"):
                self.client = wait_ready(self.sock("qga"), deadline)
            elif not _wait_console(self.console_log, "LAB: ready", deadline, self.proc):
                raise LabError("guest did not reach LAB: ready")
            self.boot_seconds = time.monotonic() - t0
            self._ctl_connect(deadline)
        except Exception:
            self.stop()
            raise LabError("guest %s failed to boot; console tail:\n%s"
                           % (self.name, self.console()[-3000:]))
        return self

    # -- handles -------------------------------------------------------------
    def agent(self):
        """The agent's client, resynchronised (reconnected if a test closed it)."""
        if self.client is None or self.client.closed:
            self.client = agent_client(self.sock("qga"))
        else:
            self.client.resync()
        return self.client

    def _ctl_connect(self, deadline):
        self.ctl = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.ctl.connect(self.sock("lab"))
        while True:
            try:
                rc, out = self.sh("echo lab-ok", timeout=max(1.0, deadline - time.monotonic()))
                if rc == 0 and out.strip() == "lab-ok":
                    return
            except socket.timeout:
                pass
            if time.monotonic() > deadline:
                raise LabError("lab control port does not answer")

    def sh(self, command, timeout=30.0, check=False):
        """Run COMMAND (one line) with busybox sh in the guest: (status, output)."""
        if "\n" in command:
            raise ValueError("one line only")
        self.ctl.settimeout(timeout)
        self.ctl.sendall(command.encode() + b"\n")
        marker = b"\n@@LAB-RC "
        deadline = time.monotonic() + timeout
        while True:
            i = self.ctl_buf.find(marker)
            if i >= 0 and self.ctl_buf.find(b"\n", i + len(marker)) >= 0:
                j = self.ctl_buf.index(b"\n", i + len(marker))
                rc = int(self.ctl_buf[i + len(marker):j])
                out = self.ctl_buf[:i].decode(errors="replace")
                self.ctl_buf = self.ctl_buf[j + 1:]
                if check and rc != 0:
                    raise AssertionError("guest: %s -> %d\n%s" % (command, rc, out))
                return rc, out
            self.ctl.settimeout(max(0.01, deadline - time.monotonic()))
            chunk = self.ctl.recv(65536)
            if not chunk:
                raise LabError("lab control port closed")
            self.ctl_buf += chunk

    def qmp(self, cmd, **args):
        q = Qmp(self.sock("qmp"))
        try:
            return q.execute(cmd, **args)
        finally:
            q.close()

    def hotplug_cpu(self):
        """Plug the third vCPU (maxcpus=3) through QMP.  Without udev it comes
        up offline in the guest: onlining it is the agent's job (or sysfs)."""
        free = [c for c in self.qmp("query-hotpluggable-cpus") if "qom-path" not in c]
        if not free:
            raise RuntimeError("no hot-pluggable vCPU slot left")
        self.qmp("device_add", driver=free[0]["type"], id="cpu-hot", **free[0]["props"])

    def wait_exit(self, timeout=30.0):
        """QEMU's exit status once the guest powered itself off (-no-reboot
        also turns a reboot into an exit), or None if it is still running."""
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def console(self):
        try:
            with open(self.console_log, errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def agent_cputime(self, prog="qgad"):
        """CPU seconds (user+system) the guest's PROG has used so far."""
        rc, out = self.sh("cat /proc/$(pidof %s)/schedstat" % prog, check=True)
        return int(out.split()[0]) / 1e9

    def stop(self):
        """Kill QEMU (the guest has nothing to flush: disks are scratch)."""
        for s in (self.client, self.ctl):
            if s is not None:
                s.close()
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if getattr(self, "sockdir", None):
            shutil.rmtree(self.sockdir, ignore_errors=True)
