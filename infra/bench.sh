#!/usr/bin/env bash
# Benchmarks (README): starts moto like infra/test.sh and prints what each store operation
# costs in DynamoDB requests. Figures go in the issue notes, never in assertions.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
# shellcheck source=infra/moto.sh
source "$root/infra/moto.sh"

ensure_moto
start_moto
log "DynamoDB requests per store operation"
cargo run --quiet -p chat-shared --example dynamodb_requests
