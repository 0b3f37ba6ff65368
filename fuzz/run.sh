#!/usr/bin/env bash
# Fuzzes each target for a set time, then minimises its corpus so what is committed stays small.
#
#   fuzz/run.sh [SECONDS] [TARGET…]      default: 900 s each, every target
#
# Needs the nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz`). Runs niced, one target
# at a time, one job. The corpus is fuzz/corpus/<target>/ (committed); crashes land in
# fuzz/artifacts/<target>/ (not committed: copy one to fuzz/regressions/<target>/<name> with the
# fix). A run's log is fuzz/logs/<target>.log (not committed); its last lines give the executions
# (#N, stat::number_of_executed_units) and the coverage (cov, ft).
set -euo pipefail
cd "$(dirname "$0")"
seconds=${1:-900}
[[ $# -gt 0 ]] && shift
targets=("$@")
if [[ ${#targets[@]} -eq 0 ]]; then
    targets=(envelope tabular resident_id county_code calendar)
fi
mkdir -p logs
for target in "${targets[@]}"; do
    mkdir -p "corpus/$target" "regressions/$target"
    echo "== $target: ${seconds}s"
    # Regressions seed the run too (read-only: new inputs go to corpus/).
    features=()
    [[ $target == envelope ]] && features=(--features envelope)
    status=0
    nice -n 19 cargo +nightly fuzz run -O "${features[@]}" "$target" "corpus/$target" "regressions/$target" -- \
        -max_total_time="$seconds" -print_final_stats=1 -timeout=10 \
        -rss_limit_mb=2048 >"logs/$target.log" 2>&1 || status=$?
    grep -E '^#[0-9]+' "logs/$target.log" | tail -1 || true
    grep -E 'stat::number_of_executed_units' "logs/$target.log" || true
    if [[ $status -ne 0 ]]; then
        echo "$target: the fuzzer stopped with status $status (a finding?); see logs/$target.log and artifacts/$target/"
        continue
    fi
    before=$(find "corpus/$target" -type f | wc -l)
    # Keeps a smallest set of inputs that reaches every edge reached (-use_counters=0: hit counts
    # do not count as new coverage), so the committed corpus stays small.
    nice -n 19 cargo +nightly fuzz cmin -O "${features[@]}" "$target" "corpus/$target" -- -use_counters=0 \
        >"logs/$target.cmin.log" 2>&1
    after=$(find "corpus/$target" -type f | wc -l)
    echo "$target: corpus $before → $after files, $(du -sh --apparent-size "corpus/$target" | cut -f1)"
done
