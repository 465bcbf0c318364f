#!/usr/bin/env bash
# Set up DuckPond for development and tests on a fresh Debian machine with Python >= 3.11:
#   - a virtualenv in .venv with duckpond (editable), its dev tools and pyspark (the Spark test),
#   - Debian's chromium for the website tests (Playwright drives it; no browser download),
#   - Debian's Java runtime for pyspark (default-jre-headless), if no java is on the PATH.
# Safe to run again. (A user install is one command: see README.md, "Install".)
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e '.[dev,spark]'

if [ ! -x /usr/bin/chromium ]; then
    if [ "$(id -u)" = "0" ]; then
        echo "setup: installing Debian's chromium for the browser tests" >&2
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
    else
        echo "setup: /usr/bin/chromium is missing; install it (sudo apt-get install chromium) for the browser tests" >&2
    fi
fi
if ! command -v java >/dev/null 2>&1; then
    if [ "$(id -u)" = "0" ]; then
        echo "setup: installing Debian's Java runtime for the Spark test" >&2
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq default-jre-headless >/dev/null
    else
        echo "setup: java is missing; install it (sudo apt-get install default-jre-headless) for the Spark test" >&2
    fi
fi
echo "setup: done. Try: .venv/bin/pond --help" >&2
