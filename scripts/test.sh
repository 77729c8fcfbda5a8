#!/usr/bin/env bash
# Set up and run the whole test suite on a fresh machine (Debian/Ubuntu, Python >= 3.11).
# Installs redis-server with apt-get when it is missing (the distributed tests start
# their own on 127.0.0.1), installs the package with its test extras, runs pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v redis-server >/dev/null 2>&1; then
  if command -v apt-get >/dev/null 2>&1; then
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    { $SUDO apt-get update -qq && $SUDO apt-get install -y -qq redis-server >/dev/null; } \
      || echo "warning: could not install redis-server; the Redis tests will fail" >&2
  fi
fi

PYTHON="${PYTHON:-python3}"
"$PYTHON" -m pip install --quiet --disable-pip-version-check -e '.[dev]'
exec "$PYTHON" -m pytest -q "$@"
