#!/usr/bin/env bash
# Measures what the generated crates cost to build: a cold build of each
# (empty target dir, dependencies included) and a crate-only rebuild
# (dependencies built, `cargo clean -p` on the crate). Prints a Markdown
# table. Run from anywhere: `bash scripts/build-cost.sh` (about 6 minutes on
# 2 cores). Uses its own target dir, so your `target/` is left alone.
set -euo pipefail
cd "$(dirname "$0")/.."
target="${BUILD_COST_TARGET:-$(mktemp -d /tmp/datagouv-build-cost.XXXXXX)}"
export CARGO_TARGET_DIR="$target"
# Prints the seconds a command took, with one decimal.
seconds() {
  local start end
  start=$(date +%s%N)
  "$@" >/dev/null 2>&1
  end=$(date +%s%N)
  local tenths=$(( (end - start) / 100000000 ))
  echo "$((tenths / 10)).$((tenths % 10))"
}
generated_lines() { local file; file=$(ls -t "$target"/debug/build/"$1"-*/out/"$2".rs 2>/dev/null | head -1); [ -n "$file" ] && wc -l <"$file" || echo "?"; }

echo "| crate | cold build (s) | crate only (s) | generated lines |"
echo "| --- | --- | --- | --- |"
for crate in datagouv-main datagouv-tabular datagouv-metrics; do
  rm -rf "$target"
  cold=$(seconds cargo build -p "$crate")
  cargo clean -p "$crate" >/dev/null 2>&1
  only=$(seconds cargo build -p "$crate")
  case $crate in
    datagouv-main) lines="v1 $(generated_lines datagouv-main v1), v2 $(generated_lines datagouv-main v2)";;
    datagouv-tabular) lines=$(generated_lines datagouv-tabular tabular);;
    datagouv-metrics) lines=$(generated_lines datagouv-metrics metrics);;
  esac
  echo "| $crate | $cold | $only | $lines |"
done
rm -rf "$target"
echo
echo "machine: $(nproc) cores, $(rustc --version)"
