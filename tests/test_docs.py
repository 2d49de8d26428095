"""docs/SECURITY.md and docs/CLINICAL-SAFETY.md: every control they cite names a test
that exists, so a renamed or deleted test cannot leave a control unverified."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "docs" / "SECURITY.md", ROOT / "docs" / "CLINICAL-SAFETY.md"]
CITED = re.compile(r"(tests/[\w/]+\.py)::(\w+)")
SECTIONS = {
    "SECURITY.md": [
        "Telegram is not end-to-end encrypted",
        "stolen or lost phone",
        "malicious referrer",
        "Theft of the database",
        "leaked bot token",
    ],
    "CLINICAL-SAFETY.md": [
        "Lost query",
        "Wrong clinician",
        "Missed reminder",
        "Message to the wrong patient",
        "Stale contact details",
        "Unanswered escalation",
    ],
}


def _tests_in(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {
        node.name
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.name.startswith("test_")
    }


def test_every_cited_test_exists() -> None:
    missing = []
    for doc in DOCS:
        cited = CITED.findall(doc.read_text(encoding="utf-8"))
        assert len(cited) >= 20, f"{doc.name} cites too few tests"
        for file, name in cited:
            path = ROOT / file
            if not path.exists() or name not in _tests_in(path):
                missing.append(f"{doc.name}: {file}::{name}")
    assert not missing, "cited tests that do not exist:\n" + "\n".join(missing)


def test_both_documents_cover_the_required_threats_and_hazards() -> None:
    for doc in DOCS:
        headings = [
            line.lower()
            for line in doc.read_text(encoding="utf-8").splitlines()
            if line[:3] == "## "
        ]
        for wanted in SECTIONS[doc.name]:
            assert any(wanted.lower() in h for h in headings), f"{doc.name}: {wanted}"


def test_every_control_row_names_a_test() -> None:
    """Each row of a `| control | test |` table cites at least one test."""
    for doc in DOCS:
        in_table = False
        for line in doc.read_text(encoding="utf-8").splitlines():
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if cells == ["control", "test"]:
                in_table = True
                continue
            if not line.startswith("|"):
                in_table = False
            if in_table and not set(cells[0]) <= {"-"}:
                assert CITED.search(cells[-1]), f"{doc.name}: no test for {cells[0]!r}"


def test_privacy_and_this_document_say_the_same_about_erasure() -> None:
    """What erasure removes is stated once, in `handlers.texts.ERASURE` (shown by
    /privacy), and word for word in docs/SECURITY.md and the README: none can drift alone."""
    from handlers.texts import ERASURE, PRIVACY

    def words(text: str) -> str:
        return " ".join(text.split())

    assert ERASURE in PRIVACY
    security = (ROOT / "docs" / "SECURITY.md").read_text(encoding="utf-8")
    assert words(ERASURE) in words(security)
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert words(ERASURE) in words(readme)
