"""One contract for the clip readers: 2D image sequences (CASME II / SAMM / 4DME 2D layout) and 4D
mesh sequences (4DME release layout). Each finds a sample's folder in the same layouts, honours
onset..offset by the frame numbers in file names, returns what was written, and names a missing
clip with a ClipNotFoundError (also a FileNotFoundError)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mestudio.analysis.datasets import ClipNotFoundError, Sample, read_clip, write_clip
from mestudio.analysis.datasets.mesh_clips import read_mesh_clip
from mestudio.analysis.fourd import views_of_sequence, write_mesh
from mestudio.analysis.fourd.synthetic import FaceRig, Identity, clip_meshes


class Image2D:
    name = "2d"

    def write(self, folder: Path, first: int, count: int) -> np.ndarray:
        rng = np.random.default_rng(first)
        frames = rng.integers(0, 255, (count, 12, 16)).astype(np.uint8)
        write_clip(folder, frames, first=first)
        return frames

    def read(self, root: Path, sample: Sample) -> np.ndarray:
        return read_clip(root, sample)


class Mesh4D:
    name = "4d"

    def write(self, folder: Path, first: int, count: int) -> np.ndarray:
        rng = np.random.default_rng(first)
        meshes, _ = clip_meshes(FaceRig(Identity.random(rng), step_mm=5.0), (12,), rng, frames=count)
        for i, m in enumerate(meshes):
            write_mesh(folder / f"{first + i:06d}.ply", m)
        return meshes

    def read(self, root: Path, sample: Sample) -> np.ndarray:
        return read_mesh_clip(root, sample, size=24)


def expected(reader, written, lo: int, hi: int) -> np.ndarray:
    if reader.name == "2d":
        return written[lo:hi]
    return views_of_sequence(written[lo:hi], size=24).frames  # the meshes as written, in memory


@pytest.fixture(params=[Image2D(), Mesh4D()], ids=lambda r: r.name)
def reader(request):
    return request.param


def test_reads_back_what_was_written_in_the_subject_clip_layout(reader, tmp_path):
    written = reader.write(tmp_path / "s07" / "c01", first=10, count=5)
    got = reader.read(tmp_path, Sample("x", "s07", "c01"))
    want = expected(reader, written, 0, 5)
    assert got.shape == want.shape
    assert np.abs(got.astype(int) - want.astype(int)).max() <= 1  # PLY stores float32 vertices


def test_onset_offset_select_frames_by_their_numbers(reader, tmp_path):
    written = reader.write(tmp_path / "7" / "c02", first=10, count=5)
    got = reader.read(tmp_path, Sample("x", "07", "c02", onset=11, offset=13))  # "07" finds folder "7"
    want = expected(reader, written, 1, 4)
    assert got.shape[-3] == 3 and np.abs(got.astype(int) - want.astype(int)).max() <= 1


def test_missing_clip_is_named(reader, tmp_path):
    with pytest.raises(ClipNotFoundError, match="x/s01/nope"):
        reader.read(tmp_path, Sample("x", "s01", "nope"))
    with pytest.raises(FileNotFoundError):
        reader.read(tmp_path, Sample("x", "s01", "nope"))


def test_4d_reader_reads_views_rendered_by_mestudio_views(tmp_path):
    import cv2

    from mestudio.analysis.fourd.views import DOMAINS, PROFILES

    rng = np.random.default_rng(0)
    views = rng.integers(0, 255, (3, 3, 4, 20, 20)).astype(np.uint8)
    for i, p in enumerate(PROFILES):
        for j, d in enumerate(DOMAINS):
            (tmp_path / "p1" / "c1" / p / d).mkdir(parents=True)
            for t in range(4):
                cv2.imwrite(str(tmp_path / "p1" / "c1" / p / d / f"{t + 50:06d}.png"), views[i, j, t])
    got = read_mesh_clip(tmp_path, Sample("4dme", "p1", "c1", onset=51, offset=52))
    assert np.array_equal(got, views[:, :, 1:3])


def test_uv_textured_obj_gets_its_texture_at_the_vertices(tmp_path):
    import open3d as o3d

    from mestudio.analysis.fourd import read_mesh

    m = o3d.geometry.TriangleMesh.create_box(10, 10, 1)
    tris = np.asarray(m.triangles)
    v = np.asarray(m.vertices)
    uv = np.column_stack([v[tris.reshape(-1), 0] / 10.0, v[tris.reshape(-1), 1] / 10.0])
    m.triangle_uvs = o3d.utility.Vector2dVector(uv)
    tex = np.zeros((64, 64, 3), np.uint8)
    tex[:, 32:] = 255  # u > 0.5 is white
    m.textures = [o3d.geometry.Image(tex)]
    m.triangle_material_ids = o3d.utility.IntVector([0] * len(tris))
    path = tmp_path / "box.obj"
    assert o3d.io.write_triangle_mesh(str(path), m)
    back = read_mesh(path)
    assert back.colors is not None
    x = back.vertices[:, 0]
    assert np.allclose(back.colors[x < 1], 0.0) and np.allclose(back.colors[x > 9], 1.0)
