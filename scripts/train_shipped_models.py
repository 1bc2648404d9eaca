#!/usr/bin/env python3
"""Train the small models mestudio ships (analysis/weights/) on the synthetic face rig's clips.

The rig (capture/face) renders a real photograph whose skin moves as scripted AUs rise to an
apex and fall back. Each "subject" is one camera view of it (its own yaw, head drift, lighting
and sensor noise); each clip is one scripted micro-expression (AU set and emotion from the rig's
own expression table), rendered at 100 fps from onset to offset and cropped to the face.

Steps: render the clips; score each model on a subject-independent held-out fold (one fold of
the study's 5-fold split); train it on all clips; save it in float16 with its provenance and the
held-out scores; write analysis/weights/index.json.

    .venv/bin/python scripts/train_shipped_models.py            # about 10 minutes on 2 CPU cores
    .venv/bin/python scripts/train_shipped_models.py --device cuda

These weights know one synthetic face. Retrain on real data with `mestudio train`.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mestudio.analysis.datasets.aus import AUCode  # noqa: E402
from mestudio.analysis.datasets.errors import FoldError  # noqa: E402
from mestudio.analysis.datasets.samples import LabelBook, Sample  # noqa: E402
from mestudio.analysis.emotion import emotion_from_aus  # noqa: E402
from mestudio.analysis.protocol.folds import subject_folds  # noqa: E402
from mestudio.analysis.protocol.metrics import evaluate_binary  # noqa: E402
from mestudio.analysis.training.checkpoint import save_checkpoint  # noqa: E402
from mestudio.analysis.training.config import TrainConfig  # noqa: E402
from mestudio.analysis.training.crossval import task_labels  # noqa: E402
from mestudio.analysis.training.loop import fit, predict_proba  # noqa: E402

# (model, task): the AU detector and the two emotion models the analyzer can load by name
SHIPPED = (("res3d18_sca_tiny", "au"), ("au_graph_tiny", "emotion"), ("lbptop_svm_tiny", "emotion"))
VIEW = 256  # rendered view (px); the face crop below is taken from its centre
CROP = (72, 200, 64, 192)  # rows, cols of the 128x128 face box in the view
FPS = 100.0


def render_clips(subjects: int, per_subject: int, seed: int) -> tuple[LabelBook, list[np.ndarray]]:
    from mestudio.capture.face.render import FaceView, source_gray
    from mestudio.capture.face.script import EXPRESSIONS, FaceEvent, FaceScript

    rng = np.random.default_rng(seed)
    src = source_gray()
    samples, clips = [], []
    for s in range(subjects):
        view = FaceView(VIEW, VIEW, yaw_deg=float(rng.uniform(-8, 8)), seed=seed * 1000 + s)
        view.warm(src)
        for c in range(per_subject):
            aus, emotion = EXPRESSIONS[(s + c) % len(EXPRESSIONS)]
            t0 = float(rng.uniform(0, 60))  # where in the view's slow drift and lighting cycle
            dur = float(rng.uniform(0.2, 0.45))
            apex = t0 + dur * float(rng.uniform(0.3, 0.6))
            ev = FaceEvent("micro", list(aus), t0, apex, t0 + dur, float(rng.uniform(0.5, 1.0)), emotion)
            script = FaceScript([ev], t0 + dur + 1.0)
            n = int(round(dur * FPS)) + 1
            frames = np.stack([view.render(script, t0 + i / FPS, i, src) for i in range(n)])
            r0, r1, c0, c1 = CROP
            clips.append(np.ascontiguousarray(frames[:, r0:r1, c0:c1]))
            emos = emotion_from_aus(aus).emotions  # the study's Table 4 and rules, as its labellers did
            samples.append(
                Sample(
                    "rig",
                    f"view{s:02d}",
                    f"view{s:02d}_{c:03d}",
                    0,
                    int(round((apex - t0) * FPS)),
                    n - 1,
                    tuple(AUCode(a) for a in aus),
                    emos,
                    emotion,
                )
            )
    return LabelBook(samples, f"face rig (seed {seed})"), clips


def record_in_index(index_path: Path, name: str, task: str, path: Path, labels: list[str], rep) -> None:
    """Add (or replace) a shipped checkpoint's entry in analysis/weights/index.json."""
    index = json.loads(index_path.read_text()) if index_path.is_file() else {}
    index[f"{name}-{task}"] = {
        "file": path.name,
        "model": name,
        "task": task,
        "labels": labels,
        "held_out_mean_f1": round(rep.mean_f1, 4),
        "held_out_mean_accuracy": round(rep.mean_accuracy, 4),
        "bytes": path.stat().st_size,
    }
    index_path.write_text(json.dumps(index, indent=1) + "\n")


def git_commit() -> str:
    try:
        return (
            subprocess.run(
                ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, timeout=10
            ).stdout.strip()
            or "unknown"
        )
    except OSError:
        return "unknown"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--subjects", type=int, default=10, help="rig views (subjects)")
    ap.add_argument("--clips", type=int, default=20, help="clips per view")
    ap.add_argument("--epochs", type=int, default=40, help="epochs (lr/10 at half)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", default="cpu")
    ap.add_argument(
        "--input",
        default="onset_diff",
        choices=("frames", "onset_diff"),
        help="network input (default onset_diff: frames minus the onset frame)",
    )
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--out", default=str(ROOT / "analysis" / "weights"))
    ap.add_argument("--only", help="comma-separated model names to train (default: all shipped)")
    a = ap.parse_args(argv)

    t = time.monotonic()
    book, clips = render_clips(a.subjects, a.clips, a.seed)
    print(f"rendered {len(book)} clips of {a.subjects} views in {time.monotonic() - t:.1f} s", flush=True)
    out = Path(a.out)
    index_path = out / "index.json"
    for name, task in SHIPPED:
        if a.only and name not in a.only.split(","):
            continue
        # onset-difference input and class-balanced loss: with the study's raw frames and plain
        # loss the small models predict "no AU" for everything on this data (see README.md)
        cfg = TrainConfig(
            epochs=a.epochs, seed=a.seed, batch_size=8, threads=a.threads, device=a.device, input=a.input, balance=True
        )
        labels = task_labels(book, task, k=5)
        try:
            folds = subject_folds(book.subjects, labels.y, 5, seed=a.seed)
        except FoldError as e:
            print(f"train_shipped_models: error: {name} ({task}): {e}", file=sys.stderr)
            return 2
        train, test = folds.split(0)
        au = labels.au_y if name.startswith("au_graph") else None
        t = time.monotonic()
        model, _ = fit(name, [clips[i] for i in train], labels.y[train], cfg, au_y=None if au is None else au[train])
        pred = predict_proba(name, model, [clips[i] for i in test], cfg) > cfg.threshold
        rep = evaluate_binary(labels.y[test], pred, labels.names, name)
        print(
            f"{name} ({task}) held-out views {sorted({str(s) for s in np.array(book.subjects)[test]})}: "
            f"mean F1 {rep.mean_f1:.3f}, mean accuracy {100 * rep.mean_accuracy:.1f}% "
            f"({time.monotonic() - t:.0f} s)",
            flush=True,
        )
        model, kwargs = fit(name, clips, labels.y, cfg, au_y=au)
        secs = time.monotonic() - t
        provenance = {
            "trained_by": "scripts/train_shipped_models.py",
            "commit": git_commit(),
            "data": f"synthetic face rig: {len(book)} micro-expression clips, {a.subjects} views of one "
            f"photographed face (scikit-image astronaut), {FPS:.0f} fps, 128x128 face crops",
            "args": vars(a),
            "train_seconds": round(secs, 1),
            "limits": "one synthetic face; not validated on real participants; retrain with `mestudio train`",
        }
        metrics = {"held_out": rep.to_dict(), "held_out_views": sorted({str(s) for s in np.array(book.subjects)[test]})}
        path = save_checkpoint(
            out / f"{name}-{task}.pt",
            name,
            model,
            kwargs,
            task,
            labels.names,
            cfg.to_dict(),
            au_labels=labels.au_names if au is not None else None,
            metrics=metrics,
            provenance=provenance,
            half=True,
        )
        record_in_index(index_path, name, task, path, labels.names, rep)
        print(f"  -> {path} ({path.stat().st_size / 1e6:.2f} MB)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
