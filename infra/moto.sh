# Sourced by infra/test.sh and infra/bench.sh: installs moto once into .tools/venv, starts
# it on a free loopback port, exports CHAT_DYNAMODB_ENDPOINT, and stops it when the calling
# script exits.

tools="$root/.tools"
venv="$tools/venv"
moto_version="5.2.5"

log() { printf '\n==> %s\n' "$*"; }

ensure_moto() {
  if [ -x "$venv/bin/moto_server" ] && "$venv/bin/python" -c "import moto, sys; sys.exit(moto.__version__ != '$moto_version')" 2>/dev/null; then
    return
  fi
  log "installing moto $moto_version into $venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "moto[server]==$moto_version"
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

moto_pid=""
stop_moto() {
  if [ -n "$moto_pid" ] && kill -0 "$moto_pid" 2>/dev/null; then
    kill "$moto_pid" 2>/dev/null || true
    wait "$moto_pid" 2>/dev/null || true
  fi
}
trap stop_moto EXIT
trap "exit 130" INT TERM

start_moto() {
  local port
  port="$(free_port)"
  mkdir -p "$tools"
  "$venv/bin/python" "$root/infra/moto_server.py" -H 127.0.0.1 -p "$port" >"$tools/moto.log" 2>&1 &
  moto_pid=$!
  for _ in $(seq 1 100); do
    if python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$port/moto-api/', timeout=1)" 2>/dev/null; then
      export CHAT_DYNAMODB_ENDPOINT="http://127.0.0.1:$port"
      log "moto is serving on $CHAT_DYNAMODB_ENDPOINT"
      return
    fi
    kill -0 "$moto_pid" 2>/dev/null || break
    sleep 0.1
  done
  cat "$tools/moto.log" >&2
  echo "moto did not start" >&2
  exit 1
}

