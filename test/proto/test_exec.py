"""guest-exec and guest-exec-status: argv/env/PATH, every capture mode (stdout and stderr
modes work, unlike upstream), caps, spawn errors, signals, the __org.qgad_timeout and
__org.qgad_wait extensions, reaping and the audit line (PROTOCOL.md part 2 4.4, part 1
items 6, 9, 10)."""

import base64
import os
import select
import sys
import statistics
import time
import unittest

from qgadtest import (REMOTE, Agent, AgentTestCase, Client, local_only, main,
                      skip_unless_carries, timeout, wait_for)

ALTERNATE = 'for i in 1 2 3; do printf "o$i "; printf "e$i " >&2; done'


def b64(data):
    return base64.b64encode(data).decode()


def unb64(text):
    return base64.b64decode(text)


def proc_state(pid):
    """The state letter of a process, or None when it is gone."""
    try:
        with open('/proc/%d/stat' % pid) as f:
            return f.read().rsplit(')', 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return None


def children_of(pid):
    kids = []
    for task in os.listdir('/proc/%d/task' % pid):
        try:
            with open('/proc/%d/task/%s/children' % (pid, task)) as f:
                kids += [int(x) for x in f.read().split()]
        except FileNotFoundError:
            pass
    return kids


class ExecTest(AgentTestCase):
    def exec(self, path, args=None, **kw):
        req = {'path': path}
        if args is not None:
            req['arg'] = args
        for k, v in kw.items():
            req[{'capture': 'capture-output', 'input': 'input-data',
                 'tmo': '__org.qgad_timeout'}.get(k, k)] = v
        return self.c.ok('guest-exec', req)['pid']

    def wait(self, pid, secs=10):
        """The final status, waiting in the agent (the __org.qgad_wait extension)."""
        st = self.c.ok('guest-exec-status', {'pid': pid, '__org.qgad_wait': int(secs * 1000)},
                       secs=secs + 5)
        self.assertTrue(st['exited'], st)
        return st

    def run_sh(self, script, capture):
        return self.wait(self.exec('sh', ['-c', script], capture=capture))

    def gone_or_zombie(self, pid):
        """Whether process pid of the agent's machine has exited (asked through the
        agent itself in remote mode)."""
        if not REMOTE:
            return proc_state(pid) in (None, 'Z')
        st = self.run_sh('test ! -e /proc/%d || grep -q ") Z " /proc/%d/stat' % (pid, pid),
                         False)
        return st['exitcode'] == 0

    # ---- basics ----

    def test_echo(self):
        st = self.wait(self.exec('echo', ['-n', ' test_str '], capture=True))
        self.assertEqual(st, {'exited': True, 'exitcode': 0, 'out-data': b64(b' test_str '),
                              'out-truncated': False})

    def test_status_polling_and_removal(self):
        pid = self.exec('sleep', ['0.5'])
        self.assertEqual(self.c.ok('guest-exec-status', {'pid': pid}), {'exited': False})
        st = wait_for(lambda: (lambda s: s if s['exited'] else None)(
            self.c.ok('guest-exec-status', {'pid': pid})), what='exit')
        self.assertEqual(st, {'exited': True, 'exitcode': 0})  # nothing captured: no data keys
        self.assertEqual(self.c.err('guest-exec-status', {'pid': pid}),
                         ('GenericError', 'PID %d does not exist' % pid))

    def test_unknown_pid(self):
        for pid in (0, 999999999, -5):
            self.assertEqual(self.c.err('guest-exec-status', {'pid': pid}),
                             ('GenericError', 'PID %d does not exist' % pid))

    def test_exit_code(self):
        self.assertEqual(self.run_sh('exit 42', False), {'exited': True, 'exitcode': 42})

    def test_spawn_failure_is_an_error(self):
        self.assertEqual(self.c.err('guest-exec', {'path': '/bin/invalid-cmd42'}),
                         ('GenericError', 'Failed to execute child process \u201c/bin/invalid-cmd42'
                          '\u201d (No such file or directory)'))
        self.assertEqual(self.c.err('guest-exec', {'path': 'qgad-no-such-command'})[1],
                         'Failed to execute child process \u201cqgad-no-such-command\u201d '
                         '(No such file or directory)')
        # the reply is pure ASCII on the wire
        self.assertIn(b'\\u201C', self.c.last_raw.replace(b'\\u201c', b'\\u201C'))

    @local_only('a second session during the search')
    def test_long_path_search_runs_off_the_loop(self):
        """A PATH of 500,000 empty entries is 500,000 stat() calls: in the threadpool, so
        another session's pings are answered meanwhile (and the loop-stall check, on in
        the test build, would fail this test if the search ran on the loop)."""
        env = ['PATH=' + ':' * 500000]
        t0 = time.monotonic()
        self.c.send('guest-exec', {'path': 'qgad-no-such-command', 'env': env})
        pings = 0
        with Client(self.agent) as other:
            while True:
                self.assertEqual(other.ok('guest-ping'), {})
                pings += 1
                if self.c.buf or select.select([self.c.sock], [], [], 0)[0]:
                    break
        reply = self.c.recv_reply()
        self.assertEqual(reply['error']['desc'], 'Failed to execute child process '
                         '\u201cqgad-no-such-command\u201d (No such file or directory)')
        print('PATH search of 500,000 entries: %.2f s, %d pings answered meanwhile'
              % (time.monotonic() - t0, pings), file=sys.stderr)
        self.assertGreater(pings, 1)

    def test_signal_reported(self):
        st = self.run_sh('kill -9 $$', True)
        self.assertEqual(st, {'exited': True, 'signal': 9})
        self.assertNotIn('exitcode', st)

    def test_argv_env_and_path_lookup(self):
        st = self.wait(self.exec('env', [], env=['FOO=bar', 'X=1 2'], capture=True))
        self.assertEqual(unb64(st['out-data']), b'FOO=bar\nX=1 2\n')  # env replaces it all
        # no PATH in env: the executable is still found through the agent's PATH
        st = self.wait(self.exec('sh', ['-c', 'echo "$FOO"'], env=['FOO=baz'], capture=True))
        self.assertEqual(unb64(st['out-data']), b'baz\n')
        # a PATH in env is the one searched
        self.assertIn('No such file',
                      self.c.err('guest-exec', {'path': 'sh', 'env': ['PATH=/nonexistent']})[1])
        st = self.wait(self.exec('printf', ['%s|', 'a b', '', 'c'], capture=True))
        self.assertEqual(unb64(st['out-data']), b'a b||c|')

    def test_cwd_group_and_signal_state(self):
        st = self.run_sh('pwd; echo $$; cut -d" " -f5,6 /proc/$$/stat; '
                         'grep SigIgn /proc/self/status', True)
        lines = unb64(st['out-data']).decode().splitlines()
        if not REMOTE:  # the cwd the agent was started in
            self.assertEqual(os.path.realpath(lines[0]), os.path.realpath(self.agent.tmpdir))
        pgrp, sid = lines[2].split()
        self.assertEqual(pgrp, lines[1])  # own process group ...
        self.assertEqual(sid, lines[1])   # ... and session
        sigign = int(lines[3].split()[1], 16)
        self.assertEqual(sigign & (1 << 12), 0, 'SIGPIPE ignored in the child')

    # ---- capture modes ----

    def test_capture_modes(self):
        cases = {
            False: {},
            'none': {},
            True: {'out-data': b'o1 o2 o3 ', 'err-data': b'e1 e2 e3 '},
            'separated': {'out-data': b'o1 o2 o3 ', 'err-data': b'e1 e2 e3 '},
            'stdout': {'out-data': b'o1 o2 o3 '},
            'stderr': {'err-data': b'e1 e2 e3 '},
            'merged': {'out-data': b'o1 e1 o2 e2 o3 e3 '},  # exact interleaving
        }
        for mode, want in cases.items():
            st = self.run_sh(ALTERNATE, mode)
            got = {k: unb64(st[k]) for k in ('out-data', 'err-data') if k in st}
            self.assertEqual(got, want, mode)
            for k in ('out', 'err'):
                self.assertEqual(('%s-truncated' % k) in st, ('%s-data' % k) in want, mode)
            self.assertEqual(st['exitcode'], 0)
        # after the stdout/stderr modes the agent's own stdio is intact: stdin is /dev/null
        st = self.wait(self.exec('cat', [], capture=True))
        self.assertEqual(st, {'exited': True, 'exitcode': 0})

    def test_capture_mode_invalid(self):
        cls, desc = self.c.err('guest-exec', {'path': 'true', 'capture-output': 'bogus'})
        self.assertEqual(cls, 'GenericError')

    def test_truncation_at_16_mib(self):
        skip_unless_carries(self, 16 << 20)
        pid = self.exec('head', ['-c', '17000000', '/dev/zero'], capture='separated')
        st = self.wait(pid, 30)
        out = unb64(st['out-data'])
        self.assertEqual(len(out), 16 * 1024 * 1024)
        self.assertTrue(st['out-truncated'])
        self.assertEqual(st['exitcode'], 0)
        self.assertNotIn('err-data', st)

    # ---- input ----

    def test_input_data_through_cat(self):
        skip_unless_carries(self, 1 << 20)
        data = bytes(range(256)) * 400 + b'\x00end'  # > 64 KiB: decoded in the pool
        st = self.wait(self.exec('cat', [], input=b64(data), capture=True))
        self.assertEqual(unb64(st['out-data']), data)
        st = self.wait(self.exec('cat', [], input=b64(b'small\n'), capture=True))
        self.assertEqual(unb64(st['out-data']), b'small\n')
        st = self.wait(self.exec('wc', ['-c'], input='', capture=True))
        self.assertEqual(unb64(st['out-data']).strip(), b'0')
        # a child that never reads its input still finishes
        st = self.wait(self.exec('true', [], input=b64(os.urandom(1 << 20))))
        self.assertEqual(st, {'exited': True, 'exitcode': 0})

    def test_input_data_invalid(self):
        self.assertEqual(self.c.err('guest-exec', {'path': 'cat', 'input-data': '%%%'}),
                         ('GenericError', 'Base64 data contains invalid characters'))

    # ---- extensions ----

    def test_timeout_kills_the_group(self):
        t0 = time.monotonic()
        pid = self.exec('sh', ['-c', 'sleep 30 & echo $!; sleep 30'], capture=True, tmo=0.5)
        st = self.wait(pid, 10)
        took = time.monotonic() - t0
        self.assertEqual(st['signal'], 9)
        self.assertTrue(st['__org.qgad_timed-out'])
        self.assertLess(took, timeout(3))
        grandchild = int(unb64(st['out-data']))
        wait_for(lambda: self.gone_or_zombie(grandchild), what='grandchild killed')

    def test_timeout_invalid(self):
        for bad in (0, -1, 1e12):
            cls, desc = self.c.err('guest-exec', {'path': 'true', '__org.qgad_timeout': bad})
            self.assertEqual(cls, 'GenericError')
            self.assertIn('__org.qgad_timeout', desc)
        st = self.wait(self.exec('true', [], tmo=30))  # an unexpired timeout changes nothing
        self.assertEqual(st, {'exited': True, 'exitcode': 0})

    def test_wait_extension(self):
        pid = self.exec('sleep', ['0.3'])
        t0 = time.monotonic()
        st = self.c.ok('guest-exec-status', {'pid': pid, '__org.qgad_wait': 10000})
        self.assertEqual(st, {'exited': True, 'exitcode': 0})
        self.assertLess(time.monotonic() - t0, timeout(2))
        pid = self.exec('sleep', ['5'], tmo=3)
        t0 = time.monotonic()
        self.assertEqual(self.c.ok('guest-exec-status', {'pid': pid, '__org.qgad_wait': 200}),
                         {'exited': False})
        self.assertGreaterEqual(time.monotonic() - t0, 0.19)
        self.assertEqual(self.c.err('guest-exec-status', {'pid': pid,
                                                          '__org.qgad_wait': -1})[1],
                         "value '-1' is invalid for argument __org.qgad_wait")

    @local_only('a second session served while one waits')
    def test_wait_holds_only_its_session(self):
        pid = self.exec('sleep', ['5'], tmo=3)
        t0 = time.monotonic()
        with Client(self.agent) as other:
            self.c.send('guest-exec-status', {'pid': pid, '__org.qgad_wait': 200})
            self.assertEqual(other.ok('guest-ping'), {})  # other sessions are not held up
            self.assertEqual(self.c.recv_reply()['return'], {'exited': False})
        self.assertGreaterEqual(time.monotonic() - t0, 0.19)

    def test_wait_dropped_by_sync_keeps_the_status(self):
        pid = self.exec('sh', ['-c', 'sleep 0.3; echo kept'], capture=True)
        self.c.send('guest-exec-status', {'pid': pid, '__org.qgad_wait': 5000})
        self.c.sync()  # drops the waiting reply
        # the dropped waiter is answered first (on exit, or already): the record and its
        # output must still be there for this one
        st = self.c.ok('guest-exec-status', {'pid': pid, '__org.qgad_wait': 5000})
        self.assertEqual(st, {'exited': True, 'exitcode': 0, 'out-data': b64(b'kept\n'),
                              'out-truncated': False})

    # ---- reaping, audit, round trip ----

    @local_only("looks at the agent's children in /proc")
    def test_no_zombies_after_200_execs(self):
        for batch in range(2):  # 2 x 100: the default cap of tracked processes is 128
            pids = [self.exec('true') for _ in range(100)]
            # reaped as they exit, whether or not anybody asked for their status yet: gone
            # from /proc (a zombie stays there)
            wait_for(lambda: all(proc_state(p) is None for p in pids), what='all reaped')
            self.assertEqual([k for k in children_of(self.agent.pid)
                              if proc_state(k) == 'Z'], [])
            for pid in pids:
                self.assertEqual(self.wait(pid), {'exited': True, 'exitcode': 0})
            self.assertEqual([k for k in children_of(self.agent.pid) if k in pids], [])

    @local_only("reads the agent's log file")
    def test_audit_line_without_secrets(self):
        pid = self.exec('cat', ['audit-arg'], env=['SECRET=hunter2'],
                        input=b64(b'topsecret-input'), capture=True)
        self.wait(pid)
        log = wait_for(lambda: (lambda t: t if "'audit-arg'" in t else None)(
            self.agent.log_text()), what='audit line')
        self.assertIn("guest-exec 'cat' argv ['cat' 'audit-arg']", log)
        for secret in ('hunter2', 'topsecret', b64(b'topsecret-input')):
            self.assertNotIn(secret, log)

    def test_round_trip_time_true(self):
        times = []
        for _ in range(50):
            t0 = time.perf_counter()
            pid = self.exec('/bin/true')
            self.wait(pid)
            times.append(time.perf_counter() - t0)
        print('\nguest-exec /bin/true + guest-exec-status(wait) round trip: median %.3f ms, '
              'max %.3f ms' % (statistics.median(times) * 1000, max(times) * 1000))
        self.assertLess(statistics.median(times), timeout(0.5))


@local_only('each test starts an agent with its own caps')
class ExecCapsTest(unittest.TestCase):
    def test_process_cap(self):
        with Agent(config='[qgad]\nmax-exec-processes=3\n') as a:
            c = Client(a)
            pids = [c.ok('guest-exec', {'path': 'true'})['pid'] for _ in range(3)]
            cls, desc = c.err('guest-exec', {'path': 'true'})
            self.assertEqual(desc, 'too many guest-exec processes: the limit is 3 (collect '
                             'finished ones with guest-exec-status)')
            st = c.ok('guest-exec-status', {'pid': pids[0], '__org.qgad_wait': 5000})
            self.assertTrue(st['exited'])
            c.ok('guest-exec', {'path': 'true'})
            c.close()

    def test_output_total_across_processes(self):
        """exec-output-total is one budget for all processes: the second gets what the
        first left, and collecting output gives it back. Each child's output is read by
        the agent to its end before the next child starts, so the split is exact."""
        with Agent(config='[qgad]\nexec-output-total=100000\n') as a:
            c = Client(a)
            gate = a.tmp('gate')
            os.mkfifo(gate)

            def agent_fds():
                fds = set()
                for fd in os.listdir('/proc/%d/fd' % a.pid):
                    try:
                        fds.add(os.readlink('/proc/%d/fd/%s' % (a.pid, fd)))
                    except FileNotFoundError:
                        pass
                return fds

            def open_gate():
                try:  # ENXIO until the child has opened its end
                    return os.open(gate, os.O_WRONLY | os.O_NONBLOCK)
                except OSError:
                    return None

            def run():
                """80000 bytes from a child that waits at the gate until the test has
                seen the agent's end of its stdout pipe; returns once the agent has read
                that pipe to EOF and closed it: all charged, nothing collected yet."""
                pid = c.ok('guest-exec', {'path': 'sh', 'arg': [
                    '-c', 'read x < %s; exec head -c 80000 /dev/zero' % gate],
                    'capture-output': True})['pid']
                pipe = os.readlink('/proc/%d/fd/1' % pid)
                self.assertTrue(pipe.startswith('pipe:'), pipe)
                self.assertIn(pipe, agent_fds())
                os.close(wait_for(open_gate, what='the child at the gate'))  # EOF: it goes on
                wait_for(lambda: pipe not in agent_fds(), what='the agent at EOF of the output')
                return pid

            p1, p2 = run(), run()
            s1 = c.ok('guest-exec-status', {'pid': p1, '__org.qgad_wait': 5000})
            s2 = c.ok('guest-exec-status', {'pid': p2, '__org.qgad_wait': 5000})
            self.assertEqual((len(unb64(s1['out-data'])), s1['out-truncated']), (80000, False))
            self.assertEqual((len(unb64(s2['out-data'])), s2['out-truncated']), (20000, True))
            # collected output gives its budget back
            p3 = run()
            s3 = c.ok('guest-exec-status', {'pid': p3, '__org.qgad_wait': 5000})
            self.assertEqual((len(unb64(s3['out-data'])), s3['out-truncated']), (80000, False))
            c.close()


class ExecInheritedFdTest(unittest.TestCase):
    def test_inherited_descriptors_do_not_reach_children(self):
        """A descriptor the agent was started with (an init script's pipe) stays out of
        guest-exec children, as GLib's spawn closes everything above stderr."""
        r, w = os.pipe()
        try:
            with Agent(pass_fds=(w,)) as a:
                c = Client(a)
                pid = c.ok('guest-exec', {'path': 'sh', 'arg': ['-c', 'ls /proc/$$/fd'],
                                          'capture-output': True})['pid']
                st = c.ok('guest-exec-status', {'pid': pid, '__org.qgad_wait': 5000})
                c.close()
        finally:
            os.close(r)
            os.close(w)
        self.assertTrue(st['exited'], st)
        self.assertEqual(sorted(unb64(st['out-data']).split()), [b'0', b'1', b'2'])


if __name__ == '__main__':
    main()
