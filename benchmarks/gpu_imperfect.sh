#!/usr/bin/env bash
# The gpu preset of imagenette_imperfect (PD-2, RES-1) in one call: install, smoke run, the
# `gpu` preset (64 px, whole folders, 3 seeds, clean and corrupted teacher, 15 methods) under a
# time limit, and its tables.
#
# The GPU machine has jax (CUDA), flax, optax, orbax-checkpoint and the scientific stack
# installed and no network; the package is installed without dependencies. The 64-px Imagenette
# copy travels inside the checkout in the git-ignored folder .data/:
#
#   mkdir -p .data && cp -r "$KDTHEORY_DATA/imagenette2-64" .data/
#   bash benchmarks/gpu_imperfect.sh          # results in $OUT (default gpu_results/)
#
# Switches (for a check on a machine without a GPU):
#   SMOKE_ONLY=1     stop after the smoke preset
#   SKIP_INSTALL=1   do not pip-install the checkout
#   PYTHON=...       the interpreter (default python3)
#   KDTHEORY_DATA_GPU=...  the data folder (default .data/ in the checkout)
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-gpu_results}
PY=${PYTHON:-python3}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 XLA_PYTHON_CLIENT_PREALLOCATE=false MPLBACKEND=Agg
export KDTHEORY_DATA=${KDTHEORY_DATA_GPU:-$PWD/.data}
log="$OUT/gpu_imperfect.log"
step() { echo "== $* ($(date +%T))" | tee -a "$log"; }

if [ "${SKIP_INSTALL:-0}" != 1 ]; then
  step install
  $PY -m pip install -q --no-deps -e . 2>&1 | tail -2 | tee -a "$log"
fi
$PY -c "import jax, flax, optax; print('jax', jax.__version__, 'flax', flax.__version__, \
'optax', optax.__version__, jax.devices())" 2>&1 | tee -a "$log"
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader 2>&1 | tee -a "$log"

step "smoke preset"
timeout 240 $PY -m kdtheory.cli run imagenette_imperfect --preset smoke --out "$OUT/smoke" \
  --cache-dir "$OUT/cache" --no-progress 2>&1 | grep -v Warning | tail -8 | tee -a "$log"
[ "${SMOKE_ONLY:-0}" = 1 ] && { step "done (smoke only)"; exit 0; }

step "gpu preset"
start=$(date +%s)
timeout 420 $PY -m kdtheory.cli run imagenette_imperfect --preset gpu --out paper_figures \
  --cache-dir .kdtheory_cache 2>&1 | grep -v Warning | tail -15 | tee -a "$log"
echo "gpu preset: $(( $(date +%s) - start )) s wall, compilation included" | tee -a "$log"
$PY - <<'PY' 2>&1 | tee -a "$log"
import pandas as pd
from simulations import imagenette_imperfect as sim
df = pd.read_csv("paper_figures/imagenette_imperfect-gpu.csv")
analysis = sim.analyze(df)
pd.set_option("display.width", 200)
print(sim.result_table(analysis).to_string(index=False))
print(analysis["gains"].to_string(index=False))
PY
cp paper_figures/imagenette_imperfect-gpu.png paper_figures/imagenette_imperfect-gpu.csv \
   paper_figures/imagenette_imperfect-gpu.json "$OUT"/ 2>/dev/null
step done
