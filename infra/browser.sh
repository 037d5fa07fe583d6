# Sourced by infra/test.sh: installs, once, what the web client's browser test needs:
# Debian's Chromium (apt) and playwright-core (npm, into tests/web/node_modules; it
# downloads no browser of its own), and exports CHAT_CHROMIUM.

ensure_browser() {
  if [ ! -x /usr/bin/chromium ]; then
    log "installing chromium (apt)"
    if [ "$(id -u)" -ne 0 ]; then
      echo "chromium is missing and installing it needs root: apt-get install -y chromium" >&2
      exit 1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  fi
  export CHAT_CHROMIUM=/usr/bin/chromium
  if [ ! -d "$root/tests/web/node_modules/playwright-core" ]; then
    log "installing playwright-core (npm ci in tests/web)"
    PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --prefix "$root/tests/web" --no-audit --no-fund --silent
  fi
}
