#!/usr/bin/env bash
# Export benchmark against the real local api-tabular 0.4.1: starts the local stack, exports the
# 200,000-row fixture resource (4 windows) and the 120,000-row `sorted` one (3 keyset windows) as
# CSV, JSON and Parquet, plain, filtered, sorted and narrowed to columns, with the release build
# of `crates/datagouv/examples/export.rs`, and prints rows, bytes, time and the process's peak RSS
# for each. `bash scripts/bench-export.sh` (BENCH_REPS=3 by default: the median is what counts).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q -p datagouv --features parquet --example export
state=$(mktemp -d /tmp/datagouv-bench.XXXXXX)
out=$(mktemp -d /tmp/datagouv-bench-out.XXXXXX)
bash tests/stack/stack.sh install >/dev/null
BENCH_REPS=${BENCH_REPS:-3} OUT=$out bash tests/stack/stack.sh run "$state" -- bash -c '
  export DATAGOUV_TABULAR_URL=$DATAGOUV_TEST_TABULAR_URL
  bin=target/release/examples/export
  run() {
    label=$1; shift
    for rep in $(seq "$BENCH_REPS"); do echo "$label: $($bin "$@")"; done
  }
  big=$DATAGOUV_TEST_RID_BIG sorted=$DATAGOUV_TEST_RID_SORTED
  run "big csv, whole table      " "$big" "$OUT/a.csv" csv
  run "big json, whole table     " "$big" "$OUT/a.json" json
  run "big parquet, whole table  " "$big" "$OUT/a.parquet" parquet
  run "big csv, rang > 20000     " "$big" "$OUT/a.csv" csv rang__strictly_greater=20000
  run "big csv, sort montant desc" "$big" "$OUT/a.csv" csv sort=montant:desc
  run "big parquet, sort montant " "$big" "$OUT/a.parquet" parquet sort=montant:desc
  run "sorted csv, unsorted      " "$sorted" "$OUT/a.csv" csv
  run "sorted csv, sort nom asc  " "$sorted" "$OUT/a.csv" csv sort=nom:asc
'
rm -rf "$out" "$state"
