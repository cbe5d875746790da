#!/usr/bin/env bash
# HTTPS: Tollgate's custom-domain listener against nginx, same certificate (ECDSA P-256, made
# here with openssl), TLS 1.3 only, one worker each, wrk on the same machine.
#   1. keep-alive: a MOCK route (Tollgate) vs `return 200` (nginx), requests per server CPU-s;
#   2. full handshakes: a new connection per request with session resumption off (wrk
#      resumes sessions, so node/examples/tls_handshakes.rs does this part, the same client
#      for both), handshakes per server CPU-s.
# Server CPU is read from /proc over each run (nginx: its worker; Tollgate: the whole process).
# wrk must send the domain as SNI, so it runs in a private mount namespace whose /etc/hosts
# maps bench.example.com to 127.0.0.1 (the machine's /etc/hosts is not touched).
# Needs: wrk, nginx (Debian), openssl, aws CLI, unshare. BIN=path/to/tollgate to skip the build.
# Usage: scripts/tls-compare.sh [duration_s=5] [connections=32]
# KA=N: only keep-alive, N alternating pairs (nginx, Tollgate), each pair's ratio printed.
# PERF=dir: also `perf record -g` (cpu-clock: this VM has no hardware counters) Tollgate's
#   process and nginx's worker during their keep-alive runs, into dir/tollgate-N.perf and
#   dir/nginx-N.perf (PERF_CG=dwarf: call graphs
#   through code built without frame pointers).
# COUNT=N: only keep-alive, N runs per server under `perf stat` (tracepoints: syscalls,
#   io_uring_enter, io_uring submissions, poll arms, io-wq punts; context switches), printed
#   per request, with the CPU of the worker thread and of the other threads (nginx: its
#   master) from /proc. Counting costs the server some CPU: measure ratios without it.
# BIN2=path: a second Tollgate build in each keep-alive pair (KA only; after BIN in odd pairs,
#   before it in even ones): its ratio to nginx and BIN's to it, for before/after in one run.
# PIN=1: both servers (nginx's processes, Tollgate's whole process) on CPU 1 and the clients on
#   CPU 0 (taskset), so neither server shares its core with wrk: fewer swings between pairs.
set -euo pipefail
cd "$(dirname "$0")/.."
DUR=${1:-5}; CONNS=${2:-32}
for t in wrk nginx aws openssl unshare; do command -v $t >/dev/null || { echo "missing: $t"; exit 2; }; done
if [ -z "${BIN:-}" ]; then cargo build --release -q -p tollgate-node; BIN=./target/release/tollgate; fi
if [ -z "${HS:-}" ] && [ -z "${KA:-}" ] && [ -z "${COUNT:-}" ]; then cargo build --release -q -p tollgate-node --example tls_handshakes; HS=./target/release/examples/tls_handshakes; fi
HS_THREADS=${HS_THREADS:-2}
work=$(mktemp -d); trap 'kill $(jobs -p) 2>/dev/null; [ -f $work/nginx.pid ] && kill $(cat $work/nginx.pid) 2>/dev/null; rm -rf $work' EXIT
NAME=bench.example.com
BODY='{"ok":true,"n":1}'
# The CA and the server certificate (ECDSA P-256).
openssl ecparam -name prime256v1 -genkey -noout -out $work/ca.key 2>/dev/null
openssl req -x509 -new -key $work/ca.key -subj "/CN=bench CA" -days 2 -out $work/ca.pem 2>/dev/null
openssl ecparam -name prime256v1 -genkey -noout -out $work/ec.key 2>/dev/null
openssl pkcs8 -topk8 -nocrypt -in $work/ec.key -out $work/key.pem
openssl req -new -key $work/key.pem -subj "/CN=$NAME" -out $work/req.csr 2>/dev/null
printf "subjectAltName=DNS:$NAME\n" > $work/ext.cnf
openssl x509 -req -in $work/req.csr -CA $work/ca.pem -CAkey $work/ca.key -CAcreateserial -days 2 -extfile $work/ext.cnf -out $work/cert.pem 2>/dev/null
cat > $work/nginx.conf <<NGX
worker_processes 1;
daemon on; pid $work/nginx.pid; error_log $work/error.log;
events { worker_connections 4096; }
http {
  access_log off;
  server {
    listen 127.0.0.1:18443 ssl; server_name $NAME;
    ssl_certificate $work/cert.pem; ssl_certificate_key $work/key.pem; ssl_protocols TLSv1.3;
    keepalive_requests 100000000; keepalive_timeout 300s;
    location / { default_type application/json; return 200 '$BODY'; }
  }
}
NGX
SRV=""; CLI=""
if [ -n "${PIN:-}" ]; then SRV="taskset -c 1"; CLI="taskset -c 0"; fi
$SRV nginx -c $work/nginx.conf
export TOLLGATE_ACCESS_KEY_ID=AKIDBENCH TOLLGATE_SECRET_ACCESS_KEY=benchsecret AWS_ACCESS_KEY_ID=AKIDBENCH AWS_SECRET_ACCESS_KEY=benchsecret AWS_PAGER=
# start_tollgate BIN OFFSET: a Tollgate on ports 18498/18444/18490 + OFFSET with the MOCK route
# and the domain; its pid in TG_STARTED.
start_tollgate() {
  local bin=$1 off=$2 log=$work/tollgate-$2.log
  TOLLGATE_LOG=warn $SRV "$bin" serve --listen 127.0.0.1:$((18498 + off)) --tls-listen 127.0.0.1:$((18444 + off)) --admin-listen 127.0.0.1:$((18490 + off)) --raft-listen 127.0.0.1:$((19190 + off)) --data-dir $work/data-$off --workers 1 > $log &
  TG_STARTED=$!
  for _ in $(seq 100); do grep -q "admin API" $log 2>/dev/null && break; sleep 0.1; done
  ag() { aws apigateway --endpoint-url http://127.0.0.1:$((18490 + off)) --region us-east-1 --output text "$@"; }
  API=$(ag create-rest-api --name bench --query id)
  ROOT=$(ag get-resources --rest-api-id $API --query 'items[0].id')
  RID=$(ag create-resource --rest-api-id $API --parent-id $ROOT --path-part mock --query id)
  ag put-method --rest-api-id $API --resource-id $RID --http-method GET --authorization-type NONE >/dev/null
  ag put-integration --rest-api-id $API --resource-id $RID --http-method GET --type MOCK --request-templates '{"application/json":"{\"statusCode\": 200}"}' >/dev/null
  ag put-method-response --rest-api-id $API --resource-id $RID --http-method GET --status-code 200 >/dev/null
  ag put-integration-response --rest-api-id $API --resource-id $RID --http-method GET --status-code 200 --response-templates "{\"application/json\":\"$(echo $BODY | sed 's/"/\\"/g')\"}" >/dev/null
  ag create-deployment --rest-api-id $API --stage-name prod >/dev/null
  ag create-domain-name --domain-name $NAME --certificate-body file://$work/cert.pem --certificate-private-key file://$work/key.pem \
    --endpoint-configuration types=REGIONAL --security-policy SecurityPolicy_TLS13_1_3_2025_09 >/dev/null
  ag create-base-path-mapping --domain-name $NAME --rest-api-id $API --stage prod >/dev/null
  curl -s --resolve $NAME:$((18444 + off)):127.0.0.1 --cacert $work/ca.pem https://$NAME:$((18444 + off))/mock | grep -q '"ok"' || { echo "tollgate ($bin) does not answer over HTTPS"; exit 1; }
}
start_tollgate "$BIN" 0; TG_PID=$TG_STARTED
if [ -n "${BIN2:-}" ]; then start_tollgate "$BIN2" 100; TG2_PID=$TG_STARTED; fi
printf '127.0.0.1 localhost\n127.0.0.1 %s\n' $NAME > $work/hosts
NGINX_PIDS=$(pgrep -P "$(cat $work/nginx.pid)" | tr '\n' ' ')
HZ=$(getconf CLK_TCK)
ticks() { local t=0 p; for p in $1; do t=$((t + $(awk '{print $14 + $15}' /proc/$p/stat))); done; echo $t; }
# User-mode ticks only (what a change to the server's own code moves; the kernel's TCP work
# and the batching a loaded machine brings move the rest).
uticks() { local t=0 p; for p in $1; do t=$((t + $(awk '{print $14}' /proc/$p/stat))); done; echo $t; }
# run NAME URL PIDS [wrk args...]
run() {
  local name=$1 url=$2 pids=$3; shift 3
  printf "%-34s" "$name"
  local t0 u0; t0=$(ticks "$pids"); u0=$(uticks "$pids")
  $CLI unshare -m --propagation private sh -c "mount --bind $work/hosts /etc/hosts && exec wrk -t1 -c$CONNS -d${DUR}s $* $url" > $work/wrk.out
  local cpu=$(( ($(ticks "$pids") - t0) * 1000 / HZ )) ucpu=$(( ($(uticks "$pids") - u0) * 1000 / HZ ))
  awk -v cpu=$cpu -v ucpu=$ucpu -v dur=$DUR '/Latency/{lat=$2} /Requests\/sec/{rps=$2} /Non-2xx|Socket errors/{err=err" "$0} END{printf "%10.0f req/s  mean %-8s server CPU %5.2f s  %8.0f per CPU-s  user %4.2f us/req%s\n", rps, lat, cpu/1000, (cpu > 0 ? rps*dur*1000/cpu : 0), (rps > 0 ? ucpu*1000/(rps*dur) : 0), err}' $work/wrk.out | tee $work/run.out
  PER_CPU=$(awk '{for (i = 1; i < NF; i++) if ($(i+1) == "per") print $i}' $work/run.out)
}
# handshakes NAME PORT PIDS
handshakes() {
  local name=$1 port=$2 pids=$3
  printf "%-34s" "$name"
  local t0; t0=$(ticks "$pids")
  $CLI $HS 127.0.0.1:$port $NAME $work/ca.pem $DUR $HS_THREADS /mock > $work/hs.out
  local cpu=$(( ($(ticks "$pids") - t0) * 1000 / HZ ))
  awk -v cpu=$cpu '{printf "%10.0f /s  (%d errors)  server CPU %5.2f s  %8.0f per CPU-s\n", $2/$6, $4, cpu/1000, (cpu > 0 ? $2*1000/cpu : 0)}' $work/hs.out
}
echo "TLS 1.3, ECDSA P-256, one worker each, connections=$CONNS duration=${DUR}s ($(nproc) cores, clients on the same machine)"
rss() { echo "  tollgate RSS $(awk '/VmRSS/{print $2}' /proc/$TG_PID/status) kB"; }
if [ -n "${KA:-}" ]; then
  for pair in $(seq "$KA"); do
    if [ -n "${PERF:-}" ]; then
      perf record -q -e cpu-clock --call-graph ${PERF_CG:-fp} -p "$(echo $NGINX_PIDS | tr ' ' ',')" -o "$PERF/nginx-$pair.perf" 2>/dev/null & perf_pid=$!
      sleep 0.2
    fi
    run "nginx return 200 (keep-alive)" https://$NAME:18443/mock "$NGINX_PIDS"; ng=$PER_CPU
    if [ -n "${PERF:-}" ]; then kill -INT $perf_pid; wait $perf_pid 2>/dev/null || true; fi
    # With BIN2, even pairs run it before BIN (so neither build always goes right after nginx).
    if [ -n "${BIN2:-}" ] && [ $((pair % 2)) = 0 ]; then
      run "tollgate BIN2 MOCK (keep-alive)" https://$NAME:18544/mock $TG2_PID; tg2=$PER_CPU
    fi
    if [ -n "${PERF:-}" ]; then
      perf record -q -e cpu-clock --call-graph ${PERF_CG:-fp} -p $TG_PID -o "$PERF/tollgate-$pair.perf" 2>/dev/null & perf_pid=$!
      sleep 0.2
    fi
    run "tollgate MOCK (keep-alive)" https://$NAME:18444/mock $TG_PID; tg=$PER_CPU
    if [ -n "${PERF:-}" ]; then kill -INT $perf_pid; wait $perf_pid 2>/dev/null || true; fi
    if [ -n "${BIN2:-}" ] && [ $((pair % 2)) = 1 ]; then
      run "tollgate BIN2 MOCK (keep-alive)" https://$NAME:18544/mock $TG2_PID; tg2=$PER_CPU
    fi
    awk -v t=$tg -v n=$ng 'BEGIN{printf "pair %d: tollgate / nginx per CPU-s = %.2fx\n", '$pair', t/n}'
    if [ -n "${BIN2:-}" ]; then
      awk -v t=$tg -v t2=$tg2 -v n=$ng 'BEGIN{printf "pair %d: BIN2 / nginx per CPU-s = %.2fx; BIN / BIN2 = %.3fx\n", '$pair', t2/n, t/t2}'
    fi
  done
  rss
  exit 0
fi
# count NAME URL PIDS WORKER_TIDS: one keep-alive run under perf stat, per-request figures.
count() {
  local name=$1 url=$2 pids=$3 wtids=$4
  tt() { local s=0 x; for x in $1; do s=$((s + $(awk '{print $14 + $15}' /proc/${x%/*}/task/${x#*/}/stat 2>/dev/null || echo 0))); done; echo $s; }
  local w0 a0; w0=$(tt "$wtids"); a0=$(ticks "$pids")
  perf stat -x, -o $work/stat.out -e raw_syscalls:sys_enter,syscalls:sys_enter_io_uring_enter,io_uring:io_uring_submit_req,io_uring:io_uring_poll_arm,io_uring:io_uring_queue_async_work,io_uring:io_uring_task_add,syscalls:sys_enter_epoll_wait,syscalls:sys_enter_write,syscalls:sys_enter_read,context-switches -p "$(echo $pids | tr ' ' ',')" &
  local sp=$!; sleep 0.3
  $CLI unshare -m --propagation private sh -c "mount --bind $work/hosts /etc/hosts && exec wrk -t1 -c$CONNS -d${DUR}s $url" > $work/wrk.out
  kill -INT $sp; wait $sp 2>/dev/null || true
  local wcpu=$(( ($(tt "$wtids") - w0) * 1000 / HZ )) acpu=$(( ($(ticks "$pids") - a0) * 1000 / HZ ))
  local reqs; reqs=$(awk '/requests in/{print $1}' $work/wrk.out)
  echo "$name: $reqs requests; CPU ms: worker $wcpu, other threads $((acpu - wcpu)); per request:"
  awk -F, -v n=$reqs '$3 != "" && $1 ~ /^[0-9]/ {printf "  %-42s %8.3f\n", $3, $1 / n}' $work/stat.out
  awk -v n=$reqs -v w=$wcpu -v a=$acpu 'BEGIN{printf "  %-42s %8.2f\n  %-42s %8.2f\n", "worker CPU us", w*1000/n, "other threads CPU us", (a-w)*1000/n}'
}
if [ -n "${COUNT:-}" ]; then
  TG_WORKER=$(for t in /proc/$TG_PID/task/*; do grep -q '^tollgate-w\|^worker' $t/comm && echo $TG_PID/${t##*/}; done | head -1 || true)
  [ -n "$TG_WORKER" ] || { echo "no worker thread found: $(cat /proc/$TG_PID/task/*/comm | tr '\n' ' ')"; exit 1; }
  NG_WORKER=$(for p in $NGINX_PIDS; do echo $p/$p; done)
  for i in $(seq "$COUNT"); do
    count "nginx return 200" https://$NAME:18443/mock "$NGINX_PIDS $(cat $work/nginx.pid)" "$NG_WORKER"
    count "tollgate MOCK" https://$NAME:18444/mock $TG_PID "$TG_WORKER"
  done
  exit 0
fi
if [ -n "${PROBE:-}" ]; then
  # Does a handshake run slow the keep-alive run after it? Keep-alive twice, handshakes,
  # keep-alive twice, nginx alongside as the control.
  for step in ka ka hs ka ka; do
    if [ $step = ka ]; then
      run "nginx return 200 (keep-alive)" https://$NAME:18443/mock "$NGINX_PIDS"
      run "tollgate MOCK (keep-alive)" https://$NAME:18444/mock $TG_PID
    else
      handshakes "nginx full handshakes" 18443 "$NGINX_PIDS"
      handshakes "tollgate full handshakes" 18444 $TG_PID
    fi
    rss
  done
  exit 0
fi
for round in 1 2; do
  run "nginx return 200 (keep-alive)" https://$NAME:18443/mock "$NGINX_PIDS"
  run "tollgate MOCK (keep-alive)" https://$NAME:18444/mock $TG_PID
  handshakes "nginx full handshakes" 18443 "$NGINX_PIDS"
  handshakes "tollgate full handshakes" 18444 $TG_PID
done
