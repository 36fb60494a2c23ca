#!/usr/bin/env bash
# The gpu preset of imagenette_imperfect (PD-2, RES-1) in one call: install, smoke run, the
# `gpu` preset (64 px, whole folders, 3 seeds, clean and corrupted teacher, 15 methods) under a
# time limit, and its tables. Set-up and switches: benchmarks/_gpu.sh.
#
#   mkdir -p .data && cp -r "$KDTHEORY_DATA/imagenette2-64" .data/
#   bash benchmarks/gpu_imperfect.sh          # results in $OUT (default gpu_results/)
set -uo pipefail
cd "$(dirname "$0")/.."
LOG_NAME=gpu_imperfect
source benchmarks/_gpu.sh

install_checkout
smoke imagenette_imperfect 240

step "gpu preset"
run_preset imagenette_imperfect gpu 420 paper_figures .kdtheory_cache 15
$PY - <<'PY' 2>&1 | tee -a "$log"
import pandas as pd
from simulations import imagenette_imperfect as sim
df = pd.read_csv("paper_figures/imagenette_imperfect-gpu.csv")
analysis = sim.analyze(df)
pd.set_option("display.width", 200)
print(sim.result_table(analysis).to_string(index=False))
print(analysis["gains"].to_string(index=False))
PY
keep imagenette_imperfect gpu
step done
