"""Where a session keeps its meshes, and writing its views.

    SESSION/reconstruction/<method>/NNNNNN.ply   (mestudio reconstruct)
    SESSION/ground_truth/[.../]NNNNNN.ply        (the face rig's true meshes: ground_truth/face3d/mesh/)
    SESSION/reconstruction/views/<profile>/<domain>/NNNNNN.png              the whole sequence
    SESSION/reconstruction/views/<subject>/<clip>/<profile>/<domain>/NNNNNN.png   per labelled clip
    SESSION/reconstruction/views/views.json      framing, alignment residuals, what was skipped
    SESSION/reconstruction/views/labelbook.csv   with --spotted: the session's intervals as a 4DME book

NNNNNN is the mesh's own frame number (the last integer of its file name).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np

from mestudio.analysis.fourd.errors import MeshError, MeshNotFoundError
from mestudio.analysis.fourd.mesh import MESH_SUFFIXES, frame_number, read_mesh
from mestudio.analysis.fourd.views import DOMAINS, PROFILES, ViewRenderer

VIEWS = Path("reconstruction") / "views"


def _has_meshes(folder: Path) -> bool:
    return folder.is_dir() and any(p.suffix.lower() in MESH_SUFFIXES for p in folder.iterdir())


def mesh_dirs(session: str | Path) -> list[Path]:
    """Folders of a session that hold meshes: reconstruction methods first, then ground truth."""
    root = Path(session)
    found = []
    rec = root / "reconstruction"
    if rec.is_dir():
        found += [d for d in sorted(rec.iterdir()) if d.name != "views" and _has_meshes(d)]
    gt = root / "ground_truth"
    if gt.is_dir():  # the face rig writes ground_truth/<device>/mesh/
        found += [d for d in [gt, *sorted(p for p in gt.rglob("*") if p.is_dir())] if _has_meshes(d)]
    return found


def session_mesh_dir(session: str | Path, mesh_dir: str | Path | None = None) -> Path:
    """The one mesh folder to use: ``mesh_dir`` (relative to the session or absolute), else the
    session's only reconstruction, else its ground truth."""
    root = Path(session)
    if not root.is_dir():
        raise MeshNotFoundError(f"{root}: no such session folder")
    if mesh_dir is not None:
        d = Path(mesh_dir)
        d = d if d.is_absolute() or d.is_dir() else root / d
        if not _has_meshes(d):
            raise MeshNotFoundError(f"{d}: no .ply or .obj meshes there")
        return d
    dirs = mesh_dirs(root)
    recs = [d for d in dirs if d.parent.name == "reconstruction"]
    if len(recs) > 1:
        names = ", ".join(str(d.relative_to(root)) for d in recs)
        raise MeshError(f"{root}: several reconstructions ({names}); pick one with --mesh-dir")
    if not dirs:
        raise MeshNotFoundError(
            f"{root}: no meshes in reconstruction/<method>/ or ground_truth/; "
            "run `mestudio reconstruct SESSION` first or give --mesh-dir"
        )
    if not recs and len(dirs) > 1:
        names = ", ".join(str(d.relative_to(root)) for d in dirs)
        raise MeshError(f"{root}: meshes in several folders ({names}); pick one with --mesh-dir")
    return recs[0] if recs else dirs[0]


def write_views(
    files: list[Path],
    out: Path,
    size: int = 64,
    yaw_deg: float = 45.0,
    landmarks: str = "auto",
    on_skip: Callable[[str], None] | None = None,
) -> dict:
    """Render ``files`` (one sequence, aligned to its first readable mesh) into
    ``out/<profile>/<domain>/NNNNNN.png``. A mesh that cannot be read or aligned is skipped,
    counted and named; what was written before stays. Returns the clip's report."""
    import cv2

    renderer, written, skipped = None, 0, []
    for f in files:
        try:
            mesh = read_mesh(f)
            if renderer is None:
                renderer = ViewRenderer(mesh, size, yaw_deg, landmarks)
            imgs = renderer.render(mesh)
        except MeshError as e:
            skipped.append(str(e))
            if on_skip:
                on_skip(str(e))
            continue
        n = frame_number(f)
        for p in PROFILES:
            for d in DOMAINS:
                path = out / p / d / f"{n:06d}.png"
                path.parent.mkdir(parents=True, exist_ok=True)
                if not cv2.imwrite(str(path), imgs[p][d]):
                    raise OSError(f"{path}: could not write the view; check the disk and the folder")
        written += 1
    report = renderer.report() if renderer else {}
    res = report.get("rms_residual_mm", [])
    return {
        "out": str(out),
        "frames": written,
        "skipped": skipped,
        "landmarks": report.get("landmarks"),
        "max_rms_residual_mm": round(float(np.max(res)), 4) if res else None,
        "spec": report.get("spec"),
    }


def clip_files(files: list[Path], onset: int | None, offset: int | None) -> list[Path]:
    if onset is None or offset is None:
        return files
    return [f for f in files if onset <= frame_number(f) <= offset]


def write_manifest(views_dir: Path, summary: dict) -> Path:
    views_dir.mkdir(parents=True, exist_ok=True)
    p = views_dir / "views.json"
    tmp = p.with_name(p.name + ".tmp")
    tmp.write_text(json.dumps(summary, indent=1), encoding="utf-8")
    tmp.replace(p)
    return p


def spotted_clips(session: str | Path, mesh_dir: Path) -> tuple[list[dict], list[str]]:
    """The session's spotted / annotated intervals as mesh clips, through the reconstruction's
    ``index.csv`` (``session_time_s`` of each mesh, as `mestudio reconstruct` writes it).

    Returns the clips (subject, clip, aus, emotions, kind, files) and one note per interval left
    out (no meshes in its time span, or counted in another stream's frame numbers)."""
    import csv

    from mestudio.analysis.datasets.sessions import intervals_from_events
    from mestudio.stream.session_reader import SessionReader

    index = Path(mesh_dir) / "index.csv"
    if not index.is_file():
        raise MeshNotFoundError(
            f"{index}: no index of mesh times; --spotted needs `mestudio reconstruct`'s index.csv "
            "(session_time_s per mesh); use --clips LABELBOOK for other meshes"
        )
    reader = SessionReader(session)
    raw_times: list[float] = []
    files: list[Path] = []
    with open(index, newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            try:
                t = float(row.get("session_time_s") or "nan")
            except ValueError:
                continue
            p = Path(mesh_dir) / str(row.get("file") or "")
            if t == t and p.is_file() and p.suffix.lower() in MESH_SUFFIXES:
                raw_times.append(t)
                files.append(p)
    order = np.argsort(raw_times, kind="stable")
    times = np.asarray(raw_times)[order] if raw_times else np.zeros(0)
    files = [files[i] for i in order]
    t0_s = float(reader.manifest.get("t0_host_ns", 0)) / 1e9
    subject = str(reader.manifest.get("participant", "") or Path(session).name)
    clips, notes = [], []
    for k, iv in enumerate(intervals_from_events(reader.events(), ("event", "spot", "annotation")), start=1):
        if "onset_seq" in iv:
            notes.append(f"interval {k}: given in a video stream's frame numbers, not session time; left out")
            continue
        shift = t0_s if iv.get("time_base") == "host" else 0.0  # the analyzer stamps host times
        on, off = iv["onset_s"] - shift, iv["offset_s"] - shift
        sel = [files[i] for i in np.flatnonzero((times >= on) & (times <= off))]
        if not sel:
            notes.append(f"interval {k} ({on:.3f}-{off:.3f} s): no reconstructed mesh in that time")
            continue
        aus = iv.get("aus") or ()
        clips.append(
            {
                "subject": subject,
                "clip": f"event_{k:03d}",
                "aus": aus if isinstance(aus, str) else "+".join(str(a) for a in aus),
                "emotions": "+".join(str(e) for e in (iv.get("emotions") or ())),
                "kind": str(iv.get("kind", "micro")),
                "files": sel,
            }
        )
    return clips, notes


def write_label_book(path: Path, clips: list[dict]) -> Path:
    """The clips as a 4DME label book (Onset/Offset: the meshes' frame numbers) that
    `--dataset 4dme4d --clips <views folder>` reads back."""
    import csv

    from mestudio.analysis.datasets.export import COLUMNS

    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, COLUMNS)
        w.writeheader()
        for c in clips:
            nums = [frame_number(p) for p in c["files"]]
            w.writerow(
                {
                    "Subject": c["subject"],
                    "Clip": c["clip"],
                    "Onset": min(nums),
                    "Apex": "",
                    "Offset": max(nums),
                    "AUs": c["aus"],
                    "Emotion": c["emotions"],
                    "Type": c["kind"],
                }
            )
    tmp.replace(path)
    return path
