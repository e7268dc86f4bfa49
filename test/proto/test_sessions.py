"""Sessions: several clients at once, isolation, disconnects, the client cap, the write
queue cap, tcp-listen and extra listeners (PROTOCOL.md Part 1 items 1-3 and 13)."""

import itertools
import os
import select
import stat
import sys
import time
import unittest

from qgadtest import (Agent, AgentTestCase, Client, free_tcp_port, iterations, local_only,
                      main, skip_unless_carries, timeout, wait_for)

MAX_CLIENTS = 16
MESSAGE_BYTES = 64 << 20  # QGAD_MAX_MESSAGE_BYTES
INPUT_POOL = 128 << 20  # QGAD_MAX_INPUT_TOTAL_BYTES, shared beyond each session's minimum
INPUT_MIN = 1 << 20  # QGAD_INPUT_SESSION_MIN
INPUT_LIMIT = 'JSON parse error, input buffer limit exceeded'


def idle_spaces():
    """Whitespace between requests: ignored by the agent, but a write to a connection
    the agent has closed fails, which is how the flooding client learns it was dropped
    without reading (reading would drain the queue the test wants to overflow)."""
    while True:
        time.sleep(0.02)
        yield b' '


def ping_ok(address_or_agent):
    """A fresh client gets a ping reply (False if refused/closed/silent)."""
    try:
        with Client(address_or_agent, secs=2) as c:
            return c.cmd('guest-ping', id='p', secs=2) == {'return': {}, 'id': 'p'}
    except (OSError, EOFError, TimeoutError):
        return False


def rss_kib(pid):
    with open('/proc/%d/status' % pid) as f:
        return int(next(l for l in f if l.startswith('VmRSS:')).split()[1])


class SessionTest(AgentTestCase):
    @local_only('several sessions at once on a fresh agent')
    def test_concurrent_clients_get_only_their_replies(self):
        # a fresh agent: slots of clients closed by other tests are freed asynchronously
        with Agent(verbose=False) as a:
            self.concurrent_clients(a)

    def concurrent_clients(self, agent):
        clients = [Client(agent) for _ in range(MAX_CLIENTS)]
        try:
            for n, c in enumerate(clients):
                self.assertEqual(c.cmd('guest-ping', id=n), {'return': {}, 'id': n})
            # every client pipelines a batch before anyone reads
            for n, c in enumerate(clients):
                c.send_raw(b''.join(Client.request('guest-sync', {'id': n * 1000 + i},
                                                   id=[n, i]) for i in range(200)))
            for n, c in enumerate(clients):
                for i in range(200):
                    self.assertEqual(c.recv_reply(), {'return': n * 1000 + i, 'id': [n, i]})
                c.expect_silence(0.01)
        finally:
            for c in clients:
                c.close()

    @local_only('several sessions at once')
    def test_disconnect_mid_message(self):
        with Client(self.agent) as b:
            a = Client(self.agent)
            a.send_raw(b'{"execute": "guest-sync", "arguments": {"id": 1}')
            a.close()
            a2 = Client(self.agent)
            a2.send_raw(b'{"execute": "guest-ping", "id": [1, {"x": "')
            self.assertEqual(b.cmd('guest-ping', id='b'), {'return': {}, 'id': 'b'})
            a2.close()
            # a new client starts with a clean parser: no 0xFF needed
            with Client(self.agent) as c:
                self.assertEqual(c.cmd('guest-ping', id='c'), {'return': {}, 'id': 'c'})
            self.assertEqual(b.cmd('guest-ping', id='b2'), {'return': {}, 'id': 'b2'})

    def test_proxmox_reconnects(self):
        """A new connection per command: 0xFF, sync-delimited and the command in one
        write, two replies, close."""
        for n in range(50):
            with Client(self.agent) as c:
                c.send_raw(b'\xff' + Client.request('guest-sync-delimited', {'id': n}) +
                           Client.request('guest-ping'))
                self.assertEqual(c.recv_reply(), {'return': n})
                self.assertTrue(c.last_delimited)
                self.assertEqual(c.recv_reply(), {'return': {}})

    def test_disconnect_with_unread_replies(self):
        a = Client(self.agent)
        a.send_raw(b''.join(Client.request('guest-info') for _ in range(iterations(200))))
        a.close()
        self.assertTrue(ping_ok(self.agent))

    @local_only('a fresh agent and 17 sessions at once')
    def test_client_cap(self):
        with Agent(verbose=False) as a:
            self.client_cap(a)

    def client_cap(self, agent):
        clients = []
        try:
            for n in range(MAX_CLIENTS):
                c = Client(agent)
                clients.append(c)
                self.assertEqual(c.cmd('guest-ping', id=n), {'return': {}, 'id': n})
            # the 17th is served: it evicts the client quiet for longest (the first),
            # which sees EOF (slot policy: test_slots.py)
            with Client(agent) as extra:
                self.assertEqual(extra.cmd('guest-ping', id='extra'), {'return': {}, 'id': 'extra'})
            clients.pop(0).expect_closed()
            for n, c in enumerate(clients):
                self.assertEqual(c.cmd('guest-sync', {'id': n}), {'return': n})
            # a slot freed is a slot reused
            clients.pop().close()
            wait_for(lambda: ping_ok(agent), what='a client after one left')
        finally:
            for c in clients:
                c.close()

    def flood_until_dropped(self, flood, other, payload):
        """Write the chunks of the endless iterator payload (without ever reading) until
        the agent drops the connection; meanwhile `other` keeps getting answers."""
        flood.sock.setblocking(False)
        deadline = time.monotonic() + timeout(120)
        pending = b''
        chunks = 0
        stalled_since = None
        while True:
            self.assertLess(time.monotonic(), deadline, 'flooding client never dropped')
            if not pending:
                pending = next(payload)
                chunks += 1
                if chunks % 20 == 0:
                    self.assertEqual(other.cmd('guest-ping', id=chunks),
                                     {'return': {}, 'id': chunks})
            try:
                pending = pending[flood.sock.send(pending):]
                stalled_since = None
            except BlockingIOError:
                # the agent may pause reading while it catches up, but must not keep a
                # connection it never reads from again
                stalled_since = stalled_since or time.monotonic()
                self.assertLess(time.monotonic() - stalled_since, timeout(30),
                                'agent stopped reading but kept the connection')
                select.select([], [flood.sock], [], 0.05)
            except (BrokenPipeError, ConnectionResetError):
                break
        flood.sock.setblocking(True)
        self.assertTrue(flood.expect_closed(secs=60))
        self.assertEqual(other.cmd('guest-ping', id='end'), {'return': {}, 'id': 'end'})
        self.assertTrue(ping_ok(self.agent))

    @local_only('a second session served while one floods')
    def test_reader_that_never_reads_is_dropped(self):
        """Flood small requests with big replies (guest-info) without reading: past the
        write-queue cap the session is closed; other clients keep being served."""
        batch = Client.request('guest-info') * 500
        with Client(self.agent) as other, Client(self.agent) as flood:
            self.flood_until_dropped(flood, other, itertools.repeat(batch))

    @local_only('a second session served while one floods, the agent\'s /proc entry')
    def test_unread_tiny_replies_cost_their_bytes(self):
        """1M guest-ping replies to a client that never reads are ~15 MB of text: the
        transport packs small replies behind a pending write into shared buffers, so they
        cost about their bytes (not a queued write each: that was GBs of bookkeeping, and
        cancelling a million writes at close held the loop for ~20 ms), they stay under the
        write-queue cap, and other clients keep being served."""
        batch = Client.request('guest-ping') * 10000
        rss0 = rss_kib(self.agent.pid)
        with Client(self.agent) as other, Client(self.agent) as flood:
            flood.sock.setblocking(False)
            deadline = time.monotonic() + timeout(120)
            for n in range(100):
                pending = batch
                while pending:
                    self.assertLess(time.monotonic(), deadline, 'the agent stopped reading')
                    try:
                        pending = pending[flood.sock.send(pending):]
                    except BlockingIOError:
                        select.select([], [flood.sock], [], 0.05)
                if n % 20 == 0:
                    self.assertEqual(other.cmd('guest-ping', id=n), {'return': {}, 'id': n})
            # every request was read; its reply is queued (or in the socket buffer)
            self.assertEqual(other.cmd('guest-sync', {'id': 5}, id='s'), {'return': 5, 'id': 's'})
            if timeout(1) == 1:  # sanitizer builds keep freed memory in quarantine
                grown = rss_kib(self.agent.pid) - rss0
                print('1M unread ping replies: agent RSS +%d KiB' % grown, file=sys.stderr)
                self.assertLess(grown, 64 << 10, 'RSS grew by %d KiB' % grown)
        self.assertTrue(ping_ok(self.agent))

    @local_only('a second session served while one floods, a file on the host')
    def test_reader_of_huge_replies_never_reads(self):
        """Same with a few 48 MiB guest-file-read replies (64 MiB of base64 each)."""
        with Client(self.agent) as other, Client(self.agent) as flood:
            enabled = {e['name'] for e in flood.ok('guest-info')['supported_commands']
                       if e['enabled']}
            if not {'guest-file-open', 'guest-file-read'} <= enabled:
                self.skipTest('guest-file-* not available')
            path = self.agent.tmp('sparse-48m')
            with open(path, 'wb') as f:
                f.truncate(48 << 20)
            handles = [flood.ok('guest-file-open', {'path': path}) for _ in range(4)]
            reads = [Client.request('guest-file-read', {'handle': h, 'count': 48 << 20})
                     for h in handles]
            self.flood_until_dropped(flood, other, itertools.chain(reads, idle_spaces()))

    def send_slow_request(self, c, seconds, id):
        """guest-exec-status waiting on a child that lives `seconds`: a request that stays
        running on c's session for that long."""
        enabled = {e['name'] for e in c.ok('guest-info')['supported_commands']
                   if e['enabled']}
        if not {'guest-exec', 'guest-exec-status'} <= enabled:
            self.skipTest('guest-exec not available')
        pid = c.ok('guest-exec', {'path': '/bin/sh', 'arg': ['-c', 'sleep %d' % seconds]})
        c.send('guest-exec-status', {'pid': pid['pid'], '__org.qgad_wait': 10000}, id=id)

    @local_only('three sessions at once')
    def test_two_64mib_holders_do_not_lock_out_others(self):
        """The hostile host's lock-out: two connections each send a guest-ping whose id is
        a string of A's without its closing quote, 64 MiB of message each, and stay open.
        With one global input pool (128 MiB) nothing was left: every other client's request
        got "input buffer limit exceeded". With a share per session (base/limits.h) a third
        client's ping, guest-sync and 0xFF + guest-sync-delimited are answered; a holder
        whose message outgrows its share gets the limit error, one that fits finishes, and
        both go on."""
        prefix = b'{"execute":"guest-ping","id":"'
        fill = MESSAGE_BYTES - len(prefix) - 2  # with its '"}' the message is exactly 64 MiB
        skip_unless_carries(self, 2 * MESSAGE_BYTES)
        holders = [Client(self.agent) for _ in range(2)]
        for h in holders:
            self.addCleanup(h.close)
            h.send_raw(prefix + b'A' * fill)
        for h in holders:
            h.wait_consumed()  # the agent holds both 64 MiB partial messages
        with Client(self.agent) as c:
            self.assertEqual(c.cmd('guest-ping', id='p'), {'return': {}, 'id': 'p'})
            self.assertEqual(c.cmd('guest-sync', {'id': 7}), {'return': 7})
            times = []
            for _ in range(iterations(50)):
                t0 = time.monotonic()
                c.sync()  # 0xFF + guest-sync-delimited, its reply with the 0xFF
                times.append(time.monotonic() - t0)
            times.sort()
            sys.stderr.write('third client sync while two sessions hold 64 MiB each: '
                             'median %.2f ms, max %.2f ms over %d\n'
                             % (times[len(times) // 2] * 1e3, times[-1] * 1e3, len(times)))
            # an ordinary request well inside the per-session minimum (1 MiB)
            big_id = 'b' * (512 << 10)
            self.assertEqual(c.cmd('guest-ping', id=big_id, secs=10)['id'], big_id)
            # c takes its minimum and the rest of the pool: a holder's '"}' is now over its
            # share, and its 64 MiB are dropped (freed off the loop: the stall check is on)
            share = INPUT_MIN + INPUT_POOL - 2 * (MESSAGE_BYTES - 2 - INPUT_MIN)
            c.send_raw(prefix + b'A' * (share - len(prefix)))
            c.wait_consumed()
            holders[0].send_raw(b'"}')
            reply = holders[0].recv_reply(secs=30)
            self.assertEqual(reply['error']['desc'], INPUT_LIMIT)
            c.sync()  # its 0xFF drops its partial message: the pool has room again
        holders[1].send_raw(b'"}')
        self.assertEqual(holders[1].recv_reply(secs=30), {'return': {}, 'id': 'A' * fill})
        for h in holders:
            self.assertEqual(h.cmd('guest-ping', id='after'), {'return': {}, 'id': 'after'})

    @local_only('a second session served while one waits')
    def test_slow_request_does_not_block_other_sessions(self):
        """A session waiting on a slow request; another session is answered meanwhile."""
        self.send_slow_request(self.c, 2, 'slow')
        with Client(self.agent) as other:
            for n in range(5):
                self.assertEqual(other.cmd('guest-sync', {'id': n}), {'return': n})
        r = self.c.recv_reply(secs=15)
        self.assertEqual(r['id'], 'slow')
        self.assertTrue(r['return']['exited'])

    def test_sync_drops_stale_reply(self):
        """guest-sync is answered at once and the earlier still-running reply is dropped."""
        self.send_slow_request(self.c, 1, 'stale')
        self.c.send_raw(b'\xff' + Client.request('guest-sync-delimited', {'id': 99}, id='sync'))
        self.assertEqual(self.c.recv_reply(), {'return': 99, 'id': 'sync'})
        self.assertTrue(self.c.last_delimited)
        self.c.send('guest-ping', id='after')
        # the exec-status reply (due in ~1 s) must never show up
        self.assertEqual(self.c.recv_reply(secs=15), {'return': {}, 'id': 'after'})
        self.c.expect_silence(1.5)


@local_only('each test starts an agent with its own listeners')
class ListenerTest(unittest.TestCase):
    def test_tcp_listen(self):
        with Agent(method='tcp-listen') as a:
            with Client(a) as c:
                self.assertEqual(c.cmd('guest-ping', id=1), {'return': {}, 'id': 1})
                c.sync()
            self.assertEqual(a.stop(), 0)

    def test_extra_listeners(self):
        a = Agent()
        extra_unix = a.tmp('extra.sock')
        port = free_tcp_port()
        a.extra_args += ['--listen', 'unix-listen:' + extra_unix,
                         '--listen', 'tcp-listen:127.0.0.1:%d' % port]
        with a:
            a.wait_ready(address=('unix', extra_unix))
            a.wait_ready(address=('tcp', ('127.0.0.1', port)))
            main_c = Client(a)
            ux = Client(('unix', extra_unix))
            tc = Client(('tcp', ('127.0.0.1', port)))
            for c, n in ((main_c, 'main'), (ux, 'unix'), (tc, 'tcp')):
                c.send('guest-sync', {'id': 5}, id=n)
            for c, n in ((tc, 'tcp'), (ux, 'unix'), (main_c, 'main')):
                self.assertEqual(c.recv_reply(), {'return': 5, 'id': n})
                c.close()
            self.assertEqual(a.stop(), 0)

    def test_listen_from_config(self):
        a = Agent()
        extra = a.tmp('conf.sock')
        a.config = '[qgad]\nlisten=unix-listen:%s\n' % extra
        with a:
            a.wait_ready(address=('unix', extra))
            self.assertTrue(ping_ok(('unix', extra)))
            self.assertTrue(ping_ok(a))

    def test_max_clients_option(self):
        with Agent(extra_args=['--max-clients', '2']) as a:
            c1, c2 = Client(a), Client(a)
            self.assertEqual(c1.ok('guest-sync', {'id': 1}), 1)
            self.assertEqual(c2.ok('guest-sync', {'id': 2}), 2)
            self.assertTrue(ping_ok(a))  # the third evicts c1, quiet for longest
            c1.expect_closed()
            self.assertEqual(c2.ok('guest-sync', {'id': 3}), 3)
            c1.close()
            c2.close()

    def test_socket_path_is_a_socket(self):
        with Agent() as a:
            self.assertTrue(stat.S_ISSOCK(os.stat(a.path).st_mode))


if __name__ == '__main__':
    main()
