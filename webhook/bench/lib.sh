# Shared by load.sh and breakdown.sh (sourced, not run): tools, a CA and serving certificate, the
# request body, the webhook and a static nginx TLS endpoint (the ceiling), and the two clients.
#
# Pinning: on a machine with at least 2 cores, every server (webhook and nginx alike, one worker
# each) runs on CPU $SERVER_CPU (default 1) and every client on CPU $CLIENT_CPU (default 0), so the
# client never takes the server's core and the ceiling is measured on exactly the resources the
# webhook gets. PIN=0 turns it off. Traffic stays on 127.0.0.1; every run is bounded in time.
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
shared=${MLTRAIN_SHARED_DIR:-$(cd "$root/.." && pwd)/shared}

missing=()
for t in wrk nginx openssl curl taskset; do command -v "$t" >/dev/null || missing+=("$t"); done
if [ ${#missing[@]} -gt 0 ]; then
  pkgs=$(printf '%s\n' "${missing[@]}" | sed 's/^nginx$/nginx-light/; s/^taskset$/util-linux/' | tr '\n' ' ')
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $pkgs >/dev/null
fi

if [ "${PIN:-1}" = 1 ] && [ "$(nproc)" -ge 2 ]; then
  server_pin=(taskset -c "${SERVER_CPU:-1}")
  client_pin=(taskset -c "${CLIENT_CPU:-0}")
  pinning="servers on CPU ${SERVER_CPU:-1}, clients on CPU ${CLIENT_CPU:-0} (taskset)"
else
  server_pin=()
  client_pin=()
  pinning="not pinned"
fi

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
# The 8-GPU training pod review, compact as kube-apiserver sends it.
python3 -c 'import json,sys; json.dump(json.load(open(sys.argv[1])), open(sys.argv[2],"w"), separators=(",",":"))' \
  "$shared/admission/pod-create-indexed-job-rank2-8gpu.json" "$work/body.json"
export BODY_FILE="$work/body.json"

start_webhook() {  # BINARY [NAME] -> sets waddr, wpid, ready_ms, startup_ms; logs one JSON line per admission
  local t0 t1 log="$work/${2:-webhook}.log"
  t0=$(date +%s%N)
  "${server_pin[@]}" "$1" --tls-cert-file "$work/tls.crt" --tls-key-file "$work/tls.key" \
    --listen 127.0.0.1:0 --probe-listen 127.0.0.1:0 --no-cluster --log-format json > "$log" 2>&1 &
  wpid=$!; pids+=("$wpid")
  until grep -q '"message":"ready"' "$log" 2>/dev/null; do
    kill -0 "$wpid" 2>/dev/null || { echo "the webhook did not start:" >&2; cat "$log" >&2; exit 1; }
    sleep 0.001
  done
  t1=$(date +%s%N)
  ready_ms=$(( (t1 - t0) / 1000000 ))
  read -r waddr startup_ms < <(grep '"message":"ready"' "$log" | python3 -c 'import json,sys; r=json.loads(sys.stdin.readline()); print(r["admission"], round(r["startup_ms"],2))')
}

start_nginx() {  # RESPONSE_FILE [WRAPPER...] -> sets nport, npid; nginx answers that file's bytes to every request
  nport=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  mkdir -p "$work/nginx"
  local workers=auto
  [ ${#server_pin[@]} -gt 0 ] && workers=1
  cat > "$work/nginx/nginx.conf" <<NGINX
worker_processes $workers;
master_process $([ $# -gt 1 ] && echo off || echo on);
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
    location / { default_type application/json; return 200 '$(cat "$1")'; }
  }
}
NGINX
  local response=$1; shift
  "${server_pin[@]}" "$@" nginx -c "$work/nginx/nginx.conf" -g 'daemon off;' &
  npid=$!; pids+=("$npid")
  for _ in $(seq 100); do curl -sk -o /dev/null "https://127.0.0.1:$nport/" && break; sleep 0.05; done
}

wrk_run() {  # URL -> "rps p50 p99 notes" (wrk reports no p999)
  "${client_pin[@]}" wrk -t1 -c16 -d"${secs}s" --latency -s "$root/webhook/bench/post.lua" "$1" > "$work/wrk.txt"
  python3 - "$work/wrk.txt" <<'PY'
import re, sys
t = open(sys.argv[1]).read()
def ms(v, u): return float(v) * {"us": 0.001, "ms": 1, "s": 1000}[u]
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", t).group(1))
p = {k: ms(v, u) for k, v, u in re.findall(r"^\s+(50|99)%\s+([\d.]+)(us|ms|s)$", t, re.M)}
errs = re.search(r"Non-2xx or 3xx responses: (\d+)|Socket errors: .*", t)
print(f"{rps:.0f} {p['50']:.3f} {p['99']:.3f} {'errors:'+errs.group(0).replace(' ', '') if errs else 'ok'}")
PY
}

fixed_run() {  # ADDR PATH RATE -> "rps p50 p99 p999 notes"
  "${client_pin[@]}" "$root/target/release/examples/loadgen" --addr "$1" --path "$2" --body "$BODY_FILE" --ca "$work/ca.crt" \
    --rate "$3" --connections 16 --seconds "$secs" | python3 -c '
import json, sys
r = json.loads(sys.stdin.read())
print(r["rps"], r["p50_ms"], r["p99_ms"], r["p999_ms"], "non-200:%d,errors:%d" % (r["non_200"], r["errors"]))'
}
