from __future__ import annotations

import json
from pathlib import Path

from mestudio.commands import fail
from mestudio.stream.errors import SessionError

NAME = "export"
HELP = "turn a session into what other tools read: lossless video (FFV1/MKV), WAV, ME-dataset clips + label book"

WHAT = ("video", "audio", "clips", "xdf", "elan")
DEFAULT = ("video", "audio", "clips")  # xdf and elan when asked for (docs/interop.md)


def add_arguments(p) -> None:
    p.add_argument("session", help="session folder")
    p.add_argument("--out", type=Path, help="folder to write (default: <session>/export)")
    p.add_argument(
        "--what", default=",".join(DEFAULT), help=f"comma-separated: {', '.join(WHAT)} (default: {','.join(DEFAULT)})"
    )
    p.add_argument("--stream", action="append", metavar="ID", help="only this stream (repeatable)")
    p.add_argument(
        "--clips-stream", default="face", metavar="ID", help="the stream the spotted clips are cut from (default: face)"
    )
    p.add_argument(
        "--clips-from",
        choices=("auto", "consensus", "spotted"),
        default="auto",
        help="the clips: the annotators' consensus (`mestudio labels merge`) or the analyzer's spotted "
        "events (default auto: the consensus when the session has one)",
    )
    p.add_argument("--json", action="store_true", help="print what was written as JSON")


def run(args) -> int:
    from mestudio.stream.export import ExportError, export_audio, export_video, media_kind
    from mestudio.stream.session_reader import SessionReader

    what = [w.strip() for w in args.what.split(",") if w.strip()]
    bad = [w for w in what if w not in WHAT]
    if bad:
        return fail(NAME, f"--what {','.join(bad)}: unknown; choose from {', '.join(WHAT)}", 2)
    try:
        reader = SessionReader(args.session)
    except SessionError as e:
        return fail(NAME, str(e), 2)
    consent = reader.manifest.get("consent", "research")
    if consent == "none":
        return fail(
            NAME,
            f"{args.session}: consent level 'none' (manifest): this participant's data may not "
            "leave the session folder; nothing was exported",
            3,
        )
    out = args.out or reader.root / "export"
    out.mkdir(parents=True, exist_ok=True)
    written: dict[str, list[str]] = {w: [] for w in what}
    try:
        for sid in reader.stream_ids():
            if args.stream and sid not in args.stream:
                continue
            kind = media_kind(reader.stream(sid).info)
            damaged: list[str] = []
            if kind == "video" and "video" in what:
                written["video"].append(str(export_video(reader, sid, out / f"{sid}.mkv", damaged)))
            elif kind == "audio" and "audio" in what:
                written["audio"].append(str(export_audio(reader, sid, out / f"{sid}.wav", damaged)))
            if damaged:  # the rest of the stream is written; these are named (verify lists them all)
                written.setdefault("damaged", []).append(
                    f"{sid}: {len(damaged)} frames damaged on disk left out (first: {damaged[0]})"
                )
        if "clips" in what:
            from mestudio.analysis.datasets.errors import MethodsError
            from mestudio.analysis.datasets.export import export_spotted_clips

            try:
                intervals = _consensus(reader.root, args.clips_stream) if args.clips_from != "spotted" else None
                if intervals is None and args.clips_from == "consensus":
                    return fail(
                        NAME, f"{args.session}: no consensus of {args.clips_stream!r}; run `mestudio labels merge`", 2
                    )
                book, n = export_spotted_clips(reader.root, out / "clips", args.clips_stream, intervals=intervals)
                written["clips"] = [str(book), f"{n} clips" + (" (the annotators' consensus)" if intervals else "")]
            except (MethodsError, SessionError, ValueError) as e:
                written["clips"] = [f"skipped: {e}"]
        if "xdf" in what or "elan" in what:
            from mestudio.interop.export import export_interop

            written.update(export_interop(reader, out, what, args.clips_stream, args.stream))
    except ExportError as e:
        return fail(NAME, str(e), 1)
    except OSError as e:
        return fail(NAME, f"cannot write to {out}: {e.strerror or e}", 1)
    if args.json:
        print(json.dumps({"out": str(out), "consent": consent, "written": written}, indent=2))
    else:
        print(f"exported {args.session} (consent: {consent}) to {out}")
        for w, items in written.items():
            for item in items:
                print(f"  {w}: {item}")
    return 0


def _consensus(session, stream: str) -> list[dict] | None:
    """The annotators' consensus of ``stream`` as clip intervals, when `mestudio labels merge` saved one."""
    from mestudio.annotate.book import saved_intervals

    return saved_intervals(session, stream)
