"""Regression functions ``f*`` shared by the RaT simulations, as Mercer expansions.

Each ``f*`` is a finite expansion in an orthonormal eigenbasis on ``U[0, 1]``, normalized to
``||f*||_{L2(U)} = 1``, so its squared coefficients ``theta_k^2`` enter the sequence-model
formulas of :mod:`kdtheory.theory` directly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from kdtheory.kernels import (
    fourier_basis,
    periodic_sobolev_eigenvalues,
    sobolev_min_eigenfunctions,
    sobolev_min_eigenvalues,
)
from kdtheory.theory import rate_tight_coefficients


@dataclass(frozen=True)
class SobolevTarget:
    """``f* = sum_k theta_k phi_k`` in the eigenbasis of ``min(x, x')`` on ``U[0, 1]``.

    ``profile="rate_tight"``: ``theta_k ~ k^{-3/2} / log(k + 1)`` (the minimax rate ``n^{-2/3}``
    is tight); ``profile="smooth"``: ``theta_k ~ k^{-3}`` (kernel methods can beat ``n^{-2/3}``).
    """

    profile: str = "rate_tight"
    n_terms: int = 2000

    @property
    def k(self) -> NDArray:
        return np.arange(1, self.n_terms + 1)

    @property
    def theta(self) -> NDArray:
        if self.profile == "rate_tight":
            t = rate_tight_coefficients(self.k, decay=1.0)
        elif self.profile == "smooth":
            t = self.k.astype(float) ** -3.0
        else:
            raise ValueError(f"unknown profile {self.profile!r}; use 'rate_tight' or 'smooth'.")
        return t / np.linalg.norm(t)

    @property
    def eigenvalues(self) -> NDArray:
        return sobolev_min_eigenvalues(self.k)

    def __call__(self, X, chunk: int = 8192) -> NDArray:
        """``f*`` at the points ``X``, ``chunk`` points at a time (memory ``chunk x n_terms``)."""
        x = np.asarray(X, dtype=float).reshape(len(X), -1)[:, 0]
        theta, k = self.theta, self.k
        return np.concatenate(
            [
                sobolev_min_eigenfunctions(x[i : i + chunk], k) @ theta
                for i in range(0, x.size, chunk)
            ]
            or [np.empty(0)]
        )

    def by_angle_addition(self, X, block: int = 64) -> NDArray:
        """The values of :meth:`__call__` to rounding, with ``block + n_terms / block`` sines
        and cosines per point instead of ``n_terms``: with ``k = block q + s``,
        ``sin((k - 1/2) pi x) = sin(block q pi x) cos((s - 1/2) pi x)
        + cos(block q pi x) sin((s - 1/2) pi x)``, two matrix products. No recurrence: each
        term's error is the rounding of its arguments, as in the direct sum
        (``tests/test_lowrank.py`` bounds the difference); :meth:`__call__` keeps the direct sum
        so that the committed records of the other simulations stay bit for bit.
        """
        x = np.asarray(X, dtype=float).reshape(len(X), -1)[:, 0]
        n_blocks = -(-self.n_terms // block)
        theta = np.zeros(n_blocks * block)
        theta[: self.n_terms] = np.sqrt(2.0) * self.theta
        theta = theta.reshape(n_blocks, block).T  # [s - 1, q]
        inner = np.outer(x, (np.arange(1, block + 1) - 0.5) * np.pi)
        outer = np.outer(x, block * np.arange(n_blocks) * np.pi)
        return np.sum(
            np.sin(outer) * (np.cos(inner) @ theta) + np.cos(outer) * (np.sin(inner) @ theta),
            axis=1,
        )


@dataclass(frozen=True)
class PeriodicTarget:
    """``f*(x) = sum_{k<=K} theta_k (cos 2 pi k x + sin 2 pi k x)`` with rate-tight ``theta_k``.

    Frequencies stop at ``K = n_freq`` so ``f*`` is not aliased on equispaced grids of at least
    ``2 K + 1`` points. The energy of frequency ``k`` is ``2 theta_k^2`` in the orthonormal basis
    ``sqrt2 cos``, ``sqrt2 sin``.
    """

    n_freq: int = 50
    order: int = 1

    @property
    def theta2(self) -> NDArray:
        """Squared coefficients in the orthonormal Fourier basis (constant, cos_1, sin_1, ...)."""
        k = np.arange(1, self.n_freq + 1)
        c = rate_tight_coefficients(k, decay=float(self.order))
        c2 = c**2 / (2 * np.sum(c**2))  # two basis functions per frequency, total energy 1
        return np.concatenate([[0.0], np.repeat(c2, 2)])

    @property
    def eigenvalues(self) -> NDArray:
        k = np.concatenate([[0], np.repeat(np.arange(1, self.n_freq + 1), 2)])
        return periodic_sobolev_eigenvalues(k, self.order)

    def __call__(self, X) -> NDArray:
        x = np.asarray(X, dtype=float).reshape(len(X), -1)[:, 0]
        coef = np.sqrt(self.theta2)  # equal cos and sin coefficients, all positive
        return fourier_basis(x, self.n_freq) @ coef
