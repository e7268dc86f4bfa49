"""guest-file-* and guest-exec on the guest's own disks (the ext4 file
systems on virtio-blk and virtio-scsi), cross-checked through the lab's
control port."""

import base64
import hashlib
import os
import time

from labtest import check

MOUNTS = ("/mnt/blk", "/mnt/scsi")


def write_file(agent, path, data, mode="w"):
    h = agent.ok("guest-file-open", {"path": path, "mode": mode})
    try:
        w = agent.ok("guest-file-write", {"handle": h,
                                           "buf-b64": base64.b64encode(data).decode()})
        assert w["count"] == len(data), w
    finally:
        agent.ok("guest-file-close", {"handle": h})


def read_file(agent, path, count):
    h = agent.ok("guest-file-open", {"path": path})
    try:
        r = agent.ok("guest-file-read", {"handle": h, "count": count}, secs=60)
    finally:
        agent.ok("guest-file-close", {"handle": h})
    return base64.b64decode(r["buf-b64"]), r


def run(agent, path, args=(), input_data=None, timeout=30.0):
    """guest-exec, then guest-exec-status polled as libvirt does."""
    req = {"path": path, "arg": list(args), "capture-output": True}
    if input_data is not None:
        req["input-data"] = base64.b64encode(input_data).decode()
    pid = agent.ok("guest-exec", req)["pid"]
    deadline = time.monotonic() + timeout
    while True:
        st = agent.ok("guest-exec-status", {"pid": pid})
        if st["exited"] or time.monotonic() > deadline:
            return st
        time.sleep(0.05)


@check("virtio-serial", "isa-serial")
def file_write_read_on_data_disks(t, guest):
    a = guest.agent()
    data = os.urandom(48 << 10)
    for mnt in MOUNTS:
        path = mnt + "/written-by-agent"
        write_file(a, path, data)
        _, out = guest.sh("md5sum %s; stat -c %%a %s" % (path, path), check=True)
        md5, mode = out.split()[0], out.split()[-1]
        t.assertEqual(md5, hashlib.md5(data).hexdigest(), mnt)
        t.assertEqual(mode, "600", mnt)
        back, r = read_file(a, path, len(data) + 1)
        t.assertEqual(back, data, mnt)
        t.assertTrue(r["eof"], r)


@check("virtio-serial")
def file_read_4mib_made_by_guest(t, guest):
    """A big read reply over the real channel, of a file the agent did not write."""
    guest.sh("dd if=/dev/urandom of=/mnt/scsi/big bs=1M count=4 2>/dev/null", check=True)
    _, out = guest.sh("md5sum /mnt/scsi/big", check=True)
    back, r = read_file(guest.agent(), "/mnt/scsi/big", 4 << 20)
    t.assertEqual(r["count"], 4 << 20)
    t.assertEqual(hashlib.md5(back).hexdigest(), out.split()[0])


@check("virtio-serial", "isa-serial")
def exec_sees_the_guest(t, guest):
    st = run(guest.agent(), "/bin/sh", ["-c", "cat /proc/mounts; echo oops >&2; exit 3"])
    t.assertTrue(st["exited"], st)
    t.assertEqual(st.get("exitcode"), 3, st)
    out = base64.b64decode(st.get("out-data", "")).decode()
    t.assertIn("/dev/vda /mnt/blk ext4", out)
    t.assertIn("/dev/sda /mnt/scsi ext4", out)
    t.assertEqual(base64.b64decode(st.get("err-data", "")), b"oops\n")


@check("virtio-serial")
def exec_input_to_disk(t, guest):
    """input-data through a guest process onto the virtio-blk disk."""
    data = os.urandom(20000)
    st = run(guest.agent(), "/bin/sh", ["-c", "cat > /mnt/blk/from-exec && md5sum /mnt/blk/from-exec"],
             input_data=data)
    t.assertEqual(st.get("exitcode"), 0, st)
    t.assertEqual(base64.b64decode(st["out-data"]).split()[0].decode(),
                  hashlib.md5(data).hexdigest())
