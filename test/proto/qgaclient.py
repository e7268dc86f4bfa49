"""The one QGA client of qgad's tests: the protocol suite (qgadtest.py builds its Client on
this one) and the QEMU lab (test/e2e, on QEMU's chardev sockets) both speak through it.
Standard library only, no side effects on import.

    c = Client(('unix', path))          # or ('tcp', (host, port))
    c.ok('guest-ping')                  # the 'return' value, or raise QgaError
    c.cmd('guest-ping', id=1)           # the whole reply dict
    c.err('guest-nope')                 # (class, desc) of an expected error

Replies are lines; a reply to guest-sync-delimited starts with a raw 0xFF byte, which
recv_reply strips (see .last_raw / .last_delimited). Every wait has a deadline in seconds,
multiplied by the client's `scale` (slow sanitizer builds).

On a device stream (the host end of a virtio-serial or isa-serial channel: ONE session that
persists across host reconnects, where a tty may echo what we send) a client must first find
its own place in the stream: resync() (done by the constructor with device=True).
"""

import fcntl
import json
import random
import select
import socket
import struct
import termios
import time

from qgasync import take_sync_reply

DEFAULT_TIMEOUT = 10
_MISSING = object()


class QgaError(Exception):
    """An error reply where a 'return' was expected."""

    def __init__(self, reply):
        err = reply.get('error', {}) if isinstance(reply, dict) else {}
        self.cls = err.get('class')
        self.desc = err.get('desc')
        self.reply = reply
        super().__init__('%s: %s' % (self.cls, self.desc))


def connect(address, secs):
    """A connected stream socket to ('unix', path) or ('tcp', (host, port))."""
    kind, where = address
    if kind == 'unix':
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    else:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(secs)
    try:
        s.connect(where)
    except BaseException:
        s.close()
        raise
    s.settimeout(None)
    return s


def request(name, args=None, id=_MISSING):
    """One request as bytes."""
    req = {'execute': name}
    if args is not None:
        req['arguments'] = args
    if id is not _MISSING:
        req['id'] = id
    return json.dumps(req).encode()


def _tcp_peer_unread(sock):
    """Bytes sent on TCP socket `sock` that its (local) peer has not read yet, from the peer's
    rx_queue in /proc/net/tcp; None if the peer's end is not there."""
    mine = sock.getsockname()[1]
    theirs = sock.getpeername()[1]
    for table in ('/proc/net/tcp', '/proc/net/tcp6'):
        try:
            with open(table) as f:
                next(f)
                for line in f:
                    fields = line.split()
                    local, remote = fields[1], fields[2]
                    if int(local.rsplit(':', 1)[1], 16) == theirs and \
                            int(remote.rsplit(':', 1)[1], 16) == mine:
                        return int(fields[4].split(':')[1], 16)
        except (OSError, StopIteration, ValueError, IndexError):
            pass
    return None


class Client:
    """One connection (one session) to an agent at `address`."""

    def __init__(self, address, secs=DEFAULT_TIMEOUT, scale=1.0, device=False):
        self.address = address
        self.scale = scale
        self.sock = connect(address, secs * scale)
        self.buf = bytearray()
        self.eof = False
        self.last_raw = None
        self.last_delimited = False
        self.device = device
        if device:
            try:
                self.resync()
            except BaseException:
                self.close()
                raise

    def _deadline(self, secs):
        return time.monotonic() + secs * self.scale

    # --- sending -------------------------------------------------------------------
    def send_raw(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.sock.settimeout(DEFAULT_TIMEOUT * self.scale)
        try:
            self.sock.sendall(data)
        finally:
            self.sock.settimeout(None)

    request = staticmethod(request)

    def send(self, name, args=None, id=_MISSING):
        self.send_raw(request(name, args, id))

    def unread(self):
        """How many bytes sent so far the other end has not read from its socket yet:
        SIOCOUTQ on a unix socket (the kernel charges a stream's queued data to its sender
        until the reader has taken it), the peer's receive queue on loopback TCP."""
        if self.sock.family == socket.AF_UNIX:
            out = fcntl.ioctl(self.sock.fileno(), termios.TIOCOUTQ, struct.pack('i', 0))
            return struct.unpack('i', out)[0]
        n = _tcp_peer_unread(self.sock)
        if n is None:
            raise RuntimeError('cannot see the TCP peer of %r' % (self.sock.getpeername(),))
        return n

    def wait_consumed(self, secs=DEFAULT_TIMEOUT):
        """Until the other end has read everything sent so far, so that what is sent next
        reaches it in a later read. For an agent's own socket that is the agent; for QEMU's
        chardev it is QEMU (which passes the bytes on to the guest as it reads them)."""
        deadline = self._deadline(secs)
        while self.unread():
            if time.monotonic() > deadline:
                raise TimeoutError('the agent did not read what was sent (%d bytes left)'
                                   % self.unread())
            time.sleep(0.0005)

    # --- receiving -----------------------------------------------------------------
    def _fill(self, deadline):
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError('no reply from the agent in time')
        r, _, _ = select.select([self.sock], [], [], left)
        if not r:
            raise TimeoutError('no reply from the agent in time')
        data = self.sock.recv(1 << 20)
        if not data:
            self.eof = True
            raise EOFError('the agent (or QEMU) closed the connection')
        self.buf += data

    def recv_line(self, secs=DEFAULT_TIMEOUT):
        """One raw reply line including a leading 0xFF if present, without the '\\n'."""
        deadline = self._deadline(secs)
        while True:
            i = self.buf.find(b'\n')
            if i >= 0:
                line = bytes(self.buf[:i])
                del self.buf[:i + 1]
                return line
            self._fill(deadline)

    def recv_reply(self, secs=DEFAULT_TIMEOUT):
        line = self.recv_line(secs)
        self.last_raw = line
        self.last_delimited = line.startswith(b'\xff')
        return json.loads(line.lstrip(b'\xff').decode('ascii'))

    def recv_replies(self, n, secs=DEFAULT_TIMEOUT):
        return [self.recv_reply(secs) for _ in range(n)]

    def expect_silence(self, secs=0.3):
        """Assert nothing arrives for secs (not scaled: absence can only be sampled). On a
        device, where a reply may be slower than the sample, a ping then proves it: replies
        come in request order, so the ping's must be the next line."""
        if self.buf:
            raise AssertionError('unexpected bytes from the agent: %r' % bytes(self.buf[:200]))
        r, _, _ = select.select([self.sock], [], [], secs)
        if r:
            data = self.sock.recv(65536)
            if data:
                raise AssertionError('unexpected bytes from the agent: %r' % data[:200])
            self.eof = True
            raise AssertionError('the agent closed the connection')
        if self.device:
            mark = 'silence-%d' % random.randint(1, 2**53)
            self.send('guest-ping', id=mark)
            reply = self.recv_reply()
            if reply != {'return': {}, 'id': mark}:
                raise AssertionError('unexpected reply from the agent: %r' % self.last_raw[:200])

    def expect_closed(self, secs=DEFAULT_TIMEOUT):
        """Read (and discard) until EOF or a reset; fail on timeout."""
        deadline = self._deadline(secs)
        try:
            while True:
                self.buf.clear()
                self._fill(deadline)
        except EOFError:
            return True
        except (ConnectionResetError, BrokenPipeError):
            return True

    # --- conveniences --------------------------------------------------------------
    def cmd(self, name, args=None, id=_MISSING, secs=DEFAULT_TIMEOUT):
        """Send one request and return its parsed reply."""
        self.send(name, args, id)
        return self.recv_reply(secs)

    def ok(self, name, args=None, secs=DEFAULT_TIMEOUT):
        """The 'return' value, or raise QgaError."""
        reply = self.cmd(name, args, secs=secs)
        if 'return' not in reply:
            raise QgaError(reply)
        return reply['return']

    def err(self, name, args=None, secs=DEFAULT_TIMEOUT):
        """(class, desc) of an expected error reply."""
        reply = self.cmd(name, args, secs=secs)
        if 'error' not in reply:
            raise AssertionError('expected an error from %s, got %r' % (name, reply))
        return reply['error']['class'], reply['error']['desc']

    def sync(self, secs=DEFAULT_TIMEOUT):
        """0xFF + guest-sync-delimited with a random id; skip the replies up to its own
        (e.g. the parse error upstream emits for the 0xFF), which must carry the 0xFF.
        Every line must be a reply: for a device stream that may hold anything, resync().
        Returns the id."""
        sid = random.randint(1, 2**53)
        self.send_raw(b'\xff' + request('guest-sync-delimited', {'id': sid}))
        deadline = time.monotonic() + secs * self.scale
        while True:
            left = max(0.001, (deadline - time.monotonic()) / self.scale)
            reply = self.recv_reply(left)
            if reply.get('return') == sid:
                if not self.last_delimited:
                    raise AssertionError('guest-sync-delimited reply lacks the 0xFF prefix')
                return sid

    def resync(self, secs=3 * DEFAULT_TIMEOUT, sync_id=None):
        """Find the start of our own reply in a device stream: 0xFF (which makes the agent
        drop partial input an earlier client left) + guest-sync-delimited, then discard
        everything before 0xFF + that reply: stale replies, parse errors, a tty's echo.
        sync_id: re-send the same id (a poll for an agent that may not be up yet)."""
        sid = random.randint(1, 2**53) if sync_id is None else sync_id
        self.send_raw(b'\xff' + request('guest-sync-delimited', {'id': sid}))
        deadline = self._deadline(secs)
        while not take_sync_reply(self.buf, sid):
            self._fill(deadline)
        return sid

    @property
    def closed(self):
        return self.sock is None

    def close(self):
        if self.sock is not None:
            try:
                self.sock.close()
            except OSError:
                pass
            self.sock = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False
