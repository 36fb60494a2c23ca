r"""
Exact risks along a path of student ridges
==========================================

The teacher, kernel ridge on the source labels, soft matching (SM), Residual-as-Teacher (RaT) and
the target oracle are all linear in the responses, :math:`\hat f(X_e) = A y`, so their expected
target risk over the noise is exact,

.. math::

   \sum_j \omega_j \big((A f^*(X))_j - f^*(x^e_j)\big)^2
   + \sigma^2 \sum_j \omega_j \|A_{j\cdot}\|^2 ,

with quadrature weights :math:`\omega_j` for :math:`L^2(Q)`.
:func:`kdtheory.exact.distillation_paths` computes it for a whole path of student ridges from a
few eigendecompositions (or, for the kernel :math:`\min(x, x')` beyond 500 points, in linear
time).

Here one design under covariate shift (:math:`dQ/dP \le 4`,
:func:`kdtheory.shift.two_piece_shift`) and a teacher with a fixed, large ridge: SM stays at the
teacher's bias at every student ridge (claim RAT-1), RaT goes below it once the student ridge is
small (RAT-2). Ridges are scikit-learn's ``alpha``, :math:`a = n\lambda`.
"""

import matplotlib.pyplot as plt
import numpy as np

from kdtheory.exact import distillation_paths
from kdtheory.kernels import SobolevMin
from kdtheory.plotting import method_kwargs
from kdtheory.shift import two_piece_shift


def f_star(x):
    return np.sin(2 * np.pi * x[:, 0])


n = m = 400
noise_sd = 0.5
shift = two_piece_shift(4.0)
rng = np.random.default_rng(0)
X, X_target = shift.draw(rng, n, m)
quad = shift.target_quadrature(1000)  # midpoint rule for the L2(Q) norm

lam_T = 0.1  # a fixed teacher ridge: a biased teacher
student_ridges = m * np.logspace(-6, 0, 25)  # alpha = m lam_S
design = {  # one design, one teacher, a path of student ridges: every call below shares them
    "kernel": SobolevMin(),
    "teacher_ridge": n * lam_T,
    "student_ridges": student_ridges,
    "eval_weights": quad.weights,
}
paths = distillation_paths(X, X_target, quad.points, **design)
f_eval = f_star(quad.points)
risks = {}
for method, path in paths.items():
    f_in = f_star(X_target) if method == "oracle" else f_star(X)
    risks[method] = path.risk(f_in, f_eval, noise_sd)
for method in ("sm", "rat", "krr", "oracle"):
    best = int(np.argmin(risks[method]["risk"]))
    print(
        f"{method:7s} best risk {risks[method]['risk'][best]:.4f} at lam = "
        f"{student_ridges[best] / (m if method in ('sm', 'rat', 'oracle') else n):.1e}"
    )
print(f"teacher risk {risks['teacher']['risk'][0]:.4f}")

# %%
# Risk against the student ridge
# ------------------------------
# The x-axis is the student ridge in the theory's convention, :math:`\lambda_S = \alpha / m`.
# Kernel ridge on the source labels (KRR) and the oracle use the same grid of ridges. The teacher
# has one ridge: a horizontal line.

lam_S = student_ridges / m
fig, ax = plt.subplots(figsize=(6.4, 4.4), layout="constrained")
ax.axhline(risks["teacher"]["risk"][0], **method_kwargs("teacher", marker=None, lw=1.6, ls="--"))
for method in ("krr", "sm", "rat", "oracle"):
    ax.loglog(lam_S, risks[method]["risk"], **method_kwargs(method, ms=3.5))
rat_var = risks["rat"]["variance"]
ax.loglog(lam_S, rat_var, color=method_kwargs("rat")["color"], ls=":", label="RaT: variance part")
ax.set_xlabel(r"student ridge $\lambda_S = \alpha / m$")
ax.set_ylabel(r"exact target risk $\|\hat f - f^*\|^2_{L^2(Q)}$")
ax.set_title(rf"One design, $n = m = {n}$, $dQ/dP \leq 4$, teacher ridge $\lambda_T = {lam_T}$")
ax.grid(True, which="major", alpha=0.3)
fig.legend(loc="outside lower center", ncol=3, fontsize=8, frameon=False)
plt.show()

# %%
# The same numbers on the structured path
# ---------------------------------------
# For ``SobolevMin`` the linear-time path gives the same risks without any :math:`n \times n`
# matrix (``solver="auto"`` takes it beyond 500 points; forced here).

structured = distillation_paths(
    X, X_target, quad.points, **design, methods=("sm", "rat"), solver="structured"
)
for method, path in structured.items():
    gap = np.max(np.abs(path.risk(f_star(X), f_eval, noise_sd)["risk"] - risks[method]["risk"]))
    print(f"{method}: largest difference from the dense path {gap:.1e}")
