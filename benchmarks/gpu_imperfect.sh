#!/usr/bin/env bash
# The gpu preset of imagenette_imperfect (PD-2, RES-1) in one call of at most 8 minutes: the
# smoke preset, the teacher bank, the `gpu` preset (64 px, whole folders, 3 seeds, clean and
# corrupted teacher, 15 methods) under a time limit, and its tables. Nothing is installed;
# set-up, switches and what comes back under $OUT: benchmarks/_gpu.sh.
#
#   mkdir -p .data && cp -r "$KDTHEORY_DATA/imagenette2-64" .data/
#   bash benchmarks/gpu_imperfect.sh          # results in $OUT (default gpu_results/)
#   PRESET=smoke bash benchmarks/gpu_imperfect.sh   # the whole script on a CPU, in minutes
#
# A preset stopped by its limit resumes from $OUT/cache when the script runs again.
set -uo pipefail
cd "$(dirname "$0")/.."
LOG_NAME=gpu_imperfect
LIMITS="versions:25 gpuinfo:10 smoke:60 teachers:45 main:300 tables:20"
source benchmarks/_gpu.sh

versions
smoke imagenette_imperfect
teachers imagenette_imperfect

step "main run ($PRESET preset): imagenette_imperfect"
run_preset main imagenette_imperfect "$PRESET"
tables imagenette_imperfect
finish
