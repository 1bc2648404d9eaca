"""Frames from a local producer to the recorder through a shared-memory ring (stream/shm_ring.py).

Real parts: a Publisher with ``shared_memory_mb`` sends over a real ipc PUSH/PULL pair into the
Recorder, drained by the recorder node's own ``drain``; what SessionReader reads back is compared
with the arrays the test made.  A full ring, a killed producer and hostile descriptors (forged
messages on the recorder's socket) are each checked: counted, said in one line, and nothing
already recorded is lost."""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import struct

import numpy as np
import pytest
import zmq

from mestudio.stream import wire
from mestudio.stream.bus import Endpoints, Publisher
from mestudio.stream.errors import WireFormatError
from mestudio.stream.recorder import Recorder
from mestudio.stream.recorder_node import drain
from mestudio.stream.session import write_json_atomic
from mestudio.stream.session_reader import SessionReader
from mestudio.stream.shm_ring import DESCRIPTOR, PREFIX, RING_DIR, available

pytestmark = pytest.mark.skipif(not available(), reason="no writable /dev/shm on this host")

SHAPE = (300, 400)  # 120 KB: over the ring's 64 KB floor, small enough to keep the test quick


def frame(i: int) -> np.ndarray:
    return np.random.default_rng(i).integers(0, 256, SHAPE, dtype=np.uint8)


def rings() -> set[str]:
    return {p.name for p in RING_DIR.glob(PREFIX + "*")}


@pytest.fixture
def rig(zctx, tmp_path):
    """A session folder, a Recorder and its PULL on a session's ipc endpoints."""
    root = tmp_path / "s"
    root.mkdir()
    write_json_atomic(root / "manifest.json", {"format": "mestudio-session", "status": "recording", "t0_host_ns": 0})
    eps = Endpoints.plan("ipc", "", 0, ["cam"], key=str(tmp_path))
    pull = zctx.socket(zmq.PULL)
    pull.linger, pull.rcvhwm = 0, 0
    pull.bind(eps.recorder)
    rec = Recorder(root)
    yield root, eps, pull, rec
    rec.close()
    pull.close()
    eps.remove_ipc_files()


def record_until(pull, rec: Recorder, messages: int) -> None:
    while rec.messages + rec.bad_messages < messages:
        assert pull.poll(10_000), "messages sent over ipc never arrived"
        drain(pull, rec)


def read_back(root, sid: str = "cam") -> tuple[list[int], list[np.ndarray]]:
    st = SessionReader(root).stream(sid)
    got = list(st.frames())
    return [int(i["seq"]) for i, _ in got], [f for _, f in got]


def test_frames_through_the_ring_read_back_bit_exactly_and_the_ring_is_removed(zctx, rig):
    root, eps, pull, rec = rig
    before = rings()
    pub = Publisher(zctx, eps, "cam", shared_memory_mb=16)
    sent = [frame(i) for i in range(20)]
    for i, f in enumerate(sent):  # the recorder keeps up: every frame finds a free slot
        assert pub.send(wire.frame_parts("cam", i, f, host_time_ns=wire.now_ns(), pixel_format="mono8"))
        record_until(pull, rec, i + 1)
    small = np.arange(64, dtype=np.uint8).reshape(8, 8)  # under the floor: over the socket
    assert pub.send(wire.frame_parts("small", 0, small, host_time_ns=wire.now_ns()))
    record_until(pull, rec, 21)
    assert rec.rings.frames == 20 and rec.bad_messages == 0 and pub.shm_fallbacks == 0
    assert len(rings() - before) == 1  # one ring per publisher, in /dev/shm
    pub.close()  # every slot taken: the producer removes its ring
    assert rings() - before == set()
    rec.flush()
    seqs, frames = read_back(root)
    assert seqs == list(range(20))
    assert all(np.array_equal(a, b) for a, b in zip(frames, sent))
    assert np.array_equal(read_back(root, "small")[1][0], small)
    assert SessionReader(root).stream("cam").has_checksums


def test_a_full_ring_falls_back_to_the_socket_and_loses_nothing(zctx, rig):
    root, eps, pull, rec = rig
    # 16 MB of 2 MB slots: 8 slots; the recorder reads nothing until all 30 are sent
    pub = Publisher(zctx, eps, "cam", shared_memory_mb=16)
    sent = [frame(i) for i in range(30)]
    for i, f in enumerate(sent):
        assert pub.send(wire.frame_parts("cam", i, f, host_time_ns=wire.now_ns()))
    assert pub.shm_fallbacks == 22 and pub._ring is not None and pub._ring.frames == 8
    record_until(pull, rec, 30)
    # once the recorder has taken the slots, the ring is used again
    assert pub.send(wire.frame_parts("cam", 30, frame(30), host_time_ns=wire.now_ns()))
    sent.append(frame(30))
    record_until(pull, rec, 31)
    assert rec.rings.frames == 9
    pub.close()
    rec.flush()
    seqs, frames = read_back(root)
    assert seqs == list(range(31))
    assert all(np.array_equal(a, b) for a, b in zip(frames, sent))


def _producer(endpoint: str, pub_endpoint: str, n: int) -> None:
    """A device node that sends n frames through its ring, then hangs until it is killed."""
    ctx = zmq.Context()
    pub = Publisher(ctx, Endpoints(endpoint, "", "", "", {"cam": pub_endpoint}), "cam", shared_memory_mb=16)
    for i in range(n):
        pub.send(wire.frame_parts("cam", i, frame(i), host_time_ns=wire.now_ns()))
    while True:
        signal.pause()


def test_frames_of_a_killed_producer_are_all_recorded_and_its_ring_removed(rig):
    root, eps, pull, rec = rig
    before = rings()
    p = mp.get_context("spawn").Process(target=_producer, args=(eps.recorder, eps.pubs["cam"], 6), daemon=True)
    p.start()
    queued = []  # in the recorder's queue when the producer dies
    while len(queued) < 6:
        assert pull.poll(30_000), "the producer's messages never arrived"
        queued.append(pull.recv_multipart(copy=False))
    p.kill()
    p.join(30)
    assert p.exitcode == -signal.SIGKILL
    for parts in queued:
        rec.handle(parts)
    assert rec.rings.frames == 6 and rec.bad_messages == 0
    rec.flush()
    seqs, frames = read_back(root)
    assert seqs == list(range(6)) and all(np.array_equal(f, frame(i)) for i, f in enumerate(frames))
    assert len(rings() - before) == 1  # the killed producer could not remove it
    rec.close()  # the recorder removes every ring it read
    assert rings() - before == set()


def forged(seq: int, descriptor: bytes, shape=SHAPE) -> list:
    """A shared-memory FRAME message as a hostile or broken producer might send it."""
    h = wire.Header("cam", seq, wire.now_ns(), wire.Kind.FRAME, None, "|u1", shape, "", shared_memory=True)
    return [b"cam", h.pack(), descriptor]


def test_hostile_descriptors_are_counted_in_one_line_and_recording_goes_on(zctx, rig, tmp_path):
    root, eps, pull, rec = rig
    pub = Publisher(zctx, eps, "cam", shared_memory_mb=16)
    assert pub.send(wire.frame_parts("cam", 0, frame(0), host_time_ns=wire.now_ns()))
    record_until(pull, rec, 1)
    token = pub._ring.token.encode()
    outside = tmp_path / "secret"
    outside.write_bytes(b"x" * 8192)
    bad = [
        forged(1, b"short"),  # not a descriptor
        forged(2, DESCRIPTOR.pack(b"../../etc/passw", 0, 1)),  # a path, not a token
        forged(3, DESCRIPTOR.pack(b"0123456789abcdef", 0, 1)),  # no such ring
        forged(4, DESCRIPTOR.pack(token, 10_000, 1)),  # slot outside the ring
        forged(5, DESCRIPTOR.pack(token, 0, 99)),  # a generation the slot never held (torn/reused)
        forged(6, DESCRIPTOR.pack(token, 0, 1), shape=(3000, 4000)),  # larger than a slot
    ]
    push = zctx.socket(zmq.PUSH)
    push.linger = 1000
    push.connect(eps.recorder)
    for m in bad:
        wire.send(push, m)
    record_until(pull, rec, 7)
    assert rec.bad_messages == 6
    kinds = rec.rejects.counts
    assert kinds.get("shm-descriptor") == 2 and kinds.get("shm-ring") == 1
    assert kinds.get("shm-bounds") == 2 and kinds.get("shm-torn") == 1
    # recording goes on through the ring after them
    assert pub.send(wire.frame_parts("cam", 7, frame(7), host_time_ns=wire.now_ns()))
    record_until(pull, rec, 8)
    push.close()
    pub.close()
    rec.flush()
    seqs, frames = read_back(root)
    assert seqs == [0, 7] and np.array_equal(frames[0], frame(0)) and np.array_equal(frames[1], frame(7))
    assert outside.read_bytes() == b"x" * 8192


def test_a_ring_file_not_made_by_a_producer_is_refused(rig):
    root, eps, pull, rec = rig
    fake = RING_DIR / f"{PREFIX}00000000deadbeef"
    fd = os.open(fake, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, b"NOPE" + bytes(8188))
        os.close(fd)
        with pytest.raises(WireFormatError, match="not a version-1 ring") as e:
            rec.rings.view(DESCRIPTOR.pack(b"00000000deadbeef", 0, 1), 100)
        assert "\n" not in str(e.value)
    finally:
        fake.unlink(missing_ok=True)


def test_only_the_recorder_takes_a_shared_memory_frame():
    m = forged(1, DESCRIPTOR.pack(b"0123456789abcdef", 0, 1))
    with pytest.raises(WireFormatError, match="only the recorder") as e:
        wire.decode(m)  # a viewer, a tool: never reads a ring
    assert e.value.kind == "shm-not-here" and isinstance(e.value, ValueError)
    # a version-1 header with the flag set is malformed
    hdr = bytearray(m[1])
    struct.pack_into("<H", hdr, 4, wire.VERSION)
    with pytest.raises(WireFormatError, match="shared-memory flag"):
        wire.decode([m[0], bytes(hdr), m[2]], shared_memory=True)


def test_a_remote_recorder_never_gets_descriptors(zctx):
    eps = Endpoints("tcp://127.0.0.1:1", "", "", "", {"cam": "inproc://cam-pub"})
    pub = Publisher(zctx, eps, "cam", shared_memory_mb=16)
    try:
        assert pub._ring_mb == 0
    finally:
        pub._push.linger = 0
        pub.close()


SHM_SESSION = """
[session]
name = "shm"
participant = "P01"
[transport]
shared_memory = true
shared_memory_mb = 32
[[devices]]
name = "cam"
kind = "synthetic-camera"
source = "pattern"
width = 640
height = 480
fps = 30
"""


@pytest.mark.slow
def test_a_session_with_shared_memory_records_every_frame_through_the_ring(tmp_path):
    """The real command line: device node, supervisor and recorder; every frame read back carries
    its own sequence number (stamped into its pixels by the pattern source) and is checksummed."""
    from mestudio.capture.pattern import read_stamp
    from tests.conftest import mestudio, write_config
    from tests.session_helpers import session_dir

    before = rings()
    cfg = write_config(tmp_path / "shm.toml", SHM_SESSION)
    r = mestudio("run", str(cfg), "--duration", "2", "--out", str(tmp_path / "out"), "--quiet", timeout=120)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    root = session_dir(tmp_path / "out")
    reader = SessionReader(root)
    rep = reader.recorder_report()
    st = reader.stream("cam")
    end = rep["producer_ends"]["cam"]  # the device node's own counts
    # a recorder behind by more than the ring (a loaded machine) gets frames over the socket: counted
    assert len(st) >= 10 and rep["bad_messages"] == 0 and rep["shared_memory_frames"] > 0
    assert end["shared_memory_frames"] == rep["shared_memory_frames"]
    assert end["shared_memory_frames"] + end["shared_memory_fallbacks"] == len(st) == end["frames"]
    for idx, f in st.frames():
        assert read_stamp(f) == int(idx["seq"])
    assert rings() - before == set()  # the producer removed its ring once the recorder had every frame


def test_basler_frames_copied_out_of_the_grab_buffer_straight_into_the_ring(pylon_emulation, zctx, rig, tmp_path):
    """pylon's emulator shows an image the test wrote; the backend copies each grabbed frame into
    a slot (one copy), the recorder writes it from there and a viewer gets the same bytes."""
    import cv2

    from mestudio.capture.registry import create_device
    from mestudio.config import schema as S

    root, eps, pull, rec = rig
    image = np.random.default_rng(5).integers(0, 256, (240, 320), dtype=np.uint8)
    bmp = tmp_path / "view.bmp"
    cv2.imwrite(str(bmp), image)
    spec = S.BaslerArray(
        name="basler",
        kind="basler-array",
        count=2,
        width=320,
        height=240,
        fps=60,
        emulate=True,
        emulated_images=str(bmp),
    )
    pub = Publisher(
        zctx, Endpoints(eps.recorder, "", "", "", {"basler": eps.pubs["cam"]}), "basler", shared_memory_mb=16
    )
    sub = zctx.socket(zmq.SUB)
    sub.linger = 0
    sub.setsockopt(zmq.SUBSCRIBE, b"basler-0")
    sub.connect(eps.pubs["cam"])
    dev = create_device(spec)
    viewed = []
    try:
        assert pub.prepare_shared_memory(image.nbytes)
        dev.frame_buffer = pub.frame_buffer
        with dev:
            sent = 0
            while sent < 40:
                for f in dev.read(1.0):
                    assert pub.send(wire.frame_parts(f.stream_id, f.seq, f.data, host_time_ns=f.host_time_ns))
                    sent += 1
                record_until(pull, rec, sent)  # the recorder keeps up: slots come back
                while sub.poll(0):
                    viewed.append(wire.recv(sub).data.copy())
        assert rec.rings.frames == sent and pub.shm_fallbacks == 0 and rec.bad_messages == 0
        # every frame was copied once, into its slot, and every slot handed out was sent
        assert pub._ring is not None and pub._ring.filled_in_place == sent and not pub._ring._reserved
    finally:
        pub.close()
        sub.close()
    rec.flush()
    for sid in ("basler-0", "basler-1"):
        _, frames = read_back(root, sid)
        assert len(frames) >= 15 and all(np.array_equal(f, image) for f in frames)
    assert all(np.array_equal(v, image) for v in viewed)


def test_a_frame_dropped_for_a_recorder_that_never_came_gives_its_slot_back(zctx, tmp_path):
    """No recorder listens: past one queued message each send waits block_s and is dropped
    (counted); the ring must not keep slots the recorder never got, or it would stay full."""
    from mestudio.stream.shm_ring import RING_HEADER_SIZE, SLOT_HEADER

    eps = Endpoints.plan("ipc", "", 0, ["cam"], key=str(tmp_path))
    pub = Publisher(zctx, eps, "cam", shared_memory_mb=16, block_s=0.01, record_hwm=1)
    try:
        for i in range(8):  # the ring's 8 slots
            pub.send(wire.frame_parts("cam", i, frame(i), host_time_ns=wire.now_ns()))
        ring = pub._ring
        assert ring is not None and ring.frames == 8 and pub.dropped >= 5
        held = [
            k
            for k, g in enumerate(ring._written)
            if SLOT_HEADER.unpack_from(ring._map, RING_HEADER_SIZE + k * SLOT_HEADER.size)[3] != g
        ]
        assert len(held) == 8 - pub.dropped  # only the frames still queued for the recorder
        path = ring.path
    finally:
        pub._push.linger = 0
        pub.close()
        eps.remove_ipc_files()
    # never mapped by a recorder, with frames queued for it: left for a recorder to open, and
    # named for its session, whose supervisor removes it at the end (see the session test below)
    from mestudio.stream.shm_ring import remove_session_rings, session_tag

    tag = session_tag(eps.recorder)
    assert path.exists() and ring.token.startswith(tag) and len(ring.token) == 16
    assert remove_session_rings(session_tag(eps.recorder + "-another")) == (0, 0)
    assert remove_session_rings(tag) == (1, ring.slot_count * ring.slot_size + ring._data)
    assert not path.exists() and remove_session_rings(tag) == (0, 0)
    with pytest.raises(ValueError, match="8 lowercase hex"):
        remove_session_rings("../../x")


@pytest.mark.slow
def test_the_supervisor_removes_the_sessions_rings_left_at_its_end(tmp_path):
    """A ring left for a recorder that never opened it (a producer ended with frames queued) would
    hold its RAM in /dev/shm until the machine restarts: the session's supervisor removes it, and
    only its own session's rings."""
    from mestudio.stream.shm_ring import PREFIX, RING_DIR, session_tag
    from tests.conftest import write_config
    from tests.session_helpers import live_session_dir, start_run, stop

    proc = start_run(write_config(tmp_path / "shm.toml", SHM_SESSION), tmp_path / "out")
    try:
        tag = session_tag(Endpoints.load(live_session_dir(tmp_path / "out")).recorder)
        left = RING_DIR / f"{PREFIX}{tag}0badf00d"
        other = RING_DIR / f"{PREFIX}{session_tag('ipc:///elsewhere')}0badf00d"
        for p in (left, other):
            p.write_bytes(b"\0" * 4096)
        code, _, err = stop(proc)
        assert code == 0, err[-2000:]
        assert not left.exists() and other.exists()
        assert "removed 1 shared-memory ring(s) of this session that no recorder opened" in err
    finally:
        if proc.poll() is None:
            proc.kill()
        for p in RING_DIR.glob(f"{PREFIX}*0badf00d"):
            p.unlink()
