"""The agent on isa-serial (the second UART, ttyS1) in a QEMU guest: every
registered check of this channel (labtest.py) on one shared boot."""

import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import labtest  # noqa: E402

IsaSerial, IsaSerialOwnGuest = labtest.channel_cases("isa-serial")

if __name__ == "__main__":
    unittest.main()
