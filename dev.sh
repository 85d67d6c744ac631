#!/usr/bin/env bash
# WardWatch's two entry points, for a fresh Debian machine with nothing running:
#   ./dev.sh demo [wardwatch demo options]   set up, start the local stack and a live demo ward
#   ./dev.sh test [pytest options]           set up, start the local stack, run the whole test suite
# Both install what they need: Debian packages (Java, Maven, InfluxDB, Mosquitto, Chromium) with apt-get,
# Python packages into .venv (pinned by pyproject.toml and requirements.lock), Kafka's jars from
# Maven Central (on first `wardwatch stack up`).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

log() { printf '==> %s\n' "$*" >&2; }

ensure_debian_packages() {
  local missing=()
  command -v java >/dev/null 2>&1 || missing+=(openjdk-17-jre-headless)
  command -v mvn >/dev/null 2>&1 || missing+=(maven)
  command -v influxd >/dev/null 2>&1 || missing+=(influxdb)
  { command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ]; } || missing+=(mosquitto)
  # the ward page's browser tests drive Debian's Chromium headless
  command -v chromium >/dev/null 2>&1 || missing+=(chromium)
  command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)
  [ ${#missing[@]} -eq 0 ] && return 0
  command -v apt-get >/dev/null 2>&1 || { log "apt-get not found: install ${missing[*]} by hand"; exit 1; }
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  log "installing Debian packages: ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

ensure_python_env() {
  local python=${PYTHON:-python3}
  "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' || {
    log "Python 3.11 or newer is needed (found $("$python" --version 2>&1)); set PYTHON=/path/to/python3.11"; exit 1; }
  local want stamp=.venv/.installed
  want=$( (cat pyproject.toml requirements.lock; "$python" --version) | sha256sum | cut -d' ' -f1)
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then return 0; fi
  log "installing Python packages into .venv"
  [ -x .venv/bin/python ] || "$python" -m venv .venv
  if ! { .venv/bin/python -m pip install --upgrade "pip==26.3" "setuptools==80.9.0" "wheel==0.48.0" &&
         .venv/bin/python -m pip install -c requirements.lock -e ".[dev]"; } >.venv/install.log 2>&1; then
    tail -n 40 .venv/install.log >&2
    log "installing Python packages failed; full log in .venv/install.log"
    exit 1
  fi
  echo "$want" > "$stamp"
}

setup() {
  ensure_debian_packages
  ensure_python_env
}

case "${1:-}" in
  demo)
    shift
    setup
    exec .venv/bin/wardwatch demo "$@"
    ;;
  test)
    shift
    setup
    started_here=0
    .venv/bin/wardwatch stack status >/dev/null 2>&1 || started_here=1
    .venv/bin/wardwatch stack up
    [ "$started_here" -eq 1 ] && [ -z "${WARDWATCH_KEEP_STACK:-}" ] && trap '.venv/bin/wardwatch stack down' EXIT
    SECONDS=0
    rc=0
    .venv/bin/python -m pytest "$@" || rc=$?
    log "test suite finished in ${SECONDS} s (exit ${rc})"
    exit "$rc"
    ;;
  *)
    echo "usage: ./dev.sh demo [options]   # live demo ward (see: ./dev.sh demo --help)" >&2
    echo "       ./dev.sh test [pytest options]   # the whole test suite, real services included" >&2
    exit 2
    ;;
esac
