#!/usr/bin/env bash
# Side-by-side throughput of Tollgate and nginx on loopback, in one run, with wrk.
# Until tollgate-bench (issue 6) lands this is the reproducible comparison behind
# docs/BENCHMARKS.md. Needs: wrk, nginx (Debian), aws CLI; builds tollgate in release.
# Usage: scripts/quick-compare.sh [duration_s=5] [connections=32] [workers=1]
# BIN=path/to/tollgate runs another build of tollgate (e.g. an older commit's) instead of
# building this tree. Besides requests per second, each row gives the server's CPU time over
# the run (all its threads, from /proc: nginx's worker processes, tollgate's whole process)
# and requests per CPU-second, which is what the comparison is about on a shared machine.
# ACCESS_LOG=1 measures only keyed MOCK, with the stage's access log off and then on (a JSON
# format of 12 $context variables, written to a file in the node's data folder).
# INTEGRATIONS=1 measures integration kinds side by side against the same nginx upstream:
# HTTP_PROXY over http, HTTP_PROXY over https (nginx TLS 1.3 upstream, a self-signed
# certificate admitted by insecureSkipVerification), HTTP (non-proxy) with a request and a
# response mapping template, and a 4 kB MOCK answer with minimumCompressionSize 1024 fetched
# with and without Accept-Encoding: gzip.
set -euo pipefail
cd "$(dirname "$0")/.."
DUR=${1:-5}; CONNS=${2:-32}; WORKERS=${3:-1}
for t in wrk nginx aws; do command -v $t >/dev/null || { echo "missing: $t (apt-get install wrk nginx; pip install awscli)"; exit 2; }; done
if [ -z "${BIN:-}" ]; then cargo build --release -q -p tollgate-node; BIN=./target/release/tollgate; fi
work=$(mktemp -d); trap 'kill $(jobs -p) 2>/dev/null; [ -f $work/nginx.pid ] && kill $(cat $work/nginx.pid) 2>/dev/null; rm -rf $work' EXIT
BODY='{"ok":true,"n":1}'
cat > $work/nginx.conf <<NGX
worker_processes $WORKERS;
daemon on; pid $work/nginx.pid; error_log $work/error.log;
events { worker_connections 4096; }
http {
  access_log off;
  server { listen 127.0.0.1:18097; location / { default_type application/json; return 200 '$BODY'; } }
  server { listen 127.0.0.1:18099; location / { default_type application/json; return 200 '$BODY'; } }
  server { listen 127.0.0.1:18095 ssl; ssl_certificate $work/up.pem; ssl_certificate_key $work/up.key; ssl_protocols TLSv1.3;
    keepalive_requests 100000000; location / { default_type application/json; return 200 '$BODY'; } }
  upstream up { server 127.0.0.1:18099; keepalive 64; }
  server { listen 127.0.0.1:18096; location / { proxy_pass http://up; proxy_http_version 1.1; proxy_set_header Connection ""; } }
}
NGX
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout $work/up.key -out $work/up.pem \
  -days 2 -subj /CN=localhost -addext subjectAltName=DNS:localhost 2>/dev/null
nginx -c $work/nginx.conf
export TOLLGATE_ACCESS_KEY_ID=AKIDBENCH TOLLGATE_SECRET_ACCESS_KEY=benchsecret AWS_ACCESS_KEY_ID=AKIDBENCH AWS_SECRET_ACCESS_KEY=benchsecret AWS_PAGER=
TOLLGATE_LOG=warn "$BIN" serve --listen 127.0.0.1:18098 --admin-listen 127.0.0.1:18090 --data-dir $work/data --workers $WORKERS > $work/tollgate.log &
TG_PID=$!
for _ in $(seq 50); do grep -q "admin API" $work/tollgate.log 2>/dev/null && break; sleep 0.1; done
ag() { aws apigateway --endpoint-url http://127.0.0.1:18090 --region us-east-1 --output text "$@"; }
API=$(ag create-rest-api --name bench --query id)
ROOT=$(ag get-resources --rest-api-id $API --query 'items[0].id')
for part in mock keyed proxy; do
  RID=$(ag create-resource --rest-api-id $API --parent-id $ROOT --path-part $part --query id)
  keyed=(); [ $part = keyed ] && keyed=(--api-key-required)
  ag put-method --rest-api-id $API --resource-id $RID --http-method GET --authorization-type NONE "${keyed[@]}" >/dev/null
  if [ $part != proxy ]; then
    ag put-integration --rest-api-id $API --resource-id $RID --http-method GET --type MOCK --request-templates '{"application/json":"{\"statusCode\": 200}"}' >/dev/null
    ag put-method-response --rest-api-id $API --resource-id $RID --http-method GET --status-code 200 >/dev/null
    ag put-integration-response --rest-api-id $API --resource-id $RID --http-method GET --status-code 200 --response-templates "{\"application/json\":\"$(echo $BODY | sed 's/"/\\"/g')\"}" >/dev/null
  else
    ag put-integration --rest-api-id $API --resource-id $RID --http-method GET --type HTTP_PROXY --integration-http-method GET --uri http://127.0.0.1:18099/ >/dev/null
  fi
done
if [ -n "${INTEGRATIONS:-}" ]; then
  put() { RID=$(ag create-resource --rest-api-id $API --parent-id $ROOT --path-part $1 --query id)
    ag put-method --rest-api-id $API --resource-id $RID --http-method GET --authorization-type NONE >/dev/null; }
  put tlsproxy
  ag put-integration --rest-api-id $API --resource-id $RID --http-method GET --type HTTP_PROXY --integration-http-method GET --uri https://localhost:18095/ --tls-config insecureSkipVerification=true >/dev/null
  put http
  ag put-integration --rest-api-id $API --resource-id $RID --http-method GET --type HTTP --integration-http-method POST --uri http://127.0.0.1:18099/ \
    --request-templates '{"application/json":"{\"id\": \"$input.params(\u0027id\u0027)\", \"stage\": \"$context.stage\", \"ua\": \"$util.escapeJavaScript($input.params(\u0027User-Agent\u0027))\"}"}' >/dev/null
  ag put-method-response --rest-api-id $API --resource-id $RID --http-method GET --status-code 200 >/dev/null
  ag put-integration-response --rest-api-id $API --resource-id $RID --http-method GET --status-code 200 --selection-pattern "" \
    --response-templates '{"application/json":"{\"ok\": $input.json(\u0027$.ok\u0027), \"request\": \"$context.requestId\"}"}' >/dev/null
  put big
  BIG=$(python3 -c 'print("x" * 4096)')
  ag put-integration --rest-api-id $API --resource-id $RID --http-method GET --type MOCK --request-templates '{"application/json":"{\"statusCode\": 200}"}' >/dev/null
  ag put-method-response --rest-api-id $API --resource-id $RID --http-method GET --status-code 200 >/dev/null
  ag put-integration-response --rest-api-id $API --resource-id $RID --http-method GET --status-code 200 --response-templates "{\"application/json\":\"{\\\"data\\\": \\\"$BIG\\\"}\"}" >/dev/null
  ag update-rest-api --rest-api-id $API --patch-operations op=replace,path=/minimumCompressionSize,value=1024 >/dev/null
fi
ag create-deployment --rest-api-id $API --stage-name prod >/dev/null
# The keyed route: a key in a usage plan with a throttle and a quota high enough never to refuse.
PLAN=$(ag create-usage-plan --name bench --api-stages apiId=$API,stage=prod --throttle burstLimit=5000000,rateLimit=5000000 --quota limit=2000000000,period=DAY --query id)
KEY_ID=$(ag create-api-key --name bench --enabled --value quick-compare-key-0123456789 --query id)
ag create-usage-plan-key --usage-plan-id $PLAN --key-id $KEY_ID --key-type API_KEY >/dev/null
T=http://127.0.0.1:18098/restapis/$API/prod/_user_request_
NGINX_PIDS=$(pgrep -P "$(cat $work/nginx.pid)" | tr '\n' ' ')
HZ=$(getconf CLK_TCK)
ticks() { local t=0 p; for p in $1; do t=$((t + $(awk '{print $14 + $15}' /proc/$p/stat))); done; echo $t; }
# run NAME URL PIDS [wrk args...]
run() {
  local name=$1 url=$2 pids=$3; shift 3
  printf "%-28s" "$name"
  local t0; t0=$(ticks "$pids")
  wrk -t1 -c$CONNS -d${DUR}s "$@" "$url" > $work/wrk.out
  local cpu=$(( ($(ticks "$pids") - t0) * 1000 / HZ ))
  awk -v cpu=$cpu -v dur=$DUR '/Latency/{lat=$2} /Requests\/sec/{rps=$2} END{printf "%10.0f req/s  mean %-8s server CPU %5.2f s  %8.0f req per CPU-s\n", rps, lat, cpu/1000, (cpu > 0 ? rps*dur*1000/cpu : 0)}' $work/wrk.out
}
echo "workers=$WORKERS connections=$CONNS duration=${DUR}s ($(nproc) cores, wrk -t1 on the same machine)"
if [ -n "${ACCESS_LOG:-}" ]; then
  FMT='{"requestId":"$context.requestId","ip":"$context.identity.sourceIp","time":"$context.requestTime","method":"$context.httpMethod","path":"$context.path","resource":"$context.resourcePath","status":"$context.status","len":"$context.responseLength","latency":"$context.responseLatency","ua":"$context.identity.userAgent","keyId":"$context.identity.apiKeyId","error":"$context.error.message"}'
  LOG_ON=$(python3 -c 'import json,sys; print(json.dumps([{"op":"replace","path":"/accessLogSettings/destinationArn","value":"arn:aws:logs:us-east-1:123456789012:log-group:bench"},{"op":"replace","path":"/accessLogSettings/format","value":sys.argv[1]}]))' "$FMT")
  for round in 1 2; do
    run "keyed MOCK, access log off" $T/keyed $TG_PID -H "x-api-key: quick-compare-key-0123456789"
    ag update-stage --rest-api-id $API --stage-name prod --patch-operations "$LOG_ON" >/dev/null
    run "keyed MOCK, access log on" $T/keyed $TG_PID -H "x-api-key: quick-compare-key-0123456789"
    ag update-stage --rest-api-id $API --stage-name prod --patch-operations op=remove,path=/accessLogSettings >/dev/null
  done
  echo "access log: $(wc -l < $work/data/access-logs/bench.log) records in the current file"
  curl -s http://127.0.0.1:18090/metrics | grep '^tollgate_access_log' || true
  exit 0
fi
if [ -n "${INTEGRATIONS:-}" ]; then
  curl -sf $T/tlsproxy >/dev/null && curl -sf "$T/http?id=7" >/dev/null && [ "$(curl -s -H 'Accept-Encoding: gzip' $T/big | gunzip | wc -c)" -gt 4096 ] \
    || { echo "a route does not answer as expected"; exit 1; }
  for round in 1 2; do
    run "tollgate HTTP_PROXY http" $T/proxy $TG_PID
    run "tollgate HTTP_PROXY https" $T/tlsproxy $TG_PID
    run "tollgate HTTP templates" "$T/http?id=7" $TG_PID
    run "tollgate MOCK 4 kB" $T/big $TG_PID
    run "tollgate MOCK 4 kB gzip" $T/big $TG_PID -H "Accept-Encoding: gzip"
  done
  exit 0
fi
for round in 1 2; do
  run "nginx return 200" http://127.0.0.1:18097/ "$NGINX_PIDS"
  run "tollgate MOCK" $T/mock $TG_PID
  run "tollgate keyed MOCK" $T/keyed $TG_PID -H "x-api-key: quick-compare-key-0123456789"
  [ -n "${ONLY_MOCK:-}" ] && continue
  run "upstream direct" http://127.0.0.1:18099/ "$NGINX_PIDS"
  run "nginx proxy_pass" http://127.0.0.1:18096/ "$NGINX_PIDS"
  run "tollgate HTTP_PROXY" $T/proxy $TG_PID
done
