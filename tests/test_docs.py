"""The documentation is whole: every page is indexed, every link resolves, nothing cites a document
that is not in the repository."""

from __future__ import annotations

import re
import subprocess

from tests.conftest import ROOT

LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")
# documents that lived beside the repository while it was written; the repository must not need them
OUTSIDE = re.compile(r"DESIGN\.md|PLATFORM_NOTES|STYLE\.md|study-4dme-paper")


def _tracked(*patterns: str) -> list:
    out = subprocess.run(["git", "ls-files", *patterns], cwd=ROOT, capture_output=True, text=True, check=True)
    return [ROOT / p for p in out.stdout.split()]


def test_every_page_is_in_the_index():
    index = (ROOT / "docs" / "index.md").read_text(encoding="utf-8")
    linked = set(LINK.findall(index))
    pages = {p.name for p in (ROOT / "docs").glob("*.md")} - {"index.md"}
    assert pages <= linked, f"docs/index.md does not list {sorted(pages - linked)}"


def test_every_relative_link_resolves():
    broken = []
    for page in [ROOT / "README.md", ROOT / "CONTRIBUTING.md", *(ROOT / "docs").glob("*.md")]:
        for target in LINK.findall(page.read_text(encoding="utf-8")):
            if "://" not in target and not (page.parent / target).exists():
                broken.append(f"{page.relative_to(ROOT)} -> {target}")
    assert not broken


def test_nothing_cites_a_document_outside_the_repository():
    cited = [
        f"{p.relative_to(ROOT)}:{n}"
        for p in _tracked("*.py", "*.md", "*.toml", "*.sh", "*.txt", "*.yaml")
        if p.name != "test_docs.py"
        for n, line in enumerate(p.read_text(encoding="utf-8", errors="replace").splitlines(), 1)
        if OUTSIDE.search(line)
    ]
    assert not cited
