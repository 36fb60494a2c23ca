#!/usr/bin/env bash
# The whole GPU run of the neural module in one call: install, smoke run, the `gpu` preset of
# imagenette_shift (all methods, 3 seeds), the throughput benchmark beside PyTorch. Set-up and
# switches: benchmarks/_gpu.sh (torch is also needed, for the benchmark).
#
#   mkdir -p .data && cp -r "$KDTHEORY_DATA/imagenette2-64" .data/
#   bash benchmarks/gpu_study.sh            # results in $OUT (default gpu_results/)
#
# Each step has its own time limit, so a slow step cannot eat the next one's time; the log,
# the figure, its table and claims, and the benchmark land in $OUT.
set -uo pipefail
cd "$(dirname "$0")/.."
LOG_NAME=gpu_study
source benchmarks/_gpu.sh

install_checkout
smoke imagenette_shift 150

step "gpu preset"
run_preset imagenette_shift gpu 480 paper_figures .kdtheory_cache 15
$PY - <<'PY' 2>&1 | tee -a "$log"
import pandas as pd
from simulations import imagenette_shift as sim
df = pd.read_csv("paper_figures/imagenette_shift-gpu.csv")
analysis = sim.analyze(df)
print(sim.result_table(analysis).to_string(index=False))
print(analysis["diffs"].to_string(index=False))
print(analysis["reference"])
PY
keep imagenette_shift gpu

step benchmark
timeout 240 $PY benchmarks/bench_neural.py --presets gpu cpu --torch-compile --out "$OUT" \
  2>&1 | grep -v Warning | tail -8 | tee -a "$log"
step done
