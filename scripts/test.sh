#!/usr/bin/env bash
# The whole check, as CI runs it: install the test dependencies, then ruff, mypy (strict),
# import-linter and pytest over tests/ in parallel (pytest-xdist, one broker per worker).
# Arguments replace pytest's default target (tests/), e.g. `./scripts/test.sh tests/interop -x`.
# Every step runs even if an earlier one failed; the exit status is non-zero if any failed.
#
# Environment: PYTHON (interpreter to use; default: active virtualenv, else ./.venv),
# PYTEST_WORKERS (default "auto"), STREAMLOG_TEST_TARGET / STREAMLOG_TEST_BOOTSTRAP (see
# tests/support/brokerproc.py), SKIP_INSTALL=1 to skip the install step.  Under CI (CI set), the
# FaultFS tests fail instead of skipping when FUSE is unavailable (STREAMLOG_REQUIRE_FUSE=1, see
# tests/support/faultfs.py).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

if [ -z "${PYTHON:-}" ]; then
    if [ -n "${VIRTUAL_ENV:-}" ]; then PYTHON="$VIRTUAL_ENV/bin/python"; else PYTHON="$(pwd)/.venv/bin/python"; fi
fi
export PYTHON
if [ -n "${CI:-}" ]; then
    export STREAMLOG_REQUIRE_FUSE=1
fi

if [ "${SKIP_INSTALL:-0}" != "1" ]; then
    ./scripts/install-test-deps.sh
fi
BIN="$("$PYTHON" -c 'import sysconfig; print(sysconfig.get_path("scripts"))')"

FAILED=()
step() {
    local name="$1"; shift
    echo "=== $name: $*"
    if "$@"; then
        echo "=== $name: ok"
    else
        echo "=== $name: FAILED (exit $?)"
        FAILED+=("$name")
    fi
}

step ruff "$PYTHON" -m ruff check
step mypy "$PYTHON" -m mypy
step import-linter "$BIN/lint-imports"
step pytest "$PYTHON" -m pytest -n "${PYTEST_WORKERS:-auto}" --dist loadfile --durations=30 "${@:-tests/}"

if [ "${#FAILED[@]}" -ne 0 ]; then
    echo "FAILED steps: ${FAILED[*]}"
    exit 1
fi
echo "all checks passed"
