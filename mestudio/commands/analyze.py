"""`mestudio analyze INPUT`: the streaming analyzer over a session folder, a video file or an
image-sequence folder, as fast as it can; events, and per-frame AUs in OpenFace 2's columns."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from mestudio.commands import fail

NAME = "analyze"
HELP = (
    "run the streaming analyzer over a session folder, a video file or an image folder as fast as it can "
    "(a session gives the same events as its live run)"
)


def add_arguments(p) -> None:
    p.add_argument(
        "session",
        metavar="INPUT",
        type=Path,
        help="a session folder, a video file (anything FFmpeg reads) or a folder of images in name order "
        "(CASME II, SAMM, CAS(ME)^2 layouts)",
    )
    p.add_argument("--json", action="store_true", help="print the report (events included) as JSON")
    p.add_argument("--fps", type=float, help="frame rate of an image folder of no known layout (or override a video's)")
    p.add_argument("--au-csv", type=Path, metavar="FILE", help="write per-frame AUs (OpenFace 2's columns) to FILE")
    p.add_argument("--events-csv", type=Path, metavar="FILE", help="write one row per event to FILE")
    p.add_argument(
        "--speech",
        choices=("off", "mark", "suppress"),
        help="mouth-only movements while the participant talks (voice on the session's microphone or the "
        "video's audio track): suppress (default), mark, or off",
    )
    p.add_argument(
        "--frontalize",
        action="store_true",
        help="measure the AUs with the head's 3D rotation taken out ([analyzer] frontalize: for a head "
        "that turns and nods a lot; off by default, see docs/analyzer.md)",
    )
    p.add_argument(
        "--fusion",
        choices=("off", "au"),
        help="spotting fusion ([analyzer] fusion): au also reports a flow candidate under the flow's "
        "own threshold when the AUs of the face region it moved in rise and fall with it; off (default): "
        "the flow alone, the MEGC baseline",
    )
    p.add_argument("--verbose", action="store_true", help="keep the face model's start-up lines on stderr")
    p.add_argument(
        "--from-start",
        action="store_true",
        help="analyse from the first recorded frame (default: from the frame the live analyzer "
        "started at, when the session has live results, so the two runs compare)",
    )
    p.add_argument("--method", choices=("mdmd", "lbp"), help="spotting method (default: the session's [analyzer])")
    p.add_argument("--stream", help='stream to analyse (default: the session\'s [analyzer] stream, or "face")')
    p.add_argument("--quiet", action="store_true", help="no progress line")


def run(args) -> int:
    # heavy imports here: `mestudio --help` imports every command module
    from mestudio.analysis.analyzer.errors import AnalyzerError
    from mestudio.analysis.analyzer.quiet import quiet_native_logs
    from mestudio.analysis.analyzer.sources import is_session
    from mestudio.config.errors import ConfigError
    from mestudio.stream.errors import SessionError

    if args.fps is not None and args.fps <= 0:
        return fail(NAME, f"--fps {args.fps:g}: must be above 0", 2)
    progress = None if (args.quiet or args.json or not sys.stderr.isatty()) else _progress
    try:
        with quiet_native_logs(not args.verbose):
            if is_session(args.session):
                report = _session(args, progress)
            else:
                report = _file(args, progress)
        if args.au_csv:
            from mestudio.analysis.analyzer.offline import write_au_csv

            write_au_csv(report["au_frames"], args.au_csv)
        if args.events_csv:
            from mestudio.analysis.analyzer.offline import write_events_csv

            write_events_csv(report["events"], args.events_csv)
    except (SessionError, AnalyzerError, ConfigError) as e:
        return fail(NAME, str(e), 2)
    except ImportError as e:
        return fail(NAME, f"{e} (install the analysis extras: pip install 'mestudio[analysis]')", 2)
    except OSError as e:
        return fail(NAME, f"{e.filename or ''}: {e.strerror or e}", 2)
    if progress:
        print(file=sys.stderr)
    report.pop("messages")
    au_frames = report.pop("au_frames")
    report["au_frames"] = len(au_frames)
    print(json.dumps(report, indent=2) if args.json else _text(report))
    return 0


def _session(args, progress) -> dict:
    from mestudio.analysis.analyzer.offline import analyze_session, compare_live, session_settings
    from mestudio.analysis.evaluation.compare import compare_events, recorded_results
    from mestudio.analysis.evaluation.groundtruth import SCRIPT_PATH
    from mestudio.stream.session_reader import SessionReader

    reader = SessionReader(args.session)
    settings = session_settings(reader)
    changes = {
        k: v
        for k, v in (
            ("method", args.method),
            ("stream", args.stream),
            ("fps", args.fps),
            ("speech", args.speech),
            ("frontalize", args.frontalize),
            ("fusion", args.fusion),
        )
        if v
    }
    if changes:
        settings = settings.model_copy(update=changes)
    live = recorded_results(args.session)
    start = next((b.get("first_seq") for b in live if b.get("type") == "start"), None)
    report = analyze_session(args.session, settings, progress=progress, start_seq=None if args.from_start else start)
    if live and not args.from_start and not changes:
        report["live"] = compare_live(report["events"], live)
    if (Path(args.session) / SCRIPT_PATH).is_file():
        report["script"] = compare_events(report["events"], (report["first_t"], report["last_t"]), args.session)
    return report


def _file(args, progress) -> dict:
    from mestudio.analysis.analyzer.offline import analyze_input
    from mestudio.analysis.analyzer.sources import open_input
    from mestudio.analysis.settings import AnalyzerSettings

    chosen = (
        ("method", args.method),
        ("speech", args.speech),
        ("frontalize", args.frontalize),
        ("fusion", args.fusion),
    )
    settings = AnalyzerSettings(**{k: v for k, v in chosen if v})
    with open_input(args.session, args.fps) as source:
        return analyze_input(source, settings, progress=progress)


def _progress(i: int, n: int) -> None:
    print(f"\ranalyze: frame {i}/{n}", end="", file=sys.stderr, flush=True)


def _text(r: dict) -> str:
    lines = [
        f"analyze {r['input']}: {_what(r)}, {r['frames']} frames at {r['fps']:g} fps, "
        f"face in {r['frames_with_face']}, {r['method']} spotting",
        f"  {r['wall_s']:.1f} s of analysis: {r['speed_x_realtime']}x real time; "
        f"latency {r['latency_s']:.2f} s; recording gaps {r['recording_gaps']}",
    ]
    lines += [f"  note: {n}" for n in r["notes"]]
    sp = r.get("speech") or {}
    if sp.get("source"):
        lines.append(
            f"  speech ({sp['source']}): {sp['seconds']:.1f} s in {sp['segments']} segments; "
            f"mouth-only movements during speech: {sp['suppressed']} suppressed, {sp['marked']} marked ({sp['mode']})"
        )
    for e in r["events"]:
        aus = "+".join(f"AU{a}" for a in e["aus"]) or "-"
        lines.append(
            f"  {e['kind']:5s} {e['onset_s'] - r['first_t']:8.2f}-{e['offset_s'] - r['first_t']:7.2f} s "
            f"(frames {e['onset_frame']}-{e['offset_frame']})  {aus:18s} {e['emotion']}"
            + ("  (static: over 4 s, excluded)" if e["kind"] == "static" else "")
            + (f"  (fusion: flow under its bar, AU{e['fusion']['au']} agreed)" if e.get("fusion") else "")
        )
    if not r["events"]:
        lines.append("  no movement spotted")
    fu = r.get("fusion") or {}
    if fu.get("weak_candidates"):
        lines.append(
            f"  spotting fusion: {fu['confirmed']} of {fu['weak_candidates']} flow candidates under the flow's "
            "own threshold confirmed by the AUs"
        )
    if "live" in r:
        c = r["live"]
        same = "identical to" if c["identical"] else "different from"
        lines.append(
            f"  offline events {same} the live run's ({c['offline_events']} vs {c['live_events']}; "
            f"live gaps {c['live_gaps']}, {c['live_frames_missed']} frames missed live)"
        )
    if "script" in r:
        lines.append("  " + r["script"]["summary"].replace("\n", "\n  "))
    return "\n".join(lines)


def _what(r: dict) -> str:
    if r["input_kind"] == "session":
        return f"stream {r['stream']!r}"
    return r["input_kind"] + (f" ({r['layout']} layout)" if r.get("layout") else "")
