#!/usr/bin/env bash
# The whole GPU run of the neural module in one call: install, smoke run, the `gpu` preset of
# imagenette_shift (all methods, 3 seeds), the throughput benchmark beside PyTorch.
#
# The GPU machine has jax (CUDA), flax, optax, orbax-checkpoint, torch and the scientific stack
# installed and no network; the package is installed without dependencies. The 64-px Imagenette
# copy travels inside the checkout in the git-ignored folder .data/:
#
#   mkdir -p .data && cp -r "$KDTHEORY_DATA/imagenette2-64" .data/
#   bash benchmarks/gpu_study.sh            # results in $OUT (default gpu_results/)
#
# Each step has its own time limit, so a slow step cannot eat the next one's time; the log,
# the figure, its table and claims, and the benchmark land in $OUT.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-gpu_results}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 XLA_PYTHON_CLIENT_PREALLOCATE=false MPLBACKEND=Agg
export KDTHEORY_DATA=${KDTHEORY_DATA_GPU:-$PWD/.data}
log="$OUT/gpu_study.log"
step() { echo "== $* ($(date +%T))" | tee -a "$log"; }

step install
python3 -m pip install -q --no-deps -e . 2>&1 | tail -2 | tee -a "$log"
python3 -c "import jax, flax, optax; print('jax', jax.__version__, 'flax', flax.__version__, \
'optax', optax.__version__, jax.devices())" 2>&1 | tee -a "$log"
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader 2>&1 | tee -a "$log"

step "smoke preset"
timeout 150 python3 -m kdtheory.cli run imagenette_shift --preset smoke --out "$OUT/smoke" \
  --cache-dir "$OUT/cache" --no-progress 2>&1 | grep -v Warning | tail -8 | tee -a "$log"

step "gpu preset"
start=$(date +%s)
timeout 480 python3 -m kdtheory.cli run imagenette_shift --preset gpu --out paper_figures \
  --cache-dir .kdtheory_cache 2>&1 | grep -v Warning | tail -15 | tee -a "$log"
echo "gpu preset: $(( $(date +%s) - start )) s wall, compilation included" | tee -a "$log"
python3 - <<'PY' 2>&1 | tee -a "$log"
import pandas as pd
from simulations import imagenette_shift as sim
df = pd.read_csv("paper_figures/imagenette_shift-gpu.csv")
analysis = sim.analyze(df)
print(sim.result_table(analysis).to_string(index=False))
print(analysis["diffs"].to_string(index=False))
print(analysis["reference"])
PY
cp paper_figures/imagenette_shift-gpu.png paper_figures/imagenette_shift-gpu.csv \
   paper_figures/imagenette_shift-gpu.json "$OUT"/ 2>/dev/null

step benchmark
timeout 240 python3 benchmarks/bench_neural.py --presets gpu cpu --torch-compile --out "$OUT" \
  2>&1 | grep -v Warning | tail -8 | tee -a "$log"
step done
