# Shared by the gpu_*.sh scripts: sourced after `cd` to the checkout, with LOG_NAME (the log's
# name) and LIMITS (the time limit of each step, "KEY:SECONDS ...") set.
#
# The GPU machine has Python with jax (CUDA), flax, optax, orbax-checkpoint, torch and the
# scientific stack, and no network: nothing is installed. The package is pure Python and runs
# from the checkout (PYTHONPATH holds it: `kdtheory/` and `simulations/`), so neither pip nor
# setuptools nor wheel is needed. The 64-px Imagenette copy travels inside the checkout, in the
# git-ignored folder .data/:
#
#   mkdir -p .data && cp -r "$KDTHEORY_DATA/imagenette2-64" .data/
#
# Switches:
#   OUT=...                results folder (default gpu_results/)
#   PRESET=...             the preset of the main step (default gpu; PRESET=smoke runs the whole
#                          script on a CPU in minutes, without the separate smoke step)
#   SMOKE_ONLY=1           stop after the smoke preset (gpu_imperfect_teachers.sh has no smoke
#                          step and refuses it)
#   PYTHON=...             the interpreter (default python3)
#   KDTHEORY_DATA_GPU=...  the folder holding imagenette2-64/ (default .data/ in the checkout)
#   SKIP_INSTALL=1         accepted and ignored: nothing is installed any more
#
# What comes back under $OUT, written as each step finishes (a step stopped by its time limit
# keeps what it finished):
#   $LOG_NAME.log          every step's heading, output, exit status and wall time
#   figures/NAME-PRESET.{png,pdf,csv,json}   each preset's figure, table and claim verdicts
#   cache/                 the finished Monte Carlo tasks and checkpoints (run the script again
#                          with the same OUT to resume), and the teacher bank, cache/teachers/
#                          (usable on a CPU: `kdtheory teachers --list --cache-dir OUT/cache`)
#
# Every long command runs under `timeout` with its LIMITS entry; the entries of a script sum to
# at most BUDGET_S (460 s), and no step runs past BUDGET_S seconds from the start, so one call
# fits in 8 minutes.
BUDGET_S=460
BEGIN=$(date +%s)
OUT=${OUT:-gpu_results}
PY=${PYTHON:-python3}
PRESET=${PRESET:-gpu}
mkdir -p "$OUT"
log="$OUT/$LOG_NAME.log"  # appended to: a second run (resuming from the cache) adds its own
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONUNBUFFERED=1 XLA_PYTHON_CLIENT_PREALLOCATE=false MPLBACKEND=Agg
export KDTHEORY_DATA=${KDTHEORY_DATA_GPU:-$PWD/.data}
FAILED=()

# say TEXT: a line on the terminal and in the log
say() { echo "$*" | tee -a "$log"; }

# step TEXT: a timestamped heading in the log
step() { say "== $* ($(date +%T))"; }

# the data, before anything else
step "$LOG_NAME: preset $PRESET, results in $OUT"
if [ ! -d "$KDTHEORY_DATA/imagenette2-64/train" ] || [ ! -d "$KDTHEORY_DATA/imagenette2-64/val" ]
then
  {
    echo "no Imagenette copy: $KDTHEORY_DATA/imagenette2-64/train and /val are needed."
    echo "Carry it inside the checkout (the folder .data/ is git-ignored); on the machine that"
    echo "has it, in the checkout:"
    echo "  mkdir -p .data && cp -r \"\$KDTHEORY_DATA/imagenette2-64\" .data/"
    echo "or point KDTHEORY_DATA_GPU to the folder that holds imagenette2-64/."
  } | tee -a "$log" >&2
  exit 2
fi

# the time limits: LIMITS="KEY:SECONDS ..." of the script, summed against the budget
declare -A LIMIT
limits_sum=0
for entry in $LIMITS; do
  LIMIT[${entry%%:*}]=${entry##*:}
  limits_sum=$(( limits_sum + ${entry##*:} ))
done
if (( limits_sum > BUDGET_S )); then
  say "the time limits sum to $limits_sum s, over the budget of $BUDGET_S s: shorten LIMITS"
  exit 2
fi

# timed KEY CMD...: CMD under the limit LIMITS gives KEY, shortened to what is left of BUDGET_S;
# its output (warnings dropped) on the terminal and in the log, as it comes; its exit status
# (124: stopped by the limit) is the function's, and is logged with the wall time
timed() {
  local key=$1 limit left start rc
  shift
  limit=${LIMIT[$key]:?"no time limit for step $key in LIMITS"}
  left=$(( BUDGET_S - ($(date +%s) - BEGIN) ))
  (( left < limit )) && limit=$left
  if (( limit < 1 )); then
    say "$key: not run, the run's $BUDGET_S s are spent"
    return 124
  fi
  start=$(date +%s)
  timeout "$limit" "$@" 2>&1 | grep --line-buffered -v Warning | tee -a "$log"
  rc=${PIPESTATUS[0]}
  local took=$(( $(date +%s) - start ))
  case $rc in
    0) say "$key: done in $took s (limit $limit s)" ;;
    124) say "$key: stopped at its limit of $limit s; what finished is kept under $OUT" ;;
    *) say "$key: exit status $rc after $took s" ;;
  esac
  return "$rc"
}

# versions: the interpreter, jax and its devices (stops the script when jax does not import),
# then nvidia-smi when there is one
versions() {
  step versions
  if ! timed versions $PY -c "import sys, jax, flax, optax; print('python', sys.version.split()[0], \
'jax', jax.__version__, 'flax', flax.__version__, 'optax', optax.__version__, jax.devices())"
  then
    say "jax, flax or optax does not import with $PY: stopping"
    exit 1
  fi
  if command -v nvidia-smi >/dev/null; then
    timed gpuinfo nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
  else
    say "nvidia-smi: not found (no NVIDIA GPU tools here); going on"
  fi
}

# run_preset KEY NAME PRESET: one preset of a study, figures to $OUT/figures, tasks cached (and
# resumed) in $OUT/cache; a failure is remembered for the exit status
run_preset() {
  local key=$1 name=$2 preset=$3 rc
  timed "$key" $PY -m kdtheory.cli run "$name" --preset "$preset" --out "$OUT/figures" \
    --cache-dir "$OUT/cache" --no-progress
  rc=$?
  (( rc != 0 )) && FAILED+=("$name $preset (exit $rc)")
  return "$rc"
}

# smoke NAME: the smoke preset of a study (figures beside the main step's), unless PRESET=smoke
# (then the main step is the smoke preset: it does not run twice). Stopped by its limit, the
# script goes on; any other failure stops it. SMOKE_ONLY=1 stops the script after it.
smoke() {
  [ "$PRESET" = smoke ] && [ "${SMOKE_ONLY:-0}" != 1 ] && return 0
  step "smoke run (smoke preset): $1"
  timed smoke $PY -m kdtheory.cli run "$1" --preset smoke --out "$OUT/figures" \
    --cache-dir "$OUT/cache" --no-progress
  local rc=$?
  if (( rc != 0 && rc != 124 )); then
    FAILED+=("$1 smoke (exit $rc)")
    say "the smoke preset failed: stopping before the $PRESET preset"
    finish
  fi
  if [ "${SMOKE_ONLY:-0}" = 1 ]; then
    (( rc == 124 )) && FAILED+=("$1 smoke (stopped at its limit)")
    say "SMOKE_ONLY=1: stopping after the smoke preset"
    finish
  fi
}

# teachers NAME...: the teacher bank of the preset, in $OUT/cache/teachers, for those of the
# script's studies that read one (`kdtheory teachers` refuses a study without a `teachers`
# function; named, so that the limit is spent on this script's teachers, not on other studies').
# A failure is logged, not fatal: a study trains the teachers it misses.
teachers() {
  step "teachers ($PRESET): $*"
  timed teachers $PY - "$PRESET" "$OUT/cache" "$@" <<'PY' \
    || say "teachers: not all built (see above); the studies go on"
import importlib
import sys

from kdtheory.cli import SIMULATIONS, main

preset, cache, names = sys.argv[1], sys.argv[2], sys.argv[3:]
names = [n for n in names if hasattr(importlib.import_module(SIMULATIONS[n]), "teachers")]
if not names:
    print("none of these studies reads teachers from the bank yet: nothing to build")
    sys.exit(0)
command = ["teachers", "--preset", preset, "--cache-dir", cache, "--no-progress", *names]
print("kdtheory", *command, flush=True)
sys.exit(main(command))
PY
}

# tables NAME...: each study's result table and claims, from $OUT/figures/NAME-$PRESET.csv
tables() {
  step "tables ($PRESET)"
  timed tables $PY - "$PRESET" "$OUT/figures" "$@" <<'PY' || FAILED+=("tables")
import importlib
import sys
from pathlib import Path

import pandas as pd

preset, folder, names = sys.argv[1], Path(sys.argv[2]), sys.argv[3:]
pd.set_option("display.width", 200)
pd.set_option("display.max_columns", 50)


def number(x):
    return "-" if x is None else f"{x:.4g}"


for name in names:
    print(f"-- {name} ({preset})")
    paths = [folder / f"{name}-{preset}{ext}" for ext in (".csv", ".csv.gz")]
    path = next((p for p in paths if p.exists()), None)
    if path is None:
        print(f"no table {paths[0]}: the preset did not finish")
        continue
    sim = importlib.import_module(f"kdtheory.simulations.{name}")
    df = pd.read_csv(path)
    analysis = sim.analyze(df)
    print(sim.result_table(analysis).to_string(index=False))
    for c in sim.claims(df, analysis):
        ci = "-" if c.ci is None else f"[{number(c.ci[0])}, {number(c.ci[1])}]"
        print(f"{c.id:8} {c.verdict:13} value {number(c.value):>10}  ci {ci}")
PY
}

# finish: the total wall time, what did not finish, and the exit status (1 if anything failed)
finish() {
  say "total: $(( $(date +%s) - BEGIN )) s wall (limits sum to $limits_sum s)"
  if (( ${#FAILED[@]} )); then
    step "done; not finished: ${FAILED[*]}"
    exit 1
  fi
  step done
  exit 0
}
