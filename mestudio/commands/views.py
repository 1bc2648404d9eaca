"""`mestudio views SESSION`: the study's 4D views of a session's meshes: each mesh aligned onto
the sequence's first by 3D landmarks, cropped to the face, rendered as left / front / right
profiles in DPI, E-DPI and texture (analysis/fourd; docs/methods.md, "4D views")."""

from __future__ import annotations

import json
import sys
import time
from typing import Any

NAME = "views"
HELP = "render a session's meshes as left/front/right DPI, E-DPI and texture views (per labelled clip with --clips)"


def add_arguments(p) -> None:
    p.add_argument("session", help="session folder")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--clips", metavar="LABELBOOK", help="4DME-style label book: one views folder per clip")
    g.add_argument(
        "--spotted",
        action="store_true",
        help="one views folder per spotted/annotated interval of the session (needs the reconstruction's index.csv)",
    )
    p.add_argument("--mesh-dir", metavar="DIR", help="mesh folder (default: the reconstruction, else ground_truth/)")
    p.add_argument("--size", type=int, default=64, help="view side in pixels (default 64)")
    p.add_argument("--yaw", type=float, default=45.0, help="left/right profile rotation in degrees (default 45)")
    p.add_argument(
        "--landmarks",
        choices=("auto", "vertices", "mediapipe", "icp"),
        default="auto",
        help="how meshes are aligned: shared vertices, MediaPipe on the texture, or ICP (default auto: per mesh)",
    )
    p.add_argument("--json", action="store_true", help="print the summary as JSON")


def run(args) -> int:
    from pathlib import Path

    from mestudio.analysis.datasets.errors import MethodsError
    from mestudio.analysis.fourd.mesh import mesh_files
    from mestudio.analysis.fourd.sessions import (
        VIEWS,
        clip_files,
        session_mesh_dir,
        spotted_clips,
        write_label_book,
        write_manifest,
        write_views,
    )
    from mestudio.commands import fail
    from mestudio.stream.errors import SessionError

    if not 8 <= args.size <= 1024:
        return fail(NAME, f"--size {args.size}: use 8 to 1024 pixels", 2)
    warn = lambda m: print(f"skipped: {m}", file=sys.stderr)  # noqa: E731
    t0 = time.monotonic()
    try:
        src = session_mesh_dir(args.session, args.mesh_dir)
        files = mesh_files(src)
        out = Path(args.session) / VIEWS
        kw = dict(size=args.size, yaw_deg=args.yaw, landmarks=args.landmarks, on_skip=warn)
        clips: list[dict[str, Any]] = []
        if args.clips:
            from mestudio.analysis.datasets.readers import read_label_book

            book = read_label_book(args.clips, "4dme")
            for s in book:
                sel = clip_files(files, s.onset, s.offset)
                if not sel:
                    warn(f"{s.key}: no meshes for frames {s.onset}..{s.offset} in {src}")
                    clips.append({"clip": s.key, "frames": 0, "skipped": ["no meshes in its frame range"]})
                    continue
                rep = write_views(sel, out / s.subject / s.clip, **kw)
                clips.append({"clip": s.key, **rep})
            frames = sum(c["frames"] for c in clips)
            skipped = sum(len(c["skipped"]) for c in clips)
        elif args.spotted:
            found, notes = spotted_clips(args.session, src)
            for n in notes:
                warn(n)
            if not found:
                return fail(NAME, f"{args.session}: no spotted or annotated interval has reconstructed meshes", 2)
            for c in found:
                rep = write_views(c["files"], out / c["subject"] / c["clip"], **kw)
                clips.append({"clip": f"{c['subject']}/{c['clip']}", **rep})
            write_label_book(out / "labelbook.csv", found)
            frames = sum(c["frames"] for c in clips)
            skipped = sum(len(c["skipped"]) for c in clips) + len(notes)
        else:
            rep = write_views(files, out, **kw)
            frames, skipped = rep["frames"], len(rep["skipped"])
            clips = [{"clip": "(whole sequence)", **rep}]
    except (MethodsError, SessionError, ValueError, OSError) as e:
        return fail(NAME, str(e), 2)
    secs = time.monotonic() - t0
    summary = {
        "session": str(args.session),
        "meshes": str(src),
        "views": str(out),
        "profiles": ["left", "front", "right"],
        "domains": ["dpi", "edpi", "texture"],
        "frames": frames,
        "skipped": skipped,
        "seconds": round(secs, 2),
        "ms_per_frame": round(1000 * secs / max(1, frames), 1),
        "clips": clips,
    }
    write_manifest(out, summary)
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(
            f"views of {frames} meshes from {src} -> {out} (3 profiles x 3 domains, {args.size} px) "
            f"in {secs:.1f} s; {skipped} skipped"
        )
    if frames == 0:
        return fail(NAME, f"no views written from {src}: every mesh was skipped (listed above)", 2)
    return 3 if skipped else 0
