"""Data lookup and the tabular loaders of kdtheory.io (SEMI-6's MAGIC and Adult data)."""

from __future__ import annotations

import numpy as np
import pytest

from kdtheory.io import DATA_ENV_VAR, data_root, load_tabular

MAGIC_HEADER = "Length,Width,Size,Conc,Conc1,Asym,M3Long,M3Trans,Alpha,Dist,class"


def _write_magic(folder, labels=("g", "h", "g")):
    folder.mkdir(parents=True, exist_ok=True)
    rows = [",".join(str(float(i + j)) for j in range(10)) + f",{c}" for i, c in enumerate(labels)]
    (folder / "magic04.csv").write_text("\n".join([MAGIC_HEADER, *rows]) + "\n")
    return folder


def _write_adult(folder):
    folder.mkdir(parents=True, exist_ok=True)
    text = (
        "age,type_employer,fnlwgt,income\n"
        "45, Self-emp-not-inc,183710,<=50K\n"
        "28, Federal-gov,188278, >50K.\n"
        "33, Private,100000,>50K\n"
        "51, Federal-gov,120000,<=50K\n"
    )
    (folder / "adult.csv").write_text(text)
    return folder


def test_load_magic_labels_h_is_one(tmp_path):
    X, y, names = load_tabular("magic", _write_magic(tmp_path / "d"))
    assert X.shape == (3, 10) and X.dtype == np.float64
    assert names == MAGIC_HEADER.split(",")[:-1]
    # 'h' is the lexicographically larger class: LabelBinarizer maps it to 1 (the paper's code)
    np.testing.assert_array_equal(y, [0, 1, 0])
    assert y.dtype == np.int64
    np.testing.assert_array_equal(X[1], np.arange(1.0, 11.0))


def test_load_adult_ordinal_codes_and_labels(tmp_path):
    X, y, names = load_tabular("ADULT", _write_adult(tmp_path / "d"))
    assert names == ["age", "type_employer", "fnlwgt"]
    # '>50K.' (UCI test-file spelling) and ' >50K' count as the positive class
    np.testing.assert_array_equal(y, [0, 1, 1, 0])
    # categories sorted lexicographically: Federal-gov 0, Private 1, Self-emp-not-inc 2
    np.testing.assert_array_equal(X[:, 1], [2.0, 0.0, 1.0, 0.0])
    np.testing.assert_array_equal(X[:, 0], [45.0, 28.0, 33.0, 51.0])


def test_explicit_path_beats_environment(tmp_path, monkeypatch):
    env_dir = _write_magic(tmp_path / "env", labels=("g", "g"))
    explicit = _write_magic(tmp_path / "explicit", labels=("h", "h", "h"))
    monkeypatch.setenv(DATA_ENV_VAR, str(env_dir))
    assert data_root(explicit, require="magic04.csv") == explicit
    assert load_tabular("magic", explicit)[1].tolist() == [1, 1, 1]
    assert load_tabular("magic")[1].tolist() == [0, 0]


def test_explicit_path_is_the_only_place_looked(tmp_path, monkeypatch):
    monkeypatch.setenv(DATA_ENV_VAR, str(_write_magic(tmp_path / "env")))
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FileNotFoundError, match="explicit path"):
        load_tabular("magic", empty)


def test_environment_then_user_cache(tmp_path, monkeypatch, no_data_env):
    cache = _write_magic(no_data_env, labels=("h",))
    # no env var: the user cache folder
    assert data_root(require="magic04.csv") == cache
    # env var set and holding the file: it wins over the cache
    env_dir = _write_magic(tmp_path / "env", labels=("g",))
    monkeypatch.setenv(DATA_ENV_VAR, str(env_dir))
    assert data_root(require="magic04.csv") == env_dir
    # env var set but without the file: fall through to the cache
    monkeypatch.setenv(DATA_ENV_VAR, str(tmp_path / "nowhere"))
    assert data_root(require="magic04.csv") == cache
    assert load_tabular("magic")[1].tolist() == [1]


def test_error_says_what_is_missing_where_it_looked_and_how_to_provide_it(
    tmp_path, monkeypatch, no_data_env
):
    env_dir = tmp_path / "env"
    env_dir.mkdir()
    monkeypatch.setenv(DATA_ENV_VAR, str(env_dir))
    with pytest.raises(FileNotFoundError) as info:
        load_tabular("adult")
    msg = str(info.value)
    assert "'adult.csv'" in msg
    assert f"{DATA_ENV_VAR}: {env_dir} (no adult.csv in it)" in msg
    assert f"user cache folder: {no_data_env} (no such folder)" in msg
    assert "--data-root" in msg and f"set {DATA_ENV_VAR}=FOLDER" in msg
    assert "income" in msg  # what the file is


def test_error_when_environment_variable_unset(no_data_env):
    with pytest.raises(FileNotFoundError, match=f"{DATA_ENV_VAR}: not set"):
        data_root(require="magic04.csv")


def test_bad_inputs(tmp_path):
    with pytest.raises(ValueError, match="unknown tabular data set"):
        load_tabular("higgs", tmp_path)
    _write_magic(tmp_path / "bad", labels=("g", "x"))
    with pytest.raises(ValueError, match="must take values in"):
        load_tabular("magic", tmp_path / "bad")
    (tmp_path / "nocol").mkdir()
    (tmp_path / "nocol" / "magic04.csv").write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match="no target column 'class'"):
        load_tabular("magic", tmp_path / "nocol")


def _real(name):
    try:
        return load_tabular(name)
    except FileNotFoundError:
        pytest.skip(f"{name} data not found (set {DATA_ENV_VAR} to the shared data folder)")


@pytest.mark.claim("SEMI-6")
def test_real_magic():
    X, y, names = _real("magic")
    # data/README.md: 19,020 rows, 12,332 g and 6,688 h
    assert X.shape == (19020, 10) and len(names) == 10
    assert int(y.sum()) == 6688
    assert np.isfinite(X).all()


@pytest.mark.claim("SEMI-6")
def test_real_adult():
    X, y, names = _real("adult")
    # data/README.md: the cleaned 30,162-row version, 14 features
    assert X.shape == (30162, 14) and len(names) == 14
    assert 0.2 < y.mean() < 0.3  # about a quarter earn >50K in UCI Adult
    assert np.isfinite(X).all()


def test_temporary_environ_sets_then_restores(monkeypatch):
    import os

    from kdtheory.io import temporary_environ

    monkeypatch.setenv("KDT_SET", "before")
    monkeypatch.delenv("KDT_UNSET", raising=False)
    with temporary_environ(KDT_SET="during", KDT_UNSET="new"):
        assert os.environ["KDT_SET"] == "during" and os.environ["KDT_UNSET"] == "new"
    assert os.environ["KDT_SET"] == "before" and "KDT_UNSET" not in os.environ
