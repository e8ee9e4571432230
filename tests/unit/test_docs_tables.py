"""Every Markdown table in docs/ renders: its delimiter row has as many columns as its header, and so
does every body row.  (GitHub renders a table whose header and delimiter disagree as plain text, and
drops or pads the cells of rows that disagree.)"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[2] / "docs"
DELIMITER = re.compile(r"^\s*\|?\s*:?-+:?\s*(\|\s*:?-+:?\s*)*\|?\s*$")
FENCE = re.compile(r"^\s*(`{3,}|~{3,})")


def cells(line: str) -> int:
    """Columns of a table row, GitHub's way: outer pipes optional, ``\\|`` is not a separator."""
    text = line.strip()
    if text.startswith("|"):
        text = text[1:]
    if text.endswith("|") and not text.endswith("\\|"):
        text = text[:-1]
    return len(re.split(r"(?<!\\)\|", text))


def table_problems(text: str) -> list[str]:
    """``line N: what`` for every table whose rows disagree on the number of columns."""
    lines = text.splitlines()
    problems: list[str] = []
    fence: str | None = None
    i = 0
    while i < len(lines):
        opened = FENCE.match(lines[i])
        if opened:
            mark = opened.group(1)[0]
            fence = None if fence == mark else fence or mark
            i += 1
            continue
        is_table = (
            fence is None
            and "|" in lines[i]
            and i + 1 < len(lines)
            and "-" in lines[i + 1]
            and DELIMITER.match(lines[i + 1]) is not None
        )
        if not is_table:
            i += 1
            continue
        header, delimiter = cells(lines[i]), cells(lines[i + 1])
        if header != delimiter:
            problems.append(f"line {i + 1}: header has {header} columns, delimiter row {delimiter}")
        j = i + 2
        while j < len(lines) and lines[j].strip() and "|" in lines[j]:
            if cells(lines[j]) != header:
                problems.append(f"line {j + 1}: {cells(lines[j])} columns, header {header}")
            j += 1
        i = j
    return problems


DOC_FILES = sorted(DOCS.rglob("*.md"))


def test_there_are_docs_to_check() -> None:
    assert DOCS / "performance.md" in DOC_FILES


@pytest.mark.parametrize("path", DOC_FILES, ids=lambda p: str(p.relative_to(DOCS)))
def test_markdown_tables_have_consistent_columns(path: Path) -> None:
    assert table_problems(path.read_text()) == []


def test_the_checker_finds_mismatches() -> None:
    good = "| a | b |\n| --- | --- |\n| 1 | 2 |\n"
    assert table_problems(good) == []
    assert table_problems("a | b\n--- | ---\n1 | `x \\| y`\n") == []
    assert table_problems("| a | b |\n| --- | --- | --- |\n| 1 | 2 |\n") == [
        "line 1: header has 2 columns, delimiter row 3"
    ]
    assert table_problems("| a | b |\n|---|---|\n| 1 | 2 | 3 |\n\n| c |\n") == ["line 3: 3 columns, header 2"]
    assert table_problems("```\n| a | b |\n| --- |\n```\n") == []  # code, not a table
