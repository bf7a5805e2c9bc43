#!/usr/bin/env bash
# The figures of `datagouv mcp` (issue 17), against the real local servers: builds the release
# CLI, starts the local stack, and has the official MCP Python SDK run every check of
# tests/mcp/check_mcp.py over stdio and over streamable HTTP, BENCH_REPS times each (3 by
# default), printing the `figure:` lines: time from start to the `initialize` answer, a
# 60,000-row export, the median tool call against the median direct HTTP GET of the same
# udata URL, and over HTTP 50 concurrent tool calls, the server's RSS when idle and its peak.
# `bash scripts/bench-mcp.sh`
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q -p datagouv-cli
state=$(mktemp -d /tmp/datagouv-bench-mcp.XXXXXX)
bash tests/stack/stack.sh install >/dev/null
BENCH_REPS=${BENCH_REPS:-3} bash tests/stack/stack.sh run "$state" -- bash -c '
  for transport in stdio http; do
    for rep in $(seq "$BENCH_REPS"); do
      "$DATAGOUV_TEST_MCP_PYTHON" tests/mcp/check_mcp.py --binary target/release/datagouv \
        --transport "$transport" 2>/dev/null | grep -E "^figure|passed" | sed "s/^/$transport #$rep: /"
    done
  done
'
rm -rf "$state"
