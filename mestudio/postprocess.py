"""What runs on a session folder once its recording has ended: the stages' offline steps.

Each step is optional (its stage enabled in the config) and independent: one that fails says why
and the others still run; the recording itself is never touched.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from mestudio.config.schema import SessionConfig


@dataclass
class StepResult:
    name: str
    ok: bool
    summary: str
    details: dict = field(default_factory=dict)


def sync_step(session: Path) -> StepResult:
    from mestudio.sync.offline import build_report

    rep = build_report(session)
    fs = rep["framesets"]
    ch = rep.get("chirps") or {}
    jitter = max((s.get("jitter_ms") or 0 for s in rep["streams"].values()), default=0)
    text = (
        f"{fs['sets']} frame sets on {fs['reference']} ({fs['complete']} complete across "
        f"{len(fs['missing'])} streams); chirps found {len(ch.get('detected', []))} of "
        f"{ch.get('requested', 0)} requested; largest arrival jitter removed {jitter} ms "
        f"-> {session / 'sync' / 'report.json'}"
    )
    return StepResult("sync", True, text, rep)


def analyzer_step(session: Path) -> StepResult:
    """How the spotted events compare with the synthetic face rig's script (when it has one)."""
    if not (session / "ground_truth").is_dir():
        return StepResult(
            "analyzer",
            True,
            "no ground truth in this session (not the synthetic face rig): "
            f"`mestudio analyze {session}` lists the events",
        )
    from mestudio.analysis.evaluation.compare import compare_with_script

    res = compare_with_script(session)
    return StepResult("analyzer", True, res["summary"], res)


STEPS = {"sync": sync_step, "analyzer": analyzer_step}


def run_steps(cfg: SessionConfig, session: Path) -> list[StepResult]:
    out = []
    for name, step in STEPS.items():
        section = getattr(cfg, name, {}) or {}
        if not section.get("enabled", False):
            continue
        try:
            out.append(step(session))
        except Exception as e:  # one failing step must not hide the others
            out.append(StepResult(name, False, f"{type(e).__name__}: {e}"))
    return out
