"""Shared helper for qgad protocol tests: start the real daemon, talk to it over sockets
(the client itself is qgaclient.Client, which the QEMU lab in test/e2e uses too).

Standard library only. Every wait has a deadline, so a hung daemon fails a test instead of
hanging ctest. Every process started here is killed by PID on teardown.

    with Agent() as a:                      # unix-listen in a fresh temp dir
        c = Client(a)
        self.assertEqual(c.ok('guest-ping'), {})
        cls, desc = c.err('guest-nope')

Environment:
    QGAD_BIN            the daemon (set by ctest); default: build*/qgad under the repo
    QGAD_TIMEOUT_SCALE  multiply every deadline (default 1, or 4 for a sanitizer build)
    QGAD_KEEP           keep temp dirs (state, log) for inspection

Remote mode (the same tests against an agent that runs elsewhere, e.g. in a QEMU guest;
test/e2e/test_proto_suite.py drives it):
    QGAD_REMOTE             unix:PATH or tcp:HOST:PORT; AgentTestCase then starts no daemon
                            and its clients connect there
    QGAD_REMOTE_KIND        listen (default: one session per connection) or device (the
                            host end of a virtio-serial/isa-serial channel: ONE session that
                            persists across reconnects, so every Client resynchronises first)
    QGAD_REMOTE_ITER_SCALE  factor for the iteration counts of long loops (a slow UART)
    QGAD_REMOTE_MAX_BYTES   biggest payload the channel carries in time; tests that must
                            send more skip
    QGAD_REMOTE_FACTS       JSON: what the remote machine says about itself (host-name,
                            kernel-release, kernel-version, machine, tz-offset, tz-zone)
Tests that need an agent of their own (options, config, caps of a fresh agent, several
sessions at once, the agent's files or processes) are marked @local_only(reason).
"""

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

import qgaclient
from qgaclient import QgaError, connect  # noqa: F401 (QgaError: for the tests)

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _find_bin():
    env = os.environ.get('QGAD_BIN')
    if env:
        return os.path.abspath(env)  # agents run in their own temp dirs
    for d in ('build', 'build-asan'):
        p = os.path.join(REPO, d, 'qgad')
        if os.access(p, os.X_OK):
            return p
    raise RuntimeError('set QGAD_BIN to the built qgad daemon')


QGAD_BIN = _find_bin()


def _is_sanitized(path):
    try:
        with open(path, 'rb') as f:
            return b'__asan_init' in f.read()
    except OSError:
        return False


SANITIZED = _is_sanitized(QGAD_BIN)
SCALE = float(os.environ.get('QGAD_TIMEOUT_SCALE') or (4 if SANITIZED else 1))


def timeout(seconds):
    """A deadline in seconds, scaled for slow (sanitizer) builds."""
    return seconds * SCALE


DEFAULT_TIMEOUT = qgaclient.DEFAULT_TIMEOUT


def _remote_address(text):
    if not text:
        return None
    kind, _, where = text.partition(':')
    if kind == 'unix' and where:
        return ('unix', where)
    host, _, port = where.rpartition(':')
    if kind == 'tcp' and host and port.isdigit():
        return ('tcp', (host, int(port)))
    raise RuntimeError('QGAD_REMOTE: expected unix:PATH or tcp:HOST:PORT, got %r' % text)


REMOTE = _remote_address(os.environ.get('QGAD_REMOTE'))
REMOTE_DEVICE = bool(REMOTE) and os.environ.get('QGAD_REMOTE_KIND', 'listen') == 'device'
ITER_SCALE = float(os.environ.get('QGAD_REMOTE_ITER_SCALE') or 1) if REMOTE else 1.0
MAX_BYTES = int(os.environ.get('QGAD_REMOTE_MAX_BYTES') or 0) if REMOTE else 0


def local_only(reason):
    """Decorator (test or class): skipped in remote mode, where there is one agent that
    somebody else started and, on a device, one session. Say what the test needs."""
    return unittest.skipIf(REMOTE, 'local agent only: ' + reason)


def iterations(n):
    """N, scaled down in remote mode on a slow channel (QGAD_REMOTE_ITER_SCALE)."""
    return max(1, int(n * ITER_SCALE))


def skip_unless_carries(test, nbytes):
    """Skip TEST if the remote channel cannot carry NBYTES in time (QGAD_REMOTE_MAX_BYTES)."""
    if MAX_BYTES and nbytes > MAX_BYTES:
        test.skipTest('sends %.1f MiB; this remote channel carries %.2f MiB in time' %
                      (nbytes / (1 << 20), MAX_BYTES / (1 << 20)))


def machine_facts():
    """What the machine the agent runs on says about itself: this one, or in remote mode
    QGAD_REMOTE_FACTS (None there if not given)."""
    if REMOTE:
        text = os.environ.get('QGAD_REMOTE_FACTS')
        return json.loads(text) if text else None
    u = os.uname()
    lt = time.localtime()
    return {'host-name': socket.gethostname(), 'kernel-release': u.release,
            'kernel-version': u.version, 'machine': u.machine, 'tz-offset': lt.tm_gmtoff,
            'tz-zone': lt.tm_zone}


def free_tcp_port():
    """A loopback port that was free a moment ago (bind 0, read it, close)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]
    finally:
        s.close()


def wait_for(predicate, secs=DEFAULT_TIMEOUT, interval=0.01, what='condition'):
    deadline = time.monotonic() + timeout(secs)
    while True:
        v = predicate()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError('timed out waiting for ' + what)
        time.sleep(interval)


def run_qgad(args, secs=DEFAULT_TIMEOUT, env=None, stdin=subprocess.DEVNULL):
    """Run the daemon for a one-shot CLI (-D, -V, -b help, bad options) and return the
    CompletedProcess (stdout/stderr as text)."""
    full_env = dict(os.environ)
    if env:
        full_env.update(env)
    return subprocess.run([QGAD_BIN] + list(args), stdin=stdin, capture_output=True,
                          text=True, timeout=timeout(secs), env=full_env)


class Agent:
    """The qgad daemon in its own temp dir: statedir (-t), logfile (-l), -v, a config file
    (-c, empty unless `config` text is given, so the host's config never leaks in).

    method: 'unix-listen' (socket in the temp dir) or 'tcp-listen' (free loopback port).
    Create with start=False (or use as a context manager, which starts it) to prepare the
    statedir first, e.g. a frozen marker. extra_args go after the generated ones."""

    def __init__(self, method='unix-listen', extra_args=(), config=None, statedir=None,
                 env=None, verbose=True, logfile=True, path=None, pass_fds=()):
        self.tmpdir = tempfile.mkdtemp(prefix='qgadtest-')
        self.method = method
        self.extra_args = list(extra_args)
        self.config = config
        self.env = env
        self.verbose = verbose
        self.statedir = statedir or self.tmp('state')
        os.makedirs(self.statedir, exist_ok=True)
        self.logfile = self.tmp('qgad.log') if logfile else None
        self.port = None
        self.path = path
        self.pass_fds = tuple(pass_fds)  # descriptors the agent inherits
        if method == 'unix-listen' and path is None:
            self.path = self.tmp('qga.sock')
        elif method == 'tcp-listen' and path is None:
            self.port = free_tcp_port()
            self.path = '127.0.0.1:%d' % self.port
        elif method == 'tcp-listen':
            self.port = int(path.rsplit(':', 1)[1])
        self.proc = None
        self.pid = None
        self.returncode = None
        self._stderr = None
        self._stalls_seen = 0  # bytes of stalls.log already reported

    def tmp(self, name):
        return os.path.join(self.tmpdir, name)

    def args(self):
        a = [QGAD_BIN, '-m', self.method, '-p', self.path, '-t', self.statedir]
        if self.logfile:
            a += ['-l', self.logfile]
        if self.verbose:
            a.append('-v')
        if self.config is not False:
            conf = self.tmp('qgad.conf')
            with open(conf, 'w') as f:
                f.write(self.config or '')
            a += ['-c', conf]
        return a + self.extra_args

    def start(self, wait=True):
        if REMOTE:
            # a test that was not marked @local_only must not quietly test the host's agent
            raise unittest.SkipTest('starts an agent of its own (remote mode)')
        env = dict(os.environ)
        env['QGAD_STALL_REPORT'] = self.tmp('stalls.log')  # -DQGAD_LOOP_STALL_CHECK=ON
        if self.env:
            env.update(self.env)
        self._stderr = open(self.tmp('stderr'), 'wb')
        self.proc = subprocess.Popen(self.args(), stdin=subprocess.DEVNULL,
                                     stdout=self._stderr, stderr=self._stderr, env=env,
                                     cwd=self.tmpdir, pass_fds=self.pass_fds)
        self.pid = self.proc.pid
        if wait:
            self.wait_ready()
        return self

    def address(self):
        if self.method == 'unix-listen':
            return ('unix', self.path)
        return ('tcp', ('127.0.0.1', self.port))

    def wait_ready(self, secs=DEFAULT_TIMEOUT, address=None, daemonized=False):
        """Until the listener is listening. Looked up in /proc/net so that no probe
        connection takes one of the agent's client slots; a probe connection is the
        fallback where /proc/net is unavailable. daemonized: the process started here
        was the -d parent, which has exited by design."""
        address = address or self.address()
        deadline = time.monotonic() + timeout(secs)
        while True:
            if not daemonized and self.proc.poll() is not None:
                raise AssertionError('qgad exited early with %s\n%s' %
                                     (self.proc.returncode, self.diagnostics()))
            if _is_listening(address):
                return
            if time.monotonic() > deadline:
                raise AssertionError('qgad did not start listening\n' + self.diagnostics())
            time.sleep(0.01)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, sig=signal.SIGTERM, secs=DEFAULT_TIMEOUT):
        """Signal the daemon and return its exit code (negative: killed by a signal)."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            os.kill(self.pid, sig)
            try:
                self.proc.wait(timeout=timeout(secs))
            except subprocess.TimeoutExpired:
                os.kill(self.pid, signal.SIGKILL)
                self.proc.wait()
                raise AssertionError('qgad did not exit on signal %d\n%s' %
                                     (sig, self.diagnostics()))
        self.returncode = self.proc.returncode
        return self.returncode

    def wait_exit(self, secs=DEFAULT_TIMEOUT):
        try:
            return self.proc.wait(timeout=timeout(secs))
        except subprocess.TimeoutExpired:
            raise AssertionError('qgad still running\n' + self.diagnostics())

    def log_text(self):
        if not self.logfile:
            return ''
        try:
            with open(self.logfile, 'r', errors='replace') as f:
                return f.read()
        except FileNotFoundError:
            return ''

    def stderr_text(self):
        try:
            with open(self.tmp('stderr'), 'r', errors='replace') as f:
                return f.read()
        except FileNotFoundError:
            return ''

    def diagnostics(self):
        return ('--- qgad stderr ---\n%s\n--- qgad log (tail) ---\n%s' %
                (self.stderr_text()[-4000:], self.log_text()[-4000:]))

    def sanitizer_report(self):
        """Sanitizer findings on the daemon's stderr, or ''."""
        text = self.stderr_text()
        for marker in ('ERROR: AddressSanitizer', 'ERROR: LeakSanitizer', 'runtime error:'):
            if marker in text:
                return text
        return ''

    def stall_report(self):
        """Loop stalls the daemon reported since the last call ("stall <ms> ms in <label>"
        lines; only a -DQGAD_LOOP_STALL_CHECK=ON build writes them), or ''."""
        try:
            with open(self.tmp('stalls.log'), 'rb') as f:
                f.seek(self._stalls_seen)
                text = f.read()
        except FileNotFoundError:
            return ''
        self._stalls_seen += len(text)
        return text.decode(errors='replace')

    def cleanup(self):
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.pid, signal.SIGKILL)
            self.proc.wait()
        if self._stderr:
            self._stderr.close()
            self._stderr = None
        if not os.environ.get('QGAD_KEEP'):
            shutil.rmtree(self.tmpdir, ignore_errors=True)

    def __enter__(self):
        if self.proc is None:
            try:
                self.start()
            except BaseException:
                self.cleanup()
                raise
        return self

    def __exit__(self, exc_type, exc, tb):
        try:
            if exc_type is not None:
                sys.stderr.write(self.diagnostics() + '\n')
            elif self.alive():
                # A clean stop lets a sanitizer build report leaks.
                self.stop()
            report = self.sanitizer_report()
            stalls = self.stall_report()
        finally:
            self.cleanup()
        if report and exc_type is None:
            raise AssertionError('sanitizer report from qgad:\n' + report[-8000:])
        if stalls and exc_type is None:
            raise AssertionError('qgad loop stalled:\n' + stalls[-8000:])
        return False


class RemoteAgent:
    """The agent of QGAD_REMOTE, which this process neither starts nor stops."""
    device = REMOTE_DEVICE

    def address(self):
        return REMOTE

    def alive(self):
        return True


def _proc_net_listening(address):
    """True/False from /proc/net, or None if it cannot tell."""
    kind, where = address
    try:
        if kind == 'unix':
            with open('/proc/net/unix') as f:
                next(f)
                for line in f:
                    fields = line.split()
                    # Flags 00010000 is __SO_ACCEPTCON: a listening socket
                    if len(fields) >= 8 and fields[7] == where and \
                            int(fields[3], 16) & 0x10000:
                        return True
            return False
        host, port = where
        for table in ('/proc/net/tcp', '/proc/net/tcp6'):
            with open(table) as f:
                next(f)
                for line in f:
                    fields = line.split()
                    if fields[3] == '0A' and int(fields[1].rsplit(':', 1)[1], 16) == port:
                        return True
        return False
    except (OSError, StopIteration, ValueError, IndexError):
        return None


def _is_listening(address):
    state = _proc_net_listening(address)
    if state is not None:
        return state
    try:
        connect(address, 1).close()
        return True
    except OSError:
        return False


class Client(qgaclient.Client):
    """qgaclient.Client for the suite: accepts an Agent, a RemoteAgent, or an address
    ('unix', path) / ('tcp', (host, port)); deadlines scaled by QGAD_TIMEOUT_SCALE. On a
    device stream (QGAD_REMOTE_KIND=device) the session is shared with every earlier
    client: the constructor resynchronises before the test sees the stream."""

    _device_client = None  # the one open client of a remote device (see __init__)

    def __init__(self, target, secs=DEFAULT_TIMEOUT):
        address = target.address() if isinstance(target, (Agent, RemoteAgent)) else target
        device = REMOTE_DEVICE and address == REMOTE
        if device and Client._device_client is not None:
            # QEMU's chardev serves one host connection at a time, a newer one only after
            # the older one closed: a new client takes the device over, as a host that
            # reconnects does (tests that need two at once are @local_only)
            Client._device_client.close()
        super().__init__(address, secs, scale=SCALE, device=device)
        if device:
            Client._device_client = self


def project_version():
    """The version in CMakeLists.txt, which -V and guest-info report."""
    with open(os.path.join(REPO, 'CMakeLists.txt')) as f:
        return re.search(r'project\(qgad VERSION ([0-9.]+)', f.read()).group(1)


class AgentTestCase(unittest.TestCase):
    """One agent per test class (agent_args: keyword arguments for Agent) and a fresh
    client per test as self.c."""
    agent_args = {}

    @classmethod
    def setUpClass(cls):
        if REMOTE:
            if cls.agent_args:
                raise unittest.SkipTest('local agent only: started with %r' % cls.agent_args)
            cls.agent = RemoteAgent()
            return
        cls.agent = Agent(**cls.agent_args).__enter__()

    @classmethod
    def tearDownClass(cls):
        if not REMOTE:
            cls.agent.__exit__(None, None, None)

    def setUp(self):
        if not REMOTE:  # a stall fails the test it happened in (runs after the close)
            self.addCleanup(self._fail_on_stall)
        self.c = Client(self.agent)
        self.addCleanup(self.c.close)

    def _fail_on_stall(self):
        stalls = self.agent.stall_report()
        if stalls:
            self.fail('qgad loop stalled:\n' + stalls[-8000:])


def main():
    """unittest.main(); ctest passes -v."""
    unittest.main(buffer=False)
