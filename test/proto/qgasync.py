"""Finding our own guest-sync-delimited reply in a device stream (virtio-serial,
isa-serial), for qgaclient.Client.resync() (the client of both the protocol suite and the
QEMU lab). Standard library only, no side effects on import."""

import json


def take_sync_reply(buf, sync_id):
    """Scan buf (a bytearray of received bytes) for 0xFF + the reply {"return": sync_id},
    consuming what it has looked at: stale replies, parse errors, a tty's echo of our
    requests. Returns True once the reply was found (what follows it stays in buf), False
    when more bytes are needed."""
    while True:
        start = buf.find(b'\xff')
        if start < 0:
            buf.clear()
            return False
        end = buf.find(b'\n', start + 1)
        if end < 0:
            del buf[:start]
            return False
        # an echoed request has no newline: the last 0xFF before the newline starts a reply
        line = bytes(buf[start:end])
        del buf[:end + 1]
        try:
            reply = json.loads(line[line.rfind(b'\xff') + 1:])
        except ValueError:
            continue
        if isinstance(reply, dict) and reply.get('return') == sync_id:
            return True
