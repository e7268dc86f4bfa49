"""Command line and config: -D, -V, -b help, bad options, signals, allow/block lists
(PROTOCOL.md 3)."""

import os
import signal
import tempfile
import unittest

from qgadtest import Agent, Client, main, project_version, run_qgad, wait_for

DISABLED = 'Command %s has been disabled: the command is not allowed'


class DumpConfTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.TemporaryDirectory(prefix='qgadtest-')
        self.d = self.dir.name

    def tearDown(self):
        self.dir.cleanup()

    def conf(self, text):
        path = os.path.join(self.d, 'qgad.conf')
        with open(path, 'w') as f:
            f.write(text)
        return path

    def dump(self, args, conf=''):
        r = run_qgad(['-c', self.conf(conf)] + args + ['-D'])
        self.assertEqual(r.returncode, 0, r.stderr)
        return r.stdout

    def test_dump_upstream_example(self):
        d = self.d
        conf = ('[general]\n'
                'block-rpcs=guest-ping,guest-get-time\n'
                'allow-rpcs=guest-a;guest-b\n'
                'verbose=true\n')
        out = self.dump(['-b', 'guest-x', '-m', 'unix-listen', '-p', d + '/q.sock',
                         '-f', d + '/p.pid', '-t', d + '/st', '-l', d + '/log',
                         '-F' + d + '/hook'], conf)
        self.assertEqual(out,
                         '[general]\n'
                         'daemon=false\n'
                         'method=unix-listen\n'
                         'path=%(d)s/q.sock\n'
                         'logfile=%(d)s/log\n'
                         'pidfile=%(d)s/p.pid\n'
                         'fsfreeze-hook=%(d)s/hook\n'
                         'statedir=%(d)s/st\n'
                         'verbose=true\n'
                         'retry-path=false\n'
                         'block-rpcs=guest-get-time,guest-ping,guest-x\n'
                         'allow-rpcs=guest-a;guest-b\n'
                         '\n'
                         '[qgad]\n'
                         'listen=\n'
                         'max-clients=16\n'
                         'idle-timeout=600\n'
                         'partial-timeout=30\n'
                         'vsock-allow-cids=2\n'
                         'file-create-mode=0600\n'
                         'max-file-handles=256\n'
                         'max-exec-processes=128\n'
                         'exec-output-total=268435456\n' % {'d': d})

    def test_dump_optional_lines_absent(self):
        d = self.d
        out = self.dump(['-m', 'isa-serial', '-f', d + '/p', '-t', d])
        self.assertEqual(out.split('\n[qgad]\n')[0],
                         '[general]\n'
                         'daemon=false\n'
                         'method=isa-serial\n'
                         'path=/dev/ttyS0\n'
                         'pidfile=%(d)s/p\n'
                         'statedir=%(d)s\n'
                         'verbose=false\n'
                         'retry-path=false\n'
                         'block-rpcs=\n'
                         'allow-rpcs=\n' % {'d': d})

    def test_dump_defaults(self):
        out = self.dump([])
        self.assertIn('\nmethod=virtio-serial\npath=/dev/virtio-ports/org.qemu.guest_agent.0\n'
                      'pidfile=', out)
        self.assertIn('/qemu-ga.pid\n', out)

    def test_dump_lists_accumulate(self):
        conf = '[general]\nblock-rpcs=a1,a2\nallow-rpcs=x1\n'
        out = self.dump(['-b', 'b1,b2', '-b', 'c1', '-a', 'y1,y2', '-m', 'isa-serial'], conf)
        self.assertIn('\nblock-rpcs=a2,a1,b2,b1,c1\nallow-rpcs=x1,y2,y1\n', out)

    def test_dump_scalars_last_wins_cli_over_config(self):
        conf = '[general]\nmethod=unix-listen\npath=/conf.sock\ndaemon=true\nretry-path=true\n'
        out = self.dump(['-p', '/cli.sock'], conf)
        self.assertIn('[general]\ndaemon=true\nmethod=unix-listen\npath=/cli.sock\n', out)
        self.assertIn('\nretry-path=true\n', out)

    def test_dump_qgad_group(self):
        d = self.d
        conf = ('[qgad]\nlisten=unix-listen:%s/a.sock;tcp-listen:127.0.0.1:4444\n'
                'max-clients=4\nidle-timeout=120\npartial-timeout=0\nfile-create-mode=0640\nmax-file-handles=10\n'
                'max-exec-processes=5\nexec-output-total=1048576\n' % d)
        out = self.dump(['-m', 'isa-serial', '--listen', 'unix-listen:%s/b.sock' % d,
                         '--max-clients', '3', '--vsock-allow-cids', '2,3'], conf)
        self.assertTrue(out.endswith(
            '\n[qgad]\n'
            'listen=unix-listen:%(d)s/a.sock;tcp-listen:127.0.0.1:4444;unix-listen:%(d)s/b.sock\n'
            'max-clients=3\n'
            'idle-timeout=120\n'
            'partial-timeout=0\n'
            'vsock-allow-cids=2,3\n'
            'file-create-mode=0640\n'
            'max-file-handles=10\n'
            'max-exec-processes=5\n'
            'exec-output-total=1048576\n' % {'d': d}), out)
        out = self.dump(['-m', 'isa-serial', '--vsock-allow-cids', 'any'])
        self.assertIn('\nvsock-allow-cids=any\n', out)

    def test_dump_reads_back(self):
        """A dump used as the config gives the same settings (list order aside: upstream's
        dump reverses each list chunk)."""
        d = self.d
        first = self.dump(['-m', 'unix-listen', '-p', d + '/s', '-b', 'guest-ping,guest-info',
                           '--listen', 'tcp-listen:127.0.0.1:5', '-t', d, '-f', d + '/p'])
        again = self.dump([], first)
        key = 'block-rpcs='

        def normalized(text):
            return [','.join(sorted(line[len(key):].split(','))) if line.startswith(key)
                    else line for line in text.split('\n')]
        self.assertEqual(normalized(again), normalized(first))
        self.assertIn('\nblock-rpcs=guest-info,guest-ping\n', first)

    def test_bad_config_is_fatal(self):
        for text in ('[general]\nverbose=maybe\n', '[qgad]\nmax-clients=x\n',
                     'not a key file\n'):
            with self.subTest(conf=text):
                r = run_qgad(['-c', self.conf(text), '-D'])
                self.assertEqual(r.returncode, 1, r.stdout)

    def test_missing_explicit_config_is_fatal(self):
        r = run_qgad(['-c', os.path.join(self.d, 'absent.conf'), '-D'])
        self.assertEqual(r.returncode, 1)

    def test_qga_conf_env(self):
        path = self.conf('[general]\nmethod=isa-serial\n')
        r = run_qgad(['-D'], env={'QGA_CONF': path})
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn('\nmethod=isa-serial\n', r.stdout)


class CliTest(unittest.TestCase):
    def test_version(self):
        for opt in ('-V', '--version'):
            r = run_qgad([opt])
            self.assertEqual(r.returncode, 0)
            self.assertIn(project_version(), r.stdout)

    def test_help(self):
        r = run_qgad(['--help'])
        self.assertEqual(r.returncode, 0)
        self.assertIn('--allow-rpcs', r.stdout)
        self.assertIn('--listen', r.stdout)

    def test_unknown_option(self):
        for opt in ('--bogus', '-Z'):
            with self.subTest(opt=opt):
                r = run_qgad([opt])
                self.assertEqual(r.returncode, 1)
                self.assertIn('Unknown option', r.stdout)

    def test_listen_needs_path(self):
        for method in ('unix-listen', 'vsock-listen'):
            with self.subTest(method=method):
                r = run_qgad(['-m', method, '-t', tempfile.gettempdir()])
                self.assertEqual(r.returncode, 1)
                self.assertIn('must specify a path for this channel', r.stdout + r.stderr)

    def test_unknown_method(self):
        r = run_qgad(['-m', 'carrier-pigeon', '-p', '/x'])
        self.assertEqual(r.returncode, 1)

    def test_rpc_list_help(self):
        for args in (['-b', 'help'], ['-a', 'help'], ['-b', '?'], ['--block-rpcs=help']):
            with self.subTest(args=args):
                r = run_qgad(args)
                self.assertEqual(r.returncode, 0)
                names = r.stdout.split()
                for name in ('guest-sync-delimited', 'guest-sync', 'guest-ping', 'guest-info',
                             'guest-get-time', 'guest-get-osinfo'):
                    self.assertIn(name, names)
                self.assertEqual(len(names), len(set(names)))

    def test_rpc_list_matches_guest_info(self):
        r = run_qgad(['-b', 'help'])
        with Agent() as a, Client(a) as c:
            info = c.ok('guest-info')
        self.assertEqual(sorted(r.stdout.split()),
                         sorted(e['name'] for e in info['supported_commands']))


class SignalTest(unittest.TestCase):
    def test_sigterm_exit_0(self):
        with Agent() as a:
            with Client(a) as c:
                c.ok('guest-ping')
                self.assertEqual(a.stop(signal.SIGTERM), 0)

    def test_sigint_exit_0(self):
        with Agent(method='tcp-listen') as a:
            with Client(a) as c:
                c.ok('guest-ping')
            self.assertEqual(a.stop(signal.SIGINT), 0)

    def test_sigpipe_ignored(self):
        with Agent() as a:
            c = Client(a)
            c.send_raw(b''.join(Client.request('guest-info') for _ in range(300)))
            c.close()
            with Client(a) as c2:
                self.assertEqual(c2.ok('guest-sync', {'id': 3}), 3)
            self.assertTrue(a.alive())


class DaemonizeTest(unittest.TestCase):
    def test_daemonize_pidfile(self):
        a = Agent(extra_args=['-d'])
        pidfile = a.tmp('qgad.pid')
        a.extra_args += ['-f', pidfile]
        a.start(wait=False)
        pid = None
        try:
            self.assertEqual(a.wait_exit(), 0, a.diagnostics())  # the parent
            # as upstream, the child writes it after the parent has exited
            wait_for(lambda: os.path.exists(pidfile), what='pidfile')
            text = wait_for(lambda: _read_complete(pidfile), what='pidfile content')
            self.assertRegex(text, r'^[0-9]+\n$')
            pid = int(text)
            self.assertNotEqual(pid, a.pid)
            a.wait_ready(daemonized=True)
            with Client(a) as c:
                self.assertEqual(c.ok('guest-sync', {'id': 11}), 11)
            os.kill(pid, signal.SIGTERM)
            wait_for(lambda: not os.path.exists(pidfile), what='pidfile removed at exit')
            wait_for(lambda: not _alive(pid), what='daemon exit')
            pid = None
        finally:
            if pid is not None and _alive(pid):
                os.kill(pid, signal.SIGKILL)
            a.cleanup()

    def test_log_line_format(self):
        with Agent() as a, Client(a) as c:
            c.ok('guest-ping')
            a.stop()
            lines = a.log_text().splitlines()
        self.assertTrue(lines)
        for line in lines:
            self.assertRegex(line, r'^[0-9]+\.[0-9]{6}: (error|critical|warning|message|'
                                   r'info|debug): ')


def _read_complete(path):
    with open(path) as f:
        text = f.read()
    return text if text.endswith('\n') else None


def _alive(pid):
    try:
        with open('/proc/%d/stat' % pid) as f:
            return f.read().split(') ', 1)[1][0] != 'Z'
    except (FileNotFoundError, IndexError):
        return False


class PolicyTest(unittest.TestCase):
    def enabled(self, c):
        return {e['name']: e['enabled'] for e in c.ok('guest-info')['supported_commands']}

    def assertDisabled(self, c, name):
        self.assertEqual(c.err(name), ('CommandNotFound', DISABLED % name))

    def test_block_cli(self):
        with Agent(extra_args=['-b', 'guest-get-time,guest-get-host-name', '-b',
                               'guest-bogus']) as a, Client(a) as c:
            self.assertDisabled(c, 'guest-get-time')
            self.assertDisabled(c, 'guest-get-host-name')
            self.assertEqual(c.ok('guest-ping'), {})
            en = self.enabled(c)
            self.assertFalse(en['guest-get-time'])
            self.assertFalse(en['guest-get-host-name'])
            self.assertTrue(en['guest-ping'])
            self.assertNotIn('guest-bogus', en)
            r = c.cmd('guest-get-time', id=42)
            self.assertEqual(r['id'], 42)

    def test_allow_cli(self):
        with Agent(extra_args=['-a', 'guest-ping,guest-info']) as a, Client(a) as c:
            self.assertEqual(c.ok('guest-ping'), {})
            self.assertDisabled(c, 'guest-get-time')
            self.assertDisabled(c, 'guest-sync')
            en = self.enabled(c)
            self.assertEqual({n for n, e in en.items() if e}, {'guest-ping', 'guest-info'})

    def test_block_wins_over_allow(self):
        with Agent(extra_args=['-a', 'guest-ping,guest-info,guest-get-time',
                               '-b', 'guest-get-time']) as a, Client(a) as c:
            self.assertDisabled(c, 'guest-get-time')
            self.assertEqual(c.ok('guest-ping'), {})

    def test_config_lists(self):
        conf = ('[general]\nallow-rpcs=guest-ping,guest-info,guest-get-time,guest-sync\n'
                'block-rpcs=guest-sync\n')
        with Agent(config=conf, extra_args=['-a', 'guest-get-host-name']) as a, \
                Client(a) as c:
            self.assertDisabled(c, 'guest-sync')
            self.assertDisabled(c, 'guest-get-osinfo')
            self.assertIsInstance(c.ok('guest-get-time'), int)
            self.assertIn('host-name', c.ok('guest-get-host-name'))
            en = self.enabled(c)
            self.assertEqual({n for n, e in en.items() if e},
                             {'guest-ping', 'guest-info', 'guest-get-time',
                              'guest-get-host-name'})

    def test_unknown_still_not_found(self):
        with Agent(extra_args=['-b', 'guest-nope']) as a, Client(a) as c:
            self.assertEqual(c.err('guest-nope'),
                             ('CommandNotFound', 'The command guest-nope has not been found'))


if __name__ == '__main__':
    main()
