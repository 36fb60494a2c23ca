"""The README's Python snippets run as written, and give the same numbers on every run."""

from __future__ import annotations

import importlib.util
import os
import re
from pathlib import Path

import numpy as np
import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def _blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def _is_neural(block: str) -> bool:
    return "kdtheory.neural" in block


def _run(blocks: list[str], tmp_path) -> dict:
    namespace: dict = {}
    cwd = os.getcwd()
    os.chdir(tmp_path)  # snippets that write (checkpoints) write here
    try:
        for block in blocks:
            exec(compile(block, str(README), "exec"), namespace)
    finally:
        os.chdir(cwd)
    return namespace


def _arrays(namespace: dict) -> dict:
    return {
        k: np.asarray(v)
        for k, v in namespace.items()
        if isinstance(v, np.ndarray | float) and not k.startswith("_")
    }


def test_readme_has_snippets():
    assert len([b for b in _blocks() if not _is_neural(b)]) >= 3


def test_snippets_run_and_are_reproducible(tmp_path):
    blocks = [b for b in _blocks() if not _is_neural(b)]
    first = _arrays(_run(blocks, tmp_path))
    second = _arrays(_run(blocks, tmp_path))
    assert first.keys() == second.keys() and len(first) > 5
    for k in first:
        np.testing.assert_array_equal(first[k], second[k], err_msg=k)


@pytest.mark.parametrize("index", range(len([b for b in _blocks() if not _is_neural(b)])))
def test_each_snippet_runs_on_its_own_without_a_warning(tmp_path, index):
    """A reader copies one snippet into a fresh notebook: it needs nothing from the others, and
    kdtheory warns about nothing in it (e.g. a cross-validated choice on a grid's edge)."""
    import warnings

    block = [b for b in _blocks() if not _is_neural(b)][index]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _run([block], tmp_path)
    assert not caught, [f"{w.category.__name__}: {w.message}" for w in caught]


def test_neural_snippet_runs(tmp_path):
    if importlib.util.find_spec("jax") is None:
        pytest.skip("needs the neural extra")
    from kdtheory.neural.data import _find_root

    try:
        _find_root(None)
    except FileNotFoundError:
        pytest.skip("needs Imagenette ($KDTHEORY_DATA)")
    blocks = [b for b in _blocks() if _is_neural(b)]
    assert blocks
    namespace = _run(blocks, tmp_path)
    assert namespace["images"].dtype == np.uint8 and namespace["images"].shape[1:] == (24, 24, 3)
    assert (tmp_path / "ckpt" / "ce").is_dir()  # the checkpoints the snippet promises
