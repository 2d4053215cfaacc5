#!/usr/bin/env bash
# Where a delivery's CPU goes, per server: the fan-out of bench/uring.sh (1 publisher, 100
# subscribers of one channel, 2,000 msg/s of 64 B, open loop) against redis-server and each of
# our backends named, sampled with `perf record` and sorted by what each sample's call stack
# was doing:
#   bench/fanout-profile.sh [BACKEND ...]      (default: event uring; from the project root,
#                                               after cargo build --release; needs perf, root)
# For each server, ROUNDS rounds (default 2, servers in turn) of DURATION seconds (default 6);
# perf samples every CPU for the middle of each run (the tool's start and end left out) and
# keeps the server's samples. Categories, first match wins:
#   tcp send   under tcp_sendmsg: the TCP stack, including, on loopback, the receiving side
#              of every segment and the wake-up of the reading thread, which run in the
#              sender's context and are charged to the server
#   tcp recv   under tcp_recvmsg
#   wake       waking another thread (eventfd, futex)
#   wait       going to sleep and waking up (the scheduler)
#   syscall    the rest of the kernel entered through a system call (epoll, io_uring
#              submission and completion, the call itself)
#   user       the server's own code
# Prints each category's share of the server's samples and, from /proc, its CPU per delivery.
set -u
ROUNDS=${ROUNDS:-2}
DURATION=${DURATION:-6}
bin=${BIN:-target/release}
backends=("$@")
[ ${#backends[@]} -gt 0 ] || backends=(event uring)
for tool in perf redis-server python3; do
  command -v $tool >/dev/null || { echo "needs $tool (apt-get install -y linux-perf redis-server)" >&2; exit 2; }
done
[ -x "$bin/server" ] && [ -x "$bin/loadtest" ] || { echo "run cargo build --release first" >&2; exit 2; }
dir=$(mktemp -d)
. "$(dirname "$0")/common.sh"
declare -A port pid
servers=(redis "${backends[@]}")
port[redis]=$(free_port)
redis-server --port "${port[redis]}" --save '' --appendonly no >/dev/null 2>&1 & pid[redis]=$!
for b in "${backends[@]}"; do
  port[$b]=$(free_port)
  "$bin/server" --backend "$b" --port "${port[$b]}" --log-level warn >"$dir/$b.log" 2>&1 & pid[$b]=$!
done
trap 'kill "${pid[@]}" 2>/dev/null; wait 2>/dev/null; rm -rf "$dir"' EXIT
for s in "${servers[@]}"; do
  wait_port "${port[$s]}" || { echo "$s did not start: $(cat "$dir/$s.log" 2>/dev/null)" >&2; exit 1; }
done
for round in $(seq "$ROUNDS"); do
  for s in "${servers[@]}"; do
    echo "round $round/$ROUNDS: $s ($(uptime | sed 's/.*load/load/'))" >&2
    "$bin/loadtest" run --no-floor --scenario pubsub --addr "127.0.0.1:${port[$s]}" \
      --server-pid "${pid[$s]}" --publishers 1 --subscribers 100 --topics 1 --size 64 \
      --rate 2000 --warmup 1 --duration "$DURATION" --csv >"$dir/$s.$round.csv" 2>/dev/null &
    load=$!
    sleep 2 # past connecting and the warm-up: a pause, not a synchronisation
    perf record -q -e cpu-clock -F 4000 -g -a -o "$dir/$s.$round.perf" -- sleep $((DURATION - 2)) 2>/dev/null
    wait $load
    perf script -i "$dir/$s.$round.perf" --pid "${pid[$s]}" -F ip,sym,dso >"$dir/$s.$round.stacks" 2>/dev/null
  done
done
python3 - "$dir" "$ROUNDS" "${servers[@]}" <<'PY'
import csv, sys, collections
dir, rounds, servers = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
order = ["tcp send", "tcp recv", "wake", "wait", "syscall", "user"]
def category(frames):
    stack = " ".join(frames)
    if "tcp_sendmsg" in stack: return "tcp send"
    if "tcp_recvmsg" in stack: return "tcp recv"
    if "eventfd_write" in stack or "futex_wake" in stack: return "wake"
    if "schedule" in stack or "finish_task_switch" in frames[0]: return "wait"
    if "do_syscall_64" in stack or "entry_SYSCALL" in stack or "kernel" in frames[0]:
        return "syscall"
    return "user"
print(f"{'server':8}" + "".join(f"{c:>10}" for c in order) + f"{'samples':>9}{'ns/delivery':>13}")
for s in servers:
    counts, per = collections.Counter(), []
    for r in range(1, rounds + 1):
        text = open(f"{dir}/{s}.{r}.stacks").read()
        for block in text.split("\n\n"):
            frames = [l.split(None, 1)[1] if " " in l.strip() else "" for l in block.strip().splitlines()]
            if frames:
                counts[category(frames)] += 1
        rows = list(csv.DictReader(open(f"{dir}/{s}.{r}.csv")))
        if rows and float(rows[-1]["achieved_rate"]):
            per.append(float(rows[-1]["server_cpu_pct"]) / 100 / float(rows[-1]["achieved_rate"]) * 1e9)
    total = sum(counts.values()) or 1
    per.sort()
    median = per[len(per) // 2] if per else float("nan")
    print(f"{s:8}" + "".join(f"{100 * counts[c] / total:9.1f}%" for c in order) + f"{total:9d}{median:13.0f}")
PY
