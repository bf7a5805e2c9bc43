#!/usr/bin/env bash
# The benchmarks of issue 8, side by side in one run: our SDK, the Python
# client datagouv-client 0.5.1, a plain Python `requests` loop and curl (the
# physical limit), against the local bench server (benches/datagouv-bench),
# then the request-overhead micro-benchmark (criterion) and the build cost.
# Prints a table of medians and ratios against the targets of issue 8 and
# writes it to target/bench/results.md (raw runs: target/bench/results.tsv).
#
#   bash scripts/bench.sh
#
# About 9 minutes on 2 cores once the bench binaries are built (the cold
# builds take half of it). Knobs (environment):
#   BENCH_REPS=5          repetitions of every scenario (medians are reported)
#   BENCH_MICRO_REPS=3    criterion runs of the small-GET benchmark
#   BENCH_BUILD_REPS=3    cold builds of the SDK and of the hello-world floor
#   BENCH_SCENARIOS="list export download upload small_get build"
#   BENCH_TMP=/dev/shm    where files are written (tmpfs: the client is measured, not the disk)
#   BENCH_PREFETCH=16     the SDK's list prefetch
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
reps=${BENCH_REPS:-5}
micro_reps=${BENCH_MICRO_REPS:-3}
build_reps=${BENCH_BUILD_REPS:-3}
scenarios=" ${BENCH_SCENARIOS:-list export download upload small_get build} "
prefetch=${BENCH_PREFETCH:-16}
tmp_root=${BENCH_TMP:-/dev/shm}
[ -d "$tmp_root" ] && [ -w "$tmp_root" ] || tmp_root=${TMPDIR:-/tmp}
target_dir=${CARGO_TARGET_DIR:-$root/target}
out_dir=$target_dir/bench
mkdir -p "$out_dir"
results=$out_dir/results.tsv
log=$out_dir/bench.log
: >"$log"
say() { echo "[bench] $*" >&2; }
wants() { [[ "$scenarios" == *" $1 "* ]]; }

# ---- tools ----------------------------------------------------------------
if [ ! -x /usr/bin/time ]; then
  say "installing GNU time (apt)"
  apt-get update -qq >>"$log" 2>&1 && apt-get install -y -qq time >>"$log" 2>&1
fi
for tool in curl python3 cargo; do
  command -v "$tool" >/dev/null || { say "$tool is missing"; exit 1; }
done

# ---- build ----------------------------------------------------------------
say "building the release binaries (cargo build --release -p datagouv-bench)"
cargo build --release -p datagouv-bench >>"$log" 2>&1
cargo bench -p datagouv-bench --bench small_get --no-run >>"$log" 2>&1
bin=$target_dir/release

say "Python peers in benches/.venv (datagouv-client==0.5.1, requests)"
[ -x benches/.venv/bin/python ] || python3 -m venv benches/.venv
benches/.venv/bin/pip install -q --disable-pip-version-check \
  -r benches/datagouv-bench/python/requirements.txt >>"$log" 2>&1
py=benches/.venv/bin/python
peers=benches/datagouv-bench/python/peers.py

# ---- servers ----------------------------------------------------------------
work=$(mktemp -d "$tmp_root/datagouv-bench.XXXXXX")
build_dir=""
pids=()
cleanup() {
  local pid
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
  [ -z "$build_dir" ] || rm -rf "$build_dir"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# One server with no latency (transfers, the small GET), one with 20 ms per
# answer (the list scenario of issue 8). Started from this shell (not in a
# command substitution), so the trap knows their pids.
start_server() {
  local name=$1; shift
  "$bin/bench-server" --url-file "$work/$name.url" "$@" >"$work/$name.log" 2>&1 &
  pids+=($!)
}
wait_server() {
  local name=$1 pid=$2 waited=0
  until [ -s "$work/$name.url" ]; do
    kill -0 "$pid" 2>/dev/null || { say "bench-server $name died:"; cat "$work/$name.log" >&2; exit 1; }
    sleep 0.2; waited=$((waited + 1))
    [ $waited -lt 300 ] || { say "bench-server $name did not start in 60 s"; exit 1; }
  done
  cat "$work/$name.url"
}
start_server fast
start_server slow --latency-ms 20
url=$(wait_server fast "${pids[0]}")
url20=$(wait_server slow "${pids[1]}")
say "bench servers: $url (no latency), $url20 (20 ms per answer)"

dataset=b00000000000000000000001
rid=b0000000-0000-4000-8000-000000000001
upload_file=$work/upload.bin

# ---- one measured run --------------------------------------------------------
printf 'scenario\tpeer\trep\tseconds\tpeak_rss_kib\tmoved\tstatus\n' >"$results"
# measure SCENARIO PEER REP OUTPUT_FILE COMMAND...: wall time (date, ns) and
# peak RSS (/usr/bin/time %M) of the whole process; what it moved (bytes=,
# items= on its stdout, else the size of OUTPUT_FILE); the file is removed.
measure() {
  local scenario=$1 peer=$2 rep=$3 output=$4 start end status seconds rss moved state
  shift 4
  start=$(date +%s%N)
  set +e
  /usr/bin/time -o "$work/time" -f "%M" "$@" >"$work/stdout" 2>"$work/stderr"
  status=$?
  set -e
  end=$(date +%s%N)
  seconds=$(awk -v ns=$((end - start)) 'BEGIN { printf "%.3f", ns / 1e9 }')
  rss=$(tail -n 1 "$work/time")
  moved=${MOVED:-$(grep -o 'bytes=[0-9]*\|items=[0-9]*' "$work/stdout" | head -n 1 || true)}
  if [ -z "$moved" ] && [ -n "$output" ] && [ -f "$output" ]; then moved="bytes=$(stat -c %s "$output")"; fi
  case $status in
    0) state=ok ;;
    3) state=unsupported ;;
    *) state=failed; say "$scenario/$peer failed ($status): $(tail -n 3 "$work/stderr" | tr '\n' ' ')" ;;
  esac
  [ -z "$output" ] || rm -f "$output"
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$scenario" "$peer" "$rep" "$seconds" "$rss" "$moved" "$state" >>"$results"
  cat "$work/stdout" "$work/stderr" >>"$log"
  [ "$state" = unsupported ] || say "$scenario/$peer #$rep: ${seconds} s, peak RSS $((rss / 1024)) MiB, $moved ($state)"
}

# curl fetches the same 200 page URLs, 16 at a time.
for page in $(seq 200); do
  printf 'url = "%s/api/1/datasets/?page=%s&page_size=100"\noutput = "/dev/null"\n' "$url20" "$page"
done >"$work/list.curl"

if wants upload; then
  say "the 1 GiB file to upload"
  curl -sSf -o "$upload_file" "$url/files/big.bin"
fi

# Peers take turns within each repetition, so a noisy moment hits them alike.
for rep in $(seq "$reps"); do
  if wants list; then
    measure list sdk "$rep" "" "$bin/bench-sdk" list --url "$url20" --prefetch "$prefetch"
    # For information: each page's request and decoding as its own tokio task.
    measure list sdk-spawn "$rep" "" "$bin/bench-sdk" list --url "$url20" --prefetch "$prefetch" --spawn-pages
    measure list client "$rep" "" "$py" "$peers" client list "$url20"
    measure list requests "$rep" "" "$py" "$peers" requests list "$url20"
    MOVED=pages=200 measure list curl "$rep" "" curl -sSf --parallel --parallel-max 16 -K "$work/list.curl"
  fi
  if wants export; then
    measure export sdk "$rep" "$work/out.csv" "$bin/bench-sdk" export --url "$url" --out "$work/out.csv"
    measure export client "$rep" "$work/out.csv" "$py" "$peers" client export "$url" --out "$work/out.csv"
    measure export requests "$rep" "$work/out.csv" "$py" "$peers" requests export "$url" --out "$work/out.csv"
    measure export curl "$rep" "$work/out.csv" curl -sSf -o "$work/out.csv" "$url/api/resources/$rid/data/csv/"
  fi
  if wants download; then
    measure download sdk "$rep" "$work/out.bin" "$bin/bench-sdk" download --url "$url" --out "$work/out.bin"
    measure download client "$rep" "$work/out.bin" "$py" "$peers" client download "$url" --out "$work/out.bin"
    measure download requests "$rep" "$work/out.bin" "$py" "$peers" requests download "$url" --out "$work/out.bin"
    measure download curl "$rep" "$work/out.bin" curl -sSf -o "$work/out.bin" "$url/files/big.bin"
  fi
  if wants upload; then
    measure upload sdk "$rep" "" "$bin/bench-sdk" upload --url "$url" --file "$upload_file"
    measure upload client "$rep" "" "$py" "$peers" client upload "$url" --file "$upload_file"
    measure upload requests "$rep" "" "$py" "$peers" requests upload "$url" --file "$upload_file"
    # shellcheck disable=SC2016 # $1 and $2 are the inner shell's.
    measure upload curl "$rep" "" bash -c 'curl -sSf -H "X-API-KEY: bench-api-key" -F "file=@$1" "$2" | grep -o "\"filesize\": *[0-9]*" | tr -d " \"" | sed "s/filesize:/bytes=/"' \
      _ "$upload_file" "$url/api/1/datasets/$dataset/upload/"
  fi
done

# ---- small GET overhead (criterion) -------------------------------------------
if wants small_get; then
  for rep in $(seq "$micro_reps"); do
    say "small GET micro-benchmark, criterion run $rep of $micro_reps"
    BENCH_SERVER_URL=$url cargo bench -p datagouv-bench --bench small_get -- \
      --warm-up-time 2 --measurement-time 5 --noplot >>"$log" 2>&1
    for peer in sdk reqwest; do
      median=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["median"]["point_estimate"] / 1e9)' \
        "$target_dir/criterion/small_get/$peer/new/estimates.json")
      printf 'small_get\t%s\t%s\t%s\t\t\tok\n' "$peer" "$rep" "$median" >>"$results"
      say "small_get/$peer #$rep: median $(awk -v s="$median" 'BEGIN { printf "%.1f", s * 1e6 }') µs"
    done
  done
fi

# ---- build cost ---------------------------------------------------------------
# timed_build SCENARIO PEER REP COMMAND...: runs it, records its wall time.
timed_build() {
  local scenario=$1 peer=$2 rep=$3 start end seconds
  shift 3
  start=$(date +%s%N)
  "$@" >>"$log" 2>&1
  end=$(date +%s%N)
  seconds=$(awk -v ns=$((end - start)) 'BEGIN { printf "%.3f", ns / 1e9 }')
  printf '%s\t%s\t%s\t%s\t\t\tok\n' "$scenario" "$peer" "$rep" "$seconds" >>"$results"
  say "$scenario/$peer #$rep: $seconds s"
}
if wants build; then
  build_dir=$(mktemp -d "${TMPDIR:-/tmp}/datagouv-bench-build.XXXXXX")
  floor=benches/hello-floor/Cargo.toml
  cargo fetch >>"$log" 2>&1
  cargo fetch --manifest-path "$floor" --locked >>"$log" 2>&1
  for rep in $(seq "$build_reps"); do
    rm -rf "$build_dir/sdk" "$build_dir/floor"
    say "cold builds, run $rep of $build_reps (the SDK takes minutes)"
    CARGO_TARGET_DIR=$build_dir/floor timed_build build_cold floor "$rep" cargo build --manifest-path "$floor" --locked
    CARGO_TARGET_DIR=$build_dir/sdk timed_build build_cold sdk "$rep" cargo build -p datagouv
  done
  for rep in $(seq "$reps"); do
    touch crates/datagouv/src/lib.rs
    CARGO_TARGET_DIR=$build_dir/sdk timed_build build_incremental sdk "$rep" cargo build -p datagouv
  done
  # For information, what a real edit of the facade costs at most: the crate
  # rebuilt without its incremental cache (dependencies built).
  for rep in $(seq "$build_reps"); do
    CARGO_TARGET_DIR=$build_dir/sdk cargo clean -p datagouv >>"$log" 2>&1
    CARGO_TARGET_DIR=$build_dir/sdk timed_build build_crate_only sdk "$rep" cargo build -p datagouv
  done
fi

# ---- the table ----------------------------------------------------------------
python3 benches/datagouv-bench/python/report.py "$results" --prefetch "$prefetch" --tmp "$tmp_root" \
  | tee "$out_dir/results.md"
