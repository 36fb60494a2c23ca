"""
Gradient dynamics and self-distillation
=======================================

Least squares trained by gradient flow from zero for a time ``t`` makes the progress fraction
``F_k(t) = 1 - exp(-lam_k t)`` along the k-th eigendirection of ``X^T X``; a student trained for
``t`` on the predictions of a teacher trained for ``T`` makes ``F_k(t) F_k(T)`` (claim NAG-1).
The student's filter is quadratic where the teacher's is linear, at the bottom of the spectrum:
distillation exaggerates the teacher's bias toward the top eigendirections (NAG-2..NAG-5).
:mod:`kdtheory.dynamics` computes these filters in log space, so the inequalities stay
resolvable where the fractions round to 1 in float64.
"""

import matplotlib.pyplot as plt
import numpy as np

from kdtheory import GradientDescentRegressor
from kdtheory.dynamics import distill_filter, gd_filter, self_distill
from kdtheory.theory import matched_progress_gap

lam = np.logspace(-4, 2, 7)  # eigenvalues of X^T X
np.set_printoptions(precision=4)
print("F_k(t), labels:        ", gd_filter(lam, t=2.0))
print("F_k(t) F_k(T), student:", distill_filter(lam, t=2.0, T=3.0))
print("two generations:       ", distill_filter(lam, t=[2.0, 2.0], T=3.0))
print("NAG-3 gap (log units, > 0):", matched_progress_gap(100.0, lam[:-1], 2.0, 3.0))

# %%
# The filters across the spectrum
# -------------------------------
# On log-log axes the label-trained filter has slope 1 at the bottom of the spectrum, the
# student's slope 2 and each further generation one more.

grid = np.logspace(-4, 2, 200)
fig, ax = plt.subplots(figsize=(6.4, 3.6), layout="constrained")
ax.loglog(grid, gd_filter(grid, t=2.0), color="0.3", label="labels, t = 2")
ax.loglog(grid, distill_filter(grid, t=2.0, T=3.0), color="tab:blue", label="student, t = 2, T = 3")
ax.loglog(
    grid, distill_filter(grid, t=[2.0, 2.0], T=3.0), color="tab:purple", label="two generations"
)
ax.set(xlabel="eigenvalue lam_k of X^T X", ylabel="progress fraction", ylim=(1e-13, 2))
ax.set_title("Progress along each eigendirection (NAG-2..NAG-5)")
ax.legend(loc="lower right", fontsize=8)
plt.show()

# %%
# Early-stopped gradient descent as an estimator
# ----------------------------------------------
# :class:`~kdtheory.GradientDescentRegressor` is the closed form of ``n_steps`` steps of
# gradient descent from zero (step ``1 / lam_max``); the whole path comes from one SVD, and
# :func:`~kdtheory.dynamics.self_distill` trains each generation on the previous one's
# predictions.

rng = np.random.default_rng(0)
Xd, yd = rng.standard_normal((20, 50)), rng.standard_normal(20)
gd = GradientDescentRegressor(n_steps=30).fit(Xd, yd)
path = gd.coef_path([0, 10, 30])
print("norm of the weights after 0, 10, 30 steps:", np.linalg.norm(path, axis=-1))
generations = self_distill(GradientDescentRegressor(n_steps=30), Xd, yd, n_generations=3)
for g, model in enumerate(generations):
    print(f"generation {g}: weight norm {np.linalg.norm(model.coef_):.4f}")
