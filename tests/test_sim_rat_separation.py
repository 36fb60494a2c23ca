"""Tests of kdtheory.simulations.rat_separation's verdicts (claims RAT-1, RAT-2, RAT-4).

Hand-built tables with known slopes get the verdicts the rules give: SM's slope inside the
equivalence margin holds and a decaying SM fails (RAT-1), an unbiased teacher leaves RAT-1
inconclusive (its premise), a schedule that decays too slowly fails RAT-2 even when the oracle's
ridge passes, a relative difference that does not vanish as ``lam_T -> 0`` fails RAT-4's
equivalence check (reported, not asserted: its margin was set after the figure had been seen).
The tracked records' tables, analysed again, give the checks and verdicts their JSON records
state, and every check holds. Pairing by design refuses a table with a duplicated row.

Tolerances. The hand-built risks carry log-normal noise of 2% on 4 designs at 4 sample sizes
(16 points per fit): a slope's 95% interval is then about +-0.02 wide, far from every boundary
the tests put the true slope against (0.1 away for SM's slope 0 and its margin +-0.1; at least
0.15 for the others).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from kdtheory.claims import combined_verdict
from kdtheory.simulations import rat_separation as rs

FIGURES = Path(__file__).resolve().parents[1] / "paper_figures"
NS = (100, 200, 400, 800)


def _rate_table(*, sm=0.0, rat=-0.7, schedule=-0.8, biased=True, seed=0) -> pd.DataFrame:
    """Rate rows without shift: power laws in n with 2% log-normal noise per design."""
    rng = np.random.default_rng(seed)
    rows = []
    for fstar in rs.TARGETS:
        for n in NS:
            for trial in range(4):
                oracle = 2.0 * n ** (-2 / 3)
                risks = {
                    "oracle": oracle,
                    "krr": 1.05 * oracle,
                    "teacher": 0.07 if biased else oracle,
                    "sm": 0.07 * (n / 100) ** sm,
                    "rat": 2.0 * n**rat,
                    "rat_schedule": 4.0 * n**schedule,
                }
                for method, r in risks.items():
                    r *= np.exp(0.02 * rng.standard_normal())
                    rows.append(
                        {"experiment": "rate", "shift": 1.0, "fstar": fstar, "n": n}
                        | {"trial": trial, "method": method, "teacher_lam": 0.1, "risk": r}
                    )
    return pd.DataFrame(rows)


def _limit_rows(rel_at, seed=0) -> pd.DataFrame:
    """RAT-4 rows: relative differences ``rel_at(lam_T)`` with 2% noise, 3 designs."""
    rng = np.random.default_rng(seed)
    rows = []
    for lam in (1e-1, 1e-2, 1e-3, 1e-4, 1e-5, 1e-6):
        for trial in range(3):
            for method in ("krr", "sm", "rat"):
                rel = 0.0 if method == "krr" else rel_at(lam) * np.exp(0.02 * rng.normal())
                rows.append(
                    {"experiment": "teacher_limit", "shift": 1.0, "fstar": "rate_tight"}
                    | {"n": 200, "trial": trial, "method": method, "teacher_lam": lam}
                    | {"risk": 0.01 * (1 + rel), "rel_diff_krr": rel}
                )
    return pd.DataFrame(rows)


def _verdicts(df: pd.DataFrame) -> dict[str, str]:
    out = rs.claims(df, rs.analyze(df))
    return {cid: combined_verdict([c for c in out if c.id == cid]) for cid in {c.id for c in out}}


@pytest.mark.claim("RAT-1", "RAT-2")
def test_flat_sm_and_fast_rat_hold():
    out = rs.claims(_rate_table())
    assert {c.id for c in out} == {"RAT-1", "RAT-2"}
    assert all(c.holds for c in out), [c for c in out if not c.holds]
    assert sum(c.id == "RAT-2" for c in out) == 4  # oracle and schedule, two f*
    # Holm's family: every statistical check of a claim id
    assert {c.family for c in out if c.id == "RAT-2"} == {4}


@pytest.mark.claim("RAT-1")
def test_decaying_sm_fails_rat1():
    assert _verdicts(_rate_table(sm=-0.3))["RAT-1"] == "fails"


@pytest.mark.claim("RAT-1")
def test_unbiased_teacher_leaves_rat1_inconclusive():
    out = [c for c in rs.claims(_rate_table(biased=False)) if c.id == "RAT-1"]
    assert out and not any(c.premise_met for c in out)
    assert {c.verdict for c in out} == {"inconclusive"}
    assert combined_verdict(out) == "inconclusive"


@pytest.mark.claim("RAT-2")
def test_slow_schedule_fails_rat2_although_the_oracle_passes():
    out = [c for c in rs.claims(_rate_table(schedule=-0.3)) if c.id == "RAT-2"]
    oracle = [c for c in out if "oracle ridge" in c.statement]
    schedule = [c for c in out if "schedule ridge" in c.statement]
    assert len(oracle) == len(schedule) == 2
    assert all(c.holds for c in oracle)
    assert {c.verdict for c in schedule} == {"fails"}
    assert combined_verdict(out) == "fails"


@pytest.mark.claim("RAT-4")
def test_vanishing_difference_holds_and_a_persistent_one_fails_rat4():
    base = _rate_table()
    holds = _verdicts(pd.concat([base, _limit_rows(lambda lam: 3.0 * lam**0.8)]))
    assert holds["RAT-4"] == "holds"
    # a difference of 5% at every lam_T: the trend is flat (undecided), the equivalence fails
    out = rs.claims(pd.concat([base, _limit_rows(lambda lam: 0.05)]))
    rat4 = [c for c in out if c.id == "RAT-4"]
    equivalence = [c for c in rat4 if "coincides" in c.statement]
    assert len(equivalence) == 2 and {c.verdict for c in equivalence} == {"fails"}
    assert combined_verdict(rat4) == "fails"
    # the margin was chosen after the figure: the equivalence is reported, the trend asserted
    assert not any(c.asserted for c in equivalence)
    assert all(c.asserted for c in rat4 if c not in equivalence)


def test_pairing_by_design_refuses_a_duplicated_row():
    """RAT-1's premise pairs teacher and oracle risks by design: a duplicated row raises
    instead of being averaged into its design."""
    df = _rate_table()
    with pytest.raises(ValueError, match="duplicate"):
        rs.claims(pd.concat([df, df.iloc[[-1]]], ignore_index=True))


@pytest.mark.claim("RAT-1", "RAT-2", "RAT-4")
@pytest.mark.parametrize("preset", ["quick", "full", "large"])
def test_tracked_records_hold(preset):
    """The committed tables (as saved) give the checks and verdicts their JSON records state,
    and in them every check holds and every premise is met."""
    df = pd.read_csv(FIGURES / f"rat_separation-{preset}.csv")
    out = rs.claims(df, rs.analyze(df))
    record = json.loads((FIGURES / f"rat_separation-{preset}.json").read_text())["claims"]
    got = [(c.id, c.statement, c.verdict, c.asserted, [p.met for p in c.premise]) for c in out]
    want = [
        (c["id"], c["statement"], c["verdict"], c["asserted"], [p["met"] for p in c["premise"]])
        for c in record
    ]
    assert got == want
    assert out and all(c.holds and c.premise_met for c in out), [c for c in out if not c.holds]
    ids = {"RAT-1", "RAT-2"} | (set() if preset == "large" else {"RAT-4"})
    assert {c.id for c in out} == ids


def test_the_readme_headline_is_two_panels_legible_at_900_pixels():
    """``headline`` draws RAT-1/RAT-2's rate-tight panels at most 900 px wide at the saved dpi
    (shown at its own size, 8 pt text stays 8 pt), and the README shows the committed one."""
    from PIL import Image

    df = pd.read_csv(FIGURES / "rat_separation-quick.csv")
    fig = rs.headline(df, rs.analyze(df))
    assert len([ax for ax in fig.axes if ax.has_data()]) == 2
    assert fig.get_size_inches()[0] * 130 <= 900
    texts = [t for ax in fig.axes for t in ax.get_xticklabels() + ax.get_yticklabels()]
    assert min(t.get_fontsize() for t in texts) >= 8
    with Image.open(FIGURES / "headline.png") as image:
        assert image.size[0] <= 900
    readme = (FIGURES.parent / "README.md").read_text(encoding="utf-8")
    assert "(paper_figures/headline.png)" in readme
