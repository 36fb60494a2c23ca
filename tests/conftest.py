"""Fixtures shared by the test modules."""

from __future__ import annotations

import pytest

from kdtheory.io import DATA_ENV_VAR


@pytest.fixture
def no_data_env(monkeypatch, tmp_path):
    """No KDTHEORY_DATA and an empty user cache folder under tmp_path; returns the (future)
    user cache folder."""
    monkeypatch.delenv(DATA_ENV_VAR, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    return tmp_path / "xdg" / "kdtheory"
