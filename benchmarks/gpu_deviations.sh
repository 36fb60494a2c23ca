#!/usr/bin/env bash
# The gpu preset of imagenette_deviations (NAG-6, NAG-7) in one call: install, smoke run, the
# `gpu` preset (64 px, 3 seeds: teacher, labels, KD, the mid-budget switch) under a time limit.
#
# The GPU machine has jax (CUDA), flax, optax, orbax-checkpoint and the scientific stack
# installed and no network; the package is installed without dependencies. The 64-px Imagenette
# copy travels inside the checkout in the git-ignored folder .data/:
#
#   mkdir -p .data && cp -r "$KDTHEORY_DATA/imagenette2-64" .data/
#   bash benchmarks/gpu_deviations.sh        # results in $OUT (default gpu_results/)
#
# Each step has its own time limit; the log, the figure, its table and claims land in $OUT.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-gpu_results}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 XLA_PYTHON_CLIENT_PREALLOCATE=false MPLBACKEND=Agg
export KDTHEORY_DATA=${KDTHEORY_DATA_GPU:-$PWD/.data}
log="$OUT/gpu_deviations.log"
step() { echo "== $* ($(date +%T))" | tee -a "$log"; }

step install
python3 -m pip install -q --no-deps -e . 2>&1 | tail -2 | tee -a "$log"
python3 -c "import jax, flax, optax; print('jax', jax.__version__, 'flax', flax.__version__, \
'optax', optax.__version__, jax.devices())" 2>&1 | tee -a "$log"
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader 2>&1 | tee -a "$log"

step "smoke preset"
timeout 150 python3 -m kdtheory.cli run imagenette_deviations --preset smoke \
  --out "$OUT/smoke" --cache-dir "$OUT/cache" --no-progress 2>&1 | grep -v Warning | tail -8 \
  | tee -a "$log"

step "gpu preset"
start=$(date +%s)
timeout 300 python3 -m kdtheory.cli run imagenette_deviations --preset gpu --out paper_figures \
  --cache-dir .kdtheory_cache --no-progress 2>&1 | grep -v Warning | tail -15 | tee -a "$log"
echo "gpu preset: $(( $(date +%s) - start )) s wall, compilation included" | tee -a "$log"
python3 - <<'PY' 2>&1 | tee -a "$log"
import pandas as pd
from simulations import imagenette_deviations as sim
df = pd.read_csv("paper_figures/imagenette_deviations-gpu.csv")
analysis = sim.analyze(df)
print(sim.result_table(analysis).to_string(index=False))
cols = ["method", "split", "epochs", "ratio", "mean", "lo", "hi"]
print(analysis["slopes"][cols].to_string(index=False))
print("recovered fraction:", analysis["recovered"])
PY
cp paper_figures/imagenette_deviations-gpu.png paper_figures/imagenette_deviations-gpu.csv \
   paper_figures/imagenette_deviations-gpu.json "$OUT"/ 2>/dev/null
step done
