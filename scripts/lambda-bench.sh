#!/usr/bin/env bash
# Issue 15's benchmark: a warm AWS_PROXY echo function (awslambdaric, run by the node) vs an
# HTTP_PROXY call to an equivalent local HTTP server (Python, echoing the same way), one
# data-plane worker, open loop (tollgate-bench run). Also the Python server alone, so the
# gateway's added latency can be read off.
#   scripts/lambda-bench.sh [profile] [rates...]      e.g. scripts/lambda-bench.sh release 500 1000 2000
set -euo pipefail
cd "$(dirname "$0")/.."
profile=${1:-release}; shift || true
rates=${*:-500 1000 2000}
bin=target/$profile
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
DATA=$(free_port); ADMIN=$(free_port); ECHO=$(free_port)

# The equivalent HTTP server: HTTP/1.1 keep-alive, answers the request body (empty for GET).
cat > "$work/echo_server.py" <<'PY'
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a): pass
    def do_GET(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
class S(http.server.ThreadingHTTPServer):
    request_queue_size = 128  # the default 5 drops connects made at once (1 s SYN retries)
S(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
PY
python3 "$work/echo_server.py" "$ECHO" &

cat > "$work/tollgate.toml" <<TOML
listen = "127.0.0.1:$DATA"
admin_listen = "127.0.0.1:$ADMIN"
data_dir = "$work/data"
workers = 1
[[functions]]
name = "echo"
handler = "echo.handler"
code = "$PWD/node/tests/data/lambda"
concurrency = ${CONCURRENCY:-2}
TOML
export TOLLGATE_ACCESS_KEY_ID=AKIDBENCH TOLLGATE_SECRET_ACCESS_KEY=bench-secret-0123456789
TOLLGATE_LOG=warn "$bin/tollgate" serve --config "$work/tollgate.toml" > "$work/node.log" 2>&1 &
for _ in $(seq 100); do curl -s "127.0.0.1:$ADMIN/" >/dev/null 2>&1 && break; sleep 0.1; done

aws_() { AWS_ACCESS_KEY_ID=$TOLLGATE_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY=$TOLLGATE_SECRET_ACCESS_KEY \
  AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null aws apigateway "$@" \
  --endpoint-url "http://127.0.0.1:$ADMIN" --region us-east-1 --output text; }
api=$(aws_ create-rest-api --name bench --query id)
root=$(aws_ get-resources --rest-api-id "$api" --query 'items[0].id')
for kind in lambda http; do
  res=$(aws_ create-resource --rest-api-id "$api" --parent-id "$root" --path-part "$kind" --query id)
  aws_ put-method --rest-api-id "$api" --resource-id "$res" --http-method GET --authorization-type NONE >/dev/null
  if [ "$kind" = lambda ]; then
    aws_ put-integration --rest-api-id "$api" --resource-id "$res" --http-method GET --type AWS_PROXY \
      --integration-http-method POST \
      --uri "arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/arn:aws:lambda:us-east-1:123456789012:function:echo/invocations" >/dev/null
  else
    aws_ put-integration --rest-api-id "$api" --resource-id "$res" --http-method GET --type HTTP_PROXY \
      --integration-http-method GET --uri "http://127.0.0.1:$ECHO/" >/dev/null
  fi
done
aws_ create-deployment --rest-api-id "$api" --stage-name bench >/dev/null
base="http://127.0.0.1:$DATA/restapis/$api/bench/_user_request_"
# Warm both (and every process of the function's pool).
for _ in $(seq 50); do curl -s "$base/lambda" >/dev/null; curl -s "$base/http" >/dev/null; done
echo "lambda answer: $(curl -s -i "$base/lambda" | head -1)"

echo "| target | offered/s | achieved/s | 2xx/offered | p50 ms (corrected) | p99 ms (corrected) | p50 ms (uncorrected) | errors+timeouts |"
echo "|---|---|---|---|---|---|---|---|"
for rate in $rates; do
  for target in "direct http://127.0.0.1:$ECHO/" "http_proxy $base/http" "aws_proxy $base/lambda"; do
    set -- $target
    "${BENCH:-$bin/tollgate-bench}" run "$2" --rate "$rate" --duration "${DURATION:-10}" --connections 16 --quiet \
      --json "$work/$1-$rate.json" > "$work/$1-$rate.txt" 2>&1 || true
    python3 - "$work/$1-$rate.json" "$1" "$rate" <<'PY'
import json, sys
t = json.load(open(sys.argv[1]))["total"]
c = t["corrected_us"]
print(f"| {sys.argv[2]} | {sys.argv[3]} | {t['achieved_rate']:.0f} | {t['status_2xx']}/{t['offered']} | "
      f"{c['p50']/1000:.2f} | {c['p99']/1000:.2f} | {t['uncorrected_us']['p50']/1000:.2f} | {t['errors'] + t['timeouts']} |")
PY
  done
done
