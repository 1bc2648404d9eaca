"""Triangle meshes (PLY / OBJ) as plain arrays: vertices in mm, triangles, optional vertex colours.

open3d reads and writes the files (the tool people check them with); everything downstream sees
numpy only. A file that open3d cannot read, or that holds no triangles, is a MeshError naming it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mestudio.analysis.fourd.errors import MeshError, MeshNotFoundError

MESH_SUFFIXES = (".ply", ".obj")
_LAST_INT = re.compile(r"(\d+)(?!.*\d)")


@dataclass
class Mesh:
    vertices: np.ndarray  # (N, 3) float64, mm; the face looks along +z, y up
    triangles: np.ndarray  # (M, 3) int64
    colors: np.ndarray | None = None  # (N, 3) float32 in [0, 1], or None
    name: str = ""

    def __post_init__(self) -> None:
        self.vertices = np.asarray(self.vertices, np.float64)
        self.triangles = np.asarray(self.triangles, np.int64)
        if self.vertices.ndim != 2 or self.vertices.shape[1] != 3:
            raise MeshError(f"{self.name or 'mesh'}: vertices must be (N, 3), got {self.vertices.shape}")
        if self.triangles.ndim != 2 or self.triangles.shape[1] != 3:
            raise MeshError(f"{self.name or 'mesh'}: triangles must be (M, 3), got {self.triangles.shape}")
        if len(self.triangles) and (self.triangles.min() < 0 or self.triangles.max() >= len(self.vertices)):
            raise MeshError(f"{self.name or 'mesh'}: a triangle refers to a vertex that does not exist")
        if not np.isfinite(self.vertices).all():
            raise MeshError(f"{self.name or 'mesh'}: vertices hold NaN or infinite coordinates")
        if self.colors is not None:
            self.colors = np.asarray(self.colors, np.float32)
            if self.colors.shape != self.vertices.shape:
                self.colors = None  # open3d gives (0, 3) for an uncoloured file

    def transformed(self, rotation: np.ndarray, translation: np.ndarray) -> Mesh:
        """The mesh moved rigidly: v' = R v + t."""
        return Mesh(self.vertices @ np.asarray(rotation).T + translation, self.triangles, self.colors, self.name)

    def keep_vertices(self, keep: np.ndarray) -> Mesh:
        """Only the vertices where ``keep`` is True, and the triangles whose three corners remain."""
        keep = np.asarray(keep, bool)
        new_index = np.cumsum(keep) - 1
        tri = self.triangles[keep[self.triangles].all(axis=1)]
        colors = None if self.colors is None else self.colors[keep]
        return Mesh(self.vertices[keep], new_index[tri], colors, self.name)


def frame_number(path: Path) -> int:
    m = _LAST_INT.search(path.stem)
    return int(m.group(1)) if m else -1


def mesh_files(folder: str | Path) -> list[Path]:
    """The PLY/OBJ files of a folder in frame-number order."""
    folder = Path(folder)
    if not folder.is_dir():
        raise MeshNotFoundError(f"{folder}: no such mesh folder; give the folder holding NNNNNN.ply files")
    files = [p for p in folder.iterdir() if p.suffix.lower() in MESH_SUFFIXES and p.is_file()]
    if not files:
        raise MeshNotFoundError(f"{folder}: no .ply or .obj meshes in it")
    return sorted(files, key=lambda p: (frame_number(p), p.name))


def read_mesh(path: str | Path) -> Mesh:
    import open3d as o3d

    p = Path(path)
    if not p.is_file():
        raise MeshNotFoundError(f"{p}: no such mesh file")
    if p.suffix.lower() not in MESH_SUFFIXES:
        raise MeshError(f"{p}: not a .ply or .obj mesh")
    # open3d prints its read warnings on stdout; the MeshError below says what went wrong
    with o3d.utility.VerbosityContextManager(o3d.utility.VerbosityLevel.Error):
        # OBJ textures (map_Kd) load only through open3d's post-processing path
        obj = p.suffix.lower() == ".obj"
        m = o3d.io.read_triangle_mesh(str(p), enable_post_processing=obj, print_progress=False)
    if len(m.triangles) == 0:
        raise MeshError(f"{p}: no triangles could be read (corrupt, truncated, or a point cloud); re-export the mesh")
    colors = np.asarray(m.vertex_colors) if m.has_vertex_colors() else None
    if colors is None and m.has_triangle_uvs() and m.has_textures():
        colors = _texture_at_vertices(m)
    return Mesh(np.asarray(m.vertices), np.asarray(m.triangles), colors, p.name)


def _texture_at_vertices(m) -> np.ndarray | None:
    """Per-vertex colours of a UV-textured mesh (OBJ + image, as 4D scanners export): the texture
    sampled at every triangle corner's UV, averaged over the corners that share a vertex. Texture
    detail finer than the vertex spacing is lost."""
    tex = [np.asarray(t) for t in m.textures if not np.asarray(t).size == 0]
    if not tex:
        return None
    img = tex[0].astype(np.float32)
    img = img / 255.0 if img.max() > 1.0 else img
    if img.ndim == 2:
        img = np.repeat(img[:, :, None], 3, axis=2)
    h, w = img.shape[:2]
    uv = np.asarray(m.triangle_uvs)  # (3M, 2), corners in triangle order; v points up
    cols = np.clip(np.rint(uv[:, 0] * (w - 1)), 0, w - 1).astype(int)
    rows = np.clip(np.rint((1.0 - uv[:, 1]) * (h - 1)), 0, h - 1).astype(int)
    corner = img[rows, cols, :3]
    index = np.asarray(m.triangles).reshape(-1)
    acc = np.zeros((len(m.vertices), 3))
    count = np.zeros(len(m.vertices))
    np.add.at(acc, index, corner)
    np.add.at(count, index, 1)
    return (acc / np.maximum(count, 1)[:, None]).astype(np.float32)


def write_mesh(path: str | Path, mesh: Mesh) -> Path:
    """Write ``mesh`` (binary PLY, or OBJ by suffix); returns the path."""
    import open3d as o3d

    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    m = o3d.geometry.TriangleMesh(
        o3d.utility.Vector3dVector(mesh.vertices), o3d.utility.Vector3iVector(mesh.triangles.astype(np.int32))
    )
    if mesh.colors is not None:
        m.vertex_colors = o3d.utility.Vector3dVector(mesh.colors.astype(np.float64))
    if not o3d.io.write_triangle_mesh(str(p), m, write_ascii=False, print_progress=False):
        raise OSError(f"{p}: could not write the mesh; check the folder is writable")
    return p


def read_sequence(folder: str | Path, first: int | None = None, last: int | None = None) -> Iterator[Mesh]:
    """The meshes of a folder in frame order, frames ``first``..``last`` (inclusive) when given."""
    for p in mesh_files(folder):
        n = frame_number(p)
        if (first is not None and n < first) or (last is not None and n > last):
            continue
        yield read_mesh(p)
