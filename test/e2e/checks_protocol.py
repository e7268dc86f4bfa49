"""Protocol checks over the real guest channels (a compact set: the full
host-side protocol suite lives in test/proto).  Each runs on the shared
guest of virtio-serial and of isa-serial."""

import json
import statistics
import time

from labtest import check, report

# what the agent answers for partial input that a 0xFF discards (PROTOCOL.md 4.1, as
# upstream; Part 1 item 4 allows it): one error reply, and nothing for a lone 0xFF
DISCARDED = {"class": "GenericError", "desc": "JSON parse error, stray '\ufffd'"}

CHANNELS = ("virtio-serial", "isa-serial")


@check(*CHANNELS)
def sync_delimited_prefix(t, guest):
    """guest-sync-delimited's reply is 0xFF + the echoed id on one line."""
    a = guest.agent()
    a.send("guest-sync-delimited", {"id": 4242})
    line = a.recv_line()
    t.assertEqual(line[:1], b"\xff", line)
    t.assertEqual(json.loads(line[1:]), {"return": 4242})


@check(*CHANNELS)
def sync_large_id(t, guest):
    """libvirt syncs with a millisecond timestamp: a 64-bit id round-trips."""
    a = guest.agent()
    t.assertEqual(a.ok("guest-sync", {"id": 1700000000123}), 1700000000123)


@check(*CHANNELS)
def ping_and_id(t, guest):
    a = guest.agent()
    t.assertEqual(a.cmd("guest-ping"), {"return": {}})
    t.assertEqual(a.cmd("guest-ping", id="abc"), {"return": {}, "id": "abc"})
    t.assertEqual(a.cmd("guest-ping", id={"n": [1]}), {"return": {}, "id": {"n": [1]}})


@check(*CHANNELS)
def info_shape(t, guest):
    info = guest.agent().ok("guest-info")
    t.assertIsInstance(info["version"], str)
    t.assertTrue(info["version"])
    names = set()
    for c in info["supported_commands"]:
        t.assertEqual(set(c) - {"__org.qgad_arguments"},
                      {"name", "enabled", "success-response"}, c)
        t.assertIsInstance(c["enabled"], bool)
        names.add(c["name"])
    for need in ("guest-sync", "guest-sync-delimited", "guest-ping", "guest-info"):
        t.assertIn(need, names)


@check(*CHANNELS)
def error_texts(t, guest):
    """Exact QAPI error classes and texts, with the request id copied."""
    a = guest.agent()
    cases = [
        ({"execute": "guest-nope", "id": 7}, "CommandNotFound",
         "The command guest-nope has not been found"),
        ({"execute": "guest-sync", "id": 8}, "GenericError", "Parameter 'id' is missing"),
        ({"execute": "guest-ping", "arguments": {"foo": 1}, "id": 9}, "GenericError",
         "Parameter 'foo' is unexpected"),
        ({"execute": "guest-sync", "arguments": {"id": "x"}, "id": 10}, "GenericError",
         "Invalid parameter type for 'id', expected: integer"),
        ({"execute": "guest-ping", "exec-oob": 1, "id": 11}, "GenericError",
         "QMP input member 'exec-oob' is unexpected"),
        ({"id": 12}, "GenericError", "QMP input lacks member 'execute'"),
    ]
    for req, cls, desc in cases:
        a.send_raw(json.dumps(req))
        reply = a.recv_reply()
        t.assertEqual(reply.get("error"), {"class": cls, "desc": desc}, req)
        t.assertEqual(reply.get("id"), req["id"], req)


@check(*CHANNELS)
def pipelined_in_one_write(t, guest):
    """Proxmox writes sync-delimited and the command in ONE write; replies
    come back in request order."""
    a = guest.agent()
    reqs = [{"execute": "guest-sync-delimited", "arguments": {"id": 99}},
            {"execute": "guest-ping", "id": 1}, {"execute": "guest-info", "id": 2},
            {"execute": "guest-sync", "arguments": {"id": 3}, "id": 3}]
    a.send_raw(b"".join(json.dumps(r).encode() for r in reqs))
    first = a.recv_line()
    t.assertEqual(first, b'\xff{"return": 99}')
    t.assertEqual(a.recv_reply(), {"return": {}, "id": 1})
    t.assertEqual(a.recv_reply()["id"], 2)
    t.assertEqual(a.recv_reply(), {"return": 3, "id": 3})


@check(*CHANNELS)
def resync_after_partial_request(t, guest):
    """0xFF discards a half-sent request, at the cost of exactly one error reply;
    the agent then answers normally."""
    a = guest.agent()
    a.send_raw(b'{"execute":"guest-sync","arguments":{"id":1')
    a.wait_consumed()  # QEMU took the half request: the 0xFF comes in a later write
    a.send_raw(b'\xff{"execute":"guest-sync-delimited","arguments":{"id":77}}')
    t.assertEqual(a.recv_reply(), {"error": DISCARDED})
    t.assertFalse(a.last_delimited, a.last_raw)
    t.assertEqual(a.recv_line(), b'\xff{"return": 77}')
    t.assertEqual(a.cmd("guest-ping", id=5), {"return": {}, "id": 5})


@check(*CHANNELS)
def lone_ff_between_requests(t, guest):
    """A lone 0xFF between whole requests produces no reply (PROTOCOL.md
    part 1, item 4): the next reply is always the next request's."""
    a = guest.agent()
    a.send_raw(b'{"execute":"guest-ping","id":1}\xff{"execute":"guest-ping","id":2}\xff')
    t.assertEqual(a.recv_reply(), {"return": {}, "id": 1})
    t.assertEqual(a.recv_reply(), {"return": {}, "id": 2})
    a.send_raw(b'\xff\xff{"execute":"guest-ping","id":3}')
    t.assertEqual(a.recv_reply(), {"return": {}, "id": 3})


@check(*CHANNELS)
def sync_round_trip(t, guest):
    """Median guest-sync round trip over this channel (reported)."""
    a = guest.agent()
    times = []
    for i in range(200):
        t0 = time.perf_counter()
        t.assertEqual(a.ok("guest-sync", {"id": i}), i)
        times.append(time.perf_counter() - t0)
    med = statistics.median(times)
    p95 = sorted(times)[int(len(times) * 0.95)]
    report("%s guest-sync round trip" % guest.method,
           "median %.2f ms, p95 %.2f ms over %d" % (med * 1e3, p95 * 1e3, len(times)))
    t.assertLess(med, 0.1)
