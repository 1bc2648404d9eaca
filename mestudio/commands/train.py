"""`mestudio train`: train one of the study's models and save a checkpoint holding its config and
label set (the analyzer loads it by path, or by name from analysis/weights)."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

NAME = "train"
HELP = "train one of the study's models (LBP-TOP+SVM, Res3D, Res3D+SCA, AU-graph) into a checkpoint"


def add_arguments(p) -> None:
    from mestudio.analysis.training.cli_args import add_source_arguments, add_training_arguments

    p.add_argument("--model", required=True, help="registered model name (see `mestudio evaluate --list`)")
    p.add_argument("--out", help="checkpoint file (default: runs/<model>-<task>.pt)")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    add_source_arguments(p)
    add_training_arguments(p)


def run(args) -> int:
    from mestudio.analysis.datasets.errors import MethodsError
    from mestudio.analysis.models.registry import model_config
    from mestudio.analysis.training.checkpoint import save_checkpoint
    from mestudio.analysis.training.cli_args import config_from_args, source_from_args
    from mestudio.analysis.training.crossval import task_labels
    from mestudio.analysis.training.loop import fit
    from mestudio.analysis.training.sources import load_source
    from mestudio.commands import fail

    try:
        mc = model_config(args.model)
        cfg = config_from_args(args)
        src = source_from_args(args)
        book, clips, missing = load_source(src)
        for m in missing:
            print(f"skipped: {m}", file=sys.stderr)
        labels = task_labels(book, args.task, k=1)
        if not labels.names:
            return fail(NAME, f"no {args.task} labels in this dataset; pick the other --task", 2)
        if mc.family == "au_graph" and args.task != "emotion":
            return fail(NAME, f"{args.model} learns emotions through AUs: use --task emotion", 2)
        t0 = time.monotonic()
        model, kwargs = fit(
            args.model,
            clips,
            labels.y,
            cfg,
            au_y=labels.au_y if mc.family == "au_graph" else None,
            progress=not args.no_progress,
        )
        secs = time.monotonic() - t0
        out = Path(args.out or f"runs/{args.model}-{args.task}.pt")
        save_checkpoint(
            out,
            args.model,
            model,
            kwargs,
            args.task,
            labels.names,
            cfg.to_dict(),
            au_labels=labels.au_names if mc.family == "au_graph" else None,
            provenance={
                "source": src.describe(),
                "samples": len(book),
                "subjects": len(set(book.subjects)),
                "train_seconds": round(secs, 1),
            },
        )
    except (MethodsError, ValueError, OSError) as e:
        return fail(NAME, str(e), 2)
    summary = {
        "checkpoint": str(out),
        "model": args.model,
        "task": args.task,
        "labels": labels.names,
        "samples": len(book),
        "subjects": len(set(book.subjects)),
        "epochs": cfg.epochs,
        "seconds": round(secs, 1),
    }
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(
            f"trained {args.model} on {len(book)} clips of {summary['subjects']} subjects "
            f"({args.task}: {', '.join(labels.names)}) in {secs:.1f} s -> {out}"
        )
    return 0
