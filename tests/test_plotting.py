"""The figure house style (kdtheory.plotting): numbers, verdicts, styles, legends, ticks."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from kdtheory.claims import Claim  # noqa: E402
from kdtheory.plotting import (  # noqa: E402
    COLOR_ROLES,
    FAMILY_STYLE,
    METHOD_STYLE,
    SIMULATION_METHODS,
    ReadableLogLocator,
    ci_decimals,
    claim_rows,
    finish_figure,
    format_ci,
    new_figure,
    rate_panel,
    verdict,
)
from kdtheory.rates import fit_rate  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
FIGURES = ROOT / "paper_figures"
_NUMBER = re.compile(r"^-?\d+(?:\.\d+)?(?:e[+-]\d+)?")


# --------------------------------------------------------------------------- numbers
@pytest.mark.parametrize(
    "value, lo, hi, text",
    [
        # the interval's bounds rounded outward: it contains the interval computed
        (1.184, 1.146, 1.223, "1.18 [1.14, 1.23]"),
        (-0.7153, -0.7241, -0.7065, "-0.715 [-0.725, -0.706]"),
        (0.0027, -0.0204, 0.0258, "0.00 [-0.03, 0.03]"),
        (12345.0, 12045.0, 12645.0, "12300 [12000, 12700]"),
        (2.3e-05, 1.9e-05, 2.7e-05, "2.3e-05 [1.9e-05, 2.7e-05]"),
        (-0.0004, -0.0054, 0.0046, "0.000 [-0.006, 0.005]"),  # no "-0.000"
    ],
)
def test_format_ci_examples(value, lo, hi, text):
    assert format_ci(value, lo, hi) == text


@pytest.mark.parametrize(
    "half, decimals", [(0.05, 2), (0.015, 3), (0.0999, 2), (0.2, 1), (3.0, 0), (300.0, -2)]
)
def test_ci_decimals_follow_the_half_width(half, decimals):
    assert ci_decimals(1.0 - half, 1.0 + half) == decimals


def test_format_ci_without_a_usable_interval_keeps_three_digits():
    assert ci_decimals(1.0, 1.0) is None
    assert format_ci(1.23456, 1.0, 1.0) == "1.23 [1, 1]"
    assert format_ci(float("nan"), 0.0, 1.0).startswith("nan")


@settings(max_examples=300, deadline=None)
@given(
    value=st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False),
    half=st.floats(1e-6, 1e5, allow_nan=False),
    skew=st.floats(0.5, 2.0),
)
def test_format_ci_rounds_to_the_precision_of_the_interval(value, half, skew):
    lo, hi = value - half, value + skew * half
    d = ci_decimals(lo, hi)
    unit = 10.0**-d
    # the number of digits follows the interval: its half-width is 2 to 20 units of the last digit
    assert 2.0 * (1 - 1e-9) <= (hi - lo) / 2 / unit < 20.0 * (1 + 1e-9)
    text = format_ci(value, lo, hi)
    shown = float(_NUMBER.match(text).group())
    # the value shown is the value rounded: within half a unit of the last digit shown
    assert abs(shown - value) <= unit / 2 * (1 + 1e-6) + 1e-9 * abs(value)
    # the three numbers share their precision: the unit of their last digit (a bound rounded up
    # across a power of ten may carry the next exponent: 8.9e+05 [7.9e+05, 1e+06])
    parts = re.findall(r"-?\d+(?:\.\d+)?(?:e[+-]\d+)?", text)
    assert len(parts) == 3

    def last_unit(part: str) -> int:
        mantissa, _, exponent = part.partition("e")
        return int(exponent or 0) - len(mantissa.partition(".")[2])

    assert len({last_unit(p) for p in parts}) == 1


# --------------------------------------------------------------------------- verdicts
def test_verdict_wording_shows_three_verdicts_and_marks_reported_checks():
    from kdtheory.claims import Premise

    assert verdict(Claim("X-1", "s", True)) == "holds"
    assert verdict(Claim("X-1", "s", False)) == "fails"
    assert verdict(Claim("X-1", "s", None)) == "inconclusive (undecided)"
    assert verdict(Claim("X-1", "s", True, premise=[Premise("p", False)])) == (
        "inconclusive (premise)"
    )
    assert verdict(Claim("X-1", "s", True, asserted=False)) == "holds, reported"
    assert verdict(Claim("X-1", "s", False, asserted=False)) == "fails, reported"


def test_claim_rows_one_per_check_when_few_with_premises():
    from kdtheory.claims import Premise

    unmet = Premise("teacher beats labels", False, -0.11, (-0.15, -0.07))
    claims = [
        Claim("A-1", "first", True, 1.184, (1.146, 1.223)),
        Claim("A-2", "second", False, 2),
        Claim("A-3", "third", True, 0.5, premise=[unmet]),
        Claim("A-3", "fourth", True, 0.5, premise=[unmet]),
    ]
    rows = claim_rows(claims, max_rows=8)
    assert [r[:3] for r in rows] == [
        ("A-1", "holds", "1.18 [1.14, 1.23]"),
        ("A-2", "fails", "2"),
        ("A-3", "inconclusive (premise)", "0.5"),
        ("A-3", "inconclusive (premise)", "0.5"),
        ("", "premise not met", "-0.11 [-0.15, -0.07]"),  # once per claim
    ]
    assert [r[4] for r in rows] == ["holds", "fails", "inconclusive", "inconclusive"] + [
        "inconclusive"
    ]


def test_claim_rows_per_id_with_the_checks_that_do_not_hold_listed():
    claims = [Claim("A-1", f"check {i}", True) for i in range(6)]
    claims += [Claim("A-1", "reported one", False, 0.5, (0.1, 0.9), asserted=False)]
    claims += [Claim("B-2", f"other {i}", None, asserted=False) for i in range(3)]
    rows = claim_rows(claims, max_rows=4)
    # a failing check fails its claim, reported or not
    assert rows[0][:3] == ("A-1", "fails", "1 of 7 checks fail")
    assert rows[1][:3] == ("", "fails, reported", "0.5 [0.1, 0.9]")
    assert rows[2][:3] == ("B-2", "inconclusive, reported", "3 undecided")
    assert len(rows) == 6


@pytest.mark.parametrize("n_cols", [1, 3])
def test_every_figure_explains_its_verdicts(n_cols):
    """The whole note on "inconclusive" and "reported" is drawn under every verdict table, in a
    one-panel figure too (wrapped, never cut), inside the figure."""
    from kdtheory.claims import REPORTED_NOTE

    fig, axes = new_figure(1, n_cols)
    try:
        for ax in np.atleast_1d(axes).flat:
            ax.plot([1, 2], [1, 2], label="a")
            ax.set_xlabel("x")
        finish_figure(fig, [Claim("RAT-1", "a check", None, 0.5, (0.1, 0.9))], "A title (RAT-1)")
        notes = [t for t in fig.texts if t.get_style() == "italic"]
        renderer = fig.canvas.get_renderer()
        inside = all(0 <= t.get_window_extent(renderer).x1 <= fig.bbox.width + 1 for t in notes)
        boxes = [t.get_window_extent(renderer) for t in notes]
        texts = " ".join(t.get_text() for t in fig.texts)
    finally:
        plt.close(fig)
    assert " ".join(t.get_text() for t in notes) == " ".join(REPORTED_NOTE.split())
    assert inside and all(b.y0 >= 0 for b in boxes)
    assert "inconclusive (undecided)" in texts


@pytest.mark.parametrize("width", [1, 3])
def test_verdict_rows_are_wrapped_never_cut(width):
    """Every check statement is drawn whole (wrapped over lines in its column, inside the
    figure, one row below the other), however long and however narrow the figure."""
    long = "the statement of a check " + " ".join(f"word{i}" for i in range(60))
    claims = [Claim("RAT-1", long + " one", False, 0.5, (0.1, 0.9)), Claim("RAT-2", "short", True)]
    fig, axes = new_figure(1, width)
    try:
        for ax in np.atleast_1d(axes).flat:
            ax.plot([1, 2], [1, 2])
        finish_figure(fig, claims, "A title (RAT-1)")
        renderer = fig.canvas.get_renderer()
        drawn = [t for t in fig.texts if t.get_style() != "italic"]
        text = " ".join(t.get_text() for t in drawn)
        boxes = [t.get_window_extent(renderer) for t in drawn if t.get_text()]
    finally:
        plt.close(fig)
    assert long + " one" in " ".join(text.split()) and "..." not in text
    assert all(b.x1 <= fig.bbox.width + 1 and b.y0 >= 0 for b in boxes)
    tops = [(round(b.x0), round(b.y0)) for b in boxes]
    assert len(tops) == len(set(tops))  # no two texts drawn over each other


# --------------------------------------------------------------------------- styles
def _tracked_methods() -> dict[str, set[str]]:
    """Method names in the tracked tables of the small presets (what the figures plot)."""
    out: dict[str, set[str]] = {}
    for path in sorted(FIGURES.glob("*-quick.csv")) + sorted(FIGURES.glob("*-cpu.csv")):
        name = path.name.rsplit("-", 1)[0]
        cols = [c for c in ("method", "target") if c in pd.read_csv(path, nrows=1).columns]
        if cols:
            df = pd.read_csv(path, usecols=cols)
            out.setdefault(name, set()).update(*(set(df[c].dropna().astype(str)) for c in cols))
    return out


def test_every_method_of_every_simulation_has_a_style():
    tracked = _tracked_methods()
    assert tracked, "no tracked tables found"
    for name, methods in tracked.items():
        assert methods <= set(METHOD_STYLE), (name, methods - set(METHOD_STYLE))
    for name, methods in SIMULATION_METHODS.items():
        assert set(methods) <= set(METHOD_STYLE), name
        assert set(methods) <= tracked.get(name, set(methods)), name  # eigen: no method column
        style = [METHOD_STYLE[m] for m in methods if METHOD_STYLE[m].get("kind") != "reference"]
        colors = [s["color"] for s in style]
        assert len(set(colors)) == len(colors), (name, colors)  # distinct within a figure


def test_a_colour_and_marker_is_one_family():
    seen: dict[tuple, str] = {}
    for family, style in FAMILY_STYLE.items():
        key = (style["color"].lower(), style["marker"])
        assert key not in seen, (family, seen.get(key))
        seen[key] = family
    for method, style in METHOD_STYLE.items():
        assert {"label", "color", "family"} <= set(style), method
        assert style["color"] == FAMILY_STYLE[style["family"]]["color"], method
        assert style["marker"] == FAMILY_STYLE[style["family"]]["marker"], method
        assert style["color"].lower() != "#f0e442", method  # no yellow on white


def test_a_colour_names_one_role_in_every_figure():
    """Two families share a colour only as variants of one role (COLOR_ROLES), so a colour
    never means two unrelated methods across the figures (and never two in one figure)."""
    role_of = {family: role for role, families in COLOR_ROLES.items() for family in families}
    by_colour: dict[str, list[str]] = {}
    for family, style in FAMILY_STYLE.items():
        by_colour.setdefault(style["color"].lower(), []).append(family)
    for colour, families in by_colour.items():
        if len(families) > 1:
            roles = {role_of.get(f) for f in families}
            assert len(roles) == 1 and None not in roles, (colour, families)


# --------------------------------------------------------------------------- layout
def _rate_summary(ns, methods, rng):
    rows = []
    for k, m in enumerate(methods):
        for n in ns:
            mean = (0.07 if m in ("sm", "teacher") else 3.0 * n**-0.7) * (1 + 0.01 * k)
            rows.append({"method": m, "n": n, "mean": mean, "lo": mean * 0.9, "hi": mean * 1.1})
    s = pd.DataFrame(rows)
    fits = {
        m: fit_rate(g.n, g["mean"] * rng.uniform(0.97, 1.03, len(g)))
        for m, g in s.groupby("method")
    }
    return s, fits


def _overlap(a, b, pad: float = 0.5) -> bool:
    return a.x0 < b.x1 - pad and b.x0 < a.x1 - pad and a.y0 < b.y1 - pad and b.y0 < a.y1 - pad


def _check_layout(fig) -> None:
    """No legend over an axes' data area, legend fonts >= 8 pt, no two tick labels of an axis
    overlap, every text inside the figure, the figure's texts (title, table) off the panels."""
    fig.canvas.draw()
    r = fig.canvas.get_renderer()
    legends = [ax.get_legend() for ax in fig.axes if ax.get_legend()] + list(fig.legends)
    assert legends
    for leg in legends:
        box = leg.get_window_extent(r)
        for ax in fig.axes:
            assert not _overlap(box, ax.bbox), ax.get_title()
        assert all(t.get_fontsize() >= 8 for t in leg.get_texts())
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            labels = [t.label1 for t in axis._update_ticks() if t.label1.get_text()]
            boxes = [t.get_window_extent(r) for t in labels]
            for i, a in enumerate(boxes):
                for b in boxes[i + 1 :]:
                    assert not _overlap(a, b), [t.get_text() for t in labels]
    texts = [t for t in fig.texts if t.get_text().strip()] + [fig._suptitle]
    panels = [(ax.get_title(), ax.get_tightbbox(r)) for ax in fig.axes]
    for t in texts:
        box = t.get_window_extent(r)
        assert fig.bbox.x0 - 1 <= box.x0 and box.x1 <= fig.bbox.x1 + 1, t.get_text()
        assert fig.bbox.y0 - 1 <= box.y0 and box.y1 <= fig.bbox.y1 + 1, t.get_text()
        for title, tight in panels:
            assert not _overlap(box, tight), (t.get_text(), title)


def test_rate_panels_legends_off_the_data_and_table_below():
    rng = np.random.default_rng(0)
    methods = ("teacher", "sm", "rat", "rat_schedule", "krr", "oracle")
    fig, axes = new_figure(1, 2, width=4.5, height=3.4)
    for ax, ns in zip(
        axes[0], ([100 * 2**k for k in range(7)], [128, 256, 512, 1024]), strict=True
    ):
        s, fits = _rate_summary(ns, methods, rng)
        rate_panel(ax, s, fits, floor=0.07, title="RAT-1: test", reference_slope=-2 / 3)
    claims = [Claim("RAT-1", "a long statement " * 12, True, 0.01, (-0.02, 0.04))] * 3
    claims += [Claim("RAT-2", "reported", False, 1.0, asserted=False)]
    finish_figure(fig, claims, "A title that says what is shown (RAT-1)", legend=True)
    try:
        _check_layout(fig)
        texts = {t.get_text() for t in fig.texts}
        assert {"holds", "fails, reported", "0.01 [-0.02, 0.04]"} <= texts
    finally:
        plt.close(fig)


@pytest.mark.parametrize("width", [2.5, 4.0, 6.0])
@pytest.mark.parametrize(
    "xlim, ylim",
    [
        ((80, 7000), (4e-4, 0.1)),
        ((110, 4500), (1e-3, 0.8)),
        ((0.04, 0.5), (1e-15, 1e3)),
        ((90, 450), (0.058, 0.11)),
        ((1e-6, 0.2), (0.003, 0.25)),
    ],
)
def test_log_tick_labels_do_not_overlap(width, xlim, ylim):
    fig, axes = new_figure(1, 1, width=width, height=2.6)
    ax = axes[0, 0]
    ax.loglog(xlim, ylim, "o-")
    ax.set(xlim=xlim, ylim=ylim, xlabel="n", ylabel="risk", title="ticks")
    finish_figure(fig, [], "ticks", legend=[(ax.lines[0], "a curve")])
    try:
        _check_layout(fig)
        for axis in (ax.xaxis, ax.yaxis):
            assert isinstance(axis.get_major_locator(), ReadableLogLocator)
            shown = [t.label1.get_text() for t in axis._update_ticks() if t.label1.get_text()]
            assert len(shown) >= 2, shown
    finally:
        plt.close(fig)


@pytest.mark.parametrize("name", ["rat_interaction", "tabular_kd"])
def test_a_redrawn_figure_keeps_the_house_rules(name):
    """A figure redrawn from its tracked table: the layout rules, and no file cited that the
    repository lacks."""
    mod = importlib.import_module(f"kdtheory.simulations.{name}")
    df = pd.read_csv(FIGURES / f"{name}-quick.csv")
    analysis = mod.analyze(df)
    fig = mod.plot(df, analysis, mod.claims(df, analysis))
    try:
        _check_layout(fig)
        texts = [t.get_text() for t in fig.findobj(matplotlib.text.Text)]
        cited = {m for t in texts for m in re.findall(r"[\w./-]+\.(?:md|csv|json)\b", t)}
        assert all((ROOT / c).exists() for c in cited), cited
    finally:
        plt.close(fig)
