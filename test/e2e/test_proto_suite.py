"""The protocol suite of test/proto, run against the agent INSIDE a lab guest: over
the host end (QEMU's chardev socket) of its virtio-serial port, and of its
isa-serial UART.  One boot per channel; every module below runs as a subprocess
in qgadtest's remote mode (QGAD_REMOTE, QGAD_REMOTE_KIND=device: one session
that persists across host reconnects, so each client resynchronises first).
Tests that need an agent of their own skip there with their reason; the
summaries, skips included, are printed."""

import json
import os
import re
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import lab  # noqa: E402
from labtest import GuestTestCase, report  # noqa: E402

PROTO = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "proto")
# The modules whose tests are single-session request/reply.  Not here: test_cli,
# test_agent_startup and test_statedir (every test starts an agent with its own options
# and files) and test_file (it checks the agent's files on the machine that runs it).
MODULES = ("test_validation", "test_framing", "test_info", "test_sessions", "test_exec")
SUITE_TIMEOUT = 600


def _sanitized():
    try:
        with open(lab.qgad_bin(), "rb") as f:
            return b"__asan_init" in f.read()
    except (OSError, RuntimeError):
        return False


def _tz_offset(text):
    """'+0530' -> 19800."""
    m = re.fullmatch(r"([+-])(\d\d)(\d\d)", text.strip())
    seconds = int(m.group(2)) * 3600 + int(m.group(3)) * 60
    return -seconds if m.group(1) == "-" else seconds


def guest_facts(guest):
    """What the guest says about itself, for the tests that compare with it."""
    def out(cmd):
        return guest.sh(cmd, check=True)[1].strip()
    return {"host-name": out("hostname"), "kernel-release": out("uname -r"),
            "kernel-version": out("uname -v"), "machine": out("uname -m"),
            "tz-offset": _tz_offset(out("date +%z")), "tz-zone": out("date +%Z")}


def summary(output):
    """(ran, skipped, [skip lines]) from a unittest -v log."""
    m = re.search(r"^Ran (\d+) tests? in ", output, re.M)
    ran = int(m.group(1)) if m else 0
    m = re.search(r"^(?:OK|FAILED) \(.*?skipped=(\d+)", output, re.M)
    skipped = int(m.group(1)) if m else 0
    skips, name = [], ""
    for line in output.splitlines():
        if re.match(r"\w+ \([\w.]+\)", line):  # "test_x (module.Class.test_x)"
            name = line.split()[0]
        if " ... skipped " in line:
            skips.append("%s: %s" % (name, line.split(" ... skipped ", 1)[1]))
    return ran, skipped, skips


class ProtoSuite(GuestTestCase):
    """Base: a channel's boot; test_<module> runs one test/proto module against it."""

    remote_env = {}
    # A 2 Mi-token message peaks near 240 MiB in an ASan agent (shadow, quarantine): more
    # than the lab's usual 256 MiB guest has to spare.  The plain agent peaks near 90 MiB.
    memory_mib = 768 if _sanitized() else 256

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.facts = guest_facts(cls.guest)
        # QEMU's chardev serves one host connection at a time: the suite's clients
        # connect in turn, so the lab's own client lets go.
        cls.guest.client.close()

    def run_module(self, module):
        env = dict(os.environ, QGAD_BIN=lab.qgad_bin(),  # absolute: cwd changes
                   QGAD_REMOTE="unix:" + self.guest.sock("qga"),
                   QGAD_REMOTE_KIND="device", QGAD_REMOTE_FACTS=json.dumps(self.facts),
                   PYTHONDONTWRITEBYTECODE="1", **self.remote_env)
        t0 = time.monotonic()
        proc = subprocess.run([sys.executable, os.path.join(PROTO, module + ".py"), "-v"],
                              cwd=PROTO, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, timeout=SUITE_TIMEOUT)
        took = time.monotonic() - t0
        ran, skipped, skips = summary(proc.stdout)
        line = "ran %d, skipped %d, %s, %.1f s" % (
            ran, skipped, "ok" if proc.returncode == 0 else "FAILED", took)
        report("%s %s" % (self.guest.method, module), line)
        for s in skips:
            print("    " + s, file=sys.stderr)
        if proc.returncode != 0:
            self.fail("%s over %s failed:\n%s" % (module, self.guest.method, proc.stdout[-12000:]))
        self.assertGreater(ran, skipped, "%s ran nothing over %s:\n%s"
                           % (module, self.guest.method, proc.stdout[-4000:]))
        # the agent survived the suite, without a sanitizer finding on its stderr (console)
        self.assertEqual(self.guest.sh("pidof qgad")[0], 0, "qgad is gone")
        console = self.guest.console()
        for marker in ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:"):
            self.assertNotIn(marker, console)


def _module_test(module):
    def test(self):
        self.run_module(module)
    test.__doc__ = "test/proto/%s.py against the guest's agent" % module
    return test


for _m in MODULES:
    setattr(ProtoSuite, _m, _module_test(_m))
del _m


class ProtoSuiteVirtioSerial(ProtoSuite):
    method = "virtio-serial"


class ProtoSuiteIsaSerial(ProtoSuite):
    """A UART under TCG carries some 30 KB/s with 2-5 ms round trips: the tests that
    must send 1-64 MiB (parser caps, exec input and output) skip here and run over
    virtio-serial.  The long loops (1000 pipelined requests, a split at every byte)
    cost ~3 s here at full count; on a slower host QGAD_REMOTE_ITER_SCALE=0.1 in the
    environment scales them down."""
    method = "isa-serial"
    remote_env = {"QGAD_REMOTE_MAX_BYTES": str(256 << 10)}


del ProtoSuite  # only the channels' classes run

if __name__ == "__main__":
    unittest.main()
