r"""
Fitting a rate: the log-log slope with its confidence interval
==============================================================

Every rate claim is summarized by the slope :math:`\beta_1` of

.. math::

   \log(\text{risk}) = \beta_0 + \beta_1 \log n + \text{error},

fitted by OLS over Monte Carlo designs with a 95% :math:`t` interval
(:func:`kdtheory.rates.fit_rate`). Claim RAT-2 holds when RaT's interval lies below
:math:`-0.55` (the minimax exponent is :math:`-2/3` for the kernel :math:`\min(x, x')`); claim
RAT-1 when SM's lies inside :math:`(-0.1, 0.1)`, a floor.

The risks here are exact over the noise (:func:`kdtheory.exact.distillation_paths`, on its
linear-time structured path), one per design, for four designs at each of five sample sizes
under covariate shift (:math:`dQ/dP \le 4`). The teacher's ridge :math:`\lambda_T` is fixed;
RaT's student ridge follows the theory's schedule :math:`\lambda_S = c^2 / (c + \lambda_T)`,
:math:`c = n^{-2/3}` (:func:`kdtheory.theory.rat_ridge_schedule`), which uses neither target
labels nor the risk.
"""

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from kdtheory.exact import distillation_paths
from kdtheory.kernels import SobolevMin
from kdtheory.plotting import method_kwargs, readable_log_ticks
from kdtheory.rates import fit_rate, fit_rate_means
from kdtheory.shift import two_piece_shift
from kdtheory.theory import minimax_exponent, rat_ridge_schedule


def f_star(x):
    return np.sin(2 * np.pi * x[:, 0])


shift = two_piece_shift(4.0)
quad = shift.target_quadrature(1000)
lam_T, noise_sd = 0.1, 0.5
rows = []
for n in (100, 200, 400, 800, 1600):
    lam_S = float(rat_ridge_schedule(n, 1.0, lam_T))
    for design in range(4):
        rng = np.random.default_rng([n, design])  # one explicit seed per design
        X, X_target = shift.draw(rng, n)
        paths = distillation_paths(
            X,
            X_target,
            quad.points,
            kernel=SobolevMin(),
            teacher_ridge=n * lam_T,  # alpha = n lam_T
            student_ridges=[n * lam_S],  # alpha = m lam_S, m = n
            eval_weights=quad.weights,
            methods=("sm", "rat"),
            solver="structured",  # one ridge per design: linear time, the dense path's numbers
        )
        for method, path in paths.items():
            risk = path.risk(f_star(X), f_star(quad.points), noise_sd)["risk"][0]
            rows.append({"n": n, "design": design, "method": method, "risk": risk})
table = pd.DataFrame(rows)

fits = {m: fit_rate(g["n"], g["risk"]) for m, g in table.groupby("method")}
for method, fit in fits.items():
    print(f"{method}: {fit.label()}  (n_obs = {fit.n_obs})")
print("minimax exponent:", round(minimax_exponent(1.0), 4))
print("RAT-2 check, RaT's CI below -0.55:", fits["rat"].ci[1] < -0.55)
print("RAT-1 check, SM's CI inside (-0.1, 0.1):", -0.1 < fits["sm"].ci[0] < fits["sm"].ci[1] < 0.1)
rat_rows = table[table.method == "rat"]
means = fit_rate_means(rat_rows["n"], rat_rows["risk"])
print(f"RaT, WLS on the per-n means: {means.label()}")

# %%
# The designs and the fitted power laws
# -------------------------------------
# Each marker is one design's exact risk; the lines are the fitted power laws
# :math:`e^{\beta_0} n^{\beta_1}`. The legend gives each slope with its 95% interval.

fig, ax = plt.subplots(figsize=(6.4, 4.4), layout="constrained")
n_grid = np.geomspace(90, 1800, 50)
for k, method in enumerate(("sm", "rat")):
    group = table[table.method == method]
    style = method_kwargs(method)
    dodge = 1.03 ** (2 * k - 1)  # the two methods side by side at each n
    ax.loglog(
        group["n"] * dodge,
        group["risk"],
        ls="none",
        marker=style["marker"],
        color=style["color"],
        alpha=0.6,
        ms=4,
    )
    fit = fits[method]
    lo, hi = fit.ci
    ax.loglog(
        n_grid,
        fit.predict(n_grid),
        color=style["color"],
        label=f"{style['label']}: slope {fit.slope:.2f} [{lo:.2f}, {hi:.2f}]",
    )
anchor = fits["rat"].predict(100.0)
ax.loglog(
    n_grid,
    anchor * (n_grid / 100.0) ** minimax_exponent(1.0),
    color="0.5",
    ls="--",
    lw=1,
    label="slope -2/3 (minimax)",
)
ax.set_xticks([100, 200, 400, 800, 1600], ["100", "200", "400", "800", "1600"])
ax.xaxis.set_minor_locator(plt.NullLocator())
ax.set_xlabel("n (source = target sample size)")
ax.set_ylabel("exact target risk (one marker per design)")
ax.set_title(r"Fitted rates under shift, $\lambda_T = 0.1$, RaT with the ridge schedule")
ax.grid(True, which="major", alpha=0.3)
readable_log_ticks(ax)  # the house ticks on the risk axis: few labels, none overlapping
fig.legend(loc="outside lower center", ncol=2, fontsize=8, frameon=False, title="fit [95% CI]")
plt.show()
