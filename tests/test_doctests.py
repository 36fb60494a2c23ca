"""The Examples sections of the public modules' docstrings run as written (doctest)."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = (
    "kdtheory.claims",
    "kdtheory.circulant",
    "kdtheory.exact",
    "kdtheory.lowrank",
    "kdtheory.formatting",
    "kdtheory.losses",
    "kdtheory.montecarlo",
    "kdtheory.nystrom",
    "kdtheory.rates",
    "kdtheory.structured",
)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name):
    module = importlib.import_module(name)
    flags = doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS
    result = doctest.testmod(module, optionflags=flags)
    assert result.attempted > 0, f"{name} has no examples"
    assert result.failed == 0
