"""The GPU scripts of benchmarks/ (gpu_*.sh) end to end on the CPU, at ``PRESET=smoke``.

The GPU machine has no network and nothing of the package installed, so each script runs from
the checkout with an interpreter that cannot import setuptools or wheel (stub packages that
raise ImportError come first on its path) and with pip's index switched off; the images are a
tiny generated folder in the Imagenette layout (``KDTHEORY_DATA_GPU``). The scripts share one
user cache folder (decoded images, JAX's compiled steps) and run two at a time (:data:`LANES`);
gpu_deviations.sh, gpu_imperfect.sh and gpu_imperfect_teachers.sh run one after the other with
the same OUT, so the last one resumes the tasks the first two cached there, as a second call on
the GPU machine with the same OUT does.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shlex
import subprocess
import sys
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

for _module in ("jax", "flax", "optax", "orbax.checkpoint", "PIL.Image"):
    pytest.importorskip(_module)

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "benchmarks"
#: script -> the studies it runs
SCRIPTS = {
    "gpu_deviations": ["imagenette_deviations"],
    "gpu_imperfect": ["imagenette_imperfect"],
    "gpu_study": ["imagenette_shift"],
    "gpu_imperfect_teachers": ["imagenette_deviations", "imagenette_imperfect"],
}
#: seconds a script may take here before the test gives up on it
SCRIPT_TIMEOUT = 420
#: the whole GPU call must fit in 8 minutes
GPU_CALL_S = 480


def _folder_helpers():
    """tests/neural/_imagenette_folder.py (the generator of the studies' own smoke tests)."""
    path = Path(__file__).parent / "neural" / "_imagenette_folder.py"
    spec = importlib.util.spec_from_file_location("_gpu_scripts_imagenette_folder", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def base_env(tmp_path_factory) -> dict[str, str]:
    """The environment of a CPU run at the smoke preset, OUT left to each test."""
    base = tmp_path_factory.mktemp("gpu_scripts")
    # the folder of tests/neural/test_imagenette_shift.py: 16-px JPEGs whose brightness varies
    _folder_helpers().write_imagenette(
        base / "data" / "imagenette2-64",
        {"train": 40, "val": 24},
        lambda rng, label: rng.uniform(30, 220) + 40 * rng.standard_normal((16, 16, 3)),
    )
    stubs = base / "stubs"
    for name in ("setuptools", "wheel"):
        (stubs / name).mkdir(parents=True)
        (stubs / name / "__init__.py").write_text('raise ImportError("not installed")\n')
    python = base / "python"
    python.write_text(
        "#!/bin/sh\n"
        f'PYTHONPATH={shlex.quote(str(stubs))}"${{PYTHONPATH:+:$PYTHONPATH}}" '
        f'exec {shlex.quote(sys.executable)} "$@"\n'
    )
    python.chmod(0o755)
    drop = ("OUT", "PRESET", "SMOKE_ONLY", "PYTHONPATH", "KDTHEORY_DATA", "KDTHEORY_DATA_GPU")
    env = {k: v for k, v in os.environ.items() if k not in drop and not k.startswith("PIP_")}
    env.update(
        PRESET="smoke",
        PYTHON=str(python),
        KDTHEORY_DATA_GPU=str(base / "data"),
        PIP_NO_INDEX="1",
        PIP_CONFIG_FILE=os.devnull,
        XDG_CACHE_HOME=str(base / "xdg"),
    )
    return env


def _run(script: str, env: dict[str, str], out: Path, timeout=SCRIPT_TIMEOUT):
    return subprocess.run(
        ["bash", str(BENCH / f"{script}.sh")],
        env={**env, "OUT": str(out)},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def _files(folder: Path, pattern: str = "*") -> dict[str, tuple[int, int]]:
    """Each file under ``folder``: its path relative to it -> (inode, mtime): a rewrite changes
    it (outputs are written to a temporary file, then renamed)."""
    return {
        str(p.relative_to(folder)): (p.stat().st_ino, p.stat().st_mtime_ns)
        for p in folder.rglob(pattern)
        if p.is_file()
    }


@dataclass
class Run:
    """One script's run: its process, OUT, the log, and the files it wrote under OUT."""

    process: subprocess.CompletedProcess
    out: Path
    log: str
    written: set[str]
    smoke_figures_written: set[str]  # *-smoke.* files written into the tracked paper_figures/


#: two lanes, run side by side (two cores); the scripts of the second share one OUT, so
#: gpu_imperfect_teachers.sh resumes the tasks the two per-study scripts cached there
LANES = (("gpu_study",), ("gpu_deviations", "gpu_imperfect", "gpu_imperfect_teachers"))


@pytest.fixture(scope="module")
def runs(request, base_env, tmp_path_factory) -> dict[str, Future]:
    """The end-to-end runs of the scripts the session selected, started at once in two lanes."""
    wanted = {
        item.callspec.params["script"]
        for item in request.session.items
        if getattr(item, "originalname", None) == "test_script_runs_end_to_end_on_the_cpu"
    }
    futures: dict[str, Future] = {}
    pool = ThreadPoolExecutor(max_workers=len(LANES))

    def lane(scripts: tuple[str, ...], out: Path) -> None:
        for script in scripts:
            paper = _files(ROOT / "paper_figures", "*-smoke.*")
            before = _files(out) if out.is_dir() else {}
            try:
                process = _run(script, base_env, out)
                after = _files(out)
                log_path = out / f"{script}.log"
                log = log_path.read_text() if log_path.exists() else ""
                written = {p for p, stamp in after.items() if before.get(p) != stamp}
                touched = {
                    p
                    for p, stamp in _files(ROOT / "paper_figures", "*-smoke.*").items()
                    if paper.get(p) != stamp
                }
                futures[script].set_result(Run(process, out, log, written, touched))
            except BaseException as err:  # noqa: BLE001 - handed to the test that waits
                futures[script].set_exception(err)

    for scripts in LANES:
        mine = tuple(s for s in scripts if s in wanted)
        for script in mine:
            futures[script] = Future()
        if mine:
            pool.submit(lane, mine, tmp_path_factory.mktemp("out"))
    yield futures
    pool.shutdown(wait=True)


def test_the_stub_interpreter_has_no_setuptools_or_wheel(base_env):
    for name in ("setuptools", "wheel"):
        result = subprocess.run(
            [base_env["PYTHON"], "-c", f"import {name}"],
            env=base_env,
            capture_output=True,
            text=True,
            check=False,
        )
        assert result.returncode != 0 and "not installed" in result.stderr


@pytest.mark.parametrize("script", list(SCRIPTS))
def test_script_runs_end_to_end_on_the_cpu(script, runs):
    run = runs[script].result(timeout=3 * SCRIPT_TIMEOUT)
    process, log = run.process, run.log
    assert process.returncode == 0, process.stdout[-4000:] + process.stderr[-4000:]
    assert f"{script}.log" in run.written
    for name in SCRIPTS[script]:
        figure = f"figures/{name}-smoke.json"
        assert figure in run.written
        record = json.loads((run.out / figure).read_text())
        assert record["preset"] == "smoke" and record["claims"]
        # the step that ran, and its tables: every claim with its verdict
        assert f"== main run (smoke preset): {name}" in log
        assert f"-- {name} (smoke)" in log and "no table" not in log
        for i in {c["id"] for c in record["claims"]}:
            assert re.search(rf"^{re.escape(i)} +(holds|fails|inconclusive) ", log, re.M), i
    assert f"== {script}: preset smoke, results in {run.out}" in log
    assert "== versions" in log and "nvidia-smi" in log
    assert "== teachers (smoke)" in log and "== tables (smoke)" in log
    assert "smoke run (smoke preset)" not in log  # PRESET=smoke: the smoke preset runs once
    assert log.rstrip().splitlines()[-1].startswith("== done (")
    assert any(p.is_file() for p in (run.out / "cache").rglob("*"))
    if script == "gpu_study":
        assert "bench_neural.json" in run.written and "== benchmark" in log
    # everything under OUT, nothing into the tracked figures
    assert not run.smoke_figures_written


@pytest.mark.parametrize("layout", ["empty", "no val"])
def test_missing_data_stops_first_with_the_copy_hint(layout, base_env, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    if layout == "no val":
        (data / "imagenette2-64" / "train").mkdir(parents=True)
    # an interpreter that does not exist: the check runs before anything else
    env = {**base_env, "KDTHEORY_DATA_GPU": str(data), "PYTHON": str(tmp_path / "no-python")}
    for script in SCRIPTS:
        result = _run(script, env, tmp_path / script, timeout=60)
        assert result.returncode != 0
        hint = 'mkdir -p .data && cp -r "$KDTHEORY_DATA/imagenette2-64" .data/'
        assert hint in result.stderr
        assert f"{data}/imagenette2-64/train and /val" in result.stderr
        assert hint in (tmp_path / script / f"{script}.log").read_text()


@pytest.mark.parametrize("script", list(SCRIPTS))
def test_time_limits_fit_one_gpu_call(script):
    """Every timed step has a limit, and the limits sum to under 8 minutes."""
    text = (BENCH / f"{script}.sh").read_text()
    shared = (BENCH / "_gpu.sh").read_text()
    limits = dict(
        entry.split(":") for entry in re.search(r'^LIMITS="([^"]*)"', text, re.M)[1].split()
    )
    budget = int(re.search(r"^BUDGET_S=(\d+)", shared, re.M)[1])
    assert sum(map(int, limits.values())) <= budget < GPU_CALL_S
    used = {"versions", "gpuinfo", "tables"}  # versions() and tables() of _gpu.sh
    used |= set(re.findall(r"^\s*timed (\w+)", text, re.M))
    used |= {k for k in re.findall(r'run_preset "?([\w${}#]+)', text) if "$" not in k}
    if re.search(r"^smoke \w+", text, re.M):
        used.add("smoke")
    if re.search(r"^teachers\b", text, re.M):
        used.add("teachers")
    if "${name#imagenette_}" in text:
        used |= {n.removeprefix("imagenette_") for n in SCRIPTS[script]}
    assert used <= set(limits), used - set(limits)


def test_smoke_only_is_refused_where_there_is_no_smoke_step(base_env, tmp_path):
    env = {**base_env, "SMOKE_ONLY": "1", "PYTHON": str(tmp_path / "no-python")}
    result = _run("gpu_imperfect_teachers", env, tmp_path / "out", timeout=60)
    assert result.returncode == 2 and "has no smoke step" in result.stdout


def test_scripts_install_nothing_and_write_only_under_out():
    for path in [BENCH / "_gpu.sh", *(BENCH / f"{s}.sh" for s in SCRIPTS)]:
        code = [line for line in path.read_text().splitlines() if not line.lstrip().startswith("#")]
        text = "\n".join(code)
        assert not re.search(r"\bpip\b", text) and "paper_figures" not in text, path.name
        assert ".kdtheory_cache" not in text, path.name
