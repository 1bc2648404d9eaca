"""Measure MediaPipe Face Mesh's 478 3D landmarks on the face rig's photograph, once.

Writes capture/face/landmarks3d.json (x, y in source pixels, z in source pixels towards the
camera negative, as MediaPipe gives it), so that building the 3D face needs no model at run time.
Run: .venv/bin/python scripts/measure_face_landmarks3d.py
"""

from __future__ import annotations

import json
from pathlib import Path

import mediapipe as mp
from skimage import data

OUT = Path(__file__).resolve().parents[1] / "capture" / "face" / "landmarks3d.json"


def main() -> None:
    img = data.astronaut()
    h, w = img.shape[:2]
    with mp.solutions.face_mesh.FaceMesh(static_image_mode=True, refine_landmarks=True, max_num_faces=1) as fm:
        result = fm.process(img)
    if not result.multi_face_landmarks:
        raise SystemExit("no face found in the photograph")
    pts = [[round(p.x * w, 3), round(p.y * h, 3), round(p.z * w, 3)] for p in result.multi_face_landmarks[0].landmark]
    body = {
        "source": "skimage.data.astronaut() 512x512",
        "model": f"mediapipe {mp.__version__} face_mesh, refine_landmarks=True, static_image_mode=True",
        "units": "source pixels; z is MediaPipe's depth (negative = towards the camera), same scale as x",
        "landmarks": pts,
    }
    OUT.write_text(json.dumps(body) + "\n", encoding="utf-8")
    print(f"wrote {len(pts)} landmarks to {OUT}")


if __name__ == "__main__":
    main()
