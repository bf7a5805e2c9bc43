#!/usr/bin/env bash
# Local real-server test stack for datagouv-rs: udata (Main API, on mongomock), Prism mocks of the
# four specs, and (when tests/stack/tabular/ provides it) PostgreSQL + PostgREST + api-tabular.
#
#   stack.sh install                  idempotent install of every pinned server into $STACK_HOME
#   stack.sh start  STATE_DIR         start everything on free 127.0.0.1 ports, write STATE_DIR/stack.env
#                                     (tests) and STATE_DIR/cli.env (DATAGOUV_MAIN_URL … for the SDK and CLI)
#   stack.sh stop   STATE_DIR         stop every process listed in STATE_DIR/pids/ (and their children)
#   stack.sh run    STATE_DIR -- CMD  start, run CMD with stack.env exported, always stop; CMD's status
#   stack.sh status STATE_DIR         which services are up
#
# Environment: STACK_HOME (default ~/.cache/datagouv-stack), STACK_PYTHON (python for the udata venv,
# default python3), DATAGOUV_SHARED (the shared dir, default REPO/../shared), DATAGOUV_STACK_SPEC_V1,
# _V2, _TABULAR, _METRICS (spec files for Prism), DATAGOUV_STACK_START_TIMEOUT (seconds, default 90),
# DATAGOUV_STACK_STOP_TIMEOUT (seconds before KILL, default 5). See README.md beside this file.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
export STACK_HOME=${STACK_HOME:-$HOME/.cache/datagouv-stack}
SHARED=${DATAGOUV_SHARED:-$REPO/../shared}
export DATAGOUV_SHARED=$SHARED

UDATA_VERSION=17.18.0
MONGOMOCK_VERSION=4.3.0
PRISM_VERSION=5.16.0

UDATA_VENV=$STACK_HOME/venv-udata
NODE_PREFIX=$STACK_HOME/node
PRISM_PKG_JSON=$NODE_PREFIX/node_modules/@stoplight/prism-cli/package.json
PRISM_BIN=$NODE_PREFIX/node_modules/.bin/prism
START_TIMEOUT=${DATAGOUV_STACK_START_TIMEOUT:-90}
STOP_TIMEOUT=${DATAGOUV_STACK_STOP_TIMEOUT:-5}
export SCARF_ANALYTICS=false

PRISM_SERVICES=(prism-v1 prism-v2 prism-tabular prism-metrics)

log() { echo "[stack] $*" >&2; }
die() { log "error: $*"; exit 1; }

# --------------------------------------------------------------------------------------------------
# install
# --------------------------------------------------------------------------------------------------

# Every package of the udata venv, pinned (pip freeze of a working udata 17.18.0 venv, Python 3.11).
write_udata_constraints() {
    cat >"$1" <<'EOF'
amqp==5.4.2
aniso8601==10.0.1
attrs==26.1.0
Authlib==1.9.10
awesome-slugify==1.6.5
babel==2.18.0
bcrypt==4.3.0
beautifulsoup4==4.15.0
billiard==4.3.2
bleach==6.4.0
blinker==1.9.0
boto3==1.44.8
botocore==1.44.8
cachelib==0.17.0
celery==5.7.0
certifi==2026.10.19.post1
cffi==2.1.1
charset-normalizer==3.5.3
click==8.5.1
click-didyoumean==0.3.1
click-plugins==1.1.1.2
click-repl==0.4.1
cryptography==50.0.2
dnspython==2.9.2
elasticsearch==7.17.13
elasticsearch-dsl==7.4.1
email-validator==2.4.0
factory_boy==3.3.3
Faker==40.63.0
feedgenerator==2.2.1
filelock==4.3.1
Flask==3.1.3
flask-babel==4.0.0
Flask-Caching==2.5.1
Flask-Gravatar==0.5.0
Flask-Login==0.6.3
Flask-Mail==0.10.0
Flask-Principal==0.4.0
flask-restx==1.3.2
Flask-Security==5.9.2
flask-storage==2.1.1
Flask-WTF==1.3.0
geojson==3.3.0
geomet==1.1.0
html2text==2025.4.15
humanfriendly==10.0
idna==3.20
importlib_resources==7.1.0
itsdangerous==2.2.0
Jinja2==3.1.6
jmespath==1.1.0
joserfc==1.8.0
jsonschema==4.26.0
jsonschema-specifications==2025.9.1
kombu==5.7.0
langdetect==1.0.9
Levenshtein==0.27.5
libpass==1.9.4
lxml==6.1.3
Markdown==3.11.3
MarkupSafe==3.0.4
mistune==3.4.0
mongoengine==0.29.3
mongomock==4.3.0
netaddr==1.3.0
packaging==26.3
pillow==12.3.0
platformdirs==4.14.8
prompt_toolkit==3.0.53
pycparser==3.12
pydenticon==0.3.1
pymongo==4.20.1
pyparsing==3.3.3
pyproj==3.7.2
python-dateutil==2.9.0.post0
pytz==2026.6
qrcode==8.2
RapidFuzz==3.14.6
rdflib==7.6.0
redis==7.4.1
referencing==0.37.0
regex==2026.11.19
requests==2.34.2
rpds-py==2026.9.1
s3transfer==0.19.3
saxonche==12.10.1
sentinels==1.1.1
sentry-sdk==2.75.0
six==1.17.0
soupsieve==4.1.3
speaklater==1.3
tinycss2==1.5.1
tlds==2026102900
typing_extensions==4.16.0
tzdata==2026.6
tzlocal==5.4.5
udata==17.18.0
Unidecode==0.4.21
uritools==6.1.5
urlextract==1.10.0
urllib3==2.8.0
vine==5.1.0
voluptuous==0.16.0
wcwidth==0.9.4
webencodings==0.6.1
Werkzeug==3.1.9
WTForms==3.3.2
WTForms-JSON==0.3.5
EOF
}

udata_installed_versions() {
    "$UDATA_VENV/bin/python" - 2>/dev/null <<'EOF' || true
from importlib.metadata import version
print(version("udata"), version("mongomock"))
EOF
}

install_udata() {
    if [ "$(udata_installed_versions)" = "$UDATA_VERSION $MONGOMOCK_VERSION" ]; then
        log "udata $UDATA_VERSION + mongomock $MONGOMOCK_VERSION already installed in $UDATA_VENV"
        return
    fi
    local py=${STACK_PYTHON:-python3}
    command -v "$py" >/dev/null || die "$py not found (set STACK_PYTHON)"
    "$py" -c 'import sys; sys.exit(0 if (3, 11) <= sys.version_info[:2] < (3, 15) else 1)' \
        || die "udata $UDATA_VERSION needs Python >=3.11,<3.15 ($py is $("$py" --version 2>&1))"
    log "installing udata $UDATA_VERSION + mongomock $MONGOMOCK_VERSION into $UDATA_VENV"
    rm -rf "$UDATA_VENV"
    "$py" -m venv "$UDATA_VENV"
    local constraints=$STACK_HOME/udata-constraints.txt
    write_udata_constraints "$constraints"
    "$UDATA_VENV/bin/pip" install -q --disable-pip-version-check -c "$constraints" \
        "udata==$UDATA_VERSION" "mongomock==$MONGOMOCK_VERSION"
    [ "$(udata_installed_versions)" = "$UDATA_VERSION $MONGOMOCK_VERSION" ] \
        || die "udata venv check failed after install"
}

prism_installed_version() {
    [ -f "$PRISM_PKG_JSON" ] || return 0
    node -e 'process.stdout.write(require(process.argv[1]).version)' "$PRISM_PKG_JSON" 2>/dev/null || true
}

install_prism() {
    command -v npm >/dev/null || die "npm is required (Debian: apt-get install nodejs npm)"
    if [ "$(prism_installed_version)" = "$PRISM_VERSION" ] && [ -x "$PRISM_BIN" ]; then
        log "prism $PRISM_VERSION already installed in $NODE_PREFIX"
        return
    fi
    log "installing @stoplight/prism-cli@$PRISM_VERSION into $NODE_PREFIX"
    mkdir -p "$NODE_PREFIX"
    npm install --prefix "$NODE_PREFIX" --save-exact --no-audit --no-fund --loglevel=error \
        "@stoplight/prism-cli@$PRISM_VERSION" >/dev/null
    [ "$(prism_installed_version)" = "$PRISM_VERSION" ] || die "prism check failed after install"
}

# The MCP client that drives `datagouv mcp` in the tests: the official Python SDK.
MCP_CLIENT_VERSION=1.30.0
MCP_VENV=$STACK_HOME/venv-mcp

install_mcp_client() {
    if [ "$("$MCP_VENV/bin/python" -c 'from importlib.metadata import version; print(version("mcp"))' 2>/dev/null)" = "$MCP_CLIENT_VERSION" ]; then
        log "mcp $MCP_CLIENT_VERSION (Python client) already installed in $MCP_VENV"
        return
    fi
    log "installing the MCP Python SDK mcp==$MCP_CLIENT_VERSION into $MCP_VENV"
    rm -rf "$MCP_VENV"
    "${STACK_PYTHON:-python3}" -m venv "$MCP_VENV"
    "$MCP_VENV/bin/pip" install -q --disable-pip-version-check "mcp==$MCP_CLIENT_VERSION"
}

cmd_install() {
    mkdir -p "$STACK_HOME"
    command -v curl >/dev/null || die "curl is required"
    install_udata
    install_prism
    install_mcp_client
    if [ -f "$HERE/tabular/install.sh" ]; then
        log "running tabular/install.sh"
        bash "$HERE/tabular/install.sh"
    fi
    log "install done (STACK_HOME=$STACK_HOME)"
}

# --------------------------------------------------------------------------------------------------
# helpers for start / stop
# --------------------------------------------------------------------------------------------------

state_dir_arg() {
    if [ $# -lt 1 ] || [ -z "$1" ]; then die "missing STATE_DIR"; fi
    mkdir -p "$1"
    (cd "$1" && pwd)
}

# N free TCP ports on 127.0.0.1, one per line (all bound at once, so they are distinct).
free_ports() {
    python3 - "$1" <<'EOF'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
for s in socks:
    print(s.getsockname()[1])
EOF
}

pid_alive() {
    local pid=$1 st
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
    # a zombie is dead for our purposes
    st=$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null || echo X)
    [ "$st" != Z ] && [ "$st" != X ]
}

descendants() {
    local c
    for c in $(ps -o pid= --ppid "$1" 2>/dev/null); do
        echo "$c"
        descendants "$c"
    done
}

# launch NAME CMD...: run CMD in its own session (so its children share its process group), log to
# logs/NAME.log, pid to pids/NAME.pid.
launch() {
    local name=$1; shift
    # No job control here, so the child is not a group leader and setsid execs in place: $! is it.
    setsid "$@" >"$STATE/logs/$name.log" 2>&1 </dev/null &
    echo $! >"$STATE/pids/$name.pid"
}

# spec_for NAME: the normalised spec a Prism serves (written by `cargo xtask fetch`).
spec_for() {
    local override norm
    case $1 in
        prism-v1) override=${DATAGOUV_STACK_SPEC_V1:-}; norm=crates/datagouv-main/spec/v1.json ;;
        prism-v2) override=${DATAGOUV_STACK_SPEC_V2:-}; norm=crates/datagouv-main/spec/v2.json ;;
        prism-tabular) override=${DATAGOUV_STACK_SPEC_TABULAR:-}; norm=crates/datagouv-tabular/spec/tabular.json ;;
        prism-metrics) override=${DATAGOUV_STACK_SPEC_METRICS:-}; norm=crates/datagouv-metrics/spec/metrics.json ;;
        *) die "unknown prism service $1" ;;
    esac
    if [ -n "$override" ]; then
        echo "$override"
    else
        [ -f "$REPO/$norm" ] || die "$norm is missing: run \`cargo xtask fetch --from specs/upstream\`"
        echo "$REPO/$norm"
    fi
}

declare -A PORT=()

launch_service() {
    local name=$1 port=$2
    PORT[$name]=$port
    case $name in
        udata)
            rm -f "$STATE/udata.env"
            launch udata "$UDATA_VENV/bin/python" -u "$HERE/udata_launcher.py" \
                --port "$port" --state-dir "$STATE/udata" --env-out "$STATE/udata.env"
            ;;
        prism-*)
            launch "$name" "$PRISM_BIN" mock -h 127.0.0.1 -p "$port" "$(spec_for "$name")"
            ;;
    esac
}

# HTTP probe: prints the status code (000 when nothing answers).
http_code() {
    curl -s -o /dev/null -w '%{http_code}' --max-time 3 "$1" 2>/dev/null || true
}

service_ready() {
    local name=$1 port=${PORT[$1]}
    case $name in
        udata)
            [ -s "$STATE/udata.env" ] \
                && [ "$(http_code "http://127.0.0.1:$port/api/1/datasets/?page_size=1")" = 200 ]
            ;;
        prism-*)
            # Any HTTP answer (404/422 included) means the mock is serving.
            [ "$(http_code "http://127.0.0.1:$port/")" != 000 ]
            ;;
    esac
}

fail_service() {
    local name=$1 why=$2
    log "error: service '$name' $why; last lines of $STATE/logs/$name.log:"
    tail -n 25 "$STATE/logs/$name.log" >&2 2>/dev/null || true
    return 1
}

# Wait for every named service; relaunch on a new port (up to 3 times) a service that died because
# its port was taken meanwhile.
wait_services() {
    local deadline=$((SECONDS + START_TIMEOUT)) pending=("$@") still name pid
    declare -A retries=()
    while [ ${#pending[@]} -gt 0 ]; do
        still=()
        for name in "${pending[@]}"; do
            if service_ready "$name"; then
                log "$name up on 127.0.0.1:${PORT[$name]}"
                continue
            fi
            pid=$(cat "$STATE/pids/$name.pid" 2>/dev/null || true)
            if ! pid_alive "$pid"; then
                if grep -qE 'EADDRINUSE|Address already in use' "$STATE/logs/$name.log" 2>/dev/null \
                    && [ "${retries[$name]:-0}" -lt 3 ]; then
                    retries[$name]=$(( ${retries[$name]:-0} + 1 ))
                    log "$name: port ${PORT[$name]} was taken, retrying on another one"
                    cp "$STATE/logs/$name.log" "$STATE/logs/$name.log.port-${PORT[$name]}"
                    launch_service "$name" "$(free_ports 1)"
                    still+=("$name")
                    continue
                fi
                fail_service "$name" "exited before answering"
                return 1
            fi
            still+=("$name")
        done
        pending=("${still[@]+"${still[@]}"}")
        [ ${#pending[@]} -eq 0 ] && break
        if [ $SECONDS -ge $deadline ]; then
            for name in "${pending[@]}"; do
                fail_service "$name" "did not answer within ${START_TIMEOUT}s" || true
            done
            return 1
        fi
        sleep 0.3
    done
}

# --------------------------------------------------------------------------------------------------
# start
# --------------------------------------------------------------------------------------------------

# Checks that need no cleanup when they fail: nothing is started yet.
preflight() {
    [ -x "$UDATA_VENV/bin/python" ] || die "udata venv missing: run '$0 install' first"
    [ -x "$PRISM_BIN" ] || die "prism missing: run '$0 install' first"
    local name spec f
    for name in "${PRISM_SERVICES[@]}"; do
        spec=$(spec_for "$name")
        [ -f "$spec" ] || die "spec for $name not found: $spec"
    done
    mkdir -p "$STATE/logs" "$STATE/pids"
    for f in "$STATE"/pids/*.pid; do
        [ -e "$f" ] || continue
        if pid_alive "$(tr -dc '0-9' <"$f")"; then
            die "$STATE already has running services ($(basename "$f" .pid)); run '$0 stop $STATE' first"
        fi
        rm -f "$f"
    done
}

do_start() {
    set +m  # no job control: `launch` relies on it
    rm -f "$STATE/stack.env" "$STATE/cli.env" "$STATE/tabular.env"

    local t0=$SECONDS ports
    # The tabular part runs alongside. Its start.sh refuses a STATE_DIR where a listed pid is
    # running, so ours are launched once it is past that check (it then runs initdb), or at most
    # 5 s later.
    local deadline
    TAB_PID=""
    if [ -f "$HERE/tabular/start.sh" ]; then
        log "running tabular/start.sh"
        rm -f "$STATE/logs/initdb.log"
        bash "$HERE/tabular/start.sh" "$STATE" &
        TAB_PID=$!
        # Whatever fails below, let the tabular start finish (it writes its pid files, so the
        # cleanup that follows a failed start stops it too).
        trap 'wait "$TAB_PID" 2>/dev/null || true' EXIT
        deadline=$((SECONDS + 5))
        while [ ! -e "$STATE/logs/initdb.log" ] && kill -0 "$TAB_PID" 2>/dev/null \
            && [ $SECONDS -lt $deadline ]; do
            sleep 0.05
        done
    fi

    mapfile -t ports < <(free_ports 5)
    launch_service udata "${ports[0]}"
    local i=1 name
    for name in "${PRISM_SERVICES[@]}"; do
        launch_service "$name" "${ports[$i]}"
        i=$((i + 1))
    done

    if [ -n "$TAB_PID" ]; then
        trap - EXIT
        wait "$TAB_PID" || die "tabular/start.sh failed (logs in $STATE/logs/)"
    fi

    wait_services udata "${PRISM_SERVICES[@]}" || exit 1

    local base="http://127.0.0.1:${PORT[udata]}"
    local tmp="$STATE/stack.env.tmp"
    {
        echo "DATAGOUV_TEST_STACK_STATE_DIR=$STATE"
        echo "DATAGOUV_TEST_UDATA_BASE_URL=$base"
        echo "DATAGOUV_TEST_UDATA_URL=$base/api/1"
        echo "DATAGOUV_TEST_UDATA_V2_URL=$base/api/2"
        echo "DATAGOUV_TEST_MCP_PYTHON=$MCP_VENV/bin/python"
        cat "$STATE/udata.env"
        echo "DATAGOUV_TEST_PRISM_V1_URL=http://127.0.0.1:${PORT[prism-v1]}"
        echo "DATAGOUV_TEST_PRISM_V2_URL=http://127.0.0.1:${PORT[prism-v2]}"
        echo "DATAGOUV_TEST_PRISM_TABULAR_URL=http://127.0.0.1:${PORT[prism-tabular]}"
        echo "DATAGOUV_TEST_PRISM_METRICS_URL=http://127.0.0.1:${PORT[prism-metrics]}"
        echo "DATAGOUV_TEST_PRISM_V1_SPEC=$(spec_for prism-v1)"
        echo "DATAGOUV_TEST_PRISM_V2_SPEC=$(spec_for prism-v2)"
        echo "DATAGOUV_TEST_PRISM_TABULAR_SPEC=$(spec_for prism-tabular)"
        echo "DATAGOUV_TEST_PRISM_METRICS_SPEC=$(spec_for prism-metrics)"
        if [ -f "$STATE/tabular.env" ]; then
            cat "$STATE/tabular.env"
        fi
    } >"$tmp"
    mv "$tmp" "$STATE/stack.env"
    # The same servers under the variables the SDK and the CLI read, with the
    # seeded user's key: `set -a; . STATE/cli.env; set +a` points them here.
    {
        echo "DATAGOUV_MAIN_URL=$base"
        sed -n -e 's/^DATAGOUV_TEST_TABULAR_URL=/DATAGOUV_TABULAR_URL=/p' \
            -e 's/^DATAGOUV_TEST_METRICS_URL=/DATAGOUV_METRICS_URL=/p' \
            -e 's/^DATAGOUV_TEST_USER_KEY=/DATAGOUV_API_KEY=/p' "$STATE/stack.env"
    } >"$STATE/cli.env"

    log "stack up in $((SECONDS - t0))s; env files: $STATE/stack.env (tests), $STATE/cli.env (SDK and CLI)"
    grep -E '^DATAGOUV_TEST_[A-Z0-9_]*URL=' "$STATE/stack.env"
}

cmd_start() {
    STATE=$(state_dir_arg "${1:-}")
    preflight
    local rc=0
    # In a subshell so that `die` and errexit end the start only; a failed start leaves nothing.
    set +e
    (set -e; do_start)
    rc=$?
    set -e
    if [ $rc -ne 0 ]; then
        log "start failed; stopping what was started"
        do_stop || true
        exit 1
    fi
}

# --------------------------------------------------------------------------------------------------
# stop
# --------------------------------------------------------------------------------------------------

do_stop() {
    [ -d "$STATE/pids" ] || { log "nothing to stop in $STATE"; return 0; }
    local f pid all=() leaders=() p
    for f in "$STATE"/pids/*.pid; do
        [ -e "$f" ] || continue
        pid=$(tr -dc '0-9' <"$f")
        if pid_alive "$pid"; then
            all+=("$pid")
            # Collect the children now: once their parent is gone they are re-parented.
            mapfile -t -O "${#all[@]}" all < <(descendants "$pid")
            if [ "$(ps -o pgid= -p "$pid" 2>/dev/null | tr -d ' ')" = "$pid" ]; then
                leaders+=("$pid")
            fi
        fi
    done
    # The tabular part stops PostgreSQL cleanly first; what it leaves is killed below.
    if [ -f "$HERE/tabular/stop.sh" ]; then
        bash "$HERE/tabular/stop.sh" "$STATE" >&2 || log "tabular/stop.sh failed; killing by pid"
    fi
    if [ ${#all[@]} -gt 0 ]; then
        log "stopping ${#all[@]} process(es) of $STATE"
        for p in "${leaders[@]+"${leaders[@]}"}"; do kill -TERM -- "-$p" 2>/dev/null || true; done
        for p in "${all[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
        local deadline=$((SECONDS + STOP_TIMEOUT)) left
        while :; do
            left=()
            for p in "${all[@]}"; do
                if pid_alive "$p"; then left+=("$p"); fi
            done
            [ ${#left[@]} -eq 0 ] && break
            if [ $SECONDS -ge $deadline ]; then
                log "killing ${#left[@]} process(es) still alive after ${STOP_TIMEOUT}s: ${left[*]}"
                for p in "${leaders[@]+"${leaders[@]}"}"; do kill -KILL -- "-$p" 2>/dev/null || true; done
                for p in "${left[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
                sleep 0.2
                break
            fi
            sleep 0.1
        done
    fi
    rm -f "$STATE"/pids/*.pid
    # Prove it: every process seen above (services and their children) is gone.
    left=()
    for p in "${all[@]+"${all[@]}"}"; do
        if pid_alive "$p"; then left+=("$p"); fi
    done
    if [ ${#left[@]} -gt 0 ]; then
        log "ERROR: still running after stop: $(ps -o pid=,args= -p "$(IFS=,; echo "${left[*]}")" 2>/dev/null | tr '\n' ';')"
        return 1
    fi
    log "no process of the stack is left (${#all[@]} checked)"
}

cmd_stop() {
    STATE=$(state_dir_arg "${1:-}")
    do_stop
}

# --------------------------------------------------------------------------------------------------
# status
# --------------------------------------------------------------------------------------------------

cmd_status() {
    STATE=$(state_dir_arg "${1:-}")
    local f name pid any=0 down=0
    for f in "$STATE"/pids/*.pid; do
        [ -e "$f" ] || continue
        any=1
        name=$(basename "$f" .pid)
        pid=$(tr -dc '0-9' <"$f")
        if pid_alive "$pid"; then
            printf '%-18s up    pid %s\n' "$name" "$pid"
        else
            printf '%-18s DOWN  pid %s\n' "$name" "$pid"
            down=1
        fi
    done
    [ $any = 1 ] || { echo "no service started in $STATE"; return 1; }
    if [ -f "$STATE/stack.env" ]; then grep -E '^DATAGOUV_TEST_[A-Z0-9_]*URL=' "$STATE/stack.env"; fi
    return $down
}

# --------------------------------------------------------------------------------------------------
# run
# --------------------------------------------------------------------------------------------------

RUN_CHILD=""

run_cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    set +e
    if [ -n "$RUN_CHILD" ] && pid_alive "$RUN_CHILD"; then
        kill -TERM -- "-$RUN_CHILD" 2>/dev/null
    fi
    # A stack that does not stop fails the run, even when the command passed.
    if ! do_stop && [ "$rc" -eq 0 ]; then
        rc=1
    fi
    exit "$rc"
}

run_signal() {
    local sig=$1 code=$2
    trap - INT TERM
    log "got SIG$sig: stopping the command and the stack"
    if [ -n "$RUN_CHILD" ] && pid_alive "$RUN_CHILD"; then
        kill "-$sig" -- "-$RUN_CHILD" 2>/dev/null || true
        local deadline=$((SECONDS + 10))
        while pid_alive "$RUN_CHILD" && [ $SECONDS -lt $deadline ]; do sleep 0.1; done
        if pid_alive "$RUN_CHILD"; then kill -KILL -- "-$RUN_CHILD" 2>/dev/null || true; fi
    fi
    exit "$code"
}

cmd_run() {
    STATE=$(state_dir_arg "${1:-}")
    shift || true
    [ "${1:-}" = "--" ] && shift
    [ $# -gt 0 ] || die "usage: $0 run STATE_DIR -- CMD..."
    preflight
    trap run_cleanup EXIT
    trap 'run_signal INT 130' INT
    trap 'run_signal TERM 143' TERM
    local rc=0
    # Start in the background (own process group) so that a signal is handled at once.
    set -m
    (set -e; do_start) &
    RUN_CHILD=$!
    set +m
    wait "$RUN_CHILD" || rc=$?
    RUN_CHILD=""
    [ $rc -eq 0 ] || { log "start failed"; exit 1; }
    local k v
    while IFS='=' read -r k v; do
        if [ -n "$k" ]; then export "$k=$v"; fi
    done <"$STATE/stack.env"
    # CMD gets its own process group (so a signal reaches all of it) and keeps our stdin.
    set -m
    "$@" <&0 &
    RUN_CHILD=$!
    set +m
    wait "$RUN_CHILD" || rc=$?
    RUN_CHILD=""
    exit "$rc"
}

# --------------------------------------------------------------------------------------------------

usage() {
    sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
}

[ $# -ge 1 ] || usage
sub=$1; shift
case $sub in
    install) cmd_install ;;
    start) cmd_start "$@" ;;
    stop) cmd_stop "$@" ;;
    status) cmd_status "$@" ;;
    run) cmd_run "$@" ;;
    -h|--help|help) usage ;;
    *) log "unknown subcommand '$sub'"; usage ;;
esac
