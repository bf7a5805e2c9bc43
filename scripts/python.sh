#!/usr/bin/env bash
# The Python package datagouv_rs (crates/datagouv-py): build its wheel, install it in a fresh
# virtual environment, check its stubs, run its tests against the real servers of tests/stack.
#
#   bash scripts/python.sh build   # the wheel (dev profile; PROFILE=release for the distributed one),
#                                  # installed in a fresh venv: target/py/venv
#   bash scripts/python.sh test    # build, then mypy's stubtest, then pytest under the test stack
#
# Needs CPython >= 3.11 (PYTHON=python3.11 by default) and, for `test`, the stack installed
# (`bash tests/stack/stack.sh install`). The wheel is abi3: one file for every CPython from 3.11.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
python=${PYTHON:-python3.11}
profile=${PROFILE:-dev}
target_dir=${CARGO_TARGET_DIR:-$root/target}
work=$target_dir/py
venv=$work/venv
say() { echo "[python] $*" >&2; }

build() {
  command -v "$python" >/dev/null || { say "$python is missing (CPython >= 3.11; set PYTHON=…)"; exit 1; }
  say "fresh virtual environment in $venv ($("$python" --version))"
  rm -rf "$venv"
  "$python" -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check -r crates/datagouv-py/requirements-dev.txt
  rm -rf "$work/wheels"
  local start=$(date +%s)
  say "maturin build --profile $profile"
  "$venv/bin/maturin" build --profile "$profile" -m crates/datagouv-py/Cargo.toml -o "$work/wheels" \
    -i "$venv/bin/python" 2>&1 | grep -vE '^\s*(Compiling|Checking)' >&2
  local wheel
  wheel=$(ls "$work"/wheels/datagouv_rs-*.whl)
  say "wheel: $(basename "$wheel"), $(( $(stat -c %s "$wheel") / 1024 / 1024 )) MiB, built in $(( $(date +%s) - start )) s"
  "$venv/bin/pip" install -q --disable-pip-version-check --force-reinstall --no-deps "$wheel"
  "$venv/bin/python" -c "import datagouv_rs; print('[python] datagouv_rs', datagouv_rs.__version__, 'installed')" >&2
}

check_stubs() {
  say "mypy stubtest: the .pyi stubs against the installed module"
  # Run from outside the source tree, so that the installed package is the one checked.
  (cd "$work" && "$venv/bin/python" -m mypy.stubtest datagouv_rs \
    --allowlist "$root/crates/datagouv-py/stubtest-allowlist.txt")
  say "mypy --strict: the quickstart example type-checks against the stubs"
  (cd "$work" && "$venv/bin/python" -m mypy --strict "$root/crates/datagouv-py/examples/quickstart.py")
}

run_tests() {
  say "pytest against the test stack (udata, api-tabular 0.4.1, PostgreSQL)"
  DATAGOUV_PY_REQUIRE_STACK=1 bash tests/stack/stack.sh run "$target_dir/stack-py" -- \
    "$venv/bin/python" -m pytest crates/datagouv-py/tests -q -p no:cacheprovider
}

case "${1:-test}" in
  build) build ;;
  test) build; check_stubs; run_tests ;;
  *) say "usage: bash scripts/python.sh build|test"; exit 2 ;;
esac
