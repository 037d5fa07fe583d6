#!/usr/bin/env bash
# The one test command (README, CI): installs what the tests need, starts moto on a free
# loopback port, runs every check and test with the DynamoDB suites required, and stops
# moto however the script ends. Safe to run again: installs happen once.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
# shellcheck source=infra/moto.sh
source "$root/infra/moto.sh"
# shellcheck source=infra/browser.sh
source "$root/infra/browser.sh"

started=$(date +%s)
ensure_moto
ensure_browser
start_moto
export CHAT_REQUIRE_DYNAMODB=1
export AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local AWS_REGION=us-east-1
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

# cfn-lint and sam validate --lint of template.yaml (installs the SAM CLI once).
"$root/infra/lint.sh"

log "cargo fmt --check"
cargo fmt --all --check

log "cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings

log "cargo test"
results="$tools/test-output.log"
cargo test --workspace --locked 2>&1 | tee "$results"

summary() {
  awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i; if ($(i+1) ~ /^ignored/) g += $i } }
       END { printf "tests: %d passed, %d failed, %d skipped\n", p, f, g }' "$results"
}
log "all checks passed in $(( $(date +%s) - started )) s"
summary
