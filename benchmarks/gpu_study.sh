#!/usr/bin/env bash
# The whole GPU run of the neural module in one call of at most 8 minutes: the smoke preset, the
# teacher bank, the `gpu` preset of imagenette_shift (all methods, 3 seeds), its tables, and the
# throughput benchmark beside PyTorch. Nothing is installed; set-up, switches and what comes back
# under $OUT: benchmarks/_gpu.sh (torch is also needed, for the benchmark).
#
#   mkdir -p .data && cp -r "$KDTHEORY_DATA/imagenette2-64" .data/
#   bash benchmarks/gpu_study.sh            # results in $OUT (default gpu_results/)
#   PRESET=smoke bash benchmarks/gpu_study.sh   # the whole script on a CPU, in minutes
#
# Each step has its own time limit (LIMITS, seconds), so a slow step cannot eat the next one's
# time; a preset stopped by its limit resumes from $OUT/cache when the script runs again.
set -uo pipefail
cd "$(dirname "$0")/.."
LOG_NAME=gpu_study
LIMITS="versions:25 gpuinfo:10 smoke:60 teachers:45 main:210 tables:20 benchmark:90"
source benchmarks/_gpu.sh

versions
smoke imagenette_shift
teachers imagenette_shift

step "main run ($PRESET preset): imagenette_shift"
run_preset main imagenette_shift "$PRESET"
tables imagenette_shift

step benchmark
if [ "$PRESET" = smoke ]; then
  bench=(--presets smoke --steps 2)  # a check that it runs, not a benchmark
else
  bench=(--presets gpu cpu --torch-compile)
fi
timed benchmark $PY benchmarks/bench_neural.py "${bench[@]}" --out "$OUT" \
  || FAILED+=("benchmark")
finish
