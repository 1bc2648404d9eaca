"""`mestudio evaluate`: the study's protocol (subject-independent k-fold cross-validation, per-class
accuracy and F1 as its equations 1-4) for one or more models, written as Table 5/6-style CSV and
Markdown plus plots; or a trained checkpoint scored on a dataset."""

from __future__ import annotations

import json
import sys
from pathlib import Path

NAME = "evaluate"
HELP = "cross-validate the study's models subject-independently; Table 5/6 (2D) or 7/8 (4D) results and plots"
DEFAULT_MODELS = "lbptop_svm_tiny,res3d18_tiny,res3d18_sca_tiny"
DEFAULT_4D_MODELS = "ccdn_tiny"
FOURD_DATASETS = ("synthetic4d", "4dme4d")  # clips are 4D views: only views models (CCDN) take them


def add_arguments(p) -> None:
    from mestudio.analysis.training.cli_args import add_source_arguments, add_training_arguments

    p.add_argument(
        "--models",
        help=f"comma-separated model names (default {DEFAULT_MODELS}; {DEFAULT_4D_MODELS} on a 4D dataset)",
    )
    p.add_argument("--checkpoint", help="score this trained checkpoint on the data instead of cross-validating")
    p.add_argument("--folds", type=int, default=5, help="subject-independent folds (default 5)")
    p.add_argument("--out", default="runs/evaluate", help="folder for tables and plots (default runs/evaluate)")
    p.add_argument("--list", action="store_true", help="list the registered models and exit")
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    add_source_arguments(p)
    add_training_arguments(p)


def run(args) -> int:
    from mestudio.analysis.datasets.errors import MethodsError
    from mestudio.analysis.models.registry import list_models, model_config
    from mestudio.commands import fail

    if args.list:
        for name in list_models():
            mc = model_config(name)
            print(f"{name:20s} {'(small) ' if mc.small else ''}{mc.description}")
        return 0
    try:
        reports, folds = _checkpoint(args) if args.checkpoint else _crossval(args)
    except (MethodsError, ValueError, OSError) as e:
        return fail(NAME, str(e), 2)
    return _write(args, reports, folds)


def _crossval(args):
    from mestudio.analysis.models.registry import model_config
    from mestudio.analysis.protocol.folds import subject_folds
    from mestudio.analysis.training.cli_args import config_from_args, source_from_args
    from mestudio.analysis.training.crossval import cross_validate, cross_validate_views, task_labels
    from mestudio.analysis.training.sources import load_source

    fourd = args.dataset in FOURD_DATASETS
    models = args.models or (DEFAULT_4D_MODELS if fourd else DEFAULT_MODELS)
    names = [m.strip() for m in models.split(",") if m.strip()]
    for n in names:
        views = bool(model_config(n).views)  # unknown names fail before any work
        if views != fourd:
            raise ValueError(
                f"{n} takes {'4D views' if views else '2D clips'} but --dataset {args.dataset} gives "
                f"{'4D views' if fourd else '2D clips'}; "
                + ("use --dataset synthetic4d or 4dme4d" if views else f"use a views model such as {DEFAULT_4D_MODELS}")
            )
    cfg = config_from_args(args)
    book, clips, missing = load_source(source_from_args(args))
    for m in missing:
        print(f"skipped: {m}", file=sys.stderr)
    labels = task_labels(book, args.task, args.folds)
    if not labels.names:
        raise ValueError(
            f"no {args.task} class occurs in {args.folds} or more subjects; add subjects or use fewer --folds"
        )
    folds = subject_folds(book.subjects, labels.y, args.folds, seed=cfg.seed)  # one split for all models
    reports = []
    for n in names:
        print(f"evaluating {n} ({args.folds} folds) ...", file=sys.stderr)
        if fourd:  # Tables 7-8: one row per profile and the fused Multi-views
            reps = cross_validate_views(n, book, clips, args.task, cfg, args.folds, folds, not args.no_progress)
            for r in reps:
                r.method = r.method if len(names) == 1 else f"{n} {r.method}"
            reports.extend(reps)
            continue
        rep, _ = cross_validate(n, book, clips, args.task, cfg, args.folds, folds, progress=not args.no_progress)
        reports.append(rep)
    return reports, folds


def _checkpoint(args):
    import numpy as np

    from mestudio.analysis.protocol.metrics import evaluate_binary
    from mestudio.analysis.training.checkpoint import load_checkpoint
    from mestudio.analysis.training.cli_args import source_from_args
    from mestudio.analysis.training.config import TrainConfig
    from mestudio.analysis.training.crossval import task_labels
    from mestudio.analysis.training.loop import predict_proba
    from mestudio.analysis.training.sources import load_source

    model, meta = load_checkpoint(args.checkpoint)
    cfg = TrainConfig(**{k: v for k, v in meta["config"].items() if k in TrainConfig.__dataclass_fields__})
    book, clips, _ = load_source(source_from_args(args))
    labels = task_labels(book, meta["task"], k=1)
    cols = [labels.names.index(n) for n in meta["labels"] if n in labels.names]
    if not cols:
        raise ValueError(f"{args.checkpoint}: none of its labels {meta['labels']} occur in this dataset")
    proba = predict_proba(meta["model"], model, clips, cfg)
    keep = [meta["labels"].index(labels.names[c]) for c in cols]
    pred = (proba[:, keep] > cfg.threshold).astype(np.uint8)
    rep = evaluate_binary(labels.y[:, cols], pred, [labels.names[c] for c in cols], meta["model"])
    return [rep], None


def _write(args, reports, folds) -> int:
    from mestudio.analysis.protocol.plots import plot_confusion, plot_per_class
    from mestudio.analysis.protocol.tables import to_markdown, write_tables

    out = Path(args.out)
    if args.dataset in FOURD_DATASETS:
        title = "Table 7-style AU detection" if args.task == "au" else "Table 8-style ME emotion recognition"
        title += " on 4D data"
    else:
        title = "Table 5-style AU detection" if args.task == "au" else "Table 6-style ME emotion recognition"
    title += f" ({args.dataset}, {'checkpoint' if folds is None else f'{args.folds}-fold subject-independent'})"
    files = write_tables(reports, out, f"{args.task}_results", title)
    files.append(plot_per_class(reports, out / f"{args.task}_per_class.png", title))
    for r in reports:
        files.append(plot_confusion(r, out / f"{args.task}_confusion_{r.method}.png"))
    if folds is not None:
        (out / "folds.json").write_text(json.dumps({"k": folds.k, "fold_of_subject": folds.fold_of_subject}, indent=1))
        files.append(out / "folds.json")
    if args.json:
        print(
            json.dumps(
                {"task": args.task, "results": [r.to_dict() for r in reports], "files": [str(f) for f in files]},
                indent=2,
            )
        )
    else:
        print(to_markdown(reports, title))
        print("written: " + ", ".join(str(f) for f in files))
    return 0
