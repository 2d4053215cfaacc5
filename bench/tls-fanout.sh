#!/usr/bin/env bash
# Pub/sub fan-out to 100 subscribers, clear text and TLS, on every backend and redis-server.
#   bench/tls-fanout.sh [SERVER ARGS...]          (bench/tls-vs-redis.sh runs it too)
# Run from the project root after `cargo build --release`. Makes a throw-away CA and a server
# certificate it signed (openssl) in a temporary directory, starts redis-server and one
# target/release/server per backend, each with a plain and a TLS port, and runs the same load
# with target/release/loadtest on each port in turn: 2 publishers in closed loop (each PUBLISH
# sent when the last one is answered) on one channel with 100 subscribers, so every PUBLISH is
# 100 deliveries. The order of the servers rotates from round to round, and plain and TLS swap
# places, ROUNDS times (default 3). Prints medians: deliveries/s, the server's CPU per delivery,
# what TLS costs each server against its own clear-text figure, and each TLS figure against
# redis-server's. The load generator (one rustls client for every server) shares the machine:
# only the ratios mean something. Every run's JSON report stays in $OUT (default a temporary
# directory, printed at the end).
set -u
ROUNDS=${ROUNDS:-3}
BACKENDS=${BACKENDS:-thread pool queue event uring}
DURATION=${DURATION:-3}
server=${SERVER_BIN:-target/release/server}
loadtest=${LOADTEST_BIN:-target/release/loadtest}
for tool in redis-server openssl python3; do
  command -v $tool >/dev/null || { echo "needs $tool" >&2; exit 2; }
done
for bin in "$server" "$loadtest"; do
  [ -x "$bin" ] || { echo "no $bin: run cargo build --release first" >&2; exit 2; }
done
dir=$(mktemp -d)
out=${OUT:-$dir/reports}
mkdir -p "$out"
# rustls (the load generator's TLS) refuses a CA certificate as a server's own, so a CA signs
# the server's certificate.
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj "/CN=bench CA" -keyout "$dir/ca.key" \
  -out "$dir/ca.pem" >/dev/null 2>&1
openssl req -newkey rsa:2048 -nodes -subj /CN=localhost -keyout "$dir/key.pem" \
  -out "$dir/server.csr" >/dev/null 2>&1
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n' >"$dir/ext"
openssl x509 -req -in "$dir/server.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" -CAcreateserial \
  -days 1 -out "$dir/cert.pem" -extfile "$dir/ext" >/dev/null 2>&1
. "$(dirname "$0")/common.sh"
tls=(--tls-cert-file "$dir/cert.pem" --tls-key-file "$dir/key.pem" --tls-auth-clients no)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null; wait "${pids[@]}" 2>/dev/null; rm -rf "$dir/ca.key" "$dir/key.pem"' EXIT
# name plain-port tls-port pid, one line per server that started.
targets=()
start() { # NAME COMMAND...
  local name=$1 p t pid; shift
  p=$(free_port); t=$(free_port)
  "$@" --port "$p" --tls-port "$t" "${tls[@]}" >"$dir/$name.log" 2>&1 & pid=$!
  pids+=("$pid")
  if wait_port "$p" && wait_port "$t"; then
    targets+=("$name $p $t $pid")
  else
    echo "note: $name did not start: $(tail -1 "$dir/$name.log")" >&2
  fi
}
start redis redis-server --bind 127.0.0.1 --save '' --appendonly no
for b in $BACKENDS; do
  start "$b" "$server" --backend "$b" --bind 127.0.0.1 "$@"
done
results=$out/results.txt
: >"$results"
one() { # NAME MODE PORT PID ROUND
  local json=$out/$1-$2-$5.json sec=()
  [ "$2" = tls ] && sec=(--tls --cacert "$dir/ca.pem")
  "$loadtest" run --scenario pubsub --rate max --publishers 2 --subscribers 100 --topics 1 \
    --warmup 1 --duration "$DURATION" --drain 10 --no-floor --label "$1-$2" \
    --addr "127.0.0.1:$3" --server-pid "$4" --json "$json" "${sec[@]}" >/dev/null 2>"$json.err" \
    || { echo "note: $1 $2 round $5 failed: $(tail -1 "$json.err")" >&2; return; }
  python3 - "$json" "$1" "$2" "$5" >>"$results" <<'PY'
import json, sys
r = json.load(open(sys.argv[1])); p = r["pubsub"]
print(sys.argv[2], sys.argv[3], sys.argv[4], r["achieved_rate"], r.get("server_cpu_us_per_op") or 0,
      p["lost"], p.get("server_dropped") or 0, r["errors"])
PY
}
n=${#targets[@]}
for round in $(seq "$ROUNDS"); do
  for k in $(seq 0 $((n - 1))); do
    read -r name p t pid <<<"${targets[$(((k + round) % n))]}"
    if [ $((round % 2)) = 1 ]; then
      one "$name" plain "$p" "$pid" "$round"; one "$name" tls "$t" "$pid" "$round"
    else
      one "$name" tls "$t" "$pid" "$round"; one "$name" plain "$p" "$pid" "$round"
    fi
  done
done
python3 - "$results" <<'PY'
import statistics, sys
rows, by_round = {}, {}
for line in open(sys.argv[1]):
    name, mode, rnd, rate, cpu, lost, dropped, errors = line.split()
    rows.setdefault((name, mode), []).append((float(rate), float(cpu), int(lost), int(dropped), int(errors)))
    by_round[(name, mode, rnd)] = float(rate)
med = lambda key, i: statistics.median(v[i] for v in rows[key]) if key in rows else 0
names = [n for n in ["redis", "thread", "pool", "queue", "event", "uring"] if (n, "plain") in rows or (n, "tls") in rows]
print("pub/sub fan-out, 2 closed-loop publishers, 1 channel, 100 subscribers; medians of %d rounds" % max(len(v) for v in rows.values()))
print("%-7s %12s %12s %9s %11s %11s %9s %13s %9s" % ("server", "plain del/s", "TLS del/s", "TLS/plain",
      "plain µs/d", "TLS µs/d", "µs TLS/p", "TLS vs redis", "lost"))
rt = med(("redis", "tls"), 0)
for n in names:
    a, b = med((n, "plain"), 0), med((n, "tls"), 0)
    ca, cb = med((n, "plain"), 1), med((n, "tls"), 1)
    lost = sum(v[2] + v[3] + v[4] for m in ("plain", "tls") for v in rows.get((n, m), []))
    r = lambda x, y: "%.2f" % (x / y) if y else "n/a"
    print("%-7s %12.0f %12.0f %9s %11.2f %11.2f %9s %13s %9d" % (n, a, b, r(b, a), ca, cb, r(cb, ca), r(b, rt), lost))
print("(del/s: deliveries per second of the measured window; µs/d: the server's CPU per delivery;"
      " lost: messages lost or dropped and errors, all rounds)")
# The same ratios taken within each round (the two figures measured minutes apart at most),
# then their median: less exposed to the machine's load moving between rounds.
rounds = sorted({k[2] for k in by_round}, key=int)
def paired(a, b):
    v = [by_round[a + (r,)] / by_round[b + (r,)] for r in rounds if a + (r,) in by_round and b + (r,) in by_round and by_round[b + (r,)]]
    return "%.2f (%s)" % (statistics.median(v), " ".join("%.2f" % x for x in v)) if v else "n/a"
print("paired per round, median (each round):")
for n in names:
    print("  %-7s TLS/plain %-24s TLS vs redis TLS %s" % (n, paired((n, "tls"), (n, "plain")), paired((n, "tls"), ("redis", "tls"))))
PY
echo "reports: $out"
