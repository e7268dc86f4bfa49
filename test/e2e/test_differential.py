"""Differential: Debian's qemu-ga (its binary and libraries copied into the
same guest, on a second virtserialport org.qemu.guest_agent.1) and qgad get
the same read-only requests; replies are compared: equal where the guest
makes them equal (osinfo, host name, timezone, sync, errors), same shape
(keys and JSON types) where values legitimately differ (guest-info)."""

import json
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import lab  # noqa: E402
import labtest  # noqa: E402


def shape(value):
    """Keys and JSON types of VALUE, values dropped; a list by its elements."""
    if isinstance(value, dict):
        return {k: shape(v) for k, v in value.items()}
    if isinstance(value, list):
        shapes = []
        for v in value:
            if shape(v) not in shapes:
                shapes.append(shape(v))
        return shapes
    return type(value).__name__


class Differential(labtest.GuestTestCase):
    method = "virtio-serial"
    qemu_ga = True

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.upstream = lab.agent_client(cls.guest.sock("qemuga"))

    @classmethod
    def tearDownClass(cls):
        if getattr(cls, "upstream", None):
            cls.upstream.close()
        super().tearDownClass()

    def both(self, raw):
        """The raw reply line of each agent to the same request bytes."""
        out = []
        for client in (self.guest.agent(), self.upstream):
            client.resync()
            client.send_raw(raw)
            out.append(client.recv_line())
        return out

    def both_calls(self, execute, arguments=None):
        out = []
        for client in (self.guest.agent(), self.upstream):
            client.resync()
            out.append(client.cmd(execute, arguments))
        return out

    def assertSameReply(self, execute, arguments=None):
        ours, theirs = self.both_calls(execute, arguments)
        self.assertIn("return", theirs, theirs)
        self.assertEqual(ours, theirs)

    def test_guest_info_shape(self):
        ours, theirs = self.both_calls("guest-info")
        # qgad's entries for commands with extension arguments carry one more member
        ours_upstream_members = json.loads(json.dumps(ours))
        for c in ours_upstream_members["return"]["supported_commands"]:
            c.pop("__org.qgad_arguments", None)
        self.assertEqual(shape(ours_upstream_members), shape(theirs))
        mine = {c["name"]: c for c in ours["return"]["supported_commands"]}
        upstream = {c["name"]: c for c in theirs["return"]["supported_commands"]}
        for name in sorted(set(mine) & set(upstream)):
            self.assertEqual(mine[name]["success-response"],
                             upstream[name]["success-response"], name)
        labtest.report("guest-info vs Debian qemu-ga %s" % theirs["return"]["version"],
                       "%d common, qgad only: %s; qemu-ga only: %s"
                       % (len(set(mine) & set(upstream)),
                          ",".join(sorted(set(mine) - set(upstream))) or "-",
                          ",".join(sorted(set(upstream) - set(mine))) or "-"))

    def test_osinfo_equal(self):
        self.assertSameReply("guest-get-osinfo")

    def test_host_name_equal(self):
        self.assertSameReply("guest-get-host-name")

    def test_timezone_equal(self):
        self.assertSameReply("guest-get-timezone")

    def test_time_same_shape(self):
        ours, theirs = self.both_calls("guest-get-time")
        self.assertEqual(shape(ours), shape(theirs))
        self.assertLess(abs(ours["return"] - theirs["return"]), 10 * 10**9)

    def test_ping_and_sync_byte_identical(self):
        for raw in (b'{"execute":"guest-ping"}', b'{"execute":"guest-ping","id":"x"}',
                    b'{"execute":"guest-sync","arguments":{"id":1700000000123}}',
                    b'{"execute":"guest-sync-delimited","arguments":{"id":5}}'):
            ours, theirs = self.both(raw)
            self.assertEqual(ours, theirs, raw)

    def test_error_replies_equal(self):
        for raw in (b'{"execute":"guest-nope"}', b'{"execute":"guest-sync"}',
                    b'{"execute":"guest-ping","arguments":{"foo":1}}',
                    b'{"execute":"guest-sync","arguments":{"id":"1"}}',
                    b'{"execute":"guest-get-osinfo","id":[1,2]}'):
            # Key order follows upstream's hash table: compare parsed.
            ours, theirs = self.both(raw)
            self.assertEqual(json.loads(ours), json.loads(theirs), raw)


if __name__ == "__main__":
    unittest.main()
