"""4D preprocessing: meshes read back through open3d, the z-buffer against a surface's true depth,
Kabsch, the face crop, the three profiles in three domains, rank pooling and EVM on the views."""

from __future__ import annotations

import numpy as np
import pytest

from mestudio.analysis.fourd import (
    DOMAINS,
    PROFILES,
    Mesh,
    MeshError,
    crop_face,
    dynamic_images,
    kabsch,
    rank_pool,
    rank_pool_weights,
    read_mesh,
    read_sequence,
    render_views,
    views_of_sequence,
    write_mesh,
)
from mestudio.analysis.fourd.synthetic import FaceRig, Identity, clip_meshes
from mestudio.analysis.fourd.views import dpi_to_mm, view_spec


def dome(r: float = 60.0, h: float = 40.0, step: float = 1.5) -> tuple[Mesh, callable]:
    """A height field z = h * sqrt(1 - (x^2 + y^2) / r^2) triangulated on a grid, and z itself."""
    xs = np.arange(-r, r + 1e-9, step)
    gx, gy = np.meshgrid(xs, xs)
    inside = gx**2 + gy**2 <= r * r
    idx = -np.ones(gx.shape, int)
    idx[inside] = np.arange(inside.sum())
    a, b, c, d = idx[:-1, :-1], idx[:-1, 1:], idx[1:, :-1], idx[1:, 1:]
    tris = np.concatenate([np.stack(t, -1).reshape(-1, 3) for t in ((a, c, b), (b, c, d))])
    tris = tris[(tris >= 0).all(axis=1)]

    def surface(x, y):
        return h * np.sqrt(np.clip(1 - (x**2 + y**2) / r**2, 0, None))

    x, y = gx[inside], gy[inside]
    colors = np.column_stack([np.full(len(x), 0.5)] * 3)
    return Mesh(np.column_stack([x, y, surface(x, y)]), tris, colors, "dome.ply"), surface


def test_front_dpi_matches_the_surface_depth(tmp_path):
    mesh, surface = dome()
    path = write_mesh(tmp_path / "000001.ply", mesh)
    back = read_mesh(path)  # through open3d's PLY reader
    spec = view_spec(back, size=96, center=(0.0, 0.0, 0.0))
    front = spec.profile("front")
    dpi = render_views(back, spec)["front"]["dpi"]
    depth = dpi_to_mm(dpi, front.near_mm, front.far_mm)
    cx, cy, mmpp = front.frame
    cols, rows = np.meshgrid(np.arange(96), np.arange(96))
    x = (cols + 0.5 - 48) * mmpp + cx
    y = cy - (rows + 0.5 - 48) * mmpp
    truth = np.where(x**2 + y**2 <= 60.0**2, surface(x, y), np.nan)
    inner = x**2 + y**2 <= 55.0**2  # away from the rim, where the grid chords cut the sphere
    assert np.isfinite(depth[inner]).all()
    quant = (front.near_mm - front.far_mm) / 254
    err = np.abs(depth[inner] - truth[inner])
    assert err.max() < quant + 0.6, err.max()  # one grey level plus the chords' sag
    assert np.median(err) < quant
    outside = x**2 + y**2 > 61.5**2
    assert (dpi[outside] == 0).all()  # background


def test_kabsch_recovers_a_rigid_motion():
    rng = np.random.default_rng(3)
    pts = rng.normal(0, 40, (30, 3))
    q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    r_true = q * np.sign(np.linalg.det(q))
    t_true = np.array([5.0, -3.0, 12.0])
    r, t = kabsch(pts, pts @ r_true.T + t_true)
    assert np.allclose(r, r_true, atol=1e-9) and np.allclose(t, t_true, atol=1e-9)
    with pytest.raises(MeshError, match="3 or more"):
        kabsch(pts[:2], pts[:2])


def test_sequence_is_aligned_cropped_and_rendered_in_every_profile_and_domain(tmp_path):
    rng = np.random.default_rng(0)
    rig = FaceRig(Identity.random(rng))
    meshes, apex = clip_meshes(rig, (12,), rng, frames=6, pose_deg=4.0)
    for m in meshes:  # a far-away artefact the crop must remove
        m.vertices[0] = (0.0, 0.0, -900.0)
    folder = tmp_path / "ground_truth"
    for m in meshes:
        write_mesh(folder / m.name, m)
    clip = views_of_sequence(list(read_sequence(folder)), size=48)
    assert clip.frames.shape == (3, 3, 6, 48, 48) and clip.profiles == PROFILES and clip.domains == DOMAINS
    assert clip.report["landmarks"] == "vertices"
    # the head moved by up to 4 degrees and 4 mm; after alignment the landmarks sit within the
    # expression's own motion (< 4 mm peak AU displacement)
    assert max(clip.report["rms_residual_mm"]) < 2.0
    # every profile shows a face in every domain, and the profiles differ
    for i in range(3):
        for j in range(3):
            assert (clip.frames[i, j] > 0).mean() > 0.2
    assert not np.array_equal(clip.frames[0, 0, 0], clip.frames[2, 0, 0])
    # left and right profiles are near mirror images of each other (the rig is near symmetric)
    left, right = clip.frames[0, 0, 0] > 0, clip.frames[2, 0, 0][:, ::-1] > 0
    assert (left == right).mean() > 0.85


def test_crop_removes_far_vertices_and_their_triangles():
    mesh, _ = dome()
    top = np.array([0.0, 0.0, 40.0])
    cropped = crop_face(mesh, top, 30.0)
    assert 0 < len(cropped.vertices) < len(mesh.vertices)
    assert np.linalg.norm(cropped.vertices - top, axis=1).max() <= 30.0
    assert cropped.triangles.max() < len(cropped.vertices)
    with pytest.raises(MeshError, match="no face left"):
        crop_face(mesh, np.array([0, 0, 1000.0]), 10.0)


def test_bad_mesh_files_are_named(tmp_path):
    bad = tmp_path / "000001.ply"
    bad.write_bytes(b"ply\nformat ascii 1.0\nelement vertex 2\nend_header\n1 2\n")
    with pytest.raises(MeshError, match="000001.ply"):
        read_mesh(bad)
    with pytest.raises(ValueError):  # MeshError is also a ValueError
        read_mesh(bad)
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no .ply or .obj"):
        list(read_sequence(tmp_path / "empty"))


def test_rank_pool_weights_match_bilens_closed_form():
    for t in (2, 5, 10):
        # the dynamic-image code's form: alpha_i = sum_{k=i..T} (2k - T - 1) / k
        ref = [sum((2 * k - t - 1) / k for k in range(i, t + 1)) for i in range(1, t + 1)]
        assert np.allclose(rank_pool_weights(t), ref)
    assert abs(rank_pool_weights(10).sum()) < 1e-9


def test_dynamic_image_shows_what_changes():
    frames = np.zeros((8, 16, 16), np.uint8)
    for t in range(8):
        frames[t, :, 8:] = 20 * t  # right half brightens over time; left half static
        frames[t, :, :8] = 100
    di = rank_pool(frames)
    assert np.allclose(di[:, :8], 0, atol=1e-3)  # static content cancels
    assert (di[:, 8:] > 0).all()
    norm = dynamic_images(frames[None])
    assert norm.shape == (1, 16, 16) and np.isclose(np.abs(norm).max(), 1.0)


def test_magnified_views_move_more():
    from mestudio.analysis.fourd.dynamic import magnify_views

    rng = np.random.default_rng(1)
    rig = FaceRig(Identity.random(rng))
    clip = views_of_sequence(clip_meshes(rig, (12,), rng, frames=10, pose_deg=0.0)[0], size=48)
    tex = clip.frames[1, 2]  # front texture
    mag = magnify_views(tex[None], fps=60.0, alpha=8.0)[0]
    assert mag.shape == tex.shape and mag.dtype == np.uint8
    motion = lambda c: np.abs(c.astype(float) - c[:1].astype(float)).mean()  # noqa: E731
    assert motion(mag) > 1.3 * motion(tex)


def test_icp_aligns_an_untextured_mesh_of_another_topology():
    from mestudio.analysis.fourd.align import SequenceAligner

    rng = np.random.default_rng(0)
    rig = FaceRig(Identity.random(rng), step_mm=2.0)
    other = FaceRig(rig.ident, step_mm=2.5)  # the same face sampled on another grid
    ref = rig.mesh({})
    moved = other.mesh({}, yaw_deg=5.0, pitch_deg=-3.0, shift=(4.0, -2.0, 3.0))
    aligner = SequenceAligner(Mesh(ref.vertices, ref.triangles), "auto")
    aligned, rms = aligner.align(Mesh(moved.vertices, moved.triangles))  # no colours: no MediaPipe
    assert aligner.used == {"icp"} and rms < 2.5  # nearest vertex of a 2.5 mm grid, not the surface
    r, t = aligner._last_icp[:3, :3], aligner._last_icp[:3, 3]
    err = np.linalg.norm(moved.vertices @ r.T + t - other.mesh({}).vertices, axis=1)
    assert np.median(err) < 1.0  # mm: the 5-degree, 5-mm head motion undone


def test_same_vertex_count_is_not_taken_for_one_topology():
    from mestudio.analysis.fourd.align import SequenceAligner

    rng = np.random.default_rng(4)
    rig = FaceRig(Identity.random(rng), step_mm=2.5)
    ref = rig.mesh({})
    perm = rng.permutation(len(ref.vertices))  # the same surface, its vertices numbered otherwise
    inverse = np.argsort(perm)
    moved = rig.mesh({}, yaw_deg=4.0, shift=(3.0, 1.0, -2.0))
    shuffled = Mesh(moved.vertices[perm], inverse[moved.triangles])
    aligner = SequenceAligner(Mesh(ref.vertices, ref.triangles), "auto")
    aligner.align(shuffled)
    assert aligner.used == {"icp"}  # vertex indices would have paired unrelated points
    r, t = aligner._last_icp[:3, :3], aligner._last_icp[:3, 3]
    err = np.linalg.norm(shuffled.vertices @ r.T + t - ref.vertices[perm], axis=1)
    assert np.median(err) < 1.0
