#!/usr/bin/env bash
# Throughput, p99 and the control thread's CPU with many API keys: one node, one worker, KEYS
# keys imported (ImportApiKeys CSV, in batches of 10 000) into one usage plan with a quota, and
# keyed MOCK traffic spread over the first 2 000 of them while usage reports flow (4 a second).
# The control thread is the process's main thread (it applies commands and runs the apply
# hook); its CPU is read from /proc/<pid>/task/<pid>/stat over the traffic window.
# Then, when wrk is installed, the capacity: wrk (closed loop, 32 connections, one thread) cycling
# through the same keys, giving requests per second, the whole process's CPU and requests per
# CPU-second, and the control thread's CPU over that run.
#   usage: bench/scripts/keys-scale.sh KEYS [SECONDS] [RATE]   (from the workspace root)
# PERF_OUT=FILE also records the control thread with `perf record -g` over the open-loop window.
set -euo pipefail
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
ticks() { awk '{print $14 + $15}' "/proc/$pid/task/$pid/stat"; }
proc_ticks() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
if [ -n "${PERF_OUT:-}" ]; then
    perf record -q -g -t "$pid" -o "$PERF_OUT" -- sleep "$SECS" >/dev/null 2>&1 &
fi
t0=$(ticks)
"$BENCH" run "$url" --api-keys "$DIR/traffic" --rate "$RATE" --duration "$SECS" --connections 32 --quiet
t1=$(ticks)
hz=$(getconf CLK_TCK)
echo "keys=$KEYS control-thread-cpu-ms=$(((t1 - t0) * 1000 / hz)) over ${SECS}s"
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
t0=$(ticks)
p0=$(proc_ticks)
wrk -t1 -c32 -d"${SECS}s" -s "$DIR/keys.lua" "$url" >"$DIR/wrk.out"
t1=$(ticks)
p1=$(proc_ticks)
awk -v keys="$KEYS" -v secs="$SECS" -v ctl=$(((t1 - t0) * 1000 / hz)) -v cpu=$(((p1 - p0) * 1000 / hz)) \
    '/Requests\/sec/{rps=$2} / [0-9]+ requests in/{n=$1} /Non-2xx/{bad=$NF}
     END{printf "keys=%d wrk: %.0f req/s, %d non-2xx, process CPU %.2f s, %.0f req per CPU-s, control-thread-cpu-ms=%d over %ss\n",
         keys, rps, bad, cpu/1000, (cpu > 0 ? n*1000/cpu : 0), ctl, secs}' "$DIR/wrk.out"
