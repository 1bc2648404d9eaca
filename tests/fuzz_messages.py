"""Malformed messages, one builder per kind, for the untrusted-input tests.

Each kind is built from the wire layout itself (wire.HEADER), not from the decoder under test,
and none of them is a valid message: every one must be rejected where it is received."""

from __future__ import annotations

import json

from mestudio.stream import wire


def header(
    *,
    sid: bytes = b"fuzz",
    kind: int = 0,
    version: int = wire.VERSION,
    magic: bytes = wire.MAGIC,
    dtype: bytes = b"|u1",
    ndim: int = 2,
    shape: tuple[int, int, int, int] = (2, 2, 0, 0),
    pixfmt: bytes = b"mono8",
) -> bytes:
    return wire.HEADER.pack(magic, version, kind, 0, 1, 0, 5, dtype, ndim, *shape, pixfmt, sid)


def json_header(sid: bytes = b"fuzz", kind: int = 1, n: int = 2) -> bytes:
    return header(sid=sid, kind=kind, dtype=b"json", ndim=1, shape=(n, 0, 0, 0), pixfmt=b"json")


def _json(topic: str, body, sid: bytes = b"fuzz", kind: int = 1) -> list[bytes]:
    payload = body if isinstance(body, bytes) else json.dumps(body).encode()
    return [topic.encode(), json_header(sid, kind, len(payload)), payload]


FRAME = b"\0" * 4
# kind -> the parts of one message of that kind (a frame stream id "fuzz" never exists for real)
KINDS: dict[str, list[bytes]] = {
    "non-utf8-stream-id": [b"fuzz", header(sid=b"\xff\xfe\x80cam"), FRAME],
    "dotdot-stream-id": [b"../../x", header(sid=b"../../x"), FRAME],
    "absolute-path-stream-id": [b"/abs/path", header(sid=b"/abs/path"), FRAME],
    "empty-stream-id": [b"", header(sid=b""), FRAME],
    "body-not-json": _json("markers/fuzz", b"{not json"),
    "body-json-list": _json("markers/fuzz", [1, 2, 3]),
    "body-not-utf8": _json("markers/fuzz", b'{"a": "\xff\xfe"}'),
    "one-part": [b"fuzz"],
    "two-parts": [b"fuzz", header()],
    "four-parts": [b"fuzz", header(), FRAME, FRAME],
    "huge-shape": [b"fuzz", header(ndim=4, shape=(2**32 - 1,) * 4), FRAME],
    "bad-dtype-object": [b"fuzz", header(dtype=b"O"), FRAME],
    "bad-dtype-garbage": [b"fuzz", header(dtype=b"\x01zz"), FRAME],
    "wrong-version": [b"fuzz", header(version=99), FRAME],
    "bad-magic": [b"fuzz", header(magic=b"XXXX"), FRAME],
    "short-header": [b"fuzz", header()[:40], FRAME],
    "payload-size": [b"fuzz", header(), FRAME * 3],
    "unknown-kind": [b"fuzz", header(kind=9), FRAME],
    "ndim-over-4": [b"fuzz", header(ndim=9), FRAME],
    "non-utf8-topic": [b"\xff\xfe", json_header(), b"{}"],
    "unknown-channel": _json("nosuch/thing", {}),
    "topic-path": _json("markers/../../etc", {}),
    "info-without-dtype": _json("info/fuzz", {"stream_id": "fuzz", "shape": [2, 2]}),
    "info-bad-dtype": _json("info/fuzz", {"stream_id": "fuzz", "dtype": "O", "shape": [2, 2]}),
    "info-path-stream-id": _json("info/fuzz", {"stream_id": "../../x", "dtype": "|u1", "shape": [2, 2]}),
    "body-version-99": _json("markers/elicit", {"v": 99, "event": "x"}),
    "heartbeat-list-body": _json("control/fuzz", [1], kind=2),
    "heartbeat-no-name": _json("control/fuzz", {"pid": 1}, kind=2),
    "command-unknown-verb": _json("command/rm-rf", {}),
    "command-list-body": _json("command/mark", ["x"]),
    "command-not-json": _json("command/stop-session", b"\x00\x01"),
    "command-bad-field": _json("command/mark", {"note": 5}),
    "frame-json-dtype": [b"fuzz", header(dtype=b"json"), FRAME],
    "empty-message-parts": [b"", b"", b""],
}
