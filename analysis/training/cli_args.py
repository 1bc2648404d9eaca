"""Arguments that `mestudio train` and `mestudio evaluate` share (data source, training settings)."""

from __future__ import annotations

import argparse

from mestudio.analysis.training.config import INPUTS, TrainConfig
from mestudio.analysis.training.sources import DATASETS, Source


def add_source_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("data")
    g.add_argument(
        "--dataset",
        choices=DATASETS,
        default="synthetic",
        help="where the clips come from (default: the generated synthetic set)",
    )
    g.add_argument("--labels", help="the dataset's label book (.xlsx/.csv)")
    g.add_argument("--clips", help="folder holding the subjects' clip folders (image sequences)")
    g.add_argument("--session", help="a mestudio session folder (--dataset session)")
    g.add_argument("--stream", help="the session's video stream id (--dataset session)")
    g.add_argument(
        "--skip-missing", action="store_true", help="leave out labelled clips whose folder is missing (they are listed)"
    )
    g.add_argument("--synthetic-subjects", type=int, default=10, help="synthetic set: subjects (default 10)")
    g.add_argument("--synthetic-clips", type=int, default=8, help="synthetic set: clips per subject (default 8)")
    g.add_argument(
        "--task",
        choices=("emotion", "au"),
        default="emotion",
        help="emotion recognition (Table 6) or AU detection (Table 5)",
    )


def add_training_arguments(p: argparse.ArgumentParser) -> None:
    d = TrainConfig()
    g = p.add_argument_group("training (defaults: the study's)")
    g.add_argument("--epochs", type=int, default=d.epochs, help=f"epochs (default {d.epochs})")
    g.add_argument("--lr", type=float, default=d.lr, help=f"initial learning rate (default {d.lr})")
    g.add_argument("--lr-step", type=int, help="epochs between lr/10 (default: half of --epochs)")
    g.add_argument("--batch-size", type=int, default=d.batch_size, help=f"batch size (default {d.batch_size})")
    g.add_argument("--size", type=int, help="input crop side in pixels (default: the model's)")
    g.add_argument(
        "--frames", type=int, default=d.frames, help=f"TIM length; synthetic4d: frames per clip (default {d.frames})"
    )
    g.add_argument("--seed", type=int, default=d.seed, help="random seed (folds, crops, weights)")
    g.add_argument("--threads", type=int, help="torch CPU threads")
    g.add_argument(
        "--input",
        choices=INPUTS,
        default="frames",
        help="network input: frames (the study) or onset_diff (frames minus the onset frame)",
    )
    g.add_argument("--balance", action="store_true", help="weigh each class's positives by its negatives/positives")
    g.add_argument("--device", default="cpu", help="torch device for training (cpu, cuda)")
    g.add_argument(
        "--magnify",
        type=float,
        default=0.0,
        metavar="ALPHA",
        help="Eulerian motion magnification factor before TIM (default 0: off); 4D views models: "
        "a magnified copy of every training clip is added (the study's EVM duplicate)",
    )
    g.add_argument(
        "--fps",
        type=float,
        default=200.0,
        help="the clips' frame rate, for --magnify (default 200; use 60 for the 4D rig's clips)",
    )
    g.add_argument("--no-progress", action="store_true", help="no progress bars")


def source_from_args(a: argparse.Namespace) -> Source:
    fourd = {}
    if a.dataset in ("synthetic4d", "4dme4d"):
        # views rendered at the side the crops come from (side * 150/112), as the 2D clips are resized
        fourd = {"size": max(16, round(a.size * 150 / 112)) if a.size else 64, "frames": a.frames}
    return Source(
        a.dataset,
        a.labels,
        a.clips,
        a.session,
        a.stream,
        subjects=a.synthetic_subjects,
        per_subject=a.synthetic_clips,
        seed=a.seed,
        skip_missing=a.skip_missing,
        **fourd,
    )


def config_from_args(a: argparse.Namespace) -> TrainConfig:
    return TrainConfig(
        epochs=a.epochs,
        lr=a.lr,
        lr_step=a.lr_step,
        batch_size=a.batch_size,
        seed=a.seed,
        frames=a.frames,
        size=a.size,
        threads=a.threads,
        input=a.input,
        balance=a.balance,
        device=a.device,
        magnify=a.magnify,
        fps=a.fps,
    )
