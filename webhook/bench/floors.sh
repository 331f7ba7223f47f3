#!/usr/bin/env bash
# The floors of /mutate's in-process work next to a different JSON stack's, in one criterion run
# (webhook/bench/floor: a crate outside the workspace, so its comparison-only dependency never enters
# the product). Prints each case's median time per request; criterion's own report is under
# webhook/bench/floor/target/criterion.
#
#   webhook/bench/floors.sh [SECONDS]     (default 3 of measurement per case)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
export MLTRAIN_SHARED_DIR=${MLTRAIN_SHARED_DIR:-$(cd "$here/../../.." && pwd)/shared}
cd "$here/floor"
cargo bench -q --bench floor -- --warm-up-time 1 --measurement-time "${1:-3}" 2>&1 |
  awk '$1 == "time:" { printf "%-28s %s %s\n", name, $4, $5; next }
       $2 == "time:" { printf "%-28s %s %s\n", $1, $5, $6; next }
       /^[a-z]/ { name = $1 }'
