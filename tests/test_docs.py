"""The documentation is whole: every page is indexed, every link resolves, nothing cites a document
that is not in the repository."""

from __future__ import annotations

import re
import subprocess

from mestudio.commands.bench import available
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


OPTION = re.compile(r"(?<![\w-])(--[a-z][a-z0-9-]*)")
COMMAND_SPAN = re.compile(r"`(mestudio [a-z][a-z-]*[^`]*)`")


def _parser_options() -> dict[str, set[str]]:
    """Each command's long options, from the parser the command line itself builds."""
    import argparse

    from mestudio.cli import build_parser

    def options(p: argparse.ArgumentParser) -> set[str]:  # a command's own and its subcommands' (labels merge)
        found = {o for a in p._actions for o in a.option_strings if o.startswith("--")} - {"--help"}
        for a in p._actions:
            if isinstance(a, argparse._SubParsersAction):
                found |= set().union(*(options(c) for c in a.choices.values()))
        return found

    parser = build_parser()[0]
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return {name: options(p) for name, p in sub.choices.items()}


def _command_of(span: str) -> str:
    return span.split()[1]


def _section(text: str, heading: str) -> str:
    start = text.index(heading)
    end = text.find("\n## ", start + len(heading))
    return text[start : end if end > 0 else None]


def test_the_readme_table_names_every_command_and_option():
    """Every command has a row of the README's table naming each of its options (train's and
    evaluate's shared data and training options: the table of docs/methods.md)."""
    parser = _parser_options()
    table = _section((ROOT / "README.md").read_text(encoding="utf-8"), "## Commands")
    shared = set(OPTION.findall(_section((ROOT / "docs" / "methods.md").read_text(encoding="utf-8"), "## Options of")))
    named: dict[str, set[str]] = {}
    for row in (line for line in table.splitlines() if line.startswith("| `mestudio ")):
        first = row.split("` | ")[0]
        for span in COMMAND_SPAN.findall(first + "`"):
            named.setdefault(_command_of(span), set()).update(OPTION.findall(span))
    assert sorted(named) == sorted(parser), "README's command table and the parser differ"
    missing = {
        cmd: sorted(left)
        for cmd, opts in parser.items()
        if (left := opts - named[cmd] - (shared if cmd in ("train", "evaluate") else set()))
    }
    assert not missing, f"options the README's table does not name: {missing}"
    benches = re.search(r"benchmarks with a baseline measured in the same run: ([a-z_, ]+)", table)
    assert benches and sorted(benches.group(1).strip().split(", ")) == available(), "README's list of benchmarks"


def test_the_docs_name_only_options_that_exist():
    """Every `mestudio COMMAND ...` the docs show, inline or in a code block, uses its real options."""
    parser = _parser_options()
    wrong = []
    for page in [ROOT / "README.md", ROOT / "CONTRIBUTING.md", *(ROOT / "docs").glob("*.md")]:
        text = page.read_text(encoding="utf-8")
        blocks = "\n".join(re.findall(r"^```[^\n]*\n(.*?)^```", text, re.M | re.S)).replace("\\\n", " ")
        shown = COMMAND_SPAN.findall(text) + re.findall(r"^\s*(mestudio [a-z][^\n#]*)", blocks, re.M)
        for span in shown:
            cmd = _command_of(span)
            if cmd not in parser:
                wrong.append(f"{page.name}: no command {cmd!r} in `{span}`")
                continue
            wrong += [f"{page.name}: `mestudio {cmd}` has no {o}" for o in OPTION.findall(span) if o not in parser[cmd]]
            bench = span.split()[2:3] if cmd == "bench" else []
            if bench and bench[0].isidentifier() and bench[0].islower() and bench[0] not in [*available(), "all"]:
                wrong.append(f"{page.name}: no benchmark {bench[0]!r}")
    assert not wrong, "\n".join(wrong)
