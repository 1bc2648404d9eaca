"""The Kinect path: one registered colour + depth frame fused by open3d's TSDF into a mesh.

Cheaper and coarser than stereo: the Kinect sees the face from 0.8 m with 640x480 pixels and
millimetre-level disparity noise, so the volume uses ``VOXEL_MM`` voxels.  Images are undistorted
first (nearest-neighbour for depth, which must not blend across edges).
"""

from __future__ import annotations

import cv2
import numpy as np

from mestudio.reconstruct.stereo import HEAD_RADIUS_MM, crop_depth, fuse_depths, largest_piece
from mestudio.stream.cameras import Camera

VOXEL_MM = 2.0
TRUNC_VOXELS = 5.0  # a 10 mm band: the Kinect's depth noise is ~1 mm and grows with distance


def rgbd_frame(cam: Camera, colour: np.ndarray, depth_mm: np.ndarray, centre: np.ndarray) -> dict:
    K = cam.K
    if np.any(cam.dist):
        size = (cam.width, cam.height)
        m1, m2 = cv2.initUndistortRectifyMap(cam.K, cam.dist, None, cam.K, size, cv2.CV_32FC1)
        depth_mm = cv2.remap(depth_mm, m1, m2, cv2.INTER_NEAREST)
        colour = cv2.remap(colour, m1, m2, cv2.INTER_LINEAR)
    depth = depth_mm.astype(np.float32)
    crop_depth(depth, K, cam.extrinsic(), centre, HEAD_RADIUS_MM)
    mesh = fuse_depths([(depth, colour, K, cam.extrinsic())], voxel_mm=VOXEL_MM, trunc_voxels=TRUNC_VOXELS)
    return {"mesh": largest_piece(mesh), "points": int((depth > 0).sum())}
