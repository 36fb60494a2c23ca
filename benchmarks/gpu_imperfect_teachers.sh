#!/usr/bin/env bash
# The gpu presets of the imperfect-teacher studies in one call of at most 8 minutes:
# imagenette_deviations (NAG-6, NAG-7) and imagenette_imperfect (PD-2, RES-1), after the
# teacher bank, each under its own time limit, then their tables. The per-study scripts
# (gpu_deviations.sh, gpu_imperfect.sh) add a smoke run each and longer limits. Nothing is
# installed; set-up, switches and what comes back under $OUT: benchmarks/_gpu.sh.
#
#   mkdir -p .data && cp -r "$KDTHEORY_DATA/imagenette2-64" .data/
#   bash benchmarks/gpu_imperfect_teachers.sh     # results in $OUT (default gpu_results/)
#   PRESET=smoke bash benchmarks/gpu_imperfect_teachers.sh   # the whole script on a CPU
#
# A preset stopped by its limit resumes from $OUT/cache when the script runs again.
set -uo pipefail
cd "$(dirname "$0")/.."
LOG_NAME=gpu_imperfect_teachers
LIMITS="versions:25 gpuinfo:10 teachers:45 deviations:170 imperfect:190 tables:20"
source benchmarks/_gpu.sh
if [ "${SMOKE_ONLY:-0}" = 1 ]; then
  say "SMOKE_ONLY=1: this script has no smoke step; run gpu_deviations.sh or gpu_imperfect.sh"
  exit 2
fi

versions
teachers imagenette_deviations imagenette_imperfect
for name in imagenette_deviations imagenette_imperfect; do
  step "main run ($PRESET preset): $name"
  run_preset "${name#imagenette_}" "$name" "$PRESET"
done
tables imagenette_deviations imagenette_imperfect
finish
