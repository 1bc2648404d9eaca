"""Where a session keeps its meshes, and writing its views.

    SESSION/reconstruction/<method>/NNNNNN.ply   (mestudio reconstruct)
    SESSION/ground_truth/[.../]NNNNNN.ply        (the face rig's true meshes: ground_truth/face3d/mesh/)
    SESSION/reconstruction/views/<profile>/<domain>/NNNNNN.png              the whole sequence
    SESSION/reconstruction/views/<subject>/<clip>/<profile>/<domain>/NNNNNN.png   per labelled clip
    SESSION/reconstruction/views/views.json      framing, alignment residuals, what was skipped

NNNNNN is the mesh's own frame number (the last integer of its file name).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np

from mestudio.analysis.fourd.errors import MeshError, MeshNotFoundError
from mestudio.analysis.fourd.mesh import MESH_SUFFIXES, frame_number, mesh_files, read_mesh
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


__all__ = ["VIEWS", "clip_files", "mesh_dirs", "mesh_files", "session_mesh_dir", "write_manifest", "write_views"]
