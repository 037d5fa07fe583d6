#!/usr/bin/env bash
# Benchmarks (README, docs/benchmarks.md): builds the release binaries, starts moto like
# infra/test.sh, then measures, in one run: each function's cold start and peak memory
# against the AWS sample's Node sendmessage handler (infra/lambda_bench.py); what each store
# operation, REST route and WebSocket frame costs in DynamoDB requests; how long a broadcast
# takes to reach 100 and 1,000 local connections, also when every post to @connections
# takes 20 ms; how soon a bot reply starts; chat-local under 1,000 connections and 2,000
# frames a second. Prints one Markdown table and writes it, with the machine and the date,
# into docs/benchmarks.md. LOAD_SECONDS shortens the load run (60 s by default);
# BENCH_NO_BUILD=1 measures the binaries built already (while others edit the tree).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
# shellcheck source=infra/moto.sh
source "$root/infra/moto.sh"

rows="$(mktemp)"
cleanup() {
  rm -f "$rows"
  stop_moto
}
trap cleanup EXIT

functions=(authorizer bot connect disconnect message sessions sweeper uploads)
failed=()

# Runs a benchmark, keeping the rows it prints; a failing one is named at the end, after
# the table of what the others measured.
measure() {
  local name="$1"
  shift
  log "$name"
  if ! "$@" | tee -a "$rows"; then
    failed+=("$name")
  fi
}

# The store operations' table, in the one table's columns.
store_operations() {
  target/debug/examples/dynamodb_requests |
    sed -nE 's/^\| (.*) \| ([0-9]+): (.*) \|$/| DynamoDB requests per store operation | \1 | \2 | \3 |/p'
}

bot_reply() {
  local line
  line="$(target/release/examples/bot_latency)"
  echo "| Bot reply on the echo model (local server) | 20 replies | ${line#*: } | |"
}

machine() {
  local cpu memory os
  cpu="$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)"
  memory="$(awk '/^MemTotal:/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)"
  os="$( (. /etc/os-release && echo "$PRETTY_NAME") 2>/dev/null || uname -s), kernel $(uname -r)"
  echo "$(date -u '+%Y-%m-%d %H:%M UTC'); $(nproc) cores ($cpu), $memory of memory, $os;" \
    "$(rustc --version | cut -d' ' -f1-2), Node.js $(node --version)"
}

# The one table: every benchmark's rows under one header.
table() {
  echo "| benchmark | case | figure | detail |"
  echo "|---|---|---|---|"
  grep -E '^\| ' "$rows" | grep -vE '^\| benchmark \| case \||^\|---' || true
}

# Replaces what lies between the results markers of docs/benchmarks.md.
write_results() {
  local doc="$root/docs/benchmarks.md" results
  results="$(mktemp)"
  {
    echo "Measured $(machine)."
    echo
    table
  } >"$results"
  awk -v results="$results" '
    /^<!-- results: infra\/bench.sh writes below -->$/ { print; while ((getline line < results) > 0) print line; skip = 1; next }
    /^<!-- end of results -->$/ { skip = 0 }
    !skip { print }
  ' "$doc" >"$doc.new"
  mv "$doc.new" "$doc"
  rm -f "$results"
}

# Everything is built before anything is measured, so no build shares the cores with a
# measurement.
if [ "${BENCH_NO_BUILD:-0}" != 1 ]; then
  log "building the release binaries and the benchmarks (the first build takes long)"
  cargo build --quiet --release "${functions[@]/#/-p}" -p chat-local
  cargo build --quiet --release -p chat-e2e --example costs --example bot_latency --example load
  cargo build --quiet -p chat-aws --example dynamodb_requests
fi

ensure_moto
start_moto

measure "cold start and peak memory: the functions vs the Node sample" \
  python3 infra/lambda_bench.py --bin-dir target/release --cache "$root/.tools/lambda-bench" \
  --dynamodb "$CHAT_DYNAMODB_ENDPOINT" --chat-local target/release/chat-local
measure "DynamoDB requests per store operation" store_operations
measure "DynamoDB requests per REST route and WebSocket frame; fan-out in one process" \
  target/release/examples/costs
measure "bot replies on the echo model" bot_reply
measure "chat-local's own process: fan-out with a 20 ms Management API; load (${LOAD_SECONDS:-60} s)" \
  target/release/examples/load

log "results (also in docs/benchmarks.md)"
echo "Measured $(machine)."
echo
table
write_results
if [ "${#failed[@]}" -gt 0 ]; then
  printf 'failed: %s\n' "${failed[@]}" >&2
  exit 1
fi
