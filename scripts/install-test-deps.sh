#!/usr/bin/env bash
# Install everything Streamlog's test suite needs, on a fresh Debian machine, as root.  Idempotent:
# each step checks first and does nothing when its work is already done.
#
#   1. kcat (Debian package) for tests/interop/test_kcat.py, if missing   (apt-get update + install);
#      fuse3 (Debian package: libfuse3 and fusermount3) for the FaultFS storage tests, if missing;
#      zsh and fish (Debian packages) so tests/unit/cli/test_completion.py runs their completion scripts;
#      postgresql and mariadb-server (Debian packages) for the connector tests' throwaway servers;
#      a C/C++ toolchain and the zlib, zstd, OpenSSL and RapidJSON headers (Debian packages) to build librdkafka's
#      test suite for tests/conformance (the source itself comes from npm when the test runs)
#   2. node/npm (Debian packages) if missing, then `npm ci` in tests/interop/js (kafkajs and its codecs,
#      pinned by package-lock.json); skipped while node_modules matches the lock file
#   3. the Python package with its test extras: `python -m pip install -e '.[test]'` into
#        $PYTHON if set, else the active virtualenv ($VIRTUAL_ENV), else ./.venv (created if missing)
#
# Prints the Python it used as its last line: "python: /path/to/python".
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

log() { printf '[install-test-deps] %s\n' "$*"; }

SUDO=""
if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi
APT_UPDATED=0
apt_install() {
    if [ "$APT_UPDATED" = 0 ]; then
        log "apt-get update"
        $SUDO apt-get update -qq
        APT_UPDATED=1
    fi
    log "apt-get install -y $*"
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "$@" >/dev/null
}

# --- 1. kcat -------------------------------------------------------------------------------------
if command -v kcat >/dev/null 2>&1; then
    log "kcat present: $(kcat -V 2>&1 | grep -m1 -o 'Version [^ ]*' || echo unknown version)"
else
    apt_install kcat
fi
# fuse3 brings libfuse3-3, which mfusepy loads (tests/support/faultfs_daemon.py)
LIBFUSE3="$( (ldconfig -p 2>/dev/null || true) | grep -m1 'libfuse3\.so' || true)"
if command -v fusermount3 >/dev/null 2>&1 && [ -n "$LIBFUSE3" ]; then
    log "fuse3 present: $(fusermount3 --version 2>&1 | head -n1)"
else
    apt_install fuse3
fi
# zsh and fish run the completion scripts `streamlog completion zsh|fish` prints
SHELLS_MISSING=()
for shell in zsh fish; do
    if command -v "$shell" >/dev/null 2>&1; then log "$shell present"; else SHELLS_MISSING+=("$shell"); fi
done
if [ "${#SHELLS_MISSING[@]}" -ne 0 ]; then
    apt_install "${SHELLS_MISSING[@]}"
fi

# PostgreSQL and MariaDB server binaries: the connector tests start throwaway clusters from them
# (tests/support/pgcluster.py, tests/support/mariadb.py); the machine's own servers are never used
if ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    log "postgresql binaries present: $(ls -d /usr/lib/postgresql/*/bin | tr '\n' ' ')"
else
    apt_install postgresql
fi
if command -v mariadbd >/dev/null 2>&1 && command -v mariadb-install-db >/dev/null 2>&1; then
    log "mariadb binaries present"
else
    apt_install mariadb-server
fi

# librdkafka's tests (tests/conformance/test_librdkafka.py builds them): compilers and -dev headers
RDK_MISSING=()
command -v make >/dev/null 2>&1 || RDK_MISSING+=(make)
command -v gcc >/dev/null 2>&1 || RDK_MISSING+=(gcc)
command -v g++ >/dev/null 2>&1 || RDK_MISSING+=(g++)
[ -f /usr/include/zlib.h ] || RDK_MISSING+=(zlib1g-dev)
[ -f /usr/include/zstd.h ] || RDK_MISSING+=(libzstd-dev)
[ -f /usr/include/openssl/ssl.h ] || RDK_MISSING+=(libssl-dev)
[ -f /usr/include/rapidjson/schema.h ] || RDK_MISSING+=(rapidjson-dev)
if [ "${#RDK_MISSING[@]}" -ne 0 ]; then
    apt_install "${RDK_MISSING[@]}"
else
    log "librdkafka build dependencies present"
fi

# --- 2. node packages for the kafkajs driver ---------------------------------------------------------
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    apt_install nodejs npm
fi
JS_DIR="tests/interop/js"
STAMP="$JS_DIR/node_modules/.streamlog-lock.sha256"
LOCK_SUM="$(sha256sum "$JS_DIR/package-lock.json" | cut -d' ' -f1)"
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$LOCK_SUM" ] && [ -d "$JS_DIR/node_modules/kafkajs" ]; then
    log "npm packages up to date in $JS_DIR (node $(node --version))"
else
    log "npm ci in $JS_DIR (node $(node --version), npm $(npm --version))"
    (cd "$JS_DIR" && npm ci --no-audit --no-fund --loglevel=error)
    printf '%s\n' "$LOCK_SUM" > "$STAMP"
fi

# --- 3. Python package and test extras ---------------------------------------------------------------
if [ -n "${PYTHON:-}" ]; then
    PY="$PYTHON"
    if [ ! -x "$PY" ] && [ "${PY%/bin/python}" != "$PY" ]; then
        log "creating virtualenv ${PY%/bin/python}"
        python3 -m venv "${PY%/bin/python}"
    fi
elif [ -n "${VIRTUAL_ENV:-}" ]; then
    PY="$VIRTUAL_ENV/bin/python"
else
    if [ ! -x .venv/bin/python ]; then
        log "creating virtualenv .venv"
        python3 -m venv .venv
    fi
    PY="$(pwd)/.venv/bin/python"
fi
log "pip install -e '.[test]' into $PY ($("$PY" --version 2>&1))"
PIP_LOG="$(mktemp)"
if ! "$PY" -m pip install --quiet --disable-pip-version-check -e '.[test]' >"$PIP_LOG" 2>&1; then
    cat "$PIP_LOG"
    log "pip install failed"
    exit 1
fi
# Show what pip had to say, minus the noise of find-links directories that do not exist here.
grep -v "^WARNING: Location '.*' is ignored" "$PIP_LOG" || true
rm -f "$PIP_LOG"
log "done"
echo "python: $PY"
