"""Triangle meshes as binary PLY: the one format the 4D stages exchange (open3d, trimesh, MeshLab read it).

Layout written here (little endian)::

    element vertex V
      property float x, y, z            (mm)
      property uchar red, green, blue   (when colours are given)
      property uchar <name>             (one per extra per-vertex flag, e.g. face_region)
    element face F
      property list uchar int vertex_indices

Reading accepts this layout and any binary-little-endian PLY of float/double/uchar/int vertex
properties with a ``uchar int`` (or ``uchar uint``) face list, which is what open3d writes.
A malformed file raises ``PLYError`` (also a ValueError) naming the file and what is wrong.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

_TYPES = {
    "float": "<f4",
    "float32": "<f4",
    "double": "<f8",
    "float64": "<f8",
    "uchar": "u1",
    "uint8": "u1",
    "char": "i1",
    "int8": "i1",
    "ushort": "<u2",
    "uint16": "<u2",
    "short": "<i2",
    "int16": "<i2",
    "int": "<i4",
    "int32": "<i4",
    "uint": "<u4",
    "uint32": "<u4",
}


class PLYError(ValueError):
    """A PLY file this reader cannot read."""


def write_ply(
    path: str | Path,
    vertices: np.ndarray,
    faces: np.ndarray,
    colours: np.ndarray | None = None,
    extra: dict[str, np.ndarray] | None = None,
) -> Path:
    """Write atomically (temp file + rename): a reader never sees half a mesh."""
    v = np.asarray(vertices, np.float32)
    f = np.asarray(faces, np.int32)
    fields = [("x", "<f4"), ("y", "<f4"), ("z", "<f4")]
    if colours is not None:
        fields += [("red", "u1"), ("green", "u1"), ("blue", "u1")]
    extra = extra or {}
    fields += [(k, "u1") for k in extra]
    rec = np.empty(len(v), dtype=fields)
    rec["x"], rec["y"], rec["z"] = v[:, 0], v[:, 1], v[:, 2]
    if colours is not None:
        c = np.asarray(colours, np.uint8)
        rec["red"], rec["green"], rec["blue"] = c[:, 0], c[:, 1], c[:, 2]
    for k, a in extra.items():
        rec[k] = np.asarray(a, np.uint8)
    frec = np.empty(len(f), dtype=[("n", "u1"), ("i", "<i4", (3,))])
    frec["n"], frec["i"] = 3, f
    props = "".join(f"property {'float' if t == '<f4' else 'uchar'} {n}\n" for n, t in fields)
    header = (
        f"ply\nformat binary_little_endian 1.0\ncomment mestudio mesh, units mm\nelement vertex {len(v)}\n{props}"
        f"element face {len(f)}\nproperty list uchar int vertex_indices\nend_header\n"
    )
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(f"{p.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as fh:
        fh.write(header.encode("ascii"))
        fh.write(rec.tobytes())
        fh.write(frec.tobytes())
    tmp.replace(p)
    return p


def read_ply(path: str | Path) -> dict[str, np.ndarray]:
    """``{"vertices": (V,3) float32, "faces": (F,3) int32, "colours": (V,3) uint8 if present, <extra>: (V,)}``."""
    p = Path(path)
    data = p.read_bytes()
    end = data.find(b"end_header\n")
    if not data.startswith(b"ply\n") or end < 0:
        raise PLYError(f"{p}: not a PLY file (no 'ply' / 'end_header')")
    lines = data[:end].decode("ascii", "replace").splitlines()
    if "format binary_little_endian 1.0" not in lines:
        raise PLYError(f"{p}: only binary_little_endian PLY is read here")
    elements: list[tuple[str, int, list]] = []
    for ln in lines:
        parts = ln.split()
        if not parts:
            continue
        if parts[0] == "element" and len(parts) == 3:
            elements.append((parts[1], int(parts[2]), []))
        elif parts[0] == "property" and elements:
            elements[-1][2].append(parts[1:])
    offset = end + len(b"end_header\n")
    out: dict[str, np.ndarray] = {}
    for name, count, props in elements:
        if name == "vertex":
            try:
                dt = np.dtype([(pr[1], _TYPES[pr[0]]) for pr in props])
            except (KeyError, IndexError) as e:
                raise PLYError(f"{p}: vertex property type {e} is not read here") from None
            rec = np.frombuffer(data, dt, count, offset)
            offset += dt.itemsize * count
            out["vertices"] = np.stack([rec["x"], rec["y"], rec["z"]], axis=1).astype(np.float32)
            assert dt.names is not None  # a structured dtype, built from the fields above
            if {"red", "green", "blue"} <= set(dt.names):
                out["colours"] = np.stack([rec["red"], rec["green"], rec["blue"]], axis=1).astype(np.uint8)
            for n in dt.names:
                if n not in ("x", "y", "z", "red", "green", "blue"):
                    out[n] = np.asarray(rec[n])
        elif name == "face":
            if len(props) != 1 or props[0][:3] != ["list", "uchar", props[0][2]] or props[0][2] not in ("int", "uint"):
                raise PLYError(f"{p}: faces must be 'property list uchar int vertex_indices'")
            dt = np.dtype([("n", "u1"), ("i", _TYPES[props[0][2]], (3,))])
            rec = np.frombuffer(data, dt, count, offset)
            if count and not np.all(rec["n"] == 3):
                raise PLYError(f"{p}: only triangle faces are read here")
            offset += dt.itemsize * count
            out["faces"] = rec["i"].astype(np.int32)
        else:
            raise PLYError(f"{p}: element {name!r} is not read here")
    if "vertices" not in out:
        raise PLYError(f"{p}: no vertex element")
    out.setdefault("faces", np.zeros((0, 3), np.int32))
    return out
