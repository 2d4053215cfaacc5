#!/usr/bin/env bash
# The whole comparison in containers, then the fault scenarios, each checked; exits non-zero if
# any run or check failed, and always tears the compose projects down.
#
#   docker/loadtest.sh            # every backend x {pubsub, echo, tls}, 2 s warmup + 10 s each, faults
#   docker/loadtest.sh --quick    # CI size: 1 s warmup + 5 s each
#   docker/loadtest.sh --scenarios tls --no-faults    # the TLS + ACL run alone
#
# Scenarios: pubsub, echo, and tls (pubsub over TLS, logged in as an ACL user that may use the
# loadtest channels only; certificates, ACL file and passwords made at run time, see
# compose.tls.yml). Options: --quick, --backends thread,pool,queue,event,uring, --scenarios
# pubsub,echo,tls, --loadgens N (load generator containers per run, merged with `loadtest
# merge`), --no-faults, --no-build (reuse the image switchboard:local). Environment: WARMUP,
# DURATION, RATE (per run), FAULT_BACKEND (default thread), FAULT_MAX_RSS_MB (default 16),
# FAULT_BUFFER_LIMIT (256kb).
#
# Results: docker/results/compose/{pubsub,echo,tls}/report.md (all backends in one table, like
# `loadtest compare`), .../BACKEND/ (each run's report and server log), faults/{pause,restart}/,
# and summary.md.
set -euo pipefail
self=$(realpath "$0")
cd "$(dirname "$0")"
started=$(date +%s)

quick=0 build=1 faults=1 loadgens=1
backends=thread,pool,queue,event,uring
scenarios=pubsub,echo,tls
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) quick=1 ;;
    --no-build) build=0 ;;
    --no-faults) faults=0 ;;
    --backends) backends=$2; shift ;;
    --backends=*) backends=${1#*=} ;;
    --scenarios) scenarios=$2; shift ;;
    --scenarios=*) scenarios=${1#*=} ;;
    --loadgens) loadgens=$2; shift ;;
    --loadgens=*) loadgens=${1#*=} ;;
    -h | --help) sed -n '2,22p' "$self"; exit 0 ;;
    *) echo "unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done
if [ "$quick" = 1 ]; then
  warmup=${WARMUP:-1} duration=${DURATION:-5}
else
  warmup=${WARMUP:-2} duration=${DURATION:-10}
fi
rate=${RATE:-5000}
fault_backend=${FAULT_BACKEND:-thread}
max_rss_mb=${FAULT_MAX_RSS_MB:-16}

source ./compose-cmd.sh
echo "== using $("${compose[@]}" version --short 2>/dev/null || echo "${compose[*]}")"

if [ "$build" = 1 ]; then
  ./build.sh
fi
docker image inspect switchboard:local >/dev/null

# The report writer runs as the calling user (so results stay deletable), but never as root.
if [ "$(id -u)" != 0 ]; then
  LOADTEST_USER="$(id -u):$(id -g)"
  export LOADTEST_USER
fi
results=results/compose
mkdir -p results
chmod 777 results 2>/dev/null || true
rm -rf "$results"
mkdir -p "$results"
chmod 777 "$results" 2>/dev/null || true

# Lower-case letters and digits only: docker-compose v1 and v2 agree on such a project name.
project=swblt$$
dc() { "${compose[@]}" -p "$project" "${files[@]}" "$@"; }
files=(-f compose.yml)
containers() { # SERVICE -> ids of its containers, running or not
  docker ps -aq --filter "label=com.docker.compose.project=$project" \
    --filter "label=com.docker.compose.service=$1"
}
down() {
  for c in $(docker ps -aq --filter "label=com.docker.compose.project=$project"); do
    docker unpause "$c" >/dev/null 2>&1 || true
  done
  files=(-f compose.yml -f compose.echo.yml)
  dc --profile fault down -v --remove-orphans >/dev/null 2>&1 || true
}
tls_dir=
cleanup() {
  down
  # The throw-away CA and server key never outlive the run.
  if [ -n "$tls_dir" ]; then rm -rf "$tls_dir"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

failures=()
fail() {
  echo "FAIL: $*"
  failures+=("$*")
}
# The first number after "KEY": in a pretty-printed report.json, or DEFAULT (-1) if none.
json_num() { # FILE KEY [DEFAULT]
  local v
  v=$(grep -m1 -o "\"$2\": [0-9.]*" "$1" 2>/dev/null | awk '{print $2}') || true
  echo "${v:-${3:--1}}"
}
plain_logs() { docker logs "$1" 2>&1 | sed 's/\x1b\[[0-9;]*m//g'; }

# The tls run's material, made once per script run into a private temporary directory that
# the exit trap removes: a CA and a server certificate for the names the containers use
# (`server`, and 127.0.0.1 for the healthcheck), ECDSA P-256, valid 2 days, signed and then the
# CA key deleted; two passwords drawn at random; and an ACL file holding only their SHA-256
# digests. Nothing of it is ever written into the repository. Sets TLS_DIR, HEALTH_PASS and
# LOADGEN_PASS for compose.tls.yml.
make_tls() {
  [ -z "$tls_dir" ] || return 0
  if ! command -v openssl >/dev/null; then
    echo "== installing openssl (the tls run's certificates)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq --no-install-recommends openssl >/dev/null
  fi
  tls_dir=$(mktemp -d "${TMPDIR:-/tmp}/switchboard-lt-tls.XXXXXX")
  local d=$tls_dir ec=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)
  {
    openssl req -x509 "${ec[@]}" -days 2 -subj "/CN=switchboard compose test CA" \
      -keyout "$d/ca.key" -out "$d/ca.pem" \
      -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign &&
      openssl req "${ec[@]}" -subj /CN=server -keyout "$d/server.key" -out "$d/server.csr" &&
      printf '%s\n' subjectAltName=DNS:server,DNS:localhost,IP:127.0.0.1 \
        extendedKeyUsage=serverAuth basicConstraints=critical,CA:FALSE \
        keyUsage=critical,digitalSignature >"$d/server.ext" &&
      openssl x509 -req -in "$d/server.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" -CAcreateserial \
        -days 2 -extfile "$d/server.ext" -out "$d/server.pem"
  } >"$d/openssl.log" 2>&1 || {
    cat "$d/openssl.log"
    echo "openssl could not make the tls run's certificates" >&2
    exit 1
  }
  rm -f "$d/ca.key" "$d/ca.srl" "$d/server.csr" "$d/server.ext" "$d/openssl.log"
  HEALTH_PASS=$(openssl rand -hex 24)
  LOADGEN_PASS=$(openssl rand -hex 24)
  local health_sha loadgen_sha
  health_sha=$(printf %s "$HEALTH_PASS" | sha256sum | cut -d' ' -f1)
  loadgen_sha=$(printf %s "$LOADGEN_PASS" | sha256sum | cut -d' ' -f1)
  # The default user is off, so nothing is served before a login; `health` may only PING;
  # `loadtest` may use the loadtest's channels (`loadtest:TAG:topic:N`) and the commands its
  # pubsub scenario sends (INFO: the server's drop counter for the accounting).
  cat >"$d/users.acl" <<ACL
user default off
user health on #$health_sha resetchannels -@all +ping
user loadtest on #$loadgen_sha resetchannels &loadtest:* -@all +ping +info +publish +subscribe +unsubscribe +psubscribe +punsubscribe
ACL
  # The server runs as uid 65534: give it the key (as root), or let it read the file.
  chmod 755 "$d"
  chmod 644 "$d/ca.pem" "$d/server.pem" "$d/users.acl"
  if [ "$(id -u)" = 0 ]; then
    chown 65534:65534 "$d/server.key" && chmod 600 "$d/server.key"
  else
    chmod 644 "$d/server.key"
  fi
  export TLS_DIR=$d HEALTH_PASS LOADGEN_PASS
}

# What makes the tls run a TLS + ACL run, asked inside its server container with `client`
# once the load is over: nothing is served before a login (the plain port), a wrong password
# and a channel outside the user's patterns are refused, the TLS port speaks only TLS, and the
# loadtest user's own channels work.
tls_checks() { # NAME DIR
  local name=$1 dir=$2 server out dup reord
  # The pub/sub accounting of the run (the first generator's, when there are several): every
  # PUBLISH receiver got its message once, in order.
  dup=$(json_num "$dir/report.json" duplicates)
  reord=$(json_num "$dir/report.json" reordered)
  grep -q '"accounting_ok": true' "$dir/report.json" && [ "$dup" = 0 ] && [ "$reord" = 0 ] ||
    fail "$name: the pub/sub accounting does not add up ($dup duplicates, $reord reordered; see $dir/report.md)"
  server=$(containers server)
  local tls=(--host 127.0.0.1 --port 16000 --tls --cacert /tls/ca.pem --user loadtest)
  ask() { # PASSWORD CLIENT-ARGS...
    local pass=$1
    shift
    SWITCHBOARD_PASS=$pass docker exec -e SWITCHBOARD_PASS "$server" /client "$@" 2>&1
  }
  # From a container of its own on the run's network, with no password in its environment
  # (the server's has the healthcheck's).
  local net
  net=$(docker inspect -f '{{range $k, $v := .NetworkSettings.Networks}}{{$k}}{{end}}' "$server")
  out=$(docker run --rm --network "$net" --entrypoint /client switchboard:local \
    --host server --port 15000 ping 2>&1 || true)
  [[ $out == *NOAUTH* ]] || fail "$name: the plain port, not logged in, answered '$out' (want NOAUTH)"
  out=$(ask "$LOADGEN_PASS" "${tls[@]}" pub loadtest:check hello || true)
  [ "$out" = 0 ] || fail "$name: the loadtest user could not publish on loadtest:check over TLS: '$out'"
  out=$(ask "$LOADGEN_PASS" "${tls[@]}" pub weather hello || true)
  [[ $out == *NOPERM* ]] || fail "$name: the loadtest user published outside loadtest:*: '$out' (want NOPERM)"
  out=$(ask "wrong-$LOADGEN_PASS" "${tls[@]}" ping || true)
  [[ $out == *WRONGPASS* ]] || fail "$name: a wrong password got '$out' (want WRONGPASS)"
  out=$(ask "$LOADGEN_PASS" --host 127.0.0.1 --port 16000 --user loadtest ping || true)
  [[ $out != *PONG* ]] || fail "$name: the TLS port answered plain text"
  # The server counted each refusal above.
  local stats field value
  stats=$(ask "$LOADGEN_PASS" "${tls[@]}" info stats || true)
  for field in acl_access_denied_channel acl_access_denied_auth tls_handshake_failures tls_handshakes; do
    value=$(sed -n "s/^$field://p" <<<"$stats")
    [ "${value:-0}" -ge 1 ] 2>/dev/null ||
      fail "$name: INFO stats $field is '${value:-}', want at least 1 after the checks (INFO said: ${stats:0:200})"
  done
  echo "   checked: plain port NOAUTH before login, NOPERM outside loadtest:*, WRONGPASS, no plain text on the TLS port, and INFO counted them"
}

# Sets the environment compose.yml reads for one run.
setup_run() { # SCENARIO BACKEND OUT
  export SCENARIO=$1 BACKEND=$2 OUT=compose/$3 WARMUP=$warmup DURATION=$duration DRAIN=5
  export RATE=$rate CONNECTIONS=10 SIZE=64 PUBLISHERS=2 SUBSCRIBERS=50 TOPICS=10
  export OUTPUT_BUFFER_LIMIT=32mb LOADGEN_PID_NS=service:server SERVER_PID=1
  mkdir -p "results/$OUT"
  chmod 777 "results/$OUT" 2>/dev/null || true
  files=(-f compose.yml)
  if [ "$1" = echo ]; then
    files+=(-f compose.echo.yml)
  fi
  if [ "$1" = tls ]; then
    files+=(-f compose.tls.yml)
  fi
  if [ "$2" = uring ]; then
    files+=("${uring_files[@]}")
  fi
}

# Starts a uring server container with the docker run options given; true if and only if it
# becomes healthy (io_uring allowed), else prints the server's last line (why not).
uring_probe() {
  local c state
  c=$(docker run -d --network none "$@" switchboard:local --backend uring --port 15000) || return 1
  for _ in $(seq 120); do
    state=$(docker inspect -f '{{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{end}}' "$c")
    case "$state" in
      "running healthy") docker rm -f "$c" >/dev/null; return 0 ;;
      exited* | dead*) plain_logs "$c" | tail -1; docker rm -f "$c" >/dev/null; return 1 ;;
    esac
    sleep 0.25
  done
  echo "the uring server container did not become healthy"
  docker rm -f "$c" >/dev/null
  return 1
}

# Waits for every load generator; prints the logs of any that failed. Returns non-zero then.
wait_loadgens() { # NAME
  local ok=0 c code
  for c in $(containers loadgen); do
    code=$(docker wait "$c")
    if [ "$code" != 0 ]; then
      fail "$1: load generator $c exited with $code"
      docker logs "$c" 2>&1 | tail -20
      ok=1
    fi
  done
  return $ok
}

# Merges the generators' histograms into docker/results/$OUT and keeps the server log.
report() { # NAME
  local dir=results/$OUT server
  if ! dc run --rm --no-deps loadtest >"$dir.merge.log" 2>&1; then
    fail "$1: loadtest merge failed"
    cat "$dir.merge.log"
    return 1
  fi
  rm -f "$dir.merge.log"
  server=$(containers server)
  plain_logs "$server" >"$dir/server.log" || true
  if [ ! -s "$dir/report.md" ] || [ ! -s "$dir/report.json" ] || [ ! -s "$dir/latency.svg" ]; then
    fail "$1: report.md, report.json or latency.svg missing in $dir"
    return 1
  fi
}

# One scenario against one backend: server, N generators, report; no errors or losses allowed.
compare_run() { # SCENARIO BACKEND
  local name="$1/$2" dir errors lost
  if [ "$1" = tls ]; then
    make_tls
  fi
  setup_run "$1" "$2" "$1/$2"
  dir=results/$OUT
  mkdir -p "$dir"
  echo "== $name: ${loadgens} load generator(s), rate $rate/s, ${warmup}s warmup + ${duration}s"
  if ! dc up -d --scale loadgen="$loadgens" server loadgen >"$dir.up.log" 2>&1; then
    fail "$name: compose up failed"
    cat "$dir.up.log"
    down
    return
  fi
  rm -f "$dir.up.log"
  wait_loadgens "$name" && report "$name" && {
    errors=$(json_num "$dir/report.json" errors)
    errors=$((errors + $(json_num "$dir/report.json" unanswered)))
    lost=$(json_num "$dir/report.json" lost 0)
    if [ "$errors" != 0 ] || [ "$lost" != 0 ]; then
      fail "$name: $errors errors and unanswered, $lost lost (see $dir/report.md)"
    fi
    grep -m1 -A2 '^| server' "$dir/report.md" | tail -1
    if [ "$1" = tls ]; then
      tls_checks "$name" "$dir"
    fi
  }
  down
}

IFS=, read -r -a backend_list <<<"$backends"
# The uring backend needs io_uring, which Docker's default seccomp profile blocks from Docker 25
# on: then its server runs with compose.uring.yml; where even that fails, it is skipped, saying so.
uring_files=()
if [[ ",$backends," == *,uring,* ]]; then
  if why=$(uring_probe); then
    echo "== uring: io_uring is allowed by the engine's default seccomp profile"
  elif uring_probe --security-opt seccomp=unconfined >/dev/null; then
    echo "== uring: the default seccomp profile refuses io_uring ($why): adding compose.uring.yml"
    uring_files=(-f compose.uring.yml)
  else
    echo "SKIPPED: uring in compose: $why"
    kept=()
    for backend in "${backend_list[@]}"; do
      [ "$backend" = uring ] || kept+=("$backend")
    done
    backend_list=("${kept[@]}")
  fi
fi
IFS=, read -r -a scenario_list <<<"$scenarios"
for scenario in "${scenario_list[@]}"; do
  for backend in "${backend_list[@]}"; do
    compare_run "$scenario" "$backend"
  done
  # One table per scenario over every backend, like `loadtest compare`.
  hdrs=()
  for backend in "${backend_list[@]}"; do
    [ -s "$results/$scenario/$backend/$backend.hdr" ] && hdrs+=("$results/$scenario/$backend/$backend.hdr")
  done
  if [ ${#hdrs[@]} -gt 0 ]; then
    bin/loadtest merge --by-label --out "$results/$scenario" "${hdrs[@]}" >/dev/null
  fi
done

# Fault 1: a subscriber container paused for 5 s while messages keep coming. The server must
# disconnect it as a slow consumer (or it must catch up), the generator's own subscribers must
# lose nothing, and the server's memory must stay bounded by the output buffer limit.
pause_fault() {
  local name=faults/pause dir pid peak_kib slow state lost disc errors pause_s=5
  setup_run pubsub "$fault_backend" faults/pause
  export OUTPUT_BUFFER_LIMIT=${FAULT_BUFFER_LIMIT:-256kb} RATE=4000 SIZE=1024 SUBSCRIBERS=20 TOPICS=10
  export WARMUP=1 DURATION=$((pause_s + 5))
  dir=results/$OUT
  mkdir -p "$dir"
  echo "== $name: backend $BACKEND, 'client psub loadtest:*' paused ${pause_s}s at $((RATE * SIZE / 1024)) KiB/s, limit $OUTPUT_BUFFER_LIMIT"
  if ! dc --profile fault up -d server slowsub >"$dir.up.log" 2>&1; then
    fail "$name: compose up failed"
    cat "$dir.up.log"
    down
    return
  fi
  dc up -d --no-deps loadgen >>"$dir.up.log" 2>&1 || fail "$name: loadgen did not start"
  rm -f "$dir.up.log"
  local server slowsub
  server=$(containers server)
  slowsub=$(containers slowsub)
  sleep $((WARMUP + 2))
  docker pause "$slowsub" >/dev/null
  sleep "$pause_s"
  pid=$(docker inspect -f '{{.State.Pid}}' "$server")
  docker unpause "$slowsub" >/dev/null
  # The paused subscriber reads what reached it, then learns it was disconnected.
  for _ in $(seq 50); do
    [ "$(docker inspect -f '{{.State.Running}}' "$slowsub")" = false ] && break
    sleep 0.2
  done
  wait_loadgens "$name" || { down; return; }
  peak_kib=$(awk '/^VmHWM/ {print $2}' "/proc/$pid/status" 2>/dev/null || true)
  if [ -z "$peak_kib" ]; then # no access to the engine's processes: ask docker (current, not peak)
    peak_kib=$(docker stats --no-stream --format '{{.MemUsage}}' "$server" |
      awk '{ v = $1 + 0; if ($1 ~ /GiB/) v *= 1048576; else if ($1 ~ /MiB/) v *= 1024; else if ($1 ~ /B$/ && $1 !~ /KiB/) v /= 1024; printf "%d", v }')
  fi
  peak_kib=${peak_kib:-0}
  report "$name" || { down; return; }
  slow=$(plain_logs "$server" | grep -o 'slow_consumers=[0-9]*' | tail -1 | cut -d= -f2)
  state=$(docker inspect -f '{{.State.Running}} exit={{.State.ExitCode}}' "$slowsub")
  errors=$(json_num "$dir/report.json" errors)
  lost=$(json_num "$dir/report.json" lost)
  disc=$(grep -c '"disconnected": true' "$dir/report.json" || true)
  echo "   server: slow_consumers=${slow:-?}, peak RSS $((peak_kib / 1024)) MiB; paused subscriber: running=$state;" \
    "generator's $SUBSCRIBERS subscribers: lost $lost, disconnected $disc, errors $errors"
  if [ "${slow:-0}" -ge 1 ] && [[ $state == false* ]]; then
    echo "   ok: the paused subscriber was disconnected as a slow consumer"
  elif [ "${slow:-0}" = 0 ] && [[ $state == true* ]]; then
    echo "   ok: the paused subscriber caught up within the limit"
  else
    fail "$name: paused subscriber neither disconnected as a slow consumer nor caught up (slow_consumers=${slow:-?}, running=$state)"
  fi
  if [ "$lost" != 0 ] || [ "$disc" != 0 ] || [ "$errors" != 0 ]; then
    fail "$name: the other subscribers did not keep receiving (lost $lost, disconnected $disc, errors $errors)"
  fi
  if [ "$peak_kib" -le 0 ] || [ "$peak_kib" -gt $((max_rss_mb * 1024)) ]; then
    fail "$name: server peak RSS $peak_kib KiB is unknown or over ${max_rss_mb} MiB"
  fi
  {
    echo
    echo "## Fault: slow consumer (docker pause)"
    echo
    echo "- a \`client psub 'loadtest:*'\` container paused ${pause_s} s while $RATE messages/s of $SIZE bytes went to it; server limit \`--client-output-buffer-limit $OUTPUT_BUFFER_LIMIT\`"
    echo "- server: slow_consumers=${slow:-?}, peak RSS $((peak_kib / 1024)) MiB (bound checked: ${max_rss_mb} MiB)"
    echo "- paused subscriber after unpause: running=$state"
    echo "- the generator's $SUBSCRIBERS subscribers: lost $lost, disconnected $disc, errors $errors"
    echo "- (its PUBLISH accounting counts the paused subscriber's deliveries, so it does not add up by design)"
  } >>"$dir/report.md"
  down
}

# Fault 2: `docker restart` of the server in the middle of a ping run. The generator must
# report the errors, reopen its connections and carry on; the report must say so.
restart_fault() {
  local name=faults/restart dir server errors reconnects replies slots
  setup_run ping "$fault_backend" faults/restart
  export RATE=2000 CONNECTIONS=4 WARMUP=1 DURATION=10 LOADGEN_PID_NS='' SERVER_PID=0
  dir=results/$OUT
  mkdir -p "$dir"
  echo "== $name: backend $BACKEND, ping at $RATE/s on $CONNECTIONS connections, docker restart at ~3 s"
  if ! dc up -d server loadgen >"$dir.up.log" 2>&1; then
    fail "$name: compose up failed"
    cat "$dir.up.log"
    down
    return
  fi
  rm -f "$dir.up.log"
  server=$(containers server)
  sleep 3
  docker restart -t 10 "$server" >/dev/null
  wait_loadgens "$name" || { down; return; }
  report "$name" || { down; return; }
  errors=$(json_num "$dir/report.json" errors)
  reconnects=$(json_num "$dir/report.json" reconnects)
  replies=$(json_num "$dir/report.json" replies)
  slots=$((RATE * (WARMUP + DURATION)))
  echo "   generator: errors $errors, connections reopened $reconnects, replies $replies of $slots slots"
  [ "$errors" -gt 0 ] || fail "$name: the restart produced no errors in the report"
  [ "$reconnects" -ge 1 ] || fail "$name: the generator did not reconnect"
  grep -q 'reopened' "$dir/report.md" || fail "$name: report.md does not mention the reconnects"
  grep -q 'closed by the server' "$dir/report.md" ||
    fail "$name: report.md does not show the connection errors"
  # Before the restart at ~3 s about 3/11 of the slots were answered: more means it reconnected.
  [ "$replies" -ge $((slots * 6 / 10)) ] ||
    fail "$name: only $replies replies of $slots slots: the run did not carry on after the restart"
  down
}

if [ "$faults" = 1 ]; then
  pause_fault
  restart_fault
fi

{
  echo "# Switchboard compose load test"
  echo
  echo "$(date -u '+%Y-%m-%d %H:%M UTC'), ${compose[*]}, $loadgens load generator container(s) per run, ${warmup} s warmup + ${duration} s measured."
  for scenario in "${scenario_list[@]}"; do
    if [ -s "$results/$scenario/report.md" ]; then
      echo
      echo "## $scenario"
      echo
      sed -n '/^| server/,/^$/p' "$results/$scenario/report.md"
    fi
  done
  for f in pause restart; do
    if [ -s "$results/faults/$f/report.md" ]; then
      echo
      echo "## fault: $f"
      echo
      sed -n '/^| server/,/^$/p' "$results/faults/$f/report.md"
      sed -n '/^## Fault/,$p' "$results/faults/$f/report.md" | tail -n +3
      grep -i 'reopened\|closed by the server' "$results/faults/$f/report.md" || true
    fi
  done
} | cat -s >"$results/summary.md"
cat "$results/summary.md"

echo "== took $(($(date +%s) - started)) s; results in docker/$results"
if [ ${#failures[@]} -gt 0 ]; then
  echo "== ${#failures[@]} failure(s):"
  printf '  - %s\n' "${failures[@]}"
  exit 1
fi
echo "== compose load test passed"
