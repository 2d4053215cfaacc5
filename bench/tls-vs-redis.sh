#!/usr/bin/env bash
# TLS side by side with redis-server, with redis-benchmark --tls, on this machine.
#   bench/tls-vs-redis.sh [SERVER ARGS...]        e.g.  bench/tls-vs-redis.sh --backend event
# Run from the project root after `cargo build --release`. Makes a throw-away CA and
# server certificate (openssl) in a temporary directory, starts redis-server and
# target/release/server each with a plain and a TLS port, and runs every workload on the four
# (ours plain, ours TLS, redis plain, redis TLS) alternately ROUNDS times (default 3). Prints the
# medians (requests/s), ours/redis over TLS, and what TLS costs each server against its own
# plain figure. The machine is shared and noisy: only the ratios mean something. Then runs
# bench/tls-fanout.sh (pub/sub fan-out over TLS on every backend; FANOUT=0 skips it).
set -u
ROUNDS=${ROUNDS:-3}
server=${SERVER_BIN:-target/release/server}
for tool in redis-server redis-benchmark openssl python3; do
  command -v $tool >/dev/null || { echo "needs $tool" >&2; exit 2; }
done
[ -x "$server" ] || { echo "no $server: run cargo build --release -p server first" >&2; exit 2; }
dir=$(mktemp -d)
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost -keyout "$dir/key.pem" \
  -out "$dir/cert.pem" -addext subjectAltName=DNS:localhost,IP:127.0.0.1 >/dev/null 2>&1
. "$(dirname "$0")/common.sh"
rp=$(free_port); rt=$(free_port); sp=$(free_port); st=$(free_port)
tls=(--tls-cert-file "$dir/cert.pem" --tls-key-file "$dir/key.pem" --tls-auth-clients no)
redis-server --port "$rp" --tls-port "$rt" "${tls[@]}" --save '' --appendonly no >/dev/null 2>&1 & rpid=$!
"$server" --port "$sp" --tls-port "$st" "${tls[@]}" "$@" >/tmp/tls-vs-redis-server.log 2>&1 & spid=$!
trap 'kill $rpid $spid 2>/dev/null; wait $rpid $spid 2>/dev/null; rm -rf "$dir"' EXIT
for p in "$rp" "$rt" "$sp" "$st"; do
  wait_port "$p" || { echo "a server did not start (see /tmp/tls-vs-redis-server.log)" >&2; exit 1; }
done
printf '%-34s %10s %10s %10s %10s %11s %10s %10s\n' workload ours ours-tls redis redis-tls \
  'tls:ours/r' 'ours tls/p' 'redis t/p'
while IFS='|' read -r name args; do
  op=() ot=() rpl=() rtl=()
  for _ in $(seq "$ROUNDS"); do
    # shellcheck disable=SC2086
    op+=("$(rps "$sp" $args)"); rtl+=("$(rps "$rt" --tls --cacert "$dir/cert.pem" $args)")
    # shellcheck disable=SC2086
    ot+=("$(rps "$st" --tls --cacert "$dir/cert.pem" $args)"); rpl+=("$(rps "$rp" $args)")
  done
  a=$(median "${op[@]}"); b=$(median "${ot[@]}"); c=$(median "${rpl[@]}"); d=$(median "${rtl[@]}")
  printf '%-34s %10s %10s %10s %10s %11s %10s %10s\n' "$name" "$a" "$b" "$c" "$d" \
    "$(ratio "$b" "$d")" "$(ratio "$b" "$a")" "$(ratio "$d" "$c")"
done <<'W'
PING, 50 conns|-n 100000 -c 50 -t ping_mbulk
PUBLISH, 50 conns, pipeline 16|-n 1000000 -c 50 -P 16 PUBLISH news hello
W
# Pub/sub fan-out to 100 subscribers over TLS, every backend beside redis-server, with loadtest
# (bench/tls-fanout.sh, which starts servers of its own); FANOUT=0 skips it.
kill $rpid $spid 2>/dev/null; wait $rpid $spid 2>/dev/null
if [ "${FANOUT:-1}" != 0 ]; then echo; ROUNDS=$ROUNDS "$(dirname "$0")/tls-fanout.sh"; fi
