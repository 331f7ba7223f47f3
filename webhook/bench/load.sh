#!/usr/bin/env bash
# Load test of the release webhook over HTTPS with HTTP/1.1 keep-alive (what kube-apiserver uses), next
# to a static nginx TLS endpoint answering a fixed AdmissionReview (the ceiling), measured in the same
# run with the same client and body: the 8-GPU training pod review from ../shared/admission/.
#
#   webhook/bench/load.sh [SECONDS]      (default 10 per measurement)
#
# Reports requests/s and latency at saturation (wrk, 1 thread, 16 connections) and at fixed rates
# (the open-loop generator in webhook/examples/loadgen.rs, 16 keep-alive connections; Debian's hey
# cannot talk to rustls), peak RSS, and time from start to ready. Traffic stays on 127.0.0.1.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
shared=${MLTRAIN_SHARED_DIR:-$(cd "$root/.." && pwd)/shared}
secs=${1:-10}

missing=()
for t in wrk nginx openssl curl; do command -v "$t" >/dev/null || missing+=("$t"); done
if [ ${#missing[@]} -gt 0 ]; then
  pkgs=$(printf '%s\n' "${missing[@]}" | sed 's/^nginx$/nginx-light/' | tr '\n' ' ')
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $pkgs >/dev/null
fi
(cd "$root" && cargo build --release -q -p mltrain-webhook --bin mltrain-webhook --example loadgen)

work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

# A CA and a serving certificate it signs (a self-signed leaf is a CA used as an end entity, which
# strict clients such as rustls refuse).
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj "/CN=mltrain bench CA" -keyout "$work/ca.key" -out "$work/ca.crt" 2>/dev/null
openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" -keyout "$work/tls.key" -out "$work/tls.csr" 2>/dev/null
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' > "$work/ext.cnf"
openssl x509 -req -in "$work/tls.csr" -CA "$work/ca.crt" -CAkey "$work/ca.key" -CAcreateserial -days 1 \
  -extfile "$work/ext.cnf" -out "$work/tls.crt" 2>/dev/null
python3 -c 'import json,sys; json.dump(json.load(open(sys.argv[1])), open(sys.argv[2],"w"), separators=(",",":"))' \
  "$shared/admission/pod-create-indexed-job-rank2-8gpu.json" "$work/body.json"
export BODY_FILE="$work/body.json"

# The webhook, release build, logging one JSON line per admission as in production.
t0=$(date +%s%N)
"$root/target/release/mltrain-webhook" --tls-cert-file "$work/tls.crt" --tls-key-file "$work/tls.key" \
  --listen 127.0.0.1:0 --probe-listen 127.0.0.1:0 --no-cluster --log-format json > "$work/webhook.log" 2>&1 &
wpid=$!; pids+=("$wpid")
until grep -q '"message":"ready"' "$work/webhook.log" 2>/dev/null; do
  kill -0 "$wpid" 2>/dev/null || { echo "the webhook did not start:" >&2; cat "$work/webhook.log" >&2; exit 1; }
  sleep 0.001
done
t1=$(date +%s%N)
ready_ms=$(( (t1 - t0) / 1000000 ))
read -r waddr startup_ms < <(grep '"message":"ready"' "$work/webhook.log" | python3 -c 'import json,sys; r=json.loads(sys.stdin.readline()); print(r["admission"], round(r["startup_ms"],2))')
nport=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
rss_idle=$(awk '/VmRSS/{print $2}' /proc/$wpid/status)

# The ceiling: nginx answering the webhook's own response to this body.
curl -s --cacert "$work/ca.crt" "https://localhost:${waddr##*:}/mutate" -H 'content-type: application/json' --data-binary @"$work/body.json" > "$work/response.json"
mkdir -p "$work/nginx"
cat > "$work/nginx/nginx.conf" <<NGINX
worker_processes auto;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $work/nginx;
  ssl_protocols TLSv1.2 TLSv1.3;
  server {
    listen 127.0.0.1:$nport ssl;
    ssl_certificate $work/tls.crt;
    ssl_certificate_key $work/tls.key;
    client_max_body_size 16m;
    keepalive_requests 10000000;
    location / { default_type application/json; return 200 '$(cat "$work/response.json")'; }
  }
}
NGINX
nginx -c "$work/nginx/nginx.conf" -g 'daemon off;' &
pids+=($!)
for _ in $(seq 100); do curl -sk -o /dev/null "https://127.0.0.1:$nport/" && break; sleep 0.05; done

wrk_run() {  # URL -> "rps p50 p99"
  wrk -t1 -c16 -d"${secs}s" --latency -s "$root/webhook/bench/post.lua" "$1" > "$work/wrk.txt"
  python3 - "$work/wrk.txt" <<'PY'
import re, sys
t = open(sys.argv[1]).read()
def ms(v, u): return float(v) * {"us": 0.001, "ms": 1, "s": 1000}[u]
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", t).group(1))
p = {k: ms(v, u) for k, v, u in re.findall(r"^\s+(50|99)%\s+([\d.]+)(us|ms|s)$", t, re.M)}
errs = re.search(r"Non-2xx or 3xx responses: (\d+)|Socket errors: .*", t)
print(f"{rps:.0f} {p['50']:.3f} {p['99']:.3f} {'errors:'+errs.group(0) if errs else 'ok'}")
PY
}
fixed_run() {  # URL-ADDR RATE -> "rps p50 p99 p999 notes"
  "$root/target/release/examples/loadgen" --addr "$1" --path /mutate --body "$BODY_FILE" --ca "$work/ca.crt" \
    --rate "$2" --connections 16 --seconds "$secs" | python3 -c '
import json, sys
r = json.loads(sys.stdin.read())
print(r["rps"], r["p50_ms"], r["p99_ms"], r["p999_ms"], "non-200:%d errors:%d" % (r["non_200"], r["errors"]))'
}

echo "machine: $(nproc) cores; body $(wc -c < "$BODY_FILE") bytes; ${secs}s per run"
echo "start to ready: ${ready_ms} ms (process spawn to ready log line; ${startup_ms} ms inside the process); idle RSS $((rss_idle/1024)) MiB"
printf '%-34s %10s %10s %10s  %s\n' "run" "req/s" "p50 ms" "p99 ms" "notes"
read -r n_rps n_p50 n_p99 n_note < <(wrk_run "https://127.0.0.1:$nport/mutate")
printf '%-34s %10s %10s %10s  %s\n' "nginx static, wrk saturation" "$n_rps" "$n_p50" "$n_p99" "$n_note"
read -r w_rps w_p50 w_p99 w_note < <(wrk_run "https://$waddr/mutate")
printf '%-34s %10s %10s %10s  %s\n' "webhook /mutate, wrk saturation" "$w_rps" "$w_p50" "$w_p99" "$w_note"
read -r a b c d e < <(fixed_run "127.0.0.1:$nport" 0)
printf '%-34s %10s %10s %10s  p999 %s ms; %s\n' "nginx static, loadgen saturation" "$a" "$b" "$c" "$d" "$e"
read -r a b c d e < <(fixed_run "$waddr" 0)
printf '%-34s %10s %10s %10s  p999 %s ms; %s\n' "webhook /mutate, loadgen saturation" "$a" "$b" "$c" "$d" "$e"
for rate in 1000 5000; do
  read -r a b c d e < <(fixed_run "127.0.0.1:$nport" "$rate")
  printf '%-34s %10s %10s %10s  p999 %s ms; %s\n' "nginx static, fixed ${rate}/s" "$a" "$b" "$c" "$d" "$e"
  read -r a b c d e < <(fixed_run "$waddr" "$rate")
  printf '%-34s %10s %10s %10s  p999 %s ms; %s\n' "webhook /mutate, fixed ${rate}/s" "$a" "$b" "$c" "$d" "$e"
done
peak=$(awk '/VmHWM/{print $2}' /proc/$wpid/status)
echo "webhook peak RSS under load: $((peak/1024)) MiB"
python3 -c "print(f'webhook / nginx ceiling at saturation: {float($w_rps)/float($n_rps):.2f}')"
