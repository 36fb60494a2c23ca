"""The dask backend: a local cluster gives the sequential table; an unreachable scheduler is one
line naming its address, quickly."""

from __future__ import annotations

import time

import pandas as pd
import pytest

from kdtheory.cli import SCHEDULER_TIMEOUT, main

pytest.importorskip("distributed")


def _table(out):
    return pd.read_csv(out / "rat_iteration-quick.csv")


def test_local_cluster_gives_the_sequential_table(tmp_path, capsys):
    """`--scheduler local:2` starts two worker processes on the loopback interface; the table
    (seeded per grid point and trial) equals the sequential one bit for bit."""
    seq, par = tmp_path / "seq", tmp_path / "par"
    common = ["run", "rat_iteration", "--no-progress", "--cache-dir", ""]
    assert main([*common, "--out", str(seq)]) == 0
    assert main([*common, "--out", str(par), "--scheduler", "local:2"]) == 0
    pd.testing.assert_frame_equal(_table(seq), _table(par))


@pytest.mark.parametrize("address", ["tcp://127.0.0.1:9", "tcp://192.0.2.1:8786"])
def test_unreachable_scheduler_is_one_line_naming_it(tmp_path, capsys, address):
    start = time.perf_counter()
    status = main(["run", "rat_iteration", "--scheduler", address, "--out", str(tmp_path)])
    elapsed = time.perf_counter() - start
    err = capsys.readouterr().err.strip()
    assert status == 2 and err.count("\n") == 0
    assert f"cannot reach the dask scheduler at {address}" in err
    assert elapsed < SCHEDULER_TIMEOUT + 2  # the bound: within 10 s


@pytest.mark.parametrize("spec", ["local:0", "local:x"])
def test_bad_local_cluster_size(tmp_path, capsys, spec):
    assert main(["run", "rat_iteration", "--scheduler", spec, "--out", str(tmp_path)]) == 2
    assert "expected local:N with N >= 1" in capsys.readouterr().err
