from __future__ import annotations

import json
import struct
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
import zmq

from mestudio.stream import wire
from mestudio.stream.errors import WireFormatError
from tests.conftest import ROOT


@pytest.mark.parametrize(
    "arr, fmt",
    [
        (np.arange(480 * 640, dtype=np.uint8).reshape(480, 640), "mono8"),
        (np.arange(480 * 640, dtype=np.uint16).reshape(480, 640), "depth16"),
        (np.zeros((480, 640, 3), np.uint8) + 7, "rgb8"),
        (np.arange(800, dtype=np.int16).reshape(800, 1), "s16le"),
    ],
)
def test_frame_round_trip_over_a_real_socket(zctx, arr, fmt):
    a, b = zctx.socket(zmq.PAIR), zctx.socket(zmq.PAIR)
    a.linger = b.linger = 0
    a.bind("inproc://w")
    b.connect("inproc://w")
    wire.send(a, wire.frame_parts("cam", 42, arr, host_time_ns=123, device_time_ns=-5, pixel_format=fmt))
    m = wire.recv(b)
    assert m.topic == "cam" and m.header.seq == 42 and m.header.device_time_ns == -5
    assert m.header.host_time_ns == 123 and m.header.pixel_format == fmt
    np.testing.assert_array_equal(m.data, arr)
    assert m.data.dtype == arr.dtype


def test_no_device_time_is_none_not_zero():
    h = wire.Header.unpack(wire.Header("s", 1, 2).pack())
    assert h.device_time_ns is None
    h = wire.Header.unpack(wire.Header("s", 1, 2, device_time_ns=0).pack())
    assert h.device_time_ns == 0


def test_headers_packed_and_checked_once_per_layout_keep_each_frames_own_fields():
    """Both ends remember a stream's layout; every frame still gets its own seq and times, a
    header that differs anywhere else is checked afresh, and a flood of layouts stays bounded."""
    f = np.zeros((4, 6), np.uint16)
    for seq, dev in ((1, None), (2, 7), (3, None), (2**63, -(2**40))):
        h = wire.decode(wire.frame_parts("cam", seq, f, host_time_ns=seq % 997, device_time_ns=dev)).header
        assert (h.seq, h.host_time_ns, h.device_time_ns, h.shape, h.dtype) == (seq, seq % 997, dev, (4, 6), "<u2")
    good = bytearray(wire.frame_parts("cam", 5, f, host_time_ns=1)[1])
    wire.Header.unpack(bytes(good))
    bad = good.copy()
    bad[76:80] = b"../x"  # the stream id, after the same header was accepted
    with pytest.raises(WireFormatError, match="not a safe name"):
        wire.Header.unpack(bytes(bad))
    for n in range(wire._STATIC_MAX + 10):  # a client sending a new layout every message
        wire.Header.unpack(wire.Header("cam", 0, 0, shape=(n + 1,)).pack())
    assert len(wire._STATIC) <= wire._STATIC_MAX
    for n in range(wire._STATIC_MAX + 10):
        wire.frame_parts(f"s{n}", 0, f, host_time_ns=0)
    assert len(wire._FRAME_HEADERS) <= wire._STATIC_MAX
    with pytest.raises(WireFormatError, match="not a safe name"):
        wire.frame_parts("a/b", 0, f, host_time_ns=0)


def test_large_frame_is_not_copied_on_receive(zctx):
    a, b = zctx.socket(zmq.PUSH), zctx.socket(zmq.PULL)
    a.linger = b.linger = 0
    b.bind("inproc://z")
    a.connect("inproc://z")
    arr = np.ones((1200, 1600), np.uint8)
    wire.send(a, wire.frame_parts("rig-0", 1, arr, host_time_ns=1))
    m = wire.recv(b)
    assert not m.data.flags.owndata  # a view of the zmq frame's memory
    assert m.data.base is not None


@pytest.mark.parametrize(
    "mutate, words",
    [
        (lambda p: [p[0], b"XXXX" + p[1][4:], p[2]], "bad magic"),
        (lambda p: [p[0], p[1][:4] + struct.pack("<H", 99) + p[1][6:], p[2]], "version 99"),
        (lambda p: [p[0], p[1][:60], p[2]], "header is 60 bytes"),
        (lambda p: [p[0], p[1], bytes(p[2])[:-1]], "payload is"),
        (lambda p: p[:2], "2 parts"),
    ],
)
def test_malformed_messages_are_named(mutate, words):
    parts = wire.frame_parts("cam", 1, np.zeros((4, 4), np.uint8), host_time_ns=1)
    parts = [bytes(p) for p in parts]
    with pytest.raises(WireFormatError, match=words):
        wire.decode(mutate(parts))


def test_json_event_round_trip():
    parts = wire.json_parts(wire.Kind.EVENT, "elicit", 3, {"clip": "a", "x": np.float32(1.5)}, topic="markers/elicit")
    m = wire.decode(parts)
    assert m.kind == wire.Kind.EVENT and m.data == {"clip": "a", "x": 1.5} and m.topic == "markers/elicit"


def test_documented_layout_matches_the_module():
    doc = (ROOT / "docs" / "wire-format.md").read_text()
    assert wire.HEADER.format in doc
    assert f"version {wire.VERSION}" in doc


FOREIGN_CLIENT = textwrap.dedent("""
    # a client that knows only pyzmq and docs/wire-format.md
    import json, struct, sys, zmq
    HDR = struct.Struct("<4sHBBQqq8sB3x4I16s48s4x")
    bus = json.load(open(sys.argv[1]))
    ctx = zmq.Context()
    sub = ctx.socket(zmq.SUB)
    for ep in bus["pubs"].values():
        sub.connect(ep)
    sub.setsockopt(zmq.SUBSCRIBE, b"cam")
    out = []
    while len(out) < 5:
        if not sub.poll(10000):
            break
        topic, header, payload = sub.recv_multipart()
        magic, version, kind, flags, seq, dev_t, host_t, dtype, ndim, s0, s1, s2, s3, fmt, sid = HDR.unpack(header)
        assert magic == b"MEST" and version == 1 and kind == 0
        shape = (s0, s1, s2, s3)[:ndim]
        assert len(payload) == shape[0] * shape[1]
        out.append({"seq": seq, "shape": shape, "sid": sid.rstrip(b"\\0").decode(),
                    "fmt": fmt.rstrip(b"\\0").decode(), "dev": dev_t if flags & 1 else None,
                    "pixel0": payload[8], "stamp": int.from_bytes(payload[:8], "little")})
    print(json.dumps(out))
    sub.close(linger=0); ctx.term()
""")


def test_a_client_with_only_pyzmq_and_the_document_reads_frames(tmp_path, zctx):
    from mestudio.stream.bus import Endpoints, Publisher

    eps = Endpoints.plan("ipc", "", 0, ["cam"], key=str(tmp_path))
    eps.save(tmp_path)
    pub = Publisher(zctx, eps, "cam", record=False)
    script = tmp_path / "client.py"
    script.write_text(FOREIGN_CLIENT)
    proc = subprocess.Popen(
        [sys.executable, "-I", str(script), str(tmp_path / "bus.json")], stdout=subprocess.PIPE, text=True
    )
    try:
        seq = 0
        while proc.poll() is None and seq < 2000:  # publish until the late joiner has its five
            frame = np.full((48, 64), 200, np.uint8)
            frame.reshape(-1)[:8] = np.frombuffer(np.uint64(seq).tobytes(), np.uint8)
            pub.send(
                wire.frame_parts(
                    "cam", seq, frame, host_time_ns=wire.now_ns(), device_time_ns=seq * 1000, pixel_format="mono8"
                )
            )
            seq += 1
            time.sleep(0.005)
        out, _ = proc.communicate(timeout=20)
    finally:
        proc.kill()
        pub.close()
        eps.remove_ipc_files()
    got = json.loads(out)
    assert len(got) == 5
    for g in got:
        assert g["sid"] == "cam" and g["shape"] == [48, 64] and g["fmt"] == "mono8"
        assert g["stamp"] == g["seq"] and g["dev"] == g["seq"] * 1000 and g["pixel0"] == 200
    assert [g["seq"] for g in got] == list(range(got[0]["seq"], got[0]["seq"] + 5))
