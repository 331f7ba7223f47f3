#!/usr/bin/env bash
# The per-request cost breakdown of /mutate on the real server stack (issue 15), measured in one run
# next to the static nginx TLS ceiling: a build with `--features stages` answers POST /stage/NAME by
# running /mutate's own pipeline up to NAME and sending /mutate's answer as a constant for the rest
# (webhook/src/stages.rs). Each stage's cost is the difference in time per request (1 s / req/s, the
# server pinned to one core) from the stage before. wrk at saturation, 1 thread, 16 keep-alive
# connections, the 8-GPU pod review; REPEAT rounds (default 3), each visiting every endpoint in turn,
# reported as the median and range of the rounds. The in-process half, per stage without the network,
# is `cargo bench -p mltrain-webhook --bench stages`.
#
#   webhook/bench/breakdown.sh [SECONDS]      (default 5 per measurement)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
secs=${1:-5}
rounds=${REPEAT:-3}
stages=(routing body parse engine patch serialise log metrics)

(cd "$root" && cargo build --release -q -p mltrain-webhook --bin mltrain-webhook --features stages)
cp "$root/target/release/mltrain-webhook" "$work/mltrain-webhook-stages"
MLTRAIN_WEBHOOK_STAGE_BODY="$BODY_FILE" start_webhook "$work/mltrain-webhook-stages"
curl -s --cacert "$work/ca.crt" "https://localhost:${waddr##*:}/mutate" -H 'content-type: application/json' \
  --data-binary @"$BODY_FILE" > "$work/response.json"
start_nginx "$work/response.json"

echo "machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg); $pinning; body $(wc -c < "$BODY_FILE") bytes; response $(wc -c < "$work/response.json") bytes; ${secs}s per run, $rounds rounds"
: > "$work/results"
for round in $(seq "$rounds"); do
  echo "nginx $(wrk_run "https://127.0.0.1:$nport/mutate")" >> "$work/results"
  for s in "${stages[@]}"; do
    echo "$s $(wrk_run "https://$waddr/stage/$s")" >> "$work/results"
  done
  echo "mutate $(wrk_run "https://$waddr/mutate")" >> "$work/results"
  echo "round $round done" >&2
done
cp "$work/results" "${BREAKDOWN_RESULTS:-/dev/null}" 2>/dev/null || true
python3 - "$work/results" "${stages[@]}" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
order = ["nginx"] + sys.argv[2:] + ["mutate"]
rps = {k: [float(r[1]) for r in rows if r[0] == k] for k in order}
notes = {k: sorted({r[4] for r in rows if r[0] == k}) for k in order}
med = {k: statistics.median(v) for k, v in rps.items()}
print(f"{'endpoint':<20} {'req/s median':>12} {'range':>15} {'us/req':>7} {'stage us':>8} {'of nginx':>8}  notes")
prev = None
for k in order:
    us = 1e6 / med[k]
    step = "" if prev is None or k in ("nginx", "mutate") else f"{us - prev:+.1f}"
    lo, hi = min(rps[k]), max(rps[k])
    print(f"{k:<20} {med[k]:>12.0f} {f'{lo:.0f}-{hi:.0f}':>15} {us:>7.1f} {step:>8} {med[k] / med['nginx']:>8.2f}  {','.join(notes[k])}")
    if k != "nginx":
        prev = us
PY
