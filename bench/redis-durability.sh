#!/usr/bin/env bash
# The cost of Redis persistence on the purchase path: the `sell` scenario (every request a winner,
# so every request is a write to Redis) against three private redis-servers started here, with no
# AOF, with appendfsync everysec and with appendfsync always, back to back; each run also measures
# its bare uWS baseline. Prints the runner's table for each; compare the seckill rows.
#
#   bash bench/redis-durability.sh [extra npm run bench options, e.g. --duration 10]
set -euo pipefail
cd "$(dirname "$0")/.."
npm run build >/dev/null

dirs=()
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for d in "${dirs[@]}"; do rm -rf "$d"; done
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

run() {
  local name=$1
  shift
  local port dir
  port=$(free_port)
  dir=$(mktemp -d)
  dirs+=("$dir")
  redis-server --port "$port" --bind 127.0.0.1 --save "" --dir "$dir" "$@" >/dev/null &
  pids+=($!)
  for _ in $(seq 50); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
  echo "== Redis $name (redis-server $*)"
  npm run --silent bench -- --scenario sell --redis "redis://127.0.0.1:$port" "${EXTRA[@]}"
}

EXTRA=("$@")
run "without AOF" --appendonly no
run "AOF, appendfsync everysec" --appendonly yes --appendfsync everysec
run "AOF, appendfsync always" --appendonly yes --appendfsync always
