#!/usr/bin/env python3
"""An independent pub/sub latency check, sharing no code with loadtest.

One process publishes on a fixed timetable (open loop) with each payload carrying its scheduled
send time (CLOCK_MONOTONIC, ns, as 19 ASCII digits); another process holds every subscriber in one
epoll loop (selectors) and records, for each delivery, the time it was read minus the time it was
scheduled. Prints one line: deliveries, p50, p90, p99, p99.9, max in microseconds, over the
deliveries of messages scheduled after the warmup.

    pubsub_epoll.py --port 15000 --subscribers 100 --rate 2000 --size 64 --warmup 1 --duration 6
"""
import argparse
import os
import selectors
import socket
import sys
import time


def command(*args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


def publisher(port, topic, rate, size, start, end):
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.setblocking(False)
    interval = 1e9 / rate
    k = 0
    pad = b"." * (size - 19)
    pending = b""
    while True:
        sched = start + int(k * interval)
        if sched >= end:
            break
        now = time.monotonic_ns()
        if now < sched:
            time.sleep(max(0.0, (sched - now) / 1e9))
        payload = b"%019d" % sched + pad
        pending += command(b"PUBLISH", topic, payload)
        try:
            n = sock.send(pending)
            pending = pending[n:]
        except BlockingIOError:
            pass
        try:
            sock.recv(1 << 16)  # replies (integers): drained, not checked
        except BlockingIOError:
            pass
        k += 1
    sock.setblocking(True)
    if pending:
        sock.sendall(pending)
    os._exit(0)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=15000)
    ap.add_argument("--subscribers", type=int, default=100)
    ap.add_argument("--rate", type=float, default=2000)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--warmup", type=float, default=1)
    ap.add_argument("--duration", type=float, default=6)
    a = ap.parse_args()
    topic = b"crosscheck:%d" % os.getpid()
    sel = selectors.EpollSelector()
    socks = []
    for _ in range(a.subscribers):
        s = socket.create_connection(("127.0.0.1", a.port))
        s.sendall(command(b"SUBSCRIBE", topic))
        socks.append(s)
    for s in socks:
        reply = b""
        while reply.count(b"\r\n") < 6:
            reply += s.recv(4096)
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ, bytearray())
    start = time.monotonic_ns() + 100_000_000
    measure_from = start + int(a.warmup * 1e9)
    end = measure_from + int(a.duration * 1e9)
    if os.fork() == 0:
        publisher(a.port, topic, a.rate, a.size, start, end)
    # Every delivery has the same length: *3 message, the topic, the payload.
    head = b"*3\r\n$7\r\nmessage\r\n$%d\r\n%s\r\n$%d\r\n" % (len(topic), topic, a.size)
    record = len(head) + a.size + 2
    expected = int(a.rate * (a.warmup + a.duration) + 0.5) * a.subscribers
    got = 0
    lat = []
    deadline = end + 5_000_000_000
    while got < expected and time.monotonic_ns() < deadline:
        for key, _ in sel.select(timeout=0.1):
            try:
                chunk = key.fileobj.recv(1 << 16)
            except BlockingIOError:
                continue
            now = time.monotonic_ns()
            buf = key.data
            buf += chunk
            whole = len(buf) - len(buf) % record
            for i in range(len(head), whole, record):
                sched = int(buf[i:i + 19])
                if sched >= measure_from:
                    lat.append(now - sched)
            got += whole // record
            del buf[:whole]
    os.wait()
    lat.sort()
    n = len(lat)
    q = lambda p: lat[min(n - 1, int(p * n))] // 1000 if n else 0
    print("deliveries %d measured %d p50 %d p90 %d p99 %d p99.9 %d max %d (us)"
          % (got, n, q(0.5), q(0.9), q(0.99), q(0.999), lat[-1] // 1000 if n else 0))


if __name__ == "__main__":
    main()
