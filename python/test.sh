#!/usr/bin/env bash
# Build the Python package into a fresh virtual environment (pip install
# ./python, maturin as its PEP 517 backend, pytest and mypy from PyPI),
# then run its tests (pytest) and check its type stubs (mypy's stubtest).
# Part of the README's test command, after cargo test.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
venv="${FLOWSPLIT_VENV:-$here/.venv}"
python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --upgrade pip
"$venv/bin/pip" install --quiet maturin pytest mypy
# The root's target folder: the library's build is shared with cargo test's.
CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$here/../target}" \
    "$venv/bin/pip" install --quiet --force-reinstall --no-deps "$here"
# From outside the source tree, so that `import flowsplit` is the
# installed package, not python/flowsplit/ without its native module.
cd "$venv"
"$venv/bin/pytest" -q -p no:cacheprovider "$here/tests"
"$venv/bin/stubtest" flowsplit
