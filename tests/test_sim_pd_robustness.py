"""Unit tests of simulations/pd_robustness.py (claim PD-2, our formalization, reported)."""

from __future__ import annotations

import dataclasses
import io

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
import scipy.stats
from scipy.special import softmax
from scipy.stats import multivariate_normal
from statsmodels.stats.multitest import multipletests

from kdtheory.losses import power_divergence_kd_loss
from kdtheory.simulations import pd_robustness as pr

CFG = pr.PRESETS["quick"]
EPS = np.finfo(float).eps
#: (lam, order) pairs that cover the convex (KL, teacher first lam > 0) and the bounded losses
LOSSES = [(0.0, "teacher_student"), (2 / 3, "teacher_student"), (-0.5, "teacher_student"),
          (2 / 3, "student_teacher"), (-2.0, "student_teacher")]  # fmt: skip


def _t_interval(x) -> tuple[float, float, float, float]:
    """Mean, 95% t interval and the one-sided p-value of "mean <= 0" ("fails" for CI above 0)."""
    x = np.asarray(x, dtype=float)
    se = x.std(ddof=1) / np.sqrt(x.size)
    half = scipy.stats.t.ppf(0.975, x.size - 1) * se
    return x.mean(), x.mean() - half, x.mean() + half, scipy.stats.t.cdf(x.mean() / se, x.size - 1)


def _problem(seed: int, n: int = 150):
    rng = np.random.default_rng(seed)
    means = pr.draw_problem(rng, CFG)
    X, y = pr.draw_sample(rng, means, n)
    Xa = pr.augment(X)
    W_star = pr.bayes_weights(means)
    return rng, means, X, y, Xa, W_star, softmax(Xa @ W_star.T, axis=1)


def test_bayes_weights_give_the_gaussian_posterior():
    _, means, X, _, Xa, W_star, post = _problem(0)
    dens = np.stack([multivariate_normal(m, np.eye(CFG.dim)).pdf(X) for m in means], axis=1)
    # densities of order 1e-3 .. 1e-8 are exact to rounding; normalizing adds a few ulps
    np.testing.assert_allclose(post, dens / dens.sum(axis=1, keepdims=True), rtol=1e-10)
    np.testing.assert_allclose(W_star.sum(axis=0), 0.0, atol=1e-12)  # centred rows


def test_corruptions():
    rng, _, _, _, _, _, post = _problem(1)
    decision = np.argmax(post, axis=1)
    wrong = (decision + 1 + rng.integers(CFG.n_classes - 1, size=len(post))) % CFG.n_classes
    assert np.all(wrong != decision)
    bad = pr.corrupt(post, "confident_wrong", wrong, CFG)
    np.testing.assert_allclose(bad.sum(axis=1), 1.0, atol=4 * EPS)
    np.testing.assert_array_equal(np.argmax(bad, axis=1), wrong)
    assert bad.max() == pytest.approx(0.9 + 0.1 / CFG.n_classes) and bad.min() == pytest.approx(
        0.1 / CFG.n_classes
    )
    flat = pr.corrupt(post, "flattened", wrong, CFG)
    np.testing.assert_array_equal(np.argmax(flat, axis=1), decision)
    np.testing.assert_allclose(flat, 0.2 * post + 0.8 / CFG.n_classes, atol=4 * EPS)
    with pytest.raises(ValueError, match="unknown corruption"):
        pr.corrupt(post, "shuffled", wrong, CFG)


@pytest.mark.parametrize(("lam", "order"), LOSSES)
def test_training_gradient_matches_finite_differences(lam, order):
    """The objective's gradient (closed-form logit gradients, chain rule through ``W``, ridge)
    against central differences along a random direction ``V``: truncation estimated by
    Richardson, ``|D(2h) - D(h)| >= 3 h^2 |F'''| / 6`` up to ``O(h^4)``, and rounding
    ``4 eps |F| / h`` per difference quotient (the objective sums ``n`` terms of size ``|F|``:
    ``n eps |F|`` per evaluation)."""
    rng, _, _, _, Xa, _, post = _problem(2)
    teacher = pr.corrupt(post, "confident_wrong", (np.argmax(post, 1) + 1) % 4, CFG)
    teacher[::2] = post[::2]
    w = 0.5 * rng.standard_normal(CFG.n_classes * Xa.shape[1])
    v = rng.standard_normal(w.size)

    def F(t):
        return pr.objective(w + t * v, Xa, teacher, lam, order, 1e-3)[0]

    h = 1e-5
    d1, d2 = (F(h) - F(-h)) / (2 * h), (F(2 * h) - F(-2 * h)) / (4 * h)
    value, grad = pr.objective(w, Xa, teacher, lam, order, 1e-3)
    rounding = 4 * len(Xa) * EPS * abs(value) / h
    assert grad @ v == pytest.approx(d1, abs=abs(d2 - d1) + rounding)


def _assert_stationary(fit, Xa, teacher, lam, order, ridge):
    """The fit's weights are a stationary point, checked without the closed-form gradient that
    the fit and its ``grad_max`` use: central differences of the objective's *value* along each
    coordinate lie within ``CONVERGED`` of 0, up to their error (truncation by Richardson,
    ``|D(2h) - D(h)|``, and rounding ``4 n eps |F| / h``, as in
    test_training_gradient_matches_finite_differences)."""
    w, h = fit["W"].ravel(), 1e-5

    def F(v):
        return pr.objective(v, Xa, teacher, lam, order, ridge)[0]

    rounding = 4 * len(Xa) * EPS * abs(F(w)) / h
    for i in range(w.size):
        e = np.zeros(w.size)
        e[i] = h
        d1, d2 = (F(w + e) - F(w - e)) / (2 * h), (F(w + 2 * e) - F(w - 2 * e)) / (4 * h)
        assert abs(d1) <= pr.CONVERGED + abs(d2 - d1) + rounding, (i, d1)


@pytest.mark.parametrize(("lam", "order"), LOSSES)
def test_clean_teacher_gives_a_student_at_the_bayes_posterior(lam, order):
    """With the Bayes posterior as teacher every loss is 0 at ``W*`` (the model is well
    specified), so the minimizer ``W`` of ``F = mean D + (alpha/2)|W|^2`` has ``F(W) <=
    F(W*) = (alpha/2)|W*|^2``: the mean divergence on the training points is at most
    ``(alpha/2)(|W*|^2 - |W|^2)``. (``mean D(W*)`` is 0 up to ``n`` roundings of ``O(eps)``.)"""
    _, _, _, _, Xa, W_star, post = _problem(3)
    fit = pr.fit_student(Xa, post, lam, order, CFG.ridge)
    assert fit["converged"]
    _assert_stationary(fit, Xa, post, lam, order, CFG.ridge)
    W = fit["W"]
    f_star = pr.objective(W_star.ravel(), Xa, post, lam, order, CFG.ridge)[0]
    assert f_star == pytest.approx(0.5 * CFG.ridge * np.sum(W_star**2), abs=64 * EPS)
    assert fit["objective"] <= f_star
    mean_d = power_divergence_kd_loss(Xa @ W.T, post, lam, order=order).mean()
    assert 0.0 <= mean_d <= 0.5 * CFG.ridge * (np.sum(W_star**2) - np.sum(W**2)) + 64 * EPS


@pytest.mark.parametrize(("lam", "order"), [*LOSSES, (2.0, "student_teacher")])
def test_students_converge_on_a_corrupted_teacher(lam, order):
    rng, _, _, _, Xa, _, post = _problem(4)
    teacher = post.copy()
    hit = rng.permutation(len(post))[:60]
    teacher[hit] = pr.corrupt(post[hit], "confident_wrong", (np.argmax(post[hit], 1) + 2) % 4, CFG)
    fit = pr.fit_student(Xa, teacher, lam, order, CFG.ridge)
    assert fit["converged"]
    _assert_stationary(fit, Xa, teacher, lam, order, CFG.ridge)
    start = pr.objective(np.zeros(fit["W"].size), Xa, teacher, lam, order, CFG.ridge)[0]
    assert fit["objective"] < start  # L-BFGS descends from W = 0


def test_evaluate_accuracy_and_distance():
    """The Bayes student has the Bayes accuracy ``mean max p*`` and distance 0; a constant
    student has accuracy ``mean p*_c`` for its class ``c``."""
    _, _, _, _, Xa, W_star, post = _problem(5)
    best = pr.evaluate(W_star, Xa, post)
    assert best["accuracy"] == pytest.approx(post.max(axis=1).mean(), rel=1e-14)
    assert best["bayes_kl"] == pytest.approx(0.0, abs=64 * EPS)
    W = np.zeros_like(W_star)
    W[2, -1] = 1.0
    const = pr.evaluate(W, Xa, post)
    assert const["accuracy"] == pytest.approx(post[:, 2].mean(), rel=1e-14)
    assert const["bayes_kl"] > 0


@pytest.fixture(scope="module")
def tiny():
    cfg = dataclasses.replace(CFG, n_seeds=2, n_train=120, n_test=1000, rhos=(0.0, 0.4))
    return cfg, pr.run(cfg, progress=False)


def test_run_table(tiny):
    cfg, df = tiny
    columns = {"corruption", "trial", "rho", "method", "lam", "accuracy", "bayes_kl",
               "converged", "grad_max", "n_iter", "restarts", "objective", "bayes_accuracy",
               "teacher_agreement"}  # fmt: skip
    assert columns <= set(df)
    per_seed = len(cfg.rhos) * (1 + 2 * len(cfg.lams))
    assert len(df) == len(cfg.corruptions) * cfg.n_seeds * per_seed
    assert df.converged.all()
    assert set(df.method) == {"kl", "pd_ts", "pd_st"}
    assert ((df.accuracy <= df.bayes_accuracy + 1e-12) & (df.accuracy > 0)).all()
    # the corrupted teacher's decisions: flattened keeps them, confident-wrong flips rho of them
    agree = df.groupby(["corruption", "rho"]).teacher_agreement.mean()
    assert agree["flattened"].eq(1.0).all() and agree["confident_wrong", 0.0] == 1.0
    assert agree["confident_wrong", 0.4] == pytest.approx(0.6)


def test_run_is_reproducible(tiny):
    cfg, df = tiny
    pd.testing.assert_frame_equal(df, pr.run(cfg, progress=False))


@pytest.mark.claim("PD-2")
def test_claims_structure_and_the_verdict_statistic(tiny):
    """Three reported PD-2 checks per corruption on two seeds (too few to choose a ``lam`` on
    one half and judge it on the other: no best-lam rows, and the detail says so): the paired
    gains over KL at the largest ``rho`` of ``D_{-1/2}`` and of ``D_{2/3}`` in each order, each
    under its corruption's premise (KL's own loss). Numbers and verdicts are recomputed here
    from the table: t intervals over the seeds, the premise, Holm's adjustment (statsmodels)
    over the checks whose premise is met."""
    cfg, df = tiny
    analysis = pr.analyze(df)
    claim_list = pr.claims(df, analysis)
    assert {c.id for c in claim_list} == set(pr.CLAIM_IDS) == set(pr.REPORTED_ONLY)
    assert len(claim_list) == 3 * len(cfg.corruptions)
    assert not any(c.asserted for c in claim_list)
    expected = []  # (mean, lo, hi, p_fail, premise met) per check, in the claims' order
    for i, corruption in enumerate(sorted(cfg.corruptions)):
        verdict = claim_list[3 * i]
        assert corruption.replace("_", "-") in verdict.statement and "D_{-1/2}" in verdict.statement
        assert "no best-lam rows" in verdict.detail
        assert "D_{2/3}(teacher || student)" in claim_list[3 * i + 1].statement
        assert "D_{2/3}(student || teacher)" in claim_list[3 * i + 2].statement
        d = df[df.corruption == corruption]
        acc = d.set_index(["method", "lam", "rho", "trial"]).accuracy.sort_index()

        def lost(method, lam, acc=acc):
            return acc[method, lam, 0.0] - acc[method, lam, 0.4]

        kl = _t_interval(lost("kl", 0.0))
        (hurts,) = {p for c in claim_list[3 * i : 3 * i + 3] for p in c.premise}
        assert (hurts.value, *hurts.ci) == pytest.approx(kl[:3], rel=1e-9, abs=1e-12)
        assert hurts.met == (kl[1] > 0)
        for method, lam in (
            ("pd_ts", pr.LAM_DOWN),
            ("pd_ts", pr.LAM_PAPER),
            ("pd_st", pr.LAM_PAPER),
        ):
            expected.append((*_t_interval(lost("kl", 0.0) - lost(method, lam)), hurts.met))
    family = [k for k, e in enumerate(expected) if e[4]]
    rejected = dict.fromkeys(range(len(expected)), False)
    if family:
        reject = multipletests([expected[k][3] for k in family], alpha=0.025, method="holm")[0]
        rejected |= dict(zip(family, reject, strict=True))
    for k, (c, (mean, lo, hi, _, met)) in enumerate(zip(claim_list, expected, strict=True)):
        assert (c.value, *c.ci) == pytest.approx((mean, lo, hi), rel=1e-9, abs=1e-12)
        want = "holds" if lo > 0 else ("fails" if hi < 0 and rejected[k] else "inconclusive")
        assert c.verdict == (want if met else "inconclusive")
    fig = pr.plot(df, analysis, claim_list)
    try:
        assert len(fig.axes) >= 6 and all(ax.get_xlabel() for ax in fig.axes[:6])
    finally:
        plt.close(fig)


def test_saved_table_drops_the_noise_and_gives_the_same_claims(tiny):
    """The table as saved (``PRECISION``): no iteration count, the gradient as "at most
    ``CONVERGED``", the distance to the Bayes posterior at 4 digits; the analysis needs none of
    what is dropped, and the claims read from the saved table are those of the table computed."""
    from kdtheory.io import table_csv_text

    _, df = tiny
    saved = pd.read_csv(io.StringIO(table_csv_text(df, pr.PRECISION)))
    assert "n_iter" not in saved and (saved.grad_max == pr.CONVERGED).all()
    np.testing.assert_allclose(saved.bayes_kl, df.bayes_kl, rtol=5e-4)
    from_saved, computed = pr.claims(saved), pr.claims(df)
    key = [(c.id, c.statement, c.verdict, [p.met for p in c.premise]) for c in computed]
    assert [(c.id, c.statement, c.verdict, [p.met for p in c.premise]) for c in from_saved] == key
    # accuracies at 8 digits move by at most 5e-9; a gain differences four of them (2e-8), and
    # its interval's half-width multiplies the spread over 2 seeds by t(0.975, 1) = 12.7
    for a, b in zip(from_saved, computed, strict=True):
        assert (a.value, *a.ci) == pytest.approx((b.value, *b.ci), rel=0, abs=13 * 2e-8 * 2)


#: per-seed gains over KL at rho = 0.4 in the hand-built table: six seeds, the first three
#: choose the best lam, the last three judge it
JITTER = np.array([0.0, 0.01, -0.01, 0.005, 0.015, -0.005])
GAINS = {
    ("pd_ts", -0.5): 0.1 + JITTER,
    ("pd_st", -0.5): 0.1 + JITTER,
    ("pd_ts", 2 / 3): -0.1 + JITTER,
    ("pd_st", 2 / 3): np.array([0.2, 0.21, 0.19, -0.1, -0.11, -0.09]),
}
#: KL's own accuracy lost from rho 0 to 0.4 per seed: clearly positive (the premise is met) for
#: the confident-wrong teacher, about 0 (not met) for the flattened one
KL_LOST = {
    "confident_wrong": 0.2 + JITTER,
    "flattened": np.array([0.01, -0.01, 0.02, -0.02, 0.0, 0.0]),
}


def _known_table(gains=None) -> pd.DataFrame:
    rows = []
    for corruption, kl_lost in KL_LOST.items():
        lost = {("kl", 0.0): kl_lost} | {k: kl_lost - g for k, g in (gains or GAINS).items()}
        for (method, lam), drop in lost.items():
            for trial in range(len(JITTER)):
                for rho in (0.0, 0.4):
                    rows.append(
                        {"corruption": corruption, "trial": trial, "rho": rho, "method": method,
                         "lam": lam, "accuracy": 0.9 - (rho > 0) * drop[trial], "bayes_kl": 0.1,
                         "converged": True, "grad_max": 1e-6, "restarts": 0, "objective": 0.0,
                         "bayes_accuracy": 0.95, "teacher_agreement": 1.0}
                    )  # fmt: skip
    return pd.DataFrame(rows)


@pytest.mark.claim("PD-2")
def test_claims_verdicts_on_a_table_with_known_answers():
    """``claims`` on a hand-built table whose verdicts are known. Confident-wrong teacher (KL
    loses 0.2: premise met): ``D_{-1/2}`` gains 0.1 + jitter on every seed (holds); the paper's
    2/3 teacher first -0.1 + jitter (fails); student first 0.2 on seeds 0-2 and -0.1 on seeds
    3-5 (on all seeds the CI straddles 0: undecided). The best lam is chosen on seeds 0-2:
    ``-1/2`` teacher first, judged on seeds 3-5 (holds), and 2/3 student first, judged on seeds
    3-5 only, where it loses (fails: chosen on the first half, refuted by the second). Flattened
    teacher: the same gains, but KL loses nothing (premise not met): every check inconclusive,
    and outside Holm's family."""
    claim_list = pr.claims(_known_table())
    assert len(claim_list) == 10
    strong, flat = claim_list[:5], claim_list[5:]
    assert [c.verdict for c in strong] == ["holds", "fails", "inconclusive", "holds", "fails"]
    assert [c.outcome for c in strong] == [True, False, None, True, False]
    assert all(c.family == 5 and c.premise_met for c in strong)
    assert all(c.verdict == "inconclusive" and not c.premise_met for c in flat)
    assert [c.value for c in flat] == pytest.approx([c.value for c in strong], abs=1e-12)
    (met,), (unmet,) = strong[0].premise, flat[0].premise
    assert met.value == pytest.approx(0.2 + JITTER.mean(), abs=1e-12) and met.ci[0] > 0
    assert unmet.value == pytest.approx(0.0, abs=1e-12) and unmet.ci[0] < 0 < unmet.ci[1]
    # every seed for the rows fixed in advance, with the t interval over 6 seeds (5 df)
    half = scipy.stats.t.ppf(0.975, 5) * JITTER.std(ddof=1) / np.sqrt(6)
    assert strong[0].value == pytest.approx(0.1 + JITTER.mean(), abs=1e-12)
    assert strong[0].ci == pytest.approx((strong[0].value - half, strong[0].value + half))
    assert "D_{-1/2}" in strong[0].statement and "all 6 seeds" in strong[0].statement
    assert strong[2].value == pytest.approx(GAINS["pd_st", 2 / 3].mean(), abs=1e-12)
    # the best lam: chosen on seeds 0-2, judged on seeds 3-5 only (2 df)
    assert "D_{-1/2}, best lam on seeds 0-2" in strong[3].statement
    assert "D_{2/3}(student || teacher), best lam on seeds 0-2" in strong[4].statement
    assert all("on seeds 3-5 (second half)" in c.statement for c in strong[3:])
    judged = GAINS["pd_st", 2 / 3][3:]
    half = scipy.stats.t.ppf(0.975, 2) * judged.std(ddof=1) / np.sqrt(3)
    assert strong[4].value == pytest.approx(-0.1, abs=1e-12)
    assert strong[4].ci == pytest.approx((-0.1 - half, -0.1 + half))
    assert strong[3].value == pytest.approx(0.1 + JITTER[3:].mean(), abs=1e-12)


def test_best_lam_is_the_largest_mean_gain_and_ties_go_to_the_smallest_lam():
    """Teacher first, ``lam = 2/3`` (listed first in the table) gains on seeds 0-2 exactly what
    ``-1/2`` gains: a tie, given to the smaller ``lam``; student first, 2/3 has the larger mean
    gain on seeds 0-2 and is chosen although ``-1/2`` comes first in the table."""
    gains = {
        ("pd_ts", 2 / 3): np.r_[0.1 + JITTER[:3], -0.1, -0.1, -0.1],
        ("pd_ts", -0.5): 0.1 + JITTER,
        ("pd_st", -0.5): 0.1 + JITTER,
        ("pd_st", 2 / 3): GAINS["pd_st", 2 / 3],
    }
    best = pr.analyze(_known_table(gains))["best"].set_index(["corruption", "method"])
    for corruption in KL_LOST:
        assert best["lam"][corruption, "pd_ts"] == -0.5
        assert best["select"][corruption, "pd_ts"] == pytest.approx(0.1 + JITTER[:3].mean())
        assert best["lam"][corruption, "pd_st"] == pytest.approx(2 / 3)
        assert best["select"][corruption, "pd_st"] == pytest.approx(0.2)


def test_split_trials():
    assert pr.split_trials([3, 0, 2, 1, 0]) == ([0, 1], [2, 3])
    assert pr.split_trials(range(3)) == ([0], [1, 2])
    assert pr._seeds(range(15, 30)) == "seeds 15-29" and pr._seeds([1, 2]) == "seeds 1, 2"
