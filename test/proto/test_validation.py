"""Request validation, argument errors, JSON parse errors and id echo (PROTOCOL.md 4.1)."""

import json
import unittest

from qgadtest import AgentTestCase, Client, main

GENERIC = 'GenericError'
NOT_FOUND = 'CommandNotFound'


class ValidationTest(AgentTestCase):
    def assertError(self, reply, cls, desc, id=None, has_id=False):
        self.assertIn('error', reply, reply)
        self.assertNotIn('return', reply)
        self.assertEqual(reply['error']['class'], cls, reply)
        self.assertEqual(reply['error']['desc'], desc, reply)
        if has_id:
            self.assertIn('id', reply)
            self.assertEqual(reply['id'], id)
        else:
            self.assertNotIn('id', reply, reply)

    def raw(self, text):
        self.c.send_raw(text)
        return self.c.recv_reply()

    def ping_works(self, id='after'):
        self.assertEqual(self.c.cmd('guest-ping', id=id), {'return': {}, 'id': id})

    # --- top-level shape -----------------------------------------------------------
    def test_not_an_object(self):
        for text in ('[]', '[1, 2]', '"guest-ping"\n', '42\n', 'true\n', 'null\n'):
            with self.subTest(text=text):
                self.assertError(self.raw(text), GENERIC, 'QMP input must be a JSON object')
        self.ping_works()

    def test_unexpected_member(self):
        r = self.raw('{"execute": "guest-ping", "foo": 1}')
        self.assertError(r, GENERIC, "QMP input member 'foo' is unexpected")
        r = self.raw('{"execute": "guest-ping", "foo": 1, "id": 9}')
        self.assertError(r, GENERIC, "QMP input member 'foo' is unexpected", 9, True)

    def test_exec_oob_rejected(self):
        r = self.raw('{"exec-oob": "guest-ping"}')
        self.assertError(r, GENERIC, "QMP input member 'exec-oob' is unexpected")
        r = self.raw('{"execute": "guest-ping", "exec-oob": "guest-ping", "id": "x"}')
        self.assertError(r, GENERIC, "QMP input member 'exec-oob' is unexpected", 'x', True)

    def test_execute_not_string(self):
        for v in ('1', '{}', '[]', 'null', 'true'):
            with self.subTest(value=v):
                r = self.raw('{"execute": %s}' % v)
                self.assertError(r, GENERIC, "QMP input member 'execute' must be a string")

    def test_arguments_not_object(self):
        for v in ('[]', '1', '"x"', 'null'):
            with self.subTest(value=v):
                r = self.raw('{"execute": "guest-ping", "arguments": %s}' % v)
                self.assertError(r, GENERIC,
                                 "QMP input member 'arguments' must be an object")

    def test_lacks_execute(self):
        self.assertError(self.raw('{}'), GENERIC, "QMP input lacks member 'execute'")
        r = self.raw('{"arguments": {}, "id": 3}')
        self.assertError(r, GENERIC, "QMP input lacks member 'execute'", 3, True)

    # --- commands and arguments ----------------------------------------------------
    def test_command_not_found(self):
        r = self.c.cmd('guest-nope')
        self.assertError(r, NOT_FOUND, 'The command guest-nope has not been found')
        r = self.c.cmd('guest-nope', id=[1, 'a'])
        self.assertError(r, NOT_FOUND, 'The command guest-nope has not been found',
                         [1, 'a'], True)
        r = self.c.cmd('', id=0)
        self.assertError(r, NOT_FOUND, 'The command  has not been found', 0, True)

    def test_parameter_missing(self):
        for name in ('guest-sync', 'guest-sync-delimited'):
            with self.subTest(name=name):
                self.assertError(self.c.cmd(name), GENERIC, "Parameter 'id' is missing")
                self.assertError(self.c.cmd(name, {}), GENERIC, "Parameter 'id' is missing")

    def test_parameter_unexpected(self):
        r = self.c.cmd('guest-ping', {'foo': 1})
        self.assertError(r, GENERIC, "Parameter 'foo' is unexpected")
        r = self.c.cmd('guest-sync', {'id': 1, 'foo': 1})
        self.assertError(r, GENERIC, "Parameter 'foo' is unexpected")
        r = self.c.cmd('guest-info', {'foo': None}, id='i')
        self.assertError(r, GENERIC, "Parameter 'foo' is unexpected", 'i', True)

    def test_invalid_integer(self):
        for text in ('1.5', '"1"', '18446744073709551615', '9223372036854775808',
                     '-9223372036854775809', 'true', 'null', '[]', '{}', '1e3'):
            with self.subTest(id=text):
                r = self.raw('{"execute": "guest-sync", "arguments": {"id": %s}}' % text)
                self.assertError(r, GENERIC,
                                 "Invalid parameter type for 'id', expected: integer")
        self.ping_works()

    def test_sync_echoes_int64_range(self):
        for v in (0, 1, -1, 1733000000000, 2**63 - 1, -2**63, 2**53 + 1):
            with self.subTest(id=v):
                self.assertEqual(self.c.cmd('guest-sync', {'id': v}), {'return': v})
                r = self.c.cmd('guest-sync-delimited', {'id': v}, id=v)
                self.assertEqual(r, {'return': v, 'id': v})
                self.assertTrue(self.c.last_delimited)
        # the raw text of a 64-bit id survives exactly (no double rounding)
        self.c.send_raw(b'{"execute":"guest-sync","arguments":{"id":9223372036854775807}}')
        self.assertIn(b'9223372036854775807', self.c.recv_line())

    # --- id echo -------------------------------------------------------------------
    ID_VALUES = [0, 7, -42, 1733000000000, 2**63 - 1, -2**63, 18446744073709551615,
                 'abc', '', {'a': [1, {'b': None}]}, [], [1, 'two', 3.5], None, True,
                 False, 1.5, -0.25, 1e300]

    def test_id_echo_success(self):
        for v in self.ID_VALUES:
            with self.subTest(id=v):
                self.assertEqual(self.c.cmd('guest-ping', id=v), {'return': {}, 'id': v})

    def test_id_echo_errors(self):
        for v in self.ID_VALUES:
            with self.subTest(id=v):
                r = self.c.cmd('guest-nope', id=v)
                self.assertError(r, NOT_FOUND, 'The command guest-nope has not been found',
                                 v, True)
                r = self.c.cmd('guest-sync', {'id': 'x'}, id=v)
                self.assertError(r, GENERIC,
                                 "Invalid parameter type for 'id', expected: integer", v, True)

    def test_no_id_no_id_member(self):
        self.assertEqual(self.c.cmd('guest-ping'), {'return': {}})

    # --- JSON syntax ---------------------------------------------------------------
    def assertParseErrorThenWorks(self, text):
        self.c.send_raw(text)
        self.c.send('guest-ping', id='next')
        r = self.c.recv_reply()
        self.assertIn('error', r, r)
        self.assertEqual(r['error']['class'], GENERIC)
        self.assertTrue(r['error']['desc'].startswith('JSON parse error, '), r)
        self.assertNotIn('id', r)
        self.assertEqual(self.c.recv_reply(), {'return': {}, 'id': 'next'})

    def test_trailing_comma(self):
        self.assertParseErrorThenWorks('{"execute": "guest-ping",}')

    def test_trailing_comma_in_array(self):
        self.assertParseErrorThenWorks('{"execute": "guest-ping", "id": [1,]}')

    def test_bad_keyword(self):
        self.assertParseErrorThenWorks('{"execute": "guest-ping", "id": nul}')

    def test_duplicate_key(self):
        self.assertParseErrorThenWorks('{"execute": "guest-ping", "execute": "guest-ping"}')

    def test_missing_colon(self):
        self.assertParseErrorThenWorks('{"execute" "guest-ping"}')

    def test_key_not_string(self):
        self.assertParseErrorThenWorks('{1: "guest-ping"}')

    def test_bad_escape(self):
        self.assertParseErrorThenWorks('{"execute": "guest-\\qping"}')

    def test_single_quotes(self):
        self.c.send_raw("{'execute': 'guest-ping', 'id': 'sq'}")
        self.assertEqual(self.c.recv_reply(), {'return': {}, 'id': 'sq'})
        self.c.send_raw("{'execute':'guest-sync','arguments':{'id':5},'id':'it\\'s'}")
        self.assertEqual(self.c.recv_reply(), {'return': 5, 'id': "it's"})

    def test_whitespace_and_no_newline_needed(self):
        self.c.send_raw(' \n\t\r {"execute":"guest-ping","id":1}')
        self.assertEqual(self.c.recv_reply(), {'return': {}, 'id': 1})
        self.c.send_raw('{"execute":"guest-ping","id":2}{"execute":"guest-ping","id":3}')
        self.assertEqual(self.c.recv_replies(2),
                         [{'return': {}, 'id': 2}, {'return': {}, 'id': 3}])

    # --- reply encoding ------------------------------------------------------------
    def test_replies_are_ascii_lines(self):
        weird = 'caf\u00e9 \u20ac \U0001F600 \x01 "q" \\ \u007f'
        self.c.send('guest-ping', id=weird)
        line = self.c.recv_line()
        line.decode('ascii')  # raises if not pure ASCII
        self.assertNotIn(b'\n', line)
        self.assertEqual(json.loads(line), {'return': {}, 'id': weird})
        self.assertEqual(self.c.buf, b'', 'bytes after the reply line')
        for name in ('guest-info', 'guest-get-osinfo'):
            self.c.send(name)
            self.c.recv_line().decode('ascii')
            self.assertEqual(self.c.buf, b'')


if __name__ == '__main__':
    main()
