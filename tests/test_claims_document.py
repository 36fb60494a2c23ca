"""The claims document (CLAIMS.md): every claim stated once, verdicts generated from the records."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kdtheory.claims import CLAIM_IDS, Claim, claims_document
from kdtheory.cli import SIMULATIONS, _module, main
from kdtheory.io import write_claims_document

ROOT = Path(__file__).resolve().parents[1]


def test_claims_document_is_current():
    """CLAIMS.md is what `kdtheory claims` generates from the tracked records and tests."""
    path, changed = write_claims_document(
        ROOT / "paper_figures", ROOT / "tests", ROOT / "CLAIMS.md", write=False
    )
    assert not changed, "CLAIMS.md is out of date: run `kdtheory claims` at the repository root"


def test_every_simulated_claim_is_stated():
    for name in SIMULATIONS:
        assert set(_module(name).CLAIM_IDS) <= set(CLAIM_IDS), name
    assert len(set(CLAIM_IDS)) == len(CLAIM_IDS)


def _record(name, preset, claims):
    return {"name": name, "preset": preset, "claims": [c.to_dict() for c in claims]}


def test_verdicts_follow_the_records():
    good = Claim("RAT-1", "floor", True, 0.1, (0.0, 0.2))
    bad = Claim("RAT-1", "slope", False, 0.5)
    reported = Claim("NAG-8", "cosine", False, asserted=False)
    text = claims_document(
        [_record("sim", "quick", [good, bad]), _record("other", "full", [reported])],
        {"RAT-3": ["tests/test_x.py"]},
    )
    summary = {line.split("|")[1].strip(): line for line in text.splitlines() if "](#" in line}
    assert "sim (quick): **fails** (1 of 2 checks fail)" in summary["[RAT-1](#rat-1)"]
    assert "other (full): **fails** (1 of 1 checks fail) (reported)" in summary["[NAG-8](#nag-8)"]
    assert summary["[RAT-3](#rat-3)"].endswith("| property tests |")
    assert summary["[PD-2](#pd-2)"].endswith("| not yet checked |")
    # every claim has its own section, with its statement and provenance
    for cid in CLAIM_IDS:
        assert f"\n#### {cid}\n" in text
    # the settings the code cites by section number (CLAIMS.md 1.2, 2.1, 3.1, 6)
    for heading in ("### 1.2 Estimators", "### 2.1 Linear", "### 3.1 Estimators", "## 6. "):
        assert heading in text
    assert "| RAT-1 | slope | 0.500 | - | **no** |" in text


def test_unknown_claim_id_in_a_record_is_an_error():
    with pytest.raises(ValueError, match="'XYZ-1'"):
        claims_document([_record("sim", "quick", [Claim("XYZ-1", "s", True)])], {})


def test_command_writes_and_checks(tmp_path, capsys):
    records, tests = tmp_path / "figs", tmp_path / "tests"
    records.mkdir()
    tests.mkdir()
    (tests / "test_a.py").write_text("# checks NAG-2, not NAG-20\n")
    (records / "s-quick.json").write_text(
        json.dumps(_record("s", "quick", [Claim("NAG-2", "ratio", True)]))
    )
    out = tmp_path / "CLAIMS.md"
    args = ["claims", "--records", str(records), "--tests", str(tests), "--out", str(out)]
    assert main([*args, "--check"]) == 1
    assert main(args) == 0
    assert "Tests: `tests/test_a.py`." in out.read_text()
    assert main([*args, "--check"]) == 0
    assert main(["claims", "--records", str(tmp_path / "nope")]) == 2


def test_every_record_holds_its_presets_current_config():
    """A record's config is the preset's as the code defines it today, so that rerunning the
    preset (make figures) rewrites no tracked record; a preset changed without rerunning or
    redrawing its record fails here."""
    import dataclasses

    from kdtheory.io import _rounded

    for path in sorted((ROOT / "paper_figures").glob("*.json")):
        record = json.loads(path.read_text())
        preset = _module(record["name"]).PRESETS[record["preset"]]
        expected = json.loads(json.dumps(_rounded(dataclasses.asdict(preset)), default=str))
        assert record["config"] == expected, path.name
