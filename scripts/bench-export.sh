#!/usr/bin/env bash
# Export benchmark: starts the local stack, exports the 200,000-row fixture
# resource (4 windows of 50,000) as CSV and JSON, with and without a filter,
# with the release build of `crates/datagouv/examples/export.rs`, and prints
# rows, bytes, throughput and peak RSS. `bash scripts/bench-export.sh`
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q -p datagouv --example export
state=$(mktemp -d /tmp/datagouv-bench.XXXXXX)
out=$(mktemp -d /tmp/datagouv-bench-out.XXXXXX)
bash tests/stack/stack.sh install >/dev/null
bash tests/stack/stack.sh run "$state" -- bash -c '
  export DATAGOUV_TABULAR_URL=$DATAGOUV_TEST_TABULAR_URL
  bin=target/release/examples/export
  for format in csv json; do
    echo "$format, whole table:    $($bin "$DATAGOUV_TEST_RID_BIG" '"$out"'/big.$format $format)"
    echo "$format, rang > 20000:   $($bin "$DATAGOUV_TEST_RID_BIG" '"$out"'/filtered.$format $format rang__strictly_greater=20000)"
  done
'
rm -rf "$out" "$state"
