"""4D clips in the 4DME release layout: one folder of meshes per labelled clip, beside the label
book, read as the study's views (3 profiles, 3 domains, T, S, S) uint8.

    <root>/<subject>/<clip>/<anything><frame number>.(ply|obj)     meshes (any topology)
    <root>/<subject>/<clip>/<profile>/<domain>/NNNNNN.png          views already rendered
                                                                   (`mestudio views --clips`)

Folders are found as the 2D clips are (analysis.datasets.clips.clip_folder: the same subject
spellings), and a sample's onset..offset picks its frames by the number in the file names.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mestudio.analysis.datasets.clips import IMAGE_SUFFIXES, clip_folder
from mestudio.analysis.datasets.errors import ClipNotFoundError
from mestudio.analysis.datasets.samples import Sample


def _in_range(files: list[Path], sample: Sample) -> list[Path]:
    from mestudio.analysis.fourd.mesh import frame_number

    if sample.onset is None or sample.offset is None:
        return files
    inside = [f for f in files if sample.onset <= frame_number(f) <= sample.offset]
    return inside or files  # folders already cut to the clip hold only its frames


def _read_rendered(folder: Path, sample: Sample) -> np.ndarray:
    import cv2

    from mestudio.analysis.fourd.mesh import frame_number
    from mestudio.analysis.fourd.views import DOMAINS, PROFILES

    stacks = []
    for p in PROFILES:
        row = []
        for d in DOMAINS:
            sub = folder / p / d
            files = [f for f in sub.glob("*") if f.suffix.lower() in IMAGE_SUFFIXES]
            files = sorted(files, key=lambda f: (frame_number(f), f.name))
            files = _in_range(files, sample)
            if not files:
                raise ClipNotFoundError(f"{sample.key}: no views in {sub}; re-run `mestudio views --clips`")
            read = [cv2.imread(str(f), cv2.IMREAD_GRAYSCALE) for f in files]
            imgs = [i for i in read if i is not None]
            if len(imgs) != len(read):
                raise ClipNotFoundError(f"{sub}: an unreadable view image; re-run `mestudio views --clips`")
            row.append(np.stack(imgs))
        stacks.append(row)
    shapes = {a.shape for row in stacks for a in row}
    if len(shapes) != 1:
        raise ClipNotFoundError(f"{folder}: the profiles/domains hold different frame counts or sizes {sorted(shapes)}")
    return np.stack([np.stack(row) for row in stacks])


def read_mesh_clip(
    root: str | Path, sample: Sample, size: int = 64, yaw_deg: float = 45.0, landmarks: str = "auto"
) -> np.ndarray:
    """Frames onset..offset of ``sample`` as views (3, 3, T, size, size) uint8: rendered from its
    meshes, or read back when the folder holds rendered views."""
    from mestudio.analysis.fourd.mesh import MESH_SUFFIXES, mesh_files, read_mesh
    from mestudio.analysis.fourd.views import PROFILES, views_of_sequence

    folder = clip_folder(root, sample)
    if all((folder / p).is_dir() for p in PROFILES):
        return _read_rendered(folder, sample)
    if not any(f.suffix.lower() in MESH_SUFFIXES for f in folder.iterdir()):
        raise ClipNotFoundError(f"{folder}: no .ply/.obj meshes and no rendered views in the clip folder")
    files = _in_range(mesh_files(folder), sample)
    return views_of_sequence([read_mesh(f) for f in files], size, yaw_deg, landmarks).frames
