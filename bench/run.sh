#!/usr/bin/env bash
# Benchmarks fakestripe against the servers people use instead of it, on
# this machine, in one go:
#
#   - throughput and latency (p50, p99) of Checkout Session create and
#     retrieve, and of the nearest endpoints the peers have, with wrk;
#   - time from process start to the first HTTP response;
#   - resident memory after filling one account with sessions;
#   - the built-in scenario suite against the example shop, when the
#     harness and the scenario library exist.
#
# Usage: bench/run.sh [--quick]
#
# --quick makes every step short, to check that the script works. The
# settings below can also be set from the environment. Each round starts
# every target afresh and runs the jobs in a rotated order, so slow phases
# of a shared machine fall on every target in turn.
#
# It installs what it needs (BENCH_SKIP_BUILD=1 skips the cargo build): wrk from Debian's packages, localstripe from
# PyPI into a venv, stripe-stateful-mock from npm, and release builds of
# fakestripe and the bare axum server (mock-server/examples/ceiling.rs).
# Everything it writes goes under target/bench/; results/summary.md is the
# report.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BENCH=$ROOT/bench
OUT=${BENCH_OUT:-$ROOT/target/bench}

ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-10}        # seconds measured per job
WARMUP=${WARMUP:-2}             # seconds of load before each measurement
CONNECTIONS=${CONNECTIONS:-16}  # open connections, the same for every target
THREADS=${THREADS:-1}           # wrk threads; the server gets the other core
STARTUP_RUNS=${STARTUP_RUNS:-20}
RSS_SESSIONS=${RSS_SESSIONS:-100000}
SCENARIO_COUNT=${SCENARIO_COUNT:-100}

LOCALSTRIPE_VERSION=1.15.10
STATEFUL_MOCK_VERSION=0.0.16

if [[ ${1:-} == "--quick" ]]; then
    ROUNDS=1 DURATION=2 WARMUP=1 STARTUP_RUNS=3 RSS_SESSIONS=4000 SCENARIO_COUNT=10
elif [[ $# -gt 0 ]]; then
    sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//' >&2
    exit 2
fi

FAKESTRIPE=$ROOT/target/release/fakestripe
CEILING=$ROOT/target/release/examples/ceiling
VENV=$OUT/localstripe-venv
MOCK_DIR=$OUT/stateful-mock
RESULTS=$OUT/results
LOGS=$OUT/logs

# --- installation -----------------------------------------------------------

install_tools() {
    if ! command -v wrk >/dev/null; then
        echo "installing wrk from Debian's packages"
        apt-get update -qq
        apt-get install -y -qq wrk >/dev/null
    fi
    if ! "$VENV/bin/python" -c "import localstripe" 2>/dev/null; then
        echo "installing localstripe $LOCALSTRIPE_VERSION into $VENV"
        python3 -m venv "$VENV"
        "$VENV/bin/pip" install -q "localstripe==$LOCALSTRIPE_VERSION"
    fi
    if [[ ! -d $MOCK_DIR/node_modules/stripe-stateful-mock ]]; then
        echo "installing stripe-stateful-mock $STATEFUL_MOCK_VERSION into $MOCK_DIR"
        mkdir -p "$MOCK_DIR"
        (cd "$MOCK_DIR" && npm init -y >/dev/null &&
            npm install --no-audit --no-fund -s "stripe-stateful-mock@$STATEFUL_MOCK_VERSION")
    fi
    if [[ -z ${BENCH_SKIP_BUILD:-} ]]; then
        echo "building fakestripe and the ceiling server (release)"
        (cd "$ROOT" && cargo build --release -q -p fakestripe &&
            cargo build --release -q -p fakestripe-server --example ceiling)
    fi
}

# --- servers ----------------------------------------------------------------

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Waits until 127.0.0.1:$1 responds to HTTP, for at most 30 s.
wait_ready() {
    local deadline=$((SECONDS + 30))
    until curl -s -o /dev/null "http://127.0.0.1:$1/"; do
        if ((SECONDS > deadline)); then
            echo "the server on port $1 did not respond within 30 s; see $LOGS" >&2
            return 1
        fi
        sleep 0.05
    done
}

# Reads the base URL from the first line of a server's stdout.
read_base_url() {
    local file=$1 deadline=$((SECONDS + 30))
    until [[ -s $file ]] && head -n1 "$file" | grep -q '^http://'; do
        if ((SECONDS > deadline)); then
            echo "no base URL in $file within 30 s" >&2
            return 1
        fi
        sleep 0.02
    done
    head -n1 "$file"
}

# The command line that starts target $1 on port $2, one word per line.
# localstripe and stripe-stateful-mock bind every interface when started
# from their own command lines. So they are started through their
# libraries, on 127.0.0.1 and with request logging off. The request
# handling is theirs, unchanged.
server_command() {
    case $1 in
    fakestripe) printf '%s\n' "$FAKESTRIPE" serve --port "$2" ;;
    ceiling) printf '%s\n' "$CEILING" --port "$2" --body "$OUT/session.json" ;;
    localstripe)
        printf '%s\n' "$VENV/bin/python" -c \
            "import sys; from aiohttp import web; from localstripe.server import app; web.run_app(app, host='127.0.0.1', port=int(sys.argv[1]), access_log=None, print=None)" \
            "$2"
        ;;
    stateful-mock)
        printf '%s\n' node -e \
            "require('loglevel').setDefaultLevel('warn'); require('stripe-stateful-mock').createExpressApp().listen(+process.argv[1], '127.0.0.1')" \
            "$2"
        ;;
    *)
        echo "unknown target $1" >&2
        return 1
        ;;
    esac
}

# Starts target $1 and sets SERVER_PID and BASE_URL.
start_server() {
    local target=$1 port
    port=$(free_port)
    local -a command
    mapfile -t command < <(server_command "$target" "$port")
    # localstripe saves its whole store to this file after every write and
    # loads it at start; each run starts from an empty store.
    rm -f /tmp/localstripe.pickle
    (cd "$MOCK_DIR" && exec "${command[@]}") >"$LOGS/$target.out" 2>"$LOGS/$target.err" &
    SERVER_PID=$!
    wait_ready "$port"
    BASE_URL=http://127.0.0.1:$port
}

stop_server() {
    if [[ -n ${SERVER_PID:-} ]]; then
        kill "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
        SERVER_PID=
    fi
}
trap 'stop_server; rm -f /tmp/localstripe.pickle' EXIT

# --- throughput and latency ----------------------------------------------------

# POSTs form file $2 to path $3 of $BASE_URL with key $1 and prints the
# new object's id.
create_one() {
    curl -sf -H "Authorization: Bearer $1" --data-binary "@$BENCH/bodies/$2" "$BASE_URL$3" |
        python3 -c 'import json, sys; print(json.load(sys.stdin)["id"])'
}

# Runs wrk against $BASE_URL: a warm-up, then the measured run, whose
# RESULT line goes to the results table with the round, target and job.
measure() {
    local round=$1 target=$2 job=$3 method=$4 path=$5 body=${6:-}
    local key=sk_test_bench_${round}
    local -a env=(BENCH_METHOD="$method" BENCH_PATH="$path" BENCH_KEY="$key")
    [[ -n $body ]] && env+=(BENCH_BODY_FILE="$BENCH/bodies/$body")
    env "${env[@]}" wrk -t"$THREADS" -c"$CONNECTIONS" -d"${WARMUP}s" \
        -s "$BENCH/wrk/request.lua" "$BASE_URL" >/dev/null
    local line
    line=$(env "${env[@]}" wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" \
        -s "$BENCH/wrk/request.lua" "$BASE_URL" | grep '^RESULT')
    echo "  round $round  $target $job: ${line#RESULT }"
    printf '%s\t%s\t%s\t%s\n' "$round" "$target" "$job" "${line#RESULT }" >>"$RESULTS/throughput.tsv"
}

# Runs job $3 ("target:job") of round $1.
run_job() {
    local round=$1 target=${2%%:*} job=${2#*:}
    local key=sk_test_bench_${round} id
    start_server "$target"
    case $target:$job in
    ceiling:session_create) measure "$round" "$target" "$job" POST /v1/checkout/sessions session_create.form ;;
    ceiling:session_retrieve) measure "$round" "$target" "$job" GET /v1/checkout/sessions/cs_test_fixed ;;
    *:session_create) measure "$round" "$target" "$job" POST /v1/checkout/sessions session_create.form ;;
    *:session_retrieve)
        id=$(create_one "$key" session_create.form /v1/checkout/sessions)
        measure "$round" "$target" "$job" GET "/v1/checkout/sessions/$id"
        ;;
    *:customer_create) measure "$round" "$target" "$job" POST /v1/customers customer_create.form ;;
    *:customer_retrieve)
        id=$(create_one "$key" customer_create.form /v1/customers)
        measure "$round" "$target" "$job" GET "/v1/customers/$id"
        ;;
    *:payment_intent_create) measure "$round" "$target" "$job" POST /v1/payment_intents payment_intent_create.form ;;
    *:payment_intent_retrieve)
        id=$(create_one "$key" payment_intent_create.form /v1/payment_intents)
        measure "$round" "$target" "$job" GET "/v1/payment_intents/$id"
        ;;
    esac
    stop_server
}

# Neither peer has Checkout Sessions. localstripe's nearest endpoint is
# payment intents (the object a session wraps), and customers are the one
# object all three servers have. Each group contains the jobs a ratio
# compares, so they run back to back.
JOB_GROUPS=(
    "fakestripe:session_create ceiling:session_create"
    "fakestripe:session_retrieve ceiling:session_retrieve"
    "fakestripe:payment_intent_create localstripe:payment_intent_create"
    "fakestripe:payment_intent_retrieve localstripe:payment_intent_retrieve"
    "fakestripe:customer_create localstripe:customer_create stateful-mock:customer_create"
    "fakestripe:customer_retrieve localstripe:customer_retrieve stateful-mock:customer_retrieve"
)

# Saves a real session, as fakestripe returns it, for the ceiling server
# to send.
capture_session() {
    start_server fakestripe
    local id
    id=$(create_one sk_test_capture session_create.form /v1/checkout/sessions)
    curl -sf -H "Authorization: Bearer sk_test_capture" \
        "$BASE_URL/v1/checkout/sessions/$id" >"$OUT/session.json"
    stop_server
    echo "session body for the ceiling server: $(wc -c <"$OUT/session.json") bytes"
}

# Runs every group once per round. The order of the groups rotates from
# round to round, and every other round runs each group's jobs in reverse,
# so a slow phase of the machine falls on each side of a pair in turn.
throughput() {
    printf 'round\ttarget\tjob\tresult\n' >"$RESULTS/throughput.tsv"
    local round count=${#JOB_GROUPS[@]} i j
    local -a jobs
    for ((round = 1; round <= ROUNDS; round++)); do
        echo "throughput round $round of $ROUNDS"
        for ((i = 0; i < count; i++)); do
            read -r -a jobs <<<"${JOB_GROUPS[$(((i + round - 1) % count))]}"
            if ((round % 2 == 0)); then
                for ((j = ${#jobs[@]} - 1; j >= 0; j--)); do
                    run_job "$round" "${jobs[$j]}"
                done
            else
                for ((j = 0; j < ${#jobs[@]}; j++)); do
                    run_job "$round" "${jobs[$j]}"
                done
            fi
        done
    done
}

# --- startup and memory ----------------------------------------------------------

startup() {
    : >"$RESULTS/startup.tsv"
    local target port line
    for target in fakestripe ceiling stateful-mock localstripe; do
        port=$(free_port)
        local -a command
        mapfile -t command < <(server_command "$target" "$port")
        line=$(cd "$MOCK_DIR" && python3 "$BENCH/startup.py" "$STARTUP_RUNS" "$port" -- "${command[@]}" | grep '^RESULT')
        echo "  startup $target: ${line#RESULT }"
        printf '%s\t%s\n' "$target" "${line#RESULT }" >>"$RESULTS/startup.tsv"
    done
}

rss_kib() {
    awk -v field="$2:" '$1 == field { print $2 }' "/proc/$1/status"
}

# Creates about $1 more sessions in the account of key $2 on $BASE_URL and
# prints how many wrk counted. wrk's main thread always waits out its -d
# duration, so the fill runs in 2 s slices, each stopping its thread once
# the remaining count is reached. Requests still in flight when a slice
# stops are not counted, so the account may hold up to CONNECTIONS more
# sessions per slice than reported.
fill_sessions() {
    local wanted=$1 key=$2 total=0 line requests errors
    while ((total < wanted)); do
        line=$(BENCH_METHOD=POST BENCH_PATH=/v1/checkout/sessions BENCH_KEY=$key \
            BENCH_BODY_FILE="$BENCH/bodies/session_create.form" BENCH_STOP_AFTER=$((wanted - total)) \
            wrk -t1 -c"$CONNECTIONS" -d2s -s "$BENCH/wrk/request.lua" "$BASE_URL" | grep '^RESULT')
        requests=$(sed -E 's/.*requests=([0-9]+).*/\1/' <<<"$line")
        errors=$(sed -E 's/.*status_errors=([0-9]+).*/\1/' <<<"$line")
        if ((errors > 0)); then
            echo "filling sessions: $errors requests failed" >&2
            return 1
        fi
        total=$((total + requests))
    done
    echo "$total"
}

# Fills one account with sessions in four equal steps and records the
# resident set size after each.
memory() {
    printf 'sessions\tvm_rss_kib\tvm_hwm_kib\n' >"$RESULTS/memory.tsv"
    start_server fakestripe
    printf '0\t%s\t%s\n' "$(rss_kib "$SERVER_PID" VmRSS)" "$(rss_kib "$SERVER_PID" VmHWM)" >>"$RESULTS/memory.tsv"
    local total=0 i
    for i in 1 2 3 4; do
        total=$((total + $(fill_sessions $((RSS_SESSIONS / 4)) sk_test_memory)))
        printf '%s\t%s\t%s\n' "$total" "$(rss_kib "$SERVER_PID" VmRSS)" "$(rss_kib "$SERVER_PID" VmHWM)" >>"$RESULTS/memory.tsv"
        echo "  memory: $total sessions, VmRSS $(rss_kib "$SERVER_PID" VmRSS) KiB"
    done
    stop_server
}

# --- scenario suite ----------------------------------------------------------------

scenarios() {
    local library=$ROOT/scenarios
    if ! "$FAKESTRIPE" run --help >/dev/null 2>&1 || [[ -z $(find "$library" -name '*.yaml' 2>/dev/null) ]]; then
        echo "  skipped: needs \`fakestripe run\` and scenario files under scenarios/"
        echo "skipped" >"$RESULTS/scenarios.txt"
        return
    fi

    # Repeat the library until it contains SCENARIO_COUNT files.
    local copy=$OUT/scenarios-x$SCENARIO_COUNT n=0 file
    rm -rf "$copy"
    mkdir -p "$copy"
    local -a files
    mapfile -t files < <(find "$library" -name '*.yaml' | sort)
    while ((n < SCENARIO_COUNT)); do
        file=${files[$((n % ${#files[@]}))]}
        cp "$file" "$copy/$(printf '%03d' "$n")-$(basename "$file")"
        n=$((n + 1))
    done

    local started elapsed status=0 covered
    # The app starts with `cargo run`; build it first so the timed run
    # does not include a compile.
    (cd "$ROOT" && cargo build -q -p shop-rust)
    started=$(date +%s.%N)
    (cd "$ROOT" && "$FAKESTRIPE" run "$copy" --app examples/shop-rust/fakestripe.yaml) \
        >"$LOGS/scenarios.out" 2>"$LOGS/scenarios.err" || status=$?

    elapsed=$(python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.2f}')" "$started" "$(date +%s.%N)")
    covered=$(python3 "$BENCH/virtual_time.py" "$copy" | grep '^RESULT')

    echo "  scenarios: $SCENARIO_COUNT from ${#files[@]} files in ${elapsed} s, exit status $status; output in $LOGS/scenarios.out"
    {
        echo "count=$SCENARIO_COUNT library_files=${#files[@]} wall_seconds=$elapsed exit_status=$status"
        echo "virtual time: ${covered#RESULT }"
        grep -E 'Summary|FAIL' "$LOGS/scenarios.out" | tail -n 5
    } >"$RESULTS/scenarios.txt"
}

# --- main ----------------------------------------------------------------------------

# The commit the fake was built from, and whether its sources had changes.
commit_label() {
    local revision
    if ! revision=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null); then
        echo "unknown (not a git checkout)"
    elif git -C "$ROOT" diff --quiet HEAD -- mock-server harness; then
        echo "$revision"
    else
        echo "$revision plus uncommitted changes in mock-server or harness"
    fi
}

mkdir -p "$OUT" "$RESULTS" "$LOGS"
install_tools
{
    echo "date: $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo) RAM"
    echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "kernel: $(uname -r)"
    echo "wrk: $(wrk --version 2>&1 | head -n1 | cut -d' ' -f1-2)"
    echo "rustc: $(rustc --version)"
    echo "localstripe: $("$VENV/bin/pip" show localstripe | awk '/^Version/ { print $2 }') on $("$VENV/bin/python" --version)"
    echo "stripe-stateful-mock: $(node -p "require('$MOCK_DIR/node_modules/stripe-stateful-mock/package.json').version") on node $(node --version)"
    echo "fakestripe commit: $(commit_label)"
    echo "settings: rounds=$ROUNDS duration=${DURATION}s warmup=${WARMUP}s connections=$CONNECTIONS threads=$THREADS"
} | tee "$RESULTS/machine.txt"
capture_session
throughput
echo "startup, $STARTUP_RUNS runs each"
startup
echo "memory after $RSS_SESSIONS sessions"
memory
echo "scenario suite"
scenarios
python3 "$BENCH/summarize.py" "$RESULTS" | tee "$RESULTS/summary.md"
