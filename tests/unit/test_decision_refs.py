"""Citations of the project's decisions point into the repository: `docs/decisions.md <id>`.

Comments and strings in the code, and the Markdown pages, cite no document that lives outside
the repository (`scheduling.md`, `runai-nim-api.md`, `nim-operator.md`, an issue number) and no
bare `D<n>`; and every `docs/decisions.md <id>` names a heading of docs/decisions.md.
"""

from __future__ import annotations

import io
import re
import tokenize
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DECISIONS = ROOT / "docs" / "decisions.md"
CODE_DIRS = ("src", "tests", "bench", "scripts")

ID = r"[A-Z]\d+(?:\.\d+)?"
CITED = re.compile(rf"docs/decisions\.md ({ID}(?:(?:, | and |/){ID})*)")
OUTSIDE = re.compile(
    r"scheduling\.md|runai-nim-api\.md|nim-operator\.md|\b[Ii]ssue \d+"
    r"|(?<![\w/])decisions\.md|(?<![\w/.\-])D\d{1,2}\b"
)
"""What may not be cited once `docs/decisions.md <id>` citations are taken out."""


def headings() -> set[str]:
    return set(re.findall(rf"^#{{2,4}} ({ID})[.\s]", DECISIONS.read_text(), flags=re.M))


def prose(path: Path) -> Iterator[tuple[int, str]]:
    """(line, text) of each comment and string literal of a Python file; a whole other file."""
    text = path.read_text()
    if path.suffix != ".py":
        yield from enumerate(text.splitlines(), start=1)
        return
    kinds = {tokenize.COMMENT, tokenize.STRING}
    kinds |= {getattr(tokenize, "FSTRING_MIDDLE", tokenize.STRING)}
    for tok in tokenize.generate_tokens(io.StringIO(text).readline):
        if tok.type in kinds:
            for offset, line in enumerate(tok.string.splitlines()):
                yield tok.start[0] + offset, line


def checked_files() -> list[Path]:
    found = [
        path
        for top in CODE_DIRS
        for path in sorted((ROOT / top).rglob("*"))
        if path.is_file()
        and path.suffix in {".py", ".md", ""}
        and not {".venv", "__pycache__"} & set(path.parts)
        and path != Path(__file__).resolve()
    ]
    return found + sorted(p for p in ROOT.glob("*.md"))


def citations() -> Iterator[tuple[str, int, str]]:
    for path in checked_files():
        for number, line in prose(path):
            yield f"{path.relative_to(ROOT)}:{number}", number, line


def test_the_checked_files_include_code_tests_and_pages() -> None:
    names = {p.relative_to(ROOT).as_posix() for p in checked_files()}
    assert {"src/nimplane/domain/validation.py", "ARCHITECTURE.md", "scripts/test"} <= names


def test_nothing_cites_a_document_outside_the_repository_or_a_bare_decision() -> None:
    offenders = [
        f"{where}: {line.strip()}"
        for where, _, line in citations()
        if OUTSIDE.search(CITED.sub("", line))
    ]
    assert offenders == [], "cite `docs/decisions.md <id>` instead:\n" + "\n".join(offenders)


def test_every_cited_decision_is_a_heading_of_docs_decisions() -> None:
    known = headings()
    assert {"D1", "D10", "S1.3", "S2.3", "O3"} <= known
    missing = [
        f"{where}: {ident}"
        for where, _, line in citations()
        for match in CITED.finditer(line)
        for ident in re.findall(ID, match.group(1))
        if ident not in known
    ]
    assert missing == []


@pytest.mark.parametrize(
    ("line", "bad"),
    [
        pytest.param("# see scheduling.md 2.3", True, id="scheduling-notes"),
        pytest.param('"""Run:ai (runai-nim-api.md section 4)."""', True, id="api-notes"),
        pytest.param("# as nim-operator.md says", True, id="operator-notes"),
        pytest.param("# Issue 3, item 2", True, id="issue-number"),
        pytest.param("# null means not given (D2)", True, id="bare-decision"),
        pytest.param("# (decisions.md D6)", True, id="decisions-outside-docs"),
        pytest.param("# merge settles D2; docs/decisions.md D6 checks", True, id="one-bare-of-two"),
        pytest.param("# (docs/decisions.md D2)", False, id="cited"),
        pytest.param("# (docs/decisions.md D3, D6 and S2.3/S2.4)", False, id="cited-list"),
        pytest.param("# a 3D1 grid, the D2D link, D12x", False, id="not-a-decision"),
    ],
)
def test_what_counts_as_an_outside_citation(line: str, bad: bool) -> None:
    assert bool(OUTSIDE.search(CITED.sub("", line))) is bad
