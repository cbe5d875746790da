#!/usr/bin/env bash
# Throughput, p99 and the control thread's CPU with many API keys: one node, one worker, KEYS
# keys imported (ImportApiKeys CSV, in batches of 10 000) into one usage plan with a quota, and
# keyed MOCK traffic spread over the first 2 000 of them while usage reports flow (4 a second).
# The control thread is the process's main thread (it applies commands and runs the apply
# hook); its CPU is read in nanoseconds from /proc/<pid>/task/<pid>/schedstat (first field: time
# on the CPU) over the traffic window (clock ticks of /proc/.../stat are 10 ms: too coarse for
# the ~10 ms a second the thread uses).
# Then, when wrk is installed, the capacity: wrk (closed loop, 32 connections, one thread) cycling
# through the same keys, giving requests per second, the whole process's CPU and requests per
# CPU-second, and the control thread's CPU over that run (also per request served).
#   usage: bench/scripts/keys-scale.sh KEYS [SECONDS] [RATE]   (from the workspace root)
#          bench/scripts/keys-scale.sh pairs N KEYS_A KEYS_B [SECONDS] [RATE]
# The second form runs KEYS_A and KEYS_B back to back, alternating, N times each, and prints
# each run's control-thread CPU and wrk figures with the ratios B/A of each pair.
# PERF_OUT=FILE also records the control thread with `perf record -g` over the open-loop window.
set -euo pipefail
if [ "${1:-}" = pairs ]; then
    N=${2:?pairs}
    A=${3:?keys a}
    B=${4:?keys b}
    shift 4
    out=$(mktemp)
    for ((p = 1; p <= N; p++)); do
        for k in "$A" "$B"; do
            echo "== pair $p: $k keys" >&2
            PORT=$((${PORT:-27400} + 10 * p + (k == B ? 5 : 0))) "$0" "$k" "$@" | tee -a "$out" >&2
        done
    done
    # Each run prints one `open:` line and one `wrk:` line; pair them up by run order.
    awk -v a="$A" -v b="$B" '
        /^keys=[0-9]+ open:/ { split($1, kv, "="); k = kv[2]; for (i = 2; i <= NF; i++) { split($i, f, "="); if (f[1] == "control-thread-cpu-ns") oc[k, ++no[k]] = f[2] } }
        /^keys=[0-9]+ wrk:/ { split($1, kv, "="); k = kv[2]; n = ++nw[k]; for (i = 2; i <= NF; i++) { split($i, f, "="); if (f[1] == "req-per-cpu-s") rc[k, n] = f[2]; if (f[1] == "control-thread-cpu-ns") wc[k, n] = f[2]; if (f[1] == "rps") rps[k, n] = f[2] } }
        END {
            printf "pair | open-loop ctl ms %s / %s (ratio) | wrk ctl ms %s / %s (ratio) | wrk req per CPU-s %s / %s (ratio)\n", a, b, a, b, a, b
            for (p = 1; p <= no[a] && p <= no[b]; p++)
                printf "%d | %.1f / %.1f (%.2fx) | %.1f / %.1f (%.2fx) | %.0f / %.0f (%.3fx)\n", p,
                    oc[a, p] / 1e6, oc[b, p] / 1e6, oc[b, p] / oc[a, p],
                    wc[a, p] / 1e6, wc[b, p] / 1e6, (wc[a, p] > 0 ? wc[b, p] / wc[a, p] : 0),
                    rc[a, p], rc[b, p], (rc[a, p] > 0 ? rc[b, p] / rc[a, p] : 0)
        }' "$out"
    rm -f "$out"
    exit 0
fi
KEYS=${1:?number of keys}
SECS=${2:-15}
RATE=${3:-20000}
BIN=${BIN:-target/release/tollgate}
BENCH=${BENCH:-target/release/tollgate-bench}
PORT=${PORT:-27400}
DIR=$(mktemp -d)
pid=
cleanup() {
    [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
    wait 2>/dev/null || true
    rm -rf "$DIR"
}
trap cleanup EXIT
export TOLLGATE_ACCESS_KEY_ID=AKIDKEYSSCALE TOLLGATE_SECRET_ACCESS_KEY=keys-scale-secret TOLLGATE_LOG=warn
"$BIN" serve --listen "127.0.0.1:$PORT" --admin-listen "127.0.0.1:$((PORT + 1))" \
    --raft-listen 127.0.0.1:0 --data-dir "$DIR/data" --workers 1 >"$DIR/out" 2>&1 &
pid=$!
for _ in $(seq 100); do grep -q "admin API" "$DIR/out" 2>/dev/null && break; sleep 0.2; done
export AWS_ACCESS_KEY_ID=$TOLLGATE_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY=$TOLLGATE_SECRET_ACCESS_KEY
export AWS_MAX_ATTEMPTS=1 AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_PAGER=
aws() { command aws apigateway --endpoint-url "http://127.0.0.1:$((PORT + 1))" --region us-east-1 --output text "$@"; }
api=$(aws create-rest-api --name keys --query id)
root=$(aws get-resources --rest-api-id "$api" --query 'items[0].id')
aws put-method --rest-api-id "$api" --resource-id "$root" --http-method GET \
    --authorization-type NONE --api-key-required >/dev/null
aws put-integration --rest-api-id "$api" --resource-id "$root" --http-method GET --type MOCK \
    --request-templates '{"application/json":"{\"statusCode\":200}"}' >/dev/null
aws put-method-response --rest-api-id "$api" --resource-id "$root" --http-method GET \
    --status-code 200 >/dev/null
aws put-integration-response --rest-api-id "$api" --resource-id "$root" --http-method GET \
    --status-code 200 --response-templates '{"application/json":"{\"ok\":true}"}' >/dev/null
aws create-deployment --rest-api-id "$api" --stage-name prod >/dev/null
plan=$(aws create-usage-plan --name p --api-stages "apiId=$api,stage=prod" \
    --quota limit=1000000000,period=DAY --query id)
rss_kb() { awk '/^VmRSS/{print $2}' "/proc/$pid/status"; }
rss0=$(rss_kb)
for ((b = 0; b < KEYS; b += 10000)); do
    {
        echo "Name,Key,Enabled,UsagePlanIds"
        for ((i = b; i < b + 10000 && i < KEYS; i++)); do
            printf 'k%d,keys-scale-value-%08d,TRUE,%s\n' "$i" "$i" "$plan"
        done
    } >"$DIR/keys.csv"
    aws import-api-keys --body "fileb://$DIR/keys.csv" --format csv >/dev/null
done
sleep 2 # the key table compiles on the compiler thread
rss1=$(rss_kb)
echo "keys=$KEYS rss-before-import-kb=$rss0 rss-after-import-kb=$rss1 per-key-bytes=$(((rss1 - rss0) * 1024 / KEYS))"
for ((i = 0; i < 2000 && i < KEYS; i++)); do printf 'keys-scale-value-%08d\n' "$i"; done >"$DIR/traffic"
url="http://127.0.0.1:$PORT/restapis/$api/prod/_user_request_/"
for _ in $(seq 100); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' -H "x-api-key: keys-scale-value-00000000" "$url")" = 200 ] && break
    sleep 0.1
done
# Nanoseconds on the CPU: the control thread's, and all the process's threads' together.
ctl_ns() { awk '{print $1}' "/proc/$pid/task/$pid/schedstat"; }
proc_ns() { cat /proc/"$pid"/task/*/schedstat 2>/dev/null | awk '{s += $1} END {printf "%.0f\n", s}'; }
if [ -n "${PERF_OUT:-}" ]; then
    perf record -q -g -t "$pid" -o "$PERF_OUT" -- sleep "$SECS" >/dev/null 2>&1 &
fi
t0=$(ctl_ns)
"$BENCH" run "$url" --api-keys "$DIR/traffic" --rate "$RATE" --duration "$SECS" --connections 32 --quiet
t1=$(ctl_ns)
echo "keys=$KEYS open: control-thread-cpu-ns=$((t1 - t0)) control-thread-cpu-ms=$(((t1 - t0) / 1000000)) secs=$SECS rate=$RATE"
command -v wrk >/dev/null || exit 0
{
    echo 'local keys = {}'
    echo 'for line in io.lines("'"$DIR/traffic"'") do keys[#keys + 1] = line end'
    echo 'local i = 0'
    echo 'request = function()'
    echo '  i = i % #keys + 1'
    echo '  return wrk.format("GET", nil, { ["x-api-key"] = keys[i] })'
    echo 'end'
} >"$DIR/keys.lua"
t0=$(ctl_ns)
p0=$(proc_ns)
wrk -t1 -c32 -d"${SECS}s" -s "$DIR/keys.lua" "$url" >"$DIR/wrk.out"
t1=$(ctl_ns)
p1=$(proc_ns)
awk -v keys="$KEYS" -v secs="$SECS" -v ctl=$((t1 - t0)) -v cpu=$((p1 - p0)) \
    '/Requests\/sec/{rps=$2} / [0-9]+ requests in/{n=$1} /Non-2xx/{bad=$NF}
     END{printf "keys=%d wrk: rps=%.0f non-2xx=%d process-cpu-s=%.2f req-per-cpu-s=%.0f control-thread-cpu-ns=%d control-thread-ns-per-req=%.1f secs=%s\n",
         keys, rps, bad, cpu/1e9, (cpu > 0 ? n*1e9/cpu : 0), ctl, (n > 0 ? ctl/n : 0), secs}' "$DIR/wrk.out"
