#!/usr/bin/env bash
# Set up and run the whole test suite on a fresh machine (Debian/Ubuntu, Python >= 3.11).
# Installs redis-server with apt-get when it is missing (the distributed tests start
# their own on 127.0.0.1), installs the package with its test extras, runs pytest.
# Where the system Python refuses installs (PEP 668, Debian 12 / Ubuntu 24.04), it makes
# and uses a virtual environment in .venv.
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
managed=$("$PYTHON" - <<'PY'
import os, sys, sysconfig
in_venv = sys.prefix != sys.base_prefix
marker = os.path.join(sysconfig.get_path("stdlib"), "EXTERNALLY-MANAGED")
print("yes" if os.path.exists(marker) and not in_venv else "no")
PY
)
if [ "$managed" = yes ]; then
  [ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
  PYTHON=.venv/bin/python
fi
"$PYTHON" -m pip install --quiet --disable-pip-version-check -e '.[dev]'
exec "$PYTHON" -m pytest -q "$@"
