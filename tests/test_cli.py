"""The command line writes the figure, its table and claims, and the figure index."""

from __future__ import annotations

import json
import os

import pandas as pd
import pytest

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
    assert "compute time" in capsys.readouterr().out
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
    # and prints the compute time of the tasks (as computed), but writes no time anywhere
    printed = capsys.readouterr().out
    assert "compute time" in printed and "summed over" in printed
    assert "seconds" not in stem.with_suffix(".json").read_text()
    assert "time" not in (out / "README.md").read_text().replace("compute time", "")


def test_outputs_are_a_function_of_the_table(tmp_path, capsys):
    """`kdtheory redraw` rewrites every output byte for byte from the saved table, and a run
    with every task cached (other process state, same table) writes the same bytes too."""
    out, cache = tmp_path / "figs", tmp_path / "cache"
    common = ["--out", str(out), "--cache-dir", str(cache), "--no-progress"]
    assert main(["run", "rat_iteration", *common]) == 0
    files = sorted(p for p in out.iterdir())
    before = {p.name: p.read_bytes() for p in files}
    assert main(["redraw", "--out", str(out)]) == 0
    assert {p.name: p.read_bytes() for p in sorted(out.iterdir())} == before
    assert main(["run", "rat_iteration", *common]) == 0
    assert {p.name: p.read_bytes() for p in sorted(out.iterdir())} == before


def test_redraw_without_a_table_is_one_line(tmp_path, capsys):
    (tmp_path / "notes.csv").write_text("a\n1\n")  # a stray table that no simulation wrote
    assert main(["redraw", "--out", str(tmp_path)]) == 2
    assert "no saved table of any simulation" in capsys.readouterr().err
    assert main(["redraw", "rat_iteration", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "kdtheory run NAME --preset PRESET" in err
    assert main(["redraw", "rat_iteratoin", "--out", str(tmp_path)]) == 2
    assert "Did you mean 'rat_iteration'?" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("args", "status", "message"),
    [
        (
            ["run", "rat_separatoin"],
            2,
            "unknown simulation 'rat_separatoin'. Did you mean 'rat_separation'?",
        ),
        (["run", "nope"], 2, "unknown simulation 'nope'. `kdtheory list`"),
        (
            ["run", "rat_iteration", "--preset", "ful"],
            2,
            "unknown preset 'ful' for rat_iteration. Did you mean 'full'?",
        ),
        (["run", "rat_iteration", "--n-jobs", "0"], 2, "0 workers cannot run anything"),
        (["run", "rat_iteration", "--n-jobs", "two"], 2, "expected an integer, got 'two'"),
        (["run", "rat_iteration", "--backend", "foo"], 2, "invalid choice: 'foo'"),
        (["figures", "--backend", "lokky"], 2, "invalid choice: 'lokky'"),
        (["figures", "--preset", "qiuck"], 2, "unknown preset 'qiuck'. Did you mean 'quick'?"),
    ],
)
def test_user_errors_are_one_line_on_stderr(tmp_path, capsys, args, status, message):
    """Every mistake in the request: a non-zero exit and one line naming it, no traceback."""
    try:
        code = main([*args, "--out", str(tmp_path / "figs")])
    except SystemExit as exit_:  # argparse's own errors, made one line
        code = exit_.code
    assert code == status
    captured = capsys.readouterr()
    err = captured.err
    assert message in err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1 and err.startswith("kdtheory: error: ")
    assert not (tmp_path / "figs").exists()  # nothing ran
    assert "==" not in captured.out


def test_missing_data_is_one_line_and_debug_shows_the_traceback(tmp_path, capsys, no_data_env):
    args = ["run", "tabular_kd", "--out", str(tmp_path / "figs"), "--no-progress"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("kdtheory: error: ") and "magic04.csv" in err
    assert "Traceback" not in err
    for debug in (["--debug", *args], [*args, "--debug"]):
        with pytest.raises(FileNotFoundError):
            main(debug)


def test_library_errors_are_not_swallowed(tmp_path):
    """The one-line treatment is for user errors only: run_simulation raises them as exceptions."""
    from kdtheory.cli import UsageError, run_simulation

    with pytest.raises(UsageError, match="unknown backend 'foo'"):
        run_simulation("rat_iteration", backend="foo", out_dir=tmp_path)
    with pytest.raises(UsageError, match="n_jobs = 0"):
        run_simulation("rat_iteration", n_jobs=0, out_dir=tmp_path)


def test_list_columns_align_and_show_presets_and_needs(capsys):
    import importlib

    assert main(["list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    rows = [line for line in lines if line.split(" ")[0] in SIMULATIONS]
    assert len(rows) == len(SIMULATIONS)
    starts = {line.index(mod_ids) for line, mod_ids in zip(rows, _claim_columns(), strict=True)}
    assert len(starts) == 1  # the claim ids start in one column
    for row, module in zip(rows, SIMULATIONS.values(), strict=True):
        mod = importlib.import_module(module)
        for preset in mod.PRESETS:
            assert f"{preset} (" in row
        assert all(need in row for need in getattr(mod, "NEEDS", ()))
    assert "extra: neural" in rows[-1] and "magic04.csv" in "".join(rows)


def test_every_preset_states_its_measured_time():
    """Each simulation's PRESET_SECONDS covers its presets: a positive wall time on two cores,
    or None only for a preset made for a GPU."""
    import importlib

    for module in SIMULATIONS.values():
        mod = importlib.import_module(module)
        assert set(mod.PRESET_SECONDS) == set(mod.PRESETS), module
        for preset, seconds in mod.PRESET_SECONDS.items():
            if seconds is None:
                assert preset == "gpu", (module, preset)
            else:
                assert seconds > 0, (module, preset)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(6, "6 s"), (89, "89 s"), (500, "8 min"), (1380, "23 min"), (6300, "1.8 h")],
)
def test_durations_read_as_a_person_would_say_them(seconds, text):
    from kdtheory.cli import _duration

    assert _duration(seconds) == text


def _claim_columns():
    import importlib

    return [", ".join(importlib.import_module(m).CLAIM_IDS) for m in SIMULATIONS.values()]


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
    from kdtheory.io import DATA_ENV_VAR, data_root

    # recorded first (setenv), so that teardown restores it even where it was unset: main()
    # sets it below, and a leaked one-row magic04.csv would feed the next test's loaders
    monkeypatch.setenv(DATA_ENV_VAR, str(tmp_path))
    monkeypatch.delenv(DATA_ENV_VAR)
    (tmp_path / "magic04.csv").write_text("class\ng\n")
    # an unknown simulation stops (status 2) after the option is applied
    assert main(["run", "no_such_simulation", "--data-root", str(tmp_path)]) == 2
    assert data_root(require="magic04.csv") == tmp_path


@pytest.mark.parametrize("command", [["run", "pd_robustness", "--preset", "quick"], ["teachers"]])
def test_a_missing_data_root_is_a_one_line_usage_error(tmp_path, monkeypatch, capsys, command):
    """``--data-root`` naming no folder stops before anything runs, instead of falling back to
    ``$KDTHEORY_DATA`` or the user cache silently."""
    from kdtheory.io import DATA_ENV_VAR

    monkeypatch.setenv(DATA_ENV_VAR, str(tmp_path))
    missing = tmp_path / "nope"
    args = [*command, "--data-root", str(missing), "--out", str(tmp_path / "out")]
    if command == ["teachers"]:
        args = ["teachers", "--data-root", str(missing), "--cache-dir", str(tmp_path)]
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"kdtheory: error: --data-root {missing}: no such folder."
    assert os.environ[DATA_ENV_VAR] == str(tmp_path)
    assert not (tmp_path / "out").exists()


def test_an_output_folder_that_cannot_be_written_stops_before_computing(
    tmp_path, monkeypatch, capsys
):
    """The outputs' folder is checked first: a run never computes and then fails at its write
    (a folder under a file cannot be created, even by root)."""
    from kdtheory.simulations import pd_robustness

    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    monkeypatch.setattr(
        pd_robustness, "run", lambda *a, **k: pytest.fail("computed before checking the folder")
    )
    assert main(["run", "pd_robustness", "--preset", "quick", "--out", str(blocker / "out")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("kdtheory: error: cannot write the outputs to")


def test_version(capsys):
    import kdtheory

    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out.strip() == f"kdtheory {kdtheory.__version__}"


@pytest.mark.parametrize(
    ("name", "preset"), [("imagenette_shift", "cpu"), ("pd_robustness", "quick")]
)
def test_run_without_a_preset_uses_a_valid_one(tmp_path, monkeypatch, name, preset):
    import kdtheory.cli as cli

    seen = []
    monkeypatch.setattr(cli, "run_simulation", lambda n, p, **kw: seen.append((n, p)) or [])
    assert main(["run", name, "--out", str(tmp_path)]) == 0
    assert seen == [(name, preset)]


@pytest.mark.parametrize(("asserted", "status"), [(True, 1), (False, 0)])
def test_run_exits_non_zero_when_an_asserted_check_fails(tmp_path, monkeypatch, asserted, status):
    """A failing check the test suite asserts is an error of the run (status 1); one reported
    only (the Imagenette studies') is printed and counted, status 0."""
    import kdtheory.cli as cli
    from kdtheory.claims import Claim

    claim = Claim("RAT-1", "a check", outcome=False, asserted=asserted)
    monkeypatch.setattr(cli, "run_simulation", lambda n, p, **kw: [claim])
    assert main(["run", "pd_robustness", "--out", str(tmp_path)]) == status


def test_claims_and_redraw_work_from_any_directory(tmp_path, monkeypatch, capsys):
    import kdtheory.cli as cli

    monkeypatch.chdir(tmp_path)
    assert main(["claims", "--check"]) == 0
    out = capsys.readouterr().out
    assert f"{cli.PROJECT_ROOT / 'CLAIMS.md'} is current" in out
    redrawn = []
    monkeypatch.setattr(cli, "redraw_simulation", lambda n, p, out_dir: redrawn.append(out_dir))
    assert main(["redraw", "pd_robustness", "--preset", "quick"]) == 0
    assert redrawn == [cli.PROJECT_ROOT / "paper_figures"]
    assert not any(tmp_path.iterdir())


def test_saved_tables_keep_each_column_at_its_precision():
    """Eight significant digits by default, a column's own digits (more or fewer), a Floor for
    rounding-level values, whole numbers kept whole, dropped columns gone; saving the table read
    back from its text gives the same text."""
    import io as _io

    import numpy as np
    import pandas as pd

    from kdtheory.io import Floor, table_csv_text

    table = pd.DataFrame(
        {
            "risk": [1 / 3, 2 / 3],
            "slope": [1 / 3, 2.0 / 7.0],
            "rate": [1 / 3, 0.5],
            "err": [7.1e-14, 3e-3],
            "seed": [123456789.0, np.nan],
            "n_iter": [56, 57],
        }
    )
    precision = {"slope": 14, "rate": 3, "err": Floor(1e-10), "n_iter": None}
    text = table_csv_text(table, precision)
    back = pd.read_csv(_io.StringIO(text))
    assert list(back.columns) == ["risk", "slope", "rate", "err", "seed"]
    assert back.risk[0] == 0.33333333 and back.slope[0] == 0.33333333333333
    assert back.rate[0] == 0.333 and back.err.tolist() == [1e-10, 0.003]
    assert back.seed[0] == 123456789.0
    assert table_csv_text(back, precision) == text


def test_figures_prints_each_simulations_wall_time_beside_its_stated_one():
    from kdtheory.cli import _wall_times
    from kdtheory.simulations import rat_iteration

    text = _wall_times({"rat_iteration": 19.4, "late_distillation": 8.6}, "full", 2)
    assert "(full, 2 worker(s))" in text
    stated = rat_iteration.PRESET_SECONDS["full"]
    assert f"| rat_iteration | 19 s | {stated:.0f} s |" in text.splitlines()
    assert text.splitlines()[-1] == "| total | 28 s | |"
