"""Xbox 360 Kinect (the study's model) via libfreenect: a face-rig dump replayed by Debian's fakenect.

fakenect keeps its replay position in global state and plays a dump once per process, so each
replay runs in a fresh interpreter."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from mestudio.capture.errors import DeviceNotFoundError
from mestudio.capture.registry import create_device
from mestudio.config import schema as S

ROOT = Path(__file__).resolve().parent.parent
FAKENECT = Path("/usr/lib/x86_64-linux-gnu/fakenect/libfreenect.so")
pytestmark = pytest.mark.skipif(not FAKENECT.exists(), reason="needs libfreenect-dev (fakenect)")


@pytest.fixture(scope="module")
def face_dump(tmp_path_factory) -> Path:
    from mestudio.capture.fakenect_dump import write_face_dump

    return write_face_dump(tmp_path_factory.mktemp("fakenect") / "dump", 20)


def _run(code: str) -> str:
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert r.returncode == 0, r.stdout[-1500:] + r.stderr[-1500:]
    return r.stdout


def test_fakenect_replay_conforms(face_dump):
    out = _run(f"""
from mestudio.capture.conformance import check_lifecycle
from mestudio.capture.registry import create_device
from mestudio.config import schema as S
spec = S.FreenectKinect(name="k360", kind="freenect", dump={str(face_dump)!r})
check_lifecycle(lambda: create_device(spec), n_frames=3)
print("CONFORMS")
""")
    assert "CONFORMS" in out


def test_fakenect_replay_returns_the_dump(face_dump):
    out = _run(f"""
import time, numpy as np
from mestudio.capture.face.render import FaceView, source_rgb
from mestudio.capture.face.script import default_script
from mestudio.capture.registry import create_device
from mestudio.config import schema as S
dev = create_device(S.FreenectKinect(name="k360", kind="freenect", dump={str(face_dump)!r}))
frames, t0 = [], time.monotonic()
with dev:
    while not dev.finished and time.monotonic() - t0 < 10:
        frames += dev.read(0.3)
    assert dev.dropped == 0
color = [f for f in frames if f.stream_id == "k360-color"]
depth = [f for f in frames if f.stream_id == "k360-depth"]
assert [f.seq for f in color] == list(range(20)) == [f.seq for f in depth], ([f.seq for f in color], len(depth))
script, view = default_script(20 / 30 + 1.0, seed=0), FaceView(640, 480, 0.0, seed=9)
for k in (0, 9, 19):
    smap = view.sampling_map(script, k / 30)
    assert np.array_equal(color[k].data, view.render(script, k / 30, k, source_rgb(), smap))
    want = view.render_depth(smap, k).astype(int)
    err = np.abs(depth[k].data.astype(int) - want)
    rel = err / np.maximum(want, 1)  # 11-bit disparity: steps of ~1 mm at 0.8 m, ~5 mm at 1.8 m
    assert np.percentile(rel, 99) < 0.004 and err.max() < 12, (np.percentile(rel, 99), err.max())
    dt = (depth[k].device_time_ns - depth[0].device_time_ns) / 1e9
    assert abs(dt - k / 30) < 1e-6, dt
span = (color[-1].host_time_ns - color[0].host_time_ns) / 1e9
assert 0.4 < span < 1.5, span  # replayed at the recorded pace (19 frame periods = 0.63 s)
print("EXACT")
""")
    assert "EXACT" in out


def test_missing_kinect_and_missing_dump_are_lookup_errors(tmp_path):
    with pytest.raises(DeviceNotFoundError, match="no INDEX.txt"):
        create_device(S.FreenectKinect(name="k", kind="freenect", dump=str(tmp_path))).open()
    (tmp_path / "INDEX.txt").write_text("d-1.0-5.pgm\n")
    with pytest.raises(DeviceNotFoundError, match="d-1.0-5.pgm, which is missing"):
        create_device(S.FreenectKinect(name="k", kind="freenect", dump=str(tmp_path))).open()
    out = _run("""
from mestudio.capture.errors import DeviceNotFoundError
from mestudio.capture.registry import create_device
from mestudio.config import schema as S
try:
    create_device(S.FreenectKinect(name="k", kind="freenect")).open()
except DeviceNotFoundError as e:
    print("LOOKUP", isinstance(e, LookupError), e)
""")
    assert "LOOKUP True k: no Kinect 360 at index 0" in out
