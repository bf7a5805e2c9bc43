#!/usr/bin/env bash
# The benchmarks of issues 8, 15 and 23, side by side in one run: our SDK, the
# Python client datagouv-client 0.5.1, a plain Python `requests` loop and curl
# (the physical limit), against the local bench server
# (benches/datagouv-bench), then the request-overhead micro-benchmark
# (criterion) and the build cost. The export also runs against the real
# api-tabular 0.4.1 of tests/stack (PostgreSQL + PostgREST), started and
# stopped here; so does the SQL scenario (issue 23: `datagouv sql`'s GROUP BY
# over 300,000 rows vs `datagouv tabular export` of the same rows vs
# datagouv-client's `rows()` into pandas), and the Python scenario (issue 24: our
# SDK from Python, `datagouv_rs`, vs datagouv-client and vs the Rust SDK: the
# list of 20,000 datasets, and 300,000 rows of api-tabular into pandas). Prints
# a table of medians and ratios against the targets and writes it to
# target/bench/results.md (raw runs: target/bench/results.tsv).
#
#   bash scripts/bench.sh
#
# About 10 minutes on 2 cores once the bench binaries are built (the cold
# builds take half of it). Knobs (environment):
#   BENCH_REPS=5          repetitions of every scenario (medians are reported)
#   BENCH_MICRO_REPS=3    criterion runs of the small-GET benchmark
#   BENCH_BUILD_REPS=3    cold builds of the SDK and of the hello-world floor
#   BENCH_SCENARIOS="list export download upload sync small_get build"  (and `sql` and
#                         `python`, not run by default)
#   BENCH_TMP=/dev/shm    where files are written (tmpfs: the client is measured, not the disk)
#   BENCH_PREFETCH=16     the SDK's list prefetch
#   BENCH_EXPORT_TABULAR=1  the export's second part, against the local api-tabular
#                         (0: skip it; needs `bash tests/stack/stack.sh install`)
#   BENCH_TABULAR_RID=10000000-0000-4000-8000-000000000005  the resource it exports
#   BENCH_TABULAR_SORT=montant:desc  the sorted export's `--sort`
#   BENCH_BUILD=1         0: use the release binaries already built (e.g. under a shared build lock)
#                         and, for `python`, the newest wheel in target/wheels
#   BENCH_SQL_RID=10000000-0000-4000-8000-000000000023  the SQL scenario's 300,000-row resource
#   BENCH_SQL_CLIENT_REPS=$BENCH_REPS  runs of the Python peer of the SQL scenario
#   BENCH_SQL_CLIENT_SECONDS=120  its time limit: it reads api-tabular's default pages
#                         of 20 rows (15,000 requests, more than 10 minutes here); a run
#                         stopped there reports the rows it read (a lower bound of its time);
#                         the Python scenario's datagouv-client `rows()` peer takes both too
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
reps=${BENCH_REPS:-5}
micro_reps=${BENCH_MICRO_REPS:-3}
build_reps=${BENCH_BUILD_REPS:-3}
scenarios=" ${BENCH_SCENARIOS:-list export download upload sync small_get build} "
prefetch=${BENCH_PREFETCH:-16}
export_tabular=${BENCH_EXPORT_TABULAR:-1}
tabular_rid=${BENCH_TABULAR_RID:-10000000-0000-4000-8000-000000000005}
tabular_sort=${BENCH_TABULAR_SORT:-montant:desc}
sql_rid=${BENCH_SQL_RID:-10000000-0000-4000-8000-000000000023}
sql_client_reps=${BENCH_SQL_CLIENT_REPS:-$reps}
sql_client_seconds=${BENCH_SQL_CLIENT_SECONDS:-120}
tmp_root=${BENCH_TMP:-/dev/shm}
[ -d "$tmp_root" ] && [ -w "$tmp_root" ] || tmp_root=${TMPDIR:-/tmp}
target_dir=${CARGO_TARGET_DIR:-$root/target}
out_dir=$target_dir/bench
mkdir -p "$out_dir"
results=$out_dir/results.tsv
checks=$out_dir/checks.tsv
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
if [ "${BENCH_BUILD:-1}" = 1 ]; then
  say "building the release binaries (cargo build --release -p datagouv-bench)"
  cargo build --release -p datagouv-bench >>"$log" 2>&1
  if wants sql; then
    say "building the release CLI (cargo build --release -p datagouv-cli)"
    cargo build --release -p datagouv-cli >>"$log" 2>&1
  fi
  if wants small_get; then
    cargo bench -p datagouv-bench --bench small_get --no-run >>"$log" 2>&1
  fi
fi
bin=$target_dir/release

say "Python peers in benches/.venv (datagouv-client==0.5.1, requests)"
[ -x benches/.venv/bin/python ] || python3 -m venv benches/.venv
benches/.venv/bin/pip install -q --disable-pip-version-check \
  -r benches/datagouv-bench/python/requirements.txt >>"$log" 2>&1
py=benches/.venv/bin/python
peers=benches/datagouv-bench/python/peers.py

# The Python scenario's own peer: datagouv_rs, the release wheel of crates/datagouv-py
# (maturin, pinned in requirements.txt), installed over any earlier one.
if wants python; then
  wheels=$target_dir/wheels
  if [ "${BENCH_BUILD:-1}" = 1 ]; then
    say "building the release wheel of datagouv_rs (maturin build --release; DataFusion is in it: minutes)"
    benches/.venv/bin/maturin build --release -m crates/datagouv-py/Cargo.toml -o "$wheels" >>"$log" 2>&1 \
      || { say "maturin build failed (see $log)"; exit 1; }
  fi
  wheel=$(ls -t "$wheels"/datagouv_rs-*.whl 2>/dev/null | head -n 1 || true)
  [ -n "$wheel" ] || { say "no datagouv_rs wheel in $wheels (run with BENCH_BUILD=1, or maturin build --release -m crates/datagouv-py/Cargo.toml -o $wheels)"; exit 1; }
  say "datagouv_rs: $(basename "$wheel") ($(( $(stat -c %s "$wheel") / 1024 / 1024 )) MiB)"
  benches/.venv/bin/pip install -q --disable-pip-version-check --force-reinstall --no-deps "$wheel" >>"$log" 2>&1 \
    || { say "pip install $wheel failed (see $log)"; exit 1; }
  "$py" -c 'import datagouv_rs; datagouv_rs.Client' 2>>"$log" \
    || { say "datagouv_rs does not import from $wheel (see $log)"; exit 1; }
fi

# ---- servers ----------------------------------------------------------------
work=$(mktemp -d "$tmp_root/datagouv-bench.XXXXXX")
build_dir=""
stack_dir=""
pids=()
cleanup() {
  local pid
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [ -n "$stack_dir" ]; then
    say "stopping the local api-tabular"
    bash tests/stack/stack.sh stop "$stack_dir" >>"$log" 2>&1 || say "stack stop failed (see $log)"
  fi
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
start_server fast --request-log "$work/fast.requests"
start_server slow --latency-ms 20
url=$(wait_server fast "${pids[0]}")
url20=$(wait_server slow "${pids[1]}")
say "bench servers: $url (no latency), $url20 (20 ms per answer)"

dataset=b00000000000000000000001
upload_file=$work/upload.bin

# ---- one measured run --------------------------------------------------------
printf 'scenario\tpeer\trep\tseconds\tpeak_rss_kib\tmoved\tstatus\n' >"$results"
# measure SCENARIO PEER REP OUTPUT COMMAND...: wall time (date, ns) and peak
# RSS (/usr/bin/time %M) of the whole process; what it moved (rows=, bytes=,
# items=, windows= on its stdout, else the size of the OUTPUT file, or the
# total size and count of the files in the OUTPUT directory); OUTPUT is removed.
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
  moved=${MOVED:-$(grep -o '\(rows\|bytes\|items\|windows\|files\|partial\)=[0-9]*' "$work/stdout" | paste -sd ' ' || true)}
  if [ -z "$moved" ] && [ -n "$output" ] && [ -f "$output" ]; then moved="bytes=$(stat -c %s "$output")"; fi
  if [ -z "$moved" ] && [ -n "$output" ] && [ -d "$output" ]; then moved=$(dir_size "$output"); fi
  case $status in
    0) state=ok ;;
    3) state=unsupported ;;
    *) state=failed; say "$scenario/$peer failed ($status): $(tail -n 3 "$work/stderr" | tr '\n' ' ')" ;;
  esac
  [ -z "$output" ] || rm -rf "$output"
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$scenario" "$peer" "$rep" "$seconds" "$rss" "$moved" "$state" >>"$results"
  cat "$work/stdout" "$work/stderr" >>"$log"
  [ "$state" = unsupported ] || say "$scenario/$peer #$rep: ${seconds} s, peak RSS $((rss / 1024)) MiB, $moved ($state)"
}

# counted CMD…: runs CMD (a `measure`) and appends to its results line how
# many requests the no-latency server logged meanwhile.
counted() {
  local before after
  before=$(wc -l <"$work/fast.requests")
  "$@"
  after=$(wc -l <"$work/fast.requests")
  sed -i '$ s/\t\([a-z]*\)$/ requests='"$((after - before))"'\t\1/' "$results"
}

# dir_size DIR: `bytes=TOTAL windows=FILES` of the files in DIR.
dir_size() {
  find "$1" -type f -printf '%s\n' | awk '{ s += $1; n++ } END { printf "bytes=%d windows=%d", s, n }'
}

# ---- the export: every client fetches the same windows ---------------------------
# The SDK's window plan (`bench-sdk export-plan`: the URLs its export requests,
# in order) is what curl fetches: one curl process, one output file per
# window, the windows one after the other on one connection (curl-seq) or two
# in flight (curl-par2, `--parallel --parallel-max 2`).
printf 'check\tverdict\tdetail\n' >"$checks"
check() { printf '%s\t%s\t%s\n' "$1" "$2" "$3" >>"$checks"; say "check $1: $2 ($3)"; }

# export_plan BASE_URL NAME [bench-sdk args...]: writes $work/NAME.urls and
# the curl config $work/NAME.curl (outputs in $work/windows/).
export_plan() {
  local base=$1 name=$2 n=0 line
  shift 2
  "$bin/bench-sdk" export-plan --url "$base" "$@" >"$work/$name.urls" 2>>"$log" \
    || { say "bench-sdk export-plan failed (see $log)"; exit 1; }
  printf 'create-dirs\n' >"$work/$name.curl"
  while IFS= read -r line; do
    n=$((n + 1))
    printf 'url = "%s"\noutput = "%s/windows/%05d"\n' "$line" "$work" "$n"
  done <"$work/$name.urls" >>"$work/$name.curl"
  say "export plan ($name): $n windows, first $(head -n 1 "$work/$name.urls")"
  { echo "export plan ($name):"; cat "$work/$name.urls"; } >>"$log"
}

# join_windows DIR: the windows' CSV bodies as one CSV (the first header only).
join_windows() {
  local first=1 f
  for f in "$1"/*; do
    if [ $first = 1 ]; then cat "$f"; first=0; else tail -n +2 "$f"; fi
  done
}

# export_checks NAME BASE_URL REQUESTS_LOG LOG_FORMAT [bench-sdk args...]:
# once, untimed: the requests of a sequential SDK export are its plan's, all
# answered 200; its CSV is byte for byte curl's windows joined.
export_checks() {
  local name=$1 base=$2 requests=$3 format=$4 mark
  shift 4
  mark=$(wc -l <"$requests")
  sleep 0.5  # gunicorn logs a request once answered
  "$bin/bench-sdk" export --url "$base" --out "$work/check.csv" --parallel 1 "$@" >>"$log" 2>&1 \
    || { check "$name: SDK export" failed "see $log"; return; }
  # What the server saw: `GET PATH STATUS` (bench server) or gunicorn's access log.
  sleep 0.5
  tail -n +"$((mark + 1))" "$requests" | case $format in
    bench) awk '$2 ~ /\/data\/(csv|json)\// { print $2, $3 }' ;;
    gunicorn) sed -n 's#.*"GET \([^ ]*/data/\(csv\|json\)/[^ ]*\) HTTP/[0-9.]*" \([0-9]*\) .*#\1 \3#p' ;;
  esac >"$work/seen"
  sed 's#^[a-z]*://[^/]*##; s#$# 200#' "$work/$name.urls" >"$work/expected"
  if cmp -s "$work/seen" "$work/expected"; then
    check "$name: SDK requests = plan" ok "$(wc -l <"$work/seen") window requests, all 200, in the plan's order"
  else
    check "$name: SDK requests = plan" failed \
      "$(diff "$work/expected" "$work/seen" | head -n 6 | tr '\n' ' ')"
  fi
  curl -sSf -K "$work/$name.curl" 2>>"$log" || { check "$name: curl windows" failed "curl exit $?"; return; }
  local detail
  if detail=$(cmp "$work/check.csv" <(join_windows "$work/windows") 2>&1); then
    check "$name: SDK CSV = curl windows joined" ok "$(stat -c %s "$work/check.csv") bytes, $(($(wc -l <"$work/check.csv") - 1)) rows"
  else
    check "$name: SDK CSV = curl windows joined" failed "$detail"
  fi
  rm -rf "$work/check.csv" "$work/windows"
}

# sorted_check BASE_URL [bench-sdk args...]: once, untimed: the sorted export
# holds the unsorted export's rows, in the order $tabular_sort asks for.
sorted_check() {
  local base=$1 column order=() n
  shift
  if ! "$bin/bench-sdk" export --url "$base" "$@" --out "$work/check.csv" >>"$log" 2>&1 \
    || ! "$bin/bench-sdk" export --url "$base" "$@" --sort "$tabular_sort" --out "$work/sorted.csv" >>"$log" 2>&1; then
    check "tabular: sorted export" failed "an export failed (see $log)"
    return
  fi
  column=$(head -n 1 "$work/sorted.csv" | tr ',' '\n' | grep -n -x -m 1 "\"\?${tabular_sort%%:*}\"\?" | cut -d: -f1 || true)
  [ "${tabular_sort#*:}" != desc ] || order=(-r)
  n=$(($(wc -l <"$work/sorted.csv") - 1))
  if [ -z "$column" ]; then
    check "tabular: sorted export" failed "no column ${tabular_sort%%:*} in its header"
  elif ! cmp -s <(tail -n +2 "$work/check.csv" | sort) <(tail -n +2 "$work/sorted.csv" | sort); then
    check "tabular: sorted export" failed "its $n rows are not the unsorted export's"
  elif ! tail -n +2 "$work/sorted.csv" | cut -d, -f"$column" | sort -c -g "${order[@]}" 2>>"$log"; then
    check "tabular: sorted export" failed "its rows are not ordered by $tabular_sort"
  else
    check "tabular: sorted export" ok "the unsorted export's $n rows, ordered by $tabular_sort"
  fi
  rm -f "$work/check.csv" "$work/sorted.csv"
}

if wants export; then
  export_plan "$url" bench
  export_checks bench "$url" "$work/fast.requests" bench
fi

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
    measure list sdk-mimalloc "$rep" "" "$bin/bench-sdk-mimalloc" list --url "$url20" --prefetch "$prefetch"
    # For information: each page's request and decoding as its own tokio task.
    measure list client "$rep" "" "$py" "$peers" client list "$url20"
    measure list requests "$rep" "" "$py" "$peers" requests list "$url20"
    MOVED=pages=200 measure list curl "$rep" "" curl -sSf --parallel --parallel-max 16 -K "$work/list.curl"
  fi
  if wants python; then
    # The same list from Python: datagouv_rs's iterator (its default prefetch,
    # then for information the SDK peer's), datagouv-client's
    # get_all_from_api_query, and the Rust SDK (the `list` scenario's sdk peer).
    measure python_list rs-python "$rep" "" "$py" "$peers" rs-python list "$url20"
    measure python_list rs-python-prefetch "$rep" "" "$py" "$peers" rs-python list "$url20" --prefetch "$prefetch"
    measure python_list client "$rep" "" "$py" "$peers" client list "$url20"
    measure python_list sdk "$rep" "" "$bin/bench-sdk" list --url "$url20" --prefetch "$prefetch"
  fi
  if wants export; then
    measure export sdk-seq "$rep" "$work/out.csv" "$bin/bench-sdk" export --url "$url" --out "$work/out.csv" --parallel 1
    measure export sdk "$rep" "$work/out.csv" "$bin/bench-sdk" export --url "$url" --out "$work/out.csv"
    measure export sdk-parquet "$rep" "$work/out.parquet" "$bin/bench-sdk" export --url "$url" --out "$work/out.parquet" --format parquet
    measure export requests "$rep" "$work/out.csv" "$py" "$peers" requests export "$url" --out "$work/out.csv"
    measure export curl-seq "$rep" "$work/windows" curl -sSf -K "$work/bench.curl"
    measure export curl-par2 "$rep" "$work/windows" curl -sSf --parallel --parallel-max 2 -K "$work/bench.curl"
    # For information: what the SDK asks before the first window (count, first and last `__id`).
    MOVED=plan measure export sdk-plan "$rep" "" "$bin/bench-sdk" export-plan --url "$url"
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
  if wants sync; then
    # A mirror of 100 hosted files of 1 MiB: the SDK's first run, its re-run
    # with nothing changed, and datagouv-client's `download_resources` (which
    # fetches every file again each time). Requests counted in the server's log.
    rm -rf "$work/mirror"
    counted measure sync sdk-first "$rep" "" "$bin/bench-sdk" sync --url "$url" --out "$work/mirror"
    counted measure sync sdk-rerun "$rep" "$work/mirror" "$bin/bench-sdk" sync --url "$url" --out "$work/mirror"
    counted measure sync client "$rep" "$work/pymirror" "$py" "$peers" client sync "$url" --out "$work/pymirror"
  fi
done

# ---- the export against the real api-tabular ------------------------------------
# The tabular half of tests/stack (PostgreSQL 15, PostgREST 12, api-tabular
# 0.4.1 under gunicorn), on free ports, stopped on exit whatever happens.
tab_url=""
start_tabular() {
  [ -z "$tab_url" ] || return 0
  stack_dir=$work/stack
  say "starting the local api-tabular (tests/stack/tabular/start.sh)"
  bash tests/stack/tabular/start.sh "$stack_dir" >>"$log" 2>&1 \
    || { say "the local api-tabular did not start (run: bash tests/stack/stack.sh install; see $log)"; exit 1; }
  tab_url=$(sed -n 's/^DATAGOUV_TEST_TABULAR_URL=//p' "$stack_dir/tabular.env")
  say "api-tabular: $tab_url"
}
if wants export && [ "$export_tabular" = 1 ]; then
  start_tabular
  say "export of resource $tabular_rid"
  export_plan "$tab_url" tabular --rid "$tabular_rid"
  export_plan "$tab_url" tabular-sorted --rid "$tabular_rid" --sort "$tabular_sort"
  export_checks tabular "$tab_url" "$stack_dir/logs/tabular-api.log" gunicorn --rid "$tabular_rid"
  sorted_check "$tab_url" --rid "$tabular_rid"
  for rep in $(seq "$reps"); do
    common=(--url "$tab_url" --rid "$tabular_rid")
    measure export_tabular sdk-seq "$rep" "$work/out.csv" "$bin/bench-sdk" export "${common[@]}" --out "$work/out.csv" --parallel 1
    measure export_tabular sdk "$rep" "$work/out.csv" "$bin/bench-sdk" export "${common[@]}" --out "$work/out.csv"
    measure export_tabular sdk-sorted "$rep" "$work/out.csv" "$bin/bench-sdk" export "${common[@]}" --out "$work/out.csv" --sort "$tabular_sort"
    measure export_tabular sdk-parquet "$rep" "$work/out.parquet" "$bin/bench-sdk" export "${common[@]}" --out "$work/out.parquet" --format parquet
    measure export_tabular curl-seq "$rep" "$work/windows" curl -sSf -K "$work/tabular.curl"
    measure export_tabular curl-par2 "$rep" "$work/windows" curl -sSf --parallel --parallel-max 2 -K "$work/tabular.curl"
    MOVED=plan measure export_tabular sdk-plan "$rep" "" "$bin/bench-sdk" export-plan "${common[@]}"
    MOVED=plan measure export_tabular sdk-plan-sorted "$rep" "" "$bin/bench-sdk" export-plan "${common[@]}" --sort "$tabular_sort"
  done
fi

# ---- SQL over a resource the server does not aggregate (issue 23) ---------------------
# A GROUP BY over the 300,000 rows of $sql_rid (tests/stack/tabular/sql/47_sql_bench.sql,
# not on the aggregation whitelist, so api-tabular answers its own group-by with 403):
# `datagouv sql` (release build: DataFusion over the export windows), `datagouv tabular
# export` of the same rows to CSV, and the Python peer (datagouv-client's `rows()` into
# pandas, then `groupby`). Checked once, untimed: `datagouv sql` gives PostgreSQL's own groups.
if wants sql; then
  start_tabular
  cli=$bin/datagouv
  sql_query="SELECT region, count(*) AS n, sum(montant) AS total, avg(montant) AS moyenne, min(montant) AS min, max(montant) AS max FROM \"$sql_rid\" GROUP BY region ORDER BY region"
  say "SQL: $sql_query"
  pg_uri=$(sed -n 's/^DATAGOUV_TEST_PG_URI=//p' "$stack_dir/tabular.env")
  if "$cli" --main-url "$tab_url" --tabular-url "$tab_url" sql "$sql_query" -o "$work/ours.csv" >>"$log" 2>&1 \
    && /usr/lib/postgresql/15/bin/psql -X -q -At -F , "$pg_uri" -c "SELECT region, count(*), sum(montant), avg(montant), min(montant), max(montant) FROM public.\"5f1c0e2d9b8a47c6a3e2d1c0b9a8f7e6\" GROUP BY region" >"$work/theirs.csv" 2>>"$log"; then
    if detail=$(python3 - "$work/ours.csv" "$work/theirs.csv" <<'PY'
import csv, sys
def groups(path, header):
    rows = list(csv.reader(open(path, encoding="utf-8")))[1 if header else 0:]
    return sorted([r[0]] + [float(v) for v in r[1:]] for r in rows)
ours, theirs = groups(sys.argv[1], True), groups(sys.argv[2], False)
if ours != theirs:
    sys.exit(f"datagouv sql: {ours[:2]} …; PostgreSQL: {theirs[:2]} …")
print(f"{len(ours)} groups, {sum(r[1] for r in ours):.0f} rows, count/sum/avg/min/max equal")
PY
    ); then
      check "sql: datagouv sql = PostgreSQL's GROUP BY (psql)" ok "$detail"
    else
      check "sql: datagouv sql = PostgreSQL's GROUP BY (psql)" failed "$detail"
    fi
  else
    check "sql: datagouv sql = PostgreSQL's GROUP BY (psql)" failed "a run failed (see $log)"
  fi
  rm -f "$work/ours.csv" "$work/theirs.csv"
  for rep in $(seq "$reps"); do
    measure sql sql "$rep" "$work/groups.csv" "$cli" --main-url "$tab_url" --tabular-url "$tab_url" sql "$sql_query" -o "$work/groups.csv"
    measure sql export "$rep" "$work/out.csv" "$cli" --tabular-url "$tab_url" tabular export "$sql_rid" "$work/out.csv"
    if [ "$rep" -le "$sql_client_reps" ]; then
      measure sql client "$rep" "" "$py" "$peers" client sql "$tab_url" --rid "$sql_rid" --max-seconds "$sql_client_seconds"
    fi
  done
fi

# ---- Python: 300,000 rows into pandas (issue 24) ----------------------------------------
# The SQL scenario's resource into a pandas DataFrame: datagouv_rs's `client.rows(rid)
# .to_pandas()` (every row, Arrow, then pandas) vs datagouv-client's `rows()` into
# `pandas.DataFrame` (20-row pages: bounded as in the SQL scenario, a lower bound when
# stopped); for information, the Rust SDK's Parquet export of the same rows.
if wants python; then
  start_tabular
  for rep in $(seq "$reps"); do
    measure python_rows rs-python "$rep" "" "$py" "$peers" rs-python rows "$tab_url" --rid "$sql_rid"
    if [ "$rep" -le "$sql_client_reps" ]; then
      measure python_rows client "$rep" "" "$py" "$peers" client rows "$tab_url" --rid "$sql_rid" --max-seconds "$sql_client_seconds"
    fi
    measure python_rows sdk-parquet "$rep" "$work/out.parquet" "$bin/bench-sdk" export --url "$tab_url" --rid "$sql_rid" --out "$work/out.parquet" --format parquet
  done
fi

if [ -n "$stack_dir" ]; then
  say "stopping the local api-tabular"
  bash tests/stack/stack.sh stop "$stack_dir" >>"$log" 2>&1 || say "stack stop failed (see $log)"
  stack_dir=""
fi

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
python3 benches/datagouv-bench/python/report.py "$results" --checks "$checks" --prefetch "$prefetch" --tmp "$tmp_root" \
  | tee "$out_dir/results.md"
