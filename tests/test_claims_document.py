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
    from kdtheory.claims import Premise

    good = Claim("RAT-1", "floor", True, 0.1, (0.0, 0.2))
    bad = Claim("RAT-1", "slope", False, 0.5)
    reported = Claim("NAG-8", "cosine", False, asserted=False)
    unmet = Premise("teacher beats labels", False, -0.11, (-0.15, -0.07))
    outside = Claim("RAT-6", "RaT beats SM", True, 0.03, (0.01, 0.05), premise=[unmet])
    text = claims_document(
        [
            _record("sim", "quick", [good, bad]),
            _record("other", "full", [reported]),
            _record("nets", "cpu", [outside]),
        ],
        {"RAT-3": ["tests/test_x.py"]},
    )
    rows = [line for line in text.splitlines() if line.startswith("| [")]
    summary = {line.split("|")[1].strip(): line for line in rows}
    assert "sim (quick): fails (1 of 2 checks fail)" in summary["[RAT-1](#rat-1)"]
    # a reported check that fails fails its claim: "reported" hides nothing
    assert "other (full): fails (1 of 1 checks fail)" in summary["[NAG-8](#nag-8)"]
    assert "nets (cpu): inconclusive (premise not met in 1)" in summary["[RAT-6](#rat-6)"]
    assert summary["[RAT-3](#rat-3)"].endswith("| property tests |")
    assert summary["[PD-2](#pd-2)"].endswith("| not yet checked |")
    # every claim has its own section, with its statement, provenance and premise
    for cid in CLAIM_IDS:
        assert f"\n#### {cid}\n" in text
        section = text.split(f"\n#### {cid}\n", 1)[1].split("\n#### ", 1)[0]
        assert "*Premise:*" in section and "Tests that check it:" in section
    # the settings the code cites by section number (CLAIMS.md 1.2, 2.1, 3.1, 6)
    for heading in ("### 1.2 Estimators", "### 2.1 Linear", "### 3.1 Estimators", "## 6. "):
        assert heading in text
    assert "## How a verdict is decided" in text and "Holm" in text
    assert "| RAT-1 | slope | 0.5 | **fails** |" in text
    assert "| RAT-6 | RaT beats SM | 0.03 [0.01, 0.05] | inconclusive (premise) |" in text
    assert "- premise: teacher beats labels: -0.11 [-0.15, -0.07] (not met)" in text


def test_unknown_claim_id_in_a_record_is_an_error():
    with pytest.raises(ValueError, match="'XYZ-1'"):
        claims_document([_record("sim", "quick", [Claim("XYZ-1", "s", True)])], {})


def test_tests_are_listed_only_where_they_check_the_claim(tmp_path):
    from kdtheory.io import claim_tests

    mark = "pytest.mark." + "claim"  # spelled apart: this file itself checks no claim
    (tmp_path / "test_a.py").write_text(f'@{mark}("NAG-2", "NAG-3")\ndef test_x(): ...\n')
    (tmp_path / "test_b.py").write_text('claim = Claim("NAG-2", "a dummy id in a table")\n')
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "test_c.py").write_text(f'pytestmark = {mark}("PD-1")\n')
    tests = claim_tests(tmp_path)
    assert tests == {
        "NAG-2": ["tests/test_a.py"],
        "NAG-3": ["tests/test_a.py"],
        "PD-1": ["tests/sub/test_c.py"],
    }
    (tmp_path / "test_d.py").write_text(f'@{mark}("NAG-20")\n')
    with pytest.raises(ValueError, match="NAG-20"):
        claim_tests(tmp_path)


def test_command_writes_and_checks(tmp_path, capsys):
    records, tests = tmp_path / "figs", tmp_path / "tests"
    records.mkdir()
    tests.mkdir()
    mark = "pytest.mark." + "claim"
    (tests / "test_a.py").write_text(f'@{mark}("NAG-2")\ndef test_a(): ...\n')
    (records / "s-quick.json").write_text(
        json.dumps(_record("s", "quick", [Claim("NAG-2", "ratio", True)]))
    )
    out = tmp_path / "CLAIMS.md"
    args = ["claims", "--records", str(records), "--tests", str(tests), "--out", str(out)]
    args += ["--readme", ""]
    assert main([*args, "--check"]) == 1
    assert main(args) == 0
    assert "Tests that check it: `tests/test_a.py`." in out.read_text()
    assert main([*args, "--check"]) == 0
    assert main(["claims", "--records", str(tmp_path / "nope")]) == 2


def _repository_copy(tmp_path):
    """The records, tests folder, template and README in a fresh folder."""
    import shutil

    for folder in ("paper_figures", "tests"):
        shutil.copytree(ROOT / folder, tmp_path / folder, ignore=shutil.ignore_patterns("*.png"))
    (tmp_path / "docs").mkdir()
    shutil.copy(ROOT / "docs" / "readme_template.md", tmp_path / "docs")
    for name in ("README.md", "CLAIMS.md"):
        shutil.copy(ROOT / name, tmp_path / name)
    return tmp_path


def test_readme_is_current():
    """Every number README.md quotes is the records' (rendered from docs/readme_template.md)."""
    from kdtheory.io import write_readme

    path, changed, differences = write_readme(
        ROOT / "paper_figures",
        ROOT / "docs" / "readme_template.md",
        ROOT / "README.md",
        write=False,
    )
    assert not changed, "README.md is out of date: run `kdtheory claims`\n" + "\n".join(differences)


def test_check_fails_when_a_quoted_number_changes_by_one_digit(tmp_path, monkeypatch, capsys):
    import re

    repo = _repository_copy(tmp_path)
    monkeypatch.chdir(repo)
    assert main(["claims", "--check"]) == 0
    readme = (repo / "README.md").read_text()
    template = (repo / "docs" / "readme_template.md").read_text()
    # a number the template quotes from a record: the first CI the README shows where the
    # template has a placeholder
    quoted = re.search(r"-?\d+\.\d+ \[-?\d+\.\d+, -?\d+\.\d+\]", readme)
    assert quoted and quoted.group() not in template, "the README must quote a record's CI"
    text = quoted.group()
    last = len(text.split(" [")[0]) - 1  # the value's last digit
    changed = text[:last] + str((int(text[last]) + 1) % 10) + text[last + 1 :]
    (repo / "README.md").write_text(readme.replace(text, changed, 1))
    capsys.readouterr()
    assert main(["claims", "--check"]) == 1
    out = capsys.readouterr().out
    assert "README.md is out of date" in out and changed in out
    (repo / "README.md").write_text(readme)
    assert main(["claims", "--check"]) == 0


def test_placeholders_name_exactly_one_number():
    from kdtheory._quotes import QuoteError, quote
    from kdtheory.claims import Premise

    p = Premise("teacher beats labels", False, -0.11, (-0.15, -0.07))
    record = _record(
        "sim",
        "full",
        [
            Claim("RAT-2", "slope (no shift)", True, -0.7153, (-0.7241, -0.7065)),
            Claim("RAT-2", "slope (shift B=4)", True, -0.765, (-0.774, -0.756), premise=[p]),
        ],
    )
    records = {"sim-full": record}
    assert quote("sim-full:RAT-2:no shift", records) == "-0.715 [-0.725, -0.706]"
    assert quote("sim-full:RAT-2:no shift|verdict", records) == "holds"
    assert quote("sim-full:RAT-2", records) == "holds (1 of 2 checks hold, premise not met in 1)"
    assert quote("sim-full:RAT-2:premise:teacher", records) == "-0.11 [-0.15, -0.07]"
    assert quote("sim-full:RAT-2:premise:teacher|met", records) == "not met"
    for bad in ("sim-full:RAT-2:slope", "sim-full:RAT-2:nothing", "other:RAT-2", "sim-full"):
        with pytest.raises(QuoteError):
            quote(bad, records)
    # a placeholder an editor wrapped over two lines is still one placeholder
    from kdtheory._quotes import render

    assert render("a {{sim-full:RAT-2:no\n    shift}} b", records, {}) == (
        "a -0.715 [-0.725, -0.706] b"
    )
    with pytest.raises(QuoteError, match="unclosed"):
        render("a {{sim-full:RAT-2:no shift b", records, {})


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
