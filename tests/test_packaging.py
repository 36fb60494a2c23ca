"""The installed layout: one top-level name, ``kdtheory``; the simulations under it.

The checkout keeps its top-level ``simulations/`` folder; an install places it at
``kdtheory/simulations/``, because a top-level module named ``simulations`` would collide with
other projects'. Run from a checkout without installing, ``kdtheory`` finds the folder itself.
"""

from __future__ import annotations

import importlib.metadata
import os
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

from kdtheory.cli import SIMULATIONS

ROOT = Path(__file__).resolve().parents[1]


def _tracked_copy(destination: Path) -> Path:
    """The checkout's tracked files (what a clone holds), copied to ``destination``."""
    listed = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
    ).stdout.split(b"\0")
    for name in filter(None, listed):
        source = ROOT / os.fsdecode(name)
        if source.is_file():
            target = destination / os.fsdecode(name)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    return destination


def _build_backend_version() -> tuple[int, ...] | None:
    """The installed setuptools' version, or None (then no wheel is built here)."""
    try:
        version = importlib.metadata.version("setuptools")
    except importlib.metadata.PackageNotFoundError:
        return None
    return tuple(int(part) for part in re.findall(r"\d+", version)[:2])


def test_the_configuration_installs_one_top_level_name():
    """pyproject.toml's packages: kdtheory and its subpackages only, every package folder of the
    checkout among them, simulations/ mapped to kdtheory.simulations."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]
    packages, folders = config["setuptools"]["packages"], config["setuptools"]["package-dir"]
    assert {name.split(".")[0] for name in packages} == {"kdtheory"}
    assert folders == {"kdtheory.simulations": "simulations"}
    on_disk = {
        ".".join(init.parent.relative_to(ROOT).parts)
        for top in ("kdtheory", "simulations")
        for init in (ROOT / top).rglob("__init__.py")
    }
    on_disk = {f"kdtheory.{name}" if name.startswith("simulations") else name for name in on_disk}
    assert set(packages) == on_disk


@pytest.fixture(scope="module")
def wheel_names(tmp_path_factory) -> list[str]:
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("needs the git checkout")
    required = re.search(r"setuptools>=(\d+)", (ROOT / "pyproject.toml").read_text()).group(1)
    version = _build_backend_version()
    if version is None or version[0] < int(required):  # pip builds the package in isolation
        pytest.skip(f"building a wheel without isolation needs setuptools >= {required} here")
    source = _tracked_copy(tmp_path_factory.mktemp("source"))
    out = tmp_path_factory.mktemp("wheel")
    build = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q"]
    subprocess.run([*build, "-w", str(out), str(source)], check=True, capture_output=True)
    (wheel,) = out.glob("kdtheory-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        return archive.namelist()


def test_the_wheel_installs_one_top_level_name(wheel_names):
    tops = {name.split("/")[0] for name in wheel_names if not name.split("/")[0].endswith("-info")}
    assert tops == {"kdtheory"}
    top_level = next(name for name in wheel_names if name.endswith("top_level.txt"))
    assert top_level.startswith("kdtheory-")


def test_every_simulation_is_in_the_wheel_under_kdtheory(wheel_names):
    for module in SIMULATIONS.values():
        assert module.startswith("kdtheory.simulations.")
        assert module.replace(".", "/") + ".py" in wheel_names
    # and the private modules the simulations import
    private = {p.name for p in (ROOT / "simulations").glob("_*.py")}
    assert {n.rsplit("/", 1)[-1] for n in wheel_names if "/simulations/_" in n} == private


def test_a_checkout_on_the_path_imports_the_simulations_without_an_install(tmp_path):
    """As the GPU scripts run: the checkout on PYTHONPATH, no install (no editable finder)."""
    code = (
        "import sys\n"
        "sys.meta_path = [f for f in sys.meta_path if 'Editable' not in repr(f)]\n"
        "import kdtheory.simulations.late_distillation as m\n"
        "from kdtheory.cli import SIMULATIONS\n"
        "import importlib\n"
        "for name in SIMULATIONS.values():\n"
        "    assert importlib.util.find_spec(name) is not None, name\n"
        "assert 'simulations' not in sys.modules\n"
        "print(m.__file__)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert Path(done.stdout.strip()) == ROOT / "simulations" / "late_distillation.py"


def test_no_file_imports_a_top_level_simulations_module():
    """Every import names ``kdtheory.simulations``: a bare ``simulations`` works only from the
    checkout's root and loads a second copy of each module there."""
    listed = subprocess.run(
        ["git", "ls-files", "*.py", "*.sh", "*.md", "*.rst"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    ).stdout.split()
    if not listed:
        pytest.skip("needs the git checkout")
    bare = re.compile(
        r"(?:^|[^\w.])(?:from simulations[. ]|import simulations\b)"
        r"|import_module\(f?[\"']simulations\."
    )
    here = Path(__file__).resolve().relative_to(ROOT).as_posix()  # its pattern names them
    offenders = [
        f"{name}:{i}"
        for name in listed
        if name != here
        for i, line in enumerate((ROOT / name).read_text(encoding="utf-8").splitlines(), 1)
        if bare.search(line)
    ]
    assert not offenders, offenders
