"""unittest glue for the lab: one booted guest per TestCase class, and a
registry of guest checks so that a feature adds its in-guest proof as ONE
small function, for example in a new test/e2e/checks_<feature>.py:

    from labtest import check

    @check("virtio-serial")
    def fsfreeze_every_real_fs(t, guest):
        n = guest.agent().ok("guest-fsfreeze-freeze")
        ...

t is the running unittest.TestCase (use its asserts), guest a lab.Guest.
Every checks_*.py beside this file is imported by install(); each check runs
as test_<name> on the shared guest of every channel it names.  A check that
must have a guest of its own (shutdown, a freeze hook configured through
agent arguments, ...) says so:

    @check("virtio-serial", own_guest=True, agent_args=["-F/etc/lab/hook"])
    def shutdown_powers_off(t, guest): ...
"""

import glob
import importlib
import os
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import lab  # noqa: E402

CHECKS = []


class Check:
    def __init__(self, fn, channels, own_guest, guest_kw):
        self.fn = fn
        self.name = fn.__name__
        self.channels = channels
        self.own_guest = own_guest
        self.guest_kw = guest_kw


def check(*channels, own_guest=False, **guest_kw):
    """Register a guest check for CHANNELS ("virtio-serial", "isa-serial")."""
    def register(fn):
        CHECKS.append(Check(fn, channels, own_guest, guest_kw))
        return fn
    return register


def _load_check_modules():
    for path in sorted(glob.glob(os.path.join(HERE, "checks_*.py"))):
        importlib.import_module(os.path.basename(path)[:-3])


def report(key, value):
    """A measurement worth keeping: printed, and appended to <work>/metrics.log."""
    line = "%s %s: %s" % (time.strftime("%Y-%m-%dT%H:%M:%S"), key, value)
    print("LAB METRIC " + line, file=sys.stderr, flush=True)
    try:
        with open(os.path.join(lab.work_dir(), "metrics.log"), "a") as f:
            f.write(line + "\n")
    except (OSError, RuntimeError):
        pass


def skip_reason():
    """Why this machine cannot run the lab; in CI that is a failure, not a skip
    (scripts/test.sh installs everything the lab needs)."""
    missing = lab.missing_tools()
    if not missing:
        return None
    reason = "VM lab needs: " + " ".join(missing)
    if os.environ.get("CI"):
        raise RuntimeError(reason)
    return reason


class GuestTestCase(unittest.TestCase):
    """Boots one guest for the whole class (self.guest / cls.guest)."""

    method = "virtio-serial"
    agent_args = ()
    qemu_ga = False
    memory_mib = 256
    guest = None

    @classmethod
    def setUpClass(cls):
        reason = skip_reason()
        if reason:
            raise unittest.SkipTest(reason)
        cls.guest = lab.Guest(cls.__name__, cls.method, cls.agent_args, cls.qemu_ga,
                              cls.memory_mib).start()
        report("%s boot-to-agent-ready" % cls.__name__,
               "%.2f s (accel %s)" % (cls.guest.boot_seconds, cls.guest.accel))

    @classmethod
    def tearDownClass(cls):
        if cls.guest is not None:
            cls.guest.stop()

    def run(self, result=None):
        # On failure, the guest's side of the story is the most useful part.
        failures = len(result.failures) + len(result.errors) if result else 0
        out = super().run(result)
        if result and len(result.failures) + len(result.errors) > failures and self.guest:
            tail = self.guest.console()[-2000:]
            sys.stderr.write("\n--- guest console tail (%s) ---\n%s\n" % (self.id(), tail))
        return out


def _shared_method(chk):
    def test(self):
        chk.fn(self, self.guest)
    test.__doc__ = chk.fn.__doc__
    return test


def _own_guest_method(chk, channel):
    def test(self):
        reason = skip_reason()
        if reason:
            self.skipTest(reason)
        kw = dict(chk.guest_kw)
        guest = lab.Guest(chk.name, kw.pop("method", channel), **kw).start()
        try:
            chk.fn(self, guest)
        finally:
            guest.stop()
    test.__doc__ = chk.fn.__doc__
    return test


def install(shared_cls, channel, own_cls=None):
    """Add test_<name> for every check of CHANNEL: shared-guest checks to
    SHARED_CLS, own-guest checks to OWN_CLS (a plain TestCase)."""
    _load_check_modules()
    for chk in CHECKS:
        if channel not in chk.channels:
            continue
        if chk.own_guest:
            if own_cls is not None:
                setattr(own_cls, "test_" + chk.name, _own_guest_method(chk, channel))
        else:
            setattr(shared_cls, "test_" + chk.name, _shared_method(chk))


def channel_cases(channel):
    """The two TestCase classes of a channel's test file: the shared guest's
    checks, and the checks that boot a guest of their own."""
    name = "".join(p.capitalize() for p in channel.split("-"))
    module = sys._getframe(1).f_globals["__name__"]
    shared = type(name, (GuestTestCase,), {"method": channel, "__module__": module})
    own = type(name + "OwnGuest", (unittest.TestCase,), {"__module__": module})
    install(shared, channel, own)
    return shared, own
