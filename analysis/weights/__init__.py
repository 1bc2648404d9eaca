"""The small checkpoints mestudio ships, trained by scripts/train_shipped_models.py on the
synthetic face rig (see README.md here for provenance and limits). Look them up by name:

    path = shipped_path("au_graph_tiny-emotion")
"""

from __future__ import annotations

import json
from pathlib import Path

from mestudio.analysis.datasets.errors import CheckpointError

WEIGHTS_DIR = Path(__file__).resolve().parent


def shipped() -> dict[str, dict]:
    """name -> {file, model, task, labels, held-out scores, bytes} from index.json."""
    p = WEIGHTS_DIR / "index.json"
    return json.loads(p.read_text(encoding="utf-8")) if p.is_file() else {}


def shipped_path(name_or_path: str | Path) -> Path:
    """A checkpoint file: an existing path as given, else a shipped checkpoint's name."""
    p = Path(name_or_path)
    if p.suffix == ".pt" and p.is_file():
        return p
    entry = shipped().get(str(name_or_path))
    if entry and (WEIGHTS_DIR / entry["file"]).is_file():
        return WEIGHTS_DIR / entry["file"]
    names = ", ".join(sorted(shipped())) or "none"
    raise CheckpointError(
        f"no checkpoint {str(name_or_path)!r}: give a .pt file from `mestudio train` or a shipped name ({names})"
    )
