#!/usr/bin/env bash
# librdkafka's own test suite against Streamlog, in one command:
#
#   scripts/librdkafka-conformance.sh [--quick] [--ci] [--jobs N] [--source DIR] [--bootstrap HOST:PORT] [NNNN...]
#
# Fetches librdkafka's source with its tests/ (npm package @confluentinc/kafka-javascript, or the tree
# named by --source / LIBRDKAFKA_SRC), builds it once into ~/.cache/streamlog (STREAMLOG_CACHE_DIR),
# starts a Streamlog broker, runs the test numbers given (default: all broker tests; --ci: the CI
# subset), checks the outcomes against tests/conformance/librdkafka-skips.txt and prints
# "librdkafka: N passed, N failed, N skipped".  Exit status: 0 when nothing outside the allow-list
# failed, 1 when something did, 2 when librdkafka could not be fetched or built.
# Details: docs/conformance.md; the code: tests/support/librdkafka_suite.py.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
if [ -z "${PYTHON:-}" ]; then
    if [ -n "${VIRTUAL_ENV:-}" ]; then PYTHON="$VIRTUAL_ENV/bin/python"; else PYTHON="$(pwd)/.venv/bin/python"; fi
fi
export PYTHONPATH="$(pwd)/src${PYTHONPATH:+:$PYTHONPATH}"
exec "$PYTHON" -m tests.support.librdkafka_suite "$@"
