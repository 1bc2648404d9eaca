"""The wire format: the one place that packs and unpacks a mestudio message.

Every message is a ZeroMQ multipart message of three frames:

    [topic, header, payload]

* ``topic``   UTF-8 bytes, ``<stream_id>`` for frames, ``<channel>/<name>`` for other kinds.
  Subscribers filter on its prefix.
* ``header``  exactly ``HEADER.size`` (128) bytes, little-endian, laid out as ``HEADER_LAYOUT``.
* ``payload`` the raw frame buffer (C order, ``dtype`` and ``shape`` from the header), sent and
  received without a copy; for EVENT, HEARTBEAT and END messages it is UTF-8 JSON.

docs/wire-format.md documents the same layout for clients in other languages; tests read frames
with nothing but pyzmq and that document.  Bump ``VERSION`` on any change to the layout.
"""

from __future__ import annotations

import enum
import functools
import json
import math
import struct
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import zmq

from mestudio.stream.errors import WireFormatError
from mestudio.stream.messages import DTYPES, check_stream_id, check_topic, dtype_allowed

MAGIC = b"MEST"
VERSION = 1
# version 2: the same layout; flags bit 1 says the payload is a shared-memory descriptor
# (stream/shm_ring.py), sent only by a local producer to the recorder. Readers take 1 and 2.
SHM_VERSION = 2

# name, struct code, meaning -- the layout of the 128-byte header, in order.
HEADER_LAYOUT: tuple[tuple[str, str, str], ...] = (
    ("magic", "4s", 'b"MEST"'),
    ("version", "H", "wire-format version: 1, or 2 for a shared-memory frame"),
    ("kind", "B", "0 FRAME, 1 EVENT, 2 HEARTBEAT, 3 END"),
    ("flags", "B", "bit 0: device_time_ns is valid; bit 1 (version 2): the payload is a shared-memory descriptor"),
    ("seq", "Q", "sequence number of this message within its stream (device frame counter)"),
    ("device_time_ns", "q", "device clock in ns (0 and flag clear when the device has none)"),
    ("host_time_ns", "q", "host CLOCK_MONOTONIC in ns when the frame reached the host"),
    ("dtype", "8s", "numpy dtype string, NUL-padded: |u1 <u2 <i2 <f4 ..."),
    ("ndim", "B", "number of dimensions used in shape (0-4)"),
    ("_pad", "3x", "zero"),
    ("shape", "4I", "dimensions, unused ones 0"),
    ("pixel_format", "16s", "mono8, rgb8, bgr8, depth16, s16le, json ... NUL-padded"),
    ("stream_id", "48s", "UTF-8 stream id, NUL-padded"),
    ("_reserved", "4x", "zero"),
)
HEADER = struct.Struct("<" + "".join(code for _, code, _ in HEADER_LAYOUT))
assert HEADER.size == 128, HEADER.size

FLAG_DEVICE_TIME = 0x01
FLAG_SHARED_MEMORY = 0x02
MAX_JSON_BYTES = 16 << 20  # an event body larger than this is an attack or a bug


class Kind(enum.IntEnum):
    FRAME = 0
    EVENT = 1
    HEARTBEAT = 2
    END = 3


@dataclass(slots=True)
class Header:
    """Metadata of one message; ``payload`` travels beside it."""

    stream_id: str
    seq: int
    host_time_ns: int
    kind: Kind = Kind.FRAME
    device_time_ns: int | None = None
    dtype: str = "|u1"
    shape: tuple[int, ...] = ()
    pixel_format: str = ""
    shared_memory: bool = False  # the payload names a slot of a shared-memory ring (version 2)

    def pack(self) -> bytes:
        if len(self.shape) > 4:
            raise WireFormatError(
                f"stream {self.stream_id!r}: at most 4 dimensions, got shape {self.shape}", kind="shape"
            )
        sid = check_stream_id(self.stream_id).encode()
        shape = tuple(self.shape) + (0,) * (4 - len(self.shape))
        flags = FLAG_DEVICE_TIME if self.device_time_ns is not None else 0
        flags |= FLAG_SHARED_MEMORY if self.shared_memory else 0
        return HEADER.pack(
            MAGIC,
            SHM_VERSION if self.shared_memory else VERSION,
            int(self.kind),
            flags,
            self.seq,
            self.device_time_ns or 0,
            self.host_time_ns,
            self.dtype.encode(),
            len(self.shape),
            *shape,
            self.pixel_format.encode(),
            sid,
        )

    @classmethod
    def unpack(cls, buf: bytes | memoryview) -> Header:
        """Check and read a header; every field a receiver relies on is validated here.

        A stream's headers differ only in seq and times: the rest is checked once per distinct
        layout and remembered (decoding costs the recorder CPU on every frame)."""
        if len(buf) != HEADER.size:
            raise WireFormatError(
                f"header is {len(buf)} bytes, expected {HEADER.size}: not a mestudio message", kind="header-size"
            )
        b = bytes(buf)
        key = b[:8] + b[32:]
        static = _STATIC.get(key)
        if static is None:
            static = _check_static(b)
            if len(_STATIC) >= _STATIC_MAX:  # a client inventing layouts only costs itself the cache
                _STATIC.clear()
            _STATIC[key] = static
        stream_id, kind, flags, dtype_s, shape, pixel_format, shared = static
        seq, dev_t, host_t = _TIMES.unpack_from(b, 8)
        return cls(
            stream_id,
            seq,
            host_t,
            kind,
            dev_t if flags & FLAG_DEVICE_TIME else None,
            dtype_s,
            shape,
            pixel_format,
            shared,
        )


_TIMES = struct.Struct("<Qqq")  # seq, device_time_ns, host_time_ns: bytes 8-32 of the header
_STATIC: dict[bytes, tuple] = {}  # the header without bytes 8-32 -> its checked fields
_STATIC_MAX = 4096


def _check_static(b: bytes) -> tuple:
    """The checked fields of a header that do not change from frame to frame."""
    (magic, version, kind, flags, _, _, _, dtype, ndim, s0, s1, s2, s3, pixfmt, sid) = HEADER.unpack(b)
    if magic != MAGIC:
        raise WireFormatError(f"bad magic {magic!r}: not a mestudio message", kind="magic")
    if version not in (VERSION, SHM_VERSION):
        raise WireFormatError(
            f"wire-format version {version}, this mestudio reads versions {VERSION} and {SHM_VERSION}: "
            "run the same mestudio version on both ends",
            kind="version",
        )
    try:
        kind = Kind(kind)
    except ValueError:
        raise WireFormatError(f"unknown message kind {kind}", kind="kind") from None
    if ndim > 4:
        raise WireFormatError(f"header says {ndim} dimensions, at most 4", kind="shape")
    shared = bool(flags & FLAG_SHARED_MEMORY)
    if shared and (version != SHM_VERSION or kind != Kind.FRAME):
        raise WireFormatError(
            f"the shared-memory flag is for version-{SHM_VERSION} FRAME messages, not version {version} {kind.name}",
            kind="shm-flag",
        )
    try:
        stream_id = sid.rstrip(b"\0").decode()
        dtype_s = dtype.rstrip(b"\0").decode("ascii")
        pixel_format = pixfmt.rstrip(b"\0").decode("ascii")
    except UnicodeDecodeError as e:
        raise WireFormatError(f"header text field is not UTF-8/ASCII ({e.reason})", kind="utf8") from None
    check_stream_id(stream_id)
    if kind == Kind.FRAME and not dtype_allowed(dtype_s):
        raise WireFormatError(
            f"stream {stream_id!r}: dtype {dtype_s!r} is not one of {', '.join(sorted(DTYPES))} or |S<n>",
            kind="dtype",
        )
    if kind != Kind.FRAME and dtype_s != "json":
        raise WireFormatError(f"stream {stream_id!r}: a {kind.name} message must carry dtype 'json'", kind="dtype")
    return stream_id, kind, flags, dtype_s, (s0, s1, s2, s3)[:ndim], pixel_format, shared


@dataclass(slots=True)
class Message:
    """One received message. For frames ``data`` is an ndarray viewing the received buffer."""

    topic: str
    header: Header
    data: Any = None
    raw: Any = field(default=None, repr=False)  # the payload zmq.Frame/bytes, kept alive for data

    @property
    def kind(self) -> Kind:
        return self.header.kind


def now_ns() -> int:
    """Host monotonic time, the clock every host_time_ns on the wire is read from."""
    return time.monotonic_ns()


def frame_parts(
    stream_id: str,
    seq: int,
    data: np.ndarray,
    *,
    host_time_ns: int,
    device_time_ns: int | None = None,
    pixel_format: str = "",
    topic: str | None = None,
) -> list:
    """The three parts of a FRAME message; the payload is the array's own memory."""
    if not data.flags.c_contiguous:
        data = np.ascontiguousarray(data)
    # a stream's headers differ only in seq and times: pack (and check) the rest once per layout
    key = (stream_id, data.dtype.str, data.shape, pixel_format, device_time_ns is not None, topic)
    made = _FRAME_HEADERS.get(key)
    if made is None:
        dev = None if device_time_ns is None else 0
        hdr = Header(stream_id, 0, 0, Kind.FRAME, dev, data.dtype.str, data.shape, pixel_format)
        made = ((topic or stream_id).encode(), hdr.pack())
        if len(_FRAME_HEADERS) >= _STATIC_MAX:
            _FRAME_HEADERS.clear()
        _FRAME_HEADERS[key] = made
    topic_b, template = made
    header = bytearray(template)
    _TIMES.pack_into(header, 8, seq, device_time_ns or 0, host_time_ns)
    return [topic_b, bytes(header), data.data.cast("B")]


_FRAME_HEADERS: dict[tuple, tuple[bytes, bytes]] = {}  # (stream, layout, topic) -> (topic, header template)


def json_parts(
    kind: Kind,
    stream_id: str,
    seq: int,
    body: dict,
    *,
    topic: str | None = None,
    host_time_ns: int | None = None,
    device_time_ns: int | None = None,
) -> list:
    """The three parts of an EVENT, HEARTBEAT or END message carrying a JSON body."""
    payload = json.dumps(body, separators=(",", ":"), default=_json_default).encode()
    hdr = Header(
        stream_id,
        seq,
        now_ns() if host_time_ns is None else host_time_ns,
        kind,
        device_time_ns,
        "json",
        (len(payload),),
        "json",
    )
    return [(topic or stream_id).encode(), hdr.pack(), payload]


def _json_default(o: Any) -> Any:
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"{type(o).__name__} is not JSON serialisable")


def send(sock: zmq.Socket, parts: list, flags: int = 0) -> None:
    """Send one message; the payload goes without a copy."""
    sock.send_multipart(parts, flags=flags, copy=False)


def decode(parts: list, shared_memory: bool = False) -> Message:
    """Turn received parts (bytes or zmq.Frame) into a Message; frames become ndarray views.

    Untrusted input: any malformed message raises WireFormatError (its ``kind`` says why), never
    anything else; a JSON body must be an object (the topic's model is checked by the receiver).
    A shared-memory frame (header.shared_memory) is only taken where ``shared_memory`` says the
    caller reads rings (the recorder): its ``data`` is None and ``raw`` the descriptor."""
    if len(parts) != 3:
        raise WireFormatError(f"message has {len(parts)} parts, expected 3 [topic, header, payload]", kind="parts")
    topic_b, hdr_b, payload = parts
    header = Header.unpack(hdr_b.bytes if isinstance(hdr_b, zmq.Frame) else hdr_b)
    if isinstance(payload, zmq.Frame):
        payload = payload.buffer
    try:
        topic = (topic_b.bytes if isinstance(topic_b, zmq.Frame) else bytes(topic_b)).decode()
    except UnicodeDecodeError:
        raise WireFormatError(f"stream {header.stream_id!r}: topic is not UTF-8", kind="utf8") from None
    if header.kind == Kind.FRAME:
        if topic != header.stream_id:
            raise WireFormatError(f"frame topic {topic[:60]!r} is not its stream id {header.stream_id!r}", kind="topic")
        dtype, expected = _layout(header.dtype, header.shape)
        if header.shared_memory:
            if not shared_memory:
                raise WireFormatError(
                    f"stream {header.stream_id!r} seq {header.seq}: a shared-memory frame, which only "
                    "the recorder's socket takes",
                    kind="shm-not-here",
                )
            return Message(topic, header, None, parts[2])
        if len(payload) != expected:
            raise WireFormatError(
                f"stream {header.stream_id!r} seq {header.seq}: payload is {len(payload)} bytes, "
                f"header says {header.shape} {header.dtype} = {expected} bytes",
                kind="payload-size",
            )
        data = np.frombuffer(payload, dtype=dtype).reshape(header.shape)
    else:
        check_topic(topic)
        if len(payload) > MAX_JSON_BYTES:
            raise WireFormatError(
                f"{topic}: JSON body of {len(payload)} bytes (at most {MAX_JSON_BYTES})", kind="body-size"
            )
        try:
            data = json.loads(bytes(payload).decode()) if len(payload) else {}
        except UnicodeDecodeError:
            raise WireFormatError(f"{topic}: body is not UTF-8", kind="utf8") from None
        except (ValueError, RecursionError) as e:
            raise WireFormatError(f"{topic}: body is not JSON ({str(e)[:80]})", kind="body-json") from None
        if not isinstance(data, dict):
            raise WireFormatError(
                f"{topic}: body is a JSON {type(data).__name__}, not an object", kind="body-not-object"
            )
    return Message(topic, header, data, parts[2])


@functools.lru_cache(maxsize=1024)
def _layout(dtype_s: str, shape: tuple[int, ...]) -> tuple[np.dtype, int]:
    """A frame layout's dtype and byte size (Python ints: a huge shape cannot wrap)."""
    dtype = np.dtype(dtype_s)
    return dtype, dtype.itemsize * math.prod(shape)


def recv(sock: zmq.Socket, flags: int = 0) -> Message:
    """Receive and decode one message without copying its payload."""
    return decode(sock.recv_multipart(flags=flags, copy=False))
