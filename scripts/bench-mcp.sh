#!/usr/bin/env bash
# The figures of `datagouv mcp` (issues 17 and 26), against the real local servers: builds the
# release CLI, starts the local stack, then
# 1. has the official MCP Python SDK run every check of tests/mcp/check_mcp.py over stdio and
#    over streamable HTTP, BENCH_REPS times each (3 by default), printing the `figure:` lines:
#    time from start to the `initialize` answer, a 60,000-row export, the median tool call
#    against the median direct HTTP GET of the same udata URL, over HTTP 50 concurrent tool
#    calls, the server's RSS when idle and its peak, the 50 MB document stopped at the cap and
#    how fast a client leaving mid-call frees the call;
# 2. runs tests/mcp/load_mcp.py BENCH_LOAD_REPS times (3): BENCH_MCP_CLIENTS (200) concurrent
#    HTTP clients making BENCH_MCP_CALLS (10) calls each, every answer checked, p50/p99 latency
#    and peak RSS; then one client across a server restart, stateless (answered) and with
#    --http-sessions (refused).
# `bash scripts/bench-mcp.sh`
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q -p datagouv-cli
state=$(mktemp -d /tmp/datagouv-bench-mcp.XXXXXX)
bash tests/stack/stack.sh install >/dev/null
BENCH_REPS=${BENCH_REPS:-3} BENCH_LOAD_REPS=${BENCH_LOAD_REPS:-3} bash tests/stack/stack.sh run "$state" -- bash -c '
  for transport in stdio http; do
    for rep in $(seq "$BENCH_REPS"); do
      "$DATAGOUV_TEST_MCP_PYTHON" tests/mcp/check_mcp.py --binary target/release/datagouv \
        --transport "$transport" 2>/dev/null | grep -E "^figure|^FAIL|passed" | sed "s/^/$transport #$rep: /"
    done
  done
  for rep in $(seq "$BENCH_LOAD_REPS"); do
    "$DATAGOUV_TEST_MCP_PYTHON" tests/mcp/load_mcp.py --binary target/release/datagouv 2>&1 \
      | grep -E "^figure|^FAIL|passed" | sed "s/^/load #$rep: /"
  done
'
rm -rf "$state"
