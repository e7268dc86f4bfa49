"""What the agent reports about the guest, checked against the guest itself
(read through the lab's control port, not through the agent)."""

import time

import initramfs
from labtest import check

CHANNELS = ("virtio-serial", "isa-serial")


@check(*CHANNELS)
def osinfo_as_guest_sees_it(t, guest):
    info = guest.agent().ok("guest-get-osinfo")
    _, uname = guest.sh("uname -r; uname -v; uname -m", check=True)
    release, version, machine = uname.splitlines()
    t.assertEqual(info["kernel-release"], release)
    t.assertEqual(info["kernel-release"], guest.kernel.version)
    t.assertEqual(info["kernel-version"], version)
    t.assertEqual(info["machine"], machine)
    expect = {"id": "qgadlab", "name": "qgad lab", "pretty-name": "qgad lab guest 1",
              "version": "1 (e2e)", "version-id": "1", "variant": "end-to-end",
              "variant-id": "e2e"}
    for key, value in expect.items():
        t.assertEqual(info.get(key), value, key)


@check(*CHANNELS)
def host_name_as_guest_sees_it(t, guest):
    name = guest.agent().ok("guest-get-host-name")
    t.assertEqual(name, {"host-name": initramfs.HOSTNAME})
    guest.sh("hostname lab-renamed", check=True)
    try:
        t.assertEqual(guest.agent().ok("guest-get-host-name"), {"host-name": "lab-renamed"})
    finally:
        guest.sh("hostname " + initramfs.HOSTNAME, check=True)


@check(*CHANNELS)
def timezone_utc(t, guest):
    """The lab guest has no /etc/localtime: UTC, offset 0."""
    tz = guest.agent().ok("guest-get-timezone")
    t.assertEqual(tz.get("offset"), 0, tz)
    t.assertIsInstance(tz.get("zone", ""), str)


@check(*CHANNELS)
def time_close_to_host(t, guest):
    """The guest clock starts from QEMU's RTC (host UTC): within a minute."""
    ns = guest.agent().ok("guest-get-time")
    t.assertIsInstance(ns, int)
    t.assertLess(abs(ns / 1e9 - time.time()), 60)
