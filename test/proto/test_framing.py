"""Framing: pipelining, arbitrary splits, 0xFF resync, the sync reply, parser caps
(PROTOCOL.md 4.1, Part 1 items 2 and 4)."""

import json
import unittest

from qgadtest import (AgentTestCase, Client, iterations, local_only, main, skip_unless_carries,
                      timeout, wait_for)

NESTING = 1024
TOKEN_COUNT = 2 << 20
TOKEN_BYTES = 64 << 20


class FramingTest(AgentTestCase):
    def test_pipeline_1000_in_one_write(self):
        n = iterations(1000)
        reqs = []
        for i in range(n):
            if i % 3 == 0:
                reqs.append(Client.request('guest-sync', {'id': i}, id=i))
            else:
                reqs.append(Client.request('guest-ping', id=i))
        self.c.send_raw(b''.join(reqs))
        for i in range(n):
            r = self.c.recv_reply()
            self.assertEqual(r['id'], i)
            self.assertEqual(r['return'], i if i % 3 == 0 else {})

    def test_split_at_every_byte(self):
        """Three requests sent in two parts, split at every byte: the agent has read the
        first part before the second is sent, so it gets them in two reads (in remote
        mode: QEMU has taken the first part off its chardev socket)."""
        msg = (Client.request('guest-sync', {'id': 1733000000001}, id='a') +
               b' \n' + b"{'execute':'guest-ping','id':[\"x\\\"y\"]}" +
               Client.request('guest-sync-delimited', {'id': -5}))
        expect = [{'return': 1733000000001, 'id': 'a'}, {'return': {}, 'id': ['x"y']},
                  {'return': -5}]
        splits = range(1, len(msg))
        for k in splits[::len(splits) // iterations(len(splits))]:  # evenly spread if scaled
            with self.subTest(split=k):
                self.c.send_raw(msg[:k])
                self.c.wait_consumed()
                self.c.send_raw(msg[k:])
                self.assertEqual(self.c.recv_replies(3), expect)
                self.assertTrue(self.c.last_delimited)

    def test_one_byte_at_a_time(self):
        msg = Client.request('guest-sync', {'id': 77}, id={'k': [1, 2]})
        for b in msg:
            self.c.send_raw(bytes([b]))
            self.c.wait_consumed()  # one read per byte
        self.assertEqual(self.c.recv_reply(), {'return': 77, 'id': {'k': [1, 2]}})

    # --- sync ----------------------------------------------------------------------
    def test_sync_delimited_prefix(self):
        self.c.send('guest-sync-delimited', {'id': 123})
        line = self.c.recv_line()
        self.assertTrue(line.startswith(b'\xff'), line)
        self.assertFalse(line.startswith(b'\xff\xff'), line)
        self.c.send('guest-sync', {'id': 124})
        self.assertFalse(self.c.recv_line().startswith(b'\xff'))
        self.c.send('guest-ping')
        self.assertFalse(self.c.recv_line().startswith(b'\xff'), 'one-shot 0xFF repeated')

    def test_proxmox_style(self):
        """sync-delimited and the command in one write: 0xFF + two replies in order."""
        self.c.send_raw(b'\xff' + Client.request('guest-sync-delimited', {'id': 4242}) +
                        Client.request('guest-ping'))
        first = self.c.recv_line()
        self.assertEqual(first, b'\xff{"return": 4242}')
        self.assertEqual(self.c.recv_reply(), {'return': {}})
        self.c.expect_silence(0.2)

    def test_sync_order(self):
        self.c.send_raw(Client.request('guest-ping', id=1) +
                        Client.request('guest-sync', {'id': 2}, id=2) +
                        Client.request('guest-ping', id=3) +
                        Client.request('guest-sync-delimited', {'id': 4}, id=4) +
                        Client.request('guest-nope', id=5))
        ids = [r['id'] for r in self.c.recv_replies(5)]
        self.assertEqual(ids, [1, 2, 3, 4, 5])

    def test_helper_sync(self):
        self.c.send_raw(b'{"execute": "guest-pi')
        self.c.sync()
        self.assertEqual(self.c.cmd('guest-ping', id=1), {'return': {}, 'id': 1})

    # --- 0xFF ----------------------------------------------------------------------
    def read_until_id(self, id, max_errors):
        errors = []
        while True:
            r = self.c.recv_reply()
            if r.get('id') == id and 'return' in r:
                return errors
            self.assertIn('error', r, r)
            self.assertTrue(r['error']['desc'].startswith('JSON'), r)
            errors.append(r['error']['desc'])
            self.assertLessEqual(len(errors), max_errors, errors)

    def test_ff_resync_after_garbage(self):
        for garbage in (b'{"execute": "guest-pi', b'{"execute": [1, {"a": ', b'{"exe',
                        b'[[[[', b'{"execute": "guest-ping", "id": "unterminated'):
            with self.subTest(garbage=garbage):
                self.c.send_raw(garbage + b'\xff' + Client.request('guest-ping', id=5))
                self.read_until_id(5, 1)
                self.c.expect_silence(0.05)

    def test_lone_ff_between_requests_gives_no_reply(self):
        self.c.send_raw(Client.request('guest-ping', id=1) + b'\xff' +
                        Client.request('guest-ping', id=2) + b'\xff\xff\n\xff')
        self.assertEqual(self.c.recv_replies(2),
                         [{'return': {}, 'id': 1}, {'return': {}, 'id': 2}])
        self.c.expect_silence(0.2)
        self.c.send_raw(b'\xff')
        self.c.expect_silence(0.2)
        self.assertEqual(self.c.cmd('guest-ping', id=3), {'return': {}, 'id': 3})

    # --- caps ----------------------------------------------------------------------
    def test_nesting_at_limit_works(self):
        # the request object itself is one level
        ids = '[' * (NESTING - 1) + ']' * (NESTING - 1)
        self.c.send_raw('{"execute": "guest-ping", "id": %s}' % ids)
        r = self.c.recv_line()
        self.assertTrue(r.startswith(b'{'), r[:100])
        self.assertIn(b'"return"', r)

    def assertCapThenPing(self, payload, desc, max_errors=3):
        self.c.send_raw(payload)
        self.c.send_raw(b'\xff' + Client.request('guest-ping', id='after'))
        errors = self.read_until_id('after', max_errors)
        self.assertGreaterEqual(len(errors), 1)
        self.assertEqual(errors[0], desc)
        self.assertEqual(self.c.cmd('guest-ping', id=2), {'return': {}, 'id': 2})

    def test_nesting_over_limit(self):
        self.assertCapThenPing(b'[' * (NESTING + 1), 'JSON nesting depth limit exceeded')
        self.assertCapThenPing(b'{"execute": "guest-ping", "id": ' + b'[' * NESTING,
                               'JSON nesting depth limit exceeded')
        # a complete over-deep message costs one error reply; the rest of it is skipped
        # and the next request works without a 0xFF
        self.c.send_raw(b'{"execute": "guest-ping", "id": ' + b'[' * NESTING + b']' * NESTING +
                        b'}' + Client.request('guest-ping', id=3))
        r = self.c.recv_reply()
        self.assertEqual(r['error']['desc'], 'JSON nesting depth limit exceeded')
        self.assertEqual(self.c.recv_reply(), {'return': {}, 'id': 3})

    def test_token_count_limit(self):
        payload = (b'{"execute": "guest-ping", "arguments": {"x": [' +
                   b'0,' * (TOKEN_COUNT + 16))
        skip_unless_carries(self, len(payload))
        self.assertCapThenPing(payload, 'JSON token count limit exceeded')

    @local_only('reads the agent\'s /proc entry')
    def test_huge_messages_give_their_memory_back(self):
        """A message of a million nodes (a rejected one, and a valid one with a huge id)
        must not leave the agent holding the ~80 MiB its tree took."""
        if timeout(1) != 1:
            self.skipTest('sanitizer builds keep freed memory in quarantine')
        many = b'0,' * 900000 + b'0]'
        self.assertCapThenPing(b'{"execute": "guest-ping", "arguments": {"x": [' +
                               b'0,' * (TOKEN_COUNT + 16), 'JSON token count limit exceeded')
        self.c.send_raw(b'{"execute": "guest-ping", "id": [' + many + b'}')
        self.assertEqual(len(self.c.recv_reply(60)['id']), 900001)

        def rss_kib():
            with open('/proc/%d/status' % self.agent.pid) as f:
                return int(next(l for l in f if l.startswith('VmRSS:')).split()[1])
        # the trees are freed in the threadpool: give it a moment
        wait_for(lambda: rss_kib() < 32 << 10, what='agent RSS back under 32 MiB')

    def test_token_size_limit(self):
        payload = b'{"execute": "guest-ping", "id": "' + b'a' * (TOKEN_BYTES + 64)
        skip_unless_carries(self, len(payload))
        self.assertCapThenPing(payload, 'JSON token size limit exceeded')

    # --- strict UTF-8 -------------------------------------------------------------
    # Each reply line below is what Debian's qemu-ga 7.2 sent for the same bytes.
    UTF8_ERR = (b'{"error": {"class": "GenericError", '
                b'"desc": "JSON parse error, invalid UTF-8 sequence in string"}}')
    BAD_UTF8 = [b'"\xc0\xaf"', b'"\xed\xa0\x80"', b'"\xf4\x90\x80\x80"', b'"\xe2\x82"',
                b'"\x80"', b'"\xef\xbf\xbf"', b"'\xc1\xbf'"]
    BAD_ESCAPES = [(b'\\ud800', b'\\ud800'), (b'\\ud800x', b'\\ud800'),
                   (b'\\ud800\\u0041', b'\\ud800'), (b'\\udc00', b'\\udc00'),
                   (b'\\uD800', b'\\uD800'), (b'\\udbff\\udfff', b'\\udbff\\udfff'),
                   (b'\\uffff', b'\\uffff')]

    def assertRawThenPing(self, data, want):
        self.c.send_raw(data + b'{"execute":"guest-ping","id":"next"}')
        self.assertEqual(self.c.recv_line(), want)
        self.assertEqual(self.c.recv_reply(), {'return': {}, 'id': 'next'})

    def test_invalid_utf8_rejected(self):
        for raw in self.BAD_UTF8:
            with self.subTest(raw=raw):
                self.assertRawThenPing(b'{"execute":"guest-ping","id":' + raw + b'}',
                                       self.UTF8_ERR)
                self.assertRawThenPing(b'{"execute":"guest-ping",' + raw + b':1}',
                                       self.UTF8_ERR)

    def test_lone_surrogate_escapes_rejected(self):
        for esc, quoted in self.BAD_ESCAPES:
            with self.subTest(esc=esc):
                self.assertRawThenPing(
                    b'{"execute":"guest-ping","id":"a' + esc + b'b"}',
                    b'{"error": {"class": "GenericError", "desc": "JSON parse error, ' +
                    quoted.replace(b'\\', b'\\\\') + b' is not a valid Unicode character"}}')

    def test_ids_echoed_exactly(self):
        """Valid characters from every plane, raw or escaped, come back as the same
        characters in upstream's ASCII \\uXXXX form (the two raw lines are qemu-ga 7.2's
        bytes too)."""
        ids = ['\x7f', '\x80', '\u07ff', '\u0800', '\ud7ff', '\ue000', '\ufffd', '\U00010000',
               '\U0001F600', '\U0010FFFD', 'caf\xe9 \u20ac \u4e2d\u6587', '\x00']
        for i in ids:
            with self.subTest(id=i):
                for wire in (json.dumps(i, ensure_ascii=False).encode('utf-8', 'surrogatepass'),
                             json.dumps(i).encode('ascii')):
                    self.c.send_raw(b'{"execute":"guest-ping","id":' + wire + b'}')
                    self.assertEqual(self.c.recv_reply()['id'], i)
        self.c.send_raw(b'{"execute":"guest-ping","id":"\xc0\x80"}')
        self.assertEqual(self.c.recv_line(), b'{"return": {}, "id": "\\u0000"}')
        self.c.send_raw(b'{"execute":"guest-ping","id":"\xf0\x9f\x98\x80\\u00e9"}')
        self.assertEqual(self.c.recv_line(), b'{"return": {}, "id": "\\uD83D\\uDE00\\u00E9"}')

    def test_number_ids_keep_their_text(self):
        """qgad's own (qemu-ga 7.2 answers 1500 for 1.50e+3): the id's number text as sent."""
        for num in (b'1.50e+3', b'-0', b'18446744073709551615', b'1e400',
                    b'0.1000000000000000055511'):
            self.c.send_raw(b'{"execute":"guest-ping","id":[' + num + b']}')
            self.assertEqual(self.c.recv_line(), b'{"return": {}, "id": [' + num + b']}')


if __name__ == '__main__':
    main()
