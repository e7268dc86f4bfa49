"""The state directory: qga.state at startup, and starting with a frozen marker
(PROTOCOL.md 4.2)."""

import os
import re
import signal
import unittest

from qgadtest import Agent, Client, main

FROZEN_ALLOWED = {'guest-ping', 'guest-info', 'guest-sync', 'guest-sync-delimited',
                  'guest-fsfreeze-status', 'guest-fsfreeze-thaw'}
DISABLED = 'Command %s has been disabled: the command is not allowed'


class StateFileTest(unittest.TestCase):
    def test_state_created_at_startup(self):
        a = Agent()
        state = os.path.join(a.statedir, 'qga.state')
        self.assertFalse(os.path.exists(state))
        with a:
            with open(state) as f:
                text = f.read()
            self.assertRegex(text, r'(?m)^\[global\]$')
            self.assertRegex(text, r'(?m)^fd_counter=1000$')
            self.assertFalse(os.path.exists(os.path.join(a.statedir, 'qga.state.isfrozen')))

    def test_existing_state_kept(self):
        a = Agent()
        state = os.path.join(a.statedir, 'qga.state')
        with open(state, 'w') as f:
            f.write('[global]\nfd_counter=1234\n')
        with a, Client(a) as c:
            c.ok('guest-ping')
            with open(state) as f:
                self.assertRegex(f.read(), r'(?m)^fd_counter=1234$')

    def test_missing_statedir_fails(self):
        a = Agent()
        a.statedir = a.tmp('does-not-exist')
        a.start(wait=False)
        try:
            self.assertNotEqual(a.wait_exit(), 0)
        finally:
            a.cleanup()


class FrozenStartupTest(unittest.TestCase):
    def setUp(self):
        self.agent = Agent()
        self.marker = os.path.join(self.agent.statedir, 'qga.state.isfrozen')
        with open(self.marker, 'w'):
            pass
        self.agent.start()
        self.c = Client(self.agent)

    def tearDown(self):
        self.c.close()
        self.agent.cleanup()

    def test_only_allow_list_enabled(self):
        info = self.c.ok('guest-info')
        registered = {e['name'] for e in info['supported_commands']}
        enabled = {e['name'] for e in info['supported_commands'] if e['enabled']}
        self.assertEqual(enabled, FROZEN_ALLOWED & registered)
        self.assertTrue({'guest-ping', 'guest-info', 'guest-sync',
                         'guest-sync-delimited'} <= enabled)
        for name in ('guest-get-time', 'guest-get-osinfo', 'guest-get-host-name'):
            if name in registered:
                self.assertEqual(self.c.err(name), ('CommandNotFound', DISABLED % name))
        self.assertEqual(self.c.ok('guest-sync', {'id': 8}), 8)
        self.c.sync()

    def test_status_frozen_and_no_state_file(self):
        registered = {e['name'] for e in self.c.ok('guest-info')['supported_commands']}
        if 'guest-fsfreeze-status' in registered:
            self.assertEqual(self.c.ok('guest-fsfreeze-status'), 'frozen')
        self.assertFalse(os.path.exists(os.path.join(self.agent.statedir, 'qga.state')))
        self.assertTrue(os.path.exists(self.marker))

    def test_sigterm_while_frozen_thaws_and_exits(self):
        """qgad differs from upstream here (Part 1 item 5): SIGTERM thaws, then exits 0.
        Nothing on this machine is frozen; thawing an unfrozen mount is a no-op."""
        registered = {e['name'] for e in self.c.ok('guest-info')['supported_commands']}
        if 'guest-fsfreeze-thaw' not in registered:
            self.skipTest('no fsfreeze commands in this build')
        self.assertEqual(self.agent.stop(signal.SIGTERM), 0)
        self.assertFalse(os.path.exists(self.marker))


if __name__ == '__main__':
    main()
