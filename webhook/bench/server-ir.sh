#!/usr/bin/env bash
# User-space instructions per request of the whole server (TLS, HTTP, routing, the handler, the log
# thread), counted by callgrind for the webhook and for the static nginx ceiling: figures that hold on a
# busy shared machine where req/s do not. Each server runs under callgrind; the loadgen sends to it over
# 16 keep-alive connections for a short and a long run, each counted separately, and the difference of
# the two divided by the difference in requests cancels start-up and the TLS handshakes. Kernel time
# (the TCP stack, system calls) is not counted: compare with load.sh's req/s for that.
#
#   webhook/bench/server-ir.sh                 BASELINE=/path/to/older/mltrain-webhook to add one
set -euo pipefail
source "$(dirname "$0")/lib.sh"
command -v valgrind >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq valgrind >/dev/null; }
(cd "$root" && cargo build --release -q -p mltrain-webhook --bin mltrain-webhook --example loadgen)
cp "$root/target/release/mltrain-webhook" "$work/mltrain-webhook"
secs=1

measure() {  # NAME ADDR -> "instructions/request"; the server runs under callgrind as $vpid, output $work/NAME.cg
  local out="$work/$1.cg" n1 n2
  "${client_pin[@]}" "$root/target/release/examples/loadgen" --addr "$2" --path /mutate --body "$BODY_FILE" --ca "$work/ca.crt" --rate 0 --connections 16 --seconds 2 > /dev/null
  callgrind_control -z "$vpid" > /dev/null 2>&1
  n1=$(fixed_run "$2" /mutate 0 | awk '{print $1 * '"$secs"'}'); callgrind_control -d "$vpid" > /dev/null 2>&1
  secs=4
  n2=$(fixed_run "$2" /mutate 0 | awk '{print $1 * '"$secs"'}'); callgrind_control -d "$vpid" > /dev/null 2>&1
  secs=1
  python3 - "$n1" "$n2" "$out".* <<'PY'
import re, sys
n1, n2 = float(sys.argv[1]), float(sys.argv[2])
def total(f):
    t = open(f).read()
    return int(re.search(r"^totals: (\d+)", t, re.M).group(1)) if "totals:" in t else int(re.search(r"^summary: (\d+)", t, re.M).group(1))
dumps = sorted(f for f in sys.argv[3:] if re.search(r"\.\d+(-\d+)?$", f))
by_dump = {}
for f in dumps:
    n = int(re.search(r"\.(\d+)(-\d+)?$", f).group(1))
    by_dump[n] = by_dump.get(n, 0) + total(f)
ks = sorted(by_dump)
a, b = by_dump[ks[-2]], by_dump[ks[-1]]
print(f"{(b - a) / (n2 - n1):.0f}")
PY
}

printf '%-30s %22s\n' "server" "instructions/request"
curl_answer() { curl -s --cacert "$work/ca.crt" "https://localhost:${1##*:}/mutate" -H 'content-type: application/json' --data-binary @"$BODY_FILE"; }
for t in webhook ${BASELINE:+baseline}; do
  bin=$([ "$t" = webhook ] && echo "$work/mltrain-webhook" || echo "$BASELINE")
  "${server_pin[@]}" valgrind --tool=callgrind --callgrind-out-file="$work/$t.cg" "$bin" --tls-cert-file "$work/tls.crt" \
    --tls-key-file "$work/tls.key" --listen 127.0.0.1:0 --probe-listen 127.0.0.1:0 --no-cluster --log-format json > "$work/$t.log" 2>&1 &
  vpid=$!; pids+=("$vpid")
  until grep -q '"message":"ready"' "$work/$t.log" 2>/dev/null; do sleep 0.1; done
  a=$(grep '"message":"ready"' "$work/$t.log" | python3 -c 'import json,sys; print(json.loads(sys.stdin.readline())["admission"])')
  [ -f "$work/response.json" ] || curl_answer "$a" > "$work/response.json"
  printf '%-30s %22s\n' "$t" "$(measure "$t" "$a")"
  kill "$vpid"
done
# The ceiling: nginx in one process (no master), under callgrind the same way.
start_nginx "$work/response.json" valgrind --tool=callgrind --callgrind-out-file="$work/nginx.cg"
vpid=$npid
printf '%-30s %22s\n' "nginx static (ceiling)" "$(measure nginx "127.0.0.1:$nport")"
