#!/usr/bin/env bash
# Load test of the release webhook over HTTPS with HTTP/1.1 keep-alive (what kube-apiserver uses), next
# to a static nginx TLS endpoint answering the webhook's own answer (the ceiling), measured in the same
# run with the same client and body: the 8-GPU training pod review from ../shared/admission/.
#
#   webhook/bench/load.sh [SECONDS]      (default 10 per measurement)
#   REPEAT=5 webhook/bench/load.sh 5     rounds of the saturation pair (default 3)
#   BASELINE=/path/to/older/mltrain-webhook webhook/bench/load.sh    an older build side by side
#
# Saturation: wrk (1 thread, 16 connections), REPEAT rounds, each measuring nginx then the webhook
# (then the baseline), so every ratio compares figures taken seconds apart; the median and the range
# of the rounds are reported. Fixed rates: the open-loop generator in webhook/examples/loadgen.rs, 16
# keep-alive connections (Debian's hey cannot talk to rustls), with p99.9. Also peak RSS and the time
# from start to ready. Servers and clients are pinned to different CPUs (see lib.sh).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
secs=${1:-10}
rounds=${REPEAT:-3}
(cd "$root" && cargo build --release -q -p mltrain-webhook --bin mltrain-webhook --example loadgen)
cp "$root/target/release/mltrain-webhook" "$work/mltrain-webhook"

targets=(webhook)
start_webhook "$work/mltrain-webhook" webhook
declare -A addr=([webhook]=$waddr) pid=([webhook]=$wpid)
rss_idle=$(awk '/VmRSS/{print $2}' /proc/$wpid/status)
if [ -n "${BASELINE:-}" ]; then
  start_webhook "$BASELINE" baseline
  targets+=(baseline); addr[baseline]=$waddr; pid[baseline]=$wpid
fi
curl -s --cacert "$work/ca.crt" "https://localhost:${addr[webhook]##*:}/mutate" -H 'content-type: application/json' \
  --data-binary @"$BODY_FILE" > "$work/response.json"
start_nginx "$work/response.json"
addr[nginx]=127.0.0.1:$nport

echo "machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg); $pinning; body $(wc -c < "$BODY_FILE") bytes; ${secs}s per run"
echo "start to ready: ${ready_ms} ms (process spawn to ready log line; ${startup_ms} ms inside the process); idle RSS $((rss_idle/1024)) MiB"
row() { printf '%-40s %8s %8s %8s %8s  %s\n' "$@"; }
row "run" "req/s" "p50 ms" "p99 ms" "p999 ms" "notes"
: > "$work/sat"
for round in $(seq "$rounds"); do
  for t in nginx "${targets[@]}"; do
    read -r rps p50 p99 note < <(wrk_run "https://${addr[$t]}/mutate")
    row "$t, wrk saturation (round $round)" "$rps" "$p50" "$p99" "-" "$note"
    echo "$round $t $rps" >> "$work/sat"
  done
done
for rate in 0 1000 5000; do
  what=$([ "$rate" = 0 ] && echo "loadgen saturation" || echo "fixed ${rate}/s")
  for t in nginx "${targets[@]}"; do
    read -r a b c d e < <(fixed_run "${addr[$t]}" /mutate "$rate")
    row "$t, $what" "$a" "$b" "$c" "$d" "$e"
  done
done
for t in "${targets[@]}"; do
  echo "$t peak RSS under load: $(( $(awk '/VmHWM/{print $2}' /proc/${pid[$t]}/status) / 1024 )) MiB"
done
python3 - "$work/sat" "${targets[@]}" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
rps = {}
for rnd, t, v in rows:
    rps.setdefault(t, {})[rnd] = float(v)
for t in ["nginx"] + sys.argv[2:]:
    v = list(rps[t].values())
    line = f"{t}: wrk saturation median {statistics.median(v):.0f} req/s (range {min(v):.0f}-{max(v):.0f})"
    if t != "nginx":
        ratios = [rps[t][r] / rps["nginx"][r] for r in rps[t]]
        line += f"; / nginx in the same round: median {statistics.median(ratios):.2f} (range {min(ratios):.2f}-{max(ratios):.2f})"
    print(line)
PY
