"""Half-closed clients (`printf '...' | socat - UNIX-CONNECT:sock`): a client that sends,
then shuts down its sending side, gets every reply to what it sent, in order, and then
EOF; a partial message at its EOF is dropped without a reply (as qemu-ga 7.2); replies
dropped by a guest-sync barrier are not waited for; a half-closed client that never reads
is still dropped by the write-queue cap. Over unix-listen and tcp-listen (vsock: the QEMU
lab, test/e2e/test_vsock.py)."""

import shutil
import socket
import subprocess
import time
import unittest

from qgadtest import Agent, AgentTestCase, Client, local_only, main, timeout, wait_for


def half_close(c):
    c.sock.shutdown(socket.SHUT_WR)


def expect_eof(test, c, secs=10):
    """The next thing from the agent is EOF: no further bytes."""
    test.assertEqual(bytes(c.buf), b'')
    with test.assertRaises(EOFError):
        c.recv_line(secs)


def enabled(c):
    return {e['name'] for e in c.ok('guest-info')['supported_commands'] if e['enabled']}


def start_sleep(test, seconds):
    """The pid of a guest-exec'd `sleep seconds` (skips without guest-exec)."""
    if not {'guest-exec', 'guest-exec-status'} <= enabled(test.c):
        test.skipTest('guest-exec not available')
    args = {'path': '/bin/sh', 'arg': ['-c', 'sleep %d' % seconds]}
    return test.c.ok('guest-exec', args)['pid']


class HalfCloseCases:
    """The cases, run by a class per listener kind."""

    def test_pool_request_and_ping_then_eof(self):
        self.c.send_raw(Client.request('guest-get-osinfo', id=1) +
                        Client.request('guest-ping', id=2))
        half_close(self.c)
        r = self.c.recv_reply()
        self.assertEqual(r['id'], 1)
        self.assertIn('return', r)
        self.assertEqual(self.c.recv_reply(), {'return': {}, 'id': 2})
        expect_eof(self, self.c)

    def test_nothing_due_closes_at_once(self):
        half_close(self.c)
        expect_eof(self, self.c, secs=2)

    def test_slow_request_answered_after_its_wait(self):
        """guest-exec-status waiting on `sleep 1`: the reply comes when the child exits,
        the ping behind it after it, then EOF."""
        pid = start_sleep(self, 1)
        t0 = time.monotonic()
        self.c.send_raw(Client.request('guest-exec-status',
                                       {'pid': pid, '__org.qgad_wait': 3000}, id='slow') +
                        Client.request('guest-ping', id='after'))
        half_close(self.c)
        r = self.c.recv_reply(secs=15)
        self.assertEqual(r['id'], 'slow')
        self.assertTrue(r['return']['exited'])
        self.assertGreater(time.monotonic() - t0, 0.5)
        self.assertEqual(self.c.recv_reply(), {'return': {}, 'id': 'after'})
        expect_eof(self, self.c)

    def test_partial_message_dropped_at_eof(self):
        """qemu-ga 7.2: the complete request is answered, the partial one is not (no
        error reply either), then EOF. A parse error before it is still answered."""
        self.c.send_raw(b'{"execute":"guest-ping","id":1}{,}{"execute":"guest-ping","id":')
        half_close(self.c)
        self.assertEqual(self.c.recv_reply(), {'return': {}, 'id': 1})
        self.assertEqual(self.c.recv_reply()['error']['class'], 'GenericError')
        expect_eof(self, self.c)

    def test_sync_barrier_reply_not_waited_for(self):
        """The reply a guest-sync dropped is not waited for: EOF follows the sync."""
        pid = start_sleep(self, 3)
        t0 = time.monotonic()
        self.c.send_raw(Client.request('guest-exec-status',
                                       {'pid': pid, '__org.qgad_wait': 10000}, id='stale') +
                        b'\xff' + Client.request('guest-sync-delimited', {'id': 7}, id='s'))
        half_close(self.c)
        self.assertEqual(self.c.recv_reply(), {'return': 7, 'id': 's'})
        self.assertTrue(self.c.last_delimited)
        expect_eof(self, self.c)
        self.assertLess(time.monotonic() - t0, 2.5, 'waited for the dropped reply')

    def test_socat_pipe(self):
        """The issue's own reproduction: printf ... | socat."""
        if not shutil.which('socat'):
            self.skipTest('socat not installed')
        kind, where = self.agent.address()
        target = ('UNIX-CONNECT:%s' % where if kind == 'unix' else
                  'TCP:%s:%d' % where)
        out = subprocess.run(['socat', '-t', '30', '-', target],
                             input=b'{"execute":"guest-get-osinfo"}{"execute":"guest-ping"}',
                             stdout=subprocess.PIPE, timeout=timeout(30), check=True).stdout
        lines = out.splitlines()
        self.assertEqual(len(lines), 2, out[:300])
        self.assertIn(b'"return"', lines[0])
        self.assertEqual(lines[1], b'{"return": {}}')


@local_only('half-close needs a listener of its own')
class UnixHalfCloseTest(HalfCloseCases, AgentTestCase):
    def test_unread_replies_hit_the_write_queue_cap(self):
        """A half-closed client that never reads: past the write-queue cap it is dropped
        (the deadline is QGAD_HALF_CLOSE_DRAIN_MS, too long for a test)."""
        if not {'guest-file-open', 'guest-file-read'} <= enabled(self.c):
            self.skipTest('guest-file-* not available')
        path = self.agent.tmp('sparse-48m')
        with open(path, 'wb') as f:
            f.truncate(48 << 20)
        handles = [self.c.ok('guest-file-open', {'path': path}) for _ in range(4)]
        self.c.send_raw(b''.join(Client.request('guest-file-read',
                                                {'handle': h, 'count': 48 << 20})
                                 for h in handles))
        half_close(self.c)
        wait_for(lambda: 'peer is not reading' in self.agent.log_text(), secs=timeout(60),
                 what='the cap to drop the half-closed client')
        with Client(self.agent) as other:
            self.assertEqual(other.cmd('guest-ping', id='o'), {'return': {}, 'id': 'o'})
        self.assertTrue(self.c.expect_closed(secs=60))


@local_only('half-close needs a listener of its own')
class TcpHalfCloseTest(HalfCloseCases, AgentTestCase):
    agent_args = {'method': 'tcp-listen'}


if __name__ == '__main__':
    main()
