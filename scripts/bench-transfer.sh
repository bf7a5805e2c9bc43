#!/usr/bin/env bash
# Transfer benchmark: starts the local stack, creates a draft dataset as the
# non-admin user, uploads a file of SIZE MiB (default 1024) as a chunked
# resource upload, downloads it back verified against its SHA-1, and prints
# throughput and peak RSS (release build of crates/datagouv/examples/transfer.rs).
# `bash scripts/bench-transfer.sh [SIZE_MIB]`
set -euo pipefail
cd "$(dirname "$0")/.."
size=${1:-1024}
cargo build --release -q -p datagouv --example transfer
state=$(mktemp -d /tmp/datagouv-bench.XXXXXX)
bash tests/stack/stack.sh install >/dev/null
bash tests/stack/stack.sh run "$state" -- bash -c '
  export DATAGOUV_MAIN_URL=$DATAGOUV_TEST_UDATA_BASE_URL DATAGOUV_API_KEY=$DATAGOUV_TEST_USER_KEY
  dataset=$(curl -sf -X POST -H "X-API-KEY: $DATAGOUV_API_KEY" -H "content-type: application/json" \
      -d "{\"title\": \"Banc de transfert\", \"description\": \"bench\", \"private\": true}" \
      "$DATAGOUV_TEST_UDATA_URL/datasets/" | python3 -c "import json,sys; print(json.load(sys.stdin)[\"id\"])")
  target/release/examples/transfer "$dataset" '"$size"'
' | grep -v '^\[stack\]\|^DATAGOUV_\|^  '
rm -rf "$state"
