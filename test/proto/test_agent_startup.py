"""Agent core startup: relative paths survive daemonizing, the pidfile lock keeps a second
instance out, --listen adds listeners, a frozen start defers the log file and pidfile."""

import os
import signal
import socket
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from qgadtest import Agent, Client, _is_listening, free_tcp_port, wait_for  # noqa: E402


def _read(path):
    with open(path) as f:
        return f.read()


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is not alive
        with open('/proc/%d/stat' % pid) as f:
            return f.read().split(')')[-1].split()[0] != 'Z'
    except FileNotFoundError:
        return False


class Daemon:
    """An Agent started with -d: the process we start exits 0, the daemon lives on."""

    def __init__(self, test, agent, pidfile):
        self.test, self.agent, self.pidfile, self.pid = test, agent, pidfile, None

    def start(self):
        self.agent.start(wait=False)
        self.test.assertEqual(self.agent.wait_exit(), 0, self.agent.diagnostics())
        wait_for(lambda: os.path.exists(self.pidfile), what='pidfile')
        wait_for(lambda: _read(self.pidfile).endswith('\n'), what='pid written')
        self.pid = int(_read(self.pidfile))
        return self

    def stop(self):
        if self.pid and _alive(self.pid):
            os.kill(self.pid, signal.SIGTERM)
            wait_for(lambda: not _alive(self.pid), what='daemon exit')
        self.pid = None

    def kill(self):
        if self.pid and _alive(self.pid):
            os.kill(self.pid, signal.SIGKILL)
        self.agent.cleanup()


class RelativePathsTest(unittest.TestCase):
    def test_relative_paths_with_daemonize(self):
        # cwd of the agent is its temp dir; every path below is relative to it
        a = Agent(path='rel.sock', logfile=False,
                  extra_args=['-d', '-l', 'rel.log', '-f', 'rel.pid', '-t', 'state'])
        d = Daemon(self, a, a.tmp('rel.pid'))
        try:
            d.start()
            a.path = a.tmp('rel.sock')
            a.wait_ready(daemonized=True)
            with Client(a) as c:
                self.assertEqual(c.ok('guest-sync', {'id': 5}), 5)
            self.assertEqual(os.stat(a.tmp('rel.pid')).st_mode & 0o777, 0o600)
            self.assertTrue(os.path.exists(os.path.join(a.statedir, 'qga.state')))
            self.assertEqual(os.readlink('/proc/%d/cwd' % d.pid), '/')
            d.stop()
            self.assertFalse(os.path.exists(a.tmp('rel.pid')))
            with open(a.tmp('rel.log')) as f:
                self.assertIn(': info: qgad stopped', f.read())
        finally:
            d.kill()

    def test_second_instance_is_locked_out(self):
        first = Agent(method='tcp-listen', extra_args=['-d'])
        pidfile = first.tmp('qgad.pid')
        first.extra_args += ['-f', pidfile]
        second = Agent(method='tcp-listen', extra_args=['-d', '-f', pidfile])
        d = Daemon(self, first, pidfile)
        try:
            d.start()
            first.wait_ready(daemonized=True)
            second.start(wait=False)
            self.assertEqual(second.wait_exit(), 0)  # the parent always exits 0
            # the second daemon logs that it is locked out, then exits: its listener (opened
            # before the lock is tried) closes and stays closed
            wait_for(lambda: 'another instance' in second.log_text(), what='lock-out line')
            second_address = ('tcp', ('127.0.0.1', second.port))
            wait_for(lambda: not _is_listening(second_address), what='second listener closed')
            with socket.socket() as s:
                self.assertNotEqual(s.connect_ex(('127.0.0.1', second.port)), 0)
            self.assertEqual(int(_read(pidfile)), d.pid)
            self.assertTrue(_alive(d.pid))
            d.stop()
        finally:
            d.kill()
            second.cleanup()


class SignalTest(unittest.TestCase):
    def test_hup_reopens_the_log_and_usr_signals_are_ignored(self):
        """SIGUSR1/SIGUSR2 do not end the agent (their default action would); SIGHUP opens
        the log file again at its path, as logrotate expects after moving it away."""
        with Agent() as a:
            for sig in (signal.SIGUSR1, signal.SIGUSR2):
                os.kill(a.pid, sig)
                with Client(a) as c:
                    self.assertEqual(c.ok('guest-sync', {'id': int(sig)}), int(sig))
            self.assertTrue(a.alive())
            rotated = a.logfile + '.1'
            os.rename(a.logfile, rotated)
            os.kill(a.pid, signal.SIGHUP)
            wait_for(lambda: os.path.exists(a.logfile), what='a new log file')
            wait_for(lambda: 'log file reopened' in _read(a.logfile), what='the reopen line')
            with open(rotated) as f:
                self.assertNotIn('log file reopened', f.read())
            with Client(a) as c:
                self.assertEqual(c.ok('guest-sync', {'id': 9}), 9)
            self.assertTrue(a.alive())

    def test_unix_socket_of_a_live_agent_is_not_stolen(self):
        """A second agent on the same unix path fails instead of unlinking the first one's
        socket (which would leave the first unreachable once the second exits); a stale
        file left by a killed agent is replaced."""
        with Agent() as first:
            second = Agent(path=first.path)
            try:
                second.start(wait=False)
                self.assertEqual(second.wait_exit(), 1)
                self.assertIn('another process is listening on it', second.log_text())
                with Client(first) as c:
                    self.assertEqual(c.ok('guest-sync', {'id': 3}), 3)
            finally:
                second.cleanup()
            first.stop(sig=signal.SIGKILL)
            self.assertTrue(os.path.exists(first.path))  # stale: nobody listens
            with Agent(path=first.path) as third:
                with Client(third) as c:
                    self.assertEqual(c.ok('guest-sync', {'id': 4}), 4)

    def test_extra_listeners(self):
        port = free_tcp_port()
        with Agent(extra_args=['--listen', 'tcp-listen:127.0.0.1:%d' % port,
                               '--listen', 'unix-listen:extra.sock']) as a:
            with Client(a) as c:
                self.assertEqual(c.ok('guest-sync', {'id': 1}), 1)
            for address in (('tcp', ('127.0.0.1', port)), ('unix', a.tmp('extra.sock'))):
                a.wait_ready(address=address)
                with Client(address) as c:
                    self.assertEqual(c.ok('guest-sync', {'id': 2}), 2)

    def test_bad_listener_is_fatal(self):
        a = Agent(extra_args=['--listen', 'carrier-pigeon:/x'])
        try:
            a.start(wait=False)
            self.assertEqual(a.wait_exit(), 1)
        finally:
            a.cleanup()


class SocketActivationTest(unittest.TestCase):
    def test_activated_unix_socket_replaces_method_and_path(self):
        a = Agent(method='tcp-listen')  # -m/-p must be ignored when activated
        sock_path = a.tmp('activated.sock')
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(sock_path)
        listener.listen(4)

        def as_systemd():  # runs in the child before exec: the fd and the pid systemd gives
            os.dup2(os.dup(listener.fileno()), 3, inheritable=True)
            os.environ['LISTEN_PID'] = str(os.getpid())
            os.environ['LISTEN_FDS'] = '1'

        try:
            with open(a.tmp('stderr'), 'wb') as err:
                a.proc = subprocess.Popen(a.args(), stdin=subprocess.DEVNULL, stdout=err,
                                          stderr=err, cwd=a.tmpdir, preexec_fn=as_systemd,
                                          close_fds=False)
            a.pid = a.proc.pid
            listener.close()
            a.wait_ready(address=('unix', sock_path))
            with Client(('unix', sock_path)) as c:
                self.assertEqual(c.ok('guest-sync', {'id': 9}), 9)
            with socket.socket() as s:
                self.assertNotEqual(s.connect_ex(('127.0.0.1', a.port)), 0)
            self.assertEqual(a.stop(), 0)
        finally:
            listener.close()
            a.cleanup()


class FrozenStartTest(unittest.TestCase):
    def test_frozen_start_defers_log_and_pidfile(self):
        a = Agent(logfile=False, extra_args=['-d', '-l', 'frozen.log', '-f', 'frozen.pid'])
        open(os.path.join(a.statedir, 'qga.state.isfrozen'), 'w').close()
        pid = None
        try:
            a.start(wait=False)
            self.assertEqual(a.wait_exit(), 0, a.diagnostics())
            a.wait_ready(daemonized=True)
            with Client(a) as c:
                self.assertEqual(c.ok('guest-ping'), {})
                info = c.ok('guest-info')
            enabled = {e['name'] for e in info['supported_commands'] if e['enabled']}
            self.assertTrue(enabled <= {'guest-ping', 'guest-info', 'guest-sync',
                                        'guest-sync-delimited', 'guest-fsfreeze-status',
                                        'guest-fsfreeze-thaw'})
            self.assertFalse(os.path.exists(a.tmp('frozen.log')))
            self.assertFalse(os.path.exists(a.tmp('frozen.pid')))
            self.assertFalse(os.path.exists(os.path.join(a.statedir, 'qga.state')))
            pid = _daemon_pid(a.path)
        finally:
            if pid:
                os.kill(pid, signal.SIGKILL)
            a.cleanup()


def _daemon_pid(sock_path):
    """The pid of the process listening on a unix socket path (no pidfile while frozen)."""
    inode = None
    with open('/proc/net/unix') as f:
        next(f)
        for line in f:
            fields = line.split()
            if len(fields) >= 8 and fields[7] == sock_path:
                inode = fields[6]
    for pid in os.listdir('/proc'):
        if not pid.isdigit():
            continue
        try:
            for fd in os.listdir('/proc/%s/fd' % pid):
                if os.readlink('/proc/%s/fd/%s' % (pid, fd)) == 'socket:[%s]' % inode:
                    return int(pid)
        except OSError:
            continue
    return None


if __name__ == '__main__':
    unittest.main()
