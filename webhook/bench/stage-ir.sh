#!/usr/bin/env bash
# Instructions per request for each in-process stage of /mutate, counted by callgrind: repeatable on a
# busy shared machine where timings are not. Runs the criterion bench `stages` (stage/all: the whole
# pipeline from body bytes to the answer, the production JSON log line into a
# sink) under callgrind for a few seconds, and divides each stage function's inclusive instruction
# count by its calls. Installs valgrind from Debian if missing.
#
#   webhook/bench/stage-ir.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
command -v valgrind >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq valgrind >/dev/null; }
cd "$root"
bench=$(cargo bench -q -p mltrain-webhook --bench stages --no-run --message-format=json 2>/dev/null |
  python3 -c 'import json,sys; print([m["executable"] for m in map(json.loads, sys.stdin) if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["name"] == "stages"][0])')
out=$(mktemp)
trap 'rm -f "$out" "$out.txt"' EXIT
valgrind --tool=callgrind --callgrind-out-file="$out" "$bench" --bench --profile-time "${SECONDS_UNDER_CALLGRIND:-2}" stage/all >/dev/null 2>&1
callgrind_annotate --tree=caller --inclusive=yes "$out" > "$out.txt" 2>/dev/null
python3 - "$out.txt" <<'PY'
import re, sys
stages = [
    ("parse", "mltrain_shared::admission::request::AdmissionRequest::parse"),
    ("engine (incl. patch diff)", "mltrain_shared::admission::Admission::decide"),
    ("patch JSON + base64", "mltrain_shared::admission::response::AdmissionResponse::of"),
    ("response serialisation", "mltrain_shared::admission::response::AdmissionResponse::to_body"),
    ("log line", "mltrain_webhook::handlers::log_line"),
    ("metrics", "mltrain_webhook::handlers::count"),
    ("drop of request and answer", "core::ptr::drop_in_place<mltrain_shared::admission::Answer>"),
]
blocks = open(sys.argv[1]).read().split("\n\n")
total = 0
print(f"{'stage':<30} {'instructions/request':>22}")
for name, fn in stages:
    # In a block, the callers (<, with their call counts) come before the function (*, inclusive).
    found = None
    for b in blocks:
        m = re.search(r"^\s*([\d,]+) \([^)]*\)\s+\*\s+\?\?\?:" + re.escape(fn) + r" \[", b, re.M)
        if m:
            calls = sum(int(c.replace(",", "")) for c in re.findall(r"^\s*[\d,]+ \([^)]*\)\s+<.*\((\d[\d,]*)x\)", b[:m.start()], re.M))
            found = int(m.group(1).replace(",", "")) / calls if calls else None
            break
    if found is None:
        print(f"{name:<30} {'(inlined)':>22}")
        continue
    total += found
    print(f"{name:<30} {found:>22,.0f}")
print(f"{'total':<30} {total:>22,.0f}")
PY
