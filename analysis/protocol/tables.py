"""Results in the layout of the study's Tables 5 (AUs) and 6 (emotions), as CSV and Markdown.

    Metrics       |            | AU1 | AU2 | ... | Average
                  | Number of samples | 46 | 54 | ... |
    F1-score      | LBP-TOP    | 0.4657 | ...
    Accuracy (%)  | LBP-TOP    | 71.53  | ...
The best value of each column per metric is bold in the Markdown.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from pathlib import Path

from mestudio.analysis.protocol.metrics import Report


def table_rows(reports: Sequence[Report]) -> list[list[str]]:
    """Header row then body rows (strings), Table 5/6 layout."""
    if not reports:
        raise ValueError("no results to tabulate; evaluate at least one method")
    names = reports[0].names
    for r in reports[1:]:
        if r.names != names:
            raise ValueError(f"{r.method}: classes {r.names} differ from {names}")
    rows = [
        ["Metrics", "", *names, "Average"],
        ["", "Number of samples", *[str(c.support) for c in reports[0].classes], ""],
    ]
    for r in reports:
        rows.append(["F1-score", r.method, *[f"{c.f1:.4f}" for c in r.classes], f"{r.mean_f1:.4f}"])
    for r in reports:
        rows.append(
            ["Accuracy (%)", r.method, *[f"{100 * c.accuracy:.2f}" for c in r.classes], f"{100 * r.mean_accuracy:.2f}"]
        )
    return rows


def to_csv(reports: Sequence[Report]) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(table_rows(reports))
    return buf.getvalue()


def to_markdown(reports: Sequence[Report], title: str = "") -> str:
    rows = table_rows(reports)
    head, body = rows[0], rows[1:]
    for metric in ("F1-score", "Accuracy (%)"):
        block = [r for r in body if r[0] == metric]
        if len(block) < 2:
            continue
        for j in range(2, len(head)):
            best = max(float(r[j]) for r in block)
            for r in block:
                if float(r[j]) == best:
                    r[j] = f"**{r[j]}**"
    lines = [f"**{title}**", ""] if title else []
    lines.append("| " + " | ".join(head) + " |")
    lines.append("|" + "---|" * len(head))
    last = None
    for r in body:
        shown = r[0] if r[0] != last else ""
        last = r[0]
        lines.append("| " + " | ".join([shown, *r[1:]]) + " |")
    return "\n".join(lines) + "\n"


def write_tables(reports: Sequence[Report], out_dir: str | Path, stem: str, title: str = "") -> list[Path]:
    """``<stem>.csv`` and ``<stem>.md`` in ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / f"{stem}.csv", out / f"{stem}.md"]
    paths[0].write_text(to_csv(reports), encoding="utf-8")
    paths[1].write_text(to_markdown(reports, title), encoding="utf-8")
    return paths
