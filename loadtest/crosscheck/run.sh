#!/usr/bin/env bash
# Cross-checks loadtest against independent tools on the same server, in alternating rounds:
#   1. pub/sub: 1 publisher, 100 subscribers on one topic, 2,000 msg/s of 64 B, 1 s warmup,
#      6 s measured: `loadtest run --scenario pubsub` against pubsub_epoll.c and pubsub_epoll.py
#      (each one epoll loop for every subscriber; built here with cc).
#   2. request/reply, closed loop: `redis-benchmark -t ping_mbulk` against
#      `loadtest run --scenario ping --rate max`, same connections and pipeline.
# Prints every round's figures (µs) and the medians. Needs target/release/{server,loadtest},
# cc, python3 and redis-benchmark.
#   loadtest/crosscheck/run.sh [ROUNDS] [BACKEND]
set -euo pipefail
cd "$(dirname "$0")/../.."
rounds=${1:-3}
backend=${2:-event}
bin=target/release
here=loadtest/crosscheck
log=$(mktemp)
"$bin/server" --backend "$backend" --port 0 --log-level warn >"$log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null; rm -f "$log"' EXIT
for _ in $(seq 100); do grep -q 'listening on' "$log" && break; sleep 0.05; done
addr=$(sed -n 's/^listening on //p' "$log")
port=${addr##*:}
cbin=$(mktemp)
cc -O2 -o "$cbin" "$here/pubsub_epoll.c"
trap 'kill $server 2>/dev/null; rm -f "$log" "$cbin"' EXIT
echo "server --backend $backend at $addr (pid $server)"

ms_to_us() { awk -v v="$1" 'BEGIN { printf "%d", v * 1000 }'; }
# p50 and p99 (µs) from loadtest's JSON report.
lt_json() { python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print(r["latency_us"]["p50"], r["latency_us"]["p99"], r["uncorrected_us"]["p50"])' "$1"; }

declare -a lt_p50 lt_p99 lt_u50 c_p50 c_p99 py_p50 py_p99 rb_p50 rb_p99 lp_p50 lp_p99
json=$(mktemp)
for r in $(seq "$rounds"); do
  echo "== round $r (load average $(cut -d' ' -f1-3 /proc/loadavg))"
  "$bin/loadtest" run --scenario pubsub --addr "$addr" --publishers 1 --subscribers 100 --topics 1 \
    --rate 2000 --size 64 --warmup 1 --duration 6 --no-floor --json "$json" >/dev/null
  read -r a b c < <(lt_json "$json"); lt_p50+=("$a"); lt_p99+=("$b"); lt_u50+=("$c")
  echo "loadtest pubsub:      p50 $a  p99 $b  (p50 from actual send $c)"
  out=$("$cbin" "$port" 100 2000 64 1 6)
  a=$(sed -n 's/.* p50 \([0-9]*\) .*/\1/p' <<<"$out"); b=$(sed -n 's/.* p99 \([0-9]*\) .*/\1/p' <<<"$out")
  c_p50+=("$a"); c_p99+=("$b")
  echo "pubsub_epoll.c:       p50 $a  p99 $b"
  out=$(python3 "$here/pubsub_epoll.py" --port "$port" --subscribers 100 --rate 2000 --size 64 --warmup 1 --duration 6)
  a=$(sed -n 's/.* p50 \([0-9]*\) .*/\1/p' <<<"$out"); b=$(sed -n 's/.* p99 \([0-9]*\) .*/\1/p' <<<"$out")
  py_p50+=("$a"); py_p99+=("$b")
  echo "pubsub_epoll.py:      p50 $a  p99 $b"
  csv=$(redis-benchmark -p "$port" -c 50 -P 1 -n 300000 -t ping_mbulk --csv 2>/dev/null | tail -1)
  a=$(ms_to_us "$(cut -d, -f5 <<<"$csv" | tr -d '"')"); b=$(ms_to_us "$(cut -d, -f7 <<<"$csv" | tr -d '"')")
  rb_p50+=("$a"); rb_p99+=("$b")
  echo "redis-benchmark ping: p50 $a  p99 $b  ($(cut -d, -f2 <<<"$csv" | tr -d '"') req/s)"
  "$bin/loadtest" run --scenario ping --addr "$addr" --rate max -c 50 --pipeline 1 --warmup 0.5 \
    --duration 4 --no-floor --json "$json" >/dev/null
  read -r a b c < <(lt_json "$json"); lp_p50+=("$a"); lp_p99+=("$b")
  rate=$(python3 -c 'import json,sys; print(round(json.load(open(sys.argv[1]))["achieved_rate"]))' "$json")
  echo "loadtest ping max:    p50 $a  p99 $b  ($rate req/s)"
done
rm -f "$json"
median() { printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
echo "== medians of $rounds rounds (µs)"
echo "pubsub   loadtest p50 $(median "${lt_p50[@]}") p99 $(median "${lt_p99[@]}") (actual-send p50 $(median "${lt_u50[@]}"))  |  pubsub_epoll.c p50 $(median "${c_p50[@]}") p99 $(median "${c_p99[@]}")  |  pubsub_epoll.py p50 $(median "${py_p50[@]}") p99 $(median "${py_p99[@]}")"
echo "ping     loadtest p50 $(median "${lp_p50[@]}") p99 $(median "${lp_p99[@]}")  |  redis-benchmark p50 $(median "${rb_p50[@]}") p99 $(median "${rb_p99[@]}")"
