"""vsock inside the guest.  These hosts have no /dev/vhost-vsock, so no
vhost-vsock-pci device: the guest loads vsock_loopback (CID 1) and a
guest-side socat (VSOCK-CONNECT) plays the host, driven through the lab's
control port.  The agent serves virtio-serial as its main channel and vsock
through an extra listener (--listen), allowing CID 1 (--vsock-allow-cids)."""

import base64
import json
import os
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import labtest  # noqa: E402

PORT = 1234


class Vsock(labtest.GuestTestCase):
    method = "virtio-serial"
    agent_args = ("--listen", "vsock-listen:1:%d" % PORT, "--vsock-allow-cids", "1")

    def vsock(self, data, port=PORT, wait=1):
        """DATA to the guest's vsock PORT from a guest client; what came back."""
        b64 = base64.b64encode(data).decode()
        rc, out = self.guest.sh("echo %s | base64 -d | socat -t %s -T 10 - VSOCK-CONNECT:1:%d"
                                " 2>/tmp/socat.err | base64 -w 0" % (b64, wait, port), timeout=30)
        self.assertEqual(rc, 0, out)
        return base64.b64decode(out.strip())

    def start_agent(self, port, *args):
        """A second qgad in the guest with vsock-listen as its main channel."""
        self.guest.sh("mkdir -p /run/q%d && (qgad -m vsock-listen -p 1:%d -t /run/q%d "
                      "-l /run/q%d/log %s >/dev/null 2>&1 &)"
                      % (port, port, port, port, " ".join(args)), check=True)
        self.guest.sh("n=0; until grep -q started /run/q%d/log 2>/dev/null || [ $n -ge 50 ];"
                      " do usleep 100000; n=$((n+1)); done" % port)

    def test_ping_over_vsock(self):
        self.assertEqual(self.vsock(b'{"execute":"guest-ping"}'), b'{"return": {}}\n')

    def test_sync_delimited_over_vsock(self):
        out = self.vsock(b'\xff{"execute":"guest-sync-delimited","arguments":{"id":31}}')
        self.assertEqual(out, b'\xff{"return": 31}\n')

    def test_info_over_vsock(self):
        reply = json.loads(self.vsock(b'{"execute":"guest-info","id":"v"}'))
        self.assertEqual(reply["id"], "v")
        self.assertIn("guest-ping", [c["name"] for c in reply["return"]["supported_commands"]])

    def test_clients_served_at_once(self):
        """One client holds its connection open; others are served meanwhile,
        each on its own session."""
        g = self.guest
        g.sh("(sleep 6 | socat -T 10 - VSOCK-CONNECT:1:%d >/tmp/holder.out 2>&1 &)" % PORT,
             check=True)
        g.sh("for i in 1 2 3 4; do (printf '{\"execute\":\"guest-sync\",\"arguments\":{\"id\":"
             "%%d}}' $i | socat -t 1 -T 5 - VSOCK-CONNECT:1:%d >/tmp/c$i.out &); done; "
             "sleep 3" % PORT, check=True)
        for i in range(1, 5):
            _, out = g.sh("cat /tmp/c%d.out" % i, check=True)
            self.assertEqual(out, '{"return": %d}\n' % i)

    def test_disconnect_resets_the_session(self):
        """Half a request, then the client leaves: the next client starts clean."""
        self.vsock(b'{"execute":"guest-sync","arguments":{"id":1', wait=0.2)
        self.assertEqual(self.vsock(b'{"execute":"guest-ping","id":2}'),
                         b'{"return": {}, "id": 2}\n')

    def test_half_closed_client_gets_every_reply(self):
        """printf ... | socat: the client shuts down its sending side at once; both
        replies come, in order, then the agent closes (socat would otherwise wait out
        its -t 20)."""
        t0 = time.monotonic()
        out = self.vsock(b'{"execute":"guest-get-osinfo","id":1}{"execute":"guest-ping","id":2}',
                         wait=20)
        elapsed = time.monotonic() - t0
        lines = out.splitlines()
        self.assertEqual(len(lines), 2, out[:300])
        first = json.loads(lines[0])
        self.assertEqual(first["id"], 1)
        self.assertIn("return", first)
        self.assertEqual(lines[1], b'{"return": {}, "id": 2}')
        self.assertLess(elapsed, 8, "the agent did not close after the replies")

    def test_half_close_drops_a_partial_message(self):
        """As qemu-ga 7.2: the complete request is answered, the partial one is not."""
        t0 = time.monotonic()
        out = self.vsock(b'{"execute":"guest-ping","id":1}{"execute":"guest-ping"', wait=20)
        self.assertEqual(out, b'{"return": {}, "id": 1}\n')
        self.assertLess(time.monotonic() - t0, 8, "the agent did not close after the reply")

    def test_virtio_serial_still_answers(self):
        """The same agent serves its main channel while vsock clients come and go."""
        self.vsock(b'{"execute":"guest-ping"}')
        self.assertEqual(self.guest.agent().ok("guest-ping"), {})

    def test_vsock_main_channel_default_allows_host_only(self):
        """-m vsock-listen with the default allow list (the host, CID 2): a
        guest-local peer (CID 1) gets no service, and the agent lives on."""
        self.start_agent(1240)
        self.assertEqual(self.vsock(b'{"execute":"guest-ping"}', port=1240), b"")
        _, out = self.guest.sh("ps -o args | grep -c '^qgad -m vsock-listen -p 1:1240'")
        self.assertEqual(out.strip(), "1")

    def test_vsock_main_channel_allowing_cid1(self):
        self.start_agent(1241, "--vsock-allow-cids", "1")
        out = self.vsock(b'\xff{"execute":"guest-sync-delimited","arguments":{"id":5}}',
                         port=1241)
        self.assertEqual(out, b'\xff{"return": 5}\n')


if __name__ == "__main__":
    unittest.main()
