#!/usr/bin/env bash
# The gpu preset of imagenette_deviations (NAG-6, NAG-7) in one call: install, smoke run, the
# `gpu` preset (64 px, 3 seeds: teacher, labels, KD, the mid-budget switch, and NAG-7's
# full-budget teacher) under a time limit, and its tables. Set-up and switches:
# benchmarks/_gpu.sh.
#
#   mkdir -p .data && cp -r "$KDTHEORY_DATA/imagenette2-64" .data/
#   bash benchmarks/gpu_deviations.sh        # results in $OUT (default gpu_results/)
set -uo pipefail
cd "$(dirname "$0")/.."
LOG_NAME=gpu_deviations
source benchmarks/_gpu.sh

install_checkout
smoke imagenette_deviations 150

step "gpu preset"
run_preset imagenette_deviations gpu 300 paper_figures .kdtheory_cache 15 --no-progress
$PY - <<'PY' 2>&1 | tee -a "$log"
import pandas as pd
from simulations import imagenette_deviations as sim
df = pd.read_csv("paper_figures/imagenette_deviations-gpu.csv")
analysis = sim.analyze(df)
print(sim.result_table(analysis).to_string(index=False))
cols = ["method", "split", "epochs", "ratio", "mean", "lo", "hi"]
print(analysis["slopes"][cols].to_string(index=False))
print("recovered fraction:", analysis["recovered"])
PY
keep imagenette_deviations gpu
step done
