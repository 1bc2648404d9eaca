"""An XDF 1.0 file writer (the format LabRecorder writes; github.com/sccn/xdf, "Specifications").

    with XDFWriter(path) as x:
        sid = x.add_stream(XDFStream("eeg", "EEG", 8, 100.0, "float32", source_id="amp-1"))
        x.samples(sid, timestamps_s, values)          # values: (n, channels) array, or lists of str
        x.clock_offset(sid, collection_time_s, offset_s)

A file is "XDF:" then chunks: [NumLengthBytes][Length][Tag u16][Content], Length counting the tag
and the content.  Tags: 1 FileHeader, 2 StreamHeader, 3 Samples, 4 ClockOffset, 5 Boundary,
6 StreamFooter.  Timestamps are seconds on the stream's own clock; a reader adds the clock
offsets (the recording host's clock minus the stream's) to put every stream on one timeline.
Every sample is written with its timestamp (TimeStampBytes 8), so nothing depends on a reader's
rate-based deduction.
"""

from __future__ import annotations

import struct
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from xml.sax.saxutils import escape

import numpy as np

from mestudio.interop.errors import XDFError

FILE_HEADER, STREAM_HEADER, SAMPLES, CLOCK_OFFSET, BOUNDARY, STREAM_FOOTER = 1, 2, 3, 4, 5, 6
# LabRecorder's boundary UUID: a reader of a damaged file scans forward to it
BOUNDARY_UUID = uuid.UUID("44f14a6b-b3d0-4e02-a283-9d65e1d7d0a7").bytes
DTYPES = {"float32": "<f4", "double64": "<f8", "int8": "|i1", "int16": "<i2", "int32": "<i4", "int64": "<i8"}
CHUNK_SAMPLES = 65536  # samples per Samples chunk (a boundary chunk follows every few)


@dataclass
class XDFStream:
    """What a StreamHeader says: LSL's stream info, plus free-form <desc> elements."""

    name: str
    type: str
    channel_count: int
    nominal_srate: float  # 0: irregular
    channel_format: str  # float32, double64, int8/16/32/64, string
    source_id: str = ""
    desc: dict = field(default_factory=dict)  # {tag: text | dict | list of dicts} -> nested XML
    channel_labels: list[str] = field(default_factory=list)

    def header_xml(self, created_at: float) -> str:
        desc = dict(self.desc)
        if self.channel_labels:
            desc["channels"] = {"channel": [{"label": label} for label in self.channel_labels]}
        return (
            '<?xml version="1.0"?><info>'
            f"<name>{escape(self.name)}</name><type>{escape(self.type)}</type>"
            f"<channel_count>{self.channel_count}</channel_count>"
            f"<nominal_srate>{self.nominal_srate!r}</nominal_srate>"
            f"<channel_format>{self.channel_format}</channel_format>"
            f"<source_id>{escape(self.source_id)}</source_id><version>1.1</version>"
            f"<created_at>{created_at!r}</created_at><desc>{_xml(desc)}</desc></info>"
        )


def _xml(value) -> str:
    if isinstance(value, dict):
        out = []
        for k, v in value.items():
            for item in v if isinstance(v, list) else [v]:
                out.append(f"<{k}>{_xml(item)}</{k}>")
        return "".join(out)
    return escape(str(value))


def varlen(n: int) -> bytes:
    """XDF's variable-length integer: a byte saying 1, 4 or 8, then the value."""
    if n < 256:
        return struct.pack("<BB", 1, n)
    if n < 2**32:
        return struct.pack("<BI", 4, n)
    return struct.pack("<BQ", 8, n)


@dataclass
class _Open:
    info: XDFStream
    first: float | None = None
    last: float | None = None
    count: int = 0
    offsets: list[tuple[float, float]] = field(default_factory=list)


class XDFWriter:
    """Writes one XDF file; ``with`` closes it with every stream's footer."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._f = open(self.path, "wb")
        self._f.write(b"XDF:")
        self._chunk(FILE_HEADER, b'<?xml version="1.0"?><info><version>1.0</version></info>')
        self.streams: dict[int, _Open] = {}
        self._chunks_since_boundary = 0

    def _chunk(self, tag: int, content: bytes) -> None:
        self._f.write(varlen(len(content) + 2) + struct.pack("<H", tag) + content)

    def add_stream(self, info: XDFStream, created_at: float = 0.0) -> int:
        if info.channel_format != "string" and info.channel_format not in DTYPES:
            raise XDFError(f"XDF stream {info.name!r}: unknown channel format {info.channel_format!r}")
        sid = len(self.streams) + 1
        self.streams[sid] = _Open(info)
        self._chunk(STREAM_HEADER, struct.pack("<I", sid) + info.header_xml(created_at).encode("utf-8"))
        return sid

    def samples(self, sid: int, timestamps, values) -> None:
        """Samples with their timestamps (s); numeric values as an (n, channels) array."""
        st = self.streams[sid]
        ts = np.asarray(timestamps, np.float64)
        n, nch = len(ts), st.info.channel_count
        if n == 0:
            return
        if st.info.channel_format == "string":
            if len(values) != n or any(len(v) != nch for v in values):
                raise XDFError(f"XDF stream {st.info.name!r}: {n} timestamps need {n} samples of {nch} strings")
            for a in range(0, n, CHUNK_SAMPLES):
                body = bytearray()
                for t, sample in zip(ts[a : a + CHUNK_SAMPLES], values[a : a + CHUNK_SAMPLES]):
                    body += b"\x08" + struct.pack("<d", t)
                    for v in sample:
                        raw = str(v).encode("utf-8")
                        body += varlen(len(raw)) + raw
                self._samples_chunk(sid, min(CHUNK_SAMPLES, n - a), bytes(body))
        else:
            arr = np.asarray(values)
            if arr.shape != (n, nch):
                raise XDFError(f"XDF stream {st.info.name!r}: values of shape {arr.shape}, expected {(n, nch)}")
            rec = np.dtype([("flag", "u1"), ("t", "<f8"), ("v", DTYPES[st.info.channel_format], (nch,))])
            for a in range(0, n, CHUNK_SAMPLES):
                part = np.zeros(min(CHUNK_SAMPLES, n - a), rec)
                part["flag"], part["t"], part["v"] = 8, ts[a : a + len(part)], arr[a : a + len(part)]
                self._samples_chunk(sid, len(part), part.tobytes())
        st.first = float(ts[0]) if st.first is None else st.first
        st.last, st.count = float(ts[-1]), st.count + n

    def _samples_chunk(self, sid: int, n: int, body: bytes) -> None:
        self._chunk(SAMPLES, struct.pack("<I", sid) + varlen(n) + body)
        self._chunks_since_boundary += 1
        if self._chunks_since_boundary >= 16:
            self._chunk(BOUNDARY, BOUNDARY_UUID)
            self._chunks_since_boundary = 0

    def clock_offset(self, sid: int, collection_time_s: float, offset_s: float) -> None:
        """At ``collection_time_s`` (recording host clock), the stream's clock + ``offset_s`` = host clock."""
        self.streams[sid].offsets.append((collection_time_s, offset_s))
        self._chunk(CLOCK_OFFSET, struct.pack("<Idd", sid, collection_time_s, offset_s))

    def host_clock(self, sid: int) -> None:
        """Mark a stream already on the recording host's clock: offset 0 at its first and last sample."""
        st = self.streams[sid]
        for t in sorted({t for t in (st.first, st.last) if t is not None}):
            self.clock_offset(sid, t, 0.0)

    def close(self) -> None:
        if self._f.closed:
            return
        for sid, st in self.streams.items():
            offsets = "".join(f"<offset><time>{t!r}</time><value>{v!r}</value></offset>" for t, v in st.offsets)
            xml = (
                '<?xml version="1.0"?><info>'
                f"<first_timestamp>{st.first or 0.0!r}</first_timestamp>"
                f"<last_timestamp>{st.last or 0.0!r}</last_timestamp>"
                f"<sample_count>{st.count}</sample_count><clock_offsets>{offsets}</clock_offsets></info>"
            )
            self._chunk(STREAM_FOOTER, struct.pack("<I", sid) + xml.encode("utf-8"))
        self._f.close()

    def __enter__(self) -> XDFWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
