"""`mestudio annotate INPUT [--annotator NAME]`: the ME annotation window (docs/annotate.md)."""

from __future__ import annotations

import getpass
import os
from pathlib import Path

from mestudio.commands import fail

NAME = "annotate"
HELP = "the ME annotation window: onset/apex/offset, AUs A-E and side, Table 4 emotion; labels/NAME.json per annotator"


def add_arguments(p) -> None:
    p.add_argument("input", help="session folder, video file or image-sequence folder")
    p.add_argument("--annotator", help="whose labels these are: labels/NAME.json (default: your login name)")
    p.add_argument("--stream", help="the session's video stream to annotate (default: face)")
    p.add_argument("--fps", type=float, help="frame rate of an image folder of no known dataset layout")
    p.add_argument("--frame", type=int, metavar="N", help="open at frame number N")
    p.add_argument(
        "--events-csv", metavar="FILE", help="candidate events of `mestudio analyze INPUT --events-csv` (video, images)"
    )
    p.add_argument("--au-csv", metavar="FILE", help="per-frame AUs of `mestudio analyze INPUT --au-csv`")
    p.add_argument(
        "--screenshot", type=Path, metavar="PNG", help="save the window as PNG and close it (a check without a user)"
    )


def run(args) -> int:
    # Qt is imported here, not at module top: `mestudio --help` imports every command module
    from mestudio.annotate.errors import AnnotateError
    from mestudio.annotate.media import open_source
    from mestudio.annotate.state import AnnotationState
    from mestudio.annotate.timeline import add_analyzer_csvs, build_timeline
    from mestudio.gui.errors import QtBindingError

    annotator = args.annotator or os.environ.get("MESTUDIO_ANNOTATOR") or getpass.getuser()
    try:
        source = open_source(args.input, args.stream, args.fps)
    except AnnotateError as e:
        return fail(NAME, str(e), 2)
    try:
        timeline = build_timeline(source)
        if args.events_csv or args.au_csv:
            add_analyzer_csvs(timeline, source, args.events_csv, args.au_csv)
        state = AnnotationState(source, annotator, timeline)
        if args.frame is not None:
            state.goto_number(args.frame)
        from mestudio.annotate.qt import application, shutdown
        from mestudio.annotate.window import AnnotateWindow

        app = application()
        window = AnnotateWindow(state)
        window.show()
        window.setFocus()
        if args.screenshot is not None:
            app.processEvents()
            path = window.save_screenshot(args.screenshot)
            print(f"screenshot: {path}")
        else:
            app.exec()
        shutdown(app, window)
        print(f"labels of {state.file.annotator}: {state.file.path} ({len(state.clips)} clips)")
        return 0
    except (AnnotateError, QtBindingError) as e:
        return fail(NAME, str(e), 2)
    except OSError as e:
        return fail(NAME, f"{e.strerror or e}", 1)
    finally:
        source.close()
