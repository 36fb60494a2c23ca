"""Verdicts on CLAIMS.md's claims: what a simulation's ``claims(df)`` returns.

A :class:`Claim` records one check of a claim id (``"RAT-1"``, ``"NAG-2"``, ...) on one run: the
statement checked with its rule, the number behind it (a fitted slope, a paired difference, an
error) with its 95% confidence interval, the claim's premises as checked on the run
(:class:`Premise`), and its verdict, one of "holds", "fails" and "inconclusive"
(:data:`VERDICTS`). :mod:`kdtheory.verdicts` holds the statistical rules. Claims serialize to
plain JSON (the records ``paper_figures/*.json``) and render as the markdown tables of
``paper_figures/README.md`` and ``CLAIMS.md``, every number through :mod:`kdtheory.formatting`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from kdtheory.formatting import format_estimate, stored_interval, stored_value

__all__ = [
    "VERDICTS",
    "Premise",
    "Claim",
    "checks_by_id",
    "distinct_premises",
    "combined_verdict",
    "verdict_counts",
    "verdict_summary",
    "runs_by_claim",
    "verdict_text",
    "claims_table_markdown",
    "claims_document",
    "CLAIM_IDS",
    "REPORTED_NOTE",
]

#: the three verdicts a check or a claim can have
VERDICTS = ("holds", "fails", "inconclusive")

#: what "reported" and "inconclusive" mean, in one line (under every verdict table)
REPORTED_NOTE = (
    "inconclusive: a premise is not met, or the 95% CI does not decide (it straddles the "
    "threshold, or lies beyond it but not after Holm's adjustment); reported: not asserted by "
    "the test suite, shown and counted whatever it shows"
)


def _stored(value: float | None, ci) -> float | None:
    return None if value is None else stored_value(float(value), ci)


def _stored_ci(ci) -> list[float] | None:
    return None if ci is None else list(stored_interval(ci[0], ci[1]))


def _ci(ci) -> tuple[float, float] | None:
    return None if ci is None else (float(ci[0]), float(ci[1]))


@dataclass(frozen=True)
class Premise:
    """A condition a claim presupposes, checked on the run before its verdict.

    A claim about distillation from a good teacher says nothing on a run whose teacher is
    worse than a student trained on the labels: such a run's verdict is "inconclusive".

    Attributes
    ----------
    statement : str
        The condition with its rule (e.g. ``"teacher beats the source-label student: paired
        95% CI of the accuracy difference above 0"``).
    met : bool
        Whether the run meets it.
    value : float, optional
        The number that decided it.
    ci : tuple of float, optional
        95% confidence interval of ``value``.
    """

    statement: str
    met: bool
    value: float | None = None
    ci: tuple[float, float] | None = None

    def to_dict(self) -> dict[str, Any]:
        """``{statement, value, ci, met}`` as plain Python, numbers at the precision their
        interval supports (:func:`kdtheory.formatting.stored_value`)."""
        return {
            "statement": str(self.statement),
            "value": _stored(self.value, self.ci),
            "ci": _stored_ci(self.ci),
            "met": bool(self.met),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Premise:
        """Inverse of :meth:`to_dict`."""
        value = d.get("value")
        return cls(
            statement=str(d["statement"]),
            met=bool(d["met"]),
            value=None if value is None else float(value),
            ci=_ci(d.get("ci")),
        )

    def text(self) -> str:
        """``statement: value [CI] (met)`` in the house format."""
        number = format_estimate(self.value, self.ci)
        return f"{self.statement}: {number} ({'met' if self.met else 'not met'})"


@dataclass(frozen=True, init=False)
class Claim:
    """One check of a claim of CLAIMS.md on one run, and its verdict.

    The verdict is one of :data:`VERDICTS`: "inconclusive" when a premise is not met or the
    check could not decide (``outcome`` is None: an interval that straddles its threshold),
    otherwise "holds" or "fails" as the check's outcome says. :mod:`kdtheory.verdicts` holds
    the statistical rules that give ``outcome``.

    Parameters
    ----------
    id : str
        Claim id as in CLAIMS.md, e.g. ``"RAT-1"``.
    statement : str
        What was checked, with its rule (statistic, interval, threshold or margin).
    outcome : bool or None
        The check's result before its premises: True (the statement holds on this run), False
        (it fails), None (undecided). ``holds=`` is accepted as another name for it.
    value : float, optional
        The number that decided it (a fitted slope, a paired difference, an error).
    ci : tuple of float, optional
        95% confidence interval of ``value``.
    detail : str, default ""
        Anything else worth reporting.
    asserted : bool, default True
        Whether the test suite asserts that the check holds (on the preset it runs). ``False``
        marks a *reported* check: shown whatever it shows, never hidden, and counted in the
        claim's verdict like any other.
    premise : iterable of Premise, default ()
        The conditions the claim presupposes, checked on this run.
    relation : {"=", "<", ">"}, default "="
        ``"<"`` (``">"``): ``value`` is an upper (lower) bound, e.g. an error at rounding level
        recorded as ``< 1e-10`` instead of digits that differ between machines.
    p_fail : float, optional
        p-value of the test that the check fails, before Holm's adjustment
        (:func:`kdtheory.verdicts.holm`).
    family : int, default 1
        Number of checks in its multiplicity family (set by :func:`kdtheory.verdicts.holm`).
    holds : bool, optional
        Another name for ``outcome`` (keyword only).
    verdict : {"holds", "fails", "inconclusive"}, optional
        The verdict instead of ``outcome`` (keyword only; "holds" and "fails" need every
        premise met).

    Attributes
    ----------
    verdict : str
        "holds", "fails" or "inconclusive".
    holds : bool
        ``verdict == "holds"``.
    premise_met : bool
        Whether every premise is met.

    Examples
    --------
    >>> Claim("RAT-1", "SM slope within [-0.1, 0.1]", True, 0.01, (-0.02, 0.04)).verdict
    'holds'
    >>> unmet = Premise("teacher beats labels", False, -0.1, (-0.2, -0.05))
    >>> Claim("RAT-6", "RaT beats SM", True, 0.03, (0.01, 0.05), premise=[unmet]).verdict
    'inconclusive'
    """

    id: str
    statement: str
    outcome: bool | None
    value: float | None
    ci: tuple[float, float] | None
    detail: str
    asserted: bool
    premise: tuple[Premise, ...]
    relation: str
    p_fail: float | None
    family: int

    def __init__(
        self,
        id: str,
        statement: str,
        outcome: bool | None = None,
        value: float | None = None,
        ci: tuple[float, float] | None = None,
        detail: str = "",
        asserted: bool = True,
        premise: Iterable[Premise] = (),
        relation: str = "=",
        p_fail: float | None = None,
        family: int = 1,
        *,
        holds: bool | None = None,
        verdict: str | None = None,
    ) -> None:
        premise = tuple(premise)
        if not all(isinstance(p, Premise) for p in premise):
            raise TypeError("`premise` must hold Premise objects")
        met = all(p.met for p in premise)
        if holds is not None:
            if outcome is not None and bool(outcome) != bool(holds):
                raise ValueError("give the check's result once: `outcome` or `holds`")
            outcome = holds
        if verdict is not None:
            if outcome is not None:
                raise ValueError("give the check's result once: `outcome`, `holds` or `verdict`")
            if verdict not in VERDICTS:
                raise ValueError(f"verdict must be one of {VERDICTS}, got {verdict!r}")
            if verdict != "inconclusive" and not met:
                raise ValueError(f"a check with an unmet premise cannot be {verdict!r}")
            if verdict != "inconclusive" or met:
                outcome = {"holds": True, "fails": False}.get(verdict)
        if relation not in ("=", "<", ">"):
            raise ValueError(f"relation must be '=', '<' or '>', got {relation!r}")
        fields = {
            "id": str(id),
            "statement": str(statement),
            "outcome": None if outcome is None else bool(outcome),
            "value": None if value is None else float(value),
            "ci": _ci(ci),
            "detail": str(detail),
            "asserted": bool(asserted),
            "premise": premise,
            "relation": relation,
            "p_fail": None if p_fail is None else float(p_fail),
            "family": int(family),
        }
        for name, value_ in fields.items():
            object.__setattr__(self, name, value_)

    @property
    def premise_met(self) -> bool:
        """Whether every premise is met (True when there is none)."""
        return all(p.met for p in self.premise)

    @property
    def verdict(self) -> str:
        """ "holds", "fails" or "inconclusive" (a premise not met, or the check undecided)."""
        if not self.premise_met or self.outcome is None:
            return "inconclusive"
        return "holds" if self.outcome else "fails"

    @property
    def holds(self) -> bool:
        """Whether the verdict is "holds"."""
        return self.verdict == "holds"

    def value_text(self) -> str:
        """The value in the house format: ``value [CI]``, a bound ``< 1e-10``, or ``-``."""
        return format_estimate(self.value, self.ci, self.relation)

    def to_dict(self) -> dict[str, Any]:
        """Plain-Python dictionary for ``json.dumps``.

        Returns
        -------
        dict
            Keys ``id, statement, verdict, holds, outcome, value, ci, relation, premise,
            detail, asserted, p_fail, family``. Numbers at the precision they are determined
            to (:func:`kdtheory.formatting.stored_value`: four digits beyond what the interval
            supports, or six significant digits; a p-value to three), so that a record does
            not change with the last bits of a computation.
        """
        return {
            "id": self.id,
            "statement": self.statement,
            "verdict": self.verdict,
            "holds": self.holds,
            "outcome": self.outcome,
            "value": _stored(self.value, self.ci),
            "ci": _stored_ci(self.ci),
            "relation": self.relation,
            "premise": [p.to_dict() for p in self.premise],
            "detail": self.detail,
            "asserted": self.asserted,
            "p_fail": None if self.p_fail is None else float(f"{self.p_fail:.3g}"),
            "family": self.family,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Claim:
        """Inverse of :meth:`to_dict`; also reads records written before verdicts had three
        values (``holds`` only).

        Parameters
        ----------
        d : Mapping
            A dictionary as produced by :meth:`to_dict`.

        Returns
        -------
        Claim
        """
        value = d.get("value")
        if "outcome" in d:
            outcome = d["outcome"]
        elif d.get("verdict") in VERDICTS:
            outcome = {"holds": True, "fails": False}.get(d["verdict"])
        else:
            outcome = bool(d["holds"])
        return cls(
            id=str(d["id"]),
            statement=str(d["statement"]),
            outcome=outcome,
            value=None if value is None else float(value),
            ci=_ci(d.get("ci")),
            detail=str(d.get("detail", "")),
            asserted=bool(d.get("asserted", True)),
            premise=tuple(Premise.from_dict(p) for p in d.get("premise", [])),
            relation=str(d.get("relation", "=")),
            p_fail=d.get("p_fail"),
            family=int(d.get("family", 1)),
        )


def checks_by_id(claims: Iterable[Claim]) -> dict[str, list[Claim]]:
    """The checks of one run grouped by claim id, in the order the ids first appear."""
    groups: dict[str, list[Claim]] = {}
    for c in claims:
        groups.setdefault(c.id, []).append(c)
    return groups


def distinct_premises(claims: Iterable[Claim]) -> list[Premise]:
    """The premises of some checks, each once (checks of one claim often share them)."""
    return list(dict.fromkeys(p for c in claims for p in c.premise))


def combined_verdict(claims: Iterable[Claim]) -> str:
    """The verdict of a claim on one run, from its checks.

    "fails" when any check fails (after Holm's adjustment, :func:`kdtheory.verdicts.holm`);
    "holds" when there is a check whose premises are met and every such check holds;
    "inconclusive" otherwise (a check undecided, or no premise met). A check whose premise is
    not met is outside the claim's scope and counts for neither.

    Parameters
    ----------
    claims : iterable of Claim
        The checks of one claim id on one run.

    Returns
    -------
    str
        One of :data:`VERDICTS`.

    Examples
    --------
    >>> ok, undecided = Claim("X-1", "a", True), Claim("X-1", "b", None)
    >>> combined_verdict([ok]), combined_verdict([ok, undecided])
    ('holds', 'inconclusive')
    """
    verdicts = [c.verdict for c in claims if c.premise_met]
    if "fails" in verdicts:
        return "fails"
    if verdicts and all(v == "holds" for v in verdicts):
        return "holds"
    return "inconclusive"


def verdict_counts(claims: Iterable[Claim]) -> str:
    """The counts behind a claim's verdict on one run: ``"2 of 12 checks fail, 1 undecided"``.

    Examples
    --------
    >>> verdict_counts([Claim("X-1", "a", True), Claim("X-1", "b", None)])
    '1 of 2 checks hold, 1 undecided'
    """
    claims = list(claims)
    n = len(claims)
    counts = {v: sum(c.verdict == v for c in claims) for v in VERDICTS}
    unmet = sum(not c.premise_met for c in claims)
    undecided = counts["inconclusive"] - unmet
    parts = []
    if counts["fails"]:
        parts.append(f"{counts['fails']} of {n} checks fail")
    elif counts["holds"]:
        parts.append(f"{counts['holds']} of {n} checks hold")
    if undecided:
        parts.append(f"{undecided} undecided")
    if unmet:
        parts.append(f"premise not met in {unmet}")
    return ", ".join(parts)


def verdict_summary(claims: Iterable[Claim]) -> str:
    """A claim's verdict on one run with its counts (:func:`verdict_counts`).

    Examples
    --------
    >>> verdict_summary([Claim("X-1", "a", True), Claim("X-1", "b", True)])
    'holds (2 of 2 checks hold)'
    >>> verdict_summary([Claim("X-1", "a", True), Claim("X-1", "b", False)])
    'fails (1 of 2 checks fail)'
    >>> verdict_summary([])
    'inconclusive (no check)'
    """
    claims = list(claims)
    return f"{combined_verdict(claims)} ({verdict_counts(claims) or 'no check'})"


def verdict_text(claim: Claim, *, markdown: bool = False) -> str:
    """A check's verdict for a table: ``holds``, ``fails`` (bold in markdown) or
    ``inconclusive (premise)`` / ``inconclusive (undecided)``, with ``, reported`` for a check
    the test suite does not assert."""
    word = claim.verdict
    if word == "inconclusive":
        word += " (premise)" if not claim.premise_met else " (undecided)"
    elif word == "fails" and markdown:
        word = "**fails**"
    return word if claim.asserted else f"{word}, reported"


def _cell(text: str) -> str:
    """Escape a string for a markdown table cell."""
    return text.replace("|", "\\|").replace("\n", " ")


def _premise_lines(claims: Iterable[Claim]) -> list[str]:
    return [f"- premise: {_cell(p.text())}" for p in distinct_premises(claims)]


def claims_table_markdown(claims: Iterable[Claim]) -> str:
    """Render checks as a markdown table ``id | check | value [95% CI] | verdict``, followed by
    the premises checked on the run.

    Parameters
    ----------
    claims : iterable of Claim
        The checks, in the order to show them.

    Returns
    -------
    str
        The table (header, separator, one line per check) and one line per distinct premise,
        ending with a newline. Numbers through :func:`kdtheory.formatting.format_estimate`.

    Examples
    --------
    >>> claim = Claim("RAT-1", "SM slope within [-0.1, 0.1]", True, 0.01, (-0.02, 0.04))
    >>> print(claims_table_markdown([claim]))
    | id | check | value [95% CI] | verdict |
    |---|---|---|---|
    | RAT-1 | SM slope within [-0.1, 0.1] | 0.01 [-0.02, 0.04] | holds |
    <BLANKLINE>
    """
    claims = list(claims)
    lines = ["| id | check | value [95% CI] | verdict |", "|---|---|---|---|"]
    for claim in claims:
        lines.append(
            f"| {_cell(claim.id)} | {_cell(claim.statement)} | {claim.value_text()} "
            f"| {verdict_text(claim, markdown=True)} |"
        )
    premises = _premise_lines(claims)
    return "\n".join(lines + ([""] + premises if premises else [])) + "\n"


def _claim_ids() -> list[str]:
    from kdtheory._claims_text import SECTIONS

    return [cid for _, _, claims in SECTIONS for cid, _, _ in claims]


#: every claim id of the claims document, in its order
CLAIM_IDS: tuple[str, ...] = tuple(_claim_ids())


def runs_by_claim(
    records: Iterable[Mapping[str, Any]],
) -> dict[str, list[tuple[str, list[Claim]]]]:
    """For every claim id of the document, the runs that check it: ``[("name (preset)",
    checks), ...]``, runs in the order of (name, preset).

    Raises
    ------
    ValueError
        If a record holds a claim id the document does not state.
    """
    by_id: dict[str, list[tuple[str, list[Claim]]]] = {cid: [] for cid in CLAIM_IDS}
    for record in sorted(records, key=lambda r: (r["name"], r["preset"])):
        run = f"{record['name']} ({record['preset']})"
        claims = [Claim.from_dict(c) for c in record.get("claims", [])]
        for cid, checks in checks_by_id(claims).items():
            if cid not in by_id:
                raise ValueError(f"record {run} checks {cid!r}, which the claims text lacks")
            by_id[cid].append((run, checks))
    return by_id


def claims_document(records: Iterable[Mapping[str, Any]], tests: Mapping[str, list[str]]) -> str:
    """The claims document (``CLAIMS.md``): every claim in words, with its current verdicts.

    Parameters
    ----------
    records : iterable of Mapping
        The JSON records written by ``kdtheory run`` (``paper_figures/*.json``): ``name``,
        ``preset`` and ``claims`` (dictionaries as :meth:`Claim.to_dict` writes them).
    tests : Mapping of str to list of str
        For each claim id, the test files whose tests check it (marked
        ``@pytest.mark.claim(ID)``).

    Returns
    -------
    str
        Markdown: the header, a summary table (claim, provenance, premise, verdict per run),
        how a verdict is decided, then one section per paper with its claims, each with its
        statement, its premise, the tests that check it, and its checks per run as a table.

    Raises
    ------
    ValueError
        If a record holds a claim id the document does not state.
    """
    from kdtheory._claims_text import EXTRA_SECTIONS, PREMISES, SECTIONS, SETTINGS
    from kdtheory._methodology import CLAIMS_HEADER, METHODOLOGY

    by_id = runs_by_claim(records)

    def status(cid: str) -> str:
        runs = by_id[cid]
        if runs:
            return "; ".join(f"{run}: {verdict_summary(cs)}" for run, cs in runs)
        return "property tests" if tests.get(cid) else "not yet checked"

    lines = [CLAIMS_HEADER.rstrip(), "", "## Summary", ""]
    lines += ["| claim | statement is | verdict per run |", "|---|---|---|"]
    for _, _, claims in SECTIONS:
        for cid, provenance, _ in claims:
            lines.append(f"| [{cid}](#{cid.lower()}) | {_cell(provenance)} | {status(cid)} |")
    lines += ["", METHODOLOGY.rstrip()]
    for number, (title, paper, claims) in enumerate(SECTIONS, start=1):
        lines += ["", f"## {number}. {title}", "", f"**paper**: {paper}"]
        settings = SETTINGS.get(number, [])
        for sub, (heading, text) in enumerate(settings, start=1):
            lines += ["", f"### {number}.{sub} {heading}", "", text]
        lines += ["", f"### {number}.{len(settings) + 1} Claims"]
        for cid, provenance, statement in claims:
            lines += ["", f"#### {cid}", "", f"*Statement: {provenance}.* {statement}", ""]
            lines += [f"*Premise:* {PREMISES[cid]}", ""]
            files = ", ".join(f"`{f}`" for f in tests.get(cid, []))
            lines.append(f"Tests that check it: {files or 'none'}.")
            if not by_id[cid]:
                lines.append("" if tests.get(cid) else "\nNot yet checked by a simulation.")
            for run, cs in by_id[cid]:
                lines += ["", f"Simulation {run}: {verdict_summary(cs)}.", ""]
                lines.append(claims_table_markdown(cs))
    for number, title in EXTRA_SECTIONS:
        lines += ["", f"## {number}. {title}"]
        for sub, (heading, text) in enumerate(SETTINGS.get(number, []), start=1):
            lines += ["", f"### {number}.{sub} {heading}", "", text]
    return "\n".join(line.rstrip() for line in lines).rstrip() + "\n"
