#!/usr/bin/env bash
# Elections per hour on a 3-node local cluster whose cores are saturated: data-plane traffic
# (tollgate-bench, open loop), BUSY busy loops standing in for a parallel test suite, and an
# admin writer (one CreateRestApi a second through node 2, no SDK retries) that counts 503s.
# Elections are counted as the rise of the highest Raft term over the run (every election
# round, won or not, raises it by at least one).
#   usage: bench/scripts/elections.sh [SECONDS] [BUSY]    (from the workspace root, debug build)
set -euo pipefail
SECS=${1:-180}
BUSY=${2:-2}
BIN=${BIN:-target/debug/tollgate}
BENCH=${BENCH:-target/debug/tollgate-bench}
PORT=${PORT:-27000}
DIR=$(mktemp -d)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$DIR"
}
trap cleanup EXIT
"$BIN" cluster local --nodes 3 --dir "$DIR/c" --base-port "$PORT" --workers 2 >"$DIR/out" 2>&1 &
pids+=($!)
for _ in $(seq 60); do grep -q "admin credentials" "$DIR/out" 2>/dev/null && break; sleep 0.5; done
export AWS_ACCESS_KEY_ID=$(sed -n 's/^access_key_id = "\(.*\)"/\1/p' "$DIR/c/admin-credentials.toml")
export AWS_SECRET_ACCESS_KEY=$(sed -n 's/^secret_access_key = "\(.*\)"/\1/p' "$DIR/c/admin-credentials.toml")
export AWS_MAX_ATTEMPTS=1 AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_PAGER=
term() {
    local max=0 t
    for n in 1 2 3; do
        t=$("$BIN" cluster status --admin "127.0.0.1:$((PORT + 10 * n + 1))" \
            --access-key-id "$AWS_ACCESS_KEY_ID" --secret-access-key "$AWS_SECRET_ACCESS_KEY" 2>/dev/null |
            sed -n 's/.*"term": *\([0-9]*\).*/\1/p; s/^term: *\([0-9]*\)/\1/p' | head -1)
        [ -n "$t" ] && [ "$t" -gt "$max" ] && max=$t
    done
    echo "$max"
}
sleep 3
start=$(term)
for _ in $(seq "$BUSY"); do (while :; do :; done) & pids+=($!); done
"$BENCH" run --rate 20000 --duration "$SECS" \
    "http://127.0.0.1:$((PORT + 10))/x" "http://127.0.0.1:$((PORT + 20))/x" \
    "http://127.0.0.1:$((PORT + 30))/x" >"$DIR/bench" 2>&1 &
pids+=($!)
ok=0; unavailable=0; other=0
end_at=$((SECONDS + SECS))
while [ "$SECONDS" -lt "$end_at" ]; do
    if out=$(aws apigateway create-rest-api --name e --endpoint-url "http://127.0.0.1:$((PORT + 21))" \
        --region us-east-1 2>&1); then ok=$((ok + 1));
    elif grep -q "ServiceUnavailable\|503" <<<"$out"; then unavailable=$((unavailable + 1));
    else other=$((other + 1)); fi
    sleep 1
done
end=$(term)
elections=$((end - start))
echo "seconds=$SECS busy_loops=$BUSY term_start=$start term_end=$end elections=$elections" \
    "per_hour=$((elections * 3600 / SECS)) writes_ok=$ok writes_503=$unavailable writes_other=$other"
