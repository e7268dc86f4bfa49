"""Connection slots are never held hostage (DESIGN.md "Bounded everything"; the hostile-host
issue, defect 5): with every max-clients slot taken by silent or trickling connections, a
new client evicts the one with no request in flight that has been quiet for longest; a
partial message must complete within partial-timeout of its first byte and a connection
without requests is closed after idle-timeout; a connection with a request in flight is
never evicted nor timed out. Over unix-listen (the policy is the listener's, the same for
vsock and tcp)."""

import select
import time

from qgadtest import SCALE, Agent, AgentTestCase, Client, local_only, main

MAX_CLIENTS = 16


def served(test, agent, id='new'):
    with Client(agent) as c:
        test.assertEqual(c.cmd('guest-ping', id=id), {'return': {}, 'id': id})


def open_clients(agent, n, first_bytes=b''):
    clients = []
    try:
        for _ in range(n):
            c = Client(agent)
            clients.append(c)
            if first_bytes:
                c.send_raw(first_bytes)
    except BaseException:
        close_all(clients)
        raise
    return clients


def closed_within(c, secs):
    """Whether the agent closes c within secs (it sends nothing else)."""
    r, _, _ = select.select([c.sock], [], [], secs)
    if not r:
        return False
    try:
        data = c.sock.recv(65536)
    except ConnectionResetError:
        return True
    if data:
        raise AssertionError('unexpected bytes from the agent: %r' % data[:200])
    return True


def close_all(clients):
    for c in clients:
        c.close()


class SlotTest(AgentTestCase):
    @local_only('a fresh agent with all 16 slots taken')
    def test_silent_connections_do_not_lock_out(self):
        with Agent() as a:
            silent = open_clients(a, MAX_CLIENTS)
            try:
                newcomer = Client(a)
                silent.append(newcomer)
                self.assertEqual(newcomer.cmd('guest-ping', id=1), {'return': {}, 'id': 1})
                silent[0].expect_closed()  # the first one, quiet for longest
                self.assertIn('evicting', a.log_text())
                served(self, a, 'again')  # and again: the next quietest goes, not the
                silent[1].expect_closed()  # newcomer, whose request was answered
                self.assertEqual(newcomer.cmd('guest-ping', id=2), {'return': {}, 'id': 2})
            finally:
                close_all(silent)

    @local_only('a fresh agent with all 16 slots taken')
    def test_partial_requests_do_not_lock_out(self):
        with Agent() as a:
            partial = open_clients(a, MAX_CLIENTS, b'{"execute": "guest-pi')
            try:
                for c in partial:  # every partial message is in the agent
                    c.wait_consumed()
                served(self, a)
                partial[0].expect_closed()
                self.assertIn('holding a partial message', a.log_text())
                # the others were left alone: their request completes and is answered
                partial[5].send_raw(b'ng", "id": 5}')
                self.assertEqual(partial[5].recv_reply(), {'return': {}, 'id': 5})
            finally:
                close_all(partial)

    @local_only('an agent with partial-timeout=1')
    def test_trickle_closed_at_partial_timeout(self):
        with Agent(config='[qgad]\npartial-timeout=1\n') as a:
            with Client(a) as steady, Client(a) as trickle:
                start = time.monotonic()
                text = b'{"execute": "guest-ping", "arguments": {"x": "' + b'y' * 1000
                closed_after = None
                for i, byte in enumerate(text):
                    # a steady client with complete requests is never closed meanwhile
                    self.assertEqual(steady.cmd('guest-ping', id=i), {'return': {}, 'id': i})
                    try:
                        trickle.send_raw(bytes([byte]))
                        gone = closed_within(trickle, 0.2)  # the rate: one byte per 0.2 s
                    except (ConnectionResetError, BrokenPipeError):
                        gone = True
                    if gone:
                        closed_after = time.monotonic() - start
                        break
                    if time.monotonic() - start > 10 * SCALE:
                        break
                self.assertIsNotNone(closed_after, 'the trickling connection stayed open')
                self.assertGreaterEqual(closed_after, 0.9)
                self.assertIn('partial-timeout', a.log_text())
                self.assertEqual(steady.cmd('guest-ping', id='end'), {'return': {}, 'id': 'end'})
            served(self, a)

    @local_only('an agent with idle-timeout=1')
    def test_idle_closed_at_idle_timeout(self):
        with Agent(config='[qgad]\nidle-timeout=1\n') as a:
            with Client(a) as c:
                self.assertEqual(c.cmd('guest-ping', id=1), {'return': {}, 'id': 1})
                start = time.monotonic()
                c.expect_closed(secs=10)
                self.assertGreaterEqual(time.monotonic() - start, 0.9)
            self.assertIn('idle-timeout', a.log_text())
            served(self, a)

    @local_only('runs guest-exec on the test machine')
    def test_busy_connection_never_evicted(self):
        with Agent(extra_args=['--max-clients', '2'], config='[qgad]\nidle-timeout=1\n') as a:
            with Client(a) as busy, Client(a) as quiet:
                pid = busy.ok('guest-exec', {'path': 'sleep', 'arg': ['2']})['pid']
                busy.send('guest-exec-status', {'pid': pid, '__org.qgad_wait': 10000}, id='w')
                quiet.send_raw(b' ')
                quiet.wait_consumed()
                # the busy one was connected first, but the quiet one is evicted
                served(self, a, 'first')
                quiet.expect_closed()
                served(self, a, 'second')  # and then each newcomer's predecessor
                # it outlived the 1 s idle-timeout and gets its reply
                st = busy.recv_reply(secs=10)
                self.assertEqual(st['id'], 'w')
                self.assertTrue(st['return']['exited'], st)
            served(self, a, 'after')

    @local_only('runs guest-exec on the test machine')
    def test_all_busy_refuses_newcomer(self):
        with Agent(extra_args=['--max-clients', '1']) as a:
            with Client(a) as busy:
                pid = busy.ok('guest-exec', {'path': 'sleep', 'arg': ['1']})['pid']
                busy.send('guest-exec-status', {'pid': pid, '__org.qgad_wait': 10000}, id='w')
                busy.wait_consumed()
                with Client(a) as late:
                    try:
                        late.send('guest-ping', id='late')
                        late.expect_closed()
                    except (ConnectionResetError, BrokenPipeError):
                        pass
                self.assertIn('each with a request in flight', a.log_text())
                self.assertTrue(busy.recv_reply(secs=10)['return']['exited'])
            served(self, a, 'after')


if __name__ == '__main__':
    main()
