"""Verdicts on CLAIMS.md's claims: what a simulation's ``claims(df)`` returns.

A :class:`Claim` records one claim id (``"RAT-1"``, ``"NAG-2"``, ...), the statement checked,
whether it holds, and the fitted number behind the verdict (typically a log-log slope from
:func:`kdtheory.rates.fit_rate` with its 95% confidence interval). Claims serialize to plain JSON
and render as the markdown claims table of the README and ``paper_figures/README.md``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["Claim", "claims_table_markdown", "claims_document", "CLAIM_IDS"]


@dataclass(frozen=True)
class Claim:
    """The verdict on one claim of CLAIMS.md.

    Attributes
    ----------
    id : str
        Claim id as in CLAIMS.md, e.g. ``"RAT-1"``.
    statement : str
        What was checked, in words (e.g. ``"SM risk does not decay with n"``).
    holds : bool
        Whether the claim holds on this run.
    value : float, optional
        The number that decided it (e.g. a fitted slope).
    ci : tuple of float, optional
        95% confidence interval of ``value``.
    detail : str, default ""
        Anything else worth reporting (the prediction compared with, the fit's label, ...).
    asserted : bool, default True
        Whether the test suite asserts that the check holds. ``False`` marks a check that is
        reported whatever it shows: an exploratory formalization, or a setting in which the
        simulation contradicts the claim. Such a check stays in the figure and the tables, and
        a failure is shown there as a failure.
    """

    id: str
    statement: str
    holds: bool
    value: float | None = None
    ci: tuple[float, float] | None = None
    detail: str = ""
    asserted: bool = True

    def to_dict(self) -> dict[str, Any]:
        """Plain-Python dictionary for ``json.dumps`` (floats, bools, a 2-list for ``ci``).

        Returns
        -------
        dict
            Keys ``id, statement, holds, value, ci, detail, asserted``; numpy scalars become
            Python ones.
        """
        return {
            "id": str(self.id),
            "statement": str(self.statement),
            "holds": bool(self.holds),
            "value": None if self.value is None else float(self.value),
            "ci": None if self.ci is None else [float(self.ci[0]), float(self.ci[1])],
            "detail": str(self.detail),
            "asserted": bool(self.asserted),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Claim:
        """Inverse of :meth:`to_dict`.

        Parameters
        ----------
        d : Mapping
            A dictionary as produced by :meth:`to_dict` (``value``, ``ci``, ``detail`` and
            ``asserted`` may be missing).

        Returns
        -------
        Claim
        """
        value = d.get("value")
        ci = d.get("ci")
        return cls(
            id=str(d["id"]),
            statement=str(d["statement"]),
            holds=bool(d["holds"]),
            value=None if value is None else float(value),
            ci=None if ci is None else (float(ci[0]), float(ci[1])),
            detail=str(d.get("detail", "")),
            asserted=bool(d.get("asserted", True)),
        )


def _fmt(x: float | None) -> str:
    if x is None:
        return "-"
    if math.isfinite(x) and x != 0 and (abs(x) >= 1e4 or abs(x) < 1e-3):
        return f"{x:.3g}"
    return f"{x:.3f}"


def _cell(text: str) -> str:
    """Escape a string for a markdown table cell."""
    return text.replace("|", "\\|").replace("\n", " ")


def claims_table_markdown(claims: Iterable[Claim]) -> str:
    """Render claims as a markdown table: ``id | statement | value | 95% CI | holds``.

    Parameters
    ----------
    claims : iterable of Claim
        The verdicts, in the order to show them.

    Returns
    -------
    str
        The table (header, separator, one line per claim), ending with a newline. ``holds`` is
        shown as ``yes`` or ``**no**`` (``(reported)`` is appended for a check that is not
        asserted); a missing value or interval as ``-``.

    Examples
    --------
    >>> claim = Claim("RAT-1", "SM does not decay", True, 0.01, (-0.02, 0.04))
    >>> print(claims_table_markdown([claim]))
    | id | statement | value | 95% CI | holds |
    |---|---|---|---|---|
    | RAT-1 | SM does not decay | 0.010 | [-0.020, 0.040] | yes |
    <BLANKLINE>
    """
    lines = ["| id | statement | value | 95% CI | holds |", "|---|---|---|---|---|"]
    for claim in claims:
        ci = "-" if claim.ci is None else f"[{_fmt(claim.ci[0])}, {_fmt(claim.ci[1])}]"
        holds = ("yes" if claim.holds else "**no**") + ("" if claim.asserted else " (reported)")
        lines.append(
            f"| {_cell(claim.id)} | {_cell(claim.statement)} | {_fmt(claim.value)} | {ci} "
            f"| {holds} |"
        )
    return "\n".join(lines) + "\n"


CLAIMS_HEADER = """# Claims

What kdtheory checks, claim by claim. Each section names a paper and says what the paper states
(**paper**); each claim says whether its statement here is the paper's or **ours**, our
formalization of the paper's claim with its assumptions made explicit (never a quotation).
The verdicts are generated from the records in `paper_figures/*.json` by `kdtheory claims` (run
by `make figures`): a check that fails is listed as failing, and a check marked *reported* is
shown whatever it shows, not asserted by the test suite.

How a claim is checked:

- **identity or inequality**: a property test (Hypothesis) over random instances, in exact or
  log-space arithmetic, with tolerances that follow from floating point;
- **rate or ordering**: a Monte Carlo simulation under `simulations/`, summarized by a fitted
  log-log slope with its 95% confidence interval (statsmodels OLS on the designs, or WLS on the
  per-`n` means), plotted in `paper_figures/` and checked by a test on a small preset;
- **linear smoothers**: SM, RaT and kernel ridge are linear in the responses,
  `f_hat(X_eval) = A y`, so their expected risk over the noise is exact,
  `||A f*(X) - f*(X_eval)||^2 / N + sigma^2 ||A||_F^2 / N`, and the Monte Carlo runs over
  designs only.
"""


def _claim_ids() -> list[str]:
    from kdtheory._claims_text import SECTIONS

    return [cid for _, _, claims in SECTIONS for cid, _, _ in claims]


#: every claim id of the claims document, in its order
CLAIM_IDS: tuple[str, ...] = tuple(_claim_ids())


def _verdict(claims: list[Claim]) -> str:
    """``"holds (4 of 4 checks)"``, ``"fails (2 of 12 checks fail)"``, ``"(reported)"`` appended
    when no check of the claim is asserted."""
    failing = sum(not c.holds for c in claims)
    text = (
        f"holds ({len(claims)} of {len(claims)} checks)"
        if not failing
        else f"**fails** ({failing} of {len(claims)} checks fail)"
    )
    return text + ("" if any(c.asserted for c in claims) else " (reported)")


def claims_document(records: Iterable[Mapping[str, Any]], tests: Mapping[str, list[str]]) -> str:
    """The claims document (``CLAIMS.md``): every claim in words, with its current verdicts.

    Parameters
    ----------
    records : iterable of Mapping
        The JSON records written by ``kdtheory run`` (``paper_figures/*.json``): ``name``,
        ``preset`` and ``claims`` (dictionaries as :meth:`Claim.to_dict` writes them).
    tests : Mapping of str to list of str
        For each claim id, the test files that cite it (property tests and the small-preset
        checks of the simulations).

    Returns
    -------
    str
        Markdown: a summary table (claim, provenance, verdict per simulation run), then one
        section per paper with its claims, each with its statement, where it is checked, and its
        checks as a table. A claim no record mentions is shown as checked by tests only, or as
        not yet checked.

    Raises
    ------
    ValueError
        If a record holds a claim id the document does not state.
    """
    from kdtheory._claims_text import EXTRA_SECTIONS, SECTIONS, SETTINGS

    by_id: dict[str, list[tuple[str, list[Claim]]]] = {cid: [] for cid in CLAIM_IDS}
    for record in sorted(records, key=lambda r: (r["name"], r["preset"])):
        run = f"{record['name']} ({record['preset']})"
        claims = [Claim.from_dict(c) for c in record.get("claims", [])]
        for cid in dict.fromkeys(c.id for c in claims):
            if cid not in by_id:
                raise ValueError(f"record {run} checks {cid!r}, which the claims text lacks")
            by_id[cid].append((run, [c for c in claims if c.id == cid]))

    def status(cid: str) -> str:
        runs = by_id[cid]
        if runs:
            return "; ".join(f"{run}: {_verdict(cs)}" for run, cs in runs)
        return "property tests" if tests.get(cid) else "not yet checked"

    lines = [CLAIMS_HEADER, "", "## Summary", ""]
    lines += ["| claim | statement is | verdict |", "|---|---|---|"]
    for _, _, claims in SECTIONS:
        for cid, provenance, _ in claims:
            lines.append(f"| [{cid}](#{cid.lower()}) | {_cell(provenance)} | {status(cid)} |")
    for number, (title, paper, claims) in enumerate(SECTIONS, start=1):
        lines += ["", f"## {number}. {title}", "", f"**paper**: {paper}"]
        settings = SETTINGS.get(number, [])
        for sub, (heading, text) in enumerate(settings, start=1):
            lines += ["", f"### {number}.{sub} {heading}", "", text]
        lines += ["", f"### {number}.{len(settings) + 1} Claims"]
        for cid, provenance, statement in claims:
            lines += ["", f"#### {cid}", "", f"*Statement: {provenance}.* {statement}", ""]
            files = ", ".join(f"`{f}`" for f in tests.get(cid, []))
            lines.append(f"Tests: {files or 'none yet'}.")
            if not by_id[cid]:
                lines.append("" if tests.get(cid) else "\nNot yet checked by a simulation.")
            for run, cs in by_id[cid]:
                lines += ["", f"Simulation {run}: {_verdict(cs)}.", "", claims_table_markdown(cs)]
    for number, title in EXTRA_SECTIONS:
        lines += ["", f"## {number}. {title}"]
        for sub, (heading, text) in enumerate(SETTINGS.get(number, []), start=1):
            lines += ["", f"### {number}.{sub} {heading}", "", text]
    return "\n".join(line.rstrip() for line in lines).rstrip() + "\n"
