"""4D geometry, offline: rig calibration from a ChArUco recording, and a face mesh per frame set.

Sessions in, meshes out; depends on stream/ and config/ only (sync's frame sets and the ground
truth are read from the session folder).  See docs/4d.md.
"""
