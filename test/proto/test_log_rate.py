"""The log rate limit (base/log.h): a host that makes the agent log cannot fill the disk
with it, and the log says how many lines it left out."""

import os
import unittest

from qgadtest import AgentTestCase, local_only, main, wait_for

BATCH = 1000


@local_only('reads the agent log file')
class LogRateTest(AgentTestCase):
    def test_flood_of_parse_errors_keeps_the_log_small(self):
        """100,000 malformed requests, each a parse error with a debug line under -v: every
        one is answered, the agent still answers, and the log stays well under 1 MiB with a
        line that counts what was suppressed."""
        n = 100000
        for _ in range(n // BATCH):
            self.c.send_raw(b'}' * BATCH)
            for r in self.c.recv_replies(BATCH):
                self.assertIn('error', r)
        self.assertEqual(self.c.cmd('guest-ping', id=1), {'return': {}, 'id': 1})
        self.assertLess(os.path.getsize(self.agent.logfile), 1 << 20)
        # the count is written once lines flow again, within about a second
        wait_for(lambda: self.c.cmd('guest-ping', id=2) and
                 'log lines suppressed (rate limit)' in self.agent.log_text(),
                 what='the suppressed-count line')
        log = self.agent.log_text()
        self.assertLess(log.count(': debug: '), n // 10)
        self.assertLess(len(log), 1 << 20)


if __name__ == '__main__':
    main()
