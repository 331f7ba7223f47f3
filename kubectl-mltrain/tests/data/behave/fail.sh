#!/bin/bash
# Rank 1 fails at once; every other rank would run for ten minutes: the job must end them.
rank="${RANK:-${JOB_COMPLETION_INDEX:-0}}"
if [ "$rank" = 1 ]; then echo "rank 1 fails on purpose"; exit 3; fi
echo "rank $rank waits"; sleep 600
