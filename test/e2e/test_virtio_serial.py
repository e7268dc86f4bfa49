"""The agent on virtio-serial (org.qemu.guest_agent.0) in a QEMU guest: every
registered check of this channel (labtest.py) on one shared boot."""

import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import labtest  # noqa: E402

VirtioSerial, VirtioSerialOwnGuest = labtest.channel_cases("virtio-serial")

if __name__ == "__main__":
    unittest.main()
