# Shared by the gpu_*.sh scripts (sourced after `cd` to the checkout, with LOG_NAME set).
#
# The GPU machine has jax (CUDA), flax, optax, orbax-checkpoint and the scientific stack
# installed and no network; the package is installed without dependencies. The 64-px Imagenette
# copy travels inside the checkout in the git-ignored folder .data/:
#
#   mkdir -p .data && cp -r "$KDTHEORY_DATA/imagenette2-64" .data/
#
# Switches (for a check on a machine without a GPU):
#   OUT=...                results folder (default gpu_results/)
#   SMOKE_ONLY=1           stop after the smoke preset
#   SKIP_INSTALL=1         do not pip-install the checkout
#   PYTHON=...             the interpreter (default python3)
#   KDTHEORY_DATA_GPU=...  the data folder (default .data/ in the checkout)
OUT=${OUT:-gpu_results}
PY=${PYTHON:-python3}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 XLA_PYTHON_CLIENT_PREALLOCATE=false MPLBACKEND=Agg
export KDTHEORY_DATA=${KDTHEORY_DATA_GPU:-$PWD/.data}
log="$OUT/$LOG_NAME.log"

# step TEXT: a timestamped heading in the log
step() { echo "== $* ($(date +%T))" | tee -a "$log"; }

# install_checkout: the checkout without dependencies, then the versions and the device
install_checkout() {
  if [ "${SKIP_INSTALL:-0}" != 1 ]; then
    step install
    $PY -m pip install -q --no-deps -e . 2>&1 | tail -2 | tee -a "$log"
  fi
  $PY -c "import jax, flax, optax; print('jax', jax.__version__, 'flax', flax.__version__, \
'optax', optax.__version__, jax.devices())" 2>&1 | tee -a "$log"
  nvidia-smi --query-gpu=name,memory.total --format=csv,noheader 2>&1 | tee -a "$log"
}

# run_preset NAME PRESET LIMIT_S OUT_DIR CACHE_DIR LINES [ARGS...]: one preset under a time
# limit, the last LINES lines of its output (warnings dropped) and its wall time in the log
run_preset() {
  local name=$1 preset=$2 limit=$3 out=$4 cache=$5 lines=$6 start
  shift 6
  start=$(date +%s)
  timeout "$limit" $PY -m kdtheory.cli run "$name" --preset "$preset" --out "$out" \
    --cache-dir "$cache" "$@" 2>&1 | grep -v Warning | tail -"$lines" | tee -a "$log"
  echo "$name $preset: $(( $(date +%s) - start )) s wall, compilation included" | tee -a "$log"
}

# smoke NAME LIMIT_S: the smoke preset into $OUT/smoke; exits after it with SMOKE_ONLY=1
smoke() {
  step "smoke preset"
  run_preset "$1" smoke "$2" "$OUT/smoke" "$OUT/cache" 8 --no-progress
  if [ "${SMOKE_ONLY:-0}" = 1 ]; then
    step "done (smoke only)"
    exit 0
  fi
}

# keep NAME PRESET: copy the preset's figure, table and record from paper_figures/ to $OUT
keep() { cp paper_figures/"$1-$2".{png,csv,json} "$OUT"/ 2>/dev/null; }
