"""Host side of the agent channel: a QGA client on QEMU's chardev unix socket.

QEMU's socket chardev accepts one host connection at a time and passes bytes
through unchanged, so this is the same byte stream libvirt or Proxmox speak.
On isa-serial the guest tty echoes what we send until the agent puts it in
raw mode: sync() therefore scans for 0xFF followed by OUR sync reply and
ignores anything else (echoed requests, stale replies, junk).
"""

import json
import os
import random
import socket
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "proto"))
from qgasync import take_sync_reply  # noqa: E402


class QgaError(RuntimeError):
    pass


class QgaClient:
    def __init__(self, path, timeout=10.0):
        self.path = path
        self.timeout = timeout
        self.sock = None
        self.buf = bytearray()

    def connect(self):
        self.close()
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        try:
            s.connect(self.path)
        except OSError:
            s.close()
            raise
        self.sock = s
        self.buf = bytearray()
        return self

    def close(self):
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    def __enter__(self):
        return self.connect() if self.sock is None else self

    def __exit__(self, *exc):
        self.close()

    def send(self, data):
        if isinstance(data, (dict, list)):
            data = json.dumps(data).encode()
        elif isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)

    def _fill(self, deadline):
        left = deadline - time.monotonic()
        if left <= 0:
            raise socket.timeout("no reply within %.1f s" % self.timeout)
        self.sock.settimeout(left)
        chunk = self.sock.recv(65536)
        if not chunk:
            raise QgaError("channel closed by QEMU")
        self.buf += chunk

    def read_line(self, timeout=None):
        """One reply line (without the newline), raw bytes."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while b"\n" not in self.buf:
            self._fill(deadline)
        line, _, rest = self.buf.partition(b"\n")
        self.buf = bytearray(rest)
        return bytes(line)

    def read_reply(self, timeout=None):
        """The next reply as a dict; blank lines are skipped."""
        while True:
            line = self.read_line(timeout).strip()
            if line:
                return json.loads(line)

    def sync(self, timeout=None, sync_id=None):
        """0xFF + guest-sync-delimited; drops everything up to our reply."""
        sync_id = random.randint(1, 2**31) if sync_id is None else sync_id
        self.send(b"\xff" + json.dumps({"execute": "guest-sync-delimited",
                                        "arguments": {"id": sync_id}}).encode())
        deadline = time.monotonic() + (timeout or self.timeout)
        while not take_sync_reply(self.buf, sync_id):
            self._fill(deadline)
        return sync_id

    def call(self, execute, arguments=None, timeout=None, **extra):
        """Send one command; return its reply dict (return or error)."""
        req = {"execute": execute}
        if arguments is not None:
            req["arguments"] = arguments
        req.update(extra)
        self.send(req)
        return self.read_reply(timeout)

    def cmd(self, execute, arguments=None, timeout=None):
        """Send one command; return its "return" value or raise QgaError."""
        reply = self.call(execute, arguments, timeout)
        if "return" not in reply:
            raise QgaError("%s: %r" % (execute, reply))
        return reply["return"]


def wait_ready(path, deadline, poll=0.5):
    """Connect to PATH and sync until the agent answers or DEADLINE passes.

    One connection, the same sync id re-sent every POLL seconds (bytes sent
    before the agent opened its end may be lost, or queued and answered
    late); a final sync with a fresh id then drops the duplicate replies."""
    client = QgaClient(path, timeout=poll)
    last = None
    sync_id = random.randint(1, 2**31)
    while time.monotonic() < deadline:
        try:
            if client.sock is None:
                client.connect()
            client.sync(sync_id=sync_id)
            client.timeout = 10.0
            client.sync()
            return client
        except socket.timeout as e:
            last = e
        except (OSError, QgaError) as e:
            last = e
            client.close()
            time.sleep(0.05)
    client.close()
    raise QgaError("agent on %s not ready: %r" % (path, last))
