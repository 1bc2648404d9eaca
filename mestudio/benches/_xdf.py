"""A minimal XDF 1.0 writer, so that pyxdf can load the very data our own sync sees.

Chunks: FileHeader (1), StreamHeader (2), Samples (3, every sample with its timestamp),
ClockOffset (4) and StreamFooter (6); see https://github.com/sccn/xdf/wiki/Specifications.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape

import numpy as np


@dataclass
class XdfStream:
    name: str
    nominal_srate: float
    time_stamps: np.ndarray  # seconds
    values: np.ndarray  # (n, channels) float64
    clock_times: np.ndarray | None = None  # seconds, on the stream's clock
    clock_values: np.ndarray | None = None  # seconds, add to the stream's clock to get the recorder's
    can_drop_samples: bool = False


def _varlen(n: int) -> bytes:
    if n < 256:
        return bytes([1, n])
    if n < 2**32:
        return b"\x04" + struct.pack("<I", n)
    return b"\x08" + struct.pack("<Q", n)


def _chunk(tag: int, content: bytes) -> bytes:
    return _varlen(len(content) + 2) + struct.pack("<H", tag) + content


def write_xdf(path: Path, streams: list[XdfStream]) -> None:
    out = [b"XDF:", _chunk(1, b'<?xml version="1.0"?><info><version>1.0</version></info>')]
    for sid, s in enumerate(streams, start=1):
        nch = s.values.shape[1]
        desc = (
            "<desc><synchronization><can_drop_samples>true</can_drop_samples></synchronization></desc>"
            if s.can_drop_samples
            else ""
        )
        xml = (
            f'<?xml version="1.0"?><info><name>{escape(s.name)}</name><type>sync</type>'
            f"<channel_count>{nch}</channel_count><nominal_srate>{s.nominal_srate}</nominal_srate>"
            f"<channel_format>double64</channel_format><created_at>0</created_at>{desc}</info>"
        )
        out.append(_chunk(2, struct.pack("<I", sid) + xml.encode()))
        rec = np.zeros(len(s.time_stamps), dtype=[("flag", "u1"), ("ts", "<f8"), ("v", "<f8", (nch,))])
        rec["flag"], rec["ts"], rec["v"] = 8, s.time_stamps, s.values
        for lo in range(0, len(rec), 4096):
            part = rec[lo : lo + 4096]
            out.append(_chunk(3, struct.pack("<I", sid) + _varlen(len(part)) + part.tobytes()))
        if s.clock_times is not None and s.clock_values is not None:
            for t, v in zip(s.clock_times.tolist(), s.clock_values.tolist()):
                out.append(_chunk(4, struct.pack("<Idd", sid, t, v)))
        footer = (
            f'<?xml version="1.0"?><info><first_timestamp>{s.time_stamps[0]}</first_timestamp>'
            f"<last_timestamp>{s.time_stamps[-1]}</last_timestamp>"
            f"<sample_count>{len(s.time_stamps)}</sample_count></info>"
        )
        out.append(_chunk(6, struct.pack("<I", sid) + footer.encode()))
    Path(path).write_bytes(b"".join(out))
