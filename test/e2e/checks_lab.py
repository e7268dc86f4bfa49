"""The lab's own promises to later checks (disks, NIC, vCPUs, chpasswd,
shutdown), verified through the control port; the agent is not involved."""

import time

import lab
from labtest import check


@check("virtio-serial")
def lab_data_disks_are_ext4(t, guest):
    _, mounts = guest.sh("cat /proc/mounts", check=True)
    fs = {line.split()[1]: (line.split()[0], line.split()[2]) for line in mounts.splitlines()}
    t.assertEqual(fs.get("/mnt/blk"), ("/dev/vda", "ext4"))
    t.assertEqual(fs.get("/mnt/scsi"), ("/dev/sda", "ext4"))
    _, serial = guest.sh("cat /sys/block/vda/serial", check=True)
    t.assertEqual(serial.strip(), lab.BLK_SERIAL)
    _, scsi = guest.sh("ls /sys/block/sda/device/scsi_device", check=True)
    t.assertEqual(scsi.split()[0].split(":")[2], str(lab.SCSI_ID))


@check("virtio-serial")
def lab_nic_has_test_net_address(t, guest):
    _, out = guest.sh("cat /sys/class/net/eth0/address; ip -4 addr show eth0", check=True)
    t.assertIn(lab.MAC, out)
    t.assertIn(lab.GUEST_IP + "/24", out)


@check("virtio-serial")
def lab_vcpus_two_online_three_possible(t, guest):
    _, out = guest.sh("cat /sys/devices/system/cpu/online /sys/devices/system/cpu/possible",
                      check=True)
    t.assertEqual(out.split(), ["0-1", "0-2"])


@check("virtio-serial")
def lab_chpasswd_is_real(t, guest):
    """Debian's chpasswd really rewrites /etc/shadow in the guest."""
    rc, out = guest.sh("echo labuser:lab-secret | chpasswd && grep ^labuser: /etc/shadow")
    t.assertEqual(rc, 0, out)
    t.assertTrue(out.split(":")[1].startswith("$y$"), out)
    rc, out = guest.sh("echo nosuchuser:x | chpasswd")
    t.assertNotEqual(rc, 0, out)


@check("virtio-serial")
def lab_power_and_clock_tools(t, guest):
    """What shutdown and set-time will run: /sbin/shutdown, hwclock, an RTC."""
    rc, out = guest.sh("test -x /sbin/shutdown && test -x /sbin/hwclock && "
                       "test -c /dev/rtc0 && readlink /sbin/poweroff")
    t.assertEqual(rc, 0, out)


@check("virtio-serial", own_guest=True)
def lab_cpu_hotplug_then_poweroff(t, guest):
    """QMP plugs the third vCPU and the guest sees it (offline: no udev);
    then /sbin/shutdown as the agent calls it really ends QEMU."""
    guest.hotplug_cpu()
    rc, out = "", ""
    for _ in range(50):
        rc, out = guest.sh("cat /sys/devices/system/cpu/cpu2/online")
        if rc == 0:
            break
        time.sleep(0.1)
    t.assertEqual((rc, out.strip()), (0, "0"))
    _, present = guest.sh("cat /sys/devices/system/cpu/present", check=True)
    t.assertEqual(present.strip(), "0-2")
    guest.sh("(sleep 0.3; shutdown -h -P +0 'hypervisor initiated shutdown') "
             ">/dev/null 2>&1 &", check=True)
    t.assertEqual(guest.wait_exit(30), 0)
    t.assertIn("LAB: shutdown -h -P +0", guest.console())
