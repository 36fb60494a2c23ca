r"""
Power-divergence distillation losses and their gradients
========================================================

:func:`kdtheory.losses.power_divergence_kd_loss` is :math:`T^2 D_\lambda(w \,\|\, q)` between
the tempered teacher :math:`w = \mathrm{softmax}(\log \hat p / T)` and the student
:math:`q = \mathrm{softmax}(z / T)` (or :math:`T^2 D_\lambda(q \,\|\, w)` with
``order="student_teacher"``), where

.. math::

   D_\lambda(p \,\|\, q) = \frac{1}{\lambda(\lambda + 1)} \sum_k p_k
   \Big[\Big(\frac{p_k}{q_k}\Big)^\lambda - 1\Big]

is the Cressie-Read power divergence (claim PD-1). It is one formula for every real
:math:`\lambda`: at :math:`\lambda = 0` it is Hinton's :math:`T^2\,\mathrm{KL}(w \,\|\, q)`, at
:math:`\lambda = -1` the reverse :math:`T^2\,\mathrm{KL}(q \,\|\, w)`, and neither point is a
special case in the code. :func:`kdtheory.losses.power_divergence_kd_gradient` is its closed-form
gradient in the student's logits :math:`z`: :math:`T (q - w)` at :math:`\lambda = 0` (teacher
first).

Here one sample with four classes: the teacher is confident in class 0 and puts a quarter of its
mass on class 1, which the student finds implausible.
"""

import matplotlib.pyplot as plt
import numpy as np

from kdtheory.losses import (
    kl_divergence,
    power_divergence_kd_gradient,
    power_divergence_kd_loss,
)
from kdtheory.plotting import OKABE_ITO, method_kwargs

T = 2.0
teacher = np.array([0.60, 0.25, 0.10, 0.05])  # p_hat
logits = np.array([2.0, -1.0, 1.2, 0.5])  # z
w = np.exp(np.log(teacher) / T)
w /= w.sum()  # the tempered teacher
q = np.exp(logits / T)
q /= q.sum()  # the student
print("tempered teacher w:", w.round(3))
print("student q:         ", q.round(3))


def kd_loss(lam, order):
    return power_divergence_kd_loss(logits, teacher, lam, temperature=T, order=order)


def kd_gradient(lam):
    return power_divergence_kd_gradient(logits, teacher, lam, temperature=T)


lams = np.linspace(-2.0, 1.5, 141)  # contains 0 and -1 exactly
orders = ("teacher_student", "student_teacher")
loss = {order: np.array([kd_loss(lam, order) for lam in lams]) for order in orders}
grad = np.array([kd_gradient(lam) for lam in lams])

kl_wq, kl_qw = T**2 * kl_divergence(w, q), T**2 * kl_divergence(q, w)
i0, i1 = np.argmin(np.abs(lams)), np.argmin(np.abs(lams + 1))
print(f"lam = 0:  loss {loss['teacher_student'][i0]:.6f}")
print(f"          T^2 KL(w||q) {kl_wq:.6f}")
print(f"lam = -1: loss {loss['teacher_student'][i1]:.6f}")
print(f"          T^2 KL(q||w) {kl_qw:.6f}")
reverse = T * q * (np.log(q / w) - kl_divergence(q, w))
print("lam = 0,  gradient:", grad[i0].round(4))
print("          T (q - w):", (T * (q - w)).round(4))
print("lam = -1, gradient:", grad[i1].round(4))
print("          T q (log(q/w) - KL(q||w)):", reverse.round(4))

# %%
# Loss and gradient against the power
# -----------------------------------
# Left: the loss in both argument orders (duality: the student-first loss at :math:`\lambda` is
# the teacher-first loss at :math:`-1 - \lambda`), with the two KL divergences at their points.
# Right: each component of the gradient (teacher first). The component of class 1, which the
# teacher rates more plausible than the student does (:math:`w_1 > q_1`), pulls the student
# towards it (a negative gradient component) less and less as :math:`\lambda` falls below 0: the
# down-weighting of claim PD-2.

fig, (ax_loss, ax_grad) = plt.subplots(1, 2, figsize=(9.6, 4.2), layout="constrained")
ax_loss.plot(lams, loss["teacher_student"], **method_kwargs("pd_ts", marker=None))
ax_loss.plot(lams, loss["student_teacher"], **method_kwargs("pd_st", marker=None, ls="--"))
ax_loss.plot([0.0], [kl_wq], "o", color="k", ms=7, mfc="none", label=r"$T^2\,$KL$(w\,\|\,q)$")
ax_loss.plot([-1.0], [kl_qw], "s", color="k", ms=7, mfc="none", label=r"$T^2\,$KL$(q\,\|\,w)$")
for x in (0.0, -1.0):
    ax_loss.axvline(x, color="0.7", lw=0.8, zorder=0)
ax_loss.set_xlabel(r"power $\lambda$")
ax_loss.set_ylabel(r"loss $T^2 D_\lambda$ (one sample, $T = 2$)")
ax_loss.set_title("Loss: both argument orders")

class_colors = [OKABE_ITO[c] for c in ("black", "vermillion", "blue", "bluish_green")]
for j, color in enumerate(class_colors):
    ax_grad.plot(
        lams, grad[:, j], color=color, label=f"class {j}: $w$ = {w[j]:.2f}, $q$ = {q[j]:.2f}"
    )
    ax_grad.plot([0.0], [T * (q[j] - w[j])], "o", color=color, ms=7, mfc="none")
    ax_grad.plot([-1.0], [reverse[j]], "s", color=color, ms=7, mfc="none")
for x in (0.0, -1.0):
    ax_grad.axvline(x, color="0.7", lw=0.8, zorder=0)
ax_grad.axhline(0.0, color="0.5", lw=0.8, zorder=0)
ax_grad.set_xlabel(r"power $\lambda$")
ax_grad.set_ylabel(r"$\partial\,$loss$\,/\,\partial z_j$ (order teacher_student)")
ax_grad.set_title("Gradient per class; markers: KL closed forms")
for ax in (ax_loss, ax_grad):
    ax.grid(True, alpha=0.3)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2, fontsize=8, frameon=False)
plt.show()
