#!/usr/bin/env bash
# The uring backend's targets, side by side with event and redis-server in one run:
#   bench/uring.sh            (from the project root, after cargo build --release)
# Starts redis-server, `server --backend event` and `server --backend uring` on free loopback
# ports, then for ROUNDS rounds (default 3) runs each workload against each server in turn
# (redis, event, uring, redis, event, ...), and prints the median of each figure and the ratios
# uring/event and uring/redis. Server CPU comes from /proc/PID/stat (loadtest --server-pid).
#   fanout   1 publisher, 100 subscribers of one channel, 2,000 msg/s of 64 B, open loop:
#            server CPU per delivered message (ns), p99 publish-to-delivery
#   sat      the same as fast as possible (--rate max): deliveries/s, CPU per delivery
#   ping P   redis-benchmark PING (-t ping_mbulk), 50 connections, pipeline 1 and 16: requests/s
#   open     loadtest ping, 50 connections, 20,000 requests/s open loop: p99
# Extra server flags for both of ours: SERVER_FLAGS="--threads 1".
set -u
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-5}
bin=${BIN:-target/release}
command -v redis-server >/dev/null && command -v redis-benchmark >/dev/null || {
  echo "needs redis-server and redis-benchmark: apt-get install -y redis-server redis-tools" >&2; exit 2; }
[ -x "$bin/server" ] && [ -x "$bin/loadtest" ] || { echo "run cargo build --release first" >&2; exit 2; }
. "$(dirname "$0")/common.sh"
declare -A port pid
port[redis]=$(free_port); port[event]=$(free_port); port[uring]=$(free_port)
redis-server --port "${port[redis]}" --save '' --appendonly no >/dev/null 2>&1 & pid[redis]=$!
# shellcheck disable=SC2086
"$bin/server" --backend event --port "${port[event]}" --log-level warn ${SERVER_FLAGS:-} >/tmp/bench-event.log 2>&1 & pid[event]=$!
# shellcheck disable=SC2086
"$bin/server" --backend uring --port "${port[uring]}" --log-level warn ${SERVER_FLAGS:-} >/tmp/bench-uring.log 2>&1 & pid[uring]=$!
trap 'kill ${pid[redis]} ${pid[event]} ${pid[uring]} 2>/dev/null; wait 2>/dev/null' EXIT
for s in redis event uring; do
  wait_port "${port[$s]}" || { echo "$s did not start (see /tmp/bench-$s.log)" >&2; exit 1; }
done
servers=(redis event uring)
declare -A results   # "$workload|$server" -> space-separated values
add() { results["$1|$2"]="${results["$1|$2"]:-} $3"; }
csv_field() { # the named column of loadtest's CSV output
  python3 -c 'import csv,sys; rows=list(csv.DictReader(sys.stdin)); print(rows[-1][sys.argv[1]] if rows else "")' "$1"; }
pubsub() { # server rate -> CSV
  "$bin/loadtest" run --scenario pubsub --addr "127.0.0.1:${port[$1]}" --server-pid "${pid[$1]}" \
    --publishers 1 --subscribers 100 --topics 1 --size 64 --rate "$2" --warmup 1 --duration "$DURATION" --csv 2>/dev/null; }
per_delivery_ns() { python3 -c 'import sys; c,r=float(sys.argv[1]),float(sys.argv[2]); print(f"{c/100/r*1e9:.0f}" if r else "")' "$1" "$2"; }
for round in $(seq "$ROUNDS"); do
  echo "round $round/$ROUNDS ($(uptime | sed 's/.*load/load/'))" >&2
  for s in "${servers[@]}"; do
    out=$(pubsub "$s" 2000)
    add fanout_ns "$s" "$(per_delivery_ns "$(csv_field server_cpu_pct <<<"$out")" "$(csv_field achieved_rate <<<"$out")")"
    add fanout_p99 "$s" "$(csv_field p99_us <<<"$out")"
    add fanout_lost "$s" "$(csv_field lost <<<"$out")"
  done
  for s in "${servers[@]}"; do
    out=$(pubsub "$s" max)
    add sat_rate "$s" "$(csv_field achieved_rate <<<"$out")"
    add sat_ns "$s" "$(per_delivery_ns "$(csv_field server_cpu_pct <<<"$out")" "$(csv_field achieved_rate <<<"$out")")"
  done
  for s in "${servers[@]}"; do add ping1 "$s" "$(rps "${port[$s]}" -n 200000 -c 50 -t ping_mbulk)"; done
  for s in "${servers[@]}"; do add ping16 "$s" "$(rps "${port[$s]}" -n 2000000 -c 50 -P 16 -t ping_mbulk)"; done
  for s in "${servers[@]}"; do
    out=$("$bin/loadtest" run --scenario ping --addr "127.0.0.1:${port[$s]}" -c 50 --rate 20000 --warmup 1 --duration "$DURATION" --csv 2>/dev/null)
    add open_p99 "$s" "$(csv_field p99_us <<<"$out")"
  done
  for s in "${servers[@]}"; do
    out=$("$bin/loadtest" run --scenario ping --addr "127.0.0.1:${port[$s]}" -c 50 --pipeline 16 --rate 100000 --warmup 1 --duration "$DURATION" --csv 2>/dev/null)
    add open16_p99 "$s" "$(csv_field p99_us <<<"$out")"
  done
done
printf '%-58s %10s %10s %10s %12s %12s\n' "workload (median of $ROUNDS)" redis event uring uring/event uring/redis
while IFS='|' read -r key name; do
  # shellcheck disable=SC2086
  r=$(median ${results["$key|redis"]}); e=$(median ${results["$key|event"]}); u=$(median ${results["$key|uring"]})
  printf '%-58s %10s %10s %10s %12s %12s\n' "$name" "$r" "$e" "$u" "$(ratio "$u" "$e")" "$(ratio "$u" "$r")"
  echo "  $key: redis [${results["$key|redis"]} ] event [${results["$key|event"]} ] uring [${results["$key|uring"]} ]" >&2
done <<'W'
fanout_ns|fan-out 2,000 msg/s x 100 subs: server CPU ns/delivery
fanout_p99|fan-out 2,000 msg/s x 100 subs: p99 us
fanout_lost|fan-out 2,000 msg/s x 100 subs: lost
sat_rate|fan-out saturation: deliveries/s
sat_ns|fan-out saturation: server CPU ns/delivery
ping1|PING 50 conns, pipeline 1 (redis-benchmark): req/s
ping16|PING 50 conns, pipeline 16 (redis-benchmark): req/s
open_p99|PING 50 conns, 20,000/s open loop: p99 us
open16_p99|PING 50 conns, pipeline 16, 100,000/s open loop: p99 us
W
