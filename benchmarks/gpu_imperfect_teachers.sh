#!/usr/bin/env bash
# The gpu presets of the imperfect-teacher studies in one run of at most 8 minutes:
# imagenette_deviations (NAG-6, NAG-7) and imagenette_imperfect (PD-2, RES-1), after
# one install, each under its own time limit, then their tables. The per-study scripts
# (gpu_deviations.sh, gpu_imperfect.sh) add a smoke run each and longer limits.
#
#   mkdir -p .data && cp -r "$KDTHEORY_DATA/imagenette2-64" .data/
#   bash benchmarks/gpu_imperfect_teachers.sh     # results in $OUT (default gpu_results/)
#
# A killed preset resumes from its cache (.kdtheory_cache) when the script is run again.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-gpu_results}
PY=${PYTHON:-python3}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 XLA_PYTHON_CLIENT_PREALLOCATE=false MPLBACKEND=Agg
export KDTHEORY_DATA=${KDTHEORY_DATA_GPU:-$PWD/.data}
log="$OUT/gpu_imperfect_teachers.log"
step() { echo "== $* ($(date +%T))" | tee -a "$log"; }
begin=$(date +%s)

step install
$PY -m pip install -q --no-deps -e . 2>&1 | tail -2 | tee -a "$log"
$PY -c "import jax; print('jax', jax.__version__, jax.devices())" 2>&1 | tee -a "$log"

for study in imagenette_deviations:200 imagenette_imperfect:240; do
  name=${study%%:*}
  limit=${study##*:}
  step "$name gpu preset (limit ${limit} s)"
  start=$(date +%s)
  timeout "$limit" $PY -m kdtheory.cli run "$name" --preset gpu --out paper_figures \
    --cache-dir .kdtheory_cache --no-progress 2>&1 | grep -v Warning | tail -12 | tee -a "$log"
  echo "$name: $(( $(date +%s) - start )) s wall, compilation included" | tee -a "$log"
  cp paper_figures/"$name"-gpu.* "$OUT"/ 2>/dev/null
done
echo "total: $(( $(date +%s) - begin )) s wall" | tee -a "$log"
step done
