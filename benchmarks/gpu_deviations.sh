#!/usr/bin/env bash
# The gpu preset of imagenette_deviations (NAG-6, NAG-7) in one call of at most 8 minutes: the
# smoke preset, the teacher bank, the `gpu` preset (64 px, 3 seeds: teacher, labels, KD, the
# mid-budget switch, and NAG-7's full-budget teacher) under a time limit, and its tables.
# Nothing is installed; set-up, switches and what comes back under $OUT: benchmarks/_gpu.sh.
#
#   mkdir -p .data && cp -r "$KDTHEORY_DATA/imagenette2-64" .data/
#   bash benchmarks/gpu_deviations.sh        # results in $OUT (default gpu_results/)
#   PRESET=smoke bash benchmarks/gpu_deviations.sh   # the whole script on a CPU, in minutes
#
# A preset stopped by its limit resumes from $OUT/cache when the script runs again.
set -uo pipefail
cd "$(dirname "$0")/.."
LOG_NAME=gpu_deviations
LIMITS="versions:25 gpuinfo:10 smoke:60 teachers:45 main:300 tables:20"
source benchmarks/_gpu.sh

versions
smoke imagenette_deviations
teachers imagenette_deviations

step "main run ($PRESET preset): imagenette_deviations"
run_preset main imagenette_deviations "$PRESET"
tables imagenette_deviations
finish
