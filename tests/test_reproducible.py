"""A record recomputed under another BLAS is the committed record, byte for byte.

Another machine sums in another order: another OpenBLAS kernel (``OPENBLAS_CORETYPE``) and one
thread instead of several change the last bits of every matrix product and solve. The tracked
outputs store each quantity at the precision it is determined to (tables: eight significant
digits, fewer or a bound where a simulation's ``PRECISION`` says so; records: the digits an
interval supports), so a fresh clone's ``make figures`` leaves ``git status`` clean on any x86-64
machine with the pinned versions. This test recomputes quick records in a fresh process under
another BLAS configuration and compares every file with the committed one.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: the simulations whose tables moved between machines before their precision was declared,
#: and the others that run in seconds
FAST = [
    "eigen_exaggeration",
    "rat_iteration",
    "rat_interaction",
    "confidence_exaggeration",
    "gradient_denoising",
    "late_distillation",
    "pd_robustness",
    "semiparametric_bias",
    "crossfit_overfitting",
]
SLOW = ["rat_separation"]
#: another machine: one BLAS thread, and the kernels of another x86-64 generation
OTHER_BLAS = {
    "OPENBLAS_NUM_THREADS": "1",
    "OPENBLAS_CORETYPE": "Sandybridge",
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
}
SUFFIXES = (".csv", ".json", ".png", ".pdf")


def _recompute(names: list[str], out: Path) -> None:
    script = (
        "import sys\n"
        "from kdtheory.cli import run_simulation\n"
        "for name in sys.argv[2:]:\n"
        "    run_simulation(name, 'quick', out_dir=sys.argv[1], cache_dir=None, progress=False)\n"
    )
    env = {**os.environ, **OTHER_BLAS, "MPLBACKEND": "Agg"}
    subprocess.run(
        [sys.executable, "-c", script, str(out), *names],
        check=True,
        cwd=ROOT,
        env=env,
        capture_output=True,
        timeout=900,
    )


def _compare(names: list[str], out: Path) -> list[str]:
    differ = []
    for name in names:
        for suffix in SUFFIXES:
            ours, committed = out / f"{name}-quick{suffix}", ROOT / "paper_figures"
            committed = committed / f"{name}-quick{suffix}"
            if ours.read_bytes() != committed.read_bytes():
                differ.append(committed.name)
    return differ


@pytest.mark.parametrize(
    "names", [FAST, pytest.param(SLOW, marks=pytest.mark.slow)], ids=["fast", "slow"]
)
def test_quick_records_are_identical_under_another_blas(names, tmp_path):
    _recompute(names, tmp_path)
    differ = _compare(names, tmp_path)
    assert not differ, f"recomputed under {OTHER_BLAS}, these files differ: {differ}"
