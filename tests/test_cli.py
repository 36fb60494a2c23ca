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


def test_save_outputs_compresses_large_tables_and_indexes_them(tmp_path, monkeypatch):
    import matplotlib.pyplot as plt
    import pandas as pd

    from kdtheory import io
    from kdtheory.claims import Claim

    monkeypatch.setattr(io, "CSV_GZIP_BYTES", 100)
    claims = [Claim("RAT-1", "a check", True, 0.5)]
    small = pd.DataFrame({"trial": [0, 1], "risk": [0.5, 0.25]})
    large = pd.DataFrame({"trial": range(50), "risk": [0.125] * 50})
    fig = plt.figure()
    try:
        io.save_outputs(tmp_path, "sim-quick", small, fig, claims, {"preset": "quick"})
        assert (tmp_path / "sim-quick.csv").exists()
        paths = io.save_outputs(tmp_path, "sim-quick", large, fig, claims, {"preset": "quick"})
    finally:
        plt.close(fig)
    assert paths[2].name == "sim-quick.csv.gz"
    assert not (tmp_path / "sim-quick.csv").exists()  # the stale plain table is removed
    pd.testing.assert_frame_equal(pd.read_csv(paths[2]), large)
    index = io.write_figures_index(tmp_path).read_text()
    assert "(sim-quick.csv.gz)" in index


def test_data_root_option_points_the_loaders_at_a_folder(tmp_path, monkeypatch):
    import pytest

    from kdtheory.io import DATA_ENV_VAR, data_root

    monkeypatch.delenv(DATA_ENV_VAR, raising=False)  # restored after the test
    (tmp_path / "magic04.csv").write_text("class\ng\n")
    with pytest.raises(SystemExit):  # an unknown simulation stops after the option is applied
        main(["run", "no_such_simulation", "--data-root", str(tmp_path)])
    assert data_root(require="magic04.csv") == tmp_path
