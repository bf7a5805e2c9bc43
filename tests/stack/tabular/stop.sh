#!/usr/bin/env bash
# Stop what start.sh STATE_DIR started: the API and PostgREST processes (by the pids in
# STATE_DIR/pids, with their process groups), then PostgreSQL with pg_ctl (fast shutdown).
# Leaves logs in place. Safe to run twice or on a partly started STATE_DIR.
set -uo pipefail

STATE_DIR=${1:?usage: stop.sh STATE_DIR}
[ -d "$STATE_DIR" ] || exit 0
STATE_DIR=$(cd "$STATE_DIR" && pwd)
PG_BIN=/usr/lib/postgresql/15/bin
log() { echo "[tabular/stop] $*" >&2; }

# is_ours PID PATTERN: the pid is alive and its command line matches (guards against pid reuse)
is_ours() {
    local pid=$1 pattern=$2
    [ -r "/proc/$pid/cmdline" ] || return 1
    tr '\0' ' ' < "/proc/$pid/cmdline" | grep -q -- "$pattern"
}

# alive PID: running (a zombie waiting to be reaped by init counts as gone)
alive() {
    local st
    st=$(ps -o stat= -p "$1" 2>/dev/null) || return 1
    case "$st" in Z*|"") return 1 ;; esac
    return 0
}

kill_tree() {
    local pid=$1 sig=$2
    if [ "$(ps -o pgid= -p "$pid" 2>/dev/null | tr -d ' ')" = "$pid" ]; then
        kill "-$sig" -- "-$pid" 2>/dev/null || true
    else
        kill "-$sig" "$pid" 2>/dev/null || true
    fi
}

stop_named() {
    local name=$1 pattern=$2 f=$STATE_DIR/pids/$1.pid pid
    [ -f "$f" ] || return 0
    pid=$(cat "$f" 2>/dev/null || true)
    if [ -n "$pid" ] && is_ours "$pid" "$pattern"; then
        kill_tree "$pid" TERM
        for _ in $(seq 100); do alive "$pid" || break; sleep 0.1; done
        if alive "$pid"; then
            log "$name ($pid) ignored SIGTERM, killing"
            kill_tree "$pid" KILL
        fi
    fi
    rm -f "$f"
}

stop_named tabular-api gunicorn
stop_named metrics-api gunicorn
stop_named postgrest-tabular postgrest
stop_named postgrest-metrics postgrest

PGROOT=$STATE_DIR/pg
[ -f "$STATE_DIR/pg.path" ] && PGROOT=$(cat "$STATE_DIR/pg.path")
# the guard stops the cluster with pg_ctl -m fast when it gets SIGTERM
stop_named postgres postgres-guard
if [ -f "$PGROOT/data/postmaster.pid" ]; then
    if [ "$(id -u)" -eq 0 ]; then
        runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$PGROOT/data" -m fast -w -t 20 stop >/dev/null 2>&1
    else
        "$PG_BIN/pg_ctl" -D "$PGROOT/data" -m fast -w -t 20 stop >/dev/null 2>&1
    fi || log "pg_ctl stop failed"
fi
# whatever is left of the postmaster (pg_ctl failed)
if [ -f "$PGROOT/data/postmaster.pid" ]; then
    pid=$(head -n 1 "$PGROOT/data/postmaster.pid")
    if [ -n "$pid" ] && is_ours "$pid" postgres; then
        log "postmaster $pid still running, sending SIGQUIT"
        kill -QUIT "$pid" 2>/dev/null
        for _ in $(seq 50); do alive "$pid" || break; sleep 0.1; done
        alive "$pid" && kill -KILL "$pid" 2>/dev/null
    fi
fi
rm -f "$STATE_DIR/tabular.env"

# a cluster placed outside STATE_DIR (STATE_DIR not reachable by user postgres) is removed
if [ -f "$STATE_DIR/pg.path" ]; then
    if [ -L "$STATE_DIR/logs/postgres.log" ]; then
        cp --remove-destination "$(readlink "$STATE_DIR/logs/postgres.log")" "$STATE_DIR/logs/postgres.log" 2>/dev/null || true
    fi
    case "$PGROOT" in
        */datagouv-pg.*) rm -rf "$PGROOT" ;;
    esac
    rm -f "$STATE_DIR/pg.path"
fi
exit 0
