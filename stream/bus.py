"""Where every process of a session binds and connects, and the two ways of sending.

Producers (devices, analyzer, elicitation, sync) send each message twice, without copying it:

* to the recorder over PUSH -> PULL: lossless.  A full queue means the recorder cannot keep up;
  the producer then waits (up to ``block_s``) and, if it must drop, counts the drop and reports it.
* on their own PUB socket for viewers (monitor, live analyzer): lossy by design, a slow viewer
  loses messages at its high-water mark and never slows anyone else.

The supervisor writes the endpoints to ``bus.json`` in the session folder so that a monitor, an
analyzer or a client in another language can find a running session (or a replay).
"""

from __future__ import annotations

import functools
import json
import os
import struct
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import zmq

from mestudio.stream import wire
from mestudio.stream.curve import CurveKeyError, CurveKeys, allow_only
from mestudio.stream.errors import StreamError
from mestudio.stream.private import make_runtime_dir
from mestudio.stream.shm_ring import MIN_PAYLOAD, RingWriter, session_tag

BUS_FILE = "bus.json"


@dataclass
class Endpoints:
    recorder: str  # recorder PULL (bound by the recorder)
    control: str  # supervisor PULL for heartbeats (bound by the supervisor)
    commands: str  # supervisor PULL for operator commands from viewers
    broadcast: str  # supervisor PUB re-broadcasting commands to every node
    pubs: dict[str, str] = field(default_factory=dict)  # producer name -> its PUB endpoint
    clock: str = ""  # tcp: the supervisor's time server (remote hosts measure their clock offset)
    keys: str = ""  # tcp: the CURVE keys folder (stream/curve.py); "" for ipc
    curve_client: str = "client"  # which client pair of that folder this host connects with
    # the recorder's PUB of its status (messages.RECORDER_STATUS) for viewers; "" in older bus.json
    recorder_status: str = ""

    @classmethod
    def plan(
        cls,
        scheme: str,
        host: str,
        base_port: int,
        producers: list[str],
        key: str = "",
        runtime_dir: str | Path | None = None,
        keys: str | Path = "",
        hosts: dict[str, str] | None = None,
    ) -> Endpoints:
        """Endpoints for one session.

        ipc sockets go in a new private folder (mkdtemp: unpredictable name, mode 0700) in
        ``runtime_dir`` (which must be ours and private) or the user's runtime/temp folder; its
        name is short, as ipc paths are limited to ~107 bytes.  ``key`` only labels the folder.
        tcp needs a CURVE ``keys`` folder: every socket is then authenticated and encrypted.
        ``hosts`` puts a producer's PUB on another host (a remote device: producer -> address).
        """
        if scheme == "tcp" and not keys:
            raise CurveKeyError("tcp endpoints need CURVE keys (make them with `mestudio keys DIR`)")
        if scheme == "ipc":
            label = "".join(c for c in Path(key).name if c.isalnum())[:8]
            run = make_runtime_dir(runtime_dir, prefix=f"mestudio-{label}-" if label else "mestudio-")
            at = lambda name: f"ipc://{run}/{name}"  # noqa: E731
        else:
            ports = dict(zip(_tcp_names(producers), tcp_ports(base_port, producers)))
            on = {f"pub-{p}": h for p, h in (hosts or {}).items()}
            at = lambda name: f"tcp://{_url_host(on.get(name, host))}:{ports[name]}"  # noqa: E731
        return cls(
            at("recorder"),
            at("control"),
            at("commands"),
            at("broadcast"),
            {p: at(f"pub-{p}") for p in producers},
            clock=at("clock") if scheme == "tcp" else "",
            keys=str(Path(keys).resolve()) if scheme == "tcp" else "",
            recorder_status=at("recorder-status"),
        )

    # -- every socket of a session binds and connects through these ----------------------
    def curve(self) -> CurveKeys | None:
        """The CURVE keys of a tcp session (loaded once per process), None for ipc."""
        return _keys(self.keys, self.curve_client) if self.keys else None

    def bind(self, ctx: zmq.Context, sock: zmq.Socket, endpoint: str) -> None:
        """Bind; on tcp as a CURVE server admitting only allowed client keys (a ZAP handler)."""
        keys = self.curve() if endpoint.startswith("tcp://") else None
        if keys is not None:
            allow_only(ctx, keys)
            keys.serve(sock)
        sock.bind(endpoint)

    def connect(self, sock: zmq.Socket, endpoint: str) -> None:
        """Connect; on tcp as a CURVE client of the session's server key."""
        keys = self.curve() if endpoint.startswith("tcp://") else None
        if keys is not None:
            keys.client(sock)
        sock.connect(endpoint)

    def remove_ipc_files(self) -> None:
        """Remove the ipc socket files (and their folder) once nobody listens on them."""
        paths = [
            Path(ep[len("ipc://") :])
            for ep in [self.recorder, self.control, self.commands, self.broadcast, self.recorder_status]
            + list(self.pubs.values())
            if ep.startswith("ipc://")
        ]
        for p in paths:
            p.unlink(missing_ok=True)
        for d in {p.parent for p in paths}:
            try:
                d.rmdir()
            except OSError:
                pass  # another session's sockets, or not empty

    def save(self, session_dir: Path) -> None:
        tmp = session_dir / (BUS_FILE + ".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=2))  # its mode follows the session's umask
        os.replace(tmp, session_dir / BUS_FILE)

    @classmethod
    def load(cls, session_dir: str | Path) -> Endpoints:
        p = Path(session_dir) / BUS_FILE
        if not p.is_file():
            raise StreamError(f"{session_dir}: no {BUS_FILE}; is it a running session or a replay?")
        return cls(**json.loads(p.read_text()))


@functools.lru_cache(maxsize=8)
def _keys(folder: str, client: str) -> CurveKeys:
    return CurveKeys.load(folder, client)


def _tcp_names(producers: list[str]) -> list[str]:
    # the recorder's status PUB comes last, so the ports of older sessions' sockets do not move
    own = ["recorder", "control", "commands", "broadcast", "clock"]
    return own + [f"pub-{p}" for p in producers] + ["recorder-status"]


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def tcp_ports(base_port: int, producers: list[str]) -> list[int]:
    """The ports a tcp session binds: five of its own, one per producer, then the recorder's
    status, from ``base_port``."""
    return [base_port + i for i in range(len(_tcp_names(producers)))]


def _is_frame_header(header) -> bool:
    """A packed version-1 FRAME header (byte 6 is the kind)."""
    return isinstance(header, bytes) and len(header) == wire.HEADER.size and header[6] == int(wire.Kind.FRAME)


class Publisher:
    """A producer's sending side: lossless to the recorder, lossy to viewers."""

    def __init__(
        self,
        ctx: zmq.Context,
        endpoints: Endpoints,
        name: str,
        *,
        record: bool = True,
        record_hwm: int = 1000,
        viewer_hwm: int = 60,
        block_s: float = 1.0,
        shared_memory_mb: int = 0,
    ) -> None:
        self.name = name
        self.block_s = block_s
        # frames to a recorder on this host go through a shared-memory ring of this size (MB; 0:
        # off, and always off for a recorder on another host): config [transport] shared_memory
        self._ring_mb = shared_memory_mb if record and endpoints.recorder.startswith("ipc://") else 0
        self._ring: RingWriter | None = None
        self._ring_tag = session_tag(endpoints.recorder)
        self._ring_frames_before = 0  # frames of a ring already closed
        self.shm_fallbacks = 0  # large frames sent over the socket because the ring was full
        self.sent = 0
        self.backpressure = 0  # sends that found the recorder's queue full and had to wait
        self.dropped = 0  # messages lost because the recorder stayed full for block_s
        self._push = None
        self._monitor = None
        self.recorder_gone = False  # the recorder's connection closed (it died): stop waiting for it
        if record:
            self._push = ctx.socket(zmq.PUSH)
            self._push.sndhwm = record_hwm
            self._push.linger = 10_000  # on close, hand everything queued to the recorder
            self._monitor = self._push.get_monitor_socket(zmq.EVENT_CONNECTED | zmq.EVENT_DISCONNECTED)
            endpoints.connect(self._push, endpoints.recorder)
        self._pub = ctx.socket(zmq.PUB)
        self._pub.sndhwm = viewer_hwm
        self._pub.linger = 0
        endpoints.bind(ctx, self._pub, endpoints.pubs[name])

    def send(self, parts: list) -> bool:
        """Send one message; False when it had to be dropped for the recorder (counted)."""
        ok = True
        to_recorder, in_ring = parts, False
        if self._ring_mb and self._push is not None and len(parts) == 3 and _is_frame_header(parts[1]):
            to_recorder, parts = self._through_ring(parts)
            in_ring = to_recorder is not parts  # the recorder gets a slot, the viewers the bytes
        if not in_ring and self._push is not None and len(parts) == 3 and not isinstance(parts[2], zmq.Frame):
            if memoryview(parts[2]).nbytes >= zmq.COPY_THRESHOLD:
                # one zero-copy frame for both sockets: each send shares its buffer (a reference
                # count), so pyzmq tracks one buffer, and its release thread wakes once per frame, not twice
                parts = [parts[0], parts[1], zmq.Frame(parts[2], copy=False)]
            to_recorder = parts
        if self._push is not None:
            try:
                wire.send(self._push, to_recorder, zmq.NOBLOCK)
            except zmq.Again:
                self.backpressure += 1
                if self._wait_for_recorder():
                    wire.send(self._push, to_recorder, zmq.NOBLOCK)
                else:
                    self.dropped += 1
                    ok = False
                    if in_ring and self._ring is not None:
                        self._ring.unsend(to_recorder[2])  # its slot is not the recorder's to free
        try:
            wire.send(self._pub, parts, zmq.NOBLOCK)
        except zmq.Again:
            pass  # viewers are lossy by design
        self.sent += ok
        return ok

    @property
    def shm_frames(self) -> int:
        """Frames sent to the recorder through the shared-memory ring."""
        return self._ring.frames if self._ring is not None else self._ring_frames_before

    def prepare_shared_memory(self, frame_bytes: int) -> bool:
        """Make the ring now, for frames up to ``frame_bytes`` (a device node calls it before its
        first frame: allocating the ring's pages takes ~0.3 s per 256 MB).  False when it is off
        or cannot be made (no /dev/shm, no room in it): frames then go over the socket."""
        if self._ring is not None or not self._ring_mb:
            return self._ring is not None
        try:
            self._ring = RingWriter(self._ring_mb, frame_bytes, self._ring_tag)
        except OSError:
            self._ring_mb = 0  # as without the option
            return False
        return True

    def frame_buffer(self, nbytes: int):
        """A slot of the shared-memory ring to fill in place (uint8 array of nbytes), for a device
        that copies its frame out of the driver's buffer anyway (capture/basler.py): one copy
        then serves the recorder.  None when the ring is off, full, or the frame too large."""
        if self._ring is None or nbytes < MIN_PAYLOAD:  # a small frame goes over the socket: no slot
            return None
        return self._ring.reserve(nbytes)

    def _through_ring(self, parts: list) -> tuple[list, list]:
        """(the recorder's message, the viewers') for a frame: its payload in the ring and the
        recorder's message carrying the slot (a version-2 header); or the message itself for
        both when the frame is small, the ring full or shared memory unavailable (counted in
        shm_fallbacks when it mattered)."""
        payload = parts[2].buffer if isinstance(parts[2], zmq.Frame) else parts[2]
        n = memoryview(payload).nbytes
        if n < MIN_PAYLOAD:
            return parts, parts
        if self._ring is None and not self.prepare_shared_memory(n):
            self.shm_fallbacks += 1
            return parts, parts
        assert self._ring is not None
        to_viewers = parts
        desc: bytes | None
        filled = self._ring.commit(payload)  # a slot the device filled in place: no copy
        if filled is not None:
            desc, slot = filled
            # the viewers' zero-copy send reads the slot: it is not reused before zmq is done
            frame = zmq.Frame(payload, copy=False, track=True)
            self._ring.track(slot, frame.tracker)
            to_viewers = [parts[0], parts[1], frame]
        else:
            desc = self._ring.put(payload)
        if desc is None:
            self.shm_fallbacks += 1
            return parts, parts
        header = bytearray(parts[1])
        struct.pack_into("<H", header, 4, wire.SHM_VERSION)
        header[7] |= wire.FLAG_SHARED_MEMORY
        return [parts[0], bytes(header), desc], to_viewers

    def _watch_recorder(self) -> None:
        from zmq.utils.monitor import recv_monitor_message

        while self._monitor is not None and self._monitor.poll(0):
            event = recv_monitor_message(self._monitor)["event"]
            self.recorder_gone = event == zmq.EVENT_DISCONNECTED

    def _wait_for_recorder(self) -> bool:
        """Wait up to block_s for room in the recorder's queue; at once False once it has died."""
        end = time.monotonic() + self.block_s
        while True:
            self._watch_recorder()
            if self.recorder_gone:
                return False
            left = end - time.monotonic()
            if left <= 0:
                return False
            assert self._push is not None  # only send() calls this, with a recorder socket
            if self._push.poll(int(min(left, 0.05) * 1000) + 1, zmq.POLLOUT):
                return True

    def close(self) -> None:
        """Close; what is queued still goes to a live recorder, never waited for a dead one."""
        if self._push is not None:
            self._watch_recorder()
            if self.recorder_gone:
                self._push.linger = 0
            if self._ring is not None:  # removed once the recorder has taken every slot
                self._ring.close(self._push.linger / 1000, not self.recorder_gone)
                self._ring_frames_before, self._ring = self._ring.frames, None
            self._push.disable_monitor()
            assert self._monitor is not None  # made with self._push
            self._monitor.close()
            self._monitor = None
        for s in (self._push, self._pub):
            if s is not None:
                s.close()
        self._push = None


class Subscriber:
    """A viewer's receiving side: SUB connected to every producer of a session (lossy)."""

    def __init__(
        self,
        ctx: zmq.Context,
        endpoints: Endpoints,
        topics: list[str] | None = None,
        producers: list[str] | None = None,
        hwm: int = 60,
    ) -> None:
        self.sock = ctx.socket(zmq.SUB)
        self.sock.rcvhwm = hwm
        self.sock.linger = 0
        for t in topics or [""]:
            self.sock.setsockopt(zmq.SUBSCRIBE, t.encode())
        for name, ep in endpoints.pubs.items():
            if producers is None or name in producers:
                endpoints.connect(self.sock, ep)

    def recv(self, timeout_s: float) -> wire.Message | None:
        if not self.sock.poll(int(timeout_s * 1000)):
            return None
        return wire.recv(self.sock)

    def close(self) -> None:
        self.sock.close()


def wait_for(predicate, timeout_s: float, interval_s: float = 0.02) -> bool:
    """Poll ``predicate`` until it is true or ``timeout_s`` passes."""
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(interval_s)
    return bool(predicate())
