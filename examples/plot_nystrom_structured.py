r"""
Kernel ridge without the n x n matrix: Nystrom and the structured path
======================================================================

Dense kernel ridge (:class:`sklearn.kernel_ridge.KernelRidge`) costs :math:`O(n^3)` time and
:math:`O(n^2)` memory. Two estimators avoid the :math:`n \times n` matrix:

- :class:`kdtheory.structured.StructuredKernelRidge`: the kernel :math:`\min(x, x')` on
  one-dimensional inputs, fitted by banded solves on the sorted points, :math:`O(n)` memory and
  :math:`O(n \log n)` time, and *exactly* the dense estimator;
- :class:`kdtheory.nystrom.NystromKernelRidge`: any kernel, restricted to :math:`M` centers
  drawn from the data, solved in one pass over the data (``solver="auto"`` up to 4,096
  centers): an approximation whose error falls as :math:`M` grows (the default is
  :math:`M = \lceil \sqrt n \log n \rceil`).

Both take scikit-learn's ``alpha`` (:math:`a = n\lambda`), so a ridge chosen for dense kernel
ridge carries over. The times printed are this machine's, for orientation only.
"""

import time

import matplotlib.pyplot as plt
import numpy as np
from sklearn.kernel_ridge import KernelRidge

from kdtheory.kernels import SobolevMin
from kdtheory.nystrom import NystromKernelRidge, default_n_centers
from kdtheory.structured import StructuredKernelRidge


def f_star(x):
    return np.sin(2 * np.pi * x[:, 0]) + x[:, 0]


n, alpha = 1000, 0.3  # alpha = n lam
rng = np.random.default_rng(0)
X = rng.random((n, 1))
y = f_star(X) + 0.3 * rng.standard_normal(n)
grid = np.linspace(0, 1, 500)[:, None]


def timed(estimator):
    start = time.perf_counter()
    estimator.fit(X, y)
    return estimator, time.perf_counter() - start


dense, t_dense = timed(KernelRidge(kernel=SobolevMin(), alpha=alpha))
structured, t_structured = timed(StructuredKernelRidge(alpha=alpha))
reference = dense.predict(grid)
gap_structured = np.max(np.abs(structured.predict(grid) - reference))
print(f"dense KernelRidge:      {t_dense:.3f} s")
print(f"StructuredKernelRidge:  {t_structured:.4f} s, largest difference {gap_structured:.1e}")

centers = [10, 20, 40, 80, 160, 320]
gaps, seconds = [], []
for M in centers:
    model, took = timed(NystromKernelRidge(SobolevMin(), n_centers=M, alpha=alpha, random_state=0))
    gaps.append(np.max(np.abs(model.predict(grid) - reference)))
    seconds.append(took)
    print(f"Nystrom, M = {M:4d} ({model.solver_}): {took:.3f} s, largest difference {gaps[-1]:.1e}")
print(f"default number of centers for n = {n}:", default_n_centers(n))

# %%
# Agreement with dense kernel ridge
# ---------------------------------
# Left: the three fits (Nystrom with only 10 centers, so that its piecewise-linear shape, with
# kinks at the centers, shows; the structured fit lies on the dense one). Right: the largest
# difference from dense kernel ridge over a grid of 500 points, against the number of Nystrom
# centers; the structured estimator's difference is rounding.

nystrom10 = NystromKernelRidge(SobolevMin(), n_centers=10, alpha=alpha, random_state=0).fit(X, y)
fig, (ax_fit, ax_gap) = plt.subplots(1, 2, figsize=(9.6, 4.2), layout="constrained")
ax_fit.plot(X[:, 0], y, ".", color="0.8", ms=2.5, label="labels")
ax_fit.plot(grid[:, 0], reference, color="k", lw=3.0, label="dense KernelRidge")
ax_fit.plot(
    grid[:, 0],
    structured.predict(grid),
    color="#E69F00",
    lw=1.4,
    label="StructuredKernelRidge",
)
ax_fit.plot(
    grid[:, 0],
    nystrom10.predict(grid),
    color="#0072B2",
    ls="--",
    label="NystromKernelRidge, M = 10",
)
ax_fit.plot(
    nystrom10.centers_[:, 0],
    nystrom10.predict(nystrom10.centers_),
    "o",
    color="#0072B2",
    ms=4,
    label="its centers",
)
ax_fit.set_xlabel("x")
ax_fit.set_ylabel("prediction")
ax_fit.set_title(rf"The fits, $n = {n}$, kernel $\min(x, x')$, $\alpha = {alpha}$")

ax_gap.loglog(centers, gaps, "o-", color="#0072B2", label="NystromKernelRidge")
ax_gap.axhline(max(gap_structured, 1e-16), color="#E69F00", lw=1.4, label="StructuredKernelRidge")
ax_gap.set_xticks(centers, [str(M) for M in centers])
ax_gap.xaxis.set_minor_locator(plt.NullLocator())
ax_gap.set_xlabel("number of Nystrom centers M")
ax_gap.set_ylabel("max |prediction - dense KernelRidge|")
ax_gap.set_title("Distance from dense kernel ridge")
for ax in (ax_fit, ax_gap):
    ax.grid(True, alpha=0.3)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2, fontsize=8, frameon=False)
plt.show()
