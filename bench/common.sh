# Helpers the bench scripts share; sourced, not run: . "$(dirname "$0")/common.sh"

# A loopback port free at the moment of asking.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# Waits up to 10 s for something to accept connections on loopback port $1; false if nothing did.
wait_port() { for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$1) 2>/dev/null && return 0; sleep 0.1; done; return 1; }

# redis-benchmark -q against port $1 with the rest as its arguments: the requests per second.
rps() { redis-benchmark -p "$1" -q "${@:2}" 2>/dev/null | tr '\r' '\n' | grep -Eo '[0-9.]+ requests per second' | tail -1 | cut -d' ' -f1; }

# The median of the (numeric, non-empty) arguments; nothing if there are none.
median() { printf '%s\n' "$@" | grep . | sort -g | awk '{a[NR]=$1} END {if (NR) print a[int((NR+1)/2)]}'; }

# $1 / $2 to two decimals, or - when either is missing or $2 is zero.
ratio() { python3 -c 'import sys; a,b=sys.argv[1],sys.argv[2]; print(f"{float(a)/float(b):.2f}" if a and b and float(b) else "-")' "${1:-}" "${2:-}"; }
