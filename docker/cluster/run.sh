#!/usr/bin/env bash
# Three NATS servers and three Switchboard nodes in containers (compose.yml), checked from the
# host by check.py: every message reaches every subscriber on every node, nothing duplicated,
# order kept; then a NATS server stops, a node is paused, a node is cut from NATS and healed,
# and what was lost is counted and delivery resumes. Exits non-zero if any check failed, and
# always tears the project down (unless --no-check, which leaves the cluster up to play with).
#
#   docker/cluster/run.sh                     # event and thread backends, full rounds
#   docker/cluster/run.sh --quick             # CI size
#   docker/cluster/run.sh --backends pool --no-build   # reuse switchboard:local (docker/build.sh)
#
# Results: docker/results/cluster/BACKEND/{summary.md,summary.json,compose.log}.
set -euo pipefail
self=$(realpath "$0")
cd "$(dirname "$0")"
quick=() build=1 check=1 backends=event,thread
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) quick=(--quick) ;;
    --no-build) build=0 ;;
    --no-check) check=0 ;;
    --backends) backends=$2; shift ;;
    --backends=*) backends=${1#*=} ;;
    -h | --help) sed -n '2,13p' "$self"; exit 0 ;;
    *) echo "unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done

source ../compose-cmd.sh
project=(-p sbcluster -f compose.yml)

if [ "$build" = 1 ]; then
  ../build.sh
fi
{
  # NATS: Debian's binary and the libraries it links, in an image FROM scratch.
  nats=$(command -v nats-server || echo /usr/sbin/nats-server)
  [ -x "$nats" ] || { echo "nats-server is not installed (apt-get install nats-server)" >&2; exit 1; }
  rm -rf root && mkdir -p root/usr/sbin
  cp "$nats" root/usr/sbin/nats-server
  for lib in $(ldd "$nats" | grep -o '/[^ ]*'); do
    mkdir -p "root$(dirname "$lib")" && cp -L "$lib" "root$lib"
  done
  echo "== docker build -t switchboard-nats:local docker/cluster"
  docker build -q -t switchboard-nats:local -f Dockerfile.nats . >/dev/null
}

down() { "${compose[@]}" "${project[@]}" down -v -t 2 >/dev/null 2>&1 || true; }
status=0
for backend in ${backends//,/ }; do
  out=../results/cluster/$backend
  mkdir -p "$out"
  down
  echo "== cluster with --backend $backend"
  BACKEND=$backend "${compose[@]}" "${project[@]}" up -d
  [ "$check" = 1 ] && trap down EXIT
  nodes=()
  for n in 1 2 3; do
    if ! addr=$("${compose[@]}" "${project[@]}" port node-$n 15000 2>&1); then
      echo "node-$n is not running: $addr" >&2
      "${compose[@]}" "${project[@]}" logs --no-color node-$n | tail -5 >&2
      exit 1
    fi
    nodes+=("$addr")
  done
  if [ "$check" = 0 ]; then
    echo "nodes: ${nodes[*]} (stop with: ${compose[*]} ${project[*]} down, from docker/cluster)"
    exit 0
  fi
  if ! python3 check.py "${quick[@]}" --out "$out" --nodes "$(IFS=,; echo "${nodes[*]}")" \
      --compose "${compose[*]} ${project[*]}"; then
    status=1
  fi
  "${compose[@]}" "${project[@]}" logs --no-color >"$out/compose.log" 2>&1 || true
  down
done
exit $status
