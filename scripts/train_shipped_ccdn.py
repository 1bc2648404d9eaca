#!/usr/bin/env python3
"""Train the CCDN checkpoint mestudio ships (analysis/weights/ccdn_tiny-emotion.pt) on the
synthetic 4D set (analysis/datasets/synthetic4d.py: analytic textured face meshes of several
identities, AU-driven, rendered as left/front/right DPI, E-DPI and texture views).

Steps: generate the clips; score on a subject-independent held-out fold (fold 0 of the study's
5-fold split); train on all clips; save in float16 with provenance and held-out scores; add the
entry to analysis/weights/index.json.

    .venv/bin/python scripts/train_shipped_ccdn.py          # a few minutes on 2 CPU cores

These weights know synthetic caricature faces. Retrain on real 4D data with `mestudio train
--model ccdn_tiny --dataset 4dme4d ...`.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from train_shipped_models import git_commit, record_in_index  # noqa: E402

from mestudio.analysis.datasets.errors import FoldError  # noqa: E402
from mestudio.analysis.datasets.synthetic4d import synthetic4d_dataset  # noqa: E402
from mestudio.analysis.protocol.folds import subject_folds  # noqa: E402
from mestudio.analysis.protocol.metrics import evaluate_binary  # noqa: E402
from mestudio.analysis.training.checkpoint import save_checkpoint  # noqa: E402
from mestudio.analysis.training.config import TrainConfig  # noqa: E402
from mestudio.analysis.training.crossval import task_labels  # noqa: E402
from mestudio.analysis.training.loop import fit, predict_proba  # noqa: E402

NAME, TASK = "ccdn_tiny", "emotion"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--subjects", type=int, default=10, help="synthetic identities")
    ap.add_argument("--clips", type=int, default=8, help="clips per identity")
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--lr", type=float, default=0.02)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--out", default=str(ROOT / "analysis" / "weights"))
    a = ap.parse_args(argv)

    t = time.monotonic()
    book, clips = synthetic4d_dataset(a.subjects, a.clips, 64, a.seed, frames=10)
    print(f"generated {len(book)} 4D clips of {a.subjects} identities in {time.monotonic() - t:.1f} s", flush=True)
    cfg = TrainConfig(
        epochs=a.epochs, lr=a.lr, seed=a.seed, batch_size=8, threads=a.threads, device=a.device, balance=True, fps=60.0
    )
    labels = task_labels(book, TASK, k=5)
    try:
        folds = subject_folds(book.subjects, labels.y, 5, seed=a.seed)
    except FoldError as e:
        print(f"train_shipped_ccdn: error: {e}", file=sys.stderr)
        return 2
    train, test = folds.split(0)
    held = sorted({str(s) for s in np.array(book.subjects)[test]})
    t = time.monotonic()
    model, _ = fit(NAME, [clips[i] for i in train], labels.y[train], cfg, progress=False)
    pred = predict_proba(NAME, model, [clips[i] for i in test], cfg) > cfg.threshold
    rep = evaluate_binary(labels.y[test], pred, labels.names, NAME)
    print(f"{NAME} held-out {held}: mean F1 {rep.mean_f1:.3f}, accuracy {100 * rep.mean_accuracy:.1f}%", flush=True)
    model, kwargs = fit(NAME, clips, labels.y, cfg, progress=False)
    secs = time.monotonic() - t
    out = Path(a.out)
    path = save_checkpoint(
        out / f"{NAME}-{TASK}.pt",
        NAME,
        model,
        kwargs,
        TASK,
        labels.names,
        cfg.to_dict(),
        metrics={"held_out": rep.to_dict(), "held_out_views": held},
        provenance={
            "trained_by": "scripts/train_shipped_ccdn.py",
            "commit": git_commit(),
            "data": f"synthetic4d: {len(book)} 4D micro-expression clips (10 frames, 64 px views) of "
            f"{a.subjects} synthetic analytic face identities, Table 4 emotions",
            "args": vars(a),
            "train_seconds": round(secs, 1),
            "limits": "synthetic caricature faces; not validated on real 4D data; retrain with `mestudio train`",
        },
        half=True,
    )
    record_in_index(out / "index.json", NAME, TASK, path, labels.names, rep)
    print(f"  -> {path} ({path.stat().st_size / 1e6:.2f} MB) in {secs:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
