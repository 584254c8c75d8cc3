#!/usr/bin/env bash
# Runs every cargo-fuzz target (or the ones named) for SECONDS each and prints how many
# executions each reached. The corpus grows in fuzz/corpus/<target> (not committed); the
# committed seeds in fuzz/seeds/<target> are read as a second corpus directory.
#
#   fuzz/run.sh 10              # CI smoke run: 10 s per target
#   fuzz/run.sh 600 cid peer_id # by hand: longer, chosen targets
#
# A crash stops the script with a non-zero status; the crashing input is kept under
# fuzz/artifacts/<target>/ and libFuzzer prints how to reproduce it.
set -euo pipefail
cd "$(dirname "$0")"
seconds=${1:-10}
shift || true
if [ $# -gt 0 ]; then targets=("$@"); else mapfile -t targets < <(cargo +nightly fuzz list); fi
# Build all targets first so the time budget goes to fuzzing, not compiling.
if [ $# -gt 0 ]; then
  for t in "${targets[@]}"; do cargo +nightly fuzz build "$t"; done
else
  cargo +nightly fuzz build
fi
printf '%-16s %12s %10s\n' target executions exec/s
for t in "${targets[@]}"; do
  mkdir -p "corpus/$t" "seeds/$t"
  log=$(mktemp)
  if ! cargo +nightly fuzz run "$t" "corpus/$t" "seeds/$t" -- \
      -max_total_time="$seconds" -print_final_stats=1 >"$log" 2>&1; then
    tail -n 40 "$log"
    echo "fuzz target $t FAILED (see above)"
    rm -f "$log"
    exit 1
  fi
  runs=$(grep -oE 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -oE '[0-9]+$' || echo '?')
  rate=$(grep -oE 'stat::average_exec_per_sec: *[0-9]+' "$log" | grep -oE '[0-9]+$' || echo '?')
  printf '%-16s %12s %10s\n' "$t" "$runs" "$rate"
  rm -f "$log"
done
