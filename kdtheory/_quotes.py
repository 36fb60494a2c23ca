"""Numbers quoted from the records: the README is rendered from a template whose placeholders
name a record's check, premise or verdict (package-private; :func:`kdtheory.io.write_readme`
writes the result, ``kdtheory claims --check`` compares it with what is on disk).

A placeholder is ``{{STEM:ID}}`` or ``{{STEM:ID:TEXT}}`` with an optional ``|FIELD``:

- ``STEM`` is a record's file name without ``.json`` (``rat_separation-full``);
- ``ID`` is a claim id (``RAT-2``);
- ``TEXT`` selects the one check of that id whose statement contains it, or, as
  ``premise:TEXT``, the one premise whose statement contains it;
- ``FIELD`` is ``value`` (the default for a check or premise: ``value [95% CI]`` in the house
  format), ``verdict`` (a check's verdict; without ``TEXT`` the claim's verdict on that run with
  its counts), ``met`` (a premise: ``met`` or ``not met``), or ``statement``.

``{{claims-table}}`` is the table of every claim's verdict on every run. Every number goes
through :mod:`kdtheory.formatting`, so the README spells a number as the figures and CLAIMS.md do.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from kdtheory.claims import Claim, _cell, distinct_premises, runs_by_claim, verdict_summary
from kdtheory.formatting import format_estimate

PLACEHOLDER = re.compile(r"\{\{(.+?)\}\}", re.DOTALL)  # a placeholder may wrap across lines
FIELDS = ("value", "verdict", "met", "statement")


class QuoteError(ValueError):
    """A placeholder that names no record, no check, or more than one."""


def _one(items: list, what: str, text: str):
    if len(items) != 1:
        found = "nothing" if not items else f"{len(items)} matches"
        raise QuoteError(f"{{{{{text}}}}}: {what} found {found}; make the text select one")
    return items[0]


def quote(spec: str, records: Mapping[str, Mapping[str, Any]]) -> str:
    """The text of one placeholder (without its braces); see the module docstring."""
    spec = " ".join(spec.split())  # a re-wrapped template: any run of whitespace is one space
    body, field = spec, None
    if "|" in body and body.rsplit("|", 1)[1].strip() in FIELDS:
        body, field = (part.strip() for part in body.rsplit("|", 1))
    parts = body.split(":", 2)
    if len(parts) < 2:
        raise QuoteError(f"{{{{{spec}}}}}: expected STEM:ID[:TEXT][|FIELD]")
    stem, cid = parts[0].strip(), parts[1].strip()
    if stem not in records:
        raise QuoteError(f"{{{{{spec}}}}}: no record {stem}.json")
    checks = [Claim.from_dict(c) for c in records[stem].get("claims", []) if c["id"] == cid]
    if not checks:
        raise QuoteError(f"{{{{{spec}}}}}: record {stem} has no check of {cid}")
    if len(parts) == 2:
        if field not in (None, "verdict"):
            raise QuoteError(f"{{{{{spec}}}}}: a claim without TEXT has only its verdict")
        return verdict_summary(checks)
    text = parts[2].strip()
    if text.startswith("premise:"):
        needle = text.removeprefix("premise:").strip()
        premises = [p for p in distinct_premises(checks) if needle in p.statement]
        p = _one(premises, "premise", spec)
        if field == "met":
            return "met" if p.met else "not met"
        if field == "statement":
            return p.statement
        if field not in (None, "value"):
            raise QuoteError(f"{{{{{spec}}}}}: a premise has value, met or statement")
        return format_estimate(p.value, p.ci)
    claim = _one([c for c in checks if text in c.statement], "check", spec)
    if field == "verdict":
        return claim.verdict
    if field == "statement":
        return claim.statement
    if field == "met":
        raise QuoteError(f"{{{{{spec}}}}}: `met` is a premise's field")
    return claim.value_text()


def claims_table(records: Mapping[str, Mapping[str, Any]], summaries: Mapping[str, str]) -> str:
    """``| claim | what is checked | verdict per run |`` for every claim id, from the records."""
    lines = ["| claim | what is checked | verdict per run |", "|---|---|---|"]
    for cid, runs in runs_by_claim(records.values()).items():
        verdicts = "; ".join(f"{run}: {verdict_summary(cs)}" for run, cs in runs)
        link = f"[{cid}](CLAIMS.md#{cid.lower()})"
        lines.append(
            f"| {link} | {_cell(summaries.get(cid, ''))} | "
            f"{_cell(verdicts or 'property tests only')} |"
        )
    return "\n".join(lines)


def render(template: str, records: Mapping[str, Mapping[str, Any]], summaries) -> str:
    """``template`` with every placeholder replaced by the records' numbers.

    Raises
    ------
    QuoteError
        A placeholder that names no record, no check or premise, or more than one.
    """

    def sub(match: re.Match) -> str:
        spec = match.group(1).strip()
        if spec == "claims-table":
            return claims_table(records, summaries)
        return quote(spec, records)

    text = PLACEHOLDER.sub(sub, template)
    if "{{" in text or "}}" in text:
        line = text[: text.find("{{" if "{{" in text else "}}")].count("\n") + 1
        raise QuoteError(f"an unclosed placeholder brace near line {line} of the rendering")
    return text
