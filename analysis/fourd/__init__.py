"""The study's 4D method (section 5.2): mesh sequences straightened and aligned by 3D landmarks,
cropped to the face, rendered as left / front / right profiles in three domains (DPI, E-DPI,
texture), optionally motion-magnified, rank-pooled into dynamic images for CCDN.

    meshes = read_sequence("SESSION/ground_truth")
    clip = views_of_sequence(meshes)          # FourDClip: (profiles, domains, T, H, W) uint8
    di = dynamic_images(clip.frames)          # (profiles, domains, H, W) float32
"""

from mestudio.analysis.fourd.align import align_sequence, crop_face, kabsch
from mestudio.analysis.fourd.dynamic import dynamic_images, rank_pool, rank_pool_weights
from mestudio.analysis.fourd.errors import MeshError
from mestudio.analysis.fourd.mesh import Mesh, mesh_files, read_mesh, read_sequence, write_mesh
from mestudio.analysis.fourd.raster import rasterize
from mestudio.analysis.fourd.views import DOMAINS, PROFILES, FourDClip, ViewSpec, render_views, views_of_sequence

__all__ = [
    "DOMAINS",
    "PROFILES",
    "FourDClip",
    "Mesh",
    "MeshError",
    "ViewSpec",
    "align_sequence",
    "crop_face",
    "dynamic_images",
    "kabsch",
    "mesh_files",
    "rank_pool",
    "rank_pool_weights",
    "rasterize",
    "read_mesh",
    "read_sequence",
    "render_views",
    "views_of_sequence",
    "write_mesh",
]
