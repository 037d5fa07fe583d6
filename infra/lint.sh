#!/usr/bin/env bash
# Lints template.yaml with cfn-lint and `sam validate --lint`, offline. Installs the AWS SAM
# CLI (which brings cfn-lint) once into .tools/sam, a virtualenv of its own: its pinned
# boto3, botocore and pydantic differ from moto's, so sharing .tools/venv would change the
# versions the DynamoDB tests run against. Standalone, or called by infra/test.sh.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

sam_venv="$root/.tools/sam"
sam_version="1.170.0"
export SAM_CLI_TELEMETRY=0

log() { printf '\n==> %s\n' "$*"; }

ensure_sam() {
  if [ -x "$sam_venv/bin/sam" ] && [ -x "$sam_venv/bin/cfn-lint" ] \
    && "$sam_venv/bin/python" -c "import importlib.metadata as m, sys; sys.exit(m.version('aws-sam-cli') != '$sam_version')" 2>/dev/null; then
    return
  fi
  log "installing the AWS SAM CLI $sam_version (with cfn-lint) into $sam_venv"
  python3 -m venv "$sam_venv"
  "$sam_venv/bin/pip" install --quiet --disable-pip-version-check "aws-sam-cli==$sam_version"
}

ensure_sam

log "cfn-lint template.yaml ($("$sam_venv/bin/cfn-lint" --version))"
# Informational findings too (explicit deletion policies on stateful resources).
"$sam_venv/bin/cfn-lint" --include-checks I -- template.yaml

log "sam validate --lint"
# Any region will do: validation is offline, but SAM wants one to resolve ARNs.
"$sam_venv/bin/sam" validate --lint --template template.yaml --region "${AWS_REGION:-us-east-1}"
