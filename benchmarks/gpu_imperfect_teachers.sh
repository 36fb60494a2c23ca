#!/usr/bin/env bash
# The gpu presets of the imperfect-teacher studies in one run of at most 8 minutes:
# imagenette_deviations (NAG-6, NAG-7) and imagenette_imperfect (PD-2, RES-1), after
# one install, each under its own time limit. The per-study scripts (gpu_deviations.sh,
# gpu_imperfect.sh) add a smoke run each, longer limits and the tables. Set-up and switches:
# benchmarks/_gpu.sh.
#
#   mkdir -p .data && cp -r "$KDTHEORY_DATA/imagenette2-64" .data/
#   bash benchmarks/gpu_imperfect_teachers.sh     # results in $OUT (default gpu_results/)
#
# A killed preset resumes from its cache (.kdtheory_cache) when the script is run again.
set -uo pipefail
cd "$(dirname "$0")/.."
LOG_NAME=gpu_imperfect_teachers
source benchmarks/_gpu.sh
begin=$(date +%s)

install_checkout
for study in imagenette_deviations:200 imagenette_imperfect:240; do
  name=${study%%:*}
  limit=${study##*:}
  step "$name gpu preset (limit ${limit} s)"
  run_preset "$name" gpu "$limit" paper_figures .kdtheory_cache 12 --no-progress
  keep "$name" gpu
done
echo "total: $(( $(date +%s) - begin )) s wall" | tee -a "$log"
step done
