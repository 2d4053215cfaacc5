#!/usr/bin/env python3
"""Checks a running Switchboard cluster (docker/cluster/compose.yml) end to end, from the host.

Speaks RESP over plain sockets (standard library only), so it is a client nobody here wrote the
server for. Each round subscribes on every node, publishes numbered, timestamped messages on
node-1, and checks every subscriber's stream: nothing duplicated, order kept, nothing lost
(or, in a fault round, what was lost counted and delivery resumed). Faults are injected with
the compose command given: stop a NATS server, pause a node, partition a node from NATS.

  check.py --nodes 127.0.0.1:P1,127.0.0.1:P2,127.0.0.1:P3 --compose "docker-compose -p sbcluster -f compose.yml"

Exits non-zero when a check fails; writes summary.md and summary.json to --out.
"""

import argparse
import json
import os
import shlex
import socket
import subprocess
import sys
import threading
import time


class RespError(Exception):
    pass


def encode(*args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


def parse(buf, i):
    """One RESP value from buf[i:]: (value, next index), or None while incomplete."""
    end = buf.find(b"\r\n", i)
    if end < 0:
        return None
    kind, line = buf[i : i + 1], bytes(buf[i + 1 : end])
    if kind == b"+":
        return line.decode(), end + 2
    if kind == b"-":
        return RespError(line.decode()), end + 2
    if kind == b":":
        return int(line), end + 2
    if kind == b"$":
        n = int(line)
        if n < 0:
            return None, end + 2
        if len(buf) < end + 4 + n:
            return None
        return bytes(buf[end + 2 : end + 2 + n]), end + 4 + n
    if kind in (b"*", b">"):
        n, j, items = int(line), end + 2, []
        for _ in range(max(n, 0)):
            r = parse(buf, j)
            if r is None:
                return None
            items.append(r[0])
            j = r[1]
        return items, j
    raise ValueError("not RESP: %r" % bytes(buf[i : i + 20]))


class Conn:
    def __init__(self, addr, timeout=10.0):
        host, port = addr.rsplit(":", 1)
        self.sock = socket.create_connection((host, int(port)), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = bytearray()

    def send(self, *args):
        self.sock.sendall(encode(*args))

    def frame(self, timeout=10.0):
        """The next frame; raises socket.timeout if none comes within `timeout`."""
        self.sock.settimeout(timeout)
        while True:
            r = parse(self.buf, 0) if self.buf else None
            if r is not None:
                del self.buf[: r[1]]
                return r[0]
            data = self.sock.recv(1 << 16)
            if not data:
                raise ConnectionError("the server closed the connection")
            self.buf += data

    def call(self, *args):
        self.send(*args)
        reply = self.frame()
        if isinstance(reply, RespError):
            raise reply
        return reply

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def info(addr):
    c = Conn(addr)
    try:
        text = c.call("INFO").decode()
    finally:
        c.close()
    fields = {}
    for line in text.splitlines():
        if ":" in line and not line.startswith("#"):
            k, v = line.split(":", 1)
            fields[k] = v
    return fields


class Subscriber(threading.Thread):
    """One subscriber: records (seq, latency) of every numbered message of its round."""

    def __init__(self, name, addrs, channel, pattern=None, reconnect=False, silence=1.0):
        super().__init__(daemon=True)
        self.name, self.addrs, self.channel, self.pattern = name, addrs, channel, pattern
        self.reconnect, self.silence = reconnect, silence
        self.seqs, self.lat_us, self.reconnects = [], [], 0
        self.probe, self.routed, self.ready = threading.Event(), threading.Event(), threading.Event()
        self.flowing = threading.Event()  # set by the publisher while it publishes
        self.stop = False
        self.error = None
        self.last_arrival = None
        self.at = 0

    def subscribe(self):
        self.conn = Conn(self.addrs[self.at])
        if self.pattern:
            self.conn.send("PSUBSCRIBE", self.pattern)
        else:
            self.conn.send("SUBSCRIBE", self.channel)
        reply = self.conn.frame()
        assert isinstance(reply, list) and reply[0] in (b"subscribe", b"psubscribe"), reply

    def run(self):
        try:
            self.subscribe()
            self.ready.set()
            while not self.stop:
                try:
                    frame = self.conn.frame(timeout=0.2)
                except socket.timeout:
                    quiet = time.monotonic() - (self.last_arrival or time.monotonic())
                    if self.reconnect and self.flowing.is_set() and quiet > self.silence:
                        self.switch()
                    continue
                except (ConnectionError, OSError):
                    if self.stop or not self.reconnect:
                        raise
                    self.switch()
                    continue
                self.on_frame(frame)
        except Exception as e:  # reported by the round
            self.error = "%s: %r" % (self.name, e)
            self.ready.set()

    def switch(self):
        """The node went quiet or away: subscribe again through the next address."""
        self.conn.close()
        self.at = (self.at + 1) % len(self.addrs)
        self.reconnects += 1
        self.subscribe()
        self.last_arrival = time.monotonic()

    def on_frame(self, frame):
        now = time.time_ns()
        self.last_arrival = time.monotonic()
        payload = frame[-1]
        if payload == b"probe":
            self.probe.set()
        elif payload == b"routed":
            self.routed.set()
        else:
            seq, sent = payload.split(b":")[:2]
            self.seqs.append(int(seq))
            self.lat_us.append((now - int(sent)) / 1000)

    def finish(self):
        self.stop = True
        self.join(5)
        self.conn.close()


def percentile(values, p):
    if not values:
        return None
    s = sorted(values)
    return s[min(len(s) - 1, int(len(s) * p / 100))]


class Cluster:
    def __init__(self, nodes, compose):
        self.nodes, self.compose = nodes, compose

    def docker(self, *args):
        cmd = self.compose + list(args)
        print("   $", " ".join(cmd), flush=True)
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)

    def container(self, service):
        out = subprocess.run(self.compose + ["ps", "-q", service], check=True, capture_output=True)
        return out.stdout.decode().strip()

    def network(self, suffix):
        out = subprocess.run(["docker", "network", "ls", "--format", "{{.Name}}"], check=True, capture_output=True)
        names = [n for n in out.stdout.decode().split() if n.endswith("_" + suffix)]
        assert len(names) == 1, names
        return names[0]


def route(publisher, channel, subs, patience=30.0):
    """Publishes probes until every subscriber heard one, then `routed` until all heard that:
    after it, each subscriber's interest has reached every NATS server on the way."""
    deadline = time.monotonic() + patience
    while not all(s.probe.is_set() for s in subs):
        if time.monotonic() > deadline:
            raise AssertionError("no route to %s" % [s.name for s in subs if not s.probe.is_set()])
        publisher.call("PUBLISH", channel, "probe")
        time.sleep(0.05)  # pacing the probes, not synchronising: the events above decide
    publisher.call("PUBLISH", channel, "routed")
    for s in subs:
        if not s.routed.wait(patience):
            raise AssertionError("%s never heard the last probe" % s.name)


def publish_paced(publisher, channel, count, rate, flowing, at=None):
    """Publishes `count` numbered messages at `rate` per second; `at(t)` is called as the
    seconds pass (fault injection). Returns the seconds it took."""
    start = time.monotonic()
    fired = 0
    for s in flowing:
        s.flowing.set()
    i = 0
    while i < count:
        elapsed = time.monotonic() - start
        if at is not None and int(elapsed) > fired:
            fired = int(elapsed)
            at(fired)
        due = min(count, int(elapsed * rate) + 1)
        batch = b"".join(encode("PUBLISH", channel, b"%d:%d" % (j, time.time_ns())) for j in range(i, due))
        if batch:
            publisher.sock.sendall(batch)
            for _ in range(i, due):
                reply = publisher.frame()
                assert isinstance(reply, int), reply
            i = due
        else:
            time.sleep(0.0005)
    return time.monotonic() - start


def settle(subs, count, patience=10.0):
    """Waits until every subscriber has the last message, or has been quiet for a second."""
    deadline = time.monotonic() + patience
    while time.monotonic() < deadline:
        if all((s.seqs and s.seqs[-1] == count - 1) or s.error for s in subs):
            return
        quiet = all(s.last_arrival and time.monotonic() - s.last_arrival > 1.0 for s in subs)
        if quiet:
            return
        time.sleep(0.05)


def examine(s, count, tail):
    got = set(s.seqs)
    return {
        "subscriber": s.name,
        "received": len(s.seqs),
        "missing": count - len(got),
        "duplicates": len(s.seqs) - len(got),
        "in_order": s.seqs == sorted(s.seqs),
        "tail_complete": all(j in got for j in range(max(0, count - tail), count)),
        "reconnects": s.reconnects,
        "error": s.error,
    }


def start_subscribers(cluster, channel, layout, fallback):
    """Starts a Subscriber on `channel` per (node index, kind, reconnect) of `layout` and waits
    until each has subscribed; with `fallback` each also knows the other nodes, to move to."""
    subs = []
    for n, (node, kind, reconnect) in enumerate(layout):
        others = [a for a in cluster.nodes if a != cluster.nodes[node]] if fallback else []
        pattern = channel[:-1] + "*" if kind == "pattern" else None
        s = Subscriber("node-%d/%s-%d" % (node + 1, kind, n), [cluster.nodes[node]] + others,
                       channel, pattern, reconnect)
        s.node = node
        subs.append(s)
    for s in subs:
        s.start()
    for s in subs:
        s.ready.wait(10)
        if s.error:
            raise AssertionError(s.error)
    return subs


def run_round(cluster, name, layout, count, rate, at=None, expect_complete=(), tail=None, publisher_node=0):
    """One round: `layout` lists (node index, kind, addrs, reconnect) per subscriber."""
    channel = "%s-%d" % (name, os.getpid())
    subs = start_subscribers(cluster, channel, layout, fallback=True)
    publisher = Conn(cluster.nodes[publisher_node])
    route(publisher, channel, subs)
    took = publish_paced(publisher, channel, count, rate, subs, at)
    settle(subs, count)
    publisher.close()
    for s in subs:
        s.finish()
    tail = tail if tail is not None else max(1, rate)
    results = [examine(s, count, tail) for s in subs]
    failures = []
    for s, r in zip(subs, results):
        if r["error"]:
            failures.append(r["error"])
        if r["duplicates"] or not r["in_order"]:
            failures.append("%s: %d duplicates, in order: %s" % (s.name, r["duplicates"], r["in_order"]))
        if s.node in expect_complete and r["missing"]:
            failures.append("%s missed %d of %d" % (s.name, r["missing"], count))
        if not r["tail_complete"]:
            failures.append("%s: delivery did not resume (the last %d messages are not all there)" % (s.name, tail))
    same = [v for s in subs if s.node == publisher_node for v in s.lat_us]
    cross = [v for s in subs if s.node != publisher_node for v in s.lat_us]
    summary = {
        "round": name,
        "messages": count,
        "rate": rate,
        "publish_seconds": round(took, 2),
        "subscribers": results,
        "latency_us": {
            "same_node": {"p50": percentile(same, 50), "p99": percentile(same, 99), "n": len(same)},
            "cross_node": {"p50": percentile(cross, 50), "p99": percentile(cross, 99), "n": len(cross)},
        },
        "failures": failures,
    }
    return summary


def accounting(cluster):
    """receivers == delivered + dropped on every node once it is quiet, and the relay counters."""
    out, failures = {}, []
    for n, addr in enumerate(cluster.nodes):
        deadline = time.monotonic() + 10
        while True:
            f = info(addr)
            r, d, x = (int(f.get(k, 0)) for k in ("pubsub_receivers", "pubsub_delivered", "pubsub_dropped"))
            if r == d + x or time.monotonic() > deadline:
                break
            time.sleep(0.1)  # counters settle as the last writes complete: nothing to wait on
        out["node-%d" % (n + 1)] = {k: int(f.get(k, 0)) for k in (
            "pubsub_receivers", "pubsub_delivered", "pubsub_dropped", "relay_in", "relay_out",
            "relay_dropped", "relay_connected")}
        if r != d + x:
            failures.append("node-%d: receivers %d != delivered %d + dropped %d" % (n + 1, r, d, x))
    return out, failures


def throughput(cluster, spread, count):
    """Publishes `count` messages as fast as the publisher goes to 6 subscribers (all on node-1,
    or two per node); deliveries per second until the last one arrived."""
    layout = [(i % 3 if spread else 0, "channel", False) for i in range(6)]
    channel = "burst-%s-%d" % ("spread" if spread else "one", os.getpid())
    subs = start_subscribers(cluster, channel, layout, fallback=False)
    publisher = Conn(cluster.nodes[0])
    route(publisher, channel, subs)
    start = time.monotonic()
    sent = 0
    while sent < count:
        n = min(200, count - sent)
        publisher.sock.sendall(b"".join(encode("PUBLISH", channel, b"%d:%d" % (j, time.time_ns())) for j in range(sent, sent + n)))
        for _ in range(n):
            publisher.frame()
        sent += n
    settle(subs, count, patience=30)
    last = max(s.last_arrival for s in subs)
    delivered = sum(len(s.seqs) for s in subs)
    for s in subs:
        s.finish()
    publisher.close()
    return {"nodes": 3 if spread else 1, "deliveries": delivered, "expected": 6 * count,
            "deliveries_per_s": round(delivered / max(last - start, 1e-9))}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--nodes", required=True, help="node-1,node-2,node-3 addresses (host:port)")
    ap.add_argument("--compose", required=True, help="the compose command, project and file included")
    ap.add_argument("--out", default="results")
    ap.add_argument("--quick", action="store_true", help="shorter rounds (CI)")
    args = ap.parse_args()
    cluster = Cluster(args.nodes.split(","), shlex.split(args.compose))
    assert len(cluster.nodes) == 3, "three nodes"
    for addr in cluster.nodes:
        deadline = time.monotonic() + 60
        while True:
            try:
                c = Conn(addr, timeout=2)
                c.call("PING")
                c.close()
                break
            except (OSError, ConnectionError, ValueError):
                if time.monotonic() > deadline:
                    raise SystemExit("node %s does not answer PING" % addr)
                time.sleep(0.2)  # waiting for a container to start listening
    rate = 1000 if args.quick else 2000
    secs = 4 if args.quick else 8
    report, failures = {"rounds": []}, []

    def record(summary):
        report["rounds"].append(summary)
        failures.extend("%s: %s" % (summary["round"], f) for f in summary["failures"])
        lat = summary["latency_us"]
        missing = {r["subscriber"]: r["missing"] for r in summary["subscribers"] if r["missing"]}
        print("== %-10s %d msgs; same-node p50/p99 %s/%s us, cross-node %s/%s us; missing %s; %s" % (
            summary["round"], summary["messages"], fmt(lat["same_node"]["p50"]), fmt(lat["same_node"]["p99"]),
            fmt(lat["cross_node"]["p50"]), fmt(lat["cross_node"]["p99"]), missing or "none",
            "ok" if not summary["failures"] else "FAILED: " + "; ".join(summary["failures"])), flush=True)

    everyone = [(n, "channel", False) for n in range(3) for _ in range(3)] + [(n, "pattern", False) for n in range(3)]
    print("== steady: 3 channel + 1 pattern subscribers per node, publisher on node-1", flush=True)
    record(run_round(cluster, "steady", everyone, rate * secs, rate, expect_complete=(0, 1, 2)))

    two_each = [(n, "channel", False) for n in range(3) for _ in range(2)]
    print("== nats-stop: node-1's NATS server stops 2 s in; node-1 fails over", flush=True)
    stop_at = lambda t: cluster.docker("stop", "-t", "2", "nats-1") if t == 2 else None
    record(run_round(cluster, "nats-stop", two_each, rate * (secs + 2), rate, at=stop_at, expect_complete=(0,)))
    cluster.docker("start", "nats-1")

    paused = [(n, "channel", n == 2) for n in range(3) for _ in range(2)]
    print("== pause: node-3 paused 2 s in; its subscribers move to another node", flush=True)
    pause_at = lambda t: cluster.docker("pause", "node-3") if t == 2 else None
    record(run_round(cluster, "pause", paused, rate * (secs + 2), rate, at=pause_at, expect_complete=(0, 1)))
    cluster.docker("unpause", "node-3")

    natsnet = cluster.network("natsnet")
    node2 = cluster.container("node-2")

    def partition(t):
        if t == 2:
            print("   $ docker network disconnect", natsnet, "node-2", flush=True)
            subprocess.run(["docker", "network", "disconnect", natsnet, node2], check=True)
        if t == 5:
            print("   $ docker network connect", natsnet, "node-2", flush=True)
            subprocess.run(["docker", "network", "connect", natsnet, node2], check=True)

    print("== partition: node-2 cut from NATS 2 s in, healed at 5 s", flush=True)
    record(run_round(cluster, "partition", two_each, rate * (secs + 8), rate, at=partition, expect_complete=(0, 2)))

    report["accounting"], bad = accounting(cluster)
    failures.extend(bad)
    print("== accounting per node:", json.dumps(report["accounting"]), flush=True)

    burst = 5000 if args.quick else 20000
    report["throughput"] = [throughput(cluster, False, burst), throughput(cluster, True, burst)]
    for t in report["throughput"]:
        print("== burst, subscribers on %d node(s): %d deliveries/s (%d of %d)" % (
            t["nodes"], t["deliveries_per_s"], t["deliveries"], t["expected"]), flush=True)
        if t["deliveries"] != t["expected"]:
            failures.append("burst on %d node(s): %d of %d delivered" % (t["nodes"], t["deliveries"], t["expected"]))

    report["failures"] = failures
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "summary.json"), "w") as f:
        json.dump(report, f, indent=1)
    with open(os.path.join(args.out, "summary.md"), "w") as f:
        f.write(markdown(report))
    print("== %s (%s)" % ("all checks passed" if not failures else "%d checks FAILED" % len(failures),
                          os.path.join(args.out, "summary.md")))
    for f in failures:
        print("   FAILED:", f)
    return 1 if failures else 0


def fmt(v):
    return "-" if v is None else "%.0f" % v


def markdown(report):
    lines = ["# Cluster check", "", "| round | messages | same-node p50 / p99 (us) | cross-node p50 / p99 (us) | missing (subscriber: count) | reconnects | result |",
             "|---|---|---|---|---|---|---|"]
    for r in report["rounds"]:
        lat = r["latency_us"]
        missing = ", ".join("%s: %d" % (s["subscriber"], s["missing"]) for s in r["subscribers"] if s["missing"]) or "none"
        reconnects = sum(s["reconnects"] for s in r["subscribers"])
        lines.append("| %s | %d | %s / %s | %s / %s | %s | %d | %s |" % (
            r["round"], r["messages"], fmt(lat["same_node"]["p50"]), fmt(lat["same_node"]["p99"]),
            fmt(lat["cross_node"]["p50"]), fmt(lat["cross_node"]["p99"]), missing, reconnects,
            "ok" if not r["failures"] else "FAILED"))
    lines += ["", "| node | receivers | delivered | dropped | relay in | relay out | relay dropped |", "|---|---|---|---|---|---|---|"]
    for node, a in report["accounting"].items():
        lines.append("| %s | %d | %d | %d | %d | %d | %d |" % (node, a["pubsub_receivers"], a["pubsub_delivered"],
                     a["pubsub_dropped"], a["relay_in"], a["relay_out"], a["relay_dropped"]))
    lines += ["", "| subscribers on | deliveries/s (6 subscribers, one publisher) |", "|---|---|"]
    for t in report["throughput"]:
        lines.append("| %d node(s) | %d |" % (t["nodes"], t["deliveries_per_s"]))
    if report["failures"]:
        lines += ["", "Failures:", ""] + ["- " + f for f in report["failures"]]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
