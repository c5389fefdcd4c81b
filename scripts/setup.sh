#!/usr/bin/env bash
# Installs everything into .venv at the project root from the lock file (idempotent).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if ! "$PYTHON" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)'; then
  echo "DataHub needs Python 3.11 or newer (found $("$PYTHON" --version 2>&1))" >&2
  exit 1
fi
if [ ! -x .venv/bin/python ]; then
  if ! "$PYTHON" -m venv .venv 2>/dev/null; then
    # Debian ships venv separately.
    apt-get update -qq && apt-get install -y -qq python3-venv >/dev/null
    "$PYTHON" -m venv .venv
  fi
fi
stamp=.venv/.datahub-lock
want=$(cat requirements.lock pyproject.toml | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  # (pip's notes about absent local package mirrors are noise here and filtered out)
  .venv/bin/python -m pip install -q --disable-pip-version-check -r requirements.lock 2>&1 \
    | { grep -v "^WARNING: Location 'file:" || true; }
  .venv/bin/python -m pip install -q --disable-pip-version-check --no-deps -e . 2>&1 \
    | { grep -v "^WARNING: Location 'file:" || true; }
  echo "$want" > "$stamp"
fi
# The data canvas page (web/canvas): npm ci from the committed lock, then the Vite build into web/canvas/dist,
# each skipped while its inputs are unchanged.
if ! command -v npm >/dev/null 2>&1; then
  echo "The data canvas needs Node.js 20.19+ and npm (not found)" >&2
  exit 1
fi
web=web/canvas
want=$(cat "$web/package-lock.json" | sha256sum | cut -d' ' -f1)
if [ "$(cat "$web/node_modules/.datahub-lock" 2>/dev/null)" != "$want" ]; then
  (cd "$web" && npm ci --no-audit --no-fund --silent)
  echo "$want" > "$web/node_modules/.datahub-lock"
fi
want=$(cd "$web" && find package.json package-lock.json tsconfig.json vite.config.ts index.html src public \
  -type f -print0 | sort -z | xargs -0 sha256sum | sha256sum | cut -d' ' -f1)
if [ ! -f "$web/dist/index.html" ] || [ "$(cat "$web/node_modules/.datahub-build" 2>/dev/null)" != "$want" ]; then
  (cd "$web" && npm run --silent build -- --logLevel warn)
  echo "$want" > "$web/node_modules/.datahub-build"
fi
# The browser tests drive Debian's Chromium (no browser download at run time).
if [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq && apt-get install -y -qq chromium >/dev/null
  else
    echo "note: the browser tests (tests/canvas) need Debian's chromium at /usr/bin/chromium" >&2
  fi
fi
