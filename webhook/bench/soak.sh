#!/usr/bin/env bash
# Soak test of the webhook: COUNT admissions (default 1,000,000) over 16 keep-alive connections,
# 80% valid reviews (8-GPU pod to /mutate, PyTorchJob to /validate, each with its own uid) and 20%
# malformed bodies. Passes only if every valid request got 200 with its uid, every malformed one its
# 400, and there was no 5xx and no dropped connection. Reports RSS after warm-up and at the end.
#
#   webhook/bench/soak.sh [COUNT]           release build (what the README reports)
#   SOAK_PROFILE=debug webhook/bench/soak.sh 20000   the short soak CI runs, on the test build
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
shared=${MLTRAIN_SHARED_DIR:-$(cd "$root/.." && pwd)/shared}
count=${1:-1000000}
profile=${SOAK_PROFILE:-release}
flag=$([ "$profile" = release ] && echo --release || true)
(cd "$root" && cargo build $flag -q -p mltrain-webhook --bin mltrain-webhook --example soak)
bin="$root/target/$profile"

work=$(mktemp -d)
wpid=""
cleanup() { [ -n "$wpid" ] && kill "$wpid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj "/CN=soak CA" -keyout "$work/ca.key" -out "$work/ca.crt" 2>/dev/null
openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" -keyout "$work/tls.key" -out "$work/tls.csr" 2>/dev/null
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n' > "$work/ext.cnf"
openssl x509 -req -in "$work/tls.csr" -CA "$work/ca.crt" -CAkey "$work/ca.key" -CAcreateserial -days 1 -extfile "$work/ext.cnf" -out "$work/tls.crt" 2>/dev/null

"$bin/mltrain-webhook" --tls-cert-file "$work/tls.crt" --tls-key-file "$work/tls.key" --listen 127.0.0.1:0 \
  --probe-listen 127.0.0.1:0 --no-cluster --log-format json > "$work/webhook.log" 2>&1 &
wpid=$!
until grep -q '"message":"ready"' "$work/webhook.log" 2>/dev/null; do
  kill -0 "$wpid" 2>/dev/null || { cat "$work/webhook.log" >&2; exit 1; }
  sleep 0.01
done
addr=$(grep '"message":"ready"' "$work/webhook.log" | python3 -c 'import json,sys; print(json.loads(sys.stdin.readline())["admission"])')
run() {
  "$bin/examples/soak" --addr "$addr" --ca "$work/ca.crt" --pod "$shared/admission/pod-create-indexed-job-rank2-8gpu.json" \
    --job "$shared/admission/pytorchjob-create.json" --count "$1" --connections 16
}
run 10000 > /dev/null   # warm-up
rss_start=$(awk '/VmRSS/{print $2}' /proc/$wpid/status)
result=$(run "$count") && ok=1 || ok=0
rss_end=$(awk '/VmRSS/{print $2}' /proc/$wpid/status)
echo "soak ($profile): $result"
echo "soak: webhook RSS after warm-up $((rss_start / 1024)) MiB, at the end $((rss_end / 1024)) MiB ($(nproc) cores)"
kill -0 "$wpid" || { echo "soak: the webhook died" >&2; exit 1; }
[ "$ok" = 1 ] || { echo "soak: FAILED" >&2; exit 1; }
echo "soak: passed"
