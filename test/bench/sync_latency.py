#!/usr/bin/env python3
"""Latency and throughput of the real daemon over a unix socket. Prints figures; asserts
nothing (not part of ctest).

    QGAD_BIN=build/qgad python3 test/bench/sync_latency.py [--syncs N] [--pings N]

1. N guest-sync round trips, one at a time: median, p99 and max in microseconds.
2. guest-ping pipelined in batches (all requests of a batch in one write): requests/s.
3. guest-sync round trips on one session while another session floods guest-info, and
   while another session reads a 48 MiB file over and over (what a host sees while the
   agent is busy elsewhere).
"""

import argparse
import multiprocessing
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'proto'))
from qgadtest import Agent, Client  # noqa: E402


def percentile(sorted_values, p):
    i = min(len(sorted_values) - 1, int(round(p / 100.0 * (len(sorted_values) - 1))))
    return sorted_values[i]


def sync_round_trips(c, n):
    samples = []
    for i in range(n):
        req = Client.request('guest-sync', {'id': i})
        t0 = time.perf_counter_ns()
        c.send_raw(req)
        c.recv_line()
        samples.append((time.perf_counter_ns() - t0) / 1000.0)
    samples.sort()
    return samples


def report_latency(title, samples):
    print('%-52s n=%-6d median %8.1f us   p99 %8.1f us   max %8.1f us' %
          (title, len(samples), statistics.median(samples), percentile(samples, 99),
           samples[-1]))


def pipelined_pings(c, total, batch):
    req = Client.request('guest-ping')
    payload = req * batch
    t0 = time.perf_counter()
    done = 0
    while done < total:
        n = min(batch, total - done)
        c.send_raw(payload if n == batch else req * n)
        for _ in range(n):
            c.recv_line()
        done += n
    return total / (time.perf_counter() - t0)


def flood(agent, stop):
    os.nice(10)
    c = Client(agent)
    req = Client.request('guest-info') * 50
    try:
        while not stop.is_set():
            c.send_raw(req)
            for _ in range(50):
                c.recv_line()
    finally:
        c.close()


def big_reads(agent, stop):
    """Another session reading a 48 MiB file over and over (threadpool work, 64 MiB
    replies)."""
    os.nice(10)
    c = Client(agent)
    path = agent.tmp('big')
    with open(path, 'wb') as f:
        f.truncate(48 << 20)
    try:
        h = c.ok('guest-file-open', {'path': path})
        read = Client.request('guest-file-read', {'handle': h, 'count': 48 << 20})
        while not stop.is_set():
            c.ok('guest-file-seek', {'handle': h, 'offset': 0, 'whence': 'set'})
            c.send_raw(read)
            c.recv_line(60)  # 64 MiB of base64, not decoded: the load is the agent's
    finally:
        c.close()


def while_busy(agent, c, title, worker, n):
    # The load runs in its own process, niced: in this process its JSON work would hold
    # the GIL and the figures would be Python's, not the agent's.
    ctx = multiprocessing.get_context('fork')
    stop = ctx.Event()
    t = ctx.Process(target=worker, args=(agent, stop))
    t.start()
    try:
        time.sleep(0.2)
        report_latency(title, sync_round_trips(c, n))
    finally:
        stop.set()
        t.join()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--syncs', type=int, default=10000)
    ap.add_argument('--pings', type=int, default=100000)
    ap.add_argument('--batch', type=int, default=1000)
    args = ap.parse_args()

    with Agent(verbose=False) as a:
        c = Client(a)
        sync_round_trips(c, 200)  # warm-up
        report_latency('guest-sync round trip (idle agent)', sync_round_trips(c, args.syncs))
        rate = pipelined_pings(c, args.pings, args.batch)
        print('%-52s %d requests in batches of %d: %.0f requests/s' %
              ('guest-ping pipelined', args.pings, args.batch, rate))
        n = max(1000, args.syncs // 5)
        while_busy(a, c, 'guest-sync round trip (other session: guest-info)', flood, n)
        names = {e['name'] for e in c.ok('guest-info')['supported_commands']}
        if {'guest-file-open', 'guest-file-read', 'guest-file-seek'} <= names:
            while_busy(a, c, 'guest-sync round trip (other: 48 MiB reads)', big_reads, n)
        c.close()


if __name__ == '__main__':
    main()
