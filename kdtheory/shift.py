"""Covariate-shift designs on ``[0, 1]``: source and target samplers, densities, likelihood ratio.

Covariate shift (CLAIMS.md 1.1): the regression function ``f*`` is the same under the source
``P`` and the target ``Q``; only the covariate distribution changes, with ``dQ/dP <= B``.

The two-piece uniform mixtures put mass ``w`` on ``[0, 1/2)`` and ``1 - w`` on ``[1/2, 1]``. With
``P`` thin where ``Q`` is heavy the teacher's bias is largest where the target needs it most.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = ["TwoPieceUniform", "CovariateShift", "two_piece_shift", "Quadrature"]


@dataclass(frozen=True)
class TwoPieceUniform:
    """Mixture ``w U[0, 1/2) + (1 - w) U[1/2, 1]`` on ``[0, 1]``.

    Parameters
    ----------
    left_mass : float
        ``w``, the probability of ``[0, 1/2)``, in ``(0, 1)``. ``1/2`` is the uniform law.
    """

    left_mass: float = 0.5

    def __post_init__(self):
        if not 0.0 < float(self.left_mass) < 1.0:
            raise ValueError(f"left_mass must lie in (0, 1), got {self.left_mass!r}.")

    def density(self, x: ArrayLike) -> NDArray:
        """Density ``2w`` on ``[0, 1/2)``, ``2(1 - w)`` on ``[1/2, 1]``, 0 elsewhere."""
        x = np.asarray(x, dtype=float)
        x = x[:, 0] if x.ndim == 2 else x
        inside = (x >= 0.0) & (x <= 1.0)
        return np.where(
            inside, np.where(x < 0.5, 2 * self.left_mass, 2 * (1 - self.left_mass)), 0.0
        )

    def sample(self, rng: np.random.Generator, n: int) -> NDArray:
        """``n`` draws as an ``(n, 1)`` array."""
        if int(n) < 1:
            raise ValueError(f"n must be >= 1, got {n!r}.")
        left = rng.random(n) < self.left_mass
        u = rng.random(n) / 2.0
        return np.where(left, u, 0.5 + u).reshape(-1, 1)


@dataclass(frozen=True)
class Quadrature:
    """Points and weights of a quadrature rule for ``L2(Q)`` norms: ``sum_i w_i f(x_i)^2``."""

    points: NDArray
    weights: NDArray

    def norm2(self, values: ArrayLike) -> float:
        """Squared ``L2(Q)`` norm of a function given by its values at ``points``."""
        return float(np.sum(self.weights * np.asarray(values) ** 2))


@dataclass(frozen=True)
class CovariateShift:
    """A source ``P`` and a target ``Q`` with bounded likelihood ratio ``dQ/dP``.

    Attributes
    ----------
    source, target : TwoPieceUniform
    """

    source: TwoPieceUniform
    target: TwoPieceUniform

    def likelihood_ratio(self, x: ArrayLike) -> NDArray:
        """``dQ/dP(x)`` at points in ``[0, 1]``."""
        return self.target.density(x) / self.source.density(x)

    @property
    def ratio_bound(self) -> float:
        """``B = sup_x dQ/dP(x)``."""
        return float(np.max(self.likelihood_ratio(np.array([0.25, 0.75]))))

    def draw(
        self, rng: np.random.Generator, n: int, m: int | None = None
    ) -> tuple[NDArray, NDArray]:
        """Source covariates ``X`` (n, 1), target covariates ``X_target`` (m, 1; m = n default)."""
        X = self.source.sample(rng, n)
        return X, self.target.sample(rng, n if m is None else m)

    def target_quadrature(self, n_points: int = 2000) -> Quadrature:
        """Midpoint rule for ``L2(Q)`` on ``n_points`` cells (even, so no cell straddles 1/2)."""
        if n_points < 2 or n_points % 2:
            raise ValueError(f"n_points must be an even number >= 2, got {n_points!r}.")
        x = (np.arange(n_points) + 0.5) / n_points
        w = self.target.density(x) / n_points
        return Quadrature(points=x.reshape(-1, 1), weights=w)


def two_piece_shift(ratio_bound: float = 4.0) -> CovariateShift:
    """Mirror-image two-piece designs with ``sup dQ/dP = ratio_bound``.

    The source puts mass ``B / (1 + B)`` on ``[0, 1/2)``, the target the same mass on
    ``[1/2, 1]``, so ``dQ/dP = B`` on the right half and ``1/B`` on the left. ``B = 1`` is the
    uniform law on both sides (no shift); ``B = 4`` is the 0.8 / 0.2 split.

    Parameters
    ----------
    ratio_bound : float
        ``B >= 1``.
    """
    B = float(ratio_bound)
    if not np.isfinite(B) or B < 1.0:
        raise ValueError(f"ratio_bound must be a finite number >= 1, got {ratio_bound!r}.")
    return CovariateShift(
        source=TwoPieceUniform(B / (1.0 + B)), target=TwoPieceUniform(1.0 / (1.0 + B))
    )
