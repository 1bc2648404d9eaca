"""`mestudio labels merge INPUT`: several annotators' labels -> the study's consensus, label book,
agreement report (and ELAN); `mestudio labels show INPUT`: who labelled what."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mestudio.commands import fail

NAME = "labels"
HELP = "annotators' labels: merge them the 4DME way (median frames, majority AUs, Table 4), or show them"


def add_arguments(p) -> None:
    sub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    m = sub.add_parser("merge", help="the consensus of every annotator, its label book and the agreement report")
    s = sub.add_parser("show", help="each annotator's clips and how many changes their file keeps")
    for q in (m, s):
        q.add_argument("input", help="session folder, video file or image-sequence folder")
        q.add_argument("--stream", help="the session's video stream the labels are of (default: face)")
        q.add_argument("--fps", type=float, help="frame rate of an image folder of no known dataset layout")
        q.add_argument("--json", action="store_true", help="print the result as JSON")
    m.add_argument("--annotators", help="comma-separated: merge only these (default: every labels/NAME.json)")
    m.add_argument(
        "--min-iou", type=float, default=0.3, help="overlap at which two annotators' clips are one expression (0.3)"
    )
    m.add_argument("--elan", action="store_true", help="also write the consensus as an ELAN file (sessions)")
    m.add_argument("--no-plot", action="store_true", help="skip the agreement plot (agreement.png)")


def run(args) -> int:
    from mestudio.annotate.errors import AnnotateError
    from mestudio.annotate.media import open_source
    from mestudio.interop.errors import InteropError

    cmd = f"{NAME} {args.action}"
    if args.action == "merge" and not 0.0 < args.min_iou <= 1.0:
        return fail(cmd, f"--min-iou {args.min_iou}: give a value in (0, 1]", 2)
    try:
        source = open_source(args.input, args.stream, args.fps)
    except AnnotateError as e:
        return fail(cmd, str(e), 2)
    try:
        return _merge(args, source, cmd) if args.action == "merge" else _show(args, source)
    except (AnnotateError, InteropError) as e:
        return fail(cmd, str(e), 2)
    except OSError as e:
        return fail(cmd, f"cannot write under {source.labels_dir}: {e.strerror or e}", 1)
    finally:
        source.close()


def _show(args, source) -> int:
    from mestudio.annotate.labels import read_annotators, read_labels_doc

    out: dict[str, dict[str, Any]] = {}
    for name, (_, labels) in read_annotators(source.labels_dir).items():
        doc = read_labels_doc(source.labels_dir / f"{name}.json")
        out[name] = {
            "clips": [{"clip": c.id, **c.fields()} for c in labels.clips.values()],
            "rejected_candidates": sorted(labels.rejected),
            "changes": len(doc["changes"]),
            "bad_changes": labels.bad_changes,
        }
    if args.json:
        print(json.dumps({"labels": str(source.labels_dir), "annotators": out}, indent=2))
        return 0
    if not out:
        print(f"no labels in {source.labels_dir} yet")
    for name, d in out.items():
        print(f"{name}: {len(d['clips'])} clips, {d['changes']} changes kept")
        for c in d["clips"]:
            print(f"  {c['clip']}: frames {c['onset']}-{c['apex']}-{c['offset']}  {c['aus'] or '-'}")
    return 0


def _merge(args, source, cmd: str) -> int:
    from mestudio.annotate.agreement import agreement, format_report
    from mestudio.annotate.book import export_elan, merge_labels, write_outputs
    from mestudio.annotate.media import SessionSource

    names = [a.strip() for a in (args.annotators or "").split(",") if a.strip()] or None
    consensus = merge_labels(source, args.min_iou, names)
    report = agreement(consensus, source)
    written = write_outputs(source, consensus, report, plot=not args.no_plot)
    if args.elan:
        if not isinstance(source, SessionSource):
            return fail(cmd, "--elan needs a session (the .eaf links the session's exported video)", 2)
        written["elan"] = export_elan(source, consensus)[0]
    if args.json:
        print(
            json.dumps(
                {
                    "written": written,
                    "clips": [c.to_json() for c in consensus.clips],
                    "bad_changes": consensus.bad_changes,
                    "agreement": report,
                },
                indent=2,
            )
        )
        return 0
    print(f"merged {Path(source.labels_dir)}: {len(consensus.clips)} consensus clips")
    for c in consensus.clips:
        print(
            f"  {c.name}: frames {c.onset}-{c.apex}-{c.offset} ({c.duration_s * 1e3:.0f} ms, {c.kind})  "
            f"{'+'.join(str(a) for a in c.aus) or '-'}  {c.emotion} ({c.emotion_rule})"
        )
    for line in format_report(report):
        print(line)
    for b in consensus.bad_changes:
        print(f"  skipped: {b}")
    for what, path in written.items():
        print(f"  {what}: {path}")
    return 0
