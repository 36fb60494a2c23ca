"""Hypothesis strategies shared by tests/test_losses.py and tests/test_pd_losses.py."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st


@st.composite
def simplex(draw, k=None, floor=1e-4):
    """A probability vector of ``k`` entries (drawn in 2..6 when None) with entries
    ``>= floor / k`` (so every log is finite)."""
    k = draw(st.integers(2, 6)) if k is None else k
    raw = np.array(draw(st.lists(st.floats(floor, 1.0), min_size=k, max_size=k)))
    return raw / raw.sum()


@st.composite
def simplex_pair(draw, ks=(2, 3, 4, 5, 6)):
    """Two probability vectors of the same length, drawn from ``ks``."""
    k = draw(st.sampled_from(ks))
    return draw(simplex(k)), draw(simplex(k))
