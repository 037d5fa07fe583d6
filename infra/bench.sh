#!/usr/bin/env bash
# Benchmarks (README): starts moto like infra/test.sh, then prints what each store operation,
# REST route and WebSocket frame costs in DynamoDB requests, and how long a broadcast takes
# to reach 100 and 1,000 local connections. Figures go in the issue notes, never in
# assertions.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
# shellcheck source=infra/moto.sh
source "$root/infra/moto.sh"

ensure_moto
start_moto
log "DynamoDB requests per store operation"
cargo run --quiet -p chat-aws --example dynamodb_requests

log "DynamoDB requests per REST route and WebSocket frame, and fan-out time (release build)"
cargo run --quiet --release -p chat-e2e --example costs

log "Bot replies on the echo model: time to response_start, posts per reply (release build)"
cargo run --quiet --release -p chat-e2e --example bot_latency
