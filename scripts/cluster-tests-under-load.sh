#!/usr/bin/env bash
# Runs the cluster test binaries (node and consensus) N times in a row while two busy loops
# hold both cores: the reliability check of issue 21 (a test must not fail on a legitimate
# election). Usage: scripts/cluster-tests-under-load.sh [runs=20]
set -uo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-20}
bins=$(cargo test --locked -p tollgate-node -p tollgate-consensus --test cluster --no-run --message-format=json 2>/dev/null \
  | grep -o '"executable":"[^"]*cluster-[^"]*"' | cut -d'"' -f4)
[ -n "$bins" ] || { echo "could not build the cluster test binaries"; exit 2; }
( while :; do :; done ) & b1=$!
( while :; do :; done ) & b2=$!
trap 'kill $b1 $b2 2>/dev/null' EXIT
pass=0; fail=0
for i in $(seq "$RUNS"); do
  ok=1
  for b in $bins; do timeout 300 "$b" -q > "/tmp/cluster-under-load-$i.log" 2>&1 || ok=0; done
  if [ $ok = 1 ]; then pass=$((pass+1)); else fail=$((fail+1)); echo "run $i failed: /tmp/cluster-under-load-$i.log"; fi
done
echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
