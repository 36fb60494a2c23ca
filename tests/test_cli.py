"""The command line writes the figure, its table and claims, and the figure index."""

from __future__ import annotations

import json

import pandas as pd

from kdtheory.cli import SIMULATIONS, main


def test_list(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for name in SIMULATIONS:
        assert name in out
    assert "RAT-3" in out


def test_run_writes_outputs_and_resumes_from_cache(tmp_path, capsys):
    out, cache = tmp_path / "figs", tmp_path / "cache"
    args = [
        "run",
        "rat_iteration",
        "--preset",
        "quick",
        "--out",
        str(out),
        "--cache-dir",
        str(cache),
        "--no-progress",
    ]
    assert main(args) == 0
    stem = out / "rat_iteration-quick"
    for suffix in (".png", ".pdf", ".csv", ".json"):
        assert stem.with_suffix(suffix).stat().st_size > 0
    record = json.loads(stem.with_suffix(".json").read_text())
    assert record["preset"] == "quick" and record["claim_ids"] == ["RAT-3"]
    assert all(c["id"] == "RAT-3" for c in record["claims"])
    index = (out / "README.md").read_text()
    assert "rat_iteration-quick.png" in index and "| RAT-3 |" in index
    first = pd.read_csv(stem.with_suffix(".csv"))
    n_cached = len(list(cache.iterdir()))
    assert n_cached > 0
    # a second run loads every task from the cache and writes the identical table
    assert main(args) == 0
    assert len(list(cache.iterdir())) == n_cached
    pd.testing.assert_frame_equal(pd.read_csv(stem.with_suffix(".csv")), first)


def test_unknown_simulation_and_preset(tmp_path):
    import pytest

    with pytest.raises(SystemExit, match="unknown simulation"):
        main(["run", "nope", "--out", str(tmp_path)])
    with pytest.raises(SystemExit, match="unknown preset"):
        main(["run", "rat_iteration", "--preset", "huge", "--out", str(tmp_path)])
